"""Earth Engine batch exports of training scenes (:mod:`monitor.ops.dataset`): a tile too large
for ``computePixels`` is exported as a batch task, and ``dataset ingest`` turns the downloaded
GeoTIFFs into the scenes' inputs."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from gee_scripts.settings import NODATA, PIECE_PATTERN, check_destination
from models.datasets import IGNORE, SPLIT_NAMES, Scene, open_geotiff, write_scene
from monitor.errors import BadInput
from monitor.ops._dataset_core import (
    DatasetReport,
    NotSeenYet,
    SceneJob,
    _plain,
    _write_json,
    export_files,
    remove_files,
    scene_files,
)
from monitor.sources.base import DataUnavailable, Source

if TYPE_CHECKING:
    from gee_scripts.assembly import Availability
    from monitor.sources.gee import GeeSource

__all__ = ["ingest_exports"]

log = logging.getLogger(__name__)


def _dates_first(source: Source, job: SceneJob) -> Availability | None:
    """On Earth Engine, a monitoring view's scene dates, asked before anything else of it (one
    request; the caller passes them on to its image, which then does not ask again); None for
    any other job or source. :class:`NotSeenYet` when its post window holds no acquisition
    after the item's date: no image is built and no pixel fetched. Windows with no scene at all
    are left to the image's own :class:`DataUnavailable`, as for every other scene."""
    if source.name != "gee" or job.seen_after is None:
        return None
    # the name, not isinstance: monitor.sources.gee imports ee, which the archive never needs
    available = cast("GeeSource", source).availability(job.area, job.pre, job.post)
    if available.any_data:
        posts = (*available.s1_dates_post, *available.s2_dates_post)
        unseen = job.unseen(date.fromisoformat(d) for d in posts)
        if unseen:
            raise NotSeenYet(unseen)
    return available


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
    ``identity``) beside the scene and return True. :class:`DataUnavailable` when the windows
    hold no scene of either sensor (:class:`NotSeenYet` when a monitoring view's hold none
    after its item's date): nothing is started, and an earlier export of the scene (of other
    labels or settings) is cancelled and its files removed."""
    if source.name != "gee":
        return False
    gee = cast("GeeSource", source)  # the name, not isinstance: see _dates_first
    from gee_scripts.dataset_export import export_scene, transfer_plan
    from monitor.grid import region_grid

    grid = region_grid(job.area.geometry)
    settings = gee.settings
    plan = transfer_plan(grid.shape, settings.chunk_px, max_requests=max_requests)
    if plan.method == "computePixels":
        return False
    try:
        check_destination(settings.export)
    except ValueError as err:  # before any request or file change: the whole export stops
        raise BadInput(
            f"{job.id}: its tile of {grid.width}x{grid.height} px needs {plan.pixel_requests} "
            f"computePixels requests, more than the {max_requests} allowed (dataset export "
            f"--max-requests), so it goes as a batch export, and {err}; or allow more requests "
            "to fetch it directly"
        ) from None
    from monitor.sources.gee import grid_transform

    record_path, label_file = export_files(folder, job.id)
    earlier = json.loads(record_path.read_text()) if record_path.exists() else None
    if earlier is not None and earlier.get("label_key") == key:
        return True  # started by an earlier run: `dataset ingest` takes its GeoTIFF
    # first, as it asks for the scene availability: DataUnavailable, no scene in the windows,
    # skips the job as the direct fetch does, before any new file (no task of an empty image)
    try:
        image = gee.feature_image(
            job.area, job.pre, job.post, job.compositing, availability=_dates_first(source, job)
        )
    except DataUnavailable:
        if earlier is not None:  # an export of other labels or settings: never ingested now
            _drop_export(folder, job.id, _UNAVAILABLE)
            remove_files(*scene_files(folder, job.id))
        raise
    if earlier is not None and earlier.get("task"):
        _cancel(earlier["task"], job.id)  # its file must not land after this export's
    # a scene of other labels or source settings: never trained on while its export runs; and
    # the cancelled export's record goes now, not when this one's is written, or a failed
    # start here left it for a rerun of the old settings to wait on (and ingest to pair with
    # this label)
    remove_files(*scene_files(folder, job.id), record_path)
    # the label is computed here, on the tile's grid; the input comes with `dataset ingest`
    raster = job.label(grid.shape, grid.transform, grid.crs)
    label_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(label_file, raster)
    task = export_scene(
        image,
        scene_id=job.id,
        crs=grid.crs,
        transform=grid_transform(grid),
        shape=grid.shape,
        settings=settings.export,
        retry=gee.backoff,
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
            "compositing": job.compositing.describe(),  # as the direct fetch's stack records
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


# what a task that could not be cancelled leaves, by what replaced it (:func:`_cancel`)
_EXPORTED_AGAIN = (
    "its file may replace or sit beside this export's (same name): check the task list and "
    "ingest the new task's file"
)
_FETCHED = "the scene was fetched directly: its file is not needed (ingest no longer takes it)"
_UNAVAILABLE = (
    "the scene has no data in its windows now: its file is not needed (ingest no longer takes it)"
)


def _cancel(task_id: str, scene_id: str, then: str = _EXPORTED_AGAIN) -> None:
    """Cancel the Earth Engine batch task of an earlier export of the scene (best effort: a
    task already finished or unknown, or no connection, leaves a warning ending in ``then``,
    what its file means now)."""
    import ee

    try:
        ee.data.cancelTask(task_id)
    except Exception as err:  # any failure leaves the old task as it was: say so
        log.warning(
            "%s: could not cancel the earlier export task %s (%s); if it still finishes, %s",
            scene_id, task_id, err, then,
        )  # fmt: skip


def _drop_export(folder: Path, scene_id: str, then: str = _FETCHED) -> None:
    """Cancel the batch task of an earlier export of the scene (other settings, or a tile once
    over ``--max-requests``), which would compute the same tile again, and remove its record
    and label, so `dataset ingest` no longer brings its file in: the scene was fetched
    directly, or (``then`` says which to a task that cannot be cancelled) is not to be had."""
    record_path, label_file = export_files(folder, scene_id)
    if record_path.exists():
        task = json.loads(record_path.read_text()).get("task")
        if task:
            _cancel(task, scene_id, then)
    remove_files(record_path, label_file)


def export_pieces(downloads: Path, scene_id: str) -> list[Path]:
    """The downloaded file(s) of ``scene_id``'s export: ``<scene id>.tif``, or its pieces
    (:data:`gee_scripts.settings.PIECE_PATTERN`: nothing else matches, so scene "a-1" never takes
    "a-1-2"'s file)."""
    whole = downloads / f"{scene_id}.tif"
    if whole.is_file():
        return [whole]
    piece = re.compile(re.escape(scene_id) + PIECE_PATTERN)
    return sorted(p for p in downloads.glob(f"{scene_id}-*.tif") if piece.fullmatch(p.name))


def _on_grid(pieces: list[Path], grid: Mapping[str, Any]) -> tuple[np.ndarray | None, str]:
    """The pieces mosaicked on the scene's grid, or None and why not: a file in another CRS or
    off the grid (another scene's export), or pieces that leave part of the grid uncovered (one
    not downloaded yet)."""
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.merge import merge

    crs = CRS.from_string(grid["crs"])
    transform = Affine(*grid["transform"][:6])
    height, width = (int(v) for v in grid["shape"])
    covered = np.zeros((height, width), bool)
    for path in pieces:
        with open_geotiff(path) as src:
            if src.crs != crs:
                return None, f"{path.name} is in {src.crs}, the scene's grid in {crs}"
            col, row = ~transform @ (src.transform.c, src.transform.f)
            same_pixel = np.allclose(
                [src.transform.a, src.transform.e], [transform.a, transform.e], rtol=1e-9
            )
            if not same_pixel or abs(col - round(col)) > 1e-3 or abs(row - round(row)) > 1e-3:
                return None, f"{path.name} is not on the scene's grid ({src.transform[:6]})"
            r, c = round(row), round(col)
            if r < 0 or c < 0 or r + src.height > height or c + src.width > width:
                return None, f"{path.name} reaches outside the scene's {height} x {width} grid"
            if covered[r : r + src.height, c : c + src.width].any():  # Earth Engine's never do
                return None, (
                    f"{path.name} overlaps another piece (a piece of another export of the "
                    "scene? remove the files of the export it is not)"
                )
            covered[r : r + src.height, c : c + src.width] = True
    if not covered.all():
        share = covered.mean()
        return None, f"the pieces cover {share:.0%} of the grid (a piece not downloaded yet?)"
    bounds = rasterio.transform.array_bounds(height, width, transform)  # W, S, E, N
    with ExitStack() as opened:  # the files checked above, as GeoTIFFs (merge opens paths as any)
        sources = [opened.enter_context(open_geotiff(p)) for p in pieces]
        image, _ = merge(sources, bounds=bounds, res=(transform.a, -transform.e), nodata=NODATA)
    if image.shape[1:] != (height, width):  # the pieces lie on the grid: a merge off by a pixel
        return None, f"the pieces merged to {image.shape[1:]} px, the grid is {(height, width)}"
    return image, ""


def ingest_exports(out: Path, downloads: Path) -> DatasetReport:
    """``dataset ingest``: the GeoTIFFs of finished batch exports (downloaded into ``downloads``
    as ``<scene id>.tif``, or the pieces ``<scene id>-<row>-<column>.tif`` Earth Engine splits
    large files into) become the inputs of their scenes, beside the labels computed at export
    time. A scene whose files are not on its grid, or do not cover it, is skipped and named."""
    import rasterio
    from affine import Affine

    from models.feature_stack import MODEL_BANDS

    out, downloads = Path(out), Path(downloads)
    # not the hidden temporary files a killed write of a record leaves (models.atomic)
    records = {
        split: sorted(p for p in (out / split / "exports").glob("*.json") if p.name[0] != ".")
        for split in SPLIT_NAMES
    }
    if not any(records.values()):
        raise BadInput(
            f"--out {out}: no batch export record (<split>/exports/<scene id>.json) in it: the "
            "folder `dataset export` wrote, with batch exports?"
        )
    if not downloads.is_dir():
        raise BadInput(f"--from {downloads}: no such folder (where the exports were downloaded)")
    report = DatasetReport(out, written=dict.fromkeys(SPLIT_NAMES, 0))
    missing = older = refused = 0
    matched: set[Path] = set()
    for split, paths in records.items():
        folder = out / split
        for record_path in paths:
            record = json.loads(record_path.read_text())
            scene_id = record["scene"]
            provenance = scene_files(folder, scene_id)[0]
            pieces = export_pieces(downloads, scene_id)
            matched.update(pieces)  # an ingested scene's own too: no stray on a rerun
            if (
                provenance.exists()
                and json.loads(provenance.read_text()).get("label_key") == record["label_key"]
            ):
                report.resumed += 1
                continue
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
            image, why = _on_grid(pieces, record["grid"])
            if image is not None and image.shape[0] < len(MODEL_BANDS):
                why = f"{image.shape[0]} bands, not {len(MODEL_BANDS)} or more"
                image = None
            if image is None:
                refused += 1
                log.warning("%s: not ingested: %s", scene_id, why)
                continue
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
                {**record, "split": split, "ingested_from": [str(p) for p in pieces]},
            )
            report.written[split] += 1
    if strays := sorted(p.name for p in downloads.glob("*.tif") if p not in matched):
        # another dataset's downloads, or a renamed file (a browser's "name (1).tif")
        named = ", ".join(strays[:5]) + (" ..." if len(strays) > 5 else "")
        log.warning(
            "--from %s: %d GeoTIFF(s) match no scene export of %s: %s",
            downloads, len(strays), out, named,
        )  # fmt: skip
    if missing:
        report.skipped["export not downloaded yet (no <scene id>.tif)"] = missing
    if older:
        report.skipped["download older than the scene's export (of an earlier one?)"] = older
    if refused:
        report.skipped["files not on the scene's grid, or not all of its pieces (logged)"] = refused
    return report
