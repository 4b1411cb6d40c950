"""``landslide-monitor dataset``: training scenes from real labels.

``dataset export --config F --inventory FILE --out DIR`` turns a dated inventory (polygons, or
the Global Landslide Catalog's points; :mod:`monitor.labels`) into scenes: for every item, the
event-mode feature stack around its date (``dataset.pre_days`` before the date,
``dataset.post_days`` after it, the day itself in neither window, as ``windows: {mode: event}``)
over a tile of ``dataset.tile_m`` around it, through the configured source, and its label raster
(1 landslide, 0 background, 255 ignore): every item of the same date in the tile, polygons as
positives, points as weak labels (positive core, ignored out to their accuracy, never negative).

``dataset from-reviews --config F --out DIR`` builds scenes from the review of the inventory:
one per region and run date with reviewed landslides, on the windows of that run; confirmed
polygons are positives, dismissed ones hard negatives (0 over their area), unreviewed candidates
and a margin of ``dataset.ignore_buffer_m`` around them ignored, background 0.

Both write the Ganerød et al. layout ``models`` reads, one folder per split
(``DIR/<split>/input/<id>_input.tif``, ``label/<id>_label.tif``) with a provenance record per
scene (``provenance/<id>.json``: source, windows, acquisition dates, assets, inventory item,
label counts) and ``DIR/dataset.json``. Splits keep each event (``dataset.split_by: event``) or
each region (``region``) whole (:func:`monitor.labels.assign_splits`), never splitting pixels or
tiles of one event. Resumable: a scene whose provenance record exists is not fetched again (the
record is written last, every file atomically). On Earth Engine, a tile of more
``computePixels`` requests than ``--max-requests`` is exported as a batch task instead
(:mod:`gee_scripts.dataset_export`; docs/earth_engine.md has the request arithmetic), its label
written at once; ``dataset ingest --out DIR --from FOLDER`` later turns the downloaded GeoTIFFs
into the scenes' inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from models.datasets import IGNORE, Scene, input_path, label_path, write_scene
from models.feature_stack import model_input
from monitor.config import DatasetSettings, MonitorConfig, RegionConfig
from monitor.errors import BadInput
from monitor.labels import (
    InventoryFileError,
    PointLabels,
    assign_splits,
    label_raster,
    point_label_areas,
    read_inventory,
    tile_around,
)
from monitor.ops._args import add_config
from monitor.sources.base import AreaOfInterest, DataUnavailable, Source, Window

__all__ = [
    "DatasetReport",
    "SceneJob",
    "cli_configure",
    "cli_run",
    "event_windows",
    "export_inventory",
    "ingest_exports",
    "scenes_from_reviews",
]

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class SceneJob:
    """One scene to write: where, when, its split group and label geometries (EPSG:4326)."""

    id: str
    area: AreaOfInterest
    pre: Window
    post: Window
    group: str
    positive: list[BaseGeometry] = field(default_factory=list)
    negative: list[BaseGeometry] = field(default_factory=list)
    ignore: list[BaseGeometry] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # provenance of the labels

    def key(self) -> str:
        """What the scene is made of (area, windows, label geometries): a resumed scene is
        reused only while its key is unchanged (a new review decision rewrites it)."""
        parts = [
            self.area.name,
            self.area.geometry.wkt,
            str(self.pre),
            str(self.post),
            *(f"{name}:{g.wkt}" for name in ("positive", "negative", "ignore")
              for g in getattr(self, name)),
        ]  # fmt: skip
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class DatasetReport:
    """What a ``dataset`` command did."""

    out: Path
    written: dict[str, int] = field(default_factory=dict)  # per split
    resumed: int = 0  # scenes already complete
    exporting: int = 0  # Earth Engine batch tasks started
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def format(self) -> str:
        total = sum(self.written.values())
        splits = ", ".join(f"{k} {v}" for k, v in self.written.items() if v) or "none"
        lines = [f"{total} scene(s) written to {self.out} ({splits}); {self.resumed} already done"]
        if self.exporting:
            lines.append(f"{self.exporting} scene(s) exporting as Earth Engine batch tasks")
        for reason, n in self.skipped.items():
            lines.append(f"skipped {n}: {reason}")
        return "\n".join(lines)


def event_windows(event: date, pre_days: int, post_days: int) -> tuple[Window, Window]:
    """The windows of ``windows: {mode: event}``: ``pre_days`` before the event date and
    ``post_days`` after it, the day itself in neither."""
    pre = Window(event - timedelta(days=pre_days), event)
    post = Window(event + timedelta(days=1), event + timedelta(days=1 + post_days))
    return pre, post


def _safe(text: str) -> str:
    return _SAFE.sub("_", text).strip("_")[:120]


def _region_of(config: MonitorConfig, geometry: BaseGeometry) -> RegionConfig | None:
    point = geometry.representative_point()
    for region in config.regions:
        if region.geometry.contains(point):
            return region
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- export


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
        "sha256": _sha256(Path(inventory)),
        "kind": read.kind,
        "items": len(items),
        "points": {"core_m": params.core_m, "min_ignore_m": params.min_ignore_m},
    }
    return jobs, dict(skipped), described


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def write_jobs(
    jobs: Sequence[SceneJob],
    source: Source,
    out: Path,
    *,
    fractions: Mapping[str, float] | None = None,
    progress: bool = True,
    max_requests: int = 16,
    dataset_record: Mapping[str, Any] | None = None,
) -> DatasetReport:
    """Fetch and write every job's scene into its split (resuming), then ``dataset.json``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    splits = assign_splits([j.group for j in jobs], fractions)
    report = DatasetReport(out, written=dict.fromkeys(("train", "val", "test"), 0))
    skipped: Counter[str] = Counter()
    done: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for job in tqdm(jobs, desc="dataset", unit="scene", disable=not progress):
        split = splits[job.group]
        folder = out / split
        record_path = folder / "provenance" / f"{job.id}.json"
        key = job.key()
        _remove_elsewhere(out, split, job.id)  # a scene whose group moved split: never in two
        if (
            record_path.exists()
            and input_path(folder, job.id).exists()
            and label_path(folder, job.id).exists()
            and json.loads(record_path.read_text()).get("label_key") == key
        ):
            report.resumed += 1
            done[split].append(job.id)
            continue
        if _batch_export(source, job, folder, max_requests):
            report.exporting += 1
            continue
        try:
            stack = source.features(job.area, job.pre, job.post)
        except DataUnavailable as err:
            skipped["no Sentinel-1/2 data in the windows"] += 1
            log.warning("%s: skipped: %s", job.id, err)
            continue
        except (LookupError, ValueError) as err:  # archive lacks the area, invalid tile
            skipped["the source cannot serve the tile"] += 1
            log.warning("%s: skipped: %s", job.id, err)
            continue
        shape = (stack.sizes["y"], stack.sizes["x"])
        transform = stack.rio.transform()
        crs = str(stack.rio.crs)
        raster = label_raster(
            shape,
            transform,
            crs,
            positive=job.positive,
            negative=job.negative,
            ignore=job.ignore,
        )
        scene = Scene(
            job.id,
            model_input(stack, "all"),
            (raster == 1).astype(np.uint8),
            stack.rio.crs,
            transform,
            ignore=raster == IGNORE,
        )
        write_scene(folder, scene)
        counts = {str(v): int((raster == v).sum()) for v in (1, 0, IGNORE)}
        _write_json(
            record_path,
            {
                "scene": job.id,
                "split": split,
                "group": job.group,
                "source": source.name,
                "area": {
                    "name": job.area.name,
                    "orbit_pass": job.area.orbit_pass,
                    "bounds_wgs84": list(job.area.geometry.bounds),
                },
                "windows": {"pre": str(job.pre), "post": str(job.post)},
                "grid": {"crs": crs, "transform": list(transform)[:6], "shape": list(shape)},
                "stack": {k: _plain(v) for k, v in stack.attrs.items()},
                "label_pixels": counts,
                "label_key": key,
                **job.record,
            },
        )
        report.written[split] += 1
        done[split].append(job.id)
    report.skipped = dict(skipped)
    _write_json(
        out / "dataset.json",
        {
            "source": source.name,
            "groups": splits,
            "scenes": done,
            "skipped": report.skipped,
            **dict(dataset_record or {}),
        },
    )
    return report


def _remove_elsewhere(out: Path, split: str, scene_id: str) -> None:
    """Delete ``scene_id``'s files from every split but ``split``."""
    for other in ("train", "val", "test"):
        if other == split:
            continue
        folder = out / other
        for path in (
            folder / "provenance" / f"{scene_id}.json",
            input_path(folder, scene_id),
            label_path(folder, scene_id),
        ):
            path.unlink(missing_ok=True)


def _batch_export(source: Source, job: SceneJob, folder: Path, max_requests: int) -> bool:
    """On Earth Engine, start a batch export for a tile too large for ``max_requests``
    computePixels requests, record the task beside the scene and return True."""
    if source.name != "gee":
        return False
    from gee_scripts.dataset_export import export_scene, transfer_plan
    from monitor.grid import region_grid

    grid = region_grid(job.area.geometry)
    settings = source.settings  # type: ignore[attr-defined]
    plan = transfer_plan(grid.shape, settings.chunk_px, max_requests=max_requests)
    if plan.method == "computePixels":
        return False
    from monitor.sources.gee import grid_transform

    record_path = folder / "exports" / f"{job.id}.json"
    if record_path.exists() and json.loads(record_path.read_text()).get("label_key") == job.key():
        return True  # started by an earlier run: `dataset ingest` takes its GeoTIFF
    # the label is computed here, on the tile's grid; the input comes with `dataset ingest`
    raster = label_raster(
        grid.shape,
        grid.transform,
        grid.crs,
        positive=job.positive,
        negative=job.negative,
        ignore=job.ignore,
    )
    label_file = folder / "exports" / f"{job.id}_label.npy"
    label_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(label_file, raster)
    image = source.feature_image(job.area, job.pre, job.post)  # type: ignore[attr-defined]
    task = export_scene(
        image,
        scene_id=job.id,
        crs=grid.crs,
        transform=grid_transform(grid),
        shape=grid.shape,
        settings=settings.export,
    )
    _write_json(
        folder / "exports" / f"{job.id}.json",
        {
            "scene": job.id,
            "task": getattr(task, "id", None),
            "config": {k: _plain(v) for k, v in (task.config or {}).items() if k != "expression"},
            "plan": plan.as_dict(),
            "windows": {"pre": str(job.pre), "post": str(job.post)},
            "grid": {
                "crs": grid.crs,
                "transform": list(grid.transform)[:6],
                "shape": list(grid.shape),
            },
            "label_key": job.key(),
            "label_pixels": {str(v): int((raster == v).sum()) for v in (1, 0, IGNORE)},
            **job.record,
        },
    )
    return True


def ingest_exports(out: Path, downloads: Path) -> DatasetReport:
    """``dataset ingest``: the GeoTIFFs of finished batch exports (downloaded into ``downloads``
    as ``<scene id>.tif``, or the pieces ``<scene id>-*.tif`` Earth Engine splits large files
    into) become the inputs of their scenes, beside the labels computed at export time."""
    import rasterio
    from affine import Affine
    from rasterio.merge import merge

    from gee_scripts.export import NODATA
    from models.feature_stack import MODEL_BANDS

    report = DatasetReport(Path(out), written=dict.fromkeys(("train", "val", "test"), 0))
    missing = 0
    for split in ("train", "val", "test"):
        folder = Path(out) / split
        for record_path in sorted((folder / "exports").glob("*.json")):
            record = json.loads(record_path.read_text())
            scene_id = record["scene"]
            if (folder / "provenance" / f"{scene_id}.json").exists():
                report.resumed += 1
                continue
            pieces = sorted(downloads.glob(f"{scene_id}.tif")) or sorted(
                downloads.glob(f"{scene_id}-*.tif")
            )
            if not pieces:
                missing += 1
                continue
            image, transform = merge([str(p) for p in pieces], nodata=NODATA)
            shape = tuple(record["grid"]["shape"])
            if image.shape[1:] != shape or image.shape[0] < len(MODEL_BANDS):
                raise BadInput(
                    f"{pieces[0]}: {image.shape[0]} bands of {image.shape[1:]} px; the export of "
                    f"{scene_id} has {len(MODEL_BANDS)}+ bands of {shape} px"
                )
            x = image[: len(MODEL_BANDS)].astype(np.float32)
            x[x == NODATA] = np.nan
            raster = np.load(record_path.with_name(f"{scene_id}_label.npy"))
            grid_transform = Affine(*record["grid"]["transform"])
            scene = Scene(
                scene_id,
                x,
                (raster == 1).astype(np.uint8),
                rasterio.crs.CRS.from_string(record["grid"]["crs"]),
                grid_transform,
                ignore=raster == IGNORE,
            )
            write_scene(folder, scene)
            _write_json(
                folder / "provenance" / f"{scene_id}.json",
                {**record, "split": split, "ingested_from": [str(p) for p in pieces],
                 "mosaic_transform": list(transform)[:6]},
            )  # fmt: skip
            report.written[split] += 1
    if missing:
        report.skipped = {"export not downloaded yet (no <scene id>.tif)": missing}
    return report


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
    os.replace(tmp, path)


def export_inventory(
    config: MonitorConfig,
    inventory: Path,
    out: Path,
    *,
    settings: DatasetSettings | None = None,
    source: Source | None = None,
    progress: bool = True,
    max_requests: int = 16,
) -> DatasetReport:
    """``dataset export``: the inventory's scenes through ``source`` (default: the configured
    one) into ``out``."""
    from monitor.run_inputs import RESOURCES

    settings = settings or config.dataset
    source = source or RESOURCES.source(config.source)
    jobs, skipped, described = inventory_jobs(
        config, inventory, settings, needs_region=source.name == "archive"
    )
    report = write_jobs(
        jobs,
        source,
        out,
        progress=progress,
        max_requests=max_requests,
        dataset_record={
            "command": "export",
            "inventory": described,
            "settings": settings.model_dump(mode="json"),
            "inventory_skipped": skipped,
        },
    )
    report.skipped = {**skipped, **report.skipped}
    return report


# --------------------------------------------------------------------------- from-reviews


def review_jobs(
    config: MonitorConfig, settings: DatasetSettings
) -> tuple[list[SceneJob], dict[str, int]]:
    """One scene per region and run date with reviewed landslides (see the module)."""
    from monitor.store.inventory import Inventory

    path = config.inventory.path
    if not path.exists():
        raise BadInput(f"inventory {path} does not exist yet (no run has written it)")
    with Inventory(path) as inventory:
        frame = inventory.landslides()
    reviewed = frame[frame["status"].isin(["confirmed", "dismissed"])]
    if reviewed.empty:
        raise BadInput(
            f"inventory {path}: no confirmed or dismissed landslide; review candidates first "
            "(`landslide-monitor inventory confirm|dismiss ID`, or the review map)"
        )
    skipped: Counter[str] = Counter()
    jobs = []
    for (region_name, first_seen), group in reviewed.groupby(["region", "first_seen"]):
        try:
            region = config.region(str(region_name))
        except KeyError:
            skipped["region no longer in the configuration"] += len(group)
            continue
        run_date = date.fromisoformat(str(first_seen)[:10])
        pre, post = region.windows.windows_for(run_date)
        here = frame[frame["region"] == region_name]
        others = here.drop(index=group.index)
        buffer = _buffer_m(settings.ignore_buffer_m)
        job = SceneJob(
            id=_safe(f"{region_name}_{run_date:%Y%m%d}_reviews"),
            area=region.area,
            pre=pre,
            post=post,
            group=str(region_name)
            if settings.split_by == "region"
            else f"{region_name}_{run_date}",
            positive=list(group[group["status"] == "confirmed"].geometry),
            negative=list(group[group["status"] == "dismissed"].geometry),
            # unreviewed candidates, and landslides reviewed on other dates (their status says
            # nothing about these windows), with a margin
            ignore=[buffer(g) for g in others.geometry],
            record={
                "inventory": str(path.resolve()),
                "kind": "reviews",
                "run_date": run_date.isoformat(),
                "confirmed": [str(u) for u in group[group["status"] == "confirmed"]["uid"]],
                "dismissed": [str(u) for u in group[group["status"] == "dismissed"]["uid"]],
                "ignored": [str(u) for u in others["uid"]],
            },
        )
        jobs.append(job)
    return jobs, dict(skipped)


def _buffer_m(metres: float) -> Any:
    from monitor.grid import reproject, utm_crs_for

    def buffer(geometry: BaseGeometry) -> BaseGeometry:
        if metres <= 0:
            return geometry
        c = geometry.centroid
        crs = utm_crs_for(c.x, c.y)
        return reproject(reproject(geometry, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")

    return buffer


def scenes_from_reviews(
    config: MonitorConfig,
    out: Path,
    *,
    settings: DatasetSettings | None = None,
    source: Source | None = None,
    progress: bool = True,
) -> DatasetReport:
    """``dataset from-reviews``: scenes of the reviewed landslides into ``out`` (train and val
    only: the held-out reviewed scenes choose K and the threshold in ``models finetune``)."""
    from monitor.run_inputs import RESOURCES

    settings = settings or config.dataset
    source = source or RESOURCES.source(config.source)
    jobs, skipped = review_jobs(config, settings)
    report = write_jobs(
        jobs,
        source,
        out,
        fractions={"train": 0.7, "val": 0.3},
        progress=progress,
        dataset_record={
            "command": "from-reviews",
            "inventory": str(config.inventory.path.resolve()),
            "settings": settings.model_dump(mode="json"),
        },
    )
    report.skipped = {**skipped, **report.skipped}
    return report


# --------------------------------------------------------------------------- CLI


def cli_configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export", help="scenes of a dated inventory (polygons or Global Landslide Catalog CSV)"
    )
    add_config(export)
    export.add_argument("--inventory", type=Path, required=True, help="the inventory file")
    export.add_argument("--out", type=Path, required=True, help="the dataset folder")
    export.add_argument("--date-column", help="date column of a polygon inventory")
    export.add_argument("--tile-m", type=float, help="tile side in metres (default 2560)")
    export.add_argument("--max-accuracy", help="coarsest catalog accuracy kept (default 1km)")
    export.add_argument("--split-by", choices=("event", "region"))
    export.add_argument(
        "--max-requests",
        type=int,
        default=16,
        help="Earth Engine: computePixels requests per tile before a batch export is used",
    )
    ingest = actions.add_parser(
        "ingest", help="the downloaded GeoTIFFs of Earth Engine batch exports into their scenes"
    )
    ingest.add_argument("--out", type=Path, required=True, help="the dataset folder")
    ingest.add_argument(
        "--from", dest="downloads", type=Path, required=True, help="folder of <scene id>.tif"
    )
    reviews = actions.add_parser(
        "from-reviews", help="scenes of the confirmed and dismissed landslides of the inventory"
    )
    add_config(reviews)
    reviews.add_argument("--out", type=Path, required=True, help="the dataset folder")
    reviews.add_argument("--split-by", choices=("event", "region"))
    reviews.add_argument("--ignore-buffer-m", type=float)


def cli_run(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    if args.action == "ingest":
        print(ingest_exports(args.out, args.downloads).format())
        return 0

    config = load_config(args.config)
    overrides = {
        key: value
        for key, value in {
            "date_column": getattr(args, "date_column", None),
            "tile_m": getattr(args, "tile_m", None),
            "max_accuracy": getattr(args, "max_accuracy", None),
            "split_by": args.split_by,
            "ignore_buffer_m": getattr(args, "ignore_buffer_m", None),
        }.items()
        if value is not None
    }
    settings = DatasetSettings.model_validate({**config.dataset.model_dump(), **overrides})
    quiet = bool(getattr(args, "quiet", False))
    if args.action == "export":
        report = export_inventory(
            config,
            args.inventory,
            args.out,
            settings=settings,
            progress=not quiet,
            max_requests=args.max_requests,
        )
    else:
        report = scenes_from_reviews(config, args.out, settings=settings, progress=not quiet)
    print(report.format())
    return 0
