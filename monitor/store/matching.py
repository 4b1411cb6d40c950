"""Same landslide or new one: the spatial matching of one run's detections against the
inventory's landslides (the rules are in :mod:`monitor.store.inventory`'s docstring).

Pure geometry, no SQL: :class:`Matcher` takes the landslides already known (:class:`Known`,
loaded by :func:`monitor.store.landslides.load_known`), searches them coarsely on lon/lat
envelopes (an STRtree) and exactly in metres, and creates a :class:`Known` for each detection
that matches nothing; later detections of the same run can match those (a grid index, since an
STRtree cannot grow). Every landslide a detection matched comes back with its matches.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.geometry import MultiPolygon
from shapely.geometry.base import BaseGeometry

from monitor.grid import multipolygon, reproject
from monitor.store.records import InventoryError, RegionDetections

__all__ = ["MATCH_TOLERANCE_M", "GridIndex", "Known", "Matcher", "epsg_of"]

#: How near (metres, in the landslide's local grid) a detection must lie to a known landslide
#: to be taken for it: the inventory's default, and what a run's pictures treat as known.
MATCH_TOLERANCE_M = 10.0

Bounds = tuple[float, float, float, float]
# A detection that covers this share of an alerted landslide's footprint (within the tolerance)
# updates it rather than the landslide it overlaps most (Matcher._match).
_COVERED_SHARE = 0.5


def epsg_of(det: RegionDetections) -> int:
    """The EPSG code of a region's candidates, which must be in a metric (grid) CRS."""
    crs = det.candidates.crs if det.candidates is not None else None
    if crs is None:
        raise InventoryError(f"region {det.region!r}: candidates have no CRS (expected the grid's)")
    epsg = CRS.from_user_input(crs).to_epsg()
    if epsg is None:
        raise InventoryError(f"region {det.region!r}: candidates' CRS {crs} has no EPSG code")
    if CRS.from_epsg(epsg).is_geographic:
        raise InventoryError(
            f"region {det.region!r}: candidates are in geographic EPSG:{epsg}; expected the "
            "region's metric grid CRS"
        )
    return epsg


@dataclass(eq=False)
class Known:
    """A landslide while an ``apply`` runs (loaded, or created earlier in the same run)."""

    fid: int | None
    uid: str
    region: str
    status: str
    epsg: int
    local: BaseGeometry
    area_m2: float
    revision_area_m2: float
    revision_local: BaseGeometry | None  # the footprint at the last revision (None: not kept)
    revision: int
    first_seen: str
    last_seen: str
    times_seen: int
    wgs84_bounds: BaseGeometry | None = None  # envelope in lon/lat, for the coarse search
    matches: list[tuple[BaseGeometry, dict[str, Any]]] = field(default_factory=list)
    created_now: bool = False
    alerted: bool = False  # alerted as new in an earlier run (``alerted_on``)
    slot: int = -1  # position among the landslides created by this apply
    # the same ground's landslides of other regions (overlapping regions keep an entry each):
    # a channel that one of them alerted is not alerted again (monitor.store.landslides)
    twins: list[Known] = field(default_factory=list)


class GridIndex:
    """Lon/lat grid buckets of the landslides created during one ``apply`` (an STRtree cannot
    grow); cells of ``cell_deg`` degrees."""

    def __init__(self, cell_deg: float = 0.01) -> None:
        self.cell = cell_deg
        self.cells: dict[tuple[int, int], set[int]] = {}

    def _keys(self, bounds: Bounds) -> list[tuple[int, int]]:
        x0, y0, x1, y1 = (int(np.floor(v / self.cell)) for v in bounds)
        return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]

    def insert(self, slot: int, bounds: Bounds) -> None:
        for key in self._keys(bounds):
            self.cells.setdefault(key, set()).add(slot)

    def query(self, bounds: Bounds) -> set[int]:
        found: set[int] = set()
        for key in self._keys(bounds):
            found |= self.cells.get(key, set())
        return found


class Matcher:
    """Matches one run's detections to the ``known`` landslides within ``tolerance_m``."""

    def __init__(self, known: list[Known], tolerance_m: float) -> None:
        self.known = known
        self.tolerance_m = tolerance_m
        self.tree = shapely.STRtree([k.wgs84_bounds for k in known]) if known else None
        self.created: list[Known] = []
        self.created_index = GridIndex()

    def assign(self, detections: Sequence[RegionDetections], run_date: date) -> list[Known]:
        """Attach every candidate of ``detections`` to the landslide it belongs to, creating
        landslides for the unmatched; returns the landslides with matches, known ones first."""
        for det in detections:
            if det.status != "ok" or det.candidates is None or det.candidates.empty:
                continue
            epsg = epsg_of(det)
            attributes = pd.DataFrame(det.candidates.drop(columns=det.candidates.geometry.name))
            for geometry, row in zip(
                det.candidates.geometry, attributes.to_dict("records"), strict=True
            ):
                if geometry is None or geometry.is_empty:
                    continue
                self._add(multipolygon(geometry), epsg, row, det.region, run_date)
        return [k for k in (*self.known, *self.created) if k.matches]

    def _add(
        self, geometry: BaseGeometry, epsg: int, row: dict[str, Any], region: str, run_date: date
    ) -> None:
        window = self._search_window(geometry, epsg)
        target, others = self._match(geometry, epsg, window, region)
        if target is None:
            target = Known(
                fid=None,
                uid=str(uuid.uuid4()),
                region=region,
                status="candidate",
                epsg=epsg,
                local=MultiPolygon(),
                area_m2=0.0,
                revision_area_m2=0.0,
                revision_local=None,
                revision=0,
                first_seen=run_date.isoformat(),
                last_seen=run_date.isoformat(),
                times_seen=0,
                created_now=True,
                slot=len(self.created),
            )
            self.created.append(target)
        for other in others:
            if other not in target.twins:
                target.twins.append(other)
                other.twins.append(target)
        own = reproject(geometry, epsg, target.epsg)
        target.matches.append((own, row))
        if target.created_now:  # its footprint so far, for the next candidates
            target.local = shapely.union(target.local, own)
            self.created_index.insert(target.slot, window.bounds)

    def _search_window(self, geometry: BaseGeometry, epsg: int) -> BaseGeometry:
        """Lon/lat box around ``geometry`` padded by the tolerance (taken generously)."""
        west, south, east, north = reproject(geometry, epsg, 4326).bounds
        lat = min(max(abs(south), abs(north)), 89.0)
        pad = 2.0 * self.tolerance_m / (111_000.0 * max(np.cos(np.radians(lat)), 0.01))
        return shapely.box(west - pad, south - pad, east + pad, north + pad)

    def _match(
        self, geometry: BaseGeometry, epsg: int, window: BaseGeometry, region: str
    ) -> tuple[Known | None, list[Known]]:
        """The landslide of ``region`` that ``geometry`` (in EPSG ``epsg``) belongs to (None
        when it is new), and the landslides of other regions it lies on. Of the region's
        landslides within the tolerance, the one it overlaps most; but where that one was not
        alerted and it covers half or more of one that was, that one (the largest such
        overlap).

        Coarse search on lon/lat envelopes inside ``window``, then the exact test in metres.
        Only the region's own landslides match: where regions overlap, a landslide is an entry
        of each, alerted to each region's own recipients (matched across regions, the second
        region's detection joined the first's entry, and its recipients were never told); a
        recipient both regions share is alerted once (the twins)."""
        tol = self.tolerance_m
        pool: list[Known] = []
        if self.tree is not None:
            pool.extend(self.known[i] for i in self.tree.query(window, predicate="intersects"))
        pool.extend(self.created[i] for i in sorted(self.created_index.query(window.bounds)))
        best: Known | None = None
        best_overlap = (-1.0, -1.0)
        covered: Known | None = None  # the alerted landslide it covers most, if any
        covered_overlap = -1.0
        others: list[Known] = []
        grown = geometry.buffer(tol)
        for item in pool:
            local = reproject(item.local, item.epsg, epsg)
            if not shapely.dwithin(local, geometry, tol):
                continue
            if item.region != region:
                others.append(item)
                continue
            overlap = local.intersection(grown).area
            # the one it overlaps most: by the detection's area inside the footprint, then
            # (a detection beside every footprint, within the tolerance) inside the footprint
            # grown by it. Not the footprint's area within the detection grown by the
            # tolerance, which a larger neighbour wins by the ring around the detection: a
            # date run again after a later one matched its detection to the neighbour that had
            # grown over it since, and the landslide it had drawn was absorbed (found in a walk)
            overlap_inside = geometry.intersection(local).area
            inside = (
                # a sliver (under half a tolerance square: a corner clipped by the outlines'
                # simplification) is nearness, not overlap: it lost to a long shared edge
                overlap_inside if overlap_inside >= 0.5 * tol * tol else 0.0,
                geometry.intersection(local.buffer(tol)).area,
            )
            if inside > best_overlap:
                best, best_overlap = item, inside
            if (
                item.alerted
                and item.status != "dismissed"
                and overlap >= _COVERED_SHARE * local.area > 0
                and overlap > covered_overlap
            ):
                covered, covered_overlap = item, overlap
        # a landslide first drawn in pieces, some of them alerted: the detection that covers
        # an alerted piece is its growth, not a landslide new again, unless the landslide it
        # overlaps most was alerted itself
        if covered is not None and best is not None and not best.alerted:
            best = covered
        return best, others
