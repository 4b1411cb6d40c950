"""The Sentinel-2 graph (Cloud Score+ mask, reflectance, NDVI, greenest pixel, clear count,
acquisition day) evaluated with numpy equals the archive's greenest-pixel compositor
(``monitor.sources.composite.greenest_pixel``) on the same scenes and the same mask."""

from __future__ import annotations

import ee
import numpy as np
from gee_numpy_eval import GraphEvaluator

from gee_scripts import sentinel2
from gee_scripts.offline import graph_tree
from gee_scripts.settings import AssetIds, CloudMaskSettings
from monitor.sources.composite import greenest_pixel

DAY_MS = 86_400_000


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
    evaluator = GraphEvaluator(
        inputs,
        properties=properties,
        collections={assets.cloud_score_plus: [f"T/cs_{i}" for i in range(n)]},
    )
    composite, clear = evaluator(graph)

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
    evaluator = GraphEvaluator(
        inputs,
        properties=properties,
        collections={assets.cloud_score_plus: [f"T/cs_{i}" for i in range(3)]},
    )
    (clear,) = evaluator(graph_tree(ee.List([sentinel2.clear_count(masked, "clear")])))
    clear_image = cs_cdf >= 0.6
    expected = (clear_image[0] | clear_image[1]).astype(int) + clear_image[2]
    np.testing.assert_array_equal(clear["clear"], expected)
    both = clear_image[0] & clear_image[1]
    assert both[:, 3].sum() > 0  # the strip both tiles saw clear, counted once
    assert clear["clear"].max() <= 2
