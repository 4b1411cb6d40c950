"""How many extra storm-free draws the object filter's fit should see: the filter fitted with the
training split's storm scenes, its own storm-free scenes and 0, 1, ... ``--draws`` more regions
of every training family seen without a storm (``monitor.ops.stormfree_scenes --draws``, the
seeds ``make object-filter`` uses), the cut calibrated on validation each time as the shipped fit
does (:func:`monitor.ops.filter_fit.calibrate_cut`), and the table printed: false objects per
100 km² on the validation families' look-alike-only scenes (what ``STORMFREE_DRAWS`` in the
Makefile is chosen on) and on the test families' (reported, not chosen on), test recall of
landslides of 1 ha or more and test false objects per 100 km².

The candidates are collected once with the ensemble of ``--manifest`` (no filter): the training
storm scenes, the storm-free scenes of the split's regions and of each draw (exported under
``--work``, the draws simulated into the world's archive on the way), validation, test and the
storm-free scenes of the validation and test splits. Nothing is written next to the manifest.

    OMP_NUM_THREADS=1 python bench/bench_stormfree_draws.py --world data/randomised --draws 4

About 9 minutes on one core of the build machine with 4 draws (most of it the ensemble over 800
scenes, and 1 minute of simulation per draw); skipped without the randomised world of ``make
default-ensemble``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_filter_ablation import dash_or  # noqa: E402

from models.datasets import scene_ids  # noqa: E402
from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.ops.filter_fit import (  # noqa: E402
    Candidates,
    calibrate_cut,
    chain_inputs,
    collect,
    fit_classifier,
)
from monitor.ops.stormfree_scenes import export_stormfree_scenes  # noqa: E402
from monitor.simulator.randomised import RandomisedPlan  # noqa: E402


def _joined(parts: list[Candidates]) -> Candidates:
    return Candidates(
        x=[x for c in parts for x in c.x], scenes=[s for c in parts for s in c.scenes]
    )


def _by_draw(folder: Path, out: Path, draws: int) -> list[Path]:
    """The scenes of ``folder`` (the split's own regions and every draw's) linked into one folder
    per source: ``own`` and ``x1`` ... ``x<draws>`` (region names ``train-x<d>-...``)."""
    parts = [out / "own", *(out / f"x{d}" for d in range(1, draws + 1))]
    for scene_id in scene_ids(folder):
        draw = next((d for d in range(1, draws + 1) if f"-x{d}-" in scene_id), 0)
        for sub in ("input", "label"):
            for file in (folder / sub).glob(f"{scene_id}_*"):
                link = parts[draw] / sub / file.name
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.exists():
                    link.symlink_to(file.resolve())
    return parts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", type=Path, default=ROOT / "data" / "randomised")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--draws", type=int, default=4, help="the most extra draws tried (default 4)")
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-stormfree-draws")
    p.add_argument("--max-recall-loss", type=float, default=0.02)
    args = p.parse_args()
    if args.draws < 0:
        p.error(f"--draws {args.draws}: must not be negative")
    needed = [args.world / s for s in ("archive", "train", "val", "test")]
    if any(not f.is_dir() for f in needed):
        print(f"skipped: no randomised world in {args.world} (`make default-ensemble` builds it)")
        return 0
    logging.basicConfig(level=logging.WARNING)
    start = time.perf_counter()
    plan = RandomisedPlan()
    stormfree = {}
    for split, draws in (("train", args.draws), ("val", 0), ("test", 0)):
        stormfree[split] = args.work / f"stormfree-{split}"
        try:
            export_stormfree_scenes(args.world, split, stormfree[split], plan=plan, draws=draws)
        except ValueError as err:  # e.g. a --work of a run with more draws
            p.error(str(err))
    print(f"storm-free scenes exported in {time.perf_counter() - start:.0f} s")

    ensemble, policy, rules = chain_inputs(args.manifest)
    storms = collect([args.world / "train"], ensemble, policy, rules)
    parts = [  # a draw all of whose scenes were skipped adds nothing
        collect([part], ensemble, policy, rules) if part.is_dir() else Candidates()
        for part in _by_draw(stormfree["train"], args.work / "train-by-draw", args.draws)
    ]
    val = collect([args.world / "val"], ensemble, policy, rules)
    test = collect([args.world / "test"], ensemble, policy, rules)
    looks = {
        s: collect([stormfree[s]], ensemble, policy, rules).look_alike_only()
        for s in ("val", "test")
    }
    area = {s: sum(o.area_km2 for o in looks[s].scenes) for s in looks}
    print(
        f"candidates: training storm scenes {len(storms.features)}, storm-free "
        f"{[len(c.features) for c in parts]} (own, then each draw), val {len(val.features)}, "
        f"test {len(test.features)}; look-alike-only val {len(looks['val'].features)} "
        f"({area['val']:.1f} km2), test {len(looks['test'].features)} ({area['test']:.1f} km2); "
        f"collected in {time.perf_counter() - start:.0f} s\n"
    )
    print(
        "| extra draws | storm-free training scenes | cut | look-alike-only false / 100 km², "
        "validation | the same, test | test recall ≥ 1 ha | test false / 100 km² |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for draws in range(args.draws + 1):
        train = _joined([storms, *parts[: draws + 1]])
        clf = fit_classifier(train.features, train.positive)

        def scores(c: Candidates, clf: Any = clf) -> np.ndarray:
            x = c.features
            return clf.predict_proba(x)[:, 1] if len(x) else np.zeros(0)

        cut, _, _ = calibrate_cut(val.scenes, val.split(scores(val)), args.max_recall_loss)
        t = test.summary(scores(test), cut)
        lv, lt = (looks[s].summary(scores(looks[s]), cut) for s in ("val", "test"))
        n_scenes = sum(len(c.scenes) for c in parts[: draws + 1])
        print(
            f"| {draws} | {n_scenes} | {cut:.2f} | {dash_or(lv['false_per_100km2'], 1)} | "
            f"{dash_or(lt['false_per_100km2'], 1)} | {dash_or(t['recall']['>=1 ha'], 3)} | "
            f"{dash_or(t['false_per_100km2'], 1)} |"
        )
    print(f"\nseconds: {time.perf_counter() - start:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
