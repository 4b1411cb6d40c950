"""The errors a user must act on and the command line's exit statuses, in one place so that
every layer can raise them and every command answers them the same way (``monitor.cli`` maps
them): :class:`BadInput` is exit status 2, :class:`Interrupted` 128 + the signal (the signal
handling itself is :mod:`models.signals`, shared with ``python -m models``). The run lock's
own status, 75, lives with the lock (:data:`monitor.store.lock.EXIT_LOCKED`)."""

from __future__ import annotations

from models.signals import (
    Interrupted,
    interrupt_on_signals,
    stop_held,
    stop_status,
    stops_deferred,
    swallowed_stop,
)
from monitor import __version__

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_OK",
    "BadInput",
    "DatabaseFileError",
    "Interrupted",
    "NewerSchemaError",
    "interrupt_on_signals",
    "stop_held",
    "stop_status",
    "stops_deferred",
    "swallowed_stop",
]

EXIT_OK = 0  # everything done
EXIT_FAILED = 1  # the work ran but something failed (a run's region, `alerts deliver`'s alert),
# or an unexpected error; a run's undelivered alert waits in the outbox and fails nothing
EXIT_BAD_INPUT = 2  # the user must correct an argument or a file


class BadInput(ValueError):
    """An argument or input file the user must correct (exit status 2). The message names the
    argument or file and says what to do."""


class DatabaseFileError(BadInput):
    """An SQLite file of the monitor (the GeoPackage inventory) that cannot be read or written:
    damaged, not a database, read-only, in a folder that cannot be opened, or locked by another
    program's write (a QGIS edit session). The message names the file and says what to do
    (:func:`monitor._geopackage.file_errors`)."""


class NewerSchemaError(DatabaseFileError):
    """A database of the monitor (the inventory, the scheduler's job store) whose schema version
    is newer than this release reads (:mod:`monitor.file_schemas`): a newer release wrote it.
    Raised before anything is written to it."""

    def __init__(self, what: str, where: str, found: int, release: str, readable: int) -> None:
        self.found = found
        self.readable = readable
        super().__init__(
            f"{what} {where} has schema version {found}, written by landslide-monitor "
            f"{release}; this release (landslide-monitor {__version__}) reads schema versions "
            f"up to {readable}. Nothing was written to it: upgrade landslide-monitor to "
            f"{release} or later to use it, or restore the copy taken before that upgrade "
            "(docs/operations.md, Upgrading)"
        )
