"""Monitoring composites on the archive: a new scar shows at the first clear look after it and
never in its own baseline; the radar statistic keeps its nominal false-alarm rate on unchanged
speckle; the event bracket that reaches the inventory is the pair of acquisitions around the
simulated event (docs/operations.md, "Time to alert")."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from rasterio.features import rasterize
from shapely.geometry import box

from models.change_statistics import log_ratio_z
from monitor.alerts.settings import AlertRouting
from monitor.pipeline.vectorise import VectoriseRules, vectorise
from monitor.simulator import ArchiveSimulation, SimulationSpec, build_archive
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import EVENT, MONITORING, AreaOfInterest, Window
from monitor.sources.composite import nan_mean
from monitor.store.inventory import Inventory, RegionDetections

STORM = date(2024, 7, 10)
AREA = AreaOfInterest("clear-hills", box(10.90, 44.34, 10.918, 44.353), "both")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveSource:
    """A cloud-free region (every Sentinel-2 acquisition is a clear look) with one storm."""
    path: Path = tmp_path_factory.mktemp("monitoring_archive")
    spec = SimulationSpec(
        landscape="agricultural_hills", seed=5, cloud_scale=0.0, landslide_rate_scale=12.0
    )
    simulation = ArchiveSimulation(start=date(2024, 5, 1), end=date(2024, 8, 20), storms=(STORM,))
    build_archive(path, [(AREA, spec)], simulation, progress=False, workers=1)
    return ArchiveSource(path)


def _largest_slide(archive: ArchiveSource) -> tuple[pd.Series, date]:
    truth = archive.ground_truth(AREA.name)
    fresh = truth[truth["event_date"] >= STORM].sort_values("area_m2", ascending=False)
    slide = fresh.iloc[0]
    return slide, slide["event_date"]


def _mask(stack: xr.Dataset, geometry: object) -> np.ndarray:
    shape = (stack.sizes["y"], stack.sizes["x"])
    local = gpd.GeoSeries([geometry], crs="EPSG:4326").to_crs(stack.rio.crs).iloc[0]
    return rasterize([(local, 1)], out_shape=shape, transform=stack.rio.transform()) > 0


def _monitoring_stack(archive: ArchiveSource, run_date: date) -> xr.Dataset:
    post = Window(run_date - timedelta(days=30), run_date)
    pre = Window(post.start - timedelta(days=60), post.start)
    return archive.features(AREA, pre, post, MONITORING)


def test_a_scar_shows_at_the_first_clear_look_and_never_in_its_baseline(
    archive: ArchiveSource,
) -> None:
    slide, event = _largest_slide(archive)
    s2 = archive.catalog(AREA.name, sensor="S2")["date"]
    first_look = min(d for d in s2 if d >= event)  # the simulator shows a slide from its day on
    # the run on the day of that acquisition does not use it yet (the run date is excluded)...
    before = _monitoring_stack(archive, first_look)
    inside = _mask(before, slide.geometry)
    assert inside.sum() > 50
    assert np.nanmean(before["dNDVI"].values[inside]) > -0.1
    # ...the run of the day after does: the scar shows in the latest clear observation
    after = _monitoring_stack(archive, first_look + timedelta(days=1))
    assert np.nanmean(after["dNDVI"].values[inside]) < -0.25
    # and its baseline is the vegetation before the event (the pre window ends before it)
    vegetation = np.nanmean(before["postNDVI"].values[inside])
    assert np.nanmean(after["preNDVI"].values[inside]) > vegetation - 0.05
    # the greenest pixel of the same post window still hides it (the old monitoring windows)
    post = Window(first_look + timedelta(days=1) - timedelta(days=30), first_look + timedelta(1))
    pre = Window(post.start - timedelta(days=60), post.start)
    greenest = archive.features(AREA, pre, post, EVENT)
    assert np.nanmean(greenest["dNDVI"].values[inside]) > -0.1


def test_the_newest_scene_and_the_rest_of_the_post_image_are_its_two_scenes(
    archive: ArchiveSource,
) -> None:
    """Both passes watched, one scene per track: the post image of the run the day after an
    acquisition is the mean of that scene and the other track's last, and the newest scene is
    the one just acquired. The rest, ``2 * post - newest``, must then be the other track's scene,
    which the run of the day before saw as its newest (the second look's two looks,
    monitor.pipeline.dating.two_looks)."""
    catalog = archive.catalog(AREA.name, sensor="S1").sort_values("date")
    acquired = list(dict.fromkeys(zip(catalog["date"], catalog["track"], strict=True)))
    pairs = [(a, b) for a, b in pairwise(acquired) if a[1] != b[1] and (b[0] - a[0]).days >= 2]
    (_, _), (day, _) = pairs[-1]
    today = _monitoring_stack(archive, day + timedelta(days=1))
    yesterday = _monitoring_stack(archive, day)
    assert today.attrs["s1_dates_post"].split(",")[-1] == day.isoformat()
    two = today["s1_count_post"].values == 2
    assert two.mean() > 0.9
    for pol in ("VV", "VH"):
        post = today[f"post{pol}"].values.astype(np.float64)
        newest = today[f"s1_newest_{pol}"].values.astype(np.float64)
        rest = 2.0 * post - newest
        # float32 means of values near -10 dB: a few 1e-6 dB of rounding, doubled
        np.testing.assert_allclose(
            rest[two], yesterday[f"s1_newest_{pol}"].values[two], atol=1e-4, err_msg=pol
        )
        # teeth: the two scenes differ by speckle (a pixel's scenes are independent draws)
        assert np.nanstd(newest[two] - rest[two]) > 1.0


def test_radar_statistic_keeps_its_nominal_false_alarm_rate_on_unchanged_speckle() -> None:
    """Unchanged ground, gamma speckle of 4.4 looks (IW GRD), means in dB as the monitoring
    composite takes them: |z| > 1.96 on 5 % of the pixels, > 1.645 on 10 %. 200 000 pixels
    give a binomial standard error of 0.07 percentage points. The rest of the tolerance is the
    skew of the log of a gamma variate: one scene against five flags 9.5 % at the 10 % level
    (0.6 points allowed), means of two scenes or more are within 0.2 points (0.3 allowed)."""
    rng = np.random.default_rng(7)
    looks, pixels = 4.4, 200_000
    for n, m in ((1, 5), (2, 5), (2, 10)):
        pre_db = 10.0 * np.log10(rng.gamma(looks, 1.0 / looks, (m, pixels))).astype(np.float32)
        post_db = 10.0 * np.log10(rng.gamma(looks, 1.0 / looks, (n, pixels))).astype(np.float32)
        pre, pre_n = nan_mean(pre_db)
        post, post_n = nan_mean(post_db)
        z = log_ratio_z(post, post_n, pre, pre_n, looks)
        for critical, nominal in ((1.96, 0.05), (1.645, 0.10)):
            rate = float((np.abs(z) > critical).mean())
            tolerance = 0.006 if n == 1 else 0.003
            assert abs(rate - nominal) < tolerance, (n, m, critical, rate)
    # teeth: the spread is that of 4.4 looks, so a 5 dB drop seen in two scenes against five
    # is 2.7 standard deviations
    changed = log_ratio_z(
        np.array([-5.0], np.float32),
        np.array([2], np.int32),
        np.array([0.0], np.float32),
        np.array([5], np.int32),
        looks,
    )
    np.testing.assert_allclose(changed, [-5.0 / (2.1932 * np.sqrt(0.5 + 0.2))], rtol=1e-4)


def test_the_inventory_bracket_is_the_pair_of_acquisitions_around_the_event(
    archive: ArchiveSource, tmp_path: Path
) -> None:
    slide, event = _largest_slide(archive)
    s2 = sorted(archive.catalog(AREA.name, sensor="S2")["date"])
    s1 = sorted(archive.catalog(AREA.name, sensor="S1", orbit_pass="both")["date"])
    run_date = event + timedelta(days=20)
    stack = _monitoring_stack(archive, run_date)
    inside = _mask(stack, slide.geometry)
    # the prediction is the true footprint: what is tested is the dating, not the ensemble
    probability = np.where(inside, 0.9, 0.05).astype(np.float32)
    prediction = xr.Dataset(
        {"probability": (("y", "x"), probability), "agreement": (("y", "x"), probability)},
        coords={"y": stack.y, "x": stack.x},
        attrs={"threshold": 0.5, "setting": "S1+S2"},
    )
    candidates = vectorise(prediction, stack, VectoriseRules(min_area_m2=0, max_post_ndvi=None))
    assert len(candidates) == 1
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        run_id = inventory.start_run(run_date, [AREA.name], "archive")
        detections = [RegionDetections(AREA.name, "ok", candidates=candidates)]
        inventory.apply(run_id, detections, AlertRouting())
        row = inventory.get(1)
    s2_after = max(d for d in s2 if d < event).isoformat()
    s2_before = min(d for d in s2 if d >= event).isoformat()
    assert (row["s2_event_after"], row["s2_event_before"]) == (s2_after, s2_before)
    s1_before = min(d for d in s1 if d >= event).isoformat()
    assert row["s1_event_before"] == s1_before
    assert row["event_before"] == min(s2_before, s1_before)
    assert row["event_after"] is not None and row["event_after"] < event.isoformat()
    assert row["confirmation"] == "optical"


def test_a_baseline_that_holds_looks_of_the_scar_dates_it_before_them(
    archive: ArchiveSource,
) -> None:
    """The run whose post window begins the day after the first clear look at a slide (a month
    after it: a monitor started after the storm): its baseline holds that look. The greenest
    pixel passes over it, so the post window still shows the scar, but the baseline's last clear
    look was taken as the lower bound, and the bracket said the slide happened after a day it
    had already happened on."""
    slide, event = _largest_slide(archive)
    s2 = sorted(archive.catalog(AREA.name, sensor="S2")["date"])
    first_look = min(d for d in s2 if d >= event)
    stack = _monitoring_stack(archive, first_look + timedelta(days=31))
    inside = _mask(stack, slide.geometry)
    last = stack["s2_last_unchanged"].values[inside]
    first = stack["s2_first_changed"].values[inside]
    seen = np.isfinite(first)
    assert seen.mean() > 0.9  # the post window shows the scar against the greenest baseline
    day = float((event - date(1970, 1, 1)).days)
    assert (first[seen] >= day).all()
    before_event = float((max(d for d in s2 if d < event) - date(1970, 1, 1)).days)
    assert np.median(last[seen]) == before_event
