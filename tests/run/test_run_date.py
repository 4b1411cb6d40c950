"""Run dates a run cannot serve are bad input (exit status 2) and are never recorded: a date
after today, or one on or before the source's first acquisition. A completed run recorded for a
future date (an older inventory) does not make the scheduler skip the days up to it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import monitor.run as run_module
from monitor.cli import main
from monitor.errors import BadInput
from monitor.grid import region_grid
from monitor.ops.schedule import completed_run_dates, cron_trigger, due_run_dates
from monitor.run import check_run_date
from monitor.sources.base import AreaOfInterest
from tests.run.run_fixtures import (
    FIRST_ACQUISITION,
    StandInEnsemble,
    StandInSource,
    region_polygon,
    two_region_config,
)

REGIONS = {"north": region_polygon(0.0), "south": region_polygon(0.05)}


@pytest.fixture
def config_path(write_config: Callable[..., Path], manifest: Path) -> Path:
    return write_config(two_region_config(manifest))


@pytest.fixture
def source(monkeypatch: pytest.MonkeyPatch) -> StandInSource:
    source = StandInSource(REGIONS, {"north": [(5, 15, 5, 20)]})
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    return source


def test_a_future_run_date_exits_2_and_the_scheduler_still_runs_the_next_day(
    config_path: Path, source: StandInSource, capsys: pytest.CaptureFixture[str]
) -> None:
    today = datetime.now(UTC).date()
    assert main(["run", "--config", str(config_path), "--date", today.isoformat()]) == 0
    calls = len(source.calls)
    future = today + timedelta(days=1)  # the schedule's time zone is UTC (the default)
    status = main(["run", "--config", str(config_path), "--date", future.isoformat()])
    assert status == 2
    err = capsys.readouterr().err
    assert f"run date {future} is in the future (today is {today} in UTC" in err
    assert f"--date {today}" in err
    assert len(source.calls) == calls  # refused before any region was read
    inventory = config_path.parent / "runs" / "inventory.gpkg"
    assert completed_run_dates(inventory) == {today}
    # The next morning the scheduler runs that day: a recorded future run would have made it
    # skip it (the old code recorded it ok, and due_run_dates then returned nothing).
    trigger = cron_trigger("0 6 * * *", "UTC")
    tomorrow_7am = datetime.combine(future, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7)
    assert due_run_dates(trigger, tomorrow_7am, completed_run_dates(inventory), 3) == [future]


def test_a_run_date_before_the_source_has_data_exits_2(
    config_path: Path, source: StandInSource, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["run", "--config", str(config_path), "--date", FIRST_ACQUISITION.isoformat()])
    assert status == 2
    assert f"first acquisition ({FIRST_ACQUISITION})" in capsys.readouterr().err
    assert source.calls == []


def test_today_is_the_schedule_time_zone_s_date() -> None:
    source = StandInSource(REGIONS, {})
    areas = [AreaOfInterest("north", REGIONS["north"])]
    now = datetime(2024, 9, 15, 12, 0, tzinfo=UTC)  # 2024-09-16 00:00 in Pacific/Kiritimati
    check_run_date(date(2024, 9, 15), source, areas, now=now)
    # a day early in UTC: refused, so a completed run can never be dated after the day it ran
    with pytest.raises(BadInput, match=r"2024-09-16 is in the future \(today is 2024-09-15 in UTC"):
        check_run_date(date(2024, 9, 16), source, areas, now=now)
    check_run_date(date(2024, 9, 16), source, areas, timezone="Pacific/Kiritimati", now=now)
    with pytest.raises(BadInput, match="2024-09-17 is in the future"):
        check_run_date(date(2024, 9, 17), source, areas, timezone="Pacific/Kiritimati", now=now)
    check_run_date(FIRST_ACQUISITION + timedelta(days=1), source, areas, now=now)


def test_a_future_run_date_is_refused_before_the_source_is_opened(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Earth Engine is connected to as its source opens: without the network a future date
    # waited 15 s of retries and exited 1 (a user walkthrough, 2026-12-06)
    def unreachable(settings: object) -> None:
        raise AssertionError("the source was opened")

    monkeypatch.setattr(run_module, "open_source", unreachable)
    future = datetime.now(UTC).date() + timedelta(days=2)
    assert main(["run", "--config", str(config_path), "--date", future.isoformat()]) == 2
    assert f"run date {future} is in the future" in capsys.readouterr().err


def test_a_completed_future_run_is_not_taken_as_the_last_run() -> None:
    trigger = cron_trigger("0 6 * * *", "UTC")
    now = datetime(2024, 9, 15, 7, 0, tzinfo=UTC)
    done = {date(2024, 9, 12), date(2026, 12, 25)}  # the second recorded by an older version
    assert due_run_dates(trigger, now, done, 7) == [
        date(2024, 9, 13),
        date(2024, 9, 14),
        date(2024, 9, 15),
    ]


def test_a_run_without_a_date_is_dated_in_the_schedule_time_zone(
    write_config: Callable[..., Path], manifest: Path, source: StandInSource
) -> None:
    """Found by a new user: cron, systemd and Kubernetes start `run` without --date, which was
    dated by UTC while the scheduler and the future-date check use schedule.timezone."""
    from zoneinfo import ZoneInfo

    # UTC+14 and UTC-11: at any hour the date of one of them differs from UTC's
    zone = next(
        z
        for z in ("Pacific/Kiritimati", "Pacific/Pago_Pago")
        if datetime.now(ZoneInfo(z)).date() != datetime.now(UTC).date()
    )
    path = write_config(two_region_config(manifest, schedule={"timezone": zone}))
    before = datetime.now(ZoneInfo(zone)).date()
    assert main(["run", "--config", str(path), "--no-alerts"]) == 0
    after = datetime.now(ZoneInfo(zone)).date()
    inventory = path.parent / "runs" / "inventory.gpkg"
    assert completed_run_dates(inventory) <= {before, after}
    assert len(completed_run_dates(inventory)) == 1


def test_a_one_region_run_leaves_the_day_due_for_the_other_regions(
    config_path: Path, source: StandInSource
) -> None:
    """Found by a new user: `run --region north` of a day marked the day done for every region,
    and the scheduler's catch-up skipped the south region's day."""
    day = date(2024, 9, 15)
    argv = ["run", "--config", str(config_path), "--date", day.isoformat(), "--no-alerts"]
    assert main([*argv, "--region", "north"]) == 0
    inventory = config_path.parent / "runs" / "inventory.gpkg"
    assert completed_run_dates(inventory) == {day}  # any run of the day, as before
    assert completed_run_dates(inventory, ["north", "south"]) == set()
    assert completed_run_dates(inventory, ["north"]) == {day}
    trigger = cron_trigger("0 6 * * *", "UTC")
    morning = datetime(2024, 9, 15, 7, 0, tzinfo=UTC)
    done = completed_run_dates(inventory, ["north", "south"])
    assert due_run_dates(trigger, morning, done, 3) == [day]  # it was: nothing
    assert main([*argv, "--region", "south"]) == 0  # the other region's run of the day
    assert completed_run_dates(inventory, ["north", "south"]) == {day}


def test_a_region_added_to_the_configuration_leaves_the_days_missed_due(
    write_config: Callable[..., Path],
    manifest: Path,
    source: StandInSource,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a new user: with a region added, no day had been completed by every region, so
    the catch-up of a scheduler restarted after downtime anchored on nothing and ran the latest
    day alone, as a new installation; the days missed were lost for every region."""
    from shapely.geometry import mapping

    today = datetime.now(UTC).date()
    last = today - timedelta(days=3)
    data = two_region_config(manifest, schedule={"cron": "0 0 * * *"})  # today's fire is past
    two = write_config(data)
    assert main(["run", "--config", str(two), "--date", last.isoformat(), "--no-alerts"]) == 0
    data["regions"].append({"name": "east", "geometry": mapping(region_polygon(0.1))})
    three = write_config(data, name="three.yaml")  # the same inventory, one region more
    capsys.readouterr()
    # the stand-in ensemble's manifest is a placeholder (tests/run/conftest.py)
    monkeypatch.setattr("monitor.ops.schedule.preflight", lambda config: ([], []))
    assert main(["schedule", "--config", str(three), "--dry-run"]) == 0
    out = capsys.readouterr().out
    missed = ", ".join(str(last + timedelta(days=n)) for n in (1, 2, 3))
    assert f"a start now would run: {missed}\n" in out
    assert f"last completed run: {last} (north: {last}, south: {last}, east: never)" in out
    # where each region lies, for a person to check (found in a config audit: a polygon
    # written latitude first passed without a word where both values were in range)
    centre, grid = region_polygon(0.1).centroid, region_grid(region_polygon(0.1))
    polygon_km2 = grid.project(region_polygon(0.1)).area / 1e6
    assert (  # and the grid each run reads (a rail operator's walk saw the polygon's alone)
        f"region east: centre {centre.y:.4f}° N, {centre.x:.4f}° E; grid {grid.crs} (UTM), "
        f"{grid.width} x {grid.height} px, {grid.area_km2:.2f} km²; polygon {polygon_km2:.2f} km²\n"
    ) in out


def test_a_region_of_parts_far_apart_is_named_as_such_by_the_dry_run() -> None:
    """Found in a survey's walk: a file of two areas 0.5° apart, merged into one region, made a
    grid 70 times its polygons, and the dry run said nothing of it."""
    from shapely.affinity import translate
    from shapely.geometry import MultiPolygon

    from monitor.ops.schedule import _whereabouts

    square = region_polygon(0.0)
    apart = _whereabouts(MultiPolygon([square, translate(square, xoff=0.5)]))
    assert " in 2 parts far apart, whose grid is " in apart
    assert apart.endswith(
        "times their area: make each area a region of its own (of a region file of several, "
        "`feature` takes one: docs/configuration.md)"
    )
    width = square.bounds[2] - square.bounds[0]
    side_by_side = MultiPolygon([square, translate(square, xoff=width)])
    assert "far apart" not in _whereabouts(side_by_side) and "far apart" not in _whereabouts(square)


def test_log_lines_carry_their_date_and_utc_offset() -> None:
    """Found walking through dates: the CLI's log lines began with the host's clock time alone
    (``06:00:12 WARNING ...``), so cron's run.log, `docker logs` and `kubectl logs` could not
    tell one day's warnings from another's, nor in which time zone they were written (a
    scheduler's host in Auckland writing runs dated in UTC)."""
    import os
    import subprocess
    import sys

    code = (
        "import logging; from monitor.cli import _setup_logging; "
        "_setup_logging(verbose=False, quiet=False); "
        "logging.getLogger('monitor.run').warning('a region without data')"
    )
    if not Path("/usr/share/zoneinfo/Pacific/Auckland").is_file():
        pytest.skip("the C library reads TZ from /usr/share/zoneinfo, which lacks Auckland here")
    env = {**os.environ, "TZ": "Pacific/Auckland"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    line = done.stderr.strip().splitlines()[-1]
    found = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{4}) WARNING monitor.run: a region without "
        r"data",
        line,
    )
    assert found, line
    stamp = datetime.strptime(found[1], "%Y-%m-%d %H:%M:%S%z")
    assert stamp.utcoffset() in (timedelta(hours=12), timedelta(hours=13))  # NZST, NZDT
    assert abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)


def test_verbose_log_holds_the_archive_s_libraries_to_warnings(tmp_path: Path) -> None:
    """Found watching a 15 km region with -v: 45 of the run's 49 debug lines were the archive
    reader's libraries (numcodecs registering each codec, zarr naming every array it opened,
    asyncio its selector), one per array read, burying the monitor's own progress lines. They
    are held to warnings like the other libraries; the monitor's debug lines stay."""
    import subprocess
    import sys

    code = (
        "import logging, sys; from monitor.cli import _setup_logging; "
        "_setup_logging(verbose=True, quiet=False); "
        "import zarr; group = zarr.open_group(sys.argv[1], mode='w'); "
        "group.create_array('a', shape=(4,), dtype='f4'); "
        "zarr.open_group(sys.argv[1], mode='r')['a'][:]; "
        "logging.getLogger('monitor.pipeline.chain').debug('predicting with the ensemble')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "a.zarr")],
        capture_output=True,
        text=True,
        check=True,
    )
    loggers = [line.split()[3] for line in done.stderr.strip().splitlines()]
    assert loggers == ["monitor.pipeline.chain:"], done.stderr
