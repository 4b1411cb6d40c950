"""A run killed part-way (SIGKILL during detection) leaves the inventory consistent, and the
next run completes the work; SIGTERM ends a run cleanly: recorded interrupted, a line printed,
exit status 143; ``status`` agrees with the runs table in both cases."""

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

import monitor.run as run_module
from monitor.config import load_config
from monitor.errors import Interrupted
from monitor.ops.status import collect_status
from monitor.run import run_once
from monitor.store.inventory import Inventory
from monitor.store.lock import lock_holder
from tests.child import run_python
from tests.run.run_fixtures import StandInEnsemble, StandInSource, region_polygon, two_region_config

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _start_blocked_run(config_path: Path, marker: Path, *extra: str) -> subprocess.Popen[bytes]:
    """The run of run_kill_child.py, once it is blocked in its second region (lock held)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(HERE / "run_kill_child.py"), str(config_path), str(marker), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if child.poll() is not None:
            raise AssertionError(child.stderr.read().decode() if child.stderr else "")
        if time.monotonic() > deadline:
            child.kill()
            raise AssertionError("the child never reached the second region")
        time.sleep(0.1)
    return child


def _missing_config_status(tmp_path: Path) -> str:
    """A script's line that sets the command line of `status` on a configuration that does
    not exist (exit status 2, at once)."""
    return (
        f"sys.argv = ['landslide-monitor', 'status', '--config', {str(tmp_path / 'no.yaml')!r}]\n"
    )


def test_sigterm_ends_a_run_cleanly_and_status_agrees(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    config_path = write_config(two_region_config(manifest))
    config = load_config(config_path)
    child = _start_blocked_run(config_path, tmp_path / "blocked", "cli")
    try:
        assert lock_holder(config.inventory.path) is not None
        child.send_signal(signal.SIGTERM)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 143, err.decode()
    last_line = err.decode().strip().splitlines()[-1]
    assert last_line == (
        "landslide-monitor run: interrupted by SIGTERM; run 1 recorded as interrupted during "
        "detection; the inventory is unchanged"
    )
    assert lock_holder(config.inventory.path) is None
    with Inventory(config.inventory.path) as inventory:
        assert inventory.landslides().empty
        runs = inventory.runs()
        assert runs["status"].tolist() == ["interrupted"]
        assert runs["message"][0] == "interrupted during detection (interrupted by SIGTERM)"
        assert runs["finished_at"].notna().all()
    status = collect_status(config)
    assert status.running is None
    assert [(r.run_status, r.data_status) for r in status.regions] == [
        ("interrupted", "pending"),
        ("interrupted", "pending"),
    ]
    # why, under the table (found in a crash walkthrough: "pending" without a word)
    assert (
        "  north: run interrupted: interrupted during detection (interrupted by SIGTERM)"
        in status.format().splitlines()
    )


def test_killed_run_leaves_the_inventory_consistent_and_the_next_run_completes(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config_path = write_config(two_region_config(manifest))
    config = load_config(config_path)
    child = _start_blocked_run(config_path, tmp_path / "blocked")
    try:
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
    # no process holds the lock: status says the run ended, not that its regions are running
    assert [r.run_status for r in collect_status(config).regions] == ["interrupted"] * 2

    regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
    source = StandInSource(regions, {"north": [(5, 15, 5, 20)], "south": [(20, 32, 50, 60)]})
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    summary = run_once(config, date(2024, 9, 15), progress=False)
    assert summary.ok and summary.counts() == {"new": 2, "grown": 0, "seen": 0}
    with Inventory(config.inventory.path) as inventory:
        assert len(inventory.landslides()) == 2
        assert inventory.runs()["status"].tolist() == ["ok", "interrupted"]


def test_a_stop_handled_as_the_update_committed_says_the_run_completed(
    write_config: Callable[..., Path], manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a crash walkthrough: a SIGTERM that came during the inventory update's commit
    (in SQLite's C code, handled as it returned) said "recorded as interrupted during the
    inventory update; the inventory is unchanged" of a run the inventory held as complete."""
    config = load_config(write_config(two_region_config(manifest)))
    regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
    source = StandInSource(regions, {"north": [(5, 15, 5, 20)], "south": [(20, 32, 50, 60)]})
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    apply = Inventory.apply

    def committed_then_stopped(self: Inventory, *args: object, **kwargs: object) -> object:
        apply(self, *args, **kwargs)  # type: ignore[arg-type]
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(Inventory, "apply", committed_then_stopped)
    with pytest.raises(Interrupted) as stopped:
        run_once(config, date(2024, 9, 15), progress=False)
    assert stopped.value.__notes__ == [
        "run 1 had completed: its inventory update was committed as the stop came; the alerts "
        "not yet sent stay queued in the outbox"
    ]
    with Inventory(config.inventory.path) as inventory:
        assert len(inventory.landslides()) == 2
        assert inventory.runs()["status"].tolist() == ["ok"]
    # an update that failed (a full disk) is still told so (found in review: the first version
    # read the failure apply had recorded as a completed run)
    monkeypatch.setattr(Inventory, "apply", apply)

    def full(self: Inventory, *args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Inventory, "_apply", full)
    with pytest.raises(OSError) as failed:
        run_once(config, date(2024, 9, 16), progress=False)
    assert failed.value.__notes__ == [
        "run 2 recorded as failed during the inventory update; the inventory is unchanged"
    ]


def test_a_signal_after_the_command_ended_keeps_its_exit_status(tmp_path: Path) -> None:
    """Found by a walkthrough: a SIGTERM in the second the interpreter takes to close after a
    run recorded `ok` killed it with 143 ("stopped, recorded interrupted"). The process's own
    command line (`main()` with no arguments) keeps its status; here a command that exits 2 (a
    configuration that does not exist), then a SIGTERM while the process would still linger."""
    script = (
        "import os, signal, sys, time\n"
        "from monitor.cli import main\n"
        f"{_missing_config_status(tmp_path)}"
        "status = main()\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(30)\n"
        "sys.exit(99)\n"
    )
    done = run_python(script)
    assert done.returncode == 2, done.stderr.decode()
    assert b"no.yaml" in done.stderr


def test_what_an_event_loop_logs_once_the_command_ended_is_left_out(tmp_path: Path) -> None:
    """Found by an SRE's walk: two `systemctl stop`s of seven ended a run cleanly (143, recorded
    interrupted), then Zarr's reads left in flight logged some 30 lines at ERROR as the process
    closed, which a journal watch on ERROR takes for a failure. Here a loop's gathered future
    fails, unretrieved, after the command ended."""
    script = (
        "import asyncio, sys, threading, time\n"
        "from monitor.cli import main\n"
        "loop = asyncio.new_event_loop()\n"
        "threading.Thread(target=loop.run_forever, daemon=True).start()\n"
        "async def read():\n"
        "    raise RuntimeError('cannot schedule new futures after interpreter shutdown')\n"
        "async def in_flight():\n"
        "    asyncio.ensure_future(asyncio.gather(read()))\n"
        f"{_missing_config_status(tmp_path)}"
        "status = main()\n"
        "asyncio.run_coroutine_threadsafe(in_flight(), loop)\n"
        "time.sleep(0.5)\n"
        "sys.exit(status)\n"
    )
    done = run_python(script)
    assert done.returncode == 2, done.stderr.decode()
    assert done.stderr.decode().splitlines() == [
        f"landslide-monitor status: error: invalid configuration {tmp_path / 'no.yaml'} "
        "(1 problem):",
        "  the configuration file does not exist",
    ]


def test_a_signal_while_the_interpreter_closes_keeps_the_exit_status(tmp_path: Path) -> None:
    """Found by a geological survey's walk: a Ctrl-C in the seconds after a run's report (the
    interpreter tearing torch down, its signal handlers already set back to the defaults)
    killed a run recorded `ok` with 130. Here a module's object whose finaliser, in that
    teardown, sends the process a SIGTERM."""
    script = (
        "import os, signal, sys, time\n"
        "from monitor.cli import main\n"
        "class Late:\n"
        "    def __del__(self, kill=os.kill, pid=os.getpid(), sleep=time.sleep):\n"
        "        kill(pid, signal.SIGTERM)\n"
        "        sleep(0.5)\n"
        "late = Late()  # collected as the interpreter tears its modules down\n"
        f"{_missing_config_status(tmp_path)}"
        "sys.exit(main())\n"
    )
    done = run_python(script)
    assert done.returncode == 2, done.stderr.decode()
    assert b"no.yaml" in done.stderr
