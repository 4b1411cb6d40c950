"""``landslide-monitor inventory review FILE``: the review decisions of an ``inventory export``
(CSV or GeoJSON) whose ``status`` column an operator edited, in QGIS or a spreadsheet.

Every row whose status differs from the inventory's goes through
:meth:`monitor.store.inventory.Inventory.set_statuses`, the path of ``inventory confirm`` and
``dismiss``: one transaction, and a dismissal withdraws the landslide's alerts still waiting in
the outbox. The whole file is checked first: a missing ``uid`` or ``status`` column, an empty
or unknown uid, an unknown status, or one landslide on two rows with two statuses refuses it
with every such row named (file, row, field), and nothing changes. Rows are numbered as a
spreadsheet shows a CSV (the header is row 1, the first landslide row 2) and as QGIS numbers
features (the first is 1). Landslides the file leaves out (an export of some statuses) keep
theirs.

A file that keeps the export's ``status_changed_at`` column is also checked against reviews
made since it was exported: a row that would change a landslide whose status was changed after
the export (by ``inventory confirm``/``dismiss`` or another review file) would undo that
decision, and refuses the file unless ``--force`` is given (such rows are named).

Outlines are never read back: a GeoJSON row whose outline differs from the landslide's (by more
than :data:`REDRAWN_SHARE` of its area, and more than :data:`REDRAWN_MIN_M2`) is named in the
outcome (``redrawn``), so that an analyst who redrew outlines in QGIS learns that the file's
statuses were applied and its outlines were not (found by a geological survey's walk).
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import cast

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from models.vector_files import VectorFileError, gdal_path
from monitor import _geopackage as gpkg
from monitor.errors import BadInput
from monitor.labels.inventories import (
    REVIEW_COLUMNS,
    InventoryFileError,
    cell_text,
    column_names,
)
from monitor.store.inventory import (
    EXPORT_FORMATS,
    Inventory,
    LandslideStatus,
    StatusChange,
    export_suffixes,
    unquoted_formula,
)
from monitor.store.records import LANDSLIDE_STATUSES

__all__ = [
    "CHANGED_AT",
    "NOTE",
    "REDRAWN_MIN_M2",
    "REDRAWN_SHARE",
    "ReviewOutcome",
    "ReviewRow",
    "apply_review",
    "read_review_file",
]

#: The export's column of the reviewer's words: where a file has it, each row's cell is the
#: landslide's note (an empty cell: none).
NOTE = "review_note"
#: The export's column of when each status last changed: where a file keeps it, a row that would
#: undo a review made after the export is refused.
CHANGED_AT = "status_changed_at"
#: A review file's outline differs from its landslide's where the area they do not share is over
#: this share of the landslide's, and over REDRAWN_MIN_M2 (an export's coordinates are snapped
#: to about a centimetre: what a GIS saves again moves a few square metres at most).
REDRAWN_SHARE = 0.01
REDRAWN_MIN_M2 = 10.0
_MAX_NAMED = 20  # problems listed in one message; the rest are counted
# the cell's time is the start of what its text resolves: a spreadsheet that saves it again may
# keep the seconds, the minutes or the day alone; a review within that span is not told from
# the export's own time
_SECONDS = re.compile(r"\d:\d\d:\d\d")
_MINUTES = re.compile(r"\d:\d\d")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReviewRow:
    """One row of a review file: its number (as a spreadsheet or QGIS shows it), the uid and the
    status it gives, both lower case and stripped of spaces; and, where the file has the
    export's ``status_changed_at`` column (``stamped``), that cell (None where empty: the status
    had never changed when the file was exported)."""

    row: int
    uid: str
    status: str
    stamped: bool = False
    changed_at: str | None = None
    note: str | None = None  # the review_note cell where the file has the column ("": none)
    outline: BaseGeometry | None = None  # a GeoJSON row's geometry, in EPSG:4326


@dataclass(frozen=True)
class StatusDecision:
    """A row whose status differs from the inventory's: the landslide's fid, and both."""

    row: int
    fid: int
    previous: str
    status: LandslideStatus


@dataclass
class ReviewOutcome:
    """What a review file changed (or, in a dry run, would change): the decisions, how many rows
    already matched the inventory, and what the decisions did to the outbox."""

    decisions: list[StatusDecision] = field(default_factory=list)
    unchanged: int = 0
    # what the decisions did to the outbox, added up
    outbox: StatusChange = field(default_factory=lambda: StatusChange(previous=""))
    notes: int = 0  # landslides whose review_note the file changes
    redrawn: list[int] = field(default_factory=list)  # rows whose outline is not the inventory's

    def counts(self) -> dict[str, int]:
        """How many landslides became each status (``candidate``: back to candidate)."""
        made = Counter(d.status for d in self.decisions)
        return {status: made.get(status, 0) for status in LANDSLIDE_STATUSES}

    def summary(self) -> str:
        counts = self.counts()
        notes = f", {self.notes} review note(s) changed" if self.notes else ""
        return (
            f"{counts['confirmed']} confirmed, {counts['dismissed']} dismissed, "
            f"{counts['candidate']} back to candidate, {self.unchanged} unchanged{notes}"
        )


def _refusal(path: Path, problems: list[str], advice: str = "") -> BadInput:
    named = "\n".join(problems[:_MAX_NAMED])
    more = len(problems) - _MAX_NAMED
    tail = f"\n... and {more} more" if more > 0 else ""
    tail += f"\n{advice}" if advice else ""
    return BadInput(
        f"review file {path} refused, nothing changed ({len(problems)} problem(s)):\n{named}{tail}"
    )


def _csv_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    """The header and the rows (numbered from 2, as a spreadsheet shows them) of a CSV; the
    delimiter a spreadsheet may have chosen (``;`` in many locales, tab) is found in the
    header."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as opened:
            header = opened.readline()
            try:
                dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(header, ",;\t")
            except csv.Error:
                dialect = csv.excel
            opened.seek(0)
            # the delimiter only: the sniffer, finding no quotes in a header, turns off the
            # doubled quotes ("") of a quoted cell, which split its row
            reader = csv.reader(opened, delimiter=dialect.delimiter)
            columns = column_names(next(reader, []), path)
            # numbered by record, not by line: a cell holding a line break (a note) is one row
            # of the spreadsheet over two lines of the file; a blank line is a row of its own
            rows: list[tuple[int, dict[str, object]]] = [
                (number, dict(zip_longest(columns, cells[: len(columns)])))
                for number, cells in enumerate(reader, 2)
                if cells
            ]
    except UnicodeDecodeError as err:
        raise BadInput(f"{path}: not UTF-8 text ({err.reason}); save it as CSV UTF-8") from err
    except csv.Error as err:
        raise BadInput(f"{path}: cannot read as CSV: {err}") from err
    except OSError as err:
        raise BadInput(f"{path}: cannot read: {err.strerror or err}") from err
    return columns, rows


def _geojson_records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    """The properties and the features (numbered from 1, as QGIS numbers them) of a GeoJSON
    file, opened by the GeoJSON driver alone (:func:`models.vector_files.gdal_path`)."""
    try:
        source = gdal_path(path)
    except VectorFileError as err:
        raise BadInput(str(err)) from err
    try:
        frame = pyogrio.read_dataframe(source)
    except Exception as err:  # pyogrio raises its own DataSourceError and friends
        raise BadInput(f"{path}: cannot read as GeoJSON: {err}") from err
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None:  # QGIS saves others too
        frame = frame.to_crs(4326)
    frame.columns = column_names(frame.columns, path)
    columns = list(frame.columns)
    records = frame.to_dict("records")
    return columns, [(number, record) for number, record in enumerate(records, start=1)]


def read_review_file(path: str | Path) -> list[ReviewRow]:
    """The rows of the review file ``path`` (CSV or GeoJSON, by :data:`EXPORT_FORMATS`), one per
    landslide (the first of rows that repeat one with its status), checked as
    far as the file alone allows: the columns, empty uids, unknown statuses, and one uid given
    two statuses. :class:`monitor.errors.BadInput` names every bad row and field."""
    path = Path(path)
    rows, problems = _read_review_file(path)
    if problems:
        raise _refusal(path, [text for _, text in problems])
    return rows


def _read_review_file(path: Path) -> tuple[list[ReviewRow], list[tuple[int, str]]]:
    """:func:`read_review_file`'s rows, and its problems with their row numbers (so that
    :func:`apply_review` names them in one refusal with the uids the inventory lacks)."""
    kind = EXPORT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise BadInput(
            f"{path}: unknown suffix {path.suffix!r}; give an `inventory export` "
            f"file ({export_suffixes()})"
        )
    try:  # the columns' names refused (models.datasets.column_names), in either format
        columns, records = (_csv_records if kind == "CSV" else _geojson_records)(path)
    except InventoryFileError as err:
        raise BadInput(str(err)) from err
    missing = [name for name in REVIEW_COLUMNS if name not in columns]
    if missing:
        raise _refusal(
            path,
            [
                f"{path}, row 1, field {name!r}: no such column (the file's columns: "
                f"{', '.join(columns) or 'none'})"
                for name in missing
            ],
        )
    problems: list[tuple[int, str]] = []
    rows: list[ReviewRow] = []
    seen: dict[str, ReviewRow] = {}
    stamped = CHANGED_AT in columns
    noted = NOTE in columns
    for number, record in records:
        if not any(cell_text(v) for k, v in record.items() if k != "geometry"):
            continue  # a row of empty cells (Excel's ;;;; at the end of a sheet): no decision
        uid, status = cell_text(record["uid"]).lower(), cell_text(record["status"]).lower()
        changed_at = _time_text(record.get(CHANGED_AT)) if stamped else None
        where = f"{path}, row {number}"
        if not uid:
            problems.append((number, f"{where}, field 'uid': empty"))
        if status not in LANDSLIDE_STATUSES:
            problems.append((
                number,
                f"{where}, field 'status': unknown status {cell_text(record['status'])!r}; "
                f"expected one of {', '.join(LANDSLIDE_STATUSES)}",
            ))  # fmt: skip
        if not uid or status not in LANDSLIDE_STATUSES:
            continue
        earlier = seen.get(uid)
        note = None
        if noted:  # a CSV's note as the export wrote it (a GeoJSON's is never quoted)
            text = cell_text(record.get(NOTE))
            note = " ".join((unquoted_formula(text) if kind == "CSV" else text).split())
        if earlier is None:  # a landslide's later rows with the same status add nothing
            outline = record.get("geometry")
            outline = outline if isinstance(outline, BaseGeometry) else None
            seen[uid] = ReviewRow(number, uid, status, stamped, changed_at, note, outline)
            rows.append(seen[uid])
        elif earlier.status != status:
            problems.append((
                number,
                f"{where}, field 'uid': the landslide of row {earlier.row} again, with "
                f"another status ({earlier.status!r}, then {status!r})",
            ))  # fmt: skip
    return rows, problems


def _time_text(value: object) -> str | None:
    """A ``status_changed_at`` cell as text (None where empty: NULL, NaN, NaT, blank); one
    read as a time (a GeoJSON's, which GDAL parses) as the export wrote it, so that a refusal
    gives both times alike (found in a walkthrough: ``2026-12-06 20:40:31.960000+00:00``
    beside the inventory's ``2026-12-06T20:48:43.091Z``)."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, datetime) and value.tzinfo is not None:  # pd.Timestamp too
        return gpkg.timestamp(value)
    return cell_text(value) or None


def _utc(text: str) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (a time without a zone is UTC, as the
    inventory writes it); None where the text is no such time."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _span(text: str) -> timedelta:
    """How much time the ISO text ``text`` resolves: a second where it holds seconds (or their
    fractions: the export's own milliseconds, rounded by a spreadsheet), else a minute, else a
    day."""
    if _SECONDS.search(text):
        return timedelta(seconds=1)
    if _MINUTES.search(text):
        return timedelta(minutes=1)
    return timedelta(days=1)


def _undoing(
    path: Path, rows: list[ReviewRow], current: dict[str, tuple[int, str]], inventory: Inventory
) -> list[str]:
    """The rows that would undo a review made after the file was exported: their status differs
    from the inventory's, whose status changed later than the file's ``status_changed_at`` says
    (or at all, where the file's cell is empty). Rows whose cell is no ISO 8601 time (a
    spreadsheet's own date format) cannot be told: warned, and applied."""
    times = inventory.status_times()
    undoing: list[str] = []
    unreadable = 0
    for row in rows:
        fid, status = current[row.uid]
        changed = times.get(row.uid)
        if not row.stamped or status == row.status or changed is None:
            continue
        exported = _utc(row.changed_at) if row.changed_at else None
        if row.changed_at and exported is None:
            unreadable += 1
            continue
        now = _utc(changed)
        if now is None or (exported is not None and now < exported + _span(row.changed_at or "")):
            continue
        then = (
            f"its status dated from {row.changed_at}"
            if row.changed_at
            else "it had never been reviewed"
        )
        undoing.append(
            f"{path}, row {row.row}, field 'status': landslide {fid} was set {status!r} at "
            f"{changed}, after this file was exported (when {then}); {row.status!r} would "
            "undo that"
        )
    if unreadable:
        log.warning(
            "%s: %d row(s) hold a %s that is not an ISO 8601 time (saved again by a "
            "spreadsheet?): whether their landslides were reviewed after the export cannot be "
            "told, and their statuses are applied", path, unreadable, CHANGED_AT,
        )  # fmt: skip
    return undoing


def _redrawn(rows: list[ReviewRow], inventory: Inventory) -> list[int]:
    """The rows whose outline differs from their landslide's (see the module), compared in the
    landslide's local grid."""
    outlined = [row for row in rows if row.outline is not None and not row.outline.is_empty]
    if not outlined:
        return []
    frame = inventory.landslides().set_index("uid")
    redrawn = []
    for row in outlined:
        stored = frame.loc[row.uid]
        epsg = int(stored["local_epsg"])
        local: BaseGeometry = stored["local_geometry"]
        drawn = gpd.GeoSeries([row.outline], crs=4326).to_crs(epsg).iloc[0]
        apart = shapely.symmetric_difference(shapely.make_valid(drawn), local).area
        if apart > max(REDRAWN_SHARE * local.area, REDRAWN_MIN_M2):
            redrawn.append(row.row)
    return redrawn


def apply_review(
    inventory: Inventory, path: str | Path, *, dry_run: bool = False, force: bool = False
) -> ReviewOutcome:
    """The review file ``path`` applied to ``inventory`` (in one transaction), or with
    ``dry_run`` only compared with it; a file with a bad row, or a uid the inventory does not
    hold, is refused whole before anything changes, and so is one with rows that would undo a
    review made after the file was exported (see the module), unless ``force``."""
    path = Path(path)
    rows, problems = _read_review_file(path)
    current = inventory.statuses()
    problems += [
        (
            row.row,
            f"{path}, row {row.row}, field 'uid': no landslide with uid {row.uid!r} in the "
            f"inventory {inventory.path}",
        )
        for row in rows
        if row.uid not in current
    ]
    if problems:  # every bad row at once, in the file's order (found in a walkthrough: the
        # uids the inventory lacks were named only once the file's own errors were mended)
        raise _refusal(path, [text for _, text in sorted(problems, key=lambda p: p[0])])
    if not force and (undoing := _undoing(path, rows, current, inventory)):
        raise _refusal(
            path,
            undoing,
            "export again and make these rows' decisions there, leave the rows out, or give "
            "--force to apply the file's statuses over the later reviews",
        )
    outcome = ReviewOutcome(redrawn=_redrawn(rows, inventory))
    stored_notes = inventory.review_notes()
    noted: list[tuple[int, str]] = []  # a note changed, the status left as it is then
    notes: dict[int, str | None] = {}  # the notes of the decisions' landslides
    for row in rows:  # one per landslide (read_review_file)
        fid, previous = current[row.uid]
        # an empty cell sets no note and clears none: a file exported before a note was added
        # would erase it (found in review); `inventory ... --note ''` clears one
        new_note = bool(row.note) and row.note != (stored_notes.get(row.uid) or "")
        outcome.notes += new_note
        if previous == row.status:
            outcome.unchanged += 1
            if new_note and row.note:
                noted.append((fid, row.note))
        else:
            status = cast(LandslideStatus, row.status)
            outcome.decisions.append(StatusDecision(row.row, fid, previous, status))
            notes[fid] = row.note if new_note else None
    if dry_run or not (outcome.decisions or noted):
        return outcome
    # the noted rows' status None: their note alone, whatever their status is by then (a
    # status read before the transaction, written back, undid another command's review)
    changes = inventory.set_statuses(
        [*((d.fid, d.status) for d in outcome.decisions), *((f, None) for f, _ in noted)],
        [*(notes[d.fid] for d in outcome.decisions), *(n for _, n in noted)],
    )[: len(outcome.decisions)]
    # what the transaction found: a review by another command since the file was compared
    # shows as the status it replaced, or as no change
    applied = ReviewOutcome(
        unchanged=outcome.unchanged, notes=outcome.notes, redrawn=outcome.redrawn
    )
    for decision, change in zip(outcome.decisions, changes, strict=True):
        if change.previous == decision.status:
            applied.unchanged += 1
        else:
            applied.decisions.append(replace(decision, previous=change.previous))
    applied.outbox = StatusChange.summed(changes)
    return applied
