"""The ONNX Runtime engine: every architecture exports and matches torch, graphs are cached by
content, and anything the exporter cannot do falls back to torch with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from models import inference, onnx_engine
from models.ensemble import Ensemble
from models.inference import predict_members, resolve_engine
from models.onnx_engine import cache_dir, graph_key, onnx_member
from models.testing import TEST_ENCODER, build_untrained_ensemble
from models.zoo import ARCHITECTURES, COMPACT_DECODERS, Member, MemberSpec


def _member(arch: str = "Unet", mean: tuple[float, float] = (0.1, -0.2), seed: int = 0) -> Member:
    torch.manual_seed(seed)
    spec = MemberSpec(arch, TEST_ENCODER, "Dice", 0.01, "S2", 2, dict(COMPACT_DECODERS[arch]))
    return Member(spec, list(mean), [2.0, 0.5]).eval()


def _input(h: int = 150, w: int = 140) -> np.ndarray:
    x = np.random.default_rng(1).normal(size=(2, h, w)).astype(np.float32)
    x[:, 3:6, 7:9] = np.nan
    return x


def _no_torch(net: torch.nn.Module, device: torch.device) -> None:
    raise AssertionError(f"{type(net).__name__} ran in torch")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_runs_in_onnxruntime_like_torch(
    arch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member, x = _member(arch), _input()
    with monkeypatch.context() as patch:
        patch.setattr(inference, "_torch_runner", _no_torch)  # no silent fallback
        fast = predict_members([member], x, tile=128, overlap=16, engine="onnxruntime")
    ref = predict_members([member], x, tile=128, overlap=16, engine="torch")
    assert np.isnan(fast).sum() == np.isnan(ref).sum() == 6
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-4)


def test_graphs_are_cached_by_content(monkeypatch: pytest.MonkeyPatch) -> None:
    member, x = _member(), _input()
    first = predict_members([member], x, tile=128, overlap=16)
    assert (cache_dir() / f"{graph_key(member, (1, 2, 128, 128))}.onnx").is_file()
    # another shape and other weights are other graphs; the same weights are one
    assert graph_key(member, (1, 2, 128, 96)) != graph_key(member, (1, 2, 128, 128))
    assert graph_key(_member(seed=1), (1, 2, 128, 128)) != graph_key(member, (1, 2, 128, 128))
    assert graph_key(_member(seed=0), (1, 2, 128, 128)) == graph_key(member, (1, 2, 128, 128))

    def refuse(*_: object) -> bytes:
        raise AssertionError("exported although the graph is cached")

    monkeypatch.setattr(onnx_engine, "_export", refuse)
    again = predict_members([member], x, tile=128, overlap=16)
    np.testing.assert_array_equal(again, first)


def test_a_short_last_batch_is_padded_for_the_fixed_shape_graph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    member, x = _member(), _input(250, 140)  # 3 x 2 tiles: batches of 4 and 2
    with monkeypatch.context() as patch:
        patch.setattr(inference, "_torch_runner", _no_torch)
        fast = predict_members([member], x, tile=128, overlap=16, batch_size=4)
    ref = predict_members([member], x, tile=128, overlap=16, batch_size=4, engine="torch")
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-4)


def test_auto_runs_a_stack_of_one_small_tile_in_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    member, x = _member(), _input(90, 100)  # one 96 x 128 tile: a graph shape of its own
    asked: list[tuple[int, ...]] = []

    def record(m: Member, shape: tuple[int, ...], **_: object) -> None:
        asked.append(shape)

    with monkeypatch.context() as patch:
        patch.setattr(inference, "onnx_member", record)
        small = predict_members([member], x, tile=128, overlap=16)
        assert asked == []
        predict_members([member], _input(90, 140), tile=128, overlap=16)  # two 96 x 128 tiles
        predict_members([member], _input(), tile=128, overlap=16)  # standard 128 x 128 tiles
    assert asked == [(1, 2, 96, 128), (1, 2, 128, 128)]
    ref = predict_members([member], x, tile=128, overlap=16, engine="torch")
    np.testing.assert_array_equal(small, ref)
    with monkeypatch.context() as patch:  # asked for by name, ONNX Runtime runs it anyway
        patch.setattr(inference, "_torch_runner", _no_torch)
        forced = predict_members([member], x, tile=128, overlap=16, engine="onnxruntime")
    np.testing.assert_allclose(forced, ref, rtol=0, atol=1e-4)


def test_a_truncated_cache_file_is_exported_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(onnx_engine.CACHE_ENV, str(tmp_path))
    member, shape = _member(), (1, 2, 128, 128)
    graph = onnx_member(member, shape)
    assert graph is not None
    size = graph.path.stat().st_size
    graph.path.write_bytes(graph.path.read_bytes()[: size // 3])
    with caplog.at_level(logging.WARNING, logger="models.onnx_engine"):
        again = onnx_member(member, shape)
    assert again is not None and again.path.stat().st_size == size
    assert "ignoring unreadable cached graph" in caplog.text


def test_a_failed_export_runs_the_member_in_torch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(onnx_engine.CACHE_ENV, str(tmp_path))

    def fail(*_: object) -> bytes:
        raise RuntimeError("unsupported operator aten::mystery\nstack trace")

    monkeypatch.setattr(onnx_engine, "_export", fail)
    member, x = _member(), _input()
    with caplog.at_level(logging.WARNING, logger="models.onnx_engine"):
        out = predict_members([member], x, tile=128, overlap=16, engine="onnxruntime")
    assert "ONNX export failed (RuntimeError: unsupported operator aten::mystery)" in caplog.text
    ref = predict_members([member], x, tile=128, overlap=16, engine="torch")
    np.testing.assert_array_equal(out, ref)
    assert not list(tmp_path.rglob("*.onnx"))


def test_a_graph_that_disagrees_with_torch_is_not_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(onnx_engine.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(onnx_engine, "_agrees", lambda *_: 0.2)
    with caplog.at_level(logging.WARNING, logger="models.onnx_engine"):
        assert onnx_member(_member(), (1, 2, 128, 128)) is None
    assert "differs from torch by 0.2 in probability" in caplog.text
    assert not list(tmp_path.rglob("*.onnx"))


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
def test_members_sharing_a_normalisation_equal_members_run_alone(
    engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch is normalised once per distinct normalisation; a member with other
    statistics and a plain module (which normalises itself) keep their own."""
    # the networks of the parametrised test above: their graphs are in the session's cache
    shared_a, shared_b = _member("Unet"), _member("Linknet")
    other = _member("FPN", mean=(5.0, 5.0))
    plain = torch.nn.Conv2d(2, 1, 3, padding=1)
    members = [shared_a, other, plain, shared_b]
    x = _input()
    groups = inference._plan(members, (1, 2, 128, 128), torch.device("cpu"), engine, 1)
    assert [[k for k, _ in runners] for _, runners in groups] == [[0, 3], [1], [2]]
    in_torch: list[torch.nn.Module] = []
    torch_runner = inference._torch_runner

    def recording(net: torch.nn.Module, device: torch.device) -> inference._Runner:
        in_torch.append(net)
        return torch_runner(net, device)

    monkeypatch.setattr(inference, "_torch_runner", recording)
    together = predict_members(members, x, tile=128, overlap=16, engine=engine)
    expected = {
        "onnxruntime": [plain],  # not a Member (no spec, own normalisation): torch
        "torch": [shared_a.net, other.net, plain, shared_b.net],
    }
    assert in_torch == expected[engine]
    monkeypatch.undo()
    for k, m in enumerate(members):
        alone = predict_members([m], x, tile=128, overlap=16, engine="torch")[0]
        np.testing.assert_allclose(together[k], alone, rtol=0, atol=1e-4)


def test_engine_choice_and_its_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_engine("auto", cpu) == "onnxruntime"
    assert resolve_engine("auto", cuda) == "torch"
    assert resolve_engine("torch", cpu) == "torch"
    with pytest.raises(ValueError, match="one of auto, torch, onnxruntime; got 'tf'"):
        resolve_engine("tf", cpu)
    with pytest.raises(ValueError, match="runs on CPU only; the device is cuda"):
        resolve_engine("onnxruntime", cuda)
    monkeypatch.setattr(inference, "onnxruntime_available", lambda: False)
    assert resolve_engine("auto", cpu) == "torch"
    with pytest.raises(ValueError, match="needs the onnxruntime package"):
        resolve_engine("onnxruntime", cpu)
    manifest = build_untrained_ensemble(tmp_path, settings=("S2",), architectures=("Unet",))
    with pytest.raises(ValueError, match="got 'fast'"):
        Ensemble.load(manifest, engine="fast")
