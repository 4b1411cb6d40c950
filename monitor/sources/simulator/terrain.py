"""Terrain: a DEM with ridges and valleys, its slope and aspect, and lake basins."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from monitor.sources.simulator.noise import fractal_field
from monitor.sources.simulator.spec import Landscape
from monitor.sources.terrain_flattening import slope_aspect

__all__ = ["Terrain", "simulate_terrain"]


@dataclass(frozen=True)
class Terrain:
    dem: np.ndarray  # metres, lakes flat at their nominal level (as SRTM sees them)
    bed: np.ndarray  # metres, the ground under the lakes too (for water-level changes)
    slope: np.ndarray  # degrees
    aspect: np.ndarray  # degrees clockwise from north, downhill
    lake: np.ndarray  # bool, water at the nominal level
    lake_level_m: float


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def simulate_terrain(
    rng: np.random.Generator,
    shape: tuple[int, int],
    res: float,
    landscape: Landscape,
    relief_scale: float = 1.0,
) -> Terrain:
    """Fractal hills blended with ridged noise (sharp crests, V valleys), scaled so that the 90th
    percentile slope matches the preset; the lowest basins hold a lake."""
    # Large smooth massifs carry the relief; ridged noise adds crests and incised valleys.
    rolling = _unit(fractal_field(rng, shape, beta=6.0, outer_scale_px=10000.0 / res))
    ridged = fractal_field(rng, shape, beta=5.5, outer_scale_px=4000.0 / res, inner_scale_px=3.0)
    ridged = _unit((1.0 - np.abs(ridged)) ** 2)
    shape_field = (rolling + 0.35 * landscape.ridge_weight * ridged).astype(np.float32)
    # Scale heights so that slopes hit the preset; tan(slope) is linear in the height scale.
    slope0, _ = slope_aspect(shape_field, res)
    p90 = float(np.percentile(np.tan(np.radians(slope0)), 90))
    target = np.tan(np.radians(min(landscape.slope_p90_deg * relief_scale, 58.0)))
    scale = target / max(p90, 1e-9)
    scale = min(scale, landscape.max_relief_m * relief_scale)
    bed = (landscape.base_elevation_m + shape_field * scale).astype(np.float32)
    # Lakes fill the lowest basins: the water surface is flat at a level that floods the
    # requested fraction of the region.
    lake_level = (
        float(np.quantile(bed, landscape.lake_fraction)) if landscape.lake_fraction else -1e9
    )
    lake = bed < lake_level
    dem = np.where(lake, np.float32(lake_level), bed).astype(np.float32)
    slope, aspect = slope_aspect(dem, res)
    return Terrain(dem=dem, bed=bed, slope=slope, aspect=aspect, lake=lake, lake_level_m=lake_level)
