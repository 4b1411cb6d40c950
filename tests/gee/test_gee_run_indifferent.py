"""Downstream is indifferent to the source: one region detected by the run
(``monitor.run.detect_region``: trigger, setting choice, ensemble, vectorising) from the archive
source and from the Earth Engine source (served the archive's composites through the stand-in)
gives the same result."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from shapely.geometry import box, mapping

from gee_scripts.settings import GeeSettings
from models.ensemble import Ensemble
from models.testing import build_untrained_ensemble
from monitor.config import load_config
from monitor.run import detect_region
from monitor.simulator import ArchiveSimulation, SimulationSpec, build_archive
from monitor.sources.archive import ArchiveSource
from monitor.sources.gee import GeeSource
from tests.gee.gee_archive_server import archive_server

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

RUN_DATE = date(2024, 9, 15)
REGION = box(10.880, 44.340, 10.889, 44.347)  # about 700 m x 780 m of clay hills


def test_detect_region_gives_the_same_result_from_both_sources(tmp_path: Path) -> None:
    manifest = build_untrained_ensemble(tmp_path / "ensemble", settings=("S1", "S1+S2"))
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "gee", "project": "offline-test", "chunk_px": 64},
                "regions": [{"name": "hills", "geometry": mapping(REGION)}],
                "model": {"manifest": str(manifest)},
                "inventory": {"path": str(tmp_path / "inventory.gpkg")},
                "quicklooks": {"dir": str(tmp_path / "quicklooks"), "max_per_region": 0},
            },
            sort_keys=False,
        )
    )
    config = load_config(config_path)
    assert isinstance(config.source, GeeSettings)
    (region,) = config.regions
    build_archive(
        tmp_path / "archive",
        [
            (
                region.area,
                SimulationSpec(landscape="agricultural_hills", seed=5, landslide_rate_scale=10),
            )
        ],
        ArchiveSimulation(
            start=date(2024, 6, 1), end=date(2024, 9, 20), storms=(date(2024, 8, 17),)
        ),
        progress=False,
        workers=1,
    )
    archive = ArchiveSource(tmp_path / "archive")
    pre, post = region.windows.windows_for(RUN_DATE)
    _, server = archive_server(archive, region.area, pre, post, region.windows.compositing())
    ensemble = Ensemble.load(manifest)

    from_archive = detect_region(config, region, RUN_DATE, source=archive, ensemble=ensemble)
    with server.installed():
        gee = GeeSource(config.source, initialize=False, progress=False)
        from_gee = detect_region(config, region, RUN_DATE, source=gee, ensemble=ensemble)

    assert from_gee.status == from_archive.status == "ok"
    assert from_gee.data_status == from_archive.data_status
    assert from_gee.setting == from_archive.setting
    assert from_gee.trigger == from_archive.trigger
    assert from_archive.trigger is not None and from_archive.trigger.triggered
    assert from_gee.n_candidates == from_archive.n_candidates >= 1
    assert from_archive.candidates is not None and from_gee.candidates is not None
    columns = [c for c in from_archive.candidates.columns if c != "geometry"]
    assert from_gee.candidates[columns].equals(from_archive.candidates[columns])
    assert from_gee.candidates.geometry.equals(from_archive.candidates.geometry)
