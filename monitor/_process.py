"""Whether a process of this host is gone: the one test behind cleaning up after writers and
delivery workers killed with ``kill -9`` (``monitor.sources.archive_writer`` removes their
temporary folders, ``monitor.alerts.outbox`` releases their claims)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_gone"]


def process_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this host. A live process, this one or another
    user's (which signal 0 may not reach: ``PermissionError``), is not gone; a zombie (killed,
    not yet reaped by its parent: signal 0 still reaches it) is. A writer killed between its two
    renames otherwise kept its region hidden for as long as its parent left it unreaped
    (found by a user walkthrough, 2026-12-06)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` is a zombie, from Linux's ``/proc/<pid>/stat`` (its state follows the
    command name's closing parenthesis); False where there is no such file (another system)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 1 :].split()[:1] == ["Z"]
