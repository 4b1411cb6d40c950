"""The monitor's cache folder: ``$LANDSLIDE_MONITOR_CACHE``, else
``$XDG_CACHE_HOME/landslide-monitor``, else ``~/.cache/landslide-monitor``. What is kept there
(the ONNX graphs of :mod:`models.onnx_engine`, the event regions' final detections of
``monitor.run_reuse``) may be deleted at any time. Imports nothing heavy: a run that needs no
ensemble finds it without importing torch."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_root"]

CACHE_ENV = "LANDSLIDE_MONITOR_CACHE"


def cache_root() -> Path:
    """The cache folder (see the module docstring); not created here."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "landslide-monitor"
