"""Pixels whose optical view is older than a change radar saw are predicted by the radar-only
fallback (monitor.pipeline.setting.stale_optical): in a monitoring stack such a pixel's optical
post image is the last clear look before the clouds, perhaps before the event."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from monitor.pipeline.setting import SettingChoice, predict, stale_optical

NAN = np.nan


def _stack() -> xr.Dataset:
    """Five pixels in a row (days since 1970): 0 radar changed after the last clear optical look
    that did not show it (stale); 1 the optical look showed the change too; 2 radar changed
    before the last clear optical look; 3 no radar change; 4 no clear optical look at all."""
    s1_first = np.array([[20.0, 20.0, 5.0, NAN, 20.0]])
    s2_last = np.array([[10.0, 10.0, 10.0, 10.0, NAN]])
    s2_first = np.array([[NAN, 15.0, NAN, NAN, NAN]])
    ones = np.ones((1, 5))
    layers = {
        "s1_first_changed": s1_first,
        "s2_last_unchanged": s2_last,
        "s2_first_changed": s2_first,
        "s1_count_pre": ones,
        "s1_count_post": ones,
    }
    return xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()},
        coords={"y": [0.0], "x": np.arange(5.0)},
        attrs={"region": "row"},
    )


class _TwoSettings:
    """The optical setting is sure of nothing (0.1), the radar one of everything (0.9)."""

    settings = ("S1+S2", "S1")

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        value = 0.1 if setting == "S1+S2" else 0.9
        full = np.full((stack.sizes["y"], stack.sizes["x"]), value)
        layers = {"probability": full, "spread": full * 0, "agreement": full}
        return xr.Dataset(
            {k: (("y", "x"), v) for k, v in layers.items()},
            coords=stack.coords,
            attrs={"threshold": 0.5, "setting": setting},
        )


def test_stale_optical_pixels() -> None:
    assert stale_optical(_stack()).tolist() == [[True, False, False, False, False]]
    # a stack without event dating (the Ganerød et al. layout): nothing is stale
    assert not stale_optical(_stack().drop_vars("s2_first_changed")).any()


def test_the_fallback_predicts_the_stale_pixels() -> None:
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_TwoSettings(), _stack(), choice, None)
    assert out["probability"].values.tolist() == [[0.9, 0.1, 0.1, 0.1, 0.1]]
    assert out["fallback"].values.tolist() == [[True, False, False, False, False]]
    # without a fallback setting the optical prediction stands
    plain = predict(_TwoSettings(), _stack(), SettingChoice("S1+S2", "test", 1.0, 1.0), None)
    assert np.allclose(plain["probability"].values, 0.1)
