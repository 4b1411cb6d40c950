"""Fixtures of the operations tests (helpers live in ops_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import MonitorConfig, load_config
from tests.ops.ops_fixtures import archive_regions, populate, write_archive_config, write_config


@pytest.fixture(scope="session")
def untrained_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight ensemble (models.testing): enough for runs whose detections the
    operations tests compare between two ways of running, never for their quality."""
    from models.testing import build_untrained_ensemble

    return build_untrained_ensemble(
        tmp_path_factory.mktemp("ensemble"), settings=("S1", "S1+S2"), architectures=("Unet",)
    )


@pytest.fixture
def ops_config(tmp_path: Path, untrained_manifest: Path) -> MonitorConfig:
    return load_config(write_config(tmp_path, untrained_manifest))


@pytest.fixture
def populated_config(ops_config: MonitorConfig) -> tuple[MonitorConfig, int]:
    return ops_config, populate(ops_config)


@pytest.fixture(scope="session")
def small_archive(tmp_path_factory: pytest.TempPathFactory, untrained_manifest: Path) -> Path:
    """An archive of four simulated regions (built once per session, ~3 s)."""
    from monitor.run import build_configured_archive

    root = tmp_path_factory.mktemp("archive")
    config = load_config(
        write_archive_config(root, root / "archive", untrained_manifest, archive_regions(4))
    )
    return build_configured_archive(config, progress=False)
