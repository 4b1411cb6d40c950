"""Compositing one window of an archived region into the feature stack's layers, in numpy.

:class:`~monitor.sources.archive.ArchiveSource` picks the acquisitions of the pre and post
windows from the catalog; the functions here read them from the region's Zarr group and
composite them as the Earth Engine graphs of ``gee_scripts`` do (``tests/gee`` holds the two
together): :func:`read_static` (DEM, slope and aspect, land cover, canopy height, climate),
:func:`s2_composite` (cloud and shadow mask, greenest pixel), :func:`s1_composites` (terrain
flattening per track, median in dB, layover/shadow and local incidence angle) and
:func:`stack_layers`, the model bands that :func:`models.stack_assembly.assemble_stack` takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import pandas as pd
import zarr

from models.worldcover import VEGETATED, WATER
from monitor.sources.archive_writer import S1_NODATA
from monitor.sources.composite import (
    CloudMaskParams,
    GreenestComposite,
    cloud_shadow_mask,
    greenest_pixel,
    nan_median,
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
    "Static",
    "read_static",
    "s1_composites",
    "s2_composite",
    "stack_layers",
]

TRUE_COLOUR = [2, 1, 0]  # B4, B3, B2 of models.feature_stack.S2_BANDS: red, green, blue


def _array(root: zarr.Group, key: str) -> zarr.Array:
    """The array ``key`` of a region's group (the layout of ``docs/archive.md``)."""
    return cast(zarr.Array, root[key])


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
    dem_padded = np.asarray(_array(root, "static/elevation")[pad_y, pad_x], np.float32)
    slope_p, aspect_p = slope_aspect(dem_padded, res)
    return Static(
        ys,
        xs,
        elevation=dem_padded[inner],
        slope=slope_p[inner],
        aspect=aspect_p[inner],
        landcover=np.asarray(_array(root, "static/landcover")[ys, xs]),
        canopy_height=np.asarray(_array(root, "static/canopy_height")[ys, xs], np.float32),
        kg_climate=np.asarray(_array(root, "static/kg_climate")[ys, xs], np.float32),
    )


@dataclass(frozen=True)
class Optical:
    """The greenest-pixel composite of one window and the dates of the scenes it used."""

    reflectance: np.ndarray
    ndvi: np.ndarray
    clear_count: np.ndarray
    chosen: np.ndarray
    dates: tuple[str, ...]

    @classmethod
    def of(cls, comp: GreenestComposite, dates: tuple[str, ...]) -> Optical:
        return cls(comp.reflectance, comp.ndvi, comp.clear_count, comp.chosen, dates)


def s2_composite(
    root: zarr.Group, rows: pd.DataFrame, ys: slice, xs: slice, params: CloudMaskParams
) -> Optical:
    """The Sentinel-2 composite of the catalog ``rows`` (one window) over ``ys``, ``xs``."""
    h, w = ys.stop - ys.start, xs.stop - xs.start
    if not len(rows):
        empty = greenest_pixel(np.zeros((0, 6, h, w), np.uint16), np.zeros((0, h, w), bool))
        return Optical.of(empty, ())
    idx = rows["index"].to_numpy()
    lo, hi = int(idx.min()), int(idx.max()) + 1
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
    refl = np.asarray(_array(root, "s2/reflectance")[lo:hi, :, py, px])[idx - lo]
    prob = np.asarray(_array(root, "s2/cloud_probability")[lo:hi, py, px])[idx - lo]
    water = np.asarray(_array(root, "static/landcover")[py, px]) == WATER
    masked = cloud_shadow_mask(refl, prob, rows["sun_azimuth"].to_numpy(float), water, params)
    refl = refl[(..., *inner)]
    masked = masked[(..., *inner)]
    comp = greenest_pixel(refl, masked)
    used = np.unique(comp.chosen[comp.chosen >= 0])
    dates = tuple(d.isoformat() for d in rows["date"].to_numpy()[used])
    return Optical.of(comp, dates)


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
    and ``"post"``) and the geometry layers; NaN and 0 observations where nothing was seen."""

    def __init__(self, h: int, w: int) -> None:
        nan: np.ndarray = np.full((h, w), np.nan, np.float32)
        self.vv: dict[str, np.ndarray] = {"pre": nan, "post": nan}
        self.vh: dict[str, np.ndarray] = {"pre": nan, "post": nan}
        self.count: dict[str, np.ndarray] = {
            label: np.zeros((h, w), np.int32) for label in ("pre", "post")
        }
        self.dates: dict[str, tuple[str, ...]] = {"pre": (), "post": ()}
        self.lia, self.layover, self.shadow = nan, nan, nan

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
        theta = np.asarray(_array(root, "s1/angle")[t, static.ys, static.xs], np.float32)
        geometry[t] = track_geometry(static.slope, static.aspect, theta, look_azimuth[t])
        correction[t] = flattening_correction_db(
            geometry[t], model, buffer_m=options.layover_shadow_buffer_m, res=res
        )
        if options.incidence_range_deg is not None:
            lo, hi = options.incidence_range_deg
            correction[t][(theta < lo) | (theta > hi)] = np.nan
    return geometry, correction


def s1_composites(
    root: zarr.Group,
    windows: Mapping[str, pd.DataFrame],
    static: Static,
    *,
    look_azimuth: Mapping[int, float],
    res: float,
    options: RadarOptions,
) -> Radar:
    """The Sentinel-1 composites of the catalog rows of each window (``"pre"``, ``"post"``),
    flattened per track (``look_azimuth`` by track index)."""
    h, w = static.slope.shape
    tracks = sorted(
        {int(t) for rows in windows.values() for t in rows["track"].dropna().astype(int)}
    )
    geometry, correction = _track_corrections(root, tracks, static, look_azimuth, res, options)
    radar = Radar(h, w)
    for label, rows in windows.items():
        if not len(rows):
            continue
        idx = rows["index"].to_numpy()
        raw = np.asarray(
            _array(root, "s1/sigma0").get_orthogonal_selection(
                (idx, slice(None), static.ys, static.xs)
            )
        )
        db = raw.astype(np.float32) * 0.01
        db[raw == S1_NODATA] = np.nan
        for i, t in enumerate(rows["track"].astype(int).to_numpy()):
            db[i] += correction[t][None]
        radar.vv[label], radar.count[label] = nan_median(db[:, 0])
        radar.vh[label], _ = nan_median(db[:, 1])
        radar.dates[label] = tuple(d.isoformat() for d in rows["date"])
    if tracks:
        radar.add_geometry([geometry[t] for t in tracks])
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
    }
