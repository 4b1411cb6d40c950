"""What the simulator is asked to make: the YAML blocks (pydantic) and the landscape presets.

``source.simulation`` of the configuration is an :class:`ArchiveSimulation` (archive-wide time span
and storms); ``regions[].simulation`` is a :class:`SimulationSpec` (landscape preset, seed and
optional overrides of the preset's knobs).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.sources.base import WrittenDay

__all__ = [
    "LANDSCAPES",
    "SIMULATOR_VERSION",
    "ArchiveSimulation",
    "Landscape",
    "LandscapeName",
    "SimulationSpec",
    "spec_digest",
]

# Bumped whenever the simulator's output changes for the same spec, so archives rebuild.
SIMULATOR_VERSION = "7"

LandscapeName = Literal["forested_mountains", "alpine", "agricultural_hills"]


@dataclass(frozen=True)
class Landscape:
    """A landscape preset: terrain, cover, climate, weather and event rates."""

    # terrain
    base_elevation_m: float
    slope_p90_deg: float  # 90th percentile of the slope after scaling the relief
    ridge_weight: float  # 0 rolling hills .. 1 sharp ridges
    tilt_deg: float  # regional slope across the region (a valley flank)
    max_relief_m: float
    # land cover (elevations in metres)
    tree_line_m: float
    rock_line_m: float
    glacier_line_m: float  # permanent snow/ice above
    lake_fraction: float  # target fraction of water in valley bottoms
    crop_fraction: float  # fraction of gentle, low land under crops
    built_fraction: float
    forest_fraction: float  # of the land below the tree line that is not crop/built
    evergreen: bool
    canopy_height_m: tuple[float, float]
    koppen: tuple[tuple[float, int], ...]  # (upper elevation bound, Köppen-Geiger code)
    # weather and seasons
    cloud_cover_by_month: tuple[float, ...]  # mean scene cloud fraction, Jan..Dec
    snow_line_by_month: tuple[float, ...]  # seasonal snow line, metres, Jan..Dec
    storm_snow_line_m: float  # storms drop fresh snow above this (inf: never)
    wet_season_months: tuple[int, ...]
    # events
    landslides_per_storm_km2: float
    background_landslides_km2: float  # per year, at random dates
    landslide_min_slope_deg: float
    clear_cuts_km2: float  # per year
    reservoir: bool  # storms raise the lake level and flood the shore
    # knobs of the randomised training world (monitor/simulator/priors.py); the defaults are the
    # presets' fixed values, so the presets render exactly as before
    valley_spacing_m: float = 4000.0  # outer scale of the ridged noise (drainage density)
    veg_offsets: tuple[tuple[int, float], ...] = ()  # (WorldCover class, vegetation shift)
    phenology_shift_days: float = 0.0  # the season's peak moves by this many days
    phenology_amplitude: float = 1.0  # 1: full seasonal swing, 0: none
    haze_max: float = 0.08  # upper bound of a scene's haze optical thickness
    cloud_height_m: tuple[float, float] = (600.0, 2000.0)  # cloud shadows are displaced by it
    storm_moisture: float = 0.6  # soil wetness added by a storm (region-wide SAR brightening)
    moisture_decay_days: float = 5.0  # e-folding time of that wetness
    s1_drop_fraction: float = 0.0  # share of planned Sentinel-1 acquisitions missing


LANDSCAPES: dict[LandscapeName, Landscape] = {
    # Western Ghats (Wayanad-like): tropical monsoon, evergreen forest on steep hills, tea and
    # crops on gentle ground, monsoon clouds from June to September.
    "forested_mountains": Landscape(
        base_elevation_m=600.0,
        slope_p90_deg=38.0,
        ridge_weight=0.55,
        tilt_deg=6.0,
        max_relief_m=1400.0,
        tree_line_m=9000.0,
        rock_line_m=9000.0,
        glacier_line_m=9000.0,
        lake_fraction=0.01,
        crop_fraction=0.45,
        built_fraction=0.02,
        forest_fraction=0.85,
        evergreen=True,
        canopy_height_m=(18.0, 38.0),
        koppen=((1000.0, 2), (9000.0, 12)),  # Am, then Cwb
        cloud_cover_by_month=(0.15, 0.1, 0.15, 0.3, 0.45, 0.8, 0.85, 0.75, 0.6, 0.55, 0.4, 0.2),
        snow_line_by_month=(9e3,) * 12,
        storm_snow_line_m=float("inf"),
        wet_season_months=(6, 7, 8, 9),
        landslides_per_storm_km2=1.2,
        background_landslides_km2=0.3,
        landslide_min_slope_deg=22.0,
        clear_cuts_km2=0.25,
        reservoir=False,
    ),
    # Central Alps (Valtellina-like): deep valleys, deciduous/conifer forest, meadows, rock,
    # glaciers, lakes and reservoirs, winter snow and summer snowfalls at altitude.
    "alpine": Landscape(
        base_elevation_m=450.0,
        slope_p90_deg=42.0,
        ridge_weight=0.8,
        tilt_deg=15.0,
        max_relief_m=2300.0,
        tree_line_m=1950.0,
        rock_line_m=2250.0,
        glacier_line_m=2450.0,
        lake_fraction=0.03,
        crop_fraction=0.15,
        built_fraction=0.03,
        forest_fraction=0.75,
        evergreen=False,
        canopy_height_m=(12.0, 32.0),
        koppen=((1500.0, 15), (2100.0, 27), (9000.0, 29)),  # Cfb, Dfc, ET
        cloud_cover_by_month=(0.35, 0.35, 0.45, 0.55, 0.55, 0.45, 0.35, 0.4, 0.4, 0.5, 0.5, 0.4),
        snow_line_by_month=(700, 800, 1200, 1700, 2200, 2600, 2900, 3000, 2700, 2200, 1500, 900),
        storm_snow_line_m=1900.0,
        wet_season_months=(5, 10, 11),
        landslides_per_storm_km2=0.7,
        background_landslides_km2=0.25,
        landslide_min_slope_deg=25.0,
        clear_cuts_km2=0.15,
        reservoir=True,
    ),
    # Northern Apennines (Emilia-like): rolling clay hills, fields, vineyards, woods on steeper
    # flanks; earthflows and slides in clay on moderate slopes; summer harvests.
    "agricultural_hills": Landscape(
        base_elevation_m=150.0,
        slope_p90_deg=24.0,
        ridge_weight=0.25,
        tilt_deg=3.0,
        max_relief_m=800.0,
        tree_line_m=9000.0,
        rock_line_m=9000.0,
        glacier_line_m=9000.0,
        lake_fraction=0.01,
        crop_fraction=0.75,
        built_fraction=0.04,
        forest_fraction=0.6,
        evergreen=False,
        canopy_height_m=(10.0, 25.0),
        koppen=((600.0, 14), (9000.0, 15)),  # Cfa, Cfb
        cloud_cover_by_month=(0.5, 0.45, 0.45, 0.45, 0.4, 0.3, 0.2, 0.25, 0.35, 0.45, 0.55, 0.55),
        snow_line_by_month=(1200, 1400, 1900, 2600, 3500, 9e3, 9e3, 9e3, 9e3, 3500, 1900, 1300),
        storm_snow_line_m=float("inf"),
        wet_season_months=(3, 4, 10, 11),
        landslides_per_storm_km2=0.9,
        background_landslides_km2=0.2,
        landslide_min_slope_deg=12.0,
        clear_cuts_km2=0.1,
        reservoir=False,
    ),
}


class SimulationSpec(BaseModel):
    """``regions[].simulation``: which landscape to simulate for a region, and its seed.

    The optional knobs override the landscape preset; leave them out for the preset's value."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    landscape: LandscapeName = Field(description="landscape preset (see LANDSCAPES)")
    seed: int = Field(ge=0, description="random seed; same seed, same archive")
    relief_scale: float = Field(1.0, gt=0.1, le=3.0, description="multiplies the preset slopes")
    cloud_scale: float = Field(1.0, ge=0.0, le=2.0, description="multiplies the cloud cover")
    landslide_rate_scale: float = Field(1.0, ge=0.0, le=20.0, description="multiplies landslides")
    lookalike_rate_scale: float = Field(1.0, ge=0.0, le=20.0, description="multiplies look-alikes")
    s1_repeat_days: Literal[6, 12] = Field(12, description="Sentinel-1 repeat per orbit pass")
    s1_tracks_per_pass: Literal[1, 2] | None = Field(
        None,
        description="relative orbits of each pass that see the region (left out: one; two, "
        "as where the swaths of neighbouring orbits overlap, doubles the scenes a window holds)",
    )
    family: str | None = Field(
        None,
        description="randomised training world only (monitor/simulator/families.py): the "
        "family 'landscape/look-alike set/morphology' whose priors the region draws from",
    )


class ArchiveSimulation(BaseModel):
    """``source.simulation``: the archive's time span and the storms that trigger landslides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # read as the configuration's other days (found in a config audit: `start: 0` was
    # 1970-01-01 without a word, 20240301 "Datetimes provided to dates should have zero time")
    start: WrittenDay = Field(description="first acquisition day (inclusive)")
    end: WrittenDay = Field(description="last day (exclusive)")
    storms: tuple[WrittenDay, ...] = Field(
        (), description="rainfall episodes that trigger landslides"
    )

    @model_validator(mode="after")
    def _check_dates(self) -> ArchiveSimulation:
        if self.end <= self.start:
            raise ValueError(f"simulation end {self.end} is not after its start {self.start}")
        outside = [d.isoformat() for d in self.storms if not (self.start <= d < self.end)]
        if outside:
            raise ValueError(
                f"storms {', '.join(outside)} fall outside the simulated span "
                f"{self.start}/{self.end}"
            )
        return self


def spec_digest(geometry_wkt: str, spec: SimulationSpec, simulation: ArchiveSimulation) -> str:
    """A hash of everything that determines a region's simulated archive."""
    payload = json.dumps(
        {
            "version": SIMULATOR_VERSION,
            "geometry": geometry_wkt,
            "spec": spec.model_dump(mode="json", exclude_none=True),
            "simulation": simulation.model_dump(mode="json"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
