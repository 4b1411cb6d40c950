"""Pixels whose optical view is older than a change radar saw are predicted by the radar-only
fallback (monitor.pipeline.setting.stale_optical), and so is the whole of a radar detection whose
optical view is stale as an object (stale_objects): in a monitoring stack such a pixel's optical
post image is the last clear look before the clouds, perhaps before the event."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from monitor.pipeline.setting import SettingChoice, predict, stale_objects, stale_optical

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
    """The optical setting is sure of nothing (0.1); the radar one predicts ``radar`` (a
    number everywhere, or an array)."""

    settings = ("S1+S2", "S1")

    def __init__(self, radar: float | np.ndarray = 0.3) -> None:
        self.radar = radar

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        shape = (stack.sizes["y"], stack.sizes["x"])
        full = np.full(shape, 0.1) if setting == "S1+S2" else np.broadcast_to(self.radar, shape)
        full = np.array(full, np.float64)
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
    # the radar setting detects nothing (0.3 < its threshold 0.5): only the stale pixel changes
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_TwoSettings(), _stack(), choice, None)
    assert out["probability"].values.tolist() == [[0.3, 0.1, 0.1, 0.1, 0.1]]
    assert out["fallback"].values.tolist() == [[True, False, False, False, False]]
    # without a fallback setting the optical prediction stands
    plain = predict(_TwoSettings(), _stack(), SettingChoice("S1+S2", "test", 1.0, 1.0), None)
    assert np.allclose(plain["probability"].values, 0.1)


def _field(radar_share: float, radar_day: float, optical_share: float = 0.0) -> xr.Dataset:
    """A 6 x 6 stack, everything last seen clear by Sentinel-2 on day 10; a 4 x 4 block in the
    middle where ``radar_share`` of the pixels (in reading order) show a radar change on
    ``radar_day`` and ``optical_share`` of them an optical one on day 15."""
    shape = (6, 6)
    block = np.zeros(shape, bool)
    block[1:5, 1:5] = True
    order = np.flatnonzero(block.ravel())
    s1_first = np.full(shape, NAN)
    s1_first.ravel()[order[: round(radar_share * order.size)]] = radar_day
    s2_first = np.full(shape, NAN)
    s2_first.ravel()[order[: round(optical_share * order.size)]] = 15.0
    ones = np.ones(shape)
    layers = {
        "s1_first_changed": s1_first,
        "s2_last_unchanged": np.full(shape, 10.0),
        "s2_first_changed": s2_first,
        "s1_count_pre": ones,
        "s1_count_post": ones,
    }
    return xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()},
        coords={"y": np.arange(6.0), "x": np.arange(6.0)},
        attrs={"region": "field"},
    )


def _radar_block() -> np.ndarray:
    """The radar setting detects the block (0.9) and nothing else (0.2)."""
    radar = np.full((6, 6), 0.2)
    radar[1:5, 1:5] = 0.9
    return radar


def test_a_radar_detection_whose_optical_view_is_stale_is_filled_whole() -> None:
    # a single scene's test flags 6 of the block's 16 pixels, all after the last clear look
    stack = _field(radar_share=6 / 16, radar_day=20.0)
    assert stale_optical(stack).sum() == 6
    stale = stale_objects(stack, _radar_block(), 0.5)
    assert stale.sum() == 16 and stale[1:5, 1:5].all()
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_TwoSettings(_radar_block()), stack, choice, None)
    assert np.allclose(out["probability"].values[1:5, 1:5], 0.9)
    # outside the block the optical setting's 0.1 stands
    assert np.isclose(out["probability"].values, 0.1).sum() == 36 - 16


def test_a_radar_detection_is_not_stale_when_optical_saw_it_or_looked_later() -> None:
    radar = _radar_block()
    # optical saw the change on 10 of the 16 pixels: its view is current
    assert not stale_objects(_field(6 / 16, 20.0, optical_share=10 / 16), radar, 0.5).any()
    # ... on 6 of them: fewer than half, the optical view of the object is stale
    assert stale_objects(_field(6 / 16, 20.0, optical_share=6 / 16), radar, 0.5).sum() == 16
    # radar changed on day 5, before the clear look of day 10 that showed nothing
    assert not stale_objects(_field(6 / 16, 5.0), radar, 0.5).any()
    # below its threshold the radar setting detects nothing to fill
    assert not stale_objects(_field(6 / 16, 20.0), radar, 0.95).any()
    # a stack without event dating: nothing is stale
    assert not stale_objects(_field(1.0, 20.0).drop_vars("s2_first_changed"), radar, 0.5).any()
