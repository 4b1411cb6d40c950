"""Batch export for regions too large to fetch interactively (no server: the task is built and
its start() replaced)."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import ee
import pytest
from shapely.geometry import box

from gee_scripts.export import export_parameters, wait_for
from gee_scripts.offline import ArrayServer, find_invocations, graph_tree
from gee_scripts.retry import Backoff, EarthEngineError
from gee_scripts.settings import NODATA, ExportSettings, GeeSettings, RetrySettings
from monitor.grid import region_grid
from monitor.sources.base import AreaOfInterest, Window
from monitor.sources.gee import GeeSource

AREA = AreaOfInterest("big valley/east", box(10.0, 44.0, 10.3, 44.25), "descending")
PRE = Window(date(2024, 7, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))
AVAILABILITY = {
    "s2_dates_pre": ["2024-07-20"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27"],
}


def test_export_on_the_region_grid_to_cloud_storage(monkeypatch: pytest.MonkeyPatch) -> None:
    grid = region_grid(AREA.geometry)
    starts: list[Any] = []

    def start(task: ee.batch.Task) -> None:
        starts.append(task)
        if len(starts) == 1:
            raise ee.EEException("Too many concurrent tasks: rate limit")

    monkeypatch.setattr(ee.batch.Task, "start", start)
    settings = GeeSettings(
        export=ExportSettings(bucket="landslide-exports", prefix="daily"),
        retry=RetrySettings(initial_delay_s=0.001),
    )
    server = ArrayServer(
        {}, crs=grid.crs, transform=(10, 0, 0, 0, -10, 0), availability=AVAILABILITY
    )
    with server.installed():
        task = GeeSource(settings, initialize=False, progress=False).export(AREA, PRE, POST)
    assert len(starts) == 2  # the 429 was retried
    assert task.config is not None
    assert task.config["description"] == "big_valley_east_2024-08-16"
    options = task.config["fileExportOptions"]
    assert options["cloudStorageDestination"]["bucket"] == "landslide-exports"
    assert (
        options["cloudStorageDestination"]["filenamePrefix"] == "daily/big_valley_east_2024-08-16"
    )
    assert options["fileFormat"] == "GEO_TIFF"
    expression = graph_tree(task.config["expression"])
    assert expression["fn"] == "Image.clipToBoundsAndScale"
    reproject = expression["args"]["input"]  # the grid: CRS and transform of region_grid
    assert reproject["fn"] == "Image.reproject"
    assert reproject["args"]["crsTransform"] == list(tuple(grid.transform)[:6])
    assert reproject["args"]["crs"]["args"]["crs"] == grid.crs
    bounds = next(find_invocations(expression, "GeometryConstructors.Rectangle"))
    assert bounds["args"]["coordinates"] == [0, 0, grid.width, grid.height]
    unmask = next(find_invocations(reproject, "Image.unmask"))  # masked pixels -> NODATA
    assert unmask["args"]["value"]["args"]["value"] == NODATA


def test_export_parameters_take_the_grid_s_affine_as_six_numbers() -> None:
    """Found by a user following docs/archive.md (export on `grid.transform`): an Affine
    iterates as nine numbers, and the export asked Earth Engine for a crsTransform of nine."""
    from affine import Affine

    from gee_scripts.fetch import six_numbers

    grid = Affine(10.0, 0.0, 577120.0, 0.0, -10.0, 5118670.0)
    params = export_parameters(
        description="S2_20240820",
        crs="EPSG:32632",
        transform=grid,
        shape=(197, 192),
        settings=ExportSettings(bucket="b"),
    )
    assert params["crsTransform"] == [10.0, 0.0, 577120.0, 0.0, -10.0, 5118670.0]
    with pytest.raises(ValueError, match=r"six numbers .* or an affine.Affine; got 4"):
        six_numbers((10.0, 0.0, 0.0, -10.0))


def test_export_parameters_for_drive_and_missing_bucket() -> None:
    params = export_parameters(
        description="r 1",
        crs="EPSG:32632",
        transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0),
        shape=(300, 400),
        settings=ExportSettings(target="drive", drive_folder="monitor"),
    )
    assert params["folder"] == "monitor" and params["dimensions"] == "400x300"
    assert params["description"] == params["fileNamePrefix"] == "r_1"
    # a scene id may have 120 characters: the task's description is cut to Earth Engine's 100,
    # the file keeps the whole id, which `dataset ingest` looks for (it waited forever)
    long_id = "item_20240817_" + "x" * 106
    named = export_parameters(
        description=long_id,
        crs="EPSG:32632",
        transform=(10.0, 0.0, 500000.0, 0.0, -10.0, 5000000.0),
        shape=(300, 400),
        settings=ExportSettings(target="cloud_storage", bucket="b", prefix="p/datasets"),
    )
    assert named["description"] == long_id[:100]
    assert named["fileNamePrefix"] == f"p/datasets/{long_id}"
    with pytest.raises(ValueError, match=r"source\.export\.bucket is required"):
        export_parameters(
            description="r",
            crs="EPSG:32632",
            transform=(10.0, 0.0, 0.0, 0.0, -10.0, 0.0),
            shape=(3, 4),
            settings=ExportSettings(),
        )


class _FakeTask:
    def __init__(self, states: list[str]) -> None:
        self.states = states

    def status(self) -> dict[str, str]:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return {"state": state, "description": "r", "error_message": "asset not found"}


def _task(states: list[str]) -> ee.batch.Task:
    """A :class:`_FakeTask` where ``wait_for`` wants an ``ee.batch.Task`` (it only polls
    ``status()``)."""
    return cast(ee.batch.Task, _FakeTask(states))


def test_wait_for_finishes_fails_or_times_out() -> None:
    sleeps: list[float] = []
    done = wait_for(_task(["READY", "RUNNING", "COMPLETED"]), poll_s=5, sleep=sleeps.append)
    assert done["state"] == "COMPLETED" and sleeps == [5, 5]
    with pytest.raises(EarthEngineError, match="export r: FAILED: asset not found"):
        wait_for(_task(["RUNNING", "FAILED"]), sleep=lambda s: None)
    now = [0.0]

    def tick(s: float) -> None:
        now[0] += s

    with pytest.raises(EarthEngineError, match="still RUNNING after 60 s"):
        wait_for(_task(["RUNNING"]), timeout_s=60, poll_s=30, sleep=tick, clock=lambda: now[0])


def test_a_transient_error_while_polling_is_retried_here() -> None:
    """The client's own retries are off, so a 503 while polling is this layer's to retry."""
    task = _FakeTask(["RUNNING", "COMPLETED"])
    answers = task.status
    failures = [ee.EEException("Service unavailable")]

    def flaky() -> dict[str, str]:
        if failures:
            raise failures.pop()
        return answers()

    task.status = flaky  # type: ignore[method-assign]
    done = wait_for(
        cast(ee.batch.Task, task),
        poll_s=1,
        retry=Backoff(initial_delay_s=0.001),
        sleep=lambda s: None,
    )
    assert done["state"] == "COMPLETED" and not failures
