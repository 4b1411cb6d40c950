"""The landslide inventory: a GeoPackage updated once per run, in one SQLite transaction.

Tables (all listed in ``gpkg_contents``, so QGIS shows them):

- ``landslides`` — features, MULTIPOLYGON in EPSG:4326, one row per landslide; the footprint in
  the region's metric grid CRS is kept as WKB in ``local_wkb`` with its ``local_epsg``;
- ``landslide_observations`` — one row per landslide and run date (new / grown / seen);
- ``runs`` and ``run_regions`` — what ran, on which data, with what status, per region;
- ``alert_outbox`` — alerts waiting for delivery (:mod:`monitor.alerts.outbox`).
- ``monitor_schema`` — the inventory's schema version and the release that wrote it
  (:mod:`monitor.file_schemas`).

**Same landslide.** A detection is the same landslide as a known one when, in a metric CRS (the
known landslide's local UTM grid), they lie within ``match_tolerance_m`` of each other (default
10 m = one pixel: simplification and sub-pixel misregistration between dates). A detection
touching several known landslides updates the one it overlaps most (the most of the
detection's area inside its footprint; beside every one, inside it grown by the tolerance),
but where that one was not alerted and it covers half or more of one that was, that one: a
landslide first drawn in pieces, some of them alerted, is told as grown, not as new again
(found on a walk: radar drew a slide as three pieces, two were alerted, and the detection that
covered all three alerted the third as new);
several detections touching one landslide all update it. A match updates the landslide —
footprint := union of old and new, ``last_seen``, ``times_seen`` (distinct run dates) — and
never adds a row. The pieces not chosen stay entries of their own.

**Grown.** What the run drew of it (its detections together) exceeds the area at its last
revision, or reaches past ``match_tolerance_m`` of its outline at that revision (``revision_wkb``,
what its last alert told) over an area, by more than
``grow_fraction`` (default 10 %) of that area *and* by more than ``grow_min_m2`` (default 200 m²,
two pixels); the revision then goes up by one and the detection's attributes and bracketing
dates replace the old ones. Comparing with the last revision, not the last run, means slow creep
is still reported once it adds up; judging the run's outline, not the footprint's area, means
the union does not turn outlines that move by a pixel from run to run into growth
(:meth:`.landslides.ChangeWriter._kind`).

**Alerts** are queued, one outbox row per channel of the region in the same transaction, for a
landslide that becomes alertable (``new``: once; its run date is kept as ``alerted_on``) and for
the growth of one already alerted (``grown``). Alertable: confirmed by a second look
(``confirmation``, :mod:`monitor.pipeline.dating`) and not suppressed by the object filter, or
confirmed by a reviewer; never ``dismissed``. Dismissing a landslide withdraws its alerts still
waiting in the outbox (:func:`monitor.alerts.outbox.withdraw`), and so does opening the
inventory for writing, for any dismissed landslide whose alerts were queued before.

**Suppressed.** A detection the object filter (:mod:`monitor.pipeline.object_filter`) scored
below the region's cut is still stored, with ``suppressed = 1`` and its ``filter_score``, so
that a reviewer sees it and the inventory does not forget it; it raises no alert. A landslide is
suppressed while all the detections of its latest revision are; a revision the filter passes
lifts it (and alerts it as new if it never was, else as grown when it grew). A landslide whose
new or grown alert is in the outbox (not withdrawn) is never suppressed again: its growth is
alerted whatever the filter scores the grown revision (the score is kept), as its recipients
act on the outline they were told. It is a flag beside the review ``status``, not a status:
the filter judges a revision, a person judges the landslide.

**Idempotence.** Re-applying a run date already applied adds no row, raises no ``times_seen``
and queues no alert: the detections match the landslides they created and do not grow them.

:class:`Inventory` is the one way in. Behind it: :mod:`.records` (what goes in and comes out,
the status types), :mod:`.matching` (same landslide or new), :mod:`.landslides` (the layer and
what a run writes to it) and :mod:`.runs` (run bookkeeping).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from models.atomic import full_disk_note, leftovers, write_atomically
from monitor import _geopackage as gpkg
from monitor.alerts import outbox
from monitor.alerts.payload import quicklook_name
from monitor.alerts.settings import AlertRouting
from monitor.errors import DatabaseFileError
from monitor.file_schemas import VERSION_TABLE
from monitor.grid import reproject
from monitor.pipeline.object_filter import unpack_features
from monitor.store import landslides
from monitor.store import runs as bookkeeping
from monitor.store.landslides import (
    DISMISSED_FIDS_SQL,
    LAYER,
    NOT_DISMISSED_FIDS_SQL,
    ChangeWriter,
)
from monitor.store.matching import MATCH_TOLERANCE_M, Matcher
from monitor.store.records import (
    LANDSLIDE_STATUSES,
    Change,
    Changes,
    InventoryError,
    LandslideStatus,
    RegionDetections,
    RegionStatus,
)

__all__ = [
    "EXPORT_FORMATS",
    "GROW_FRACTION",
    "GROW_MIN_M2",
    "Change",
    "Changes",
    "Inventory",
    "InventoryError",
    "LandslideStatus",
    "RegionDetections",
    "RegionStatus",
    "StatusChange",
    "export_suffixes",
    "foreign_file",
    "not_an_inventory",
    "spreadsheet_safe",
    "unquoted_formula",
]

log = logging.getLogger(__name__)

#: A landslide has grown where a run drew more than this share of its last revision's area, and
#: more than GROW_MIN_M2 (two pixels), beyond it: the inventory's defaults (see the module).
GROW_FRACTION = 0.10
GROW_MIN_M2 = 200.0

ExportFormat = Literal["GeoJSON", "CSV"]
# What :meth:`Inventory.export` writes by the output's suffix (in any case), and what
# `inventory review` reads back.
EXPORT_FORMATS: dict[str, ExportFormat] = {".geojson": "GeoJSON", ".json": "GeoJSON", ".csv": "CSV"}
# The decimals of the longitudes and latitudes each format writes: GDAL's RFC 7946 writer
# writes 7 (about 1 cm; naming them, COORDINATE_PRECISION, would add a member to the file), the
# CSV's WKT is written with 6 (about 0.1 m). The footprints are snapped to that grid before they
# are written, so that no two consecutive vertices are written as one position.
GEOJSON_DECIMALS = 7
WKT_DECIMALS = 6


def _sent_after_withdrawal(dismissed: bool, told: Sequence[str], notice: str) -> str:
    """The landslides (``dismissed``, or no longer) with an alert of ``told`` events that a
    delivery sent, or tried with an outcome left open, while a review decision withdrew it
    (:data:`outbox.TRIED_DURING_WITHDRAWAL`), which no ``notice`` of its channel withdraws yet
    (a key is letters, digits, ".", "_", "-"), as SQL."""
    return f"""
SELECT DISTINCT l.fid FROM {LAYER} AS l JOIN {outbox.TABLE} AS o ON o.landslide_fid = l.fid
WHERE l.status {"=" if dismissed else "!="} 'dismissed'
  AND o.tried = {outbox.TRIED_DURING_WITHDRAWAL} AND o.event IN ({gpkg.sql_values(told)})
  AND NOT EXISTS (
    SELECT 1 FROM {outbox.TABLE} AS d WHERE d.landslide_fid = l.fid AND d.channel = o.channel
      AND d.event = '{notice}' AND instr(d.payload, '"' || o.idempotency_key || '"') > 0)
"""


# the channel was told of it after the dismissal counted what it had been told: it is told of
# the dismissal; or was told of the dismissal after it was taken back: it is told of that
_SENT_AFTER_DISMISSAL = _sent_after_withdrawal(True, outbox.TOLD_EVENTS, outbox.DISMISSED_EVENT)
_SENT_AFTER_REINSTATEMENT = _sent_after_withdrawal(
    False, (outbox.DISMISSED_EVENT,), outbox.REINSTATED_EVENT
)


def _just_before(dismissed_at: object) -> str:
    """A second before ``dismissed_at`` (a landslide's ``status_changed_at``: the dismissal being
    taken back), as GeoPackage time: the alerts withdrawn since were the dismissal's (a release
    before 1.5 took the withdrawal's time a moment apart from the status's). The end of time
    where it is empty or not a time (the file is edited by other tools too): nothing is put
    back, rather than an earlier dismissal's alerts."""
    moment = gpkg.parse_timestamp(dismissed_at)
    return "9999" if moment is None else gpkg.timestamp(moment - timedelta(seconds=1))


def export_suffixes() -> str:
    """The suffixes :data:`EXPORT_FORMATS` names, as a message lists them."""
    return ", ".join(EXPORT_FORMATS)


@dataclass(frozen=True)
class StatusChange:
    """What :meth:`Inventory.set_status` did: the status before, and how many alerts still
    waiting in the outbox a dismissal withdrew (or, where the dismissal was taken back, how
    many of its ``landslide.dismissed`` alerts)."""

    previous: str
    withdrawn: int = 0
    # landslide.dismissed alerts queued for the channels that were sent an alert of it
    dismissals: int = 0
    # where a dismissal was taken back: landslide.reinstated alerts queued for the channels
    # that were sent its landslide.dismissed, and its alerts withdrawn unsent, pending again
    reinstatements: int = 0
    restored: int = 0

    @classmethod
    def summed(cls, changes: Iterable[StatusChange]) -> StatusChange:
        """The outbox counts of several decisions added up (``previous`` empty)."""
        changes = list(changes)
        return cls(
            previous="",
            withdrawn=sum(c.withdrawn for c in changes),
            dismissals=sum(c.dismissals for c in changes),
            reinstatements=sum(c.reinstatements for c in changes),
            restored=sum(c.restored for c in changes),
        )

    def outbox_news(self, of: str) -> list[str]:
        """What the decision did to the outbox, in sentences for the reviewer (none where it
        did nothing there); ``of``: "it" or "them", the landslides decided on."""
        sends = "the next run or `alerts deliver` sends them (docs/alerts.md)"
        news = []
        if self.withdrawn:
            news.append(
                f"{self.withdrawn} alert(s) of {of} still waiting in the outbox withdrawn, never "
                "to be sent (`alerts list` shows them among the dead)"
            )
        if self.dismissals:
            news.append(
                f"{self.dismissals} landslide.dismissed alert(s) queued for the channels that "
                f"were sent an alert of {of}; {sends}"
            )
        if self.reinstatements:
            news.append(
                f"{self.reinstatements} landslide.reinstated alert(s) queued for the channels "
                f"that were sent the landslide.dismissed of {of}; {sends}"
            )
        if self.restored:
            news.append(
                f"{self.restored} alert(s) of {of} that the dismissal withdrew before they went "
                f"are pending again; {sends}"
            )
        return news


def not_an_inventory(path: Path) -> DatabaseFileError:
    """The error of a file at ``inventory.path`` that holds no inventory (an empty file, another
    SQLite or GeoPackage file), which the commands that only read the inventory name (exit
    status 2) rather than read as one without runs."""
    if empty := gpkg.empty_inventory(path):
        return empty
    return DatabaseFileError(
        f"inventory {path} holds no {LAYER!r} table: it is empty or not this monitor's "
        "inventory; check inventory.path, or let a run create it"
    )


#: Age after which an export's temporary file is what a killed export left, not a running one's.
_STALE_PART_S = 3600.0

#: The columns of the inventory's layer that every release wrote: the schema's, less the ones
#: added since.
_CORE_COLUMNS = frozenset(landslides.layer_columns()) - set(landslides.ADDED_COLUMNS)
#: The tables of a GeoPackage (OGC 12-128r18, its extensions) and of SQLite itself, and GDAL's
#: placeholder in a GeoPackage created with no layer (QGIS makes an empty one so), which any
#: file the monitor may start its inventory in can hold.
_FILE_FORMAT_TABLES = ("gpkg_", "gpkgext_", "rtree_", "sqlite_", "ogr_empty_table")


def foreign_file(conn: sqlite3.Connection, path: Path) -> DatabaseFileError | None:
    """Why the existing SQLite file ``path`` (read through ``conn``) is no inventory of this
    monitor although it holds tables of its own, or None: a ``landslides`` table without the
    inventory's columns (another program's layer of that name: a run would add its columns to
    it, and reading failed with SQL errors), or other tables and no ``landslides`` table (a
    GeoPackage of other layers, a database of another program, which a run would make into an
    inventory too). Tables the monitor writes, and a GeoPackage's own, are not counted."""
    tables = gpkg.table_names(conn)
    if LAYER in tables:
        have = gpkg.table_columns(conn, LAYER)
        missing = sorted(_CORE_COLUMNS - have)
        if not missing:
            return None
        return DatabaseFileError(
            f"inventory {path} holds a {LAYER!r} table that is not this monitor's inventory (no "
            f"column {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): another "
            "program's layer of that name; check inventory.path, or give a new file name there "
            "for the monitor to start its inventory in"
        )
    own = {
        LAYER,
        *landslides.ATTRIBUTE_TABLES,
        *bookkeeping.ATTRIBUTE_TABLES,
        outbox.TABLE,
        VERSION_TABLE,
    }
    other = sorted(t for t in tables if t not in own and not t.startswith(_FILE_FORMAT_TABLES))
    if not other:
        return None
    return DatabaseFileError(
        f"inventory {path} holds other tables ({', '.join(other[:5])}"
        f"{', ...' if len(other) > 5 else ''}) and no inventory: not this monitor's file, which a "
        "run would write its tables into; check inventory.path, or give a new file name there "
        "for the monitor to start its inventory in"
    )


class Inventory:
    """The GeoPackage inventory at ``path`` (created on first use).

    Opening it for writing migrates an inventory of an earlier release (the columns added
    since) and stamps it with this release's schema version (:mod:`monitor.file_schemas`); an
    inventory of a newer schema version is refused either way
    (:class:`monitor.errors.NewerSchemaError`) before anything is written to it.

    ``read_only=True`` opens an existing inventory for reading alone (the review map): nothing
    is created, upgraded or withdrawn, no write lock is needed, and it works on a read-only
    mount and while a run holds the inventory; columns an older version lacked read as its
    upgrade would write them (``landslides.UPGRADE_VALUES``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        match_tolerance_m: float = MATCH_TOLERANCE_M,
        grow_fraction: float = GROW_FRACTION,
        grow_min_m2: float = GROW_MIN_M2,
        read_only: bool = False,
    ) -> None:
        if match_tolerance_m < 0 or grow_fraction < 0 or grow_min_m2 < 0:
            raise ValueError("match_tolerance_m, grow_fraction and grow_min_m2 must be >= 0")
        self.path = Path(path)
        self.match_tolerance_m = match_tolerance_m
        self.grow_fraction = grow_fraction
        self.grow_min_m2 = grow_min_m2
        self.read_only = read_only
        if read_only:
            with gpkg.file_errors(self.path):
                self._conn = gpkg.connect_read_only(self.path)
                holds_layer = LAYER in gpkg.table_names(self._conn)
                foreign = foreign_file(self._conn, self.path)
            if not holds_layer or foreign is not None:  # empty, or another program's file
                self._conn.close()
                raise foreign or not_an_inventory(self.path)
            return
        if self.path.is_file() and self.path.stat().st_size:  # checked before anything is written
            with gpkg.file_errors(self.path), closing(gpkg.connect_read_only(self.path)) as conn:
                foreign = foreign_file(conn, self.path)
            if foreign is not None:
                raise foreign
        self._conn = gpkg.connect(self.path, what="inventory")
        with gpkg.file_errors(self.path), gpkg.transaction(self._conn):
            for statement in f"{landslides.SCHEMA};{bookkeeping.SCHEMA}".split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            added = gpkg.add_missing_columns(self._conn, LAYER, landslides.ADDED_COLUMNS)
            gpkg.add_missing_columns(
                self._conn, "landslide_observations", landslides.OBSERVATION_ADDED_COLUMNS
            )
            gpkg.add_missing_columns(
                self._conn, "run_regions", bookkeeping.RUN_REGIONS_ADDED_COLUMNS
            )
            for name in added:  # written before the second look: all were alerted when first
                value = landslides.UPGRADE_VALUES[name]  # seen (dismissal always came later)
                if value not in ("NULL", "0"):
                    self._conn.execute(f"UPDATE {LAYER} SET {name} = {value}")
            gpkg.register_features(
                self._conn, LAYER, "geom", "MULTIPOLYGON", 4326, "landslide inventory"
            )
            for table, text in {
                **landslides.ATTRIBUTE_TABLES,
                **bookkeeping.ATTRIBUTE_TABLES,
            }.items():
                gpkg.register_attributes(self._conn, table, text)
            outbox.create_table(self._conn)
            gpkg.stamp_schema_version(self._conn, self.path)  # migrated: this release's now
            self._withdraw_dismissed()

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
        return bookkeeping.start_run(self._conn, run_date, regions, source, config, model)

    def fail_run(
        self, run_id: int, message: str, status: Literal["failed", "interrupted"] = "failed"
    ) -> str:
        """Record that run ``run_id`` failed, or was interrupted (SIGTERM, SIGINT), before or
        during :meth:`apply`. A transaction the failure left open is rolled back first, so
        nothing of the run is written; a run that already ended keeps its status. Returns the
        run's status now (``ok`` or ``partial``: it had completed)."""
        return bookkeeping.fail_run(self._conn, run_id, message, status)

    def runs(self) -> pd.DataFrame:
        """The runs table, newest first."""
        return bookkeeping.read_runs(self._conn)

    def run_regions(self, run_id: int | None = None) -> pd.DataFrame:
        """Per-region status of one run (or of all runs)."""
        return bookkeeping.read_run_regions(self._conn, run_id)

    def run_views(self) -> dict[tuple[int, str], dict[str, Any]]:
        """The views each region's run read (``run_regions.views``: windows, compositing,
        orbit pass), by ``(run_id, region)``; runs recorded before the column existed have
        none."""
        have = gpkg.table_columns(self._conn, "run_regions")
        if "views" not in have:
            return {}
        rows = self._conn.execute(
            "SELECT run_id, region, views FROM run_regions WHERE views IS NOT NULL"
        )
        return {(int(run), str(region)): json.loads(views) for run, region, views in rows}

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
            try:
                self.fail_run(run_id, f"inventory update failed: {type(exc).__name__}: {exc}")
            except Exception as record:  # a full disk fails this too: the update's error stands
                log.warning("run %d: its failure could not be recorded: %s", run_id, record)
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
        """:meth:`apply` inside its transaction: match, write each matched landslide, record the
        run's outcome."""
        run = bookkeeping.running_run(self._conn, run_id)
        run_date = date.fromisoformat(run["run_date"])
        changes = Changes(run_id=run_id, run_date=run_date)
        changes.regions.update((det.region, det.status) for det in detections)
        matcher = Matcher(landslides.load_known(self._conn), self.match_tolerance_m)
        touched = matcher.assign(detections, run_date)
        run_info = {"id": run_id, "date": run_date, "source": run["source"]}
        writer = ChangeWriter(
            self._conn,
            run_info,
            routing,
            now,
            grow_fraction=self.grow_fraction,
            grow_min_m2=self.grow_min_m2,
            tolerance_m=self.match_tolerance_m,
        )
        changes.changes.extend(writer.write(item) for item in touched)
        bookkeeping.finish_run(self._conn, run_id, detections, changes)
        gpkg.touch_contents(self._conn, LAYER, landslides.extent(self._conn))
        return changes

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
            _check_status(status)
            where.append("status = ?")
            params.append(status)
        # opened read-only, an older inventory's missing columns read as its upgrade writes them
        have = gpkg.table_columns(self._conn, LAYER)
        missing = [
            f"{value} AS {name}"
            for name, value in landslides.UPGRADE_VALUES.items()
            if name not in have
        ]
        columns = ", ".join(["*", *missing])
        sql = f"SELECT {columns} FROM {LAYER}" + (f" WHERE {' AND '.join(where)}" if where else "")
        frame = pd.read_sql_query(sql + " ORDER BY fid", self._conn, params=tuple(params))
        geometry = [gpkg.decode_geometry(b) for b in frame.pop("geom")]
        frame["local_geometry"] = [shapely.from_wkb(b) for b in frame.pop("local_wkb")]
        frame.pop("revision_wkb")  # the inventory's own reference for growth, no attribute
        return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")

    def named_pictures(self) -> set[str]:
        """The quicklooks that the landslides and the alerts of the outbox name, each as
        ``<date>/<region>/<file>.png`` (:func:`monitor.alerts.payload.quicklook_name`): what
        ``quicklooks.keep_pictures_days`` never deletes."""
        named: set[str] = set()
        for table in (LAYER, outbox.TABLE):
            rows = self._conn.execute(f"SELECT quicklook FROM {table} WHERE quicklook IS NOT NULL")
            named.update(quicklook_name(str(path)) for (path,) in rows if path)
        return named

    def known_outlines(self, regions: Iterable[str]) -> dict[str, list[tuple[int, bytes]]]:
        """The outlines of the landslides of each of ``regions`` already in the inventory, as
        ``(local_epsg, WKB in it)``: what a run's pictures go to last, its new detections
        first (:func:`monitor.alerts.quicklook.write_quicklooks`)."""
        names = list(dict.fromkeys(regions))
        out: dict[str, list[tuple[int, bytes]]] = {name: [] for name in names}
        if not names:
            return out
        marks = ", ".join("?" for _ in names)
        rows = self._conn.execute(
            f"SELECT region, local_epsg, local_wkb FROM {LAYER} WHERE region IN ({marks})",
            tuple(names),
        )
        for region, epsg, wkb in rows:
            if epsg is not None and wkb is not None:
                out[str(region)].append((int(epsg), bytes(wkb)))
        return out

    def statuses(self) -> dict[str, tuple[int, str]]:
        """Each landslide's review status and fid, by uid (what a review compares with: no
        geometry read)."""
        rows = self._conn.execute(f"SELECT uid, fid, status FROM {LAYER}")
        return {str(uid).lower(): (int(fid), str(status)) for uid, fid, status in rows}

    def review_notes(self) -> dict[str, str | None]:
        """Each landslide's ``review_note`` (None where it has none), by uid: what a review
        file's notes are compared with."""
        have = gpkg.table_columns(self._conn, LAYER)
        if "review_note" not in have:  # an older inventory opened read-only (a dry run)
            return {}
        rows = self._conn.execute(f"SELECT uid, review_note FROM {LAYER}")
        return {str(uid).lower(): (str(note) if note else None) for uid, note in rows}

    def status_times(self) -> dict[str, str | None]:
        """When each landslide's review status last changed (``status_changed_at``, ISO 8601
        UTC; None where it never did), by uid: what a review file exported earlier is checked
        against (:mod:`monitor.ops.inventory_review`)."""
        rows = self._conn.execute(f"SELECT uid, status_changed_at FROM {LAYER}")
        return {str(uid).lower(): (str(at) if at else None) for uid, at in rows}

    def get(self, landslide: int | str) -> dict[str, Any]:
        """One landslide's row (by fid or uid, in either case: uids are written as lower-case
        UUIDs); :class:`InventoryError` if unknown."""
        # a numpy integer (a fid taken from landslides()["fid"]) is an fid too
        fid = isinstance(landslide, int | np.integer) and not isinstance(landslide, bool)
        column = "fid" if fid else "uid"
        landslide = int(landslide) if fid else str(landslide).lower()
        row = self._conn.execute(
            f"SELECT * FROM {LAYER} WHERE {column} = ?", (landslide,)
        ).fetchone()
        if row is None:
            raise InventoryError(f"no landslide with {column} {landslide!r} in {self.path}")
        return dict(row)

    def logged_features(
        self, uids: Iterable[str]
    ) -> tuple[dict[str, list[tuple[np.ndarray, str]]], int]:
        """The object filter's features of each observation of the landslides ``uids``, as
        the runs scored them (``landslide_observations.filter_features``: one row per run date
        that detected it with a filter, the largest detection's), with what computed them
        (:func:`monitor.pipeline.object_filter.features_id`), by uid; and how many rows were of
        another length than this version's feature list (left out: another version's). Unknown
        uids and observations without features give nothing."""
        blobs = landslides.logged_features(self._conn, list(dict.fromkeys(str(u) for u in uids)))
        out: dict[str, list[tuple[np.ndarray, str]]] = {}
        other = 0
        for uid, rows in blobs.items():
            for blob, made_by in rows:
                try:
                    features = unpack_features(blob)
                except ValueError:  # another length: another version's feature list
                    other += 1
                    continue
                out.setdefault(uid, []).append((features, made_by))
        return out, other

    def set_status(
        self, landslide: int | str, status: LandslideStatus | None, note: str | None = None
    ) -> StatusChange:
        """Set a landslide's review status (by fid or uid) and, where ``note`` is given, its
        ``review_note`` (the reviewer's words: why dismissed, what it is; its blanks collapsed,
        an empty one clears it); a dismissal withdraws its alerts still waiting in the outbox,
        in the same transaction. The status it already has changes nothing:
        ``status_changed_at`` stays the time of the last change. ``status`` None sets the note
        alone, whatever the status is by then."""
        if status is not None:
            _check_status(status)
        row = self.get(landslide)
        withdrawn = dismissals = reinstatements = restored = 0
        now = datetime.now(UTC)
        with gpkg.transaction(self._conn):
            if status is not None and status != row["status"]:
                self._conn.execute(
                    f"UPDATE {LAYER} SET status = ?, status_changed_at = ? WHERE fid = ?",
                    # the withdrawals' time (outbox) too: what taking it back puts back
                    (status, gpkg.timestamp(now), row["fid"]),
                )
            if note is not None:
                self._conn.execute(
                    f"UPDATE {LAYER} SET review_note = ? WHERE fid = ?",
                    (" ".join(note.split()) or None, row["fid"]),
                )
            if status == "dismissed":
                withdrawn = outbox.withdraw(self._conn, [int(row["fid"])], now)
            if status == "dismissed" and row["status"] != "dismissed":
                # the channels told of it are told it was dismissed
                dismissed = self.get(int(row["fid"]))
                dismissals = outbox.enqueue_dismissal(
                    self._conn, dismissed, gpkg.decode_geometry(dismissed["geom"]), now, note
                )
            elif status is not None and status != "dismissed" and row["status"] == "dismissed":
                # a dismissal taken back: its notices still waiting are not sent, the channels
                # sent one are told it is taken back, and its alerts withdrawn unsent go out
                fid = int(row["fid"])
                withdrawn = outbox.withdraw_dismissals(self._conn, "?", [fid], now)
                reinstated = self.get(fid)
                reinstatements = outbox.enqueue_reinstatement(
                    self._conn, reinstated, gpkg.decode_geometry(reinstated["geom"]), now, note
                )
                since = _just_before(row["status_changed_at"])
                keep = self._told_by_twins_since(reinstated, since)
                restored = outbox.restore_withdrawn(self._conn, fid, now, since, keep)
        return StatusChange(
            previous=str(row["status"]),
            withdrawn=withdrawn,
            dismissals=dismissals,
            reinstatements=reinstatements,
            restored=restored,
        )

    def _told_by_twins_since(self, row: dict[str, Any], since: str) -> set[int]:
        """The ids of the alerts of ``row``'s landslide that its dismissal withdrew unsent and
        whose channel a twin has told of the same ground since (the same event, not withdrawn:
        a ``landslide.new`` of any run, a ``landslide.grown`` of the same run; the twins of a
        run's matching, :mod:`monitor.store.landslides`): landslides of other regions within
        ``match_tolerance_m`` of it. Restored, they would tell that ground twice."""
        withdrawn = outbox.withdrawn_unsent(self._conn, int(row["fid"]), since)
        if not withdrawn:
            return set()
        channels = sorted({channel for _, channel, _, _ in withdrawn})
        marks = ", ".join("?" * len(channels))
        told = self._conn.execute(
            f"SELECT channel, event, run_id, landslide_fid FROM {outbox.TABLE} "
            f"WHERE channel IN ({marks}) AND event IN ({gpkg.sql_values(outbox.DETECTION_EVENTS)}) "
            f"AND {outbox.NOT_WITHDRAWN_SQL} AND landslide_fid IN "
            f"(SELECT fid FROM {LAYER} WHERE region != ?)",
            (*channels, str(row["region"])),
        ).fetchall()
        here, epsg = shapely.from_wkb(row["local_wkb"]), int(row["local_epsg"])
        # the coarse test on lon/lat envelopes (a degree of latitude is 111 km; one of
        # longitude no less than a hundredth of that within 89.4 degrees of the equator)
        pad = 100.0 * self.match_tolerance_m / 111_000.0
        box = shapely.box(*gpkg.decode_geometry(row["geom"]).bounds).buffer(pad)
        twins = set()
        for fid in {int(f) for _, _, _, f in told}:
            theirs = self.get(fid)
            if not box.intersects(shapely.box(*gpkg.decode_geometry(theirs["geom"]).bounds)):
                continue
            outline = reproject(shapely.from_wkb(theirs["local_wkb"]), theirs["local_epsg"], epsg)
            if shapely.dwithin(outline, here, self.match_tolerance_m):
                twins.add(fid)
        near = {
            (str(channel), str(event), None if event == "landslide.new" else run_id)
            for channel, event, run_id, fid in told
            if int(fid) in twins
        }
        return {
            alert_id
            for alert_id, channel, event, run_id in withdrawn
            if (channel, event, None if event == "landslide.new" else run_id) in near
        }

    def set_statuses(
        self,
        decisions: Sequence[tuple[int | str, LandslideStatus | None]],
        notes: Sequence[str | None] | None = None,
    ) -> list[StatusChange]:
        """:meth:`set_status` of each ``(landslide, status)`` in turn, with the ``notes`` in
        the same order where given (None: the note stays), in ONE transaction: every
        landslide is looked up first, and unknown ones are all named in one
        :class:`InventoryError` before anything changes."""
        notes = [None] * len(decisions) if notes is None else list(notes)
        if len(notes) != len(decisions):
            raise ValueError(f"{len(notes)} notes for {len(decisions)} decisions")
        for _, status in decisions:
            if status is not None:
                _check_status(status)
        unknown = []
        for landslide, _ in decisions:
            try:
                self.get(landslide)
            except InventoryError:
                fid = isinstance(landslide, int | np.integer) and not isinstance(landslide, bool)
                unknown.append(f"fid {int(landslide)}" if fid else f"uid {str(landslide)!r}")
        if unknown:
            raise InventoryError(
                f"no landslide with {', '.join(unknown)} in {self.path}; nothing changed"
            )
        with gpkg.transaction(self._conn):
            return [
                self.set_status(landslide, status, note)
                for (landslide, status), note in zip(decisions, notes, strict=True)
            ]

    def _withdraw_dismissed(self) -> int:
        """Withdraw the pending alerts of every dismissed landslide, inside the caller's
        transaction (alerts queued before their dismissal, or re-queued since): one statement,
        which finds nothing to change on most opens; and the ``landslide.dismissed`` alerts still
        pending of landslides no longer dismissed (re-queued by ``alerts retry`` after the
        dismissal was taken back)."""
        now = datetime.now(UTC)
        withdrawn = outbox.withdraw_selected(self._conn, DISMISSED_FIDS_SQL, now)
        withdrawn += outbox.withdraw_dismissals(self._conn, NOT_DISMISSED_FIDS_SQL, [], now)
        if withdrawn:
            log.info("%d queued alert(s) of dismissed landslides withdrawn", withdrawn)
        # an alert a delivery was sending while its landslide was dismissed (or a dismissal
        # while it was taken back) went out after the decision queued its notices: its channel
        # is told now
        for raced, enqueue, event in (
            (_SENT_AFTER_DISMISSAL, outbox.enqueue_dismissal, outbox.DISMISSED_EVENT),
            (_SENT_AFTER_REINSTATEMENT, outbox.enqueue_reinstatement, outbox.REINSTATED_EVENT),
        ):
            for (fid,) in self._conn.execute(raced).fetchall():
                row = self.get(int(fid))
                # with the words of the decision whose notice it follows
                note = outbox.last_review_note(self._conn, int(fid), event)
                queued = enqueue(self._conn, row, gpkg.decode_geometry(row["geom"]), now, note)
                log.info("landslide %d: %d %s alert(s) queued", fid, queued, event)
        return withdrawn

    def export(self, path: str | Path, *, status: Iterable[str] | None = None) -> Path:
        """Write the inventory to GeoJSON (``.geojson``/``.json``: RFC 7946, longitude and
        latitude to :data:`GEOJSON_DECIMALS` decimals, outer rings counterclockwise) or CSV
        (``.csv``: WKT geometry to :data:`WKT_DECIMALS` decimals plus centroid lon/lat), the
        footprints snapped to the grid of those decimals first (:func:`_snapped`), optionally
        only the given statuses; returns the path."""
        path = Path(path)
        kind = EXPORT_FORMATS.get(path.suffix.lower())
        if kind is None:  # refused before any folder is made
            # found in a survey's walk: .gpkg and .shp, asked for first, read as unsupported
            # with no way on (a shapefile would cut the columns' names to 10 characters)
            how = (
                ": QGIS opens the GeoJSON as it is, `ogr2ogr OUT.gpkg OUT.geojson` converts it, "
                "and the inventory itself is a GeoPackage"
                if path.suffix.lower() in (".gpkg", ".shp", ".kml")
                else ""
            )
            raise InventoryError(
                f"cannot export to {path}: unknown suffix {path.suffix!r} (use one of "
                f"{export_suffixes()}{how})"
            )
        for stale in leftovers(path):  # a killed export's, left beside it (a crash walkthrough)
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > _STALE_PART_S:  # not a running one's
                    stale.unlink()
                    log.info("%s: removed what a killed export left", stale)
        frame = self.landslides()
        if status is not None:
            frame = frame[frame["status"].isin(list(status))]
        frame = frame.drop(columns="local_geometry")
        footprints = np.asarray(frame.geometry.values, dtype=object)
        try:  # an output that cannot be written (under a file, a folder's name) is bad input
            # whole or not at all: a full disk or a kill leaves the earlier export as it was
            if kind == "GeoJSON":
                frame = frame.set_geometry(_snapped(footprints, GEOJSON_DECIMALS), crs=frame.crs)
                write_atomically(path, lambda tmp: _write_geojson(frame, tmp, path.stem))
            else:
                table = pd.DataFrame(frame.drop(columns="geometry"))
                centroids = shapely.centroid(footprints)
                table["centroid_lon"] = np.round(shapely.get_x(centroids), 7)
                table["centroid_lat"] = np.round(shapely.get_y(centroids), 7)
                table["wkt"] = shapely.to_wkt(
                    _snapped(footprints, WKT_DECIMALS), rounding_precision=WKT_DECIMALS
                )
                table = spreadsheet_safe(table)
                write_atomically(path, lambda tmp: table.to_csv(tmp, index=False))
        except (OSError, DataSourceError, DataLayerError) as exc:  # GDAL's: RuntimeErrors
            # GDAL's "Cannot write feature" of a full disk is told so (found in a crash walk)
            note = "" if "No space left" in str(exc) else full_disk_note(path.parent)
            raise InventoryError(f"cannot export to {path}: {exc}{note}") from None
        return path


#: What a spreadsheet takes a cell for a formula by (OWASP's "CSV injection"): a text cell
#: starting with one of them is written behind a quote (FORMULA_QUOTE).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMULA_QUOTE = "'"


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with each text cell that a spreadsheet would run as a formula written behind
    a quote (found in a security walkthrough: a review note `=HYPERLINK("http://...")` went
    into the CSV export as it was); numbers are left as they are. ``inventory review`` reads
    such a note back without its quote (:func:`unquoted_formula`)."""
    out = table.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):  # text (str or object), dates
            out[column] = [
                FORMULA_QUOTE + v if isinstance(v, str) and _quoted_on_export(v) else v
                for v in out[column]
            ]
    return out


def _quoted_on_export(text: str) -> bool:
    """Whether the export writes ``text`` behind a quote: a formula's start, or quotes
    before one already, so that reading back removes exactly the quote written (found in a
    review: a note `'-' marks the scarp` lost its own quote in a round trip)."""
    return text.lstrip(FORMULA_QUOTE).startswith(FORMULA_STARTS)


def unquoted_formula(text: str) -> str:
    """A CSV cell :func:`spreadsheet_safe` wrote, as it was."""
    if text.startswith(FORMULA_QUOTE) and _quoted_on_export(text[1:]):
        return text[1:]
    return text


def _snapped(footprints: np.ndarray, decimals: int) -> np.ndarray:
    """``footprints`` (lon/lat) on the grid of ``decimals`` decimals, kept valid
    (:func:`shapely.set_precision`): vertices that rounding would write as one position become
    one, and a ring stays a ring; rounded as written, none would repeat its neighbour."""
    return np.asarray(shapely.set_precision(footprints, 10.0**-decimals))


def _write_geojson(frame: gpd.GeoDataFrame, path: Path, name: str) -> None:
    """``frame`` as GeoJSON at ``path``, its layer (the collection's "name") ``name``, read
    back: GDAL's writer does not report a last buffer it could not write (a full disk), which
    left a truncated file that said nothing."""
    # RFC 7946: outer rings counterclockwise, holes clockwise, no "crs" member; the layer named
    # after the file asked for, not the temporary one written first (GDAL names it so, and
    # tools that convert the file take the name on)
    frame.to_file(path, driver="GeoJSON", layer=name, RFC7946="YES")
    try:
        written = pyogrio.read_info(path)["features"]
    except DataSourceError:  # not even the start of a GeoJSON file
        written = 0
    if written != len(frame):
        raise OSError(f"GDAL wrote {written} of {len(frame)} landslides; is the disk full?")


def _check_status(status: str) -> None:
    if status not in LANDSLIDE_STATUSES:
        raise InventoryError(f"unknown status {status!r}; expected one of {LANDSLIDE_STATUSES}")
