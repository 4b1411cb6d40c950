"""Two ensembles on the same scenes (``python -m models compare OLD NEW --data DIR``): the
evidence for switching ``model.manifest``.

For every setting both manifests have, each ensemble predicts every scene at its own calibrated
threshold; scored on the pixels both see (valid inputs, not ignored): pooled precision, recall,
F1, the object recall (true landslides with at least one detected pixel) and the false objects
(predicted objects touching no true landslide). The new model's gain is given with the paired
bootstrap :func:`models.metrics.paired_f1_difference` uses for ``evaluate``, which resamples
whole groups of scenes (:mod:`models.scene_groups`; the same groups for both models): the
difference in pooled F1 (new minus old) and in false objects (new minus old, negative is
better), each with its 95 % interval, the number of groups, and the scenes where the new model
is better.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from models.datasets import (
    INPUT_SUFFIX,
    DatasetError,
    input_path,
    label_path,
    read_scene,
    scene_id_of,
    scene_ids,
)
from models.ensemble import Ensemble
from models.evaluate import format_interval, format_score, json_ready
from models.lineage import dataset_files, dataset_sha256
from models.manifest import sha256_file
from models.metrics import (
    Confusion,
    confusion,
    false_objects,
    merge_object_detection,
    object_detection,
    paired_count_difference,
    paired_f1_difference,
)
from models.scene_groups import scene_groups

__all__ = ["compare_manifests", "data_folder", "format_comparison", "write_report"]


def data_folder(data: Path) -> Path:
    """``data`` itself when it holds ``input/``, else its ``test/`` (or ``val/``) split; a split
    whose ``input/`` holds no scene is none (a `dataset export --prune` that emptied ``test/``
    left its folders, and compare then refused the dataset: found in a walk)."""
    data = Path(data)
    if not data.is_dir():  # a typo was told it held no input/
        raise DatasetError(f"{data}: no such folder")
    if (data / "input").is_dir():
        return data
    for folder in (data / "test", data / "val"):
        if any((folder / "input").glob(f"*{INPUT_SUFFIX}")):
            return folder
    train = data / "train"
    hint = (
        f"; it holds only {train}, the scenes a model is fitted on: where this dataset is a "
        f"region neither manifest was tuned on, give --data {train}"
        if (train / "input").is_dir()
        else ""
    )
    raise DatasetError(f"{data}: no input/ folder, nor a scene in test/input or val/input{hint}")


def compare_manifests(
    old: Path,
    new: Path,
    data: Path,
    *,
    settings: Sequence[str] | None = None,
    device: str | None = None,
    resamples: int = 10_000,
) -> dict[str, Any]:
    """Compare ``new`` against ``old`` on the scenes of ``data`` (see the module); returns the
    report (JSON-able)."""
    folder = data_folder(data)
    ids = scene_ids(folder)
    groups = scene_groups(folder, ids)
    hashes = _Hashes()
    ensembles = {"old": Ensemble.load(old), "new": Ensemble.load(new)}
    common = [s for s in ensembles["old"].settings if s in ensembles["new"].settings]
    chosen = list(settings) if settings else common
    missing = [s for s in chosen if s not in common]
    if missing or not chosen:
        raise ValueError(
            f"settings {missing or chosen} are not in both manifests (common: {common})"
        )
    report: dict[str, Any] = {
        "old": str(old),
        "new": str(new),
        "data": str(folder),
        # --data named a dataset without test/, and its val/ was compared on instead
        "fell_back_to_val": folder != Path(data) and folder.name == "val",
        "scenes": ids,
        # what the bootstrap resamples whole: every interval's "groups" is their number
        "scene_groups": groups.to_dict(),
        "settings": {},
        # settings one manifest has and the other lacks: not compared, and a switch loses or
        # gains them (an S1 setting is the radar-only fallback under clouds)
        "only_in": {
            key: [s for s in ensembles[key].settings if s not in common] for key in ("old", "new")
        },
        # scenes a manifest was fine-tuned on (its train/ scenes of this very dataset)
        "trained_on": {
            key: _trained_on(ens.manifest.training, folder, ids, hashes)
            for key, ens in ensembles.items()
        },
        # whether these scenes are the val/ split a manifest was fine-tuned on (None: it says
        # nothing of its dataset)
        "tuned_on_val": {
            key: _tuned_on_val(ens.manifest.training, folder, ids, hashes)
            for key, ens in ensembles.items()
        },
    }
    known = total = 0
    for setting in chosen:
        scores: dict[str, list[Confusion]] = {"old": [], "new": []}
        false: dict[str, list[int]] = {"old": [], "new": []}
        objects: dict[str, list[list[dict[str, float]]]] = {"old": [], "new": []}
        for scene_id in ids:
            scene = read_scene(folder, scene_id)
            x = scene.channels(setting)
            probs = {
                key: ens.predict_array(x, setting, device=device).probability
                for key, ens in ensembles.items()
            }
            valid = np.isfinite(probs["old"]) & np.isfinite(probs["new"]) & scene.known
            known, total = known + int(scene.known.sum()), total + scene.known.size
            truth = scene.label > 0
            for key, ens in ensembles.items():
                mask = (probs[key] >= ens.threshold(setting)) & valid
                scores[key].append(confusion(mask, truth, valid))
                false[key].append(false_objects(mask, truth & valid))
                objects[key].append(
                    object_detection(mask, truth & valid, pixel_area_m2=scene.pixel_area_m2)
                )
        report["settings"][setting] = {
            key: {
                "threshold": ensembles[key].threshold(setting),
                "members": len(ensembles[key].member_names(setting)),
                **sum(scores[key], Confusion()).to_dict(),
                "false_objects": int(sum(false[key])),
                **_object_recall(merge_object_detection(objects[key])),
            }
            for key in ("old", "new")
        } | {
            "f1_difference": paired_f1_difference(
                scores["new"], scores["old"], groups=groups.groups, resamples=resamples
            ),
            "false_objects_difference": paired_count_difference(
                false["new"], false["old"], groups=groups.groups, resamples=resamples
            ),
        }
    report["known_share"] = known / total if total else math.nan
    return report


class _Hashes:
    """SHA-256 of scene files, each file hashed once per comparison (both manifests may record
    the same dataset)."""

    def __init__(self) -> None:
        self._done: dict[Path, str] = {}

    def scene(self, root: Path, scene_id: str) -> tuple[str, str]:
        return self._file(input_path(root, scene_id)), self._file(label_path(root, scene_id))

    def _file(self, path: Path) -> str:
        key = path.resolve()
        if key not in self._done:
            self._done[key] = sha256_file(key) if key.is_file() else ""
        return self._done[key]


def _split_scenes(
    training: dict[str, Any], folder: Path, ids: Sequence[str], split: str, hashes: _Hashes
) -> list[str] | None:
    """The scenes of ``ids`` (in ``folder``) that are the ``split`` scenes of the dataset a
    manifest was fine-tuned on, by its ``training`` record's lineage; None where it records no
    dataset.

    All of them where ``folder`` is the recorded split itself. Else, where the recorded split
    is still there, each scene of ``folder`` that it holds under the same id, input and label
    byte for byte (a copy of some or all of its scenes; only those are hashed). Else, the
    dataset moved, all where ``folder`` is the ``split`` of a dataset whose files hash to the
    recorded ``dataset_sha256`` (as ``models lineage --data`` verifies; its file count checked
    first). A path check alone called a copy of a manifest's own val/ out of sample."""
    lineage = training.get("lineage", {})
    dataset = lineage.get("dataset")
    if not dataset:
        return None
    recorded = Path(dataset) / split
    if folder.resolve() == recorded.resolve():
        return list(ids)
    if (recorded / "input").is_dir():
        theirs = {scene_id_of(p) for p in (recorded / "input").glob(f"*{INPUT_SUFFIX}")}
        return [
            i for i in ids if i in theirs and hashes.scene(folder, i) == hashes.scene(recorded, i)
        ]
    parent = folder.parent
    if (
        folder.name == split
        and len(dataset_files(parent)) == lineage.get("dataset_files")
        and dataset_sha256(parent)[0] == lineage.get("dataset_sha256")
    ):
        return list(ids)
    return []


def _trained_on(
    training: dict[str, Any], folder: Path, ids: Sequence[str], hashes: _Hashes
) -> list[str]:
    """The scenes of ``ids`` that a manifest was fine-tuned on: those of the train split of its
    recorded dataset (:func:`_split_scenes`) that its ``training`` record's ``train_scenes``
    names."""
    scenes = _split_scenes(training, folder, ids, "train", hashes) or []
    trained = set(training.get("finetune", {}).get("train_scenes", scenes))
    return [i for i in scenes if i in trained]


def _tuned_on_val(
    training: dict[str, Any], folder: Path, ids: Sequence[str], hashes: _Hashes
) -> list[str] | None:
    """The scenes of ``ids`` that are the ``val/`` split of the dataset a manifest was
    fine-tuned on (where its epochs, K and threshold were chosen); None where it records no
    dataset."""
    return _split_scenes(training, folder, ids, "val", hashes)


def _object_recall(table: list[dict[str, float]]) -> dict[str, float]:
    objects = sum(int(r["objects"]) for r in table)
    detected = sum(int(r["detected"]) for r in table)
    return {
        "objects": objects,
        "objects_detected": detected,
        "object_recall": detected / objects if objects else math.nan,
    }


def format_comparison(report: dict[str, Any]) -> str:
    """The report as a short Markdown table per setting."""
    lines = [
        f"old: {report['old']}",
        f"new: {report['new']}",
        f"data: {report['data']} ({len(report['scenes'])} scenes)",
        f"groups of scenes: {report['scene_groups']['description']}",
        "",
    ]
    tuned = report.get("tuned_on_val", {})
    n = len(report["scenes"])

    def tuned_count(key: str) -> int:
        return len(tuned.get(key) or [])

    whole = [key for key in ("old", "new") if tuned_count(key) == n and n]
    for key in ("old", "new"):
        if 0 < tuned_count(key) < n:
            lines += [
                f"{tuned_count(key)} of these {n} scenes are the val/ scenes the {key} "
                "manifest's epochs, K and threshold were chosen on (in-sample for it); compare "
                "on scenes of a region neither saw.",
                "",
            ]
    if whole:
        which = " and ".join(whole)
        # "No test/ split" only where --data named a dataset and val/ was taken for want of test/
        why = "No test/ split: compared" if report.get("fell_back_to_val") else "Compared"
        lines += [
            f"{why} on val/, the scenes the {which} manifest's epochs, K and "
            "threshold were chosen on (in-sample for it); compare on scenes of a region "
            "neither saw.",
            "",
        ]
    elif (
        not any(tuned_count(key) for key in ("old", "new"))
        and Path(report["data"]).name == "val"
        and None in (tuned.get("old"), tuned.get("new"))
    ):
        lines += [
            "Compared on a folder named val/: where it is the split a manifest's K and "
            "threshold were chosen on, that manifest's scores here are in-sample; compare on "
            "scenes of a region neither saw.",
            "",
        ]
    for key, trained in report.get("trained_on", {}).items():
        if trained:
            lines += [
                f"{len(trained)} of these {len(report['scenes'])} scenes are the {key} "
                "manifest's fine-tuning scenes (train/ of the dataset it was tuned on): its "
                "scores on them are in-sample; compare on scenes of a region neither saw.",
                "",
            ]
    share = report.get("known_share", 1.0)
    if share == share and share < 0.5:  # not NaN
        lines += [
            f"Only {100 * share:.2g}% of the scenes' pixels have a known class (scenes of "
            "reviews know the background only near what was reviewed, of catalogue points "
            "nothing within a point's stated accuracy): false objects elsewhere are not "
            "counted here; judge false alarms on labelled scenes of a left-out region "
            "(`evaluate --chain`, `monitor.ops.operating_point`).",
            "",
        ]
    for key, other in (("old", "new"), ("new", "old")):
        alone = report.get("only_in", {}).get(key, [])
        if alone:
            lines += [
                f"Only the {key} manifest has setting(s) {', '.join(alone)}: not compared; the "
                f"{other} one would run without them (an S1 setting is the radar-only fallback "
                "under clouds).",
                "",
            ]
    for setting, r in report["settings"].items():
        lines += [
            f"## {setting}",
            "",
            "| model | K | threshold | precision | recall | F1 | object recall | false objects |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for key in ("old", "new"):
            m = r[key]
            scores = " | ".join(
                format_score(m[k]) for k in ("precision", "recall", "f1", "object_recall")
            )
            lines.append(
                f"| {key} | {m['members']} | {m['threshold']:.2f} | {scores} "
                f"({m['objects_detected']}/{m['objects']}) | {m['false_objects']} |"
            )
        d, c = r["f1_difference"], r["false_objects_difference"]
        level = f"{d['level'] * 100:g} % interval "
        # one group has nothing to resample (found in a walkthrough: "10,000 resamples of
        # n = 1 groups", then "nothing to resample")
        # nor does it for one difference where the other has groups (found in review)
        how = (
            f"Paired bootstrap of groups of scenes ({d['resamples']:,} resamples of n = "
            f"{d['groups']} groups, {d['scenes']} scenes)"
            if d["groups"] >= 2
            else f"Paired bootstrap of groups of scenes ({d['resamples']:,} resamples, "
            f"{d['scenes']} scenes)"
            if c["groups"] >= 2
            else f"On {d['groups']} group(s) of scenes ({d['scenes']} scenes)"
        )
        lines += [
            "",
            f"{how}, new minus old:",
            f"- pixel F1 {d['difference']:+.3f} ({format_interval(d, '+.3f', level)}); new "
            f"better on {d['wins']} scenes"
            + (
                f" ({d['scenes_without_known_pixels']} scene(s) without a known pixel left out)"
                if d.get("scenes_without_known_pixels")
                else ""
            ),
            f"- false objects {c['difference']:+.0f} ({format_interval(c, '+.0f', level)}"
            + (f", n = {c['groups']} groups" if c["groups"] != d["groups"] else "")
            + f"); new has fewer on {c['fewer']} scenes",
        ]
        # F1 leaves out scenes without a known pixel, and can hold fewer groups than the count
        short = [name for name, x in (("pixel F1", d), ("false objects", c)) if x["groups"] < 2]
        if short:
            where = "" if len(short) == 2 else f" for {short[0]}"
            lines.append(
                f"- {min(d['groups'], c['groups'])} group(s) of scenes{where}: nothing to "
                "resample, so no interval; compare on scenes of more regions"
            )
        lines.append("")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> Path:
    """``report`` as JSON (NaN as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_ready(report), indent=1) + "\n")
    return path
