"""The grid end to end: ``run_grid`` trains a YAML grid from Ganerød-layout folders and writes
the ensemble; ``python -m models select`` on the same work folder writes the same one."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from models.cli import main
from models.datasets import Scene, write_scene
from models.grid import load_grid, run_grid
from models.manifest import read_manifest
from models.testing import TEST_ENCODER, tiny_grid


def test_models_select_rebuilds_the_ensemble_run_grid_wrote(
    tmp_path: Path,
    scene_factory: Callable[..., Scene],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(tmp_path / folder, scene_factory(seed, size=96))
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(tiny_grid("train", "val")))
    grid = load_grid(grid_file)
    first = run_grid(grid, tmp_path / "work", tmp_path / "ens", progress=False)
    assert json.loads((tmp_path / "work" / "candidates.json").read_text())[0]["setting"] == "S2"

    status = main(["select", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
                   "--out", str(tmp_path / "again")])  # fmt: skip
    assert status == 0
    second = Path(capsys.readouterr().out.strip())
    a, b = read_manifest(first), read_manifest(second)
    assert a.settings == b.settings
    assert [m.sha256 for m in a.members] == [m.sha256 for m in b.members]
    # the same K scan: validation tiles of the grid's val_tile (64 px, smaller than the scenes)
    assert a.training["selection"] == b.training["selection"]
    assert b.training["val_scenes"] == a.training["val_scenes"] == ["scene3"]
    assert "train_scenes" not in b.training and a.training["train_scenes"] == ["scene1", "scene2"]
    assert b.training["grid"] == a.training["grid"]
    assert "without_bands" not in a.training["grid"]  # recorded as before the option existed
    # found by a reviewer: --k 0 was read as the grid's k (`k or grid.k`), -1 was refused
    for k in ("0", "-1"):
        assert main(["select", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
                     "--out", str(tmp_path / f"k{k}"), "--k", k]) == 2  # fmt: skip
        assert capsys.readouterr().err == f"error: k must be at least 1, got {k}\n"
        assert not (tmp_path / f"k{k}" / "manifest.json").exists()

    # select into the folder of an ensemble with an object filter (found on a walk: the weights
    # of members no longer chosen stayed beside the new ones, and nothing said the filter was
    # gone). The same members again keep their filter (found in review: it was deleted, with
    # the reviewed candidates of its table); other members get none, said in the log, and the
    # old weights go; the filter's files and other files stay
    ens = first.parent
    table = {"object_filter.onnx": b"a filter", "object_filter_candidates.npz": b"reviews"}
    for name, content in table.items():
        (ens / name).write_bytes(content)
    data = json.loads(first.read_text())
    data["object_filter"] = {
        "file": "object_filter.onnx",
        "sha256": hashlib.sha256(b"a filter").hexdigest(),
        "features": ["log_area"],
        "cut": 0.2,
        "candidates": "object_filter_candidates.npz",
        "candidates_sha256": hashlib.sha256(b"reviews").hexdigest(),
    }
    first.write_text(json.dumps(data))
    (ens / "notes.txt").write_text("the operator's own file")
    before = sorted(m.file for m in a.members)
    assert len(before) == 2 and all((ens / f).is_file() for f in before)
    argv = ["select", "--grid", str(grid_file), "--work", str(tmp_path / "work"), "--out", str(ens)]
    assert main(argv) == 0
    again = read_manifest(first)
    assert again.object_filter is not None and again.object_filter.cut == 0.2
    assert sorted(p.name for p in ens.iterdir()) == sorted(
        ["manifest.json", *before, *table, "notes.txt"]
    )
    with caplog.at_level(logging.INFO, logger="models.selection"):
        assert main([*argv, "--k", "1"]) == 0
    records = [r.getMessage() for r in caplog.records]
    replaced = read_manifest(first)
    (kept,) = replaced.members
    assert replaced.object_filter is None
    # the old filter's files renamed aside with the old ensemble's id (found in review: a
    # filter fitted on the new members, as the log advises, would overwrite its reviewed table)
    aside = [f"object_filter.{again.ensemble_id}.onnx",
             f"object_filter_candidates.{again.ensemble_id}.npz"]  # fmt: skip
    assert sorted(p.name for p in ens.iterdir()) == sorted(
        ["manifest.json", kept.file, *aside, "notes.txt"]
    )
    assert (ens / aside[1]).read_bytes() == b"reviews"
    assert any("fitted on other members' candidates" in r and aside[0] in r for r in records)
    assert sum("of the ensemble it replaced" in r for r in records) == 1


def test_select_ranks_members_on_the_folder_given_and_refuses_another_schedule(
    tmp_path: Path, scene_factory: Callable[..., Scene], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a walkthrough: `select --val DIR` chose K and the threshold on DIR but ranked
    the members by the F1 of the training's validation folder, which the manifest recorded
    beside DIR's scenes; and a grid of another schedule selected the members of the first
    without a word, its schedule recorded as theirs."""
    from models.selection import _load_result
    from models.train import evaluate_member

    for folder, seeds in (("train", (1, 2)), ("val", (3,)), ("other", (4, 5))):
        for seed in seeds:
            write_scene(tmp_path / folder, scene_factory(seed, size=96))
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(tiny_grid("train", "val")))
    grid = load_grid(grid_file)
    first = run_grid(grid, tmp_path / "work", tmp_path / "ens", progress=False)
    argv = ["select", "--grid", str(grid_file), "--work", str(tmp_path / "work")]
    assert main([*argv, "--out", str(tmp_path / "on-other"), "--val", str(tmp_path / "other")]) == 0
    manifest = read_manifest(Path(capsys.readouterr().out.strip()))
    assert manifest.training["val_scenes"] == ["scene4", "scene5"]
    from models.datasets import read_folder
    from models.grid import trained_results

    other = read_folder(tmp_path / "other")
    f1 = {
        r.spec.name: evaluate_member(_load_result(r), other, "S2", threshold=0.5, tile=64).f1
        for r in trained_results(grid, tmp_path / "work")
    }
    assert {row["name"]: row["val_f1"] for row in manifest.training["candidates"]} == {
        name: round(v, 4) for name, v in f1.items()
    }
    ranked = sorted(f1, key=lambda name: (-f1[name], name))
    assert manifest.training["selection"]["S2"]["candidates"] == ranked
    assert {m.name: m.val_f1 for m in manifest.members} == {m: f1[m] for m in ranked[: len(
        manifest.members)]}  # fmt: skip
    assert read_manifest(first).training["candidates"] != manifest.training["candidates"]
    # the training's own folder (named relative, through ..): scored again, the F1 training
    # recorded, as run_grid wrote them
    again = ["--out", str(tmp_path / "on-val"), "--val", str(tmp_path / "work" / ".." / "val")]
    assert main([*argv, *again]) == 0
    same = read_manifest(Path(capsys.readouterr().out.strip()))
    assert same.training["candidates"] == read_manifest(first).training["candidates"]
    assert same.training["selection"] == read_manifest(first).training["selection"]
    # another schedule than the members'
    longer = tiny_grid("train", "val")
    longer["train"] = {**longer["train"], "iterations": 60, "max_epochs": 4}
    grid_file.write_text(yaml.safe_dump(longer))
    assert main([*argv, "--out", str(tmp_path / "longer")]) == 2
    assert capsys.readouterr().err.startswith(
        "error: 2 member(s) of the work folder were trained with another schedule than the "
        "grid's train (iterations, max_epochs differ): "
    )
    assert not (tmp_path / "longer").exists()


def test_models_select_without_trained_members_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit status 2, an argument to correct, as the CLI documents (found walking the layout:
    select and import-checkpoint ended these with status 1)."""
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump({"settings": ["S2"], "architectures": ["Unet"]}))
    (tmp_path / "val").mkdir()
    assert main(["select", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
                 "--val", str(tmp_path / "val"), "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    work = tmp_path / "work"
    assert capsys.readouterr().err == f"error: no trained member of the grid in {work}\n"
    assert main(["select", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
                 "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert "no validation folder: pass --val" in capsys.readouterr().err
    # a --work that is a file, or under one (found in a walkthrough: a traceback ending in
    # FileExistsError), as --out is
    (tmp_path / "f.txt").write_text("hi")
    for work, said in (
        (tmp_path / "f.txt", f"--work {tmp_path / 'f.txt'}: a file, not a folder"),
        (tmp_path / "f.txt" / "sub", f"--work {tmp_path / 'f.txt' / 'sub'}: {tmp_path / 'f.txt'} "
         "is a file, so nothing can be made under it"),
    ):  # fmt: skip
        assert main(["train", "--grid", str(grid_file), "--work", str(work),
                     "--out", str(tmp_path / "e")]) == 2  # fmt: skip
        assert capsys.readouterr().err == f"error: {said}\n"
    assert main(["import-checkpoint", str(tmp_path / "m.ckpt"),
                 "--manifest", str(tmp_path / "m.json")]) == 2  # fmt: skip
    # no statistics, and no such file: the file is said first (the statistics are asked for
    # once the checkpoint is read)
    assert f"{tmp_path / 'm.ckpt'}: cannot read checkpoint: No such file" in capsys.readouterr().err
    # both: --stats was used without a word (found in a walkthrough)
    with pytest.raises(SystemExit) as usage:
        main(["import-checkpoint", str(tmp_path / "m.ckpt"), "--manifest", str(tmp_path / "m.json"),
              "--stats", "s.csv", "--stats-from", "train"])  # fmt: skip
    assert usage.value.code == 2
    assert "argument --stats-from: not allowed with argument --stats" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"crop": 63}, "train.crop must be a positive multiple of 32, got 63"),
        ({"crop": 0}, "train.crop must be a positive multiple of 32, got 0"),
        ({"val_tile": 100}, "train.val_tile must be a positive multiple of 32, got 100"),
        ({"batch_size": 0}, "train.batch_size must be at least 1, got 0"),
        ({"iterations": 0}, "train.iterations must be at least 1, got 0"),
        ({"val_threshold": 1.0}, "train.val_threshold must lie in (0, 1), got 1.0"),
    ],
)
def test_a_grid_s_training_options_no_member_can_run_are_refused_naming_them(
    tmp_path: Path, train: dict[str, float], message: str
) -> None:
    """Found walking the training workflow: a grid's `train: {crop: 63}` or `{crop: 0}`
    trained at another side without a word (raised to the network's smallest), and a batch of
    0 stepped on nothing."""
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump({"settings": ["S2"], "train": train}))
    with pytest.raises(ValueError, match="invalid training grid") as refused:
        load_grid(grid_file)
    assert message in str(refused.value)


def test_train_with_workers_refuses_a_bad_data_folder_as_with_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a reviewer: `train --train /nonexistent --workers 2` ended in a traceback
    ("A process in the process pool was terminated abruptly ... rerun to resume"), exit 1, as
    the folders were first read in the workers' initializer; with `--workers 1` the same
    mistake is a line naming the folder, exit 2. A worker that cannot read them now raises
    the folder's error from its task, not from its initializer (which broke the pool).
    Neither leaves the work folder it made."""
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(
        yaml.safe_dump({"settings": ["S2"], "architectures": ["Unet", "Linknet"],
                        "losses": ["Dice"], "learning_rates": [0.01], "encoder": TEST_ENCODER})
    )  # fmt: skip
    missing = tmp_path / "nonexistent"
    argv = ["train", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
            "--out", str(tmp_path / "out"), "--train", str(missing),
            "--val", str(tmp_path / "val")]  # fmt: skip
    for workers in ("1", "2"):
        assert main([*argv, "--workers", workers, "-q"]) == 2, workers
        assert capsys.readouterr().err == (
            f"error: {missing}: no such folder (a Ganerød-layout folder of input/ and label/)\n"
        ), workers
        # nor the work folder it made (an empty one was left behind)
        assert not (tmp_path / "work").exists(), workers
    assert not (tmp_path / "out").exists()


def test_validation_scenes_without_a_landslide_are_refused_before_training(
    tmp_path: Path, scene_factory: Callable[..., Scene], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user's walk: validation labels all 0 (or 0/255 masks, 255 being the
    unknown class) trained the grid, chose K and a threshold of 0.05 on an F1 of 0 for every
    choice, and wrote an ensemble that flagged nearly every pixel (F1 0.11 on test scenes
    against 0.59), exit 0."""
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            scene = scene_factory(seed, size=96)
            if folder == "val":
                scene.label[:] = 0
            write_scene(tmp_path / folder, scene)
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(
        yaml.safe_dump({"settings": ["S2"], "architectures": ["Unet"], "losses": ["Dice"],
                        "learning_rates": [0.01], "encoder": TEST_ENCODER,
                        "data": {"train": "train", "val": "val"}})
    )  # fmt: skip
    argv = ["train", "--grid", str(grid_file), "--work", str(tmp_path / "work"),
            "--out", str(tmp_path / "out"), "-q"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: the validation scenes (1: scene3) hold no landslide pixel: K and the threshold "
        "are chosen by the F1 on them, which is 0 for every choice"
    )
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_a_grid_with_average_last_trains_every_epoch_and_keeps_the_average(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    """`train: {average_last: N}` in a grid: each member from scratch trains all its epochs
    (patience 1 would stop a best-epoch run) and keeps the mean of its last N."""
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(tmp_path / folder, scene_factory(seed, size=96))
    raw = tiny_grid("train", "val")
    raw["train"] = {**raw["train"], "max_epochs": 3, "patience": 1, "average_last": 2}
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(raw))
    manifest = read_manifest(run_grid(load_grid(grid_file), tmp_path / "work", tmp_path / "ens",
                                      progress=False))  # fmt: skip
    for entry in manifest.members:
        result = json.loads((tmp_path / "work" / entry.name / "result.json").read_text())
        assert [h["epoch"] for h in result["history"]] == [1, 2, 3]
        # from scratch the average has no start to lose to: always kept, as epoch 3
        assert result["averaged"]["epochs"] == [2, 3] and result["averaged"]["kept"] is True
        assert result["best_epoch"] == 3 and result["config"]["average_last"] == 2
        assert entry.epochs == 3


def test_more_workers_than_members_or_cores_start_as_many_as_can_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walk: `--workers 8` for 4 members on 2 cores said "(8 at once)" and took
    twice as long as 2 workers, without a word. The workers started are no more than the
    members; more than the cores is warned of, naming the cores."""
    import models.grid as grid

    started: list[int] = []

    def parallel(jobs: object, workdir: Path, train: object, val: object, n: int, start: float):
        started.append(n)
        return []

    monkeypatch.setattr(grid, "_train_parallel", parallel)
    monkeypatch.setattr(grid, "cpu_cores", lambda: 2)
    jobs = [("a", None, None)] * 4
    with caplog.at_level(logging.INFO, logger="models.grid"):
        grid.train_members(jobs, tmp_path, [], [], 8)  # type: ignore[arg-type]
    assert started == [4]
    assert f"training 4 members into {tmp_path} (4 at once)" in caplog.text
    assert "4 workers on 2 CPU cores: they take each other's time" in caplog.text
    assert "give --workers 2 or fewer" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="models.grid"):
        grid.train_members(jobs, tmp_path, [], [], 2)  # type: ignore[arg-type]
    assert started == [4, 2] and "CPU cores" not in caplog.text
