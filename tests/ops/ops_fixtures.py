"""Helpers of the operations tests (the fixtures themselves are in this folder's conftest.py): a
small configuration, an inventory filled through the inventory's own API, and a small simulated
archive's regions."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sqlite3
import sys
import textwrap
from collections.abc import Mapping, Sequence
from contextlib import closing
from datetime import date
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import yaml
from PIL import Image
from shapely.geometry import box, shape

from monitor.config import MonitorConfig
from monitor.grid import region_grid
from monitor.pipeline.vectorise import CANDIDATE_COLUMNS, empty_candidates
from monitor.store.inventory import Inventory, RegionDetections

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench(name: str) -> ModuleType:
    """The module ``bench/<name>.py``, imported as a bench script imports its neighbours (its
    folder on the path; its ``__main__`` block not run)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    return importlib.import_module(name)


REGIONS_YAML = """
regions:
  - name: wayanad-hills
    orbit_pass: descending
    geometry:
      type: Polygon
      coordinates: [[[76.16017, 11.48779], [76.14403, 11.48976], [76.12185, 11.48581],
                     [76.11983, 11.45617], [76.13798, 11.45024], [76.15916, 11.4532],
                     [76.16017, 11.48779]]]
  - name: emilia-hills
    orbit_pass: both
    geometry:
      type: Polygon
      coordinates: [[[10.92764, 44.36779], [10.90553, 44.36976], [10.87513, 44.36581],
                     [10.87236, 44.33617], [10.89724, 44.33024], [10.92626, 44.3332],
                     [10.92764, 44.36779]]]
"""


def write_config(directory: Path, manifest: Path, extra: str = "") -> Path:
    """A configuration in ``directory`` whose inventory and quicklooks live there too."""
    path = directory / "monitor.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            source: {{type: archive, path: archive}}
            model: {{manifest: {manifest}}}
            inventory: {{path: inventory.gpkg}}
            quicklooks: {{dir: quicklooks}}
            """
        )
        + REGIONS_YAML
        + textwrap.dedent(extra),
        encoding="utf-8",
    )
    return path


def write_archive_regions(directory: Path) -> Path:
    """The folder ``write_config``'s ``source.path`` names, holding its regions' markers (a
    ``region.json`` each with the grid of the region's polygon, no data): what ``schedule
    --dry-run`` checks without reading."""
    archive = directory / "archive"
    regions = yaml.safe_load(REGIONS_YAML)["regions"]
    for region in regions:
        grid = dataclasses.asdict(region_grid(shape(region["geometry"])))
        folder = archive / "regions" / region["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "region.json").write_text(json.dumps({"grid": grid}), encoding="utf-8")
    return archive


def _quicklook(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((48, 96, 3)) * 255).astype("uint8")
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def candidates_for(
    config: MonitorConfig,
    region: str,
    offsets_m: Sequence[tuple[float, float, float]],
    run_date: date,
) -> gpd.GeoDataFrame:
    """Square candidates ``(dx, dy, side)`` metres from the region grid's north-west corner."""
    grid = region_grid(config.region(region).geometry)
    rows = []
    for i, (dx, dy, side) in enumerate(offsets_m):
        x0, y0 = grid.x0 + dx, grid.y0 - dy
        geometry = box(x0, y0 - side, x0 + side, y0)
        quicklook = _quicklook(
            config.quicklooks.dir / run_date.isoformat() / region / f"candidate-{i + 1:03d}.png",
            seed=i,
        )
        rows.append(
            {
                "region": region,
                "area_m2": geometry.area,
                "prob_mean": 0.7 + 0.01 * i,
                "prob_max": 0.95,
                "agreement": 0.8,
                "dNDVI_mean": -0.31,
                "dVV_mean": -1.2,
                "dVH_mean": -0.8,
                "slope_mean": 27.5,
                "setting": "S1+S2",
                "pre_date": "2024-08-10",
                "post_date": "2024-08-26",
                "s1_event_after": None,
                "s1_event_before": None,
                "s2_event_after": "2024-08-16",
                "s2_event_before": "2024-08-21",
                "event_after": "2024-08-16",
                "event_before": "2024-08-21",
                "confirmation": "optical",
                "post_latest": "2024-08-26",
                "quicklook": str(quicklook),
                "geometry": geometry,
            }
        )
    if not rows:
        frame = empty_candidates(grid.crs)
        frame.insert(len(CANDIDATE_COLUMNS), "quicklook", None)
        return frame
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=grid.crs)
    return frame[[*CANDIDATE_COLUMNS, "quicklook", "geometry"]]


def populate(config: MonitorConfig) -> int:
    """Three runs over two regions; returns the number of landslides in the inventory.

    2024-08-01: 2 landslides in wayanad; 2024-09-01: the first seen again, 3 new in emilia;
    2024-09-14: 1 new in wayanad. Then one is confirmed and one dismissed."""
    plan = {
        date(2024, 8, 1): {"wayanad-hills": [(600, 600, 60), (900, 700, 80)]},
        date(2024, 9, 1): {
            "wayanad-hills": [(600, 600, 60)],
            "emilia-hills": [(300, 300, 50), (1200, 600, 70), (2000, 1500, 40)],
        },
        date(2024, 9, 14): {"wayanad-hills": [(1800, 1600, 50)]},
    }
    with Inventory(config.inventory.path) as inventory:
        for run_date, per_region in plan.items():
            run_id = inventory.start_run(run_date, [r.name for r in config.regions], "archive")
            detections = [
                RegionDetections(
                    region=r.name,
                    status="ok",
                    setting="S1+S2",
                    candidates=candidates_for(config, r.name, per_region.get(r.name, []), run_date),
                )
                for r in config.regions
            ]
            inventory.apply(run_id, detections, config.alert_routing())
        frame = inventory.landslides()
        inventory.set_status(int(frame.fid.iloc[0]), "confirmed")
        inventory.set_status(int(frame.fid.iloc[2]), "dismissed")
        return len(frame)


# --------------------------------------------------------------------------- hostile text

#: Markup that a hand edit, or another tool, could leave in the inventory's text fields. Were the
#: review page to run any of it, a dialog would open or ``window.xss`` would name the field.
HOSTILE_TEXT: dict[str, str] = {
    "region": "<img src=x onerror=\"window.xss='region';alert(1)\">",
    "setting": "<img src=x onerror=\"window.xss='setting'\">",
    "pre_date": "</script><script>window.xss='pre_date'</script>",
    "post_date": "`${window.xss='post_date'}`<svg onload=\"window.xss='post_date'\">",
    "event_after": "<img src=x onerror=\"window.xss='event_after'\">",
    "event_before": "`${window.xss='event_before'}`<svg onload=\"window.xss='event_before'\">",
    "quicklook": "x' onerror='window.xss=\"quicklook\"' <img src=x onerror=alert(2)>",
}
#: A watched region's name with markup and a JavaScript template-literal breakout (the
#: configuration refuses such a name; a ReviewData need not).
HOSTILE_REGION = "`+(window.xss='region name')+`<img src=x onerror=\"window.xss='region name'\">"


def edit_inventory_by_hand(config: MonitorConfig, fields: Mapping[str, str | None]) -> int:
    """Set ``fields`` (column: text) on every landslide with plain SQL, as a person or another
    tool editing the GeoPackage would, bypassing the inventory's checks; returns the rows."""
    assignments = ", ".join(f"{column} = ?" for column in fields)
    with closing(sqlite3.connect(config.inventory.path)) as conn, conn:
        return conn.execute(f"UPDATE landslides SET {assignments}", tuple(fields.values())).rowcount


# --------------------------------------------------------------------------- a small archive

ARCHIVE_SIMULATION = {"start": "2024-06-01", "end": "2024-09-20", "storms": ["2024-08-24"]}
#: Run date whose post window (2024-08-16..2024-09-14) holds the storm's landslides.
ARCHIVE_RUN_DATE = date(2024, 9, 15)


def archive_regions(n: int) -> list[dict[str, object]]:
    """``n`` regions of about 1.2 km x 1.2 km, landscapes in turn, many landslides each."""
    landscapes = ("agricultural_hills", "forested_mountains", "alpine")
    regions: list[dict[str, object]] = []
    for i in range(n):
        lon, lat = 10.90 + 0.02 * i, 44.34 + 0.013 * (i % 3)
        ring = [[lon, lat], [lon + 0.015, lat], [lon + 0.015, lat + 0.011], [lon, lat + 0.011]]
        regions.append(
            {
                "name": f"r{i + 1:02d}",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "simulation": {
                    "landscape": landscapes[i % len(landscapes)],
                    "seed": 100 + i,
                    "landslide_rate_scale": 6.0,
                },
            }
        )
    return regions


def write_archive_config(
    directory: Path,
    archive: Path,
    manifest: Path,
    regions: list[dict[str, object]],
    **sections: object,
) -> Path:
    """A configuration of ``regions`` on the archive at ``archive``; outputs in ``directory``."""
    import yaml

    directory.mkdir(parents=True, exist_ok=True)
    data: dict[str, object] = {
        "source": {"type": "archive", "path": str(archive), "simulation": ARCHIVE_SIMULATION},
        "regions": regions,
        "model": {"manifest": str(manifest)},
        "inventory": {"path": "inventory.gpkg"},
        "quicklooks": {"dir": "quicklooks"},
        **sections,
    }
    path = directory / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
