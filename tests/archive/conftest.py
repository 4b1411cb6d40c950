"""A small simulated archive shared by the archive tests (built once per session, ~2 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.simulator import build_archive
from monitor.sources.archive import ArchiveSource
from tests.archive.archive_fixtures import REGIONS, SIMULATION


@pytest.fixture(scope="session")
def archive_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("archive")
    build_archive(path, REGIONS, SIMULATION, progress=False, workers=1)
    return path


@pytest.fixture(scope="session")
def archive(archive_path: Path) -> ArchiveSource:
    return ArchiveSource(archive_path)
