"""Per-object sums, counts, maxima and lower medians over a labelled raster, reading only the
labelled pixels.

``scipy.ndimage.sum_labels`` (and ``mean``, ``maximum``) pass over the whole raster at every
call: a bincount of every pixel, background included, the minimum and maximum of the labels,
and for ``maximum`` an argsort of the whole raster. A region's candidates cover a fraction of a
percent of it, and the stages ask a dozen such sums of the same objects (vectorisation, the
dating, the radar tests): :class:`ObjectPixels` gathers the objects' pixels once, in raster
order, and each statistic reads those. The sums are exactly ``sum_labels``': ``np.bincount``
adds each object's pixels in raster order in both, the background it skips only ever added to
bin 0, and a pixel left out by a mask adds 0.0, which leaves a sum begun at 0.0 as it was (it
is never -0.0). ``tests/run/test_object_pixels.py`` compares them bit for bit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ObjectPixels"]


class ObjectPixels:
    """The pixels of the objects ``index`` (labels 1, 2, ...) of ``labels`` (non-negative
    integers, 0 the background), gathered once for many per-object statistics. Each returns
    one value per item of ``index`` (0 for a label that has no pixel, as ``scipy.ndimage``)."""

    def __init__(self, labels: np.ndarray, index: np.ndarray) -> None:
        flat = np.asarray(labels).ravel()
        self.index = np.asarray(index)
        if self.index.size and int(self.index.min()) < 1:
            raise ValueError("index: object labels start at 1 (0 is the background)")
        self.positions = np.flatnonzero(flat)
        self.labels = flat[self.positions]
        if self.labels.size and int(self.labels.min()) < 0:
            raise ValueError("labels: negative labels (0 is the background, objects 1, 2, ...)")
        top = max(int(self.labels.max(initial=0)), int(self.index.max(initial=0)))
        self._bins = top + 1

    def _gather(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values).ravel()[self.positions]

    def sum(self, values: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
        """Per object, the sum of ``values`` (same shape as the labels) over its pixels, those
        in ``where`` only when given: ``ndimage.sum_labels(np.where(where, values, 0.0),
        labels, index)``, float64."""
        gathered = self._gather(values)
        if where is not None:
            gathered = np.where(self._gather(where), gathered, 0.0)
        sums = np.bincount(self.labels, weights=gathered, minlength=self._bins)
        return np.asarray(sums[self.index], np.float64)

    def count(self, where: np.ndarray | None = None) -> np.ndarray:
        """Per object, how many of its pixels are in the boolean ``where`` (all of them when
        None): ``ndimage.sum_labels(where, labels, index)``, float64."""
        labels = self.labels if where is None else self.labels[self._gather(where).astype(bool)]
        counts = np.bincount(labels, minlength=self._bins)
        return np.asarray(counts[self.index], np.float64)

    def mean(self, values: np.ndarray) -> np.ndarray:
        """Per object, the mean of ``values`` over all its pixels: ``ndimage.mean(values,
        labels, index)`` (NaN for a label without pixels)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.sum(values) / self.count())

    def maximum(self, values: np.ndarray) -> np.ndarray:
        """Per object, the largest of ``values`` over its pixels (NaN where one of them is), in
        their dtype: ``ndimage.maximum(values, labels, index)``."""
        gathered = self._gather(values)
        order = np.lexsort((gathered, self.labels))  # by object, then value (NaN last)
        labels = self.labels[order]
        ends = np.searchsorted(labels, self.index, side="right")
        has = ends > np.searchsorted(labels, self.index, side="left")
        out = np.zeros(len(self.index), gathered.dtype)
        out[has] = gathered[order][ends[has] - 1]
        return out

    def lower_median(self, values: np.ndarray) -> np.ndarray:
        """Per object, the lower median of its finite ``values`` (NaN where none is), so that
        the value is one of its pixels' (a real acquisition day where they are dates)."""
        gathered = self._gather(values)
        finite = np.isfinite(gathered)
        labels, ordered = self.labels[finite], gathered[finite]
        order = np.lexsort((ordered, labels))
        labels, ordered = labels[order], ordered[order]
        starts = np.searchsorted(labels, self.index, side="left")
        ends = np.searchsorted(labels, self.index, side="right")
        out = np.full(len(self.index), np.nan)
        has = ends > starts
        out[has] = ordered[starts[has] + (ends[has] - starts[has] - 1) // 2]
        return out
