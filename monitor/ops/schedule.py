"""The built-in scheduler: ``landslide-monitor schedule --config F``.

APScheduler 3.x fires the daily run on the cron expression and in the time zone of the YAML's
``schedule:`` section. What it guarantees:

* **Persistence.** The job lives in an SQLAlchemy job store (an SQLite file next to the inventory
  by default), so a restarted scheduler knows when it last meant to fire.
* **Coalescing and a misfire grace period.** Fires missed while the process was down or busy
  collapse into one (``coalesce``), and are still honoured up to ``misfire_grace_s`` late.
* **Catch-up, in order.** Every fire, and the start of the scheduler, runs a *pass*: the cron's
  fire days since the last completed run of each configured region (at most ``catch_up_days``
  back; :func:`due_run_dates`) are run one after the other, oldest first, each as its own
  ``landslide-monitor run --date D``. A day that fails or finds the inventory locked ends the pass,
  as does a pass that raises (its ledger unreadable while another program writes the inventory,
  a run that could not be started: logged, without its traceback unless ``--debug``); the pass
  is retried after ``retry_after_s`` and at the next fire, so days are never applied out of
  order and never skipped silently.
* **No overlap.** Passes run one at a time in this process, and every run takes the inventory's
  run lock (:mod:`monitor.store.lock`), so a run started by cron or by hand is never overlapped
  either.
* **A job store of its own version.** The store carries its schema version
  (:mod:`monitor.file_schemas`): a start stamps a store of an earlier release, and refuses one
  a newer release wrote, and an inventory of a newer schema version, before it writes anything.
* **No hung run.** A run still going after ``run_timeout_s`` is stopped as at a shutdown (below)
  and its pass retried after ``retry_after_s``: a hung run would hold the one worker, and every
  later fire would be skipped while the job store's next fire moved on.
* **Clean shutdown.** SIGTERM or SIGINT stops firing, gives a run in progress ``stop_grace_s`` to
  finish, then passes SIGTERM on to it. A run killed part-way commits nothing (the inventory is
  updated in one transaction) and its day is caught up at the next start.

Each day runs in a child process (the same CLI an operator or cron uses; see
:mod:`monitor.ops.schedule_runner`): a crash, a memory leak of a model or a SIGKILL in a run never
takes the scheduler down, and the run can be stopped without stopping the scheduler's bookkeeping.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_MISSED, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import utc_timestamp_to_datetime
from sqlalchemy import Column, Integer, MetaData, String, Table, delete, insert, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from models.atomic import SQLITE_SIDE_FILES, nearest_existing
from monitor import __version__
from monitor._dates import as_day
from monitor._geopackage import (
    DAMAGED,
    connect_read_only,
    file_errors,
    is_locked,
    table_names,
    timestamp,
)

# The settings and the crontab parsing live with the configuration, which never imports ops;
# they are re-exported here, where the scheduler's callers have always found them.
from monitor.config.operations import (
    ScheduleSettings,
    cron_trigger,
    default_jobstore_url,
    fires_from,
    sqlite_file,
)
from monitor.errors import BadInput, DatabaseFileError
from monitor.file_schemas import JOB_STORE, VERSION_TABLE, checked_schema_version
from monitor.ops._args import add_config
from monitor.ops.schedule_runner import CliRunner, Runner, RunOutcome
from monitor.run_inputs import preflight
from monitor.sources.base import STALE_DAYS, STALE_QUESTION
from monitor.store.lock import LockHolder, RunLock, RunLockHeld

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from monitor.config import MonitorConfig

__all__ = [
    "DAILY_JOB_ID",
    "CliRunner",
    "CompletedRuns",
    "ConfiguredRegions",
    "DailyScheduler",
    "PassResult",
    "RunOutcome",
    "ScheduleSettings",
    "SchedulerRunning",
    "completed_run_dates",
    "completed_runs",
    "cron_trigger",
    "default_jobstore_url",
    "due_run_dates",
    "log_flags",
    "next_scheduled_run",
    "scheduler_lock",
    "scheduler_lock_target",
]

log = logging.getLogger(__name__)

#: Id of the persisted daily job in the job store.
DAILY_JOB_ID = "landslide-monitor-daily"


@dataclass(frozen=True)
class CompletedRuns:
    """The catch-up's ledger (:func:`completed_runs`): the run dates each region completed (in
    runs ``ok``, or ``partial`` when some region failed; whoever ran them: the scheduler, cron,
    a person) and the regions the configuration names now."""

    by_region: Mapping[str, frozenset[date]]
    regions: tuple[str, ...]

    def done(self) -> set[date]:
        """The days that every configured region completed."""
        days = [set(self.by_region.get(r, ())) for r in self.regions]
        return set.intersection(*days) if days else set()

    def any_region(self) -> set[date]:
        """The days that some region completed, configured now or not."""
        return set().union(*self.by_region.values())

    def last(self, today: date) -> dict[str, date | None]:
        """Each configured region's last completed run up to ``today`` (None: never)."""
        return {
            r: max((d for d in self.by_region.get(r, ()) if d <= today), default=None)
            for r in self.regions
        }


def due_run_dates(
    trigger: CronTrigger,
    now: datetime,
    completed: Collection[date] | CompletedRuns,
    catch_up_days: int,
) -> list[date]:
    """The run dates a pass must run now, oldest first.

    The cron's fire days from ``catch_up_days`` before today (local to the trigger's time zone)
    up to ``now`` whose fire time has passed, later than the last completed run. With no completed
    run at all, only the latest fire day is due (a new installation does not replay history).
    Completed runs dated after today are ignored.
    A day's run date is the local calendar date of its fire time.

    With :class:`CompletedRuns`, the days after each configured region's own last completed run
    are due (a run runs every region): a region that never completed a run (just added, or left
    out by a `run --region` of the only day run) adds the latest fire day alone and holds no
    other region back; when no configured region ever completed a run (every region renamed),
    the days after the last completed run of any region are due.
    """
    if isinstance(completed, CompletedRuns):
        if not any(completed.by_region.get(r) for r in completed.regions):
            return due_run_dates(trigger, now, completed.any_region(), catch_up_days)
        due: set[date] = set()
        for region in completed.regions:
            done = completed.by_region.get(region, frozenset())
            due.update(due_run_dates(trigger, now, done, catch_up_days))
        return sorted(due)
    tz = trigger.timezone
    now = now.astimezone(tz)
    day = now.date() - timedelta(days=catch_up_days)
    fire_days: list[date] = []
    while day <= now.date():
        fire = trigger.get_next_fire_time(None, datetime.combine(day, time(0), tzinfo=tz))
        if fire is None or fire > now:
            break
        fire_days.append(fire.date())
        day = fire.date() + timedelta(days=1)
    # A run recorded for a date after today (an inventory written before run dates were
    # checked, or by another tool) must not make the scheduler skip the days up to it.
    last_done = max((d for d in completed if d <= now.date()), default=None)
    if last_done is None:
        return fire_days[-1:]
    return [d for d in fire_days if d > last_done]


def _done(completed: Collection[date] | CompletedRuns) -> set[date]:
    """The days a ledger counts as done (for :class:`CompletedRuns`: by every configured
    region)."""
    return completed.done() if isinstance(completed, CompletedRuns) else set(completed)


@contextmanager
def job_store_errors(url: str, *, driver: bool = False) -> Iterator[None]:
    """The job store at ``url`` that cannot be opened (a folder that does not exist or may not
    be written, a URL that does not parse; with ``driver``, around the store's construction, a
    database driver not installed) as :class:`BadInput` naming ``schedule.jobstore_url`` and
    the URL, its password hidden (exit status 2). An ImportError elsewhere (a stored job whose
    function's module is gone) is not the URL's fault and is left alone."""
    # ValueError: SQLAlchemy's reading of a port that is no number
    caught: tuple[type[Exception], ...] = (
        (SQLAlchemyError, ImportError, ValueError) if driver else (SQLAlchemyError,)
    )
    try:
        yield
    except caught as exc:
        if _damaged_job_store(exc):  # not the URL's fault: said so, with what to do
            raise BadInput(f"schedule.jobstore_url: {_damaged(url, exc)}") from None
        message = (
            f"schedule.jobstore_url: cannot open the scheduler's job store {_shown(url)} "
            "({}); check the URL, that its folder exists and this user may write it, and that "
            "its database driver is installed"
        )
        if _ambiguous(url):  # the driver's message names the host: the password's end
            raise BadInput(message.format(f"{type(exc).__name__}, not shown")) from None
        if isinstance(exc, ValueError):
            # a ValueError quotes the part of the URL it could not read: the port, which is
            # the password where the host was left out (postgresql://user:secret/db), or a
            # query value; neither it nor its traceback (--debug, the scheduler's log) is shown
            raise BadInput(message.format(f"ValueError: {_unread_part(url)}")) from None
        reason = (str(exc).splitlines() or [""])[0]
        raise BadInput(message.format(f"{type(exc).__name__}: {reason}")) from exc


def _damaged_job_store(exc: BaseException) -> bool:
    """Whether ``exc`` says the job store's file is damaged or no SQLite database (in SQLite's
    words, as :mod:`monitor._geopackage` reads them of the inventory)."""
    return any(needle in str(exc).lower() for needle in DAMAGED)


def _damaged(url: str, exc: BaseException) -> str:
    """What to do with a damaged job store: found in a crash walkthrough, one holding text
    passed the dry run and stopped the start with advice about the URL, its folder and its
    driver."""
    reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0]
    return (
        f"the scheduler's job store {_shown(url)} is damaged or not an SQLite file (SQLite: "
        f"{reason}); move it aside: the scheduler makes a new one and catches the missed days "
        "up from the inventory, which records every run"
    )


def _unread_part(url: str) -> str:
    """What of ``url`` SQLAlchemy could not read, without quoting it."""
    try:
        make_url(url)
    except ValueError:  # the only ValueError of its parsing: int() of the port
        return "a port that is not a number"
    except ArgumentError:
        pass
    return "a value in the URL that the database driver cannot read"


def _shown(url: str) -> str:
    """``url`` with its password, if any, hidden (the message goes to logs and the journal),
    as a query value too (``?password=``). A URL SQLAlchemy cannot read (no scheme, a port that
    is no number, a host left out), or whose authority holds more than one ``@`` (a password's
    ``@`` not written ``%40``), is shown by its scheme alone: where a password lies in it
    cannot be told. Shown again, a shown URL comes out the same (it keys the jobs)."""
    scheme, sep, _ = url.partition("://")
    named = sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)  # RFC 3986 3.1
    unread = f"{scheme}://... " if named else "... "
    if re.fullmatch(r"(\S+://)?\.\.\. \(not shown: [^()]*\)", url):
        return url  # shown already: a job stored with it keys this scheduler (_fire)
    if _ambiguous(url):
        return unread + (
            "(not shown: more than one at-sign before its host; write one in a password as %40)"
        )
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return unread + "(not shown: it does not parse, and may hold a password)"
    # libpq and others take a password as a query value too (?password=...)
    query = {
        key: "***" if _SECRET_QUERY_KEY.search(key) else value
        for key, value in parsed.query.items()
    }
    shown = parsed.set(query=query).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", "=***")  # as the password is shown


# query keys whose values are secrets (password, sslpassword, passwd, pwd, secret, token)
_SECRET_QUERY_KEY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)


def _ambiguous(url: str) -> bool:
    """Whether ``url``'s authority holds more than one ``@``: a password with an ``@`` not
    written as ``%40``, which SQLAlchemy cuts at the first and shows the rest as the host."""
    authority = url.partition("://")[2].partition("/")[0].partition("?")[0]
    return authority.count("@") > 1


# The store whose schema version the job store carries (monitor.file_schemas)
_STORE = "job store"


def _version_table() -> Table:
    """The job store's :data:`~monitor.file_schemas.VERSION_TABLE`, as in the inventory."""
    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("name", String(64), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("release", String(64), nullable=False),
        Column("updated_at", String(32), nullable=False),
    )


def _refuse_newer_job_store(conn: Connection, url: str) -> int | None:
    """The schema version stamped in the job store at ``url`` (None: none, a new store or one of
    a release before schema versions); one newer than this release reads is refused
    (:class:`monitor.errors.NewerSchemaError`). Reads only."""
    row = None
    if inspect(conn).has_table(VERSION_TABLE):
        table = _version_table()
        row = conn.execute(
            select(table.c.version, table.c.release).where(table.c.name == _STORE)
        ).first()
    found = checked_schema_version(
        "scheduler's job store",
        _shown(url),
        None if row is None else (row[0], row[1]),
        JOB_STORE,
        "move the job store aside (the scheduler makes a new one and catches missed days up "
        "from the inventory)",
    )
    return None if found is None else found[0]


def _stamp_job_store(engine: Engine, url: str) -> None:
    """Refuse a job store of a newer schema version, or stamp one that holds an older one or
    none with this release's (in one transaction); before APScheduler writes to it."""
    with engine.begin() as conn:
        if _refuse_newer_job_store(conn, url) == JOB_STORE:
            return
        table = _version_table()
        table.create(conn, checkfirst=True)
        conn.execute(delete(table).where(table.c.name == _STORE))
        conn.execute(
            insert(table).values(
                name=_STORE,
                version=JOB_STORE,
                release=__version__,
                updated_at=timestamp(datetime.now(UTC)),
            )
        )


# APScheduler persists jobs by a textual reference to a module-level function; the function
# finds its scheduler here by the job store URL it was given as argument, its password hidden
# (the argument is stored in the job store, and logged where no scheduler serves it).
_ACTIVE: dict[str, DailyScheduler] = {}


def _fire(key: str) -> None:
    key = _shown(key)  # a job stored by an earlier release carries the URL itself
    scheduler = _ACTIVE.get(key)
    if scheduler is None:
        log.error("fire for job store %s but no scheduler of this process serves it", key)
        return
    scheduler.run_pass()


@dataclass(frozen=True)
class PassResult:
    """What one pass ran: each due date and its outcome, in order; ``error``, the error that
    ended the pass (its ledger could not be read, a run could not be started), if any."""

    runs: tuple[tuple[date, RunOutcome], ...]
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None and all(
            outcome in (RunOutcome.OK, RunOutcome.PARTIAL) for _, outcome in self.runs
        )


#: Why a run that did not complete is retried, as the retry's log line says it.
_RETRY_REASONS = {
    RunOutcome.LOCKED: "the inventory is locked by another run",
    RunOutcome.FAILED: "it failed",
    RunOutcome.TIMED_OUT: "it ran past schedule.run_timeout_s and was stopped",
}


class DailyScheduler:
    """The daily job on APScheduler, with catch-up passes and a clean stop.

    ``completed_dates`` returns the ledger the catch-up reads: the inventory's
    :class:`CompletedRuns`, or the run dates it has completed (cron or manual runs count too);
    ``runner`` runs one date. With ``debug`` (``--debug``), an error that ends a pass is logged
    with its traceback.
    """

    def __init__(
        self,
        settings: ScheduleSettings,
        jobstore_url: str,
        completed_dates: Callable[[], Collection[date] | CompletedRuns],
        runner: Runner,
        now: Callable[[], datetime] | None = None,
        *,
        debug: bool = False,
    ) -> None:
        self.settings = settings
        self.debug = debug
        self.trigger = settings.trigger()
        self.jobstore_url = jobstore_url
        self._key = _shown(jobstore_url)  # what the jobs carry to find this scheduler (_fire)
        self._completed_dates = completed_dates
        self._runner = runner
        self._now = now or (lambda: datetime.now(self.trigger.timezone))
        self._pass_lock = threading.Lock()
        self._stopping = threading.Event()
        self.passes: list[PassResult] = []
        with job_store_errors(jobstore_url, driver=True):
            store = SQLAlchemyJobStore(url=jobstore_url)
        self._engine: Engine = store.engine
        self.scheduler = BackgroundScheduler(
            jobstores={
                "default": store,
                "memory": MemoryJobStore(),
            },
            # one worker: passes never overlap inside this process
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": settings.misfire_grace_s,
                "max_instances": 1,
            },
            timezone=self.trigger.timezone,
        )
        self.scheduler.add_listener(self._on_missed, EVENT_JOB_MISSED)

    # -- passes ---------------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        """Run every due date, oldest first; stop at the first that does not complete, or at an
        error (logged; the pass is retried after ``retry_after_s``, as for a failed run)."""
        with self._pass_lock:
            now = self._now()
            runs: list[tuple[date, RunOutcome]] = []
            day = now.date()  # what an error is reported under: the pass's day, then its run's
            try:
                completed = self._completed_dates()
                due = due_run_dates(self.trigger, now, completed, self.settings.catch_up_days)
                if not due:
                    log.info(
                        "nothing due at %s (last completed run: %s)",
                        now,
                        max(_done(completed), default=None),
                    )
                elif len(due) > 1:
                    log.info("catching up %d runs: %s", len(due), ", ".join(map(str, due)))
                for run_date in due:
                    if self._stopping.is_set():
                        break
                    day = run_date
                    log.info("run for %s starting", run_date)
                    outcome = self._runner(run_date)
                    if outcome is RunOutcome.FAILED and run_date in _done(self._completed_dates()):
                        # recorded as done with failed regions: the day is over, the next may run
                        outcome = RunOutcome.PARTIAL
                    stopped = outcome in (RunOutcome.STOPPED, RunOutcome.TIMED_OUT)
                    if stopped and run_date in _done(self._completed_dates()):
                        # stopped during its alert delivery: the run itself had completed
                        outcome = RunOutcome.OK
                    runs.append((run_date, outcome))
                    log.info("run for %s: %s", run_date, outcome.value)
                    if outcome not in (RunOutcome.OK, RunOutcome.PARTIAL):
                        if outcome is not RunOutcome.STOPPED:
                            self._schedule_retry(run_date, _RETRY_REASONS[outcome])
                        break
            except Exception as exc:  # any: APScheduler would log it and no retry would come
                error = f"{type(exc).__name__}: {exc}"
                log.error(
                    "pass for %s ended by an error: %s", day, error,
                    exc_info=exc if self.debug else None,
                )  # fmt: skip
                self._schedule_retry(day, "its pass ended by an error")
                result = PassResult(tuple(runs), error)
            else:
                result = PassResult(tuple(runs))
            self.passes.append(result)
            return result

    def _schedule_retry(self, run_date: date, reason: str) -> None:
        if self._stopping.is_set() or not self.scheduler.running:
            return
        # in time, not on the wall clock: across a clock change a retry came an hour early
        # or late (found in a time-zone walkthrough)
        when = self._now().astimezone(UTC) + timedelta(seconds=self.settings.retry_after_s)
        log.warning("run for %s did not complete (%s); retrying at %s", run_date, reason, when)
        self.scheduler.add_job(
            _fire,
            "date",
            run_date=when,
            args=[self._key],
            id="retry",
            name="retry pass",
            jobstore="memory",
            replace_existing=True,
        )

    def _on_missed(self, event: JobEvent) -> None:
        log.warning(
            "fire of %s at %s was missed by more than the grace period (%d s); "
            "the catch-up pass runs its day",
            event.job_id,
            event.scheduled_run_time,
            self.settings.misfire_grace_s,
        )

    # -- life cycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Persist (or keep) the daily job, start firing, and queue a catch-up pass now."""
        _ACTIVE[self._key] = self
        try:
            with job_store_errors(self.jobstore_url):
                _keep_job_store_private(self.jobstore_url)  # before it is opened or read
                _stamp_job_store(self._engine, self.jobstore_url)
                self.scheduler.start(paused=True)
                self._keep_or_add_daily_job()
        except BadInput:
            if self.scheduler.running:
                self.scheduler.shutdown(wait=False)
            _ACTIVE.pop(self._key, None)
            raise
        self.scheduler.add_job(
            _fire,
            args=[self._key],
            id="catch-up",
            name="catch-up pass",
            jobstore="memory",
            replace_existing=True,
        )
        self.scheduler.resume()
        log.info(
            "scheduler started: cron %r in %s; next run %s",
            self.settings.cron,
            self.settings.timezone,
            self.next_run_time(),
        )

    def _keep_or_add_daily_job(self) -> None:
        existing = self.scheduler.get_job(DAILY_JOB_ID, jobstore="default")
        if existing is not None and repr(existing.trigger) == repr(self.trigger):
            log.info("daily job kept from the job store; next fire %s", existing.next_run_time)
            if tuple(existing.args) != (self._key,):
                # the same store reached by another URL (a relative SQLite file now read from
                # the configuration's folder), or a job that carries the password (stored by an
                # earlier release): the job's fires find their scheduler by its URL
                self.scheduler.modify_job(DAILY_JOB_ID, jobstore="default", args=[self._key])
        else:
            if existing is not None:
                log.info("schedule changed from %r to %r", existing.trigger, self.trigger)
            self.scheduler.add_job(
                _fire,
                self.trigger,
                args=[self._key],
                id=DAILY_JOB_ID,
                name="landslide-monitor daily run",
                jobstore="default",
                replace_existing=True,
            )

    def next_run_time(self) -> datetime | None:
        job = self.scheduler.get_job(DAILY_JOB_ID, jobstore="default")
        return job.next_run_time if job else None

    def stop(self, terminate: Callable[[], None] | None = None) -> None:
        """Stop firing; let a pass in progress finish within ``stop_grace_s``, else call
        ``terminate`` (which stops the run in progress) and wait for the pass to end."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()
            # APScheduler 3 marks itself stopped before taking its job-store lock, so a shutdown
            # racing a job-processing round in its thread fails that round; pausing and then
            # waiting for the round in flight (it holds this lock) closes the race.
            with self.scheduler._jobstores_lock:
                pass
        if self._pass_lock.acquire(timeout=self.settings.stop_grace_s):
            self._pass_lock.release()
        else:
            log.warning(
                "run still in progress after %.0f s; stopping it (stopped before its inventory "
                "update, it leaves the inventory as it was and the day is caught up at the next "
                "start; stopped during alert delivery, it has completed and its unsent alerts "
                "stay queued)",
                self.settings.stop_grace_s,
            )
            if terminate is not None:
                terminate()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        _ACTIVE.pop(self._key, None)
        log.info("scheduler stopped")


def _writable_once_made(folder: Path) -> bool:
    """Whether ``folder`` is, or can be made as, a folder this user may write: its nearest
    existing ancestor is a folder this user may write into."""
    each = nearest_existing(folder)
    return each is not None and each.is_dir() and os.access(each, os.W_OK | os.X_OK)


def inventory_write_problem(inventory: Path) -> str | None:
    """Why the runs could not write the inventory (each would exit 2), or None: the file not
    writable by this user or on a read-only mount, or its folder (the run's lock file and
    SQLite's journal live beside it) neither writable nor one that can be made (found by an
    SRE's walk: the dry run passed a read-only volume, and every run then failed)."""
    if inventory.exists() and not os.access(inventory, os.W_OK):
        return (
            f"inventory.path: {inventory} cannot be written (its permissions, or a file system "
            "mounted read-only): every run would exit 2"
        )
    folder = inventory.parent
    if not _writable_once_made(folder):
        return (
            f"inventory.path: its folder {folder} cannot be written or made (its permissions, "
            "or a file system mounted read-only); the run's lock file and SQLite's journal "
            "live beside the inventory: every run would exit 2"
        )
    return None


def job_store_problem(jobstore_url: str, inventory: Path | None = None) -> str | None:
    """Why the scheduler could not open its job store at ``jobstore_url``, or None; creates
    nothing (``schedule --dry-run``: found by a walkthrough, a store in a folder that does not
    exist passed the dry run and stopped the real start with exit 2). A SQLite file that does
    not exist yet is checked by its folder, which the start must be able to write it into: one
    that exists, or the ``inventory``'s folder (or one above it), which the start makes before
    it opens the store (its lock lives beside the inventory), where it can be made (a new
    set-up's first dry run, found by another walkthrough). One that exists is read as
    ``status`` reads it (:func:`next_scheduled_run`: a newer release's store refused); another
    database by its URL and driver, not by connecting (a host that does not answer would hold
    the dry run up)."""
    sqlite = sqlite_file(jobstore_url)
    try:
        if sqlite is None:
            with job_store_errors(jobstore_url, driver=True):
                SQLAlchemyJobStore(url=jobstore_url).engine.dispose()
        elif sqlite.exists():
            if (problem := _foreign_and_open(sqlite)) is not None:  # the start refuses it
                return problem
            next_scheduled_run(jobstore_url)
        else:
            folder = sqlite.parent
            made = inventory is not None and (
                folder == inventory.parent or folder in inventory.parent.parents
            )
            if folder.is_dir():
                fine = os.access(folder, os.W_OK | os.X_OK)
                why = "may not be written"
            else:
                fine = made and _writable_once_made(folder)
                why = "cannot be made here" if made else "does not exist"
            if not fine:
                return (
                    f"schedule.jobstore_url: the folder of the job store {_shown(jobstore_url)}, "
                    f"{folder}, {why}; create it, or give a URL in a folder this user may write"
                )
    except (BadInput, DatabaseFileError) as err:
        return str(err)
    return None


def _foreign_and_open(sqlite: Path) -> str | None:
    """Why the SQLite job store ``sqlite`` may not be used: another user's (root aside), who
    may write jobs into it whatever its mode, and the scheduler unpickles its jobs (found in a
    security walkthrough and a review); None otherwise."""
    owner = sqlite.stat().st_uid
    if owner not in (os.getuid(), 0):
        return (
            f"schedule.jobstore_url: the scheduler's job store {sqlite} belongs to another user "
            f"(uid {owner}), who may write jobs into it, and the scheduler runs the jobs it "
            "holds: remove it (the daily job is added again from the configuration, and the "
            "catch-up reads the inventory, so no day is lost), or run the scheduler as its owner"
        )
    return None


def _keep_job_store_private(jobstore_url: str) -> None:
    """Before the scheduler opens its job store: a SQLite store of this user's that others may
    write is removed unread (the daily job is added again from the configuration; the catch-up
    reads the inventory, so no day is lost), another user's refused (:class:`BadInput`).
    APScheduler unpickles the jobs it holds, so a job written into it by someone else would run
    their code as this user (found in a security walkthrough: the store, beside the inventory,
    was as writable as the umask made it; two reviews: a job planted while it was still ran at
    the next start, and a purge that failed after a chmod left the mode saying none was due)."""
    sqlite = sqlite_file(jobstore_url)
    if sqlite is None or not sqlite.is_file():
        return
    if (problem := _foreign_and_open(sqlite)) is not None:
        raise BadInput(problem)
    if not sqlite.stat().st_mode & 0o022:
        return
    try:
        for path in (sqlite, *(sqlite.with_name(sqlite.name + e) for e in SQLITE_SIDE_FILES)):
            path.unlink(missing_ok=True)
    except OSError as exc:
        raise BadInput(
            f"schedule.jobstore_url: the scheduler's job store {sqlite} may be written by other "
            f"users, and this user cannot remove it ({exc.strerror or exc}): remove it before "
            "the scheduler starts (it runs the jobs the store holds; the daily job is added "
            "again from the configuration)"
        ) from None
    log.warning(
        "the job store %s was writable by other users: it was removed unread, and a new one "
        "holds the daily job of the configuration",
        sqlite,
    )


def next_scheduled_run(jobstore_url: str) -> datetime | None:
    """Next fire time of the daily job recorded in a job store (``None`` when there is none).

    Reads the store without starting a scheduler (``landslide-monitor status``), and without
    creating it: a missing SQLite file means the scheduler never ran. A store of a newer schema
    version than this release reads is refused (:class:`monitor.errors.NewerSchemaError`)."""
    sqlite = sqlite_file(jobstore_url)
    if sqlite is not None and not sqlite.exists():
        return None
    with job_store_errors(jobstore_url, driver=True):
        store = SQLAlchemyJobStore(url=jobstore_url)
    try:
        with store.engine.connect() as conn:
            _refuse_newer_job_store(conn, jobstore_url)
            # the column, not the job: APScheduler unpickles a stored job, and a job store in a
            # folder others may write would then run their code in every `status` (found in a
            # security walkthrough; the scheduler itself has to read its jobs, see its start)
            column = store.jobs_t.c.next_run_time
            stamp = conn.execute(
                select(column).where(store.jobs_t.c.id == DAILY_JOB_ID)
            ).scalar_one_or_none()
    except DatabaseFileError:  # a newer release's store, or a version that is none
        raise
    except Exception as exc:  # the table does not exist yet: the scheduler never ran
        if _damaged_job_store(exc):
            raise DatabaseFileError(_damaged(jobstore_url, exc)) from None
        return None
    finally:
        store.engine.dispose()
    return utc_timestamp_to_datetime(stamp) if stamp is not None else None


def serve(
    settings: ScheduleSettings,
    jobstore_url: str,
    completed_dates: Callable[[], Collection[date] | CompletedRuns],
    runner: CliRunner,
    now: Callable[[], datetime] | None = None,
    *,
    debug: bool = False,
) -> int:
    """Run the scheduler in the foreground until SIGTERM or SIGINT; returns the exit status.

    ``now`` replaces the clock the catch-up passes read (tests); APScheduler fires on the real
    clock. ``debug`` (``--debug``): an error that ends a pass is logged with its traceback."""
    stop_requested = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop_requested.set()

    previous: dict[int, Any] = {
        sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    daily = DailyScheduler(settings, jobstore_url, completed_dates, runner, now=now, debug=debug)
    try:
        daily.start()
        stop_requested.wait()
        daily.stop(terminate=runner.terminate)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def completed_run_dates(
    inventory: str | os.PathLike[str], regions: Collection[str] | None = None
) -> set[date]:
    """Run dates the inventory records as done (``ok``, or ``partial``: some region failed),
    whoever ran them (this scheduler, cron, a person). With ``regions`` (the configuration's),
    a date is done once its completed runs covered every one of them: a `run --region R` of
    the day marked it done for all regions, and the scheduler skipped the others. Read-only;
    empty without an inventory."""
    if regions is None:
        return completed_runs(inventory, ()).any_region()
    return completed_runs(inventory, regions).done()


def completed_runs(inventory: str | os.PathLike[str], regions: Collection[str]) -> CompletedRuns:
    """The catch-up's ledger: the run dates each region completed in the inventory (runs ``ok``
    or ``partial``), with ``regions``, the configuration's. A run recorded before per-region
    bookkeeping counts for every region. Read-only; empty without an inventory."""
    names = tuple(regions)
    by_region: dict[str, set[date]] = {}
    path = Path(inventory)
    if path.exists():
        with file_errors(path), closing(connect_read_only(path, timeout_s=10.0)) as conn:
            tables = table_names(conn)
            if "runs" not in tables:
                pairs = []
            elif "run_regions" not in tables:  # before per-region bookkeeping
                pairs = conn.execute(
                    "SELECT DISTINCT run_date, NULL FROM runs WHERE status IN ('ok', 'partial')"
                ).fetchall()
            else:
                pairs = conn.execute(
                    "SELECT DISTINCT r.run_date, rr.region FROM runs r LEFT JOIN run_regions rr "
                    "ON rr.run_id = r.run_id WHERE r.status IN ('ok', 'partial')"
                ).fetchall()
        for run_date, region in pairs:
            day = as_day(run_date, "run_date")
            for name in (str(region),) if region is not None else names or ("",):
                by_region.setdefault(name, set()).add(day)
    return CompletedRuns({r: frozenset(d) for r, d in by_region.items()}, names)


class ConfiguredRegions:
    """The regions of the configuration file as it reads now. Each pass asks at its start (its
    ledger is :func:`completed_runs` of these), so a region added to or removed from the file
    while the scheduler runs counts from the next pass, as in the runs, which read the file
    themselves. When the file cannot be read then (an edit half saved), the regions read before
    stay, with a warning; the run of that pass reports the file's problems and is retried."""

    def __init__(self, path: str | os.PathLike[str], regions: Collection[str]) -> None:
        self.path = Path(path).resolve()
        self.names = tuple(regions)

    def __call__(self) -> tuple[str, ...]:
        from monitor.config import ConfigError, load_config

        try:
            names = tuple(r.name for r in load_config(self.path).regions)
        except ConfigError as exc:
            log.warning(
                "%s cannot be read now; this pass counts the regions read before (%s): %s",
                self.path, ", ".join(self.names), exc,
            )  # fmt: skip
            return self.names
        if names != self.names:
            log.info("regions of %s now: %s (were: %s)", self.path, ", ".join(names),
                     ", ".join(self.names))  # fmt: skip
            self.names = names
        return names


def log_flags(args: argparse.Namespace) -> list[str]:
    """The scheduler's own ``-v``/``-q``/``--debug``, passed on to the runs it starts, so that
    ``schedule -q`` quiets its runs' journal lines too."""
    named = (("-v", "verbose"), ("-q", "quiet"), ("--debug", "debug"))
    return [flag for flag, name in named if getattr(args, name, False)]


def cli_configure(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="check what would fail the runs (exit 2, each named), then print the schedule, the "
        "days a start would catch up and the next fires; run nothing",
    )


def _unfed_archive(config: MonitorConfig, today: date) -> list[str]:
    """The archive's regions whose newest acquisition is :data:`STALE_DAYS` days or more
    before ``today``: the runs of a start would find nothing new (found by a rail operator's
    walk: a dry run against an archive that ended two years before said nothing)."""
    from monitor.config import ArchiveSourceConfig
    from monitor.sources.archive import ArchiveSource

    if not isinstance(config.source, ArchiveSourceConfig):
        return []
    archive = ArchiveSource(config.source.path)
    said = []
    for region in config.regions:
        newest = archive.last_acquisition(region.area)
        if newest is not None and (today - newest).days >= STALE_DAYS:
            said.append(
                f"region {region.name}: the archive's newest acquisition is {newest}, "
                f"{(today - newest).days} days before today: runs now would find no new "
                f'scene ({STALE_QUESTION} docs/archive.md, "Daily updates")'
            )
    return said


#: A region of several parts whose grid holds this many times their area is named as one of
#: parts far apart (:func:`_whereabouts`): two areas of 1 km² side by side make a grid of 2-4.
_APART_RATIO = 20


def _whereabouts(geometry: BaseGeometry) -> str:
    """Where a region lies, for a person to check (found in a config audit: a polygon whose
    corners were written latitude first, both in range, passed without a word): its centre,
    its grid's UTM zone and size, and the polygon's area. The grid, the polygon's bounding box,
    is what each run reads and holds in memory: a diagonal corridor of 78 km² has one of
    880 km² (found by a rail operator's walk, which saw the polygon's area alone)."""
    from monitor.grid import region_grid

    centre, grid = geometry.centroid, region_grid(geometry)
    ns, ew = ("N" if centre.y >= 0 else "S"), ("E" if centre.x >= 0 else "W")
    area_km2 = grid.project(geometry).area / 1e6
    parts = len(getattr(geometry, "geoms", ()))
    apart = ""
    if parts > 1 and grid.area_km2 > _APART_RATIO * area_km2:
        # found in a survey's walk: a file of two areas 0.5° apart, merged, made a grid 70
        # times its polygons, with no word
        apart = (
            f" in {parts} parts far apart, whose grid is {grid.area_km2 / area_km2:.0f} times "
            "their area: make each area a region of its own (of a region file of several, "
            "`feature` takes one: docs/configuration.md)"
        )
    return (
        f"centre {abs(centre.y):.4f}° {ns}, {abs(centre.x):.4f}° {ew}; grid {grid.crs} "
        f"(UTM), {grid.width} x {grid.height} px, {grid.area_km2:.2f} km²; polygon "
        f"{area_km2:.2f} km²{apart}"
    )


def cli_run(args: argparse.Namespace) -> int:
    """``landslide-monitor schedule``: serve until SIGTERM (exit 0), or ``--dry-run``."""
    from monitor.config import load_config

    config = load_config(args.config)
    settings = config.schedule
    inventory = config.inventory.path
    url = settings.jobstore_for(inventory)
    if args.dry_run:
        trigger = settings.trigger()
        now = datetime.now(trigger.timezone)
        ledger = completed_runs(inventory, [r.name for r in config.regions])
        # what would fail the runs, instead of the schedule: a scheduler started on it would
        # only retry hopeless runs
        model, archive = preflight(config)
        store = job_store_problem(url, inventory)
        written = inventory_write_problem(inventory)
        for variable in config.alert_routing().unset_variables():
            # not a problem of the file: the service's environment may set it where this shell
            # does not; said, so that the first alerts do not wait in the outbox unnoticed
            print(
                f"warning: alerts: {variable}; until then the channel's alerts wait in the "
                "outbox (`landslide-monitor alerts test` tries each channel)",
                file=sys.stderr,
            )
        if problems := model + archive + [p for p in (written, store) if p]:
            for region in config.regions:  # where each is, whatever else failed
                print(f"region {region.name}: {_whereabouts(region.area.geometry)}")
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            print(
                f"{len(problems)} problem(s): the scheduler or its runs would fail", file=sys.stderr
            )
            return 2
        due = due_run_dates(trigger, now, ledger, settings.catch_up_days)
        for warning in _unfed_archive(config, now.date()):
            print(f"warning: {warning}", file=sys.stderr)
        fires = list(itertools.islice(fires_from(trigger, now), 5))
        print(f"schedule: cron {settings.cron!r} in {settings.timezone}; job store {_shown(url)}")
        for region in config.regions:  # where each is: a polygon written latitude first shows
            print(f"region {region.name}: {_whereabouts(region.area.geometry)}")
        done = ledger.any_region()
        future = sorted(d for d in done if d > now.date())
        last = max(done.difference(future), default=None) or "none"
        by_region = ledger.last(now.date())
        if len(set(by_region.values())) > 1:  # the regions differ: each one's
            each = ", ".join(f"{r}: {d or 'never'}" for r, d in by_region.items())
            last = f"{last} ({each})"
        ignored = f" (ignored, dated after today: {', '.join(map(str, future))})" if future else ""
        print(f"last completed run: {last}{ignored}")
        print(f"a start now would run: {', '.join(map(str, due)) or 'nothing'}")
        print("next fires: " + ", ".join(f.isoformat() for f in fires))
        return 0
    # a model section every run would refuse stops the scheduler now (exit 2) instead of being
    # retried every retry_after_s; a missing archive may be a volume not mounted yet: warned,
    # and its runs fail and are retried as any failed day is
    model, archive = preflight(config)
    if model:
        raise BadInput("; ".join(model))
    for problem in archive:
        log.warning("%s: the runs of this configuration fail until it is mended", problem)
    for variable in config.alert_routing().unset_variables():
        log.warning("alerts: %s; until then the channel's alerts wait in the outbox", variable)
    # an inventory a newer release wrote, or another program's file, is refused now (exit 2),
    # not in every pass's ledger or run: opening it checks its schema version
    if inventory.exists():
        from monitor.store.inventory import foreign_file  # geopandas: loaded by a start only

        foreign = None
        try:
            with file_errors(inventory), closing(connect_read_only(inventory)) as conn:
                foreign = foreign_file(conn, inventory)
        except DatabaseFileError as err:
            # another program writing it for a while is no reason to stop for good (systemd's
            # unit does not restart a start that exits 2): the passes retry as they do on it
            # (found by an SRE's walk)
            if not is_locked(err):
                raise
            log.warning(
                "inventory %s is locked by another program writing it (SQLite: %s): the "
                "scheduler starts, and its passes retry until it is free (the checks of the "
                "file, its schema version among them, come with them)",
                inventory, err.__cause__,
            )  # fmt: skip
        if foreign is not None:
            raise foreign
    runner = CliRunner(
        config.path or args.config, extra_args=log_flags(args), timeout_s=settings.run_timeout_s
    )
    regions = ConfiguredRegions(config.path or args.config, [r.name for r in config.regions])
    with scheduler_lock(inventory):
        return serve(
            settings, url, lambda: completed_runs(inventory, regions()), runner, debug=args.debug
        )


def scheduler_lock_target(inventory: str | os.PathLike[str]) -> Path:
    """The path whose run lock marks a running scheduler (``lock_holder`` of it tells who)."""
    inventory = Path(inventory)
    return inventory.with_name(inventory.name + ".scheduler")


class SchedulerRunning(RunLockHeld):
    """Another ``landslide-monitor schedule`` already serves this inventory (exit status 75, as
    for a run's lock)."""

    def __init__(self, inventory: Path, lock_file: Path, holder: LockHolder | None) -> None:
        super().__init__(inventory, lock_file, holder)
        who = holder.describe() if holder else "another process"
        self.args = (
            f"a scheduler already serves inventory {inventory}: {who}; lock file {lock_file}",
        )


@contextmanager
def scheduler_lock(inventory: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``<inventory>.scheduler.lock`` for the scheduler's lifetime: one scheduler per
    inventory (a second would double every fire; the run lock would refuse its runs anyway)."""
    inventory = Path(inventory)
    lock = RunLock(scheduler_lock_target(inventory))
    try:
        lock.acquire()
    except RunLockHeld as exc:
        raise SchedulerRunning(inventory, exc.lock_file, exc.holder) from None
    try:
        yield
    finally:
        lock.release()
