"""Chain metrics recomputed by hand on a 20 x 20 labelled scene (10 m pixels, 0.04 km²).

Label: object A, 3 x 3 pixels (900 m², class <0.1 ha), object B, 10 x 10 pixels (1 ha, class
1-5 ha); 109 label pixels. Polygons: P1 covers half of B (5 x 10 = 50 pixels), P2 covers no label
(4 x 4 = 16 pixels), P3 covers A exactly and was suppressed by the filter.

With the filter (P1, P2): B detected, A not; one false object; tp 50, fp 16, fn 59.
Without it (P1, P2, P3): both detected; one false object; tp 59, fp 16, fn 50.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely import unary_union
from shapely.geometry import box

from models.chain_metrics import chain_scores, format_chain_report, scene_objects, unknown_class
from models.cli import main

T = Affine(10.0, 0.0, 400_000.0, 0.0, -10.0, 6_000_000.0)
CRS = "EPSG:32632"


def _label() -> np.ndarray:
    label = np.zeros((20, 20), np.uint8)
    label[1:4, 1:4] = 1  # A
    label[8:18, 8:18] = 1  # B
    return label


def _pixels(r0: int, c0: int, r1: int, c1: int):
    """The polygon covering pixel rows r0..r1-1, columns c0..c1-1."""
    x0, y0 = T * (c0, r0)
    x1, y1 = T * (c1, r1)
    return box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


POLYGONS = [_pixels(8, 8, 18, 13), _pixels(0, 14, 4, 18), _pixels(1, 1, 4, 4)]
SUPPRESSED = [False, False, True]


def test_chain_scores_by_hand():
    scene = scene_objects("s", _label(), T, POLYGONS)
    assert scene.area_km2 == pytest.approx(0.04)
    assert scene.event_area_m2.tolist() == [900.0, 10_000.0]
    assert scene.tp.tolist() == [50, 0, 9] and scene.fp.tolist() == [0, 16, 0]

    filtered = chain_scores([scene], [~np.array(SUPPRESSED)])
    assert filtered.recall_by_size["<0.1 ha"] == (0, 1)
    assert filtered.recall_by_size["1-5 ha"] == (1, 1)
    assert filtered.recall_by_size[">=1 ha"] == (1, 1)
    assert filtered.recall_by_size["all"] == (1, 2)
    assert filtered.false_objects == 1 and filtered.false_objects_large == 0  # 0.16 ha
    assert filtered.false_per_100km2 == pytest.approx(100 * 1 / 0.04)
    assert (filtered.tp, filtered.fp, filtered.fn) == (50, 16, 59)
    assert filtered.precision == pytest.approx(50 / 66)
    assert filtered.pixel_recall == pytest.approx(50 / 109)
    assert filtered.f1 == pytest.approx(2 * 50 / (2 * 50 + 16 + 59))

    everything = chain_scores([scene])
    assert everything.recall_by_size["all"] == (2, 2)
    assert (everything.tp, everything.fp, everything.fn) == (59, 16, 50)
    assert everything.f1 == pytest.approx(2 * 59 / (2 * 59 + 16 + 50))


def test_models_evaluate_chain_reads_detections_and_labels(tmp_path: Path, capsys):
    data = tmp_path / "data"
    for folder, name, values in (
        ("label", "s_label.tif", _label()),
        ("input", "s_input.tif", None),
    ):
        (data / folder).mkdir(parents=True, exist_ok=True)
        count = 1 if values is not None else 15
        array = values[None] if values is not None else np.zeros((15, 20, 20), np.float32)
        with rasterio.open(
            data / folder / name,
            "w",
            driver="GTiff",
            height=20,
            width=20,
            count=count,
            dtype=array.dtype,
            crs=CRS,
            transform=T,
        ) as dst:
            dst.write(array)
    detections = tmp_path / "det"
    detections.mkdir()
    frame = gpd.GeoDataFrame(
        {"scene": ["s"] * 3, "suppressed": SUPPRESSED}, geometry=POLYGONS, crs=CRS
    ).to_crs("EPSG:4326")  # as detect --stack writes scenes of several CRSs
    frame.to_file(detections / "detections.gpkg", layer="detections")

    out = tmp_path / "report"
    assert (
        main(["evaluate", "--chain", str(detections), "--data", str(data), "--out", str(out)]) == 0
    )
    report = json.loads((out / "chain_report.json").read_text())
    assert report["with_filter"]["pixel_f1"] == pytest.approx(100 / 175)
    assert report["without_filter"]["pixel_f1"] == pytest.approx(118 / 184)
    assert report["with_filter"]["recall_by_size"]["<0.1 ha"] == [0, 1]
    assert report["without_filter"]["recall_by_size"]["<0.1 ha"] == [1, 1]
    assert report["look_alike_only"]["scenes"] == 0
    assert "| with filter | 0.00 (0/1)" in capsys.readouterr().out


def test_ignored_pixels_count_for_nothing_by_hand():
    """Found by a new user: pixels of unknown class (255, the weak labels of `dataset export`
    and `from-reviews`) were scored as background. Here the label's object A is unknown (255)
    and so is the 4 x 4 corner under P2: P3 (on A) and P2 are neither hits nor false objects,
    and their pixels leave the pixel scores and the scene area."""
    label = _label()
    ignore = np.zeros_like(label, dtype=bool)
    ignore[1:4, 1:4] = True  # A
    ignore[0:4, 14:18] = True  # under P2
    label[ignore] = 255
    scene = scene_objects("s", label == 1, T, POLYGONS, ignore)
    assert scene.area_km2 == pytest.approx((400 - 9 - 16) * 100 / 1e6)
    assert scene.event_area_m2.tolist() == [10_000.0]  # B only
    assert scene.tp.tolist() == [50, 0, 0] and scene.fp.tolist() == [0, 0, 0]
    assert scene.unknown.tolist() == [False, True, True]
    everything = chain_scores([scene])
    assert everything.false_objects == 0 and everything.recall_by_size["all"] == (1, 1)
    assert (everything.tp, everything.fp, everything.fn) == (50, 0, 50)
    # without the ignore mask the 255 pixels are background (as `evaluate --chain` read them)
    plain = chain_scores([scene_objects("s", label == 1, T, POLYGONS)])
    assert plain.false_objects == 2
    # a polygon mostly on known background that touches one ignored pixel stays false
    wide = _pixels(3, 3, 14, 8)  # 11 x 5 pixels: one on the ignored A (row 3, column 3)
    one = scene_objects("s", label == 1, T, [wide], ignore)
    assert one.unknown.tolist() == [False] and chain_scores([one]).false_objects == 1


def test_scenes_detect_never_ran_are_refused_not_scored_as_empty(tmp_path: Path) -> None:
    """Found by a new user: a labelled folder of three scenes scored against the detections of
    one gave a recall of 1/3, silently (the scenes without polygons counted as found nothing)."""
    from models.chain_metrics import evaluate_chain
    from models.datasets import DatasetError

    data = tmp_path / "data"
    (data / "label").mkdir(parents=True)
    (data / "input").mkdir()
    profile = {"driver": "GTiff", "height": 20, "width": 20, "dtype": "uint8", "crs": CRS,
               "transform": T}  # fmt: skip
    for scene in ("a", "b"):
        for folder, count, dtype in (("label", 1, "uint8"), ("input", 15, "float32")):
            path = data / folder / f"{scene}_{folder}.tif"
            with rasterio.open(path, "w", count=count, **{**profile, "dtype": dtype}) as dst:
                dst.write(np.zeros((count, 20, 20), dtype))
    det = tmp_path / "det"
    det.mkdir()
    gpd.GeoDataFrame({"scene": ["a"], "suppressed": [False]}, geometry=[POLYGONS[1]],
                     crs=CRS).to_file(det / "detections.gpkg")  # fmt: skip
    (det / "summary.json").write_text(json.dumps({"scenes": {"a": {"status": "ok"}}}))
    with pytest.raises(DatasetError, match=r"never ran 1 scene\(s\) of .* \(b\)"):
        evaluate_chain(det, data)
    (det / "summary.json").write_text(json.dumps({"scenes": {"a": {}, "b": {}}}))
    assert evaluate_chain(det, data)["with_filter"]["scenes"] == 2
    # a scene on which no setting could run is scored (the chain drew nothing there) and said
    # to be one (a user walkthrough, 2026-12-06: it read as plain misses)
    ran = {"a": {"status": "ok"}, "b": {"status": "no-data", "message": "no setting"}}
    (det / "summary.json").write_text(json.dumps({"scenes": ran}))
    report = evaluate_chain(det, data)
    assert report["no_data_scenes"] == ["b"] and report["with_filter"]["scenes"] == 2
    assert (
        "1 of them had no setting of the ensemble with data to run on (`detect --stack`: "
        "no-data; its summary says why), scored as scenes where the chain drew nothing: b."
    ) in format_chain_report(report)


def test_polygons_of_another_stack_of_the_same_id_are_refused(tmp_path: Path) -> None:
    """Found by a review: detections were matched to the labelled folder's scenes by id alone,
    so the polygons drawn on one split scored against another split's scene of the same id
    (scene ids repeat across splits and worlds) without a word. detect --stack records each
    stack's SHA-256; a labelled input that differs from it is refused, one that matches (a
    copy elsewhere) is scored, and a summary without hashes (older runs) is not checked."""
    from models.chain_metrics import evaluate_chain
    from models.datasets import DatasetError
    from models.manifest import sha256_file

    data = tmp_path / "data"
    (data / "label").mkdir(parents=True)
    (data / "input").mkdir()
    profile = {"driver": "GTiff", "height": 20, "width": 20, "crs": CRS, "transform": T}
    with rasterio.open(data / "label" / "a_label.tif", "w", count=1, dtype="uint8",
                       **profile) as dst:  # fmt: skip
        dst.write(_label()[None])
    stack = data / "input" / "a_input.tif"
    with rasterio.open(stack, "w", count=15, dtype="float32", **profile) as dst:
        dst.write(np.ones((15, 20, 20), np.float32))
    det = tmp_path / "det"
    det.mkdir()
    gpd.GeoDataFrame({"scene": ["a"], "suppressed": [False]}, geometry=[POLYGONS[0]],
                     crs=CRS).to_file(det / "detections.gpkg")  # fmt: skip
    ran = {"stack": "/elsewhere/a_input.tif", "sha256": sha256_file(stack)}
    (det / "summary.json").write_text(json.dumps({"scenes": {"a": ran}}))
    assert evaluate_chain(det, data)["with_filter"]["recall_by_size"]["all"] == [1, 2]
    with rasterio.open(stack, "r+") as dst:  # the same id, another scene
        dst.write(np.full((15, 20, 20), 2, np.float32))
    with pytest.raises(DatasetError, match=r"ran other stacks than .* 1 scene\(s\), a \(ran "
                       r"/elsewhere/a_input.tif, not .*a_input.tif\)"):  # fmt: skip
        evaluate_chain(det, data)
    # found on a walk: the stack run, edited in place since, was named twice ("ran X, not X")
    (det / "summary.json").write_text(json.dumps({"scenes": {"a": {**ran, "stack": str(stack)}}}))
    with pytest.raises(DatasetError, match=r"1 scene\(s\), a \(.*a_input.tif changed since it "
                       r"ran: its SHA-256 is not the one run\)"):  # fmt: skip
        evaluate_chain(det, data)
    (det / "summary.json").write_text(json.dumps({"scenes": {"a": {"status": "ok"}}}))
    assert evaluate_chain(det, data)["with_filter"]["scenes"] == 1
    (det / "summary.json").write_text("[1, 2]")
    with pytest.raises(DatasetError, match="not detect --stack's summary"):
        evaluate_chain(det, data)


@pytest.mark.parametrize(
    ("label_grid", "refused"),
    [
        ({}, None),  # a plain mask: taken on its input's pixels
        ({"crs": CRS, "transform": T * Affine.translation(1000, 0)}, "is not its input's"),
        ({"crs": "EPSG:32633", "transform": T}, "is not its input's"),
        # found on a walk: the input's UTM zone written as a PROJ string is its ground too
        ({"crs": "+proj=utm +zone=32 +ellps=WGS84 +units=m +no_defs", "transform": T}, None),
    ],
)
def test_a_label_is_scored_on_its_input_grid(tmp_path: Path, label_grid, refused) -> None:
    """Found by a new user: a label written without georeferencing (a plain mask) was scored
    on a grid of 1-unit pixels at the origin: recall 0 and every polygon a false object; one
    georeferenced on another grid than its input was scored there, as silently."""
    from models.chain_metrics import evaluate_chain
    from models.datasets import DatasetError

    data = tmp_path / "data"
    (data / "label").mkdir(parents=True)
    (data / "input").mkdir()
    size = {"driver": "GTiff", "height": 20, "width": 20}
    with rasterio.open(data / "input" / "s_input.tif", "w", count=15, dtype="float32",
                       crs=CRS, transform=T, **size) as dst:  # fmt: skip
        dst.write(np.zeros((15, 20, 20), np.float32))
    with rasterio.open(data / "label" / "s_label.tif", "w", count=1, dtype="uint8",
                       **size, **label_grid) as dst:  # fmt: skip
        dst.write(_label()[None])
    det = tmp_path / "det"
    det.mkdir()
    gpd.GeoDataFrame({"scene": ["s"] * 3, "suppressed": [False] * 3}, geometry=POLYGONS,
                     crs=CRS).to_file(det / "detections.gpkg")  # fmt: skip
    if refused:
        with pytest.raises(DatasetError, match=refused):
            evaluate_chain(det, data)
        return
    report = evaluate_chain(det, data)["without_filter"]
    assert report["pixel_f1"] == pytest.approx(118 / 184)
    assert report["recall_by_size"]["<0.1 ha"] == [1, 1]


@pytest.mark.parametrize("fill", [np.nan, -9999.0])
def test_pixels_outside_the_inputs_footprint_are_not_scored(tmp_path: Path, fill) -> None:
    """A stack clipped to a region's outline (Earth Engine's ``clip``) holds no band outside
    it, where its label (clipped, then unmasked to 0) says background: those pixels counted in
    the scene's area, which lowered the false objects per 100 km², and a landslide labelled
    there was one the chain was scored for missing. They are of unknown class now, as 255."""
    from models.chain_metrics import evaluate_chain

    data = tmp_path / "data"
    (data / "label").mkdir(parents=True)
    (data / "input").mkdir()
    size = {"driver": "GTiff", "height": 20, "width": 20, "crs": CRS, "transform": T}
    image = np.zeros((15, 20, 20), np.float32)
    image[:, :6] = fill  # rows 0-5, with object A (rows 1-3) and polygon P2 (rows 0-3)
    nodata = None if np.isnan(fill) else fill
    with rasterio.open(data / "input" / "s_input.tif", "w", count=15, dtype="float32",
                       nodata=nodata, **size) as dst:  # fmt: skip
        dst.write(image)
    with rasterio.open(data / "label" / "s_label.tif", "w", count=1, dtype="uint8",
                       **size) as dst:  # fmt: skip
        dst.write(_label()[None])
    det = tmp_path / "det"
    det.mkdir()
    gpd.GeoDataFrame({"scene": ["s"] * 3, "suppressed": SUPPRESSED}, geometry=POLYGONS,
                     crs=CRS).to_file(det / "detections.gpkg")  # fmt: skip
    report = evaluate_chain(det, data)["with_filter"]
    assert report["area_km2"] == pytest.approx(0.028)  # 14 rows of 20 pixels of 100 m²
    assert report["recall_by_size"]["all"] == [1, 1]  # B; A lies outside
    assert report["false_objects"] == 0  # P2 lies outside
    assert (report["tp"], report["fp"], report["fn"]) == (50, 0, 50)


def test_detections_are_read_only_as_the_format_their_suffix_names(tmp_path: Path) -> None:
    """Found in a security review: GDAL picks a file's driver by its content, so an OGR VRT
    named detections.gpkg made `models evaluate --chain` read another local file (or, with a
    /vsicurl/ source, send requests from this host)."""
    from models.chain_metrics import evaluate_chain
    from models.datasets import DatasetError

    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text(f'wkt,scene,suppressed\n"{POLYGONS[1].wkt}",a,0\n')
    det = tmp_path / "det"
    det.mkdir()
    (det / "detections.gpkg").write_text(
        f'<OGRVRTDataSource><OGRVRTLayer name="d"><SrcDataSource>{elsewhere}</SrcDataSource>'
        '<SrcLayer>elsewhere</SrcLayer><GeometryField encoding="WKT" field="wkt"/>'
        "</OGRVRTLayer></OGRVRTDataSource>\n"
    )
    refused = f"{det / 'detections.gpkg'}: not a GeoPackage (an SQLite database) but an OGR VRT"
    with pytest.raises(DatasetError, match=f"^{re.escape(refused)}"):
        evaluate_chain(det, tmp_path / "data")


def _three() -> np.ndarray:
    """Object A (3 x 3 pixels, <0.1 ha), C (3 x 3, <0.1 ha) beside it, B (10 x 10, 1 ha)."""
    label = _label()
    label[1:4, 6:9] = 1  # C, two columns right of A
    return label


OVER_A_AND_C = _pixels(0, 0, 2, 10)  # the first rows of A and C (the chain's never overlap)
ON_A = _pixels(3, 1, 4, 4)  # the last row of A


@pytest.mark.parametrize(
    ("polygons", "touch", "one_to_one", "merged"),
    [
        # one polygon over two landslides: one of them found one-to-one
        ([OVER_A_AND_C], (2, 3), (1, 3), 1),
        # two polygons over one landslide (B's halves): one landslide, nothing merged
        ([_pixels(8, 8, 18, 13), _pixels(8, 13, 18, 18)], (1, 3), (1, 3), 0),
        # greedy matching in polygon order gives the first polygon A (A is labelled first)
        # and leaves the second none; the maximum matching gives it C and the second A
        ([OVER_A_AND_C, ON_A], (2, 3), (2, 3), 1),
        ([ON_A, OVER_A_AND_C], (2, 3), (2, 3), 1),
    ],
)
def test_one_to_one_recall_by_hand(polygons, touch, one_to_one, merged) -> None:
    """Found in a methodology review: one polygon spread over several landslides counted as
    several hits. The touch recall stays as it was; the one-to-one recall beside it lets each
    kept polygon count for one landslide at most."""
    scores = chain_scores([scene_objects("s", _three(), T, polygons)])
    assert scores.recall_by_size["all"] == touch
    assert scores.recall_one_to_one_by_size["all"] == one_to_one
    assert scores.recall_one_to_one("all") == pytest.approx(one_to_one[0] / 3)
    assert scores.merged_polygons == merged
    record = scores.as_dict()
    assert record["recall_one_to_one_by_size"]["all"] == list(one_to_one)
    assert record["merged_polygons"] == merged


def test_one_to_one_matches_the_largest_landslides_first() -> None:
    """A polygon over B (1 ha) and A (<0.1 ha), and one over A and C: B, and one of A and C,
    are found; the size classes add up to all. With the second polygon suppressed, the first
    counts for B, not A."""
    over_a_and_b = unary_union([_pixels(2, 1, 4, 4), _pixels(4, 2, 9, 9)])  # off C
    scene = scene_objects("s", _three(), T, [over_a_and_b, OVER_A_AND_C])
    both = chain_scores([scene])
    assert both.recall_by_size["all"] == (3, 3) and both.merged_polygons == 2
    assert both.recall_one_to_one_by_size["all"] == (2, 3)
    assert both.recall_one_to_one_by_size["<0.1 ha"] == (1, 2)
    assert both.recall_one_to_one_by_size["1-5 ha"] == (1, 1)
    first = chain_scores([scene], [np.array([True, False])])
    assert first.recall_by_size["<0.1 ha"] == (1, 2) and first.merged_polygons == 1
    assert first.recall_one_to_one_by_size[">=1 ha"] == (1, 1)
    assert first.recall_one_to_one_by_size["1-5 ha"] == (1, 1)
    assert first.recall_one_to_one_by_size["<0.1 ha"] == (0, 2)
    assert first.recall_one_to_one_by_size["all"] == (1, 3)


def test_models_evaluate_chain_reports_one_to_one_recall(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    for folder, array in (("label", _three()[None]), ("input", np.zeros((15, 20, 20), "f4"))):
        (data / folder).mkdir(parents=True)
        with rasterio.open(data / folder / f"s_{folder}.tif", "w", driver="GTiff", height=20,
                           width=20, count=len(array), dtype=array.dtype, crs=CRS,
                           transform=T) as dst:  # fmt: skip
            dst.write(array)
    det = tmp_path / "det"
    det.mkdir()
    frame = gpd.GeoDataFrame(
        {"scene": ["s"] * 2, "suppressed": [False, True]}, geometry=[OVER_A_AND_C, ON_A], crs=CRS
    )
    frame.to_file(det / "detections.gpkg")
    out = tmp_path / "report"
    assert main(["evaluate", "--chain", str(det), "--data", str(data), "--out", str(out)]) == 0
    report = json.loads((out / "chain_report.json").read_text())
    assert report["with_filter"]["recall_by_size"]["all"] == [2, 3]
    assert report["with_filter"]["recall_one_to_one_by_size"]["all"] == [1, 3]
    assert report["without_filter"]["recall_one_to_one_by_size"]["all"] == [2, 3]
    assert report["with_filter"]["merged_polygons"] == 1
    printed = capsys.readouterr().out
    assert "| with filter | 0.50 (1/2) | - (0/0) |" in printed  # <0.1 ha: A or C
    assert printed.count("| 0.33 (1/3) | 1 |") == 1  # all, merged polygons
    assert (out / "chain_report.md").read_text().strip() in printed


def test_unknown_class_is_the_ignored_label_and_the_ground_outside_the_input() -> None:
    """One definition for `evaluate --chain` and the candidates the object filter learns from
    and is calibrated on (monitor.ops.filter_fit.collect)."""
    image = np.ones((15, 4, 4), np.float32)
    assert unknown_class(image, None) is None  # a full footprint, no 255: nothing unknown
    ignore = np.zeros((4, 4), bool)
    ignore[0, 0] = True
    assert unknown_class(image, ignore) is ignore
    image[:, 3, :] = np.nan  # a stack clipped to an outline: its last row holds no band
    out = unknown_class(image, ignore)
    assert out is not None and out.sum() == 5 and out[0, 0] and out[3].all()
    only = unknown_class(image, None)
    assert only is not None and only.sum() == 4 and only[3].all()


def test_an_out_under_a_file_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a walkthrough: `evaluate --chain ... --out afile` printed a traceback
    (FileExistsError) after all the scoring, and the pixel report's too."""
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile", tmp_path / "afile" / "sub"):
        for argv in (
            ["evaluate", "--chain", str(tmp_path / "nowhere"), "--data", str(tmp_path)],
            ["evaluate", "--data", str(tmp_path), "--manifest", str(tmp_path / "m.json")],
        ):
            assert main([*argv, "--out", str(out)]) == 2
            err = capsys.readouterr().err
            said = "a file, not a folder" if out.name == "afile" else "is a file, so nothing"
            assert err.startswith(f"error: --out {out}") and said in err, err
    # compare's --out is a file: refused only under a file
    compare = ["compare", "a.json", "b.json", "--data", str(tmp_path / "nowhere")]
    assert main([*compare, "--out", str(tmp_path / "afile" / "r.json")]) == 2
    assert "is a file, so nothing can be made under it" in capsys.readouterr().err
