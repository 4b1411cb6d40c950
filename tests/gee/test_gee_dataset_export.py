"""Training-set export on Earth Engine, offline: the transfer of each tile (computePixels or a
batch task) and the batch export's graph on the tile's grid (no server: the task is built and
its start() replaced)."""

from __future__ import annotations

import json
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any

import ee
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point, box
from shapely.geometry.base import BaseGeometry

from gee_scripts.assembly import FLAT_BANDS
from gee_scripts.dataset_export import transfer_plan
from gee_scripts.offline import ArrayServer, find_invocations, graph_tree
from gee_scripts.settings import NODATA, CloudMaskSettings, ExportSettings, GeeSettings
from models.change_statistics import DATING_SCENES
from models.datasets import read_scene
from monitor.errors import BadInput
from monitor.grid import Grid, region_grid, reproject, utm_crs_for
from monitor.labels import assign_splits, point_label_areas, tile_around
from monitor.ops.dataset import SceneJob, event_windows, ingest_exports, write_jobs
from monitor.sources.base import AreaOfInterest, Window
from monitor.sources.gee import GeeSource

AVAILABILITY = {
    "s2_dates_pre": ["2024-07-20"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27"],
}


def test_transfer_plan_counts_the_requests() -> None:
    # 256 px tiles of 512 px chunks: one computePixels request (+ availability, xee metadata)
    small = transfer_plan((256, 256), 512)
    assert (small.method, small.pixel_requests, small.value_requests) == ("computePixels", 1, 2)
    # 5 km x 5 km: ceil(500/512)^2 = 1; 25 km: ceil(2500/512)^2 = 25 > 16 -> one batch task
    assert transfer_plan((500, 500), 512).pixel_requests == 1
    big = transfer_plan((2500, 2500), 512)
    assert (big.method, big.pixel_requests, big.value_requests) == ("batch", 25, 1)
    assert transfer_plan((2500, 2500), 512, max_requests=25).method == "computePixels"
    with pytest.raises(ValueError, match="must be positive"):
        transfer_plan((10, 10), 0)


@pytest.mark.parametrize(
    ("tile_m", "side", "pixel_requests", "method"),
    [
        (2_560.0, 256, 1, "computePixels"),
        (5_120.0, 512, 1, "computePixels"),
        (10_240.0, 1_024, 4, "computePixels"),
        (25_600.0, 2_560, 25, "batch"),
    ],
)
def test_a_tile_is_tile_m_over_10_m_pixels_a_side_wherever_its_item_lies(
    tile_m: float, side: int, pixel_requests: int, method: str
) -> None:
    """docs/earth_engine.md's table of requests per scene (chunk_px 512). Found following it:
    a tile centred between grid lines was snapped outward to one pixel more (513 px at 5,120 m,
    four requests instead of one; 1,025 at 10,240 m, nine instead of four)."""
    rng = np.random.default_rng(7)
    points = list(zip(rng.uniform(-179.0, 179.0, 25), rng.uniform(-75.0, 75.0, 25), strict=True))
    # found in review: within metres of a zone's edge (12° E) or the equator the snapped tile's
    # centre fell in the next zone, whose grid is 540 x 539 px
    points += [(12.00001, 2e-5), (11.99999, -2e-5), (11.99996, 30.0), (12.00004, 0.0)]
    for lon, lat in points:
        grid = region_grid(tile_around(Point(lon, lat), tile_m))
        assert grid.shape == (side, side), (lon, lat)
        assert grid.crs == utm_crs_for(lon, lat), (lon, lat)
        plan = transfer_plan(grid.shape, 512)
        assert (plan.method, plan.pixel_requests) == (method, pixel_requests)
    # a polygon larger than the tile: its extent plus the margin, in whole pixels around it
    slide = box(10.9, 44.35, 10.93, 44.36)  # about 2.4 km x 1.1 km
    for margin, pixels in ((100.0, 263), (0.0, 243)):
        tile = tile_around(slide, 1_000.0, margin_m=margin)
        grid = region_grid(tile)
        assert tile.covers(slide)  # found in review: with no margin, 3 m were cut off
        # 2,617 m or 2,417 m (its UTM bounds and twice the margin): 262 or 242 px, and one
        # for the tile's edges snapped to the grid outside them
        assert grid.shape == (pixels, pixels)
    west, south, east, north = reproject(slide, "EPSG:4326", grid.crs).bounds
    assert round(max(east - west, north - south)) == 2_417


def test_a_large_tile_is_exported_as_a_batch_task(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(ee.batch.Task, "start", lambda task: started.append(task))
    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)  # 100 px a side: 4 requests of 64 px
    area = AreaOfInterest("item-glc-7", tile)
    pre, post = event_windows(date(2024, 8, 17), 60, 30)
    core, ring = point_label_areas(point, 0.0)
    # background unknown (255) but known over the whole tile: the label is the plain one, and a
    # batch label that ignored ``known`` would have no 0 at all
    job = SceneJob("item_20240817_glc-7", area, pre, post, group="glc-7", positive=[core],
                   ignore=[ring], record={"item": {"item_id": "glc-7"}},
                   background=255, known=[tile])  # fmt: skip
    settings = GeeSettings(export=ExportSettings(bucket="my-bucket", prefix="lm"), chunk_px=64)
    grid = region_grid(tile)
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    with server.installed():
        source = GeeSource(settings, initialize=False, progress=False)
        report = write_jobs([job], source, tmp_path / "ds", progress=False, max_requests=3)
    assert report.exporting == 1 and sum(report.written.values()) == 0
    (task,) = started
    assert task.config["description"] == "item_20240817_glc-7"
    dest = task.config["fileExportOptions"]["cloudStorageDestination"]
    assert dest == {"bucket": "my-bucket", "filenamePrefix": "lm/datasets/item_20240817_glc-7"}
    expression = graph_tree(task.config["expression"])
    assert expression["fn"] == "Image.clipToBoundsAndScale"
    reproject = expression["args"]["input"]
    assert reproject["args"]["crsTransform"] == list(tuple(grid.transform)[:6])
    bounds = next(find_invocations(expression, "GeometryConstructors.Rectangle"))
    assert bounds["args"]["coordinates"] == [0, 0, grid.width, grid.height]
    unmask = next(find_invocations(reproject, "Image.unmask"))
    assert unmask["args"]["value"]["args"]["value"] == NODATA
    # the windows of the item's date reach the scene search (read in the graph's own encoding:
    # the tree above repeats every shared sub-graph, and its JSON took a minute to write)
    graph = json.dumps(ee.serializer.encode(task.config["expression"], for_cloud_api=True))
    for day in (pre.start, pre.end, post.start, post.end):
        assert day.isoformat() in graph, day
    # the task is recorded beside the split, for the download
    (split,) = [p for p in (tmp_path / "ds").iterdir() if p.is_dir()]
    record = json.loads((split / "exports" / "item_20240817_glc-7.json").read_text())
    assert record["plan"]["method"] == "batch" and record["plan"]["pixel_requests"] == 4
    label = np.load(split / "exports" / "item_20240817_glc-7_label.npy")
    assert np.array_equal(label, job.label(grid.shape, grid.transform, grid.crs))
    assert int((label == 0).sum()) == label.size - int((label == 1).sum() + (label == 255).sum())
    assert int((label == 0).sum()) > label.size // 2
    assert record["windows"] == {"pre": "2024-06-18/2024-08-17", "post": "2024-08-18/2024-09-17"}

    # what decides the pixels is recorded; how they are fetched is not
    assert record["source_identity"]["assets"]["worldcover"] == "ESA/WorldCover/v200"
    assert record["source_identity"]["source"] == "gee"
    assert not {"export", "retry", "chunk_px", "project"} & set(record["source_identity"])

    # a rerun does not start the task again, nor one that fetches in other requests
    with server.installed():
        again = write_jobs([job], source, tmp_path / "ds", progress=False, max_requests=3)
        retried = GeeSource(settings.model_copy(update={"max_workers": 2}), initialize=False)
        third = write_jobs([job], retried, tmp_path / "ds", progress=False, max_requests=3)
    assert again.exporting == third.exporting == 1 and len(started) == 1
    # the downloaded GeoTIFF (FLAT_BANDS, NODATA where masked) becomes the scene's input
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    h, w = grid.shape
    bands = np.stack([np.full((h, w), i, np.float32) for i in range(len(FLAT_BANDS))])
    bands[:, :5, :5] = NODATA
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": len(FLAT_BANDS),
        "dtype": "float32",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": NODATA,
    }
    with rasterio.open(downloads / "item_20240817_glc-7.tif", "w", **profile) as dst:
        dst.write(bands)  # fmt: skip
    ingested = ingest_exports(tmp_path / "ds", downloads)
    assert sum(ingested.written.values()) == 1
    scene = read_scene(split, "item_20240817_glc-7")
    assert scene.image.shape == (15, h, w)
    assert np.isnan(scene.image[:, :5, :5]).all()
    assert [float(scene.image[i, 50, 50]) for i in range(15)] == [float(i) for i in range(15)]
    assert 8 <= int(scene.label.sum()) == record["label_pixels"]["1"] <= 16  # the 20 m core
    assert scene.ignore is not None and int(scene.ignore.sum()) == record["label_pixels"]["255"]
    assert ingest_exports(tmp_path / "ds", downloads).resumed == 1
    # found following docs/earth_engine.md: a mistyped folder read as "not downloaded yet",
    # exit 0; a file of no export was passed over without a word
    with pytest.raises(BadInput, match=r"--from \S*typo: no such folder"):
        ingest_exports(tmp_path / "ds", tmp_path / "typo")
    with pytest.raises(BadInput, match=r"--out \S*downloads: no batch export record"):
        ingest_exports(downloads, downloads)
    with caplog.at_level(logging.WARNING, logger="monitor.ops._dataset_batch"):
        assert ingest_exports(tmp_path / "ds", downloads).resumed == 1
    assert "match no scene export" not in caplog.text  # the ingested scene's own download
    (downloads / "item_20240817_glc-7 (1).tif").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="monitor.ops._dataset_batch"):
        assert ingest_exports(tmp_path / "ds", downloads).resumed == 1
    assert "1 GeoTIFF(s) match no scene export of" in caplog.text
    assert "item_20240817_glc-7 (1).tif" in caplog.text
    (downloads / "item_20240817_glc-7 (1).tif").unlink()
    # the ingested scene is complete: a rerun reuses it, one with another cloud mask does not
    # the earlier task is cancelled when the scene is exported anew
    cancelled: list[str] = []
    monkeypatch.setattr(ee.data, "cancelTask", cancelled.append)
    record_path = split / "exports" / "item_20240817_glc-7.json"
    record_path.write_text(json.dumps({**json.loads(record_path.read_text()), "task": "OLD"}))
    with server.installed():
        assert write_jobs([job], source, tmp_path / "ds", progress=False).resumed == 1
        cloudier = settings.model_copy(
            update={"cloud_mask": CloudMaskSettings(cs_cdf_threshold=0.7)}
        )
        other = GeeSource(cloudier, initialize=False, progress=False)
        redone = write_jobs([job], other, tmp_path / "ds", progress=False, max_requests=3)
    assert (redone.resumed, redone.exporting, len(started)) == (0, 1, 2)
    assert cancelled == ["OLD"]
    # the stale scene is gone while the new export runs, and the old download is not taken
    assert not (split / "provenance" / "item_20240817_glc-7.json").exists()
    assert not list((split / "input").glob("*.tif")) and not list((split / "label").glob("*"))
    old = downloads / "item_20240817_glc-7.tif"
    os.utime(old, (1e9, 1e9))  # downloaded before the new export started
    stale = ingest_exports(tmp_path / "ds", downloads)
    assert sum(stale.written.values()) == 0 and len(stale.skipped) == 1
    assert "older than the scene's export" in next(iter(stale.skipped))
    with rasterio.open(old, "w", **profile) as dst:  # the new export's file
        dst.write(bands + 1)
    fresh = ingest_exports(tmp_path / "ds", downloads)
    assert sum(fresh.written.values()) == 1
    assert float(read_scene(split, "item_20240817_glc-7").image[3, 50, 50]) == 4.0
    with server.installed():
        assert write_jobs([job], other, tmp_path / "ds", progress=False).resumed == 1


def test_a_batch_export_that_fails_to_start_leaves_no_record_of_the_one_it_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found in review: a scene exported anew (other labels or settings) cancelled the earlier
    task but kept its record until the new one was written, so an export that failed to start
    (quota, network) left it for a rerun of the old settings to wait on, and for ingest to
    pair an old download with the new label."""
    cancelled: list[str] = []
    monkeypatch.setattr(ee.data, "cancelTask", cancelled.append)

    def refuse(task: Any) -> None:
        raise ee.EEException("Too many tasks already in the queue (3000)")

    monkeypatch.setattr(ee.batch.Task, "start", refuse)
    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)
    pre, post = event_windows(date(2024, 8, 17), 60, 30)
    core, _ = point_label_areas(point, 0.0)
    job = SceneJob("item_20240817_glc-7", AreaOfInterest("item-glc-7", tile), pre, post,
                   group="glc-7", positive=[core])  # fmt: skip
    settings = GeeSettings(export=ExportSettings(bucket="my-bucket", prefix="lm"), chunk_px=64)
    grid = region_grid(tile)
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    out = tmp_path / "ds"
    split = out / assign_splits(["glc-7"])["glc-7"]
    record = split / "exports" / "item_20240817_glc-7.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"scene": job.id, "task": "OLD", "label_key": "other labels"}))
    with server.installed(), pytest.raises(Exception, match="Too many tasks"):
        source = GeeSource(settings, initialize=False, progress=False)
        write_jobs([job], source, out, progress=False, max_requests=3)
    assert cancelled == ["OLD"]
    assert not record.exists()


def test_a_large_tile_without_any_scene_is_skipped_not_exported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found by a new user: a tile too large for computePixels whose windows hold no Sentinel-1
    or Sentinel-2 scene started a batch task of an empty image (every pixel NODATA), which
    `dataset ingest` made into a scene of NaN; fetched interactively, the same scene is skipped
    as having no data."""
    started: list[Any] = []
    monkeypatch.setattr(ee.batch.Task, "start", lambda task: started.append(task))
    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)  # 100 px a side: 4 requests of 64 px
    pre, post = event_windows(date(2024, 8, 17), 60, 30)
    core, ring = point_label_areas(point, 0.0)
    job = SceneJob("item_20240817_glc-8", AreaOfInterest("item-glc-8", tile), pre, post,
                   group="glc-8", positive=[core], ignore=[ring], record={})  # fmt: skip
    settings = GeeSettings(export=ExportSettings(bucket="my-bucket"), chunk_px=64)
    grid = region_grid(tile)
    empty: dict[str, list[str]] = {k: [] for k in AVAILABILITY}
    server = ArrayServer({}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=empty)
    with server.installed():
        source = GeeSource(settings, initialize=False, progress=False)
        batch = write_jobs([job], source, tmp_path / "batch", progress=False, max_requests=3)
        direct = write_jobs([job], source, tmp_path / "direct", progress=False, max_requests=16)
    assert not started and batch.exporting == 0
    assert batch.skipped == direct.skipped == {"no Sentinel-1/2 data in the windows": 1}
    assert not list((tmp_path / "batch").glob("*/exports/*"))  # no record, no label
    record = json.loads((tmp_path / "batch" / "dataset.json").read_text())
    assert record["skipped_scenes"] == {"no Sentinel-1/2 data in the windows": [job.id]}

    # found in review: an earlier export of the scene, of other labels, whose new windows hold
    # no scene kept its task, record and label, which `dataset ingest` still took in
    full = ArrayServer({}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY)
    with full.installed():
        write_jobs([job], source, tmp_path / "again", progress=False, max_requests=3)
    (split,) = [p for p in (tmp_path / "again").iterdir() if p.is_dir()]
    record_path = split / "exports" / f"{job.id}.json"
    record_path.write_text(json.dumps({**json.loads(record_path.read_text()), "task": "OLD"}))
    cancelled: list[str] = []
    monkeypatch.setattr(ee.data, "cancelTask", cancelled.append)
    relabelled = SceneJob(job.id, job.area, pre, post, group="glc-8", positive=[], ignore=[core],
                          record={})  # fmt: skip
    with server.installed():
        report = write_jobs([relabelled], source, tmp_path / "again", progress=False,
                            max_requests=3)  # fmt: skip
    assert report.skipped == {"no Sentinel-1/2 data in the windows": 1}
    assert cancelled == ["OLD"] and len(started) == 1
    assert not list(split.glob("exports/*"))


def test_a_batch_task_is_started_under_the_configured_retry_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found by a new user: the start of a dataset export's batch task was retried by the
    default policy (6 tries, waits up to 60 s), whatever source.retry said."""
    from gee_scripts.retry import EarthEngineError
    from gee_scripts.settings import RetrySettings

    tries: list[Any] = []

    def busy(task: Any) -> None:
        tries.append(task)
        raise ee.EEException("Too many concurrent aggregations.")

    monkeypatch.setattr(ee.batch.Task, "start", busy)
    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)  # 100 px a side: 4 requests of 64 px
    pre, post = event_windows(date(2024, 8, 17), 60, 30)
    core, ring = point_label_areas(point, 0.0)
    job = SceneJob("item_20240817_glc-9", AreaOfInterest("item-glc-9", tile), pre, post,
                   group="glc-9", positive=[core], ignore=[ring], record={})  # fmt: skip
    retry = RetrySettings(attempts=2, initial_delay_s=0.001, max_delay_s=0.001)
    settings = GeeSettings(export=ExportSettings(bucket="b"), chunk_px=64, retry=retry)
    grid = region_grid(tile)
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    with server.installed(), pytest.raises(EarthEngineError, match="start export"):
        source = GeeSource(settings, initialize=False, progress=False)
        write_jobs([job], source, tmp_path / "ds", progress=False, max_requests=3)
    assert len(tries) == 2


def test_a_batch_export_without_a_bucket_is_refused_before_anything_changes(
    tmp_path: Path,
) -> None:
    """Found by a new user: with the default export settings (Cloud Storage, no bucket), the
    first tile too large for computePixels ended the export with 'ValueError: source.export.
    bucket is required for target cloud_storage' (exit status 1), after its availability request
    and after the scene's earlier files were removed and its label written."""
    from monitor.errors import BadInput

    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)  # 100 px a side: 4 requests of 64 px
    pre, post = event_windows(date(2024, 8, 17), 60, 30)
    core, ring = point_label_areas(point, 0.0)
    job = SceneJob("item_20240817_glc-10", AreaOfInterest("item-glc-10", tile), pre, post,
                   group="glc-10", positive=[core], ignore=[ring], record={})  # fmt: skip
    grid = region_grid(tile)
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    source = GeeSource(GeeSettings(chunk_px=64), initialize=False, progress=False)
    with server.installed(), pytest.raises(BadInput) as err:
        write_jobs([job], source, tmp_path / "ds", progress=False, max_requests=3)
    message = str(err.value)
    assert "item_20240817_glc-10" in message and "source.export.bucket" in message
    assert "source.export.target: drive" in message and "--max-requests" in message
    assert server.value_requests == 0 and not list((tmp_path / "ds").glob("*/exports/*"))


def test_a_dem_override_of_one_region_keeps_the_others_scenes() -> None:
    """The identity a scene's resume key holds (monitor.sources.base.source_identity) takes the
    area's own DEM override, so adding one for a region refetches only that region's scenes."""
    from gee_scripts.settings import DemSettings
    from monitor.sources.base import source_identity

    plain = GeeSource(GeeSettings(), initialize=False, progress=False)
    with_override = GeeSource(
        GeeSettings(dem=DemSettings(overrides={"valley": "users/me/lidar_dtm"})),
        initialize=False,
        progress=False,
    )
    hill, valley = (AreaOfInterest(n, box(10.9, 44.3, 10.91, 44.31)) for n in ("hill", "valley"))
    assert source_identity(plain, hill) == source_identity(with_override, hill)
    assert source_identity(with_override, valley)["dem"]["override"] == "users/me/lidar_dtm"
    assert source_identity(plain, valley) != source_identity(with_override, valley)


def _exported(split: Path, scene_id: str, shape: tuple[int, int], x0: float = 500_000.0) -> dict:
    """The record and label an export leaves for ``dataset ingest`` (a 10 m UTM grid)."""
    from affine import Affine

    (split / "exports").mkdir(parents=True, exist_ok=True)
    grid = {"crs": "EPSG:32632", "transform": list(Affine(10, 0, x0, 0, -10, 5_100_000))[:6],
            "shape": list(shape)}  # fmt: skip
    record = {"scene": scene_id, "label_key": "k", "grid": grid, "started": 0.0}
    (split / "exports" / f"{scene_id}.json").write_text(json.dumps(record))
    np.save(split / "exports" / f"{scene_id}_label.npy", np.zeros(shape, np.uint8))
    return grid


def _download(path: Path, grid: dict, rows: slice, cols: slice, value: float) -> None:
    from affine import Affine

    t = Affine(*grid["transform"])
    h, w = rows.stop - rows.start, cols.stop - cols.start
    profile = {"driver": "GTiff", "height": h, "width": w, "count": len(FLAT_BANDS),
               "dtype": "float32", "crs": grid["crs"], "nodata": NODATA,
               "transform": t @ Affine.translation(cols.start, rows.start)}  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.full((len(FLAT_BANDS), h, w), value, np.float32))


def test_ingest_takes_only_its_own_pieces_on_its_own_grid_and_all_of_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: scene "ls-1" took the file of scene "ls-1-2" (its pieces were
    matched by `<id>-*.tif`), a file off the scene's grid was taken (only the shape was
    compared), and two of three pieces made a scene with a third of it NaN."""
    split, downloads = tmp_path / "ds" / "train", tmp_path / "downloads"
    downloads.mkdir()
    shape = (8, 12)
    grid = _exported(split, "item_20200101_ls-1", shape)
    other = _exported(split, "item_20200101_ls-1-2", shape, x0=600_000.0)
    _download(downloads / "item_20200101_ls-1-2.tif", other, slice(0, 8), slice(0, 12), 2.0)
    # only the other scene's file is there: this one is not downloaded yet
    first = ingest_exports(tmp_path / "ds", downloads)
    assert first.written["train"] == 1
    assert first.skipped == {"export not downloaded yet (no <scene id>.tif)": 1}
    assert float(read_scene(split, "item_20200101_ls-1-2").image[0, 0, 0]) == 2.0
    # two of its three pieces (Earth Engine's <id>-<row>-<column>.tif): not ingested, named
    for col in (0, 8):
        name = f"item_20200101_ls-1-{0:010d}-{col:010d}.tif"
        _download(downloads / name, grid, slice(0, 8), slice(col, col + 4), 1.0)
    partial = ingest_exports(tmp_path / "ds", downloads)
    assert partial.written["train"] == 0 and partial.resumed == 1
    assert "not all of its pieces" in next(k for k in partial.skipped if "pieces" in k)
    assert "the pieces cover 67% of the grid" in caplog.text
    # the third piece arrives: the scene is the three, on its grid
    _download(downloads / f"item_20200101_ls-1-{0:010d}-{4:010d}.tif", grid, slice(0, 8),
              slice(4, 8), 3.0)  # fmt: skip
    whole = ingest_exports(tmp_path / "ds", downloads)
    assert whole.written["train"] == 1
    image = read_scene(split, "item_20200101_ls-1").image
    assert image[0].tolist() == [[1.0] * 4 + [3.0] * 4 + [1.0] * 4] * 8


def test_ingest_refuses_pieces_that_overlap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walk: a piece of another export of the scene, overlapping the first export's
    pieces (Earth Engine's never overlap), was merged into the scene without a word."""
    split, downloads = tmp_path / "ds" / "train", tmp_path / "downloads"
    downloads.mkdir()
    grid = _exported(split, "mixed", (8, 12))
    _download(downloads / f"mixed-{0:010d}-{0:010d}.tif", grid, slice(0, 8), slice(0, 8), 1.0)
    _download(downloads / f"mixed-{0:010d}-{4:010d}.tif", grid, slice(0, 8), slice(4, 12), 2.0)
    report = ingest_exports(tmp_path / "ds", downloads)
    assert report.written["train"] == 0
    assert (
        f"mixed: not ingested: mixed-{0:010d}-{4:010d}.tif overlaps another piece (a piece of "
        "another export of the scene?"
    ) in caplog.text


def test_ingest_refuses_a_file_off_the_scene_grid_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    split, downloads = tmp_path / "ds" / "val", tmp_path / "downloads"
    downloads.mkdir()
    grid = _exported(split, "a", (6, 6))
    shifted = {**grid, "transform": [10, 0, 500_005.0, 0, -10, 5_100_000]}
    _download(downloads / "a.tif", shifted, slice(0, 6), slice(0, 6), 1.0)
    good = _exported(split, "b", (6, 6))
    _download(downloads / "b.tif", good, slice(0, 6), slice(0, 6), 1.0)
    report = ingest_exports(tmp_path / "ds", downloads)
    assert report.written["val"] == 1  # "b": one refused scene no longer stops the others
    assert "a: not ingested: a.tif is not on the scene's grid" in caplog.text
    utm33 = {**grid, "crs": "EPSG:32633"}
    _download(downloads / "a.tif", utm33, slice(0, 6), slice(0, 6), 1.0)
    ingest_exports(tmp_path / "ds", downloads)
    assert "a.tif is in EPSG:32633, the scene's grid in EPSG:32632" in caplog.text


def _valley(tmp_path: Path, point: Point) -> tuple[Any, Path, GeeSource]:
    """A configuration on Earth Engine (64-px requests, a bucket for batch exports) with one
    region around ``point`` (1 km tiles), an inventory of one slide there mapped on
    2024-08-17, and its source, never initialised."""
    import geopandas as gpd
    from shapely.geometry import mapping

    from monitor.config import MonitorConfig

    settings = {"type": "gee", "chunk_px": 64, "export": {"bucket": "b"}}
    windows = {"pre_days": 40, "post_days": 30, "radar_scenes": 2}
    region = {"name": "valley", "geometry": mapping(point.buffer(0.02)), "windows": windows}
    config = MonitorConfig.model_validate(
        {"source": settings, "regions": [region], "dataset": {"tile_m": 1000.0}}
    )
    inventory = tmp_path / "slides.gpkg"
    gpd.GeoDataFrame(
        {"mapped": ["2024-08-17"]}, geometry=[point.buffer(0.0003)], crs="EPSG:4326"
    ).to_file(inventory)
    assert isinstance(config.source, GeeSettings)
    return config, inventory, GeeSource(config.source, initialize=False, progress=False)


def test_an_items_monitoring_views_are_exported_with_the_monitoring_composites(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``dataset export`` on Earth Engine: an item's monitoring views go to the server as the
    region's daily runs would ask for them (the latest clear Sentinel-2 look, the mean of the
    region's last ``radar_scenes`` Sentinel-1 scenes per track, no median), on their own
    windows, beside the event view's greenest-pixel and median graph; the batch task's record
    says the compositing and the view. A view whose windows hold no acquisition after the item
    starts no task."""
    from datetime import timedelta

    from monitor.ops.dataset import export_inventory

    started: list[Any] = []
    monkeypatch.setattr(ee.batch.Task, "start", lambda task: started.append(task))
    point = Point(10.91, 44.35)
    config, inventory, source = _valley(tmp_path, point)
    grid = region_grid(tile_around(point.buffer(0.0003), 1000.0, margin_m=100.0))
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    dataset = config.dataset.model_copy(update={"date_column": "mapped"})
    out = tmp_path / "ds"
    with server.installed():
        report = export_inventory(config, inventory, out, settings=dataset, source=source,
                                  progress=False, max_requests=3)  # fmt: skip
    assert report.exporting == 4 and not sum(report.written.values())
    # one availability request a scene: a monitoring view's dates, asked to check that the
    # view shows the item, are the ones its image is composited from (asked twice before)
    assert server.value_requests == 4
    tasks = {task.config["description"]: graph_tree(task.config["expression"]) for task in started}
    event_id = "valley_20240817_1"
    assert sorted(tasks) == sorted([event_id, *(f"{event_id}_monitoring{n}d" for n in (6, 12, 24))])
    (split,) = [p for p in out.iterdir() if p.is_dir()]  # one item: one group, one split
    for scene_id, tree in tasks.items():
        record = json.loads((split / "exports" / f"{scene_id}.json").read_text())
        dates = {
            (c["args"]["start"], c["args"]["end"]) for c in find_invocations(tree, "DateRange")
        }
        assert {tuple(record["windows"][w].split("/")) for w in ("pre", "post")} == dates
        quality = sorted(
            c["args"]["qualityBand"]
            for c in find_invocations(tree, "ImageCollection.qualityMosaic")
        )
        # monitoring's post radar: per pixel, fewer than radar_scenes later views of its track
        kept = [
            c["args"]["image2"]["args"]["value"]
            for c in find_invocations(tree, "Image.lt")
            if c["args"]["image1"].get("fn") == "Image.unmask"
            and c["args"]["image1"]["args"]["input"].get("fn") == "reduce.count"
        ]
        # ... and the dating's newest DATING_SCENES scenes of any track, in both modes
        assert kept.count(DATING_SCENES) == 1
        kept.remove(DATING_SCENES)
        if scene_id == event_id:
            assert record["view"] == {"name": "event"}
            assert record["compositing"] == "event (greenest pixel, S1 median)"
            assert quality == ["NDVI", "NDVI", "day"]
            assert len(list(find_invocations(tree, "reduce.median"))) == 2 and not kept
            continue
        lag = record["view"]["lag_days"]
        assert record["view"]["windows_of"] == "region valley"
        run = date(2024, 8, 17) + timedelta(days=lag)
        assert record["windows"]["post"] == f"{run - timedelta(days=30)}/{run}"
        assert record["windows"]["pre"] == f"{run - timedelta(days=70)}/{run - timedelta(days=30)}"
        assert record["compositing"] == "monitoring (latest clear, last 2 S1 scenes per track)"
        assert quality == ["NDVI", "day", "day"]  # greenest baseline, latest clear look
        assert not list(find_invocations(tree, "reduce.median"))
        assert kept == [2]  # the last radar_scenes (2) acquisitions of each track per pixel

    # windows that hold no acquisition after the item: none of its views starts a task (the
    # event view's post window then holds none at all; found in a walk, where it was exported
    # with its post bands all NaN, labelled a landslide)
    before = {k: [f"2024-08-{d}" for d in ("05", "10")] for k in AVAILABILITY}
    early = ArrayServer({}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=before)
    started.clear()
    with early.installed():
        again = export_inventory(config, inventory, tmp_path / "early", settings=dataset,
                                 source=source, progress=False, max_requests=3)  # fmt: skip
    assert [task.config["description"] for task in started] == []
    assert again.skipped == {"no acquisition after the item's date in the view's post window": 4}


def _pixels(shape: tuple[int, int], post_day: str) -> dict[str, np.ndarray]:
    """Every band of the feature image on a grid of ``shape``: random values, counts of one
    or more, and the post window's greenest pixels all of ``post_day``."""
    rng = np.random.default_rng(0)
    bands = {name: rng.normal(size=shape).astype(np.float32) for name in FLAT_BANDS}
    for name in ("s2_clear_pre", "s2_clear_post", "s1_count_pre", "s1_count_post"):
        bands[name] = np.full(shape, 2.0, np.float32)
    epoch = np.datetime64("1970-01-01", "D")
    for which, day in (("pre", "2024-07-20"), ("post", post_day)):
        days = (np.datetime64(day, "D") - epoch).astype(np.int64)
        bands[f"s2_day_{which}"] = np.full(shape, float(days), np.float32)
    return bands


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # xee's
def test_a_directly_fetched_monitoring_view_that_shows_nothing_yet_fetches_no_pixels(
    tmp_path: Path,
) -> None:
    """Found walking the export as an operator who pays in quota: a monitoring view small
    enough for computePixels, whose post window holds no acquisition after its item's date,
    was fetched whole (availability, xee's metadata and every pixel request) and only then
    dropped; the batch path asked its dates first. Now its dates are asked first (one request),
    and a view that shows the item passes them on to the fetch, which does not ask again."""

    from monitor.ops.dataset import export_inventory

    point = Point(10.91, 44.35)
    config, inventory, source = _valley(tmp_path, point)
    dataset = config.dataset.model_copy(update={"date_column": "mapped", "views": ["monitoring"]})
    grid = region_grid(tile_around(point.buffer(0.0003), 1000.0, margin_m=100.0))
    tiles = transfer_plan(grid.shape, 64).pixel_requests
    assert 1 < tiles <= 16  # fetched directly, in several requests

    def server(dates: list[str]) -> ArrayServer:
        availability = {**AVAILABILITY, "s1_dates_post": dates, "s2_dates_post": dates}
        bands = _pixels(grid.shape, dates[-1] if dates else "2024-08-10")
        transform = tuple(grid.transform)[:6]
        return ArrayServer(bands, crs=grid.crs, transform=transform, availability=availability)

    def export(server: ArrayServer, out: Path, max_requests: int = 16) -> Any:
        with server.installed():
            return export_inventory(config, inventory, out, settings=dataset, source=source,
                                    progress=False, max_requests=max_requests)  # fmt: skip

    early = server(["2024-08-05", "2024-08-10"])  # the item is of 2024-08-17
    report = export(early, tmp_path / "early")
    assert report.skipped == {"no acquisition after the item's date in the view's post window": 3}
    assert (early.value_requests, len(early.pixel_requests)) == (3, 0)  # its dates, no more
    seen = server(["2024-08-20"])
    report = export(seen, tmp_path / "seen")
    assert sum(report.written.values()) == 3 and not report.skipped
    # each view: its dates once (not again by the fetch), xee's metadata, its pixels
    assert (seen.value_requests, len(seen.pixel_requests)) == (3 * 2, 3 * tiles)
    # windows with no scene at all: skipped for that, fetched directly or exported in batch
    # alike (the batch path said "no acquisition after the item's date")
    nothing = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0),
        availability={k: [] for k in AVAILABILITY},
    )  # fmt: skip
    for max_requests in (16, 1):
        report = export(nothing, tmp_path / f"none{max_requests}", max_requests)
        assert report.skipped == {"no Sentinel-1/2 data in the windows": 3}, max_requests
    assert (nothing.value_requests, len(nothing.pixel_requests)) == (2 * 3, 0)


_ItemTile = tuple[BaseGeometry, tuple[Window, Window], BaseGeometry, Grid, ArrayServer, GeeSource]


def _item_tile() -> _ItemTile:
    """An item mapped on 2024-08-17 at (10.91, 44.35): its 1 km tile (100 px a side: 4
    requests of 64 px), event windows, label core and grid; a stand-in server whose scenes
    show it (post-event look 2024-08-24); and a source of 64-px requests with a bucket."""
    point = Point(10.91, 44.35)
    tile = tile_around(point, 1_000.0)
    windows = event_windows(date(2024, 8, 17), 60, 30)
    core, _ = point_label_areas(point, 0.0)
    grid = region_grid(tile)
    bands, transform = _pixels(grid.shape, "2024-08-24"), tuple(grid.transform)[:6]
    server = ArrayServer(bands, crs=grid.crs, transform=transform, availability=AVAILABILITY)
    settings = GeeSettings(export=ExportSettings(bucket="b"), chunk_px=64)
    return tile, windows, core, grid, server, GeeSource(settings, initialize=False, progress=False)


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # xee's
def test_a_scene_whose_group_moves_split_is_moved_not_fetched_or_exported_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Found walking the export as an operator who pays in quota: a rerun whose split groups
    changed (another split_buffer_m, a new neighbour joining two groups) deleted every scene
    whose group moved split and fetched it again, pixels and all, though nothing that decides
    its pixels or label changed; a batch export in flight was started again, the first task
    neither cancelled nor waited for. Now the scene's files move with it and it is resumed."""
    started: list[Any] = []
    monkeypatch.setattr(ee.batch.Task, "start", lambda task: started.append(task))
    cancelled: list[str] = []
    monkeypatch.setattr(ee.data, "cancelTask", cancelled.append)
    tile, (pre, post), core, grid, server, source = _item_tile()

    def jobs(groups: list[str]) -> list[SceneJob]:
        return [SceneJob(f"scene-{i}", AreaOfInterest("item", tile), pre, post, group=group,
                         positive=[core], record={}) for i, group in enumerate(groups)]  # fmt: skip

    first = ["g-0", "g-1", "g-2"]
    before = assign_splits(first)
    assert sorted(before.values()) == ["test", "train", "val"]
    # the third scene's group joins the first's: it moves to that one's split
    joined = ["g-0", "g-1", "g-0"]
    after = assign_splits(joined)
    assert after["g-0"] != before["g-2"]
    for max_requests, kind in ((16, "direct"), (1, "batch")):
        out = tmp_path / kind
        with server.installed():
            write_jobs(jobs(first), source, out, progress=False, max_requests=max_requests)
            asked = (server.value_requests, len(server.pixel_requests), len(started))
            report = write_jobs(jobs(joined), source, out, progress=False,
                                max_requests=max_requests)  # fmt: skip
        # nothing asked of Earth Engine again, no task started or cancelled
        now = (server.value_requests, len(server.pixel_requests), len(started))
        assert now == asked and not cancelled, kind
        moved = out / after["g-0"]
        assert not list((out / before["g-2"]).glob("**/scene-2*")), kind
        if kind == "direct":
            assert (report.resumed, sum(report.written.values())) == (3, 0)
            record = json.loads((moved / "provenance" / "scene-2.json").read_text())
            assert (record["split"], record["group"]) == (after["g-0"], "g-0")
            assert read_scene(moved, "scene-2").image.shape == (15, *grid.shape)
        else:
            assert report.exporting == 3
            assert (moved / "exports" / "scene-2.json").exists()
            assert (moved / "exports" / "scene-2_label.npy").exists()


@pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")  # xee's
def test_a_scene_fetched_directly_cancels_its_earlier_batch_export(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found walking the export as an operator who pays in quota: a scene exported as a batch
    task, then fetched directly by a rerun that allows more requests (--max-requests), had its
    export record and label removed but its task left running: Earth Engine computed the tile
    twice and wrote a file nothing would ingest. Now the task is cancelled (best effort: where
    Earth Engine cannot, a warning says that its file is not needed)."""
    monkeypatch.setattr(ee.batch.Task, "start", lambda task: None)
    cancelled: list[str] = []
    monkeypatch.setattr(ee.data, "cancelTask", cancelled.append)
    tile, (pre, post), core, _, server, source = _item_tile()
    job = SceneJob("item_20240817_glc-11", AreaOfInterest("item-glc-11", tile), pre, post,
                   group="glc-11", positive=[core])  # fmt: skip
    split = tmp_path / "ds" / assign_splits(["glc-11"])["glc-11"]
    record = split / "exports" / f"{job.id}.json"
    for task in ("OLD", "DONE"):
        with server.installed():
            assert write_jobs([job], source, tmp_path / "ds", progress=False,
                              max_requests=1).exporting == 1  # fmt: skip
        record.write_text(json.dumps({**json.loads(record.read_text()), "task": task}))
        if task == "DONE":  # finished already: Earth Engine refuses to cancel it

            def refuse(task_id: str) -> None:
                raise ee.EEException(f"Task {task_id} is already completed")

            monkeypatch.setattr(ee.data, "cancelTask", refuse)
        with server.installed():
            report = write_jobs([job], source, tmp_path / "ds", progress=False, max_requests=16)
        assert sum(report.written.values()) == 1 and not report.exporting
        assert not list(split.glob("exports/*")), task
        (split / "provenance" / f"{job.id}.json").unlink()  # the next round exports it again
    assert cancelled == ["OLD"]
    assert "could not cancel the earlier export task DONE" in caplog.text
    assert "the scene was fetched directly: its file is not needed" in caplog.text
