"""The review map's Earth Engine layers: for each of a region's two windows, the Sentinel-2
greenest-pixel true colour (Ganerød et al.'s optical composite) and the Sentinel-1 VV median in
dB, each with its visualisation.

Plain arguments (an ``ee.Geometry``, ISO-date windows, the orbit pass, :class:`GeeSettings`);
``monitor.ops.review`` adds the images to the page as tile layers.
"""

from __future__ import annotations

from typing import Any

import ee

from gee_scripts import sentinel1, sentinel2
from gee_scripts.assembly import Window
from gee_scripts.settings import GeeSettings

__all__ = ["RGB_VIS", "VV_VIS", "composite_layers"]

#: True colour of the composite's reflectance bands.
RGB_VIS: dict[str, Any] = {"bands": ["red", "green", "blue"], "min": 0.0, "max": 0.3}
#: VV backscatter in dB.
VV_VIS: dict[str, Any] = {"bands": ["VV"], "min": -20.0, "max": 0.0}


def composite_layers(
    geometry: ee.Geometry, pre: Window, post: Window, orbit_pass: str, settings: GeeSettings
) -> list[tuple[str, ee.Image, dict[str, Any]]]:
    """(label, image, visualisation) of the pre- and post-event composites, in that order: per
    window the Sentinel-2 true colour, then the Sentinel-1 VV median in dB. Labels name the
    window as ``start/end`` (ISO dates, the end exclusive)."""
    out: list[tuple[str, ee.Image, dict[str, Any]]] = []
    for which, (start, end) in (("pre", pre), ("post", post)):
        scenes = sentinel2.s2_collection(geometry, start, end, settings.assets)
        masked = sentinel2.masked_collection(scenes, settings.cloud_mask, settings.assets)
        composite = sentinel2.greenest_pixel(masked)
        out.append((f"Sentinel-2 {which}-event {start}/{end}", composite, dict(RGB_VIS)))
        radar = sentinel1.s1_collection(geometry, start, end, orbit_pass, settings.assets)
        # S1_GRD_FLOAT holds linear power: the median in dB (it commutes with the dB transform).
        vv_db = radar.select("VV").median().log10().multiply(10).rename("VV")
        out.append((f"Sentinel-1 VV {which}-event {start}/{end}", vv_db, dict(VV_VIS)))
    return out
