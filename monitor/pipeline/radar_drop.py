"""Forest backscatter drop: the radar sign of a forest that slid, tested per object.

A forest scatters Sentinel-1's signal from its volume (crowns, stems), most strongly in the
cross-polarised VH channel; once it slides, the bare ground left behind scatters from its
surface, and VH falls by a few dB. The ensemble's radar members learnt mostly the opposite sign
(rough debris that brightens), and a fall of 2 dB is about one standard deviation of a single
scene's speckle per pixel (:func:`models.change_statistics.db_sigma`): per pixel it is noise,
summed over a slide's hundreds of pixels it is many standard errors. This module tests it
where it can be told, under tree cover, as an object:

1. per pixel, the VH log-ratio statistic of the post image against the baseline,
   ``z = dVH / (sigma_dB * sqrt(1/n + 1/m))`` (:func:`models.change_statistics.log_ratio_z`,
   standard normal on unchanged ground, ``n``/``m`` the scenes of each mean), minus the mean
   of its surroundings (a :data:`BACKGROUND_PX`-pixel window outside its central 11 x 11):
   soil moisture, a wet or leafless canopy and wet snow change whole slopes, and cancel; a slide
   stands out of its slope;
2. the sum of that over a moving window of :data:`WINDOW_PX` pixels, over the square root of
   the summed cell sizes: speckle is correlated within a resolution cell, :data:`CELL_PIXELS`
   pixels of 10 m in IW GRD's 20 m x 22 m cell, more on slopes facing the sensor
   (:func:`cell_pixels`), so a window of ``k`` pixels holds about ``k / CELL_PIXELS``
   independent samples. The scaled window mean is standard normal on unchanged ground;
3. pixels that fell (their own value below 0 and their scaled 3 x 3 mean below ``-``
   :data:`GROW_Z`) and whose scaled window mean falls below ``-`` :data:`WINDOW_Z` (one-sided
   0.13 %), under trees (:data:`CANOPY_MIN_M`, the height in the FAO definition of forest), on
   sloping ground (:data:`MIN_SLOPE_DEG`) and outside layover and radar shadow, are the cores
   of drops; each core grows by the window's half-width over the eligible pixels that fell;
4. a grown object is a drop when its mean ``z`` lies below the mean over its ring (the eligible
   pixels 2 to :data:`RING_PX` pixels, 20 to 100 m, around it) by :data:`OBJECT_Z` standard
   errors of that difference (resolution cells counted), and its VV did not rise clearly
   against its ring (:data:`VV_RISE_Z`: flooding under a canopy lowers VH but brightens VV,
   trunk-water double bounce). The cores were picked on the same data, so the contrast of a
   speckle object is not standard normal: :data:`OBJECT_Z` is set from simulated unchanged
   speckle (``bench/bench_radar_drop_null.py``), not from the normal tail.

The statistic is that of means in dB of independent scenes: the test runs on monitoring
composites (the stack's ``compositing`` attribute), not on event-mode medians or stacks from
files in the Ganerød et al. layout, which do not say how they were composited. Its null model
is speckle alone; real forests also vary from scene to scene (moisture, wind), which the
comparison with the surroundings cancels only where it covers whole slopes.

What it returns (:func:`radar_drops`) is a mask. :func:`monitor.pipeline.setting.predict` adds
the drops whose view is radar's (the whole region under the ``S1`` setting, the radar
fallback's pixels, or an optical view older than the radar post image's scenes) as
detections, marked ``radar_drop``: where the optical view is newer, the ensemble's optical
members judge the change, and leaves turning in autumn lower VH as well.
:func:`monitor.pipeline.vectorise.vectorise` adds those that do not touch a detection of the
ensemble. A clear-cut, a windthrow or wet snow on the canopy lowers VH too: the object filter
and the second look (persistence) are what tell those apart, as for every other detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from models.change_statistics import IW_GRD_ENL, compositing_mode, log_ratio_z
from models.feature_stack import PIXEL_SIZE_M
from monitor.pipeline.object_pixels import ObjectPixels

__all__ = [
    "BACKGROUND_PX",
    "CANOPY_MIN_M",
    "CELL_PIXELS",
    "GROW_Z",
    "IW_MID_INCIDENCE_DEG",
    "MIN_SLOPE_DEG",
    "OBJECT_Z",
    "RADAR_MEANS",
    "RING_PX",
    "VV_RISE_Z",
    "WINDOW_PX",
    "WINDOW_Z",
    "DropCandidates",
    "cell_pixels",
    "drop_candidates",
    "drop_statistic",
    "monitoring_means",
    "radar_drops",
    "ring_contrast",
    "ring_zone",
]

# Trees at least 5 m tall: the height threshold of the FAO (Forest Resources Assessment)
# definition of forest. Below it, the ground's own scattering dominates and a slide need not
# lower VH.
CANOPY_MIN_M = 5.0
# Sloping ground, as the trigger's vegetation test defines it (min_slope_deg of
# monitor.pipeline.trigger.TriggerSettings): a flooded lake shore or a clear-cut on the valley
# floor lowers VH on flat ground.
MIN_SLOPE_DEG = 10.0
# Pixels per independent speckle sample: IW GRD high resolution is about 20 m x 22 m (ESA,
# Sentinel-1 Product Definition) sampled at 10 m.
CELL_PIXELS = 20.0 * 22.0 / PIXEL_SIZE_M**2
# Ground-range resolution is the slant-range one over the sine of the local incidence angle: on a
# slope facing the sensor a resolution cell covers more pixels. Relative to the middle of the IW
# swath (29.1-46.0 degrees), a pixel at local incidence theta counts
# CELL_PIXELS * sin(37.5) / sin(theta) pixels per cell, never fewer than CELL_PIXELS.
IW_MID_INCIDENCE_DEG = 37.5
# Side of the moving window (pixels): 7 x 7 pixels = 0.49 ha, about 11 independent samples.
WINDOW_PX = 7
# Threshold of the scaled window means: 0.13 % of unchanged windows fall below -3 (one-sided).
WINDOW_Z = 3.0
# Threshold of an object against its ring. The cores were selected on the same data, so the
# contrast of a speckle object is far from standard normal. On simulated unchanged speckle
# (bench/bench_radar_drop_null.py: 2 x 2-pixel correlated gamma of 4.4 looks), objects of 9
# pixels or more reached -5 at 3.6 per 100 km², -6 at 0.11 and -6.5 at 0.03 in 10 800 km² (a
# post image of 2 scenes against 8); with 1 against 5, -6.5 at 0.06 per 100 km² (3 600 km²).
OBJECT_Z = 6.5
# A significant VV rise against the ring (standard errors) marks flooding under a canopy, which
# lowers VH but brightens VV (trunk-water double bounce); after forest loss VV may rise a little
# too (wet bare soil, rough debris), so only a clear rise rules a drop out.
VV_RISE_Z = 3.0
# The surroundings a pixel is compared with: a window of 31 x 31 pixels (310 m) outside its
# central 11 x 11, and an object with the pixels 20 to 100 m around it.
BACKGROUND_PX = 31
RING_PX = 10
# A core grows over the neighbours that fell (below their surroundings) and whose 3 x 3 window
# mean, scaled as the 7 x 7 one, fell by one standard deviation.
GROW_Z = 1.0


def monitoring_means(stack: xr.Dataset) -> bool:
    """Whether the stack's radar composites are monitoring means in dB of independent scenes
    (its ``compositing`` attribute), the statistic this module and the second look's two looks
    (:func:`monitor.pipeline.dating.two_looks`) describe: not an event-mode median, nor a file
    that does not say."""
    return compositing_mode(str(stack.attrs.get("compositing", ""))) == "monitoring"


def drop_statistic(stack: xr.Dataset, enl: float = IW_GRD_ENL, pol: str = "VH") -> np.ndarray:
    """Per-pixel log-ratio statistic of the post image against the baseline in ``pol`` (standard
    normal on unchanged ground; NaN without both means). The scene counts are the stack's
    ``s1_count_post``/``s1_count_pre``."""
    return np.asarray(
        log_ratio_z(
            stack[f"post{pol}"].values,
            stack["s1_count_post"].values,
            stack[f"pre{pol}"].values,
            stack["s1_count_pre"].values,
            enl,
        ),
        np.float64,
    )


def cell_pixels(stack: xr.Dataset) -> np.ndarray:
    """Per pixel, the pixels of one independent speckle sample (see :data:`CELL_PIXELS` and
    :data:`IW_MID_INCIDENCE_DEG`; the nominal figure where the local incidence is unknown).
    ``liaDeg`` is the mean local incidence of the tracks, while the post image averages their
    scenes: on a slope steep towards one track and away from the other, the cell at the mean
    angle is smaller than the mean of the tracks' cells, and the statistic is too confident
    there (up to about 1.4 times in its spread for angles of 12 and 62 degrees). A per-track
    band would mend it; the stack has none. A stack without ``liaDeg`` gets the nominal
    figure everywhere."""
    if "liaDeg" not in stack:
        return np.full((stack.sizes["y"], stack.sizes["x"]), float(CELL_PIXELS))
    lia = np.asarray(stack["liaDeg"].values, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        stretch = np.sin(np.radians(IW_MID_INCIDENCE_DEG)) / np.sin(np.radians(lia))
    stretch = np.where(np.isfinite(stretch) & (lia > 0), np.maximum(stretch, 1.0), 1.0)
    return np.asarray(CELL_PIXELS * stretch)


def _window_z(
    z: np.ndarray, eligible: np.ndarray, size: int, cells: np.ndarray | float = CELL_PIXELS
) -> np.ndarray:
    """The sum of ``z`` over the eligible pixels of a ``size`` x ``size`` window over the square
    root of the pixels' cell sizes summed (``cells``): the window mean scaled by the square root
    of the independent samples in it, standard normal on unchanged ground (NaN where the window
    holds less than one resolution cell)."""
    area = float(size * size)
    weights = np.where(eligible, np.broadcast_to(cells, z.shape), 0.0).astype(np.float64)
    values = np.where(eligible, z, 0.0).astype(np.float64)
    count = ndimage.uniform_filter(eligible.astype(np.float64), size, mode="constant") * area
    total = ndimage.uniform_filter(values, size, mode="constant") * area
    spread = ndimage.uniform_filter(weights, size, mode="constant") * area
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = total / np.sqrt(spread)
    return np.where(count >= CELL_PIXELS, scaled, np.nan)


def _local(z: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``z`` minus the mean of its surroundings: the eligible pixels of a
    :data:`BACKGROUND_PX`-pixel window outside its central :data:`WINDOW_PX` + 4 pixels. A
    change that covers the surroundings too (soil moisture, a wet or leafless canopy, wet
    snow) cancels; a slide that stands out of its slope remains."""
    values = np.where(eligible, z, 0.0).astype(np.float64)
    weight = eligible.astype(np.float64)
    inner = WINDOW_PX + 4
    big_n = ndimage.uniform_filter(weight, BACKGROUND_PX, mode="constant") * BACKGROUND_PX**2
    big_s = ndimage.uniform_filter(values, BACKGROUND_PX, mode="constant") * BACKGROUND_PX**2
    small_n = ndimage.uniform_filter(weight, inner, mode="constant") * inner**2
    small_s = ndimage.uniform_filter(values, inner, mode="constant") * inner**2
    count = big_n - small_n
    with np.errstate(invalid="ignore", divide="ignore"):
        background = (big_s - small_s) / count
    return np.where(count >= 0.25 * (BACKGROUND_PX**2 - inner**2), z - background, np.nan)


def ring_zone(labels: np.ndarray) -> np.ndarray:
    """The rings of the labelled objects: each pixel 2 to :data:`RING_PX` pixels from an object
    and in none gets the label of its nearest object, every other pixel 0. One distance
    transform of the raster, shared by every statistic tested against the same objects."""
    distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    around = (distance >= 2) & (distance <= RING_PX) & (labels == 0)
    return np.where(around, labels[rows, cols], 0)


def ring_contrast(
    z: np.ndarray,
    eligible: np.ndarray,
    labels: np.ndarray,
    index: np.ndarray,
    cells: np.ndarray,
    zone: np.ndarray | None = None,
) -> np.ndarray:
    """Per object: its mean ``z`` minus the mean over its ring (the eligible pixels of its
    :func:`ring_zone`, ``zone`` where already computed), in standard errors of that
    difference: the variance of a mean of ``n`` pixels is the sum of their cell sizes
    (``cells``) over ``n`` squared."""
    zone = ring_zone(labels) if zone is None else zone
    finite = np.isfinite(z)
    ring = eligible & finite

    def sums(objects: ObjectPixels, mask: np.ndarray) -> tuple[np.ndarray, ...]:
        return objects.count(mask), objects.sum(z, mask), objects.sum(cells, mask)

    obj_n, obj_s, obj_c = sums(ObjectPixels(labels, index), finite)
    ring_n, ring_s, ring_c = sums(ObjectPixels(zone, index), ring)
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = obj_s / obj_n - ring_s / ring_n
        error = np.sqrt(obj_c / obj_n**2 + ring_c / ring_n**2)
        t = difference / error
    return np.where((obj_n > 0) & (ring_n >= CELL_PIXELS), t, np.nan)


@dataclass(frozen=True)
class DropCandidates:
    """The objects the test grows before its cut: ``labels`` (0 outside them), and per object
    (label 1, 2, ...) its ``pixels``, its VH ``contrast`` against its ring and its VV one, in
    standard errors."""

    labels: np.ndarray
    pixels: np.ndarray
    contrast: np.ndarray
    vv_contrast: np.ndarray


def drop_candidates(stack: xr.Dataset, enl: float = IW_GRD_ENL) -> DropCandidates | None:
    """Steps 1 to 4 of the module up to the object test (None where no core falls, or for a
    stack the test does not read: see :func:`radar_drops`)."""
    if not monitoring_means(stack) or not all(name in stack for name in _NEEDED):
        return None
    z = drop_statistic(stack, enl)
    with np.errstate(invalid="ignore"):
        eligible = (
            np.isfinite(z)
            & (stack["canopy_height"].values >= CANOPY_MIN_M)
            & (stack["slope"].values >= MIN_SLOPE_DEG)
            & ~(stack["layover"].values > 0)
            & ~(stack["shadow"].values > 0)
        )
    if not eligible.any():
        return None
    cells = cell_pixels(stack)
    local = _local(z, eligible)
    eligible &= np.isfinite(local)
    with np.errstate(invalid="ignore"):
        fell = eligible & (local < 0.0) & (_window_z(local, eligible, 3, cells) <= -GROW_Z)
        cores = fell & (_window_z(local, eligible, WINDOW_PX, cells) <= -WINDOW_Z)
    if not cores.any():
        return None
    grown = ndimage.binary_dilation(cores, np.ones((WINDOW_PX, WINDOW_PX), bool)) & fell
    grown |= cores
    labels, n = ndimage.label(grown, structure=np.ones((3, 3), bool))
    index = np.arange(1, n + 1)
    vv = drop_statistic(stack, enl, "VV")
    zone = ring_zone(labels)
    return DropCandidates(
        labels,
        ObjectPixels(labels, index).count(grown),
        ring_contrast(z, eligible, labels, index, cells, zone),
        ring_contrast(vv, eligible & np.isfinite(vv), labels, index, cells, zone),
    )


def radar_drops(stack: xr.Dataset, enl: float = IW_GRD_ENL) -> np.ndarray:
    """Boolean (H, W) mask of the objects whose VH fell under trees (see the module). All False
    for a stack without the bands it reads, and for one whose radar composites are not
    monitoring means (the stack's ``compositing`` attribute: an event-mode median, whose spread
    the statistic does not describe, or a file that does not say)."""
    found = drop_candidates(stack, enl)
    if found is None:
        return np.zeros((stack.sizes["y"], stack.sizes["x"]), bool)
    with np.errstate(invalid="ignore"):
        drop = (found.contrast <= -OBJECT_Z) & ~(found.vv_contrast >= VV_RISE_Z)
    return np.asarray(np.concatenate([[False], drop])[found.labels])


# The radar means and counts the statistic reads (two looks read them too), then the rest.
RADAR_MEANS = ("preVV", "postVV", "preVH", "postVH", "s1_count_pre", "s1_count_post", "liaDeg")
_NEEDED = (*RADAR_MEANS, "canopy_height", "slope", "layover", "shadow")
