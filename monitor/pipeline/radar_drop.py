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
2. the mean of that over a moving window of :data:`WINDOW_PX` pixels, scaled by the square root
   of the number of independent samples in the window: speckle is correlated within a
   resolution cell, :data:`CELL_PIXELS` pixels of 10 m in IW GRD's 20 m x 22 m cell, so a
   window of ``k`` pixels holds ``k / CELL_PIXELS`` of them. The scaled mean is standard
   normal on unchanged ground;
3. pixels that fell (their own value below 0 and their 3 x 3 mean below ``-`` :data:`GROW_Z`)
   and whose window mean falls below ``-`` :data:`WINDOW_Z` (one-sided 0.13 %), under trees
   (:data:`CANOPY_MIN_M`, the height in the FAO definition of forest), on sloping ground
   (:data:`MIN_SLOPE_DEG`) and outside layover and radar shadow, are the cores of drops; each
   core grows by the window's half-width over the eligible pixels that fell;
4. a grown object is a drop when its mean ``z`` lies below the mean over its ring (the eligible
   pixels 2 to :data:`RING_PX` pixels, 20 to 100 m, around it) by :data:`OBJECT_Z` standard
   errors of that difference (resolution cells counted), and its VV did not rise against its
   ring (flooding under a canopy lowers VH but brightens VV: trunk-water double bounce).

The statistic is that of means in dB of independent scenes: the test runs on monitoring
composites (the stack's ``compositing`` attribute), not on event-mode medians or stacks from
files in the Ganerød et al. layout, which do not say how they were composited.

What it returns (:func:`radar_drops`) is a mask. :func:`monitor.pipeline.setting.predict` adds
the drops that lie where the ensemble predicts from radar (the whole region under the ``S1``
setting, else the radar fallback's pixels: no clear or no current optical view) as detections,
marked ``radar_drop``: where the optical view is current, the ensemble's optical members judge
the change, and leaves turning in autumn lower VH as well. A clear-cut, a windthrow or wet snow
on the canopy lowers VH too: the object filter and the second look (persistence) are what tell
those apart, as for every other detection.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from models.change_statistics import IW_GRD_ENL, compositing_mode, log_ratio_z

__all__ = [
    "BACKGROUND_PX",
    "CANOPY_MIN_M",
    "CELL_PIXELS",
    "GROW_Z",
    "MIN_SLOPE_DEG",
    "OBJECT_Z",
    "RING_PX",
    "WINDOW_PX",
    "WINDOW_Z",
    "drop_statistic",
    "radar_drops",
]

# Trees at least 5 m tall: the height threshold of the FAO (Forest Resources Assessment)
# definition of forest. Below it, the ground's own scattering dominates and a slide need not
# lower VH.
CANOPY_MIN_M = 5.0
# Sloping ground, as the trigger's vegetation test defines it (monitor.config.TriggerSettings
# min_slope_deg): a flooded lake shore or a clear-cut on the valley floor lowers VH on flat ground.
MIN_SLOPE_DEG = 10.0
# Pixels of 10 m per independent speckle sample: IW GRD high resolution is about 20 m x 22 m
# (ESA, Sentinel-1 Product Definition) sampled at 10 m.
CELL_PIXELS = 20.0 * 22.0 / (10.0 * 10.0)
# Side of the moving window (pixels): 7 x 7 pixels = 0.49 ha, about 11 independent samples.
WINDOW_PX = 7
# One-sided thresholds of the scaled means: 0.13 % of unchanged windows fall below -3; an
# object is tested once more, against its ring, at 5 (3e-7), since cores are selected on the
# same data.
WINDOW_Z = 3.0
OBJECT_Z = 5.0
# The surroundings a pixel is compared with: a window of 31 x 31 pixels (310 m) outside its
# central 11 x 11, and an object with the pixels 20 to 100 m around it.
BACKGROUND_PX = 31
RING_PX = 10
# A core grows over the neighbours that fell and whose own 3 x 3 mean fell by one standard
# deviation (16 % of unchanged pixels: the growth follows the drop's outline, not the speckle
# around it, and stops at an edge instead of spilling a pixel beyond it).
GROW_Z = 1.0


def drop_statistic(stack: xr.Dataset, enl: float = IW_GRD_ENL) -> np.ndarray:
    """Per-pixel VH log-ratio statistic of the post image against the baseline (standard normal
    on unchanged ground; NaN without both means). The scene counts are the stack's
    ``s1_count_post``/``s1_count_pre``."""
    return log_ratio_z(
        stack["postVH"].values,
        stack["s1_count_post"].values,
        stack["preVH"].values,
        stack["s1_count_pre"].values,
        enl,
    )


def _window_z(z: np.ndarray, eligible: np.ndarray, size: int) -> np.ndarray:
    """The mean of ``z`` over the eligible pixels of a ``size`` x ``size`` window, scaled by the
    square root of the independent samples in it (NaN where the window holds fewer than one
    resolution cell)."""
    values = np.where(eligible, z, 0.0).astype(np.float64)
    count = ndimage.uniform_filter(eligible.astype(np.float64), size, mode="constant")
    total = ndimage.uniform_filter(values, size, mode="constant")
    pixels = count * size * size
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        scaled = mean * np.sqrt(pixels / CELL_PIXELS)
    return np.where(pixels >= CELL_PIXELS, scaled, np.nan)


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


def _ring_contrast(
    z: np.ndarray, eligible: np.ndarray, labels: np.ndarray, index: np.ndarray
) -> np.ndarray:
    """Per object: its mean ``z`` minus the mean over its ring (the eligible pixels 2 to
    :data:`RING_PX` pixels from it that belong to no object, each given to its nearest
    object), in standard errors of that difference (the resolution cell counted)."""
    distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
    owner = labels[rows, cols]
    ring = (distance >= 2) & (distance <= RING_PX) & eligible & (labels == 0) & np.isfinite(z)
    ring_labels = np.where(ring, owner, 0)
    inside = np.isfinite(z) & (labels > 0)
    obj_n = np.asarray(ndimage.sum_labels(inside, labels, index))
    obj_s = np.asarray(ndimage.sum_labels(np.where(inside, z, 0.0), labels, index))
    ring_n = np.asarray(ndimage.sum_labels(ring, ring_labels, index))
    ring_s = np.asarray(ndimage.sum_labels(np.where(ring, z, 0.0), ring_labels, index))
    with np.errstate(invalid="ignore", divide="ignore"):
        difference = obj_s / obj_n - ring_s / ring_n
        error = np.sqrt(CELL_PIXELS / obj_n + CELL_PIXELS / ring_n)
        t = difference / error
    return np.where((obj_n > 0) & (ring_n >= CELL_PIXELS), t, np.nan)


def radar_drops(
    stack: xr.Dataset,
    enl: float = IW_GRD_ENL,
    *,
    canopy_min_m: float = CANOPY_MIN_M,
    window_z: float = WINDOW_Z,
    object_z: float = OBJECT_Z,
) -> np.ndarray:
    """Boolean (H, W) mask of the objects whose VH fell under trees (see the module). All False
    for a stack without Sentinel-1 scene counts or canopy height, and for one whose radar
    composites are not monitoring means (the stack's ``compositing`` attribute: an event-mode
    median, whose spread the statistic does not describe, or a file that does not say)."""
    shape = (stack.sizes["y"], stack.sizes["x"])
    needed = ("preVH", "postVH", "s1_count_pre", "s1_count_post", "canopy_height")
    monitoring = compositing_mode(str(stack.attrs.get("compositing", ""))) == "monitoring"
    if not monitoring or not all(name in stack for name in needed):
        return np.zeros(shape, bool)
    z = drop_statistic(stack, enl).astype(np.float64)
    with np.errstate(invalid="ignore"):
        eligible = (
            np.isfinite(z)
            & (stack["canopy_height"].values >= canopy_min_m)
            & (stack["slope"].values >= MIN_SLOPE_DEG)
            & ~(stack["layover"].values > 0)
            & ~(stack["shadow"].values > 0)
        )
    if not eligible.any():
        return np.zeros(shape, bool)
    local = _local(z, eligible)
    eligible &= np.isfinite(local)
    with np.errstate(invalid="ignore"):
        fell = eligible & (local < 0.0) & (_window_z(local, eligible, 3) <= -GROW_Z)
        cores = fell & (_window_z(local, eligible, WINDOW_PX) <= -window_z)
    if not cores.any():
        return np.zeros(shape, bool)
    grown = ndimage.binary_dilation(cores, np.ones((WINDOW_PX, WINDOW_PX), bool)) & fell
    grown |= cores
    labels, n = ndimage.label(grown, structure=np.ones((3, 3), bool))
    index = np.arange(1, n + 1)
    contrast = _ring_contrast(z, eligible, labels, index)
    # VV must not rise: a forest that lost its volume scatterers is darker in both channels,
    # while flooding under a canopy lowers VH but brightens VV (trunk-water double bounce).
    vv = np.asarray(log_ratio_z(stack["postVV"].values, stack["s1_count_post"].values,
                                stack["preVV"].values, stack["s1_count_pre"].values, enl),
                    np.float64)  # fmt: skip
    vv_contrast = _ring_contrast(vv, eligible & np.isfinite(vv), labels, index)
    with np.errstate(invalid="ignore"):
        drop = (contrast <= -object_z) & ~(vv_contrast > 0.0)
    return np.asarray(np.concatenate([[False], drop])[labels])
