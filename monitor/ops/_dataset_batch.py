"""Earth Engine batch exports of training scenes (:mod:`monitor.ops.dataset`): a tile too large
for ``computePixels`` is exported as a batch task, and ``dataset ingest`` turns the downloaded
GeoTIFFs into the scenes' inputs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import IGNORE, Scene, write_scene
from monitor.errors import BadInput
from monitor.ops._dataset_core import (
    DatasetReport,
    SceneJob,
    _plain,
    _write_json,
    export_files,
    remove_files,
    scene_files,
)
from monitor.sources.base import Source

__all__ = ["ingest_exports"]

log = logging.getLogger(__name__)


def _batch_export(
    source: Source,
    job: SceneJob,
    folder: Path,
    max_requests: int,
    key: str,
    identity: Mapping[str, Any],
) -> bool:
    """On Earth Engine, start a batch export for a tile too large for ``max_requests``
    computePixels requests, record the task (with the scene's ``key`` and the source's
    ``identity``) beside the scene and return True."""
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

    record_path, label_file = export_files(folder, job.id)
    earlier = json.loads(record_path.read_text()) if record_path.exists() else None
    if earlier is not None and earlier.get("label_key") == key:
        return True  # started by an earlier run: `dataset ingest` takes its GeoTIFF
    if earlier is not None and earlier.get("task"):
        _cancel(earlier["task"], job.id)  # its file must not land after this export's
    # a scene of other labels or source settings: never trained on while its export runs
    remove_files(*scene_files(folder, job.id))
    # the label is computed here, on the tile's grid; the input comes with `dataset ingest`
    raster = job.label(grid.shape, grid.transform, grid.crs)
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
        record_path,
        {
            "scene": job.id,
            "task": getattr(task, "id", None),
            "started": time.time(),  # a download older than this is of an earlier export
            "config": {k: _plain(v) for k, v in (task.config or {}).items() if k != "expression"},
            "plan": plan.as_dict(),
            "windows": {"pre": str(job.pre), "post": str(job.post)},
            "grid": {
                "crs": grid.crs,
                "transform": list(grid.transform)[:6],
                "shape": list(grid.shape),
            },
            "label_key": key,
            "source_identity": dict(identity),
            "label_pixels": {str(v): int((raster == v).sum()) for v in (1, 0, IGNORE)},
            **job.record,
        },
    )
    return True


def _cancel(task_id: str, scene_id: str) -> None:
    """Cancel the Earth Engine batch task of an earlier export of the scene (best effort: a
    task already finished or unknown, or no connection, leaves a warning)."""
    import ee

    try:
        ee.data.cancelTask(task_id)
    except Exception as err:  # any failure leaves the old task as it was: say so
        log.warning(
            "%s: could not cancel the earlier export task %s (%s); if it still finishes, its "
            "file may replace or sit beside this export's (same name): check the task list "
            "and ingest the new task's file",
            scene_id, task_id, err,
        )  # fmt: skip


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
    missing = older = 0
    for split in ("train", "val", "test"):
        folder = Path(out) / split
        for record_path in sorted((folder / "exports").glob("*.json")):
            record = json.loads(record_path.read_text())
            scene_id = record["scene"]
            provenance = scene_files(folder, scene_id)[0]
            if (
                provenance.exists()
                and json.loads(provenance.read_text()).get("label_key") == record["label_key"]
            ):
                report.resumed += 1
                continue
            pieces = sorted(downloads.glob(f"{scene_id}.tif")) or sorted(
                downloads.glob(f"{scene_id}-*.tif")
            )
            if not pieces:
                missing += 1
                continue
            # the export's start (the record's time for records written before it was kept)
            started = float(record.get("started", record_path.stat().st_mtime))
            stale = [p for p in pieces if p.stat().st_mtime < started]
            if stale:
                # a file of an earlier export of the scene (other labels or source settings)
                older += 1
                log.warning(
                    "%s: %s older than the export started %s (of an earlier export?): delete "
                    "it and download this export's file (or `touch` it if it is this export's, "
                    "copied without its times)",
                    scene_id, ", ".join(p.name for p in stale),
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
                )  # fmt: skip
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
            raster = np.load(export_files(folder, scene_id)[1])
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
                provenance,
                {**record, "split": split, "ingested_from": [str(p) for p in pieces],
                 "mosaic_transform": list(transform)[:6]},
            )  # fmt: skip
            report.written[split] += 1
    if missing:
        report.skipped["export not downloaded yet (no <scene id>.tif)"] = missing
    if older:
        report.skipped["download older than the scene's export (of an earlier one?)"] = older
    return report
