"""``landslide-monitor gee check`` against the stand-in server: the report (assets, valid
fractions, requests, time, the terrain-flattening sign check) and its exit status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from shapely.geometry import box, mapping

from gee_scripts.assembly import FLAT_BANDS
from gee_scripts.offline import ArrayServer
from gee_scripts.settings import GeeSettings
from monitor import cli
from monitor.grid import region_grid
from monitor.ops.gee_check import MIN_SLOPE_PX, SLOPE_DEG, evaluate_sign, tile_area
from monitor.sources import gee as gee_source
from monitor.sources.base import AreaOfInterest
from monitor.sources.terrain_flattening import (
    slope_aspect,
    slope_correction_factor,
    track_geometry,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

ALPS = box(9.930, 46.220, 9.946, 46.231)  # about 1.2 km x 1.2 km of Valtellina
TILE_PX = 64
RUN_DATE = "2024-09-15"
AVAILABILITY = {
    "s2_dates_pre": ["2024-07-20", "2024-08-04"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27", "2024-09-08"],  # the post window's last days seen
}


def _flat_bands(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """The feature image's bands: plausible values, postNDVI missing on a quarter of the tile."""
    rng = np.random.default_rng(7)
    bands = {n: rng.uniform(0.1, 1.0, shape).astype(np.float32) for n in FLAT_BANDS}
    for name in ("s2_clear_pre", "s2_clear_post", "s1_count_pre", "s1_count_post"):
        bands[name][:] = 2.0
    for which in ("pre", "post"):
        bands[f"s2_day_{which}"][:] = 19_950.0
    bands["kg_climate"][:] = np.nan  # no Köppen-Geiger asset configured
    h, w = shape
    bands["postNDVI"][: h // 2, : w // 2] = np.nan
    return bands


def _sign_bands(shape: tuple[int, int], heading_right: bool = True) -> dict[str, np.ndarray]:
    """What the server computes for the sign check on a north-south ridge seen by a sensor in
    the west (look azimuth 90°, θi 38°), from the archive's own flattening functions: raw γ0
    brighter by the slope correction factor on slopes facing the sensor, flattened γ0 the same
    everywhere up to speckle, layover bright. With the heading wrong, αr has the opposite sign
    while the data stay as they are."""
    h, w = shape
    rng = np.random.default_rng(11)
    _, xx = np.mgrid[0:h, 0:w].astype(float)
    dem = 300.0 + 700.0 * np.exp(-((xx - w / 2) ** 2) / (2 * 8.0**2))
    slope, aspect = slope_aspect(dem, 10.0)
    g = track_geometry(slope, aspect, 38.0, look_azimuth_deg=90.0)
    scf = slope_correction_factor(
        "volume", np.radians(g.theta_i_deg), np.radians(g.alpha_r_deg), np.radians(g.alpha_az_deg)
    )
    masked = g.layover | g.shadow
    with np.errstate(invalid="ignore", divide="ignore"):
        scf_db = np.where(masked, np.nan, 10.0 * np.log10(scf))
    flat = -9.0 + rng.normal(0.0, 1.0, shape)  # speckle, 1 dB
    gamma0 = np.where(masked, np.where(g.layover, 3.0, -25.0), flat + scf_db)
    alpha_r = g.alpha_r_deg if heading_right else -g.alpha_r_deg
    return {
        "gamma0_db": gamma0.astype(np.float32),
        "flat_db": np.where(masked, np.nan, flat).astype(np.float32),
        "alpha_r_deg": alpha_r.astype(np.float32),
        "layover": g.layover.astype(np.float32),
    }


def _config(tmp_path: Path, **source: Any) -> Path:
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "gee", "project": "offline-test", **source},
                "regions": [{"name": "alps", "geometry": mapping(ALPS)}],
                "model": {"manifest": str(manifest)},
                "inventory": {"path": str(tmp_path / "inventory.gpkg")},
            }
        )
    )
    return path


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> list[GeeSettings]:
    """Stands in for the credentialed ``ee`` initialisation; records the settings it got."""
    calls: list[GeeSettings] = []
    monkeypatch.setattr(gee_source, "ee_initialize", calls.append)
    return calls


def _server(heading_right: bool = True) -> tuple[ArrayServer, dict[str, np.ndarray]]:
    grid = region_grid(ALPS)
    sign = _sign_bands(grid.shape, heading_right)
    server = ArrayServer(
        _flat_bands(grid.shape) | sign,
        crs=grid.crs,
        transform=tuple(grid.transform)[:6],
        availability=AVAILABILITY,
    )
    return server, sign


def _tile(bands: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    grid = region_grid(ALPS)
    r0, c0 = (grid.height - TILE_PX) // 2, (grid.width - TILE_PX) // 2
    return {k: v[r0 : r0 + TILE_PX, c0 : c0 + TILE_PX] for k, v in bands.items()}


def test_the_tile_is_the_centre_window_of_the_region_grid() -> None:
    grid = region_grid(ALPS)
    _, tile = tile_area(AreaOfInterest("alps", ALPS), TILE_PX)
    assert tile.shape == (TILE_PX, TILE_PX) and tile.crs == grid.crs
    assert tile.x0 == grid.x0 + (grid.width - TILE_PX) // 2 * grid.res
    assert tile.y0 == grid.y0 - (grid.height - TILE_PX) // 2 * grid.res


def test_gee_check_prints_its_report_from_the_stand_ins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: list[GeeSettings]
) -> None:
    server, sign = _server()
    argv = ["gee", "check", "--config", str(_config(tmp_path)), "--date", RUN_DATE]
    with server.installed():
        status = cli.main([*argv, "--tile-px", str(TILE_PX)])
    report = capsys.readouterr().out
    assert status == 0, report
    assert len(no_credentials) == 1 and no_credentials[0].project == "offline-test"
    lines = report.splitlines()
    assert lines[0] == "Earth Engine check for 2024-09-15: 1 region(s)"
    assert lines[1].startswith("region alps: 64x64 px at the centre of its grid (EPSG:32632,")
    assert "  windows: pre 2024-06-17/2024-08-16, post 2024-08-16/2024-09-15" in lines
    assert "    elevation: USGS/SRTMGL1_003 (covers 56.0° S to 60.0° N)" in lines
    assert "    canopy_height: users/potapovpeter/GEDI_V27 (covers 52.0° S to 52.0° N)" in lines
    # Valid fractions of the tile: everything served except kg_climate (no asset) and a
    # quarter of postNDVI; dNDVI is served as it is (the server computes it).
    assert "    preVV 1.00, postVV 1.00, dVV 1.00, preVH 1.00, postVH 1.00" in lines
    row = "    slope 1.00, kg_climate 0.00, canopy_height 1.00, landcover 1.00, dNDVI 1.00"
    assert row in lines
    assert "    preNDVI 1.00, postNDVI 0.75" in lines
    assert (
        "  data status: empty bands (entirely NaN): kg_climate (no asset configured: "
        "source.assets.kg_climate is null)" in lines
    )
    # Features: availability + xee metadata + 1 tile; sign check: metadata + 1 tile (its scene
    # dates come from the stack, not from a second availability request).
    (requests,) = [line for line in lines if line.startswith("  requests:")]
    assert requests.startswith("  requests: 3 computeValue, 2 computePixels; ")
    assert len(server.pixel_requests) == 2
    assert "  terrain flattening sign check (first post-window scene, VV): PASS" in lines

    # The numbers of the sign check are the medians of the tile's pixels.
    t = _tile(sign)
    facing = t["alpha_r_deg"] >= SLOPE_DEG  # layover included; medians where flattened
    away = t["alpha_r_deg"] <= -SLOPE_DEG
    assert facing.sum() >= MIN_SLOPE_PX and away.sum() >= MIN_SLOPE_PX
    flattened = facing & np.isfinite(t["flat_db"])
    before, after = np.median(t["gamma0_db"][flattened]), np.median(t["flat_db"][flattened])
    expected = (
        f"    slopes facing the sensor (αr >= 5°, {int(facing.sum())} px): γ0 {before:.1f} dB "
        f"before, {after:.1f} dB after flattening ({after - before:+.1f} dB)"
    )
    assert expected in lines
    assert after < before  # darker after flattening, by the slope correction factor
    n_layover = int((t["layover"] == 1).sum())
    assert n_layover > 0
    (layover,) = [line for line in lines if line.startswith("    layover:")]
    assert layover.startswith(f"    layover: {n_layover} px, {n_layover} on slopes facing")
    assert lines[-1] == "1 of 1 region(s) passed"


def test_a_wrong_heading_fails_the_sign_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: list[GeeSettings]
) -> None:
    server, _ = _server(heading_right=False)
    argv = ["gee", "check", "-c", str(_config(tmp_path)), "--date", RUN_DATE, "--tile-px", "64"]
    with server.installed():
        status = cli.main(argv)
    report = capsys.readouterr().out
    assert status == 1
    assert "  terrain flattening sign check (first post-window scene, VV): FAIL" in report
    assert "the heading (look direction) is wrong" in report
    assert report.splitlines()[-1] == "0 of 1 region(s) passed; failed: alps"


def test_a_region_without_a_sentinel_1_scene_says_the_sign_check_is_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: list[GeeSettings]
) -> None:
    """Found following docs/earth_engine.md: without a Sentinel-1 scene the report had no
    sign-check line at all and ended '1 of 1 region(s) passed', as if it had passed."""
    grid = region_grid(ALPS)
    optical_only = {**AVAILABILITY, "s1_dates_pre": [], "s1_dates_post": []}
    server = ArrayServer(
        _flat_bands(grid.shape) | _sign_bands(grid.shape),
        crs=grid.crs,
        transform=tuple(grid.transform)[:6],
        availability=optical_only,
    )
    argv = ["gee", "check", "-c", str(_config(tmp_path)), "--date", RUN_DATE, "--tile-px", "64"]
    with server.installed():
        status = cli.main(argv)
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert "  terrain flattening sign check (no scene, VV): SKIPPED" in lines
    assert "    no Sentinel-1 scene in either window" in lines  # of either pass
    assert len(server.pixel_requests) == 1  # the stack's tile; none for a sign check
    assert lines[-1] == "1 of 1 region(s) passed"


def test_a_region_no_asset_covers_is_reported_without_a_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: list[GeeSettings]
) -> None:
    server, _ = _server()
    config = _config(tmp_path, dem={"source": "srtm"})
    data = yaml.safe_load(config.read_text())
    data["regions"][0]["geometry"] = mapping(box(14.000, 64.990, 14.023, 65.000))
    config.write_text(yaml.safe_dump(data))
    with server.installed():
        status = cli.main(["gee", "check", "-c", str(config), "--date", RUN_DATE])
    report = capsys.readouterr().out
    assert status == 1
    assert "  error: band elevation: USGS/SRTMGL1_003 covers only 56.0° S to 60.0° N" in report
    assert "  requests: 0 computeValue, 0 computePixels;" in report
    assert server.value_requests == 0


def test_gee_check_refuses_an_archive_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["source"] = {"type": "archive", "path": str(tmp_path / "archive")}
    config.write_text(yaml.safe_dump(data))
    assert cli.main(["gee", "check", "-c", str(config)]) == 2
    assert "gee check needs a 'source: {type: gee, ...}' block" in capsys.readouterr().err


def test_gee_check_refuses_a_future_date_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # it waited 15 s of Earth Engine retries offline, then exited 1 (a user walkthrough)
    import monitor.ops.gee_check as gee_check

    def unreachable(*args: object, **kwargs: object) -> None:
        raise AssertionError("Earth Engine was connected to")

    monkeypatch.setattr(gee_check, "GeeSource", unreachable)
    assert cli.main(["gee", "check", "-c", str(_config(tmp_path)), "--date", "2099-01-01"]) == 2
    assert "run date 2099-01-01 is in the future" in capsys.readouterr().err


def test_too_little_relief_skips_the_sign_check() -> None:
    flat = np.zeros((32, 32), np.float32)
    bands = {"gamma0_db": flat - 9, "flat_db": flat - 9, "alpha_r_deg": flat, "layover": flat}
    check = evaluate_sign(bands, "first post-window scene")
    assert check.passed is None and (check.facing_px, check.away_px) == (0, 0)


def test_unusable_credentials_are_bad_input_naming_the_key_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: a missing or malformed key file is a file to correct, exit status 2
    as for any bad input (README), not 1 with 'AuthError:' and an offer of a traceback."""
    monkeypatch.delenv("EE_SERVICE_ACCOUNT_KEY", raising=False)
    missing = tmp_path / "ee-key.json"
    config = _config(tmp_path, service_account_key=str(missing))
    assert cli.main(["gee", "check", "-c", str(config), "--date", RUN_DATE]) == 2
    err = capsys.readouterr().err
    assert f"service-account key file {missing} (from source.service_account_key)" in err
    assert "AuthError" not in err and "--debug" not in err
    missing.write_text('{"type": "authorized_user"}')
    assert cli.main(["run", "-c", str(config), "--date", RUN_DATE]) == 2
    assert "is not a service-account key" in capsys.readouterr().err


def test_the_default_run_date_is_said_to_be_the_schedules_today(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a new user: the help said 'today, UTC' while the check took today in
    schedule.timezone, as `run` does; east of Greenwich the two differ for hours each day."""
    with pytest.raises(SystemExit):
        cli.main(["gee", "check", "--help"])
    assert "today in schedule.timezone" in " ".join(capsys.readouterr().out.split())
