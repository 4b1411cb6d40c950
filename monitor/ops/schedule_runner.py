"""How the scheduler runs one day: :class:`CliRunner` starts ``landslide-monitor run --date D``
as a child process and reports its :class:`RunOutcome`.

A child process, the same CLI an operator or cron uses, so that a crash, a memory leak of a model
or a SIGKILL in a run never takes the scheduler (:mod:`monitor.ops.schedule`) down, and a run can
be stopped (SIGTERM passed on, then SIGKILL) without stopping the scheduler's bookkeeping: at a
shutdown, or when it runs past ``schedule.run_timeout_s`` (a hung run would hold the scheduler's
one worker, and every later fire would be skipped).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from datetime import date
from pathlib import Path

from monitor.store.lock import EXIT_LOCKED

__all__ = ["KILL_AFTER_S", "LOCK_WAIT_S", "CliRunner", "RunOutcome", "Runner"]

# The scheduler's logger: these lines are the scheduler's account of its runs in the journal.
log = logging.getLogger("monitor.ops.schedule")

#: Seconds a run stopped by the scheduler (a shutdown, its run_timeout_s) has to end after SIGTERM
#: (to record itself interrupted) before it and what it started are killed.
KILL_AFTER_S = 30.0

#: Seconds a scheduled run waits for the inventory's lock (``run --wait``) before it exits 75 and
#: the pass is retried after ``retry_after_s``: an ``alerts deliver`` every 5 minutes holds the
#: lock for seconds, and the daily units of deploy/ wait as long.
LOCK_WAIT_S = 900


class RunOutcome(enum.Enum):
    """How the run of one day ended."""

    OK = "ok"
    PARTIAL = "partial"  # the run completed but some region failed (reported in its summary)
    LOCKED = "locked"  # another run holds the inventory; retried later
    FAILED = "failed"
    STOPPED = "stopped"  # stopped by a shutdown
    TIMED_OUT = "timed out"  # ran past schedule.run_timeout_s and was stopped; retried later


Runner = Callable[[date], RunOutcome]


class CliRunner:
    """Runs one day as ``python -m monitor run --config F --date D`` in a child process.

    The child inherits the environment (secrets come from environment variables) and the
    scheduler's stdout/stderr (the journal). :meth:`terminate` passes SIGTERM on to it. A run
    still going after ``timeout_s`` (None: no limit) is stopped the same way, SIGKILL after
    ``kill_after_s``, and reported :attr:`RunOutcome.TIMED_OUT`.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str],
        extra_args: Collection[str] = (),
        timeout_s: float | None = None,
        kill_after_s: float = KILL_AFTER_S,
    ) -> None:
        self.config_path = Path(config_path).resolve()
        self.extra_args = list(extra_args)
        self.timeout_s = timeout_s
        self.kill_after_s = kill_after_s
        self._child: subprocess.Popen[bytes] | None = None
        self._guard = threading.Lock()
        self._stopping = False

    def command(self, run_date: date) -> list[str]:
        return [
            sys.executable,
            "-m",
            "monitor",
            "run",
            "--config",
            str(self.config_path),
            "--date",
            run_date.isoformat(),
            "--wait",
            str(LOCK_WAIT_S),
            *self.extra_args,
        ]

    def __call__(self, run_date: date) -> RunOutcome:
        with self._guard:
            if self._stopping:
                return RunOutcome.STOPPED
            env = dict(os.environ)
            if not sys.stderr.isatty():
                # a journal, not a terminal: a progress line every 30 s at most
                env.setdefault("TQDM_MININTERVAL", "30")
            # in a process group of its own: a Ctrl-C at the terminal reaches the scheduler
            # alone, which gives the run stop_grace_s before stopping it (the child took the
            # SIGINT itself, stopped at once, and the scheduler logged it failed)
            child = self._child = subprocess.Popen(self.command(run_date), env=env, process_group=0)
        timed_out = False
        try:
            returncode = child.wait(self.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            log.error(
                "run of %s still running after %.0f s (schedule.run_timeout_s); stopping it",
                run_date, self.timeout_s,
            )  # fmt: skip
            _stop(child, self.kill_after_s)
            returncode = child.wait()
        with self._guard:
            self._child = None
        if timed_out and returncode != 0 and not self._stopping:
            return RunOutcome.TIMED_OUT
        if returncode == 0:
            return RunOutcome.OK
        if returncode == EXIT_LOCKED:
            return RunOutcome.LOCKED
        stopped = (-signal.SIGTERM, 128 + signal.SIGTERM, -signal.SIGINT, 128 + signal.SIGINT)
        if returncode in stopped and self._stopping:
            return RunOutcome.STOPPED
        log.error("run of %s exited with status %d", run_date, returncode)
        return RunOutcome.FAILED

    def terminate(self, kill_after_s: float | None = None) -> None:
        """Stop the run in progress, if any (SIGTERM, then SIGKILL after ``kill_after_s``, by
        default the runner's own, as for a run past its timeout)."""
        with self._guard:
            self._stopping = True
            child = self._child
        if child is None:
            return
        _stop(child, self.kill_after_s if kill_after_s is None else kill_after_s)


def _stop(child: subprocess.Popen[bytes], kill_after_s: float) -> None:
    """SIGTERM to the run and what it started (its process group), then SIGKILL after
    ``kill_after_s`` if it has not ended."""
    _signal_group(child, signal.SIGTERM)
    try:
        child.wait(kill_after_s)
    except subprocess.TimeoutExpired:
        log.warning("run (pid %d) ignored SIGTERM for %.0f s; killing it", child.pid, kill_after_s)
        _signal_group(child, signal.SIGKILL)
        return
    # the run is gone; what it started and that still lingers is not left behind
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)


def _signal_group(child: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    """``signum`` to the run's process group (it leads one of its own), or to the run alone
    where the group is already gone."""
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        child.send_signal(signum)
