"""One simulated region: terrain, cover, events and the acquisition plan of both sensors, with
renderers for any single acquisition (deterministic per seed and acquisition, in any order)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Polygon, box

from models.feature_stack import HIGHEST_ELEVATION_M
from monitor.errors import BadInput
from monitor.grid import Grid, region_grid
from monitor.simulator.events import Events, simulate_events
from monitor.simulator.landcover import Cover, simulate_cover
from monitor.simulator.optical import S2Scene, render_s2, solar_position
from monitor.simulator.priors import World, draw_world
from monitor.simulator.radar import Track, render_s1, swath_incidence
from monitor.simulator.random_events import planned_events
from monitor.simulator.spec import (
    LANDSCAPES,
    ArchiveSimulation,
    LandscapeName,
    SimulationSpec,
)
from monitor.simulator.surface import SurfaceModel
from monitor.simulator.terrain import Terrain, simulate_terrain, terrain_departures
from monitor.sources.base import AreaOfInterest
from monitor.sources.terrain_flattening import track_geometry

__all__ = [
    "S1Acquisition",
    "S2Acquisition",
    "SimulatedRegion",
    "landscape_place",
    "random_box",
    "random_regions",
]

S2_REVISIT_DAYS = 5
# The ellipsoid incidence at a region's centre is drawn within these (IW swaths span about
# 29-46 degrees; the sources keep 30.6-45.2, models.feature_stack.S1_INCIDENCE_RANGE_DEG).
_SWATH_NEAR_DEG, _SWATH_FAR_DEG = 31.0, 44.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S2Acquisition:
    index: int
    day: int
    date: date
    cloud_cover: float  # planned scene cloud fraction
    sun_zenith: float
    sun_azimuth: float


@dataclass(frozen=True)
class S1Acquisition:
    index: int
    day: int
    date: date
    track: int  # index into SimulatedRegion.tracks


class SimulatedRegion:
    """Everything about one region that does not depend on the acquisition being rendered."""

    def __init__(
        self, area: AreaOfInterest, spec: SimulationSpec, simulation: ArchiveSimulation
    ) -> None:
        self.area, self.spec, self.simulation = area, spec, simulation
        self.grid: Grid = region_grid(area.geometry)
        # the randomised training world draws its landscape and events from the priors
        world = draw_world(spec) if spec.family is not None else None
        landscape = world.landscape if world is not None else LANDSCAPES[spec.landscape]
        self.landscape = landscape
        self.n_days = (simulation.end - simulation.start).days
        self.storm_days = [(d - simulation.start).days for d in simulation.storms]
        rng = np.random.default_rng([spec.seed, 0])
        res = self.grid.res
        self.terrain: Terrain = simulate_terrain(
            rng, self.grid.shape, res, landscape, spec.relief_scale
        )
        self._check_terrain()
        self.cover: Cover = simulate_cover(rng, self.terrain, res, landscape)
        self.events: Events = self._simulate_events(rng, world)
        self.surface = SurfaceModel(
            rng,
            self.terrain,
            self.cover,
            self.events,
            landscape,
            simulation.start,
            self.storm_days,
        )
        self.s2: list[S2Acquisition] = self._plan_s2(rng)
        self.tracks: list[Track] = self._plan_tracks(rng)
        self.s1: list[S1Acquisition] = self._plan_s1()

    def _check_terrain(self) -> None:
        """Refuse a terrain whose summits pass Everest (what the archive refuses too), and warn
        of one that departs from its landscape: both come of a region wider than the
        landscapes are shaped for, which the message says what to do about."""
        height, width = self.grid.shape
        res, summit = self.grid.res, float(self.terrain.dem.max())
        what = (
            f"region {self.area.name!r}: the {self.spec.landscape} landscape simulated on "
            f"{height * res / 1000:.1f} km x {width * res / 1000:.1f} km"
        )
        departures = terrain_departures(self.terrain, self.landscape, res, self.spec.relief_scale)
        advice = (
            "the simulator's landscapes are shaped for regions of up to about 6 km across "
            "(docs/archive.md): simulate a larger area as several regions"
        )
        if summit > HIGHEST_ELEVATION_M:
            how = f": {'; '.join(departures)}" if departures else ""
            raise BadInput(
                f"{what} reaches {summit:.0f} m, above any summit ({HIGHEST_ELEVATION_M:g} m)"
                f"{how}; {advice}"
            )
        if departures:
            log.warning(
                "%s departs from it: %s (summits at %.0f m); %s",
                what, "; ".join(departures), summit, advice,
            )  # fmt: skip

    def _simulate_events(self, rng: np.random.Generator, world: World | None) -> Events:
        """The region's events: drawn from the landscape's rates, or for the randomised
        training world (``world`` set) from its plan."""
        spec = self.spec
        common = (
            rng,
            self.terrain,
            self.cover,
            self.grid,
            self.landscape,
            self.simulation.start,
            self.n_days,
            self.storm_days,
        )
        scales = (spec.landslide_rate_scale, spec.lookalike_rate_scale)
        if world is None:
            return simulate_events(*common, *scales)
        return planned_events(*common, world.plan, *scales)

    def _plan_s2(self, rng: np.random.Generator) -> list[S2Acquisition]:
        """The Sentinel-2 acquisitions: every ``S2_REVISIT_DAYS`` from a random first day, each
        with its planned cloud cover (overcast around storms) and sun position."""
        spec, simulation, landscape = self.spec, self.simulation, self.landscape
        lat = self.area.geometry.centroid.y
        s2: list[S2Acquisition] = []
        first = int(rng.integers(0, S2_REVISIT_DAYS))
        for i, day in enumerate(range(first, self.n_days, S2_REVISIT_DAYS)):
            when = simulation.start + timedelta(days=day)
            mean = landscape.cloud_cover_by_month[when.month - 1] * spec.cloud_scale
            mean = float(np.clip(mean, 0.01, 0.97))
            cover = float(rng.beta(mean * 1.2, (1.0 - mean) * 1.2)) if spec.cloud_scale else 0.0
            if any(-1 <= day - s <= 1 for s in self.storm_days) and spec.cloud_scale:
                cover = 0.97
            zen, az = solar_position(lat, when)
            s2.append(S2Acquisition(i, day, when, cover, zen, az))
        return s2

    def _plan_tracks(self, rng: np.random.Generator) -> list[Track]:
        """The Sentinel-1 tracks, one of each pass (ascending, descending) and, with
        ``s1_tracks_per_pass: 2``, a second of each: look direction, incidence, orbit and first
        day drawn, with their terrain geometry. A pass's second track is its neighbouring
        relative orbit, whose swath overlaps the first's: where the region lies in the first's
        near range it lies in the second's far range (or the reverse)."""
        spec = self.spec
        tracks: list[Track] = []
        centres: list[float] = []
        for orbit_pass, look in (("ascending", 79.0), ("descending", 281.0)):
            look += float(rng.normal(0.0, 1.5))
            centres.append(float(rng.uniform(_SWATH_NEAR_DEG, _SWATH_FAR_DEG)))
            orbit = int(rng.integers(1, 176))
            first_day = int(rng.integers(0, spec.s1_repeat_days))
            tracks.append(self._track(orbit, orbit_pass, look, centres[-1], first_day))
        if spec.s1_tracks_per_pass == 2:  # drawn after the first tracks: those stay as they were
            for first, centre in zip(list(tracks), centres, strict=True):
                look = first.look_azimuth_deg + float(rng.normal(0.0, 0.5))
                # two orbits of a pass see a region where their swaths overlap: near the far
                # range of one and the near range of the other; the second at the end of the
                # 31-44 degrees that the first is not near
                edge = float(rng.uniform(0.0, 3.0))
                middle = (_SWATH_NEAR_DEG + _SWATH_FAR_DEG) / 2.0
                incidence = _SWATH_FAR_DEG - edge if centre < middle else _SWATH_NEAR_DEG + edge
                # another relative orbit of the pass, acquired on another day of the cycle
                orbit = (first.relative_orbit - 1 + int(rng.integers(1, 175))) % 175 + 1
                offset = int(rng.integers(1, spec.s1_repeat_days))
                first_day = (first.first_day + offset) % spec.s1_repeat_days
                tracks.append(self._track(orbit, first.orbit_pass, look, incidence, first_day))
        return tracks

    def _track(
        self, orbit: int, orbit_pass: str, look: float, incidence: float, first_day: int
    ) -> Track:
        theta = swath_incidence(self.grid.shape, self.grid.res, incidence, look)
        return Track(
            relative_orbit=orbit,
            orbit_pass=orbit_pass,
            look_azimuth_deg=look,
            first_day=first_day,
            repeat_days=self.spec.s1_repeat_days,
            geometry=track_geometry(self.terrain.slope, self.terrain.aspect, theta, look),
        )

    def _plan_s1(self) -> list[S1Acquisition]:
        """The Sentinel-1 acquisitions of the tracks, by day, less the landscape's dropped
        fraction (its own random stream)."""
        plan = sorted(
            (day, k)
            for k, t in enumerate(self.tracks)
            for day in range(t.first_day, self.n_days, t.repeat_days)
        )
        if self.landscape.s1_drop_fraction:  # missing acquisitions: fewer looks per composite
            keep = np.random.default_rng([self.spec.seed, 8]).uniform(size=len(plan))
            plan = [
                p for p, u in zip(plan, keep, strict=True) if u >= self.landscape.s1_drop_fraction
            ]
        return [
            S1Acquisition(i, day, self.simulation.start + timedelta(days=day), k)
            for i, (day, k) in enumerate(plan)
        ]

    def render_s2(self, acquisition: S2Acquisition) -> S2Scene:
        rng = np.random.default_rng([self.spec.seed, 1, acquisition.index])
        return render_s2(
            rng,
            self.surface.at(acquisition.day),
            self.terrain.slope,
            self.terrain.aspect,
            self.cover.texture,
            (acquisition.sun_zenith, acquisition.sun_azimuth),
            acquisition.cloud_cover,
            self.grid.res,
            haze_max=self.landscape.haze_max,
            cloud_height_m=self.landscape.cloud_height_m,
        )

    def render_s1(self, acquisition: S1Acquisition) -> np.ndarray:
        rng = np.random.default_rng([self.spec.seed, 2, acquisition.index])
        return render_s1(
            rng, self.surface.at(acquisition.day), self.tracks[acquisition.track], self.grid.res
        )

    def ground_truth(self) -> gpd.GeoDataFrame:
        """All simulated events (EPSG:4326): ``kind`` (landslide | clear_cut | water_level, and
        in the randomised world old_scar and the look-alikes of event_kinds.LOOKALIKES),
        ``event_date``, ``area_m2``, ``roughness``."""
        records = self.events.records
        frame = gpd.GeoDataFrame(
            {
                "region": [self.area.name] * len(records),
                "kind": [r.kind for r in records],
                "event_date": pd.to_datetime([r.event_date for r in records]),
                "area_m2": [float(r.geometry.area) for r in records],
                "roughness": [r.roughness for r in records],
            },
            geometry=[r.geometry for r in records],
            crs=self.grid.crs,
        )
        return frame.to_crs("EPSG:4326")


# Where random training regions are placed: (lon range, lat range) per landscape.
_PLACES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "forested_mountains": ((74.0, 80.0), (8.0, 14.0)),
    "alpine": ((6.0, 14.0), (45.5, 47.5)),
    "agricultural_hills": ((9.0, 13.5), (43.0, 45.0)),
}


def landscape_place(landscape: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Where ``landscape`` lives in the randomised world: ((lon min, lon max), (lat min, lat max)).
    The latitude sets the sun that the optical scenes are simulated under."""
    try:
        return _PLACES[landscape]
    except KeyError:
        raise ValueError(
            f"unknown landscape {landscape!r}: expected one of {', '.join(_PLACES)}"
        ) from None


def random_box(rng: np.random.Generator, landscape: str, size_km: tuple[float, float]) -> Polygon:
    """A square (lon/lat box) of side drawn from ``size_km`` at a random place where
    ``landscape`` lives."""
    (lon0, lon1), (lat0, lat1) = landscape_place(landscape)
    lon, lat = rng.uniform(lon0, lon1), rng.uniform(lat0, lat1)
    side = rng.uniform(*size_km)
    dlat = side / 111.32 / 2
    dlon = dlat / np.cos(np.radians(lat))
    return box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


def random_regions(
    n: int,
    seed: int,
    *,
    size_km: tuple[float, float] = (2.0, 4.0),
    landscapes: tuple[LandscapeName, ...] | None = None,
    prefix: str = "sim",
) -> list[tuple[AreaOfInterest, SimulationSpec]]:
    """``n`` random square-ish regions (name, polygon, orbit pass) with their simulation specs,
    deterministic in ``seed``: for training data (build them with ``build_archive``)."""
    rng = np.random.default_rng([seed, 99])
    names = landscapes or tuple(LANDSCAPES)
    out: list[tuple[AreaOfInterest, SimulationSpec]] = []
    for i in range(n):
        landscape = names[int(rng.integers(0, len(names)))]
        geometry = random_box(rng, landscape, size_km)
        orbit = ("ascending", "descending", "both")[int(rng.integers(0, 3))]
        area = AreaOfInterest(f"{prefix}-{seed}-{i:04d}", geometry, orbit)  # type: ignore[arg-type]
        spec = SimulationSpec(
            landscape=landscape,
            seed=int(rng.integers(0, 2**31 - 1)),
            relief_scale=float(rng.uniform(0.8, 1.2)),
            cloud_scale=float(rng.uniform(0.5, 1.3)),
        )
        out.append((area, spec))
    return out
