"""Evaluation: a region's candidates scored, object by object, against the true events of a
source that knows them.

A source offers its ground truth by having a ``ground_truth(region)`` method
(:class:`GroundTruth`, checked with ``isinstance``): the simulator's archive does, Earth Engine
and an archive of real exports do not. Scores are object-level (:class:`Evaluation`): an event
is detected when a candidate touches it, a candidate is a false alarm when it touches none.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from monitor._dates import as_day
from monitor.sources.base import Window

__all__ = [
    "Evaluation",
    "GroundTruth",
    "SensorLooks",
    "detected_events",
    "evaluate",
    "region_truth",
    "touching",
]

log = logging.getLogger(__name__)


@runtime_checkable
class GroundTruth(Protocol):
    """A source that knows the true events of its regions: ``ground_truth(region)`` is a
    GeoDataFrame in EPSG:4326 with an ``event_date`` column (and ``kind`` where look-alikes are
    listed too). It raises :class:`LookupError` or :class:`OSError` for a region it has none of."""

    def ground_truth(self, region: str, /) -> gpd.GeoDataFrame: ...


@runtime_checkable
class SensorLooks(Protocol):
    """A source that can say when its sensors could first have shown an event:
    ``first_looks(region, events, orbit_pass)`` has, per row of ``events``, ``first_clear_s2``
    and ``second_s1`` (dates or None); the archive's is
    :meth:`monitor.sources.archive.ArchiveSource.first_looks`."""

    def first_looks(
        self, region_name: str, events: gpd.GeoDataFrame, orbit_pass: str | None = None, /
    ) -> pd.DataFrame: ...


@dataclass(frozen=True)
class Evaluation:
    """Object-level scores of one region's candidates against the source's ground truth.

    ``events``: simulated landslides whose event date lies between the end of the pre window and
    the end of the post window; ``detected``: those touched by at least one candidate;
    ``false_alarms``: candidates touching none of them (look-alikes, older scars, noise);
    ``on_older_landslides``: how many of the false alarms touch a landslide of the pre window
    (event date from its start to its end; candidates, not landslides, are counted). The
    comparison can show such a landslide when the baseline's view of the slope predates it;
    it is a real landslide, found late, not a look-alike, and an operator who reviews it
    confirms it. ``on_no_landslide`` (``false_alarms - on_older_landslides``) is what touches
    no landslide of the images' whole span."""

    events: int
    detected: int
    candidates: int
    false_alarms: int
    on_older_landslides: int = 0

    @property
    def recall(self) -> float | None:
        return self.detected / self.events if self.events else None

    def __add__(self, other: Evaluation) -> Evaluation:
        return Evaluation(
            self.events + other.events,
            self.detected + other.detected,
            self.candidates + other.candidates,
            self.false_alarms + other.false_alarms,
            self.on_older_landslides + other.on_older_landslides,
        )

    @property
    def on_no_landslide(self) -> int:
        """Candidates touching no landslide of the pre or the post window."""
        return self.false_alarms - self.on_older_landslides


def _by_window(
    truth: gpd.GeoDataFrame, pre: Window, post: Window
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The landslides of ``truth`` whose event falls from the end of the pre window to the end
    of the post window (what a run should find), and those of the pre window (older)."""
    if "kind" in truth.columns:
        truth = truth[truth["kind"] == "landslide"]
    dates = truth["event_date"].map(lambda v: as_day(v, "ground truth event_date"))
    return truth[(dates >= pre.end) & (dates < post.end)], truth[
        (dates >= pre.start) & (dates < pre.end)
    ]


def _touches(found: gpd.GeoSeries, events: gpd.GeoDataFrame) -> tuple[np.ndarray, set[int]]:
    """The positions in ``events`` of those a candidate of ``found`` touches, and the positions
    in ``found`` of the candidates that touch one."""
    if events.empty or found.empty:
        return np.zeros(0, np.int64), set()
    event_idx, candidate_idx = found.sindex.query(
        events.to_crs(found.crs).geometry.reset_index(drop=True), predicate="intersects"
    )
    return np.unique(event_idx), set(candidate_idx.tolist())


def evaluate(
    candidates: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, pre: Window, post: Window
) -> Evaluation:
    """Score ``candidates`` (grid CRS) against ground truth (EPSG:4326, ``event_date``, and
    ``kind`` where look-alikes are listed too)."""
    in_window, older = _by_window(truth, pre, post)
    if candidates.empty:
        return Evaluation(len(in_window), 0, 0, 0)
    found = candidates.geometry.reset_index(drop=True)
    detected, hit = _touches(found, in_window)
    on_older = _touches(found, older)[1] - hit
    return Evaluation(
        len(in_window), len(detected), len(found), len(found) - len(hit), len(on_older)
    )


def detected_events(
    candidates: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, pre: Window, post: Window
) -> list[Hashable]:
    """The index labels in ``truth`` of the landslides :func:`evaluate` counts as detected by
    ``candidates``: to pair two chains' scores on the same events, landslide by landslide."""
    in_window, _ = _by_window(truth, pre, post)
    positions, _ = _touches(candidates.geometry.reset_index(drop=True), in_window)
    return [in_window.index[int(i)] for i in positions]


def region_truth(
    source: GroundTruth, region: str, polygon: BaseGeometry | None = None
) -> gpd.GeoDataFrame | None:
    """``source``'s ground truth of ``region`` (the events that touch its ``polygon``, lon/lat,
    where given: the run keeps only candidates that do), to :func:`evaluate` against; None when
    the source has none for it (an archive of real exports)."""
    try:
        events = source.ground_truth(region)
    except (LookupError, OSError) as exc:
        log.debug("%s: no ground truth to score against: %s", region, exc)
        return None
    return touching(events, polygon) if polygon is not None else events


def touching(events: gpd.GeoDataFrame, polygon: BaseGeometry) -> gpd.GeoDataFrame:
    """The true events (EPSG:4326) that touch a region's ``polygon``: those its runs can
    detect, since a run keeps only the candidates that touch it (:func:`monitor.run.within_region`;
    the stack covers the polygon's bounding box)."""
    return events[events.intersects(polygon)]
