"""What the inventory takes and gives: a region's detections of a run in
(:class:`RegionDetections`), what the run did to each landslide out (:class:`Change`,
:class:`Changes`), and the status types of its tables.

Each status type is a ``Literal``; the tuples of allowed values (and the tables' SQL ``CHECK``
lists) are derived from it, so a status is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, get_args

import geopandas as gpd

__all__ = [
    "CHANGE_KINDS",
    "LANDSLIDE_STATUSES",
    "REGION_STATUSES",
    "RUN_STATUSES",
    "Change",
    "ChangeKind",
    "Changes",
    "InventoryError",
    "LandslideStatus",
    "RegionDetections",
    "RegionStatus",
    "RunStatus",
]

LandslideStatus = Literal["candidate", "confirmed", "dismissed"]
RegionStatus = Literal["ok", "no-data", "failed"]
ChangeKind = Literal["new", "grown", "seen"]
RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]

LANDSLIDE_STATUSES: tuple[LandslideStatus, ...] = get_args(LandslideStatus)
REGION_STATUSES: tuple[RegionStatus, ...] = get_args(RegionStatus)
CHANGE_KINDS: tuple[ChangeKind, ...] = get_args(ChangeKind)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)


class InventoryError(RuntimeError):
    """A request the inventory cannot honour (names the run, landslide or region)."""


@dataclass
class RegionDetections:
    """One region's outcome of a run, as ``monitor.run.detect_region`` builds it.

    ``candidates`` is a GeoDataFrame in the region's grid CRS with the columns of
    ``monitor.pipeline.vectorise.CANDIDATE_COLUMNS`` and, when rendered, a ``quicklook`` path
    column.
    ``status`` is ``no-data`` when the source had nothing usable, ``failed`` on an error
    (``message`` says which); then ``candidates`` may be None."""

    region: str
    status: RegionStatus = "ok"
    message: str = ""
    setting: str | None = None
    candidates: gpd.GeoDataFrame | None = None
    # the windows, compositing and orbit pass the run read (monitor.store.runs.views_record),
    # written as JSON in run_regions.views by the store, which reads it back (run_views)
    views: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.status not in REGION_STATUSES:
            *first, last = REGION_STATUSES
            raise InventoryError(
                f"region {self.region!r}: status {self.status!r} is not "
                f"{', '.join(first)} or {last}"
            )


@dataclass(frozen=True)
class Change:
    """What a run did to one landslide."""

    fid: int
    uid: str
    region: str
    kind: ChangeKind
    area_m2: float
    previous_area_m2: float | None
    alerts_queued: int = 0


@dataclass
class Changes:
    """The outcome of :meth:`monitor.store.inventory.Inventory.apply`."""

    run_id: int
    run_date: date
    changes: list[Change] = field(default_factory=list)
    regions: dict[str, str] = field(default_factory=dict)

    def _of(self, kind: ChangeKind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def new(self) -> list[Change]:
        return self._of("new")

    @property
    def grown(self) -> list[Change]:
        return self._of("grown")

    @property
    def seen(self) -> list[Change]:
        return self._of("seen")

    @property
    def alerts_queued(self) -> int:
        return sum(c.alerts_queued for c in self.changes)

    def __str__(self) -> str:
        return (
            f"run {self.run_id} ({self.run_date}): {len(self.new)} new, {len(self.grown)} grown, "
            f"{len(self.seen)} seen; {self.alerts_queued} alerts queued"
        )
