"""``landslide-monitor detect --stack``: a stack in the Ganerød et al. layout written in the test
goes through the daily run's chain and comes out as polygons and Cloud-Optimised GeoTIFFs."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import xarray as xr
from chain_fixtures import CRS, TRANSFORM, hill_and_plain

import models.ensemble
from models.ensemble import DEFAULT_MANIFEST
from models.object_filter import ObjectFilterModel
from monitor.cli import main


class ChangeEnsemble:
    """Stands in for the ensemble: probability 0.95 where dNDVI < -0.3, else 0.02."""

    settings = ("S1+S2", "S1", "S2")

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


def test_detect_stack_cut_suppresses(stack_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        models.ensemble.Ensemble, "load", classmethod(lambda cls, *a, **k: ChangeEnsemble())
    )
    out = tmp_path / "out"
    args = ["detect", "--stack", str(stack_file), "--out", str(out), "--cut", "0.999", "-q"]
    assert main(args) == 0
    assert "1 candidate(s), 1 suppressed" in capsys.readouterr().out
    assert gpd.read_file(out / "detections.gpkg")["suppressed"].tolist() == [True]


def test_detect_stack_refuses_what_is_not_a_stack(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    assert main(["detect", "--stack", str(tmp_path / "notes.txt"), "--out", str(tmp_path)]) == 2
    assert "a stack is named <id>_input.tif" in capsys.readouterr().err
