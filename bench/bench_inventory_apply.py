"""Inventory update at scale: one run's apply() against a large inventory.

Fills an inventory with N landslides spread over three UTM zones (one big first run), then
times a daily run of M candidates (half re-detections of known landslides, a tenth of them
grown; half new) with alerts to two channels, and the GeoJSON export. Prints seconds.

    .venv/bin/python bench/bench_inventory_apply.py [--known 5000] [--candidates 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.store.inventory import Inventory, RegionDetections

ZONES = {"zone43": 32643, "zone44": 32644, "zone45": 32645}


def _candidates(region: str, epsg: int, origins: np.ndarray, sizes: np.ndarray) -> gpd.GeoDataFrame:
    geoms = [box(x, y, x + w, y + h) for (x, y), (w, h) in zip(origins, sizes, strict=True)]
    n = len(geoms)
    return gpd.GeoDataFrame(
        {
            "region": [region] * n,
            "area_m2": [g.area for g in geoms],
            "prob_mean": np.full(n, 0.8),
            "prob_max": np.full(n, 0.95),
            "agreement": np.full(n, 0.9),
            "setting": ["S1+S2"] * n,
            "pre_date": ["2024-08-20"] * n,
            "post_date": ["2024-08-27"] * n,
        },
        geometry=geoms,
        crs=f"EPSG:{epsg}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--known", type=int, default=5000)
    parser.add_argument("--candidates", type=int, default=400)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    routing = AlertRouting.from_settings(
        AlertSettings(
            smtp={"host": "127.0.0.1", "from_address": "m@example.org"},
            email=["ops@example.org"],
            webhooks=[{"name": "ops", "url": "http://127.0.0.1:9/h", "secret_env": "X"}],
        )
    )
    per_zone = args.known // len(ZONES)
    # Landslides on a 300 m lattice, 60-120 m wide: never touching each other.
    side = int(np.ceil(np.sqrt(per_zone)))
    lattice = np.array([(i, j) for i in range(side) for j in range(side)][:per_zone], float)
    origins = 500_000.0 + 300.0 * lattice
    origins[:, 1] += 1_200_000.0
    sizes = rng.uniform(60, 120, size=(per_zone, 2))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inventory.gpkg"
        with Inventory(path) as inv:
            start = time.perf_counter()
            run_id = inv.start_run(date(2024, 8, 1), list(ZONES), "archive")
            detections = [
                RegionDetections(r, candidates=_candidates(r, epsg, origins, sizes))
                for r, epsg in ZONES.items()
            ]
            first = inv.apply(run_id, detections, routing)
            fill_s = time.perf_counter() - start

            half = args.candidates // 2
            pick = rng.choice(per_zone, size=half, replace=False)
            again_sizes = sizes[pick].copy()
            again_sizes[: half // 10, 1] *= 1.5  # a tenth grow by 50 %
            new_origins = origins[rng.choice(per_zone, size=args.candidates - half)] + 150.0
            new_sizes = rng.uniform(40, 80, size=(args.candidates - half, 2))
            daily = _candidates(
                "zone43",
                32643,
                np.vstack([origins[pick], new_origins]),
                np.vstack([again_sizes, new_sizes]),
            )
            run_id = inv.start_run(date(2024, 9, 15), ["zone43"], "archive")
            start = time.perf_counter()
            changes = inv.apply(run_id, [RegionDetections("zone43", candidates=daily)], routing)
            apply_s = time.perf_counter() - start

            start = time.perf_counter()
            inv.export(Path(tmp) / "inventory.geojson")
            export_s = time.perf_counter() - start
            size_mb = path.stat().st_size / 1e6

    print(f"fill: {len(first.new)} landslides in 3 UTM zones in {fill_s:.2f} s")
    print(
        f"daily run: {len(daily)} candidates against {len(first.new)} known -> "
        f"{len(changes.new)} new, {len(changes.grown)} grown, {len(changes.seen)} seen, "
        f"{changes.alerts_queued} alerts queued in {apply_s:.2f} s "
        f"({1000 * apply_s / len(daily):.1f} ms per candidate)"
    )
    print(f"GeoJSON export of {len(first.new) + len(changes.new)} landslides: {export_s:.2f} s")
    print(f"GeoPackage size: {size_mb:.1f} MB")


if __name__ == "__main__":
    main()
