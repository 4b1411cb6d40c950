"""The run lock stops a second concurrent run, names its holder, and dies with its process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import monitor.store.lock as lock_module
from monitor.cli import main
from monitor.config import MonitorConfig
from monitor.store.lock import (
    InventoryMissing,
    RunLock,
    RunLockHeld,
    RunLockUnwritable,
    lock_holder,
    lock_path_for,
)

REPO = Path(__file__).resolve().parents[2]


def _full_disk(fd: int, data: bytes, offset: int) -> int:
    """``os.pwrite`` on a full disk."""
    raise OSError(28, "No space left on device")


def _hold_in_child(inventory: Path) -> subprocess.Popen[str]:
    """A child process that takes the lock, says so on stdout, then sleeps."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from monitor.store.lock import RunLock
        lock = RunLock({str(inventory)!r})
        lock.acquire()
        print("locked", flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def test_second_process_is_refused_and_told_who_holds_it(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.gpkg"
    child = _hold_in_child(inventory)
    try:
        with pytest.raises(RunLockHeld) as refused:
            RunLock(inventory).acquire()
        assert refused.value.holder is not None
        assert refused.value.holder.pid == child.pid
        assert str(child.pid) in str(refused.value)
        assert str(inventory) in str(refused.value)
        holder = lock_holder(inventory)
        assert holder is not None and holder.pid == child.pid
    finally:
        child.kill()
        child.wait()


def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.gpkg"
    child = _hold_in_child(inventory)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # no stale lock: the kernel dropped it with the process
    assert lock_holder(inventory) is None
    with RunLock(inventory) as lock:
        assert lock.held
        holder = lock_holder(inventory)
        assert holder is not None and holder.pid == os.getpid()
    assert lock_holder(inventory) is None
    assert lock_path_for(inventory).exists()  # never deleted (see module docstring)


def test_two_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.gpkg"
    inside = 0
    most_inside = 0
    refused = 0
    guard = threading.Lock()

    def one_run() -> None:
        nonlocal inside, most_inside, refused
        try:
            with RunLock(inventory):
                with guard:
                    inside += 1
                    most_inside = max(most_inside, inside)
                time.sleep(0.05)
                with guard:
                    inside -= 1
        except RunLockHeld:
            with guard:
                refused += 1

    threads = [threading.Thread(target=one_run) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most_inside == 1
    assert refused >= 1


def test_waiting_run_gets_the_lock_once_the_first_one_finishes(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.gpkg"
    first = RunLock(inventory)
    first.acquire()
    threading.Timer(0.3, first.release).start()
    t0 = time.monotonic()
    with RunLock(inventory, wait_s=5.0) as second:
        waited = time.monotonic() - t0
        assert second.held
    assert 0.25 <= waited < 2.0


def test_release_is_idempotent_and_reacquire_works(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "sub" / "inventory.gpkg")
    lock.acquire()
    with pytest.raises(RuntimeError, match="already held"):
        lock.acquire()
    lock.release()
    lock.release()
    lock.acquire()
    assert lock.held
    lock.release()


def test_a_lock_taken_where_the_inventory_was_and_is_gone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an SRE's walk: an inventory deleted (or a volume not mounted) was started anew
    without a word, and the next run alerted the 21 landslides the receiver held again under
    new keys. A lock released without the inventory (a first run refused before it wrote
    one) leaves nothing to refuse."""
    inventory = tmp_path / "inventory.gpkg"
    lock = RunLock(inventory)
    with lock:  # no inventory yet: a first run that failed before writing one
        pass
    assert lock.lock_file.read_bytes() == b""
    with lock:  # 0 bytes (a full disk's first run): no inventory, which the docs say to delete
        inventory.touch()
    assert lock.lock_file.read_bytes() == b""
    with RunLock(inventory):
        inventory.write_bytes(b"an inventory")
    written = json.loads(lock.lock_file.read_text())["inventory_written"]
    with RunLock(inventory):  # a holder carries it on while it holds the lock
        assert json.loads(lock.lock_file.read_text())["inventory_written"] == written

    with RunLock(inventory) as on_a_full_disk:  # a record not written leaves the one before
        monkeypatch.setattr(lock_module.os, "pwrite", _full_disk)
        on_a_full_disk.release()
        monkeypatch.undo()
    assert json.loads(lock.lock_file.read_text())["inventory_written"] == written
    inventory.unlink()
    with pytest.raises(InventoryMissing) as refused:
        RunLock(inventory).acquire()
    assert str(refused.value) == (
        f"the inventory {inventory} is not there, but a command that used it ended on "
        f"{written} with it in place (its lock file {lock.lock_file} says so): deleted, moved, "
        "or its volume not mounted? A new inventory would alert every landslide it held "
        "again, under new keys. Restore it, or correct inventory.path; to start a new "
        f"inventory there on purpose, delete {lock.lock_file} while no command runs"
    )
    assert lock_holder(inventory) is None  # refused, not held
    lock.lock_file.unlink()  # a new inventory, on purpose
    with RunLock(inventory):
        pass


def test_a_command_on_an_inventory_gone_since_a_run_says_so(
    populated_config: tuple[MonitorConfig, int], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = populated_config
    assert main(["alerts", "deliver", "--config", str(config.path)]) == 0
    config.inventory.path.unlink()
    capsys.readouterr()
    for command in (["alerts", "deliver"], ["inventory", "list"], ["review"]):
        status = main([*command, "--config", str(config.path)])
        err = capsys.readouterr().err
        assert status == 2, (command, err)
        assert f"the inventory {config.inventory.path} is not there, but a command" in err
    assert main(["status", "--check", "--config", str(config.path)]) == 1
    said = capsys.readouterr().out.splitlines()
    assert said[0] == "status check failed: 3 limit(s)"
    assert said[-1].startswith(
        f"  inventory: {config.inventory.path}: not there, but a command ended on "
    )
    assert said[-1].endswith("not mounted? runs are refused until it is back")
    assert main(["status", "--config", str(config.path)]) == 0
    assert capsys.readouterr().out.startswith(
        f"Inventory: {config.inventory.path} (not there, but a command ended on "
    )
    assert not config.inventory.path.exists()  # none started anew


def test_a_symbolic_link_at_the_lock_file_is_never_followed(tmp_path: Path) -> None:
    """Found in a security walkthrough: a link planted at `<inventory>.lock` made every run,
    `alerts deliver` too, empty the file it named."""
    inventory = tmp_path / "inventory.gpkg"
    victim = tmp_path / "victim.txt"
    victim.write_text("IMPORTANT CONTENT")
    lock_path_for(inventory).symlink_to(victim)
    with pytest.raises(RunLockUnwritable) as refused:
        RunLock(inventory).acquire()
    assert str(refused.value) == (
        f"the lock file {lock_path_for(inventory)} is a symbolic link, which a run never "
        "follows (it would empty the file it names): remove the link"
    )
    assert victim.read_text() == "IMPORTANT CONTENT"
    # nor is it read through (a FIFO behind it would hold `status --check`)
    with pytest.raises(RunLockUnwritable, match="is a symbolic link"):
        lock_holder(inventory)
    # and a FIFO planted there is named, not waited on (found in a review)
    lock_path_for(inventory).unlink()
    os.mkfifo(lock_path_for(inventory))
    with pytest.raises(RunLockUnwritable, match="is not a regular file"):
        lock_holder(inventory)


def test_a_lock_file_that_cannot_be_created_or_written_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: a lock file in a folder this user may not write, or on a full disk,
    failed with a bare OSError ('[Errno 28] No space left on device', no file named) and exit
    status 1; a full disk while writing the holder left the lock held by the failed process."""
    inventory = tmp_path / "inventory.gpkg"
    lock_file = lock_path_for(inventory)
    real_open = os.open

    def refused(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == lock_file:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(lock_module.os, "open", refused)
        with pytest.raises(RunLockUnwritable) as denied:
            RunLock(inventory).acquire()
    assert str(denied.value) == (
        f"cannot write the lock file {lock_file} (Permission denied): it lives beside the "
        f"inventory, so this user must be able to write in {tmp_path}; check its permissions "
        "and that its file system is neither full nor mounted read-only (the folder is the "
        "configuration's inventory.path, which, when relative, is read from base_dir, by "
        "default the configuration file's folder)"
    )

    with monkeypatch.context() as patch:
        patch.setattr(lock_module.os, "pwrite", _full_disk)
        with pytest.raises(RunLockUnwritable, match=r"\(No space left on device\)"):
            RunLock(inventory).acquire()
    assert lock_holder(inventory) is None  # released: the next run can take it
    with RunLock(inventory) as lock:
        assert lock.held


def test_a_command_whose_lock_file_cannot_be_written_exits_2_naming_it(
    populated_config: tuple[MonitorConfig, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config, _ = populated_config

    monkeypatch.setattr(lock_module.os, "pwrite", _full_disk)
    status = main(["alerts", "deliver", "--config", str(config.path)])
    err = capsys.readouterr().err
    assert status == 2, err
    lock_file = lock_path_for(config.inventory.path)
    assert f"error: cannot write the lock file {lock_file} (No space left on device)" in err
    assert "Traceback" not in err and "--debug" not in err


def _on_dask(config: MonitorConfig) -> Path:
    """``config``'s file with Dask enabled (one worker), beside it."""
    import yaml

    assert config.path is not None
    data = yaml.safe_load(config.path.read_text())
    data["dask"] = {"enabled": True, "n_workers": 1}
    on_dask = config.path.with_name("on_dask.yaml")
    on_dask.write_text(yaml.safe_dump(data))
    return on_dask


def test_a_run_on_dask_is_refused_before_its_cluster_starts(
    populated_config: tuple[MonitorConfig, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a new user: with dask enabled, a run that another run's lock refuses (75)
    started its LocalCluster first, seconds of workers for nothing."""
    import monitor.ops.distributed as distributed

    config, _ = populated_config
    on_dask = _on_dask(config)
    started: list[object] = []

    def no_cluster(*args: object, **kwargs: object) -> None:
        started.append(args)
        raise AssertionError("the cluster was started")

    monkeypatch.setattr(distributed, "dask_executor", no_cluster)
    child = _hold_in_child(config.inventory.path)
    try:
        status = main(["run", "--config", str(on_dask), "--date", "2024-09-15"])
    finally:
        child.kill()
        child.wait()
    err = capsys.readouterr().err
    assert status == 75, err
    assert "another run is already working on inventory" in err
    assert started == []
    # with --wait, it waits for the holder before the cluster starts, then gives up all the same
    child = _hold_in_child(config.inventory.path)
    try:
        t0 = time.monotonic()
        status = main(["run", "--config", str(on_dask), "--date", "2024-09-15", "--wait", "0.6"])
        waited = time.monotonic() - t0
    finally:
        child.kill()
        child.wait()
    assert status == 75, capsys.readouterr().err
    assert started == [] and waited >= 0.6


def test_a_run_on_dask_waits_no_longer_than_its_wait_in_all(
    populated_config: tuple[MonitorConfig, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an SRE's review: on Dask, `run --wait S` waited up to S for the holder before
    the cluster started, then gave the run itself S again, so a process that took the lock
    between the two made it wait up to 2 S (past the deployments' timeouts). The run now gets
    what is left of S once the cluster has started."""
    from contextlib import contextmanager

    import monitor.ops.distributed as distributed
    import monitor.run as run_module

    config, _ = populated_config
    on_dask = _on_dask(config)
    child = _hold_in_child(config.inventory.path)
    threading.Timer(0.5, child.kill).start()  # the holder ends after 0.5 s of the wait
    given: list[float] = []

    @contextmanager
    def no_cluster(*args: object, **kwargs: object) -> Iterator[None]:
        time.sleep(1.0)  # the cluster's start, which counts as waiting too
        yield None

    class Stop(Exception):
        pass

    def run_once(*args: object, lock_wait_s: float, **kwargs: object) -> None:
        given.append(lock_wait_s)
        raise Stop

    monkeypatch.setattr(distributed, "dask_executor", no_cluster)
    monkeypatch.setattr(run_module, "run_once", run_once)
    try:
        main(["run", "--config", str(on_dask), "--date", "2024-09-15", "--wait", "5"])
    finally:
        child.kill()
        child.wait()
    assert len(given) == 1
    assert 0.0 <= given[0] <= 3.5  # 5 s less the 0.5 s it waited and the 1 s start


def test_a_run_with_wait_takes_the_lock_once_a_delivery_releases_it(
    populated_config: tuple[MonitorConfig, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by an SRE's review: the daily run took the lock at once or exited 75, which cron and
    the systemd timer count as done (the day is not run again), so an `alerts deliver` between
    runs that held the lock when the run started cost that day's run. `run --wait S` waits for
    such a holder."""
    import monitor.run as run_module
    from monitor.errors import BadInput

    config, _ = populated_config
    under_lock: list[int | None] = []

    def stop_under_the_lock(model: object) -> None:
        holder = lock_holder(config.inventory.path)
        under_lock.append(holder.pid if holder else None)
        raise BadInput("stand-in: stopped under the lock")

    # the run's own work is not what is tested: it stops at its first step under the lock
    monkeypatch.setattr(run_module, "open_source", lambda settings: None)
    monkeypatch.setattr(run_module, "check_run_date", lambda *args, **kwargs: None)
    monkeypatch.setattr(run_module, "load_ensemble", stop_under_the_lock)
    command = ["run", "--config", str(config.path), "--date", "2024-09-15"]

    delivery = RunLock(config.inventory.path)  # an `alerts deliver` holding the lock
    delivery.acquire()
    try:
        assert main(command) == 75  # without --wait: refused at once
        assert under_lock == []
        threading.Timer(0.5, delivery.release).start()
        t0 = time.monotonic()
        assert main([*command, "--wait", "30"]) == 2  # the stand-in's stop
        waited = time.monotonic() - t0
    finally:
        delivery.release()
    assert "stand-in: stopped under the lock" in capsys.readouterr().err
    assert under_lock == [os.getpid()]  # the run held the lock itself once it was free
    assert 0.4 <= waited < 20
