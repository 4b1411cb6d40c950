"""Configuration: every bad input gives a message naming file, line and field, and the CLI
exits non-zero without a traceback; good inputs (inline or file polygons, windows) load."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import certifi
import geopandas as gpd
import pytest
import yaml
from shapely.geometry import box, mapping, shape

from gee_scripts.settings import GeeSettings
from monitor.cli import main
from monitor.config import ConfigError, EventWindows, load_config
from monitor.sources.base import Window
from tests.run.run_fixtures import REGION_POLYGON

REPO = Path(__file__).resolve().parents[2]
SQUARE = mapping(REGION_POLYGON)
ACROSS_180 = [[179.95, -17.0], [-179.95, -17.0], [-179.95, -16.95], [179.95, -16.95]]
BOW_TIE = {
    "type": "Polygon",
    "coordinates": [[[10.0, 44.0], [10.01, 44.01], [10.01, 44.0], [10.0, 44.01], [10.0, 44.0]]],
}


def _event_date_config(manifest: Path, given: str) -> str:
    """A configuration whose one region's event_date is written as ``given`` (on line 5)."""
    return (
        f"model: {{manifest: {manifest}}}\n"
        "regions:\n"
        "  - name: r1\n"
        f"    geometry: {json.dumps(SQUARE)}\n"
        f"    windows: {{mode: event, event_date: {given}}}\n"
    )


def _data(manifest: Path, **region: Any) -> dict[str, Any]:
    return {
        "model": {"manifest": str(manifest)},
        "regions": [{"name": "r1", "geometry": SQUARE, **region}],
    }


def _said(config: Path) -> set[str]:
    """The problems :func:`load_config` refuses ``config`` for, each without its line."""
    with pytest.raises(ConfigError) as info:
        load_config(config)
    return {p.split(": ", 1)[1] for p in info.value.problems}


def _cli_error(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = main(["run", "--config", str(config), "--date", "2024-09-15"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, err


MALFORMED = "regions:\n  - name: r1\n    geometry: {type: Polygon\n  - name: r2\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (MALFORMED, "line 4, column 9: malformed YAML"),
        # a key without its colon is noticed on the next line; its own line is named too
        (
            "regions:\n  - name: r1\n    orbit_pass both\n    windows: {}\n",
            "line 4, column 5: malformed YAML: while scanning a simple key (line 3, column 5): "
            "could not find expected ':'",
        ),
        ("regions: [", "malformed YAML"),
        ("", "the configuration file is empty"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("regions: []\n", "line 1: regions: an empty list: give at least 1"),
        # found in a config audit: what YAML saw, not what to write
        (
            f"regions:\n  - name: NO\n    geometry: {json.dumps(SQUARE)}\n",
            "line 2: regions[0].name: Input should be a valid string; YAML read the value as "
            "false: quote it to keep it text ('...')",
        ),
        ("regions:\n\t- name: r1\n", "cannot start any token; indent with spaces, not tabs"),
        (
            "schedule:\n  cron: */30 6 * * *\nregions: []\n",
            "line 2, column 10: malformed YAML: while scanning an alias: expected alphabetic or "
            "numeric character, but found '/'; a value that starts with * or & is YAML's: quote "
            "it ('*/30 6 * * *')",
        ),
    ],
)
def test_malformed_files(
    content: str,
    expected: str,
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
    assert str(path) in str(info.value)
    status, err = _cli_error(path, capsys)
    assert status == 2 and expected in err


def test_a_file_saved_in_latin_1_is_named_with_its_line(tmp_path: Path) -> None:
    """Found in a survey's walk: a Latin-1 "ì" in a comment read "'utf-8' codec can't decode
    byte 0xec in position 6", with no line and nothing to do."""
    path = tmp_path / "config.yaml"
    path.write_bytes("source: {type: archive}\n# Valtellina, località Tirano\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems == [
        "line 2: byte 0xe0 is not UTF-8: the file was saved in another encoding (Latin-1, "
        "Windows-1252?); save it as UTF-8"
    ]


def test_unknown_fields_are_named_with_their_line(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(manifest, orbit="ascending")
    data["inventory"] = {"pth": "x.gpkg"}
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert len(problems) == 2
    # with the name meant where one is near (found in a config audit)
    assert any(
        p.startswith("line ") and p.endswith("regions[0].orbit: unknown field (did you mean "
                                             "orbit_pass?)")
        for p in problems
    )  # fmt: skip
    assert any(p.endswith("inventory.pth: unknown field (did you mean path?)") for p in problems)
    status, err = _cli_error(path, capsys)
    assert status == 2 and "regions[0].orbit: unknown field" in err
    # in a union's member (the windows' modes, the sources), a list's item, and none near
    data = _data(manifest, windows={"mode": "event", "event_date": "2024-08-17", "pre_day": 30})
    data["alerts"] = {"webhooks": [{"name": "a", "ur": "https://x.org/h", "secret_env": "X"}]}
    data["source"] = {"type": "archive", "paht": "data"}
    data["colour"] = "red"
    said = _said(write_config(data, name="more.yaml"))
    assert {
        "regions[0].windows.pre_day: unknown field (did you mean pre_days?)",
        "alerts.webhooks[0].ur: unknown field (did you mean url?)",
        "source.paht: unknown field (did you mean path?)",
        "colour: unknown field",
    } <= said
    # a field of the union's other member is not suggested, nor the name refused itself
    # (found in review: "source.project: unknown field (did you mean project?)")
    data = _data(manifest, windows={"mode": "monitoring", "event_date": "2024-08-17"})
    data["source"] = {"type": "archive", "project": "p"}
    said = _said(write_config(data, name="other.yaml"))
    # but it is named as the other member's (found in an adopter's walk: after switching the
    # source to Earth Engine, "source.path: unknown field" did not say that it is the archive's)
    assert {
        "source.project: unknown field: a field of type: gee, not of type: archive",
        "regions[0].windows.event_date: unknown field: a field of mode: event, not of mode: "
        "monitoring",
    } == said
    data["source"] = {"type": "gee", "path": "data/archive", "simulation": {}}
    said = _said(write_config(data, name="gee.yaml"))
    assert "source.path: unknown field: a field of type: archive, not of type: gee" in said
    assert "source.simulation: unknown field: a field of type: archive, not of type: gee" in said
    # a default for every region written at the top level or under model:, and a top-level
    # field in a region (found in a survey's walk: "masks: unknown field (did you mean dask?)")
    data = _data(manifest)
    data["masks"] = {"min_slope_deg": 8}
    data["model"]["filter_cut"] = 0.3
    data["regions"][0]["trigger"] = {}
    said = _said(write_config(data, name="defaults.yaml"))
    assert said == {
        "masks: unknown field here: a field of each region (regions[].masks): set it in each "
        "region that needs it",
        "model.filter_cut: unknown field here: a field of each region (regions[].filter_cut): "
        "set it in each region that needs it",
        "regions[0].trigger: unknown field here: a field of the configuration's top level "
        "(trigger:), not of a region",
    }
    # a name a region's field shares, elsewhere, is no default for the regions (found in
    # review: inventory.layer and model.name were sent to the regions)
    data = _data(manifest)
    data["inventory"] = {"layer": "x"}
    data["model"]["name"] = "x"
    data["name"] = "project"
    said = _said(write_config(data, name="shared.yaml"))
    assert said == {
        "inventory.layer: unknown field",
        "model.name: unknown field",
        "name: unknown field",
    }
    # a section's own name is no union's tag (found in a review: a field misplaced inside
    # source.simulation was said to be "a field of type: archive, not of type: simulation")
    data = _data(manifest)
    data["source"] = {"type": "archive", "simulation": {"start": "2024-01-01",
                      "end": "2024-02-01", "path": "x", "type": "y"}}  # fmt: skip
    said = _said(write_config(data, name="nested.yaml"))
    assert "source.simulation.path: unknown field" in said
    assert "source.simulation.type: unknown field" in said


def test_a_number_out_of_range_is_said_with_what_the_field_is(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in an adopter's walk: "threshold: Input should be less than 1" did not say what the
    number is; a bound's message now ends with the field's description, where it has one."""
    data = _data(manifest)
    data["regions"][0]["masks"] = {"min_slope_deg": 95}
    data["alerts"] = {"retry": {"max_attempts": 0}}
    said = _said(write_config(data, name="bounds.yaml"))
    assert said == {
        "regions[0].masks.min_slope_deg: Input should be less than 90: drop detections whose "
        "mean slope is below this (flat ground)",
        "alerts.retry.max_attempts: Input should be greater than or equal to 1: after this many "
        "failures an alert is dead",
    }


def test_a_section_s_own_checks_are_placed_on_their_field_s_line(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by a new user: a cron of four fields was reported on the `schedule:` line as
    `schedule: cron: ...`, and a Dask address without its protocol on the `dask:` line."""
    data = _data(manifest)
    data["schedule"] = {"timezone": "UTC", "cron": "0 6 * *"}
    data["dask"] = {"enabled": True, "scheduler_address": "localhost:8786"}
    path = write_config(data)
    lines = path.read_text(encoding="utf-8").splitlines()
    cron = next(i for i, t in enumerate(lines, 1) if t.strip().startswith("cron:"))
    address = next(i for i, t in enumerate(lines, 1) if "scheduler_address" in t)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert sorted(info.value.problems) == sorted([
        f"line {cron}: schedule.cron: cron expression '0 6 * *' has 4 fields; expected 5 "
        "(minute hour day month weekday) or 6 (second minute hour day month weekday)",
        f"line {address}: dask.scheduler_address: 'localhost:8786' needs a protocol, e.g. "
        "tcp://host:8786",
    ])  # fmt: skip


def test_duplicate_keys_are_refused(write_config: Callable[..., Path]) -> None:
    path = write_config("regions: []\nregions: []\n")
    with pytest.raises(ConfigError, match=r"line 2: regions: field given twice"):
        load_config(path)


def test_a_date_that_does_not_exist_is_named_with_its_field_and_line(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: an unquoted ``event_date: 2024-02-30`` (or month 13) ended the
    command with 'ValueError: day is out of range for month', exit status 1, naming neither the
    file, the line nor the field (PyYAML's own date parsing raised it)."""
    data = _data(manifest, windows={"mode": "event", "event_date": "EVENT"})
    data["dataset"] = {"date_column": "FORMAT"}  # a text field keeps the text
    text = yaml.safe_dump(data, sort_keys=False)
    text = text.replace("EVENT", "2024-02-30").replace("FORMAT", "2024-13-01")
    path = write_config(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    line = next(i for i, s in enumerate(text.splitlines()) if "2024-02-30" in s) + 1
    assert info.value.problems == [
        f"line {line}: regions[0].windows.event_date: Input should be a valid date or "
        "datetime, day value is outside expected range"
    ]
    status, err = _cli_error(path, capsys)
    assert status == 2 and f"invalid configuration {path} (1 problem)" in err


def test_a_key_given_twice_hides_no_other_problem_and_a_reused_name_points_at_its_line(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    data = _data(manifest)
    data["regions"].append({"name": "r2", "geometry": SQUARE, "threshold": 1.5})
    text = yaml.safe_dump(data, sort_keys=False) + "quicklooks: {enabled: true}\n"
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text + "quicklooks: {enabled: false}\n"))
    lines = text.splitlines()
    threshold = next(i for i, s in enumerate(lines) if "threshold" in s) + 1
    assert info.value.problems == [
        f"line {threshold}: regions[1].threshold: Input should be less than 1: the ensemble's "
        "probability at or above which a pixel is a landslide, for every setting; unset, each "
        "setting's calibrated one",
        f"line {len(lines) + 1}: quicklooks: field given twice",
    ]

    data["regions"][1] = {"name": "r1", "geometry": SQUARE}
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    second = [i for i, s in enumerate(text.splitlines()) if s.strip() == "- name: r1"][1] + 1
    assert info.value.problems == [
        f"line {second}: regions[1].name: region name 'r1' is used twice (first in regions[0])"
    ]
    # found walking the configuration: 'R1' beside 'r1' shared their archive and quicklook
    # folders on a file system that ignores case (macOS, Windows)
    data["regions"][1] = {"name": "R1", "geometry": SQUARE}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(yaml.safe_dump(data, sort_keys=False)))
    assert info.value.problems == [
        f"line {second}: regions[1].name: region name 'R1' differs from 'r1' (regions[0]) only "
        "in case; their folders, named after them, would be one on a file system that ignores "
        "case: name them apart"
    ]


def test_the_checks_across_fields_are_reported_together(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a walkthrough: a region name differing from another only in case, two webhooks
    of one name and a region too small for a detection took three tries, one problem each."""
    data = _data(manifest)
    hook = {"url": "http://127.0.0.1:9/h", "secret_env": "LM_TEST_SECRET"}
    other = {**hook, "url": "http://127.0.0.1:9/other"}
    data["alerts"] = {"webhooks": [{"name": "ops", **hook}, {"name": "ops", **other}]}
    data["regions"].append({"name": "R1", "geometry": SQUARE})
    data["regions"][0]["min_area_m2"] = 1e12
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    lines = text.splitlines()
    geometry = next(i for i, s in enumerate(lines) if "geometry" in s) + 1
    r1 = next(i for i, s in enumerate(lines) if s.strip() == "- name: R1") + 1
    hook_line = [i for i, s in enumerate(lines) if "name: ops" in s][1] + 1
    where = [p.split(": ")[0] + ": " + p.split(": ")[1] for p in info.value.problems]
    assert where == sorted(
        [
            f"line {geometry}: regions[0].geometry",
            f"line {r1}: regions[1].name",
            f"line {hook_line}: alerts.webhooks[1].name",
        ],
        key=lambda w: int(w.split()[1][:-1]),
    )
    text = "\n".join(info.value.problems)
    # a name used twice (not only in case) leaves the alerts' checks, which find regions by
    # name, for the next try: region 1's e-mail was placed on region 0 (found in review)
    twice = {
        **data,
        "alerts": {},
        "regions": [
            *data["regions"][:1],
            {**data["regions"][1], "name": "r1", "alerts": {"email": ["a@example.org"]}},
        ],
    }
    with pytest.raises(ConfigError) as again:
        load_config(write_config(yaml.safe_dump(twice, sort_keys=False)))
    assert len(again.value.problems) == 2
    assert "regions[1].name: region name 'r1' is used twice" in again.value.problems[1]
    assert "less than regions[0].min_area_m2 = 1,000,000,000,000 m²" in text
    assert "region name 'R1' differs from 'r1' (regions[0]) only in case" in text
    assert "webhook name 'ops' is used by another webhook" in text


def test_alert_cross_checks_name_the_region_s_field_and_line(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by a new user: a region's webhook named like a global one was reported on line 1
    at the top level, naming neither webhook's line."""
    data = _data(manifest)
    hook = {"url": "http://127.0.0.1:9/h", "secret_env": "LM_TEST_SECRET"}
    data["alerts"] = {"webhooks": [{"name": "ops", **hook}]}
    data["regions"].append(
        {
            "name": "r2",
            "geometry": SQUARE,
            "alerts": {"webhooks": [{"name": "ops", **hook, "url": "http://127.0.0.1:9/other"}]},
        }
    )
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    lines = text.splitlines()
    r2 = next(i for i, s in enumerate(lines) if s.strip() == "- name: r2")
    line = next(i for i, s in enumerate(lines) if i > r2 and "name: ops" in s) + 1
    assert info.value.problems == [
        f"line {line}: regions[1].alerts.webhooks[0].name: webhook name 'ops' is used by "
        "another webhook"
    ]
    # two global webhooks of one name, and a region's e-mail without an smtp server
    data["alerts"]["webhooks"].append({"name": "ops", **hook, "url": "http://127.0.0.1:9/o2"})
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    (problem,) = info.value.problems
    assert problem.endswith(
        "alerts.webhooks[1].name: webhook name 'ops' is used by another webhook"
    )
    data["alerts"]["webhooks"].pop()
    data["regions"][1]["alerts"] = {"email": ["duty@example.org"]}
    text = yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    lines = text.splitlines()
    email = next(i for i, s in enumerate(lines) if "email:" in s) + 1
    assert info.value.problems == [
        f"line {email}: regions[1].alerts.email: e-mail recipients are set but the alerts "
        "section has no smtp server"
    ]


def test_self_intersecting_polygon(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(manifest)
    data["regions"][0]["geometry"] = BOW_TIE
    path = write_config(data)
    with pytest.raises(ConfigError, match=r"regions\[0\]\.geometry: r1: the polygon is invalid"):
        load_config(path)
    status, err = _cli_error(path, capsys)
    assert status == 2 and "Self-intersection" in err


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        ({"type": "Point", "coordinates": [10.0, 44.0]}, "expected a Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": [[[1, 2], [3]]]}, "not a GeoJSON geometry"),
        (  # a ring without its outer brackets (found in a survey's walk: "'float' object is
            # not iterable")
            {"type": "Polygon", "coordinates": [[10.8, 44.3], [10.82, 44.3], [10.8, 44.32],
                                                [10.8, 44.3]]},
            r"not a GeoJSON geometry: coordinates of a Polygon nest 2 lists deep, not 3: "
            r"\[\[\[lon, lat\], \.\.\.\]\] \(one bracket level too few\?\)",
        ),
        (  # found in a walkthrough of large regions: text was read as the number, NaN as an
            # unclosed ring
            {"type": "Polygon", "coordinates": [[[10.8, 44.3], [10.82, 44.3], ["10.8", 44.32],
                                                 [10.8, 44.3]]]},
            r"not a GeoJSON geometry: coordinates\[0\]\[2\]\[0\] is the text '10\.8', not a "
            r"number: write it without quotes, and an exponent with a dot and a sign",
        ),
        (
            {"type": "Polygon", "coordinates": [[[10.8, 44.3], [10.82, float("nan")],
                                                 [10.8, 44.32], [10.8, 44.3]]]},
            r"not a GeoJSON geometry: coordinates\[0\]\[1\]\[1\] is nan, not a finite number",
        ),
        (
            {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
             "geometry": {"type": "MultiPolygon", "coordinates": [
                 [[[10.8, 44.3], [10.82, 44.3], [10.8, True], [10.8, 44.3]]]]}}]},
            r"not a GeoJSON geometry: feature 1 of the FeatureCollection: "
            r"coordinates\[0\]\[0\]\[2\]\[1\] is True, not a number",
        ),
        (
            {"type": "Polygon", "coordinates": [[[500e3, 5e6], [501e3, 5e6], [501e3, 5.001e6]]]},
            r"not lon/lat degrees \(EPSG:4326\): metres of a projected CRS\? GeoJSON, inline or "
            r"a file without a crs member, is read as lon/lat; give a region file that declares "
            r"its CRS \(a GeoPackage, a shapefile with its \.prj\)",
        ),
        (  # found by the configuration walk: the reason was left to guess
            {
                "type": "Polygon",
                "coordinates": [[[-42.0, 172.0], [-42.0, 172.02], [-41.98, 172.0], [-42.0, 172.0]]],
            },
            r"r1: coordinates \(-42\.0, 172\.0, -41\.98, 172\.02\) are not lon/lat degrees "
            r"\(EPSG:4326\): they read as latitude, longitude; GeoJSON gives the longitude "
            r"first \(\[172\.0, -42\.0\]\)",
        ),
        (  # longitudes of 0-360° across the antimeridian (Fiji)
            {
                "type": "Polygon",
                "coordinates": [
                    [[179.95, -17.0], [180.05, -17.0], [180.05, -16.95], [179.95, -17.0]]
                ],
            },
            r"not lon/lat degrees \(EPSG:4326\): longitudes past 180° \(of 0-360°\) are "
            r"written minus 360 \(180\.05 as -179\.95\); a region cannot cross the "
            r"antimeridian \(±180°\): make two regions, one on each side",
        ),
        (42, "expected inline GeoJSON or the path of a region file"),
        (  # found walking through an event mapping: "'NoneType' object has no attribute 'get'"
            {"type": "Feature", "properties": {}, "geometry": None},
            r"not a GeoJSON geometry: a Feature without a geometry \(null\)",
        ),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [10, 44]}},
                    {"type": "Feature", "properties": {"name": "x"}, "geometry": None},
                ],
            },
            r"not a GeoJSON geometry: feature 2 of the FeatureCollection has no geometry \(null\)",
        ),
        (  # an affected area's bounding box, as a list: told how to write it
            [10.9, 44.34, 10.92, 44.35],
            r"a bounding box \[west, south, east, north\] is written as a GeoJSON Polygon: "
            r"\{type: Polygon, coordinates: \[\[\[10.9, 44.34\], \[10.92, 44.34\], "
            r"\[10.92, 44.35\], \[10.9, 44.35\], \[10.9, 44.34\]\]\]\}",
        ),
        (
            {"type": "Polygon", "coordinate": [[[10.0, 44.0], [10.01, 44.0], [10.0, 44.01]]]},
            r"not a GeoJSON geometry: no 'coordinates' member \(it has: type, coordinate\)",
        ),
        (  # across the antimeridian: the message says why and what to do (found by a user)
            {
                "type": "Polygon",
                "coordinates": [[*ACROSS_180, ACROSS_180[0]]],
            },
            "crosses the antimeridian .* make two regions, one on each side",
        ),
        (  # found in a config audit: beyond the UTM zones' latitudes, it loaded
            {"type": "Polygon", "coordinates": [[[10.0, 84.5], [10.2, 84.5], [10.0, 84.6],
                                                 [10.0, 84.5]]]},
            r"r1: the polygon reaches 84\.6° of latitude; a region's grid is a UTM zone's, "
            r"which spans 80° S to 84° N",
        ),
        (  # found in a config audit: two small parts 2° apart, a grid of some 35,000 km²
            {"type": "MultiPolygon", "coordinates": [
                [[[10.0, 44.0], [10.01, 44.0], [10.01, 44.01], [10.0, 44.0]]],
                [[[12.0, 46.0], [12.01, 46.0], [12.01, 46.01], [12.0, 46.0]]],
            ]},
            r"r1: the polygon's grid \(its bounding box, on which every image of the region is "
            r"computed\) covers \d+\.\d km², more than 3 × max_area_km2 \(7500 km²\); make "
            r"parts that lie far apart regions of their own, or raise max_area_km2",
        ),
    ],
)  # fmt: skip
def test_other_bad_polygons(
    geometry: Any, expected: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    data = _data(manifest)
    data["regions"][0]["geometry"] = geometry
    with pytest.raises(ConfigError, match=expected):
        load_config(write_config(data))


def test_missing_region_file(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(_data(manifest, geometry="regions/nowhere.gpkg"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert "regions[0].geometry: region file" in problem
    assert str(path.parent / "regions" / "nowhere.gpkg") in problem
    assert "does not exist" in problem
    status, err = _cli_error(path, capsys)
    assert status == 2 and "nowhere.gpkg does not exist" in err


def test_unknown_manifest(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(_data(tmp_path / "models" / "missing.json"))
    with pytest.raises(ConfigError, match=r"model\.manifest: manifest file .*missing\.json"):
        load_config(path)
    status, err = _cli_error(path, capsys)
    assert status == 2 and "missing.json does not exist" in err
    assert "relative paths are read from base_dir" not in err  # none given: no more said


def test_a_missing_file_under_a_given_base_dir_names_it(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    """Found by a walkthrough: the demo's configuration (then config/demo.yaml, `base_dir: ..`)
    copied to the repository's root looked for the manifest in the folder above it, and the
    error named only that path."""
    data = {**_data(Path("models/default/manifest.json")), "base_dir": ".."}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert info.value.note == (
        f"(relative paths are read from base_dir '..', which is {tmp_path.parent} from this "
        f"file's folder {tmp_path}; a copy of a configuration moved to another folder may need "
        "its base_dir changed)"
    )
    (problem,) = info.value.problems  # the note is said after it, not counted as one
    assert f"manifest file {tmp_path.parent}/models/default/manifest.json does not exist" in (
        problem
    )
    assert str(info.value).startswith(f"invalid configuration {tmp_path / 'config.yaml'} (1 ")
    assert str(info.value).endswith(info.value.note)
    # an absolute path that does not exist has nothing to do with base_dir (found in review)
    data["model"] = {"manifest": "/nonexistent/abs/manifest.json"}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert info.value.note == ""


def test_missing_config_file_and_unknown_region(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = _cli_error(Path("/nonexistent/config.yaml"), capsys)
    assert status == 2 and "the configuration file does not exist" in err
    path = write_config(_data(manifest))
    status = main(["run", "--config", str(path), "--region", "nowhere"])
    err = capsys.readouterr().err
    assert status == 2 and "no region named 'nowhere'" in err and "regions: r1" in err
    assert "did you mean" not in err
    # a near miss is pointed out (found in a survey's walk: all 15 regions listed, none named)
    status = main(["run", "--config", str(path), "--region", "R1"])
    assert status == 2 and "no region named 'R1' in " in (err := capsys.readouterr().err)
    assert " (did you mean r1?); regions: r1" in err


def test_bad_date_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--config", "x.yaml", "--date", "15/09/2024"])
    assert info.value.code == 2
    assert "'15/09/2024' is not a date as YYYY-MM-DD" in capsys.readouterr().err
    # in the form but not a day: said to be one (it read as a wrong form)
    with pytest.raises(SystemExit) as info:
        main(["run", "--config", "x.yaml", "--date", "2024-09-31"])
    assert info.value.code == 2
    assert "'2024-09-31' is not a day of the calendar (day is out of range for month)" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("argv", "usage", "said"),
    [
        (["run", "-c", "x.yaml", "--dates", "2024-09-12"], "usage: landslide-monitor run ",
         "unrecognized arguments: --dates 2024-09-12 (--dates: did you mean --date?)"),
        (["inventory", "export", "-c", "x.yaml", "out.csv", "--stauts", "x"],
         "usage: landslide-monitor inventory export ", "(--stauts: did you mean --status?)"),
        (["status", "-c", "x.yaml", "extra"], "usage: landslide-monitor status ",
         "unrecognized arguments: extra\n"),
        (["run", "-c", "x.yaml", "--wait", "-5"], "usage: landslide-monitor run ",
         "argument --wait: '-5': give 0 or more seconds"),
        (["alerts", "deliver", "-c", "x.yaml", "--wait", "nan"],
         "usage: landslide-monitor alerts deliver ", "'nan': give 0 or more seconds"),
        # found in review: with the dashes counted, --bogus was taken for --out or --verbose;
        # before the command's name it is the top parser's
        (["dataset", "from-reviews", "-c", "x", "--out", "y", "--bogus"],
         "usage: landslide-monitor dataset from-reviews ", "unrecognized arguments: --bogus\n"),
        (["--bogus", "run", "-c", "x.yaml"], "usage: landslide-monitor [-h]",
         "landslide-monitor: error: unrecognized arguments: --bogus\n"),
        # the required option misspelt: argparse's "required" error comes first, and names it
        (["run", "--confg", "x.yaml"], "usage: landslide-monitor run ",
         "required: --config/-c (--confg: did you mean --config?)\n"),
        (["dataset", "from-reviews", "--confg=x", "--out", "y"],
         "usage: landslide-monitor dataset from-reviews ",
         "required: --config/-c (--confg: did you mean --config?)\n"),
        (["status", "--bogus"], "usage: landslide-monitor status ",
         "required: --config/-c\n"),
    ],
)  # fmt: skip
def test_a_mistyped_option_is_named_with_its_commands_usage(
    argv: list[str], usage: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a walkthrough: `run --dates` answered with the top parser's usage (no hint of
    `--date`), and `run --wait -5` ran as no wait."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(usage) and said in err, err


def test_a_models_folder_in_the_working_directory_is_named(tmp_path: Path) -> None:
    """Found by a user of the review loop: `python -m monitor.ops.filter_refit` run from a
    project folder holding a `models/` folder (without __init__.py) ended in "TypeError:
    expected str, bytes or os.PathLike object, not NoneType": that folder took the place of
    the project's `models` package. With the editable install's import hook it still does, and
    the error names the folder; where the project's package is found first, the command runs."""
    (tmp_path / "models" / "default").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-m", "monitor.ops.operating_point", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert "TypeError" not in done.stderr
    if done.returncode == 0:
        assert "usage: python -m monitor.ops.operating_point" in done.stdout
    else:
        assert (
            f"ImportError: the folder {tmp_path / 'models'} hides landslide-monitor's `models` "
            "package"
        ) in done.stderr


def test_console_script_exits_non_zero_without_traceback(
    write_config: Callable[..., Path],
) -> None:
    path = write_config("regions:\n  - name: r1\n    geometry: [\n")
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2
    assert "malformed YAML" in done.stderr and "Traceback" not in done.stderr


_READER_GONE = """
import sys
from monitor import cli

def talk(args):
    if str(args.config) == "socket":
        raise BrokenPipeError(32, "Broken pipe (a socket)")
    for i in range(200_000):
        print(f"line {i}")
    return 0

command = cli.COMMANDS["status"]
cli.COMMANDS["status"] = cli.Command(command.help, command.configure, talk)
sys.exit(cli.main(["status", "--config", sys.argv[1]]))
"""


def test_a_reader_that_leaves_ends_the_command_quietly() -> None:
    """``landslide-monitor alerts list | head``: the pipe closes under the command's output,
    which ends quietly (141, as a writer killed by SIGPIPE); a broken pipe that is not standard
    output (a socket) stays an error."""
    import signal

    child = subprocess.Popen(
        [sys.executable, "-c", _READER_GONE, "stdout"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline() == b"line 0\n"
    child.stdout.close()  # the reader leaves
    assert child.wait(timeout=60) == 128 + signal.SIGPIPE
    assert child.stderr.read() == b""

    done = subprocess.run(
        [sys.executable, "-c", _READER_GONE, "socket"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 1
    assert "error: [Errno 32] Broken pipe (a socket)" in done.stderr


@pytest.mark.parametrize(
    ("suffix", "driver"),
    [(".geojson", "GeoJSON"), (".gpkg", "GPKG"), (".kml", "KML"), (".shp", "ESRI Shapefile")],
)
def test_region_polygon_from_a_file(
    suffix: str, driver: str, write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    # written in UTM to check the reprojection to lon/lat (KML is always lon/lat)
    frame = gpd.GeoDataFrame({"name": ["r1"]}, geometry=[REGION_POLYGON], crs="EPSG:4326")
    if driver != "KML":
        frame = frame.to_crs("EPSG:32632")
    (tmp_path / "regions").mkdir()
    frame.to_file(tmp_path / "regions" / f"r1{suffix}", driver=driver)
    config = load_config(write_config(_data(manifest, geometry=f"regions/r1{suffix}")))
    geometry = config.regions[0].geometry
    assert geometry.geom_type == "Polygon"
    assert geometry.symmetric_difference(REGION_POLYGON).area < 1e-10


def test_a_region_file_is_read_only_as_the_format_its_suffix_names(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found in a security review: GDAL picks a file's driver by its content, so an OGR VRT
    named r1.json or r1.kml made the configuration read another local file as the region (and
    its /vsicurl/ sources send requests from this host). A zipped shapefile still reads."""
    folder = tmp_path / "regions"
    folder.mkdir()
    elsewhere = folder / "elsewhere.csv"
    elsewhere.write_text(f'wkt\n"{REGION_POLYGON.wkt}"\n')
    vrt = (
        f'<OGRVRTDataSource><OGRVRTLayer name="r1"><SrcDataSource>{elsewhere}</SrcDataSource>'
        "<SrcLayer>elsewhere</SrcLayer><LayerSRS>EPSG:4326</LayerSRS>"
        '<GeometryField encoding="WKT" field="wkt"/></OGRVRTLayer></OGRVRTDataSource>\n'
    )
    for suffix, expected in ((".json", "GeoJSON"), (".kml", "KML (XML whose root is <kml>)")):
        path = folder / f"r1{suffix}"
        path.write_text(vrt)
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_data(manifest, geometry=f"regions/r1{suffix}")))
        assert info.value.problems == [
            f"line 5: regions[0].geometry: region file {path}: not {expected} but an OGR VRT "
            "(XML that makes GDAL read other files and URLs); give the features themselves in that "
            "format"
        ]
    frame = gpd.GeoDataFrame({"name": ["r1"]}, geometry=[REGION_POLYGON], crs="EPSG:4326")
    frame.to_crs("EPSG:32632").to_file(folder / "r1.shp")
    with zipfile.ZipFile(folder / "r1.zip", "w") as archive:
        for part in folder.glob("r1.*"):
            if part.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                archive.write(part, part.name)
    config = load_config(write_config(_data(manifest, geometry="regions/r1.zip")))
    assert config.regions[0].geometry.symmetric_difference(REGION_POLYGON).area < 1e-10


def test_windows_and_defaults(write_config: Callable[..., Path], manifest: Path) -> None:
    data = _data(manifest)
    data["regions"].append(
        {
            "name": "r2",
            "geometry": SQUARE,
            "windows": {"mode": "event", "event_date": "2024-08-24", "pre_days": 30},
            "threshold": 0.7,
            "masks": {"min_slope_deg": 8, "exclude_snow": False},
        }
    )
    config = load_config(write_config(data))
    r1, r2 = config.regions
    pre, post = r1.windows.windows_for(date(2024, 9, 15))
    assert (pre, post) == (
        Window(date(2024, 6, 17), date(2024, 8, 16)),
        Window(date(2024, 8, 16), date(2024, 9, 15)),
    )
    pre, post = r2.windows.windows_for(date(2024, 10, 1))
    assert pre == Window(date(2024, 7, 25), date(2024, 8, 24))
    assert post == Window(date(2024, 8, 25), date(2024, 9, 24))
    _, clipped = r2.windows.windows_for(date(2024, 9, 1))
    assert clipped == Window(date(2024, 8, 25), date(2024, 9, 1))
    # said as a run sees it (found walking through dates: "has not begun on run date
    # 2024-08-25 (it starts 2024-08-25)" read as a contradiction)
    with pytest.raises(ValueError) as early:
        r2.windows.windows_for(date(2024, 8, 25))
    assert str(early.value) == (
        "the post-event window of event 2024-08-24 starts 2024-08-25, and a run sees the days "
        "before its date: run 2024-08-25 holds none of it (the first run that does is "
        "2024-08-26)"
    )
    assert r2.rules.threshold == 0.7 and r2.rules.min_slope_deg == 8
    assert not r2.rules.exclude_snow and r2.rules.exclude_water
    assert r1.rules.threshold is None and r1.rules.min_area_m2 == 900
    assert config.model.setting == "auto" and config.source.type == "archive"
    # an event_date without `mode: event` means event windows (it was "unknown field")
    data["regions"][1]["windows"] = {"event_date": "2024-08-24"}
    implied = load_config(write_config(data)).regions[1].windows
    assert implied.mode == "event" and implied.windows_for(date(2024, 10, 1))[0].end == date(
        2024, 8, 24
    )
    assert config.path is not None
    assert config.inventory.path == (config.path.parent / "runs" / "inventory.gpkg").resolve()


def test_demo_config_loads() -> None:
    config = load_config(REPO / "monitor" / "examples" / "demo.yaml")
    assert [r.name for r in config.regions] == ["wayanad-hills", "valtellina-alps", "emilia-hills"]
    assert config.source.type == "archive"
    assert config.source.path == REPO / "data" / "demo" / "archive"
    assert all(r.simulation is not None for r in config.regions)


def test_broken_manifest_stops_the_run_before_it_starts(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _data(manifest)  # the fixture's manifest is "{}": not an ensemble
    data["inventory"] = {"path": "runs/inventory.gpkg"}
    path = write_config(data)
    (path.parent / "data" / "archive").mkdir(parents=True)  # the source's default folder
    status, err = _cli_error(path, capsys)
    assert status == 2  # a manifest that fails its checks is bad input, like the configuration
    assert f"{manifest}: not a model manifest" in err
    assert not (path.parent / "runs" / "inventory.gpkg").exists()


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"engine": "tensorrt"}, "model.engine: Input should be 'auto', 'torch' or 'onnxruntime'"),
        (
            {"engine": "onnxruntime", "device": "cuda:0"},
            "line 3: model.engine: the onnxruntime engine runs on CPU only, but device is 'cuda:0'",
        ),
    ],
)
def test_bad_engine_is_named(
    model: dict[str, str], expected: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    data = _data(manifest)
    data["model"].update(model)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert expected in str(info.value)


def test_config_engines_are_the_inference_engines(manifest: Path) -> None:
    from typing import get_args

    from models.inference import ENGINES
    from monitor.config import ModelSettings

    assert get_args(ModelSettings.model_fields["engine"].annotation) == ENGINES
    assert ModelSettings(manifest=manifest).engine == "auto"


def test_archive_build_without_simulation_points_real_data_to_the_writer(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(_data(manifest))  # real regions: no simulation block anywhere
    assert main(["archive", "build", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "source.simulation is missing" in err
    assert "written with RegionWriter (docs/archive.md)" in err and "Traceback" not in err


def test_archive_build_names_a_region_it_leaves_empty(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found in a survey's walk: a region without a simulation block beside simulated ones got
    a warning, then "archive ready", exit 0, and every run of it failed. A region the archive
    holds nothing of is named with what its runs will meet (one filled with real exports is
    not)."""
    import monitor.simulator

    data = _data(manifest)
    data["regions"][0]["simulation"] = {"landscape": "alpine", "seed": 1}
    data["regions"] += [{"name": "real", "geometry": SQUARE}, {"name": "empty", "geometry": SQUARE}]
    data["source"] = {"type": "archive", "path": str(tmp_path / "archive"),
                      "simulation": {"start": "2024-05-01", "end": "2024-06-01"}}  # fmt: skip
    real = tmp_path / "archive" / "regions" / "real"  # what RegionWriter's commit leaves
    real.mkdir(parents=True)
    (real / "region.json").write_text("{}")
    monkeypatch.setattr(monitor.simulator, "build_archive", lambda *a, **k: None)
    with caplog.at_level("WARNING", logger="monitor.run_inputs"):
        assert main(["archive", "build", "--config", str(write_config(data))]) == 0
    assert "regions without a simulation block, not built: real, empty" in caplog.text
    assert (
        "the archive holds nothing of empty: its runs fail until it is filled with real exports "
        "(RegionWriter, docs/archive.md) or given a simulation block"
    ) in caplog.text


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("gpu0", "model.device: 'gpu0' is not a torch device (cpu, cuda, cuda:N, mps)"),
        ("cuda:7", "model.device: 'cuda:7': this machine has"),
        ("meta", "model.device: 'meta': the members run on cpu, cuda or mps"),
    ],
)
def test_a_device_the_machine_cannot_use_is_bad_input_naming_the_field(
    write_config: Callable[..., Path], manifest: Path, device: str, message: str
) -> None:
    """Found by a new user: `device: gpu0` failed with torch's bare RuntimeError and `cuda` on
    a CPU machine with an AssertionError at the first tensor, both exit 1, naming no field."""
    import torch

    from monitor.errors import BadInput
    from monitor.run_inputs import RESOURCES

    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has eight CUDA devices")
    data = _data(manifest)
    data["model"]["device"] = device
    config = load_config(write_config(data))
    with pytest.raises(BadInput, match=re.escape(message)):
        RESOURCES.ensemble(config.model)


def test_a_setting_the_ensemble_lacks_is_refused_when_it_loads() -> None:
    """Found by the docs audit: `model.setting: all` (offered beside S1, S2 and S1+S2) with the
    bundled ensemble, which has no `all` members, passed the configuration and failed every
    region of the run one by one after its stack was fetched. It is refused where the ensemble
    loads, before a run is recorded (and before detect --stack runs the chain)."""
    from models.ensemble import DEFAULT_MANIFEST
    from monitor.config import ModelSettings
    from monitor.errors import BadInput
    from monitor.run_inputs import RESOURCES

    with pytest.raises(BadInput) as err:
        RESOURCES.ensemble(ModelSettings(manifest=DEFAULT_MANIFEST, setting="all"))
    assert str(err.value) == (
        f"model.setting is 'all' but the ensemble {DEFAULT_MANIFEST.resolve()} has only S1, S2, "
        "S1+S2: set one of those, or auto"
    )
    assert RESOURCES.ensemble(ModelSettings(manifest=DEFAULT_MANIFEST, setting="S2")).settings == (
        "S1",
        "S2",
        "S1+S2",
    )
    # found in a walkthrough: `preference: [all]` loaded, and every run said "no setting of the
    # ensemble (S1, S2, S1+S2) has enough data" with the data all there
    with pytest.raises(BadInput) as err:
        RESOURCES.ensemble(ModelSettings(manifest=DEFAULT_MANIFEST, preference=["all"]))
    assert str(err.value) == (
        f"model.preference lists all, but the ensemble {DEFAULT_MANIFEST.resolve()} has only S1, "
        "S2, S1+S2: setting auto could choose none; list some of those"
    )
    partly = ModelSettings(manifest=DEFAULT_MANIFEST, preference=["all", "S2"])
    assert RESOURCES.ensemble(partly).settings == ("S1", "S2", "S1+S2")


def test_region_files_a_user_gets_wrong_are_named_with_what_to_do(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found by a new user: a UTM shapefile without its .prj read "not lon/lat degrees", a
    file with a point beside the polygon "got GeometryCollection", and a GeoPackage of two
    layers leaked pyogrio's UserWarning and took the first."""
    from shapely.geometry import Point

    folder = tmp_path / "regions"
    folder.mkdir()
    utm = gpd.GeoDataFrame(geometry=[REGION_POLYGON], crs="EPSG:4326").to_crs("EPSG:32632")
    utm.to_file(folder / "noprj.shp")
    (folder / "noprj.prj").unlink()
    mixed = gpd.GeoDataFrame(geometry=[REGION_POLYGON, Point(10.905, 44.345)], crs="EPSG:4326")
    mixed.to_file(folder / "mixed.geojson", driver="GeoJSON")
    two = folder / "two.gpkg"
    utm.to_file(two, layer="valley")
    utm.to_file(two, layer="ridge")
    gpd.GeoDataFrame(geometry=[Point(10.905, 44.345)], crs="EPSG:4326").to_file(
        folder / "point.geojson", driver="GeoJSON"
    )
    # UTM metres in a file that declares lon/lat (found in a survey's walk: told to declare its
    # CRS, which it did)
    utm.set_crs("EPSG:4326", allow_override=True).to_file(folder / "wrongcrs.gpkg")
    # a shapefile copied without its index, and WKT pasted (QGIS's "Copy as WKT"), both found
    # in a survey's walk: GDAL's SHAPE_RESTORE_SHX advice; the WKT read as a file's path
    utm.to_file(folder / "noshx.shp")
    (folder / "noshx.shx").unlink()
    # longitudes of 0-360° and latitude first, in files that declare lon/lat: told what they
    # are, not that the CRS declared is wrong (found in review)
    gpd.GeoDataFrame(geometry=[box(190.0, 44.0, 190.01, 44.01)], crs="EPSG:4326").to_file(
        folder / "east.geojson", driver="GeoJSON"
    )
    gpd.GeoDataFrame(geometry=[box(45.0, 120.0, 45.01, 120.01)], crs="EPSG:4326").to_file(
        folder / "swapped.gpkg"
    )
    x0, y0, x1, y1 = utm.total_bounds  # printed as numbers, not numpy's reprs (a new user)
    cases = {
        "regions/noshx.shp": r"its \.shx \(the shapefile's index\) is missing: copy the",
        "regions/east.geojson": r"longitudes past 180° \(of 0-360°\) are written minus 360",
        "regions/swapped.gpkg": r"they read as latitude, longitude; GeoJSON gives the longitude",
        "POLYGON ((10.9 44.34, 10.91 44.34, 10.91 44.35, 10.9 44.34))": (
            r"WKT is not read here: give the polygon as GeoJSON"
        ),
        "regions/wrongcrs.gpkg": (
            rf"declares WGS 84 \(degrees\), but its coordinates \({x0:.1f}, {y0:.1f}, "
            rf"{x1:.1f}, {y1:.1f}\) are not degrees: .* The CRS it declares is wrong"
        ),
        "regions/noprj.shp": (
            r"declares no CRS \(a shapefile without its \.prj\?\) and its coordinates "
            rf"\({x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f}\) are not lon/lat"
        ),
        "regions/mixed.geojson": "holds Point features besides polygons",
        "regions/point.geojson": "holds Point features, no polygon; a region is polygons alone",
        "regions/two.gpkg": r"has 2 layers \(valley, ridge\): name one with the region's `layer`",
    }
    for geometry, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(write_config(_data(manifest, geometry=geometry)))
    # a file named like WKT (a browser's second download) is a file (found in review)
    gpd.GeoDataFrame(geometry=[REGION_POLYGON], crs="EPSG:4326").to_file(
        folder / "Polygon (1).geojson", driver="GeoJSON"
    )
    named = load_config(write_config(_data(manifest, geometry="regions/Polygon (1).geojson")))
    assert named.regions[0].geometry.equals_exact(REGION_POLYGON, 1e-9)
    # an empty text is not the configuration's folder ("region file <folder> has an unknown
    # format", found by a new user)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, geometry=" ")))
    assert info.value.problems == [
        "line 5: regions[0].geometry: empty text; expected inline GeoJSON or the path of a "
        "region file"
    ]
    # a layer the file does not have is told the ones it has (it read "Layer 'crest' could not
    # be opened", found by a new user)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, geometry="regions/two.gpkg", layer="crest")))
    assert info.value.problems == [
        f"line 5: regions[0].geometry: region file {two} has no layer 'crest'; its layers: "
        "valley, ridge: correct the region's `layer`"
    ]
    # found walking the configuration: a layer beside inline GeoJSON was ignored, silently
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, layer="ridge")))
    (problem,) = info.value.problems
    assert problem.endswith(
        "regions[0].geometry: `layer: ridge` chooses from a region file, but this geometry "
        "is inline GeoJSON: drop `layer`, or give the file's path"
    ), problem
    named = load_config(write_config(_data(manifest, geometry="regions/two.gpkg", layer="ridge")))
    assert named.regions[0].geometry.symmetric_difference(REGION_POLYGON).area < 1e-10
    # GDAL opens a layer whatever its case: a configuration that loaded so still does
    upper = load_config(write_config(_data(manifest, geometry="regions/two.gpkg", layer="RIDGE")))
    assert upper.regions[0].geometry.symmetric_difference(REGION_POLYGON).area < 1e-10
    # one polygon layer beside a table without geometry (QGIS saves its styles so) is read
    styled = folder / "styled.gpkg"
    utm.to_file(styled, layer="valley")
    import sqlite3

    with sqlite3.connect(styled) as conn:
        conn.execute("CREATE TABLE layer_styles (id INTEGER PRIMARY KEY, styleQML TEXT)")
        conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier) "
            "VALUES ('layer_styles', 'attributes', 'layer_styles')"
        )
    config = load_config(write_config(_data(manifest, geometry="regions/styled.gpkg")))
    assert config.regions[0].geometry.symmetric_difference(REGION_POLYGON).area < 1e-10


def test_a_bad_region_name_is_told_exactly_what_is_allowed(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by a new user: the refusal asked for 'letters, digits, ...', which the ü of
    'Zürich' is; it says what the name may hold: ASCII letters, digits, '_', '-' and '.'."""
    for name in ("Zürich", "upper valley", "-east", "east\n"):  # a newline after it, too
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_data(manifest, name=name)))
        assert info.value.problems == [
            f"line 4: regions[0].name: region name {name!r} must start with an "
            "ASCII letter (A-Z, a-z) or digit (0-9) and hold only ASCII letters, digits, '_', "
            "'-' and '.' (it names files and inventory rows)"
        ]
    # found in a config audit: a name of 260 characters loaded, and building its archive failed
    # with "File name too long"
    assert load_config(write_config(_data(manifest, name="v" * 64))).regions[0].name == "v" * 64
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, name="v" * 260)))
    assert info.value.problems == [
        "line 4: regions[0].name: region name 'vvvvvvvvvvvvvvvvvvvv'... has 260 characters, more "
        "than 64: it names files, with a date and more"
    ]
    # found by an agency's walk: names whose folders Windows makes another's, or none
    refused = {
        "valley-000.": "ends in '.', which Windows drops from a folder's name (it would be "
        "'valley-000''s): leave it out",
        "CON": "is one Windows keeps for a device, whose folder cannot be made there: give the "
        "region another name",
        "nul.txt": "is one Windows keeps for a device, whose folder cannot be made there: give "
        "the region another name",
    }
    for name, why in refused.items():
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_data(manifest, name=name)))
        assert info.value.problems == [f"line 4: regions[0].name: region name {name!r} {why}"]
    for name in ("console", "com10", "v1.0"):  # names that only begin like one
        assert load_config(write_config(_data(manifest, name=name))).regions[0].name == name


def test_a_relative_sqlite_job_store_is_read_from_the_configuration_s_folder(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found by a new user: schedule.jobstore_url sqlite:///jobs.sqlite was opened in the
    working directory (another file under cron, systemd and a shell) where every other path of
    the file is read from its folder."""
    cases = {
        "sqlite:///jobs.sqlite": f"sqlite:///{tmp_path}/jobs.sqlite",
        "sqlite+pysqlite:///state/j.db?timeout=20": f"sqlite+pysqlite:///{tmp_path}/state/j.db?timeout=20",
        "sqlite:////var/lib/lm/jobs.sqlite": "sqlite:////var/lib/lm/jobs.sqlite",
        "sqlite://": "sqlite://",
        "postgresql://scheduler@db/jobs": "postgresql://scheduler@db/jobs",
    }
    for given, read in cases.items():
        config = write_config({**_data(manifest), "schedule": {"jobstore_url": given}})
        assert load_config(config).schedule.jobstore_url == read


def test_a_dem_override_for_no_configured_region_is_refused_on_its_line(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the Earth Engine walk: a `source.dem.overrides` entry is looked up by region
    name, so one whose name is misspelt was never used, silently: the region took SRTM or
    GLO-30 instead of the national DTM the entry named."""
    data = {
        "source": {
            "type": "gee",
            "project": "my-project",
            "dem": {"overrides": {"r1": "projects/p/assets/dtm", "r-1": "projects/p/assets/x"}},
        },
        **_data(manifest),
    }
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert problem == (
        "line 5: source.dem.overrides: no region is named 'r-1' (regions: r1); an entry is "
        "used only by the region of its name"
    )
    status, err = _cli_error(path, capsys)
    assert status == 2 and "no region is named 'r-1'" in err
    data["source"]["dem"]["overrides"].pop("r-1")
    assert load_config(write_config(data)).source.dem.overrides == {  # type: ignore[union-attr]
        "r1": "projects/p/assets/dtm"
    }


def test_earth_engine_collections_the_graphs_cannot_read_are_refused_on_their_line(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the Earth Engine walk: `assets.s1: COPERNICUS/S1_GRD`, the catalogue's
    best-known Sentinel-1 entry, holds dB where the graphs take linear power; every scene
    failed the border-noise mask and the radar bands came back NaN, said only in the stack's
    status. `COPERNICUS/S2_SR` keeps the +1000 DN offset of baseline 04.00."""
    cases = {
        "s1": ("COPERNICUS/S1_GRD", "holds sigma0 in dB", "COPERNICUS/S1_GRD_FLOAT"),
        "s2": ("COPERNICUS/S2_SR", "keeps the BOA_ADD_OFFSET", "COPERNICUS/S2_SR_HARMONIZED"),
    }
    for field, (given, why, fix) in cases.items():
        data: dict[str, Any] = {
            "source": {"type": "gee", "project": "my-project", "assets": {field: given}}
        }
        with pytest.raises(ConfigError) as info:
            load_config(write_config({**data, **_data(manifest)}))
        (problem,) = info.value.problems
        assert problem.startswith(f"line 5: source.assets.{field}: ") and why in problem, problem
        assert f"use {fix}" in problem
        data["source"]["assets"][field] = fix  # the defaults, written out, load
        source = load_config(write_config({**data, **_data(manifest)})).source
        assert getattr(source.assets, field) == fix  # type: ignore[union-attr]


def test_an_environment_variable_in_a_path_is_refused_naming_the_field(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found by the configuration walk: `inventory: {path: $HOME/inv.gpkg}` was read as a
    folder named '$HOME' in the configuration's folder, and the run made it and its
    inventory there, silently; every path of the file refuses a variable, naming the field."""
    pem = tmp_path / "ca.pem"
    pem.write_text("")
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "inventory.path": ({"inventory": {"path": "$HOME/inv.gpkg"}}, "$HOME/inv.gpkg"),
        "quicklooks.dir": ({"quicklooks": {"dir": "${DATA}/ql"}}, "${DATA}/ql"),
        "source.path": ({"source": {"path": "$ARCHIVE"}}, "$ARCHIVE"),
        "base_dir": ({"base_dir": "$DEPLOY"}, "$DEPLOY"),
        "schedule.jobstore_url": (
            {"schedule": {"jobstore_url": "sqlite:///$STATE/jobs.sqlite"}},
            "$STATE/jobs.sqlite",
        ),
        "alerts.smtp.ca_file": (
            {
                "alerts": {
                    "smtp": {"host": "smtp.example.org", "from_address": "m@example.org"},
                }
            },
            "$CERTS/ca.pem",
        ),
    }
    cases["alerts.smtp.ca_file"][0]["alerts"]["smtp"]["ca_file"] = "$CERTS/ca.pem"
    cases["source.service_account_key"] = (
        {"source": {"type": "gee", "service_account_key": "$HOME/key.json"}},
        "$HOME/key.json",
    )
    for field, (section, given) in cases.items():
        data = {**_data(manifest), **section}
        with pytest.raises(ConfigError) as info:
            load_config(write_config(data))
        (problem,) = info.value.problems
        assert re.fullmatch(
            rf"line \d+: {re.escape(field)}: {re.escape(given)}: environment variables are not "
            r"expanded in the configuration; write the path itself \(~ is expanded, and a "
            r"relative path is read from base_dir, by default the configuration's folder\)",
            problem,
        ), problem
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, geometry="$REGIONS/valley.gpkg")))
    assert info.value.problems == [
        "line 5: regions[0].geometry: $REGIONS/valley.gpkg: environment variables are not "
        "expanded in the configuration; write the path itself (~ is expanded, and a relative "
        "path is read from base_dir, by default the configuration's folder)"
    ]
    # a dollar that names no variable is a character of the path like any other
    config = load_config(write_config({**_data(manifest), "inventory": {"path": "a$/$1.gpkg"}}))
    assert config.inventory.path == tmp_path / "a$" / "$1.gpkg"


def test_an_event_date_written_as_a_number_is_refused_asking_for_yyyy_mm_dd(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: pydantic reads a number as Unix seconds, so
    `event_date: 20240824` (the YYYYMMDD that inventories may use) was refused with
    'Datetimes provided to dates should have zero time', and `event_date: 0` was taken as
    1970-01-01, silently."""
    # found on a later walk: a quoted '20240820' was called a number, and the example was
    # always 2024-08-24 whatever the user wrote
    expected = {
        20240824: "20240824 is a number, read as seconds since 1970, not a date: write it as "
        "YYYY-MM-DD (2024-08-24)",
        0: "0 is a number, read as seconds since 1970, not a date: write it as YYYY-MM-DD "
        "(2024-08-24)",
        86400: "86400 is a number, read as seconds since 1970, not a date: write it as "
        "YYYY-MM-DD (2024-08-24)",
        2024.5: "2024.5 is a number, read as seconds since 1970, not a date: write it as "
        "YYYY-MM-DD (2024-08-24)",
        "0": "'0' is read as seconds since 1970, not a date: write it as YYYY-MM-DD (2024-08-24)",
        "20230517": "'20230517' is read as seconds since 1970, not a date: write it as "
        "YYYY-MM-DD (2023-05-17)",
        " 1724457600 ": "'1724457600' is read as seconds since 1970, not a date: write it as "
        "YYYY-MM-DD (2024-08-24)",
    }
    for given, message in expected.items():
        data = _data(manifest, windows={"mode": "event", "event_date": given})
        with pytest.raises(ConfigError) as info:
            load_config(write_config(data))
        (problem,) = info.value.problems
        assert re.fullmatch(
            rf"line \d+: regions\[0\]\.windows\.event_date: {re.escape(message)}", problem
        ), problem
    data = _data(manifest, windows={"event_date": date(2024, 8, 24)})
    windows = load_config(write_config(data)).regions[0].windows
    assert isinstance(windows, EventWindows) and windows.event_date == date(2024, 8, 24)


def test_an_event_date_with_a_time_of_day_asks_for_the_day_alone(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found walking through an event mapping: an earthquake's time (`event_date: 2024-08-17
    10:00`) was refused with pydantic's 'Datetimes provided to dates should have zero time -
    e.g. be exact dates'; the message now gives the day to write, the UTC day where the time
    has an offset (acquisitions are dated by it)."""
    cases = {
        "2024-08-17T10:00:00": "2024-08-17",
        "2024-08-17 10:00": "2024-08-17",
        "2024-08-17T02:00:00+09:00": "2024-08-16",  # 17:00 UTC the day before
    }
    for given, day in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_event_date_config(manifest, given)))
        (problem,) = info.value.problems
        assert problem == (
            f"line 5: regions[0].windows.event_date: {given} has a time of day: write the "
            f"day alone, {day} (YYYY-MM-DD, the UTC day: acquisitions are dated by it)"
        ), problem
    data = _data(manifest, windows={"event_date": "2024-08-17T00:00:00"})
    windows = load_config(write_config(data)).regions[0].windows
    assert isinstance(windows, EventWindows) and windows.event_date == date(2024, 8, 17)


def test_a_fallback_that_cannot_see_under_clouds_is_refused(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: model.fallback predicts the pixels an optical setting
    cannot see (clouds, a stale optical view), which only radar can; `fallback: S2` (or
    S1+S2, all) was accepted and predicted them from the same missing optical view, so the
    cloudy pixels stayed without a prediction, silently."""
    for given in ("S2", "S1+S2", "all"):
        data = {**_data(manifest), "model": {"manifest": str(manifest), "fallback": given}}
        with pytest.raises(ConfigError) as info:
            load_config(write_config(data))
        assert info.value.problems == ["line 3: model.fallback: Input should be 'S1'"]
    for accepted in ("S1", None):
        data = {**_data(manifest), "model": {"manifest": str(manifest), "fallback": accepted}}
        assert load_config(write_config(data)).model.fallback == accepted


def test_geojson_pasted_as_a_quoted_string_is_read_as_geojson(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: GeoJSON given as a quoted string (as copied from a
    tool or a web page) was taken for the path of a region file, which did not exist."""
    data = _data(manifest, geometry=json.dumps(SQUARE))
    assert load_config(write_config(data)).regions[0].geometry.equals(shape(SQUARE))
    data = _data(manifest, geometry='{"type": "Polygon", "coordinates": [[[10.9, 44.3], ')
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    (problem,) = info.value.problems
    assert "regions[0].geometry: text that starts like GeoJSON but is not JSON" in problem


def test_one_webhook_named_in_two_places_with_one_ca_file_is_one_webhook(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found in review: the check that a webhook name means one webhook compared the CA files
    as written, before they were read from the configuration's folder, so the same file given
    relative in one place and absolute in the other was refused as another webhook."""
    pem = tmp_path / "tls" / "ca.pem"
    pem.parent.mkdir()
    pem.write_bytes(Path(certifi.where()).read_bytes())
    hook = {"name": "ops", "url": "https://ops.example.org/h", "secret_env": "S"}
    data = _data(manifest, alerts={"webhooks": [{**hook, "ca_file": str(pem)}]})
    data["alerts"] = {"webhooks": [{**hook, "ca_file": "tls/ca.pem"}]}
    routing = load_config(write_config(data)).alert_routing()
    assert routing.webhooks["ops"].ca_file == pem
    # another CA file (one that exists, so that the name check is what refuses it)
    other = tmp_path / "other.pem"
    other.write_bytes(pem.read_bytes())
    data["regions"][0]["alerts"]["webhooks"][0]["ca_file"] = str(other)
    with pytest.raises(ConfigError, match="is used by another webhook"):
        load_config(write_config(data))


def test_land_cover_classes_a_region_excludes_are_worldcover_codes(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    data = _data(manifest, masks={"exclude_landcover": [40, 50]})
    region = load_config(write_config(data)).regions[0]
    assert region.rules.exclude_landcover == (40, 50)
    assert load_config(write_config(_data(manifest))).regions[0].rules.exclude_landcover == ()
    data["regions"][0]["masks"]["exclude_landcover"] = [40, 45]
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    message = str(info.value)
    assert "regions[0].masks.exclude_landcover" in message
    assert "45 is no ESA WorldCover class" in message and "40 cropland" in message


def test_detect_stack_s_default_rules_are_a_default_region_s() -> None:
    """`detect --stack` and the object filter's fit use the rules a region gets by default."""
    from monitor.config import RegionConfig
    from monitor.ops.detect_stack import default_rules

    assert default_rules() == RegionConfig(name="r1", geometry=SQUARE).rules


def test_a_secret_pasted_where_its_variable_is_named_is_not_repeated_in_the_error(
    write_config: Callable[..., Path], manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by the configuration walk: a password, webhook secret, token URL or database URL
    written in a `*_env` field (which names the environment variable holding it) was refused
    with the secret quoted in the message ("'hunter2 !' is not an environment variable
    name"), printed to the terminal and to the scheduler's and the service's logs."""
    secrets = {
        "password": "hunter2 pw!",
        "secret": "s3cr3t-webhook-key",
        "url": "https://hooks.slack.com/services/T0/B0/tokenXYZ",
        "jobstore": "postgresql://monitor:dbpassw0rd@db/jobs",
    }
    data = _data(manifest)
    data["alerts"] = {
        "smtp": {
            "host": "smtp.example.org",
            "from_address": "monitor@example.org",
            "username_env": "SMTP_USERNAME",
            "password_env": secrets["password"],
        },
        "email": ["duty@example.org"],
        "webhooks": [
            {"name": "ops", "url": "https://ops.example.org/h", "secret_env": secrets["secret"]},
            {"name": "chat", "url_env": secrets["url"], "secret_env": "CHAT_SECRET"},
        ],
    }
    data["schedule"] = {"jobstore_url_env": secrets["jobstore"]}
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    fields = [
        "alerts.smtp.password_env",
        "alerts.webhooks[0].secret_env",
        "alerts.webhooks[1].url_env",
        "schedule.jobstore_url_env",
    ]
    assert len(info.value.problems) == len(fields)
    for field, problem in zip(fields, info.value.problems, strict=True):
        assert re.match(rf"line \d+: {re.escape(field)}: the value given is not an env", problem)
    status, err = _cli_error(path, capsys)
    assert status == 2
    for secret in secrets.values():
        assert secret not in err and secret not in str(info.value)
    assert "tokenXYZ" not in err and "dbpassw0rd" not in err


def test_earth_engine_variables_are_named_not_given(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: `source.service_account_key_env` and
    `source.project_env` took any text. The key file's path written there (`project_env:
    my-ee-project`, `service_account_key_env: ~/keys/ee.json`) was looked up as a variable of
    that name, found unset and skipped: the run went on with application-default credentials,
    billing the key's or the login's own project, or failed saying only that no credentials
    were found."""
    data = _data(manifest)
    data["source"] = {
        "type": "gee",
        "project_env": "my-ee-project",
        "service_account_key_env": "~/keys/ee-sa.json",
    }
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    project, key = info.value.problems
    assert re.fullmatch(
        r"line \d+: source\.project_env: 'my-ee-project' is not an environment variable name "
        r"\(ASCII letters, digits and '_', not starting with a digit\): give the project itself "
        r"as source\.project, or here the name of the variable that holds it",
        project,
    ), project
    assert re.fullmatch(
        r"line \d+: source\.service_account_key_env: '~/keys/ee-sa\.json' is not an environment "
        r"variable name \(ASCII letters, digits and '_', not starting with a digit\): give the "
        r"key file's path itself as source\.service_account_key, or here the name of the "
        r"variable that holds it",
        key,
    ), key
    # a key pasted there (base64 of its JSON, no PEM marker) is not repeated
    data["source"] = {"type": "gee", "service_account_key_env": "eyJ0eXBlIjog" + "QU+D" * 30 + "=="}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    (problem,) = info.value.problems
    assert "QU+D" not in problem and "the value given (134 characters, not repeated" in problem
    pasted = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----ab12"}'
    data["source"] = {"type": "gee", "service_account_key_env": pasted}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    (problem,) = info.value.problems
    assert (
        "source.service_account_key_env: source.service_account_key_env looks like key "
        in (problem)
        and "ab12" not in problem
    )
    data["source"] = {"type": "gee", "project_env": "MY_PROJECT", "service_account_key_env": "K"}
    config = load_config(write_config(data))
    assert isinstance(config.source, GeeSettings)
    assert (config.source.project_env, config.source.service_account_key_env) == ("MY_PROJECT", "K")


def test_a_region_too_small_to_ever_hold_a_detection_is_refused(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: a region drawn around one spot (a 30 m square over a
    culvert) ran `ok` every day and could never report anything: its stack, the polygon's
    bounding box on the 10 m grid, held 16 pixels (1,600 m²), less than the area the trigger
    needs to fire (2,000 m²), so the ensemble never ran; and a region smaller than its
    `min_area_m2` drops every detection it could draw."""
    spot = {  # 30 m x 30 m at 44° N: 4 x 4 pixels on its grid
        "type": "Polygon",
        "coordinates": [
            [[10.0, 44.0], [10.000375, 44.0], [10.000375, 44.00027], [10.0, 44.00027], [10.0, 44.0]]
        ],
    }
    data = _data(manifest)
    data["regions"][0]["geometry"] = spot
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert re.fullmatch(
        r"line \d+: regions\[0\]\.geometry: region 'r1' has a grid of 1,600 m² \(4 x 4 px of "
        r"10 m: its polygon's bounding box\), less than trigger\.min_area_m2 = 2,000 m² of "
        r"change that runs the ensemble, so it could never report a landslide: draw the "
        r"polygon around the slopes to watch \(a landslide is only seen within its bounding "
        r"box\), or lower trigger\.min_area_m2",
        problem,
    ), problem
    data["trigger"] = {"enabled": False}
    data["regions"][0]["min_area_m2"] = 2500
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    (problem,) = info.value.problems
    assert re.fullmatch(
        r"line \d+: regions\[0\]\.geometry: region 'r1' has a grid of 1,600 m² \(4 x 4 px of "
        r"10 m: its polygon's bounding box\), less than regions\[0\]\.min_area_m2 = 2,500 m², "
        r"the smallest detection kept, so it could never report a landslide: draw the polygon "
        r"around the slopes to watch \(a landslide is only seen within its bounding box\), or "
        r"lower regions\[0\]\.min_area_m2",
        problem,
    ), problem
    data["regions"][0]["min_area_m2"] = 900
    assert load_config(write_config(data)).regions[0].name == "r1"  # 1,600 m² can hold 900
    data["trigger"] = {"min_area_m2": 1600}
    assert load_config(write_config(data)).regions[0].name == "r1"


def test_an_event_date_in_another_form_is_refused_asking_for_yyyy_mm_dd(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found by the configuration walk: a date written as a report writes it was refused with
    pydantic's parser's words, which said neither the form to write nor the date it would be
    (`24/08/2024`: 'invalid character in year'; `2024-8-24`: 'input is too short';
    `2024/08/24`: 'invalid date separator, expected `-`')."""
    for given in ("24/08/2024", "2024-8-24", "2024/08/24", "Aug 24 2024", "24.08.2024"):
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_event_date_config(manifest, given)))
        (problem,) = info.value.problems
        assert problem == (
            f"line 5: regions[0].windows.event_date: {given!r} is not a date of the form "
            "YYYY-MM-DD: write it so (2024-08-24 for 24 August 2024)"
        ), problem


@pytest.mark.parametrize("name", ["inventory.csv", "landslides.GeoJSON", "inventory.shp"])
def test_an_inventory_path_naming_an_export_is_refused_before_any_run(
    name: str,
    write_config: Callable[..., Path],
    manifest: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a walkthrough: `inventory.path` pointed at an `inventory export` CSV failed
    only when the run opened it as a GeoPackage, after taking the run lock, which left an empty
    `<file>.lock` beside the user's CSV. The configuration now refuses it, naming the field."""
    data = _data(manifest)
    data["inventory"] = {"path": name}
    path = write_config(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert "inventory.path: " in problem and "the inventory is a GeoPackage" in problem
    assert problem.startswith("line ")
    status, err = _cli_error(path, capsys)
    assert status == 2 and "inventory.path" in err
    assert not list(path.parent.glob("*.lock"))


def test_every_export_format_is_refused_as_the_inventory_path() -> None:
    """The configuration cannot import the store (import contracts), so its list of suffixes
    that are never the inventory repeats those `inventory export` writes: found in review, a
    format export gained would have been accepted as the inventory until this list caught up."""
    from monitor.config.settings import _NOT_AN_INVENTORY
    from monitor.store.inventory import EXPORT_FORMATS

    assert set(EXPORT_FORMATS) <= set(_NOT_AN_INVENTORY)


def test_debug_shows_the_traceback_and_keeps_the_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an SRE's walk: --debug, which the CLI's own hint suggests, re-raised every error,
    so a refused configuration (2) or a held lock (75) exited 1 and the units' exit-status rules
    (RestartPreventExitStatus=2, SuccessExitStatus=75) read a crash."""
    missing = tmp_path / "missing.yaml"
    assert main(["--debug", "status", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.index("Traceback") < err.index("landslide-monitor status: error: ")
    assert "run again with --debug" not in err


@pytest.mark.parametrize("field", ["radar_scenes", "composite"])
def test_a_monitoring_field_in_event_windows_says_whose_it_is(
    write_config: Callable[..., Path], manifest: Path, field: str
) -> None:
    """Found in a walkthrough: radar_scenes under mode: event was "unknown field", though the
    windows' docs list it (for mode: monitoring)."""
    value = "2" if field == "radar_scenes" else "latest"
    text = _event_date_config(manifest, f"2024-08-17, {field}: {value}")
    with pytest.raises(ConfigError) as info:
        load_config(write_config(text))
    assert info.value.problems == [
        f"line 5: regions[0].windows.{field}: a field of mode: monitoring, not of mode: event "
        "(whose composites are the paper's greenest-pixel and median ones)"
    ]


def test_every_file_the_configuration_names_is_checked_at_once(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """The SMTP server's and two webhooks' CA files missing were named one per try, as the
    checks across fields were (found in the session's review of its walkthroughs' fixes)."""
    hook = {"url": "https://127.0.0.1:9/h", "secret_env": "LM_TEST_SECRET"}
    smtp = {"host": "127.0.0.1", "from_address": "m@example.org", "ca_file": "gone/smtp.pem"}
    data = _data(manifest, alerts={"webhooks": [{"name": "own", **hook, "ca_file": "gone/r.pem"}]})
    data["alerts"] = {"smtp": smtp, "webhooks": [{"name": "ops", **hook, "ca_file": "gone/o.pem"}]}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(yaml.safe_dump(data, sort_keys=False)))
    fields = sorted(p.split(": ")[1] for p in info.value.problems)
    assert fields == [
        "alerts.smtp.ca_file", "alerts.webhooks[0].ca_file", "regions[0].alerts.webhooks[0].ca_file"
    ]  # fmt: skip
    assert all("does not exist; give the PEM file of the CA" in p for p in info.value.problems)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"alerts": {"smtp": {"host": "h", "from_address": "a@b.example", "timeout_s": "inf"}}},
         "alerts.smtp.timeout_s: Input should be a finite number"),
        ({"schedule": {"stop_grace_s": "inf"}}, "schedule.stop_grace_s: Input should be a finite"),
        ({"source": {"type": "gee", "project": "my-proj", "retry": {"request_timeout_s": "inf"}}},
         "request_timeout_s: Input should be a finite number"),
        ({"model": {"min_clear_fraction": "nan"}},
         "model.min_clear_fraction: Input should be a finite number"),
        ({"schedule": {"catch_up_days": 1000000}},
         "schedule.catch_up_days: Input should be less than or equal to 366"),
        ({"schedule": {"misfire_grace_s": 10**14}},
         "schedule.misfire_grace_s: Input should be less than or equal to 604800"),
        # found in review: the trigger's model and keep_rasters_days were left out
        ({"trigger": {"backscatter_db": "inf"}},
         "trigger.backscatter_db: Input should be a finite number"),
        ({"quicklooks": {"keep_rasters_days": 1000000}},
         "quicklooks.keep_rasters_days: Input should be less than or equal to 36600"),
    ],
)  # fmt: skip
def test_durations_and_numbers_past_any_use_are_refused_by_field(
    section: dict[str, Any], expected: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a config audit: `.inf` loaded in every float (smtplib's and requests' timeouts
    then raised OverflowError at each delivery, the scheduler's lock at SIGTERM), NaN was told
    "should be less than 1", catch_up_days 1000000 overflowed the scheduler's dates and a
    misfire_grace_s of 1e14 APScheduler's time span at every fire."""
    data = _data(manifest)
    for key, value in section.items():
        data[key] = {**data.get(key, {}), **value}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert expected in str(info.value)


def test_a_value_of_the_wrong_shape_is_told_the_yaml_to_write(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a survey's walk: pydantic's words, "Input should be a valid tuple" (`storms:
    2024-08-17`), "a valid list" (one e-mail address, `regions:` left empty), "a valid
    dictionary or instance of AlertSettings" (alerts as a list), "Input tag 'Monitoring' found
    using 'mode' does not match any of the expected tags"."""
    data = _data(manifest, windows={"mode": "Monitoring"})
    data["regions"][0]["alerts"] = {"email": "duty@example.org"}
    data["source"] = {"type": "archive", "path": "data",
                      "simulation": {"start": "2024-05-01", "end": "2024-10-01",
                                     "storms": "2024-08-17"}}  # fmt: skip
    data["schedule"] = ["0 6 * * *"]
    said = _said(write_config(data))
    listed = "expected a list ([a, b], or one '- item' a line under it), got"
    assert said == {
        f"source.simulation.storms: {listed} the text '2024-08-17'",
        f"regions[0].alerts.email: {listed} the text 'duty@example.org'",
        "regions[0].windows.mode: 'Monitoring' is none of 'monitoring', 'event' (written as "
        "shown: the case matters)",
        "schedule: expected a section (its fields as 'key: value' lines indented under it), got "
        "a list",
    }
    with pytest.raises(ConfigError) as info:
        load_config(write_config("regions:\n", name="empty.yaml"))
    assert info.value.problems == [f"line 1: regions: {listed} nothing (an empty value)"]


def test_a_section_left_empty_is_its_defaults(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a config audit: `alerts:` with every line under it commented out (YAML's null)
    was "Input should be a valid dictionary or instance of AlertSettings", as were `trigger`,
    `schedule`, `dask`, `dataset` and a region's `masks` and `windows`, while `source`,
    `model`, `inventory` and `quicklooks` were their defaults."""
    region = "\n".join(
        ["  - name: r1", f"    geometry: {json.dumps(SQUARE)}", "    masks:", "    windows:"]
    )
    sections = "".join(f"{name}:\n  # commented out\n" for name in
                       ("trigger", "alerts", "schedule", "dask", "dataset"))  # fmt: skip
    path = write_config(f"regions:\n{region}\nmodel:\n  manifest: {manifest}\n{sections}")
    config = load_config(path)
    defaults = load_config(write_config(_data(manifest), name="plain.yaml"))
    for name in ("trigger", "alerts", "schedule", "dask", "dataset"):
        assert getattr(config, name) == getattr(defaults, name)
    assert config.regions[0].masks == defaults.regions[0].masks
    assert config.regions[0].windows == defaults.regions[0].windows


def test_a_path_with_a_nul_or_an_inventory_that_is_a_folder_is_named_by_field(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found in a config audit: a NUL character in base_dir or a path was "ValueError:
    embedded null byte" without a field (exit 1), and an inventory path naming a folder was
    told by the first run, without the field, after the other problems went unreported."""
    data = {**_data(manifest), "inventory": {"path": "inv\0.gpkg"}}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert info.value.problems == [
        "line 19: inventory.path: 'inv\\x00.gpkg' holds a NUL character (\\0), which no path can "
        "hold"
    ]
    with pytest.raises(ConfigError) as info:
        load_config(write_config({**_data(manifest), "base_dir": "a\0b"}))
    assert info.value.problems == [
        "base_dir: 'a\\x00b' holds a NUL character (\\0), which no path can hold"
    ]
    with pytest.raises(ConfigError) as info:
        load_config(write_config({**_data(manifest), "inventory": {"path": str(tmp_path)}}))
    assert info.value.problems == [
        f"line 19: inventory.path: {tmp_path} is a folder; name the inventory's GeoPackage file "
        f"(e.g. {tmp_path / 'inventory.gpkg'})"
    ]


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("event_date", "1900-01-01", "1900-01-01 is before Sentinel-1's first scenes (2014-10-03"),
        ("event_date", "2999-01-01", "2999-01-01 is in the future: event_date is the day of a"),
        ("start", 0, "0 is a number, read as seconds since 1970, not a date: write it as"),
        ("start", 20240301, "20240301 is a number, read as seconds since 1970, not a date: "
         "write it as YYYY-MM-DD (2024-03-01)"),
        ("end", "01/11/2024", "'01/11/2024' is not a date of the form YYYY-MM-DD"),
        ("storms", ["2024-08-17T10:00:00"], "2024-08-17T10:00:00 has a time of day: write the day"),
    ],
)  # fmt: skip
def test_every_day_of_the_file_is_read_alike(
    field: str, value: Any, expected: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a config audit: the checks of event_date's form were not those of the archive
    simulation's days (`start: 0` loaded as 1970-01-01, 20240301 was pydantic's "Datetimes
    provided to dates should have zero time"), and an event_date of 1900 or 2999 loaded, every
    run of the region then "no data"."""
    data = _data(manifest)
    if field == "event_date":
        data["regions"][0]["windows"] = {"event_date": value}
    else:
        simulation = {"start": "2024-03-01", "end": "2024-11-01", field: value}
        data["source"] = {"type": "archive", "path": "archive", "simulation": simulation}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("simulation", "expected"),
    [
        (
            {"landscape": "alpine", "seed": 1, "family": "alpine/mountain/landslide"},
            "unknown family 'alpine/mountain/landslide'",
        ),
        (
            {"landscape": "alpine", "seed": 1, "family": "forested_mountains/forestry/rockfall"},
            "family 'forested_mountains/forestry/rockfall' is of landscape "
            "'forested_mountains', not the simulation's 'alpine'",
        ),
    ],
)
def test_a_simulated_family_is_checked_when_the_file_loads(
    simulation: dict[str, Any], expected: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found walking the carried items: an unknown family, or one of another landscape, failed
    `archive build` after the other regions had been built."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, simulation=simulation)))
    assert "regions[0].simulation" in str(info.value)
    assert expected in str(info.value)
    good = {"landscape": "alpine", "seed": 1, "family": "alpine/mountain/rockfall"}
    loaded = load_config(write_config(_data(manifest, simulation=good), name="good.yaml"))
    assert loaded.regions[0].simulation is not None
    assert loaded.regions[0].simulation.family == "alpine/mountain/rockfall"


@pytest.mark.parametrize("written", ["dd.mm.yyyy", "%d.%m", "%Q"])
def test_a_date_format_that_gives_no_day_back_is_refused(
    written: str, write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found walking the carried items: a date_format without directives matched no date and
    one without a year dated every item in 1900; `dataset export` then skipped every item as
    undated."""
    data = {**_data(manifest), "dataset": {"date_format": written}}
    with pytest.raises(ConfigError) as info:
        load_config(write_config(data))
    assert f"dataset.date_format: {written!r} does not give a day back" in str(info.value)
    # with a time and a zone too (found in a review: %z failed a round trip of a date alone)
    for good in ("%d.%m.%Y", "%m/%d/%Y %H:%M", "%y%m%d", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %Z"):
        data = {**_data(manifest), "dataset": {"date_format": good}}
        assert load_config(write_config(data, name="good.yaml")).dataset.date_format == good


def test_a_region_file_another_program_is_writing_is_named_with_what_to_do(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in a survey's walk: a region GeoPackage that QGIS was saving read as GDAL's SQL
    (``sqlite3_prepare_v2(SELECT COUNT(*) FROM sqlite_master ...) failed: database is
    locked``). GDAL's words stand in here: a lock held by another process makes GDAL wait 10 s
    first (checked by hand, 2026-12-07)."""
    import pyogrio
    from pyogrio.errors import DataSourceError

    folder = tmp_path / "regions"
    folder.mkdir()
    gpd.GeoDataFrame(geometry=[REGION_POLYGON], crs="EPSG:4326").to_file(folder / "r.gpkg")

    def locked(*_: object, **__: object) -> None:
        raise DataSourceError(
            "sqlite3_prepare_v2(SELECT COUNT(*) FROM sqlite_master WHERE name IN "
            "('gpkg_metadata')) failed: database is locked"
        )

    monkeypatch.setattr(pyogrio, "list_layers", locked)
    with pytest.raises(ConfigError) as info:
        load_config(write_config(_data(manifest, geometry="regions/r.gpkg")))
    (problem,) = info.value.problems
    assert problem.endswith(
        f"region file {folder / 'r.gpkg'} is locked by another program writing it (a QGIS edit "
        "session, an sqlite3 shell, a monitor on another machine sharing the file) for longer "
        "than this command waits; nothing was changed: save or close that program's edits and "
        "run again"
    )


def test_feature_takes_one_area_of_a_file_of_several(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """Found in a survey's walk: its areas of interest were one GeoPackage of 15 features with
    a name column, and a region could only take all of them, merged (two areas 0.5° apart made
    one region whose grid was 70 times its polygons)."""
    from shapely.affinity import translate

    folder = tmp_path / "regions"
    folder.mkdir()
    far = translate(REGION_POLYGON, xoff=0.5)
    areas = gpd.GeoDataFrame(
        {"NOME": ["valle", "cresta", None], "code": [7, 8, None]},
        geometry=[REGION_POLYGON, far, translate(REGION_POLYGON, yoff=0.5)], crs="EPSG:4326",
    )  # fmt: skip
    areas.to_file(folder / "areas.gpkg")  # an empty cell: the codes are read as floats
    config = load_config(write_config(_data(manifest, geometry="regions/areas.gpkg",
                                            feature={"NOME": "cresta"})))  # fmt: skip
    assert config.regions[0].geometry.equals_exact(far, 1e-9)
    # a number is compared as text: a column read as numbers (7.0, with an empty cell) is
    # found by its digits, given as text or as a number
    for code in ("7", 7):
        config = load_config(write_config(_data(manifest, geometry="regions/areas.gpkg",
                                                feature={"code": code})))  # fmt: skip
        assert config.regions[0].geometry.equals_exact(REGION_POLYGON, 1e-9)
    # unset: all the file's features, merged, as before
    config = load_config(write_config(_data(manifest, geometry="regions/areas.gpkg")))
    assert config.regions[0].geometry.area == pytest.approx(3 * REGION_POLYGON.area)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"geometry": "regions/areas.gpkg", "feature": {"NAME": "cresta"}},
            "has no attribute 'NAME' (its attributes: NOME, code): correct the region's `feature`",
        ),
        (
            {"geometry": "regions/areas.gpkg", "feature": {"NOME": "Cresta"}},
            "has no feature whose NOME is 'Cresta' (its values: cresta, valle): correct the "
            "region's `feature`",  # the empty cell no value, nor a traceback (found in review)
        ),
        (
            {"geometry": "regions/areas.gpkg", "feature": {"NOME": "cresta", "code": 8}},
            "give one attribute and its value ({COLUMN: VALUE}), not 2",
        ),
        (  # beside inline GeoJSON it would be ignored
            {"feature": {"NOME": "cresta"}},
            "`feature: {'NOME': 'cresta'}` chooses from a region file, but this geometry is "
            "inline GeoJSON: drop `feature`, or give the file's path",
        ),
    ]
    for region, said in cases:
        with pytest.raises(ConfigError) as info:
            load_config(write_config(_data(manifest, **region)))
        assert any(p.endswith(said) for p in info.value.problems), info.value.problems


def test_x_keys_hold_what_anchors_share_and_are_not_read(
    write_config: Callable[..., Path], manifest: Path
) -> None:
    """Found in a survey's walk: a holder of shared settings (`x-defaults: &defaults`, as in
    Compose files) was refused as an unknown field; merge keys already worked."""
    text = (
        "x-defaults: &defaults\n  filter_cut: 0.3\n  masks: {min_slope_deg: 8}\n"
        f"model: {{manifest: {manifest}}}\n"
        "regions:\n"
        f"  - <<: *defaults\n    name: valley\n    geometry: {json.dumps(SQUARE)}\n"
        f"  - <<: *defaults\n    name: ridge\n    geometry: {json.dumps(SQUARE)}\n"
        "    filter_cut: 0.2\n"
    )
    valley, ridge = load_config(write_config(text)).regions
    assert (valley.filter_cut, ridge.filter_cut) == (0.3, 0.2)  # a region's own field wins
    assert valley.masks.min_slope_deg == ridge.masks.min_slope_deg == 8
    # a key given twice under it is still found
    twice = text.replace("  filter_cut: 0.3\n", "  filter_cut: 0.3\n  filter_cut: 0.4\n")
    with pytest.raises(ConfigError, match=r"x-defaults\.filter_cut: field given twice"):
        load_config(write_config(twice, name="twice.yaml"))
