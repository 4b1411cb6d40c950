"""How often the second look's radar test repeats a change that is not there: on unchanged
speckle, the share of the pixels that Sentinel-1 dating flags (one post-window scene past
``SINGLE_SCENE_Z``) whose ``s1_changed_scenes`` count reaches 2 (``radar-repeat``,
monitor.pipeline.dating), by the number of scenes in the post window.

The archive's own dating (``monitor.sources.archive_composite.radar_dating``) runs on gamma
speckle of ``IW_GRD_ENL`` looks: a baseline of 10 scenes, post windows of 2 to 10 scenes (a
30-day window holds about 5 with one satellite and both passes, 10 with two), the post
composite the mean of the last scene of each of two tracks. Every pixel is unchanged, so every
flag and every repeat is chance. Seeded; a few seconds.

    .venv/bin/python bench/bench_repeat_chance.py [--size 400]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.change_statistics import IW_GRD_ENL
from monitor.sources.archive_composite import radar_dating

PRE_SCENES = 10
TRACKS = 2


def chance_shares(post_scenes: int, size: int, seed: int = 0) -> tuple[float, float]:
    """The share of unchanged pixels flagged, and of those the share counted as repeated."""
    rng = np.random.default_rng(seed)

    def db(n: int) -> np.ndarray:
        return np.asarray(10 * np.log10(rng.gamma(IW_GRD_ENL, 1 / IW_GRD_ENL, (n, size, size))))

    pre = db(PRE_SCENES).mean(0)
    post = db(post_scenes)
    days = 100.0 + 6.0 * np.arange(post_scenes)
    dating = radar_dating(
        post,
        days,
        pre,
        np.full((size, size), PRE_SCENES),
        np.full((size, size), 90.0),
        IW_GRD_ENL,
        post[-TRACKS:].mean(0),
    )
    flagged = np.isfinite(dating.first_changed)
    return float(flagged.mean()), float((dating.changed_count[flagged] >= 2).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=400, help="pixels per side (default 400)")
    args = p.parse_args(argv)
    print("| post-window scenes | unchanged pixels flagged | of those, counted as repeated |")
    print("| --- | --- | --- |")
    for m in (2, 3, 5, 10):
        flagged, repeated = chance_shares(m, args.size)
        print(f"| {m} | {flagged:.3f} | {repeated:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
