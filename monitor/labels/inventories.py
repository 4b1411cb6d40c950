"""Dated landslide inventories read into one table of label items.

Two kinds of file:

* polygons: GeoPackage, GeoJSON or shapefile (``.shp``, or zipped) with a date column named
  in the configuration or on the command line, each read only as the format its suffix names
  (:func:`models.vector_files.gdal_path`: an OGR VRT named ``.json`` is refused); every
  feature is a landslide of that date. The column holds dates (a date or datetime field),
  ISO 8601 text (``2024-08-17``, a time may follow), the same with slashes
  (``2024/08/17 00:00:00``, GDAL's text of a shapefile's datetime) or ``YYYYMMDD`` (text or a
  number, as shapefiles often store them); any other form needs its ``date_format``
  (``%d/%m/%Y``): ``05/08/2024`` is 5 August in one country and 8 May in another, and one
  column is never read both ways;
* points with a positional accuracy, in the NASA Global Landslide Catalog's published CSV
  columns (Kirschbaum et al. 2010, in Ganerød et al.'s references): ``event_id``,
  ``event_date`` as ``M/D/YYYY H:MM`` (or ``MM/DD/YYYY hh:mm:ss AM``, as data.nasa.gov's
  export writes it, or year first, ``2024-08-17 14:30:00``, as a spreadsheet may re-save it),
  ``location_accuracy`` (``exact``, ``1km``, ``5km``, ``10km``, ``25km``, ``50km``,
  ``100km``, ``250km`` or ``unknown``), ``landslide_category``, ``landslide_trigger``,
  ``landslide_size``, ``country_name``, ``longitude``, ``latitude``, among others.

Both come out as a :class:`LabelItems` table (EPSG:4326): ``item_id``, ``event_date``
(:class:`datetime.date`), ``accuracy_m`` (0 for polygons), ``event`` (what a split keeps
together: the catalog's ``event_id``, or the date for polygons, which ``dataset export`` keeps
within a region), ``row`` (the file's row) and the geometry. Points less precise than
``max_accuracy`` (and ``unknown``) are skipped and counted, with their ids. A catalogue's
column names are matched without regard to case or surrounding spaces. Errors name the file,
the rows (every bad one, up to :data:`_MAX_LISTED`) and the column. Invalid polygons are
repaired with :func:`shapely.make_valid` (their polygon parts kept) and listed; one with no
area left is an error.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import pandas as pd
import pyogrio
from pyproj.exceptions import ProjError
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from models.vector_files import VectorFileError, gdal_path
from monitor.grid import is_lon_lat, lon_lat_misreading, multipolygon

__all__ = [
    "GLC_ACCURACY_M",
    "GLC_NOT_LANDSLIDES",
    "GLC_REQUIRED_COLUMNS",
    "REVIEW_COLUMNS",
    "InventoryFileError",
    "LabelItems",
    "ReviewRole",
    "accuracy_limit",
    "cell_text",
    "column_names",
    "read_glc_csv",
    "read_inventory",
    "read_polygon_inventory",
]

# location_accuracy of the Global Landslide Catalog, as a radius in metres (None: unknown).
GLC_ACCURACY_M: dict[str, float | None] = {
    "exact": 0.0,
    "1km": 1_000.0,
    "5km": 5_000.0,
    "10km": 10_000.0,
    "25km": 25_000.0,
    "50km": 50_000.0,
    "100km": 100_000.0,
    "250km": 250_000.0,
    "unknown": None,
}

GLC_REQUIRED_COLUMNS = ("event_id", "event_date", "location_accuracy", "longitude", "latitude")
# Global Landslide Catalog categories that are no landslide of ground: a snow avalanche moves
# snow, and the scar it may leave is not what the members are taught. Their rows are skipped and
# counted (dataset.skip_categories, --skip-categories).
GLC_NOT_LANDSLIDES: tuple[str, ...] = ("snow_avalanche",)
GLC_DATE_FORMAT = "%m/%d/%Y %H:%M"
# a date of the catalog's form whose first number is no month and second may be one: written
# day first (19/08/2024)
_DAY_FIRST = re.compile(r"^(1[3-9]|2\d|3[01])/(0?[1-9]|1[0-2])/\d{4}\b")
# the same dates as data.nasa.gov's CSV export writes them
_GLC_DATE_FORMATS = (GLC_DATE_FORMAT, "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y")
# year first, so never ambiguous: ISO 8601 (a time may follow), the same with slashes (GDAL's
# text of a shapefile's datetime, 2024/08/17 00:00:00), and YYYYMMDD
_YEAR_FIRST = (
    re.compile(
        r"^(?P<y>\d{4})(?P<sep>[-/])(?P<m>\d{2})(?P=sep)(?P<d>\d{2})"
        # a time may follow, with seconds, fractions and a zone; nothing else ("to 2024-08-20")
        r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?(?:Z|[+-]\d{2}(?::?\d{2})?))?)?$"
    ),
    re.compile(r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
)
_MAX_LISTED = 10  # bad rows named in one error
_FILL_OR_DROP = "fill them in, or drop those {} from the file"  # missing values, not bad ones
# what coordinates that are not lon/lat most likely are (monitor.grid.lon_lat_misreading)
_MISREADINGS = {
    "projected": "metres of a projected system",
    "swapped": "latitude before longitude",
    "0-360": "longitudes of 0-360°, past 180 written minus 360",
}
# The Global Landslide Catalog's problems that are missing values (:data:`_FILL_OR_DROP`).
_FILL_OR_DROP_COLUMNS = frozenset({"event_id", "no event_date", "no longitude", "no latitude"})

POLYGON_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".zip")
# The columns that make a CSV an `inventory export` (monitor.store.inventory): its landslides'
# stable ids and their footprints as WKT.
_EXPORT_CSV_COLUMNS = frozenset({"uid", "wkt"})
# A shapefile's attribute table (dBASE) keeps the first 10 characters of a column's name.
_DBF_NAME_LENGTH = 10


# What a reviewed item of an `inventory export` is in a label: a landslide (an item), known
# background (a dismissed false alarm) or unknown (a candidate nobody reviewed).
ReviewRole = Literal["positive", "negative", "ignore"]
#: The columns that make a polygon file an `inventory export` whose review status can be read
#: (``inventory export`` writes them, among others; ``inventory review --file`` needs them).
REVIEW_COLUMNS = ("uid", "status")
_ROLE_SKIPPED: dict[str, str] = {
    "negative": "{status} in the inventory (a false alarm): no scene of its own, labelled 0 "
    "where another's scene holds it",
    "ignore": "{status} in the inventory (not reviewed): no scene of its own, labelled 255 "
    "(ignore) where another's scene holds it",
}


class InventoryFileError(ValueError):
    """An inventory file that cannot be used; the message names the file, row and column."""


@dataclass
class LabelItems:
    """The dated items of one inventory file, and what was skipped and why (counts)."""

    path: Path
    kind: str  # "polygons" or "points"
    items: gpd.GeoDataFrame
    # reason -> the ids of the items skipped for it (catalog event ids, feature numbers)
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)
    repaired: list[str] = field(default_factory=list)  # ids of invalid polygons made valid
    # an `inventory export`'s items that are not landslides (EPSG:4326): dismissed ones, known
    # background, and unreviewed ones, neither landslide nor background
    negative: list[BaseGeometry] = field(default_factory=list)
    ignore: list[BaseGeometry] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def skipped(self) -> dict[str, int]:
        """How many items were skipped, by reason."""
        return {reason: len(ids) for reason, ids in self.skipped_ids.items()}


def accuracy_limit(max_accuracy: str) -> tuple[str, float]:
    """``max_accuracy`` as the catalogue writes it (any case) and its radius in metres; an
    :class:`InventoryFileError` naming the known ones where it is none of them."""
    name = max_accuracy.strip().lower()
    limit = GLC_ACCURACY_M.get(name)
    if limit is None:
        known = ", ".join(k for k, v in GLC_ACCURACY_M.items() if v is not None)
        raise InventoryFileError(f"max_accuracy {max_accuracy!r} is not one of {known}")
    return name, limit


def _parse_glc_date(value: Any) -> date | None:
    """The catalog's ``M/D/YYYY H:MM`` (and data.nasa.gov's forms), or a year-first date as a
    spreadsheet that re-saved the file may write it (``2024-08-17 14:30:00``)."""
    text = str(value).strip()
    for fmt in _GLC_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return _year_first(text)


def _listed(rows: list[str]) -> str:
    """Up to :data:`_MAX_LISTED` bad rows, and how many more."""
    more = len(rows) - _MAX_LISTED
    return "; ".join(rows[:_MAX_LISTED]) + (f"; and {more} more" if more > 0 else "")


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV as text, its column names stripped and lower-cased; errors say what to do."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InventoryFileError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 "
            "(in a spreadsheet: CSV UTF-8)"
        ) from err
    except pd.errors.ParserError as err:
        # a spreadsheet set to a locale of decimal commas saves with ';' between columns, and
        # its commas in numbers broke the parse before the columns were looked at (found in a
        # walkthrough: only "Expected 3 fields in line 4, saw 4" was said)
        hint = ""
        if _semicolon_separated(path):
            hint = (
                "; the file looks separated by ';' (a spreadsheet set to a locale that writes "
                "decimal commas): save it as CSV with commas between columns and decimal points"
            )
        raise InventoryFileError(f"{path}: cannot read as CSV: {err}{hint}") from err
    except (OSError, pd.errors.EmptyDataError) as err:
        raise InventoryFileError(f"{path}: cannot read as CSV: {err}") from err
    table.columns = column_names(table.columns, path)
    return table


def _semicolon_separated(path: Path) -> bool:
    """Whether the first line of ``path`` has more ';' than ',' (read as bytes: the file may
    be no text at all)."""
    try:
        with path.open("rb") as f:
            first = f.readline(65536)
    except OSError:
        return False
    return first.count(b";") > first.count(b",")


def column_names(names: Iterable[object], path: Path | None = None) -> list[str]:
    """Column names as the readers of users' tables take them: stripped and lower case (a
    spreadsheet's ``Status`` or `` uid``). Two that become one (``status`` and a ``Status``
    added beside it) are refused, naming both (and ``path``, the file): one of them was
    silently read in the other's place."""
    given = [str(name) for name in names]
    folded = [name.strip().lower() for name in given]
    first: dict[str, str] = {}
    for name, key in zip(given, folded, strict=True):
        if key in first:
            where = f"{path}: " if path is not None else ""
            raise InventoryFileError(
                f"{where}columns {first[key]!r} and {name!r} are one column to this reader, "
                f"which ignores case and surrounding spaces ({key!r}): rename or remove one"
            )
        first[key] = name
    return folded


def read_glc_csv(
    path: Path,
    *,
    max_accuracy: str = "1km",
    skip_categories: Iterable[str] = GLC_NOT_LANDSLIDES,
) -> LabelItems:
    """Points of a Global Landslide Catalog CSV; those whose ``location_accuracy`` is coarser
    than ``max_accuracy`` (or ``unknown``) are skipped and counted under
    ``skipped["too imprecise (...)"]``, and those whose ``landslide_category`` is one of
    ``skip_categories`` (case and spaces aside; by default the snow avalanches) under
    ``skipped["landslide_category <category>"]``."""
    path = Path(path)
    max_accuracy, limit = accuracy_limit(max_accuracy)
    table = _read_csv(path)
    missing = [c for c in GLC_REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        hint = ""
        if len(table.columns) == 1 and ";" in table.columns[0]:
            hint = "; the file looks separated by ';': save it with commas"
        export = ""
        if set(table.columns) >= _EXPORT_CSV_COLUMNS:
            export = (
                ". This is an `inventory export` CSV (footprints as WKT), which is not read "
                "back: export the inventory as GeoJSON instead (landslide-monitor inventory "
                f"export --config F {path.stem}.geojson) and give that"
            )
        raise InventoryFileError(
            f"{path}: column(s) {', '.join(missing)} missing; a CSV is read only as a Global "
            f"Landslide Catalog CSV, which has {', '.join(GLC_REQUIRED_COLUMNS)}, and "
            f"polygons only from {', '.join(POLYGON_SUFFIXES)} files{export} (found: "
            f"{', '.join(table.columns)}){hint}"
        )
    rows: list[dict[str, Any]] = []
    bad: dict[str, list[str]] = {}  # column (or "no <column>": blank) -> its bad rows
    imprecise: list[str] = []
    skip = {_category(c) for c in skip_categories}
    by_category: dict[str, list[str]] = {}  # skipped category -> its event ids
    first_row: dict[str, int] = {}
    duplicates: list[str] = []
    day_first: list[str] = []  # rows whose date has the day first: the file is in doubt
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2  # the header is line 1
        if not any(str(v).strip() for v in rec.values()):
            # a spreadsheet's trailing rows of empty cells (,,,,) are no items (found in a
            # walkthrough: each was refused as missing its id, date and coordinates)
            continue
        # every problem of a row is named at once (its accuracy, id, coordinates and date), so
        # that a row is mended in one pass, not one column per run
        accuracy = str(rec["location_accuracy"]).strip().lower()
        event_id = _whole(str(rec["event_id"]).strip())
        if accuracy not in GLC_ACCURACY_M:
            bad.setdefault("location_accuracy", []).append(
                f"row {row}: {rec['location_accuracy']!r}"
            )
        if not event_id:
            bad.setdefault("event_id", []).append(f"row {row}")
        usable = accuracy in GLC_ACCURACY_M and bool(event_id)
        radius = GLC_ACCURACY_M.get(accuracy)
        if accuracy in GLC_ACCURACY_M and (radius is None or radius > limit):
            if event_id:
                imprecise.append(event_id)
            continue  # skipped whatever else it holds
        category = _category(cell_text(rec.get("landslide_category")))
        if category in skip and event_id:
            by_category.setdefault(category, []).append(event_id)
            continue  # not a landslide: skipped whatever else it holds
        if usable:
            if event_id in first_row:  # among the rows used: an unusable twin does no harm
                duplicates.append(f"{event_id} (rows {first_row[event_id]} and {row})")
                continue
            first_row[event_id] = row
        coords = []
        for column, bound in (("longitude", 180.0), ("latitude", 90.0)):
            try:
                v = float(rec[column])
            except ValueError:
                v = math.nan
            if _missing(rec[column]):  # blank or NULL: not a number to fix
                bad.setdefault(f"no {column}", []).append(f"row {row}")
            elif not (math.isfinite(v) and -bound <= v <= bound):
                bad.setdefault(column, []).append(f"row {row}: {rec[column]!r}")
            coords.append(v)
        when = _parse_glc_date(rec["event_date"])
        if _missing(rec["event_date"]):  # blank or NULL: not a format to fix
            bad.setdefault("no event_date", []).append(f"row {row}")
        elif when is None:
            bad.setdefault("event_date", []).append(f"row {row}: {rec['event_date']!r}")
            if _DAY_FIRST.match(str(rec["event_date"]).strip()):
                day_first.append(f"row {row}")
        if not usable or radius is None or not all(map(math.isfinite, coords)) or when is None:
            continue
        extra = {
            k: rec[k]
            for k in ("landslide_category", "landslide_trigger", "landslide_size", "country_name")
            if k in rec
        }
        rows.append(
            {
                "item_id": f"glc-{event_id}",
                "event": f"glc-{event_id}",
                "event_date": when,
                "accuracy_m": radius,
                "accuracy": accuracy,
                "row": row,
                **extra,
                "geometry": Point(coords[0], coords[1]),
            }
        )
    expected = {
        "location_accuracy": f"not one of {', '.join(GLC_ACCURACY_M)}",
        "event_id": "no id",
        "no event_date": "no date",
        "no longitude": "no longitude",
        "no latitude": "no latitude",
        "longitude": "not a longitude in degrees (-180 to 180)",
        "latitude": "not a latitude in degrees (-90 to 90)",
        "event_date": "not a date as M/D/YYYY H:MM (the Global Landslide Catalog's format, "
        "e.g. 8/17/2024 14:30) or YYYY-MM-DD",
    }
    problems = [
        f"column {column.removeprefix('no ')}, {expected[column]}: {_listed(rows_)}"
        + (f" ({_FILL_OR_DROP.format('rows')})" if column in _FILL_OR_DROP_COLUMNS else "")
        for column, rows_ in bad.items()
    ]
    if duplicates:
        problems.append(f"event_id appears twice: {_listed(duplicates)}")
    if day_first:
        # found in a walkthrough: a catalog re-saved by a spreadsheet set to a day-first
        # locale had 8 July as 08/07/2024, read as 7 August without a word; only the rows
        # whose day is over 12 were refused, and mending them left the others misread
        problems.append(
            f"{_listed(day_first)} write the day first: the catalog writes the month first "
            "(M/D/YYYY), and a spreadsheet set to a day-first locale that re-saved the file "
            "wrote every date it read day first, so that where the day is 12 or less (8 July as "
            "08/07/2024) the date reads as another and no row can be trusted: take the catalog "
            "again from its source and give it unopened, or write its dates year first "
            "(YYYY-MM-DD)"
        )
    if problems:
        raise InventoryFileError(f"{path}: " + "\n  ".join(problems))
    reason = f"too imprecise (coarser than {max_accuracy} or unknown)"
    items = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else _empty()
    ids = {reason: [f"glc-{e}" for e in imprecise]} if imprecise else {}
    for category, events in sorted(by_category.items()):
        ids[f"landslide_category {category} (not a landslide; --skip-categories)"] = [
            f"glc-{e}" for e in events
        ]
    return LabelItems(path, "points", items, ids)


def _feature(row: int, id_column: str | None, item_id: Any) -> str:
    """A feature as errors name it: its number and, where the file has ids, its id (what a
    user searches the file for)."""
    return f"feature {row}" + (f" ({id_column} {cell_text(item_id)})" if id_column else "")


def _category(text: str) -> str:
    """A catalogue category as compared: lower case, spaces as underscores."""
    return "_".join(text.strip().lower().split())


def _empty() -> gpd.GeoDataFrame:
    columns = ["item_id", "event", "event_date", "accuracy_m", "row"]
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")


_WHOLE_FLOAT = re.compile(r"(\d+)\.0+")


def _whole(text: str) -> str:
    """An id a spreadsheet or pandas saved as a float (``10005.0``: a column with a blank is
    read as floats) as the whole number it is (``10005``), so that its scenes keep their names
    and splits; any other text as it is."""
    whole = _WHOLE_FLOAT.fullmatch(text)
    return whole.group(1) if whole else text


def cell_text(value: Any) -> str:
    """A field's value as text: empty where it is missing, a whole number stored as a float
    without its ``.0`` (an id 7, a date 20240817 of a numeric shapefile field)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


# What spreadsheets and data frames write for "no date" in a text column (never a date).
_NO_DATE_TEXT = frozenset({"nan", "nat", "null", "none", "na", "n/a"})


def _missing(value: Any) -> bool:
    """Whether a date field holds no value: NULL, NaN, NaT, blank text or a placeholder for
    none (``NaT``, ``nan``, ``NULL`` ... as text)."""
    if value is None or value is pd.NaT:
        return True
    text = cell_text(value)
    return not text or text.lower() in _NO_DATE_TEXT


def _typed_date(source: str, layer: str | int | None, column: str) -> bool:
    """Whether ``column`` of the vector file is a date or datetime field (read as ISO text),
    not text or a number."""
    try:
        info = pyogrio.read_info(source, layer=layer)
    except Exception:  # pyogrio's own errors: the frame was read, so leave the column as read
        return False
    types = dict(zip(info["fields"], info["dtypes"], strict=False))
    return str(types.get(column, "")).startswith("datetime64")


def _feature_date(text: str, date_format: str | None) -> date | None:
    """One feature's date from its field's text (the file is read with dates and datetimes as
    ISO text), or None where it is not one in the accepted forms."""
    if date_format is not None:
        try:
            return datetime.strptime(text, date_format).date()
        except ValueError:
            # a year-first date is never ambiguous, whatever form the configuration names
            # for others (found in a walkthrough: dataset.date_format refused a shapefile's
            # '2024/08/18 00:00:00', as GDAL writes a datetime into a text field)
            return _year_first(text)
    return _year_first(text)


def _year_first(text: str) -> date | None:
    """The date of ``text`` in one of the year-first forms (:data:`_YEAR_FIRST`); None where
    it is in none, or names no real day."""
    for pattern in _YEAR_FIRST:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                return None
    return None


def _one_layer(path: Path, source: str, layer: str | None) -> str | None:
    """The layer to read of ``path`` (opened as ``source``, its :func:`gdal_path`): ``layer``,
    or the file's only one; several and none named, or a named one the file lacks, is an error
    that lists them."""
    if layer is None and path.suffix.lower() != ".gpkg":
        return layer
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(source)]
    except Exception as err:  # pyogrio raises its own DataSourceError and friends
        raise InventoryFileError(f"{path}: cannot read as a vector file: {err}") from err
    if layer is not None:
        if layer not in layers:
            raise InventoryFileError(
                f"{path}: no layer {layer!r}; its layers: {', '.join(layers) or 'none'}"
            )
        return layer
    if len(layers) > 1:
        raise InventoryFileError(
            f"{path}: {len(layers)} layers ({', '.join(layers)}); name the landslides' one "
            "with --layer"
        )
    return layer


def _cut_name_hint(name: str, columns: Iterable[object], option: str) -> str:
    """What to say where ``name`` is missing but a column holds its first
    :data:`_DBF_NAME_LENGTH` characters: a shapefile's table cut it (saved as one, or
    converted from one); or where a column is ``name`` but for case (column names are matched
    as written: found in a walkthrough, ``--date-column Date`` on a ``date`` column)."""
    names = [str(c) for c in columns]
    cased = [c for c in names if c.casefold() == name.casefold()]
    if cased:
        return f"; column names are matched as written: give {option} {cased[0]}"
    cut = name[:_DBF_NAME_LENGTH]
    if len(name) <= _DBF_NAME_LENGTH or cut not in names:
        return ""
    return (
        f"; a shapefile keeps only the first {_DBF_NAME_LENGTH} characters of a column's "
        f"name: {cut!r} is likely {name!r} so cut; give {option} {cut}"
    )


def _row_id_hint(path: Path, name: str, columns: Iterable[object]) -> str:
    """What to say where the id column asked of a GeoPackage is ``fid``: its own row id (the
    table's primary key), which GDAL does not read as a column and which a file saved again
    (QGIS, geopandas) numbers anew."""
    if name.lower() != "fid" or path.suffix.lower() != ".gpkg":
        return ""
    stable = (
        "give --id-column uid, the landslides' stable id in an `inventory export`"
        if "uid" in {str(c) for c in columns}
        else "give a column of ids the file keeps"
    )
    return (
        f"; {name!r} is the GeoPackage's own row id, not a column, and a GeoPackage saved "
        f"again (QGIS, geopandas) numbers its rows anew: {stable}"
    )


def read_polygon_inventory(
    path: Path,
    date_column: str,
    *,
    layer: str | None = None,
    id_column: str | None = None,
    date_format: str | None = None,
    review_roles: Mapping[str, ReviewRole] | None = None,
) -> LabelItems:
    """The landslide polygons of ``path`` (its ``layer``: a GeoPackage of several layers must
    name one) dated by ``date_column``: dates, ISO 8601 text or ``YYYYMMDD``, or text in
    ``date_format`` (a :func:`datetime.strptime` format). Items are identified by
    ``id_column``, else by feature number (from 1, as in QGIS).

    ``review_roles`` maps the review statuses of an `inventory export` (a file with ``uid`` and
    ``status`` columns, some status one of its keys, case aside) to what such an item is: only
    ``positive`` ones are items; the others are skipped and counted, their footprints kept in
    :attr:`LabelItems.negative` or :attr:`LabelItems.ignore`; a feature of such a file with
    another status, or none, is refused by row. A file without those columns, or with none of
    those statuses, is read as any inventory (every feature a landslide)."""
    path = Path(path)
    try:  # by the driver its suffix names: GDAL would take a VRT named .json for one
        source = gdal_path(path, layer)
    except VectorFileError as err:
        raise InventoryFileError(str(err)) from err
    layer = _one_layer(path, source, layer)
    try:
        # date and datetime fields as ISO text: pyogrio turns a column of mixed UTC offsets
        # into UTC, which moves a 01:00+02:00 landslide to the day before. GDAL warns of a
        # GeoPackage datetime with an offset (the format wants UTC), "successfully parsed":
        # read as written, which is what is wanted, so the warning is not passed on
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Non-conformant content for record", RuntimeWarning)
            frame = gpd.read_file(source, layer=layer, datetime_as_string=True)
    except Exception as err:  # pyogrio raises its own DataSourceError and friends
        raise InventoryFileError(f"{path}: cannot read as a vector file: {err}") from err
    if frame.empty:  # an empty GeoJSON has no columns either: read as the empty file it is
        wanted = [c for c in (date_column, id_column) if c is not None and c not in frame]
        frame = frame.assign(**{c: pd.Series([], dtype=object) for c in wanted})
    if date_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != "geometry")
        dbf = path.with_suffix(".dbf")
        if not columns and path.suffix.lower() == ".shp" and not dbf.exists():
            columns = f"none: the shapefile's attribute table {dbf.name} is not beside it"
        raise InventoryFileError(
            f"{path}: no date column {date_column!r} (columns: {columns}); name it with "
            "--date-column or dataset.date_column"
            + _cut_name_hint(date_column, frame.columns, "--date-column")
        )
    if id_column is not None and id_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != "geometry")
        raise InventoryFileError(
            f"{path}: no id column {id_column!r} (columns: {columns})"
            + _cut_name_hint(id_column, frame.columns, "--id-column")
            + _row_id_hint(path, id_column, frame.columns)
        )
    if frame.crs is None:
        hint = (
            " (its .prj is not beside it: copy it there, or save the shapefile again with its "
            "coordinate reference system)"
            if path.suffix.lower() == ".shp" and not path.with_suffix(".prj").exists()
            else ": save it with its coordinate reference system (an EPSG code)"
        )
        raise InventoryFileError(f"{path}: declares no coordinate reference system{hint}")
    declared = frame.crs.name
    try:
        frame = frame.to_crs("EPSG:4326")
    except ProjError as err:  # a local (engineering) CRS: no datum, often no unit
        raise InventoryFileError(
            f"{path}: its coordinate reference system {frame.crs.name!r} cannot be turned into "
            f"longitude and latitude ({err}); save the file in a geographic or projected system "
            "(an EPSG code, e.g. the UTM zone of the area)"
        ) from err
    if date_format is not None and _typed_date(source, layer, date_column):
        # a date or datetime field is a date whatever the text form the configuration names for
        # text columns (found by a walkthrough: dataset.date_format set for one inventory made
        # another's real date field fail as '2024-08-17T00:00:00')
        date_format = None
    roles: Mapping[str, ReviewRole] = {}
    if review_roles and all(c in frame.columns for c in REVIEW_COLUMNS):
        statuses = [cell_text(v).lower() for v in frame["status"]]
        if set(statuses) & set(review_roles):  # an inventory export, edited or not
            other = [
                f"{_feature(i + 1, id_column, frame[id_column].iloc[i] if id_column else None)}"
                f": {repr(cell_text(v)) if cell_text(v) else 'none'}"  # not 'nan' (a walk)
                for i, v in enumerate(frame["status"])
                if statuses[i] not in review_roles
            ]
            if other:  # read as landslides, a dismissed entry's neighbours were taught one
                raise InventoryFileError(
                    f"{path}: column status, not a review status "
                    f"({', '.join(sorted(review_roles))}) in a file of them, as an `inventory "
                    f"export` holds: {_listed(other)}; give each feature one (a polygon drawn "
                    "by hand is confirmed), or drop the column to read every feature as a "
                    "landslide"
                )
            roles = review_roles
    negative: list[BaseGeometry] = []
    ignore: list[BaseGeometry] = []
    not_items: dict[str, list[str]] = {}
    rows = []
    bad_geometry: list[str] = []
    points = False  # among them landslides mapped as points
    off_globe: list[str] = []  # coordinates beyond +-180, +-90 once in degrees
    bad_date: list[str] = []
    no_date: list[str] = []
    bad_id: list[str] = []
    repaired: list[str] = []
    for i, rec in enumerate(frame.to_dict("records")):
        row = i + 1  # features are numbered from 1, as in QGIS
        item_id = cell_text(rec[id_column]) if id_column else str(row)
        if not item_id:
            bad_id.append(f"feature {row}")
            continue
        feature = _feature(row, id_column, item_id)
        geom = rec["geometry"]
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = "no geometry" if geom is None or geom.is_empty else geom.geom_type
            bad_geometry.append(f"{feature}: {kind}")
            points |= kind in ("Point", "MultiPoint")
            continue
        if not is_lon_lat(geom.bounds):
            west, south, east, north = geom.bounds
            kind = _MISREADINGS.get(lon_lat_misreading(geom.bounds) or "", "")
            off_globe.append(
                f"{feature}: x {west:.10g} to {east:.10g}, y {south:.10g} to {north:.10g}"
                + (f" ({kind}?)" if kind else "")
            )
            continue
        if not geom.is_valid:
            geom = multipolygon(geom)
            if geom.is_empty or geom.area == 0:
                bad_geometry.append(f"{feature}: invalid, with no area once repaired")
                continue
            repaired.append(item_id)
        status = cell_text(rec["status"]).lower() if roles else ""
        role = roles.get(status, "positive")
        if role != "positive":  # no landslide: its date does not matter
            (negative if role == "negative" else ignore).append(geom)
            not_items.setdefault(_ROLE_SKIPPED[role].format(status=status), []).append(item_id)
            continue
        raw = rec[date_column]
        if _missing(raw):  # not a format to fix
            no_date.append(feature)
            continue
        when = _feature_date(cell_text(raw), date_format)
        if when is None:
            bad_date.append(f"{feature}: {raw!r}")
            continue
        rows.append(
            {
                "item_id": item_id,
                "event": when.isoformat(),
                "event_date": when,
                "accuracy_m": 0.0,
                "row": row,
                "geometry": geom,
            }
        )
    problems = []
    fill_or_drop = _FILL_OR_DROP.format("features")
    if bad_id:
        problems.append(f"column {id_column}, no id: {_listed(bad_id)} ({fill_or_drop})")
    if bad_geometry:
        problems.append(
            f"column geometry, not a (Multi)Polygon: {_listed(bad_geometry)}"
            + (
                " (landslides mapped as points: write them as a Global Landslide Catalog CSV, "
                "whose location_accuracy makes each a weak label, or buffer them into polygons)"
                if points
                else ""
            )
        )
    if off_globe:
        problems.append(
            f"column geometry, not longitude and latitude in degrees once read as {declared} "
            f"(the file's coordinate reference system): {_listed(off_globe)}; a GeoJSON "
            'without a "crs" member is read as longitude and latitude (RFC 7946), a shapefile '
            "as its .prj says: save the file with its coordinate reference system, or "
            "reprojected to EPSG:4326, longitude first and within -180..180"
        )
    if no_date:
        problems.append(f"column {date_column}, no date: {_listed(no_date)} ({fill_or_drop})")
    if bad_date:
        form = (
            f"not a date as {date_format} nor year first (2024-08-17)"
            if date_format
            else "not a date (a date field, ISO 8601 text such as 2024-08-17, or YYYYMMDD); "
            "give another form with --date-format, e.g. %d/%m/%Y"
        )
        problems.append(f"column {date_column}, {form}: {_listed(bad_date)}")
    if problems:
        raise InventoryFileError(f"{path}: " + "\n  ".join(problems))
    ids = [r["item_id"] for r in rows]
    if id_column is not None and len(set(ids)) != len(ids):
        dup = sorted(i for i, n in Counter(ids).items() if n > 1)
        raise InventoryFileError(f"{path}: column {id_column}, ids repeated: {_listed(dup)}")
    items = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else _empty()
    return LabelItems(
        path,
        "polygons",
        items,
        skipped_ids=not_items,
        repaired=repaired,
        negative=negative,
        ignore=ignore,
    )


def read_inventory(
    path: Path,
    *,
    date_column: str | None = None,
    layer: str | None = None,
    max_accuracy: str = "1km",
    id_column: str | None = None,
    date_format: str | None = None,
    review_roles: Mapping[str, ReviewRole] | None = None,
    skip_categories: Iterable[str] = GLC_NOT_LANDSLIDES,
) -> LabelItems:
    """A Global Landslide Catalog CSV (``*.csv``; see :func:`read_glc_csv`, which
    ``max_accuracy`` and ``skip_categories`` are passed to) or a polygon file (needs
    ``date_column``; see :func:`read_polygon_inventory`, which ``review_roles`` is passed to)."""
    path = Path(path)
    if not path.exists():
        raise InventoryFileError(f"{path}: inventory file not found")
    if path.suffix.lower() == ".csv":
        return read_glc_csv(path, max_accuracy=max_accuracy, skip_categories=skip_categories)
    if path.suffix.lower() not in POLYGON_SUFFIXES:
        raise InventoryFileError(
            f"{path}: unknown inventory format; expected a Global Landslide Catalog .csv or "
            f"polygons as {', '.join(POLYGON_SUFFIXES)}"
        )
    if not date_column:
        raise InventoryFileError(
            f"{path}: a polygon inventory needs its date column (--date-column or "
            "dataset.date_column in the configuration)"
        )
    return read_polygon_inventory(
        path,
        date_column,
        layer=layer,
        id_column=id_column,
        date_format=date_format,
        review_roles=review_roles,
    )
