"""Pytest fixtures of the run tests (helpers live in run_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a configuration file into tmp_path; returns its path."""

    def write(data: dict[str, Any] | str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    return write


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A manifest path that exists (its content is only read by Ensemble.load)."""
    path = tmp_path / "models" / "manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}")
    return path
