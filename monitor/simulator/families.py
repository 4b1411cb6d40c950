"""Families of the randomised training world: landscape type x look-alike set x landslide
morphology, and their split into training, validation and test families (whole families are
held out, so validation and test measure how the models do on worlds they never saw)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.datasets import SPLIT_NAMES
from monitor.simulator.event_kinds import LOOKALIKES, MORPHOLOGIES
from monitor.simulator.spec import LANDSCAPES, LandscapeName

__all__ = [
    "FAMILIES",
    "LOOKALIKE_SETS",
    "Family",
    "FamilySplit",
    "family",
    "landscape_family",
    "split_families",
]

# Look-alike sets: which confusions share a scene (each set draws all of its kinds).
LOOKALIKE_SETS: dict[str, tuple[str, ...]] = {
    "forestry": ("clear_cut", "thinning", "windthrow", "burn_scar"),
    "farmland": ("harvest_plough", "construction", "road_cut", "flood_deposit"),
    "waterside": ("river_bank_erosion", "flood_deposit", "reservoir_drawdown", "quarry"),
    "mountain": ("avalanche_track", "snow_patch", "cloud_shadow", "quarry", "road_cut"),
}


@dataclass(frozen=True)
class Family:
    landscape: LandscapeName
    lookalikes: str  # a key of LOOKALIKE_SETS
    morphology: str  # a key of event_kinds.MORPHOLOGIES

    @property
    def key(self) -> str:
        return f"{self.landscape}/{self.lookalikes}/{self.morphology}"

    @property
    def lookalike_kinds(self) -> tuple[str, ...]:
        return LOOKALIKE_SETS[self.lookalikes]


FAMILIES: tuple[Family, ...] = tuple(
    Family(landscape, looks, morph)
    for landscape, looks, morph in itertools.product(LANDSCAPES, LOOKALIKE_SETS, MORPHOLOGIES)
)
_BY_KEY = {f.key: f for f in FAMILIES}
assert all(k in LOOKALIKES for kinds in LOOKALIKE_SETS.values() for k in kinds)


def family(key: str) -> Family:
    """The family of ``key`` ('landscape/look-alike set/morphology')."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(
            f"unknown family {key!r}: expected landscape/look-alike set/morphology with "
            f"landscape in {', '.join(LANDSCAPES)}, look-alike set in "
            f"{', '.join(LOOKALIKE_SETS)}, morphology in {', '.join(MORPHOLOGIES)}"
        ) from None


def landscape_family(key: str, landscape: str) -> Family:
    """The family of ``key``, checked to be of ``landscape`` (a region's
    ``simulation.landscape``): a :class:`ValueError` naming both where it is not."""
    fam = family(key)
    if fam.landscape != landscape:
        raise ValueError(
            f"family {key!r} is of landscape {fam.landscape!r}, not the simulation's {landscape!r}"
        )
    return fam


@dataclass(frozen=True)
class FamilySplit:
    train: tuple[Family, ...]
    val: tuple[Family, ...]
    test: tuple[Family, ...]

    def of(self, split: str) -> tuple[Family, ...]:
        if split not in SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r} (train, val, test)")
        families: tuple[Family, ...] = getattr(self, split)
        return families


def split_families(
    families: Sequence[Family] = FAMILIES,
    seed: int = 0,
    fractions: tuple[float, float] = (0.2, 0.2),
) -> FamilySplit:
    """A seeded split of ``families`` into train, validation and test families, disjoint and
    covering all of them: ``fractions`` are the validation and test shares (at least one family
    each). Stratified by landscape type, so every split sees every landscape where it can;
    the held-out families are the unseen combinations of look-alikes and morphology."""
    keys = sorted({f.key for f in families})
    if len(keys) != len(families):
        raise ValueError("families must be distinct")
    if len(keys) < 3:
        raise ValueError(f"need at least 3 families to split, got {len(keys)}")
    rng = np.random.default_rng([seed, 11])
    by_landscape: dict[str, list[Family]] = {}
    for f in sorted(families, key=lambda f: f.key):
        by_landscape.setdefault(f.landscape, []).append(f)
    # one ordering of all families: a permutation within each landscape, interleaved, so that
    # cutting the list at the split sizes spreads every landscape over the splits
    perms = [[group[i] for i in rng.permutation(len(group))] for group in by_landscape.values()]
    ordered = [f for round_ in itertools.zip_longest(*perms) for f in round_ if f is not None]
    n = len(ordered)
    n_val = max(1, round(fractions[0] * n))
    n_test = max(1, round(fractions[1] * n))
    if n_val + n_test >= n:
        raise ValueError(f"fractions {fractions} leave no training family out of {n}")
    val, test, train = ordered[:n_val], ordered[n_val : n_val + n_test], ordered[n_val + n_test :]
    key = lambda f: f.key  # noqa: E731
    return FamilySplit(
        tuple(sorted(train, key=key)), tuple(sorted(val, key=key)), tuple(sorted(test, key=key))
    )
