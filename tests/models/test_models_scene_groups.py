"""The groups of scenes the bootstrap resamples whole, read from what wrote the folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from models.datasets import DatasetError, provenance_path
from models.scene_groups import PROVENANCE, REGIONS, scene_groups


def _simulator_record(root: Path) -> None:
    """A ``dataset.json`` as monitor.simulator.training_data writes it beside its splits."""
    record = {
        "world": "randomised",
        "regions": {
            "test": ["test-1003-0000", "test-1003-0001"],
            "test_in": ["test_in-1004-0000"],
        },
        "scenes": {"test": ["..."]},
    }
    (root / "dataset.json").write_text(json.dumps(record))


def test_the_regions_of_the_simulators_record_group_a_regions_views(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _simulator_record(tmp_path)
    ids = [
        "test-1003-0000_20240518",
        "test-1003-0000_20240524_monitoring",
        "test-1003-0001_20240518",
        "test_in-1004-0000_20240824",  # "test" would not be its region, were there one
        "test-1003-0001_20240917_monitoring",
    ]
    with caplog.at_level(logging.WARNING, logger="models.scene_groups"):
        groups = scene_groups(tmp_path / "test", ids)
    assert groups.groups == (
        "test-1003-0000",
        "test-1003-0000",
        "test-1003-0001",
        "test_in-1004-0000",
        "test-1003-0001",
    )
    assert (groups.count, groups.sources, groups.ungrouped) == (3, (REGIONS,), ())
    assert groups.describe() == "3 groups of 5 scenes (from dataset.json regions)"
    assert not caplog.records
    # a scene of no recorded region is its own group, and said so
    with caplog.at_level(logging.WARNING, logger="models.scene_groups"):
        odd = scene_groups(tmp_path / "test", [*ids, "elsewhere_20240518"])
    assert odd.count == 4 and odd.ungrouped == ("elsewhere_20240518",)
    assert "1 of 6 scenes record no group" in caplog.text and "elsewhere_20240518" in caplog.text
    assert "1 scene(s) record no group and are resampled each on its own" in odd.describe()


def test_a_provenance_records_group_comes_first(tmp_path: Path) -> None:
    # `dataset export`: the record of every scene names its split group (events whose tiles
    # overlap share one); the folder's dataset.json maps groups to splits, not scenes
    folder = tmp_path / "test"
    folder.mkdir()
    (tmp_path / "dataset.json").write_text(json.dumps({"groups": {"glc-101": "test"}}))
    for scene_id, group in (("a_glc-101", "glc-101"), ("b_glc-102", "glc-101"), ("c", "x-7")):
        path = provenance_path(folder, scene_id)
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"scene": scene_id, "group": group}))
    groups = scene_groups(folder, ["a_glc-101", "b_glc-102", "c"])
    assert groups.groups == ("glc-101", "glc-101", "x-7") and groups.sources == (PROVENANCE,)
    assert groups.to_dict() == {
        "description": f"2 groups of 3 scenes (from {PROVENANCE})",
        "groups": 2,
        "scenes": 3,
        "sources": [PROVENANCE],
        "ungrouped": [],
    }


def test_without_a_record_every_scene_is_its_own_group(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a folder of the Ganerød et al. layout from elsewhere: nothing says which scenes share
    # landslides; the id is not guessed at
    with caplog.at_level(logging.WARNING, logger="models.scene_groups"):
        groups = scene_groups(tmp_path, ["r1_20240518", "r1_20240524_monitoring"])
    assert groups.count == 2 and groups.sources == ()
    assert groups.ungrouped == ("r1_20240518", "r1_20240524_monitoring")
    assert "2 of 2 scenes record no group" in caplog.text
    assert groups.describe().startswith("2 groups of 2 scenes (from nothing recorded); 2 scene")


def test_an_unreadable_record_is_named(tmp_path: Path) -> None:
    (tmp_path / "dataset.json").write_text(json.dumps({"regions": ["r1", "r2"]}))
    with pytest.raises(DatasetError, match=r"dataset.json: 'regions' is not a table of split"):
        scene_groups(tmp_path, ["r1_20240518"])
    broken = provenance_path(tmp_path, "r1_20240518")
    broken.parent.mkdir()
    broken.write_text("{")
    with pytest.raises(DatasetError, match=r"r1_20240518.json: cannot read the record"):
        scene_groups(tmp_path, ["r1_20240518"])
