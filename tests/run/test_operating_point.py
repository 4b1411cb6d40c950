"""The operating point of a new ensemble at the recall of the one it would replace
(monitor.ops.operating_point): the cut chosen by hand on a small labelled case, the case where no
cut can match, and the cut written to the new manifest with its record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from models.chain_metrics import scene_objects
from models.ensemble import DEFAULT_MANIFEST
from models.manifest import read_manifest
from monitor.config import ModelSettings
from monitor.ops import operating_point as op
from monitor.ops.filter_fit import Candidates

PX = Affine(10.0, 0.0, 0.0, 0.0, -10.0, 200.0)  # 20 x 20 pixels of 10 m: 0.04 km²


def _label() -> np.ndarray:
    """Two landslides: A (rows 2-4, cols 2-4) and B (rows 12-14, cols 12-14)."""
    label = np.zeros((20, 20), np.uint8)
    label[2:5, 2:5] = 1
    label[12:15, 12:15] = 1
    return label


def _pixels(row: int, col: int, n: int = 3):  # a polygon over pixels (row..row+n, col..col+n)
    return box(col * 10.0, 200.0 - (row + n) * 10.0, (col + n) * 10.0, 200.0 - row * 10.0)


ON_A, ON_B = _pixels(2, 2), _pixels(12, 12)
OFF_1, OFF_2 = _pixels(2, 12), _pixels(12, 2)  # background


def _scenes(polygons: list) -> list:
    return [scene_objects("s1", _label(), PX, polygons)]


def test_the_highest_cut_that_finds_the_reference_landslides_is_chosen() -> None:
    # the reference keeps A (0.9) and one false object (0.5) at its cut 0.3: 1 of 2 found
    ref = _scenes([ON_A, OFF_1])
    ref_scores = [np.array([0.9, 0.5])]
    # the new chain: A 0.8, B 0.4, false objects 0.6 and 0.2; at the cut it carried (0.1) it
    # finds both landslides with two false objects
    new = _scenes([ON_A, ON_B, OFF_1, OFF_2])
    new_scores = [np.array([0.8, 0.4, 0.6, 0.2])]
    point = op.match_recall(ref, ref_scores, 0.3, new, new_scores, 0.1, false_alarm_budget=None)
    # by hand: one landslide must be found; every cut up to 0.80 keeps A, 0.81 keeps nothing
    assert point.matched and point.cut == pytest.approx(0.80) and point.highest == point.cut
    assert point.reference.recall_by_size["all"] == (1, 2) and point.reference.false_objects == 1
    assert point.new_at_own_cut.recall_by_size["all"] == (2, 2)
    assert point.new_at_own_cut.false_objects == 2
    assert point.new.recall_by_size["all"] == (1, 2) and point.new.false_objects == 0
    record = point.record()
    assert record["reference"] == {
        "landslides_found": 1,
        "landslides": 2,
        "false_objects": 1,
        "false_per_100km2": pytest.approx(100.0 / 0.04),
    }
    assert record["new"]["false_objects"] == 0 and record["new_cut"] == 0.1
    assert record["false_alarm_budget"] is None and record["rule"].startswith("highest cut")

    # the reference finding both: the new chain must keep B too, so the cut stops at 0.40
    both = op.match_recall(_scenes([ON_A, ON_B]), [np.array([0.9, 0.9])], 0.3, new, new_scores, 0.1)
    assert both.cut == pytest.approx(0.40) and both.new.false_objects == 1  # the 0.6 one
    # its budget (half of the reference's no false object) is 0: no matching cut keeps the
    # 0.6 one out, so the highest stays, said so
    assert both.within_budget is False and both.highest == both.cut
    table = op.format_record({**both.record(), "scenes": 1, "data": "left-out"})
    assert (
        table.endswith("no cut that finds as many keeps the false objects within the budget")
        and "| new, at the reference's recall or above | 0.40 | 2/2 | 1 | 2500.0 |" in table
    )
    assert point.within_budget is None  # the highest-cut rule applies no budget


def test_the_false_alarm_budget_buys_recall_below_the_highest_cut() -> None:
    """The default rule: of the cuts at the reference's recall (0 to 0.80 in the case above),
    the lowest whose false objects are at most the share of the reference's (1)."""
    ref, ref_scores = _scenes([ON_A, OFF_1]), [np.array([0.9, 0.5])]
    new = _scenes([ON_A, ON_B, OFF_1, OFF_2])
    new_scores = [np.array([0.8, 0.4, 0.6, 0.2])]
    # half of one false object: none may be kept, so the cut must pass the 0.6 one: 0.61
    half = op.match_recall(ref, ref_scores, 0.3, new, new_scores, 0.1)
    assert half.false_alarm_budget == op.FALSE_ALARM_BUDGET == 0.5
    assert half.cut == pytest.approx(0.61) and half.within_budget
    assert half.highest == pytest.approx(0.80)
    assert half.new.recall_by_size["all"] == (1, 2) and half.new.false_objects == 0
    # as many false objects as the reference: the cut falls to 0.21, past the 0.2 one, and
    # keeps B (0.4) too: one landslide more than the reference for its one false object
    whole = op.match_recall(ref, ref_scores, 0.3, new, new_scores, 0.1, false_alarm_budget=1.0)
    assert whole.cut == pytest.approx(0.21) and whole.within_budget
    assert whole.new.recall_by_size["all"] == (2, 2) and whole.new.false_objects == 1
    assert whole.record()["rule"] == (
        "of the cuts whose chain finds at least as many landslides as the reference's, the "
        "lowest with at most 1 times its false objects, else the highest"
    )
    assert whole.record()["highest_matching_cut"] == pytest.approx(0.80)
    with pytest.raises(ValueError, match="false_alarm_budget must lie in"):
        op.match_recall(ref, ref_scores, 0.3, new, new_scores, 0.1, false_alarm_budget=1.5)


def test_no_cut_matches_a_reference_that_finds_more() -> None:
    ref = _scenes([ON_A, ON_B])
    new = _scenes([ON_A, OFF_1])
    point = op.match_recall(ref, [np.array([0.9, 0.9])], 0.5, new, [np.array([0.9, 0.9])], 0.5)
    assert not point.matched and point.cut == 0.0 and point.within_budget is None
    assert point.new.recall_by_size["all"] == (1, 2) and point.new.false_objects == 1
    # a reference that finds nothing leaves nothing to match: refused, not the highest cut
    with pytest.raises(ValueError, match="finds no labelled landslide"):
        op.match_recall(_scenes([OFF_1]), [np.array([0.9])], 0.5, new, [np.array([0.9, 0.9])], 0.5)
    with pytest.raises(ValueError, match=r"only the reference ran on \['s1'\], only the new"):
        op.match_recall(
            ref, [np.array([0.9, 0.9])], 0.5,
            [scene_objects("other", _label(), PX, [ON_A])], [np.array([0.9])], 0.5,
        )  # fmt: skip


def test_write_sets_the_cut_and_keeps_the_record(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    new_manifest = tmp_path / "new" / "manifest.json"
    new_manifest.parent.mkdir()
    shutil.copy(DEFAULT_MANIFEST, new_manifest)  # the members' files are not read here
    data = tmp_path / "left-out"
    (data / "input").mkdir(parents=True)
    (data / "label").mkdir()
    (data / "label" / "s1_label.tif").write_bytes(b"a labelled scene")  # hashed only
    chains = {
        str(DEFAULT_MANIFEST): ([ON_A, OFF_1], [0.9, 0.5], 0.3),
        str(new_manifest): ([ON_A, ON_B, OFF_1, OFF_2], [0.8, 0.4, 0.6, 0.2], 0.1),
    }

    def fake_scored(manifest: Path, folders: list[Path]):
        assert folders == [data]
        polygons, scores, cut = chains[str(manifest)]
        found = Candidates(x=[np.zeros((len(polygons), 1), np.float32)], scenes=_scenes(polygons))
        return found, [np.array(scores)], cut

    monkeypatch.setattr(op, "_scored", fake_scored)
    parent_filter = read_manifest(new_manifest).object_filter
    assert parent_filter is not None
    assert op.main(
        ["--manifest", str(new_manifest), "--reference", str(DEFAULT_MANIFEST),
         "--data", str(data), "--write"]
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "| new, at the reference's recall or above | 0.61 | 1/2 | 0 | 0.0 |" in out
    assert "| reference, its cut | 0.30 | 1/2 | 1 | 2500.0 |" in out
    assert "(the highest cut that finds as many is 0.80)" in out
    entry = read_manifest(new_manifest).object_filter
    assert entry is not None and entry.cut == pytest.approx(0.61)
    assert entry.sha256 == parent_filter.sha256  # the classifier itself is unchanged
    (record,) = entry.fit["operating_points"]
    assert record["reference_manifest"] == str(DEFAULT_MANIFEST) and record["scenes"] == 1
    assert record["new_at_own_cut"]["false_objects"] == 2 and record["matched"] is True
    assert len(record["data_sha256"]) == 64 and record["engine"] == "auto"
    json.dumps(record)  # JSON-able, as the manifest holds it
    # --highest: the rule before 2026-12-05, recorded as such
    assert op.main(
        ["--manifest", str(new_manifest), "--reference", str(DEFAULT_MANIFEST),
         "--data", str(data), "--write", "--highest"]
    ) == 0  # fmt: skip
    assert (
        "| new, at the reference's recall or above | 0.80 | 1/2 | 0 | 0.0 |"
        in capsys.readouterr().out
    )
    entry = read_manifest(new_manifest).object_filter
    assert entry is not None and entry.cut == pytest.approx(0.80)
    assert [r["false_alarm_budget"] for r in entry.fit["operating_points"]] == [0.5, None]
    with pytest.raises(SystemExit):  # a share outside [0, 1] is refused, named
        op.main(["--manifest", str(new_manifest), "--reference", str(DEFAULT_MANIFEST),
                 "--data", str(data), "--false-alarm-budget", "2"])  # fmt: skip
    assert "--false-alarm-budget: 2.0 is not in [0, 1]" in capsys.readouterr().err

    # a new chain that cannot match the reference: nothing written (a cut of 0 would switch
    # the filter off), status 2
    chains[str(new_manifest)] = ([ON_B, OFF_1], [0.9, 0.9], 0.1)
    chains[str(DEFAULT_MANIFEST)] = ([ON_A, ON_B], [0.9, 0.9], 0.3)
    caplog.clear()
    assert op.main(
        ["--manifest", str(new_manifest), "--reference", str(DEFAULT_MANIFEST),
         "--data", str(data), "--write"]
    ) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "no cut matches the reference's recall" in err
    # said once, by the error (it was a warning and then the error, the same words twice)
    assert err.count("the manifest whose filter alone was refitted (step 3) instead") == 1
    assert "step 3" not in caplog.text
    assert read_manifest(new_manifest).object_filter == entry

    # a manifest without a filter has no cut to set: status 2, named
    bare = json.loads(DEFAULT_MANIFEST.read_text())
    bare.pop("object_filter")
    (tmp_path / "bare.json").write_text(json.dumps(bare))
    monkeypatch.undo()
    assert op.main(
        ["--manifest", str(tmp_path / "bare.json"), "--reference", str(DEFAULT_MANIFEST),
         "--data", str(data)]
    ) == 2  # fmt: skip
    assert "bare.json has no object filter" in capsys.readouterr().err


def test_scenes_of_from_reviews_are_warned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: the reviewed runs' scenes were taken without a word, though they
    label only what those runs drew (the docs say they will not do alone)."""
    data = tmp_path / "reviews"
    (data / "val" / "input").mkdir(parents=True)
    (data / "val" / "label").mkdir()
    (data / "val" / "label" / "s1_label.tif").write_bytes(b"a labelled scene")
    (data / "dataset.json").write_text(json.dumps({"command": "from-reviews"}))

    def fake_scored(manifest: Path, folders: list[Path]):
        found = Candidates(x=[np.zeros((2, 1), np.float32)], scenes=_scenes([ON_A, OFF_1]))
        return found, [np.array([0.9, 0.5])], 0.3

    monkeypatch.setattr(op, "_scored", fake_scored)
    op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, data)
    assert "scenes of `dataset from-reviews`: they label what the reviewed runs drew" in (
        caplog.text
    )
    caplog.clear()
    (data / "dataset.json").write_text(json.dumps({"command": "export"}))
    op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, data)
    assert "from-reviews" not in caplog.text


def test_a_dataset_export_root_gives_the_scenes_of_every_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an operator following step 7: `dataset export` of a left-out region put its
    scenes in train/ alone (one region, overlapping tiles: one group), and `--data data/left-out`
    stopped with 'no input/ folder, nor test/input or val/input'; with several regions it would
    have taken test/ alone. Neither manifest trained on a left-out region: every split counts."""
    data = tmp_path / "left-out"
    for split in ("train", "test"):
        (data / split / "input").mkdir(parents=True)
        (data / split / "label").mkdir()
        (data / split / "label" / f"{split}_label.tif").write_bytes(b"a labelled scene")
    (data / "dataset.json").write_text(json.dumps({"command": "export"}))
    seen: list[list[Path]] = []

    def fake_scored(manifest: Path, folders: list[Path]):
        seen.append(folders)
        found = Candidates(x=[np.zeros((2, 1), np.float32)], scenes=_scenes([ON_A, OFF_1]))
        return found, [np.array([0.9, 0.5])], 0.3

    monkeypatch.setattr(op, "_scored", fake_scored)
    record = op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, data)
    assert seen == [[data / "train", data / "test"]] * 2
    assert record["data"] == str(data) and len(record["data_sha256"]) == 64
    shutil.rmtree(data / "test")  # a single region's export: train/ alone
    seen.clear()
    op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, data)
    assert seen == [[data / "train"]] * 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(op.DatasetError, match="no input/ folder, nor train/, val/ or test/"):
        op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, tmp_path / "empty")
    # found in a walkthrough: a typo was told it held no input/ folder
    with pytest.raises(op.DatasetError, match=r"left-oot: no such folder$"):
        op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, tmp_path / "left-oot")


def test_both_chains_run_on_the_runs_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a walkthrough: labelled scenes cut to a region's outline come in many shapes,
    and the chain forced onto ONNX Runtime exported a graph per member and shape (about 2.5 s
    each); a run's default engine runs a stack of one small tile in torch. Both chains are
    run on it, and the record names it."""
    data = tmp_path / "labelled"
    (data / "input").mkdir(parents=True)
    (data / "label").mkdir()
    (data / "label" / "s1_label.tif").write_bytes(b"a labelled scene")  # hashed only
    engines: list[str] = []

    def recording_inputs(manifest: Path, engine: str = "onnxruntime") -> Any:
        engines.append(engine)
        object_filter = SimpleNamespace(cut=0.3, score=lambda x: np.full(len(x), 0.5))
        return (
            SimpleNamespace(object_filter=object_filter),
            SimpleNamespace(engine=engine),
            None,
        )

    def found(folders: list[Path], *args: Any, **kwargs: Any) -> Candidates:
        return Candidates(x=[np.zeros((2, 1), np.float32)], scenes=_scenes([ON_A, OFF_1]))

    monkeypatch.setattr(op, "chain_inputs", recording_inputs)
    monkeypatch.setattr(op, "collect", found)
    record = op.operating_point(DEFAULT_MANIFEST, DEFAULT_MANIFEST, data)
    assert engines == ["auto", "auto"] == [ModelSettings.model_fields["engine"].default] * 2
    assert record["engine"] == "auto"
