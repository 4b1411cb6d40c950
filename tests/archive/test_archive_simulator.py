"""The simulator on its own: landslide geometry, land-cover placement, snow, clouds, radar."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from scipy.special import polygamma
from shapely.geometry import box

from models.change_statistics import IW_GRD_ENL
from models.worldcover import BARE, CROP, MANGROVES, SNOW_ICE, TREE, WATER, WORLDCOVER_CLASSES
from monitor.simulator import ArchiveSimulation, SimulatedRegion, SimulationSpec
from monitor.sources.base import AreaOfInterest

SIM = ArchiveSimulation(
    start=date(2024, 1, 1), end=date(2024, 10, 1), storms=(date(2024, 5, 18), date(2024, 8, 17))
)


@pytest.fixture(scope="module")
def alps() -> SimulatedRegion:
    area = AreaOfInterest("alps", box(9.90, 46.21, 9.945, 46.24))
    spec = SimulationSpec(landscape="alpine", seed=23, landslide_rate_scale=3.0)
    return SimulatedRegion(area, spec, SIM)


def _pixel(region: SimulatedRegion, x: float, y: float) -> tuple[int, int]:
    g = region.grid
    return int((g.y0 - y) // g.res), int((x - g.x0) // g.res)


def test_landslides_are_elongated_downslope_on_steep_ground(alps: SimulatedRegion) -> None:
    slides = [r for r in alps.events.records if r.kind == "landslide"]
    assert len(slides) >= 10
    areas = np.array([r.geometry.area for r in slides])
    assert areas.min() >= 500.0 and areas.max() <= 0.1 * alps.grid.area_km2 * 1e6 + 1
    assert np.median(areas) < 0.2 * areas.max()  # heavy-tailed sizes
    drops, elongations = [], []
    for r in slides:
        rect = r.geometry.minimum_rotated_rectangle
        xs, ys = rect.exterior.coords.xy
        sides = sorted(np.hypot(np.diff(xs), np.diff(ys))[:2])
        elongations.append(sides[1] / max(sides[0], 1e-6))
        coords = np.asarray(r.geometry.exterior.coords)
        z = [alps.terrain.dem[_pixel(alps, x, y)] for x, y in coords]
        drops.append(max(z) - min(z))
    assert np.median(elongations) > 1.8
    assert np.median(drops) > 20.0  # they run down the slope
    slope_at_crown = []
    for r in slides:
        coords = np.asarray(r.geometry.exterior.coords)
        rows_cols = [_pixel(alps, x, y) for x, y in coords]
        heights = [alps.terrain.dem[rc] for rc in rows_cols]
        slope_at_crown.append(alps.terrain.slope[rows_cols[int(np.argmax(heights))]])
    assert np.median(slope_at_crown) > 20.0


def test_land_cover_is_placed_plausibly(alps: SimulatedRegion) -> None:
    lc, dem, slope = alps.cover.landcover, alps.terrain.dem, alps.terrain.slope
    assert np.median(dem[lc == WATER]) < np.percentile(dem, 10)  # water in the valleys
    assert np.median(slope[lc == WATER]) < 2.0
    if (lc == SNOW_ICE).any():
        assert dem[lc == SNOW_ICE].min() > np.percentile(dem, 80)
    if (lc == CROP).any():
        assert np.median(slope[lc == CROP]) < 15.0
    assert np.median(dem[lc == TREE]) < np.median(dem[lc == BARE])
    assert 50.0 < np.percentile(slope, 99.9) < 75.0
    # WorldCover codes only, and never mangroves: the archive's numbers do not depend on 95
    # being one of models.worldcover.VEGETATED.
    assert set(np.unique(lc).tolist()) <= set(WORLDCOVER_CLASSES) - {MANGROVES}


def test_snow_in_winter_at_altitude_and_summer_melt(alps: SimulatedRegion) -> None:
    high = alps.terrain.dem > 2000.0
    winter = alps.surface.at((date(2024, 1, 20) - SIM.start).days)
    summer = alps.surface.at((date(2024, 7, 20) - SIM.start).days)
    storm = alps.surface.at((date(2024, 8, 19) - SIM.start).days)
    assert winter.snow[high].mean() > 0.8
    assert summer.snow[high & (alps.cover.landcover != SNOW_ICE)].mean() < 0.2
    above_storm_line = alps.terrain.dem > alps.landscape.storm_snow_line_m + 250.0
    assert above_storm_line.sum() > 100
    fresh = storm.snow[above_storm_line].mean() - summer.snow[above_storm_line].mean()
    assert fresh > 0.5  # fresh snow after a storm


def test_clouds_are_coherent_flagged_and_cast_shadows(alps: SimulatedRegion) -> None:
    acq = min(alps.s2, key=lambda a: abs(a.cloud_cover - 0.4))
    scene = alps.render_s2(acq)
    prob = scene.cloud_probability.astype(float)
    cloudy = prob > 60
    assert 0.1 < cloudy.mean() < 0.8
    # spatially coherent: neighbours agree far more often than chance
    agree = (cloudy[:, 1:] == cloudy[:, :-1]).mean()
    assert agree > 0.95
    # clouds brighten the blue band
    blue = scene.dn[0].astype(float)
    assert np.median(blue[prob > 80]) > 2 * np.median(blue[prob < 10])


def test_radar_sees_the_terrain_and_speckle(alps: SimulatedRegion) -> None:
    acq = alps.s1[0]
    sigma0 = alps.render_s1(acq).astype(float) / 100.0
    geometry = alps.tracks[acq.track].geometry
    ok = ~(geometry.layover | geometry.shadow) & (alps.cover.landcover == TREE)
    fore = ok & (geometry.alpha_r_deg > 15)
    back = ok & (geometry.alpha_r_deg < -15)
    assert np.median(sigma0[0][fore]) > np.median(sigma0[0][back]) + 2.0  # foreslopes brighter
    if geometry.shadow.sum() > 20:
        assert np.median(sigma0[0][geometry.shadow]) < -20.0
    flat = ok & (np.abs(geometry.alpha_r_deg) < 3)
    # one scene's spread in dB: gamma speckle of L looks has sd 10/ln10 sqrt(trigamma(L))
    expected = 10.0 / np.log(10.0) * np.sqrt(polygamma(1, IW_GRD_ENL))  # 2.19 dB for 4.4 looks
    assert expected - 0.1 < np.std(sigma0[1][flat]) < expected + 0.6


def test_two_tracks_a_pass_add_neighbouring_orbits_and_leave_the_first_as_they_were() -> None:
    """``s1_tracks_per_pass: 2`` (where neighbouring orbits' swaths overlap, and a window holds
    twice the scenes): a second relative orbit of each pass, another day of the cycle, the
    region at the other end of its swath and within the incidence range the sources keep (found
    in review: half the second tracks fell outside it, and their scenes were dropped); the first
    tracks, and a one-track spec's archive digest, as before."""
    from models.feature_stack import S1_INCIDENCE_RANGE_DEG
    from monitor.simulator.spec import spec_digest

    area = AreaOfInterest("hills", box(10.90, 44.34, 10.91, 44.347))
    sim = ArchiveSimulation(start=date(2024, 6, 1), end=date(2024, 7, 1))
    one = SimulationSpec(landscape="agricultural_hills", seed=4, s1_repeat_days=6)
    two = one.model_copy(update={"s1_tracks_per_pass": 2})
    a, b = SimulatedRegion(area, one, sim), SimulatedRegion(area, two, sim)
    assert len(a.tracks) == 2 and len(b.tracks) == 4
    for first, again in zip(a.tracks, b.tracks[:2], strict=True):
        assert (first.relative_orbit, first.first_day) == (again.relative_orbit, again.first_day)
        np.testing.assert_array_equal(first.angle, again.angle)
    for first, second in zip(b.tracks[:2], b.tracks[2:], strict=True):
        assert second.orbit_pass == first.orbit_pass
        assert second.relative_orbit != first.relative_orbit
        assert second.first_day != first.first_day
        assert abs(second.look_azimuth_deg - first.look_azimuth_deg) < 3.0
    low, high = S1_INCIDENCE_RANGE_DEG
    for seed in range(40):  # whatever the draw: the other end of the swath, scenes kept
        tracks = SimulatedRegion(area, two.model_copy(update={"seed": seed}), sim).tracks
        for first, second in zip(tracks[:2], tracks[2:], strict=True):
            near, far = sorted((float(np.mean(first.angle)), float(np.mean(second.angle))))
            assert near < 37.5 < far and (near < 34.1 or far > 40.9)
        for track in tracks:
            assert low < float(track.angle.min()) and float(track.angle.max()) < high
    # a 30-day window: 5 scenes a track, twice as many with two tracks a pass
    assert len(a.s1) == 10 and len(b.s1) == 20
    # the one-track spec's digest leaves the field out, so its archives are not rebuilt
    assert "s1_tracks_per_pass" not in one.model_dump(mode="json", exclude_none=True)
    assert spec_digest("POINT (0 0)", one, sim) != spec_digest("POINT (0 0)", two, sim)
