"""Benchmark: ensemble inference over a 2048 x 2048 feature stack (419 km² at 10 m) for
K = 1, 5 and 10 members on CPU, in km²/s, against a naive baseline measured in the same run.
Target (issue 6): at least 3x the naive baseline and at least 10 km²/s for K = 10 on 2 cores.

    .venv/bin/python bench/bench_inference.py [--size 2048] [--ks 1 5 10] [--manifest M]

- optimized: :func:`models.inference.predict_members` with its CPU defaults: one worker per
  core, each running whole tiles through every member with single-threaded torch ops,
  ``inference_mode``, tiles of ``DEFAULT_TILE`` px blended over ``DEFAULT_OVERLAP`` px;
- naive: the members one after another, each over every tile one at a time (batch 1, same tiles
  and blending), under ``torch.no_grad`` with torch's default intra-op threading (one thread
  per core); and the same naive loop restricted to one intra-op thread, which separates the
  gain of the worker layout from that of avoiding intra-op threads on a busy machine.

The optimized time is the best of ``--repeat`` runs (default 2); each naive loop runs once.

Members mirror the architectures of the shipped default ensemble (S1+S2 setting, 11 channels),
cycled to K; their weights do not change the speed, so untrained copies are used when the
manifest has fewer than K members. The machine is shared: the load average is printed with the
figures. Results go to ``bench/results/inference.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
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
from models.zoo import COMPACT_DECODERS, Member, MemberSpec  # noqa: E402

SETTING = "S1+S2"
CHANNELS = 11


def members_for(k: int, manifest: Path) -> list[Member]:
    archs = ["Unet", "FPN", "DeepLabV3Plus", "PSPNet", "Linknet", "MAnet", "UnetPlusPlus"]
    encoder = "tu-mobilenetv3_small_050"
    kwargs: list[dict] = [dict(COMPACT_DECODERS[a]) for a in archs]
    if manifest.exists():
        m = read_manifest(manifest)
        entries = (
            [m.member(n) for n in m.settings[SETTING].members] if SETTING in m.settings else []
        )
        if entries:
            archs = [e.architecture for e in entries]
            kwargs = [dict(e.arch_kwargs) for e in entries]
            encoder = entries[0].encoder
    out = []
    for i in range(k):
        spec = MemberSpec(archs[i % len(archs)], encoder, "Dice", 0.01, SETTING, CHANNELS,
                          kwargs[i % len(archs)])  # fmt: skip
        out.append(Member(spec, [0.0] * CHANNELS, [1.0] * CHANNELS).eval())
    return out


def naive(members: list[Member], x: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    """Members one after another, tiles one at a time."""
    _, h, w = x.shape
    rows, cols = tile_grid(h, tile, overlap), tile_grid(w, tile, overlap)
    out = np.zeros((len(members), h, w), np.float32)
    for k, m in enumerate(members):
        acc = np.zeros((h, w), np.float32)
        wsum = np.zeros((h, w), np.float32)
        for r in rows:
            for q in cols:
                wt = np.outer(_ramp(tile, overlap, r > 0, r + tile < h),
                              _ramp(tile, overlap, q > 0, q + tile < w))  # fmt: skip
                xt = torch.from_numpy(np.ascontiguousarray(x[None, :, r : r + tile, q : q + tile]))
                with torch.no_grad():
                    p = torch.sigmoid(m(xt))[0, 0].numpy()
                acc[r : r + tile, q : q + tile] += p * wt
                wsum[r : r + tile, q : q + tile] += wt
        out[k] = acc / wsum
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--ks", type=int, nargs="+", default=[1, 5, 10])
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "inference.json")
    args = p.parse_args()
    torch.manual_seed(0)
    x = np.random.default_rng(0).normal(size=(CHANNELS, args.size, args.size)).astype(np.float32)
    km2 = args.size * args.size * 100.0 / 1e6
    threads = torch.get_num_threads()
    print(f"stack {args.size} x {args.size} ({km2:.1f} km²), {CHANNELS} channels; torch "
          f"{torch.__version__}, {threads} intra-op threads by default, "
          f"{default_workers(torch.device('cpu'))} workers; tile {DEFAULT_TILE}, overlap "
          f"{DEFAULT_OVERLAP}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    warm = members_for(1, args.manifest)
    predict_members(warm, x[:, :512, :512])
    rows = []
    for k in args.ks:
        members = members_for(k, args.manifest)
        t_fast = float("inf")
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            fast = predict_members(members, x)
            t_fast = min(t_fast, time.perf_counter() - t0)
        t0 = time.perf_counter()
        slow = naive(members, x, DEFAULT_TILE, DEFAULT_OVERLAP)
        t_naive = time.perf_counter() - t0
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        naive(members, x, DEFAULT_TILE, DEFAULT_OVERLAP)
        t_naive1 = time.perf_counter() - t0
        torch.set_num_threads(threads)
        diff = float(np.nanmax(np.abs(fast - slow)))
        row = {
            "k": k,
            "architectures": [m.spec.architecture for m in members],
            "optimized_s": round(t_fast, 2),
            "naive_s": round(t_naive, 2),
            "optimized_km2_per_s": round(km2 / t_fast, 2),
            "naive_km2_per_s": round(km2 / t_naive, 2),
            "speedup": round(t_naive / t_fast, 2),
            "naive_1thread_s": round(t_naive1, 2),
            "speedup_vs_naive_1thread": round(t_naive1 / t_fast, 2),
            "max_abs_difference": diff,
            "load_average": round(os.getloadavg()[0], 2),
        }
        rows.append(row)
        print(f"K={k:2d}: optimized {row['optimized_km2_per_s']:7.2f} km²/s ({t_fast:6.1f} s), "
              f"naive {row['naive_km2_per_s']:7.2f} km²/s ({t_naive:6.1f} s), speedup "
              f"{row['speedup']:.2f}x; naive 1-thread {t_naive1:6.1f} s "
              f"({row['speedup_vs_naive_1thread']:.2f}x); max |diff| {diff:.1e}, load "
              f"{row['load_average']}",
              flush=True)  # fmt: skip
    k10 = next((r for r in rows if r["k"] == 10), None)
    if k10:
        ok = k10["speedup"] >= 3 and k10["optimized_km2_per_s"] >= 10
        print(f"target (K=10: >= 3x naive and >= 10 km²/s): {'met' if ok else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"size": args.size, "km2": km2, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
