"""The parts every ``dataset`` command shares (:mod:`monitor.ops.dataset`): the scene job, the
report, the event windows, scene ids and atomic JSON records."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from shapely.geometry.base import BaseGeometry

from models.atomic import write_atomically
from models.datasets import first_names, input_path, label_path, provenance_path
from monitor.grid import reproject, utm_crs_for
from monitor.labels import SPLIT_NAMES, label_raster, subpixel
from monitor.sources.base import (
    EVENT,
    AreaOfInterest,
    Compositing,
    DataUnavailable,
    Window,
    event_windows,
)

__all__ = ["DatasetReport", "NotSeenYet", "SceneJob", "buffer_m", "event_windows"]

# the reason a view is skipped (:meth:`SceneJob.unseen`)
NOT_SEEN_YET = "no acquisition after the item's date in the view's post window"


class NotSeenYet(DataUnavailable):
    """A view's windows hold no acquisition after its item's date (:meth:`SceneJob.unseen`)."""


_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
log = logging.getLogger("monitor.ops.dataset")


@dataclass
class SceneJob:
    """One scene to write: where, when, its split group and label geometries (EPSG:4326)."""

    id: str
    area: AreaOfInterest
    pre: Window
    post: Window
    group: str
    positive: list[BaseGeometry] = field(default_factory=list)
    negative: list[BaseGeometry] = field(default_factory=list)
    ignore: list[BaseGeometry] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)  # provenance of the labels
    # the label outside every geometry: 0 (background), or 255 (unknown) with ``known`` the
    # areas of known background (burnt 0 under the ignore, negative and positive geometries)
    background: int = 0
    known: list[BaseGeometry] = field(default_factory=list)
    # how the windows are composited: event mode (Ganerød et al.) for an inventory's items, the
    # region's own for reviewed runs (the views the ensemble saw and the reviews judged)
    compositing: Compositing = EVENT
    # a view of an item: the scene is kept only where its post window uses an acquisition after
    # this day (the item's date); a run before the first look after a slide shows nothing of
    # it, nor does an event view past the source's last acquisition (found in a walk: its post
    # bands all NaN, labelled a landslide), and a label of it there would teach a change the
    # images lack
    seen_after: date | None = None

    def unseen(self, post_dates: Iterable[date]) -> str | None:
        """Why the scene, with these post-window acquisition dates, shows nothing of its
        item yet; None where it can (or the job asks nothing of its dates)."""
        if self.seen_after is None or any(d > self.seen_after for d in post_dates):
            return None
        return (
            f"no acquisition after the item's date {self.seen_after} in the post window "
            f"{self.post} (a Sentinel-2 scene too cloudy to be composited counts as none): the "
            "view shows nothing of it yet"
        )

    def label(self, shape: tuple[int, int], transform: Affine, crs: str) -> np.ndarray:
        """The job's label raster (1, 0, 255) on the grid ``(shape, transform, crs)``; a
        landslide polygon that holds no pixel centre is ignored over the pixels it touches
        (:func:`~monitor.labels.label_raster`), and said so."""
        small = subpixel(self.positive, shape, transform, crs)
        if small:
            # a polygon the tile's edge cuts to a sliver is not a small one (found by a
            # walkthrough: a 1,099 m² slide reaching 40 m² into a neighbouring tile was said
            # to be smaller or thinner than a pixel)
            alone = subpixel([self.positive[i] for i in small], shape, transform, crs, whole=True)
            cut = [i for k, i in enumerate(small) if k not in alone]
            said = []
            if len(small) > len(cut):
                said.append(f"{len(small) - len(cut)} smaller or thinner than a pixel")
            if cut:
                said.append(f"{len(cut)} cut by the tile's edge to a sliver of it")
            log.warning(
                "%s: %d landslide polygon(s) hold no pixel centre (%s): labelled ignore (255) "
                "over the pixels they touch, not landslide",
                self.id, len(small), ", ".join(said),
            )  # fmt: skip
        return label_raster(
            shape,
            transform,
            crs,
            positive=self.positive,
            negative=self.negative,
            ignore=self.ignore,
            known=self.known,
            background=self.background,
            small=small,
        )

    def key(self, source: Mapping[str, Any] | None = None) -> str:
        """What the scene is made of (area, windows, label geometries and ``source``, the
        :func:`~monitor.sources.base.source_identity` of the source that fetches it): a resumed
        scene is reused only while its key is unchanged (a new review decision, another
        archive or other source settings rewrite it)."""
        parts = [
            json.dumps(dict(source or {}), sort_keys=True, default=str),
            self.area.name,
            self.area.geometry.wkt,
            str(self.pre),
            str(self.post),
            *(f"{name}:{g.wkt}" for name in ("positive", "negative", "ignore", "known")
              for g in getattr(self, name)),
        ]  # fmt: skip
        if self.background:
            parts.append(f"background:{self.background}")
        if self.compositing != EVENT:  # event scenes keep the keys they had
            parts.append(f"compositing:{self.compositing.describe()}")
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()


@dataclass
class DatasetReport:
    """What a ``dataset`` command did."""

    out: Path
    written: dict[str, int] = field(default_factory=dict)  # per split
    resumed: int = 0  # scenes already complete
    held: dict[str, int] = field(
        default_factory=dict
    )  # per split: this run's scenes, new or resumed
    exporting: int = 0  # Earth Engine batch tasks started
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    stale: list[str] = field(default_factory=list)  # "split/scene" in the folder, not in the jobs
    pruned: int = 0  # such scenes deleted (--prune)
    prune_refused: bool = False  # --prune given to a run that made no scene: nothing deleted
    empty_splits: list[str] = field(default_factory=list)  # splits no group went to
    groups: dict[str, str] = field(default_factory=dict)  # each job group's split
    # export: what split_by groups by, its groups, and how many are left once those whose
    # scenes share ground (within split_buffer_m) are joined
    joined: tuple[str, int, int] | None = None
    # from-reviews: the reviewed detections' logged filter features per split (rows, one per
    # landslide and run date: positive, negative; of any ensemble: the refit picks its own)
    logged: dict[str, tuple[int, int]] = field(default_factory=dict)

    def format(self) -> str:
        total = sum(self.written.values())
        splits = ", ".join(f"{k} {v}" for k, v in self.written.items() if v) or "none"
        lines = [f"{total} scene(s) written to {self.out} ({splits}); {self.resumed} already done"]
        if self.resumed and any(self.held.values()):
            held = ", ".join(f"{k} {v}" for k, v in self.held.items() if v)
            lines.append(f"this run's scenes in the folder, new and resumed: {held}")
        if self.exporting:
            lines.append(f"{self.exporting} scene(s) exporting as Earth Engine batch tasks")
        for reason, n in self.skipped.items():
            lines.append(f"skipped {n}: {reason}")
        kind, before, after = self.joined or ("", 0, 0)
        if after < before:
            lines.append(
                f"{before - after} of {before} split groups ({kind}s) joined into others: their "
                "scenes share ground or lie within dataset.split_buffer_m of each other, "
                f"whatever their dates, so they share a split ({after} left to split)"
            )
        if self.empty_splits:
            warning = (
                f"WARNING: no scene in {', '.join(f'{s}/' for s in self.empty_splits)}: too few "
                "groups to fill every split (one group, an event or a region as split_by says, "
                "never spans two splits; scenes on shared ground or within split_buffer_m of "
                "each other are one group whatever their dates, and from-reviews makes one per "
                "region and run date), or theirs had no data"
            )
            if after < min(before, len(SPLIT_NAMES)):
                warning += (
                    f"; joining scenes on shared ground left {after} group"
                    f"{'' if after == 1 else 's'} of {before}: the items lie in one area, of "
                    "which no part is independent of the rest, so evaluate on labelled scenes "
                    "of another area (a smaller split_buffer_m splits it, at that cost)"
                )
            lines.append(warning)
        for split, (pos, neg) in self.logged.items():
            lines.append(
                f"{split}/: the filter features of {pos} confirmed and {neg} dismissed "
                "detection(s) (one per landslide and run date), as the runs scored them"
            )
        if self.pruned:
            lines.append(f"{self.pruned} scene(s) of earlier runs not in this one deleted")
        if self.stale:
            listed = first_names(self.stale)
            how = (
                "a run that makes no scene prunes nothing"
                if self.prune_refused
                else "--prune deletes them"
            )
            lines.append(
                f"WARNING: {len(self.stale)} scene(s) in the folder are not of this run and "
                f"would still be read by training and evaluation ({listed}); {how}"
            )
        return "\n".join(lines)

    @property
    def scenes(self) -> int:
        """Scenes this run wrote, found done or started exporting."""
        return sum(self.written.values()) + self.resumed + self.exporting


def scene_files(folder: Path, scene_id: str) -> tuple[Path, Path, Path]:
    """A written scene's files in a split folder: its provenance record (written last: it marks
    the scene complete), input and label."""
    return (
        provenance_path(folder, scene_id),
        input_path(folder, scene_id),
        label_path(folder, scene_id),
    )


def export_files(folder: Path, scene_id: str) -> tuple[Path, Path]:
    """An Earth Engine batch export's files in a split folder, which ``dataset ingest`` turns
    into the scene: the task's record and the label computed at export time."""
    exports = folder / "exports"
    return exports / f"{scene_id}.json", exports / f"{scene_id}_label.npy"


def remove_files(*paths: Path) -> None:
    """Delete ``paths`` where they exist."""
    for path in paths:
        path.unlink(missing_ok=True)


def _safe(text: str) -> str:
    return _SAFE.sub("_", text).strip("_")[:120]


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    # a temporary name of its own, never one a link could be planted at (found in a security
    # walkthrough: `X.json.part` was written through whatever it named)
    text = json.dumps(data, indent=1, default=str) + "\n"
    write_atomically(path, lambda tmp: tmp.write_text(text))


def buffer_m(metres: float) -> Callable[[BaseGeometry], BaseGeometry]:
    """A function that widens a lon/lat geometry by ``metres`` (in the UTM zone of its
    centroid); ``metres`` <= 0 leaves it as it is."""

    def buffer(geometry: BaseGeometry) -> BaseGeometry:
        if metres <= 0:
            return geometry
        c = geometry.centroid
        crs = utm_crs_for(c.x, c.y)
        return reproject(reproject(geometry, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")

    return buffer
