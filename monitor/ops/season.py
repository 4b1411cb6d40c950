"""A season of daily runs, and how long each landslide waited for its alert.

``landslide-monitor season --config F --events FROM TO --every N [--shown]`` runs the monitor
every ``N`` days from ``FROM`` until 30 days after ``TO`` (each run as ``landslide-monitor run``
would do it, alerts delivered), then scores the alerts against the source's ground truth (the
simulated archive knows every landslide and its day):

- per landslide that happened in ``[FROM, TO)``: the run date of its first ``new`` alert (the
  inventory's ``alerted_on`` of an entry that touches it, on or after its day) and the delay;
  the day it was first drawn (the ``first_seen`` of an entry that touches it, on or after its
  day, confirmed or not); and, where the source can say (the archive), the first clear
  Sentinel-2 view of it and its second Sentinel-1 scene, which bound what any detector could do;
- on request (``shown_on``: ``bench/bench_time_to_alert.py`` asks for it), the first run whose
  stack *shows* each landslide: the monitor's persistence rule
  (:func:`monitor.pipeline.dating.object_dating`: the optical view shows the change, or two
  Sentinel-1 scenes do at most of its changed pixels, or two radar looks do as an object; in a
  region without a second look, the first run that dates the change) confirms the landslide's
  true outline instead of a detected one. A detector that drew
  the scar exactly could alert it on that run and not before; one that draws it otherwise (a
  part of it, or with its surroundings) may be confirmed earlier or later;
- false alerts: entries alerted as new by the season's runs that touch no true landslide of
  any date, per 100 km² and month from the first run to the last;
- growth alerts (``landslide.grown``, each landslide's revision once, whatever the channels),
  and how many of them show no more of the true landslides than the alert of the landslide
  before, by more than the inventory's growth (``GROW_FRACTION`` and ``GROW_MIN_M2``, 10 % and
  200 m²), counted where a channel had them queued: the simulator's slides do not grow after
  their day, so a growth alert tells its recipients something only where it shows more of a
  slide than they were told.

``make demo`` runs it on the demo archive; ``bench/bench_time_to_alert.py`` runs it over several
landscapes and Sentinel-1 repeat cycles for both kinds of monitoring composite
(docs/operations.md, "Time to alert").
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from shapely.geometry import shape

from models.chain_metrics import LARGE_M2, SMALL_M2
from monitor.alerts.payload import REVIEW_EVENTS
from monitor.config import MonitorConfig, RegionConfig, load_config
from monitor.errors import BadInput, interrupt_on_signals
from monitor.grid import outline_pixels
from monitor.ops._args import add_config, iso_date
from monitor.pipeline.dating import object_dating
from monitor.pipeline.evaluation import GroundTruth, SensorLooks, touching
from monitor.run import open_source, run_once
from monitor.run_results import RunSummary
from monitor.sources.base import DataUnavailable, Source
from monitor.store.inventory import GROW_FRACTION, GROW_MIN_M2, Inventory

__all__ = [
    "SIZE_CLASSES",
    "TAIL_DAYS",
    "SeasonScore",
    "cli_configure",
    "cli_run",
    "format_delays",
    "format_run",
    "format_score",
    "run_dates",
    "run_season",
    "score_season",
]

# Size classes of the report (m²): under 0.1 ha, 0.1-1 ha, 1 ha and more.
SIZE_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("< 0.1 ha", 0.0, SMALL_M2),
    ("0.1-1 ha", SMALL_M2, LARGE_M2),
    (">= 1 ha", LARGE_M2, float("inf")),
)
TAIL_DAYS = 30  # runs continue this long after the last counted event

log = logging.getLogger(__name__)


def run_dates(first: date, last: date, every: int) -> list[date]:
    """Every ``every`` days from ``first`` up to and including ``last``; :class:`BadInput`
    naming the flags where that is no date at all (a season of no run has nothing to score)."""
    if every < 1:
        raise BadInput(f"--every must be at least 1 day, not {every}")
    if last < first:
        raise BadInput(
            f"--first-run {first} is after --last-run {last}: no run date between them "
            f"(--first-run defaults to FROM of --events, --last-run to TO + {TAIL_DAYS} days)"
        )
    return [first + timedelta(days=d) for d in range(0, (last - first).days + 1, every)]


def run_season(
    config: MonitorConfig,
    dates: Sequence[date],
    *,
    deliver_alerts: bool = True,
    on_run: Callable[[RunSummary], None] | None = None,
) -> list[RunSummary]:
    """One run per date, in order (a date already run is run again, as the CLI would), each
    region after the other in this process: the ``dask:`` section is not used here (logged)."""
    if config.dask.enabled:
        # a season is scored on the archive, where Dask does not pay on few cores
        # (docs/operations.md); said, so that a configured cluster is not thought to be in use
        log.warning(
            "dask: `season` runs the regions one after the other in this process; the dask: "
            "section applies to `run` (and the scheduler's runs)"
        )
    summaries = []
    for day in dates:
        summary = run_once(config, day, deliver_alerts=deliver_alerts, progress=False)
        summaries.append(summary)
        if on_run is not None:
            on_run(summary)
    return summaries


@dataclass(frozen=True)
class SeasonScore:
    """The alerts of a season against the ground truth (see the module)."""

    # one row per true landslide: region, event_date, area_m2, alert_date, delay_days,
    # in_inventory, kept; look_days: days to the first look a sensor gave of it, and per sensor
    # optical_look_days and radar_look_days (NaN where the source cannot say); drawn_days: days
    # to the first run that drew it, confirmed or not (NaN: never); changed_days: days to the
    # first run whose stack shows a change over its true outline, shown_days: to the first that
    # confirms it there, and shown_by: how ("optical", "radar-repeat", or "first-look" in a
    # region without a second look; NaN and None: never, or not asked for, see ``shown``)
    delays: pd.DataFrame
    alerts: int  # landslides alerted as new
    false_alerts: int
    area_km2: float
    days: int  # the season's length, over which false alerts are counted (see score_season)
    # inventory entries of the regions: all, touching no true landslide, suppressed by the
    # object filter, and false among those
    entries: dict[str, int]
    shown: bool = False  # whether shown_days were computed (score_season's ``shown_on``)
    # the season's growth alerts, and those showing no more of the true landslides than the
    # alert before them (:func:`_growth_alerts`)
    growth: tuple[int, int] = (0, 0)

    def summary(self, min_area_m2: float = SMALL_M2) -> dict[str, float]:
        """Delay statistics over the landslides of at least ``min_area_m2``."""
        rows = self.delays[self.delays["area_m2"] >= min_area_m2]
        delay = rows["delay_days"].dropna().to_numpy(float)
        n = len(rows)
        months = self.days / 30.44
        out = {
            "landslides": float(n),
            "median_days": float(np.median(delay)) if delay.size else float("nan"),
            "p90_days": float(np.percentile(delay, 90)) if delay.size else float("nan"),
            "within_6": float((delay <= 6).sum() / n) if n else float("nan"),
            "within_12": float((delay <= 12).sum() / n) if n else float("nan"),
            "never": float(rows["delay_days"].isna().sum() / n) if n else float("nan"),
            # never_seen: share no sensor showed (or the source cannot say); never_drawn: share
            # no inventory entry ever covered
            "never_seen": float(rows["look_days"].isna().sum() / n) if n else float("nan"),
            "never_drawn": float(rows["drawn_days"].isna().sum() / n) if n else float("nan"),
            # NaN for a season of one run, which spans no time
            "false_per_100km2_month": (
                self.false_alerts / (self.area_km2 / 100.0) / months if months else float("nan")
            ),
        }
        # median and 90th percentile of the first look (either sensor, then each) and of the
        # first drawing, over the landslides that had one
        for key in ("look", "optical_look", "radar_look", "drawn", "changed", "shown"):
            out[f"{key}_median_days"] = float(rows[f"{key}_days"].quantile(0.5))
            out[f"{key}_p90_days"] = float(rows[f"{key}_days"].quantile(0.9))
        if self.shown:
            # never_shown: share no run's stack confirmed; shown_within_14: share confirmed
            # within 14 days, and (of all landslides) confirmed so by radar; the lag: from the
            # run that showed it to its alert, over the landslides both shown and alerted
            # (negative: the detected outline was confirmed before the true one)
            out["never_shown"] = float(rows["shown_days"].isna().sum() / n) if n else float("nan")
            within = rows["shown_days"] <= 14
            out["shown_within_14"] = float(within.sum() / n) if n else float("nan")
            by_radar = within & (rows["shown_by"] == "radar-repeat")
            out["shown_within_14_radar"] = float(by_radar.sum() / n) if n else float("nan")
            lag = rows["delay_days"] - rows["shown_days"]
            out["lag_median_days"] = float(lag.quantile(0.5))
            out["lag_p90_days"] = float(lag.quantile(0.9))
        return out

    def never_by_size(self) -> dict[str, tuple[int, int]]:
        """Per size class: (never alerted, landslides)."""
        out = {}
        for name, lo, hi in SIZE_CLASSES:
            rows = self.delays[(self.delays["area_m2"] >= lo) & (self.delays["area_m2"] < hi)]
            out[name] = (int(rows["delay_days"].isna().sum()), len(rows))
        return out


def _ground_truth(config: MonitorConfig, source: object | None = None) -> GroundTruth:
    """``source`` (default: the configured one) as the ground truth a season is scored on."""
    source = open_source(config.source) if source is None else source
    if not isinstance(source, GroundTruth):
        raise BadInput(
            f"the {config.source.type} source has no ground truth: a season can only be scored "
            "on the simulated archive"
        )
    for region in config.regions:  # an archive of real exports has none either
        try:
            source.ground_truth(region.name)
        except (LookupError, OSError) as err:
            raise BadInput(
                f"region {region.name}: no ground truth to score a season on ({err}); a season "
                "can only be scored on simulated regions"
            ) from None
    return source


def _first_looks(
    source: object, region: str, events: gpd.GeoDataFrame, orbit_pass: str
) -> dict[object, tuple[date | None, date | None]]:
    """Per event (by ``events`` index), the first day each sensor could have shown it: (a clear
    Sentinel-2 view, the second Sentinel-1 scene) (:class:`SensorLooks`); empty for a source
    that cannot say."""
    if not isinstance(source, SensorLooks) or not len(events):
        return {}
    looks = source.first_looks(region, events, orbit_pass)

    def day(value: Any) -> date | None:  # a date, a Timestamp, or None/NaT (no look)
        return None if pd.isna(value) else pd.Timestamp(value).date()

    return {
        key: (day(row["first_clear_s2"]), day(row["second_s1"])) for key, row in looks.iterrows()
    }


@dataclass
class _Shown:
    """What the runs' stacks showed of one landslide's true outline (see :func:`_shown`)."""

    changed: date | None = None  # the first run whose stack showed its change, confirmed or not
    confirmed: date | None = None  # the first run whose stack confirmed it
    how: str | None = None  # "optical", "radar-repeat" or "first-look"


def _outline_groups(
    outlines: gpd.GeoSeries, shape: tuple[int, ...], transform: Affine
) -> list[tuple[list[int], np.ndarray]]:
    """The ``outlines`` rasterised on a grid, in groups whose pixels do not overlap (a later
    outline burnt over an earlier one would take its pixels): per group, the positions in
    ``outlines`` and a label raster (1 + the position within the group). An outline that covers
    no pixel centre (a slide under a pixel, or a thin one) takes every pixel it touches."""
    groups: list[tuple[list[int], np.ndarray]] = []
    for position, geometry in enumerate(outlines):
        inside = outline_pixels(geometry, shape, transform)
        group = next((g for g in groups if not (g[1][inside] > 0).any()), None)
        if group is None:
            group = ([], np.zeros(shape, np.int32))
            groups.append(group)
        group[0].append(position)
        group[1][inside] = len(group[0])
    return groups


def _shown(
    source: Source, region: RegionConfig, events: gpd.GeoDataFrame, days: Sequence[date]
) -> dict[object, _Shown]:
    """Per event (by ``events`` index, EPSG:4326 with an ``event_date``): of the ``days`` on or
    after its day, the first whose stack (as the run builds it) shows a change over the event's
    own outline (:func:`~monitor.pipeline.dating.object_dating` dates it, a sensor having seen
    the change over most of its pixels, or confirms it), and the first whose stack confirms it
    under the region's persistence rule (``confirmation`` ``optical`` or ``radar-repeat``; for a
    region without a second look, ``first-look`` where it changed), with how. A run that has
    no data for the region is skipped, as the run skips it; a stack without dating (not the
    archive's) cannot tell, and raises :class:`BadInput`."""
    shown = {key: _Shown() for key in events.index}
    pending = set(events.index)
    for day in sorted(days):
        due = [k for k in events.index if k in pending and events.at[k, "event_date"] <= day]
        if not due:
            if not pending:
                break
            continue
        try:
            pre, post = region.windows.windows_for(day)
        except ValueError:  # a post window not begun: the run has no data either
            continue
        try:
            stack = source.features(region.area, pre, post, region.windows.compositing())
        except DataUnavailable:
            continue
        outlines = events.loc[due].to_crs(stack.rio.crs).geometry
        shape = stack["preVV"].shape
        for positions, labels in _outline_groups(outlines, shape, stack.rio.transform()):
            index = np.arange(1, len(positions) + 1)
            dated = object_dating(stack, labels, index, second_look=region.second_look)
            if "undated" in dated["confirmation"]:
                raise BadInput(
                    f"{region.name}: the source's stacks carry no event dating, so what they "
                    "showed of each landslide cannot be told (the archive's can)"
                )
            answers = zip(positions, dated["event_before"], dated["confirmation"], strict=True)
            for position, before, how in answers:
                key = due[position]
                # a region without a second look alerts at the first look of a change
                confirmed = how in ("optical", "radar-repeat") or (
                    how == "first-look" and before is not None
                )
                # two radar looks can confirm an outline most of whose pixels show no change
                if (before is not None or confirmed) and shown[key].changed is None:
                    shown[key].changed = day
                if confirmed:
                    shown[key].confirmed, shown[key].how = day, str(how)
                    pending.discard(key)
    return shown


def _days_after(day: date | None, event: date) -> float:
    """Days from ``event`` to ``day`` (None: NaN)."""
    return np.nan if day is None else float((day - event).days)


def score_season(
    config: MonitorConfig,
    events_from: date,
    events_to: date,
    source: object | None = None,
    runs: tuple[date, date] | None = None,
    shown_on: Sequence[date] | None = None,
) -> SeasonScore:
    """Score the alerts in the inventory against the ground truth of ``source`` (default: the
    configured one; see the module). ``runs`` (first, last run date) keeps only the alerts and
    the entries (first seen) of the season's runs, when the inventory also holds others.
    ``shown_on`` (the season's run dates) also finds the first run that showed each landslide
    (see the module): it builds a stack per run date and region again, about as long as the
    runs' own stack reads."""
    source = _ground_truth(config, source)
    names = [r.name for r in config.regions]
    # the stacks can be read again only from a source that builds them
    stacks = source if shown_on is not None and isinstance(source, Source) else None
    with Inventory(config.inventory.path) as inventory, inventory.outbox() as box:
        layer = inventory.landslides()
        queued = box.rows(withdrawn=False)
    layer = layer[layer["region"].isin(names)].copy()
    alerts = layer[layer["alerted_on"].notna()].copy()
    alerts["alert_date"] = pd.to_datetime(alerts["alerted_on"]).dt.date
    if runs is not None:
        alerts = alerts[(alerts["alert_date"] >= runs[0]) & (alerts["alert_date"] <= runs[1])]
    layer["drawn_on"] = pd.to_datetime(layer["first_seen"]).dt.date
    if runs is not None:  # the season's entries: a walk's re-run of a week counted all
        layer = layer[(layer["drawn_on"] >= runs[0]) & (layer["drawn_on"] <= runs[1])]
    rows, false_alerts, area_km2 = [], 0, 0.0
    entries = {"all": 0, "false": 0, "suppressed": 0, "false_suppressed": 0}
    truths: dict[str, gpd.GeoDataFrame] = {}  # every true landslide of each region
    for region in config.regions:
        area_km2 += float(
            gpd.GeoSeries([region.area.geometry], crs="EPSG:4326").to_crs(6933).area.iloc[0] / 1e6
        )
        truths[region.name] = source.ground_truth(region.name)
        truth = touching(truths[region.name], region.area.geometry)  # what the runs can alert
        mine = alerts[alerts["region"] == region.name]
        over = [set(mine.index[mine.intersects(geometry)]) for geometry in truth.geometry]
        touched = set().union(*over) if over else set()
        false_alerts += len(set(mine.index) - touched)
        listed = layer[layer["region"] == region.name]
        suppressed = listed["suppressed"].fillna(0).astype(bool)
        true = np.array([bool(truth.intersects(g).any()) for g in listed.geometry], dtype=bool)
        entries["all"] += len(listed)
        entries["false"] += int((~true).sum())
        entries["suppressed"] += int(suppressed.sum())
        entries["false_suppressed"] += int((~true & suppressed.to_numpy()).sum())
        season = truth[(truth["event_date"] >= events_from) & (truth["event_date"] < events_to)]
        looks = _first_looks(source, region.name, season, region.orbit_pass)
        shown: dict[object, _Shown] = {}
        if stacks is not None and shown_on is not None and len(season):
            shown = _shown(stacks, region, season, shown_on)
        for (key, slide), hits in zip(truth.iterrows(), over, strict=True):
            if key not in season.index:
                continue
            dates = [d for d in mine.loc[sorted(hits), "alert_date"] if d >= slide["event_date"]]
            first = min(dates) if dates else None
            seen = listed[listed.intersects(slide.geometry)]
            drawn = [d for d in seen["drawn_on"] if d >= slide["event_date"]]
            optical, radar = looks.get(key, (None, None))
            look_days = [_days_after(d, slide["event_date"]) for d in (optical, radar)]
            what = shown.get(key, _Shown())
            rows.append(
                {
                    "region": region.name,
                    "event_date": slide["event_date"],
                    "area_m2": float(slide["area_m2"]),
                    "alert_date": first,
                    "delay_days": (first - slide["event_date"]).days if first else np.nan,
                    "in_inventory": len(seen) > 0,
                    "kept": bool((~seen["suppressed"].fillna(0).astype(bool)).any()),
                    "look_days": min((d for d in look_days if not np.isnan(d)), default=np.nan),
                    "optical_look_days": look_days[0],
                    "radar_look_days": look_days[1],
                    "drawn_days": _days_after(min(drawn, default=None), slide["event_date"]),
                    "changed_days": _days_after(what.changed, slide["event_date"]),
                    "shown_days": _days_after(what.confirmed, slide["event_date"]),
                    "shown_by": what.how,
                }
            )
    columns = ["region", "event_date", "area_m2", "alert_date", "delay_days", "in_inventory"]
    looks_columns = ["look_days", "optical_look_days", "radar_look_days", "drawn_days"]
    shown_columns = ["changed_days", "shown_days", "shown_by"]
    delays = pd.DataFrame(rows, columns=[*columns, "kept", *looks_columns, *shown_columns])
    # false alerts are counted over the runs' span where the runs are given (only theirs are
    # counted), else over the default season: FROM until TAIL_DAYS after TO
    span = runs if runs is not None else (events_from, events_to + timedelta(days=TAIL_DAYS))
    days = (span[1] - span[0]).days
    computed = stacks is not None
    growth = _growth_alerts(queued, truths, runs)
    return SeasonScore(delays, len(alerts), false_alerts, area_km2, days, entries, computed, growth)


def _growth_alerts(
    rows: list[dict[str, Any]], truth: dict[str, gpd.GeoDataFrame], runs: tuple[date, date] | None
) -> tuple[int, int]:
    """Of the outbox ``rows`` (withdrawn ones left out), the growth alerts the season's runs
    queued to a channel (a region without channels queues none) in the regions of ``truth``
    (every true landslide of each), each revision of a landslide once whatever its channels,
    and those whose outline covers no more of the true landslides (of any date, in the
    landslide's grid) than the landslide's alert before it, that one perhaps of a run before the
    season."""
    names = set(truth)
    slides: dict[tuple[str, int], Any] = {}  # the true landslides' union by region and grid
    told: dict[str, float] = {}  # each landslide's true area shown by its latest alert
    seen: set[tuple[str, int]] = set()
    grown = no_more = 0
    for row in sorted(rows, key=lambda r: int(r["id"])):
        body, day = row["payload"]["landslide"], date.fromisoformat(row["payload"]["run"]["date"])
        key = (str(row["landslide_uid"]), int(row["revision"]))
        if row["event"] in REVIEW_EVENTS:  # news of a review, not of an outline
            continue
        if row["region"] not in names or key in seen or (runs is not None and day > runs[1]):
            continue
        seen.add(key)
        where = (str(row["region"]), int(body["local_epsg"]))
        if where not in slides:
            slides[where] = truth[where[0]].to_crs(where[1]).geometry.union_all()
        outline = gpd.GeoSeries([shape(body["geometry"])], crs=4326).to_crs(where[1]).iloc[0]
        shown = float(outline.intersection(slides[where]).area)
        before = told.get(key[0])
        told[key[0]] = shown
        if row["event"] != "landslide.grown" or (runs is not None and day < runs[0]):
            continue  # an alert before the season: what its recipients held when it began
        grown += 1
        if before is not None and shown <= max(before * (1 + GROW_FRACTION), before + GROW_MIN_M2):
            no_more += 1
    return grown, no_more


def format_delays(score: SeasonScore) -> str:
    """One line per landslide of the season: region, day, size, first alert, delay, the first
    look a sensor gave of it where the source can say (:class:`SensorLooks`), and where computed
    (``SeasonScore.shown``) the run whose stack confirmed its true outline."""
    lines = ["landslide delays (event day -> first 'new' alert):"]
    ordered = score.delays.sort_values(["region", "event_date", "area_m2"], ascending=[1, 1, 0])
    for _, r in ordered.iterrows():
        alert = (
            f"alerted {r['alert_date']} after {int(r['delay_days'])} d"
            if r["alert_date"] is not None and not pd.isna(r["delay_days"])
            else "never alerted"
        )
        look = "" if pd.isna(r["look_days"]) else f" (first look after {int(r['look_days'])} d)"
        shown = ""
        if score.shown:
            shown = (
                "; its stacks never confirmed it"
                if pd.isna(r["shown_days"])
                else f"; its stacks confirmed it after {int(r['shown_days'])} d ({r['shown_by']})"
            )
        lines.append(
            f"  {r['region']:<20} {r['event_date']}  {r['area_m2'] / 1e4:6.2f} ha  "
            f"{alert}{look}{shown}"
        )
    return "\n".join(lines)


def format_score(score: SeasonScore, label: str = "") -> str:
    """The season's figures: delays over landslides >= 0.1 ha and >= 1 ha, never alerted by
    size class, false alerts per 100 km² and month, the inventory's recall and false entries,
    the day landslides were first drawn, (where the source can say) the sensors' first looks,
    and (where computed, ``SeasonScore.shown``) the first run that showed them and the lag from
    it to the alert."""
    every = score.summary(SMALL_M2)
    big = score.summary(LARGE_M2)
    never = ", ".join(f"{k}: {n}/{t}" for k, (n, t) in score.never_by_size().items())
    head = f"{label}: " if label else ""
    rate = every["false_per_100km2_month"]
    per_month = (
        "no rate: the runs span no time" if np.isnan(rate) else f"{rate:.1f} per 100 km2 and month"
    )
    e = score.entries
    n = len(score.delays)
    found, kept = int(score.delays["in_inventory"].sum()), int(score.delays["kept"].sum())
    inventory = (
        f"; inventory: recall {found}/{n} without the object filter, {kept}/{n} with it; "
        f"{e['all']} entries, {e['false']} touch no true landslide without the object filter, "
        f"{e['false'] - e['false_suppressed']} with it ({e['suppressed']} suppressed, "
        f"{e['false_suppressed']} of them false)"
    )
    drawn = (
        f"; first drawn (an inventory entry over it, confirmed or not): median "
        f"{_days(every['drawn_median_days'])} d, p90 {_days(every['drawn_p90_days'])} d, never "
        f"{every['never_drawn']:.0%}"
        if every["landslides"]
        else ""
    )
    looks = ""
    if not np.isnan(every["look_median_days"]):
        per_sensor = [
            f"{name}: median {_days(every[f'{key}_median_days'])} d, p90 "
            f"{_days(every[f'{key}_p90_days'])} d"
            for key, name in (("optical_look", "Sentinel-2"), ("radar_look", "Sentinel-1"))
            if not np.isnan(every[f"{key}_median_days"])
        ]
        looks = (
            f"; first look (a clear Sentinel-2 view or the second Sentinel-1 scene): median "
            f"{_days(every['look_median_days'])} d, p90 {_days(every['look_p90_days'])} d, none "
            f"{every['never_seen']:.0%} ({'; '.join(per_sensor)})"
        )
    shown = ""
    if score.shown and every["landslides"]:
        shown = (
            f"; with the true outline: first changed (confirmed or not) median "
            f"{_days(every['changed_median_days'])} d, p90 {_days(every['changed_p90_days'])} d; "
            f"first shown (confirmed): median "
            f"{_days(every['shown_median_days'])} d, p90 {_days(every['shown_p90_days'])} d, "
            f"within 14 d {every['shown_within_14']:.0%} (by radar "
            f"{every['shown_within_14_radar']:.0%}), never {every['never_shown']:.0%}; "
            f"alert after shown: median "
            f"{_days(every['lag_median_days'])} d, p90 {_days(every['lag_p90_days'])} d"
        )
    return (
        f"{head}{int(every['landslides'])} landslides >= 0.1 ha: delay median "
        f"{_days(every['median_days'])} d, p90 {_days(every['p90_days'])} d, within 6 d "
        f"{every['within_6']:.0%}, within 12 d {every['within_12']:.0%}, never "
        f"{every['never']:.0%}; >= 1 ha: median {_days(big['median_days'])} d; never alerted by "
        f"size: {never}; {score.alerts} alerted, {score.false_alerts} false "
        f"({per_month}); {score.growth[0]} growth alerts, {score.growth[1]} of them showing no "
        f"more of the true landslides than the alert before"
        f"{inventory}{drawn}{looks}{shown}"
    )


def _days(value: float) -> str:
    """Days to a tenth, without a trailing ``.0``: a median of an even count of whole days may
    fall on a half day (5.5 d is not 5 d, nor 6 d, against a target of 5)."""
    return f"{value:.1f}".removesuffix(".0")


def cli_configure(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--events",
        nargs=2,
        type=iso_date,
        metavar=("FROM", "TO"),
        required=True,
        help="score the landslides of [FROM, TO) (the source must know them: the archive)",
    )
    parser.add_argument("--every", type=int, default=1, help="days between runs (default 1)")
    parser.add_argument("--first-run", type=iso_date, help="first run date (default FROM)")
    parser.add_argument(
        "--last-run", type=iso_date, help=f"last run date (default TO + {TAIL_DAYS} days)"
    )
    parser.add_argument(
        "--shown",
        action="store_true",
        help="also find the first run whose stack confirms each landslide's true outline (reads "
        "every run's stacks again)",
    )


def cli_run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    events_from, events_to = args.events
    if events_to <= events_from:
        raise BadInput(f"--events: {events_to} is not after {events_from}")
    dates = run_dates(
        args.first_run or events_from,
        args.last_run or events_to + timedelta(days=TAIL_DAYS),
        args.every,
    )
    if dates[-1] <= events_from:
        # a run on day D composites the days before D: none of these runs saw the season
        raise BadInput(
            f"--first-run/--every/--last-run: the last run, {dates[-1]}, is not after "
            f"{events_from}, the first day of --events: a run sees only the days before its "
            f"date, so no run could alert a landslide of the season (run until after "
            f"{events_from})"
        )
    today = config.schedule.today()
    if dates[-1] > today:
        # each run refuses a date after today, but only when its turn comes: the runs before
        # it would have written the inventory and sent their alerts, and nothing be scored
        default = "" if args.last_run else f" (--last-run defaults to TO + {TAIL_DAYS} days)"
        raise BadInput(
            f"--last-run/--every: the last run, {dates[-1]}, is after today ({today} in "
            f"{config.schedule.timezone}, the schedule's time zone): a run looks at the "
            f"acquisitions before its date; give --last-run {today} or earlier{default}"
        )
    source = _ground_truth(config)  # before the runs: a season that cannot be scored fails now
    if args.shown and not isinstance(source, Source):
        raise BadInput(f"--shown: the {config.source.type} source builds no stacks to read again")
    with interrupt_on_signals():  # SIGTERM/SIGINT: the run under way records itself interrupted
        run_season(config, dates, on_run=lambda s: print(format_run(s), flush=True))
    score = score_season(
        config,
        events_from,
        events_to,
        source,
        runs=(dates[0], dates[-1]),
        shown_on=dates if args.shown else None,
    )
    print(format_delays(score))
    print(format_score(score, "season"))
    routing = config.alert_routing()
    if not any(routing.channels_for(r.name) for r in config.regions):
        # found in a walkthrough: "alerted" beside runs that sent nothing, with no recipients
        print(
            f"(no alert recipient in {config.path}: 'alerted' is the run that raised each "
            "landslide as new, which alerts the recipients a configuration names)"
        )
    return 0


def format_run(summary: RunSummary) -> str:
    """One line per run of the season: the inventory's changes and the alerts."""
    c = summary.changes
    sent = ""
    if summary.delivery is not None:
        sent = f", {summary.delivery.sent} sent"
    return (
        f"run {summary.run_date}: {len(c.new)} new, {len(c.grown)} grown, {len(c.seen)} seen; "
        f"{c.alerts_queued} alerts queued{sent}"
    )
