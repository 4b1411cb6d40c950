"""The run lock: two runs (the built-in scheduler, cron, a person at a shell) never overlap on
the same inventory.

The lock is an OS advisory lock (``flock``) on a file next to the inventory
(``<inventory>.lock``). The kernel releases it when the holding process dies, however it dies
(SIGKILL, OOM killer, power loss of a container), so there are no stale locks to clean up by
hand. The holder writes its pid, host, start time and command line into the file; a run that
finds the lock taken exits with a message naming them.

``flock`` locks belong to an open file description, so two ``RunLock`` objects in one process
(two scheduler threads) exclude each other just as two processes do. The lock file is never
deleted by the monitor: deleting it would let a third run lock a fresh inode while the second
still waits on the old one.

The file also remembers that the inventory existed: a holder that releases the lock with the
inventory there leaves ``{"inventory_written": TIME}`` in it (a holder's record carries it on).
A lock taken where that record is and the inventory is not is refused
(:class:`InventoryMissing`): an inventory deleted or moved, or a volume not mounted, would
otherwise be started anew without a word, and every landslide alerted again under new keys
(found by an SRE's walk: 21 alerts of landslides the receiver held).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from monitor.errors import BadInput

__all__ = [
    "EXIT_LOCKED",
    "InventoryMissing",
    "LockHolder",
    "RunLock",
    "RunLockHeld",
    "RunLockUnwritable",
    "inventory_written",
    "lock_holder",
    "lock_path_for",
    "refuse_if_lost",
]

#: Exit status of a CLI run refused because another run holds the lock (sysexits EX_TEMPFAIL:
#: "try again later"), so that cron/systemd logs tell it apart from a failure.
EXIT_LOCKED = 75

_POLL_S = 0.2


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or last held) a run lock."""

    pid: int
    host: str
    since: datetime  # UTC
    command: str

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} since {self.since.isoformat(timespec='seconds')} "
            f"({self.command})"
        )


class RunLockHeld(RuntimeError):
    """Another run holds the lock on this inventory."""

    def __init__(self, inventory: Path, lock_file: Path, holder: LockHolder | None) -> None:
        self.inventory = inventory
        self.lock_file = lock_file
        self.holder = holder
        who = holder.describe() if holder else "a process that has not yet recorded itself"
        super().__init__(
            f"another run is already working on inventory {inventory}: {who}; "
            f"lock file {lock_file}. This command exits without doing anything."
        )


class RunLockUnwritable(BadInput):
    """The lock file cannot be created or written: its folder does not let this user write, or
    its file system is full or read-only (exit status 2, as a bad input; the message names the
    file)."""

    def __init__(self, lock_file: Path, exc: OSError) -> None:
        self.lock_file = lock_file
        if exc.errno != errno.ELOOP and lock_file.exists() and not lock_file.is_file():
            super().__init__(
                f"the lock file {lock_file} is not a regular file (a FIFO, a device, a folder): "
                "a run neither reads nor writes through it; remove it"
            )
            return
        if exc.errno == errno.ELOOP or lock_file.is_symlink():
            # never followed: a link planted there truncated the file it named at every run
            # (found in a security walkthrough)
            super().__init__(
                f"the lock file {lock_file} is a symbolic link, which a run never follows (it "
                "would empty the file it names): remove the link"
            )
            return
        super().__init__(
            f"cannot write the lock file {lock_file} ({exc.strerror or exc}): it lives beside "
            f"the inventory, so this user must be able to write in {lock_file.parent}; check "
            "its permissions and that its file system is neither full nor mounted read-only "
            "(the folder is the configuration's inventory.path, which, when relative, is read "
            "from base_dir, by default the configuration file's folder)"
        )


class InventoryMissing(BadInput):
    """The inventory is not there, but its lock file says a command released it with the
    inventory in place (exit status 2)."""

    def __init__(self, inventory: Path, lock_file: Path, written: str) -> None:
        self.inventory = inventory
        super().__init__(
            f"the inventory {inventory} is not there, but a command that used it ended on "
            f"{written} with it in place (its lock file {lock_file} says so): deleted, moved, "
            "or its volume not mounted? A new inventory would alert every landslide it held "
            "again, under new keys. Restore it, or correct inventory.path; to start a new "
            f"inventory there on purpose, delete {lock_file} while no command runs"
        )


#: The lock file's record that the inventory was there when a holder released it.
_WRITTEN_KEY = "inventory_written"


def lock_path_for(inventory: str | os.PathLike[str]) -> Path:
    """The lock file of ``inventory``: ``<inventory>.lock`` in the same directory."""
    inventory = Path(inventory)
    return inventory.with_name(inventory.name + ".lock")


def _record(lock_file: Path, fd: int | None = None) -> dict[str, Any]:
    """The record in ``lock_file``, read from ``fd`` where the caller has it open (by its path
    a link planted since would be followed); empty where there is none (never held, released,
    a holder between lock and write) or it cannot be read."""
    try:
        text = os.pread(fd, 65536, 0) if fd is not None else lock_file.read_bytes()
        record = json.loads(text.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _read_holder(lock_file: Path, fd: int | None = None) -> LockHolder | None:
    """The holder in ``lock_file``'s record (:func:`_record`), or None."""
    record = _record(lock_file, fd)
    try:
        return LockHolder(
            pid=int(record["pid"]),
            host=str(record["host"]),
            since=datetime.fromisoformat(record["since"]),
            command=str(record.get("command", "")),
        )
    except (ValueError, KeyError, TypeError):  # no holder's record (released, or never held)
        return None


def _open_to_read(lock_file: Path) -> int:
    """``lock_file`` opened to read, never through a link planted there nor blocking on a FIFO
    (:class:`RunLockUnwritable` for either: a FIFO would hold `status --check`)."""
    try:
        fd = os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise RunLockUnwritable(lock_file, exc) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunLockUnwritable(lock_file, OSError(errno.EINVAL, "not a regular file"))
    return fd


def lock_holder(inventory: str | os.PathLike[str]) -> LockHolder | None:
    """The current holder of ``inventory``'s run lock, or ``None`` when no run holds it.

    Probes the lock without keeping it; used by ``landslide-monitor status``."""
    lock_file = lock_path_for(inventory)
    if not lock_file.exists():
        return None
    fd = _open_to_read(lock_file)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(lock_file, fd)  # from the file probed, never by its path
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _written(lock_file: Path, fd: int) -> str | None:
    """When the lock file says a holder last released it with the inventory in place (None:
    never, or a file written before it said so)."""
    written = _record(lock_file, fd).get(_WRITTEN_KEY)
    return written if isinstance(written, str) else None


def inventory_written(inventory: str | os.PathLike[str]) -> str | None:
    """When a command last released ``inventory``'s lock with the inventory in place, as its
    lock file says (None: no lock file, or none said so); read without taking the lock."""
    lock_file = lock_path_for(inventory)
    try:
        fd = _open_to_read(lock_file)
    except OSError:  # none there, or not to be read: nothing is known
        return None
    try:
        return _written(lock_file, fd)
    finally:
        os.close(fd)


def refuse_if_lost(inventory: str | os.PathLike[str]) -> None:
    """:class:`InventoryMissing` where ``inventory`` is not there and its lock file says a
    command ended with it in place (:func:`inventory_written`); nothing otherwise."""
    if not Path(inventory).exists() and (written := inventory_written(inventory)) is not None:
        raise InventoryMissing(Path(inventory), lock_path_for(inventory), written)


def _write_record(fd: int, record: dict[str, object]) -> None:
    """Replace the lock file's content with ``record`` (JSON; nothing for an empty one): written
    first, then cut to its length, so that a write that fails leaves the record before it."""
    data = (json.dumps(record) + "\n").encode("utf-8") if record else b""
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


class RunLock:
    """Exclusive lock on one inventory for the length of a run.

    >>> with RunLock("runs/demo/inventory.gpkg"):
    ...     ...  # read, detect, write the inventory

    ``wait_s`` > 0 waits that long for a running run to finish before giving up with
    :class:`RunLockHeld`; the default, 0, gives up at once.
    """

    def __init__(self, inventory: str | os.PathLike[str], wait_s: float = 0.0) -> None:
        self.inventory = Path(inventory)
        self.lock_file = lock_path_for(self.inventory)
        self.wait_s = wait_s
        self._fd: int | None = None
        self._written: str | None = None  # when a holder last left the inventory in place

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock; :class:`RunLockHeld` when another run holds it (after ``wait_s``),
        :class:`RunLockUnwritable` when the lock file cannot be created or its holder record
        written (a folder this user may not write, a full or read-only file system)."""
        if self._fd is not None:
            raise RuntimeError(f"run lock {self.lock_file} is already held by this object")
        try:
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            raise RunLockUnwritable(self.lock_file, exc) from exc
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise RunLockHeld(
                        self.inventory, self.lock_file, _read_holder(self.lock_file)
                    ) from None
                time.sleep(_POLL_S)
        self._written = _written(self.lock_file, fd)
        if self._written is not None and not self.inventory.exists():
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise InventoryMissing(self.inventory, self.lock_file, self._written)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv) or sys.executable,
        }
        if self._written is not None:
            record[_WRITTEN_KEY] = self._written
        try:
            _write_record(fd, record)
        except OSError as exc:  # a full disk: not held, for this process or another
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise RunLockUnwritable(self.lock_file, exc) from exc
        self._fd = fd

    def release(self) -> None:
        """Release the lock (idempotent). The holder record is cleared, the file stays, with
        the record that the inventory was there (:data:`_WRITTEN_KEY`) where it is or was."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):  # an empty file is no inventory (delete it, it says)
            if self.inventory.stat().st_size > 0:
                self._written = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            # at worst (a full disk) the file is left empty: the check is lost, not the work
            with contextlib.suppress(OSError):
                _write_record(fd, {} if self._written is None else {_WRITTEN_KEY: self._written})
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()
