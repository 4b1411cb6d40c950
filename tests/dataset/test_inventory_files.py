"""Inventory files as users bring them (monitor.labels.inventories): dates that a polygon
inventory may hold, and that a day-first reading would misplace; the Global Landslide Catalog's
CSV as data.nasa.gov and spreadsheets write it; invalid polygons; GeoPackages of several
layers; files that are not the format their suffix names."""

from __future__ import annotations

import json
import re
import threading
import zipfile
from collections.abc import Sequence
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Polygon, box

from models.vector_files import VectorFileError, gdal_path
from monitor.cli import main
from monitor.labels import InventoryFileError, read_glc_csv, read_inventory
from monitor.labels.inventories import read_polygon_inventory

HEADER = "event_id,event_date,location_accuracy,longitude,latitude"


def _polygons(path: Path, dates: Sequence[object], **columns: Sequence[object]) -> Path:
    shapes = [box(10 + 0.01 * i, 44, 10.005 + 0.01 * i, 44.005) for i in range(len(dates))]
    frame = gpd.GeoDataFrame({"when": dates, **columns}, geometry=shapes, crs="EPSG:4326")
    frame.to_file(path, driver="GPKG" if path.suffix == ".gpkg" else "GeoJSON")
    return path


def test_polygon_dates_are_iso_compact_or_a_given_format(tmp_path: Path) -> None:
    iso = _polygons(tmp_path / "iso.geojson", ["2024-08-17", "2024-08-18T14:30:00", "20240819"])
    read = read_inventory(iso, date_column="when")
    assert list(read.items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 18),
                                              date(2024, 8, 19)]  # fmt: skip
    # shapefiles store dates as YYYYMMDD numbers; nanoseconds since 1970 they are not
    numbers = _polygons(tmp_path / "n.gpkg", [20240817, 20240901])
    assert list(read_inventory(numbers, date_column="when").items["event_date"]) == [
        date(2024, 8, 17), date(2024, 9, 1)]  # fmt: skip
    typed = _polygons(tmp_path / "t.gpkg", list(pd.to_datetime(["2024-08-17", "2024-08-20"])))
    assert list(read_inventory(typed, date_column="when").items["event_date"]) == [
        date(2024, 8, 17), date(2024, 8, 20)]  # fmt: skip
    # a date format given for text columns (dataset.date_format) leaves a typed field as it is
    # (found by a walkthrough: '2024-08-17T00:00:00' was refused as not %d/%m/%Y)
    read = read_inventory(typed, date_column="when", date_format="%d/%m/%Y")
    assert list(read.items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 20)]
    # 05/08/2024 is 5 August or 8 May: never guessed, never read two ways in one column
    slashed = _polygons(tmp_path / "s.geojson", ["05/08/2024", "17/08/2024", "2024-08-01"])
    with pytest.raises(InventoryFileError) as err:
        read_inventory(slashed, date_column="when")
    assert "column when, not a date" in str(err.value)
    assert "--date-format" in str(err.value)
    assert "feature 1: '05/08/2024'; feature 2: '17/08/2024'" in str(err.value)
    day_first = _polygons(tmp_path / "d.geojson", ["05/08/2024", "17/08/2024"])
    read = read_inventory(day_first, date_column="when", date_format="%d/%m/%Y")
    assert list(read.items["event_date"]) == [date(2024, 8, 5), date(2024, 8, 17)]
    # year first with slashes, as GDAL writes a datetime into a shapefile's text field, is
    # never ambiguous; mixed separators are not a date
    gdal = _polygons(tmp_path / "g.geojson", ["2024/08/17 00:00:00", "2024/09/01"])
    assert list(read_inventory(gdal, date_column="when").items["event_date"]) == [
        date(2024, 8, 17), date(2024, 9, 1)]  # fmt: skip
    odd = _polygons(tmp_path / "o.gpkg", ["2024/08-17", "2024/08/18"])
    with pytest.raises(
        InventoryFileError, match=r"column when, not a date.*feature 1: '2024/08-17'"
    ):
        read_inventory(odd, date_column="when")


def test_an_id_column_names_the_items_and_must_be_unique(tmp_path: Path) -> None:
    path = _polygons(tmp_path / "ids.geojson", ["2024-08-17"] * 3, ref=["a7", "b2", "a7"])
    with pytest.raises(InventoryFileError, match=r"column ref, ids repeated: a7"):
        read_inventory(path, date_column="when", id_column="ref")
    path = _polygons(tmp_path / "gaps.gpkg", ["2024-08-17"] * 3, ref=[7.0, None, 9.0])
    with pytest.raises(InventoryFileError, match=r"column ref, no id: feature 2"):
        read_inventory(path, date_column="when", id_column="ref")
    path = _polygons(tmp_path / "floats.gpkg", ["2024-08-17"] * 2, ref=[7.0, 9.0])
    assert list(read_inventory(path, date_column="when", id_column="ref").items["item_id"]) == [
        "7", "9"]  # fmt: skip
    path = _polygons(tmp_path / "ok.geojson", ["2024-08-17"] * 2, ref=["a7", "b2"])
    assert list(read_inventory(path, date_column="when", id_column="ref").items["item_id"]) == [
        "a7", "b2"]  # fmt: skip


def test_an_invalid_polygon_keeps_its_whole_area_and_is_listed(tmp_path: Path) -> None:
    bowtie = Polygon([(10.0, 44.0), (10.01, 44.01), (10.01, 44.0), (10.0, 44.01)])
    assert not bowtie.is_valid
    path = tmp_path / "bowtie.geojson"
    gpd.GeoDataFrame({"when": ["2024-08-17"]}, geometry=[bowtie], crs="EPSG:4326").to_file(path)
    read = read_inventory(path, date_column="when")
    (geometry,) = read.items.geometry
    assert geometry.is_valid and geometry.geom_type == "MultiPolygon"
    assert geometry.area == pytest.approx(0.01 * 0.01 / 2, rel=1e-9)  # two triangles, not one
    assert read.repaired == ["1"]
    flat = Polygon([(10.0, 44.0), (10.01, 44.0), (10.02, 44.0)])  # no area at all
    gpd.GeoDataFrame({"when": ["2024-08-17"]}, geometry=[flat], crs="EPSG:4326").to_file(path)
    with pytest.raises(InventoryFileError, match=r"feature 1: invalid, with no area once"):
        read_inventory(path, date_column="when")


def test_a_timestamp_keeps_its_local_date_whatever_the_other_offsets(tmp_path: Path) -> None:
    # one column of mixed UTC offsets: read as UTC, 01:00+02:00 would fall on the day before
    stamps = ["2024-08-18T01:00:00+02:00", "2024-08-18T01:00:00+05:00"]
    path = _polygons(tmp_path / "tz.geojson", stamps)
    read = read_inventory(path, date_column="when")
    assert list(read.items["event_date"]) == [date(2024, 8, 18), date(2024, 8, 18)]


def test_a_geopackage_datetime_with_an_offset_is_read_without_gdal_s_warning(
    tmp_path: Path,
) -> None:
    """Found by a user: GDAL's "Non-conformant content for record 1 in column date, ...,
    successfully parsed" leaked into the output (a GeoPackage wants UTC datetimes)."""
    import warnings

    path = tmp_path / "tz.gpkg"
    stamps = pd.to_datetime(["2024-05-20T02:00:00+05:30"]).astype(object)
    frame = gpd.GeoDataFrame({"when": stamps}, geometry=[box(10, 44, 10.01, 44.01)], crs=4326)
    frame.to_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = read_inventory(path, date_column="when")
    assert [str(w.message) for w in caught if "Non-conformant" in str(w.message)] == []
    assert list(read.items["event_date"]) == [date(2024, 5, 20)]


def test_a_geopackage_of_several_layers_needs_one_named(tmp_path: Path) -> None:
    path = tmp_path / "many.gpkg"
    gpd.GeoDataFrame({"name": ["study"]}, geometry=[box(10, 44, 10.1, 44.1)],
                     crs="EPSG:4326").to_file(path, layer="area")  # fmt: skip
    gpd.GeoDataFrame({"when": ["2024-08-17"]}, geometry=[box(10, 44, 10.01, 44.01)],
                     crs="EPSG:4326").to_file(path, layer="slides")  # fmt: skip
    with pytest.raises(InventoryFileError, match=r"many.gpkg: 2 layers \(area, slides\);.*--layer"):
        read_inventory(path, date_column="when")
    assert len(read_inventory(path, date_column="when", layer="slides")) == 1
    # a layer the file lacks (a typo): its layers listed
    with pytest.raises(InventoryFileError, match=r"many.gpkg: no layer 'slide'; its layers: "
                                                 r"area, slides"):  # fmt: skip
        read_inventory(path, date_column="when", layer="slide")


def test_catalog_csvs_as_data_nasa_gov_and_spreadsheets_write_them(tmp_path: Path) -> None:
    path = tmp_path / "glc.csv"
    # data.nasa.gov's export: 12-hour times with seconds; upper-case, padded headers
    path.write_text(
        " EVENT_ID , Event_Date,location_accuracy,longitude,latitude\n"
        "7,08/17/2024 02:30:00 PM,exact,10.9,44.3\n"
        "8,08/18/2024 12:00:00 AM,5km,10.9,44.3\n"
        "9,8/19/2024 9:05,EXACT,10.9,44.3\n",
        encoding="utf-8-sig",
    )
    read = read_glc_csv(path, max_accuracy="1KM")
    assert list(read.items["item_id"]) == ["glc-7", "glc-9"]
    assert list(read.items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 19)]
    assert read.skipped_ids == {"too imprecise (coarser than 1km or unknown)": ["glc-8"]}
    # a spreadsheet that re-saved the file writes its dates year first
    path.write_text(HEADER + "\n7,2024-08-17 14:30:00,exact,10.9,44.3\n8,2024-08-18,exact,1,2\n")
    assert list(read_glc_csv(path).items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 18)]
    # and pandas its ids as floats where one was blank: the same items, scene names and splits
    # (found by a user: glc-10005.0 named new scenes, fetched again, in other splits)
    path.write_text(HEADER + "\n7.0,8/17/2024 1:00,exact,10.9,44.3\n8.50,8/18/2024,exact,1,2\n")
    assert list(read_glc_csv(path).items["item_id"]) == ["glc-7", "glc-8.50"]
    path.write_text(HEADER + "\n7,17/08/2024 14:30,exact,10.9,44.3\n")
    with pytest.raises(InventoryFileError, match=r"or YYYY-MM-DD: row 2: '17/08/2024 14:30'"):
        read_glc_csv(path)
    path.write_text(HEADER.replace(",", ";") + "\n7;8/17/2024 1:00;exact;10.9;44.3\n")
    with pytest.raises(InventoryFileError, match=r"looks separated by ';'"):
        read_glc_csv(path)
    path.write_bytes((HEADER + "\n7,8/17/2024 1:00,exact,10.9,44.3\n").encode() + b"\xe0\n")
    with pytest.raises(InventoryFileError, match=r"glc.csv: not UTF-8 text .*save it as UTF-8"):
        read_glc_csv(path)
    # a corrected column added beside the original: which one was read went unsaid
    path.write_text(HEADER + ",Latitude\n7,8/17/2024 1:00,exact,10.9,44.3,46.1\n")
    with pytest.raises(InventoryFileError, match=r"columns 'latitude' and 'Latitude' are one"):
        read_glc_csv(path)


def test_a_catalog_re_saved_day_first_is_refused_whole_not_half_misread(tmp_path: Path) -> None:
    """Found in a walkthrough: a catalog re-saved by a spreadsheet set to a day-first locale
    had 8 July as 08/07/2024, read as 7 August without a word; only its rows whose day was
    over 12 were refused, and mending those left the others misread."""
    path = tmp_path / "glc.csv"
    path.write_text(
        HEADER + "\n1,08/07/2024 06:30,exact,10.9,44.3\n2,19/08/2024 06:30,exact,10.9,44.3\n"
        "3,8/21/2024 9:05,exact,10.9,44.3\n"
    )
    with pytest.raises(InventoryFileError) as err:
        read_glc_csv(path)
    said = str(err.value)
    assert "row 3 write the day first: the catalog writes the month first (M/D/YYYY)" in said
    assert "no row can be trusted: take the catalog again from its source" in said
    # a date that is no date either way is only refused, not taken for a day-first one
    path.write_text(HEADER + "\n1,8/32/2024 06:30,exact,10.9,44.3\n")
    with pytest.raises(InventoryFileError) as err:
        read_glc_csv(path)
    assert "row 2: '8/32/2024 06:30'" in str(err.value)
    assert "day first" not in str(err.value)


def test_a_spreadsheet_s_empty_rows_and_its_semicolons_are_told_apart(tmp_path: Path) -> None:
    """Found in a walkthrough: Excel's trailing rows of empty cells refused the catalog (each
    as missing its id, date and coordinates); a European export (';' between columns, decimal
    commas) was "Expected 3 fields in line 4, saw 4", with no word of the separator."""
    path = tmp_path / "glc.csv"
    path.write_text(HEADER + "\n7,8/17/2024 1:00,exact,10.9,44.3\n,,,,\n , ,,,\n")
    read = read_glc_csv(path)
    assert list(read.items["item_id"]) == ["glc-7"] and not read.skipped_ids
    path.write_text(
        HEADER.replace(",", ";") + ";event_title\n7;8/17/2024 1:00;exact;10,9;44,3;Frana\n"
        "8;8/18/2024 1:00;exact;11,2;44,25;Frana a Como, strada chiusa\n"
    )
    with pytest.raises(InventoryFileError) as err:
        read_glc_csv(path)
    assert "cannot read as CSV" in str(err.value)
    assert "looks separated by ';' (a spreadsheet set to a locale that writes decimal commas)" in (
        str(err.value)
    )


def test_a_year_first_date_is_read_whatever_date_format_names(tmp_path: Path) -> None:
    """Found in a walkthrough: with dataset.date_format %d.%m.%Y in the configuration, a
    shapefile's '2024/08/18 00:00:00' (GDAL's text of a datetime) was refused; year first, a
    date is never ambiguous."""
    path = _polygons(tmp_path / "y.geojson", ["2024/08/18 00:00:00", "17.08.2024", "2024-08-19"])
    read = read_inventory(path, date_column="when", date_format="%d.%m.%Y")
    assert list(read.items["event_date"]) == [
        date(2024, 8, 18), date(2024, 8, 17), date(2024, 8, 19)]  # fmt: skip
    odd = _polygons(tmp_path / "o.geojson", ["08/17/2024"])
    with pytest.raises(InventoryFileError, match=r"not a date as %d.%m.%Y nor year first"):
        read_inventory(odd, date_column="when", date_format="%d.%m.%Y")


def test_a_file_without_a_crs_says_what_to_do(tmp_path: Path) -> None:
    """Found by a walkthrough: a shapefile without its .prj was refused as declaring no
    coordinate reference system, with no word of the .prj."""
    path = tmp_path / "noprj.shp"
    gpd.GeoDataFrame({"when": ["2024-08-17"]}, geometry=[box(10.9, 44.3, 10.91, 44.31)]).to_file(
        path
    )
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InventoryFileError, match=r"noprj\.shp: declares no coordinate") as err:
        read_inventory(path, date_column="when")
    assert "(its .prj is not beside it: copy it there, or save the shapefile again" in str(
        err.value
    )


def test_a_crs_that_cannot_become_longitude_and_latitude_is_named(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a site grid (an engineering CRS, no datum, no unit): an InventoryFileError, which the
    # command reports as bad input (exit 2), not pyproj's "Error creating Transformer"
    local = ('ENGCRS["Local site grid",EDATUM["Site datum"],CS[Cartesian,2],'
             'AXIS["easting (X)",east,LENGTHUNIT["unknown",1]],'
             'AXIS["northing (Y)",north,LENGTHUNIT["unknown",1]]]')  # fmt: skip
    path = tmp_path / "site.gpkg"
    gpd.GeoDataFrame({"when": ["2024-08-17"]}, geometry=[box(0, 0, 10, 10)], crs=local).to_file(
        path
    )
    with pytest.raises(InventoryFileError) as err:
        read_inventory(path, date_column="when")
    message = str(err.value)
    assert message.startswith(f"{path}: its coordinate reference system 'Local site grid'")
    assert "geographic or projected" in message
    argv = ["dataset", "export", "--config", str(dataset_config), "--inventory", str(path)]
    assert main([*argv, "--date-column", "when", "--out", str(tmp_path / "ds")]) == 2
    assert "'Local site grid' cannot be turned into" in capsys.readouterr().err


def test_projected_coordinates_read_as_degrees_are_named_not_called_outside_the_regions(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a GeoJSON in UTM written without its "crs" member (RFC 7946 drops it) is read as
    # longitude and latitude; the export said its items lay "outside every configured region"
    utm = gpd.GeoDataFrame(
        {"when": ["2024-08-17", "2024-08-18"]},
        geometry=[box(650_520, 4_913_880, 650_600, 4_913_960), box(10.9, 44.35, 10.91, 44.36)],
        crs="EPSG:32632",
    )
    path = tmp_path / "slides.geojson"
    collection = json.loads(utm.to_json(drop_id=True))
    del collection["crs"]
    path.write_text(json.dumps(collection))
    with pytest.raises(InventoryFileError) as err:
        read_inventory(path, date_column="when")
    message = str(err.value)
    assert message.startswith(f"{path}: column geometry, not longitude and latitude in degrees")
    assert (
        "feature 1: x 650520 to 650600, y 4913880 to 4913960 (metres of a projected system?)"
        in message
    )
    assert "feature 2" not in message and "EPSG:4326" in message
    # found by review: every such feature was said to "look projected"; latitude first and
    # longitudes of 0-360° are told as what they most likely are
    odd = gpd.GeoDataFrame(
        {"when": ["2024-08-17", "2024-08-18"]},
        geometry=[box(42.7, 141.9, 42.71, 141.91), box(190.0, 44.35, 190.01, 44.36)],
        crs="EPSG:4326",
    )
    odd.to_file(tmp_path / "odd.geojson")
    with pytest.raises(InventoryFileError) as err:
        read_inventory(tmp_path / "odd.geojson", date_column="when")
    assert "feature 1: x 42.7 to 42.71, y 141.9 to 141.91 (latitude before longitude?)" in str(
        err.value
    )
    assert "feature 2: x 190 to 190.01, y 44.35 to 44.36 (longitudes of 0-360°" in str(err.value)
    argv = ["dataset", "export", "--config", str(dataset_config), "--inventory", str(path)]
    assert main([*argv, "--date-column", "when", "--out", str(tmp_path / "ds")]) == 2
    assert "feature 1: x 650520 to 650600" in capsys.readouterr().err
    # the same file with its crs member reads, in degrees
    utm.iloc[[0]].to_file(tmp_path / "with_crs.geojson")
    items = read_inventory(tmp_path / "with_crs.geojson", date_column="when").items
    assert items.total_bounds[0] == pytest.approx(10.9, abs=0.1)


def test_catalog_snow_avalanches_are_skipped_and_counted_unless_kept(tmp_path: Path) -> None:
    # the catalogue files snow avalanches among its landslide categories: labelled as
    # landslides, they taught the members snow (found by a user walkthrough, 2026-12-06)
    path = tmp_path / "glc.csv"
    path.write_text(
        f"{HEADER},landslide_category\n"
        "1,8/17/2024 14:30,exact,10.9,44.3,landslide\n"
        "2,8/17/2024 14:30,exact,10.9,44.3,snow_avalanche\n"
        "3,8/17/2024 14:30,exact,10.9,44.3, Snow Avalanche \n"
        "4,8/17/2024 14:30,exact,10.9,44.3,debris_flow\n"
        "5,8/17/2024 14:30,10km,10.9,44.3,snow_avalanche\n"
    )
    read = read_glc_csv(path)
    assert list(read.items["item_id"]) == ["glc-1", "glc-4"]
    assert read.skipped == {
        "too imprecise (coarser than 1km or unknown)": 1,
        "landslide_category snow_avalanche (not a landslide; --skip-categories)": 2,
    }
    kept = read_inventory(path, skip_categories=())
    assert list(kept.items["item_id"]) == ["glc-1", "glc-2", "glc-3", "glc-4"]
    only = read_glc_csv(path, skip_categories=("debris flow", "snow_avalanche"))
    assert list(only.items["item_id"]) == ["glc-1"]
    # a catalogue without the column: nothing to skip by
    path.write_text(f"{HEADER}\n1,8/17/2024 14:30,exact,10.9,44.3\n")
    assert list(read_glc_csv(path).items["item_id"]) == ["glc-1"]


def test_dataset_settings_read_the_skipped_categories_as_typed() -> None:
    from monitor.config.settings import DatasetSettings

    assert DatasetSettings().skip_categories == ["snow_avalanche"]
    assert DatasetSettings(skip_categories="snow_avalanche, lahar").skip_categories == [
        "snow_avalanche",
        "lahar",
    ]
    assert DatasetSettings(skip_categories="none").skip_categories == []
    # a blank entry of a YAML list would skip every row without a category (found in review)
    assert DatasetSettings(skip_categories=["", " lahar "]).skip_categories == ["lahar"]


def test_a_missing_date_or_id_is_named_as_missing_not_as_a_format(tmp_path: Path) -> None:
    # NULL, blank text and a NULL of a date field: "no date", to fill in or drop; a date in
    # another form still gets the --date-format advice, for itself only
    path = _polygons(tmp_path / "gaps.gpkg", ["2024-08-17", None, "", "17/08/2024", "NaT"],
                     ref=["a", "b", "c", None, "e"])  # fmt: skip
    with pytest.raises(InventoryFileError) as err:
        read_inventory(path, date_column="when", id_column="ref")
    message = str(err.value)
    assert "column ref, no id: feature 4 (fill them in, or drop those features" in message
    # "NaT" as text (a data frame's missing date written out) is missing too (found in review)
    # with an id column, each feature also by its id: what a user searches the file for
    assert (
        "column when, no date: feature 2 (ref b); feature 3 (ref c); feature 5 (ref e) (fill "
        "them in, or drop" in message
    )
    assert "nan" not in message and "None" not in message
    with pytest.raises(InventoryFileError) as err:
        read_inventory(path, date_column="when")
    message = str(err.value)
    assert "column when, no date: feature 2; feature 3; feature 5 (" in message
    assert "--date-format, e.g. %d/%m/%Y: feature 4: '17/08/2024'" in message
    typed = _polygons(tmp_path / "t.gpkg", list(pd.to_datetime(["2024-08-17", None])))
    with pytest.raises(InventoryFileError, match=r"column when, no date: feature 2 \(fill"):
        read_inventory(typed, date_column="when")
    csv = tmp_path / "glc.csv"
    csv.write_text(f"{HEADER}\n1,8/17/2024 14:30,exact,10,44\n2, ,exact,10,44\n"
                   "3,17/8/2024,exact,10,44\n,8/17/2024 14:30,exact,10,44\n"
                   "5,NULL,exact,10,44\n")  # fmt: skip
    with pytest.raises(InventoryFileError) as err:
        read_glc_csv(csv)
    message = str(err.value)
    assert "column event_date, no date: row 3; row 6 (fill them in, or drop those rows" in message
    assert "column event_date, not a date as M/D/YYYY H:MM" in message
    assert "e.g. 8/17/2024 14:30) or YYYY-MM-DD: row 4: '17/8/2024'" in message
    assert "column event_id, no id: row 5 (fill them in" in message
    # a blank or NULL coordinate is missing, not "not a longitude" (found in a new-user walk)
    csv.write_text(f"{HEADER}\n1,8/17/2024 14:30,exact,,44\n2,8/17/2024 14:30,exact,10,NULL\n"
                   "3,8/17/2024 14:30,exact,190,44\n")  # fmt: skip
    with pytest.raises(InventoryFileError) as err:
        read_glc_csv(csv)
    message = str(err.value)
    assert "column longitude, no longitude: row 2 (fill them in, or drop those rows" in message
    assert "column latitude, no latitude: row 3 (fill them in" in message
    assert "column longitude, not a longitude in degrees (-180 to 180): row 4: '190'" in message
    assert "row 2:" not in message and "row 3:" not in message


def test_a_year_first_date_takes_a_time_but_nothing_else_after_it(tmp_path: Path) -> None:
    """Found in review: a year-first date read its first ten characters whatever followed, so
    '2024-08-17 to 2024-08-20' was taken for 17 August."""
    fine = ["2024-08-17T14:30", "2024-08-18 14:30:05.25+02:00", "2024/08/19 00:00:00Z"]
    read = read_inventory(_polygons(tmp_path / "t.gpkg", fine), date_column="when")
    assert list(read.items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 18),
                                              date(2024, 8, 19)]  # fmt: skip
    span = _polygons(tmp_path / "s.gpkg", ["2024-08-17 to 2024-08-20", "2024-08-21"])
    with pytest.raises(InventoryFileError, match=r"feature 1: '2024-08-17 to 2024-08-20'"):
        read_inventory(span, date_column="when")


class _Requests(BaseHTTPRequestHandler):
    """Counts the requests a loopback server receives (any method)."""

    seen: ClassVar[list[str]] = []

    def _count(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_HEAD = _count

    def log_message(self, *args: object) -> None:
        pass


def _vrt(source: str) -> str:
    """An OGR VRT whose layer is the CSV ``private.csv`` at ``source`` (polygons as WKT)."""
    return (
        '<OGRVRTDataSource><OGRVRTLayer name="slides">'
        f"<SrcDataSource>{source}</SrcDataSource><SrcLayer>private</SrcLayer>"
        "<LayerSRS>EPSG:4326</LayerSRS>"
        '<GeometryField encoding="WKT" field="wkt"/></OGRVRTLayer></OGRVRTDataSource>\n'
    )


def test_a_file_that_is_not_the_format_its_suffix_names_is_refused_before_gdal_reads_it(
    dataset_config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a security review: GDAL picks a file's driver by its content, so an OGR VRT
    named slides.json made `dataset export --inventory` read another local file (a CSV's rows
    became items) and, with /vsicurl/ sources, send requests from this host. Each file is read
    by the driver its suffix names, after its first bytes are checked."""
    csv = tmp_path / "private.csv"
    csv.write_text('wkt,when\n"POLYGON ((10 44,10.01 44,10.01 44.01,10 44))",2024-08-17\n')
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Requests)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    remote = f"/vsicurl/http://127.0.0.1:{server.server_port}/private.csv"
    pipeline = '{"type": "gdal_streamed_alg", "command_line": "gdal vector pipeline ! read %s"}'
    shp_vrt = tmp_path / "shp_vrt.zip"
    with zipfile.ZipFile(shp_vrt, "w") as archive:
        archive.writestr("slides.shp", _vrt(str(csv)))
    only_vrt = tmp_path / "only_vrt.zip"
    with zipfile.ZipFile(only_vrt, "w") as archive:
        archive.writestr("slides.vrt", _vrt(str(csv)))
    files = {
        "local.json": (_vrt(str(csv)), "not GeoJSON but an OGR VRT (XML that makes GDAL read"),
        "remote.geojson": (_vrt(remote), "not GeoJSON but an OGR VRT"),
        "pipeline.json": (pipeline % csv, "not GeoJSON but a GDAL pipeline (GDALG JSON"),
        "vrt.gpkg": (_vrt(str(csv)), "not a GeoPackage (an SQLite database) but an OGR VRT"),
        "vrt.shp": (_vrt(remote), "not a shapefile (.shp) but an OGR VRT"),
        "shp_vrt.zip": (None, "its slides.shp is not a shapefile's .shp but XML"),
        "only_vrt.zip": (None, "a zip archive without a shapefile (.shp); it holds slides.vrt"),
    }
    try:
        for name, (text, refused) in files.items():
            path = tmp_path / name
            if text is not None:
                path.write_text(text)
            with pytest.raises(InventoryFileError, match=f"^{re.escape(f'{path}: {refused}')}"):
                read_inventory(path, date_column="when")
        argv = ["dataset", "export", "--config", str(dataset_config), "--date-column", "when"]
        out = tmp_path / "ds"
        assert (
            main([*argv, "--inventory", str(tmp_path / "remote.geojson"), "--out", str(out)]) == 2
        )
        assert (
            f"{tmp_path / 'remote.geojson'}: not GeoJSON but an OGR VRT" in capsys.readouterr().err
        )
        assert _Requests.seen == []  # GDAL never opened the VRTs
        with pytest.raises(VectorFileError, match="a GDAL virtual path; give a local file"):
            gdal_path(remote.replace("private.csv", "slides.geojson"))
        assert _Requests.seen == []
    finally:
        server.shutdown()
        server.server_close()


def test_geojson_geopackage_shapefiles_and_zipped_shapefiles_still_read(tmp_path: Path) -> None:
    """What the check of each file's format lets through: the formats the suffixes name."""
    for name in ("slides.geojson", "slides.json", "slides.gpkg"):
        assert (
            len(read_inventory(_polygons(tmp_path / name, ["2024-08-17"]), date_column="when")) == 1
        )
    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"when": ["2024-08-17", "2024-08-18"]},
                             geometry=[box(10, 44, 10.01, 44.01), box(10.02, 44, 10.03, 44.01)],
                             crs="EPSG:4326")  # fmt: skip
    frame.to_file(folder / "north.shp")
    frame.iloc[:1].to_file(folder / "south.shp")
    read = read_inventory(folder / "north.shp", date_column="when")
    assert list(read.items["event_date"]) == [date(2024, 8, 17), date(2024, 8, 18)]
    one, two = tmp_path / "one.zip", tmp_path / "two.zip"
    with zipfile.ZipFile(one, "w") as archive:
        for part in folder.glob("north.*"):
            archive.write(part, f"data/{part.name}")
    with zipfile.ZipFile(two, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    assert len(read_inventory(one, date_column="when")) == 2
    several = r"two.zip: 2 shapefiles \((north, south|south, north)\); name the one to read as"
    with pytest.raises(InventoryFileError, match=several):
        read_inventory(two, date_column="when")
    assert len(read_inventory(two, date_column="when", layer="south")) == 1
    with pytest.raises(InventoryFileError, match=r"two.zip: no layer 'east'; its shapefiles: "):
        read_inventory(two, date_column="when", layer="east")


def test_an_empty_file_or_a_shapefile_without_its_table_is_named_as_such(tmp_path: Path) -> None:
    """Found by a user: both read "no date column 'date' (columns: )", the cause unsaid: an
    empty GeoJSON has no columns at all."""
    import os

    empty = tmp_path / "empty.geojson"
    empty.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    # read as empty: `dataset export` says "the file holds no features" (tests/dataset)
    assert len(read_polygon_inventory(empty, "date", id_column="slide")) == 0
    shp = tmp_path / "slides.shp"
    gpd.GeoDataFrame(
        {"date": ["2024-08-17"]}, geometry=[box(10.9, 44.34, 10.91, 44.35)], crs=4326
    ).to_file(shp)
    os.remove(tmp_path / "slides.dbf")
    with pytest.raises(
        InventoryFileError,
        match=r"no date column 'date' \(columns: none: the shapefile's attribute table "
        r"slides.dbf is not beside it\)",
    ):
        read_polygon_inventory(shp, "date")


def test_an_exported_inventory_fed_back_is_told_what_to_give_instead(tmp_path: Path) -> None:
    """Found on a GIS analyst's walk, feeding `inventory export` files, and copies saved from
    them, to `dataset export`: the export's CSV was refused as a Global Landslide Catalog
    lacking its columns, without saying that a CSV is read only as one; a shapefile's
    `event_befo` (its 10-character cut of `event_before`) went unnamed; and a GeoPackage's
    `fid`, its own row id, was called a missing column."""
    import warnings

    exported = tmp_path / "inv.csv"
    exported.write_text(
        "fid,uid,region,event_before,wkt\n1,ab-12,r,2024-08-17,MULTIPOLYGON EMPTY\n"
    )
    with pytest.raises(InventoryFileError) as err:
        read_inventory(exported, date_column="event_before", id_column="uid")
    assert str(err.value) == (
        f"{exported}: column(s) event_id, event_date, location_accuracy, longitude, latitude "
        "missing; a CSV is read only as a Global Landslide Catalog CSV, which has event_id, "
        "event_date, location_accuracy, longitude, latitude, and polygons only from .gpkg, "
        ".geojson, .json, .shp, .zip files. This is an `inventory export` CSV (footprints as "
        "WKT), which is not read back: export the inventory as GeoJSON instead "
        "(landslide-monitor inventory export --config F inv.geojson) and give that (found: "
        "fid, uid, region, event_before, wkt)"
    )

    frame = gpd.GeoDataFrame(
        {"uid": ["ab-12"], "event_before": ["2024-08-17"], "last_run_id": [3]},
        geometry=[box(10.9, 44.34, 10.91, 44.35)],
        crs="EPSG:4326",
    )
    shp = tmp_path / "saved.shp"
    with warnings.catch_warnings():  # geopandas and GDAL say they cut the names
        warnings.simplefilter("ignore")
        frame.to_file(shp)
    with pytest.raises(InventoryFileError) as err:
        read_inventory(shp, date_column="event_before")
    assert str(err.value).endswith(
        "; name it with --date-column or dataset.date_column; a shapefile keeps only the first "
        "10 characters of a column's name: 'event_befo' is likely 'event_before' so cut; give "
        "--date-column event_befo"
    )
    with pytest.raises(InventoryFileError) as err:
        read_inventory(shp, date_column="event_befo", id_column="last_run_id")
    assert str(err.value) == (
        f"{shp}: no id column 'last_run_id' (columns: uid, event_befo, last_run_i); a "
        "shapefile keeps only the first 10 characters of a column's name: 'last_run_i' is "
        "likely 'last_run_id' so cut; give --id-column last_run_i"
    )
    assert len(read_inventory(shp, date_column="event_befo", id_column="uid")) == 1

    gpkg = tmp_path / "saved.gpkg"
    frame.to_file(gpkg)
    with pytest.raises(InventoryFileError) as err:
        read_inventory(gpkg, date_column="event_before", id_column="fid")
    assert str(err.value) == (
        f"{gpkg}: no id column 'fid' (columns: uid, event_before, last_run_id); 'fid' is the "
        "GeoPackage's own row id, not a column, and a GeoPackage saved again (QGIS, geopandas) "
        "numbers its rows anew: give --id-column uid, the landslides' stable id in an "
        "`inventory export`"
    )


def test_points_in_a_polygon_inventory_are_told_where_to_go(tmp_path: Path) -> None:
    """Found by a walkthrough: a GeoPackage of landslide points was refused as 'not a
    (Multi)Polygon' with no next step."""
    from shapely.geometry import Point

    path = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(
        {"when": ["2024-08-17"]}, geometry=[Point(10.92, 44.35)], crs="EPSG:4326"
    ).to_file(path)
    with pytest.raises(InventoryFileError) as err:
        read_inventory(path, date_column="when")
    assert "column geometry, not a (Multi)Polygon: feature 1: Point" in str(err.value)
    assert "write them as a Global Landslide Catalog CSV" in str(err.value)
