"""The second generator of ``bench/foreign_scenes.py``: scenes the chain reads as any
Ganerød-layout folder, drawn again the same from a seed, with landslides where it says."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import ndimage

from models.datasets import read_folder
from models.feature_stack import MODEL_BANDS

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def foreign() -> ModuleType:
    return _load("foreign_scenes")


def test_a_seed_draws_the_same_scene(foreign: ModuleType) -> None:
    a = foreign.draw_scene("a", 7, True)
    b = foreign.draw_scene("b", 7, True)
    c = foreign.draw_scene("c", 8, True)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.label, b.label)
    assert not np.array_equal(a.label, c.label)


def test_landslides_are_bare_scars_on_slopes_and_quiet_scenes_have_none(
    foreign: ModuleType,
) -> None:
    slope, dndvi = MODEL_BANDS.index("slope"), MODEL_BANDS.index("dNDVI")
    for seed in range(3):
        scene = foreign.draw_scene("s", seed, True)
        objects = int(ndimage.label(scene.label, np.ones((3, 3)))[1])
        # slides touching each other merge into one object; none is lost
        assert 1 <= objects <= scene.slides
        on = scene.label == 1
        # what changed each pixel: the label's landslides and nothing else are kind 1
        np.testing.assert_array_equal(scene.kinds == foreign.KINDS.index("landslide"), on)
        assert 0.001 < on.mean() < 0.05  # a few per cent of the scene at most
        # heads start on 24-55° and the body runs out below: the median is steep ground
        assert np.median(scene.image[slope][on]) > 15.0
        clear = on & np.isfinite(scene.image[dndvi])
        # three quarters of the slides leave bare ground (NDVI 0.05-0.25 from 0.6-0.8)
        assert np.median(scene.image[dndvi][clear]) < -0.25
        quiet = foreign.draw_scene("q", 10_000 + seed, False)
        assert quiet.slides == 0 and not quiet.label.any()
        assert sum(quiet.lookalikes.values()) > 0


def test_the_written_folders_read_as_the_ganerod_layout(
    foreign: ModuleType, tmp_path: Path
) -> None:
    drawn = foreign.write_foreign(tmp_path, n_storm=2, n_quiet=1, seed=3, n_val=1)
    assert [drawn[s]["scenes"] for s in ("storm", "quiet", "val")] == [2, 1, 1]
    storm = read_folder(tmp_path / "storm")
    assert [s.id for s in storm] == ["foreign-storm-000", "foreign-storm-001"]
    for scene in storm:
        assert scene.image.shape == (len(MODEL_BANDS), foreign.SIZE, foreign.SIZE)
        assert scene.crs is not None and scene.crs.to_epsg() == 32633
        assert scene.label.any()
        record = json.loads((tmp_path / "storm" / "provenance" / f"{scene.id}.json").read_text())
        assert record["group"] == scene.id  # drawn on its own: its own bootstrap group
    (quiet,) = read_folder(tmp_path / "quiet")
    assert not quiet.label.any()
    assert drawn["storm"]["slides"] >= int(
        sum(ndimage.label(s.label, np.ones((3, 3)))[1] for s in storm)
    )


def test_the_bench_refuses_a_work_folder_drawn_otherwise(
    foreign: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _load("bench_foreign_scenes")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    wanted = {"storm": 2, "quiet": 1, "val": 1, "seed": 0}
    (scenes / "drawn.json").write_text(json.dumps({"wanted": wanted, "sets": {}}))
    monkeypatch.setattr(sys, "argv", ["bench", "--work", str(tmp_path), "--storm", "3"])
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert "drawn with" in capsys.readouterr().err


def test_the_generator_alone_refuses_a_folder_that_holds_files(
    foreign: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(sys, "argv", ["foreign_scenes", "--out", str(tmp_path), "--storm", "1"])
    with pytest.raises(SystemExit) as refused:
        foreign.main()
    assert refused.value.code == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
