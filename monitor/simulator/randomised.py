"""The randomised training world's regions: every family of :mod:`monitor.simulator.families`
placed as simulated regions whose worlds are drawn from :mod:`monitor.simulator.priors`, and
the plan of its training, validation and test sets (split by family).

Splits (folders of ``python -m monitor.simulator.training_data --world randomised``):

- ``train``: regions of the training families;
- ``val``: regions of the validation families (held out of training; member ranking, K and the
  threshold are chosen here);
- ``test``: regions of the test families (held out of both: the out-of-family score);
- ``test_in``: new regions (new seeds) of training families (the in-family score).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.datasets import SPLIT_NAMES
from monitor.simulator.families import FAMILIES, Family, FamilySplit, split_families
from monitor.simulator.priors import CHOICES, draw_spec_knobs
from monitor.simulator.region import random_box
from monitor.simulator.scene_windows import StormSeason
from monitor.simulator.spec import SimulationSpec
from monitor.sources.base import AreaOfInterest

__all__ = ["RandomisedPlan", "family_region", "family_regions"]


def family_region(
    fam: Family, seed: int, name: str, size_km: tuple[float, float] = (2.0, 3.0)
) -> tuple[AreaOfInterest, SimulationSpec]:
    """One region of family ``fam``: its place (a box where its landscape type lives), orbit
    pass and the spec-level priors, deterministic in ``seed``."""
    rng = np.random.default_rng([seed, 5])
    geometry = random_box(rng, fam.landscape, size_km)
    orbit = CHOICES["orbit_pass"].draw(rng)
    area = AreaOfInterest(name, geometry, orbit)
    spec = SimulationSpec(
        landscape=fam.landscape,
        seed=int(rng.integers(0, 2**31 - 1)),
        family=fam.key,
        **draw_spec_knobs(rng, fam.landscape),
    )
    return area, spec


def family_regions(
    families: Sequence[Family],
    per_family: int,
    seed: int,
    *,
    size_km: tuple[float, float] = (2.0, 3.0),
    prefix: str = "rw",
) -> list[tuple[AreaOfInterest, SimulationSpec]]:
    """``per_family`` regions of every family (names ``<prefix>-<seed>-<index>``)."""
    out = []
    for i, fam in enumerate(families):
        for j in range(per_family):
            region_seed = int(np.random.default_rng([seed, i, j]).integers(0, 2**31 - 1))
            name = f"{prefix}-{seed}-{i * per_family + j:04d}"
            out.append(family_region(fam, region_seed, name, size_km))
    return out


_EXTRA_SPLIT_OFFSET = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class RandomisedPlan(StormSeason):
    """What ``--world randomised`` simulates. ``families`` (keys) restricts the world to some
    families (all by default); the split of families is seeded by ``split_seed``."""

    split_seed: int = 0
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    train_per_family: int = 1
    val_per_family: int = 1
    test_per_family: int = 1
    test_in_families: int = 12  # in-family test regions: this many training families, one each
    size_km: tuple[float, float] = (2.0, 3.0)
    families: tuple[str, ...] | None = None

    def family_split(self) -> FamilySplit:
        chosen = FAMILIES
        if self.families is not None:
            keys = set(self.families)
            chosen = tuple(f for f in FAMILIES if f.key in keys)
            unknown = keys - {f.key for f in chosen}
            if unknown:
                raise ValueError(f"unknown families: {', '.join(sorted(unknown))}")
        return split_families(chosen, self.split_seed, (self.val_fraction, self.test_fraction))

    def split_regions(self) -> dict[str, list[tuple[AreaOfInterest, SimulationSpec]]]:
        split = self.family_split()
        rng = np.random.default_rng([self.split_seed, 13])
        n_in = min(self.test_in_families, len(split.train))
        in_family = [split.train[i] for i in sorted(rng.permutation(len(split.train))[:n_in])]
        base = 1000 + self.split_seed
        return {
            "train": family_regions(
                split.train, self.train_per_family, base + 1, size_km=self.size_km, prefix="train"
            ),
            "val": family_regions(
                split.val, self.val_per_family, base + 2, size_km=self.size_km, prefix="val"
            ),
            "test": family_regions(
                split.test, self.test_per_family, base + 3, size_km=self.size_km, prefix="test"
            ),
            "test_in": family_regions(
                in_family, 1, base + 4, size_km=self.size_km, prefix="test_in"
            ),
        }

    def extra_regions(self, split: str, draw: int) -> list[tuple[AreaOfInterest, SimulationSpec]]:
        """A new region of every family of ``split`` (train, val or test) for ``draw`` >= 1:
        new seeds, so never a region of :meth:`split_regions` nor of another draw. The storm-free
        scenes (:mod:`monitor.ops.stormfree_scenes`) use them to show the filter more
        look-alikes of the same families without more storm scenes."""
        if draw < 1:
            raise ValueError(f"draw {draw}: extra regions are numbered from 1")
        families = self.family_split().of(split)
        # the splits' own regions use 1000 + split_seed + 1 .. 4; a draw its own ten, one per split
        offset = _EXTRA_SPLIT_OFFSET[split]
        base = 1000 + self.split_seed + 10 * draw + offset
        return family_regions(families, 1, base, size_km=self.size_km, prefix=f"{split}-x{draw}")

    def record(self, regions: dict[str, list[tuple[AreaOfInterest, SimulationSpec]]]) -> Any:
        """The families of every split and of every region (for dataset.json)."""
        split = self.family_split()
        return {
            "families": {s: [f.key for f in split.of(s)] for s in SPLIT_NAMES},
            "region_family": {
                area.name: spec.family for rs in regions.values() for area, spec in rs
            },
        }
