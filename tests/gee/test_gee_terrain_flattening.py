"""The terrain-flattening graph (Vollrath et al. 2020) evaluated with numpy equals the archive's
numpy implementation (``monitor.sources.terrain_flattening``), pixel for pixel."""

from __future__ import annotations

from typing import cast

import ee
import numpy as np
import pytest

from gee_scripts.offline import find_invocations, graph_tree
from gee_scripts.terrain_flattening import SIGN_CHECK_BANDS, flatten, sign_check_image, vegetated
from models.worldcover import BARE, MANGROVES, MOSS_LICHEN, VEGETATED, WORLDCOVER_CLASSES
from monitor.sources.terrain_flattening import (
    TerrainModel,
    flattening_correction_db,
    slope_aspect,
    track_geometry,
)
from tests.gee.gee_numpy_eval import GraphEvaluator

RES = 10.0


def _scene(n: int = 64, seed: int = 3) -> dict[str, dict[str, np.ndarray]]:
    """A DEM with a steep ridge (layover and shadow for a sensor looking east) and a GRD scene
    whose incidence angle grows eastward from 32° to 42°."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    ridge = 900.0 * np.exp(-((xx - n / 2) ** 2) / (2 * 6.0**2))
    hills = 60.0 * np.sin(yy / 7.0) * np.cos(xx / 9.0)
    dem = ridge + hills + 300.0
    angle = np.broadcast_to(np.linspace(32.0, 42.0, n), (n, n)).copy()
    sigma0_db = {p: rng.normal(-12.0 if p == "VV" else -18.0, 2.0, (n, n)) for p in ("VV", "VH")}
    s1 = {p: 10.0 ** (v / 10.0) for p, v in sigma0_db.items()} | {"angle": angle}
    landcover = np.where(xx < n / 3, 10.0, np.where(yy < n / 2, 60.0, 40.0))  # tree/bare/crop
    return {
        "T/dem": {"elevation": dem},
        "T/s1": s1,
        "T/lc": {"landcover": landcover},
        "db": sigma0_db,
    }


@pytest.mark.parametrize("model", ["volume", "surface", "landcover"])
def test_graph_matches_archive_numpy(model: str) -> None:
    scene = _scene()
    image = flatten(ee.Image("T/s1"), ee.Image("T/dem"), model=model, landcover=ee.Image("T/lc"))
    out = GraphEvaluator(scene, res=RES)(graph_tree(image))
    assert list(out) == ["VV", "VH", "layover", "shadow", "liaDeg"]

    slope, aspect = slope_aspect(scene["T/dem"]["elevation"], RES)
    # The angle grows eastward: the sensor looks east (azimuth 90°). The reference runs in
    # float64 as the evaluator does: float32 trigonometry differs between CPUs in the last bits,
    # which the correction amplifies near grazing incidence (see test_gee_s1_numeric).
    angle = scene["T/s1"]["angle"]
    geometry = track_geometry(slope, aspect, angle, look_azimuth_deg=90.0, dtype=np.float64)
    per_pixel = np.isin(scene["T/lc"]["landcover"], VEGETATED)  # volume where vegetated
    correction = flattening_correction_db(
        geometry, per_pixel if model == "landcover" else cast(TerrainModel, model), dtype=np.float64
    )

    assert geometry.layover.sum() > 10 and geometry.shadow.sum() > 10  # the test has teeth
    np.testing.assert_array_equal(out["layover"] == 1, geometry.layover)
    np.testing.assert_array_equal(out["shadow"] == 1, geometry.shadow)
    # Both sides in float64 from the same slope and aspect: they agreed to 3e-13 here; 1e-6
    # leaves float64 libm differences between CPUs (a few ulp, amplified at most ~1e3 times
    # near grazing incidence) a margin of 1e6 and still fails on any float32 step (~1e-3).
    np.testing.assert_allclose(out["liaDeg"], geometry.lia_deg, atol=1e-6)
    for pol in ("VV", "VH"):
        expected = scene["db"][pol] + correction
        got = 10.0 * np.log10(out[pol])
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, atol=1e-6, equal_nan=True)
    # Flattening changes backscatter by several dB on this relief.
    assert np.nanmax(np.abs(correction)) > 3.0


def test_volume_model_classes_are_the_archive_s() -> None:
    """The graph applies the volume model on :data:`models.worldcover.VEGETATED` (mangroves
    included, bare ground and moss not), the set the archive source uses too."""
    landcover = np.tile(np.array(sorted(WORLDCOVER_CLASSES), float), (3, 1))
    out = GraphEvaluator({"T/lc": {"landcover": landcover}}, res=RES)(
        graph_tree(vegetated(ee.Image("T/lc")))
    )
    (mask,) = out.values()
    np.testing.assert_array_equal(mask == 1, np.isin(landcover, VEGETATED))
    assert MANGROVES in VEGETATED and BARE not in VEGETATED and MOSS_LICHEN not in VEGETATED


def test_sign_check_image_has_the_terms_of_the_flattening() -> None:
    """The bands `gee check` judges are the flattening's own: γ0 before, γ0 after (= the
    archive's flattened value), αr and the layover mask."""
    scene = _scene()
    image = sign_check_image(ee.Image("T/s1"), ee.Image("T/dem"), model="volume")
    out = GraphEvaluator(scene, res=RES)(graph_tree(image))
    assert list(out) == list(SIGN_CHECK_BANDS)
    slope, aspect = slope_aspect(scene["T/dem"]["elevation"], RES)
    geometry = track_geometry(slope, aspect, scene["T/s1"]["angle"], look_azimuth_deg=90.0)
    correction = flattening_correction_db(geometry, "volume")
    gamma0 = scene["db"]["VV"] - 10.0 * np.log10(np.cos(np.radians(scene["T/s1"]["angle"])))
    np.testing.assert_allclose(out["gamma0_db"], gamma0, atol=1e-4)
    np.testing.assert_allclose(out["flat_db"], scene["db"]["VV"] + correction, atol=1e-3)
    np.testing.assert_array_equal(np.isnan(out["flat_db"]), np.isnan(correction))
    np.testing.assert_allclose(out["alpha_r_deg"], geometry.alpha_r_deg, atol=1e-3)
    np.testing.assert_array_equal(out["layover"] == 1, geometry.layover)


def _flattening_division(model: str) -> dict:
    """The ``γ0 / SCF`` node: an Image.divide whose dividend is σ0 / cos θi."""
    tree = graph_tree(flatten(ee.Image("T/s1"), ee.Image("T/dem"), model=model))
    for node in find_invocations(tree, "Image.divide"):
        dividend = node["args"]["image1"]
        if (
            dividend.get("fn") == "Image.divide"
            and dividend["args"]["image2"].get("fn") == "Image.cos"
        ):
            return node
    raise AssertionError("no γ0 / SCF division in the graph")


def test_scf_structure_per_model() -> None:
    # Volume: SCF = tan(90° - θi + αr) / tan(90° - θi).
    scf = _flattening_division("volume")["args"]["image2"]
    assert scf["fn"] == "Image.divide"
    assert scf["args"]["image1"]["fn"] == "Image.tan" and scf["args"]["image2"]["fn"] == "Image.tan"
    # Surface: SCF = cos(90° - θi) / (cos αaz · cos(90° - θi + αr)).
    scf = _flattening_division("surface")["args"]["image2"]
    assert scf["fn"] == "Image.divide" and scf["args"]["image1"]["fn"] == "Image.cos"
    denominator = scf["args"]["image2"]
    assert denominator["fn"] == "Image.multiply"
    assert {denominator["args"]["image1"]["fn"], denominator["args"]["image2"]["fn"]} == {
        "Image.cos"
    }


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown terrain model 'flat'"):
        flatten(ee.Image("T/s1"), ee.Image("T/dem"), model="flat")
    with pytest.raises(ValueError, match="'landcover' needs the land-cover image"):
        flatten(ee.Image("T/s1"), ee.Image("T/dem"), model="landcover")


def test_buffer_grows_the_masks() -> None:
    tree = graph_tree(flatten(ee.Image("T/s1"), ee.Image("T/dem"), buffer_m=30.0))
    kernels = list(find_invocations(tree, "Kernel.circle"))
    assert kernels and kernels[0]["args"]["radius"] == 30.0
    assert len(list(find_invocations(tree, "Image.focalMax"))) == 2
