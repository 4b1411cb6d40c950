"""Pixels a radar setting cannot see: no Sentinel-1 observation (a swath edge, a missing scene)
but a clear optical view. The chosen S1+S2 setting leaves them without a prediction; the
optical-only ``model.optical_fallback`` (S2; off by default) fills them, and vectorisation
compares them with that setting's own threshold."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import pytest
import xarray as xr

from monitor.config import ModelSettings
from monitor.pipeline.setting import UNSEEN_PIXELS, choose_setting, predict
from monitor.pipeline.vectorise import VectoriseRules, vectorise
from tests.run.chain_fixtures import hill_and_plain

NAN = np.float32(np.nan)


class SettingsByBand:
    """Stands in for the ensemble: every setting sees the scar (dNDVI < -0.3) with its own
    probability; a setting that reads radar is NaN where the radar bands are."""

    settings: tuple[str, ...] = ("S1+S2", "S1", "S2")
    probability: ClassVar[dict[str, float]] = {"S1+S2": 0.9, "S1": 0.8, "S2": 0.62}

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.threshold = {"S1+S2": 0.5, "S1": 0.5, "S2": 0.6}

    def predict(self, stack: xr.Dataset, setting: str, *, device: str | None = None) -> xr.Dataset:
        self.calls.append(setting)
        change = stack["dNDVI"].values < -0.3
        p = np.where(change, self.probability[setting], 0.05).astype(np.float32)
        if setting != "S1":
            p[np.isnan(stack["dNDVI"].values)] = NAN
        if setting != "S2":
            p[np.isnan(stack["dVV"].values)] = NAN
        layers = {"probability": p, "spread": p * 0 + 0.01, "agreement": (p > 0.5) * 1.0}
        return xr.Dataset(
            {k: (("y", "x"), v.astype(np.float32)) for k, v in layers.items()},
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": self.threshold[setting], "setting": setting},
        )


def _stack_with_a_radar_gap() -> xr.Dataset:
    """The hillside stack with no radar east of column 110 (a swath edge across the scar), and
    two cloudy blocks of rows 0-9: columns 140-149 in the gap, 60-69 where radar is."""
    stack = hill_and_plain().stack.copy(deep=True)
    gap = np.zeros(stack["dVV"].shape, bool)
    gap[:, 110:] = True
    for band in ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH"):
        stack[band].values[gap] = NAN
    for count in ("s1_count_pre", "s1_count_post"):
        stack[count].values[gap] = 0
    for cols in (slice(140, 150), slice(60, 70)):
        stack["s2_clear_post"].values[:10, cols] = 0
        stack["dNDVI"].values[:10, cols] = NAN
    return stack


def test_pixels_without_radar_are_predicted_by_the_optical_fallback() -> None:
    stack = _stack_with_a_radar_gap()
    ensemble = SettingsByBand()
    choice = choose_setting(stack, ensemble.settings, ModelSettings(optical_fallback="S2"))
    assert (choice.setting, choice.fallback, choice.optical_fallback) == ("S1+S2", "S1", "S2")

    out = predict(ensemble, stack, choice, None)
    gap = np.isnan(stack["dVV"].values)
    clear = stack["s2_clear_post"].values > 0
    assert out["optical_fallback"].values.tolist() == (gap & clear).tolist()
    assert out.attrs["optical_fallback_setting"] == "S2"
    assert out.attrs["optical_fallback_threshold"] == 0.6
    # the cloudy block in the gap: neither sensor sees it, it stays without a prediction
    assert np.isnan(out["probability"].values).tolist() == (gap & ~clear).tolist()
    # the cloudy block where radar is: the radar fallback's (S1, 0.05 off the scar), not S2's
    assert out["fallback"].values.tolist() == (~gap & ~clear).tolist()
    assert np.allclose(out["probability"].values[:10, 60:70], 0.05)
    scar = stack["dNDVI"].values < -0.3
    assert np.allclose(out["probability"].values[scar & gap], 0.62)
    assert np.allclose(out["probability"].values[scar & ~gap], 0.9)

    # the scar lies in the gap (columns 118-121) and is compared with S2's threshold; the
    # clear-cut on the plain (columns 30-39) has radar and stays S1+S2's
    candidates = vectorise(out, stack, VectoriseRules()).sort_values("setting")
    assert candidates["setting"].tolist() == ["S1+S2", "S2"]
    assert candidates["area_m2"].tolist() == [10_000.0, 10_000.0]
    # at a threshold above its probability the S2 pixels detect nothing
    ensemble.threshold["S2"] = 0.7
    again = vectorise(predict(ensemble, stack, choice, None), stack, VectoriseRules())
    assert again["setting"].tolist() == ["S1+S2"]


def test_without_an_optical_fallback_the_gap_stays_empty_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = _stack_with_a_radar_gap()
    ensemble = SettingsByBand()
    choice = choose_setting(stack, ensemble.settings, ModelSettings())  # off by default
    assert choice.optical_fallback is None
    with caplog.at_level(logging.WARNING, logger="monitor.pipeline.setting"):
        out = predict(ensemble, stack, choice, None)
    assert "hill: 5900 pixels without a radar observation but with a clear optical view" in (
        caplog.text
    )
    # the count rides on the record, for a command over many scenes to tally (below)
    (record,) = [r for r in caplog.records if hasattr(r, UNSEEN_PIXELS)]
    assert getattr(record, UNSEEN_PIXELS) == 5900
    assert "optical_fallback" not in out
    assert np.isnan(out["probability"].values[:, 110:]).all()
    # only the clear-cut on the plain, where there is radar
    assert vectorise(out, stack, VectoriseRules())["setting"].tolist() == ["S1+S2"]
    # and a setting that reads no radar needs none
    s2 = choose_setting(stack, ensemble.settings, ModelSettings(setting="S2"))
    assert s2.optical_fallback is None
    assert "(model.optical_fallback: S2 predicts them)" in caplog.text
    # an ensemble without S2 members is not advised them (found in a walkthrough)
    ensemble.settings = ("S1+S2", "S1")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.pipeline.setting"):
        predict(ensemble, stack, choice, None)
    assert "by S1+S2 (the ensemble has no S2 members to predict them)" in caplog.text


def test_a_chain_over_many_scenes_says_the_gaps_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a walkthrough: `operating_point` on 184 scenes printed 368 lines of pixels left
    without a prediction, two per scene, before its table. `collect` says them in one line."""
    from monitor.ops import filter_fit

    stack = _stack_with_a_radar_gap()
    ensemble = SettingsByBand()
    choice = choose_setting(stack, ensemble.settings, ModelSettings())

    def three_scenes(*args: object) -> None:
        for _ in range(3):
            predict(ensemble, stack, choice, None)
        logging.getLogger("monitor.pipeline.setting").warning("another warning")

    monkeypatch.setattr(filter_fit, "_collect", three_scenes)
    with caplog.at_level(logging.WARNING):
        filter_fit.collect([], ensemble, ModelSettings(), VectoriseRules())
    messages = [r.getMessage() for r in caplog.records]
    assert sum("without a radar observation" in m for m in messages) == 1, messages
    assert "another warning" in messages  # others pass
    (line,) = [m for m in messages if "without a radar observation" in m]
    assert line.startswith("3 of the chain's runs on these scenes left 17700 pixels")
    assert "(model.optical_fallback is off, as in a run by default; the first: hill: 5900" in line
    # an operating point runs two chains: each line names its manifest (a walk read the same
    # line twice)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        filter_fit.collect([], ensemble, ModelSettings(), VectoriseRules(), what="manifest m.json")
    (named,) = [r.getMessage() for r in caplog.records if "radar observation" in r.getMessage()]
    assert named.startswith("manifest m.json: 3 of the chain's runs on these scenes left 17700")
    # the filter is gone once collect returns: a run's own warning is said again
    predict(ensemble, stack, choice, None)
    assert "hill: 5900 pixels without" in caplog.records[-1].getMessage()
