"""Tiled, batched inference of one or more members over an array of any size.

The array is cut into overlapping tiles; every batch of tiles runs through all members before
the next batch is read (one gather, K forward passes); tile outputs are blended with weights
that ignore the outer quarter of every overlap and ramp linearly across the rest, so seams
vanish; pixels where any input channel is NaN
get NaN. On CUDA the forward passes run in float16 autocast.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_TILE",
    "default_workers",
    "predict_members",
    "resolve_device",
    "tile_grid",
]

DEFAULT_TILE = 384
DEFAULT_OVERLAP = 48
_MULTIPLE = 32  # every smp architecture accepts sides divisible by 2**5


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` means CUDA when present, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def default_workers(device: torch.device) -> int:
    """Parallel tile workers: one per CPU core on CPU (capped at 8), one on CUDA."""
    if device.type != "cpu":
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else os.cpu_count() or 1))  # fmt: skip


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


def predict_members(
    members: Sequence[nn.Module],
    x: np.ndarray,
    *,
    tile: int = DEFAULT_TILE,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    workers: int | None = None,
    progress: bool = False,
    channels_last: bool = False,
) -> np.ndarray:
    """Probabilities ``(K, H, W)`` float32 of each member over ``x`` ``(C, H, W)``.

    Members take raw channels (they normalise themselves, see :class:`models.zoo.Member`) and
    return logits. NaN where any channel of ``x`` is NaN; tiles without any valid pixel are
    skipped. ``overlap`` defaults to ``min(DEFAULT_OVERLAP, tile // 4)``.

    On CPU, ``workers`` threads (default: one per core) each run whole tiles through every
    member with torch's intra-op parallelism set to one thread for the duration of the call:
    the small convolutions of compact members do not parallelise well inside one operation,
    and on a busy machine intra-op threads wait on each other (see ``bench/bench_inference.py``
    for the measured difference). ``batch_size`` defaults to 1 on CPU (the activations of one
    tile stay in cache) and 8 on CUDA."""
    if x.ndim != 3:
        raise ValueError(f"expected a (C, H, W) array, got shape {x.shape}")
    if overlap is None:
        overlap = min(DEFAULT_OVERLAP, tile // 4)
    if tile % _MULTIPLE:
        raise ValueError(f"tile must be a multiple of {_MULTIPLE}, got {tile}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap must be in [0, tile/2), got {overlap} for tile {tile}")
    dev = resolve_device(device)
    workers = workers or default_workers(dev)
    batch_size = batch_size or (1 if dev.type == "cpu" else 8)
    _, h, w = x.shape
    valid = np.isfinite(x).all(axis=0)
    min_side = max((getattr(m, "min_side", _MULTIPLE) for m in members), default=_MULTIPLE)
    if tile < min_side:
        raise ValueError(f"tile {tile} is smaller than a member's minimum input side {min_side}")
    th = min(tile, max(min_side, _round_up(h, _MULTIPLE)))
    tw = min(tile, max(min_side, _round_up(w, _MULTIPLE)))
    hp, wp = max(h, th), max(w, tw)
    if (hp, wp) != (h, w):
        x = np.pad(x, ((0, 0), (0, hp - h), (0, wp - w)), constant_values=np.nan)
        valid = np.pad(valid, ((0, hp - h), (0, wp - w)))
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows, cols = tile_grid(hp, th, overlap), tile_grid(wp, tw, overlap)
    tiles = [(r, q) for r in rows for q in cols if valid[r : r + th, q : q + tw].any()]
    acc = np.zeros((len(members), hp, wp), np.float32)
    wsum = np.zeros((hp, wp), np.float32)
    ramps_y = {r: _ramp(th, overlap, r > 0, r + th < hp) for r in rows}
    ramps_x = {q: _ramp(tw, overlap, q > 0, q + tw < wp) for q in cols}
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in members:
        m.eval().to(dev, memory_format=fmt)
    use_amp = dev.type == "cuda"

    def run(batch: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[np.ndarray]]:
        with torch.inference_mode(), torch.autocast(dev.type, torch.float16, enabled=use_amp):
            xb = np.stack([x[:, r : r + th, q : q + tw] for r, q in batch])
            xt = torch.from_numpy(xb).to(dev, non_blocking=True, memory_format=fmt)
            return batch, [torch.sigmoid(m(xt).float())[:, 0].cpu().numpy() for m in members]

    bar = tqdm(total=len(tiles), desc="tiles", unit="tile", disable=not progress, leave=False)
    batches = list(_batches(tiles, batch_size))
    threads = 1 if (dev.type == "cpu" and workers > 1) else None
    with _torch_threads(threads), ThreadPoolExecutor(max(1, workers)) as pool:
        for batch, probs in pool.map(run, batches):
            for i, (r, q) in enumerate(batch):
                wt = np.outer(ramps_y[r], ramps_x[q])
                for k, p in enumerate(probs):
                    acc[k, r : r + th, q : q + tw] += p[i] * wt
                wsum[r : r + th, q : q + tw] += wt
            bar.update(len(batch))
    bar.close()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = acc[:, :h, :w] / wsum[None, :h, :w]
    out[:, ~valid[:h, :w]] = np.nan
    return out


def _batches(items: Sequence[tuple[int, int]], n: int) -> Iterator[list[tuple[int, int]]]:
    for i in range(0, len(items), n):
        yield list(items[i : i + n])
