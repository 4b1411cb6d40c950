"""The tables of the randomised training world's events: one entry per landslide morphology and
one per look-alike (:mod:`monitor.simulator.random_events` draws them,
:mod:`monitor.simulator.surface` renders them). Adding a kind is adding a row, and with it: a
look-alike goes into a set of :data:`monitor.simulator.families.LOOKALIKE_SETS` (only the sets'
kinds are drawn), the row into the tables of docs/models.md
(``tests/archive/test_randomised_world.py`` checks both), and ``SIMULATOR_VERSION``
(:mod:`monitor.simulator.spec`) is bumped, since the families' regions change for the same spec
and archives built before would be reused otherwise. The randomised world changes with it:
``make default-ensemble`` no longer rebuilds the shipped default's training data.

Sizes, shapes and recovery times are design ranges chosen to span what the sources describe,
not fitted values; each row says where its character comes from:

- landslide areas: power laws above a roll-over (Malamud et al. 2004, Earth Surf. Process.
  Landforms 29, "Landslide inventories and their statistical properties": one inverse-gamma
  distribution for earthquake, snowmelt and rainfall inventories alike, a cumulative tail
  exponent of about 1.4 and a roll-over near 400 m²); the exponents 1.0-1.4 by morphology and
  the roll-overs here are this project's design ranges, not the paper's;
- morphologies: Varnes' classification as updated by Hungr, Leroueil and Picarelli (2014,
  Landslides 11): debris flows confined to channels with long runout, shallow translational
  slides, rotational slumps that keep blocks of vegetated ground, rock falls from cliffs;
  co-seismic clusters of many small slides (Iburi 2018 and Jiuzhaigou 2017 inventories, both
  cited by the issue that asked for this world); reactivation of old scars;
- look-alikes: the confusions Ganerød et al. (the heterogeneous ensemble for global landslide
  detection, seeds/004) names (water, snow, clouds, "vegetation loss unrelated to
  landslides"), and this project's own list for the rest (clear-cuts and other forestry,
  harvests, water-level change, and the issue's list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "LOOKALIKES",
    "LOOKALIKE_ORDER",
    "MORPHOLOGIES",
    "LookAlike",
    "LookAlikeShape",
    "LookAlikeSites",
    "Morphology",
]

LookAlikeSites = Literal[
    "forest", "gentle_open", "vegetated", "valley_floor", "slope", "steep", "lake", "land"
]
LookAlikeShape = Literal["rectangle", "blob", "strip_downhill", "strip_contour", "line"]


@dataclass(frozen=True)
class Morphology:
    """How one kind of landslide is drawn."""

    name: str
    sites: Literal["vegetated_slope", "bare_cliff"]
    min_slope_deg: float | None  # None: the landscape's own minimum
    ratio: tuple[float, float]  # length / width
    area_m2: tuple[float, float]  # power-law bounds
    exponent: float  # of the cumulative area distribution
    density: float  # multiplies the landscape's landslides per storm and km²
    min_count: int  # per storm (a cluster never has fewer)
    veg_keep: float  # share of the vegetation left on the moved mass
    # mean radar brightening of the slide, drawn per slide with a spread of ±1.5 dB; rendered
    # 1.5 times, plus the scar's -1 dB and the deposit's +1.5 dB (surface.SurfaceModel.at)
    roughness_db: float
    old_scars: bool = False  # the storm reactivates scars that pre-date the simulation
    source: str = ""


MORPHOLOGIES: dict[str, Morphology] = {
    m.name: m
    for m in (
        Morphology(
            "translational", "vegetated_slope", None, (2.0, 5.0), (300.0, 5.0e5), 1.2,
            1.0, 3, 0.0, 0.0,
            source="shallow planar slides, Hungr et al. 2014; areas Malamud et al. 2004",
        ),
        Morphology(
            "debris_flow", "vegetated_slope", None, (8.0, 20.0), (1500.0, 3.0e5), 1.0,
            0.6, 2, 0.0, 1.5,
            source="channelised flows with long runout (length/width 8-20), Hungr et al. 2014",
        ),
        Morphology(
            "rotational_slump", "vegetated_slope", 10.0, (0.6, 1.5), (1000.0, 2.0e5), 1.1,
            0.7, 2, 0.45, 2.0,
            source="short, wide slumps whose back-tilted blocks keep their cover, "
            "Hungr et al. 2014",
        ),
        Morphology(
            "rockfall", "bare_cliff", 40.0, (1.5, 4.0), (200.0, 3.0e4), 1.0,
            1.5, 3, 0.0, 2.5,
            source="falls from bare cliffs: rough talus, little vegetation change",
        ),
        Morphology(
            "coseismic_cluster", "vegetated_slope", None, (1.5, 4.0), (80.0, 3.0e4), 1.4,
            15.0, 60, 0.0, 0.5,
            source="hundreds of small slides in one event (Iburi 2018, Jiuzhaigou 2017); the "
            "exponent a design range (Malamud et al. 2004 find one area distribution whatever "
            "the trigger)",
        ),
        Morphology(
            "reactivated_scar", "vegetated_slope", None, (2.0, 5.0), (800.0, 2.0e5), 1.2,
            1.0, 3, 0.0, 0.5, old_scars=True,
            source="old, partly revegetated scars (240-day regrowth) that fail again",
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class LookAlike:
    """A change on the ground that is not a landslide, and how the sensors see it."""

    name: str
    sites: LookAlikeSites
    shape: LookAlikeShape
    size_m: tuple[float, float]  # characteristic size (blob diameter, rectangle side, length)
    per_km2_year: float  # at a look-alike rate scale of 1
    after_storms: bool  # also one a few days after each storm (same timing as the targets)
    veg_factor: float  # the vegetation is multiplied by this, then regrows
    recovery_days: float  # e-folding time of the regrowth (inf: none)
    ground: str | None = None  # ground endmember it exposes (surface.ENDMEMBERS), None: keep
    green: float | None = None  # share of green vegetation afterwards, None: keep
    roughness_db: float = 0.0  # radar brightening
    duration_days: float = float("inf")  # temporary ones (fresh snow, a shadow) end
    snow: bool = False  # covers the ground with snow while it lasts
    shade: float = 0.0  # cloud-shadow darkening that the cloud mask does not flag
    drains_water: bool = False  # open water turns to exposed mud (drawdown)
    source: str = ""


LOOKALIKES: dict[str, LookAlike] = {
    a.name: a
    for a in (
        LookAlike("clear_cut", "forest", "rectangle", (60.0, 300.0), 0.3, True, 0.15, 700.0,
                  "soil", 0.45, source="forestry; dNDVI confusion named by Ganerød et al."),
        LookAlike("thinning", "forest", "rectangle", (80.0, 300.0), 0.3, False, 0.6, 900.0,
                  None, None, 0.5, source="partial harvest: a weaker, rectangular NDVI drop"),
        LookAlike("harvest_plough", "gentle_open", "rectangle", (80.0, 320.0), 1.5, True,
                  0.12, 150.0, "soil", 0.3, 2.0,
                  source="crop harvest and ploughing: NDVI drop and rough, bright soil"),
        LookAlike("burn_scar", "vegetated", "blob", (150.0, 700.0), 0.1, True, 0.1, 400.0,
                  "ash", 0.3, -0.5, source="fire scars on any slope: dark ash, NDVI drop"),
        LookAlike("river_bank_erosion", "valley_floor", "strip_contour", (100.0, 400.0), 0.3,
                  True, 0.05, 300.0, "debris", 0.8, 1.0,
                  source="banks cut by a flood: bare sediment along the valley floor"),
        LookAlike("flood_deposit", "valley_floor", "blob", (100.0, 500.0), 0.3, True, 0.1,
                  200.0, "mud", 0.8, 0.5, source="flood sediment over fields in valleys"),
        LookAlike("quarry", "slope", "rectangle", (80.0, 250.0), 0.1, False, 0.03, float("inf"),
                  "rock", None, 1.5, source="quarries: bare rock on slopes, permanent"),
        LookAlike("road_cut", "slope", "line", (300.0, 1200.0), 0.2, False, 0.05,
                  float("inf"), "soil", None, 1.0, source="road cuts across slopes"),
        LookAlike("construction", "gentle_open", "rectangle", (50.0, 200.0), 0.3, False, 0.05,
                  float("inf"), "urban", None, 3.0, source="building sites: bare, then bright"),
        LookAlike("reservoir_drawdown", "lake", "blob", (0.0, 0.0), 0.0, True, 0.0,
                  float("inf"), "mud", None, 0.0, drains_water=True,
                  source="a falling reservoir exposes mud (SAR change; NDVI rises)"),
        LookAlike("avalanche_track", "steep", "strip_downhill", (300.0, 1500.0), 0.15, False,
                  0.35, 1500.0, "debris", 0.5, 1.0,
                  source="avalanche paths: long downhill strips of broken trees"),
        LookAlike("windthrow", "forest", "blob", (100.0, 500.0), 0.1, True, 0.45, 900.0,
                  None, 0.35, 1.5, source="storm-felled forest: drier, lower canopy"),
        LookAlike("snow_patch", "land", "blob", (200.0, 900.0), 0.3, True, 1.0, 1.0,
                  duration_days=6.0, snow=True,
                  source="fresh snow patches after a storm, melting within days"),
        LookAlike("cloud_shadow", "land", "blob", (300.0, 1200.0), 0.4, True, 1.0, 1.0,
                  duration_days=25.0, shade=0.75,
                  source="shadow of a cloud outside the scene: dark, never flagged"),
    )
}  # fmt: skip

# Index + 1 of a look-alike in Events.lookalike_kind (0: none).
LOOKALIKE_ORDER: tuple[str, ...] = tuple(LOOKALIKES)
