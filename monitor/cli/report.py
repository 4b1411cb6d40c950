"""The end-of-run report that ``landslide-monitor run`` prints: one line per region (status,
setting, detections, new/grown/seen, recall and false alarms against ground truth, time), the
totals, recall and false alarms with and without the object filter, the alerts and the timings
of the run's stages (:func:`format_summary`)."""

from __future__ import annotations

from monitor.pipeline.evaluation import Evaluation
from monitor.run_results import RunSummary
from monitor.store.matching import MATCH_TOLERANCE_M

__all__ = ["format_summary"]


def _score(evaluation: Evaluation | None) -> tuple[str, str]:
    """The recall (``detected/events``) and false-alarm cells; ``-`` when not scored."""
    if evaluation is None:
        return "-", "-"
    return f"{evaluation.detected}/{evaluation.events}", str(evaluation.false_alarms)


def _table(summary: RunSummary) -> list[str]:
    """The title line, the region table and its total row."""
    header = (
        f"{'region':<20} {'status':<8} {'setting':<7} {'detections':>10} {'new':>4} "
        f"{'grown':>5} {'seen':>4} {'recall':>9} {'false al.':>9} {'time':>7}"
    )
    lines = [
        f"Run {summary.run_id} for {summary.run_date} on the {summary.source} source: "
        f"{len(summary.regions)} region(s) in {summary.timings.get('total', 0.0):.1f} s",
        header,
        "-" * len(header),
    ]
    for r in summary.regions:
        c = summary.counts(r.region)
        recall, false_alarms = _score(r.evaluation)
        lines.append(
            f"{r.region:<20} {r.status:<8} {r.setting or '-':<7} {r.n_candidates:>10} "
            f"{c['new']:>4} {c['grown']:>5} {c['seen']:>4} {recall:>9} {false_alarms:>9} "
            f"{r.seconds:>6.1f}s"
        )
    total = summary.counts()
    recall, false_alarms = _score(summary.evaluation)
    lines.append("-" * len(header))
    lines.append(
        f"{'total':<20} {'':<8} {'':<7} {summary.detections:>10} {total['new']:>4} "
        f"{total['grown']:>5} {total['seen']:>4} {recall:>9} {false_alarms:>9} "
        f"{summary.timings.get('total', 0.0):>6.1f}s"
    )
    # found on a walk: "detections 4, new 3" with no word of where the fourth went
    ok = [r for r in summary.regions if r.status == "ok"]
    joined = sum(r.n_candidates for r in ok) - sum(
        sum(summary.counts(r.region).values()) for r in ok
    )
    if joined > 0:
        lines.append(
            f"{joined} detection(s) matched the same landslide as another (within "
            f"{MATCH_TOLERANCE_M:g} m of its outline: one inventory entry)"
        )
    return lines


def _alerts(summary: RunSummary) -> list[str]:
    """What became of the run's alerts."""
    queued, outbox = summary.changes.alerts_queued, summary.outbox
    if summary.delivery is None:
        return [
            f"Alerts: {queued} queued by this run, not sent (--no-alerts);"
            f" {outbox.get('pending', 0)} pending in the outbox."
        ]
    lines = [
        f"Alerts: {queued} queued by this run, "
        f"{summary.delivery.sent} sent, {outbox.get('pending', 0)} pending, "
        f"{outbox.get('dead', 0)} dead (outbox: table alert_outbox of the inventory)."
    ]
    lines.extend(f"  alert delivery: {e}" for e in summary.delivery.distinct_errors())
    return lines


def _timings(summary: RunSummary) -> str:
    """The run's stages, then the regions' stages added up."""
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in summary.timings.items() if k != "total")
    stages: dict[str, float] = {}
    for r in summary.regions:
        for stage, seconds in r.timings.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    if stages:
        detail = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
        timings += f" (regions together: {detail})"
    return f"Timings: {timings}."


def _older(evaluation: Evaluation) -> str:
    """How many of the false alarms lie on landslides of the pre window: real slides older than
    the post window (after a storm, its slides seen again by the runs of the next weeks), not
    look-alikes (:class:`~monitor.pipeline.evaluation.Evaluation`)."""
    n = evaluation.on_older_landslides
    return f" ({n} on older landslides, of the pre window)" if n else ""


def _windows_lines(summary: RunSummary) -> list[str]:
    """The regions' windows, one line per distinct windows with the regions that share them;
    "all N regions" where more than three share the only ones (found in a walkthrough of 37
    regions: 37 lines, all alike)."""
    by_windows: dict[str, list[str]] = {}
    for r in summary.regions:
        if r.windows:
            by_windows.setdefault(r.windows, []).append(r.region)
    if len(by_windows) == 1:
        ((windows, regions),) = by_windows.items()
        if len(regions) > 3:
            others = [r.region for r in summary.regions if r.region not in regions]
            if not others:
                return [f"  all {len(regions)} regions: {windows}"]
            if len(others) <= 3:  # those without windows (failed, or no data), named above
                return [f"  all {len(summary.regions)} but {', '.join(others)}: {windows}"]
    return [f"  {', '.join(regions)}: {windows}" for windows, regions in by_windows.items()]


def format_summary(summary: RunSummary) -> str:
    """A table a person reads at the end of a run."""
    lines = _table(summary)
    lines.extend(
        f"  {r.region}: {r.status}: {r.message}" for r in summary.regions if r.status != "ok"
    )
    lines.extend(  # an event region's final detections, read back (monitor.run_reuse)
        f"  {r.region}: {r.message}"
        for r in summary.regions
        if r.status == "ok" and r.reused_from is not None
    )
    not_written = [f"  {r.region}: {what}" for r in summary.regions for what in r.not_written]
    if not_written:  # found in a crash walkthrough: a full disk was in the log alone
        lines.append("Not written (the detections and their alerts are kept):")
        lines.extend(not_written)
    windows = _windows_lines(summary)
    if windows:
        lines.append("Windows (start/end, the end day excluded):")
        lines.extend(windows)
    evaluation = summary.evaluation
    if evaluation is not None and evaluation.events:
        if summary.filtered:
            which = " the object filter kept"
        elif summary.detections:  # a manifest without a filter (imported checkpoints)
            which = ", none scored by an object filter (the manifest lists none)"
        else:
            which = ""
        lines.append(
            f"Against the source's ground truth (landslides of the run's windows): object "
            f"recall {evaluation.recall:.0%} ({evaluation.detected} of {evaluation.events}), "
            f"{evaluation.false_alarms} false alarm(s){_older(evaluation)} among "
            f"{evaluation.candidates} detection(s){which}."
        )
        unfiltered = summary.evaluation_unfiltered
        if unfiltered is not None and summary.filtered:
            lines.append(
                f"Without the object filter: recall {unfiltered.recall:.0%} "
                f"({unfiltered.detected} of {unfiltered.events}), {unfiltered.false_alarms} "
                f"false alarm(s){_older(unfiltered)} among {unfiltered.candidates}; the filter "
                f"suppressed {summary.suppressed} (stored, no alert)."
            )
    elif summary.suppressed:
        lines.append(
            f"The object filter suppressed {summary.suppressed} detection(s) (stored, no alert)."
        )
    lines.extend(_alerts(summary))
    lines.append(_timings(summary))
    lines.append(f"Inventory: {summary.inventory}")
    if summary.quicklooks is not None and summary.quicklooks.is_dir():  # none on a no-data day
        lines.append(f"Quicklooks: {summary.quicklooks}")
    return "\n".join(lines)
