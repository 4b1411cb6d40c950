"""The state of the ground on a given day: vegetation (phenology, crops, landslides, clear-cuts,
revegetation), snow, water level and soil moisture. Both sensors render from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from models.worldcover import BARE, BUILT, CROP, GRASS, SHRUB, SNOW_ICE, TREE, WATER, WETLAND
from monitor.simulator.event_kinds import LOOKALIKE_ORDER, LOOKALIKES
from monitor.simulator.events import _REVEGETATION_DAYS, Events
from monitor.simulator.landcover import Cover
from monitor.simulator.noise import fractal_field
from monitor.simulator.spec import Landscape
from monitor.simulator.terrain import Terrain

__all__ = [
    "ASH",
    "DEBRIS",
    "ENDMEMBERS",
    "MUD",
    "ROCK",
    "SCAR",
    "SNOW",
    "SOIL",
    "URBAN",
    "WATER_EM",
    "Surface",
    "SurfaceModel",
]

# Ground (background) endmembers; the vegetation on top is mixed in by fraction.
SOIL, ROCK, SCAR, DEBRIS, WATER_EM, SNOW, URBAN, MUD, ASH = range(9)
ENDMEMBERS = ("soil", "rock", "scar", "debris", "water", "snow", "urban", "mud", "ash")

_GROUND_OF_COVER = {
    TREE: SOIL,
    SHRUB: SOIL,
    GRASS: SOIL,
    CROP: SOIL,
    BUILT: URBAN,
    BARE: ROCK,
    SNOW_ICE: ROCK,
    WATER: WATER_EM,
    WETLAND: MUD,
}
# (minimum, maximum) vegetation fraction over the seasons; crops follow their calendar.
_VEG_RANGE = {
    TREE: (0.6, 0.93),
    SHRUB: (0.4, 0.7),
    GRASS: (0.3, 0.85),
    CROP: (0.55, 0.75),  # perennial parcels
    BUILT: (0.1, 0.18),
    BARE: (0.03, 0.08),
    SNOW_ICE: (0.0, 0.0),
    WATER: (0.0, 0.0),
    WETLAND: (0.35, 0.8),
}
_EVERGREEN_TREE = (0.88, 0.94)


@dataclass(frozen=True)
class Surface:
    veg: np.ndarray  # float32 vegetation fraction 0..1
    green: np.ndarray  # float32 share of green (vs senescent) vegetation
    ground: np.ndarray  # uint8 endmember index of the ground
    veg_class: np.ndarray  # uint8 WorldCover class of the vegetation (for radar)
    snow: np.ndarray  # float32 snow fraction 0..1
    roughness_db: np.ndarray  # float32 radar brightening of rough landslide ground (dB)
    water: np.ndarray  # bool open water
    moisture: float  # 0..1 soil wetness of the day
    wet_snow: float  # 0..1 how wet the snow is (melt season)
    shade: np.ndarray | None = None  # float32 unflagged cloud-shadow darkening 0..1 (look-alike)


class SurfaceModel:
    """Evaluates :class:`Surface` for any day of the simulated span (vectorised per day)."""

    def __init__(
        self,
        rng: np.random.Generator,
        terrain: Terrain,
        cover: Cover,
        events: Events,
        landscape: Landscape,
        start: date,
        storm_days: list[int],
    ) -> None:
        self.terrain, self.cover, self.events = terrain, cover, events
        self.landscape, self.start, self.storm_days = landscape, start, storm_days
        lc = cover.landcover
        lo = np.zeros(256, np.float32)
        hi = np.zeros(256, np.float32)
        for k, (a, b) in _VEG_RANGE.items():
            lo[k], hi[k] = a, b
        if landscape.evergreen:
            lo[TREE], hi[TREE] = _EVERGREEN_TREE
        for k, shift in landscape.veg_offsets:  # the randomised world's NDVI of each class
            if hi[k] > 0.0:
                lo[k], hi[k] = (
                    np.clip(lo[k] + shift, 0.02, 0.97),
                    np.clip(hi[k] + shift, 0.02, 0.97),
                )
        jitter = 1.0 + 0.06 * fractal_field(rng, lc.shape, beta=2.6, outer_scale_px=40.0)
        self.veg_lo = (lo[lc] * jitter).clip(0, 1).astype(np.float32)
        self.veg_hi = (hi[lc] * jitter).clip(0, 1).astype(np.float32)
        ground = np.zeros(256, np.uint8)
        for k, v in _GROUND_OF_COVER.items():
            ground[k] = v
        self.ground0 = ground[lc]
        self.snow_noise = (
            140.0 * fractal_field(rng, lc.shape, beta=3.0, outer_scale_px=80.0)
        ).astype(np.float32)
        self.crop = np.isfinite(cover.sow_day)
        self.landslide = np.isfinite(events.landslide_day)
        self.cut = np.isfinite(events.cut_day)

    def day_of_year(self, day: int) -> int:
        return (self.start + timedelta(days=int(day))).timetuple().tm_yday

    def season(self, doy: int) -> float:
        """0 at the vegetation minimum, 1 at its peak."""
        peak: float = 260 if self.landscape.evergreen else 195  # post-monsoon vs midsummer
        if self.landscape.phenology_shift_days:
            peak += self.landscape.phenology_shift_days
        s = 0.5 * (1.0 + np.cos(2.0 * np.pi * (doy - peak) / 365.0))
        if self.landscape.phenology_amplitude != 1.0:
            s = 1.0 - self.landscape.phenology_amplitude * (1.0 - s)
        return float(s)

    def snow_line(self, day: int) -> float:
        doy = self.day_of_year(day)
        months = np.arange(12) * 30.4 + 15.0
        table = np.asarray(self.landscape.snow_line_by_month, np.float64)
        line = float(np.interp(doy, np.r_[months - 365, months, months + 365], np.tile(table, 3)))
        for storm in self.storm_days:
            age = day - storm
            if 0 <= age < 8 and np.isfinite(self.landscape.storm_snow_line_m):
                # fresh snow after a storm, melting upwards by ~90 m a day (gone in a week)
                line = min(line, self.landscape.storm_snow_line_m + 90.0 * age)
        return line

    def moisture(self, day: int) -> float:
        month = (self.start + timedelta(days=int(day))).month
        m = 0.45 if month in self.landscape.wet_season_months else 0.15
        for storm in self.storm_days:
            if day >= storm:
                wet = self.landscape.storm_moisture
                m += wet * np.exp(-(day - storm) / self.landscape.moisture_decay_days)
        return float(min(m, 1.0))

    def at(self, day: int) -> Surface:
        doy = self.day_of_year(day)
        s = np.float32(self.season(doy))
        veg = self.veg_lo + (self.veg_hi - self.veg_lo) * s
        green = np.full(veg.shape, 0.55 + 0.45 * s, np.float32)
        if self.landscape.evergreen:
            green[:] = 0.9
        ground = self.ground0.copy()
        veg_class = self.cover.landcover.copy()

        if self.crop.any():
            sow = self.cover.sow_day[self.crop]
            harvest = self.cover.harvest_day[self.crop]
            growing = (doy >= sow) & (doy < harvest)
            grown = 0.08 + 0.82 / (1.0 + np.exp(-(doy - (sow + 40.0)) / 9.0))
            senescent = np.clip((harvest - doy) / 25.0, 0.0, 1.0)
            v = np.where(growing, grown, 0.1).astype(np.float32)
            g = np.where(growing, 0.3 + 0.7 * senescent, 0.2).astype(np.float32)
            veg[self.crop] = v
            green[self.crop] = g

        cut = self.cut & (self.events.cut_day <= day)
        if cut.any():
            age = day - self.events.cut_day[cut]
            veg[cut] = 0.12 + (veg[cut] - 0.12) * (1.0 - np.exp(-age / 700.0))
            green[cut] = 0.45
            veg_class[cut] = SHRUB

        roughness = np.zeros(veg.shape, np.float32)
        slid = self.landslide & (self.events.landslide_day <= day)
        if slid.any():
            age = day - self.events.landslide_day[slid]
            regrowth = 1.0 - np.exp(-age / _REVEGETATION_DAYS)
            veg_keep = self.events.landslide_veg_keep
            if veg_keep is None:
                veg[slid] = 0.03 + 0.7 * veg[slid] * regrowth
            else:  # a slump's blocks keep part of their cover
                keep = veg_keep[slid]
                veg[slid] = 0.03 + veg[slid] * (keep + (0.7 - keep) * regrowth)
            green[slid] = 0.8
            part = self.events.landslide_part[slid]
            ground[slid] = np.where(part < 0.6, SCAR, DEBRIS)
            veg_class[slid] = GRASS
            # 1.5 x the slide's draw: the presets' unit draws, and the randomised world's dB
            # (event_kinds.Morphology.roughness_db; docs/models.md, the morphology table)
            roughness[slid] = 1.5 * self.events.landslide_roughness[slid] + np.where(
                part < 0.6, -1.0, 1.5
            )

        line = self.snow_line(day)
        snow = np.clip((self.terrain.dem + self.snow_noise - line) / 150.0, 0.0, 1.0)
        snow[self.cover.landcover == SNOW_ICE] = 1.0
        snow[self.cover.landcover == TREE] *= 0.6  # canopy hides part of the snow

        water = self.terrain.lake.copy()
        if self.events.flood_rise_m:
            rise = 0.0
            for storm in self.storm_days:
                if day >= storm:
                    rise = max(rise, self.events.flood_rise_m * np.exp(-(day - storm) / 20.0))
            if rise > 0.2:
                water |= self.terrain.bed < self.terrain.lake_level_m + rise
        shade = None
        if self.events.lookalike_kind is not None:
            shade = self._lookalikes(day, veg, green, ground, veg_class, snow, water, roughness)
        veg[water] = 0.0
        snow[water] = 0.0
        month = (self.start + timedelta(days=int(day))).month
        wet_snow = 0.8 if month in (4, 5, 6, 7, 8, 9) else 0.2
        return Surface(
            veg=veg.astype(np.float32),
            green=green,
            ground=ground,
            veg_class=veg_class,
            snow=snow.astype(np.float32),
            roughness_db=roughness,
            water=water,
            moisture=self.moisture(day),
            wet_snow=wet_snow,
            shade=shade,
        )

    def _lookalikes(
        self,
        day: int,
        veg: np.ndarray,
        green: np.ndarray,
        ground: np.ndarray,
        veg_class: np.ndarray,
        snow: np.ndarray,
        water: np.ndarray,
        roughness: np.ndarray,
    ) -> np.ndarray | None:
        """Apply the look-alikes under way on ``day`` (in place); the unflagged cloud-shadow
        darkening, or None when there is none."""
        ev = self.events
        assert ev.lookalike_kind is not None and ev.lookalike_day is not None
        assert ev.lookalike_end is not None
        active = (ev.lookalike_kind > 0) & (ev.lookalike_day <= day) & (day < ev.lookalike_end)
        shade = None
        for index in np.unique(ev.lookalike_kind[active]):
            kind = LOOKALIKES[LOOKALIKE_ORDER[int(index) - 1]]
            m = active & (ev.lookalike_kind == index)
            age = day - ev.lookalike_day[m]
            regrow = 1.0 - np.exp(-age / kind.recovery_days)
            veg[m] *= kind.veg_factor + (1.0 - kind.veg_factor) * regrow
            if kind.green is not None:
                green[m] = kind.green
            if kind.ground is not None:
                ground[m] = ENDMEMBERS.index(kind.ground)
            if kind.veg_factor < 0.5:
                veg_class[m] = GRASS
            roughness[m] += kind.roughness_db
            if kind.snow:
                snow[m] = 1.0
            if kind.drains_water:
                water[m] = False
                veg[m] = 0.0
            if kind.shade:
                shade = np.zeros(veg.shape, np.float32) if shade is None else shade
                shade[m] = kind.shade
        return shade
