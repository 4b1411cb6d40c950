"""Worker processes that end with the command that started them: the one rule behind the pools
of ``python -m models train`` / ``extend`` (spawned trainers) and ``landslide-monitor archive
build`` (forked region writers).

A stop comes to the parent: SIGTERM to it alone (``kill PID``, a batch queue's time limit) or
Ctrl-C to the whole process group. The workers leave both to it
(:func:`leave_signals_to_the_parent`) and the parent, unwinding, ends them
(:func:`end_workers`): a pool's own shutdown would wait for them to finish what they were doing,
hours for a member, and a parent that died at once left them working on as orphans of init,
then waiting for good."""

from __future__ import annotations

import signal
from collections.abc import Collection
from multiprocessing import active_children

__all__ = ["end_workers", "leave_signals_to_the_parent", "running_children"]

# How long end_workers waits for each terminated worker to be reaped, in seconds.
_JOIN_S = 10.0


def leave_signals_to_the_parent() -> None:
    """A worker's start (a pool's initializer): Ctrl-C, sent to the whole process group, is the
    parent's to act on, and SIGTERM (:func:`end_workers`) ends the worker at once, not through
    handlers a forked worker inherits from its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def running_children() -> set[int | None]:
    """The process ids of this process's running children (``multiprocessing``'s), to give
    :func:`end_workers` as those that were there before a pool."""
    return {child.pid for child in active_children()}


def end_workers(others: Collection[int | None]) -> None:
    """Terminate and reap this process's children but ``others`` (:func:`running_children`
    before the pool started): the pool's workers, which its shutdown would wait on while they
    work on."""
    workers = [child for child in active_children() if child.pid not in others]
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(_JOIN_S)
