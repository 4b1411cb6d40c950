"""`dataset export` through the real Earth Engine (skipped without credentials): one Global
Landslide Catalog-style point in Valtellina becomes a scene fetched with computePixels."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import Point

from gee_scripts.settings import GeeSettings
from models.datasets import read_scene, scene_ids
from monitor.labels import point_label_areas, tile_around
from monitor.ops.dataset import SceneJob, event_windows, write_jobs
from monitor.sources.base import AreaOfInterest
from monitor.sources.gee import GeeSource

pytestmark = pytest.mark.integration


def test_one_catalog_point_becomes_a_scene(gee_settings: GeeSettings, tmp_path: Path) -> None:
    point = Point(9.937, 46.225)
    core, ring = point_label_areas(point, 0.0)
    pre, post = event_windows(date(2024, 8, 15), 60, 30)
    job = SceneJob(
        "valtellina_20240815_glc-1",
        AreaOfInterest("valtellina-glc-1", tile_around(ring, 640.0), "ascending"),
        pre,
        post,
        group="glc-1",
        positive=[core],
        ignore=[ring],
    )
    source = GeeSource(gee_settings, initialize=False, progress=False)
    report = write_jobs([job], source, tmp_path / "ds", progress=False)
    assert sum(report.written.values()) == 1, report.format()
    (split,) = [s for s, n in report.written.items() if n]
    folder = tmp_path / "ds" / split
    (scene_id,) = scene_ids(folder)
    scene = read_scene(folder, scene_id)
    assert scene.image.shape[0] == 15
    assert np.isfinite(scene.image[9]).mean() > 0.99  # elevation everywhere
    assert int(scene.label.sum()) >= 8 and scene.ignore is not None
    prov = json.loads((folder / "provenance" / f"{scene_id}.json").read_text())
    assert prov["source"] == "gee" and prov["stack"]["s1_dates_post"]
