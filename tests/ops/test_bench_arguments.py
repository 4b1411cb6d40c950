"""The bench scripts' arguments: what cannot run is refused before anything runs (exit 2)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from models.inference import DEFAULT_TILE

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(name: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> ModuleType:
    """The script ``bench/<name>.py`` loaded (its ``__main__`` block not run), with ``args``
    as its command line."""
    script = BENCH / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_{name}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    return module


def test_inference_refuses_a_size_under_one_tile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the naive baseline blends whole tiles: --size 64 was a numpy broadcast traceback
    monkeypatch.setenv("LANDSLIDE_MONITOR_CACHE", str(tmp_path))
    bench = _bench("bench_inference", monkeypatch, "--size", "64", "--ks", "1")
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert (
        f"argument --size: 64 px is under one tile ({DEFAULT_TILE} px): the naive baseline "
        "runs whole tiles" in capsys.readouterr().err
    )


def test_time_to_alert_refuses_a_missing_manifest_before_the_archive_is_built(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # it ended in a ConfigError traceback (exit 1), after the first mode's configuration
    missing = tmp_path / "nowhere" / "manifest.json"
    work = tmp_path / "work"
    bench = _bench(
        "bench_time_to_alert", monkeypatch, "--manifest", str(missing), "--work", str(work)
    )
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert f"--manifest {missing}: no such file" in capsys.readouterr().err
    assert not work.exists()
