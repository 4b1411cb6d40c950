"""The optical composite computes each thing once: the NDVI of the chosen observation is taken
with the same choice as its reflectance, and the observations' NDVI is computed once per window.
Each gives what the former code gave, to the bit, on the simulated archive's scenes."""

from __future__ import annotations

import numpy as np
import pytest

from models.worldcover import WATER
from monitor.sources.archive import ArchiveSource
from monitor.sources.archive_composite import _days
from monitor.sources.composite import (
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


def _same(new: GreenestComposite, old: GreenestComposite) -> None:
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
    refl = np.asarray(stored.root["s2/reflectance"][:])[idx]
    prob = np.asarray(stored.root["s2/cloud_probability"][:])[idx]
    water = np.asarray(stored.root["static/landcover"][:]) == WATER
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
