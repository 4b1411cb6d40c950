"""The region's pixel grid: UTM zone of the polygon's centroid, 10 m pixels, north-up.

Every source puts its feature stack on this grid, so that stacks of the same region from the
archive and from Earth Engine line up pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.features import rasterize
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from models.feature_stack import PIXEL_SIZE_M

__all__ = [
    "DENSIFY_DEG",
    "DENSIFY_M",
    "MIN_GRID_PX",
    "PROGRESS_PIXELS",
    "Grid",
    "box_to_lon_lat",
    "crosses_antimeridian",
    "grid_too_small",
    "is_lon_lat",
    "lon_lat_misreading",
    "multipolygon",
    "one_side_of_180",
    "outline_pixels",
    "parts_at_180",
    "region_grid",
    "reproject",
    "utm_crs_for",
]


#: From this many pixels (400 km² of 10 m pixels, about a minute of a run on 2 cores) the
#: long steps of a region (its archive stack's reading, each stage of the detection chain)
#: are logged at INFO as each ends; below, at DEBUG.
PROGRESS_PIXELS = 4_000_000

#: The fewest pixels along each side of a region's grid: slopes are taken by finite differences
#: (np.gradient), from the simulated terrain or from an export's DEM, which need two.
MIN_GRID_PX = 2


def grid_too_small(grid: Grid) -> str | None:
    """Why ``grid`` is too small for a region (fewer than :data:`MIN_GRID_PX` pixels along a
    side), or None: one check for the archive's build and :class:`RegionWriter`."""
    if min(grid.height, grid.width) >= MIN_GRID_PX:
        return None
    return (
        f"its grid is {grid.height} x {grid.width} pixels of {grid.res:g} m; slopes need at "
        f"least {MIN_GRID_PX} along each side (enlarge the polygon)"
    )


def multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """``geometry`` made valid (:func:`shapely.make_valid`: a bow-tie becomes two triangles,
    not half of one as ``buffer(0)`` leaves it; a ring that touches itself, as pixels joined
    at a corner trace, two parts), as a MultiPolygon: lines and points of a collection dropped,
    empty where no polygon is left."""
    geometry = shapely.make_valid(geometry)
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry]) if not geometry.is_empty else MultiPolygon()
    polygons = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon)]
    for part in getattr(geometry, "geoms", []):
        if isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    return MultiPolygon(polygons)


def is_lon_lat(bounds: tuple[float, float, float, float]) -> bool:
    """Whether ``(west, south, east, north)`` can be longitudes and latitudes in degrees."""
    west, south, east, north = bounds
    return -180.0 <= west <= east <= 180.0 and -90.0 <= south <= north <= 90.0


def lon_lat_misreading(bounds: tuple[float, float, float, float]) -> str | None:
    """What coordinates that are not lon/lat degrees (:func:`is_lon_lat`) most likely are:
    ``"projected"`` (metres: magnitudes past 360), ``"swapped"`` (latitude, longitude: in range
    that way round), ``"0-360"`` (longitudes past 180 of 0-360°), or None where nothing stands
    out. The callers word the advice for what they read (a region, an inventory)."""
    west, south, east, north = bounds
    if max(abs(west), abs(south), abs(east), abs(north)) > 360.0:
        return "projected"
    if -90.0 <= west <= east <= 90.0 and -180.0 <= south <= north <= 180.0:
        return "swapped"
    if 180.0 < east <= 360.0 and west >= 0.0 and -90.0 <= south <= north <= 90.0:
        return "0-360"
    return None


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: ``crs`` (e.g. ``"EPSG:32632"``), origin and shape."""

    crs: str
    x0: float  # west edge, metres
    y0: float  # north edge, metres
    width: int
    height: int
    res: float = PIXEL_SIZE_M

    @property
    def transform(self) -> Affine:
        return Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y0)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in the grid's CRS."""
        return (self.x0, self.y0 - self.height * self.res, self.x0 + self.width * self.res, self.y0)

    @property
    def x(self) -> np.ndarray:
        """Pixel-centre x coordinates."""
        return self.x0 + (np.arange(self.width) + 0.5) * self.res

    @property
    def y(self) -> np.ndarray:
        """Pixel-centre y coordinates (decreasing: north-up)."""
        return self.y0 - (np.arange(self.height) + 0.5) * self.res

    @property
    def area_km2(self) -> float:
        return self.width * self.height * self.res**2 / 1e6

    def as_record(self) -> dict[str, str | float | int]:
        """The grid as an archive's ``region.json`` holds it (:meth:`from_record` reads it)."""
        return {
            "crs": self.crs,
            "x0": self.x0,
            "y0": self.y0,
            "width": self.width,
            "height": self.height,
            "res": self.res,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Grid:
        """The grid of :meth:`as_record`'s ``record``; KeyError or TypeError where it is not one."""
        return cls(
            record["crs"], record["x0"], record["y0"], record["width"], record["height"],
            record["res"],
        )  # fmt: skip

    def project(self, geometry_wgs84: BaseGeometry) -> BaseGeometry:
        """``geometry_wgs84`` (lon/lat) in this grid's CRS."""
        return reproject(geometry_wgs84, "EPSG:4326", self.crs)


@lru_cache(maxsize=64)
def _transformer(src: str | int, dst: str | int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


#: The longest edge, in degrees, that a lon/lat geometry keeps when :func:`reproject` takes it
#: to another CRS (about 110 m of latitude): an edge is a straight line in lon/lat (GeoJSON,
#: shapely, a polygon drawn on a web map), a curve in UTM, so a long one is given points along
#: it first. Found in a walkthrough: a region 1.5° long along 60° N was gridded from its
#: corners alone, and 9 % of it, 229 m deep at its middle, lay outside the stack, never
#: watched; 6° along it, 38 %.
DENSIFY_DEG = 0.001
#: The same the other way, in metres of a projected CRS, for a box drawn in UTM that is taken
#: to lon/lat and gridded again (:func:`box_to_lon_lat`).
DENSIFY_M = 100.0


def _is_lon_lat_crs(crs: str | int) -> bool:
    return str(crs).upper() in ("4326", "EPSG:4326")


def reproject(geometry: BaseGeometry, src: str | int, dst: str | int) -> BaseGeometry:
    """``geometry`` from CRS ``src`` to ``dst`` (EPSG codes or strings; x/y = lon/lat order).

    From lon/lat (EPSG:4326), edges longer than :data:`DENSIFY_DEG` are given points along them
    first, so that they keep their shape (a parallel stays a parallel) in ``dst``; an outline
    of pixels or a landslide, whose edges are shorter, is transformed vertex by vertex as it is
    (and so is every geometry taken to lon/lat: :func:`box_to_lon_lat` for a box to grid
    again)."""
    if src == dst:
        return geometry
    if _is_lon_lat_crs(src) and not _is_lon_lat_crs(dst):
        geometry = shapely.segmentize(geometry, DENSIFY_DEG)
    return shapely.transform(geometry, _transformer(src, dst).transform, interleaved=False)


def box_to_lon_lat(geometry: BaseGeometry, crs: str | int) -> BaseGeometry:
    """``geometry``, a box in the projected ``crs`` (metres: a tile, a scene's window), in
    lon/lat with its straight edges kept (points every :data:`DENSIFY_M` along them), so that
    :func:`region_grid`, which follows a lon/lat polygon's edges, grids it as the same box:
    taken through its corners alone, a 5,120 m tile at 60° N came back 514 × 513 pixels, not
    512 (found in review: four ``computePixels`` requests a tile instead of one)."""
    return reproject(shapely.segmentize(geometry, DENSIFY_M), crs, "EPSG:4326")


def crosses_antimeridian(geometry_wgs84: BaseGeometry) -> bool:
    """Whether a geometry drawn in a UTM zone and brought to EPSG:4326 reaches across ±180°
    longitude: its corners then lie on both sides, and its bounding box spans most of the globe
    (no landslide, tile or region is half the globe wide)."""
    if geometry_wgs84.is_empty:
        return False
    west, _, east, _ = geometry_wgs84.bounds
    return east - west > 180.0


def parts_at_180(geometry_wgs84: BaseGeometry) -> tuple[BaseGeometry, BaseGeometry]:
    """A geometry that :func:`crosses_antimeridian` cut at ±180°: its part west of the line
    (longitudes up to 180°) and its part east of it (from -180°)."""

    def east_as_over_180(xy: np.ndarray) -> np.ndarray:
        return np.column_stack([np.where(xy[:, 0] < 0, xy[:, 0] + 360.0, xy[:, 0]), xy[:, 1]])

    over = shapely.transform(geometry_wgs84, east_as_over_180)
    west_part = over.intersection(shapely.box(0.0, -90.0, 180.0, 90.0))
    east_part = over.intersection(shapely.box(180.0, -90.0, 360.0, 90.0))
    return west_part, shapely.transform(east_part, lambda xy: xy - np.array([360.0, 0.0]))


def one_side_of_180(geometry: BaseGeometry) -> BaseGeometry:
    """``geometry`` (lon/lat, as :func:`reproject` gives it) where it :func:`crosses_antimeridian`
    (read as one that circles the globe): its larger part of :func:`parts_at_180`; any other
    geometry as it is. A region ends at ±180° (its polygon cannot cross it) but its grid, a UTM
    box, may reach a few tens of metres past, and an outline drawn there did: found in a
    walkthrough, a 2 ha landslide in Fiji stored as a band 360° long."""
    if not crosses_antimeridian(geometry):
        return geometry
    return max(parts_at_180(geometry), key=lambda part: part.area)


def outline_pixels(geometry: BaseGeometry, shape: tuple[int, ...], transform: Affine) -> np.ndarray:
    """The pixels (boolean, ``shape``) whose centres ``geometry`` covers; for an outline that
    covers no pixel centre (a sliver, a slide smaller than a pixel), every pixel it touches, so
    that no outline comes out empty."""
    mask = rasterize([(geometry, 1)], out_shape=shape, transform=transform, dtype="uint8")
    if not mask.any():
        mask = rasterize(
            [(geometry, 1)], out_shape=shape, transform=transform, dtype="uint8", all_touched=True
        )
    return mask.astype(bool)


def utm_crs_for(lon: float, lat: float) -> str:
    """EPSG code of the WGS84 / UTM zone containing (lon, lat)."""
    zone = min(math.floor((lon + 180.0) / 6.0) + 1, 60)
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def region_grid(
    geometry_wgs84: BaseGeometry, res: float = PIXEL_SIZE_M, *, corners_only: bool = False
) -> Grid:
    """The grid covering ``geometry_wgs84``: its centroid's UTM zone, edges snapped outward to
    whole multiples of ``res`` so that the same region always gets the same pixels.

    The polygon's edges are followed (:func:`reproject`). ``corners_only`` gives the grid of
    releases before 2026-12-07, which projected the vertices alone: the one an archive written
    then holds, which :mod:`monitor.sources.archive` still reads (for a region whose long
    edges bulge past it, with a warning)."""
    centroid = geometry_wgs84.centroid
    crs = utm_crs_for(centroid.x, centroid.y)
    if corners_only:
        transform = _transformer("EPSG:4326", crs).transform
        projected = shapely.transform(geometry_wgs84, transform, interleaved=False)
    else:
        projected = Grid(crs, 0.0, 0.0, 0, 0, res).project(geometry_wgs84)
    west, south, east, north = projected.bounds
    x0 = math.floor(west / res) * res
    y0 = math.ceil(north / res) * res
    width = max(1, math.ceil((east - x0) / res))
    height = max(1, math.ceil((y0 - south) / res))
    return Grid(crs=crs, x0=x0, y0=y0, width=width, height=height, res=res)
