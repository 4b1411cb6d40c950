"""Terrain: a DEM with ridges and valleys, its slope and aspect, and lake basins."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitor.simulator.noise import fractal_field
from monitor.simulator.spec import Landscape
from monitor.sources.terrain_flattening import slope_aspect

__all__ = ["Terrain", "simulate_terrain", "terrain_departures"]


@dataclass(frozen=True)
class Terrain:
    dem: np.ndarray  # metres, lakes flat at their nominal level (as SRTM sees them)
    bed: np.ndarray  # metres, the ground under the lakes too (for water-level changes)
    slope: np.ndarray  # degrees
    aspect: np.ndarray  # degrees clockwise from north, downhill
    lake: np.ndarray  # bool, water at the nominal level
    lake_level_m: float


# The steepest 90th-percentile slope a landscape is scaled to (degrees): relief_scale may not
# push a preset past what the relief can hold.
_MAX_P90_SLOPE_DEG = 58.0


def _p90_slope_deg(landscape: Landscape, relief_scale: float) -> float:
    """The 90th-percentile slope ``landscape`` asks at ``relief_scale`` (degrees)."""
    return min(landscape.slope_p90_deg * relief_scale, _MAX_P90_SLOPE_DEG)


def _relief_m(landscape: Landscape, relief_scale: float) -> float:
    """The most relief ``landscape`` takes at ``relief_scale`` (metres)."""
    return landscape.max_relief_m * relief_scale


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
    """A regional tilt plus fractal massifs blended with ridged noise (sharp crests, V valleys),
    scaled so that the 90th percentile slope matches the preset; the lowest basins hold a lake."""
    # Large smooth massifs carry the relief; ridged noise adds crests and incised valleys.
    rolling = _unit(fractal_field(rng, shape, beta=6.0, outer_scale_px=10000.0 / res))
    ridged = fractal_field(
        rng, shape, beta=5.5, outer_scale_px=landscape.valley_spacing_m / res, inner_scale_px=3.0
    )
    ridged = _unit((1.0 - np.abs(ridged)) ** 2)
    shape_field = (rolling + 0.35 * landscape.ridge_weight * ridged).astype(np.float32)
    # A regional tilt (one big valley flank) carries relief at a steady slope.
    rows, cols = np.indices(shape, dtype=np.float32)
    direction = rng.uniform(0.0, 2.0 * np.pi)
    along = (cols * np.sin(direction) - rows * np.cos(direction)) * res
    tilt = (np.tan(np.radians(landscape.tilt_deg)) * (along - along.min())).astype(np.float32)
    # Scale the relief so that the 90th-percentile slope hits the preset (bisection: the
    # slope grows monotonically with the scale of the shape field).
    target = np.tan(np.radians(_p90_slope_deg(landscape, relief_scale)))

    def p90(scale: float) -> float:
        slope_deg, _ = slope_aspect(tilt + scale * shape_field, res)
        return float(np.percentile(np.tan(np.radians(slope_deg[::2, ::2])), 90))

    lo, hi = 0.0, _relief_m(landscape, relief_scale)
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if p90(mid) < target else (lo, mid)
    scale = 0.5 * (lo + hi)
    bed = (landscape.base_elevation_m + tilt + shape_field * scale).astype(np.float32)
    # Lakes fill the lowest basins: the water surface is flat at a level that floods the
    # requested fraction of the region.
    lake_level = (
        float(np.quantile(bed, landscape.lake_fraction)) if landscape.lake_fraction else -1e9
    )
    lake = bed < lake_level
    dem = np.where(lake, np.float32(lake_level), bed).astype(np.float32)
    slope, aspect = slope_aspect(dem, res)
    return Terrain(dem=dem, bed=bed, slope=slope, aspect=aspect, lake=lake, lake_level_m=lake_level)


def terrain_departures(
    terrain: Terrain, landscape: Landscape, res: float, relief_scale: float = 1.0
) -> list[str]:
    """How ``terrain`` departs from its landscape, one phrase each (none where it matches).

    The landscapes are shaped for regions of a few km (docs/archive.md): the regional tilt runs
    across the whole region and the relief, capped at ``max_relief_m``, is spread over it. On a
    region many km wider the tilt alone rises above the landscape's relief (summits climb), and
    the capped relief no longer makes the 90th-percentile slope the landscape asks. The regions
    of the demo and of the training worlds stay within a degree of it and well within the
    relief."""
    departures = []
    rise = math.tan(math.radians(landscape.tilt_deg)) * math.hypot(*terrain.dem.shape) * res
    relief = _relief_m(landscape, relief_scale)  # the cap simulate_terrain scaled within
    if rise > relief:
        departures.append(
            f"its regional valley flank ({landscape.tilt_deg:g}°) rises up to {rise:.0f} m "
            f"across the region, more than the landscape's relief of {relief:.0f} m"
        )
    target = _p90_slope_deg(landscape, relief_scale)
    p90 = float(np.percentile(terrain.slope, 90))
    if p90 < target - 2.0:
        departures.append(
            f"its 90th-percentile slope is {p90:.0f}° where the landscape asks {target:.0f}°"
        )
    return departures
