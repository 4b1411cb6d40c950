"""Sentinel-1 GRD: IW VV+VH scenes of the region's orbit pass, border-noise edge mask, optional
speckle filter, terrain flattening (Vollrath et al. 2020), pre/post medians in dB and counts.

Ganerød et al.: "A terrain correction (Vollrath et al., 2020) was applied to each image in the
stack using either a volumetric or a surface model [...] Sentinel-1 composites were created by
taking the median of the terrain-corrected image collections and changing images (post minus
pre-event image composite)."

The scenes come from ``COPERNICUS/S1_GRD_FLOAT`` (σ0 as linear power; the catalogue's pointer
for linear values, updated faster than the dB collection, and what gee_s1_ard uses): filtering
and flattening work on linear power, the median is taken in dB, as the archive takes it (the
median of an odd number of scenes commutes with the monotonic dB transform; of an even number
it is the mean of the middle two, which does not: 0.26 dB apart on average for two scenes of
4.4 looks).

The ``angle`` band is a coarse grid of ellipsoid incidence angles; it is interpolated
bilinearly (``resample``, on the scene itself, which has a native projection) wherever it meets
the 10 m backscatter: the border-noise mask and θi of the terrain flattening. The heading is the
mean aspect of the angle band on its own grid over the raw scene's footprint.
"""

from __future__ import annotations

from collections.abc import Callable

import ee

from gee_scripts.sentinel2 import MS_PER_DAY, change_bracket, day_number
from gee_scripts.settings import AssetIds, S1Settings
from gee_scripts.terrain_flattening import flatten
from models.change_statistics import (
    DATING_SCENES,
    IW_GRD_ENL,
    REPEAT_SCENE_Z,
    SINGLE_SCENE_Z,
    db_sigma,
)
from models.feature_stack import S1_BANDS

__all__ = [
    "PASS_DAY",
    "POLARISATIONS",
    "acquisitions",
    "change_dates",
    "dated",
    "dating_scenes",
    "edge_mask",
    "flattened_collection",
    "incidence_angle",
    "last_valid_per_track",
    "mean_db",
    "median_db",
    "newest_scene",
    "observation_count",
    "passes",
    "per_track",
    "prepared_scene",
    "s1_collection",
    "shared_tracks",
    "speckle_filter",
]

POLARISATIONS: tuple[str, ...] = S1_BANDS  # VV, VH: the contract's one definition
_ORBIT_PASS = {"ascending": "ASCENDING", "descending": "DESCENDING"}
_TRACK = "relativeOrbitNumber_start"
PASS_DAY = "acquisition_day"  # days since 1970-01-01 of an image's pass (dated)
_MASK_BANDS = ("layover", "shadow")
_FLATTENED_BANDS = (*POLARISATIONS, *_MASK_BANDS, "liaDeg")  # a flattened scene's bands


def s1_collection(
    geometry: ee.Geometry, start: str, end: str, orbit_pass: str, assets: AssetIds
) -> ee.ImageCollection:
    """IW-mode, 10 m, dual-pol (VV+VH) GRD scenes over ``geometry`` in ``[start, end)`` of
    ``orbit_pass`` (``"ascending"``, ``"descending"`` or ``"both"``)."""
    if orbit_pass not in (*_ORBIT_PASS, "both"):
        raise ValueError(f"orbit_pass must be ascending, descending or both, got {orbit_pass!r}")
    collection = (
        ee.ImageCollection(assets.s1)
        .filterBounds(geometry)
        .filterDate(start, end)
        .filter(ee.Filter.eq("instrumentMode", "IW"))
        .filter(ee.Filter.eq("resolution_meters", 10))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VV"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VH"))
    )
    if orbit_pass != "both":
        collection = collection.filter(
            ee.Filter.eq("orbitProperties_pass", _ORBIT_PASS[orbit_pass])
        )
    return collection


def incidence_angle(image: ee.Image) -> ee.Image:
    """The scene's ``angle`` band (degrees), interpolated bilinearly where it is reprojected."""
    return image.select("angle").resample("bilinear")


def edge_mask(image: ee.Image, s1: S1Settings) -> ee.Image:
    """Mask GRD border noise in VV and VH: pixels outside the usable incidence-angle range of
    the swath, and low-backscatter edge pixels (linear VV below ``s1.edge_db_threshold`` dB).
    VH is masked apart where it is not positive: thermal-noise removal can leave zero power,
    whose dB is -inf and would enter every mean and count (the archive drops non-finite
    values). The ``angle`` band is kept: radar shadow, noise only, falls below the threshold
    too, and the scene's layover, shadow and local incidence angle come from θi and the DEM
    whatever the backscatter (as the archive's from the track's geometry)."""
    angle = incidence_angle(image)
    inside = angle.gt(s1.min_incidence_deg).And(angle.lt(s1.max_incidence_deg))
    not_edge = image.select("VV").gt(10.0 ** (s1.edge_db_threshold / 10.0))
    pols = list(POLARISATIONS)
    masked = image.select(pols).updateMask(inside.And(not_edge))
    vh = masked.select("VH")
    return image.addBands(masked.addBands(vh.updateMask(vh.gt(0)), None, True), None, True)


def _prepared(image: ee.Image) -> ee.Image:
    """VV, VH (linear) and the interpolated ``angle`` of a scene."""
    pols = list(POLARISATIONS)
    return ee.Image(
        image.select(pols)
        .addBands(incidence_angle(image))
        .copyProperties(image, ["system:time_start"])
    )


def _boxcar(image: ee.Image, kernel_px: int) -> ee.Image:
    pols = list(POLARISATIONS)
    kernel = ee.Kernel.square(kernel_px // 2, "pixels")
    return image.addBands(
        image.select(pols).reduceNeighborhood(ee.Reducer.mean(), kernel).rename(pols), None, True
    )


def _lee(image: ee.Image, kernel_px: int) -> ee.Image:
    """Lee (1980) filter, σ0 linear: x̂ = m + k (x - m), k = max(0, (v - m² cu²) / (v (1 + cu²)))
    with local mean m and variance v, cu² = 1 / ENL; ENL 4.4 for IW GRD high resolution
    (:data:`models.change_statistics.IW_GRD_ENL`)."""
    pols = list(POLARISATIONS)
    kernel = ee.Kernel.square(kernel_px // 2, "pixels")
    x = image.select(pols)
    stats = x.reduceNeighborhood(
        ee.Reducer.mean().combine(ee.Reducer.variance(), None, True), kernel
    )
    mean = stats.select([f"{p}_mean" for p in pols]).rename(pols)
    var = stats.select([f"{p}_variance" for p in pols]).rename(pols)
    cu2 = 1.0 / IW_GRD_ENL
    k = var.subtract(mean.pow(2).multiply(cu2)).divide(var.multiply(1 + cu2)).max(0)
    filtered = mean.add(k.multiply(x.subtract(mean))).rename(pols)
    return image.addBands(filtered, None, True)


_SPECKLE_FILTERS = {
    "none": lambda image, kernel_px: image,
    "boxcar": _boxcar,
    "lee": _lee,
}


def speckle_filter(image: ee.Image, s1: S1Settings) -> ee.Image:
    """The configured speckle filter (``none``, ``boxcar`` or ``lee``) on linear σ0."""
    return _SPECKLE_FILTERS[s1.speckle_filter](image, s1.speckle_kernel_px)


def prepared_scene(image: ee.Image, s1: S1Settings) -> ee.Image:
    """A raw ``S1_GRD_FLOAT`` scene ready for flattening: border noise masked, VV and VH (linear,
    speckle-filtered as configured) and the interpolated ``angle``."""
    return speckle_filter(_prepared(edge_mask(image, s1)), s1)


def flattened_collection(
    collection: ee.ImageCollection,
    elevation: ee.Image,
    s1: S1Settings,
    landcover: ee.Image | None = None,
) -> ee.ImageCollection:
    """Per scene of ``COPERNICUS/S1_GRD_FLOAT`` (linear σ0): edge mask, speckle filter, terrain
    flattening with the heading reduced over the raw scene's footprint; bands ``VV``, ``VH``
    (γ0 flattened, dB; masked in layover/shadow), ``layover``, ``shadow``, ``liaDeg``.
    ``elevation`` is interpolated where it is reprojected (:func:`gee_scripts.context.dem_image`).
    """

    def prepare(image: ee.Image) -> ee.Image:
        flat = flatten(
            prepared_scene(image, s1),
            elevation,
            model=s1.terrain_model,
            buffer_m=s1.layover_shadow_buffer_m,
            polarisations=POLARISATIONS,
            landcover=landcover,
            footprint=image.geometry(),
        )
        pols = list(POLARISATIONS)
        db = flat.select(pols).log10().multiply(10).rename(pols)
        # band math drops an image's properties: the acquisition time and the track
        # (last_valid_per_track groups by it) come back from the raw scene
        return ee.Image(
            flat.addBands(db, None, True).copyProperties(image, ["system:time_start", _TRACK])
        )

    return collection.map(prepare)


def median_db(flattened: ee.ImageCollection, prefix: str) -> ee.Image:
    """Per-pixel median of VV and VH (dB), bands ``{prefix}VV``, ``{prefix}VH``."""
    pols = list(POLARISATIONS)
    return flattened.select(pols).median().rename([f"{prefix}{p}" for p in pols])


def observation_count(flattened: ee.ImageCollection, name: str) -> ee.Image:
    """Valid (unmasked) VV observations per pixel, 0 where there is none."""
    return flattened.select("VV").count().unmask(0).toFloat().rename(name)


def mean_db(flattened: ee.ImageCollection, prefix: str) -> ee.Image:
    """Per-pixel mean of VV and VH in dB (monitoring), bands ``{prefix}VV``, ``{prefix}VH``: the
    mean of log intensities is the log-ratio statistic's estimator
    (``models.change_statistics.log_ratio_z``)."""
    pols = list(POLARISATIONS)
    return flattened.select(pols).mean().rename([f"{prefix}{p}" for p in pols])


def dated(collection: ee.ImageCollection) -> ee.ImageCollection:
    """``collection`` with each image's pass day (``acquisition_day``, days since 1970-01-01)
    as a property, which :func:`acquisitions` and :func:`last_valid_per_track` group by: the UTC
    day of the first image of its track in the day up to it. The slices of a pass across
    00:00 UTC (the morning pass near 90 degrees E, the evening pass near 90 degrees W) fall on
    two days, and a track repeats after 6 days at the least, so its images less than a day
    apart are one pass (``monitor.sources.archive_composite.pass_dates``)."""

    def with_day(image: ee.Image) -> ee.Image:
        time = ee.Number(image.get("system:time_start"))
        same_pass = collection.filter(
            ee.Filter.And(
                ee.Filter.eq(_TRACK, image.get(_TRACK)),
                ee.Filter.lte("system:time_start", time),
                ee.Filter.gt("system:time_start", time.subtract(MS_PER_DAY)),
            )
        )
        first = ee.Number(same_pass.aggregate_array("system:time_start").reduce(ee.Reducer.min()))
        return ee.Image(image.set(PASS_DAY, first.divide(MS_PER_DAY).floor()))

    return collection.map(with_day)


def acquisitions(collection: ee.ImageCollection) -> ee.ImageCollection:
    """One image per acquisition, a relative orbit (track) and day, as the archive has them
    (``monitor.sources.archive_composite``): a region on a GRD slice boundary gets two images of
    one pass, each masked outside its slice, and their mean where they overlap stands for the
    pass (layover and shadow where both slices have them). Without it, the observation counts,
    the event dating and the second look's two looks counted that pass twice in the strip where
    the slices overlap. The slices of a pass across 00:00 UTC are one acquisition too, of the
    day of its first slice (:func:`dated`). The bands are those of :func:`flattened_collection`;
    the properties the acquisition time (the first slice's, so that the day of the dating bands
    is the pass's), the track and the day (``acquisition_day``, :func:`last_valid_per_track`)."""

    def combine(group: ee.ImageCollection) -> ee.Image:
        # backscatter and incidence: the mean where slices overlap; layover and shadow: where
        # every slice has it, as the mosaic's backscatter is valid where any slice is
        merged = group.select([*POLARISATIONS, "liaDeg"]).mean()
        merged = merged.addBands(group.select(list(_MASK_BANDS)).min())
        return merged.select(list(_FLATTENED_BANDS))

    return _per_pass(collection, combine)


def passes(collection: ee.ImageCollection, bands: list[str]) -> ee.ImageCollection:
    """One image per pass (a track and day, :func:`dated`) of raw scenes, the mean of its
    slices' ``bands`` where they overlap: the review map's post layer, whose
    :func:`last_valid_per_track` counted two overlapping slices of one pass as two passes."""
    return _per_pass(collection, lambda group: group.select(bands).mean())


def _per_pass(
    collection: ee.ImageCollection, combine: Callable[[ee.ImageCollection], ee.Image]
) -> ee.ImageCollection:
    """``combine`` of the images of each pass (a track and day) of ``collection``, with the
    pass's track, day and time (its first slice's)."""
    scenes = dated(collection)

    def mosaic(element: ee.ComputedObject) -> ee.Image:
        first = ee.Image(element)
        same = ee.Filter.And(
            ee.Filter.eq(_TRACK, first.get(_TRACK)), ee.Filter.eq(PASS_DAY, first.get(PASS_DAY))
        )
        group = scenes.filter(same)
        start = group.aggregate_array("system:time_start").reduce(ee.Reducer.min())
        return ee.Image(
            combine(group).copyProperties(first, [_TRACK, PASS_DAY]).set("system:time_start", start)
        )

    return ee.ImageCollection(scenes.distinct([_TRACK, PASS_DAY]).map(mosaic))


def per_track(
    collection: ee.ImageCollection, combine: Callable[[ee.ImageCollection], ee.Image]
) -> ee.ImageCollection:
    """``combine`` of the images of each relative orbit (track) of ``collection``, one image
    per track with its track number: what the archive reduces per track before it reduces
    across tracks, so that a track seen three times weighs as much as one seen once."""

    def one(element: ee.ComputedObject) -> ee.Image:
        track = ee.Image(element).get(_TRACK)
        return ee.Image(combine(collection.filter(ee.Filter.eq(_TRACK, track))).set(_TRACK, track))

    return ee.ImageCollection(collection.distinct([_TRACK]).map(one))


def _views(collection: ee.ImageCollection) -> ee.Image:
    """Per pixel, how many images of ``collection`` hold VV there (0 where none, and for an
    empty collection)."""
    # a masked stand-in: the count of an empty collection is an image without bands; both
    # sides float, as Earth Engine reduces only collections of one band type (terrain
    # flattening's VV is double)
    none = ee.Image.constant(0).toFloat().rename("VV").updateMask(ee.Image.constant(0))
    views = collection.select(["VV"]).map(lambda scene: ee.Image(scene).toFloat())
    return views.merge(ee.ImageCollection([none])).count().unmask(0)


def last_valid_per_track(collection: ee.ImageCollection, k: int) -> ee.ImageCollection:
    """``collection`` (the output of :func:`acquisitions`: one image per track and day, with
    its ``acquisition_day``) masked, per pixel, to the last ``k`` acquisitions of each relative
    orbit (track) with VV there: monitoring's post image
    (``monitor.sources.archive_composite.last_valid_per_track``). An image keeps a pixel where
    fewer than ``k`` later acquisitions of its track saw it. The last ``k`` images of a track
    whatever they held let a last scene that saw part of the region (a swath edge's border
    noise) blank the post image where the scene before it saw the ground."""

    def keep(image: ee.Image) -> ee.Image:
        later = collection.filter(
            ee.Filter.And(
                ee.Filter.eq(_TRACK, image.get(_TRACK)),
                ee.Filter.gt(PASS_DAY, image.get(PASS_DAY)),
            )
        )
        return image.updateMask(_views(later).lt(k))

    return collection.map(keep)


def shared_tracks(collection: ee.ImageCollection, other: ee.ImageCollection) -> ee.ImageCollection:
    """``collection`` masked, per pixel, to the images of tracks (relative orbits) that saw that
    pixel in ``other`` (the other window), where any image of ``other`` did
    (``monitor.sources.archive_composite.shared_tracks``): monitoring compares the baseline and
    the post window over the tracks both saw (Orynbaikyzy et al. compare pre- and post-event
    scenes of one orbit), not one track's scene with another's, which differs by its look
    direction on every slope. Where ``other`` has no image, ``collection`` stays as it is."""
    compared = _views(other).gt(0)

    def keep(image: ee.Image) -> ee.Image:
        same = other.filter(ee.Filter.eq(_TRACK, image.get(_TRACK)))
        return image.updateMask(_views(same).gt(0).Or(compared.Not()))

    return collection.map(keep)


def _day(image: ee.Image) -> ee.Image:
    day = ee.Image.constant(day_number(image)).toFloat()
    return day.updateMask(image.select("VV").mask()).rename("day")


def newest_scene(flattened: ee.ImageCollection, prefix: str) -> ee.Image:
    """Per pixel, VV and VH (dB) of the most recent scene of ``flattened`` with VV there, bands
    ``{prefix}_newest_VV``, ``{prefix}_newest_VH`` (``monitor.sources.archive_composite.
    newest_scene``): the quality mosaic on the acquisition day, over one image per acquisition
    (:func:`acquisitions`: the slices of one pass mosaicked, as the archive has them)."""
    pols = list(POLARISATIONS)
    dated = flattened.map(lambda image: image.select(pols).addBands(_day(image)))
    return dated.qualityMosaic("day").select(pols).rename([f"{prefix}_newest_{p}" for p in pols])


def dating_scenes(collection: ee.ImageCollection, n: int) -> ee.ImageCollection:
    """``collection`` masked, per pixel, where ``n`` or more of its images of later days (by
    ``system:time_start``'s UTC day) hold VV: the newest ``n`` scenes of each pixel, those of
    one day together (``monitor.sources.archive_composite.dating_scenes``)."""

    def keep(image: ee.Image) -> ee.Image:
        # images from the next UTC day on: time_start past this day's last millisecond
        last_ms = day_number(image).add(1).multiply(MS_PER_DAY).subtract(1)
        later = collection.filter(ee.Filter.gt("system:time_start", last_ms))
        return image.updateMask(_views(later).lt(n))

    return collection.map(keep)


def change_dates(
    flattened_pre: ee.ImageCollection,
    flattened_post: ee.ImageCollection,
    baseline_vv: ee.Image,
    baseline_count: ee.Image,
    enl: float,
    prefix: str,
    post_vv: ee.Image,
) -> ee.Image:
    """Sentinel-1 event dating on VV (``models.change_statistics``): bands
    ``{prefix}_last_unchanged`` and ``{prefix}_first_changed`` (days; masked where unknown) and
    ``{prefix}_changed_scenes`` (how many post scenes show the change, 0 where none). A
    post scene shows the change where ``|VV - baseline| > SINGLE_SCENE_Z * sigma_dB(enl) *
    sqrt(1 + 1/m)``, ``m`` the baseline's scenes; it repeats it where it deviates by
    ``REPEAT_SCENE_Z`` of those standard deviations in the direction of ``post_vv - baseline``
    (``post_vv``: the post composite's VV). Per pixel only the newest ``DATING_SCENES`` post
    scenes are read (:func:`dating_scenes`)."""
    flattened_post = dating_scenes(flattened_post, DATING_SCENES)
    sigma = (
        ee.Image.constant(1.0)
        .add(ee.Image.constant(1.0).divide(baseline_count))
        .sqrt()
        .multiply(db_sigma(enl))
    )
    limit = sigma.multiply(SINGLE_SCENE_Z)
    direction = post_vv.subtract(baseline_vv).signum()

    def changed(image: ee.Image) -> ee.Image:
        return image.select("VV").subtract(baseline_vv).abs().gt(limit).unmask(0)

    baseline_last = flattened_pre.map(_day).max()
    bracket = change_bracket(flattened_post, _day, changed, baseline_last, prefix)

    def repeats(image: ee.Image) -> ee.Image:
        deviation = image.select("VV").subtract(baseline_vv).multiply(direction)
        return deviation.gt(sigma.multiply(REPEAT_SCENE_Z)).unmask(0)

    count = flattened_post.map(repeats).sum().toFloat().rename(f"{prefix}_changed_scenes")
    return bracket.addBands(count)
