"""ONNX Runtime as the CPU engine for ensemble members.

A member's network (without its normalisation, which :mod:`models.inference` applies once per
tile for all members that share it) is exported with ``torch.onnx.export`` for one input shape,
with a sigmoid on top, and run by an ``onnxruntime.InferenceSession``, whose fused CPU kernels
run the compact members of the shipped default faster than eager torch (docs/models.md,
"Engine", has the per-tile timings; ``bench/bench_inference.py`` measures the whole pipeline).

Exporting costs far more than running a tile, so graphs are cached on disk, keyed by a SHA-256
of the network's weights, its specification, the input shape and the versions of the packages
the graph depends on (torch, smp, timm, the exporter): a daily run exports once, on its first
day. A freshly exported graph is checked against torch on a random input before it is used or
cached; a member whose export fails or disagrees is run with torch instead, with a warning.
The cache holds ONNX protobuf files, which ONNX Runtime parses as data (no code runs on load);
it lives under ``$LANDSLIDE_MONITOR_CACHE/onnx`` (default
``$XDG_CACHE_HOME/landslide-monitor/onnx``, else ``~/.cache/landslide-monitor/onnx``) and may
be deleted at any time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn

from models.atomic import write_atomically
from models.cache import CACHE_ENV, cache_root
from models.zoo import Member

__all__ = [
    "CACHE_ENV",
    "OnnxMember",
    "OrtSession",
    "cache_dir",
    "graph_key",
    "onnx_member",
    "onnxruntime_available",
]

log = logging.getLogger(__name__)

_FORMAT = "landslide-onnx/2"  # bump when the exported graph changes meaning
# The packages the exported graph depends on: the network's code (smp, timm), the exporter and
# its optimiser. Their versions are part of the cache key.
_GRAPH_PACKAGES = ("torch", "segmentation_models_pytorch", "timm", "onnx", "onnxscript", "onnx_ir")
_RUNTIME_PACKAGES = ("onnxruntime", "onnx", "onnxscript")
_TOLERANCE = 1e-3  # largest probability difference accepted between a fresh export and torch
_export_lock = threading.Lock()  # torch.onnx.export is not thread-safe


def onnxruntime_available() -> bool:
    """Whether the engine can run: ONNX Runtime, and onnx + onnxscript to export graphs."""
    return all(importlib.util.find_spec(name) is not None for name in _RUNTIME_PACKAGES)


def cache_dir() -> Path:
    """Where exported graphs are kept (see the module docstring)."""
    return cache_root() / "onnx"


class _Probability(nn.Module):
    """The exported graph: logits of the member's network through a sigmoid."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(z))


class OrtSession(Protocol):
    """What is used of an ``onnxruntime.InferenceSession`` (onnxruntime ships no types)."""

    def run(
        self, output_names: Sequence[str] | None, input_feed: dict[str, np.ndarray]
    ) -> list[np.ndarray]: ...


class OnnxMember:
    """A member's network as an ONNX Runtime session for one input shape ``(B, C, H, W)``:
    maps normalised inputs to probabilities ``(B, H, W)``. ``run`` is safe to call from several
    threads at once (ONNX Runtime sessions are)."""

    def __init__(self, session: OrtSession, shape: tuple[int, int, int, int], path: Path) -> None:
        self._session = session
        self.shape = shape
        self.path = path

    def run(self, z: np.ndarray) -> np.ndarray:
        out = self._session.run(None, {"z": np.ascontiguousarray(z, dtype=np.float32)})[0]
        return out[:, 0]


@functools.cache
def _versions() -> dict[str, str]:
    return {name: importlib.metadata.version(name) for name in _GRAPH_PACKAGES}


def graph_key(member: Member, shape: Sequence[int]) -> str:
    """SHA-256 over everything the exported graph depends on."""
    h = hashlib.sha256()
    meta = {"format": _FORMAT, "spec": member.spec.to_dict(), "shape": list(shape), **_versions()}
    h.update(json.dumps(meta, sort_keys=True).encode())
    for name, tensor in sorted(member.net.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs every optimisation pass at INFO and warns about its own internals; none
    of it says anything to a user of the monitor. (Warnings are filtered process-wide for the
    export's duration: Python has no per-thread filter.)"""
    loggers = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _export(member: Member, shape: tuple[int, int, int, int]) -> bytes:
    model = _Probability(member.net).eval()
    example = torch.zeros(shape, dtype=torch.float32)
    with _export_lock, _quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            model, (example,), dynamo=True, optimize=True, verbose=False,
            input_names=["z"], output_names=["probability"],
        )  # fmt: skip
        if program is None:
            raise RuntimeError("torch.onnx.export returned no program")
        serialized: bytes = program.model_proto.SerializeToString()  # onnx ships no types
        return serialized


def _session(data: bytes | str, threads: int) -> OrtSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    # idle intra-op threads would spin between the many short runs of a tile loop
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session: OrtSession = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session


@functools.lru_cache(maxsize=64)
def _cached_session(path: str, threads: int) -> OrtSession:
    """Sessions of cached graphs, kept for the process: a daily run predicts every region with
    the same members. The path names the graph's content, so a cached session never goes stale."""
    return _session(path, threads)


def _agrees(member: Member, session: OrtSession, shape: tuple[int, int, int, int]) -> float:
    """Largest probability difference between torch and the session on a random input."""
    z = torch.from_numpy(np.random.default_rng(0).standard_normal(shape, dtype=np.float32))
    with torch.inference_mode():
        expected = _Probability(member.net).eval()(z)[:, 0].numpy()
    got = OnnxMember(session, shape, Path()).run(z.numpy())
    return float(np.abs(got - expected).max())


def onnx_member(
    member: Member, shape: tuple[int, int, int, int], *, threads: int = 1
) -> OnnxMember | None:
    """The member's ONNX Runtime session for inputs of ``shape``, from the cache or freshly
    exported (and cached); ``None`` (with a warning) when the network cannot be exported or its
    export disagrees with torch, so the caller runs it with torch."""
    member = member.cpu().eval()
    path = cache_dir() / f"{graph_key(member, shape)}.onnx"
    if path.is_file():
        try:
            return OnnxMember(_cached_session(str(path), threads), shape, path)
        except Exception as err:  # a truncated or foreign file: export it again
            log.warning("%s: ignoring unreadable cached graph %s (%s); exporting again",
                        member.spec.name, path, err)  # fmt: skip
            path.unlink(missing_ok=True)
    log.info("exporting %s for ONNX Runtime at input shape %s (first use; cached in %s)",
             member.spec.name, shape, path.parent)  # fmt: skip
    try:
        data = _export(member, shape)
        session = _session(data, threads)
        diff = _agrees(member, session, shape)
    except Exception as err:  # the exporter fails in many ways; torch still works
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
        log.warning("%s: ONNX export failed (%s); running it with torch", member.spec.name, reason)
        return None
    if not diff <= _TOLERANCE:
        log.warning("%s: the exported graph differs from torch by %.2g in probability; running "
                    "it with torch", member.spec.name, diff)  # fmt: skip
        return None
    try:
        write_atomically(path, lambda tmp: tmp.write_bytes(data))
    except OSError as err:
        log.warning("cannot cache the exported graph in %s (%s); it is used for this run only",
                    path.parent, err)  # fmt: skip
    return OnnxMember(session, shape, path)
