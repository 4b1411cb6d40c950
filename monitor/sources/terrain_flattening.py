"""Angular-based radiometric terrain flattening of Sentinel-1 backscatter (numpy).

Vollrath, Mullissa & Reiche (2020), *Angular-Based Radiometric Slope Correction for Sentinel-1 on
Google Earth Engine*, Remote Sensing 12(11):1867, https://doi.org/10.3390/rs12111867 — the
correction the Ganerød et al. stack applies to every scene before the median composite.

Geometry (their section 2.1), with the sign convention used throughout this module:

- ``theta_i``: ellipsoid incidence angle (the ``angle`` band of COPERNICUS/S1_GRD);
- ``look_azimuth``: azimuth of the radar look direction, from the sensor towards the ground,
  clockwise from north (ascending, right-looking: about 80°; descending: about 280°);
- ``alpha_s``, ``phi_s``: terrain slope and aspect (aspect = azimuth the slope faces, downhill);
- ``phi_r = (look_azimuth + 180°) - phi_s``: 0 when the slope faces the sensor;
- eq. 2, slope in range ``alpha_r = atan(tan(alpha_s) cos(phi_r))`` — positive on slopes that face
  the sensor (foreslopes), negative on backslopes;
- eq. 3, slope in azimuth ``alpha_az = atan(tan(alpha_s) sin(phi_r))``;
- eq. 4, local incidence angle ``theta_lia = acos(cos(alpha_az) cos(theta_i - alpha_r))``.

Slope correction factors (their section 2.2) relate the backscatter of the tilted surface to the
same target on flat ground, ``gamma0_observed = gamma0_flat * SCF`` with ``gamma0 = sigma0 /
cos(theta_i)``:

- volume model (Hoekman 1990): ``SCF = tan(90° - theta_i + alpha_r) / tan(90° - theta_i)``;
- surface model (Ulander 1996): ``SCF = cos(90° - theta_i) /
  (cos(alpha_az) cos(90° - theta_i + alpha_r))``.

Both are > 1 on foreslopes (brightened) and < 1 on backslopes; flattening divides by them.
Masks: layover where ``alpha_r >= theta_i`` (the foreslope is steeper than the incidence angle),
radar shadow where ``alpha_r <= -(90° - theta_i)`` (the backslope is steeper than the grazing
angle).

Everything here works on whole arrays; in dB the flattening of a scene is one addition of the
per-track correction map returned by :func:`flattening_correction_db`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from models.feature_stack import PIXEL_SIZE_M

__all__ = [
    "TERRAIN_MODELS",
    "TerrainModel",
    "TrackGeometry",
    "flattening_correction_db",
    "slope_aspect",
    "slope_correction_factor",
    "track_geometry",
]

TerrainModel = Literal["volume", "surface"]
TERRAIN_MODELS: tuple[TerrainModel, ...] = ("volume", "surface")


def slope_aspect(dem: np.ndarray, res: float) -> tuple[np.ndarray, np.ndarray]:
    """Slope (degrees, 0..90) and aspect (degrees clockwise from north, the downhill direction)
    of a north-up DEM with square pixels of ``res`` metres (central differences, as
    ``ee.Terrain``). Returns float32 arrays of the DEM's shape."""
    dem = np.asarray(dem, dtype=np.float32)
    d_row, d_col = np.gradient(dem, res)
    dz_east = d_col
    dz_north = -d_row  # rows run north to south
    slope = np.degrees(np.arctan(np.hypot(dz_east, dz_north)))
    aspect = np.degrees(np.arctan2(-dz_east, -dz_north)) % 360.0
    return slope.astype(np.float32), aspect.astype(np.float32)


def slope_correction_factor(
    model: TerrainModel,
    theta_i: np.ndarray,
    alpha_r: np.ndarray,
    alpha_az: np.ndarray,
) -> np.ndarray:
    """``gamma0_observed / gamma0_flat`` of Vollrath et al. (2020) section 2.2 (angles in
    radians). Layover/shadow pixels give meaningless (possibly negative) values: mask them."""
    grazing = np.pi / 2 - theta_i
    if model == "volume":
        return np.tan(grazing + alpha_r) / np.tan(grazing)
    if model == "surface":
        return np.cos(grazing) / (np.cos(alpha_az) * np.cos(grazing + alpha_r))
    raise ValueError(f"unknown terrain flattening model {model!r}; known: {TERRAIN_MODELS}")


@dataclass(frozen=True)
class TrackGeometry:
    """Per-pixel radar/terrain geometry of one orbit track over a DEM (float32 arrays unless
    :func:`track_geometry` was asked for another precision)."""

    theta_i_deg: np.ndarray
    alpha_r_deg: np.ndarray
    alpha_az_deg: np.ndarray
    lia_deg: np.ndarray
    layover: np.ndarray  # bool
    shadow: np.ndarray  # bool


def track_geometry(
    slope_deg: np.ndarray,
    aspect_deg: np.ndarray,
    theta_i_deg: np.ndarray | float,
    look_azimuth_deg: float,
    *,
    dtype: type[np.floating] = np.float32,
) -> TrackGeometry:
    """Eqs. 2-4 of Vollrath et al. (2020) and the layover/shadow masks for one track.

    The trigonometry runs in ``dtype``: float32 in the archive (memory and speed), float64 for
    references. Near grazing incidence the flattening correction is ill-conditioned (about
    4.3 dB per degree of error in ``alpha_r`` where the correction reaches 20 dB), so float32
    results differ between CPUs whose vectorised float32 sin/cos/arctan differ in the last bits."""
    alpha_s = np.radians(np.asarray(slope_deg, dtype=dtype))
    phi_r = np.radians((look_azimuth_deg + 180.0) - np.asarray(aspect_deg, dtype=dtype))
    theta_i = np.radians(np.broadcast_to(np.asarray(theta_i_deg, dtype), alpha_s.shape))
    tan_s = np.tan(alpha_s)
    alpha_r = np.arctan(tan_s * np.cos(phi_r))
    alpha_az = np.arctan(tan_s * np.sin(phi_r))
    lia = np.arccos(np.clip(np.cos(alpha_az) * np.cos(theta_i - alpha_r), -1.0, 1.0))
    layover = alpha_r >= theta_i
    shadow = alpha_r <= -(np.pi / 2 - theta_i)
    return TrackGeometry(
        theta_i_deg=np.degrees(theta_i).astype(dtype),
        alpha_r_deg=np.degrees(alpha_r).astype(dtype),
        alpha_az_deg=np.degrees(alpha_az).astype(dtype),
        lia_deg=np.degrees(lia).astype(dtype),
        layover=layover,
        shadow=shadow,
    )


def flattening_correction_db(
    geometry: TrackGeometry,
    model: TerrainModel | np.ndarray,
    *,
    buffer_m: float = 0.0,
    res: float = PIXEL_SIZE_M,
    dtype: type[np.floating] = np.float32,
) -> np.ndarray:
    """What to add to sigma0 in dB to get terrain-flattened gamma0 in dB:
    ``-10 log10(cos(theta_i) * SCF)``; NaN where layover or shadow, and within ``buffer_m`` of
    them (the optional additional buffer of Vollrath et al.'s implementation).

    ``model`` is one model for every pixel, or a boolean array that is True where the volume model
    applies and False where the surface model does (Ganerød et al. choose by land cover).
    The arithmetic runs in ``dtype`` (see :func:`track_geometry`)."""
    theta_i = np.radians(np.asarray(geometry.theta_i_deg, dtype))
    alpha_r = np.radians(np.asarray(geometry.alpha_r_deg, dtype))
    alpha_az = np.radians(np.asarray(geometry.alpha_az_deg, dtype))
    if isinstance(model, np.ndarray):
        volume = slope_correction_factor("volume", theta_i, alpha_r, alpha_az)
        surface = slope_correction_factor("surface", theta_i, alpha_r, alpha_az)
        scf = np.where(model, volume, surface)
    else:
        scf = slope_correction_factor(model, theta_i, alpha_r, alpha_az)
    invalid = geometry.layover | geometry.shadow | ~(scf > 0)
    if buffer_m > 0 and invalid.any():
        invalid = ndimage.distance_transform_edt(~invalid) * res <= buffer_m
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = -10.0 * np.log10(np.cos(theta_i) * scf)
    correction[invalid] = np.nan
    return correction.astype(dtype)
