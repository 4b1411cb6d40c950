"""Writing a file so that a crash leaves it either as it was or as the new complete version.

:func:`write_atomically` lets a writer (bytes, PIL, GDAL, pandas, folium...) write a temporary
file beside the target, flushes it to the disk and puts it in the target's place with one
``os.replace``: a process killed at any moment (SIGKILL, the OOM killer, a power loss after the
rename) or a full disk never leaves a half-written file under the target's name, and a reader
never sees one. What a killed writer leaves is a hidden ``.NAME.*.part.SUFFIX`` beside it, which
no reader of the target opens.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "SQLITE_SIDE_FILES",
    "full_disk_note",
    "leftovers",
    "nearest_existing",
    "out_problem",
    "temporary_glob",
    "write_atomically",
]

#: The files SQLite keeps beside a database (its journal, write-ahead log, shared memory), by
#: the suffix added to the database file's name.
SQLITE_SIDE_FILES: tuple[str, ...] = ("-journal", "-wal", "-shm")

# Free space under which a file system is told full where a writer failed on it without saying
# why (GDAL's "Write error at scanline 128", "Cannot write feature"): files here take megabytes.
_FULL_BYTES = 1 << 20


def full_disk_note(folder: str | os.PathLike[str]) -> str:
    """``"; the file system has N KiB free: it is full"`` where the file system of ``folder``
    (or of the nearest folder above it) has under 1 MiB free, else ``""``: what a writer's
    error that does not name a full disk is followed by."""
    where = nearest_existing(folder)
    try:
        free = shutil.disk_usage(where if where is not None else ".").free
    except OSError:
        return ""
    return (
        f"; the file system has {free // 1024} KiB free: it is full" if free < _FULL_BYTES else ""
    )


def write_atomically(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` to write a temporary file in ``path``'s folder (made if missing),
    then move it to ``path`` in one step; returns ``path``.

    The temporary name keeps ``path``'s suffix (writers that choose a format by it, or refuse
    any other, write the same file) and does not exist when ``write`` is called. The file is
    synced to the disk before it replaces ``path`` and the folder after, so a machine that loses
    power just after has the new file, or the old one, never an empty one. When ``write``
    raises, ``path`` is left as it was and the temporary file removed. The new file has the mode
    a new file gets (the umask's), like the file ``write`` made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(
        f".{path.name}.{uuid.uuid4().hex[:8]}.part{path.suffix}"
    )  # as temporary_glob() finds it
    try:
        write(tmp)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)
    return path


def leftovers(path: str | os.PathLike[str]) -> list[Path]:
    """The temporary files that writes of ``path`` killed before their rename left beside it
    (``.NAME.<8 hex>.part.SUFFIX``, and the SQLite journal a GeoPackage writer keeps beside
    it, ``-journal``, ``-wal``, ``-shm``): what a writer that owns ``path`` may remove before
    it writes again, when no other writer of it runs."""
    path = Path(path)
    pattern = temporary_glob(glob.escape(path.name), glob.escape(path.suffix))
    return sorted(
        found for end in ("", *SQLITE_SIDE_FILES) for found in path.parent.glob(pattern + end)
    )


def temporary_glob(name: str, suffix: str) -> str:
    """The glob of the temporary files :func:`write_atomically` writes for targets named
    ``name`` (itself a glob: ``candidate-*.png``, or an escaped name) of ``suffix``."""
    return f".{name}.{'[0-9a-f]' * 8}.part{suffix}"


def _sync_folder(folder: Path) -> None:
    """Flush ``folder``'s entries (the rename) to the disk, where the system allows it."""
    with contextlib.suppress(OSError):  # a folder cannot be opened for syncing on every system
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def out_problem(path: str | os.PathLike[str], *, folder: bool = True) -> str | None:
    """Why no output can be written at ``path`` (a command's ``--out``), or None: ``path`` is a
    file where a ``folder`` is asked for, or a file above it, under which nothing can be made.
    Checked before the work, so that hours of it do not end in ``NotADirectoryError``."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        return f"{path}: a file, not a folder"
    above = nearest_existing(path.parent)
    if above is not None and not above.is_dir():
        return f"{path}: {above} is a file, so nothing can be made under it"
    return None


def nearest_existing(path: str | os.PathLike[str]) -> Path | None:
    """``path`` or the nearest folder above it that exists (None where none does): what a
    folder to be made hangs on."""
    path = Path(path)
    return next((each for each in (path, *path.parents) if each.exists()), None)
