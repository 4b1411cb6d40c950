"""From the ensemble's probability raster to candidate landslide polygons with attributes.

The probability is thresholded (the region's override, else the ensemble's calibrated threshold),
pixels that cannot be landslides (water, snow and ice, as the region's masks say) are removed,
and the remaining pixels are grouped into 8-connected objects. Each object becomes one polygon
(``rasterio.features.shapes``, simplified with shapely) with the attribute columns of
``docs/DESIGN.md``; objects smaller than the region's minimum area or lying on flat ground (mean
slope below the region's minimum) are dropped.

Water and snow are recognised two ways: the stack's ESA WorldCover ``landcover`` class
(:mod:`models.worldcover`: 80 permanent water bodies, 70 snow and ice), and what the post-event
optical composite shows, which catches reservoir levels that rose and fresh snow that the static
map does not know. The stack has no SWIR band for NDWI/NDSI, so the post-event test uses NDVI and
visible brightness (mean of the true-colour reflectances): water is dark with negative NDVI
(NDVI < 0, brightness < 0.1), snow is bright and unvegetated (brightness >= 0.3, NDVI <= 0.1); bare
landslide scars are neither (NDVI about 0.1-0.3, brightness about 0.1-0.2). Thin or partial fresh
snow and cloud residue are darker than that but, like all snow and cloud, spectrally flat across
the visible bands (the property behind Fmask's "whiteness" test), while soil and rock reflect more
red than blue: a pixel whose post-event blue reaches 0.9 of its red at a brightness of at least
0.12 is also excluded with the snow (on the demo, scars measure blue/red 0.6-0.7, snow fringes
0.9-1.0).

An object with more than half of its pixels on a land-cover class the region excludes
(``exclude_landcover``: ESA WorldCover codes, cropland or built-up where harvests and building
sites are the false alarms) is dropped whole; one mostly elsewhere is kept whole.

An object whose clear post-event pixels are densely vegetated on average (``max_post_ndvi``) is
dropped: a fresh scar is not green. This removes radar-only detections under pre-event clouds
that the post-event optical view contradicts. Pixels marked ``optical_stale`` by
:func:`monitor.pipeline.setting.predict` (a pixel whose last clear look predates the change
radar saw, or any pixel of a radar detection whose optical view is stale as an object, by the
object's medians) are left out of that mean: their post-event optical bands show the days
before the change, which cannot contradict it.

``area_m2`` is the object's pixel count times the pixel area, so simplification never changes
it; the pixel area is the grid's, in square units of its CRS, times ``area_scale`` where the
caller gives one (``detect --stack`` on a stack outside the UTM zone of its centre: the area in
that zone, as the inventory measures it), and the minimum area is compared with that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from rasterio import features
from scipy import ndimage
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from models.feature_stack import StackAttrs
from models.worldcover import SNOW_ICE, WATER, WORLDCOVER_CLASSES
from monitor.pipeline.dating import DATING_COLUMNS, object_dating
from monitor.pipeline.object_pixels import ObjectPixels
from monitor.pipeline.vegetation_loss import MIN_AREA_M2 as VEGETATION_LOSS_MIN_AREA_M2

__all__ = [
    "CANDIDATE_COLUMNS",
    "VectoriseRules",
    "bracketing_dates",
    "check_landcover_codes",
    "empty_candidates",
    "exclusion_mask",
    "vectorise",
]

# Post-event optical tests (see the module docstring).
WATER_MAX_NDVI = 0.0
WATER_MAX_BRIGHTNESS = 0.1
SNOW_MAX_NDVI = 0.1
SNOW_MIN_BRIGHTNESS = 0.3
FLAT_MIN_BLUE_RED = 0.9  # blue/red of a spectrally flat (snow, cloud) post-event pixel
FLAT_MIN_BRIGHTNESS = 0.12  # below it dense vegetation is flat too

# The attribute columns of a candidate (docs/DESIGN.md), in order; geometry comes last.
CANDIDATE_COLUMNS: tuple[str, ...] = (
    "region",
    "area_m2",
    "prob_mean",
    "prob_max",
    "agreement",
    "dNDVI_mean",
    "dVV_mean",
    "dVH_mean",
    "slope_mean",
    "setting",
    "pre_date",
    "post_date",
    *DATING_COLUMNS,
)

_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
# The setting recorded for an object found mostly by the forest backscatter-drop test
# (monitor.pipeline.radar_drop): the sensor that saw it.
RADAR_DROP_SETTING = "S1"
# ... and by the large vegetation-loss net (monitor.pipeline.vegetation_loss)
VEGETATION_LOSS_SETTING = "S2"


@dataclass(frozen=True)
class VectoriseRules:
    """What a region accepts as a landslide.

    ``threshold`` overrides the ensemble's calibrated threshold when set. ``simplify_m`` is the
    Douglas-Peucker tolerance in metres (half a pixel by default keeps the outline within the
    pixels it came from while removing the staircase).
    """

    threshold: float | None = None
    min_area_m2: float = 900.0
    min_slope_deg: float = 0.0
    exclude_water: bool = True
    exclude_snow: bool = True
    max_post_ndvi: float | None = 0.6
    exclude_landcover: tuple[int, ...] = ()  # WorldCover codes: objects mostly on them dropped
    simplify_m: float = 5.0
    second_look: bool = True  # persistence (monitor.pipeline.dating); False: alert at once

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold {self.threshold} is not strictly between 0 and 1")
        if self.min_area_m2 < 0 or self.min_slope_deg < 0 or self.simplify_m < 0:
            raise ValueError("min_area_m2, min_slope_deg and simplify_m must not be negative")
        check_landcover_codes(self.exclude_landcover)


def check_landcover_codes(codes: Sequence[int]) -> None:
    """Refuse a code of ``exclude_landcover`` that is no ESA WorldCover class, naming it."""
    for code in codes:
        if code not in WORLDCOVER_CLASSES:
            known = ", ".join(f"{c} {name}" for c, name in WORLDCOVER_CLASSES.items())
            raise ValueError(
                f"exclude_landcover: {code} is no ESA WorldCover class (the classes: {known})"
            )


def exclusion_mask(stack: xr.Dataset, rules: VectoriseRules) -> np.ndarray:
    """Pixels that the rules exclude outright (water, snow and ice), as a boolean (H, W) array."""
    landcover = stack["landcover"].values
    excluded = np.zeros(landcover.shape, dtype=bool)
    post_ndvi = stack["postNDVI"].values
    if "post_rgb" in stack:
        red, _, blue = stack["post_rgb"].values
        brightness = stack["post_rgb"].values.mean(axis=0)
    else:
        red = blue = brightness = np.full(landcover.shape, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        if rules.exclude_water:
            excluded |= landcover == WATER
            excluded |= (post_ndvi < WATER_MAX_NDVI) & (brightness < WATER_MAX_BRIGHTNESS)
        if rules.exclude_snow:
            excluded |= landcover == SNOW_ICE
            excluded |= (post_ndvi <= SNOW_MAX_NDVI) & (brightness >= SNOW_MIN_BRIGHTNESS)
            excluded |= (blue >= FLAT_MIN_BLUE_RED * red) & (brightness >= FLAT_MIN_BRIGHTNESS)
    return excluded


def bracketing_dates(stack: xr.Dataset, setting: str) -> tuple[date | None, date | None]:
    """The last acquisition of the pre-event window and the first of the post-event window of
    the sensors ``setting`` uses: the windows' edges, not a bracket of the event (a monitoring
    window opens ``post_days`` before the run; :mod:`monitor.pipeline.dating` brackets it).
    ``None`` where the stack records no acquisition of those sensors."""
    sensors: list[Literal["s1", "s2"]] = []
    if setting != "S2":
        sensors.append("s1")
    if setting != "S1":
        sensors.append("s2")
    attrs = StackAttrs.of(stack)
    pre = [d for s in sensors for d in attrs.dates(s, "pre")]
    post = [d for s in sensors for d in attrs.dates(s, "post")]
    return (max(pre) if pre else None, min(post) if post else None)


def empty_candidates(crs: object) -> gpd.GeoDataFrame:
    """A candidates frame with no rows and the right columns."""
    frame = pd.DataFrame({c: pd.Series(dtype=_COLUMN_DTYPES[c]) for c in CANDIDATE_COLUMNS})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


_COLUMN_DTYPES: dict[str, str] = {
    "region": "object",
    "area_m2": "float64",
    "prob_mean": "float64",
    "prob_max": "float64",
    "agreement": "float64",
    "dNDVI_mean": "float64",
    "dVV_mean": "float64",
    "dVH_mean": "float64",
    "slope_mean": "float64",
    "setting": "object",
    "pre_date": "object",
    "post_date": "object",
    **dict.fromkeys(DATING_COLUMNS, "object"),
}


def _object_means(values: np.ndarray, objects: ObjectPixels) -> np.ndarray:
    """Mean of the finite ``values`` inside each object (NaN where none is finite)."""
    finite = np.isfinite(values)
    sums = objects.sum(values, finite)
    counts = objects.count(finite)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


# The fallbacks of monitor.pipeline.setting.predict: each the name of the prediction's mask
# variable and the prefix of its attributes (``<name>_setting``, ``<name>_threshold``).
_FALLBACKS: tuple[str, ...] = ("fallback", "optical_fallback")


def _of_min_size(mask: np.ndarray, min_pixels: float) -> np.ndarray:
    """The 8-connected objects of ``mask`` of at least ``min_pixels`` (and one) pixels."""
    found, m = ndimage.label(mask, structure=_EIGHT_CONNECTED)
    if not m:
        return np.zeros(mask.shape, bool)
    sizes = np.concatenate([[0], ObjectPixels(found, np.arange(1, m + 1)).count()])
    return np.asarray(sizes[found] >= max(min_pixels, 1.0))


def _untouched(
    found: np.ndarray, detected: np.ndarray, min_pixels: float, least: float = 1.0
) -> np.ndarray:
    """The objects (8-connected) of a test's mask ``found`` (the forest backscatter drop, the
    large vegetation loss) of at least ``least`` pixels that neither overlap nor border a
    detection of the probability of at least ``min_pixels``: the test adds what the ensemble
    missed, and leaves the outline, setting and dating of the ensemble's own detections as they
    are (an object that touches only a few stray pixels above the threshold, below the minimum
    area, takes them in; where the ensemble saw part of a scar, that part is the candidate)."""
    labels, n = ndimage.label(found, structure=_EIGHT_CONNECTED)
    if not n:
        return np.zeros(found.shape, bool)
    near = ndimage.binary_dilation(_of_min_size(detected, min_pixels), structure=_EIGHT_CONNECTED)
    dropped = np.unique(labels[near & (labels > 0)])
    if least > 1.0:
        sizes = ObjectPixels(labels, np.arange(1, n + 1)).count()
        dropped = np.union1d(dropped, np.flatnonzero(sizes < least) + 1)
    return np.asarray((labels > 0) & ~np.isin(labels, dropped))


def vectorise(
    prediction: xr.Dataset,
    stack: xr.Dataset,
    rules: VectoriseRules,
    *,
    area_scale: float = 1.0,
) -> gpd.GeoDataFrame:
    """Candidate landslides of one region as polygons in the grid's CRS.

    ``prediction`` is the ensemble's output on the stack's grid (``probability``, ``agreement``;
    attrs ``threshold`` and ``setting``). It may carry a boolean ``fallback`` variable marking
    pixels predicted with ``attrs["fallback_setting"]`` (radar only where the optical bands were
    cloudy), and ``optical_fallback`` marking pixels predicted with
    ``attrs["optical_fallback_setting"]`` (optical only where there was no radar observation);
    an object whose pixels are mostly such gets that setting. Each pixel is compared with the
    threshold calibrated for the setting that predicted it (``attrs["threshold"]``, or the
    fallback's ``..._threshold`` on its pixels), unless the region sets one for all. The objects
    of a boolean ``radar_drop`` variable (the forest backscatter-drop test,
    :mod:`monitor.pipeline.radar_drop`) that neither overlap nor border a detection of the
    minimum area are detected whatever their probability, with the setting ``S1``; so are the
    objects of a boolean ``vegetation_loss`` variable (:mod:`monitor.pipeline.vegetation_loss`)
    that neither overlap nor border a detection of the minimum area, with the setting ``S2``.
    ``area_scale`` is the square metres of the UTM zone the inventory measures in (that of
    the area's centre) that one square unit of the grid's CRS holds (1.0: a region's own UTM
    grid): ``area_m2`` and the minimum area are in those square metres.
    """
    crs = stack.rio.crs.to_string()  # "EPSG:326xx" where the CRS has an EPSG code
    probability = prediction["probability"].values.astype(np.float64)
    threshold: float | np.ndarray
    if rules.threshold is not None:
        threshold = float(rules.threshold)
    else:
        threshold = float(prediction.attrs["threshold"])
        for name in _FALLBACKS:
            if name in prediction and f"{name}_threshold" in prediction.attrs:
                own = float(prediction.attrs[f"{name}_threshold"])
                threshold = np.where(prediction[name].values, own, threshold)
    with np.errstate(invalid="ignore"):
        detected = probability >= threshold
    res_x, res_y = stack.rio.resolution()
    pixel_area = abs(res_x * res_y) * area_scale
    added = np.zeros(detected.shape, bool)
    if "radar_drop" in prediction:
        drops = prediction["radar_drop"].values.astype(bool)
        added = _untouched(drops, detected, rules.min_area_m2 / pixel_area)
        detected |= added
    excluded = exclusion_mask(stack, rules)
    detected &= ~excluded
    lost = np.zeros(detected.shape, bool)
    if "vegetation_loss" in prediction:
        # its hectare counted on what the exclusions (water, snow) leave, and so are the
        # detections it may touch
        losses = prediction["vegetation_loss"].values.astype(bool) & ~excluded
        least = max(rules.min_area_m2, VEGETATION_LOSS_MIN_AREA_M2) / pixel_area
        lost = _untouched(losses, detected, rules.min_area_m2 / pixel_area, least)
        detected |= lost
    labels, n_objects = ndimage.label(detected, structure=_EIGHT_CONNECTED)
    if n_objects == 0:
        return empty_candidates(crs)
    index = np.arange(1, n_objects + 1)
    objects = ObjectPixels(labels, index)

    pixels = objects.count()
    area = pixels * pixel_area
    slope = _object_means(stack["slope"].values.astype(np.float64), objects)
    keep = area >= rules.min_area_m2
    if rules.min_slope_deg > 0:
        keep &= np.nan_to_num(slope, nan=0.0) >= rules.min_slope_deg
    if rules.max_post_ndvi is not None:
        post = stack["postNDVI"].values.astype(np.float64)
        if "optical_stale" in prediction:
            post = np.where(prediction["optical_stale"].values, np.nan, post)
        post_ndvi = _object_means(post, objects)
        keep &= ~(post_ndvi > rules.max_post_ndvi)  # NaN (no clear view) keeps the object
    if rules.exclude_landcover:
        excluded = np.isin(stack["landcover"].values, rules.exclude_landcover)
        keep &= ~(_object_means(excluded.astype(np.float64), objects) > 0.5)
    if not keep.any():
        return empty_candidates(crs)

    setting = str(prediction.attrs["setting"])
    settings = np.full(n_objects, setting, dtype=object)
    for name in _FALLBACKS:
        if name in prediction:
            share = _object_means(prediction[name].values.astype(np.float64), objects)
            settings[share > 0.5] = str(prediction.attrs[f"{name}_setting"])
    for test, seen_by in ((added, RADAR_DROP_SETTING), (lost, VEGETATION_LOSS_SETTING)):
        if test.any():  # an object mostly a test's is recorded as seen by that test's sensor
            settings[_object_means(test.astype(np.float64), objects) > 0.5] = seen_by
    brackets = {s: bracketing_dates(stack, s) for s in set(settings)}

    columns = {
        "prob_mean": _object_means(probability, objects),
        "prob_max": objects.maximum(np.nan_to_num(probability, nan=0.0)),
        "agreement": _object_means(prediction["agreement"].values.astype(np.float64), objects),
        "dNDVI_mean": _object_means(stack["dNDVI"].values.astype(np.float64), objects),
        "dVV_mean": _object_means(stack["dVV"].values.astype(np.float64), objects),
        "dVH_mean": _object_means(stack["dVH"].values.astype(np.float64), objects),
    }

    kept_labels = index[keep]
    shapes_by_label: dict[int, list[BaseGeometry]] = {int(v): [] for v in kept_labels}
    kept_raster = np.where(np.isin(labels, kept_labels), labels, 0).astype(np.int32)
    for geom, value in features.shapes(
        kept_raster, mask=kept_raster > 0, connectivity=8, transform=stack.rio.transform()
    ):
        shapes_by_label[int(value)].append(shape(geom))
    geometries = [
        unary_union(shapes_by_label[int(v)]).simplify(rules.simplify_m, preserve_topology=True)
        for v in kept_labels
    ]

    region = StackAttrs.of(stack).region
    rows = {
        "region": [region] * len(kept_labels),
        "area_m2": area[keep],
        **{name: values[keep] for name, values in columns.items()},
        "slope_mean": slope[keep],
        "setting": list(settings[keep]),
        "pre_date": [brackets[s][0] for s in settings[keep]],
        "post_date": [brackets[s][1] for s in settings[keep]],
        **object_dating(stack, labels, kept_labels, second_look=rules.second_look),
    }
    frame = pd.DataFrame({c: rows[c] for c in CANDIDATE_COLUMNS})
    candidates = gpd.GeoDataFrame(frame, geometry=geometries, crs=crs)
    return candidates.sort_values("area_m2", ascending=False, ignore_index=True)
