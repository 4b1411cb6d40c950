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

:func:`build_archive` fills it from the simulator; :class:`ArchiveSource` reads it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
import zarr
from tqdm import tqdm

from models.feature_stack import COUNT_VARIABLES, MODEL_BANDS
from monitor.grid import Grid, region_grid
from monitor.simulator.landcover import VEGETATED, WATER
from monitor.simulator.region import SimulatedRegion
from monitor.simulator.spec import ArchiveSimulation, SimulationSpec, spec_digest
from monitor.sources.archive_writer import (
    CATALOG_COLUMNS,
    S1_NODATA,
    RegionWriter,
    TrackInfo,
    region_dir,
)
from monitor.sources.base import AreaOfInterest, DataUnavailable, Window, check_area, data_status
from monitor.sources.composite import (
    CloudMaskParams,
    GreenestComposite,
    cloud_shadow_mask,
    greenest_pixel,
    nan_median,
)
from monitor.sources.terrain_flattening import (
    TerrainModel,
    flattening_correction_db,
    slope_aspect,
    track_geometry,
)

__all__ = [
    "ArchiveError",
    "ArchiveSource",
    "BuildReport",
    "RegionWriter",
    "Sensor",
    "TrackInfo",
    "build_archive",
]

log = logging.getLogger(__name__)

Sensor = Literal["S1", "S2"]


class ArchiveError(LookupError):
    """The archive lacks a region, or a region's files are missing or inconsistent."""


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


# ----------------------------------------------------------------------------------- build


def _read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "region.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_region(
    target: Path,
    area: AreaOfInterest,
    spec: SimulationSpec,
    simulation: ArchiveSimulation,
    digest: str,
    progress: bool,
) -> None:
    """Simulate one region into the archive that holds ``target`` (atomically, through
    :class:`RegionWriter`)."""
    started = time.perf_counter()
    sim = SimulatedRegion(area, spec, simulation)
    tracks = [
        TrackInfo(t.relative_orbit, t.orbit_pass, t.look_azimuth_deg, t.angle) for t in sim.tracks
    ]
    meta = {
        "spec": spec.model_dump(mode="json"),
        "simulation": simulation.model_dump(mode="json"),
    }
    archive = target.parent.parent
    with RegionWriter(
        archive,
        area,
        n_s2=len(sim.s2),
        n_s1=len(sim.s1),
        tracks=tracks,
        origin="simulated",
        meta=meta,
    ) as writer:
        writer.write_static(
            sim.terrain.dem, sim.cover.landcover, sim.cover.canopy_height, sim.cover.kg_climate
        )
        bar = tqdm(
            total=len(sim.s2) + len(sim.s1),
            desc=f"simulate {area.name}",
            unit="scene",
            disable=not progress,
            leave=False,
        )
        for acq in sim.s2:
            scene = sim.render_s2(acq)
            writer.write_s2(
                acq.index,
                acq.date,
                scene.dn,
                scene.cloud_probability,
                sun_zenith=scene.sun_zenith,
                sun_azimuth=scene.sun_azimuth,
                cloud_cover=scene.cloud_fraction * 100.0,
            )
            bar.update()
        for acq in sim.s1:
            writer.write_s1(acq.index, acq.date, acq.track, sim.render_s1(acq))
            bar.update()
        bar.close()
        writer.write_ground_truth(sim.ground_truth())
        writer.extra_meta["build_seconds"] = round(time.perf_counter() - started, 2)
        writer.commit(digest)
    log.info("archive region %s built in %.1f s", area.name, time.perf_counter() - started)


def _build_one(args: tuple) -> str:
    target, area = args[0], args[1]
    try:
        _write_region(*args)
    except Exception as exc:
        for tmp in target.parent.glob(f".{target.name}.tmp-{os.getpid()}"):
            shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"building archive region {area.name!r} failed: {exc}") from exc
    return area.name


def build_archive(
    path: str | os.PathLike[str],
    regions: Sequence[tuple[AreaOfInterest, SimulationSpec]],
    simulation: ArchiveSimulation,
    *,
    progress: bool = True,
    workers: int | None = None,
) -> BuildReport:
    """Simulate ``regions`` into the archive at ``path``. Idempotent: a region whose polygon,
    spec and simulation are unchanged is skipped; a changed one is rebuilt (atomically).

    ``workers`` processes build regions in parallel (default: up to the CPU count, 2 at most
    when several regions need building)."""
    started = time.perf_counter()
    root = Path(path)
    (root / "regions").mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    todo: list[tuple] = []
    names = [area.name for area, _ in regions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"region names must be unique; repeated: {', '.join(duplicates)}")
    for area, spec in regions:
        check_area(area)
        digest = spec_digest(area.geometry.wkt, spec, simulation)
        target = region_dir(root, area.name)
        meta = _read_meta(target)
        if meta is not None and meta.get("digest") == digest:
            report.skipped.append(area.name)
            continue
        todo.append((target, area, spec, simulation, digest))
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1, len(todo))
    if n_workers > 1 and len(todo) > 1:
        # fork: workers inherit the imports and need no `if __name__ == "__main__"` guard in
        # the caller (zarr resets its event loop after a fork)
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(n_workers, mp_context=get_context(method)) as pool:
            jobs = [(*job, False) for job in todo]
            bar = tqdm(total=len(jobs), desc="build archive", unit="region", disable=not progress)
            for name in pool.map(_build_one, jobs):
                report.built.append(name)
                bar.update()
            bar.close()
    else:
        for job in todo:
            report.built.append(_build_one((*job, progress)))
    report.seconds = time.perf_counter() - started
    if progress:
        log.info(
            "archive %s: built %s, unchanged %s (%.1f s)",
            root,
            ", ".join(report.built) or "none",
            ", ".join(report.skipped) or "none",
            report.seconds,
        )
    return report


# ------------------------------------------------------------------------------------ read


@dataclass(frozen=True)
class _Region:
    name: str
    path: Path
    stamp: int  # mtime of region.json when read: a rebuilt region is read again
    meta: dict
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
        incidence_range_deg: tuple[float, float] | None = (30.63993, 44.73),
    ) -> None:
        self.path = Path(path)
        self.terrain_model = terrain_model
        self.layover_shadow_buffer_m = layover_shadow_buffer_m
        self.incidence_range_deg = incidence_range_deg
        self.cloud_mask = cloud_mask or CloudMaskParams()
        self._regions: dict[str, _Region] = {}

    def __getstate__(self) -> dict:
        # picklable for process pools and Dask workers: the open regions are reopened there
        return {**self.__dict__, "_regions": {}}

    # ------------------------------------------------------------------ catalog

    def regions(self) -> list[str]:
        base = self.path / "regions"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "region.json").is_file())

    def _region(self, name: str) -> _Region:
        path = region_dir(self.path, name)
        try:
            stamp = (path / "region.json").stat().st_mtime_ns
        except FileNotFoundError:
            stamp = -1
        cached = self._regions.get(name)
        if cached is not None and cached.stamp == stamp:
            return cached
        meta = _read_meta(path)
        if meta is None:
            known = ", ".join(self.regions()) or "none"
            raise ArchiveError(
                f"region {name!r} is not in the archive {self.path} (regions there: {known}); "
                "build it with `landslide-monitor archive build --config ...`"
            )
        try:
            catalog = pd.read_csv(path / "catalog.csv")
            root = zarr.open_group(path / "data.zarr", mode="r")
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as exc:
            raise ArchiveError(f"region {name!r} in {path} is incomplete: {exc}") from exc
        catalog["date"] = pd.to_datetime(catalog["date"]).dt.date
        g = meta["grid"]
        grid = Grid(g["crs"], g["x0"], g["y0"], g["width"], g["height"], g["res"])
        region = _Region(name, path, stamp, meta, grid, catalog, root)
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

    def first_acquisition(self, area: AreaOfInterest) -> date | None:
        """The first acquisition date of the region in the archive; None when the archive has
        no such region or no acquisition (the run then reports the region itself)."""
        try:
            dates = self._region(area.name).catalog["date"]
        except LookupError:
            return None
        return None if dates.empty else dates.min()

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

    # ------------------------------------------------------------------ features

    def _window_slices(self, region: _Region, grid: Grid) -> tuple[slice, slice]:
        stored = region.grid
        if grid.crs != stored.crs:
            raise ArchiveError(
                f"region {region.name!r}: the polygon's grid is in {grid.crs} but the archive "
                f"holds {stored.crs}; rebuild the archive for the new polygon"
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
                f"region {region.name!r}: the polygon's grid {grid.bounds} is not inside the "
                f"archived grid {stored.bounds}; rebuild the archive for the new polygon"
            )
        return slice(row0, row0 + grid.height), slice(col0, col0 + grid.width)

    def features(self, area: AreaOfInterest, pre: Window, post: Window) -> xr.Dataset:
        """The feature stack of ``area`` for the ``pre`` and ``post`` windows (see
        :mod:`models.feature_stack`). Raises :class:`DataUnavailable` only when neither sensor
        has any acquisition in either window."""
        region = self._region(area.name)
        grid = region_grid(area.geometry)
        ys, xs = self._window_slices(region, grid)
        catalog = self.catalog(area.name, sensor=None, orbit_pass=area.orbit_pass)
        in_pre = (catalog["date"] >= pre.start) & (catalog["date"] < pre.end)
        in_post = (catalog["date"] >= post.start) & (catalog["date"] < post.end)
        s2_pre = catalog[in_pre & (catalog["sensor"] == "S2")]
        s2_post = catalog[in_post & (catalog["sensor"] == "S2")]
        s1_pre = catalog[in_pre & (catalog["sensor"] == "S1")]
        s1_post = catalog[in_post & (catalog["sensor"] == "S1")]
        if not (len(s2_pre) or len(s2_post) or len(s1_pre) or len(s1_post)):
            span = f"{catalog['date'].min()}..{catalog['date'].max()}" if len(catalog) else "empty"
            raise DataUnavailable(
                f"region {area.name!r}: no Sentinel-1 ({area.orbit_pass}) or Sentinel-2 "
                f"acquisition in the pre window {pre} or the post window {post} "
                f"(archive holds {span})"
            )

        root = region.root
        # static layers, read with a one-pixel margin for the slope
        sh, sw = region.grid.height, region.grid.width
        pad_y = slice(max(ys.start - 1, 0), min(ys.stop + 1, sh))
        pad_x = slice(max(xs.start - 1, 0), min(xs.stop + 1, sw))
        inner = (
            slice(ys.start - pad_y.start, ys.start - pad_y.start + grid.height),
            slice(xs.start - pad_x.start, xs.start - pad_x.start + grid.width),
        )
        dem_padded = np.asarray(root["static/elevation"][pad_y, pad_x], np.float32)
        slope_p, aspect_p = slope_aspect(dem_padded, grid.res)
        elevation = dem_padded[inner]
        slope, aspect = slope_p[inner], aspect_p[inner]
        landcover = np.asarray(root["static/landcover"][ys, xs])
        canopy = np.asarray(root["static/canopy_height"][ys, xs], np.float32)
        climate = np.asarray(root["static/kg_climate"][ys, xs], np.float32)

        optical = {}
        for label, rows in (("pre", s2_pre), ("post", s2_post)):
            optical[label] = self._s2_composite(root, rows, ys, xs)
        radar = self._s1_composites(
            region,
            {"pre": s1_pre, "post": s1_post},
            ys,
            xs,
            slope,
            aspect,
            landcover,
        )

        f32 = np.float32
        data: dict[str, tuple] = {}
        pre_vv, pre_vh = radar["pre"]
        post_vv, post_vh = radar["post"]
        bands = {
            "preVV": pre_vv,
            "postVV": post_vv,
            "dVV": post_vv - pre_vv,
            "preVH": pre_vh,
            "postVH": post_vh,
            "dVH": post_vh - pre_vh,
            "layover": radar["layover"],
            "shadow": radar["shadow"],
            "liaDeg": radar["lia"],
            "elevation": elevation,
            "slope": slope,
            "kg_climate": climate,
            "canopy_height": canopy,
            "landcover": landcover.astype(f32),
            "dNDVI": optical["post"].ndvi - optical["pre"].ndvi,
        }
        for name in MODEL_BANDS:
            data[name] = (("y", "x"), np.asarray(bands[name], dtype=f32))
        data["preNDVI"] = (("y", "x"), optical["pre"].ndvi.astype(f32))
        data["postNDVI"] = (("y", "x"), optical["post"].ndvi.astype(f32))
        for label in ("pre", "post"):
            rgb = optical[label].reflectance[[2, 1, 0]]  # B4, B3, B2
            data[f"{label}_rgb"] = (("rgb", "y", "x"), rgb.astype(f32))
        data["s2_clear_pre"] = (("y", "x"), optical["pre"].clear_count.astype(np.int16))
        data["s2_clear_post"] = (("y", "x"), optical["post"].clear_count.astype(np.int16))
        data["s1_count_pre"] = (("y", "x"), radar["count_pre"].astype(np.int16))
        data["s1_count_post"] = (("y", "x"), radar["count_post"].astype(np.int16))
        status = data_status(
            pre,
            post,
            area.orbit_pass,
            {"s2_pre": len(s2_pre), "s2_post": len(s2_post)}
            | {"s1_pre": len(s1_pre), "s1_post": len(s1_post)},
            {name: data[name][1] for name in COUNT_VARIABLES},
            layers={name: data[name][1] for name in MODEL_BANDS},
        )
        ds = xr.Dataset(
            data,
            coords={"y": grid.y, "x": grid.x, "rgb": ["red", "green", "blue"]},
            attrs={
                "region": area.name,
                "source": self.name,
                "pre_window": str(pre),
                "post_window": str(post),
                "orbit_pass": area.orbit_pass,
                "s2_dates_pre": optical["pre"].dates,
                "s2_dates_post": optical["post"].dates,
                "s1_dates_pre": radar["dates_pre"],
                "s1_dates_post": radar["dates_post"],
                "status": "; ".join(status) or "ok",
                "terrain_model": str(self.terrain_model),
                "archive_origin": region.meta.get("origin", "unknown"),
            },
        )
        ds = ds.rio.write_crs(grid.crs)
        ds = ds.rio.write_transform(grid.transform)
        return ds

    def _s2_composite(
        self,
        root: zarr.Group,
        rows: pd.DataFrame,
        ys: slice,
        xs: slice,
    ) -> _Optical:
        h, w = ys.stop - ys.start, xs.stop - xs.start
        if not len(rows):
            empty = greenest_pixel(np.zeros((0, 6, h, w), np.uint16), np.zeros((0, h, w), bool))
            return _Optical.of(empty, "")
        idx = rows["index"].to_numpy()
        lo, hi = int(idx.min()), int(idx.max()) + 1
        # Read a margin around the window so that clouds outside it still cast their shadows
        # inside, aligned to the 100 m blocks of the shadow projection: a sub-window then gets
        # exactly the pixels of the whole region.
        p = self.cloud_mask
        block = 10
        margin = int(np.ceil((p.shadow_distance_m + p.buffer_m) / p.res)) + block
        full_h, full_w = root["static/landcover"].shape
        py = slice(max(0, ys.start - margin) // block * block, min(full_h, ys.stop + margin))
        px = slice(max(0, xs.start - margin) // block * block, min(full_w, xs.stop + margin))
        inner = (
            slice(ys.start - py.start, ys.stop - py.start),
            slice(xs.start - px.start, xs.stop - px.start),
        )
        refl = np.asarray(root["s2/reflectance"][lo:hi, :, py, px])[idx - lo]
        prob = np.asarray(root["s2/cloud_probability"][lo:hi, py, px])[idx - lo]
        water = np.asarray(root["static/landcover"][py, px]) == WATER
        masked = cloud_shadow_mask(refl, prob, rows["sun_azimuth"].to_numpy(float), water, p)
        refl = refl[(..., *inner)]
        masked = masked[(..., *inner)]
        comp = greenest_pixel(refl, masked)
        used = np.unique(comp.chosen[comp.chosen >= 0])
        dates = ",".join(d.isoformat() for d in rows["date"].to_numpy()[used])
        return _Optical.of(comp, dates)

    def _s1_composites(
        self,
        region: _Region,
        windows: dict[str, pd.DataFrame],
        ys: slice,
        xs: slice,
        slope: np.ndarray,
        aspect: np.ndarray,
        landcover: np.ndarray,
    ) -> dict:
        root = region.root
        h, w = slope.shape
        if self.terrain_model == "landcover":
            model: TerrainModel | np.ndarray = np.isin(landcover, VEGETATED)
        else:
            model = self.terrain_model
        tracks = sorted(
            {int(t) for rows in windows.values() for t in rows["track"].dropna().astype(int)}
        )
        look = {t["track"]: t["look_azimuth_deg"] for t in region.meta["tracks"]}
        geometry = {}
        correction = {}
        for t in tracks:
            theta = np.asarray(root["s1/angle"][t, ys, xs], np.float32)
            geometry[t] = track_geometry(slope, aspect, theta, look[t])
            correction[t] = flattening_correction_db(
                geometry[t], model, buffer_m=self.layover_shadow_buffer_m, res=region.grid.res
            )
            if self.incidence_range_deg is not None:
                lo, hi = self.incidence_range_deg
                correction[t][(theta < lo) | (theta > hi)] = np.nan
        out: dict = {}
        for label, rows in windows.items():
            if not len(rows):
                nan = np.full((h, w), np.nan, np.float32)
                out[label] = (nan, nan)
                out[f"count_{label}"] = np.zeros((h, w), np.int32)
                out[f"dates_{label}"] = ""
                continue
            idx = rows["index"].to_numpy()
            raw = np.asarray(root["s1/sigma0"].get_orthogonal_selection((idx, slice(None), ys, xs)))
            db = raw.astype(np.float32) * 0.01
            db[raw == S1_NODATA] = np.nan
            for i, t in enumerate(rows["track"].astype(int).to_numpy()):
                db[i] += correction[t][None]
            vv, count = nan_median(db[:, 0])
            vh, _ = nan_median(db[:, 1])
            out[label] = (vv, vh)
            out[f"count_{label}"] = count
            out[f"dates_{label}"] = ",".join(d.isoformat() for d in rows["date"])
        if tracks:
            masked = np.stack([geometry[t].layover | geometry[t].shadow for t in tracks])
            nodata = masked.all(axis=0)
            layover = nodata & np.stack([geometry[t].layover for t in tracks]).any(axis=0)
            shadow = nodata & np.stack([geometry[t].shadow for t in tracks]).any(axis=0)
            lia = np.stack([geometry[t].lia_deg for t in tracks])
            valid = ~masked
            weights = np.where(nodata[None], 1.0, valid)
            out["lia"] = (lia * weights).sum(axis=0) / weights.sum(axis=0)
            out["layover"] = layover.astype(np.float32)
            out["shadow"] = shadow.astype(np.float32)
        else:
            nan = np.full((h, w), np.nan, np.float32)
            out["lia"], out["layover"], out["shadow"] = nan, nan, nan
        return out


@dataclass(frozen=True)
class _Optical:
    reflectance: np.ndarray
    ndvi: np.ndarray
    clear_count: np.ndarray
    chosen: np.ndarray
    dates: str

    @classmethod
    def of(cls, comp: GreenestComposite, dates: str) -> _Optical:
        return cls(comp.reflectance, comp.ndvi, comp.clear_count, comp.chosen, dates)
