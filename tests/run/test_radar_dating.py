"""The Sentinel-1 event bracket of an object (monitor.pipeline.dating): a scene flags a pixel of a
slide whose backscatter fell by about one speckle standard deviation not much more often than
one of unchanged ground, so a pixel's first flagged scene is as often a later one as the first
after the event, and before the event chance flags some pixels of every object. The object's
bracket must still hold the event day: measured on scenes of the simulator's speckle, dated per
pixel as the archive dates them (monitor.sources.archive_composite.radar_dating)."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import numpy as np
import xarray as xr

from models.change_statistics import IW_GRD_ENL
from monitor.pipeline.dating import combine_brackets, object_dating
from monitor.simulator.radar import speckle
from monitor.sources.archive_composite import radar_dating
from monitor.sources.composite import nan_mean

SHAPE = (40, 40)
SCAR = (slice(12, 28), slice(12, 28))  # 16 x 16 px, 2.56 ha
PRE_SCENES = 10
BASELINE_LAST = 19_900.0  # days since 1970: the baseline's last scene
POST_DAYS = BASELINE_LAST + 3.0 * np.arange(1, 11)  # ten post-window scenes, 3 days apart


def _dated(seed: int, event_scene: int, change_db: float, baseline_changed: int = 0) -> xr.Dataset:
    """The dating bands of a slope (VV -8 dB) whose scar's VV changes by ``change_db`` from
    post-window scene ``event_scene`` (0-based) on, and in the last ``baseline_changed`` scenes
    of the baseline."""
    rng = np.random.default_rng(seed)

    def scene(change: float) -> np.ndarray:
        db = -8.0 + np.zeros(SHAPE)
        db[SCAR] += change
        return np.asarray(10 * np.log10(10 ** (db / 10) * speckle(rng, SHAPE)), np.float32)

    held = [k >= PRE_SCENES - baseline_changed for k in range(PRE_SCENES)]
    pre, pre_count = nan_mean(np.stack([scene(change_db if h else 0.0) for h in held]))
    post = np.stack([scene(change_db if k >= event_scene else 0.0) for k in range(10)])
    dating = radar_dating(
        post, POST_DAYS, pre, pre_count, np.full(SHAPE, BASELINE_LAST), IW_GRD_ENL
    )
    layers = {
        "s1_last_unchanged": dating.last_unchanged,
        "s1_first_changed": dating.first_changed,
        "s1_changed_scenes": dating.changed_count,
        "s1_count_post": np.ones(SHAPE, np.float32),
        "s1_count_pre": pre_count.astype(np.float32),
        "liaDeg": np.full(SHAPE, 37.5, np.float32),
    }
    window = ",".join(str(np.datetime64(int(d), "D")) for d in POST_DAYS)
    return xr.Dataset(
        {k: (("y", "x"), v) for k, v in layers.items()}, attrs={"s1_dates_post": window}
    )


def _violations(event_scene: int, change_db: float, seeds: range) -> list[tuple[int, str]]:
    """The seeds whose Sentinel-1 bracket of the scar misses the event: it happened after the
    scene before ``event_scene`` and by that scene."""
    labels = np.zeros(SHAPE, np.int32)
    labels[SCAR] = 1
    event = POST_DAYS[event_scene]  # any day after the scene before it: the bracket is the same
    out = []
    for seed in seeds:
        dating = object_dating(_dated(seed, event_scene, change_db), labels, np.array([1]))
        after, before = dating["s1_event_after"][0], dating["s1_event_before"][0]
        assert before is not None, seed  # the scar's change is seen
        after_day = -np.inf if after is None else _number(str(after))
        before_day = _number(str(before))
        if not after_day < event <= before_day:
            out.append((seed, f"({after}, {before}]"))
    return out


def _number(iso: str) -> float:
    return float(np.datetime64(iso, "D").astype(np.int64))


def test_a_weak_radar_change_is_dated_after_the_last_scene_before_it() -> None:
    """A forest slide (VV -2.5 dB: the first scene after it flags a sixth of its pixels) in the
    middle of the window. The lower medians of the pixels' brackets put the last unchanged scene
    after the event in 10 of these 12 seeds: most pixels first flagged a later scene, whose
    last unflagged one followed the event."""
    assert _violations(event_scene=5, change_db=-2.5, seeds=range(12)) == []


def test_chance_flags_before_a_late_event_do_not_date_it_early() -> None:
    """The same kind of slide late in the window: before it, chance flags 4-5 % of the pixels on
    each of eight scenes, 30 % in all, half of the pixels that ever show a change, and the lower
    median of the first flagged scenes fell before the event in 8 of these 12 seeds."""
    assert _violations(event_scene=8, change_db=-3.0, seeds=range(12)) == []


def test_the_bracket_closes_on_the_first_scenes_after_a_clear_change() -> None:
    """A bare scar (VV -6 dB: the first scene after it flags 72 % of its pixels): the upper
    bound is that scene, as the pixels' own brackets said."""
    labels = np.zeros(SHAPE, np.int32)
    labels[SCAR] = 1
    for seed in range(4):
        dating = object_dating(_dated(seed, 5, -6.0), labels, np.array([1]))
        assert _number(str(dating["s1_event_before"][0])) == POST_DAYS[5], seed


def test_a_change_its_baseline_already_holds_has_no_radar_lower_bound() -> None:
    """A run a fortnight after a slide (a monitor started after a storm): the last three scenes
    of its baseline hold the change, and every scene of its post window shows it against the
    baseline's mean. The pixels' lower bound, the baseline's last scene, is after the event: a
    radar bracket takes a lower bound only from a look of its post window, so this object has
    none, and its upper bound is a scene of the window."""
    labels = np.zeros(SHAPE, np.int32)
    labels[SCAR] = 1
    for seed in range(4):
        dating = object_dating(_dated(seed, 0, -4.0, baseline_changed=3), labels, np.array([1]))
        assert dating["s1_event_after"][0] is None, seed
        assert _number(str(dating["s1_event_before"][0])) in POST_DAYS, seed


def _object_flags(
    flags: dict[int, int], size: tuple[int, int], chance: float = 0.045
) -> tuple[xr.Dataset, np.ndarray]:
    """The dating bands of a stack whose pixels chance first flags at the share ``chance`` of
    those not flagged before on each post-window scene, but for an object of ``size`` pixels in
    the corner whose pixels were first flagged on the scenes ``flags`` (scene -> pixels, the
    rest never). Returns the stack and its labels."""
    labels = np.zeros(SHAPE, np.int32)
    labels[: size[0], : size[1]] = 1
    outside = np.flatnonzero(labels.ravel() == 0)
    first = np.full(labels.size, np.nan)
    last = np.full(labels.size, POST_DAYS[-1])  # never flagged: the window's last look
    start = 0
    for scene, day in enumerate(POST_DAYS):
        count = round(chance * (outside.size - start))
        first[outside[start : start + count]] = day
        last[outside[start : start + count]] = POST_DAYS[scene - 1] if scene else BASELINE_LAST
        start += count
    inside = np.flatnonzero(labels.ravel())
    start = 0
    for scene, pixels in sorted(flags.items()):
        first[inside[start : start + pixels]] = POST_DAYS[scene]
        last[inside[start : start + pixels]] = POST_DAYS[scene - 1] if scene else BASELINE_LAST
        start += pixels
    layers = {
        "s1_first_changed": first.reshape(SHAPE),
        "s1_last_unchanged": last.reshape(SHAPE),
        "s1_count_post": np.ones(SHAPE),
        "liaDeg": np.full(SHAPE, 37.5),
    }
    window = ",".join(str(np.datetime64(int(d), "D")) for d in POST_DAYS)
    stack = xr.Dataset(
        {k: (("y", "x"), v.astype(np.float32)) for k, v in layers.items()},
        attrs={"s1_dates_post": window},
    )
    return stack, labels


def test_a_look_that_flagged_none_of_its_pixels_is_no_radar_lower_bound() -> None:
    """A slide between the fourth and the fifth scene that the fifth, from a track that sees it
    weakly, flagged on none of its 64 pixels, and the sixth on 40. Taken as the lower bound, the
    fifth scene was after the event (2 of the 23 radar lower bounds of the inventory on the
    simulated season of bench/bench_dating.py, six regions): a radar bracket has none."""
    stack, labels = _object_flags({5: 40}, (8, 8))
    dating = object_dating(stack, labels, np.array([1]))
    assert dating["s1_event_after"][0] is None
    assert _number(str(dating["s1_event_before"][0])) == POST_DAYS[5]


def test_a_chance_cluster_on_a_small_object_does_not_date_its_change() -> None:
    """Seven of a 10-pixel object's pixels flagged on one scene before the slide (a speckle
    cluster: about two resolution cells), the other three after it. The cluster passed the
    onset test, and the upper bound was eight days before the slide; an object of fewer than
    ONSET_CELLS cells takes the last day its pixels were first flagged."""
    stack, labels = _object_flags({2: 7, 7: 3}, (2, 5))
    dating = object_dating(stack, labels, np.array([1]))
    assert _number(str(dating["s1_event_before"][0])) == POST_DAYS[7]
    # the same flags on an object of 60 pixels (13.6 cells) date it on the scene they cluster in
    stack, labels = _object_flags({2: 42, 7: 18}, (6, 10))
    dating = object_dating(stack, labels, np.array([1]))
    assert _number(str(dating["s1_event_before"][0])) == POST_DAYS[2]


def test_two_tracks_on_one_day_flag_twice_the_pixels_by_chance() -> None:
    """Both passes of a 6-day repeat cycle on the same days: chance first flags 9 % of the
    pixels not flagged before on each day, not 4.5 %. Thirteen of a 60-pixel object's pixels on
    one day before its slide was an onset against 4.5 % (the upper bound two days before an
    alpine slide of the simulated season); against the share the stack's other pixels show that
    day it is chance, and the slide's day is the upper bound."""
    stack, labels = _object_flags({0: 5, 1: 5, 2: 13, 4: 20}, (6, 10), chance=0.09)
    dating = object_dating(stack, labels, np.array([1]))
    assert _number(str(dating["s1_event_before"][0])) == POST_DAYS[4]


def test_sensors_that_disagree_give_the_span_of_both() -> None:
    """Found by a new user's walk: radar flagged a change by 08-07 where a clear optical look of
    08-19 showed none, and the alert said the slide (of 08-20) had happened by 08-07. One of
    them is wrong; the span of both holds the day whichever is right."""
    radar, optical = (None, date(2024, 8, 7)), (date(2024, 8, 19), date(2024, 8, 24))
    assert combine_brackets(radar, optical) == (None, date(2024, 8, 24))
    assert combine_brackets(optical, radar) == (None, date(2024, 8, 24))
    # disjoint with both lower bounds: from the earlier to the later
    early, late = (date(2024, 8, 1), date(2024, 8, 5)), (date(2024, 8, 10), date(2024, 8, 12))
    assert combine_brackets(early, late) == (date(2024, 8, 1), date(2024, 8, 12))
    # one look on the day of the other's last look without the change disagrees too
    assert combine_brackets((None, date(2024, 8, 19)), optical) == (None, date(2024, 8, 24))
    # brackets that overlap: the later lower bound and the earlier upper bound, as before
    assert combine_brackets((None, date(2024, 8, 22)), optical) == (
        date(2024, 8, 19),
        date(2024, 8, 22),
    )
    assert combine_brackets((None, None), optical) == optical
    assert combine_brackets((None, None), (None, None)) == (None, None)
    # ISO dates, as the inventory stores them
    assert combine_brackets((None, "2024-08-07"), ("2024-08-19", "2024-08-24")) == (
        None,
        "2024-08-24",
    )


def test_a_window_of_many_scenes_does_not_confirm_speckle() -> None:
    """Two Sentinel-1 satellites over four overlapping tracks put 20 scenes in a 30-day window.
    Read whole, one of them flags over half of an unchanged object's pixels and another repeats
    the flag, so the second look's radar-repeat confirmed every object of pure speckle; the
    dating reads each pixel's newest ``DATING_SCENES`` (10) scenes, where chance confirms none.
    Counted by bench/bench_repeat_chance.py's own function, on a smaller field."""
    spec = importlib.util.spec_from_file_location(
        "_repeat_chance", Path(__file__).resolve().parents[2] / "bench" / "bench_repeat_chance.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for scenes in (20, 30):
        _, _, confirmed, objects = bench.chance_shares(scenes, 200, object_px=40)
        assert (confirmed, objects) == (0, 25)
    # teeth: every scene read, as before
    _, _, confirmed, _ = bench.chance_shares(20, 200, object_px=40, newest=20)
    assert confirmed == 25
