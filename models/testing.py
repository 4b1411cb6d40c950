"""Test fixtures for code that uses the ensemble: tiny, randomly initialised ensembles written
through the real weights and manifest writers. Their outputs are meaningless; never ship one.

>>> manifest = build_untrained_ensemble(tmp_path, settings=("S2",))
>>> Ensemble.load(manifest).predict(stack, "S2")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.datasets import channels_of
from models.manifest import (
    ManifestModel,
    SettingEntry,
    member_entry,
    save_member_weights,
    write_manifest,
)
from models.zoo import COMPACT_DECODERS, Member, MemberSpec

__all__ = ["TEST_ENCODER", "build_untrained_ensemble", "tiny_grid"]

TEST_ENCODER = "tu-mobilenetv3_small_050"


def tiny_grid(train: str, val: str) -> dict[str, Any]:
    """A grid YAML's content that trains in seconds: two S2 members (Unet and Linknet, Dice),
    one epoch of three steps on 64-pixel crops, ``train`` and ``val`` its data folders."""
    return {
        "settings": ["S2"],
        "architectures": ["Unet", "Linknet"],
        "losses": ["Dice"],
        "learning_rates": [0.01],
        "encoder": TEST_ENCODER,
        "decoders": "compact",
        "k": 2,
        "train": {"crop": 64, "batch_size": 2, "iterations": 3, "max_epochs": 1, "patience": 1,
                  "val_tile": 64, "threads": 1},
        "data": {"train": train, "val": val},
    }  # fmt: skip


def build_untrained_ensemble(
    directory: str | Path,
    settings: Sequence[str] = ("S1", "S2", "S1+S2"),
    *,
    architectures: Sequence[str] = ("Unet", "FPN"),
    threshold: float = 0.5,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised ensemble (one member per architecture and setting, unit
    normalisation) into ``directory``; returns the manifest path. A test fixture only."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    entries, setting_entries = [], {}
    for setting in settings:
        n = len(channels_of(setting))
        names = []
        for arch in architectures:
            spec = MemberSpec(
                architecture=arch,
                encoder=TEST_ENCODER,
                loss="Dice",
                learning_rate=0.001,
                setting=setting,
                in_channels=n,
                arch_kwargs=dict(COMPACT_DECODERS[arch]),
            )
            member = Member(spec, [0.0] * n, [1.0] * n)
            file = f"{spec.name}.safetensors"
            sha = save_member_weights(member, directory / file)
            entries.append(member_entry(member, file, sha, origin="untrained test fixture"))
            names.append(spec.name)
        setting_entries[setting] = SettingEntry(members=names, threshold=threshold)
    manifest = ManifestModel(
        description="UNTRAINED test fixture (random weights): outputs are meaningless",
        settings=setting_entries,
        members=entries,
    )
    return write_manifest(directory / "manifest.json", manifest)
