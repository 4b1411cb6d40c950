"""Fit the object filter (:mod:`monitor.pipeline.object_filter`) and ship it with an ensemble.

The candidates are the chain's own (:func:`monitor.pipeline.chain.detect` with the ensemble of
the manifest, no filter) on the scenes of Ganerød-layout folders:

1. **fit** on the candidates of the training folders (``--train``, repeatable: a randomised
   world's training families can be added or swapped in), a candidate being positive when it
   covers a pixel of a labelled landslide (:func:`models.chain_metrics.scene_objects`); a
   candidate mostly on pixels of unknown class (label 255) is left out of every set, fit and
   scores alike (:func:`known_candidates`; the simulated worlds have none);
2. **calibrate** the cut on the validation folders (``--val``): the highest cut on a grid of
   0.01 whose object recall for landslides of 1 ha or more stays within ``--max-recall-loss``
   (default 0.02) of the unfiltered chain's and whose recall over all sizes stays within twice
   that;
3. **report** the held-out test folders (``--test``) with and without the filter;
4. write ``object_filter.onnx`` and the table of its training candidates
   (``object_filter_candidates.npz``: features and class, what ``monitor.ops.filter_refit`` adds
   an operator's reviews to, with their keys and weights) next to the manifest (scikit-learn
   ``GradientBoostingClassifier``, classes weighted to balance, converted with skl2onnx, the
   conversion checked against scikit-learn's own scores) and the manifest's ``object_filter``
   entry (file, SHA-256, features, cut, the table and its SHA-256, and the figures of steps
   1-3).

    python -m monitor.ops.filter_fit --train data/training/train --val data/training/val \\
        --test data/training/test --manifest models/default/manifest.json

scikit-learn and skl2onnx are needed here only (the ``fit`` extra); running the filter needs
onnxruntime. Deterministic: fixed random state, one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
from rasterio import features
from scipy import ndimage

from models.atomic import write_atomically
from models.chain_metrics import (
    ChainScores,
    SceneObjects,
    chain_scores,
    mostly_unknown,
    scene_objects,
    unknown_class,
)
from models.datasets import DatasetError, Scene, read_scene, scene_ids
from models.manifest import (
    ManifestError,
    ObjectFilterEntry,
    read_manifest,
    sha256_file,
    verified_file,
    write_manifest,
)
from monitor.config import ModelSettings
from monitor.ops.detect_stack import default_rules
from monitor.pipeline.chain import ChainModel, detect, stack_from_scene
from monitor.pipeline.object_filter import FEATURES, candidate_features
from monitor.pipeline.setting import UNSEEN_PIXELS, NoUsableSetting
from monitor.pipeline.vectorise import VectoriseRules

if TYPE_CHECKING:  # torch loads only when an ensemble does (chain_inputs)
    from models.ensemble import Ensemble

__all__ = [
    "CANDIDATES_FILE",
    "CUT_GRID",
    "FILTER_FILE",
    "REVIEW_KEYS",
    "RUNS_ENGINE",
    "CandidateTable",
    "Candidates",
    "calibrate_cut",
    "chain_inputs",
    "collect",
    "fit_classifier",
    "fit_filter",
    "highest_cut",
    "known_candidates",
    "main",
    "read_candidates",
    "require_fit_extra",
    "summary",
    "write_candidates",
    "write_onnx",
]

log = logging.getLogger(__name__)

FILTER_FILE = "object_filter.onnx"
CANDIDATES_FILE = "object_filter_candidates.npz"  # training candidates (features, class, review)
CUT_GRID = tuple(round(0.01 * i, 2) for i in range(100))


@dataclass
class Candidates:
    """The chain's candidates of a set of scenes: features, positive (covers a labelled
    landslide), and the scenes' objects for the chain scores."""

    x: list[np.ndarray] = field(default_factory=list)  # per scene (n_i, F)
    scenes: list[SceneObjects] = field(default_factory=list)
    seconds: float = 0.0
    unknown: int = 0  # candidates left out: mostly on pixels of unknown class (label 255)

    @property
    def features(self) -> np.ndarray:
        return np.concatenate(self.x) if self.x else np.zeros((0, len(FEATURES)), np.float32)

    @property
    def positive(self) -> np.ndarray:
        flags = [np.array([len(t) > 0 for t in s.touches], bool) for s in self.scenes]
        return np.concatenate(flags) if flags else np.zeros(0, bool)

    def split(self, values: np.ndarray) -> list[np.ndarray]:
        """``values`` (one per candidate, all scenes) cut back into one array per scene."""
        bounds = np.cumsum([len(x) for x in self.x])[:-1]
        return list(np.split(values, bounds))

    def look_alike_only(self) -> Candidates:
        """The candidates of the scenes without a labelled landslide (look-alike-only)."""
        keep = [i for i, s in enumerate(self.scenes) if len(s.event_area_m2) == 0]
        return Candidates(x=[self.x[i] for i in keep], scenes=[self.scenes[i] for i in keep])

    def summary(self, scores: np.ndarray | None = None, cut: float = 0.0) -> dict[str, Any]:
        """The chain's scores of these scenes (:func:`summary`): every candidate kept, or those
        whose filter ``scores`` (one per candidate, all scenes) reach ``cut``."""
        kept = None if scores is None else [s >= cut for s in self.split(scores)]
        return summary(chain_scores(self.scenes, kept))


def known_candidates(candidates: gpd.GeoDataFrame, scene: Scene) -> np.ndarray:
    """Per candidate, whether its class is known: it covers a labelled landslide, or no more of
    its pixels are of unknown class (``scene.ignore``: label 255, e.g. the unreviewed
    candidates of ``dataset from-reviews`` and their margins, or the ring of a catalogue
    point) than of known background (:func:`models.chain_metrics.mostly_unknown`, the rule of
    the chain's scores). An unreviewed candidate is neither a landslide nor a look-alike to
    learn from."""
    n = len(candidates)
    if scene.ignore is None or not scene.ignore.any() or not n:
        return np.ones(n, bool)
    assert scene.transform is not None
    raster = features.rasterize(
        ((g, i + 1) for i, g in enumerate(candidates.geometry) if not g.is_empty),
        out_shape=scene.label.shape,
        transform=scene.transform,
        dtype="int32",
    )
    index = np.arange(1, n + 1)
    on_label = scene.label > 0  # a labelled landslide is known whatever surrounds it
    background = ~on_label & ~scene.ignore
    return ~mostly_unknown(
        ndimage.sum_labels(scene.ignore, raster, index),
        ndimage.sum_labels(background, raster, index),
        ndimage.sum_labels(on_label, raster, index),
    )


#: The engine a run uses by default (``model.engine``): what the chains that score a region's
#: own scenes (``filter_refit``, ``operating_point``) run with, see :func:`chain_inputs`.
RUNS_ENGINE: str = ModelSettings.model_fields["engine"].default


def chain_inputs(
    manifest_path: Path, engine: str = "onnxruntime"
) -> tuple[Ensemble, ModelSettings, VectoriseRules]:
    """What :func:`collect` runs the chain with: the ensemble of ``manifest_path`` on the CPU,
    its model settings and the rules of ``detect --stack``.

    ``engine`` (``models.inference.ENGINES``): ``onnxruntime``, the shipped fit's, suits
    scenes of one shape (the randomised world's: each member exported once); ``auto``, the
    runs' default (``model.engine``), suits scenes of many shapes, such as those `dataset
    export` and `dataset from-reviews` cut to a region's outline: ONNX Runtime exports a graph
    per member and tile shape (about 2.5 s each), and ``auto`` runs a stack that fits in one
    smaller tile in torch, as a run does."""
    from models.ensemble import Ensemble  # torch and the members load only here

    ensemble = Ensemble.load(manifest_path, engine=engine)  # names a manifest not there
    policy = ModelSettings(manifest=manifest_path, engine=engine, device="cpu")
    return ensemble, policy, default_rules()


def collect(
    folders: Sequence[Path],
    model: ChainModel,
    policy: ModelSettings,
    rules: VectoriseRules,
    what: str | None = None,
) -> Candidates:
    """Run the chain (no filter) on every scene of ``folders``. The chain's warning of pixels
    left without a prediction for want of radar is said once for all scenes (a walkthrough's
    operating point printed 368 such lines, two per scene, before its table), naming the
    chain as ``what`` where given (an operating point runs two: a walk read the same line
    twice)."""
    out = Candidates()
    start = time.perf_counter()
    with _Tally(logging.getLogger(NoUsableSetting.__module__)) as unseen:
        _collect(folders, model, policy, rules, out)
    if unseen.records:
        log.warning(
            "%s%d of the chain's runs on these scenes left %d pixels without a radar "
            "observation but with a clear optical view without a prediction "
            "(model.optical_fallback is off, as in a run by default; the first: %s)",
            f"{what}: " if what else "", len(unseen.records), unseen.pixels,
            unseen.records[0].getMessage(),
        )  # fmt: skip
    out.seconds = time.perf_counter() - start
    return out


class _Tally(logging.Filter):
    """Holds back, and counts, the :data:`UNSEEN_PIXELS` warnings of ``logger`` while in use."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.records: list[logging.LogRecord] = []
        self.pixels = 0

    def filter(self, record: logging.LogRecord) -> bool:
        unseen = getattr(record, UNSEEN_PIXELS, None)
        if unseen is None:
            return True
        self.records.append(record)
        self.pixels += int(unseen)
        return False

    def __enter__(self) -> _Tally:
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeFilter(self)


def _collect(
    folders: Sequence[Path],
    model: ChainModel,
    policy: ModelSettings,
    rules: VectoriseRules,
    out: Candidates,
) -> None:
    for folder in folders:
        for scene_id in scene_ids(folder):
            scene = read_scene(folder, scene_id)
            stack = stack_from_scene(scene)
            # unknown where `evaluate --chain` scores them so: 255 and outside the footprint
            ignore = unknown_class(scene.image, scene.ignore)
            if ignore is not scene.ignore:
                scene = replace(scene, ignore=ignore)
            try:
                found = detect(stack, model, policy, rules, None, device=policy.device)
            except NoUsableSetting as err:
                log.warning("%s: skipped (%s)", scene_id, err)
                continue
            candidates = found.candidates
            known = known_candidates(candidates, scene)
            out.unknown += int((~known).sum())
            # features of every candidate, as a run computes them (a ring feature leaves the
            # neighbours' pixels out), then those of known class
            out.x.append(candidate_features(candidates, found.prediction, stack)[known])
            candidates = candidates[known]
            assert scene.transform is not None
            out.scenes.append(
                scene_objects(
                    f"{folder.name}/{scene_id}",
                    scene.label,
                    scene.transform,
                    list(candidates.geometry),
                    scene.ignore,
                )
            )


def highest_cut(
    scenes: Sequence[SceneObjects],
    scores: Sequence[np.ndarray],
    enough: Callable[[ChainScores], bool],
) -> tuple[float, ChainScores] | None:
    """The highest cut of :data:`CUT_GRID` whose chain (the polygons scoring at least the cut
    kept) ``enough`` accepts, with its scores; None where not even the lowest is. A higher cut
    keeps a subset of a lower one's polygons, so what its chain finds only falls: the search
    stops at the first cut refused."""
    best = None
    for cut in CUT_GRID:
        scored = chain_scores(scenes, [np.asarray(s) >= cut for s in scores])
        if not enough(scored):
            break
        best = (cut, scored)
    return best


def calibrate_cut(
    scenes: Sequence[SceneObjects], scores: Sequence[np.ndarray], max_recall_loss: float
) -> tuple[float, ChainScores, ChainScores]:
    """The highest cut of :data:`CUT_GRID` that keeps the recall of landslides >= 1 ha within
    ``max_recall_loss`` of the unfiltered chain (and the recall of all within twice that).
    Returns the cut and the scores without and with it."""
    unfiltered = chain_scores(scenes)
    base_large = unfiltered.recall(">=1 ha") or 0.0
    base_all = unfiltered.recall("all") or 0.0

    def enough(scored: ChainScores) -> bool:
        large = scored.recall(">=1 ha") or 0.0
        everything = scored.recall("all") or 0.0
        return (
            base_large - large <= max_recall_loss and base_all - everything <= 2 * max_recall_loss
        )

    cut, scored = highest_cut(scenes, scores, enough) or (0.0, unfiltered)
    return cut, unfiltered, scored


def summary(scores: ChainScores) -> dict[str, Any]:
    """The figures a fit record keeps of chain scores."""
    d = scores.as_dict()
    return {
        "recall": d["recall"],
        "false_per_100km2": d["false_per_100km2"],
        "false_large_per_100km2": d["false_large_per_100km2"],
        "pixel_f1": d["pixel_f1"],
        "scenes": d["scenes"],
        "area_km2": d["area_km2"],
    }


def require_fit_extra() -> None:
    """Raise :class:`ValueError` naming the ``fit`` extra where scikit-learn or skl2onnx is
    missing: found in a walkthrough of an installed wheel, a refit ran the chain over every
    scene first and then failed on the import with a traceback."""
    import importlib.util

    missing = [name for name in ("sklearn", "skl2onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"fitting the object filter needs scikit-learn and skl2onnx ({', '.join(missing)} "
            "not installed): pip install 'landslide-monitor[fit]'"
        )


def fit_filter(
    train: Sequence[Path],
    val: Sequence[Path],
    test: Sequence[Path],
    manifest_path: Path,
    *,
    max_recall_loss: float = 0.02,
    train_threshold: float | None = None,
    net_in_training: bool = True,
) -> dict[str, Any]:
    """Fit, calibrate, report and ship (see the module docstring); returns the ``fit`` record
    written into the manifest. ``net_in_training=False`` fits on the ensemble's own candidates
    of the training folders, without those of the net for large vegetation loss
    (:mod:`monitor.pipeline.vegetation_loss`); calibration and report keep them, as a run
    draws them."""
    require_fit_extra()
    ensemble, policy, rules = chain_inputs(manifest_path)
    # more look-alikes to learn from: the training scenes' candidates may be drawn at a lower
    # probability threshold than the chain's (the ensemble has seen those scenes)
    train_rules = rules if train_threshold is None else replace(rules, threshold=train_threshold)
    train_policy = policy
    if not net_in_training:
        train_policy = policy.model_copy(update={"vegetation_loss": False})
    sets = {
        "train": collect(train, ensemble, train_policy, train_rules),
        "val": collect(val, ensemble, policy, rules),
        "test": collect(test, ensemble, policy, rules),
    }
    x, y = sets["train"].features, sets["train"].positive
    clf = fit_classifier(x, y)
    out = Path(manifest_path).parent / FILTER_FILE
    check = sets["val"].features if len(sets["val"].features) else x
    gap = write_onnx(clf, x, check, out)
    table_sha = write_candidates(x, y, out.with_name(CANDIDATES_FILE))

    record: dict[str, Any] = {
        "classifier": "sklearn GradientBoostingClassifier "
        + json.dumps(clf.get_params(), default=str),
        "sample_weight": "balanced",
        "train": [str(p) for p in train],
        "val": [str(p) for p in val],
        "test": [str(p) for p in test],
        "train_vegetation_loss": train_policy.vegetation_loss,
        "train_candidates": len(y),
        "train_positive": int(y.sum()),
        "unknown_left_out": {k: v.unknown for k, v in sets.items()},
        "onnx_max_abs_difference": gap,
        "max_recall_loss": max_recall_loss,
        "train_threshold": train_threshold,
        "rules": {
            "min_area_m2": rules.min_area_m2,
            "min_slope_deg": rules.min_slope_deg,
            "threshold": rules.threshold,
        },
    }

    def probability(name: str) -> np.ndarray:
        c = sets[name]
        return clf.predict_proba(c.features)[:, 1] if len(c.features) else np.zeros(0)

    cut, val_without, val_with = calibrate_cut(
        sets["val"].scenes, sets["val"].split(probability("val")), max_recall_loss
    )
    record["val"] = {"without_filter": summary(val_without), "with_filter": summary(val_with)}
    record["test"] = {
        "without_filter": sets["test"].summary(),
        "with_filter": sets["test"].summary(probability("test"), cut),
    }
    record["seconds"] = {k: round(v.seconds, 1) for k, v in sets.items()}
    manifest = read_manifest(manifest_path)
    manifest.object_filter = ObjectFilterEntry(
        file=FILTER_FILE,
        sha256=sha256_file(out),
        features=list(FEATURES),
        cut=cut,
        fit=record,
        candidates=CANDIDATES_FILE,
        candidates_sha256=table_sha,
    )
    write_manifest(manifest_path, manifest)
    chain_inputs(manifest_path)  # the shipped manifest loads
    return record


def fit_classifier(
    x: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None = None,
    random_state: int = 0,
) -> Any:
    """The gradient-boosted classifier fitted on candidates ``x`` of class ``y``, weighted by
    ``sample_weight`` (default: classes balanced); refuses candidates all of one class.
    ``random_state`` draws the trees' subsamples: the shipped fit uses 0; other draws measure
    how much a figure owes to that one draw (``bench/bench_filter_ablation.py --seeds``)."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.utils.class_weight import compute_sample_weight

    if y.all() or not y.any():
        raise ValueError(f"training candidates are all of one class ({int(y.sum())} of {len(y)})")
    if sample_weight is None:
        sample_weight = compute_sample_weight("balanced", y)
    clf = GradientBoostingClassifier(
        n_estimators=300,
        learning_rate=0.05,
        max_depth=3,
        min_samples_leaf=5,
        subsample=0.8,
        random_state=random_state,
    )
    clf.fit(x, y, sample_weight=sample_weight)
    return clf


REVIEW_KEYS: tuple[str, ...] = ("scene:", "landslide:")
"""The prefixes of a reviewed row's key in a candidates table (:class:`CandidateTable`)."""


@dataclass
class CandidateTable:
    """A filter's training candidates (``CANDIDATES_FILE``): ``features`` (n, F) float32,
    ``positive`` bool, and per row ``review``, "" for the fit's own candidates (the simulated
    world) and otherwise what an operator's review gave it, ``scene:INVENTORY/SCENE`` for a
    candidate of a reviewed scene and ``landslide:INVENTORY/UID`` for a reviewed detection as
    its run scored it (``INVENTORY`` absent where the dataset named none;
    :mod:`monitor.ops.filter_refit`), with ``weight``, the row's weight within its
    set before the classes are balanced (1, or a share for a landslide logged on several run
    dates). A table written before refits kept the keys reads as the fit's own rows."""

    features: np.ndarray
    positive: np.ndarray
    review: np.ndarray
    weight: np.ndarray

    @property
    def reviewed(self) -> np.ndarray:
        """Per row, whether it came from a review."""
        return np.asarray(self.review != "", bool)


def write_candidates(
    x: np.ndarray,
    y: np.ndarray,
    out: Path,
    review: np.ndarray | None = None,
    weight: np.ndarray | None = None,
) -> str:
    """Write the training candidates (``features`` float32, ``positive`` bool, and where given
    each row's ``review`` key and ``weight``, :class:`CandidateTable`) to ``out``; returns its
    SHA-256 (the same candidates give the same file)."""
    arrays = {"features": x.astype(np.float32), "positive": y.astype(bool)}
    if review is not None:
        review = np.asarray(review, dtype=str)
        weight = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
        if not len(review) == len(weight) == len(y):
            raise ValueError(
                f"{len(y)} candidates, {len(review)} review keys, {len(weight)} weights"
            )
        arrays.update(review=review, weight=weight)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)  # type: ignore[arg-type]

    write_atomically(out, write)
    return sha256_file(out)


def read_candidates(base_dir: Path, entry: ObjectFilterEntry) -> CandidateTable:
    """The training candidates of ``entry`` (:class:`CandidateTable`), checked against the
    manifest's SHA-256 and feature count; empty where the entry lists none."""
    if entry.candidates is None or entry.candidates_sha256 is None:
        return CandidateTable(
            np.zeros((0, len(entry.features)), np.float32),
            np.zeros(0, bool),
            np.zeros(0, dtype=str),
            np.zeros(0),
        )
    path = verified_file(
        Path(base_dir) / entry.candidates,
        entry.candidates_sha256,
        "object filter: candidates",
        "Restore the original file, or fit the filter again (python -m monitor.ops.filter_fit)",
    )
    with np.load(path) as table:
        x, y = table["features"], table["positive"]
        keyed = "review" in table.files and "weight" in table.files
        review = table["review"].astype(str) if keyed else np.full(len(y), "", dtype=str)
        weight = table["weight"].astype(np.float64) if keyed else np.ones(len(y))
    if (
        x.ndim != 2
        or x.shape[1] != len(entry.features)
        or not len(y) == len(x) == len(review) == len(weight)
    ):
        raise ManifestError(
            f"object filter: candidates {path} hold {x.shape} features, {len(y)} classes and "
            f"{len(review)} review keys; the filter has {len(entry.features)} features"
        )
    bad = [k for k in set(review.tolist()) if k and not k.startswith(REVIEW_KEYS)]
    if bad or not (np.isfinite(weight).all() and (weight > 0).all()):
        raise ManifestError(
            f"object filter: candidates {path}: review keys must be empty or start with "
            f"{' or '.join(REVIEW_KEYS)} and weights be positive (found {sorted(bad)[:3]})"
        )
    return CandidateTable(x, y, review, weight)


def write_onnx(clf: Any, x: np.ndarray, check: np.ndarray, out: Path) -> float:
    """Convert ``clf`` to ONNX (opsets sorted: a refit of the same candidates gives the same
    file), check it against scikit-learn on ``check`` and move it to ``out``; returns the largest
    absolute difference of the scores."""
    from onnx.helper import make_opsetid
    from onnxruntime import InferenceSession
    from skl2onnx import to_onnx

    onnx_model = to_onnx(
        clf, x[:1].astype(np.float32), options={id(clf): {"zipmap": False}}, target_opset=17
    )
    # skl2onnx lists the opsets in set order, which changes with Python's string hashing: sort
    # them, so that a refit of the same candidates gives the same file (and SHA-256)
    opsets = sorted((o.domain, o.version) for o in onnx_model.opset_import)
    del onnx_model.opset_import[:]
    onnx_model.opset_import.extend(make_opsetid(domain, version) for domain, version in opsets)
    gaps: list[float] = []

    def write(tmp: Path) -> None:  # checked before it replaces ``out``; removed if it fails
        tmp.write_bytes(onnx_model.SerializeToString())
        session = InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        scores = session.run(None, {session.get_inputs()[0].name: check.astype(np.float32)})[1]
        gap = float(np.abs(np.asarray(scores)[:, 1] - clf.predict_proba(check)[:, 1]).max())
        if gap > 1e-4:
            raise ValueError(f"the ONNX conversion differs from scikit-learn by {gap:.2g}")
        gaps.append(gap)

    write_atomically(out, write)
    return gaps[0]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.ops.filter_fit",
        description="fit the object filter on the chain's candidates and ship it in a manifest",
    )
    p.add_argument("--train", type=Path, action="append", required=True, help="repeatable")
    p.add_argument("--val", type=Path, action="append", required=True, help="repeatable")
    p.add_argument("--test", type=Path, action="append", default=[], help="repeatable")
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--max-recall-loss", type=float, default=0.02)
    p.add_argument(
        "--train-threshold",
        type=float,
        help="probability threshold of the training candidates (default: the ensemble's)",
    )
    p.add_argument(
        "--no-net-in-training",
        action="store_true",
        help="fit on the ensemble's own candidates of --train, without the net for large "
        "vegetation loss's (monitor.pipeline.vegetation_loss): in a simulated world, where the "
        "ensemble misses few large scars, most of the net's objects are false, and a filter "
        "fitted on them learns to suppress what the net is there to add; --val and --test keep "
        "them, as a run draws them",
    )
    p.add_argument("--out", type=Path, help="also write the fit record here (JSON)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        record = fit_filter(
            args.train,
            args.val,
            args.test,
            args.manifest,
            max_recall_loss=args.max_recall_loss,
            train_threshold=args.train_threshold,
            net_in_training=not args.no_net_in_training,
        )
    except (ValueError, ManifestError, DatasetError, FileNotFoundError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    text = json.dumps(record, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
