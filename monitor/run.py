"""One monitoring run: for every region, feature stack -> trigger -> setting -> ensemble ->
threshold -> vectorise -> candidates; then one inventory update and the alerts.

Two levels, so that the regions can run anywhere while the inventory keeps a single writer:

* :func:`detect_region` is pure. It reads the source and the model, computes, and writes nothing
  but quicklook PNGs; its :class:`RegionResult` pickles, so it runs on a Dask worker as well as
  in this process.
* :func:`run_once` takes the inventory's run lock (:mod:`monitor.store.lock`), records the run, runs
  :func:`detect_region` for each region (serially, or on an executor with ``submit``), applies
  every region's candidates to the inventory in one transaction, delivers the pending alerts and
  returns a :class:`RunSummary`. One failing region never stops the others: it is recorded as
  failed with its message.

Setting choice (Ganerød et al., Table 3): the ensemble's settings are tried in the configured
order of preference; an optical setting needs a clear pre- and post-event Sentinel-2 observation
on enough of the region, a radar setting a Sentinel-1 observation in both windows, and no setting
is used whose bands include one that came back entirely NaN. Where an
optical setting is chosen and some pixels are still cloudy, those pixels are predicted by the
radar-only fallback; each detection records the setting most of its pixels came from.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from models.feature_stack import band_names, empty_bands, validate
from monitor.config import ArchiveSourceConfig, ModelSettings, MonitorConfig, RegionConfig
from monitor.errors import BadInput
from monitor.pipeline.trigger import TriggerResult, evaluate_trigger, optical_clear, radar_valid
from monitor.pipeline.vectorise import empty_candidates, vectorise
from monitor.sources.base import AreaOfInterest, DataUnavailable, Source, Window
from monitor.store.inventory import Changes, Inventory, RegionDetections, RegionStatus
from monitor.store.lock import RunLock

if TYPE_CHECKING:
    from models.ensemble import Ensemble
    from monitor.alerts.outbox import DeliveryReport

__all__ = [
    "Evaluation",
    "RegionResult",
    "RunSummary",
    "SettingChoice",
    "build_configured_archive",
    "check_run_date",
    "choose_setting",
    "detect_region",
    "load_ensemble",
    "open_source",
    "run_once",
]

log = logging.getLogger(__name__)


# Which sensors' observations each setting needs (Ganerød et al., Table 3).
SENSORS_OF_SETTING: dict[str, tuple[str, ...]] = {
    "S1": ("radar",),
    "S2": ("optical",),
    "S1+S2": ("radar", "optical"),
    "all": ("radar", "optical"),
}


# --------------------------------------------------------------------------- sources and model


def _open_archive(settings: Any) -> Source:
    from monitor.sources.archive import ArchiveSource

    return ArchiveSource(settings.path)


def _open_gee(settings: Any) -> Source:
    from monitor.sources.gee import GeeSource

    return GeeSource(settings)


SOURCES: dict[str, Callable[[Any], Source]] = {"archive": _open_archive, "gee": _open_gee}

_source_cache: dict[str, Source] = {}
_ensemble_cache: dict[tuple[str, float, str], Ensemble] = {}


def open_source(settings: Any) -> Source:
    """The source the ``source:`` block describes (one instance per process and settings)."""
    key = settings.model_dump_json()
    if key not in _source_cache:
        _source_cache[key] = SOURCES[settings.type](settings)
    return _source_cache[key]


def load_ensemble(model: ModelSettings) -> Ensemble:
    """The ensemble of ``model.manifest`` with ``model.engine``, loaded once per process
    (reloaded when the file changes)."""
    from models.ensemble import Ensemble
    from models.inference import resolve_device, resolve_engine

    resolve_engine(model.engine, resolve_device(model.device))  # refuse e.g. onnxruntime on CUDA
    path = Path(model.manifest).resolve()
    key = (str(path), path.stat().st_mtime, model.engine)
    if key not in _ensemble_cache:
        log.info("loading ensemble %s", path)
        _ensemble_cache[key] = Ensemble.load(path, engine=model.engine)
    return _ensemble_cache[key]


# --------------------------------------------------------------------------- run date

# The calendar date somewhere on Earth runs up to 14 hours ahead of UTC (Line Islands): a run
# date after today there is in the future whatever the operator's or the schedule's time zone.
_EARTH_EARLIEST_ZONE = timezone(timedelta(hours=14))


def check_run_date(
    run_date: date,
    source: Source,
    areas: Sequence[AreaOfInterest],
    *,
    now: datetime | None = None,
) -> None:
    """Refuse (:class:`~monitor.errors.BadInput`) a run date after today, or on or before the
    source's first acquisition of every area: such a run could only record every region as
    without data, and a completed run of a future date would make the scheduler skip the days
    up to it."""
    now = now or datetime.now(UTC)
    if run_date > now.astimezone(_EARTH_EARLIEST_ZONE).date():
        today = now.astimezone(UTC).date()
        raise BadInput(
            f"run date {run_date} is in the future (today is {today}, UTC): a run looks at the "
            f"acquisitions before its date; give --date {today} or earlier"
        )
    firsts = [d for area in areas if (d := source.first_acquisition(area)) is not None]
    if firsts and run_date <= min(firsts):
        raise BadInput(
            f"run date {run_date} is not after the {source.name} source's first acquisition "
            f"({min(firsts)}): no window before it holds data; give a later --date"
        )


# --------------------------------------------------------------------------- setting choice


class NoUsableSetting(DataUnavailable):
    """The data of a region supports none of the ensemble's settings."""


@dataclass(frozen=True)
class SettingChoice:
    setting: str
    reason: str
    optical_fraction: float  # pixels with a clear optical observation in both windows
    radar_fraction: float  # pixels with a radar observation in both windows
    fallback: str | None = None  # radar-only setting for pixels the optical setting cannot see


def _coverage(stack: xr.Dataset) -> dict[str, float]:
    def share(mask: np.ndarray) -> float:
        return float(mask.mean()) if mask.size else 0.0

    return {"optical": share(optical_clear(stack)), "radar": share(radar_valid(stack))}


def choose_setting(
    stack: xr.Dataset, available: Sequence[str], model: ModelSettings
) -> SettingChoice:
    """The setting to run on ``stack``, given the ensemble's ``available`` settings.

    A setting that needs a band without any valid pixel (:func:`models.feature_stack.empty_bands`,
    recorded in the stack's status) is never chosen, not even as the fallback: its prediction
    would be NaN everywhere. Raises :class:`NoUsableSetting` naming the coverage found (and the
    empty bands) when nothing qualifies."""
    coverage = _coverage(stack)
    minimum = {"optical": model.min_clear_fraction, "radar": model.min_radar_fraction}
    empty_list = empty_bands(stack)
    empty = set(empty_list)

    def missing(setting: str) -> list[str]:
        return [b for b in band_names(setting) if b in empty]

    def fallback_for(setting: str) -> str | None:
        uses_optical = "optical" in SENSORS_OF_SETTING[setting]
        fb = model.fallback
        if uses_optical and fb and fb != setting and fb in available and not missing(fb):
            return fb
        return None

    found = f"clear optical {coverage['optical']:.0%}, radar {coverage['radar']:.0%} of the pixels"
    if empty:
        found += f"; empty bands: {', '.join(empty_list)}"
    if model.setting != "auto":
        if model.setting not in available:
            raise ValueError(
                f"model.setting is {model.setting!r} but the ensemble has only "
                f"{', '.join(available)}"
            )
        if missing(model.setting):
            raise NoUsableSetting(
                f"model.setting {model.setting} needs {', '.join(missing(model.setting))}, which "
                f"came back without any valid pixel ({found})"
            )
        return SettingChoice(
            model.setting,
            f"fixed by model.setting ({found})",
            coverage["optical"],
            coverage["radar"],
            fallback_for(model.setting),
        )
    skipped: list[str] = []
    for setting in model.preference:
        if setting not in available:
            continue
        if missing(setting):
            skipped.append(f"{setting} (needs {', '.join(missing(setting))})")
            continue
        short = [s for s in SENSORS_OF_SETTING[setting] if coverage[s] < minimum[s]]
        if not short:
            reason = found + (f"; not {', '.join(skipped)}" if skipped else "")
            return SettingChoice(
                setting, reason, coverage["optical"], coverage["radar"], fallback_for(setting)
            )
    raise NoUsableSetting(
        f"no setting of the ensemble ({', '.join(available)}) has enough data: {found}; "
        f"needed clear optical >= {model.min_clear_fraction:.0%} or "
        f"radar >= {model.min_radar_fraction:.0%}"
        + (f"; not {', '.join(skipped)}" if skipped else "")
    )


def _predict(
    ensemble: Ensemble, stack: xr.Dataset, choice: SettingChoice, device: str | None
) -> xr.Dataset:
    """The ensemble's prediction; pixels the chosen setting leaves NaN but the fallback can see
    are filled from the fallback, marked by a boolean ``fallback`` variable."""
    prediction = ensemble.predict(stack, choice.setting, device=device)
    if choice.fallback is None:
        return prediction
    missing = np.isnan(prediction["probability"].values)
    fill = missing & radar_valid(stack)
    if not fill.any():
        return prediction
    log.info(
        "%s: %d pixels without a clear optical view predicted with %s",
        stack.attrs.get("region"),
        int(fill.sum()),
        choice.fallback,
    )
    backup = ensemble.predict(stack, choice.fallback, device=device)
    for name in ("probability", "spread", "agreement"):
        prediction[name] = prediction[name].where(~fill, backup[name])
    prediction["fallback"] = (("y", "x"), fill)
    prediction.attrs["fallback_setting"] = choice.fallback
    prediction.attrs["fallback_threshold"] = float(backup.attrs["threshold"])
    return prediction


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Object-level scores of one region's candidates against the source's ground truth.

    ``events``: simulated landslides whose event date lies between the end of the pre window and
    the end of the post window; ``detected``: those touched by at least one candidate;
    ``false_alarms``: candidates touching none of them (look-alikes, older scars, noise)."""

    events: int
    detected: int
    candidates: int
    false_alarms: int

    @property
    def recall(self) -> float | None:
        return self.detected / self.events if self.events else None

    def __add__(self, other: Evaluation) -> Evaluation:
        return Evaluation(
            self.events + other.events,
            self.detected + other.detected,
            self.candidates + other.candidates,
            self.false_alarms + other.false_alarms,
        )


def _as_date(value: Any) -> date:
    if isinstance(value, date):
        return value.date() if hasattr(value, "hour") else value
    return date.fromisoformat(str(value)[:10])


def evaluate(
    candidates: gpd.GeoDataFrame, truth: gpd.GeoDataFrame, pre: Window, post: Window
) -> Evaluation:
    """Score ``candidates`` (grid CRS) against ground truth (EPSG:4326, ``event_date``, and
    ``kind`` where look-alikes are listed too)."""
    if "kind" in truth.columns:
        truth = truth[truth["kind"] == "landslide"]
    dates = truth["event_date"].map(_as_date)
    in_window = truth[(dates >= pre.end) & (dates < post.end)]
    if candidates.empty or in_window.empty:
        return Evaluation(len(in_window), 0, len(candidates), len(candidates))
    events = in_window.to_crs(candidates.crs).geometry.reset_index(drop=True)
    found = candidates.geometry.reset_index(drop=True)
    event_idx, candidate_idx = found.sindex.query(events, predicate="intersects")
    detected = len(set(event_idx.tolist()))
    hits = len(set(candidate_idx.tolist()))
    return Evaluation(len(events), detected, len(found), len(found) - hits)


# --------------------------------------------------------------------------- one region


@dataclass
class RegionResult:
    """What :func:`detect_region` found in one region (picklable)."""

    region: str
    run_date: date
    status: RegionStatus
    message: str = ""
    pre_window: str = ""
    post_window: str = ""
    data_status: str = ""  # the stack's ``status`` attribute (missing sensors, windows)
    setting: str | None = None
    setting_reason: str = ""
    trigger: TriggerResult | None = None
    candidates: gpd.GeoDataFrame | None = None
    evaluation: Evaluation | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def n_candidates(self) -> int:
        return 0 if self.candidates is None else len(self.candidates)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())


class _Clock:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now


def _write_quicklooks(
    config: MonitorConfig,
    region: RegionConfig,
    run_date: date,
    stack: xr.Dataset,
    candidates: gpd.GeoDataFrame,
) -> gpd.GeoDataFrame:
    candidates = candidates.copy()
    candidates["quicklook"] = None
    settings = config.quicklooks
    if not settings.enabled or candidates.empty:
        return candidates
    from monitor.alerts.quicklook import render_quicklook

    directory = settings.dir / run_date.isoformat() / region.name
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # an unwritable quicklooks folder must not cost the detections
        log.warning(
            "%s: no quicklooks written, %s is not writable: %s", region.name, directory, exc
        )
        return candidates
    for i in candidates.index[: settings.max_per_region]:
        path = directory / f"candidate-{i + 1:03d}.png"
        try:
            title = f"{region.name} candidate {i + 1} ({run_date})"
            render_quicklook(stack, candidates.geometry[i], path, title=title)
        except Exception as exc:  # a missing picture must not cost the detection
            log.warning("%s: quicklook %s not written: %s", region.name, path, exc)
            continue
        candidates.loc[i, "quicklook"] = str(path)
    return candidates


def detect_region(
    config: MonitorConfig,
    region: RegionConfig,
    run_date: date,
    *,
    source: Source | None = None,
    ensemble: Ensemble | None = None,
) -> RegionResult:
    """Candidates of one region on ``run_date``. Writes nothing but quicklook PNGs.

    A region without data (no acquisition in a window, a post window not begun, no setting with
    enough coverage) is a ``no-data`` result, not an error; any other failure raises."""
    clock = _Clock()
    result = RegionResult(region=region.name, run_date=run_date, status="ok", timings=clock.timings)
    try:
        pre, post = region.windows.windows_for(run_date)
    except ValueError as exc:
        result.status, result.message = "no-data", str(exc)
        return result
    result.pre_window, result.post_window = str(pre), str(post)
    source = source if source is not None else open_source(config.source)

    try:
        stack = source.features(region.area, pre, post)
    except DataUnavailable as exc:
        result.status, result.message = "no-data", str(exc)
        return result
    validate(stack)
    result.data_status = str(stack.attrs.get("status", ""))
    clock.lap("features")

    result.trigger = evaluate_trigger(stack, config.trigger)
    clock.lap("trigger")
    candidates = empty_candidates(stack.rio.crs)
    if not result.trigger.triggered:
        result.message = "trigger: no change above the trigger's thresholds, ensemble not run"
    else:
        ensemble = ensemble if ensemble is not None else load_ensemble(config.model)
        try:
            choice = choose_setting(stack, ensemble.settings, config.model)
        except NoUsableSetting as exc:
            result.status, result.message = "no-data", f"{region.name}: {exc}"
            return result
        result.setting, result.setting_reason = choice.setting, choice.reason
        prediction = _predict(ensemble, stack, choice, config.model.device)
        clock.lap("ensemble")
        candidates = vectorise(prediction, stack, region.rules)
        clock.lap("vectorise")
    candidates = _write_quicklooks(config, region, run_date, stack, candidates)
    clock.lap("quicklooks")
    result.candidates = candidates

    truth = getattr(source, "ground_truth", None)
    if truth is not None:
        try:
            events = truth(region.name)
        except (LookupError, OSError) as exc:  # an archive of real exports has no ground truth
            log.debug("%s: no ground truth to score against: %s", region.name, exc)
        else:
            result.evaluation = evaluate(candidates, events, pre, post)
        clock.lap("evaluation")
    return result


def _detect_safely(config: MonitorConfig, region: RegionConfig, run_date: date) -> RegionResult:
    """:func:`detect_region`, with any failure turned into a ``failed`` result."""
    start = time.perf_counter()
    try:
        return detect_region(config, region, run_date)
    except Exception as exc:
        log.exception("region %s failed", region.name)
        return RegionResult(
            region=region.name,
            run_date=run_date,
            status="failed",
            message=f"{type(exc).__name__}: {exc}",
            timings={"failed": time.perf_counter() - start},
        )


def _trigger_note(result: RegionResult) -> str:
    trigger = result.trigger
    if trigger is None:
        return ""
    return (
        f"trigger {'on' if trigger.triggered else 'off'}: vegetation loss "
        f"{trigger.vegetation_loss_m2:,.0f} m², backscatter change "
        f"{trigger.backscatter_change_m2:,.0f} m²; clear optical "
        f"{trigger.optical_clear_fraction:.0%}, radar {trigger.radar_valid_fraction:.0%}"
    )


def region_detections(result: RegionResult) -> RegionDetections:
    """What the inventory records of a region's result (the trigger's statistics go into the
    message, so that they are kept for every region and run, detections or not)."""
    notes = [n for n in (result.message, _trigger_note(result), result.data_status) if n]
    notes = [n for n in notes if n != "ok"]
    return RegionDetections(
        region=result.region,
        status=result.status,
        message="; ".join(notes),
        setting=result.setting,
        candidates=result.candidates if result.status == "ok" else None,
    )


# --------------------------------------------------------------------------- the run


def _failed(region: RegionConfig, run_date: date, exc: BaseException) -> RegionResult:
    return RegionResult(
        region=region.name,
        run_date=run_date,
        status="failed",
        message=f"{type(exc).__name__}: {exc}",
    )


def _log_result(result: RegionResult) -> None:
    if result.status == "ok":
        log.info(
            "%s: %d candidate(s)%s in %.1f s",
            result.region,
            result.n_candidates,
            f" with {result.setting}" if result.setting else " (trigger off)",
            result.seconds,
        )
    elif result.status == "no-data":
        log.warning("%s: no data: %s", result.region, result.message)
    else:
        log.error("%s: failed: %s", result.region, result.message)


def _detect_all(
    config: MonitorConfig,
    regions: Sequence[RegionConfig],
    run_date: date,
    executor: Executor | None,
    progress: bool,
) -> list[RegionResult]:
    bar = tqdm(total=len(regions), desc="regions", unit="region", disable=not progress)
    results: dict[str, RegionResult] = {}
    try:
        if executor is None:
            for region in regions:
                bar.set_postfix_str(region.name)
                results[region.name] = _detect_safely(config, region, run_date)
                _log_result(results[region.name])
                bar.update()
        else:
            futures: dict[Future[RegionResult], RegionConfig] = {
                executor.submit(_detect_safely, config, region, run_date): region
                for region in regions
            }
            for future in as_completed(futures):
                region = futures[future]
                try:
                    results[region.name] = future.result()
                except Exception as exc:  # the worker died, or the task could not run
                    results[region.name] = _failed(region, run_date, exc)
                _log_result(results[region.name])
                bar.update()
    finally:
        bar.close()
    return [results[r.name] for r in regions]


@dataclass
class RunSummary:
    """The outcome of :func:`run_once`; :meth:`format` is the end-of-run report."""

    run_id: int
    run_date: date
    source: str
    regions: list[RegionResult]
    changes: Changes
    delivery: DeliveryReport | None
    outbox: dict[str, int]
    timings: dict[str, float]
    inventory: Path
    quicklooks: Path | None
    config: Path | None = None

    @property
    def ok(self) -> bool:
        """True when no region failed (a region without data is not a failure)."""
        return all(r.status != "failed" for r in self.regions)

    def counts(self, region: str | None = None) -> dict[str, int]:
        """New, grown and seen landslides (of one region, or all)."""
        changes = [c for c in self.changes.changes if region is None or c.region == region]
        return {k: sum(c.kind == k for c in changes) for k in ("new", "grown", "seen")}

    @property
    def evaluation(self) -> Evaluation | None:
        scored = [r.evaluation for r in self.regions if r.evaluation is not None]
        if not scored:
            return None
        total = scored[0]
        for e in scored[1:]:
            total = total + e
        return total

    @property
    def detections(self) -> int:
        return sum(r.n_candidates for r in self.regions)

    def format(self) -> str:
        """A table a person reads at the end of a run."""
        header = (
            f"{'region':<20} {'status':<8} {'setting':<7} {'detections':>10} {'new':>4} "
            f"{'grown':>5} {'seen':>4} {'recall':>9} {'false al.':>9} {'time':>7}"
        )
        lines = [
            f"Run {self.run_id} for {self.run_date} on the {self.source} source: "
            f"{len(self.regions)} region(s) in {self.timings.get('total', 0.0):.1f} s",
            header,
            "-" * len(header),
        ]

        def score(e: Evaluation | None) -> tuple[str, str]:
            if e is None:
                return "-", "-"
            return f"{e.detected}/{e.events}", str(e.false_alarms)

        for r in self.regions:
            c = self.counts(r.region)
            recall, false_alarms = score(r.evaluation)
            lines.append(
                f"{r.region:<20} {r.status:<8} {r.setting or '-':<7} {r.n_candidates:>10} "
                f"{c['new']:>4} {c['grown']:>5} {c['seen']:>4} {recall:>9} {false_alarms:>9} "
                f"{r.seconds:>6.1f}s"
            )
        total = self.counts()
        recall, false_alarms = score(self.evaluation)
        lines.append("-" * len(header))
        lines.append(
            f"{'total':<20} {'':<8} {'':<7} {self.detections:>10} {total['new']:>4} "
            f"{total['grown']:>5} {total['seen']:>4} {recall:>9} {false_alarms:>9} "
            f"{self.timings.get('total', 0.0):>6.1f}s"
        )
        for r in self.regions:
            if r.status != "ok":
                lines.append(f"  {r.region}: {r.status}: {r.message}")
        evaluation = self.evaluation
        if evaluation is not None and evaluation.events:
            lines.append(
                f"Against the source's ground truth (landslides of the run's windows): object "
                f"recall {evaluation.recall:.0%} ({evaluation.detected} of {evaluation.events}), "
                f"{evaluation.false_alarms} false alarm(s) among {evaluation.candidates} "
                "detection(s)."
            )
        if self.delivery is not None:
            lines.append(
                f"Alerts: {self.changes.alerts_queued} queued by this run, "
                f"{self.delivery.sent} sent, {self.outbox.get('pending', 0)} pending, "
                f"{self.outbox.get('dead', 0)} dead (outbox: table alert_outbox of the inventory)."
            )
            lines.extend(f"  alert delivery: {e}" for e in self.delivery.errors)
        else:
            lines.append(
                f"Alerts: {self.changes.alerts_queued} queued by this run, not sent (--no-alerts);"
                f" {self.outbox.get('pending', 0)} pending in the outbox."
            )
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items() if k != "total")
        stages: dict[str, float] = {}
        for r in self.regions:
            for stage, seconds in r.timings.items():
                stages[stage] = stages.get(stage, 0.0) + seconds
        if stages:
            detail = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
            timings += f" (regions together: {detail})"
        lines.append(f"Timings: {timings}.")
        lines.append(f"Inventory: {self.inventory}")
        if self.quicklooks is not None:
            lines.append(f"Quicklooks: {self.quicklooks}")
        return "\n".join(lines)


def run_once(
    config: MonitorConfig,
    run_date: date,
    regions: Sequence[str] | None = None,
    executor: Executor | None = None,
    *,
    deliver_alerts: bool = True,
    progress: bool = True,
) -> RunSummary:
    """Run the monitor once for ``run_date`` over ``regions`` (names; default all).

    A run date after today, or before the source has any data, is refused with
    :class:`~monitor.errors.BadInput` before anything is recorded.

    Holds the inventory's run lock throughout (:class:`monitor.store.lock.RunLockHeld` when another
    run has it). Regions run serially, or on ``executor`` (``submit`` + futures, e.g.
    :func:`monitor.ops.distributed.dask_executor`); this process alone writes the inventory, once,
    in one transaction. A run interrupted before that write leaves the inventory as it was (the
    run is recorded failed or, if the process died, interrupted at the next start) and a rerun
    of the same date completes the work."""
    selected = [config.region(n) for n in regions] if regions else list(config.regions)
    check_run_date(run_date, open_source(config.source), [r.area for r in selected])
    start = time.perf_counter()
    timings: dict[str, float] = {}
    routing = config.alert_routing()
    inventory_path = config.inventory.path
    inventory_path.parent.mkdir(parents=True, exist_ok=True)
    if executor is None:
        load_ensemble(config.model)  # a broken manifest stops the run before it starts
    delivery = None
    with RunLock(inventory_path), Inventory(inventory_path) as inventory:
        run_id = inventory.start_run(
            run_date,
            [r.name for r in selected],
            config.source.type,
            config=str(config.path) if config.path else None,
            model=str(config.model.manifest),
        )
        log.info("run %d for %s: %d region(s)", run_id, run_date, len(selected))
        stage = "detection"
        try:
            results = _detect_all(config, selected, run_date, executor, progress)
            timings["detection"] = time.perf_counter() - start
            lap = time.perf_counter()
            stage = "the inventory update"
            changes = inventory.apply(run_id, [region_detections(r) for r in results], routing)
            timings["inventory"] = time.perf_counter() - lap
            lap = time.perf_counter()
            stage = "alert delivery"
            with inventory.outbox() as box:
                if deliver_alerts:
                    delivery = box.deliver(routing)
                outbox_counts = box.counts()
            timings["alerts"] = time.perf_counter() - lap
        except BaseException as exc:
            _record_stop(inventory, run_id, stage, exc)
            raise
    timings["total"] = time.perf_counter() - start
    quicklooks = config.quicklooks.dir / run_date.isoformat() if config.quicklooks.enabled else None
    return RunSummary(
        run_id=run_id,
        run_date=run_date,
        source=config.source.type,
        regions=results,
        changes=changes,
        delivery=delivery,
        outbox=outbox_counts,
        timings=timings,
        inventory=inventory_path,
        quicklooks=quicklooks,
        config=config.path,
    )


def _record_stop(inventory: Inventory, run_id: int, stage: str, exc: BaseException) -> None:
    """Record run ``run_id`` as interrupted (a signal, Ctrl-C) or failed, and note on ``exc``
    what became of the inventory. Before the inventory update commits, nothing of the run is
    written; after it (during alert delivery) the run stays complete and its alerts stay
    queued in the outbox for the next run or ``alerts deliver``."""
    interrupted = isinstance(exc, KeyboardInterrupt)
    what = str(exc) or type(exc).__name__
    message = f"{'interrupted' if interrupted else 'stopped'} during {stage} ({what})"
    inventory.fail_run(run_id, message, "interrupted" if interrupted else "failed")
    if stage == "alert delivery":
        note = f"run {run_id} had completed; the alerts not yet sent stay queued in the outbox"
    else:
        state = "interrupted" if interrupted else "failed"
        note = f"run {run_id} recorded as {state} during {stage}; the inventory is unchanged"
    log.warning(note)
    exc.add_note(note)


def build_configured_archive(config: MonitorConfig, *, progress: bool = True) -> Path:
    """Simulate the acquisitions of the configuration's regions into its archive (idempotent:
    :func:`monitor.simulator.build_archive` skips regions whose spec is unchanged)."""
    from monitor.simulator import build_archive

    source = config.source
    if not isinstance(source, ArchiveSourceConfig):
        raise ValueError(
            f"source.type is {source.type!r}: only an archive source can be built "
            "(set source.type: archive)"
        )
    if source.simulation is None:
        raise ValueError("source.simulation is missing: the archive's time span and storms")
    specs = [(r.area, r.simulation) for r in config.regions if r.simulation is not None]
    if not specs:
        raise ValueError("no region has a simulation block: nothing to build")
    skipped = [r.name for r in config.regions if r.simulation is None]
    if skipped:
        log.warning("regions without a simulation block, not built: %s", ", ".join(skipped))
    build_archive(source.path, specs, source.simulation, progress=progress)
    return source.path
