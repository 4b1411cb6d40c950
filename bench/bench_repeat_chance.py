"""How often the second look's radar test repeats a change that is not there: on unchanged
speckle, the share of the pixels that Sentinel-1 dating flags (one post-window scene past
``SINGLE_SCENE_Z``) whose ``s1_changed_scenes`` count reaches 2 (``radar-repeat``,
monitor.pipeline.dating), by the number of scenes in the post window; and how many objects of
``--object`` × ``--object`` pixels tiling the field the dating confirms (``radar-repeat``,
:func:`monitor.pipeline.dating.object_dating`, no optical view): an object whose pixels chance
flags at least half of ("Sentinel-1 saw it") and counts as repeated.

The archive's own dating (``monitor.sources.archive_composite.radar_dating``) runs on gamma
speckle of ``IW_GRD_ENL`` looks: a baseline of 10 scenes, post windows of 2 to 10 scenes (a
30-day window holds about 5 with one satellite and both passes, 10 with two), the post
composite the mean of the last scene of each of two tracks; 15 to 30 scenes, as two satellites
over several overlapping orbits or a longer ``post_days`` give. Every pixel is unchanged, so
every flag, every repeat and every confirmation is chance. The dating reads each pixel's newest
``DATING_SCENES`` scenes; the "whole" columns read every scene of the window, as it did before
2026-12-05. Seeded; a few seconds.

    .venv/bin/python bench/bench_repeat_chance.py [--size 400] [--object 40]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.change_statistics import DATING_SCENES, IW_GRD_ENL
from monitor.pipeline.dating import object_dating
from monitor.sources.archive_composite import radar_dating

PRE_SCENES = 10
TRACKS = 2


def chance_shares(
    post_scenes: int, size: int, seed: int = 0, object_px: int = 40, newest: int | None = None
) -> tuple[float, float, int, int]:
    """The share of unchanged pixels flagged, of those the share counted as repeated, and how
    many of the ``object_px``-square objects tiling the field are confirmed (of how many), the
    dating reading each pixel's ``newest`` scenes."""
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
        newest,
    )
    flagged = np.isfinite(dating.first_changed)
    plane = ("y", "x")
    nothing = np.full((size, size), np.nan)
    stack = xr.Dataset(
        {
            "s1_first_changed": (plane, dating.first_changed),
            "s1_last_unchanged": (plane, dating.last_unchanged),
            "s1_changed_scenes": (plane, dating.changed_count.astype(np.float64)),
            "s1_count_post": (plane, np.full((size, size), float(TRACKS))),
            "s2_first_changed": (plane, nothing),  # no optical view: radar alone confirms
            "s2_last_unchanged": (plane, nothing),
            "s2_clear_post": (plane, np.zeros((size, size))),
        }
    )
    per_side = size // object_px
    rows, cols = np.mgrid[0:size, 0:size] // object_px
    labels = np.where((rows < per_side) & (cols < per_side), rows * per_side + cols + 1, 0)
    index = np.arange(1, per_side**2 + 1)
    confirmed = object_dating(stack, labels, index)["confirmation"]
    return (
        float(flagged.mean()),
        float((dating.changed_count[flagged] >= 2).mean()),
        sum(c == "radar-repeat" for c in confirmed),
        len(index),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=400, help="pixels per side (default 400)")
    p.add_argument("--object", type=int, default=40, help="object side in pixels (default 40)")
    args = p.parse_args(argv)
    if not 0 < args.object <= args.size:
        p.error(f"--object {args.object}: between 1 and --size ({args.size})")
    print(
        f"The dating reads each pixel's newest {DATING_SCENES} scenes (DATING_SCENES); "
        "'whole': every scene of the window, as before 2026-12-05.\n"
    )
    print(
        "| post-window scenes | unchanged pixels flagged | of those, counted as repeated | "
        f"{args.object} × {args.object} px objects confirmed (radar-repeat) | the same, whole "
        "| flagged, whole | repeated, whole |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for m in (2, 3, 5, 10, 15, 20, 30):
        flagged, repeated, confirmed, objects = chance_shares(m, args.size, object_px=args.object)
        whole = chance_shares(m, args.size, object_px=args.object, newest=m)
        print(
            f"| {m} | {flagged:.3f} | {repeated:.3f} | {confirmed} of {objects} | "
            f"{whole[2]} of {whole[3]} | {whole[0]:.3f} | {whole[1]:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
