"""Training one member as in Ganerød et al. (Section 3.4): smart random crops with flips and 90°
rotations, epochs of ``iterations`` steps at batch 4 (Adam), validation F1 after each epoch and
early stopping when it has not improved for ``patience`` epochs; the best epoch's weights are
kept. Per-band normalisation statistics come from the training scenes and are saved with the
weights.

Every epoch writes a resume state (``state.pt``, tensors and plain values only, read back with
``torch.load(weights_only=True)``); a finished member writes ``result.json`` and is skipped by a
rerun. Deterministic for a given seed on CPU. CUDA, when present, trains in mixed precision.
"""

from __future__ import annotations

import json
import logging
import os
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from models.datasets import CropSampler, Scene, band_statistics
from models.inference import predict_members, resolve_device
from models.manifest import save_member_weights, sha256_file
from models.metrics import Confusion, confusion
from models.zoo import Member, MemberSpec, build_loss

__all__ = ["TrainConfig", "TrainResult", "evaluate_member", "train_member"]

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

    def schedule(self) -> dict[str, Any]:
        """The options that change the trained weights (not where or how fast they run)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "threads")}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        return cls(**raw)


@dataclass
class TrainResult:
    spec: MemberSpec
    val_f1: float
    best_epoch: int
    epochs: int
    seconds: float
    weights: Path
    sha256: str
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # TrainConfig.schedule() it ran with

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
        )


def _seed_for(spec: MemberSpec, seed: int) -> int:
    return (zlib.crc32(spec.name.encode()) + seed) % (2**31)


def evaluate_member(
    member: torch.nn.Module,
    scenes: Sequence[Scene],
    setting: str,
    *,
    threshold: float = 0.5,
    tile: int = 512,
    device: str | torch.device | None = None,
) -> Confusion:
    """Pooled confusion of one member over whole scenes (NaN inputs excluded), in torch: the
    weights change between calls, so exporting them for ONNX Runtime would never pay."""
    total = Confusion()
    for scene in scenes:
        prob = predict_members(
            [member], scene.channels(setting), tile=tile, device=device, engine="torch"
        )[0]
        valid = np.isfinite(prob)
        total = total + confusion(prob >= threshold, scene.label > 0, valid)
    return total


def train_member(
    spec: MemberSpec,
    train: Sequence[Scene],
    val: Sequence[Scene],
    workdir: Path,
    config: TrainConfig = TrainConfig(),
    *,
    progress: bool = True,
) -> TrainResult:
    """Train ``spec`` (or resume it, or return its finished result) in ``workdir/<name>/``."""
    folder = Path(workdir) / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    result_path = folder / "result.json"
    if result_path.exists():
        done = TrainResult.from_json(json.loads(result_path.read_text()), folder)
        same = done.spec == spec and done.config == config.schedule()
        if same and sha256_file(done.weights) == done.sha256:
            return done
        log.warning("%s: result of another spec, schedule or weights; retraining", spec.name)
        result_path.unlink()

    device = resolve_device(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    seed = _seed_for(spec, config.seed)
    torch.manual_seed(seed)
    mean, std = band_statistics(train, spec.setting, seed=config.seed)
    member = Member(spec, mean, std).to(device)
    crop = max(config.crop, member.min_side)
    sampler = CropSampler(train, spec.setting, crop, seed=seed)
    loss_fn = build_loss(spec.loss)
    optimizer = torch.optim.Adam(
        member.parameters(), lr=spec.learning_rate, weight_decay=config.weight_decay
    )
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler(device.type, enabled=use_amp)

    state_path = folder / "state.pt"
    epoch, best_f1, best_epoch, history = 0, -1.0, 0, []
    best_state = {k: v.detach().clone() for k, v in member.state_dict().items()}
    elapsed = 0.0
    schedule = json.dumps(config.schedule(), sort_keys=True)
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state.get("schedule") != schedule:
            log.warning("%s: resume state of another schedule; starting afresh", spec.name)
            state_path.unlink()
    if state_path.exists():
        member.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        best_state = state["best_model"]
        epoch, best_f1, best_epoch = state["epoch"], state["best_f1"], state["best_epoch"]
        history, elapsed = state["history"], state["elapsed"]
        sampler.rng.bit_generator.state = json.loads(state["sampler_rng"])
        torch.set_rng_state(state["torch_rng"].cpu())
        log.info("%s: resuming after epoch %d (best F1 %.3f)", spec.name, epoch, best_f1)

    start = time.perf_counter() - elapsed
    bar = tqdm(
        total=config.max_epochs * config.iterations,
        initial=epoch * config.iterations,
        desc=spec.name,
        unit="it",
        disable=not progress,
        leave=False,
        mininterval=2.0,
    )
    while epoch < config.max_epochs and epoch - best_epoch < config.patience:
        member.train()
        losses = []
        for _ in range(config.iterations):
            xb, yb = sampler.sample(config.batch_size)
            x = torch.from_numpy(xb).to(device)
            y = torch.from_numpy(yb).to(device)
            with torch.autocast(device.type, torch.float16, enabled=use_amp):
                loss = loss_fn(member(x), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(float(loss.detach()))
            bar.update(1)
        epoch += 1
        scores = evaluate_member(
            member,
            val,
            spec.setting,
            threshold=config.val_threshold,
            tile=config.val_tile,
            device=device,
        )
        f1 = scores.f1
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_f1": f1})
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", val_f1=f"{f1:.3f}", best=f"{best_f1:.3f}")
        if f1 > best_f1:
            best_f1, best_epoch = f1, epoch
            best_state = {k: v.detach().clone() for k, v in member.state_dict().items()}
        _save_state(
            state_path,
            {
                "model": member.state_dict(),
                "optimizer": optimizer.state_dict(),
                "best_model": best_state,
                "epoch": epoch,
                "best_f1": best_f1,
                "best_epoch": best_epoch,
                "history": history,
                "elapsed": time.perf_counter() - start,
                "sampler_rng": json.dumps(sampler.rng.bit_generator.state),
                "torch_rng": torch.get_rng_state(),
                "schedule": schedule,
            },
        )
    bar.close()
    member.load_state_dict(best_state)
    member.cpu()
    weights = folder / "best.safetensors"
    sha = save_member_weights(member, weights, metadata={"name": spec.name})
    result = TrainResult(
        spec=spec,
        val_f1=best_f1,
        best_epoch=best_epoch,
        epochs=epoch,
        seconds=time.perf_counter() - start,
        weights=weights,
        sha256=sha,
        history=history,
        config=config.schedule(),
    )
    tmp = result_path.with_suffix(".json.part")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    os.replace(tmp, result_path)
    state_path.unlink(missing_ok=True)
    log.info("%s: val F1 %.3f at epoch %d of %d", spec.name, best_f1, best_epoch, epoch)
    return result


def _save_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".pt.part")
    torch.save(state, tmp)
    os.replace(tmp, path)
