"""SIGTERM to the scheduler during a run leaves the inventory consistent (nothing of the run is
written, the lock is released, the scheduler exits 0) and the next start catches the day up; the
run lock refuses a second concurrent run with exit status 75 naming the holder."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import monitor.run as run_module
from monitor.config import load_config
from monitor.ops.schedule import completed_run_dates
from monitor.run import run_once
from monitor.store.inventory import Inventory
from monitor.store.lock import EXIT_LOCKED, lock_holder
from tests.ops import ops_stand_ins
from tests.ops.ops_fixtures import ARCHIVE_RUN_DATE, archive_regions, write_archive_config

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The scheduler's clock in the children: the morning of the archive's run date, cron at 06:00.
NOW = f"{ARCHIVE_RUN_DATE.isoformat()}T07:00:00+00:00"


def _snapshot(path: Path) -> pd.DataFrame:
    with Inventory(path) as inventory:
        frame = pd.DataFrame(inventory.landslides().drop(columns=["geometry", "local_geometry"]))
    return frame.sort_values("fid").reset_index(drop=True)


def _start_scheduler(config_path: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(HERE / "ops_schedule_child.py"), str(config_path), NOW],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def _wait(condition, what: str, child: subprocess.Popen[bytes], log: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not condition():
        assert child.poll() is None, f"scheduler exited early:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log.read_text()}"
        time.sleep(0.1)


def test_sigterm_during_a_scheduled_run_then_catch_up(
    small_archive: Path,
    untrained_manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_path = write_archive_config(
        tmp_path,
        small_archive,
        untrained_manifest,
        archive_regions(2),
        quicklooks={"enabled": False},
        schedule={"cron": "0 6 * * *", "timezone": "UTC", "stop_grace_s": 1, "catch_up_days": 3},
    )
    config = load_config(config_path)
    inventory_path = config.inventory.path
    monkeypatch.setattr(
        run_module, "load_ensemble", lambda model: ops_stand_ins.ThresholdEnsemble()
    )
    before = run_once(
        config, ARCHIVE_RUN_DATE - timedelta(days=1), deliver_alerts=False, progress=False
    )
    assert before.ok and before.counts()["new"] > 0
    snapshot = _snapshot(inventory_path)

    marker = tmp_path / "run-is-in-detection"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    slow_env = {**env, ops_stand_ins.SLOW_MARKER_ENV: str(marker)}
    log = tmp_path / "scheduler-1.log"
    scheduler = _start_scheduler(config_path, slow_env, log)
    try:
        # the start-up pass runs the missed day, 2024-09-15, and its run holds the lock
        _wait(marker.exists, "the scheduled run to reach detection", scheduler, log)
        run_pid = int(marker.read_text())
        holder = lock_holder(inventory_path)
        assert holder is not None and holder.pid == run_pid

        # a second run (cron, a person) is refused at once, told who holds the inventory
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(config_path),
                "--date",
                ARCHIVE_RUN_DATE.isoformat(),
                "--no-alerts",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == EXIT_LOCKED, second.stderr
        assert f"pid {run_pid}" in second.stderr and str(inventory_path) in second.stderr

        t0 = time.monotonic()
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=60) == 0, log.read_text()
        stopped_in = time.monotonic() - t0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    text = log.read_text()
    assert "SIGTERM received" in text and "stopping it" in text, text
    assert 1.0 <= stopped_in < 30.0  # the grace period, then the run was stopped

    # consistent: the run child is gone, the lock free, nothing of the killed run written
    assert lock_holder(inventory_path) is None
    conn = sqlite3.connect(inventory_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    pd.testing.assert_frame_equal(_snapshot(inventory_path), snapshot)
    with Inventory(inventory_path) as inventory:
        runs = inventory.runs().sort_values("run_id")
        killed_id = int(runs["run_id"].iloc[-1])
        # the run child records its own end on SIGTERM (before, the next start had to)
        assert runs["status"].tolist() == ["ok", "interrupted"]
        assert set(inventory.run_regions(killed_id)["status"]) == {"pending"}
    assert completed_run_dates(inventory_path) == {ARCHIVE_RUN_DATE - timedelta(days=1)}

    # the next start catches the day up, and a SIGTERM with no run in progress exits at once
    log = tmp_path / "scheduler-2.log"
    scheduler = _start_scheduler(config_path, env, log)
    try:
        _wait(
            lambda: ARCHIVE_RUN_DATE in completed_run_dates(inventory_path),
            "the catch-up run",
            scheduler,
            log,
        )
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0, log.read_text()
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    with Inventory(inventory_path) as inventory:
        runs = inventory.runs().sort_values("run_id")
        assert runs["status"].tolist() == ["ok", "interrupted", "ok"]
        assert runs["run_date"].tolist()[1:] == [ARCHIVE_RUN_DATE.isoformat()] * 2
        after = inventory.landslides()
    assert len(after) >= len(snapshot)
    assert set(snapshot["uid"]) <= set(after["uid"])  # nothing lost, nothing duplicated
    assert after["uid"].is_unique
