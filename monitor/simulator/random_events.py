"""The randomised world's events: landslides of one morphology and a set of look-alikes, drawn
from the tables of :mod:`monitor.simulator.event_kinds` (the presets keep
:func:`monitor.simulator.events.simulate_events`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
from rasterio import features
from shapely import affinity
from shapely.geometry import LineString, Polygon, box

from models.worldcover import BUILT, CROP, GRASS, SHRUB, TREE, WATER, WETLAND
from monitor.grid import Grid
from monitor.simulator.event_kinds import (
    LOOKALIKE_ORDER,
    LOOKALIKES,
    MORPHOLOGIES,
    LookAlike,
    LookAlikeSites,
    Morphology,
)
from monitor.simulator.events import (
    EventPlan,
    EventRecord,
    Events,
    _day,
    _event_ids,
    _inner,
    _landslide_polygon,
    _rasterise_landslides,
    _Setting,
)
from monitor.simulator.landcover import Cover
from monitor.simulator.spec import Landscape
from monitor.simulator.terrain import Terrain

__all__ = ["planned_events"]

_OLD_SCAR_DAYS = (-700, -150)  # old scars failed this long before the simulation starts


def _power_law_area(rng: np.random.Generator, lo: float, hi: float, exponent: float) -> float:
    """An area of the truncated power law (cumulative exponent ``exponent``) on [lo, hi]."""
    u = rng.uniform()
    return float(lo * (1.0 - u * (1.0 - (hi / lo) ** -exponent)) ** (-1.0 / exponent))


def _slide_sites(
    morph: Morphology, terrain: Terrain, lc: np.ndarray, landscape: Landscape
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate crown pixels (flat indices) and their probabilities (steeper is likelier)."""
    min_slope = morph.min_slope_deg
    if min_slope is None:
        min_slope = landscape.landslide_min_slope_deg
    if morph.sites == "bare_cliff":
        # cliffs: bare rock, or the steepest 3 % of the region where it has no steep rock
        land = ~np.isin(lc, (WATER, BUILT))
        min_slope = min(min_slope, float(np.quantile(terrain.slope[land], 0.97)))
        ok = land & (terrain.slope >= min_slope)
    else:
        # vegetated slopes at least this steep; in a region gentler than that, its steepest
        # fifth of vegetated ground (every scene of a family has its landslides)
        vegetated = np.isin(lc, (TREE, SHRUB, GRASS, CROP))
        if vegetated.any():
            min_slope = min(min_slope, float(np.quantile(terrain.slope[vegetated], 0.8)))
        ok = (terrain.slope >= min_slope) & vegetated
    idx = np.flatnonzero(_inner(ok))
    weights = terrain.slope.ravel()[idx] - min_slope + 3.0
    return idx, weights / weights.sum() if len(weights) else weights


def _slides(
    rng: np.random.Generator,
    setting: _Setting,
    lc: np.ndarray,
    morph: Morphology,
    scale: float,
) -> tuple[list[EventRecord], list[EventRecord], list[float]]:
    """The storms' landslides (with their vegetation kept) and, for reactivation, the old
    scars they reactivate."""
    terrain, grid = setting.terrain, setting.grid
    idx, weights = _slide_sites(morph, terrain, lc, setting.landscape)
    slides: list[EventRecord] = []
    old: list[EventRecord] = []
    keep: list[float] = []
    if not len(idx) or scale <= 0:
        return slides, old, keep
    area_cap = min(morph.area_m2[1], 0.1 * grid.area_km2 * 1e6)
    lo = min(morph.area_m2[0], area_cap)
    ncols = terrain.dem.shape[1]

    def polygon(head: int, area: float) -> Polygon | None:
        made = _landslide_polygon(
            rng, terrain, grid, divmod(head, ncols), area, morph.ratio, min_area_m2=lo
        )
        return None if made is None else made[0]

    for storm in setting.storm_days:
        mean = setting.landscape.landslides_per_storm_km2 * grid.area_km2 * scale * morph.density
        n = max(int(rng.poisson(mean)), morph.min_count)
        spread = 1 if morph.name == "coseismic_cluster" else 3  # an earthquake is one day
        for _ in range(n):
            head = int(rng.choice(idx, p=weights))
            area = _power_law_area(rng, lo, area_cap, morph.exponent)
            if morph.old_scars:
                scar = polygon(head, area * rng.uniform(0.6, 1.0))
                if scar is not None:
                    day = int(rng.integers(*_OLD_SCAR_DAYS))
                    old.append(EventRecord("old_scar", day, _day(setting.start, day), scar))
                area *= rng.uniform(1.0, 1.5)  # the reactivation takes more than the old scar
            poly = polygon(head, area)
            if poly is None:
                continue
            day = storm + int(rng.integers(0, spread))
            rough = float(rng.normal(morph.roughness_db, 1.5))
            slides.append(EventRecord("landslide", day, _day(setting.start, day), poly, rough))
            keep.append(morph.veg_keep)
    return slides, old, keep


# Where each kind of look-alike may sit (LookAlike.sites), from the terrain and the land cover;
# "lake" kinds are the reservoir margins of _drawdown.
_LOOKALIKE_SITES: dict[LookAlikeSites, Callable[[Terrain, np.ndarray], np.ndarray]] = {
    "forest": lambda t, lc: lc == TREE,
    "gentle_open": lambda t, lc: np.isin(lc, (CROP, GRASS, SHRUB)) & (t.slope < 12.0),
    "vegetated": lambda t, lc: np.isin(lc, (TREE, SHRUB, GRASS, CROP, WETLAND)),
    "valley_floor": lambda t, lc: (
        (lc != WATER) & (t.dem <= np.quantile(t.dem, 0.12)) & (t.slope < 12.0)
    ),
    "slope": lambda t, lc: (lc != WATER) & (lc != BUILT) & (t.slope >= 10.0) & (t.slope < 40.0),
    "steep": lambda t, lc: (lc != WATER) & (t.slope >= 28.0),
    "land": lambda t, lc: lc != WATER,
}


def _blob(rng: np.random.Generator, x: float, y: float, diameter: float) -> Polygon:
    """A star-shaped polygon with a smooth random outline."""
    angles = np.linspace(0.0, 2.0 * np.pi, 24, endpoint=False)
    harmonics = sum(
        rng.normal(0.0, 0.25 / k) * np.cos(k * angles + rng.uniform(0, 2 * np.pi))
        for k in (1, 2, 3)
    )
    r = 0.5 * diameter * np.clip(1.0 + harmonics, 0.35, 1.8)
    return Polygon(np.column_stack([x + r * np.cos(angles), y + r * np.sin(angles)])).buffer(0)


def _lookalike_shape(
    rng: np.random.Generator, kind: LookAlike, setting: _Setting, site: int
) -> Polygon | None:
    terrain, grid = setting.terrain, setting.grid
    r, c = divmod(site, terrain.dem.shape[1])
    x, y = float(grid.x[c]), float(grid.y[r])
    size = rng.uniform(*kind.size_m)
    along = np.radians(terrain.aspect[r, c] + 90.0)  # the contour direction
    if kind.shape == "rectangle":
        w, h = size, size * rng.uniform(0.4, 1.0)
        return affinity.rotate(box(x - w / 2, y - h / 2, x + w / 2, y + h / 2), rng.uniform(0, 90))
    if kind.shape == "blob":
        return _blob(rng, x, y, size)
    if kind.shape == "strip_contour":
        w = size * rng.uniform(0.15, 0.3)
        rect = box(x - size / 2, y - w / 2, x + size / 2, y + w / 2)
        return affinity.rotate(rect, 90.0 - np.degrees(along))
    if kind.shape == "line":
        dx, dy = np.sin(along), np.cos(along)
        bend = rng.normal(0.0, 0.15 * size)
        line = LineString(
            [
                (x - dx * size / 2, y - dy * size / 2),
                (x + dy * bend, y - dx * bend),
                (x + dx * size / 2, y + dy * size / 2),
            ]
        )
        return line.buffer(rng.uniform(6.0, 12.0), cap_style="flat")
    # strip_downhill: a long tongue like a debris flow
    made = _landslide_polygon(
        rng, terrain, grid, (r, c), size * size / rng.uniform(8.0, 20.0), (8.0, 20.0), 500.0
    )
    return None if made is None else made[0]


def _drawdown(
    rng: np.random.Generator, setting: _Setting, days: list[int]
) -> list[tuple[Polygon, int]]:
    """The reservoir margin a drawdown exposes: lake bed within a few metres of the level."""
    terrain, grid = setting.terrain, setting.grid
    if not terrain.lake.any():
        return []
    out = []
    for day in days:
        drop = rng.uniform(2.0, 8.0)
        exposed = terrain.lake & (terrain.bed > terrain.lake_level_m - drop)
        polys = [
            Polygon(g["coordinates"][0])
            for g, v in features.shapes(
                exposed.astype(np.uint8), mask=exposed, transform=grid.transform
            )
            if v == 1
        ]
        out += [(p, day) for p in polys if p.area >= 500.0]
    return out


def _lookalikes(
    rng: np.random.Generator,
    setting: _Setting,
    lc: np.ndarray,
    names: tuple[str, ...],
    scale: float,
) -> list[tuple[EventRecord, LookAlike]]:
    out: list[tuple[EventRecord, LookAlike]] = []
    if scale <= 0:
        return out
    for name in names:
        kind = LOOKALIKES[name]
        # every kind of the set at least once per region (the family's look-alikes are there)
        mean = kind.per_km2_year * setting.grid.area_km2 * setting.years * scale
        n = max(int(rng.poisson(mean)), 1)
        days = [int(rng.integers(0, setting.n_days)) for _ in range(n)]
        if kind.after_storms:
            days += [
                min(s + int(rng.integers(1, 15)), setting.n_days - 1) for s in setting.storm_days
            ]
        if kind.sites == "lake":
            for poly, day in _drawdown(rng, setting, days):
                out.append((EventRecord(name, day, _day(setting.start, day), poly), kind))
            continue
        sites = np.flatnonzero(_inner(_LOOKALIKE_SITES[kind.sites](setting.terrain, lc)))
        if not len(sites):
            continue
        for day in days:
            poly = _lookalike_shape(rng, kind, setting, int(rng.choice(sites)))
            if poly is None or poly.is_empty:
                continue
            if poly.geom_type == "MultiPolygon":
                poly = max(poly.geoms, key=lambda g: g.area)
            out.append((EventRecord(name, day, _day(setting.start, day), poly), kind))
    return out


def _rasterise_lookalikes(
    made: list[tuple[EventRecord, LookAlike]], shape: tuple[int, ...], grid: Grid
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: kind (index + 1 in LOOKALIKE_ORDER), start day and end day; later events
    overwrite earlier ones."""
    kind = np.zeros(shape, np.uint8)
    start = np.full(shape, np.inf, np.float32)
    end = np.full(shape, np.inf, np.float32)
    if not made:
        return kind, start, end
    order = sorted(range(len(made)), key=lambda i: made[i][0].day)
    ids = _event_ids([made[i][0] for i in order], shape, grid)
    kinds = np.array([0] + [LOOKALIKE_ORDER.index(made[i][1].name) + 1 for i in order], np.uint8)
    days = np.array([np.inf] + [made[i][0].day for i in order], np.float32)
    ends = np.array(
        [np.inf] + [made[i][0].day + made[i][1].duration_days for i in order], np.float32
    )
    return kinds[ids], days[ids], ends[ids]


def planned_events(
    rng: np.random.Generator,
    terrain: Terrain,
    cover: Cover,
    grid: Grid,
    landscape: Landscape,
    start: date,
    n_days: int,
    storm_days: list[int],
    plan: EventPlan,
    landslide_scale: float,
    lookalike_scale: float,
) -> Events:
    """The plan's landslides (one morphology, per storm) and look-alikes, rasterised for the
    surface model. Old scars (reactivation) and look-alikes are records of their own kind, so
    the ground truth's landslides are the targets only."""
    if plan.morphology not in MORPHOLOGIES:
        raise ValueError(f"unknown landslide morphology {plan.morphology!r}")
    unknown = [n for n in plan.lookalikes if n not in LOOKALIKES]
    if unknown:
        raise ValueError(f"unknown look-alike(s) {', '.join(unknown)}")
    setting = _Setting(terrain, grid, landscape, start, n_days, storm_days)
    lc = cover.landcover
    morph = MORPHOLOGIES[plan.morphology]
    slides, old, keep = _slides(rng, setting, lc, morph, landslide_scale)
    # old scars first: the reactivation overwrites them where they overlap
    landslide_day, part, rough = _rasterise_landslides(old + slides, terrain, grid)
    veg_keep = np.zeros(terrain.dem.shape, np.float32)
    if slides:
        veg_keep = np.array([0.0, *keep], np.float32)[_event_ids(slides, terrain.dem.shape, grid)]
    made = _lookalikes(rng, setting, lc, plan.lookalikes, lookalike_scale)
    kind, day, end = _rasterise_lookalikes(made, terrain.dem.shape, grid)
    return Events(
        records=tuple(slides + old + [r for r, _ in made]),
        landslide_day=landslide_day,
        landslide_part=part,
        landslide_roughness=rough,
        cut_day=np.full(terrain.dem.shape, np.inf, np.float32),
        flood_rise_m=0.0,
        landslide_veg_keep=veg_keep,
        lookalike_kind=kind,
        lookalike_day=day,
        lookalike_end=end,
    )
