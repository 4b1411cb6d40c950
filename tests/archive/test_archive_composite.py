"""Compositing primitives: greenest pixel never picks a flagged observation, NaN medians,
cloud-shadow masking, and terrain flattening on analytic tilted planes."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from monitor.sources.composite import (
    cloud_shadow_mask,
    greenest_pixel,
    nan_median,
    ndvi,
    self_shadowed,
)
from monitor.sources.terrain_flattening import (
    flattening_correction_db,
    slope_aspect,
    slope_correction_factor,
    track_geometry,
)


@settings(max_examples=60, deadline=None)
@given(
    t=st.integers(1, 6),
    data=st.data(),
)
def test_greenest_pixel_never_picks_a_flagged_observation(t: int, data: st.DataObject) -> None:
    refl = data.draw(arrays(np.uint16, (t, 6, 4, 5), elements=st.integers(0, 12000)))
    flagged = data.draw(arrays(np.bool_, (t, 4, 5)))
    comp = greenest_pixel(refl, flagged)
    vi = ndvi(refl)
    usable = ~flagged & np.isfinite(vi)
    count = usable.sum(axis=0)
    np.testing.assert_array_equal(comp.clear_count, count)
    rows, cols = np.nonzero(count > 0)
    chosen = comp.chosen[rows, cols]
    assert not flagged[chosen, rows, cols].any()
    # the chosen one is the greenest usable observation
    best = np.where(usable, vi, -np.inf).max(axis=0)
    np.testing.assert_allclose(comp.ndvi[rows, cols], best[rows, cols])
    np.testing.assert_allclose(
        comp.reflectance[:, rows, cols], refl[chosen, :, rows, cols].T / 10000.0, rtol=1e-6
    )
    none = count == 0
    assert np.isnan(comp.reflectance[:, none]).all() and np.isnan(comp.ndvi[none]).all()
    assert (comp.chosen[none] == -1).all()


def test_greenest_pixel_of_an_all_clouded_window_is_nan_not_zero() -> None:
    refl = np.full((3, 6, 2, 2), 3000, np.uint16)
    comp = greenest_pixel(refl, np.ones((3, 2, 2), bool))
    assert np.isnan(comp.reflectance).all() and np.isnan(comp.ndvi).all()
    assert (comp.clear_count == 0).all()


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, (5, 3, 3), elements=st.one_of(st.just(np.nan), st.floats(-30, 5, width=32)))
)
def test_nan_median_matches_numpy(stack: np.ndarray) -> None:
    median, count = nan_median(stack)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = np.nanmedian(stack, axis=0)
    np.testing.assert_allclose(median, expected, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(count, np.isfinite(stack).sum(axis=0))


def test_cloud_shadow_mask_flags_clouds_and_their_displaced_dark_shadow() -> None:
    refl = np.full((1, 6, 60, 60), 3000, np.uint16)
    prob = np.zeros((1, 60, 60), np.uint8)
    prob[0, 10:20, 10:20] = 90  # a cloud
    refl[0, :, 30:40, 10:20] = 600  # its shadow, 200 m to the south (sun in the north)
    refl[0, :, 45:55, 45:55] = 600  # a dark field far from any cloud: not shadow
    mask = cloud_shadow_mask(refl, prob, np.array([0.0]))
    assert mask[0, 12:18, 12:18].all()
    assert mask[0, 32:38, 12:18].all()
    assert not mask[0, 47:53, 47:53].any()
    assert not mask[0, 55:, :5].any()


def _plane(slope_deg: float, aspect_deg: float, n: int = 9, res: float = 10.0) -> np.ndarray:
    rows, cols = np.indices((n, n), dtype=np.float64)
    east, north = cols * res, -rows * res
    a = np.radians(aspect_deg)
    # heights fall towards the aspect direction
    return (-(east * np.sin(a) + north * np.cos(a)) * np.tan(np.radians(slope_deg))).astype(
        np.float32
    )


def test_slope_and_aspect_of_a_tilted_plane() -> None:
    slope, aspect = slope_aspect(_plane(30.0, 250.0), 10.0)
    np.testing.assert_allclose(slope, 30.0, atol=1e-3)
    np.testing.assert_allclose(aspect, 250.0, atol=1e-3)


def test_flattening_on_a_tilted_plane_matches_the_analytic_value() -> None:
    theta = 38.0
    look = 80.0  # ascending, looking east: the sensor is to the west
    for slope_deg, facing in ((20.0, True), (15.0, False)):
        aspect = (look + 180.0) % 360.0 if facing else look
        slope, asp = slope_aspect(_plane(slope_deg, aspect), 10.0)
        geometry = track_geometry(slope, asp, theta, look)
        alpha_r = slope_deg if facing else -slope_deg
        np.testing.assert_allclose(geometry.alpha_r_deg, alpha_r, atol=1e-3)
        np.testing.assert_allclose(geometry.alpha_az_deg, 0.0, atol=1e-3)
        np.testing.assert_allclose(geometry.lia_deg, theta - alpha_r, atol=1e-3)
        th, ar = np.radians(theta), np.radians(alpha_r)
        volume = np.tan(np.pi / 2 - th + ar) / np.tan(np.pi / 2 - th)
        surface = np.sin(th) / np.sin(th - ar)
        correction = flattening_correction_db(geometry, "volume")
        np.testing.assert_allclose(correction, -10 * np.log10(np.cos(th) * volume), atol=1e-4)
        correction = flattening_correction_db(geometry, "surface")
        np.testing.assert_allclose(correction, -10 * np.log10(np.cos(th) * surface), atol=1e-4)
        # a target of gamma0 -8 dB seen on the slope is restored to -8 dB
        sigma0_db = -8.0 + 10 * np.log10(np.cos(th) * volume)
        np.testing.assert_allclose(
            sigma0_db + flattening_correction_db(geometry, "volume"), -8.0, atol=1e-4
        )
    # foreslopes are brightened (SCF > 1), backslopes darkened
    incidence, flat = np.radians(np.array(38.0)), np.array(0.0)  # one pixel's angles
    assert slope_correction_factor("volume", incidence, np.radians(np.array(10.0)), flat) > 1.0
    assert slope_correction_factor("volume", incidence, np.radians(np.array(-10.0)), flat) < 1.0


def test_layover_and_shadow_of_steep_planes() -> None:
    theta, look = 35.0, 280.0  # descending: the sensor is to the east
    fore = track_geometry(np.full((2, 2), 40.0), np.full((2, 2), 100.0), theta, look)
    assert fore.layover.all() and not fore.shadow.any()
    back = track_geometry(np.full((2, 2), 60.0), np.full((2, 2), 280.0), theta, look)
    assert back.shadow.all() and not back.layover.any()
    gentle = track_geometry(np.full((2, 2), 20.0), np.full((2, 2), 280.0), theta, look)
    assert not (gentle.layover | gentle.shadow).any()
    assert np.isnan(flattening_correction_db(fore, "volume")).all()


def test_self_shadow_is_the_sign_of_the_solar_incidence_for_every_sun() -> None:
    """:func:`self_shadowed` against cos i = cos z cos s + sin z sin s cos(φ - a) in float64,
    over random ground and suns from 20° to 85° from the zenith: the same mask, the scenes whose
    sun leaves no slope in shadow (zenith + steepest slope under 90°) skipped without a pixel
    lost, and unknown angles or slopes (NaN) lit."""
    rng = np.random.default_rng(7)
    slope = rng.uniform(0.0, 60.0, (60, 70)).astype(np.float32)
    aspect = rng.uniform(0.0, 360.0, (60, 70)).astype(np.float32)
    slope[0, 0] = np.nan
    zenith = np.append(rng.uniform(20.0, 85.0, 40), np.nan)
    azimuth = np.append(rng.uniform(0.0, 360.0, 40), 150.0)
    z, az = np.radians(zenith)[:, None, None], np.radians(azimuth)[:, None, None]
    s, a = np.radians(slope.astype(float))[None], np.radians(aspect.astype(float))[None]
    with np.errstate(invalid="ignore"):
        expected = np.cos(z) * np.cos(s) + np.sin(z) * np.sin(s) * np.cos(az - a) < 0
    got = self_shadowed(slope, aspect, zenith, azimuth)
    np.testing.assert_array_equal(got, expected)
    assert 0.05 < got[:-1].mean() < 0.5 and not got[:, 0, 0].any() and not got[-1].any()
    # suns that leave even a 60° slope lit are among them: the skip is exercised, and the
    # equality above is what shows it loses no pixel
    assert (zenith[:-1] + 60.0 < 90.0).any()
