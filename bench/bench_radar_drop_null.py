"""False objects of the forest backscatter-drop test on unchanged speckle, per 100 km².

Simulates tiles of forested slope whose backscatter did not change (VV -8 dB, VH -14 dB; gamma
speckle of IW GRD's 4.4 looks, correlated over 2 x 2 pixels as 20 m resolution sampled at 10 m),
a baseline of ``--pre`` scenes against a post image of ``--post`` (monitoring means in dB), runs
the test up to its object contrast (``drop_candidates``), and prints how many
objects of 9 pixels or more reach each ring contrast: the rate behind ``OBJECT_Z``. The cores
are selected on the same data the contrast is computed on, which is why the contrast of a
speckle object is far from standard normal. Beside each count: how many of those objects two
looks would confirm (``monitor.pipeline.dating.two_looks``, the newest scene and the rest of the
post image each ``LOOK_Z`` out of the ring): objects picked from the post image carry their
contrast into both halves, so the second look does not guard against speckle objects, only
the detector's own rate does.

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
from monitor.pipeline.dating import two_looks  # noqa: E402
from monitor.simulator.radar import speckle  # noqa: E402

SIDE = 300  # pixels of 10 m: 9 km² a tile
THRESHOLDS = (4.0, 5.0, 5.5, 6.0, 6.5, 7.0)


def _scenes_db(rng: np.random.Generator, sigma0_db: float, scenes: int) -> list[np.ndarray]:
    """``scenes`` speckled scenes in dB (the simulator's IW speckle) of ``sigma0_db``."""
    return [sigma0_db + 10 * np.log10(speckle(rng, (SIDE, SIDE))) for _ in range(scenes)]


def _mean(scenes: list[np.ndarray]) -> np.ndarray:
    return np.asarray(np.mean(scenes, axis=0), np.float64)


def tile(rng: np.random.Generator, pre: int, post: int) -> xr.Dataset:
    pre_vv, post_vv = _scenes_db(rng, -8.0, pre), _scenes_db(rng, -8.0, post)
    pre_vh, post_vh = _scenes_db(rng, -14.0, pre), _scenes_db(rng, -14.0, post)
    layers = {
        "preVV": _mean(pre_vv),
        "postVV": _mean(post_vv),
        "preVH": _mean(pre_vh),
        "postVH": _mean(post_vh),
        "s1_newest_VV": np.asarray(post_vv[-1], np.float64),
        "s1_newest_VH": np.asarray(post_vh[-1], np.float64),
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
    contrasts, sizes, confirmed = [], [], []
    for _ in range(args.tiles):
        stack = tile(rng, args.pre, args.post)
        found = rd.drop_candidates(stack)
        if found is not None:
            contrasts.append(found.contrast)
            sizes.append(found.pixels)
            index = np.arange(1, len(found.contrast) + 1)
            confirmed.append(two_looks(stack, found.labels, index))
    contrast = np.concatenate(contrasts) if contrasts else np.zeros(0)
    size = np.concatenate(sizes) if sizes else np.zeros(0)
    looks = np.concatenate(confirmed) if confirmed else np.zeros(0, bool)
    km2 = args.tiles * SIDE * SIDE * 1e-4
    big = size >= 9
    print(
        f"{args.tiles} tiles, {km2:.0f} km² of unchanged forested slope, {args.post} post scenes "
        f"against {args.pre}: {int(big.sum())} objects of 9 px or more "
        f"({time.perf_counter() - start:.0f} s)"
    )
    for t in THRESHOLDS:
        reached = big & (contrast <= -t)
        k, two = int(reached.sum()), int((reached & looks).sum())
        mark = "  <- OBJECT_Z" if t == rd.OBJECT_Z else ""
        print(
            f"  contrast <= -{t:g}: {k:5d} objects, {100 * k / km2:6.2f} per 100 km², "
            f"{two} of them two looks{mark}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
