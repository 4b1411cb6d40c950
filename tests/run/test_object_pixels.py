"""Per-object statistics read from the objects' pixels only (monitor.pipeline.object_pixels):
the same numbers, to the bit, as the whole-raster scipy.ndimage calls and the loops they
replaced, on a region-like raster (objects of one pixel to a few hundred, values missing under
clouds, signed values, repeated dates), and the object contrast of the radar tests likewise."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from models.change_statistics import log_ratio_z
from monitor.pipeline.dating import lower_medians
from monitor.pipeline.object_pixels import ObjectPixels
from monitor.pipeline.radar_drop import CELL_PIXELS, ring_contrast, ring_zone
from monitor.simulator.radar import speckle

SHAPE = (240, 260)


def _objects(seed: int = 0) -> tuple[np.ndarray, int]:
    """8-connected objects of a smoothed random field: blobs of one pixel to a few hundred."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=SHAPE), 3.0)
    labels, n = ndimage.label(field > 1.2 * field.std(), structure=np.ones((3, 3), bool))
    assert n > 30
    return labels, n


def _values(seed: int = 1) -> np.ndarray:
    """Signed float32 values, NaN under two 'clouds' and at scattered pixels."""
    rng = np.random.default_rng(seed)
    values = rng.normal(-0.1, 0.3, SHAPE).astype(np.float32)
    values[20:90, 30:120] = np.nan
    values[150:200, 180:250] = np.nan
    values[rng.random(SHAPE) < 0.05] = np.nan
    return values


def _bitwise_equal(new: np.ndarray, old: np.ndarray) -> None:
    assert new.dtype == old.dtype and new.shape == old.shape
    assert np.array_equal(new, old, equal_nan=True)
    assert np.array_equal(np.signbit(new), np.signbit(old))  # a -0.0 for a 0.0 is a change too


@pytest.mark.parametrize("subset", ["all", "some", "beyond"])
def test_the_statistics_are_scipys_to_the_bit(subset: str) -> None:
    labels, n = _objects()
    index = {
        "all": np.arange(1, n + 1),
        "some": np.arange(1, n + 1)[::3],  # the objects a rule kept
        "beyond": np.array([2, n + 5, 1]),  # a label with no pixel counts nothing
    }[subset]
    values = _values()
    finite = np.isfinite(values)
    objects = ObjectPixels(labels, index)
    _bitwise_equal(
        objects.sum(values, finite),
        ndimage.sum_labels(np.where(finite, values, 0.0), labels, index),
    )
    # float64 values of full precision: summed in another order, they differ in the last bits
    as64 = np.where(finite, np.random.default_rng(9).normal(size=SHAPE), np.nan)
    _bitwise_equal(
        objects.sum(as64, finite), ndimage.sum_labels(np.where(finite, as64, 0.0), labels, index)
    )
    _bitwise_equal(objects.count(finite), ndimage.sum_labels(finite, labels, index))
    _bitwise_equal(objects.count(), ndimage.sum_labels(np.ones(SHAPE, bool), labels, index))
    share = (values > 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        _bitwise_equal(objects.mean(share), ndimage.mean(share, labels, index))
    filled = np.nan_to_num(as64, nan=0.0)
    _bitwise_equal(objects.maximum(filled), ndimage.maximum(filled, labels, index))
    counts = np.random.default_rng(2).integers(0, 5, SHAPE).astype(np.float64)
    _bitwise_equal(objects.maximum(counts), ndimage.maximum(counts, labels, index))


def _lower_medians_loop(values: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The former :func:`monitor.pipeline.dating.lower_medians`: a loop over the objects."""
    out = np.full(len(index), np.nan)
    finite = np.isfinite(values) & (labels > 0)
    if not finite.any():
        return out
    lab, val = labels[finite], values[finite]
    order = np.lexsort((val, lab))
    lab, val = lab[order], val[order]
    starts = np.searchsorted(lab, index, side="left")
    ends = np.searchsorted(lab, index, side="right")
    for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
        if b > a:
            out[i] = val[a + (b - a - 1) // 2]
    return out


def test_lower_medians_are_the_loops() -> None:
    labels, n = _objects(3)
    rng = np.random.default_rng(4)
    # days of acquisitions (many ties), missing where no scene showed the change
    days = rng.choice([19950.0, 19955.0, 19962.0, 19967.0], size=SHAPE)
    days[~np.isfinite(_values(5))] = np.nan
    days[labels == 7] = np.nan  # an object with no finite value at all
    for index in (np.arange(1, n + 1), np.arange(1, n + 1)[1::4], np.array([n + 1, 3])):
        _bitwise_equal(lower_medians(days, labels, index), _lower_medians_loop(days, labels, index))
    none = np.full(SHAPE, np.nan)
    _bitwise_equal(
        lower_medians(none, labels, np.arange(1, n + 1)),
        _lower_medians_loop(none, labels, np.arange(1, n + 1)),
    )


def _ring_contrast_by_scipy(
    z: np.ndarray,
    eligible: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    cells: np.ndarray,
    zone: np.ndarray,
) -> np.ndarray:
    """The former :func:`monitor.pipeline.radar_drop.ring_contrast`, whole-raster sums."""
    ring_labels = np.where(eligible & np.isfinite(z), zone, 0)
    ring = ring_labels > 0
    inside = np.isfinite(z) & (labels > 0)

    def sums(mask: np.ndarray, by: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(
            np.asarray(ndimage.sum_labels(np.where(mask, v, 0.0), by, index))
            for v in (np.ones_like(z), z, cells)
        )

    obj_n, obj_s, obj_c = sums(inside, labels)
    ring_n, ring_s, ring_c = sums(ring, ring_labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = obj_s / obj_n - ring_s / ring_n
        error = np.sqrt(obj_c / obj_n**2 + ring_c / ring_n**2)
        t = difference / error
    return np.where((obj_n > 0) & (ring_n >= CELL_PIXELS), t, np.nan)


def test_the_object_contrast_is_the_whole_raster_ones() -> None:
    # a forested slope under IW GRD speckle, post image of 2 scenes against 8, slides that
    # lowered VH by 2.5 dB at the objects' pixels, gaps (layover, no observation)
    rng = np.random.default_rng(6)
    labels, n = _objects(7)
    vh = np.full(SHAPE, -14.0)
    pre = np.mean([10 * np.log10(10 ** (vh / 10) * speckle(rng, SHAPE)) for _ in range(8)], 0)
    slid = vh + np.where(labels > 0, -2.5, 0.0)
    post = np.mean([10 * np.log10(10 ** (slid / 10) * speckle(rng, SHAPE)) for _ in range(2)], 0)
    z = np.asarray(log_ratio_z(post, np.full(SHAPE, 2.0), pre, np.full(SHAPE, 8.0), 4.4))
    z[_values(8) > 0.5] = np.nan
    eligible = np.isfinite(z) & (rng.random(SHAPE) > 0.1)
    cells = CELL_PIXELS * np.maximum(1.0, rng.uniform(0.6, 2.0, SHAPE))
    zone = ring_zone(labels)
    for index in (np.arange(1, n + 1), np.arange(1, n + 1)[::2]):
        new = ring_contrast(z, eligible, labels, index, cells, zone)
        assert np.isfinite(new).sum() > 10
        _bitwise_equal(new, _ring_contrast_by_scipy(z, eligible, labels, index, cells, zone))


def test_an_index_of_the_background_or_negative_labels_are_refused() -> None:
    labels, _ = _objects()
    with pytest.raises(ValueError, match="index"):
        ObjectPixels(labels, np.array([0, 1]))
    with pytest.raises(ValueError, match="negative"):
        ObjectPixels(-labels, np.array([1]))


def test_no_object_at_all() -> None:
    objects = ObjectPixels(np.zeros(SHAPE, np.int32), np.array([1, 2]))
    _bitwise_equal(objects.count(), np.zeros(2))
    _bitwise_equal(objects.sum(_values()), np.zeros(2))
    _bitwise_equal(objects.maximum(np.ones(SHAPE)), np.zeros(2))
    assert np.isnan(objects.lower_median(np.ones(SHAPE))).all()
