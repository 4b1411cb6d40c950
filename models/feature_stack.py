"""The feature stack: the one input contract between the data sources and the models.

Both sources (the embedded archive in ``monitor.sources`` and Earth Engine in ``gee_scripts``)
produce an :class:`xarray.Dataset` that satisfies :func:`validate`; the ensemble reads it with
:func:`model_input`. Band names and order follow Ganerød et al. (Table 2); the settings are their
channel subsets (Table 3). See ``docs/DESIGN.md``.

This module imports neither torch nor Earth Engine, so every part of the project can use it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "AUX_VARIABLES",
    "COUNT_VARIABLES",
    "MODEL_BANDS",
    "PIXEL_SIZE_M",
    "SETTINGS",
    "STACK_ATTRS",
    "FeatureStackError",
    "band_indices",
    "band_names",
    "empty_bands",
    "model_input",
    "validate",
]

PIXEL_SIZE_M = 10.0

MODEL_BANDS: tuple[str, ...] = (
    "preVV",  # 0  sigma0 VV, dB, terrain-flattened, median of the pre window
    "postVV",  # 1  same, post window
    "dVV",  # 2  postVV - preVV, dB
    "preVH",  # 3  dB
    "postVH",  # 4  dB
    "dVH",  # 5  dB
    "layover",  # 6  1 where layover, else 0
    "shadow",  # 7  1 where radar shadow, else 0
    "liaDeg",  # 8  local incidence angle, degrees
    "elevation",  # 9  metres
    "slope",  # 10 degrees
    "kg_climate",  # 11 Köppen-Geiger class code
    "canopy_height",  # 12 metres
    "landcover",  # 13 ESA WorldCover class code
    "dNDVI",  # 14 postNDVI - preNDVI
)

SETTINGS: Mapping[str, tuple[int, ...]] = {
    "S1": tuple(range(0, 9)),
    "S2": (13, 14),
    "S1+S2": (*range(0, 9), 13, 14),
    "all": tuple(range(0, 15)),
}

# Carried along for vectorising, quicklooks and data-status decisions; never fed to a model.
AUX_VARIABLES: tuple[str, ...] = (
    "preNDVI",
    "postNDVI",
    "pre_rgb",  # dims (rgb, y, x), reflectance 0..1, for quicklooks
    "post_rgb",
)
# Valid observations per pixel in each window (0 where none; never NaN).
COUNT_VARIABLES: tuple[str, ...] = (
    "s2_clear_pre",
    "s2_clear_post",
    "s1_count_pre",
    "s1_count_post",
)

# Dataset attributes every source sets. Dates are ISO strings; lists are comma-joined so that
# the stack round-trips through netCDF/Zarr.
STACK_ATTRS: tuple[str, ...] = (
    "region",
    "source",  # "archive" | "gee"
    "pre_window",  # "YYYY-MM-DD/YYYY-MM-DD" (end exclusive)
    "post_window",
    "orbit_pass",  # "ascending" | "descending" | "both"
    "s2_dates_pre",  # comma-joined acquisition dates actually used
    "s2_dates_post",
    "s1_dates_pre",
    "s1_dates_post",
    "status",  # "ok" or a ';'-joined list of data problems naming sensor and window
)


class FeatureStackError(ValueError):
    """A dataset that does not satisfy the feature-stack contract."""


def band_indices(setting: str) -> tuple[int, ...]:
    """Channel indices of ``setting`` (one of :data:`SETTINGS`)."""
    try:
        return SETTINGS[setting]
    except KeyError:
        known = ", ".join(SETTINGS)
        raise FeatureStackError(f"unknown setting {setting!r}; known settings: {known}") from None


def band_names(setting: str) -> tuple[str, ...]:
    return tuple(MODEL_BANDS[i] for i in band_indices(setting))


def empty_bands(bands: Mapping[str, np.ndarray] | xr.Dataset) -> tuple[str, ...]:
    """The model bands (:data:`MODEL_BANDS` order) without a single finite value: a layer that
    came back entirely NaN (no asset covering the region, no scene, every pixel masked). A
    setting that needs one of them cannot predict anything."""
    return tuple(
        name
        for name in MODEL_BANDS
        if name in bands and not np.isfinite(np.asarray(bands[name])).any()
    )


def validate(stack: xr.Dataset) -> None:
    """Raise :class:`FeatureStackError` naming the first way ``stack`` breaks the contract."""
    missing = [v for v in (*MODEL_BANDS, *COUNT_VARIABLES, "preNDVI", "postNDVI") if v not in stack]
    if missing:
        raise FeatureStackError(f"feature stack lacks variables: {', '.join(missing)}")
    for name in MODEL_BANDS:
        da = stack[name]
        if da.dims != ("y", "x"):
            raise FeatureStackError(f"variable {name!r} has dims {da.dims}, expected ('y', 'x')")
        if da.dtype != np.float32:
            raise FeatureStackError(f"variable {name!r} has dtype {da.dtype}, expected float32")
    if stack.rio.crs is None:
        raise FeatureStackError("feature stack has no CRS (attach one with rioxarray)")
    res_x, res_y = stack.rio.resolution()
    if not (np.isclose(res_x, PIXEL_SIZE_M) and np.isclose(res_y, -PIXEL_SIZE_M)):
        raise FeatureStackError(
            f"feature stack pixel size is ({res_x}, {res_y}), expected "
            f"({PIXEL_SIZE_M}, {-PIXEL_SIZE_M}) north-up"
        )
    absent = [a for a in STACK_ATTRS if a not in stack.attrs]
    if absent:
        raise FeatureStackError(f"feature stack lacks attributes: {', '.join(absent)}")


def model_input(stack: xr.Dataset, setting: str | Sequence[int]) -> np.ndarray:
    """The model channels of ``setting`` as a ``(C, H, W)`` float32 array (NaN kept)."""
    indices = band_indices(setting) if isinstance(setting, str) else tuple(setting)
    return np.stack([stack[MODEL_BANDS[i]].values for i in indices]).astype(np.float32, copy=False)
