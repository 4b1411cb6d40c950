"""Training one member as in Ganerød et al. (Section 3.4): smart random crops and 90° rotations,
epochs of ``iterations`` steps at batch 4, validation F1 after each epoch and early stopping when
it has not improved for ``patience`` epochs; the best epoch's weights are kept. The flips and
the optimiser (Adam) are this project's choices: the paper names neither. Per-band
normalisation statistics come from the training scenes and are saved with the weights.

A member can also start from saved weights (:class:`Start`, ``python -m models extend``): its
epochs then count on from the epoch those weights are of, that epoch's validation F1 is the one
to beat, and the saved weights are kept when no later epoch beats it.

With ``average_last`` = N the member trains every epoch (no early stopping) and keeps the
average of the weights of its last N epochs instead of its best epoch: stochastic weight
averaging (Izmailov et al. 2018, "Averaging weights leads to wider optima and better
generalization"), with the batch-normalisation statistics recomputed on one epoch of training
crops (``torch.optim.swa_utils``). The best of a dozen noisy validation scores is partly luck
of the draw; an average is chosen by no score. The one comparison left is with a start's
weights, which are kept when the average scores no higher on validation.

Every epoch writes a resume state (``state.pt``, tensors and plain values only, read back with
``torch.load(weights_only=True)``); a finished member writes ``result.json`` and is skipped by a
rerun. Deterministic for a given seed on CPU. CUDA, when present, trains in mixed precision.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch.optim.swa_utils import AveragedModel, update_bn
from tqdm.auto import tqdm

from models.atomic import full_disk_note
from models.datasets import Augmentation, CropSampler, Scene, band_statistics, channels_of
from models.inference import predict_members, resolve_device
from models.manifest import save_member_weights, sha256_file, verified_file
from models.metrics import Confusion, confusion
from models.zoo import Member, MemberSpec, build_loss, check_schedule

__all__ = [
    "Start",
    "TrainConfig",
    "TrainResult",
    "evaluate_member",
    "scene_confusion",
    "train_member",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Ganerød et al.'s values are the defaults; the shipped CPU default uses fewer."""

    crop: int = 256
    batch_size: int = 4
    iterations: int = 1000  # steps per epoch
    max_epochs: int = 200
    patience: int = 50  # epochs without a better validation F1 before stopping
    seed: int = 0
    val_tile: int = 512
    val_threshold: float = 0.5
    device: str | None = None  # None: CUDA when present
    weight_decay: float = 0.0
    threads: int | None = None  # torch CPU threads; 1 is fastest on a busy shared machine
    # perturbations of the crops (datasets.Augmentation fields; {} for its defaults), None: off
    augment: Mapping[str, float] | None = None
    # keep the mean of the last N epochs' weights, not the best epoch's (0: the best epoch)
    average_last: int = 0

    def __post_init__(self) -> None:
        # a grid's `train:` block is read into this (from_dict names the block)
        check_schedule(
            self,
            sides=("crop", "val_tile"),
            counts=("batch_size", "iterations", "max_epochs", "patience", "threads"),
            threshold="val_threshold",
        )
        if not 0 <= self.average_last <= self.max_epochs:
            raise ValueError(
                f"average_last must lie in 0..max_epochs ({self.max_epochs}), got "
                f"{self.average_last}"
            )

    def schedule(self) -> dict[str, Any]:
        """The options that change the trained weights (not where or how fast they run);
        ``augment`` and ``average_last`` only when set, so members trained before they existed
        still match."""
        out = {k: v for k, v in asdict(self).items() if k not in ("device", "threads")}
        if not self.average_last:
            del out["average_last"]
        augmentation = self.augmentation()
        if augmentation is None:
            del out["augment"]
        else:
            out["augment"] = asdict(augmentation)
        return out

    def augmentation(self) -> Augmentation | None:
        return None if self.augment is None else Augmentation(**self.augment)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        augment = raw.get("augment")
        if augment is not None:
            if not isinstance(augment, Mapping):
                raise ValueError(f"train.augment must be a mapping, got {augment!r}")
            bad = set(augment) - set(Augmentation.__dataclass_fields__)
            if bad:
                raise ValueError(f"unknown augment option(s): {', '.join(sorted(bad))}")
            Augmentation(**augment)
        try:
            return cls(**raw)
        except ValueError as err:  # the grid's block
            raise ValueError(f"train.{err}") from None


@dataclass(frozen=True)
class Start:
    """Saved weights a member continues from: the file, its SHA-256 (checked before training)
    and the epoch they are of (the member's best epoch in the run that saved them)."""

    weights: Path
    sha256: str
    epoch: int

    def record(self) -> dict[str, Any]:
        """What a result and its resume state record of the start (not the path: a copy of
        the same weights elsewhere is the same start)."""
        return {"sha256": self.sha256, "epoch": self.epoch}


@dataclass
class TrainResult:
    spec: MemberSpec
    val_f1: float
    best_epoch: int
    epochs: int
    seconds: float
    weights: Path
    sha256: str
    history: list[dict[str, float | None]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # TrainConfig.schedule() it ran with
    data: str = ""  # data_fingerprint() of the scenes it learnt from and was validated on
    # with average_last: the epochs averaged, the average's validation F1, whether it was kept
    averaged: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["spec"] = self.spec.to_dict()
        out["weights"] = self.weights.name
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any], folder: Path) -> TrainResult:
        spec = MemberSpec(**raw["spec"])
        return cls(
            spec=spec,
            val_f1=raw["val_f1"],
            best_epoch=raw["best_epoch"],
            epochs=raw["epochs"],
            seconds=raw["seconds"],
            weights=folder / raw["weights"],
            sha256=raw["sha256"],
            history=raw.get("history", []),
            config=raw.get("config", {}),
            data=raw.get("data", ""),
            averaged=raw.get("averaged"),
        )


def data_fingerprint(train: Sequence[Scene], val: Sequence[Scene], setting: str) -> str:
    """What a member learns from and is chosen on: the training and validation scenes (ids,
    shapes, labels, ignore masks and a sample of the setting's inputs every 8th pixel). A
    finished or resumed member of other data is trained again: a work folder reused for a new
    inventory returned the old members, and the manifest named the new scenes."""
    digest = hashlib.sha256(setting.encode())
    bands = list(channels_of(setting))
    for split, scenes in (("train", train), ("val", val)):
        for scene in sorted(scenes, key=lambda s: s.id):
            digest.update(f"{split}:{scene.id}:{scene.image.shape}".encode())
            digest.update(np.ascontiguousarray(scene.label).data)  # no copy: the buffer
            digest.update(np.ascontiguousarray(scene.known).data)
            # strided first: a view of every 8th pixel, then the setting's bands of it
            sample = scene.image[:, ::8, ::8][bands]
            digest.update(np.ascontiguousarray(sample, dtype=np.float32).data)
    return digest.hexdigest()


def _seed_for(spec: MemberSpec, seed: int) -> int:
    return (zlib.crc32(spec.cell.encode()) + seed) % (2**31)


def evaluate_member(
    member: torch.nn.Module,
    scenes: Sequence[Scene],
    setting: str,
    *,
    threshold: float = 0.5,
    tile: int = 512,
    device: str | torch.device | None = None,
) -> Confusion:
    """Pooled confusion of one member over whole scenes (NaN inputs and ignored pixels
    excluded), in torch: the
    weights change between calls, so exporting them for ONNX Runtime would never pay."""
    total = Confusion()
    for scene in scenes:
        prob = predict_members(
            [member], scene.channels(setting), tile=tile, device=device, engine="torch"
        )[0]
        total = total + scene_confusion(prob, scene, threshold)
    return total


def scene_confusion(prob: np.ndarray, scene: Scene, threshold: float) -> Confusion:
    """Confusion of one ``(H, W)`` probability on ``scene`` at ``threshold`` (NaN and ignored
    pixels excluded), as :func:`evaluate_member` pools it."""
    valid = np.isfinite(prob) & scene.known
    return confusion(prob >= threshold, scene.label > 0, valid)


def train_member(
    spec: MemberSpec,
    train: Sequence[Scene],
    val: Sequence[Scene],
    workdir: Path,
    config: TrainConfig = TrainConfig(),
    *,
    progress: bool = True,
    log_epochs: bool = False,
    start_from: Start | None = None,
) -> TrainResult:
    """Train ``spec`` (or resume it, or return its finished result) in ``workdir/<name>/``;
    from ``start_from``'s weights when given, its epochs counting on from that start's epoch up
    to ``config.max_epochs``. ``progress``: a bar; ``log_epochs``: a log line an epoch instead
    (a worker's, whose bar would mix with the others')."""
    if start_from is not None and config.average_last > config.max_epochs - start_from.epoch:
        raise ValueError(
            f"{spec.name}: average_last ({config.average_last}) is more than the epochs trained "
            f"from epoch {start_from.epoch} to max_epochs ({config.max_epochs})"
        )
    folder = Path(workdir) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    data = data_fingerprint(train, val, spec.setting)
    recorded = _schedule(config, start_from)
    done = _finished_result(folder, spec, recorded, data)
    if done is not None:
        return done
    run = _setup(spec, train, config, start_from)
    state_path = folder / "state.pt"
    schedule = json.dumps({**recorded, "data": data}, sort_keys=True)

    def fresh() -> _Progress:
        at = _Progress(epoch=0, best_f1=-1.0, best_epoch=0, best_state=_copy_state(run.member))
        if start_from is not None:  # the saved weights' own score is the one to beat
            f1 = _val_f1(run, val, config)
            at.epoch = at.best_epoch = start_from.epoch
            at.best_f1 = f1
            # no training loss for the saved weights' epoch: null, not NaN, in result.json
            at.history.append({"epoch": start_from.epoch, "loss": None, "val_f1": f1})
            log.info("%s: from epoch %d, val F1 %.3f", spec.name, start_from.epoch, f1)
        return at

    at = _resume(state_path, schedule, run, spec.name, fresh)
    start = time.perf_counter() - at.elapsed
    bar = tqdm(
        total=config.max_epochs * config.iterations,
        initial=at.epoch * config.iterations,
        desc=spec.name,
        unit="it",
        disable=not progress,
        leave=False,
        mininterval=2.0,
    )
    while at.epoch < config.max_epochs and (
        run.averaged is not None or at.epoch - at.best_epoch < config.patience
    ):
        loss = _train_epoch(run, config, bar)
        at.epoch += 1
        f1 = _val_f1(run, val, config)
        at.history.append({"epoch": at.epoch, "loss": loss, "val_f1": f1})
        # the best so far, this epoch's counted (it showed best=-1.000 after the first; with
        # average_last, whose best_f1 stays unset while epochs are averaged, this epoch's alone)
        best = max(h["val_f1"] or 0.0 for h in at.history)
        bar.set_postfix(loss=f"{loss:.3f}", val_f1=f"{f1:.3f}", best=f"{best:.3f}")
        if log_epochs:  # a worker's (no bar): a line an epoch, found in a walk: the shipped
            # grid's two workers said nothing for the minutes of a member's training
            log.info(
                "%s: epoch %d of at most %d, loss %.3f, val F1 %.3f (best %.3f)",
                spec.name, at.epoch, config.max_epochs, loss, f1, best,
            )  # fmt: skip
        if run.averaged is not None:  # epochs are averaged, not chosen by their scores
            if at.epoch > config.max_epochs - config.average_last:
                run.averaged.update_parameters(run.member)
        elif f1 > at.best_f1:
            at.best_f1, at.best_epoch = f1, at.epoch
            at.best_state = _copy_state(run.member)
        at.elapsed = time.perf_counter() - start
        _save_state(state_path, _resume_state(run, at, schedule))
    bar.close()
    averaged = None if run.averaged is None else _take_average(run, run.averaged, at, val, config)
    result = _write_result(folder, spec, recorded, run.member, at, start, data, averaged)
    state_path.unlink(missing_ok=True)
    log.info("%s: val F1 %.3f at epoch %d of %d", spec.name, at.best_f1, at.best_epoch, at.epoch)
    return result


def _bn_batches(run: _Run, config: TrainConfig) -> Iterator[torch.Tensor]:
    """One epoch of training crops (``config.iterations`` batches), as the epochs draw them."""
    for _ in range(config.iterations):
        xb, _ = run.sampler.sample(config.batch_size)
        yield torch.from_numpy(xb)


def _take_average(
    run: _Run, averaged: AveragedModel, at: _Progress, val: Sequence[Scene], config: TrainConfig
) -> dict[str, Any]:
    """Put ``averaged`` (the mean of the last ``config.average_last`` epochs' weights) into
    ``run.member``, its batch-normalisation statistics recomputed on a fresh epoch of training
    crops, and into ``at`` as the weights to keep, unless a start's weights score as high on
    validation; the record of it."""
    epochs = int(averaged.n_averaged)
    update_bn(_bn_batches(run, config), averaged, device=run.device)
    run.member.load_state_dict(averaged.module.state_dict())
    f1 = _val_f1(run, val, config)
    kept = f1 > at.best_f1  # from scratch the best is -1; from a start, the start's F1
    record = {
        "epochs": [at.epoch - epochs + 1, at.epoch],
        "val_f1": f1,
        "kept": kept,
    }
    if kept:
        at.best_f1, at.best_epoch = f1, at.epoch
        at.best_state = _copy_state(run.member)
    else:
        log.info(
            "%s: the average of epochs %d-%d (val F1 %.3f) scores no higher than the start's "
            "weights (%.3f): they are kept", run.member.spec.name, at.epoch - epochs + 1,
            at.epoch, f1, at.best_f1,
        )  # fmt: skip
    return record


def _schedule(config: TrainConfig, start_from: Start | None) -> dict[str, Any]:
    """What a result records of how it was trained: the schedule, and the start when not from
    scratch (a member trained on from other weights is another member)."""
    out = config.schedule()
    if start_from is not None:
        out["start"] = start_from.record()
    return out


def _val_f1(run: _Run, val: Sequence[Scene], config: TrainConfig) -> float:
    """The member's validation F1 now (its epoch's score)."""
    return evaluate_member(
        run.member,
        val,
        run.member.spec.setting,
        threshold=config.val_threshold,
        tile=config.val_tile,
        device=run.device,
    ).f1


def _finished_result(
    folder: Path, spec: MemberSpec, schedule: dict[str, Any], data: str
) -> TrainResult | None:
    """The finished result in ``folder`` when it is of ``spec``, of the ``schedule``
    (:func:`_schedule`), of the ``data`` (:func:`data_fingerprint`) and its weights are intact;
    otherwise None (and a stale result is removed)."""
    result_path = folder / "result.json"
    if not result_path.exists():
        return None
    done = TrainResult.from_json(json.loads(result_path.read_text()), folder)
    legacy = done.data == ""  # written before the fingerprint existed: its data is unknown
    same = done.spec == spec and done.config == schedule
    if same and (legacy or done.data == data) and sha256_file(done.weights) == done.sha256:
        if legacy:  # kept (hours of training), but said: nothing checks what it learnt from
            log.warning(
                "%s: a result of an earlier version, which recorded no data fingerprint: "
                "reused as is; delete %s to train it on these scenes", spec.name, folder,
            )  # fmt: skip
        return done
    log.warning("%s: result of another spec, schedule, data or weights; retraining", spec.name)
    result_path.unlink()
    return None


@dataclass
class _Run:
    """What the epochs work with: the member, its crops, loss, optimiser and gradient scaler."""

    member: Member
    sampler: CropSampler
    loss_fn: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    averaged: AveragedModel | None = None  # the running mean of the weights (average_last)

    @property
    def use_amp(self) -> bool:
        return self.device.type == "cuda"


def _setup(
    spec: MemberSpec, train: Sequence[Scene], config: TrainConfig, start_from: Start | None = None
) -> _Run:
    """A freshly initialised member (seeded by its name and ``config.seed``) with the
    normalisation of the training scenes, or the member of ``start_from``'s weights (and their
    normalisation; crops of another seed than its first run's), with its crop sampler, loss and
    a new optimiser."""
    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed = _seed_for(spec, config.seed + (0 if start_from is None else start_from.epoch))
    torch.manual_seed(seed)
    if start_from is None:
        mean, std = band_statistics(train, spec.setting, seed=config.seed)
        member = Member(spec, mean, std)
    else:
        member = Member(spec, [0.0] * spec.in_channels, [1.0] * spec.in_channels)
        path = verified_file(
            start_from.weights,
            start_from.sha256,
            f"member {spec.name}: the weights to train on from,",
            "Give the manifest those weights belong to",
        )
        member.load_state_dict(load_file(str(path)), strict=True)
    member = member.to(device)
    crop = max(config.crop, member.min_side)
    if crop != config.crop:  # found in a walkthrough: PAN trained on larger crops unsaid
        log.warning(
            "%s: crops of %d px, not the grid's %d: %s takes inputs of %d px at least",
            spec.name, crop, config.crop, spec.architecture, member.min_side,
        )  # fmt: skip
    sampler = CropSampler(train, spec.setting, crop, seed=seed, augment=config.augmentation())
    optimizer = torch.optim.Adam(
        member.parameters(), lr=spec.learning_rate, weight_decay=config.weight_decay
    )
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda")
    averaged = AveragedModel(member) if config.average_last else None
    return _Run(member, sampler, build_loss(spec.loss), optimizer, scaler, device, averaged)


@dataclass
class _Progress:
    """Where training stands: epochs done, the best validation F1, its epoch and weights, the
    per-epoch history and the seconds spent so far."""

    epoch: int
    best_f1: float
    best_epoch: int
    best_state: dict[str, torch.Tensor]
    history: list[dict[str, float | None]] = field(default_factory=list)
    elapsed: float = 0.0


def _copy_state(member: Member) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in member.state_dict().items()}


def _resume(
    state_path: Path, schedule: str, run: _Run, name: str, fresh: Callable[[], _Progress]
) -> _Progress:
    """The progress saved in ``state_path`` by a run of the same schedule, with the member,
    optimiser and random generators put back where it stopped; ``fresh()`` otherwise."""
    if not state_path.exists():
        return fresh()
    state = torch.load(state_path, map_location=run.device, weights_only=True)
    if state.get("schedule") != schedule:
        log.warning("%s: resume state of another schedule; starting afresh", name)
        state_path.unlink()
        return fresh()
    run.member.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.averaged is not None:
        run.averaged.load_state_dict(state["averaged"])
    at = _Progress(
        epoch=state["epoch"],
        best_f1=state["best_f1"],
        best_epoch=state["best_epoch"],
        best_state=state["best_model"],
        history=state["history"],
        elapsed=state["elapsed"],
    )
    run.sampler.rng.bit_generator.state = json.loads(state["sampler_rng"])
    torch.set_rng_state(state["torch_rng"].cpu())
    log.info("%s: resuming after epoch %d (best F1 %.3f)", name, at.epoch, at.best_f1)
    return at


def _resume_state(run: _Run, at: _Progress, schedule: str) -> dict[str, Any]:
    """What :func:`_resume` reads back: tensors and plain values only."""
    return {
        "model": run.member.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "best_model": at.best_state,
        "epoch": at.epoch,
        "best_f1": at.best_f1,
        "best_epoch": at.best_epoch,
        "history": at.history,
        "elapsed": at.elapsed,
        "sampler_rng": json.dumps(run.sampler.rng.bit_generator.state),
        "torch_rng": torch.get_rng_state(),
        "schedule": schedule,
        **({} if run.averaged is None else {"averaged": run.averaged.state_dict()}),
    }


def _train_epoch(run: _Run, config: TrainConfig, bar: tqdm) -> float:
    """``config.iterations`` optimiser steps on fresh crops; the mean training loss."""
    run.member.train()
    losses = []
    for _ in range(config.iterations):
        xb, yb = run.sampler.sample(config.batch_size)
        x = torch.from_numpy(xb).to(run.device)
        y = torch.from_numpy(yb).to(run.device)
        with torch.autocast(run.device.type, torch.float16, enabled=run.use_amp):
            loss = run.loss_fn(run.member(x), y)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        losses.append(float(loss.detach()))
        bar.update(1)
    return float(np.mean(losses))


def _write_result(
    folder: Path,
    spec: MemberSpec,
    schedule: dict[str, Any],
    member: Member,
    at: _Progress,
    start: float,
    data: str,
    averaged: dict[str, Any] | None = None,
) -> TrainResult:
    """The kept weights (``best.safetensors``: the best epoch's, or the average's) and
    ``result.json``, written atomically; ``start`` is the ``perf_counter`` time training began
    at (less the time before a resume)."""
    member.load_state_dict(at.best_state)
    member.cpu()
    weights = folder / "best.safetensors"
    sha = save_member_weights(member, weights, metadata={"name": spec.name})
    result = TrainResult(
        spec=spec,
        val_f1=at.best_f1,
        best_epoch=at.best_epoch,
        epochs=at.epoch,
        seconds=time.perf_counter() - start,
        weights=weights,
        sha256=sha,
        history=at.history,
        config=schedule,
        data=data,
        averaged=averaged,
    )
    result_path = folder / "result.json"
    tmp = result_path.with_suffix(".json.part")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    os.replace(tmp, result_path)
    return result


def _save_state(path: Path, state: dict[str, Any]) -> None:
    """Save ``state`` in place of ``path``; a save that fails leaves no partial file (found in
    a walk: on a full disk, torch's "unexpected pos 2546496 vs 2546416" said nothing of the disk
    and its ``.part`` held on to the space) and is an :class:`OSError` naming the file."""
    tmp = path.with_suffix(".pt.part")
    try:
        torch.save(state, tmp)
    except (OSError, RuntimeError) as err:  # torch's writer raises RuntimeError for a short write
        tmp.unlink(missing_ok=True)
        raise OSError(
            f"{path}: cannot save the training state: {err}{full_disk_note(path.parent)}"
        ) from err
    os.replace(tmp, path)
