"""The schema version of each database the monitor owns, in one place.

Each database holds its version in a table of its own, :data:`VERSION_TABLE` (one row per store:
its ``name``, ``version``, the ``release`` of landslide-monitor that wrote that version, and
``updated_at``), not in SQLite's ``user_version``: the inventory is a GeoPackage, which keeps its
own version there (10400 for GeoPackage 1.4, OGC 12-128r18 Requirement 2) beside its
``application_id`` ("GPKG").

A release uses a database of its version or an older one, and refuses a newer one
(:class:`monitor.errors.NewerSchemaError`, exit status 2) before anything is written to it.
Opened for writing, an older database is migrated and stamped with this release's version in
the same transaction; one written before versions existed (no row) is version 1 once the
migration that existed then (``monitor.store.landslides.ADDED_COLUMNS``) has run.

A release bumps a store's version here when an older release could no longer use a database
it migrated without harm: a table or column renamed or removed, a value that means something
else, a column an older release would leave inconsistent by writing rows without it. It adds
the migration from the previous version where the store is opened
(:class:`monitor.store.inventory.Inventory`, :class:`monitor.ops.schedule.DailyScheduler`). A
column added with a default that older releases may leave empty (``ADDED_COLUMNS``) is no bump:
going back a release stays possible (docs/operations.md, Upgrading).
The alerts' payload ``schema_version`` is another thing (docs/alerts.md).
"""

from __future__ import annotations

from monitor.errors import DatabaseFileError, NewerSchemaError

__all__ = ["INVENTORY", "JOB_STORE", "VERSION_TABLE", "checked_schema_version"]

#: The table that holds a database's schema version.
VERSION_TABLE = "monitor_schema"

#: The inventory GeoPackage: ``landslides``, ``landslide_observations``, ``runs``,
#: ``run_regions`` and ``alert_outbox``.
#: 1: the tables as releases up to 0.1.0 wrote them, with every column of ``ADDED_COLUMNS``.
INVENTORY = 1

#: The scheduler's job store (``schedule.jobstore_url``; ``<inventory>.schedule.sqlite`` by
#: default).
#: 1: APScheduler 3's ``apscheduler_jobs`` holding the daily job, which calls
#: ``monitor.ops.schedule:_fire`` with the store's URL.
JOB_STORE = 1


def checked_schema_version(
    what: str,
    where: str,
    stamped: tuple[object, object] | None,
    readable: int,
    remedy: str,
) -> tuple[int, str] | None:
    """The schema version and release ``stamped`` in a database of the monitor (``what`` at
    ``where``, in its :data:`VERSION_TABLE`; None where it holds none), checked: a value that
    is no whole number from 1 is refused (:class:`monitor.errors.DatabaseFileError`, with
    ``remedy``), and a version newer than ``readable`` too
    (:class:`monitor.errors.NewerSchemaError`)."""
    if stamped is None:
        return None
    version, release = stamped
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DatabaseFileError(
            f"{what} {where}: its {VERSION_TABLE} table gives {what} schema version "
            f"{version!r}, not a whole number from 1; {remedy}"
        )
    if version > readable:
        raise NewerSchemaError(what, where, version, str(release), readable)
    return version, str(release)
