"""Member selection and ensemble assembly (Ganerød et al., Section 3.5): rank the trained
members of each setting by validation F1, keep the top K, calibrate the ensemble's decision
threshold on the validation scenes (the threshold maximising the pooled F1 of the mean
probability) and write the weights and manifest.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from models.datasets import Scene
from models.inference import predict_members
from models.manifest import (
    ManifestModel,
    SettingEntry,
    load_member,
    member_entry,
    sha256_file,
    write_manifest,
)
from models.metrics import best_threshold
from models.train import TrainResult
from models.zoo import Member

__all__ = ["DEFAULT_K", "assemble_ensemble", "calibrate_threshold", "summary_rows", "top_k"]

log = logging.getLogger(__name__)

DEFAULT_K = 20  # Ganerød et al.: most of the gain comes with up to 20 members


def top_k(results: Sequence[TrainResult], setting: str, k: int = DEFAULT_K) -> list[TrainResult]:
    """The ``k`` best results of ``setting`` by validation F1 (ties: by name, for stability)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pool = [r for r in results if r.spec.setting == setting]
    return sorted(pool, key=lambda r: (-r.val_f1, r.spec.name))[:k]


def calibrate_threshold(
    members: Sequence[Member], scenes: Sequence[Scene], setting: str, *, tile: int = 512
) -> tuple[float, float]:
    """Threshold on the members' mean probability maximising pooled validation F1, and F1."""
    probs = [predict_members(members, s.channels(setting), tile=tile).mean(axis=0) for s in scenes]
    return best_threshold(probs, [s.label > 0 for s in scenes])


def assemble_ensemble(
    results: Sequence[TrainResult],
    val: Mapping[str, Sequence[Scene]] | Sequence[Scene],
    out_dir: Path,
    *,
    k: int = DEFAULT_K,
    description: str = "",
    training: Mapping[str, Any] | None = None,
    tile: int = 512,
) -> Path:
    """Select the top-``k`` members of every setting present in ``results``, calibrate each
    setting's threshold on ``val``, copy the weights into ``out_dir`` and write
    ``out_dir/manifest.json``; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = sorted({r.spec.setting for r in results}, key=_setting_order)
    entries, setting_entries = [], {}
    for setting in settings:
        chosen = top_k(results, setting, k)
        members = []
        for r in chosen:
            file = f"{r.spec.name}.safetensors"
            shutil.copyfile(r.weights, out_dir / file)
            sha = sha256_file(out_dir / file)
            if sha != r.sha256:
                raise RuntimeError(f"{r.weights}: SHA-256 changed while copying to {out_dir}")
            member = _load_result(r)
            members.append(member)
            entries.append(member_entry(member, file, sha, val_f1=r.val_f1, epochs=r.best_epoch))
        scenes = val[setting] if isinstance(val, Mapping) else val
        threshold, f1 = calibrate_threshold(members, scenes, setting, tile=tile)
        log.info("%s: %d members, threshold %.2f, validation F1 %.3f", setting, len(chosen),
                 threshold, f1)  # fmt: skip
        setting_entries[setting] = SettingEntry(
            members=[r.spec.name for r in chosen], threshold=threshold, val_f1=f1
        )
    manifest = ManifestModel(
        description=description,
        settings=setting_entries,
        members=entries,
        training=dict(training or {}),
    )
    return write_manifest(out_dir / "manifest.json", manifest)


def _load_result(result: TrainResult) -> Member:
    """The trained member of ``result`` (its weights verified against the recorded SHA-256)."""
    from safetensors.torch import load_file

    from models.datasets import setting_band_names
    from models.manifest import MemberEntry, Normalisation

    state = load_file(str(result.weights))
    entry = MemberEntry(
        name=result.spec.name,
        setting=result.spec.setting,
        bands=list(setting_band_names(result.spec.setting)),
        architecture=result.spec.architecture,
        encoder=result.spec.encoder,
        arch_kwargs=dict(result.spec.arch_kwargs),
        loss=result.spec.loss,
        learning_rate=result.spec.learning_rate,
        normalisation=Normalisation(
            mean=state["norm_mean"].flatten().tolist(), std=state["norm_std"].flatten().tolist()
        ),
        file=result.weights.name,
        sha256=result.sha256,
    )
    return load_member(entry, result.weights.parent)


def _setting_order(setting: str) -> tuple[int, str]:
    order = ["S1", "S2", "S1+S2", "all"]
    return (order.index(setting) if setting in order else len(order), setting)


def summary_rows(results: Sequence[TrainResult]) -> list[dict[str, Any]]:
    """One row per trained member (for reports), best first within each setting."""
    rows = []
    for r in sorted(results, key=lambda r: (_setting_order(r.spec.setting), -r.val_f1)):
        rows.append(
            {
                "name": r.spec.name,
                "setting": r.spec.setting,
                "architecture": r.spec.architecture,
                "loss": r.spec.loss,
                "learning_rate": r.spec.learning_rate,
                "val_f1": round(float(r.val_f1), 4),
                "best_epoch": r.best_epoch,
                "epochs": r.epochs,
                "seconds": round(float(r.seconds), 1),
            }
        )
    return rows
