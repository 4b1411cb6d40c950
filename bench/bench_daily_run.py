"""Wall time of a daily run over 1, 4 and 16 simulated regions, serial against a Dask
LocalCluster (2 single-threaded worker processes), printed with their ratio.

Each run is a fresh ``python -m monitor run`` process — what cron or the scheduler starts every
day — so both sides pay the imports, the ensemble load (per worker on Dask) and, on Dask, the
cluster start. Both runs of a size read the same simulated archive (built first, not timed) and
write their own new inventory, with quicklooks, alerts queued but not sent.

    .venv/bin/python bench/bench_daily_run.py [--sizes 1 4 16] [--region-km 1.5] [--repeat 3]

The ensemble is the bundled one (models/default/manifest.json) when present, else a small
untrained test ensemble (the timing of the pipeline around it, not of the bundled models); the
output says which. On a shared machine, compare the ratios of one invocation only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RUN_DATE = date(2024, 9, 15)
SIMULATION = {"start": "2024-06-01", "end": "2024-09-20", "storms": ["2024-08-24"]}
LANDSCAPES = ("agricultural_hills", "forested_mountains", "alpine")


def regions(n: int, km: float) -> list[dict[str, object]]:
    """``n`` square regions of ``km`` x ``km`` on a grid in the northern Apennines."""
    dlon, dlat = km / 79.0, km / 111.0  # degrees at ~44.5 N
    out: list[dict[str, object]] = []
    for i in range(n):
        lon, lat = 10.5 + (i % 4) * 0.1, 44.2 + (i // 4) * 0.08
        ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat]]
        out.append(
            {
                "name": f"bench-{i + 1:02d}",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "simulation": {"landscape": LANDSCAPES[i % 3], "seed": 500 + i},
            }
        )
    return out


def write_config(
    path: Path, archive: Path, manifest: Path, items: list[dict[str, object]], dask: bool
) -> Path:
    data = {
        "source": {"type": "archive", "path": str(archive), "simulation": SIMULATION},
        "regions": items,
        "model": {"manifest": str(manifest)},
        "inventory": {"path": str(path / "inventory.gpkg")},
        "quicklooks": {"dir": str(path / "quicklooks")},
        "dask": {"enabled": dask, "n_workers": 2, "threads_per_worker": 1},
    }
    path.mkdir(parents=True, exist_ok=True)
    config = path / "monitor.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def timed_run(config: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the run and its workers, the summary's first line)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "--quiet",
            "run",
            "--config",
            str(config),
            "--date",
            RUN_DATE.isoformat(),
            "--no-alerts",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    first = done.stdout.splitlines()[0] if done.stdout else ""
    return seconds, cpu, first


def ensemble(work: Path) -> tuple[Path, str]:
    """The manifest to run (the bundled ensemble, else an untrained test one) and which it is."""
    bundled = REPO / "models" / "default" / "manifest.json"
    if bundled.exists():
        return bundled, "bundled ensemble"
    from models.testing import build_untrained_ensemble

    manifest = build_untrained_ensemble(work / "ensemble", settings=("S1", "S1+S2"))
    return manifest, "UNTRAINED test ensemble (bundled one not present)"


def build_shared_archive(
    work: Path,
    archive: Path,
    manifest: Path,
    everything: list[dict[str, object]],
    region_km: float,
    which: str,
) -> None:
    """The simulated archive of every region, built once (not timed in the comparison)."""
    from monitor.config import load_config
    from monitor.run import build_configured_archive

    t0 = time.perf_counter()
    build_configured_archive(
        load_config(write_config(work / "build", archive, manifest, everything, False)),
        progress=False,
    )
    print(
        f"archive of {len(everything)} regions ({region_km} km squares) built in "
        f"{time.perf_counter() - t0:.1f} s; {which}; {os.cpu_count()} CPU cores; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )


def measure(
    n: int,
    repeat: int,
    work: Path,
    archive: Path,
    manifest: Path,
    items: list[dict[str, object]],
) -> dict[str, float]:
    """Medians over ``repeat`` interleaved serial and Dask runs of the first ``n`` regions."""
    wall: dict[str, list[float]] = {"serial": [], "dask": []}
    cpu: dict[str, list[float]] = {"serial": [], "dask": []}
    for rep in range(repeat):  # interleaved, so that load drifts hit both sides
        for way in ("serial", "dask"):
            config = write_config(
                work / f"n{n}-{way}-{rep}", archive, manifest, items[:n], way == "dask"
            )
            seconds, cpu_s, headline = timed_run(config)
            wall[way].append(seconds)
            cpu[way].append(cpu_s)
            print(
                f"  {n:>2} region(s) {way:<6} {seconds:7.1f} s wall {cpu_s:7.1f} s CPU"
                f"   {headline}",
                flush=True,
            )
    serial, dask = statistics.median(wall["serial"]), statistics.median(wall["dask"])
    return {
        "regions": n,
        "serial_s": serial,
        "dask_s": dask,
        "ratio": serial / dask,
        "serial_cpu_s": statistics.median(cpu["serial"]),
        "dask_cpu_s": statistics.median(cpu["dask"]),
    }


def print_table(rows: list[dict[str, float]], repeat: int) -> None:
    print()
    print(
        f"{'regions':>7} {'serial s':>9} {'dask s':>8} {'serial/dask':>12} "
        f"{'serial CPU s':>13} {'dask CPU s':>11}   (medians of {repeat})"
    )
    for row in rows:
        print(
            f"{row['regions']:>7} {row['serial_s']:>9.1f} {row['dask_s']:>8.1f} "
            f"{row['ratio']:>12.2f} {row['serial_cpu_s']:>13.1f} {row['dask_cpu_s']:>11.1f}"
        )
    print(
        f"(Dask: LocalCluster, 2 worker processes x 1 thread, started by each run; "
        f"load average after: {os.getloadavg()[0]:.1f})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--region-km", type=float, default=1.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-daily-run-"))
    manifest, which = ensemble(work)
    archive = work / "archive"
    everything = regions(max(args.sizes), args.region_km)
    build_shared_archive(work, archive, manifest, everything, args.region_km, which)
    rows = [measure(n, args.repeat, work, archive, manifest, everything) for n in args.sizes]
    print_table(rows, args.repeat)
    results = REPO / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "daily_run.json").write_text(
        json.dumps(
            {
                "ensemble": which,
                "region_km": args.region_km,
                "cpu_count": os.cpu_count(),
                "rows": rows,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
