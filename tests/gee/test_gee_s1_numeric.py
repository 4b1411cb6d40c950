"""The Sentinel-1 graph (border-noise mask on linear power, terrain flattening, dB, median,
count) evaluated with numpy equals the archive's arithmetic (flattening correction in dB, then
the per-pixel median) on the same scenes. The scenes are served as ``COPERNICUS/S1_GRD_FLOAT``
holds them: σ0 as linear power."""

from __future__ import annotations

import ee
import numpy as np
import pytest

from gee_scripts import sentinel1
from gee_scripts.assembly import _geometry_layers
from gee_scripts.offline import graph_tree
from gee_scripts.settings import S1Settings
from monitor.sources.archive_composite import Radar
from monitor.sources.composite import nan_median
from monitor.sources.terrain_flattening import (
    flattening_correction_db,
    slope_aspect,
    track_geometry,
)
from tests.gee.gee_numpy_eval import GraphEvaluator


def test_flattened_median_matches_the_archive() -> None:
    rng = np.random.default_rng(5)
    n, size = 5, 40
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dem = 400.0 + 250.0 * np.sin(xx / 6.0) * np.cos(yy / 8.0)
    angle = np.broadcast_to(np.linspace(33.0, 43.0, size), (size, size)).copy()
    vv = rng.normal(-11.0, 2.5, (n, size, size))
    vh = vv - rng.uniform(5.0, 9.0, (n, size, size))
    vv[0, :, :4] = -35.0  # GRD border noise on one scene: below -30 dB, masked by the edge mask
    inputs = {"T/dem": {"elevation": dem}}
    for i in range(n):
        linear = {"VV": 10.0 ** (vv[i] / 10.0), "VH": 10.0 ** (vh[i] / 10.0)}
        inputs[f"T/grd_{i}"] = linear | {"angle": angle}
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/grd_{i}") for i in range(n)])
    s1 = S1Settings(terrain_model="volume")
    flat = sentinel1.flattened_collection(scenes, ee.Image("T/dem"), s1)
    graph = graph_tree(
        ee.List([sentinel1.median_db(flat, "post"), sentinel1.observation_count(flat, "n")])
    )
    median, count = GraphEvaluator(inputs)(graph)

    # The reference runs the archive's formulas in float64, as the evaluator runs the graph (both
    # from the same float32 slope and aspect). In float32 the correction is ill-conditioned near
    # grazing incidence (33 dB here): it differed by 0.00095 dB on one AMD EPYC and by 0.0017 dB
    # on another, whose float32 arctan/cos differ in the last bits. In float64 the two agree to
    # 1.6e-6 dB; 1e-4 dB leaves room for the float32 rounding of the stored medians (40 dB
    # x 2**-24 = 2.4e-6 dB) with a margin of 40.
    slope, aspect = slope_aspect(dem, 10.0)
    geometry = track_geometry(slope, aspect, angle, look_azimuth_deg=90.0, dtype=np.float64)
    correction = flattening_correction_db(geometry, "volume", dtype=np.float64)
    edge = np.zeros((n, size, size), bool)
    edge[0, :, :4] = True
    for name, db in (("postVV", vv), ("postVH", vh)):
        flattened = np.where(edge, np.nan, db + correction[None])
        expected, expected_count = nan_median(flattened.astype(np.float32))
        np.testing.assert_allclose(median[name], expected, atol=1e-4, equal_nan=True)
    np.testing.assert_array_equal(count["n"], expected_count)
    # The test has teeth: the edge-masked scene is left out, layover/shadow pixels are empty,
    # and flattening moves backscatter by more than 1 dB somewhere.
    valid = np.isfinite(correction)
    assert (expected_count[:, :4][valid[:, :4]] == n - 1).all()
    assert (expected_count[~valid] == 0).all() and (~valid).sum() > 0
    assert np.nanmax(np.abs(correction)) > 1.0


def test_zero_vh_power_is_masked_not_minus_infinity_in_the_mean() -> None:
    """Thermal-noise removal can leave VH at zero power: its dB is -inf, which entered the
    monitoring mean (found by a user who knows Earth Engine); the archive drops such values."""
    size, n = 20, 3
    dem = np.full((size, size), 500.0)
    angle = np.full((size, size), 38.0)
    inputs: dict[str, dict[str, np.ndarray]] = {"T/dem": {"elevation": dem}}
    for i in range(n):
        vh = np.full((size, size), 10.0 ** (-18.0 / 10.0))
        if i == 1:
            vh[:, :5] = 0.0
        inputs[f"T/grd_{i}"] = {"VV": np.full((size, size), 0.1), "VH": vh, "angle": angle}
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/grd_{i}") for i in range(n)])
    s1 = S1Settings(terrain_model="volume")
    flat = sentinel1.flattened_collection(scenes, ee.Image("T/dem"), s1)
    (mean,) = GraphEvaluator(inputs)(graph_tree(ee.List([sentinel1.mean_db(flat, "post")])))
    # flat ground, the same power in every scene: the mean is one value everywhere, where
    # scene 1's VH was zero (left out) as elsewhere; VV is kept there
    assert np.isfinite(mean["postVH"]).all()
    np.testing.assert_allclose(mean["postVH"], mean["postVH"][0, -1], atol=1e-6)
    np.testing.assert_allclose(mean["postVV"], mean["postVV"][0, -1], atol=1e-6)
    assert mean["postVV"][0, -1] - mean["postVH"][0, -1] == pytest.approx(8.0, abs=1e-6)


def test_geometry_layers_stay_where_the_border_noise_mask_drops_backscatter() -> None:
    """Radar shadow holds only thermal noise, which Earth Engine's noise removal leaves near
    zero power: below the border-noise threshold (-30 dB). The mask dropped the whole scene
    there, the ``angle`` band too, so θi, and with it the scene's ``shadow`` and ``liaDeg``,
    were masked: on a slope every scene shadows, ``shadow`` and ``liaDeg`` came back NaN, where
    the archive (geometry from the DEM and the track, whatever the backscatter) has 1 and the
    local incidence angle. The mask drops VV and VH only."""
    size, n = 40, 3
    dem = np.tile(
        np.where(np.arange(size) < 20, 800.0, 800.0 - 20.0 * (np.arange(size) - 19)), (size, 1)
    )
    angle = np.broadcast_to(np.linspace(36.0, 40.0, size), (size, size)).copy()
    slope, aspect = slope_aspect(dem, 10.0)
    geometry = track_geometry(slope, aspect, angle, look_azimuth_deg=90.0, dtype=np.float64)
    inputs = {"T/dem": {"elevation": dem}}
    for i in range(n):
        vv = np.full((size, size), 0.05)
        vv[geometry.shadow] = 0.0  # noise removed: no power left in the shadow
        inputs[f"T/grd_{i}"] = {"VV": vv, "VH": vv / 5.0, "angle": angle}
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/grd_{i}") for i in range(n)])
    flat = sentinel1.flattened_collection(
        scenes, ee.Image("T/dem"), S1Settings(terrain_model="volume")
    )
    track = {"relativeOrbitNumber_start": 88}  # one track: the geometry layers reduce per track
    properties = {f"T/grd_{i}": track for i in range(n)}
    (layers, median) = GraphEvaluator(inputs, properties=properties)(
        graph_tree(ee.List([_geometry_layers(flat), sentinel1.median_db(flat, "post")]))
    )

    radar = Radar(size, size)
    radar.add_geometry([geometry] * n)
    assert geometry.shadow[:, 1:-1].sum() > 100  # a shadowed slope with teeth
    inner = (slice(None), slice(1, -1))  # central differences: the DEM's edge columns differ
    np.testing.assert_array_equal(layers["shadow"][inner], radar.shadow[inner])
    np.testing.assert_array_equal(layers["layover"][inner], radar.layover[inner])
    np.testing.assert_allclose(layers["liaDeg"][inner], radar.lia[inner], atol=1e-3)
    # backscatter itself is still masked there (as it is in shadow anyway), and kept elsewhere
    assert np.isnan(median["postVV"][geometry.shadow]).all()
    assert np.isfinite(median["postVV"][inner][~geometry.shadow[inner]]).all()
