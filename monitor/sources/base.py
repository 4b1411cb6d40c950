"""The acquisition seam: what every data source (archive, Earth Engine) offers the run."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import xarray as xr
from pydantic import BeforeValidator
from shapely.geometry.base import BaseGeometry

from models.change_statistics import IW_GRD_ENL, Compositing, CompositingMode
from models.feature_stack import StackAttrs, empty_bands, status_text
from models.worldcover import no_data_note

__all__ = [
    "DEFAULT_MAX_AREA_KM2",
    "EVENT",
    "FIRST_SENTINEL_1_DAY",
    "IW_GRD_ENL",
    "MONITORING",
    "STALE_DAYS",
    "STALE_QUESTION",
    "AreaOfInterest",
    "Compositing",
    "CompositingMode",
    "DataUnavailable",
    "InvalidArea",
    "OrbitPass",
    "RegionTooLarge",
    "Source",
    "Window",
    "WrittenDay",
    "check_area",
    "check_region_name",
    "check_written_day",
    "data_status",
    "event_windows",
    "pass_words",
    "source_identity",
    "stack_attrs",
    "stale_note",
    "stale_post_note",
]

# Largest region a source accepts unless the configuration says otherwise: 2500 km² is
# 5000 x 5000 pixels of 10 m, about 1.5 GB per float32 feature stack.
DEFAULT_MAX_AREA_KM2 = 2500.0
# A region's grid, the polygon's bounding box, may cover this many times max_area_km2: a compact
# polygon's box is at most about twice its area (a triangle's), a diagonal valley 100 km long
# and 5 km wide has one of 4,900 km² for its 500; at the default, 7,500 km² take about 21 GB
# (docs/operations.md measured 6.9 GB for 2,500 km²).
GRID_AREA_FACTOR = 3.0
# The first day of Earth Engine's COPERNICUS/S1_GRD collection (Sentinel-1A's routine data;
# COPERNICUS/S2_SR_HARMONIZED starts on 2017-03-28, Earth Engine data catalog): before it no
# window can hold data.
FIRST_SENTINEL_1_DAY = date(2014, 10, 3)
# The latitudes UTM zones span (beyond them UPS, which no region's grid is).
UTM_SOUTH, UTM_NORTH = -80.0, 84.0

OrbitPass = Literal["ascending", "descending", "both"]

# What a region's name may hold: it names the region's folder of the archive, its files and its
# inventory rows.
_REGION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the whole name (fullmatch)
# Its length at most: the longest file name it goes into adds some 40 characters (a dataset
# scene's "<region>_<date>_<n>_input.tif", an export's pieces) to a file system's 255; 64 leaves
# room for any. A name of 260 was taken, and building its archive failed with "File name too
# long" (found in a config audit).
REGION_NAME_MAX = 64
# Names Windows keeps for its devices, whatever the suffix ("nul.txt" is NUL): a folder of that
# name cannot be made there, nor copied there from an archive built elsewhere.
_WINDOWS_DEVICES = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9])(\..*)?", re.IGNORECASE)


def check_region_name(name: str) -> str:
    """``name``, refused with a :class:`ValueError` saying what a region name may hold where it
    holds anything else (a space, a '/', a non-ASCII letter, a leading '.' or '-') or is longer
    than :data:`REGION_NAME_MAX`."""
    if len(name) > REGION_NAME_MAX:
        raise ValueError(
            f"region name {name[:20]!r}... has {len(name)} characters, more than "
            f"{REGION_NAME_MAX}: it names files, with a date and more"
        )
    if not _REGION_NAME.fullmatch(name):
        raise ValueError(
            f"region name {name!r} must start with an ASCII letter (A-Z, a-z) or digit "
            "(0-9) and hold only ASCII letters, digits, '_', '-' and '.' (it names files "
            "and inventory rows)"
        )
    # as names that differ only in case: their folders on Windows (found by an agency's walk:
    # `valley-000.` beside `valley-000`, whose folders Windows makes one, and `CON`)
    if name.endswith("."):
        raise ValueError(
            f"region name {name!r} ends in '.', which Windows drops from a folder's name (it "
            f"would be {name.rstrip('.')!r}'s): leave it out"
        )
    if _WINDOWS_DEVICES.fullmatch(name):
        raise ValueError(
            f"region name {name!r} is one Windows keeps for a device, whose folder cannot be "
            "made there: give the region another name"
        )
    return name


# a number as text ("0", "20240824"): pydantic would read it as Unix seconds too
_NUMBER = re.compile(r"\s*[+-]?\d+(\.\d*)?\s*")
# a day as ISO 8601 writes it, perhaps with a time after it
_ISO_DAY = re.compile(r"\s*\d{4}-\d{2}-\d{2}(?![\d-])")


def check_written_day(value: Any) -> Any:
    """``value``, a day of the configuration as YAML gives it (a date, or text), refused with
    a :class:`ValueError` saying to write YYYY-MM-DD where it is a number, which pydantic reads
    as seconds since 1970 (0 was 1970-01-01, and 20240824 "Datetimes provided to dates should
    have zero time"), text of another form (24/08/2024 was "invalid character in year"), or a
    time that is not midnight. A pydantic ``BeforeValidator`` of every date the file gives."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        text = str(value).strip()
        meant = "2024-08-24"  # an example, unless it is YYYYMMDD: the date meant
        if len(text) == 8 and text.isdigit():
            with contextlib.suppress(ValueError):
                meant = date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
        said = f"{text!r} is" if isinstance(value, str) else f"{text} is a number,"
        raise ValueError(
            f"{said} read as seconds since 1970, not a date: write it as YYYY-MM-DD ({meant})"
        )
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError(
            f"{value!r} is not a date of the form YYYY-MM-DD: write it so (2024-08-24 for "
            "24 August 2024)"
        )
    given = value if isinstance(value, str) else None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = datetime.fromisoformat(value.strip())
    if isinstance(value, datetime):
        if value.time() == datetime.min.time() and not value.utcoffset():
            return value.date()  # midnight: the day itself
        # an earthquake's time was pydantic's "Datetimes provided to dates should have zero
        # time - e.g. be exact dates", which did not say what to write
        day = value.astimezone(UTC).date() if value.tzinfo else value.date()
        raise ValueError(
            f"{given or value.isoformat()} has a time of day: write the day alone, {day} "
            "(YYYY-MM-DD, the UTC day: acquisitions are dated by it)"
        )
    return value


# A day the configuration gives, read by check_written_day (event_date, the simulation's days).
WrittenDay = Annotated[date, BeforeValidator(check_written_day)]


@dataclass(frozen=True)
class Window:
    """A date window, ``start`` inclusive and ``end`` exclusive (as ee.Filter.date)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")

    def __str__(self) -> str:
        return f"{self.start.isoformat()}/{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def event_windows(event: date, pre_days: int, post_days: int) -> tuple[Window, Window]:
    """The windows of ``windows: {mode: event}`` for an event on ``event``: the ``pre_days``
    before it and the ``post_days`` after it, the day itself in neither (its hour is not known,
    so its acquisitions may precede the event or follow it)."""
    pre = Window(event - timedelta(days=pre_days), event)
    post = Window(event + timedelta(days=1), event + timedelta(days=1 + post_days))
    return pre, post


EVENT = Compositing()
MONITORING = Compositing("monitoring")
# Days without any acquisition at the end of a post window that :func:`data_status` reports:
# Sentinel-1 revisits within 12 days per orbit pass, Sentinel-2 within 5.
STALE_DAYS = 15
# How that line ends, which ``status --check`` looks for in a region's last message.
STALE_QUESTION = "is the source still fed?"


@dataclass(frozen=True)
class AreaOfInterest:
    """What a source needs to know of a watched region."""

    name: str
    geometry: BaseGeometry  # EPSG:4326 lon/lat
    orbit_pass: OrbitPass = "both"


class InvalidArea(ValueError):
    """A region polygon that is invalid, empty, not in lon/lat or larger than allowed."""


def _not_lon_lat_hint(geometry: BaseGeometry) -> str:
    """What the coordinates of ``geometry``, which are not lon/lat, most likely are ("" where
    nothing stands out)."""
    from shapely import get_coordinates

    from monitor.grid import lon_lat_misreading

    west, _, east, _ = geometry.bounds
    kind = lon_lat_misreading(geometry.bounds)
    if kind == "projected":
        return (
            ": metres of a projected CRS? GeoJSON, inline or a file without a crs member, is "
            "read as lon/lat; give a region file that declares its CRS (a GeoPackage, a "
            "shapefile with its .prj)"
        )
    if kind == "swapped":
        x, y = get_coordinates(geometry)[0]
        return f": they read as latitude, longitude; GeoJSON gives the longitude first ([{y}, {x}])"
    if kind == "0-360":
        hint = (
            f": longitudes past 180° (of 0-360°) are written minus 360 ({east:g} as "
            f"{east - 360.0:g})"
        )
        if west < 180.0:
            hint += (
                "; a region cannot cross the antimeridian (±180°): make two regions, one on "
                "each side"
            )
        return hint
    return ""


def pass_words(orbit_pass: OrbitPass) -> str:
    """The orbit pass as words before a noun ("descending "; nothing for both passes)."""
    return "" if orbit_pass == "both" else f"{orbit_pass} "


def check_area(
    area: AreaOfInterest | BaseGeometry, max_area_km2: float = DEFAULT_MAX_AREA_KM2
) -> float:
    """Refuse an invalid, empty, non-polygonal, out-of-range or oversized region polygon
    (EPSG:4326 lon/lat) with :class:`InvalidArea` naming the region and the reason; return its
    area in km² (measured on its UTM grid, as :func:`monitor.grid.region_grid` lays it out)."""
    from shapely import make_valid
    from shapely.validation import explain_validity

    from monitor.grid import is_lon_lat, region_grid

    name, geometry = (
        (area.name, area.geometry) if isinstance(area, AreaOfInterest) else ("region", area)
    )
    if geometry is None or geometry.is_empty:
        raise InvalidArea(f"{name}: the polygon is empty")
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidArea(f"{name}: expected a Polygon or MultiPolygon, got {geometry.geom_type}")
    if not geometry.is_valid:
        raise InvalidArea(
            f"{name}: the polygon is invalid ({explain_validity(geometry)}); "
            f"a valid version would be {make_valid(geometry).geom_type}"
        )
    west, south, east, north = geometry.bounds
    if not is_lon_lat(geometry.bounds):
        raise InvalidArea(
            f"{name}: coordinates {geometry.bounds} are not lon/lat degrees (EPSG:4326)"
            + _not_lon_lat_hint(geometry)
        )
    if south < UTM_SOUTH or north > UTM_NORTH:  # found in a config audit: 89.99° N loaded
        raise InvalidArea(
            f"{name}: the polygon reaches {north if north > UTM_NORTH else south:g}° of "
            f"latitude; a region's grid is a UTM zone's, which spans {-UTM_SOUTH:g}° S to "
            f"{UTM_NORTH:g}° N"
        )
    if east - west > 6.0:
        near_180 = west < -174.0 and east > 174.0  # both sides of the antimeridian
        raise InvalidArea(
            f"{name}: the polygon spans {east - west:.1f}° of longitude (max 6°)"
            + (
                "; it crosses the antimeridian (±180°), which a region cannot: make two "
                "regions, one on each side"
                if near_180
                else ""
            )
        )
    grid = region_grid(geometry)
    area_km2 = grid.project(geometry).area / 1e6
    if area_km2 <= 0.0:
        raise InvalidArea(f"{name}: the polygon has no area")
    if area_km2 > max_area_km2:
        raise InvalidArea(
            f"{name}: the polygon covers {area_km2:.1f} km², more than the maximum "
            f"{max_area_km2:g} km² (split the region, or raise its max_area_km2)"
        )
    # every image of the region is computed on its grid, the bounding box: two small parts far
    # apart passed with 2 km² and a grid of 8,800 km², about 24 GB of memory (a config audit)
    if grid.area_km2 > GRID_AREA_FACTOR * max_area_km2:
        raise InvalidArea(
            f"{name}: the polygon's grid (its bounding box, on which every image of the region "
            f"is computed) covers {grid.area_km2:.1f} km², more than {GRID_AREA_FACTOR:g} × "
            f"max_area_km2 ({GRID_AREA_FACTOR * max_area_km2:g} km²); make parts that lie far "
            "apart regions of their own, or raise max_area_km2"
        )
    return area_km2


def stale_note(notes: str) -> str | None:
    """The line of :func:`stale_post_note` among ``notes`` (a stack's status or a region's
    recorded message: lines joined by ``"; "``), or None."""
    said = [note for note in notes.split("; ") if note.endswith(STALE_QUESTION)]
    return said[0] if said else None


def stale_post_note(post: Window, post_dates: Sequence[str]) -> str | None:
    """The line saying that the post window holds no acquisition of either sensor in its last
    :data:`STALE_DAYS` days (ending in :data:`STALE_QUESTION`, which ``status --check`` fails
    on), or None. ``post_dates``: the ISO days of its acquisitions; none at all in a window of
    that many days or more is the same news (a walk's monitor pointed at an archive that ended
    months before passed the health check: its runs were ``no-data``, which said nothing)."""
    last = post.end - timedelta(days=1)
    revisit = f"where Sentinel-1 and Sentinel-2 revisit within 12: {STALE_QUESTION}"
    if post_dates:
        newest = max(date.fromisoformat(d) for d in post_dates)
        if (last - newest).days < STALE_DAYS:
            return None
        return (
            f"post window {post}: its newest acquisition, {newest.isoformat()}, is "
            f"{(last - newest).days} days before its last day, {revisit}"
        )
    if post.days < STALE_DAYS:  # a young event window: its first scenes may be days away
        return None
    return f"post window {post}: no acquisition of either sensor in its {post.days} days, {revisit}"


def data_status(
    pre: Window,
    post: Window,
    orbit_pass: OrbitPass,
    acquisitions: Mapping[str, int],
    counts: Mapping[str, np.ndarray],
    *,
    layers: Mapping[str, np.ndarray],
    empty_causes: Mapping[str, str] | None = None,
    post_dates: Sequence[str] = (),
) -> list[str]:
    """The data problems of a stack, one line per sensor and window, worded the same for every
    source: ``acquisitions`` maps ``"s2_pre"``, ``"s2_post"``, ``"s1_pre"``, ``"s1_post"`` to the
    number of scenes in that window, ``counts`` holds the stack's clear/valid-observation counts
    (:data:`models.feature_stack.COUNT_VARIABLES`). ``layers`` holds the stack's model bands:
    those that came back entirely NaN are listed on a last line, ``empty bands (entirely NaN):
    ...``, each with its cause from ``empty_causes`` when the source knows it (e.g. the asset
    that had no data). ``post_dates``: the ISO days of the post window's acquisitions of
    either sensor; where none lies within the window's last :data:`STALE_DAYS` days (the
    newest that many days or more before its last day), a line says so (a source no longer
    fed looks otherwise like a quiet one). Empty when nothing is missing."""
    problems: list[str] = []
    stale = stale_post_note(post, post_dates)
    if stale is not None:
        problems.append(stale)
    for label, window in (("pre", pre), ("post", post)):
        n = acquisitions[f"s2_{label}"]
        clear = np.nan_to_num(np.asarray(counts[f"s2_clear_{label}"]))
        n_missing = int((clear <= 0).sum())
        if n == 0:
            problems.append(f"S2 {label} window {window}: no acquisition")
        elif n_missing == clear.size:
            problems.append(f"S2 {label} window {window}: no clear pixel in {n} acquisitions")
        elif n_missing:
            share = 100.0 * n_missing / clear.size
            problems.append(
                f"S2 {label} window {window}: {n_missing} pixels ({share:.3g}%) without a clear "
                f"observation in {n} acquisitions"
            )
    passes = pass_words(orbit_pass)
    for label, window in (("pre", pre), ("post", post)):
        n = acquisitions[f"s1_{label}"]
        if n == 0:
            problems.append(f"S1 {label} window {window}: no {passes}acquisition")
        elif not np.any(np.nan_to_num(np.asarray(counts[f"s1_count_{label}"])) > 0):
            problems.append(
                f"S1 {label} window {window}: no valid pixel in {n} {passes}acquisitions "
                "(border noise, layover/shadow or no data everywhere, or in monitoring no track "
                "the other window saw)"
            )
    if "landcover" in layers:
        note = no_data_note(np.asarray(layers["landcover"]))
        if note is not None:
            problems.append(note)
    empty = empty_bands(layers)
    if empty:
        causes = empty_causes or {}
        named = [f"{b} ({causes[b]})" if b in causes else b for b in empty]
        problems.append(f"empty bands (entirely NaN): {', '.join(named)}")
    return problems


def stack_attrs(
    source: str,
    area: AreaOfInterest,
    pre: Window,
    post: Window,
    *,
    s2_dates: tuple[Sequence[str], Sequence[str]],
    s1_dates: tuple[Sequence[str], Sequence[str]],
    problems: Sequence[str],
    extra: Mapping[str, str] | None = None,
) -> StackAttrs:
    """The attributes of the stack ``source`` made of ``area`` for the windows ``pre`` and
    ``post``, worded the same for every source: the ISO dates of the acquisitions used,
    ``(pre, post)`` per sensor, and the data problems (:func:`data_status`) as the status."""
    return StackAttrs(
        region=area.name,
        source=source,
        pre_window=str(pre),
        post_window=str(post),
        orbit_pass=area.orbit_pass,
        s2_dates_pre=tuple(s2_dates[0]),
        s2_dates_post=tuple(s2_dates[1]),
        s1_dates_pre=tuple(s1_dates[0]),
        s1_dates_post=tuple(s1_dates[1]),
        status=status_text(problems),
        extra=dict(extra or {}),
    )


class DataUnavailable(RuntimeError):
    """No usable acquisition at all for a region and window (names region, sensor and window).

    A source raises this only when neither sensor has data; a missing optical or radar part
    alone is reported in the stack's ``status`` attribute and its bands are NaN."""


class RegionTooLarge(ValueError):
    """A region above ``source.max_interactive_km2`` of the Earth Engine source: use
    ``GeeSource.export`` instead (here, without ``ee``, so that a run can tell this refusal,
    which its message explains, from a failure)."""


@runtime_checkable
class Source(Protocol):
    """An acquisition backend. ``features`` returns a stack on
    :func:`monitor.grid.region_grid` of the area, built by
    :func:`models.stack_assembly.assemble_stack`, which validates it: the stack is checked here,
    at the source boundary, and nowhere downstream. ``isinstance(x, Source)`` tells only that
    ``x`` has these attributes (a runtime-checkable protocol), not that its stacks are valid.
    A source may also offer ``identity(area) -> dict`` (:func:`source_identity`)."""

    name: str

    def features(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        compositing: Compositing = EVENT,
    ) -> xr.Dataset: ...

    def first_acquisition(self, area: AreaOfInterest) -> date | None:
        """The day of the source's first acquisition of ``area`` (any sensor), or None when the
        source cannot tell. A run date on or before it has no data in any window."""
        ...


def source_identity(source: Source, area: AreaOfInterest) -> dict[str, Any]:
    """What, besides the area and the windows, decides the stacks ``source`` builds for
    ``area``: the source's ``identity(area)`` where it has one (the archive: its folder, the
    region's record and catalogue, the compositing options; Earth Engine: the collections,
    masks and pre-processing settings), else its name alone. A written training scene is
    reused only while this is unchanged (:mod:`monitor.ops.dataset`)."""
    identity = getattr(source, "identity", None)
    if callable(identity):
        return {"source": source.name, **identity(area)}
    return {"source": source.name}
