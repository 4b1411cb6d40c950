"""Sentinel-1 GRD IW scenes: VV and VH sigma0 in dB (as COPERNICUS/S1_GRD), per orbit track with
its heading and an incidence angle that grows across the swath; terrain-dependent radiometry
(the inverse of the Vollrath et al. 2020 slope correction, volume model under vegetation and
surface model on bare ground), bright layover, dark shadow at the noise floor, soil-moisture
changes between dates and multiplicative gamma speckle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.change_statistics import IW_GRD_ENL
from models.worldcover import CROP, GRASS, SHRUB, TREE, WETLAND
from monitor.simulator.noise import fractal_field
from monitor.simulator.surface import ENDMEMBERS, Surface
from monitor.sources.terrain_flattening import TrackGeometry, slope_correction_factor

__all__ = ["Track", "render_s1", "speckle", "swath_incidence"]

_NOISE_FLOOR_DB = (-24.0, -28.0)  # noise-equivalent sigma0, VV and VH
_SWATH_GRADIENT_DEG_PER_M = (46.0 - 29.1) / 250e3  # IW: 29.1° to 46° over 250 km

# Backscatter (gamma0 of flat ground, dB) of a full vegetation canopy by WorldCover class ...
_VEG_DB = {TREE: (-7.0, -12.5), SHRUB: (-8.5, -14.5), GRASS: (-10.5, -17.5), CROP: (-9.5, -15.5)}
_VEG_DB[WETLAND] = (-11.0, -18.0)
# ... and of the ground endmembers when dry, with their sensitivity to soil moisture (dB at m=1)
_GROUND_DB = {
    "soil": (-13.0, -21.0, 4.0),
    "rock": (-10.5, -19.0, 1.0),
    "scar": (-11.5, -18.5, 4.0),
    "debris": (-8.0, -14.5, 3.0),
    "water": (-22.0, -28.0, 0.0),
    "snow": (-14.0, -22.0, 0.0),
    "urban": (-3.0, -10.0, 0.5),
    "mud": (-14.0, -22.0, 3.0),
    "ash": (-14.5, -22.5, 3.0),
}


def _db_table(pol: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    veg = np.full(256, 0.0, np.float32)
    for k, v in _VEG_DB.items():
        veg[k] = 10 ** (v[pol] / 10)
    ground = np.array([10 ** (_GROUND_DB[n][pol] / 10) for n in ENDMEMBERS], np.float32)
    moist = np.array([_GROUND_DB[n][2] for n in ENDMEMBERS], np.float32)
    return veg, ground, moist


_TABLES = (_db_table(0), _db_table(1))


@dataclass(frozen=True)
class Track:
    """One relative orbit over the region."""

    relative_orbit: int
    orbit_pass: str  # "ascending" | "descending"
    look_azimuth_deg: float
    first_day: int
    repeat_days: int
    geometry: TrackGeometry  # on the region's DEM

    @property
    def angle(self) -> np.ndarray:
        return self.geometry.theta_i_deg


def swath_incidence(
    shape: tuple[int, int], res: float, centre_deg: float, look_azimuth_deg: float
) -> np.ndarray:
    """Ellipsoid incidence angle over the grid: ``centre_deg`` at the grid centre, growing by
    about 0.068° per km along the look direction (IW swath)."""
    rows, cols = np.indices(shape, dtype=np.float32)
    east = (cols - shape[1] / 2) * res
    north = -(rows - shape[0] / 2) * res
    look = np.radians(look_azimuth_deg)
    along = east * np.sin(look) + north * np.cos(look)
    return (centre_deg + _SWATH_GRADIENT_DEG_PER_M * along).astype(np.float32)


def speckle(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Unit-mean multiplicative speckle with the IW GRD product's looks
    (:data:`models.change_statistics.IW_GRD_ENL`), correlated over 2 x 2 pixels as
    in IW GRD products (about 20 m resolution sampled at 10 m): the mean of four neighbouring
    gamma variates of a quarter of those looks each."""
    looks = IW_GRD_ENL / 4.0
    fine = rng.standard_gamma(looks, size=(shape[0] + 1, shape[1] + 1), dtype=np.float32)
    pooled = fine[:-1, :-1] + fine[1:, :-1] + fine[:-1, 1:] + fine[1:, 1:]
    return pooled / np.float32(4.0 * looks)


def render_s1(rng: np.random.Generator, surface: Surface, track: Track, res: float) -> np.ndarray:
    """One acquisition: int16 (2, H, W) sigma0 in hundredths of dB."""
    g = track.geometry
    theta = np.radians(g.theta_i_deg)
    alpha_r = np.radians(g.alpha_r_deg)
    alpha_az = np.radians(g.alpha_az_deg)
    # the radiometry follows the scattering that dominates *now* (a forest that slid is bare)
    volume = surface.veg > 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        scf = np.where(
            volume,
            slope_correction_factor("volume", theta, alpha_r, alpha_az),
            slope_correction_factor("surface", theta, alpha_r, alpha_az),
        )
    scf = np.clip(np.nan_to_num(scf, nan=1.0), 0.05, 20.0)
    shape = theta.shape
    moisture = surface.moisture + 0.15 * fractal_field(rng, shape, 3.0, 3000.0 / res)
    out = np.empty((2, *shape), np.int16)
    for pol in range(2):
        veg_t, ground_t, moist_t = _TABLES[pol]
        ground = ground_t[surface.ground] * 10 ** (
            (moist_t[surface.ground] * moisture + surface.roughness_db) / 10
        )
        ground = np.where(surface.water, ground_t[4] * 10 ** (rng.uniform(0, 6) / 10), ground)
        gamma = surface.veg * veg_t[surface.veg_class] + (1.0 - surface.veg) * ground
        # wet snow absorbs: up to -4 dB
        gamma *= 10 ** (-0.4 * surface.snow * surface.wet_snow)
        sigma = gamma * np.cos(theta) * scf
        sigma = np.where(g.layover, sigma * 4.0, sigma)
        floor = 10 ** (_NOISE_FLOOR_DB[pol] / 10)
        sigma = np.where(g.shadow, floor, sigma + floor)
        sigma *= speckle(rng, shape)
        sigma *= 10 ** (rng.normal(0.0, 0.15) / 10)  # calibration jitter of the scene
        out[pol] = np.clip(np.round(1000.0 * np.log10(sigma)), -5000, 3000).astype(np.int16)
    return out
