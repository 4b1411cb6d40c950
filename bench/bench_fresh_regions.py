"""The chain on regions nobody has looked at: new regions of the randomised world's held-out test
families, simulated with seeds that no fit, calibration, ablation or diagnosis has used, scored
as docs/models.md scores its out-of-family rows.

The out-of-family test scenes of docs/models.md are not untouched: the object filter's pre-event
contrast was added after its false objects on the look-alike-only test scenes were diagnosed.
This bench draws ``--draws`` new regions of every test family
(:meth:`RandomisedPlan.extra_regions` of the ``test`` split, draws ``--first-draw`` (1) to
``--first-draw`` + N − 1: seeds 1012, 1022, ..., which nothing else uses; the filter's fit takes
draws of the training split), simulates them into
``--work``'s own archive, writes their storm scenes (the plan's storms and views, as the test
split's) and their storm-free scenes (``monitor.ops.stormfree_scenes.WINDOWS``), runs ``detect
--stack`` with the ensemble of ``--manifest`` on each set and ``evaluate --chain`` on its
polygons, and prints each set's figures with the filter and without it. Nothing is written
outside ``--work``; a second run reuses the regions and scenes it finds there, and a ``--work``
holding scenes of other draws is refused (they would be scored with these).

    OMP_NUM_THREADS=1 python bench/bench_fresh_regions.py --work runs/bench-fresh --draws 3

Draws 1-3 have been scored and their look-alike-only false objects read (docs/models.md):
regions no choice has seen are draws 4 and on (``--first-draw 4``), in a ``--work`` of their own.

About 22 minutes on 2 shared cores with 3 draws (42 regions: 2 minutes of simulation, 8 of
writing 420 scenes, 12 of detection and scoring).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _chain_tables import SIZES, figure, recall, run_chain  # noqa: E402

from models.change_statistics import Compositing  # noqa: E402
from models.datasets import scene_ids, write_scene  # noqa: E402
from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.ops.stormfree_scenes import WINDOWS  # noqa: E402
from monitor.simulator.build import build_archive  # noqa: E402
from monitor.simulator.randomised import RandomisedPlan  # noqa: E402
from monitor.simulator.training_data import scene_id, scene_of  # noqa: E402
from monitor.sources.archive import ArchiveSource  # noqa: E402
from monitor.sources.base import EVENT, DataUnavailable, Window  # noqa: E402

SETS = ("storm", "stormfree")


def _draw_prefixes(first: int, draws: int) -> tuple[str, ...]:
    """The scene-id prefixes of the regions of draws ``first`` .. ``first + draws - 1``."""
    return tuple(f"test-x{d}-" for d in range(first, first + draws))


def other_draws(work: Path, first: int, draws: int) -> list[str]:
    """Scene ids in ``work``'s sets that are not of these draws (at most five named)."""
    prefixes = _draw_prefixes(first, draws)
    found = [
        sid
        for name in SETS
        if (work / name / "input").is_dir()
        for sid in scene_ids(work / name)
        if not sid.startswith(prefixes)
    ]
    return found[:5]


def write_scenes(work: Path, draws: int, first: int = 1) -> dict[str, int]:
    """Simulate the new regions of draws ``first`` .. ``first + draws - 1`` and write both sets'
    scenes (those already there are kept)."""
    plan = RandomisedPlan()
    regions = [r for d in range(first, first + draws) for r in plan.extra_regions("test", d)]
    build_archive(work / "archive", regions, plan.simulation(), progress=False, workers=2)
    source = ArchiveSource(work / "archive")
    done = {s: set(scene_ids(work / s)) if (work / s / "input").is_dir() else set() for s in SETS}
    counts = dict.fromkeys(SETS, 0)
    for area, _ in regions:
        jobs: list[tuple[str, Window, Window, Compositing]] = [
            *(("storm", *view) for storm in plan.storms for view in plan.views(storm)),
            *(("stormfree", pre, post, EVENT) for pre, post in WINDOWS),
        ]
        for name, pre, post, how in jobs:
            if scene_id(area, post, how) not in done[name]:
                try:
                    scene = scene_of(source, area, pre, post, how)
                except DataUnavailable as err:
                    logging.warning("%s %s: skipped (%s)", area.name, post, err)
                    continue
                write_scene(work / name, scene)
            counts[name] += 1
    return counts


def chain(work: Path, name: str, manifest: Path) -> dict[str, Any]:
    """``detect --stack`` and ``evaluate --chain`` on one set; the chain report."""
    return run_chain(work / name, work / "runs" / name, manifest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-fresh")
    parser.add_argument("--draws", type=int, default=3, help="new regions per test family")
    parser.add_argument(
        "--first-draw",
        type=int,
        default=1,
        help="the first draw (1-3 have been scored and read: 4 and on are untouched)",
    )
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="ensemble")
    args = parser.parse_args()
    if args.draws < 1:
        parser.error(f"--draws {args.draws}: at least 1")
    if args.first_draw < 1:
        parser.error(f"--first-draw {args.first_draw}: draws are numbered from 1")
    if not args.manifest.is_file():
        parser.error(f"--manifest {args.manifest}: no such file")
    last = args.first_draw + args.draws - 1
    others = other_draws(args.work, args.first_draw, args.draws)
    if others:
        parser.error(
            f"--work {args.work} holds scenes of other draws than {args.first_draw}-{last} "
            f"({', '.join(others)}): they would be scored with these; give a --work of its own"
        )
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    counts = write_scenes(args.work, args.draws, args.first_draw)
    print(
        f"draws {args.first_draw}-{last}, a new region of each test family each: "
        f"{counts['storm']} storm scenes, "
        f"{counts['stormfree']} storm-free scenes ({time.perf_counter() - started:.0f} s)"
    )
    header = (
        "| scenes | chain | recall < 0.1 ha | 0.1–0.5 ha | 0.5–1 ha | ≥ 1 ha | false objects "
        "/ 100 km² | ≥ 0.5 ha | look-alike-only scenes, false / 100 km² | pixel F1 |"
    )
    print(header)
    print("| --- " * 10 + "|")
    for name in SETS:
        report = chain(args.work, name, args.manifest)
        for label, key in (("ensemble, no filter", "without_filter"), ("ensemble + filter",
                                                                       "with_filter")):  # fmt: skip
            block = report[key]
            alike = report["look_alike_only"].get(key, {})
            cells = [recall(block, s) for s in SIZES]
            print(
                f"| {name} ({block['scenes']}, {block['area_km2']:.1f} km²) | {label} | "
                f"{' | '.join(cells)} | {figure(block['false_per_100km2'], '.1f')} | "
                f"{figure(block['false_large_per_100km2'], '.1f')} | "
                f"{figure(alike.get('false_per_100km2'), '.1f')} "
                f"({report['look_alike_only']['scenes']} scenes) | "
                f"{figure(block['pixel_f1'], '.2f')} |"
            )
    print(f"({time.perf_counter() - started:.0f} s in all; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
