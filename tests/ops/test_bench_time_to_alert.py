"""bench/bench_time_to_alert.py's arguments: a manifest that is not there is refused at once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "bench_time_to_alert.py"


def test_a_missing_manifest_is_refused_before_the_archive_is_built(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # it ended in a ConfigError traceback (exit 1), after the first mode's configuration
    spec = importlib.util.spec_from_file_location("_bench_time_to_alert", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    missing = tmp_path / "nowhere" / "manifest.json"
    argv = [str(SCRIPT), "--manifest", str(missing), "--work", str(tmp_path / "work")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as refused:
        bench.main()
    assert refused.value.code == 2
    assert f"--manifest {missing}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "work").exists()
