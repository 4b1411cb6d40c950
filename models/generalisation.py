"""In-family against out-of-family scores, side by side (``python -m models evaluate --data
OUT_OF_FAMILY --in-family IN_FAMILY``).

A randomised training world (``monitor.simulator.training_data --world randomised``) has test
scenes of the families seen in training (``test_in``) and of families held out of training
and validation (``test``). This evaluates an ensemble on both with
:func:`models.evaluate.evaluate_folder` (the full reports go to ``<out>/in_family/`` and
``<out>/out_of_family/``) and writes ``generalisation.md`` / ``.json``: per setting and model
(ensemble, best single member, threshold baseline) the pooled pixel F1, precision and recall
and the object recall of landslides of at least 1 ha and of less than 0.1 ha, for both test
sets; and the ensemble against its best member (the paired bootstrap of groups of scenes of
:func:`models.metrics.paired_f1_difference`) on both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from models.chain_metrics import LARGE_M2, SMALL_M2
from models.evaluate import evaluate_folder, format_interval, format_score, json_ready

__all__ = ["GROUPS", "evaluate_generalisation", "generalisation_rows", "object_recall"]

GROUPS = ("in_family", "out_of_family")
_LABELS = {"ensemble": "ensemble", "best_member": "best single member", "baseline": "baseline"}


def object_recall(table: Sequence[dict[str, float]], *, at_least: float = 0.0,
                  below: float = math.inf) -> float:  # fmt: skip
    """Detected share of the objects of the size classes within ``[at_least, below)`` of an
    object-detection table (:func:`models.metrics.object_detection`); NaN without objects."""
    rows = [r for r in table if r["min_m2"] >= at_least and r["max_m2"] <= below]
    n = sum(r["objects"] for r in rows)
    return sum(r["detected"] for r in rows) / n if n else math.nan


def generalisation_rows(reports: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per setting and model with the scores of every group (``reports``: group ->
    :func:`evaluate_folder` report)."""
    first = next(iter(reports.values()))
    rows = []
    for setting in first["settings"]:
        for model in first["settings"][setting]["pooled"]:
            row: dict[str, Any] = {"setting": setting, "model": model}
            for group, report in reports.items():
                r = report["settings"].get(setting)
                if r is None or model not in r["pooled"]:
                    continue
                pooled, objects = r["pooled"][model], r["objects"][model]
                row[group] = {
                    "f1": pooled["f1"],
                    "precision": pooled["precision"],
                    "recall": pooled["recall"],
                    "object_recall_ge_1ha": object_recall(objects, at_least=LARGE_M2),
                    "object_recall_lt_0.1ha": object_recall(objects, below=SMALL_M2),
                    "scenes": len(report["scenes"]),
                }
            rows.append(row)
    return rows


def _markdown(summary: dict[str, Any]) -> str:
    cols = ("f1", "precision", "recall", "object_recall_ge_1ha", "object_recall_lt_0.1ha")
    head = ("F1", "P", "R", "obj ≥ 1 ha", "obj < 0.1 ha")
    groups = summary["scene_groups"]
    lines = [
        "# In-family and out-of-family test scores",
        "",
        f"- manifest: `{summary['manifest']}`",
        f"- in-family: `{summary['data']['in_family']}`",
        f"- out-of-family: `{summary['data']['out_of_family']}`",
        *(f"- groups of scenes, {g.replace('_', '-')}: {groups[g]['description']}" for g in GROUPS),
        "",
        "| setting | model | "
        + " | ".join(f"in: {h}" for h in head)
        + " | "
        + " | ".join(f"out: {h}" for h in head)
        + " |",
        "| --- | --- |" + " --- |" * (2 * len(head)),
    ]
    for row in summary["rows"]:
        cells = [format_score(row.get(g, {}).get(c)) for g in GROUPS for c in cols]
        lines.append(f"| {row['setting']} | {_LABELS[row['model']]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ensemble minus best single member (pooled F1), 95 % interval of the paired bootstrap "
        "that resamples whole groups of scenes (n groups: the views of one region share its "
        "landslides):",
        "",
        "| setting | in-family | out-of-family |",
        "| --- | --- | --- |",
    ]
    for setting, by_group in summary["ensemble_vs_best_member"].items():
        cells = []
        for g in GROUPS:
            d = by_group.get(g)
            cells.append(
                "–"
                if d is None
                else f"{d['difference']:+.3f} ({format_interval(d)}, "
                f"n = {d['groups']}; {d['wins']} of {d['scenes']} scenes won)"
            )
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def evaluate_generalisation(
    in_family: Path,
    out_of_family: Path,
    manifest: Path,
    out: Path,
    *,
    settings: Sequence[str] | None = None,
    val: Path | None = None,
    device: str | None = None,
    write_predictions: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``manifest`` on both test folders; write both reports and the side-by-side
    summary (``generalisation.md``, ``generalisation.json``) to ``out``; return the summary."""
    out = Path(out)
    folders = {"in_family": Path(in_family), "out_of_family": Path(out_of_family)}
    reports = {
        group: evaluate_folder(
            folder,
            manifest,
            out / group,
            settings=settings,
            val=val,
            device=device,
            write_predictions=write_predictions,
            progress=progress,
        )
        for group, folder in folders.items()
    }
    summary: dict[str, Any] = {
        "manifest": str(manifest),
        "data": {g: str(f) for g, f in folders.items()},
        "scene_groups": {g: reports[g]["scene_groups"] for g in GROUPS},
        "rows": generalisation_rows(reports),
        "ensemble_vs_best_member": {
            setting: {
                g: reports[g]["settings"][setting]["ensemble_against"].get("best_member")
                for g in GROUPS
                if setting in reports[g]["settings"]
            }
            for setting in reports["out_of_family"]["settings"]
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "generalisation.json").write_text(json.dumps(json_ready(summary), indent=1) + "\n")
    (out / "generalisation.md").write_text(_markdown(summary))
    return summary
