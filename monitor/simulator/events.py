"""Dated events on the ground: landslides (the targets) and look-alikes (clear-cuts, reservoir
floods), as polygons for the ground truth and as rasters for the renderers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from rasterio import features
from shapely import affinity
from shapely.geometry import Polygon, box, shape
from shapely.ops import unary_union

from models.worldcover import CROP, GRASS, SHRUB, TREE
from monitor.grid import Grid
from monitor.simulator.landcover import Cover
from monitor.simulator.spec import Landscape
from monitor.simulator.terrain import Terrain

__all__ = ["EventPlan", "EventRecord", "Events", "simulate_events"]

# Landslide areas follow a power law above a roll-over, as Malamud et al. 2004 find (their
# roll-over is near 400 m²; the 1000 m² here is this project's design choice); the exponent is
# that of the cumulative distribution.
_AREA_MIN_M2 = 1000.0
_AREA_MAX_M2 = 5.0e6
_AREA_EXPONENT = 1.2
_REVEGETATION_DAYS = 240.0  # e-folding time of the vegetation's return on a landslide
_FLOOD_RISE_M = 8.0
_MARGIN_PX = 8  # events start this far from the region's edges


@dataclass(frozen=True)
class EventRecord:
    kind: str  # "landslide" | "clear_cut" | "water_level"
    day: int  # days since the simulation start
    event_date: date
    geometry: Polygon  # grid CRS
    roughness: float = 0.0  # landslides: >0 rough debris (brighter SAR), <0 smooth scar


@dataclass(frozen=True)
class Events:
    records: tuple[EventRecord, ...]
    landslide_day: np.ndarray  # float32 day of failure per pixel, +inf where none
    landslide_part: np.ndarray  # float32 0 at the crown .. 1 at the toe, NaN where none
    landslide_roughness: np.ndarray  # float32 per pixel, dB offset of the ground backscatter
    cut_day: np.ndarray  # float32 day of the clear-cut, +inf where none
    flood_rise_m: float  # reservoir rise after a storm (0: no reservoir)
    # randomised world only (None for the presets): what a slide leaves of the vegetation, and
    # the look-alikes of event_kinds.LOOKALIKES per pixel (kind index + 1, 0 where none)
    landslide_veg_keep: np.ndarray | None = None  # float32 0..1
    lookalike_kind: np.ndarray | None = None  # uint8
    lookalike_day: np.ndarray | None = None  # float32 day it happens, +inf where none
    lookalike_end: np.ndarray | None = None  # float32 day it ends (temporary kinds)


@dataclass(frozen=True)
class EventPlan:
    """The randomised world's events (:mod:`monitor.simulator.randomised`): one landslide
    morphology and a set of look-alikes (names in :mod:`monitor.simulator.event_kinds`)."""

    morphology: str
    lookalikes: tuple[str, ...]


def _to_grid(grid: Grid, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return np.column_stack([grid.x0 + cols * grid.res, grid.y0 - rows * grid.res])


def _landslide_polygon(
    rng: np.random.Generator,
    terrain: Terrain,
    grid: Grid,
    head: tuple[int, int],
    area_m2: float,
    ratio_range: tuple[float, float] = (2.0, 5.0),
    min_area_m2: float = _AREA_MIN_M2,
) -> tuple[Polygon, np.ndarray] | None:
    """An elongated tongue that follows the downslope direction from its crown at ``head``.
    Returns the polygon (grid CRS) and its centre line (pixel col/row)."""
    ratio = rng.uniform(*ratio_range)
    length_px = np.sqrt(area_m2 * ratio / 0.8) / grid.res
    width_px = length_px / ratio
    n = 17
    step = length_px / (n - 1)
    rows, cols = terrain.aspect.shape
    centre = np.zeros((n, 2))
    centre[0] = (head[1] + 0.5, head[0] + 0.5)
    direction = None
    for i in range(1, n):
        c, r = centre[i - 1]
        ri, ci = int(np.clip(r, 0, rows - 1)), int(np.clip(c, 0, cols - 1))
        az = np.radians(terrain.aspect[ri, ci])
        d = np.array([np.sin(az), -np.cos(az)])  # (col, row) of the downhill direction
        direction = d if direction is None else 0.6 * direction + 0.4 * d
        direction /= max(np.hypot(*direction), 1e-9)
        centre[i] = centre[i - 1] + step * direction
    tangent = np.asarray(np.gradient(centre, axis=0))  # one axis: one array
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    f = np.linspace(0.0, 1.0, n)
    half = 0.5 * width_px * (0.75 + 0.35 * f) * (0.3 + 0.7 * np.sin(np.pi * f) ** 0.5)
    half *= 1.0 + 0.12 * rng.standard_normal(n)
    half[[0, -1]] = np.maximum(half[[0, -1]], 0.25 * width_px)
    left = centre + normal * half[:, None]
    right = centre - normal * half[:, None]
    ring = np.vstack([left, right[::-1]])
    poly = Polygon(_to_grid(grid, ring[:, 0], ring[:, 1])).buffer(0)
    if poly.geom_type == "MultiPolygon":
        poly = max(poly.geoms, key=lambda g: g.area)
    if poly.is_empty or poly.area < 0.5 * min_area_m2:
        return None
    return poly, centre


def _day(start: date, day: int) -> date:
    return start + timedelta(days=int(day))


@dataclass(frozen=True)
class _Setting:
    """What every kind of event is drawn from: the region and the simulated period."""

    terrain: Terrain
    grid: Grid
    landscape: Landscape
    start: date
    n_days: int
    storm_days: list[int]

    @property
    def years(self) -> float:
        return self.n_days / 365.0


def _inner(mask: np.ndarray) -> np.ndarray:
    """``mask`` less a margin of ``_MARGIN_PX`` pixels along the edges (a copy)."""
    mask = mask.copy()
    mask[:_MARGIN_PX] = mask[-_MARGIN_PX:] = False
    mask[:, :_MARGIN_PX] = mask[:, -_MARGIN_PX:] = False
    return mask


def _landslide_sites(setting: _Setting, lc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices of the pixels where a landslide may start (steep enough, vegetated, away
    from the edges) and their probabilities (steeper is likelier)."""
    terrain, landscape = setting.terrain, setting.landscape
    candidates = (terrain.slope >= landscape.landslide_min_slope_deg) & np.isin(
        lc, (TREE, SHRUB, GRASS, CROP)
    )
    cand_idx = np.flatnonzero(_inner(candidates))
    weights = terrain.slope.ravel()[cand_idx] - landscape.landslide_min_slope_deg + 3.0
    weights /= weights.sum() if len(weights) else 1.0
    return cand_idx, weights


def _landslides(
    rng: np.random.Generator, setting: _Setting, lc: np.ndarray, landslide_scale: float
) -> list[EventRecord]:
    """Storm-triggered clusters (each storm's largest slides at least the floor sizes), then
    the background rate, at random days."""
    terrain, grid, landscape = setting.terrain, setting.grid, setting.landscape
    cand_idx, weights = _landslide_sites(setting, lc)
    area_km2 = grid.area_km2
    area_cap = min(_AREA_MAX_M2, 0.1 * area_km2 * 1e6)
    records: list[EventRecord] = []

    def add_landslides(day: int, count: int, sizes_floor: tuple[float, ...]) -> None:
        if not len(cand_idx):
            return
        for i in range(count):
            u = rng.uniform()
            area = _AREA_MIN_M2 * (
                1.0 - u * (1 - (area_cap / _AREA_MIN_M2) ** -_AREA_EXPONENT)
            ) ** (-1.0 / _AREA_EXPONENT)
            if i < len(sizes_floor):
                area = max(area, min(sizes_floor[i], area_cap))
            flat = int(rng.choice(cand_idx, p=weights))
            made = _landslide_polygon(rng, terrain, grid, divmod(flat, terrain.dem.shape[1]), area)
            if made is None:
                continue
            poly, _ = made
            event_day = day + int(rng.integers(0, 3))
            records.append(
                EventRecord(
                    kind="landslide",
                    day=event_day,
                    event_date=_day(setting.start, event_day),
                    geometry=poly,
                    roughness=float(rng.normal(0.0, 1.0)),
                )
            )

    for storm in setting.storm_days:
        n = int(rng.poisson(landscape.landslides_per_storm_km2 * area_km2 * landslide_scale))
        if landslide_scale > 0:
            n = max(n, 3)
        add_landslides(storm, n, sizes_floor=(4.0e4, 1.5e4, 6.0e3))
    n_bg = int(
        rng.poisson(
            landscape.background_landslides_km2 * area_km2 * setting.years * landslide_scale
        )
    )
    for _ in range(n_bg):
        add_landslides(int(rng.integers(0, setting.n_days)), 1, sizes_floor=())
    return records


def _clear_cuts(
    rng: np.random.Generator, setting: _Setting, lc: np.ndarray, lookalike_scale: float
) -> list[EventRecord]:
    """Rectangles of forest on gentle-to-moderate ground, some soon after storms."""
    terrain, grid, n_days = setting.terrain, setting.grid, setting.n_days
    gentle_forest = np.flatnonzero((lc == TREE) & (terrain.slope < 22.0))
    n_cut = int(
        rng.poisson(
            setting.landscape.clear_cuts_km2 * grid.area_km2 * setting.years * lookalike_scale
        )
    )
    cut_days = [int(rng.integers(0, n_days)) for _ in range(n_cut)]
    if lookalike_scale > 0 and len(gentle_forest):
        cut_days += [min(s + int(rng.integers(3, 20)), n_days - 1) for s in setting.storm_days]
    records: list[EventRecord] = []
    for day in cut_days:
        if not len(gentle_forest):
            break
        r, c = divmod(int(rng.choice(gentle_forest)), terrain.dem.shape[1])
        x, y = grid.x[c], grid.y[r]
        w, h = rng.uniform(60, 260), rng.uniform(60, 200)
        rect = affinity.rotate(box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), rng.uniform(0, 90))
        records.append(EventRecord("clear_cut", day, _day(setting.start, day), rect))
    return records


def _event_ids(records: list[EventRecord], shape_: tuple[int, ...], grid: Grid) -> np.ndarray:
    """Per pixel, 1 + the index of the last of ``records`` covering it (0 where none)."""
    return features.rasterize(
        ((r.geometry, i + 1) for i, r in enumerate(records)),
        out_shape=shape_,
        transform=grid.transform,
        fill=0,
        dtype="int32",
    )


def _rasterise_landslides(
    slides: list[EventRecord], terrain: Terrain, grid: Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: the day of failure (+inf where none), the position from crown (0) to toe
    (1, NaN where none) and the roughness; later slides overwrite earlier ones."""
    shape_ = terrain.dem.shape
    landslide_day = np.full(shape_, np.inf, np.float32)
    part = np.full(shape_, np.nan, np.float32)
    rough = np.zeros(shape_, np.float32)
    if not slides:
        return landslide_day, part, rough
    ids = _event_ids(slides, shape_, grid)
    days = np.array([np.inf] + [r.day for r in slides], np.float32)
    roughness = np.array([0.0] + [r.roughness for r in slides], np.float32)
    landslide_day = days[ids]
    rough = roughness[ids]
    # position along the slide: projection on the crown-to-toe axis
    rows, cols = np.nonzero(ids)
    if len(rows):
        k = ids[rows, cols] - 1
        heads = np.array([_crown(r.geometry, terrain, grid) for r in slides])
        xs, ys = grid.x[cols], grid.y[rows]
        hx, hy, tx, ty = heads[k, 0], heads[k, 1], heads[k, 2], heads[k, 3]
        ax, ay = tx - hx, ty - hy
        t = ((xs - hx) * ax + (ys - hy) * ay) / np.maximum(ax * ax + ay * ay, 1e-9)
        part[rows, cols] = np.clip(t, 0.0, 1.0)
    return landslide_day, part, rough


def _rasterise_cuts(
    cuts: list[EventRecord], lc: np.ndarray, shape_: tuple[int, ...], grid: Grid
) -> np.ndarray:
    """The day of the clear-cut per forest pixel, +inf where none."""
    if not cuts:
        return np.full(shape_, np.inf, np.float32)
    ids = _event_ids(cuts, shape_, grid)
    days = np.array([np.inf] + [r.day for r in cuts], np.float32)
    return np.where(lc == TREE, days[ids], np.inf).astype(np.float32)


def _floods(setting: _Setting) -> tuple[float, list[EventRecord]]:
    """The reservoir's rise after a storm (0 without one) and the flooded land per storm."""
    terrain, grid, storm_days = setting.terrain, setting.grid, setting.storm_days
    flood_rise = _FLOOD_RISE_M if setting.landscape.reservoir and terrain.lake.any() else 0.0
    records: list[EventRecord] = []
    if flood_rise and storm_days:
        flooded = (~terrain.lake) & (terrain.bed < terrain.lake_level_m + flood_rise)
        if flooded.any():
            polys = [
                shape(g)
                for g, v in features.shapes(
                    flooded.astype(np.uint8), mask=flooded, transform=grid.transform
                )
                if v == 1
            ]
            extent = unary_union(polys)
            for storm in storm_days:
                for g in getattr(extent, "geoms", [extent]):
                    if g.area >= 1000.0:
                        records.append(
                            EventRecord("water_level", storm, _day(setting.start, storm), g)
                        )
    return flood_rise, records


def simulate_events(
    rng: np.random.Generator,
    terrain: Terrain,
    cover: Cover,
    grid: Grid,
    landscape: Landscape,
    start: date,
    n_days: int,
    storm_days: list[int],
    landslide_scale: float,
    lookalike_scale: float,
) -> Events:
    """Storm-triggered landslide clusters plus a background rate, clear-cuts on gentle forested
    ground, and reservoir floods after storms (the presets; the randomised world's events are
    :func:`monitor.simulator.random_events.planned_events`)."""
    setting = _Setting(terrain, grid, landscape, start, n_days, storm_days)
    lc = cover.landcover
    slides = _landslides(rng, setting, lc, landslide_scale)
    cuts = _clear_cuts(rng, setting, lc, lookalike_scale)
    landslide_day, part, rough = _rasterise_landslides(slides, terrain, grid)
    cut_day = _rasterise_cuts(cuts, lc, terrain.dem.shape, grid)
    flood_rise, floods = _floods(setting)
    return Events(
        records=tuple(slides + cuts + floods),
        landslide_day=landslide_day,
        landslide_part=part,
        landslide_roughness=rough,
        cut_day=cut_day,
        flood_rise_m=flood_rise,
    )


def _crown(poly: Polygon, terrain: Terrain, grid: Grid) -> tuple[float, float, float, float]:
    """(x, y) of the highest and the lowest vertex of a landslide polygon."""
    coords = np.asarray(poly.exterior.coords)
    cols = np.clip(((coords[:, 0] - grid.x0) / grid.res).astype(int), 0, grid.width - 1)
    rows = np.clip(((grid.y0 - coords[:, 1]) / grid.res).astype(int), 0, grid.height - 1)
    z = terrain.dem[rows, cols]
    hi, lo = int(np.argmax(z)), int(np.argmin(z))
    return coords[hi, 0], coords[hi, 1], coords[lo, 0], coords[lo, 1]
