"""The real seams end to end through the CLI: `archive build` simulates a small region into an
archive, `run` composites it (ArchiveSource), runs a real (untrained) ensemble loaded from a
manifest, vectorises, writes the inventory and scores against the archive's ground truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from shapely.geometry import box, mapping

from models.testing import build_untrained_ensemble
from monitor.cli import main
from monitor.config import ArchiveSourceConfig, load_config
from monitor.sources.archive import ArchiveSource
from monitor.store.inventory import Inventory

REGION = box(10.880, 44.340, 10.889, 44.347)  # about 700 m x 780 m of the demo's clay hills


@pytest.mark.slow
def test_archive_build_then_run_through_the_cli(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = build_untrained_ensemble(tmp_path / "ensemble", settings=("S1", "S1+S2"))
    config_path = write_config(
        {
            "source": {
                "type": "archive",
                "path": "archive",
                "simulation": {
                    "start": "2024-06-01",
                    "end": "2024-09-20",
                    "storms": ["2024-08-17"],
                },
            },
            "regions": [
                {
                    "name": "hills",
                    "geometry": mapping(REGION),
                    "simulation": {
                        "landscape": "agricultural_hills",
                        "seed": 5,
                        "landslide_rate_scale": 10,
                    },
                }
            ],
            "model": {"manifest": str(manifest)},
            "inventory": {"path": "out/inventory.gpkg"},
            "quicklooks": {"dir": "out/quicklooks", "max_per_region": 2},
        }
    )
    assert main(["-q", "archive", "build", "--config", str(config_path)]) == 0
    status = main(["-q", "run", "--config", str(config_path), "--date", "2024-09-15"])
    out = capsys.readouterr().out
    assert status == 0, out

    config = load_config(config_path)
    assert isinstance(config.source, ArchiveSourceConfig)
    truth = ArchiveSource(config.source.path).ground_truth("hills")
    events = truth[(truth["event_date"].astype(str) >= "2024-08-16")]
    assert len(events) > 0  # the storm's landslides are in the post window
    assert "hills                ok" in out
    assert f"/{len(events)}" in out  # recall counted against those events
    with Inventory(config.inventory.path) as inventory:
        runs = inventory.runs()
        regions = inventory.run_regions(int(runs["run_id"].iloc[0]))
        landslides = inventory.landslides()
    assert runs["status"].tolist() == ["ok"]
    assert regions["setting"].iloc[0] in ("S1", "S1+S2")
    assert "trigger" in regions["message"].iloc[0]
    assert not landslides.empty  # 4 with this seed and the seeded untrained ensemble
    assert set(landslides["region"]) == {"hills"}
    assert (landslides["pre_date"] < landslides["post_date"]).all()
    quicklooks = sorted((config.quicklooks.dir / "2024-09-15" / "hills").glob("*.png"))
    assert 1 <= len(quicklooks) <= 2
    # the summary's last line names the day's folder of quicklooks and probability COGs
    assert out.rstrip().splitlines()[-1] == f"Quicklooks: {config.quicklooks.dir / '2024-09-15'}"
