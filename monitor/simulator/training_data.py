"""Training, validation and test sets from the embedded archive, exported in the Ganerød et al.
layout that ``models`` trains from (``models`` never imports ``monitor``)::

    <out>/<split>/input/<id>_input.tif   15 bands in models.feature_stack.MODEL_BANDS order
    <out>/<split>/label/<id>_label.tif   1 = landslide that happened between the windows

Each split gets its own simulated regions (:func:`random_regions` with a different seed per
split), so validation and test terrain is never seen in training. Every region is simulated
with storms, and each storm gives the scenes that the two window modes of a run would see
(docs/configuration.md, "windows"), so the shipped ensemble has learned both:

- one ``event`` scene: greenest-pixel and median composites of a pre window ending the day
  before the storm and a post window starting on it (Ganerød et al.);
- one ``monitoring`` scene per lag of :attr:`TrainingSetPlan.monitoring_lags_days`: what a
  daily run that many days after the storm compares (the latest clear observation and the last
  Sentinel-1 scene of each track, the monitoring default, against the baseline), so that the
  first views after an event, with one or two post-event scenes, are in the training data.

The label is the simulated landslides whose event date falls in the post window and before its
last acquisition (a landslide after every acquisition of the window is not in the images).
Older landslides and the look-alikes (clear-cuts, reservoir shores) stay in the scene as
negatives.

    python -m monitor.simulator.training_data --out data/training            # the default sets

``--world randomised`` exports the randomised training world instead
(:mod:`monitor.simulator.randomised`): every scene's world drawn from the documented priors
(:mod:`monitor.simulator.priors`), grouped into families (landscape type x look-alike set x
landslide morphology) and split by family: ``train``, ``val`` and ``test`` never share a
family; ``test_in`` holds new regions of training families (the in-family test). The export
records every split's families and every region's family in ``dataset.json``.

    python -m monitor.simulator.training_data --world randomised --out data/randomised
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor the archive source uses)
from rasterio.features import rasterize
from tqdm import tqdm

from models.atomic import out_problem, write_atomically
from models.console import whole_number
from models.datasets import (
    DATASET_RECORD_FILE,
    INPUT_SUFFIX,
    SPLIT_NAMES,
    Scene,
    input_path,
    label_path,
    scene_id_of,
    write_scene,
)
from models.feature_stack import StackAttrs, model_input
from monitor.errors import BadInput, interrupt_on_signals, stop_status
from monitor.simulator.build import build_archive
from monitor.simulator.randomised import RandomisedPlan
from monitor.simulator.region import random_regions
from monitor.simulator.scene_windows import StormSeason
from monitor.simulator.spec import SIMULATOR_VERSION, SimulationSpec
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import (
    EVENT,
    AreaOfInterest,
    Compositing,
    DataUnavailable,
    InvalidArea,
    Window,
)

__all__ = [
    "ForeignFolder",
    "RandomisedPlan",
    "SplitPlan",
    "TrainingSetPlan",
    "export_training_sets",
    "scene_id",
    "scene_of",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SplitPlan:
    regions: int
    seed: int  # random_regions seed: a different seed is different terrain


@dataclass(frozen=True)
class TrainingSetPlan(StormSeason):
    """What to simulate. The defaults make the sets of the shipped ensemble."""

    train: SplitPlan = SplitPlan(regions=24, seed=1001)
    val: SplitPlan = SplitPlan(regions=6, seed=2002)
    test: SplitPlan = SplitPlan(regions=8, seed=3003)
    size_km: tuple[float, float] = (2.5, 3.5)
    landslide_rate_scale: float = 4.0  # denser events than the demo: more positives per scene

    def regions(self, split: str) -> list[tuple[AreaOfInterest, SimulationSpec]]:
        plan: SplitPlan = getattr(self, split)
        regions = random_regions(plan.regions, plan.seed, size_km=self.size_km, prefix=split)
        scale = {"landslide_rate_scale": self.landslide_rate_scale}
        return [(area, spec.model_copy(update=scale)) for area, spec in regions]

    def split_regions(self) -> dict[str, list[tuple[AreaOfInterest, SimulationSpec]]]:
        return {split: self.regions(split) for split in SPLIT_NAMES}


def scene_of(
    source: ArchiveSource,
    area: AreaOfInterest,
    pre: Window,
    post: Window,
    compositing: Compositing = EVENT,
) -> Scene:
    """The 15-band feature stack of ``area`` and its label: landslides dated in ``post`` before
    its last acquisition."""
    stack = source.features(area, pre, post, compositing)
    image = model_input(stack, "all")
    truth = source.ground_truth(area.name)
    attrs = StackAttrs.of(stack)
    seen = [*attrs.dates("s1", "post"), *attrs.dates("s2", "post")]
    last = max(seen) if seen else post.start
    fresh = truth[(truth["event_date"] >= post.start) & (truth["event_date"] < last)]
    shape = (stack.sizes["y"], stack.sizes["x"])
    transform = stack.rio.transform()
    if len(fresh):
        geoms = fresh.to_crs(stack.rio.crs).geometry
        label = rasterize(
            ((g, 1) for g in geoms), out_shape=shape, transform=transform, dtype="uint8"
        )
    else:
        label = np.zeros(shape, np.uint8)
    return Scene(scene_id(area, post, compositing), image, label, stack.rio.crs, transform)


def scene_id(area: AreaOfInterest, post: Window, compositing: Compositing = EVENT) -> str:
    """The id :func:`scene_of` gives the scene of ``area`` with post window ``post``: the
    window's first day in event mode, its end (the run date) in monitoring mode."""
    if compositing.mode == "event":
        return f"{area.name}_{post.start:%Y%m%d}"
    return f"{area.name}_{post.end:%Y%m%d}_monitoring"


def export_training_sets(
    out: Path,
    plan: TrainingSetPlan | RandomisedPlan = TrainingSetPlan(),
    *,
    archive: Path | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, list[str]]:
    """Simulate the plan's regions into ``archive`` (default ``<out>/archive``; regions already
    built are reused) and write every split's scenes under ``<out>/<split>/``. Returns the scene
    ids per split. Scenes without any landslide are kept (they are valid negatives for
    validation and test; the training sampler skips them). With a :class:`RandomisedPlan` the
    splits are train, val, test (out-of-family) and test_in (in-family)."""
    started = time.perf_counter()
    out = Path(out)
    earlier = _earlier_scenes(out)  # before anything is built: a folder of others is refused
    archive = Path(archive) if archive else out / "archive"
    simulation = plan.simulation()
    all_regions = plan.split_regions()
    build_archive(
        archive,
        [r for regions in all_regions.values() for r in regions],
        simulation,
        progress=progress,
        workers=workers,
    )
    source = ArchiveSource(archive)
    written: dict[str, list[str]] = {}
    # a record before the first scene, so that an export stopped part-way is this command's to
    # go on with (found in review: its rerun was refused as another dataset's folder)
    provisional = {
        "simulator_version": SIMULATOR_VERSION,
        "world": "randomised" if isinstance(plan, RandomisedPlan) else "presets",
        # the regions (models.scene_groups groups a stopped export's scenes by them)
        "regions": {split: [a.name for a, _ in regions] for split, regions in all_regions.items()},
        "complete": False,
    }
    text = json.dumps(provisional, indent=1) + "\n"
    write_atomically(out / DATASET_RECORD_FILE, lambda tmp: tmp.write_text(text))
    for split, regions in all_regions.items():
        ids = []
        jobs = [
            (area, view)
            for area, _ in regions
            for storm in plan.storms
            for view in plan.views(storm)
        ]
        for area, (pre, post, how) in tqdm(jobs, desc=f"export {split}", disable=not progress):
            try:
                scene = scene_of(source, area, pre, post, how)
            except DataUnavailable as err:
                log.warning("%s: skipped (%s)", area.name, err)
                continue
            write_scene(out / split, scene)
            ids.append(scene.id)
        written[split] = ids
        log.info("%s: %d scenes in %s", split, len(ids), out / split)
    record = {
        "simulator_version": SIMULATOR_VERSION,
        "world": "randomised" if isinstance(plan, RandomisedPlan) else "presets",
        "plan": asdict(plan),
        "regions": {split: [a.name for a, _ in regions] for split, regions in all_regions.items()},
        "scenes": written,
        "seconds": round(time.perf_counter() - started, 1),
        "complete": True,
    }
    if isinstance(plan, RandomisedPlan):
        record.update(plan.record(all_regions))
    (out / DATASET_RECORD_FILE).write_text(json.dumps(record, indent=1, default=str) + "\n")
    for split, before in earlier.items():
        # found in a walkthrough: a smaller export into the folder of a larger one left its
        # scenes, and evaluate scored 16 where the export said 8
        stale = sorted(before - set(written.get(split, [])))
        for stale_id in stale:
            input_path(out / split, stale_id).unlink(missing_ok=True)
            label_path(out / split, stale_id).unlink(missing_ok=True)
        if stale:
            shown = ", ".join(stale[:3]) + (" ..." if len(stale) > 3 else "")
            log.warning(
                "%s: removed %d scene(s) of the earlier export there that this one does not "
                "make: %s", out / split, len(stale), shown,
            )  # fmt: skip
    return written


class ForeignFolder(ValueError):
    """An ``--out`` that holds another dataset's scenes, which an export would mix with."""


def _earlier_scenes(out: Path) -> dict[str, set[str]]:
    """The scene ids of each split folder of ``out`` that an earlier export wrote, which the
    new one replaces; a :class:`ForeignFolder` where ``out`` holds scenes and no record of this
    command's export (another dataset's: nothing of it is removed)."""
    earlier = {
        folder.parent.name: {scene_id_of(p) for p in folder.glob(f"*{INPUT_SUFFIX}")}
        for folder in sorted(out.glob("*/input"))
    }
    earlier = {split: ids for split, ids in earlier.items() if ids}
    if not earlier:
        return {}
    try:
        record = json.loads((out / DATASET_RECORD_FILE).read_text())
    except (OSError, ValueError):
        record = None
    if not isinstance(record, dict) or "simulator_version" not in record:
        split, ids = next(iter(earlier.items()))
        raise ForeignFolder(
            f"--out {out}: {out / split} holds {len(ids)} scene(s) that no export of the "
            "simulator wrote; give an empty or new folder"
        )
    return earlier


_count = whole_number(0)  # a number of regions


# The options of each world, with their defaults: one given for the other world was ignored
# without a word (found in a walkthrough: --size-km 1 1 with the presets made 2.5-3.5 km regions)
_PRESETS_OPTIONS = {
    "train_regions": TrainingSetPlan.train.regions,
    "val_regions": TrainingSetPlan.val.regions,
    "test_regions": TrainingSetPlan.test.regions,
}
_RANDOMISED_OPTIONS = {
    "per_family": RandomisedPlan.train_per_family,
    "test_in_families": RandomisedPlan.test_in_families,
    "split_seed": RandomisedPlan.split_seed,
    "size_km": RandomisedPlan.size_km,
    "family": None,
}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.simulator.training_data",
        description="export simulated training/validation/test sets in the Ganerød et al. layout",
    )
    p.add_argument("--out", type=Path, default=Path("data/training"))
    p.add_argument("--archive", type=Path, help="archive folder (default: <out>/archive)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument(
        "--world",
        choices=("presets", "randomised"),
        default="presets",
        help="presets: the three landscape presets (the default sets); randomised: the world "
        "drawn from the priors, split by family (train, val, test, test_in)",
    )
    q = p.add_argument_group("presets world")
    for split in ("train", "val", "test"):
        q.add_argument(
            f"--{split}-regions",
            type=_count,
            help=f"regions of the {split} split, each of a preset landscape in turn "
            f"(default {_PRESETS_OPTIONS[f'{split}_regions']})",
        )
    r = p.add_argument_group("randomised world")
    r.add_argument("--per-family", type=_count, help="regions per family and split (default 1)")
    r.add_argument(
        "--test-in-families",
        type=_count,
        help=f"training families drawn again for the in-family test split "
        f"(default {RandomisedPlan.test_in_families})",
    )
    r.add_argument("--split-seed", type=int, help="seed of the family split (default 0)")
    r.add_argument(
        "--size-km",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="range of the regions' side in km (default {:g} {:g})".format(*RandomisedPlan.size_km),
    )
    r.add_argument("--family", action="append", help="only this family (repeatable)")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    own, other = (
        (_RANDOMISED_OPTIONS, _PRESETS_OPTIONS)
        if args.world == "randomised"
        else (_PRESETS_OPTIONS, _RANDOMISED_OPTIONS)
    )
    given = [name for name in other if getattr(args, name) is not None]
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        p.error(f"{options}: not an option of --world {args.world}")
    for name, default in own.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.world == "randomised":  # found in review: 0 0 was a traceback of an invalid region
        low, high = args.size_km
        if not 0 < low <= high:
            p.error(f"--size-km {low:g} {high:g}: give MIN and MAX, 0 < MIN <= MAX (km)")
    for option, path in (("--out", args.out), ("--archive", args.archive)):
        if path is not None and (problem := out_problem(path)):
            p.error(f"{option} {problem}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    plan: TrainingSetPlan | RandomisedPlan
    if args.world == "randomised":
        plan = RandomisedPlan(
            split_seed=args.split_seed,
            train_per_family=args.per_family,
            val_per_family=args.per_family,
            test_per_family=args.per_family,
            test_in_families=args.test_in_families,
            size_km=tuple(args.size_km),
            families=tuple(args.family) if args.family else None,
        )
        try:  # before anything is simulated: families that cannot be split are a usage error
            plan.family_split()
        except ValueError as err:
            few = args.family is not None and len(args.family) < 3
            hint = ": name three or more (train, validation and test take whole families)"
            p.error(f"--family: {err}{hint if few else ''}")
    else:
        base = TrainingSetPlan()
        plan = TrainingSetPlan(
            train=SplitPlan(args.train_regions, base.train.seed),
            val=SplitPlan(args.val_regions, base.val.seed),
            test=SplitPlan(args.test_regions, base.test.seed),
        )
    try:  # SIGTERM too (a batch queue's) ends the build through its clean-up (the workers)
        with interrupt_on_signals():
            ids = export_training_sets(
                args.out, plan, archive=args.archive, workers=args.workers, progress=not args.quiet
            )
    except (ForeignFolder, BadInput, InvalidArea) as err:  # an --out of another dataset's, an
        # archive of real exports, a region the options make invalid: usage errors
        p.error(str(err))
    except KeyboardInterrupt as stop:  # a traceback of 14 frames (found in a walkthrough)
        print(f"{p.prog}: {str(stop) or 'interrupted'}; run it again to go on (built regions are "
              "reused)", file=sys.stderr)  # fmt: skip
        return stop_status(stop)
    for split, names in ids.items():
        print(f"{split}: {len(names)} scenes in {args.out / split}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
