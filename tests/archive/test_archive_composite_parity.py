"""The optical composite computes each thing once: the NDVI of the chosen observation is taken
with the same choice as its reflectance, the observations' NDVI is computed once per window,
and a window's scenes are read without a copy where they are one block. Each gives what the
former code gave, to the bit, on the simulated archive's scenes."""

from __future__ import annotations

import numpy as np
import pytest

from models.worldcover import WATER
from monitor.sources.archive import ArchiveSource
from monitor.sources.archive_composite import (
    Optical,
    _array,
    _days,
    _scenes,
    read_static,
    s2_composite,
)
from monitor.sources.composite import (
    CloudMaskParams,
    GreenestComposite,
    cloud_shadow_mask,
    greenest_pixel,
    latest_clear,
    ndvi,
    quality_pick,
)


def _former_mosaic(
    reflectance: np.ndarray, unusable: np.ndarray, vi: np.ndarray, score: np.ndarray
) -> GreenestComposite:
    """The quality mosaic as it was: the choice made once for the bands and again for NDVI."""
    usable = ~unusable & np.isfinite(vi)
    picked, chosen = quality_pick(reflectance, usable, score)
    best = quality_pick(vi[:, None], usable, score)[0][0]
    return GreenestComposite(
        reflectance=picked / np.float32(10000.0),
        ndvi=best,
        clear_count=usable.sum(axis=0, dtype=np.int32),
        chosen=chosen,
    )


def _same(new: GreenestComposite | Optical, old: GreenestComposite) -> None:
    for name in ("reflectance", "ndvi", "clear_count", "chosen"):
        a, b = getattr(new, name), getattr(old, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name


@pytest.mark.parametrize("region", ["hills", "ghats"])
def test_composites_of_the_archives_scenes_are_the_former_ones(
    archive: ArchiveSource, region: str
) -> None:
    stored = archive._region(region)
    rows = archive.catalog(region, sensor="S2")
    idx = rows["index"].to_numpy()
    refl = np.asarray(_array(stored.root, "s2/reflectance")[:])[idx]
    prob = np.asarray(_array(stored.root, "s2/cloud_probability")[:])[idx]
    water = np.asarray(_array(stored.root, "static/landcover")[:]) == WATER
    masked = cloud_shadow_mask(refl, prob, rows["sun_azimuth"].to_numpy(float), water)
    assert 0.05 < masked.mean() < 0.95  # clouds and clear views both
    vi = ndvi(refl)
    days = _days(rows["date"].to_numpy())
    t = len(days)
    by_day = np.broadcast_to(days.reshape(t, 1, 1), masked.shape)
    for window in (slice(0, t), slice(2, 5), slice(0, 0)):
        r, m, v = refl[window], masked[window], vi[window]
        s = by_day[window]
        _same(greenest_pixel(r, m), _former_mosaic(r, m, v, v))
        _same(greenest_pixel(r, m, v), _former_mosaic(r, m, v, v))
        _same(latest_clear(r, m, days[window]), _former_mosaic(r, m, v, s))
        _same(latest_clear(r, m, days[window], v), _former_mosaic(r, m, v, s))


def test_a_windows_scenes_are_those_it_lists_in_its_order(archive: ArchiveSource) -> None:
    array = _array(archive._region("hills").root, "s2/reflectance")
    window = (slice(None), slice(3, 40), slice(5, 50))
    # one block, one scene, a gap, a block out of order, scenes out of order with a gap
    for idx in ([2, 3, 4, 5], [4], [1, 2, 5, 6], [4, 3, 2, 5], [6, 3, 4]):
        # each scene read on its own, not the expression _scenes uses for a block
        one_by_one = np.stack([np.asarray(array[(i, *window)]) for i in idx])
        read = _scenes(array, np.array(idx), *window)
        assert read.dtype == one_by_one.dtype and np.array_equal(read, one_by_one)


@pytest.mark.parametrize("drop", [[], [2], [0, 3]])
def test_a_windows_composite_is_that_of_its_scenes_read_one_by_one(
    archive: ArchiveSource, drop: list[int]
) -> None:
    stored = archive._region("ghats")
    rows = archive.catalog("ghats", sensor="S2").iloc[1:7].reset_index(drop=True)
    rows = rows.drop(index=drop).reset_index(drop=True)  # scenes with a gap between them
    grid = stored.grid
    static = read_static(stored.root, slice(0, grid.height), slice(0, grid.width), grid.res)
    composite = s2_composite(stored.root, rows, static, CloudMaskParams(), "latest")
    scenes = [int(i) for i in rows["index"]]
    refl = np.stack([np.asarray(_array(stored.root, "s2/reflectance")[i]) for i in scenes])
    prob = np.stack([np.asarray(_array(stored.root, "s2/cloud_probability")[i]) for i in scenes])
    water = np.asarray(_array(stored.root, "static/landcover")[:]) == WATER
    masked = cloud_shadow_mask(refl, prob, rows["sun_azimuth"].to_numpy(float), water)
    days = _days(rows["date"].to_numpy())
    expected = _former_mosaic(
        refl, masked, ndvi(refl), np.broadcast_to(days.reshape(-1, 1, 1), masked.shape)
    )
    _same(composite, expected)
    vi = ndvi(refl)
    assert np.array_equal(composite.obs_ndvi, vi, equal_nan=True)
    assert np.array_equal(composite.obs_clear, ~masked & np.isfinite(vi))
