"""`archive build` stopped by SIGTERM ends its workers with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor._process import process_gone
from tests.ops.ops_fixtures import archive_regions, write_archive_config

REPO = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_a_build_stopped_by_sigterm_ends_its_workers(
    tmp_path: Path, untrained_manifest: Path
) -> None:
    """Found by an agency's walk: SIGTERM ended `archive build` at once (143) and left its two
    workers, orphans of init, building and writing regions on, then idle for good. The
    folders they were writing go with them."""
    config = write_archive_config(tmp_path, tmp_path / "archive", untrained_manifest,
                                  archive_regions(6))  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    build = subprocess.Popen(
        [sys.executable, "-m", "monitor", "archive", "build", "--config", str(config), "-q"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(workers := _children(build.pid)) < 2:  # the pool's two workers at work
        assert build.poll() is None and time.monotonic() < deadline, build.stderr
        time.sleep(0.05)
    build.send_signal(signal.SIGTERM)
    _, err = build.communicate(timeout=60)
    assert build.returncode == 143, err.decode()
    assert "landslide-monitor archive: interrupted by SIGTERM" in err.decode()
    deadline = time.monotonic() + 10
    while not all(process_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in workers if not process_gone(pid)] == []
    assert list((tmp_path / "archive" / "regions").glob(".*.tmp-*")) == []


def test_a_build_whose_worker_is_killed_fails_instead_of_waiting_for_it(
    tmp_path: Path, untrained_manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: a worker killed (the kernel's OOM killer) left a pool of
    multiprocessing's waiting for good on the region it never returned; it is an error."""
    from concurrent.futures.process import BrokenProcessPool

    from monitor.config import load_config
    from monitor.run_inputs import build_configured_archive
    from monitor.simulator import build as build_module

    def killed(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(build_module, "_write_region", killed)  # the forked workers' too
    config = load_config(
        write_archive_config(tmp_path, tmp_path / "archive", untrained_manifest, archive_regions(3))
    )
    with pytest.raises(BrokenProcessPool):
        build_configured_archive(config, progress=False)
