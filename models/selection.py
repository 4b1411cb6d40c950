"""Member selection and ensemble assembly: rank the trained members of each setting by
validation F1 and average the top K (Ganerød et al., Section 3.5). This project's additions
(the paper reports K of 10, 20 and 40 on its test area and calibrates no threshold): choose K
on the validation scenes (the K in 1..k whose top-K mean probability reaches the highest pooled
F1 at its own calibrated threshold; ties go to the larger K; ``k`` is an upper bound), calibrate
the ensemble's decision threshold there (the threshold maximising the pooled F1 of the mean
probability), and write the weights and manifest. The test set plays no part in any of these
choices.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from models.atomic import write_atomically
from models.datasets import MODEL_SETTINGS, DatasetError, Scene
from models.inference import predict_members
from models.manifest import (
    ManifestError,
    ManifestModel,
    SettingEntry,
    load_member,
    member_entry,
    read_manifest,
    sha256_file,
    write_manifest,
)
from models.metrics import best_threshold
from models.train import TrainResult, evaluate_member
from models.zoo import Member

__all__ = [
    "DEFAULT_K",
    "assemble_ensemble",
    "choose_k",
    "ignored_as_nan",
    "no_landslide_to_select_on",
    "refuse_without_landslides",
    "rescored",
    "scene_probabilities",
    "summary_rows",
    "top_k",
]

log = logging.getLogger(__name__)

DEFAULT_K = 20  # Ganerød et al.: most of the gain comes with up to 20 members


def top_k(results: Sequence[TrainResult], setting: str, k: int = DEFAULT_K) -> list[TrainResult]:
    """The ``k`` best results of ``setting`` by validation F1 (ties: by name, for stability)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    pool = [r for r in results if r.spec.setting == setting]
    return sorted(pool, key=lambda r: (-r.val_f1, r.spec.name))[:k]


def choose_k(
    member_probs: Sequence[np.ndarray], truths: Sequence[np.ndarray]
) -> tuple[int, list[tuple[float, float]]]:
    """K for members ranked best first, from their validation probabilities.

    ``member_probs[i]`` is ``(k, H, W)``: scene ``i``'s probability from each ranked member.
    For every K in 1..k the mean of the first K members is calibrated (``best_threshold``);
    returns the K with the highest pooled F1 (ties: the larger K, the more averaged) and the
    ``(threshold, F1)`` of every K in order."""
    if not member_probs:
        raise ValueError("no validation scenes to choose K on")
    k = member_probs[0].shape[0]
    scan = []
    sums = [np.zeros(p.shape[1:], dtype=np.float64) for p in member_probs]
    for n in range(1, k + 1):
        for total, probs in zip(sums, member_probs, strict=True):
            total += probs[n - 1]
        scan.append(best_threshold([t / n for t in sums], truths))
    best = max(range(k), key=lambda i: (round(scan[i][1], 12), i))
    return best + 1, scan


def scene_probabilities(
    members: Sequence[Member], scene: Scene, setting: str, *, tile: int = 512
) -> np.ndarray:
    """``(k, H, W)`` probabilities of ``members`` on ``scene`` (torch), NaN on the scene's
    ignored pixels so that choosing K and the threshold never counts them."""
    probs = predict_members(members, scene.channels(setting), tile=tile, engine="torch")
    return ignored_as_nan(probs, scene)


def ignored_as_nan(probs: np.ndarray, scene: Scene) -> np.ndarray:
    """``probs`` (``(..., H, W)``) with ``scene``'s ignored pixels set to NaN, in place."""
    if scene.ignore is not None:
        probs[..., scene.ignore] = np.nan
    return probs


_SELECT_AGAIN = (
    "members already trained are kept in the work folder: `python -m models select --grid G "
    "--work W --out O --val V` assembles them"
)


def no_landslide_to_select_on(ids: Sequence[str], remedy: str = _SELECT_AGAIN) -> str:
    """Why validation scenes ``ids`` without a landslide pixel cannot choose an ensemble: every
    K and threshold scores F1 0 on them, and the scan kept the lowest threshold, an ensemble
    that flags almost every pixel (shipped without a word before it was refused). ``remedy``:
    what else the caller can do (the grid's: assemble its members with other scenes)."""
    shown = ", ".join(ids[:3]) + (" ..." if len(ids) > 3 else "")
    return (
        f"the validation scenes ({len(ids)}: {shown}) hold no landslide pixel: K and the "
        "threshold are chosen by the F1 on them, which is 0 for every choice (a label of 0 and "
        "255 is background and unknown: landslides are 1). Give validation scenes with "
        f"landslides ({remedy})"
    )


def refuse_without_landslides(scenes: Sequence[Scene], remedy: str = _SELECT_AGAIN) -> None:
    """A :class:`DatasetError` where validation ``scenes`` hold no landslide pixel
    (:func:`no_landslide_to_select_on`)."""
    if scenes and not any(np.any(s.label > 0) for s in scenes):
        raise DatasetError(no_landslide_to_select_on([s.id for s in scenes], remedy))


def assemble_ensemble(
    results: Sequence[TrainResult],
    val: Mapping[str, Sequence[Scene]] | Sequence[Scene],
    out_dir: Path,
    *,
    k: int = DEFAULT_K,
    description: str = "",
    training: Mapping[str, Any] | None = None,
    tile: int = 512,
) -> Path:
    """Rank the members of every setting present in ``results`` by validation F1, choose each
    setting's K (at most ``k``, ``choose_k``) and threshold on ``val``, copy the chosen weights
    into ``out_dir`` and write ``out_dir/manifest.json`` (the K scan is recorded under
    ``training.selection``); returns its path."""
    out_dir = Path(out_dir)
    settings = sorted({r.spec.setting for r in results}, key=_setting_order)
    for setting in settings:  # before anything is written
        refuse_without_landslides(val[setting] if isinstance(val, Mapping) else val)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous_ensemble(out_dir)
    entries, setting_entries = [], {}
    selection: dict[str, Any] = {}
    for setting in settings:
        ranked = top_k(results, setting, k)
        scenes = val[setting] if isinstance(val, Mapping) else val
        loaded = [_load_result(r) for r in ranked]
        # torch: candidates run once each, an ONNX export per candidate would not pay
        probs = [scene_probabilities(loaded, s, setting, tile=tile) for s in scenes]
        n, scan = choose_k(probs, [s.label > 0 for s in scenes])
        threshold, f1 = scan[n - 1]
        chosen = ranked[:n]
        selection[setting] = {
            "k_max": k,
            "k": n,
            "candidates": [r.spec.name for r in ranked],
            "val_f1_by_k": [round(v, 4) for _, v in scan],
            "threshold_by_k": [t for t, _ in scan],
        }
        for r, member in zip(chosen, loaded[:n], strict=True):
            file = f"{r.spec.name}.safetensors"
            # whole or not at all (found in a walk: a full disk left a truncated copy)
            write_atomically(out_dir / file, functools.partial(shutil.copyfile, r.weights))
            sha = sha256_file(out_dir / file)
            if sha != r.sha256:
                raise RuntimeError(f"{r.weights}: SHA-256 changed while copying to {out_dir}")
            entries.append(member_entry(member, file, sha, val_f1=r.val_f1, epochs=r.best_epoch))
        log.info("%s: K=%d of %d, threshold %.2f, validation F1 %.3f (by K: %s)", setting, n,
                 len(ranked), threshold, f1, " ".join(f"{v:.3f}" for _, v in scan))  # fmt: skip
        setting_entries[setting] = SettingEntry(
            members=[r.spec.name for r in chosen], threshold=threshold, val_f1=f1
        )
    manifest = ManifestModel(
        description=description,
        settings=setting_entries,
        members=entries,
        training={**dict(training or {}), "selection": selection},
    )
    if previous is not None:
        manifest = _with_the_filter_of(previous, manifest, out_dir)
    written = write_manifest(out_dir / "manifest.json", manifest)
    if previous is not None:  # after the switch: a crash before it leaves the old one whole
        _remove_replaced(out_dir, previous, manifest)
    return written


def _previous_ensemble(out_dir: Path) -> ManifestModel | None:
    """The ensemble ``out_dir`` holds already (its ``manifest.json``), or None: none, or one
    that cannot be read (its files are then left as they are, and the log says so)."""
    if not (out_dir / "manifest.json").is_file():
        return None
    try:
        return read_manifest(out_dir / "manifest.json")
    except ManifestError as err:
        log.warning("%s: the files of the ensemble it held are left in place (%s)", out_dir, err)
        return None


def _with_the_filter_of(
    previous: ManifestModel, new: ManifestModel, out_dir: Path
) -> ManifestModel:
    """``new`` with the object filter of the ensemble it replaces where it computes the same
    (:attr:`~models.manifest.ManifestModel.ensemble_id`: the same members' weights, K and
    thresholds; a ``select`` run again): the filter was fitted on those members' candidates.
    Otherwise ``new`` as it is (:func:`_remove_replaced` renames the old filter's files aside)."""
    if previous.object_filter is not None and previous.ensemble_id == new.ensemble_id:
        log.info("%s: the same members and thresholds; their object filter is kept", out_dir)
        return new.model_copy(update={"object_filter": previous.object_filter})
    return new


def _remove_replaced(out_dir: Path, previous: ManifestModel, new: ManifestModel) -> None:
    """Once ``new`` has replaced the ensemble ``out_dir`` held: remove the weights of the old
    members ``new`` does not name (they stayed beside the new ones, where they read as part of
    the ensemble; they can be selected again from the work folder), and rename the old object
    filter's files aside with the old ensemble's id where ``new`` does not carry it, so that a
    filter fitted on the new members does not overwrite them (its table holds the candidates an
    operator reviewed); the log says so. Other files stay."""
    root = out_dir.resolve()
    old = previous.object_filter
    if old is not None and new.object_filter is None:
        moved = []
        for name in (old.file, old.candidates):
            path = out_dir / (name or "")
            if not name or path.resolve().parent != root or not path.is_file():
                continue
            aside = path.with_name(f"{path.stem}.{previous.ensemble_id}{path.suffix}")
            try:
                path.replace(aside)
            except OSError as err:
                log.warning("%s: could not rename %s aside: %s", out_dir, name, err)
            else:
                moved.append(aside.name)
        log.warning(
            "%s held an ensemble with an object filter, fitted on other members' candidates; "
            "the new manifest has none, so every candidate alerts until one is fitted on the new "
            "members (`python -m monitor.ops.filter_fit --manifest %s` with its folders, "
            "docs/models.md; `make object-filter` for models/default). The old filter's files "
            "are kept as %s",
            out_dir, out_dir / "manifest.json", ", ".join(moved) or "they were",
        )  # fmt: skip
    for name in sorted({m.file for m in previous.members} - {m.file for m in new.members}):
        path = out_dir / name
        if path.resolve().parent != root or not path.is_file():
            continue
        try:
            path.unlink()
        except OSError as err:  # the new ensemble is in place; the old file only stays
            log.warning(
                "%s: could not remove %s, of the ensemble it replaced: %s", out_dir, name, err
            )
        else:
            log.info("%s: removed %s, of the ensemble it replaced", out_dir, name)


def rescored(
    results: Sequence[TrainResult],
    val: Sequence[Scene],
    *,
    threshold: float = 0.5,
    tile: int = 512,
    progress: bool = True,
) -> list[TrainResult]:
    """``results`` with each member's ``val_f1`` scored on ``val`` as training scores an epoch
    (the pooled F1 at ``threshold``, whole scenes in tiles of ``tile``): ``select --val`` ranks
    them on the folder it is given (found in a walkthrough: they were ranked by the F1 of the
    training's validation folder, and the manifest recorded that F1 beside the other folder's
    scenes)."""
    out = []
    for i, r in enumerate(results, 1):
        f1 = evaluate_member(
            _load_result(r), val, r.spec.setting, threshold=threshold, tile=tile
        ).f1
        if progress:
            log.info("%s (%d of %d): F1 %.3f on the given scenes (%.3f on the training's)",
                     r.spec.name, i, len(results), f1, r.val_f1)  # fmt: skip
        out.append(replace(r, val_f1=f1))
    return out


def _load_result(result: TrainResult) -> Member:
    """The trained member of ``result`` (its weights verified against the recorded SHA-256)."""
    from safetensors.torch import load_file

    from models.datasets import setting_band_names
    from models.manifest import MemberEntry, Normalisation

    state = load_file(str(result.weights))
    entry = MemberEntry(
        name=result.spec.name,
        setting=result.spec.setting,
        bands=list(setting_band_names(result.spec.setting)),
        architecture=result.spec.architecture,
        encoder=result.spec.encoder,
        arch_kwargs=dict(result.spec.arch_kwargs),
        loss=result.spec.loss,
        learning_rate=result.spec.learning_rate,
        normalisation=Normalisation(
            mean=state["norm_mean"].flatten().tolist(), std=state["norm_std"].flatten().tolist()
        ),
        file=result.weights.name,
        sha256=result.sha256,
        without_bands=list(result.spec.without_bands),
    )
    return load_member(entry, result.weights.parent)


def _setting_order(setting: str) -> tuple[int, str]:
    order = list(MODEL_SETTINGS)
    return (order.index(setting) if setting in order else len(order), setting)


def summary_rows(results: Sequence[TrainResult]) -> list[dict[str, Any]]:
    """One row per trained member (for reports), best first within each setting."""
    rows = []
    for r in sorted(results, key=lambda r: (_setting_order(r.spec.setting), -r.val_f1)):
        rows.append(
            {
                "name": r.spec.name,
                "setting": r.spec.setting,
                "architecture": r.spec.architecture,
                "loss": r.spec.loss,
                "learning_rate": r.spec.learning_rate,
                "val_f1": round(float(r.val_f1), 4),
                "best_epoch": r.best_epoch,
                "epochs": r.epochs,
                "seconds": round(float(r.seconds), 1),
            }
        )
    return rows
