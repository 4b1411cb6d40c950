"""The ``dask:`` settings: validation, worker count, an existing scheduler by address, and a
clear error naming the field when the scheduler cannot be reached."""

from __future__ import annotations

import socket
from concurrent.futures import as_completed

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
