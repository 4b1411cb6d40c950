"""The ``landslides`` layer and its ``landslide_observations``: their schema, reading the known
landslides for matching (:func:`load_known`), and what a run writes to each landslide it matched
(:class:`ChangeWriter`): the footprint, new / grown / seen, the observation of the run date and
the alerts of new and grown landslides in the outbox, all inside the caller's transaction.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from monitor import _geopackage as gpkg
from monitor._dates import stored_day
from monitor.alerts import outbox
from monitor.alerts.payload import AlertEvent, build_payload
from monitor.alerts.settings import AlertRouting
from monitor.grid import multipolygon, one_side_of_180, reproject
from monitor.pipeline.dating import DATING_COLUMNS as CANDIDATE_DATING
from monitor.pipeline.dating import combine_brackets
from monitor.pipeline.object_filter import FEATURES_COLUMN, FEATURES_ID_COLUMN
from monitor.store.matching import Known
from monitor.store.records import CHANGE_KINDS, LANDSLIDE_STATUSES, Change, ChangeKind
from monitor.store.runs import now_ts

__all__ = [
    "ADDED_COLUMNS",
    "ATTRIBUTE_TABLES",
    "DISMISSED_FIDS_SQL",
    "LAYER",
    "NOT_DISMISSED_FIDS_SQL",
    "OBSERVATION_ADDED_COLUMNS",
    "SCHEMA",
    "ChangeWriter",
    "extent",
    "layer_columns",
    "load_known",
    "logged_features",
]

log = logging.getLogger(__name__)

_MEAN_COLUMNS = ("prob_mean", "agreement", "dNDVI_mean", "dVV_mean", "dVH_mean", "slope_mean")

# Event dating (monitor.pipeline.dating), refined on every detection; added to inventories
# written before they existed, with the confirmation (see ADDED_COLUMNS).
DATING_COLUMNS: tuple[str, ...] = tuple(c for c in CANDIDATE_DATING if c != "confirmation")
# Columns added to the layer after its first release, with their declarations: an inventory
# written before them gets them on opening (Inventory), at the layer's end.
ADDED_COLUMNS: dict[str, str] = {
    **dict.fromkeys(DATING_COLUMNS, "DATE"),
    "confirmation": "TEXT",
    "filter_score": "REAL",
    "suppressed": "INTEGER NOT NULL DEFAULT 0",
    "alerted_on": "DATE",  # the run date that alerted it as new (whether or not channels exist)
    "review_note": "TEXT",  # the reviewer's words on it (why dismissed, what it is)
    # the earliest of its detections' newest acquisitions: it was there by that day
    "drawn_by": "DATE",
    # the footprint at its last revision (local grid, as local_wkb): what growth is judged by
    "revision_wkb": "BLOB",
}
# What an older inventory's rows hold in a column it lacked, as SQL over the row: written when
# the inventory is upgraded, and read so by a read-only open (the review map). Written before
# the second look every landslide was alerted when first seen; the others are empty (0 where
# the column has that default).
UPGRADE_VALUES: dict[str, str] = {
    **{name: ("0" if "DEFAULT 0" in kind else "NULL") for name, kind in ADDED_COLUMNS.items()},
    "confirmation": "'undated'",
    "alerted_on": "first_seen",
}
# ... and to the observations: the object filter's features of the run's detection (the largest
# where several matched), as the filter scored them, with what computed them (features_id)
OBSERVATION_ADDED_COLUMNS: dict[str, str] = {"filter_features": "BLOB", "features_id": "TEXT"}
_CONFIRMATION_RANK = {"optical": 0, "radar-repeat": 1, "undated": 2, "first-look": 3}

LAYER = "landslides"
#: The fids of the dismissed landslides, as SQL: whose alerts are withdrawn and not re-queued.
DISMISSED_FIDS_SQL = f"SELECT fid FROM {LAYER} WHERE status = 'dismissed'"
NOT_DISMISSED_FIDS_SQL = f"SELECT fid FROM {LAYER} WHERE status != 'dismissed'"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {LAYER} (
  fid INTEGER PRIMARY KEY AUTOINCREMENT,
  geom MULTIPOLYGON NOT NULL,
  uid TEXT NOT NULL UNIQUE,
  region TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'candidate'
    CHECK (status IN ({gpkg.sql_values(LANDSLIDE_STATUSES)})),
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
  updated_at DATETIME NOT NULL,
  s1_event_after DATE, s1_event_before DATE, s2_event_after DATE, s2_event_before DATE,
  event_after DATE, event_before DATE, post_latest DATE, confirmation TEXT,
  filter_score REAL,
  suppressed INTEGER NOT NULL DEFAULT 0,
  alerted_on DATE,
  review_note TEXT,
  drawn_by DATE,
  revision_wkb BLOB
);
CREATE TABLE IF NOT EXISTS landslide_observations (
  landslide_fid INTEGER NOT NULL REFERENCES {LAYER}(fid),
  run_date DATE NOT NULL,
  run_id INTEGER NOT NULL REFERENCES runs(run_id),
  kind TEXT NOT NULL CHECK (kind IN ({gpkg.sql_values(CHANGE_KINDS)})),
  area_m2 REAL NOT NULL,
  filter_features BLOB,
  features_id TEXT,
  PRIMARY KEY (landslide_fid, run_date)
)
"""
ATTRIBUTE_TABLES = {"landslide_observations": "each landslide's detections, one per run date"}


def layer_columns() -> list[str]:
    """The columns of the landslides layer, in its order, read from :data:`SCHEMA` (an
    in-memory database made with it): what an empty inventory's frame holds."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(SCHEMA)
        return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({LAYER})")]


def load_known(conn: sqlite3.Connection) -> list[Known]:
    """Every landslide of the layer, as the matcher takes them."""
    rows = conn.execute(
        "SELECT fid, uid, region, status, local_epsg, local_wkb, geom, area_m2, "
        "revision_area_m2, revision_wkb, revision, first_seen, last_seen, times_seen, "
        "alerted_on "
        f"FROM {LAYER} ORDER BY fid"
    ).fetchall()
    return [
        Known(
            fid=r["fid"],
            uid=r["uid"],
            region=r["region"],
            status=r["status"],
            epsg=r["local_epsg"],
            local=shapely.from_wkb(r["local_wkb"]),
            area_m2=r["area_m2"],
            revision_area_m2=r["revision_area_m2"],
            revision_local=_revision_outline(r["revision_wkb"], r["revision_area_m2"]),
            revision=r["revision"],
            first_seen=r["first_seen"],
            last_seen=r["last_seen"],
            times_seen=r["times_seen"],
            wgs84_bounds=shapely.box(*gpkg.envelope(r["geom"])),
            alerted=r["alerted_on"] is not None,
        )
        for r in rows
    ]


def _revision_outline(blob: bytes | None, area_m2: float) -> BaseGeometry | None:
    """The footprint at the last revision, where it is the one ``revision_area_m2`` is the area
    of: a release before ``revision_wkb`` writes revisions without it (no bump of the schema
    version), and the outline it left behind is then no reference (None: judged by the
    footprint, :meth:`ChangeWriter._kind`)."""
    if blob is None:
        return None
    outline = shapely.from_wkb(blob)
    return outline if math.isclose(outline.area, area_m2, rel_tol=1e-9) else None


def extent(conn: sqlite3.Connection) -> tuple[float, float, float, float] | None:
    """The lon/lat bounds of every landslide (from the geometry blobs' headers)."""
    blobs = [r[0] for r in conn.execute(f"SELECT geom FROM {LAYER}")]
    if not blobs:
        return None
    bounds = np.array([gpkg.envelope(b) for b in blobs])
    return (
        float(bounds[:, 0].min()),
        float(bounds[:, 1].min()),
        float(bounds[:, 2].max()),
        float(bounds[:, 3].max()),
    )


class ChangeWriter:
    """Writes what run ``run`` (its ``id``, ``date`` and ``source``) did to each matched
    landslide. Grown (:meth:`_kind`): the run's detections of it, together, exceed the area at
    its last revision, or reach beyond ``tolerance_m`` of its outline at that revision over an
    area, by more than ``grow_fraction`` of that area and by more than ``grow_min_m2``."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        run: dict[str, Any],
        routing: AlertRouting,
        now: datetime,
        *,
        grow_fraction: float,
        grow_min_m2: float,
        tolerance_m: float,
    ) -> None:
        self.conn = conn
        self.run = run
        self.routing = routing
        self.now = now
        self._unrouted: set[str] = set()  # regions already warned of having no alert channel
        self.grow_fraction = grow_fraction
        self.grow_min_m2 = grow_min_m2
        self.tolerance_m = tolerance_m  # the matching's: what an outline moves by between runs

    def _kind(self, item: Known) -> ChangeKind:
        """Grown is judged on what this run drew (its detections of the landslide, together),
        not on the footprint's area: the footprint is the union of every run's outline, so it
        gathers the day-to-day noise of the edges, and a slide that did not move was told as
        grown (a walk's 147 daily runs: 364 growth alerts beside 400 new, of slides that never
        grew). Grown is either of: the run drew it larger than its last revision (creep, a slide
        drawn whole again), or the run drew ground beyond the tolerance of its outline at the
        last revision, the outline its recipients were told (the slide's older part in the
        baseline by now, the run sees only its new part; a slide first drawn in part); each by
        more than the growth. Where that outline is not kept (``revision_wkb`` empty, or left
        by an older release: :func:`_revision_outline`), the second is judged by the footprint
        until the next revision."""
        if item.created_now:
            return "new"
        drawn = shapely.union_all([geometry for geometry, _ in item.matches])
        told = item.local if item.revision_local is None else item.revision_local
        beyond = drawn.difference(told.buffer(self.tolerance_m))
        larger = max(drawn.area - item.revision_area_m2, beyond.area)
        growth = max(self.grow_fraction * item.revision_area_m2, self.grow_min_m2)
        return "grown" if larger > growth else "seen"

    def write(self, item: Known) -> Change:
        """Update (or insert) the landslide ``item`` with its matches; returns the change."""
        run_id, run_date = int(self.run["id"]), self.run["date"]
        local = multipolygon(shapely.union_all([item.local, *(g for g, _ in item.matches)]))
        area = float(local.area)
        today = run_date.isoformat()
        first_time_today = today not in self._observed_dates(item)
        kind = self._kind(item)
        wgs84 = multipolygon(one_side_of_180(reproject(local, item.epsg, 4326)))
        values: dict[str, Any] = {
            "geom": gpkg.encode_geometry(wgs84, 4326),
            "local_wkb": shapely.to_wkb(local),
            "area_m2": area,
            "last_seen": max(item.last_seen, today),
            "first_seen": min(item.first_seen, today),
            "times_seen": item.times_seen + (1 if first_time_today else 0),
            "updated_at": now_ts(),
        }
        # the runs of first_seen and last_seen: a past date run again (the scheduler's
        # catch-up runs older days after newer ones) or an earlier one run late moves neither
        if today >= item.last_seen:
            values["last_run_id"] = run_id
        if today < item.first_seen:
            values["first_run_id"] = run_id
        if kind in ("new", "grown"):
            values.update(_detection_attributes(item.matches))
            if kind == "grown" and values["quicklook"] is None:
                # the run drew no picture of it (a region's max_per_region went to larger
                # detections): the latest one stays, where the growth erased it (found in a
                # walkthrough of 147 daily runs: 81 of 261 entries had lost theirs)
                del values["quicklook"]
            values["revision"] = item.revision + 1
            values["revision_area_m2"] = area
            values["revision_wkb"] = values["local_wkb"]
        stored = self._stored_dating(item)
        values.update(refined_dating(stored, [r for _, r in item.matches]))
        already_alerted = stored.get("alerted_on") is not None
        if values.get("suppressed") and self._last_told(item) is not None:
            # told once, its recipients are told how it grows, whatever the filter makes of a
            # later revision (its score is kept): a walk's slide alerted at 1.4 ha grew to
            # 3.5 ha, scored 0.15 against a cut of 0.16, and nobody was told. Told, not
            # alerted_on: a region without channels, or an alert withdrawn, told nobody
            values["suppressed"] = 0
        alertable_now = self._alertable(item, {**stored, **values})
        newly_alerted = alertable_now and not already_alerted and item.status != "dismissed"
        if newly_alerted:
            values["suppressed"] = 0  # alerted now (a reviewer's confirmation overrules it)
            values["alerted_on"] = today
            # growth is measured from what the new alert told (the footprint can have grown
            # by unions since the revision, short of a growth): a later growth alert then
            # shows at least the documented growth over the area its recipients read
            values["revision_area_m2"] = area
            values["revision_wkb"] = values["local_wkb"]
        self._store(item, values, run_id)
        largest = _largest(item.matches)
        features, features_id = largest.get(FEATURES_COLUMN), largest.get(FEATURES_ID_COLUMN)
        if not isinstance(features, bytes) or not isinstance(features_id, str):
            features = features_id = None
        # a date run again after later ones keeps its observation's area: the footprint now
        # holds the later growth, which that date did not see (found in a walk)
        older = today < item.last_seen
        self.conn.execute(
            "INSERT INTO landslide_observations (landslide_fid, run_date, run_id, kind, area_m2, "
            "filter_features, features_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (landslide_fid, run_date) DO UPDATE SET "
            "kind = CASE WHEN excluded.kind = 'seen' THEN kind ELSE excluded.kind END, "
            "area_m2 = CASE WHEN ? THEN area_m2 ELSE excluded.area_m2 END, "
            "run_id = excluded.run_id, "
            "filter_features = COALESCE(excluded.filter_features, filter_features), "
            "features_id = COALESCE(excluded.features_id, features_id)",
            (item.fid, today, run_id, kind, area, features, features_id, older),
        )
        queued = 0
        # alerted as new once it is alertable (at once, or when a later look confirms it)
        if newly_alerted:
            queued = self._enqueue(item, "new", wgs84)
        elif already_alerted and alertable_now and item.status != "dismissed" and kind == "grown":
            queued = self._enqueue(item, kind, wgs84)
        previous = None if item.created_now else item.area_m2
        return Change(int(item.fid or 0), item.uid, item.region, kind, area, previous, queued)

    def _told_by_twins(self, item: Known, event: AlertEvent) -> set[str]:
        """The channels that already hold this ``event`` of the same ground: the outbox's rows
        of its landslides in other regions (twins), whatever their delivery state but withdrawn
        (a channel added to the twin's region since, which never had it, is not among them).
        A ``landslide.new`` queued in any run counts; a ``landslide.grown`` only one queued
        earlier in this run (a later growth is news again)."""
        fids = [twin.fid for twin in item.twins if twin.fid is not None]
        if not fids:  # twins created by this run and not written yet have queued nothing
            return set()
        marks = ", ".join("?" * len(fids))
        this_run = "" if event == "landslide.new" else "AND run_id = ? "
        run = () if event == "landslide.new" else (int(self.run["id"]),)
        rows = self.conn.execute(
            f"SELECT DISTINCT channel FROM {outbox.TABLE} "
            f"WHERE event = ? AND landslide_fid IN ({marks}) {this_run}"
            f"AND {outbox.NOT_WITHDRAWN_SQL}",
            (event, *fids, *run),
        )
        return {str(r[0]) for r in rows}

    def _last_told(self, item: Known) -> str | None:
        """The payload of this landslide's latest new or grown alert in the outbox, not
        withdrawn (sent, or on its way): what its recipients last read; None where nobody
        was told of it."""
        if item.fid is None:
            return None
        found = self.conn.execute(
            f"SELECT payload FROM {outbox.TABLE} WHERE landslide_fid = ? "
            f"AND {outbox.TOLD_SQL} "
            f"AND {outbox.NOT_WITHDRAWN_SQL} ORDER BY id DESC LIMIT 1",
            (item.fid,),
        ).fetchone()
        return None if found is None else str(found[0])

    def _last_told_area(self, item: Known) -> float:
        """The area this landslide's latest queued alert (:meth:`_last_told`) reported. A
        growth while it raised no alert (before anybody was told, suppressed by the filter)
        moves the revision's area without telling anyone, so the two can differ; the
        revision's area is the fallback where no alert of this entry is in the outbox (every
        channel told by a twin's alert, or none configured)."""
        told = self._last_told(item)
        if told is not None:
            area = json.loads(told).get("landslide", {}).get("area_m2")
            if isinstance(area, int | float):
                return float(area)
        return item.revision_area_m2

    def _store(self, item: Known, values: dict[str, Any], run_id: int) -> None:
        """Insert a landslide created by this run (setting its ``fid``), or update a known one."""
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
            cursor = self.conn.execute(
                f"INSERT INTO {LAYER} ({columns}) VALUES ({marks})", tuple(values.values())
            )
            item.fid = int(cursor.lastrowid or 0)
        else:
            assignments = ", ".join(f"{c} = ?" for c in values)
            self.conn.execute(
                f"UPDATE {LAYER} SET {assignments} WHERE fid = ?", (*values.values(), item.fid)
            )

    @staticmethod
    def _alertable(item: Known, row: dict[str, Any]) -> bool:
        """Whether the landslide ``row`` describes raises alerts: confirmed by a second look
        (monitor.pipeline.dating) and not suppressed by the object filter; a reviewer's
        confirmation stands for both."""
        if item.status == "confirmed":
            return True
        return row.get("confirmation") is not None and not bool(row.get("suppressed") or 0)

    def _stored_dating(self, item: Known) -> dict[str, Any]:
        """The dating, confirmation and filter columns of a known landslide (empty for a new
        one)."""
        if item.fid is None:
            return {}
        names = ", ".join(ADDED_COLUMNS)
        row = self.conn.execute(f"SELECT {names} FROM {LAYER} WHERE fid = ?", (item.fid,))
        return dict(row.fetchone())

    def _observed_dates(self, item: Known) -> set[str]:
        if item.fid is None:
            return set()
        rows = self.conn.execute(
            "SELECT run_date FROM landslide_observations WHERE landslide_fid = ?", (item.fid,)
        )
        return {r[0] for r in rows}

    def _enqueue(self, item: Known, kind: ChangeKind, wgs84: BaseGeometry) -> int:
        """Queue the alert of a new or grown landslide for each channel of its region."""
        row = dict(
            self.conn.execute(f"SELECT * FROM {LAYER} WHERE fid = ?", (item.fid,)).fetchone()
        )
        row["previous_area_m2"] = None if kind == "new" else self._last_told_area(item)
        event: AlertEvent = "landslide.new" if kind == "new" else "landslide.grown"
        channels = self.routing.channels_for(item.region)
        told = self._told_by_twins(item, event)
        if not channels:
            if item.region not in self._unrouted:
                self._unrouted.add(item.region)
                log.warning(
                    "%s: landslide %s is %s and alertable, but the region has no alert channel "
                    "(alerts: in the configuration): nothing is sent, now or when channels are "
                    "added (one warning per region and run)",
                    item.region, item.fid, "new" if kind == "new" else "grown",
                )  # fmt: skip
            return 0
        base = build_payload(
            idempotency_key="",
            event=event,
            created_at=self.now,
            run=self.run,
            landslide=row,
            geometry_wgs84=wgs84,
            quicklook=self.routing.quicklooks.reference(row["quicklook"]),
        )

        def payload_for(key: str) -> dict[str, Any]:
            return {**base, "idempotency_key": key}

        queued = 0
        for channel in channels:
            if channel in told:  # the same ground's entry of another region told it
                continue
            queued += outbox.enqueue(  # looked up at call time: tests make it fail mid-run
                self.conn,
                channel=channel,
                event=event,
                landslide_uid=item.uid,
                landslide_fid=int(item.fid or 0),
                revision=int(row["revision"]),
                region=item.region,
                run_id=int(self.run["id"]),
                payload_for=payload_for,
                quicklook=row["quicklook"],
                now=self.now,
            )
        return queued


def _iso_date(value: Any) -> str | None:
    day = stored_day(value)
    return None if day is None else day.isoformat()


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def _largest(matches: list[tuple[BaseGeometry, dict[str, Any]]]) -> dict[str, Any]:
    """The record of the largest of one landslide's detections in one run."""
    return max(matches, key=lambda m: m[0].area)[1]


def logged_features(
    conn: sqlite3.Connection, uids: Sequence[str]
) -> dict[str, list[tuple[bytes, str]]]:
    """The object filter's features of every observation of the landslides ``uids`` that
    stored some, with what computed them (``features_id``), by uid, in run order."""
    out: dict[str, list[tuple[bytes, str]]] = {}
    for chunk in range(0, len(uids), 500):  # SQLite's bound on the parameters of one query
        part = [str(u) for u in uids[chunk : chunk + 500]]
        marks = ", ".join("?" for _ in part)
        rows = conn.execute(
            "SELECT l.uid, o.filter_features, o.features_id FROM landslide_observations o "
            f"JOIN {LAYER} l ON l.fid = o.landslide_fid "
            f"WHERE l.uid IN ({marks}) AND o.filter_features IS NOT NULL "
            "ORDER BY o.landslide_fid, o.run_date",
            part,
        )
        for uid, blob, features_id in rows:
            out.setdefault(str(uid), []).append((bytes(blob), str(features_id)))
    return out


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
    largest = _largest(matches)
    out["setting"] = largest.get("setting")
    out["pre_date"] = _iso_date(largest.get("pre_date"))
    out["post_date"] = _iso_date(largest.get("post_date"))
    quicklook = largest.get("quicklook")  # a path, or None/NaN where none was rendered
    out["quicklook"] = str(quicklook) if quicklook is not None and not pd.isna(quicklook) else None
    # the object filter: the best score of the detections; suppressed only when all of them are
    scores = [v for v in (_float(r.get("filter_score")) for r in rows) if v is not None]
    out["filter_score"] = max(scores) if scores else None
    out["suppressed"] = int(all(bool(r.get("suppressed", False)) for r in rows))
    return out


def _narrower(old: tuple[Any, Any], new: tuple[Any, Any]) -> tuple[Any, Any]:
    """The tighter of two brackets (ISO dates or None) that agree; the older where they do not
    (a later run's change may be another event on the same ground)."""
    if old[1] is None:
        return new
    if new[1] is None:
        return old
    after = max((d for d in (old[0], new[0]) if d is not None), default=None)
    before = min(old[1], new[1])
    if after is not None and after >= before:
        return old
    return (after, before)


def _later(stored: tuple[Any, Any], new: tuple[Any, Any], window: str | None) -> tuple[Any, Any]:
    """A later run's bracket ``new`` as it may narrow the ``stored`` one: without its lower
    bound unless its post window, whose first acquisition is ``window``, began by the stored
    lower bound. A window that began later may hold the change in its baseline, and the lower
    bound, the baseline's last look, may then be after the event; its upper bound, a look that
    showed the change, stays one."""
    if stored[1] is None:  # the first bracket of this sensor: nothing to check it against
        return new
    if stored[0] is None or window is None or window > stored[0]:
        return (None, new[1])
    return new


def refined_dating(stored: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The dating columns after this run's detections ``rows`` of a landslide whose columns
    were ``stored`` (empty when new): each sensor's bracket narrowed by the detections that
    have one (monitor.pipeline.dating; the lower bound only by a run whose post window began
    by it, :func:`_later`), the combined bracket recomputed, and the confirmation:
    the detections' best (a pending landslide is confirmed by a later run's detection that is
    itself confirmed: its stack holds the next scene)."""
    out: dict[str, Any] = {}
    # the run's post window began by the first acquisition of any of its detections' windows
    windows = [d for d in (_iso_date(r.get("post_date")) for r in rows) if d is not None]
    window = min(windows, default=None)
    for sensor in ("s1", "s2"):
        detected: tuple[Any, Any] = (None, None)
        for row in rows:
            detected = _narrower(
                detected,
                (
                    _iso_date(row.get(f"{sensor}_event_after")),
                    _iso_date(row.get(f"{sensor}_event_before")),
                ),
            )
        bracket = (stored.get(f"{sensor}_event_after"), stored.get(f"{sensor}_event_before"))
        bracket = _narrower(bracket, _later(bracket, detected, window))
        out[f"{sensor}_event_after"], out[f"{sensor}_event_before"] = bracket
    after, before = combine_brackets(
        (out["s1_event_after"], out["s1_event_before"]),
        (out["s2_event_after"], out["s2_event_before"]),
    )
    latest = [_iso_date(r.get("post_latest")) for r in rows]
    # each detection shows it there by its stack's newest acquisition: the earliest of those
    # bounds the event too, where the sensors' brackets give none or a later one (a disaster
    # agency's walk: drawn by an event run from scenes up to 08-31, a landslide was alerted
    # weeks later as "by 09-22", the first bracket a monitoring run gave); not where a later
    # bracket begins after it (another event on the same ground: the brackets stand)
    drawn = [d for d in (stored.get("drawn_by"), *latest) if d is not None]
    out["drawn_by"] = min(drawn, default=None)
    by = out["drawn_by"]
    if by is not None and (before is None or by < before) and (after is None or after < by):
        before = by
    out["event_after"], out["event_before"] = after, before
    newest = max((d for d in latest if d is not None), default=None)
    previous = stored.get("post_latest")
    out["post_latest"] = max((d for d in (previous, newest) if d is not None), default=None)
    confirmation = stored.get("confirmation")
    if confirmation is None:
        # detections without the column come from a producer that cannot date: alert at once
        found = [str(r.get("confirmation", "undated") or "") for r in rows]
        found = [c for c in found if c and c != "nan"]
        if found:
            confirmation = min(found, key=lambda c: _CONFIRMATION_RANK.get(str(c), 9))
    out["confirmation"] = confirmation
    return out
