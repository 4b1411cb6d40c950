"""Label rasters on a scene's grid, tiles around inventory items, and splits that keep events
(or regions) whole.

A label raster holds 1 (landslide), 0 (background) and 255 (ignore: the class is unknown;
:data:`models.datasets.IGNORE`). :func:`label_raster` burns, in this order, background, areas of
known background (where the background is 255), ignored areas, known negatives and positives, so
a positive wins over everything and a known negative over ignore. Points are weak labels
(:func:`point_label_areas`): positive only within a small core, ignored out to their stated
positional accuracy (at least ``min_ignore_m``, the extent of a landslide around a precisely
located point), never negative.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from models.datasets import IGNORE, SPLIT_NAMES
from models.feature_stack import PIXEL_SIZE_M
from monitor.grid import box_to_lon_lat, crosses_antimeridian, reproject, utm_crs_for

__all__ = [
    "DEFAULT_FRACTIONS",
    "SPLIT_NAMES",
    "PointLabels",
    "assign_splits",
    "crosses_antimeridian",
    "label_raster",
    "point_label_areas",
    "subpixel",
    "tile_around",
]

# the share of groups (events or regions) each split gets unless told otherwise
DEFAULT_FRACTIONS: dict[str, float] = {"train": 0.7, "val": 0.15, "test": 0.15}


@dataclass(frozen=True)
class PointLabels:
    """How a catalogued point becomes a weak label."""

    # positive disk around the point, for a point placed within it (GLC's "exact"): a point
    # placed only within 1 km puts a 20 m core on the slide about once in 200 draws (a slide
    # some 100 m across, its centre within 70 m: 70² / 1000²), so its core is ignored with its
    # disk (found in a walkthrough: a real slide's point moved 500 m, within its stated 1 km,
    # was labelled 13 positive pixels, none on the slide)
    core_m: float = 20.0
    min_ignore_m: float = 250.0  # ignored disk at least this wide, however exact the point


def point_label_areas(
    point_wgs84: Point, accuracy_m: float, params: PointLabels = PointLabels()
) -> tuple[BaseGeometry, BaseGeometry]:
    """The positive core and the ignored disk of a point (EPSG:4326), drawn in the point's UTM
    zone: ignore radius ``max(accuracy_m, params.min_ignore_m)``; the core is empty where the
    point is placed less exactly than the core's radius (:class:`PointLabels`)."""
    crs = utm_crs_for(point_wgs84.x, point_wgs84.y)
    local = reproject(point_wgs84, "EPSG:4326", crs)
    ring = reproject(
        local.buffer(max(accuracy_m, params.min_ignore_m, params.core_m), 64), crs, "EPSG:4326"
    )
    if accuracy_m > params.core_m:
        return Polygon(), ring
    return reproject(local.buffer(params.core_m, 32), crs, "EPSG:4326"), ring


def tile_around(
    geometry_wgs84: BaseGeometry, size_m: float, margin_m: float = 0.0, res: float = PIXEL_SIZE_M
) -> BaseGeometry:
    """A square (EPSG:4326) of side ``size_m`` centred on the geometry, or its bounding box plus
    ``margin_m`` when that is larger, drawn in the geometry's UTM zone, its edges on the
    ``res`` grid that :func:`monitor.grid.region_grid` snaps to: its grid is ``size_m / res``
    pixels a side (a tile centred between grid lines was one pixel wider, and 5,120 m took
    four ``computePixels`` requests of 512 px instead of one); around a larger geometry, the
    pixels it and its margin reach and one more (its edges snapped outward), and on the
    geometry's zone (near a zone's edge the tile is moved by a pixel to stay on it)."""
    c = geometry_wgs84.centroid
    crs = utm_crs_for(c.x, c.y)
    local = reproject(geometry_wgs84, "EPSG:4326", crs)
    x0, y0, x1, y1 = local.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(size_m / 2, (x1 - x0) / 2 + margin_m, (y1 - y0) / 2 + margin_m)
    if half > size_m / 2:  # the geometry and its margin decide: every pixel they reach
        n = math.ceil(2 * half / res - 1e-6) + 1
        west, south = math.floor((cx - half) / res) * res, math.floor((cy - half) / res) * res
    else:  # size_m, centred on the item as near as the grid allows
        n = math.ceil(2 * half / res - 1e-6)
        west = round((cx - n * res / 2) / res) * res
        south = round((cy - n * res / 2) / res) * res
    # a millimetre inside the grid lines: the round trip through longitude and latitude moves
    # the corners by nanometres, which region_grid's outward snapping would make a pixel
    inset, side = 1e-3, n * res
    # within a few metres of a UTM zone's edge (or of the equator) the snapped tile's centre can
    # fall in the next zone, on whose grid region_grid would draw it (540 x 539 px, not 512):
    # moved back by a pixel
    for dx, dy in product((0.0, -res, res), repeat=2):
        x, y = west + dx, south + dy
        tile = box_to_lon_lat(box(x + inset, y + inset, x + side - inset, y + side - inset), crs)
        if utm_crs_for(tile.centroid.x, tile.centroid.y) == crs:
            return tile
    # none stays on the zone only where the tile crosses the antimeridian (its centroid in
    # longitude and latitude is then on the globe's other side), which dataset export skips by
    # name (crosses_antimeridian): the last tile tried
    return tile


def label_raster(
    shape: tuple[int, int],
    transform: Affine,
    crs: str,
    *,
    positive: Iterable[BaseGeometry] = (),
    negative: Iterable[BaseGeometry] = (),
    ignore: Iterable[BaseGeometry] = (),
    background: int = 0,
    known: Iterable[BaseGeometry] = (),
    small: Sequence[int] | None = None,
) -> np.ndarray:
    """The ``uint8`` label raster (1, 0, 255) of geometries given in EPSG:4326 on the grid
    ``(shape, transform, crs)``; pixels whose centre lies inside a geometry take its value, in
    the order ``known`` (0: background known there, for a ``background`` of 255), ``ignore``,
    ``negative``, ``positive``. A positive that holds no pixel centre (a slide smaller or
    thinner than a pixel, :func:`subpixel`) makes the pixels it touches 255 rather than leave a
    landslide labelled background; a negative or a positive elsewhere still wins there.
    ``small``: those positives' indices where the caller has them already."""
    out = np.full(shape, background, np.uint8)
    positive = list(positive)
    if small is None:
        small = subpixel(positive, shape, transform, crs)

    def burn(value: int, geometries: Iterable[BaseGeometry], all_touched: bool = False) -> None:
        local = [reproject(g, "EPSG:4326", crs) for g in geometries if not g.is_empty]
        if local:
            rasterize(((g, value) for g in local), out=out, transform=transform,
                      all_touched=all_touched)  # fmt: skip

    burn(0, known)
    burn(IGNORE, ignore)
    burn(IGNORE, [positive[i] for i in small], all_touched=True)
    burn(0, negative)
    burn(1, positive)
    return out


def subpixel(
    geometries: Sequence[BaseGeometry],
    shape: tuple[int, int],
    transform: Affine,
    crs: str,
    *,
    whole: bool = False,
) -> list[int]:
    """The indices of ``geometries`` (EPSG:4326) that lie on the grid ``(shape, transform,
    crs)`` yet hold the centre of none of its pixels: rasterised by centres they vanish. With
    ``whole``, each is tested on the grid's pixels extended over all of it: one the grid's edge
    cuts to a sliver holds a centre then, one smaller or thinner than a pixel still none."""
    inverse = ~transform
    out = []
    for i, geometry in enumerate(geometries):
        if geometry.is_empty:
            continue
        local = reproject(geometry, "EPSG:4326", crs)
        x0, y0, x1, y1 = local.bounds
        cols, rows = zip(*(inverse @ (x, y) for x in (x0, x1) for y in (y0, y1)), strict=True)
        c0, c1 = math.floor(min(cols)) - 1, math.ceil(max(cols)) + 1
        r0, r1 = math.floor(min(rows)) - 1, math.ceil(max(rows)) + 1
        if not whole:
            c0, c1, r0, r1 = max(c0, 0), min(c1, shape[1]), max(r0, 0), min(r1, shape[0])
        if c0 >= c1 or r0 >= r1:
            continue  # off the grid
        window = transform @ Affine.translation(c0, r0)
        size = (r1 - r0, c1 - c0)
        centres = rasterize([(local, 1)], out_shape=size, transform=window)
        touched = rasterize([(local, 1)], out_shape=size, transform=window, all_touched=True)
        if touched.any() and not centres.any():
            out.append(i)
    return out


def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def assign_splits(
    groups: Iterable[str],
    fractions: Mapping[str, float] | None = None,
    *,
    seed: int = 0,
) -> dict[str, str]:
    """The split of every group (an event or a region): groups, never pixels or tiles, are
    shuffled by a seeded hash and dealt out in ``fractions`` (default 70/15/15 % for train, val
    and test), so every tile of one event lands in one split (event-independent splits, as
    Orynbaikyzy et al. recommend). Each split with a positive fraction gets at least one group
    while there are groups left for train; stable: adding groups moves few old ones."""
    fractions = dict(fractions or DEFAULT_FRACTIONS)
    unknown = set(fractions) - set(SPLIT_NAMES)
    if unknown or not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
        raise ValueError(f"split fractions {fractions} must be of {SPLIT_NAMES} and sum to 1")
    ordered = sorted(set(groups), key=lambda g: _rank(g, seed))
    n = len(ordered)
    names = [s for s in SPLIT_NAMES if fractions.get(s, 0.0) > 0]
    counts = {s: math.floor(fractions[s] * n) for s in names[1:]}
    # the held-out splits get at least one group each while train keeps one
    for s in names[1:]:
        if counts[s] == 0 and n - sum(counts.values()) > 1:
            counts[s] = 1
    counts[names[0]] = n - sum(counts.values())
    out: dict[str, str] = {}
    i = 0
    for s in names:
        for g in ordered[i : i + counts[s]]:
            out[g] = s
        i += counts[s]
    return out
