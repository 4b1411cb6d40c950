"""Real exports through RegionWriter, composited to the analytic values of hand-made scenes."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import zarr
from shapely.geometry import box

from models.feature_stack import validate
from monitor.config import ModelSettings
from monitor.grid import region_grid
from monitor.run import NoUsableSetting, choose_setting
from monitor.sources.archive import ArchiveError, ArchiveSource, RegionWriter, TrackInfo
from monitor.sources.archive_composite import _array
from monitor.sources.archive_writer import S1_NODATA
from monitor.sources.base import AreaOfInterest, Window

AREA = AreaOfInterest("export", box(10.0, 45.0, 10.006, 45.004), "descending")
PRE = Window(date(2024, 7, 1), date(2024, 8, 1))
POST = Window(date(2024, 8, 1), date(2024, 9, 1))
# What a stack's status says of POST, whose last acquisition written here is of 2024-08-10.
STALE = (
    "post window 2024-08-01/2024-09-01: its newest acquisition, 2024-08-10, is 21 days before "
    "its last day, where Sentinel-1 and Sentinel-2 revisit within 12: is the source still fed?"
)


class SunAngles(TypedDict):
    """The sun angles :meth:`RegionWriter.write_s2` takes by keyword, passed as ``**sun``."""

    sun_zenith: float
    sun_azimuth: float


def _s2(b8: int, b4: int, shape: tuple[int, int]) -> np.ndarray:
    dn = np.full((6, *shape), 800, np.uint16)
    dn[3], dn[2] = b8, b4
    return dn


def _write(path: Path, canopy_m: float = 20.0, landcover_code: int = 10) -> None:
    grid = region_grid(AREA.geometry)
    shape = grid.shape
    landcover = np.full(shape, landcover_code, np.uint8)
    landcover[:2] = 10
    track = TrackInfo(88, "descending", 280.0, np.full(shape, 35.0, np.float32))
    with RegionWriter(path, AREA, n_s2=4, n_s1=3, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), landcover, np.full(shape, canopy_m), np.full(shape, 15)
        )
        clear = np.zeros(shape, np.uint8)
        cloudy = np.full(shape, 90, np.uint8)
        sun: SunAngles = {"sun_zenith": 30.0, "sun_azimuth": 150.0}
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), clear, **sun)  # NDVI 0.6
        w.write_s2(1, date(2024, 7, 10), _s2(5000, 500, shape), cloudy, **sun)  # 0.82, cloud
        w.write_s2(2, date(2024, 7, 15), _s2(3400, 600, shape), clear, **sun)  # NDVI 0.7
        w.write_s2(3, date(2024, 8, 10), _s2(2400, 1600, shape), clear, **sun)  # NDVI 0.2
        vv_vh = np.empty((2, *shape), np.float32)
        vv_vh[1] = -15.0
        for index, when, vv in ((0, date(2024, 7, 3), -8.0), (1, date(2024, 7, 15), -10.0)):
            vv_vh[0] = vv
            w.write_s1(index, when, 0, vv_vh)
        vv_vh[0] = -6.0
        vv_vh[:, :3, :3] = np.nan  # a corner without data
        w.write_s1(2, date(2024, 8, 8), 0, vv_vh)
        truth = gpd.GeoDataFrame(
            {"kind": ["landslide"], "event_date": [date(2024, 8, 2)], "area_m2": [900.0]},
            geometry=[box(10.001, 45.001, 10.0014, 45.0013)],
            crs="EPSG:4326",
        )
        w.write_ground_truth(truth)
        w.commit()


def test_exported_scenes_composite_to_the_analytic_values(tmp_path: Path) -> None:
    _write(tmp_path)
    source = ArchiveSource(tmp_path)
    stack = source.features(AREA, PRE, POST)
    validate(stack)
    np.testing.assert_allclose(stack.preNDVI.values, 0.7, atol=1e-6)  # not the clouded 0.82
    np.testing.assert_allclose(stack.dNDVI.values, 0.2 - 0.7, atol=1e-6)
    assert (stack.s2_clear_pre.values == 2).all() and (stack.s2_clear_post.values == 1).all()
    assert stack.attrs["s2_dates_pre"] == "2024-07-15"
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))  # gamma0 = sigma0 / cos(theta_i)
    np.testing.assert_allclose(stack.preVV.values, -9.0 + flat, atol=1e-4)  # median of 2
    np.testing.assert_allclose(stack.preVH.values, -15.0 + flat, atol=1e-4)
    post_vv = stack.postVV.values
    assert np.isnan(post_vv[:3, :3]).all() and (stack.s1_count_post.values[:3, :3] == 0).all()
    np.testing.assert_allclose(stack.dVV.values[3:, 3:], 3.0, atol=1e-4)
    np.testing.assert_allclose(stack.liaDeg.values, 35.0, atol=1e-3)
    assert (stack.layover.values == 0).all() and (stack.slope.values == 0).all()
    assert stack.attrs["s1_dates_pre"] == "2024-07-03,2024-07-15"
    # the export's scenes end 21 days before the post window does: said, as a source no
    # longer fed would be
    assert stack.attrs["status"] == STALE
    assert stack.attrs["archive_origin"] == "export"
    truth = source.ground_truth("export")
    assert truth["event_date"].tolist() == [date(2024, 8, 2)]


def test_windows_past_the_archive_say_the_source_may_not_be_fed(tmp_path: Path) -> None:
    """Found by a rail operator's walk: runs months after the archive's last scene were
    `no-data` ("no acquisition in the pre window or the post window"), whose message had no
    line for `status --check` to fail on, and the check passed. A post window of STALE_DAYS or
    more with no acquisition at all now says so; a younger one (an event days ago) does not."""
    from monitor.sources.base import STALE_QUESTION, DataUnavailable, stale_post_note

    _write(tmp_path)
    source = ArchiveSource(tmp_path)
    later = (
        Window(date(2024, 10, 1), date(2024, 11, 1)),
        Window(date(2024, 11, 1), date(2024, 12, 1)),
    )
    with pytest.raises(DataUnavailable) as raised:
        source.features(AREA, *later)
    assert str(raised.value).endswith(
        "(archive holds 2024-07-03..2024-08-10); post window 2024-11-01/2024-12-01: no "
        "acquisition of either sensor in its 30 days, where Sentinel-1 and Sentinel-2 revisit "
        f"within 12: {STALE_QUESTION}"
    )
    # scenes before the post window but none in it: the stack says so as well
    empty_post = Window(date(2024, 9, 1), date(2024, 10, 2))
    assert (
        source.features(AREA, PRE, empty_post)
        .attrs["status"]
        .startswith(
            "post window 2024-09-01/2024-10-02: no acquisition of either sensor in its 31 days, "
            f"where Sentinel-1 and Sentinel-2 revisit within 12: {STALE_QUESTION}; S2 post window "
        )
    )
    assert source.last_acquisition(AREA) == date(2024, 8, 10)
    assert source.first_acquisition(AREA) == date(2024, 7, 3)
    assert source.last_acquisition(AreaOfInterest("elsewhere", AREA.geometry)) is None
    assert stale_post_note(Window(date(2024, 11, 1), date(2024, 11, 15)), ()) is None  # 14 days
    assert stale_post_note(Window(date(2024, 11, 1), date(2024, 11, 16)), ()) is not None
    assert stale_post_note(POST, ("2024-08-17",)) is None  # 14 days before its last day
    assert stale_post_note(POST, ("2024-08-10", "2024-08-16")) == STALE.replace(
        "2024-08-10, is 21", "2024-08-16, is 15"
    )


def test_an_empty_band_is_recorded_and_no_setting_needing_it_is_chosen(tmp_path: Path) -> None:
    """A real export whose canopy-height layer has no data at all (e.g. a product that does not
    reach the region's latitude): the status names the band, and the `all` setting (the only one
    that reads it) is passed over, as a fixed setting and as a preference."""
    _write(tmp_path, canopy_m=float("nan"))
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST)
    assert stack.attrs["status"] == f"{STALE}; empty bands (entirely NaN): canopy_height"
    model = ModelSettings(preference=["all", "S1+S2", "S1"])
    choice = choose_setting(stack, ["all", "S1+S2", "S1"], model)
    assert (choice.setting, choice.fallback) == ("S1+S2", "S1")
    assert choice.reason.endswith("; empty bands: canopy_height; not all (needs canopy_height)")
    with pytest.raises(NoUsableSetting, match=r"model.setting all needs canopy_height"):
        choose_setting(stack, ["all", "S1"], ModelSettings(setting="all"))
    # A fallback that needs the empty band is not used either (the configuration allows only
    # S1, whose bands an archive always holds: the policy is built past its validation).
    policy = ModelSettings.model_construct(**{**ModelSettings().model_dump(), "fallback": "all"})
    choice = choose_setting(stack, ["S1+S2", "all"], policy)
    assert (choice.setting, choice.fallback) == ("S1+S2", None)


def test_a_land_cover_of_no_data_is_read_and_said(tmp_path: Path) -> None:
    """An export written without WorldCover holds 0 (its no data), as docs/archive.md says to
    write it. The members read it (they score better on it than the radar-only fallback does,
    bench/bench_input_reliance.py), and the stack's status says so instead of nothing (a user
    walkthrough, 2026-12-06)."""
    _write(tmp_path, landcover_code=0)
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST)
    lc = stack.landcover.values
    assert (lc[:2] == 10).all() and (lc[2:] == 0).all()
    share = f"{(lc == 0).mean():.1%}"
    assert (
        f"landcover holds no data (0, ESA WorldCover's fill) on {share} of the pixels: the "
        "S2 and S1+S2 members, which read it, were trained with a class on every pixel"
        in stack.attrs["status"]
    )
    choice = choose_setting(stack, ["S1+S2", "S1"], ModelSettings())
    assert choice.setting == "S1+S2"
    _write(tmp_path / "classed")
    assert (
        "landcover holds no data"
        not in ArchiveSource(tmp_path / "classed").features(AREA, PRE, POST).attrs["status"]
    )


def test_two_writers_of_one_region_in_one_process_each_commit_whole(tmp_path: Path) -> None:
    """Found on a user walkthrough (2026-12-06): a second writer of the same region, opened in
    the same process before the first committed, took the first one's temporary folder (named
    by the pid alone) and deleted its arrays; both commits passed, and the region committed
    held a catalog of scenes without their data."""
    grid = region_grid(AREA.geometry)
    shape = grid.shape
    track = TrackInfo(88, "descending", 280.0, np.full(shape, 35.0, np.float32))
    static = (np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15))
    first = RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[track])
    second = RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[track])
    assert first.tmp != second.tmp
    for writer, ndvi_b4 in ((first, 750), (second, 1600)):
        writer.write_static(*static)
        writer.write_s2(
            0, date(2024, 7, 5), _s2(3000, ndvi_b4, shape), np.zeros(shape), sun_zenith=30.0,
            sun_azimuth=150.0,
        )  # fmt: skip
    first.commit()
    second.commit()  # the later commit is the region, whole
    z = zarr.open_group(tmp_path / "regions" / "export" / "data.zarr", mode="r")
    assert int(np.asarray(z["s2/reflectance"])[0, 2, 0, 0]) == 1600
    assert not list((tmp_path / "regions").glob(".export.*"))


def test_a_temporary_folder_of_an_earlier_process_with_this_pid_is_removed(
    tmp_path: Path,
) -> None:
    # pids are reused: a folder named with this process's pid that none of its writers made
    # is an earlier, killed process's (found in review: it was never removed)
    regions = tmp_path / "regions"
    stale = regions / f".export.tmp-987654-{os.getpid()}"
    (stale / "data.zarr").mkdir(parents=True)
    grid = region_grid(AREA.geometry)
    track = TrackInfo(88, "descending", 280.0, np.full(grid.shape, 35.0, np.float32))
    first = RegionWriter(tmp_path, AREA, n_s2=0, n_s1=0, tracks=[track])
    assert not stale.exists() and first.tmp.is_dir()
    second = RegionWriter(tmp_path, AREA, n_s2=0, n_s1=0, tracks=[track])
    assert first.tmp.is_dir() and second.tmp.is_dir()  # a live writer's folder is kept
    first.abort()
    second.abort()


def test_a_refused_write_static_can_be_made_again_and_class_fractions_are_refused(
    tmp_path: Path,
) -> None:
    """Found on a user walkthrough (2026-12-06): a canopy height of the wrong shape was refused
    after the elevation and land cover were written, and the corrected call then failed on
    zarr's 'an array exists'; and a land cover resampled bilinearly (10.8) was stored as 10."""
    grid = region_grid(AREA.geometry)
    shape = grid.shape
    track = TrackInfo(88, "descending", 280.0, np.full(shape, 35.0, np.float32))
    with RegionWriter(tmp_path, AREA, n_s2=0, n_s1=0, tracks=[track]) as w:
        dem, lc, climate = np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 15)
        with pytest.raises(ValueError, match=r"'export': canopy_height has shape"):
            w.write_static(dem, lc, np.zeros((2, 2)), climate)
        with pytest.raises(ValueError, match=r"landcover holds fractions \(10\.8\), not whole"):
            w.write_static(dem, np.full(shape, 10.8), np.zeros(shape), climate)
        with pytest.raises(ValueError, match=r"kg_climate holds fractions \(26\.7\)"):
            w.write_static(dem, lc, np.zeros(shape), np.full(shape, 26.7))
        w.write_static(dem, lc, np.zeros(shape), climate)
        with pytest.raises(ValueError, match=r"the static layers are written already"):
            w.write_static(dem, lc, np.zeros(shape), climate)


def test_writer_refuses_wrong_shapes_and_leaves_nothing(tmp_path: Path) -> None:
    grid = region_grid(AREA.geometry)
    track = TrackInfo(88, "descending", 280.0, np.full(grid.shape, 35.0, np.float32))
    with (
        pytest.raises(ValueError, match=r"'export': S2 2024-07-05 reflectance has shape"),
        RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[track]) as w,
    ):
        w.write_s2(
            0,
            date(2024, 7, 5),
            np.zeros((6, 3, 3), np.uint16),
            np.zeros((3, 3)),
            sun_zenith=30.0,
            sun_azimuth=150.0,
        )
    assert not any((tmp_path / "regions").iterdir())
    assert ArchiveSource(tmp_path).regions() == []


def test_swath_edges_and_layover_buffer_are_masked(tmp_path: Path) -> None:
    _write(tmp_path)
    source = ArchiveSource(tmp_path, incidence_range_deg=(36.0, 44.0))  # the track is at 35°
    stack = source.features(AREA, PRE, POST)
    assert np.isnan(stack.preVV.values).all() and (stack.s1_count_pre.values == 0).all()
    assert (
        f"S1 pre window {PRE}: no valid pixel in 2 descending acquisitions"
        in (stack.attrs["status"])
    )
    assert np.isfinite(stack.dNDVI.values).all()  # optical untouched


def test_layover_shadow_buffer_widens_the_mask() -> None:
    from monitor.sources.terrain_flattening import flattening_correction_db, track_geometry

    slope = np.full((40, 40), 10.0, np.float32)
    slope[:, 20:] = 60.0  # a cliff facing away from the sensor: shadow
    aspect = np.full((40, 40), 280.0, np.float32)
    geometry = track_geometry(slope, aspect, 35.0, 280.0)
    assert geometry.shadow[:, 20:].all() and not geometry.shadow[:, :20].any()
    plain = flattening_correction_db(geometry, "volume")
    wide = flattening_correction_db(geometry, "volume", buffer_m=50.0, res=10.0)
    assert np.isfinite(plain[:, :20]).all()
    assert np.isnan(wide[:, 15:]).all() and np.isfinite(wide[:, :15]).all()


def test_region_without_acquisitions_raises_data_unavailable(tmp_path: Path) -> None:
    from monitor.sources.base import DataUnavailable

    area = AreaOfInterest("empty", box(10.0, 45.0, 10.003, 45.002))
    shape = region_grid(area.geometry).shape
    with RegionWriter(tmp_path, area, n_s2=0, n_s1=0, tracks=[]) as w:
        w.write_static(np.zeros(shape), np.full(shape, 10), np.zeros(shape), np.zeros(shape))
        w.commit()
    with pytest.raises(DataUnavailable, match=r"'empty'.*archive holds empty"):
        ArchiveSource(tmp_path).features(area, PRE, POST)


def _docs_block(heading: str) -> str:
    """The first Python block after ``heading`` in docs/archive.md."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "archive.md").read_text()
    after = text[text.index(heading) :]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def _writer_inputs() -> tuple[tuple[int, int], TrackInfo, SunAngles]:
    shape = region_grid(AREA.geometry).shape
    track = TrackInfo(88, "descending", 280.0, np.full(shape, 35.0, np.float32))
    return shape, track, {"sun_zenith": 30.0, "sun_azimuth": 150.0}


def test_a_scene_naming_its_relative_orbit_for_its_track_is_told_the_index(tmp_path: Path) -> None:
    """Found in a walk: ``write_s1(i, day, 15, sigma0)`` with the scene's relative orbit, where
    the writer takes the index of its track, was refused as "names unknown track 15"."""
    shape, track, _ = _writer_inputs()
    other = TrackInfo(15, "ascending", 80.0, np.full(shape, 40.0, np.float32))
    sigma0 = np.full((2, *shape), -12.0, np.float32)
    with RegionWriter(tmp_path, AREA, n_s2=0, n_s1=1, tracks=[track, other]) as w:
        with pytest.raises(ValueError) as told:
            w.write_s1(0, date(2024, 7, 5), 15, sigma0)
        assert str(told.value) == (
            f"region {AREA.name!r}: S1 2024-07-05 names track 15, where `track` is an index into "
            "the writer's 2 track(s) (0 to 1), not a relative orbit: relative orbit 15 is "
            "tracks[1], give 1"
        )
        with pytest.raises(
            ValueError, match=r"names track 2, .* \(0 to 1\), not a relative orbit$"
        ):
            w.write_s1(0, date(2024, 7, 5), 2, sigma0)
        w.write_s1(0, date(2024, 7, 5), 1, sigma0)  # the index: taken


def test_ground_bright_in_every_band_is_stored_when_the_offset_is_said_removed(
    tmp_path: Path,
) -> None:
    """The offset check cannot tell DN + 1000 from bare rock or sand bright in every band at
    nearly every clear pixel: the caller who subtracted it says so, and the scene is stored."""
    shape, track, sun = _writer_inputs()
    bright = _s2(3000, 750, shape) + 1000
    clear = np.zeros(shape, np.uint8)
    with RegionWriter(tmp_path, AREA, n_s2=2, n_s1=1, tracks=[track]) as w:
        w.write_s2(1, date(2024, 7, 10), bright, clear, **sun, offset_removed=True)
        with pytest.raises(ValueError, match="pass offset_removed=True"):
            w.write_s2(0, date(2024, 7, 5), bright, clear, **sun)
        w.write_s2(0, date(2024, 7, 5), bright, clear, **sun, offset_removed=True)
        w.write_s1(0, date(2024, 7, 5), 0, np.full((2, *shape), -12.0, np.float32))
        w.write_static(np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0),
                       np.full(shape, 15))  # fmt: skip
        w.commit()
    region = ArchiveSource(tmp_path)._region(AREA.name)
    s2 = region.catalog[region.catalog["sensor"] == "S2"]
    assert sorted(s2["date"].astype(str)) == ["2024-07-05", "2024-07-10"]
    assert int(np.asarray(_array(region.root, "s2/reflectance")[1]).max()) == int(bright.max())

    # the daily update of docs/archive.md, run as written, copies them (found by a user: the
    # recipe copied stored scenes without offset_removed, and such a region could never be
    # updated again)
    from types import SimpleNamespace

    today = SimpleNamespace(
        date=date(2024, 7, 15), dn=_s2(3000, 750, shape), cloud_probability=clear, **{
            "zenith": 30.0, "azimuth": 150.0
        },
    )  # fmt: skip
    place = SimpleNamespace(name=AREA.name, area=AREA, max_area_km2=2500.0)
    exec(_docs_block("### Daily updates"), {"archive": tmp_path, "region": place, "today": today})
    region = ArchiveSource(tmp_path)._region(AREA.name)
    s2 = region.catalog[region.catalog["sensor"] == "S2"]
    assert sorted(s2["date"].astype(str)) == ["2024-07-05", "2024-07-10", "2024-07-15"]


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        ("s1 linear power", "look like linear power"),
        ("s1 whole dB as int16", "look like whole dB"),
        ("s1 hundredths as int32", "look like hundredths of dB in a type other than int16"),
        ("s2 reflectance 0-1", "look like reflectance 0-1"),
        ("s2 reflectance 0-1, one pixel saturated", "99 % of the reflectance at most 0.3"),
        ("s1 no-data -9999", "of the sigma0 values are -9999 dB, below any backscatter"),
        ("s1 int16 no-data -9999 dB", "of the sigma0 values are -327.67 dB, below any"),
        ("s1 no-data 0", "of the sigma0 values are exactly 0 dB, a no-data fill"),
        ("s1 no-data -9999 in one pixel", "2 sigma0 values beyond ±327.67 dB (from -9999 to"),
        ("s1 VV and VH swapped", "VH (median -12 dB) is above VV (median -19 dB)"),
        ("orbit pass abbreviated", "orbit_pass 'desc' is not 'ascending' or 'descending'"),
        ("heading as look azimuth", "look azimuth 192 deg is 88 deg from the 280 deg"),
        ("s2 no-data -9999", "negative values (min -9999"),
        ("s2 with BOA_ADD_OFFSET", "1000 DN or more in every band (the darkest band's 1st"),
        ("s2 offset subtracted in uint16", "184 pixels (8.2%) hold reflectance between 64536 and"),
        (
            "s2 no-data -9999 cast to uint16",
            "138 pixels (6.1%) hold 55537 DN in all six bands, "
            "above any ground or cloud: a negative no-data value cast to an unsigned type (-9999 "
            "wraps round to 55537 in uint16)? Write no data as 0 or NaN",
        ),
        ("cloud probability 0-1", "cloud probability is a 0-1 fraction"),
        ("cloud probability 0-1, 100 outside", "cloud probability is a 0-1 fraction (max 0.35)"),
        ("cloud mask 0/1", "cloud_probability holds only 0 and 1 (1 at 138 of the 2070 observed"),
        (  # found in a walk: the range alone was said
            "cloud probability filled with 255",
            "cloud probability spans 0 to 255, not 0-100 % (255 a fill where no probability was "
            "computed? Write NaN there, in a float array: a pixel without a probability is "
            "taken as cloud)",
        ),
        ("cloud mask as booleans", "observed pixels, 6.1%): a 0/1 cloud mask?"),
        ("index out of range", "index 5, outside 0-1 (the writer was made with n_s2=2)"),
        ("index written twice", "S2 index 0 was written already (for 2024-07-05)"),
        ("date as a word", "date 'July 5th' is not a date"),
        ("date missing (NaT)", "S2 scene 0: date NaT is missing (NaT)"),
        ("datetime64 missing (NaT)", "S1 scene 0: date np.datetime64('NaT','generic') is missing"),
        ("angle in radians", "outside 10-65 degrees"),
        ("DEM voids", "elevation has no-data"),
        ("DEM in feet", "elevation reaches 9842.4, above any summit (8849 m): is the DEM in feet?"),
        ("sun angles in radians", "sun zenith 0.523599 and azimuth 2.61799 look like radians"),
        ("sun below the horizon", "sun zenith 95 is not 0-90 degrees"),
        ("NaN climate", "kg_climate must be class codes 0-255 without NaN"),
        ("land cover of another scheme", "landcover holds codes [1, 2], not ESA WorldCover"),
        ("climate as land cover", "kg_climate holds codes [40], not Köppen-Geiger classes of"),
        ("canopy no-data -9999", "canopy height spans -9999 to 5 m, outside 0-120 m"),
        ("polygon in metres", "are not lon/lat degrees"),
        ("region name out of the archive", "region name '../export' must start with an ASCII"),
        (
            "grid of one pixel's row",
            "region 'export': its grid is 1 x 3 pixels of 10 m; "
            "slopes need at least 2 along each side (enlarge the polygon)",
        ),
    ],
)
def test_the_writer_refuses_values_it_would_store_as_something_else(
    tmp_path: Path, mistake: str, message: str
) -> None:
    """What a user's export gets wrong is named before anything is stored (the audit of a
    user's own region: linear radar and 0-1 reflectance were stored and the slide missed)."""
    shape, track, sun = _writer_inputs()
    dn = _s2(3000, 750, shape)
    clear = np.zeros(shape, np.uint8)
    db = np.full((2, *shape), -12.0, np.float32)
    area, tracks = AREA, [track]
    if mistake == "angle in radians":
        tracks = [TrackInfo(88, "descending", 280.0, np.full(shape, 0.6, np.float32))]
    wrong_tracks = {"orbit pass abbreviated": ("DESC", 280.0),
                    "heading as look azimuth": ("descending", 192.0)}  # fmt: skip
    if mistake in wrong_tracks:  # refused as the track is described, before any writer
        with pytest.raises(ValueError, match=re.escape(message)):
            TrackInfo(88, *wrong_tracks[mistake], np.full(shape, 35.0, np.float32))
        return
    if mistake == "polygon in metres":
        area = AreaOfInterest("export", box(600_000, 5_000_000, 600_400, 5_000_300), "descending")
    if mistake == "region name out of the archive":  # it wrote <archive>/export, not a region
        area = AreaOfInterest("../export", AREA.geometry, "descending")
    if mistake == "grid of one pixel's row":  # found walking the docs: written and committed,
        x0, y0 = AREA.geometry.bounds[:2]  # then reading its features failed in np.gradient
        area = AreaOfInterest("export", box(x0, y0, x0 + 0.0002, y0 + 0.00001), "descending")
    with (
        pytest.raises(ValueError, match=re.escape(message)),
        RegionWriter(tmp_path, area, n_s2=2, n_s1=1, tracks=tracks) as w,
    ):
        static = [
            np.full(shape, 500.0),
            np.full(shape, 10),
            np.full(shape, 5.0),
            np.full(shape, 15),
        ]
        if mistake == "DEM voids":
            static[0][0, 0] = -32768
        if mistake == "DEM in feet":  # an Alpine region of 3 000 m in feet
            static[0][0, 0] = 3000 * 3.2808
        if mistake == "NaN climate":
            static[3] = np.full(shape, np.nan)
        if mistake == "canopy no-data -9999":
            static[2][0, :4] = -9999.0
        if mistake == "climate as land cover":  # the two class bands given in each other's place
            static[3] = np.full(shape, 40)
        if mistake == "land cover of another scheme":
            static[1] = np.where(np.arange(shape[1]) < 5, 1, 2)[None, :].repeat(shape[0], 0)
        w.write_static(*static)
        when = date(2024, 7, 5)
        if mistake == "s1 linear power":
            w.write_s1(0, when, 0, 10 ** (db / 10))
        if mistake == "s1 whole dB as int16":
            w.write_s1(0, when, 0, db.astype(np.int16))
        if mistake == "s1 hundredths as int32":
            w.write_s1(0, when, 0, (db * 100).astype(np.int32))
        if mistake == "s2 reflectance 0-1":
            w.write_s2(0, when, dn / 10000.0, clear, **sun)
        if mistake == "s2 reflectance 0-1, one pixel saturated":
            fractions = dn / 10000.0
            fractions[:, 0, 0] = 2.0  # a specular or saturated pixel above 1.5
            w.write_s2(0, when, fractions, clear, **sun)
        if mistake == "s1 no-data -9999":
            w.write_s1(0, when, 0, np.where(np.arange(shape[1]) < 3, -9999.0, db))
        if mistake == "s1 int16 no-data -9999 dB":  # -9999 dB scaled to hundredths, clipped
            w.write_s1(0, when, 0, np.where(np.arange(shape[1]) < 3, -32767, db * 100).astype(
                np.int16))  # fmt: skip
        if mistake == "s1 no-data -9999 in one pixel":  # found walking the docs: too few for
            corner = db.copy()  # a fill, it was stored as -327.67 dB, int16 hundredths' floor
            corner[:, 0, 1] = -9999.0  # (a pixel the fill check's samples leave out)
            w.write_s1(0, when, 0, corner)
        if mistake == "s1 no-data 0":
            w.write_s1(0, when, 0, np.where(np.arange(shape[1]) < 3, 0.0, db))
        if mistake == "s1 VV and VH swapped":
            w.write_s1(0, when, 0, np.stack([db[0] - 7.0, db[1]]))  # VH -19 given first
        if mistake == "s2 no-data -9999":
            w.write_s2(
                0, when, np.where(np.arange(shape[1]) < 3, -9999, dn.astype(np.int32)), clear, **sun
            )
        if mistake == "s2 with BOA_ADD_OFFSET":  # an L2A product of baseline 04.00 from ESA
            w.write_s2(0, when, dn + 1000, clear, **sun)
        if mistake == "s2 offset subtracted in uint16":  # found walking the docs: no data (0)
            offset = dn + 1000  # east of the footprint wrapped round to 64536 in every band, and
            offset[:, :, 45:] = 0  # was stored as a clear white observation
            w.write_s2(0, when, offset - 1000, clear, **sun)
        if mistake == "s2 no-data -9999 cast to uint16":  # found walking the docs: stored as
            fill = np.where(np.arange(shape[1]) < 3, -9999, dn.astype(np.int32))  # clear, white
            w.write_s2(0, when, fill.astype(np.uint16), clear, **sun)  # ground (55537)
        if mistake == "cloud probability 0-1":
            w.write_s2(0, when, dn, np.full(shape, 0.35), **sun)
        if mistake == "cloud probability 0-1, 100 outside":  # the footprint's west of column 45
            dn[:, :, 45:] = 0
            w.write_s2(0, when, dn, np.where(np.arange(shape[1]) < 45, clear + 0.35, 100.0), **sun)
        mask = np.zeros(shape, bool)
        mask[:, :3] = True  # a cloud over 3 of 49 columns
        if mistake == "cloud mask 0/1":  # outside the footprint (east) the export holds 100
            dn[:, :, 45:] = 0
            w.write_s2(0, when, dn, np.where(np.arange(shape[1]) < 45, mask, 100), **sun)
        if mistake == "cloud mask as booleans":
            w.write_s2(0, when, dn, mask, **sun)
        if mistake == "cloud probability filled with 255":
            w.write_s2(0, when, dn, np.where(mask, 255, clear).astype(np.uint8), **sun)
        if mistake == "index out of range":
            w.write_s2(5, when, dn, clear, **sun)
        if mistake == "index written twice":
            w.write_s2(0, when, dn, clear, **sun)
            w.write_s2(0, date(2024, 7, 10), dn, clear, **sun)
        if mistake == "sun angles in radians":
            w.write_s2(0, when, dn, clear, sun_zenith=np.radians(30), sun_azimuth=np.radians(150))
        if mistake == "sun below the horizon":
            w.write_s2(0, when, dn, clear, sun_zenith=95.0, sun_azimuth=150.0)
        if mistake == "date as a word":
            w.write_s2(0, "July 5th", dn, clear, **sun)  # type: ignore[arg-type]
        if mistake == "date missing (NaT)":  # a scene without a date was stored, then never read
            w.write_s2(0, pd.NaT, dn, clear, **sun)
        if mistake == "datetime64 missing (NaT)":
            w.write_s1(0, np.datetime64("NaT"), 0, db)  # type: ignore[arg-type]
        w.commit()
    assert not (tmp_path / "regions" / "export").exists() and not (tmp_path / "export").exists()


def test_unknown_cloud_is_cloud_dates_as_text_and_an_uncommitted_writer_says_so(
    tmp_path: Path,
) -> None:
    shape, track, sun = _writer_inputs()
    with RegionWriter(tmp_path, AREA, n_s2=1, n_s1=1, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        w.write_s2(0, "2024-07-05", _s2(3000, 750, shape), np.full(shape, np.nan), **sun)  # type: ignore[arg-type]
        w.write_s1(0, np.datetime64("2024-07-03"), 0, np.full((2, *shape), -12.0))  # type: ignore[arg-type]
        w.commit()
    # a refused scene does not use up its index; NaN edges with a clear, whole-percent scene and
    # a bright (urban, foreslope) dB scene whose median is above 0 dB are what they are
    edges = np.zeros(shape)
    edges[0] = np.nan
    edges[1, 1] = 1.0  # whole percents of 0 and 1: clear, warned of as a possible mask
    bright = np.full((2, *shape), 2.0)
    bright[:, 0] = -14.0
    with RegionWriter(tmp_path / "retry", AREA, n_s2=1, n_s1=1, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        with pytest.raises(ValueError, match="look like linear power"):
            w.write_s1(0, date(2024, 7, 3), 0, 10 ** (bright / 10))
        with pytest.warns(UserWarning, match=r"sigma0 medians of 2 dB \(VV\) and 2 dB \(VH\)"):
            w.write_s1(0, date(2024, 7, 3), 0, bright)  # stored: layover can be this bright
        # found in review: refused as a 0/1 cloud mask, a clear scene's whole percents of 0 and
        # 1 are stored, with a warning; booleans are refused (the mistakes above)
        with pytest.warns(
            UserWarning, match=r"holds only 0 and 1 \(1 at 1 of the \d+ observed pixels, 0\.0%\)"
        ):
            w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), edges, **sun)
        w.commit()
    stored_prob = np.asarray(
        _array(ArchiveSource(tmp_path / "retry")._region("export").root, "s2/cloud_probability")[0]
    )
    assert sorted(np.unique(stored_prob[1:]).tolist()) == [0, 1]
    source = ArchiveSource(tmp_path)
    catalog = source._region("export").catalog
    assert sorted(catalog["date"].astype(str)) == ["2024-07-03", "2024-07-05"]
    stored = np.asarray(_array(source._region("export").root, "s2/cloud_probability")[0])
    assert stored.min() == 100  # NaN (unknown) is cloud, never clear

    # a writer killed mid-way (its process gone) left its folder: the next writer removes it
    orphan = tmp_path / "regions" / ".export.tmp-999999999"
    orphan.mkdir()
    with (
        pytest.warns(UserWarning, match="left without commit"),
        RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[]) as w,
    ):
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
    assert not orphan.exists()
    assert not list((tmp_path / "regions").glob(".export.tmp-*"))
    assert len(ArchiveSource(tmp_path)._region("export").catalog) == 2  # the committed one


def _radar_region(
    path: Path, post_writes: list[tuple[np.ndarray, float]], when: Sequence[date] | None = None
) -> None:
    """One track, two pre scenes at -10 dB VV, and the post acquisition of 2024-08-08 written
    as ``post_writes`` (mask of its pixels, VV) rows of the same date and track (or of the
    times ``when``, one per row)."""
    shape, track, sun = _writer_inputs()
    n_s1 = 2 + len(post_writes)
    with RegionWriter(path, AREA, n_s2=1, n_s1=n_s1, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), np.zeros(shape, np.uint8), **sun)
        scene = np.full((2, *shape), -15.0, np.float32)
        scene[0] = -10.0
        w.write_s1(0, date(2024, 7, 3), 0, scene)
        w.write_s1(1, date(2024, 7, 15), 0, scene)
        for i, (mask, vv) in enumerate(post_writes):
            post = np.where(mask, scene, np.nan).astype(np.float32)
            post[0][mask] = vv
            w.write_s1(2 + i, when[i] if when else date(2024, 8, 8), 0, post)
        w.commit()


def test_an_acquisition_in_two_slices_is_one_scene_mosaicked(tmp_path: Path) -> None:
    """A region on a GRD slice boundary: one pass written as two catalog rows of the same date
    and track, each covering half. Monitoring's last scene of the track is the whole pass (it
    was the last row, half the region without post-event radar), counted once."""
    from models.change_statistics import Compositing

    shape = region_grid(AREA.geometry).shape
    west = np.zeros(shape, bool)
    west[:, : shape[1] // 2] = True
    _radar_region(tmp_path, [(west, -6.0), (~west, -7.0)])
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST, Compositing(mode="monitoring"))
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))
    np.testing.assert_allclose(stack.postVV.values[west], -6.0 + flat, atol=1e-4)
    np.testing.assert_allclose(stack.postVV.values[~west], -7.0 + flat, atol=1e-4)
    assert (stack.s1_count_post.values == 1).all()
    assert stack.attrs["s1_dates_post"] == "2024-08-08"


def test_a_pass_across_midnight_utc_is_one_scene_dated_by_its_first_day(tmp_path: Path) -> None:
    """Found walking through dates: a pass whose slices straddle 00:00 UTC (Sentinel-1's
    morning pass near 90 degrees E, its evening pass near 90 degrees W) is dated by two UTC
    days. It was two acquisitions of its track: monitoring's last scene was the later slice
    alone (half the region without post-event radar), and the pass could confirm itself as
    a radar repeat. A track repeats after 6 days at the least, so its scenes a day apart are
    one pass."""
    from models.change_statistics import Compositing

    shape = region_grid(AREA.geometry).shape
    west = np.zeros(shape, bool)
    west[:, : shape[1] // 2] = True
    when = [
        datetime(2024, 8, 8, 23, 59, 51, tzinfo=UTC),
        datetime(2024, 8, 9, 0, 0, 16, tzinfo=UTC),
    ]
    _radar_region(tmp_path, [(west, -6.0), (~west, -6.0)], when)
    source = ArchiveSource(tmp_path)
    stack = source.features(AREA, PRE, POST, Compositing(mode="monitoring"))
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))
    np.testing.assert_allclose(stack.postVV.values, -6.0 + flat, atol=1e-4)
    assert (stack.s1_count_post.values == 1).all()
    assert (stack.s1_changed_scenes.values <= 1).all()
    assert stack.attrs["s1_dates_post"] == "2024-08-08"
    assert (
        stack.s1_first_changed.values[np.isfinite(stack.s1_first_changed.values)]
        == (date(2024, 8, 8) - date(1970, 1, 1)).days
    ).all()
    # the pass is one look for the season's first looks too: no second scene after it
    events = gpd.GeoDataFrame(
        {"event_date": [date(2024, 8, 5)]}, geometry=[AREA.geometry.centroid], crs="EPSG:4326"
    )
    assert source.first_looks("export", events)["second_s1"].tolist() == [None]
    # a window that ends between the slices holds the first alone, dated as it was
    early = source.features(
        AREA, PRE, Window(date(2024, 8, 1), date(2024, 8, 9)), Compositing(mode="monitoring")
    )
    assert early.attrs["s1_dates_post"] == "2024-08-08"
    assert np.isnan(early.postVV.values[~west]).all()


def test_a_scene_written_twice_is_no_second_look(tmp_path: Path) -> None:
    """The same post-event scene in two catalog rows (a retried export): one acquisition, so
    its change is seen by one scene, never confirmed as a radar repeat."""
    from models.change_statistics import Compositing

    shape = region_grid(AREA.geometry).shape
    everywhere = np.ones(shape, bool)
    _radar_region(tmp_path, [(everywhere, -4.0), (everywhere, -4.0)])
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST, Compositing(mode="monitoring"))
    assert (stack.s1_changed_scenes.values <= 1).all()
    assert (stack.s1_count_post.values == 1).all()


def test_a_scene_without_a_vv_value_is_left_out_and_blanks_no_radar(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: a Sentinel-1 scene with no value over the region (a swath edge's
    border noise) became its track's last scene in monitoring and blanked the post radar image
    where the scene before it, 12 days earlier, saw the ground. It is left out of the catalog,
    with a warning naming it."""
    from models.change_statistics import Compositing

    shape = region_grid(AREA.geometry).shape
    everywhere = np.ones(shape, bool)
    with caplog.at_level(logging.WARNING, logger="monitor.sources.archive_writer"):
        _radar_region(
            tmp_path,
            [(everywhere, -4.0), (~everywhere, -4.0)],
            [date(2024, 8, 8), date(2024, 8, 20)],
        )
    assert "S1 2024-08-20 (index 3): no VV value over the region" in caplog.text
    assert "made room for" not in caplog.text  # every scene was given (found in review)
    source = ArchiveSource(tmp_path)
    catalog = source._region("export").catalog
    assert catalog.loc[catalog["sensor"] == "S1", "date"].astype(str).tolist()[-1] == "2024-08-08"
    stack = source.features(AREA, PRE, POST, Compositing(mode="monitoring"))
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))
    np.testing.assert_allclose(stack.postVV.values, -4.0 + flat, atol=1e-4)
    assert stack.attrs["s1_dates_post"] == "2024-08-08"


@pytest.mark.parametrize("k", [1, 2])
def test_a_last_scene_that_saw_part_of_the_region_blanks_no_radar_elsewhere(
    tmp_path: Path, k: int
) -> None:
    """Found in review: a last scene with VV over part of the region (one pixel, a swath
    edge's border noise elsewhere) blanked monitoring's post radar image wherever it saw
    nothing, though the scene 12 days before saw the ground there. Per pixel, the post image
    is the last ``k`` scenes of the track that saw it."""
    from models.change_statistics import Compositing

    shape = region_grid(AREA.geometry).shape
    west = np.zeros(shape, bool)
    west[:, : shape[1] // 2] = True
    _radar_region(
        tmp_path,
        [(np.ones(shape, bool), -4.0), (west, -6.0)],
        [date(2024, 8, 8), date(2024, 8, 20)],
    )
    compositing = Compositing(mode="monitoring", radar_scenes=k)
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST, compositing)
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))
    post, count = stack.postVV.values, stack.s1_count_post.values
    np.testing.assert_allclose(post[~west], -4.0 + flat, atol=1e-4)  # the scene before
    assert (count[~west] == 1).all()
    # the west: the last scene alone (k = 1), or the mean in dB of both (k = 2)
    np.testing.assert_allclose(post[west], (-6.0 if k == 1 else -5.0) + flat, atol=1e-4)
    assert (count[west] == k).all()
    np.testing.assert_allclose(stack.s1_newest_VV.values[~west], -4.0 + flat, atol=1e-4)


def _two_track_region(path: Path, scenes: list[tuple[date, int]]) -> None:
    """Two tracks of one pass, the second 3 dB above the first (as their look directions give
    on a slope), VV -10 dB on the first: ``scenes`` as (day, track index); no change."""
    shape, track, sun = _writer_inputs()
    other = TrackInfo(15, "descending", 280.0, np.full(shape, 35.0, np.float32))
    with RegionWriter(path, AREA, n_s2=1, n_s1=len(scenes), tracks=[track, other]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), np.zeros(shape, np.uint8), **sun)
        scene = np.full((2, *shape), -15.0, np.float32)
        scene[0] = -10.0
        for index, (day, which) in enumerate(scenes):
            w.write_s1(index, day, which, scene + 3.0 * which)
        w.commit()


@pytest.mark.parametrize(
    "scenes",
    [
        # the second track in the post window only (found on a walk)
        [
            (date(2024, 7, 3), 0),
            (date(2024, 7, 15), 0),
            (date(2024, 8, 8), 0),
            (date(2024, 8, 11), 1),
        ],
        # the second track in the baseline only (found in review)
        [
            (date(2024, 7, 3), 0),
            (date(2024, 7, 6), 1),
            (date(2024, 7, 15), 0),
            (date(2024, 8, 8), 0),
        ],
    ],
    ids=["post-only", "baseline-only"],
)
def test_both_windows_are_compared_over_the_tracks_both_saw(
    tmp_path: Path, scenes: list[tuple[date, int]]
) -> None:
    """Found on a walk: a second track with no scene in the baseline window had its post scene
    compared with the first track's baseline, and the tracks' difference (3 dB here) was a
    change over the whole region; and in review the reverse, a baseline of both tracks against
    a post window of one. Monitoring compares a pixel's windows over the tracks both saw; event
    mode keeps the paper's medians over every scene of the windows."""
    from models.change_statistics import Compositing

    _two_track_region(tmp_path, scenes)
    source = ArchiveSource(tmp_path)
    stack = source.features(AREA, PRE, POST, Compositing(mode="monitoring"))
    np.testing.assert_allclose(stack.dVV.values, 0.0, atol=1e-4)
    np.testing.assert_allclose(stack.dVH.values, 0.0, atol=1e-4)
    assert (stack.s1_count_post.values == 1).all()
    assert (stack.s1_changed_scenes.values == 0).all()  # no change to date either
    flat = -10.0 * np.log10(np.cos(np.radians(35.0)))
    np.testing.assert_allclose(stack.s1_newest_VV.values, -10.0 + flat, atol=1e-4)
    np.testing.assert_allclose(stack.preVV.values, -10.0 + flat, atol=1e-4)
    # event mode: the median of every scene of each window (in the post window's two, the
    # tracks' difference halved)
    if scenes[-1][1] == 1:
        event = source.features(AREA, PRE, POST, Compositing(mode="event"))
        np.testing.assert_allclose(event.dVV.values, 1.5, atol=1e-4)


def test_real_values_near_the_checks_limits_are_accepted(tmp_path: Path) -> None:
    """What real exports hold and the checks must let through: a tail of noise-removed pixels
    below -60 dB (calm water, radar shadow), water where VH lies just below VV, Earth Engine's
    upper-case orbit pass, a high-latitude look azimuth, bright 0-1 values in DN data, snow,
    bright soil and clouds, none of them reflectance with an offset."""
    shape, _, sun = _writer_inputs()
    rng = np.random.default_rng(0)
    vv = rng.normal(-12.0, 3.0, shape)
    vv.flat[::100] = rng.uniform(-95.0, -61.0, vv.flat[::100].size)  # a dark tail, 1 %
    # noise removal leaves some pixels with no power at all: 10 * log10(0) = -inf, no data
    vv.flat[7] = -np.inf
    db = np.stack([vv, vv - 1.0])  # water-like: VH only just below VV
    track = TrackInfo(88, "ASCENDING", 80.0 - 58.0, np.full(shape, 35.0, np.float32))
    assert track.orbit_pass == "ascending"
    dn = _s2(3000, 750, shape)
    # snow: bright but for SWIR; bare soil with a few percent of vegetation; a bright cloud
    # flagged as such over most of a scene (the offset check looks at its clear pixels)
    snow = np.array([9000, 9200, 9100, 8800, 300, 250])[:, None, None] * np.ones((1, *shape))
    soil = np.array([1400, 1900, 2400, 3000, 4200, 3600])[:, None, None] * np.ones((1, *shape))
    soil[:, :, :2] = _s2(3000, 750, (shape[0], 2))  # 2 of 49 columns green
    cloud = np.full((6, *shape), 6000.0)
    cloud[:, :, :5] = _s2(3000, 750, (shape[0], 5))
    cloudy = np.where(np.arange(shape[1]) < 5, 0, 95)[None, :].repeat(shape[0], 0)
    with RegionWriter(tmp_path, AREA, n_s2=4, n_s1=1, tracks=[track]) as w:
        w.write_static(np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0),
                       np.full(shape, 15))  # fmt: skip
        w.write_s1(0, date(2024, 7, 5), 0, db)
        w.write_s2(0, date(2024, 7, 5), dn, np.zeros(shape, np.uint8), **sun)
        w.write_s2(1, date(2024, 7, 10), snow, np.zeros(shape, np.uint8), **sun)
        w.write_s2(2, date(2024, 7, 15), soil, np.zeros(shape, np.uint8), **sun)
        w.write_s2(3, date(2024, 7, 20), cloud, cloudy, **sun)
        w.commit()
    assert (tmp_path / "regions" / "export" / "region.json").exists()
    stored = zarr.open_group(tmp_path / "regions" / "export" / "data.zarr", mode="r")
    vv_stored = np.asarray(_array(stored, "s1/sigma0")[0, 0])
    assert vv_stored.flat[7] == S1_NODATA and (vv_stored == S1_NODATA).sum() == 1


def test_reflectance_below_zero_once_the_offset_is_subtracted_is_stored_as_zero(
    tmp_path: Path,
) -> None:
    """Found walking docs/archive.md with L2A products from ESA: subtracting the BOA_ADD_OFFSET,
    as the offset check asks, leaves dark pixels (water in the SWIR, whose DN lie just below
    1000) and the no data outside a tile's footprint (0) below 0, and the scene was refused as
    holding a no-data value such as -9999. S2_SR_HARMONIZED's unsigned DN hold 0 there: so does
    the archive, and a pixel below 0 in every band is not observed; -9999 is still refused."""
    shape, track, sun = _writer_inputs()
    dn = _s2(3000, 750, shape).astype(np.int32) + 1000  # an L2A product of baseline 04.00
    dn[4:, :10, :10] = 985  # dark water: SWIR reflectance of -0.0015
    dn[:, :, 45:] = 0  # outside the tile's footprint
    with RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[track]) as w:
        w.write_static(np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0),
                       np.full(shape, 15))  # fmt: skip
        w.write_s2(0, date(2024, 7, 5), dn - 1000, np.zeros(shape), **sun)
        w.commit()
    region = ArchiveSource(tmp_path)._region("export")
    stored = np.asarray(_array(region.root, "s2/reflectance")[0])
    assert (stored[4:, :10, :10] == 0).all() and (stored[:2, :10, :10] == 800).all()
    assert (stored[:, :, 45:] == 0).all() and (stored[3, :, :45] == 3000).all()
    assert (np.asarray(_array(region.root, "s2/cloud_probability")[0])[:, 45:] == 100).all()
    assert region.catalog["cloud_cover"].tolist() == [0.0]


def test_a_region_larger_than_the_default_maximum_is_written_at_its_own(tmp_path: Path) -> None:
    """Found by a new user: a region of 3 100 km² with `max_area_km2: 5000` in its
    configuration could not be written, the writer having the default 2 500 km² built in."""
    from monitor.sources.base import InvalidArea

    big = AreaOfInterest("big", box(10.0, 45.0, 10.6, 45.6), "descending")  # about 3 150 km²
    with pytest.raises(InvalidArea, match="more than the maximum 2500 km²"):
        RegionWriter(tmp_path, big, n_s2=0, n_s1=0, tracks=[])
    with (
        pytest.warns(UserWarning),
        RegionWriter(tmp_path, big, n_s2=0, n_s1=0, tracks=[], max_area_km2=5000) as writer,
    ):
        assert writer.grid.shape[0] > 6_000  # 66 km of 10 m rows


def test_ground_truth_without_a_crs_and_unwritten_slots_are_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: CRS-less ground truth failed inside geopandas ("naive geometries")
    though the docstring says any CRS, and a writer made for five scenes of each sensor
    committed one of each without a word."""
    shape, track, sun = _writer_inputs()
    with RegionWriter(tmp_path, AREA, n_s2=5, n_s1=5, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), np.zeros(shape), **sun)
        w.write_s1(0, date(2024, 7, 3), 0, np.full((2, *shape), -12.0))
        naive = gpd.GeoDataFrame(
            {"kind": ["landslide"], "event_date": ["2024-07-04"], "area_m2": [100.0]},
            geometry=[AREA.geometry.centroid.buffer(0.0005)],
        )
        with pytest.raises(ValueError, match="the ground truth has no CRS; set the one"):
            w.write_ground_truth(naive)
        w.commit()
    assert "1 of the 5 S2 scenes made room for were written" in caplog.text
    assert "1 of the 5 S1 scenes made room for were written" in caplog.text


def test_pixels_outside_a_scene_footprint_are_not_observed(tmp_path: Path) -> None:
    """Found by a new user: a Sentinel-2 tile covering the west of the region (no data in every
    band east of it) stored cloud probability 0 there, 'clear', or, given as NaN, 100 that cast
    clouds buffered over the observed pixels along the edge; the scene's cloud cover counted
    the pixels it never saw. Outside the footprint is stored unobserved (reflectance 0, cloud
    probability 100), is no cloud, and the cloud cover is that of the observed pixels."""
    shape, track, sun = _writer_inputs()  # 46 x 49 px
    west = np.zeros(shape, bool)
    west[:, :20] = True  # the footprint: 46 x 20 = 920 px
    partial = np.where(west, _s2(3400, 600, shape), np.nan)  # NDVI 0.7 inside
    cloudy = np.zeros(shape)
    cloudy[:23, :20] = 90.0  # the north half of the footprint: 460 px, 50 % of it
    outside = {"NaN": np.nan, "0": 0.0}
    for label, fill in outside.items():
        with RegionWriter(tmp_path / label, AREA, n_s2=2, n_s1=0, tracks=[track]) as w:
            w.write_static(
                np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
            )
            w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), np.zeros(shape), **sun)
            w.write_s2(1, date(2024, 7, 15), partial, np.where(west, cloudy, fill), **sun)
            w.commit()
        source = ArchiveSource(tmp_path / label)
        region = source._region("export")
        assert region.catalog["cloud_cover"].tolist() == [0.0, 50.0]
        stored = np.asarray(_array(region.root, "s2/cloud_probability")[1])
        assert (stored[~west] == 100).all() and (stored[23:, :20] == 0).all()
        assert (np.asarray(_array(region.root, "s2/reflectance")[1])[:, ~west] == 0).all()
        clear = ArchiveSource(tmp_path / label).features(AREA, PRE, POST).s2_clear_pre.values
        # east: the full scene alone; the south of the footprint, its edge too: both scenes
        assert (clear[:, 20:] == 1).all() and (clear[29:, :20] == 2).all(), label


def test_two_tiles_of_one_datatake_are_one_clear_look_where_they_overlap(tmp_path: Path) -> None:
    """Two Sentinel-2 rows of one date (the MGRS tiles of a datatake overlap by some 10 km) are
    one look at the ground: where both are clear the stack's clear count is 1, as Earth Engine's
    distinct clear days give it (found in a review: both counted 2 there, the overlap's images)."""
    shape, track, sun = _writer_inputs()  # 46 x 49 px
    west, east = np.zeros(shape, bool), np.zeros(shape, bool)
    west[:, :30], east[:, 20:] = True, True  # the tiles overlap over columns 20-29
    with RegionWriter(tmp_path, AREA, n_s2=3, n_s1=0, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        for i, tile in enumerate((west, east)):
            image = np.where(tile, _s2(3000 + 100 * i, 600, shape), np.nan)
            w.write_s2(i, date(2024, 7, 5), image, np.zeros(shape), **sun)
        w.write_s2(2, date(2024, 7, 15), _s2(3400, 600, shape), np.zeros(shape), **sun)
        w.commit()
    clear = ArchiveSource(tmp_path).features(AREA, PRE, POST).s2_clear_pre.values
    assert (clear == 2).all(), np.unique(clear, return_counts=True)


def test_a_slope_in_self_shadow_is_no_clear_look(tmp_path: Path) -> None:
    """A north-facing slope under the low winter sun gets no direct light: its view there is no
    clear look (the counts, the composite), where the flat ground beside it is one (found in a
    storm-free winter, bench/bench_snow_season.py: most alpine false alerts of November lay
    in self-shadow)."""
    shape, track, _ = _writer_inputs()  # 46 x 49 px
    rows = np.arange(shape[0], dtype=float)[:, None] * np.ones(shape)
    elevation = 500.0 + 12.0 * rows  # 50° facing north (rows run south) ...
    elevation[:, 30:] = 500.0  # ... and flat ground in the east
    with RegionWriter(tmp_path, AREA, n_s2=2, n_s1=0, tracks=[track]) as w:
        w.write_static(elevation, np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15))
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 600, shape), np.zeros(shape),
                   sun_zenith=30.0, sun_azimuth=150.0)  # fmt: skip
        w.write_s2(1, date(2024, 7, 15), _s2(3400, 600, shape), np.zeros(shape),
                   sun_zenith=68.0, sun_azimuth=160.0)  # fmt: skip
        w.commit()
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST)
    clear = stack.s2_clear_pre.values
    slope, flat = (slice(2, -2), slice(2, 27)), (slice(None), slice(32, None))
    assert (clear[slope] == 1).all() and (clear[flat] == 2).all()
    # the greenest pixel of the window: the lit scene's on the slope, the greener one on the flat
    ndvi = stack.preNDVI.values
    np.testing.assert_allclose(ndvi[slope], (3000 - 600) / 3600, rtol=1e-6)
    np.testing.assert_allclose(ndvi[flat], (3400 - 600) / 4000, rtol=1e-6)


def test_a_writer_killed_inside_its_commit_leaves_the_region_readable(tmp_path: Path) -> None:
    """Found by a new user: a writer killed between moving the committed region aside
    (``.export.old-<pid>``) and renaming the new one into place left the archive without the
    region, and listed the folder moved aside as a region of its own. The next open or write
    puts the committed version back, or removes it where the new one is in place."""
    _write(tmp_path)
    regions = tmp_path / "regions"
    gone, live = 999999999, os.getppid()  # no such process; the test runner's parent
    # killed after the first rename: the new version (complete) waits in its temporary folder
    (regions / "export").rename(regions / f".export.old-{gone}")
    shutil.copytree(regions / f".export.old-{gone}", regions / f".export.tmp-{gone}")
    assert ArchiveSource(tmp_path).regions() == ["export"]
    assert not (regions / f".export.old-{gone}").exists()
    stack = ArchiveSource(tmp_path).features(AREA, PRE, POST)
    np.testing.assert_allclose(stack.preNDVI.values, 0.7, atol=1e-6)
    # killed after the second rename: the version moved aside is removed on the next open
    shutil.copytree(regions / "export", regions / f".export.old-{gone}")
    assert len(ArchiveSource(tmp_path)._region("export").catalog) == 7
    assert not (regions / f".export.old-{gone}").exists()
    # a live writer inside its commit is left alone, and its folders are no region
    (regions / "export").rename(regions / f".export.old-{live}")
    assert ArchiveSource(tmp_path).regions() == []
    with pytest.raises(ArchiveError, match="region 'export' is not in the archive"):
        ArchiveSource(tmp_path)._region("export")
    assert (regions / f".export.old-{live}" / "region.json").is_file()
    # the next writer of the region restores it before anything else
    (regions / f".export.old-{live}").rename(regions / f".export.old-{gone}")
    _, track, _ = _writer_inputs()
    with pytest.warns(UserWarning), RegionWriter(tmp_path, AREA, n_s2=0, n_s1=0, tracks=[track]):
        pass
    assert sorted(p.name for p in regions.iterdir()) == ["export"]  # the orphan removed too
    assert len(ArchiveSource(tmp_path)._region("export").catalog) == 7


def test_a_commit_that_fails_renaming_the_new_version_puts_the_old_one_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: when renaming the new version into place failed in a live process
    (an OSError, Ctrl-C), the committed version stayed moved aside, and no recovery touched it
    while that process lived: the region was gone for it."""
    _write(tmp_path)
    regions = tmp_path / "regions"
    before = (regions / "export" / "region.json").read_text()
    real_rename = Path.rename

    def failing(self: Path, target: Path) -> Path:
        if ".export.tmp-" in self.name:
            raise KeyboardInterrupt
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(KeyboardInterrupt):
        _write(tmp_path, canopy_m=5.0)
    monkeypatch.undo()
    assert (regions / "export" / "region.json").read_text() == before
    assert not any(p.name.startswith(".export.old-") for p in regions.iterdir())
    assert len(ArchiveSource(tmp_path)._region("export").catalog) == 7


def test_a_commit_of_another_host_is_recovered_only_once_it_is_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: a reader on another host (a Dask worker, another container on a shared
    archive) took a live writer's pid for a dead one (pids are per host) and could move its
    committed version back between its two renames. Another host's writer is now taken for
    killed only once its folder is older than any commit takes."""
    import monitor.sources.archive_writer as archive_writer

    _write(tmp_path)
    regions = tmp_path / "regions"
    aside = regions / f".export.old-another-host.example-{os.getpid()}"
    (regions / "export").rename(aside)
    assert ArchiveSource(tmp_path).regions() == []  # fresh: a live commit, left alone
    assert aside.is_dir()
    monkeypatch.setattr(archive_writer, "_FOREIGN_ASIDE_S", -1.0)  # as if 10 minutes old
    assert ArchiveSource(tmp_path).regions() == ["export"]
    assert not aside.exists()
    # this host's own, by its pid: this process lives
    mine = regions / f".export.old-{socket.gethostname()}-{os.getpid()}"
    shutil.copytree(regions / "export", mine)
    ArchiveSource(tmp_path).regions()
    assert mine.is_dir()


def test_acquisition_times_with_a_time_zone_are_dated_in_utc(tmp_path: Path) -> None:
    """Found by a new user: an acquisition time with a time zone (a metadata database's
    timestamptz, an ISO text with its offset) was dated by its local day, so the same scene got
    another date on each machine than the catalogues (UTC) give it."""
    shape, track, sun = _writer_inputs()
    evening = datetime(2024, 7, 4, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC
    with RegionWriter(tmp_path, AREA, n_s2=3, n_s1=2, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        dn, clear = _s2(3000, 750, shape), np.zeros(shape, np.uint8)
        w.write_s2(0, evening, dn, clear, **sun)
        w.write_s2(1, "2024-07-09T23:30:00-05:00", dn, clear, **sun)  # type: ignore[arg-type]
        w.write_s2(2, "2024-07-14T10:30:00Z", dn, clear, **sun)  # type: ignore[arg-type]
        w.write_s1(0, pd.Timestamp("2024-07-03T01:00:00+02:00"), 0, np.full((2, *shape), -12.0))
        w.write_s1(1, datetime(2024, 7, 15, 23, 30), 0, np.full((2, *shape), -12.0))  # naive
        w.commit()
    catalog = ArchiveSource(tmp_path).catalog("export")
    assert catalog[catalog["sensor"] == "S2"]["date"].astype(str).tolist() == [
        "2024-07-05",
        "2024-07-10",
        "2024-07-14",
    ]
    assert catalog[catalog["sensor"] == "S1"]["date"].astype(str).tolist() == [
        "2024-07-02",
        "2024-07-15",
    ]


def test_ground_truth_dates_are_checked_when_written(tmp_path: Path) -> None:
    """Found by a new user: ground truth whose event_date was a word or missing was written,
    and every later run of the region failed reading it ('DateParseError: Unknown datetime
    string format', 'Invalid comparison between dtype=datetime64[s] and date')."""
    shape, track, sun = _writer_inputs()
    slide = AREA.geometry.centroid.buffer(0.0005)

    def truth(*dates: object) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(
            {"kind": ["landslide"] * len(dates), "event_date": list(dates)},
            geometry=[slide] * len(dates),
            crs="EPSG:4326",
        ).assign(area_m2=100.0)

    with RegionWriter(tmp_path, AREA, n_s2=1, n_s1=0, tracks=[track]) as w:
        w.write_static(
            np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0), np.full(shape, 15)
        )
        w.write_s2(0, date(2024, 7, 5), _s2(3000, 750, shape), np.zeros(shape), **sun)
        with pytest.raises(ValueError, match=r"ground truth row 1: date 'unknown' is not a date"):
            w.write_ground_truth(truth("2024-07-04", "unknown"))
        with pytest.raises(ValueError, match=r"ground truth row 0: date NaT is missing"):
            w.write_ground_truth(truth(pd.NaT))
        # found walking the docs: the one refusal of the writer that named no region
        with pytest.raises(ValueError, match=r"region 'export': the ground truth lacks column"):
            w.write_ground_truth(truth("2024-07-04").drop(columns="area_m2"))
        # runs count kind 'landslide' exactly: 'Landslide' scored a season 0 of 0
        capital = truth("2024-07-04").assign(kind="Landslide ")
        with pytest.raises(ValueError, match=r"kind 'Landslide ' is not 'landslide'"):
            w.write_ground_truth(capital)
        w.write_ground_truth(
            truth("2024-07-04", pd.Timestamp("2024-07-06T10:00"), date(2024, 7, 8))
        )
        w.commit()
    read = ArchiveSource(tmp_path).ground_truth("export")
    assert read["event_date"].tolist() == [date(2024, 7, 4), date(2024, 7, 6), date(2024, 7, 8)]


def test_snow_is_no_band_order_doubt_and_red_and_nir_swapped_are(tmp_path: Path) -> None:
    """Found by a new contributor: `make demo`'s first step warned 'bands in another order?'
    of the alpine region's snowy March scenes (snow's NIR lies just below its red). Snow of
    fresh snow's spectrum is stored without a warning, and so are snow in shade (found on a
    simulated alpine scene: Hall's NIR bound counted it as ground) and water; vegetation and
    bare ground (NIR 1.2 times red, found in review: a threshold on the ratio let it through)
    with B4 and B8 swapped are still doubted."""
    shape, track, sun = _writer_inputs()
    snow = np.stack([np.full(shape, v, np.uint16) for v in (8000, 8000, 7800, 7000, 1000, 800)])
    dn = _s2(3000, 750, shape)
    dn[4], dn[5] = 1800, 900
    soil = np.stack([np.full(shape, v, np.uint16) for v in (800, 1100, 1500, 1800, 2600, 2200)])
    clear = np.zeros(shape, np.uint8)
    with RegionWriter(tmp_path, AREA, n_s2=5, n_s1=0, tracks=[track]) as w:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            w.write_s2(0, date(2024, 3, 2), snow, clear, **sun)
            # snow in shade (its NIR under Hall's 0.11, the median pixel of a simulated alpine
            # March scene that was doubted) beside sunlit snow, and water: NIR below red, NDSI
            # of 0.4 or more
            shaded = snow.copy()
            shaded[:, :, : shape[1] * 3 // 4] = np.array([1374, 1233, 1114, 853, 174, 136])[
                :, None, None
            ]
            w.write_s2(1, date(2024, 3, 7), shaded, clear, **sun)
            water = np.stack([np.full(shape, v, np.uint16) for v in (700, 600, 400, 250, 90, 60)])
            w.write_s2(2, date(2024, 3, 12), water, clear, **sun)
        for i, scene in enumerate((dn, soil), 3):
            doubt = r"fourth band lies below the third at 100% of those neither snow nor"
            with pytest.warns(UserWarning, match=doubt):
                w.write_s2(i, date(2024, 7, 10 + i), scene[[0, 1, 3, 2, 4, 5]], clear, **sun)
        w.abort()


def test_real_exports_read_wrong_by_a_factor_or_an_order_are_named(tmp_path: Path) -> None:
    """Found by a user writing their own exports: each of these was stored without a word and
    ran to `status: ok` with wrong features. Sen2Cor's SCL given as the cloud probability (every
    cloud read clear), bands in Earth Engine's text-sorted order (the landslide missed), a
    band missing at a swath edge (NDVI -1, a false drop), an undeclared 65535 fill (a white
    observation), sigma0 as the natural log (a change four times too small) and dB of
    uncalibrated numbers (told to take the log again)."""
    shape, track, sun = _writer_inputs()
    dn = _s2(3000, 750, shape)
    dn[4], dn[5] = 1800, 900  # B11 above B12, as over vegetation
    scl = np.full(shape, 4, np.uint8)
    scl[:, : shape[1] // 3] = 9  # a third high-probability cloud, as SCL classes it
    clear = np.zeros(shape, np.uint8)
    db = np.full((2, *shape), -12.0)
    db[1] = -19.0
    with RegionWriter(tmp_path, AREA, n_s2=4, n_s1=2, tracks=[track]) as w:
        with pytest.warns(UserWarning, match=r"67% of them 4 or 5: Sen2Cor's scene classification"):
            w.write_s2(0, date(2024, 7, 5), dn, scl, **sun)
        with pytest.warns(UserWarning) as told:
            w.write_s2(1, date(2024, 7, 10), dn[[4, 5, 0, 1, 2, 3]], clear, **sun)
        (order,) = [str(m.message) for m in told]
        assert "the fourth band lies below" not in order  # B3 > B2
        assert "the fifth band lies below the sixth at 100% of the clear pixels" in order
        assert "Earth Engine's band names sorted as text give B11, B12, B2" in order
        edge = dn.astype(np.float32)
        edge[3, :, :5] = np.nan  # B8 missing along the western edge, the other bands there
        edge[:, :3, 10:] = 65535  # an undeclared fill in every band
        w.write_s2(2, date(2024, 7, 15), edge, clear, **sun)
        with pytest.warns(UserWarning, match=r"the natural log of power \(np.log\)"):
            w.write_s1(0, date(2024, 7, 3), 0, db / (10 / np.log(10)))
        with pytest.raises(ValueError, match=r"median 21.1.*not sigma0 but uncalibrated digital"):
            w.write_s1(1, date(2024, 7, 15), 0, np.full((2, *shape), 21.1))
        w.write_s1(1, date(2024, 7, 15), 0, db)
        w.write_s2(3, date(2024, 7, 20), dn, clear, **sun)
        w.write_static(np.full(shape, 500.0), np.full(shape, 10), np.full(shape, 5.0),
                       np.full(shape, 15))  # fmt: skip
        w.commit()
    region = ArchiveSource(tmp_path)._region(AREA.name)
    stored = np.asarray(_array(region.root, "s2/reflectance")[2])
    assert (stored[:, :, :5] == 0).all()  # not observed, not a clear view of B8 = 0
    assert (stored[:, :3, 10:] == 0).all()
    assert (stored[:, 3:, 5:] == dn[:, 3:, 5:]).all()
    catalog = (tmp_path / "regions" / AREA.name / "catalog.csv").read_text()
    assert ",88," in catalog and "88.0" not in catalog  # the orbit as the number it is


@pytest.mark.parametrize("orbit", [0, 176, float("nan"), 66.5, "66", True])
def test_a_relative_orbit_sentinel_1_does_not_fly_is_refused(orbit: object) -> None:
    """Found by a user: 0, 999 and NaN were taken, and the catalogue wrote orbits as floats."""
    with pytest.raises(ValueError, match=r"not a Sentinel-1 relative orbit, a whole number 1-175"):
        TrackInfo(orbit, "descending", 280.0, np.full((2, 2), 35.0))  # type: ignore[arg-type]


def test_a_relative_orbit_read_as_a_float_is_its_whole_number() -> None:
    track = TrackInfo(66.0, "descending", 280.0, np.full((2, 2), 35.0))  # type: ignore[arg-type]
    assert track.relative_orbit == 66 and isinstance(track.relative_orbit, int)
