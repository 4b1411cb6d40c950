"""Building the embedded archive from the simulator: one region at a time, atomically, through
:class:`monitor.sources.archive_writer.RegionWriter` (the layout is ``docs/archive.md``).

:func:`build_archive` is idempotent (a region whose polygon, spec and simulation are unchanged
is skipped) and builds several regions in parallel processes. The production reader,
:class:`monitor.sources.archive.ArchiveSource`, knows nothing of the simulator.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

from tqdm import tqdm

from models.workers import end_workers, leave_signals_to_the_parent, running_children
from monitor.errors import BadInput
from monitor.grid import grid_too_small, region_grid
from monitor.simulator.region import SimulatedRegion
from monitor.simulator.spec import ArchiveSimulation, SimulationSpec, spec_digest
from monitor.sources.archive_writer import (
    RegionWriter,
    TrackInfo,
    read_meta,
    region_dir,
    remove_orphans,
)
from monitor.sources.base import AreaOfInterest, check_area

__all__ = ["BuildReport", "build_archive"]

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What :func:`build_archive` did: regions built, regions skipped as unchanged, seconds."""

    built: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


# One region to build: its folder, area, spec, the simulation and the spec digest; the worker
# call adds whether to show progress.
_Job = tuple[Path, AreaOfInterest, SimulationSpec, ArchiveSimulation, str]


def _write_region(
    target: Path,
    area: AreaOfInterest,
    spec: SimulationSpec,
    simulation: ArchiveSimulation,
    digest: str,
    progress: bool,
) -> None:
    """Simulate one region into the archive that holds ``target`` (atomically, through
    :class:`RegionWriter`)."""
    started = time.perf_counter()
    sim = SimulatedRegion(area, spec, simulation)
    tracks = [
        TrackInfo(t.relative_orbit, t.orbit_pass, t.look_azimuth_deg, t.angle) for t in sim.tracks
    ]
    meta = {
        "spec": spec.model_dump(mode="json", exclude_none=True),
        "simulation": simulation.model_dump(mode="json"),
    }
    archive = target.parent.parent
    with RegionWriter(
        archive,
        area,
        n_s2=len(sim.s2),
        n_s1=len(sim.s1),
        tracks=tracks,
        origin="simulated",
        meta=meta,
        max_area_km2=math.inf,  # build_archive checked the polygon; its size is the config's
    ) as writer:
        writer.write_static(
            sim.terrain.dem, sim.cover.landcover, sim.cover.canopy_height, sim.cover.kg_climate
        )
        bar = tqdm(
            total=len(sim.s2) + len(sim.s1),
            desc=f"simulate {area.name}",
            unit="scene",
            disable=not progress,
            leave=False,
        )
        for acq in sim.s2:
            scene = sim.render_s2(acq)
            writer.write_s2(
                acq.index,
                acq.date,
                scene.dn,
                scene.cloud_probability,
                sun_zenith=scene.sun_zenith,
                sun_azimuth=scene.sun_azimuth,
                cloud_cover=scene.cloud_fraction * 100.0,
            )
            bar.update()
        for s1 in sim.s1:
            writer.write_s1(s1.index, s1.date, s1.track, sim.render_s1(s1))
            bar.update()
        bar.close()
        writer.write_ground_truth(sim.ground_truth())
        writer.extra_meta["build_seconds"] = round(time.perf_counter() - started, 2)
        writer.commit(digest)
    log.info("archive region %s built in %.1f s", area.name, time.perf_counter() - started)


def _build_one(
    args: tuple[Path, AreaOfInterest, SimulationSpec, ArchiveSimulation, str, bool],
) -> str:
    target, area = args[0], args[1]
    try:
        _write_region(*args)
    except Exception as exc:
        for tmp in target.parent.glob(f".{target.name}.tmp-*-{os.getpid()}"):  # this process's
            shutil.rmtree(tmp, ignore_errors=True)
        said = f"building archive region {area.name!r} failed: {exc}"
        if isinstance(exc, BadInput):  # the region's configuration to change: exit status 2
            raise BadInput(said) from exc  # (a walk got exit 1, "an unexpected error")
        raise RuntimeError(said) from exc
    return area.name


def build_archive(
    path: str | os.PathLike[str],
    regions: Sequence[tuple[AreaOfInterest, SimulationSpec]],
    simulation: ArchiveSimulation,
    *,
    progress: bool = True,
    workers: int | None = None,
) -> BuildReport:
    """Simulate ``regions`` into the archive at ``path``. Idempotent: a region whose polygon,
    spec and simulation are unchanged is skipped; a changed one is rebuilt (atomically).

    ``workers`` processes build regions in parallel (default: up to the CPU count, 2 at most
    when several regions need building)."""
    started = time.perf_counter()
    root = Path(path)
    (root / "regions").mkdir(parents=True, exist_ok=True)
    report = BuildReport()
    todo: list[_Job] = []
    names = [area.name for area, _ in regions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"region names must be unique; repeated: {', '.join(duplicates)}")
    for area, spec in regions:
        check_area(area, math.inf)  # valid lon/lat; its size is the configuration's to limit
        if small := grid_too_small(region_grid(area.geometry)):
            # refused before any region is built, not as a numpy error from inside the worker
            raise BadInput(f"region {area.name}: {small}")
        digest = spec_digest(area.geometry.wkt, spec, simulation)
        target = region_dir(root, area.name)
        meta = read_meta(target)
        if meta is not None and meta.get("origin") == "export":  # never simulated over
            raise BadInput(
                f"region {area.name}: the archive holds real exports of it ({target}, written "
                "with RegionWriter); `archive build` would replace them with a simulated region: "
                "remove the region's `simulation` block, or its folder to simulate it"
            )
        # a region written on the grid of its polygon's corners (before 2026-12-07) is built
        # again where its polygon's edges bulge past that grid
        grid = region_grid(area.geometry).as_record()
        if meta is not None and meta.get("digest") == digest and meta.get("grid") == grid:
            report.skipped.append(area.name)
            continue
        todo.append((target, area, spec, simulation, digest))
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1, len(todo))
    if n_workers > 1 and len(todo) > 1:
        # fork: workers inherit the imports and need no `if __name__ == "__main__"` guard in
        # the caller (zarr resets its event loop after a fork)
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        others = running_children()
        with ProcessPoolExecutor(
            n_workers, mp_context=context, initializer=leave_signals_to_the_parent
        ) as pool:
            jobs = [(*job, False) for job in todo]
            bar = tqdm(total=len(jobs), desc="build archive", unit="region", disable=not progress)
            try:
                for name in pool.map(_build_one, jobs):
                    report.built.append(name)
                    bar.update()
            except BaseException:
                # a stop (SIGTERM left the workers building on, orphans of init, then idle
                # for good: found by an agency's walk), a region that failed, or a worker
                # killed (the pool then says so): the workers end with the build, and the
                # folders they were writing go (else at that region's next build)
                end_workers(others)
                for target, *_ in todo:
                    remove_orphans(target)
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            bar.close()
    else:
        for job in todo:
            report.built.append(_build_one((*job, progress)))
    report.seconds = time.perf_counter() - started
    if progress:
        log.info(
            "archive %s: built %s, unchanged %s (%.1f s)",
            root,
            ", ".join(report.built) or "none",
            ", ".join(report.skipped) or "none",
            report.seconds,
        )
    return report
