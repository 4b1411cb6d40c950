"""Benchmark: ensemble inference over a 2048 x 2048 feature stack (419 km² at 10 m) for
K = 1, 5 and 10 members on CPU, in km²/s, against a naive baseline measured in the same run.
Target (issue 6): at least 3x the naive baseline and at least 10 km²/s for K = 10 on 2 cores.

    .venv/bin/python bench/bench_inference.py [--size 2048] [--ks 1 5 10] [--manifest M]

- optimized: :func:`models.inference.predict_members` with its CPU defaults: the members'
  networks in ONNX Runtime (engine ``onnxruntime``, what ``auto`` picks for a stack of several
  tiles), one worker per core, each running whole tiles through every member with one
  intra-op thread, each tile normalised once for all members, tiles of ``DEFAULT_TILE`` px
  blended over ``DEFAULT_OVERLAP`` px. Its graphs are exported
  first into an empty cache; that one-off cost is timed on its own (``prepare_s``, what the
  first daily run of a new ensemble pays) and the ratio including it is printed too;
- torch: the same pipeline with ``engine="torch"`` (eager torch, ``inference_mode``);
- naive: the members one after another, each over every tile one at a time (batch 1, same tiles
  and blending), under ``torch.no_grad`` with torch's default intra-op threading (one thread
  per core); and the same naive loop restricted to one intra-op thread, which separates the
  gain of the worker layout from that of avoiding intra-op threads on a busy machine.

Every time is the best of ``--repeat`` runs (default 2), the naive loops' as well as the
pipeline's: the fastest run is the one least disturbed by the rest of the machine.

Members mirror the architectures and normalisation of the shipped default ensemble (S1+S2
setting, 11 channels), cycled to K, each with its own random weights (the weights do not change
the speed, and distinct members need distinct exported graphs). The machine is shared: the load
average is printed with the figures. Results go to ``bench/results/inference.json``.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from models.inference import (  # noqa: E402
    DEFAULT_OVERLAP,
    DEFAULT_TILE,
    _ramp,
    default_workers,
    predict_members,
    tile_grid,
)
from models.manifest import read_manifest  # noqa: E402
from models.onnx_engine import CACHE_ENV, onnx_member  # noqa: E402
from models.zoo import COMPACT_DECODERS, Member, MemberSpec  # noqa: E402

SETTING = "S1+S2"
CHANNELS = 11


def members_for(k: int, manifest: Path) -> list[Member]:
    archs = ["Unet", "FPN", "DeepLabV3Plus", "PSPNet", "Linknet", "MAnet", "UnetPlusPlus"]
    encoder = "tu-mobilenetv3_small_050"
    kwargs: list[dict] = [dict(COMPACT_DECODERS[a]) for a in archs]
    mean, std = [0.0] * CHANNELS, [1.0] * CHANNELS
    if manifest.exists():
        m = read_manifest(manifest)
        entries = (
            [m.member(n) for n in m.settings[SETTING].members] if SETTING in m.settings else []
        )
        if entries:
            archs = [e.architecture for e in entries]
            kwargs = [dict(e.arch_kwargs) for e in entries]
            encoder = entries[0].encoder
            mean, std = entries[0].normalisation.mean, entries[0].normalisation.std
    out = []
    for i in range(k):
        spec = MemberSpec(archs[i % len(archs)], encoder, "Dice", 0.01, SETTING, CHANNELS,
                          kwargs[i % len(archs)])  # fmt: skip
        out.append(Member(spec, mean, std).eval())
    return out


def naive(members: list[Member], x: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """Members one after another, tiles one at a time. Its blending is as lean as the
    pipeline's (one output array, each weight tile computed once, the weight sum once), so
    that the ratio measures how the members are run, not how the outputs are kept."""
    _, h, w = x.shape
    rows, cols = tile_grid(h, tile, overlap), tile_grid(w, tile, overlap)
    weights = {(r, q): np.outer(_ramp(tile, overlap, r > 0, r + tile < h),
                                _ramp(tile, overlap, q > 0, q + tile < w))
               for r in rows for q in cols}  # fmt: skip
    wsum = np.zeros((h, w), np.float32)
    for (r, q), wt in weights.items():
        wsum[r : r + tile, q : q + tile] += wt
    out = np.zeros((len(members), h, w), np.float32)
    for k, m in enumerate(members):
        for (r, q), wt in weights.items():
            xt = torch.from_numpy(np.ascontiguousarray(x[None, :, r : r + tile, q : q + tile]))
            with torch.no_grad():
                p = torch.sigmoid(m(xt))[0, 0].numpy()
            out[k, r : r + tile, q : q + tile] += p * wt
        out[k] /= wsum
    return out


def best_of(repeat: int, fn: Callable[[], np.ndarray]) -> tuple[float, np.ndarray]:
    best, out = float("inf"), np.empty(0)
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "inference.json")
    args = p.parse_args()
    if args.size < DEFAULT_TILE:
        p.error(
            f"argument --size: {args.size} px is under one tile ({DEFAULT_TILE} px): the naive "
            "baseline runs whole tiles"
        )
    # a cache of its own, cold (the exports are part of what is measured), removed at exit
    cache = tempfile.mkdtemp(prefix="bench-inference-cache-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    os.environ[CACHE_ENV] = cache
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(CHANNELS, args.size, args.size)).astype(np.float32)
    km2 = args.size * args.size * 100.0 / 1e6
    threads = torch.get_num_threads()
    workers = default_workers(torch.device("cpu"))
    print(f"stack {args.size} x {args.size} ({km2:.1f} km²), {CHANNELS} channels; torch "
          f"{torch.__version__}, {threads} intra-op threads by default, {workers} workers; "
          f"tile {DEFAULT_TILE}, overlap {DEFAULT_OVERLAP}; exported graphs cached in "
          f"{os.environ[CACHE_ENV]}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    warm = members_for(1, args.manifest)
    predict_members(warm, x[:, :512, :512], engine="torch")
    rows = []
    shape = (1, CHANNELS, DEFAULT_TILE, DEFAULT_TILE)
    for k in args.ks:
        members = members_for(k, args.manifest)
        t0 = time.perf_counter()
        exported = sum(onnx_member(m, shape) is not None for m in members)
        t_prepare = time.perf_counter() - t0
        t_fast, fast = best_of(
            args.repeat, partial(predict_members, members, x, engine="onnxruntime")
        )
        t_torch, _ = best_of(args.repeat, partial(predict_members, members, x, engine="torch"))
        naive_run = partial(naive, members, x, DEFAULT_TILE, DEFAULT_OVERLAP)
        t_naive, slow = best_of(args.repeat, naive_run)
        torch.set_num_threads(1)
        t_naive1, _ = best_of(args.repeat, naive_run)
        torch.set_num_threads(threads)
        diff = float(np.nanmax(np.abs(fast - slow)))
        row = {
            "k": k,
            "architectures": [m.spec.architecture for m in members],
            "members_in_onnxruntime": exported,
            "prepare_s": round(t_prepare, 2),
            "optimized_s": round(t_fast, 2),
            "torch_s": round(t_torch, 2),
            "naive_s": round(t_naive, 2),
            "optimized_km2_per_s": round(km2 / t_fast, 2),
            "torch_km2_per_s": round(km2 / t_torch, 2),
            "naive_km2_per_s": round(km2 / t_naive, 2),
            "speedup": round(t_naive / t_fast, 2),
            "speedup_incl_prepare": round(t_naive / (t_fast + t_prepare), 2),
            "speedup_torch_engine": round(t_naive / t_torch, 2),
            "naive_1thread_s": round(t_naive1, 2),
            "speedup_vs_naive_1thread": round(t_naive1 / t_fast, 2),
            "max_abs_difference": diff,
            "load_average": round(os.getloadavg()[0], 2),
        }
        rows.append(row)
        print(f"K={k:2d}: optimized {row['optimized_km2_per_s']:7.2f} km²/s ({t_fast:5.2f} s; "
              f"{exported}/{k} in ONNX Runtime, exported in {t_prepare:5.1f} s), torch engine "
              f"{t_torch:5.2f} s, naive {row['naive_km2_per_s']:7.2f} km²/s ({t_naive:5.2f} s); "
              f"speedup {row['speedup']:.2f}x (torch engine {row['speedup_torch_engine']:.2f}x, "
              f"incl. export {row['speedup_incl_prepare']:.2f}x); naive 1-thread "
              f"{t_naive1:5.2f} s ({row['speedup_vs_naive_1thread']:.2f}x); max |diff| "
              f"{diff:.1e}, load {row['load_average']}",
              flush=True)  # fmt: skip
    k10 = next((r for r in rows if r["k"] == 10), None)
    if k10:
        ok = k10["speedup"] >= 3 and k10["optimized_km2_per_s"] >= 10
        print(f"target (K=10: >= 3x naive and >= 10 km²/s, graphs cached): "
              f"{'met' if ok else 'NOT met'}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "km2": km2, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
