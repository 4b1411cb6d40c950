"""The training grid as configuration (YAML): settings x architectures x losses x learning
rates, the full grid of Ganerød et al. (9 x 5 x 2 per setting) or a reduced one, trained
member by member (resumable) and assembled into an ensemble.

Example (``models/default/grid.yaml`` is the shipped default)::

    settings: [S1, S2, S1+S2]
    architectures: [Unet, UnetPlusPlus, MAnet, Linknet, FPN, PSPNet, PAN, DeepLabV3, DeepLabV3Plus]
    losses: [BCE, Dice, Focal, Jaccard, Lovasz]
    learning_rates: [0.01, 0.001]
    encoder: tu-mobilenetv3_small_050
    decoders: compact          # narrow decoders (zoo.COMPACT_DECODERS) or "smp" (library defaults)
    members_per_setting: 12    # optional: a balanced, seeded sample of the product
    k: 8
    train: {crop: 64, iterations: 60, max_epochs: 12, patience: 4}
    data: {train: data/train, val: data/val, test: data/test}   # Ganerød-layout folders
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.datasets import Scene, channels_of, read_folder
from models.selection import DEFAULT_K, assemble_ensemble, summary_rows
from models.train import TrainConfig, TrainResult, train_member
from models.zoo import (
    ARCHITECTURES,
    COMPACT_DECODERS,
    LEARNING_RATES,
    LOSSES,
    MemberSpec,
    canonical_architecture,
    canonical_loss,
)

__all__ = ["DataFolders", "GridConfig", "expand", "load_grid", "run_grid"]

log = logging.getLogger(__name__)


class DataFolders(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: Path
    val: Path
    test: Path | None = None


class GridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    settings: list[str] = Field(default_factory=lambda: ["S1", "S2", "S1+S2", "all"])
    architectures: list[str] = Field(default_factory=lambda: list(ARCHITECTURES))
    losses: list[str] = Field(default_factory=lambda: list(LOSSES))
    learning_rates: list[float] = Field(default_factory=lambda: list(LEARNING_RATES))
    encoder: str = "resnet34"
    decoders: Literal["compact", "smp"] = "smp"
    members_per_setting: int | None = Field(default=None, ge=1)
    sample_seed: int = 0
    k: int = Field(default=DEFAULT_K, ge=1)
    train: dict[str, Any] = Field(default_factory=dict)
    data: DataFolders | None = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, v: list[str]) -> list[str]:
        for s in v:
            channels_of(s)
        return v

    @field_validator("architectures")
    @classmethod
    def _architectures(cls, v: list[str]) -> list[str]:
        return [canonical_architecture(a) for a in v]

    @field_validator("losses")
    @classmethod
    def _losses(cls, v: list[str]) -> list[str]:
        return [canonical_loss(a) for a in v]

    @field_validator("train")
    @classmethod
    def _train(cls, v: dict[str, Any]) -> dict[str, Any]:
        TrainConfig.from_dict(v)
        return v

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)


def load_grid(path: Path) -> GridConfig:
    """Read a grid YAML; relative data folders are resolved against the file's folder."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        grid = GridConfig.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError, ValueError) as err:
        raise ValueError(f"{path}: invalid training grid: {err}") from err
    if grid.data is not None:
        base = path.parent
        grid.data = DataFolders(
            train=base / grid.data.train,
            val=base / grid.data.val,
            test=base / grid.data.test if grid.data.test else None,
        )
    return grid


def expand(grid: GridConfig) -> list[MemberSpec]:
    """The grid's member specs. With ``members_per_setting``, a seeded sample that cycles
    through the architectures (each gets a random loss/learning-rate cell in turn)."""
    specs = []
    for setting in grid.settings:
        cells = list(itertools.product(grid.architectures, grid.losses, grid.learning_rates))
        if grid.members_per_setting is not None and grid.members_per_setting < len(cells):
            cells = _balanced_sample(cells, grid.members_per_setting, grid.sample_seed, setting)
        for arch, loss, lr in cells:
            kwargs = dict(COMPACT_DECODERS[arch]) if grid.decoders == "compact" else {}
            specs.append(
                MemberSpec(
                    architecture=arch,
                    encoder=grid.encoder,
                    loss=loss,
                    learning_rate=lr,
                    setting=setting,
                    in_channels=len(channels_of(setting)),
                    arch_kwargs=kwargs,
                )
            )
    return specs


def _balanced_sample(
    cells: Sequence[tuple[str, str, float]], n: int, seed: int, setting: str
) -> list[tuple[str, str, float]]:
    rng = np.random.default_rng([seed, *setting.encode()])
    by_arch: dict[str, list[tuple[str, str, float]]] = {}
    for i in rng.permutation(len(cells)):
        by_arch.setdefault(cells[i][0], []).append(cells[i])
    archs = list(by_arch)
    out: list[tuple[str, str, float]] = []
    while len(out) < n:
        for arch in archs:
            if by_arch[arch] and len(out) < n:
                out.append(by_arch[arch].pop())
    return out


def run_grid(
    grid: GridConfig,
    workdir: Path,
    ensemble_dir: Path,
    *,
    train: Sequence[Scene] | None = None,
    val: Sequence[Scene] | None = None,
    progress: bool = True,
) -> Path:
    """Train every member of ``grid`` in ``workdir`` (finished ones are reused, interrupted
    ones resume), then write the top-K ensemble to ``ensemble_dir``; returns the manifest."""
    if train is None or val is None:
        if grid.data is None:
            raise ValueError("the grid names no data folders and no scenes were given")
        train = read_folder(grid.data.train) if train is None else train
        val = read_folder(grid.data.val) if val is None else val
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = grid.train_config()
    specs = expand(grid)
    log.info("training %d members into %s", len(specs), workdir)
    results: list[TrainResult] = []
    start = time.perf_counter()
    for i, spec in enumerate(specs, 1):
        r = train_member(spec, train, val, workdir, config, progress=progress)
        results.append(r)
        log.info(
            "[%d/%d] %s val F1 %.3f (%d epochs, %.0f s; %.0f s total)",
            i, len(specs), spec.name, r.val_f1, r.epochs, r.seconds,
            time.perf_counter() - start,
        )  # fmt: skip
    (workdir / "candidates.json").write_text(json.dumps(summary_rows(results), indent=1))
    training = {
        "grid": grid.model_dump(mode="json", exclude={"data"}),
        "train_scenes": [s.id for s in train],
        "val_scenes": [s.id for s in val],
        "candidates": summary_rows(results),
    }
    return assemble_ensemble(
        results,
        val,
        ensemble_dir,
        k=grid.k,
        description=grid.description,
        training=training,
        tile=config.val_tile,
    )
