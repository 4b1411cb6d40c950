"""Assembly of the feature stack as one Earth Engine image, and the availability probe.

The image has one band per 2-D layer of the feature stack, in :data:`STACK_BANDS` order: the 15
model bands (Ganerød et al. Table 2; names, order and units of ``models.feature_stack``),
``preNDVI``, ``postNDVI``, the true-colour composites as three bands each and the four
observation counts; then :data:`DAY_BANDS`, the acquisition day each greenest pixel came from
(for the "dates actually used" attributes). :mod:`gee_scripts.fetch` turns the fetched bands
back into the stack.

Radar geometry layers follow the archive (``monitor.sources.archive``): ``layover``/``shadow`` are
1 where every scene of both windows is masked by layover/shadow (the no-data areas of VV/VH,
Ganerød et al. Table 2) and one of them had layover/shadow there; ``liaDeg`` is the mean over
relative orbits (tracks) of each track's mean local incidence angle, of the tracks not masked
there (of all tracks where all are masked).

A sensor/window without any scene gets a fully masked stand-in (NaN once fetched, count 0), so
that the other sensor's path still runs; :func:`availability_query` says beforehand what is there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ee

from gee_scripts import context, sentinel1, sentinel2
from gee_scripts.coverage import ResolvedAssets
from gee_scripts.settings import GeeSettings
from gee_scripts.terrain_flattening import sign_check_image
from models.change_statistics import Compositing
from models.feature_stack import COUNT_VARIABLES, DATING_VARIABLES, MODEL_BANDS, RGB_CHANNELS

__all__ = [
    "DATING_BANDS",
    "DAY_BANDS",
    "FLAT_BANDS",
    "RGB_BANDS",
    "STACK_BANDS",
    "Availability",
    "Compositing",
    "Window",
    "availability_query",
    "feature_image",
    "parse_availability",
    "sign_check_scene",
]

RGB_BANDS: tuple[str, ...] = RGB_CHANNELS  # the flat bands pre_rgb_red, ... post_rgb_blue
COUNT_BANDS: tuple[str, ...] = COUNT_VARIABLES
STACK_BANDS: tuple[str, ...] = (
    *MODEL_BANDS,
    "preNDVI",
    "postNDVI",
    *(f"pre_rgb_{c}" for c in RGB_BANDS),
    *(f"post_rgb_{c}" for c in RGB_BANDS),
    *COUNT_BANDS,
)
DAY_BANDS: tuple[str, ...] = ("s2_day_pre", "s2_day_post")  # days since 1970-01-01, NaN if none
DATING_BANDS: tuple[str, ...] = DATING_VARIABLES  # event dating per sensor (days), NaN if unknown
FLAT_BANDS: tuple[str, ...] = (*STACK_BANDS, *DATING_BANDS, *DAY_BANDS)

Window = tuple[str, str]  # ISO dates, start inclusive, end exclusive


@dataclass(frozen=True)
class Availability:
    """Acquisition dates (``YYYY-MM-DD``) per sensor and window, as the server reports them."""

    s2_dates_pre: tuple[str, ...]
    s2_dates_post: tuple[str, ...]
    s1_dates_pre: tuple[str, ...]
    s1_dates_post: tuple[str, ...]

    @property
    def any_data(self) -> bool:
        return any((self.s2_dates_pre, self.s2_dates_post, self.s1_dates_pre, self.s1_dates_post))


def _dates(collection: ee.ImageCollection) -> ee.List:
    return (
        collection.aggregate_array("system:time_start")
        .map(lambda t: ee.Date(t).format("YYYY-MM-dd"))
        .distinct()
        .sort()
    )


def _pass_dates(collection: ee.ImageCollection) -> ee.List:
    """The days of the Sentinel-1 passes in ``collection``, each pass by the day of its first
    slice (:func:`sentinel1.dated`): a pass across 00:00 UTC is one date, as the stack's
    acquisitions count it and the archive lists it."""
    return (
        sentinel1.dated(collection)
        .aggregate_array(sentinel1.PASS_DAY)
        .distinct()
        .sort()
        .map(
            lambda day: ee.Date(ee.Number(day).multiply(sentinel2.MS_PER_DAY)).format("YYYY-MM-dd")
        )
    )


def availability_query(
    geometry: ee.Geometry, pre: Window, post: Window, orbit_pass: str, settings: GeeSettings
) -> ee.Dictionary:
    """One request's worth: the acquisition dates of S2 and S1 in both windows."""
    a = settings.assets
    return ee.Dictionary(
        {
            "s2_dates_pre": _dates(sentinel2.s2_collection(geometry, *pre, a)),
            "s2_dates_post": _dates(sentinel2.s2_collection(geometry, *post, a)),
            "s1_dates_pre": _pass_dates(sentinel1.s1_collection(geometry, *pre, orbit_pass, a)),
            "s1_dates_post": _pass_dates(sentinel1.s1_collection(geometry, *post, orbit_pass, a)),
        }
    )


def parse_availability(info: dict[str, Any]) -> Availability:
    """:class:`Availability` from the ``getInfo`` answer to :func:`availability_query`."""
    fields = ("s2_dates_pre", "s2_dates_post", "s1_dates_pre", "s1_dates_post")
    missing = [f for f in fields if f not in info]
    if missing:
        raise ValueError(f"availability answer lacks {', '.join(missing)}: {sorted(info)}")
    return Availability(**{f: tuple(str(d) for d in info[f]) for f in fields})


def _zeros(names: Sequence[str]) -> ee.Image:
    return ee.Image.constant([0.0] * len(names)).toFloat().rename(list(names))


def _geometry_layers(scenes: ee.ImageCollection) -> ee.Image:
    """``layover``, ``shadow`` and ``liaDeg`` over all flattened scenes (see the module)."""

    def masked(image: ee.Image) -> ee.Image:
        return image.select("layover").Or(image.select("shadow"))

    nodata = scenes.map(lambda image: masked(image).rename("nodata")).min()
    layover = nodata.And(scenes.select("layover").max()).rename("layover")
    shadow = nodata.And(scenes.select("shadow").max()).rename("shadow")
    # per track first, as the archive: a track's scenes share its geometry, and a track seen
    # three times in the windows is not three tracks (its mean weighed it so)
    tracks = sentinel1.per_track(
        scenes,
        lambda track: (
            track.select("liaDeg")
            .mean()
            .addBands(track.map(lambda image: masked(image).rename("masked")).max())
        ),
    )
    lia_valid = tracks.map(
        lambda track: track.select("liaDeg").updateMask(track.select("masked").Not())
    ).mean()
    lia = lia_valid.unmask(tracks.select("liaDeg").mean()).rename("liaDeg")
    return layover.addBands(shadow).addBands(lia)


@dataclass(frozen=True)
class _Optical:
    """One window's composite bands, and its masked scenes (None when there is none)."""

    ndvi: ee.Image
    rgb: ee.Image
    clear: ee.Image
    day: ee.Image
    masked: ee.ImageCollection | None


def _optical(
    geometry: ee.Geometry,
    window: Window,
    which: str,
    present: bool,
    settings: GeeSettings,
    elevation: ee.Image,
    latest: bool = False,
) -> _Optical:
    """NDVI, rgb, clear count and day of one window's greenest-pixel (or, ``latest``, latest
    clear) composite, the ground in self-shadow masked (``elevation``); masked stand-ins when
    no scene."""
    rgb_names = [f"{which}_rgb_{c}" for c in RGB_BANDS]
    if not present:
        return _Optical(
            context.masked_bands([f"{which}NDVI"]),
            context.masked_bands(rgb_names),
            _zeros([f"s2_clear_{which}"]),
            context.masked_bands([f"s2_day_{which}"]),
            None,
        )
    raw = sentinel2.s2_collection(geometry, *window, settings.assets)
    masked = sentinel2.masked_collection(raw, settings.cloud_mask, settings.assets, elevation)
    composite = sentinel2.latest_clear(masked) if latest else sentinel2.greenest_pixel(masked)
    return _Optical(
        composite.select(["NDVI"], [f"{which}NDVI"]),
        composite.select(list(RGB_BANDS), rgb_names),
        sentinel2.clear_count(masked, f"s2_clear_{which}"),
        composite.select(["day"], [f"s2_day_{which}"]),
        masked,
    )


def _optical_dating(pre: _Optical, post: _Optical) -> ee.Image:
    names = [name for name in DATING_BANDS if name.startswith("s2_")]
    if post.masked is None:
        if pre.masked is None:
            return context.masked_bands(names)
        last = sentinel2.last_unchanged_day(pre.masked, pre.ndvi).rename(names[0])
        return last.addBands(context.masked_bands(names[1:]))
    baseline_last = (
        sentinel2.last_unchanged_day(pre.masked, pre.ndvi)
        if pre.masked is not None
        else context.masked_bands(["day"])
    )
    return sentinel2.change_dates(post.masked, pre.ndvi, baseline_last, "s2")


def _radar(
    geometry: ee.Geometry,
    pre: Window,
    post: Window,
    orbit_pass: str,
    settings: GeeSettings,
    av: Availability,
    *,
    elevation: ee.Image,
    landcover: ee.Image,
    compositing: Compositing,
) -> tuple[dict[str, ee.Image], ee.Image]:
    """The flattened Sentinel-1 composites (``"pre"``/``"post"``, bands VV, VH in dB: medians,
    or in monitoring the baseline mean and, per pixel, the mean of the last scenes of each track
    that saw it, both over the tracks both windows saw there) and their
    observation counts (``"count_pre"``/``"count_post"``), masked stand-ins for a window
    without scenes; the event dating (``"dating"``); and the geometry layers over the scenes
    of both windows."""
    flattened: dict[str, ee.ImageCollection] = {}
    for which, window, present in (
        ("pre", pre, bool(av.s1_dates_pre)),
        ("post", post, bool(av.s1_dates_post)),
    ):
        if present:
            raw = sentinel1.s1_collection(geometry, *window, orbit_pass, settings.assets)
            flattened[which] = sentinel1.acquisitions(
                sentinel1.flattened_collection(raw, elevation, settings.s1, landcover)
            )
    monitoring = compositing.mode == "monitoring"
    compared = dict(flattened)  # the geometry layers below take every scene, as the archive's
    if monitoring and len(flattened) == 2:  # both windows over the tracks both saw
        compared["pre"] = sentinel1.shared_tracks(flattened["pre"], flattened["post"])
        compared["post"] = sentinel1.shared_tracks(flattened["post"], flattened["pre"])
    sar: dict[str, ee.Image] = {}
    post_image: ee.ImageCollection | None = None  # the scenes of the post composite
    for which in ("pre", "post"):
        names = [f"{which}{p}" for p in sentinel1.POLARISATIONS]
        if which in compared:
            used = compared[which]
            if monitoring and which == "post":
                used = sentinel1.last_valid_per_track(used, compositing.radar_scenes)
            if which == "post":
                post_image = used
            reduce = sentinel1.mean_db if monitoring else sentinel1.median_db
            sar[which] = reduce(used, which)
            sar[f"count_{which}"] = sentinel1.observation_count(used, f"s1_count_{which}")
        else:
            sar[which] = context.masked_bands(names)
            sar[f"count_{which}"] = _zeros([f"s1_count_{which}"])
    dating = [name for name in DATING_BANDS if name.startswith("s1_")]
    if "pre" in flattened and post_image is not None:
        sar["dating"] = sentinel1.change_dates(
            compared["pre"],
            compared["post"],
            sar["pre"].select([0]),
            sar["count_pre"],
            compositing.enl,
            "s1",
            sar["post"].select([0]),
        ).addBands(sentinel1.newest_scene(post_image, "s1"))
    else:
        sar["dating"] = context.masked_bands(dating)
    if not flattened:
        return sar, context.masked_bands(["layover", "shadow", "liaDeg"])
    collections = list(flattened.values())
    scenes = collections[0] if len(collections) == 1 else collections[0].merge(collections[1])
    return sar, _geometry_layers(scenes)


def feature_image(
    geometry: ee.Geometry,
    pre: Window,
    post: Window,
    *,
    orbit_pass: str,
    settings: GeeSettings,
    availability: Availability,
    assets: ResolvedAssets,
    compositing: Compositing | None = None,
) -> ee.Image:
    """The feature stack of a region as one float image with bands :data:`FLAT_BANDS`.

    ``geometry`` bounds the scene search (``GeeSource`` passes the rectangle of the region's
    grid, which the stack covers); ``pre``/``post`` are ISO-date windows, end exclusive;
    ``orbit_pass`` selects Sentinel-1 passes; ``assets`` are the static layers' assets resolved
    for the region (:func:`gee_scripts.coverage.resolve_assets`). The last operation is
    ``rename(FLAT_BANDS)``.
    """
    av = availability
    how = compositing or Compositing()
    latest = how.mode == "monitoring"
    elevation = context.dem_image(assets.elevation, geometry)
    opt_pre = _optical(geometry, pre, "pre", bool(av.s2_dates_pre), settings, elevation)
    opt_post = _optical(geometry, post, "post", bool(av.s2_dates_post), settings, elevation, latest)
    d_ndvi = opt_post.ndvi.subtract(opt_pre.ndvi).rename("dNDVI")

    landcover = context.landcover(assets.landcover)
    sar, geometry_layers = _radar(
        geometry,
        pre,
        post,
        orbit_pass,
        settings,
        av,
        elevation=elevation,
        landcover=landcover,
        compositing=how,
    )
    d_sar = sar["post"].subtract(sar["pre"]).rename(["dVV", "dVH"])

    layers = [
        sar["pre"].select([0], ["preVV"]),
        sar["post"].select([0], ["postVV"]),
        d_sar.select("dVV"),
        sar["pre"].select([1], ["preVH"]),
        sar["post"].select([1], ["postVH"]),
        d_sar.select("dVH"),
        geometry_layers,
        # Continuous 30 m layers interpolated onto the 10 m grid (per image, before any mosaic:
        # gee_scripts.context); class maps stay nearest.
        elevation,
        context.slope(elevation),
        context.kg_climate(assets.kg_climate),
        context.canopy_height(assets.canopy_height),
        landcover,
        d_ndvi,
        opt_pre.ndvi,
        opt_post.ndvi,
        opt_pre.rgb,
        opt_post.rgb,
        opt_pre.clear,
        opt_post.clear,
        sar["count_pre"],
        sar["count_post"],
        sar["dating"],
        _optical_dating(opt_pre, opt_post),
        opt_pre.day,
        opt_post.day,
    ]
    image = ee.Image.cat(*[layer.toFloat() for layer in layers])
    return image.set("system:time_start", ee.Date(post[0]).millis()).rename(list(FLAT_BANDS))


def sign_check_scene(
    geometry: ee.Geometry,
    window: Window,
    *,
    orbit_pass: str,
    settings: GeeSettings,
    assets: ResolvedAssets,
) -> ee.Image:
    """:func:`gee_scripts.terrain_flattening.sign_check_image` of the first Sentinel-1 scene of
    ``window`` over ``geometry``, prepared and flattened as the feature image's scenes are (the
    ``gee check`` sign check)."""
    scenes = sentinel1.s1_collection(geometry, *window, orbit_pass, settings.assets)
    raw = ee.Image(scenes.sort("system:time_start").first())  # collection order is not time
    return sign_check_image(
        sentinel1.prepared_scene(raw, settings.s1),
        context.dem_image(assets.elevation, geometry),
        model=settings.s1.terrain_model,
        landcover=context.landcover(assets.landcover),
        footprint=raw.geometry(),
    )
