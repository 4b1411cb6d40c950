"""Sentinel-2 L2A: cloud/shadow-masked collection, NDVI, greenest-pixel composite, clear counts.

Ganerød et al.: "an NDVI band was added to each image in the pre- and post-event stacks; then, a
greenest-pixel composite was created (maximum NDVI) using the quality-mosaic tool", and dNDVI is
the post- minus the pre-event composite. Clouds and shadows are masked first, with Cloud Score+
(``cs_cdf`` at least the threshold is clear) or, as an option, s2cloudless probabilities plus
projected cloud shadows (the Earth Engine s2cloudless tutorial's method).
"""

from __future__ import annotations

import ee

from gee_scripts.settings import AssetIds, CloudMaskSettings

__all__ = [
    "COMPOSITE_BANDS",
    "REFLECTANCE_BANDS",
    "clear_count",
    "greenest_pixel",
    "masked_collection",
    "s2_collection",
]

# Sentinel-2 band -> name in the composite; L2A digital numbers are reflectance x 10 000.
REFLECTANCE_BANDS: dict[str, str] = {"B4": "red", "B3": "green", "B2": "blue", "B8": "nir"}
COMPOSITE_BANDS: tuple[str, ...] = ("NDVI", "red", "green", "blue", "day")
_MS_PER_DAY = 86_400_000
_DN_PER_REFLECTANCE = 10_000


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
            .lt(cloud.dark_nir_threshold * _DN_PER_REFLECTANCE)
            .And(image.select("SCL").neq(6))
        )
        azimuth = ee.Number(90).subtract(ee.Number(image.get("MEAN_SOLAR_AZIMUTH_ANGLE")))
        # Clouds cast along the shadow azimuth on a 100 m grid (distance in 100 m pixels).
        projection = (
            is_cloud.directionalDistanceTransform(azimuth, cloud.shadow_projection_m / 100)
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


def masked_collection(
    collection: ee.ImageCollection, cloud: CloudMaskSettings, assets: AssetIds
) -> ee.ImageCollection:
    """Scenes with clouds and shadows masked, as reflectance (``red``, ``green``, ``blue``,
    ``nir``, 0..1) plus ``NDVI`` = (nir - red) / (nir + red) and ``day`` (acquisition day, days
    since 1970-01-01, so that the composite tells which acquisitions it used)."""
    masked = _MASKERS[cloud.method](collection, cloud, assets)

    def reflectance(image: ee.Image) -> ee.Image:
        bands = (
            image.select(list(REFLECTANCE_BANDS), list(REFLECTANCE_BANDS.values()))
            .divide(_DN_PER_REFLECTANCE)
            .toFloat()
        )
        ndvi = bands.normalizedDifference(["nir", "red"]).rename("NDVI")
        day = (
            ee.Image.constant(ee.Number(image.get("system:time_start")).divide(_MS_PER_DAY).floor())
            .toFloat()
            .updateMask(ndvi.mask())
            .rename("day")
        )
        return ee.Image(
            bands.addBands(ndvi).addBands(day).copyProperties(image, ["system:time_start"])
        )

    return masked.map(reflectance)


def greenest_pixel(masked: ee.ImageCollection) -> ee.Image:
    """Greenest-pixel composite: per pixel, the clear observation of maximum NDVI
    (``qualityMosaic('NDVI')``); bands :data:`COMPOSITE_BANDS`."""
    return masked.qualityMosaic("NDVI").select(list(COMPOSITE_BANDS))


def clear_count(masked: ee.ImageCollection, name: str) -> ee.Image:
    """Clear observations per pixel, 0 (not masked) where there is none."""
    return masked.select("NDVI").count().unmask(0).toFloat().rename(name)
