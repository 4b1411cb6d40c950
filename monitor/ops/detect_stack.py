"""``landslide-monitor detect --stack SCENE_input.tif|FOLDER --out DIR``: the detection chain of
the daily run (:func:`monitor.pipeline.chain.detect`: setting, ensemble, masks, vectorisation,
object filter) on stacks a user already has, in the Ganerød et al. layout: 15 float32 bands in
``models.feature_stack.MODEL_BANDS`` order (or named with those names), in a CRS that measures
metres on the ground, for example exported from Earth Engine for a known event, or the
simulator's training scenes. :func:`check_stack` refuses every other stack before anything
runs.

``--stack`` is one ``*_input.tif``, or a folder of them (directly, or under ``input/`` as in
the labelled layout). ``DIR`` receives:

- ``detections.gpkg`` (layer ``detections``): every candidate with its scene id (``scene``),
  the attribute columns of the daily run, ``filter_score`` and ``suppressed``; in the scenes' CRS
  when they share one, else in EPSG:4326; valid MultiPolygons. ``region`` is the region whose
  rules applied (None without a configuration); the columns the inventory's layer has are
  declared with its types (:func:`_write_gpkg`); ``area_m2`` and the minimum area are in the
  UTM zone of the stack's centre, as the inventory's areas (:func:`_inventory_area_scale`);
- ``<scene>_probability.tif`` and ``<scene>_spread.tif``: Cloud-Optimised GeoTIFFs in the
  scene's CRS (none for a scene without a usable setting; an earlier run's are removed);
- ``summary.json``: what ran (``model``: the manifest and its SHA-256, the baseline's folder
  where ``--baseline`` ran, the configuration and region whose rules applied, whether the net
  for large vegetation loss ran, whether a filter did and the cut given to it, None for the
  filter's own); per scene the stack run and its
  SHA-256 (``stack``, ``sha256``: what ``evaluate --chain`` checks its labelled folder's
  inputs against), the setting and why
  (``setting_reason``), candidates, suppressed, the cut, the files and the warnings (model
  bands without any value among them);
  ``stopped_at`` where a stack failed after the checks (the scenes before it are written);
  both are written after each scene, with the stacks left in ``not_run``, so that a run
  killed outright leaves the scenes it finished.

An earlier run's ``detections.gpkg`` and ``summary.json`` (and the temporary files of a run
killed while it wrote one) are removed before this run writes its first raster, and each is
replaced whole (a temporary file renamed) after every scene: a run killed part-way (SIGKILL,
the OOM killer) leaves the scenes it finished, with the stacks it did not run listed, never an
earlier run's polygons beside its own rasters; run it again.

The rules are the region's of ``--config`` (``--region`` names it when the file has several:
``threshold``, ``min_area_m2``, ``masks``, ``filter_cut``) and its ``model:`` section; without a
configuration, the defaults a region gets (minimum area 900 m², minimum mean slope 5°, water and
snow excluded, the ensemble's calibrated threshold, the manifest's cut) and the bundled ensemble.
``--baseline VALDIR`` runs the plain threshold baseline (:mod:`models.baselines`, fitted on the
labelled folder ``VALDIR``) through the same chain instead of the ensemble.
``python -m models evaluate --chain DIR --data LABELLED`` scores the result.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sqlite3
from collections.abc import Collection, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import rasterio.errors
import rasterio.windows
import shapely
from affine import Affine
from pyogrio.errors import DataLayerError, DataSourceError, FieldError
from pyogrio.raw import write
from pyproj import Proj
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform as warp_transform
from rasterio.warp import transform_bounds
from scipy.stats import rankdata, spearmanr
from shapely.geometry.base import BaseGeometry

from gee_scripts.settings import PIECE_PATTERN
from models.atomic import leftovers, out_problem, write_atomically
from models.chain_metrics import DETECTIONS_FILE, SUMMARY_FILE
from models.datasets import (
    INPUT_SUFFIX,
    ZERO_IS_A_VALUE,
    DatasetError,
    check_input,
    file_index,
    first_names,
    near_names,
    open_geotiff,
    read_bands,
    read_input,
    scene_id_of,
    split_hint,
    zero_values_in_footprint,
)
from models.feature_stack import (
    AREAL_SCALE_TOLERANCE,
    MODEL_BANDS,
    PIXEL_SIZE_M,
    sigma0_too_bright,
)
from models.manifest import manifest_arg, sha256_file
from models.object_filter import ObjectFilterModel
from models.stack_values import StackValueError, check_values, sample_step
from models.worldcover import no_data_note
from monitor.config import ModelSettings, load_config
from monitor.config.regions import MaskSettings
from monitor.errors import BadInput, interrupt_on_signals
from monitor.grid import multipolygon, utm_crs_for
from monitor.ops._args import add_config
from monitor.pipeline.chain import (
    ChainModel,
    cog_leftovers,
    cog_paths,
    detect,
    empty_detection_candidates,
    stack_from_scene,
    write_cogs,
)
from monitor.pipeline.object_filter import FEATURES_COLUMN, FEATURES_ID_COLUMN
from monitor.pipeline.setting import NoUsableSetting
from monitor.pipeline.vectorise import VectoriseRules
from monitor.sources.base import DEFAULT_MAX_AREA_KM2
from monitor.store import landslides

__all__ = [
    "MAX_STACK_PIXELS",
    "StackJob",
    "check_stack",
    "cli_configure",
    "cli_run",
    "default_rules",
    "detect_stacks",
    "find_stacks",
]

log = logging.getLogger(__name__)

LAYER = "detections"
# The chain holds a whole stack in memory: a stack of 2500 km² of 10 m pixels (the regions'
# default max_area_km2; 5000 x 5000) peaked at 6.9 GB, and at 11.7 GB with 625 candidates (a
# 100 km² region's stack tiled 5 x 5, 2026-12-04); one four times larger needs more than a
# machine of 24 GB has: the system kills it with no word of why. Larger stacks are cut into
# tiles first.
MAX_STACK_PIXELS = round(DEFAULT_MAX_AREA_KM2 * 1e6 / PIXEL_SIZE_M**2)


def default_rules() -> VectoriseRules:
    """The rules a region gets by default (``min_area_m2`` 900, :class:`MaskSettings`'
    defaults), as the daily run builds them (:attr:`monitor.config.RegionConfig.rules`)."""
    masks = MaskSettings()
    return VectoriseRules(
        min_slope_deg=masks.min_slope_deg,
        exclude_water=masks.exclude_water,
        exclude_snow=masks.exclude_snow,
        max_post_ndvi=masks.max_post_ndvi,
        exclude_landcover=tuple(masks.exclude_landcover),
    )


# An Earth Engine export's piece: ``<prefix>-<row>-<column>.tif``; the scene is the prefix
# without ``_input`` (a stack's export renamed as the layout names it, or GeeSource.export's
# ``<region>_<post start>``: found in a walk, those were not told as pieces). Run one by one,
# pieces would cut landslides at their edges.
_EXPORT_PIECE = re.compile(r"(?P<stem>.+)" + PIECE_PATTERN)


def _export_pieces(folder: Path) -> dict[str, list[Path]]:
    """The pieces of Earth Engine's exports of stacks in ``folder``, by their name's prefix."""
    found: dict[str, list[Path]] = {}
    for piece in sorted(folder.glob("*-*.tif")):
        match = _EXPORT_PIECE.fullmatch(piece.name)
        if match:
            found.setdefault(match["stem"], []).append(piece)
    return found


def _mosaic_hint(stem: str, pieces: list[Path]) -> str:
    """What the pieces of one export are, and the commands that make them one stack: the
    mosaic loses the band names (gdalbuildvrt drops them), so the layout's bands are taken, in
    its order, as it is made (an export of the features' 36 bands holds them first: found in
    a walk, a mosaic of all 36 was then refused)."""
    scene = stem.removesuffix("_input")
    try:
        with open_geotiff(pieces[0]) as src:
            names = [str(d) for d in src.descriptions]
    except rasterio.errors.RasterioIOError:  # refused when the mosaic runs
        names = []
    order = list(range(len(MODEL_BANDS)))  # unnamed: the layout's bands first, as
    if all(name in names for name in MODEL_BANDS):  # gee_scripts.export writes them
        order = [names.index(name) for name in MODEL_BANDS]
    fits = len(names) == len(MODEL_BANDS) and order == list(range(len(MODEL_BANDS)))
    bands = "" if fits or len(names) < len(MODEL_BANDS) else "".join(f"-b {i + 1} " for i in order)
    return (
        f"{len(pieces)} piece(s) of the Earth Engine export {scene} "
        f"({first_names([p.name for p in pieces], 2)}), which do not overlap: mosaic them "
        f"into one stack first (gdalbuildvrt {scene}.vrt {stem}-*.tif && "
        f"gdal_translate {bands}{scene}.vrt {scene}_input.tif)"
    )


def _pieces_hint(folder: Path, mosaicked: Collection[str] = ()) -> str:
    """What :func:`_mosaic_hint` says of each export split into pieces in ``folder``, but
    those of the ``mosaicked`` scenes (their ``<id>_input.tif`` is there)."""
    pieces = _export_pieces(folder).items()
    return "; ".join(
        _mosaic_hint(s, p) for s, p in pieces if s.removesuffix("_input") not in mosaicked
    )


def find_stacks(path: Path) -> list[Path]:
    """The stack file ``path``, or every ``*_input.tif`` of the folder ``path`` or of its
    ``input/`` (refused where both hold some), sorted. The pieces of an Earth Engine export
    split into several files are named with how to mosaic them, never run one by one."""
    path = Path(path)
    if path.is_file():
        piece = _EXPORT_PIECE.fullmatch(path.name)
        if piece:
            pieces = _export_pieces(path.parent)[piece["stem"]]
            raise BadInput(f"{path}: one of {_mosaic_hint(piece['stem'], pieces)}")
        if not path.name.endswith(INPUT_SUFFIX):
            raise BadInput(f"{path}: a stack is named <id>_input.tif (Ganerød et al. layout)")
        return [path]
    if not path.is_dir():
        raise BadInput(f"--stack {path}: no such file or folder")
    top, nested = (
        sorted(path.glob(f"*{INPUT_SUFFIX}")),
        sorted((path / "input").glob(f"*{INPUT_SUFFIX}")),
    )
    if top and nested:  # which were meant cannot be told; running one set lost the other quietly
        raise BadInput(
            f"--stack {path}: it holds stacks of its own ({first_names([p.name for p in top])}) "
            f"and in {path / 'input'} ({first_names([p.name for p in nested])}); give one of the "
            "two folders, or move the stacks into one"
        )
    inputs = top or nested
    if not inputs:
        split = _pieces_hint(path) or _pieces_hint(path / "input")
        near = [
            name
            for folder in (path, path / "input")
            if folder.is_dir()
            for name in near_names(folder, INPUT_SUFFIX, [])
        ]
        raise BadInput(
            f"--stack {path}: no *_input.tif in it or in {path / 'input'}"
            + split_hint(path)
            + (f"; it holds {split}" if split else "")
            + (
                f"; named otherwise, not run (the name is case-sensitive, and a copy's ' (1)' is "
                f"no part of it): {first_names(near)}"
                if near and not split
                else ""
            )
        )
    # a stack named otherwise (.tiff, _INPUT.TIF: the layout's name is case-sensitive) is not
    # run; said, so that a folder of 40 exports where 3 are named so does not lose them quietly
    near = near_names(inputs[0].parent, INPUT_SUFFIX, inputs)
    if near:
        log.warning(
            "%s: %d file(s) not run, as a stack is named <id>_input.tif: %s",
            inputs[0].parent, len(near), first_names(near),
        )  # fmt: skip
    split = _pieces_hint(inputs[0].parent, {scene_id_of(p) for p in inputs})
    if split:
        log.warning("%s: not run: %s", inputs[0].parent, split)
    return inputs


# A stack's square metre that differs more than this from its UTM zone's (a stack in another
# zone) is said in its warnings; the areas are taken in that zone whatever the difference.
_AREA_SCALE_SAID = 0.001


def _centre_lonlat(crs: CRS, transform: Affine, width: int, height: int) -> tuple[float, float]:
    xs, ys = warp_transform(
        crs, "EPSG:4326", [transform.c + transform.a * width / 2],
        [transform.f + transform.e * height / 2],
    )  # fmt: skip
    return float(xs[0]), float(ys[0])


def _areal_scale(crs: CRS, lon: float, lat: float) -> float:
    """PROJ's areal scale of ``crs`` at ``lon``, ``lat`` (an area on the ground times it is
    its area in ``crs``); NaN where PROJ cannot tell (a projection it cannot differentiate, or
    a point off the projection's domain, where it says inf)."""
    try:
        scale = float(Proj(crs.to_wkt()).get_factors(lon, lat).areal_scale)
    except (ProjError, PyprojCRSError):
        return math.nan
    return scale if math.isfinite(scale) else math.nan


def _inventory_area_scale(
    crs: CRS, transform: Affine, width: int, height: int
) -> tuple[float, str]:
    """The UTM zone of the stack's centre (:func:`monitor.grid.utm_crs_for`: as the inventory
    measures a region's landslides in the UTM zone of its centroid) and the area in that zone
    of one square metre of the stack's CRS at the stack's centre, the ratio of their areal
    scales there (:func:`_areal_scale`): 1.0 for a stack in that zone, 0.982 for one in
    EPSG:32634 at 9.9° E, two zones east; 1.0 where PROJ cannot tell (:func:`check_stack`
    warns of that). One ratio for the whole stack: across a 50 km stack two zones from its own
    it varies by about 0.2 %."""
    lon, lat = _centre_lonlat(crs, transform, width, height)
    utm = utm_crs_for(lon, lat)
    if crs == CRS.from_string(utm):
        return 1.0, utm
    ratio = _areal_scale(CRS.from_string(utm), lon, lat) / _areal_scale(crs, lon, lat)
    return (ratio if math.isfinite(ratio) else 1.0), utm


def _not_measurable(
    crs: CRS, transform: Affine, width: int, height: int, warnings: list[str]
) -> str | None:
    """Why the stack's CRS cannot measure areas on the ground (None where it can); where PROJ
    cannot tell its areal scale, a line in ``warnings`` says that it went unchecked."""
    try:
        lon, lat = _centre_lonlat(crs, transform, width, height)
    except (CRSError, rasterio.errors.RasterioError):  # an engineering or local CRS
        return f"its CRS ({crs.to_string()}) cannot be placed on the globe"
    if crs.is_geographic:
        return f"its CRS ({crs.to_string()}) is in degrees"
    try:
        unit, factor = crs.linear_units_factor
    except CRSError:
        unit, factor = "no named unit", 0.0
    if factor != 1.0:
        return f"its CRS ({crs.to_string()}) is in {unit}"
    scale = _areal_scale(crs, lon, lat)
    if math.isnan(scale):
        warnings.append(
            f"PROJ cannot tell how its CRS ({crs.to_string()}) scales areas at the stack's "
            "centre: its areas are taken as they are (a UTM zone at 10 m is what the chain "
            "expects)"
        )
        return None
    if abs(scale - 1.0) > AREAL_SCALE_TOLERANCE:
        return (
            f"its CRS ({crs.to_string()}) distorts areas {scale:.2f} times at the stack's "
            "centre (Web Mercator does, by latitude)"
        )
    return None


def check_stack(path: Path, max_pixels: int = MAX_STACK_PIXELS) -> list[str]:
    """Refuse, before anything runs or is written, a stack the chain cannot read or measure:
    the header checks of :func:`models.datasets.check_input` (15 float bands, model band
    names or none), more than ``max_pixels`` pixels (:data:`MAX_STACK_PIXELS`: held in memory
    whole), no CRS or transform, or a CRS that does not measure ground areas in metres
    (degrees, feet, Web Mercator: areas, the minimum area and the simplification are in metres;
    Earth Engine exports in EPSG:4326 unless told otherwise). Returns warnings: a pixel size
    other than the 10 m the members were trained on, a CRS whose areal scale PROJ cannot
    compute, radar bands brighter than land and dNDVI exactly 0 on much of the stack
    (:func:`_check_values`), an elevation that matches its slope band best shifted against it
    (:func:`_dem_offset`)."""
    try:
        order = check_input(path)
    except DatasetError as err:
        raise BadInput(str(err)) from err
    try:
        with open_geotiff(path) as src:
            crs, transform, width, height = src.crs, src.transform, src.width, src.height
            if width * height > max_pixels:
                side = math.isqrt(max_pixels)
                raise BadInput(
                    f"{path}: {width} x {height} pixels, more than the {max_pixels:,} "
                    "(--max-pixels) the chain holds in memory at once (one of 5000 x 5000 "
                    "pixels peaked at 7-12 GB); cut it into tiles named <id>_input.tif in "
                    "a folder of their own, overlapping by a few hundred metres so that no "
                    "landslide is cut at an edge (one in an overlap is then drawn in both "
                    "tiles), and run that folder (e.g. mkdir -p tiles && gdal_translate "
                    f"-srcwin 0 0 {min(side, width)} {min(side, height)} {path.name} "
                    "tiles/t_0_0_input.tif: a window past the stack's edge is filled with 0), "
                    "or raise --max-pixels on a machine with the memory"
                )
            try:
                warnings = _check_values(src, path, order)
            except _NotTheLayoutsValues as err:
                if order is not None:
                    raise
                # unnamed bands in another order fail a value check first: say what it reads
                raise BadInput(_read_in_order(err)) from None
    except rasterio.errors.RasterioIOError as err:  # a damaged block, a partial download
        raise BadInput(_unreadable(path, err)) from err
    if crs is None or transform.is_identity:
        raise BadInput(f"{path}: no CRS or geotransform; a stack must be georeferenced")
    if transform.b or transform.d or transform.a <= 0 or transform.e >= 0:
        # the members learnt north-up scenes: the same ground stored south-up (rows reversed)
        # or rotated gives other detections
        raise BadInput(
            f"{path}: its grid is not north-up (geotransform {tuple(transform)[:6]}); the "
            "members learnt north-up scenes. Write it north-up: gdalwarp -r near IN OUT"
        )
    why = _not_measurable(crs, transform, width, height, warnings)
    if why is not None:
        try:
            utm = utm_crs_for(*_centre_lonlat(crs, transform, width, height))
            fix = (
                f" (Earth Engine: crs='{utm}', scale={PIXEL_SIZE_M:g}) or reproject it: "
                f"gdalwarp -t_srs {utm} -tr {PIXEL_SIZE_M:g} {PIXEL_SIZE_M:g} -r near "
                "-dstnodata nan IN OUT"
            )
        except (CRSError, rasterio.errors.RasterioError):
            fix = ", in its UTM zone"
        raise BadInput(
            f"{path}: {why}; areas, the minimum area and the outline simplification need "
            f"metres on the ground. Export it in a metric CRS at {PIXEL_SIZE_M:g} m{fix}"
        )
    try:  # its pixels in metres now: the elevation's rise against the slope band
        with open_geotiff(path) as src:
            warnings += _check_terrain(src, path, order)
    except _NotTheLayoutsValues as err:
        if order is not None:
            raise
        raise BadInput(_read_in_order(err)) from None
    except rasterio.errors.RasterioIOError as err:  # a damaged block the sample skipped
        raise BadInput(_unreadable(path, err)) from err
    size = (abs(transform.a), abs(transform.e))
    if not np.allclose(size, PIXEL_SIZE_M, rtol=0.05):
        warnings.append(
            f"pixels of {size[0]:g} x {size[1]:g} m: the members were trained on "
            f"{PIXEL_SIZE_M:g} m pixels (Sentinel-2's), their output at other sizes is untested"
        )
    scale, utm = _inventory_area_scale(crs, transform, width, height)
    if abs(scale - 1.0) > _AREA_SCALE_SAID:
        warnings.append(
            f"its CRS ({crs.to_string()}) is not the UTM zone of its centre ({utm}), where one "
            f"of its square metres measures {scale:.4f} m²: area_m2 and min_area_m2 are taken "
            f"in {utm}, as the inventory measures areas; the outlines stay in its CRS"
        )
    return warnings


def _unreadable(path: Path, err: rasterio.errors.RasterioIOError) -> str:
    """A stack whose pixels cannot be read (a damaged block, a partial download). rasterio's
    "Read failed. See previous exception for details." names no cause: GDAL's is the exception
    it chained."""
    cause = err.__cause__ or err.__context__
    detail = f"{err}" + (f" ({cause})" if cause is not None and str(cause) else "")
    return f"{path}: cannot read its pixels, the file is damaged or incomplete: {detail}"


def _read_in_order(err: BadInput) -> str:
    """A value check's refusal of a stack whose bands carry no names, saying that they were
    read in the layout's order (bands written in another order fail a value check first)."""
    said = str(err)
    return (
        f"{said}{'' if said.endswith(('?', '.')) else '.'} Its bands carry no model band names, "
        f"so they are read in the layout's order ({', '.join(MODEL_BANDS)}): if the file holds "
        "them in another order, name them (GeoTIFF band descriptions) or write them in it"
    )


class _NotTheLayoutsValues(BadInput):
    """A band whose values are not what the layout holds under its name (a range, a scale, a
    unit, the difference of two others): what unnamed bands in another order also give."""


def _aligned(
    src: rasterio.io.DatasetReader, order: list[int] | None, step: int
) -> dict[str, np.ndarray]:
    """The model bands of ``src`` by name, every ``step``-th pixel of each axis
    (:func:`models.datasets.read_bands`: in strips, a large pixel-interleaved stack is not
    decoded once per band), no data as NaN (pixels kept in place, so that bands can be
    compared pixel by pixel): what the file declares as no data, its nodata value or a mask
    band, as :func:`models.datasets.read_input` reads it."""
    masked = read_bands(src, [file_index(name, order) + 1 for name in MODEL_BANDS], step)
    filled = masked.filled(np.nan).astype(np.float64)
    zero_valued = [MODEL_BANDS.index(n) for n in ZERO_IS_A_VALUE]
    zero_values_in_footprint(filled, masked.data, src.nodata, zero_valued)
    return dict(zip(MODEL_BANDS, filled, strict=True))


# The elevation against the slope band (_check_terrain): the rise of the elevation over the
# tangent of the slope, whose medians agree to within 8 % on the simulated scenes with the DEM at
# 10 m or resampled from 30 m (3 pixels either side); feet give 3.2-3.3, a slope in percent
# 0.36-0.56. A rough DEM whose slope was computed at its own pixels reads 0.58-0.77 at 3 pixels
# (a review's fractal terrain), near 1 at 1 pixel: either step within the range passes.
_TERRAIN_RATIO = (0.65, 1.6)
_TERRAIN_LAGS_PX = (1, 3)
_TERRAIN_WINDOW_PX = 512
_TERRAIN_MIN_SLOPE_DEG = 5.0
_TERRAIN_MIN_PIXELS = 400


def _check_values(src: rasterio.io.DatasetReader, path: Path, order: list[int] | None) -> list[str]:
    """:func:`models.stack_values.check_values` on ``src`` read on a decimated grid
    (:func:`_aligned`, at most :data:`VALUE_SAMPLE_PX` a side): a refusal is bad input. Returns
    the warnings of radar bands brighter than land (:func:`models.feature_stack.sigma0_too_bright`:
    the natural log of power, which the range checks pass) and of dNDVI exactly 0 on
    :data:`_ZERO_DNDVI_SHARE` of the pixels or more (cloud gaps filled with 0)."""
    step = sample_step(src.height, src.width)
    sampled = _aligned(src, order, step)
    try:
        check_values(sampled, str(path), step)
    except StackValueError as err:
        raise (_NotTheLayoutsValues if err.layout else BadInput)(str(err)) from None
    warnings = []
    # found in a walk: radar bands as ln(power) ran without a word, and drew other detections
    bright = [
        f"{window} (VV {medians[0]:.3g} dB, VH {medians[1]:.3g} dB)"
        for window in ("pre", "post")
        if (medians := sigma0_too_bright(sampled[f"{window}VV"], sampled[f"{window}VH"]))
    ]
    if bright:
        warnings.append(
            f"radar medians of {' and '.join(bright)}, where land lies near -8 to -15 dB in VV "
            "and -15 to -25 dB in VH: the natural log of power (log) instead of 10 * log10, or "
            "tenths of dB read as hundredths? The layout holds 10 * log10 of the power; dVV and "
            "dVH so scaled are four or ten times too small, and the members see other values"
        )
    # found in a walk: cloud gaps filled with 0 (image.unmask()) over a third of a stack, where
    # its landslides lay, ran as clear optical and drew none of them
    dndvi = sampled["dNDVI"][np.isfinite(sampled["dNDVI"])]
    zeros = float(np.mean(dndvi == 0)) if dndvi.size else 0.0
    if dndvi.size >= _ZERO_DNDVI_MIN_PIXELS and _ZERO_DNDVI_SHARE <= zeros < 1.0:
        warnings.append(
            f"dNDVI is exactly 0 on {zeros:.0%} of its pixels, where a difference of two "
            "composites seldom is: a fill where the post window had no clear view (Earth "
            "Engine's image.unmask() writes 0)? Those pixels read as unchanged ground; write "
            "NaN there, so that the chain falls back to radar"
        )
    return warnings


# dNDVI of exactly 0 on this share of a stack's pixels or more is said (_check_values): on the
# simulated scenes at most 3 in 100 000 are (285 scene files, measured 2026-12-07); judged
# from this many pixels of the decimated grid
_ZERO_DNDVI_SHARE = 0.05
_ZERO_DNDVI_MIN_PIXELS = 20


def _check_terrain(
    src: rasterio.io.DatasetReader, path: Path, order: list[int] | None
) -> list[str]:
    """Refuse an elevation whose gradient is not the slope band's: an elevation in feet
    rises 3.28 times as steeply as the slope computed from the DEM in metres, one that passes
    the range check (below 8849 ft), and a slope in percent reads steeper than its elevation.
    Read at full resolution over the stack's centre (at most :data:`_TERRAIN_WINDOW_PX` a side),
    the gradient by central differences 1 and 3 pixels either side (:data:`_TERRAIN_LAGS_PX`),
    against the tangent of the slope band, medians over the pixels steeper than
    :data:`_TERRAIN_MIN_SLOPE_DEG` (flat ground says nothing). Refused only where neither
    ratio lies within :data:`_TERRAIN_RATIO`: the wider step reads a DEM resampled from a
    coarser one as its slope was computed, the narrower a rough DEM whose slope was computed at
    its own pixels (the wider smooths its relief). Returns the warning of an elevation shifted
    against the slope band (:func:`_dem_offset`), which has the same medians."""
    side, widest = _TERRAIN_WINDOW_PX, max(_TERRAIN_LAGS_PX)
    if src.height <= 2 * widest or src.width <= 2 * widest:
        return []
    h, w = min(side, src.height), min(side, src.width)
    window = rasterio.windows.Window((src.width - w) // 2, (src.height - h) // 2, w, h)
    indexes = [file_index(n, order) + 1 for n in ("elevation", "slope")]
    read = src.read(indexes, window=window, masked=True).astype(np.float64)
    elevation, slope = read.filled(np.nan)
    res_x, res_y = abs(src.transform.a), abs(src.transform.e)
    inner = slope[widest:-widest, widest:-widest]  # the pixels every step can difference
    tangent = np.tan(np.radians(inner))
    rows, cols = slice(widest, h - widest), slice(widest, w - widest)
    ratios = []
    nearest = np.empty(0)  # the rise over the narrowest step, what the shift is judged by
    for lag in _TERRAIN_LAGS_PX:
        dz_dx = (
            elevation[rows, widest + lag : w - widest + lag]
            - elevation[rows, widest - lag : w - widest - lag]
        ) / (2 * lag * res_x)
        dz_dy = (
            elevation[widest + lag : h - widest + lag, cols]
            - elevation[widest - lag : h - widest - lag, cols]
        ) / (2 * lag * res_y)
        rise = np.hypot(dz_dx, dz_dy)
        steep = np.isfinite(rise) & np.isfinite(inner) & (inner > _TERRAIN_MIN_SLOPE_DEG)
        if steep.sum() < _TERRAIN_MIN_PIXELS:
            # steep by the elevation's own rise, while the slope band stays below pi / 2: in
            # radians (a review: it passed, and the slope rule dropped every detection)
            rising = np.isfinite(rise) & (rise > math.tan(math.radians(_TERRAIN_MIN_SLOPE_DEG)))
            finite = inner[np.isfinite(inner)]
            if rising.sum() >= _TERRAIN_MIN_PIXELS and finite.size and finite.max() <= math.pi / 2:
                raise _NotTheLayoutsValues(
                    f"{path}: the slope band stays below {finite.max():.3g} where the elevation "
                    f"rises more than {_TERRAIN_MIN_SLOPE_DEG:g}° on {int(rising.sum())} pixels: "
                    "is the slope in radians? The layout holds it in degrees (gdaldem slope)"
                )
            return []
        ratios.append(float(np.median(rise[steep]) / np.median(tangent[steep])))
        if lag == min(_TERRAIN_LAGS_PX):
            nearest = rise
    low, high = _TERRAIN_RATIO
    said = " and ".join(f"{r:.2f}" for r in ratios)
    where = (
        f"medians over {int(steep.sum())} pixels steeper than {_TERRAIN_MIN_SLOPE_DEG:g}°, "
        f"differences {' and '.join(str(g) for g in _TERRAIN_LAGS_PX)} pixels either side"
    )
    # pixel by pixel, over the steep pixels: a unit changes the medians and keeps the order,
    # a DEM of another place or grid keeps the medians (the same terrain) and loses the order
    # (a plane's slope band, one value, says nothing of order: not judged)
    steep_band = np.isfinite(inner) & (inner > _TERRAIN_MIN_SLOPE_DEG)
    spread = float(np.ptp(np.percentile(inner[steep_band], [10, 90])))
    # the best within a pixel (sought where it falls short in place): a DEM resampled from a
    # coarser one by nearest neighbour may lie a pixel off, which is no mistake
    band = np.where(steep_band, tangent, np.nan)
    agree = _rank_correlation(nearest, band) if spread >= _DEM_AGREEMENT_SPREAD_DEG else 1.0
    if agree < _DEM_AGREEMENT_MIN:
        near = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]
        agree = max(agree, *(_rank_correlation(nearest, band, shift) for shift in near))
    apart = (
        f" The elevation's slope and the band hardly agree pixel by pixel (rank correlation "
        f"{agree:.2f} over the steep pixels; the slope of the same DEM reads "
        f"{_DEM_AGREEMENT_MIN:g} or more): is the DEM shifted against the stack farther than the "
        f"{_shift_search(nearest.shape)} pixels sought (cut or resampled on another grid), of "
        "another place, "
        "or is the slope of another DEM? Write the DEM on the stack's pixels (gdalwarp -te and "
        "-tr of the stack's extent and pixel size) and its slope from it (gdaldem slope)"
        if agree < _DEM_AGREEMENT_MIN
        else ""
    )
    if min(ratios) > high:
        raise _NotTheLayoutsValues(
            f"{path}: elevation rises {said} times as steeply as the slope band says ({where}): "
            "is the elevation in feet (3.28)? The layout holds metres, and the slope of the "
            f"same DEM.{apart}"
        )
    if max(ratios) < low:
        raise _NotTheLayoutsValues(
            f"{path}: the slope band is steeper than the elevation rises ({said} of it; "
            f"{where}): is the slope in percent, or of another, coarser DEM than the elevation? "
            f"The layout holds the slope in degrees of the same DEM.{apart}"
        )
    offset = _dem_offset(nearest, tangent)
    if offset is None:
        # found in a walk: a DEM 350-500 m off on a small stack, past the shifts sought,
        # passed without a word (the medians agree)
        return [apart.strip()] if apart else []
    (rows_off, cols_off), at_zero, best, search = offset
    # the elevation at p shows what the band shows at p + shift: its relief lies -shift away;
    # a shift at the search's edge may be larger (a review: 29 and 35 pixels read as 28)
    axes = ((cols_off, res_x, ("east", "west")), (rows_off, res_y, ("south", "north")))
    moved = [
        f"{'at least ' if abs(n) == search else ''}{abs(n) * size:g} m {word[n > 0]}"
        for n, size, word in axes
        if n
    ]
    return [
        f"the elevation's relief lies {' and '.join(moved)} of the slope band's (rank "
        f"correlation of the elevation's slope with the band {at_zero:.2f} in place, {best:.2f} "
        "shifted back): is the DEM cut or resampled on another grid than the stack? Write it on "
        "the stack's pixels (gdalwarp -te and -tr of the stack's extent and pixel size); the "
        "object filter's terrain features read it"
    ]


# An elevation shifted against its slope band (_dem_offset): the rank correlation of the
# elevation's slope with the band is 1.00 in place on the simulated scenes and on a walk's
# synthetic stacks (a DEM nearest-resampled from 30 m: best at most 1 pixel off); shifted,
# it falls on the simulated terrain to 0.84 for 5 pixels, 0.67-0.68 for 10 and 0.16-0.31 for 40
# (two test regions), on the walk's smoother synthetic terrain to 0.53 for 40 (measured
# 2026-12-07). Said where the best shift is at least _DEM_SHIFT_PX pixels off and gains
# _DEM_SHIFT_GAIN; shifts are sought up to _DEM_SHIFT_SEARCH_PX pixels, and a quarter of the
# window's side.
_DEM_SHIFT_PX = 2
_DEM_SHIFT_GAIN = 0.15
_DEM_SHIFT_SEARCH_PX = 64


def _dem_offset(
    rise: np.ndarray, tangent: np.ndarray
) -> tuple[tuple[int, int], float, float, int] | None:
    """The shift (rows, columns: the band's pixel that the elevation's pixel at (0, 0) matches)
    at which the elevation's ``rise`` (tangent of its slope) best matches the slope band's
    ``tangent``, with the rank correlation in place and at that shift, where that shift lies
    :data:`_DEM_SHIFT_PX` or more off and gains :data:`_DEM_SHIFT_GAIN`, and the largest shift
    sought; else None. Both on one grid, NaN where unknown. The shift is found among all up to
    :data:`_DEM_SHIFT_SEARCH_PX` (and a quarter of each side) at once by FFT: the correlation of
    the whole grids' ranks (as uniform scores), each shift normalised by the pixels it overlaps
    (at least half); the two correlations returned are those of the ranks of the overlapping
    pixels alone."""
    h, w = rise.shape
    search = _shift_search(rise.shape)
    if search < _DEM_SHIFT_PX:
        return None

    def scores(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        known = np.isfinite(values)
        ranks = np.zeros(values.shape)
        ranks[known] = (rankdata(values[known]) - 0.5) / known.sum() - 0.5  # ties: their mean
        return ranks * np.sqrt(12.0), known.astype(np.float64)  # about unit variance

    (a, ka), (b, kb) = scores(rise), scores(tangent)
    size = (2 * h, 2 * w)

    def correlate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # sum over p of x[p] * y[p + s], for every shift s (rows, columns), by FFT
        full = np.fft.irfft2(np.conj(np.fft.rfft2(x, size)) * np.fft.rfft2(y, size), size)
        return np.roll(full, (search, search), axis=(0, 1))[: 2 * search + 1, : 2 * search + 1]

    overlap = correlate(ka, kb)
    enough = overlap >= 0.5 * min(ka.sum(), kb.sum())
    if not enough[search, search]:
        return None
    r = np.where(enough, correlate(a, b) / np.maximum(overlap, 1.0), -np.inf)
    row, col = np.unravel_index(int(np.argmax(r)), r.shape)
    shift = (int(row) - search, int(col) - search)
    if max(abs(shift[0]), abs(shift[1])) < _DEM_SHIFT_PX:
        return None
    at_zero = _rank_correlation(rise, tangent, (0, 0))
    best = _rank_correlation(rise, tangent, shift)
    if best - at_zero < _DEM_SHIFT_GAIN:
        return None
    return shift, at_zero, best, search


def _shift_search(shape: tuple[int, ...]) -> int:
    """The largest shift :func:`_dem_offset` seeks on a grid of ``shape``: up to
    :data:`_DEM_SHIFT_SEARCH_PX`, and a quarter of each side."""
    return min(_DEM_SHIFT_SEARCH_PX, shape[0] // 4, shape[1] // 4)


# The least rank correlation of the elevation's slope (1 pixel either side) with the slope band
# over pixels steeper than _TERRAIN_MIN_SLOPE_DEG that a DEM and its own slope are taken to
# reach: 1.00 on the simulated scenes, 0.86 on rough (fractal) terrain whose slope is Horn's
# 3 x 3 kernel, 0.82 for that slope in percent; the same elevation shifted 35-50 pixels reads
# -0.01 to 0.00, against the slope of its 30 m or 50 m block means 0.23 and 0.11 (measured
# 2026-12-08, tests/run/test_detect_stack.py's rough terrain).
_DEM_AGREEMENT_MIN = 0.5
# judged where the slope band's steep pixels span this many degrees between their 10th and 90th
# percentiles or more (rough terrain: about 20; a planar hill: 0)
_DEM_AGREEMENT_SPREAD_DEG = 2.0


def _rank_correlation(x: np.ndarray, y: np.ndarray, shift: tuple[int, int] = (0, 0)) -> float:
    """Spearman's correlation of ``x[p]`` and ``y[p + shift]`` (ties ranked by their mean) over
    the pixels where both are known (NaN: unknown); 0 where fewer than 3 are, or either is
    constant there."""
    parts = []
    for n, size in zip(shift, x.shape, strict=True):  # x's and y's slices along each axis
        n = max(-size, min(size, n))  # a shift past the grid overlaps nothing
        parts.append((slice(max(-n, 0), size - max(n, 0)), slice(max(n, 0), size + min(n, 0))))
    a, b = x[parts[0][0], parts[1][0]], y[parts[0][1], parts[1][1]]
    known = np.isfinite(a) & np.isfinite(b)
    if known.sum() < 3:
        return 0.0
    r = spearmanr(a[known], b[known]).statistic
    return float(r) if np.isfinite(r) else 0.0


@dataclass
class StackJob:
    """What to run on the stacks: the model, how its setting is chosen, the rules, the filter
    and the cut (None: the filter's own)."""

    model: ChainModel
    policy: ModelSettings
    rules: VectoriseRules
    object_filter: ObjectFilterModel | None
    cut: float | None = None
    # for summary.json's ``model``: the manifest and its SHA-256, the baseline's folder, the
    # configuration and region whose rules applied
    record: dict[str, Any] = field(default_factory=dict)
    # that region's outline (lon/lat): a stack outside it is said (its rules apply anyway)
    outline: BaseGeometry | None = None

    @property
    def region(self) -> str | None:
        """The region of the configuration whose rules apply (None without one): the
        detections' ``region``, as the inventory's is the region's name."""
        region = self.record.get("region")
        return None if region is None else str(region)


class _Collect(logging.Handler):
    """A handler that keeps the messages of the records it is given."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


@contextmanager
def _warnings_of_the_chain(into: list[str]) -> Iterator[None]:
    """Append the warnings the chain (:mod:`monitor.pipeline`) logs in the block to ``into``;
    they are logged as before."""
    handler = _Collect(into)
    logger = logging.getLogger("monitor.pipeline")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def detect_stacks(
    stacks: list[Path], out: Path, job: StackJob, warnings: dict[Path, list[str]]
) -> dict[str, Any]:
    """Run the chain on every stack and write ``out`` (see the module docstring); ``warnings``
    are :func:`check_stack`'s for each stack, which has refused the bad ones before this.
    The polygons and the summary are written again after each scene, with the stacks not run
    yet (``not_run``), so that a run killed outright (out of memory) leaves the scenes it
    finished. Where a stack fails all the same (a block that cannot be read, an interruption),
    the scenes done before it are written, with the stack that stopped the run in
    ``summary.json`` (``stopped_at``), and the error is raised."""
    out = Path(out)
    _say_what_is_replaced(out, stacks)
    out.mkdir(parents=True, exist_ok=True)
    # an earlier run's polygons and summary go before this run's first raster replaces one of
    # its rasters: a run killed part-way (no handler runs) leaves none of them beside its own
    for earlier in (out / DETECTIONS_FILE, out / SUMMARY_FILE):
        earlier.unlink(missing_ok=True)
    # and what a run killed while it wrote one of this run's files left (temporary files,
    # never read; another scene's, which another run may be writing, stay)
    stems = [scene_id_of(path) for path in stacks]
    left = [
        *leftovers(out / DETECTIONS_FILE),
        *leftovers(out / SUMMARY_FILE),
        *cog_leftovers(out, stems),
    ]
    for part in left:
        part.unlink(missing_ok=True)
    if left:
        log.info("%s: %d temporary file(s) of a killed run removed", out, len(left))
    frames: list[gpd.GeoDataFrame] = []
    # what ran: whether a filter did (a manifest may have none), the cut given (None: its own)
    model = {**job.record, "filter": job.object_filter is not None, "cut": job.cut}
    summary: dict[str, Any] = {"model": model, "scenes": {}}
    try:
        for done, path in enumerate(stacks, start=1):
            if done > 1:  # what a kill leaves: the scenes done, and the stacks left
                summary["not_run"] = [str(p) for p in stacks[done - 1 :]]
                _write_detections(out, frames, summary)
            try:
                scene = read_input(path)
            except DatasetError as err:
                raise BadInput(str(err)) from err
            scene_id = scene.id
            # which file was run, so that evaluate --chain refuses to score these polygons
            # against another scene of the same id (another split, a re-drawn world)
            ran = {"stack": str(path), "sha256": sha256_file(path)}
            stack = stack_from_scene(scene)
            # areas in the UTM zone of the stack's centre, as the inventory measures them
            area_scale, _ = _inventory_area_scale(
                stack.rio.crs, stack.rio.transform(), stack.sizes["x"], stack.sizes["y"]
            )
            said = list(warnings[path])
            note = no_data_note(stack["landcover"].values)
            if note is not None:  # read as any code: said, not refused
                said.append(note)
            for warning in said:
                log.warning("%s: %s", path, warning)
            try:
                # what the chain warns of this scene goes into its summary too (found in a
                # walkthrough: the pixels left without a prediction were in the log alone)
                with _warnings_of_the_chain(said):
                    found = detect(
                        stack,
                        job.model,
                        job.policy,
                        job.rules,
                        job.object_filter,
                        cut=job.cut,
                        device=job.policy.device,
                        area_scale=area_scale,
                    )
            except NoUsableSetting as err:
                log.warning("%s (%d of %d): no detection: %s", scene_id, done, len(stacks), err)
                for stale in cog_paths(out, scene_id):  # an earlier run's, beside "no-data"
                    stale.unlink(missing_ok=True)
                summary["scenes"][scene_id] = {
                    **ran,
                    "status": "no-data",
                    "message": str(err),
                    "warnings": said,
                }
                continue
            empty = found.choice.empty_bands  # as the setting was chosen on them
            if empty:  # a layer the export lacked: the settings that need it are skipped
                said.append(
                    f"model bands without any value: {', '.join(empty)} (the settings that "
                    "need them do not run)"
                )
                log.warning("%s: %s", path, said[-1])
            rasters = write_cogs(found.prediction, stack, out, scene_id)
            candidates = found.candidates.copy()
            candidates.insert(0, "scene", scene_id)
            # the stack's attributes name it by its scene id; the inventory's region is the
            # region whose rules applied (none without a configuration)
            candidates["region"] = job.region
            frames.append(candidates)
            summary["scenes"][scene_id] = {
                **ran,
                "status": "ok",
                "setting": found.choice.setting,
                "setting_reason": found.choice.reason,
                "candidates": len(candidates),
                "suppressed": int(candidates["suppressed"].sum()),
                "cut": found.cut,
                "rasters": [p.name for p in rasters],
                "warnings": said,
            }
            log.info(  # the progress of a folder
                "%s (%d of %d): %s, %d candidate(s), %d suppressed",
                scene_id,
                done,
                len(stacks),
                found.choice.setting,
                len(candidates),
                int(candidates["suppressed"].sum()),
            )
    except BaseException as err:
        # what is done is kept, and the folder holds this run's polygons and summary, never an
        # earlier run's next to this run's rasters
        summary["stopped_at"] = {"stack": str(path), "error": str(err) or type(err).__name__}
        summary["not_run"] = [str(p) for p in stacks[stacks.index(path) :]]
        _write_detections(out, frames, summary)
        log.error(
            "%s: the run stopped here; the %d scene(s) done before it are written to %s",
            path,
            len(summary["scenes"]),
            out,
        )
        raise
    summary.pop("not_run", None)
    _write_detections(out, frames, summary)
    return summary


def _say_what_is_replaced(out: Path, stacks: list[Path]) -> None:
    """Warn where ``out`` holds an earlier run's detections of scenes that none of ``stacks``
    is: this run's polygons and summary replace them (tiles run one at a time into one
    folder would keep only the last)."""
    try:
        earlier = json.loads((out / SUMMARY_FILE).read_text())["scenes"]
    except (OSError, ValueError, KeyError, TypeError):  # none, or not detect's: the polygons'
        earlier = _scenes_drawn(out / DETECTIONS_FILE)  # scenes (found in a walk: said nothing)
    mine = {scene_id_of(p) for p in stacks}
    gone = sorted(str(s) for s in earlier if s not in mine)
    if gone:
        log.warning(
            "%s holds the detections of %d scene(s) this run does not have (%s): its "
            "detections.gpkg and summary.json will hold this run's scenes only (their rasters "
            "stay); give each run its own --out, or run the stacks as one folder",
            out, len(gone), first_names(gone),
        )  # fmt: skip


def _scenes_drawn(path: Path) -> list[str]:
    """The scenes of an earlier run's polygons at ``path`` (none where there is no such file,
    or it is not one of detect's)."""
    try:
        scenes = pyogrio.read_dataframe(path, layer=LAYER, columns=["scene"], read_geometry=False)
        return sorted({str(s) for s in scenes["scene"].dropna()})
    except (DataSourceError, DataLayerError, FieldError, KeyError):
        return []


#: Tables a GeoPackage program adds beside a layer (QGIS saves the layer's style in its file).
_BESIDE_A_LAYER = ("layer_styles",)


def refuse_other_layers(out: Path) -> None:
    """Refuse (:class:`BadInput`) an ``out`` whose ``detections.gpkg`` holds layers detect did
    not write: the file is replaced whole, and a layer a user saved into it (reviewed polygons,
    in QGIS) would be lost without a word (found in a walk)."""
    path = out / DETECTIONS_FILE
    if not path.is_file():
        return
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except DataSourceError:  # not a GeoPackage now: nothing of a user's to keep in it
        return
    other = [name for name in layers if name not in (LAYER, *_BESIDE_A_LAYER)]
    if other:
        raise BadInput(
            f"--out {out}: its {DETECTIONS_FILE} holds layer(s) {', '.join(map(repr, other))} "
            f"beside the detections, which this run would lose (it writes the file anew): move "
            "them to a file of their own, or give another --out"
        )


def _write_detections(out: Path, frames: list[gpd.GeoDataFrame], summary: dict[str, Any]) -> None:
    """Write ``detections.gpkg`` (the scenes' candidates ``frames``) and ``summary.json`` to
    ``out``, adding the detections' file and CRS to ``summary``; each replaces the earlier
    one whole, so that a kill leaves one or the other."""
    crss = {f.crs.to_string() for f in frames if f.crs is not None}
    crs = crss.pop() if len(crss) == 1 else "EPSG:4326"
    if frames:
        table = pd.concat([f.to_crs(crs) for f in frames], ignore_index=True)
        # valid for GIS tools, as the inventory's footprints are: pixels that touch at a
        # corner trace a ring that touches itself (invalid to GEOS and QGIS's checker)
        table["geometry"] = [multipolygon(g) for g in table["geometry"]]
        detections = gpd.GeoDataFrame(table, geometry="geometry", crs=crs)
    else:  # the columns of a scene's candidates, none of them
        detections = empty_detection_candidates(crs)
        detections.insert(0, "scene", pd.Series(dtype=object))
    # the inventory's, not attributes for users
    detections = detections.drop(columns=[FEATURES_COLUMN, FEATURES_ID_COLUMN], errors="ignore")
    path = out / DETECTIONS_FILE
    # each whole or not at all (a full disk: no broken file), the summary last
    write_atomically(path, lambda tmp: _write_gpkg(detections, tmp))
    summary["detections"] = str(path)
    summary["crs"] = crs
    text = json.dumps(summary, indent=1, default=str) + "\n"
    write_atomically(out / SUMMARY_FILE, lambda tmp: tmp.write_text(text))


def _inventory_declarations() -> dict[str, str]:
    """The declared type of each column of the inventory's layer (``DATE``, ``INTEGER``, ...),
    read from its schema (:data:`monitor.store.landslides.SCHEMA`)."""
    with closing(sqlite3.connect(":memory:")) as conn:
        conn.executescript(landslides.SCHEMA)
        rows = conn.execute(f"PRAGMA table_info({landslides.LAYER})")
        return {str(row[1]): str(row[2]) for row in rows}


def _write_gpkg(detections: gpd.GeoDataFrame, path: Path) -> None:
    """``detections`` as the GeoPackage layer :data:`LAYER` at ``path``, each column declared
    as the inventory's column of that name is (:func:`_inventory_declarations`): dates as
    ``DATE``, ``suppressed`` as ``INTEGER`` 0/1, so that the fields match the inventory's in
    QGIS; the others as their values are (``scene`` ``TEXT``). Written through
    pyogrio's own writer, which declares a numpy ``datetime64[D]`` array ``DATE`` (geopandas
    writes dates as text)."""
    declared = _inventory_declarations()
    fields = [str(c) for c in detections.columns if c != detections.geometry.name]
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for name in fields:
        column = detections[name]
        missing = column.isna().to_numpy()
        # None where there is no value (pandas writes NaN into text columns)
        cells = [None if gone else v for v, gone in zip(column.tolist(), missing, strict=True)]
        kind = declared.get(name)
        if kind == "DATE":  # datetime.date objects or ISO text
            values = np.array(["NaT" if v is None else str(v)[:10] for v in cells], "datetime64[D]")
        elif kind == "INTEGER" and column.dtype == bool:
            values = column.to_numpy(dtype=np.int64)
        elif isinstance(column.dtype, np.dtype) and column.dtype != object:
            values = column.to_numpy()  # numbers: NaN written as NULL
        else:  # text, pandas' string dtype among it
            values = np.array(cells, dtype=object)
        data.append(values)
        masks.append(missing if values.dtype == object else None)
    epsg = detections.crs.to_epsg()
    write(
        path,
        geometry=shapely.to_wkb(np.asarray(detections.geometry.values, dtype=object)),
        field_data=data,
        fields=fields,
        field_mask=masks,
        layer=LAYER,
        driver="GPKG",
        geometry_type="MultiPolygon",
        crs=f"EPSG:{epsg}" if epsg else detections.crs.to_wkt(),
    )


# --------------------------------------------------------------------------- the command


def cli_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        type=Path,
        required=True,
        help="a SCENE_input.tif (Ganerød et al. layout: the 15 model bands) or a folder of them",
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_config(parser, required=False)
    parser.add_argument("--region", help="the region of --config whose rules apply")
    parser.add_argument(
        "--manifest",
        type=manifest_arg,
        help="ensemble manifest, or `default` for the bundled one (default: the --config's "
        "model.manifest, else the bundled one)",
    )
    parser.add_argument(
        "--cut", type=float, help="object filter cut (default: region's/manifest's)"
    )
    parser.add_argument("--no-filter", action="store_true", help="suppress nothing")
    parser.add_argument(
        "--no-vegetation-loss",
        action="store_true",
        help="leave out the net for large vegetation loss (model.vegetation_loss: false; "
        "monitor.pipeline.vegetation_loss): the ensemble's and the drop test's candidates only",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="VALDIR",
        help="run the threshold baseline fitted on the labelled folder VALDIR instead",
    )
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=MAX_STACK_PIXELS,
        help=f"refuse larger stacks (default {MAX_STACK_PIXELS:,}: 2500 km² of 10 m pixels, "
        "the regions' default max_area_km2; a stack is held in memory whole)",
    )


def _job(args: argparse.Namespace) -> StackJob:
    policy = ModelSettings()
    rules = default_rules()
    cut, outline = None, None
    record: dict[str, Any] = {"config": None, "region": None}
    if args.config is not None:
        config = load_config(args.config)
        policy = config.model
        if args.region is None and len(config.regions) > 1:
            names = ", ".join(r.name for r in config.regions)
            raise BadInput(f"{args.config} has several regions ({names}): name one with --region")
        try:
            region = config.region(args.region) if args.region else config.regions[0]
        except KeyError as err:
            raise BadInput(str(err.args[0])) from None
        rules, cut, outline = region.rules, region.filter_cut, region.geometry
        record = {"config": str(Path(args.config).resolve()), "region": region.name}
    if args.manifest is not None:
        if not args.manifest.is_file():
            state = "a folder" if args.manifest.is_dir() else "no such file"
            raise BadInput(f"--manifest {args.manifest}: {state}; give a manifest.json")
        policy = policy.model_copy(update={"manifest": args.manifest})
    if args.no_vegetation_loss:
        policy = policy.model_copy(update={"vegetation_loss": False})
    manifest = Path(policy.manifest).resolve()
    record |= {
        "vegetation_loss": policy.vegetation_loss,
        "manifest": str(manifest),
        "manifest_sha256": sha256_file(manifest) if manifest.is_file() else None,
        "baseline": str(args.baseline.resolve()) if args.baseline is not None else None,
    }
    if args.cut is not None:
        if not 0.0 <= args.cut <= 1.0:
            raise BadInput(f"--cut {args.cut} is not between 0 and 1")
        cut = args.cut
    model: ChainModel
    object_filter: ObjectFilterModel | None
    if args.baseline is not None:
        from models.baselines import BaselineModel

        object_filter = ObjectFilterModel.from_manifest(policy.manifest)
        try:
            model = BaselineModel.fitted(args.baseline)
        except DatasetError as err:
            raise BadInput(str(err)) from err
    else:
        from monitor.run_inputs import RESOURCES

        ensemble = RESOURCES.ensemble(policy)  # as a run loads it: model.device checked too
        model, object_filter = ensemble, ensemble.object_filter
    kept = None if args.no_filter else object_filter
    return StackJob(model, policy, rules, kept, cut, record, outline)


def _outside(path: Path, job: StackJob) -> str | None:
    """A line where the stack at ``path`` lies wholly outside the outline of the region whose
    rules apply (found in a walk: its detections were tagged with the region without a word);
    None where it touches it, or no region applies."""
    if job.outline is None:
        return None
    with open_geotiff(path) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    if shapely.box(*bounds).intersects(job.outline):
        return None
    return (
        f"it lies outside the outline of region {job.region} (--config), whose rules apply "
        f"all the same: its detections are tagged {job.region}"
    )


def cli_run(args: argparse.Namespace) -> int:
    if args.region is not None and args.config is None:  # it was ignored, silently
        raise BadInput(
            f"--region {args.region} names a region of a configuration: give its --config too"
        )
    stacks = find_stacks(args.stack)
    if problem := out_problem(args.out):
        raise BadInput(f"--out {problem}")
    # every stack checked before the ensemble loads and anything is written
    if args.max_pixels < 1:
        raise BadInput(f"--max-pixels {args.max_pixels}: must be at least 1")
    warnings: dict[Path, list[str]] = {}
    refused: list[str] = []
    for path in stacks:  # every bad stack of a folder named in one run, not one run each
        try:
            warnings[path] = check_stack(path, args.max_pixels)
        except BadInput as err:
            refused.append(str(err))
    if len(refused) == 1:
        raise BadInput(refused[0])
    if refused:
        raise BadInput(
            f"{len(refused)} of {len(stacks)} stacks refused, none run:\n" + "\n".join(refused)
        )
    refuse_other_layers(args.out)
    job = _job(args)
    for path in stacks:
        if (note := _outside(path, job)) is not None:
            warnings[path].append(note)
    with interrupt_on_signals():  # SIGTERM (a supervisor, a batch queue) keeps what is done
        summary = detect_stacks(stacks, args.out, job, warnings)
    scenes = summary["scenes"].values()
    ok = [s for s in scenes if s["status"] == "ok"]
    candidates = sum(s["candidates"] for s in ok)
    suppressed = sum(s["suppressed"] for s in ok)
    outputs = "and the probability/spread COGs " if ok else "(empty); no COGs written "
    print(
        f"{len(ok)} of {len(summary['scenes'])} stack(s) detected: {candidates} candidate(s), "
        f"{suppressed} suppressed by the object filter; {summary['detections']} {outputs}in "
        f"{args.out}"
    )
    return 0
