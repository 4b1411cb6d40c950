"""Scores, object detection, the performance diagram, and the dataset readers/writers."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from models.datasets import (
    LAYOUT_PIXEL_AREA_M2,
    DatasetError,
    Scene,
    band_statistics,
    read_folder,
    read_landslide4sense,
    scene_ids,
    write_scene,
)
from models.metrics import (
    Confusion,
    confusion,
    object_detection,
    paired_count_difference,
    paired_f1_difference,
    performance_diagram,
)


def test_confusion_scores() -> None:
    truth = np.zeros((10, 10), bool)
    truth[:4, :5] = True  # 20 positives
    pred = np.zeros_like(truth)
    pred[:4, :3] = True  # 12 TP
    pred[9, :6] = True  # 6 FP
    valid = np.ones_like(truth)
    valid[9, 5] = False  # one FP not scored
    c = confusion(pred, truth, valid)
    assert (c.tp, c.fp, c.fn, c.tn) == (12, 5, 8, 74)
    assert c.precision == pytest.approx(12 / 17)
    assert c.recall == pytest.approx(12 / 20)
    assert c.f1 == pytest.approx(24 / 37)
    assert c.iou == pytest.approx(12 / 25)
    assert c.bias == pytest.approx(17 / 20)
    mcc = (12 * 74 - 5 * 8) / math.sqrt(17 * 20 * 79 * 82)
    assert c.mcc == pytest.approx(mcc)
    assert (c + c).f1 == pytest.approx(c.f1)
    assert Confusion().f1 == 0.0 and math.isnan(Confusion().precision)


def test_paired_f1_difference() -> None:
    better = [Confusion(90, 10, 10, 890), Confusion(40, 5, 5, 950), Confusion(70, 20, 0, 910)]
    worse = [Confusion(80, 20, 20, 880), Confusion(35, 10, 10, 945), Confusion(60, 30, 10, 900)]
    d = paired_f1_difference(better, worse, resamples=2000)
    # pooled F1: 2*200/(400+35+15) = 0.8889 against 2*175/(350+60+40) = 0.7778
    assert d["difference"] == pytest.approx(400 / 450 - 350 / 450)
    assert 0 < d["low"] <= d["difference"] <= d["high"]  # wins in every scene: never below 0
    assert (d["wins"], d["scenes"], d["level"]) == (3, 3, 0.95)
    assert paired_f1_difference(better, worse, resamples=2000) == d  # seeded
    same = paired_f1_difference(worse, worse, resamples=500)
    assert (same["difference"], same["low"], same["high"], same["wins"]) == (0, 0, 0, 0)
    # one scene where the other model is far better: the interval now straddles zero
    mixed = paired_f1_difference([*better, Confusion(0, 0, 300, 700)],
                                 [*worse, Confusion(300, 0, 0, 700)], resamples=2000)  # fmt: skip
    assert mixed["difference"] < 0 < mixed["high"] and mixed["wins"] == 3
    # scenes without a known pixel (all 255) are no evidence: left out, and counted (found by a
    # new user: 7 such of 8 scenes widened a one-scene interval and read "1 of 8")
    nothing = Confusion(0, 0, 0, 0)
    padded = paired_f1_difference([*better, nothing, nothing], [*worse, nothing, nothing],
                                  resamples=2000)  # fmt: skip
    same_keys = [k for k in d if k != "scenes_without_known_pixels"]
    assert {k: padded[k] for k in same_keys} == {k: d[k] for k in same_keys}
    assert padded["scenes_without_known_pixels"] == 2
    blind = paired_f1_difference([nothing, nothing], [nothing, nothing])
    assert blind["scenes"] == 0 and blind["scenes_without_known_pixels"] == 2
    assert np.isnan(blind["difference"]) and np.isnan(blind["low"])
    with pytest.raises(ValueError, match="same, non-zero number of scenes; got 3 and 2"):
        paired_f1_difference(better, worse[:2])
    with pytest.raises(ValueError, match="level must be between 0 and 1, got 95"):
        paired_f1_difference(better, worse, level=95)


def test_paired_f1_difference_interval_by_hand() -> None:
    c = Confusion
    a = [c(9, 1, 2, 50), c(3, 4, 1, 50), c(0, 0, 0, 60), c(5, 0, 5, 40)]
    b = [c(8, 3, 3, 50), c(4, 1, 0, 50), c(0, 0, 0, 60), c(2, 2, 8, 40)]
    d = paired_f1_difference(a, b, resamples=200, level=0.8, seed=3)
    picks = np.random.default_rng(3).integers(0, 4, size=(200, 4))  # the draws it makes
    diffs = [sum((a[i] for i in row), Confusion()).f1 - sum((b[i] for i in row), Confusion()).f1
             for row in picks]  # fmt: skip
    assert d["low"] == pytest.approx(np.percentile(diffs, 10))
    assert d["high"] == pytest.approx(np.percentile(diffs, 90))
    assert d["resamples"] == 200 and d["wins"] == 2  # the empty scene (F1 0 for both) is no win
    nothing = [Confusion(0, 0, 0, 100)] * 3  # zero denominators: F1 0 on both sides
    none = paired_f1_difference(nothing, nothing, resamples=100)
    assert (none["difference"], none["low"], none["high"], none["wins"]) == (0, 0, 0, 0)


def test_the_bootstrap_resamples_groups_of_scenes_whole() -> None:
    """Found by a methodology review: the 112 test scenes are 14 regions of 8 views that share
    their storms' landslides, and the bootstrap drew them one by one, as if independent. Four
    copies of each of six scenes are the same evidence as the six scenes: grouped, the interval
    is theirs; drawn one by one, it is narrower, as if there were 24."""
    c = Confusion
    a6 = [c(40, 10, 12, 900), c(5, 30, 20, 900), c(60, 5, 8, 900), c(12, 12, 30, 900),
          c(30, 2, 6, 900), c(8, 25, 15, 900)]  # fmt: skip
    b6 = [c(35, 15, 17, 900), c(8, 25, 17, 900), c(50, 9, 18, 900), c(15, 20, 27, 900),
          c(22, 6, 14, 900), c(7, 25, 16, 900)]  # fmt: skip
    a24, b24 = [x for x in a6 for _ in range(4)], [y for y in b6 for _ in range(4)]
    regions = [f"region-{i}" for i in range(6) for _ in range(4)]
    unique = paired_f1_difference(a6, b6, resamples=4000, seed=7)
    grouped = paired_f1_difference(a24, b24, groups=regions, resamples=4000, seed=7)
    independent = paired_f1_difference(a24, b24, resamples=4000, seed=7)
    assert (grouped["low"], grouped["high"]) == pytest.approx((unique["low"], unique["high"]))
    assert (grouped["groups"], grouped["scenes"], independent["groups"]) == (6, 24, 24)
    assert grouped["difference"] == pytest.approx(independent["difference"])
    width = {k: d["high"] - d["low"] for k, d in (("g", grouped), ("i", independent))}
    assert width["g"] > 1.6 * width["i"]  # about 2 = sqrt(4) for copies of four
    assert independent["low"] > 0 > grouped["low"]  # "beats it" was the narrow interval's
    # the pairing holds: the same groups drawn for both models (a model against itself: 0)
    itself = paired_f1_difference(a24, a24, groups=regions, resamples=500)
    assert (itself["low"], itself["high"]) == (0, 0)
    # counts per scene (false objects): the grouped totals are four times the six scenes'
    fa, fb = [3, 0, 5, 1, 2, 4], [4, 2, 3, 3, 2, 6]
    once = paired_count_difference(fa, fb, resamples=4000, seed=7)
    four = paired_count_difference([x for x in fa for _ in range(4)],
                                   [y for y in fb for _ in range(4)],
                                   groups=regions, resamples=4000, seed=7)  # fmt: skip
    assert (four["low"], four["high"]) == (4 * once["low"], 4 * once["high"])
    assert (four["groups"], four["scenes"], four["fewer"]) == (6, 24, 16)
    # scenes without a known pixel leave their group; a group with none left is no group
    nothing = Confusion(0, 0, 0, 0)
    padded = paired_f1_difference(
        [*a24, nothing], [*b24, nothing], groups=[*regions, "region-9"], resamples=4000, seed=7
    )
    assert (padded["low"], padded["groups"]) == (grouped["low"], 6)
    with pytest.raises(ValueError, match="groups: 23 given for 24 scenes"):
        paired_f1_difference(a24, b24, groups=regions[:-1])


def test_one_group_of_scenes_has_no_interval() -> None:
    """Found by a reviewer: with the scenes of one region, `evaluate` printed "+0.012 to +0.012"
    (n = 1): one group resampled is always itself, a zero-width interval that reads as
    certainty. The difference stands; the bounds are NaN, formatted as "no interval"."""
    from models.evaluate import format_interval

    c = Confusion
    a = [c(40, 10, 12, 900), c(5, 30, 20, 900), c(60, 5, 8, 900)]
    b = [c(35, 15, 17, 900), c(8, 25, 17, 900), c(50, 9, 18, 900)]
    one = ["region-a"] * 3
    d = paired_f1_difference(a, b, groups=one, resamples=500)
    assert d["difference"] == pytest.approx(sum(a, c()).f1 - sum(b, c()).f1)
    assert (d["groups"], d["scenes"], d["wins"]) == (1, 3, 2)
    assert math.isnan(d["low"]) and math.isnan(d["high"])
    single = paired_f1_difference(a[:1], b[:1], resamples=500)  # one scene, no groups given
    assert single["groups"] == 1 and math.isnan(single["low"]) and math.isnan(single["high"])
    count = paired_count_difference([3, 0, 5], [4, 2, 3], groups=one, resamples=500)
    assert (count["difference"], count["groups"], count["fewer"]) == (-1.0, 1, 2)
    assert math.isnan(count["low"]) and math.isnan(count["high"])
    two = paired_f1_difference(a, b, groups=["region-a", "region-a", "region-b"], resamples=500)
    assert two["low"] < two["high"]  # two groups: an interval
    assert format_interval(d) == format_interval(count, "+.0f") == "no interval"
    assert format_interval({"low": None, "high": None}) == "no interval"  # as read from JSON
    assert format_interval(two, "+.3f", "95 % interval ") == (
        f"95 % interval {two['low']:+.3f} to {two['high']:+.3f}"
    )


def test_object_detection_by_size_class() -> None:
    truth = np.zeros((60, 60), bool)
    truth[1:3, 1:3] = True  # 4 px = 400 m²
    truth[10:20, 10:20] = True  # 100 px = 10,000 m²
    truth[30:50, 30:50] = True  # 400 px = 40,000 m²
    pred = np.zeros_like(truth)
    pred[15, 15] = True
    rows = object_detection(pred, truth)
    by_class = {r["min_m2"]: (r["objects"], r["detected"]) for r in rows}
    assert by_class == {0.0: (1, 0), 1_000.0: (0, 0), 10_000.0: (2, 1), 100_000.0: (0, 0)}


def test_a_scene_s_pixel_area_is_its_ground_area() -> None:
    """Found by a walkthrough: the pixel report's size classes took every pixel for 10 m, so
    landslides of 27.6, 17.7 and 4.4 ha on a 20 m stack all fell in 1-10 ha."""
    image, label = np.zeros((1, 10, 10), np.float32), np.zeros((10, 10), np.uint8)

    def area(crs: str | None, transform: Affine | None) -> float:
        scene = Scene("a", image, label, CRS.from_string(crs) if crs else None, transform)
        return scene.pixel_area_m2

    # in a UTM zone, the grid's own metres (as the chain and the inventory measure), wherever
    # the scene lies in the zone (found in review: the ground's, 99.98-100.08 m² a pixel, moved
    # a slide of exactly 100 pixels across 1 ha by where it lay)
    utm = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_100_000.0)
    assert area("EPSG:32632", utm) == 100.0
    assert area("EPSG:32632", Affine(10.0, 0.0, 300_000.0, 0.0, -10.0, 5_100_000.0)) == 100.0
    assert area("EPSG:32632", utm @ Affine.scale(2.0)) == 400.0
    # 0.0001° at 46° N: 11.12 m of latitude by 7.73 m of longitude (WGS 84 radii there)
    lat = math.radians(46.0 - 0.00005)
    e2 = 0.00669437999014
    w = math.sqrt(1 - e2 * math.sin(lat) ** 2)
    north = 6378137.0 * (1 - e2) / w**3 * math.radians(0.0001)
    east = 6378137.0 / w * math.cos(lat) * math.radians(0.0001)
    degrees = Affine(0.0001, 0.0, 9.0, 0.0, -0.0001, 46.0005)
    assert area("EPSG:4326", degrees) == pytest.approx(north * east, rel=1e-4)
    # Web Mercator's 10 m at 60° N are 5 m on its sphere (a scale of 1 / cos 60°): the ground's
    # area (on the ellipsoid 0.34 % larger there)
    mercator = Affine(10.0, 0.0, 1_000_000.0, 0.0, -10.0, 8_399_737.9 + 50.0)
    assert area("EPSG:3857", mercator) == pytest.approx(25.0, rel=5e-3)
    assert area(None, None) == LAYOUT_PIXEL_AREA_M2 == 100.0


def test_the_pixel_report_s_size_classes_read_the_scene_s_pixel_size(tmp_path: Path) -> None:
    from models.evaluate import evaluate_folder
    from models.testing import build_untrained_ensemble

    image = np.zeros((15, 40, 40), np.float32)
    label = np.zeros((40, 40), np.uint8)
    label[5:35, 5:35] = 1  # 900 pixels of 20 m: 36 ha (9 ha at 10 m)
    transform = Affine(20.0, 0.0, 500_000.0, 0.0, -20.0, 5_100_000.0)
    write_scene(tmp_path / "data", Scene("big", image, label, CRS.from_epsg(32632), transform))
    manifest = build_untrained_ensemble(tmp_path / "ens", settings=("S2",), architectures=("Unet",))
    report = evaluate_folder(
        tmp_path / "data", manifest, tmp_path / "out", write_predictions=False, progress=False
    )
    rows = report["settings"]["S2"]["objects"]["ensemble"]
    assert {r["min_m2"]: r["objects"] for r in rows} == {
        0.0: 0, 1_000.0: 0, 10_000.0: 0, 100_000.0: 1
    }  # fmt: skip


def test_an_evaluation_into_an_earlier_one_s_folder_removes_what_that_one_wrote(
    tmp_path: Path, scene_factory: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walkthrough: the earlier run's settings, diagrams and predictions stayed
    beside a report of the new run alone, and read as its own."""
    from models.evaluate import evaluate_folder
    from models.manifest import ManifestError
    from models.testing import build_untrained_ensemble

    for folder, seed in (("one", 1), ("two", 2)):
        write_scene(tmp_path / folder, scene_factory(seed, size=32))
    manifest = build_untrained_ensemble(
        tmp_path / "ens", settings=("S1", "S2"), architectures=("Unet",)
    )
    out = tmp_path / "out"
    evaluate_folder(tmp_path / "one", manifest, out, progress=False)
    assert (out / "S2" / "scene1_pred.tif").is_file() and (out / "performance_S2.png").is_file()
    (out / "notes.txt").write_text("mine")
    with caplog.at_level(logging.WARNING, logger="models.evaluate"):
        evaluate_folder(tmp_path / "two", manifest, out, settings=["S1"], progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "S1", "S1/scene2_pred.tif", "notes.txt", "performance_S1.png", "report.json", "report.md"
    ]  # fmt: skip
    (message,) = [r.message for r in caplog.records if r.name == "models.evaluate"]
    said = f"{out} held an earlier evaluation (S1, S2, 1 scene(s) of {tmp_path / 'one'}): its 3"
    assert said in message
    # found in review: a run that fails leaves the earlier evaluation as it was ...
    before = sorted(out.rglob("*"))
    with pytest.raises(ManifestError):
        evaluate_folder(tmp_path / "one", manifest, out, settings=["S1+S2"], progress=False)
    assert sorted(out.rglob("*")) == before
    # ... and a report.json naming paths outside the folder removes nothing there
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep_pred.tif").write_text("mine")
    fake = {"manifest": "m", "scene_groups": {}, "settings": [str(elsewhere)], "scenes": ["keep"]}
    (out / "report.json").write_text(json.dumps(fake))
    evaluate_folder(tmp_path / "two", manifest, out, settings=["S1"], progress=False)
    assert (elsewhere / "keep_pred.tif").read_text() == "mine"


def test_performance_diagram_is_written(tmp_path: Path) -> None:
    points = {"ensemble": Confusion(70, 20, 30, 900), "baseline": Confusion(40, 60, 60, 860)}
    path = performance_diagram(points, tmp_path / "diagram.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_ganerod_layout_roundtrip(tmp_path: Path, scene_factory: Callable[..., Scene]) -> None:
    scene = scene_factory(1, size=40)
    write_scene(tmp_path, scene)
    assert (tmp_path / "input" / "scene1_input.tif").exists()
    assert scene_ids(tmp_path) == ["scene1"]
    (back,) = read_folder(tmp_path)
    np.testing.assert_array_equal(back.image, scene.image)  # NaN positions included
    np.testing.assert_array_equal(back.label, scene.label)
    assert back.crs is not None
    assert back.crs.to_epsg() == 32633 and back.transform == scene.transform
    label = tmp_path / "label" / "scene1_label.tif"
    label.rename(label.with_name("scene1_LABEL.tif"))  # found in a walk: not pointed to
    with pytest.raises(DatasetError) as missing:
        scene_ids(tmp_path)
    assert str(missing.value) == (
        f"{tmp_path}: labels missing for inputs: {label}; named otherwise in label/, not read "
        "(the names are case-sensitive, and a copy's ' (1)' is no part of them): scene1_LABEL.tif"
    )
    (tmp_path / "label" / "scene1_LABEL.tif").unlink()
    with pytest.raises(DatasetError, match="labels missing"):
        scene_ids(tmp_path)
    with pytest.raises(DatasetError, match=r"nothing: no such folder \(a Ganerød-layout"):
        scene_ids(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no input/<id>_input\.tif"):
        scene_ids(tmp_path / "empty")


def test_scenes_a_folder_does_not_read_are_named_and_counted(
    tmp_path: Path, scene_factory: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    """Found walking the layout: an input named .tiff or _INPUT.TIF (as detect --stack warns
    of) and a label without its input were left out of training and scores without a word."""
    write_scene(tmp_path, scene_factory(1, size=40))
    write_scene(tmp_path, scene_factory(2, size=40))
    ipath = tmp_path / "input" / "scene2_input.tif"
    ipath.rename(ipath.with_name("Scene Two_input.tiff"))
    (tmp_path / "label" / "scene2_label.tif").rename(tmp_path / "label" / "Scene Two_label.tiff")
    write_scene(tmp_path, scene_factory(3, size=40))
    (tmp_path / "input" / "scene3_input.tif").unlink()
    (tmp_path / "input" / "notes.txt").write_text("not a scene")
    # a browser's second download of a scene (found in a walk: left out without a word)
    write_scene(tmp_path / "copy", scene_factory(4, size=40))
    (tmp_path / "copy" / "input" / "scene4_input.tif").rename(
        tmp_path / "input" / "scene4_input (1).tif"
    )
    with caplog.at_level(logging.WARNING, logger="models.datasets"):
        assert scene_ids(tmp_path) == ["scene1"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{tmp_path / 'input'}: 2 file(s) not read, as an input is named <id>_input.tif: "
        "Scene Two_input.tiff, scene4_input (1).tif",
        f"{tmp_path / 'label'}: 2 label file(s) not read, as a label is named <id>_label.tif "
        "beside its input/<id>_input.tif: Scene Two_label.tiff, scene3_label.tif",
    ]


def test_band_statistics_ignore_nan(scene_factory: Callable[..., Scene]) -> None:
    scene = scene_factory(2, size=64)
    scene.image[13] = 5.0
    scene.image[13, 10:20] = np.nan
    mean, std = band_statistics([scene], "S2")
    assert mean[0] == pytest.approx(5.0) and std[0] == 1.0  # constant band: unit std


def test_landslide4sense_patches(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "mask").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        with h5py.File(tmp_path / "img" / f"image_{i}.h5", "w") as f:
            f["img"] = rng.normal(size=(128, 128, 14)).astype(np.float32)
        with h5py.File(tmp_path / "mask" / f"mask_{i}.h5", "w") as f:
            f["mask"] = (rng.random((128, 128)) > 0.9).astype(np.uint8)
    scenes = read_landslide4sense(tmp_path / "img", tmp_path / "mask")
    assert [s.image.shape for s in scenes] == [(14, 128, 128)] * 2
    assert scenes[0].channels("L4S").shape == (14, 128, 128)
    assert 0.05 < scenes[1].label.mean() < 0.15
