"""The inventory on disk: one transaction per run, crash safety, a valid GeoPackage, exports."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from monitor.alerts import outbox as outbox_module
from monitor.store.inventory import Inventory, InventoryError, RegionDetections

REPO = Path(__file__).resolve().parents[2]
D1 = date(2024, 9, 15)


def _table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("landslides", "landslide_observations", "alert_outbox")
        }


def test_failure_in_the_middle_writes_nothing(inventory, candidates, square, routing, monkeypatch):
    calls = {"n": 0}
    real = outbox_module.enqueue

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # after the first landslide and one alert row were written
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(outbox_module, "enqueue", failing)
    cands = candidates([square(0, 0, 100, 100), square(500, 0, 100, 100)])
    run_id = inventory.start_run(D1, ["r"], "archive")
    with pytest.raises(OSError, match="disk full"):
        inventory.apply(run_id, [RegionDetections("r", candidates=cands)], routing)
    assert calls["n"] == 3
    assert _table_counts(inventory.path) == {
        "landslides": 0,
        "landslide_observations": 0,
        "alert_outbox": 0,
    }
    failed = inventory.runs().iloc[0]
    assert failed["status"] == "failed"
    assert failed["message"] == "inventory update failed: OSError: disk full"
    assert inventory.run_regions(run_id)["status"].tolist() == ["pending"]

    monkeypatch.setattr(outbox_module, "enqueue", real)
    retry = inventory.start_run(D1, ["r"], "archive")
    changes = inventory.apply(retry, [RegionDetections("r", candidates=cands)], routing)
    assert len(changes.new) == 2 and changes.alerts_queued == 4
    assert _table_counts(inventory.path) == {
        "landslides": 2,
        "landslide_observations": 2,
        "alert_outbox": 4,
    }


def test_a_full_disk_is_reported_as_such_and_writes_nothing(inventory, candidates, square, routing):
    """Found by a new user: SQLite rolls a transaction back itself when the disk is full, and
    the ROLLBACK that followed failed with 'cannot rollback - no transaction is active', which
    hid the full disk. The file's page limit stands in for the full disk (SQLITE_FULL)."""
    conn = inventory._conn
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    cands = candidates([square(300 * i, 0, 100, 100) for i in range(40)])
    run_id = inventory.start_run(D1, ["r"], "archive")
    with pytest.raises(sqlite3.OperationalError, match=r"^database or disk is full$"):
        inventory.apply(run_id, [RegionDetections("r", candidates=cands)], routing)
    assert not conn.in_transaction
    assert _table_counts(inventory.path) == {
        "landslides": 0,
        "landslide_observations": 0,
        "alert_outbox": 0,
    }
    failed = inventory.runs().iloc[0]
    assert failed["status"] == "failed"
    assert (
        failed["message"] == "inventory update failed: OperationalError: database or disk is full"
    )

    conn.execute("PRAGMA max_page_count = 1073741823")  # space freed: the rerun completes
    retry = inventory.start_run(D1, ["r"], "archive")
    changes = inventory.apply(retry, [RegionDetections("r", candidates=cands)], routing)
    assert len(changes.new) == 40


def test_a_failure_that_cannot_be_recorded_leaves_the_update_s_own_error(
    inventory, candidates, square, routing, monkeypatch
):
    """Found by a new user: when recording the failed run failed too (a full disk), that
    second error replaced the update's own one."""
    from monitor.store import runs as bookkeeping

    def broken(*_: object) -> None:
        raise RuntimeError("the update's own error")

    def full(*_: object, **__: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(inventory, "_apply", broken)
    monkeypatch.setattr(bookkeeping, "fail_run", full)
    run_id = inventory.start_run(D1, ["r"], "archive")
    with pytest.raises(RuntimeError, match="the update's own error"):
        inventory.apply(run_id, [RegionDetections("r", candidates=candidates([]))], routing)


_KILLED_RUN = """
import os
from datetime import date
import geopandas as gpd
from shapely.geometry import box
from monitor.alerts import outbox
from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.store.inventory import Inventory, RegionDetections

real, calls = outbox.enqueue, [0]
def dying(*args, **kwargs):
    calls[0] += 1
    if calls[0] == 2:
        os._exit(9)  # the process dies inside the transaction: no rollback, no cleanup
    return real(*args, **kwargs)
outbox.enqueue = dying

routing = AlertRouting.from_settings(AlertSettings(
    webhooks=[{{"name": "ops", "url": "http://127.0.0.1:9/h", "secret_env": "S"}}]))
inv = Inventory({path!r})
geoms = [box(600000 + 300 * i, 1270000, 600100 + 300 * i, 1270100) for i in range(3)]
cands = gpd.GeoDataFrame({{"region": ["r"] * 3}}, geometry=geoms, crs="EPSG:32643")
run_id = inv.start_run(date(2024, 9, 15), ["r"], "archive")
inv.apply(run_id, [RegionDetections("r", candidates=cands)], routing)
"""


def test_killed_run_leaves_inventory_consistent_and_next_run_completes(
    tmp_path, candidates, square, routing
):
    path = tmp_path / "inventory.gpkg"
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(_KILLED_RUN.format(path=str(path))))
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    # The hot journal is rolled back by the next connection: nothing of the run is visible.
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _table_counts(path) == {"landslides": 0, "landslide_observations": 0, "alert_outbox": 0}

    with Inventory(path) as inv:
        assert inv.runs()["status"].tolist() == ["running"]
        geoms = [square(300 * i, 0, 100, 100) for i in range(3)]
        run_id = inv.start_run(D1, ["r"], "archive")
        changes = inv.apply(run_id, [RegionDetections("r", candidates=candidates(geoms))], routing)
        assert len(changes.new) == 3 and changes.alerts_queued == 6
        assert inv.runs()["status"].tolist() == ["ok", "interrupted"]
    assert _table_counts(path) == {"landslides": 3, "landslide_observations": 3, "alert_outbox": 6}


def test_file_is_a_geopackage_that_gdal_reads(inventory, candidates, square):
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(
        run_id, [RegionDetections("r", candidates=candidates([square(0, 0, 100, 100)]))]
    )
    mine = inventory.landslides()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GDAL complaints about the file surface as warnings
        layers = dict(pyogrio.list_layers(inventory.path))
        info = pyogrio.read_info(inventory.path, layer="landslides")
        read = pyogrio.read_dataframe(inventory.path, layer="landslides")
        runs = pyogrio.read_dataframe(inventory.path, layer="runs", read_geometry=False)
    assert layers == {
        "landslides": "MultiPolygon",
        "landslide_observations": None,
        "runs": None,
        "run_regions": None,
        "alert_outbox": None,
        "monitor_schema": None,
    }
    assert info["crs"] == "EPSG:4326" and info["features"] == 1
    assert read.geometry.iloc[0].equals_exact(mine.geometry.iloc[0], 1e-12)
    # The WGS84 footprint is the local one reprojected: 10 000 m² within 0.1 %.
    local = gpd.GeoSeries(read.geometry, crs=4326).to_crs(32643).area.iloc[0]
    assert local == pytest.approx(10_000.0, rel=1e-3)
    assert runs["status"].tolist() == ["ok"]
    with sqlite3.connect(inventory.path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x47504B47
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 10400
        extent = conn.execute(
            "SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = 'landslides'"
        ).fetchone()
    assert extent == pytest.approx(mine.total_bounds.tolist())


def test_export_geojson_and_csv(inventory, candidates, square, tmp_path):
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(
        run_id,
        [
            RegionDetections(
                "r", candidates=candidates([square(0, 0, 100, 100), square(900, 0, 40, 50)])
            )
        ],
    )
    inventory.set_status(2, "dismissed")

    geojson = inventory.export(tmp_path / "out" / "inventory.geojson")
    back = gpd.read_file(geojson)
    assert back.crs.to_epsg() == 4326
    assert back["fid"].tolist() == [1, 2]
    assert back["area_m2"].round(3).tolist() == [10_000.0, 2_000.0]
    assert back["status"].tolist() == ["candidate", "dismissed"]
    assert "local_geometry" not in back and "local_wkb" not in back
    # the layer is named after the file, not the temporary one it was written as first
    assert json.loads(geojson.read_text())["name"] == "inventory"

    csv = inventory.export(tmp_path / "inventory.csv", status=["candidate"])
    table = pd.read_csv(csv)
    assert table["fid"].tolist() == [1]
    polygon = shapely.from_wkt(table["wkt"].iloc[0])
    assert polygon.geom_type == "MultiPolygon"
    assert polygon.contains(
        shapely.Point(table["centroid_lon"].iloc[0], table["centroid_lat"].iloc[0])
    )
    assert table["setting"].tolist() == ["S1+S2"] and table["pre_date"].tolist() == ["2024-08-20"]
    # read as docs/alerts.md says: numbers and dates typed, the footprint a geometry
    read = gpd.read_file(
        csv, GEOM_POSSIBLE_NAMES="wkt", KEEP_GEOM_COLUMNS="NO", AUTODETECT_TYPE="YES"
    ).set_crs(4326)
    assert read["area_m2"].tolist() == [pytest.approx(10_000.0)]
    assert read["first_seen"].dt.date.tolist() == [D1] and read.geom_type.tolist() == [
        "MultiPolygon"
    ]

    with pytest.raises(InventoryError, match=r"unknown suffix '\.shp'"):
        inventory.export(tmp_path / "inventory.shp")


def test_export_geojson_winds_rings_as_rfc_7946_says(inventory, candidates, square, tmp_path):
    """Outer rings counterclockwise, holes clockwise (RFC 7946 section 3.1.6), however the
    footprint was wound: a reader that goes by the winding (d3-geo) draws the rest of the globe
    otherwise. The deprecated "crs" member of GeoJSON 2008 is not written."""
    hole = square(30, 30, 40, 40)
    # wound the wrong way round: outer ring clockwise, its hole counterclockwise
    ring = shapely.Polygon(square(0, 0, 100, 100).exterior.coords[::-1], [hole.exterior.coords])
    assert not ring.exterior.is_ccw and ring.interiors[0].is_ccw
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(run_id, [RegionDetections("r", candidates=candidates([ring]))])

    written = json.loads(inventory.export(tmp_path / "inventory.geojson").read_text())
    assert "crs" not in written
    (polygon,) = shapely.geometry.shape(written["features"][0]["geometry"]).geoms
    assert polygon.exterior.is_ccw
    assert [interior.is_ccw for interior in polygon.interiors] == [False]


def test_exports_repeat_no_vertex_where_rounding_joins_two(inventory, candidates, tmp_path):
    """Found on a GIS analyst's walk: vertices a few millimetres apart came out of the GeoJSON
    export (7 decimals) and the CSV's WKT (6) as one position written twice in a row, where
    the alert payloads, snapped first, had none. Both exports snap the footprint to the grid
    they write, and it stays valid."""
    from itertools import pairwise

    import numpy as np
    import pyproj

    # a square of about 110 m whose south-west corner is followed by a vertex 4 cm away,
    # both within 5e-8 degrees of one point of the 1e-6 grid (so of the 1e-7 grid too)
    lon, lat = 76.08, 11.48
    ring = [
        (lon - 3e-8, lat - 3e-8),
        (lon + 1e-3, lat),
        (lon + 1e-3, lat + 1e-3),
        (lon, lat + 1e-3),
        (lon + 3e-8, lat + 3e-8),
    ]
    # the candidates fixture's CRS (a conftest import is ambiguous under xdist's loadfile)
    to_utm = pyproj.Transformer.from_crs(4326, candidates([]).crs, always_xy=True)
    footprint = shapely.transform(
        shapely.Polygon(ring), lambda xy: np.column_stack(to_utm.transform(xy[:, 0], xy[:, 1]))
    )
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(run_id, [RegionDetections("r", candidates=candidates([footprint]))])
    (stored,) = inventory.landslides().geometry
    assert len(stored.geoms[0].exterior.coords) == 6  # the two close vertices both kept

    def repeats(polygon: shapely.Polygon) -> int:
        coords = [tuple(c) for r in (polygon.exterior, *polygon.interiors) for c in r.coords]
        return sum(a == b for a, b in pairwise(coords))

    written = json.loads(inventory.export(tmp_path / "inventory.geojson").read_text())
    raw = written["features"][0]["geometry"]["coordinates"]
    assert [sum(a == b for a, b in pairwise(r)) for p in raw for r in p] == [0]
    (polygon,) = shapely.geometry.shape(written["features"][0]["geometry"]).geoms
    assert polygon.is_valid and len(polygon.exterior.coords) == 5
    assert (lon, lat) in polygon.exterior.coords  # the two, on the grid point they round to

    table = pd.read_csv(inventory.export(tmp_path / "inventory.csv"))
    (polygon,) = shapely.from_wkt(table["wkt"].iloc[0]).geoms
    assert repeats(polygon) == 0
    assert polygon.is_valid and len(polygon.exterior.coords) == 5


_EXPORT_ON_A_FULL_DISK = """
import resource, sys
from monitor.store.inventory import Inventory, InventoryError
# writes past this size fail (EFBIG; Python ignores SIGXFSZ), as they do on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[3]), resource.RLIM_INFINITY))
with Inventory(sys.argv[1], read_only=True) as inventory:
    try:
        inventory.export(sys.argv[2])
    except InventoryError as exc:
        sys.exit(str(exc))
"""


@pytest.mark.parametrize("name", ["inventory.csv", "inventory.geojson"])
@pytest.mark.parametrize("room", [1500, -10])  # bytes, or short of the whole file by so many
def test_an_export_that_cannot_be_written_whole_leaves_the_earlier_one(
    inventory, candidates, square, tmp_path, name, room
):
    """Found in the crash walk: an export stopped by a full disk left a truncated file in place
    of the earlier export: the CSV read as valid with its last row cut; GDAL's GeoJSON writer
    failed with a traceback, or, where only its last buffer could not be written, not at all
    (exit 0, "written", a truncated file; an empty one on a full tmpfs)."""
    run_id = inventory.start_run(D1, ["r"], "archive")
    geoms = [square(300 * i, 0, 100, 100) for i in range(12)]
    inventory.apply(run_id, [RegionDetections("r", candidates=candidates(geoms))])
    path = inventory.export(tmp_path / name)
    earlier = path.read_bytes()
    assert len(earlier) > 3000
    inventory.set_status(1, "dismissed")  # what the next export would show
    limit = room if room > 0 else len(earlier) + room
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_ON_A_FULL_DISK, str(inventory.path), str(path), str(limit)],
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr.decode()
    assert done.stderr.decode().startswith(f"cannot export to {path}: ")
    assert path.read_bytes() == earlier
    assert sorted(p.name for p in tmp_path.iterdir() if name in p.name) == [name]


_GDAL_RTREE = """
CREATE VIRTUAL TABLE rtree_landslides_geom USING rtree(id, minx, maxx, miny, maxy);
CREATE TRIGGER rtree_landslides_geom_insert AFTER INSERT ON landslides
WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN
  INSERT OR REPLACE INTO rtree_landslides_geom VALUES (
    NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom));
END;
CREATE TRIGGER rtree_landslides_geom_update1 AFTER UPDATE OF geom ON landslides
WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
BEGIN
  INSERT OR REPLACE INTO rtree_landslides_geom VALUES (
    NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom));
END;
"""


def test_a_spatial_index_added_in_qgis_is_kept_current(tmp_path, candidates, square):
    path = tmp_path / "inventory.gpkg"
    Inventory(path).close()
    with sqlite3.connect(path) as conn:  # what GDAL's CreateSpatialIndex leaves behind
        conn.executescript(_GDAL_RTREE)
    with Inventory(path) as inv:
        run_id = inv.start_run(D1, ["r"], "archive")
        inv.apply(run_id, [RegionDetections("r", candidates=candidates([square(0, 0, 100, 100)]))])
        run_id = inv.start_run(date(2024, 9, 20), ["r"], "archive")
        inv.apply(run_id, [RegionDetections("r", candidates=candidates([square(0, 0, 100, 300)]))])
        west, south, east, north = inv.landslides().total_bounds
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, minx, maxx, miny, maxy FROM rtree_landslides_geom"
        ).fetchall()
    assert len(rows) == 1 and rows[0][0] == 1
    # R-tree stores 32-bit floats, rounded outward.
    assert rows[0][1:] == pytest.approx((west, east, south, north), abs=3e-5)
    assert rows[0][1] <= west and rows[0][2] >= east and rows[0][4] >= north


def test_an_export_removes_what_a_killed_export_left_and_names_a_full_disk(
    inventory, candidates, square, tmp_path, monkeypatch
):
    """Found in a crash walkthrough: an export killed at its rename left
    `.l.geojson.<hex>.part.geojson`, which later exports never removed; and on a full disk
    GDAL's GeoJSON writer said "Cannot write feature", not why."""
    import collections
    import os
    import shutil
    import time

    from models.atomic import full_disk_note

    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(
        run_id, [RegionDetections("r", candidates=candidates([square(0, 0, 100, 100)]))]
    )
    stale = tmp_path / ".l.geojson.deadbeef.part.geojson"
    fresh = tmp_path / ".l.geojson.0123abcd.part.geojson"  # another export's, under way
    for part in (stale, fresh):
        part.write_text("{")
    hours_ago = time.time() - 2 * 3600
    os.utime(stale, (hours_ago, hours_ago))
    inventory.export(tmp_path / "l.geojson")
    assert not stale.exists() and fresh.exists()
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 0, 3 * 1024))
    assert full_disk_note(tmp_path / "new" / "deeper") == (
        "; the file system has 3 KiB free: it is full"
    )
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 30, 0, 1 << 30))
    assert full_disk_note(tmp_path) == ""


def test_a_landslide_drawn_across_the_antimeridian_is_stored_on_its_region_s_side(
    inventory, candidates, routing
):
    """Found in a walkthrough: a region ends at ±180° but its grid, a UTM box, reaches some
    70 m past; a 2 ha landslide drawn across the line was stored in lon/lat as a band 360°
    long. It is cut at the line, the side that holds most of it kept (the whole of it stays
    in the local outline and the area)."""
    from shapely.geometry import box

    from monitor.grid import region_grid

    grid = region_grid(box(-180.0, -17.0, -179.96, -16.96))  # fiji-west: UTM 1S
    x0, south = grid.x0, grid.y0 - grid.height * grid.res
    slide = box(x0, south, x0 + 200, south + 100)  # its western corner past 180° E
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(
        run_id, [RegionDetections("r", candidates=candidates([slide], crs=grid.crs))], routing
    )
    (row,) = inventory.landslides().itertuples()
    west, _, east, _ = row.geometry.bounds
    assert west == pytest.approx(-180.0) and -180.0 < east < -179.99
    assert row.area_m2 == pytest.approx(20_000.0)
