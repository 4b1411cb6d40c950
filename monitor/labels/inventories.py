"""Dated landslide inventories read into one table of label items.

Two kinds of file:

* polygons: GeoPackage, GeoJSON or shapefile (anything pyogrio reads) with a date column named
  in the configuration or on the command line; every feature is a landslide of that date;
* points with a positional accuracy, in the NASA Global Landslide Catalog's published CSV
  columns (Kirschbaum et al. 2010, in Ganerød et al.'s references): ``event_id``,
  ``event_date`` as ``M/D/YYYY H:MM``,
  ``location_accuracy`` (``exact``, ``1km``, ``5km``, ``10km``, ``25km``, ``50km``,
  ``100km``, ``250km`` or ``unknown``), ``landslide_category``, ``landslide_trigger``,
  ``landslide_size``, ``country_name``, ``longitude``, ``latitude``, among others.

Both come out as a :class:`LabelItems` table (EPSG:4326): ``item_id``, ``event_date``
(:class:`datetime.date`), ``accuracy_m`` (0 for polygons), ``event`` (what a split keeps
together: the catalog's ``event_id``, or the date for polygons), ``row`` (the file's row) and
the geometry. Points less precise than ``max_accuracy`` (and ``unknown``) are skipped and
counted. Errors name the file, the row and the column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

__all__ = [
    "GLC_ACCURACY_M",
    "GLC_REQUIRED_COLUMNS",
    "InventoryFileError",
    "LabelItems",
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
GLC_DATE_FORMAT = "%m/%d/%Y %H:%M"

POLYGON_SUFFIXES = (".gpkg", ".geojson", ".json", ".shp", ".zip")


class InventoryFileError(ValueError):
    """An inventory file that cannot be used; the message names the file, row and column."""


@dataclass
class LabelItems:
    """The dated items of one inventory file, and what was skipped and why (counts)."""

    path: Path
    kind: str  # "polygons" or "points"
    items: gpd.GeoDataFrame
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)


def _parse_glc_date(value: Any, path: Path, row: int) -> date:
    text = str(value).strip()
    for fmt in (GLC_DATE_FORMAT, "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InventoryFileError(
        f"{path}: row {row}, column event_date: {text!r} is not a date as M/D/YYYY H:MM "
        "(the Global Landslide Catalog's format, e.g. 8/17/2024 14:30)"
    )


def read_glc_csv(path: Path, *, max_accuracy: str = "1km") -> LabelItems:
    """Points of a Global Landslide Catalog CSV; those whose ``location_accuracy`` is coarser
    than ``max_accuracy`` (or ``unknown``) are skipped and counted under
    ``skipped["too imprecise (...)"]``."""
    path = Path(path)
    if max_accuracy not in GLC_ACCURACY_M or GLC_ACCURACY_M[max_accuracy] is None:
        known = ", ".join(k for k, v in GLC_ACCURACY_M.items() if v is not None)
        raise InventoryFileError(f"max accuracy {max_accuracy!r} is not one of {known}")
    limit = GLC_ACCURACY_M[max_accuracy]
    assert limit is not None
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InventoryFileError(f"{path}: cannot read as CSV: {err}") from err
    missing = [c for c in GLC_REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise InventoryFileError(
            f"{path}: column(s) {', '.join(missing)} missing; a Global Landslide Catalog CSV "
            f"has {', '.join(GLC_REQUIRED_COLUMNS)} (found: {', '.join(table.columns)})"
        )
    rows: list[dict[str, Any]] = []
    too_imprecise = 0
    for i, rec in enumerate(table.to_dict("records")):
        row = i + 2  # the header is line 1
        accuracy = str(rec["location_accuracy"]).strip().lower()
        if accuracy not in GLC_ACCURACY_M:
            raise InventoryFileError(
                f"{path}: row {row}, column location_accuracy: {rec['location_accuracy']!r} is "
                f"not one of {', '.join(GLC_ACCURACY_M)}"
            )
        radius = GLC_ACCURACY_M[accuracy]
        if radius is None or radius > limit:
            too_imprecise += 1
            continue
        coords = []
        for column, bound in (("longitude", 180.0), ("latitude", 90.0)):
            try:
                v = float(rec[column])
            except ValueError:
                v = math.nan
            if not (math.isfinite(v) and -bound <= v <= bound):
                raise InventoryFileError(
                    f"{path}: row {row}, column {column}: {rec[column]!r} is not a coordinate "
                    f"in degrees (-{bound:g} to {bound:g})"
                )
            coords.append(v)
        event_id = str(rec["event_id"]).strip()
        if not event_id:
            raise InventoryFileError(f"{path}: row {row}, column event_id: empty")
        extra = {
            k: rec[k]
            for k in ("landslide_category", "landslide_trigger", "landslide_size", "country_name")
            if k in rec
        }
        rows.append(
            {
                "item_id": f"glc-{event_id}",
                "event": f"glc-{event_id}",
                "event_date": _parse_glc_date(rec["event_date"], path, row),
                "accuracy_m": radius,
                "accuracy": accuracy,
                "row": row,
                **extra,
                "geometry": Point(coords[0], coords[1]),
            }
        )
    ids = [r["item_id"] for r in rows]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InventoryFileError(f"{path}: event_id {dup.removeprefix('glc-')} appears twice")
    skipped = {f"too imprecise (coarser than {max_accuracy} or unknown)": too_imprecise}
    items = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else _empty()
    return LabelItems(path, "points", items, {k: v for k, v in skipped.items() if v})


def _empty() -> gpd.GeoDataFrame:
    columns = ["item_id", "event", "event_date", "accuracy_m", "row"]
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs="EPSG:4326")


def read_polygon_inventory(
    path: Path, date_column: str, *, layer: str | None = None, id_column: str | None = None
) -> LabelItems:
    """The landslide polygons of ``path`` dated by ``date_column`` (any date pandas parses;
    day first is not assumed)."""
    path = Path(path)
    try:
        frame = gpd.read_file(path, layer=layer)
    except Exception as err:  # pyogrio raises its own DataSourceError and friends
        raise InventoryFileError(f"{path}: cannot read as a vector file: {err}") from err
    if date_column not in frame.columns:
        columns = ", ".join(c for c in frame.columns if c != "geometry")
        raise InventoryFileError(
            f"{path}: no date column {date_column!r} (columns: {columns}); name it with "
            "--date-column or dataset.date_column"
        )
    if id_column is not None and id_column not in frame.columns:
        raise InventoryFileError(f"{path}: no id column {id_column!r}")
    if frame.crs is None:
        raise InventoryFileError(f"{path}: declares no coordinate reference system")
    frame = frame.to_crs("EPSG:4326")
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        row = i + 1  # features are numbered from 1, as in QGIS
        geom = rec["geometry"]
        if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = "no geometry" if geom is None or geom.is_empty else geom.geom_type
            raise InventoryFileError(
                f"{path}: feature {row}, column geometry: {kind}, expected a (Multi)Polygon"
            )
        if not geom.is_valid:
            geom = geom.buffer(0)
        raw = rec[date_column]
        when = pd.to_datetime(raw, errors="coerce") if raw is not None else pd.NaT
        if pd.isna(when):
            raise InventoryFileError(
                f"{path}: feature {row}, column {date_column}: {raw!r} is not a date"
            )
        item_id = str(rec[id_column]) if id_column else str(row)
        rows.append(
            {
                "item_id": item_id,
                "event": when.date().isoformat(),
                "event_date": when.date(),
                "accuracy_m": 0.0,
                "row": row,
                "geometry": geom,
            }
        )
    items = gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326") if rows else _empty()
    return LabelItems(path, "polygons", items)


def read_inventory(
    path: Path,
    *,
    date_column: str | None = None,
    layer: str | None = None,
    max_accuracy: str = "1km",
) -> LabelItems:
    """A Global Landslide Catalog CSV (``*.csv``) or a polygon file (needs ``date_column``)."""
    path = Path(path)
    if not path.exists():
        raise InventoryFileError(f"{path}: inventory file not found")
    if path.suffix.lower() == ".csv":
        return read_glc_csv(path, max_accuracy=max_accuracy)
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
    return read_polygon_inventory(path, date_column, layer=layer)
