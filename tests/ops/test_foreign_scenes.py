"""The second generator of ``bench/foreign_scenes.py``: scenes the chain reads as any
Ganerød-layout folder, drawn again the same from a seed, with landslides where it says."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import ndimage

from models.datasets import read_folder
from models.feature_stack import MODEL_BANDS
from monitor.ops.detect_stack import check_stack
from tests.ops.ops_fixtures import load_bench


@pytest.fixture(scope="module")
def foreign() -> ModuleType:
    return load_bench("foreign_scenes")


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
        assert 0.001 < on.mean() < 0.05  # a few per cent of the scene at most
        # heads start on 24-55° and the body runs out below: the median is steep ground
        assert np.median(scene.image[slope][on]) > 15.0
        clear = on & np.isfinite(scene.image[dndvi])
        # three quarters of the slides leave bare ground (NDVI 0.05-0.25 from 0.6-0.8)
        assert np.median(scene.image[dndvi][clear]) < -0.25
        quiet = foreign.draw_scene("q", 10_000 + seed, False)
        assert quiet.slides == 0 and not quiet.label.any()
        assert sum(quiet.lookalikes.values()) > 0


@pytest.mark.parametrize("east", [1.0, -1.0])
def test_layover_faces_the_sensor_and_shadow_turns_away(foreign: ModuleType, east: float) -> None:
    # planes of 60°, 20° and 0° rising towards the east or the west, seen at 38° looking east
    # (ascending) or west (descending)
    theta = 38.0
    slopes = np.array([60.0, 20.0, 0.0, -20.0, -60.0])  # positive: rises eastwards
    gx = np.tan(np.radians(slopes))[None, :]
    gy = np.zeros_like(gx)
    lia, layover, shadow = foreign.radar_geometry(gx, gy, theta, east, 0.0)
    facing = slopes * east  # positive: rises away from the sensor, so faces it
    # the local incidence angle is the incidence angle less the slope facing the sensor
    np.testing.assert_allclose(lia[0], np.abs(theta - facing), atol=1e-9)
    # steeper than the incidence angle facing it: layover; steeper than 90 - 38 facing away:
    # shadow (and the local incidence angle beyond 90°)
    np.testing.assert_array_equal(layover[0], facing > theta)
    np.testing.assert_array_equal(shadow[0], -facing > 90.0 - theta)
    assert lia[0][shadow[0]].min() > 90.0
    assert layover[0].sum() == 1 and shadow[0].sum() == 1


def test_a_landslide_runs_down_the_slope(foreign: ModuleType) -> None:
    rng = np.random.default_rng(5)
    dem = foreign._terrain(rng)
    smooth = ndimage.gaussian_filter(dem, 3)
    _, sgx, sgy = foreign._slope_aspect(smooth)
    slope = foreign._slope_aspect(dem)[0]
    heads = np.argwhere((slope > 24) & (slope < 55))[::500][:20]
    drops = []
    for r, c in heads:
        path = foreign._downslope_path((float(r), float(c)), sgx, sgy, slope, 30)
        if len(path) < 2:  # a head on the scene's edge, or a pit
            continue
        z = [smooth[round(p[0]), round(p[1])] for p in path]
        drops.append(z[0] - z[-1])
        # every step goes down the smoothed ground, but for rounding to the pixel
        assert np.all(np.diff(z) < 1.0)
    assert len(drops) >= 15 and min(drops) > 0.0


def test_look_alikes_mark_where_the_ground_changed(foreign: ModuleType) -> None:
    dndvi = MODEL_BANDS.index("dNDVI")
    scene = foreign.draw_scene("q", 10_003, False)
    change = scene.image[dndvi]
    clear = np.isfinite(change)
    untouched = clear & (scene.kinds == 0)
    assert abs(float(np.median(change[untouched]))) < 0.1  # phenology alone
    for name in scene.lookalikes:
        if name in ("drawdown", "cloud_edge"):  # water to mud raises NDVI; haze is faint
            continue
        where = clear & (scene.kinds == foreign.KINDS.index(name))
        assert where.any(), name
        assert float(np.median(change[where])) < -0.2, name


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
    for path in sorted((tmp_path / "storm" / "input").glob("*.tif")):
        assert check_stack(path) == []  # what detect --stack accepts, without a warning
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
    bench = load_bench("bench_foreign_scenes")
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    wanted = {"storm": 2, "quiet": 1, "val": 1, "seed": 0, "train": 0}
    (scenes / "drawn.json").write_text(json.dumps({"wanted": wanted, "sets": {}}))
    # the same draw but for --storm
    argv = ["bench", "--work", str(tmp_path), "--storm", "3", "--quiet", "1", "--val", "1"]
    monkeypatch.setattr(sys, "argv", argv)
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


def test_false_objects_are_counted_by_what_was_drawn_under_them(
    foreign: ModuleType, tmp_path: Path
) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    scene = foreign.draw_scene("foreign-storm-000", 0, True)
    root = tmp_path / "storm"
    foreign.write_kinds(root, scene)
    t = scene.transform

    def pixel(row: int, col: int) -> object:
        x, y = t * (col, row)
        return box(x + 1, y - 9, x + 9, y - 1)  # inside the pixel, so it covers it alone

    drawn = next(k for k in scene.lookalikes)
    code = foreign.KINDS.index(drawn)
    (lr, lc), (kr, kc) = np.argwhere(scene.label == 1)[0], np.argwhere(scene.kinds == code)[0]
    (sr, sc) = np.argwhere(scene.kinds == code)[-1]  # detections do not overlap: another pixel
    (nr, nc) = np.argwhere(scene.kinds == 0)[0]
    frame = gpd.GeoDataFrame(
        {
            "scene": [scene.id] * 4,
            "suppressed": [0, 0, 0, 1],
            "geometry": [pixel(lr, lc), pixel(kr, kc), pixel(nr, nc), pixel(sr, sc)],
        },
        crs="EPSG:32633",
    )
    path = tmp_path / "detections.gpkg"
    frame.to_file(path)
    # the landslide is no false object; the suppressed one counts only when all are asked for
    assert foreign.false_objects_by_kind(path, root) == {drawn: 1, "nothing drawn": 1}
    assert foreign.false_objects_by_kind(path, root, kept_only=False) == {
        drawn: 2,
        "nothing drawn": 1,
    }
