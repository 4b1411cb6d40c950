"""Terrain and context layers of Ganerød et al. Table 2: elevation and slope (SRTM 30 m by
default, Copernicus GLO-30 as an option, a per-region DEM asset override for high latitudes),
ESA WorldCover v200 land cover, Köppen-Geiger climate class and canopy height (Potapov et al.
2021, GEDI + Landsat)."""

from __future__ import annotations

import ee

from gee_scripts.settings import AssetIds, DemSettings

__all__ = [
    "CANOPY_NO_DATA",
    "CANOPY_NO_TREE_CODES",
    "canopy_height",
    "dem_image",
    "kg_climate",
    "landcover",
    "slope",
]

# Potapov et al. 2021 codes above the 0-60 m height range: 101 water, 102 snow/ice, 103 no data.
CANOPY_NO_TREE_CODES: tuple[int, ...] = (101, 102)
CANOPY_NO_DATA = 103


def _srtm(assets: AssetIds) -> ee.Image:
    return ee.Image(assets.srtm).select("elevation")


def _copernicus_glo30(assets: AssetIds) -> ee.Image:
    tiles = ee.ImageCollection(assets.copernicus_dem).select("DEM")
    # A mosaic has no native projection; slope needs one, so keep the tiles' own.
    return tiles.mosaic().setDefaultProjection(tiles.first().projection()).rename("elevation")


_DEMS = {"srtm": _srtm, "copernicus_glo30": _copernicus_glo30}


def dem_image(region: str, dem: DemSettings, assets: AssetIds) -> ee.Image:
    """Elevation (m, band ``elevation``) for ``region``: its override asset if configured (first
    band), else the configured global DEM."""
    override = dem.overrides.get(region)
    if override:
        return ee.Image(override).select([0], ["elevation"]).toFloat()
    return _DEMS[dem.source](assets).toFloat()


def slope(elevation: ee.Image) -> ee.Image:
    """Slope in degrees from ``elevation`` (``ee.Terrain.slope``)."""
    return ee.Terrain.slope(elevation).rename("slope")


def landcover(assets: AssetIds) -> ee.Image:
    """ESA WorldCover class code (10 tree cover ... 100 moss and lichen), band ``landcover``."""
    return ee.ImageCollection(assets.worldcover).first().select(["Map"], ["landcover"])


def kg_climate(assets: AssetIds) -> ee.Image:
    """Köppen-Geiger class code from the configured asset (first band); a fully masked band
    (NaN once fetched) when no asset is configured."""
    if assets.kg_climate is None:
        return ee.Image.constant(0).updateMask(0).rename("kg_climate")
    return ee.Image(assets.kg_climate).select([0], ["kg_climate"])


def canopy_height(assets: AssetIds) -> ee.Image:
    """Canopy height (m), band ``canopy_height``: 0 on water and snow, masked where the map has
    no data."""
    mosaic = ee.ImageCollection(assets.canopy_height).mosaic().select([0], ["canopy_height"])
    no_tree = mosaic.eq(CANOPY_NO_TREE_CODES[0]).Or(mosaic.eq(CANOPY_NO_TREE_CODES[1]))
    return mosaic.where(no_tree, 0).updateMask(mosaic.neq(CANOPY_NO_DATA))
