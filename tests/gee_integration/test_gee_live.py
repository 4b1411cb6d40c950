"""The Earth Engine source against the real server (skipped without credentials)."""

from __future__ import annotations

from datetime import date

import ee
import numpy as np
import pytest
from shapely.geometry import box

from gee_scripts.settings import GeeSettings
from models.feature_stack import MODEL_BANDS, validate
from monitor.grid import region_grid
from monitor.ops.gee_check import check_region
from monitor.sources.base import AreaOfInterest, Window
from monitor.sources.gee import GeeSource

pytestmark = pytest.mark.integration

# About 1.1 km x 1.1 km of Valtellina (Italian Alps), summer 2024: frequent S1 and S2 scenes.
AREA = AreaOfInterest("valtellina-it", box(9.93, 46.22, 9.944, 46.23), "ascending")
PRE = Window(date(2024, 6, 15), date(2024, 8, 15))
POST = Window(date(2024, 8, 15), date(2024, 9, 15))


def test_default_assets_exist(gee_settings: GeeSettings) -> None:
    a = gee_settings.assets
    for asset in (a.s2, a.cloud_score_plus, a.s2_cloud_probability, a.s1, a.copernicus_dem):
        assert ee.ImageCollection(asset).limit(1).size().getInfo() == 1, asset
    assert ee.Image(a.srtm).bandNames().getInfo() == ["elevation"]
    assert ee.ImageCollection(a.worldcover).first().bandNames().getInfo() == ["Map"]
    assert ee.ImageCollection(a.canopy_height).size().getInfo() >= 1
    assert ee.ImageCollection(a.canopy_height_boreal).size().getInfo() >= 1
    assert "DEM" in ee.ImageCollection(a.copernicus_dem).first().bandNames().getInfo()
    # S1_GRD_FLOAT holds linear power: a median VV of a few hundredths, not about -12 (dB).
    first = ee.ImageCollection(a.s1).filterBounds(_area_ee()).first().select("VV")
    median = first.reduceRegion(ee.Reducer.median(), _area_ee(), 100).get("VV").getInfo()
    assert 0.0 < median < 1.0


def _area_ee() -> ee.Geometry:
    return ee.Geometry.Rectangle(list(AREA.geometry.bounds))


def test_gee_check_on_a_valtellina_tile(gee_settings: GeeSettings) -> None:
    """The `landslide-monitor gee check` path on one 64 px tile: assets, valid fractions,
    requests and the terrain-flattening sign check (Alpine relief: enough of both slope sides)."""
    source = GeeSource(gee_settings, initialize=False, progress=False)
    check = check_region(source, AREA, PRE, POST, tile_px=64)
    print("\n".join(check.lines()))
    assert not check.error, check.error
    assert check.assets is not None and check.assets.elevation.assets == ("USGS/SRTMGL1_003",)
    for band in ("elevation", "slope", "landcover", "canopy_height"):
        assert check.valid_fraction[band] > 0.99, band
    assert check.valid_fraction["preVV"] > 0.5 and check.valid_fraction["postNDVI"] > 0.2
    assert check.requests == {"computeValue": 3, "computePixels": 2}  # as offline (test_gee_check)
    assert check.sign is not None
    assert check.sign.passed is True, check.sign.lines()


def test_a_tile_at_65_north_has_elevation_and_canopy(gee_settings: GeeSettings) -> None:
    """North of SRTM and GEDI: GLO-30 and the boreal canopy product must fill the bands."""
    nordland = AreaOfInterest("nordland", box(14.000, 64.990, 14.023, 65.000), "both")
    source = GeeSource(gee_settings, initialize=False, progress=False)
    check = check_region(source, nordland, PRE, POST, tile_px=32)
    print("\n".join(check.lines()))
    assert not check.error, check.error
    assert check.assets is not None
    assert check.assets.elevation.assets == (gee_settings.assets.copernicus_dem,)
    assert check.assets.canopy_height.assets == (gee_settings.assets.canopy_height_boreal,)
    for band in ("elevation", "slope", "canopy_height"):
        assert check.valid_fraction[band] > 0.99, band


def test_availability_lists_scenes_of_both_sensors(gee_settings: GeeSettings) -> None:
    source = GeeSource(gee_settings, initialize=False, progress=False)
    availability = source.availability(AREA, PRE, POST)
    assert len(availability.s2_dates_pre) >= 5 and len(availability.s2_dates_post) >= 3
    assert len(availability.s1_dates_pre) >= 3 and len(availability.s1_dates_post) >= 2
    assert all(PRE.start.isoformat() <= d < PRE.end.isoformat() for d in availability.s1_dates_pre)


def test_features_on_the_region_grid(gee_settings: GeeSettings) -> None:
    stack = GeeSource(gee_settings, initialize=False, progress=False).features(AREA, PRE, POST)
    validate(stack)
    grid = region_grid(AREA.geometry)
    np.testing.assert_array_equal(stack.x.values, grid.x)
    np.testing.assert_array_equal(stack.y.values, grid.y)
    assert list(stack.data_vars)[:15] == list(MODEL_BANDS)
    # Plausible physics: Alpine elevations, dB backscatter, NDVI range, counts.
    assert 200 < float(np.nanmin(stack.elevation)) < float(np.nanmax(stack.elevation)) < 4000
    assert -30 < float(np.nanmedian(stack.postVV)) < 5
    assert float(np.nanmedian(stack.postVH)) < float(np.nanmedian(stack.postVV))
    assert float(np.nanmin(stack.preNDVI)) >= -1 and float(np.nanmax(stack.preNDVI)) <= 1
    assert int(stack.s1_count_post.max()) >= 2 and int(stack.s2_clear_pre.max()) >= 1
    assert set(np.unique(stack.landcover.values[np.isfinite(stack.landcover.values)])) <= {
        10,
        20,
        30,
        40,
        50,
        60,
        70,
        80,
        90,
        95,
        100,
    }
