"""``landslide-monitor status``: last run per region with its data status, the outbox backlog,
whether a run is going on, and the next scheduled run (job store, else the cron expression)."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from ops_fixtures import populate, write_config

from monitor.cli import main
from monitor.config import load_config
from monitor.ops.schedule import (
    DailyScheduler,
    default_jobstore_url,
    scheduler_lock,
)
from monitor.ops.status import collect_status
from monitor.store.inventory import Inventory, RegionDetections
from monitor.store.lock import RunLock

ALERTS = """
alerts:
  webhooks:
    - {name: ops, url: "http://127.0.0.1:9/alerts", secret_env: OPS_STATUS_TEST_SECRET}
schedule: {cron: "30 5 * * 1-5", timezone: Europe/Rome}
"""
NOW = datetime(2024, 9, 14, 12, 0, tzinfo=UTC)  # a Saturday


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


def test_status_never_writes_the_inventory(tmp_path: Path, untrained_manifest: Path) -> None:
    config = load_config(write_config(tmp_path, untrained_manifest))
    populate(config)
    before = config.inventory.path.stat().st_mtime_ns, config.inventory.path.read_bytes()
    collect_status(config)
    assert (config.inventory.path.stat().st_mtime_ns, config.inventory.path.read_bytes()) == before
    assert not Path(default_jobstore_url(config.inventory.path).removeprefix("sqlite:///")).exists()


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
    assert f"inventory {path} holds no 'landslides' table: it is empty or not this" in err
    assert path.read_bytes() == before
