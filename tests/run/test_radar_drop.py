"""The forest backscatter-drop test (monitor.pipeline.radar_drop): a forest that slid loses its
volume scattering and VH falls by about one speckle standard deviation per pixel, which the
test finds per object; unchanged speckle, a drop outside forest or on flat ground, and a VH fall
with a VV rise (flooding under trees) are not drops."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from scipy import ndimage, special

from models.change_statistics import Compositing
from monitor.pipeline.radar_drop import (
    IW_MID_INCIDENCE_DEG,
    WINDOW_PX,
    WINDOW_Z,
    _local,
    _window_z,
    drop_statistic,
    radar_drops,
)
from monitor.pipeline.setting import SettingChoice, predict
from monitor.pipeline.vectorise import VectoriseRules, vectorise
from monitor.simulator.radar import speckle

MONITORING = Compositing("monitoring")
PRE_SCENES = 8
POST_SCENES = 2  # the last scene of each of two tracks


def _mean_db(rng: np.random.Generator, sigma0_db: np.ndarray, scenes: int) -> np.ndarray:
    """Mean in dB of ``scenes`` scenes of the true backscatter ``sigma0_db`` under IW GRD speckle
    (the simulator's: 4.4 looks, correlated over 2 x 2 pixels)."""
    linear = 10 ** (sigma0_db / 10)
    dbs = [10 * np.log10(linear * speckle(rng, sigma0_db.shape)) for _ in range(scenes)]
    return np.asarray(np.mean(dbs, axis=0), np.float32)


def _stack(
    shape: tuple[int, int] = (120, 120),
    *,
    scar: tuple[int, int, int, int] | None = (40, 60, 50, 60),
    dvh: float = -2.5,
    dvv: float = -1.5,
    canopy: float = 20.0,
    slope: float = 25.0,
    seed: int = 0,
) -> xr.Dataset:
    """A forested slope watched by Sentinel-1 (VV -8 dB, VH -14 dB), with a scar (rows, cols)
    whose true backscatter changed by ``dvv``/``dvh`` dB after the event."""
    rng = np.random.default_rng(seed)
    vv, vh = np.full(shape, -8.0), np.full(shape, -14.0)
    post_vv, post_vh = vv.copy(), vh.copy()
    if scar is not None:
        r0, r1, c0, c1 = scar
        post_vv[r0:r1, c0:c1] += dvv
        post_vh[r0:r1, c0:c1] += dvh
    layers = {
        "preVV": _mean_db(rng, vv, PRE_SCENES),
        "postVV": _mean_db(rng, post_vv, POST_SCENES),
        "preVH": _mean_db(rng, vh, PRE_SCENES),
        "postVH": _mean_db(rng, post_vh, POST_SCENES),
        "s1_count_pre": np.full(shape, PRE_SCENES, np.float32),
        "s1_count_post": np.full(shape, POST_SCENES, np.float32),
        "canopy_height": np.full(shape, canopy, np.float32),
        "slope": np.full(shape, slope, np.float32),
        "layover": np.zeros(shape, np.float32),
        "liaDeg": np.full(shape, IW_MID_INCIDENCE_DEG, np.float32),
        "shadow": np.zeros(shape, np.float32),
    }
    layers["dVV"] = layers["postVV"] - layers["preVV"]
    layers["dVH"] = layers["postVH"] - layers["preVH"]
    return xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()},
        coords={"y": np.arange(shape[0], 0, -1) * 10.0, "x": np.arange(shape[1]) * 10.0},
        attrs={"region": "slope", "compositing": MONITORING.describe()},
    )


def test_the_window_statistic_holds_its_nominal_rate_on_unchanged_speckle() -> None:
    """On unchanged speckle the scaled window mean is close to standard normal: the share of
    windows at or below -WINDOW_Z stays near the nominal 0.13 %. The resolution cell is taken
    as 4.4 pixels where this speckle's is 4 (2 x 2), so the statistic's spread is sqrt(4/4.4) =
    0.95 of nominal and its tail below -3 about 0.1 %; 67 600 windows (about 1 400 independent
    ones, the windows overlap) allow up to twice the nominal rate. The same holds against the
    surroundings' mean, which is estimated from about 800 pixels and adds little spread."""
    stack = _stack((300, 300), scar=None, seed=1)
    z = drop_statistic(stack).astype(np.float64)
    assert abs(float(np.mean(z))) < 0.05 and 0.9 < float(np.std(z)) < 1.1
    nominal = float(special.ndtr(-WINDOW_Z))
    everywhere = np.ones(z.shape, bool)
    # the window mean of z, and of z against its surroundings (what the test thresholds)
    for values in (z, _local(z, everywhere)):
        windows = _window_z(values, everywhere, WINDOW_PX)[20:-20, 20:-20]
        assert 0.8 < float(np.std(windows)) < 1.05
        assert float(np.mean(windows <= -WINDOW_Z)) < 2 * nominal


def test_unchanged_forest_gives_drops_at_the_calibrated_rate() -> None:
    """360 km² of unchanged forested slope (40 tiles of 9 km²): at OBJECT_Z,
    bench/bench_radar_drop_null.py found 0.03 false objects per 100 km² with these scene counts
    (0.1 expected here) and 0.06 with one post scene against five; two or more would happen by
    chance about once in 200 draws at 0.1. (At 5, the first threshold, 3.6 per 100 km²: about
    13 here.)"""
    found = 0
    for seed in range(40):
        _, n = ndimage.label(radar_drops(_stack((300, 300), scar=None, seed=100 + seed)))
        found += n
    assert found <= 1


def test_a_forest_slide_of_one_speckle_deviation_is_found_whole() -> None:
    """A 2 ha scar (200 m x 100 m) whose VH fell by 2.5 dB (per pixel 1.4 standard deviations of
    a two-scene mean against eight) is one object covering most of the scar and little outside
    it (the outline follows speckle within a resolution cell or two)."""
    stack = _stack()
    mask = radar_drops(stack)
    scar = np.zeros(mask.shape, bool)
    scar[40:60, 50:60] = True
    _, n = ndimage.label(mask, np.ones((3, 3), bool))
    assert n == 1
    assert (mask & scar).sum() / scar.sum() > 0.5
    assert (mask & ~scar).sum() < 0.25 * mask.sum()


def test_a_change_over_the_whole_slope_is_not_a_drop_and_a_slide_within_it_is() -> None:
    """Soil moisture, a wet or leafless canopy and wet snow lower VH over whole slopes: compared
    with its surroundings, such a change cancels. A slide inside a slope that darkened by 1 dB
    still stands out of it."""
    whole = _stack(scar=(0, 120, 0, 120), dvh=-2.5, dvv=-0.5)
    assert not radar_drops(whole).any()
    stack = _stack()
    darker = _stack(scar=None, seed=0)
    rng = np.random.default_rng(5)
    post = 10 ** ((np.full((120, 120), -15.0)) / 10)
    post[40:60, 50:60] = 10 ** ((-14.0 - 1.0 - 2.5) / 10)
    scenes = [10 * np.log10(post * speckle(rng, post.shape)) for _ in range(POST_SCENES)]
    darker["postVH"] = (("y", "x"), np.mean(scenes, axis=0).astype(np.float32))
    darker["dVH"] = darker["postVH"] - darker["preVH"]
    scar = np.zeros((120, 120), bool)
    scar[40:60, 50:60] = True
    for mask in (radar_drops(stack), radar_drops(darker)):
        assert (mask & scar).sum() > 0.5 * scar.sum() and (mask & ~scar).sum() < 0.25 * mask.sum()


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("no trees", {"canopy": 2.0}),
        ("flat ground", {"slope": 4.0}),
        ("VV rose clearly: flooding under the canopy", {"dvv": +3.0}),
        ("VH rose: debris", {"dvh": +2.5}),
    ],
)
def test_what_is_not_a_forest_drop(why: str, kwargs: dict[str, Any]) -> None:
    assert not radar_drops(_stack(**kwargs)).any(), why


def test_a_slight_vv_rise_does_not_rule_a_drop_out() -> None:
    """After forest loss VV may rise a little (wet bare soil, rough debris): only a clear rise
    (flooding under the canopy, 3 standard errors) rules a drop out. With the same seed only
    post-event VV differs between the cases, so the VH test is the same. A 0.5 dB rise over the
    2 ha scar is about 1.4 standard errors, and speckle can carry it over 3: on these seeds it
    does once in four (seed 0, 3.1), where a veto on any rise would take all four."""
    flat = kept = 0
    for seed in range(4):
        found = bool(radar_drops(_stack(dvv=0.0, seed=seed)).any())
        flat += found
        kept += found and bool(radar_drops(_stack(dvv=+0.5, seed=seed)).any())
        assert not radar_drops(_stack(dvv=+3.0, seed=seed)).any()
    assert flat == 4 and kept >= 3


def test_only_monitoring_means_without_gaps_in_the_inputs_are_tested() -> None:
    assert radar_drops(_stack()).any()
    assert not radar_drops(_stack().drop_vars("canopy_height")).any()
    # an event-mode median, and a stack that does not say how it was composited
    for compositing in (Compositing("event").describe(), ""):
        stack = _stack()
        stack.attrs["compositing"] = compositing
        assert not radar_drops(stack).any()


class _Blind:
    """A stand-in ensemble that sees nothing (probability 0.02 everywhere)."""

    settings: tuple[str, ...] = ("S1",)

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        full = np.full((stack.sizes["y"], stack.sizes["x"]), 0.02)
        layers = {"probability": full, "spread": full * 0, "agreement": full * 0}
        return xr.Dataset(
            {k: (("y", "x"), v) for k, v in layers.items()},
            coords=stack.coords,
            attrs={"threshold": 0.5, "setting": setting},
        )


def _located(stack: xr.Dataset) -> xr.Dataset:
    h, w = stack.sizes["y"], stack.sizes["x"]
    nan = np.full((h, w), np.nan, np.float32)
    zero = np.zeros((h, w), np.float32)
    extra = {"landcover": zero + 10, "postNDVI": nan, "dNDVI": nan, "s2_clear_pre": zero,
             "s2_clear_post": zero}  # fmt: skip
    stack = stack.assign({k: (("y", "x"), v) for k, v in extra.items()})
    located: xr.Dataset = stack.rio.write_crs("EPSG:32632")
    return located


def test_the_chain_detects_a_drop_the_ensemble_misses() -> None:
    """With ``radar_drop`` the drop's pixels are detections whatever the probability (which
    stays the ensemble's); the object is recorded as seen by Sentinel-1. Without it nothing is
    found."""
    stack = _located(_stack())
    choice = SettingChoice("S1", "test", 0.0, 1.0)
    out = predict(_Blind(), stack, choice, None, radar_drop=True)
    assert np.allclose(out["probability"].values, 0.02)
    candidates = vectorise(out, stack, VectoriseRules())
    assert len(candidates) == 1
    row = candidates.iloc[0]
    assert row["setting"] == "S1"
    assert 1.4e4 < row["area_m2"] < 2.8e4  # the scar is 2 ha
    assert row["prob_mean"] == pytest.approx(0.02)
    assert row["dVH_mean"] < -1.5
    plain = predict(_Blind(), stack, choice, None)
    assert "radar_drop" not in plain and vectorise(plain, stack, VectoriseRules()).empty


class _Optical(_Blind):
    """Sees nothing either, but with an optical setting that has no view (NaN) on the columns
    from ``cloudy_from`` on."""

    settings = ("S1+S2", "S1")

    def __init__(self, cloudy_from: int) -> None:
        self.cloudy_from = cloudy_from

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        out = super().predict(stack, setting, device=device)
        if setting == "S1+S2":
            out["probability"][:, self.cloudy_from :] = np.nan
        return out


@pytest.mark.parametrize(("cloudy_from", "found"), [(0, True), (120, False)])
def test_a_drop_counts_only_where_the_prediction_is_radar(cloudy_from: int, found: bool) -> None:
    """Under clouds (the radar fallback predicts the scar) the drop is a detection; under a
    clear, current optical view the optical setting judges, and saw nothing."""
    stack = _located(_stack())
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_Optical(cloudy_from), stack, choice, None, radar_drop=True)
    assert ("radar_drop" in out) is found
    assert len(vectorise(out, stack, VectoriseRules())) == int(found)


def _dated(optical_look: str) -> xr.Dataset:
    """The scar's stack with event dating: every pixel's last clear optical look on
    ``optical_look``, without change; no Sentinel-1 (VV) change dated; the post window's
    Sentinel-1 scenes 08-18, 08-27 and 08-30 (the post image: the last two)."""
    stack = _located(_stack())
    day = (np.datetime64(optical_look) - np.datetime64("1970-01-01")).astype(float)
    shape = (stack.sizes["y"], stack.sizes["x"])
    stack["s2_last_unchanged"] = (("y", "x"), np.full(shape, day, np.float32))
    stack["s2_first_changed"] = (("y", "x"), np.full(shape, np.nan, np.float32))
    stack["s1_first_changed"] = (("y", "x"), np.full(shape, np.nan, np.float32))
    stack.attrs["s1_dates_post"] = "2024-08-18,2024-08-27,2024-08-30"
    return stack


@pytest.mark.parametrize(
    ("optical_look", "found"),
    [("2024-08-20", True), ("2024-08-28", False), ("2024-09-02", False)],
)
def test_a_drop_counts_where_the_optical_view_is_older_than_the_radar(
    optical_look: str, found: bool
) -> None:
    """Under a clear optical view the drop is a detection when that view is older than the
    oldest scene of the radar post image (two scenes: 08-27 and 08-30) and showed no change: the
    optical setting predicts from the days before the slide, and the Sentinel-1 dating (VV) did
    not see the VH drop, so no pixel is marked stale. A look between the two scenes (08-28) may
    postdate the one that showed the drop, and judges, as a newer one does."""
    stack = _dated(optical_look)
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_Optical(cloudy_from=120), stack, choice, None, radar_drop=True)
    assert ("radar_drop" in out) is found
    candidates = vectorise(out, stack, VectoriseRules())
    assert len(candidates) == int(found)
    if found:  # marked stale: the post-event optical bands show the forest before the slide
        assert out["optical_stale"].values[out["radar_drop"].values].all()


class _ClearPatch(_Blind):
    """S1+S2 sees one patch (0.9) and nothing else: clouds (NaN) elsewhere, which the radar
    fallback (0.02 everywhere) predicts."""

    settings = ("S1+S2", "S1")

    def __init__(self, rows: slice, cols: slice) -> None:
        self.rows, self.cols = rows, cols

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        out = super().predict(stack, setting, device=device)
        if setting == "S1+S2":
            out["probability"][:] = np.nan
            out["probability"][self.rows, self.cols] = 0.9
        return out


def _above_the_drop(stack: xr.Dataset) -> tuple[slice, slice]:
    """A 4 x 4 patch just above the drop's top pixel: bordering it, not overlapping."""
    rows, cols = np.nonzero(radar_drops(stack))
    top = int(rows.min())
    col = int(cols[rows == top][0])
    return slice(top - 4, top), slice(col - 2, col + 2)


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("inside", "inside the scar: mostly covered by the drop"),
        ("above", "above the scar: the drop only borders it"),
    ],
)
def test_an_optical_detection_touched_by_a_drop_keeps_its_setting_and_outline(
    where: str, why: str
) -> None:
    """A drop that covers or borders an optical detection leaves it as the ensemble drew it:
    its setting, its outline (the drop is not merged into it)."""
    stack = _located(_stack())
    rows, cols = (slice(42, 52), slice(51, 57)) if where == "inside" else _above_the_drop(stack)
    choice = SettingChoice("S1+S2", "test", 1.0, 1.0, fallback="S1")
    out = predict(_ClearPatch(rows, cols), stack, choice, None, radar_drop=True)
    drop = out["radar_drop"].values
    patch = np.zeros(drop.shape, bool)
    patch[rows, cols] = True
    near = ndimage.binary_dilation(patch, np.ones((3, 3), bool))
    assert (drop & near).any(), why
    candidates = vectorise(out, stack, VectoriseRules())
    assert candidates["setting"].tolist() == ["S1+S2"], why
    assert candidates["area_m2"].tolist() == [patch.sum() * 100.0], why


def test_under_the_radar_setting_a_current_optical_look_can_rule_a_drop_out() -> None:
    """Under the S1 setting every drop is a detection, but one whose clear optical look is newer
    than the radar's keeps that view (not marked stale), so a look that is still green drops it
    (max_post_ndvi); an older look is marked stale and cannot."""
    for optical_look, stale in (("2024-09-02", False), ("2024-08-20", True)):
        stack = _dated(optical_look)
        stack["postNDVI"] = xr.full_like(stack["slope"], 0.8)
        out = predict(_Blind(), stack, SettingChoice("S1", "test", 0.0, 1.0), None, radar_drop=True)
        assert out["radar_drop"].values.any()
        marked = "optical_stale" in out and bool(out["optical_stale"].values.any())
        assert marked is stale
        assert len(vectorise(out, stack, VectoriseRules())) == int(stale)


def test_a_stack_without_local_incidence_gets_the_nominal_cell() -> None:
    """Found reading the whole change: ``cell_pixels`` said it gives the nominal figure where
    the local incidence is unknown but raised KeyError on a stack without ``liaDeg``, so its
    caller in the dating special-cased the missing band."""
    from monitor.pipeline.radar_drop import CELL_PIXELS, cell_pixels

    plain = xr.Dataset({"dNDVI": (("y", "x"), np.zeros((3, 4)))})
    assert np.array_equal(cell_pixels(plain), np.full((3, 4), float(CELL_PIXELS)))
    steep = plain.assign(liaDeg=(("y", "x"), np.full((3, 4), 15.0)))
    assert (cell_pixels(steep) > CELL_PIXELS).all()  # a slope facing the sensor: larger cells
