"""The heterogeneous ensemble of Ganerød et al. (Section 3.5, Figure 4): the top-K members by
validation F1 of a setting each predict a probability map; the ensemble's output is their
per-pixel mean, thresholded at a value calibrated on the validation set.

>>> ens = Ensemble.load("models/default/manifest.json")
>>> pred = ens.predict(stack, "S1+S2")   # xr.Dataset: probability, spread, agreement
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import torch
import xarray as xr

from models.feature_stack import model_input, on_grid
from models.inference import DEFAULT_TILE, check_engine, predict_members
from models.manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    ManifestModel,
    SettingEntry,
    load_member,
    read_manifest,
)
from models.object_filter import ObjectFilterModel
from models.zoo import Member

__all__ = ["DEFAULT_MANIFEST", "Ensemble", "EnsembleOptions", "EnsemblePrediction"]


@dataclass(frozen=True)
class EnsemblePrediction:
    """Ensemble outputs as arrays ``(H, W)`` float32 (NaN where the inputs are invalid)."""

    probability: np.ndarray  # mean of the members' probabilities
    spread: np.ndarray  # standard deviation across members
    agreement: np.ndarray  # fraction of members whose probability reaches the threshold
    members: np.ndarray  # (K, H, W) each member's probability
    threshold: float


class EnsembleOptions(TypedDict, total=False):
    """How an :class:`Ensemble` runs its members (the constructor's keywords after ``source``;
    see :func:`models.inference.predict_members`: ``overlap`` None is a quarter of the tile, at
    most ``DEFAULT_OVERLAP``)."""

    tile: int
    overlap: int | None
    batch_size: int | None
    workers: int | None
    engine: str


class Ensemble:
    """Members grouped by setting, each setting with its calibrated threshold."""

    def __init__(
        self,
        manifest: ManifestModel,
        members: Mapping[str, Member],
        *,
        source: Path | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int | None = None,
        batch_size: int | None = None,
        workers: int | None = None,
        engine: str = "auto",
        object_filter: ObjectFilterModel | None = None,
    ) -> None:
        self.manifest = manifest
        self.object_filter = object_filter
        self._members = dict(members)
        self.source = source
        self.tile = tile
        self.overlap = overlap
        self.batch_size = batch_size
        self.workers = workers
        self.engine = check_engine(engine)

    @classmethod
    def load(
        cls, manifest_path: str | Path = DEFAULT_MANIFEST, **options: Unpack[EnsembleOptions]
    ) -> Ensemble:
        """Read the manifest, verify every listed weights file's SHA-256 and build the members;
        the same for the object filter the manifest lists (``object_filter``).

        ``options`` are the constructor's keywords (``tile``, ``overlap``, ``batch_size``,
        ``workers``, ``engine``). Raises :class:`models.manifest.ManifestError` naming the file
        on any mismatch."""
        path = Path(manifest_path)
        manifest = read_manifest(path)
        used = {name for entry in manifest.settings.values() for name in entry.members}
        members = {m.name: load_member(m, path.parent) for m in manifest.members if m.name in used}
        object_filter = (
            ObjectFilterModel.load(path.parent, manifest.object_filter, manifest.ensemble_id)
            if manifest.object_filter is not None
            else None
        )
        return cls(manifest, members, source=path, object_filter=object_filter, **options)

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings that have members."""
        return self.manifest.member_settings

    def threshold(self, setting: str) -> float:
        return self._entry(setting).threshold

    def members(self, setting: str) -> list[Member]:
        return [self._members[name] for name in self._entry(setting).members]

    def member_names(self, setting: str) -> tuple[str, ...]:
        return tuple(self._entry(setting).members)

    def _entry(self, setting: str) -> SettingEntry:
        try:
            return self.manifest.settings[setting]
        except KeyError:
            where = f" ({self.source})" if self.source else ""
            raise ManifestError(
                f"ensemble{where} has no members for setting {setting!r}; it has: "
                f"{', '.join(self.settings) or 'none'}"
            ) from None

    def predict_array(
        self,
        x: np.ndarray,
        setting: str,
        *,
        members: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> EnsemblePrediction:
        """Ensemble outputs for the setting's channels ``x`` ``(C, H, W)`` (raw, NaN allowed).

        ``members`` restricts the ensemble to those names (e.g. a single member)."""
        names = list(members) if members is not None else list(self.member_names(setting))
        threshold = self.threshold(setting)
        nets = [self._members[n] for n in names]
        expected = nets[0].spec.in_channels
        if x.shape[0] != expected:
            raise ValueError(
                f"setting {setting!r} needs {expected} channels, got an array of shape {x.shape}"
            )
        probs = predict_members(
            nets,
            x,
            tile=self.tile,
            overlap=self.overlap,
            batch_size=self.batch_size,
            workers=self.workers,
            device=device,
            engine=self.engine,
            progress=progress,
        )
        with np.errstate(invalid="ignore"):
            mean = probs.mean(axis=0)
            spread = probs.std(axis=0)
            agreement = (probs >= threshold).mean(axis=0, dtype=np.float32)
        agreement[np.isnan(mean)] = np.nan
        return EnsemblePrediction(
            mean.astype(np.float32),
            spread.astype(np.float32),
            agreement.astype(np.float32),
            probs,
            threshold,
        )

    def predict(
        self,
        stack: xr.Dataset,
        setting: str,
        *,
        device: str | torch.device | None = None,
        progress: bool = False,
    ) -> xr.Dataset:
        """``probability`` (ensemble mean, 0..1), ``spread`` (std across members) and
        ``agreement`` (fraction of members at or above the threshold) on the stack's y/x grid,
        NaN where any input channel of ``setting`` is NaN. Attributes: ``threshold``,
        ``setting``, ``members`` (comma-joined names)."""
        self._entry(setting)
        x = model_input(stack, setting)
        pred = self.predict_array(x, setting, device=device, progress=progress)
        coords = {"y": stack["y"], "x": stack["x"]}
        out = xr.Dataset(
            {
                "probability": (("y", "x"), pred.probability),
                "spread": (("y", "x"), pred.spread),
                "agreement": (("y", "x"), pred.agreement),
            },
            coords=coords,
            attrs={
                "threshold": float(pred.threshold),
                "setting": setting,
                "members": ",".join(self.member_names(setting)),
            },
        )
        crs = stack.rio.crs
        if crs is not None:
            out = on_grid(out, crs, stack.rio.transform())
        return out
