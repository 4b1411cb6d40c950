"""The scene jobs of a dated inventory file (``dataset export``, :mod:`monitor.ops.dataset`): per
item, its event view and its monitoring views (``dataset.views``), each with every item of the
same date in its tile as label, and the items of other dates whose event falls in that scene's
windows ignored (255): a landslide of the next day shows in the post window, and labelled
background it would contradict the scene of its own date. An `inventory export` of the
monitor's own inventory is read by its review status (:data:`REVIEW_ROLES`)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry.base import BaseGeometry

from models.datasets import IGNORE, first_names
from models.manifest import sha256_file
from monitor.config import DatasetSettings, MonitorConfig, MonitoringWindows, RegionConfig
from monitor.errors import BadInput
from monitor.grid import box_to_lon_lat, parts_at_180, region_grid
from monitor.labels import (
    InventoryFileError,
    PointLabels,
    ReviewRole,
    crosses_antimeridian,
    point_label_areas,
    read_inventory,
    tile_around,
)
from monitor.ops._dataset_core import SceneJob, _plain, _safe, buffer_m, event_windows
from monitor.simulator.scene_windows import storm_views
from monitor.sources.base import EVENT, AreaOfInterest, Compositing, Window

__all__ = ["REVIEW_ROLES", "inventory_jobs"]

# An `inventory export` read back as an inventory: its confirmed landslides are landslides, its
# dismissed entries (false alarms) background, and those nobody reviewed neither
# (`dataset from-reviews` labels them the same way).
REVIEW_ROLES: dict[str, ReviewRole] = {
    "confirmed": "positive",
    "dismissed": "negative",
    "candidate": "ignore",
}

log = logging.getLogger("monitor.ops.dataset")


def _region_of(config: MonitorConfig, geometry: BaseGeometry) -> RegionConfig | None:
    """The region that holds the item's representative point, else the one it overlaps most
    (a landslide drawn across a region's outline is still in it)."""
    point = geometry.representative_point()
    for region in config.regions:
        if region.geometry.contains(point):
            return region
    overlaps = [(region.geometry.intersection(geometry).area, region) for region in config.regions]
    area, best = max(overlaps, key=lambda pair: pair[0], default=(0.0, None))
    return best if area > 0 else None


def _swapped_into_regions(config: MonitorConfig, items: Any, outside: list[str]) -> list[str]:
    """Those of the ``outside`` items that a region holds once their x and y change places."""
    geometry_of = dict(zip(items["item_id"].astype(str), items.geometry, strict=True))
    swapped = []
    for item_id in outside:
        geometry = geometry_of.get(item_id)
        if geometry is None:
            continue
        turned = shapely.transform(geometry, lambda xy: xy[:, ::-1])
        if shapely.is_valid(turned) and _region_of(config, turned) is not None:
            swapped.append(item_id)
    return swapped


def _grid_footprint(geometry: BaseGeometry, grow_m: float = 0.0) -> BaseGeometry:
    """The area (EPSG:4326) of the pixels a source serves for ``geometry``: its grid
    (:func:`~monitor.grid.region_grid`, the sources' own) covers the bounding box, not only the
    outline, and its label is burnt there too; ``grow_m``: that box grown by so many metres on
    every side."""
    grid = region_grid(geometry)
    west, south, east, north = grid.bounds
    grown = shapely.box(west - grow_m, south - grow_m, east + grow_m, north + grow_m)
    footprint = box_to_lon_lat(grown, grid.crs)
    # a tile near the line grown by the split buffer: its two parts, one on each side
    return shapely.union(*parts_at_180(footprint)) if crosses_antimeridian(footprint) else footprint


def _overlap_groups(jobs: list[SceneJob], reaches: list[BaseGeometry]) -> tuple[int, int]:
    """Join into one split group every job whose reach (``reaches``: the scene's grid,
    :func:`_grid_footprint`, grown by half of ``dataset.split_buffer_m`` on every side)
    meets another's, whatever their dates, with the jobs of each group (the views of one item,
    one event's scenes): no ground is then in two splits. The scenes of a slope that failed in
    2019 and again in 2023, or of two storms a year apart in one valley, hold the same DEM,
    slope and land cover and much of the same surface, and scenes a few hundred metres apart
    hold much the same terrain: split apart, the held-out split would score the model on ground
    it was trained on, not on ground it never saw (as spatial cross-validation holds blocks of
    ground out rather than random samples). Two catalogue points a few
    hundred metres apart are two ``event_id``s but one image; neighbouring regions' scenes
    can hold the same slides. Each component takes the group of its first job (names, so
    splits, stay where nothing changed). The components are found through the parts of the
    reaches' union (cascaded, O(n log n)) rather than from every overlapping pair, which in a
    valley of thousands of items runs to millions. Returns the number of groups before and
    after."""
    n = len(jobs)
    first: dict[str, int] = {}
    same_group = [first.setdefault(job.group, i) for i, job in enumerate(jobs)]  # never split
    parts = shapely.get_parts(shapely.union_all(reaches))
    # a point inside a piece of a reach (one on each side of ±180°) lies in the one part of
    # the union that holds the whole piece
    pieces, of_job = shapely.get_parts(np.asarray(reaches, object), return_index=True)
    piece, part = shapely.STRtree(parts).query(
        shapely.point_on_surface(pieces), predicate="intersects"
    )
    rows = np.concatenate([np.arange(n), of_job[piece]])
    cols = np.concatenate([same_group, n + part])
    links = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n + len(parts),) * 2)
    _, component = connected_components(links, directed=False)
    group_of: dict[int, str] = {}
    for i in range(n):
        group_of.setdefault(int(component[i]), jobs[i].group)
    before = len(first)
    for i, job_i in enumerate(jobs):
        job_i.group = group_of[int(component[i])]
    return before, len(group_of)


@dataclass(frozen=True)
class _View:
    """One scene of an item: its id, windows, compositing and what its record says of it."""

    id: str
    pre: Window
    post: Window
    compositing: Compositing
    record: dict[str, Any]


def _monitoring_windows(region: RegionConfig | None) -> tuple[MonitoringWindows, str]:
    """The windows of a daily run over an item: its region's where the region runs in
    monitoring mode, else the defaults (a region of ``windows: {mode: event}``, or an item
    outside every region); and whose they are, for the record."""
    if region is not None and isinstance(region.windows, MonitoringWindows):
        return region.windows, f"region {region.name}"
    return MonitoringWindows(), "the defaults (the item is in no monitoring region)"


def _views(
    scene: str, when: date, region: RegionConfig | None, settings: DatasetSettings
) -> list[_View]:
    """The scenes of an item dated ``when`` (``scene`` its event scene's id): the event view
    (the ``dataset`` windows, greenest pixel and median), and one monitoring view per lag of
    :data:`~monitor.simulator.scene_windows.MONITORING_LAGS_DAYS` (the simulated training sets'
    :func:`~monitor.simulator.scene_windows.storm_views`): the windows and composites of a
    daily run that many days after the date, with the item's region's monitoring windows."""
    views = []
    if "event" in settings.views:
        pre, post = event_windows(when, settings.pre_days, settings.post_days)
        views.append(_View(scene, pre, post, EVENT, {"name": "event"}))
    if "monitoring" in settings.views:
        windows, whose = _monitoring_windows(region)
        compositing = windows.compositing()
        for pre, post, _ in storm_views(when, windows.pre_days, windows.post_days)[1:]:
            lag = (post.end - when).days  # the run date
            record = {
                "name": "monitoring",
                "lag_days": lag,
                "run_date": post.end.isoformat(),
                "windows_of": whose,
                "composite": windows.composite,
                "compositing": compositing.describe(),
            }
            view_id = f"{scene}_monitoring{lag}d"
            views.append(_View(view_id, pre, post, compositing, record))
    return views


def inventory_jobs(
    config: MonitorConfig,
    inventory: Path,
    settings: DatasetSettings,
    *,
    needs_region: bool,
) -> tuple[list[SceneJob], dict[str, int], dict[str, Any]]:
    """The scenes of an inventory file: one per item and view, with every item of the same
    date in its tile as label and those of other dates in its windows ignored (the module); the
    skipped counts; what ``dataset.json`` records of the file."""
    try:
        read = read_inventory(
            inventory,
            date_column=settings.date_column,
            max_accuracy=settings.max_accuracy,
            skip_categories=settings.skip_categories,
            layer=settings.layer,
            id_column=settings.id_column,
            date_format=settings.date_format,
            review_roles=REVIEW_ROLES,
        )
    except InventoryFileError as err:
        raise BadInput(str(err)) from None
    polygon_only = {"date_column": settings.date_column, "date_format": settings.date_format,
                    "id_column": settings.id_column, "layer": settings.layer}  # fmt: skip
    # named as typed on the command line and as written in the configuration
    given = [
        f"--{name.replace('_', '-')} (dataset.{name})"
        for name, value in polygon_only.items()
        if value is not None
    ]
    if read.kind == "points" and given:
        log.warning(
            "%s: a Global Landslide Catalog CSV has its own columns; %s %s to polygon "
            "inventories and %s not used",
            inventory,
            ", ".join(given),
            "applies" if len(given) == 1 else "apply",
            "is" if len(given) == 1 else "are",
        )
    if not len(read) and not read.skipped_ids:  # else the skipped counts say why
        what = "rows" if read.kind == "points" else "features"
        log.warning("%s: the file holds no %s, so no landslide to export", inventory, what)
    items = read.items
    skipped_ids = {reason: list(ids) for reason, ids in read.skipped_ids.items()}
    outside = "outside every configured region (the archive holds only those)"
    params = PointLabels(core_m=settings.core_m, min_ignore_m=settings.min_ignore_m)
    # the label areas of every item: (positive, ignore) in EPSG:4326
    areas: dict[str, tuple[BaseGeometry, BaseGeometry | None]] = {}
    coarse: list[str] = []  # points placed less exactly than the core: no positive core
    for rec in items.to_dict("records"):
        if read.kind == "points":
            areas[rec["item_id"]] = point_label_areas(rec["geometry"], rec["accuracy_m"], params)
            if rec["accuracy_m"] > params.core_m:
                coarse.append(str(rec["item_id"]))
        else:
            areas[rec["item_id"]] = (rec["geometry"], None)
    # where an item's label reaches: a point's ignored disk, a polygon itself
    extent_of = {i: ign if ign is not None else pos for i, (pos, ign) in areas.items()}
    tile_of = {
        i: tile_around(extent, settings.tile_m, margin_m=0.1 * settings.tile_m)
        for i, extent in extent_of.items()
    }
    # a scene is a box in longitude and latitude (as a region's bbox is): one across ±180° would
    # be read as the globe between its corners
    across = [i for i in extent_of if crosses_antimeridian(tile_of[i])]
    if across:
        skipped_ids["its scene would cross the antimeridian (±180°), which no scene may"] = across
        items = items[~items["item_id"].astype(str).isin(across)]
    extents = np.array([extent_of[str(i)] for i in items["item_id"]], object)
    jobs: list[SceneJob] = []
    reaches: list[BaseGeometry] = []
    # an inventory of some of the area's landslides: background known only near its items
    # (around a point's whole ignored disk, not its core: the disk is burnt over) and its
    # dismissed entries, each widened once
    known_of: dict[str, BaseGeometry] = {}
    known_negative: list[BaseGeometry] = []
    if settings.export_known_within_m is not None:
        context = buffer_m(settings.export_known_within_m)
        known_of = {i: context(extent) for i, extent in extent_of.items()}
        known_negative = [context(g) for g in read.negative]
    for rec in items.to_dict("records"):
        item_id, when = str(rec["item_id"]), rec["event_date"]
        tile = tile_of[item_id]
        region = _region_of(config, rec["geometry"])
        if region is None and needs_region:
            skipped_ids.setdefault(outside, []).append(item_id)
            continue
        if region is not None:
            geometry = tile.intersection(region.geometry)
            area = AreaOfInterest(region.name, geometry, region.orbit_pass)
            where = region.name
        else:
            area = AreaOfInterest(_safe(f"item-{item_id}"), tile)
            where = "item"
        if settings.split_by == "region":
            group = where
        elif read.kind == "points":
            group = str(rec["event"])  # the catalog's event_id
        elif region is None:  # its own, as a catalog's point: neighbours join below
            group = f"item-{item_id}"
        else:
            # a polygon's event is its date in its region: a date alone would join the scenes
            # of regions a continent apart, and an inventory of several regions would be one
            # group with nothing to validate on (scenes on near ground join below, whatever
            # their regions and dates)
            group = f"{where}_{rec['event']}"
        # items whose label area reaches the scene's grid (a point's whole ignored disk: a point
        # outside the tile may be anywhere in it), skipped ones too: a tile cut to a region's
        # outline still has pixels out to its bounding box, and an item drawn there is no less
        # a landslide of its date for having no scene of its own
        grid = _grid_footprint(area.geometry)
        reach = _grid_footprint(area.geometry, settings.split_buffer / 2)
        here = items[shapely.intersects(extents, grid)]
        same_day = here[here["event_date"] == when]
        scene = _safe(f"{where}_{when:%Y%m%d}_{item_id}")
        for view in _views(scene, when, region, settings):
            if view.record["name"] == "monitoring" and view.post.start > when:  # in its baseline
                late = (
                    "monitoring view whose post window starts after the item's date "
                    "(the windows' post_days shorter than its lag): the slide is in its baseline"
                )
                skipped_ids.setdefault(late, []).append(view.id)
                continue
            # other dates whose change the windows can show: neither landslide nor background
            shown = [d != when and view.pre.start <= d < view.post.end for d in here["event_date"]]
            others = here[shown]
            job = SceneJob(
                id=view.id,
                area=area,
                pre=view.pre,
                post=view.post,
                group=group,
                record={
                    "inventory": str(Path(inventory).resolve()),
                    "kind": read.kind,
                    "item": {k: _plain(v) for k, v in rec.items() if k != "geometry"}
                    | {"geometry_wkt": rec["geometry"].wkt},
                    "view": view.record,
                    "items_in_label": [str(i) for i in same_day["item_id"]],
                    "items_ignored": [str(i) for i in others["item_id"]],
                },
                compositing=view.compositing,
                seen_after=when,  # every view: none before its first look after the date
            )
            for other in same_day["item_id"]:
                pos, ign = areas[str(other)]
                job.positive.append(pos)
                if ign is not None:
                    job.ignore.append(ign)
            job.ignore.extend(extent_of[str(other)] for other in others["item_id"])
            # an `inventory export`'s dismissed and unreviewed entries (REVIEW_ROLES)
            job.negative.extend(g for g in read.negative if g.intersects(grid))
            job.ignore.extend(g for g in read.ignore if g.intersects(grid))
            if settings.export_known_within_m is not None:
                # the rest of a scene is not known to hold no landslide: written as 0, an
                # unmapped slide would teach the members to miss it
                job.background = IGNORE
                job.known = [known_of[str(i)] for i in same_day["item_id"]]
                job.known.extend(
                    k
                    for g, k in zip(read.negative, known_negative, strict=True)
                    if g.intersects(grid)
                )
            jobs.append(job)
            reaches.append(reach)
    groups, after = _overlap_groups(jobs, reaches) if jobs else (0, 0)  # whatever split_by
    ids = Counter(job.id for job in jobs)
    clashes = sorted(i for i, n in ids.items() if n > 1)
    if clashes:
        raise BadInput(
            f"{inventory}: items whose ids differ only in characters a file name cannot hold "
            f"would share scene ids: {', '.join(clashes[:10])}; give them distinct ids"
        )
    skipped = {i for ids in skipped_ids.values() for i in ids}
    coarse = [i for i in coarse if i not in skipped]  # those with scenes
    if coarse:
        # said before a split ends up with no landslide pixel, which `models select` finds
        # only hours later (found in a review)
        log.warning(
            "%s: %d of %d point(s) are placed less exactly than core_m (%g m; 1km and coarser): "
            "they label no landslide pixel of their own, only their ignored disk and the "
            "background around it, and their scenes hold none unless another item's core or "
            "polygon lies in them (docs/models.md, Train on your own inventory): %s",
            inventory, len(coarse), len(items), params.core_m, first_names(coarse),
        )  # fmt: skip
    if read.repaired:
        # said in dataset.json alone, a repair went unseen (found in a walkthrough)
        log.warning(
            "%s: %d invalid (self-intersecting) polygon(s) made valid, their polygon parts "
            "kept: %s; check their outlines (dataset.json, repaired_geometries)",
            inventory, len(read.repaired), first_names(read.repaired),
        )  # fmt: skip
    if skipped_ids.get(outside):
        # the count alone sent a walkthrough's user looking: name some, and the usual causes
        regions = ", ".join(r.name for r in config.regions)
        swapped = _swapped_into_regions(config, items, skipped_ids[outside])
        if swapped:
            # found in a walkthrough: a row whose latitude and longitude had changed places
            # (both in range that way) was only counted among the items outside
            log.warning(
                "%s: %d of the items outside every region lie in one with their two "
                "coordinates swapped: %s; their rows have latitude where longitude goes "
                "(mend them, or the program that wrote them)",
                inventory, len(swapped), first_names(swapped),
            )  # fmt: skip
        log.warning(
            "%s: %d item(s) lie outside every configured region (%s): %s; check that the "
            "file's coordinates are longitude and latitude in that order, or that its declared "
            "coordinate reference system is the right one, or add a region that covers them "
            "(the archive holds only its regions)",
            inventory, len(skipped_ids[outside]), regions, first_names(skipped_ids[outside]),
        )  # fmt: skip
    described = {
        "file": str(Path(inventory).resolve()),
        "sha256": sha256_file(Path(inventory)),
        "kind": read.kind,
        "items": len(items),
        "points": {
            "core_m": params.core_m,
            "min_ignore_m": params.min_ignore_m,
            "without_core": coarse,
        },
        "skipped_ids": skipped_ids,
        "repaired_geometries": read.repaired,
        "split_groups": {
            "buffer_m": settings.split_buffer,
            "groups": groups,
            "after_joining": after,
        },
    }
    return jobs, {reason: len(ids) for reason, ids in skipped_ids.items()}, described
