"""The ignore label (255): no loss of the zoo takes a gradient from it, the Ganerød-layout files
keep it, and no score counts it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from models.baselines import BASELINES, BaselineModel, fit_baseline
from models.datasets import IGNORE, CropSampler, Scene, read_scene, write_scene
from models.feature_stack import MODEL_BANDS
from models.manifest import load_member, read_manifest
from models.metrics import false_objects, paired_count_difference
from models.testing import build_untrained_ensemble
from models.train import evaluate_member
from models.zoo import LOSSES, build_loss


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, 16, 16, generator=g)
    target = (torch.rand(2, 1, 16, 16, generator=g) > 0.6).float()
    ignored = torch.zeros_like(target, dtype=torch.bool)
    ignored[0, :, :6] = True  # a band of one image
    ignored[1, :, 3:9, 4:12] = True  # a block of the other
    return logits, target, ignored


@pytest.mark.parametrize("name", list(LOSSES))
def test_ignored_pixels_contribute_no_gradient(name: str) -> None:
    logits, target, ignored = _batch(1)
    weak = target.clone()
    weak[ignored] = IGNORE
    x = logits.clone().requires_grad_(True)
    loss = build_loss(name)(x, weak)
    loss.backward()
    assert x.grad is not None
    assert float(x.grad[ignored].abs().max()) == 0.0
    assert float(x.grad[~ignored].abs().max()) > 0.0  # the known pixels do train
    # the loss does not see the logits under the ignored pixels
    moved = logits.clone()
    moved[ignored] += 7.0 * torch.randn(int(ignored.sum()), generator=torch.Generator())
    with torch.no_grad():
        again = build_loss(name)(moved, weak)
    assert float(again) == pytest.approx(float(loss.detach()), rel=1e-5, abs=1e-6)
    # and it is the loss of the known pixels alone
    known = LOSSES[name]()(logits[~ignored].view(1, 1, -1, 1), target[~ignored].view(1, 1, -1, 1))
    assert float(loss.detach()) == pytest.approx(float(known), rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_without_ignored_pixels_the_loss_is_smps(name: str) -> None:
    logits, target, _ = _batch(2)
    assert float(build_loss(name)(logits, target)) == float(LOSSES[name]()(logits, target))


def test_label_files_keep_the_ignore_value(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    scene = scene_factory(3, size=64)
    ignore = np.zeros(scene.label.shape, bool)
    ignore[10:20, 10:30] = True
    weak = Scene(scene.id, scene.image, scene.label, scene.crs, scene.transform, ignore)
    write_scene(tmp_path, weak)
    back = read_scene(tmp_path, scene.id)
    assert back.ignore is not None and np.array_equal(back.ignore, ignore)
    assert set(np.unique(back.label)) <= {0, 1}
    assert np.array_equal(back.target[ignore], np.full(int(ignore.sum()), IGNORE))
    # crops carry the ignore value to the loss, and are anchored on landslide pixels
    sampler = CropSampler([back], "all", 32, seed=0)
    _, y = sampler.sample(8)
    assert set(np.unique(y)) <= {0.0, 1.0, float(IGNORE)}
    assert all((crop == 1).any() for crop in y)


@pytest.mark.parametrize(
    ("unknown_rows", "landslide", "by_dataset", "warned"),
    [
        ((10, 14), False, False, True),  # a mask of 0 and 255: its landslides read as unknown
        ((10, 14), True, False, False),  # a weak label: landslides 1, unknown 255
        ((0, 40), False, False, False),  # mostly unknown, as a review leaves a scene
        (None, False, False, False),  # a scene without landslide
        ((10, 14), False, True, False),  # the first, written by the dataset command
    ],
)
def test_a_label_that_looks_like_a_0_255_mask_is_warned(
    tmp_path: Path,
    scene_factory: Callable[..., Scene],
    caplog: pytest.LogCaptureFixture,
    unknown_rows: tuple[int, int] | None,
    landslide: bool,
    by_dataset: bool,
    warned: bool,
) -> None:
    """Found by a review: a mask of 0 and 255, as many tools write one, read as a scene with
    no landslide and its landslides unknown, without a word: trained on, it taught nothing;
    scored, it counted nothing. Refusing it would refuse scenes of the `dataset` command that
    are 0/255 by design (a reviewed scene whose candidates were all dismissed), so it is warned
    where 255 covers less than half of a label without a 1 and no provenance record of the
    `dataset` command lies beside the scene."""
    from models.datasets import provenance_path

    scene = scene_factory(3, size=64)
    if by_dataset:  # the record the dataset command writes last, beside the scene
        provenance_path(tmp_path, scene.id).parent.mkdir(parents=True)
        provenance_path(tmp_path, scene.id).write_text("{}")
    label = np.zeros_like(scene.label)
    label[30:34, 30:34] = 1 if landslide else 0
    ignore = np.zeros(label.shape, bool)
    if unknown_rows is not None:
        ignore[unknown_rows[0] : unknown_rows[1]] = True
    write_scene(tmp_path, Scene(scene.id, scene.image, label, scene.crs, scene.transform, ignore))
    with caplog.at_level("WARNING", logger="models.datasets"):
        read_scene(tmp_path, scene.id)
    said = [r.getMessage() for r in caplog.records if "no landslide pixel" in r.getMessage()]
    assert len(said) == int(warned)
    if warned:
        assert "256 pixel(s) of 4096 are 255 (unknown)" in said[0]
        assert '--calc "A>0"' in said[0]


def test_scores_leave_ignored_pixels_out(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    manifest = build_untrained_ensemble(tmp_path / "ens", settings=("S2",), architectures=("Unet",))
    entry = read_manifest(manifest).members[0]
    member = load_member(entry, manifest.parent)
    scene = scene_factory(4, size=64, nan_corner=False)
    full = evaluate_member(member, [scene], "S2")
    ignore = np.zeros(scene.label.shape, bool)
    ignore[:, :32] = True
    half = Scene(scene.id, scene.image, scene.label, scene.crs, scene.transform, ignore)
    counted = evaluate_member(member, [half], "S2")
    total = counted.tp + counted.fp + counted.fn + counted.tn
    assert total == 64 * 32 == (full.tp + full.fp + full.fn + full.tn) // 2


def test_false_objects_and_their_paired_bootstrap() -> None:
    truth = np.zeros((20, 20), bool)
    truth[2:5, 2:5] = True
    pred = np.zeros_like(truth)
    pred[3:6, 3:6] = True  # touches the landslide
    pred[10:12, 10:12] = True  # a false alarm
    pred[15:17, 2:4] = True  # another, unless unknown
    assert false_objects(pred, truth) == 2
    known = np.ones_like(truth)
    known[14:18, 0:6] = False
    assert false_objects(pred, truth, known) == 1
    d = paired_count_difference([0, 1, 0, 2], [3, 3, 2, 4], resamples=2000)
    assert d["difference"] == -9
    assert d["fewer"] == 4
    assert d["high"] < 0  # every resample has fewer false objects


def test_baseline_thresholds_are_fitted_on_the_known_pixels(tmp_path: Path) -> None:
    """Found walking the layout: the threshold baseline of `evaluate --val` and of
    `detect --stack --baseline` was fitted with the ignored pixels as background."""
    image = np.zeros((15, 20, 20), np.float32)
    image[MODEL_BANDS.index("slope")] = 20.0
    dndvi = image[MODEL_BANDS.index("dNDVI")]
    dndvi[2:6, 2:6] = -0.5  # the landslide
    dndvi[10:16, 10:16] = -0.16  # a change of unknown class (255 in the label)
    label = np.zeros((20, 20), np.uint8)
    label[2:6, 2:6] = 1
    ignore = np.zeros((20, 20), bool)
    ignore[10:16, 10:16] = True
    scene = Scene("weak", image, label, ignore=ignore)
    valid = [np.isfinite(scene.channels("S2")).all(axis=0)]  # as evaluate and detect pass it
    params, f1 = fit_baseline(BASELINES["S2"], [scene], valid)
    # the first candidate finds the landslide and no background: counted as background, the
    # unknown change would have pushed the threshold below it, to -0.175
    assert params == {"dndvi": -0.025, "slope": 0.0} and f1 == 1.0
    write_scene(tmp_path, scene)
    assert BaselineModel.fitted(tmp_path).params["S2"] == {"dndvi": -0.025, "slope": 0.0}
