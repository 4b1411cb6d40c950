"""Refit an ensemble's object filter on an operator's reviews (docs/models.md, "Improve the model
from your reviews").

A dismissed candidate is exactly the look-alike the filter should learn to suppress, and a
confirmed one a landslide it must keep; but a region's reviews are a few dozen candidates, too
few to fit a classifier on alone. The refit therefore adds them to the candidates the filter was
fitted on (the table shipped with it, ``object_filter.candidates`` of the manifest):

1. run the chain (no filter) with the manifest's ensemble on the reviewed scenes of
   ``DATA/train`` (``dataset from-reviews``): a candidate covering a confirmed landslide is
   positive, one on background or a dismissed look-alike negative, and one mostly on pixels of
   unknown class (unreviewed candidates and their margins, label 255) is left out
   (:func:`monitor.ops.filter_fit.known_candidates`). Beside them, the reviewed detections
   themselves, with the features the daily runs scored them on (kept in the inventory, written
   by ``dataset from-reviews`` to ``DATA/train/reviewed_candidates.npz``, :func:`read_reviewed`):
   rerunning a scene gives the candidates of its stack in the Ganerød et al. layout, which
   cannot show a radar-only drop detection (monitoring composites only) and gives a cloudy
   run's radar-only detections optical features; the logged rows are what the operator judged
   and what the filter will meet. Both sets form the reviewed set;
2. fit the classifier of :mod:`monitor.ops.filter_fit` on both sets: within each set the classes
   are balanced, and the reviewed set weighs ``review_weight`` times the shipped one in all (default
   1: a region's reviews count as much as the whole simulated training world);
3. calibrate the cut again, for the new classifier, on the reviewed held-out scenes of
   ``DATA/val``: the highest cut whose chain finds as many of the reviewed landslides the
   unfiltered chain finds there as the parent filter at its cut does (of all sizes, and of 1 ha
   or more; counts, not the same landslides), and never fewer than all but
   :data:`MAX_MISS_BOUND` of them where they number :data:`MIN_CUT_LANDSLIDES` or more, where
   the bound below holds (of fewer, a handful of 1 ha or more for one, all but a tenth may be
   every one, and the cut the lowest of their scores). The parent's cut was chosen for the
   parent's scores; a refitted classifier scores on its own scale, so the old number means
   nothing for it (as ``python -m models finetune`` chooses K and the threshold again on the
   same scenes). The
   refit may find no fewer reviewed landslides than the parent: the original fit's tolerance (a
   loss of 0.02 of the recall of landslides >= 1 ha, 0.04 of all, on validation families of
   hundreds of landslides) let 43 reviewed landslides move the cut from 0.37 to 0.54 past one of
   them, and docs/models.md has what that cost in unseen regions. Until 2026-12-04 it kept every
   one the chain finds, the parent's misses too: that cut is their lowest score, which falls as
   the reviews grow (0.03 with eight review regions, where the parent missed one of 42, and the
   held-out false alarms doubled; docs/models.md). With fewer than :data:`MIN_CUT_LANDSLIDES`
   reviewed landslides in ``DATA/val`` for the unfiltered chain to find (with all n of them
   kept, the share of landslides elsewhere the cut may miss is bounded at 95 % by 1 - 0.05 ** (1
   / n), at most :data:`MAX_MISS_BOUND` only from that many on), or with ``keep_cut``, the
   parent's cut stays: with a few reviewed scenes in ``DATA/val`` it usually does, and
   ``monitor.ops.operating_point`` on labelled scenes of a left-out region sets the cut instead.
   The chain's scores on ``DATA/val`` that the record keeps are then in-sample: those scenes
   chose the cut;
4. report the chain's scores on ``DATA/val`` without a filter, with the old filter at its cut
   and with the new one at the new cut (and, from ``DATA/val/reviewed_candidates.npz``, how
   many held-out confirmed and dismissed detections each filter keeps, ``val_logged``), and
   write the new filter, its table and the manifest entry beside the manifest (the two files
   under names of their own, ``<name>-<12 hex digits of their SHA-256>``, the manifest last,
   then the files only the old entry named removed: a refit killed part-way leaves a manifest
   that loads, with the old filter). The table
   holds the shipped candidates and the reviewed ones, each reviewed row keyed by its
   inventory (12 hex digits of the path ``dataset from-reviews`` recorded in ``dataset.json``)
   and its scene (``scene:INVENTORY/SCENE``) or landslide (``landslide:INVENTORY/UID``), with
   its weight (:class:`~monitor.ops.filter_fit.CandidateTable`), so that the next refit builds
   on this one: its reviewed set is this one's rows and its own. A row of this one is replaced
   where the next dataset comes from the same inventory (``from-reviews`` writes every review
   of the inventory: a changed decision counts as the new one, an undone one no longer
   counts) or holds the same scene or landslide again in any split (a scene dealt to ``val/``
   this time is not also trained on), and kept otherwise (reviews of another inventory are not
   forgotten; before 2026-12-03 they joined the shipped rows, where the simulated world's
   thousands outweighed them). A second refit with the same scenes (the
   dataset's SHA-256, as :mod:`models.lineage` computes it) and the same reviews
   (:attr:`Reviewed.reviews_sha256`) is refused: it would give the same filter.

    python -m monitor.ops.filter_refit --manifest refitted/manifest.json --data data/reviews

Run it on a copy of the manifest whose candidates were reviewed, before fine-tuning: ``python -m
models finetune`` then copies the refitted filter and its cut to the new manifest. A manifest
whose members were fine-tuned on the same scenes is refused (its ``training.lineage`` names
their dataset by its SHA-256, so a later dataset that adds scenes to those is not caught): on
those scenes its candidates are in-sample, the look-alikes learnt away and the landslides learnt
in, and a cut calibrated again for them on two reviewed scenes swung from 0.09 to 0.66 between
draws of regions (docs/measurements/review_loop.md, "How the workflow's rules came to be").
scikit-learn and skl2onnx are needed (the ``fit`` extra). Deterministic: fixed random state,
one thread.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic import write_atomically
from models.chain_metrics import chain_scores
from models.datasets import (
    DATASET_RECORD_FILE,
    INPUT_SUFFIX,
    REVIEWED_CANDIDATES_FILE,
    scene_id_of,
)
from models.lineage import dataset_files, dataset_sha256
from models.manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    manifest_arg,
    read_manifest,
    sha256_file,
    write_manifest,
)
from models.object_filter import ObjectFilterModel
from monitor.labels.rasterise import SPLIT_NAMES
from monitor.ops.filter_fit import (
    CANDIDATES_FILE,
    FILTER_FILE,
    RUNS_ENGINE,
    Candidates,
    chain_inputs,
    collect,
    fit_classifier,
    highest_cut,
    read_candidates,
    require_fit_extra,
    write_candidates,
    write_onnx,
)
from monitor.pipeline.object_filter import FEATURES, features_id

__all__ = [
    "CONFIDENCE",
    "MAX_MISS_BOUND",
    "MIN_CUT_LANDSLIDES",
    "Reviewed",
    "main",
    "read_reviewed",
    "refit_filter",
    "review_weights",
    "write_reviewed",
]

log = logging.getLogger(__name__)

# The share of landslides elsewhere that a cut calibrated again may miss, bounded at 95 %
# confidence (module, step 3). With all n reviewed landslides of DATA/val kept, that share is
# below 1 - 0.05 ** (1 / n), about 3/n (the "rule of three" of Hanley and Lippman-Hand, JAMA
# 1983; it holds where the unseen regions' landslides score like the reviewed ones). The cut
# is calibrated again only where n makes the bound at most this: 0.10, the parent's cut being
# set for a loss of 0.02-0.04 of the recall; a refit may cost some recall for what the reviews
# teach, not a quarter of it. With the bound 0.26 (n >= 10), cuts set on 10-16 reviewed
# landslides lost up to 18 of 44 landslides in unseen regions (docs/models.md). Where the
# parent misses some of the n (the cut then finds as many as it does), the bound is the larger
# one for that many misses; MAX_MISS_BOUND is also the most of the n a refit may miss.
MAX_MISS_BOUND = 0.10
CONFIDENCE = 0.95
# the least n for which the bound is at most MAX_MISS_BOUND
MIN_CUT_LANDSLIDES = math.ceil(math.log(1.0 - CONFIDENCE) / math.log(1.0 - MAX_MISS_BOUND))


def _balanced(y: np.ndarray, base: np.ndarray) -> np.ndarray:
    """``base`` scaled per class so that each class of ``y`` weighs the same and the total
    stays ``base``'s (with unit ``base``, scikit-learn's "balanced" sample weights)."""
    base = np.asarray(base, np.float64)
    classes = np.unique(y)
    out = base.copy()
    for c in classes:
        out[y == c] *= base.sum() / (len(classes) * base[y == c].sum())
    return out


def review_weights(
    shipped: np.ndarray,
    reviewed: np.ndarray,
    review_weight: float,
    base: np.ndarray | None = None,
) -> np.ndarray:
    """Sample weights of the shipped candidates' classes ``shipped`` followed by the reviewed
    ones': classes balanced within each set, the reviewed set's total ``review_weight`` times
    the shipped set's (the reviewed set alone, balanced, where nothing was shipped). ``base``:
    the reviewed rows' weights before balancing (1 each by default; a landslide logged on
    several run dates shares one between its rows)."""
    if not review_weight > 0:
        raise ValueError(f"review_weight must be positive, got {review_weight}")
    if not len(reviewed):
        raise ValueError("no reviewed candidates to refit on")
    mine = _balanced(reviewed, np.ones(len(reviewed)) if base is None else base)
    if not len(shipped):
        return mine
    theirs = _balanced(shipped, np.ones(len(shipped)))
    mine = mine * (review_weight * theirs.sum() / mine.sum())
    return np.concatenate([theirs, mine])


def _new_cut(
    val: Candidates | None, scores: np.ndarray, parent_scores: np.ndarray, parent_cut: float
) -> tuple[float, str]:
    """The cut of the refitted filter whose ``scores`` the reviewed validation candidates
    ``val`` have (the parent filter's: ``parent_scores``), and how it was found (see the
    module, step 3)."""
    if val is None:
        return parent_cut, "parent's (no reviewed validation candidates)"
    unfiltered = chain_scores(val.scenes)
    found = unfiltered.found()
    if found < MIN_CUT_LANDSLIDES:
        return parent_cut, (
            f"parent's (the unfiltered chain finds {found} reviewed landslides in val/, fewer "
            f"than {MIN_CUT_LANDSLIDES})"
        )
    parent = chain_scores(val.scenes, [s >= parent_cut for s in val.split(parent_scores)])
    # as many as the parent finds, and never fewer than all but MAX_MISS_BOUND of those the
    # chain finds (a parent that misses many in this region sets no bar for the refit). The
    # floor is held where its bound holds, from MIN_CUT_LANDSLIDES on: of a handful, all but a
    # tenth may be every one (6 of 6 of 1 ha or more), and the cut falls to the lowest of their
    # scores, the extreme the rule is there to avoid (found by re-running the review-loop
    # bench: 0.31 -> 0.17 in a draw whose parent had given up one of six)
    wanted = {
        size: max(
            parent.found(size),
            math.ceil((1.0 - MAX_MISS_BOUND) * unfiltered.found(size))
            if unfiltered.found(size) >= MIN_CUT_LANDSLIDES
            else 0,
        )
        for size in ("all", ">=1 ha")
    }
    best = highest_cut(
        val.scenes,
        val.split(scores),
        lambda kept: all(kept.found(size) >= n for size, n in wanted.items()),
    )
    return best[0] if best is not None else 0.0, (
        f"calibrated on val/: finds {wanted['all']} of the {found} reviewed landslides the chain "
        f"finds there ({wanted['>=1 ha']} of 1 ha or more), as many as the parent filter at its "
        f"cut finds ({parent.found()}), and at least {1.0 - MAX_MISS_BOUND:.0%} of them where "
        f"they number {MIN_CUT_LANDSLIDES} or more"
    )


def refit_filter(
    manifest_path: Path, data: Path, *, review_weight: float = 1.0, keep_cut: bool = False
) -> dict[str, Any]:
    """Refit the object filter of ``manifest_path`` with the reviewed scenes of ``data`` (see
    the module) and rewrite the manifest; returns the refit record (also in the manifest's
    ``object_filter.fit.refits``)."""

    manifest_path, data = Path(manifest_path), Path(data)
    require_fit_extra()  # before the chain runs on every scene, as the checks below
    if manifest_path.resolve() == DEFAULT_MANIFEST:
        raise ValueError(
            f"{manifest_path} is the bundled ensemble, which a refit would rewrite in place (and "
            "an upgrade replace): refit a copy, made with `python -m models copy default "
            "refitted`, and give refitted/manifest.json"
        )
    if not review_weight > 0:  # before the chain runs on every scene, not after
        raise ValueError(f"--review-weight must be positive, got {review_weight}")
    manifest = read_manifest(manifest_path)
    entry = manifest.object_filter
    if entry is None:
        raise ManifestError(
            f"{manifest_path} has no object filter to refit; fit one with "
            "python -m monitor.ops.filter_fit"
        )
    if not data.is_dir():
        raise FileNotFoundError(
            f"{data}: no such folder; write the reviewed scenes with landslide-monitor dataset "
            "from-reviews --out DIR"
        )
    if not (data / "train").is_dir():
        raise FileNotFoundError(f"{data / 'train'}: no reviewed training scenes")
    mine = features_id(manifest.ensemble_id)
    # each split's reviewed detections, read once: train's are learnt from, val's reported on,
    # and every split's landslides replace an earlier refit's rows of them
    tables = {split: read_reviewed(data / split, mine) for split in SPLIT_NAMES}
    logged = tables["train"]
    reviews = logged.reviews_sha256
    # the scenes name the dataset (as for fine-tuning's lineage); where every scene failed to
    # fetch, the reviews of the table of reviewed detections do
    digest = dataset_sha256(data)[0] if dataset_files(data) or reviews is None else reviews
    tuned_on = manifest.training.get("lineage", {}).get("dataset_sha256")
    if tuned_on == digest:
        parent = manifest.training["lineage"].get("parent_manifest", "the parent manifest")
        raise ValueError(
            f"{manifest_path}: its members were fine-tuned on these reviewed scenes ({data}); "
            "their candidates there are in-sample (the look-alikes learnt away, the landslides "
            "learnt in) and teach the filter little. Refit the filter of the ensemble whose "
            f"candidates were reviewed, a copy of {parent}, then fine-tune from that copy: "
            "python -m models finetune keeps its refitted filter and cut"
        )
    done = [
        r
        for r in entry.fit.get("refits", [])
        if r.get("dataset_sha256") == digest and r.get("reviews_sha256", reviews) == reviews
    ]
    if done:
        raise ValueError(
            f"{manifest_path}: its object filter was already refitted with these reviewed scenes "
            f"({data}, dataset SHA-256 {digest[:12]}...) and these reviews; their candidates are "
            "in its table, and a second refit would give the same filter"
        )
    base = manifest_path.parent
    table = read_candidates(base, entry)
    shipped = ~table.reviewed
    shipped_x, shipped_y = table.features[shipped], table.positive[shipped]
    if not len(shipped_y):
        log.warning("%s: the filter ships no candidates; refitting on the reviews alone", base)
    elif entry.fit.get("refits") and not table.reviewed.any():
        log.warning(
            "%s: the filter was refitted before its table kept which rows came from reviews; "
            "those rows count as shipped ones",
            base,
        )
    # the runs' engine: reviewed scenes come in the shapes of their regions, and ONNX Runtime
    # would export a graph per member and shape (chain_inputs)
    ensemble, policy, rules = chain_inputs(manifest_path, engine=RUNS_ENGINE)
    old = ensemble.object_filter
    assert old is not None

    def scenes(split: Path) -> Candidates | None:  # a split folder may hold only its table
        held = any((split / part).is_dir() for part in ("input", "label"))
        return collect([split], ensemble, policy, rules) if held else None

    train = scenes(data / "train") or Candidates()
    val = scenes(data / "val")
    if val is not None and not len(val.features):
        val = None  # val/ without candidates: nothing to calibrate the cut or report on
    # the reviewed set: this dataset's rows, and an earlier refit's unless they came from the
    # same inventory or this dataset holds their scene or landslide again (module, step 4)
    inventory = _inventory_id(data)
    scene_keys = [_key("scene", inventory, _scene_id(s.scene)) for s in train.scenes]
    keys = np.array(
        list(np.repeat(scene_keys, [len(a) for a in train.x]))
        + [_key("landslide", inventory, u) for u in logged.landslide.astype(str)],
        dtype=str,
    )
    held_ids = _held_ids(data, tables.values())
    earlier = table.reviewed
    replaced = earlier & np.array(
        [bool(k) and (_owner(k) == inventory != "" or _ident(k) in held_ids) for k in table.review],
        dtype=bool,
    )
    kept = earlier & ~replaced
    rx = np.concatenate([table.features[kept], train.features, logged.x]).astype(np.float32)
    ry = np.concatenate([table.positive[kept], train.positive, logged.positive]).astype(bool)
    rkeys = np.concatenate([table.review[kept], keys]).astype(str)
    rweight = np.concatenate([table.weight[kept], np.ones(len(train.positive)), logged.weight])
    log.info(
        "reviewed candidates: %d positive, %d negative from the scenes (%d of unknown class left "
        "out), %d positive, %d negative as the runs scored them (%d rows of another ensemble "
        "left out)",
        int(train.positive.sum()), int((~train.positive).sum()), train.unknown,
        int(logged.positive.sum()), int((~logged.positive).sum()), logged.other,
    )  # fmt: skip
    for wanted, kind in ((False, "dismissed look-alike (negative)"), (True, "confirmed landslide")):
        if not (ry == wanted).any():
            log.warning(
                "the reviewed set holds no %s candidate: the refit cannot learn what your "
                "reviews say about them; review more candidates of that kind first",
                kind,
            )
    if earlier.any():
        log.info(
            "earlier refits' reviewed candidates: %d kept, %d replaced by this dataset's",
            int(kept.sum()), int(replaced.sum()),
        )  # fmt: skip
    x = np.concatenate([shipped_x, rx]).astype(np.float32)
    y = np.concatenate([shipped_y, ry]).astype(bool)
    clf = fit_classifier(x, y, review_weights(shipped_y, ry, review_weight, rweight))
    check = val.features if val is not None else rx
    record: dict[str, Any] = {
        "data": str(data),
        "dataset_sha256": digest,
        "parent_filter_sha256": entry.sha256,
        "shipped_candidates": len(shipped_y),
        "reviewed_candidates": len(keys),
        "reviewed_positive": int(train.positive.sum() + logged.positive.sum()),
        "earlier_reviewed_kept": int(kept.sum()),
        "earlier_reviewed_replaced": int(replaced.sum()),
        "logged_candidates": len(logged.positive),
        "logged_positive": int(logged.positive.sum()),
        "logged_other_ensemble": logged.other,
        "logged_sha256": logged.sha256,
        "reviews_sha256": reviews,
        "unknown_left_out": train.unknown,
        "review_weight": review_weight,
        "engine": policy.engine,  # what ran the members over the scenes (chain_inputs)
    }
    new_scores = clf.predict_proba(val.features)[:, 1] if val is not None else np.zeros(0)
    parent_scores = old.score(val.features) if val is not None else np.zeros(0)
    if keep_cut:
        cut, how = entry.cut, "parent's (kept on request)"
    else:
        cut, how = _new_cut(val, new_scores, parent_scores, entry.cut)
    record.update({"cut": cut, "parent_cut": entry.cut, "cut_rule": how})
    log.info("cut %.2f (parent %.2f): %s", cut, entry.cut, how)
    if val is not None:
        record["val"] = {
            "without_filter": val.summary(),
            "old_filter": val.summary(parent_scores, entry.cut),
            "new_filter": val.summary(new_scores, cut),
        }
    held = tables["val"]
    if len(held.positive):  # the held-out reviewed detections as their runs scored them
        vy = held.positive
        record["val_logged"] = {  # rows: one per landslide and run date
            "confirmed": int(vy.sum()),
            "dismissed": int((~vy).sum()),
            "old_filter_kept": _kept(old.score(held.x), entry.cut, vy),
            "new_filter_kept": _kept(clf.predict_proba(held.x)[:, 1], cut, vy),
        }
    worse = _worse_than_parent(record)
    if worse:
        log.warning(
            "the refitted filter at its cut %.2f does worse than its parent on the held-out "
            "reviewed scenes of %s/val: %s. Judge it on labelled scenes of a region the reviews "
            "left out (step 7, monitor.ops.operating_point) before switching; keep the parent "
            "otherwise",
            cut, data, "; ".join(worse),
        )  # fmt: skip
    # the new filter and table under names of their own, the manifest written last: until it
    # is, the files it names are as they were (a refit killed part-way leaves it loading)
    gap: list[float] = []
    filter_file = _write_named_by_content(
        base, FILTER_FILE, lambda out: gap.append(write_onnx(clf, x, check, out))
    )
    record["onnx_max_abs_difference"] = gap[0]
    keys = np.concatenate([table.review[shipped], rkeys])
    weights = np.concatenate([table.weight[shipped], rweight])
    candidates_file = _write_named_by_content(
        base, CANDIDATES_FILE, lambda out: write_candidates(x, y, out, keys, weights)
    )
    fit = {**entry.fit, "refits": [*entry.fit.get("refits", []), record]}
    refitted = entry.model_copy(
        update={
            "file": filter_file,
            "sha256": sha256_file(base / filter_file),
            "candidates": candidates_file,
            "candidates_sha256": sha256_file(base / candidates_file),
            "cut": cut,
            "fit": fit,
        }
    )
    manifest.object_filter = refitted
    write_manifest(manifest_path, manifest)
    # the new manifest reads back and its filter loads, before the files it replaced go (its
    # members are those the chain above loaded and checked: building them again took half of
    # a small refit's time)
    read_manifest(manifest_path)
    ObjectFilterModel.load(base, refitted, manifest.ensemble_id)
    for name in {entry.file, entry.candidates} - {filter_file, candidates_file, None}:
        replaced = base / str(name)
        if replaced.parent == base:  # a plain file name beside the manifest only
            replaced.unlink(missing_ok=True)
    return record


def _write_named_by_content(base: Path, name: str, write: Callable[[Path], object]) -> str:
    """Write a file with ``write`` (given the path to write), whole (:func:`models.atomic.
    write_atomically`), and name it ``<stem>-<12 hex digits of its SHA-256><suffix>`` of ``name``
    in ``base``; returns that name. New content gets a new name, never one the manifest names
    now (and the same name holds the same bytes)."""
    staged = write_atomically(base / f".{name}.new", write)
    digest = sha256_file(staged)[:12]
    named = f"{Path(name).stem}-{digest}{Path(name).suffix}"
    os.replace(staged, base / named)
    return named


def write_reviewed(
    path: Path, x: np.ndarray, positive: np.ndarray, ids: Sequence[str], uids: Sequence[str]
) -> None:
    """Write a split's reviewed detections (:data:`~models.datasets.REVIEWED_CANDIDATES_FILE`):
    per row the features (float32), the review (positive), what computed the features
    (``features_id``) and the landslide's uid (a landslide seen on several run dates has a row
    for each)."""
    part = path.with_name(path.name + ".part")
    with open(part, "wb") as f:
        np.savez_compressed(
            f,
            features=np.asarray(x, np.float32),
            positive=np.asarray(positive, bool),
            features_id=np.asarray(ids, dtype=str),
            landslide=np.asarray(uids, dtype=str),
        )
    part.replace(path)


@dataclass
class Reviewed:
    """A split's reviewed detections as their runs scored them, those the refitted ensemble
    computed: features, positive, each row's weight (1 / the landslide's rows, so that a
    landslide seen on many run dates counts once) and the landslide's uid; ``other``: rows
    another ensemble or feature list computed, left out; the table's SHA-256 and that of its
    reviews (its landslides and their decisions, not the run dates: daily runs that add
    observations keep it, a new review changes it); None without a table."""

    x: np.ndarray
    positive: np.ndarray
    weight: np.ndarray
    landslide: np.ndarray
    other: int = 0
    sha256: str | None = None
    reviews_sha256: str | None = None
    every_landslide: frozenset[str] = frozenset()  # the uids of all rows, any ensemble's


def read_reviewed(split: Path, features_id: str) -> Reviewed:
    """A split folder's reviewed detections (``dataset from-reviews``,
    :data:`~models.datasets.REVIEWED_CANDIDATES_FILE`) whose features ``features_id`` computed
    (:func:`monitor.pipeline.object_filter.features_id` of the manifest refitted); empty where
    the folder has none (a dataset written before they were kept, or filter-less runs)."""
    path = Path(split) / REVIEWED_CANDIDATES_FILE
    if not path.exists():
        empty = np.zeros((0, len(FEATURES)), np.float32)
        return Reviewed(empty, np.zeros(0, bool), np.zeros(0), np.zeros(0, dtype=str))
    with np.load(path) as table:
        missing = {"features", "positive", "features_id", "landslide"} - set(table.files)
        if missing:
            raise ValueError(
                f"{path}: no {', '.join(sorted(missing))} (written by an earlier version); write "
                "the dataset again (landslide-monitor dataset from-reviews)"
            )
        x, y = table["features"].astype(np.float32), table["positive"].astype(bool)
        ids, uids = table["features_id"].astype(str), table["landslide"].astype(str)
    if x.ndim != 2 or x.shape[1] != len(FEATURES) or not len(x) == len(y) == len(ids) == len(uids):
        raise ValueError(
            f"{path}: {x.shape} features for {len(y)} rows, not {len(FEATURES)} per row; write "
            "the dataset again (landslide-monitor dataset from-reviews)"
        )
    mine = ids == features_id
    _, inverse, counts = np.unique(uids[mine], return_inverse=True, return_counts=True)
    pairs = sorted(set(zip(uids.tolist(), y.tolist(), strict=True)))
    reviews = hashlib.sha256(json.dumps(pairs).encode()).hexdigest()
    weight = 1.0 / counts[inverse]
    return Reviewed(
        x[mine],
        y[mine],
        weight,
        uids[mine],
        int((~mine).sum()),
        sha256_file(path),
        reviews,
        frozenset(uids.tolist()),
    )


def _scene_id(scene: str) -> str:
    """A scene's id, not its split (``SPLIT/ID`` as :func:`~monitor.ops.filter_fit.collect`
    names it): a later dataset may deal it anew."""
    return scene.rsplit("/", 1)[-1]


def _inventory_id(data: Path) -> str:
    """What names the inventory a reviews dataset was built from (12 hex digits of its path as
    ``dataset from-reviews`` records it in ``dataset.json``); "" where it records none."""
    try:
        recorded = json.loads((data / DATASET_RECORD_FILE).read_text()).get("inventory")
    except (OSError, ValueError):
        return ""
    return hashlib.sha256(recorded.encode()).hexdigest()[:12] if isinstance(recorded, str) else ""


def _key(kind: str, inventory: str, ident: str) -> str:
    """A reviewed row's key in the candidates table: ``KIND:INVENTORY/ID``, or ``KIND:ID`` for a
    dataset that records no inventory."""
    return f"{kind}:{inventory}/{ident}" if inventory else f"{kind}:{ident}"


def _owner(key: str) -> str:
    """The inventory part of a key ("" for keys without one)."""
    body = key.split(":", 1)[-1]
    return body.split("/", 1)[0] if "/" in body else ""


def _ident(key: str) -> str:
    """A key without its inventory: ``KIND:ID``."""
    kind, body = key.split(":", 1)
    return f"{kind}:{body.rsplit('/', 1)[-1]}"


def _held_ids(data: Path, tables: Iterable[Reviewed]) -> set[str]:
    """``KIND:ID`` of every scene and reviewed landslide that the dataset ``data`` holds, in any
    split (``tables``: its splits' reviewed detections): an earlier refit's rows of these are
    replaced, whatever inventory path they were recorded with (module, step 4)."""
    held = {f"landslide:{u}" for table in tables for u in table.every_landslide}
    for split in SPLIT_NAMES:
        inputs = (data / split / "input").glob(f"*{INPUT_SUFFIX}")
        held.update(f"scene:{scene_id_of(p)}" for p in inputs)
    return held


def _worse_than_parent(record: dict[str, Any]) -> list[str]:
    """Where the refit's record shows it worse than the parent filter on ``val/``: more false
    objects at no better recall (the chain on its scenes), or more dismissed detections kept at
    no more confirmed ones (as their runs scored them). Found by a walkthrough: a refit that
    kept the parent's cut (7 reviewed landslides in val/) drew half as many false objects again
    there, and said so only in the JSON record."""
    found = []
    val = record.get("val")
    if val:
        old, new = val["old_filter"], val["new_filter"]
        recall_old, recall_new = old["recall"].get("all"), new["recall"].get("all")
        if new["false_per_100km2"] > old["false_per_100km2"] and (recall_new or 0.0) <= (
            recall_old or 0.0
        ):
            at = (
                "(val/ holds no landslide)"
                if recall_new is None
                else f"at a recall of {recall_new:.2f} (parent {recall_old or 0.0:.2f})"
            )
            found.append(
                f"false objects {old['false_per_100km2']:.1f} -> {new['false_per_100km2']:.1f} "
                f"per 100 km² {at}"
            )
    logged = record.get("val_logged")
    if logged:
        old_kept, new_kept = logged["old_filter_kept"], logged["new_filter_kept"]
        if (
            new_kept["dismissed"] > old_kept["dismissed"]
            and new_kept["confirmed"] <= old_kept["confirmed"]
        ):
            found.append(
                f"dismissed detections kept {old_kept['dismissed']} -> {new_kept['dismissed']} "
                f"of {logged['dismissed']}, confirmed {old_kept['confirmed']} -> "
                f"{new_kept['confirmed']} of {logged['confirmed']}"
            )
    return found


def _kept(scores: np.ndarray, cut: float, positive: np.ndarray) -> dict[str, int]:
    """How many confirmed and dismissed detections a filter at ``cut`` keeps."""
    kept = scores >= cut
    return {"confirmed": int((kept & positive).sum()), "dismissed": int((kept & ~positive).sum())}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.ops.filter_refit",
        description="refit an ensemble's object filter with the candidates of reviewed scenes",
    )
    p.add_argument(
        "--manifest",
        type=manifest_arg,
        required=True,
        help="rewritten in place: a copy (`python -m models copy default DIR`), never the bundled "
        "ensemble",
    )
    p.add_argument(
        "--data", type=Path, required=True, help="dataset from-reviews folder (train/, val/)"
    )
    p.add_argument(
        "--review-weight",
        type=float,
        default=1.0,
        help="the reviewed candidates' total weight, times the shipped ones' (default 1)",
    )
    p.add_argument(
        "--keep-cut",
        action="store_true",
        help="keep the parent's cut instead of calibrating it again on DATA/val (it is kept "
        f"anyway where the unfiltered chain finds fewer than {MIN_CUT_LANDSLIDES} reviewed "
        "landslides there)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        record = refit_filter(
            args.manifest, args.data, review_weight=args.review_weight, keep_cut=args.keep_cut
        )
    except (ValueError, ManifestError, FileNotFoundError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
