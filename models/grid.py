"""The training grid as configuration (YAML): settings x architectures x losses x learning
rates, the full grid of Ganerød et al. (9 x 5 x 2 per setting) or a reduced one, trained
member by member (resumable) and assembled into an ensemble.

Example (``models/default/grid.yaml`` is the shipped default)::

    settings: [S1, S2, S1+S2]
    architectures: [Unet, UnetPlusPlus, MAnet, Linknet, FPN, PSPNet, PAN, DeepLabV3, DeepLabV3Plus]
    losses: [BCE, Dice, Focal, Jaccard, Lovasz]
    learning_rates: [0.01, 0.001]
    encoder: tu-mobilenetv3_small_050
    decoders: compact          # narrow decoders (zoo.COMPACT_DECODERS) or "smp" (library defaults)
    without_bands: [landcover] # optional: bands no member is shown, in every setting that has
                               # them; or per setting: {S2: [landcover]}
    members_per_setting: 12    # optional: a balanced, seeded sample of the product
    k: 8
    train: {crop: 64, iterations: 60, max_epochs: 12, patience: 4}
    workers: 2                 # members trained at once, one process each (CPU: one per core)
    data: {train: data/train, val: data/val, test: data/test}   # Ganerød-layout folders
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import numpy as np
import rasterio
import rasterio.errors
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from tqdm.auto import tqdm

from models.datasets import (
    DatasetError,
    Scene,
    channels_of,
    label_path,
    read_folder,
    scene_ids,
    setting_band_names,
    written_without_bands,
)
from models.inference import cpu_cores
from models.selection import (
    DEFAULT_K,
    assemble_ensemble,
    no_landslide_to_select_on,
    refuse_without_landslides,
    summary_rows,
)
from models.train import Start, TrainConfig, TrainResult, train_member
from models.workers import end_workers, leave_signals_to_the_parent, running_children
from models.zoo import (
    COMPACT_DECODERS,
    LEARNING_RATES,
    LOSSES,
    PAPER_ARCHITECTURES,
    MemberSpec,
    canonical_architecture,
    canonical_loss,
)

__all__ = [
    "DataFolders",
    "GridConfig",
    "Job",
    "expand",
    "load_grid",
    "refuse_other_schedules",
    "run_grid",
    "runs_in_parallel",
    "select_ensemble",
    "train_members",
    "trained_results",
]

log = logging.getLogger(__name__)


class DataFolders(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: Path
    val: Path
    test: Path | None = None


class GridConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = ""
    settings: list[str] = Field(default_factory=lambda: ["S1", "S2", "S1+S2", "all"])
    architectures: list[str] = Field(default_factory=lambda: list(PAPER_ARCHITECTURES))
    losses: list[str] = Field(default_factory=lambda: list(LOSSES))
    learning_rates: list[float] = Field(default_factory=lambda: list(LEARNING_RATES))
    encoder: str = "resnet34"
    decoders: Literal["compact", "smp"] = "smp"
    members_per_setting: int | None = Field(default=None, ge=1)
    without_bands: list[str] | dict[str, list[str]] = Field(default_factory=list)
    sample_seed: int = 0
    k: int = Field(default=DEFAULT_K, ge=1)
    workers: int = Field(default=1, ge=1)
    train: dict[str, Any] = Field(default_factory=dict)
    data: DataFolders | None = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, v: list[str]) -> list[str]:
        for s in v:
            channels_of(s)
        return v

    @model_serializer(mode="wrap")
    def _written(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A grid that withholds nothing is recorded as before the option existed."""
        return written_without_bands(handler(self))

    def withheld(self, setting: str) -> tuple[str, ...]:
        """The bands of ``setting`` its members are not shown, in the setting's band order."""
        if isinstance(self.without_bands, dict):
            named = self.without_bands.get(setting, [])
        else:
            named = self.without_bands
        return tuple(b for b in setting_band_names(setting) if b in named)

    @field_validator("without_bands", mode="before")
    @classmethod
    def _bands_listed(cls, v: Any) -> Any:
        """A lone band name, at the top or under a setting, is the usual slip: say the form."""
        lone = v if isinstance(v, str) else None
        if isinstance(v, dict):
            lone = next((f"{k}: {b}" for k, b in v.items() if isinstance(b, str)), None)
        if lone is None:
            return v
        raise ValueError(
            f"a list of band names ([landcover]) or, per setting, a mapping of lists "
            f"({{S2: [landcover]}}); got {lone!r}"
        )

    @model_validator(mode="after")
    def _without_bands(self) -> GridConfig:
        """Every band of ``without_bands`` is one of a setting it applies to (a list: any
        setting of the grid; a mapping: the setting it is listed under, a setting of the grid),
        none is named twice for the same settings (the manifest entry refuses that), and no
        setting is left without a band."""
        if not self.without_bands:
            return self
        if isinstance(self.without_bands, dict):
            extra = [s for s in self.without_bands if s not in self.settings]
            if extra:
                raise ValueError(
                    f"without_bands: {', '.join(map(repr, extra))} not among the grid's settings "
                    f"({', '.join(self.settings)})"
                )
            asked = self.without_bands
        else:
            asked = {"any setting of the grid": self.without_bands}
        for where, bands in asked.items():
            settings = self.settings if where not in self.settings else [where]
            known = list(dict.fromkeys(b for s in settings for b in setting_band_names(s)))
            twice = sorted({b for b in bands if bands.count(b) > 1})
            if twice:
                raise ValueError(
                    f"without_bands names {', '.join(map(repr, twice))} twice for {where}"
                )
            for band in bands:
                if band not in known:
                    raise ValueError(
                        f"without_bands: {band!r} is not a band of {where} "
                        f"({', '.join(settings)}); their bands: {', '.join(known)}"
                    )
        for setting in self.settings:
            if len(self.withheld(setting)) == len(setting_band_names(setting)):
                raise ValueError(f"without_bands leaves setting {setting} no band")
        return self

    @field_validator("architectures")
    @classmethod
    def _architectures(cls, v: list[str]) -> list[str]:
        return [canonical_architecture(a) for a in v]

    @field_validator("losses")
    @classmethod
    def _losses(cls, v: list[str]) -> list[str]:
        return [canonical_loss(a) for a in v]

    @field_validator("train")
    @classmethod
    def _train(cls, v: dict[str, Any]) -> dict[str, Any]:
        TrainConfig.from_dict(v)
        return v

    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)


def load_grid(path: Path) -> GridConfig:
    """Read a grid YAML; relative data folders are resolved against the file's folder."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        grid = GridConfig.model_validate(raw)
    except ValidationError as err:  # each problem by the field it is in, without pydantic's dump
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: "
            + e["msg"].removeprefix("Value error, ")
            for e in err.errors()
        ]
        raise ValueError(f"{path}: invalid training grid: {'; '.join(problems)}") from None
    except (OSError, yaml.YAMLError, ValueError) as err:
        raise ValueError(f"{path}: invalid training grid: {err}") from err
    if grid.data is not None:
        base = path.parent
        grid.data = DataFolders(
            train=base / grid.data.train,
            val=base / grid.data.val,
            test=base / grid.data.test if grid.data.test else None,
        )
    return grid


def expand(grid: GridConfig) -> list[MemberSpec]:
    """The grid's member specs. With ``members_per_setting``, a seeded sample that cycles
    through the architectures (each gets a random loss/learning-rate cell in turn)."""
    specs = []
    for setting in grid.settings:
        cells = list(itertools.product(grid.architectures, grid.losses, grid.learning_rates))
        if grid.members_per_setting is not None and grid.members_per_setting < len(cells):
            cells = _balanced_sample(cells, grid.members_per_setting, grid.sample_seed, setting)
        for arch, loss, lr in cells:
            kwargs = dict(COMPACT_DECODERS[arch]) if grid.decoders == "compact" else {}
            specs.append(
                MemberSpec(
                    architecture=arch,
                    encoder=grid.encoder,
                    loss=loss,
                    learning_rate=lr,
                    setting=setting,
                    in_channels=len(channels_of(setting)),
                    arch_kwargs=kwargs,
                    without_bands=grid.withheld(setting),
                )
            )
    return specs


def _balanced_sample(
    cells: Sequence[tuple[str, str, float]], n: int, seed: int, setting: str
) -> list[tuple[str, str, float]]:
    rng = np.random.default_rng([seed, *setting.encode()])
    by_arch: dict[str, list[tuple[str, str, float]]] = {}
    for i in rng.permutation(len(cells)):
        by_arch.setdefault(cells[i][0], []).append(cells[i])
    archs = list(by_arch)
    out: list[tuple[str, str, float]] = []
    while len(out) < n:
        for arch in archs:
            if by_arch[arch] and len(out) < n:
                out.append(by_arch[arch].pop())
    return out


def run_grid(
    grid: GridConfig,
    workdir: Path,
    ensemble_dir: Path,
    *,
    train: Sequence[Scene] | None = None,
    val: Sequence[Scene] | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> Path:
    """Train every member of ``grid`` in ``workdir`` (finished ones are reused, interrupted
    ones resume), then write the ensemble (K chosen on validation, at most ``grid.k``) to
    ``ensemble_dir``; returns the manifest.

    ``workers`` (default ``grid.workers``) members train at once, each in its own process
    (spawned; it reads the data folders itself, or gets the scenes given here; a folder it
    cannot read is refused with the error one worker gives). A member's weights do not depend
    on how many train beside it."""
    if grid.data is None and (train is None or val is None):
        raise ValueError("the grid names no data folders and no scenes were given")
    workers = grid.workers if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    _refuse_val_without_landslides(grid, val)  # before hours of training, not after them
    workdir = Path(workdir)
    created = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    config = grid.train_config()
    specs = expand(grid)
    try:
        if not runs_in_parallel(workers, len(specs)):  # read once: selection needs them too
            train, val = _scenes(grid, train, val)
        train_src: Path | Sequence[Scene] = train if train is not None else grid.data.train  # type: ignore[union-attr]
        val_src: Path | Sequence[Scene] = val if val is not None else grid.data.val  # type: ignore[union-attr]
        jobs: list[Job] = [(spec, config, None) for spec in specs]
        results = train_members(jobs, workdir, train_src, val_src, workers, progress=progress)
    except BaseException:
        # a refused data folder left an empty work folder behind, which the next try's
        # --work then had to name again (found in a walkthrough); one with members stays
        if created and not any(workdir.iterdir()):
            workdir.rmdir()
        raise
    train, val = _scenes(grid, train, val)
    (workdir / "candidates.json").write_text(json.dumps(summary_rows(results), indent=1))
    return select_ensemble(grid, results, val, ensemble_dir, train_ids=[s.id for s in train])


def trained_results(grid: GridConfig, workdir: Path) -> list[TrainResult]:
    """The results of the grid's members that finished training in ``workdir`` (a member
    without ``result.json`` is skipped with a warning)."""
    results = []
    for spec in expand(grid):
        path = Path(workdir) / spec.name / "result.json"
        if not path.exists():
            # the same cell trained with other bands withheld: the grid differs from the one
            # that trained it in without_bands
            siblings = [spec.cell, *(p.name for p in Path(workdir).glob(f"{spec.cell}-without-*"))]
            others = sorted(
                name
                for name in siblings
                if name != spec.name and (Path(workdir) / name / "result.json").exists()
            )
            hint = (
                f"; the work folder holds {', '.join(others)}, trained with other "
                "without_bands: give the grid that trained it"
                if others
                else ""
            )
            log.warning("skipping %s: not trained (%s missing)%s", spec.name, path, hint)
            continue
        results.append(TrainResult.from_json(json.loads(path.read_text()), path.parent))
    return results


def refuse_other_schedules(grid: GridConfig, results: Sequence[TrainResult]) -> None:
    """A :class:`ValueError` naming the members of ``results`` trained with another schedule
    than the grid's ``train`` (found in a walkthrough: ``select`` with a grid of 60 iterations
    and 4 epochs took members of 3 and 2 without a word, and the manifest recorded the grid's
    schedule, which ``extend`` reads as the one to go on with)."""
    schedule = grid.train_config().schedule()
    other = [r for r in results if r.config and r.config != schedule]
    if other:
        keys = sorted(
            {k for r in other for k in {*r.config, *schedule} if r.config.get(k) != schedule.get(k)}
        )
        shown = ", ".join(r.spec.name for r in other[:3]) + (" ..." if len(other) > 3 else "")
        raise ValueError(
            f"{len(other)} member(s) of the work folder were trained with another schedule than "
            f"the grid's train ({', '.join(keys)} differ): {shown}; give the grid that trained "
            "them, or train them again with this one (python -m models train)"
        )


def select_ensemble(
    grid: GridConfig,
    results: Sequence[TrainResult],
    val: Sequence[Scene],
    ensemble_dir: Path,
    *,
    k: int | None = None,
    train_ids: Sequence[str] | None = None,
) -> Path:
    """Write the ensemble of ``results`` to ``ensemble_dir`` (K chosen on ``val``, at most ``k``,
    default ``grid.k``; validation tiles of the grid's ``val_tile``) with the grid's training
    record; the last step of :func:`run_grid` and of ``python -m models select``."""
    training: dict[str, Any] = {"grid": grid.model_dump(mode="json", exclude={"data"})}
    if train_ids is not None:
        training["train_scenes"] = list(train_ids)
    training["val_scenes"] = [s.id for s in val]
    training["candidates"] = summary_rows(results)
    return assemble_ensemble(
        results,
        val,
        ensemble_dir,
        k=k if k is not None else grid.k,  # 0 is refused as -1 is, not read as the default
        description=grid.description,
        training=training,
        tile=grid.train_config().val_tile,
    )


def _refuse_val_without_landslides(grid: GridConfig, val: Sequence[Scene] | None) -> None:
    """Refuse validation scenes with no landslide pixel (:func:`no_landslide_to_select_on`),
    read from their label files alone where the folder is the grid's."""
    if val is not None:
        refuse_without_landslides(val)
        return
    assert grid.data is not None
    try:
        ids = scene_ids(grid.data.val)
    except DatasetError:  # said where the folders are read, the training folder's first
        return
    for scene_id in ids:
        try:
            with rasterio.open(label_path(grid.data.val, scene_id)) as src:
                if np.any(src.read(1) == 1):
                    return
        except rasterio.errors.RasterioIOError:  # said where the folder is read, by file
            return
    raise DatasetError(no_landslide_to_select_on(ids))


def _scenes(
    grid: GridConfig, train: Sequence[Scene] | None, val: Sequence[Scene] | None
) -> tuple[Sequence[Scene], Sequence[Scene]]:
    assert grid.data is not None or (train is not None and val is not None)
    train = read_folder(grid.data.train) if train is None else train  # type: ignore[union-attr]
    val = read_folder(grid.data.val) if val is None else val  # type: ignore[union-attr]
    return train, val


# One member to train: what, on which schedule, and from which weights (None: from scratch).
Job = tuple[MemberSpec, TrainConfig, Start | None]


def runs_in_parallel(workers: int, jobs: int) -> bool:
    """Whether :func:`train_members` trains ``jobs`` members in worker processes, which read
    data folders themselves (scenes given are copied into each), or one by one here."""
    return workers > 1 and jobs > 1


def train_members(
    jobs: Sequence[Job],
    workdir: Path,
    train: Path | Sequence[Scene],
    val: Path | Sequence[Scene],
    workers: int,
    *,
    progress: bool = True,
) -> list[TrainResult]:
    """Train every job in ``workdir`` (finished ones reused, interrupted ones resumed),
    ``workers`` at once, each in its own process (spawned; it reads the data folders itself, or
    gets the scenes given); results in the order of ``jobs``."""
    at_once = min(workers, len(jobs)) if runs_in_parallel(workers, len(jobs)) else 1
    log.info("training %d members into %s (%d at once)", len(jobs), workdir, at_once)
    if at_once > (cores := cpu_cores()):  # found in a walk: 8 workers on 2 cores, twice as long
        log.warning(
            "%d workers on %d CPU cores: they take each other's time, and the grid takes longer "
            "than with fewer; give --workers %d or fewer",
            at_once, cores, cores,
        )  # fmt: skip
    start = time.perf_counter()
    if at_once > 1:
        return _train_parallel(jobs, workdir, train, val, at_once, start)
    train = read_folder(train) if isinstance(train, Path) else train
    val = read_folder(val) if isinstance(val, Path) else val
    results: list[TrainResult] = []
    for i, (spec, config, start_from) in enumerate(jobs, 1):
        r = train_member(
            spec, train, val, workdir, config, progress=progress, start_from=start_from
        )
        results.append(r)
        _log_done(i, len(jobs), r, start)
    return results


def _log_done(i: int, n: int, r: TrainResult, start: float) -> None:
    log.info(
        "[%d/%d] %s val F1 %.3f (%d epochs, %.0f s; %.0f s total)",
        i, n, r.spec.name, r.val_f1, r.epochs, r.seconds, time.perf_counter() - start,
    )  # fmt: skip


# One worker process's data (set by _init_worker).
_WORKER_DATA: dict[str, Sequence[Scene]] = {}


# A data folder the worker could not read (set by _init_worker, raised by each task).
_WORKER_ERROR: list[DatasetError] = []


def _init_worker(train: Path | Sequence[Scene], val: Path | Sequence[Scene]) -> None:
    leave_signals_to_the_parent()
    # tqdm takes a lock of multiprocessing's even for a disabled bar: a named semaphore that a
    # worker ended by end_workers left to the resource tracker, which then warned of it as
    # leaked. A worker's bars are its own (disabled): a thread's lock is enough.
    tqdm.set_lock(threading.RLock())
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s: %(message)s"
    )
    try:
        _WORKER_DATA["train"] = read_folder(train) if isinstance(train, Path) else train
        _WORKER_DATA["val"] = read_folder(val) if isinstance(val, Path) else val
    except DatasetError as err:  # raised in an initializer, it broke the pool: a traceback
        _WORKER_ERROR.append(err)


def _train_in_worker(
    spec: MemberSpec, workdir: Path, config: TrainConfig, start_from: Start | None
) -> TrainResult:
    if _WORKER_ERROR:
        raise _WORKER_ERROR[0]
    return train_member(
        spec,
        _WORKER_DATA["train"],
        _WORKER_DATA["val"],
        workdir,
        config,
        progress=False,
        log_epochs=True,
        start_from=start_from,
    )


def _train_parallel(
    jobs: Sequence[Job],
    workdir: Path,
    train: Path | Sequence[Scene],
    val: Path | Sequence[Scene],
    workers: int,
    start: float,
) -> list[TrainResult]:
    """Train ``jobs`` in ``workers`` spawned processes; results in the order of ``jobs``.

    A data folder that is not one of scenes is refused here, as with one worker, before the
    workers take their seconds to start. A stop (Ctrl-C; SIGTERM, which the CLI turns into one)
    or a member that failed ends the workers at once, not when their members are trained: the
    members resume from their last epoch on the next run."""
    for source in (train, val):
        if isinstance(source, Path):
            scene_ids(source, warn=False)  # the workers, reading it, say what it leaves out
    specs = [spec for spec, _, _ in jobs]
    ctx = multiprocessing.get_context("spawn")
    done: dict[int, TrainResult] = {}
    others = running_children()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(train, val)
    ) as pool:
        try:  # the submits too: they spawn the workers, which a stop then must end
            futures: dict[Future[TrainResult], int] = {
                pool.submit(_train_in_worker, spec, workdir, config, start_from): i
                for i, (spec, config, start_from) in enumerate(jobs)
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    done[futures[f]] = _worker_result(f, specs[futures[f]], workdir)
                    _log_done(len(done), len(specs), done[futures[f]], start)
        except BaseException:
            end_workers(others)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [done[i] for i in range(len(specs))]


def _worker_result(f: Future[TrainResult], spec: MemberSpec, workdir: Path) -> TrainResult:
    """A finished member's result, or the error its worker raised: a data folder's as it is
    (to correct, as with one worker), any other naming the member."""
    err = f.exception()
    if err is None:
        return f.result()
    if isinstance(err, DatasetError):
        raise err
    # a file the worker could not write (a full disk) is one line, as with one worker; any
    # other error a traceback that names the member
    kind = OSError if isinstance(err, OSError) else RuntimeError
    raise kind(
        f"training {spec.name} failed: {err} (finished members are kept in {workdir}; rerun "
        "to resume)"
    ) from err
