"""Object-level scores of a run's candidates against simulated ground truth."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
from shapely.geometry import box

from monitor.pipeline.evaluation import Evaluation, detected_events, evaluate
from monitor.sources.base import Window

PRE = Window(date(2024, 3, 19), date(2024, 5, 18))
POST = Window(date(2024, 5, 18), date(2024, 6, 17))


def _square(x: float) -> object:
    return box(x, 0.0, x + 100.0, 100.0)


def test_a_landslide_of_the_pre_window_is_counted_apart_among_the_false_alarms() -> None:
    truth = gpd.GeoDataFrame(
        {
            "kind": ["landslide", "landslide", "landslide", "clear_cut", "landslide", "clear_cut"],
            "event_date": [
                date(2024, 5, 20),
                date(2024, 5, 4),
                date(2024, 2, 1),
                date(2024, 4, 1),  # a look-alike of the pre window is no landslide
                date(2024, 3, 19),  # the pre window's first day
                date(2024, 6, 1),
            ],
        },
        geometry=[
            _square(0),
            _square(1000),
            _square(2000),
            _square(3000),
            _square(4000),
            _square(6000),
        ],
        crs="EPSG:32643",
    ).to_crs("EPSG:4326")
    candidates = gpd.GeoDataFrame(
        geometry=[
            _square(50),  # on the window's landslide
            _square(1050),  # on the pre window's: found late, a real landslide
            _square(1020),  # a second candidate on it: candidates are counted
            _square(4050),  # on the landslide of the pre window's first day
            _square(2050),  # on a scar older than the baseline
            _square(3050),  # on the pre window's clear-cut
            _square(6050),  # on the post window's clear-cut
            _square(5000),  # on nothing
            box(90.0, 0.0, 1010.0, 100.0),  # on the window's and the pre window's: a hit
        ],
        crs="EPSG:32643",
    )
    ev = evaluate(candidates, truth, PRE, POST)
    assert ev == Evaluation(
        events=1, detected=1, candidates=9, false_alarms=7, on_older_landslides=3
    )
    assert ev.on_no_landslide == 4
    total = ev + Evaluation(2, 1, 3, 2, 2)
    assert (total.false_alarms, total.on_older_landslides, total.on_no_landslide) == (9, 5, 4)


def test_no_landslide_in_the_window_leaves_every_candidate_false() -> None:
    truth = gpd.GeoDataFrame(
        {"kind": ["landslide"], "event_date": [date(2024, 4, 1)]},
        geometry=[_square(0)],
        crs="EPSG:32643",
    )
    candidates = gpd.GeoDataFrame(geometry=[_square(50), _square(500)], crs="EPSG:32643")
    ev = evaluate(candidates, truth, PRE, POST)
    assert (ev.events, ev.false_alarms, ev.on_older_landslides, ev.on_no_landslide) == (0, 2, 1, 1)
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:32643")
    assert evaluate(empty, truth, PRE, POST) == Evaluation(0, 0, 0, 0)


def test_detected_events_names_the_landslides_evaluate_counts() -> None:
    """Two chains compared landslide by landslide: the labels of the truth rows detected, the
    window's landslides only (not the pre window's, not a look-alike), each once."""
    truth = gpd.GeoDataFrame(
        {
            "kind": ["landslide", "landslide", "clear_cut", "landslide", "landslide"],
            "event_date": [
                date(2024, 5, 20),
                date(2024, 5, 4),  # pre window: found late, not detected here
                date(2024, 6, 1),
                date(2024, 6, 2),
                date(2024, 6, 3),  # missed
            ],
        },
        index=[10, 11, 12, 13, 14],
        geometry=[_square(0), _square(1000), _square(2000), _square(3000), _square(4000)],
        crs="EPSG:32643",
    ).to_crs("EPSG:4326")
    candidates = gpd.GeoDataFrame(
        geometry=[_square(3050), _square(50), _square(20), _square(1050), _square(2050)],
        crs="EPSG:32643",
    )
    assert detected_events(candidates, truth, PRE, POST) == [10, 13]
    assert evaluate(candidates, truth, PRE, POST).detected == 2
    empty = gpd.GeoDataFrame(geometry=[], crs="EPSG:32643")
    assert detected_events(empty, truth, PRE, POST) == []
