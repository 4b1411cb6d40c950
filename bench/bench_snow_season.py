"""False alerts through the snow season: a storm-free year over the two simulated landscapes
with seasonal snow (``alpine``: snow line 700 m in January, 3000 m in August;
``agricultural_hills``: 1200 m in January, none from June to September), watched by the
default monitoring mode every few days, the alerts counted by calendar month.

Without a storm the simulator draws no landslide but the rare ones of its background rate, so
nearly every alert is false: what a region in the mountains should expect from winter, the
first snowfalls and the melt (wet snow absorbs up to 4 dB of backscatter in the simulator),
against the snow-free months of the same run. Every alerted entry that touches no true
landslide is counted, with the setting that drew it and its mean dNDVI and dVV, so that a month's
false alerts can be told apart (a radar drop, an optical loss).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_snow_season.py [--every 3] \
        [--work runs/bench-snow-season] [--manifest M]

The members and the object filter learnt from simulated worlds whose alpine and hill families
hold the same snow renderer: these figures are in family, not a measure on real snow.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ops.season import run_dates, run_season  # noqa: E402
from monitor.pipeline.evaluation import GroundTruth, touching  # noqa: E402
from monitor.run import open_source  # noqa: E402
from monitor.store.inventory import Inventory  # noqa: E402

SIMULATION = {"start": "2023-09-01", "end": "2024-10-15", "storms": []}
FIRST_RUN, LAST_RUN = date(2023, 11, 1), date(2024, 9, 30)
LANDSCAPES = {  # preset -> (lon, lat) of the region's south-west corner, seed
    "alpine": (9.90, 46.21, 71),
    "agricultural_hills": (10.87, 44.33, 72),
}


def regions(km: float) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for landscape, (lon, lat, seed) in LANDSCAPES.items():
        dlat = km / 111.0
        dlon = km / (111.0 * math.cos(math.radians(lat)))
        ring = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat]]
        out.append(
            {
                "name": landscape.replace("_", "-"),
                "orbit_pass": "both",
                "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                "simulation": {"landscape": landscape, "seed": seed, "s1_repeat_days": 12},
                "windows": {"mode": "monitoring"},
            }
        )
    return out


def write_config(work: Path, items: list[dict[str, object]], manifest: Path) -> Path:
    data: dict[str, Any] = {
        "source": {"type": "archive", "path": str(work / "archive"), "simulation": SIMULATION},
        "regions": items,
        "model": {"manifest": str(manifest)},
        "inventory": {"path": str(work / "inventory.gpkg")},
        "quicklooks": {"enabled": False, "dir": str(work / "quicklooks")},
        "alerts": {
            "webhooks": [
                {"name": "bench", "url": "http://127.0.0.1:9/alerts", "secret_env": "BENCH_SECRET"}
            ]
        },
    }
    work.mkdir(parents=True, exist_ok=True)
    path = work / "snow-season.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=3, help="days between runs (default 3)")
    parser.add_argument("--region-km", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-snow-season")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="ensemble")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the inventory an earlier invocation left in --work; run nothing",
    )
    args = parser.parse_args()
    if not args.manifest.is_file():
        parser.error(f"--manifest {args.manifest}: no such file")
    args.work = args.work.resolve()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("BENCH_SECRET", "bench")  # alerts are queued, never sent
    # each run says so of the pixels no radar scene saw (the alpine region's layover): noise here
    logging.getLogger("monitor.pipeline.setting").setLevel(logging.ERROR)
    config = load_config(write_config(args.work, regions(args.region_km), args.manifest.resolve()))
    dates = run_dates(FIRST_RUN, LAST_RUN, args.every)
    print(
        f"{len(config.regions)} regions of {args.region_km:g} km ({', '.join(LANDSCAPES)}), no "
        f"storm, {len(dates)} runs every {args.every} d ({dates[0]}..{dates[-1]}), Sentinel-2 "
        "every 5 d, Sentinel-1 12 d a pass, both passes"
    )
    if not args.score_only:
        from monitor.run_inputs import build_configured_archive

        build_configured_archive(config, progress=False)
        for stale in args.work.glob("inventory.gpkg*"):
            stale.unlink()
        start = time.perf_counter()
        run_season(config, dates, deliver_alerts=False)
        print(f"({len(dates)} runs in {time.perf_counter() - start:.0f} s)")

    source = open_source(config.source)
    if not isinstance(source, GroundTruth):  # the simulated archive is
        raise SystemExit(f"{config.source.type} source: no ground truth to score against")
    with Inventory(config.inventory.path) as inventory:
        layer = inventory.landslides()
    rows = []
    for region in config.regions:
        truth = touching(source.ground_truth(region.name), region.area.geometry)
        area_km2 = float(
            gpd.GeoSeries([region.area.geometry], crs="EPSG:4326").to_crs(6933).area.iloc[0] / 1e6
        )
        mine = layer[(layer["region"] == region.name) & layer["alerted_on"].notna()]
        for _, entry in mine.iterrows():
            rows.append(
                {
                    "region": region.name,
                    "area_km2": area_km2,
                    "month": pd.Timestamp(entry["alerted_on"]).strftime("%Y-%m"),
                    "false": not bool(truth.intersects(entry.geometry).any()),
                    "setting": entry["setting"],
                    "dNDVI": entry["dNDVI_mean"],
                    "dVV": entry["dVV_mean"],
                    "ha": entry["area_m2"] / 1e4,
                }
            )
        print(f"{region.name}: {area_km2:.2f} km², {len(truth)} true landslides in the year")
    table = pd.DataFrame(rows)
    runs = pd.Series([d.strftime("%Y-%m") for d in dates]).value_counts().sort_index()
    total_km2 = sum(
        float(gpd.GeoSeries([r.area.geometry], crs="EPSG:4326").to_crs(6933).area.iloc[0] / 1e6)
        for r in config.regions
    )
    print(
        "\nmonth     runs | false alerts: alpine hills | per 100 km² · month | settings "
        "(S1 / S2 / S1+S2) | median dNDVI, dVV (dB)"
    )
    for month, n_runs in runs.items():
        # a month's share of days watched: the first and last months may be partial
        part = table[(table["month"] == month) & table["false"]] if len(table) else table
        by_region = [int((part["region"] == r.name).sum()) if len(part) else 0
                     for r in config.regions]  # fmt: skip
        days = n_runs * args.every
        rate = 100.0 * len(part) / total_km2 * 30.0 / days
        settings = (
            " / ".join(str(int((part["setting"] == s).sum())) for s in ("S1", "S2", "S1+S2"))
            if len(part)
            else "-"
        )
        medians = (
            f"{np.nanmedian(part['dNDVI'].astype(float)):+.2f}, "
            f"{np.nanmedian(part['dVV'].astype(float)):+.1f}"
            if len(part)
            else "-"
        )
        print(
            f"{month}  {n_runs:>4} | {by_region[0]:>12} {by_region[1]:>5} | {rate:>19.1f} | "
            f"{settings:>22} | {medians}"
        )
    n_false = int(table["false"].sum()) if len(table) else 0
    months = len(dates) * args.every / 30.0
    print(
        f"all: {n_false} false alerts of {len(table)}, {100.0 * n_false / total_km2 / months:.1f} "
        f"per 100 km² · month over {months:.1f} months of {total_km2:.1f} km²"
    )
    if len(table):
        table.to_csv(args.work / "alerts.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
