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
it starts), then fails it with ``KilledWorker``. A cluster left with no worker at all (every
worker died, or a remote scheduler's workers were stopped) runs nothing: once the scheduler has
had no worker for ``no_workers_timeout_s`` while regions wait, the regions still waiting fail with
:class:`NoWorkersError`, whatever cluster it is (the main process watches, not the scheduler).

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

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

# The settings live with the configuration, which never imports ops; re-exported here.
from monitor.config.operations import DaskSettings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskSettings", "NoWorkersError", "dask_client", "dask_executor"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class NoWorkersError(RuntimeError):
    """A region waited while the Dask cluster had no worker for ``dask.no_workers_timeout_s``."""


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
    # The scheduler's HTTP server runs anyway (without the dashboard, on any free port), on
    # loopback alone: the dashboard shows logs, call stacks and region names to whoever reaches
    # it, without a login (docs/operations.md: view it through an SSH tunnel).
    http = f"127.0.0.1:{8787 if settings.dashboard else 0}"
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=settings.threads_per_worker,
            processes=True,
            memory_limit=settings.memory_limit,
            dashboard_address=http if settings.dashboard else None,
            scheduler_kwargs=None if settings.dashboard else {"dashboard_address": http},
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
    configure logging or initialise a client library in the worker processes. A task still
    waiting once the scheduler has had no worker for ``no_workers_timeout_s`` fails with
    :class:`NoWorkersError`.
    """
    with dask_client(settings, n_tasks) as client:
        if worker_setup is not None:
            client.run(worker_setup)
        executor = _WorkerWatch(
            client,
            client.get_executor(pure=False, retries=settings.retries),
            settings,
        )
        try:
            yield executor
        finally:
            executor.shutdown(wait=False)


class _WorkerWatch(Executor):
    """The client's executor, whose waiting futures fail with :class:`NoWorkersError` once the
    scheduler has had no worker for ``settings.no_workers_timeout_s``.

    The scheduler keeps a task that no worker can run waiting forever (its own
    ``distributed.scheduler.no-workers-timeout`` is off by default, and a remote scheduler's is
    not ours to set), so a thread of this process asks it how many workers it has while futures
    wait. Each future given out is this executor's own, fed by the client's: the watch can fail
    it without racing Dask's result, and then cancels the Dask task behind it.
    """

    def __init__(self, client: Client, executor: Executor, settings: DaskSettings) -> None:
        self._client = client
        self._executor = executor
        self._settings = settings
        assert client.scheduler is not None  # a connected client
        self._address = settings.scheduler_address or client.scheduler.address
        self._waiting: dict[Future[Any], Future[Any]] = {}  # ours -> the client's
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="dask-worker-watch", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        theirs = self._executor.submit(fn, *args, **kwargs)
        ours: Future[_T] = Future()
        with self._lock:
            self._waiting[ours] = theirs
        ours.add_done_callback(self._forget)
        theirs.add_done_callback(lambda done: self._settle(ours, done))
        return ours

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._stop.set()
        self._thread.join()
        if cancel_futures:
            with self._lock:
                waiting = list(self._waiting)
            for ours in waiting:
                # cancelling ours cancels theirs (_forget), whose _settle has then notified
                # ours's waiters already
                if ours.cancel():
                    with contextlib.suppress(RuntimeError):
                        ours.set_running_or_notify_cancel()
        self._executor.shutdown(wait=wait)  # Dask's takes no cancel_futures

    def _forget(self, ours: Future[Any]) -> None:
        with self._lock:
            theirs = self._waiting.pop(ours, None)
        if ours.cancelled() and theirs is not None:
            theirs.cancel()

    @staticmethod
    def _settle(ours: Future[Any], theirs: Future[Any]) -> None:
        """Give ``ours`` the outcome of the client's future, unless the watch failed it first."""
        try:
            if theirs.cancelled():
                if ours.cancel():  # already notified where ours was cancelled first
                    with contextlib.suppress(RuntimeError):
                        ours.set_running_or_notify_cancel()  # wakes as_completed and wait
            elif (error := theirs.exception()) is not None:
                ours.set_exception(error)
            else:
                ours.set_result(theirs.result())
        except InvalidStateError:  # the watch failed it
            pass

    def _workers(self) -> tuple[int, str]:
        """The scheduler's workers now, and why none when it could not be asked."""
        try:
            return len(self._client.nthreads(callback_timeout=self._settings.connect_timeout_s)), ""
        except Exception as exc:  # the scheduler is gone or stalled: no worker runs anything
            return 0, f" (it did not answer: {exc or type(exc).__name__})"

    def _watch(self) -> None:
        timeout = self._settings.no_workers_timeout_s
        none_since: float | None = None
        while not self._stop.wait(min(5.0, timeout / 10)):
            with self._lock:
                waiting = bool(self._waiting)
            if not waiting:
                none_since = None
                continue
            workers, why = self._workers()
            now = time.monotonic()
            if workers:
                none_since = None
                continue
            if none_since is None:
                none_since = now
            if now - none_since >= timeout:
                self._fail_waiting(
                    f"the Dask scheduler at {self._address} has had no worker for "
                    f"{now - none_since:.0f} s{why} (dask.no_workers_timeout_s: {timeout:g} s); "
                    "the region did not run"
                )
                none_since = None

    def _fail_waiting(self, message: str) -> None:
        with self._lock:
            waiting = list(self._waiting.items())
        failed = 0
        for ours, theirs in waiting:
            try:
                ours.set_exception(NoWorkersError(message))
            except InvalidStateError:  # its outcome came meanwhile
                continue
            failed += 1
            theirs.cancel()  # the client's executor cancels the Dask task with it
        log.error("%s: %d task(s) failed", message, failed)
