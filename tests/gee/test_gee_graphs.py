"""Assertions on the serialised Earth Engine graphs that gee_scripts builds (no server)."""

from __future__ import annotations

import json
from typing import Any

import ee
import pytest
from ee import apitestcase

from gee_scripts import context, sentinel1, sentinel2
from gee_scripts.assembly import (
    FLAT_BANDS,
    STACK_BANDS,
    Availability,
    Compositing,
    availability_query,
    feature_image,
    parse_availability,
)
from gee_scripts.coverage import resolve_assets
from gee_scripts.offline import find_invocations, graph_tree
from gee_scripts.settings import AssetIds, CloudMaskSettings, DemSettings, GeeSettings, S1Settings
from models.change_statistics import DATING_SCENES
from models.feature_stack import COUNT_VARIABLES, DATING_VARIABLES, MODEL_BANDS

RING = [[9.90, 46.21], [9.96, 46.21], [9.96, 46.25], [9.90, 46.25], [9.90, 46.21]]
BOUNDS = (9.90, 46.21, 9.96, 46.25)
PRE = ("2024-07-17", "2024-08-16")
POST = ("2024-08-16", "2024-09-15")
ASSETS = AssetIds()
RESOLVED = resolve_assets("valtellina-alps", BOUNDS, GeeSettings())


def _geometry() -> ee.Geometry:
    return ee.Geometry.Polygon([RING])


def _calls(tree: Any, name: str) -> list[dict[str, Any]]:
    return list(find_invocations(tree, name))


def _loaded_ids(tree: Any) -> set[str]:
    return {
        c["args"]["id"] for fn in ("ImageCollection.load", "Image.load") for c in _calls(tree, fn)
    }


def _date_windows(tree: Any) -> set[tuple[str, str]]:
    return {(c["args"]["start"], c["args"]["end"]) for c in _calls(tree, "DateRange")}


def _windows_by_collection(tree: Any) -> set[tuple[str, str, str]]:
    """(collection ID, start, end) of every date filter, following the filter chain down."""
    out = set()
    for node in _calls(tree, "Collection.filter"):
        date = node["args"]["filter"]
        if date.get("fn") != "Filter.dateRangeContains":
            continue
        source = node["args"]["collection"]
        while source.get("fn") == "Collection.filter":
            source = source["args"]["collection"]
        window = date["args"]["leftValue"]["args"]
        out.add((source["args"]["id"], window["start"], window["end"]))
    return out


def _filters(tree: Any, name: str) -> dict[str, Any]:
    return {c["args"]["leftField"]: c["args"]["rightValue"] for c in _calls(tree, name)}


# -- Sentinel-2 ----------------------------------------------------------------------------------
def test_s2_collection_by_bounds_and_window() -> None:
    tree = graph_tree(sentinel2.s2_collection(_geometry(), *POST, ASSETS))
    assert _loaded_ids(tree) == {"COPERNICUS/S2_SR_HARMONIZED"}
    assert _date_windows(tree) == {POST}
    (bounds,) = _calls(tree, "Filter.intersects")
    polygon = bounds["args"]["rightValue"]["args"]["geometry"]
    assert polygon["fn"] == "GeometryConstructors.Polygon"
    assert polygon["args"]["coordinates"] == [RING]


def test_cloud_score_plus_mask_and_greenest_pixel() -> None:
    raw = sentinel2.s2_collection(_geometry(), *POST, ASSETS)
    masked = sentinel2.masked_collection(raw, CloudMaskSettings(cs_cdf_threshold=0.65), ASSETS)
    tree = graph_tree(sentinel2.greenest_pixel(masked))
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED" in _loaded_ids(tree)
    (link,) = _calls(tree, "Image.linkCollection")
    assert link["args"]["linkedBands"] == ["cs_cdf"]
    (threshold,) = _calls(tree, "Image.gte")
    assert threshold["args"]["image2"]["args"]["value"] == 0.65
    # Quality mosaic on NDVI = (nir - red) / (nir + red) from B8 and B4 (reflectance / 10 000).
    (mosaic,) = _calls(tree, "ImageCollection.qualityMosaic")
    assert mosaic["args"]["qualityBand"] == "NDVI"
    (nd,) = _calls(tree, "Image.normalizedDifference")
    assert nd["args"]["bandNames"] == ["nir", "red"]
    select = next(
        c
        for c in _calls(tree, "Image.select")
        if c["args"].get("newNames") == ["red", "green", "blue", "nir"]
    )
    assert select["args"]["bandSelectors"] == ["B4", "B3", "B2", "B8"]
    scale = next(c for c in _calls(tree, "Image.divide") if c["args"]["image1"] is select)
    assert scale["args"]["image2"]["args"]["value"] == 10_000
    assert tree["fn"] == "Image.select"
    assert tree["args"]["bandSelectors"] == ["NDVI", "red", "green", "blue", "day"]


def test_s2cloudless_option_masks_probability_and_projected_shadow() -> None:
    raw = sentinel2.s2_collection(_geometry(), *PRE, ASSETS)
    cloud = CloudMaskSettings(method="s2cloudless", cloud_probability=35)
    tree = graph_tree(sentinel2.masked_collection(raw, cloud, ASSETS))
    assert "COPERNICUS/S2_CLOUD_PROBABILITY" in _loaded_ids(tree)
    assert "GOOGLE/CLOUD_SCORE_PLUS/V1/S2_HARMONIZED" not in _loaded_ids(tree)
    (link,) = _calls(tree, "Image.linkCollection")
    assert link["args"]["linkedBands"] == ["probability"]
    assert any(c["args"]["image2"]["args"].get("value") == 35 for c in _calls(tree, "Image.gt"))
    (ddt,) = _calls(tree, "Image.directionalDistanceTransform")
    assert ddt["args"]["maxDistance"] == 15  # 1500 m in 100 m pixels
    assert any(
        c["args"]["property"] == "MEAN_SOLAR_AZIMUTH_ANGLE" for c in _calls(tree, "Element.get")
    )


def test_clear_count_is_unmasked_zero() -> None:
    raw = sentinel2.s2_collection(_geometry(), *PRE, ASSETS)
    masked = sentinel2.masked_collection(raw, CloudMaskSettings(), ASSETS)
    tree = graph_tree(sentinel2.clear_count(masked, "s2_clear_pre"))
    assert tree["fn"] == "Image.rename" and tree["args"]["names"] == ["s2_clear_pre"]
    # distinct clear days of the acquisition-day band, not images: the MGRS tiles of one
    # datatake overlap (tests/gee/test_gee_s2_numeric.py counts such a strip)
    (count,) = _calls(tree, "ImageCollection.reduce")
    assert count["args"]["reducer"]["fn"] == "Reducer.countDistinct"
    selects = _calls(tree, "Image.select")
    assert [c for c in selects if c["args"].get("bandSelectors") == ["day"]]
    (unmask,) = _calls(tree, "Image.unmask")
    assert unmask["args"]["value"]["args"]["value"] == 0 and unmask["args"]["input"] is count


# -- Sentinel-1 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("orbit_pass", "expected"),
    [("ascending", "ASCENDING"), ("descending", "DESCENDING"), ("both", None)],
)
def test_s1_collection_filters(orbit_pass: str, expected: str | None) -> None:
    tree = graph_tree(sentinel1.s1_collection(_geometry(), *PRE, orbit_pass, ASSETS))
    assert _loaded_ids(tree) == {"COPERNICUS/S1_GRD_FLOAT"}
    assert _date_windows(tree) == {PRE}
    equals = _filters(tree, "Filter.equals")
    assert equals["instrumentMode"] == "IW" and equals["resolution_meters"] == 10
    assert equals.get("orbitProperties_pass") == expected
    pols = {c["args"]["rightValue"] for c in _calls(tree, "Filter.listContains")}
    assert pols == {"VV", "VH"}


def test_s1_orbit_pass_is_checked() -> None:
    with pytest.raises(ValueError, match="orbit_pass must be ascending, descending or both"):
        sentinel1.s1_collection(_geometry(), *PRE, "sideways", ASSETS)


def _s1_tree(s1: S1Settings) -> Any:
    raw = sentinel1.s1_collection(_geometry(), *POST, "descending", ASSETS)
    dem = context.dem_image(RESOLVED.elevation)
    flattened = sentinel1.flattened_collection(raw, dem, s1, context.landcover(RESOLVED.landcover))
    return graph_tree(sentinel1.median_db(flattened, "post"))


def test_s1_edge_mask_flattening_and_median_in_db() -> None:
    tree = _s1_tree(S1Settings())
    assert tree["fn"] == "Image.rename" and tree["args"]["names"] == ["postVV", "postVH"]
    assert _calls(tree, "reduce.median")
    # Border noise: incidence angle inside (30.63993°, 45.23993°) and VV above -30 dB, i.e. 10^-3
    # in the linear power of S1_GRD_FLOAT.
    gt_values = {c["args"]["image2"]["args"].get("value") for c in _calls(tree, "Image.gt")}
    lt_values = {c["args"]["image2"]["args"].get("value") for c in _calls(tree, "Image.lt")}
    assert 30.63993 in gt_values and 45.23993 in lt_values
    assert any(v == pytest.approx(1e-3, rel=1e-12) for v in gt_values if isinstance(v, float))
    # Linear power from the collection itself: no dB -> linear step; 10·log10 after flattening.
    assert not _calls(tree, "Image.exp") and not _calls(tree, "Image.pow")
    assert _calls(tree, "Image.log10")
    log10 = _calls(tree, "Image.log10")[0]
    times_ten = next(c for c in _calls(tree, "Image.multiply") if c["args"]["image1"] is log10)
    assert times_ten["args"]["image2"]["args"]["value"] == 10
    # Terrain flattening on SRTM, the model chosen by WorldCover, no speckle filter by default.
    assert {"USGS/SRTMGL1_003", "ESA/WorldCover/v200"} <= _loaded_ids(tree)
    assert _calls(tree, "Image.where")
    assert _calls(tree, "Terrain.slope") and _calls(tree, "Terrain.aspect")
    assert not _calls(tree, "Image.reduceNeighborhood")


@pytest.mark.parametrize(("name", "reducers"), [("boxcar", 1), ("lee", 2)])
def test_speckle_filters(name: str, reducers: int) -> None:
    tree = _s1_tree(S1Settings(speckle_filter=name, speckle_kernel_px=7))
    (neighbourhood,) = _calls(tree, "Image.reduceNeighborhood")
    (kernel,) = _calls(neighbourhood, "Kernel.square")
    assert kernel["args"]["radius"] == 3
    used = {c["fn"] for c in find_invocations(neighbourhood["args"]["reducer"])}
    assert ("Reducer.variance" in used) == (reducers == 2)


# -- context --------------------------------------------------------------------------------
def _dem_tree(
    region: str, dem: DemSettings, bounds: tuple[float, float, float, float] = BOUNDS
) -> Any:
    resolved = resolve_assets(region, bounds, GeeSettings(dem=dem))
    return graph_tree(context.dem_image(resolved.elevation))


def test_dem_choices_and_region_override() -> None:
    srtm = _dem_tree("r", DemSettings())
    assert _loaded_ids(srtm) == {"USGS/SRTMGL1_003"}
    glo = _dem_tree("r", DemSettings(source="copernicus_glo30"))
    assert _loaded_ids(glo) == {"COPERNICUS/DEM/GLO30_2024_1"}
    assert _calls(glo, "ImageCollection.mosaic") and _calls(glo, "Image.setDefaultProjection")
    dem = DemSettings(overrides={"north": "projects/p/assets/islandsdem_10m"})
    override = _dem_tree("north", dem)
    assert _loaded_ids(override) == {"projects/p/assets/islandsdem_10m"}
    assert _loaded_ids(_dem_tree("south", dem)) == {"USGS/SRTMGL1_003"}


def test_landcover_climate_canopy() -> None:
    lc = graph_tree(context.landcover(RESOLVED.landcover))
    assert _loaded_ids(lc) == {"ESA/WorldCover/v200"}
    assert lc["args"]["bandSelectors"] == ["Map"] and lc["args"]["newNames"] == ["landcover"]
    kg_missing = graph_tree(context.kg_climate(RESOLVED.kg_climate))
    assert not _loaded_ids(kg_missing) and _calls(kg_missing, "Image.updateMask")
    with_kg = GeeSettings(assets=AssetIds(kg_climate="projects/p/assets/kg_1986_2010"))
    kg = graph_tree(context.kg_climate(resolve_assets("r", BOUNDS, with_kg).kg_climate))
    assert _loaded_ids(kg) == {"projects/p/assets/kg_1986_2010"}
    canopy = graph_tree(context.canopy_height(RESOLVED.canopy_height))
    assert _loaded_ids(canopy) == {"users/potapovpeter/GEDI_V27"}
    assert any(c["args"]["image2"]["args"]["value"] == 103 for c in _calls(canopy, "Image.neq"))


# -- assembly -------------------------------------------------------------------------------
FULL = Availability(("2024-07-20",), ("2024-08-25",), ("2024-07-22",), ("2024-08-27",))


def _feature_tree(
    availability: Availability = FULL, compositing: Compositing | None = None, **settings: Any
) -> Any:
    image = feature_image(
        _geometry(),
        PRE,
        POST,
        orbit_pass="ascending",
        settings=GeeSettings(**settings),
        availability=availability,
        assets=resolve_assets("valtellina-alps", BOUNDS, GeeSettings(**settings)),
        compositing=compositing,
    )
    return graph_tree(image)


def test_both_windows_optical_scenes_are_masked_where_their_sun_leaves_the_ground_in_shadow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The detection's Sentinel-2 scenes are masked in self-shadow from the region's DEM, in
    both windows and both modes (tests/gee/test_gee_s2_numeric.py evaluates the mask): each
    window's masked collection is built with the elevation the stack's own layer is."""
    built = sentinel2.masked_collection
    given: list[Any] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        given.append(args[3] if len(args) > 3 else kwargs.get("elevation"))
        return built(*args, **kwargs)

    monkeypatch.setattr(sentinel2, "masked_collection", recording)
    for compositing in (None, Compositing("monitoring", 1)):
        given.clear()
        tree = _feature_tree(compositing=compositing)
        assert len(given) == 2 and all(e is not None for e in given)  # the pre and the post
        elevations = {json.dumps(graph_tree(e), sort_keys=True) for e in given}
        assert len(elevations) == 1
        sun = [c["args"]["property"] for c in _calls(tree, "Element.get")]
        assert "MEAN_SOLAR_ZENITH_ANGLE" in sun


def test_monitoring_composites_latest_clear_and_last_scenes_per_track() -> None:
    event, monitoring = _feature_tree(), _feature_tree(compositing=Compositing("monitoring", 3))
    quality = [c["args"]["qualityBand"] for c in _calls(event, "ImageCollection.qualityMosaic")]
    assert sorted(quality) == ["NDVI", "NDVI", "day"]  # greenest pixels; the newest S1 scene
    quality = [
        c["args"]["qualityBand"] for c in _calls(monitoring, "ImageCollection.qualityMosaic")
    ]
    # greenest baseline, latest clear post image, the newest S1 scene of the post image
    assert sorted(quality) == ["NDVI", "day", "day"]
    # Sentinel-1: means in dB instead of medians, the post image from the last 3 per track
    assert len(_calls(event, "reduce.median")) == 2 and not _calls(event, "Collection.limit")
    assert not _calls(monitoring, "reduce.median")
    assert len(_calls(monitoring, "reduce.mean")) >= 2
    # the last 3 acquisition *days* of each track, not the last 3 images: a pass on a GRD slice
    # boundary is two images of one day, and both are kept (the mean in dB mosaics them)
    assert not _calls(monitoring, "Collection.limit")
    # ... and mosaicked into one acquisition per track and day first, in both windows and modes
    # (sentinel1.acquisitions: counted as images, the slices' overlap held the pass twice)
    for tree in (event, monitoring):
        keys = [c["args"]["properties"] for c in _calls(tree, "Collection.distinct")]
        pass_keys = [k for k in keys if k != ["relativeOrbitNumber_start"]]
        assert pass_keys == [["relativeOrbitNumber_start", "acquisition_day"]] * 2
        # the geometry layers reduce per track first (sentinel1.per_track), as the archive
        assert keys.count(["relativeOrbitNumber_start"]) == 1
    # per pixel, the last 3 acquisitions of each track that saw it: one keeps a pixel where
    # fewer than 3 later acquisitions of its track (acquisition_day greater) saw it
    fewer = [
        c["args"]["image2"]
        for c in _calls(monitoring, "Image.lt")
        if c["args"]["image1"]["fn"] == "Image.unmask"
        and c["args"]["image1"]["args"]["input"]["fn"] == "reduce.count"
    ]
    # ... and, for the dating of both modes, the newest DATING_SCENES scenes of any track
    # (sentinel1.dating_scenes)
    assert sorted(f["args"]["value"] for f in fewer) == [3, DATING_SCENES]
    assert all(f["fn"] == "Image.constant" for f in fewer)
    later = [
        c
        for c in _calls(monitoring, "Filter.greaterThan")
        if c["args"]["leftField"] == "acquisition_day"
    ]
    assert len(later) == 1
    for tree in (event, monitoring):
        # the dating's newest scenes: those of the next UTC day on counted as later
        later_days = [
            c
            for c in _calls(tree, "Filter.greaterThan")
            if c["args"]["leftField"] == "system:time_start"
            and isinstance(c["args"]["rightValue"], dict)
            and c["args"]["rightValue"]["fn"] == "Number.subtract"
            and c["args"]["rightValue"]["args"]["right"] == 1  # the day's last millisecond
        ]
        assert len(later_days) == 1
    assert later[0]["args"]["rightValue"]["args"]["property"] == "acquisition_day"
    # ... the same track (equals), not a list of tracks' days ranked (the scene-level choice)
    assert any(
        c["args"]["leftField"] == "relativeOrbitNumber_start"
        and c["args"]["rightValue"]["args"]["property"] == "relativeOrbitNumber_start"
        for c in _calls(monitoring, "Filter.equals")
        if isinstance(c["args"]["rightValue"], dict)
    )
    tracks = _calls(monitoring, "AggregateFeatureCollection.array")
    assert {t["args"]["property"] for t in tracks} == {"system:time_start"}  # dated's passes
    # a pass is of its first slice's day and time (slices on both sides of 00:00 UTC)
    firsts = [
        c
        for c in _calls(monitoring, "List.reduce")
        if c["args"]["list"]["fn"] == "AggregateFeatureCollection.array"
        and c["args"]["list"]["args"]["property"] == "system:time_start"
    ]
    assert firsts and {c["args"]["reducer"]["fn"] for c in firsts} == {"Reducer.min"}
    assert monitoring["args"]["names"] == list(FLAT_BANDS)
    # and per pixel both windows over the tracks both saw (sentinel1.shared_tracks; found on a
    # walk), in monitoring only: event mode's medians are the paper's. Each window keeps a
    # pixel where the other saw it with the image's track (a count of views > 0) or with none
    for tree, expected in ((monitoring, 4), (event, 0)):
        seen = [
            c
            for c in _calls(tree, "Image.gt")
            if c["args"]["image1"]["fn"] == "Image.unmask"
            and c["args"]["image1"]["args"]["input"]["fn"] == "reduce.count"
        ]
        assert len(seen) == expected
    # ... and the geometry layers over every scene of both windows, as the archive's (found in
    # review: over the shared tracks they lost the post window's other tracks)
    (geometry_tracks,) = [
        c
        for c in _calls(monitoring, "Collection.distinct")
        if c["args"]["properties"] == ["relativeOrbitNumber_start"]
    ]
    scenes = geometry_tracks["args"]["collection"]
    assert scenes["fn"] == "ImageCollection.merge"
    assert not [
        c
        for c in find_invocations(scenes, "Image.gt")
        if c["args"]["image1"]["fn"] == "Image.unmask"
        and c["args"]["image1"]["args"]["input"]["fn"] == "reduce.count"
    ]


def test_feature_image_band_names_and_order() -> None:
    tree = _feature_tree()
    assert tree["fn"] == "Image.rename"
    assert tree["args"]["names"] == list(FLAT_BANDS)
    assert FLAT_BANDS[:15] == MODEL_BANDS
    assert STACK_BANDS[-4:] == COUNT_VARIABLES
    assert (*STACK_BANDS, *DATING_VARIABLES, "s2_day_pre", "s2_day_post") == FLAT_BANDS
    assert _date_windows(tree) == {PRE, POST}
    stamp = _calls(tree, "Element.set")[0]
    assert stamp["args"]["key"] == "system:time_start"


def _first_band_names(node: Any) -> list[str]:
    """The band names an image node carries: its first rename or select on the way down."""
    for inv in find_invocations(node):
        if inv["fn"] == "Image.rename":
            return list(inv["args"]["names"])
        if inv["fn"] == "Image.select":
            return list(inv["args"].get("newNames") or inv["args"]["bandSelectors"])
    return []


def test_continuous_layers_bilinear_class_maps_nearest() -> None:
    tree = _feature_tree()
    resampled = {}
    for node in _calls(tree, "Image.resample"):
        for name in _first_band_names(node["args"]["image"]):
            resampled[name] = node["args"]["mode"]
    # elevation (which terrain flattening reprojects too), slope, canopy height and the S1
    # incidence angle: bilinear; class maps and measured bands: none (nearest).
    assert resampled == {
        "elevation": "bilinear",
        "slope": "bilinear",
        "canopy_height": "bilinear",
        "angle": "bilinear",
    }


def _mosaics_of_resampled_images(tree: Any) -> list[dict[str, Any]]:
    """The mosaics whose collection maps each image through ``Image.resample`` last."""
    out = []
    for mosaic in _calls(tree, "ImageCollection.mosaic"):
        collection = mosaic["args"]["collection"]
        if collection["fn"] == "Collection.map":
            body = collection["args"]["baseAlgorithm"]["body"]
            if body["fn"] == "Image.resample" and body["args"]["mode"] == "bilinear":
                out.append(mosaic)
    return out


@pytest.mark.parametrize(
    ("bounds", "products"),
    [
        (BOUNDS, {"users/potapovpeter/GEDI_V27"}),
        ((14.0, 64.9, 14.1, 65.0), {"users/potapovpeter/GEDI_V25_Boreal"}),
        (
            (9.9, 51.95, 9.96, 52.05),
            {"users/potapovpeter/GEDI_V27", "users/potapovpeter/GEDI_V25_Boreal"},
        ),
    ],
)
def test_canopy_graph_resamples_each_image_before_the_mosaic(
    bounds: tuple[float, float, float, float], products: set[str]
) -> None:
    resolved = resolve_assets("r", bounds, GeeSettings())
    tree = graph_tree(context.canopy_height(resolved.canopy_height))
    assert _loaded_ids(tree) == products
    (mosaic,) = _calls(tree, "ImageCollection.mosaic")
    assert _mosaics_of_resampled_images(tree) == [mosaic]
    # The codes are handled on each image, before it is interpolated: 101/102 -> 0, 103 masked.
    body = mosaic["args"]["collection"]["args"]["baseAlgorithm"]["body"]
    codes = body["args"]["image"]
    assert codes["fn"] == "Image.toFloat"
    assert codes["args"]["value"]["fn"] == "Image.updateMask"
    assert codes["args"]["value"]["args"]["image"]["fn"] == "Image.where"
    # The mosaic keeps a default projection (the first image's), so it can be reprojected.
    assert tree["fn"] == "Image.setDefaultProjection" and tree["args"]["image"] is mosaic


_COMPOSITES = ("ImageCollection.mosaic", "ImageCollection.qualityMosaic", "reduce.")


def _composite_under(node: Any) -> str | None:
    """The first composite an image node is computed from, not counting those whose default
    projection was set again (``setDefaultProjection``: the image then has a native grid)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict) and "fn" in current:
            if current["fn"] == "Image.setDefaultProjection":
                continue
            if current["fn"].startswith(_COMPOSITES):
                return str(current["fn"])
            stack.extend(current["args"].values())
    return None


def test_no_resample_of_a_composite_anywhere_in_the_feature_image() -> None:
    """Image.resample has no effect on a composite: every resample acts on an image with a
    native grid (one image, or a mosaic of resampled images given a default projection)."""
    for dem in (DemSettings(), DemSettings(source="copernicus_glo30")):
        tree = _feature_tree(dem=dem)
        resamples = _calls(tree, "Image.resample")
        assert len(resamples) >= 4
        for node in resamples:
            assert _composite_under(node["args"]["image"]) is None, _first_band_names(node)


def test_the_glo30_mosaic_takes_the_projection_of_a_tile_over_the_region() -> None:
    """GLO-30 tiles widen their longitude spacing with latitude: the projection slope is
    computed in came from the first tile of the whole world, not one over the region."""
    resolved = resolve_assets("r", BOUNDS, GeeSettings(dem=DemSettings(source="copernicus_glo30")))
    region = ee.Geometry.Rectangle(list(BOUNDS))
    tree = graph_tree(context.dem_image(resolved.elevation, region))
    (default,) = _calls(tree, "Image.setDefaultProjection")
    first = default["args"]["crs"]["args"]["image"]
    assert first["fn"] == "Collection.first"
    local = first["args"]["collection"]
    assert local["fn"] == "Collection.filter"
    assert local["args"]["filter"]["fn"] == "Filter.intersects"
    corners = json.dumps(local["args"]["filter"]["args"]["rightValue"])
    assert str(BOUNDS[0]) in corners and str(BOUNDS[3]) in corners


def test_glo30_tiles_are_resampled_before_the_mosaic() -> None:
    tree = _dem_tree("r", DemSettings(source="copernicus_glo30"))
    (mosaic,) = _calls(tree, "ImageCollection.mosaic")
    assert _mosaics_of_resampled_images(tree) == [mosaic]


def test_heading_is_reduced_over_the_raw_scene_footprint() -> None:
    tree = _s1_tree(S1Settings())
    (flattening,) = [
        m
        for m in _calls(tree, "Collection.map")
        if _loaded_ids(m["args"]["collection"]) == {"COPERNICUS/S1_GRD_FLOAT"}
        and m["args"]["collection"]["fn"] == "Collection.filter"
    ]
    (scene,) = flattening["args"]["baseAlgorithm"]["params"]
    (reduction,) = _calls(tree, "Image.reduceRegion")
    footprint = {"fn": "Image.geometry", "args": {"feature": {"ref": scene}}}
    assert reduction["args"]["geometry"] == footprint
    assert reduction["args"]["scale"] == 1000


def test_feature_image_differences_are_post_minus_pre() -> None:
    tree = _feature_tree()
    (dndvi,) = [c for c in _calls(tree, "Image.rename") if c["args"]["names"] == ["dNDVI"]]
    diff = dndvi["args"]["input"]
    assert diff["fn"] == "Image.subtract"
    assert diff["args"]["image1"]["args"]["newNames"] == ["postNDVI"]
    assert diff["args"]["image2"]["args"]["newNames"] == ["preNDVI"]
    (dsar,) = [c for c in _calls(tree, "Image.rename") if c["args"]["names"] == ["dVV", "dVH"]]
    diff = dsar["args"]["input"]
    assert diff["args"]["image1"]["args"]["names"] == ["postVV", "postVH"]
    assert diff["args"]["image2"]["args"]["names"] == ["preVV", "preVH"]


def test_missing_optical_window_keeps_the_sar_path() -> None:
    no_post_s2 = Availability(("2024-07-20",), (), ("2024-07-22",), ("2024-08-27",))
    tree = _feature_tree(no_post_s2)
    assert _windows_by_collection(tree) == {
        ("COPERNICUS/S2_SR_HARMONIZED", *PRE),
        ("COPERNICUS/S1_GRD_FLOAT", *PRE),
        ("COPERNICUS/S1_GRD_FLOAT", *POST),
    }
    # Only one S2 qualityMosaic (pre) beside S1's newest scene; S1 medians for both windows.
    quality = [c["args"]["qualityBand"] for c in _calls(tree, "ImageCollection.qualityMosaic")]
    assert sorted(quality) == ["NDVI", "day"]
    assert len(_calls(tree, "reduce.median")) == 2  # VV/VH pre, VV/VH post
    assert tree["args"]["names"] == list(FLAT_BANDS)


def test_no_sar_at_all_masks_the_geometry_layers() -> None:
    tree = _feature_tree(Availability(("2024-07-20",), ("2024-08-25",), (), ()))
    assert "COPERNICUS/S1_GRD_FLOAT" not in _loaded_ids(tree)
    masked = [
        c
        for c in _calls(tree, "Image.rename")
        if c["args"]["names"] == ["layover", "shadow", "liaDeg"]
    ]
    assert masked and masked[0]["args"]["input"]["fn"] == "Image.updateMask"


def test_availability_query_and_answer() -> None:
    tree = graph_tree(availability_query(_geometry(), PRE, POST, "descending", GeeSettings()))
    assert set(tree) == {"s2_dates_pre", "s2_dates_post", "s1_dates_pre", "s1_dates_post"}
    assert _date_windows(tree["s1_dates_post"]) == {POST}
    assert _filters(tree["s1_dates_post"], "Filter.equals")["orbitProperties_pass"] == "DESCENDING"
    fmt = _calls(tree["s2_dates_pre"], "Date.format")[0]
    assert fmt["args"]["format"] == "YYYY-MM-dd"
    av = parse_availability(
        {
            "s2_dates_pre": ["2024-07-20"],
            "s2_dates_post": [],
            "s1_dates_pre": [],
            "s1_dates_post": [],
        }
    )
    assert av.any_data and av.s2_dates_pre == ("2024-07-20",) and av.s1_dates_post == ()
    with pytest.raises(ValueError, match="lacks s1_dates_post"):
        parse_availability({"s2_dates_pre": [], "s2_dates_post": [], "s1_dates_pre": []})


def test_the_sign_check_takes_the_earliest_scene_of_its_window() -> None:
    """`first()` of a collection is in collection order, not time: the check flattened any
    scene of the window."""
    from gee_scripts.assembly import sign_check_scene

    image = sign_check_scene(
        ee.Geometry.Rectangle(list(BOUNDS)),
        ("2024-08-01", "2024-08-13"),
        orbit_pass="descending",
        settings=GeeSettings(),
        assets=RESOLVED,
    )
    tree = graph_tree(image)
    firsts = [
        c for c in _calls(tree, "Collection.first")
        if _loaded_ids(c["args"]["collection"]) == {"COPERNICUS/S1_GRD_FLOAT"}
    ]  # fmt: skip
    assert firsts and all(
        c["args"]["collection"]["fn"] == "Collection.limit"
        and c["args"]["collection"]["args"]["key"] == "system:time_start"
        for c in firsts
    )


def _signature_problems(tree: Any) -> list[str]:
    """Every call in ``tree`` against the algorithm signatures in the earthengine-api wheel
    (``ee/tests/algorithms.json``): names that are no argument of the algorithm, required
    arguments left out, and fractional numbers given for an ``Integer`` or ``Long`` argument.
    The client builds a graph with any of these; only the server refuses it."""
    signatures = apitestcase.GetAlgorithms()
    problems = []
    for call in find_invocations(tree):
        name = call["fn"]
        if not isinstance(name, str):  # a call of a function defined in the graph
            continue
        if name not in signatures:
            problems.append(f"{name}: no such algorithm")
            continue
        arguments = {a["name"]: a for a in signatures[name]["args"]}
        for key, value in call["args"].items():
            if key not in arguments:
                problems.append(f"{name}: no argument {key!r} (has {sorted(arguments)})")
            elif arguments[key]["type"] in ("Integer", "Long") and isinstance(value, float):
                problems.append(f"{name}: {key} is an {arguments[key]['type']}, given {value!r}")
        problems += [
            f"{name}: required argument {key!r} missing"
            for key, argument in arguments.items()
            if not argument.get("optional") and key not in call["args"]
        ]
    return sorted(set(problems))


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {
            "cloud_mask": {
                "method": "s2cloudless",
                "shadow_projection_m": 1250.0,
                "cloud_buffer_m": 45.0,
            }
        },
        {"s1": {"speckle_filter": "lee", "speckle_kernel_px": 7, "layover_shadow_buffer_m": 15}},
        {"s1": {"speckle_filter": "boxcar", "terrain_model": "surface"}},
        {"dem": {"source": "copernicus_glo30"}},
    ],
)
def test_every_call_matches_the_algorithm_signatures(settings: dict[str, Any]) -> None:
    """A wrong keyword or an Integer argument given 12.5 builds and serialises offline and
    fails only on the server: every call of both compositings is checked against the wheel's
    signatures."""
    for compositing in (None, Compositing("monitoring", 3)):
        assert _signature_problems(_feature_tree(compositing=compositing, **settings)) == []


def test_the_sign_check_matches_the_algorithm_signatures() -> None:
    from gee_scripts.assembly import sign_check_scene

    image = sign_check_scene(
        _geometry(), POST, orbit_pass="ascending", settings=GeeSettings(), assets=RESOLVED
    )
    assert _signature_problems(graph_tree(image)) == []


def test_the_shadow_search_is_whole_100_m_pixels() -> None:
    """directionalDistanceTransform's maxDistance is an Integer (pixels of the 100 m grid): a
    projection that is no multiple of 100 m is rounded to whole pixels, at least one, as the
    archive's ``CloudMaskParams.shadow_distance_m`` is (``monitor.sources.composite``)."""
    raw = sentinel2.s2_collection(_geometry(), *PRE, ASSETS)
    # under 50 m the archive still searches one step: so does Earth Engine (it asked 0)
    for metres, pixels in ((1500.0, 15), (1250.0, 12), (1260.0, 13), (80.0, 1), (40.0, 1)):
        cloud = CloudMaskSettings(method="s2cloudless", shadow_projection_m=metres)
        tree = graph_tree(sentinel2.masked_collection(raw, cloud, ASSETS))
        (ddt,) = _calls(tree, "Image.directionalDistanceTransform")
        assert ddt["args"]["maxDistance"] == pixels
        assert isinstance(ddt["args"]["maxDistance"], int)
