"""``landslide-monitor status``: last run per region with its data status, the outbox backlog,
whether a run is going on, and the next scheduled run (job store, else the cron expression)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import monitor.ops.status as status_module
from monitor.alerts.outbox import Alert, DeliveryError, Outbox
from monitor.cli import main
from monitor.config import load_config
from monitor.ops.schedule import (
    DailyScheduler,
    default_jobstore_url,
    scheduler_lock,
)
from monitor.ops.status import (
    CheckFailure,
    CheckLimits,
    check_status,
    collect_status,
    default_max_age_h,
)
from monitor.store.inventory import Inventory, RegionDetections
from monitor.store.lock import RunLock
from tests.ops.ops_fixtures import populate, write_config

ALERTS = """
alerts:
  webhooks:
    - {name: ops, url: "http://127.0.0.1:9/alerts", secret_env: OPS_STATUS_TEST_SECRET}
schedule: {cron: "30 5 * * 1-5", timezone: Europe/Rome}
"""
NOW = datetime(2024, 9, 14, 12, 0, tzinfo=UTC)  # a Saturday


@pytest.fixture(autouse=True)
def _roomy_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's free space is no part of these tests (a nearly full CI disk would fail the
    healthy cases): 100 GB free, unless a test says otherwise."""
    import monitor.ops.status as status_module

    def roomy(where: Path) -> Any:
        return _usage(where, 100 * 10**9)

    monkeypatch.setattr(status_module.shutil, "disk_usage", roomy)


_DISK_USAGE = shutil.disk_usage  # before the fixture below replaces it


def _usage(where: Path, free: int) -> Any:
    """``shutil.disk_usage`` of ``where`` with ``free`` bytes free."""
    real = _DISK_USAGE(where)
    return type(real)(real.total, real.used, free)


def test_status_of_a_populated_inventory(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(write_config(tmp_path, untrained_manifest, ALERTS))
    assert collect_status(config, now=NOW).inventory_exists is False
    populate(config)  # 6 new landslides over three runs: 6 webhook alerts queued, none sent
    with Inventory(config.inventory.path) as inventory:  # a fourth run: emilia fails
        run_id = inventory.start_run(
            date(2024, 9, 15), ["wayanad-hills", "emilia-hills"], "archive"
        )
        inventory.apply(
            run_id,
            [
                RegionDetections(
                    region="wayanad-hills",
                    status="no-data",
                    message="no Sentinel-1 or Sentinel-2 acquisition in 2024-08-16/2024-09-15",
                ),
                RegionDetections(
                    region="emilia-hills", status="failed", message="ArchiveError: boom"
                ),
            ],
        )

    status = collect_status(config, now=NOW)
    by_region = {r.region: r for r in status.regions}
    wayanad, emilia = by_region["wayanad-hills"], by_region["emilia-hills"]
    assert (wayanad.run_date, wayanad.run_status, wayanad.data_status) == (
        "2024-09-15",
        "partial",
        "no-data",
    )
    assert wayanad.last_ok_run_date == "2024-09-14"
    assert (emilia.data_status, emilia.message) == ("failed", "ArchiveError: boom")
    assert emilia.last_ok_run_date == "2024-09-14"
    # the dismissed landslide's waiting alert is withdrawn (dead, never sent)
    assert status.outbox == {"pending": 5, "sent": 0, "dead": 1}
    assert status.oldest_pending_alert is not None
    assert status.landslides == {"candidate": 4, "confirmed": 1, "dismissed": 1}
    assert status.running is None
    # no scheduler ran yet: the next run comes from the cron (Mon-Fri 05:30 Rome)
    assert status.next_run_source == "cron expression"
    assert status.next_run == "2024-09-16T05:30:00+02:00"

    text = status.format()
    assert "emilia-hills: failed: ArchiveError: boom" in text
    assert "Alert outbox: 5 pending" in text

    with RunLock(config.inventory.path):  # a run is going on
        assert f"pid {os.getpid()}" in (collect_status(config, now=NOW).running or "")

    url = default_jobstore_url(config.inventory.path)
    daily = DailyScheduler(config.schedule, url, lambda: {date.today()}, lambda d: None)  # type: ignore[arg-type,return-value]
    daily.start()
    expected = daily.next_run_time()
    daily.stop()
    assert expected is not None
    status = collect_status(config, now=NOW)
    assert status.next_run_source == "job store"
    assert status.next_run == expected.isoformat()
    assert status.scheduler is None and not status.next_run_overdue
    later = collect_status(config, now=expected + timedelta(hours=1))  # the fire passed, unrun
    assert later.next_run_overdue and "OVERDUE" in later.format()
    # the cron changed in the file, the scheduler not restarted: the stored time is not its
    moved = config.model_copy(
        update={"schedule": config.schedule.model_copy(update={"cron": "17 7 * * *"})}
    )
    assert (
        "set under another cron: restart the scheduler" in collect_status(moved, now=NOW).format()
    )
    with scheduler_lock(config.inventory.path):
        assert f"pid {os.getpid()}" in (collect_status(config, now=NOW).scheduler or "")

    assert main(["status", "--config", str(config.path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["outbox"]["pending"] == 5
    assert [r["region"] for r in printed["regions"]] == ["wayanad-hills", "emilia-hills"]


def test_last_ok_is_the_date_and_end_of_one_run_after_a_backfill(
    tmp_path: Path, untrained_manifest: Path
) -> None:
    """Found on a walk: after a run of an earlier date, `last ok` gave the newest date ever ok
    and `last_ok_finished_at` the backfill's end, each a maximum of its own."""
    config = load_config(write_config(tmp_path, untrained_manifest, ALERTS))
    populate(config)  # ok runs of 2024-08-01, 09-01 and 09-14
    with Inventory(config.inventory.path) as inventory:
        run_id = inventory.start_run(date(2024, 9, 5), ["wayanad-hills"], "archive")
        inventory.apply(run_id, [RegionDetections("wayanad-hills", "ok", setting="S1+S2")])
    lines = {r.region: r for r in collect_status(config, now=NOW).regions}
    wayanad, emilia = lines["wayanad-hills"], lines["emilia-hills"]
    assert wayanad.run_date == wayanad.last_ok_run_date == "2024-09-05"
    assert wayanad.last_ok_finished_at == wayanad.finished_at is not None
    assert emilia.run_date == emilia.last_ok_run_date == "2024-09-14"
    assert emilia.last_ok_finished_at == emilia.finished_at is not None


def test_status_never_writes_the_inventory(tmp_path: Path, untrained_manifest: Path) -> None:
    config = load_config(write_config(tmp_path, untrained_manifest))
    populate(config)
    before = config.inventory.path.stat().st_mtime_ns, config.inventory.path.read_bytes()
    collect_status(config)
    assert (config.inventory.path.stat().st_mtime_ns, config.inventory.path.read_bytes()) == before
    assert not Path(default_jobstore_url(config.inventory.path).removeprefix("sqlite:///")).exists()


_KILLED_WRITER = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size = 10")  # spills: pages reach the file before any commit
conn.execute("BEGIN")
conn.execute("UPDATE landslides SET status = 'dismissed'")
conn.execute("CREATE TABLE scratch (x BLOB)")
for _ in range(300):
    conn.execute("INSERT INTO scratch VALUES (zeroblob(4000))")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_write_a_killed_program_left_half_done_is_rolled_back_for_readers(
    tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found killing `alerts deliver` with SIGKILL mid-commit: the hot journal it left made
    `status`, `alerts list`, `inventory export` and the scheduler (which would have started
    the run that repairs it) exit 2 with 'cannot be written; check the permissions', until a
    command wrote the file: a read-only connection cannot roll a journal back."""
    import subprocess
    import sys

    config = load_config(write_config(tmp_path, untrained_manifest))
    populate(config)
    path = config.inventory.path
    with Inventory(path, read_only=True) as inventory:
        before = inventory.landslides()[["fid", "status"]].to_dict("records")
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path)], check=False)
    assert killed.returncode == -9
    journal = path.with_name(f"{path.name}-journal")
    assert journal.read_bytes()[:8] == bytes.fromhex("d9d505f920a163d7")  # a journal's magic
    assert main(["status", "--config", str(config.path)]) == 0
    with Inventory(path, read_only=True) as inventory:
        assert inventory.landslides()[["fid", "status"]].to_dict("records") == before
    assert not journal.exists() or journal.stat().st_size == 0


@pytest.mark.parametrize("content", ["empty", "another GeoPackage"])
def test_status_names_a_file_that_holds_no_inventory(
    tmp_path: Path,
    untrained_manifest: Path,
    capsys: pytest.CaptureFixture[str],
    content: str,
) -> None:
    """Found by an ops walk: `status` on an empty file or another tool's GeoPackage at
    inventory.path printed every region as never run (exit 0), so a wrong inventory.path looked
    like a monitor that had not started; docs/operations.md has the read-only commands name
    such a file (exit 2)."""
    from monitor import _geopackage as gpkg

    config = load_config(write_config(tmp_path, untrained_manifest))
    path = config.inventory.path
    if content == "empty":
        path.write_bytes(b"")
    else:
        gpkg.connect(path).close()
    before = path.read_bytes()
    assert main(["status", "--config", str(config.path)]) == 2
    err = capsys.readouterr().err
    if content == "empty":  # refused by every command (a crash walkthrough): below
        assert f"inventory {path} is empty (0 bytes): restore it from a backup" in err
    else:
        assert f"inventory {path} holds no 'landslides' table: it is empty or not this" in err
    assert path.read_bytes() == before


class _RefusesTheFirst:
    """A sender that a receiver refuses for good for alert ``refused``, and accepts the rest."""

    batch_size = 1

    def __init__(self, refused: int) -> None:
        self.refused = refused

    def send(self, alerts: Sequence[Alert]) -> None:
        if alerts[0].id == self.refused:
            raise DeliveryError("HTTP 410 Gone: the hook was removed", permanent=True)


def test_status_check_passes_and_fails_each_limit_naming_the_region_or_alert(
    tmp_path: Path, untrained_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an SRE's review: `status` always exited 0, so no health check could tell a
    monitor whose runs had stopped, or whose alerts did not go out, from a healthy one."""
    config = load_config(write_config(tmp_path, untrained_manifest, ALERTS))
    limits = CheckLimits(max_age_h=36, max_pending_age_min=60, max_dead=0)

    def failing(at: datetime, given: CheckLimits = limits) -> dict[str, list[CheckFailure]]:
        by_limit: dict[str, list[CheckFailure]] = {}
        for failure in check_status(config, given, now=at):
            by_limit.setdefault(failure.limit, []).append(failure)
        return by_limit

    before = failing(datetime.now(UTC))  # no run yet: no region completed ok
    assert [f.subject for f in before["--max-age"]] == [
        "region wayanad-hills",
        "region emilia-hills",
    ]
    assert "no run has completed ok for it" in before["--max-age"][0].message
    populate(config)  # 3 runs, both regions ok; 5 webhook alerts pending, 1 withdrawn
    t0 = datetime.now(UTC)
    assert failing(t0 + timedelta(minutes=1)) == {}  # healthy: nothing to say

    # --max-pending-age: the alerts were queued now; two hours later they are late
    pending = Outbox(config.inventory.path, read_only=True).rows("pending")
    late = failing(t0 + timedelta(hours=2))
    assert list(late) == ["--max-pending-age"]
    (oldest,) = late["--max-pending-age"]
    first = min(pending, key=lambda r: (r["created_at"], r["id"]))
    assert oldest.subject == f"alert {first['id']}"
    assert oldest.message.startswith(
        f"webhook:ops, landslide {first['landslide_fid']} in {first['region']}: pending since "
        f"{first['created_at'][:10]} "
    )
    assert "min), more than --max-pending-age 60 min; so have alerts " in oldest.message
    assert failing(t0 + timedelta(hours=2), replace(limits, max_pending_age_min=180)) == {}

    # --max-age: 40 h after the last ok run both regions are late; emilia's last run failed
    with Inventory(config.inventory.path) as inventory:
        run_id = inventory.start_run(
            date(2024, 9, 15), ["wayanad-hills", "emilia-hills"], "archive"
        )
        inventory.apply(
            run_id,
            [
                RegionDetections(region="wayanad-hills", status="ok", setting="S1+S2"),
                RegionDetections(
                    region="emilia-hills", status="failed", message="ArchiveError: boom"
                ),
            ],
        )
    t1 = datetime.now(UTC)
    assert "--max-age" not in failing(
        t1 + timedelta(hours=35), replace(limits, max_pending_age_min=1e6)
    )
    aged = failing(t1 + timedelta(hours=40), replace(limits, max_pending_age_min=1e6))
    assert list(aged) == ["--max-age"]
    wayanad, emilia = aged["--max-age"]
    assert wayanad.subject == "region wayanad-hills"
    assert "its last ok run (2024-09-15) finished 40.0 h ago, more than --max-age 36 h" in (
        wayanad.message
    )
    assert emilia.subject == "region emilia-hills"
    assert "its last ok run (2024-09-14) finished 4" in emilia.message  # populate's, before t1
    assert emilia.message.endswith(
        "; its last run (2024-09-15) was partial, the region failed: ArchiveError: boom"
    )

    # settings: delivered where the webhook's secret is not set, its alerts wait for it
    monkeypatch.delenv("OPS_STATUS_TEST_SECRET", raising=False)
    with Outbox(config.inventory.path) as box:
        report = box.deliver(config.alert_routing())
    assert report.waiting_for_settings == 5
    (waiting,) = failing(datetime.now(UTC))["settings"]
    ids = ", ".join(str(r["id"]) for r in pending)
    assert waiting.subject == f"alerts {ids}"
    assert waiting.message.startswith("5 alert(s) for webhook:ops wait for the channel's settings")
    assert "environment variable OPS_STATUS_TEST_SECRET is not set" in waiting.message

    # --max-dead: one alert refused for good (the withdrawn one is no failure)
    with Outbox(config.inventory.path) as box:
        box.deliver(
            config.alert_routing(),
            senders=lambda channel, routing: _RefusesTheFirst(first["id"]),
            ignore_retry_delay=True,
        )
        assert box.counts() == {"pending": 0, "sent": 4, "dead": 2}
    (dead,) = failing(datetime.now(UTC))["--max-dead"]
    assert dead.subject == f"alert {first['id']}".replace("alert", "alerts")
    assert dead.message.startswith(
        f"1 dead alert(s), more than --max-dead 0: alert {first['id']} (webhook:ops, "
    )
    assert "HTTP 410 Gone: the hook was removed" in dead.message
    assert failing(datetime.now(UTC), replace(limits, max_dead=1)) == {}

    # source: found on a walk, a run 23 days past the archive's last acquisition was ok, and
    # the health check passed it; a region whose last run says so now fails it
    stale = (
        "post window 2024-08-17/2024-09-16: its newest acquisition, 2024-08-24, is 23 days "
        "before its last day, where Sentinel-1 and Sentinel-2 revisit within 12: is the "
        "source still fed?"
    )
    with Inventory(config.inventory.path) as inventory:
        run_id = inventory.start_run(date(2024, 9, 16), ["wayanad-hills"], "archive")
        inventory.apply(
            run_id,
            [RegionDetections("wayanad-hills", "ok", setting="S1+S2", message=f"trigger; {stale}")],
        )
    (fed,) = failing(datetime.now(UTC), replace(limits, max_pending_age_min=1e6))["source"]
    assert (fed.subject, fed.message) == (
        "region wayanad-hills",
        f"its last run (2024-09-16): {stale}",
    )
    # plain `status` says it too, under its table (found on a walk: only --check did)
    assert f"  wayanad-hills: its last run (2024-09-16): {stale}" in (
        collect_status(config).format().splitlines()
    )
    # and a run with no acquisition at all, `no-data` (a rail operator's walk: a monitor
    # pointed at an archive that ended months before passed the check)
    empty = (
        "post window 2024-10-17/2024-11-16: no acquisition of either sensor in its 30 days, "
        "where Sentinel-1 and Sentinel-2 revisit within 12: is the source still fed?"
    )
    with Inventory(config.inventory.path) as inventory:
        run_id = inventory.start_run(date(2024, 11, 16), ["wayanad-hills"], "archive")
        message = f"region 'wayanad-hills': no Sentinel-1 ... (archive holds ...); {empty}"
        inventory.apply(run_id, [RegionDetections("wayanad-hills", "no-data", message=message)])
    (fed,) = failing(datetime.now(UTC), replace(limits, max_pending_age_min=1e6))["source"]
    assert fed.message == f"its last run (2024-11-16): {empty}"


def test_status_check_exits_1_naming_what_fails_and_refuses_a_limit_without_check(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, untrained_manifest, ALERTS)
    config = load_config(path)
    assert main(["status", "--config", str(path), "--check"]) == 1  # no run yet
    out = capsys.readouterr().out
    assert out.startswith("status check failed: 2 limit(s)\n")
    assert "  --max-age: region wayanad-hills: no run has completed ok for it" in out
    populate(config)
    assert main(["status", "--config", str(path), "--check"]) == 0
    assert capsys.readouterr().out.startswith("status check passed: 2 region(s) completed ok")
    monkeypatch.delenv("OPS_STATUS_TEST_SECRET", raising=False)
    with Outbox(config.inventory.path) as box:
        box.deliver(config.alert_routing())
    assert main(["status", "--config", str(path), "--check", "--max-age", "1"]) == 1
    out = capsys.readouterr().out
    assert "  settings: alerts " in out and "OPS_STATUS_TEST_SECRET is not set" in out
    # the default --max-age follows the schedule (weekdays here: longer on Mondays); pinned
    # here to the daily one, and the wiring checked with another value below
    monkeypatch.setattr(status_module, "default_max_age_h", lambda config: 36.0)
    assert main(["status", "--config", str(path), "--check", "--json"]) == 1
    checked = json.loads(capsys.readouterr().out)
    assert checked["healthy"] is False
    assert checked["limits"] == {
        "max_age_h": 36.0,
        "max_pending_age_min": 60.0,
        "max_dead": 0,
        "min_free_mb": 1024.0,
    }
    assert [f["limit"] for f in checked["failures"]] == ["settings"]
    for value in ("3", "x"):  # a limit that is no number too (found in review)
        assert main(["status", "--config", str(path), "--max-age", value]) == 2
        assert "--max-age is a limit of `status --check`: give --check with it" in (
            capsys.readouterr().err
        )
    assert main(["status", "--config", str(path), "--check", "--max-dead", "-1"]) == 2
    assert "--max-dead -1: give a limit of 0 or more" in capsys.readouterr().err
    # found by an SRE's walk: a check that could not run printed text alone under --json
    missing = str(path.parent / "missing.yaml")
    assert main(["status", "--config", missing, "--check", "--json"]) == 2
    said = json.loads(capsys.readouterr().out)
    assert said["healthy"] is False and said["error"].startswith("ConfigError: invalid config")
    assert main(["status", "--config", missing, "--json"]) == 2
    assert list(json.loads(capsys.readouterr().out)) == ["error"]
    # found by an SRE's walk: NaN failed every region, inf overflowed (exit 1)
    for option, value in (("--max-age", "nan"), ("--max-pending-age", "inf")):
        assert main(["status", "--config", str(path), "--check", option, value]) == 2
        assert f"{option} {value}: give a limit of 0 or more, a finite number" in (
            capsys.readouterr().err
        )
    # found in a walkthrough: a limit that is no number was argparse's usage error, and
    # --json's reader got an empty document
    argv = ["status", "--config", str(path), "--check", "--json"]
    for option, value, said in (
        ("--max-age", "x", "give a number"),
        ("--max-dead", "1.5", "give a whole number"),
    ):
        assert main([*argv, option, value]) == 2
        out = json.loads(capsys.readouterr().out)
        assert out["healthy"] is False and out["error"] == f"BadInput: {option} {value!r}: {said}"


def test_status_check_fails_when_the_disk_runs_were_writing_to_is_nearly_full(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found sizing a deployment: a run writes about 8 MB of COGs per 100 km² of region, and a
    full disk fails the inventory's update; the health check only noticed 36 hours of failed
    runs later. It now fails below --min-free-mb (1024) on the file systems the runs write
    to, each named once."""
    import monitor.ops.status as status_module

    path = write_config(tmp_path, untrained_manifest, ALERTS)
    config = load_config(path)
    populate(config)
    asked: list[Path] = []

    def nearly_full(where: Path) -> Any:
        asked.append(Path(where))
        return _usage(where, 300 * 10**6)

    monkeypatch.setattr(status_module.shutil, "disk_usage", nearly_full)
    assert main(["status", "--config", str(path), "--check"]) == 1
    out = capsys.readouterr().out
    folder = config.inventory.path.parent
    assert out.splitlines()[1:] == [
        f"  --min-free-mb: folder {folder}: 300 MB free on its file system, less than "
        "--min-free-mb 1024; a run on a full disk fails its inventory update "
        "(quicklooks.keep_rasters_days deletes old COGs, keep_pictures_days old pictures "
        'nothing names: operations.md, "Disk space")'
    ]
    assert len(asked) == 1  # the quicklooks lie on the same file system: asked once
    assert main(["status", "--config", str(path), "--check", "--min-free-mb", "200"]) == 0
    assert capsys.readouterr().out.endswith("at least 200 MB free\n")

    def refused(where: Path) -> Any:  # a folder above it the check's user may not enter
        raise PermissionError(13, "Permission denied", str(where))

    monkeypatch.setattr(status_module.shutil, "disk_usage", refused)
    assert main(["status", "--config", str(path), "--check"]) == 1
    assert out_line(capsys) == (
        f"  --min-free-mb: folder {folder}: its free space cannot be read (Permission denied: "
        f"{folder})"
    )


def out_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The one failure line ``status --check`` printed."""
    (line,) = capsys.readouterr().out.splitlines()[1:]
    return line


def test_status_check_needs_no_job_store_url_from_the_environment(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by the review of the change: `status --check` read the job store too, whose URL
    (schedule.jobstore_url_env) is a secret the check's units do not receive, and so exited 2
    wherever the URL came from the environment. The check reads the inventory alone; `status`
    still needs the job store and names the variable."""
    extra = "schedule: {jobstore_url_env: OPS_STATUS_JOBSTORE_URL}\n"
    path = write_config(tmp_path, untrained_manifest, extra)
    monkeypatch.delenv("OPS_STATUS_JOBSTORE_URL", raising=False)
    populate(load_config(path))
    assert main(["status", "--config", str(path), "--check"]) == 0
    assert capsys.readouterr().out.startswith("status check passed: 2 region(s) completed ok")
    assert main(["status", "--config", str(path)]) == 2
    assert "OPS_STATUS_JOBSTORE_URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("cron", "now", "hours"),
    [
        ("0 6 * * *", datetime(2025, 1, 15, 12, tzinfo=UTC), 36.0),  # daily: 36 h
        ("*/5 * * * *", datetime(2025, 1, 15, 12, tzinfo=UTC), 36.0),  # never under 36 h
        # weekdays at 05:30 (03:30 UTC in September): on Monday morning Friday's run is the
        # one asked for (78.5 h); on Friday morning Thursday's, within 36 h
        ("30 5 * * 1-5", datetime(2024, 9, 16, 10, tzinfo=UTC), 78.5),
        ("30 5 * * 1-5", datetime(2024, 9, 20, 10, tzinfo=UTC), 36.0),
        ("0 6 * * 1", datetime(2025, 1, 15, 12, tzinfo=UTC), 55.0),  # weekly: Monday's
        # April to October: in January the run of 31 October 06:00 (05:00 UTC); on 31 October
        # itself the day before's, within 36 h: a failed October is not waved through
        ("0 6 * 4-10 *", datetime(2025, 1, 15, 12, tzinfo=UTC), 76 * 24 + 7.0),
        ("0 6 * 4-10 *", datetime(2025, 10, 31, 10, tzinfo=UTC), 36.0),
        ("0 6 29 2 *", datetime(2027, 12, 1, 6, tzinfo=UTC), (1371 * 24) + 1.0),  # a leap day
    ],
)
def test_the_health_check_s_default_max_age_follows_the_schedule(
    tmp_path: Path,
    untrained_manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    cron: str,
    now: datetime,
    hours: float,
) -> None:
    """Found on a walk: `status --check` assumed a daily run, so a weekly schedule, or one that
    leaves the winter out (docs/operations.md, "Winter"), failed the check between its runs.
    Unless --max-age is given, the limit is the hours since the schedule's last fire at least
    12 h ago, at least 36 h: that fire's run must have completed."""
    schedule = f'schedule: {{cron: "{cron}", timezone: Europe/Oslo}}\n'
    path = write_config(tmp_path, untrained_manifest, schedule)
    assert default_max_age_h(load_config(path), now) == pytest.approx(hours)
    # the CLI takes it where --max-age is not given, and the option where it is
    monkeypatch.setattr(status_module, "default_max_age_h", lambda config: 1234.5)
    assert main(["status", "--config", str(path), "--check", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["limits"]["max_age_h"] == 1234.5
    main(["status", "--config", str(path), "--check", "--json", "--max-age", "7"])
    assert json.loads(capsys.readouterr().out)["limits"]["max_age_h"] == 7.0


def test_the_dead_alerts_check_quotes_each_error_once() -> None:
    """Found in a walk: nine alerts refused with the same 550 made one line that quoted it nine
    times. Each distinct error is quoted once, with the ids of the alerts that met it."""
    from monitor.ops.status import _dead_message

    def row(i: int, error: str) -> dict[str, object]:
        return {"id": i, "channel": "email:a@example.org", "landslide_fid": i, "region": "r",
                "last_error": error}  # fmt: skip

    refused = "550 no such user"
    dead = [row(i, refused) for i in range(1, 10)] + [row(10, "HTTP 410"), row(11, "HTTP 404")]
    dead.append(row(12, "HTTP 403"))
    said = _dead_message(dead, 0)
    assert said.count(refused) == 1
    assert said == (
        "12 dead alert(s), more than --max-dead 0: "
        "alert 1 (email:a@example.org, landslide 1 in r): 550 no such user; "
        "the same for alerts 2, 3, 4, 5, 6, 7, 8, 9; "
        "alert 10 (email:a@example.org, landslide 10 in r): HTTP 410; "
        "alert 11 (email:a@example.org, landslide 11 in r): HTTP 404; "
        "and 1 more with other errors. "
        "`alerts list` shows them, `alerts retry --dead` re-queues them"
    )
