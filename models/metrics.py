"""Segmentation scores: the confusion-matrix metrics of Ganerød et al. (Table 6: precision,
recall, F1) plus IoU, the Matthews correlation coefficient and the frequency bias; threshold
calibration; the object-level detection rate by landslide size; and the performance diagram
of Roebber (2009).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from models.datasets import LAYOUT_PIXEL_AREA_M2

__all__ = [
    "SIZE_CLASSES_M2",
    "THRESHOLDS",
    "Confusion",
    "best_threshold",
    "confusion",
    "counts_by_threshold",
    "f1_by_threshold",
    "f1_from_counts",
    "false_objects",
    "merge_object_detection",
    "object_detection",
    "paired_count_difference",
    "paired_f1_difference",
    "performance_diagram",
]

# Object size classes (m²) for the detection rate: lower bounds, the last one open-ended.
SIZE_CLASSES_M2: tuple[float, ...] = (0.0, 1_000.0, 10_000.0, 100_000.0)
# Candidate thresholds of the calibration: 0.05, 0.06, ..., 0.95.
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of a binary prediction against the truth."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    @staticmethod
    def _ratio(num: float, den: float) -> float:
        return num / den if den else math.nan

    @property
    def precision(self) -> float:  # TP / (TP + FP), Table 6
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:  # TP / (TP + FN), Table 6
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:  # 2TP / (2TP + FP + FN), Table 6; 0 when nothing is predicted or true
        den = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / den if den else 0.0

    @property
    def iou(self) -> float:  # TP / (TP + FP + FN), the critical success index of Roebber (2009)
        return self._ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def mcc(self) -> float:
        tp, fp, fn, tn = (float(v) for v in (self.tp, self.fp, self.fn, self.tn))
        den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return (tp * tn - fp * fn) / den if den else 0.0

    @property
    def bias(self) -> float:  # frequency bias (TP + FP) / (TP + FN), Roebber (2009)
        return self._ratio(self.tp + self.fp, self.tp + self.fn)

    def scores(self) -> dict[str, float]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "mcc": self.mcc,
            "bias": self.bias,
        }

    def to_dict(self) -> dict[str, float]:
        return {**asdict(self), **self.scores()}


def confusion(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Confusion:
    """Counts over the pixels where ``valid`` (default: everywhere)."""
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    if valid is not None:
        v = np.asarray(valid, bool)
        p, t = p[v], t[v]
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return Confusion(tp, fp, fn, int(p.size - tp - fp - fn))


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """:attr:`Confusion.f1` over arrays of counts."""
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)


def paired_f1_difference(
    a: Sequence[Confusion],
    b: Sequence[Confusion],
    *,
    groups: Sequence[str] | None = None,
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float | int]:
    """How clearly model ``a`` beats model ``b`` on the same scenes (``a[i]`` and ``b[i]`` are
    scored on scene ``i``): the difference of their pooled F1, its ``level`` percentile interval
    under a paired cluster bootstrap, and the number of scenes where ``a`` has the higher F1.

    The bootstrap resamples whole ``groups`` (``groups[i]`` is scene ``i``'s; the same groups
    are drawn for both models): pixels of one scene are not independent, nor are the scenes of
    one region, whose views of a storm share its landslides (:mod:`models.scene_groups`).
    Resampling such scenes one by one counts one landslide as several pieces of evidence and
    narrows the interval. Without ``groups`` every scene is its own group. Seeded, so a report
    is reproducible; ``groups`` in the result is the number of groups resampled. With fewer
    than two groups there is no interval (``low`` and ``high`` NaN; the difference stands):
    every resample of one group is that group again, a point that reads as certainty."""
    _check_paired(a, b, groups, level)
    # a scene with no known pixel (all ignored, or NaN) scores nothing: resampled, it only
    # thinned the informative scenes and counted as a scene of evidence
    seen = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if _pixels(x) + _pixels(y)]
    empty = len(a) - len(seen)
    if not seen:  # a setting no scene could score (all cloud, all unknown): no evidence
        nan = float("nan")
        return {"difference": nan, "low": nan, "high": nan, "level": level,
                "resamples": resamples, "wins": 0, "scenes": 0, "groups": 0,
                "scenes_without_known_pixels": empty}  # fmt: skip
    a, b = [a[i] for i in seen], [b[i] for i in seen]
    counts = np.array([[[c.tp, c.fp, c.fn] for c in pair] for pair in zip(a, b, strict=True)])
    by_group = _group_sums(counts.astype(np.float64), _of(groups, seen))  # (groups, 2, 3)
    drawn = _draw(by_group, resamples, seed)  # (resamples, 2, 3)
    f1 = f1_from_counts(drawn[..., 0], drawn[..., 1], drawn[..., 2])
    low, high = _percentiles(f1[:, 0] - f1[:, 1], level, len(by_group))
    pooled_a, pooled_b = sum(a, Confusion()), sum(b, Confusion())
    return {
        "difference": pooled_a.f1 - pooled_b.f1,
        "low": low,
        "high": high,
        "level": level,
        "resamples": resamples,
        "wins": sum(x.f1 > y.f1 for x, y in zip(a, b, strict=True)),
        "scenes": len(a),
        "groups": len(by_group),
        "scenes_without_known_pixels": empty,
    }


def _pixels(c: Confusion) -> int:
    return c.tp + c.fp + c.fn + c.tn


def paired_count_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    groups: Sequence[str] | None = None,
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, float | int]:
    """The paired cluster bootstrap of :func:`paired_f1_difference` for a count per scene
    (false objects, say): the difference of the totals (``a`` minus ``b``), its ``level``
    percentile interval over resampled sets of ``groups`` (NaN bounds with fewer than two:
    no interval), and the scenes where ``a`` counts fewer."""
    _check_paired(a, b, groups, level)
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    by_group = _group_sums(diff, groups)
    low, high = _percentiles(_draw(by_group, resamples, seed), level, len(by_group))
    return {
        "difference": float(diff.sum()),
        "low": low,
        "high": high,
        "level": level,
        "resamples": resamples,
        "fewer": int((diff < 0).sum()),
        "scenes": len(a),
        "groups": len(by_group),
    }


def _check_paired(
    a: Sequence[object], b: Sequence[object], groups: Sequence[str] | None, level: float
) -> None:
    if len(a) != len(b) or not a:
        raise ValueError(f"need the same, non-zero number of scenes; got {len(a)} and {len(b)}")
    if groups is not None and len(groups) != len(a):
        raise ValueError(f"groups: {len(groups)} given for {len(a)} scenes, need one per scene")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")


def _of(groups: Sequence[str] | None, scenes: Iterable[int]) -> list[str] | None:
    """The groups of ``scenes`` (indices), or None (each scene its own group)."""
    return None if groups is None else [groups[i] for i in scenes]


def _group_sums(values: np.ndarray, groups: Sequence[str] | None) -> np.ndarray:
    """``values`` (one row per scene) summed per group, the groups in the order they first
    appear; without ``groups``, ``values`` as they are (each scene its own group)."""
    if groups is None:
        return values
    index: dict[str, int] = {}
    rows = np.array([index.setdefault(g, len(index)) for g in groups])
    sums = np.zeros((len(index), *values.shape[1:]))
    np.add.at(sums, rows, values)
    return sums


def _draw(by_group: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` totals of as many groups as there are, drawn with replacement."""
    n = len(by_group)
    picks = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    return np.asarray(by_group[picks].sum(axis=1))


def _percentiles(values: np.ndarray, level: float, groups: int) -> tuple[float, float]:
    """The ``level`` percentile interval of ``values`` (one per resample of ``groups``
    groups); NaN bounds, no interval, with fewer than two: one group drawn again and again is
    always itself, a zero-width interval that reads as certainty."""
    if groups < 2:
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def false_objects(pred: np.ndarray, truth: np.ndarray, known: np.ndarray | None = None) -> int:
    """Predicted objects (8-connected components of ``pred`` on the ``known`` pixels) that touch
    no true landslide pixel: the false alarms an operator would have to dismiss."""
    p = np.asarray(pred, bool)
    if known is not None:
        p = p & np.asarray(known, bool)
    labels, n = ndimage.label(p, structure=np.ones((3, 3)))
    if not n:
        return 0
    hits = ndimage.maximum(np.asarray(truth, bool), labels, np.arange(1, n + 1)) > 0
    return int(n - np.count_nonzero(hits))


def best_threshold(
    probabilities: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: np.ndarray | None = None,
) -> tuple[float, float]:
    """The threshold maximising the pooled F1 over scenes, and that F1. NaN pixels are ignored.

    A probability ``>= t`` is a detection; default candidates :data:`THRESHOLDS`."""
    thresholds, f1 = f1_by_threshold(probabilities, truths, thresholds)
    i = int(np.argmax(f1))
    return float(thresholds[i]), float(f1[i])


def f1_by_threshold(
    probabilities: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    thresholds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate thresholds (default :data:`THRESHOLDS`) and the pooled F1 over scenes at
    each (a probability ``>= t`` is a detection; NaN pixels are ignored)."""
    thresholds = np.asarray(THRESHOLDS if thresholds is None else thresholds, dtype=np.float64)
    counts = np.zeros((thresholds.size, 3))
    for prob, truth in zip(probabilities, truths, strict=True):
        counts += counts_by_threshold(prob, truth, thresholds)
    return thresholds, f1_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])


def counts_by_threshold(
    prob: np.ndarray, truth: np.ndarray, thresholds: np.ndarray = THRESHOLDS
) -> np.ndarray:
    """TP, FP and FN (``(thresholds, 3)``) of ``prob >= t`` against ``truth`` for every ``t``
    of ``thresholds``; NaN pixels are ignored."""
    valid = np.isfinite(prob)
    p, t = np.asarray(prob)[valid].astype(np.float64), np.asarray(truth, bool)[valid]
    pos_sorted, neg_sorted = np.sort(p[t]), np.sort(p[~t])
    tp = pos_sorted.size - np.searchsorted(pos_sorted, thresholds, side="left")
    fp = neg_sorted.size - np.searchsorted(neg_sorted, thresholds, side="left")
    return np.stack([tp, fp, pos_sorted.size - tp], axis=-1).astype(np.float64)


def object_detection(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    pixel_area_m2: float = LAYOUT_PIXEL_AREA_M2,
    size_classes_m2: Sequence[float] = SIZE_CLASSES_M2,
) -> list[dict[str, float]]:
    """Object-level detection rate by size class: a true landslide (8-connected component of
    ``truth``) counts as detected when at least one of its pixels is predicted."""
    labels, n = ndimage.label(np.asarray(truth, bool), structure=np.ones((3, 3)))
    out = [
        {"min_m2": lo, "max_m2": hi, "objects": 0, "detected": 0, "rate": math.nan}
        for lo, hi in zip(size_classes_m2, [*size_classes_m2[1:], math.inf], strict=True)
    ]
    if n:
        idx = np.arange(1, n + 1)
        sizes = ndimage.sum_labels(np.ones_like(labels), labels, idx) * pixel_area_m2
        hits = ndimage.maximum(np.asarray(pred, bool), labels, idx) > 0
        for row in out:
            sel = (sizes >= row["min_m2"]) & (sizes < row["max_m2"])
            row["objects"] = int(sel.sum())
            row["detected"] = int((hits & sel).sum())
    for row in out:
        row["rate"] = row["detected"] / row["objects"] if row["objects"] else math.nan
    return out


def merge_object_detection(tables: Sequence[list[dict[str, float]]]) -> list[dict[str, float]]:
    """Sum per-scene :func:`object_detection` tables (same size classes)."""
    merged = [dict(row) for row in tables[0]]
    for table in tables[1:]:
        for row, other in zip(merged, table, strict=True):
            row["objects"] += other["objects"]
            row["detected"] += other["detected"]
    for row in merged:
        row["rate"] = row["detected"] / row["objects"] if row["objects"] else math.nan
    return merged


def performance_diagram(
    points: Mapping[str, Confusion], path: Path, title: str = "Performance diagram"
) -> Path:
    """Roebber (2009): success ratio (precision) on x, probability of detection (recall) on y,
    F1 isolines (solid; equivalent to his critical-success-index curves, F1 = 2 CSI/(1+CSI))
    and frequency-bias rays (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 6.5), dpi=110)
    grid = np.linspace(0.001, 1, 300)
    sr, pod = np.meshgrid(grid, grid)
    f1 = 2 * sr * pod / (sr + pod)
    cs = ax.contour(sr, pod, f1, levels=np.arange(0.1, 1.0, 0.1), colors="0.6", linewidths=0.8)
    ax.clabel(cs, fmt="F1 %.1f", fontsize=7)
    for b in (0.25, 0.5, 0.8, 1.0, 1.25, 1.5, 2.0, 4.0):
        x = np.linspace(0, 1, 50)
        ax.plot(x, b * x, ls="--", color="0.75", lw=0.7)
        lx, ly = (1.0, b) if b <= 1 else (1 / b, 1.0)
        ax.annotate(f"{b:g}", (lx, ly), fontsize=7, color="0.45", ha="left", va="bottom")
    markers = "osD^v<>Ppx*h"
    for i, (name, c) in enumerate(points.items()):
        if math.isnan(c.precision) or math.isnan(c.recall):
            continue
        ax.plot(
            c.precision, c.recall, markers[i % len(markers)], ms=8, label=f"{name} ({c.f1:.2f})"
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("success ratio (precision)")
    ax.set_ylabel("probability of detection (recall)")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=7, title="F1 in brackets", title_fontsize=7)
    ax.set_aspect("equal")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
