"""A file the models cannot write (a full disk, found in an ML engineer's walk): nothing partial
is left behind to hold the space or to fail the rerun, and the error names the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.errors
import torch
from affine import Affine

from models import cli, train
from models.datasets import IGNORE, Scene, write_scene
from models.feature_stack import MODEL_BANDS
from models.lineage import dataset_files


def _scene() -> Scene:
    image = np.zeros((len(MODEL_BANDS), 8, 8), np.float32)
    ignore = np.zeros((8, 8), bool)
    ignore[0] = True
    transform = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)
    crs = rasterio.crs.CRS.from_epsg(32632)
    return Scene("a", image, np.zeros((8, 8), np.uint8), crs, transform, ignore)


def test_a_scene_whose_write_fails_leaves_nothing_and_a_rerun_writes_it(tmp_path, monkeypatch):
    """A write that fails part way (GDAL's "Write failed" on a full disk) left
    `a_input.tif.part`, and the rerun failed on it ("TIFFReadDirectory: Failed to read
    directory") until it was deleted by hand."""
    real_open = rasterio.open

    def full_disk(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        if mode == "w":
            Path(path).write_bytes(b"II*\x00" + b"\x00" * 100)  # what GDAL wrote before failing
            raise rasterio.errors.RasterioIOError("Write failed. See previous exception")
        return real_open(path, mode, **kwargs)

    monkeypatch.setattr(rasterio, "open", full_disk)
    with pytest.raises(OSError) as failed:
        write_scene(tmp_path, _scene())
    assert str(failed.value).startswith(
        f"{tmp_path / 'input' / 'a_input.tif'}: cannot write the scene: Write failed."
    )
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    # what a killed writer leaves (SIGKILL: no clean-up) is neither hashed into the dataset's
    # lineage nor left to pile up: the next write of the scene removes it
    killed = tmp_path / "input" / ".a_input.tif.0123abcd.part.tif"
    killed.write_bytes(b"II*\x00")
    assert dataset_files(tmp_path) == []
    monkeypatch.setattr(rasterio, "open", real_open)
    _, lpath = write_scene(tmp_path, _scene())
    with real_open(lpath) as src:
        assert src.read(1)[0].tolist() == [IGNORE] * 8
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "a_input.tif",
        "a_label.tif",
    ]


def test_a_training_state_that_cannot_be_saved_leaves_no_part_file(tmp_path, monkeypatch):
    """torch's "unexpected pos 2546496 vs 2546416" of a short write named neither the file nor
    the disk, and its state.pt.part held on to the space."""

    def short_write(state: Any, path: Any) -> None:
        Path(path).write_bytes(b"\x00" * 64)
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2546496")

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(OSError) as failed:
        train._save_state(tmp_path / "state.pt", {"epoch": 1})
    assert str(failed.value).startswith(
        f"{tmp_path / 'state.pt'}: cannot save the training state: [enforce fail"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_file_the_command_cannot_write_is_one_line_and_status_1(tmp_path, capsys):
    """`train --out` on a full disk ended in a traceback (shutil.copyfile's OSError)."""

    def copy_fails(args: Any) -> int:
        raise OSError(28, "No space left on device", str(tmp_path / "out" / "m.safetensors"))

    args = cli.build_parser().parse_args(["info", "default"])
    args.func = copy_fails
    assert cli._run(args) == 1
    said = capsys.readouterr().err
    assert said == (
        f"error: [Errno 28] No space left on device: '{tmp_path / 'out' / 'm.safetensors'}'\n"
    )


def test_a_worker_that_cannot_write_ends_the_grid_in_one_line(tmp_path) -> None:
    """A review: with --workers 2 a worker's full disk came back as a RuntimeError, a
    traceback; it is an OSError naming the member, which the command says in one line."""
    from concurrent.futures import Future

    from models.grid import _worker_result
    from models.testing import TEST_ENCODER
    from models.zoo import MemberSpec

    spec = MemberSpec("Unet", TEST_ENCODER, "Dice", 0.01, "S2", 2, {})
    failed: Future[Any] = Future()
    failed.set_exception(OSError(f"{tmp_path / 'state.pt'}: cannot save the training state"))
    with pytest.raises(OSError) as raised:
        _worker_result(failed, spec, tmp_path)
    assert str(raised.value).startswith(
        f"training {spec.name} failed: {tmp_path / 'state.pt'}: cannot save the training state "
        f"(finished members are kept in {tmp_path}; rerun to resume)"
    )
