"""Building the archive: determinism per seed, idempotence, ground truth, bad polygons."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from shapely.geometry import Polygon, box

from monitor.errors import BadInput
from monitor.grid import region_grid
from monitor.simulator import SimulationSpec, build_archive, random_regions
from monitor.simulator.region import SimulatedRegion, landscape_place, random_box
from monitor.simulator.spec import LANDSCAPES
from monitor.sources.archive import ArchiveSource, RegionWriter
from monitor.sources.archive_composite import _array
from monitor.sources.base import AreaOfInterest, InvalidArea, check_area
from tests.archive.archive_fixtures import REGIONS, SIMULATION


def _arrays(path: Path, region: str) -> dict[str, np.ndarray]:
    root = zarr.open_group(path / "regions" / region / "data.zarr", mode="r")
    names = ["static/elevation", "static/landcover", "s2/reflectance", "s2/cloud_probability"]
    names += ["s1/sigma0", "s1/angle"]
    return {n: np.asarray(_array(root, n)[:]) for n in names}


def test_same_seed_same_archive_other_seed_other_archive(
    archive_path: Path, tmp_path: Path
) -> None:
    area, spec = REGIONS[0]
    build_archive(tmp_path / "again", [(area, spec)], SIMULATION, progress=False)
    first, second = _arrays(archive_path, area.name), _arrays(tmp_path / "again", area.name)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    truth_a = ArchiveSource(archive_path).ground_truth(area.name, kinds=None)
    truth_b = ArchiveSource(tmp_path / "again").ground_truth(area.name, kinds=None)
    assert truth_a.geometry.geom_equals_exact(truth_b.geometry, 1e-9).all()

    other = spec.model_copy(update={"seed": spec.seed + 1})
    build_archive(tmp_path / "other", [(area, other)], SIMULATION, progress=False)
    third = _arrays(tmp_path / "other", area.name)
    assert not np.array_equal(first["static/elevation"], third["static/elevation"])


def test_rebuild_skips_unchanged_and_rebuilds_changed_regions(tmp_path: Path) -> None:
    area = AreaOfInterest("tiny", box(9.93, 46.22, 9.94, 46.227))
    spec = SimulationSpec(landscape="alpine", seed=3)
    first = build_archive(tmp_path, [(area, spec)], SIMULATION, progress=False)
    assert first.built == ["tiny"] and first.skipped == []
    again = build_archive(tmp_path, [(area, spec)], SIMULATION, progress=False)
    assert again.built == [] and again.skipped == ["tiny"]
    source = ArchiveSource(tmp_path)  # opened before the rebuild, used after it
    before = source.catalog("tiny")
    elevation = zarr.open_array(tmp_path / "regions/tiny/data.zarr/static/elevation")[:]
    changed = build_archive(
        tmp_path, [(area, spec.model_copy(update={"seed": 4}))], SIMULATION, progress=False
    )
    assert changed.built == ["tiny"]
    after = zarr.open_array(tmp_path / "regions/tiny/data.zarr/static/elevation")[:]
    assert not np.array_equal(elevation, after)
    assert not source.catalog("tiny").equals(before)  # the open source sees the new region
    assert not list((tmp_path / "regions").glob(".tiny*"))  # no temporary folders left


def test_ground_truth_rows(archive: ArchiveSource) -> None:
    truth = archive.ground_truth("ghats")
    assert truth.crs.to_epsg() == 4326
    assert set(truth["kind"]) == {"landslide"}
    assert {"event_date", "area_m2", "geometry"} <= set(truth.columns)
    assert truth["area_m2"].min() >= 500.0
    assert truth.geometry.is_valid.all()
    everything = archive.ground_truth("ghats", kinds=None)
    assert len(everything) > len(truth)
    assert set(everything["kind"]) >= {"landslide", "clear_cut"}


def test_first_acquisition_is_the_catalog_s_first_date(archive: ArchiveSource) -> None:
    area = next(a for a, _ in REGIONS if a.name == "ghats")
    first = archive.first_acquisition(area)
    assert first == min(archive.catalog("ghats")["date"])
    assert SIMULATION.start <= first < SIMULATION.start + timedelta(days=12)  # S1 revisit
    assert archive.first_acquisition(AreaOfInterest("nowhere", area.geometry)) is None


def test_check_area_refuses_bad_polygons() -> None:
    assert 3.0 < check_area(REGIONS[0][0]) < 6.0
    bowtie = Polygon([(10, 44), (10.1, 44.1), (10.1, 44), (10, 44.1), (10, 44)])
    with pytest.raises(InvalidArea, match=r"invalid.*Self-intersection"):
        check_area(AreaOfInterest("bowtie", bowtie))
    with pytest.raises(InvalidArea, match="empty"):
        check_area(AreaOfInterest("void", Polygon()))
    with pytest.raises(
        InvalidArea,
        match=r"big: .*km², more than the maximum 100 km² \(split the region, or raise its "
        r"max_area_km2\)",
    ):
        check_area(AreaOfInterest("big", box(10, 44, 10.5, 44.5)), max_area_km2=100)
    with pytest.raises(InvalidArea, match="not lon/lat"):
        check_area(AreaOfInterest("metres", box(500000, 5000000, 501000, 5001000)))
    with pytest.raises(InvalidArea, match="tiny"):
        build_archive(
            "/nonexistent/never",
            [(AreaOfInterest("tiny", Polygon()), REGIONS[0][1])],
            SIMULATION,
            progress=False,
        )


def test_a_region_narrower_than_two_pixels_is_refused_before_any_build(tmp_path: Path) -> None:
    """A region one pixel high used to fail inside the simulator with numpy's "Shape of array
    too small to calculate a numerical gradient" (exit 1), after the regions before it were
    built; it is refused first, naming the region and its grid (exit 2)."""
    sliver = AreaOfInterest("sliver", box(76.13, 11.46, 76.131, 11.46002))
    with pytest.raises(BadInput) as refused:
        build_archive(tmp_path, [REGIONS[0], (sliver, REGIONS[0][1])], SIMULATION, progress=False)
    assert str(refused.value) == (
        "region sliver: its grid is 1 x 12 pixels of 10 m; slopes need at least 2 along each "
        "side (enlarge the polygon)"
    )
    assert not list((tmp_path / "regions").iterdir())  # nothing built before the refusal


def test_a_region_of_real_exports_is_never_replaced_by_a_simulated_one(tmp_path: Path) -> None:
    """Found walking docs/archive.md: a region written from real exports (RegionWriter, origin
    "export") whose configuration kept a `simulation` block, as a copy of the demo's
    configuration has, was replaced by a simulated world on `archive build`, the exports lost
    without a word. It is
    refused, naming the region, before any region is built (exit 2)."""
    area = AreaOfInterest("tiny", box(9.93, 46.22, 9.94, 46.227))
    spec = SimulationSpec(landscape="alpine", seed=3)
    shape = region_grid(area.geometry).shape
    with RegionWriter(tmp_path, area, n_s2=0, n_s1=0, tracks=[]) as writer:
        writer.write_static(np.full(shape, 500.0), np.full(shape, 10), np.zeros(shape),
                            np.zeros(shape))  # fmt: skip
        writer.commit()
    before = (tmp_path / "regions" / "tiny" / "region.json").read_text()
    other = (AreaOfInterest("other", box(9.95, 46.22, 9.96, 46.227)), spec)
    with pytest.raises(BadInput, match=r"region tiny: the archive holds real exports of it"):
        build_archive(tmp_path, [other, (area, spec)], SIMULATION, progress=False)
    assert (tmp_path / "regions" / "tiny" / "region.json").read_text() == before
    assert not (tmp_path / "regions" / "other").exists()  # refused before any build


def test_random_regions_are_deterministic_and_valid() -> None:
    first = random_regions(5, seed=1)
    assert first == random_regions(5, seed=1)
    assert first != random_regions(5, seed=2)
    for area, spec in first:
        assert 2.0 < check_area(area) < 20.0
        assert spec.landscape in ("forested_mountains", "alpine", "agricultural_hills")


def test_random_boxes_lie_where_their_landscape_lives() -> None:
    rng = np.random.default_rng(3)
    for landscape in ("forested_mountains", "alpine", "agricultural_hills"):
        (lon0, lon1), (lat0, lat1) = landscape_place(landscape)
        for _ in range(20):
            cx, cy = random_box(rng, landscape, (2.0, 5.0)).centroid.coords[0]
            assert lon0 <= cx <= lon1 and lat0 <= cy <= lat1
    # the alpine world lies north of the forested mountains' tropics (the sun differs)
    assert landscape_place("alpine")[1][0] > landscape_place("forested_mountains")[1][1]
    with pytest.raises(ValueError, match="unknown landscape 'tundra'"):
        landscape_place("tundra")


def _steeper_alps(monkeypatch: pytest.MonkeyPatch, **knobs: Any) -> None:
    """The alpine preset with ``knobs`` changed: what a region many km wider than the presets
    are shaped for does to them, on a region small enough to build in a test."""
    monkeypatch.setitem(LANDSCAPES, "alpine", replace(LANDSCAPES["alpine"], **knobs))


TINY = AreaOfInterest("tiny", box(9.93, 46.22, 9.94, 46.227))  # about 770 m x 780 m


def test_a_region_whose_simulated_summits_pass_everest_is_refused_for_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found walking a 24 km x 24 km alpine corridor through `archive build`: the preset's
    valley flank (15°) rose across the whole region, to 10.4 km, and the build failed with the
    check meant for a user's export, `is the DEM in feet? Give metres`, about a DEM the
    simulator made. The message now says what the simulator did and what to do."""
    _steeper_alps(monkeypatch, tilt_deg=85.0)  # 11.4 x a 1.1 km diagonal: 12 km of flank
    with pytest.raises(BadInput) as raised:  # exit status 2: the configuration to correct
        build_archive(tmp_path, [(TINY, SimulationSpec(landscape="alpine", seed=3))], SIMULATION)
    message = str(raised.value)
    assert "feet" not in message
    assert "region 'tiny': the alpine landscape simulated on 0.8 km x 0.8 km reaches" in message
    assert "above any summit (8849 m): its regional valley flank (85°) rises up to" in message
    assert "simulate a larger area as several regions" in message
    assert not (tmp_path / "regions" / "tiny").exists()


def test_a_simulated_region_that_departs_from_its_landscape_says_how(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found walking a 15 km x 15 km alpine corridor: the archive was built without a word, and
    its terrain was no Valtellina: summits at 7.4 km, 87 % snow and ice, because the preset's
    valley flank rose 5.7 km across the region (a 15 km forested region: 90th-percentile slope
    24° for the preset's 38°). A region whose terrain departs from its preset is built, with a
    warning naming each departure."""
    # a flank steeper than the preset's relief allows, and slopes the capped relief cannot make
    _steeper_alps(monkeypatch, tilt_deg=20.0, max_relief_m=100.0, slope_p90_deg=50.0)
    spec = SimulationSpec(landscape="alpine", seed=3, cloud_scale=0.0)
    with caplog.at_level(logging.WARNING, logger="monitor.simulator"):
        built = build_archive(tmp_path, [(TINY, spec)], SIMULATION, progress=False)
    assert built.built == ["tiny"]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("region 'tiny': the alpine landscape simulated on 0.8 km x 0.8 km")
    assert "its regional valley flank (20°) rises up to 407 m across the region" in warning
    assert "more than the landscape's relief of 100 m" in warning
    assert re.search(r"its 90th-percentile slope is 3\d° where the landscape asks 50°", warning)


def test_the_fixture_regions_match_their_landscapes(caplog: pytest.LogCaptureFixture) -> None:
    """Regions of the size the presets are shaped for (these, the demo's, the training world's)
    build without a word about their terrain."""
    with caplog.at_level(logging.WARNING, logger="monitor.simulator"):
        for area, spec in REGIONS:
            SimulatedRegion(area, spec, SIMULATION)
    assert not caplog.records, caplog.text


def test_a_regions_relief_scale_scales_the_relief_its_departures_are_judged_by() -> None:
    """Found reading the whole change: the terrain is scaled within ``max_relief_m`` times the
    region's ``relief_scale``, but its departures compared the tilt's rise with the unscaled
    relief, so a region of a relief scale above 1 was said to depart where it did not."""
    from monitor.simulator.terrain import Terrain, terrain_departures

    landscape = LANDSCAPES["forested_mountains"]  # tilt 6°, relief 1400 m
    side = 1200  # px of 10 m: the tilt rises tan(6°) * 1697 px * 10 m = 1784 m across
    flat = np.zeros((side, side), np.float32)
    steep = np.full((side, side), 58.0, np.float32)  # as steep as any scale asks
    terrain = Terrain(flat, flat, steep, flat, flat.astype(bool), 0.0)
    (rises,) = terrain_departures(terrain, landscape, 10.0)
    assert rises.endswith("more than the landscape's relief of 1400 m")
    assert terrain_departures(terrain, landscape, 10.0, relief_scale=1.3) == []


STRIP = box(8.25, 60.0, 9.75, 60.015)  # 1.5° along 60° N, 1.7 km wide


def test_a_long_edged_polygon_is_gridded_along_its_edges() -> None:
    """Found in a walkthrough of large regions: the grid was the box of the polygon's corners
    in UTM, where a parallel bulges south between them; 9 % of this strip, 229 m deep at 9° E,
    lay outside the stack, never watched. The grid now holds every point of the edges."""
    from pyproj import Transformer

    grid = region_grid(STRIP)
    corners = region_grid(STRIP, corners_only=True)
    assert (grid.crs, grid.width, corners.width) == ("EPSG:32632", 8368, 8368)
    assert (corners.height, grid.height) == (168, 191)
    to_utm = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    west, south, east, north = grid.bounds
    for lon in np.linspace(8.25, 9.75, 301):  # the south edge, every 0.005°
        x, y = to_utm.transform(lon, 60.0)
        assert west <= x <= east and south <= y <= north
    _, y_middle = to_utm.transform(9.0, 60.0)
    assert corners.bounds[1] - y_middle == pytest.approx(229, abs=1)  # what the corners left out


def test_a_region_archived_on_the_grid_of_its_corners_is_read_so_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An archive written before the grid followed the edges holds the corners' grid; a run
    reads the region on it (no error after an upgrade) and says what of the polygon it
    misses and how to write the region again."""
    from monitor.sources import archive

    corners = region_grid(STRIP, corners_only=True)
    with caplog.at_level(logging.WARNING, logger="monitor.sources.archive"):
        grid, (rows, cols) = archive._polygon_grid("strip", corners, STRIP)
        assert grid == corners and (rows, cols) == (slice(0, 168), slice(0, 8368))
        again = archive._polygon_grid("strip", corners, STRIP)  # warned once per region
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "'strip': the archive holds it on the grid of its polygon's corners" in warning
    missed = re.search(r"leaves ([0-9.]+) km²", warning)
    assert missed is not None and 12.0 < float(missed.group(1)) < 13.5
    assert again[0] == corners

    caplog.clear()
    grid, (rows, cols) = archive._polygon_grid("other", region_grid(STRIP), STRIP)
    assert grid == region_grid(STRIP) and rows == slice(0, 191) and not caplog.records
    moved = replace(corners, x0=corners.x0 + 50_000)
    with pytest.raises(archive.ArchiveError, match="is not inside the archived grid"):
        archive._polygon_grid("moved", moved, STRIP)


def test_archive_build_rebuilds_a_region_whose_stored_grid_is_not_its_polygon_s(
    tmp_path: Path,
) -> None:
    """`archive build` skips a region whose polygon and simulation are unchanged, but not one
    written on another grid (the corners' grid of an earlier release): that is built again."""
    import json

    area = AreaOfInterest("tiny", box(9.93, 46.22, 9.94, 46.227))
    spec = SimulationSpec(landscape="alpine", seed=3)
    assert build_archive(tmp_path, [(area, spec)], SIMULATION, progress=False).built == ["tiny"]
    meta_path = tmp_path / "regions" / "tiny" / "region.json"
    meta = json.loads(meta_path.read_text())
    assert meta["grid"] == region_grid(area.geometry).as_record()
    meta["grid"]["height"] -= 1  # as the corners' grid of a long-edged polygon would be
    meta_path.write_text(json.dumps(meta))
    again = build_archive(tmp_path, [(area, spec)], SIMULATION, progress=False)
    assert again.built == ["tiny"] and again.skipped == []
    assert json.loads(meta_path.read_text())["grid"] == region_grid(area.geometry).as_record()
