"""Training, selection and threshold calibration."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import torch

from models.datasets import CropSampler, Scene
from models.ensemble import Ensemble
from models.grid import GridConfig, expand
from models.metrics import best_threshold
from models.selection import assemble_ensemble, choose_k, top_k
from models.testing import TEST_ENCODER
from models.train import TrainConfig, TrainResult, train_member
from models.zoo import COMPACT_DECODERS, Member, MemberSpec, build_loss


def _spec(arch: str = "Unet", loss: str = "Dice", setting: str = "S2") -> MemberSpec:
    n = {"S2": 2, "S1": 9}[setting]
    return MemberSpec(arch, TEST_ENCODER, loss, 0.01, setting, n, dict(COMPACT_DECODERS[arch]))


def test_smart_crops_always_hold_a_landslide(scene_factory: Callable[..., Scene]) -> None:
    scenes = [scene_factory(i, size=80, n_slides=1) for i in range(3)]
    scenes.append(Scene("empty", scenes[0].image.copy(), np.zeros((80, 80), np.uint8)))
    sampler = CropSampler(scenes, "S2", crop=32, seed=5)
    x, y = sampler.sample(64)
    assert x.shape == (64, 2, 32, 32) and y.shape == (64, 1, 32, 32)
    assert (y.reshape(64, -1).sum(axis=1) > 0).all()
    x2, _ = CropSampler(scenes, "S2", crop=32, seed=5).sample(64)
    np.testing.assert_array_equal(np.nan_to_num(x), np.nan_to_num(x2))  # deterministic


def test_a_short_training_run_lowers_the_loss(scene_factory: Callable[..., Scene]) -> None:
    scenes = [scene_factory(i) for i in range(4)]
    spec = _spec()
    member = Member(spec, [0.0, 0.0], [1.0, 0.2])
    sampler = CropSampler(scenes, "S2", crop=64, seed=0)
    x, y = (torch.from_numpy(a) for a in sampler.sample(8))
    loss_fn = build_loss("Dice")
    opt = torch.optim.Adam(member.parameters(), lr=0.01)
    # The loss on a fixed batch, normalised by its own statistics (train-mode batch norm): in
    # eval mode the running statistics lag 40 quickly changing steps, and where they stand at
    # step 40 depends on the CPU's rounding (on an Intel Xeon the eval-mode loss was 0.41 at
    # step 30, 0.83 at 40 and 0.03 at 60, while the batch-normalised one fell 0.82, 0.48, 0.09,
    # 0.05, 0.04, 0.03 over steps 10 to 60).
    member.train()
    with torch.no_grad():
        before = float(loss_fn(member(x), y))
    for _ in range(40):
        xb, yb = (torch.from_numpy(a) for a in sampler.sample(4))
        loss = loss_fn(member(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = float(loss_fn(member(x), y))
    assert after < 0.3 * before, (before, after)


def test_a_crop_the_network_cannot_take_is_raised_with_a_warning(
    scene_factory: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walkthrough: PAN was trained on crops of 128 px where the grid asked for 64,
    without a word."""
    import logging

    from models.train import _setup

    scenes = [scene_factory(i, size=160) for i in range(2)]
    with caplog.at_level(logging.WARNING, logger="models.train"):
        run = _setup(_spec("PAN"), scenes, TrainConfig(crop=64))
    assert run.sampler.crop == 128
    assert (
        f"{_spec('PAN').name}: crops of 128 px, not the grid's 64: PAN takes inputs of 128 px"
        in (caplog.text)
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="models.train"):
        _setup(_spec("Unet"), scenes, TrainConfig(crop=64))
    assert "crops of" not in caplog.text


def test_train_member_keeps_the_best_epoch_and_resumes(
    tmp_path: Path, scene_factory: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    train = [scene_factory(i) for i in range(3)]
    val = [scene_factory(10 + i) for i in range(2)]
    cfg = TrainConfig(crop=64, iterations=15, max_epochs=3, patience=2, val_tile=128)
    with caplog.at_level("INFO", logger="models.train"):
        result = train_member(_spec(), train, val, tmp_path, cfg, progress=False, log_epochs=True)
    assert result.epochs <= 3 and 1 <= result.best_epoch <= result.epochs
    best = max(cast(float, h["val_f1"]) for h in result.history)  # every epoch scored
    # a worker's (no bar), a line an epoch: found in a walk, minutes of silence
    epochs = [r.getMessage() for r in caplog.records if ": epoch " in r.getMessage()]
    first = result.history[0]
    assert len(epochs) == result.epochs
    assert epochs[0] == (
        f"{_spec().name}: epoch 1 of at most 3, loss {first['loss']:.3f}, val F1 "
        f"{first['val_f1']:.3f} (best {first['val_f1']:.3f})"
    )
    assert result.val_f1 == pytest.approx(best)
    assert result.val_f1 > 0.3  # the signal is strong: a few epochs find it
    saved = json.loads((tmp_path / _spec().name / "result.json").read_text())
    assert saved["sha256"] == result.sha256
    # a rerun returns the finished result without training
    again = train_member(_spec(), train, val, tmp_path, cfg, progress=False)
    assert again.sha256 == result.sha256 and again.seconds == result.seconds
    # another schedule is another model: retrained, not reused
    shorter = TrainConfig(crop=64, iterations=5, max_epochs=1, patience=2, val_tile=128)
    other = train_member(_spec(), train, val, tmp_path, shorter, progress=False)
    assert other.epochs == 1 and other.config["iterations"] == 5
    assert other.sha256 != result.sha256
    # other scenes are other data: retrained (found by a new user: a work folder reused for a
    # new inventory returned the old members, and the manifest named the new scenes)
    fresh = train_member(_spec(), [scene_factory(20 + i) for i in range(3)], val, tmp_path,
                         shorter, progress=False)  # fmt: skip
    assert fresh.data != other.data and fresh.seconds != other.seconds
    assert fresh.sha256 != other.sha256
    # a result of an earlier version (no fingerprint) is kept, not retrained (found in review:
    # the upgrade threw finished members away)
    path = tmp_path / _spec().name / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "data": ""}))
    kept = train_member(_spec(), [scene_factory(30 + i) for i in range(3)], val, tmp_path,
                        shorter, progress=False)  # fmt: skip
    assert kept.sha256 == fresh.sha256 and kept.data == ""


def test_interrupted_training_resumes_to_the_same_weights(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    train = [scene_factory(i) for i in range(2)]
    val = [scene_factory(10)]
    full = TrainConfig(crop=64, iterations=6, max_epochs=2, patience=5, val_tile=128)
    first = train_member(_spec(), train, val, tmp_path / "a", full, progress=False)
    _train_one_epoch_then_crash(_spec(), train, val, tmp_path / "c", full)
    assert (tmp_path / "c" / _spec().name / "state.pt").exists()
    resumed = train_member(_spec(), train, val, tmp_path / "c", full, progress=False)
    for got, want in zip(resumed.history, first.history, strict=True):
        assert got["epoch"] == want["epoch"]
        assert got["loss"] == pytest.approx(want["loss"], rel=1e-5)
        assert got["val_f1"] == pytest.approx(want["val_f1"], rel=1e-5)
    assert resumed.sha256 == first.sha256


def _train_one_epoch_then_crash(
    spec: MemberSpec, train: list[Scene], val: list[Scene], folder: Path, cfg: TrainConfig
) -> None:
    import models.train as train_module

    real = train_module._save_state
    calls = {"n": 0}

    def save_then_crash(path: Path, state: dict) -> None:
        real(path, state)
        calls["n"] += 1
        raise KeyboardInterrupt

    train_module._save_state = save_then_crash
    try:
        with pytest.raises(KeyboardInterrupt):
            train_member(spec, train, val, folder, cfg, progress=False)
    finally:
        train_module._save_state = real
    assert calls["n"] == 1


def _result(name_arch: str, loss: str, f1: float, setting: str = "S2") -> TrainResult:
    return TrainResult(_spec(name_arch, loss, setting), f1, 1, 1, 1.0, Path("x"), "0" * 64)


def test_top_k_ranks_by_validation_f1_per_setting() -> None:
    results = [
        _result("Unet", "Dice", 0.41),
        _result("FPN", "BCE", 0.73),
        _result("PAN", "Focal", 0.55),
        _result("Linknet", "Lovasz", 0.69),
        _result("Unet", "BCE", 0.99, setting="S1"),
    ]
    best = top_k(results, "S2", 3)
    assert [r.val_f1 for r in best] == [0.73, 0.69, 0.55]
    assert [r.spec.architecture for r in best] == ["FPN", "Linknet", "PAN"]
    assert len(top_k(results, "S2", 20)) == 4
    assert [r.val_f1 for r in top_k(results, "S1", 5)] == [0.99]
    with pytest.raises(ValueError, match="k must be at least 1"):
        top_k(results, "S2", 0)


def test_best_threshold_maximises_pooled_f1() -> None:
    truth = np.array([[1, 1, 0, 0, 0, 0]], bool)
    prob = np.array([[0.9, 0.35, 0.3, 0.1, np.nan, 0.2]], np.float32)
    t, f1 = best_threshold([prob], [truth])
    # at t <= 0.30 one false positive (F1 0.8); 0.31..0.35 catches both and nothing else
    assert 0.30 < t <= 0.35 and f1 == pytest.approx(1.0)
    t2, f12 = best_threshold([prob], [truth], thresholds=np.array([0.5]))
    assert t2 == 0.5 and f12 == pytest.approx(2 / 3)


def test_assembled_ensemble_lists_the_top_k_and_its_threshold(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    train = [scene_factory(i) for i in range(3)]
    val = [scene_factory(10 + i) for i in range(2)]
    train_options = {"crop": 64, "iterations": 8, "max_epochs": 1, "val_tile": 128}
    grid = GridConfig(settings=["S2"], architectures=["Unet", "FPN"], losses=["Dice", "BCE"],
                      learning_rates=[0.01], encoder=TEST_ENCODER, decoders="compact", k=2,
                      train=train_options)  # fmt: skip
    specs = expand(grid)
    assert len(specs) == 4
    cfg = grid.train_config()
    results = [train_member(s, train, val, tmp_path / "work", cfg, progress=False) for s in specs]
    manifest = assemble_ensemble(results, val, tmp_path / "ens", k=2)
    ens = Ensemble.load(manifest)
    ranked = sorted(results, key=lambda r: -r.val_f1)[:2]
    selection = ens.manifest.training["selection"]["S2"]
    assert selection["k_max"] == 2 and selection["candidates"] == [r.spec.name for r in ranked]
    k = selection["k"]
    assert len(selection["val_f1_by_k"]) == 2
    chosen = ranked[:k]
    assert ens.member_names("S2") == tuple(r.spec.name for r in chosen)
    entry = ens.manifest.settings["S2"]
    assert 0.05 <= entry.threshold <= 0.95 and entry.val_f1 is not None
    # the recorded K is the best of the scan (ties: the larger K), at its own threshold
    assert entry.val_f1 == pytest.approx(max(selection["val_f1_by_k"]), abs=1e-4)
    assert selection["val_f1_by_k"][k - 1] == max(selection["val_f1_by_k"])
    assert entry.threshold == selection["threshold_by_k"][k - 1]
    listed = {m.name: m.val_f1 for m in ens.manifest.members}
    assert listed == {r.spec.name: pytest.approx(r.val_f1) for r in chosen}


def test_choose_k_takes_the_k_with_the_best_validation_f1() -> None:
    truth = np.array([[1, 1, 1, 0, 0, 0]], bool)
    ranked = np.array(
        [
            [[0.9, 0.8, 0.3, 0.7, 0.1, 0.1]],  # alone: best F1 6/7 at t <= 0.30
            [[0.6, 0.2, 0.9, 0.05, 0.6, 0.1]],  # with the first: mean separates the classes
            [[0.1, 0.1, 0.1, 0.9, 0.9, 0.9]],  # a poor third member spoils the mean
        ],
        np.float32,
    )
    k, scan = choose_k([ranked], [truth])
    assert k == 2
    assert [f1 for _, f1 in scan] == pytest.approx([6 / 7, 1.0, 2 / 3])  # K=3: all positive
    # K=2: mean (0.75, 0.5, 0.6 | 0.375, 0.35, 0.1); the first threshold above 0.375 wins
    assert scan[1][0] == pytest.approx(0.38)
    # NaN pixels are ignored; scenes are pooled
    with_nan = ranked.copy()
    with_nan[:, 0, 5] = np.nan
    k, scan = choose_k([with_nan, ranked], [truth, truth])
    assert k == 2 and scan[1][1] == pytest.approx(1.0)


def test_choose_k_prefers_the_larger_k_on_a_tie() -> None:
    truth = np.array([[1, 0, 1, 0]], bool)
    same = np.array([[0.8, 0.3, 0.7, 0.1]], np.float32)
    k, scan = choose_k([np.stack([same, same, same])], [truth])
    assert k == 3 and [f1 for _, f1 in scan] == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="no validation scenes"):
        choose_k([], [])


def _states_at_validation(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, torch.Tensor]]:
    """The member's weights at every validation (after each epoch, and of the average)."""
    import models.train as train_module

    seen: list[dict[str, torch.Tensor]] = []
    real = train_module._val_f1

    def recording(run: object, val: object, config: object) -> float:
        seen.append({k: v.detach().clone() for k, v in run.member.state_dict().items()})  # type: ignore[attr-defined]
        return real(run, val, config)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "_val_f1", recording)
    return seen


def test_averaging_keeps_the_mean_of_the_last_epochs_with_batch_norm_recomputed(
    tmp_path: Path, scene_factory: Callable[..., Scene], monkeypatch: pytest.MonkeyPatch
) -> None:
    from safetensors.torch import load_file

    train = [scene_factory(i) for i in range(2)]
    val = [scene_factory(10)]
    seen = _states_at_validation(monkeypatch)
    # patience 1 would stop a best-epoch run early; an averaging run trains every epoch
    cfg = TrainConfig(crop=64, iterations=4, max_epochs=4, patience=1, val_tile=64,
                      average_last=2)  # fmt: skip
    result = train_member(_spec(), train, val, tmp_path, cfg, progress=False)
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4] and result.epochs == 4
    assert len(seen) == 5  # four epochs, then the average
    assert result.averaged is not None
    assert result.averaged["epochs"] == [3, 4] and result.averaged["kept"] is True
    assert result.best_epoch == 4 and result.val_f1 == result.averaged["val_f1"]
    assert result.config["average_last"] == 2
    kept = load_file(str(result.weights))
    params = {name for name, _ in Member(_spec(), [0.0, 0.0], [1.0, 1.0]).named_parameters()}
    for name in params:  # the parameters: the mean of epochs 3 and 4, exactly as averaged
        want = (seen[2][name] + seen[3][name]) / 2
        torch.testing.assert_close(kept[name], want, rtol=1e-6, atol=1e-7)
    # the batch-norm statistics are not any epoch's: recomputed over one epoch of crops
    # (a cumulative mean of `iterations` batches), where each epoch's count grew by 4 a step
    counts = [k for k in kept if k.endswith("num_batches_tracked")]
    assert counts and all(int(kept[k]) == cfg.iterations for k in counts)
    assert all(int(seen[3][k]) == 4 * cfg.iterations for k in counts)
    means = [k for k in kept if k.endswith("running_mean")]
    assert means and any(not torch.equal(kept[k], seen[3][k]) for k in means)
    # the kept weights are the ones the average was scored with
    for name, value in seen[4].items():
        torch.testing.assert_close(kept[name], value, rtol=0, atol=0)


@pytest.mark.parametrize("crash_after", [2, 3])  # within the window; after its last epoch
def test_an_averaging_run_resumes_to_the_same_weights(
    tmp_path: Path, scene_factory: Callable[..., Scene], crash_after: int
) -> None:
    train = [scene_factory(i) for i in range(2)]
    val = [scene_factory(10)]
    cfg = TrainConfig(crop=64, iterations=4, max_epochs=3, patience=5, val_tile=64,
                      average_last=2)  # fmt: skip
    first = train_member(_spec(), train, val, tmp_path / "a", cfg, progress=False)
    import models.train as train_module

    real = train_module._save_state
    saved = {"n": 0}

    def crash(path: Path, state: dict) -> None:
        real(path, state)
        saved["n"] += 1
        if saved["n"] == crash_after:
            raise KeyboardInterrupt

    train_module._save_state = crash
    try:
        with pytest.raises(KeyboardInterrupt):
            train_member(_spec(), train, val, tmp_path / "c", cfg, progress=False)
    finally:
        train_module._save_state = real
    assert (tmp_path / "c" / _spec().name / "state.pt").exists()
    assert not (tmp_path / "c" / _spec().name / "result.json").exists()
    resumed = train_member(_spec(), train, val, tmp_path / "c", cfg, progress=False)
    assert resumed.averaged == first.averaged
    assert resumed.sha256 == first.sha256


def test_average_last_is_checked_and_recorded_only_when_set() -> None:
    with pytest.raises(ValueError, match=r"average_last must lie in 0..max_epochs \(3\), got 4"):
        TrainConfig(max_epochs=3, average_last=4)
    with pytest.raises(ValueError, match="got -1"):
        TrainConfig(average_last=-1)
    # members trained before averaging existed keep matching their recorded schedule
    assert "average_last" not in TrainConfig().schedule()
    assert TrainConfig(average_last=2).schedule()["average_last"] == 2
