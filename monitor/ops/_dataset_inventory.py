"""The scene jobs of a dated inventory file (``dataset export``, :mod:`monitor.ops.dataset`): one
per item, every item of the same date in its tile as label."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry

from models.manifest import sha256_file
from monitor.config import DatasetSettings, MonitorConfig, RegionConfig
from monitor.errors import BadInput
from monitor.labels import (
    InventoryFileError,
    PointLabels,
    point_label_areas,
    read_inventory,
    tile_around,
)
from monitor.ops._dataset_core import SceneJob, _plain, _safe, event_windows
from monitor.sources.base import AreaOfInterest

__all__ = ["inventory_jobs"]


def _region_of(config: MonitorConfig, geometry: BaseGeometry) -> RegionConfig | None:
    point = geometry.representative_point()
    for region in config.regions:
        if region.geometry.contains(point):
            return region
    return None


def inventory_jobs(
    config: MonitorConfig,
    inventory: Path,
    settings: DatasetSettings,
    *,
    needs_region: bool,
) -> tuple[list[SceneJob], dict[str, int], dict[str, Any]]:
    """The scenes of an inventory file: one per item, with every item of the same date in its
    tile as label; the skipped counts; what ``dataset.json`` records of the file."""
    try:
        read = read_inventory(
            inventory, date_column=settings.date_column, max_accuracy=settings.max_accuracy
        )
    except InventoryFileError as err:
        raise BadInput(str(err)) from None
    items = read.items
    skipped = Counter(read.skipped)
    params = PointLabels(core_m=settings.core_m, min_ignore_m=settings.min_ignore_m)
    # the label areas of every item: (positive, ignore) in EPSG:4326
    areas: dict[str, tuple[BaseGeometry, BaseGeometry | None]] = {}
    for rec in items.to_dict("records"):
        if read.kind == "points":
            areas[rec["item_id"]] = point_label_areas(rec["geometry"], rec["accuracy_m"], params)
        else:
            areas[rec["item_id"]] = (rec["geometry"], None)
    jobs = []
    for rec in items.to_dict("records"):
        item_id, when = str(rec["item_id"]), rec["event_date"]
        positive, ignored = areas[item_id]
        extent = ignored if ignored is not None else positive
        tile = tile_around(extent, settings.tile_m, margin_m=0.1 * settings.tile_m)
        region = _region_of(config, rec["geometry"])
        if region is None and needs_region:
            skipped["outside every configured region (the archive holds only those)"] += 1
            continue
        if region is not None:
            geometry = tile.intersection(region.geometry)
            area = AreaOfInterest(region.name, geometry, region.orbit_pass)
            where = region.name
        else:
            area = AreaOfInterest(_safe(f"item-{item_id}"), tile)
            where = "item"
        pre, post = event_windows(when, settings.pre_days, settings.post_days)
        same_day = items[items["event_date"] == when]
        same_day = same_day[same_day.intersects(area.geometry)]
        job = SceneJob(
            id=_safe(f"{where}_{when:%Y%m%d}_{item_id}"),
            area=area,
            pre=pre,
            post=post,
            group=str(rec["event"]) if settings.split_by == "event" else where,
            record={
                "inventory": str(Path(inventory).resolve()),
                "kind": read.kind,
                "item": {k: _plain(v) for k, v in rec.items() if k != "geometry"}
                | {"geometry_wkt": rec["geometry"].wkt},
                "items_in_label": [str(i) for i in same_day["item_id"]],
            },
        )
        for other in same_day["item_id"]:
            pos, ign = areas[str(other)]
            job.positive.append(pos)
            if ign is not None:
                job.ignore.append(ign)
        jobs.append(job)
    described = {
        "file": str(Path(inventory).resolve()),
        "sha256": sha256_file(Path(inventory)),
        "kind": read.kind,
        "items": len(items),
        "points": {"core_m": params.core_m, "min_ignore_m": params.min_ignore_m},
    }
    return jobs, dict(skipped), described
