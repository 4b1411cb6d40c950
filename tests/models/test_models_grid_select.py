"""The grid end to end: ``run_grid`` trains a YAML grid from Ganerød-layout folders and writes
the ensemble; ``python -m models select`` on the same work folder writes the same one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from models.cli import main
from models.datasets import Scene, write_scene
from models.grid import load_grid, run_grid
from models.manifest import read_manifest
from models.testing import TEST_ENCODER


def test_models_select_rebuilds_the_ensemble_run_grid_wrote(
    tmp_path: Path, scene_factory: Callable[..., Scene], capsys: pytest.CaptureFixture[str]
) -> None:
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(tmp_path / folder, scene_factory(seed, size=96))
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(
        yaml.safe_dump(
            {
                "settings": ["S2"],
                "architectures": ["Unet", "Linknet"],
                "losses": ["Dice"],
                "learning_rates": [0.01],
                "encoder": TEST_ENCODER,
                "decoders": "compact",
                "k": 2,
                "train": {"crop": 64, "batch_size": 2, "iterations": 3, "max_epochs": 1,
                          "patience": 1, "val_tile": 64, "threads": 1},
                "data": {"train": "train", "val": "val"},
            }
        )
    )  # fmt: skip
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
    assert main(["import-checkpoint", str(tmp_path / "m.ckpt"),
                 "--manifest", str(tmp_path / "m.json")]) == 2  # fmt: skip
    assert "the checkpoint holds no normalisation: pass --stats" in capsys.readouterr().err
