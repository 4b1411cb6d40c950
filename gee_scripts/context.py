"""Terrain and context layers of Ganerød et al. Table 2: elevation and slope (SRTM 30 m or
Copernicus GLO-30, a per-region DEM asset override for high latitudes), ESA WorldCover v200 land
cover, Köppen-Geiger climate class and canopy height (Potapov et al. 2021, GEDI + Landsat, with
its boreal extension north of 52° N). Which asset serves a band is decided beforehand, by the
region's latitudes, in :mod:`gee_scripts.coverage`; the functions here take that decision.

Resampling: the continuous 30 m layers (elevation, canopy height) are interpolated bilinearly
onto the 10 m grid. ``Image.resample`` acts only on an image with a meaningful projection, not
on a composite (its algorithm description: "cannot be used on composites [...] you should
resample the images that are used to create the composite"), so each image of a collection is
resampled *before* ``mosaic()`` (:func:`resampled_mosaic`); canopy codes are handled per image
first, so that water/snow/no-data codes (101-103) are never interpolated into heights. Slope is
computed on the DEM's native grid and interpolated bilinearly too. Class maps (WorldCover,
Köppen-Geiger) are taken as they are (nearest neighbour).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ee

from gee_scripts.coverage import ResolvedBand

__all__ = [
    "CANOPY_NO_DATA",
    "CANOPY_NO_TREE_CODES",
    "canopy_height",
    "dem_image",
    "kg_climate",
    "landcover",
    "masked_bands",
    "resampled_mosaic",
    "slope",
]

# Potapov et al. 2021 codes above the 0-60 m height range: 101 water, 102 snow/ice, 103 no data.
CANOPY_NO_TREE_CODES: tuple[int, ...] = (101, 102)
CANOPY_NO_DATA = 103


def masked_bands(names: Sequence[str]) -> ee.Image:
    """A fully masked float image with bands ``names`` (NaN once fetched)."""
    return ee.Image.constant([0.0] * len(names)).toFloat().updateMask(0).rename(list(names))


def resampled_mosaic(
    collection: ee.ImageCollection,
    prepare: Callable[[ee.Image], ee.Image] = lambda image: image,
    region: ee.Geometry | None = None,
) -> ee.Image:
    """``prepare`` each image, resample it bilinearly, then mosaic; the mosaic keeps the
    projection of the first image over ``region`` as its default (a mosaic has none, and slope
    needs one). Over the region: GLO-30's tiles widen their longitude spacing with latitude
    (1.5" from 50°, 2" from 60°, ...), so a tile from elsewhere would set slope on a wrong
    grid."""
    resampled = collection.map(lambda image: prepare(ee.Image(image)).resample("bilinear"))
    local = collection if region is None else collection.filterBounds(region)
    return resampled.mosaic().setDefaultProjection(local.first().projection())


def dem_image(elevation: ResolvedBand, region: ee.Geometry | None = None) -> ee.Image:
    """Elevation (m, float, band ``elevation``), interpolated bilinearly wherever it is
    reprojected: the override asset (first band), SRTM (``elevation``) or the GLO-30 tiles
    (``DEM``), each resampled before they are mosaicked."""
    (asset,) = elevation.assets
    if elevation.kind == "copernicus_glo30":
        tiles = ee.ImageCollection(asset).select(["DEM"], ["elevation"])
        return resampled_mosaic(tiles, region=region).toFloat()
    band = [0] if elevation.kind == "override" else ["elevation"]
    return ee.Image(asset).select(band, ["elevation"]).resample("bilinear").toFloat()


def slope(elevation: ee.Image) -> ee.Image:
    """Slope in degrees from ``elevation`` (``ee.Terrain.slope`` on the DEM's grid),
    interpolated bilinearly onto the output grid."""
    return ee.Terrain.slope(elevation).rename("slope").resample("bilinear")


def landcover(band: ResolvedBand) -> ee.Image:
    """ESA WorldCover class code (10 tree cover ... 100 moss and lichen), band ``landcover``."""
    if not band.assets:
        return masked_bands(["landcover"])
    return ee.ImageCollection(band.assets[0]).first().select(["Map"], ["landcover"])


def kg_climate(band: ResolvedBand) -> ee.Image:
    """Köppen-Geiger class code from the configured asset (first band); a fully masked band
    (NaN once fetched) when no asset is configured."""
    if not band.assets:
        return masked_bands(["kg_climate"])
    return ee.Image(band.assets[0]).select([0], ["kg_climate"])


def _canopy_codes(image: ee.Image) -> ee.Image:
    """Heights in metres: 0 on water and snow, masked where the map has no data."""
    height = image.select([0], ["canopy_height"])
    no_tree = height.eq(CANOPY_NO_TREE_CODES[0]).Or(height.eq(CANOPY_NO_TREE_CODES[1]))
    return height.where(no_tree, 0).updateMask(height.neq(CANOPY_NO_DATA)).toFloat()


def canopy_height(band: ResolvedBand) -> ee.Image:
    """Canopy height (m), band ``canopy_height``, from the product(s) covering the region
    (GEDI-calibrated and/or boreal, merged): codes handled and resampled per image, then
    mosaicked."""
    if not band.assets:
        return masked_bands(["canopy_height"])
    collections = [ee.ImageCollection(asset) for asset in band.assets]
    merged = collections[0]
    for other in collections[1:]:
        merged = merged.merge(other)
    return resampled_mosaic(merged, _canopy_codes)
