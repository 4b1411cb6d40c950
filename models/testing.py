"""Test fixtures for code that uses the ensemble: tiny, randomly initialised ensembles written
through the real weights and manifest writers. Their outputs are meaningless; never ship one.

>>> manifest = build_untrained_ensemble(tmp_path, settings=("S2",))
>>> Ensemble.load(manifest).predict(stack, "S2")
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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

__all__ = ["TEST_ENCODER", "build_untrained_ensemble"]

TEST_ENCODER = "tu-mobilenetv3_small_050"


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
