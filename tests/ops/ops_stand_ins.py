"""Stand-ins the operations tests install in a run's processes (the test process, Dask workers,
child processes): a deterministic ensemble, and a source wrapper that can hold a run part-way.

Importable by module name from Dask workers and child processes (tests/ops is on their path).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from models.ensemble import Ensemble

#: Set in a child's environment: the source touches this file, then sleeps, on its first region.
SLOW_MARKER_ENV = "OPS_SLOW_MARKER"


class ThresholdEnsemble:
    """Deterministic stand-in for :class:`models.ensemble.Ensemble`: probability from the
    vegetation loss (optical settings) or the VH drop (radar), NaN where the inputs are NaN.
    Cheap and identical in every process, so runs in different processes can be compared."""

    settings = ("S1", "S1+S2")

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        signal = -stack["dVH"].values / 5.0 if setting == "S1" else -stack["dNDVI"].values / 0.5
        probability = np.clip(signal, 0.0, 1.0).astype(np.float32)
        agreement = (probability >= 0.5).astype(np.float32)
        agreement[np.isnan(probability)] = np.nan
        return xr.Dataset(
            {
                "probability": (("y", "x"), probability),
                "spread": (("y", "x"), np.zeros_like(probability)),
                "agreement": (("y", "x"), agreement),
            },
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": 0.5, "setting": setting, "members": "threshold stand-in"},
        )


class _SlowSource:
    """Wraps a source: on the first ``features`` call of the process, touch the marker and
    sleep (long enough for the test to act on the run in progress)."""

    slept = False

    def __init__(self, inner: Any, marker: Path) -> None:
        self.inner = inner
        self.name = getattr(inner, "name", "archive")
        self.marker = marker

    def features(self, area: Any, pre: Any, post: Any, *how: Any) -> xr.Dataset:
        if not _SlowSource.slept:
            _SlowSource.slept = True
            self.marker.write_text(str(os.getpid()))
            time.sleep(120)
        return self.inner.features(area, pre, post, *how)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install() -> None:
    """Use the stand-in ensemble in this process (and the slow source when the environment
    names a marker file)."""
    import monitor.run as run_module

    # the stand-in has the Ensemble's ``settings`` and ``predict``: all a run asks of it
    ensemble = cast("Ensemble", ThresholdEnsemble())

    def stand_in_ensemble(model: object) -> Ensemble:
        return ensemble

    run_module.load_ensemble = stand_in_ensemble
    marker = os.environ.get(SLOW_MARKER_ENV)
    if marker:
        real_open = run_module.open_source

        def slow_open(settings: Any) -> _SlowSource:
            return _SlowSource(real_open(settings), Path(marker))

        run_module.open_source = slow_open
