"""The ``dask:`` settings: validation, worker count, an existing scheduler by address, and a
clear error naming the field when the scheduler cannot be reached."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from concurrent.futures import as_completed
from pathlib import Path

import pytest
from pydantic import ValidationError

from monitor.ops.distributed import DaskSettings, dask_executor


def _square(x: int) -> int:
    if x == 3:
        raise ValueError("region 3 is broken")
    return x * x


def test_settings() -> None:
    assert DaskSettings().enabled is False
    remote = DaskSettings(scheduler_address="tcp://10.0.0.5:8786")
    assert remote.enabled is True  # an address implies Dask
    with pytest.raises(ValidationError, match="needs a protocol"):
        DaskSettings(scheduler_address="10.0.0.5:8786")
    with pytest.raises(ValidationError, match="unknown_field"):
        DaskSettings(unknown_field=1)
    assert DaskSettings(n_workers=4).local_workers(16) == 4
    assert DaskSettings(n_workers=4).local_workers(3) == 3  # never more workers than regions
    assert DaskSettings(n_workers=4).local_workers() == 4


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


def test_unreachable_scheduler_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = DaskSettings(scheduler_address=f"tcp://127.0.0.1:{port}", connect_timeout_s=1)
    message = rf"dask.scheduler_address: cannot reach .*:{port}"
    with pytest.raises(ConnectionError, match=message), dask_executor(settings):
        pass


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
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), flag],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=180,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "7\n"
    assert "distributed." not in done.stderr, done.stderr
    started = "INFO    monitor.ops.distributed: starting a local Dask cluster: 1 worker(s)"
    assert (started in done.stderr) is (flag == "")
