"""What each group of object-filter features is worth: the filter refitted without it, from one
collection of the chain's candidates, scored where the targets of docs/models.md are.

The candidates are collected once with the ensemble of ``--manifest`` (no filter), as
``monitor.ops.filter_fit`` collects them: training (``--train``, repeatable), validation
(``--val``), test (``--test``) and look-alike-only (``--look-alikes``: the scenes of that folder
without a labelled landslide). For the full feature set and for each ``--drop`` group, the
classifier is fitted on the training candidates with the dropped features held at
:data:`~monitor.pipeline.object_filter.MISSING` (a constant column is never split on), the cut
calibrated on validation as the shipped fit does it (:func:`monitor.ops.filter_fit.calibrate_cut`),
and the table printed: false objects per 100 km² on the look-alike-only scenes, test recall of
landslides of 1 ha or more with and without the filter, and test false objects per 100 km².
Nothing is written next to the manifest.

    OMP_NUM_THREADS=1 python bench/bench_filter_ablation.py \\
        --manifest models/default/manifest.json \\
        --train data/randomised/train --train data/randomised/stormfree-train \\
        --val data/randomised/val --test data/randomised/test \\
        --look-alikes data/randomised/stormfree-test --drop dvv_contrast,dvh_contrast

(these folders are the defaults; without ``--drop`` the groups of :data:`DEFAULT_GROUPS`).

About 6 minutes on one core of the build machine (most of it the ensemble over 700 scenes),
and about 15 s more per fit (``--seeds`` fits every row that many times).
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

from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.ops.filter_fit import (  # noqa: E402
    Candidates,
    calibrate_cut,
    chain_inputs,
    collect,
    fit_classifier,
)
from monitor.pipeline.object_filter import FEATURES, MISSING  # noqa: E402

# the feature groups of docs/models.md, left out one at a time by default
DEFAULT_GROUPS = (
    "prevv_contrast,prevh_contrast",
    "dvv_contrast,dvh_contrast",
    "dvv_mean,dvh_mean,dvv_contrast,dvh_contrast",
    "compactness,elongation,fall_line_alignment,rectangularity,right_angles,straight_edges",
    "edge_right_angles",
    "cover_tree,cover_shrub,cover_grass,cover_crop,cover_bare,water_nearby,canopy_height_mean",
)


def _held(x: np.ndarray, dropped: list[int]) -> np.ndarray:
    out = x.copy()
    out[:, dropped] = MISSING
    return out


def dash_or(value: float | None, digits: int) -> str:
    """``value`` rounded, or a dash where there was nothing to count."""
    return "–" if value is None else f"{value:.{digits}f}"


def _cell(values: list[float | None], digits: int) -> str:
    """The mean of ``values`` (a dash when any is missing), with their range when several."""
    if any(v is None for v in values):
        return "–"
    known = [float(v) for v in values if v is not None]
    mean = dash_or(float(np.mean(known)), digits)
    if len(known) == 1:
        return mean
    return f"{mean} [{min(known):.{digits}f}, {max(known):.{digits}f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world = ROOT / "data" / "randomised"
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--train", type=Path, action="append", help="repeatable (default: the world's)")
    p.add_argument("--val", type=Path, help="default: the world's")
    p.add_argument("--test", type=Path, help="default: the world's")
    p.add_argument("--look-alikes", type=Path, help="default: the world's stormfree-test")
    p.add_argument(
        "--drop",
        action="append",
        help="comma-separated features left out together (repeatable: one row each; default: "
        + "; ".join(DEFAULT_GROUPS)
        + ")",
    )
    p.add_argument("--max-recall-loss", type=float, default=0.02)
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="fit each row with this many random states (0, 1, ...) and print the mean and the "
        "range: one draw of the trees' subsamples moves the figures by about as much as one "
        "feature does (default 1: the shipped fit's draw alone)",
    )
    args = p.parse_args()
    if args.seeds < 1:
        p.error("--seeds: at least 1")
    folders = (args.train, args.val, args.test, args.look_alikes)
    explicit = any(f is not None for f in folders)
    args.train = args.train or [world / "train", world / "stormfree-train"]
    args.val = args.val or world / "val"
    args.test = args.test or world / "test"
    args.look_alikes = args.look_alikes or world / "stormfree-test"
    missing = [f for f in (*args.train, args.val, args.test, args.look_alikes) if not f.is_dir()]
    if missing and not explicit:
        # `make bench` on a fresh clone: the world is built by `make default-ensemble` only
        print(
            f"skipped: no {', '.join(map(str, missing))} (`make default-ensemble` builds the "
            "randomised world, `make chain-report` its storm-free test scenes)"
        )
        return 0
    if missing:
        p.error(
            f"no scenes in {', '.join(map(str, missing))}: `make default-ensemble` builds the "
            "randomised world and `make chain-report` its storm-free test scenes"
        )
    logging.basicConfig(level=logging.WARNING)
    groups: list[tuple[str, list[int]]] = [("all features", [])]
    for spec in args.drop or DEFAULT_GROUPS:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        unknown = [n for n in names if n not in FEATURES]
        if unknown:
            p.error(
                f"--drop: unknown feature(s) {', '.join(unknown)} (known: {', '.join(FEATURES)})"
            )
        groups.append((f"without {', '.join(names)}", [FEATURES.index(n) for n in names]))

    start = time.perf_counter()
    ensemble, policy, rules = chain_inputs(args.manifest)
    train = collect(args.train, ensemble, policy, rules)
    val = collect([args.val], ensemble, policy, rules)
    test = collect([args.test], ensemble, policy, rules)
    looks = collect([args.look_alikes], ensemble, policy, rules).look_alike_only()
    print(
        f"candidates: train {len(train.features)}, val {len(val.features)}, test "
        f"{len(test.features)}, look-alike-only {len(looks.features)} "
        f"({len(looks.scenes)} scenes, {sum(s.area_km2 for s in looks.scenes):.1f} km2); "
        f"collected in {time.perf_counter() - start:.0f} s"
    )
    base_test, base_looks = test.summary(), looks.summary()
    print(
        f"no filter: look-alike-only {dash_or(base_looks['false_per_100km2'], 1)} false objects / "
        f"100 km2; test recall >= 1 ha {dash_or(base_test['recall']['>=1 ha'], 3)}, "
        f"false objects {dash_or(base_test['false_per_100km2'], 1)} / 100 km2\n"
    )
    seeds = list(range(args.seeds))
    print(f"random states {seeds}: each cell the mean" + (" [min, max]" if len(seeds) > 1 else ""))
    print(
        "| filter | cut | look-alike-only false / 100 km² | test recall ≥ 1 ha "
        "| test false / 100 km² |"
    )
    print("| --- | --- | --- | --- | --- |")
    for label, dropped in groups:
        rows: list[tuple[float, float | None, float | None, float | None]] = []
        for seed in seeds:
            clf = fit_classifier(_held(train.features, dropped), train.positive, random_state=seed)

            def scores(c: Candidates, clf: Any = clf, dropped: list[int] = dropped) -> np.ndarray:
                x = c.features
                return clf.predict_proba(_held(x, dropped))[:, 1] if len(x) else np.zeros(0)

            cut, _, _ = calibrate_cut(val.scenes, val.split(scores(val)), args.max_recall_loss)
            t, la = test.summary(scores(test), cut), looks.summary(scores(looks), cut)
            rows.append((cut, la["false_per_100km2"], t["recall"][">=1 ha"], t["false_per_100km2"]))
        cells = [
            _cell([r[k] for r in rows], digits) for k, digits in ((0, 2), (1, 1), (2, 3), (3, 1))
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nseconds: {time.perf_counter() - start:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
