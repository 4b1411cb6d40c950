"""The acquisition seam: what every data source (archive, Earth Engine) offers the run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, Protocol

import xarray as xr
from shapely.geometry.base import BaseGeometry

__all__ = ["AreaOfInterest", "DataUnavailable", "OrbitPass", "Source", "Window"]

OrbitPass = Literal["ascending", "descending", "both"]


@dataclass(frozen=True)
class Window:
    """A date window, ``start`` inclusive and ``end`` exclusive (as ee.Filter.date)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class AreaOfInterest:
    """What a source needs to know of a watched region."""

    name: str
    geometry: BaseGeometry  # EPSG:4326 lon/lat
    orbit_pass: OrbitPass = "both"


class DataUnavailable(RuntimeError):
    """No usable acquisition at all for a region and window (names region, sensor and window).

    A source raises this only when neither sensor has data; a missing optical or radar part
    alone is reported in the stack's ``status`` attribute and its bands are NaN."""


class Source(Protocol):
    """An acquisition backend. ``features`` returns a stack that satisfies
    :func:`models.feature_stack.validate`, on :func:`monitor.grid.region_grid` of the area."""

    name: str

    def features(self, area: AreaOfInterest, pre: Window, post: Window) -> xr.Dataset: ...
