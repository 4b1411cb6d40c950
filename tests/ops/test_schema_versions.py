"""Schema versions from the command line (monitor.file_schemas, docs/operations.md
"Upgrading"): every command refuses an inventory or a job store that a newer release wrote, with
exit status 2 and a message naming the file, its version and the highest this release reads,
and leaves it as it was; the scheduler stamps its job store, an earlier release's too."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from monitor import __version__
from monitor.cli import main
from monitor.config import MonitorConfig, load_config
from monitor.errors import NewerSchemaError
from monitor.file_schemas import INVENTORY, JOB_STORE, VERSION_TABLE
from monitor.ops import schedule
from monitor.ops.schedule import (
    DAILY_JOB_ID,
    DailyScheduler,
    ScheduleSettings,
    next_scheduled_run,
)
from tests.ops.ops_fixtures import populate, write_config

SETTINGS = ScheduleSettings(cron="30 5 * * *", timezone="UTC", stop_grace_s=5)


def _newer(path: Path, store: str, version: int) -> bytes:
    """Stamp ``path`` as a newer release would; its bytes then."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"UPDATE {VERSION_TABLE} SET version = ?, release = '0.9.0' WHERE name = ?",
            (version, store),
        )
        assert conn.total_changes == 1
    return path.read_bytes()


def _stamps(path: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT name, version, release FROM {VERSION_TABLE}").fetchall()


def _nothing_done() -> set[date]:
    return set()


def _never_run(run_date: object) -> schedule.RunOutcome:
    raise AssertionError(f"no run expected ({run_date})")


def _started_and_stopped(url: str) -> None:
    daily = DailyScheduler(SETTINGS, url, _nothing_done, _never_run)
    daily.start()
    daily.stop()


@pytest.fixture
def config(tmp_path: Path, untrained_manifest: Path) -> MonitorConfig:
    return load_config(write_config(tmp_path, untrained_manifest))


COMMANDS = {
    "status": ["status"],
    "inventory confirm": ["inventory", "confirm", "1"],
    "inventory export": ["inventory", "export", "OUT/landslides.geojson"],
    "alerts list": ["alerts", "list"],
    "alerts deliver": ["alerts", "deliver", "--now"],
    "alerts retry": ["alerts", "retry", "--dead"],
    "schedule --dry-run": ["schedule", "--dry-run"],
    "schedule": ["schedule"],
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_every_command_refuses_an_inventory_a_newer_release_wrote(
    config: MonitorConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    populate(config)
    path = config.inventory.path
    before = _newer(path, "inventory", INVENTORY + 1)
    # the scheduler refuses it at its start, rather than in each pass's thread while it serves
    monkeypatch.setattr(schedule, "serve", lambda *a, **k: pytest.fail("the scheduler served"))
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in COMMANDS[command]]
    assert main([*argv[:2], "--config", str(config.path), *argv[2:]]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: inventory {path} has schema version {INVENTORY + 1}, written by "
        f"landslide-monitor 0.9.0; this release (landslide-monitor {__version__}) reads schema "
        f"versions up to {INVENTORY}. Nothing was written to it: upgrade landslide-monitor"
    ) in err
    assert path.read_bytes() == before
    assert not (tmp_path / "out").exists()


def test_the_scheduler_stamps_a_new_job_store_and_an_earlier_release_s(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite"
    url = f"sqlite:///{path}"
    _started_and_stopped(url)
    assert _stamps(path) == [("job store", JOB_STORE, __version__)]
    kept = next_scheduled_run(url)
    assert kept is not None
    with sqlite3.connect(path) as conn:  # as an earlier release left it: the daily job alone
        conn.execute(f"DROP TABLE {VERSION_TABLE}")
    assert next_scheduled_run(url) == kept  # read as it is
    assert not _has_version_table(path)
    _started_and_stopped(url)
    assert _stamps(path) == [("job store", JOB_STORE, __version__)]
    assert next_scheduled_run(url) == kept  # the daily job kept


def _has_version_table(path: Path) -> bool:
    with sqlite3.connect(path) as conn:
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        return conn.execute(query, (VERSION_TABLE,)).fetchone() is not None


def test_a_job_store_a_newer_release_wrote_is_refused_and_left_as_it_was(
    config: MonitorConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = config.schedule.jobstore_for(config.inventory.path)
    _started_and_stopped(url)
    path = Path(url.removeprefix("sqlite:///"))
    before = _newer(path, "job store", JOB_STORE + 1)
    message = (
        f"scheduler's job store {url} has schema version {JOB_STORE + 1}, written by "
        f"landslide-monitor 0.9.0; this release (landslide-monitor {__version__}) reads schema "
        f"versions up to {JOB_STORE}. Nothing was written to it: upgrade landslide-monitor"
    )
    daily = DailyScheduler(SETTINGS, url, _nothing_done, _never_run)
    try:
        with pytest.raises(NewerSchemaError, match="^" + re.escape(message)):
            daily.start()
        assert not daily.scheduler.running
    finally:
        if daily.scheduler.running:
            daily.stop()
    with pytest.raises(NewerSchemaError):
        next_scheduled_run(url)
    assert main(["status", "--config", str(config.path)]) == 2
    assert f"error: {message}" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not any(p.name.endswith("-journal") for p in tmp_path.iterdir())
    with sqlite3.connect(path) as conn:  # the newer release's daily job stays
        assert conn.execute("SELECT id FROM apscheduler_jobs").fetchall() == [(DAILY_JOB_ID,)]
