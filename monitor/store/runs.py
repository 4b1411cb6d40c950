"""Run bookkeeping in the inventory: the ``runs`` and ``run_regions`` tables.

A run is recorded ``running`` with its regions ``pending`` (:func:`start_run`), and ends either
in the transaction of the inventory update, ``ok``, ``partial`` (a region failed) or ``failed``
(all did) with per-region status, setting and counts (:func:`finish_run`), or ``failed`` /
``interrupted`` without anything of it written (:func:`fail_run`). A run still ``running`` when
the next one starts belonged to a process that died; it is marked ``interrupted``.

Functions take the inventory's connection; :class:`monitor.store.inventory.Inventory` calls
them, and the caller owns the transaction where a docstring says so.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from monitor import _geopackage as gpkg
from monitor.sources.base import Compositing, OrbitPass, Window
from monitor.store.records import (
    REGION_STATUSES,
    RUN_STATUSES,
    Changes,
    InventoryError,
    RegionDetections,
    RunStatus,
)

__all__ = [
    "ATTRIBUTE_TABLES",
    "RUN_REGIONS_ADDED_COLUMNS",
    "SCHEMA",
    "fail_run",
    "finish_run",
    "now_ts",
    "read_run_regions",
    "read_runs",
    "recorded_views",
    "regions_to_redo",
    "running_run",
    "start_run",
    "views_record",
]

log = logging.getLogger(__name__)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_date DATE NOT NULL,
  source TEXT NOT NULL,
  regions TEXT NOT NULL,
  config TEXT,
  model TEXT,
  status TEXT NOT NULL
    CHECK (status IN ({gpkg.sql_values(RUN_STATUSES)})),
  started_at DATETIME NOT NULL,
  finished_at DATETIME,
  n_new INTEGER, n_grown INTEGER, n_seen INTEGER, n_alerts INTEGER,
  message TEXT
);
CREATE TABLE IF NOT EXISTS run_regions (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  region TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ({gpkg.sql_values(("pending", *REGION_STATUSES))})),
  setting TEXT,
  message TEXT,
  n_candidates INTEGER, n_new INTEGER, n_grown INTEGER, n_seen INTEGER,
  views TEXT,
  PRIMARY KEY (run_id, region)
)
"""
#: Columns added to ``run_regions`` after its first release (an older inventory gets them on
#: opening for writing): ``views``, JSON of the views a region's run read (``pre`` and ``post``
#: windows as ``start/end``, compositing ``mode`` and ``radar_scenes``, ``orbit_pass``), from
#: which ``dataset from-reviews`` builds the scenes its reviewers judged again.
RUN_REGIONS_ADDED_COLUMNS: dict[str, str] = {"views": "TEXT"}


def views_record(
    pre: Window, post: Window, compositing: Compositing, orbit_pass: OrbitPass
) -> dict[str, Any]:
    """What ``run_regions.views`` records of the views a region's run read (JSON-ready)."""
    return {
        "pre": str(pre),
        "post": str(post),
        "mode": compositing.mode,
        "radar_scenes": compositing.radar_scenes,
        "orbit_pass": orbit_pass,
    }


def recorded_views(
    record: Mapping[str, Any],
) -> tuple[Window, Window, Compositing, OrbitPass | None]:
    """The windows, compositing and orbit pass :func:`views_record` recorded (the orbit pass
    None where it is not one)."""
    pre, post = (
        Window(*map(date.fromisoformat, str(record[w]).split("/"))) for w in ("pre", "post")
    )
    compositing = Compositing(record["mode"], radar_scenes=int(record["radar_scenes"]))
    orbit = record.get("orbit_pass")
    return pre, post, compositing, orbit if orbit in get_args(OrbitPass) else None


ATTRIBUTE_TABLES = {
    "runs": "monitoring runs: date, data source, status, counts",
    "run_regions": "per-region status of each run (ok, no-data, failed) and setting used",
}


def now_ts() -> str:
    """Now, as the inventory's DATETIME text."""
    return gpkg.timestamp(datetime.now(UTC))


def start_run(
    conn: sqlite3.Connection,
    run_date: date,
    regions: Sequence[str],
    source: str,
    config: str | None,
    model: str | None,
) -> int:
    """Record a run as ``running`` (in its own transaction); returns its id. Runs still
    ``running`` are marked ``interrupted`` first: the caller holds the run lock."""
    now = now_ts()
    with gpkg.transaction(conn):
        stale = conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, message = "
            "'the process ended before the inventory update; nothing of it was written' "
            "WHERE status = 'running'",
            (now,),
        ).rowcount
        if stale:
            log.warning("%d earlier run(s) had not finished; marked interrupted", stale)
        cursor = conn.execute(
            "INSERT INTO runs (run_date, source, regions, config, model, status, started_at) "
            "VALUES (?, ?, ?, ?, ?, 'running', ?)",
            (run_date.isoformat(), source, ",".join(regions), config, model, now),
        )
        run_id = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO run_regions (run_id, region, status) VALUES (?, ?, 'pending')",
            [(run_id, r) for r in regions],
        )
    return run_id


def fail_run(
    conn: sqlite3.Connection,
    run_id: int,
    message: str,
    status: Literal["failed", "interrupted"] = "failed",
) -> str:
    """Record that run ``run_id`` failed or was interrupted, rolling back a transaction the
    failure left open first; a run that already ended keeps its status (one that completed, a
    failure recorded already). Returns the run's status now: ``ok`` or ``partial`` where its
    update had committed."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    with gpkg.transaction(conn):
        conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, message = ? "
            "WHERE run_id = ? AND status = 'running'",
            (status, now_ts(), message, run_id),
        )
        row = conn.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return status if row is None else str(row[0])


def read_runs(conn: sqlite3.Connection) -> pd.DataFrame:
    """The runs table, newest first."""
    return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id DESC", conn)


def read_run_regions(conn: sqlite3.Connection, run_id: int | None = None) -> pd.DataFrame:
    """Per-region status of one run (or of all runs)."""
    if run_id is None:
        return pd.read_sql_query("SELECT * FROM run_regions ORDER BY run_id, region", conn)
    return pd.read_sql_query(
        "SELECT * FROM run_regions WHERE run_id = ? ORDER BY region", conn, params=(run_id,)
    )


def running_run(conn: sqlite3.Connection, run_id: int) -> sqlite3.Row:
    """The row of run ``run_id``; :class:`InventoryError` unless it exists and is running."""
    run: sqlite3.Row | None = conn.execute(
        "SELECT * FROM runs WHERE run_id = ?", (run_id,)
    ).fetchone()
    if run is None:
        raise InventoryError(f"run {run_id} does not exist; call start_run first")
    if run["status"] != "running":
        raise InventoryError(f"run {run_id} is {run['status']}, not running; start a new run")
    return run


def _candidates(det: RegionDetections) -> int:
    usable = det.status == "ok" and det.candidates is not None and not det.candidates.empty
    return len(det.candidates) if usable and det.candidates is not None else 0


def finish_run(
    conn: sqlite3.Connection, run_id: int, detections: Sequence[RegionDetections], changes: Changes
) -> None:
    """Record each region's status, setting and counts, and the run's outcome, inside the
    caller's transaction (the one that writes the landslides)."""
    candidates = {det.region: _candidates(det) for det in detections}
    kinds: dict[str, dict[str, int]] = {}
    for change in changes.changes:
        counts = kinds.setdefault(change.region, {})
        counts[change.kind] = counts.get(change.kind, 0) + 1
    for det in detections:
        counts = kinds.get(det.region, {})
        conn.execute(
            "INSERT INTO run_regions (run_id, region, status, setting, message, n_candidates, "
            "n_new, n_grown, n_seen, views) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (run_id, region) DO UPDATE SET status = excluded.status, "
            "setting = excluded.setting, message = excluded.message, "
            "n_candidates = excluded.n_candidates, n_new = excluded.n_new, "
            "n_grown = excluded.n_grown, n_seen = excluded.n_seen, views = excluded.views",
            (
                run_id,
                det.region,
                det.status,
                det.setting,
                det.message or None,
                candidates[det.region],
                counts.get("new", 0),
                counts.get("grown", 0),
                counts.get("seen", 0),
                json.dumps(det.views, sort_keys=True) if det.views else None,
            ),
        )
    statuses = [d.status for d in detections]
    failed = statuses.count("failed")
    status: RunStatus = (
        "failed" if statuses and failed == len(statuses) else "partial" if failed else "ok"
    )
    messages = [f"{d.region}: {d.message}" for d in detections if d.status == "failed"]
    conn.execute(
        "UPDATE runs SET status = ?, finished_at = ?, n_new = ?, n_grown = ?, n_seen = ?, "
        "n_alerts = ?, message = ? WHERE run_id = ?",
        (
            status,
            now_ts(),
            len(changes.new),
            len(changes.grown),
            len(changes.seen),
            changes.alerts_queued,
            "; ".join(messages) or None,
            run_id,
        ),
    )


def regions_to_redo(
    inventory: str | os.PathLike[str], day: date, regions: Sequence[str]
) -> list[str]:
    """Those of ``regions`` that no run of ``day`` completed, in their order: failed in every
    run of that day that named them, stopped with their run, or never run (``run
    --redo-failed``: found in a walkthrough of 37 regions, a rerun of a day one region had
    failed computed all 37 again). A region completed ``ok`` or ``no-data``; a completed run
    without per-region records (written before them) completed every region, as the
    scheduler's ledger counts it. Read-only; every region where there is no inventory."""
    path = Path(inventory)
    if not path.exists():
        return list(regions)
    with gpkg.file_errors(path), closing(gpkg.connect_read_only(path, timeout_s=10.0)) as conn:
        tables = gpkg.table_names(conn)
        if "runs" not in tables:
            return list(regions)
        completed = "r.status IN ('ok', 'partial') AND substr(r.run_date, 1, 10) = ?"
        if "run_regions" not in tables:
            whole = conn.execute(f"SELECT 1 FROM runs r WHERE {completed}", (day.isoformat(),))
            return [] if whole.fetchone() else list(regions)
        unrecorded = conn.execute(
            f"SELECT 1 FROM runs r WHERE {completed} AND NOT EXISTS "
            "(SELECT 1 FROM run_regions rr WHERE rr.run_id = r.run_id)",
            (day.isoformat(),),
        ).fetchone()
        if unrecorded:
            return []
        done = {
            str(region)
            for (region,) in conn.execute(
                "SELECT DISTINCT rr.region FROM run_regions rr JOIN runs r ON rr.run_id = "
                f"r.run_id WHERE rr.status IN ('ok', 'no-data') AND {completed}",
                (day.isoformat(),),
            )
        }
    return [r for r in regions if r not in done]
