"""Batch export of the feature image, for regions too large to fetch interactively.

The export uses the region's grid exactly (CRS, affine transform, dimensions), so the GeoTIFF
lines up with stacks fetched interactively; its bands are
:data:`gee_scripts.assembly.FLAT_BANDS` in order, float32, masked pixels written as
:data:`gee_scripts.settings.NODATA` (declared as the GeoTIFF's no-data value; read it back as NaN).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import ee
from affine import Affine

from gee_scripts.fetch import six_numbers
from gee_scripts.retry import Backoff, EarthEngineError, call_with_retry
from gee_scripts.settings import NODATA, ExportSettings, check_destination

__all__ = [
    "export_image",
    "export_parameters",
    "wait_for",
]

log = logging.getLogger(__name__)

_MAX_PIXELS = 10_000_000_000
_FINISHED = ("COMPLETED", "FAILED", "CANCELLED", "CANCEL_REQUESTED")


def _safe(text: str) -> str:
    """Earth Engine task descriptions allow letters, digits, '.', ',', ':', ';', '_', '-'."""
    return re.sub(r"[^A-Za-z0-9.,:;_-]", "_", text)


_DESCRIPTION_CHARS = 100  # a task description's limit; file names have none this short


def export_parameters(
    *,
    description: str,
    crs: str,
    transform: Sequence[float] | Affine,
    shape: tuple[int, int],
    settings: ExportSettings,
) -> dict[str, Any]:
    """Keyword arguments of ``ee.batch.Export.image.toCloudStorage``/``toDrive`` for the grid
    ``crs``/``transform`` (six numbers, or an ``affine.Affine`` such as ``grid.transform``)/
    ``shape`` (height, width)."""
    height, width = shape
    # the file is named by the whole description (a scene id of 120 characters: `dataset
    # ingest` looks for <scene id>.tif); the task's description is cut to Earth Engine's limit
    name = _safe(description)
    params: dict[str, Any] = {
        "description": name[:_DESCRIPTION_CHARS],
        "fileNamePrefix": f"{settings.prefix}/{name}" if settings.prefix else name,
        "crs": crs,
        "crsTransform": list(six_numbers(transform)),
        "dimensions": f"{width}x{height}",
        "maxPixels": _MAX_PIXELS,
        "fileFormat": "GeoTIFF",
        "formatOptions": {"cloudOptimized": True, "noData": NODATA},
    }
    check_destination(settings)
    if settings.target == "cloud_storage":
        params["bucket"] = settings.bucket
    else:
        params["folder"] = settings.drive_folder
        params["fileNamePrefix"] = name
    return params


def export_image(
    image: ee.Image,
    *,
    description: str,
    crs: str,
    transform: Sequence[float] | Affine,
    shape: tuple[int, int],
    settings: ExportSettings,
    retry: Backoff | None = None,
) -> ee.batch.Task:
    """Start the export of ``image`` on the grid; returns the started task."""
    params = export_parameters(
        description=description, crs=crs, transform=transform, shape=shape, settings=settings
    )
    exporter = (
        ee.batch.Export.image.toCloudStorage
        if settings.target == "cloud_storage"
        else ee.batch.Export.image.toDrive
    )
    task = exporter(image.toFloat().unmask(NODATA, False), **params)
    call_with_retry(task.start, what=f"start export {params['description']}", policy=retry)
    log.info("export %s started (%s)", params["description"], settings.target)
    return task


def wait_for(
    task: ee.batch.Task,
    *,
    timeout_s: float = 3600.0,
    poll_s: float = 30.0,
    retry: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``task`` until it finishes; raise :class:`EarthEngineError` if it fails or the
    timeout passes. Returns the final status. Each poll is retried by ``retry`` (the client's
    own retries are off: :mod:`gee_scripts.retry` is the one layer)."""
    started = clock()
    while True:
        status = call_with_retry(task.status, what="status of an export task", policy=retry)
        state = status.get("state")
        if state == "COMPLETED":
            return status
        if state in _FINISHED:
            raise EarthEngineError(
                f"export {status.get('description')}: {state}: {status.get('error_message', '')}"
            )
        if clock() - started > timeout_s:
            raise EarthEngineError(
                f"export {status.get('description')}: still {state} after {timeout_s:.0f} s"
            )
        sleep(poll_s)
