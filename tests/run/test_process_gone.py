"""``monitor._process.process_gone``: the test behind cleaning up after writers and delivery
workers killed with ``kill -9``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor._process import process_gone


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads Linux's /proc")
def test_a_killed_process_its_parent_has_not_reaped_is_gone() -> None:
    # a writer killed between its two renames kept its region hidden while it stayed a zombie
    # (found by a user walkthrough, 2026-12-06)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        stat = Path(f"/proc/{child.pid}/stat")
        while stat.read_text().rsplit(")", 1)[1].split()[:1] != ["Z"]:
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        assert process_gone(child.pid)  # signal 0 still reaches a zombie
    finally:
        child.wait()
    assert process_gone(child.pid)  # reaped: no such process


def test_a_live_process_is_not_gone() -> None:
    assert not process_gone(os.getpid())
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not process_gone(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()
