"""Evaluation of an ensemble on a folder in the Ganerød et al. layout.

For every setting of the manifest it writes per-scene probability GeoTIFFs
(``<out>/<setting>/<id>_pred.tif``) and scores, on the same pixels (where the setting's inputs
are valid), pooled and per scene (precision, recall, F1, IoU, MCC, frequency bias):

- the ensemble at its calibrated threshold;
- its best single member (highest validation F1), as Ganerød et al. compare (Table 8), at 0.5
  (the paper states no threshold);
- the plain threshold baseline of :mod:`models.baselines`.

It adds how clearly the ensemble beats the other two (the difference in pooled F1 with its 95 %
interval under a paired bootstrap that resamples whole groups of scenes, :mod:`models.scene_groups`:
the views of one region share its landslides; and the scenes it wins), the object-level
detection rate by size class, a performance diagram (Roebber 2009) per setting,
``report.json`` and ``report.md``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from tqdm.auto import tqdm

from models.baselines import BASELINES, fit_baseline
from models.datasets import Scene, read_scene, scene_ids
from models.ensemble import Ensemble
from models.metrics import (
    Confusion,
    confusion,
    merge_object_detection,
    object_detection,
    paired_f1_difference,
    performance_diagram,
)
from models.scene_groups import scene_groups

__all__ = ["evaluate_folder", "format_interval", "format_score", "json_ready", "write_markdown"]

log = logging.getLogger(__name__)

SINGLE_THRESHOLD = 0.5


def evaluate_folder(
    data: Path,
    manifest: Path,
    out: Path,
    *,
    settings: Sequence[str] | None = None,
    val: Path | None = None,
    device: str | None = None,
    write_predictions: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate ``manifest`` on the scenes of ``data``; write predictions and the report to
    ``out``; return the report. Baseline thresholds are fitted on ``val`` when given (else the
    documented defaults)."""
    data, out = Path(data), Path(out)
    ensemble = Ensemble.load(manifest)
    settings = list(settings or ensemble.settings)
    ids = scene_ids(data)
    groups = scene_groups(data, ids)
    val_scenes = [read_scene(val, i) for i in scene_ids(val)] if val else []
    report: dict[str, Any] = {
        "manifest": str(manifest),
        "data": str(data),
        "scenes": ids,
        "baseline_fitted_on": str(val) if val else None,
        # what the bootstrap resamples whole: every interval's "groups" is their number
        "scene_groups": groups.to_dict(),
        "settings": {},
    }
    earlier, what = _earlier_files(out)
    for setting in settings:
        report["settings"][setting] = _evaluate_setting(
            ensemble,
            setting,
            data,
            ids,
            groups.groups,
            val_scenes,
            out,
            device,
            write_predictions,
            progress,
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(json_ready(report), indent=1) + "\n")
    (out / "report.md").write_text(write_markdown(report))
    written = {out / "report.json", out / "report.md", *(_diagram(out, s) for s in settings)}
    if write_predictions:
        written |= {_prediction(out, s, scene) for s in settings for scene in ids}
    _remove_earlier(out, earlier, what, written)
    return report


def _diagram(out: Path, setting: str) -> Path:
    return out / f"performance_{setting.replace('+', '')}.png"


def _prediction_name(scene_id: str) -> str:
    return f"{scene_id}_pred.tif"


def _prediction(out: Path, setting: str, scene_id: str) -> Path:
    return out / setting / _prediction_name(scene_id)


def _earlier_files(out: Path) -> tuple[list[Path], str]:
    """The files an earlier evaluation wrote into ``out`` (its report, diagrams and
    predictions, as its ``report.json`` names them) and a line on what it was; none where
    ``out`` holds no evaluation's report (the keys only an evaluation writes) or the report
    names a setting or scene that is not a plain name (nothing outside ``out`` is touched)."""
    try:
        earlier = json.loads((out / "report.json").read_text())
        if not {"manifest", "scene_groups", "settings", "scenes"} <= set(earlier):
            return [], ""
        settings = [str(s) for s in earlier["settings"]]
        scenes = [str(s) for s in earlier["scenes"]]
    except (OSError, ValueError, TypeError, AttributeError):  # none, or not an evaluation's
        return [], ""
    names = [*settings, *(_prediction_name(scene) for scene in scenes)]
    if any(Path(n).name != n or n in ("", ".", "..") for n in names):
        return [], ""
    files = [out / "report.json", out / "report.md"]
    for setting in settings:
        files.append(_diagram(out, setting))
        files.extend(_prediction(out, setting, scene) for scene in scenes)
    what = f"{', '.join(settings)}, {len(scenes)} scene(s) of {earlier.get('data')}"
    return [f for f in files if f.is_file()], what


def _remove_earlier(out: Path, earlier: list[Path], what: str, written: set[Path]) -> None:
    """Remove the ``earlier`` evaluation's files that this one did not write again
    (``written``), once this one's report is written, with a warning: its other settings and
    scenes, beside a report of this run alone, read as this run's (found in a walkthrough). A
    run that fails leaves the earlier evaluation as it was."""
    stale = [path for path in earlier if path not in written and path.is_file()]
    for path in stale:
        path.unlink()
    for folder in {path.parent for path in stale if path.parent != out}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if stale:
        log.warning(
            "%s held an earlier evaluation (%s): its %d file(s) this one did not write again "
            "were removed",
            out, what, len(stale),
        )  # fmt: skip


def _evaluate_setting(
    ensemble: Ensemble,
    setting: str,
    data: Path,
    ids: Sequence[str],
    groups: Sequence[str],
    val_scenes: Sequence[Scene],
    out: Path,
    device: str | None,
    write_predictions: bool,
    progress: bool,
) -> dict[str, Any]:
    entries = {m.name: m for m in ensemble.manifest.members}
    names = ensemble.member_names(setting)
    # the highest validation F1; where no member has one (imported without --val-f1), the
    # first of the manifest, said as such: a maximum over none picked the last file name
    scored = [n for n in names if entries[n].val_f1 is not None]
    best_name = max(scored, key=lambda n: (entries[n].val_f1, n)) if scored else names[0]
    best_index = names.index(best_name)
    baseline = BASELINES.get(setting)
    params: dict[str, float] | None = None
    if baseline is not None:
        if val_scenes:
            valid = [np.isfinite(s.channels(setting)).all(axis=0) for s in val_scenes]
            params, _ = fit_baseline(baseline, val_scenes, valid)
        else:
            params = dict(baseline.default)
    threshold = ensemble.threshold(setting)
    pooled = {"ensemble": Confusion(), "best_member": Confusion(), "baseline": Confusion()}
    objects: dict[str, list[list[dict[str, float]]]] = {k: [] for k in pooled}
    scene_scores: dict[str, list[Confusion]] = {k: [] for k in pooled}
    per_scene = []
    for scene_id, group in zip(
        tqdm(ids, desc=f"evaluate {setting}", disable=not progress), groups, strict=True
    ):
        scene = read_scene(data, scene_id)
        x = scene.channels(setting)
        pred = ensemble.predict_array(x, setting, device=device)
        valid = np.isfinite(pred.probability) & scene.known  # ignored pixels are not scored
        truth = scene.label > 0
        masks = {
            "ensemble": pred.probability >= threshold,
            "best_member": pred.members[best_index] >= SINGLE_THRESHOLD,
        }
        if baseline is not None:
            masks["baseline"] = baseline.predict(scene.image, params) & valid
        row: dict[str, Any] = {"id": scene_id, "group": group, "valid_pixels": int(valid.sum())}
        for key, mask in masks.items():
            c = confusion(mask, truth, valid)
            pooled[key] = pooled[key] + c
            scene_scores[key].append(c)
            row[key] = c.to_dict()
            objects[key].append(
                object_detection(mask & valid, truth & valid, pixel_area_m2=scene.pixel_area_m2)
            )
        per_scene.append(row)
        if write_predictions:
            _write_prediction(_prediction(out, setting, scene_id), pred.probability, scene)
    keys = [k for k in pooled if objects[k]]
    diagram = _diagram(out, setting)
    performance_diagram(
        {
            f"ensemble (K={len(names)})": pooled["ensemble"],
            "best single member": pooled["best_member"],
            **({"threshold baseline": pooled["baseline"]} if "baseline" in keys else {}),
        },
        diagram,
        title=f"Performance diagram, {setting}",
    )
    return {
        "members": list(names),
        "threshold": threshold,
        "best_member": {"name": best_name, "val_f1": entries[best_name].val_f1},
        "baseline": {"rule": baseline.name, "params": params} if baseline else None,
        "pooled": {k: pooled[k].to_dict() for k in keys},
        "ensemble_against": {
            k: paired_f1_difference(scene_scores["ensemble"], scene_scores[k], groups=groups)
            for k in keys
            if k != "ensemble"
        },
        "objects": {k: merge_object_detection(objects[k]) for k in keys},
        "per_scene": per_scene,
        "diagram": diagram.name,
    }


def _write_prediction(path: Path, probability: np.ndarray, scene: Scene) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = probability.shape
    profile = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "count": 1,
        "dtype": "float32",
        "nodata": np.nan,
        "crs": scene.crs,
        "transform": scene.transform or rasterio.Affine.identity(),
        "compress": "deflate",
    }
    tmp = path.with_suffix(".tif.part")
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(probability.astype(np.float32)[None])
        dst.set_band_description(1, "ensemble mean landslide probability")
    tmp.replace(path)


def json_ready(obj: Any) -> Any:
    """``obj`` with every non-finite float as None: JSON has no NaN, write null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return obj


def format_score(v: float | None) -> str:
    """A score with three decimals; a dash for a missing (None or NaN) one."""
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"


def format_interval(d: dict[str, Any], spec: str = "+.3f", label: str = "") -> str:
    """The bounds of a paired bootstrap's interval (:func:`models.metrics.paired_f1_difference`,
    ``paired_count_difference``) as ``label`` + "low to high", or "no interval" where it has
    none (NaN bounds, None once written as JSON: fewer than two groups of scenes to resample,
    where the bounds would be the point estimate twice and read as certainty)."""
    low, high = d["low"], d["high"]
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "no interval"
    return f"{label}{low:{spec}} to {high:{spec}}"


def write_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (pooled scores, object detection, per-scene F1)."""
    lines = [
        "# Ensemble evaluation",
        "",
        f"- manifest: `{report['manifest']}`",
        f"- data: `{report['data']}` ({len(report['scenes'])} scenes)",
        f"- baseline thresholds fitted on: `{report['baseline_fitted_on'] or 'defaults'}`",
        "",
        "## Pooled pixel scores",
        "",
        "| setting | model | precision | recall | F1 | IoU | MCC | bias |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    labels = {"ensemble": "ensemble", "best_member": "best single", "baseline": "baseline"}
    for setting, r in report["settings"].items():
        for key, scores in r["pooled"].items():
            label = labels[key]
            if key == "ensemble":
                label += f" (K={len(r['members'])}, t={r['threshold']:.2f})"
            cells = [
                format_score(scores[m]) for m in ("precision", "recall", "f1", "iou", "mcc", "bias")
            ]
            lines.append(f"| {setting} | {label} | " + " | ".join(cells) + " |")
    comparisons = [
        (setting, key, d)
        for setting, r in report["settings"].items()
        for key, d in r.get("ensemble_against", {}).items()
    ]
    if comparisons:
        first = comparisons[0][2]
        level = f"{first['level'] * 100:g} %"
        lines += [
            "",
            "## The ensemble against its best member and the baseline",
            "",
            f"Difference in pooled F1 (ensemble minus the other), its {level} interval under a",
            "paired bootstrap that resamples whole groups of scenes (n groups: the views of one",
            f"region share its landslides; {first['resamples']:,} resamples), and the scenes",
            "where the ensemble has the higher F1.",
            f"Groups: {report['scene_groups']['description']}.",
            "",
            f"| setting | against | F1 difference | {level} interval | n | scenes won |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for setting, key, d in comparisons:
            lines.append(
                f"| {setting} | {labels[key]} | {d['difference']:+.3f} | "
                f"{format_interval(d)} | {d['groups']} | {d['wins']} of {d['scenes']} |"
            )
        if any(d["groups"] < 2 for _, _, d in comparisons):
            lines += [
                "",
                "No interval where n < 2: one group of scenes has nothing to resample (every",
                "resample is the same scenes); judge on scenes of more regions.",
            ]
    lines += ["", "## Details per setting", ""]
    for setting, r in report["settings"].items():
        lines += [f"### {setting}", ""]
        best = r["best_member"]
        lines.append(
            f"- best single member: `{best['name']}`"
            + (
                ""
                if best["val_f1"] is not None
                else " (no member has a validation F1, so none is known best: the manifest's "
                "first stands in; `import-checkpoint --val-f1` records one)"
            )
        )
        if r["baseline"]:
            lines.append(
                f"- baseline: {r['baseline']['rule']}, parameters {r['baseline']['params']}"
            )
        lines.append(f"- performance diagram: `{r['diagram']}`")
        lines += ["", "Object detection rate by size class (objects detected / objects):", ""]
        lines.append("| size (m²) | " + " | ".join(labels[k] for k in r["objects"]) + " |")
        lines.append("| --- |" + " --- |" * len(r["objects"]))
        first = next(iter(r["objects"].values()))
        for i, row in enumerate(first):
            hi = "" if math.isinf(row["max_m2"]) else f"{row['max_m2']:,.0f}"
            cells = []
            for table in r["objects"].values():
                t = table[i]
                cells.append(f"{format_score(t['rate'])} ({t['detected']}/{t['objects']})")
            lines.append(f"| {row['min_m2']:,.0f}–{hi} | " + " | ".join(cells) + " |")
        lines += ["", "Per-scene F1:", ""]
        lines.append("| scene | " + " | ".join(labels[k] for k in r["pooled"]) + " |")
        lines.append("| --- |" + " --- |" * len(r["pooled"]))
        for row in r["per_scene"]:
            cells = [format_score(row[k]["f1"]) for k in r["pooled"]]
            lines.append(f"| {row['id']} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"
