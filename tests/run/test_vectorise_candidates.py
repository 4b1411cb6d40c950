"""vectorise: threshold, exclusions, 8-connected objects, attributes and dates, in numbers."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import xarray as xr

from monitor.grid import region_grid
from monitor.pipeline.vectorise import (
    CANDIDATE_COLUMNS,
    VectoriseRules,
    bracketing_dates,
    vectorise,
)
from tests.run.run_fixtures import REGION_POLYGON, make_stack

GRID = region_grid(REGION_POLYGON)


def _prediction(stack: xr.Dataset, blocks: dict[tuple[int, int, int, int], float]) -> xr.Dataset:
    probability = np.full(GRID.shape, 0.1, np.float32)
    for (r0, r1, c0, c1), p in blocks.items():
        probability[r0:r1, c0:c1] = p
    agreement = (probability >= 0.5).astype(np.float32)
    return xr.Dataset(
        {
            "probability": (("y", "x"), probability),
            "spread": (("y", "x"), np.zeros_like(probability)),
            "agreement": (("y", "x"), agreement),
        },
        coords={"y": stack["y"], "x": stack["x"]},
        attrs={"threshold": 0.5, "setting": "S1+S2", "members": "a,b"},
    )


def test_one_scar_becomes_one_polygon_with_its_attributes() -> None:
    big, small = (10, 20, 10, 25), (40, 42, 40, 42)
    stack = make_stack(GRID, region="r1", scars=[big, small])
    prediction = _prediction(stack, {big: 0.9, small: 0.7})
    candidates = vectorise(prediction, stack, VectoriseRules(min_area_m2=900))

    assert list(candidates.columns) == [*CANDIDATE_COLUMNS, "geometry"]
    assert len(candidates) == 1  # the 4-pixel scar (400 m²) is below the minimum area
    row = candidates.iloc[0]
    assert row["region"] == "r1"
    assert row["area_m2"] == pytest.approx(150 * 100.0)
    assert row["prob_mean"] == pytest.approx(0.9, abs=1e-6)
    assert row["prob_max"] == pytest.approx(0.9, abs=1e-6)
    assert row["agreement"] == pytest.approx(1.0)
    assert row["dNDVI_mean"] == pytest.approx(-0.6, abs=1e-6)
    assert row["dVV_mean"] == pytest.approx(-4.0, abs=1e-5)
    assert row["dVH_mean"] == pytest.approx(-5.0, abs=1e-5)
    assert row["slope_mean"] == pytest.approx(20.0)
    assert row["setting"] == "S1+S2"
    # last pre observation of either sensor, first post observation of either sensor
    assert row["pre_date"] == date(2024, 8, 12)
    assert row["post_date"] == date(2024, 8, 18)
    assert candidates.crs.to_epsg() == int(GRID.crs.split(":")[1])
    geometry = row["geometry"]
    assert geometry.area == pytest.approx(15000.0)
    assert geometry.bounds == pytest.approx(
        (GRID.x0 + 100, GRID.y0 - 200, GRID.x0 + 250, GRID.y0 - 100)
    )


def test_min_area_threshold_override_and_diagonal_connectivity() -> None:
    stack = make_stack(GRID, scars=[(10, 20, 10, 25), (40, 42, 40, 42), (30, 32, 30, 32)])
    probability_blocks = {(10, 20, 10, 25): 0.9, (40, 42, 40, 42): 0.7}
    prediction = _prediction(stack, probability_blocks)
    prediction["probability"][30, 30] = 0.95
    prediction["probability"][31, 31] = 0.95  # touches (30, 30) only by its corner
    everything = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert sorted(everything["area_m2"]) == [200.0, 400.0, 15000.0]
    strict = vectorise(prediction, stack, VectoriseRules(threshold=0.8, min_area_m2=0))
    assert sorted(strict["area_m2"]) == [200.0, 15000.0]
    nothing = vectorise(prediction, stack, VectoriseRules(threshold=0.99, min_area_m2=0))
    assert nothing.empty and list(nothing.columns) == [*CANDIDATE_COLUMNS, "geometry"]


def test_water_pixels_removed_and_flat_objects_dropped() -> None:
    scar = (10, 20, 10, 30)
    stack = make_stack(GRID, scars=[scar])
    landcover = stack["landcover"].values.copy()
    landcover[10:20, 20:30] = 80  # the east half of the scar is water
    stack["landcover"] = (("y", "x"), landcover)
    prediction = _prediction(stack, {scar: 0.9})
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert kept["area_m2"].tolist() == [10000.0]
    with_water = vectorise(prediction, stack, VectoriseRules(min_area_m2=0, exclude_water=False))
    assert with_water["area_m2"].tolist() == [20000.0]

    flat = make_stack(GRID, scars=[scar], slope=3.0)
    assert vectorise(prediction, flat, VectoriseRules(min_area_m2=0, min_slope_deg=5.0)).empty
    assert len(vectorise(prediction, flat, VectoriseRules(min_area_m2=0, min_slope_deg=2.0))) == 1


def test_fallback_pixels_give_the_radar_setting_and_its_dates() -> None:
    scar = (10, 20, 10, 20)
    stack = make_stack(GRID, scars=[scar])
    prediction = _prediction(stack, {scar: 0.9})
    fallback = np.zeros(GRID.shape, bool)
    fallback[10:20, 10:16] = True  # 60 % of the object
    prediction["fallback"] = (("y", "x"), fallback)
    prediction.attrs["fallback_setting"] = "S1"
    row = vectorise(prediction, stack, VectoriseRules(min_area_m2=0)).iloc[0]
    assert row["setting"] == "S1"
    assert (row["pre_date"], row["post_date"]) == (date(2024, 8, 12), date(2024, 8, 18))
    assert bracketing_dates(stack, "S2") == (date(2024, 8, 10), date(2024, 8, 20))


def test_rules_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="threshold"):
        VectoriseRules(threshold=1.5)
    with pytest.raises(ValueError, match="negative"):
        VectoriseRules(min_area_m2=-1)


def test_snow_and_water_seen_after_the_event_are_removed() -> None:
    scar = (10, 20, 10, 30)
    stack = make_stack(GRID, scars=[scar])
    post_ndvi = stack["postNDVI"].values.copy()
    post_rgb = stack["post_rgb"].values.copy()
    post_ndvi[10:20, 10:15] = 0.05  # fresh snow: bright, unvegetated
    post_rgb[:, 10:20, 10:15] = 0.6
    post_ndvi[10:20, 25:30] = -0.2  # a reservoir that rose: dark, negative NDVI
    post_rgb[:, 10:20, 25:30] = 0.04
    stack["postNDVI"] = (("y", "x"), post_ndvi)
    stack["post_rgb"] = (("rgb", "y", "x"), post_rgb)
    prediction = _prediction(stack, {scar: 0.9})
    assert vectorise(prediction, stack, VectoriseRules(min_area_m2=0))["area_m2"].tolist() == [
        10000.0
    ]
    neither = VectoriseRules(min_area_m2=0, exclude_snow=False, exclude_water=False)
    assert vectorise(prediction, stack, neither)["area_m2"].tolist() == [20000.0]


def test_spectrally_flat_snow_fringe_is_removed_but_a_red_sloped_scar_kept() -> None:
    scar = (10, 20, 10, 30)
    stack = make_stack(GRID, scars=[scar])
    post_rgb = stack["post_rgb"].values.copy()
    post_rgb[:, 10:20, 10:20] = np.array([0.20, 0.20, 0.19])[:, None, None]  # snow fringe
    post_rgb[:, 10:20, 20:30] = np.array([0.16, 0.13, 0.10])[:, None, None]  # soil: blue/red 0.62
    stack["post_rgb"] = (("rgb", "y", "x"), post_rgb)
    prediction = _prediction(stack, {scar: 0.9})
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert kept["area_m2"].tolist() == [10000.0]
    assert kept.geometry.iloc[0].centroid.x > GRID.x[20]  # the soil half
    no_snow_rule = VectoriseRules(min_area_m2=0, exclude_snow=False)
    assert vectorise(prediction, stack, no_snow_rule)["area_m2"].tolist() == [20000.0]


def test_green_after_the_event_is_not_a_fresh_scar() -> None:
    scar = (10, 20, 10, 20)
    stack = make_stack(GRID)  # no vegetation loss: post NDVI 0.8 everywhere
    prediction = _prediction(stack, {scar: 0.9})
    assert vectorise(prediction, stack, VectoriseRules(min_area_m2=0)).empty
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0, max_post_ndvi=None))
    assert kept["area_m2"].tolist() == [10000.0]
    cloudy = make_stack(GRID, clear=0.0)  # no clear post view: the rule cannot judge
    assert len(vectorise(prediction, cloudy, VectoriseRules(min_area_m2=0))) == 1


def test_a_stale_optical_view_cannot_contradict_a_radar_detection() -> None:
    # green after the event, but the optical view of 60 of the 100 pixels predates the change
    # radar saw (monitor.pipeline.setting.predict marks them ``optical_stale``)
    scar = (10, 20, 10, 20)
    stack = make_stack(GRID)  # post NDVI 0.8 everywhere
    prediction = _prediction(stack, {scar: 0.9})
    stale = np.zeros(GRID.shape, bool)
    stale[10:16, 10:20] = True
    prediction["fallback"] = (("y", "x"), stale)
    prediction["optical_stale"] = (("y", "x"), stale)
    prediction.attrs["fallback_setting"] = "S1"
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    # the rule reads the 40 current pixels only, and they are green (0.8 > 0.6): dropped
    assert kept.empty
    # all 100 stale: nothing left to judge by, the detection is kept (as under clouds)
    stale[10:20, 10:20] = True
    prediction["optical_stale"] = (("y", "x"), stale)
    prediction["fallback"] = (("y", "x"), stale)
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert kept["area_m2"].tolist() == [10000.0] and kept["setting"].tolist() == ["S1"]


def test_fallback_pixels_meet_the_fallback_settings_own_threshold() -> None:
    # two blocks at 0.6: one predicted by the chosen setting (threshold 0.5), one by the radar
    # fallback, whose calibrated threshold is 0.7 (fine-tuning may set them far apart)
    optical, radar = (10, 20, 10, 20), (30, 40, 30, 40)
    stack = make_stack(GRID, scars=[optical, radar])
    prediction = _prediction(stack, {optical: 0.6, radar: 0.6})
    fallback = np.zeros(GRID.shape, bool)
    fallback[30:40, 30:40] = True
    prediction["fallback"] = (("y", "x"), fallback)
    prediction.attrs.update(fallback_setting="S1", fallback_threshold=0.7)
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert kept["setting"].tolist() == ["S1+S2"]
    prediction.attrs["fallback_threshold"] = 0.55
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert sorted(kept["setting"]) == ["S1", "S1+S2"]
    # a threshold the region sets holds for every pixel
    kept = vectorise(prediction, stack, VectoriseRules(min_area_m2=0, threshold=0.65))
    assert kept.empty


def test_detections_mostly_on_an_excluded_land_cover_are_dropped_whole() -> None:
    """``exclude_landcover``: an object with more than half its pixels on the listed WorldCover
    classes is dropped; one mostly elsewhere is kept whole, its outline and area included."""
    field, slope = (10, 20, 10, 30), (30, 40, 10, 30)
    stack = make_stack(GRID, scars=[field, slope])
    landcover = stack["landcover"].values.copy()
    landcover[10:20, 10:26] = 40  # 80 % of the first object is cropland
    landcover[30:40, 10:18] = 50  # 40 % of the second is built-up
    stack["landcover"] = (("y", "x"), landcover)
    prediction = _prediction(stack, {field: 0.9, slope: 0.9})
    everything = vectorise(prediction, stack, VectoriseRules(min_area_m2=0))
    assert everything["area_m2"].tolist() == [20000.0, 20000.0]
    rules = VectoriseRules(min_area_m2=0, exclude_landcover=(40, 50))
    kept = vectorise(prediction, stack, rules)
    assert kept["area_m2"].tolist() == [20000.0]  # the slope's object, whole
    assert kept.geometry.iloc[0].bounds[1] == pytest.approx(GRID.y0 - 400)
    with pytest.raises(ValueError, match=r"exclude_landcover: 55 is no ESA WorldCover class"):
        VectoriseRules(exclude_landcover=(40, 55))
