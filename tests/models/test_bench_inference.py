"""bench/bench_inference.py's arguments: a stack smaller than one tile is refused by name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from models.inference import DEFAULT_TILE

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_inference.py"


def test_a_size_under_one_tile_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the naive baseline blends whole tiles: --size 64 was a numpy broadcast traceback
    spec = importlib.util.spec_from_file_location("_bench_inference", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setenv("LANDSLIDE_MONITOR_CACHE", str(tmp_path))
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--size", "64", "--ks", "1"])
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert (
        f"argument --size: 64 px is under one tile ({DEFAULT_TILE} px): the naive baseline "
        "runs whole tiles" in capsys.readouterr().err
    )
