"""A damaged inventory or a tampered model file is bad input (exit status 2) with a message that
names the file and says what to do, never a bare SQLite or checksum error."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

import monitor.run as run_module
from models.testing import build_untrained_ensemble
from monitor._geopackage import file_errors
from monitor.cli import main
from monitor.errors import DatabaseFileError
from monitor.store.inventory import Inventory
from tests.run.run_fixtures import StandInEnsemble, StandInSource, region_polygon, two_region_config

REGIONS = {"north": region_polygon(0.0), "south": region_polygon(0.05)}


@pytest.fixture
def truncated(write_config: Callable[..., Path], manifest: Path) -> Path:
    """A configuration whose inventory was cut in half (a full disk, a copy broken off)."""
    config_path = write_config(two_region_config(manifest))
    inventory = config_path.parent / "runs" / "inventory.gpkg"
    with Inventory(inventory):
        pass
    data = inventory.read_bytes()
    inventory.write_bytes(data[: len(data) // 2])
    return config_path


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--date", "2024-09-15"],
        ["status"],
        ["inventory", "confirm", "1"],
        ["alerts", "list"],
        ["alerts", "deliver"],
    ],
    ids=["run", "status", "inventory", "alerts-list", "alerts-deliver"],
)
def test_a_truncated_inventory_names_the_file_and_exits_2(
    truncated: Path,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(run_module, "open_source", lambda s: StandInSource(REGIONS, {}))
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    status = main([*command, "--config", str(truncated)])
    err = capsys.readouterr().err
    assert status == 2, err
    path = truncated.parent / "runs" / "inventory.gpkg"
    assert f"inventory {path} is damaged or not an SQLite file; restore it from a backup" in err
    assert "database disk image is malformed" in err  # SQLite's own words, after the advice
    assert "Traceback" not in err


def _foreign(path: Path, what: str) -> None:
    """At ``path``: another program's GeoPackage with a layer named ``landslides`` (not the
    monitor's), a GeoPackage of other layers, or a folder."""
    import geopandas as gpd
    from shapely.geometry import Point

    if what == "folder":
        path.mkdir(parents=True)
        return
    frame = gpd.GeoDataFrame(
        {"name": ["a"], "year": [2019]}, geometry=[Point(10.0, 46.0)], crs="EPSG:4326"
    )
    layer = "landslides" if what == "landslides layer" else "roads"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, layer=layer, driver="GPKG")


@pytest.mark.parametrize("what", ["landslides layer", "other layers", "folder"])
@pytest.mark.parametrize(
    "command",
    [
        ["run", "--date", "2024-09-15"],
        ["status"],
        ["inventory", "export", "x.csv"],
        ["inventory", "confirm", "1"],
        ["alerts", "list"],
    ],
    ids=["run", "status", "export", "confirm", "alerts-list"],
)
def test_another_program_s_file_at_inventory_path_is_named_and_left_as_it_was(
    write_config: Callable[..., Path],
    manifest: Path,
    command: list[str],
    what: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a walkthrough: a GeoPackage of another program whose layer is named
    ``landslides`` failed with SQL errors ("no such column: first_seen", exit 1), a run wrote
    the monitor's tables into a GeoPackage of other layers, and a folder gave "disk I/O error"."""
    config_path = write_config(two_region_config(manifest))
    path = config_path.parent / "runs" / "inventory.gpkg"
    _foreign(path, what)
    before = None if what == "folder" else path.read_bytes()
    monkeypatch.setattr(run_module, "open_source", lambda s: StandInSource(REGIONS, {}))
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    status = main([*command, "--config", str(config_path)])
    err = capsys.readouterr().err
    assert status == 2, err
    said = {
        "landslides layer": f"inventory {path} holds a 'landslides' table that is not this "
        "monitor's inventory (no column agreement, area_m2, dNDVI_mean, dVH_mean, dVV_mean, "
        "...)",
        "other layers": f"inventory {path} holds other tables (roads) and no inventory",
        # refused with the configuration, naming the field (a config audit)
        "folder": f"inventory.path: {path} is a folder; name the inventory's GeoPackage file",
    }[what]
    assert said in err
    assert "Traceback" not in err and "SQLite" not in err
    if before is not None:
        assert path.read_bytes() == before


def test_an_inventory_with_a_qgis_style_table_is_still_the_inventory(tmp_path: Path) -> None:
    """QGIS saves a layer's style into its GeoPackage (``layer_styles``): the inventory stays
    the monitor's."""
    path = tmp_path / "inventory.gpkg"
    with Inventory(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE layer_styles (id INTEGER PRIMARY KEY, styleQML TEXT)")
    conn.commit()
    conn.close()
    with Inventory(path) as inventory:
        assert inventory.landslides().empty
    with Inventory(path, read_only=True) as inventory:
        assert inventory.landslides().empty
    # an empty GeoPackage made by GDAL or QGIS holds GDAL's placeholder table: a new inventory
    from monitor import _geopackage as gpkg

    empty = tmp_path / "empty.gpkg"
    gpkg.connect(empty).execute("CREATE TABLE ogr_empty_table (fid INTEGER PRIMARY KEY)").close()
    with Inventory(empty) as inventory:
        assert inventory.landslides().empty


def test_read_only_and_unopenable_files_say_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    written = pytest.raises(DatabaseFileError, match=r"cannot be written; check the permissions")
    with written, file_errors(path):
        raise sqlite3.OperationalError("attempt to write a readonly database")
    opened = pytest.raises(DatabaseFileError, match=r"cannot be opened; check that its folder")
    with opened, file_errors(path):
        raise sqlite3.OperationalError("unable to open database file")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"), file_errors(path):
        raise sqlite3.IntegrityError("UNIQUE constraint failed: landslides.uid")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("PRAGMA application_id = 42").connection.close()
    with pytest.raises(DatabaseFileError, match=rf"{other} is an SQLite file but not a GeoPackage"):
        Inventory(other)


def test_tampered_weights_exit_2_naming_the_file(
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    manifest = build_untrained_ensemble(
        tmp_path / "model", settings=("S2",), architectures=("Unet",)
    )
    weights = manifest.parent / json.loads(manifest.read_text())["members"][0]["file"]
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    config_path = write_config(two_region_config(manifest))
    monkeypatch.setattr(run_module, "open_source", lambda s: StandInSource(REGIONS, {}))
    status = main(["run", "--config", str(config_path), "--date", "2024-09-15"])
    err = capsys.readouterr().err
    assert status == 2, err
    assert f"weights file {weights} fails its SHA-256 check" in err
    assert "Restore the original file" in err
    assert not (config_path.parent / "runs" / "inventory.gpkg").exists()  # refused before


def test_a_full_disk_during_the_inventory_update_names_the_file_and_exits_2(
    write_config: Callable[..., Path],
    manifest: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a new user: a run whose inventory update met a full disk ended with exit status
    1 and 'OperationalError: cannot rollback - no transaction is active' (SQLite had rolled back
    itself). The file's page limit stands in for the full disk (SQLITE_FULL)."""
    import monitor._geopackage as gpkg

    config_path = write_config(two_region_config(manifest))
    inventory = config_path.parent / "runs" / "inventory.gpkg"
    with Inventory(inventory):
        pass
    real_connect = gpkg.connect

    def connect_on_a_full_disk(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(gpkg, "connect", connect_on_a_full_disk)
    many = [(r, r + 8, c, c + 8) for r in range(5, 115, 15) for c in range(5, 115, 15)]
    scars = {"north": many, "south": many}
    monkeypatch.setattr(run_module, "open_source", lambda s: StandInSource(REGIONS, scars))
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    argv = ["run", "--config", str(config_path), "--date", "2024-09-15", "--no-alerts"]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert f"inventory {inventory} cannot grow: its file system is full" in err
    assert "(SQLite: database or disk is full)" in err
    assert "cannot rollback" not in err and "Traceback" not in err
    monkeypatch.setattr(gpkg, "connect", real_connect)
    with Inventory(inventory) as inv:
        assert inv.landslides().empty
        assert inv.runs()["status"].tolist() == ["failed"]


def test_a_stop_that_cannot_be_recorded_keeps_its_own_error() -> None:
    """Found by a new user: when recording a stopped run failed (a full disk), that second
    error replaced the one that stopped it; it is now a note on the first."""
    import sqlite3

    from monitor.run import _record_stop

    class FullInventory:
        def fail_run(self, *_: object) -> None:
            raise sqlite3.OperationalError("database or disk is full")

    stop = RuntimeError("the source failed")
    _record_stop(FullInventory(), 7, "detection", stop)  # type: ignore[arg-type]
    assert stop.__notes__ == ["run 7: its stop could not be recorded (database or disk is full)"]
