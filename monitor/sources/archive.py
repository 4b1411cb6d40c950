"""The embedded archive: raw Sentinel-1/2 acquisitions on disk, queried like an ImageCollection
and composited locally into the feature stack.

Layout (one folder per region, see ``docs/archive.md``)::

    <archive>/regions/<region>/
        region.json        name, polygon, grid, tracks, how it was made (spec digest)
        catalog.csv        one row per acquisition: sensor, date, index, orbit pass, track, ...
        data.zarr/         static/{elevation,landcover,canopy_height,kg_climate}
                           s2/reflectance (T,6,H,W) uint16 DN, s2/cloud_probability (T,H,W) uint8
                           s1/sigma0 (T,2,H,W) int16 centi-dB, s1/angle (tracks,H,W) float32
        ground_truth.gpkg  simulated landslides and look-alikes (EPSG:4326)

:class:`ArchiveSource` reads it. It is written through
:class:`~monitor.sources.archive_writer.RegionWriter`: by real exports, or by the simulator's
:func:`monitor.simulator.build_archive`, of which this reader knows nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
import zarr
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from models.datasets import first_names
from models.feature_stack import S1_INCIDENCE_RANGE_DEG
from models.stack_assembly import assemble_stack
from monitor.grid import PROGRESS_PIXELS, Grid, region_grid
from monitor.sources.archive_composite import (
    TRUE_COLOUR,
    RadarOptions,
    S2Composite,
    UnreadableArray,
    pass_dates,
    read_static,
    s1_composites,
    s2_composite,
    stack_layers,
)
from monitor.sources.archive_writer import (
    CATALOG_COLUMNS,
    RegionWriter,
    TrackInfo,
    read_meta,
    recover_commits,
    region_dir,
)
from monitor.sources.base import (
    EVENT,
    AreaOfInterest,
    Compositing,
    DataUnavailable,
    Window,
    data_status,
    stack_attrs,
    stale_post_note,
)
from monitor.sources.composite import CloudMaskParams
from monitor.sources.terrain_flattening import TerrainModel

__all__ = [
    "ArchiveError",
    "ArchiveSource",
    "RegionWriter",
    "Sensor",
    "TrackInfo",
]

log = logging.getLogger(__name__)

# How long after each event :meth:`ArchiveSource.first_looks` looks for its acquisitions.
LOOK_HORIZON_DAYS = 120

Sensor = Literal["S1", "S2"]


_MOVED = (
    "the configured polygon is not the one archived: check its coordinates (longitude first, "
    "then latitude, in degrees) and its file's CRS, or write the region again for the new "
    "polygon (`landslide-monitor archive build` for a simulated region, RegionWriter for your "
    "exports, docs/archive.md)"
)


class ArchiveError(LookupError):
    """The archive lacks a region, or a region's files are missing, inconsistent or damaged."""


def _stored_grid(name: str, meta: dict[str, Any]) -> Grid:
    """The archived grid of region ``name`` from its ``region.json``."""
    try:
        return Grid.from_record(meta["grid"])
    except (KeyError, TypeError) as exc:
        raise ArchiveError(
            f"region {name!r}: its region.json holds no grid ({exc!r}); write the region again "
            "(docs/archive.md)"
        ) from exc


def _polygon_grid(
    name: str, stored: Grid, geometry: BaseGeometry
) -> tuple[Grid, tuple[slice, slice]]:
    """The grid of region ``name``'s polygon ``geometry`` within its archived grid ``stored``,
    and the rows and columns of ``stored`` it covers (:func:`_window_slices`).

    A region written before 2026-12-07 holds the grid of its polygon's corners
    (:func:`monitor.grid.region_grid`, ``corners_only``), which a polygon with long edges
    bulges past: that grid is read then, with a warning naming what of the polygon lies
    outside it (never watched) and how to write the region again."""
    grid = region_grid(geometry)
    try:
        return grid, _window_slices(name, stored, grid)
    except ArchiveError as refused:
        legacy = region_grid(geometry, corners_only=True)
        if legacy == grid:
            raise
        try:
            slices = _window_slices(name, stored, legacy)
        except ArchiveError:
            raise refused from None
    if name not in _LEGACY_WARNED:
        _LEGACY_WARNED.add(name)
        missed = grid.project(geometry).difference(box(*legacy.bounds)).area / 1e6
        log.warning(
            "region %r: the archive holds it on the grid of its polygon's corners (written "
            "before 2026-12-07), which leaves %.2f km² of the polygon along its long edges "
            "outside the stack, never watched; write the region again to cover it "
            "(`landslide-monitor archive build` rebuilds a simulated one, RegionWriter your "
            "exports: docs/archive.md)",
            name,
            missed,
        )
    return legacy, slices


# the regions warned of as read on a grid of their corners, once per process
_LEGACY_WARNED: set[str] = set()


def _window_slices(name: str, stored: Grid, grid: Grid) -> tuple[slice, slice]:
    """The rows and columns of the archived grid ``stored`` of region ``name`` that the
    polygon's ``grid`` covers; an :class:`ArchiveError` where it is not inside them."""
    if grid.crs != stored.crs:
        raise ArchiveError(
            f"region {name!r}: the polygon's grid is in {grid.crs} but the archive "
            f"holds {stored.crs}; {_MOVED}"
        )
    col0 = round((grid.x0 - stored.x0) / stored.res)
    row0 = round((stored.y0 - grid.y0) / stored.res)
    if (
        col0 < 0
        or row0 < 0
        or col0 + grid.width > stored.width
        or (row0 + grid.height > stored.height)
    ):
        raise ArchiveError(
            f"region {name!r}: the polygon's grid {grid.bounds} is not inside the "
            f"archived grid {stored.bounds}; {_MOVED}"
        )
    return slice(row0, row0 + grid.height), slice(col0, col0 + grid.width)


# ------------------------------------------------------------------------------------ read


def _stamp(region: Path) -> int:
    """The mtime of the region's ``region.json`` (ns); -1 where there is none."""
    try:
        return (region / "region.json").stat().st_mtime_ns
    except FileNotFoundError:
        return -1


@dataclass(frozen=True)
class _Region:
    name: str
    path: Path
    stamp: int  # mtime of region.json when read: a rebuilt region is read again
    digest: str  # SHA-256 of region.json and catalog.csv as read (the source's identity)
    meta: dict[str, Any]
    grid: Grid
    catalog: pd.DataFrame
    root: zarr.Group


class ArchiveSource:
    """The embedded archive as a :class:`~monitor.sources.base.Source`.

    ``terrain_model`` picks the Vollrath et al. (2020) slope-correction model: ``"landcover"``
    (default, as Ganerød et al.: volume model on vegetated WorldCover classes, surface model
    elsewhere), ``"volume"`` or ``"surface"`` everywhere. ``layover_shadow_buffer_m`` widens the
    layover/shadow mask; Sentinel-1 pixels whose incidence angle lies outside
    ``incidence_range_deg`` (the swath edges, where GRD border noise lives) are dropped, as the
    Earth Engine pre-processing does (``None`` keeps every angle). ``cloud_mask`` sets the
    Sentinel-2 cloud/shadow thresholds."""

    name = "archive"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        terrain_model: TerrainModel | Literal["landcover"] = "landcover",
        cloud_mask: CloudMaskParams | None = None,
        layover_shadow_buffer_m: float = 0.0,
        incidence_range_deg: tuple[float, float] | None = S1_INCIDENCE_RANGE_DEG,
    ) -> None:
        self.path = Path(path)
        self.terrain_model = terrain_model
        self.layover_shadow_buffer_m = layover_shadow_buffer_m
        self.incidence_range_deg = incidence_range_deg
        self.cloud_mask = cloud_mask or CloudMaskParams()
        self._regions: dict[str, _Region] = {}

    def __getstate__(self) -> dict[str, Any]:
        # picklable for process pools and Dask workers: the open regions are reopened there
        return {**self.__dict__, "_regions": {}}

    # ------------------------------------------------------------------ catalog

    def regions(self) -> list[str]:
        base = self.path / "regions"
        if not base.is_dir():
            return []
        recover_commits(base)
        return sorted(
            p.name
            for p in base.iterdir()
            # a writer's temporary folders and the version its commit moves aside are hidden
            if not p.name.startswith(".") and (p / "region.json").is_file()
        )

    def unreadable(self) -> str | None:
        """Why the archive cannot be read at all (its folder missing, or a file), naming
        ``source.path``; None where it is a folder."""
        if self.path.is_dir():
            return None
        state = "is not a folder" if self.path.exists() else "does not exist"
        return (
            f"source.path: the archive folder {self.path} {state} (a relative path is read "
            "from base_dir, by default the configuration file's folder); build it with "
            "`landslide-monitor archive build --config ...` or write regions into it with "
            "RegionWriter (docs/archive.md)"
        )

    def absent(self, names: Collection[str]) -> str | None:
        """Which of the regions ``names`` the archive does not hold, with those it holds and how
        to add them; None where it holds them all."""
        held = self.regions()
        missing = [name for name in names if name not in held]
        if not missing:
            return None
        one = len(missing) == 1
        # the first names alone: each region's failure, in a run's log and every status line,
        # listed the whole archive (found by an agency's walk: 900 characters a line, 287 kB
        # of a run's stderr for 164 regions missing from 52)
        quoted = [repr(name) for name in missing]
        named = (
            f"region {quoted[0]}" if one else f"{len(missing)} regions {first_names(quoted, 10)}"
        )
        there = f"{len(held)}: {first_names(list(held), 10)}" if held else "none"
        it = "it" if one else "them"
        return (
            f"{named} {'is' if one else 'are'} not in the archive {self.path} (regions there, "
            f"{there}); simulate {it} with `landslide-monitor archive build "
            f"--config ...` (a region with a `simulation` block), or write {it} from real "
            "exports with RegionWriter (docs/archive.md)"
        )

    def misplaced(self, areas: Collection[AreaOfInterest]) -> list[str]:
        """For each of ``areas`` that the archive holds, why a run could not read it: its
        polygon's grid outside the archived one (in another UTM zone where latitude and
        longitude were swapped, a polygon moved or grown since it was written). What
        :meth:`features` would raise, found from the regions' ``region.json`` alone."""
        problems = []
        for area in areas:
            meta = read_meta(region_dir(self.path, area.name))
            if meta is None:
                continue  # absent() says so
            try:
                _polygon_grid(area.name, _stored_grid(area.name, meta), area.geometry)
            except ArchiveError as err:
                problems.append(str(err))
        return problems

    def _region(self, name: str) -> _Region:
        path = region_dir(self.path, name)
        cached = self._regions.get(name)
        if cached is not None and cached.stamp == _stamp(path):
            return cached
        recover_commits(path.parent, name)
        stamp = _stamp(path)
        meta = read_meta(path)
        if meta is None:
            raise ArchiveError(self.unreadable() or self.absent([name]) or f"region {name!r}")
        try:
            raw = (path / "catalog.csv").read_bytes()
            root = zarr.open_group(path / "data.zarr", mode="r")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise ArchiveError(f"region {name!r} in {path} is incomplete: {exc}") from exc
        catalog = pd.read_csv(io.BytesIO(raw))
        catalog["date"] = pd.to_datetime(catalog["date"]).dt.date
        digest = hashlib.sha256((path / "region.json").read_bytes() + raw).hexdigest()
        region = _Region(name, path, stamp, digest, meta, _stored_grid(name, meta), catalog, root)
        self._regions[name] = region
        return region

    def catalog(
        self,
        region: str | None = None,
        window: Window | None = None,
        sensor: Sensor | None = None,
        orbit_pass: str | None = None,
    ) -> pd.DataFrame:
        """Acquisitions matching every given filter (``orbit_pass`` "both" or None: any), sorted
        by region, sensor and date, with a ``region`` column."""
        names = [region] if region is not None else self.regions()
        frames = []
        for name in names:
            cat = self._region(name).catalog.assign(region=name)
            if window is not None:
                cat = cat[(cat["date"] >= window.start) & (cat["date"] < window.end)]
            if sensor is not None:
                cat = cat[cat["sensor"] == sensor]
            if orbit_pass not in (None, "both"):
                cat = cat[(cat["sensor"] != "S1") | (cat["orbit_pass"] == orbit_pass)]
            frames.append(cat)
        if not frames:
            return pd.DataFrame(columns=["region", *CATALOG_COLUMNS])
        out = pd.concat(frames, ignore_index=True)
        return out.sort_values(["region", "sensor", "date", "index"], ignore_index=True)

    def identity(self, area: AreaOfInterest) -> dict[str, Any]:
        """What decides this source's stacks of ``area`` besides the windows
        (:func:`monitor.sources.base.source_identity`): the archive's folder, the SHA-256 of the
        region's ``region.json`` and ``catalog.csv`` (a region rebuilt or written again from
        other exports reads differently) and the compositing options. A region the archive
        lacks has ``"region": None`` (its stacks cannot be built). Read with the region, once
        while ``region.json`` is unchanged."""
        try:
            region: str | None = self._region(area.name).digest
        except (ArchiveError, OSError):  # no such region, or unreadable: no stacks either
            region = None
        return {
            "path": str(self.path.resolve()),
            "region": region,
            "terrain_model": str(self.terrain_model),
            "layover_shadow_buffer_m": self.layover_shadow_buffer_m,
            "incidence_range_deg": (
                list(self.incidence_range_deg) if self.incidence_range_deg else None
            ),
            "cloud_mask": asdict(self.cloud_mask),
        }

    def first_acquisition(self, area: AreaOfInterest) -> date | None:
        """The first acquisition date of the region in the archive; None when the archive has
        no such region or no acquisition (the run then reports the region itself)."""
        return self._catalog_dates(area, min)

    def last_acquisition(self, area: AreaOfInterest) -> date | None:
        """The newest acquisition date of the region in the archive (of either sensor, any
        orbit pass); None as :meth:`first_acquisition`."""
        return self._catalog_dates(area, max)

    def _catalog_dates(
        self, area: AreaOfInterest, pick: Callable[[Iterable[date]], date]
    ) -> date | None:
        try:
            dates = self._region(area.name).catalog["date"]
        except LookupError:
            return None
        return None if dates.empty else pick(dates)

    def ground_truth(
        self, region_name: str, kinds: Sequence[str] | None = ("landslide",)
    ) -> gpd.GeoDataFrame:
        """Simulated events of a region (EPSG:4326): ``kind``, ``event_date``, ``area_m2``.
        By default only landslides; ``kinds=None`` adds the look-alikes (``clear_cut``,
        ``water_level``)."""
        region = self._region(region_name)
        path = region.path / "ground_truth.gpkg"
        if not path.is_file():
            raise ArchiveError(f"region {region_name!r} has no ground truth ({path})")
        truth = gpd.read_file(path, layer="events")
        truth["event_date"] = pd.to_datetime(truth["event_date"]).dt.date
        if kinds is not None:
            truth = truth[truth["kind"].isin(list(kinds))].reset_index(drop=True)
        return truth

    def first_looks(
        self, region_name: str, events: gpd.GeoDataFrame, orbit_pass: str | None = None
    ) -> pd.DataFrame:
        """When the sensors could first have shown each of ``events`` (EPSG:4326, with an
        ``event_date``), whatever a detector makes of it: ``first_clear_s2``, the first Sentinel-2
        acquisition on or after the event day on which at least half of its pixels are clear
        (this source's cloud and shadow mask), and ``second_s1``, the second Sentinel-1
        acquisition on or after it (of ``orbit_pass``, whatever the footprint's layover, shadow
        or incidence angle in it; the second look that confirms a radar-only detection,
        :mod:`monitor.pipeline.dating`). None where the archive holds no such acquisition."""
        region = self._region(region_name)
        out = pd.DataFrame(
            {"first_clear_s2": [None] * len(events), "second_s1": [None] * len(events)},
            index=events.index,
            dtype=object,
        )
        if not len(events):
            return out
        horizon = timedelta(days=LOOK_HORIZON_DAYS)
        first_day, last_day = min(events["event_date"]), max(events["event_date"])
        s1 = self.catalog(region_name, sensor="S1", orbit_pass=orbit_pass)
        # one look per pass: its slices (a region on a slice boundary, or on both sides of
        # 00:00 UTC) are one acquisition, as the composites count them
        passes = pd.DataFrame(
            {"date": pass_dates(list(s1["date"]), list(s1["track"])), "track": s1["track"]}
        )
        s1 = passes.drop_duplicates().sort_values("date", kind="stable")
        s2 = self.catalog(region_name, sensor="S2")
        s2 = s2[(s2["date"] >= first_day) & (s2["date"] <= last_day + horizon)]
        s2 = s2.reset_index(drop=True)
        # the cloud and shadow mask over the events' bounding box only (s2_composite reads the
        # margin that shadows need around it)
        grid = region.grid
        footprints = events.to_crs(grid.crs).geometry
        x0, y0, x1, y1 = footprints.total_bounds
        col0 = max(0, int((x0 - grid.x0) // grid.res))
        col1 = min(grid.width, int((x1 - grid.x0) // grid.res) + 1)
        row0 = max(0, int((grid.y0 - y1) // grid.res))
        row1 = min(grid.height, int((grid.y0 - y0) // grid.res) + 1)
        if col1 <= col0 or row1 <= row0:  # every event outside the grid: no optical look
            clear = np.zeros((len(s2), 0, 0), bool)
        else:
            window = slice(row0, row1), slice(col0, col1)
            with _damaged_files_named(region):
                static = read_static(region.root, *window, grid.res)
                latest = s2_composite(region.root, s2, static, self.cloud_mask, "latest")
            clear = latest.obs_clear
        transform = grid.transform * Affine.translation(col0, row0)
        shape = clear.shape[1:]
        for key, day, footprint in zip(events.index, events["event_date"], footprints, strict=True):
            # a scene of the event day counts: the scar may be on it
            later = s1["date"][(s1["date"] >= day) & (s1["date"] <= day + horizon)]
            out.at[key, "second_s1"] = later.iloc[1] if len(later) > 1 else None
            if not all(shape):
                continue
            inside = rasterize(
                [(footprint, 1)], out_shape=shape, transform=transform, all_touched=True
            ).astype(bool)
            if not inside.any():
                continue
            for when, seen in zip(s2["date"], clear, strict=True):
                if day <= when <= day + horizon and seen[inside].mean() >= 0.5:
                    out.at[key, "first_clear_s2"] = when
                    break
        return out

    # ------------------------------------------------------------------ features

    def features(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        compositing: Compositing = EVENT,
    ) -> xr.Dataset:
        """The feature stack of ``area`` for the ``pre`` and ``post`` windows (see
        :mod:`models.feature_stack`) composited as ``compositing`` says, validated. Raises
        :class:`DataUnavailable` only when neither sensor has any acquisition in either
        window."""
        region = self._region(area.name)
        grid, (ys, xs) = _polygon_grid(region.name, region.grid, area.geometry)
        scenes = self._scenes(area, pre, post)
        post_how: S2Composite = "latest" if compositing.mode == "monitoring" else "greenest"
        # a large region's stack takes a minute or more before the chain's own progress starts
        # (found in a walkthrough: 65 s without a line at 11 Mpx, even with -v)
        say = log.info if grid.width * grid.height >= PROGRESS_PIXELS else log.debug
        start = time.perf_counter()

        def done(what: str) -> None:
            say(
                "%s: %s (%.0f s, %.1f Mpx)",
                area.name, what, time.perf_counter() - start, grid.width * grid.height / 1e6,
            )  # fmt: skip

        sizes = scenes.sizes()
        done(
            f"reading the archive's stack: {sizes['s2_pre']} + {sizes['s2_post']} Sentinel-2 "
            f"and {sizes['s1_pre']} + {sizes['s1_post']} Sentinel-1 scenes (pre + post)"
        )
        with _damaged_files_named(region):
            static = read_static(region.root, ys, xs, grid.res)
            optical = {
                "pre": s2_composite(region.root, scenes.s2_pre, static, self.cloud_mask),
                "post": s2_composite(
                    region.root, scenes.s2_post, static, self.cloud_mask, post_how
                ),
            }
            done("terrain and Sentinel-2 composites read")
            radar = s1_composites(
                region.root,
                {"pre": scenes.s1_pre, "post": scenes.s1_post},
                static,
                look_azimuth={t["track"]: t["look_azimuth_deg"] for t in region.meta["tracks"]},
                res=region.grid.res,
                options=RadarOptions(
                    self.terrain_model, self.layover_shadow_buffer_m, self.incidence_range_deg
                ),
                compositing=compositing,
            )
        done("Sentinel-1 composites read")
        layers = stack_layers(static, optical, radar)
        counts = {
            "s2_clear_pre": optical["pre"].clear_count,
            "s2_clear_post": optical["post"].clear_count,
            "s1_count_pre": radar.count["pre"],
            "s1_count_post": radar.count["post"],
        }
        problems = data_status(
            pre,
            post,
            area.orbit_pass,
            scenes.sizes(),
            counts,
            layers=layers,
            post_dates=scenes.post_dates(),
        )
        if scenes.other_pass is not None:
            problems.append(scenes.other_pass)
            log.warning("region %r: %s", area.name, scenes.other_pass)
        attrs = stack_attrs(
            self.name,
            area,
            pre,
            post,
            s2_dates=(optical["pre"].dates, optical["post"].dates),
            s1_dates=(radar.dates["pre"], radar.dates["post"]),
            problems=problems,
            extra={
                "terrain_model": str(self.terrain_model),
                "compositing": compositing.describe(),
                "archive_origin": region.meta.get("origin", "unknown"),
            },
        )
        rgb = {label: comp.reflectance[TRUE_COLOUR] for label, comp in optical.items()}
        return assemble_stack(
            layers, rgb, counts, crs=grid.crs, transform=grid.transform, attrs=attrs
        )

    def _scenes(self, area: AreaOfInterest, pre: Window, post: Window) -> _Scenes:
        """The acquisitions of both sensors in both windows (Sentinel-1 of the area's orbit
        pass); :class:`DataUnavailable` when there is none at all."""
        catalog = self.catalog(area.name, sensor=None, orbit_pass=area.orbit_pass)
        in_pre = (catalog["date"] >= pre.start) & (catalog["date"] < pre.end)
        in_post = (catalog["date"] >= post.start) & (catalog["date"] < post.end)
        s2, s1 = catalog["sensor"] == "S2", catalog["sensor"] == "S1"
        scenes = _Scenes(
            catalog[in_pre & s2],
            catalog[in_post & s2],
            catalog[in_pre & s1],
            catalog[in_post & s1],
            self._other_pass(area, pre, post) if not (in_pre | in_post)[s1].any() else None,
        )
        if not any(scenes.sizes().values()):
            span = f"{catalog['date'].min()}..{catalog['date'].max()}" if len(catalog) else "empty"
            stale = stale_post_note(post, ())
            raise DataUnavailable(
                f"region {area.name!r}: no Sentinel-1 ({area.orbit_pass}) or Sentinel-2 "
                f"acquisition in the pre window {pre} or the post window {post} "
                f"(archive holds {span})" + ("" if stale is None else f"; {stale}")
            )
        return scenes

    def _other_pass(self, area: AreaOfInterest, pre: Window, post: Window) -> str | None:
        """Where ``area``'s orbit pass leaves out every Sentinel-1 scene of the windows and the
        archive holds scenes of the other pass in them, a line saying so (found in a walk: a
        region of descending exports configured ``ascending`` ran on optical alone, said only
        as "no ascending acquisition")."""
        if area.orbit_pass in (None, "both"):
            return None
        s1 = self.catalog(area.name, sensor="S1")
        dates = s1["date"]
        held = s1[
            ((dates >= pre.start) & (dates < pre.end))
            | ((dates >= post.start) & (dates < post.end))
        ]
        if held.empty:
            return None
        passes = sorted(set(held["orbit_pass"]))
        n = len(held.drop_duplicates(["date", "track"]))
        return (
            f"S1: the archive holds {n} {' and '.join(passes)} acquisition(s) in these windows "
            f"and none {area.orbit_pass}, the region's orbit_pass: set orbit_pass: {passes[0]} "
            "or both to use them"
        )


@contextmanager
def _damaged_files_named(region: _Region) -> Iterator[None]:
    """An array of ``region`` that cannot be read, as an :class:`ArchiveError` naming its file
    and what mends it (the reader's error named neither the array nor the region)."""
    try:
        yield
    except UnreadableArray as exc:
        key, why, damaged = exc.args
        where = f"region {region.name!r}: {region.path / 'data.zarr' / key} cannot be read ({why})"
        if not damaged:  # an intact region must not be deleted for a full file table
            raise ArchiveError(
                f"{where}: check the disk, the file's permissions and the open-file limit "
                "(ulimit -n), then run again"
            ) from exc
        raise ArchiveError(
            f"{where}: the file is damaged; rebuild the region: a simulated one by deleting "
            f"{region.path} and running `landslide-monitor archive build --config ...` (which "
            "skips a region still there), one of real exports by writing it again with "
            "RegionWriter (docs/archive.md)"
        ) from exc


@dataclass(frozen=True)
class _Scenes:
    """The catalog rows of one request, per sensor and window."""

    s2_pre: pd.DataFrame
    s2_post: pd.DataFrame
    s1_pre: pd.DataFrame
    s1_post: pd.DataFrame
    # what the region's orbit_pass leaves out where it leaves every Sentinel-1 scene out
    other_pass: str | None = None

    def post_dates(self) -> list[str]:
        """The ISO days of the post window's acquisitions, both sensors, clear or not."""
        days = pd.concat([self.s2_post["date"], self.s1_post["date"]])
        return sorted({d.isoformat() for d in days})

    def sizes(self) -> dict[str, int]:
        """Acquisitions per ``"s2_pre"``, ... (as :func:`data_status` takes them); for
        Sentinel-1 one per date and track, however many slices it was written in."""
        return {
            "s2_pre": len(self.s2_pre),
            "s2_post": len(self.s2_post),
            "s1_pre": len(self.s1_pre.drop_duplicates(["date", "track"])),
            "s1_post": len(self.s1_post.drop_duplicates(["date", "track"])),
        }
