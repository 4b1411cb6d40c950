"""Many regions in parallel on Dask distributed.

A run's regions are independent until the inventory update, so :func:`monitor.run.run_once`
takes an executor: :func:`monitor.run.detect_region` (pure; reads the source and the model,
writes nothing but quicklooks) runs on the workers, and the results come back to the main
process, which alone writes the inventory in one transaction (a single writer, as SQLite wants).
A region that raises on a worker, or whose worker dies, is reported failed in the run summary;
the others go on. Before that, Dask runs it again: one that raised up to ``retries`` times (the
settings' task retries, 0 by default), one whose worker died (killed for memory, crashed) on
another worker up to the scheduler's ``distributed.scheduler.allowed-failures`` times (3 by
default, whatever ``retries`` says; a setting of the scheduler, in Dask's configuration, e.g.
``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES`` in the environment of a run whose local cluster
it starts), then fails it with ``KilledWorker``.

Where the work runs is the ``dask:`` section of the configuration:

* nothing (the default) or ``enabled: false``: regions run one after the other in the main
  process;
* ``enabled: true``: a :class:`distributed.LocalCluster` on this machine, one single-threaded
  worker process per core (or ``n_workers``) — torch and numpy get one thread each
  (Dask sets ``OMP_NUM_THREADS=1`` in its workers), so workers do not fight over cores;
* ``scheduler_address: tcp://host:8786``: an existing Dask cluster. Its workers must see the
  same archive, model manifest and quicklook paths as the main process (a shared filesystem or
  the same container image and volumes) and hold the Earth Engine credentials when the source is
  ``gee``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import TYPE_CHECKING

# The settings live with the configuration, which never imports ops; re-exported here.
from monitor.config.operations import DaskSettings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskSettings", "dask_client", "dask_executor"]

log = logging.getLogger(__name__)


@contextmanager
def dask_client(settings: DaskSettings, n_tasks: int | None = None) -> Iterator[Client]:
    """A client of the configured cluster: the scheduler at ``scheduler_address``, or a local
    cluster started for the duration of the block (and closed after it)."""
    from distributed import Client, LocalCluster

    if settings.scheduler_address:
        log.info("connecting to the Dask scheduler at %s", settings.scheduler_address)
        try:
            client = Client(settings.scheduler_address, timeout=settings.connect_timeout_s)
        except OSError as exc:
            raise ConnectionError(
                f"dask.scheduler_address: cannot reach the Dask scheduler at "
                f"{settings.scheduler_address} within {settings.connect_timeout_s:.0f} s: {exc}"
            ) from exc
        with client:
            yield client
        return
    workers = settings.local_workers(n_tasks)
    log.info(
        "starting a local Dask cluster: %d worker(s) x %d thread(s)",
        workers,
        settings.threads_per_worker,
    )
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            memory_limit=settings.memory_limit,
            dashboard_address=":8787" if settings.dashboard else None,
            # the scheduler's HTTP server runs anyway; without the dashboard, on any free port
            scheduler_kwargs=None if settings.dashboard else {"dashboard_address": ":0"},
            silence_logs=logging.WARNING,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def dask_executor(
    settings: DaskSettings,
    n_tasks: int | None = None,
    worker_setup: Callable[[], object] | None = None,
) -> Iterator[Executor]:
    """A :class:`concurrent.futures.Executor` on the configured Dask cluster, for
    ``run_once(..., executor=...)``.

    Its futures are plain ``concurrent.futures`` futures, so the caller collects them with
    :func:`concurrent.futures.as_completed` and gets a region's exception from ``.result()``.
    Tasks are submitted impure (every submission runs), with ``retries`` from the settings (a
    task that raised is run again; a dead worker's task is the scheduler's allowed-failures).
    ``worker_setup`` (an importable function) runs once on every worker first, e.g. to
    configure logging or initialise a client library in the worker processes.
    """
    with dask_client(settings, n_tasks) as client:
        if worker_setup is not None:
            client.run(worker_setup)
        executor = client.get_executor(pure=False, retries=settings.retries)
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)
