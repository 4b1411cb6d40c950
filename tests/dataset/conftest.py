"""A small simulated archive and configuration for the dataset tests (built once, ~2 s)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from shapely.geometry import box, mapping

from monitor.simulator import ArchiveSimulation, SimulationSpec, build_archive
from monitor.sources.base import AreaOfInterest

SIMULATION = ArchiveSimulation(
    start=date(2024, 6, 1), end=date(2024, 10, 1), storms=(date(2024, 8, 17),)
)
HILLS = AreaOfInterest("hills", box(10.90, 44.34, 10.928, 44.36))
SPEC = SimulationSpec(landscape="agricultural_hills", seed=5, landslide_rate_scale=6.0)


@pytest.fixture(scope="session")
def dataset_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dataset-archive")
    build_archive(path, [(HILLS, SPEC)], SIMULATION, progress=False, workers=1)
    return path


def config_dict(archive: Path, root: Path, **dataset: Any) -> dict[str, Any]:
    return {
        "source": {
            "type": "archive",
            "path": str(archive),
            "simulation": {"start": "2024-06-01", "end": "2024-10-01", "storms": ["2024-08-17"]},
        },
        "regions": [
            {
                "name": HILLS.name,
                "geometry": mapping(HILLS.geometry),
                "simulation": {
                    "landscape": "agricultural_hills",
                    "seed": 5,
                    "landslide_rate_scale": 6.0,
                },
            }
        ],
        "inventory": {"path": str(root / "inventory.gpkg")},
        "quicklooks": {"dir": str(root / "quicklooks")},
        "dataset": dataset,
    }


@pytest.fixture
def dataset_config(dataset_archive: Path, tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    data = config_dict(dataset_archive, tmp_path, tile_m=1200.0)
    path.write_text(yaml.safe_dump(_plain(data), sort_keys=False))
    return path


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj
