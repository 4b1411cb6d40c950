"""The one assembler of the feature stack: plain arrays on a grid in, a validated Dataset out.

Both sources call :func:`assemble_stack` once their composites are computed: the embedded
archive (``monitor.sources.archive``) with the arrays it composited locally, Earth Engine
(``gee_scripts.fetch.to_feature_stack``) with the bands it fetched. The Dataset it returns
holds :data:`~models.feature_stack.MODEL_BANDS` in Table 2 order, ``preNDVI``/``postNDVI``,
``pre_rgb``/``post_rgb`` with dims ``(rgb, y, x)``, all float32, then the observation counts
(:data:`~models.feature_stack.COUNT_VARIABLES`) as int16 (0 where none, never NaN); pixel-centre
coordinates from the grid (``x0 + (i + 0.5) * res``, as ``monitor.grid.Grid`` computes them, so
stacks of both sources line up exactly), the CRS and transform attached with rioxarray, and the
attributes of a :class:`~models.feature_stack.StackAttrs`. It is checked with
:func:`~models.feature_stack.validate` before it is returned: the source boundary is the one
place a stack is validated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine

from models.feature_stack import (
    COUNT_VARIABLES,
    DATING_VARIABLES,
    MODEL_BANDS,
    NDVI_VARIABLES,
    RGB_CHANNELS,
    RGB_VARIABLES,
    StackAttrs,
    on_grid,
    validate,
)

__all__ = ["assemble_stack", "grid_axes"]


def grid_axes(transform: Affine, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre ``(x, y)`` coordinates of the north-up grid ``transform`` of ``shape``
    (height, width); ``y`` decreases."""
    height, width = shape
    x = transform.c + (np.arange(width) + 0.5) * transform.a
    y = transform.f - (np.arange(height) + 0.5) * abs(transform.e)
    return x, y


def _counts(values: np.ndarray) -> np.ndarray:
    """Observation counts as int16: NaN (no data fetched) is 0 observations."""
    counts = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    return np.rint(counts).astype(np.int16)


def assemble_stack(
    layers: Mapping[str, np.ndarray],
    rgb: Mapping[str, np.ndarray],
    counts: Mapping[str, np.ndarray],
    *,
    crs: str,
    transform: Affine | Sequence[float],
    attrs: StackAttrs,
) -> xr.Dataset:
    """The feature stack (see the module) on the grid ``crs``/``transform`` (GDAL order,
    north-up), checked with :func:`~models.feature_stack.validate`.

    ``layers`` maps every model band and ``preNDVI``/``postNDVI`` to a ``(height, width)``
    array; ``rgb`` maps ``"pre"`` and ``"post"`` to the ``(3, height, width)`` true-colour
    composite (:data:`~models.feature_stack.RGB_CHANNELS` order); ``counts`` maps each count
    variable to its per-pixel observations. The event-dating variables
    (:data:`~models.feature_stack.DATING_VARIABLES`) are taken from ``layers`` where present.
    Other keys are ignored."""
    missing = [n for n in (*MODEL_BANDS, *NDVI_VARIABLES) if n not in layers]
    missing += [f"{w}_rgb" for w in ("pre", "post") if w not in rgb]
    missing += [n for n in COUNT_VARIABLES if n not in counts]
    if missing:
        raise ValueError(f"cannot assemble the feature stack without: {', '.join(missing)}")
    affine = transform if isinstance(transform, Affine) else Affine(*tuple(transform)[:6])
    data: dict[str, tuple[tuple[str, ...], np.ndarray]] = {}
    for name in (*MODEL_BANDS, *NDVI_VARIABLES):
        data[name] = (("y", "x"), np.asarray(layers[name], dtype=np.float32))
    for name in DATING_VARIABLES:
        if name in layers:
            data[name] = (("y", "x"), np.asarray(layers[name], dtype=np.float32))
    for which, name in zip(("pre", "post"), RGB_VARIABLES, strict=True):
        data[name] = (("rgb", "y", "x"), np.asarray(rgb[which]).astype(np.float32))
    for name in COUNT_VARIABLES:
        data[name] = (("y", "x"), _counts(counts[name]))
    shape = data[MODEL_BANDS[0]][1].shape
    x, y = grid_axes(affine, (int(shape[0]), int(shape[1])))
    stack = xr.Dataset(
        data, coords={"y": y, "x": x, "rgb": list(RGB_CHANNELS)}, attrs=attrs.as_attrs()
    )
    located = on_grid(stack, crs, affine)
    validate(located)
    return located
