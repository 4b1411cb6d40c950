"""The inventory's schema version (monitor.file_schemas, docs/operations.md "Upgrading"): written
when the inventory is created, stamped on an inventory of an earlier release once it is
migrated, and a newer one refused, whichever way it is opened, with nothing written to it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from monitor import __version__
from monitor import _geopackage as gpkg
from monitor.alerts.outbox import Outbox
from monitor.errors import DatabaseFileError, NewerSchemaError
from monitor.file_schemas import INVENTORY, VERSION_TABLE
from monitor.store.inventory import Inventory, RegionDetections
from monitor.store.landslides import ADDED_COLUMNS


def _stamps(path: Path) -> list[tuple[str, int, str]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT name, version, release FROM {VERSION_TABLE}").fetchall()


def _updated_at(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        (moment,) = conn.execute(f"SELECT updated_at FROM {VERSION_TABLE}").fetchone()
    return str(moment)


def _written(path: Path, candidates, square, routing) -> Path:
    """An inventory with one landslide, alerted."""
    with Inventory(path) as inv:
        run_id = inv.start_run(date(2024, 8, 20), ["r"], "archive")
        detections = RegionDetections("r", "ok", candidates=candidates([square(0, 0, 100, 100)]))
        inv.apply(run_id, [detections], routing)
    return path


def test_a_new_inventory_is_stamped_with_this_release_s_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "inventory.gpkg"
    with Inventory(path):
        pass
    assert _stamps(path) == [("inventory", INVENTORY, __version__)]
    with sqlite3.connect(path) as conn:  # listed as the other attribute tables are (QGIS)
        kind = conn.execute(
            "SELECT data_type FROM gpkg_contents WHERE table_name = ?", (VERSION_TABLE,)
        ).fetchone()
        # the GeoPackage's own version stays where the standard puts it
        (user_version,) = conn.execute("PRAGMA user_version").fetchone()
    assert kind == ("attributes",)
    assert user_version == 10400
    with closing(gpkg.connect_read_only(path)) as conn:
        assert gpkg.schema_version(conn, path) == (INVENTORY, __version__)


def test_an_inventory_of_an_earlier_release_is_migrated_and_stamped(
    tmp_path: Path, candidates, square, routing
) -> None:
    path = _written(tmp_path / "inventory.gpkg", candidates, square, routing)
    with sqlite3.connect(path) as conn:  # as releases before schema versions wrote it
        conn.execute(f"DROP TABLE {VERSION_TABLE}")
        conn.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (VERSION_TABLE,))
        for column in ("confirmation", "alerted_on", "filter_score"):
            conn.execute(f"ALTER TABLE landslides DROP COLUMN {column}")
    before = path.read_bytes()
    with Inventory(path, read_only=True) as old:  # read as it is: nothing stamped
        assert len(old.landslides()) == 1
    assert path.read_bytes() == before
    with Inventory(path) as inv:
        row = inv.get(1)
    assert _stamps(path) == [("inventory", INVENTORY, __version__)]
    assert set(ADDED_COLUMNS) <= set(row)
    assert (row["confirmation"], row["alerted_on"]) == ("undated", "2024-08-20")
    stamped_at = _updated_at(path)
    with Inventory(path):  # stamped already: this open leaves the stamp as it was
        pass
    assert _stamps(path) == [("inventory", INVENTORY, __version__)]
    assert _updated_at(path) == stamped_at


OPENERS: dict[str, Callable[[Path], object]] = {
    "Inventory": Inventory,
    "Inventory read-only": lambda path: Inventory(path, read_only=True),
    "Outbox": Outbox,
    "Outbox read-only": lambda path: Outbox(path, read_only=True),
    "connect": gpkg.connect,
    "connect_read_only": gpkg.connect_read_only,
}


@pytest.mark.parametrize("opener", OPENERS, ids=list(OPENERS))
def test_an_inventory_of_a_newer_schema_version_is_refused_and_left_as_it_was(
    tmp_path: Path, candidates, square, routing, opener: str
) -> None:
    path = _written(tmp_path / "inventory.gpkg", candidates, square, routing)
    with sqlite3.connect(path) as conn:  # a newer release's, which this one would also migrate
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?, release = '0.9.0'", (INVENTORY + 1,))
        conn.execute("ALTER TABLE landslides DROP COLUMN alerted_on")
    before = path.read_bytes()
    files = sorted(tmp_path.iterdir())
    with pytest.raises(NewerSchemaError) as refused:
        OPENERS[opener](path)
    assert str(refused.value) == (
        f"inventory {path} has schema version {INVENTORY + 1}, written by landslide-monitor "
        f"0.9.0; this release (landslide-monitor {__version__}) reads schema versions up to "
        f"{INVENTORY}. Nothing was written to it: upgrade landslide-monitor to 0.9.0 or later "
        "to use it, or restore the copy taken before that upgrade (docs/operations.md, "
        "Upgrading)"
    )
    assert (refused.value.found, refused.value.readable) == (INVENTORY + 1, INVENTORY)
    assert path.read_bytes() == before
    assert sorted(tmp_path.iterdir()) == files  # no journal left beside it


def test_an_inventory_stamped_newer_while_open_is_not_stamped_back(tmp_path: Path) -> None:
    """Another release that migrated the file after this one opened it: the stamp, in the
    transaction of this release's own migration, refuses it as opening does."""
    path = tmp_path / "inventory.gpkg"
    with Inventory(path):
        pass
    conn = gpkg.connect(path)
    try:
        with sqlite3.connect(path) as other:
            other.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (INVENTORY + 1,))
        with pytest.raises(NewerSchemaError), gpkg.transaction(conn):
            gpkg.stamp_schema_version(conn, path)
    finally:
        conn.close()
    assert _stamps(path) == [("inventory", INVENTORY + 1, __version__)]


@pytest.mark.parametrize("value", ["two", 0, 1.5])
def test_a_schema_version_that_is_no_version_is_named(tmp_path: Path, value: object) -> None:
    path = tmp_path / "inventory.gpkg"
    with Inventory(path):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (value,))
    with pytest.raises(DatabaseFileError, match=f"its {VERSION_TABLE} table gives inventory "):
        Inventory(path, read_only=True)
