"""Sentinel-2 L2A: cloud/shadow-masked collection, NDVI, greenest-pixel composite, clear counts.

Ganerød et al.: "an NDVI band was added to each image in the pre- and post-event stacks; then, a
greenest-pixel composite was created (maximum NDVI) using the quality-mosaic tool", and dNDVI is
the post- minus the pre-event composite. Clouds and shadows are masked first, with Cloud Score+
(``cs_cdf`` at least the threshold is clear) or, as an option, s2cloudless probabilities plus
projected cloud shadows (the Earth Engine s2cloudless tutorial's method).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import ee

from gee_scripts.settings import AssetIds, CloudMaskSettings
from models.change_statistics import NDVI_DROP, SELF_SHADOW_COS_I
from models.feature_stack import S2_DN_PER_REFLECTANCE

__all__ = [
    "COMPOSITE_BANDS",
    "MS_PER_DAY",
    "REFLECTANCE_BANDS",
    "change_bracket",
    "change_dates",
    "clear_count",
    "day_number",
    "greenest_pixel",
    "last_unchanged_day",
    "latest_clear",
    "masked_collection",
    "s2_collection",
]

# Sentinel-2 band -> name in the composite; L2A digital numbers are reflectance x 10 000.
REFLECTANCE_BANDS: dict[str, str] = {"B4": "red", "B3": "green", "B2": "blue", "B8": "nir"}
COMPOSITE_BANDS: tuple[str, ...] = ("NDVI", "red", "green", "blue", "day")
MS_PER_DAY = 86_400_000


def day_number(image: ee.Image) -> ee.Number:
    """The acquisition day of ``image``, days since 1970-01-01 (its ``system:time_start``): the
    unit of the acquisition-day bands and of the event dating, in both sensors."""
    return ee.Number(image.get("system:time_start")).divide(MS_PER_DAY).floor()


_NEVER = 1e9  # a day after any acquisition (days since 1970-01-01)
_NONE = -1e9  # a day before any acquisition


def s2_collection(
    geometry: ee.Geometry, start: str, end: str, assets: AssetIds
) -> ee.ImageCollection:
    """Sentinel-2 SR (harmonised) scenes over ``geometry`` in ``[start, end)``."""
    return ee.ImageCollection(assets.s2).filterBounds(geometry).filterDate(start, end)


def _cloud_score_plus(
    collection: ee.ImageCollection, cloud: CloudMaskSettings, assets: AssetIds
) -> ee.ImageCollection:
    scores = ee.ImageCollection(assets.cloud_score_plus)

    def mask(image: ee.Image) -> ee.Image:
        linked = image.linkCollection(scores, ["cs_cdf"])
        return image.updateMask(linked.select("cs_cdf").gte(cloud.cs_cdf_threshold))

    return collection.map(mask)


def _s2cloudless(
    collection: ee.ImageCollection, cloud: CloudMaskSettings, assets: AssetIds
) -> ee.ImageCollection:
    probabilities = ee.ImageCollection(assets.s2_cloud_probability)

    def mask(image: ee.Image) -> ee.Image:
        linked = image.linkCollection(probabilities, ["probability"])
        is_cloud = linked.select("probability").gt(cloud.cloud_probability)
        # Dark NIR pixels that are not water (SCL 6) are shadow candidates.
        dark = (
            image.select("B8")
            .lt(cloud.dark_nir_threshold * S2_DN_PER_REFLECTANCE)
            .And(image.select("SCL").neq(6))
        )
        azimuth = ee.Number(90).subtract(ee.Number(image.get("MEAN_SOLAR_AZIMUTH_ANGLE")))
        # Clouds cast along the shadow azimuth on a 100 m grid, over whole 100 m pixels (an
        # Integer argument in the algorithm's signature), at least one, as the archive counts
        # its steps (monitor.sources.composite)
        steps = max(1, round(cloud.shadow_projection_m / 100))
        projection = (
            is_cloud.directionalDistanceTransform(azimuth, steps)
            .reproject(crs=image.select("B8").projection(), scale=100)
            .select("distance")
            .mask()
        )
        shadow = projection.multiply(dark)
        cloud_or_shadow = (
            is_cloud.add(shadow)
            .gt(0)
            .focalMax(cloud.cloud_buffer_m, "circle", "meters")
            .reproject(crs=image.select("B8").projection(), scale=20)
        )
        return image.updateMask(cloud_or_shadow.Not())

    return collection.map(mask)


_MASKERS = {"cloud_score_plus": _cloud_score_plus, "s2cloudless": _s2cloudless}


def _sunlit(elevation: ee.Image) -> Callable[[ee.Image], ee.Image]:
    """Each scene masked where its sun stands below the plane of the ground (self-shadow,
    :data:`~models.change_statistics.SELF_SHADOW_COS_I`; ``monitor.sources.composite.
    self_shadowed`` in numpy): the cosine of the solar incidence angle on the slope of
    ``elevation``, from the scene's mean solar zenith and azimuth."""
    degree = math.pi / 180.0
    slope = ee.Terrain.slope(elevation).multiply(degree)
    aspect = ee.Terrain.aspect(elevation).multiply(degree)

    def mask(image: ee.Image) -> ee.Image:
        zenith = ee.Image.constant(image.get("MEAN_SOLAR_ZENITH_ANGLE")).multiply(degree)
        azimuth = ee.Image.constant(image.get("MEAN_SOLAR_AZIMUTH_ANGLE")).multiply(degree)
        cos_i = (
            zenith.cos()
            .multiply(slope.cos())
            .add(zenith.sin().multiply(slope.sin()).multiply(azimuth.subtract(aspect).cos()))
        )
        # where the DEM has no value (a void, an override that stops short) the ground is
        # taken as lit, as the archive takes a scene whose angles are unknown: else every view
        # there (and next to it: the slope's neighbours) was dropped (found in a review)
        return image.updateMask(cos_i.gte(SELF_SHADOW_COS_I).unmask(1))

    return mask


def masked_collection(
    collection: ee.ImageCollection,
    cloud: CloudMaskSettings,
    assets: AssetIds,
    elevation: ee.Image | None = None,
) -> ee.ImageCollection:
    """Scenes with clouds and shadows masked, as reflectance (``red``, ``green``, ``blue``,
    ``nir``, 0..1) plus ``NDVI`` = (nir - red) / (nir + red) and ``day`` (acquisition day, days
    since 1970-01-01, so that the composite tells which acquisitions it used). With
    ``elevation`` the ground each scene's sun leaves in self-shadow is masked too (the
    detection's composites, and the review map's layers of them)."""
    masked = _MASKERS[cloud.method](collection, cloud, assets)
    if elevation is not None:
        masked = masked.map(_sunlit(elevation))

    def reflectance(image: ee.Image) -> ee.Image:
        bands = (
            image.select(list(REFLECTANCE_BANDS), list(REFLECTANCE_BANDS.values()))
            .divide(S2_DN_PER_REFLECTANCE)
            .toFloat()
        )
        ndvi = bands.normalizedDifference(["nir", "red"]).rename("NDVI")
        day = ee.Image.constant(day_number(image)).toFloat().updateMask(ndvi.mask()).rename("day")
        return ee.Image(
            bands.addBands(ndvi).addBands(day).copyProperties(image, ["system:time_start"])
        )

    return masked.map(reflectance)


def greenest_pixel(masked: ee.ImageCollection) -> ee.Image:
    """Greenest-pixel composite: per pixel, the clear observation of maximum NDVI
    (``qualityMosaic('NDVI')``); bands :data:`COMPOSITE_BANDS`."""
    return masked.qualityMosaic("NDVI").select(list(COMPOSITE_BANDS))


def latest_clear(masked: ee.ImageCollection) -> ee.Image:
    """Latest-clear composite (monitoring): per pixel, the most recent clear observation
    (``qualityMosaic('day')``); bands :data:`COMPOSITE_BANDS`. A scar shows in it at the first
    clear look after it."""
    return masked.qualityMosaic("day").select(list(COMPOSITE_BANDS))


def last_unchanged_day(masked: ee.ImageCollection, baseline_ndvi: ee.Image) -> ee.Image:
    """Per pixel, the day of the last clear observation whose NDVI does not lie ``NDVI_DROP``
    below ``baseline_ndvi`` (masked where none): of the baseline, the last look that does not
    already show a change (``monitor.sources.archive_composite.Optical.last_unchanged_day``)."""
    limit = baseline_ndvi.subtract(NDVI_DROP)
    return masked.map(
        lambda image: image.select("day").updateMask(image.select("NDVI").gte(limit))
    ).max()


def change_dates(
    masked_post: ee.ImageCollection,
    baseline_ndvi: ee.Image,
    baseline_last_day: ee.Image,
    prefix: str,
) -> ee.Image:
    """Sentinel-2 event dating (``models.change_statistics``): bands ``{prefix}_last_unchanged``
    and ``{prefix}_first_changed`` (days; masked where unknown). A clear observation shows the
    change where its NDVI lies ``NDVI_DROP`` below the baseline's; the lower bound is the last
    clear observation before the first that does (of the window, or else of the baseline)."""
    limit = baseline_ndvi.subtract(NDVI_DROP)

    def changed(image: ee.Image) -> ee.Image:
        return image.select("NDVI").lt(limit).unmask(0)

    def day(image: ee.Image) -> ee.Image:
        return image.select("day")

    return change_bracket(masked_post, day, changed, baseline_last_day, prefix)


def change_bracket(
    post: ee.ImageCollection,
    day: Callable[[ee.Image], ee.Image],
    changed: Callable[[ee.Image], ee.Image],
    baseline_last_day: ee.Image,
    prefix: str,
) -> ee.Image:
    """The event bracket of either sensor (``monitor.sources.composite.change_dates`` in
    numpy): bands ``{prefix}_first_changed``, the first ``day`` of a ``post`` scene where
    ``changed`` (0/1) is 1, and ``{prefix}_last_unchanged``, the last day before it of a scene
    where it is 0, or else ``baseline_last_day``; masked where unknown."""
    first = post.map(lambda image: day(image).updateMask(changed(image))).min()
    before = first.unmask(_NEVER)
    last = post.map(
        lambda image: day(image).updateMask(changed(image).Not().And(day(image).lt(before)))
    ).max()
    lower = last.unmask(_NONE).max(baseline_last_day.unmask(_NONE))
    return (
        lower.updateMask(lower.gt(_NONE))
        .rename(f"{prefix}_last_unchanged")
        .addBands(first.rename(f"{prefix}_first_changed"))
    )


def clear_count(masked: ee.ImageCollection, name: str) -> ee.Image:
    """Clear observations per pixel, 0 (not masked) where there is none: the distinct days
    with a clear view, as the archive counts its one acquisition a day. The collection holds
    one image per MGRS tile, and the tiles of one datatake overlap by some 10 km: counting
    images counted that strip twice (found in a review against the archive's counts)."""
    days = masked.select("day").reduce(ee.Reducer.countDistinct())
    return days.unmask(0).toFloat().rename(name)
