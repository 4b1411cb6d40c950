"""Tiled, batched inference of one or more members over an array of any size.

The array is cut into overlapping tiles; every batch of tiles runs through all members before
the next batch is read (one gather, K forward passes); tile outputs are blended with weights
that ignore the outer quarter of every overlap and ramp linearly across the rest, so seams
vanish; pixels where any input channel is NaN get NaN. On CPU the members' networks run in ONNX
Runtime when it is installed (:mod:`models.onnx_engine`; a stack that fits in one tile of its
own shape runs in torch), on CUDA in torch with float16 autocast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from models.onnx_engine import OnnxMember, onnx_member, onnxruntime_available
from models.zoo import SIDE_MULTIPLE, Member

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "ENGINES",
    "check_engine",
    "cpu_cores",
    "default_workers",
    "predict_members",
    "resolve_device",
    "resolve_engine",
    "tile_grid",
]

DEFAULT_TILE = 384
DEFAULT_OVERLAP = 48
ENGINES = ("auto", "torch", "onnxruntime")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means CUDA when present, else CPU. A device that is no torch device, or a CUDA
    device this machine lacks, is a :class:`ValueError` saying so (torch raised a bare
    RuntimeError, or an AssertionError at the first tensor)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(
            f"{str(device)!r} is not a torch device (cpu, cuda, cuda:N, mps)"
        ) from None
    if resolved.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{str(device)!r}: the members run on cpu, cuda or mps")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{str(device)!r}: this machine has no MPS device (Apple silicon)")
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(
                f"{str(device)!r}: this machine has no CUDA device torch can use (a CPU build of "
                "torch, or no driver); leave the device out to run on the CPU"
            )
        if resolved.index is not None and resolved.index >= count:
            raise ValueError(f"{str(device)!r}: this machine has {count} CUDA device(s)")
    return resolved


def tile_grid(length: int, tile: int, overlap: int) -> list[int]:
    """Tile origins along one axis of ``length`` (>= ``tile``): stride ``tile - overlap``, the
    last tile flush with the end."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    origins = list(range(0, length - tile, stride))
    origins.append(length - tile)
    return origins


def _ramp(size: int, overlap: int, ramp_start: bool, ramp_end: bool) -> np.ndarray:
    """Blending weights along one tile axis: 1 inside; across an overlap with a neighbour, 0 for
    the first quarter of the overlap (where zero padding at the tile edge corrupts the output),
    then a linear ramp to 1 by the last quarter. The neighbour's mirror ramp covers the same
    pixels, so the weights never vanish together."""
    w = np.ones(size, np.float32)
    if overlap > 0:
        margin = overlap // 4
        span = max(overlap - 2 * margin, 1)
        r = np.clip((np.arange(overlap, dtype=np.float32) + 0.5 - margin) / span, 0.0, 1.0)
        if ramp_start:
            w[:overlap] = np.minimum(w[:overlap], r)
        if ramp_end:
            w[-overlap:] = np.minimum(w[-overlap:], r[::-1])
    return w


def _round_up(n: int, m: int) -> int:
    return int(math.ceil(n / m) * m)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers(device: torch.device) -> int:
    """Parallel tile workers: one per CPU core on CPU (capped at 8), one on CUDA."""
    if device.type != "cpu":
        return 1
    return min(8, cpu_cores())


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_engine(engine: str) -> str:
    """``engine`` itself, or a ValueError naming the choices."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    return engine


def resolve_engine(engine: str, device: torch.device) -> str:
    """``auto`` is ONNX Runtime on CPU when it is installed, torch otherwise (and on CUDA).
    :func:`predict_members` further runs a stack that fits in one odd-shaped tile in torch."""
    if check_engine(engine) == "torch":
        return "torch"
    if device.type != "cpu":
        if engine == "onnxruntime":
            raise ValueError(f"the onnxruntime engine runs on CPU only; the device is {device}")
        return "torch"
    if onnxruntime_available():
        return "onnxruntime"
    if engine == "onnxruntime":
        raise ValueError("engine 'onnxruntime' needs the onnxruntime package (pip install "
                         "onnxruntime onnx onnxscript), or use engine 'torch'")  # fmt: skip
    return "torch"


_Runner = Callable[[torch.Tensor], np.ndarray]  # normalised batch -> probabilities (B, H, W)


def _torch_runner(net: nn.Module, device: torch.device) -> _Runner:
    use_amp = device.type == "cuda"

    def run(z: torch.Tensor) -> np.ndarray:
        with torch.autocast(device.type, torch.float16, enabled=use_amp):
            return torch.sigmoid(net(z).float())[:, 0].cpu().numpy()

    return run


def _onnx_runner(graph: OnnxMember) -> _Runner:
    def run(z: torch.Tensor) -> np.ndarray:
        n = z.shape[0]
        if n < graph.shape[0]:  # the last, short batch: the graph's batch size is fixed
            z = torch.cat([z, z.new_zeros((graph.shape[0] - n, *z.shape[1:]))])
        return graph.run(z.numpy())[:n]

    return run


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


_Group = tuple[Callable[[torch.Tensor], torch.Tensor], list[tuple[int, _Runner]]]


def _plan(
    members: Sequence[nn.Module],
    shape: tuple[int, int, int, int],
    device: torch.device,
    engine: str,
    threads: int,
) -> list[_Group]:
    """Members grouped by their normalisation, each group's normalisation applied once per batch
    (members of one setting share the statistics of their training set), and each member's
    runner: its network in torch or in ONNX Runtime. Modules that are not :class:`Member` form
    groups of their own and normalise themselves."""
    groups: dict[object, _Group] = {}
    for k, m in enumerate(members):
        m.eval().to(device)
        if not isinstance(m, Member):
            groups[("module", k)] = (_identity, [(k, _torch_runner(m, device))])
            continue
        graph = onnx_member(m, shape, threads=threads) if engine == "onnxruntime" else None
        runner = _onnx_runner(graph) if graph else _torch_runner(m.net, device)
        key = (
            m.norm_mean.cpu().numpy().tobytes(),
            m.norm_std.cpu().numpy().tobytes(),
            m.spec.without_bands,
        )
        groups.setdefault(key, (m.normalise, []))[1].append((k, runner))
    return list(groups.values())


def predict_members(
    members: Sequence[nn.Module],
    x: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    engine: str = "auto",
    workers: int | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Probabilities ``(K, H, W)`` float32 of each member over ``x`` ``(C, H, W)``.

    Members take raw channels (a :class:`models.zoo.Member` carries its normalisation; any
    other module normalises itself) and return logits. NaN where any channel of ``x`` is NaN;
    tiles without any valid pixel are skipped. ``overlap`` defaults to
    ``min(DEFAULT_OVERLAP, tile // 4)``.

    ``engine`` (see :func:`resolve_engine`) runs the members' networks in torch or, on CPU, in
    ONNX Runtime (:mod:`models.onnx_engine`; a member that cannot be exported runs in torch).
    ``auto`` runs a stack that fits in a single tile smaller than ``tile`` in torch: that tile
    is a graph shape of its own, and exporting it costs more than running the one tile in torch
    (docs/models.md, "Engine"). A stack of several tiles uses ONNX Runtime even when its tiles
    are narrower than ``tile``: a watched region keeps its shape, so the cached graph pays for
    itself. ``onnxruntime`` exports for any shape. Each batch of tiles is normalised once per
    distinct normalisation, not once per member. On CPU, ``workers`` threads (default: one per
    core) each run whole tiles through every member with one intra-op thread each: the small
    convolutions of compact members do not parallelise well inside one operation, and on a busy
    machine intra-op threads wait on each other (``bench/bench_inference.py`` measures both;
    docs/models.md, "Speed"). ``batch_size`` defaults to 1 on CPU (the activations of one tile
    stay in cache) and 8 on CUDA, where the forward passes run in float16 autocast."""
    if x.ndim != 3:
        raise ValueError(f"expected a (C, H, W) array, got shape {x.shape}")
    overlap = _checked_overlap(tile, overlap)
    dev = resolve_device(device)
    requested, engine = engine, resolve_engine(engine, dev)
    workers = workers or default_workers(dev)
    batch_size = batch_size or (1 if dev.type == "cpu" else 8)
    x = np.asarray(x, dtype=np.float32)  # before the validity test: what overflows is invalid
    c, h, w = x.shape
    valid = _valid_pixels(x)
    grid = _tiling(h, w, tile, overlap, _min_side(members, tile))
    x, valid = _padded(x, valid, grid)
    th, tw = grid.tile_shape
    if requested == "auto" and len(grid.rows) == len(grid.cols) == 1 and (th, tw) != (tile, tile):
        engine = "torch"
    tiles = [(r, q) for r in grid.rows for q in grid.cols if valid[r : r + th, q : q + tw].any()]
    if not tiles:  # nothing valid: no member needs to run (or be exported)
        return np.full((len(members), h, w), np.nan, np.float32)
    acc = np.zeros((len(members), *grid.shape), np.float32)
    wsum = np.zeros(grid.shape, np.float32)
    threads = 1 if (dev.type == "cpu" and workers > 1) else None
    groups = _plan(
        members, (batch_size, c, th, tw), dev, engine, threads or torch.get_num_threads()
    )
    run = _tile_worker(x, grid, overlap, groups, len(members), dev)
    bar = tqdm(total=len(tiles), desc="tiles", unit="tile", disable=not progress, leave=False)
    batches = list(_batches(tiles, batch_size))
    with _torch_threads(threads), ThreadPoolExecutor(max(1, workers)) as pool:
        for tile_outputs in pool.map(run, batches):
            for r, q, wt, weighted in tile_outputs:
                acc[:, r : r + th, q : q + tw] += weighted
                wsum[r : r + th, q : q + tw] += wt
            bar.update(len(tile_outputs))
    bar.close()
    return _normalised(acc, wsum, valid, h, w)


def _checked_overlap(tile: int, overlap: int | None) -> int:
    """``overlap`` (default ``min(DEFAULT_OVERLAP, tile // 4)``), or a ValueError when the tile
    side or the overlap cannot be used."""
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, tile // 4)
    if tile % SIDE_MULTIPLE:
        raise ValueError(f"tile must be a multiple of {SIDE_MULTIPLE}, got {tile}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap must be in [0, tile/2), got {overlap} for tile {tile}")
    return overlap


def _valid_pixels(x: np.ndarray) -> np.ndarray:
    """``(H, W)``: True where every channel of ``x`` is finite."""
    valid = np.ones(x.shape[1:], bool)
    for channel in x:  # not np.isfinite(x).all(0): that builds a (C, H, W) boolean array first
        valid &= np.isfinite(channel)
    return valid


def _min_side(members: Sequence[nn.Module], tile: int) -> int:
    """The largest minimum input side of the members; a ValueError when ``tile`` is smaller."""
    min_side = max((getattr(m, "min_side", SIDE_MULTIPLE) for m in members), default=SIDE_MULTIPLE)
    if tile < min_side:
        raise ValueError(f"tile {tile} is smaller than a member's minimum input side {min_side}")
    return int(min_side)


@dataclass(frozen=True)
class _Tiling:
    """How an ``(H, W)`` stack is cut: the tile shape (``tile``, or the stack's own shape
    rounded up to a multiple of 32 when smaller), the shape padded to at least one tile, and
    the tile origins along each axis."""

    tile_shape: tuple[int, int]
    shape: tuple[int, int]
    rows: list[int]
    cols: list[int]


def _tiling(h: int, w: int, tile: int, overlap: int, min_side: int) -> _Tiling:
    th = min(tile, max(min_side, _round_up(h, SIDE_MULTIPLE)))
    tw = min(tile, max(min_side, _round_up(w, SIDE_MULTIPLE)))
    hp, wp = max(h, th), max(w, tw)
    return _Tiling((th, tw), (hp, wp), tile_grid(hp, th, overlap), tile_grid(wp, tw, overlap))


def _padded(x: np.ndarray, valid: np.ndarray, grid: _Tiling) -> tuple[np.ndarray, np.ndarray]:
    """``x`` padded with NaN and ``valid`` with False to the grid's shape, ``x`` C-contiguous."""
    _, h, w = x.shape
    hp, wp = grid.shape
    if (hp, wp) != (h, w):
        x = np.pad(x, ((0, 0), (0, hp - h), (0, wp - w)), constant_values=np.nan)
        valid = np.pad(valid, ((0, hp - h), (0, wp - w)))
    return np.ascontiguousarray(x), valid


_TileOutput = tuple[int, int, np.ndarray, np.ndarray]  # row, col, weights, weighted probabilities


def _tile_worker(
    x: np.ndarray,
    grid: _Tiling,
    overlap: int,
    groups: list[_Group],
    n_members: int,
    device: torch.device,
) -> Callable[[list[tuple[int, int]]], list[_TileOutput]]:
    """The function a worker runs on a batch of tile origins: each tile's blending weights and
    its members' probabilities times them, computed in the worker so that the caller's thread
    only adds them up."""
    (th, tw), (hp, wp) = grid.tile_shape, grid.shape
    ramps_y = {r: _ramp(th, overlap, r > 0, r + th < hp) for r in grid.rows}
    ramps_x = {q: _ramp(tw, overlap, q > 0, q + tw < wp) for q in grid.cols}

    def run(batch: list[tuple[int, int]]) -> list[_TileOutput]:
        probs = np.empty((n_members, len(batch), th, tw), np.float32)
        with torch.inference_mode():
            xb = np.stack([x[:, r : r + th, q : q + tw] for r, q in batch])
            xt = torch.from_numpy(xb).to(device, non_blocking=True)
            for normalise, runners in groups:
                z = normalise(xt)
                for k, runner in runners:
                    probs[k] = runner(z)
        tile_outputs = []
        for i, (r, q) in enumerate(batch):
            wt = np.outer(ramps_y[r], ramps_x[q])
            tile_probs = probs[:, i]
            tile_probs *= wt
            tile_outputs.append((r, q, wt, tile_probs))
        return tile_outputs

    return run


def _normalised(acc: np.ndarray, wsum: np.ndarray, valid: np.ndarray, h: int, w: int) -> np.ndarray:
    """The blended sums divided by their weights, NaN where the input is invalid, cropped to
    ``(h, w)``."""
    # in place: a second (K, H, W) array would cost as much again in fresh pages
    probabilities, invalid = acc[:, :h, :w], ~valid[:h, :w]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(probabilities, wsum[None, :h, :w], out=probabilities)
    if invalid.any():
        probabilities[:, invalid] = np.nan
    if acc.shape[1:] == (h, w):
        return acc
    return np.ascontiguousarray(probabilities)


def _batches(items: Sequence[tuple[int, int]], n: int) -> Iterator[list[tuple[int, int]]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])
