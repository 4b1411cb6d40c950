"""The Sentinel-2 graph (Cloud Score+ mask, reflectance, NDVI, greenest pixel, clear count,
acquisition day) evaluated with numpy equals the archive's greenest-pixel compositor
(``monitor.sources.composite.greenest_pixel``) on the same scenes and the same mask."""

from __future__ import annotations

from typing import Any

import ee
import numpy as np

from gee_scripts import sentinel2
from gee_scripts.offline import graph_tree
from gee_scripts.settings import AssetIds, CloudMaskSettings
from monitor.sources.composite import greenest_pixel
from tests.gee.gee_numpy_eval import GraphEvaluator

DAY_MS = 86_400_000


def _evaluate(graph: Any, inputs: dict[str, Any], properties: dict[str, Any], n: int) -> Any:
    """``graph`` evaluated on the scenes ``T/s2_<i>`` and their Cloud Score+ images ``T/cs_<i>``
    (``i`` < ``n``) of ``inputs``."""
    cloud_score = AssetIds().cloud_score_plus
    collections = {cloud_score: [f"T/cs_{i}" for i in range(n)]}
    return GraphEvaluator(inputs, properties=properties, collections=collections)(graph)


def test_greenest_pixel_graph_matches_the_archive_compositor() -> None:
    rng = np.random.default_rng(11)
    n, shape = 4, (10, 12)
    # Six S2 bands as the archive stores them (B2, B3, B4, B8, B11, B12), digital numbers.
    dn = rng.integers(200, 4000, size=(n, 6, *shape)).astype(np.uint16)
    cs_cdf = rng.uniform(0.0, 1.0, size=(n, *shape))
    cs_cdf[:, :2, :3] = 0.1  # never clear: NaN composite, zero count
    days = [19900 + 5 * i for i in range(n)]
    inputs, properties = {}, {}
    for i in range(n):
        b2, b3, b4, b8 = (dn[i, k].astype(float) for k in range(4))
        inputs[f"T/s2_{i}"] = {"B2": b2, "B3": b3, "B4": b4, "B8": b8}
        properties[f"T/s2_{i}"] = {"system:index": f"s{i}", "system:time_start": days[i] * DAY_MS}
        inputs[f"T/cs_{i}"] = {"cs": cs_cdf[i], "cs_cdf": cs_cdf[i]}
        properties[f"T/cs_{i}"] = {"system:index": f"s{i}"}
    assets = AssetIds()
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/s2_{i}") for i in range(n)])
    masked = sentinel2.masked_collection(scenes, CloudMaskSettings(cs_cdf_threshold=0.6), assets)
    graph = graph_tree(
        ee.List([sentinel2.greenest_pixel(masked), sentinel2.clear_count(masked, "clear")])
    )
    composite, clear = _evaluate(graph, inputs, properties, n)

    expected = greenest_pixel(dn, unusable=cs_cdf < 0.6)
    np.testing.assert_allclose(composite["NDVI"], expected.ndvi, rtol=1e-6, equal_nan=True)
    for name, band in (("red", 2), ("green", 1), ("blue", 0)):
        np.testing.assert_allclose(
            composite[name], expected.reflectance[band], rtol=1e-6, equal_nan=True
        )
    np.testing.assert_array_equal(clear["clear"], expected.clear_count)
    day_expected = np.where(expected.chosen >= 0, np.asarray(days)[expected.chosen], np.nan)
    np.testing.assert_array_equal(composite["day"], day_expected)
    assert np.isnan(composite["NDVI"][:2, :3]).all() and (clear["clear"][:2, :3] == 0).all()
    assert len(set(np.unique(expected.chosen[expected.chosen >= 0]))) == n  # every scene used


def test_the_clear_count_counts_a_datatake_s_overlapping_tiles_once() -> None:
    """Two MGRS tiles of one datatake overlap by some 10 km: the archive holds one acquisition
    that day, and the clear count is of days (found in a review: counting images gave that strip
    up to twice the archive's count)."""
    rng = np.random.default_rng(5)
    shape = (6, 8)
    days = [19900, 19900, 19905]  # two tiles of one datatake, then the next revisit
    cs_cdf = rng.uniform(0.0, 1.0, size=(3, *shape))
    cs_cdf[0, :, 4:] = 0.0  # tile 0 covers the west half, tile 1 the east half and a strip
    cs_cdf[1, :, :3] = 0.0
    inputs, properties = {}, {}
    for i, day in enumerate(days):
        dn = rng.integers(200, 4000, size=(4, *shape)).astype(float)
        inputs[f"T/s2_{i}"] = dict(zip(("B2", "B3", "B4", "B8"), dn, strict=True))
        properties[f"T/s2_{i}"] = {"system:index": f"s{i}", "system:time_start": day * DAY_MS}
        inputs[f"T/cs_{i}"] = {"cs": cs_cdf[i], "cs_cdf": cs_cdf[i]}
        properties[f"T/cs_{i}"] = {"system:index": f"s{i}"}
    assets = AssetIds()
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/s2_{i}") for i in range(3)])
    masked = sentinel2.masked_collection(scenes, CloudMaskSettings(cs_cdf_threshold=0.6), assets)
    graph = graph_tree(ee.List([sentinel2.clear_count(masked, "clear")]))
    (clear,) = _evaluate(graph, inputs, properties, 3)
    clear_image = cs_cdf >= 0.6
    expected = (clear_image[0] | clear_image[1]).astype(int) + clear_image[2]
    np.testing.assert_array_equal(clear["clear"], expected)
    both = clear_image[0] & clear_image[1]
    assert both[:, 3].sum() > 0  # the strip both tiles saw clear, counted once
    assert clear["clear"].max() <= 2


def test_ground_in_self_shadow_is_no_clear_look_on_either_source() -> None:
    """Where a scene's sun stands below the plane of the ground (a north-facing slope under the
    low winter sun) the view is the sky's diffuse light and the path radiance, and its NDVI
    drops with no change of the ground: a storm-free winter drew 12 of an alpine region's 20
    false alerts of November and December there (bench/bench_snow_season.py). The Earth Engine
    graph masks the same observations as the archive's compositor, so the latest clear view
    falls back to the last lit one."""
    from monitor.sources.composite import latest_clear, self_shadowed
    from monitor.sources.terrain_flattening import slope_aspect

    rng = np.random.default_rng(3)
    shape = (12, 14)
    rows = np.arange(shape[0], dtype=float)[:, None] * np.ones(shape)
    dem = 1000.0 + 12.0 * rows  # 50° facing north (rows run south), flat in the east third
    dem[:, 10:] = 1000.0
    days = [19600, 19640, 19660]  # an autumn scene, then two under the low winter sun
    zeniths, azimuths = [40.0, 68.0, 70.0], [165.0, 160.0, 162.0]
    dn = rng.integers(200, 4000, size=(3, 6, *shape)).astype(np.uint16)
    inputs: dict[str, dict[str, np.ndarray]] = {"T/dem": {"elevation": dem}}
    properties = {}
    for i in range(3):
        b2, b3, b4, b8 = (dn[i, k].astype(float) for k in range(4))
        inputs[f"T/s2_{i}"] = {"B2": b2, "B3": b3, "B4": b4, "B8": b8}
        properties[f"T/s2_{i}"] = {
            "system:index": f"s{i}",
            "system:time_start": days[i] * DAY_MS,
            "MEAN_SOLAR_ZENITH_ANGLE": zeniths[i],
            "MEAN_SOLAR_AZIMUTH_ANGLE": azimuths[i],
        }
        inputs[f"T/cs_{i}"] = {"cs": np.ones(shape), "cs_cdf": np.ones(shape)}  # all clear
        properties[f"T/cs_{i}"] = {"system:index": f"s{i}"}
    assets = AssetIds()
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/s2_{i}") for i in range(3)])
    masked = sentinel2.masked_collection(
        scenes, CloudMaskSettings(cs_cdf_threshold=0.6), assets, ee.Image("T/dem")
    )
    graph = graph_tree(
        ee.List([sentinel2.latest_clear(masked), sentinel2.clear_count(masked, "clear")])
    )
    composite, clear = _evaluate(graph, inputs, properties, 3)

    slope, aspect = slope_aspect(dem, 10.0)
    shadowed = self_shadowed(slope, aspect, np.array(zeniths), np.array(azimuths))
    expected = latest_clear(dn, shadowed, np.asarray(days, float))
    np.testing.assert_allclose(composite["NDVI"], expected.ndvi, rtol=1e-6, equal_nan=True)
    day_expected = np.where(expected.chosen >= 0, np.asarray(days)[expected.chosen], np.nan)
    np.testing.assert_array_equal(composite["day"], day_expected)
    np.testing.assert_array_equal(clear["clear"], (~shadowed).sum(axis=0))
    # the slope: lit under the autumn sun only, so its latest clear look is that scene's; the
    # flat ground: the last winter scene's
    inner = (slice(2, -2), slice(2, 8))
    assert shadowed[1:, inner[0], inner[1]].all() and not shadowed[0].any()
    assert (composite["day"][inner] == days[0]).all()
    assert (composite["day"][:, 11:] == days[2]).all()

    # where the DEM has no value the ground is taken as lit, as the archive takes a scene whose
    # angles are unknown: its views, and its neighbours' (whose slope is unknown too), are kept
    void = dem.copy()
    void[:, :2] = np.nan
    inputs["T/dem"] = {"elevation": void}
    _, clear = _evaluate(graph, inputs, properties, 3)
    slope, aspect = slope_aspect(void, 10.0)
    unknown = ~np.isfinite(slope)
    assert unknown[:, :3].all()  # the void and the column next to it
    assert (clear["clear"][unknown] == 3).all()
    expected = (~self_shadowed(slope, aspect, np.array(zeniths), np.array(azimuths))).sum(axis=0)
    np.testing.assert_array_equal(clear["clear"], expected)
