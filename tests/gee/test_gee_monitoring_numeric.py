"""The monitoring graphs evaluated with numpy equal the archive's compositing on the same scenes:
the latest-clear Sentinel-2 composite and its event dating, and the Sentinel-1 mean in dB with
its event dating (``gee_scripts.sentinel2``/``sentinel1`` against ``monitor.sources``)."""

from __future__ import annotations

import warnings

import ee
import numpy as np
import pytest

from gee_scripts import assembly, sentinel1, sentinel2
from gee_scripts.offline import graph_tree
from gee_scripts.settings import AssetIds, CloudMaskSettings, S1Settings
from monitor.sources.archive_composite import last_valid_per_track, newest_scene, radar_dating
from monitor.sources.composite import change_dates, greenest_pixel, latest_clear, nan_mean, ndvi
from tests.gee.gee_numpy_eval import GraphEvaluator, props_of

DAY_MS = 86_400_000


def _s2_scenes(
    rng: np.random.Generator, prefix: str, n: int, shape: tuple[int, int], first_day: int
) -> tuple[np.ndarray, np.ndarray, list[int], dict, dict]:
    dn = rng.integers(200, 4000, size=(n, 6, *shape)).astype(np.uint16)
    dn[:, 2] = rng.integers(300, 500, size=(n, *shape))  # vegetation: dark red, bright NIR
    dn[:, 3] = rng.integers(3000, 4000, size=(n, *shape))
    cs_cdf = rng.uniform(0.0, 1.0, size=(n, *shape))
    days = [first_day + 5 * i for i in range(n)]
    inputs, properties = {}, {}
    for i in range(n):
        b2, b3, b4, b8 = (dn[i, k].astype(float) for k in range(4))
        inputs[f"T/{prefix}s2_{i}"] = {"B2": b2, "B3": b3, "B4": b4, "B8": b8}
        properties[f"T/{prefix}s2_{i}"] = {
            "system:index": f"{prefix}{i}",
            "system:time_start": days[i] * DAY_MS,
        }
        inputs[f"T/{prefix}cs_{i}"] = {"cs": cs_cdf[i], "cs_cdf": cs_cdf[i]}
        properties[f"T/{prefix}cs_{i}"] = {"system:index": f"{prefix}{i}"}
    return dn, cs_cdf, days, inputs, properties


def test_latest_clear_and_optical_dating_match_the_archive() -> None:
    rng = np.random.default_rng(3)
    shape = (9, 11)
    pre_dn, pre_cs, pre_days, inputs, properties = _s2_scenes(rng, "a", 3, shape, 19900)
    dn, cs, days, post_inputs, post_props = _s2_scenes(rng, "b", 4, shape, 19920)
    # A scar from the second post scene on over the left half: red up, NIR down; and one over
    # the right columns since the last baseline scene (a baseline that holds a look of it)
    dn[1:, 2, :, :5] = 3000
    dn[1:, 3, :, :5] = 900
    dn[:, 2, :, 8:] = 3000
    dn[:, 3, :, 8:] = 900
    pre_dn[2, 2, :, 8:] = 3000
    pre_dn[2, 3, :, 8:] = 900
    for i in range(4):
        post_inputs[f"T/bs2_{i}"]["B4"] = dn[i, 2].astype(float)
        post_inputs[f"T/bs2_{i}"]["B8"] = dn[i, 3].astype(float)
    inputs["T/as2_2"]["B4"] = pre_dn[2, 2].astype(float)
    inputs["T/as2_2"]["B8"] = pre_dn[2, 3].astype(float)
    inputs |= post_inputs
    properties |= post_props
    assets = AssetIds()
    cloud = CloudMaskSettings(cs_cdf_threshold=0.6)

    def masked(prefix: str, n: int) -> ee.ImageCollection:
        scenes = ee.ImageCollection.fromImages([ee.Image(f"T/{prefix}s2_{i}") for i in range(n)])
        return sentinel2.masked_collection(scenes, cloud, assets)

    pre, post = masked("a", 3), masked("b", 4)
    baseline = sentinel2.greenest_pixel(pre)
    dating = sentinel2.change_dates(
        post,
        baseline.select("NDVI"),
        sentinel2.last_unchanged_day(pre, baseline.select("NDVI")),
        "s2",
    )
    graph = graph_tree(ee.List([sentinel2.latest_clear(post), dating]))
    evaluator = GraphEvaluator(
        inputs,
        properties=properties,
        collections={
            assets.cloud_score_plus: [f"T/acs_{i}" for i in range(3)]
            + [f"T/bcs_{i}" for i in range(4)]
        },
    )
    composite, dates = evaluator(graph)

    expected = latest_clear(dn, cs < 0.6, np.asarray(days, float))
    np.testing.assert_allclose(composite["NDVI"], expected.ndvi, rtol=1e-6, equal_nan=True)
    day_expected = np.where(expected.chosen >= 0, np.asarray(days)[expected.chosen], np.nan)
    np.testing.assert_array_equal(composite["day"], day_expected)

    base = greenest_pixel(pre_dn, pre_cs < 0.6)
    pre_ndvi, post_ndvi = ndvi(pre_dn), ndvi(dn)
    with np.errstate(invalid="ignore"):
        changed = post_ndvi < base.ndvi - 0.2
        # the baseline's last clear look that does not show the change already
        pre_clear = (pre_cs >= 0.6) & np.isfinite(pre_ndvi) & ~(pre_ndvi < base.ndvi - 0.2)
    last_pre = np.where(pre_clear, np.asarray(pre_days, float)[:, None, None], -np.inf).max(0)
    reference = change_dates(
        np.asarray(days, float),
        changed,
        (cs >= 0.6) & np.isfinite(post_ndvi),
        np.where(np.isfinite(last_pre), last_pre, np.nan),
    )
    np.testing.assert_array_equal(dates["s2_first_changed"], reference.first_changed)
    np.testing.assert_array_equal(dates["s2_last_unchanged"], reference.last_unchanged)
    # teeth: the scar is dated where the scene that first shows it is clear
    clear_1 = (cs[1, :, :5] >= 0.6) & np.isfinite(base.ndvi[:, :5])
    assert (reference.first_changed[:, :5][clear_1] == days[1]).all() and clear_1.any()
    assert np.isfinite(reference.last_unchanged).mean() > 0.9
    # and dated before the baseline's look of it where the scene before that was clear
    held = (pre_cs[1, :, 8:] >= 0.6) & (pre_cs[2, :, 8:] >= 0.6) & (cs[0, :, 8:] >= 0.6)
    assert held.any() and (dates["s2_last_unchanged"][:, 8:][held] == pre_days[1]).all()


def test_mean_db_and_radar_dating_match_the_archive() -> None:
    rng = np.random.default_rng(8)
    size, m, n = 30, 5, 3
    dem = np.full((size, size), 300.0)  # flat: flattening is the same everywhere
    angle = np.full((size, size), 38.0)
    pre_db = rng.normal(-11.0, 2.2, (m, size, size))
    post_db = rng.normal(-11.0, 2.2, (n, size, size))
    post_db[1:, :, :10] -= 9.0  # the change from the second post scene on
    post_db[2, :4] = np.nan  # the last scene misses the top rows: their newest is the second
    inputs, properties = {"T/dem": {"elevation": dem}}, {}
    pre_days, post_days = [19900 + 12 * i for i in range(m)], [19970 + 12 * i for i in range(n)]
    for tag, db, days in (("pre", pre_db, pre_days), ("post", post_db, post_days)):
        for i in range(len(days)):
            inputs[f"T/{tag}_{i}"] = {
                "VV": 10.0 ** (db[i] / 10.0),
                "VH": 10.0 ** ((db[i] - 7.0) / 10.0),
                "angle": angle,
            }
            properties[f"T/{tag}_{i}"] = {"system:time_start": days[i] * DAY_MS}
    s1 = S1Settings(terrain_model="surface")

    def flat(tag: str, count: int) -> ee.ImageCollection:
        scenes = ee.ImageCollection.fromImages([ee.Image(f"T/{tag}_{i}") for i in range(count)])
        return sentinel1.flattened_collection(scenes, ee.Image("T/dem"), s1)

    pre, post = flat("pre", m), flat("post", n)
    baseline = sentinel1.mean_db(pre, "pre")
    count = sentinel1.observation_count(pre, "n")
    post_mean = sentinel1.mean_db(post, "post")
    dating = sentinel1.change_dates(
        pre, post, baseline.select([0]), count, 4.4, "s1", post_mean.select([0])
    )
    newest = sentinel1.newest_scene(post, "s1")
    graph = graph_tree(ee.List([baseline, post_mean, dating, newest]))
    base, after, dates, latest = GraphEvaluator(inputs, properties=properties)(graph)

    # flat ground and surface model: flattening adds one constant; take it from the graph
    offset = float(np.nanmean(base["preVV"] - pre_db.mean(axis=0)))
    expected_pre, expected_count = nan_mean((pre_db + offset).astype(np.float32))
    np.testing.assert_allclose(base["preVV"], expected_pre, atol=1e-4)
    expected_post, _ = nan_mean((post_db + offset).astype(np.float32))
    np.testing.assert_allclose(after["postVV"], expected_post, atol=1e-4)
    both = np.stack([post_db, post_db - 7.0], axis=1) + offset  # VV, VH as the inputs have them
    expected_newest = newest_scene(both.astype(np.float32), np.asarray(post_days, float))
    np.testing.assert_allclose(latest["s1_newest_VV"], expected_newest[0], atol=1e-4)
    np.testing.assert_allclose(latest["s1_newest_VH"], expected_newest[1], atol=1e-4)
    # teeth: the newest is the last scene, or the second where the last has no value
    np.testing.assert_allclose(expected_newest[0][:4], post_db[1][:4] + offset, atol=1e-4)
    np.testing.assert_allclose(expected_newest[0][4:], post_db[2][4:] + offset, atol=1e-4)
    reference = radar_dating(
        (post_db + offset).astype(np.float32),
        np.asarray(post_days, float),
        expected_pre,
        expected_count,
        np.full((size, size), float(pre_days[-1])),
        4.4,
        after["postVV"].astype(np.float32),
    )
    np.testing.assert_array_equal(dates["s1_first_changed"], reference.first_changed)
    np.testing.assert_array_equal(dates["s1_last_unchanged"], reference.last_unchanged)
    np.testing.assert_array_equal(dates["s1_changed_scenes"], reference.changed_count)
    # the change of the last two scenes shows in two of them at most changed pixels
    assert np.median(reference.changed_count[:, :10]) == 2
    # teeth: a 9 dB drop is 4 sigma of one scene, so most changed pixels are dated to its scene
    # (about 5 % flag the scene before by chance: the single-scene test's nominal rate)
    assert (reference.first_changed[:, :10] == post_days[1]).mean() > 0.85


def test_flattened_scenes_keep_their_track_for_the_post_image() -> None:
    """Band math drops an image's properties in Earth Engine (the evaluator follows them only
    through updateMask, select and addBands onto the image), and ``last_valid_per_track`` groups the
    flattened scenes by their relative orbit: without it the monitoring post image held no
    scene at all."""
    size = 8
    inputs: dict = {"T/dem": {"elevation": np.full((size, size), 300.0)}}
    properties: dict = {}
    tracks = (15, 117, 15)
    for i, track in enumerate(tracks):
        inputs[f"T/s1_{i}"] = {
            "VV": np.full((size, size), 0.1),
            "VH": np.full((size, size), 0.02),
            "angle": np.full((size, size), 38.0),
        }
        properties[f"T/s1_{i}"] = {
            "system:time_start": (19900 + 6 * i) * DAY_MS,
            "relativeOrbitNumber_start": track,
        }
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/s1_{i}") for i in range(len(tracks))])
    flat = sentinel1.flattened_collection(
        scenes, ee.Image("T/dem"), S1Settings(terrain_model="surface")
    )
    evaluator = GraphEvaluator(inputs, properties=properties)
    images = evaluator(graph_tree(flat))
    kept = [props_of(image) for image in images]
    assert [p.get("relativeOrbitNumber_start") for p in kept] == list(tracks)
    assert [p.get("system:time_start") for p in kept] == [
        properties[f"T/s1_{i}"]["system:time_start"] for i in range(len(tracks))
    ]


@pytest.mark.parametrize("second", [86025, 86415], ids=["same-day", "across-midnight-utc"])
@pytest.mark.parametrize("k", [1, 2])
def test_one_pass_in_two_slices_counts_once_as_the_archive_counts_it(k: int, second: int) -> None:
    """A region on a GRD slice boundary: track 117's pass comes as two images of one day, each
    masked outside its slice. ``acquisitions`` mosaics them (their mean where they overlap), so
    the monitoring post image (the last scene of each track), its count and its newest scene
    are those of the archive, which mosaics the catalog rows of one date and track; counted as
    images, the overlap strip would hold the pass twice, and the second look's rest of the post
    image would be the newest pass's other slice. The slices start 25 s apart late in the day
    (an acquisition is a track and a UTC day, not an instant), and another track passes on the
    same day (a pass is a track and a day, not a day). With ``k`` = 2 scenes per track, track
    15 keeps both of its passes, the others their one. The second slice may start after
    00:00 UTC (found walking through dates: it was a pass of the next day, and the last pass
    of its track); the pass is then of its first slice's day, as in the archive."""
    rng = np.random.default_rng(21)
    size = 30
    dem = np.full((size, size), 300.0)
    angle = np.full((size, size), 38.0)
    # (track, day, seconds into the day, columns with data); the third and fourth are the
    # slices of one pass, the fifth another track's pass of the same day
    scenes = [(15, 19900, 3600, slice(0, 30)), (15, 19912, 3600, slice(0, 30)),
              (117, 19903, 86000, slice(0, 20)), (117, 19903, second, slice(12, 30)),
              (44, 19903, 3000, slice(0, 30))]  # fmt: skip
    db = np.full((len(scenes), size, size), np.nan)
    inputs: dict = {"T/dem": {"elevation": dem}}
    properties: dict = {}
    for i, (track, day, seconds, cols) in enumerate(scenes):
        db[i][:, cols] = rng.normal(-11.0, 2.2, (size, size))[:, cols]
        inputs[f"T/s1_{i}"] = {
            "VV": 10.0 ** (db[i] / 10.0),
            "VH": 10.0 ** ((db[i] - 7.0) / 10.0),
            "angle": angle,
        }
        properties[f"T/s1_{i}"] = {
            "system:time_start": day * DAY_MS + seconds * 1000,
            "relativeOrbitNumber_start": track,
        }
    collection = ee.ImageCollection.fromImages([ee.Image(f"T/s1_{i}") for i in range(len(scenes))])
    flat = sentinel1.flattened_collection(
        collection, ee.Image("T/dem"), S1Settings(terrain_model="surface")
    )
    passes = sentinel1.acquisitions(flat)
    post = sentinel1.last_valid_per_track(passes, k)
    graph = graph_tree(
        ee.List(
            [
                sentinel1.mean_db(post, "post"),
                sentinel1.observation_count(post, "n"),
                sentinel1.newest_scene(post, "s1"),
                sentinel1.mean_db(flat, "all"),
            ]
        )
    )
    evaluator = GraphEvaluator(inputs, properties=properties)
    mean, count, newest, everything = evaluator(graph)
    # one image per pass, track 117's of day 19903 from its first slice's time (the day of
    # the dating bands)
    days = sorted(
        (p["relativeOrbitNumber_start"], p["acquisition_day"], p["system:time_start"])
        for p in map(props_of, evaluator(graph_tree(passes)))
    )
    hour = 3_600_000
    assert days == [(15, 19900, 19900 * DAY_MS + hour), (15, 19912, 19912 * DAY_MS + hour),
                    (44, 19903, 19903 * DAY_MS + 3_000_000),
                    (117, 19903, 19903 * DAY_MS + 86_000_000)]  # fmt: skip

    # flat ground and surface model: flattening adds one constant; take it from the graph
    offset = float(np.nanmean(everything["allVV"] - np.nanmean(db, axis=0)))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pass_117 = np.nanmean(db[2:4], axis=0)  # the archive's mosaic of the two slices
    # the last k passes of each track
    last = np.stack([*db[2 - k : 2], pass_117, db[4]]).astype(np.float32)
    expected_mean, expected_count = nan_mean(last)
    np.testing.assert_allclose(mean["postVV"], expected_mean + offset, atol=1e-4)
    np.testing.assert_array_equal(count["n"], expected_count)
    np.testing.assert_allclose(newest["s1_newest_VV"], db[1] + offset, atol=1e-4)
    # teeth: in the overlap strip the pass is one observation, and the post image is the mean
    # of the passes (the last k of each track), not of every image
    assert (count["n"][:, 12:20] == len(last)).all()
    images = np.nanmean(db[[*range(2 - k, 2), 2, 3, 4]], axis=0)[:, 12:20] + offset
    assert np.abs(mean["postVV"][:, 12:20] - images).max() > 0.1


def test_a_pass_mosaic_keeps_layover_where_every_slice_has_it() -> None:
    """The slices of one pass mosaicked (``acquisitions``): backscatter and incidence their mean
    where both have data; layover and shadow only where every slice has them, since the
    mosaic's backscatter is valid wherever one slice is (a mean of 0 and 1 would flag the pixel
    as masked in ``_geometry_layers``, where the other slice saw it)."""
    shape = (4, 6)
    nan = np.full(shape, np.nan)
    left, right = np.zeros(shape, bool), np.zeros(shape, bool)
    left[:, :4], right[:, 2:] = True, True  # the slices overlap in columns 2-3
    inputs: dict = {}
    properties: dict = {}
    for i, (cover, vv, layover) in enumerate(((left, -10.0, 1.0), (right, -12.0, 0.0))):
        inputs[f"T/f_{i}"] = {
            "VV": np.where(cover, vv, nan),
            "VH": np.where(cover, vv - 7.0, nan),
            "layover": np.where(cover, layover, nan),
            "shadow": np.where(cover, 0.0, nan),
            "liaDeg": np.where(cover, 30.0 + 10.0 * i, nan),
        }
        properties[f"T/f_{i}"] = {
            "system:time_start": 19903 * DAY_MS + (86000 + 25 * i) * 1000,
            "relativeOrbitNumber_start": 117,
        }
    scenes = ee.ImageCollection.fromImages([ee.Image(f"T/f_{i}") for i in range(2)])
    evaluator = GraphEvaluator(inputs, properties=properties)
    (mosaic,) = evaluator(graph_tree(sentinel1.acquisitions(scenes)))
    assert list(mosaic) == ["VV", "VH", "layover", "shadow", "liaDeg"]
    np.testing.assert_array_equal(mosaic["VV"][0], [-10, -10, -11, -11, -12, -12])
    np.testing.assert_array_equal(mosaic["liaDeg"][0], [30, 30, 35, 35, 40, 40])
    # the left slice's layover stays where only it has data, and not where the right one saw
    np.testing.assert_array_equal(mosaic["layover"][0], [1, 1, 0, 0, 0, 0])
    assert props_of(mosaic)["relativeOrbitNumber_start"] == 117


def test_the_last_k_passes_of_a_track_count_a_sliced_pass_once() -> None:
    """The review map takes the last k passes per track from raw slices (found in review): a
    pass in two slices gave its day twice, so with k = 2 the earlier pass was left out; per
    pixel (found in review again), two slices that overlap counted as two passes there. The
    slices of a pass are one image first (``passes``)."""
    size = 10
    ones = np.ones((size, size))
    inputs: dict = {}
    properties: dict = {}
    # track 117: a pass on day 19900, then one in two slices (columns 0-6 and 4-10, which
    # overlap in columns 4-6) on 19912
    passes = [(19900, slice(0, 10)), (19912, slice(0, 6)), (19912, slice(4, 10))]
    for i, (day, cols) in enumerate(passes):
        vv = np.full((size, size), np.nan)
        vv[:, cols] = ones[:, cols] * (i + 1)
        inputs[f"T/g_{i}"] = {"VV": vv}
        properties[f"T/g_{i}"] = {
            "system:time_start": day * DAY_MS + 1000 * i,
            "relativeOrbitNumber_start": 117,
        }
    raw = ee.ImageCollection.fromImages([ee.Image(f"T/g_{i}") for i in range(len(passes))])
    last_two = sentinel1.last_valid_per_track(sentinel1.passes(raw, ["VV"]), 2)
    count, mean = GraphEvaluator(inputs, properties=properties)(
        graph_tree(
            ee.List([sentinel1.observation_count(last_two, "n"), last_two.select("VV").mean()])
        )
    )
    assert (count["n"] == 2).all()  # the earlier pass and the later, everywhere
    # the later pass is its slices' mean where they overlap (2 and 3): with the first, 1.75
    np.testing.assert_allclose(mean["VV"][:, 4:6], (1.0 + 2.5) / 2)
    np.testing.assert_allclose(mean["VV"][:, :4], (1.0 + 2.0) / 2)


def test_the_availability_lists_a_pass_across_midnight_once_as_the_archive_does() -> None:
    """Found in review: the availability query listed the UTC days of Sentinel-1 images, so a
    pass whose slices straddle 00:00 UTC appeared as two dates (s1_dates_post D-1,D) where the
    stack's acquisitions and the archive count one, of its first slice's day."""
    day_ms = DAY_MS
    scenes = [(15, 19900, 3600), (117, 19903, 86000), (117, 19904, 15), (44, 19903, 3000)]
    properties = {
        f"T/s1_{i}": {
            "system:time_start": day * day_ms + seconds * 1000,
            "relativeOrbitNumber_start": track,
        }
        for i, (track, day, seconds) in enumerate(scenes)
    }
    collection = ee.ImageCollection.fromImages([ee.Image(f"T/s1_{i}") for i in range(len(scenes))])
    inputs = {name: {"VV": np.zeros((2, 2))} for name in properties}
    evaluator = GraphEvaluator(inputs, properties=properties)
    dates = evaluator(graph_tree(assembly._pass_dates(collection)))
    assert dates == ["2024-06-26", "2024-06-29"]  # days 19900 and 19903 since 1970-01-01


@pytest.mark.parametrize("k", [1, 2])
def test_the_post_image_is_the_last_scenes_of_each_track_that_saw_each_pixel(k: int) -> None:
    """Found in review: a track's last scene that saw part of the region blanked the post
    image wherever it saw nothing. Per pixel, the last ``k`` acquisitions of each track with
    VV there, on Earth Engine as in the archive (``last_valid_per_track`` of both)."""
    import pandas as pd

    rng = np.random.default_rng(5)
    size = 12
    # (track, day, columns with data): track 15's last pass saw the west only, track 117's
    # second-last the east only
    scenes = [(15, 19900, slice(0, 12)), (15, 19912, slice(0, 12)), (15, 19924, slice(0, 5)),
              (117, 19903, slice(0, 12)), (117, 19915, slice(6, 12)),
              (117, 19927, slice(0, 12))]  # fmt: skip
    db = np.full((len(scenes), 2, size, size), np.nan)
    inputs: dict = {}
    properties: dict = {}
    for i, (track, day, cols) in enumerate(scenes):
        db[i, 0][:, cols] = rng.normal(-11.0, 2.0, (size, size))[:, cols]
        db[i, 1][:, cols] = db[i, 0][:, cols] - 7.0
        inputs[f"T/p_{i}"] = {"VV": db[i, 0], "VH": db[i, 1]}
        properties[f"T/p_{i}"] = {
            "system:time_start": day * DAY_MS + 3_600_000,
            "relativeOrbitNumber_start": track,
        }
    collection = ee.ImageCollection.fromImages([ee.Image(f"T/p_{i}") for i in range(len(scenes))])
    post = sentinel1.last_valid_per_track(sentinel1.dated(collection), k)
    mean, count = GraphEvaluator(inputs, properties=properties)(
        graph_tree(
            ee.List([sentinel1.mean_db(post, "post"), sentinel1.observation_count(post, "n")])
        )
    )
    rows = pd.DataFrame(
        {"track": [t for t, _, _ in scenes], "index": range(len(scenes)),
         "date": pd.to_datetime([d * DAY_MS for _, d, _ in scenes], unit="ms").date}
    )  # fmt: skip
    kept = last_valid_per_track(db, rows, k)
    expected, expected_count = nan_mean(kept[:, 0].astype(np.float32))
    np.testing.assert_allclose(mean["postVV"], expected, atol=1e-4)
    np.testing.assert_array_equal(count["n"], expected_count)
    # by hand: track 15's east (no last pass there) takes the pass before; every pixel holds
    # k views of each track
    assert (expected_count == 2 * k).all()
    east = kept[1, 0][:, 5:]
    np.testing.assert_array_equal(east, db[1, 0][:, 5:])
    assert np.isnan(kept[0, 0]).all() == (k == 1)


def test_both_windows_hold_only_the_tracks_both_saw_at_each_pixel() -> None:
    """Found on a walk: a track with no scene in the baseline had its post scene compared with
    the other track's baseline, and the two tracks' 3 dB difference fired the trigger over a
    tenth of a region; found in review, the reverse: a baseline of both tracks against a post
    window of one. Per pixel both windows keep the tracks both saw there, on Earth Engine as in
    the archive (``shared_tracks`` of both); a window with no scene at a pixel leaves the other
    as it is."""
    import pandas as pd

    from monitor.sources.archive_composite import shared_tracks

    rng = np.random.default_rng(9)
    size = 12
    # (track, day, columns with data, dB level): track 117 reads 3 dB above track 15
    baseline = [(15, 19900, slice(0, 12), -11.0), (117, 19903, slice(4, 12), -8.0)]
    post = [(15, 19960, slice(0, 10), -11.0), (117, 19963, slice(0, 8), -8.0)]
    # columns 0-3: 117 in the post window only; 4-7: both tracks in both; 8-9: 117 in the
    # baseline only; 10-11: no post scene at all
    inputs: dict = {}
    properties: dict = {}
    frames = {}
    for tag, scenes in (("pre", baseline), ("post", post)):
        db = np.full((len(scenes), 2, size, size), np.nan)
        for i, (track, day, cols, level) in enumerate(scenes):
            db[i, 0][:, cols] = rng.normal(level, 0.5, (size, size))[:, cols]
            db[i, 1][:, cols] = db[i, 0][:, cols] - 7.0
            inputs[f"T/{tag}_{i}"] = {"VV": db[i, 0], "VH": db[i, 1]}
            properties[f"T/{tag}_{i}"] = {
                "system:time_start": day * DAY_MS + 3_600_000,
                "relativeOrbitNumber_start": track,
            }
        rows = pd.DataFrame({"track": [t for t, _, _, _ in scenes], "index": range(len(scenes))})
        frames[tag] = (db, rows)

    def collection(tag: str, n: int) -> ee.ImageCollection:
        images = [ee.Image(f"T/{tag}_{i}") for i in range(n)]
        return sentinel1.dated(ee.ImageCollection.fromImages(images))

    pre_c, post_c = collection("pre", 2), collection("post", 2)
    graphs = [
        sentinel1.shared_tracks(pre_c, post_c),
        sentinel1.shared_tracks(post_c, pre_c),
    ]
    evaluated = GraphEvaluator(inputs, properties=properties)(
        graph_tree(
            ee.List(
                [
                    item
                    for g, tag in zip(graphs, ("pre", "post"), strict=True)
                    for item in (sentinel1.mean_db(g, tag), sentinel1.observation_count(g, "n"))
                ]
            )
        )
    )
    expected = {
        "pre": shared_tracks(*frames["pre"], *frames["post"]),
        "post": shared_tracks(*frames["post"], *frames["pre"]),
    }
    means, counts = {}, {}
    for k, tag in enumerate(("pre", "post")):
        means[tag], counts[tag] = nan_mean(expected[tag][:, 0].astype(np.float32))
        np.testing.assert_allclose(evaluated[2 * k][f"{tag}VV"], means[tag], atol=1e-4)
        np.testing.assert_array_equal(evaluated[2 * k + 1]["n"], counts[tag])
    # by hand, the tracks each window keeps: 0-3 only 15 in the post (its 117 has no
    # baseline); 4-7 both in both; 8-9 only 15 in the baseline (its 117 has no post scene);
    # 10-11 the baseline whole (no post scene to compare with)
    assert (counts["post"][:, :4] == 1).all() and (counts["post"][:, 4:8] == 2).all()
    assert (counts["post"][:, 8:10] == 1).all() and (counts["post"][:, 10:] == 0).all()
    assert (counts["pre"][:, :4] == 1).all() and (counts["pre"][:, 4:8] == 2).all()
    assert (counts["pre"][:, 8:10] == 1).all() and (counts["pre"][:, 10:] == 2).all()
    change = means["post"][:, :10] - means["pre"][:, :10]
    assert np.abs(np.median(change)) < 0.5  # no change where the tracks match
    # teeth: without it the 3 dB between the tracks was half a change in 0-3 and 8-9
    whole_pre, _ = nan_mean(frames["pre"][0][:, 0].astype(np.float32))
    whole_post, _ = nan_mean(frames["post"][0][:, 0].astype(np.float32))
    assert np.median(whole_post[:, :4] - whole_pre[:, :4]) > 1.2
    assert np.median(whole_post[:, 8:10] - whole_pre[:, 8:10]) < -1.2


@pytest.mark.parametrize("n", [3, 10])
def test_the_dating_reads_the_newest_scenes_of_each_pixel_as_the_archive_does(n: int) -> None:
    """Sentinel-1 dating reads, per pixel, the newest ``n`` post-window scenes with VV there,
    whatever their track, those of one day together (``dating_scenes`` of both): chance
    confirmed every speckle object of a window of 20 scenes read whole."""
    from monitor.sources.archive_composite import dating_scenes

    rng = np.random.default_rng(11)
    size = 10
    # 14 scenes of two tracks, two pairs acquired on the same day, one seeing the west only
    days = [19900, 19903, 19906, 19906, 19909, 19912, 19915, 19918, 19921, 19921, 19924, 19927,
            19930, 19933]  # fmt: skip
    db = rng.normal(-11.0, 2.0, (len(days), size, size))
    db[12][:, 5:] = np.nan
    inputs: dict = {}
    properties: dict = {}
    for i, day in enumerate(days):
        inputs[f"T/d_{i}"] = {"VV": db[i], "VH": db[i] - 7.0}
        properties[f"T/d_{i}"] = {"system:time_start": day * DAY_MS + (i % 2) * 3_600_000}
    collection = ee.ImageCollection.fromImages([ee.Image(f"T/d_{i}") for i in range(len(days))])
    kept_graph = sentinel1.dating_scenes(collection, n)
    count, oldest = GraphEvaluator(inputs, properties=properties)(
        graph_tree(
            ee.List(
                [
                    sentinel1.observation_count(kept_graph, "n"),
                    kept_graph.map(lambda image: sentinel1._day(ee.Image(image))).min(),
                ]
            )
        )
    )
    kept = dating_scenes(db.astype(np.float32), np.asarray(days, float), n)
    np.testing.assert_array_equal(count["n"], np.isfinite(kept).sum(axis=0))
    first = np.where(np.isfinite(kept), np.asarray(days, float)[:, None, None], np.inf).min(0)
    np.testing.assert_array_equal(oldest["day"], first)
    # by hand: in the east, where the scene of day 19930 saw nothing, an older one steps in
    # (n = 3: from 19924 instead of 19927), and the pair of day 19906 comes in together
    # (n = 10: 11 scenes, from 19906; the west's 10 from 19909)
    west, east = {3: (3, 19927), 10: (10, 19909)}[n], {3: (3, 19924), 10: (11, 19906)}[n]
    assert (count["n"][:, :5] == west[0]).all() and (first[:, :5] == west[1]).all()
    assert (count["n"][:, 5:] == east[0]).all() and (first[:, 5:] == east[1]).all()
