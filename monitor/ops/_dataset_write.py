"""Writing scene jobs (:mod:`monitor.ops.dataset`): fetch each scene's stack through the source,
rasterise its label, write it into its split with a provenance record (resuming), then
``dataset.json``."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from tqdm.auto import tqdm

from models.atomic import write_atomically
from models.datasets import (
    DATASET_RECORD_FILE,
    IGNORE,
    Scene,
    input_path,
    label_path,
    open_geotiff,
    provenance_path,
    write_scene,
)
from models.feature_stack import StackAttrs, model_input
from monitor.errors import BadInput
from monitor.labels import DEFAULT_FRACTIONS, SPLIT_NAMES, assign_splits
from monitor.ops._dataset_batch import _batch_export, _dates_first, _drop_export
from monitor.ops._dataset_core import (
    NOT_SEEN_YET,
    DatasetReport,
    NotSeenYet,
    SceneJob,
    _plain,
    _write_json,
    export_files,
    remove_files,
    scene_files,
)
from monitor.sources.base import DataUnavailable, Source, source_identity

if TYPE_CHECKING:
    from gee_scripts.assembly import Availability
    from monitor.sources.gee import GeeSource

__all__ = ["write_jobs"]

# the logger of `monitor.ops.dataset`, where this code lived: its records keep their name
log = logging.getLogger("monitor.ops.dataset")
_NO_DATA = "no Sentinel-1/2 data in the windows"  # the reason a scene is skipped


def write_jobs(
    jobs: Sequence[SceneJob],
    source: Source,
    out: Path,
    *,
    fractions: Mapping[str, float] | None = None,
    progress: bool = True,
    max_requests: int = 16,
    dataset_record: Mapping[str, Any] | None = None,
    prune: bool = False,
) -> DatasetReport:
    """Fetch and write every job's scene into its split (resuming), then ``dataset.json``.
    Scenes already in ``out`` that are none of the jobs' (an item since removed from the
    inventory) would still be trained on: with ``prune`` they are deleted, else listed in the
    report (``stale``) and ``dataset.json``. A folder of another inventory's export is refused
    without ``prune`` (:func:`_check_same_kind`)."""
    out = Path(out)
    _check_same_kind(out, dataset_record or {}, prune)
    out.mkdir(parents=True, exist_ok=True)
    splits = assign_splits([j.group for j in jobs], fractions)
    report = DatasetReport(out, written=dict.fromkeys(SPLIT_NAMES, 0), groups=splits)
    skipped: dict[str, list[str]] = {}  # reason -> the scenes' ids
    done: dict[str, list[str]] = {split: [] for split in SPLIT_NAMES}
    exported: set[str] = set()  # splits of the scenes started as Earth Engine batch exports
    for job in tqdm(jobs, desc="dataset", unit="scene", disable=not progress):
        split = splits[job.group]
        folder = out / split
        record_path = scene_files(folder, job.id)[0]
        identity = source_identity(source, job.area)
        key = job.key(identity)
        _move_here(out, split, job.id)  # a scene whose group moved split: never in two
        if _is_complete(folder, job.id, key):
            _refresh_record(record_path, job, split)
            _relabel(folder, job, record_path)
            report.resumed += 1
            done[split].append(job.id)
            continue
        try:
            exporting = _batch_export(source, job, folder, max_requests, key, identity)
            # fetched directly: a monitoring view's dates first, as for a batch export, so
            # that one that shows nothing of its item yet costs no pixels
            available = None if exporting else _dates_first(source, job)
        except NotSeenYet as err:
            _skip(job, skipped, NOT_SEEN_YET, str(err))
            continue
        except DataUnavailable as err:
            _skip(job, skipped, _NO_DATA, str(err))
            continue
        if exporting:
            report.exporting += 1
            exported.add(split)
            continue
        stack = _fetch(source, job, skipped, available)
        if stack is None:
            continue
        attrs = StackAttrs.of(stack)
        unseen = job.unseen([*attrs.dates("s1", "post"), *attrs.dates("s2", "post")])
        if unseen:
            _skip(job, skipped, NOT_SEEN_YET, unseen)
            continue
        _drop_export(folder, job.id)
        _write_scene(source, job, stack, folder, split, record_path, key, identity)
        report.written[split] += 1
        done[split].append(job.id)
    report.skipped = {reason: len(ids) for reason, ids in skipped.items()}
    report.held = {split: len(ids) for split, ids in done.items()}
    wanted = [s for s, f in (fractions or DEFAULT_FRACTIONS).items() if f > 0]
    made = {split for split, ids in done.items() if ids} | exported
    report.empty_splits = [s for s in wanted if s not in made] if made else []
    stale = _other_scenes(out, {job.id for job in jobs})
    if prune and not report.scenes:
        log.warning("%s: this run made no scene, so nothing is pruned", out)
        prune, report.prune_refused = False, True
    if prune:
        gone = {scene_id for _, scene_id in stale}
        for scene_id in gone:
            _remove_elsewhere(out, None, scene_id)
        report.pruned = len(gone)
    else:
        report.stale = [f"{split}/{scene_id}" for split, scene_id in stale]
    _write_json(
        out / DATASET_RECORD_FILE,
        {
            "source": source.name,
            "groups": splits,
            "scenes": done,
            "skipped": report.skipped,
            "skipped_scenes": skipped,
            "stale": report.stale,
            **dict(dataset_record or {}),
        },
    )
    return report


def _check_same_kind(out: Path, dataset_record: Mapping[str, Any], prune: bool) -> None:
    """Refuse ``out`` where its ``dataset.json`` says another command (or another tool, such as
    the simulator's training sets) wrote it: a walkthrough's `dataset from-reviews` into a copy
    of a `dataset export` folder mixed the two, overwrote the export's record, and its report's
    hint (--prune) would have deleted the exported scenes. A folder without the record (a first
    run cut off before it wrote one) is resumed. An export of another inventory file is refused
    too, unless ``prune`` replaces the other's scenes (found in a walk: the same slides as
    polygons and as catalogue points, dealt into splits apart, lay in train/ and in test/)."""
    command = dataset_record.get("command")
    record_path = out / DATASET_RECORD_FILE
    if command is None or not record_path.is_file():
        return
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as err:
        raise BadInput(
            f"--out {out}: its {DATASET_RECORD_FILE} cannot be read ({err}), so what wrote the "
            "folder is unknown; give a folder of its own, or move the damaged record aside if "
            f"this folder is a `dataset {command}` of yours"
        ) from None
    found = record.get("command") if isinstance(record, dict) else None
    if found != command:
        by = f"`dataset {found}`" if found else "another tool"
        raise BadInput(
            f"--out {out}: its {DATASET_RECORD_FILE} says {by} wrote it, not `dataset "
            f"{command}`; writing here would mix the two datasets' scenes (and --prune would "
            "delete the other's). Give a folder of its own (e.g. a new one beside it)"
        )
    other, this = _inventory_of(record), _inventory_of(dataset_record)
    scenes = record.get("scenes")
    held = isinstance(scenes, dict) and any(scenes.values())  # an empty export leaks nothing
    # the same file, or the same content moved (a project moved, a dataset copied elsewhere)
    another = other[0] is not None and other[0] != this[0] and other[1] != this[1]
    if command == "export" and held and another and not prune:
        raise BadInput(
            f"--out {out}: it holds the export of another inventory ({other[0]}); each export "
            "deals its own events into train/, val/ and test/, so the same ground could lie in two "
            "splits. Give a folder of its own, or --prune to replace that export's scenes with "
            "this one's"
        )


def _inventory_of(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The inventory file a `dataset export`'s record names and its SHA-256 (``inventory.file``,
    ``inventory.sha256``), each None where it names none."""
    inventory = record.get("inventory")
    if not isinstance(inventory, dict):
        return None, None
    file, sha = inventory.get("file"), inventory.get("sha256")
    return (None if file is None else str(file)), (None if sha is None else str(sha))


def _is_complete(folder: Path, scene_id: str, key: str) -> bool:
    """Whether the scene is already written (input, label and provenance record) with the
    label key ``key`` (an unchanged job): a resumed run does not fetch it again."""
    files = scene_files(folder, scene_id)
    return all(p.exists() for p in files) and (
        json.loads(files[0].read_text()).get("label_key") == key
    )


def _relabel(folder: Path, job: SceneJob, record_path: Path) -> bool:
    """Rewrite a resumed scene's label where the labelling rules give another one today, on the
    grid its record keeps (no fetch): the key holds the label geometries, not the rules, so a
    scene written before a rule changed (slides smaller than a pixel, ignored since 6c294b0)
    would keep its old label. Returns whether it was rewritten."""
    record = json.loads(record_path.read_text())
    grid = record.get("grid")
    if not grid:
        return False
    shape = (int(grid["shape"][0]), int(grid["shape"][1]))
    raster = job.label(shape, Affine(*grid["transform"]), str(grid["crs"]))
    path = label_path(folder, job.id)
    with open_geotiff(path) as src:
        stored, profile = src.read(1), src.profile
    if np.array_equal(stored, raster):
        return False
    # the record first: stopped before the label, the next export finds the old label, which
    # differs from today's, and writes both again (the other order kept a stale record)
    counts = {str(v): int((raster == v).sum()) for v in (1, 0, IGNORE)}
    _write_json(record_path, {**record, "label_pixels": counts})

    def write(tmp: Path) -> None:
        with rasterio.open(tmp, "w", **profile) as dst:
            dst.write(raster[None])

    write_atomically(path, write)
    log.info("%s: label rewritten by today's labelling rules (no fetch)", job.id)
    return True


def _refresh_record(record_path: Path, job: SceneJob, split: str) -> None:
    """Write a resumed scene's group (and view) into its provenance record where it changed:
    the label key holds the scene's area, windows and labels, not its group, which neighbouring
    items of a later export can join (``dataset.json`` has the new groups; the record must
    agree), nor the view, which records of event scenes written before the monitoring views
    lack."""
    record = json.loads(record_path.read_text())
    now = {"group": job.group, "split": split}
    if "view" in job.record:
        now["view"] = job.record["view"]
    if any(record.get(k) != v for k, v in now.items()):
        _write_json(record_path, {**record, **now})


def _fetch(
    source: Source,
    job: SceneJob,
    skipped: dict[str, list[str]],
    available: Availability | None = None,
) -> xr.Dataset | None:
    """The job's feature stack through ``source``, or None (its id listed in ``skipped`` under
    the reason, logged) when the source has no data in the windows or cannot serve the tile;
    ``available``: the scene dates Earth Engine gave for its windows already (not asked
    again)."""
    try:
        if available is not None:  # only Earth Engine gives scene dates first
            return cast("GeeSource", source).features(
                job.area, job.pre, job.post, job.compositing, availability=available
            )
        return source.features(job.area, job.pre, job.post, job.compositing)
    except DataUnavailable as err:
        reason, why = _NO_DATA, str(err)
    except (LookupError, ValueError) as err:  # archive lacks the area, invalid tile
        reason, why = "the source cannot serve the tile", str(err)
    _skip(job, skipped, reason, why)
    return None


def _skip(job: SceneJob, skipped: dict[str, list[str]], reason: str, why: str) -> None:
    """List the job's id in ``skipped`` under ``reason`` and log why."""
    skipped.setdefault(reason, []).append(job.id)
    log.warning("%s: skipped: %s", job.id, why)


def _write_scene(
    source: Source,
    job: SceneJob,
    stack: xr.Dataset,
    folder: Path,
    split: str,
    record_path: Path,
    key: str,
    identity: Mapping[str, Any],
) -> None:
    """Rasterise the job's label on the stack's grid, write the scene into ``folder``, then
    its provenance record (last: its presence marks the scene complete)."""
    shape = (stack.sizes["y"], stack.sizes["x"])
    transform = stack.rio.transform()
    crs = str(stack.rio.crs)
    raster = job.label(shape, transform, crs)
    scene = Scene(
        job.id,
        model_input(stack, "all"),
        (raster == 1).astype(np.uint8),
        stack.rio.crs,
        transform,
        ignore=raster == IGNORE,
    )
    # an earlier version's record would mark the new files complete under the old key
    remove_files(record_path)
    write_scene(folder, scene)
    counts = {str(v): int((raster == v).sum()) for v in (1, 0, IGNORE)}
    _write_json(
        record_path,
        {
            "scene": job.id,
            "split": split,
            "group": job.group,
            "source": source.name,
            "source_identity": dict(identity),
            "area": {
                "name": job.area.name,
                "orbit_pass": job.area.orbit_pass,
                "bounds_wgs84": list(job.area.geometry.bounds),
            },
            "windows": {"pre": str(job.pre), "post": str(job.post)},
            "grid": {"crs": crs, "transform": list(transform)[:6], "shape": list(shape)},
            "stack": {k: _plain(v) for k, v in stack.attrs.items()},
            "label_pixels": counts,
            "label_key": key,
            **job.record,
        },
    )


def _other_scenes(out: Path, ids: set[str]) -> list[tuple[str, str]]:
    """``(split, scene id)`` of the scenes in ``out`` (an input, label or provenance file)
    whose id is not in ``ids``."""
    found = set()
    for split in SPLIT_NAMES:
        folder = out / split
        for where in (
            input_path(folder, "*"),
            label_path(folder, "*"),
            provenance_path(folder, "*"),
            folder / "exports" / "*.json",  # an Earth Engine batch export not yet ingested
        ):
            head, tail = where.name.split("*")
            for path in where.parent.glob(where.name):
                if path.name.startswith("."):  # a killed write's temporary file (models.atomic)
                    continue
                scene_id = path.name.removeprefix(head).removesuffix(tail)
                if scene_id not in ids:
                    found.add((split, scene_id))
    return sorted(found)


def _move_here(out: Path, split: str, scene_id: str) -> None:
    """Move ``scene_id``'s files into ``split`` from the split an earlier run wrote it to (its
    group has moved: another ``split_buffer_m`` or ``split_by``, a new neighbour joining groups),
    unless ``split`` holds its provenance record already; then delete what is left of it
    elsewhere. The split is no part of what a scene is made of: moved, a written scene whose key
    is unchanged is resumed, and a batch export in flight is waited for, not fetched or started
    again (a changed key still fetches it, or cancels the moved task and starts another). The
    provenance record moves last: a move cut short is finished by the next run."""
    here = out / split
    if not scene_files(here, scene_id)[0].exists():
        for other in SPLIT_NAMES:
            folder = out / other
            if other == split:
                continue
            record, task = scene_files(folder, scene_id)[0], export_files(folder, scene_id)[0]
            if not (record.exists() or task.exists()):
                continue  # no scene there, or what is left of one not written to the end
            # (record, input, label, task, task's label), moved in reverse: the record last
            files = (*scene_files(folder, scene_id), *export_files(folder, scene_id))
            targets = (*scene_files(here, scene_id), *export_files(here, scene_id))
            for path, target in reversed(list(zip(files, targets, strict=True))):
                if path.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    path.replace(target)
            break
    _remove_elsewhere(out, split, scene_id)


def _remove_elsewhere(out: Path, keep: str | None, scene_id: str) -> None:
    """Delete ``scene_id``'s files from every split but ``keep`` (None: from all)."""
    for other in SPLIT_NAMES:
        if other == keep:
            continue
        folder = out / other
        # the export's files too, or `dataset ingest` brings the scene back
        remove_files(*scene_files(folder, scene_id), *export_files(folder, scene_id))
