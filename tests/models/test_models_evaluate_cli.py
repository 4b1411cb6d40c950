"""The evaluation command on a Ganerød-layout folder, and the CLI around it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rasterio

from models.cli import main
from models.datasets import Scene, write_scene
from models.testing import build_untrained_ensemble


@pytest.fixture
def folders(tmp_path: Path, scene_factory: Callable[..., Scene]) -> tuple[Path, Path]:
    for i in range(2):
        write_scene(tmp_path / "test", scene_factory(20 + i, size=64))
    write_scene(tmp_path / "val", scene_factory(30, size=64))
    return tmp_path / "test", tmp_path / "val"


def test_evaluate_writes_predictions_and_report(
    tmp_path: Path, folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    test, val = folders
    manifest = build_untrained_ensemble(tmp_path / "ens", settings=("S2",), architectures=("Unet",))
    out = tmp_path / "eval"
    rc = main(["evaluate", "--data", str(test), "--manifest", str(manifest), "--out", str(out),
               "--val", str(val), "-q"])  # fmt: skip
    assert rc == 0
    assert "## Pooled pixel scores" in capsys.readouterr().out
    with rasterio.open(out / "S2" / "scene20_pred.tif") as src:
        prob = src.read(1)
        assert src.crs.to_epsg() == 32633 and prob.shape == (64, 64)
    assert np.isnan(prob[:4, :4]).all() and np.nanmax(prob) <= 1.0
    report = json.loads((out / "report.json").read_text())
    s2 = report["settings"]["S2"]
    assert set(s2["pooled"]) == {"ensemble", "best_member", "baseline"}
    # the synthetic dNDVI drop is -0.5 on slope 20°: the fitted baseline finds it exactly
    assert s2["pooled"]["baseline"]["f1"] > 0.95
    assert s2["baseline"]["params"]["slope"] < 20
    assert [row["id"] for row in s2["per_scene"]] == ["scene20", "scene21"]
    pooled = s2["pooled"]["ensemble"]
    per_scene_tp = sum(row["ensemble"]["tp"] for row in s2["per_scene"])
    assert pooled["tp"] == per_scene_tp
    assert (out / "performance_S2.png").stat().st_size > 10_000
    against = s2["ensemble_against"]
    assert set(against) == {"best_member", "baseline"}
    # untrained members against a baseline that finds the drop exactly: clearly worse
    assert against["baseline"]["difference"] == pytest.approx(
        pooled["f1"] - s2["pooled"]["baseline"]["f1"]
    )
    assert against["baseline"]["high"] < 0 and against["baseline"]["wins"] == 0
    assert against["best_member"]["scenes"] == against["best_member"]["groups"] == 2
    # nothing records which scenes share landslides: each is its own group, and said so
    assert report["scene_groups"]["ungrouped"] == ["scene20", "scene21"]
    assert [row["group"] for row in s2["per_scene"]] == ["scene:scene20", "scene:scene21"]
    markdown = (out / "report.md").read_text()
    assert "## The ensemble against its best member and the baseline" in markdown
    assert "10,000 resamples)" in markdown and "| 95 % interval | n |" in markdown
    assert "| S2 | baseline | -" in markdown and "| 2 | 0 of 2 |" in markdown
    assert "Groups: 2 groups of 2 scenes (from nothing recorded); 2 scene(s) record no" in markdown
    # found by a new user's walk: members without a validation F1 (imported) made the last
    # file name the "best"; the untrained members here have none
    assert s2["best_member"]["val_f1"] is None
    assert (
        f"- best single member: `{s2['best_member']['name']}` (no member has a validation F1, "
        "so none is known best: the manifest's first stands in"
    ) in markdown


def test_cli_reports_errors_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["info", str(tmp_path / "nope.json")])
    assert rc == 2
    assert "nope.json: manifest not found" in capsys.readouterr().err


def test_info_checks_every_file_and_names_a_folder_or_a_foreign_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = build_untrained_ensemble(tmp_path / "model", settings=("S2",))
    assert main(["info", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "S2: 2 members, threshold 0.50 (each member: its validation F1, architecture, " in out
    assert out.count("  ok       ") == 2
    # no filter is said, not left out (found in a walkthrough)
    assert "object filter: none (every candidate alerts; python -m monitor.ops.filter_fit)" in out

    weights = sorted((tmp_path / "model").glob("*.safetensors"))
    with weights[0].open("ab") as f:  # one byte more: what a run would refuse to load
        f.write(b"\0")
    weights[1].unlink()
    assert main(["info", str(manifest)]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH (modified or corrupted) {weights[0].name}  (member weights)" in out
    assert f"MISSING  {weights[1].name}  (member weights)" in out
    assert "2 file(s) fail their check" in out

    assert main(["info", str(tmp_path / "model")]) == 2
    assert f"model is a folder: pass {manifest}" in capsys.readouterr().err
    foreign = tmp_path / "config.json"
    foreign.write_text('{"regions": []}')
    assert main(["info", str(foreign)]) == 2
    err = capsys.readouterr().err
    assert (
        "config.json: not a model manifest (3 problem(s)): settings: Field required; members: "
        "Field required; regions: Extra inputs are not permitted"
    ) in err
    assert "pydantic" not in err


def test_info_checks_the_normalisation_evaluate_checks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a reviewer: `info` said `ok` for a manifest whose normalisation statistics were
    edited (the SHA-256 covers the weights file, not the manifest), which `evaluate` refuses:
    "normalisation in ... differs from the manifest's"."""
    from models.manifest import ManifestError, load_member, read_manifest

    manifest = build_untrained_ensemble(tmp_path / "model", settings=("S2",))
    raw = json.loads(manifest.read_text())
    edited = raw["members"][0]
    edited["normalisation"]["mean"][0] += 0.5
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=r"normalisation in .* differs from the manifest's"):
        load_member(read_manifest(manifest).members[0], manifest.parent)  # what evaluate does
    assert main(["info", str(manifest)]) == 1
    out = capsys.readouterr().out
    assert (
        f"  MISMATCH (its normalisation differs from the manifest's) {edited['file']}  "
        "(member weights)\n"
    ) in out
    assert out.count("  ok       ") == 1 and "1 file(s) fail their check" in out


def test_info_into_a_pipe_whose_reader_left_ends_quietly(tmp_path: Path) -> None:
    """``python -m models info m.json | head`` printed a BrokenPipeError traceback and exited 1;
    it now ends as ``landslide-monitor`` does: 141 (a writer killed by SIGPIPE), nothing on
    stderr."""
    import os
    import signal
    import subprocess
    import sys

    manifest = build_untrained_ensemble(tmp_path / "model", settings=("S2",))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already left: the first write fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "models", "info", str(manifest)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (128 + signal.SIGPIPE, "")
