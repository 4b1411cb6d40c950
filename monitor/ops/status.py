"""``landslide-monitor status --config F``: where the monitor stands, read without writing.

For each configured region, the last run that covered it (date, run status, the region's data
status — ok, no-data or failed — with its message, setting and counts); the alert outbox's
backlog (pending alerts, the oldest pending one, dead ones); the landslides by review status;
whether a run is going on now (the run lock's holder); and the next scheduled run (the daily
job in the scheduler's job store, or, when no scheduler has run yet, the next fire of the
configured cron expression).

The inventory is opened read-only (SQLite ``mode=ro``), so ``status`` works while a run holds
the lock and never changes the file.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from monitor import _geopackage as gpkg
from monitor.ops._args import add_config
from monitor.ops.schedule import next_scheduled_run, scheduler_lock_target
from monitor.store.inventory import not_an_inventory
from monitor.store.landslides import LAYER
from monitor.store.lock import lock_holder

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = ["MonitorStatus", "RegionStatusLine", "collect_status"]


@dataclass(frozen=True)
class RegionStatusLine:
    """The last run that covered one region."""

    region: str
    run_id: int | None = None
    run_date: str | None = None
    run_status: str | None = None  # running / ok / partial / failed / interrupted
    data_status: str | None = None  # the region's: pending / ok / no-data / failed
    message: str | None = None
    setting: str | None = None
    n_candidates: int | None = None
    n_new: int | None = None
    n_grown: int | None = None
    finished_at: str | None = None
    last_ok_run_date: str | None = None  # the last run in which the region itself was ok


@dataclass(frozen=True)
class MonitorStatus:
    inventory: str
    inventory_exists: bool
    regions: list[RegionStatusLine]
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
            f"Inventory: {self.inventory}" + ("" if self.inventory_exists else " (no run yet)")
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


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _region_lines(conn: sqlite3.Connection, names: list[str]) -> list[RegionStatusLine]:
    lines = []
    for name in names:
        row = conn.execute(
            "SELECT r.run_id, r.run_date, r.status AS run_status, r.finished_at, "
            "rr.status AS data_status, rr.message, rr.setting, rr.n_candidates, rr.n_new, "
            "rr.n_grown FROM run_regions rr JOIN runs r USING (run_id) "
            "WHERE rr.region = ? ORDER BY r.run_id DESC LIMIT 1",
            (name,),
        ).fetchone()
        last_ok = conn.execute(
            "SELECT MAX(r.run_date) FROM run_regions rr JOIN runs r USING (run_id) "
            "WHERE rr.region = ? AND rr.status = 'ok' AND r.status IN ('ok', 'partial')",
            (name,),
        ).fetchone()[0]
        if row is None:
            lines.append(RegionStatusLine(region=name))
            continue
        lines.append(RegionStatusLine(region=name, last_ok_run_date=last_ok, **dict(row)))
    return lines


def _ended(line: RegionStatusLine) -> RegionStatusLine:
    """A region of a run whose process died (SIGKILL, power loss) before recording its end."""
    return replace(
        line,
        run_status="interrupted",
        message=line.message
        or "the run's process ended before it finished; the next run records it as interrupted",
    )


def collect_status(config: MonitorConfig, now: datetime | None = None) -> MonitorStatus:
    """The monitor's status for ``config`` (see the module docstring)."""
    now = now or datetime.now(UTC)
    path = config.inventory.path
    names = [r.name for r in config.regions]
    regions = [RegionStatusLine(region=n) for n in names]
    outbox: dict[str, int] = {}
    oldest = None
    landslides: dict[str, int] = {}
    if path.exists():
        with gpkg.file_errors(path), closing(gpkg.connect_read_only(path)) as conn:
            tables = _tables(conn)
            if LAYER not in tables:  # an empty file, or another tool's GeoPackage
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
    scheduler = lock_holder(scheduler_lock_target(path))
    settings = config.schedule
    next_run = next_scheduled_run(settings.jobstore_for(path))
    source = "job store"
    overdue = next_run is not None and next_run < now
    if next_run is not None:
        fires = settings.trigger().get_next_fire_time(None, next_run - timedelta(seconds=1))
        if fires != next_run:  # stored by a scheduler started with another cron
            source = (
                "job store, set under another cron: restart the scheduler to apply the "
                "configured one"
            )
    if next_run is None:
        next_run = settings.trigger().get_next_fire_time(None, now)
        source = "cron expression"
    return MonitorStatus(
        inventory=str(path),
        inventory_exists=path.exists(),
        regions=regions,
        outbox=outbox,
        oldest_pending_alert=oldest,
        landslides=landslides,
        running=holder.describe() if holder else None,
        scheduler=scheduler.describe() if scheduler else None,
        next_run=next_run.isoformat() if next_run else None,
        next_run_overdue=overdue,
        next_run_source=source,
        schedule=f"cron {settings.cron!r} in {settings.timezone}",
    )


def cli_configure(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def cli_run(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    status = collect_status(load_config(args.config))
    print(status.to_json() if args.json else status.format())
    return 0
