"""Fetching the assembled image onto the region's grid with xee, and turning its bands into the
feature stack (``models.feature_stack``).

The feature image is handed to xee as a collection of one-band images (one per band, the band
name in the ``band`` property), opened on an explicit grid (CRS, affine transform, shape), so
that xee's index dimension runs over the bands and **one** ``ee.data.computePixels`` request
per tile of ``chunk_px`` x ``chunk_px`` pixels returns every band at once: Earth Engine then
evaluates the shared composites once per tile instead of once per band. Tiles are fetched in
parallel (``max_workers``), each retried on its own by :mod:`gee_scripts.retry` (xee's own
retries are off); masked pixels come back as NaN. A request carries ``bands x chunk_px² x 5``
bytes (float32 and the mask byte), which must stay under the 48 MiB computePixels limit:
:data:`MAX_CHUNK_PX` for the feature image.

The stack itself is built by :func:`models.stack_assembly.assemble_stack`, the archive source's
assembler too, so that stacks from Earth Engine and from the archive line up exactly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

import ee
import numpy as np
import xarray as xr
import xee
from affine import Affine
from shapely.geometry.base import BaseGeometry
from tqdm.auto import tqdm

from gee_scripts.assembly import DATING_BANDS, FLAT_BANDS, RGB_BANDS, STACK_BANDS
from gee_scripts.retry import Backoff, Cancelled, call_with_retry
from models.feature_stack import PIXEL_SIZE_M, StackAttrs
from models.stack_assembly import assemble_stack

__all__ = [
    "MAX_CHUNK_PX",
    "REQUEST_BYTE_LIMIT",
    "XEE_GETITEM_KWARGS",
    "Transform",
    "counted_requests",
    "fetch_bands",
    "fit_grid",
    "flatten_stack",
    "open_flat",
    "requests_per_fetch",
    "six_numbers",
    "tile_windows",
    "to_feature_stack",
]

log = logging.getLogger(__name__)

Transform = tuple[float, float, float, float, float, float]  # (a, b, c, d, e, f), GDAL order


def six_numbers(transform: Sequence[float] | Affine) -> Transform:
    """``transform`` as the six numbers ``(a, b, c, d, e, f)`` Earth Engine's ``crsTransform``
    takes: an ``affine.Affine`` (such as ``monitor.grid.Grid.transform``) iterates as nine, its
    last row ``0, 0, 1``, which Earth Engine would refuse or misread; any other length is a
    ValueError."""
    values = [float(v) for v in transform]
    if len(values) == 9 and values[6:] == [0.0, 0.0, 1.0]:
        values = values[:6]
    if len(values) != 6:
        raise ValueError(
            f"a grid transform is six numbers (a, b, c, d, e, f) or an affine.Affine; got "
            f"{len(values)}: {values}"
        )
    a, b, c, d, e, f = values
    return (a, b, c, d, e, f)


REQUEST_BYTE_LIMIT = 48 * 2**20  # computePixels answer limit
MAX_CHUNK_PX = math.isqrt(REQUEST_BYTE_LIMIT // (len(FLAT_BANDS) * 5)) // 16 * 16
# xee retries every EEException (permanent ones too) up to 6 times; here it does not retry at all.
XEE_GETITEM_KWARGS: dict[str, int] = {"max_retries": 0}


def fit_grid(
    geometry_wgs84: BaseGeometry, crs: str, res: float = PIXEL_SIZE_M
) -> tuple[str, Transform, tuple[int, int]]:
    """``(crs, transform, (height, width))`` of the ``res`` grid covering ``geometry_wgs84``
    in ``crs``, by ``xee.fit_geometry`` (origin snapped outward to whole pixels). For the UTM
    zone of the centroid this is exactly ``monitor.grid.region_grid`` (tested)."""
    params = xee.fit_geometry(geometry_wgs84, grid_crs=crs, grid_scale=(res, -res))
    width, height = params["shape_2d"]
    a, b, c, d, e, f = params["crs_transform"]
    return params["crs"], (a, b, c, d, e, f), (height, width)


def open_flat(
    image: ee.Image,
    *,
    band_names: tuple[str, ...] = FLAT_BANDS,
    crs: str,
    transform: Transform,
    shape: tuple[int, int],
    chunk_px: int = 512,
    max_workers: int = 4,
    retry: Backoff | None = None,
    deadline: float | None = None,
) -> xr.Dataset:
    """Open the ``band_names`` of ``image`` lazily with xee on the grid ``crs``/``transform``/
    ``shape`` (height, width): variable ``value`` with dims ``(band, y, x)``. One metadata
    request is made now (retried here); pixels are requested on load, and xee's own retries are
    off (``max_retries`` 0): :mod:`gee_scripts.retry` is the one layer that retries."""
    retry = retry or Backoff()
    height, width = shape
    a, b, c, d, e, f = six_numbers(transform)
    if b != 0.0 or d != 0.0 or a <= 0 or e >= 0:
        raise ValueError(f"grid transform must be north-up without rotation, got {transform}")
    request_bytes = len(band_names) * chunk_px * chunk_px * 5
    if request_bytes > REQUEST_BYTE_LIMIT:
        raise ValueError(
            f"chunk of {chunk_px} px x {len(band_names)} bands is {request_bytes / 2**20:.0f} MiB "
            f"per request, over Earth Engine's 48 MiB; use chunk_px <= {MAX_CHUNK_PX}"
        )
    collection = ee.ImageCollection.fromImages(
        [image.select([name], ["value"]).set("band", name) for name in band_names]
    )
    return call_with_retry(
        lambda: xr.open_dataset(
            collection,
            engine="ee",
            crs=crs,
            crs_transform=(a, b, c, d, e, f),
            shape_2d=(width, height),
            primary_dim_name="band",
            primary_dim_property="band",
            io_chunks={"index": len(band_names), "width": chunk_px, "height": chunk_px},
            executor_kwargs={"max_workers": max_workers},
            getitem_kwargs=XEE_GETITEM_KWARGS,
        ),
        what=f"metadata of the feature image ({crs}, {width}x{height} px)",
        policy=retry,
        deadline=deadline,
    )


def tile_windows(shape: tuple[int, int], chunk_px: int) -> list[tuple[slice, slice]]:
    """The ``(rows, cols)`` windows of the tiles of ``shape``, row by row; one computePixels
    request each (xee's ``io_chunks`` are the same tiles)."""
    height, width = shape
    return [
        (slice(r, min(r + chunk_px, height)), slice(c, min(c + chunk_px, width)))
        for r in range(0, height, chunk_px)
        for c in range(0, width, chunk_px)
    ]


def fetch_bands(
    image: ee.Image,
    band_names: tuple[str, ...] = FLAT_BANDS,
    *,
    crs: str,
    transform: Transform,
    shape: tuple[int, int],
    chunk_px: int = 512,
    max_workers: int = 4,
    retry: Backoff | None = None,
    progress: bool = True,
    label: str = "",
) -> dict[str, np.ndarray]:
    """The ``band_names`` of ``image`` as ``(height, width)`` float32 arrays (NaN where masked),
    fetched tile by tile, ``max_workers`` tiles at a time, each tile retried on its own. The
    whole fetch (metadata and every tile) ends within ``retry.total_timeout_s`` of its start."""
    retry = retry or Backoff()
    deadline = time.monotonic() + retry.total_timeout_s
    flat = open_flat(
        image,
        band_names=band_names,
        crs=crs,
        transform=transform,
        shape=shape,
        chunk_px=chunk_px,
        max_workers=max_workers,
        retry=retry,
        deadline=deadline,
    )
    value = flat["value"]
    # Bands come back in collection order. Their ``band`` labels may be missing (xee then
    # numbers them, with a warning), so only the count is checked, not the labels.
    if value.sizes["band"] != len(band_names):
        raise ValueError(
            f"the server returned {value.sizes['band']} bands, expected {len(band_names)}"
        )
    height, width = shape
    out = np.full((len(band_names), height, width), np.nan, dtype=np.float32)
    _fetch_tiles(
        value,
        out,
        tile_windows(shape, chunk_px),
        max_workers=max_workers,
        retry=retry,
        deadline=deadline,
        progress=progress,
        label=label,
    )
    return {name: out[i] for i, name in enumerate(band_names)}


def _fetch_tiles(
    value: xr.DataArray,
    out: np.ndarray,
    windows: list[tuple[slice, slice]],
    *,
    max_workers: int,
    retry: Backoff,
    deadline: float,
    progress: bool,
    label: str,
) -> None:
    """Fill ``out`` with ``value``'s pixels, one window at a time on ``max_workers`` threads,
    each retried on its own until ``deadline``; the first tile that fails for good stops the
    others and its error is raised."""
    failed = threading.Event()  # one tile failed for good: start no other

    def fetch(window: tuple[slice, slice]) -> None:
        rows, cols = window
        try:
            out[:, rows, cols] = call_with_retry(  # raises Cancelled once ``failed`` is set
                lambda: value.isel(y=rows, x=cols).values,
                what=(
                    f"pixels of {label or 'region'}, rows {rows.start}-{rows.stop}, "
                    f"columns {cols.start}-{cols.stop}"
                ),
                policy=retry,
                deadline=deadline,
                cancel=failed,
            )
        except BaseException:
            failed.set()  # before this worker takes the next tile off the queue
            raise

    with (
        tqdm(
            total=len(windows), desc=f"fetch {label}".strip(), unit="tile", disable=not progress
        ) as bar,
        ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ee-tile") as pool,
    ):
        futures = [pool.submit(fetch, window) for window in windows]
        try:
            # A tile cancelled because another failed may finish first: report the failure.
            cancelled: BaseException | None = None
            for future in as_completed(futures):
                error = future.exception()
                if error is None:
                    bar.update()
                elif isinstance(error, Cancelled):
                    cancelled = cancelled or error
                else:
                    raise error
            if cancelled is not None:
                raise cancelled
        except BaseException:
            # Tiles in flight see ``failed`` within a tenth of a second (between attempts, in a
            # backoff wait, or while waiting on an attempt), so leaving the pool's ``with``,
            # which waits for them, takes no longer: a failed tile or a SIGTERM ends the fetch.
            failed.set()
            for future in futures:
                future.cancel()
            raise


def to_feature_stack(
    bands: Mapping[str, np.ndarray],
    *,
    crs: str,
    transform: Transform,
    shape: tuple[int, int],
    attrs: StackAttrs,
) -> xr.Dataset:
    """The feature stack from the flat bands (:data:`~gee_scripts.assembly.STACK_BANDS`; others
    are ignored), each of ``shape``, through :func:`models.stack_assembly.assemble_stack` (which
    validates it): the true-colour bands become ``pre_rgb``/``post_rgb``, NaN counts 0."""
    missing = [name for name in STACK_BANDS if name not in bands]
    if missing:
        raise ValueError(f"fetched image lacks bands: {', '.join(missing)}")
    wrong = [name for name in STACK_BANDS if np.shape(bands[name]) != tuple(shape)]
    if wrong:
        raise ValueError(f"bands {', '.join(wrong)} are not of the grid's shape {shape}")
    rgb = {
        which: np.stack([bands[f"{which}_rgb_{c}"] for c in RGB_BANDS]) for which in ("pre", "post")
    }
    return assemble_stack(bands, rgb, bands, crs=crs, transform=transform, attrs=attrs)


def flatten_stack(stack: xr.Dataset) -> dict[str, np.ndarray]:
    """The inverse of :func:`to_feature_stack`: one 2-D float32 array per stack band (and per
    event-dating band the stack has)."""
    out: dict[str, np.ndarray] = {}
    for name in STACK_BANDS:
        for which in ("pre", "post"):
            prefix = f"{which}_rgb_"
            if name.startswith(prefix):
                channel = RGB_BANDS.index(name.removeprefix(prefix))
                out[name] = np.asarray(stack[f"{which}_rgb"].values[channel], dtype=np.float32)
                break
        else:
            out[name] = np.asarray(stack[name].values, dtype=np.float32)
    for name in DATING_BANDS:
        if name in stack:
            out[name] = np.asarray(stack[name].values, dtype=np.float32)
    return out


@contextmanager
def counted_requests() -> Iterator[dict[str, int]]:
    """Count the ``ee.data.computeValue`` and ``computePixels`` calls made inside (whatever
    serves them: the server, or a stand-in installed before)."""
    counts = {"computeValue": 0, "computePixels": 0}
    lock = threading.Lock()
    value, pixels = ee.data.computeValue, ee.data.computePixels

    def counted_value(obj: Any) -> Any:
        with lock:
            counts["computeValue"] += 1
        return value(obj)

    def counted_pixels(params: Any) -> Any:
        with lock:
            counts["computePixels"] += 1
        return pixels(params)

    ee.data.computeValue, ee.data.computePixels = counted_value, counted_pixels
    try:
        yield counts
    finally:
        ee.data.computeValue, ee.data.computePixels = value, pixels


def requests_per_fetch(shape: tuple[int, int], chunk_px: int) -> int:
    """computePixels requests for one fetch: one per tile, all bands at once (the metadata
    request is not counted here)."""
    return len(tile_windows(shape, chunk_px))
