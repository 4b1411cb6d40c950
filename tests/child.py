"""A Python script run in a child process with this checkout importable (tests/models,
tests/run): for what a test must not do in its own process, such as taking a signal's
default action. Importable as ``tests.child``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["run_python"]

REPO = Path(__file__).resolve().parents[1]


def run_python(script: str, timeout_s: float = 120) -> subprocess.CompletedProcess[bytes]:
    """``script`` run by this interpreter (``python -c``), its output captured."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, timeout=timeout_s, check=False
    )
