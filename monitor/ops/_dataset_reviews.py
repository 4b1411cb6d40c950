"""The scene jobs of the reviewed inventory (``dataset from-reviews``, :mod:`monitor.ops.dataset`):
one per region and run date with reviewed landslides.

An operator reviews the candidates the ensemble drew, not the rest of the region: a landslide
the ensemble missed is there too, unlabelled. Written as background it would teach the members
their own blind spots and count as a false alarm when K and the threshold are chosen again. So
the background is known (0) only within ``dataset.known_within_m`` (100 m) of a reviewed
landslide, its context, and the rest of the scene is ignored (255); ``known_within_m: null``
makes all of it background, as before. ``bench/bench_review_loop.py --known-within-m`` measures
both (docs/models.md, "The loop measured on the archive").

Beside the scenes, each split folder gets the object-filter features of its reviewed detections
as the daily runs scored them (:func:`write_reviewed_candidates`, kept in the inventory's
observations): confirmed ones positive, dismissed ones negative. They are what the operator
actually judged, computed on the run's own stack; the scenes rerun through the chain cannot give
all of them (a radar-only drop detection is drawn from monitoring composites only, a cloudy run's
radar setting not at all). ``monitor.ops.filter_refit`` learns from both."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from models.datasets import IGNORE, REVIEWED_CANDIDATES_FILE
from monitor._dates import as_day
from monitor.config import DatasetSettings, MonitorConfig
from monitor.errors import BadInput
from monitor.ops._args import existing_inventory
from monitor.ops._dataset_core import SceneJob, _safe, buffer_m
from monitor.sources.base import Compositing, OrbitPass, Window
from monitor.store.runs import recorded_views

__all__ = ["review_jobs", "write_reviewed_candidates"]

log = logging.getLogger(__name__)


def review_jobs(
    config: MonitorConfig, settings: DatasetSettings
) -> tuple[list[SceneJob], dict[str, int]]:
    """One scene per region and run date with reviewed landslides (see the module)."""
    from monitor.store.inventory import Inventory

    path = existing_inventory(config)
    # the reviews are only read: read-only, the inventory is left as it was (a mount of the
    # operator's inventory may be read-only, and a run may hold it)
    with Inventory(path, read_only=True) as inventory:
        frame = inventory.landslides()
        recorded = inventory.run_views()
    reviewed = frame[frame["status"].isin(["confirmed", "dismissed"])]
    if reviewed.empty:
        raise BadInput(
            f"inventory {path}: no confirmed or dismissed landslide; review candidates first "
            f"(`landslide-monitor inventory confirm --config {config.path or 'FILE'} ID` or `... "
            "dismiss ...`, as the review map's popups give them, or the buttons of "
            "notebooks/review.ipynb)"
        )
    skipped: Counter[str] = Counter()
    unrecorded = 0  # reviewed landslides whose run recorded no views
    jobs = []
    margin = buffer_m(settings.ignore_buffer_m)
    context = None if settings.known_within_m is None else buffer_m(settings.known_within_m)
    for (region_name, first_seen), group in reviewed.groupby(["region", "first_seen"]):
        try:
            region = config.region(str(region_name))
        except KeyError:
            skipped["region no longer in the configuration"] += len(group)
            continue
        run_date = as_day(first_seen, "first_seen")
        views = _recorded_views(recorded, group, str(region_name))
        if views is not None:  # what the run read (found in a walk: the configuration's now)
            pre, post, compositing, area = views[0], views[1], views[2], region.area
            if views[3] is not None and views[3] != area.orbit_pass:
                area = dataclasses.replace(area, orbit_pass=views[3])
        else:  # a run recorded before the views were: the configuration's windows
            unrecorded += len(group)
            try:
                pre, post = region.windows.windows_for(run_date)
            except ValueError:  # an event region whose windows do not hold that run
                skipped["run's windows not recorded, the configuration's do not hold it"] += len(
                    group
                )
                continue
            compositing, area = region.windows.compositing(), region.area
        here = frame[frame["region"] == region_name]
        others = here.drop(index=group.index)
        job = SceneJob(
            id=_safe(f"{region_name}_{run_date:%Y%m%d}_reviews"),
            area=area,
            pre=pre,
            post=post,
            group=str(region_name)
            if settings.split_by == "region"
            else f"{region_name}_{run_date}",
            positive=list(group[group["status"] == "confirmed"].geometry),
            negative=list(group[group["status"] == "dismissed"].geometry),
            # unreviewed candidates, and landslides reviewed on other dates (their status says
            # nothing about these windows), with a margin
            ignore=[margin(g) for g in others.geometry],
            # background known only near what was reviewed (see the module)
            background=0 if context is None else IGNORE,
            known=[] if context is None else [context(g) for g in group.geometry],
            # the run's own views: what the ensemble detected on and the reviewer judged
            compositing=compositing,
            record={
                "inventory": str(path.resolve()),
                "kind": "reviews",
                "run_date": run_date.isoformat(),
                "confirmed": [str(u) for u in group[group["status"] == "confirmed"]["uid"]],
                "dismissed": [str(u) for u in group[group["status"] == "dismissed"]["uid"]],
                "ignored": [str(u) for u in others["uid"]],
            },
        )
        jobs.append(job)
    if unrecorded:
        log.warning(
            "%d reviewed landslide(s) were first drawn by runs that did not record their "
            "windows (before this release): their scenes use the configuration's windows now, "
            "which are the runs' only if they have not changed since",
            unrecorded,
        )
    return jobs, dict(skipped)


def _recorded_views(
    recorded: Mapping[tuple[int, str], dict[str, Any]], group: pd.DataFrame, region: str
) -> tuple[Window, Window, Compositing, OrbitPass | None] | None:
    """The windows, compositing and orbit pass of the run that first drew ``group`` (its
    ``first_run_id``), as the run recorded them; None where it recorded none."""
    runs = sorted({int(r) for r in group["first_run_id"].dropna()}, reverse=True)
    seen = [recorded[(run, region)] for run in runs if (run, region) in recorded]
    if len({json.dumps(v, sort_keys=True) for v in seen}) > 1:  # the date run again, changed
        log.warning(
            "%s: the landslides first drawn on one date by runs %s read different views (the "
            "date run again after the configuration changed): their scene is the latest run's",
            region, ", ".join(map(str, runs)),
        )  # fmt: skip
    return recorded_views(seen[0]) if seen else None


def write_reviewed_candidates(
    config: MonitorConfig,
    jobs: Sequence[SceneJob],
    out: Path,
    groups: Mapping[str, str],
    splits: Iterable[str],
) -> dict[str, tuple[int, int]]:
    """Write each split's :data:`~models.datasets.REVIEWED_CANDIDATES_FILE`
    (:func:`monitor.ops.filter_refit.write_reviewed`): the logged filter features of every
    observation of the landslides its jobs confirmed (positive) or dismissed (negative), with
    what computed them and the landslide's uid; a job's split is its group's in ``groups``
    (:func:`write_jobs`'s, ``DatasetReport.groups``). Of ``splits``, one with none has its old
    table removed. Returns the rows per split (positive, negative)."""
    from monitor.ops.filter_refit import write_reviewed
    from monitor.store.inventory import Inventory

    labels: dict[str, dict[str, bool]] = {}
    for job in jobs:
        of_split = labels.setdefault(groups[job.group], {})
        of_split.update(dict.fromkeys(job.record.get("confirmed", []), True))
        of_split.update(dict.fromkeys(job.record.get("dismissed", []), False))
    with Inventory(config.inventory.path, read_only=True) as inventory:
        logged, other = inventory.logged_features([u for s in labels.values() for u in s])
    if other:
        log.warning(
            "%d logged feature row(s) of reviewed landslides are of another version's feature "
            "list; left out",
            other,
        )
    counts: dict[str, tuple[int, int]] = {}
    for split in splits:
        path = Path(out) / split / REVIEWED_CANDIDATES_FILE
        rows = [
            (features, positive, features_id, uid)
            for uid, positive in labels.get(split, {}).items()
            for features, features_id in logged.get(uid, [])
        ]
        if not rows:
            path.unlink(missing_ok=True)
            continue
        x, y, ids, uids = zip(*rows, strict=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_reviewed(path, np.stack(x), np.array(y, bool), list(ids), list(uids))
        counts[split] = (sum(y), len(y) - sum(y))
    return counts
