"""`landslide-monitor season`: each true landslide's first 'new' alert, its delay, and false
alerts, recomputed by hand on a small inventory (tests/ops/ops_fixtures.populate)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from shapely.geometry import box

from monitor.config import load_config
from monitor.errors import BadInput
from monitor.grid import region_grid
from monitor.ops.season import format_delays, format_score, run_dates, score_season
from tests.ops.ops_fixtures import write_config


class TruthSource:
    """Ground truth by region (EPSG:4326), as the archive source gives it."""

    def __init__(self, truth: dict[str, gpd.GeoDataFrame]) -> None:
        self.truth = truth

    def ground_truth(self, region: str, kinds=("landslide",)) -> gpd.GeoDataFrame:
        return self.truth.get(region, _frame([], [], []))

    def features(self, *args: Any, **kwargs: Any) -> xr.Dataset:  # GroundTruth's source half
        raise NotImplementedError

    def first_acquisition(self, area: object) -> None:
        return None


def _frame(geoms: list, dates: list[date], areas: list[float]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"event_date": dates, "area_m2": areas, "kind": ["landslide"] * len(dates)},
        geometry=geoms,
        crs="EPSG:4326",
    )


def _square(config, region: str, dx: float, dy: float, side: float):
    grid = region_grid(config.region(region).geometry)
    local = box(grid.x0 + dx, grid.y0 - dy - side, grid.x0 + dx + side, grid.y0 - dy)
    return gpd.GeoSeries([local], crs=grid.crs).to_crs(4326).iloc[0]


def test_delays_never_alerted_and_false_alerts_by_hand(populated_config) -> None:
    config, _ = populated_config
    # wayanad: the square (600, 600, 60) m was alerted on 2024-08-01; a second true landslide
    # (far from every detection) never was; emilia has none.
    alerted = _square(config, "wayanad-hills", 590, 590, 80)
    missed = _square(config, "wayanad-hills", 3000, 3000, 40)
    # in the grid's corner, outside the region's polygon, which no run can alert: not counted
    corner = _square(config, "wayanad-hills", 50, 50, 40)
    assert not corner.intersects(config.region("wayanad-hills").geometry)
    truth = {
        "wayanad-hills": _frame(
            [alerted, missed, corner],
            [date(2024, 7, 29), date(2024, 8, 20), date(2024, 8, 20)],
            [6400.0, 1600.0, 1600.0],
        )
    }
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=TruthSource(truth))
    rows = score.delays.sort_values("event_date").reset_index(drop=True)
    assert rows["alert_date"].tolist() == [date(2024, 8, 1), None]
    assert rows["delay_days"].iloc[0] == 3 and np.isnan(rows["delay_days"].iloc[1])
    # six landslides alerted as new (2 + 3 + 1); all but the one over the true landslide false
    assert (score.alerts, score.false_alerts) == (6, 5)
    summary = score.summary(1_000.0)
    assert summary["landslides"] == 2 and summary["never"] == 0.5
    assert summary["median_days"] == 3.0
    # 5 false alerts over the two regions' km² and the season's 38 + 30 days
    months = (38 + 30) / 30.44
    assert summary["false_per_100km2_month"] == pytest.approx(5 / (score.area_km2 / 100) / months)
    assert score.never_by_size() == {"< 0.1 ha": (0, 0), "0.1-1 ha": (1, 2), ">= 1 ha": (0, 0)}
    assert "alerted 2024-08-01 after 3 d" in format_delays(score)
    assert "never alerted" in format_delays(score)
    assert "delay median 3 d" in format_score(score)
    # first drawn: the entry over the alerted landslide was first seen on its alert's run
    assert rows["drawn_days"].iloc[0] == 3 and np.isnan(rows["drawn_days"].iloc[1])
    assert (summary["drawn_median_days"], summary["never_drawn"]) == (3.0, 0.5)
    assert (
        "first drawn (an inventory entry over it, confirmed or not): median 3 d, p90 3 d, never 50%"
        in format_score(score)
    )


def test_growth_alerts_that_show_no_more_of_the_true_landslide_are_counted(
    ops_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A growth alert tells something where its outline shows more of a true landslide than
    the alert before it: a slide of 80 m alerted first as 40 m of it, then whole (more), then
    with 20 m and 40 m of ground around it that no slide took (no more, twice)."""
    from monitor.alerts.settings import AlertRouting, AlertSettings
    from monitor.store.inventory import Inventory, RegionDetections
    from tests.ops.ops_fixtures import candidates_for

    monkeypatch.setenv("LM_SEASON_SECRET", "s3cret")
    hook = {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "LM_SEASON_SECRET"}
    routing = AlertRouting.from_settings(AlertSettings(webhooks=[hook]))
    config, region = ops_config, "wayanad-hills"
    days = [date(2024, 8, 1), date(2024, 8, 6), date(2024, 8, 11), date(2024, 8, 16)]
    with Inventory(config.inventory.path) as inventory:
        for day, side in zip(days, (40, 80, 100, 120), strict=True):
            run_id = inventory.start_run(day, [region], "archive")
            found = candidates_for(config, region, [(600, 600, side)], day)
            inventory.apply(run_id, [RegionDetections(region, "ok", candidates=found)], routing)
        rows = inventory.outbox().rows()
    assert [r["event"] for r in rows] == ["landslide.new", *["landslide.grown"] * 3]
    slide = _square(config, region, 600, 600, 80)
    truth = {region: _frame([slide], [date(2024, 7, 30)], [6400.0])}
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=TruthSource(truth))
    assert score.growth == (3, 2)
    assert "3 growth alerts, 2 of them showing no more of the true landslides" in format_score(
        score
    )
    runs = (days[0], days[1])  # a season of the first two runs: their alerts alone
    assert score_season(config, *runs, source=TruthSource(truth), runs=runs).growth == (1, 0)
    # a season of the last two: each compared with the alert before it, one before the season
    # too (found in review: the first of them counted as showing more, having nothing before)
    runs = (days[2], days[3])
    assert score_season(config, *runs, source=TruthSource(truth), runs=runs).growth == (2, 2)


def test_drawn_is_the_first_run_that_drew_it_not_its_alert(populated_config) -> None:
    config, _ = populated_config
    # the entries first seen on 2024-08-01 alerted five days later, as a second look would
    with closing(sqlite3.connect(config.inventory.path)) as conn, conn:
        changed = conn.execute(
            "UPDATE landslides SET alerted_on = '2024-08-06' WHERE first_seen = '2024-08-01'"
        ).rowcount
    assert changed == 2
    truth = {
        "wayanad-hills": _frame(
            [
                _square(config, "wayanad-hills", 590, 590, 80),  # under (600, 600, 60)
                _square(config, "wayanad-hills", 910, 710, 40),  # under (900, 700, 80), later
            ],
            [date(2024, 7, 29), date(2024, 8, 7)],
            [6400.0, 1600.0],
        )
    }
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=TruthSource(truth))
    rows = score.delays.sort_values("event_date").reset_index(drop=True)
    assert rows["delay_days"].iloc[0] == 8 and rows["drawn_days"].iloc[0] == 3
    # drawn (and alerted) before it happened: neither counts for the later landslide
    assert rows["drawn_days"].isna().iloc[1] and rows["delay_days"].isna().iloc[1]
    # a season whose runs begin after the first drawing does not count it either
    later = score_season(
        config,
        date(2024, 7, 25),
        date(2024, 9, 1),
        source=TruthSource(truth),
        runs=(date(2024, 8, 2), date(2024, 9, 30)),
    )
    first = later.delays.sort_values("event_date").iloc[0]
    assert first["delay_days"] == 8 and np.isnan(first["drawn_days"])
    # nor its entries: a rail operator's walk re-ran a week and was given every entry's count
    assert (score.entries["all"], later.entries["all"]) == (6, 4)  # 2 first seen on 08-01


class LooksSource(TruthSource):
    """Ground truth with the sensors' first looks: a clear view 5 days after each event and a
    second radar scene 2 days after the first event only."""

    def first_looks(self, region: str, events: gpd.GeoDataFrame, orbit_pass=None):
        s2 = [d + timedelta(days=5) for d in events["event_date"]]
        s1 = [events["event_date"].iloc[0] + timedelta(days=2), *[None] * (len(events) - 1)]
        return pd.DataFrame({"first_clear_s2": s2, "second_s1": s1}, index=events.index)


def test_first_looks_are_the_earlier_sensor_per_landslide(populated_config) -> None:
    config, _ = populated_config
    truth = {
        "wayanad-hills": _frame(
            [
                _square(config, "wayanad-hills", 1000, 1000, 40),  # before the season: left out
                _square(config, "wayanad-hills", 590, 590, 80),
                _square(config, "wayanad-hills", 3000, 3000, 40),
            ],
            [date(2024, 6, 1), date(2024, 7, 29), date(2024, 8, 20)],
            [1600.0, 6400.0, 1600.0],
        )
    }
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=LooksSource(truth))
    rows = score.delays.sort_values("event_date").reset_index(drop=True)
    assert rows["look_days"].tolist() == [2, 5]  # radar first, then the clear view
    assert rows["optical_look_days"].tolist() == [5, 5]
    assert rows["radar_look_days"].iloc[0] == 2 and np.isnan(rows["radar_look_days"].iloc[1])
    summary = score.summary(1_000.0)
    assert (summary["look_median_days"], summary["look_p90_days"]) == (3.5, pytest.approx(4.7))
    assert (summary["optical_look_median_days"], summary["radar_look_p90_days"]) == (5.0, 2.0)
    assert (
        "first look (a clear Sentinel-2 view or the second Sentinel-1 scene): median 3.5 d, "
        "p90 4.7 d, none 0% (Sentinel-2: median 5 d, p90 5 d; Sentinel-1: median 2 d, p90 2 d)"
        in format_score(score)
    )
    assert "after 3 d (first look after 2 d)" in format_delays(score)
    # a source that cannot say leaves the column empty and the summary without it
    plain = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=TruthSource(truth))
    assert plain.delays["look_days"].isna().all() and "first look" not in format_score(plain)


def test_run_dates_and_their_errors() -> None:
    assert run_dates(date(2024, 8, 1), date(2024, 8, 7), 3) == [
        date(2024, 8, 1),
        date(2024, 8, 4),
        date(2024, 8, 7),
    ]
    with pytest.raises(BadInput, match="--every"):
        run_dates(date(2024, 8, 1), date(2024, 8, 7), 0)
    assert run_dates(date(2024, 8, 7), date(2024, 8, 7), 3) == [date(2024, 8, 7)]
    # reversed: refused naming both flags (it was an IndexError on the empty list of runs)
    with pytest.raises(BadInput) as refused:
        run_dates(date(2024, 9, 10), date(2024, 9, 1), 3)
    assert str(refused.value) == (
        "--first-run 2024-09-10 is after --last-run 2024-09-01: no run date between them "
        "(--first-run defaults to FROM of --events, --last-run to TO + 30 days)"
    )


def test_alerts_outside_the_seasons_runs_are_not_counted(populated_config) -> None:
    """The inventory also holds the runs of 08-01 and 09-14: a season of the 09-01 run alone
    counts only its three alerted landslides (all false: no truth in emilia)."""
    config, _ = populated_config
    source = TruthSource({})
    everything = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=source)
    one_run = score_season(
        config,
        date(2024, 8, 25),
        date(2024, 9, 1),
        source=source,
        runs=(date(2024, 9, 1), date(2024, 9, 1)),
    )
    assert (everything.alerts, everything.false_alerts) == (6, 6)
    assert (one_run.alerts, one_run.false_alerts) == (3, 3)


class RadarSource(TruthSource):
    """Ground truth and monitoring stacks of wayanad-hills, dated as the archive dates them:
    a baseline of 10 scenes, then one post scene in runs whose post window ends before
    ``second`` and two after it; the square ``scar`` (grid pixels rows, cols) is 4 dB brighter
    in VV and VH in every post scene and dated changed in each, the rest unchanged speckle. No
    optical view. A post window ending on ``gap`` has no data."""

    name = "radar"

    def __init__(self, truth, grid, scar, second: date, gap: date) -> None:
        super().__init__(truth)
        self.grid, self.scar, self.second, self.gap = grid, scar, second, gap

    def features(self, area, pre, post, compositing=None) -> xr.Dataset:
        from models.change_statistics import Compositing
        from monitor.pipeline.dating import day_number
        from monitor.simulator.radar import speckle
        from monitor.sources.base import DataUnavailable

        if post.end == self.gap:
            raise DataUnavailable("no scene")
        rng = np.random.default_rng(post.end.toordinal())
        shape = self.grid.shape
        scar = np.zeros(shape, bool)
        r0, r1, c0, c1 = self.scar
        scar[r0:r1, c0:c1] = True
        scenes = 2 if post.end >= self.second else 1

        def scene(db: np.ndarray) -> np.ndarray:
            return np.asarray(10 * np.log10(10 ** (db / 10) * speckle(rng, shape)), np.float32)

        data = {}
        for pol, level in (("VV", -8.0), ("VH", -14.0)):
            base = np.full(shape, level)
            post_scenes = [scene(base + 4.0 * scar) for _ in range(scenes)]
            data[f"pre{pol}"] = np.mean([scene(base) for _ in range(10)], axis=0)
            data[f"post{pol}"] = np.mean(post_scenes, axis=0)
            data[f"s1_newest_{pol}"] = post_scenes[-1]
        data["s1_count_post"] = np.full(shape, float(scenes))
        data["s1_count_pre"] = np.full(shape, 10.0)
        data["liaDeg"] = np.full(shape, 37.5)
        data["s1_last_unchanged"] = np.where(scar, day_number(pre.end), np.nan)
        data["s1_first_changed"] = np.where(scar, day_number(post.start), np.nan)
        data["s1_changed_scenes"] = np.where(scar, float(scenes), 0.0)
        data["s2_last_unchanged"] = data["s2_first_changed"] = np.full(shape, np.nan)
        stack = xr.Dataset(
            {k: (("y", "x"), v.astype(np.float32)) for k, v in data.items()},
            coords={"y": self.grid.y, "x": self.grid.x},
            attrs={"compositing": Compositing("monitoring").describe()},
        )
        return stack.rio.write_crs(self.grid.crs)


def test_shown_is_the_first_run_whose_stack_confirms_the_true_outline(populated_config) -> None:
    config, _ = populated_config
    grid = region_grid(config.region("wayanad-hills").geometry)
    # the landslide under the entry (600, 600, 60) alerted on 2024-08-01: 12 x 12 px from
    # (590, 590) m of the grid's corner; a second one elsewhere that the stacks never show
    shown = _square(config, "wayanad-hills", 590, 590, 120)
    hidden = _square(config, "wayanad-hills", 2000, 2000, 120)
    truth = {
        "wayanad-hills": _frame(
            [shown, hidden], [date(2024, 7, 28), date(2024, 7, 28)], [14400.0, 14000.0]
        )
    }
    # runs from two days before the landslides (their stacks count for neither of them)
    runs = [date(2024, 7, 26) + timedelta(days=d) for d in range(8)]
    windows = config.region("wayanad-hills").windows
    second = windows.windows_for(runs[5])[1].end  # two scenes from the run of 07-31
    gap = windows.windows_for(runs[3])[1].end  # and no data on 07-29 (skipped, as runs skip it)
    source = RadarSource(truth, grid, (59, 71, 59, 71), second, gap)
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=source, shown_on=runs)
    rows = score.delays.sort_values("area_m2", ascending=False).reset_index(drop=True)
    # the first post scene shows the change, the second confirms it (two radar scenes); the
    # other landslide's outline never changed
    assert rows["changed_days"].iloc[0] == 0 and rows["shown_days"].iloc[0] == 3
    assert rows["shown_by"].iloc[0] == "radar-repeat"
    assert rows[["changed_days", "shown_days", "shown_by"]].iloc[1].isna().all()
    summary = score.summary(1_000.0)
    assert (summary["shown_median_days"], summary["never_shown"]) == (3.0, 0.5)
    assert (summary["shown_within_14"], summary["shown_within_14_radar"]) == (0.5, 0.5)
    # alerted on 08-01, 4 days after, 1 after the run that confirmed it
    assert rows["delay_days"].iloc[0] == 4 and summary["lag_median_days"] == 1.0
    assert (
        "with the true outline: first changed (confirmed or not) median 0 d, p90 0 d; first "
        "shown (confirmed): median 3 d, p90 3 d, within 14 d 50% (by radar 50%), never 50%; "
        "alert after shown: median 1 d, p90 1 d" in format_score(score)
    )
    lines = format_delays(score).splitlines()
    assert lines[1].endswith("its stacks confirmed it after 3 d (radar-repeat)")
    assert lines[2].endswith("its stacks never confirmed it")
    # without shown_on nothing is computed, nor printed
    plain = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=source)
    assert plain.delays["shown_days"].isna().all()
    assert "first shown" not in format_score(plain)
    assert "its stacks" not in format_delays(plain)


def test_the_season_command_finds_the_shown_runs_on_request(
    populated_config, monkeypatch, capsys
) -> None:
    """`landslide-monitor season --shown` scores with the runs' dates as ``shown_on`` (the runs
    themselves stood in for: the inventory already holds them)."""
    import monitor.ops.season as season
    from monitor.cli import main

    config, _ = populated_config
    grid = region_grid(config.region("wayanad-hills").geometry)
    truth = {
        "wayanad-hills": _frame(
            [_square(config, "wayanad-hills", 590, 590, 120)], [date(2024, 7, 28)], [14400.0]
        )
    }
    never = date(2099, 1, 1)
    source = RadarSource(truth, grid, (59, 71, 59, 71), date(2024, 7, 1), never)
    monkeypatch.setattr(season, "_ground_truth", lambda config, source_=None: source)
    monkeypatch.setattr(season, "run_season", lambda config, dates, **kw: [])
    argv = ["season", "--config", str(config.path), "--events", "2024-07-25", "2024-09-01"]
    argv += ["--first-run", "2024-07-28", "--last-run", "2024-08-01"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "first shown" not in out
    # found in a walkthrough: 'alerted' beside runs that sent nothing
    assert "(no alert recipient in " in out and "'alerted' is the run that raised each" in out
    assert main([*argv, "--shown"]) == 0
    # two scenes from the first run on: shown on the landslide's day, alerted 4 days later
    out = capsys.readouterr().out
    assert "first shown (confirmed): median 0 d" in out
    assert "alert after shown: median 4 d" in out
    # a ground truth that builds no stacks cannot be read again
    monkeypatch.setattr(season, "_ground_truth", lambda config, source_=None: TruthSource(truth))
    with pytest.raises(BadInput, match="--shown"):
        season.cli_run(season_args(config, "--shown"))


def test_a_season_stopped_by_sigterm_ends_as_a_run_does(populated_config, monkeypatch, capsys):
    """Found stopping `season` with SIGTERM: it died by the signal's default action (143, no
    word), and the run under way stayed `running` until the next start; `run` turns SIGTERM
    into an interruption the run records (README: "the run is recorded interrupted")."""
    import signal

    import monitor.ops.season as season
    from monitor.cli import main

    config, _ = populated_config
    before = signal.getsignal(signal.SIGTERM)
    handlers = []

    def stopped(config, dates, **kw):
        handlers.append(signal.getsignal(signal.SIGTERM))
        if handlers[0] is before:  # not the season's: it would end pytest too
            return []
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the season")

    monkeypatch.setattr(season, "_ground_truth", lambda config, source_=None: TruthSource({}))
    monkeypatch.setattr(season, "run_season", stopped)
    argv = ["season", "--config", str(config.path), "--events", "2024-07-25", "2024-09-01"]
    assert main([*argv, "--first-run", "2024-07-28", "--last-run", "2024-08-01"]) == 143
    assert handlers[0] is not before
    assert "landslide-monitor season: interrupted by SIGTERM" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before  # restored


def test_a_season_whose_runs_all_precede_its_events_is_refused(populated_config) -> None:
    """Runs that end on or before FROM see none of the season's landslides (a run composites
    the days before its date): refused before any run, where it used to score every landslide
    as never alerted."""
    import monitor.ops.season as season

    config, _ = populated_config
    # every third day from 07-01 to 07-27: the last run is 07-25, FROM itself
    runs = ("--every", "3", "--first-run", "2024-07-01", "--last-run", "2024-07-27")
    with pytest.raises(BadInput) as refused:
        season.cli_run(season_args(config, *runs))
    assert str(refused.value) == (
        "--first-run/--every/--last-run: the last run, 2024-07-25, is not after 2024-07-25, "
        "the first day of --events: a run sees only the days before its date, so no run could "
        "alert a landslide of the season (run until after 2024-07-25)"
    )


def season_args(config, *extra: str):
    import argparse

    import monitor.ops.season as season

    parser = argparse.ArgumentParser()
    season.cli_configure(parser)
    argv = ["--config", str(config.path), "--events", "2024-07-25", "2024-09-01", *extra]
    return parser.parse_args(argv)


def test_shown_reads_overlapping_and_tiny_outlines_and_refuses_undated_stacks(
    populated_config,
) -> None:
    config, _ = populated_config
    grid = region_grid(config.region("wayanad-hills").geometry)
    scar = _square(config, "wayanad-hills", 590, 590, 120)
    # the same outline twice (a later one burnt over the first would take its pixels), and a
    # 3 m square inside the scar that covers no pixel centre (they lie at 5 m + 10 m k)
    tiny = _square(config, "wayanad-hills", 651, 651, 3)
    day = date(2024, 7, 28)
    truth = {"wayanad-hills": _frame([scar, scar, tiny], [day] * 3, [14400.0, 14400.0, 9.0])}
    source = RadarSource(truth, grid, (59, 71, 59, 71), date(2024, 7, 1), date(2099, 1, 1))
    runs = [day, day + timedelta(days=1)]
    score = score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=source, shown_on=runs)
    assert score.delays["shown_days"].tolist() == [0.0, 0.0, 0.0]
    assert score.delays["shown_by"].tolist() == ["radar-repeat"] * 3

    class Undated(RadarSource):
        def features(self, *args, **kwargs) -> xr.Dataset:
            return super().features(*args, **kwargs).drop_vars("s2_first_changed")

    undated = Undated(truth, grid, (59, 71, 59, 71), date(2024, 7, 1), date(2099, 1, 1))
    with pytest.raises(BadInput, match="no event dating"):
        score_season(config, date(2024, 7, 25), date(2024, 9, 1), source=undated, shown_on=runs)


def test_a_season_on_regions_without_ground_truth_is_refused_before_any_run(
    populated_config,
) -> None:
    """An archive of real exports answers ``ground_truth`` for none of its regions: the season
    is refused naming the region, before a run writes the inventory (it used to run first)."""
    import monitor.ops.season as season

    config, _ = populated_config

    class ExportsOnly(TruthSource):
        def ground_truth(self, region: str, kinds=("landslide",)) -> gpd.GeoDataFrame:
            raise LookupError(f"region {region!r} has no ground truth (exports)")

    name = config.regions[0].name
    with pytest.raises(BadInput, match=f"region {name}: no ground truth to score a season on"):
        season._ground_truth(config, ExportsOnly({}))
    assert season._ground_truth(config, TruthSource({})) is not None


def test_false_alerts_per_month_are_over_the_runs_that_counted_them(populated_config) -> None:
    """The false alerts counted are those of the season's runs (``runs``), so the months they
    are spread over are the runs' span: the runs of 08-25 to 09-14 alerted four entries (09-01:
    three in emilia, 09-14: one in wayanad; no truth), 4 over 20 days, not over the events' 7
    days and the 30-day tail (the demo's --first-run/--last-run printed 3.8 for 6.0)."""
    config, _ = populated_config
    score = score_season(
        config,
        date(2024, 8, 25),
        date(2024, 9, 1),
        source=TruthSource({}),
        runs=(date(2024, 8, 25), date(2024, 9, 14)),
    )
    assert (score.false_alerts, score.days) == (4, 20)
    rate = score.summary()["false_per_100km2_month"]
    assert rate == pytest.approx(4 / (score.area_km2 / 100) / (20 / 30.44))
    assert f"4 false ({rate:.1f} per 100 km2 and month)" in format_score(score)
    # a season of one run spans no time: no rate
    one_run = score_season(
        config,
        date(2024, 8, 25),
        date(2024, 9, 1),
        source=TruthSource({}),
        runs=(date(2024, 9, 1), date(2024, 9, 1)),
    )
    assert np.isnan(one_run.summary()["false_per_100km2_month"])
    assert "3 false (no rate: the runs span no time)" in format_score(one_run)


def test_a_season_that_would_run_past_today_is_refused_before_any_run(
    populated_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found walking through dates: `season --last-run` after today (or a default TO + 30 days
    that is) ran every date up to today, each one writing the inventory and sending its
    alerts, then stopped at tomorrow's with "run date ... is in the future" and scored
    nothing."""
    import monitor.ops.season as season

    config, _ = populated_config
    monkeypatch.setattr(season, "_ground_truth", lambda config, source_=None: TruthSource({}))
    ran: list[date] = []
    monkeypatch.setattr(season, "run_season", lambda config, dates, **kw: ran.extend(dates))
    today = config.schedule.today()
    later = today + timedelta(days=40)
    with pytest.raises(BadInput) as refused:
        season.cli_run(season_args(config, "--first-run", "2024-08-01", "--last-run", str(later)))
    assert ran == []
    assert str(refused.value) == (
        f"--last-run/--every: the last run, {later}, is after today ({today} in "
        f"{config.schedule.timezone}, the schedule's time zone): a run looks at the "
        f"acquisitions before its date; give --last-run {today} or earlier"
    )
    # the default last run, TO + 30 days, says so
    argv = ["--config", str(config.path), "--events", str(today - timedelta(days=5)), str(today)]
    import argparse

    parser = argparse.ArgumentParser()
    season.cli_configure(parser)
    with pytest.raises(BadInput, match=r"give --last-run .* or earlier \(--last-run defaults"):
        season.cli_run(parser.parse_args(argv))
    assert ran == []


@pytest.mark.parametrize("dask", [True, False])
def test_a_season_says_it_does_not_use_dask(
    tmp_path, untrained_manifest, monkeypatch: pytest.MonkeyPatch, caplog, dask: bool
) -> None:
    """Found by an operator: `season` with a `dask:` section ran serially and said nothing, as
    if the cluster were in use. It runs serially still (it scores the archive, where Dask does
    not pay on few cores: docs/operations.md) and says so once."""
    import monitor.ops.season as season

    extra = "dask: {enabled: true, n_workers: 2}\n" if dask else ""
    config = load_config(write_config(tmp_path, untrained_manifest, extra))
    runs: list[dict[str, object]] = []
    monkeypatch.setattr(season, "run_once", lambda config, day, **kw: runs.append(kw))
    with caplog.at_level("WARNING", logger="monitor.ops.season"):
        season.run_season(config, [date(2024, 9, 1), date(2024, 9, 4)])
    assert [kw.get("executor") for kw in runs] == [None, None]  # serial, in this process
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.ops.season"]
    assert said == (["dask: `season` runs the regions one after the other in this process; "
                     "the dask: section applies to `run` (and the scheduler's runs)"] if dask
                    else [])  # fmt: skip
