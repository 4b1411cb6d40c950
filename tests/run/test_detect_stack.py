"""``landslide-monitor detect --stack``: a stack in the Ganerød et al. layout written in the test
goes through the daily run's chain and comes out as polygons and Cloud-Optimised GeoTIFFs."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr

import models.ensemble
from models.ensemble import DEFAULT_MANIFEST
from models.feature_stack import MODEL_BANDS
from models.manifest import sha256_file
from models.object_filter import ObjectFilterModel
from monitor.cli import main
from tests.run.chain_fixtures import CRS, TRANSFORM, hill_and_plain


class ChangeEnsemble:
    """Stands in for the ensemble: probability 0.95 where dNDVI < -0.3, else 0.02."""

    settings: tuple[str, ...] = ("S1+S2", "S1", "S2")

    def __init__(self) -> None:
        self.object_filter = ObjectFilterModel.from_manifest(DEFAULT_MANIFEST)

    def predict(self, stack: xr.Dataset, setting: str, *, device: str | None = None) -> xr.Dataset:
        change = stack["dNDVI"].values < -0.3
        values = {
            "probability": np.where(change, 0.95, 0.02),
            "spread": np.where(change, 0.03, 0.01),
            "agreement": np.where(change, 1.0, 0.0),
        }
        out = xr.Dataset(
            {k: (("y", "x"), v.astype(np.float32)) for k, v in values.items()},
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": 0.5, "setting": setting, "members": "stand-in"},
        )
        return out.rio.write_crs(stack.rio.crs).rio.write_transform(stack.rio.transform())


@pytest.fixture
def stack_file(tmp_path: Path) -> Path:
    bands = hill_and_plain().bands()
    path = tmp_path / "event" / "hill_input.tif"
    path.parent.mkdir()
    profile = dict(driver="GTiff", dtype="float32", count=15, crs=CRS, transform=TRANSFORM)
    with rasterio.open(path, "w", height=bands.shape[1], width=bands.shape[2], **profile) as dst:
        dst.write(bands)
    return path


def test_detect_stack_writes_polygons_and_cogs(stack_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack_file.parent), "--out", str(out), "-q"]) == 0
    # the clear-cut on the plain falls to the default flat-ground rule (mean slope < 5 degrees)
    assert "1 of 1 stack(s) detected: 1 candidate(s), 0 suppressed" in capsys.readouterr().out

    polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert polygons.crs == CRS
    assert polygons["scene"].tolist() == ["hill"]
    assert polygons["area_m2"].tolist() == [10_000.0]
    assert polygons["slope_mean"].tolist() == [pytest.approx(25.0)]
    assert not polygons["suppressed"].iloc[0]
    score = float(polygons["filter_score"].iloc[0])
    assert 0.0 < score < 1.0

    for name, inside in (("probability", 0.95), ("spread", 0.03)):
        with rasterio.open(out / f"hill_{name}.tif") as cog:
            assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert cog.profile["tiled"] and cog.block_shapes == [(256, 256)]
            assert cog.overviews(1) == [2, 4]  # 160 px -> 80 -> 40: halved until <= 64
            assert cog.crs == CRS and cog.transform == TRANSFORM
            assert cog.descriptions == (name,)
            values = cog.read(1)
            assert values[50, 120] == pytest.approx(inside)  # inside the scar


def test_a_kill_between_the_cog_renames_leaves_no_pair_of_two_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process killed after the probability's rename and before the spread's (SIGKILL runs no
    handler; here the second rename never happens) left the new probability beside the spread
    of the run before it, which a GIS user would read as one run's pair."""
    from monitor.pipeline.chain import write_cogs

    y = 5_000_000.0 - (np.arange(64) + 0.5) * TRANSFORM.a
    x = 500_000.0 + (np.arange(64) + 0.5) * TRANSFORM.a
    stack = xr.Dataset({"dem": (("y", "x"), np.zeros((64, 64)))}, coords={"y": y, "x": x})
    stack = stack.rio.write_crs(CRS).rio.write_transform(TRANSFORM)

    def prediction(value: float) -> xr.Dataset:
        layer = (("y", "x"), np.full((64, 64), value, dtype=np.float32))
        return xr.Dataset({"probability": layer, "spread": layer}, coords=stack.coords)

    write_cogs(prediction(0.25), stack, tmp_path, "r")
    real_replace = Path.replace

    def killed_before_the_spread(self: Path, target: Path) -> Path:
        if Path(target).name == "r_spread.tif":
            raise SystemExit("killed")
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", killed_before_the_spread)
    with pytest.raises(SystemExit):
        write_cogs(prediction(0.75), stack, tmp_path, "r")
    with rasterio.open(tmp_path / "r_probability.tif") as cog:
        assert float(cog.read(1)[0, 0]) == 0.75
    assert not (tmp_path / "r_spread.tif").exists()  # missing, not the earlier write's 0.25


def test_detect_stack_cut_suppresses(stack_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    args = ["detect", "--stack", str(stack_file), "--out", str(out), "--cut", "0.999", "-q"]
    assert main(args) == 0
    assert "1 candidate(s), 1 suppressed" in capsys.readouterr().out
    assert gpd.read_file(out / "detections.gpkg")["suppressed"].tolist() == [True]


def test_the_summary_says_what_drew_the_polygons_and_evaluate_names_it(
    stack_file, tmp_path, monkeypatch, capsys
):
    """Found by a user comparing two chains: neither summary.json nor the chain report named the
    manifest that drew the polygons, and `evaluate --chain --manifest M` took M and ignored it."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack_file), "--out", str(out), "--no-filter", "-q"]) == 0
    model = json.loads((out / "summary.json").read_text())["model"]
    assert model == {
        "config": None,
        "region": None,
        "manifest": str(DEFAULT_MANIFEST.resolve()),
        "manifest_sha256": sha256_file(DEFAULT_MANIFEST),
        "baseline": None,
        "vegetation_loss": True,
        "filter": False,
        "cut": None,
    }
    from models.chain_metrics import _model_line

    assert _model_line(model) == (
        f"Drawn by the ensemble {DEFAULT_MANIFEST.resolve()} (SHA-256 "
        f"{sha256_file(DEFAULT_MANIFEST)[:12]}...), no object filter."
    )
    again = ["detect", "--stack", str(stack_file), "--out", str(out), "--no-filter", "-q"]
    assert main([*again, "--no-vegetation-loss"]) == 0
    model = json.loads((out / "summary.json").read_text())["model"]
    assert model["vegetation_loss"] is False
    assert _model_line(model).endswith(
        "no object filter, without the net for large vegetation loss."
    )
    from models.cli import main as models_main

    capsys.readouterr()
    argv = ["evaluate", "--chain", str(out), "--data", str(tmp_path), "--manifest", "m.json"]
    assert models_main(argv) == 2
    assert "--manifest is not read" in capsys.readouterr().err


def test_a_region_without_its_configuration_or_a_missing_manifest_is_refused(
    stack_file, tmp_path, capsys
):
    """Found by a user: `--region R` without `--config` was ignored, silently (the default cut
    and rules ran), and a `--manifest` that was not there ended in a bare errno message, exit 1."""
    out = tmp_path / "out"
    base = ["detect", "--stack", str(stack_file), "--out", str(out)]
    assert main([*base, "--region", "valtellina-alps"]) == 2
    assert "--region valtellina-alps names a region of a configuration: give its --config" in (
        capsys.readouterr().err
    )
    assert main([*base, "--manifest", str(tmp_path / "nothere.json")]) == 2
    assert f"--manifest {tmp_path / 'nothere.json'}: no such file" in capsys.readouterr().err
    assert not out.exists()


def test_detect_stack_refuses_what_is_not_a_stack(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["detect", "--stack", str(tmp_path / "notes.txt"), "--out", str(tmp_path)]) == 2
    assert "a stack is named <id>_input.tif" in capsys.readouterr().err


def _write(path: Path, bands: np.ndarray, **profile: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = dict(
        driver="GTiff", dtype="float32", count=len(bands), crs=CRS, transform=TRANSFORM
    )
    meta.update(profile)
    with rasterio.open(path, "w", height=bands.shape[1], width=bands.shape[2], **meta) as dst:
        dst.write(bands.astype(meta["dtype"]))
    return path


def test_a_stack_in_degrees_or_feet_is_refused_before_anything_is_written(tmp_path, capsys):
    """Earth Engine exports in EPSG:4326 unless told otherwise: its areas would be in square
    degrees, and every object would fall below the 900 m² minimum without a word."""
    from affine import Affine

    bands = hill_and_plain().bands()
    good = _write(tmp_path / "in" / "a_input.tif", bands)
    degrees = Affine(0.0001, 0.0, 9.5, 0.0, -0.0001, 46.2)  # Valtellina, UTM zone 32
    _write(tmp_path / "in" / "b_input.tif", bands, crs="EPSG:4326", transform=degrees)
    feet = Affine(32.8, 0.0, 700_000.0, 0.0, -32.8, 2_900_000.0)
    _write(tmp_path / "feet" / "c_input.tif", bands, crs="EPSG:2249", transform=feet)
    out = tmp_path / "out"

    assert main(["detect", "--stack", str(good.parent), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "b_input.tif: its CRS (EPSG:4326) is in degrees" in err
    assert "crs='EPSG:32632', scale=10" in err
    # without -dstnodata gdalwarp writes 0 in every band around the rotated footprint
    assert "gdalwarp -t_srs EPSG:32632 -tr 10 10 -r near -dstnodata nan IN OUT" in err
    assert not out.exists()  # not even the good stack's COGs

    assert main(["detect", "--stack", str(tmp_path / "feet"), "--out", str(out), "-q"]) == 2
    assert "c_input.tif: its CRS (EPSG:2249) is in US survey foot" in capsys.readouterr().err

    # Web Mercator is in metres, but its 10 m pixel covers 48 m² of ground at 46 degrees
    mercator = Affine(10.0, 0.0, 1_057_000.0, 0.0, -10.0, 5_810_000.0)
    _write(tmp_path / "merc" / "d_input.tif", bands, crs="EPSG:3857", transform=mercator)
    assert main(["detect", "--stack", str(tmp_path / "merc"), "--out", str(out), "-q"]) == 2
    assert "d_input.tif: its CRS (EPSG:3857) distorts areas 2.09 times" in capsys.readouterr().err

    # a bad header after a good stack: refused before the good one's COGs are written
    _write(tmp_path / "ints" / "a_input.tif", bands)
    _write(tmp_path / "ints" / "b_input.tif", np.round(bands), dtype="int16")
    assert main(["detect", "--stack", str(tmp_path / "ints"), "--out", str(out), "-q"]) == 2
    assert "b_input.tif: bands stored as int16" in capsys.readouterr().err
    assert not out.exists()


def test_other_pixel_sizes_run_with_a_warning_in_the_summary(tmp_path, monkeypatch):
    import json

    from affine import Affine

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    coarse = Affine(30.0, 0.0, 500_000.0, 0.0, -30.0, 5_000_000.0)
    bands = hill_and_plain().bands()
    bands[MODEL_BANDS.index("elevation")] *= 3  # the hill's slopes over pixels of 30 m
    path = _write(tmp_path / "s30_input.tif", bands, transform=coarse)
    assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["scenes"]["s30"]["warnings"] == [
        "pixels of 30 x 30 m: the members were trained on 10 m pixels (Sentinel-2's), their "
        "output at other sizes is untested"
    ]


def test_what_the_chain_warns_of_a_scene_goes_into_its_summary(tmp_path, monkeypatch):
    """Found in a walkthrough: the pixels without a radar observation left without a
    prediction were warned of in the log alone, while operations.md says summary.json holds
    the scene's warnings; and an ensemble without S2 members was advised S2 for them."""
    import json

    class GapEnsemble(ChangeEnsemble):
        settings = ("S1+S2", "S1")

        def predict(self, stack, setting, *, device=None):
            out = super().predict(stack, setting, device=device)
            gap = np.isnan(stack["postVV"].values)
            out["probability"].values[gap] = np.nan
            return out

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: GapEnsemble())
    )
    bands = hill_and_plain().bands()
    for name in ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH"):
        bands[MODEL_BANDS.index(name)][:, :20] = np.nan  # a swath's edge
    path = _write(tmp_path / "gap_input.tif", bands)
    assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    (warning,) = summary["scenes"]["gap"]["warnings"]
    assert "pixels without a radar observation but with a clear optical view" in warning
    assert warning.endswith("(the ensemble has no S2 members to predict them)")


@pytest.mark.parametrize("nodata", [np.nan, 0.0, "flags unmasked to 0"])
def test_a_stack_clipped_to_an_outline_is_judged_on_its_footprint(tmp_path, monkeypatch, nodata):
    """Earth Engine's ``clip`` to a region's outline leaves the rest of the export's bounding
    box without any band: those pixels are outside the stack, not unobserved. Counted as
    unobserved, the radar of this stack (every pixel inside has it) covered 44 % of the pixels,
    short of the 50 % a radar setting needs, and S2 ran alone. With a nodata of 0 (found in
    review) the bands whose 0 is a value (layover, shadow, canopy height) kept their 0 outside
    the footprint too, so the pixels outside still counted; and so they did (found on a walk)
    where an export unmasked those three to 0 and left the others NaN."""
    import json

    from models.datasets import read_input
    from monitor.pipeline.chain import stack_from_scene
    from monitor.pipeline.setting import coverage

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    zero_is_a_value = [MODEL_BANDS.index(n) for n in ("layover", "shadow", "canopy_height")]
    if nodata == 0:  # an exact 0 of another band is no data then (dVV of unchanged ground)
        for i in set(range(len(MODEL_BANDS))) - set(zero_is_a_value):
            bands[i][bands[i] == 0] = 1e-3
        # found in review: with nodata 0 the value checks read every 0 of the flags as no
        # data, and six layover pixels made "layover is 1 on 100 %" of an inverted mask
        bands[MODEL_BANDS.index("layover"), :2, 150:153] = 1.0
    unmasked = nodata == "flags unmasked to 0"
    nodata = np.nan if unmasked else nodata
    bands[:, :, :90] = nodata  # the outline keeps the hill's 70 easternmost columns of 160
    if unmasked:
        bands[zero_is_a_value, :, :90] = 0.0
    path = _write(tmp_path / "valley_input.tif", bands, nodata=nodata)
    image = read_input(path).image
    assert np.isnan(image[:, :, :90]).all() and not np.isnan(image[:, :, 90:]).any()
    shares = coverage(stack_from_scene(read_input(path)))
    assert shares["radar"] == pytest.approx(1.0)
    assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    scene = json.loads((tmp_path / "out" / "summary.json").read_text())["scenes"]["valley"]
    assert (scene["status"], scene["setting"], scene["candidates"]) == ("ok", "S1+S2", 1)
    # what evaluate --chain checks its labelled inputs against
    assert (scene["stack"], scene["sha256"]) == (str(path), sha256_file(path))


def test_a_stack_whose_no_data_is_an_internal_mask_runs_on_its_footprint(tmp_path, monkeypatch):
    """Found on a walk: a stack that declares its no data with a mask band (GDAL's internal
    mask, ``gdal_translate -mask``, rasterio's ``write_mask``), whose masked pixels hold 0 in
    every band, was refused as 'a no-data fill the file does not declare', with a fix that
    changed nothing: the reader honours the mask, the value checks read the pixels under it."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    bands[:, :, :90] = 0.0  # the hill's 70 easternmost columns of 160 are the footprint
    path = _write(tmp_path / "masked_input.tif", bands)
    mask = np.full(bands.shape[1:], 255, np.uint8)
    mask[:, :90] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "r+") as dst:
        dst.write_mask(mask)
    assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    scene = json.loads((tmp_path / "out" / "summary.json").read_text())["scenes"]["masked"]
    assert (scene["status"], scene["setting"], scene["candidates"]) == ("ok", "S1+S2", 1)
    from models.datasets import read_input

    image = read_input(path).image  # what the chain reads: no data outside the footprint
    assert np.isnan(image[:, :, :90]).all() and not np.isnan(image[:, :, 90:]).any()


def test_a_stack_of_one_pixel_runs(tmp_path, monkeypatch):
    """Found on a walk: a stack of one pixel (an export of a point's region) ended with
    'SystemError: Unknown GDAL Error' (exit status 1): its COGs asked GDAL for an overview of a
    single pixel."""
    from affine import Affine

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    pixel = hill_and_plain().bands()[:, 50:51, 120:121]
    path = _write(
        tmp_path / "dot_input.tif", pixel, transform=TRANSFORM * Affine.translation(120, 50)
    )
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(path), "--out", str(out), "-q"]) == 0
    with rasterio.open(out / "dot_probability.tif") as cog:
        assert cog.shape == (1, 1) and cog.read(1)[0, 0] == pytest.approx(0.95)


def test_a_strip_one_pixel_wide_through_a_landslide_runs(tmp_path, monkeypatch):
    """Found on a user walkthrough (2026-12-06): the edge tile of a gdal_translate -srcwin tiling,
    one pixel wide, ended the whole folder's run when it crossed a landslide (numpy's gradient,
    in the object filter's features, needs two pixels along each axis)."""
    from affine import Affine

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    # column 118 crosses the hill's landslide over 25 pixels: a candidate the filter scores
    piece = hill_and_plain().bands()[:, :, 118:119]
    shifted = TRANSFORM * Affine.translation(118, 0)
    path = _write(tmp_path / "strip_input.tif", piece, transform=shifted)
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(path), "--out", str(out), "-q"]) == 0  # it was 1
    polygons = gpd.read_file(out / "detections.gpkg")
    assert len(polygons) >= 1 and polygons["filter_score"].notna().all()


def test_a_stack_with_an_empty_model_band_says_why_its_setting_was_chosen(
    tmp_path, monkeypatch, caplog
):
    """Found on a walk: a stack exported without WorldCover (landcover all no data) ran
    radar-only (S1: the optical settings need landcover) and missed the hill's landslide;
    summary.json said only "setting": "S1", with no word of the empty band or of why."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    bands[MODEL_BANDS.index("landcover")] = np.nan
    path = _write(tmp_path / "nolc_input.tif", bands)
    with caplog.at_level("WARNING", logger="monitor.ops.detect_stack"):
        assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    scene = json.loads((tmp_path / "out" / "summary.json").read_text())["scenes"]["nolc"]
    assert scene["setting"] == "S1"
    assert scene["setting_reason"].endswith("empty bands: landcover; not S1+S2 (needs landcover)")
    warning = "model bands without any value: landcover (the settings that need them do not run)"
    assert scene["warnings"] == [warning]
    assert f"{path}: {warning}" in caplog.messages


def test_a_land_cover_of_no_data_runs_and_is_said(tmp_path, monkeypatch, caplog):
    """Found on a user walkthrough (2026-12-06): a stack whose land cover is WorldCover's no
    data (0) ran S1+S2 without a word; the members read 0 as a code they never saw. They still
    score above the radar-only fallback there (bench/bench_input_reliance.py), so it runs, and
    the summary and the log say it."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    bands[MODEL_BANDS.index("landcover")] = 0.0
    path = _write(tmp_path / "lc0_input.tif", bands)
    with caplog.at_level("WARNING", logger="monitor.ops.detect_stack"):
        assert main(["detect", "--stack", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    scene = json.loads((tmp_path / "out" / "summary.json").read_text())["scenes"]["lc0"]
    assert scene["setting"] == "S1+S2"
    (warning,) = scene["warnings"]
    assert warning.startswith(
        "landcover holds no data (0, ESA WorldCover's fill) on 100.0% of the pixels: the S2 and "
        "S1+S2 members, which read it, were trained with a class on every pixel"
    )
    assert f"{path}: {warning}" in caplog.messages


def test_a_scene_without_detection_leaves_no_earlier_rasters_in_the_folder(
    stack_file, tmp_path, monkeypatch
):
    """Run again into the same folder, a scene that now gives no detection (no sensor's bands)
    kept the COGs of the earlier run beside a summary that says it has none."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    args = ["detect", "--stack", str(stack_file), "--out", str(out), "-q"]
    assert main(args) == 0
    assert (out / "hill_probability.tif").is_file()
    bands = hill_and_plain().bands()
    blind = [MODEL_BANDS.index(b) for b in ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH")]
    bands[[*blind, MODEL_BANDS.index("dNDVI")]] = np.nan
    _write(stack_file, bands)
    assert main(args) == 0
    hill = json.loads((out / "summary.json").read_text())["scenes"]["hill"]
    assert (hill["status"], hill["sha256"]) == ("no-data", sha256_file(stack_file))
    assert sorted(p.name for p in out.iterdir()) == ["detections.gpkg", "summary.json"]


def test_a_folder_names_the_stacks_it_does_not_run(stack_file, caplog):
    """Found by a new user: in a folder of exports, a stack named a_input.tiff or B_INPUT.TIF
    was skipped without a word (the layout's name is <id>_input.tif)."""
    from monitor.ops.detect_stack import find_stacks

    folder = stack_file.parent
    for name in ("b_input.tiff", "C_INPUT.TIF", "notes.txt", "hill_label.tif"):
        (folder / name).write_bytes(b"")
    with caplog.at_level("WARNING", logger="monitor.ops.detect_stack"):
        assert find_stacks(folder) == [stack_file]
    assert caplog.messages == [
        f"{folder}: 2 file(s) not run, as a stack is named <id>_input.tif: C_INPUT.TIF, "
        "b_input.tiff"
    ]


def test_the_pieces_of_an_earth_engine_export_are_named_with_how_to_mosaic_them(
    stack_file, tmp_path, capsys, caplog
):
    """Found on a walk: Earth Engine splits a large export into <prefix>-<row>-<column>.tif
    pieces that do not overlap. A folder of them said only 'no *_input.tif in it', a piece
    given as the stack 'a stack is named <id>_input.tif', and beside a whole stack they were
    left out without a word. gdalbuildvrt drops the band names, so the command puts the
    named bands back in the layout's order."""
    from affine import Affine

    from monitor.ops.detect_stack import find_stacks

    bands = hill_and_plain().bands()[::-1]  # named, in reverse order
    pieces = tmp_path / "pieces"
    for row in (0, 64):
        for col in (0, 96):
            piece = _write(
                pieces / f"ev_input-{row:010d}-{col:010d}.tif",
                bands[:, row : row + 64, col : col + 96],
                transform=TRANSFORM * Affine.translation(col, row),
            )
            with rasterio.open(piece, "r+") as dst:
                dst.descriptions = tuple(MODEL_BANDS[::-1])
    mosaic = (
        "gdalbuildvrt ev.vrt ev_input-*.tif && gdal_translate "
        + " ".join(f"-b {15 - i}" for i in range(15))
        + " ev.vrt ev_input.tif"
    )
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(pieces), "--out", str(out), "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "4 piece(s) of the Earth Engine export ev (ev_input-0000000000-0000000000.tif" in err
    assert mosaic in err
    first = pieces / "ev_input-0000000000-0000000000.tif"
    assert main(["detect", "--stack", str(first), "--out", str(out), "-q"]) == 2
    assert mosaic in " ".join(capsys.readouterr().err.split())
    assert not out.exists()

    # beside a whole stack: the stack runs, the pieces are named
    (stack_file.parent / "ev_input-0000000000-0000000000.tif").write_bytes(first.read_bytes())
    with caplog.at_level("WARNING", logger="monitor.ops.detect_stack"):
        assert find_stacks(stack_file.parent) == [stack_file]
    (message,) = caplog.messages
    assert "1 piece(s) of the Earth Engine export ev" in message and "not run" in message
    caplog.clear()
    (stack_file.parent / "ev_input.tif").write_bytes(stack_file.read_bytes())  # mosaicked
    with caplog.at_level("WARNING", logger="monitor.ops.detect_stack"):
        assert len(find_stacks(stack_file.parent)) == 2
    assert caplog.messages == []

    # found in a walk: the pieces of GeeSource.export's files (<region>_<post start>, the 15
    # layout bands first of more) were not told as pieces, and the mosaic kept every band
    features = tmp_path / "features"
    extra = np.zeros((3, *bands.shape[1:]), np.float32)
    whole = np.concatenate([hill_and_plain().bands(), extra])
    for col in (0, 96):
        piece = _write(
            features / f"hills_2024-07-20-0000000000-{col:010d}.tif",
            whole[:, :, col : col + 96],
            transform=TRANSFORM * Affine.translation(col, 0),
        )
        with rasterio.open(piece, "r+") as dst:
            dst.descriptions = (*MODEL_BANDS, "s1_count", "s2_count", "s2_clear")
    assert main(["detect", "--stack", str(features), "--out", str(out), "-q"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "2 piece(s) of the Earth Engine export hills_2024-07-20 (hills_2024-07-20-00" in err
    assert (
        "gdalbuildvrt hills_2024-07-20.vrt hills_2024-07-20-*.tif && gdal_translate "
        + " ".join(f"-b {i + 1}" for i in range(15))
        + " hills_2024-07-20.vrt hills_2024-07-20_input.tif"
    ) in err
    for piece in features.iterdir():  # as gee_scripts.export writes them: no band names
        with rasterio.open(piece, "r+") as dst:
            dst.descriptions = (None,) * dst.count
    assert main(["detect", "--stack", str(features), "--out", str(out), "-q"]) == 2
    assert " ".join(f"-b {i + 1}" for i in range(15)) + " hills_2024-07-20.vrt" in " ".join(
        capsys.readouterr().err.split()
    )


def test_an_output_path_that_is_a_file_is_refused(stack_file, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    args = ["detect", "--stack", str(stack_file), "--out", str(tmp_path / "afile"), "-q"]
    assert main(args) == 2
    assert "afile: a file, not a folder" in capsys.readouterr().err
    # found in a walkthrough: under a file, exit 1 and NotADirectoryError after the ensemble loaded
    under = tmp_path / "afile" / "sub"
    assert main([*args[:-2], str(under), "-q"]) == 2
    assert f"--out {under}: {tmp_path / 'afile'} is a file, so nothing can" in (
        capsys.readouterr().err
    )


def test_a_stack_too_large_to_hold_in_memory_is_refused_before_anything_runs(
    stack_file, tmp_path, capsys
):
    """Found by a new user: the chain reads a whole stack into memory (5000 x 5000 pixels peaked
    at 6.9 GB), and one of 10 000 x 10 000 needs more than a 24 GB machine has: the system
    kills it with no message. A stack of
    more than --max-pixels (default: 2500 km² of 10 m pixels, the regions' default max_area_km2)
    is refused by name, with how to tile it, before the ensemble loads."""
    from monitor.ops.detect_stack import MAX_STACK_PIXELS

    assert MAX_STACK_PIXELS == 25_000_000
    with rasterio.open(stack_file) as src:
        width, height = src.width, src.height
    out = tmp_path / "out"
    args = ["detect", "--stack", str(stack_file), "--out", str(out), "-q"]
    assert main([*args, "--max-pixels", str(width * height - 1)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"{stack_file}: {width} x {height} pixels, more than the {width * height - 1:,} "
        "(--max-pixels) the chain holds in memory at once"
    ) in err
    side = math.isqrt(width * height - 1)
    assert height < side  # a window past the stack's edge is filled with 0 in every band
    assert (
        f"mkdir -p tiles && gdal_translate -srcwin 0 0 {side} {height} {stack_file.name} "
        "tiles/t_0_0_input.tif"
    ) in err
    assert "(one in an overlap is then drawn in both tiles)" in err
    assert not out.exists()
    assert main([*args, "--max-pixels", "0"]) == 2
    assert "--max-pixels 0: must be at least 1" in capsys.readouterr().err


def test_an_areal_scale_proj_cannot_compute_is_a_warning(stack_file, monkeypatch):
    import pyproj

    from monitor.ops import detect_stack

    assert detect_stack.check_stack(stack_file) == []

    def cannot(self, *args, **kwargs):
        raise pyproj.exceptions.ProjError("no derivative")

    monkeypatch.setattr(pyproj.Proj, "get_factors", cannot)
    (warning,) = detect_stack.check_stack(stack_file)
    assert "PROJ cannot tell how its CRS (EPSG:32633) scales areas" in warning

    class OffItsDomain:  # what PROJ gives off a projection's domain: no exception, inf
        areal_scale = float("inf")

    monkeypatch.setattr(pyproj.Proj, "get_factors", lambda self, *a, **k: OffItsDomain())
    (warning,) = detect_stack.check_stack(stack_file)
    assert "PROJ cannot tell how its CRS (EPSG:32633) scales areas" in warning


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("dNDVI x 100", "dNDVI spans -45 to 1; a difference of NDVIs lies in -2..2"),
        ("radar in linear power", "it looks like linear power (COPERNICUS/S1_GRD_FLOAT)"),
        ("radar in hundredths of dB", "preVV has a median of -800, where land in dB lies"),
        ("slope in percent", "slope spans"),
        # found by a new user: each of these ran without a word
        ("dVV as pre - post", "dVV is not postVV - preVV (it is pre - post)"),
        ("undeclared no-data", "dNDVI holds -9999, a no-data fill the file does not declare"),
        # Earth Engine's image.unmask(-9999) where radar saw nothing: it ran and drew 36
        # candidates where the same stack with NaN drew 26
        ("radar unmasked to -9999", "preVV holds -9999, a no-data fill the file does not"),
        # gdal_translate -srcwin past the stack's edge, gdalwarp without -dstnodata: 0 in all
        ("0 in every band past the edge", "800 pixel(s) hold 0 in all 15 bands"),
        # found on a walk: Earth Engine's image.unmask() (0 by default) where radar saw
        # nothing; the ensemble predicted a confident "no landslide" there, without the
        # warning that the same holes as NaN give
        ("radar unmasked to 0", "1600 pixel(s) hold 0 dB in preVV, postVV, preVH and postVH"),
        # found on a walk: a stack of unnamed bands with VH before VV ran without a word
        ("VV and VH swapped", "is above preVV (median"),
        ("slope empty", "slope has no value (all no data)"),
        # found on a walk: the object filter's terrain features were NaN and it suppressed
        # the hill's landslide (score 0.03 against 0.89 with the elevation)
        ("elevation empty", "elevation has no value (all no data)"),
        ("south-up", "its grid is not north-up"),
        # found on a walk: each of these ran without a word; inverted flags (1 where the
        # radar sees the ground, as Earth Engine masks) drew no candidate on a scene of 27
        # landslides, and kg_climate and landcover swapped tripled the false objects
        ("layover and shadow inverted", "layover is 1 on 100% of the stack's pixels"),
        ("layover as 0 and 255", "layover holds 255, where the layout holds 1 (layover)"),
        ("liaDeg in radians", "liaDeg spans 0.6632 to 0.6632: radians?"),
        # found in a review: shadow took the angle past pi / 2 in radians, past the old bound
        ("liaDeg in radians with shadow", "liaDeg spans 0.6632 to 1.641: radians?"),
        # found in a review: a cloudy post image unmasked to 0 ran as "clear optical 100%"
        ("cloudy post unmasked to 0", "dNDVI is 0 on every pixel, a fill where no clear view"),
        ("dNDVI in integers", "dNDVI holds whole numbers only (-1, 0)"),
        # found in a review: a slope in radians passed and the slope rule dropped every polygon
        ("slope in radians", "is the slope in radians? The layout holds it in degrees"),
        ("elevation in decimetres", "elevation spans 3000 to 15000, outside -500 to 8849 m"),
        ("canopy height filled with 255", "canopy_height spans 0.5 to 255, outside 0-120 m"),
        ("kg_climate and landcover swapped", "landcover holds 15, not ESA WorldCover classes"),
        # below 8849 in feet, and a percent slope below 90, the ranges pass
        ("elevation in feet", "elevation rises 3.28 and 3.28 times as steeply as the slope"),
        ("slope in percent, under 90", "the slope band is steeper than the elevation rises (0.44"),
    ],
)
def test_values_no_stack_can_hold_are_refused_before_anything_is_written(
    tmp_path, capsys, mistake, message
):
    """An audit's own stacks: dNDVI x 100 ran and drew 303 candidates, radar in linear power
    ran and found nothing, both without a word."""
    from models.feature_stack import MODEL_BANDS

    bands = hill_and_plain().bands().astype(np.float64)
    if mistake == "dNDVI x 100":
        bands[MODEL_BANDS.index("dNDVI")] *= 100
    if mistake == "radar in linear power":
        for name in ("preVV", "postVV", "preVH", "postVH"):
            i = MODEL_BANDS.index(name)
            bands[i] = 10 ** (bands[i] / 10)
    if mistake == "radar in hundredths of dB":  # dVV, dVH scaled alike: post - pre holds
        for name in ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH"):
            bands[MODEL_BANDS.index(name)] *= 100
    if mistake == "slope in percent":
        i = MODEL_BANDS.index("slope")
        bands[i] = 100 * np.tan(np.radians(bands[i])) + 50
    profile: dict[str, object] = {}
    if mistake == "dVV as pre - post":
        i = MODEL_BANDS.index("dVV")
        pre, post = bands[MODEL_BANDS.index("preVV")], bands[MODEL_BANDS.index("postVV")]
        bands[i] = pre - post
        assert np.abs(bands[i]).max() > 1.0  # the scene's change, reversed
    if mistake == "undeclared no-data":
        bands[MODEL_BANDS.index("dNDVI"), :4, :4] = -9999.0
    if mistake == "0 in every band past the edge":
        bands[:, -5:, :] = 0.0  # 5 rows of 160
    if mistake == "radar unmasked to 0":  # the radar bands of the hill's 20 top rows
        bands[:9, :20, 80:] = 0.0  # pre, post, difference, layover, shadow, angle
    if mistake == "radar unmasked to -9999":
        bands[:6, :4, :4] = -9999.0  # pre, post and difference of VV and VH
    if mistake == "VV and VH swapped":  # the whole radar half: pre, post and difference
        for pol_a, pol_b in (("preVV", "preVH"), ("postVV", "postVH"), ("dVV", "dVH")):
            a, b = MODEL_BANDS.index(pol_a), MODEL_BANDS.index(pol_b)
            bands[[a, b]] = bands[[b, a]]
    if mistake == "elevation empty":
        bands[MODEL_BANDS.index("elevation")] = np.nan
    if mistake == "slope empty":
        bands[MODEL_BANDS.index("slope")] = np.nan
    if mistake == "layover and shadow inverted":
        for name in ("layover", "shadow"):
            bands[MODEL_BANDS.index(name)] = 1 - bands[MODEL_BANDS.index(name)]
    if mistake == "layover as 0 and 255":
        bands[MODEL_BANDS.index("layover"), :10, 80:] = 255  # the hill's top, towards the sensor
    if mistake == "liaDeg in radians":
        bands[MODEL_BANDS.index("liaDeg")] = np.radians(bands[MODEL_BANDS.index("liaDeg")])
    if mistake == "liaDeg in radians with shadow":
        i = MODEL_BANDS.index("liaDeg")
        bands[i, :5, :5] = 94.0  # a shadowed corner
        bands[i] = np.radians(bands[i])
    if mistake == "cloudy post unmasked to 0":
        bands[MODEL_BANDS.index("dNDVI")] = 0.0
    if mistake == "dNDVI in integers":
        i = MODEL_BANDS.index("dNDVI")
        bands[i] = np.floor(bands[i])  # -0.45 becomes -1
    if mistake == "slope in radians":
        i = MODEL_BANDS.index("slope")
        bands[i] = np.radians(bands[i])
    if mistake == "elevation in decimetres":
        bands[MODEL_BANDS.index("elevation")] *= 10
    if mistake == "canopy height filled with 255":
        bands[MODEL_BANDS.index("canopy_height"), :4, :4] = 255
    if mistake == "elevation in feet":
        bands[MODEL_BANDS.index("elevation")] *= 3.28084
    if mistake == "slope in percent, under 90":  # the hill's 25 degrees are 46.6 %
        i = MODEL_BANDS.index("slope")
        bands[i] = 100 * np.tan(np.radians(bands[i]))
    if mistake == "kg_climate and landcover swapped":
        a, b = MODEL_BANDS.index("kg_climate"), MODEL_BANDS.index("landcover")
        bands[[a, b]] = bands[[b, a]]
    if mistake == "south-up":  # the same ground, rows reversed, y growing downwards
        from affine import Affine

        rows = bands.shape[1]
        bands = bands[:, ::-1]
        t = TRANSFORM
        profile["transform"] = Affine(t.a, 0.0, t.c, 0.0, -t.e, t.f + t.e * rows)
    stack = _write(tmp_path / "in" / "a_input.tif", bands, **profile)
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack), "--out", str(out), "-q"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_rough_dem_whose_slope_was_computed_at_its_own_pixels_passes_the_terrain_check(
    tmp_path,
):
    """Found in review: on rough (fractal) terrain with the slope of its own 10 m pixels
    (Horn's 3 x 3 kernel), the elevation's rise over 3 pixels either side read 0.58-0.77 of
    the slope, and a true 10 m DTM was refused as a slope in percent; over 1 pixel it reads
    1.0-1.2. The same DEM in feet is still refused."""
    from monitor.errors import BadInput
    from monitor.ops.detect_stack import check_stack

    bands = _rough_terrain()
    stack = _write(tmp_path / "rough_input.tif", bands)
    assert check_stack(stack) == []
    bands[MODEL_BANDS.index("elevation")] *= 3.28084
    _write(stack, bands)
    with pytest.raises(BadInput, match=r"elevation rises .* times as steeply"):
        check_stack(stack)


def test_an_elevation_shifted_against_its_slope_band_is_said(tmp_path):
    """Found in a walk: a DEM cut by array index from another grid, 400 m off, passed every
    check (the medians of its rise and of the slope band agree) and moved the object filter's
    scores. On rough terrain, 12 columns east and 5 rows north are named; in place or 1 pixel
    off (a DEM resampled from a coarser one by nearest neighbour) nothing is said."""
    from monitor.ops.detect_stack import check_stack

    bands = _rough_terrain()
    e = MODEL_BANDS.index("elevation")
    elevation = bands[e].copy()
    cases = [
        (0, 0, None),
        (0, 1, None),
        (-5, 12, "120 m east and 50 m north"),
        (0, 29, "at least 280 m east"),  # past the search (a quarter of the 114-pixel side)
    ]
    for rows, cols, said in cases:
        bands[e] = np.nan  # cut on another grid: the relief moved, nothing at the far edges
        h, w = elevation.shape
        bands[e][max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = elevation[
            max(-rows, 0) : h + min(-rows, 0), max(-cols, 0) : w + min(-cols, 0)
        ]
        warnings = check_stack(_write(tmp_path / "dem_input.tif", bands))
        if said is None:
            assert warnings == []
        else:
            assert len(warnings) == 1
            assert f"the elevation's relief lies {said} of the slope band's" in warnings[0]
            assert "shifted back" in warnings[0] and "gdalwarp" in warnings[0]


def test_an_elevation_far_off_its_slope_band_is_said(tmp_path):
    """Found in a walk: a DEM 350-500 m off on a small stack, past the shifts the check seeks,
    passed without a word: the medians of its rise and of the slope band agree (the same
    terrain), while pixel by pixel the two no longer do. The slope of 30 m block means of the
    same elevation is said too; the slope in percent is still refused as such."""
    from monitor.errors import BadInput
    from monitor.ops.detect_stack import check_stack

    bands = _rough_terrain()
    e, s = MODEL_BANDS.index("elevation"), MODEL_BANDS.index("slope")
    elevation, slope = bands[e].copy(), bands[s].copy()
    h, w = elevation.shape
    for rows, cols in ((0, 35), (-20, 40), (0, 50)):
        bands[e] = np.nan
        bands[e][max(rows, 0) : h + min(rows, 0), max(cols, 0) : w + min(cols, 0)] = elevation[
            max(-rows, 0) : h + min(-rows, 0), max(-cols, 0) : w + min(-cols, 0)
        ]
        (warning,) = check_stack(_write(tmp_path / "far_input.tif", bands))
        said = re.search(r"hardly agree pixel by pixel \(rank correlation (-?[\d.]+)", warning)
        assert said is not None and abs(float(said.group(1))) < 0.05, warning
        assert "shifted against the stack farther than the 28 pixels sought" in warning
    bands[e] = elevation
    blocks = elevation[:, :159].reshape(40, 3, 53, 3).mean(axis=(1, 3))  # 30 m block means
    gy, gx = np.gradient(blocks, 30.0)
    bands[s] = np.nan
    bands[s][:, :159] = np.kron(np.degrees(np.arctan(np.hypot(gx, gy))), np.ones((3, 3)))
    (warning,) = check_stack(_write(tmp_path / "coarse_input.tif", bands))
    assert "(rank correlation 0.2" in warning and "or is the slope of another DEM?" in warning
    bands[s] = np.minimum(100 * np.tan(np.radians(slope)), 89.9)
    with pytest.raises(BadInput, match="is the slope in percent") as refused:
        check_stack(_write(tmp_path / "percent_input.tif", bands))
    assert "hardly agree" not in str(refused.value)


def _rough_terrain() -> np.ndarray:
    """The hill-and-plain stack's bands over rough (fractal) terrain: elevation and its slope
    by Horn's 3 x 3 kernel at 10 m."""
    rng = np.random.default_rng(0)
    bands = hill_and_plain().bands().astype(np.float64)
    h, w = bands.shape[1:]
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = 1.0
    amplitude = f**-1.3  # fractional Brownian surface, Hurst exponent 0.3
    amplitude[0, 0] = 0.0
    z = np.real(np.fft.ifft2(amplitude * np.exp(2j * np.pi * rng.random((h, w)))))
    z = 500.0 + (z - z.min()) / (z.max() - z.min()) * 200.0
    a = np.pad(z, 1, mode="edge")
    dx = ((a[:-2, 2:] + 2 * a[1:-1, 2:] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[1:-1, :-2]
          + a[2:, :-2])) / 80.0  # fmt: skip
    dy = ((a[2:, :-2] + 2 * a[2:, 1:-1] + a[2:, 2:]) - (a[:-2, :-2] + 2 * a[:-2, 1:-1]
          + a[:-2, 2:])) / 80.0  # fmt: skip
    bands[MODEL_BANDS.index("elevation")] = z
    bands[MODEL_BANDS.index("slope")] = np.degrees(np.arctan(np.hypot(dx, dy)))
    return bands


def test_unnamed_bands_in_another_order_are_said_to_be_read_in_the_layout_s(tmp_path, capsys):
    """Found by a review: a stack whose unnamed bands were written in another order (elevation
    where dNDVI belongs) was refused as a dNDVI "scaled by 100 or 10 000", with no word of the
    order the bands are read in; named, the same file is read by name and runs its checks."""
    from models.feature_stack import MODEL_BANDS

    bands = hill_and_plain().bands()
    order = list(range(len(MODEL_BANDS)))
    i, j = MODEL_BANDS.index("dNDVI"), MODEL_BANDS.index("elevation")
    order[i], order[j] = j, i
    stack = _write(tmp_path / "in" / "a_input.tif", bands[order])
    assert main(["detect", "--stack", str(stack), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "dNDVI spans" in err and "Its bands carry no model band names" in err
    with rasterio.open(stack, "r+") as dst:
        dst.descriptions = tuple(MODEL_BANDS[k] for k in order)
    from monitor.errors import BadInput
    from monitor.ops.detect_stack import check_stack

    assert check_stack(stack) == []
    # VV and VH swapped, a question: the hint follows it without a stray full stop
    swapped = bands.copy()
    for a, b in (("preVV", "preVH"), ("postVV", "postVH"), ("dVV", "dVH")):
        i, j = MODEL_BANDS.index(a), MODEL_BANDS.index(b)
        swapped[[i, j]] = swapped[[j, i]]
    _write(stack, swapped)
    with pytest.raises(BadInput, match=r"band names\)\? Its bands carry no model band names"):
        check_stack(stack)
    # a fill the file does not declare has nothing to do with the order: no hint
    filled = bands.copy()
    filled[MODEL_BANDS.index("dNDVI"), :4, :4] = -9999.0
    _write(stack, filled)
    with pytest.raises(BadInput, match="no-data fill") as refused:
        check_stack(stack)
    assert "Its bands carry" not in str(refused.value)


def test_a_few_radar_pixels_of_exactly_0_db_are_values_not_a_fill(tmp_path):
    """Found by the review of the check above: one pixel of 0 dB in the four radar bands (a
    stack rounded to whole dB) refused the whole stack; a fill covers where a scene was
    missing, so a few such pixels are taken as values."""
    import monitor.ops.detect_stack as detect_stack
    from models.feature_stack import MODEL_BANDS
    from monitor.errors import BadInput

    bands = hill_and_plain().bands().astype(np.float64)
    for name in ("preVV", "postVV", "preVH", "postVH", "dVV", "dVH"):
        bands[MODEL_BANDS.index(name), 3, :3] = 0.0  # three pixels
    stack = _write(tmp_path / "in" / "a_input.tif", bands)
    assert detect_stack.check_stack(stack) == []
    bands[:6, 3, :10] = 0.0  # ten: a fill
    stack = _write(tmp_path / "in" / "b_input.tif", bands)
    with pytest.raises(BadInput, match="10 pixel\\(s\\) hold 0 dB in preVV, postVV"):
        detect_stack.check_stack(stack)


def test_the_radar_fill_is_counted_in_pixels_of_the_stack_not_of_its_sample(tmp_path, monkeypatch):
    """Found by review: the checks read a decimated sample of a large stack, where a fill of
    hundreds of pixels shows as a few."""
    import monitor.ops.detect_stack as detect_stack
    from models.feature_stack import MODEL_BANDS
    from monitor.errors import BadInput

    bands = hill_and_plain().bands().astype(np.float64)  # 160 px a side
    for name in ("preVV", "postVV", "preVH", "postVH", "dVV", "dVH"):
        bands[MODEL_BANDS.index(name), 10:12, :8] = 0.0  # 16 pixels
    stack = _write(tmp_path / "in" / "a_input.tif", bands)
    import models.stack_values

    monkeypatch.setattr(models.stack_values, "VALUE_SAMPLE_PX", 80)  # read every second pixel
    with pytest.raises(BadInput, match="hold 0 dB in preVV"):  # 4 read, for 16
        detect_stack.check_stack(stack)


def _damage_block(path: Path, band: str) -> None:
    """Overwrite the compressed bytes of ``band``'s first block (a partial download, a bad
    disk): the header still reads, the block's pixels do not."""
    from models.feature_stack import MODEL_BANDS

    with rasterio.open(path) as src:
        bidx = MODEL_BANDS.index(band) + 1
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=bidx))
        size = int(src.get_tag_item("BLOCK_SIZE_0_0", "TIFF", bidx=bidx))
    data = bytearray(path.read_bytes())
    data[offset + 10 : offset + size - 10] = b"\x07" * (size - 20)
    path.write_bytes(bytes(data))


_BLOCKS = dict(compress="deflate", tiled=True, blockxsize=64, blockysize=64, interleave="band")


def test_a_stack_whose_pixels_cannot_be_read_is_named(tmp_path, capsys):
    """A damaged block in a band the value checks read: the error names the file (it said
    only 'RasterioIOError: Read failed', exit status 1)."""
    stack = _write(tmp_path / "in" / "a_input.tif", hill_and_plain().bands(), **_BLOCKS)
    _damage_block(stack, "dNDVI")
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{stack}: cannot read its pixels, the file is damaged or incomplete" in err
    assert "band 15: IReadBlock failed" in err  # GDAL's cause, where rasterio points to it
    assert not out.exists()


def test_a_folder_of_stacks_named_otherwise_names_them(tmp_path, capsys):
    """Found on a walk: a folder whose stacks were all named S1_INPUT.TIF (the layout's name is
    case-sensitive) was refused as holding no *_input.tif, without naming what it held; the
    files were named only beside a stack named right."""
    folder = tmp_path / "in"
    _write(folder / "S1_INPUT.TIF", hill_and_plain().bands())
    assert main(["detect", "--stack", str(folder), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"--stack {folder}: no *_input.tif in it or in {folder / 'input'}" in err
    assert (
        "named otherwise, not run (the name is case-sensitive, and a copy's ' (1)' is no part "
        "of it): S1_INPUT.TIF" in err
    )


def test_a_dataset_of_splits_is_named_with_its_split_folders(tmp_path, capsys):
    """Found by a walkthrough of the review loop: step 6 on a left-out region's `dataset
    export` (one region: all its scenes in train/) was refused by `detect --stack`, `evaluate
    --chain` and `models compare` as holding no input/, none naming train/."""
    from models.compare import data_folder
    from models.datasets import DatasetError, scene_ids

    data = tmp_path / "left-out"
    _write(data / "train" / "input" / "s1_input.tif", hill_and_plain().bands())
    assert main(["detect", "--stack", str(data), "--out", str(tmp_path / "out"), "-q"]) == 2
    hint = f"it is a dataset of splits: give {data / 'train'}"
    assert hint in capsys.readouterr().err
    with pytest.raises(DatasetError, match=hint):
        scene_ids(data)
    with pytest.raises(DatasetError, match=f"it holds only {data / 'train'}, the scenes a model"):
        data_folder(data)
    with pytest.raises(DatasetError, match=r"left-oot: no such folder$"):  # a typo
        data_folder(tmp_path / "left-oot")


def test_a_folder_with_stacks_at_its_top_and_in_input_is_refused(tmp_path, capsys):
    """Found on a walk: a mosaic written beside a labelled folder's input/ ran alone, the
    stacks of input/ were never run, and evaluate --chain then named only the mosaic."""
    folder = tmp_path / "in"
    _write(folder / "top_input.tif", hill_and_plain().bands())
    _write(folder / "input" / "sub_input.tif", hill_and_plain().bands())
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 2
    assert (
        f"--stack {folder}: it holds stacks of its own (top_input.tif) and in "
        f"{folder / 'input'} (sub_input.tif); give one of the two folders"
    ) in capsys.readouterr().err
    assert not out.exists()


def test_every_refused_stack_of_a_folder_is_named_at_once(tmp_path, capsys):
    """Found on a walk: in a folder of exports, only the first bad stack was named; a user
    mended it, ran again and met the next, one run for each."""
    folder = tmp_path / "in"
    good = _write(folder / "a_input.tif", hill_and_plain().bands())
    (folder / "b_input.tif").write_bytes(good.read_bytes()[:1000])  # a download cut short
    _write(folder / "c_input.tif", hill_and_plain().bands())
    (folder / "d_input.tif").write_bytes(b"")
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "2 of 4 stacks refused, none run:" in err
    assert f"{folder / 'b_input.tif'}: cannot read input" in err
    assert f"{folder / 'd_input.tif'}: cannot read input: the file is empty" in err
    assert "a_input.tif:" not in err and "c_input.tif:" not in err
    assert not out.exists()


def test_a_stack_that_fails_mid_folder_keeps_the_scenes_done_before_it(
    tmp_path, monkeypatch, capsys
):
    """A block damaged after the checks read it (a download still being written by a sync
    client) stops the run at the third stack: the two scenes done are written, not lost, and
    the folder does not keep an earlier run's polygons and summary next to this run's
    rasters."""
    import json

    import monitor.ops.detect_stack as detect_stack

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    folder, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b", "c"):
        _write(folder / f"{name}_input.tif", bands, **_BLOCKS)
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 0
    (folder / "a_input.tif").unlink()
    _write(folder / "a2_input.tif", bands, **_BLOCKS)  # this run: a2, b, then c fails
    real = detect_stack.detect_stacks

    def damage_then_run(*args, **kwargs):
        _damage_block(folder / "c_input.tif", "elevation")
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_stack, "detect_stacks", damage_then_run)

    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 2
    assert f"{folder / 'c_input.tif'}: cannot read input" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["scenes"]) == ["a2", "b"]
    assert summary["stopped_at"]["stack"] == str(folder / "c_input.tif")
    polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert sorted(polygons["scene"]) == ["a2", "b"]


def test_sigterm_mid_folder_keeps_the_scenes_done_before_it(tmp_path, monkeypatch, capsys):
    """SIGTERM (a supervisor stopping the job, a batch queue's time limit) at the second stack
    writes the first scene's polygons and summary and exits 143; it killed the process with
    nothing written. The stand-in sends the signal only where a handler would catch it, so
    the test cannot kill its own process."""
    import json
    import os
    import signal

    import monitor.ops.detect_stack as detect_stack

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    calls: list[bool] = []
    real = detect_stack.detect

    def detect_then_signal(*args, **kwargs):
        calls.append(True)
        if len(calls) == 2:
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM would kill"
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_stack, "detect", detect_then_signal)
    bands = hill_and_plain().bands()
    folder, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b", "c"):
        _write(folder / f"{name}_input.tif", bands)
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 143
    assert "SIGTERM" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["scenes"]) == ["a"]
    assert summary["stopped_at"]["stack"] == str(folder / "b_input.tif")
    polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert set(polygons["scene"]) == {"a"} and len(polygons) > 0


def test_a_run_killed_mid_folder_leaves_the_scenes_done_before_it(tmp_path, monkeypatch):
    """Found on a walk: a folder of 30 stacks killed at the 21st (SIGKILL, or the system out of
    memory, which the docs warn a large stack meets) left the 20 finished scenes' rasters and
    neither their polygons nor a summary: both were written when the run ended. What lies in
    the folder while a stack runs, what a kill leaves, holds every scene done before it and
    names the stacks not run yet."""
    import json

    import monitor.ops.detect_stack as detect_stack

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    folder, out = tmp_path / "in", tmp_path / "out"
    bands = hill_and_plain().bands()
    stacks = [_write(folder / f"{name}_input.tif", bands) for name in ("a", "b", "c")]
    on_disk: list[tuple[list[str], list[str], list[str]] | None] = []
    real = detect_stack.detect

    def look_then_detect(*args, **kwargs):
        if not (out / "summary.json").exists():
            on_disk.append(None)
        else:
            summary = json.loads((out / "summary.json").read_text())
            polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
            on_disk.append(
                (list(summary["scenes"]), sorted(set(polygons["scene"])), summary["not_run"])
            )
        return real(*args, **kwargs)

    monkeypatch.setattr(detect_stack, "detect", look_then_detect)
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 0
    assert on_disk == [
        None,
        (["a"], ["a"], [str(stacks[1]), str(stacks[2])]),
        (["a", "b"], ["a", "b"], [str(stacks[2])]),
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["scenes"]) == ["a", "b", "c"] and "not_run" not in summary
    assert sorted(p.name for p in out.iterdir() if "_" not in p.name) == [
        "detections.gpkg", "summary.json"
    ]  # no temporary file left  # fmt: skip


def test_a_run_into_the_folder_of_an_earlier_one_says_which_scenes_it_replaces(
    tmp_path, monkeypatch, caplog
):
    """Found on a walk: tiles run one at a time into one --out each replaced the polygons of
    the one before without a word (the earlier tile's rasters stayed beside them)."""
    import logging

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    tiles = [_write(tmp_path / "tiles" / f"t{i}_input.tif", bands) for i in (0, 1)]
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="monitor.ops.detect_stack"):
        assert main(["detect", "--stack", str(tiles[0]), "--out", str(out), "-q"]) == 0
        assert main(["detect", "--stack", str(tiles[0]), "--out", str(out), "-q"]) == 0
        assert caplog.messages == []  # the same scene again: nothing else is replaced
        assert main(["detect", "--stack", str(tiles[1]), "--out", str(out), "-q"]) == 0
    (message,) = caplog.messages
    assert f"{out} holds the detections of 1 scene(s) this run does not have (t0)" in message
    assert "give each run its own --out, or run the stacks as one folder" in message
    assert set(gpd.read_file(out / "detections.gpkg")["scene"]) == {"t1"}
    # found on a walk: without the summary (removed, unreadable) the polygons' scenes tell it
    (out / "summary.json").unlink()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.ops.detect_stack"):
        assert main(["detect", "--stack", str(tiles[0]), "--out", str(out), "-q"]) == 0
    (message,) = caplog.messages
    assert f"{out} holds the detections of 1 scene(s) this run does not have (t1)" in message


def test_a_detections_file_holding_a_user_s_layer_is_not_replaced(tmp_path, monkeypatch, capsys):
    """Found on a walk: a layer saved into detections.gpkg (reviewed polygons, in QGIS) was
    lost without a word when detect ran into the folder again."""
    import pyogrio

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    stack = _write(tmp_path / "s_input.tif", hill_and_plain().bands())
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack), "--out", str(out), "-q"]) == 0
    path = out / "detections.gpkg"
    styles = gpd.GeoDataFrame({"styleQML": ["<qgis/>"]})
    pyogrio.write_dataframe(styles, path, layer="layer_styles", append=True)
    assert main(["detect", "--stack", str(stack), "--out", str(out), "-q"]) == 0  # QGIS's style
    reviewed = gpd.read_file(path).iloc[:1]
    reviewed.to_file(path, layer="reviewed", driver="GPKG")
    before = path.read_bytes()
    assert main(["detect", "--stack", str(stack), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out}: its detections.gpkg holds layer(s) 'reviewed' beside the" in err
    assert path.read_bytes() == before


def test_a_folder_reports_its_progress(tmp_path, monkeypatch, caplog):
    """One line per stack says how far the folder is (it named the scene only)."""
    import logging

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    for name in ("a", "b"):
        _write(tmp_path / "in" / f"{name}_input.tif", bands)
    with caplog.at_level(logging.INFO, logger="monitor.ops.detect_stack"):
        assert main(["detect", "--stack", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.ops.detect_stack"]
    assert [line.split(":")[0] for line in lines] == ["a (1 of 2)", "b (2 of 2)"]


def test_a_large_stack_says_when_each_stage_of_the_chain_is_done(
    stack_file, tmp_path, monkeypatch, caplog
):
    """Found on a large-region walk: a stack of 16 Mpx ran 39 s and then 32 s with nothing
    said; from PROGRESS_PIXELS on each stage of the chain logs its end at INFO, below at DEBUG
    (a small region keeps its one line)."""
    import logging

    import monitor.pipeline.chain

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    args = ["detect", "--stack", str(stack_file), "--out"]

    def stages() -> list[str]:
        return [r.getMessage().split(" (")[0] for r in caplog.records
                if r.name == "monitor.pipeline.chain" and r.levelno == logging.INFO]  # fmt: skip

    with caplog.at_level(logging.INFO, logger="monitor.pipeline.chain"):
        assert main([*args, str(tmp_path / "small")]) == 0
        assert stages() == []  # a small stack: below the threshold
        monkeypatch.setattr(monitor.pipeline.chain, "PROGRESS_PIXELS", 1)
        assert main([*args, str(tmp_path / "large")]) == 0
    assert stages() == [
        "hill: setting S1+S2; predicting with the ensemble",
        "hill: predicted; drawing the candidates",
        "hill: 1 candidate(s) drawn; scoring them with the object filter",
        "hill: scored",
    ]


_KILLED_AT_THE_SECOND_STACK = """
import os, signal, sys
import models.ensemble
import monitor.ops.detect_stack as detect_stack
from monitor.cli import main
from tests.run.test_detect_stack import ChangeEnsemble

models.ensemble.Ensemble.load = classmethod(lambda cls, *a, **k: ChangeEnsemble())
name = sys.argv[3]  # detect: at the second stack; _write_detections: before a2's polygons
real, calls = getattr(detect_stack, name), []
def dying(*args, **kwargs):
    calls.append(True)
    if len(calls) == (2 if name == "detect" else 1):  # a2's rasters are written: SIGKILL
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args, **kwargs)
setattr(detect_stack, name, dying)
main(["detect", "--stack", sys.argv[1], "--out", sys.argv[2], "-q"])
"""


@pytest.mark.parametrize("killed_in", ["detect", "_write_detections"])
def test_a_killed_run_leaves_no_earlier_polygons_beside_its_rasters(
    tmp_path, monkeypatch, killed_in
):
    """Found in the crash walk: a run killed part-way (SIGKILL, the OOM killer) left the
    earlier run's detections.gpkg and summary.json beside this run's first rasters, and
    `models evaluate --chain` scored the earlier run's polygons as this folder's; the earlier
    files are removed before this run's first raster, this run's are written after each scene,
    and a rerun completes."""
    import json
    import os
    import signal
    import subprocess
    import sys

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    folder, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b", "c"):
        _write(folder / f"{name}_input.tif", bands)
    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 0
    (folder / "a_input.tif").rename(folder / "a2_input.tif")  # this run's scenes: a2, b, c
    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": str(here.parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_THE_SECOND_STACK, str(folder), str(out), killed_in],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert (out / "a2_probability.tif").is_file()  # the scene done before the kill
    if killed_in == "_write_detections":  # before a2's polygons: none, not the earlier run's
        assert not (out / "summary.json").exists() and not (out / "detections.gpkg").exists()
    else:  # this run's polygons and summary of a2, not the earlier run's of a, b and c
        killed = json.loads((out / "summary.json").read_text())
        assert list(killed["scenes"]) == ["a2"]
        assert [Path(p).name for p in killed["not_run"]] == ["b_input.tif", "c_input.tif"]
        assert set(gpd.read_file(out / "detections.gpkg", layer="detections")["scene"]) == {"a2"}

    assert main(["detect", "--stack", str(folder), "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["scenes"]) == ["a2", "b", "c"]
    polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert set(polygons["scene"]) == {"a2", "b", "c"}
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_a_run_removes_the_temporary_files_a_killed_run_left(stack_file, tmp_path, monkeypatch):
    """Found by a review: a run killed while it wrote a COG or the polygons left its ``.part``
    files (and the GeoPackage's journal) in the folder for good; the next run into it removes
    those of its own files alone: the polygons, the summary and its scenes' COGs."""
    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    out.mkdir()
    stem = stack_file.name.removesuffix("_input.tif")
    left = [".detections.gpkg.0123abcd.part.gpkg", ".detections.gpkg.0123abcd.part.gpkg-journal",
            ".summary.json.89abcdef.part.json", f"{stem}_probability.tif.part",
            f"{stem}_spread.tif.part", f"{stem}_spread.tif.part.ovr.tmp"]  # fmt: skip
    # not this run's: another file's, another scene's (another run may be writing it)
    others = [".notes.txt.0123abcd.part.txt", "z_probability.tif.part", "z_other.tif.part"]
    for name in left + others:
        (out / name).write_bytes(b"x")
    assert main(["detect", "--stack", str(stack_file), "--out", str(out), "-q"]) == 0
    assert [name for name in left if (out / name).exists()] == []
    assert [name for name in others if (out / name).exists()] == others


def test_detections_are_valid_polygons_where_pixels_touch_at_a_corner(
    tmp_path, monkeypatch
) -> None:
    """Found by a GIS user's walk: pixels joined only at a corner (one object to the 8-way
    labelling) trace a ring that touches itself, and detections.gpkg held such polygons,
    which QGIS's validity check flags and GEOS overlays may fail on (3 of 26 on one simulated
    scene). The inventory made its footprints valid on the way in; the file did not."""
    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    bands = hill_and_plain().bands()
    dndvi = bands[list(MODEL_BANDS).index("dNDVI")]
    dndvi[:] = 0.0
    dndvi[40:52, 118:122] = -0.45  # two blocks on the hill that meet at one corner
    dndvi[52:65, 122:126] = -0.45
    path = tmp_path / "corner_input.tif"
    profile = dict(driver="GTiff", dtype="float32", count=15, crs=CRS, transform=TRANSFORM)
    with rasterio.open(path, "w", height=bands.shape[1], width=bands.shape[2], **profile) as dst:
        dst.write(bands)
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(path), "--out", str(out), "-q"]) == 0
    polygons = gpd.read_file(out / "detections.gpkg", layer="detections")
    assert polygons["area_m2"].tolist() == [10_000.0]  # one object: 100 pixels of 100 m²
    (geometry,) = polygons.geometry
    assert geometry.is_valid and geometry.geom_type == "MultiPolygon"
    assert geometry.area == pytest.approx(10_000.0, rel=0.05)  # simplified by 5 m, no more


def _region_config(write_config, **region: object) -> Path:
    """A configuration of one region (whose outline detect --stack does not read) with the
    bundled ensemble's manifest."""
    square = {"type": "Polygon", "coordinates": [[[9.8, 46.0], [10.0, 46.0], [10.0, 46.1],
                                                  [9.8, 46.1], [9.8, 46.0]]]}  # fmt: skip
    return write_config(
        {
            "model": {"manifest": str(DEFAULT_MANIFEST)},
            "regions": [{"name": "valtellina", "geometry": square, **region}],
        }
    )


def test_detections_carry_the_region_and_the_inventory_s_column_types(
    stack_file, tmp_path, monkeypatch, write_config
) -> None:
    """Found on a GIS analyst's walk: detections.gpkg's `region` held the scene id, even with
    `--config --region`, and its dates were TEXT and `suppressed` BOOLEAN where the inventory
    declares DATE and INTEGER, so appending detections to the inventory in QGIS mismatched
    fields."""
    import sqlite3
    from datetime import date

    from monitor.ops.detect_stack import _write_detections
    from monitor.store.landslides import LAYER, SCHEMA

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    config = _region_config(write_config)
    out = tmp_path / "out"
    # the configuration's one region counts as named
    assert main(["detect", "--stack", str(stack_file), "--out", str(out), "--config",
                 str(config), "-q"]) == 0  # fmt: skip
    polygons = gpd.read_file(out / "detections.gpkg")
    assert polygons["scene"].tolist() == ["hill"]
    assert polygons["region"].tolist() == ["valtellina"]
    bare = tmp_path / "bare"
    assert main(["detect", "--stack", str(stack_file), "--out", str(bare), "-q"]) == 0
    assert gpd.read_file(bare / "detections.gpkg")["region"].tolist() == [None]

    def declared(conn: sqlite3.Connection, table: str) -> dict[str, str]:
        return {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}

    memory = sqlite3.connect(":memory:")
    memory.executescript(SCHEMA)
    inventory = declared(memory, LAYER)
    written = declared(sqlite3.connect(out / "detections.gpkg"), "detections")
    shared = sorted(set(written) & set(inventory) - {"fid", "geom"})
    assert len(shared) == 22  # every column but the scene id: its region, attributes, filter
    assert {c: written[c] for c in shared} == {c: inventory[c] for c in shared}
    assert written["pre_date"] == written["event_before"] == "DATE"
    assert written["suppressed"] == "INTEGER"

    # the values as the inventory holds them: ISO dates, 0/1
    frame = gpd.read_file(out / "detections.gpkg")
    frame["pre_date"] = [date(2024, 8, 12)]
    frame["event_before"] = ["2024-08-17"]
    frame["suppressed"] = [True]
    _write_detections(tmp_path / "dated", [frame], {})
    rows = sqlite3.connect(tmp_path / "dated" / "detections.gpkg").execute(
        "SELECT pre_date, event_before, post_date, suppressed, region FROM detections"
    )
    assert rows.fetchall() == [("2024-08-12", "2024-08-17", None, 1, "valtellina")]


def _stack_two_zones_east(path: Path) -> Path:
    """The hill and plain written in EPSG:32634, centred at 9.9° E 46° N: in UTM zone 32, two
    zones west of its CRS's, where one of its square metres holds about 0.98 m² of zone 32."""
    from affine import Affine
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 32634, always_xy=True).transform(9.9, 46.0)
    bands = hill_and_plain().bands()
    h, w = bands.shape[1:]
    west, north = round(x - w * 5.0), round(y + h * 5.0)
    return _write(path, bands, crs="EPSG:32634", transform=Affine(10, 0, west, 0, -10, north))


def test_areas_of_a_stack_in_another_utm_zone_are_the_inventory_s(
    tmp_path, monkeypatch, write_config
) -> None:
    """Found on a GIS analyst's walk: a stack in EPSG:32634 at 9.9° E (two zones east of its
    own) reported area_m2 1.7 % above the ground's and applied min_area_m2 to those areas,
    with no word in summary.json. Its areas are now the area in the UTM zone of its centre, as
    the inventory measures a landslide's, and so is the minimum area."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    path = _stack_two_zones_east(tmp_path / "in" / "z34_input.tif")
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(path), "--out", str(out), "-q"]) == 0
    polygons = gpd.read_file(out / "detections.gpkg")
    assert polygons.crs == "EPSG:32634"
    (area,) = polygons["area_m2"]  # the scar: 100 pixels of 100 square metres of EPSG:32634
    in_zone_32 = float(polygons.to_crs("EPSG:32632").area.iloc[0])
    assert area == pytest.approx(in_zone_32, rel=1e-4)
    assert area == pytest.approx(9822, abs=1)
    (warning,) = json.loads((out / "summary.json").read_text())["scenes"]["z34"]["warnings"]
    assert warning.startswith(
        "its CRS (EPSG:32634) is not the UTM zone of its centre (EPSG:32632), where one of its "
        "square metres measures 0.9822 m²: area_m2 and min_area_m2 are taken in EPSG:32632"
    )

    # a minimum the scar reaches in the stack's square metres, not in the ground's
    config = _region_config(write_config, min_area_m2=9_900)
    assert main(["detect", "--stack", str(path), "--out", str(out), "--config", str(config),
                 "-q"]) == 0  # fmt: skip
    assert gpd.read_file(out / "detections.gpkg").empty
    assert json.loads((out / "summary.json").read_text())["scenes"]["z34"]["candidates"] == 0


def test_python_m_models_warns_of_the_values_detect_refuses(tmp_path, caplog):
    """Found in a walkthrough: the pixel report scored stacks detect refuses (an undeclared
    -9999 fill, linear radar, a flipped dVV, swapped classes) at F1 0.00-0.07, without a word.
    A scene read for a score or for training is warned of once, with detect's own words."""
    import logging

    from models.datasets import Scene, read_scene, write_scene

    bands = hill_and_plain().bands()
    bands[MODEL_BANDS.index("postVV"), :6, :6] = -9999.0
    label = np.zeros(bands.shape[1:], np.uint8)
    write_scene(tmp_path, Scene("filled", bands, label, CRS, TRANSFORM))
    with caplog.at_level(logging.WARNING, logger="models.datasets"):
        read_scene(tmp_path, "filled")
        read_scene(tmp_path, "filled")  # once a process
    (message,) = caplog.messages
    stack = tmp_path / "input" / "filled_input.tif"
    assert message.startswith(
        f"{stack}: postVV holds -9999, a no-data fill the file does not declare"
    )
    assert message.endswith("Read as it is: `detect --stack` refuses such a stack, and scores "
                            "or members trained on it would read the values as ground")  # fmt: skip
    assert main(["detect", "--stack", str(stack), "--out", str(tmp_path / "o"), "-q"]) == 2
    caplog.clear()
    good = hill_and_plain().bands()
    write_scene(tmp_path, Scene("clean", good, label, CRS, TRANSFORM))
    with caplog.at_level(logging.WARNING, logger="models.datasets"):
        read_scene(tmp_path, "clean")
    assert caplog.messages == []


def test_reading_stacks_and_exports_back_loads_no_earth_engine_code():
    """The pattern of an export's pieces and the no-data value live with the plain settings
    (gee_scripts.settings), so `detect` and `dataset ingest`, which read files back, import them
    at the top; were they taken from gee_scripts.export again, every start would load Earth
    Engine's code (0.1-0.2 s), which the modules used to avoid with a lazy import and a
    per-call compile."""
    import subprocess
    import sys

    code = (
        "import sys, monitor.ops.detect_stack, monitor.ops._dataset_batch; "
        "print(sorted(m for m in ('ee', 'gee_scripts.export') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_radar_bands_in_natural_log_units_are_said(tmp_path):
    """Found in a walk: the six radar bands as ln(power) (dB x 0.23: VV near -2, VH near -3.7)
    passed every range check and drew other detections, without a word; RegionWriter warned of
    the same values. In dB nothing is said."""
    from monitor.ops.detect_stack import check_stack

    bands = hill_and_plain().bands()
    assert check_stack(_write(tmp_path / "db_input.tif", bands)) == []
    for name in ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH"):
        bands[MODEL_BANDS.index(name)] *= np.log(10.0) / 10.0
    warnings = check_stack(_write(tmp_path / "ln_input.tif", bands))
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "radar medians of pre (VV -1.84 dB, VH -3.22 dB) and post (VV -1.84 dB, VH -3.22 dB)"
    )
    assert "natural log of power" in warnings[0]


def test_cloud_gaps_filled_with_0_over_much_of_the_dndvi_are_said(tmp_path):
    """Found in a walk: dNDVI set to exactly 0 over the top 30 % of the rows (Earth Engine's
    image.unmask() where the post window had no clear view), where the landslides lay, ran as
    clear optical and drew none of them, without a word. From 5 % of the pixels it is said;
    a few exact zeros (under 1 %) are not."""
    from monitor.ops.detect_stack import check_stack

    bands = hill_and_plain().bands()
    dndvi = bands[MODEL_BANDS.index("dNDVI")]
    dndvi[: int(0.3 * dndvi.shape[0])] = 0.0
    warnings = check_stack(_write(tmp_path / "gaps_input.tif", bands))
    assert warnings == [
        "dNDVI is exactly 0 on 30% of its pixels, where a difference of two composites seldom "
        "is: a fill where the post window had no clear view (Earth Engine's image.unmask() "
        "writes 0)? Those pixels read as unchanged ground; write NaN there, so that the chain "
        "falls back to radar"
    ]
    bands = hill_and_plain().bands()
    bands[MODEL_BANDS.index("dNDVI")][:1, :100] = 0.0  # 100 of 19 200 pixels
    assert check_stack(_write(tmp_path / "few_input.tif", bands)) == []


def test_a_stack_outside_the_region_whose_rules_apply_is_said(
    stack_file, tmp_path, monkeypatch, write_config
) -> None:
    """Found in a walk: with `--config` of a region elsewhere, the detections were tagged with
    that region without a word. The region's rules still apply (as documented); a stack that
    touches the outline is not said."""
    import json

    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    elsewhere = _region_config(write_config)  # Valtellina; the stack lies near 15.0 E, 45.1 N
    out = tmp_path / "out"
    assert main(["detect", "--stack", str(stack_file), "--out", str(out), "--config",
                 str(elsewhere), "-q"]) == 0  # fmt: skip
    (scene,) = json.loads((out / "summary.json").read_text())["scenes"].values()
    said = (
        "it lies outside the outline of region valtellina (--config), whose rules apply all the "
        "same: its detections are tagged valtellina"
    )
    assert said in scene["warnings"]
    over = {"type": "Polygon", "coordinates": [[[15.0, 45.1], [15.1, 45.1], [15.1, 45.2],
                                                [15.0, 45.2], [15.0, 45.1]]]}  # fmt: skip
    here = write_config({"model": {"manifest": str(DEFAULT_MANIFEST)},
                         "regions": [{"name": "karst", "geometry": over}]})  # fmt: skip
    assert main(["detect", "--stack", str(stack_file), "--out", str(out), "--config",
                 str(here), "-q"]) == 0  # fmt: skip
    (scene,) = json.loads((out / "summary.json").read_text())["scenes"].values()
    assert not any("outside the outline" in w for w in scene["warnings"])
