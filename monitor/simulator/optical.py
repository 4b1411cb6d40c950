"""Sentinel-2 L2A scenes: S2_SR_HARMONIZED digital numbers (reflectance x 10000) of B2, B3, B4,
B8, B11, B12 and the MSK_CLDPRB cloud-probability band, with terrain illumination, clouds
(spatially coherent, soft edges that the probability band under-reports), displaced cloud
shadows, haze and snow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from models.feature_stack import S2_DN_PER_REFLECTANCE
from monitor.simulator.noise import fractal_field
from monitor.simulator.surface import ENDMEMBERS, Surface

__all__ = ["S2Scene", "render_s2", "solar_position"]


# Reflectance spectra (B2, B3, B4, B8, B11, B12) of the endmembers, typical library values.
_GREEN_VEG = np.array([0.030, 0.060, 0.035, 0.340, 0.170, 0.080], np.float32)
_DRY_VEG = np.array([0.060, 0.085, 0.110, 0.240, 0.300, 0.220], np.float32)
_GROUND = {
    "soil": [0.090, 0.120, 0.160, 0.230, 0.320, 0.270],
    "rock": [0.130, 0.160, 0.180, 0.230, 0.270, 0.230],
    "scar": [0.075, 0.100, 0.130, 0.180, 0.260, 0.220],  # fresh, moist slip surface
    "debris": [0.085, 0.110, 0.135, 0.200, 0.270, 0.230],
    "water": [0.050, 0.055, 0.035, 0.020, 0.010, 0.006],
    "snow": [0.800, 0.800, 0.780, 0.700, 0.100, 0.080],
    "urban": [0.110, 0.120, 0.130, 0.190, 0.230, 0.210],
    "mud": [0.060, 0.080, 0.090, 0.130, 0.170, 0.150],
    "ash": [0.040, 0.050, 0.060, 0.080, 0.150, 0.140],  # burnt ground: dark, higher SWIR
}
_GROUND_TABLE = np.array([_GROUND[name] for name in ENDMEMBERS], np.float32)  # (8, 6)
_SNOW = np.array(_GROUND["snow"], np.float32)
_WATER = np.array(_GROUND["water"], np.float32)
_CLOUD = np.array([0.50, 0.50, 0.50, 0.55, 0.45, 0.35], np.float32)
# Fraction of the light left in a full cloud shadow (diffuse sky light is bluer).
_SHADOW_LEFT = np.array([0.40, 0.34, 0.30, 0.22, 0.20, 0.19], np.float32)


@dataclass(frozen=True)
class S2Scene:
    dn: np.ndarray  # uint16 (6, H, W)
    cloud_probability: np.ndarray  # uint8 (H, W), percent
    cloud_fraction: float  # of the scene, thickness > 0.1
    sun_zenith: float
    sun_azimuth: float


def solar_position(lat: float, day: date, local_solar_hour: float = 10.5) -> tuple[float, float]:
    """Sun zenith and azimuth (degrees) at Sentinel-2's overpass time (10:30 local solar time)."""
    doy = day.timetuple().tm_yday
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    phi = np.radians(lat)
    h = np.radians(15.0 * (local_solar_hour - 12.0))
    cos_z = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(h)
    zenith = float(np.degrees(np.arccos(np.clip(cos_z, -1, 1))))
    azimuth = float(
        np.degrees(np.arctan2(-np.sin(h), np.tan(decl) * np.cos(phi) - np.sin(phi) * np.cos(h)))
        % 360.0
    )
    return zenith, azimuth


def render_s2(
    rng: np.random.Generator,
    surface: Surface,
    slope: np.ndarray,
    aspect: np.ndarray,
    texture: np.ndarray,
    sun: tuple[float, float],
    cloud_fraction: float,
    res: float,
    *,
    haze_max: float = 0.08,
    cloud_height_m: tuple[float, float] = (600.0, 2000.0),
) -> S2Scene:
    """One acquisition. ``cloud_fraction`` is the target share of the scene under cloud;
    ``haze_max`` bounds the haze, ``cloud_height_m`` the clouds' height (shadow offset)."""
    shape = slope.shape
    zen, az = np.radians(sun[0]), np.radians(sun[1])
    slope_r, aspect_r = np.radians(slope), np.radians(aspect)
    cos_i = np.cos(zen) * np.cos(slope_r) + np.sin(zen) * np.sin(slope_r) * np.cos(az - aspect_r)
    illum = np.clip((cos_i + 0.25) / (np.cos(zen) + 0.25), 0.15, 1.8).astype(np.float32)
    illum *= texture

    # clouds: a smooth field thresholded at the wanted cover; thickness ramps up over ~200 m
    field = fractal_field(rng, shape, beta=3.4, outer_scale_px=6000.0 / res)
    if cloud_fraction > 0.0:
        thr = float(np.quantile(field[::4, ::4], 1.0 - min(cloud_fraction, 0.999)))
        tau = np.clip((field - thr) / 0.7, 0.0, 1.0)
    else:
        tau = np.zeros(shape, np.float32)
    tau = tau.astype(np.float32, copy=False)
    haze_level = rng.uniform(0.0, haze_max)
    haze = haze_level * np.clip(0.5 + 0.3 * fractal_field(rng, shape, 3.0, 3000.0 / res), 0, 1)
    # shadows: the cloud field displaced away from the sun by height * tan(zenith)
    height = rng.uniform(*cloud_height_m)
    shift = height * np.tan(zen) / res
    d_col = round(-np.sin(az) * shift)
    d_row = round(np.cos(az) * shift)  # rows grow southwards
    shade = np.clip(np.roll(tau, (d_row, d_col), axis=(0, 1)) * 1.6, 0.0, 1.0) * 0.9
    if surface.shade is not None:  # the shadow of a cloud outside the scene, never flagged
        shade = np.maximum(shade, surface.shade)

    snow = surface.snow
    veg = surface.veg
    bare = 1.0 - veg
    green = surface.green
    land_weight = (1.0 - snow) * illum  # snow-free share, lit by the terrain
    snow_weight = snow * illum
    cloudy = np.minimum(tau + haze, 1.0)
    clear = 1.0 - cloudy
    water = surface.water
    dn = np.empty((6, *shape), np.uint16)
    for b in range(6):
        veg_b = _DRY_VEG[b] + green * (_GREEN_VEG[b] - _DRY_VEG[b])
        land = veg * veg_b + bare * _GROUND_TABLE[surface.ground, b]
        land[water] = _WATER[b]
        refl = land * land_weight + snow_weight * _SNOW[b]
        refl *= 1.0 - shade * (1.0 - _SHADOW_LEFT[b])
        refl = refl * clear + cloudy * _CLOUD[b]
        refl += 0.004 * rng.standard_normal(shape, dtype=np.float32)
        dn[b] = np.clip(refl * S2_DN_PER_REFLECTANCE, 1, 65535)

    # s2cloudless-like probability: monotone in thickness, noisy, confused by bright snow
    prob = 100.0 * np.clip(tau + haze, 0, 1) ** 0.8 + 22.0 * snow
    prob += 6.0 * rng.standard_normal(shape, dtype=np.float32)
    probability = np.clip(prob, 0, 100).astype(np.uint8)
    return S2Scene(
        dn=dn,
        cloud_probability=probability,
        cloud_fraction=float((tau > 0.1).mean()),
        sun_zenith=float(sun[0]),
        sun_azimuth=float(sun[1]),
    )
