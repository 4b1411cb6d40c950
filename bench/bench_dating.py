"""Whether the inventory's event brackets hold the day each landslide happened: a simulated storm
season watched by a run every N days, and after each run every inventory entry on a true landslide
checked against the simulator's event day, per sensor and combined (docs/operations.md, "Event
dating").

The season, regions and windows are those of ``bench/bench_time_to_alert.py`` (the default
monitoring composites), two of its regions by default. An entry's bracket ``(after, before]``
holds a landslide it touches when ``after < day <= before`` (the simulator shows a slide in the
acquisitions of its own day; an empty lower bound holds every day before ``before``); an entry
that touches several landslides is right where it holds one of them. ``--first-run`` starts the
runs later, as a monitor started after the storm, whose first windows hold the older slides in
their baselines.

    .venv/bin/python bench/bench_dating.py [--every 2] [--first-run 2024-10-02] [--regions ...]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_time_to_alert import EVENTS, regions, write_config  # noqa: E402

from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ops.season import TAIL_DAYS, run_dates  # noqa: E402
from monitor.run import open_source, run_once  # noqa: E402
from monitor.run_inputs import build_configured_archive  # noqa: E402
from monitor.sources.archive import ArchiveSource  # noqa: E402
from monitor.store.inventory import Inventory  # noqa: E402

BRACKETS = {
    "s1": ("s1_event_after", "s1_event_before"),
    "s2": ("s2_event_after", "s2_event_before"),
    "combined": ("event_after", "event_before"),
}
DEFAULT_REGIONS = "forested-mountains-s1-12d,agricultural-hills-s1-6d"


def _day(value: object) -> date | None:
    """An ISO date of the inventory (None, NaN or NaT: none)."""
    if value is None or pd.isna(value):
        return None
    return date.fromisoformat(str(value)[:10])


def holds(after: date | None, before: date, day: date) -> bool:
    """Whether the bracket ``(after, before]`` holds ``day``."""
    return (after is None or after < day) and day <= before


def check(inventory: Path, truth: dict[str, pd.DataFrame]) -> tuple[Counter[str], list[int]]:
    """Per bracket kind, the entries on a true landslide that have one (``kind``) and those that
    miss its day (``kind missed``); and the widths in days of the combined brackets that have
    both bounds."""
    with Inventory(inventory) as inv:
        layer = inv.landslides()
    counts: Counter[str] = Counter()
    widths: list[int] = []
    for _, entry in layer.iterrows():
        events = truth[entry["region"]].to_crs(int(entry["local_epsg"]))
        days = list(events[events.intersects(entry["local_geometry"])]["event_date"])
        if not days:
            continue
        for kind, (a, b) in BRACKETS.items():
            after, before = _day(entry[a]), _day(entry[b])
            if before is None:
                continue
            counts[kind] += 1
            if not any(holds(after, before, d) for d in days):
                counts[f"{kind} missed"] += 1
            if kind == "combined" and after is not None:
                widths.append((before - after).days)
    return counts, widths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=2, help="days between runs (default 2)")
    parser.add_argument("--first-run", type=date.fromisoformat, default=EVENTS[0])
    parser.add_argument("--regions", default=DEFAULT_REGIONS, help="comma-separated names")
    parser.add_argument("--region-km", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-dating")
    args = parser.parse_args()
    args.work = args.work.resolve()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("BENCH_SECRET", "bench")  # alerts are queued, never sent
    names = args.regions.split(",")
    items = [r for r in regions(args.region_km) if r["name"] in names]
    if len(items) != len(names):
        known = ", ".join(str(r["name"]) for r in regions(args.region_km))
        parser.error(f"--regions {args.regions}: the bench's regions are {known}")
    config = load_config(write_config(args.work, "latest", items, DEFAULT_MANIFEST.resolve()))
    build_configured_archive(config, progress=False)
    for stale in config.inventory.path.parent.glob("inventory.gpkg*"):
        stale.unlink()
    source = open_source(config.source)
    assert isinstance(source, ArchiveSource)
    truth = {}
    for region in config.regions:
        events = source.ground_truth(region.name)
        events["event_date"] = pd.to_datetime(events["event_date"]).dt.date
        truth[region.name] = events
    dates = run_dates(args.first_run, EVENTS[1] + timedelta(days=TAIL_DAYS), args.every)
    print(
        f"{len(items)} regions ({args.regions}), {len(dates)} runs every {args.every} d "
        f"({dates[0]}..{dates[-1]}); entries on a true landslide whose bracket misses its day:"
    )
    start = time.perf_counter()
    worst: Counter[str] = Counter()
    for day in dates:
        run_once(config, day, deliver_alerts=False, progress=False)
        counts, widths = check(config.inventory.path, truth)
        for kind in BRACKETS:
            worst[kind] = max(worst[kind], counts[f"{kind} missed"])
        line = ", ".join(f"{k} {counts[f'{k} missed']}/{counts[k]}" for k in BRACKETS)
        print(f"  after {day}: {line}")
    print(
        f"at the end: {line}; combined width median "
        f"{np.median(widths) if widths else float('nan'):g} d over {len(widths)} with both "
        f"bounds; most missed after any run: "
        + ", ".join(f"{k} {worst[k]}" for k in BRACKETS)
        + f" ({time.perf_counter() - start:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
