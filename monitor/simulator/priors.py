"""The priors of the randomised training world: every knob a region draws, as a documented range
with its source, and :func:`draw_world`, which draws one region's world deterministically from
its seed and family.

Each :class:`Prior` is a uniform range (per landscape type where the types differ); choices
(:class:`Choice`) are uniform over their options. Where no publication gives a distribution,
the range is a design choice that brackets the presets of :data:`spec.LANDSCAPES` widely (the
point is a world too varied to memorise, not a fitted one) and says so. Sources:

- [S1UG] ESA, Sentinel-1 User Guide / Sentinel-1 Product Definition (IW GRD high resolution:
  ENL 4.4; 12-day repeat per satellite, 6 days with two; ascending and descending passes;
  incidence 29.1-46.0° across the IW swath).
- [S2UG] ESA, Sentinel-2 User Handbook (5-day revisit with two satellites; L2A surface
  reflectance, SCL and cloud probability).
- [WC] ESA WorldCover 10 m 2021 v200 Product User Manual (the land-cover classes and their
  definitions: tree cover > 10 % canopy, shrubland, grassland, cropland, built-up, bare, snow,
  water, wetland).
- [M04] Malamud et al. 2004, Earth Surf. Process. Landforms 29: landslide-area power laws.
- [G23] Ganerød et al. (the heterogeneous ensemble for global landslide detection,
  seeds/004): the stack, settings and the confusions it names (water, snow, clouds, vegetation
  loss unrelated to landslides). "G23" is this table's tag, not the paper's year (its own
  references use "Ganerød et al., 2023" for another paper). Its windows were "one, two, or 12
  months before or after the event date"; the 60-day pre / 30-day post composites here are this
  project's choice ([DES]).
- [O25] Orynbaikyzy et al. 2025 (GIScience & Remote Sensing 62, seeds/002): several pre- and
  post-event SAR scenes as inputs help (F1 +0.02 to +0.13); event-independent test splits. That
  the gain is speckle's averaging is this project's reading (multi-look statistics), not the
  paper's.
- [DES] design range around the presets (no published distribution).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from models.worldcover import CROP, GRASS, SHRUB, TREE
from monitor.simulator.events import EventPlan
from monitor.simulator.families import landscape_family
from monitor.simulator.spec import LANDSCAPES, Landscape, SimulationSpec

__all__ = ["CHOICES", "PRIORS", "Choice", "Prior", "World", "draw_spec_knobs", "draw_world"]


@dataclass(frozen=True)
class Prior:
    """A uniform range ``[lo, hi]``; ``by_landscape`` narrows it per landscape type."""

    name: str
    lo: float
    hi: float
    unit: str
    source: str
    by_landscape: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def bounds(self, landscape: str) -> tuple[float, float]:
        return self.by_landscape.get(landscape, (self.lo, self.hi))

    def draw(self, rng: np.random.Generator, landscape: str) -> float:
        lo, hi = self.bounds(landscape)
        return float(rng.uniform(lo, hi))


@dataclass(frozen=True)
class Choice:
    name: str
    options: tuple[Any, ...]
    source: str

    def draw(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(0, len(self.options)))]


_FM, _AL, _AH = "forested_mountains", "alpine", "agricultural_hills"

PRIORS: dict[str, Prior] = {
    p.name: p
    for p in (
        # terrain
        Prior("slope_p90_deg", 12.0, 50.0, "°", "[DES] 90th-percentile slope; presets 24-42°",
              {_FM: (28.0, 46.0), _AL: (32.0, 50.0), _AH: (12.0, 30.0)}),
        Prior("ridge_weight", 0.1, 0.95, "0..1", "[DES] rolling (0) to sharp crests (1)"),
        Prior("tilt_deg", 0.0, 18.0, "°", "[DES] regional valley-flank slope; presets 3-15°"),
        Prior("valley_spacing_m", 1500.0, 6000.0, "m",
              "[DES] outer scale of the valley network (drainage density 0.17-0.67 km⁻¹)"),
        Prior("base_elevation_m", 50.0, 1200.0, "m", "[DES] valley-floor elevation",
              {_FM: (200.0, 1200.0), _AL: (300.0, 1000.0), _AH: (50.0, 500.0)}),
        # land cover [WC] and the NDVI of each class
        Prior("forest_fraction", 0.3, 0.95, "share", "[WC] classes; [DES] mix"),
        Prior("crop_fraction", 0.0, 0.85, "share", "[WC]; [DES] mix",
              {_FM: (0.1, 0.6), _AL: (0.0, 0.3), _AH: (0.4, 0.85)}),
        Prior("built_fraction", 0.0, 0.06, "share", "[WC]; [DES] mix"),
        Prior("lake_fraction", 0.0, 0.04, "share", "[WC] water; [DES]"),
        Prior("veg_offset_tree", -0.12, 0.05, "vegetation fraction",
              "[DES] NDVI of tree cover across biomes ([WC] > 10 % canopy)"),
        Prior("veg_offset_shrub", -0.15, 0.05, "vegetation fraction", "[DES] ([WC] shrubland)"),
        Prior("veg_offset_grass", -0.15, 0.08, "vegetation fraction", "[DES] ([WC] grassland)"),
        Prior("veg_offset_crop", -0.15, 0.1, "vegetation fraction", "[DES] ([WC] cropland)"),
        Prior("phenology_shift_days", -45.0, 45.0, "days", "[DES] peak of the growing season"),
        Prior("phenology_amplitude", 0.3, 1.0, "0..1", "[DES] seasonal swing of the cover"),
        # atmosphere [S2UG]
        Prior("cloud_scale", 0.2, 1.6, "x preset", "[S2UG] cloud cover; [G23] clouds; [DES]"),
        Prior("haze_max", 0.02, 0.15, "optical thickness", "[DES] haze above the cloud mask"),
        Prior("cloud_height_low_m", 300.0, 1000.0, "m", "[DES] low cloud base (shadow offset)"),
        Prior("cloud_height_high_m", 1500.0, 4000.0, "m", "[DES] high clouds"),
        # snow
        Prior("storm_snow_line_m", 700.0, 2600.0, "m",
              "[DES] fresh snow after storms above this (never in the tropical type)",
              {_AL: (1200.0, 2600.0), _AH: (700.0, 2500.0)}),
        # radar [S1UG], wet soil
        Prior("s1_drop_fraction", 0.0, 0.4, "share",
              "[S1UG] missing acquisitions (one satellite, conflicts): fewer looks per median"),
        Prior("storm_moisture", 0.2, 0.9, "0..1",
              "[DES] soil wetness a storm adds: region-wide backscatter rise (wet soil)"),
        Prior("moisture_decay_days", 2.0, 10.0, "days", "[DES] drying time after rain"),
        Prior("relief_scale", 0.7, 1.4, "x", "[DES] multiplies the drawn slopes"),
        # events
        Prior("landslides_per_storm_km2", 0.4, 1.5, "km⁻²", "[DES]; presets 0.7-1.2"),
        Prior("landslide_min_slope_deg", 10.0, 28.0, "°", "[DES]; presets 12-25°",
              {_FM: (18.0, 28.0), _AL: (20.0, 28.0), _AH: (10.0, 18.0)}),
        Prior("landslide_rate_scale", 2.0, 6.0, "x", "[DES] positives per scene for training"),
        Prior("lookalike_rate_scale", 1.0, 4.0, "x", "[DES] look-alikes per scene"),
    )
}  # fmt: skip

CHOICES: dict[str, Choice] = {
    c.name: c
    for c in (
        Choice("s1_repeat_days", (6, 12), "[S1UG] 6 days with two satellites, 12 with one"),
        Choice("orbit_pass", ("ascending", "descending", "both"), "[S1UG] passes over a region"),
    )
}

# The priors drawn onto SimulationSpec (draw_spec_knobs), not into the landscape (draw_world).
_SPEC_PRIORS = ("relief_scale", "cloud_scale", "landslide_rate_scale", "lookalike_rate_scale")

_VEG_OFFSETS = (
    ("veg_offset_tree", TREE),
    ("veg_offset_shrub", SHRUB),
    ("veg_offset_grass", GRASS),
    ("veg_offset_crop", CROP),
)


@dataclass(frozen=True)
class World:
    """One region's drawn world: the landscape, the events' plan and every drawn value."""

    landscape: Landscape
    plan: EventPlan
    values: dict[str, float]


def draw_spec_knobs(rng: np.random.Generator, landscape: str) -> dict[str, Any]:
    """The priors that live on :class:`SimulationSpec` (so they enter the archive's digest)."""
    knobs: dict[str, Any] = {key: PRIORS[key].draw(rng, landscape) for key in _SPEC_PRIORS}
    knobs["s1_repeat_days"] = CHOICES["s1_repeat_days"].draw(rng)
    return knobs


def draw_world(spec: SimulationSpec) -> World:
    """The world of a randomised region (``spec.family`` set), deterministic in ``spec.seed``
    and the family: the preset of the family's landscape type with every prior redrawn."""
    if spec.family is None:
        raise ValueError("draw_world needs a spec with a family (the randomised world)")
    fam = landscape_family(spec.family, spec.landscape)
    rng = np.random.default_rng([spec.seed, 7])
    name = fam.landscape
    values = {
        key: prior.draw(rng, name) for key, prior in PRIORS.items() if key not in _SPEC_PRIORS
    }
    base = LANDSCAPES[name]
    if "reservoir_drawdown" in fam.lookalike_kinds:
        values["lake_fraction"] = max(values["lake_fraction"], 0.02)  # a reservoir to draw down
    snow_line = values["storm_snow_line_m"] if name != _FM else float("inf")
    low, high = values["cloud_height_low_m"], values["cloud_height_high_m"]
    landscape = replace(
        base,
        base_elevation_m=values["base_elevation_m"],
        slope_p90_deg=values["slope_p90_deg"],
        ridge_weight=values["ridge_weight"],
        tilt_deg=values["tilt_deg"],
        max_relief_m=max(base.max_relief_m, 2500.0),
        lake_fraction=values["lake_fraction"],
        crop_fraction=values["crop_fraction"],
        built_fraction=values["built_fraction"],
        forest_fraction=values["forest_fraction"],
        storm_snow_line_m=snow_line,
        landslides_per_storm_km2=values["landslides_per_storm_km2"],
        landslide_min_slope_deg=values["landslide_min_slope_deg"],
        clear_cuts_km2=0.0,
        reservoir=False,
        valley_spacing_m=values["valley_spacing_m"],
        veg_offsets=tuple((cls, values[key]) for key, cls in _VEG_OFFSETS),
        phenology_shift_days=values["phenology_shift_days"],
        phenology_amplitude=values["phenology_amplitude"],
        haze_max=values["haze_max"],
        cloud_height_m=(low, high),
        storm_moisture=values["storm_moisture"],
        moisture_decay_days=values["moisture_decay_days"],
        s1_drop_fraction=values["s1_drop_fraction"],
    )
    plan = EventPlan(morphology=fam.morphology, lookalikes=fam.lookalike_kinds)
    return World(landscape, plan, values)
