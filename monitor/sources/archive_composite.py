"""Compositing one window of an archived region into the feature stack's layers, in numpy.

:class:`~monitor.sources.archive.ArchiveSource` picks the acquisitions of the pre and post
windows from the catalog; the functions here read them from the region's Zarr group and
composite them as the Earth Engine graphs of ``gee_scripts`` do (``tests/gee`` holds the two
together): :func:`read_static` (DEM, slope and aspect, land cover, canopy height, climate),
:func:`s2_composite` (cloud and shadow mask, greenest pixel or latest clear), :func:`s1_composites`
(terrain flattening per track, median or mean in dB, layover/shadow and local incidence angle,
event dating) and :func:`stack_layers`, the model bands and dating layers that
:func:`models.stack_assembly.assemble_stack` takes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import zarr

from models.change_statistics import (
    DATING_SCENES,
    NDVI_DROP,
    REPEAT_SCENE_Z,
    SINGLE_SCENE_Z,
    log_ratio_z,
)
from models.worldcover import VEGETATED, WATER
from monitor.sources.archive_writer import S1_NODATA
from monitor.sources.base import Compositing
from monitor.sources.composite import (
    ChangeDates,
    CloudMaskParams,
    GreenestComposite,
    change_dates,
    clear_days,
    cloud_shadow_mask,
    greenest_pixel,
    latest_clear,
    nan_mean,
    nan_median,
    ndvi,
    quality_pick,
    self_shadowed,
)
from monitor.sources.terrain_flattening import (
    TerrainModel,
    TrackGeometry,
    flattening_correction_db,
    slope_aspect,
    track_geometry,
)

__all__ = [
    "TRUE_COLOUR",
    "Optical",
    "Radar",
    "RadarOptions",
    "S2Composite",
    "Static",
    "UnreadableArray",
    "dating_scenes",
    "last_valid_per_track",
    "newest_scene",
    "optical_dating",
    "pass_dates",
    "radar_dating",
    "read_static",
    "s1_composites",
    "s2_composite",
    "shared_tracks",
    "stack_layers",
]

TRUE_COLOUR = [2, 1, 0]  # B4, B3, B2 of models.feature_stack.S2_BANDS: red, green, blue


class UnreadableArray(RuntimeError):
    """An array of a region's group whose stored bytes cannot be read or decoded (a damaged or
    truncated chunk file, an unreadable one); ``args``: the array's path in the group, what
    the reader said, and whether the bytes are damaged (a codec's error, a chunk of the wrong
    size) rather than out of reach (an OSError: permissions, the open-file limit, a network
    disk). :class:`~monitor.sources.archive.ArchiveSource` reports it as its ``ArchiveError``,
    naming the file (this module cannot import that error: that module imports this one)."""


def _array(root: zarr.Group, key: str) -> zarr.Array:
    """The array ``key`` of a region's group (the layout of ``docs/archive.md``)."""
    return cast(zarr.Array, root[key])


def _read(array: zarr.Array, selection: tuple[Any, ...], *, orthogonal: bool = False) -> np.ndarray:
    """``array[selection]`` (by :meth:`zarr.Array.get_orthogonal_selection` where
    ``orthogonal``), read into memory; :class:`UnreadableArray` where its chunks cannot be.

    Every read of a region's arrays comes here: a codec's error ("Zstd decompression error:
    invalid input data", a Blosc one) or a chunk of the wrong size named neither the array
    nor the region."""
    try:
        if orthogonal:
            return np.asarray(array.get_orthogonal_selection(selection))
        return np.asarray(array[selection])
    except OSError as exc:  # out of reach, not damaged: too many open files, EACCES, ESTALE
        raise UnreadableArray(array.path, f"{type(exc).__name__}: {exc}", False) from exc
    except (RuntimeError, ValueError) as exc:  # the codecs' errors, a short chunk's
        raise UnreadableArray(array.path, f"{type(exc).__name__}: {exc}", True) from exc


@dataclass(frozen=True)
class Static:
    """The static layers of a window (``ys``, ``xs`` of the archived grid)."""

    ys: slice
    xs: slice
    elevation: np.ndarray
    slope: np.ndarray
    aspect: np.ndarray
    landcover: np.ndarray  # WorldCover codes, as stored
    canopy_height: np.ndarray
    kg_climate: np.ndarray


def read_static(root: zarr.Group, ys: slice, xs: slice, res: float) -> Static:
    """The static layers of the window; the DEM is read with a one-pixel margin for the
    slope."""
    sh, sw = _array(root, "static/elevation").shape
    height, width = ys.stop - ys.start, xs.stop - xs.start
    pad_y = slice(max(ys.start - 1, 0), min(ys.stop + 1, sh))
    pad_x = slice(max(xs.start - 1, 0), min(xs.stop + 1, sw))
    inner = (
        slice(ys.start - pad_y.start, ys.start - pad_y.start + height),
        slice(xs.start - pad_x.start, xs.start - pad_x.start + width),
    )
    dem_padded = np.asarray(_read(_array(root, "static/elevation"), (pad_y, pad_x)), np.float32)
    slope_p, aspect_p = slope_aspect(dem_padded, res)
    return Static(
        ys,
        xs,
        elevation=dem_padded[inner],
        slope=slope_p[inner],
        aspect=aspect_p[inner],
        landcover=_read(_array(root, "static/landcover"), (ys, xs)),
        canopy_height=np.asarray(_read(_array(root, "static/canopy_height"), (ys, xs)), np.float32),
        kg_climate=np.asarray(_read(_array(root, "static/kg_climate"), (ys, xs)), np.float32),
    )


def _days(dates: pd.Series | np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of ``datetime.date`` values (float64)."""
    values = pd.to_datetime(pd.Series(np.asarray(dates))).to_numpy("datetime64[D]")
    return values.astype(np.int64).astype(np.float64)


@dataclass(frozen=True)
class Optical:
    """The composite of one window, the dates of the scenes it used, and per observation
    (time first, chronological) the NDVI, whether it was clear and its day, for dating."""

    reflectance: np.ndarray
    ndvi: np.ndarray
    clear_count: np.ndarray
    chosen: np.ndarray
    dates: tuple[str, ...]
    obs_ndvi: np.ndarray
    obs_clear: np.ndarray
    obs_days: np.ndarray

    def last_unchanged_day(self) -> np.ndarray:
        """Per pixel, the day of the last clear observation whose NDVI does not lie
        :data:`~models.change_statistics.NDVI_DROP` below the composite's (NaN where none): of a
        baseline, the last look that does not show a change of the post window already."""
        with np.errstate(invalid="ignore"):
            shows = self.obs_ndvi < (self.ndvi - NDVI_DROP)[None]
        return _last_day(self.obs_days, self.obs_clear & ~shows)


def _last_day(days: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per pixel, the last of ``days`` (``(T,)``) where ``valid`` (``(T, H, W)``); NaN where
    none is."""
    d = np.asarray(days).reshape(-1, 1, 1)
    last = np.where(valid, d, -np.inf).max(axis=0, initial=-np.inf)
    return np.where(np.isfinite(last), last, np.nan)


S2Composite = Literal["greenest", "latest"]


def _scenes(array: zarr.Array, idx: np.ndarray, *window: slice) -> np.ndarray:
    """The scenes ``idx`` (positions along the first axis, in the order given) of ``array``
    over ``window``: read as one block from the first to the last, and picked out of it only
    where they are not that whole block in order (a window's scenes usually are: the catalog
    is chronological), as picking copies every byte."""
    lo, hi = int(idx.min()), int(idx.max()) + 1
    block = _read(array, (slice(lo, hi), *window))
    return block if np.array_equal(idx, np.arange(lo, hi)) else block[idx - lo]


def s2_composite(
    root: zarr.Group,
    rows: pd.DataFrame,
    static: Static,
    params: CloudMaskParams,
    how: S2Composite = "greenest",
) -> Optical:
    """The Sentinel-2 composite of the catalog ``rows`` (one window, chronological) over the
    window of ``static`` (:func:`read_static`, whose slope and aspect give the ground each
    scene's sun leaves in self-shadow): the greenest pixel, or the latest clear observation
    (monitoring)."""
    ys, xs = static.ys, static.xs
    h, w = ys.stop - ys.start, xs.stop - xs.start
    if not len(rows):
        empty = greenest_pixel(np.zeros((0, 6, h, w), np.uint16), np.zeros((0, h, w), bool))
        none = np.zeros((0, h, w), bool)
        return Optical(
            empty.reflectance,
            empty.ndvi,
            empty.clear_count,
            empty.chosen,
            (),
            none.astype(np.float32),
            none,
            np.zeros(0),
        )
    idx = rows["index"].to_numpy()
    # Read a margin around the window so that clouds outside it still cast their shadows
    # inside, aligned to the 100 m blocks of the shadow projection: a sub-window then gets
    # exactly the pixels of the whole region.
    block = 10
    margin = int(np.ceil((params.shadow_distance_m + params.buffer_m) / params.res)) + block
    full_h, full_w = _array(root, "static/landcover").shape
    py = slice(max(0, ys.start - margin) // block * block, min(full_h, ys.stop + margin))
    px = slice(max(0, xs.start - margin) // block * block, min(full_w, xs.stop + margin))
    inner = (
        slice(ys.start - py.start, ys.stop - py.start),
        slice(xs.start - px.start, xs.stop - px.start),
    )
    refl = _scenes(_array(root, "s2/reflectance"), idx, slice(None), py, px)
    prob = _scenes(_array(root, "s2/cloud_probability"), idx, py, px)
    water = _read(_array(root, "static/landcover"), (py, px)) == WATER
    masked = cloud_shadow_mask(refl, prob, rows["sun_azimuth"].to_numpy(float), water, params)
    refl = refl[(..., *inner)]
    masked = masked[(..., *inner)] | self_shadowed(
        static.slope,
        static.aspect,
        rows["sun_zenith"].to_numpy(float),
        rows["sun_azimuth"].to_numpy(float),
    )
    days = _days(rows["date"].to_numpy())
    vi = ndvi(refl)
    comp: GreenestComposite = (
        greenest_pixel(refl, masked, vi)
        if how == "greenest"
        else latest_clear(refl, masked, days, vi)
    )
    used = np.unique(comp.chosen[comp.chosen >= 0])
    dates = tuple(d.isoformat() for d in rows["date"].to_numpy()[used])
    clear = ~masked & np.isfinite(vi)
    return Optical(  # the clear looks are days: two tiles of a datatake overlap
        comp.reflectance, comp.ndvi, clear_days(clear, days), comp.chosen, dates, vi, clear, days
    )


def optical_dating(pre: Optical, post: Optical) -> ChangeDates:
    """Sentinel-2 event dating: a clear post-window observation shows the change where its NDVI
    lies :data:`~models.change_statistics.NDVI_DROP` below the baseline's (pre composite); where
    none of the window precedes the change, the lower bound is the baseline's last clear look
    that does not show it (a baseline that ends weeks after a slide holds looks of the scar,
    which its greenest pixel passes over)."""
    with np.errstate(invalid="ignore"):
        changed = post.obs_ndvi < (pre.ndvi - NDVI_DROP)[None]
    return change_dates(post.obs_days, changed, post.obs_clear, pre.last_unchanged_day())


@dataclass(frozen=True)
class RadarOptions:
    """How Sentinel-1 is flattened and masked (see :class:`~monitor.sources.archive.ArchiveSource`):
    the Vollrath et al. model (``"landcover"``: volume model on
    :data:`models.worldcover.VEGETATED`, surface model elsewhere), the layover/shadow buffer
    and the accepted incidence angles (``None``: all)."""

    terrain_model: TerrainModel | Literal["landcover"]
    layover_shadow_buffer_m: float
    incidence_range_deg: tuple[float, float] | None


class Radar:
    """Sentinel-1 composites of both windows (``vv``, ``vh``, ``count``, ``dates`` by ``"pre"``
    and ``"post"``), the newest scene of the post image (``newest``: VV and VH), the geometry
    layers and the event dating (VV); NaN and 0 observations where nothing was seen."""

    def __init__(self, h: int, w: int) -> None:
        nan: np.ndarray = np.full((h, w), np.nan, np.float32)
        self.vv: dict[str, np.ndarray] = {"pre": nan, "post": nan}
        self.vh: dict[str, np.ndarray] = {"pre": nan, "post": nan}
        self.count: dict[str, np.ndarray] = {
            label: np.zeros((h, w), np.int32) for label in ("pre", "post")
        }
        self.dates: dict[str, tuple[str, ...]] = {"pre": (), "post": ()}
        self.newest: np.ndarray = np.full((2, h, w), np.nan, np.float32)
        self.lia, self.layover, self.shadow = nan, nan, nan
        self.dating = ChangeDates(nan, nan, nan)

    def add_geometry(self, geometry: list[TrackGeometry]) -> None:
        """``layover``/``shadow`` where every track is masked and one of them had it there;
        ``lia`` the mean local incidence angle of the tracks not masked there (of all tracks
        where all are masked)."""
        masked = np.stack([g.layover | g.shadow for g in geometry])
        nodata = np.asarray(masked.all(axis=0))
        layover = nodata & np.stack([g.layover for g in geometry]).any(axis=0)
        shadow = nodata & np.stack([g.shadow for g in geometry]).any(axis=0)
        lia = np.stack([g.lia_deg for g in geometry])
        weights = np.where(nodata[None], 1.0, ~masked)
        self.lia = (lia * weights).sum(axis=0) / weights.sum(axis=0)
        self.layover = layover.astype(np.float32)
        self.shadow = shadow.astype(np.float32)


def _track_corrections(
    root: zarr.Group,
    tracks: list[int],
    static: Static,
    look_azimuth: Mapping[int, float],
    res: float,
    options: RadarOptions,
) -> tuple[dict[int, TrackGeometry], dict[int, np.ndarray]]:
    """Per track: its terrain geometry and its flattening correction (dB; NaN outside the
    incidence range)."""
    if options.terrain_model == "landcover":
        model: TerrainModel | np.ndarray = np.isin(static.landcover, VEGETATED)
    else:
        model = options.terrain_model
    geometry = {}
    correction = {}
    for t in tracks:
        theta = np.asarray(_read(_array(root, "s1/angle"), (t, static.ys, static.xs)), np.float32)
        geometry[t] = track_geometry(static.slope, static.aspect, theta, look_azimuth[t])
        correction[t] = flattening_correction_db(
            geometry[t], model, buffer_m=options.layover_shadow_buffer_m, res=res
        )
        if options.incidence_range_deg is not None:
            lo, hi = options.incidence_range_deg
            correction[t][(theta < lo) | (theta > hi)] = np.nan
    return geometry, correction


def pass_dates(dates: Sequence[date], tracks: Sequence[object]) -> list[date]:
    """The date of each Sentinel-1 scene's pass (``dates`` and ``tracks`` one per scene): the
    first UTC day of the scenes of its track that follow each other a day apart at most. The
    slices of a pass across 00:00 UTC (the morning pass near 90 degrees E, the evening pass
    near 90 degrees W) are dated by two days, and a track repeats after 6 days at the least (12
    per satellite), so its scenes a day apart are one pass."""
    out = list(dates)
    by_track: dict[object, list[int]] = {}
    for i, track in enumerate(tracks):
        by_track.setdefault(track, []).append(i)
    for positions in by_track.values():
        ordered = sorted(positions, key=lambda i: dates[i])
        start = previous = dates[ordered[0]]
        for i in ordered:
            day = dates[i]
            if (day - previous).days > 1:
                start = day
            out[i], previous = start, day
    return out


def _acquisitions(rows: pd.DataFrame, db: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """One row and one image per acquisition, a track's pass (:func:`pass_dates`): the catalog
    rows of the slices of one pass (a region on a GRD slice boundary, or slices on both sides
    of 00:00 UTC) are mosaicked, their mean where they overlap, dated by the pass's first day,
    and a scene written twice counts once. Without that, monitoring's last scene of a track was
    one slice (half the region without post-event radar) and a duplicate a second look."""
    days = pass_dates(list(rows["date"]), list(rows["track"]))
    groups: dict[tuple[object, object], list[int]] = {}
    for i, key in enumerate(zip(days, rows["track"], strict=True)):
        groups.setdefault(key, []).append(i)
    if len(groups) == len(rows) and days == list(rows["date"]):
        return rows, db
    merged = np.stack([db[g[0]] if len(g) == 1 else nan_mean(db[g])[0] for g in groups.values()])
    kept = rows.iloc[[g[0] for g in groups.values()]]
    return kept.assign(date=[days[g[0]] for g in groups.values()]), merged


def last_valid_per_track(db: np.ndarray, rows: pd.DataFrame, k: int) -> np.ndarray:
    """``db`` (``(T, 2, H, W)``, the acquisitions ``rows``) with NaN where a pixel is not among
    the last ``k`` acquisitions of its track with VV there: monitoring's post image
    (``gee_scripts.sentinel1.last_valid_per_track``). An acquisition keeps a pixel where fewer
    than ``k`` later ones of its track saw it. The last ``k`` scenes of a track whatever they
    held let a last scene that saw part of the region (a swath edge's border noise) blank the
    post image where the scene before it saw the ground."""
    out = db.copy()
    valid = np.isfinite(db[:, 0])
    order = np.lexsort((rows["index"].to_numpy(), rows["date"].to_numpy()))  # oldest first
    tracks = rows["track"].to_numpy()[order]
    for track in np.unique(tracks):
        positions = order[tracks == track]
        seen = valid[positions].astype(np.int32)
        later = np.cumsum(seen[::-1], axis=0)[::-1] - seen  # this track's views after each
        for position, drop in zip(positions, later >= k, strict=True):
            out[position][:, drop] = np.nan
    return out


def shared_tracks(
    scenes: np.ndarray, rows: pd.DataFrame, other: np.ndarray, other_rows: pd.DataFrame
) -> np.ndarray:
    """``scenes`` (``(T, 2, H, W)``, the acquisitions ``rows``) with NaN where the scene's track
    has no VV in ``other`` (the acquisitions ``other_rows``, the other window) at a pixel where
    another track of ``other`` has: monitoring compares, at each pixel, the baseline and the
    post window over the tracks both saw (``gee_scripts.sentinel1.shared_tracks``; Orynbaikyzy
    et al. compare pre- and post-event scenes of one orbit). A track's backscatter differs from
    another's by its look direction on every slope: a track of one window only made that
    difference a change. Where ``other`` has no scene, ``scenes`` stay as they are."""
    seen = np.isfinite(other[:, 0])
    other_tracks = other_rows["track"].to_numpy()
    compared = seen.any(axis=0)
    out = scenes.copy()
    for position, track in enumerate(rows["track"].to_numpy()):
        unseen = compared & ~seen[other_tracks == track].any(axis=0)
        out[position][:, unseen] = np.nan
    return out


def newest_scene(db: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Per pixel, VV and VH (dB, ``(2, H, W)``) of the most recent of the scenes ``db``
    (``(T, 2, H, W)``, acquired on ``days``, ``(T,)``) with a VV value there, ties to the first;
    NaN where none. Earth Engine's ``qualityMosaic('day')`` (``gee_scripts.sentinel1``). With
    the post composite, it tells whether two scenes show a candidate's change
    (:mod:`monitor.pipeline.dating`)."""
    t = db.shape[0]
    score = np.broadcast_to(np.asarray(days, np.float64).reshape(t, 1, 1), db[:, 0].shape)
    return quality_pick(db, np.isfinite(db[:, 0]), score)[0]


def _read_db(
    root: zarr.Group, rows: pd.DataFrame, static: Static, correction: Mapping[int, np.ndarray]
) -> np.ndarray:
    """Flattened sigma0 (dB, ``(T, 2, H, W)``, NaN where no data) of the catalog ``rows``."""
    idx = rows["index"].to_numpy()
    selection = (idx, slice(None), static.ys, static.xs)
    raw = _read(_array(root, "s1/sigma0"), selection, orthogonal=True)
    db = raw.astype(np.float32) * 0.01
    db[raw == S1_NODATA] = np.nan
    for i, t in enumerate(rows["track"].astype(int).to_numpy()):
        db[i] += correction[t][None]
    return db


def dating_scenes(vv_db: np.ndarray, days: np.ndarray, n: int) -> np.ndarray:
    """``vv_db`` (``(T, H, W)``, scenes acquired on ``days``) with NaN where ``n`` or more
    scenes of later days have a value: per pixel the newest ``n`` scenes, those of one day
    together (``gee_scripts.sentinel1.dating_scenes``)."""
    days = np.asarray(days, np.float64)
    valid = np.isfinite(vv_db)
    out = vv_db.copy()
    for t, day in enumerate(days):
        later = valid[days > day].sum(axis=0)
        out[t][later >= n] = np.nan
    return out


def radar_dating(
    post_vv_db: np.ndarray,
    post_days: np.ndarray,
    pre_vv: np.ndarray,
    pre_count: np.ndarray,
    pre_last_day: np.ndarray,
    enl: float,
    post_vv: np.ndarray | None = None,
    newest: int | None = None,
) -> ChangeDates:
    """Sentinel-1 event dating (VV): a post-window scene shows the change where its log-ratio to
    the baseline mean exceeds :data:`~models.change_statistics.SINGLE_SCENE_Z` standard
    deviations of one scene against a mean of ``pre_count`` (see
    :func:`~models.change_statistics.log_ratio_z`); it repeats it (``changed_count``) where it
    deviates by :data:`~models.change_statistics.REPEAT_SCENE_Z` of them in the direction of the
    post composite ``post_vv`` (default: the scenes' mean). Per pixel only the ``newest``
    scenes are read (:func:`dating_scenes`; default
    :data:`~models.change_statistics.DATING_SCENES`, the sources')."""
    if post_vv is None:
        post_vv = nan_mean(post_vv_db)[0]
    post_vv_db = dating_scenes(post_vv_db, post_days, newest or DATING_SCENES)
    one_scene = np.ones(np.shape(post_vv_db))
    z = log_ratio_z(post_vv_db, one_scene, pre_vv[None], np.asarray(pre_count)[None], enl)
    with np.errstate(invalid="ignore"):
        changed = np.abs(z) > SINGLE_SCENE_Z
        repeats = z * np.sign(post_vv - pre_vv)[None] > REPEAT_SCENE_Z
    return change_dates(post_days, changed, np.isfinite(post_vv_db), pre_last_day, repeats)


def s1_composites(
    root: zarr.Group,
    windows: Mapping[str, pd.DataFrame],
    static: Static,
    *,
    look_azimuth: Mapping[int, float],
    res: float,
    options: RadarOptions,
    compositing: Compositing | None = None,
) -> Radar:
    """The Sentinel-1 composites of the catalog rows of each window (``"pre"``, ``"post"``),
    flattened per track (``look_azimuth`` by track index): the median in dB of each window
    (event compositing), or the mean in dB of the baseline and of the last
    ``compositing.radar_scenes`` scenes of each track of the post window that saw each pixel
    (monitoring, :func:`last_valid_per_track`), both windows over the tracks both saw at each
    pixel (:func:`shared_tracks`); and the newest of the post image's scenes
    (:func:`newest_scene`)."""
    how = compositing or Compositing()
    h, w = static.slope.shape
    tracks = sorted(
        {int(t) for rows in windows.values() for t in rows["track"].dropna().astype(int)}
    )
    geometry, correction = _track_corrections(root, tracks, static, look_azimuth, res, options)
    radar = Radar(h, w)
    scenes: dict[str, np.ndarray] = {}
    acquired: dict[str, pd.DataFrame] = {}
    for label, rows in windows.items():
        if len(rows):
            acquired[label], scenes[label] = _acquisitions(
                rows, _read_db(root, rows, static, correction)
            )
    if how.mode == "monitoring" and len(scenes) == 2:  # both windows over the tracks both saw
        pre, post = scenes["pre"], scenes["post"]
        scenes["pre"] = shared_tracks(pre, acquired["pre"], post, acquired["post"])
        scenes["post"] = shared_tracks(post, acquired["post"], pre, acquired["pre"])
    for label, db in scenes.items():
        rows = acquired[label]
        if how.mode == "monitoring":
            if label == "post":
                db = last_valid_per_track(db, rows, how.radar_scenes)
            radar.vv[label], radar.count[label] = nan_mean(db[:, 0])
            radar.vh[label], _ = nan_mean(db[:, 1])
        else:
            radar.vv[label], radar.count[label] = nan_median(db[:, 0])
            radar.vh[label], _ = nan_median(db[:, 1])
        if label == "post":
            radar.newest = newest_scene(db, _days(rows["date"].to_numpy()))
        # the window's scenes (as Earth Engine's availability answer lists them)
        radar.dates[label] = tuple(d.isoformat() for d in rows["date"])
    if tracks:
        radar.add_geometry([geometry[t] for t in tracks])
    if "post" in scenes and "pre" in scenes:
        pre_days = _days(acquired["pre"]["date"].to_numpy())
        radar.dating = radar_dating(
            scenes["post"][:, 0],
            _days(acquired["post"]["date"].to_numpy()),
            radar.vv["pre"],
            radar.count["pre"],
            _last_day(pre_days, np.isfinite(scenes["pre"][:, 0])),
            how.enl,
            radar.vv["post"],
        )
    return radar


def stack_layers(
    static: Static, optical: Mapping[str, Optical], radar: Radar
) -> dict[str, np.ndarray]:
    """The model bands and ``preNDVI``/``postNDVI`` of the stack (Ganerød et al. Table 2)."""
    return {
        "preVV": radar.vv["pre"],
        "postVV": radar.vv["post"],
        "dVV": radar.vv["post"] - radar.vv["pre"],
        "preVH": radar.vh["pre"],
        "postVH": radar.vh["post"],
        "dVH": radar.vh["post"] - radar.vh["pre"],
        "layover": radar.layover,
        "shadow": radar.shadow,
        "liaDeg": radar.lia,
        "elevation": static.elevation,
        "slope": static.slope,
        "kg_climate": static.kg_climate,
        "canopy_height": static.canopy_height,
        "landcover": static.landcover.astype(np.float32),
        "dNDVI": optical["post"].ndvi - optical["pre"].ndvi,
        "preNDVI": optical["pre"].ndvi,
        "postNDVI": optical["post"].ndvi,
        "s1_last_unchanged": radar.dating.last_unchanged,
        "s1_first_changed": radar.dating.first_changed,
        "s1_changed_scenes": radar.dating.changed_count,
        "s1_newest_VV": radar.newest[0],
        "s1_newest_VH": radar.newest[1],
        **_optical_dating_layers(optical),
    }


def _optical_dating_layers(optical: Mapping[str, Optical]) -> dict[str, np.ndarray]:
    dating = optical_dating(optical["pre"], optical["post"])
    return {
        "s2_last_unchanged": dating.last_unchanged,
        "s2_first_changed": dating.first_changed,
    }
