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
   (:func:`monitor.ops.filter_fit.known_candidates`);
2. fit the classifier of :mod:`monitor.ops.filter_fit` on both sets: within each set the classes
   are balanced, and the reviewed set weighs ``review_weight`` times the shipped one in all (default
   1: a region's reviews count as much as the whole simulated training world);
3. keep the cut (calibrated on the validation families of the original fit: a handful of
   reviewed scenes cannot calibrate it), report the chain's scores on ``DATA/val`` with the
   old and the new filter, and write the new filter, its table (shipped plus reviewed
   candidates, so that the next refit builds on this one) and the manifest entry beside the
   manifest. A second refit with the same scenes (the dataset's SHA-256, as
   :mod:`models.lineage` computes it) is refused: their candidates are in the table already.

    python -m monitor.ops.filter_refit --manifest tuned/manifest.json --data data/reviews

Run it on the fine-tuned manifest (``python -m models finetune``, which copies the parent's
filter): its candidates are then the new ensemble's. scikit-learn and skl2onnx are needed (the
``fit`` extra). Deterministic: fixed random state, one thread.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.lineage import dataset_sha256
from models.manifest import ManifestError, read_manifest, sha256_file, write_manifest
from monitor.config import ModelSettings
from monitor.ops.detect_stack import default_rules
from monitor.ops.filter_fit import (
    CANDIDATES_FILE,
    FILTER_FILE,
    Candidates,
    collect,
    fit_classifier,
    read_candidates,
    write_candidates,
    write_onnx,
)

__all__ = ["main", "refit_filter", "review_weights"]

log = logging.getLogger(__name__)


def review_weights(shipped: np.ndarray, reviewed: np.ndarray, review_weight: float) -> np.ndarray:
    """Sample weights of the shipped candidates' classes ``shipped`` followed by the reviewed
    ones': classes balanced within each set, the reviewed set's total ``review_weight`` times
    the shipped set's (the reviewed set alone, balanced, where nothing was shipped)."""
    from sklearn.utils.class_weight import compute_sample_weight

    if not review_weight > 0:
        raise ValueError(f"review_weight must be positive, got {review_weight}")
    if not len(reviewed):
        raise ValueError("no reviewed candidates to refit on")
    mine = compute_sample_weight("balanced", reviewed)
    if not len(shipped):
        return np.asarray(mine, np.float64)
    theirs = compute_sample_weight("balanced", shipped)
    mine = mine * (review_weight * theirs.sum() / mine.sum())
    return np.concatenate([theirs, mine]).astype(np.float64)


def _val_record(val: Candidates, before: np.ndarray, clf: Any, cut: float) -> dict[str, Any]:
    """The chain's scores on the reviewed validation scenes without a filter, with the old one
    (scores ``before``) and with the refitted ``clf``, all at ``cut``."""
    return {
        "without_filter": val.summary(),
        "old_filter": val.summary(before, cut),
        "new_filter": val.summary(clf.predict_proba(val.features)[:, 1], cut),
    }


def refit_filter(manifest_path: Path, data: Path, *, review_weight: float = 1.0) -> dict[str, Any]:
    """Refit the object filter of ``manifest_path`` with the reviewed scenes of ``data`` (see
    the module) and rewrite the manifest; returns the refit record (also in the manifest's
    ``object_filter.fit.refits``)."""
    from models.ensemble import Ensemble

    manifest_path, data = Path(manifest_path), Path(data)
    manifest = read_manifest(manifest_path)
    entry = manifest.object_filter
    if entry is None:
        raise ManifestError(
            f"{manifest_path} has no object filter to refit; fit one with "
            "python -m monitor.ops.filter_fit"
        )
    if not (data / "train").is_dir():
        raise FileNotFoundError(f"{data / 'train'}: no reviewed training scenes")
    digest, _ = dataset_sha256(data)
    done = [r for r in entry.fit.get("refits", []) if r.get("dataset_sha256") == digest]
    if done:
        raise ValueError(
            f"{manifest_path}: its object filter was already refitted with these reviewed scenes "
            f"({data}, dataset SHA-256 {digest[:12]}...); their candidates are in its table, a "
            "second refit would count them twice"
        )
    base = manifest_path.parent
    shipped_x, shipped_y = read_candidates(base, entry)
    if not len(shipped_y):
        log.warning("%s: the filter ships no candidates; refitting on the reviews alone", base)
    ensemble = Ensemble.load(manifest_path, engine="onnxruntime")
    old = ensemble.object_filter
    assert old is not None
    policy = ModelSettings(manifest=manifest_path, engine="onnxruntime", device="cpu")
    rules = default_rules()
    train = collect([data / "train"], ensemble, policy, rules)
    val = collect([data / "val"], ensemble, policy, rules) if (data / "val").is_dir() else None
    rx, ry = train.features, train.positive
    log.info(
        "reviewed candidates: %d positive, %d negative, %d of unknown class left out",
        int(ry.sum()), int((~ry).sum()), train.unknown,
    )  # fmt: skip
    x = np.concatenate([shipped_x, rx]).astype(np.float32)
    y = np.concatenate([shipped_y, ry]).astype(bool)
    clf = fit_classifier(x, y, review_weights(shipped_y, ry, review_weight))
    check = val.features if val is not None and len(val.features) else rx
    record: dict[str, Any] = {
        "data": str(data),
        "dataset_sha256": digest,
        "parent_filter_sha256": entry.sha256,
        "shipped_candidates": len(shipped_y),
        "reviewed_candidates": len(ry),
        "reviewed_positive": int(ry.sum()),
        "unknown_left_out": train.unknown,
        "review_weight": review_weight,
        "cut": entry.cut,
    }
    if val is not None and len(val.features):
        record["val"] = _val_record(val, old.score(val.features), clf, entry.cut)
    out = base / FILTER_FILE
    record["onnx_max_abs_difference"] = write_onnx(clf, x, check, out)
    table_sha = write_candidates(x, y, base / CANDIDATES_FILE)
    fit = {**entry.fit, "refits": [*entry.fit.get("refits", []), record]}
    manifest.object_filter = entry.model_copy(
        update={
            "file": FILTER_FILE,
            "sha256": sha256_file(out),
            "candidates": CANDIDATES_FILE,
            "candidates_sha256": table_sha,
            "fit": fit,
        }
    )
    write_manifest(manifest_path, manifest)
    Ensemble.load(manifest_path, engine="onnxruntime")  # the new manifest loads
    return record


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.ops.filter_refit",
        description="refit an ensemble's object filter with the candidates of reviewed scenes",
    )
    p.add_argument("--manifest", type=Path, required=True, help="rewritten in place")
    p.add_argument(
        "--data", type=Path, required=True, help="dataset from-reviews folder (train/, val/)"
    )
    p.add_argument(
        "--review-weight",
        type=float,
        default=1.0,
        help="the reviewed candidates' total weight, times the shipped ones' (default 1)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    record = refit_filter(args.manifest, args.data, review_weight=args.review_weight)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
