"""`landslide-monitor inventory confirm|dismiss|candidate ID` and `inventory export FILE`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import mapping

import monitor._geopackage as gpkg
import monitor.run as run_module
from monitor.cli import main
from monitor.config import load_config
from monitor.run import run_once
from monitor.store.inventory import Inventory
from tests.run.run_fixtures import StandInEnsemble, StandInSource, region_polygon


@pytest.fixture
def config_path(
    write_config: Callable[..., Path], manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = write_config(
        {
            "regions": [{"name": "north", "geometry": mapping(region_polygon(0.0))}],
            "model": {"manifest": str(manifest)},
            "inventory": {"path": "inventory.gpkg"},
            "quicklooks": {"enabled": False},
        }
    )
    source = StandInSource({"north": region_polygon(0.0)}, {"north": [(5, 15, 5, 20)]})
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: StandInEnsemble())
    return path


def test_review_and_export(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["inventory", "export", "--config", str(config_path), "x.geojson"])
    assert status == 2 and "does not exist: no run has written it yet" in capsys.readouterr().err

    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    with Inventory(config.inventory.path) as inventory:
        (fid,) = inventory.landslides()["fid"].tolist()
        (uid,) = inventory.landslides()["uid"].tolist()

    assert main(["inventory", "confirm", "--config", str(config_path), str(fid)]) == 0
    assert f"landslide {fid}: candidate -> confirmed" in capsys.readouterr().out
    assert main(["inventory", "confirm", "--config", str(config_path), str(fid)]) == 0
    assert f"landslide {fid}: already confirmed, unchanged" in capsys.readouterr().out
    assert main(["inventory", "dismiss", "--config", str(config_path), str(fid)]) == 0
    with Inventory(config.inventory.path) as inventory:
        assert inventory.landslides()["status"].tolist() == ["dismissed"]

    assert main(["inventory", "confirm", "--config", str(config_path), "999"]) == 2
    assert "no landslide with fid 999" in capsys.readouterr().err
    # by its uid, as `inventory export` lists it too
    assert main(["inventory", "candidate", "--config", str(config_path), uid]) == 0
    assert f"landslide {uid}: dismissed -> candidate" in capsys.readouterr().out
    # a uid copied in upper case (some tools print UUIDs so) is the same landslide
    assert main(["inventory", "dismiss", "--config", str(config_path), uid.upper()]) == 0
    assert main(["inventory", "confirm", "--config", str(config_path), "no-such-uid"]) == 2
    assert "no landslide with uid 'no-such-uid'" in capsys.readouterr().err
    # digits that are not ASCII are no fid: an unknown uid, not argparse's "invalid landslide_key"
    assert main(["inventory", "confirm", "--config", str(config_path), "³"]) == 2
    assert "no landslide with uid '³'" in capsys.readouterr().err

    geojson = config_path.parent / "out" / "inventory.geojson"
    csv = config_path.parent / "out" / "inventory.csv"
    assert main(["inventory", "export", "--config", str(config_path), str(geojson)]) == 0
    assert main(["inventory", "export", "--config", str(config_path), str(csv)]) == 0
    features = json.loads(geojson.read_text())["features"]
    assert len(features) == 1
    assert features[0]["properties"]["status"] == "dismissed"
    assert features[0]["properties"]["area_m2"] == pytest.approx(15000.0, rel=0.01)
    table = pd.read_csv(csv)
    assert len(table) == 1 and table["region"].tolist() == ["north"]

    shp = config_path.parent / "shapes" / "x.shp"
    assert main(["inventory", "export", "--config", str(config_path), str(shp)]) == 2
    # found on a GIS analyst's walk: ".json", which is accepted, went unlisted
    # and how to get the formats asked for first (found in a survey's walk)
    assert (
        f"cannot export to {shp}: unknown suffix '.shp' (use one of .geojson, .json, .csv: QGIS "
        "opens the GeoJSON as it is, `ogr2ogr OUT.gpkg OUT.geojson` converts it, and the "
        "inventory itself is a GeoPackage)"
    ) in " ".join(capsys.readouterr().err.split())
    assert not shp.parent.exists()  # found by a new user: the refused export made its folder


def test_export_reads_the_inventory_without_writing_it(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: `inventory export` opened the inventory for writing (schema
    statements, alert withdrawals, a new file header), so it failed on a read-only mount
    where `review`, `status` and `alerts list` work. It now leaves the file byte for byte."""
    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    path = config.inventory.path
    before = path.read_bytes()
    out = config_path.parent / "export.csv"
    assert main(["inventory", "export", "--config", str(config_path), str(out)]) == 0
    assert "1 landslide(s) written" in capsys.readouterr().out
    assert path.read_bytes() == before
    assert len(pd.read_csv(out)) == 1


def test_export_of_some_review_statuses(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: notebooks/review.ipynb exported `confirmed.geojson` with a command
    that wrote every landslide; `--status` (repeatable) keeps those of the statuses named."""
    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    out = config_path.parent / "confirmed.geojson"
    args = ["inventory", "export", "--config", str(config_path), str(out)]
    assert main([*args, "--status", "confirmed"]) == 0
    assert "0 landslide(s) written" in capsys.readouterr().out
    assert json.loads(out.read_text())["features"] == []
    assert main(["inventory", "confirm", "--config", str(config_path), "1"]) == 0
    assert main([*args, "--status", "confirmed", "--status", "dismissed"]) == 0
    assert "1 landslide(s) written" in capsys.readouterr().out
    (feature,) = json.loads(out.read_text())["features"]
    assert feature["properties"]["status"] == "confirmed"
    with pytest.raises(SystemExit) as usage:  # argparse names the choices
        main([*args, "--status", "confirm"])
    assert usage.value.code == 2 and "invalid choice: 'confirm'" in capsys.readouterr().err


def test_an_export_file_that_cannot_be_written_is_bad_input(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found on a review walk: an output under a file (its folder cannot be made) or a folder
    named like the export ended with a bare 'FileExistsError: ...' / 'IsADirectoryError: ...'
    and exit status 1 (an unexpected error); `review -o` reports the same as bad input (2)."""
    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    blocked = config_path.parent / "a-file"
    blocked.write_text("")
    for out in (blocked / "x.geojson", blocked / "x.csv"):
        assert main(["inventory", "export", "--config", str(config_path), str(out)]) == 2
        err = capsys.readouterr().err
        assert f"cannot export to {out}: " in err and "File exists" in err
        assert "FileExistsError" not in err
    folder = config_path.parent / "taken.csv"
    folder.mkdir()
    assert main(["inventory", "export", "--config", str(config_path), str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"cannot export to {folder}: " in err and "IsADirectoryError" not in err
    assert blocked.read_text() == "" and list(folder.iterdir()) == []
    # GDAL's own refusal to create a GeoJSON (pyogrio's DataSourceError, a RuntimeError) too
    out = Path("/proc/landslides.geojson")
    assert main(["inventory", "export", "--config", str(config_path), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"cannot export to {out}: " in err and "DataSourceError" not in err


def test_an_inventory_another_program_is_writing_is_named_with_what_to_do(
    config_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: `inventory confirm` while QGIS was editing the inventory (an SQLite
    write transaction) waited 30 s and ended with 'OperationalError: database is locked', exit
    status 1 and an offer of a traceback, naming neither the file nor what to do."""
    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    path = config.inventory.path
    real_connect = gpkg.connect
    monkeypatch.setattr(gpkg, "connect", lambda p, **kw: real_connect(p, **kw, timeout_s=0.1))
    editor = sqlite3.connect(path, isolation_level=None)
    editor.execute("BEGIN IMMEDIATE")  # what an edit session holds until it is saved
    try:
        assert main(["inventory", "confirm", "--config", str(config_path), "1"]) == 2
    finally:
        editor.execute("ROLLBACK")
        editor.close()
    err = capsys.readouterr().err
    assert (
        f"landslide-monitor inventory: error: inventory {path} is locked by another program "
        "writing it (a QGIS edit session, an sqlite3 shell, a monitor on another machine sharing "
        "the file) for longer than this command waits; nothing was changed: save or close that "
        "program's edits and run again (SQLite: database is locked)\n"
    ) == err
    with Inventory(path, read_only=True) as inventory:
        assert inventory.landslides()["status"].tolist() == ["candidate"]


def test_list_prints_each_landslide_and_what_became_of_its_alert(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(config_path)
    run_once(config, date(2024, 9, 15), progress=False)
    with Inventory(config.inventory.path) as inventory:
        row = inventory.landslides().iloc[0]
    argv = ["inventory", "list", "--config", str(config_path)]
    assert main(argv) == 0
    header, line, total = capsys.readouterr().out.splitlines()
    assert header.split() == ["fid", "region", "status", "area", "ha", "first", "seen", "last",
                              "seen", "event", "alert"]  # fmt: skip
    assert line.split()[:6] == [
        str(row["fid"]), "north", "candidate", "1.50", "2024-09-15", "2024-09-15"
    ]  # fmt: skip
    assert total.startswith("1 landslide(s): 1 candidate, 0 confirmed, 0 dismissed. Alerts: 1 ")
    assert main([*argv, "--status", "dismissed"]) == 0
    assert capsys.readouterr().out == "no landslide in the inventory matches\n"
    assert main([*argv, "--region", "south"]) == 2
    assert (
        "no region 'south' in the configuration or the inventory; the inventory's regions: north"
    ) in capsys.readouterr().err
    # a configured region without a landslide lists none (found by an agency's walk: each quiet
    # valley of 60 was an error, and `--region A --region B` refused A's landslides with B)
    import yaml

    data = yaml.safe_load(config_path.read_text())
    data["regions"].append({"name": "south", "geometry": mapping(region_polygon(0.05))})
    with_south = config_path.with_name("with_south.yaml")
    with_south.write_text(yaml.safe_dump(data))
    quiet = ["inventory", "list", "--config", str(with_south), "--region", "south"]
    assert main(quiet) == 0
    assert capsys.readouterr().out == "no landslide in the inventory matches\n"
    assert main([*quiet, "--region", "north"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == "north"
    # found in a walkthrough of 37 regions: 178 lines and no way to narrow them to the week's
    assert main([*argv, "--since", "2024-09-15"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1] == "north"
    assert main([*argv, "--since", "2024-09-16"]) == 0
    assert capsys.readouterr().out == "no landslide in the inventory matches\n"


def test_list_says_why_no_alert_was_raised() -> None:
    from monitor.ops.inventory_list import alert_state, format_inventory

    base = {"region": "r", "area_m2": 12345.0, "first_seen": "2024-09-01",
            "last_seen": "2024-09-07", "event_after": None, "event_before": None,
            "alerted_on": None, "suppressed": 0, "filter_score": None,
            "confirmation": None}  # fmt: skip
    rows = [
        {**base, "fid": 1, "status": "candidate", "alerted_on": "2024-09-03",
         "confirmation": "optical", "event_after": "2024-08-28", "event_before": "2024-09-02"},
        {**base, "fid": 2, "status": "candidate", "suppressed": 1, "filter_score": 0.0712,
         "confirmation": "optical", "event_before": "2024-09-02"},
        {**base, "fid": 3, "status": "candidate"},
        {**base, "fid": 4, "status": "dismissed", "suppressed": 1, "filter_score": 0.5},
        {**base, "fid": 5, "status": "confirmed", "area_m2": 900.0},
        {**base, "fid": 6, "status": "candidate", "suppressed": 1, "filter_score": float("nan")},
    ]  # fmt: skip
    assert [alert_state(r) for r in rows] == [
        "new on 2024-09-03", "suppressed (score 0.07)", "awaiting a second look",
        "none (dismissed)", "with its next detection", "suppressed",
    ]  # fmt: skip
    lines = format_inventory(pd.DataFrame(rows))
    assert lines[1] == (
        "    1  r       candidate     1.23  2024-09-01  2024-09-07  2024-08-28..2024-09-02"
        "  new on 2024-09-03"
    )
    assert lines[2].split()[-4:] == ["?..2024-09-02", "suppressed", "(score", "0.07)"]
    assert lines[3].endswith("  -                       awaiting a second look")
    assert lines[5].split()[3] == "0.09"
    assert lines[-1] == (
        "6 landslide(s): 4 candidate, 1 confirmed, 1 dismissed. Alerts: 2 suppressed, 1 alerted, "
        "1 awaiting a second look, 1 none (dismissed), 1 with its next detection"
    )
    # with the outbox's outcomes (found in a crash walkthrough: "new on D" and "N alerted" were
    # said of alerts queued by --no-alerts runs, or withdrawn when their landslide was dismissed)
    told = [
        {**rows[0], "uid": "a"},
        {**rows[0], "fid": 7, "uid": "b", "status": "dismissed"},
        {**rows[0], "fid": 8, "uid": "c"},
        {**rows[0], "fid": 9, "uid": "d"},
        {**rows[2], "uid": "e"},
    ]
    deliveries = {"a": {"sent": 2}, "b": {"withdrawn": 2}, "c": {"sent": 1, "pending": 1}}
    lines = format_inventory(pd.DataFrame(told), deliveries=deliveries)
    assert [line.split("  ")[-1].strip() for line in lines[1:-1]] == [
        "new on 2024-09-03 (sent)", "new on 2024-09-03 (withdrawn)",
        "new on 2024-09-03 (1 queued, 1 sent)", "new on 2024-09-03 (none queued)",
        "awaiting a second look",
    ]  # fmt: skip
    assert lines[-1].endswith(
        "Alerts: 4 alerted (1 none queued, 1 queued, 1 sent, 1 withdrawn), 1 awaiting a second look"
    )
    # an outbox that holds no alert at all (a region without a channel: found in a walk, where
    # "new on D" and "1 alerted" were said of a landslide no alert was queued for)
    lines = format_inventory(pd.DataFrame(told[3:4]), deliveries={})
    assert lines[1].endswith("  new on 2024-09-03 (none queued)")
    assert lines[-1].endswith("Alerts: 1 alerted (1 none queued)")
    assert format_inventory(pd.DataFrame(rows), statuses=["dismissed"])[1].split()[0] == "4"
    assert format_inventory(pd.DataFrame(rows[:0], columns=list(rows[0]))) == [
        "no landslide in the inventory"
    ]
