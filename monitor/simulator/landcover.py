"""Land cover in ESA WorldCover codes (:mod:`models.worldcover`), field parcels with crop
calendars, canopy height and Köppen-Geiger climate, placed consistently with the terrain."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.worldcover import BARE, BUILT, CROP, GRASS, SHRUB, SNOW_ICE, TREE, WATER, WETLAND
from monitor.simulator.noise import fractal_field
from monitor.simulator.spec import Landscape
from monitor.simulator.terrain import Terrain

__all__ = ["Cover", "simulate_cover"]

# Crop calendars (day of year): sowing, harvest. "perennial" parcels (tea, vineyards, orchards)
# keep a steady canopy.
CROP_CALENDARS: tuple[tuple[str, int, int], ...] = (
    ("winter_cereal", -60, 185),  # sown in autumn, green in spring, harvested early July
    ("summer_crop", 125, 240),  # maize/sunflower: sown in May, harvested late Aug - Sept
    ("perennial", -1, -1),
)


@dataclass(frozen=True)
class Cover:
    landcover: np.ndarray  # uint8 WorldCover code
    canopy_height: np.ndarray  # float32 metres
    kg_climate: np.ndarray  # uint8 Köppen-Geiger code (Beck et al. 2018 legend)
    parcel: np.ndarray  # int32 field parcel id
    sow_day: np.ndarray  # float32 day of year (NaN: not a seasonal crop)
    harvest_day: np.ndarray  # float32 day of year, jittered per parcel
    texture: np.ndarray  # float32 ~1, static brightness texture


def _parcels(
    rng: np.random.Generator, shape: tuple[int, int], res: float, size_m: tuple[float, float]
) -> np.ndarray:
    """Rectangular field parcels on a rotated grid with jittered widths."""
    rows, cols = np.indices(shape, dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    u = (cols * np.cos(angle) + rows * np.sin(angle)) * res
    v = (-cols * np.sin(angle) + rows * np.cos(angle)) * res
    w_u, w_v = rng.uniform(*size_m), rng.uniform(*size_m) * 0.6
    iu = np.floor(u / w_u).astype(np.int64)
    # shift every strip differently so fields do not line up in a chessboard
    offsets = rng.uniform(0, w_v, size=int(iu.max() - iu.min()) + 1)
    iv = np.floor((v + offsets[iu - iu.min()]) / w_v).astype(np.int64)
    iv -= iv.min()
    iu -= iu.min()
    return (iu * (iv.max() + 1) + iv).astype(np.int32)


def _per_parcel_mean(parcel: np.ndarray, values: np.ndarray) -> np.ndarray:
    n = int(parcel.max()) + 1
    total = np.bincount(parcel.ravel(), weights=values.ravel(), minlength=n)
    count = np.bincount(parcel.ravel(), minlength=n)
    return (total / np.maximum(count, 1))[parcel].astype(np.float32)


def _canopy_height(
    lc: np.ndarray,
    terrain: Terrain,
    patch: np.ndarray,
    fine: np.ndarray,
    parcel_kind: np.ndarray,
    landscape: Landscape,
) -> np.ndarray:
    """Canopy height (m): trees within the preset's range, shorter near the tree line and on
    very steep ground; shrubs 1-3 m; perennial crops 1.5 m; 0 elsewhere."""
    dem, slope = terrain.dem, terrain.slope
    lo_h, hi_h = landscape.canopy_height_m
    tall = np.clip(0.5 + 0.25 * patch + 0.15 * fine, 0.0, 1.0)
    canopy = np.zeros(dem.shape, np.float32)
    trees = lc == TREE
    # trees are shorter near the tree line and on very steep ground
    stunted = np.clip((landscape.tree_line_m - dem) / 400.0, 0.3, 1.0) * np.clip(
        (60.0 - slope) / 30.0, 0.4, 1.0
    )
    canopy[trees] = (lo_h + (hi_h - lo_h) * tall[trees]) * stunted[trees]
    canopy[lc == SHRUB] = 1.0 + 2.0 * tall[lc == SHRUB]
    perennial = (lc == CROP) & (parcel_kind == len(CROP_CALENDARS) - 1)
    canopy[perennial] = 1.5
    return canopy


def simulate_cover(
    rng: np.random.Generator, terrain: Terrain, res: float, landscape: Landscape
) -> Cover:
    """Water in the basins, wetland on their flat shores, snow/ice above the glacier line, rock
    above the rock line and on cliffs, meadows above the tree line, crops and villages on gentle
    low parcels, forest elsewhere (more likely on steep ground), shrub and grass in between."""
    shape = terrain.dem.shape
    dem, slope = terrain.dem, terrain.slope
    patch = fractal_field(rng, shape, beta=3.0, outer_scale_px=1500.0 / res)
    fine = fractal_field(rng, shape, beta=2.4, outer_scale_px=300.0 / res)
    lc = np.full(shape, GRASS, np.uint8)

    parcel = _parcels(rng, shape, res, (120.0, 320.0))
    n_parcels = int(parcel.max()) + 1
    parcel_u = rng.uniform(size=n_parcels).astype(np.float32)[parcel]
    parcel_kind = rng.integers(0, len(CROP_CALENDARS), size=n_parcels)[parcel]
    parcel_slope = _per_parcel_mean(parcel, slope)
    parcel_elev = _per_parcel_mean(parcel, dem)
    lo, hi = np.quantile(dem, [0.02, 0.98])
    low = parcel_elev < lo + 0.55 * (hi - lo)

    # forest: a patchy field, biased towards steep slopes; fraction set by the preset
    forest_score = patch + 0.04 * (slope - 20.0) + 0.3 * fine
    forest_threshold = np.quantile(forest_score, 1.0 - landscape.forest_fraction)
    lc[forest_score > forest_threshold] = TREE
    lc[(lc == GRASS) & (fine > 0.8)] = SHRUB
    crop = (parcel_slope < 14.0) & low & (parcel_u < landscape.crop_fraction)
    lc[crop] = CROP
    built = (parcel_slope < 9.0) & low & (parcel_u > 1.0 - landscape.built_fraction)
    lc[built] = BUILT

    # altitude belts with ragged edges
    ragged = dem + 120.0 * patch
    lc[(ragged > landscape.tree_line_m - 150.0) & (lc != GRASS)] = SHRUB
    lc[ragged > landscape.tree_line_m] = GRASS
    lc[(ragged > landscape.rock_line_m) | (slope > 52.0)] = BARE
    lc[ragged > landscape.glacier_line_m] = SNOW_ICE

    shore = (~terrain.lake) & (terrain.bed < terrain.lake_level_m + 4.0) & (slope < 6.0)
    lc[shore] = WETLAND
    lc[terrain.lake] = WATER

    # crop calendars: per parcel, jittered by up to three weeks
    kind = np.where(lc == CROP, parcel_kind, -1)
    sow = np.full(shape, np.nan, np.float32)
    harvest = np.full(shape, np.nan, np.float32)
    jitter = (rng.uniform(-21, 21, size=n_parcels).astype(np.float32))[parcel]
    for index, (_, sow_doy, harvest_doy) in enumerate(CROP_CALENDARS):
        if sow_doy < 0 and harvest_doy < 0:
            continue
        here = kind == index
        sow[here] = sow_doy + jitter[here]
        harvest[here] = harvest_doy + jitter[here]

    canopy = _canopy_height(lc, terrain, patch, fine, parcel_kind, landscape)

    koppen = np.zeros(shape, np.uint8)
    for upper, code in reversed(landscape.koppen):
        koppen[dem < upper] = code

    texture = (1.0 + 0.05 * fine + 0.03 * rng.standard_normal(shape, np.float32)).astype(np.float32)
    return Cover(
        landcover=lc,
        canopy_height=canopy,
        kg_climate=koppen,
        parcel=parcel,
        sow_day=sow,
        harvest_day=harvest,
        texture=texture,
    )
