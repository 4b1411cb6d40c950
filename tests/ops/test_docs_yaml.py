"""Every YAML example of README.md and docs/*.md loads with the configuration loader.

A user copies these blocks into a configuration file; one with a field the loader no longer
knows (renamed, moved, misspelt) fails here rather than on the user's machine.

The rules, so that an example may stay a short excerpt:

* every ```` ```yaml ```` (or ```` ```yml ````) block of README.md and of docs/*.md (not
  docs/measurements/) is a configuration file or an excerpt of one;
* an excerpt is completed with what it leaves out, and nothing it gives is changed: without
  ``regions`` it gets one region; a region without ``geometry`` gets a small inline polygon;
* the files of the user's own that the loader opens are made in a temporary folder: a region
  ``geometry`` given as a relative path (GeoPackage, GeoJSON or shapefile, by its extension)
  is written there with that polygon, and an ``alerts.smtp.ca_file`` (a path on the user's
  machine) is replaced by a PEM bundle that exists (certifi's);
* a YAML block that is no configuration of the monitor (a training grid, a Kubernetes
  manifest) is skipped when the line before its fence is ``<!-- yaml: not a configuration -->``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP_MARKER = "<!-- yaml: not a configuration -->"
BLOCK = re.compile(r"^```ya?ml[ \t]*\n(.*?)^```", re.S | re.M)
POLYGON = {
    "type": "Polygon",
    "coordinates": [[[10.0, 44.0], [10.01, 44.0], [10.01, 44.01], [10.0, 44.01], [10.0, 44.0]]],
}


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in BLOCK.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            if before.strip() == SKIP_MARKER:
                continue
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_examples_are_found() -> None:
    """The extraction itself works, in every file that has examples (2026-12-04: README's
    configuration and Earth Engine blocks, two of operations.md, one each of alerts.md and
    earth_engine.md; 2026-12-07, configuration.md's shared region settings), so a change of fence
    or folder cannot leave the test checking nothing."""
    files = sorted({where.rsplit(":", 1)[0] for where, _ in BLOCKS})
    assert files == [
        "README.md",
        "docs/alerts.md",
        "docs/configuration.md",
        "docs/earth_engine.md",
        "docs/operations.md",
    ]
    assert len(BLOCKS) >= 6


def _write_region_file(path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import shape

    drivers = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": None}
    if path.suffix.lower() not in drivers:
        pytest.fail(f"no stand-in for a region file {path.name}: add its driver to this test")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame(geometry=[shape(POLYGON)], crs="EPSG:4326")
    frame.to_file(path, driver=drivers[path.suffix.lower()])


def _completed(data: dict[str, Any], folder: Path) -> dict[str, Any]:
    # a source block alone (docs/earth_engine.md) is completed with the regions its DEM
    # overrides name, as the configuration it goes into has them
    overrides = ((data.get("source") or {}).get("dem") or {}).get("overrides") or {}
    named = [{"name": name} for name in overrides] or [{"name": "example-region"}]
    regions = data.setdefault("regions", named)
    for region in regions:
        geometry = region.setdefault("geometry", POLYGON)
        if isinstance(geometry, str) and not Path(geometry).is_absolute():
            _write_region_file(folder / geometry)
    smtp = (data.get("alerts") or {}).get("smtp") or {}
    if smtp.get("ca_file") is not None:
        certifi = pytest.importorskip("certifi")
        smtp["ca_file"] = certifi.where()
    return data


@pytest.mark.parametrize(("where", "block"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_documented_yaml_loads(where: str, block: str, tmp_path: Path) -> None:
    data = yaml.safe_load(block)
    assert isinstance(data, dict), f"{where}: not a mapping; mark it with {SKIP_MARKER!r}"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(_completed(data, tmp_path)), encoding="utf-8")
    try:
        load_config(config_file)
    except ConfigError as exc:  # its lines are the completed copy's; the fields are the doc's
        pytest.fail(f"the YAML example at {where} does not load:\n{exc}")
