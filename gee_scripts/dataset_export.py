"""Training-set export on Earth Engine: which transfer a scene's tile takes, and the batch export
of a large one.

A tile of ``H x W`` pixels fetched interactively costs ``ceil(H/c) * ceil(W/c)``
``computePixels`` requests of at most ``c = chunk_px`` pixels a side (each under the 48 MiB
answer limit, :data:`gee_scripts.fetch.MAX_CHUNK_PX`), plus one ``computeValue`` for the
scene availability and one for xee's metadata. Above ``max_requests`` pixel requests a tile is
cheaper as one batch task (``Export.image``, no per-request quota, queued by Earth Engine): the
scene's GeoTIFF then lands in Cloud Storage or Drive under ``<prefix>/datasets/<scene>`` on the
tile's grid, in :data:`gee_scripts.assembly.FLAT_BANDS` order, like the monitoring export
(:mod:`gee_scripts.export`). docs/earth_engine.md gives the arithmetic for whole inventories.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import ee

from gee_scripts.export import export_image
from gee_scripts.fetch import Transform
from gee_scripts.retry import Backoff
from gee_scripts.settings import ExportSettings

__all__ = ["TransferPlan", "dataset_export_settings", "export_scene", "transfer_plan"]


@dataclass(frozen=True)
class TransferPlan:
    """How one tile travels: ``computePixels`` requests, or one batch export."""

    method: Literal["computePixels", "batch"]
    pixel_requests: int  # computePixels requests an interactive fetch would make
    value_requests: int  # computeValue requests either way (availability, metadata)
    shape: tuple[int, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def transfer_plan(shape: tuple[int, int], chunk_px: int, *, max_requests: int = 16) -> TransferPlan:
    """``computePixels`` while the tile needs at most ``max_requests`` pixel requests of
    ``chunk_px``², else a batch export (see the module)."""
    if chunk_px < 1 or max_requests < 1:
        raise ValueError(f"chunk_px and max_requests must be positive ({chunk_px}, {max_requests})")
    height, width = shape
    tiles = math.ceil(height / chunk_px) * math.ceil(width / chunk_px)
    if tiles <= max_requests:
        return TransferPlan("computePixels", tiles, 2, (height, width))
    return TransferPlan("batch", tiles, 1, (height, width))


def dataset_export_settings(settings: ExportSettings) -> ExportSettings:
    """``settings`` with the files under ``<prefix>/datasets``."""
    prefix = f"{settings.prefix}/datasets" if settings.prefix else "datasets"
    return settings.model_copy(update={"prefix": prefix})


def export_scene(
    image: ee.Image,
    *,
    scene_id: str,
    crs: str,
    transform: Transform,
    shape: tuple[int, int],
    settings: ExportSettings,
    retry: Backoff | None = None,
) -> ee.batch.Task:
    """Start the batch export of one training scene's feature image on its grid; returns the
    started task (its description is the scene id)."""
    return export_image(
        image,
        description=scene_id,
        crs=crs,
        transform=transform,
        shape=shape,
        settings=dataset_export_settings(settings),
        retry=retry,
    )
