"""`python -m models train --workers N` stopped by SIGTERM ends its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from models.datasets import Scene, write_scene
from models.testing import tiny_grid
from monitor._process import process_gone

REPO = Path(__file__).resolve().parents[2]


def _descendants(pid: int) -> list[int]:
    """``pid``'s children and theirs, from Linux's ``/proc``."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
        except OSError:  # ended meanwhile
            continue
        children = [int(child) for child in text.split()]
        found += children
        todo += children
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_train_stopped_by_sigterm_ends_its_workers(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    """SIGTERM to `train --workers 2` alone (`kill PID`, a batch queue's time limit) ended the
    parent at once, with no word and status -15, and left its two spawned workers training on,
    orphans of init holding their memory (and a GPU's) until their members finished, then
    waiting for good on a parent that was gone. The parent now says it was stopped (143) and
    ends them; the members they trained resume on the next run."""
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(tmp_path / folder, scene_factory(seed, size=96))
    grid = tiny_grid("train", "val")
    grid["train"].update(max_epochs=500, patience=500)  # trains until it is stopped
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(yaml.safe_dump(grid))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    # to a file, not a pipe: orphaned workers holding a pipe kept it open, and the epochs' log
    # lines would fill one
    log = tmp_path / "train.log"
    with log.open("wb") as err:
        train = subprocess.Popen(
            [sys.executable, "-m", "models", "train", "--grid", str(grid_file),
             "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"), "--workers", "2"],
            env=env, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
        )  # fmt: skip
    deadline = time.monotonic() + 120
    # both members at work: each has written its first epoch's checkpoint
    while len(list((tmp_path / "work").glob("*/*.pt"))) < 2:
        assert train.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    workers = _descendants(train.pid)
    assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
    train.send_signal(signal.SIGTERM)
    assert train.wait(timeout=60) == 143, log.read_text()
    assert "python -m models train: interrupted by SIGTERM" in log.read_text()
    deadline = time.monotonic() + 10
    while not all(process_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if not process_gone(pid)] == []
    assert not (tmp_path / "out").exists()
    # nor left the semaphores of tqdm's lock for multiprocessing's resource tracker to warn of
    assert "leaked semaphore" not in log.read_text()


def test_main_puts_back_the_sigterm_handler_it_found(tmp_path: Path) -> None:
    """`main()` turns SIGTERM into a stop while its command runs, and only then: called in
    another program's process (these tests, a notebook), the handler it found is put back."""
    from types import FrameType

    from models.cli import main

    def mine(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("not called")

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert main(["lineage", str(tmp_path / "none" / "manifest.json")]) == 2
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
