"""Storm-free scenes for the chain scores: the regions of a training-set split, seen over windows
without a storm, so that what changes between the windows is clear-cuts, crop harvest, noise and
only the simulator's few background landslides. Written in the Ganerød et al. layout, like the
split itself, labelled as usual; the scenes whose label is empty are the look-alike-only scenes
that ``python -m models evaluate --chain`` reports apart.

Each window pair starts its pre window after the storm before it, so the landslides of that
storm are bare in both windows and do not read as change. The default pairs:

- pre 2024-06-01..06-30, post 2024-07-01..07-30: the winter-cereal harvest (early July) and the
  clear-cuts of the month;
- pre 2024-03-01..03-31, post 2024-04-01..04-30: spring, clear-cuts only.

``--draws N`` (randomised world) adds N new regions of every family of the split, simulated into
the same archive with new seeds (:meth:`RandomisedPlan.extra_regions`), each seen over the same
windows: the object filter's fit sees more look-alikes of the training families without more
storm scenes. The held-out look-alike-only scenes of the chain scores keep the split's own
regions (no ``--draws``).

    python -m monitor.ops.stormfree_scenes --training data/training --split test \\
        --out data/training/stormfree-test
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from models.datasets import INPUT_SUFFIX, scene_id_of, write_scene
from monitor.errors import interrupt_on_signals, stop_status
from monitor.simulator.build import build_archive
from monitor.simulator.randomised import RandomisedPlan
from monitor.simulator.spec import SimulationSpec
from monitor.simulator.training_data import TrainingSetPlan, scene_id, scene_of
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import AreaOfInterest, DataUnavailable, Window

__all__ = ["WINDOWS", "export_stormfree_scenes", "main"]

log = logging.getLogger(__name__)

WINDOWS: tuple[tuple[Window, Window], ...] = (
    (Window(date(2024, 6, 1), date(2024, 7, 1)), Window(date(2024, 7, 1), date(2024, 7, 31))),
    (Window(date(2024, 3, 1), date(2024, 4, 1)), Window(date(2024, 4, 1), date(2024, 5, 1))),
)


def export_stormfree_scenes(
    training: Path,
    split: str,
    out: Path,
    windows: Sequence[tuple[Window, Window]] = WINDOWS,
    plan: TrainingSetPlan | RandomisedPlan | None = None,
    *,
    draws: int = 0,
    workers: int | None = None,
) -> list[str]:
    """Scenes of ``split``'s regions (simulated in ``<training>/archive``) over ``windows``,
    and of ``draws`` new regions of every family of the split (randomised world only,
    simulated into the same archive on the way; ``workers`` processes); returns the ids of
    those whose label is empty (look-alike-only)."""
    plan = plan or TrainingSetPlan()
    regions = plan.split_regions()
    if split not in regions:
        raise ValueError(f"no split {split!r} in this training world ({', '.join(regions)})")
    if draws < 0:
        raise ValueError(f"draws {draws}: must not be negative")
    if draws and not isinstance(plan, RandomisedPlan):
        raise ValueError("--draws needs the randomised world (--world randomised)")
    archive = Path(training) / "archive"
    areas = list(regions[split])
    built = set(ArchiveSource(archive).regions())
    absent = [a.name for a, _ in areas if a.name not in built]
    if absent:
        raise ValueError(
            f"{archive} lacks {len(absent)} of the {split!r} split's regions (e.g. {absent[0]}): "
            "not the training world of this plan (--training, --world)"
        )
    extra: list[tuple[AreaOfInterest, SimulationSpec]] = []
    if isinstance(plan, RandomisedPlan):
        extra = [r for d in range(1, draws + 1) for r in plan.extra_regions(split, d)]
        areas += extra
    _refuse_other_scenes(Path(out), {scene_id(a, post) for a, _ in areas for _, post in windows})
    if draws:  # the extra regions only: the split's own stay as training_data built them
        build_archive(archive, extra, plan.simulation(), progress=False, workers=workers)
    source = ArchiveSource(archive)
    written = []
    for area, _ in areas:
        for pre, post in windows:
            try:
                scene = scene_of(source, area, pre, post)
            except DataUnavailable as err:
                log.warning("%s %s: skipped (%s)", area.name, post, err)
                continue
            write_scene(Path(out), scene)
            if not scene.label.any():
                written.append(scene.id)
    return written


def _refuse_other_scenes(out: Path, ids: set[str]) -> None:
    """Refuse an output folder holding scenes this export would not write (an earlier export
    with more draws, another split): whoever reads the folder would take them too."""
    inputs = sorted((out / "input").glob(f"*{INPUT_SUFFIX}"))
    other = [scene_id_of(p) for p in inputs]
    other = [i for i in other if i not in ids]
    if other:
        raise ValueError(
            f"{out} holds {len(other)} scene(s) this export would not write (e.g. {other[0]}): "
            "remove them or choose another --out"
        )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.ops.stormfree_scenes",
        description="export storm-free scenes of a training-set split (chain scores)",
    )
    p.add_argument("--training", type=Path, default=Path("data/training"))
    p.add_argument(
        "--world",
        choices=("presets", "randomised"),
        default="presets",
        help="the training world of --training (its default plan, as training_data made it)",
    )
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--draws",
        type=int,
        default=0,
        help="also this many new regions of every family of the split (randomised world)",
    )
    p.add_argument("--workers", type=int, help="simulation processes for --draws")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    plan = RandomisedPlan() if args.world == "randomised" else TrainingSetPlan()
    try:  # SIGTERM too (a batch queue's) ends the build through its clean-up (the workers)
        with interrupt_on_signals():
            ids = export_stormfree_scenes(
                args.training, args.split, args.out, plan=plan, draws=args.draws,
                workers=args.workers,
            )  # fmt: skip
    except ValueError as err:
        p.error(str(err))
    except KeyboardInterrupt as stop:  # a line, not a traceback; the scenes written stay
        print(f"{p.prog}: {str(stop) or 'interrupted'}; run it again to go on (written scenes are "
              "kept)", file=sys.stderr)  # fmt: skip
        return stop_status(stop)
    print(f"storm-free scenes in {args.out}, {len(ids)} of them look-alike-only")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
