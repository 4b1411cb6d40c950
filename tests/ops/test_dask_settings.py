"""The ``dask:`` settings: validation, worker count, an existing scheduler by address, a
clear error naming the field when the scheduler cannot be reached, and a run that ends when its
cluster has no worker left."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import as_completed
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from pydantic import ValidationError

from monitor.cli import main
from monitor.config import ConfigError, MonitorConfig, RegionConfig, load_config
from monitor.errors import EXIT_BAD_INPUT, EXIT_FAILED
from monitor.ops.distributed import DaskSettings, NoWorkersError, dask_executor
from monitor.run import run_once
from monitor.run_results import RegionResult
from monitor.store.inventory import Inventory
from monitor.store.lock import lock_holder
from tests.ops.ops_fixtures import (
    ARCHIVE_RUN_DATE,
    archive_regions,
    write_archive_config,
    write_config,
)

if TYPE_CHECKING:
    from distributed import LocalCluster


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("region 3 is broken")
    return x * x


REPO = Path(__file__).resolve().parents[2]


def _run_script(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python path args`` with this checkout first on the path (a script's folder, not the
    working directory, is its sys.path[0]) and ``env`` added to the environment."""
    path_env = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, str(path), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": path_env, **env},
    )


def test_settings() -> None:
    assert DaskSettings().enabled is False
    remote = DaskSettings(scheduler_address="tcp://10.0.0.5:8786")
    assert remote.enabled is True  # an address implies Dask
    with pytest.raises(ValidationError, match="needs a protocol"):
        DaskSettings(scheduler_address="10.0.0.5:8786")
    # found in a walkthrough: these passed the configuration and failed every run
    for address, problem in (
        ("tcp://", "names no host"),
        (
            "tcp://10.0.0.5",
            r"names no port \(a Dask scheduler listens on 8786 by default: give it\)",
        ),
        ("tcp://10.0.0.5:notaport", "has a port that is not a number from 0 to 65535"),
    ):
        with pytest.raises(ValidationError, match=f"'{address}' {problem}, e.g. tcp://host:8786"):
            DaskSettings(scheduler_address=address)
    assert DaskSettings(scheduler_address="tls://[::1]:8786").enabled
    with pytest.raises(ValidationError, match="unknown_field"):
        DaskSettings(unknown_field=1)  # type: ignore[call-arg]  # refused: the point
    assert DaskSettings(n_workers=4).local_workers(16) == 4
    assert DaskSettings(n_workers=4).local_workers(3) == 3  # never more workers than regions
    assert DaskSettings(n_workers=4).local_workers() == 4
    assert DaskSettings().no_workers_timeout_s == 600
    with pytest.raises(ValidationError, match="no_workers_timeout_s"):
        DaskSettings(no_workers_timeout_s=0)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("auto", "auto"), ("4GiB", 4 * 2**30), ("500 MB", 500_000_000), (4_000_000_000, 4e9),
     (0, None), ("0", None), (None, None),
     # found in review: YAML's 4.0e+9 is a float, and "0 B" is 0 as Dask reads it
     (4.0e9, 4_000_000_000), ("0 B", None), ("0GiB", None)],
)  # fmt: skip
def test_memory_limit_is_auto_a_size_or_no_limit(given: object, kept: object) -> None:
    """A size is kept in bytes (Dask would read 1, or "0.5", as a share of the memory); 0 and
    null are Dask's own "no limit"."""
    assert DaskSettings(memory_limit=given).memory_limit == kept


@pytest.mark.parametrize("given", ["lots", "0.5", "", 1, True, 1.5, [4], 0.5, "60%"])
def test_a_memory_limit_dask_cannot_use_is_refused_with_the_file(
    given: object, tmp_path: Path, untrained_manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an operator: ``memory_limit: lots`` passed loading and `schedule --dry-run`
    (exit 0); the run started its cluster, then failed with "ValueError: Could not interpret
    'lots' as a byte unit", exit 1, naming no field."""
    dask = {"enabled": True, "n_workers": 2, "memory_limit": given}
    config = write_config(tmp_path, untrained_manifest, yaml.safe_dump({"dask": dask}))
    lines = config.read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(lines) if text.startswith("  memory_limit:"))
    with pytest.raises(ConfigError, match=rf"line {line}: dask.memory_limit: .* give auto"):
        load_config(config)
    assert main(["schedule", "--dry-run", "--config", str(config)]) == EXIT_BAD_INPUT
    assert f"line {line}: dask.memory_limit: " in capsys.readouterr().err


@pytest.mark.parametrize("given", ["0.5", 0.5, "60%"])
def test_a_memory_share_is_named_as_one(given: object) -> None:
    """Found in an upgrade walk: ``memory_limit: '0.5'``, half the memory to Dask, was refused
    as "under 1 MiB, too little for a worker", which is not what the operator wrote."""
    with pytest.raises(ValidationError, match="is a share of the machine's memory to Dask"):
        DaskSettings(memory_limit=given)


def test_existing_scheduler_by_address_runs_tasks_and_reports_failures() -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        settings = DaskSettings(scheduler_address=cluster.scheduler_address, connect_timeout_s=10)
        with dask_executor(settings) as executor:
            futures = {executor.submit(_square, i): i for i in range(5)}
            results, errors = {}, {}
            for future in as_completed(futures, timeout=30):
                try:
                    results[futures[future]] = future.result()
                except ValueError as exc:
                    errors[futures[future]] = str(exc)
    assert results == {0: 0, 1: 1, 2: 4, 4: 16}
    assert errors == {3: "region 3 is broken"}


_CALLS: dict[str, int] = {}


def _raises_once(key: str) -> str:
    _CALLS[key] = _CALLS.get(key, 0) + 1
    if _CALLS[key] == 1:
        raise RuntimeError(f"{key}: a passing failure")
    return f"{key} ran {_CALLS[key]} times"


def test_retries_run_again_a_region_that_raised() -> None:
    """Found by a new user: the field said a region is retried 'after its worker died or it
    raised', the docs 'whose worker died'. Dask's retries run again a task that raised; a task
    whose worker died is the scheduler's allowed-failures (the next test)."""
    from distributed import LocalCluster

    description = DaskSettings.model_fields["retries"].description or ""
    assert description.startswith("times a region that raised on a worker is run again")
    assert "distributed.scheduler.allowed-failures (3 by default)" in description
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        with dask_executor(DaskSettings(scheduler_address=address, retries=1)) as executor:
            assert executor.submit(_raises_once, "north").result(timeout=30) == "north ran 2 times"
        with dask_executor(DaskSettings(scheduler_address=address)) as executor:
            future = executor.submit(_raises_once, "south")
            with pytest.raises(RuntimeError, match="south: a passing failure"):
                future.result(timeout=30)
    assert _CALLS["south"] == 1


def test_retries_run_again_a_region_whose_detection_raised(
    small_archive: Path,
    untrained_manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by an operator: ``dask.retries`` never ran a region again. The task caught the
    region's error and returned a failed result, so Dask saw a success; now the task raises,
    Dask runs it again, and the main process records the failure that remains, as the serial
    run records it."""
    from distributed import LocalCluster

    import monitor.run as run_module
    from tests.ops import ops_stand_ins

    real = run_module.detect_region
    runs = tmp_path / "runs"  # one line per detection of the region, whichever thread ran it

    def raises_once(
        config: MonitorConfig, region: RegionConfig, run_date: date, **options: Any
    ) -> RegionResult:
        with runs.open("a") as counter:
            counter.write("run\n")
        if len(runs.read_text().splitlines()) == 1:
            raise RuntimeError(f"{region.name}: a passing failure")
        return real(config, region, run_date, **options)

    # the in-process cluster's workers are threads of this process: they see both stand-ins
    monkeypatch.setattr(run_module, "detect_region", raises_once)
    ensemble = ops_stand_ins.ThresholdEnsemble()
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: ensemble)

    def run(way: str, retries: int | None) -> RegionResult:
        runs.unlink(missing_ok=True)
        config = load_config(
            write_archive_config(
                tmp_path / way,
                small_archive,
                untrained_manifest,
                archive_regions(1),
                quicklooks={"enabled": False},
            )
        )
        if retries is None:
            summary = run_once(config, ARCHIVE_RUN_DATE, deliver_alerts=False, progress=False)
            return summary.regions[0]
        with (
            LocalCluster(
                n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cluster,
            dask_executor(
                DaskSettings(scheduler_address=cluster.scheduler_address, retries=retries)
            ) as executor,
        ):
            summary = run_once(
                config, ARCHIVE_RUN_DATE, executor=executor, deliver_alerts=False, progress=False
            )
        return summary.regions[0]

    serial = run("serial", None)
    assert (serial.status, serial.message) == ("failed", "RuntimeError: r01: a passing failure")
    once = run("dask-0", 0)
    assert (once.status, once.message) == (serial.status, serial.message)
    # the seconds of the failed attempt, as the serial run records them (found in review: the
    # Dask path recorded none, and the run's report showed 0.0 s)
    assert list(once.timings) == list(serial.timings) == ["failed"]
    assert 0.0 < once.timings["failed"] < 60.0
    assert len(runs.read_text().splitlines()) == 1
    again = run("dask-1", 1)
    assert again.status == "ok", again.message
    assert len(runs.read_text().splitlines()) == 2


_WORKER_DIES = """
import os, sys
from pathlib import Path
from monitor.ops.distributed import DaskSettings, dask_executor

def dies_once(marker: str) -> str:
    runs = int(Path(marker).read_text()) + 1 if Path(marker).exists() else 1
    Path(marker).write_text(str(runs))
    if runs == 1:
        os._exit(1)  # the worker dies, as one killed for memory
    return f"ran {runs} times"

if __name__ == "__main__":  # the local cluster's workers import this file again
    with dask_executor(DaskSettings(enabled=True, n_workers=1, retries=0)) as executor:
        try:
            print(executor.submit(dies_once, sys.argv[1]).result(timeout=120))
        except Exception as exc:
            print(type(exc).__name__ + ": " + str(exc))
"""


@pytest.mark.parametrize(
    ("allowed_failures", "printed"),
    [
        (None, "ran 2 times"),
        # found in a walkthrough: "KilledWorker: ... all those workers died" named no memory
        ("0", "WorkerDied: the Dask workers that ran this region died"),
    ],
)
def test_a_region_whose_worker_died_is_the_scheduler_s_allowed_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed_failures: str | None, printed: str
) -> None:
    """With retries 0, a region whose worker died runs again on another worker (Dask's
    distributed.scheduler.allowed-failures, 3 by default); the environment variable the docs give
    for a run's local cluster sets it."""
    script = tmp_path / "worker_dies.py"
    script.write_text(textwrap.dedent(_WORKER_DIES))
    monkeypatch.delenv("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", raising=False)
    env = (
        {}
        if allowed_failures is None
        else {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": allowed_failures}
    )
    done = _run_script(script, str(tmp_path / "runs"), **env)
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith(printed)
    if "WorkerDied" in printed:
        assert "most often for lack of memory" in last and "(KilledWorker: " in last


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = DaskSettings(scheduler_address=f"tcp://127.0.0.1:{port}", connect_timeout_s=1)
    message = rf"dask.scheduler_address: cannot reach .*:{port}"
    with pytest.raises(ConnectionError, match=message), dask_executor(settings):
        pass


@pytest.mark.parametrize(
    ("greeting", "said"),
    [
        # a scheduler stopped with SIGSTOP, a scheduler's dashboard port, a plain HTTP server
        (None, r"cannot reach the Dask scheduler at .* within 1 s \(dask.connect_timeout_s\)"),
        # a service that speaks first: Dask read its line as a message length (3 EiB)
        (b"HTTP/1.0 426 Upgrade Required\r\n\r\n", r"did not answer as a Dask scheduler"),
    ],
)
def test_an_address_that_is_no_dask_scheduler_is_a_clear_error_in_time(
    greeting: bytes | None, said: str
) -> None:
    """Found by an operator: a scheduler_address whose peer accepted the connection and then
    said nothing held `run` forever (connect_timeout_s bounded the TCP connect alone, not the
    handshake), and one that greeted first failed with "MemoryError: Unable to allocate 3.01
    EiB", naming no field. Both are now a ConnectionError naming the field within the timeout,
    and the attempt leaves no thread running."""
    server = socket.create_server(("127.0.0.1", 0))
    address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not done.is_set():
            try:
                peer, _ = server.accept()
            except TimeoutError:
                continue
            accepted.append(peer)
            if greeting is not None:
                peer.sendall(greeting)

    serving = threading.Thread(target=serve, daemon=True)
    serving.start()
    before = set(threading.enumerate())

    def hang_up() -> None:
        for peer in accepted:
            peer.close()

    # without the deadline the handshake waits for the peer: it hangs up after 60 s, so that
    # the test fails on the time taken instead of hanging
    rescue = threading.Timer(60, hang_up)
    rescue.start()
    start = time.monotonic()
    try:
        settings = DaskSettings(scheduler_address=address, connect_timeout_s=1)
        with pytest.raises(ConnectionError) as raised, dask_executor(settings):
            pass
        seconds = time.monotonic() - start
    finally:
        rescue.cancel()
        done.set()
        serving.join()
        for peer in accepted:
            peer.close()
        server.close()
    assert seconds < 15, f"the client's start took {seconds:.0f} s"
    message = str(raised.value)
    assert message.startswith("dask.scheduler_address: "), message
    assert re.search(said, message), message
    assert address in message
    assert "not its dashboard's or another service's" in message
    left = [t.name for t in set(threading.enumerate()) - before if t is not rescue]
    assert not left, f"left running: {left}"


_DASK_RUN = """
import sys
from monitor.cli import _setup_logging
from monitor.ops.distributed import DaskSettings, dask_executor

if __name__ == "__main__":  # the local cluster's workers import this file again
    _setup_logging(verbose=False, quiet=sys.argv[1] == "-q")
    with dask_executor(DaskSettings(enabled=True, n_workers=1)) as executor:
        print(executor.submit(abs, -7).result())
"""


@pytest.mark.parametrize("flag", ["-q", ""])
def test_dask_s_own_log_lines_follow_the_cli_s_level(tmp_path: Path, flag: str) -> None:
    """Found by a new user: under -q a run on Dask printed some 30 INFO lines of distributed
    (the scheduler's start, each worker and client, a closed-stream traceback): distributed
    sets its loggers to INFO when imported, after the CLI held them to warnings. Without -q
    they are the library noise the CLI keeps out too; the monitor's own INFO line stays."""
    script = tmp_path / "dask_run.py"
    script.write_text(textwrap.dedent(_DASK_RUN))
    done = _run_script(script, flag)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "7\n"
    assert "distributed." not in done.stderr, done.stderr
    started = "INFO    monitor.ops.distributed: starting a local Dask cluster: 1 worker(s)"
    assert (started in done.stderr) is (flag == "")


_WORKER_LOGS = """
import logging, sys, threading
from monitor.cli import _setup_logging
from monitor.ops.distributed import DaskSettings, dask_executor

def speaks(x: int) -> int:
    logging.getLogger("monitor.run").info("the worker's info %d", x)
    logging.getLogger("monitor.run").warning("the worker's warning %d", x)
    logging.getLogger("distributed.worker").info("a library's info")
    return x

if __name__ == "__main__":  # the local cluster's workers import this file again
    _setup_logging(verbose=False, quiet=sys.argv[1] == "-q")
    if sys.argv[2:] == ["locked"]:  # a filter the workers cannot take: it holds a lock
        class Locked(logging.Filter):
            def __init__(self) -> None:
                super().__init__()
                self.lock = threading.Lock()

        for handler in logging.getLogger().handlers:
            handler.addFilter(Locked())
    with dask_executor(DaskSettings(enabled=True, n_workers=1)) as executor:
        print(executor.submit(speaks, 7).result())
"""


@pytest.mark.parametrize("flag", ["-q", ""])
def test_worker_log_lines_have_the_main_process_s_format_and_level(
    tmp_path: Path, flag: str
) -> None:
    """Found by an operator: on the local cluster a region's log lines came without time,
    level or logger (a worker process's root logger has no handler), and its INFO lines not at
    all. The workers now log as the main process does, -q included."""
    script = tmp_path / "worker_logs.py"
    script.write_text(textwrap.dedent(_WORKER_LOGS))
    done = _run_script(script, flag)
    assert done.returncode == 0, done.stderr
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} "
    warned = re.search(stamp + r"WARNING monitor.run: the worker's warning 7$", done.stderr, re.M)
    assert warned, done.stderr
    told = re.search(stamp + r"INFO    monitor.run: the worker's info 7$", done.stderr, re.M)
    assert bool(told) is (flag == ""), done.stderr
    assert "a library's info" not in done.stderr  # libraries from warnings up, as in main


def test_workers_that_cannot_take_the_logging_run_all_the_same(tmp_path: Path) -> None:
    """Found in review: a console handler whose filter cannot be pickled (a library user's)
    made registering the workers' logging raise, and the whole run with it. The workers then
    log in their own format, and the run says so."""
    script = tmp_path / "worker_logs.py"
    script.write_text(textwrap.dedent(_WORKER_LOGS))
    done = _run_script(script, "", "locked")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "7"
    assert "WARNING monitor.ops.distributed: the Dask workers log in their own format" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("dashboard", "address"), [(False, "127.0.0.1:0"), (True, "127.0.0.1:8787")]
)
def test_the_local_cluster_s_http_server_is_given_loopback_only(
    monkeypatch: pytest.MonkeyPatch, dashboard: bool, address: str
) -> None:
    """Found in a security review: the local cluster's HTTP server (the dashboard, when on:
    worker logs, call stacks, region names, no login) listened on every interface, :8787 with
    the dashboard and a free port without it."""
    import distributed

    given: dict[str, object] = {}

    class Started(Exception):
        pass

    def cluster(**kwargs: object) -> None:
        given.update(kwargs)
        raise Started

    monkeypatch.setattr(distributed, "LocalCluster", cluster)
    settings = DaskSettings(enabled=True, n_workers=1, dashboard=dashboard)
    with pytest.raises(Started), dask_executor(settings):
        pass
    scheduler = given["scheduler_kwargs"] or {}
    assert isinstance(scheduler, dict)
    addresses = [given["dashboard_address"], scheduler.get("dashboard_address")]
    assert [a for a in addresses if a is not None] == [address]


_DASHBOARD = """
import socket
from monitor.ops.distributed import DaskSettings, dask_client

if __name__ == "__main__":  # the local cluster's workers import this file again
    with dask_client(DaskSettings(enabled=True, n_workers=1, dashboard=True)) as client:
        port = client.scheduler_info()["services"]["dashboard"]
        for host in ("127.0.0.1", "127.0.0.2"):  # the second: this host by another address
            try:
                socket.create_connection((host, port), timeout=10).close()
                print(host, "answers")
            except OSError as exc:
                print(host, type(exc).__name__)
"""


def test_the_dashboard_answers_on_loopback_alone(tmp_path: Path) -> None:
    """The dashboard of a run's local cluster is reached at 127.0.0.1, not at another address
    of this host (Linux answers all of 127.0.0.0/8; a server on every interface answers
    127.0.0.2 as it answers the network)."""
    script = tmp_path / "dashboard.py"
    script.write_text(textwrap.dedent(_DASHBOARD))
    done = _run_script(script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["127.0.0.1 answers", "127.0.0.2 ConnectionRefusedError"]


def _no_workers_left(cluster: LocalCluster) -> None:
    """Close every worker of an in-process ``LocalCluster`` and wait until the scheduler knows."""
    assert cluster.scheduler is not None  # in-process: the scheduler is there
    cluster.scale(0)
    deadline = time.monotonic() + 30
    while cluster.scheduler.workers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.scheduler.workers


def test_tasks_waiting_on_a_cluster_without_workers_fail_after_the_timeout() -> None:
    """A task done before the workers left keeps its result; tasks waiting while the scheduler
    has no worker fail after ``no_workers_timeout_s`` with an error naming the setting and the
    scheduler; a worker back within the timeout runs the task that waited for it."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        address = cluster.scheduler_address
        settings = DaskSettings(scheduler_address=address, no_workers_timeout_s=2)
        with dask_executor(settings) as executor:
            done = executor.submit(_square, 2)
            assert done.result(timeout=30) == 4
            _no_workers_left(cluster)
            start = time.monotonic()
            waiting = [executor.submit(_square, 5), executor.submit(_square, 6)]
            errors = [f.exception() for f in as_completed(waiting, timeout=30)]
            waited = time.monotonic() - start
            assert done.result() == 4
            assert 2 <= waited < 10
            assert all(isinstance(e, NoWorkersError) for e in errors), errors
            message = str(errors[0])
            assert f"the Dask scheduler at {address} has had no worker" in message
            assert "(dask.no_workers_timeout_s: 2 s); the region did not run" in message

        # a worker that comes back in time runs it (the timeout far above a worker's start on
        # a loaded machine)
        settings = DaskSettings(scheduler_address=address, no_workers_timeout_s=30)
        with dask_executor(settings) as executor:
            back = executor.submit(_square, 7)
            time.sleep(1)
            cluster.scale(1)
            assert back.result(timeout=30) == 49


def test_a_run_whose_cluster_has_no_worker_left_fails_its_regions_and_ends(
    small_archive: Path,
    untrained_manifest: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by an operator: a daily run on a cluster whose workers had all died (killed for
    memory again and again, or a remote cluster's stopped) waited forever on its regions (Dask
    keeps them "no-worker"), holding the inventory's run lock, so the next day's run could not
    start either. Now the regions fail after ``dask.no_workers_timeout_s``, the run is recorded
    and the lock released, and the command exits 1 as for any failed region."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        dask = {"scheduler_address": address, "no_workers_timeout_s": 2}
        config = write_archive_config(
            tmp_path, small_archive, untrained_manifest, archive_regions(2), dask=dask
        )
        # a run that still waits after 60 s gets a worker, so that it ends and the test fails
        # on the time it took instead of hanging
        rescue = threading.Timer(60, cluster.scale, args=(1,))
        rescue.start()
        start = time.monotonic()
        try:
            date = ARCHIVE_RUN_DATE.isoformat()
            status = main(["run", "--config", str(config), "--date", date, "--no-alerts"])
        finally:
            rescue.cancel()
        seconds = time.monotonic() - start
    assert seconds < 45, f"the run waited {seconds:.0f} s on a cluster with no worker"
    out = capsys.readouterr().out
    assert status == EXIT_FAILED, out
    said = f"NoWorkersError: the Dask scheduler at {address} has had no worker for"
    for region in ("r01", "r02"):
        assert f"  {region}: failed: {said}" in out
    assert "(dask.no_workers_timeout_s: 2 s); the region did not run" in out
    inventory_path = tmp_path / "inventory.gpkg"
    with Inventory(inventory_path) as inventory:
        assert inventory.runs()["status"].tolist() == ["failed"]
        regions = inventory.run_regions()
    assert regions["status"].tolist() == ["failed", "failed"]
    assert all("dask.no_workers_timeout_s" in m for m in regions["message"])
    assert lock_holder(inventory_path) is None  # the next day's run may start


def test_shutdown_cancelling_waiting_futures_reaches_the_client_s_executor() -> None:
    """Found in review: shutdown(cancel_futures=True) notified a cancelled future twice (its
    cancellation had cancelled the client's future, whose outcome notified it already) and
    raised RuntimeError before shutting the client's executor down."""
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from unittest import mock

    from monitor.ops.distributed import _WorkerWatch

    client = mock.MagicMock()
    client.scheduler.address = "inproc://stand-in"
    client.nthreads.return_value = {"worker": 1}
    inner = ThreadPoolExecutor(1)
    watch = _WorkerWatch(client, inner, DaskSettings(enabled=True))
    release = threading.Event()
    watch.submit(release.wait)  # the one thread busy: the next waits
    waiting = watch.submit(_square, 3)
    try:
        watch.shutdown(wait=False, cancel_futures=True)
        assert waiting.cancelled()
        assert inner._shutdown  # reached
    finally:
        release.set()
