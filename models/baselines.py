"""Plain threshold baselines the ensemble must beat, scored exactly like it.

- S2: vegetation loss on sloping ground, ``dNDVI < t_ndvi`` and ``slope > t_slope`` (the
  dNDVI mapping that Lindsay et al. used to draw the labels, cited by Ganerød et al.);
- S1: backscatter change, ``|dVV| > t_db`` or ``|dVH| > t_db``;
- S1+S2 and all: either of the two.

Thresholds are chosen on the validation scenes (the pooled F1 maximum over a small grid), the
same data that calibrates the ensemble's threshold, so the comparison is fair.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from models.datasets import Scene, read_folder
from models.feature_stack import MODEL_BANDS, model_input, on_grid
from models.metrics import Confusion, confusion

__all__ = ["BASELINES", "Baseline", "BaselineModel", "fit_baseline"]

_B = {name: i for i, name in enumerate(MODEL_BANDS)}


def _ndvi_slope(image: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        mask: np.ndarray = (image[_B["dNDVI"]] < p["dndvi"]) & (image[_B["slope"]] > p["slope"])
    return mask


def _sar_change(image: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        vv, vh = np.abs(image[_B["dVV"]]), np.abs(image[_B["dVH"]])
        mask: np.ndarray = (vv > p["db"]) | (vh > p["db"])
    return mask


def _either(image: np.ndarray, p: Mapping[str, float]) -> np.ndarray:
    mask: np.ndarray = _ndvi_slope(image, p) | _sar_change(image, p)
    return mask


@dataclass(frozen=True)
class Baseline:
    name: str
    rule: Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
    grid: Mapping[str, Sequence[float]]  # candidate values per parameter
    default: Mapping[str, float]

    def predict(self, image: np.ndarray, params: Mapping[str, float] | None = None) -> np.ndarray:
        """Boolean detections from a scene's 15 bands (NaN inputs never detect)."""
        return self.rule(image, params or self.default)

    def candidates(self) -> list[dict[str, float]]:
        keys = list(self.grid)
        return [
            dict(zip(keys, vals, strict=True)) for vals in itertools.product(*self.grid.values())
        ]


_NDVI_GRID = {
    "dndvi": tuple(round(-0.025 * i, 3) for i in range(1, 25)),
    "slope": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0),
}
_SAR_GRID = {"db": tuple(0.5 * i for i in range(2, 25))}

BASELINES: Mapping[str, Baseline] = {
    "S2": Baseline(
        "dNDVI < t on slope > s", _ndvi_slope, _NDVI_GRID, {"dndvi": -0.2, "slope": 10.0}
    ),
    "S1": Baseline("|dVV| or |dVH| > t dB", _sar_change, _SAR_GRID, {"db": 3.0}),
    "S1+S2": Baseline(
        "S2 rule or S1 rule",
        _either,
        {**_NDVI_GRID, **_SAR_GRID},
        {"dndvi": -0.2, "slope": 10.0, "db": 3.0},
    ),
}
BASELINES = {**BASELINES, "all": BASELINES["S1+S2"]}


def fit_baseline(
    baseline: Baseline, scenes: Sequence[Scene], valid: Sequence[np.ndarray]
) -> tuple[dict[str, float], float]:
    """The candidate parameters with the best pooled F1 on ``scenes`` (scored where ``valid``
    and the class is known: ignored pixels are no background)."""
    best: tuple[dict[str, float], float] = (dict(baseline.default), -1.0)
    scored = [v & s.known for s, v in zip(scenes, valid, strict=True)]
    for params in baseline.candidates():
        total = Confusion()
        for scene, v in zip(scenes, scored, strict=True):
            total = total + confusion(baseline.predict(scene.image, params), scene.label > 0, v)
        if total.f1 > best[1]:
            best = (params, total.f1)
    return best


@dataclass
class BaselineModel:
    """The baselines as a model with the ensemble's ``settings`` and ``predict``, so that the
    detection chain (masks, vectorisation, filter) scores them exactly like the ensemble. The
    "probability" is the rule's 0/1 mask (threshold 0.5), the spread 0, the agreement the mask.
    """

    params: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    @classmethod
    def fitted(cls, val: Path) -> BaselineModel:
        """Each setting's parameters fitted on the labelled folder ``val``."""
        scenes = read_folder(Path(val))
        params: dict[str, Mapping[str, float]] = {}
        for setting, baseline in BASELINES.items():
            same = next((s for s in params if BASELINES[s] is baseline), None)
            if same is not None:  # "all" is the S1+S2 rule: fitted once
                params[setting] = params[same]
                continue
            valid = [np.isfinite(s.channels(setting)).all(axis=0) for s in scenes]
            params[setting] = fit_baseline(baseline, scenes, valid)[0]
        return cls(params)

    @property
    def settings(self) -> tuple[str, ...]:
        return tuple(BASELINES)

    def predict(self, stack: xr.Dataset, setting: str, *, device: str | None = None) -> xr.Dataset:
        image = model_input(stack, "all")
        valid = np.isfinite(model_input(stack, setting)).all(axis=0)
        mask = BASELINES[setting].predict(image, self.params.get(setting)) & valid
        probability = np.where(valid, mask.astype(np.float32), np.float32(np.nan))
        out = xr.Dataset(
            {
                "probability": (("y", "x"), probability),
                "spread": (("y", "x"), np.where(valid, 0.0, np.nan).astype(np.float32)),
                "agreement": (("y", "x"), probability.copy()),
            },
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": 0.5, "setting": setting, "members": f"baseline {setting}"},
        )
        if stack.rio.crs is not None:
            out = on_grid(out, stack.rio.crs, stack.rio.transform())
        return out
