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
from dataclasses import dataclass

import numpy as np

from models.datasets import Scene
from models.feature_stack import MODEL_BANDS
from models.metrics import Confusion, confusion

__all__ = ["BASELINES", "Baseline", "fit_baseline"]

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
    """The candidate parameters with the best pooled F1 on ``scenes`` (scored where ``valid``)."""
    best: tuple[dict[str, float], float] = (dict(baseline.default), -1.0)
    for params in baseline.candidates():
        total = Confusion()
        for scene, v in zip(scenes, valid, strict=True):
            total = total + confusion(baseline.predict(scene.image, params), scene.label > 0, v)
        if total.f1 > best[1]:
            best = (params, total.f1)
    return best
