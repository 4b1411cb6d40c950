"""Train an ensemble's chosen members on (``python -m models extend``).

A training grid spends its budget evenly: every cell trains for the same few epochs, and most
of them end far from the members the validation families choose. ``extend`` spends more on the
chosen ones alone, the second rung of successive halving (Jamieson and Talwalkar 2016,
"Non-stochastic best arm identification and hyperparameter optimization"; Li et al. 2018,
"Hyperband"): short runs of many configurations first, then the budget on the few that
validation ranks best.

Each member of the manifest trains on from its weights with the schedule it was trained with
(the manifest's ``training.grid.train``: crops, batch, steps per epoch, augmentation, validation
tiles), its epochs counting on from the one its weights are of, for ``epochs`` more, and keeps
the mean of the weights of its last ``average_last`` epochs (a third of them by default:
stochastic weight averaging, Izmailov et al. 2018; :mod:`models.train`), or its saved weights
when that average scores no higher on validation (:class:`models.train.Start`). With
``average_last=0`` it keeps its best epoch instead, stopping after ``patience`` epochs without
a better validation F1. The average is the default because the best epoch was measured to cost
large landslides: on the randomised world the members' best epochs (of up to 12 more, by
validation pixel F1) found 73 and 75 of the validation families' 103 landslides of 1 ha or
more through the chain in two runs, against 82 for their starting weights, where the average
of the last 4 found 83 and 80 (at higher pixel F1 than the start in every case;
docs/models.md, "More epochs for the chosen members"). K and the thresholds are then
chosen again on the validation scenes, as ``python -m models select`` does
(:func:`models.selection.assemble_ensemble`). The new manifest records the parent's selection
and candidates, each member's start and result, and the lineage (the parent manifest's and the
dataset's SHA-256).

The object filter is not carried over: it was fitted on the parent's candidates, whose
probabilities the new members change. Fit it again on the new manifest
(``python -m monitor.ops.filter_fit``).

    python -m models extend --manifest runs/grid/manifest.json --data data/randomised \\
        --work runs/extend --out models/default --epochs 12 --workers 2
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from models.datasets import read_folder, scene_ids
from models.finetune import check_out_dir
from models.grid import GridConfig, Job, runs_in_parallel, train_members
from models.inference import resolve_device
from models.lineage import lineage_of
from models.manifest import ManifestError, MemberEntry, load_member, read_manifest
from models.selection import assemble_ensemble, refuse_without_landslides
from models.train import Start, TrainConfig, TrainResult

__all__ = ["extend_ensemble", "parent_grid"]

log = logging.getLogger(__name__)


def parent_grid(manifest: Path, training: dict[str, Any]) -> GridConfig:
    """The grid the members of ``manifest`` were trained by (``training.grid``, as ``models
    train`` records it: its schedule, K, workers), read as a grid file is; a
    :class:`ManifestError` naming the field when the manifest records none with a schedule
    (members imported, or fine-tuned with another schedule) or an invalid one."""
    raw = training.get("grid")
    if not isinstance(raw, dict) or not isinstance(raw.get("train"), dict):
        raise ManifestError(
            f"{manifest}: no training.grid.train: extend trains members on with the schedule "
            "they were trained with, and this manifest does not record one (members imported "
            "or fine-tuned are not a grid's); train them with `python -m models train`"
        )
    try:
        return GridConfig.model_validate(raw)
    except ValidationError as err:
        raise ManifestError(f"{manifest}: invalid training.grid: {err}") from None


def _refuse_a_grids_work(work: Path, jobs: list[Job]) -> None:
    """Refuse a ``work`` folder that holds a member trained from scratch (a grid's work folder):
    its result would be replaced by the extended one, and ``select`` on that grid would then
    assemble the extended weights as the grid's."""
    for spec, _, _ in jobs:
        result = work / spec.name / "result.json"
        try:
            start = json.loads(result.read_text()).get("config", {}).get("start")
        except (OSError, ValueError, AttributeError):
            continue  # none there (or unreadable: train_member retrains it)
        if start is None:
            raise ValueError(
                f"--work {work} holds {spec.name} trained from scratch ({result}): a grid's work "
                "folder, whose results extending would replace; give a folder of its own"
            )


def _job(
    entry: MemberEntry, base_dir: Path, config: TrainConfig, epochs: int, average_last: int
) -> Job:
    if entry.setting == "L4S":
        raise ManifestError(
            f"member {entry.name}: setting L4S (Landslide4Sense bands) cannot be trained on "
            "feature-stack scenes"
        )
    member = load_member(entry, base_dir)  # checks its weights before hours of training
    if member.spec.name != entry.name:
        raise ManifestError(
            f"member {entry.name}: not named as a grid names its cells ({member.spec.name}); "
            "extend trains a grid's members"
        )
    start = Start(weights=base_dir / entry.file, sha256=entry.sha256, epoch=entry.epochs or 0)
    schedule = dataclasses.replace(
        config, max_epochs=start.epoch + epochs, average_last=average_last
    )
    return member.spec, schedule, start


def _member_record(entry: MemberEntry, result: TrainResult) -> dict[str, Any]:
    before = result.history[0]["val_f1"] if result.history else None  # the start's epoch
    return {
        "name": entry.name,
        "from_epoch": entry.epochs or 0,
        "val_f1_before": None if before is None else round(before, 4),
        "val_f1": round(result.val_f1, 4),
        "best_epoch": result.best_epoch,
        "epochs": result.epochs,
        "seconds": round(result.seconds, 1),
        **({} if result.averaged is None else {"averaged": _rounded_record(result.averaged)}),
    }


def _rounded_record(averaged: dict[str, Any]) -> dict[str, Any]:
    return {**averaged, "val_f1": round(averaged["val_f1"], 4)}


def _averaging(epochs: int, average_last: int | None, patience: int | None) -> int:
    """The epochs to average (:func:`extend_ensemble`'s default a third of ``epochs``), with a
    ``patience`` given refused beside an average: every epoch of an average is trained."""
    if average_last is None:
        average_last = max(1, epochs // 3)
    if not 0 <= average_last <= epochs:
        raise ValueError(f"average_last must lie in 0..epochs ({epochs}), got {average_last}")
    if average_last and patience is not None:
        raise ValueError(
            "patience stops a member at its best epoch, but with average_last "
            f"({average_last}) every epoch is trained and the last ones averaged; give "
            "--average-last 0 to keep the best epoch"
        )
    return average_last


def extend_ensemble(
    manifest: Path,
    data: Path,
    work: Path,
    out_dir: Path,
    *,
    epochs: int,
    patience: int | None = None,
    average_last: int | None = None,
    workers: int | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> Path:
    """Train the members of ``manifest`` on for ``epochs`` more on ``data/train``, keeping the
    average of the last ``average_last`` (None: a third of ``epochs``, at least 1; 0: the best
    epoch, stopping after ``patience`` epochs without a better one, the schedule's when None),
    choose K and the thresholds again on ``data/val`` and write ``out_dir/manifest.json``;
    returns its path. The members train in
    ``work`` (rerunning resumes), ``workers`` at once (the grid's when None). An ``out_dir``
    that is the parent manifest's folder or ``data``, or above either, is refused
    (:class:`ValueError`): the new weights keep the parent's file names."""
    manifest, data, work, out_dir = Path(manifest), Path(data), Path(work), Path(out_dir)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    average_last = _averaging(epochs, average_last, patience)
    check_out_dir(out_dir, manifest, data, written_by="extended")
    parent = read_manifest(manifest)
    grid = parent_grid(manifest, parent.training)
    workers = grid.workers if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    config = grid.train_config()
    # the grid's device and threads unless given (as `models train` runs them)
    config = dataclasses.replace(
        config,
        device=config.device if device is None else device,
        threads=config.threads if threads is None else threads,
    )
    resolve_device(config.device)  # a device this machine lacks: refused here, not in a worker
    if patience is not None:  # TrainConfig refuses one below 1
        config = dataclasses.replace(config, patience=patience)
    train_ids = scene_ids(data / "train")  # a folder without scenes refused here
    val = read_folder(data / "val")  # selection reads it after training too
    refuse_without_landslides(val)  # before hours of training, not after them
    base_dir = manifest.parent
    jobs = [_job(entry, base_dir, config, epochs, average_last) for entry in parent.members]
    _refuse_a_grids_work(work, jobs)
    work.mkdir(parents=True, exist_ok=True)
    # the training scenes are read where they train; workers read the folders themselves
    # (scenes given would be copied into every process)
    results = train_members(
        jobs,
        work,
        data / "train",
        data / "val" if runs_in_parallel(workers, len(jobs)) else val,
        workers,
        progress=progress,
    )
    training: dict[str, Any] = {
        "grid": parent.training["grid"],
        "train_scenes": train_ids,
        "val_scenes": [s.id for s in val],
        "candidates": parent.training.get("candidates", []),
        "extended": {
            "epochs": epochs,
            "average_last": average_last,
            "patience": None if average_last else config.patience,
            "parent_selection": parent.training.get("selection"),
            "members": [
                _member_record(entry, r) for entry, r in zip(parent.members, results, strict=True)
            ],
        },
        "lineage": lineage_of(manifest, data, method="extend").model_dump(),
    }
    written = assemble_ensemble(
        results,
        val,
        out_dir,
        k=grid.k,
        description=parent.description,
        training=training,
        tile=config.val_tile,
    )
    if parent.object_filter is not None:
        log.warning(
            "%s: the parent's object filter is not carried over (it was fitted on the parent's "
            "candidates); fit it again on this manifest: python -m monitor.ops.filter_fit",
            written,
        )
    return written
