"""Fine-tuning an ensemble on reviewed or exported scenes (``python -m models finetune``).

Every member of the parent manifest (trained here or imported with ``import-checkpoint``)
continues from its weights and keeps its normalisation, the band statistics and its batch-norm
layers' running statistics (:func:`train_mode`): a few epochs of the training loop of
:mod:`models.train` (Adam, random crops with flips and rotations) at a lower learning rate (the
member's own times ``lr_scale``), with the ignore label honoured by its loss
(:class:`models.zoo.IgnoringLoss`). Half of every batch is anchored on landslide pixels (the
smart crops of training), the other half on the member's own false alarms in the training
scenes (pixels it predicts at 0.5 that are labelled 0: the dismissed look-alikes of a review),
so the hard negatives are seen as often as the landslides however small they are. After each
epoch the member is scored on the held-out scenes (F1 at 0.5 and object recall, as the next
paragraph says), and :func:`choose_epoch` keeps one epoch, epoch 0 (the parent's weights)
included: of the epochs that find at least as many held-out landslides as the parent's
weights, the earliest within one standard error of the best F1 (``epoch_rule="best"``: the
highest F1). A few reviewed scenes cannot tell an F1 gain of a few hundredths from noise, and
the plain maximum lost landslides in unseen regions that the reviewed ones did not show.

**What the held-out scores count** (:func:`presumed_background`). Reviewed scenes know the
background only near what was reviewed; the rest is ignored, because a landslide the parent
missed may lie there. Scored on the known pixels alone, a member that draws new objects out in
the unreviewed part of a scene loses nothing by them: over six draws of the review-loop bench,
the loop then drew 95 false alarms in unseen regions where the bundled ensemble drew 68, and
59 with the scores below, for as many landslides as the bundled ensemble (docs/models.md). So
every choice below scores an ignored pixel where the parent predicts no landslide as
background: a new detection that no one has reviewed counts as a false alarm until someone
confirms it, as it would reach the operator. Pixels the parent does predict (unreviewed
candidates and their margins) stay ignored, and the losses never see the presumed background
(``presume_background: false``, ``--known-only-scores``, scores the known pixels alone).

K and the threshold of every setting are then chosen again on the held-out scenes
(:func:`choose_k_and_threshold`): among the choices that detect at least as many of their true
landslides as the parent ensemble does there (fewer false alarms are not bought with missed
landslides), every one within a standard error of the best pooled pixel F1 counts as as good
(the one-standard-error rule; a block bootstrap of the scenes' tiles gives the error), and of
those the largest K and the threshold nearest the parent's are taken. On two reviewed scenes the
plain maximum had taken one member of four and thresholds of 0.42 to 0.73, on F1 differences of
0.01 (an early draw of the review-loop bench, docs/measurements/review_loop.md). The new
manifest records its lineage (the parent manifest's and the dataset's SHA-256,
:mod:`models.lineage`).

Data: a dataset folder with ``train/`` and ``val/`` in the Ganerød et al. layout, as
``landslide-monitor dataset export`` and ``dataset from-reviews`` write it. Nothing is saved
before the end: unlike ``train`` it does not resume, and a rerun starts over. The manifest an
earlier run wrote in the output folder stays while the members train and is removed just
before the new weights are saved; the new manifest is written last.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from scipy import ndimage

from models.atomic import write_atomically
from models.datasets import (
    DATASET_RECORD_FILE,
    SPLIT_NAMES,
    CropSampler,
    DatasetError,
    Scene,
    read_folder,
)
from models.inference import predict_members, resolve_device
from models.lineage import lineage_of
from models.manifest import (
    ManifestError,
    ManifestModel,
    MemberEntry,
    ObjectFilterEntry,
    SettingEntry,
    load_member,
    member_entry,
    read_manifest,
    save_member_weights,
    write_manifest,
)
from models.metrics import THRESHOLDS, counts_by_threshold, f1_from_counts
from models.selection import ignored_as_nan, refuse_without_landslides, scene_probabilities
from models.zoo import Member, build_loss, check_schedule, without_suffix

__all__ = [
    "FinetuneConfig",
    "check_out_dir",
    "choose_k_and_threshold",
    "finetune",
    "hard_negative_anchors",
    "presumed_background",
    "train_mode",
]

log = logging.getLogger(__name__)

# In --out while a run saves its members: the weights files of earlier runs and its own
_SAVING = ".saving.json"


@dataclass(frozen=True)
class FinetuneConfig:
    """Few epochs at a lower learning rate (defaults sized for CPU members)."""

    epochs: int = 4
    iterations: int = 40  # optimiser steps per epoch
    lr_scale: float = 0.1  # the member's learning rate times this
    crop: int = 64
    batch_size: int = 4
    # share of every batch anchored on the member's own false alarms (the rest on landslides)
    false_alarm_share: float = 0.5
    seed: int = 0
    threshold: float = 0.5  # of a member's false alarms (crop anchors) and its validation F1
    val_tile: int = 512
    k: int | None = None  # at most this many members per setting (default: all of the parent's)
    # keep the parent's batch-norm statistics (batches of a few crops centred on landslides and
    # false alarms are not the scenes' statistics: train_mode)
    freeze_norm: bool = True
    # held-out scores count unreviewed pixels the parent predicts no landslide on as background
    # (presumed_background)
    presume_background: bool = True
    # which epoch of each member is kept: "one_se" (the earliest that keeps the parent's object
    # recall on the held-out scenes and scores within one standard error of the best F1; epoch
    # 0, the parent's weights, unless a later one is clearly better) or "best" (the highest F1)
    epoch_rule: Literal["one_se", "best"] = "one_se"
    device: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        check_schedule(
            self,
            sides=("crop", "val_tile"),
            counts=("epochs", "iterations", "batch_size", "k", "threads"),
            threshold="threshold",
        )
        if self.epoch_rule not in ("one_se", "best"):
            raise ValueError(f"epoch_rule must be 'one_se' or 'best', got {self.epoch_rule!r}")
        if not self.lr_scale > 0:
            raise ValueError(f"lr_scale must be positive, got {self.lr_scale}")
        if not 0.0 <= self.false_alarm_share <= 1.0 or (
            round(self.batch_size * self.false_alarm_share) >= self.batch_size
        ):
            raise ValueError(
                f"false_alarm_share must be in [0, 1] and leave a landslide crop in every batch "
                f"of {self.batch_size}, got {self.false_alarm_share}"
            )


def hard_negative_anchors(
    member: Member, scenes: Sequence[Scene], *, threshold: float = 0.5, tile: int = 512
) -> list[np.ndarray]:
    """Per scene, ``member``'s false alarms: pixels labelled background (known, 0) where it
    predicts a landslide at ``threshold``."""
    anchors = []
    for scene in scenes:
        prob = predict_members([member], scene.channels(member.spec.setting), tile=tile)[0]
        false_alarm = (prob >= threshold) & (scene.label == 0) & scene.known
        anchors.append(false_alarm)
    return anchors


def presumed_background(
    scenes: Sequence[Scene], parent_probs: Sequence[np.ndarray], threshold: float
) -> list[Scene]:
    """``scenes`` as the held-out choices of fine-tuning score them (see the module): an ignored
    pixel where ``parent_probs`` (one ``(H, W)`` per scene, computed without the ignore mask)
    is finite and below ``threshold`` becomes known background; the rest stays as it was."""
    out = []
    for scene, prob in zip(scenes, parent_probs, strict=True):
        if scene.ignore is None:
            out.append(scene)
            continue
        with np.errstate(invalid="ignore"):
            quiet = np.isfinite(prob) & (prob < threshold)
        still = scene.ignore & ~quiet
        out.append(replace(scene, ignore=still if still.any() else None))
    return out


def _mean_probabilities(
    members: Sequence[Member],
    scenes: Sequence[Scene],
    setting: str,
    tile: int,
    device: torch.device | None = None,
) -> list[np.ndarray]:
    """The mean probability of ``members`` on each scene, ignored pixels included (what
    :func:`presumed_background` reads; :func:`~models.selection.scene_probabilities` blanks
    them)."""
    return [
        predict_members(
            members, s.channels(setting), tile=tile, device=device, engine="torch"
        ).mean(0)
        for s in scenes
    ]


def _known_share(scenes: Sequence[Scene]) -> float:
    """Share of the scenes' pixels whose class is known (recorded beside the scores; pixels
    without an observation count here but are never scored)."""
    known = sum(int(s.known.sum()) for s in scenes)
    return round(known / max(1, sum(s.label.size for s in scenes)), 4)


def train_mode(member: torch.nn.Module, *, freeze_norm: bool) -> None:
    """``member`` in training mode; with ``freeze_norm`` its batch-norm layers stay in
    evaluation mode, so they normalise with the parent's running statistics and do not update
    them (their scale and shift still learn). A batch of four crops centred on landslides and
    false alarms is not a scene: with the statistics updated from such batches, fine-tuning lost
    18 of the 107 landslides the parent found in three held-out regions (docs/models.md, the
    review loop's draw 5)."""
    member.train()
    if freeze_norm:
        for module in member.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.eval()


def _tune_member(
    entry: MemberEntry,
    base_dir: Path,
    train: Sequence[Scene],
    val: Sequence[Scene],
    config: FinetuneConfig,
    device: torch.device,
    label: str,
) -> tuple[Member, dict[str, Any]]:
    """Fine-tune one member; ``label`` names it in the log with how far the run is
    (``[2/5] name``)."""
    log.info("%s: fine-tuning, %d epoch(s) of %d step(s)", label, config.epochs, config.iterations)
    member = load_member(entry, base_dir).to(device)
    setting = member.spec.setting
    seed = _seed_for(entry.name, entry.without_bands, config.seed)
    torch.manual_seed(seed)
    crop = max(config.crop, member.min_side)
    positives = CropSampler(train, setting, crop, seed=seed)
    false_alarms = hard_negative_anchors(
        member, train, threshold=config.threshold, tile=config.val_tile
    )
    negatives = (
        CropSampler(train, setting, crop, seed=seed + 1, anchors=false_alarms)
        if any(a.any() for a in false_alarms)
        else None
    )
    n_neg = round(config.batch_size * config.false_alarm_share) if negatives is not None else 0
    lr = entry.learning_rate * config.lr_scale
    optimizer = torch.optim.Adam(member.parameters(), lr=lr)
    loss_fn = build_loss(entry.loss)
    # the parent's weights predicted once: they decide the presumed background and score epoch 0
    parent = _mean_probabilities([member], val, setting, config.val_tile, device)
    scored = (
        presumed_background(val, parent, config.threshold)
        if config.presume_background
        else list(val)
    )

    def score() -> _EpochScore:
        probs = _mean_probabilities([member], scored, setting, config.val_tile, device)
        return _epoch_score(probs, scored, config.threshold)

    epochs = [_epoch_score(parent, scored, config.threshold)]
    states = [_cpu_state(member)]  # every epoch's weights, off the device
    history: list[dict[str, float]] = [
        {"epoch": 0, "loss": float("nan"), "val_f1": epochs[0].f1,
         "object_recall": epochs[0].recall}
    ]  # fmt: skip
    for epoch in range(1, config.epochs + 1):
        train_mode(member, freeze_norm=config.freeze_norm)
        losses = []
        for _ in range(config.iterations):
            xb, yb = positives.sample(config.batch_size - n_neg)
            if negatives is not None and n_neg:
                xn, yn = negatives.sample(n_neg)
                xb, yb = np.concatenate([xb, xn]), np.concatenate([yb, yn])
            x, y = torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device)
            loss = loss_fn(member(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        member.eval()
        epochs.append(score())
        states.append(_cpu_state(member))
        history.append(
            {"epoch": epoch, "loss": float(np.mean(losses)), "val_f1": epochs[-1].f1,
             "object_recall": epochs[-1].recall}
        )  # fmt: skip
        log.info(
            "%s: epoch %d/%d, loss %.4f, held-out F1 %.3f, object recall %s",
            label, epoch, config.epochs, history[-1]["loss"], epochs[-1].f1,
            _share(epochs[-1].recall),
        )  # fmt: skip
    best_epoch, choice = choose_epoch(epochs, config.epoch_rule, seed=seed)
    member.load_state_dict(states[best_epoch])
    member.cpu().eval()
    record = {
        "learning_rate": lr,
        "parent_val_f1": history[0]["val_f1"],
        "val_f1": epochs[best_epoch].f1,
        "best_epoch": best_epoch,
        "epoch_choice": choice,
        "history": history,
        "val_known_share": _known_share(scored),
    }
    log.info(
        "%s: held-out F1 %.3f -> %.3f (epoch %d of %d; %s)",
        label, history[0]["val_f1"], epochs[best_epoch].f1, best_epoch, config.epochs,
        choice["why"],
    )  # fmt: skip
    return member, record


def _cpu_state(member: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``member``'s weights and buffers in host memory."""
    return {k: v.detach().to("cpu", copy=True) for k, v in member.state_dict().items()}


@dataclass(frozen=True)
class _EpochScore:
    """One epoch of a member on the held-out scenes: its per-tile confusion at the threshold
    (``(tiles, 3)``: TP, FP, FN) and its object recall (NaN without a landslide it sees)."""

    tiles: np.ndarray
    recall: float

    @property
    def f1(self) -> float:
        return float(f1_from_counts(*self.tiles.reshape(-1, 3).sum(axis=0)))


def _epoch_score(
    probs: Sequence[np.ndarray], scenes: Sequence[Scene], threshold: float, block: int = 64
) -> _EpochScore:
    """:class:`_EpochScore` of one member's ``(H, W)`` probabilities on ``scenes``, scored on
    their known pixels as :func:`~models.train.scene_confusion` does, in the tiles of
    :func:`_block_counts` that K and the threshold are chosen on."""
    at = np.array([threshold])
    truths = [scene.label > 0 for scene in scenes]
    seen = [
        np.where(np.isfinite(prob) & scene.known, prob, np.nan)
        for prob, scene in zip(probs, scenes, strict=True)
    ]
    tiles = [
        _block_counts(p[None], t, block, at)[:, 0, 0] for p, t in zip(seen, truths, strict=True)
    ]
    return _EpochScore(
        np.concatenate(tiles or [np.zeros((0, 3))]), _object_recall(seen, truths, threshold)
    )


def _seed_for(name: str, without_bands: Sequence[str], seed: int) -> int:
    """The fine-tuning seed of the member ``name``: from its name less the bands it withholds
    (``-without-<band>``), so that a member trained without a band is fine-tuned on the same
    crops as its sibling trained with it (a paired comparison, as in training); every other
    member keeps the seed its name gave before (an imported one's name is not its grid cell:
    two imports of one network keep crops of their own)."""
    suffix = without_suffix(without_bands)
    if suffix and name.endswith(suffix):
        name = name[: -len(suffix)]
    return seed + sum(name.encode())


def _bootstrap_se(tiles: np.ndarray, resamples: int = 1000, seed: int = 0) -> float:
    """Standard error of the pooled F1 of ``tiles`` (``(n, 3)``: TP, FP, FN per tile) over
    ``resamples`` bootstrap resamples of the tiles (a block bootstrap: neighbouring pixels are
    not independent); infinite with fewer than two tiles, whose resamples are all the same:
    the error cannot be estimated, so no choice is told apart from another and nothing moves
    from the parent's."""
    if len(tiles) < 2:
        return float("inf")
    picks = np.random.default_rng(seed).integers(0, len(tiles), (resamples, len(tiles)))
    boot = tiles[picks].sum(axis=1)  # (resamples, 3)
    return float(np.std(f1_from_counts(boot[:, 0], boot[:, 1], boot[:, 2])))


def _rounded(se: float) -> float | None:
    """A standard error for the manifest's record: None where it could not be estimated."""
    return round(se, 4) if np.isfinite(se) else None


def choose_epoch(
    epochs: Sequence[_EpochScore], rule: str = "one_se", *, seed: int = 0
) -> tuple[int, dict[str, Any]]:
    """The epoch of a fine-tuned member to keep, epoch 0 being the parent's weights.

    ``"best"``: the highest held-out F1 (the earliest of equals). ``"one_se"``: as K and the
    threshold are chosen (:func:`choose_k_and_threshold`), an epoch must detect at least as many
    of the held-out landslides as the parent's weights do (fewer false alarms are not bought
    with missed landslides), and of those every one within one standard error of the best
    F1 counts as as good (Hastie, Tibshirani and Friedman 2009, section 7.10), so the earliest
    of them is kept: the weights move from the parent's only on a gain larger than the
    sampling error of a few reviewed scenes: when the best eligible epoch's F1 exceeds the
    parent's by more than one standard error (the earliest epoch within it of the best may gain
    less). The error is the block bootstrap of the best epoch's 64-pixel tiles. Returns the
    epoch and a record of the choice (the rule, why, and for ``one_se`` the epoch of highest
    eligible F1, the error, the recall floor and the eligible epochs)."""
    f1 = np.array([e.f1 for e in epochs])
    if rule == "best":
        best = int(np.argmax(f1))
        return best, {"rule": "best", "why": "highest F1"}
    recall = np.array([e.recall for e in epochs])
    floor = recall[0]
    eligible = recall >= floor - 1e-9 if np.isfinite(floor) else np.ones(len(epochs), bool)
    eligible[0] = True  # the parent's weights are always a choice
    best = int(np.argmax(np.where(eligible, f1, -1.0)))
    se = _bootstrap_se(epochs[best].tiles, seed=seed)
    chosen = int(np.flatnonzero(eligible & (f1 >= f1[best] - se - 1e-12))[0])
    if not np.isfinite(se):
        why = (
            "kept the parent's weights: the held-out scenes hold fewer than two 64-pixel "
            "tiles, too few to estimate the F1's standard error"
        )
    elif chosen == 0 and best != 0:
        why = (
            f"kept the parent's weights: epoch {best}'s F1 gain {f1[best] - f1[0]:.3f} is "
            f"within one standard error ({se:.3f})"
        )
    elif chosen == 0:
        why = "kept the parent's weights: no epoch scores higher with the parent's recall"
    else:
        why = (
            f"epoch {chosen}: F1 {f1[0]:.3f} -> {f1[chosen]:.3f} (the best, epoch {best}, "
            f"{f1[best]:.3f}; the parent's weights lie more than one standard error, {se:.3f}, "
            "below it)"
        )
    return chosen, {
        "rule": "one_se",
        "why": why,
        "highest_f1_epoch": best,
        "f1_standard_error": _rounded(se),
        "object_recall_floor": None if not np.isfinite(floor) else round(float(floor), 4),
        "eligible": [int(i) for i in np.flatnonzero(eligible)],
    }


def _object_maxima(prob: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """The highest probability inside each true landslide (8-connected) that the setting sees:
    a landslide without any finite probability (under clouds for an optical setting, whose
    pixels the radar-only fallback predicts in a run) is left out, not counted as missed."""
    labels, n = ndimage.label(truth, structure=np.ones((3, 3)))
    if not n:
        return np.zeros(0)
    index = np.arange(1, n + 1)
    seen = np.asarray(ndimage.sum_labels(np.isfinite(prob), labels, index)) > 0
    filled = np.where(np.isfinite(prob), prob, -1.0)
    maxima = np.asarray(ndimage.maximum(filled, labels, index), np.float64)
    return maxima[seen]


def _object_recall(probs: Sequence[np.ndarray], truths: Sequence[np.ndarray], t: float) -> float:
    """Share of the true landslides of ``truths`` that the setting sees with a pixel at or above
    ``t`` (NaN where it sees none)."""
    maxima = np.concatenate([_object_maxima(p, tr) for p, tr in zip(probs, truths, strict=True)])
    return float((maxima >= t).mean()) if maxima.size else float("nan")


def _block_counts(
    means: np.ndarray, truth: np.ndarray, block: int, thresholds: np.ndarray = THRESHOLDS
) -> np.ndarray:
    """TP, FP and FN at every threshold of ``thresholds`` for each ``block`` x ``block``
    tile of one scene: ``means`` ``(K, H, W)`` (the mean of the top 1..K members; NaN pixels
    ignored), truth ``(H, W)``. Returns ``(tiles, K, thresholds, 3)``; tiles without a finite
    pixel are dropped."""
    k, h, w = means.shape
    out = []
    for y in range(0, h, block):
        for x in range(0, w, block):
            tile = means[:, y : y + block, x : x + block]
            if not np.isfinite(tile).any():
                continue
            t = truth[y : y + block, x : x + block]
            out.append(np.stack([counts_by_threshold(tile[n], t, thresholds) for n in range(k)]))
    return np.asarray(out).reshape(-1, k, thresholds.size, 3)


def choose_k_and_threshold(
    member_probs: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    recall_floor: float,
    parent_threshold: float | None = None,
    *,
    block: int = 64,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[int, float, float, float, dict[str, Any]]:
    """K and threshold on the held-out scenes, chosen with the one-standard-error rule.

    Among the (K, threshold) pairs that detect at least ``recall_floor`` of the true landslides
    (the parent's object recall there: fine-tuning must not buy fewer false alarms with missed
    landslides; when no pair reaches it, those of the highest object recall), the best pooled
    pixel F1 is found (ties to the smaller K and the lower threshold). A handful of reviewed
    scenes cannot tell apart choices whose F1 differs by less than its sampling error, so every
    pair within one standard error of the best counts as as good (Hastie, Tibshirani and
    Friedman, *The Elements of Statistical Learning*, 2nd ed., section 7.10: the one-standard-
    error rule), and of those the largest K is taken (the ensemble's averaging is what keeps
    one member's speckle out of the mask) and the threshold nearest ``parent_threshold`` (no
    move without evidence; the highest F1 when no parent threshold is given). The standard
    error is the spread of the best pair's F1 over ``resamples`` bootstrap resamples of
    ``block``-pixel tiles of the scenes (a block bootstrap: neighbouring pixels are not
    independent). It is the error of the best F1 itself, as the rule has it, not of its
    difference to another pair on the same tiles, which is smaller: the rule is conservative
    and moves from the largest K and the parent's threshold only on a clear gain. Seeded. Returns
    K, threshold, F1, object recall and the scan: for every K the unconstrained best (threshold,
    F1), the best F1 and its standard error."""
    if not member_probs:
        raise ValueError("no held-out scenes to choose K and the threshold on")
    k_max = member_probs[0].shape[0]
    means_by_scene = []
    for probs in member_probs:
        total = np.cumsum(np.asarray(probs, np.float64), axis=0)
        means_by_scene.append(total / np.arange(1, k_max + 1)[:, None, None])
    counts = np.concatenate(
        [_block_counts(m, tr, block) for m, tr in zip(means_by_scene, truths, strict=True)]
    )
    tp, fp, fn = np.moveaxis(counts.sum(axis=0), -1, 0)  # each (K, thresholds)
    f1 = f1_from_counts(tp, fp, fn)
    recall = np.full((k_max, THRESHOLDS.size), np.nan)  # NaN: no landslide the setting sees
    for n in range(k_max):
        maxima = np.concatenate(
            [_object_maxima(m[n], tr) for m, tr in zip(means_by_scene, truths, strict=True)]
        )
        if maxima.size:
            recall[n] = (maxima[None, :] >= THRESHOLDS[:, None]).mean(1)
    if np.isnan(recall).all() or not np.isfinite(recall_floor):
        feasible = np.ones(recall.shape, bool)  # no recall to hold
    else:
        feasible = recall >= recall_floor - 1e-9
        if not feasible.any():
            feasible = recall >= recall.max() - 1e-9
    masked = np.where(feasible, f1, -1.0)
    best_k, best_t = np.unravel_index(int(np.argmax(masked)), masked.shape)
    se = _bootstrap_se(counts[:, best_k, best_t], resamples, seed)
    if not np.isfinite(se):
        log.warning(
            "the held-out scenes hold %d tile(s) of %d pixels, too few to estimate the F1's "
            "standard error: K and the threshold stay the largest K and the threshold nearest "
            "the parent's that hold its recall; review more scenes for a choice on evidence",
            len(counts), block,
        )  # fmt: skip
    good = feasible & (f1 >= f1[best_k, best_t] - se - 1e-12)
    k = int(np.flatnonzero(good.any(axis=1)).max())
    row = np.flatnonzero(good[k])
    if parent_threshold is None:
        i = int(row[np.argmax(f1[k, row])])
    else:
        i = int(row[np.argmin(np.abs(THRESHOLDS[row] - parent_threshold))])
    scan = {
        "threshold_by_k": [float(THRESHOLDS[int(np.argmax(r))]) for r in f1],
        "val_f1_by_k": [round(float(r.max()), 4) for r in f1],
        "best": {"k": int(best_k) + 1, "threshold": float(THRESHOLDS[best_t]),
                 "f1": round(float(f1[best_k, best_t]), 4)},
        "f1_standard_error": _rounded(se),
        "bootstrap": {"block_px": block, "blocks": len(counts), "resamples": resamples},
    }  # fmt: skip
    return k + 1, float(THRESHOLDS[i]), float(f1[k, i]), float(recall[k, i]), scan


def _read_split(data: Path, split: str) -> list[Scene]:
    folder = Path(data) / split
    if not (folder / "input").is_dir():
        # a split folder given for the dataset (found by a walkthrough: --data data/mine/test)
        root = Path(data)
        given_split = root.name in SPLIT_NAMES and (root / "input").is_dir()
        hint = f"; {root} is itself a split: give its dataset, {root.parent}" if given_split else ""
        raise DatasetError(
            f"{folder}: missing; fine-tuning needs {split}/input and {split}/label in {data} "
            f"(as `landslide-monitor dataset export` or `dataset from-reviews` write them){hint}"
        )
    return read_folder(folder)


def finetune(
    manifest: Path,
    data: Path,
    out_dir: Path,
    config: FinetuneConfig = FinetuneConfig(),
) -> Path:
    """Fine-tune every member of ``manifest`` on ``data/train``, choose K and the thresholds
    again on ``data/val`` and write ``out_dir/manifest.json`` (with the new weights and the
    lineage); returns its path. An ``out_dir`` that is the parent manifest's folder or
    ``data``, or a folder above either, or a file, is refused (:class:`ValueError`)."""
    manifest, data, out_dir = Path(manifest), Path(data), Path(out_dir)
    check_out_dir(out_dir, manifest, data)
    parent = read_manifest(manifest)
    train, val = _read_split(data, "train"), _read_split(data, "val")
    # a walk's val/ of points too imprecise for a core (0 and 255 only) gave a manifest
    # "tuned" on F1 0 for every choice, exit 0 (models.md says such scenes are refused)
    refuse_without_landslides(
        val,
        f"in {data}/val: more confirmed reviews, precise points or polygons; "
        "`landslide-monitor dataset export --split-by` sets which items go there",
    )
    for entry in parent.members:
        if entry.setting == "L4S":
            raise ManifestError(
                f"member {entry.name}: setting L4S (Landslide4Sense bands) cannot be fine-tuned "
                "on feature-stack scenes"
            )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    tuned: dict[str, tuple[Member, dict[str, Any]]] = {}
    for i, entry in enumerate(parent.members, 1):
        label = f"[{i}/{len(parent.members)}] {entry.name}"
        tuned[entry.name] = _tune_member(entry, manifest.parent, train, val, config, device, label)
    entries: list[MemberEntry] = []
    settings: dict[str, SettingEntry] = {}
    selection: dict[str, Any] = {}
    for setting, parent_entry in parent.settings.items():
        chosen, threshold, f1, recall, floor, record = _select_members(
            setting, parent_entry, parent, manifest.parent, tuned, val, config
        )
        selection[setting] = record
        settings[setting] = SettingEntry(members=chosen, threshold=threshold, val_f1=f1)
        log.info(
            "%s: K=%d, threshold %.2f, held-out F1 %.3f, object recall %s (parent %s)",
            setting, record["k"], threshold, f1, _share(recall), _share(floor),
        )  # fmt: skip
    # nothing is written to out_dir while the members train and are chosen (a run stopped then
    # leaves an earlier result whole); before the first weights are saved over an earlier
    # run's, its manifest goes, so that a run stopped while saving leaves none, not one whose
    # checksums no longer match the weights beside it
    earlier = out_dir / "manifest.json"
    saving = out_dir / _SAVING
    earlier_files: set[str] = set()
    if saving.is_file():  # the list of a run stopped while saving: its manifest is gone
        with contextlib.suppress(ValueError, KeyError, TypeError):
            earlier_files = {str(f) for f in json.loads(saving.read_text())["files"]}
    if earlier.is_file():
        # its weights files, so that those this run does not write go with it (not a manifest
        # of ours: its files are left alone)
        with contextlib.suppress(ManifestError):
            earlier_files |= {m.file for m in read_manifest(earlier).members}
    # listed before the first weights are written, with this run's: a run stopped while
    # saving leaves this list, and the next removes what it does not write (the earlier
    # manifest, the only other record of those files, is gone by then)
    ours = {f"{name}.safetensors" for entry in settings.values() for name in entry.members}
    listed = json.dumps({"files": sorted(earlier_files | ours)})
    write_atomically(saving, lambda tmp: tmp.write_text(listed))
    if earlier.is_file():
        earlier.unlink()
        log.info("%s: removed the earlier run's manifest; this run writes it at the end", earlier)
    for setting_entry in settings.values():
        entries.extend(_save_members(setting_entry.members, tuned, parent, out_dir))
    for stale in sorted(earlier_files - {e.file for e in entries}):
        stale_path = out_dir / stale
        if stale_path.parent == out_dir and stale_path.is_file():  # a plain file name only
            stale_path.unlink()
            log.info("%s: an earlier run's member this run did not choose, removed", stale_path)
    unchanged = all(record["best_epoch"] == 0 for _, record in tuned.values())
    if unchanged:
        log.warning(
            "no member's weights changed: every one kept its parent's (epoch 0; the reasons "
            "above), so %s holds the parent's members with K and thresholds chosen again on %s",
            out_dir / "manifest.json", data / "val",
        )  # fmt: skip
    training = {
        "finetune": {
            "config": asdict(config),
            "train_scenes": [s.id for s in train],
            "val_scenes": [s.id for s in val],
            "members": {name: record for name, (_, record) in tuned.items()},
            "selection": selection,
            "seconds": round(time.perf_counter() - start, 1),
        },
        "parent_training": {k: v for k, v in parent.training.items() if k != "candidates"},
        "lineage": lineage_of(manifest, data).model_dump(),
    }
    # `models info` and the run report show it: "fine-tuned" where no weight moved misled
    what = "K and thresholds chosen again on" if unchanged else "fine-tuned on"
    description = f"{parent.description} ({what} {data.name})".strip()
    new = ManifestModel(
        description=description,
        settings=settings,
        members=entries,
        training=training,
        object_filter=_inherited_filter(parent, manifest, out_dir),
    )
    written = write_manifest(out_dir / "manifest.json", new)
    saving.unlink()
    return written


def check_out_dir(
    out_dir: Path, manifest: Path, data: Path, *, written_by: str = "finetune"
) -> None:
    """Refuse an ``out_dir`` that is the parent manifest's folder or the dataset, or a folder
    above either: the new manifest and weights would overwrite the parent's (a member keeps its
    name and file name) or be written among the inputs; one that holds another dataset (its
    ``dataset.json``, or scenes' ``input/`` folders); and one whose manifest no run of this
    command wrote."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} is a file; give a folder for the new manifest")
    out = out_dir.resolve()
    for what, folder in (("the parent manifest's folder", manifest.parent), ("the dataset", data)):
        inside = folder.resolve()
        if inside == out or inside.is_relative_to(out):
            relation = "is" if inside == out else "contains"
            raise ValueError(
                f"--out {out_dir} {relation} {what} ({folder}): the new manifest.json and "
                "member weights would overwrite or mix with the files it reads; "
                "choose a new folder outside both"
            )
    if out.is_relative_to(data.resolve()):  # found in a walk: weights among the scenes
        raise ValueError(
            f"--out {out_dir} is inside the dataset ({data}): the new manifest.json and member "
            "weights would be written among its scenes; choose a new folder outside it"
        )
    # found in a walk: another dataset's folder (an export's, or one of scenes alone) took the
    # manifest and weights among its scenes, as the dataset given with --data would not
    held = [out_dir / DATASET_RECORD_FILE, out_dir / "input"]
    held += [out_dir / split / "input" for split in SPLIT_NAMES]
    dataset = next((path for path in held if path.exists()), None)
    if dataset is not None:
        raise ValueError(
            f"--out {out_dir} holds a dataset ({dataset}): the new manifest.json and member "
            "weights would be written among its scenes; choose a new folder"
        )
    earlier = out_dir / "manifest.json"
    if earlier.is_file():
        try:
            training = read_manifest(earlier).training
        except ManifestError:  # a fine-tune stopped while saving leaves none readable
            return
        # found in a walk: a refitted copy's, replaced; ``written_by`` is the record the
        # command writes ("finetune", or extend's "extended"), so its own earlier output passes
        if written_by not in training:
            command = "fine-tune" if written_by == "finetune" else written_by
            raise ValueError(
                f"--out {out_dir} holds a manifest that no {command} run wrote ({earlier}): "
                f"this run would replace it and leave its files; choose a new folder, or one "
                f"an earlier {command} run wrote"
            )


def _share(value: float) -> str:
    """An object recall for the log: three decimals, or "-" where no landslide was seen."""
    return "- (no landslide seen)" if not np.isfinite(value) else f"{value:.3f}"


def _select_members(
    setting: str,
    parent_entry: SettingEntry,
    parent: ManifestModel,
    parent_dir: Path,
    tuned: dict[str, tuple[Member, dict[str, Any]]],
    val: list[Scene],
    config: FinetuneConfig,
) -> tuple[list[str], float, float, float, float, dict[str, Any]]:
    """K and the threshold of ``setting`` chosen again on the held-out scenes, keeping the
    parent's object recall as floor: the chosen members, threshold, F1, object recall, the
    floor and the selection record."""
    names = sorted(parent_entry.members, key=lambda n: (-tuned[n][1]["val_f1"], n))
    names = names[: config.k] if config.k else names
    members = [tuned[n][0] for n in names]
    truths = [s.label > 0 for s in val]
    parent_members = [load_member(parent.member(n), parent_dir) for n in parent_entry.members]
    parent_probs = _mean_probabilities(parent_members, val, setting, config.val_tile)
    seen = [ignored_as_nan(p.copy(), s) for s, p in zip(val, parent_probs, strict=True)]
    floor = _object_recall(seen, truths, parent_entry.threshold)
    scored = (
        presumed_background(val, parent_probs, parent_entry.threshold)
        if config.presume_background
        else list(val)
    )
    probs = [scene_probabilities(members, s, setting, tile=config.val_tile) for s in scored]
    k, threshold, f1, recall, scan = choose_k_and_threshold(
        probs, truths, floor, parent_entry.threshold
    )
    record = {
        "k": k,
        "threshold": threshold,
        "f1": round(f1, 4),
        "candidates": names,
        **scan,
        "object_recall_floor": floor,
        "object_recall": recall,
        "val_known_share": _known_share(scored),
        "parent": {"members": parent_entry.members, "threshold": parent_entry.threshold},
    }
    return names[:k], threshold, f1, recall, floor, record


def _save_members(
    chosen: list[str],
    tuned: dict[str, tuple[Member, dict[str, Any]]],
    parent: ManifestModel,
    out_dir: Path,
) -> list[MemberEntry]:
    """Save the chosen fine-tuned members' weights into ``out_dir``; their manifest entries
    (names and epochs of the parent's, origin ``finetuned:...``, or the parent's origin for a
    member whose epoch 0, the parent's weights, was kept; ``val_f1`` is the kept epoch's F1 on
    the reviewed held-out scenes, the parent's own there for epoch 0)."""
    entries: list[MemberEntry] = []
    for name in chosen:
        member, record = tuned[name]
        old = parent.member(name)
        file = f"{name}.safetensors"
        sha = save_member_weights(member, out_dir / file, metadata={"name": name})
        unchanged = record["best_epoch"] == 0 or old.origin.startswith("finetuned")
        origin = old.origin if unchanged else f"finetuned:{old.origin}"
        new_entry = member_entry(
            member, file, sha, val_f1=record["val_f1"], origin=origin, epochs=old.epochs
        )
        entries.append(new_entry.model_copy(update={"name": name}))  # imported names stay
    return entries


def _inherited_filter(
    parent: ManifestModel, manifest: Path, out_dir: Path
) -> ObjectFilterEntry | None:
    """The parent's object filter (and its table of training candidates), copied beside the new
    manifest with their checksums and cut unchanged and marked as inherited. Refit it on the
    parent, whose candidates were reviewed, before fine-tuning (``python -m
    monitor.ops.filter_refit``, which refuses members fine-tuned on the same scenes;
    docs/models.md, "Improve the model from your reviews")."""
    entry = parent.object_filter
    if entry is None:
        return None
    update: dict[str, Any] = {"fit": {**entry.fit, "inherited_from": str(manifest)}}
    for key, name in (("file", entry.file), ("candidates", entry.candidates)):
        if name is None:
            continue
        source = manifest.parent / name
        target = out_dir / Path(name).name
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        update[key] = target.name
    return entry.model_copy(update=update)
