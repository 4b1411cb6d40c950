"""The change statistics both sources compute the same way (``monitor.sources`` in numpy,
``gee_scripts`` as Earth Engine graphs): the thresholds of event dating, and the spread of the
Sentinel-1 log-ratio statistic, which follows from the equivalent number of looks; and
:class:`Compositing`, how the windows become images, which both sources take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

__all__ = [
    "DATING_SCENES",
    "DB",
    "IW_GRD_ENL",
    "NDVI_DROP",
    "RADAR_SCENES",
    "REPEAT_SCENE_Z",
    "SELF_SHADOW_COS_I",
    "SINGLE_SCENE_Z",
    "Compositing",
    "CompositingMode",
    "compositing_mode",
    "db_sigma",
    "log_ratio_z",
]


DB = 10.0 / np.log(10.0)
# A clear observation whose NDVI lies this far below the baseline's shows vegetation loss: the
# default of the threshold baseline (models.baselines, "dNDVI < -0.2 on slopes", the plain rule
# the ensemble is compared with), deeper than the trigger's -0.15 so that haze and phenology
# between two single observations do not date a change.
NDVI_DROP = 0.2
# A Sentinel-2 observation is no clear look where the sun stands below the plane of the ground
# (the cosine of the solar incidence angle on the slope under this: self-shadow, pure geometry
# of the scene's sun and the DEM). There the ground gets no direct light, the reflectance is
# the diffuse sky's and the atmosphere's path radiance, and the NDVI drops with no change of
# the ground: north-facing slopes under the low winter sun (found in a storm-free winter of
# bench/bench_snow_season.py: 12 of the alpine region's 20 false alerts of November and
# December lay mostly in self-shadow in the view that drew them). Both sources mask it
# (monitor.sources.composite.self_shadowed, gee_scripts.sentinel2.masked_collection).
SELF_SHADOW_COS_I = 0.0
# A single Sentinel-1 scene shows the change where its log-ratio to the baseline exceeds this
# many standard deviations (two-sided 5 % per scene on unchanged ground, see log_ratio_z).
SINGLE_SCENE_Z = 2.0
# A scene repeats a change (the second look) where it deviates from the baseline by one standard
# deviation of one scene in the direction of the post image's change: for a 4 dB change
# (1.7 standard deviations of a 4.4-look scene) three scenes in four do, on unchanged ground one
# in six.
REPEAT_SCENE_Z = 1.0
# Sentinel-1 dating reads, per pixel, the newest this many post-window scenes with a value there
# (those of later days than the rest). One scene flags 5 % of unchanged pixels and repeats the
# flags of a sixth, so the more scenes a window holds, the more of an unchanged object chance
# flags and repeats: on gamma speckle the dating confirmed (radar-repeat) none of 100 objects of
# 40 x 40 pixels with 10 post-window scenes, 8 with 15 and all 100 with 20
# (bench/bench_repeat_chance.py). A 30-day window holds 10 with two satellites over two
# tracks, 15 over three and 20 over four (the 250 km swaths of the 175 relative orbits overlap
# more towards the poles: at 45 degrees of latitude a point is seen by one or two of each
# pass); older scenes add nothing the newest ten do not show of a change that persists.
DATING_SCENES = 10


def db_sigma(enl: float) -> float:
    """Standard deviation (dB) of one speckled intensity in dB: for a gamma-distributed intensity
    of ``enl`` looks, var(ln I) is the trigamma function of the looks, so sigma_dB =
    10/ln(10) * sqrt(psi1(L)) (about 2.2 dB for the 4.4 looks of IW GRD)."""
    return float(DB * np.sqrt(special.polygamma(1, enl)))


def log_ratio_z(
    post_mean_db: np.ndarray,
    post_count: np.ndarray,
    pre_mean_db: np.ndarray,
    pre_count: np.ndarray,
    enl: float,
) -> np.ndarray:
    """The log-ratio statistic of a mean of ``post_count`` scenes against a mean of ``pre_count``
    (both in dB, independent speckle): (post - pre) / (sigma_dB * sqrt(1/n + 1/m)), of mean 0 and
    spread 1 on unchanged ground and close to normal for means of several scenes. Not symmetric
    for one scene: the log of a gamma variate of 4.4 looks is skewed (about -0.5), so one post
    scene against a mean of ten falls below -2 about 3.3 % of the time and above +2 about
    1.2 % (a gamma simulation in a review; two-sided 4.4-4.7 %, near the nominal 5 %):
    one-sided thresholds need the gamma null, as the object threshold's was set empirically.
    Several scenes shrink the spread; that several SAR scenes help is what Orynbaikyzy et al.
    2025 measure (as separate input channels), the averaging of speckle this project's reading.
    NaN where either mean has no scene."""
    n = np.asarray(post_count, np.float64)
    m = np.asarray(pre_count, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = db_sigma(enl) * np.sqrt(1.0 / n + 1.0 / m)
        z = (np.asarray(post_mean_db, np.float64) - np.asarray(pre_mean_db, np.float64)) / spread
    z[(n <= 0) | (m <= 0)] = np.nan
    return z.astype(np.float32)


CompositingMode = Literal["event", "monitoring"]
# Equivalent number of looks of Sentinel-1 IW GRD high-resolution products (ESA, Sentinel-1
# Product Definition: 4.4 looks); the spread of the radar change statistic follows from it.
IW_GRD_ENL = 4.4


# Sentinel-1 scenes per track in a monitoring post image. One: the first post-event scene of a
# track carries the whole change, where with k scenes it enters at 1/k weight and the full change
# waits k repeat cycles (12 days each with one satellite); watching both passes still averages two
# scenes. Measured against 2 with bench/bench_time_to_alert.py and the demo season
# (docs/operations.md, "Time to alert").
RADAR_SCENES = 1


@dataclass(frozen=True)
class Compositing:
    """How the windows become images (docs/configuration.md, "windows").

    ``event`` (Ganerød et al.): Sentinel-2 greenest pixel of each window, Sentinel-1 median in
    dB of each window. Right for mapping a known event from a window after it.

    ``monitoring``: the pre window is the baseline (greenest pixel; Sentinel-1 mean in dB); the
    Sentinel-2 post image is the most recent clear observation per pixel of the post window, and
    the Sentinel-1 post image the mean in dB of the last ``radar_scenes`` scenes of each track in
    it that saw each pixel. A new scar then shows at the first clear look after it instead of
    once a greenest-pixel window starts after the event. ``enl`` is the equivalent number of
    looks of one scene, for the radar change statistic and dating."""

    mode: CompositingMode = "event"
    radar_scenes: int = RADAR_SCENES
    enl: float = IW_GRD_ENL

    def __post_init__(self) -> None:
        if self.radar_scenes < 1:
            raise ValueError(f"radar_scenes must be at least 1, not {self.radar_scenes}")
        if self.enl <= 0:
            raise ValueError(f"enl must be positive, not {self.enl}")

    def describe(self) -> str:
        """The stack attribute ``compositing`` (both sources write it); it starts with the
        mode (:func:`compositing_mode`)."""
        if self.mode == "event":
            return "event (greenest pixel, S1 median)"
        return f"monitoring (latest clear, last {self.radar_scenes} S1 scenes per track)"


def compositing_mode(description: str) -> CompositingMode | None:
    """The mode a stack's ``compositing`` attribute (:meth:`Compositing.describe`) names; None
    where it names none (a stack from a file in the Ganerød et al. layout)."""
    word = description.split(" ", 1)[0]
    return "event" if word == "event" else "monitoring" if word == "monitoring" else None
