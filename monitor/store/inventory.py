"""The landslide inventory: a GeoPackage updated once per run, in one SQLite transaction.

Tables (all listed in ``gpkg_contents``, so QGIS shows them):

- ``landslides`` — features, MULTIPOLYGON in EPSG:4326, one row per landslide; the footprint in
  the region's metric grid CRS is kept as WKB in ``local_wkb`` with its ``local_epsg``;
- ``landslide_observations`` — one row per landslide and run date (new / grown / seen);
- ``runs`` and ``run_regions`` — what ran, on which data, with what status, per region;
- ``alert_outbox`` — alerts waiting for delivery (:mod:`monitor.alerts.outbox`).

**Same landslide.** A detection is the same landslide as a known one when, in a metric CRS (the
known landslide's local UTM grid), they lie within ``match_tolerance_m`` of each other (default
10 m = one pixel: simplification and sub-pixel misregistration between dates). A detection
touching several known landslides updates the one it overlaps most; several detections touching
one landslide all update it. A match updates the landslide — footprint := union of old and new,
``last_seen``, ``times_seen`` (distinct run dates) — and never adds a row.

**Grown.** The footprint's area exceeds the area at its last revision by more than
``grow_fraction`` (default 10 %) *and* by more than ``grow_min_m2`` (default 200 m², two
pixels); the revision then goes up by one and the detection's attributes and bracketing dates
replace the old ones. Comparing with the last revision, not the last run, means slow creep is
still reported once it adds up.

**Alerts** are queued for new and grown landslides only (never for ``seen``, never for
``dismissed`` ones), one outbox row per channel of the region, in the same transaction.

**Idempotence.** Re-applying a run date already applied adds no row, raises no ``times_seen``
and queues no alert: the detections match the landslides they created and do not grow them.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from monitor import _geopackage as gpkg
from monitor.alerts import outbox
from monitor.alerts.payload import build_payload
from monitor.alerts.settings import AlertRouting
from monitor.grid import reproject

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "Change",
    "Changes",
    "Inventory",
    "InventoryError",
    "LandslideStatus",
    "RegionDetections",
]

log = logging.getLogger(__name__)

LandslideStatus = Literal["candidate", "confirmed", "dismissed"]
RegionStatus = Literal["ok", "no-data", "failed"]
ChangeKind = Literal["new", "grown", "seen"]

_STATUSES: tuple[str, ...] = ("candidate", "confirmed", "dismissed")
_MEAN_COLUMNS = ("prob_mean", "agreement", "dNDVI_mean", "dVV_mean", "dVH_mean", "slope_mean")
# Detection attributes stored on the landslide (docs/DESIGN.md), replaced on new and grown.
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    *_MEAN_COLUMNS,
    "prob_max",
    "setting",
    "pre_date",
    "post_date",
)

_LAYER = "landslides"
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {_LAYER} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT,
  geom MULTIPOLYGON NOT NULL,
  uid TEXT NOT NULL UNIQUE,
  region TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'candidate'
    CHECK (status IN ('candidate', 'confirmed', 'dismissed')),
  first_seen DATE NOT NULL,
  last_seen DATE NOT NULL,
  times_seen INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  area_m2 REAL NOT NULL,
  revision_area_m2 REAL NOT NULL,
  prob_mean REAL, prob_max REAL, agreement REAL,
  dNDVI_mean REAL, dVV_mean REAL, dVH_mean REAL, slope_mean REAL,
  setting TEXT, pre_date DATE, post_date DATE,
  quicklook TEXT,
  local_epsg INTEGER NOT NULL,
  local_wkb BLOB NOT NULL,
  first_run_id INTEGER REFERENCES runs(run_id),
  last_run_id INTEGER REFERENCES runs(run_id),
  status_changed_at DATETIME,
  updated_at DATETIME NOT NULL
);
CREATE TABLE IF NOT EXISTS landslide_observations (
  landslide_fid INTEGER NOT NULL REFERENCES {_LAYER}(fid),
  run_date DATE NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  kind TEXT NOT NULL CHECK (kind IN ('new', 'grown', 'seen')),
  area_m2 REAL NOT NULL,
  PRIMARY KEY (landslide_fid, run_date)
);
CREATE TABLE IF NOT EXISTS runs (
  run_id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_date DATE NOT NULL,
  source TEXT NOT NULL,
  regions TEXT NOT NULL,
  config TEXT,
  model TEXT,
  status TEXT NOT NULL
    CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
  started_at DATETIME NOT NULL,
  finished_at DATETIME,
  n_new INTEGER, n_grown INTEGER, n_seen INTEGER, n_alerts INTEGER,
  message TEXT
);
CREATE TABLE IF NOT EXISTS run_regions (
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  region TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'no-data', 'failed')),
  setting TEXT,
  message TEXT,
  n_candidates INTEGER, n_new INTEGER, n_grown INTEGER, n_seen INTEGER,
  PRIMARY KEY (run_id, region)
)
"""
_ATTRIBUTE_TABLES = {
    "landslide_observations": "each landslide's detections, one per run date",
    "runs": "monitoring runs: date, data source, status, counts",
    "run_regions": "per-region status of each run (ok, no-data, failed) and setting used",
}


class InventoryError(RuntimeError):
    """A request the inventory cannot honour (names the run, landslide or region)."""


@dataclass
class RegionDetections:
    """One region's outcome of a run, as ``monitor.run.detect_region`` builds it.

    ``candidates`` is a GeoDataFrame in the region's grid CRS with the columns of
    ``monitor.pipeline.vectorise.CANDIDATE_COLUMNS`` and, when rendered, a ``quicklook`` path
    column.
    ``status`` is ``no-data`` when the source had nothing usable, ``failed`` on an error
    (``message`` says which); then ``candidates`` may be None."""

    region: str
    status: RegionStatus = "ok"
    message: str = ""
    setting: str | None = None
    candidates: gpd.GeoDataFrame | None = None

    def __post_init__(self) -> None:
        if self.status not in ("ok", "no-data", "failed"):
            raise InventoryError(
                f"region {self.region!r}: status {self.status!r} is not ok, no-data or failed"
            )


@dataclass(frozen=True)
class Change:
    """What a run did to one landslide."""

    fid: int
    uid: str
    region: str
    kind: ChangeKind
    area_m2: float
    previous_area_m2: float | None
    alerts_queued: int = 0


@dataclass
class Changes:
    """The outcome of :meth:`Inventory.apply`."""

    run_id: int
    run_date: date
    changes: list[Change] = field(default_factory=list)
    regions: dict[str, str] = field(default_factory=dict)

    def _of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def new(self) -> list[Change]:
        return self._of("new")

    @property
    def grown(self) -> list[Change]:
        return self._of("grown")

    @property
    def seen(self) -> list[Change]:
        return self._of("seen")

    @property
    def alerts_queued(self) -> int:
        return sum(c.alerts_queued for c in self.changes)

    def __str__(self) -> str:
        return (
            f"run {self.run_id} ({self.run_date}): {len(self.new)} new, {len(self.grown)} grown, "
            f"{len(self.seen)} seen; {self.alerts_queued} alerts queued"
        )


def _multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    geometry = shapely.make_valid(geometry)
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    polygons = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    for part in getattr(geometry, "geoms", []):
        if isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    return MultiPolygon(polygons)


def _iso_date(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return date.fromisoformat(str(value)[:10]).isoformat()


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _now_ts() -> str:
    return gpkg.timestamp(datetime.now(UTC))


@dataclass(eq=False)
class _Known:
    """A landslide while an ``apply`` runs (loaded, or created earlier in the same run)."""

    fid: int | None
    uid: str
    region: str
    status: str
    epsg: int
    local: BaseGeometry
    area_m2: float
    revision_area_m2: float
    revision: int
    first_seen: str
    last_seen: str
    times_seen: int
    wgs84_bounds: BaseGeometry | None = None  # envelope in lon/lat, for the coarse search
    matches: list[tuple[BaseGeometry, dict[str, Any]]] = field(default_factory=list)
    created_now: bool = False
    slot: int = -1  # position among the landslides created by this apply


class _GridIndex:
    """Lon/lat grid buckets of the landslides created during one ``apply`` (an STRtree cannot
    grow); cells of ``cell_deg`` degrees."""

    def __init__(self, cell_deg: float = 0.01) -> None:
        self.cell = cell_deg
        self.cells: dict[tuple[int, int], set[int]] = {}

    def _keys(self, bounds: tuple[float, float, float, float]) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = (int(np.floor(v / self.cell)) for v in bounds)
        return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]

    def insert(self, slot: int, bounds: tuple[float, float, float, float]) -> None:
        for key in self._keys(bounds):
            self.cells.setdefault(key, set()).add(slot)

    def query(self, bounds: tuple[float, float, float, float]) -> set[int]:
        found: set[int] = set()
        for key in self._keys(bounds):
            found |= self.cells.get(key, set())
        return found


class Inventory:
    """The GeoPackage inventory at ``path`` (created on first use)."""

    def __init__(
        self,
        path: str | Path,
        *,
        match_tolerance_m: float = 10.0,
        grow_fraction: float = 0.10,
        grow_min_m2: float = 200.0,
    ) -> None:
        if match_tolerance_m < 0 or grow_fraction < 0 or grow_min_m2 < 0:
            raise ValueError("match_tolerance_m, grow_fraction and grow_min_m2 must be >= 0")
        self.path = Path(path)
        self.match_tolerance_m = match_tolerance_m
        self.grow_fraction = grow_fraction
        self.grow_min_m2 = grow_min_m2
        self._conn = gpkg.connect(self.path, what="inventory")
        with gpkg.file_errors(self.path), gpkg.transaction(self._conn):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            gpkg.register_features(
                self._conn, _LAYER, "geom", "MULTIPOLYGON", 4326, "landslide inventory"
            )
            for table, text in _ATTRIBUTE_TABLES.items():
                gpkg.register_attributes(self._conn, table, text)
            outbox.create_table(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Inventory:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        """Close; an SQLite error of the file met inside the ``with`` block (a page found
        damaged, a read-only file) leaves as :class:`monitor.errors.DatabaseFileError` naming
        the inventory."""
        self.close()
        if isinstance(exc, sqlite3.DatabaseError):
            with gpkg.file_errors(self.path):
                raise exc

    def outbox(self) -> outbox.Outbox:
        """The alert outbox stored in this GeoPackage."""
        return outbox.Outbox(self.path)

    # -- runs -----------------------------------------------------------------------------------

    def start_run(
        self,
        run_date: date,
        regions: Sequence[str],
        source: str,
        *,
        config: str | None = None,
        model: str | None = None,
    ) -> int:
        """Record a run as ``running``; returns its id. Runs still ``running`` from an earlier
        process (killed before :meth:`apply` committed) are marked ``interrupted``: the caller
        holds the run lock (``monitor.store.lock``), so no other run can be live."""
        now = _now_ts()
        with gpkg.transaction(self._conn):
            stale = self._conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?, message = "
                "'the process ended before the inventory update; nothing of it was written' "
                "WHERE status = 'running'",
                (now,),
            ).rowcount
            if stale:
                log.warning("%d earlier run(s) had not finished; marked interrupted", stale)
            cursor = self._conn.execute(
                "INSERT INTO runs (run_date, source, regions, config, model, status, started_at) "
                "VALUES (?, ?, ?, ?, ?, 'running', ?)",
                (run_date.isoformat(), source, ",".join(regions), config, model, now),
            )
            run_id = int(cursor.lastrowid or 0)
            self._conn.executemany(
                "INSERT INTO run_regions (run_id, region, status) VALUES (?, ?, 'pending')",
                [(run_id, r) for r in regions],
            )
        return run_id

    def fail_run(
        self, run_id: int, message: str, status: Literal["failed", "interrupted"] = "failed"
    ) -> None:
        """Record that run ``run_id`` failed, or was interrupted (SIGTERM, SIGINT), before or
        during :meth:`apply`. A transaction the failure left open is rolled back first, so
        nothing of the run is written; a run that already completed keeps its status."""
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")
        with gpkg.transaction(self._conn):
            self._conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, message = ? "
                "WHERE run_id = ? AND status = 'running'",
                (status, _now_ts(), message, run_id),
            )

    def runs(self) -> pd.DataFrame:
        """The runs table, newest first."""
        return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id DESC", self._conn)

    def run_regions(self, run_id: int | None = None) -> pd.DataFrame:
        """Per-region status of one run (or of all runs)."""
        if run_id is None:
            return pd.read_sql_query(
                "SELECT * FROM run_regions ORDER BY run_id, region", self._conn
            )
        return pd.read_sql_query(
            "SELECT * FROM run_regions WHERE run_id = ? ORDER BY region",
            self._conn,
            params=(run_id,),
        )

    # -- the update -----------------------------------------------------------------------------

    def apply(
        self,
        run_id: int,
        detections: Sequence[RegionDetections],
        routing: AlertRouting | None = None,
        *,
        now: datetime | None = None,
    ) -> Changes:
        """Merge one run's detections into the inventory and queue its alerts, atomically.

        Landslides, observations, the run's status (``ok``; ``partial`` when a region failed;
        ``failed`` when all did), per-region status and the outbox rows are written in ONE
        transaction: on any error nothing of it is written, the run is marked ``failed`` and
        the error is raised again."""
        now = now or datetime.now(UTC)
        try:
            with gpkg.transaction(self._conn):
                changes = self._apply(run_id, detections, routing or AlertRouting(), now)
        except Exception as exc:
            self.fail_run(run_id, f"inventory update failed: {type(exc).__name__}: {exc}")
            raise
        log.info("%s", changes)
        return changes

    def _apply(
        self,
        run_id: int,
        detections: Sequence[RegionDetections],
        routing: AlertRouting,
        now: datetime,
    ) -> Changes:
        run = self._conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if run is None:
            raise InventoryError(f"run {run_id} does not exist; call start_run first")
        if run["status"] != "running":
            raise InventoryError(f"run {run_id} is {run['status']}, not running; start a new run")
        run_date = date.fromisoformat(run["run_date"])
        changes = Changes(run_id=run_id, run_date=run_date)
        known = self._load_known()
        tree = shapely.STRtree([k.wgs84_bounds for k in known]) if known else None
        created: list[_Known] = []
        created_index = _GridIndex()
        region_counts: dict[str, dict[str, int]] = {}

        for det in detections:
            changes.regions[det.region] = det.status
            count = {"candidates": 0}
            region_counts[det.region] = count
            if det.status != "ok" or det.candidates is None or det.candidates.empty:
                continue
            epsg = _epsg_of(det)
            count["candidates"] = len(det.candidates)
            attributes = pd.DataFrame(det.candidates.drop(columns=det.candidates.geometry.name))
            for geometry, row in zip(
                det.candidates.geometry, attributes.to_dict("records"), strict=True
            ):
                if geometry is None or geometry.is_empty:
                    continue
                geometry = _multipolygon(geometry)
                window = self._search_window(geometry, epsg)
                target = self._match(geometry, epsg, window, known, tree, created, created_index)
                if target is None:
                    target = _Known(
                        fid=None,
                        uid=str(uuid.uuid4()),
                        region=det.region,
                        status="candidate",
                        epsg=epsg,
                        local=MultiPolygon(),
                        area_m2=0.0,
                        revision_area_m2=0.0,
                        revision=0,
                        first_seen=run_date.isoformat(),
                        last_seen=run_date.isoformat(),
                        times_seen=0,
                        created_now=True,
                        slot=len(created),
                    )
                    created.append(target)
                own = reproject(geometry, epsg, target.epsg)
                target.matches.append((own, row))
                if target.created_now:  # its footprint so far, for the next candidates
                    target.local = shapely.union(target.local, own)
                    created_index.insert(target.slot, window.bounds)

        touched = [k for k in (*known, *created) if k.matches]
        run_info = {"id": run_id, "date": run_date, "source": run["source"]}
        for item in touched:
            change = self._write(item, run_id, run_date, routing, run_info, now)
            changes.changes.append(change)
            counts = region_counts.setdefault(item.region, {"candidates": 0})
            counts[change.kind] = counts.get(change.kind, 0) + 1

        for det in detections:
            counts = region_counts[det.region]
            self._conn.execute(
                "INSERT INTO run_regions (run_id, region, status, setting, message, n_candidates, "
                "n_new, n_grown, n_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (run_id, region) DO UPDATE SET status = excluded.status, "
                "setting = excluded.setting, message = excluded.message, "
                "n_candidates = excluded.n_candidates, n_new = excluded.n_new, "
                "n_grown = excluded.n_grown, n_seen = excluded.n_seen",
                (
                    run_id,
                    det.region,
                    det.status,
                    det.setting,
                    det.message or None,
                    counts["candidates"],
                    counts.get("new", 0),
                    counts.get("grown", 0),
                    counts.get("seen", 0),
                ),
            )
        statuses = [d.status for d in detections]
        failed = statuses.count("failed")
        status = "failed" if statuses and failed == len(statuses) else "partial" if failed else "ok"
        messages = [f"{d.region}: {d.message}" for d in detections if d.status == "failed"]
        self._conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, n_new = ?, n_grown = ?, n_seen = ?, "
            "n_alerts = ?, message = ? WHERE run_id = ?",
            (
                status,
                _now_ts(),
                len(changes.new),
                len(changes.grown),
                len(changes.seen),
                changes.alerts_queued,
                "; ".join(messages) or None,
                run_id,
            ),
        )
        gpkg.touch_contents(self._conn, _LAYER, self._extent())
        return changes

    def _load_known(self) -> list[_Known]:
        rows = self._conn.execute(
            "SELECT fid, uid, region, status, local_epsg, local_wkb, geom, area_m2, "
            f"revision_area_m2, revision, first_seen, last_seen, times_seen FROM {_LAYER} "
            "ORDER BY fid"
        ).fetchall()
        return [
            _Known(
                fid=r["fid"],
                uid=r["uid"],
                region=r["region"],
                status=r["status"],
                epsg=r["local_epsg"],
                local=shapely.from_wkb(r["local_wkb"]),
                area_m2=r["area_m2"],
                revision_area_m2=r["revision_area_m2"],
                revision=r["revision"],
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
                times_seen=r["times_seen"],
                wgs84_bounds=shapely.box(*gpkg.envelope(r["geom"])),
            )
            for r in rows
        ]

    def _search_window(self, geometry: BaseGeometry, epsg: int) -> BaseGeometry:
        """Lon/lat box around ``geometry`` padded by the tolerance (taken generously)."""
        west, south, east, north = reproject(geometry, epsg, 4326).bounds
        lat = min(max(abs(south), abs(north)), 89.0)
        pad = 2.0 * self.match_tolerance_m / (111_000.0 * max(np.cos(np.radians(lat)), 0.01))
        return shapely.box(west - pad, south - pad, east + pad, north + pad)

    def _match(
        self,
        geometry: BaseGeometry,
        epsg: int,
        window: BaseGeometry,
        known: list[_Known],
        tree: shapely.STRtree | None,
        created: list[_Known],
        created_index: _GridIndex,
    ) -> _Known | None:
        """The landslide ``geometry`` (in EPSG ``epsg``) belongs to, or None when it is new.

        Coarse search on lon/lat envelopes inside ``window``, then the exact test in metres."""
        tol = self.match_tolerance_m
        pool: list[_Known] = []
        if tree is not None:
            pool.extend(known[i] for i in tree.query(window, predicate="intersects"))
        pool.extend(created[i] for i in sorted(created_index.query(window.bounds)))
        best: _Known | None = None
        best_overlap = -1.0
        grown = geometry.buffer(tol)
        for item in pool:
            local = reproject(item.local, item.epsg, epsg)
            if not shapely.dwithin(local, geometry, tol):
                continue
            overlap = local.intersection(grown).area
            if overlap > best_overlap:
                best, best_overlap = item, overlap
        return best

    def _extent(self) -> tuple[float, float, float, float] | None:
        blobs = [r[0] for r in self._conn.execute(f"SELECT geom FROM {_LAYER}")]
        if not blobs:
            return None
        bounds = np.array([gpkg.envelope(b) for b in blobs])  # from the blob headers
        return (
            float(bounds[:, 0].min()),
            float(bounds[:, 1].min()),
            float(bounds[:, 2].max()),
            float(bounds[:, 3].max()),
        )

    def _write(
        self,
        item: _Known,
        run_id: int,
        run_date: date,
        routing: AlertRouting,
        run_info: dict[str, Any],
        now: datetime,
    ) -> Change:
        geometries = [g for g, _ in item.matches]
        local = _multipolygon(shapely.union_all([item.local, *geometries]))
        area = float(local.area)
        today = run_date.isoformat()
        first_time_today = today not in self._observed_dates(item)
        if item.created_now:
            kind: ChangeKind = "new"
        elif area > item.revision_area_m2 + max(
            self.grow_fraction * item.revision_area_m2, self.grow_min_m2
        ):
            kind = "grown"
        else:
            kind = "seen"
        times_seen = item.times_seen + (1 if first_time_today else 0)
        wgs84 = _multipolygon(reproject(local, item.epsg, 4326))
        values: dict[str, Any] = {
            "geom": gpkg.encode_geometry(wgs84, 4326),
            "local_wkb": shapely.to_wkb(local),
            "area_m2": area,
            "last_seen": max(item.last_seen, today),
            "first_seen": min(item.first_seen, today),
            "times_seen": times_seen,
            "last_run_id": run_id,
            "updated_at": _now_ts(),
        }
        if kind in ("new", "grown"):
            values.update(_detection_attributes(item.matches))
            values["revision"] = item.revision + 1
            values["revision_area_m2"] = area
        if item.fid is None:
            values.update(
                uid=item.uid,
                region=item.region,
                status="candidate",
                local_epsg=item.epsg,
                first_run_id=run_id,
            )
            columns = ", ".join(values)
            marks = ", ".join("?" for _ in values)
            cursor = self._conn.execute(
                f"INSERT INTO {_LAYER} ({columns}) VALUES ({marks})", tuple(values.values())
            )
            item.fid = int(cursor.lastrowid or 0)
        else:
            assignments = ", ".join(f"{c} = ?" for c in values)
            self._conn.execute(
                f"UPDATE {_LAYER} SET {assignments} WHERE fid = ?", (*values.values(), item.fid)
            )
        self._conn.execute(
            "INSERT INTO landslide_observations (landslide_fid, run_date, run_id, kind, area_m2) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (landslide_fid, run_date) DO UPDATE SET "
            "kind = CASE WHEN excluded.kind = 'seen' THEN kind ELSE excluded.kind END, "
            "area_m2 = excluded.area_m2, run_id = excluded.run_id",
            (item.fid, today, run_id, kind, area),
        )
        queued = 0
        if kind != "seen" and item.status != "dismissed":
            queued = self._enqueue(item, kind, wgs84, routing, run_info, now)
        previous = None if item.created_now else item.area_m2
        return Change(item.fid, item.uid, item.region, kind, area, previous, queued)

    def _observed_dates(self, item: _Known) -> set[str]:
        if item.fid is None:
            return set()
        rows = self._conn.execute(
            "SELECT run_date FROM landslide_observations WHERE landslide_fid = ?", (item.fid,)
        )
        return {r[0] for r in rows}

    def _enqueue(
        self,
        item: _Known,
        kind: ChangeKind,
        wgs84: BaseGeometry,
        routing: AlertRouting,
        run_info: dict[str, Any],
        now: datetime,
    ) -> int:
        row = dict(
            self._conn.execute(f"SELECT * FROM {_LAYER} WHERE fid = ?", (item.fid,)).fetchone()
        )
        row["previous_area_m2"] = None if item.created_now else item.revision_area_m2
        event = "landslide.new" if kind == "new" else "landslide.grown"
        channels = routing.channels_for(item.region)
        if not channels:
            return 0
        base = build_payload(
            idempotency_key="",
            event=event,
            created_at=now,
            run=run_info,
            landslide=row,
            geometry_wgs84=wgs84,
            quicklook=row["quicklook"],
        )

        def payload_for(key: str) -> dict[str, Any]:
            return {**base, "idempotency_key": key}

        queued = 0
        for channel in channels:
            queued += outbox.enqueue(
                self._conn,
                channel=channel,
                event=event,
                landslide_uid=item.uid,
                landslide_fid=int(item.fid or 0),
                revision=int(row["revision"]),
                region=item.region,
                run_id=int(run_info["id"]),
                payload_for=payload_for,
                quicklook=row["quicklook"],
                now=now,
            )
        return queued

    # -- reading and reviewing ------------------------------------------------------------------

    def landslides(
        self, *, region: str | None = None, status: LandslideStatus | None = None
    ) -> gpd.GeoDataFrame:
        """The inventory layer in EPSG:4326, with ``local_geometry`` (shapely, in
        ``local_epsg``) beside it; optionally one region and/or status only."""
        where, params = [], []
        if region is not None:
            where.append("region = ?")
            params.append(region)
        if status is not None:
            if status not in _STATUSES:
                raise InventoryError(f"unknown status {status!r}; expected one of {_STATUSES}")
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT * FROM {_LAYER}" + (f" WHERE {' AND '.join(where)}" if where else "")
        frame = pd.read_sql_query(sql + " ORDER BY fid", self._conn, params=tuple(params))
        geometry = [gpkg.decode_geometry(b) for b in frame.pop("geom")]
        frame["local_geometry"] = [shapely.from_wkb(b) for b in frame.pop("local_wkb")]
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")

    def get(self, landslide: int | str) -> dict[str, Any]:
        """One landslide's row (by fid or uid); :class:`InventoryError` if unknown."""
        column = "fid" if isinstance(landslide, int) else "uid"
        row = self._conn.execute(
            f"SELECT * FROM {_LAYER} WHERE {column} = ?", (landslide,)
        ).fetchone()
        if row is None:
            raise InventoryError(f"no landslide with {column} {landslide!r} in {self.path}")
        return dict(row)

    def set_status(self, landslide: int | str, status: LandslideStatus) -> str:
        """Set a landslide's review status (by fid or uid); returns the previous status."""
        if status not in _STATUSES:
            raise InventoryError(f"unknown status {status!r}; expected one of {_STATUSES}")
        row = self.get(landslide)
        with gpkg.transaction(self._conn):
            self._conn.execute(
                f"UPDATE {_LAYER} SET status = ?, status_changed_at = ? WHERE fid = ?",
                (status, _now_ts(), row["fid"]),
            )
        return str(row["status"])

    def export(self, path: str | Path, *, status: Iterable[str] | None = None) -> Path:
        """Write the inventory to GeoJSON (``.geojson``/``.json``) or CSV (``.csv``: WKT geometry
        plus centroid lon/lat), optionally only the given statuses; returns the path."""
        path = Path(path)
        frame = self.landslides()
        if status is not None:
            frame = frame[frame["status"].isin(list(status))]
        frame = frame.drop(columns="local_geometry")
        suffix = path.suffix.lower()
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix in (".geojson", ".json"):
            frame.to_file(path, driver="GeoJSON")
        elif suffix == ".csv":
            table = pd.DataFrame(frame.drop(columns="geometry"))
            centroids = shapely.centroid(np.asarray(frame.geometry.values, dtype=object))
            table["centroid_lon"] = np.round(shapely.get_x(centroids), 7)
            table["centroid_lat"] = np.round(shapely.get_y(centroids), 7)
            table["wkt"] = shapely.to_wkt(np.asarray(frame.geometry.values, dtype=object))
            table.to_csv(path, index=False)
        else:
            raise InventoryError(
                f"cannot export to {path}: unknown suffix {path.suffix!r} (use .geojson or .csv)"
            )
        return path


def _epsg_of(det: RegionDetections) -> int:
    crs = det.candidates.crs if det.candidates is not None else None
    if crs is None:
        raise InventoryError(f"region {det.region!r}: candidates have no CRS (expected the grid's)")
    epsg = CRS.from_user_input(crs).to_epsg()
    if epsg is None:
        raise InventoryError(f"region {det.region!r}: candidates' CRS {crs} has no EPSG code")
    if CRS.from_epsg(epsg).is_geographic:
        raise InventoryError(
            f"region {det.region!r}: candidates are in geographic EPSG:{epsg}; expected the "
            "region's metric grid CRS"
        )
    return epsg


def _detection_attributes(matches: list[tuple[BaseGeometry, dict[str, Any]]]) -> dict[str, Any]:
    """Attributes of the detections of one landslide in one run: area-weighted means, the
    maximum probability, and setting/dates/quicklook of the largest detection."""
    weights = np.array([max(g.area, 1e-9) for g, _ in matches])
    rows = [r for _, r in matches]
    out: dict[str, Any] = {}
    for column in _MEAN_COLUMNS:
        values = np.array([_float(r.get(column)) for r in rows], dtype=float)
        ok = ~np.isnan(values)
        out[column] = float(np.average(values[ok], weights=weights[ok])) if ok.any() else None
    maxima = [v for v in (_float(r.get("prob_max")) for r in rows) if v is not None]
    out["prob_max"] = max(maxima) if maxima else None
    largest = rows[int(np.argmax(weights))]
    out["setting"] = largest.get("setting")
    out["pre_date"] = _iso_date(largest.get("pre_date"))
    out["post_date"] = _iso_date(largest.get("post_date"))
    quicklook = largest.get("quicklook")
    out["quicklook"] = str(quicklook) if quicklook else None
    return out
