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
it starts), then fails it with ``KilledWorker``, which the run records as :class:`WorkerDied`.
A cluster left with no worker at all (every worker died, or a remote scheduler's workers were
stopped) runs nothing: once the scheduler has
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
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

# The settings live with the configuration, which never imports ops; re-exported here.
from monitor.config.operations import DaskSettings

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DaskSettings", "NoWorkersError", "WorkerDied", "dask_client", "dask_executor"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_T = TypeVar("_T")


class NoWorkersError(RuntimeError):
    """A region waited while the Dask cluster had no worker for ``dask.no_workers_timeout_s``."""


class WorkerDied(RuntimeError):
    """The workers that ran a region died as many times as the scheduler allows (Dask's
    ``KilledWorker``, the cause): the message says what most often kills them. Found in a
    walkthrough of large regions: a region over a worker's ``memory_limit`` failed after four
    restarts as "KilledWorker: ... all those workers died", which named no memory."""

    def __init__(self, killed: BaseException) -> None:
        super().__init__(
            "the Dask workers that ran this region died as often as the scheduler allows "
            "(distributed.scheduler.allowed-failures), most often for lack of memory: a region "
            "needs about 0.5-0.7 GiB per million pixels of its grid (docs/operations.md); raise "
            "dask.memory_limit, give the workers "
            f"more memory or split the region ({type(killed).__name__}: {killed})"
        )


@contextmanager
def dask_client(settings: DaskSettings, n_tasks: int | None = None) -> Iterator[Client]:
    """A client of the configured cluster: the scheduler at ``scheduler_address``, or a local
    cluster started for the duration of the block (and closed after it).

    A scheduler that does not complete the connection within ``connect_timeout_s``, or an
    address that answers as something else, is a :class:`ConnectionError` naming
    ``dask.scheduler_address``; nothing of the attempt is left running. The local cluster's
    workers log as this process does (:func:`_stream_logging`)."""
    from distributed import Client, LocalCluster

    if settings.scheduler_address:
        log.info("connecting to the Dask scheduler at %s", settings.scheduler_address)
        with _connect(settings.scheduler_address, settings.connect_timeout_s) as client:
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
        if (logs := _stream_logging()) is not None:
            # on every worker, and on one the nanny starts again after its worker died
            try:
                client.register_plugin(_worker_logging_plugin(logs))
            except Exception as exc:  # a handler's filter or formatter the workers cannot
                # take (unpicklable, or of a module they cannot import): their lines stay bare,
                # the run goes on
                log.warning("the Dask workers log in their own format: %s", exc)
        yield client


@dataclass(frozen=True)
class _StreamLogging:
    """The root logger's level and its console handlers (format, level, filters), which the
    local cluster's worker processes repeat: a worker's own root logger has no handler, so the
    monitor's lines there came out bare (Python's last-resort handler: no time, level or logger)
    and its INFO lines not at all."""

    level: int
    handlers: tuple[tuple[str, logging.Formatter | None, int, tuple[Any, ...]], ...]


def _stream_logging() -> _StreamLogging | None:
    """This process's console logging, or None where it logs to no console (a library user,
    pytest's capture): the workers are then left as Dask starts them."""
    root = logging.getLogger()
    consoles = {id(sys.stderr): "stderr", id(sys.__stderr__): "stderr"}
    consoles |= {id(sys.stdout): "stdout", id(sys.__stdout__): "stdout"}
    handlers = tuple(
        (consoles[id(h.stream)], h.formatter, h.level, tuple(h.filters))
        for h in root.handlers
        if type(h) is logging.StreamHandler and id(h.stream) in consoles
    )
    return _StreamLogging(root.level, handlers) if handlers else None


def _repeat_logging(logs: _StreamLogging) -> None:
    """In a worker process: the root logger as :func:`_stream_logging` found it in the main
    process, writing to this process's console (a local worker's is the main process's)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for stream, formatter, level, filters in logs.handlers:
        handler = logging.StreamHandler(sys.stdout if stream == "stdout" else sys.stderr)
        handler.setFormatter(formatter)
        handler.setLevel(level)
        for one in filters:
            handler.addFilter(one)
        root.addHandler(handler)
    root.setLevel(logs.level)


def _worker_logging_plugin(logs: _StreamLogging) -> Any:
    """A Dask worker plugin that runs :func:`_repeat_logging` on each worker as it starts."""
    # distributed is imported only once a cluster is wanted, so the class is made here; Dask
    # pickles it by value, and _repeat_logging by reference (this module, on the worker)
    from distributed.diagnostics.plugin import WorkerPlugin

    class WorkerLogging(WorkerPlugin):
        name = "landslide-monitor-logging"

        def setup(self, worker: object) -> None:
            _repeat_logging(logs)

    return WorkerLogging()


def _connect(address: str, seconds: float) -> Client:
    """A started client of the scheduler at ``address``, within ``seconds`` in all, or a
    :class:`ConnectionError` naming ``dask.scheduler_address`` (the half-open client closed).

    Client's own ``timeout`` bounds the TCP connect alone: a peer that accepts the connection
    and then says nothing (a scheduler stopped with SIGSTOP, its dashboard's port, a plain HTTP
    server) held the handshake that follows forever. So the whole start gets the deadline:
    distributed's ``sync`` cancels the start coroutine after ``callback_timeout``, and returns
    to this thread at the deadline whatever the start does meanwhile."""
    from distributed import Client

    started: list[Client] = []

    class _DeadlineClient(Client):
        def start(self, **kwargs: Any) -> None:
            started.append(self)  # Client() raises without returning it: kept to close it
            super().start(callback_timeout=seconds, **kwargs)

    try:
        return _DeadlineClient(address, timeout=seconds)
    except BaseException as exc:
        for client in started:  # its IO loop thread and connections, stopped
            with contextlib.suppress(Exception):
                client.close(timeout=seconds)
        if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: not a connection problem
            raise
        where = "the scheduler's own address (tcp://host:8786 by default)"
        if isinstance(exc, OSError):  # TimeoutError too: the deadline, or the TCP connect's
            timed_out = isinstance(exc, TimeoutError)
            detail = "no Dask scheduler completed the connection" if timed_out else exc
            message = (
                f"cannot reach the Dask scheduler at {address} within {seconds:g} s "
                f"(dask.connect_timeout_s): {detail}; check that the scheduler runs and that "
                f"the address is {where}, not its dashboard's or another service's"
            )
        else:  # Dask read another service's greeting as a message (3 EiB to allocate, ...)
            message = (
                f"{address} did not answer as a Dask scheduler ({type(exc).__name__}: {exc}); "
                f"it may not be a Dask scheduler: give {where}, not its dashboard's or another "
                "service's"
            )
        raise ConnectionError(f"dask.scheduler_address: {message}") from exc


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
    initialise a client library in the worker processes (a local cluster's workers log as this
    process does already, :func:`dask_client`). A task still
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
                if type(error).__name__ == "KilledWorker":  # distributed.scheduler's
                    died = WorkerDied(error)
                    died.__cause__ = error
                    error = died
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
