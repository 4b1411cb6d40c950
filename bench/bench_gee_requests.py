"""What one daily run asks of Earth Engine, counted offline.

Runs GeeSource.features for the demo regions (monitor/examples/demo.yaml) against the ArrayServer
stand-in for ``ee.data.computeValue``/``computePixels`` and prints, per region, the requests
and the pixels it made, next to the formula of docs/earth_engine.md, then the formula for
larger deployments. No account and no network: the server is replaced, the client code
(GeeSource -> gee_scripts -> xee) is the real one.

    .venv/bin/python bench/bench_gee_requests.py [--chunk-px 512]
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import yaml
from shapely.geometry import shape

from gee_scripts.assembly import FLAT_BANDS
from gee_scripts.fetch import requests_per_fetch
from gee_scripts.offline import ArrayServer, initialize_offline
from gee_scripts.settings import GeeSettings
from monitor.grid import region_grid
from monitor.sources.base import AreaOfInterest, Window
from monitor.sources.gee import GeeSource

ROOT = Path(__file__).resolve().parents[1]
AVAILABILITY = {
    "s2_dates_pre": ["2024-07-20", "2024-07-25"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27"],
}


def _served_bands(shape_hw: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    bands = {n: rng.normal(size=shape_hw).astype(np.float32) for n in FLAT_BANDS}
    for n in ("s2_clear_pre", "s2_clear_post", "s1_count_pre", "s1_count_post"):
        bands[n] = np.full(shape_hw, 2.0, np.float32)
    bands["s2_day_pre"] = np.full(shape_hw, 19924.0, np.float32)
    bands["s2_day_post"] = np.full(shape_hw, 19959.0, np.float32)
    return bands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-px", type=int, default=GeeSettings().chunk_px)
    args = parser.parse_args()
    warnings.simplefilter("ignore", (DeprecationWarning, PendingDeprecationWarning))
    initialize_offline()
    config = yaml.safe_load((ROOT / "monitor/examples/demo.yaml").read_text())
    pre = Window(date(2024, 7, 17), date(2024, 8, 16))
    post = Window(date(2024, 8, 16), date(2024, 9, 15))
    settings = GeeSettings(chunk_px=args.chunk_px)
    print(f"chunk {args.chunk_px} px, {len(FLAT_BANDS)} bands per feature image")
    print(
        f"{'region':18} {'grid px':>11} {'km2':>6} {'value':>5} {'pixels':>6} {'formula':>7} "
        f"{'MB':>6} {'s':>5}"
    )
    total_requests = 0
    for region in config["regions"]:
        area = AreaOfInterest(region["name"], shape(region["geometry"]), region["orbit_pass"])
        grid = region_grid(area.geometry)
        server = ArrayServer(
            _served_bands(grid.shape),
            crs=grid.crs,
            transform=tuple(grid.transform)[:6],
            availability=AVAILABILITY,
        )
        started = time.perf_counter()
        with server.installed():
            GeeSource(settings, initialize=False, progress=False).features(area, pre, post)
        seconds = time.perf_counter() - started
        pixels = sum(r.height * r.width * len(r.bands) for r in server.pixel_requests)
        formula = requests_per_fetch(grid.shape, args.chunk_px)
        total_requests += server.value_requests + len(server.pixel_requests)
        print(
            f"{area.name:18} {grid.width:>5}x{grid.height:<5} {grid.area_km2:6.1f} "
            f"{server.value_requests:5d} {len(server.pixel_requests):6d} {formula:7d} "
            f"{pixels * 4 / 1e6:6.1f} {seconds:5.1f}"
        )
    print(f"total requests for the demo's daily run: {total_requests}")
    print(
        "\nformula for N regions of A km² (square, bounding box = polygon), chunk "
        f"{args.chunk_px} px:"
    )
    print(f"{'N':>5} {'A km2':>7} {'requests/day':>13} {'band-pixels/day':>16} {'GB/day':>7}")
    for n, a in ((10, 20), (50, 25), (100, 100), (200, 400)):
        side = math.ceil(math.sqrt(a) * 100)
        per_region = 2 + requests_per_fetch((side, side), args.chunk_px)
        band_pixels = n * len(FLAT_BANDS) * side * side
        print(
            f"{n:5d} {a:7d} {n * per_region:13d} {band_pixels:16.3e} {band_pixels * 4 / 1e9:7.2f}"
        )


if __name__ == "__main__":
    main()
