"""A minimal GeoPackage writer on plain SQLite (OGC 12-128r18, GeoPackage 1.4).

The inventory writes landslides, runs and the alert outbox in ONE SQLite transaction, which a
GDAL/OGR writer cannot share; so the few GeoPackage rules it needs live here: the core metadata
tables, the geometry blob (``GP`` header + envelope + ISO WKB) and the registration of feature
and attribute tables in ``gpkg_contents``. The file opens in QGIS and GDAL (``pyogrio``).

No R-tree spatial index is created (an inventory of landslides is small enough for a full scan),
but the SQL functions that the R-tree triggers of GDAL/QGIS call (``ST_IsEmpty``, ``ST_MinX`` ...)
are registered on every connection: if someone adds a spatial index in QGIS, writes still work
and keep it current.

The monitor's GeoPackage is its inventory, and every connection opened here checks the
inventory's schema version first (:mod:`monitor.file_schemas`): a file a newer release wrote is
refused before anything is written to it.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from monitor import __version__
from monitor.errors import DatabaseFileError
from monitor.file_schemas import INVENTORY, VERSION_TABLE, checked_schema_version

__all__ = [
    "DAMAGED",
    "add_missing_columns",
    "connect",
    "connect_read_only",
    "decode_geometry",
    "empty_inventory",
    "encode_geometry",
    "ensure_srs",
    "envelope",
    "is_locked",
    "register_attributes",
    "register_features",
    "schema_version",
    "sql_values",
    "sqlite_advice",
    "stamp_schema_version",
    "table_columns",
    "table_names",
    "timestamp",
    "touch_contents",
    "transaction",
]

log = logging.getLogger(__name__)

_APPLICATION_ID = 0x47504B47  # "GPKG"
_USER_VERSION = 10400  # GeoPackage 1.4.0
_MAGIC = b"GP"

# The store whose schema version the monitor's GeoPackage carries (monitor.file_schemas)
_STORE = "inventory"
_VERSION_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
  name TEXT NOT NULL PRIMARY KEY,
  version INTEGER NOT NULL,
  release TEXT NOT NULL,
  updated_at DATETIME NOT NULL
)
"""

_CORE_TABLES = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
"""

_UNDEFINED_SRS = (
    ("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate"),
    ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate"),
)


# What to do about each kind of SQLite failure that is the file's, not the code's: matched on
# the messages of sqlite3_errstr (SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_READONLY, SQLITE_CANTOPEN,
# SQLITE_FULL, SQLITE_BUSY). A busy file is another program's write (runs of the monitor exclude
# each other with the run lock before they open it), which only its user can end.
_LOCKED = "database is locked"
# What SQLite says of a file that is damaged or no database (the scheduler's job store is judged
# by it too: monitor.ops.schedule).
DAMAGED = ("malformed", "not a database", "file is encrypted")

_FILE_PROBLEMS = (
    (
        DAMAGED,
        "is damaged or not an SQLite file; restore it from a backup, or move it aside to start "
        "a new one (`sqlite3 FILE .recover` may salvage its rows)",
    ),
    (
        ("readonly", "read-only"),
        "cannot be written; check the permissions of the file and its folder (SQLite writes "
        "FILE-journal beside it) and that the file system is not mounted read-only",
    ),
    (
        ("unable to open",),
        "cannot be opened; check that its folder exists and that this user may read and write "
        "there",
    ),
    (
        (_LOCKED,),
        "is locked by another program writing it (a QGIS edit session, an sqlite3 shell, a "
        "monitor on another machine sharing the file) for longer than this command waits; "
        "nothing was changed: save or close that program's edits and run again",
    ),
    (
        ("database or disk is full",),
        "cannot grow: its file system is full (SQLite writes FILE-journal beside it too); free "
        "space there and run again (what this command was writing was rolled back)",
    ),
)


@contextmanager
def file_errors(path: str | Path, what: str = "inventory") -> Iterator[None]:
    """Turn an SQLite error that is the file's fault into :class:`monitor.errors.
    DatabaseFileError` naming ``path`` and saying what to do. Other errors (a constraint)
    pass unchanged."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        advice = sqlite_advice(message, path)
        if advice is not None:
            raise DatabaseFileError(f"{what} {path} {advice} (SQLite: {message})") from exc
        raise


def sqlite_advice(message: str, path: str | Path) -> str | None:
    """What to do about the SQLite failure ``message`` tells of ``path`` (damaged, read-only,
    cannot be opened, locked by another program's write, its disk full), worded to follow the
    file's name; None where it is none of those (the code's, not the file's). Also what reads
    a GeoPackage through GDAL calls (a region file: GDAL passes SQLite's words on)."""
    for needles, advice in _FILE_PROBLEMS:
        if any(needle in message.lower() for needle in needles):
            return advice.replace("FILE", str(path))
    return None


def empty_inventory(path: Path) -> DatabaseFileError | None:
    """The error of an inventory file of 0 bytes, which every command refuses, or None: a
    truncated one (a full disk, a bad copy) was taken for a new one, its schema written into it
    and its landslides alerted again under new keys (found in a crash walkthrough)."""
    if path.is_file() and not path.stat().st_size:
        return DatabaseFileError(
            f"inventory {path} is empty (0 bytes): restore it from a backup; where no run has "
            "written it yet, delete it and the next run starts a new inventory"
        )
    return None


def _refuse_folder(path: Path, what: str) -> None:
    """A folder where a database file is named is refused by name (SQLite says "disk I/O
    error" opening one read-only, "unable to open" otherwise)."""
    if path.is_dir():
        raise DatabaseFileError(
            f"{what} {path} is a folder, not a file; check the path in the configuration (a "
            "file's name there: a new one starts a new file)"
        )


def connect(
    path: str | Path, *, timeout_s: float = 30.0, what: str = "GeoPackage"
) -> sqlite3.Connection:
    """Open (creating if needed) the GeoPackage at ``path`` with the core tables present.

    The connection is in autocommit mode; group writes with :func:`transaction`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_folder(path, what)
    if what == "inventory" and (empty := empty_inventory(path)):  # before anything is written
        raise empty
    with file_errors(path, what):
        conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
        try:
            return _prepare(conn, path)
        except BaseException:
            conn.close()
            raise


def _prepare(conn: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    conn.row_factory = sqlite3.Row
    _register_functions(conn)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    if app_id not in (0, _APPLICATION_ID):
        raise DatabaseFileError(
            f"{path} is an SQLite file but not a GeoPackage (application_id {app_id}); point "
            "the configuration at a GeoPackage, or at a new file to start one"
        )
    with transaction(conn):
        _refuse_newer(conn, path)  # first: a refusal rolls back a transaction that wrote nothing
        conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {_USER_VERSION}")
        for statement in _CORE_TABLES.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", _UNDEFINED_SRS
        )
        ensure_srs(conn, 4326)
    return conn


def connect_read_only(path: str | Path, *, timeout_s: float = 5.0) -> sqlite3.Connection:
    """Open the existing SQLite file at ``path`` read-only (``mode=ro``): nothing is created or
    changed, and reading works while a run holds the inventory's lock. A file of a newer schema
    version than this release reads is refused (:class:`monitor.errors.NewerSchemaError`).

    The one exception: a write a killed program left half done (a *hot* journal, ``FILE-journal``
    with no writer holding the file) is rolled back first, as SQLite does on any connection that
    may write. A read-only connection cannot, and failed with SQLite's "attempt to write a
    readonly database" (read as a permissions problem) until some command wrote the file:
    ``status``, ``alerts list`` and the scheduler, which would have started the run that
    repairs it, refused to start."""
    path = Path(path)
    _refuse_folder(path, "database")
    try:
        return _open_read_only(path, timeout_s)
    except sqlite3.OperationalError as exc:
        journal = path.with_name(f"{path.name}-journal")
        if "readonly" not in str(exc).lower() or not journal.exists():
            raise
        _roll_back_hot_journal(path, journal, timeout_s, exc)
    return _open_read_only(path, timeout_s)


def _open_read_only(path: Path, timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s)
    conn.row_factory = sqlite3.Row
    try:
        _refuse_newer(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _roll_back_hot_journal(
    path: Path, journal: Path, timeout_s: float, cause: sqlite3.OperationalError
) -> None:
    """Let SQLite roll back the hot ``journal`` of ``path``: a connection that may write (never
    creating the file) rolls it back on its first read. SQLite takes a journal as hot only when
    no connection holds the file for writing, so a live writer's journal is left alone."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout_s)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        raise DatabaseFileError(
            f"{path}: {journal.name} beside it holds a write that a killed program left half "
            f"done, which SQLite undoes on the next connection that may write the file; this one "
            f"cannot ({err}: a file system mounted read-only, as a health check's volume may be, "
            "or a user who may not write the file or its folder): run a command that writes it "
            "(`landslide-monitor alerts deliver`, a run) where and as whom it may"
        ) from cause
    log.warning(
        "%s: rolled back the write a killed program left half done (%s); the file is as it was "
        "before that write", path, journal.name,
    )  # fmt: skip


def schema_version(conn: sqlite3.Connection, path: str | Path) -> tuple[int, str] | None:
    """The inventory's schema version stamped in the file at ``path`` and the release that
    wrote it; None for a file that holds none (a new file, or one of a release before schema
    versions). A version newer than this release reads is refused
    (:class:`monitor.errors.NewerSchemaError`). Reads only."""
    row = None
    if VERSION_TABLE in table_names(conn):
        row = conn.execute(
            f"SELECT version, release FROM {VERSION_TABLE} WHERE name = ?", (_STORE,)
        ).fetchone()
    return checked_schema_version(
        "inventory",
        str(path),
        None if row is None else (row[0], row[1]),
        INVENTORY,
        "it was edited by hand or by another program: restore the file from a backup",
    )


def _refuse_newer(conn: sqlite3.Connection, path: Path) -> int | None:
    """Raise :class:`monitor.errors.NewerSchemaError` when the file's schema version is newer
    than this release reads; else its version (None: none stamped). Reads only."""
    found = schema_version(conn, path)
    return None if found is None else found[0]


def stamp_schema_version(conn: sqlite3.Connection, path: str | Path) -> None:
    """Stamp the file with this release's inventory schema version where it holds an older one
    or none: call after the migration to it, in the same transaction. A newer one is refused,
    as on opening."""
    if _refuse_newer(conn, Path(path)) == INVENTORY:
        return
    conn.execute(_VERSION_SCHEMA)
    register_attributes(conn, VERSION_TABLE, "the schema version of this file (landslide-monitor)")
    conn.execute(
        f"INSERT OR REPLACE INTO {VERSION_TABLE} (name, version, release, updated_at) "
        "VALUES (?, ?, ?, ?)",
        (_STORE, INVENTORY, __version__, timestamp(datetime.now(UTC))),
    )


def _register_functions(conn: sqlite3.Connection) -> None:
    """The GeoPackage SQL functions that R-tree index triggers use (GeoPackage 1.4, F.3)."""

    def on_blob(fn):
        def call(blob: bytes | None):
            if blob is None:
                return None
            return fn(blob)

        return call

    def is_empty(blob: bytes) -> int:
        return int(bool(blob[3] & 0b0001_0000) or decode_geometry(blob).is_empty)

    conn.create_function("ST_IsEmpty", 1, on_blob(is_empty), deterministic=True)
    for name, index in (("ST_MinX", 0), ("ST_MinY", 1), ("ST_MaxX", 2), ("ST_MaxY", 3)):
        getter = on_blob(lambda blob, i=index: envelope(blob)[i])
        conn.create_function(name, 1, getter, deterministic=True)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception, a failed ``COMMIT``
    too (nothing half-written). SQLite has already rolled back the transaction after some errors
    (a full disk: SQLITE_FULL, SQLITE_IOERR); then nothing is left to roll back, and the error
    raised is that one, not 'cannot rollback - no transaction is active'.

    Nested use joins the outer transaction."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def ensure_srs(conn: sqlite3.Connection, epsg: int) -> int:
    """Register ``EPSG:epsg`` in ``gpkg_spatial_ref_sys`` (if absent); returns its ``srs_id``."""
    row = conn.execute("SELECT 1 FROM gpkg_spatial_ref_sys WHERE srs_id = ?", (epsg,)).fetchone()
    if row is None:
        crs = CRS.from_epsg(epsg)
        conn.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, ?)",
            (crs.name, epsg, epsg, crs.to_wkt("WKT1_GDAL"), crs.name),
        )
    return epsg


def sql_values(values: Iterable[str]) -> str:
    """``'a', 'b'``: ``values`` as SQL string literals, for a ``CHECK (... IN (...))`` list."""
    return ", ".join(f"'{v}'" for v in values)


def parse_timestamp(text: object) -> datetime | None:
    """A GeoPackage DATETIME (any ISO 8601 time) as an aware datetime, a time written without
    its zone read as UTC (the monitor writes UTC); None where ``text`` is empty or no time (a
    file other tools edit too)."""
    try:
        moment = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def timestamp(moment: datetime) -> str:
    """A GeoPackage DATETIME: ISO 8601 UTC with milliseconds and ``Z``; sorts in time order."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def register_features(
    conn: sqlite3.Connection, table: str, column: str, geometry_type: str, srs_id: int, text: str
) -> None:
    """Declare ``table`` a feature table with geometry ``column`` (idempotent)."""
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
        "srs_id) VALUES (?, 'features', ?, ?, ?)",
        (table, table, text, srs_id),
    )
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, 0, 0)",
        (table, column, geometry_type, srs_id),
    )


def table_names(conn: sqlite3.Connection) -> set[str]:
    """The names of the tables the file holds (its own schema: not a connection's TEMP ones)."""
    return {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The names of ``table``'s columns (none where there is no such table)."""
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` (or the SQLite error it was raised from, :func:`file_errors`) is
    SQLite's "database is locked": another program writing the file."""
    cause = exc if isinstance(exc, sqlite3.OperationalError) else exc.__cause__
    return isinstance(cause, sqlite3.OperationalError) and _LOCKED in str(cause).lower()


def add_missing_columns(conn: sqlite3.Connection, table: str, columns: dict[str, str]) -> list[str]:
    """Add each of ``columns`` (name -> SQL type) that ``table`` lacks (a file written by an
    older version); returns the names added. Call inside a transaction."""
    present = table_columns(conn, table)
    added = [name for name in columns if name not in present]
    for name in added:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {columns[name]}")
    return added


def register_attributes(conn: sqlite3.Connection, table: str, text: str) -> None:
    """Declare ``table`` a non-spatial attribute table (idempotent), so QGIS lists it."""
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES (?, 'attributes', ?, ?)",
        (table, table, text),
    )


def touch_contents(
    conn: sqlite3.Connection, table: str, bounds: tuple[float, float, float, float] | None
) -> None:
    """Update ``last_change`` and the extent of ``table`` in ``gpkg_contents``."""
    if bounds is None:
        conn.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') "
            "WHERE table_name = ?",
            (table,),
        )
        return
    conn.execute(
        "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now'), "
        "min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
        (*bounds, table),
    )


def encode_geometry(geometry: BaseGeometry, srs_id: int) -> bytes:
    """GeoPackage binary: ``GP``, version 0, flags (little-endian, XY envelope), srs_id, ISO WKB."""
    if geometry.is_empty:
        flags = 0b0001_0001  # empty, no envelope, little-endian
        return (
            _MAGIC
            + struct.pack("<BBi", 0, flags, srs_id)
            + shapely.to_wkb(geometry, flavor="iso", byte_order=1)
        )
    minx, miny, maxx, maxy = geometry.bounds
    flags = 0b0000_0011  # envelope [minx, maxx, miny, maxy], little-endian
    header = _MAGIC + struct.pack("<BBi4d", 0, flags, srs_id, minx, maxx, miny, maxy)
    return header + shapely.to_wkb(geometry, flavor="iso", byte_order=1)


_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}


def envelope(blob: bytes) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a GeoPackage binary, from its header when it has one."""
    if blob[:2] != _MAGIC:
        raise ValueError("not a GeoPackage geometry blob (magic 'GP' missing)")
    flags = blob[3]
    order = "<" if flags & 1 else ">"
    if (flags >> 1) & 0b111:
        minx, maxx, miny, maxy = struct.unpack(order + "4d", blob[8:40])
        return (minx, miny, maxx, maxy)
    return decode_geometry(blob).bounds


def decode_geometry(blob: bytes) -> BaseGeometry:
    """Shapely geometry of a GeoPackage binary (any byte order and envelope kind)."""
    if blob[:2] != _MAGIC:
        raise ValueError("not a GeoPackage geometry blob (magic 'GP' missing)")
    flags = blob[3]
    envelope = (flags >> 1) & 0b111
    if envelope not in _ENVELOPE_DOUBLES:
        raise ValueError(f"invalid GeoPackage envelope indicator {envelope}")
    offset = 8 + 8 * _ENVELOPE_DOUBLES[envelope]
    return shapely.from_wkb(blob[offset:])
