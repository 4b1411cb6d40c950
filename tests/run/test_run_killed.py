"""A run killed part-way (SIGKILL during detection) leaves the inventory consistent, and the
next run completes the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from run_fixtures import StandInEnsemble, StandInSource, region_polygon, two_region_config

import monitor.run as run_module
from monitor.config import load_config
from monitor.inventory import Inventory
from monitor.lock import lock_holder
from monitor.run import run_once

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def test_killed_run_leaves_the_inventory_consistent_and_the_next_run_completes(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_path = write_config(two_region_config(manifest))
    marker = tmp_path / "blocked"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "run_kill_child.py"), str(config_path), str(marker)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached the second region"
            time.sleep(0.1)
        config = load_config(config_path)
        assert lock_holder(config.inventory.path) is not None  # the child holds the run lock
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert lock_holder(config.inventory.path) is None  # the kernel released it

    with Inventory(config.inventory.path) as inventory:
        assert inventory.landslides().empty  # region north's detection was never half-written
        assert inventory.runs()["status"].tolist() == ["running"]

    regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
    source = StandInSource(regions, {"north": [(5, 15, 5, 20)], "south": [(20, 32, 50, 60)]})
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    summary = run_once(config, date(2024, 9, 15), progress=False)
    assert summary.ok and summary.counts() == {"new": 2, "grown": 0, "seen": 0}
    with Inventory(config.inventory.path) as inventory:
        assert len(inventory.landslides()) == 2
        assert inventory.runs()["status"].tolist() == ["ok", "interrupted"]
