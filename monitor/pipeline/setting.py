"""Setting choice: which of the ensemble's settings a region's data supports, and the radar-only
fallback for the pixels an optical setting cannot see.

Ganerød et al., Table 3: the ensemble's settings are tried in the configured order of preference;
an optical setting needs a clear pre- and post-event Sentinel-2 observation on enough of the
region, a radar setting a Sentinel-1 observation in both windows, and no setting is used whose
bands include one that came back entirely NaN. Where an optical setting is chosen and some
pixels are still cloudy, or their last clear optical look predates a change radar saw since
(:func:`stale_optical`), those pixels are predicted by the radar-only fallback (:func:`predict`);
so is the whole of a fallback detection whose optical view is stale as an object
(:func:`stale_objects`). Each detection records the setting most of its pixels came from.

What the choice reads of the configuration is :class:`SettingPolicy` (the ``model:`` section,
:class:`monitor.config.ModelSettings`, is one); the stages never import the configuration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import xarray as xr
from scipy import ndimage

from models.feature_stack import (
    MODEL_BANDS,
    StackAttrs,
    band_names,
    empty_bands,
    footprint,
    optical_clear,
    radar_valid,
)
from monitor.pipeline.dating import SAW_CHANGE_SHARE, day_number, lower_medians
from monitor.pipeline.object_pixels import ObjectPixels
from monitor.pipeline.radar_drop import radar_drops
from monitor.pipeline.vegetation_loss import vegetation_losses
from monitor.sources.base import DataUnavailable

__all__ = [
    "SENSORS_OF_SETTING",
    "UNSEEN_PIXELS",
    "NoUsableSetting",
    "Predictor",
    "SettingChoice",
    "SettingPolicy",
    "choose_setting",
    "coverage",
    "predict",
    "stale_objects",
    "stale_optical",
    "unobserved",
]

log = logging.getLogger(__name__)

#: The attribute of :func:`predict`'s warning record that carries how many pixels were left
#: without a prediction for want of radar: a command that runs the chain over hundreds of
#: scenes (``monitor.ops.filter_fit.collect``) tallies the warnings into one line by it.
UNSEEN_PIXELS = "unseen_pixels"

# The dating bands (models.feature_stack.DATING_VARIABLES) that tell whether an optical view is
# older than a change radar saw.
_STALE_BANDS = ("s1_first_changed", "s2_last_unchanged", "s2_first_changed")


def _can_tell_stale(stack: xr.Dataset) -> bool:
    """Whether the stack has the dating bands that tell a stale optical view."""
    return all(name in stack for name in _STALE_BANDS)


# Which sensors' observations each setting needs (Ganerød et al., Table 3).
SENSORS_OF_SETTING: dict[str, tuple[str, ...]] = {
    "S1": ("radar",),
    "S2": ("optical",),
    "S1+S2": ("radar", "optical"),
    "all": ("radar", "optical"),
}


class SettingPolicy(Protocol):
    """How the setting is chosen: ``setting`` (``auto`` or a fixed one), the ``preference``
    order, the radar-only ``fallback`` and the optical-only ``optical_fallback``, and the
    shares of the region's pixels an optical (``min_clear_fraction``) or radar
    (``min_radar_fraction``) setting needs, and whether the forest backscatter-drop test adds its
    detections (``radar_drop``, :mod:`monitor.pipeline.radar_drop`), and whether large
    vegetation losses do (``vegetation_loss``, :mod:`monitor.pipeline.vegetation_loss`)."""

    @property
    def setting(self) -> str: ...

    @property
    def preference(self) -> Sequence[str]: ...

    @property
    def fallback(self) -> str | None: ...

    @property
    def optical_fallback(self) -> str | None: ...

    @property
    def min_clear_fraction(self) -> float: ...

    @property
    def min_radar_fraction(self) -> float: ...

    @property
    def radar_drop(self) -> bool: ...

    @property
    def vegetation_loss(self) -> bool: ...


class Predictor(Protocol):
    """What the setting's prediction needs of a model: :class:`models.ensemble.Ensemble`, or a
    stand-in with its ``settings`` and ``predict`` (the threshold baseline,
    :class:`models.baselines.BaselineModel`)."""

    @property
    def settings(self) -> tuple[str, ...]: ...

    def predict(self, stack: xr.Dataset, setting: str, *, device: str | None = None) -> xr.Dataset:
        """``probability``, ``spread``, ``agreement`` on the stack's grid; attrs ``threshold``,
        ``setting``."""
        ...


class NoUsableSetting(DataUnavailable):
    """The data of a region supports none of the ensemble's settings."""


@dataclass(frozen=True)
class SettingChoice:
    """The setting to run, why, the coverage it was chosen on, and the fallback if any."""

    setting: str
    reason: str
    optical_fraction: float  # pixels with a clear optical observation in both windows
    radar_fraction: float  # pixels with a radar observation in both windows
    fallback: str | None = None  # radar-only setting for pixels the optical setting cannot see
    optical_fallback: str | None = None  # optical-only setting for pixels without radar
    empty_bands: tuple[str, ...] = ()  # model bands without any valid pixel: never chosen


def coverage(stack: xr.Dataset) -> dict[str, float]:
    """Shares of the pixels the stack covers (some model band known) with a clear ``optical``
    and a valid ``radar`` observation in both windows.

    A pixel without any band lies outside the stack's footprint, not under a cloud: a stack
    exported clipped to a region's outline (Earth Engine's ``clip``, a Ganerød-layout scene)
    holds no data in the rest of its bounding box, and counted as unobserved that made a stack
    whose every pixel inside has radar fall short of ``min_radar_fraction``. The daily run's
    stacks carry their terrain bands over the whole grid, so their shares are those of the
    grid."""
    covered = footprint(stack[name].values for name in MODEL_BANDS)
    pixels = int(covered.sum())

    def share(mask: np.ndarray) -> float:
        return float((mask & covered).sum()) / pixels if pixels else 0.0

    return {"optical": share(optical_clear(stack)), "radar": share(radar_valid(stack))}


def _minimum(model: SettingPolicy) -> dict[str, float]:
    """The least share of pixels each sensor must observe for a setting that uses it."""
    return {"optical": model.min_clear_fraction, "radar": model.min_radar_fraction}


def unobserved(stack: xr.Dataset, model: SettingPolicy) -> str | None:
    """Why no setting of any ensemble could run on ``stack`` (neither sensor reaches its
    minimum share of observed pixels), or None: a region the run cannot see, whatever the
    trigger says, is ``no-data``, not a quiet day."""
    shares = coverage(stack)
    minimum = _minimum(model)
    # a fixed model.setting sees only its own sensors
    sensors = ("optical", "radar") if model.setting == "auto" else SENSORS_OF_SETTING[model.setting]
    if any(shares[s] >= minimum[s] for s in sensors):
        return None
    return (
        f"no sensor has enough data: clear optical {shares['optical']:.0%}, radar "
        f"{shares['radar']:.0%} of the pixels; needed clear optical >= "
        f"{model.min_clear_fraction:.0%} or radar >= {model.min_radar_fraction:.0%}"
    )


def choose_setting(
    stack: xr.Dataset, available: Sequence[str], model: SettingPolicy
) -> SettingChoice:
    """The setting to run on ``stack``, given the ensemble's ``available`` settings.

    A setting that needs a band without any valid pixel (:func:`models.feature_stack.empty_bands`,
    recorded in the stack's status) is never chosen, not even as the fallback: its prediction
    would be NaN everywhere. Raises :class:`NoUsableSetting` naming the coverage found (and the
    empty bands) when nothing qualifies."""
    shares = coverage(stack)
    minimum = _minimum(model)
    empty_list = empty_bands(stack)
    empty = set(empty_list)

    def missing(setting: str) -> list[str]:
        return [b for b in band_names(setting) if b in empty]

    def fallback_for(setting: str, sensor: str, fb: str | None) -> str | None:
        """``fb`` where ``setting`` needs ``sensor``, and ``fb`` is another setting the
        ensemble has with bands to read."""
        uses = sensor in SENSORS_OF_SETTING[setting]
        if uses and fb and fb != setting and fb in available and not missing(fb):
            return fb
        return None

    def choice(setting: str, reason: str) -> SettingChoice:
        return SettingChoice(
            setting,
            reason,
            shares["optical"],
            shares["radar"],
            fallback_for(setting, "optical", model.fallback),
            fallback_for(setting, "radar", model.optical_fallback),
            tuple(empty_list),
        )

    found = f"clear optical {shares['optical']:.0%}, radar {shares['radar']:.0%} of the pixels"
    if empty:
        found += f"; empty bands: {', '.join(empty_list)}"
    if model.setting != "auto":
        if model.setting not in available:
            raise ValueError(
                f"model.setting is {model.setting!r} but the ensemble has only "
                f"{', '.join(available)}"
            )
        if missing(model.setting):
            raise NoUsableSetting(
                f"model.setting {model.setting} needs {', '.join(missing(model.setting))}, which "
                f"came back without any valid pixel ({found})"
            )
        return choice(model.setting, f"fixed by model.setting ({found})")
    skipped: list[str] = []
    for setting in model.preference:
        if setting not in available:
            continue
        if missing(setting):
            skipped.append(f"{setting} (needs {', '.join(missing(setting))})")
            continue
        short = [s for s in SENSORS_OF_SETTING[setting] if shares[s] < minimum[s]]
        if not short:
            reason = found + (f"; not {', '.join(skipped)}" if skipped else "")
            return choice(setting, reason)
    # what each setting the ensemble has would have needed (found on a walkthrough: an
    # ensemble without S1 was told "or radar >= 50%" with radar at 94 %)
    need = {
        "optical": f"clear optical >= {model.min_clear_fraction:.0%}",
        "radar": f"radar >= {model.min_radar_fraction:.0%}",
    }
    wanted = [
        f"{setting} needs {' and '.join(need[s] for s in SENSORS_OF_SETTING[setting])}"
        for setting in model.preference
        if setting in available and not missing(setting)
    ]
    parts = [found, *wanted, *([f"not {', '.join(skipped)}"] if skipped else [])]
    raise NoUsableSetting(
        f"no setting of the ensemble ({', '.join(available)}) has enough data: " + "; ".join(parts)
    )


def stale_optical(stack: xr.Dataset) -> np.ndarray:
    """Pixels whose optical view is older than a change radar saw: a Sentinel-1 scene showed a
    change (``s1_first_changed``) after the last clear Sentinel-2 look, which did not
    (``s2_last_unchanged``, no ``s2_first_changed``). In a monitoring stack the optical post
    image of such a pixel is the latest clear look before clouds came in, perhaps before the
    event; an optical setting sees no change there, the radar-only fallback sees the latest one.
    All False for a stack without event dating."""
    if not _can_tell_stale(stack):
        return np.zeros((stack.sizes["y"], stack.sizes["x"]), bool)
    radar = stack["s1_first_changed"].values
    optical = stack["s2_last_unchanged"].values
    with np.errstate(invalid="ignore"):
        later = radar > optical  # False where either is NaN
    return np.asarray(later & np.isnan(stack["s2_first_changed"].values))


def stale_objects(stack: xr.Dataset, probability: np.ndarray, threshold: float) -> np.ndarray:
    """The radar fallback's detections (8-connected pixels of ``probability`` at or above
    ``threshold``) whose optical view is stale as a whole: the day radar saw the change (the
    lower median of ``s1_first_changed`` over the object's pixels that show it) comes after the
    day of its last clear optical look that did not (the lower median of ``s2_last_unchanged``
    over its pixels without ``s2_first_changed``), and optical saw the change on fewer than
    :data:`monitor.pipeline.dating.SAW_CHANGE_SHARE` of its pixels.

    :func:`stale_optical` asks the same per pixel, where a single Sentinel-1 scene's test flags
    only part of a changed area (speckle): a slide under clouds since the storm would be
    predicted half by radar and half from its pre-event optical view, and fall apart. The
    object's medians ask it once for the detection, as :mod:`monitor.pipeline.dating` dates it.
    All False for a stack without event dating."""
    shape = (stack.sizes["y"], stack.sizes["x"])
    if not _can_tell_stale(stack):
        return np.zeros(shape, bool)
    with np.errstate(invalid="ignore"):
        detected = np.asarray(probability >= threshold)
    labels, n = ndimage.label(detected, structure=np.ones((3, 3), bool))
    if not n:
        return np.zeros(shape, bool)
    index = np.arange(1, n + 1)
    radar_day = lower_medians(stack["s1_first_changed"].values.astype(np.float64), labels, index)
    optical_day, unseen = _optical_view(stack, labels, index)
    with np.errstate(invalid="ignore"):
        stale = (radar_day > optical_day) & unseen
    return np.asarray(np.concatenate([[False], stale])[labels])


def _optical_view(
    stack: xr.Dataset, labels: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per object: the day of its last clear Sentinel-2 look without change (the lower median
    of ``s2_last_unchanged`` over its pixels without ``s2_first_changed``; NaN where it has no
    such look), and whether optical saw the change on fewer than
    :data:`~monitor.pipeline.dating.SAW_CHANGE_SHARE` of its clear pixels."""
    optical_changed = np.isfinite(stack["s2_first_changed"].values)
    last_clear = np.where(optical_changed, np.nan, stack["s2_last_unchanged"].values)
    objects = ObjectPixels(labels, index)
    optical_day = objects.lower_median(last_clear.astype(np.float64))
    seen = objects.count(optical_changed)
    clear = optical_changed | np.isfinite(last_clear)
    looked = objects.count(clear)
    return optical_day, seen < SAW_CHANGE_SHARE * np.maximum(looked, 1)


def _radar_may_follow_optical(stack: xr.Dataset) -> bool:
    """Whether any object can be stale (:func:`stale_objects`): some radar change comes after
    some clear optical look that did not show one. When none does, the fallback's prediction
    is not needed to look for stale objects."""
    if not _can_tell_stale(stack):
        return False
    radar = stack["s1_first_changed"].values
    optical = stack["s2_last_unchanged"].values[~np.isfinite(stack["s2_first_changed"].values)]
    if not (np.isfinite(radar).any() and np.isfinite(optical).any()):
        return False
    return bool(np.nanmax(radar) > np.nanmin(optical))


def predict(
    ensemble: Predictor,
    stack: xr.Dataset,
    choice: SettingChoice,
    device: str | None,
    *,
    radar_drop: bool = False,
    vegetation_loss: bool = False,
) -> xr.Dataset:
    """The ensemble's prediction with the chosen setting, its gaps filled by the fallbacks.

    Pixels the chosen setting leaves NaN, or whose optical view is stale (:func:`stale_optical`,
    and the whole of a fallback detection stale as an object, :func:`stale_objects`), and that
    the radar fallback can see are filled from it, marked by a boolean ``fallback`` variable;
    those filled for a stale optical view are also marked ``optical_stale`` (their post-event
    optical bands show the days before the change; a stale object is marked whole, as its
    medians decided). Looking for stale objects needs the fallback's prediction wherever some
    radar change follows some clear optical look, which in a real stack is nearly always: the
    fallback then runs on clear regions too. Pixels still NaN that have no radar observation
    (a swath edge, a missing scene) but a clear optical view are filled from the optical
    fallback where the choice has one (``model.optical_fallback``, off by default), marked by
    ``optical_fallback``; else they stay NaN, with a warning.

    With ``radar_drop``, the objects of the forest backscatter-drop test
    (:func:`monitor.pipeline.radar_drop.radar_drops`) that are radar's to judge are marked
    ``radar_drop``: the setting is radar-only, or most of the object's pixels are the radar
    fallback's (clouds, a stale optical view), or its optical view is older than the oldest
    scene of its radar post image and did not show a change (the drop is a change in VH,
    which the Sentinel-1 dating, in VV, does not see: the per-pixel stale test cannot tell).
    They are detections whatever the ensemble's probability there (vectorisation reads the
    mask; the probability raster stays the ensemble's), seen by Sentinel-1. Those with an
    older optical view, or mostly the fallback's, are marked ``optical_stale`` (their optical
    bands show the days before the change); under a radar-only setting a drop with a current
    optical view keeps it, so a clear look that is still green rules it out
    (``max_post_ndvi``). Where the optical view is newer than the radar's and an optical
    setting is chosen, that setting judges: leaves turning in autumn lower VH as well.

    With ``vegetation_loss``, the pixels of strong vegetation loss on vegetated slopes
    (:func:`monitor.pipeline.vegetation_loss.vegetation_losses`) are marked
    ``vegetation_loss``; vectorisation adds their objects of a hectare or more that touch no
    detection of the ensemble, whatever its probability there."""
    prediction = ensemble.predict(stack, choice.setting, device=device)
    if choice.fallback is not None:
        prediction = _radar_fill(ensemble, stack, choice.fallback, prediction, device)
    unseen = _without_radar(prediction, stack)
    if unseen.any():
        if choice.optical_fallback is not None:
            backup = ensemble.predict(stack, choice.optical_fallback, device=device)
            why = "without a radar observation"
            _fill(
                stack, prediction, backup, unseen, "optical_fallback", choice.optical_fallback, why
            )
        else:
            # the remedy only where the ensemble has it (found in a walkthrough: an ensemble of
            # S1+S2 members alone was advised S2)
            remedy = (
                "model.optical_fallback: S2 predicts them"
                if "S2" in ensemble.settings
                else "the ensemble has no S2 members to predict them"
            )
            log.warning(
                "%s: %d pixels without a radar observation but with a clear optical view are "
                "left without a prediction by %s (%s)",
                stack.attrs.get("region"),
                int(unseen.sum()),
                choice.setting,
                remedy,
                extra={UNSEEN_PIXELS: int(unseen.sum())},  # a tally of many scenes reads it
            )
    if radar_drop:
        _mark_drops(stack, choice.setting, prediction)
    if vegetation_loss:
        losses = vegetation_losses(stack) & np.isfinite(prediction["probability"].values)
        if losses.any():
            prediction["vegetation_loss"] = (("y", "x"), losses)
    return prediction


def _mark_drops(stack: xr.Dataset, setting: str, prediction: xr.Dataset) -> None:
    """Mark the forest backscatter-drop objects that are radar's to judge (see :func:`predict`)
    as ``radar_drop``, and those whose optical view is older than the radar's (or that the
    radar fallback predicted) as ``optical_stale``."""
    drops = radar_drops(stack) & np.isfinite(prediction["probability"].values)
    if not drops.any():
        return
    labels, n = ndimage.label(drops, structure=np.ones((3, 3), bool))
    index = np.arange(1, n + 1)
    stale = _optical_older(stack, labels, index)
    if "fallback" in prediction:
        by_radar = prediction["fallback"].values.astype(np.float64)
        stale |= ObjectPixels(labels, index).mean(by_radar) > 0.5
    # under a radar-only setting every drop is radar's; else only where the optical view is not
    # current: a newer clear look that saw no change judges (leaves turning lower VH as well)
    keep = np.ones(n, bool) if SENSORS_OF_SETTING[setting] == ("radar",) else stale
    drops = np.concatenate([[False], keep])[labels]
    if not drops.any():
        return
    log.info("%s: %d pixels of forest backscatter drops", stack.attrs.get("region"),
             int(drops.sum()))  # fmt: skip
    prediction["radar_drop"] = (("y", "x"), drops)
    stale_pixels = np.concatenate([[False], keep & stale])[labels]
    prediction["optical_stale"] = (("y", "x"), _stale_mask(prediction) | stale_pixels)


def _stale_mask(prediction: xr.Dataset) -> np.ndarray:
    if "optical_stale" in prediction:
        return np.asarray(prediction["optical_stale"].values, bool)
    return np.zeros(prediction["probability"].shape, bool)


def _optical_older(stack: xr.Dataset, labels: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Per object: its optical view is older than the radar's. The day of its last clear
    Sentinel-2 look without change (the lower median of ``s2_last_unchanged`` over its pixels
    without ``s2_first_changed``; none at all counts as older) comes before the oldest scene of
    its radar post image, and optical saw the change on fewer than :data:`SAW_CHANGE_SHARE` of
    its pixels. The post image of a pixel is the mean of its ``s1_count_post`` latest scenes
    (one per track); the stack records the post window's dates but not which went into each
    pixel, so the oldest is taken as the ``k``-th latest date of the window, ``k`` the largest
    count over the object: right where the tracks take turns and cover the region, too early
    (fewer drops) where one does not. An optical look between the scenes may postdate the one
    that showed the drop. All False for a stack without optical dating or Sentinel-1 dates."""
    no = np.zeros(len(index), bool)
    radar_dates = sorted(StackAttrs.of(stack).dates("s1", "post"))
    if not radar_dates or not all(name in stack for name in _STALE_BANDS[1:]):
        return no
    counts = np.nan_to_num(stack["s1_count_post"].values.astype(np.float64), nan=1.0)
    scenes = ObjectPixels(labels, index).maximum(counts)
    k = np.clip(scenes, 1, len(radar_dates)).astype(int)
    days = np.array([day_number(d) for d in radar_dates])
    radar_day = days[len(days) - k]
    optical_day, unseen = _optical_view(stack, labels, index)
    with np.errstate(invalid="ignore"):
        older = ~(optical_day >= radar_day)  # NaN: no clear look at all
    return np.asarray(older & unseen)


def _without_radar(prediction: xr.Dataset, stack: xr.Dataset) -> np.ndarray:
    """Pixels the prediction leaves NaN that have no radar observation but a clear optical
    view: what the optical fallback would fill."""
    missing: np.ndarray = np.isnan(prediction["probability"].values)
    if not missing.any():  # the usual case: nothing to look for
        return missing
    return np.asarray(missing & optical_clear(stack) & ~radar_valid(stack))


def _fill(
    stack: xr.Dataset,
    prediction: xr.Dataset,
    backup: xr.Dataset,
    fill: np.ndarray,
    name: str,
    setting: str,
    why: str,
) -> None:
    """Fill the ``fill`` pixels of ``prediction`` from the fallback ``setting``'s ``backup``,
    mark them in the variable ``name`` with the attributes ``<name>_setting`` and
    ``<name>_threshold`` that vectorisation reads (``_FALLBACKS`` of
    :mod:`monitor.pipeline.vectorise`), and log ``why``."""
    log.info("%s: %d pixels %s predicted with %s", stack.attrs.get("region"), int(fill.sum()),
             why, setting)  # fmt: skip
    for var in ("probability", "spread", "agreement"):
        prediction[var] = prediction[var].where(~fill, backup[var])
    prediction[name] = (("y", "x"), fill)
    prediction.attrs[f"{name}_setting"] = setting
    prediction.attrs[f"{name}_threshold"] = float(backup.attrs["threshold"])


def _radar_fill(
    ensemble: Predictor,
    stack: xr.Dataset,
    fallback: str,
    prediction: xr.Dataset,
    device: str | None,
) -> xr.Dataset:
    stale = stale_optical(stack)
    radar = radar_valid(stack)
    backup: xr.Dataset | None = None
    if _radar_may_follow_optical(stack) and radar.any():
        backup = ensemble.predict(stack, fallback, device=device)
        stale |= stale_objects(stack, backup["probability"].values, backup.attrs["threshold"])
    fill = (np.isnan(prediction["probability"].values) | stale) & radar
    if not fill.any():
        return prediction
    if backup is None:
        backup = ensemble.predict(stack, fallback, device=device)
    why = "without a clear or current optical view"
    _fill(stack, prediction, backup, fill, "fallback", fallback, why)
    prediction["optical_stale"] = (("y", "x"), stale & radar)
    return prediction
