"""One monitoring run: for every region, feature stack -> trigger -> the detection chain
(setting -> ensemble -> masks and vectorise -> object filter, :mod:`monitor.pipeline.chain`) ->
candidates; then one inventory update and the alerts.

This module only chains the stages of :mod:`monitor.pipeline` and the stores; each stage's
work lives with the stage. Two levels, so that the regions can run anywhere while the inventory
keeps a single writer:

* :func:`detect_region` is pure. It reads the source and the model, computes, and writes nothing
  but quicklook PNGs and the probability and spread COGs beside them; its
  :class:`~monitor.run_results.RegionResult` pickles, so it runs on a Dask worker as well as in
  this process.
* :func:`run_once` takes the inventory's run lock (:mod:`monitor.store.lock`), records the run, runs
  :func:`detect_region` for each region (serially, or on an executor with ``submit``), applies
  every region's candidates to the inventory in one transaction, delivers the pending alerts and
  returns a :class:`~monitor.run_results.RunSummary`. One failing region never stops the others:
  it is recorded as failed with its message. An event region whose windows have closed is read
  back from the result an earlier run stored (:mod:`monitor.run_reuse`) while nothing it depends
  on has changed.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rasterio.errors import RasterioError
from tqdm.auto import tqdm

from gee_scripts.coverage import AssetCoverageError
from models.atomic import full_disk_note
from models.manifest import ManifestError, read_manifest
from monitor import run_reuse
from monitor.alerts.payload import quicklook_name
from monitor.alerts.quicklook import write_quicklooks
from monitor.config import (
    DEFAULT_MANIFEST,
    ModelSettings,
    MonitorConfig,
    RegionConfig,
    SourceConfig,
)
from monitor.errors import BadInput, swallowed_stop
from monitor.grid import reproject
from monitor.pipeline.chain import (
    detect,
    empty_detection_candidates,
    prune_cogs,
    prune_pictures,
    write_cogs,
)
from monitor.pipeline.evaluation import GroundTruth, evaluate, region_truth
from monitor.pipeline.setting import NoUsableSetting, Predictor, choose_setting, unobserved
from monitor.pipeline.trigger import evaluate_trigger
from monitor.run_inputs import (
    RESOURCES,
    build_configured_archive,
    check_not_future,
    check_run_date,
    check_setting,
    missing_archive,
)
from monitor.run_results import Clock, RegionResult, RunSummary, log_result, region_detections
from monitor.run_reuse import Reuse
from monitor.sources.archive import ArchiveError
from monitor.sources.base import DataUnavailable, RegionTooLarge, Source, Window
from monitor.store.inventory import Inventory
from monitor.store.lock import RunLock
from monitor.store.matching import MATCH_TOLERANCE_M
from monitor.store.runs import regions_to_redo, views_record

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr
    from shapely.geometry.base import BaseGeometry

    from models.ensemble import Ensemble
    from models.object_filter import ObjectFilterModel

__all__ = [
    "NoUsableSetting",
    "NothingToRedo",
    "RegionResult",
    "RunSummary",
    "build_configured_archive",
    "check_run_date",
    "choose_setting",
    "detect_region",
    "load_ensemble",
    "open_source",
    "run_once",
    "within_region",
]

log = logging.getLogger(__name__)


class NothingToRedo(Exception):
    """``run_once(redo_failed=True)`` found, under the run lock, every region of the date
    completed: nothing was run or recorded."""

    def __init__(self, run_date: date) -> None:
        super().__init__(f"every region completed {run_date} (ok or without data): nothing to redo")


def open_source(settings: SourceConfig) -> Source:
    """The source the ``source:`` block describes (one instance per process and settings)."""
    return RESOURCES.source(settings)


def load_ensemble(model: ModelSettings) -> Ensemble:
    """The ensemble of ``model.manifest`` with ``model.engine``, loaded once per process
    (reloaded when the file changes)."""
    return RESOURCES.ensemble(model)


# --------------------------------------------------------------------------- one region


def detect_region(
    config: MonitorConfig,
    region: RegionConfig,
    run_date: date,
    *,
    source: Source | None = None,
    ensemble: Predictor | None = None,
    object_filter: ObjectFilterModel | Literal["ensemble"] | None = "ensemble",
    known: Sequence[tuple[int, bytes]] = (),
) -> RegionResult:
    """Candidates of one region on ``run_date``. Writes nothing but quicklook PNGs and the
    probability and spread COGs beside them (``quicklooks.dir/<date>/<region>/``); the
    pictures go to the candidates that touch none of the ``known`` outlines (the inventory's
    landslides of the region, ``(EPSG, WKB)``) first.

    Candidates carry the object filter's ``filter_score`` and ``suppressed`` (below the region's
    ``filter_cut``, else the manifest's); the filter is the one the ensemble was loaded with
    (``ensemble.object_filter``), unless ``object_filter`` gives another (None: no filter).
    Where the source knows the truth, ``evaluation`` scores what the filter kept and
    ``evaluation_unfiltered`` all candidates.

    A region without data (no acquisition in a window, a post window not begun, no setting with
    enough coverage) is a ``no-data`` result, not an error; any other failure raises."""
    result = RegionResult(region=region.name, run_date=run_date, status="ok")
    clock = Clock(result.timings)
    try:
        pre, post = region.windows.windows_for(run_date)
    except ValueError as exc:
        result.status, result.message = "no-data", str(exc)
        return result
    result.pre_window, result.post_window = str(pre), str(post)
    result.windows = region.windows.describe(pre, post)
    compositing = region.windows.compositing()
    result.views = views_record(pre, post, compositing, region.area.orbit_pass)
    source = source if source is not None else open_source(config.source)
    try:
        stack = source.features(region.area, pre, post, compositing)
    except DataUnavailable as exc:
        result.status, result.message = "no-data", str(exc)
        return result
    result.data_status = str(stack.attrs.get("status", ""))
    clock.lap("features")

    result.trigger = evaluate_trigger(stack, config.trigger)
    clock.lap("trigger")
    candidates = empty_detection_candidates(stack.rio.crs)
    prediction = None
    if not result.trigger.triggered:
        if blind := unobserved(stack, config.model):
            result.status, result.message = "no-data", f"{region.name}: {blind}"
            return result
        result.message = "trigger: no change above the trigger's thresholds, ensemble not run"
    else:
        ensemble = ensemble if ensemble is not None else load_ensemble(config.model)
        if object_filter == "ensemble":
            object_filter = getattr(ensemble, "object_filter", None)
        try:
            found = detect(
                stack,
                ensemble,
                config.model,
                region.rules,
                object_filter,
                cut=region.filter_cut,
                device=config.model.device,
            )
        except NoUsableSetting as exc:
            result.status, result.message = "no-data", f"{region.name}: {exc}"
            return result
        result.setting, result.setting_reason = found.choice.setting, found.choice.reason
        prediction = found.prediction
        candidates = within_region(found.candidates, region.area.geometry, region.name)
        clock.lap("detection")

    ql = config.quicklooks
    where = ql.dir / run_date.isoformat() / region.name if ql.enabled else None
    limit = ql.max_per_region
    result.candidates = write_quicklooks(
        stack,
        candidates,
        where,
        region=region.name,
        run_date=run_date,
        limit=limit,
        problems=result.not_written,
        known=known,
        known_within_m=MATCH_TOLERANCE_M,
    )
    if where is not None and prediction is not None:
        _write_rasters(result, prediction, stack, where, region.name)
    clock.lap("quicklooks")
    if isinstance(source, GroundTruth):
        _evaluate(result, result.candidates, source, region, pre, post)
        clock.lap("evaluation")
    return result


def within_region(
    candidates: gpd.GeoDataFrame, polygon: BaseGeometry, region: str
) -> gpd.GeoDataFrame:
    """The candidates that touch the region's polygon (lon/lat). The stack covers the polygon's
    bounding box, so a valley-shaped region would otherwise store and alert its neighbours'
    landslides; one that straddles the boundary is kept whole."""
    if candidates.empty or candidates.crs is None:
        return candidates
    inside = candidates.intersects(reproject(polygon, 4326, candidates.crs.to_string()))
    if not inside.all():
        log.info(
            "%s: %d candidate(s) outside the region's polygon (in its bounding box) left out",
            region, int((~inside).sum()),
        )  # fmt: skip
    return candidates[inside.to_numpy()]


def _write_rasters(
    result: RegionResult, prediction: xr.Dataset, stack: xr.Dataset, where: Path, region: str
) -> None:
    """The probability and spread COGs into ``where`` (``result.rasters``); like a quicklook,
    one that cannot be written (an unwritable folder, a full disk) is logged and never costs
    detections."""
    try:
        result.rasters = [str(p) for p in write_cogs(prediction, stack, where, region)]
    except Exception as exc:  # like a quicklook; GDAL's write errors are no OSError
        # a file system's or GDAL's error is the message alone; any other (a bug) keeps its
        # traceback in the log, still without costing the region's detections
        expected = isinstance(exc, OSError | RasterioError) or type(exc).__name__.startswith(
            "CPLE_"  # GDAL's errors (rasterio._err, a private module: matched by name)
        )
        # GDAL says "Write error at scanline 128" of a full disk: its free space says why
        if note := full_disk_note(where):
            exc = OSError(f"{exc}{note}")
        log.warning(
            "%s: probability/spread COGs not written in %s: %s", region, where, exc,
            exc_info=not expected,
        )  # fmt: skip
        result.not_written.append(f"the probability/spread COGs not written in {where}: {exc}")


def _prune_rasters(config: MonitorConfig, run_date: date) -> None:
    """The COGs of run dates more than ``quicklooks.keep_rasters_days`` before ``run_date``,
    deleted; like writing them, a failure is logged and costs the run nothing."""
    keep = config.quicklooks.keep_rasters_days
    if keep is None:
        return
    before = run_date - timedelta(days=keep)
    try:
        files, size = prune_cogs(config.quicklooks.dir, before)
    except OSError as exc:
        log.warning("quicklooks.keep_rasters_days: old COGs not deleted: %s", exc)
        return
    if files:
        log.info(
            "quicklooks.keep_rasters_days: deleted %d COG(s) of runs before %s (%.1f MB)",
            files, before, size / 1e6,
        )  # fmt: skip


def _prune_pictures(
    config: MonitorConfig,
    run_date: date,
    inventory: Inventory,
    reused: Mapping[str, RegionResult],
) -> None:
    """The PNGs of run dates more than ``quicklooks.keep_pictures_days`` before ``run_date``
    that neither the ``inventory``, nor an alert, nor a stored event result read back by this
    run (``reused``, :mod:`monitor.run_reuse`) names, deleted: an event region's stored result
    names the pictures of landslides only seen again, and without them it was computed again
    every few runs (found in review). A failure is logged and costs the run nothing."""
    keep = config.quicklooks.keep_pictures_days
    if keep is None:
        return
    before = run_date - timedelta(days=keep)
    try:
        named = inventory.named_pictures()
        for result in reused.values():
            frame = result.candidates
            if frame is not None and "quicklook" in frame.columns:
                named.update(quicklook_name(p) for p in frame["quicklook"] if isinstance(p, str))
        files, size = prune_pictures(config.quicklooks.dir, before, named)
    except (OSError, sqlite3.Error) as exc:
        log.warning("quicklooks.keep_pictures_days: old pictures not deleted: %s", exc)
        return
    if files:
        log.info(
            "quicklooks.keep_pictures_days: deleted %d picture(s) of runs before %s that no "
            "landslide or alert names (%.1f MB)",
            files, before, size / 1e6,
        )  # fmt: skip


def _evaluate(
    result: RegionResult,
    candidates: gpd.GeoDataFrame,
    source: GroundTruth,
    region: RegionConfig,
    pre: Window,
    post: Window,
) -> None:
    """Score the candidates the filter kept (``result.evaluation``) and all of them
    (``result.evaluation_unfiltered``) against the source's truth within the region."""
    events = region_truth(source, region.name, region.area.geometry)
    if events is None:
        return
    kept = candidates[~candidates["suppressed"].astype(bool)]
    result.evaluation = evaluate(kept, events, pre, post)
    result.evaluation_unfiltered = evaluate(candidates, events, pre, post)


def _detect_safely(
    config: MonitorConfig, region: RegionConfig, run_date: date, known: _Known = ()
) -> RegionResult:
    """:func:`detect_region`, with any failure logged and turned into a ``failed`` result (the
    serial path)."""
    start = time.perf_counter()
    try:
        return detect_region(config, region, run_date, known=known)
    except Exception as exc:
        _log_failure(region.name, exc, "failed")
        seconds = {"failed": time.perf_counter() - start}
        return RegionResult.failed(region.name, run_date, exc, seconds)


def _detect_or_raise(
    config: MonitorConfig, region: RegionConfig, run_date: date, known: _Known = ()
) -> RegionResult:
    """:func:`detect_region` as an executor's task: a failure is logged where it happened and
    raised, so that the executor may run the region again (Dask's ``retries``); the main process
    records the failure that remains (:func:`_detect_all`), with the seconds the attempt took
    (``_FAILED_AFTER_S`` on the exception: its ``__dict__`` travels with it when pickled)."""
    start = time.perf_counter()
    try:
        return detect_region(config, region, run_date, known=known)
    except Exception as exc:
        _log_failure(region.name, exc, "raised on a worker")
        with contextlib.suppress(AttributeError):  # an exception that takes no attribute
            setattr(exc, _FAILED_AFTER_S, time.perf_counter() - start)
        raise


_FAILED_AFTER_S = "landslide_monitor_failed_after_s"
# the inventory's outlines of a region's landslides, (EPSG, WKB): detect_region's ``known``
_Known = Sequence[tuple[int, bytes]]


def _log_failure(region: str, exc: Exception, what: str) -> None:
    # The region's data do not fit, or the source refuses the region (too large, beyond an
    # asset's latitudes): the message says why and what to change. Any other error (a bug)
    # keeps its traceback.
    if isinstance(exc, ArchiveError | AssetCoverageError | RegionTooLarge):
        log.error("region %s %s: %s", region, what, exc)
    else:
        log.error("region %s %s", region, what, exc_info=exc)


# --------------------------------------------------------------------------- the run


def _read_back(
    config: MonitorConfig, regions: Sequence[RegionConfig], run_date: date
) -> tuple[dict[str, Reuse], dict[str, RegionResult]]:
    """The cache entries of the regions whose results are final (:mod:`monitor.run_reuse`),
    and the results stored under them, read back."""
    entries: dict[str, Reuse] = {}
    reused: dict[str, RegionResult] = {}
    for region in regions:
        entry = _reuse_entry(config, region, run_date)
        if entry is None:
            continue
        entries[region.name] = entry
        start = time.perf_counter()
        result = run_reuse.load(entry, run_date)
        if result is not None:
            result.timings = {"reused": time.perf_counter() - start}
            reused[region.name] = result
    return entries, reused


def _detect_all(
    config: MonitorConfig,
    regions: Sequence[RegionConfig],
    run_date: date,
    executor: Executor | None,
    progress: bool,
    entries: dict[str, Reuse],
    reused: dict[str, RegionResult],
    known: Mapping[str, _Known] | None = None,
) -> list[RegionResult]:
    """Every region's result: ``reused`` where an event region's final result was read back
    (:mod:`monitor.run_reuse`), else computed, and stored where its ``entries`` say it is
    final."""
    bar = tqdm(total=len(regions), desc="regions", unit="region", disable=not progress)
    results: dict[str, RegionResult] = {}
    try:
        for region in regions:
            if region.name in reused:
                results[region.name] = reused[region.name]
                log.info("%s: %s", region.name, reused[region.name].message)
                log_result(results[region.name])
                bar.update()
        todo = [r for r in regions if r.name not in results]
        if executor is None:
            for region in todo:
                bar.set_postfix_str(region.name)
                results[region.name] = _detect_safely(
                    config, region, run_date, (known or {}).get(region.name, ())
                )
                log_result(results[region.name])
                bar.update()
        else:
            futures: dict[Future[RegionResult], RegionConfig] = {
                executor.submit(
                    _detect_or_raise,
                    config,
                    region,
                    run_date,
                    (known or {}).get(region.name, ()),
                ): region
                for region in todo
            }
            for future in as_completed(futures):
                region = futures[future]
                try:
                    results[region.name] = future.result()
                except Exception as exc:  # it raised every time, its worker died, or no worker
                    seconds = getattr(exc, _FAILED_AFTER_S, None)
                    timings = {"failed": float(seconds)} if seconds is not None else None
                    results[region.name] = RegionResult.failed(region.name, run_date, exc, timings)
                log_result(results[region.name])
                bar.update()
    finally:
        bar.close()
    for name, entry in entries.items():
        if name in results and name not in reused:
            _reuse_store(entry, results[name])
    return [results[r.name] for r in regions]


def warn_simulated_model(config: MonitorConfig) -> bool:
    """Log a warning, and return True, where a run on real imagery (the Earth Engine source)
    uses the bundled ensemble: it has seen simulated scenes only, and its skill on real imagery
    is unmeasured (docs/models.md). An ensemble of one's own, trained, fine-tuned or imported,
    is named by ``model.manifest`` and not warned about."""
    if config.source.type != "gee" or Path(config.model.manifest).resolve() != DEFAULT_MANIFEST:
        return False
    log.warning(
        "model.manifest is the bundled ensemble, trained on simulated scenes only: how well it "
        "detects landslides in real imagery, and how many false alerts it raises there, has not "
        "been measured (docs/models.md). Run it without alert recipients first and review what "
        "it draws, then train or fine-tune on your own labels (docs/models.md, 'Train on your "
        "own inventory'), or set model.manifest to an ensemble of your own"
    )
    return True


# A region's stored result saves time and never costs a run: a failure to find, read or write
# one is logged (with its traceback where it is not the file system's) and the region computed.


def _reuse_entry(config: MonitorConfig, region: RegionConfig, run_date: date) -> Reuse | None:
    try:
        return run_reuse.final_entry(config, region, run_date, open_source(config.source))
    except Exception as exc:
        log.warning("%s: its stored detections cannot be looked up: %s", region.name, exc,
                    exc_info=not isinstance(exc, OSError))  # fmt: skip
        return None


def _reuse_store(entry: Reuse, result: RegionResult) -> None:
    try:
        run_reuse.store(entry, result)
    except Exception as exc:
        log.warning("%s: its detections could not be stored for later runs in %s: %s",
                    entry.region, entry.path, exc,
                    exc_info=not isinstance(exc, OSError))  # fmt: skip


def run_once(
    config: MonitorConfig,
    run_date: date,
    regions: Sequence[str] | None = None,
    executor: Executor | None = None,
    *,
    deliver_alerts: bool = True,
    progress: bool = True,
    lock_wait_s: float = 0.0,
    redo_failed: bool = False,
) -> RunSummary:
    """Run the monitor once for ``run_date`` over ``regions`` (names; default all); with
    ``redo_failed``, over those of them no run of the date completed, as the inventory holds
    them once the lock is taken (:class:`NothingToRedo` where there are none).

    A run date after today, or before the source has any data, or an archive folder that is
    not there, is refused with :class:`~monitor.errors.BadInput` before anything is recorded.

    Holds the inventory's run lock throughout (:class:`monitor.store.lock.RunLockHeld` when another
    run has it, after waiting up to ``lock_wait_s`` seconds for it). Regions run serially, or on
    ``executor`` (``submit`` + futures, e.g. :func:`monitor.ops.distributed.dask_executor`);
    this process alone writes the inventory, once, in one transaction. A run stopped before
    that write leaves the inventory as it was (it is recorded failed, or interrupted on
    SIGTERM/SIGINT; if the process died, the next start records it interrupted) and a rerun of
    the same date completes the work."""
    selected = [config.region(n) for n in regions] if regions else list(config.regions)
    areas = [r.area for r in selected]
    # before the source: Earth Engine is connected to (retried for seconds) as it opens
    check_not_future(run_date, timezone=config.schedule.timezone)
    source = open_source(config.source)
    # every region would fail on it; a remote cluster's workers may hold an archive this
    # machine does not
    remote = config.dask.scheduler_address is not None
    if not remote and (missing := missing_archive(source)) is not None:
        raise BadInput(missing)
    check_run_date(run_date, source, areas, timezone=config.schedule.timezone)
    start = time.perf_counter()
    timings: dict[str, float] = {}
    routing = config.alert_routing()
    inventory_path = config.inventory.path
    delivery = None
    with RunLock(inventory_path, wait_s=lock_wait_s):
        if redo_failed:  # read under the lock: a run of the date that held it has completed
            names = regions_to_redo(inventory_path, run_date, [r.name for r in selected])
            if not names:
                raise NothingToRedo(run_date)
            selected = [r for r in selected if r.name in names]
        # first: a result read back names only the COGs still there
        _prune_rasters(config, run_date)
        # event regions whose results are final and stored need no ensemble (monitor.run_reuse)
        entries, reused = _read_back(config, selected, run_date)
        # a broken manifest stops the run before it is recorded; loaded under the lock, so a
        # run refused by it does not first spend seconds importing torch and the members
        if executor is None and len(reused) < len(selected):
            load_ensemble(config.model)
        else:  # the workers load it (or no region needs it); a setting it lacks is refused
            try:
                manifest = read_manifest(config.model.manifest)
            except ManifestError as err:
                raise BadInput(f"model.manifest: {err}") from None
            check_setting(config.model, manifest.member_settings)
        with Inventory(inventory_path) as inventory:
            run_id = inventory.start_run(
                run_date,
                [r.name for r in selected],
                config.source.type,
                config=str(config.path) if config.path else None,
                model=str(config.model.manifest),
            )
            log.info("run %d for %s: %d region(s)", run_id, run_date, len(selected))
            warn_simulated_model(config)
            stage = "detection"
            try:
                # after reading back: the pictures the results read back name are kept
                _prune_pictures(config, run_date, inventory, reused)
                # the pictures of a run go to its new detections first
                known = inventory.known_outlines(r.name for r in selected if r.name not in reused)
                results = _detect_all(
                    config, selected, run_date, executor, progress, entries, reused, known
                )
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
    # a signal a library turned into its own error is a stop too (monitor.errors)
    interrupted = isinstance(exc, KeyboardInterrupt) or swallowed_stop(exc) is not None
    what = str(exc) or type(exc).__name__
    message = f"{'interrupted' if interrupted else 'stopped'} during {stage} ({what})"
    try:
        now = inventory.fail_run(run_id, message, "interrupted" if interrupted else "failed")
    except Exception as record:  # a full disk fails this too: the stop's own error stands
        log.warning("run %d: its stop could not be recorded: %s", run_id, record)
        exc.add_note(f"run {run_id}: its stop could not be recorded ({record})")
        return
    if stage == "alert delivery":
        note = f"run {run_id} had completed; the alerts not yet sent stay queued in the outbox"
    elif now in ("ok", "partial"):
        # found in a crash walkthrough: a SIGTERM handled as the update's commit returned
        # said "the inventory is unchanged" of a run the inventory holds as complete
        note = (
            f"run {run_id} had completed: its inventory update was committed as the stop came; "
            "the alerts not yet sent stay queued in the outbox"
        )
    else:  # the status stored: an update that failed recorded "failed" itself (found in review)
        note = f"run {run_id} recorded as {now} during {stage}; the inventory is unchanged"
    log.warning(note)
    exc.add_note(note)
