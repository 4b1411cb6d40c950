"""docs/configuration.md says what the configuration loader does: its tables' defaults are the
models' defaults, and what a row says a field does is what loading a file does."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from shapely.geometry import box

from monitor.config import ConfigError, ScheduleSettings, load_config
from monitor.config.regions import MaskSettings, RegionConfig
from monitor.config.settings import DatasetSettings, ModelSettings
from monitor.pipeline.trigger import TriggerSettings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"
SQUARE = box(10.0, 44.0, 10.01, 44.01)


def _rows(heading: str) -> dict[str, tuple[str, str]]:
    """The table under ``heading`` of docs/configuration.md: field -> (default, meaning)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        field = re.fullmatch(r"`([^`]+)`", cells[0]) if len(cells) >= 3 else None
        if field:
            rows[field.group(1)] = (cells[1], cells[2])
    return rows


def test_a_region_file_of_several_layers_needs_its_layer_named(tmp_path: Path) -> None:
    """The regions table said `layer` defaults to the first layer; a GeoPackage of several
    layers without `layer` is refused (which of them watches the region is not guessed)."""
    default, _ = _rows("## `regions[]`")["layer"]
    assert "first layer" not in default
    assert "several" in default
    regions = tmp_path / "regions.gpkg"
    frame = gpd.GeoDataFrame(geometry=[SQUARE], crs="EPSG:4326")
    frame.to_file(regions, layer="valley")
    frame.to_file(regions, layer="ridge")
    config = tmp_path / "config.yaml"
    region = {"name": "r1", "geometry": "regions.gpkg"}
    config.write_text(yaml.safe_dump({"regions": [region]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"has 2 layers \(valley, ridge\): name one"):
        load_config(config)
    config.write_text(yaml.safe_dump({"regions": [{**region, "layer": "ridge"}]}), "utf-8")
    assert load_config(config).regions[0].geometry.equals(SQUARE)


def test_the_top_level_table_lists_every_section() -> None:
    """`dataset` had a section of its own but no row in the top-level table, which reads as
    the list of what a file may hold."""
    from monitor.config import MonitorConfig

    sections = {field.split(".")[0] for field in _rows("## Top level")}  # inventory.path
    assert sections == set(MonitorConfig.model_fields)


def _fields(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    return {f"{prefix}{name}": info for name, info in model.model_fields.items()}


SECTIONS: dict[str, dict[str, FieldInfo]] = {
    "## `regions[]`": {
        **{k: v for k, v in _fields(RegionConfig).items() if k != "masks"},
        **_fields(MaskSettings, "masks."),
    },
    "## `model`": _fields(ModelSettings),
    "## `trigger`": _fields(TriggerSettings),
    "## `dataset`": _fields(DatasetSettings),
    "## `schedule`": _fields(ScheduleSettings),
}


def _defaults(heading: str) -> dict[str, str]:
    """Field -> the default its row in the table under ``heading`` writes; a row that names
    several fields (`pre_days`, `post_days` | 60, 30) gives each its own."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    defaults: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        names = re.findall(r"`([^`]+)`", cells[0])
        values = [v.strip().strip("`") for v in cells[1].split(",")] if len(names) > 1 else []
        for i, name in enumerate(names):
            defaults[name] = values[i] if len(values) == len(names) else cells[1].strip("`")
    return defaults


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_every_field_of_a_section_has_its_row_and_default(heading: str) -> None:
    """A field added to a section's model (or renamed, or given another default) without its
    row in docs/configuration.md fails here: the tables are where users look a field up. A
    default written as a number or as true/false is the model's."""
    written, fields = _defaults(heading), SECTIONS[heading]
    assert set(written) == set(fields)
    for name, info in fields.items():
        value, text = info.default, written[name]
        if isinstance(value, bool):
            if text in ("true", "false"):
                assert text == str(value).lower(), name
        elif isinstance(value, int | float) and re.fullmatch(r"-?\d+(\.\d+)?", text):
            assert float(text) == value, name
