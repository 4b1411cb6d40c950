"""The review map's Earth Engine layers: for each of a region's two windows, the Sentinel-2
true colour and the Sentinel-1 VV in dB, composited as the region's detection composites them
(:class:`models.change_statistics.Compositing`), each with its visualisation.

Event mode (Ganerød et al.): greenest pixel and VV median of each window. Monitoring (the
default): the baseline's greenest pixel and VV mean in dB, and the post window's most recent
clear observation per pixel and the mean in dB of the last ``radar_scenes`` acquisitions of
each track that saw each pixel (``sentinel1.last_valid_per_track`` over one image per pass,
``sentinel1.passes``), both windows over the tracks both saw at each pixel
(``sentinel1.shared_tracks``): the images the detector compared (the radar's as below).
A greenest-pixel post layer showed the vegetation of the days before a fresh scar, where the
detector had seen the scar: a reviewer could dismiss a true landslide. The radar layer is σ0
as acquired, for orientation: without the detector's terrain flattening and its masks of the
swath's border noise, the incidence range, layover and shadow, so at a swath's edge or in
layover its post layer may show a newer scene of a track than the one the detector compared
(or its noise). The optical layers take the detector's mask of ground in self-shadow where
they are given the region's DEM (``elevation``; ``monitor.ops.review`` gives it).

Plain arguments (an ``ee.Geometry``, ISO-date windows, the orbit pass, :class:`GeeSettings`);
``monitor.ops.review`` adds the images to the page as tile layers.
"""

from __future__ import annotations

from typing import Any

import ee

from gee_scripts import sentinel1, sentinel2
from gee_scripts.assembly import Window
from gee_scripts.settings import GeeSettings
from models.change_statistics import Compositing

__all__ = ["RGB_VIS", "VV_VIS", "composite_layers"]

#: True colour of the composite's reflectance bands.
RGB_VIS: dict[str, Any] = {"bands": ["red", "green", "blue"], "min": 0.0, "max": 0.3}
#: VV backscatter in dB.
VV_VIS: dict[str, Any] = {"bands": ["VV"], "min": -20.0, "max": 0.0}


def composite_layers(
    geometry: ee.Geometry,
    pre: Window,
    post: Window,
    orbit_pass: str,
    settings: GeeSettings,
    compositing: Compositing | None = None,
    elevation: ee.Image | None = None,
) -> list[tuple[str, ee.Image, dict[str, Any]]]:
    """(label, image, visualisation) of the pre- and post-event composites, in that order: per
    window the Sentinel-2 true colour, then the Sentinel-1 VV in dB. Labels name the window as
    ``start/end`` (ISO dates, the end exclusive) and then the statistic; ``compositing``
    defaults to event mode's. With ``elevation`` (the region's DEM, as the detection's) the
    Sentinel-2 scenes are masked where their sun leaves the ground in self-shadow, as the
    detector's are."""
    compositing = compositing or Compositing()
    latest = compositing.mode == "monitoring"
    out: list[tuple[str, ee.Image, dict[str, Any]]] = []
    windows = {"pre": pre, "post": post}
    radar = {
        which: sentinel1.s1_collection(geometry, start, end, orbit_pass, settings.assets)
        for which, (start, end) in windows.items()
    }
    if latest:  # one image per pass, both windows over the tracks both saw, as the detector's
        per_pass = {which: sentinel1.passes(scenes, ["VV"]) for which, scenes in radar.items()}
        k = compositing.radar_scenes
        radar = {
            "pre": sentinel1.shared_tracks(per_pass["pre"], per_pass["post"]),
            "post": sentinel1.last_valid_per_track(
                sentinel1.shared_tracks(per_pass["post"], per_pass["pre"]), k
            ),
        }
    for which, (start, end) in windows.items():
        scenes = sentinel2.s2_collection(geometry, start, end, settings.assets)
        masked = sentinel2.masked_collection(
            scenes, settings.cloud_mask, settings.assets, elevation
        )
        if latest and which == "post":
            composite, how = sentinel2.latest_clear(masked), "latest clear"
        else:
            composite, how = sentinel2.greenest_pixel(masked), "greenest pixel"
        label = f"Sentinel-2 {which}-event {start}/{end} ({how})"
        out.append((label, composite, dict(RGB_VIS)))
        if latest:
            # S1_GRD_FLOAT holds linear power: the mean in dB of each scene, as the detector's
            vv_db = radar[which].select("VV").map(_db).mean().rename("VV")
            how = (
                f"mean of the last {compositing.radar_scenes} per track"
                if which == "post"
                else "mean"
            )
        else:
            # the median in dB, as the detector's (of an even number of scenes the median of
            # linear power, the mean of the middle two, is not that of dB)
            vv_db = radar[which].select("VV").map(_db).median().rename("VV")
            how = "median"
        out.append((f"Sentinel-1 VV {which}-event {start}/{end} ({how})", vv_db, dict(VV_VIS)))
    return out


def _db(image: ee.Image) -> ee.Image:
    return image.log10().multiply(10)
