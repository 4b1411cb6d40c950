"""The archive's feature stack: contract, value ranges per band and cover, landslide signal,
empty windows and the catalog."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from rasterio import features

from models.feature_stack import (
    DATING_VARIABLES,
    MODEL_BANDS,
    FeatureStackError,
    StackAttrs,
    validate,
)
from models.stack_assembly import assemble_stack
from monitor.grid import region_grid
from monitor.sources.archive import ArchiveError, ArchiveSource
from monitor.sources.base import DataUnavailable, Window
from tests.archive.archive_fixtures import POST, PRE, REGIONS, small_area


@pytest.fixture(scope="module")
def stacks(archive: ArchiveSource) -> dict:
    return {area.name: archive.features(area, PRE, POST) for area, _ in REGIONS}


def test_stack_satisfies_the_contract_on_the_region_grid(stacks: dict) -> None:
    for (area, _), stack in zip(REGIONS, stacks.values(), strict=True):
        validate(stack)
        grid = region_grid(area.geometry)
        assert stack.sizes["y"] == grid.height and stack.sizes["x"] == grid.width
        assert str(stack.rio.crs) == grid.crs
        assert np.allclose(stack.x.values, grid.x) and np.allclose(stack.y.values, grid.y)
        assert list(stack.data_vars)[: len(MODEL_BANDS)] == list(MODEL_BANDS)
        assert stack.attrs["source"] == "archive" and stack.attrs["region"] == area.name
        assert stack.attrs["pre_window"] == "2024-06-17/2024-08-16"
        dates = stack.attrs["s2_dates_post"].split(",")
        assert all(POST.start <= date.fromisoformat(d) < POST.end for d in dates)
        assert stack.pre_rgb.dims == ("rgb", "y", "x")


def test_attributes_read_back_as_written(stacks: dict) -> None:
    """StackAttrs is the one writer and reader of the attributes: reading an archive stack's
    attributes and writing them again gives them back unchanged."""
    for stack in stacks.values():
        attrs = StackAttrs.of(stack)
        assert attrs.as_attrs() == dict(stack.attrs)
        assert attrs.extra["terrain_model"] == "landcover"
        assert attrs.extra["archive_origin"] == "simulated"
        post = attrs.dates("s1", "post")
        assert post and all(POST.start <= d < POST.end for d in post)
        assert ",".join(d.isoformat() for d in post) == stack.attrs["s1_dates_post"]


def test_the_assembler_validates_what_it_builds(stacks: dict) -> None:
    """A source cannot hand out a stack that breaks the contract: assembling one on a 20 m
    grid, or without a band, fails at the source."""
    area = REGIONS[0][0]
    stack = stacks[area.name]
    layers = {n: stack[n].values for n in (*MODEL_BANDS, "preNDVI", "postNDVI")}
    layers |= {n: stack[n].values for n in DATING_VARIABLES}
    rgb = {w: stack[f"{w}_rgb"].values for w in ("pre", "post")}
    counts = {n: stack[n].values for n in ("s2_clear_pre", "s2_clear_post")}
    counts |= {n: stack[n].values for n in ("s1_count_pre", "s1_count_post")}
    attrs = StackAttrs.of(stack)
    grid = region_grid(area.geometry)
    crs, transform = grid.crs, grid.transform
    again = assemble_stack(layers, rgb, counts, crs=crs, transform=transform, attrs=attrs)
    assert again.identical(stack)
    coarse = transform @ transform.scale(2.0)
    with pytest.raises(FeatureStackError, match="pixel size"):
        assemble_stack(layers, rgb, counts, crs=crs, transform=coarse, attrs=attrs)
    without = {n: v for n, v in layers.items() if n != "dNDVI"}
    with pytest.raises(ValueError, match="dNDVI"):
        assemble_stack(without, rgb, counts, crs=crs, transform=transform, attrs=attrs)


def test_value_ranges_per_band(stacks: dict) -> None:
    for stack in stacks.values():
        # robust ranges: 1st..99th percentiles (flattening near layover/shadow edges is extreme)
        for name, (lo, hi) in {"preVV": (-22.0, 0.0), "preVH": (-30.0, -6.0)}.items():
            p1, p99 = np.nanpercentile(stack[name].values, [1, 99])
            assert lo < p1 and p99 < hi, (name, p1, p99)
        ranges = {
            "preVV": (-60.0, 25.0),
            "preVH": (-65.0, 15.0),
            "liaDeg": (0.0, 180.0),
            "elevation": (0.0, 4000.0),
            "slope": (0.0, 75.0),
            "canopy_height": (0.0, 45.0),
            "preNDVI": (-1.0, 1.0),
        }
        for name, (lo, hi) in ranges.items():
            values = stack[name].values
            finite = values[np.isfinite(values)]
            # monsoon clouds leave optical gaps; radar and terrain are (nearly) complete
            assert finite.size > (0.5 if name == "preNDVI" else 0.9) * values.size, name
            assert lo <= finite.min() and finite.max() <= hi, (name, finite.min(), finite.max())
        assert set(np.unique(stack.landcover.values)) <= {10, 20, 30, 40, 50, 60, 70, 80, 90}
        assert set(np.unique(stack.layover.values)) <= {0.0, 1.0}
        # cross-polarised backscatter is weaker than co-polarised
        assert np.nanmedian(stack.preVH.values) < np.nanmedian(stack.preVV.values) - 4.0
        # S2 reflectance of the quicklook is reflectance, not digital numbers
        assert np.nanmax(stack.pre_rgb.values) <= 1.0
        relief = np.ptp(stack.elevation.values)
        assert 150.0 < relief < 2500.0


def test_value_ranges_per_cover(stacks: dict) -> None:
    stack = stacks["hills"]
    lc = stack.landcover.values
    ndvi = stack.preNDVI.values
    trees = np.nanmedian(ndvi[lc == 10])
    assert 0.6 < trees < 0.95
    assert np.nanmedian(stack.canopy_height.values[lc == 10]) > 8.0
    assert np.nanmax(stack.canopy_height.values[np.isin(lc, (30, 40, 50, 80))]) < 5.0
    assert np.nanmedian(stack.preVV.values[lc == 10]) > np.nanmedian(stack.preVV.values[lc == 30])
    water = lc == 80
    if water.sum() > 20:
        assert np.nanmedian(ndvi[water]) < 0.0
        assert np.nanmedian(stack.preVV.values[water]) < -15.0


def _new_landslides(archive: ArchiveSource, name: str) -> np.ndarray:
    area = next(a for a, _ in REGIONS if a.name == name)
    grid = region_grid(area.geometry)
    truth = archive.ground_truth(name).to_crs(grid.crs)
    new = truth[(truth.event_date >= POST.start) & (truth.event_date < POST.end)]
    assert len(new) >= 3
    return features.rasterize(
        ((g, 1) for g in new.geometry), out_shape=grid.shape, transform=grid.transform
    ).astype(bool)


def test_landslides_lose_vegetation_well_below_stable_forest(
    archive: ArchiveSource, stacks: dict
) -> None:
    for name, stack in stacks.items():
        slid = _new_landslides(archive, name)
        dndvi = stack.dNDVI.values
        forest = (stack.landcover.values == 10) & ~slid
        slide_median = np.nanmedian(dndvi[slid])
        forest_median = np.nanmedian(dndvi[forest])
        assert slide_median < -0.3, name
        assert slide_median < forest_median - 0.25, name
        # radar sees the new scars too: the cross-pol backscatter drops on average
        assert np.nanmedian(stack.dVH.values[slid]) < np.nanmedian(stack.dVH.values[forest]) - 0.5


def test_dndvi_threshold_alone_is_not_a_perfect_detector(
    archive: ArchiveSource, stacks: dict
) -> None:
    stack = stacks["hills"]
    slid = _new_landslides(archive, "hills")
    triggered = stack.dNDVI.values < -0.2
    false_alarms = triggered & ~slid
    assert false_alarms.sum() > 0.5 * (triggered & slid).sum()  # harvests, cuts, clouds


def test_window_without_optical_acquisition_gives_nan_and_zero_counts(
    archive: ArchiveSource,
) -> None:
    area = REGIONS[0][0]
    s2_days = set(archive.catalog(area.name, sensor="S2")["date"])
    day = next(d for d in (date(2024, 8, 16 + k) for k in range(10)) if d not in s2_days)
    post = Window(day, date.fromordinal(day.toordinal() + 1))
    s1_days = set(archive.catalog(area.name, sensor="S1")["date"])
    stack = archive.features(area, PRE, post)
    assert np.isnan(stack.dNDVI.values).all() and np.isnan(stack.postNDVI.values).all()
    assert (stack.s2_clear_post.values == 0).all()
    assert f"S2 post window {post}: no acquisition" in stack.attrs["status"]
    if day not in s1_days:
        assert "S1 post window" in stack.attrs["status"]
        assert np.isnan(stack.postVV.values).all()


def test_window_with_only_clouded_scenes_gives_nan_not_zero(
    archive_path: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "archive"
    shutil.copytree(archive_path, copy)
    source = ArchiveSource(copy)
    area = REGIONS[0][0]
    rows = source.catalog(area.name, window=POST, sensor="S2")
    prob = zarr.open_array(copy / "regions" / area.name / "data.zarr" / "s2" / "cloud_probability")
    for index in rows["index"]:
        prob[int(index)] = 100
    stack = source.features(area, PRE, POST)
    assert np.isnan(stack.postNDVI.values).all() and np.isnan(stack.post_rgb.values).all()
    assert np.isnan(stack.dNDVI.values).all()
    assert (stack.s2_clear_post.values == 0).all()
    assert (
        f"S2 post window {POST}: no clear pixel in {len(rows)} acquisitions"
        in (stack.attrs["status"])
    )
    assert stack.attrs["s2_dates_post"] == ""
    assert np.isfinite(stack.postVV.values).mean() > 0.9  # radar still there


def test_a_post_window_past_the_archive_s_last_acquisition_says_so(
    archive: ArchiveSource,
) -> None:
    """Found on a walk: a run 23 days past an archive's last acquisition was `ok`, its message
    saying only how many acquisitions the post window held; a daily export that stopped looked
    like a quiet region."""
    area = REGIONS[0][0]
    assert "newest acquisition" not in archive.features(area, PRE, POST).attrs["status"]
    late = Window(date(2024, 9, 20), date(2024, 10, 25))  # the archive ends on 2024-09-30
    newest = max(archive.catalog(area.name, window=late)["date"])
    stack = archive.features(area, Window(date(2024, 7, 22), date(2024, 9, 20)), late)
    gap = (date(2024, 10, 24) - newest).days
    assert gap > 15
    assert (
        f"post window {late}: its newest acquisition, {newest.isoformat()}, is {gap} days "
        "before its last day, where Sentinel-1 and Sentinel-2 revisit within 12: is the source "
        "still fed?"
    ) in stack.attrs["status"]


def test_no_acquisition_at_all_raises_naming_region_and_windows(archive: ArchiveSource) -> None:
    area = REGIONS[0][0]
    early = Window(date(2023, 1, 1), date(2023, 2, 1))
    later = Window(date(2023, 2, 1), date(2023, 3, 1))
    with pytest.raises(DataUnavailable, match=r"hills.*2023-01-01/2023-02-01.*2023-02-01"):
        archive.features(area, early, later)


def test_unknown_region_is_named(archive: ArchiveSource, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="'nowhere' is not in the archive"):
        archive.features(small_area("nowhere", 10.9, 44.34), PRE, POST)
    # a source.path that does not exist is named as such (it read "regions there: none")
    with pytest.raises(ArchiveError, match=r"the archive folder .*missing does not exist"):
        ArchiveSource(tmp_path / "missing").features(small_area("r", 10.9, 44.34), PRE, POST)
    # the checks before a run (schedule --dry-run) say the same, of several regions at once
    held = archive.regions()
    assert archive.absent(held) is None and archive.unreadable() is None
    said = archive.absent(["a", *held, "b"])
    assert said is not None and said.startswith("2 regions 'a', 'b' are not in the archive")
    # the first names alone (found by an agency's walk: each region's failure listed the whole
    # archive, 287 kB of a run's stderr for 164 regions missing from 52)
    many = archive.absent([f"r{i:03d}" for i in range(164)])
    assert many is not None and many.startswith(
        "164 regions 'r000', 'r001', 'r002', 'r003', 'r004', 'r005', 'r006', 'r007', 'r008', "
        f"'r009' ... are not in the archive {archive.path} (regions there, {len(held)}: "
    )
    assert len(many) < 600


def test_a_polygon_the_archived_grid_does_not_hold_is_found_before_a_run(
    archive: ArchiveSource,
) -> None:
    """``misplaced`` (the dry run's check) says what ``features`` raises: the polygon
    latitude first (another UTM zone), or grown past the archived grid."""
    hills = REGIONS[0][0]
    assert archive.misplaced([hills, small_area("nowhere", 10.9, 44.34)]) == []
    swapped = small_area("hills", 44.34, 10.90)  # UTM zone 38, the archive's is 32
    grown = small_area("hills", 10.899, 44.34)  # 80 m west of the archived grid
    said = archive.misplaced([swapped, grown])
    assert said[0].startswith(
        "region 'hills': the polygon's grid is in EPSG:32638 but the archive holds EPSG:32632"
    )
    assert said[1].startswith("region 'hills': the polygon's grid (")
    assert "is not inside the archived grid" in said[1]
    for area, message in zip((swapped, grown), said, strict=True):
        with pytest.raises(ArchiveError) as raised:
            archive.features(area, PRE, POST)
        assert str(raised.value) == message


@pytest.mark.parametrize(
    "array",
    ["static/elevation", "static/landcover", "s2/reflectance", "s2/cloud_probability",
     "s1/angle", "s1/sigma0"],
)  # fmt: skip
def test_a_damaged_array_is_named_with_its_region_s_file(
    archive_path: Path, tmp_path: Path, array: str
) -> None:
    """Found by an operator: a corrupt chunk failed the region with "RuntimeError: Zstd
    decompression error: invalid input data", naming neither the archive's file nor the array,
    on a Dask worker as in the main process."""
    area = REGIONS[0][0]
    region = tmp_path / "regions" / area.name
    shutil.copytree(archive_path / "regions" / area.name, region)
    data = region / "data.zarr"
    for chunk in (data / array).rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"not a chunk")
    source = ArchiveSource(tmp_path)
    said = rf"region 'hills': {data / array} cannot be read \(RuntimeError: .*\): the file is "
    with pytest.raises(ArchiveError, match=said + "damaged; rebuild the region"):
        source.features(area, PRE, POST)
    if array == "s2/cloud_probability":  # the sensors' first looks read it too
        events = source.ground_truth(area.name)
        with pytest.raises(ArchiveError, match=said):
            source.first_looks(area.name, events)


def test_an_array_out_of_reach_is_not_called_damaged(
    archive_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: a full open-file table (EMFILE, likely with many Dask threads), a
    permission or a network disk's error was reported as a damaged file, telling the user to
    delete an intact region. An OSError says to check the disk and run again."""
    import errno

    import zarr

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(zarr.Array, "__getitem__", full)
    monkeypatch.setattr(zarr.Array, "get_orthogonal_selection", full)
    with pytest.raises(ArchiveError) as err:
        ArchiveSource(archive_path).features(REGIONS[0][0], PRE, POST)
    assert "Too many open files" in str(err.value)
    assert str(err.value).endswith(
        "check the disk, the file's permissions and the open-file limit (ulimit -n), then run again"
    )
    assert "damaged" not in str(err.value)


def test_sub_polygon_reads_a_window_of_the_region(archive: ArchiveSource, stacks: dict) -> None:
    area = REGIONS[0][0]
    west, south, east, north = area.geometry.bounds
    from shapely.geometry import box

    from monitor.sources.base import AreaOfInterest

    sub = AreaOfInterest("hills", box(west + 0.005, south + 0.005, east - 0.01, north - 0.004))
    stack = archive.features(sub, PRE, POST)
    whole = stacks["hills"]
    part = whole.sel(x=stack.x, y=stack.y)
    np.testing.assert_array_equal(stack.elevation.values, part.elevation.values)
    np.testing.assert_array_equal(stack.preNDVI.values, part.preNDVI.values)


def test_catalog_queries_by_region_window_sensor_and_pass(archive: ArchiveSource) -> None:
    everything = archive.catalog()
    assert set(everything["region"]) == {"hills", "ghats"}
    s1 = archive.catalog("ghats", window=POST, sensor="S1", orbit_pass="descending")
    assert len(s1) >= 2 and set(s1["orbit_pass"]) == {"descending"}
    assert all(POST.start <= d < POST.end for d in s1["date"])
    gaps = np.diff(sorted(s1["date"].map(date.toordinal)))
    assert set(gaps) <= {12}
    s2 = archive.catalog("hills", sensor="S2")
    assert set(np.diff(sorted(s2["date"].map(date.toordinal)))) == {5}


def test_source_pickles_for_worker_processes(archive: ArchiveSource) -> None:
    import pickle

    area = REGIONS[0][0]
    archive.catalog(area.name)  # opens and caches the region
    clone = pickle.loads(pickle.dumps(archive))
    assert clone.path == archive.path and clone.terrain_model == archive.terrain_model
    pd_a = archive.catalog(area.name)
    assert clone.catalog(area.name).equals(pd_a)


def test_a_large_region_s_stack_reading_says_how_far_it_got(
    archive: ArchiveSource, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walkthrough of large regions: an 11 Mpx region's stack took 65 s without a
    line, even with -v. From PROGRESS_PIXELS on, its reading logs each step at INFO; below,
    at DEBUG (the usual region keeps its one line)."""
    import logging

    import monitor.sources.archive

    area, _ = REGIONS[0]
    with caplog.at_level(logging.INFO, logger="monitor.sources.archive"):
        archive.features(area, PRE, POST)
    assert not caplog.records
    monkeypatch.setattr(monitor.sources.archive, "PROGRESS_PIXELS", 1)
    with caplog.at_level(logging.INFO, logger="monitor.sources.archive"):
        archive.features(area, PRE, POST)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all(line.startswith(f"{area.name}: ") for line in lines)
    assert "Sentinel-2 and" in lines[0] and "scenes (pre + post)" in lines[0]
    assert "Sentinel-2 composites read" in lines[1] and "Sentinel-1 composites read" in lines[2]


def test_an_orbit_pass_the_archive_lacks_names_the_pass_it_holds(
    archive: ArchiveSource, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in a walk: a region of descending exports configured `orbit_pass: ascending` ran
    on optical alone, and only the run's record said "no ascending acquisition". The stack's
    problems and the log say what the archive holds and what to set. (The archive's ghats
    holds both passes: read here as if it held its descending scenes alone.)"""
    import logging

    from monitor.sources.base import AreaOfInterest

    catalog = ArchiveSource.catalog

    def descending_only(self: ArchiveSource, *args: Any, **kwargs: Any) -> Any:
        rows = catalog(self, *args, **kwargs)
        return rows[rows["orbit_pass"] != "ascending"]

    monkeypatch.setattr(ArchiveSource, "catalog", descending_only)
    ghats = REGIONS[1][0]
    held = archive.catalog("ghats", sensor="S1")
    assert set(held["orbit_pass"]) == {"descending"}
    in_windows = held[((held["date"] >= PRE.start) & (held["date"] < PRE.end))
                      | ((held["date"] >= POST.start) & (held["date"] < POST.end))]  # fmt: skip
    n = len(in_windows.drop_duplicates(["date", "track"]))
    said = (
        f"S1: the archive holds {n} descending acquisition(s) in these windows and none "
        "ascending, the region's orbit_pass: set orbit_pass: descending or both to use them"
    )
    with caplog.at_level(logging.WARNING, logger="monitor.sources.archive"):
        stack = archive.features(AreaOfInterest("ghats", ghats.geometry, "ascending"), PRE, POST)
    assert said in stack.attrs["status"]
    assert f"region 'ghats': {said}" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="monitor.sources.archive"):
        stack = archive.features(ghats, PRE, POST)
    assert "the region's orbit_pass" not in stack.attrs["status"] + caplog.text


def test_a_stack_in_swiss_lv95_is_located_without_pyproj_s_cf_warning() -> None:
    """Found in a walk: a stack in EPSG:2056 (an oblique Mercator) printed pyproj's "angle from
    rectified to skew grid parameter lost in conversion to CF" twice; the CRS is kept whole."""
    import warnings

    import xarray as xr
    from affine import Affine

    from models.feature_stack import on_grid

    data = xr.Dataset(
        {"a": (("y", "x"), np.zeros((2, 2)))}, coords={"y": [1.5, 0.5], "x": [0.5, 1.5]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        located = on_grid(
            data, "EPSG:2056", Affine(10.0, 0.0, 2_600_000.0, 0.0, -10.0, 1_200_000.0)
        )
    assert located.rio.crs.to_epsg() == 2056
