"""When each candidate happened, per sensor, and whether a second look confirms it.

The sources put per-pixel event dating into the stack (``models.feature_stack.DATING_VARIABLES``:
per sensor, the last observation that does not show the change and the first that does). Here
each candidate object gets, per sensor that saw the change over most of its pixels, the bracket
``(event_after, event_before)``: the change happened after the first date and on or before the
second. Each bound is a real acquisition day. For Sentinel-2 it is the lower median over the
object's changed pixels of their own bounds (a clear look at a scar shows it at almost every
pixel). A Sentinel-1 scene flags a slide's pixel not much more often than chance flags one of
unchanged ground, so the pixels' own bounds are as often after the event as before it: the
object's upper bound is the first day on which more of its pixels first show the change than
chance explains (:data:`ONSET_Z`), and it has no lower bound. A look on which none of its
pixels was flagged does not show that it had not changed yet (one scene flags a slide's pixel
with a probability of a sixth to a third in the simulated scenes, and tracks differ), and the
baseline's last scene is tested by nothing (a change in the baseline's last scenes only
shifts its mean; in a run some weeks after a slide that scene is after the event). The
candidate's bracket combines the sensors: the latest lower bound and the earliest upper bound,
or, where they disagree (one saw the change before the other's last look without it), the
span of both, which holds the day whichever of them is right.

Persistence (docs/operations.md, "Time to alert"): an early detection from radar alone is
confirmed when the optical view shows the change too (``optical``), or when two Sentinel-1
scenes show it (``radar-repeat``): at most of its changed pixels, two scenes of the post window
deviate from the baseline (``s1_changed_scenes`` of the stack), or, as an object, the newest
scene of the monitoring post image and the rest of it each stand out of the object's
surroundings by :data:`LOOK_Z` standard errors in the direction of its change (two looks:
``s1_newest_VV``/``s1_newest_VH`` of the stack; per pixel a change of a few dB is about one
standard deviation of a scene's speckle, over an object's resolution cells it is many standard
errors). An unconfirmed candidate enters the
inventory without an alert; it is alerted when a later run's detection of it is confirmed (its
stack then holds the next scene), and a change that reverts (wet soil drying, a harvested
field, melting snow) is never confirmed. A stack without dating (a GeoTIFF in the Ganerød et
al. layout) cannot tell: its candidates are ``undated`` and alerted at once, as before
persistence existed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal, TypeVar

import numpy as np
import xarray as xr

from models.change_statistics import IW_GRD_ENL, log_ratio_z
from models.feature_stack import DATING_VARIABLES, StackAttrs
from monitor.pipeline.object_pixels import ObjectPixels
from monitor.pipeline.radar_drop import (
    RADAR_MEANS,
    cell_pixels,
    drop_statistic,
    monitoring_means,
    ring_contrast,
    ring_zone,
)

__all__ = [
    "DATING_COLUMNS",
    "LOOK_Z",
    "ONSET_CELLS",
    "ONSET_Z",
    "SAW_CHANGE_SHARE",
    "Confirmation",
    "combine_brackets",
    "day_number",
    "lower_medians",
    "object_dating",
    "two_looks",
]

# ``first-look``: the region asks for no second look (``second_look: false``); ``undated``: the
# stack cannot tell (no dating in it).
Confirmation = Literal["optical", "radar-repeat", "undated", "first-look"]
# A sensor saw a candidate's change where most of the object's pixels with observations of that
# sensor show it (a single scene flags about 5 % of unchanged pixels by chance).
SAW_CHANGE_SHARE = 0.5
# A Sentinel-1 scene flags about 5 % of the pixels of unchanged ground (|z| beyond
# SINGLE_SCENE_Z, two-sided), and a slide's pixel not much more often: a change of 2-3 dB is
# about one standard deviation of a scene's speckle. A pixel's first flagged scene is then as
# often a later one as the first after the event, and its last unflagged one as often after the
# event as before it. An object dates its radar change by how many of its pixels first show it
# on each day: the change had happened by the first day on which they exceed the share the
# stack's other pixels show that day by ONSET_Z standard errors (one-sided 0.13 % a day on
# unchanged ground; speckle correlated within a resolution cell, as for the two looks).
ONSET_Z = 3.0
# Fewer resolution cells than this make too few independent looks at the change for the test
# (a chance cluster of flags on a 10-pixel object passed it 8 days before a slide).
ONSET_CELLS = 10.0
# Two looks confirm an object's radar change where each stands out of the object's surroundings
# by 3 standard errors in the direction of the change: one-sided 0.13 % per look for an object
# outlined before looking at the data. A candidate is picked from the same scenes and carries its
# contrast into both looks, so this tests persistence (a change in one scene is not two looks),
# not speckle: the detector's own null rate bounds that (docs/operations.md, "Two looks").
LOOK_Z = 3.0
# The candidate columns this module fills (docs/DESIGN.md), dates as ISO strings or None.
DATING_COLUMNS: tuple[str, ...] = (
    "s1_event_after",
    "s1_event_before",
    "s2_event_after",
    "s2_event_before",
    "event_after",
    "event_before",
    "confirmation",
    "post_latest",
)
_EPOCH = date(1970, 1, 1)

Bracket = tuple[date | None, date | None]
_Day = TypeVar("_Day", date, str)  # a date, or an ISO date


def day_number(day: date) -> float:
    """Days since 1970-01-01 of ``day``: the unit of the dating bands."""
    return float((day - _EPOCH).days)


def _day(value: float) -> date | None:
    return None if not np.isfinite(value) else _EPOCH + timedelta(days=int(value))


def lower_medians(values: np.ndarray, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per object, the lower median of its finite ``values`` (NaN where none)."""
    return ObjectPixels(labels, index).lower_median(values)


def _sensor_brackets(
    stack: xr.Dataset, sensor: str, labels: np.ndarray, index: np.ndarray
) -> list[Bracket]:
    """Per object, the sensor's bracket; ``(None, None)`` where it did not see the change."""
    last_name, first_name = f"{sensor}_last_unchanged", f"{sensor}_first_changed"
    if last_name not in stack or first_name not in stack:
        return [(None, None)] * len(index)
    first = stack[first_name].values.astype(np.float64)
    changed = np.isfinite(first)
    # pixels with an observation of this sensor in the post window (not only the baseline's)
    count = "s2_clear_post" if sensor == "s2" else "s1_count_post"
    observed = changed | (np.asarray(stack[count].values) > 0) if count in stack else changed
    objects = ObjectPixels(labels, index)
    n_changed = objects.count(changed)
    n_observed = objects.count(observed)
    saw = (n_observed > 0) & (n_changed >= SAW_CHANGE_SHARE * np.maximum(n_observed, 1))
    if sensor == "s1":  # an upper bound only (see the module)
        befores = _radar_onsets(objects, first, observed, cell_pixels(stack))
        afters = np.full(len(index), np.nan)
    else:
        last = stack[last_name].values.astype(np.float64)
        befores = objects.lower_median(np.where(changed, first, np.nan))
        afters = objects.lower_median(np.where(changed, last, np.nan))
    return [
        (_day(a), _day(b)) if ok else (None, None)
        for ok, a, b in zip(saw, afters, befores, strict=True)
    ]


def _radar_onsets(
    objects: ObjectPixels, first: np.ndarray, observed: np.ndarray, cells: np.ndarray
) -> np.ndarray:
    """Per object, the day by which its Sentinel-1 change had happened (NaN where none of its
    pixels changed): the first day on which its pixels first flagged that day outnumber the
    share the stack's other pixels show that day (two tracks acquired the same day flag twice
    as many; weather moves it) by :data:`ONSET_Z` standard errors. Where no day does, or the
    object spans fewer than :data:`ONSET_CELLS` resolution cells, the last day any of its
    pixels was first flagged."""
    n = len(objects.index)
    days = np.unique(first[np.isfinite(first)])  # the window's scenes that flagged a pixel
    if not n or not days.size:
        return np.full(n, np.nan)
    cell = np.maximum(objects.mean(cells), 1.0)
    excess = np.full((days.size, n), -np.inf)  # -inf: no pixel of the object first flagged then
    for k, day in enumerate(days):
        flagged_now = first == day
        unflagged_now = observed & ~(first < day)  # NaN compares False: never flagged
        new = objects.count(flagged_now)
        unflagged = objects.count(unflagged_now)
        with np.errstate(invalid="ignore", divide="ignore"):
            others = np.count_nonzero(unflagged_now) - unflagged
            chance = (np.count_nonzero(flagged_now) - new) / others
        chance = np.clip(np.nan_to_num(chance, nan=1.0), 1e-6, 1.0 - 1e-6)
        spread = np.sqrt(cell * chance * (1.0 - chance) * np.maximum(unflagged, 1.0))
        excess[k] = np.where(new > 0, (new - chance * unflagged) / spread, -np.inf)
    flagged = np.isfinite(excess)
    onset = (excess >= ONSET_Z) & (objects.count(observed) >= ONSET_CELLS * cell)
    latest = days.size - 1 - flagged[::-1].argmax(axis=0)
    upper = np.where(onset.any(axis=0), onset.argmax(axis=0), latest)
    return np.where(flagged.any(axis=0), days[upper], np.nan)


def combine_brackets(
    s1: tuple[_Day | None, _Day | None], s2: tuple[_Day | None, _Day | None]
) -> tuple[_Day | None, _Day | None]:
    """One bracket from the sensors' (see the module); ``(None, None)`` where none saw it.
    Dates, or ISO dates as the inventory stores them (:mod:`monitor.store.landslides`)."""
    seen = [b for b in (s1, s2) if b[1] is not None]
    befores = [b[1] for b in seen if b[1] is not None]
    if not befores:
        return (None, None)
    before = min(befores)
    afters = [b[0] for b in seen if b[0] is not None]
    after = max(afters) if afters else None
    if after is not None and after >= before:
        # one sensor showed the change before another's clear look that did not: one of them
        # is wrong, and which cannot be told; the span of both holds the day if either does
        lows = [b[0] for b in seen]
        low = None if None in lows else min(d for d in lows if d is not None)
        return (low, max(befores))
    return (after, before)


def _radar_repeats(stack: xr.Dataset, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per object, the lower median over its changed pixels of how many post-window Sentinel-1
    scenes show the change (0 where none or no count in the stack)."""
    if "s1_changed_scenes" not in stack or "s1_first_changed" not in stack:
        return np.zeros(len(index))
    scenes = stack["s1_changed_scenes"].values.astype(np.float64)
    changed = np.isfinite(stack["s1_first_changed"].values)
    medians: np.ndarray = np.nan_to_num(
        lower_medians(np.where(changed, scenes, np.nan), labels, index)
    )
    return medians


# The bands that date a candidate (a stack written before the newest-scene bands is still dated).
_NEWEST_BANDS = ("s1_newest_VV", "s1_newest_VH")
_BRACKET_BANDS = tuple(n for n in DATING_VARIABLES if n not in _NEWEST_BANDS)


def two_looks(
    stack: xr.Dataset, labels: np.ndarray, index: np.ndarray, enl: float = IW_GRD_ENL
) -> np.ndarray:
    """Per object, whether two Sentinel-1 looks show its change: in VV or in VH, the newest scene
    of the monitoring post image and the mean of its other scenes (``(n * post - newest) /
    (n - 1)``, exact for a mean in dB of ``n`` scenes) each stand out of the object's ring by
    :data:`LOOK_Z` standard errors (:func:`~monitor.pipeline.radar_drop.ring_contrast`, the
    log-ratio statistic against the baseline, speckle correlated within a resolution cell) in
    the direction the post image moved against the ring. A change of the whole slope (soil
    moisture after a storm, wet snow) cancels against the ring. False for a post image of one
    scene (it has one look; a later run's stack holds the next) and for stacks that are not
    monitoring means or lack the bands."""
    out = np.zeros(len(index), bool)
    bands = (*RADAR_MEANS, *_NEWEST_BANDS)
    if not len(index) or not monitoring_means(stack) or not all(b in stack for b in bands):
        return out
    n_post = np.asarray(stack["s1_count_post"].values, np.float64)
    n_pre = np.asarray(stack["s1_count_pre"].values, np.float64)
    several = n_post >= 2
    if not several.any():
        return out
    cells = cell_pixels(stack)
    zone = ring_zone(labels)
    for pol in ("VV", "VH"):
        pre = np.asarray(stack[f"pre{pol}"].values, np.float64)
        post = np.asarray(stack[f"post{pol}"].values, np.float64)
        newest = np.asarray(stack[f"s1_newest_{pol}"].values, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            rest = np.where(several, (n_post * post - newest) / (n_post - 1.0), np.nan)
            looks = [
                drop_statistic(stack, enl, pol),
                log_ratio_z(newest, np.ones_like(n_post), pre, n_pre, enl),
                log_ratio_z(rest, n_post - 1.0, pre, n_pre, enl),
            ]
        usable = several & np.isfinite(looks[0]) & np.isfinite(looks[1]) & np.isfinite(looks[2])
        post_t, newest_t, rest_t = (
            ring_contrast(np.where(usable, z, np.nan), usable, labels, index, cells, zone)
            for z in looks
        )
        direction = np.sign(post_t)
        with np.errstate(invalid="ignore"):
            out |= (newest_t * direction >= LOOK_Z) & (rest_t * direction >= LOOK_Z)
    return out


def _confirmation(
    s1: Bracket, s2: Bracket, repeats: float, looks: bool = False
) -> Confirmation | None:
    """``optical`` where Sentinel-2 saw the change; ``radar-repeat`` where Sentinel-1 did in at
    least two scenes (the next scene confirmed it) or two looks showed the object's change
    (:func:`two_looks`); else None (wait for a second look)."""
    if s2[1] is not None:
        return "optical"
    if (s1[1] is not None and repeats >= 2) or looks:
        return "radar-repeat"
    return None


def object_dating(
    stack: xr.Dataset, labels: np.ndarray, index: np.ndarray, *, second_look: bool = True
) -> dict[str, list[object]]:
    """The :data:`DATING_COLUMNS` of the labelled objects ``index`` of ``labels``; without
    ``second_look`` an unconfirmed object is taken at its first look."""
    attrs = StackAttrs.of(stack)
    dated = all(name in stack for name in _BRACKET_BANDS)
    s1 = _sensor_brackets(stack, "s1", labels, index)
    s2 = _sensor_brackets(stack, "s2", labels, index)
    repeats = _radar_repeats(stack, labels, index)
    # two looks only where their answer counts: a dated stack whose region asks for a second look
    looks = two_looks(stack, labels, index) if dated and second_look else np.zeros(len(index), bool)
    latest = max([*attrs.dates("s1", "post"), *attrs.dates("s2", "post")], default=None)
    combined = [combine_brackets(a, b) for a, b in zip(s1, s2, strict=True)]

    def iso(value: date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "s1_event_after": [iso(b[0]) for b in s1],
        "s1_event_before": [iso(b[1]) for b in s1],
        "s2_event_after": [iso(b[0]) for b in s2],
        "s2_event_before": [iso(b[1]) for b in s2],
        "event_after": [iso(b[0]) for b in combined],
        "event_before": [iso(b[1]) for b in combined],
        "confirmation": [
            (_confirmation(a, b, r, k) or (None if second_look else "first-look"))
            if dated
            else "undated"
            for a, b, r, k in zip(s1, s2, repeats, looks, strict=True)
        ],
        "post_latest": [iso(latest)] * len(index),
    }
