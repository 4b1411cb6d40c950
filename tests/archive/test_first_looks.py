"""ArchiveSource.first_looks: the first clear Sentinel-2 view and the second Sentinel-1 scene
after each event, on scenes written in the test through RegionWriter."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from monitor.grid import region_grid
from monitor.sources.archive import ArchiveSource, RegionWriter, TrackInfo
from monitor.sources.base import AreaOfInterest

AREA = AreaOfInterest("looks", box(10.0, 45.0, 10.006, 45.004), "both")
S2_DATES = (date(2024, 7, 5), date(2024, 8, 5), date(2024, 8, 10), date(2024, 8, 15))
S2_CLOUDY = (False, True, False, False)
S1_DATES = (date(2024, 7, 3), date(2024, 8, 8), date(2024, 8, 20), date(2024, 9, 1))


def _write(path: Path) -> None:
    shape = region_grid(AREA.geometry).shape
    tracks = [
        TrackInfo(88, "descending", 280.0, np.full(shape, 35.0, np.float32)),
        TrackInfo(15, "ascending", 80.0, np.full(shape, 38.0, np.float32)),
    ]
    with RegionWriter(path, AREA, n_s2=len(S2_DATES), n_s1=len(S1_DATES), tracks=tracks) as w:
        w.write_static(
            np.full(shape, 500.0),
            np.full(shape, 10, np.uint8),
            np.full(shape, 20.0),
            np.full(shape, 15),
        )
        dn = np.full((6, *shape), 800, np.uint16)
        dn[3] = 3000
        for i, (when, cloudy) in enumerate(zip(S2_DATES, S2_CLOUDY, strict=True)):
            probability = np.full(shape, 95 if cloudy else 0, np.uint8)
            w.write_s2(i, when, dn, probability, sun_zenith=30.0, sun_azimuth=150.0)
        sigma0 = np.stack([np.full(shape, -8.0), np.full(shape, -15.0)]).astype(np.float32)
        for i, when in enumerate(S1_DATES):
            w.write_s1(i, when, i % 2, sigma0)
        w.write_ground_truth(_events([date(2024, 7, 1)]))
        w.commit()


def _events(days: list[date]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["landslide"] * len(days), "event_date": days, "area_m2": [900.0] * len(days)},
        geometry=[box(10.001, 45.001, 10.0014, 45.0013)] * len(days),
        crs="EPSG:4326",
    )


def test_first_clear_view_and_second_radar_scene_after_each_event(tmp_path: Path) -> None:
    _write(tmp_path)
    days = [date(2024, 8, 2), date(2024, 8, 12), date(2024, 8, 25), date(2024, 8, 8)]
    events = _events(days).set_axis([30, 10, 20, 40])  # the events' index is kept
    looks = ArchiveSource(tmp_path).first_looks("looks", events, "both")
    assert looks.index.tolist() == [30, 10, 20, 40]
    # 08-02: the 08-05 view is clouded, 08-10 is clear; radar 08-08 then 08-20
    # 08-12: 08-15 is clear; radar 08-20 then 09-01
    # 08-25: no optical view after it, one radar scene only
    # 08-08: a radar scene on the event day counts (the scar may be on it): 08-08 then 08-20
    assert looks["first_clear_s2"].tolist() == [
        date(2024, 8, 10),
        date(2024, 8, 15),
        None,
        date(2024, 8, 10),
    ]
    assert looks["second_s1"].tolist() == [
        date(2024, 8, 20),
        date(2024, 9, 1),
        None,
        date(2024, 8, 20),
    ]
    descending = ArchiveSource(tmp_path).first_looks("looks", events, "descending")
    # the descending track (88, index 0) has the 07-03 and 08-20 scenes only
    assert descending["second_s1"].tolist() == [None, None, None, None]


def test_an_optical_view_on_the_event_day_is_its_first_look(tmp_path: Path) -> None:
    _write(tmp_path)
    looks = ArchiveSource(tmp_path).first_looks("looks", _events([date(2024, 8, 10)]), "both")
    assert looks["first_clear_s2"].tolist() == [date(2024, 8, 10)]
