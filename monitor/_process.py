"""Whether a process of this host is gone: the one test behind cleaning up after writers and
delivery workers killed with ``kill -9`` (``monitor.sources.archive_writer`` removes their
temporary folders, ``monitor.alerts.outbox`` releases their claims)."""

from __future__ import annotations

import os

__all__ = ["process_gone"]


def process_gone(pid: int) -> bool:
    """True when no process ``pid`` exists on this host. A live process, this one or another
    user's (which signal 0 may not reach: ``PermissionError``), is not gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
