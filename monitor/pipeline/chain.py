"""The detection chain from a feature stack to scored candidates: setting -> ensemble ->
vectorise (masks, size and slope rules) -> object filter. It is one code path: the daily run
(:func:`monitor.run.detect_region`), ``landslide-monitor detect --stack`` and the filter's fitting
all call :func:`detect`; evaluation scores what it returns, never a reimplementation.

A stack in the Ganerød et al. layout (``<id>_input.tif``: the 15 model bands, as the training
scenes and an Earth Engine export for a known event are written) becomes a feature stack with
:func:`stack_from_scene`. It lacks what the layout does not carry: the post-event NDVI and
true-colour composite (so the optical water/snow tests and the ``max_post_ndvi`` rule have
nothing to test and keep every object; the WorldCover water and snow classes still apply), the
acquisition dates, and the per-pixel observation counts, which are taken as one observation where
the bands of that sensor are finite.

The probability and spread rasters are written as Cloud-Optimised GeoTIFFs (:func:`write_cogs`:
GDAL's COG driver through rasterio, 256-pixel internal tiles, overviews down to 64 pixels,
DEFLATE, the stack's CRS).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from models.datasets import Scene
from models.feature_stack import MODEL_BANDS, StackAttrs, on_grid
from models.object_filter import ObjectFilterModel
from monitor.grid import PROGRESS_PIXELS
from monitor.pipeline.object_filter import (
    FEATURES_COLUMN,
    FEATURES_ID_COLUMN,
    features_id,
    pack_features,
    scored_features,
)
from monitor.pipeline.setting import (
    Predictor,
    SettingChoice,
    SettingPolicy,
    choose_setting,
    predict,
)
from monitor.pipeline.vectorise import VectoriseRules, empty_candidates, vectorise

__all__ = [
    "COG_LAYERS",
    "PROGRESS_PIXELS",
    "ChainModel",
    "Detection",
    "apply_filter",
    "cog_leftovers",
    "cog_paths",
    "detect",
    "empty_detection_candidates",
    "prune_cogs",
    "prune_pictures",
    "stack_from_scene",
    "write_cogs",
]

log = logging.getLogger(__name__)

COG_LAYERS: tuple[str, ...] = ("probability", "spread")
_COG_BLOCK = 256
_COG_SMALLEST_OVERVIEW = 64  # pixels on the longer side


def _overview_count(height: int, width: int) -> int:
    """Halvings until the longer side is at most 64 pixels, at least one: GDAL's ``AUTO`` stops
    at the tile size and would give a region smaller than a tile none. A single pixel has none
    (GDAL fails on its overview)."""
    if max(height, width) < 2:
        return 0
    return max(1, math.ceil(math.log2(max(height, width) / _COG_SMALLEST_OVERVIEW)))


ChainModel = Predictor
"""What the chain needs of a model (:class:`monitor.pipeline.setting.Predictor`)."""


@dataclass
class Detection:
    """What the chain made of one stack: the setting choice, the model's prediction on the
    stack's grid, and the candidates with ``filter_score`` (NaN without a filter) and
    ``suppressed`` (score below the cut)."""

    choice: SettingChoice
    prediction: xr.Dataset
    candidates: gpd.GeoDataFrame
    cut: float | None = None


def apply_filter(
    candidates: gpd.GeoDataFrame,
    prediction: xr.Dataset,
    stack: xr.Dataset,
    object_filter: ObjectFilterModel | None,
    cut: float | None = None,
) -> tuple[gpd.GeoDataFrame, float | None]:
    """``candidates`` with ``filter_score``, ``suppressed``, ``filter_features`` and
    ``filter_features_id`` columns (appended after the others); ``cut`` overrides the filter's
    calibrated one. Without a filter nothing is suppressed, the score is NaN and the features
    None. ``filter_features`` holds each candidate's features as the filter scored them
    (:func:`pack_features`) and ``filter_features_id`` what computed them (:func:`features_id`):
    the inventory keeps both, so that a refit on an operator's reviews learns from the very
    candidates that were reviewed (:mod:`monitor.ops.filter_refit`). Returns the frame and the
    cut used."""
    candidates = candidates.copy()
    if object_filter is None or candidates.empty:
        candidates["filter_score"] = np.full(len(candidates), np.nan)
        candidates["suppressed"] = np.zeros(len(candidates), dtype=bool)
        candidates[FEATURES_COLUMN] = np.full(len(candidates), None, dtype=object)
        candidates[FEATURES_ID_COLUMN] = np.full(len(candidates), None, dtype=object)
        return candidates, (None if object_filter is None else _cut(object_filter, cut))
    used = _cut(object_filter, cut)
    scores, features = scored_features(object_filter, candidates, prediction, stack)
    candidates["filter_score"] = scores
    candidates["suppressed"] = scores < used
    packed = np.empty(len(candidates), dtype=object)
    packed[:] = [pack_features(row) for row in features]
    candidates[FEATURES_COLUMN] = packed
    candidates[FEATURES_ID_COLUMN] = features_id(object_filter.ensemble)
    return candidates, used


def _cut(object_filter: ObjectFilterModel, cut: float | None) -> float:
    return object_filter.cut if cut is None else float(cut)


def detect(
    stack: xr.Dataset,
    model: ChainModel,
    policy: SettingPolicy,
    rules: VectoriseRules,
    object_filter: ObjectFilterModel | None = None,
    *,
    cut: float | None = None,
    device: str | None = None,
    area_scale: float = 1.0,
) -> Detection:
    """The chain on one stack; ``area_scale`` is :func:`monitor.pipeline.vectorise.vectorise`'s
    (the square metres of the area's UTM zone one square unit of the stack's CRS holds). Raises
    :class:`monitor.pipeline.setting.NoUsableSetting` when the stack supports none of the
    model's settings."""
    choice = choose_setting(stack, model.settings, policy)
    pixels = stack.sizes["y"] * stack.sizes["x"]
    # a large stack takes minutes: each stage says when it is done, so that a long run is
    # seen to move (a small one, the usual region, keeps its one line per region)
    say = log.info if pixels >= PROGRESS_PIXELS else log.debug
    name, start = StackAttrs.of(stack).region or "stack", time.perf_counter()

    def done(what: str) -> None:
        say("%s: %s (%.0f s, %.1f Mpx)", name, what, time.perf_counter() - start, pixels / 1e6)

    done(f"setting {choice.setting}; predicting with the ensemble")
    prediction = predict(
        model,
        stack,
        choice,
        device,
        radar_drop=policy.radar_drop,
        vegetation_loss=policy.vegetation_loss,
    )
    done("predicted; drawing the candidates")
    candidates = vectorise(prediction, stack, rules, area_scale=area_scale)
    done(f"{len(candidates)} candidate(s) drawn; scoring them with the object filter")
    candidates, used = apply_filter(candidates, prediction, stack, object_filter, cut)
    done("scored")
    return Detection(choice, prediction, candidates, used)


def empty_detection_candidates(crs: object) -> gpd.GeoDataFrame:
    """:func:`monitor.pipeline.vectorise.empty_candidates` with the filter's columns."""
    frame = empty_candidates(crs)
    frame["filter_score"] = np.zeros(0, dtype=np.float64)
    frame["suppressed"] = np.zeros(0, dtype=bool)
    frame[FEATURES_COLUMN] = np.zeros(0, dtype=object)
    frame[FEATURES_ID_COLUMN] = np.zeros(0, dtype=object)
    return frame


def stack_from_scene(scene: Scene) -> xr.Dataset:
    """A feature stack from the 15 bands of a scene in the Ganerød et al. layout (see the
    module docstring for what it lacks). The region attribute is the scene id."""
    if scene.crs is None or scene.transform is None:
        raise ValueError(f"scene {scene.id!r} has no CRS or transform: it cannot be vectorised")
    _, h, w = scene.image.shape
    t = scene.transform
    x = t.c + t.a * (np.arange(w) + 0.5)
    y = t.f + t.e * (np.arange(h) + 0.5)
    data = {name: (("y", "x"), scene.image[i]) for i, name in enumerate(MODEL_BANDS)}
    nan = np.full((h, w), np.nan, dtype=np.float32)
    optical = np.isfinite(scene.image[MODEL_BANDS.index("dNDVI")]).astype(np.float32)
    radar = np.isfinite(scene.image[MODEL_BANDS.index("dVV")]).astype(np.float32)
    data |= {
        "preNDVI": (("y", "x"), nan),
        "postNDVI": (("y", "x"), nan.copy()),
        "s2_clear_pre": (("y", "x"), optical),
        "s2_clear_post": (("y", "x"), optical.copy()),
        "s1_count_pre": (("y", "x"), radar),
        "s1_count_post": (("y", "x"), radar.copy()),
    }
    attrs = StackAttrs(
        region=scene.id, source="stack", pre_window="", post_window="", orbit_pass=""
    ).as_attrs()
    stack = xr.Dataset(data, coords={"y": y, "x": x}, attrs=attrs)
    return on_grid(stack, scene.crs, t)


def cog_paths(folder: Path, stem: str) -> list[Path]:
    """Where :func:`write_cogs` writes ``stem``'s layers in ``folder`` (:data:`COG_LAYERS`
    order): also what a run that writes none for ``stem`` removes of an earlier one."""
    return [Path(folder) / f"{stem}_{name}.tif" for name in COG_LAYERS]


def cog_leftovers(folder: Path, stems: Iterable[str]) -> list[Path]:
    """The ``.part`` files of :func:`write_cogs` for ``stems`` in ``folder`` (and GDAL's
    ``.ovr.tmp`` of their overviews) that a process killed while it wrote them left behind (a
    failed write removes its own)."""
    return [
        left
        for stem in stems
        for path in cog_paths(folder, stem)
        for left in (
            path.with_name(f"{path.name}.part"),
            path.with_name(f"{path.name}.part.ovr.tmp"),
        )
        if left.exists()
    ]


def _prune_dated(
    folder: Path, before: date, doomed: Callable[[Path], Iterable[Path]]
) -> tuple[int, int]:
    """Delete the files ``doomed(region_folder)`` names in each ``folder/<YYYY-MM-DD>/<region>/``
    (the daily run's layout) of a date before ``before``, then the folders that leaves empty
    (a folder not named by a date is not touched). Returns the files and bytes deleted; a file
    that cannot be deleted raises :class:`OSError`."""
    files = size = 0
    for dated in sorted(Path(folder).glob("????-??-??")):
        try:
            day = date.fromisoformat(dated.name)
        except ValueError:
            continue
        if day >= before or not dated.is_dir():
            continue
        for region in sorted(p for p in dated.iterdir() if p.is_dir()):
            for path in doomed(region):
                try:
                    length = path.stat().st_size
                    path.unlink()
                except FileNotFoundError:
                    continue
                files, size = files + 1, size + length
            with contextlib.suppress(OSError):  # not empty: what else lies there stays
                region.rmdir()
        with contextlib.suppress(OSError):
            dated.rmdir()
    return files, size


def prune_cogs(folder: Path, before: date) -> tuple[int, int]:
    """Delete the COGs :func:`write_cogs` wrote into ``folder/<YYYY-MM-DD>/<region>/`` for dates
    before ``before`` (:func:`_prune_dated`); the quicklook PNGs and anything else stay."""
    return _prune_dated(folder, before, lambda region: cog_paths(region, region.name))


def prune_pictures(folder: Path, before: date, named: Collection[str]) -> tuple[int, int]:
    """Delete the quicklook PNGs (``candidate-*.png``, the names a run gives them; other files
    stay) in ``folder/<YYYY-MM-DD>/<region>/`` for dates before ``before`` whose name there
    (``<date>/<region>/<file>.png``) is not in ``named`` (:func:`_prune_dated`)."""

    def unnamed(region: Path) -> list[Path]:
        return [
            path
            for path in sorted(region.glob("candidate-*.png"))
            if f"{region.parent.name}/{region.name}/{path.name}" not in named
        ]

    return _prune_dated(folder, before, unnamed)


def write_cogs(prediction: xr.Dataset, stack: xr.Dataset, folder: Path, stem: str) -> list[Path]:
    """``<folder>/<stem>_probability.tif`` and ``..._spread.tif``: Cloud-Optimised GeoTIFFs
    (float32, NaN nodata, internal tiles, overviews, DEFLATE) on the stack's grid and CRS.

    Both are written as ``.part`` files first and replace the final names together: a layer
    that cannot be written (a full disk: GDAL's write error, which is no ``OSError``) leaves no
    ``.part`` behind and no pair of this write and an earlier one. The earlier write's later
    layers are removed before the first is replaced, so a process killed between the renames
    (no handler runs for SIGKILL) leaves a layer missing, never a probability of one write
    beside the spread of another."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "COG",
        "dtype": "float32",
        "count": 1,
        "height": stack.sizes["y"],
        "width": stack.sizes["x"],
        "crs": stack.rio.crs,
        "transform": stack.rio.transform(),
        "nodata": np.nan,
        "blocksize": _COG_BLOCK,
        "compress": "DEFLATE",
        "predictor": 3,  # floating-point predictor
        "overview_count": _overview_count(stack.sizes["y"], stack.sizes["x"]),
        "overview_resampling": "average",
    }
    paths = cog_paths(folder, stem)
    parts = [path.with_name(path.name + ".part") for path in paths]
    try:
        for name, part in zip(COG_LAYERS, parts, strict=True):
            values = prediction[name].values.astype(np.float32)
            with rasterio.open(part, "w", **profile) as dst:
                dst.write(values, 1)
                dst.set_band_description(1, name)
    except BaseException:
        for part in parts:
            part.unlink(missing_ok=True)
        raise
    try:
        for path in paths[1:]:
            path.unlink(missing_ok=True)
        for part, path in zip(parts, paths, strict=True):
            part.replace(path)
    except OSError:  # a rename refused: no .part stays (a layer may be missing, as below)
        for part in parts:
            part.unlink(missing_ok=True)
        raise
    return paths
