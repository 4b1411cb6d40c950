"""Local compositing with the semantics of the Earth Engine scripts (Ganerød et al., section 2.2):

- Sentinel-2: cloud mask from the cloud probability (``MSK_CLDPRB`` / s2cloudless) above a
  threshold; cloud-shadow mask as in the Earth Engine s2cloudless tutorial (dark NIR pixels that
  are not water, inside the cloud mask projected away from the sun over ``shadow_distance_m``);
  both buffered; NDVI per acquisition; greenest-pixel composite (per-pixel quality mosaic on the
  maximum NDVI among clear observations, every band taken from that observation). For daily
  monitoring, the latest-clear composite: the quality mosaic on the acquisition date, so a scar
  shows at the first clear look after it (:func:`latest_clear`).
- Sentinel-1: angular-based radiometric terrain flattening per scene (Vollrath et al. 2020,
  :mod:`monitor.sources.terrain_flattening`), layover and shadow masked, then the per-pixel median
  in dB over the window; for monitoring, the mean in dB of the scenes used (the statistic that
  compares it with the baseline is ``models.change_statistics.log_ratio_z``).
- Event dating per pixel (:func:`change_dates`): the last observation that does not show the
  change and the first that does.

All functions take whole arrays with time first and are vectorised; NaN marks "no valid data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from gee_scripts.settings import CloudMaskSettings
from models.change_statistics import SELF_SHADOW_COS_I
from models.feature_stack import PIXEL_SIZE_M, S2_DN_PER_REFLECTANCE

__all__ = [
    "ChangeDates",
    "CloudMaskParams",
    "GreenestComposite",
    "change_dates",
    "clear_days",
    "cloud_shadow_mask",
    "greenest_pixel",
    "latest_clear",
    "nan_mean",
    "nan_median",
    "ndvi",
    "observed",
    "quality_pick",
    "self_shadowed",
]

# Band order of the stored Sentinel-2 reflectance (S2_SR_HARMONIZED names).
B2, B3, B4, B8, B11, B12 = range(6)


# The Earth Engine source's s2cloudless defaults (gee_scripts.settings.CloudMaskSettings), which
# the archive's mask mirrors: one set of numbers for both sources.
_EE_MASK = CloudMaskSettings()


@dataclass(frozen=True)
class CloudMaskParams:
    """Defaults of the Earth Engine s2cloudless tutorial (CLD_PRB_THRESH, NIR_DRK_THRESH,
    CLD_PRJ_DIST, BUFFER), as the Earth Engine source's ``s2cloudless`` method has them."""

    cloud_probability: float = float(_EE_MASK.cloud_probability)  # percent; above it, cloud
    dark_nir: float = _EE_MASK.dark_nir_threshold  # reflectance; darker NIR may be shadow
    shadow_distance_m: float = _EE_MASK.shadow_projection_m  # how far a shadow is searched
    buffer_m: float = _EE_MASK.cloud_buffer_m  # dilation of the final cloud+shadow mask
    res: float = PIXEL_SIZE_M  # the archive's pixel (monitor.grid.region_grid's default)


def observed(reflectance: np.ndarray) -> np.ndarray:
    """Boolean, the band axis (-3) of digital numbers reduced: True where a pixel holds data
    in some band. DN 0 in every band is no data (S2_SR's), a pixel outside the scene's
    footprint: not observed, whatever its cloud probability."""
    return np.asarray(reflectance.any(axis=-3))


def _shift(mask: np.ndarray, d_row: int, d_col: int) -> np.ndarray:
    """``mask`` translated by (rows, cols), zero-filled (no wrap-around)."""
    out = np.zeros_like(mask)
    h, w = mask.shape[-2:]
    if abs(d_row) >= h or abs(d_col) >= w:
        return out
    src_r = slice(max(0, -d_row), h - max(0, d_row))
    dst_r = slice(max(0, d_row), h - max(0, -d_row))
    src_c = slice(max(0, -d_col), w - max(0, d_col))
    dst_c = slice(max(0, d_col), w - max(0, -d_col))
    out[..., dst_r, dst_c] = mask[..., src_r, src_c]
    return out


def cloud_shadow_mask(
    reflectance: np.ndarray,
    cloud_probability: np.ndarray,
    sun_azimuth_deg: np.ndarray,
    water: np.ndarray | None = None,
    params: CloudMaskParams | None = None,
) -> np.ndarray:
    """Boolean ``(T, H, W)``: True where an observation is cloud or cloud shadow (buffered).

    ``reflectance`` is ``(T, 6, H, W)`` digital numbers (reflectance x 10000), ``cloud_probability``
    ``(T, H, W)`` percent, ``sun_azimuth_deg`` ``(T,)``, ``water`` an optional ``(H, W)`` mask that
    is never taken for shadow. A pixel not :func:`observed` is no cloud (it casts no shadow and
    is not buffered over its observed neighbours), as Earth Engine masks the probability band
    outside a scene's footprint."""
    p = params or CloudMaskParams()
    cloud = (cloud_probability > p.cloud_probability) & observed(reflectance)
    dark = reflectance[:, B8] < p.dark_nir * S2_DN_PER_REFLECTANCE
    if water is not None:
        dark &= ~water
    # project the clouds away from the sun on a coarse (100 m) grid, as the tutorial does
    block = 10
    t, h, w = cloud.shape
    hc, wc = -(-h // block), -(-w // block)
    padded = np.zeros((t, hc * block, wc * block), bool)
    padded[:, :h, :w] = cloud
    coarse = np.asarray(padded.reshape(t, hc, block, wc, block).any(axis=(2, 4)))
    steps = max(1, round(p.shadow_distance_m / (block * p.res)))
    projected = np.zeros_like(coarse)
    for i in range(t):
        az = np.radians(float(sun_azimuth_deg[i]) + 180.0)  # shadows fall away from the sun
        acc = coarse[i].copy()
        for k in range(1, steps + 1):
            acc |= _shift(coarse[i], round(-np.cos(az) * k), round(np.sin(az) * k))
        projected[i] = acc
    projected_full = projected.repeat(block, axis=1).repeat(block, axis=2)[:, :h, :w]
    masked = cloud | (dark & projected_full)
    radius = round(p.buffer_m / p.res)
    if radius > 0:
        structure = np.zeros((1, 2 * radius + 1, 2 * radius + 1), bool)
        yy, xx = np.ogrid[-radius : radius + 1, -radius : radius + 1]
        structure[0] = yy * yy + xx * xx <= radius * radius
        masked = ndimage.binary_dilation(masked, structure=structure)
    return masked


def self_shadowed(
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
    sun_zenith_deg: np.ndarray,
    sun_azimuth_deg: np.ndarray,
) -> np.ndarray:
    """Boolean ``(T, H, W)``: True where the sun of each observation (``(T,)`` zenith and
    azimuth, degrees, azimuth clockwise from north as the aspect) stands below the plane of
    the ground (``(H, W)`` slope and aspect, degrees): the cosine of the solar incidence angle
    on the slope, cos z cos s + sin z sin s cos(φ - a), under
    :data:`~models.change_statistics.SELF_SHADOW_COS_I`. An observation whose angles are not
    known (NaN) is taken as lit."""
    slope = np.radians(np.asarray(slope_deg, np.float32))
    aspect = np.radians(np.asarray(aspect_deg, np.float32))
    # cos(φ - a) = cos φ cos a + sin φ sin a: the ground's terms once, a scene's as scalars
    flat, north, east = (
        np.cos(slope),
        np.sin(slope) * np.cos(aspect),
        np.sin(slope) * np.sin(aspect),
    )
    steepest = float(np.nanmax(slope, initial=0.0))
    zeniths = np.radians(np.asarray(sun_zenith_deg, np.float64)).ravel()
    azimuths = np.radians(np.asarray(sun_azimuth_deg, np.float64)).ravel()
    out = np.zeros((len(zeniths), *flat.shape), bool)
    for i, (zen, az) in enumerate(zip(zeniths.tolist(), azimuths.tolist(), strict=True)):
        # cos i >= cos(zenith + slope) > 0 where the two stay under 90°: a summer sun leaves no
        # slope of the window in self-shadow, and its scene costs nothing (the trigonometry of
        # every pixel and scene once cost a sixth of a 1000 x 1000 px composite of 18 scenes)
        if not zen + steepest >= math.pi / 2:  # NaN angles too: lit
            continue
        cos_i = north * math.cos(az)
        cos_i += east * math.sin(az)
        cos_i *= math.sin(zen)
        cos_i += flat * math.cos(zen)
        out[i] = cos_i < SELF_SHADOW_COS_I  # NaN (slope unknown): lit
    return out


def ndvi(reflectance: np.ndarray) -> np.ndarray:
    """``(B8 - B4) / (B8 + B4)`` over the band axis (-3) of digital numbers; float32."""
    nir = reflectance[..., B8, :, :].astype(np.float32)
    red = reflectance[..., B4, :, :].astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (nir - red) / (nir + red)


@dataclass(frozen=True)
class GreenestComposite:
    reflectance: np.ndarray  # float32 (6, H, W), reflectance 0..1, NaN where no clear observation
    ndvi: np.ndarray  # float32 (H, W), NaN where no clear observation
    clear_count: np.ndarray  # int32 (H, W), clear observations in the window
    chosen: np.ndarray  # int32 (H, W) index of the chosen observation, -1 where none


def quality_pick(
    values: np.ndarray, usable: np.ndarray, score: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, every band of ``values`` (``(T, B, H, W)``) from the ``usable`` observation
    (``(T, H, W)``) with the highest ``score`` (``(T, H, W)``; ties go to the first), as
    ``ee.ImageCollection.qualityMosaic`` does: float32 ``(B, H, W)``, NaN where no observation
    is usable, and the chosen index (int32, -1 where none)."""
    t, b, h, w = values.shape
    if t == 0:
        return np.full((b, h, w), np.nan, np.float32), np.full((h, w), -1, np.int32)
    ranked = np.where(usable, score, -np.inf)
    chosen = np.argmax(ranked, axis=0).astype(np.int32)
    none = ~usable.any(axis=0)
    picked = np.take_along_axis(values, chosen[None, None], axis=0)[0].astype(np.float32)
    picked[:, none] = np.nan
    chosen[none] = -1
    return picked, chosen


def _quality_mosaic(
    reflectance: np.ndarray, unusable: np.ndarray, vi: np.ndarray, score: np.ndarray
) -> GreenestComposite:
    """Per pixel, every band of the usable observation with the highest ``score`` (``(T, H, W)``;
    ties go to the first), as ``ee.ImageCollection.qualityMosaic`` does (:func:`quality_pick`);
    ``vi`` is the observations' :func:`ndvi`, its composite taken from the same observation."""
    usable = ~unusable & np.isfinite(vi)
    picked, chosen = quality_pick(reflectance, usable, score)
    none = chosen < 0
    if len(vi):
        best = np.take_along_axis(vi, np.where(none, 0, chosen)[None], axis=0)[0]
        best = best.astype(np.float32)
        best[none] = np.nan
    else:
        best = np.full(chosen.shape, np.nan, np.float32)
    return GreenestComposite(
        reflectance=picked / np.float32(S2_DN_PER_REFLECTANCE),
        ndvi=best,
        clear_count=usable.sum(axis=0, dtype=np.int32),
        chosen=chosen,
    )


def greenest_pixel(
    reflectance: np.ndarray, unusable: np.ndarray, vi: np.ndarray | None = None
) -> GreenestComposite:
    """Quality mosaic on the maximum NDVI (``ee.ImageCollection.qualityMosaic('NDVI')``) over the
    observations not flagged in ``unusable`` (``(T, H, W)`` bool, e.g. cloud/shadow); ``vi``
    is the observations' :func:`ndvi` where the caller has it already."""
    vi = ndvi(reflectance) if vi is None else vi
    return _quality_mosaic(reflectance, unusable, vi, vi)


def latest_clear(
    reflectance: np.ndarray, unusable: np.ndarray, days: np.ndarray, vi: np.ndarray | None = None
) -> GreenestComposite:
    """The most recent usable observation per pixel: the quality mosaic on the acquisition day
    (``days``, ``(T,)`` days since 1970-01-01; ``qualityMosaic('day')`` in Earth Engine). A scar
    shows in it at the first clear look after it, where a greenest-pixel composite keeps the
    vegetation of the days before the event until its window starts after the event. ``vi``
    is the observations' :func:`ndvi` where the caller has it already."""
    t = reflectance.shape[0]
    score = np.broadcast_to(np.asarray(days, np.float64).reshape(t, 1, 1), unusable.shape)
    vi = ndvi(reflectance) if vi is None else vi
    return _quality_mosaic(reflectance, unusable, vi, score)


def clear_days(clear: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per pixel, the distinct days of ``days`` (``(T,)``) on which ``clear`` (``(T, H, W)``)
    holds for any observation: int32 ``(H, W)``. Two scenes of one day are the MGRS tiles of
    one datatake where they overlap (or one scene written twice), one look at the ground; Earth
    Engine counts the same (``gee_scripts.sentinel2.clear_count``: the distinct days)."""
    days = np.asarray(days)
    out = np.zeros(clear.shape[1:], np.int32)
    for day in np.unique(days):
        out += clear[days == day].any(axis=0)
    return out


def nan_median(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel median over axis 0 ignoring NaN, and the count of valid values (int32).
    NaN where no value is valid. Same result as ``np.nanmedian``, faster on short stacks."""
    t = stack.shape[0]
    valid = np.isfinite(stack)
    count = valid.sum(axis=0, dtype=np.int32)
    if t == 0:
        return np.full(stack.shape[1:], np.nan, np.float32), count
    ordered = np.sort(stack, axis=0)  # NaN sort last
    lo = np.clip((count - 1) // 2, 0, t - 1)
    hi = np.clip(count // 2, 0, t - 1)
    a = np.take_along_axis(ordered, lo[None], axis=0)[0]
    b = np.take_along_axis(ordered, hi[None], axis=0)[0]
    median = (0.5 * (a + b)).astype(np.float32)
    median[count == 0] = np.nan
    return median, count


def nan_mean(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel mean over axis 0 ignoring NaN, and the count of valid values (int32); NaN
    where no value is valid."""
    valid = np.isfinite(stack)
    count = valid.sum(axis=0, dtype=np.int32)
    total = np.where(valid, stack, 0.0).sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / count).astype(np.float32)
    mean[count == 0] = np.nan
    return mean, count


@dataclass(frozen=True)
class ChangeDates:
    """Per pixel, days since 1970-01-01 (float32, NaN unknown): the last observation that does
    not show the change (or the last one at all where none does) and the first one that does;
    and how many observations of the window show it (float32, 0 where none)."""

    last_unchanged: np.ndarray
    first_changed: np.ndarray
    changed_count: np.ndarray


def change_dates(
    days: np.ndarray,
    changed: np.ndarray,
    valid: np.ndarray,
    baseline_last: np.ndarray,
    repeats: np.ndarray | None = None,
) -> ChangeDates:
    """The event bracket per pixel from the window's observations (``days`` ``(T,)``,
    ``changed``/``valid`` ``(T, H, W)``): the first valid observation that shows the change, and
    the last valid one before it that does not; ``baseline_last`` (days, NaN where none) is the
    last valid observation of the baseline, the lower bound where no observation of the window
    precedes the change. ``changed_count`` counts the valid observations flagged in ``repeats``
    (``(T, H, W)``; default ``changed``)."""
    t = len(days)
    d = np.asarray(days, np.float64).reshape(t, 1, 1)
    hit = valid & changed
    first = np.where(hit, d, np.inf).min(axis=0, initial=np.inf)
    before = valid & ~changed & (d < first[None])
    last = np.where(before, d, -np.inf).max(axis=0, initial=-np.inf)
    last = np.fmax(last, np.nan_to_num(np.asarray(baseline_last, np.float64), nan=-np.inf))
    return ChangeDates(
        last_unchanged=np.where(np.isfinite(last), last, np.nan).astype(np.float32),
        first_changed=np.where(np.isfinite(first), first, np.nan).astype(np.float32),
        changed_count=(valid & (changed if repeats is None else repeats))
        .sum(axis=0)
        .astype(np.float32),
    )
