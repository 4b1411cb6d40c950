"""What the chain benches share (``bench_fresh_regions.py``, ``bench_foreign_scenes.py``): the
chain run and scored on a Ganerød-layout folder as docs/models.md's tables are, and the cells
of their tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# the chain report's size classes of a table's recall columns, smallest first
SIZES = ("<0.1 ha", "0.1-0.5 ha", "0.5-1 ha", ">=1 ha")


def run_chain(data: Path, out: Path, manifest: Path, *detect: str) -> dict[str, Any]:
    """``detect --stack`` (with ``manifest`` and the further ``detect`` arguments) on ``data``
    into ``out``, then ``evaluate --chain`` of its polygons on ``data``; the chain report."""
    python = sys.executable
    subprocess.run(
        [python, "-m", "monitor", "detect", "--stack", str(data), "--out", str(out), "-q",
         "--manifest", str(manifest), *detect],
        check=True, cwd=ROOT,
    )  # fmt: skip
    subprocess.run(
        [python, "-m", "models", "evaluate", "--chain", str(out), "--data", str(data),
         "--out", str(out)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    report: dict[str, Any] = json.loads((out / "chain_report.json").read_text())
    return report


def figure(value: float | None, spec: str) -> str:
    """A figure of the chain report, "-" where its denominator was 0 (the report's null: no
    look-alike-only scene, no positive or flagged pixel)."""
    return "-" if value is None else format(value, spec)


def recall(block: dict[str, Any], size: str) -> str:
    """A recall cell: the share and the counts of one size class, "-" where it holds none."""
    found, total = block["recall_by_size"][size]
    return f"{found / total:.2f} ({found}/{total})" if total else "-"
