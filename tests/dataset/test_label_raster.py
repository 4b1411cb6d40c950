"""Label rasters of polygons smaller or thinner than a pixel (monitor.labels.label_raster)."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from models.datasets import IGNORE, Scene, label_path, write_scene
from models.feature_stack import MODEL_BANDS
from monitor.grid import reproject
from monitor.labels import label_raster, subpixel
from monitor.ops._dataset_core import SceneJob
from monitor.ops._dataset_write import _relabel
from monitor.sources.base import AreaOfInterest, Window

CRS = "EPSG:32643"
X0, Y0 = 600_000.0, 1_270_200.0  # the grid's upper-left corner: 20 x 20 pixels of 10 m
TRANSFORM = from_origin(X0, Y0, 10.0, 10.0)
SHAPE = (20, 20)


def _wgs84(x0: float, y0: float, x1: float, y1: float):  # metres from the corner, y down
    return reproject(box(X0 + x0, Y0 - y1, X0 + x1, Y0 - y0), CRS, "EPSG:4326")


# a 4 m square between the centres of pixels (row 5, col 5) and its neighbours: in pixel
# (5, 5) alone, west of its centre (55 m) and north of it
SPECK = _wgs84(51.0, 51.0, 54.0, 54.0)
# a strip 2 m wide and 58 m long on the line between columns 9 and 10 (centres 95 and 105 m)
STRIP = _wgs84(99.0, 121.0, 101.0, 179.0)
# a 30 m square over the centres of 3 x 3 pixels (rows and columns 14-16)
SLIDE = _wgs84(140.0, 140.0, 170.0, 170.0)


def test_a_polygon_holding_no_pixel_centre_is_ignored_where_it_touches_not_background() -> None:
    """Rasterised by pixel centres, a slide smaller or thinner than a pixel vanished: its
    pixels stayed 0, a landslide labelled as background."""
    assert subpixel([SPECK, STRIP, SLIDE], SHAPE, TRANSFORM, CRS) == [0, 1]
    label = label_raster(SHAPE, TRANSFORM, CRS, positive=[SPECK, STRIP, SLIDE])
    assert int((label == 1).sum()) == 9
    assert (label[14:17, 14:17] == 1).all()
    assert label[5, 5] == IGNORE
    # the strip touches 6 rows of both columns 9 and 10: 12 pixels
    assert (label[12:18, 9:11] == IGNORE).all()
    assert int((label == IGNORE).sum()) == 1 + 12
    assert int((label == 0).sum()) == 400 - 9 - 13


def test_a_speck_within_a_slide_or_a_negative_keeps_their_label() -> None:
    inner = _wgs84(151.0, 151.0, 154.0, 154.0)
    label = label_raster(SHAPE, TRANSFORM, CRS, positive=[SLIDE, inner])
    assert int((label == 1).sum()) == 9 and not (label == IGNORE).any()
    label = label_raster(SHAPE, TRANSFORM, CRS, positive=[SPECK], negative=[_wgs84(50, 50, 60, 60)])
    assert label[5, 5] == 0 and not (label == IGNORE).any()
    # off the grid it is nothing at all
    assert subpixel([_wgs84(300.0, 300.0, 303.0, 303.0)], SHAPE, TRANSFORM, CRS) == []


def _job(*positive: BaseGeometry) -> SceneJob:
    """A scene job over the grid's 200 m square with ``positive`` slides."""
    return SceneJob(
        "scene-1",
        AreaOfInterest("r", _wgs84(0.0, 0.0, 200.0, 200.0)),
        Window(date(2024, 6, 1), date(2024, 8, 1)),
        Window(date(2024, 8, 1), date(2024, 9, 1)),
        group="g",
        positive=list(positive),
    )


def test_a_scene_job_says_how_many_of_its_slides_were_too_small(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import monitor.labels.rasterise
    import monitor.ops._dataset_core

    calls: list[bool] = []

    def counted(*args: Any, **kwargs: Any) -> list[int]:
        calls.append(kwargs.get("whole", False))  # whole: the small ones again, to say why
        return subpixel(*args, **kwargs)

    # the small slides are found once per label, for the warning and the raster both
    monkeypatch.setattr(monitor.ops._dataset_core, "subpixel", counted)
    monkeypatch.setattr(monitor.labels.rasterise, "subpixel", counted)
    job = _job(SPECK, SLIDE, STRIP)
    with caplog.at_level(logging.WARNING, logger="monitor.ops.dataset"):
        label = job.label(SHAPE, TRANSFORM, CRS)
    assert calls == [False, True]  # on the tile once; then the small ones whole, to say why
    assert int((label == IGNORE).sum()) == 13
    assert "scene-1: 2 landslide polygon(s) hold no pixel centre (2 smaller or thinner than a " \
        "pixel)" in caplog.text  # fmt: skip
    caplog.clear()
    # a slide of 0.32 ha whose tile's edge leaves a 4 m sliver of it inside: not a small one
    # (found by a walkthrough, which went looking for slivers in its inventory)
    edge = _wgs84(196.0, 40.0, 260.0, 90.0)
    # specks across or on the edge are small whatever the edge does (found in review)
    across, on_west = _wgs84(199.0, 51.0, 202.0, 54.0), _wgs84(0.0, 51.0, 3.0, 54.0)
    with caplog.at_level(logging.WARNING, logger="monitor.ops.dataset"):
        _job(SPECK, edge, across, on_west).label(SHAPE, TRANSFORM, CRS)
    assert "4 landslide polygon(s) hold no pixel centre (3 smaller or thinner than a pixel, 1 " \
        "cut by the tile's edge to a sliver of it)" in caplog.text  # fmt: skip
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.ops.dataset"):
        SceneJob("scene-2", job.area, job.pre, job.post, "g", [SLIDE]).label(SHAPE, TRANSFORM, CRS)
    assert caplog.text == ""
    assert np.array_equal(label_raster(SHAPE, TRANSFORM, CRS, positive=[SLIDE]) == 1, label == 1)


def _scene_of_the_old_rule(tmp_path: Path) -> tuple[SceneJob, Path]:
    """A scene written when the speck smaller than a pixel was labelled background (its label
    and record as that export wrote them), and the job that exports it today."""
    job = _job(SPECK, SLIDE)
    before = label_raster(SHAPE, TRANSFORM, CRS, positive=[SLIDE])  # the old rule's label
    image = np.zeros((len(MODEL_BANDS), *SHAPE), np.float32)
    write_scene(tmp_path, Scene("scene-1", image, before, CRS, TRANSFORM))
    record = tmp_path / "provenance" / "scene-1.json"
    record.parent.mkdir(exist_ok=True)
    grid = {"crs": CRS, "transform": list(TRANSFORM)[:6], "shape": list(SHAPE)}
    record.write_text(json.dumps({"grid": grid, "label_pixels": {"1": 9, "0": 391, "255": 0}}))
    return job, record


def test_a_resumed_scene_is_relabelled_by_today_s_rules_without_a_fetch(tmp_path: Path) -> None:
    """The resume key holds the label geometries, not the rules: a scene written when a slide
    smaller than a pixel was labelled background kept that label on every later export."""
    job, record = _scene_of_the_old_rule(tmp_path)
    assert _relabel(tmp_path, job, record)
    with rasterio.open(label_path(tmp_path, "scene-1")) as src:
        now = src.read(1)
        assert src.crs == CRS and src.transform == TRANSFORM
    assert now[5, 5] == IGNORE and int((now == 1).sum()) == 9
    assert json.loads(record.read_text())["label_pixels"] == {"1": 9, "0": 390, "255": 1}
    assert not _relabel(tmp_path, job, record)  # as today's rules give it: left alone


def test_a_relabelling_stopped_half_way_is_finished_by_the_next_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in the crash walk: the new label was written before the record's pixel counts, so
    a process killed between the two kept a record that contradicts its label for good (the
    next export found the label as today's rules give it and left both alone)."""
    import monitor.ops._dataset_write as dataset_write

    job, record = _scene_of_the_old_rule(tmp_path)
    for step in ("_write_json", "write_atomically"):  # stopped at the record, or at the label

        def stop(*_: object, **__: object) -> None:
            raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(dataset_write, step, stop)
            with pytest.raises(KeyboardInterrupt):
                _relabel(tmp_path, job, record)
        _relabel(tmp_path, job, record)  # the next export
        with rasterio.open(label_path(tmp_path, "scene-1")) as src:
            now = src.read(1)
        counts = {str(v): int((now == v).sum()) for v in (1, 0, IGNORE)}
        assert json.loads(record.read_text())["label_pixels"] == counts == {
            "1": 9, "0": 390, "255": 1
        }, step  # fmt: skip
        _scene_of_the_old_rule(tmp_path)  # as it was, for the next step
