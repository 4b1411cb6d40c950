"""Small simulated regions shared by the archive tests."""

from __future__ import annotations

from datetime import date

from shapely.geometry import box

from monitor.simulator import ArchiveSimulation, SimulationSpec
from monitor.sources.base import AreaOfInterest, Window

SIMULATION = ArchiveSimulation(
    start=date(2024, 6, 1), end=date(2024, 10, 1), storms=(date(2024, 8, 17),)
)
PRE = Window(date(2024, 6, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))


def small_area(name: str, lon: float, lat: float, orbit_pass: str = "both") -> AreaOfInterest:
    """A square of about 2.2 km x 2.2 km."""
    return AreaOfInterest(name, box(lon, lat, lon + 0.028, lat + 0.02), orbit_pass)  # type: ignore[arg-type]


REGIONS = [
    (
        small_area("hills", 10.90, 44.34),
        SimulationSpec(landscape="agricultural_hills", seed=5, landslide_rate_scale=6.0),
    ),
    (
        small_area("ghats", 76.13, 11.46, "descending"),
        SimulationSpec(landscape="forested_mountains", seed=8, landslide_rate_scale=6.0),
    ),
]
