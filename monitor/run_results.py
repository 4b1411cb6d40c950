"""What a run found, as plain data: :class:`RegionResult` for one region (picklable, so that it
comes back from a Dask worker), :class:`RunSummary` for the whole run,
:func:`region_detections`, what the inventory records of a region's result, and the
bookkeeping of a region's detection: its stage timings (:class:`Clock`) and log line
(:func:`log_result`).

The end-of-run table a person reads is drawn by :mod:`monitor.cli.report`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd

from monitor.pipeline.evaluation import Evaluation
from monitor.pipeline.trigger import TriggerResult
from monitor.sources.base import stale_note
from monitor.store.inventory import Changes, RegionDetections, RegionStatus

if TYPE_CHECKING:
    from monitor.alerts.outbox import DeliveryReport

__all__ = ["Clock", "RegionResult", "RunSummary", "log_result", "region_detections"]

log = logging.getLogger("monitor.run")  # what a run logs, under the run's name


@dataclass
class RegionResult:
    """What :func:`monitor.run.detect_region` found in one region (picklable)."""

    region: str
    run_date: date
    status: RegionStatus
    message: str = ""
    pre_window: str = ""
    post_window: str = ""
    windows: str = ""  # the windows as the log, the report and the run's record give them
    # the views the run read (windows, compositing, orbit pass), as run_regions.views records
    # them for the scenes `dataset from-reviews` builds again (monitor.store.runs)
    views: dict[str, Any] = field(default_factory=dict)
    data_status: str = ""  # the stack's ``status`` attribute (missing sensors, windows)
    setting: str | None = None
    setting_reason: str = ""
    trigger: TriggerResult | None = None
    candidates: gpd.GeoDataFrame | None = None
    evaluation: Evaluation | None = None  # of the candidates the object filter kept
    evaluation_unfiltered: Evaluation | None = None  # of all candidates, suppressed included
    rasters: list[str] = field(default_factory=list)  # the probability and spread COGs
    # what of the quicklooks and COGs was not written (a full disk): the summary says it
    not_written: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    # the run date whose result this is, read back (monitor.run_reuse); None: computed now
    reused_from: date | None = None

    @classmethod
    def failed(
        cls,
        region: str,
        run_date: date,
        exc: BaseException,
        timings: dict[str, float] | None = None,
    ) -> RegionResult:
        """The result of a region whose detection raised ``exc``."""
        return cls(
            region=region,
            run_date=run_date,
            status="failed",
            message=f"{type(exc).__name__}: {exc}",
            timings=timings or {},
        )

    @property
    def n_candidates(self) -> int:
        return 0 if self.candidates is None else len(self.candidates)

    @property
    def seconds(self) -> float:
        return sum(self.timings.values())

    @property
    def n_suppressed(self) -> int:
        """Candidates the object filter suppressed (stored, no alert)."""
        if self.candidates is None or "suppressed" not in self.candidates.columns:
            return 0
        return int(self.candidates["suppressed"].astype(bool).sum())

    @property
    def filtered(self) -> bool:
        """Whether an object filter scored the candidates (``filter_score`` is NaN without
        one, as with a manifest of imported checkpoints); False without candidates."""
        if self.candidates is None or "filter_score" not in self.candidates.columns:
            return False
        return bool(self.candidates["filter_score"].notna().any())


class Clock:
    """Adds the seconds since the last lap to ``timings[name]`` at each :meth:`lap`."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - self._last
        self._last = now


def log_result(result: RegionResult) -> None:
    """One log line of what a region found (a warning without data, an error on failure)."""
    windows = f"; windows: {result.windows}" if result.windows else ""
    if result.status == "ok":
        log.info(
            "%s: %d candidate(s)%s in %.1f s%s",
            result.region,
            result.n_candidates,
            f" with {result.setting}" if result.setting else " (not triggered)",
            result.seconds,
            windows,
        )
        # ok on what the source still holds: said where the run is watched, not only by
        # `status --check` (found on a walk: a run 26 days past the archive's end said nothing)
        if stale := stale_note(result.data_status):
            log.warning("%s: %s", result.region, stale)
    elif result.status == "no-data":
        log.warning("%s: no data: %s%s", result.region, result.message, windows)
    else:
        log.error("%s: failed: %s", result.region, result.message)


def _trigger_note(result: RegionResult) -> str:
    """The trigger's statistics; whether it fired is "triggered" or "not triggered" ("trigger
    off", before 2026-12-07, was read as the trigger switched off in the configuration)."""
    trigger = result.trigger
    if trigger is None:
        return ""
    return (
        f"{'triggered' if trigger.triggered else 'not triggered'}: vegetation loss "
        f"{trigger.vegetation_loss_m2:,.0f} m², backscatter change "
        f"{trigger.backscatter_change_m2:,.0f} m²; clear optical "
        f"{trigger.optical_clear_fraction:.0%}, radar {trigger.radar_valid_fraction:.0%}"
    )


def region_detections(result: RegionResult) -> RegionDetections:
    """What the inventory records of a region's result (the trigger's statistics go into the
    message, so that they are kept for every region and run, detections or not)."""
    windows = f"windows: {result.windows}" if result.windows else ""
    notes = [n for n in (result.message, windows, _trigger_note(result), result.data_status) if n]
    notes = [n for n in notes if n != "ok"]
    return RegionDetections(
        region=result.region,
        status=result.status,
        message="; ".join(notes),
        views=result.views or None,
        setting=result.setting,
        candidates=result.candidates if result.status == "ok" else None,
    )


@dataclass
class RunSummary:
    """The outcome of :func:`monitor.run.run_once`
    (:func:`monitor.cli.report.format_summary` draws it as the end-of-run report)."""

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
        """The regions' scores (of what the filter kept) added up; None when none was scored."""
        return _total([r.evaluation for r in self.regions])

    @property
    def evaluation_unfiltered(self) -> Evaluation | None:
        """The same of all candidates, suppressed included: the chain without the filter."""
        return _total([r.evaluation_unfiltered for r in self.regions])

    @property
    def suppressed(self) -> int:
        return sum(r.n_suppressed for r in self.regions)

    @property
    def filtered(self) -> bool:
        """Whether an object filter scored any region's candidates."""
        return any(r.filtered for r in self.regions)

    @property
    def detections(self) -> int:
        return sum(r.n_candidates for r in self.regions)


def _total(evaluations: list[Evaluation | None]) -> Evaluation | None:
    scored = [e for e in evaluations if e is not None]
    if not scored:
        return None
    total = scored[0]
    for e in scored[1:]:
        total = total + e
    return total
