"""The feature stack: the one input contract between the data sources and the models.

Both sources (the embedded archive in ``monitor.sources`` and Earth Engine in ``gee_scripts``)
build an :class:`xarray.Dataset` with :func:`models.stack_assembly.assemble_stack`, which checks
it with :func:`validate`; the ensemble reads it with :func:`model_input`. Band names and order
follow Ganerød et al. (Table 2); the settings are their channel subsets (Table 3). See
``docs/DESIGN.md``.

Besides the bands, this module holds what every stage reads of a stack: its attributes as one
typed record (:class:`StackAttrs`, written by the assembler and read back by the pipeline) and
its coverage masks (:func:`optical_clear`, :func:`radar_valid`). The raw sensor bands the
sources composite from (:data:`S2_BANDS`, :data:`S1_BANDS`) are named here too, so that the
archive, its simulator and the Earth Engine graphs share them; the WorldCover codes of the
``landcover`` band live in :mod:`models.worldcover`.

This module imports neither torch nor Earth Engine, so every part of the project can use it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

__all__ = [
    "AREAL_SCALE_TOLERANCE",
    "AUX_VARIABLES",
    "COUNT_VARIABLES",
    "DATING_VARIABLES",
    "HIGHEST_ELEVATION_M",
    "HIGH_VH_DB",
    "HIGH_VV_DB",
    "KOPPEN_CODES",
    "LOWEST_ELEVATION_M",
    "MODEL_BANDS",
    "NDVI_VARIABLES",
    "PIXEL_SIZE_M",
    "RGB_CHANNELS",
    "RGB_VARIABLES",
    "S1_BANDS",
    "S1_INCIDENCE_RANGE_DEG",
    "S2_BANDS",
    "S2_DN_PER_REFLECTANCE",
    "SETTINGS",
    "STACK_ATTRS",
    "TALLEST_CANOPY_M",
    "FeatureStackError",
    "Period",
    "SensorKey",
    "StackAttrs",
    "band_indices",
    "band_names",
    "empty_bands",
    "footprint",
    "looks_linear",
    "model_input",
    "on_grid",
    "optical_clear",
    "polarisations_swapped",
    "radar_valid",
    "sigma0_too_bright",
    "status_text",
    "validate",
]

SensorKey = Literal["s1", "s2"]  # the sensor prefix of the date attributes and count variables
Period = Literal["pre", "post"]  # the window: before or after the event

PIXEL_SIZE_M = 10.0
# A stack's pixel areas may differ this much from the ground's at its centre: 0.2 % at the edge
# of a UTM zone at the equator (pyproj areal scale 1.0020), 107 % for Web Mercator at 46 degrees.
# detect --stack refuses a stack beyond it; the pixel report measures in the grid's metres within
# it (models.datasets.Scene.pixel_area_m2).
AREAL_SCALE_TOLERANCE = 0.05

# The raw bands the sources composite the stack from: Sentinel-2 L2A reflectances (the archive
# stores them in this order) and Sentinel-1 GRD polarisations.
S2_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B8", "B11", "B12")
# Sentinel-2 L2A digital numbers per unit of reflectance (S2_SR_HARMONIZED; the archive stores
# them as uint16).
S2_DN_PER_REFLECTANCE = 10_000
S1_BANDS: tuple[str, ...] = ("VV", "VH")
# Incidence angles (degrees) of IW GRD kept by both sources: the swath edges outside carry
# border noise (the limits of gee_s1_ard, Mullissa et al. 2021, after Hird et al. 2017).
S1_INCIDENCE_RANGE_DEG: tuple[float, float] = (30.63993, 45.23993)
# The channels of the true-colour composites ``pre_rgb``/``post_rgb`` (their ``rgb`` coordinate).
RGB_CHANNELS: tuple[str, ...] = ("red", "green", "blue")

MODEL_BANDS: tuple[str, ...] = (
    "preVV",  # 0  gamma0 VV (sigma0 terrain-flattened, Vollrath et al. 2020), dB; pre window
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

# The values the layout's static bands can hold: RegionWriter refuses others where an archive is
# written, `detect --stack` where a stack is read.
LOWEST_ELEVATION_M = -500.0  # below any land surface (the Dead Sea shore is at -430 m)
HIGHEST_ELEVATION_M = 8849.0  # Mount Everest: above it, feet (x 3.28) or decimetres
TALLEST_CANOPY_M = 120.0  # above any tree (the tallest measured, a redwood, is 116 m)
# Köppen-Geiger classes of Beck et al. (2018), 1 (Af) to 30 (EF); 0 where unknown
KOPPEN_CODES = range(0, 31)

SETTINGS: Mapping[str, tuple[int, ...]] = {
    "S1": tuple(range(0, 9)),
    "S2": (13, 14),
    "S1+S2": (*range(0, 9), 13, 14),
    "all": tuple(range(0, 15)),
}

# Carried along for vectorising, quicklooks and data-status decisions; never fed to a model.
# Every stack has the NDVIs (validate); the true colour is the sources' (a stack in the Ganerød
# et al. layout has none).
NDVI_VARIABLES: tuple[str, ...] = ("preNDVI", "postNDVI")
RGB_VARIABLES: tuple[str, ...] = ("pre_rgb", "post_rgb")  # dims (rgb, y, x), reflectance 0..1
AUX_VARIABLES: tuple[str, ...] = (*NDVI_VARIABLES, *RGB_VARIABLES)
# Event dating per pixel and sensor (float32, NaN where unknown): the last observation that does
# not show the change (the last one at all where none does) and the first that does (days since
# 1970-01-01); for Sentinel-1 also how many post-window scenes show it (a count), and the
# flattened VV and VH of the newest scene of the post image (dB; the second look,
# monitor.pipeline.dating).
# Optional: a stack read from a GeoTIFF in the Ganerød et al. layout has none.
DATING_VARIABLES: tuple[str, ...] = (
    "s1_last_unchanged",
    "s1_first_changed",
    "s1_changed_scenes",
    "s1_newest_VV",
    "s1_newest_VH",
    "s2_last_unchanged",
    "s2_first_changed",
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
    missing = [v for v in (*MODEL_BANDS, *COUNT_VARIABLES, *NDVI_VARIABLES) if v not in stack]
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


def looks_linear(values: np.ndarray) -> bool:
    """Whether backscatter ``values`` (NaN ignored) are linear power, as
    ``COPERNICUS/S1_GRD_FLOAT`` gives it, rather than the dB the stack holds: positive at the
    median with (almost) no negative value. A scene in dB always has negative values (the
    noise floor and most land lie well below 0 dB) even where dense urban or foreslopes lift
    its median above 0; linear power is never negative."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return False
    return bool(np.median(finite) > 0 and np.mean(finite < 0) < 0.01)


# sigma0 medians land seldom reaches (VV above -3 dB and VH above -6 dB at once; dense cities
# and foreslopes lift VV, seldom VH so far): the natural log (dB x 0.23) or tenths of dB read as
# hundredths (dB / 10) put them there
HIGH_VV_DB = -3.0
HIGH_VH_DB = -6.0


def sigma0_too_bright(vv: np.ndarray, vh: np.ndarray) -> tuple[float, float] | None:
    """The medians of VV and VH (dB, NaN ignored) where both lie above what land reaches
    (:data:`HIGH_VV_DB`, :data:`HIGH_VH_DB`; land lies near -8 to -15 dB in VV and -15 to -25
    dB in VH), None where they do not: the natural log of power (np.log: dB x 0.23) or int16
    tenths of dB read as hundredths (dB / 10), whose changes are four or ten times too small. A
    region in layover can be this bright, so this is a doubt, not a refusal."""
    vv, vh = vv[np.isfinite(vv)], vh[np.isfinite(vh)]
    if not (vv.size and vh.size):
        return None
    medians = float(np.median(vv)), float(np.median(vh))
    return medians if medians[0] > HIGH_VV_DB and medians[1] > HIGH_VH_DB else None


def polarisations_swapped(vv: np.ndarray, vh: np.ndarray) -> tuple[float, float] | None:
    """The medians of VV and VH (dB, NaN ignored) where the two look swapped, VH's median above
    VV's; None where they do not. Cross-polarised backscatter comes from volume and multiple
    scattering and lies below co-polarised over every kind of land (by 5-9 dB for vegetation,
    more for bare ground and water), so a scene whose VH stands above its VV has its bands in
    the wrong order."""
    vv, vh = vv[np.isfinite(vv)], vh[np.isfinite(vh)]
    if not (vv.size and vh.size):
        return None
    medians = float(np.median(vv)), float(np.median(vh))
    return medians if medians[1] > medians[0] else None


def on_grid(data: xr.Dataset, crs: object, transform: object) -> xr.Dataset:
    """``data`` with its CRS and geotransform written (rioxarray's ``write_crs`` and
    ``write_transform``), the one way every stack and prediction here is located. pyproj's CF
    attributes of an oblique Mercator (Swiss LV95, EPSG:2056) cannot hold its skew angle, and
    it says so: rioxarray keeps the CRS whole as its WKT, which every reader here uses, so that
    is not said (found in a walk: a stack in EPSG:2056 printed pyproj's "lost in conversion to
    CF" twice)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "angle from rectified to skew grid", UserWarning)
        located: xr.Dataset = data.rio.write_crs(crs).rio.write_transform(transform)
    return located


def model_input(stack: xr.Dataset, setting: str | Sequence[int]) -> np.ndarray:
    """The model channels of ``setting`` as a ``(C, H, W)`` float32 array (NaN kept)."""
    indices = band_indices(setting) if isinstance(setting, str) else tuple(setting)
    return np.stack([stack[MODEL_BANDS[i]].values for i in indices]).astype(np.float32, copy=False)


# ------------------------------------------------------------------------- coverage masks


def footprint(bands: Iterable[np.ndarray]) -> np.ndarray:
    """The pixels where at least one of ``bands`` (2-D, NaN = no data) holds a value: a stack's
    footprint. An export clipped to a region's outline (Earth Engine's ``clip``) holds no band
    in the rest of its bounding box; those pixels are outside it, not unobserved."""
    covered: np.ndarray | None = None
    for band in bands:
        finite = np.isfinite(band)
        covered = finite if covered is None else covered | finite
    if covered is None:
        raise ValueError("footprint of no band")
    return covered


def optical_clear(stack: xr.Dataset) -> np.ndarray:
    """Pixels with a clear Sentinel-2 observation in both windows."""
    return np.asarray((stack["s2_clear_pre"].values > 0) & (stack["s2_clear_post"].values > 0))


def radar_valid(stack: xr.Dataset) -> np.ndarray:
    """Pixels with a Sentinel-1 observation in both windows."""
    return np.asarray((stack["s1_count_pre"].values > 0) & (stack["s1_count_post"].values > 0))


# ------------------------------------------------------------------------------ attributes


def status_text(problems: Sequence[str]) -> str:
    """The ``status`` attribute of a stack with these data problems: ``"ok"`` when none."""
    return "; ".join(problems) or "ok"


def _joined(dates: Sequence[str]) -> str:
    return ",".join(dates)


def _split(value: object) -> tuple[str, ...]:
    return tuple(d.strip() for d in str(value or "").split(",") if d.strip())


@dataclass(frozen=True)
class StackAttrs:
    """The attributes of a feature stack (:data:`STACK_ATTRS`) as one typed record.

    :func:`models.stack_assembly.assemble_stack` writes them (:meth:`as_attrs`); every stage
    reads them back with :meth:`of`. Windows are ``"YYYY-MM-DD/YYYY-MM-DD"`` (end exclusive);
    the dates are the ISO dates of the acquisitions actually used, in the order the source
    lists them; ``status`` is :func:`status_text` of the source's data problems. ``extra`` holds
    a source's own attributes (e.g. ``terrain_model``), written after the contract's."""

    region: str
    source: str
    pre_window: str
    post_window: str
    orbit_pass: str
    s2_dates_pre: tuple[str, ...] = ()
    s2_dates_post: tuple[str, ...] = ()
    s1_dates_pre: tuple[str, ...] = ()
    s1_dates_post: tuple[str, ...] = ()
    status: str = "ok"
    extra: Mapping[str, str] = field(default_factory=dict)

    def as_attrs(self) -> dict[str, str]:
        """The Dataset attributes: :data:`STACK_ATTRS` in order (dates comma-joined), then
        ``extra``."""
        attrs = {
            "region": self.region,
            "source": self.source,
            "pre_window": self.pre_window,
            "post_window": self.post_window,
            "orbit_pass": self.orbit_pass,
            "s2_dates_pre": _joined(self.s2_dates_pre),
            "s2_dates_post": _joined(self.s2_dates_post),
            "s1_dates_pre": _joined(self.s1_dates_pre),
            "s1_dates_post": _joined(self.s1_dates_post),
            "status": self.status,
        }
        return attrs | {key: str(value) for key, value in self.extra.items()}

    @classmethod
    def of(cls, stack: xr.Dataset) -> StackAttrs:
        """The attributes of ``stack``; one it lacks reads as empty (:func:`validate` is the
        check that a stack has them all)."""
        attrs = stack.attrs

        def text(key: str) -> str:
            return str(attrs.get(key, "") or "")

        return cls(
            region=text("region"),
            source=text("source"),
            pre_window=text("pre_window"),
            post_window=text("post_window"),
            orbit_pass=text("orbit_pass"),
            s2_dates_pre=_split(attrs.get("s2_dates_pre")),
            s2_dates_post=_split(attrs.get("s2_dates_post")),
            s1_dates_pre=_split(attrs.get("s1_dates_pre")),
            s1_dates_post=_split(attrs.get("s1_dates_post")),
            status=text("status"),
            extra={str(k): str(v) for k, v in attrs.items() if k not in STACK_ATTRS},
        )

    def dates(self, sensor: SensorKey, period: Period) -> tuple[date, ...]:
        """The acquisition dates ``sensor`` (``"s1"``/``"s2"``) used in the ``period`` window."""
        raw: tuple[str, ...] = getattr(self, f"{sensor}_dates_{period}")
        return tuple(date.fromisoformat(d) for d in raw)
