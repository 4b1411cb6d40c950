"""``python -m models extend``: a grid ensemble's members trained on from their weights, their
epochs counting on, the average of the last epochs kept (or the best epoch), the saved weights
kept when the average or no later epoch beats them, K and thresholds chosen again, the lineage
recorded; refused without a grid's schedule or into the parent's folder."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import models.train as train_module
from models.cli import main
from models.datasets import Scene, read_folder, write_scene
from models.grid import load_grid, run_grid
from models.lineage import verify_lineage
from models.manifest import MemberEntry, load_member, read_manifest, sha256_file
from models.metrics import Confusion
from models.testing import tiny_grid
from models.train import Start, TrainConfig, TrainResult, train_member


@pytest.fixture
def grid_ensemble(tmp_path: Path, scene_factory: Callable[..., Scene]) -> Path:
    """A two-member S2 grid trained one epoch on train/ and chosen on val/ of ``tmp_path``."""
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(tmp_path / "data" / folder, scene_factory(seed, size=96))
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(tiny_grid("data/train", "data/val")))
    return run_grid(load_grid(grid_file), tmp_path / "work", tmp_path / "grid", progress=False)


def test_extend_trains_the_members_on_and_records_where_they_started(
    tmp_path: Path,
    grid_ensemble: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = read_manifest(grid_ensemble)

    def args(out: str) -> list[str]:
        return ["extend", "--manifest", str(grid_ensemble), "--data", str(tmp_path / "data"),
                "--work", str(tmp_path / "extend"), "--out", str(tmp_path / out), "--epochs",
                "2", "--average-last", "0", "--patience", "2", "-q"]  # fmt: skip

    assert main(args("more")) == 0
    written = Path(capsys.readouterr().out.strip())
    new = read_manifest(written)
    record = new.training["extended"]
    assert record["epochs"] == 2 and record["patience"] == 2 and record["average_last"] == 0
    assert record["parent_selection"] == parent.training["selection"]
    by_name = {m["name"]: m for m in record["members"]}
    assert set(by_name) == {m.name for m in parent.members}
    for entry in parent.members:
        m = by_name[entry.name]
        # the epochs count on from the one the saved weights are of: 1, then 2 and 3
        assert m["from_epoch"] == entry.epochs == 1
        assert m["epochs"] == 3 and m["best_epoch"] in (1, 2, 3)
        assert m["val_f1_before"] is not None  # the start's own epoch was scored
        assert "averaged" not in m
    for entry in new.members:
        assert entry.epochs == by_name[entry.name]["best_epoch"]
    # the parent's grid and candidates stay; the lineage names the parent and the data
    assert new.training["grid"] == parent.training["grid"]
    assert new.training["candidates"] == parent.training["candidates"]
    assert new.training["val_scenes"] == ["scene3"]
    lineage = verify_lineage(written)
    assert lineage.parent_sha256 == sha256_file(grid_ensemble) and lineage.method == "extend"

    # rerun: every member is finished in the work folder and reused, not trained again
    def no_training(*_args: object) -> float:
        raise AssertionError("a finished member was trained again")

    monkeypatch.setattr(train_module, "_train_epoch", no_training)
    assert main(args("again")) == 0
    again = read_manifest(Path(capsys.readouterr().out.strip()))
    assert [m.sha256 for m in again.members] == [m.sha256 for m in new.members]
    # into its own earlier --out: the replace that assemble_ensemble does (found in re-reading:
    # the fine-tune's check refused a folder whose manifest no fine-tune wrote, extend's too)
    assert main(args("more")) == 0
    assert Path(capsys.readouterr().out.strip()) == written
    # result.json is strict JSON: the start's epoch has no training loss, null rather than NaN
    for entry in parent.members:
        raw = (tmp_path / "extend" / entry.name / "result.json").read_text()
        assert "NaN" not in raw and json.loads(raw)["history"][0]["loss"] is None


@pytest.fixture
def worse_every_epoch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every validation after the first scores lower than the one before."""
    calls = iter(range(100))

    def falling(*_args: object, **_kwargs: object) -> Confusion:
        n = next(calls)
        return Confusion(tp=100 - 10 * n, fp=10 * n, fn=10 * n, tn=1000)

    monkeypatch.setattr(train_module, "evaluate_member", falling)
    yield


def _train_on_from_the_start(
    tmp_path: Path, grid_ensemble: Path, **schedule: Any
) -> tuple[MemberEntry, TrainResult]:
    """The grid's first member trained on from its weights with a tiny ``schedule``."""
    parent = read_manifest(grid_ensemble)
    entry = parent.members[0]
    data = tmp_path / "data"
    train, val = read_folder(data / "train"), read_folder(data / "val")
    spec = load_member(entry, grid_ensemble.parent).spec
    start = Start(grid_ensemble.parent / entry.file, entry.sha256, epoch=entry.epochs or 0)
    config = TrainConfig(crop=64, batch_size=2, iterations=3, val_tile=64, threads=1,
                         **schedule)  # fmt: skip
    return entry, train_member(spec, train, val, tmp_path / "w", config, progress=False,
                               start_from=start)  # fmt: skip


def test_a_member_keeps_its_saved_weights_when_no_later_epoch_beats_them(
    tmp_path: Path, grid_ensemble: Path, worse_every_epoch: None
) -> None:
    entry, result = _train_on_from_the_start(tmp_path, grid_ensemble, max_epochs=5, patience=2)
    # epoch 1 is the saved weights' (F1 1.0 here), 2 and 3 score lower: patience 2 stops it
    assert [h["epoch"] for h in result.history] == [1, 2, 3]
    assert result.best_epoch == 1 and result.epochs == 3
    assert result.sha256 == entry.sha256  # the very weights it started from
    assert result.config["start"] == {"sha256": entry.sha256, "epoch": 1}


@pytest.fixture
def better_every_epoch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every validation after the first scores higher than the one before."""
    calls = iter(range(100))

    def rising(*_args: object, **_kwargs: object) -> Confusion:
        n = next(calls)
        return Confusion(tp=10 + 10 * n, fp=100 - 5 * n, fn=100 - 5 * n, tn=1000)

    monkeypatch.setattr(train_module, "evaluate_member", rising)
    yield


def test_the_start_is_kept_when_the_average_scores_no_higher(
    tmp_path: Path, grid_ensemble: Path, worse_every_epoch: None
) -> None:
    entry, result = _train_on_from_the_start(
        tmp_path, grid_ensemble, max_epochs=4, patience=1, average_last=2
    )
    # every epoch trained despite patience 1 and falling scores: epochs are averaged, not chosen
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4]
    assert result.averaged is not None
    assert result.averaged["epochs"] == [3, 4] and result.averaged["kept"] is False
    assert result.averaged["val_f1"] < result.history[0]["val_f1"]
    assert result.best_epoch == 1 and result.sha256 == entry.sha256  # the start's very weights


def test_the_average_is_kept_when_it_scores_higher_than_the_start(
    tmp_path: Path, grid_ensemble: Path, better_every_epoch: None
) -> None:
    entry, result = _train_on_from_the_start(
        tmp_path, grid_ensemble, max_epochs=3, patience=1, average_last=2
    )
    assert result.averaged is not None and result.averaged["kept"] is True
    assert result.best_epoch == 3 and result.val_f1 == result.averaged["val_f1"]
    assert result.sha256 != entry.sha256


def test_an_average_longer_than_the_epochs_after_the_start_is_refused(
    tmp_path: Path, grid_ensemble: Path
) -> None:
    with pytest.raises(ValueError, match=r"average_last \(3\) is more than the epochs trained "
                       r"from epoch 1 to max_epochs \(3\)"):  # fmt: skip
        _train_on_from_the_start(tmp_path, grid_ensemble, max_epochs=3, average_last=3)
    assert not (tmp_path / "w").exists()


def test_extend_refuses_a_manifest_without_a_grid_schedule_and_the_parents_folder(
    tmp_path: Path, grid_ensemble: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["extend", "--data", str(tmp_path / "data"), "--work", str(tmp_path / "w"),
            "--epochs", "1"]  # fmt: skip
    # into the parent's folder: the new weights keep the parent's file names
    assert main([*base, "--manifest", str(grid_ensemble), "--out", str(grid_ensemble.parent)]) == 2
    assert "is the parent manifest's folder" in capsys.readouterr().err
    # a manifest of imported or fine-tuned members records no grid schedule
    raw = json.loads(grid_ensemble.read_text())
    del raw["training"]["grid"]
    bare = tmp_path / "grid" / "bare.json"
    bare.write_text(json.dumps(raw))
    assert main([*base, "--manifest", str(bare), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no training.grid.train" in err and str(bare) in err
    assert not (tmp_path / "o" / "manifest.json").exists()
    assert main([*base, "--manifest", str(grid_ensemble), "--out", str(tmp_path / "o"),
                 "--epochs", "0"]) == 2  # fmt: skip
    assert capsys.readouterr().err == "error: epochs must be at least 1, got 0\n"


def test_extend_in_worker_processes_starts_from_the_weights_too(
    tmp_path: Path, grid_ensemble: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two members at once, each in its own process: the same start, the same weights as one
    at a time (a worker that trained from scratch would count epochs from 0)."""
    sha: dict[str, list[str]] = {}
    for workers in ("1", "2"):
        work, out = tmp_path / f"w{workers}", tmp_path / f"o{workers}"
        assert main(["extend", "--manifest", str(grid_ensemble), "--data", str(tmp_path / "data"),
                     "--work", str(work), "--out", str(out), "--epochs", "1", "--workers",
                     workers, "-q"]) == 0  # fmt: skip
        new = read_manifest(Path(capsys.readouterr().out.strip()))
        assert [m["epochs"] for m in new.training["extended"]["members"]] == [2, 2]
        sha[workers] = sorted(m.sha256 for m in new.members)
    assert sha["1"] == sha["2"]


def test_extend_refuses_a_grids_work_folder_a_bad_k_and_a_bad_device_before_training(
    tmp_path: Path,
    grid_ensemble: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_training(*_args: object) -> float:
        raise AssertionError("trained before the input was checked")

    monkeypatch.setattr(train_module, "_train_epoch", no_training)
    base = ["extend", "--data", str(tmp_path / "data"), "--epochs", "1",
            "--out", str(tmp_path / "o")]  # fmt: skip
    # the grid's own work folder: its results would be replaced by the extended ones
    grid_work = tmp_path / "work"
    results = sorted(p.read_bytes() for p in grid_work.glob("*/result.json"))
    assert main([*base, "--manifest", str(grid_ensemble), "--work", str(grid_work)]) == 2
    err = capsys.readouterr().err
    assert "trained from scratch" in err and str(grid_work) in err
    assert sorted(p.read_bytes() for p in grid_work.glob("*/result.json")) == results
    # a K that is no whole number, named with the manifest
    raw = json.loads(grid_ensemble.read_text())
    raw["training"]["grid"]["k"] = "x"
    bad_k = tmp_path / "grid" / "bad_k.json"
    bad_k.write_text(json.dumps(raw))
    assert main([*base, "--manifest", str(bad_k), "--work", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {bad_k}: invalid training.grid: ") and "\nk\n" in err
    # a device that is none: refused here, not in a worker
    assert main([*base, "--manifest", str(grid_ensemble), "--work", str(tmp_path / "w"),
                 "--device", "abacus", "--workers", "2"]) == 2  # fmt: skip
    assert "'abacus' is not a torch device" in capsys.readouterr().err
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_extend_runs_the_members_with_the_grids_threads(
    tmp_path: Path, grid_ensemble: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The grid's `threads: 1` holds unless --threads is given (it was replaced by torch's
    default, which oversubscribes a CPU running members side by side)."""
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    assert main(["extend", "--manifest", str(grid_ensemble), "--data", str(tmp_path / "data"),
                 "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"), "--epochs", "1",
                 "-q"]) == 0  # fmt: skip
    assert calls and set(calls) == {1}


def test_extend_trains_as_many_members_at_once_as_the_grid_unless_given(
    tmp_path: Path, grid_ensemble: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.extend as extend_module

    asked: list[int] = []

    def record(*args: object, **_kwargs: object) -> list[object]:
        asked.append(args[4])  # type: ignore[arg-type]
        raise KeyboardInterrupt  # stop before training

    monkeypatch.setattr(extend_module, "train_members", record)
    raw = json.loads(grid_ensemble.read_text())
    raw["training"]["grid"]["workers"] = 3
    three = tmp_path / "grid" / "three.json"
    three.write_text(json.dumps(raw))
    for extra in ([], ["--workers", "1"]):  # stopped as by Ctrl-C: status 130
        assert main(["extend", "--manifest", str(three), "--data", str(tmp_path / "data"),
                     "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"), "--epochs",
                     "1", *extra]) == 130  # fmt: skip
    assert asked == [3, 1]


def test_extend_averages_the_last_third_of_the_epochs_by_default(
    tmp_path: Path, grid_ensemble: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = read_manifest(grid_ensemble)
    assert main(["extend", "--manifest", str(grid_ensemble), "--data", str(tmp_path / "data"),
                 "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"), "--epochs", "3",
                 "-q"]) == 0  # fmt: skip
    new = read_manifest(Path(capsys.readouterr().out.strip()))
    record = new.training["extended"]
    assert record["average_last"] == 1 and record["patience"] is None
    by_name = {m["name"]: m for m in record["members"]}
    for entry in parent.members:
        m = by_name[entry.name]
        # epochs 2-4 all trained (no early stopping), the last one "averaged"
        assert m["epochs"] == 4 and m["averaged"]["epochs"] == [4, 4]
        # kept: trained on to epoch 4; not kept: the start's weights and epoch
        want = (4, m["averaged"]["val_f1"]) if m["averaged"]["kept"] else (1, m["val_f1_before"])
        assert (m["best_epoch"], m["val_f1"]) == want
        result = json.loads((tmp_path / "w" / entry.name / "result.json").read_text())
        assert result["config"]["average_last"] == 1
        assert [h["epoch"] for h in result["history"]] == [1, 2, 3, 4]


def test_extend_refuses_patience_beside_an_average_and_an_average_of_too_many_epochs(
    tmp_path: Path, grid_ensemble: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["extend", "--manifest", str(grid_ensemble), "--data", str(tmp_path / "data"),
            "--work", str(tmp_path / "w"), "--out", str(tmp_path / "o"),
            "--epochs", "3"]  # fmt: skip
    assert main([*base, "--patience", "2"]) == 2
    assert "give --average-last 0 to keep the best epoch" in capsys.readouterr().err
    assert main([*base, "--average-last", "4"]) == 2
    assert capsys.readouterr().err == "error: average_last must lie in 0..epochs (3), got 4\n"
    # the schedule's own check of patience (TrainConfig), not a second copy of it in extend
    assert main([*base, "--average-last", "0", "--patience", "0"]) == 2
    assert capsys.readouterr().err == "error: patience must be at least 1, got 0\n"
    assert not (tmp_path / "w").exists()
