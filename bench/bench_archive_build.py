"""Benchmark: build the demo archive (the three regions of ``monitor/examples/demo.yaml``) from
scratch.
Target (issue 2): under 60 s on 2 cores.

    .venv/bin/python bench/bench_archive_build.py [--config monitor/examples/demo.yaml] \
        [--workers 2]

Prints the wall-clock time and the CPU time of the build (this process and its workers): on a
shared machine the wall clock includes waiting for the CPU, so CPU seconds / 2 is the wall time
the build needs on two otherwise idle cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.simulator import (  # noqa: E402
    ArchiveSimulation,
    SimulationSpec,
    build_archive,
)
from monitor.sources.base import AreaOfInterest  # noqa: E402


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "monitor" / "examples" / "demo.yaml")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cfg = yaml.safe_load(args.config.read_text())
    simulation = ArchiveSimulation(**cfg["source"]["simulation"])
    regions = [
        (
            AreaOfInterest(r["name"], shape(r["geometry"]), r.get("orbit_pass", "both")),
            SimulationSpec(**r["simulation"]),
        )
        for r in cfg["regions"]
    ]
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        cpu0, wall0 = _cpu_seconds(), time.perf_counter()
        report = build_archive(tmp, regions, simulation, progress=False, workers=args.workers)
        wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    load = os.getloadavg()[0]
    print(f"built {len(report.built)} regions ({', '.join(report.built)}), {size / 2**20:.0f} MiB")
    print(f"wall {wall:.1f} s with {args.workers} workers (1-min load average {load:.1f})")
    print(
        f"cpu {cpu:.1f} s -> {cpu / 2:.1f} s on 2 idle cores; target < 60 s: "
        f"{'met' if max(cpu / 2, 0) < 60 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
