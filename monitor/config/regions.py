"""The ``regions:`` section: each watched region's geometry, windows and masks.

A region's geometry is inline GeoJSON or a region file (GeoJSON, GeoPackage, KML, shapefile),
read, flattened to 2-D and checked (valid, not too large) while the file is validated. Its
windows say which acquisitions are compared: sliding ones for the daily run, or fixed ones
around a known event.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from shapely import force_2d
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from models.change_statistics import RADAR_SCENES
from models.console import is_number_text
from models.datasets import first_names
from models.vector_files import VectorFileError, gdal_path
from monitor._geopackage import sqlite_advice
from monitor.alerts.settings import AlertTargets
from monitor.config._base import StrictModel, resolve_path
from monitor.grid import is_lon_lat, lon_lat_misreading
from monitor.pipeline.vectorise import VectoriseRules, check_landcover_codes
from monitor.simulator.families import landscape_family
from monitor.simulator.spec import SimulationSpec
from monitor.sources.base import (
    DEFAULT_MAX_AREA_KM2,
    EVENT,
    FIRST_SENTINEL_1_DAY,
    AreaOfInterest,
    Compositing,
    InvalidArea,
    OrbitPass,
    Window,
    WrittenDay,
    check_area,
    check_region_name,
    event_windows,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "REGION_FILE_SUFFIXES",
    "EventWindows",
    "MaskSettings",
    "MonitoringWindows",
    "RegionConfig",
    "Windows",
]

# Formats a region file may have, by suffix (read with pyogrio through geopandas).
REGION_FILE_SUFFIXES = (".geojson", ".json", ".gpkg", ".kml", ".shp", ".zip")


# --------------------------------------------------------------------------- windows


class MonitoringWindows(StrictModel):
    """Sliding windows for the daily run: the post window is the ``post_days`` before the run
    date (the run date itself excluded: its acquisitions may not all be processed yet), the pre
    window (the baseline) the ``pre_days`` before that, so a scar of the post window never leaks
    into its own baseline.

    ``composite: latest`` (the default) compares the most recent clear Sentinel-2 observation
    of each pixel and the mean of the last ``radar_scenes`` Sentinel-1 scenes of each track
    that saw it with the baseline, so a new scar shows at the first clear look after it.
    ``composite: greenest`` keeps the paper's greenest-pixel and median composites of both
    windows, which hide a fresh scar until the post window starts after the event
    (docs/operations.md, "Time to alert")."""

    mode: Literal["monitoring"] = "monitoring"
    pre_days: int = Field(60, ge=1, le=730)
    post_days: int = Field(30, ge=1, le=365)
    composite: Literal["latest", "greenest"] = "latest"
    radar_scenes: int = Field(RADAR_SCENES, ge=1, le=30)

    def windows_for(self, run_date: date) -> tuple[Window, Window]:
        post = Window(run_date - timedelta(days=self.post_days), run_date)
        pre = Window(post.start - timedelta(days=self.pre_days), post.start)
        return pre, post

    def compositing(self) -> Compositing:
        """How the source composites these windows."""
        if self.composite == "greenest":
            return EVENT
        return Compositing("monitoring", radar_scenes=self.radar_scenes)

    def describe(self, pre: Window, post: Window) -> str:
        """The windows of a run as its log and record give them (``start/end``, end excluded)."""
        return f"monitoring ({self.composite}): pre {pre}, post {post}"


class EventWindows(StrictModel):
    """Windows around a known event (a storm, an earthquake): the ``pre_days`` before the event
    date and the ``post_days`` after it, clipped to the run date. The event day belongs to
    neither window: an acquisition that day may precede the event."""

    mode: Literal["event"]
    event_date: WrittenDay
    pre_days: int = Field(60, ge=1, le=730)
    post_days: int = Field(30, ge=1, le=365)

    @field_validator("event_date")
    @classmethod
    def _in_the_sentinels_time(cls, value: date) -> date:
        # found in a config audit: 1900-01-01 and 2999-01-01 loaded, and every run of the
        # region was "no data", with no end
        if value < FIRST_SENTINEL_1_DAY:
            raise ValueError(
                f"{value} is before Sentinel-1's first scenes ({FIRST_SENTINEL_1_DAY}, the start "
                "of Earth Engine's COPERNICUS/S1_GRD): no window around it holds data"
            )
        if value > date.today() + timedelta(days=1):  # a day's grace for the time zones
            raise ValueError(f"{value} is in the future: event_date is the day of a known event")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_monitoring_fields(cls, data: Any) -> Any:
        # found in a walkthrough: "unknown field" for radar_scenes, which the windows' docs
        # list (under mode: monitoring)
        if isinstance(data, dict):
            for name in ("composite", "radar_scenes"):
                if name in data:
                    raise ValueError(
                        f"{name}: a field of mode: monitoring, not of mode: event (whose "
                        "composites are the paper's greenest-pixel and median ones)"
                    )
        return data

    def windows_for(self, run_date: date) -> tuple[Window, Window]:
        pre, full = event_windows(self.event_date, self.pre_days, self.post_days)
        post_start = full.start
        post_end = min(full.end, run_date)
        if post_end <= post_start:
            raise ValueError(
                f"the post-event window of event {self.event_date} starts {post_start}, and a "
                f"run sees the days before its date: run {run_date} holds none of it (the "
                f"first run that does is {post_start + timedelta(days=1)})"
            )
        return pre, Window(post_start, post_end)

    def compositing(self) -> Compositing:
        """Greenest pixel and median of each window (Ganerød et al.)."""
        return EVENT

    def describe(self, pre: Window, post: Window) -> str:
        """The windows of a run as its log and record give them (``start/end``, end excluded),
        saying when the post window is clipped to the run date."""
        text = f"event {self.event_date}: pre {pre}, post {post}"
        if post.days < self.post_days:
            text += (
                f" ({post.days} of the {self.post_days} post-event days: clipped to the run date)"
            )
        return text


Windows = Annotated[MonitoringWindows | EventWindows, Field(discriminator="mode")]


def _default_mode(value: Any) -> Any:
    """``mode`` left out: ``event`` where the windows name an ``event_date`` (they read
    "event_date: unknown field" of the monitoring windows), else ``monitoring``."""
    if isinstance(value, dict) and "mode" not in value:
        return {**value, "mode": "event" if "event_date" in value else "monitoring"}
    return value


# --------------------------------------------------------------------------- masks


class MaskSettings(StrictModel):
    """Where a detection is not taken as a landslide."""

    min_slope_deg: float = Field(
        5.0, ge=0, lt=90, description="drop detections whose mean slope is below this (flat ground)"
    )
    exclude_water: bool = Field(
        True, description="remove water: WorldCover class 80, or dark with NDVI < 0 after the event"
    )
    exclude_snow: bool = Field(
        True, description="remove snow: WorldCover class 70, or bright and unvegetated after it"
    )
    max_post_ndvi: float | None = Field(
        0.6, ge=-1, le=1, description="drop detections greener than this after the event"
    )
    exclude_landcover: list[int] = Field(
        default_factory=list,
        description="ESA WorldCover codes: drop detections more than half on these classes",
    )

    @field_validator("exclude_landcover")
    @classmethod
    def _worldcover_codes(cls, value: list[int]) -> list[int]:
        check_landcover_codes(value)
        return value


# --------------------------------------------------------------------------- geometry


def _coordinate_problem(coordinates: Any, where: str = "coordinates") -> str | None:
    """The first coordinate of a GeoJSON geometry's ``coordinates`` that is not a finite number,
    named by its place (``coordinates[0][3][1]``), or None. shapely took text ("10.8") as the
    number it reads as, and a NaN failed as "do not form a closed linestring" (found in a
    walkthrough of large regions)."""
    if isinstance(coordinates, list | tuple):
        for i, item in enumerate(coordinates):
            if problem := _coordinate_problem(item, f"{where}[{i}]"):
                return problem
        return None
    if isinstance(coordinates, str) and is_number_text(coordinates):
        # YAML 1.1 (PyYAML) reads 1e-05 and 1.5e3, an exponent without a dot or a sign, as text
        return (
            f"{where} is the text {coordinates!r}, not a number: write it without quotes, and "
            "an exponent with a dot and a sign (1.0e-05, 1.5e+3), which YAML reads as a number"
        )
    if isinstance(coordinates, bool) or not isinstance(coordinates, int | float):
        return f"{where} is {coordinates!r}, not a number"
    if not math.isfinite(coordinates):
        return f"{where} is {coordinates!r}, not a finite number"
    return None


def _check_coordinates(geometry: Any, where: str = "") -> None:
    """:func:`_coordinate_problem` of a GeoJSON geometry (and of a collection's members)."""
    if not isinstance(geometry, dict):
        return
    if geometry.get("type") == "GeometryCollection":
        for i, member in enumerate(geometry.get("geometries") or []):
            _check_coordinates(member, f"{where}geometries[{i}].")
    else:
        coordinates = geometry.get("coordinates", [])
        problem = _coordinate_problem(coordinates, f"{where}coordinates") or _nesting_problem(
            geometry, where
        )
        if problem:
            raise ValueError(problem)


# How deep each polygon type's coordinates nest: rings of [lon, lat] positions, and polygons
_DEPTH = {"Polygon": 3, "MultiPolygon": 4}
_SHAPE = {"Polygon": "[[[lon, lat], ...]]", "MultiPolygon": "[[[[lon, lat], ...]]]"}


def _nesting_problem(geometry: dict[str, Any], where: str = "") -> str | None:
    """Where a Polygon's or MultiPolygon's coordinates nest to another depth than the type's,
    what to write (found in a survey's walk: a ring without its outer brackets read "'float'
    object is not iterable"); None otherwise."""
    kind, coordinates = geometry.get("type"), geometry.get("coordinates")
    if kind not in _DEPTH or not isinstance(coordinates, list | tuple):
        return None
    depth, item = 0, coordinates
    while isinstance(item, list | tuple) and item:  # shapely's mapping() gives tuples
        depth, item = depth + 1, item[0]
    if depth == _DEPTH[kind]:
        return None
    fewer = "one bracket level too few?" if depth == _DEPTH[kind] - 1 else "check the brackets"
    return (
        f"{where}coordinates of a {kind} nest {depth} lists deep, not {_DEPTH[kind]}: "
        f"{_SHAPE[kind]} ({fewer})"
    )


def _geometry_from_geojson(value: dict[str, Any]) -> BaseGeometry:
    kind = value.get("type")
    if kind == "FeatureCollection":
        for number, feature in enumerate(value.get("features", []), start=1):
            if isinstance(feature, dict):
                try:
                    _check_coordinates(feature.get("geometry"))
                except ValueError as exc:
                    raise ValueError(f"feature {number} of the FeatureCollection: {exc}") from None
    elif kind == "Feature":
        _check_coordinates(value.get("geometry"))
    else:
        _check_coordinates(value)
    if kind == "FeatureCollection":
        features = value.get("features", [])
        for number, feature in enumerate(features, start=1):
            if isinstance(feature, dict) and feature.get("geometry", {}) is None:
                raise ValueError(
                    f"feature {number} of the FeatureCollection has no geometry (null)"
                )
        return unary_union([shape(f["geometry"]) for f in features])
    if kind == "Feature":
        if value.get("geometry", {}) is None:
            raise ValueError("a Feature without a geometry (null)")
        return shape(value["geometry"])
    return shape(value)


def _bounding_box_hint(value: Any) -> str:
    """What to write instead of a bounding box given as a list of four numbers ("" for other
    values)."""
    numbers = isinstance(value, list | tuple) and len(value) == 4
    if not numbers or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in value
    ):
        return ""
    w, s, e, n = value
    ring = f"[[{w}, {s}], [{e}, {s}], [{e}, {n}], [{w}, {n}], [{w}, {s}]]"
    return (
        "; a bounding box [west, south, east, north] is written as a GeoJSON Polygon: "
        f"{{type: Polygon, coordinates: [{ring}]}}"
    )


def _geometry_from_file(
    path: Path, layer: str | None, feature: dict[str, str | int] | None = None
) -> BaseGeometry:
    import geopandas as gpd

    if not path.exists():
        raise ValueError(f"region file {path} does not exist")
    if path.suffix.lower() not in REGION_FILE_SUFFIXES:
        known = ", ".join(REGION_FILE_SUFFIXES)
        raise ValueError(f"region file {path} has an unknown format (known suffixes: {known})")
    try:  # by the driver its suffix names: GDAL would take a VRT named .json for one
        source = gdal_path(path, layer)
    except VectorFileError as exc:
        raise ValueError(f"region file {exc}") from None
    try:
        import pyogrio

        # layers with geometry: a QGIS style table (layer_styles) or another attribute
        # table beside the polygons is not a layer to choose from
        layers = [str(name) for name, kind in pyogrio.list_layers(source) if kind is not None]
        # GDAL opens a layer whatever the case of its name (layer: Ridge for "ridge" worked)
        if layer is not None and layer.lower() not in {n.lower() for n in layers}:
            raise ValueError(
                f"region file {path} has no layer {layer!r}; its layers: "
                f"{', '.join(layers[:8]) or 'none with geometry'}: correct the region's `layer`"
            )
        if layer is None:
            if len(layers) == 1:
                layer = layers[0]
            elif len(layers) > 1:
                raise ValueError(
                    f"region file {path} has {len(layers)} layers ({', '.join(layers[:8])}): "
                    "name one with the region's `layer`"
                )
        frame = gpd.read_file(source, layer=layer) if layer else gpd.read_file(source)
    except ValueError:
        raise
    except Exception as exc:  # pyogrio raises DataSourceError, DataLayerError, ...
        # a GeoPackage another program is writing (QGIS saving an edit) is the user's to end:
        # said so, as for the inventory (found in a survey's walk: GDAL's SQL, twice)
        advice = sqlite_advice(str(exc), path) if "database is locked" in str(exc) else None
        if advice is not None:
            raise ValueError(f"region file {path} {advice}") from None
        if "SHAPE_RESTORE_SHX" in str(exc):  # GDAL's own advice is for GDAL's users
            raise ValueError(
                f"region file {path}: its .shx (the shapefile's index) is missing: copy the "
                "shapefile's other files (.shx, .dbf, .prj) beside it, or give it zipped (.zip)"
            ) from None
        raise ValueError(f"cannot read region file {path}: {exc}") from None
    if frame.empty:
        raise ValueError(f"region file {path} holds no features")
    if feature is not None:
        frame = _chosen_features(frame, feature, path)
    kinds = set(frame.geometry.geom_type.dropna())
    other = sorted(kinds - {"Polygon", "MultiPolygon"})
    if other:
        besides = " besides polygons" if kinds & {"Polygon", "MultiPolygon"} else ", no polygon"
        raise ValueError(
            f"region file {path} holds {', '.join(other)} features{besides}; a region is "
            "polygons alone: remove the others"
        )
    box = tuple(frame.total_bounds)
    if (
        frame.crs is not None
        and frame.crs.is_geographic
        and path.suffix.lower() not in _LON_LAT_ALWAYS
        and not is_lon_lat(box)
        and lon_lat_misreading(box) == "projected"
    ):  # found in a survey's walk: UTM metres in a file declaring EPSG:4326 were told to
        # "give a region file that declares its CRS", which it did (a longitude of 0-360° or
        # latitude first are told so by check_area)
        bounds = ", ".join(f"{v:.1f}" for v in frame.total_bounds)
        raise ValueError(
            f"region file {path} declares {frame.crs.name} (degrees), but its coordinates "
            f"({bounds}) are not degrees: metres of a projected CRS? The CRS it declares is "
            "wrong: assign the right one (ogr2ogr -a_srs EPSG:... OUT IN)"
        )
    if frame.crs is not None:
        frame = frame.to_crs("EPSG:4326")
    else:
        if not is_lon_lat(tuple(frame.total_bounds)):
            bounds = ", ".join(f"{v:.1f}" for v in frame.total_bounds)
            raise ValueError(
                f"region file {path} declares no CRS (a shapefile without its .prj?) and its "
                f"coordinates ({bounds}) are not lon/lat: "
                "give the file its CRS (ogr2ogr -a_srs EPSG:... OUT IN)"
            )
    return unary_union(list(frame.geometry))


# Well-known text of a polygon (what QGIS's "Copy as WKT" gives; PostGIS's EWKT with its SRID):
# whole, so that a file named "Polygon (1).geojson" stays a path
_WKT = re.compile(
    r"^\s*(SRID=\d+;\s*)?(MULTI)?POLYGON\s*(Z|M|ZM)?\s*(\(.*\)|EMPTY)\s*$",
    re.IGNORECASE | re.DOTALL,
)


# Region files GDAL reads as lon/lat whatever they hold (GeoJSON without a crs member, KML):
# they declare nothing, so a misread is check_area's to word
_LON_LAT_ALWAYS = (".geojson", ".json", ".kml")


def _chosen_features(
    frame: gpd.GeoDataFrame, feature: dict[str, str | int], path: Path
) -> gpd.GeoDataFrame:
    """The features of ``frame`` whose attribute is the one value of ``feature``: compared as
    text, so that ``{code: 7}`` finds a text column's "7", a number's whole value written
    without ".0" (an integer column with an empty cell is read as floats); empty cells match
    nothing. Found in a survey's walk: a file of 15 areas of interest, one per region, could
    only be merged into one."""
    ((column, value),) = feature.items()
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    if column not in columns:
        raise ValueError(
            f"region file {path} has no attribute {column!r} (its attributes: "
            f"{first_names(columns, 12) or 'none'}): correct the region's `feature`"
        )
    texts = [_attribute_text(cell) for cell in frame[column]]  # not .map: it makes None NaN
    chosen = frame[[text == _attribute_text(value) for text in texts]]
    if chosen.empty:
        values = sorted({text for text in texts if text is not None})
        raise ValueError(
            f"region file {path} has no feature whose {column} is {value!r} (its values: "
            f"{first_names(values, 12) or 'none'}): correct the region's `feature`"
        )
    return chosen


def _attribute_text(value: object) -> str | None:
    """An attribute as :func:`_chosen_features` compares it: text, a whole number without its
    ".0", None for an empty cell (None, NaN)."""
    from pandas import isna  # None, NaN, pandas' NA and NaT alike

    if isna(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------- the region


class RegionConfig(StrictModel):
    """One watched region."""

    model_config = ConfigDict(arbitrary_types_allowed=True)  # StrictModel's, and shapely's

    name: str
    max_area_km2: float = Field(DEFAULT_MAX_AREA_KM2, gt=0, description="refuse larger polygons")
    layer: str | None = Field(None, description="layer of a multi-layer region file")
    feature: dict[str, str | int] | None = Field(
        None,
        description="the features of the region file to take, by one attribute: {COLUMN: "
        "VALUE} (a file of several areas, one region each); unset, all its features, merged",
    )
    geometry: BaseGeometry = Field(
        description="GeoJSON (geometry, Feature or FeatureCollection) inline, or a path to a "
        "GeoJSON, GeoPackage, KML or shapefile; lon/lat, or any CRS the file declares"
    )
    orbit_pass: OrbitPass = "both"
    windows: Windows = Field(default_factory=MonitoringWindows)
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="the ensemble's probability at or above which a pixel is a landslide, "
        "for every setting; unset, each setting's calibrated one",
    )
    min_area_m2: float = Field(900.0, ge=0)
    second_look: bool = Field(
        True,
        description="alert a detection only once a second look confirms it: the optical view, "
        "a second Sentinel-1 scene showing the change, or a later run's confirmed detection "
        "(docs/operations.md, Time to alert); false alerts at once",
    )
    filter_cut: float | None = Field(
        None,
        ge=0,
        le=1,
        description="object filter: candidates scoring below it are stored as suppressed and "
        "raise no alert; default: the cut calibrated with the filter (its manifest); 0 = off",
    )
    masks: MaskSettings = Field(default_factory=MaskSettings)
    alerts: AlertTargets | None = Field(None, description="this region's own alert targets")
    simulation: SimulationSpec | None = Field(
        None, description="the simulated landscape of this region (archive build)"
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_sections(cls, data: Any) -> Any:
        # `windows:` or `masks:` with nothing under it is the section's defaults, as at the
        # top level (it was "Input should be a valid dictionary or instance of MaskSettings")
        if isinstance(data, dict):
            named = ("windows", "masks")
            empty: dict[str, Any] = {k: {} for k in named if k in data and data[k] is None}
            return {**data, **empty}
        return data

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, value: str) -> str:
        return check_region_name(value)

    @field_validator("simulation")
    @classmethod
    def _known_family(cls, value: SimulationSpec | None) -> SimulationSpec | None:
        # an unknown family, or one of another landscape, failed the archive build after the
        # other regions were built (found walking the carried items)
        if value is not None and value.family is not None:
            landscape_family(value.family, value.landscape)
        return value

    @field_validator("windows", mode="before")
    @classmethod
    def _windows_mode(cls, value: Any) -> Any:
        return _default_mode(value)

    @field_validator("feature")
    @classmethod
    def _one_attribute(cls, value: dict[str, str | int] | None) -> dict[str, str | int] | None:
        if value is not None and len(value) != 1:
            raise ValueError(
                f"give one attribute and its value ({{COLUMN: VALUE}}), not {len(value)}"
            )
        return value

    @field_validator("geometry", mode="before")
    @classmethod
    def _read_geometry(cls, value: Any, info: ValidationInfo) -> BaseGeometry:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            # GeoJSON pasted as a quoted string (as a tool or a web page gives it): it was
            # taken for a file's path ("region file {"type": ... does not exist")
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"text that starts like GeoJSON but is not JSON: {exc}") from None
        if isinstance(value, BaseGeometry):
            geometry = value
        elif isinstance(value, dict):
            try:
                geometry = _geometry_from_geojson(value)
            except KeyError as exc:  # a misspelt or missing member
                keys = ", ".join(map(str, value)) or "none"
                raise ValueError(
                    f"not a GeoJSON geometry: no {exc.args[0]!r} member (it has: {keys})"
                ) from None
            except Exception as exc:
                raise ValueError(f"not a GeoJSON geometry: {exc}") from None
        elif isinstance(value, str) and not value.strip():
            # Path("") is the configuration's folder: it read "region file <folder> has an
            # unknown format"
            raise ValueError("empty text; expected inline GeoJSON or the path of a region file")
        elif isinstance(value, str) and _WKT.match(value):
            # found in a survey's walk: read as a file's path, "region file /…/POLYGON((…
            raise ValueError(
                "WKT is not read here: give the polygon as GeoJSON ({type: Polygon, "
                "coordinates: [[[lon, lat], ...]]}) or the path of a region file"
            )
        elif isinstance(value, str | Path):
            path = resolve_path(Path(value), info)
            data = info.data or {}
            geometry = _geometry_from_file(path, data.get("layer"), data.get("feature"))
        else:
            raise ValueError(
                "expected inline GeoJSON or the path of a region file" + _bounding_box_hint(value)
            )
        for key in ("layer", "feature"):
            if not isinstance(value, str | Path) and (info.data or {}).get(key) is not None:
                # a layer or feature chooses from a region file: beside inline GeoJSON it was
                # ignored, silently
                raise ValueError(
                    f"`{key}: {info.data[key]}` chooses from a region file, but this geometry is "
                    f"inline GeoJSON: drop `{key}`, or give the file's path"
                )
        geometry = force_2d(geometry)
        data = info.data or {}
        area = AreaOfInterest(name=str(data.get("name", "region")), geometry=geometry)
        try:
            check_area(area, data.get("max_area_km2", DEFAULT_MAX_AREA_KM2))
        except InvalidArea as exc:
            raise ValueError(str(exc)) from None
        return geometry

    @property
    def area(self) -> AreaOfInterest:
        """What a source needs of this region."""
        return AreaOfInterest(name=self.name, geometry=self.geometry, orbit_pass=self.orbit_pass)

    @property
    def rules(self) -> VectoriseRules:
        """What this region accepts as a landslide (see :mod:`monitor.pipeline.vectorise`)."""
        return VectoriseRules(
            threshold=self.threshold,
            min_area_m2=self.min_area_m2,
            min_slope_deg=self.masks.min_slope_deg,
            exclude_water=self.masks.exclude_water,
            exclude_snow=self.masks.exclude_snow,
            max_post_ndvi=self.masks.max_post_ndvi,
            exclude_landcover=tuple(self.masks.exclude_landcover),
            second_look=self.second_look,
        )

    def geojson(self) -> dict[str, Any]:
        return dict(mapping(self.geometry))
