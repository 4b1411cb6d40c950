"""The bench scripts' arguments: what cannot run is refused before anything runs (exit 2)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from models.inference import DEFAULT_TILE

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"


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


def test_region_bootstrap_recomputes_the_shipped_reports_intervals(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the figures docs/models.md gives for the shipped default, from its report's per-scene
    # counts: the scene-by-scene interval as the report has it, and the regions' (14 of 8 views)
    bench = _bench("bench_region_bootstrap", monkeypatch)
    assert bench.main() == 0
    out = capsys.readouterr().out
    assert "report.json: 112 scenes in 14 groups, from the ids' region" in out
    for line in (
        "| S1 | best_member | +0.008 | -0.003 to +0.020 | 111 | -0.013 to +0.029 | 14 |",
        "| S2 | best_member | +0.036 | +0.028 to +0.046 | 112 | +0.027 to +0.053 | 14 |",
        "| S1+S2 | best_member | +0.023 | +0.014 to +0.032 | 111 | +0.005 to +0.041 | 14 |",
    ):
        assert line in out
    # ids the simulator did not name: no region to read from them, refused
    report = json.loads((ROOT / "models/default/report.json").read_text())
    report["scenes"] = ["a", *report["scenes"][1:]]
    odd = tmp_path / "report.json"
    odd.write_text(json.dumps(report))
    bench = _bench("bench_region_bootstrap", monkeypatch, "--report", str(odd))
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert "not of the simulator's form <region>_<YYYYMMDD>[_monitoring]: a;" in (
        capsys.readouterr().err
    )


def test_check_stack_refuses_a_size_under_one_tile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --size 0 wrote nothing and failed in rasterio's traceback
    bench = _bench("bench_check_stack", monkeypatch, "--size", "0")
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert "--size 0: at least 256 (one tile of the stack)" in capsys.readouterr().err


def test_fresh_regions_refuses_a_work_folder_of_other_draws_before_simulating(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Draws 1-3 have been read; a --work holding their scenes would score them with the
    untouched draws asked for, and mix what nobody looked at with what was read."""
    work = tmp_path / "work"
    for folder, suffix in (("input", "_input.tif"), ("label", "_label.tif")):
        (work / "storm" / folder).mkdir(parents=True)
        for sid in ("test-x1-1012-0000_20240518", "test-x4-1042-0000_20240518"):
            (work / "storm" / folder / f"{sid}{suffix}").write_bytes(b"")
    bench = _bench("bench_fresh_regions", monkeypatch, "--work", str(work), "--first-draw", "4")
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "holds scenes of other draws than 4-6 (test-x1-1012-0000_20240518)" in err
    assert not (work / "archive").exists()  # nothing simulated
    # the draws' own scenes are no objection; draw 10 is not draw 1's ("test-x1-" prefix)
    assert bench.other_draws(work, 1, 4) == []
    assert bench.other_draws(work, 10, 1) == [
        "test-x1-1012-0000_20240518",
        "test-x4-1042-0000_20240518",
    ]
    bench = _bench("bench_fresh_regions", monkeypatch, "--first-draw", "0")
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert "--first-draw 0: draws are numbered from 1" in capsys.readouterr().err
