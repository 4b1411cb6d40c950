"""Fine-tuning an ensemble on reviewed or exported scenes (``python -m models finetune``).

Every member of the parent manifest (trained here or imported with ``import-checkpoint``)
continues from its weights and keeps its normalisation: a few epochs of the training loop of
:mod:`models.train` (Adam, random crops with flips and rotations) at a lower learning rate (the
member's own times ``lr_scale``), with the ignore label honoured by its loss
(:class:`models.zoo.IgnoringLoss`). Crops are anchored on landslide pixels and on the member's
own false alarms in the training scenes (pixels it predicts at 0.5 that are labelled 0: the
dismissed look-alikes of a review), so the hard negatives are seen. After each epoch the member
is scored on the held-out scenes (F1 at 0.5, ignored pixels left out); the best epoch is kept,
epoch 0 (the parent's weights) included, so a member is never made worse on them.

K and the threshold of every setting are then chosen again on the held-out scenes
(:func:`models.selection.choose_k`), and the new manifest records its lineage (the parent
manifest's and the dataset's SHA-256, :mod:`models.lineage`).

Data: a dataset folder with ``train/`` and ``val/`` in the Ganerød et al. layout, as
``landslide-monitor dataset export`` and ``dataset from-reviews`` write it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.datasets import CropSampler, DatasetError, Scene, read_folder
from models.inference import predict_members, resolve_device
from models.lineage import lineage_of
from models.manifest import (
    ManifestError,
    ManifestModel,
    MemberEntry,
    SettingEntry,
    load_member,
    member_entry,
    read_manifest,
    save_member_weights,
    write_manifest,
)
from models.selection import choose_k, scene_probabilities
from models.train import evaluate_member
from models.zoo import Member, build_loss

__all__ = ["FinetuneConfig", "finetune", "hard_negative_anchors"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinetuneConfig:
    """Few epochs at a lower learning rate (defaults sized for CPU members)."""

    epochs: int = 4
    iterations: int = 40  # optimiser steps per epoch
    lr_scale: float = 0.1  # the member's learning rate times this
    crop: int = 64
    batch_size: int = 4
    seed: int = 0
    threshold: float = 0.5  # of a member's false alarms (crop anchors) and its validation F1
    val_tile: int = 512
    k: int | None = None  # at most this many members per setting (default: all of the parent's)
    device: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "iterations", "crop", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.lr_scale > 0:
            raise ValueError(f"lr_scale must be positive, got {self.lr_scale}")


def hard_negative_anchors(
    member: Member, scenes: Sequence[Scene], *, threshold: float = 0.5, tile: int = 512
) -> list[np.ndarray]:
    """Per scene, the pixels a crop may be anchored on: labelled landslide, or labelled
    background where ``member`` predicts a landslide (its false alarms)."""
    anchors = []
    for scene in scenes:
        prob = predict_members([member], scene.channels(member.spec.setting), tile=tile)[0]
        false_alarm = (prob >= threshold) & (scene.label == 0) & scene.known
        anchors.append((scene.label > 0) | false_alarm)
    return anchors


def _tune_member(
    entry: MemberEntry,
    base_dir: Path,
    train: Sequence[Scene],
    val: Sequence[Scene],
    config: FinetuneConfig,
    device: torch.device,
) -> tuple[Member, dict[str, Any]]:
    member = load_member(entry, base_dir).to(device)
    setting = member.spec.setting
    seed = config.seed + sum(entry.name.encode())
    torch.manual_seed(seed)
    anchors = hard_negative_anchors(member, train, threshold=config.threshold, tile=config.val_tile)
    sampler = CropSampler(
        train, setting, max(config.crop, member.min_side), seed=seed, anchors=anchors
    )
    lr = entry.learning_rate * config.lr_scale
    optimizer = torch.optim.Adam(member.parameters(), lr=lr)
    loss_fn = build_loss(entry.loss)

    def score() -> float:
        return evaluate_member(
            member, val, setting, threshold=config.threshold, tile=config.val_tile, device=device
        ).f1

    best_f1, best_epoch = score(), 0
    best_state = {k: v.detach().clone() for k, v in member.state_dict().items()}
    history: list[dict[str, float]] = [{"epoch": 0, "loss": float("nan"), "val_f1": best_f1}]
    for epoch in range(1, config.epochs + 1):
        member.train()
        losses = []
        for _ in range(config.iterations):
            xb, yb = sampler.sample(config.batch_size)
            x, y = torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)
            loss = loss_fn(member(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        f1 = score()
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_f1": f1})
        if f1 > best_f1:
            best_f1, best_epoch = f1, epoch
            best_state = {k: v.detach().clone() for k, v in member.state_dict().items()}
    member.load_state_dict(best_state)
    member.cpu().eval()
    record = {
        "learning_rate": lr,
        "parent_val_f1": history[0]["val_f1"],
        "val_f1": best_f1,
        "best_epoch": best_epoch,
        "history": history,
    }
    log.info(
        "%s: held-out F1 %.3f -> %.3f (epoch %d of %d)",
        entry.name, history[0]["val_f1"], best_f1, best_epoch, config.epochs,
    )  # fmt: skip
    return member, record


def _read_split(data: Path, split: str) -> list[Scene]:
    folder = Path(data) / split
    if not (folder / "input").is_dir():
        raise DatasetError(
            f"{folder}: missing; fine-tuning needs {split}/input and {split}/label in {data} "
            "(as `landslide-monitor dataset export` or `dataset from-reviews` write them)"
        )
    return read_folder(folder)


def finetune(
    manifest: Path,
    data: Path,
    out_dir: Path,
    config: FinetuneConfig = FinetuneConfig(),
) -> Path:
    """Fine-tune every member of ``manifest`` on ``data/train``, choose K and the thresholds
    again on ``data/val`` and write ``out_dir/manifest.json`` (with the new weights and the
    lineage); returns its path."""
    manifest, data, out_dir = Path(manifest), Path(data), Path(out_dir)
    parent = read_manifest(manifest)
    train, val = _read_split(data, "train"), _read_split(data, "val")
    for entry in parent.members:
        if entry.setting == "L4S":
            raise ManifestError(
                f"member {entry.name}: setting L4S (Landslide4Sense bands) cannot be fine-tuned "
                "on feature-stack scenes"
            )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tuned: dict[str, tuple[Member, dict[str, Any]]] = {}
    for entry in parent.members:
        tuned[entry.name] = _tune_member(entry, manifest.parent, train, val, config, device)
    entries: list[MemberEntry] = []
    settings: dict[str, SettingEntry] = {}
    selection: dict[str, Any] = {}
    for setting, parent_entry in parent.settings.items():
        names = sorted(parent_entry.members, key=lambda n: (-tuned[n][1]["val_f1"], n))
        names = names[: config.k] if config.k else names
        members = [tuned[n][0] for n in names]
        probs = [scene_probabilities(members, s, setting, tile=config.val_tile) for s in val]
        k, scan = choose_k(probs, [s.label > 0 for s in val])
        threshold, f1 = scan[k - 1]
        chosen = names[:k]
        selection[setting] = {
            "k": k,
            "candidates": names,
            "val_f1_by_k": [round(v, 4) for _, v in scan],
            "threshold_by_k": [t for t, _ in scan],
            "parent": {"members": parent_entry.members, "threshold": parent_entry.threshold},
        }
        for name in chosen:
            member, record = tuned[name]
            old = parent.member(name)
            file = f"{name}.safetensors"
            sha = save_member_weights(member, out_dir / file, metadata={"name": name})
            origin = old.origin if old.origin.startswith("finetuned") else f"finetuned:{old.origin}"
            new_entry = member_entry(
                member, file, sha, val_f1=record["val_f1"], origin=origin, epochs=old.epochs
            )
            entries.append(new_entry.model_copy(update={"name": name}))  # imported names stay
        settings[setting] = SettingEntry(members=chosen, threshold=threshold, val_f1=f1)
        log.info("%s: K=%d, threshold %.2f, held-out F1 %.3f", setting, k, threshold, f1)
    training = {
        "finetune": {
            "config": asdict(config),
            "train_scenes": [s.id for s in train],
            "val_scenes": [s.id for s in val],
            "members": {name: record for name, (_, record) in tuned.items()},
            "selection": selection,
            "seconds": round(time.perf_counter() - start, 1),
        },
        "parent_training": {k: v for k, v in parent.training.items() if k != "candidates"},
        "lineage": lineage_of(manifest, data).model_dump(),
    }
    description = f"{parent.description} (fine-tuned on {data.name})".strip()
    new = ManifestModel(
        description=description, settings=settings, members=entries, training=training
    )
    return write_manifest(out_dir / "manifest.json", new)
