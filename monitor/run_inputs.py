"""What a run takes in: the data source of the ``source:`` section and the ensemble of the
``model:`` section, each opened once per process and kept (:class:`Resources`); the check that
a run date fits the source's data (:func:`check_run_date`); and the archive that
``landslide-monitor archive build`` fills (:func:`build_configured_archive`).

:mod:`monitor.run` reaches them through its ``open_source`` and ``load_ensemble``, which tests
replace with stand-ins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.config import ArchiveSourceConfig, ModelSettings, MonitorConfig, SourceConfig
from monitor.config.operations import today_in
from monitor.errors import BadInput
from monitor.sources.base import AreaOfInterest, Source

if TYPE_CHECKING:
    from models.ensemble import Ensemble

__all__ = [
    "RESOURCES",
    "Resources",
    "build_configured_archive",
    "check_not_future",
    "check_run_date",
    "check_setting",
    "device_problems",
    "missing_archive",
    "model_problems",
    "preflight",
]

log = logging.getLogger(__name__)


def _open(settings: SourceConfig) -> Source:
    """A new source for the ``source:`` section (Earth Engine's client loads only when used)."""
    if isinstance(settings, ArchiveSourceConfig):
        from monitor.sources.archive import ArchiveSource

        return ArchiveSource(settings.path)
    from monitor.sources.gee import GeeSource

    return GeeSource(settings)


class Resources:
    """The sources and ensembles one process has opened: a source per distinct ``source:``
    section, an ensemble per manifest, engine and manifest modification time (a changed file is
    loaded again)."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}
        self._ensembles: dict[tuple[str, float, str], Ensemble] = {}

    def clear(self) -> None:
        """Forget every source and ensemble opened: the next use opens them again."""
        self._sources.clear()
        self._ensembles.clear()

    def source(self, settings: SourceConfig) -> Source:
        """The source ``settings`` describe, opened on first use."""
        key = settings.model_dump_json()
        if key not in self._sources:
            self._sources[key] = _open(settings)
        return self._sources[key]

    def ensemble(self, model: ModelSettings) -> Ensemble:
        """The ensemble of ``model.manifest`` with ``model.engine``, loaded on first use."""
        from models.ensemble import Ensemble

        if problems := device_problems(model):  # e.g. onnxruntime on CUDA
            raise BadInput("; ".join(problems))
        path = Path(model.manifest).resolve()
        key = (str(path), path.stat().st_mtime, model.engine)
        if key not in self._ensembles:
            log.info("loading ensemble %s", path)
            self._ensembles[key] = Ensemble.load(path, engine=model.engine)
        ensemble = self._ensembles[key]
        check_setting(model, ensemble.settings)
        return ensemble


def check_setting(model: ModelSettings, available: Sequence[str]) -> None:
    """Refuse (:class:`~monitor.errors.BadInput`) a fixed ``model.setting`` that the ensemble of
    ``model.manifest``, whose settings with members are ``available``, lacks: every region of a
    run would fail on it, one by one, after its stack was fetched; and, under ``auto``, a
    ``model.preference`` that names none of them (found in a walkthrough: ``[all]`` made every
    run "no setting of the ensemble has enough data")."""
    if model.setting != "auto" and model.setting not in available:
        raise BadInput(
            f"model.setting is {model.setting!r} but the ensemble "
            f"{Path(model.manifest).resolve()} has only {', '.join(available)}: set one of "
            "those, or auto"
        )
    if model.setting == "auto" and not set(model.preference) & set(available):
        raise BadInput(
            f"model.preference lists {', '.join(model.preference)}, but the ensemble "
            f"{Path(model.manifest).resolve()} has only {', '.join(available)}: setting auto "
            "could choose none; list some of those"
        )


RESOURCES = Resources()
"""This process's sources and ensembles (a Dask worker process has its own)."""


def preflight(config: MonitorConfig) -> tuple[list[str], list[str]]:
    """What would make the runs of ``config`` fail, found without a run, each problem one
    message naming its field: the ``model:`` section's (the manifest and ``model.setting``,
    :func:`model_problems`, and the device and engine, :func:`device_problems`) and the
    archive's (:func:`missing_archive`, its regions, and each region's polygon within the
    archived grid), or Earth Engine's credentials and Cloud project as far as they are checked
    without a request (:func:`gee_scripts.auth.usable_credentials`). Where a remote Dask
    cluster (``dask.scheduler_address``) runs the detection, its workers load the members and
    read the archive: only the manifest is checked. No source but the archive is opened (Earth
    Engine's would initialise its client; ``landslide-monitor gee check`` tests it).
    ``schedule --dry-run`` prints both lists; the scheduler's start refuses the first and warns
    of the second (a volume mounted late)."""
    model = model_problems(config.model)
    if config.dask.scheduler_address is not None:
        return model, []
    model += device_problems(config.model)
    if not isinstance(config.source, ArchiveSourceConfig):
        # Earth Engine's credentials and project, as far as they are checked without a
        # request: a run fails on them every time (found by a user walkthrough, 2026-12-06)
        from gee_scripts.auth import AuthError, usable_credentials

        try:
            usable_credentials(config.source)
        except AuthError as err:
            return model, [f"source: {err}"]
        return model, []
    from monitor.sources.archive import ArchiveSource

    archive = ArchiveSource(config.source.path)
    problem = archive.unreadable()
    if problem is not None:
        return model, [problem]
    absent = archive.absent([r.name for r in config.regions])
    return model, ([absent] if absent else []) + archive.misplaced([r.area for r in config.regions])


def model_problems(model: ModelSettings) -> list[str]:
    """The manifest unreadable, or ``model.setting`` not among its members' settings (without
    loading the members' weights)."""
    from models.manifest import ManifestError, read_manifest

    try:
        check_setting(model, read_manifest(Path(model.manifest)).member_settings)
    except ManifestError as err:
        return [f"model.manifest: {err}"]
    except BadInput as err:
        return [str(err)]
    return []


def device_problems(model: ModelSettings) -> list[str]:
    """``model.device`` not on this machine, or ``model.engine`` not on that device. Torch is
    imported only where either could be refused (a device other than the CPU, the onnxruntime
    engine): the scheduler, which checks at its start, would otherwise hold it for nothing."""
    if model.device in (None, "cpu") and model.engine != "onnxruntime":
        return []  # the CPU is always there, and auto and torch run on any device
    from models.inference import resolve_device, resolve_engine

    try:
        device = resolve_device(model.device)
    except ValueError as err:
        return [f"model.device: {err}"]
    try:
        resolve_engine(model.engine, device)
    except ValueError as err:
        return [f"model.engine: {err}"]
    return []


def missing_archive(source: Source) -> str | None:
    """Why the archive ``source`` cannot be read at all (None where it can, or the source is not
    the archive): every region of a run would fail on it."""
    from monitor.sources.archive import ArchiveSource

    return source.unreadable() if isinstance(source, ArchiveSource) else None


def check_not_future(run_date: date, *, timezone: str = "UTC", now: datetime | None = None) -> None:
    """Refuse (:class:`~monitor.errors.BadInput`) a run date after today in ``timezone`` (the
    schedule's): checked before a source is opened, so that a source that must connect (Earth
    Engine) is not waited on for a date no source could serve."""
    today = today_in(timezone, now)
    if run_date > today:
        raise BadInput(
            f"run date {run_date} is in the future (today is {today} in {timezone}, the "
            f"schedule's time zone): a run looks at the acquisitions before its date; give "
            f"--date {today} or earlier"
        )


def check_run_date(
    run_date: date,
    source: Source,
    areas: Sequence[AreaOfInterest],
    *,
    timezone: str = "UTC",
    now: datetime | None = None,
) -> None:
    """Refuse (:class:`~monitor.errors.BadInput`) a run date after today in ``timezone`` (the
    schedule's, ``schedule.timezone``: the calendar the daily runs are dated by), or on or
    before the source's first acquisition of every area: such a run could only record every
    region as without data, and a completed run of a future date would make the scheduler skip
    the days up to it."""
    check_not_future(run_date, timezone=timezone, now=now)
    firsts = [d for area in areas if (d := source.first_acquisition(area)) is not None]
    if firsts and run_date <= min(firsts):
        raise BadInput(
            f"run date {run_date} is not after the {source.name} source's first acquisition "
            f"({min(firsts)}): no window before it holds data; give a later --date"
        )


def build_configured_archive(config: MonitorConfig, *, progress: bool = True) -> Path:
    """Simulate the acquisitions of the configuration's regions into its archive (idempotent:
    :func:`monitor.simulator.build_archive` skips regions whose spec is unchanged)."""
    from monitor.simulator import build_archive
    from monitor.sources.archive import ArchiveSource

    source = config.source
    if not isinstance(source, ArchiveSourceConfig):
        raise BadInput(
            f"source.type is {source.type!r}: only an archive source can be built "
            "(set source.type: archive)"
        )
    real = "; regions of real exports are written with RegionWriter (docs/archive.md)"
    if source.simulation is None:
        raise BadInput(
            "source.simulation is missing: `archive build` simulates regions (it needs the "
            f"archive's time span and storms){real}"
        )
    specs = [(r.area, r.simulation) for r in config.regions if r.simulation is not None]
    if not specs:
        raise BadInput(f"no region has a simulation block: nothing to simulate{real}")
    skipped = [r.name for r in config.regions if r.simulation is None]
    if skipped:
        log.warning("regions without a simulation block, not built: %s", ", ".join(skipped))
    build_archive(source.path, specs, source.simulation, progress=progress)
    held = set(ArchiveSource(source.path).regions())
    if empty := [name for name in skipped if name not in held]:
        # found in a survey's walk: "archive ready", exit 0, then every run of such a region
        # failed
        log.warning(
            "the archive holds nothing of %s: its runs fail until it is filled with real "
            "exports (RegionWriter, docs/archive.md) or given a simulation block",
            ", ".join(empty),
        )
    return source.path
