"""``landslide-monitor status --config F``: where the monitor stands, read without writing.

For each configured region, the last run that covered it (date, run status, the region's data
status — ok, no-data or failed — with its message, setting and counts); the alert outbox's
backlog (pending alerts, the oldest pending one, dead ones); the landslides by review status;
whether a run is going on now (the run lock's holder); and the next scheduled run (the daily
job in the scheduler's job store, or, when no scheduler has run yet, the next fire of the
configured cron expression).

The inventory is opened read-only (SQLite ``mode=ro``), so ``status`` works while a run holds
the lock and never changes the file.

``status --check`` judges the same against limits (:class:`CheckLimits`), for a health check:
every configured region completed ok within ``--max-age`` hours, no alert pending longer than
``--max-pending-age`` minutes, at most ``--max-dead`` dead alerts (withdrawn ones not counted),
no alert waiting for its channel's settings (a secret's variable unset where it was
delivered), no region whose last run found its source stale (no acquisition in the post
window's last 15 days: ``source``), at least ``--min-free-mb`` free on the file systems of
the inventory and the quicklooks. It prints each limit that fails, naming the region or
alerts, and exits 1 when one does (the command worked; the monitor is not healthy), 0 when all
pass.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from apscheduler.triggers.base import BaseTrigger

from models.console import named_or_counted
from monitor import _geopackage as gpkg
from monitor.alerts.outbox import WAITING, Outbox
from monitor.config.operations import fires_from, last_fire_before
from monitor.errors import EXIT_FAILED, EXIT_OK, BadInput
from monitor.ops._args import add_config
from monitor.ops.schedule import next_scheduled_run, scheduler_lock_target
from monitor.sources.base import stale_note
from monitor.store.inventory import foreign_file, not_an_inventory
from monitor.store.landslides import LAYER
from monitor.store.lock import LockHolder, inventory_written, lock_holder

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = [
    "CheckFailure",
    "CheckLimits",
    "MonitorStatus",
    "RegionStatusLine",
    "check_status",
    "collect_status",
    "default_max_age_h",
]


@dataclass(frozen=True)
class RegionStatusLine:
    """The last run that covered one region."""

    region: str
    run_id: int | None = None
    run_date: str | None = None
    run_status: str | None = None  # running / ok / partial / failed / interrupted
    data_status: str | None = None  # the region's: pending / ok / no-data / failed
    message: str | None = None
    run_message: str | None = None  # why the run failed or stopped (runs.message)
    setting: str | None = None
    n_candidates: int | None = None
    n_new: int | None = None
    n_grown: int | None = None
    finished_at: str | None = None
    last_ok_run_date: str | None = None  # the last run in which the region itself was ok
    last_ok_finished_at: str | None = None  # when the last of those runs finished (UTC)


@dataclass(frozen=True)
class MonitorStatus:
    inventory: str
    inventory_exists: bool
    regions: list[RegionStatusLine]
    # when a command last ended with the inventory in place, where it is gone since (its lock)
    inventory_written: str | None = None
    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending_alert: str | None = None
    landslides: dict[str, int] = field(default_factory=dict)
    running: str | None = None  # the run lock's holder, when a run is going on
    scheduler: str | None = None  # the running scheduler (``schedule``), if any
    next_run: str | None = None
    next_run_overdue: bool = False  # the job store's next fire has passed: no scheduler?
    next_run_source: str = ""  # "job store" or "cron expression"
    schedule: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)

    def format(self) -> str:
        lines = [
            f"Inventory: {self.inventory}" + _absence(self.inventory_exists, self.inventory_written)
        ]
        lines.append(f"Running now: {self.running or 'no'}")
        lines.append(f"Scheduler: {self.scheduler or 'not running'}")
        overdue = " OVERDUE: is the scheduler running?" if self.next_run_overdue else ""
        lines.append(
            f"Next scheduled run: {self.next_run or 'none'}"
            + (f" (from the {self.next_run_source}; {self.schedule})" if self.next_run else "")
            + overdue
        )
        header = (
            f"{'region':<20} {'last run':<10} {'run':<11} {'data':<8} {'setting':<7} "
            f"{'cand.':>5} {'new':>4} {'grown':>5}  {'last ok':<10}"
        )
        lines += ["", header, "-" * len(header)]
        for r in self.regions:
            lines.append(
                f"{r.region:<20} {r.run_date or 'never':<10} {r.run_status or '-':<11} "
                f"{r.data_status or '-':<8} {r.setting or '-':<7} "
                f"{_n(r.n_candidates):>5} {_n(r.n_new):>4} {_n(r.n_grown):>5}  "
                f"{r.last_ok_run_date or '-':<10}"
            )
        for r in self.regions:
            if r.message and r.data_status != "ok":
                lines.append(f"  {r.region}: {r.data_status}: {r.message}")
            elif stale := _stale_source(r):  # ok on what the source holds (found on a walk: only
                lines.append(f"  {r.region}: {stale}")  # `status --check` said so)
            elif r.run_message and r.run_status in ("failed", "interrupted"):
                # found in a crash walkthrough: a run that failed on a full disk showed its
                # regions "pending" without a word of why
                lines.append(f"  {r.region}: run {r.run_status}: {r.run_message}")
        pending = self.outbox.get("pending", 0)
        lines.append("")
        lines.append(
            f"Alert outbox: {pending} pending"
            + (f" (oldest queued {self.oldest_pending_alert})" if pending else "")
            + f", {self.outbox.get('dead', 0)} dead, {self.outbox.get('sent', 0)} sent"
        )
        if self.landslides:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(self.landslides.items()))
            lines.append(f"Landslides: {counts}")
        return "\n".join(lines)


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _region_lines(conn: sqlite3.Connection, names: list[str]) -> list[RegionStatusLine]:
    lines = []
    for name in names:
        row = conn.execute(
            "SELECT r.run_id, r.run_date, r.status AS run_status, r.message AS run_message, "
            "r.finished_at, "
            "rr.status AS data_status, rr.message, rr.setting, rr.n_candidates, rr.n_new, "
            "rr.n_grown FROM run_regions rr JOIN runs r USING (run_id) "
            "WHERE rr.region = ? ORDER BY r.run_id DESC LIMIT 1",
            (name,),
        ).fetchone()
        # the date and end of one run: the latest of the region's ok runs to finish. Each was
        # a maximum of its own, and after a run of an earlier date (a backfill) the pair named
        # the newest date with the backfill's end (found on a walk)
        last_ok, last_ok_finished = conn.execute(
            "SELECT r.run_date, r.finished_at FROM run_regions rr JOIN runs r USING (run_id) "
            "WHERE rr.region = ? AND rr.status = 'ok' AND r.status IN ('ok', 'partial') "
            "ORDER BY r.finished_at DESC, r.run_id DESC LIMIT 1",
            (name,),
        ).fetchone() or (None, None)
        if row is None:
            lines.append(RegionStatusLine(region=name))
            continue
        lines.append(
            RegionStatusLine(
                region=name,
                last_ok_run_date=last_ok,
                last_ok_finished_at=last_ok_finished,
                **dict(row),
            )
        )
    return lines


def _ended(line: RegionStatusLine) -> RegionStatusLine:
    """A region of a run whose process died (SIGKILL, power loss) before recording its end."""
    return replace(
        line,
        run_status="interrupted",
        message=line.message
        or "the run's process ended before it finished; the next run records it as interrupted",
    )


@dataclass(frozen=True)
class _InventoryState:
    """What the inventory says (no job store read): its regions, outbox and landslides."""

    regions: list[RegionStatusLine]
    outbox: dict[str, int]
    oldest_pending_alert: str | None
    landslides: dict[str, int]
    holder: LockHolder | None


def _inventory_state(config: MonitorConfig) -> _InventoryState:
    """The inventory's part of the status: read-only, without the job store (``status
    --check`` runs where the job store's URL, a secret, is not in the environment)."""
    path = config.inventory.path
    names = [r.name for r in config.regions]
    regions = [RegionStatusLine(region=n) for n in names]
    outbox: dict[str, int] = {}
    oldest = None
    landslides: dict[str, int] = {}
    if path.exists():
        with gpkg.file_errors(path), closing(gpkg.connect_read_only(path)) as conn:
            tables = gpkg.table_names(conn)
            if (foreign := foreign_file(conn, path)) is not None:  # another program's file
                raise foreign
            if LAYER not in tables:  # an empty file, or an empty GeoPackage
                raise not_an_inventory(path)
            if {"runs", "run_regions"} <= tables:
                regions = _region_lines(conn, names)
            if "alert_outbox" in tables:
                outbox = {"pending": 0, "sent": 0, "dead": 0}
                for status, n in conn.execute(
                    "SELECT status, COUNT(*) FROM alert_outbox GROUP BY status"
                ):
                    outbox[status] = n
                oldest = conn.execute(
                    "SELECT MIN(created_at) FROM alert_outbox WHERE status = 'pending'"
                ).fetchone()[0]
            landslides = dict(conn.execute(f"SELECT status, COUNT(*) FROM {LAYER} GROUP BY status"))
    holder = lock_holder(path)
    if holder is None:  # a run row still 'running' with no process holding the lock was killed
        regions = [_ended(r) if r.run_status == "running" else r for r in regions]
    return _InventoryState(regions, outbox, oldest, landslides, holder)


def _fires_at(trigger: BaseTrigger, instant: datetime) -> bool:
    """Whether ``trigger`` fires at ``instant``: its fires walked in time from a day before,
    instants compared (found in a time-zone walkthrough: asked from a second before on the
    wall clock, inside a spring-forward's shifted hour, the cron gave tomorrow's fire, and
    `status` said the cron had changed)."""
    at = instant.astimezone(UTC)
    for fire in fires_from(trigger, at - timedelta(days=1)):
        if fire.astimezone(UTC) >= at:  # a time in a gap is never == across zones (PEP 495)
            return fire.astimezone(UTC) == at
    return False


def collect_status(config: MonitorConfig, now: datetime | None = None) -> MonitorStatus:
    """The monitor's status for ``config`` (see the module docstring)."""
    now = now or datetime.now(UTC)
    path = config.inventory.path
    state = _inventory_state(config)
    holder = state.holder
    scheduler = lock_holder(scheduler_lock_target(path))
    settings = config.schedule
    next_run = next_scheduled_run(settings.jobstore_for(path))
    if next_run is not None:  # read as a UTC instant: shown in the schedule's time zone
        next_run = next_run.astimezone(settings.trigger().timezone)
    source = "job store"
    overdue = next_run is not None and next_run < now
    if next_run is not None and not _fires_at(settings.trigger(), next_run):  # another cron
        source = (
            "job store, set under another cron: restart the scheduler to apply the configured one"
        )
    if next_run is None:
        next_run = settings.trigger().get_next_fire_time(None, now)
        source = "cron expression"
    return MonitorStatus(
        inventory=str(path),
        inventory_exists=path.exists(),
        inventory_written=None if path.exists() else inventory_written(path),
        regions=state.regions,
        outbox=state.outbox,
        oldest_pending_alert=state.oldest_pending_alert,
        landslides=state.landslides,
        running=holder.describe() if holder else None,
        scheduler=scheduler.describe() if scheduler else None,
        next_run=next_run.isoformat() if next_run else None,
        next_run_overdue=overdue,
        next_run_source=source,
        schedule=f"cron {settings.cron!r} in {settings.timezone}",
    )


# --------------------------------------------------------------------------- --check

#: At most this many alerts are named in one line of ``status --check``.
_NAMED = 10


@dataclass(frozen=True)
class CheckLimits:
    """The limits of ``status --check`` (its options' defaults: a daily run with a half-day's
    slack; alerts delivered every 5 minutes whose receivers may be down for an hour)."""

    max_age_h: float = 36.0  # --max-age: since the last run each region completed ok
    max_pending_age_min: float = 60.0  # --max-pending-age: since a pending alert was queued
    max_dead: int = 0  # --max-dead: dead alerts, withdrawn ones not counted
    # --min-free-mb: free space where runs write (a run of a 100 km² region writes about 8 MB
    # of COGs, operations.md "Disk space"; a full disk fails the inventory's update)
    min_free_mb: float = 1024.0


def _absence(exists: bool, written: str | None) -> str:
    """What the status line says of an inventory that is not there (nothing where it is)."""
    if exists:
        return ""
    return " (no run yet)" if written is None else f" ({_gone(written)})"


def _gone(written: str) -> str:
    """Of an inventory that is gone since a command ended with it in place on ``written``."""
    return (
        f"not there, but a command ended on {written} with it in place: deleted, moved, or "
        "its volume not mounted? runs are refused until it is back"
    )


@dataclass(frozen=True)
class CheckFailure:
    """One limit that fails: the option, what it fails for (``region R``, ``alert 12``), why."""

    limit: str
    subject: str
    message: str


def _parse_ts(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _about(row: dict[str, object]) -> str:
    return f"{row['channel']}, landslide {row['landslide_fid']} in {row['region']}"


def _ids(rows: list[dict[str, object]]) -> str:
    return named_or_counted([str(r["id"]) for r in rows], _NAMED)


#: The distinct errors of dead alerts ``status --check`` quotes; the others are counted.
_DEAD_ERRORS_QUOTED = 3


def _dead_message(dead: list[dict[str, object]], max_dead: int) -> str:
    """The ``--max-dead`` failure: each distinct error once, with the first alert that met it
    and the ids of the others (found in a walk: one refusal met by nine alerts was quoted nine
    times, in one line)."""
    by_error: dict[object, list[dict[str, object]]] = {}
    for row in dead:  # oldest first
        by_error.setdefault(row["last_error"], []).append(row)
    said = []
    for error, rows in list(by_error.items())[:_DEAD_ERRORS_QUOTED]:
        first, rest = rows[0], rows[1:]
        said.append(
            f"alert {first['id']} ({_about(first)}): {error}"
            + (f"; the same for alerts {_ids(rest)}" if rest else "")
        )
    others = sum(len(rows) for rows in list(by_error.values())[_DEAD_ERRORS_QUOTED:])
    if others:
        said.append(f"and {others} more with other errors")
    return (
        f"{len(dead)} dead alert(s), more than --max-dead {max_dead}: "
        + "; ".join(said)
        + ". `alerts list` shows them, `alerts retry --dead` re-queues them"
    )


def _region_failure(line: RegionStatusLine, limits: CheckLimits, now: datetime) -> str | None:
    if line.last_ok_finished_at is None:
        why = "no run has completed ok for it"
    else:
        age_h = (now - _parse_ts(line.last_ok_finished_at)).total_seconds() / 3600
        if age_h <= limits.max_age_h:
            return None
        why = (
            f"its last ok run ({line.last_ok_run_date}) finished {age_h:.1f} h ago, more than "
            f"--max-age {limits.max_age_h:g} h"
        )
    if line.run_date is not None and line.data_status != "ok":
        why += f"; its last run ({line.run_date}) was {line.run_status}, the region "
        why += f"{line.data_status}" + (f": {line.message}" if line.message else "")
    return why


def _stale_source(line: RegionStatusLine) -> str | None:
    """Where the region's last run found no acquisition in its post window's last
    :data:`~monitor.sources.base.STALE_DAYS` days: a daily export that stopped, which runs
    ``ok`` on what the source still holds (found on a walk: a health check passed it)."""
    if line.run_date is None or not line.message:
        return None
    said = stale_note(line.message)
    return f"its last run ({line.run_date}): {said}" if said else None


def check_status(
    config: MonitorConfig, limits: CheckLimits | None = None, now: datetime | None = None
) -> list[CheckFailure]:
    """The limits of ``status --check`` that ``config``'s monitor fails (none: healthy)."""
    limits = limits or CheckLimits()
    now = now or datetime.now(UTC)
    status = _inventory_state(config)  # not the job store: its URL may be a secret not here
    failures = []
    for line in status.regions:
        why = _region_failure(line, limits, now)
        if why is not None:
            failures.append(CheckFailure("--max-age", f"region {line.region}", why))
        stale = _stale_source(line)
        if stale is not None:
            failures.append(CheckFailure("source", f"region {line.region}", stale))
    failures += _disk_failures(config, limits)
    if not config.inventory.path.exists():
        if (written := inventory_written(config.inventory.path)) is not None:
            failures.append(CheckFailure("inventory", str(config.inventory.path), _gone(written)))
        return failures
    with Outbox(config.inventory.path, read_only=True) as box:
        pending, dead = box.rows("pending"), box.rows("dead", withdrawn=False)
    oldest = gpkg.timestamp(now - timedelta(minutes=limits.max_pending_age_min))
    late = sorted((r for r in pending if r["created_at"] < oldest), key=lambda r: r["created_at"])
    if late:
        first = late[0]
        age_min = (now - _parse_ts(first["created_at"])).total_seconds() / 60
        message = (
            f"{_about(first)}: pending since {first['created_at'][:19].replace('T', ' ')} UTC "
            f"({age_min:.0f} min), more than --max-pending-age {limits.max_pending_age_min:g} min"
            + (f"; its last error: {first['last_error']}" if first["last_error"] else "")
        )
        if len(late) > 1:
            message += f"; so have alerts {_ids(late[1:])}"
        failures.append(CheckFailure("--max-pending-age", f"alert {first['id']}", message))
    if len(dead) > limits.max_dead:
        failures.append(
            CheckFailure("--max-dead", f"alerts {_ids(dead)}", _dead_message(dead, limits.max_dead))
        )
    waiting: dict[str, list[dict[str, object]]] = {}
    for row in pending:
        if (row["last_error"] or "").startswith(WAITING):
            waiting.setdefault(row["channel"], []).append(row)
    for channel, rows in waiting.items():
        error = str(rows[0]["last_error"]).removeprefix(WAITING)
        failures.append(
            CheckFailure(
                "settings",
                f"alerts {_ids(rows)}",
                f"{len(rows)} alert(s) for {channel} wait for the channel's settings: {error}",
            )
        )
    return failures


def _disk_failures(config: MonitorConfig, limits: CheckLimits) -> list[CheckFailure]:
    """``--min-free-mb`` on the file systems of the inventory's and the quicklooks' folders
    (the nearest folder that exists: before the first run they may not)."""
    folders = [Path(config.inventory.path).parent]
    if config.quicklooks.enabled:
        folders.append(Path(config.quicklooks.dir))
    failures, seen = [], set()
    for folder in folders:
        try:
            existing = next(p for p in (folder, *folder.parents) if p.exists())
            device = existing.stat().st_dev
            if device in seen:
                continue
            seen.add(device)
            free_mb = shutil.disk_usage(existing).free / 1e6
        except OSError as exc:  # a folder above it this user may not enter: say so, judged
            why = f"its free space cannot be read ({exc.strerror or exc}: {exc.filename})"
            failures.append(CheckFailure("--min-free-mb", f"folder {folder}", why))
            continue
        if free_mb < limits.min_free_mb:
            message = (
                f"{free_mb:.0f} MB free on its file system, less than --min-free-mb "
                f"{limits.min_free_mb:g}; a run on a full disk fails its inventory update "
                "(quicklooks.keep_rasters_days deletes old COGs, keep_pictures_days old pictures "
                'nothing names: operations.md, "Disk space")'
            )
            failures.append(CheckFailure("--min-free-mb", f"folder {folder}", message))
    return failures


#: Hours a scheduled run may take, and be late by, before ``--max-age`` (unset) asks for it.
MAX_AGE_SLACK_H = 12.0


def default_max_age_h(config: MonitorConfig, now: datetime | None = None) -> float:
    """``--max-age`` where it is not given: 36 h (a daily run and half a day's slack), or, where
    longer, the hours since ``schedule.cron``'s last fire at least :data:`MAX_AGE_SLACK_H` before
    ``now``: each region's last ok run must have finished after that fire. A weekly schedule
    passes between its runs, one that leaves the winter out through its pause, and a failed
    run is caught 12 h after its fire as before (found on a walk: the check assumed daily
    runs; a first version of this widened the limit from the fire before a pause on, and
    passed a Friday whose run had failed)."""
    now = now or datetime.now(UTC)
    default = CheckLimits().max_age_h
    due = last_fire_before(config.schedule.trigger(), now - timedelta(hours=MAX_AGE_SLACK_H))
    if due is None:
        return default
    return max(default, (now - due.astimezone(UTC)).total_seconds() / 3600.0)


def _check_limits(args: argparse.Namespace) -> CheckLimits | None:
    """The limits the options give; None without ``--check`` (where a limit is refused)."""
    texts = {
        "--max-age": (args.max_age, float),
        "--max-pending-age": (args.max_pending_age, float),
        "--max-dead": (args.max_dead, int),
        "--min-free-mb": (args.min_free_mb, float),
    }
    for option, (text, _) in texts.items():
        if text is not None and not args.check:
            raise BadInput(f"{option} is a limit of `status --check`: give --check with it")
    given = {option: _limit(option, text, kind) for option, (text, kind) in texts.items()}
    for option, value in given.items():
        # NaN failed every region, inf overflowed a time span (found by an SRE's walk)
        if value is not None and not 0 <= value < _MOST_LIMIT:
            raise BadInput(f"{option} {value:g}: give a limit of 0 or more, a finite number")
    if not args.check:
        return None
    default = CheckLimits()
    max_age, max_pending_age, max_dead, min_free_mb = given.values()
    return CheckLimits(
        max_age_h=default.max_age_h if max_age is None else max_age,
        max_pending_age_min=(
            default.max_pending_age_min if max_pending_age is None else max_pending_age
        ),
        max_dead=default.max_dead if max_dead is None else int(max_dead),
        min_free_mb=default.min_free_mb if min_free_mb is None else min_free_mb,
    )


def _limit(option: str, text: str | None, kind: type[int] | type[float]) -> float | None:
    """The number ``text`` gives ``option``, or None where it is not given; read here, not by
    argparse, so that a mistyped limit under ``--json`` still prints JSON (found in a
    walkthrough: argparse's usage error left a monitoring system an empty document)."""
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        whole = "a whole number" if kind is int else "a number"
        raise BadInput(f"{option} {text!r}: give {whole}") from None


#: Above this a limit is no limit a check can hold (a span of hours or minutes beyond it
#: overflows Python's time spans; 1e9 hours are 114,000 years).
_MOST_LIMIT = 1e9


def _format_check(failures: list[CheckFailure], limits: CheckLimits, n_regions: int) -> str:
    if not failures:
        return (
            f"status check passed: {n_regions} region(s) completed ok within "
            f"{limits.max_age_h:g} h, no alert pending over {limits.max_pending_age_min:g} min, "
            f"dead alerts within {limits.max_dead}, none waiting for a channel's settings, "
            f"at least {limits.min_free_mb:g} MB free"
        )
    lines = [f"status check failed: {len(failures)} limit(s)"]
    lines += [f"  {f.limit}: {f.subject}: {f.message}" for f in failures]
    return "\n".join(lines)


def cli_configure(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    defaults = CheckLimits()
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the limits below and exit 1 when one fails, naming it (a health check)",
    )
    parser.add_argument(
        "--max-age",
        type=str,  # read by _limit
        default=None,
        metavar="HOURS",
        help="with --check: the most hours since each region's last run completed ok "
        f"(default {defaults.max_age_h:g}, or, where longer, the hours since schedule.cron's "
        f"last fire at least {MAX_AGE_SLACK_H:g} h ago: a weekly schedule, or months left out)",
    )
    parser.add_argument(
        "--max-pending-age",
        type=str,  # read by _limit
        default=None,
        metavar="MINUTES",
        help="with --check: the most minutes an alert may stay pending since it was queued "
        f"(default {defaults.max_pending_age_min:g})",
    )
    parser.add_argument(
        "--max-dead",
        type=str,  # read by _limit
        default=None,
        metavar="N",
        help="with --check: the most dead alerts, withdrawn ones not counted "
        f"(default {defaults.max_dead})",
    )
    parser.add_argument(
        "--min-free-mb",
        type=str,  # read by _limit
        default=None,
        metavar="MB",
        help="with --check: the least free space on the file systems of the inventory and "
        f"the quicklooks (default {defaults.min_free_mb:g})",
    )


def cli_run(args: argparse.Namespace) -> int:
    try:
        return _status(args)
    except Exception as exc:
        # --json's reader gets JSON whatever happened (found by an SRE's walk: a check that
        # could not run printed text alone); the error line and exit status follow as ever
        if args.json:
            said = {"error": f"{type(exc).__name__}: {exc}"}
            print(json.dumps({"healthy": False, **said} if args.check else said, indent=2))
        raise


def _status(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    limits = _check_limits(args)
    config = load_config(args.config)
    if limits is not None and args.max_age is None:
        limits = replace(limits, max_age_h=default_max_age_h(config))
    if limits is None:
        status = collect_status(config)
        print(status.to_json() if args.json else status.format())
        return EXIT_OK
    failures = check_status(config, limits)
    if args.json:
        checked = {"healthy": not failures, "limits": asdict(limits)}
        print(json.dumps({**checked, "failures": [asdict(f) for f in failures]}, indent=2))
    else:
        print(_format_check(failures, limits, len(config.regions)))
    return EXIT_FAILED if failures else EXIT_OK
