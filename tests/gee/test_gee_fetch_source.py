"""The xee fetch path and GeeSource, end to end against the ArrayServer stand-in for
``ee.data.computeValue``/``computePixels`` (no network)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import ee
import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

import monitor.sources.gee as gee_module
from gee_scripts import fetch
from gee_scripts.assembly import (
    DATING_BANDS,
    FLAT_BANDS,
    STACK_BANDS,
    Availability,
    availability_query,
)
from gee_scripts.offline import ArrayServer, find_invocations, graph_tree
from gee_scripts.retry import Backoff, EarthEngineError
from gee_scripts.settings import GeeSettings, RetrySettings
from models.feature_stack import MODEL_BANDS, StackAttrs, validate
from monitor.grid import region_grid, reproject
from monitor.sources.base import AreaOfInterest, DataUnavailable, Window
from monitor.sources.gee import GeeSource, RegionTooLarge

# xee 0.1.2 multiplies Affine objects with `*` (deprecated in affine 3); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

AREA = AreaOfInterest("test-hills", box(10.90, 44.34, 10.92, 44.355), orbit_pass="both")
PRE = Window(date(2024, 7, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))
FULL = {
    "s2_dates_pre": ["2024-07-20", "2024-08-04"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27", "2024-09-08"],
}


def _bands(shape: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    bands = {n: rng.normal(size=shape).astype(np.float32) for n in FLAT_BANDS}
    for name in ("s2_clear_pre", "s2_clear_post", "s1_count_pre", "s1_count_post"):
        bands[name] = rng.integers(1, 5, size=shape).astype(np.float32)
    bands["preVV"][3:7, 5:40] = np.nan  # masked pixels must come back as NaN
    days = {"pre": [19924.0, 19939.0], "post": [19959.0]}  # 2024-07-20, 2024-08-04 / 08-24
    for which, choice in days.items():
        bands[f"s2_day_{which}"] = rng.choice(choice, size=shape).astype(np.float32)
    return bands


def _source(**retry: float) -> GeeSource:
    settings = GeeSettings(chunk_px=64, max_workers=2, retry=RetrySettings(**retry))
    return GeeSource(settings, initialize=False, progress=False)


def test_fetch_tiles_and_round_trips_every_band() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    transform = tuple(grid.transform)[:6]
    server = ArrayServer(bands, crs=grid.crs, transform=transform)
    image = ee.Image.constant([0.0] * len(FLAT_BANDS)).rename(list(FLAT_BANDS))
    assert len(FLAT_BANDS) == 36  # 27 stack bands, 7 event-dating bands, 2 acquisition days
    with server.installed():
        out = fetch.fetch_bands(
            image, crs=grid.crs, transform=transform, shape=grid.shape, chunk_px=64, progress=False
        )
    for name in FLAT_BANDS:
        np.testing.assert_array_equal(out[name], bands[name], err_msg=name)
    assert server.value_requests == 1
    expected = fetch.requests_per_fetch(grid.shape, 64)
    # One request per tile carrying all 36 bands (grid 171 x 164 px -> 3 x 3 tiles of 64 px).
    assert len(server.pixel_requests) == expected == 3 * 3
    assert {r.bands for r in server.pixel_requests} == {FLAT_BANDS}
    assert max(r.height for r in server.pixel_requests) == 64


def test_the_configured_tile_limit_is_the_fetch_limit() -> None:
    """A ``chunk_px`` the configuration accepts is one a request can carry: the bound in
    GeeSettings follows the feature image's band count (fetch.MAX_CHUNK_PX)."""
    assert GeeSettings(chunk_px=fetch.MAX_CHUNK_PX).chunk_px == fetch.MAX_CHUNK_PX
    with pytest.raises(ValueError, match="chunk_px"):
        GeeSettings(chunk_px=fetch.MAX_CHUNK_PX + 16)


def test_fetch_refuses_a_request_over_the_byte_limit() -> None:
    with pytest.raises(ValueError, match=r"over Earth Engine's 48 MiB; use chunk_px <= 528"):
        fetch.open_flat(
            ee.Image(0),
            crs="EPSG:32632",
            transform=(10, 0, 0, 0, -10, 0),
            shape=(2, 2),
            chunk_px=1024,
        )


def test_fetch_does_not_need_band_labels_from_the_server() -> None:
    """If the server's property listing skips images without ``system:id``, xee numbers the
    bands instead of naming them; the bands are still placed by position."""
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    transform = tuple(grid.transform)[:6]
    server = ArrayServer(bands, crs=grid.crs, transform=transform)
    answer = server.compute_value

    def unlabelled(obj: object) -> object:
        size, props, first, _ = answer(obj)
        return [size, props, first, [[], []]]

    image = ee.Image.constant([0.0] * len(FLAT_BANDS)).rename(list(FLAT_BANDS))
    with server.installed(), pytest.warns(UserWarning, match="Unable to retrieve 'band' values"):
        ee.data.computeValue = unlabelled
        out = fetch.fetch_bands(
            image, crs=grid.crs, transform=transform, shape=grid.shape, chunk_px=128, progress=False
        )
    for name in FLAT_BANDS:
        np.testing.assert_array_equal(out[name], bands[name], err_msg=name)


def test_feature_stack_layout_on_the_region_grid() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    bands["s1_count_post"][0, 0] = np.nan  # counts are never NaN in the stack
    attrs = StackAttrs(AREA.name, "gee", str(PRE), str(POST), "both", s1_dates_pre=("2024-07-22",))
    stack = fetch.to_feature_stack(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], shape=grid.shape, attrs=attrs
    )
    assert StackAttrs.of(stack) == attrs
    assert stack.attrs["s1_dates_pre"] == "2024-07-22" and stack.attrs["status"] == "ok"
    assert list(stack.data_vars)[:15] == list(MODEL_BANDS)
    np.testing.assert_array_equal(stack.x.values, grid.x)
    np.testing.assert_array_equal(stack.y.values, grid.y)
    assert stack.rio.crs.to_string() == grid.crs
    assert stack["pre_rgb"].dims == ("rgb", "y", "x")
    np.testing.assert_array_equal(stack["post_rgb"].values[2], bands["post_rgb_blue"])
    assert stack["s1_count_post"].values[0, 0] == 0
    assert stack["s1_count_post"].dtype == np.int16
    flat = fetch.flatten_stack(stack)
    assert list(flat) == [*STACK_BANDS, *DATING_BANDS]
    np.testing.assert_array_equal(flat["pre_rgb_green"], bands["pre_rgb_green"])
    np.testing.assert_array_equal(flat["s2_first_changed"], bands["s2_first_changed"])


def test_source_features_end_to_end() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    with server.installed():
        stack = _source().features(AREA, PRE, POST)
    validate(stack)
    assert stack.attrs["source"] == "gee" and stack.attrs["status"] == "ok"
    assert stack.attrs["s1_dates_post"] == "2024-08-27,2024-09-08"
    # S2: the acquisitions the greenest-pixel composite actually used.
    assert stack.attrs["s2_dates_pre"] == "2024-07-20,2024-08-04"
    assert stack.attrs["s2_dates_post"] == "2024-08-24"
    assert stack.attrs["pre_window"] == "2024-07-17/2024-08-16"
    assert np.isnan(stack["preVV"].values[3:7, 5:40]).all()
    np.testing.assert_array_equal(stack["dNDVI"].values, bands["dNDVI"])
    assert server.value_requests == 2  # availability + xee metadata


def test_sar_only_path_when_post_optical_is_missing() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    for name in (
        "postNDVI",
        "dNDVI",
        "post_rgb_red",
        "post_rgb_green",
        "post_rgb_blue",
        "s2_day_post",
    ):
        bands[name][:] = np.nan  # what the masked stand-in image serves
    bands["s2_clear_post"][:] = 0
    availability = {**FULL, "s2_dates_post": []}
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=availability
    )
    with server.installed():
        stack = _source().features(AREA, PRE, POST)
    assert stack.attrs["status"].split("; ") == [
        "S2 post window 2024-08-16/2024-09-15: no acquisition",
        "empty bands (entirely NaN): dNDVI",
    ]
    assert stack.attrs["s2_dates_post"] == ""
    assert np.isnan(stack["dNDVI"]).all() and np.isfinite(stack["dVV"]).all()
    assert (stack["s2_clear_post"] == 0).all()


def test_clouded_post_window_is_reported() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    bands["s2_clear_post"][:] = 0
    bands["postNDVI"][:] = np.nan
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    with server.installed():
        stack = _source().features(AREA, PRE, POST)
    assert stack.attrs["status"] == (
        "S2 post window 2024-08-16/2024-09-15: no clear pixel in 1 acquisitions"
    )


def test_partly_clouded_pre_window_and_invalid_radar_are_reported() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    bands["s2_clear_pre"][:, : grid.width // 4] = 0
    bands["s1_count_post"][:] = 0
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    with server.installed():
        stack = _source().features(AREA, PRE, POST)
    n_missing = grid.height * (grid.width // 4)  # 171 x 41 = 7011 pixels, 25 %
    assert stack.attrs["status"].split("; ") == [
        f"S2 pre window 2024-07-17/2024-08-16: {n_missing} pixels (25%) without a clear "
        "observation in 2 acquisitions",
        "S1 post window 2024-08-16/2024-09-15: no valid pixel in 2 acquisitions "
        "(border noise, layover/shadow or no data everywhere, or in monitoring no track the "
        "other window saw)",
    ]


def test_no_scene_at_all_raises_data_unavailable() -> None:
    grid = region_grid(AREA.geometry)
    empty: dict[str, list[str]] = {k: [] for k in FULL}
    server = ArrayServer({}, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=empty)
    with (
        server.installed(),
        pytest.raises(DataUnavailable, match="region test-hills: neither") as no,
    ):
        _source().features(AREA, PRE, POST)
    assert not server.pixel_requests
    # a post window of 15 days or more with nothing in it: `status --check` fails the region
    assert str(no.value).endswith(
        f"; post window {POST}: no acquisition of either sensor in its {POST.days} days, where "
        "Sentinel-1 and Sentinel-2 revisit within 12: is the source still fed?"
    )


def test_all_zero_image_is_refused() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    bands["postVV"][:] = 0.0
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    with server.installed(), pytest.raises(EarthEngineError, match="postVV came back all zero"):
        _source().features(AREA, PRE, POST)


def test_quota_errors_on_pixels_are_retried() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    serve = server.compute_pixels
    failures = {"left": 3}

    def flaky(params: dict) -> np.ndarray:
        if failures["left"]:
            failures["left"] -= 1
            raise ee.EEException("Too Many Requests: quota exceeded (429)")
        return serve(params)

    with server.installed():
        ee.data.computePixels = flaky
        stack = _source(initial_delay_s=0.001).features(AREA, PRE, POST)
    assert failures["left"] == 0
    np.testing.assert_array_equal(stack["postVH"].values, bands["postVH"])


def test_network_timeouts_on_pixels_are_retried() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    serve = server.compute_pixels
    timeouts = {"left": 1}

    def slow(params: dict) -> np.ndarray:
        if timeouts["left"]:
            timeouts["left"] -= 1
            raise TimeoutError("The read operation timed out")
        return serve(params)

    with server.installed():
        ee.data.computePixels = slow
        stack = _source(initial_delay_s=0.001).features(AREA, PRE, POST)
    assert timeouts["left"] == 0
    np.testing.assert_array_equal(stack["preNDVI"].values, bands["preNDVI"])


class _HttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.resp = type("Resp", (), {"status": status})()


def _http_400(message: str) -> ee.EEException:
    """As earthengine-api raises a 400: an EEException raised while handling the HttpError."""
    try:
        raise _HttpError(400)
    except _HttpError:
        try:
            raise ee.EEException(message)
        except ee.EEException as exc:
            return exc


def test_computation_timed_out_tile_is_retried_and_a_bad_asset_is_not() -> None:
    grid = region_grid(AREA.geometry)
    bands = _bands(grid.shape)
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    serve = server.compute_pixels
    timed_out = {"left": 1}
    calls: list[int] = []

    def heavy_once(params: dict) -> np.ndarray:
        calls.append(1)
        if timed_out["left"]:
            timed_out["left"] -= 1
            raise _http_400("Computation timed out.")
        return serve(params)

    with server.installed():
        ee.data.computePixels = heavy_once
        stack = _source(initial_delay_s=0.001).features(AREA, PRE, POST)
    np.testing.assert_array_equal(stack["postVV"].values, bands["postVV"])
    assert len(calls) == 9 + 1  # 3 x 3 tiles, one of them twice

    # A permanent 400 (an asset that does not exist) is asked once: neither xee nor the client
    # retries it behind the retry layer's back.
    asked: list[tuple[float, float]] = []

    def missing_asset(params: dict) -> np.ndarray:
        t = params["grid"]["affineTransform"]
        asked.append((t["translateX"], t["translateY"]))
        raise _http_400("Image.load: Image asset 'users/nobody/dem' not found.")

    with server.installed():
        ee.data.computePixels = missing_asset
        with pytest.raises(EarthEngineError, match=r"not found.*not retried: HTTP 400"):
            _source(initial_delay_s=0.001).features(AREA, PRE, POST)
    assert 1 <= len(asked) <= 2  # the tiles in flight (max_workers = 2), then nothing more
    assert len(set(asked)) == len(asked)  # no tile asked twice


def test_slow_tiles_end_at_the_region_deadline() -> None:
    """Every tile hangs: the fetch gives up at retry.total_timeout_s for the whole region, not
    after attempts x request deadline per tile."""
    grid = region_grid(AREA.geometry)
    server = ArrayServer(
        _bands(grid.shape), crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    release = threading.Event()
    started_tiles: list[float] = []

    def hangs(params: dict) -> np.ndarray:
        started_tiles.append(time.monotonic())
        release.wait(20.0)  # a computation that has not finished yet
        raise _http_400("Computation timed out.")

    source = _source(initial_delay_s=0.001, total_timeout_s=1.0)
    started = time.monotonic()
    try:
        with server.installed():
            ee.data.computePixels = hangs
            with pytest.raises(EarthEngineError, match="still running at the deadline"):
                source.features(AREA, PRE, POST)
    finally:
        release.set()
    elapsed = time.monotonic() - started
    # The region's deadline is 1 s from the start of its fetch; up to 2 s more for the
    # availability and metadata requests before it and for thread start-up on a loaded 2-core
    # machine (measured 1.3-1.6 s). The old code waited 20 s for each hanging tile attempt.
    assert elapsed < 3.0
    assert time.monotonic() - started_tiles[0] < 1.5  # the tiles ended at the deadline
    assert 1 <= len(started_tiles) <= 2  # max_workers = 2 tiles were asked, none finished


def test_a_tile_that_fails_for_good_ends_the_tile_in_flight() -> None:
    """One tile fails for good while the other (max_workers = 2) hangs: the fetch ends at once
    instead of waiting for the hanging tile (the same path a SIGTERM takes)."""
    grid = region_grid(AREA.geometry)
    server = ArrayServer(
        _bands(grid.shape), crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    release = threading.Event()
    lock = threading.Lock()
    asked: list[float] = []

    def first_fails(params: dict) -> np.ndarray:
        with lock:
            asked.append(time.monotonic())
            first = len(asked) == 1
        if first:
            time.sleep(0.3)  # the other tile is in flight by now
            raise _http_400("Image.load: Image asset 'users/nobody/dem' not found.")
        release.wait(20.0)
        raise _http_400("Computation timed out.")

    source = _source(initial_delay_s=0.001, total_timeout_s=60.0)
    try:
        with server.installed():
            ee.data.computePixels = first_fails
            started = time.monotonic()
            with pytest.raises(EarthEngineError, match=r"not found.*not retried: HTTP 400"):
                source.features(AREA, PRE, POST)
            elapsed = time.monotonic() - started
    finally:
        release.set()
    assert len(asked) == 2
    # 0.3 s to the failure, then at most a 0.1 s poll for the tile in flight; 2 s leaves room
    # for the availability and metadata requests on a loaded machine. Before, the fetch waited
    # the full 20 s for the hanging tile.
    assert elapsed < 2.0


def test_availability_probe_retries_then_names_the_region() -> None:
    calls = []

    def always_busy(obj: object) -> object:
        calls.append(obj)
        raise ee.EEException("Service unavailable")

    server = ArrayServer({}, crs="EPSG:32632", transform=(10, 0, 0, 0, -10, 0))
    with server.installed():
        ee.data.computeValue = always_busy
        with pytest.raises(EarthEngineError, match="scene availability for region test-hills"):
            _source(attempts=3, initial_delay_s=0.001).features(AREA, PRE, POST)
    assert len(calls) == 3


def test_too_large_region_points_to_export() -> None:
    big = AreaOfInterest("big", box(10.0, 44.0, 10.5, 44.5))
    expected = r"region big: .* split the region, .* export it with GeeSource.export"
    with pytest.raises(RegionTooLarge, match=expected):
        _source().features(big, PRE, POST)


@pytest.mark.parametrize(
    ("polygon", "refusal", "named"),
    [
        (box(9.5, 46.0, 9.9, 46.3), "RegionTooLarge", "source.max_interactive_km2 = 400"),
        # south of the canopy height's 52° S (this test once went north of WorldCover's 84° N,
        # where no region can be now: UTM ends there)
        (box(-60.0, -65.01, -59.98, -65.0), "AssetCoverageError", "source.assets.canopy_height"),
    ],
)
def test_a_refused_region_fails_the_run_with_its_message_and_no_traceback(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    polygon: Polygon,
    refusal: str,
    named: str,
) -> None:
    """Found by the Earth Engine walk: a region over source.max_interactive_km2, or beyond an
    asset's latitudes, failed the run with a traceback in the log before the message that says
    what to change; such refusals are logged as the archive's are, by their message alone."""
    from monitor.config import MonitorConfig
    from monitor.run import _detect_safely
    from monitor.sources import gee as gee_source

    monkeypatch.setattr(gee_source, "ee_initialize", lambda settings: None)
    (tmp_path / "manifest.json").write_text("{}")
    config = MonitorConfig.model_validate(
        {
            # a configuration refuses a region over the limit when it loads (the test below):
            # loaded with a higher one, then run with the default
            "source": {"type": "gee", "project": "offline-test", "max_interactive_km2": 5000},
            "regions": [{"name": "far", "geometry": mapping(polygon)}],
            "model": {"manifest": str(tmp_path / "manifest.json")},
        }
    )
    config.source = config.source.model_copy(update={"max_interactive_km2": 400.0})
    with caplog.at_level(logging.ERROR, logger="monitor.run"):
        result = _detect_safely(config, config.regions[0], date(2024, 9, 15))
    assert result.status == "failed"
    assert result.message is not None and result.message.startswith(f"{refusal}: ")
    assert named in result.message
    (record,) = caplog.records
    assert record.exc_info is None and named in record.getMessage()


def test_fetch_refuses_a_rotated_grid() -> None:
    with pytest.raises(ValueError, match="north-up"):
        fetch.open_flat(
            ee.Image(0),
            crs="EPSG:32632",
            transform=(10, 0.5, 0, 0, -10, 0),
            shape=(2, 2),
            retry=Backoff(attempts=1),
        )


@settings(max_examples=60, deadline=None)
@given(
    lon=st.floats(-179.0, 179.0),
    lat=st.floats(-70.0, 70.0),
    dx=st.floats(0.001, 0.2),
    dy=st.floats(0.001, 0.2),
)
def test_xee_fit_geometry_agrees_with_the_region_grid(
    lon: float, lat: float, dx: float, dy: float
) -> None:
    """Same CRS, pixel size and origin; the same shape except that xee's ``ceil - floor`` may
    add one row/column when an edge lies within float rounding of a pixel boundary. The source
    fetches on ``region_grid`` itself, so parity never depends on this."""
    geometry = box(lon, lat, lon + dx, lat + dy)
    grid = region_grid(geometry)
    crs, transform, (height, width) = fetch.fit_grid(geometry, grid.crs)
    assert (crs, transform) == (grid.crs, tuple(grid.transform)[:6])
    assert 0 <= height - grid.height <= 1 and 0 <= width - grid.width <= 1


def test_xee_fit_geometry_of_the_demo_regions_is_exact() -> None:
    from monitor.ops.init import DEMO_CONFIG

    config = yaml.safe_load(DEMO_CONFIG.read_text())
    for region in config["regions"]:
        geometry = shape(region["geometry"])
        grid = region_grid(geometry)
        assert fetch.fit_grid(geometry, grid.crs) == (
            grid.crs,
            tuple(grid.transform)[:6],
            grid.shape,
        ), region["name"]


@pytest.mark.parametrize(
    ("polygon", "refused"),
    [
        (box(9.5, 46.0, 9.9, 46.3), True),  # about 1,000 km²
        # two valleys of 1 km² 0.4° apart: 2 km² of polygon, a grid of some 1,400 km² (the
        # configuration refuses a grid over 3 x max_area_km2 whatever the source: 1° apart is
        # refused so)
        (
            MultiPolygon([box(9.5, 46.0, 9.51, 46.01), box(9.9, 46.4, 9.91, 46.41)]),
            True,
        ),
        (box(9.5, 46.0, 9.7, 46.15), False),  # about 260 km²
    ],
)
def test_a_region_over_the_interactive_limit_is_refused_when_the_configuration_loads(
    tmp_path: Path, polygon: Polygon | MultiPolygon, refused: bool
) -> None:
    """Found by an adopter's review: the configuration accepted polygons up to max_area_km2
    (2,500 km²) while the Earth Engine source refuses a grid over max_interactive_km2 (400)
    when a run reaches it, so such a region failed every day's run; the configuration now
    refuses it when it loads, naming the region, its grid and the setting."""
    from pydantic import ValidationError

    from monitor.config import MonitorConfig
    from monitor.grid import region_grid

    (tmp_path / "manifest.json").write_text("{}")
    data = {
        "source": {"type": "gee", "project": "offline-test"},
        "regions": [
            {"name": "small", "geometry": mapping(box(9.0, 46.0, 9.05, 46.05))},
            {"name": "corridor", "geometry": mapping(polygon)},
        ],
        "model": {"manifest": str(tmp_path / "manifest.json")},
    }
    grid_km2 = region_grid(polygon).area_km2
    assert (grid_km2 > 400) is refused
    if not refused:
        MonitorConfig.model_validate(data)
        return
    with pytest.raises(ValidationError) as caught:
        MonitorConfig.model_validate(data)
    message = str(caught.value)
    assert "regions[1].geometry: region 'corridor' has a grid of" in message
    assert f"{grid_km2:.0f} km²" in message
    assert "source.max_interactive_km2 = 400" in message
    # the archive source fetches no grid through Earth Engine: the same regions load
    MonitorConfig.model_validate({**data, "source": {"type": "archive", "path": str(tmp_path)}})


def _searched(node: dict[str, Any], crs: str) -> BaseGeometry:
    """The planar area a scene search (``Filter.intersects``) covers, in ``crs``."""
    args = node["args"]
    if node["fn"] == "GeometryConstructors.Rectangle":
        searched: BaseGeometry = box(*args["coordinates"])
    else:
        assert node["fn"] == "GeometryConstructors.Polygon", node["fn"]
        searched = Polygon(args["coordinates"][0])
    return reproject(searched, args["crs"]["args"]["crs"], crs)


def test_scenes_are_searched_over_the_whole_grid_not_only_the_polygon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stack covers the region's grid, the polygon's bounding box. Scenes were searched by
    the polygon: for a valley drawn across its box, a corner beyond a Sentinel-2 tile edge or a
    Sentinel-1 slice boundary missed the scenes that cover only it (NaN or fewer looks there),
    where the archive, written over the grid, has them."""
    valley = Polygon([(10.90, 44.34), (10.93, 44.37), (10.928, 44.372), (10.898, 44.342)])
    area = AreaOfInterest("diagonal-valley", valley, orbit_pass="ascending")
    grid = region_grid(valley)
    source = _source()
    availability = Availability(*(tuple(FULL[k]) for k in FULL))
    image = source.feature_image(area, PRE, POST, availability=availability)
    sent: list[Any] = []  # the query the source's own availability request builds

    def recorded(*args: Any, **kwargs: Any) -> Any:
        sent.append(availability_query(*args, **kwargs))
        return sent[-1]

    monkeypatch.setattr(gee_module, "availability_query", recorded)
    server = ArrayServer({}, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL)
    with server.installed():
        source.availability(area, PRE, POST)
    (query,) = sent
    whole = box(*grid.bounds)
    for graph in (image, query):
        searches = list(find_invocations(graph_tree(graph), "Filter.intersects"))
        assert searches
        for search in searches:
            searched = _searched(search["args"]["rightValue"]["args"]["geometry"], grid.crs)
            assert searched.buffer(1e-3).covers(whole)
    assert grid.project(valley).area < 0.2 * whole.area  # the corners are most of the box
