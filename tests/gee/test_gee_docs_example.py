"""The configuration example of docs/earth_engine.md is valid as written."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from gee_scripts.settings import GeeSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "earth_engine.md"


def test_documented_source_block_validates() -> None:
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block is not None, f"no yaml block in {DOC}"
    settings = GeeSettings.model_validate(yaml.safe_load(block.group(1))["source"])
    assert settings.project == "my-cloud-project"
    assert settings.dem.overrides == {
        "valtellina-alps": "projects/my-cloud-project/assets/dtm_lombardia_10m"
    }
    assert settings.export.bucket == "my-landslide-exports"
    assert settings.s1.terrain_model == "landcover" and settings.chunk_px == 512
    assert settings.dem.source == "auto" and settings.high_volume_endpoint is False
