"""False objects of the forest backscatter-drop test on unchanged speckle, per 100 km².

Simulates tiles of forested slope whose backscatter did not change (VV -8 dB, VH -14 dB; gamma
speckle of IW GRD's 4.4 looks, correlated over 2 x 2 pixels as 20 m resolution sampled at 10 m),
a baseline of ``--pre`` scenes against a post image of ``--post`` (monitoring means in dB), runs
the test's stages of monitor.pipeline.radar_drop up to the object contrast, and prints how many
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
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.change_statistics import IW_GRD_ENL, Compositing  # noqa: E402
from monitor.pipeline import radar_drop as rd  # noqa: E402

SIDE = 300  # pixels of 10 m: 9 km² a tile
THRESHOLDS = (4.0, 5.0, 5.5, 6.0, 6.5, 7.0)


def _mean_db(rng: np.random.Generator, sigma0_db: float, scenes: int) -> np.ndarray:
    looks = IW_GRD_ENL / 4.0
    out = np.zeros((SIDE, SIDE))
    for _ in range(scenes):
        fine = rng.standard_gamma(looks, size=(SIDE + 1, SIDE + 1))
        pooled = (fine[:-1, :-1] + fine[1:, :-1] + fine[:-1, 1:] + fine[1:, 1:]) / (4 * looks)
        out += sigma0_db + 10 * np.log10(pooled)
    return out / scenes


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


def object_contrasts(stack: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Ring contrast and pixel count of every object the test grows (before its cut)."""
    z = rd.drop_statistic(stack).astype(np.float64)
    eligible = np.isfinite(z)
    cells = rd.cell_pixels(stack)
    local = rd._local(z, eligible)
    eligible &= np.isfinite(local)
    fell = eligible & (local < 0) & (rd._window_z(local, eligible, 3, cells) <= -rd.GROW_Z)
    cores = fell & (rd._window_z(local, eligible, rd.WINDOW_PX, cells) <= -rd.WINDOW_Z)
    if not cores.any():
        return np.zeros(0), np.zeros(0)
    grown = ndimage.binary_dilation(cores, np.ones((rd.WINDOW_PX,) * 2, bool)) & fell | cores
    labels, n = ndimage.label(grown, np.ones((3, 3), bool))
    index = np.arange(1, n + 1)
    contrast = rd._ring_contrast(z, eligible, labels, index, cells)
    return contrast, np.asarray(ndimage.sum_labels(grown, labels, index))


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
        c, n = object_contrasts(tile(rng, args.pre, args.post))
        contrasts.append(c)
        sizes.append(n)
    contrast, size = np.concatenate(contrasts), np.concatenate(sizes)
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
