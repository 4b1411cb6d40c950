"""Benchmark: local compositing of a 10 km x 10 km region (1000 x 1000 px) from the embedded
archive, 60-day pre and 30-day post window. Target (issue 2): under 10 s and under 2 GB peak
memory on 2 cores.

    .venv/bin/python bench/bench_composite.py [--archive data/bench/archive] [--repeat 3]

The archive is simulated on first use (about a minute; reused afterwards). Each timed run is a
fresh child process, whose peak resident memory is that of the compositing (plus the
interpreter and imports, reported separately as the baseline). It is read as the child's own
high-water mark (``VmHWM`` of ``/proc/self/status``, which a new program starts afresh):
Linux's ``ru_maxrss`` survives ``execve``, so a child started after this process built the
archive reported this process's peak (0.46 GiB of "imports" on the first run, 0.18 on the next).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "bench-10km"
CENTRE = (10.90, 44.35)  # Emilia-like hills
PRE = (date(2024, 6, 17), date(2024, 8, 16))
POST = (date(2024, 8, 16), date(2024, 9, 15))

_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
from datetime import date
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import Window
sys.path.insert(0, {bench!r})
from bench_composite import area, peak_kib
baseline = peak_kib()
source = ArchiveSource({archive!r})
pre = Window(date.fromisoformat({pre0!r}), date.fromisoformat({pre1!r}))
post = Window(date.fromisoformat({post0!r}), date.fromisoformat({post1!r}))
started = time.perf_counter()
stack = source.features(area(), pre, post)
seconds = time.perf_counter() - started
peak = peak_kib()
print(json.dumps({{"seconds": seconds, "peak_kib": peak, "baseline_kib": baseline,
                   "shape": [stack.sizes["y"], stack.sizes["x"]],
                   "s2_pre": len(stack.attrs["s2_dates_pre"].split(",")),
                   "s2_post": len(stack.attrs["s2_dates_post"].split(",")),
                   "s1_pre": len(stack.attrs["s1_dates_pre"].split(",")),
                   "s1_post": len(stack.attrs["s1_dates_post"].split(","))}}))
"""


def peak_kib() -> int:
    """This process's peak resident memory in KiB: ``VmHWM`` (of this program alone), else
    ``ru_maxrss`` where there is no ``/proc`` (which may hold its parent's peak)."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def area():
    """A 10 km x 10 km square in the UTM zone of ``CENTRE`` (exactly 1000 x 1000 pixels)."""
    from pyproj import Transformer
    from shapely.geometry import box

    from monitor.grid import reproject, utm_crs_for
    from monitor.sources.base import AreaOfInterest

    crs = utm_crs_for(*CENTRE)
    to_utm = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_utm.transform(*CENTRE)
    x, y = round(x, -1), round(y, -1)
    square = box(x - 4999.0, y - 4999.0, x + 4999.0, y + 4999.0)  # inside whole pixels
    return AreaOfInterest(REGION, reproject(square, crs, "EPSG:4326"), "both")


def ensure_archive(path: Path) -> None:
    from monitor.simulator import ArchiveSimulation, SimulationSpec, build_archive

    simulation = ArchiveSimulation(
        start=date(2024, 6, 10), end=date(2024, 9, 20), storms=(date(2024, 8, 17),)
    )
    spec = SimulationSpec(landscape="agricultural_hills", seed=2024)
    started = time.perf_counter()
    report = build_archive(path, [(area(), spec)], simulation, progress=True)
    if report.built:
        print(f"built the bench archive in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ROOT / "data" / "bench" / "archive")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ensure_archive(args.archive)
    code = _CHILD.format(
        root=str(ROOT),
        bench=str(Path(__file__).resolve().parent),
        archive=str(args.archive),
        pre0=PRE[0].isoformat(),
        pre1=PRE[1].isoformat(),
        post0=POST[0].isoformat(),
        post1=POST[1].isoformat(),
    )
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    peak_gib = max(r["peak_kib"] for r in runs) / 2**20
    base_gib = best["baseline_kib"] / 2**20
    print(
        f"composite {best['shape'][0]}x{best['shape'][1]} px, pre {PRE[0]}/{PRE[1]} "
        f"({best['s2_pre']} S2 used, {best['s1_pre']} S1), post {POST[0]}/{POST[1]} "
        f"({best['s2_post']} S2 used, {best['s1_post']} S1)"
    )
    print(
        "seconds: best {:.2f}, all {}".format(
            best["seconds"], ", ".join(f"{r['seconds']:.2f}" for r in runs)
        )
    )
    print(f"peak memory: {peak_gib:.2f} GiB (process max RSS; interpreter+imports {base_gib:.2f})")
    ok = best["seconds"] < 10.0 and peak_gib < 2.0
    print(f"target < 10 s and < 2 GB: {'met' if ok else 'MISSED'}")
    print(f"(rusage of this parent: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss} KiB)")


if __name__ == "__main__":
    main()
