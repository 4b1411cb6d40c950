"""False objects of the forest backscatter-drop test on unchanged speckle, per 100 km².

Simulates tiles of forested slope whose backscatter did not change (VV -8 dB, VH -14 dB; gamma
speckle of IW GRD's 4.4 looks, correlated over 2 x 2 pixels as 20 m resolution sampled at 10 m),
a baseline of ``--pre`` scenes against a post image of ``--post`` (monitoring means in dB), runs
the test up to its object contrast (``drop_candidates``), and prints how many
objects of 9 pixels or more reach each ring contrast: the rate behind ``OBJECT_Z``. The cores
are selected on the same data the contrast is computed on, which is why the contrast of a
speckle object is far from standard normal.

    .venv/bin/python bench/bench_radar_drop_null.py [--tiles 1200] [--pre 8] [--post 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.change_statistics import Compositing  # noqa: E402
from monitor.pipeline import radar_drop as rd  # noqa: E402
from monitor.simulator.radar import speckle  # noqa: E402

SIDE = 300  # pixels of 10 m: 9 km² a tile
THRESHOLDS = (4.0, 5.0, 5.5, 6.0, 6.5, 7.0)


def _mean_db(rng: np.random.Generator, sigma0_db: float, scenes: int) -> np.ndarray:
    """Mean in dB of ``scenes`` speckled scenes (the simulator's IW speckle) of ``sigma0_db``."""
    dbs = [sigma0_db + 10 * np.log10(speckle(rng, (SIDE, SIDE))) for _ in range(scenes)]
    return np.asarray(np.mean(dbs, axis=0), np.float64)


def tile(rng: np.random.Generator, pre: int, post: int) -> xr.Dataset:
    layers = {
        "preVV": _mean_db(rng, -8.0, pre),
        "postVV": _mean_db(rng, -8.0, post),
        "preVH": _mean_db(rng, -14.0, pre),
        "postVH": _mean_db(rng, -14.0, post),
        "s1_count_pre": np.full((SIDE, SIDE), float(pre)),
        "s1_count_post": np.full((SIDE, SIDE), float(post)),
        "canopy_height": np.full((SIDE, SIDE), 20.0),
        "slope": np.full((SIDE, SIDE), 25.0),
        "layover": np.zeros((SIDE, SIDE)),
        "shadow": np.zeros((SIDE, SIDE)),
        "liaDeg": np.full((SIDE, SIDE), rd.IW_MID_INCIDENCE_DEG),
    }
    return xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()},
        attrs={"compositing": Compositing("monitoring").describe()},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=1200)
    parser.add_argument("--pre", type=int, default=8)
    parser.add_argument("--post", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    contrasts, sizes = [], []
    for _ in range(args.tiles):
        found = rd.drop_candidates(tile(rng, args.pre, args.post))
        if found is not None:
            contrasts.append(found.contrast)
            sizes.append(found.pixels)
    contrast = np.concatenate(contrasts) if contrasts else np.zeros(0)
    size = np.concatenate(sizes) if sizes else np.zeros(0)
    km2 = args.tiles * SIDE * SIDE * 1e-4
    big = size >= 9
    print(
        f"{args.tiles} tiles, {km2:.0f} km² of unchanged forested slope, {args.post} post scenes "
        f"against {args.pre}: {int(big.sum())} objects of 9 px or more "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for t in THRESHOLDS:
        k = int((big & (contrast <= -t)).sum())
        mark = "  <- OBJECT_Z" if t == rd.OBJECT_Z else ""
        print(f"  contrast <= -{t:g}: {k:5d} objects, {100 * k / km2:6.2f} per 100 km²{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
