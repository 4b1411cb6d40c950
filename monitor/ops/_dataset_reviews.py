"""The scene jobs of the reviewed inventory (``dataset from-reviews``, :mod:`monitor.ops.dataset`):
one per region and run date with reviewed landslides.

An operator reviews the candidates the ensemble drew, not the rest of the region: a landslide
the ensemble missed is there too, unlabelled. Written as background it would teach the members
their own blind spots and count as a false alarm when K and the threshold are chosen again. So
the background is known (0) only within ``dataset.known_within_m`` (100 m) of a reviewed
landslide, its context, and the rest of the scene is ignored (255); ``known_within_m: null``
makes all of it background, as before. ``bench/bench_review_loop.py --known-within-m`` measures
both (docs/models.md, "The loop measured on the archive")."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from shapely.geometry.base import BaseGeometry

from models.datasets import IGNORE
from monitor.config import DatasetSettings, MonitorConfig
from monitor.errors import BadInput
from monitor.ops._dataset_core import SceneJob, _safe

__all__ = ["review_jobs"]


def review_jobs(
    config: MonitorConfig, settings: DatasetSettings
) -> tuple[list[SceneJob], dict[str, int]]:
    """One scene per region and run date with reviewed landslides (see the module)."""
    from monitor.store.inventory import Inventory

    path = config.inventory.path
    if not path.exists():
        raise BadInput(f"inventory {path} does not exist yet (no run has written it)")
    with Inventory(path) as inventory:
        frame = inventory.landslides()
    reviewed = frame[frame["status"].isin(["confirmed", "dismissed"])]
    if reviewed.empty:
        raise BadInput(
            f"inventory {path}: no confirmed or dismissed landslide; review candidates first "
            "(`landslide-monitor inventory confirm|dismiss ID`, or the review map)"
        )
    skipped: Counter[str] = Counter()
    jobs = []
    margin = _buffer_m(settings.ignore_buffer_m)
    context = None if settings.known_within_m is None else _buffer_m(settings.known_within_m)
    for (region_name, first_seen), group in reviewed.groupby(["region", "first_seen"]):
        try:
            region = config.region(str(region_name))
        except KeyError:
            skipped["region no longer in the configuration"] += len(group)
            continue
        run_date = date.fromisoformat(str(first_seen)[:10])
        pre, post = region.windows.windows_for(run_date)
        here = frame[frame["region"] == region_name]
        others = here.drop(index=group.index)
        job = SceneJob(
            id=_safe(f"{region_name}_{run_date:%Y%m%d}_reviews"),
            area=region.area,
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
    return jobs, dict(skipped)


def _buffer_m(metres: float) -> Any:
    from monitor.grid import reproject, utm_crs_for

    def buffer(geometry: BaseGeometry) -> BaseGeometry:
        if metres <= 0:
            return geometry
        c = geometry.centroid
        crs = utm_crs_for(c.x, c.y)
        return reproject(reproject(geometry, "EPSG:4326", crs).buffer(metres), crs, "EPSG:4326")

    return buffer
