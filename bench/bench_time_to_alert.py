"""Time from landslide to alert: a simulated storm season watched by a run every day (or every
N days), for each kind of monitoring window, printed side by side from one invocation.

The season: one storm over one region per landscape preset (forested mountains with monsoon
clouds, alpine, agricultural hills) and per Sentinel-1 repeat cycle (12 days per orbit pass,
as with one Sentinel-1 satellite; 6 days, as with two), both passes watched, Sentinel-2 every
5 days. Each mode gets
a fresh inventory over the same archive and the same runs (``landslide-monitor season``,
monitor.ops.season):

- ``greenest``: the former monitoring windows, a 30-day greenest-pixel / median post window;
- ``latest``: latest clear observation and last Sentinel-1 scenes per track, with the second-
  look rule (an alert waits for the optical view or a second radar look);
- ``latest, first look``: the same composites with ``second_look: false`` (the rule's effect);
- ``latest, 2 S1 scenes``: the radar post image the mean of the last two scenes per track
  instead of the default one (``windows.radar_scenes``);
- ``latest, no drop test``: ``latest`` without the forest backscatter-drop test
  (``model.radar_drop: false``, monitor.pipeline.radar_drop), its effect;
- ``latest, no loss net``: ``latest`` without the large vegetation-loss net
  (``model.vegetation_loss: false``, monitor.pipeline.vegetation_loss), its effect;
- ``latest, every scene dated`` (only when named by ``--mode``): ``latest`` with the Sentinel-1
  dating over every scene of the post window, as before 2026-12-05, instead of each pixel's
  newest ``DATING_SCENES``.

``--tracks-per-pass 2`` simulates two relative orbits of each pass over every region
(``s1_tracks_per_pass``): where the swaths of neighbouring orbits overlap, and with two
satellites, a 30-day window holds 20 scenes a pixel on the 6-day regions.

Printed per mode and per repeat cycle: the delay from event to first alert over landslides
>= 0.1 ha (median, 90th percentile, within 6 and 12 days), never alerted by size class, and
false alerts per 100 km² and month (alerted entries that touch no true landslide); the day
each landslide was first drawn in the inventory, confirmed or not (what a second look costs is
the gap to the alert); and the first look each sensor gave of it (a Sentinel-2 view at least
half clear over it, the second Sentinel-1 scene): what no detector could beat. For ``latest``
(the default monitoring composites), also what each run's own stack showed of each
landslide's true outline (``score_season``'s ``shown_on``): the first run whose dating saw its
change (or two radar looks confirmed it), the first whose persistence rule confirmed it (the
optical view, or two radar scenes or looks), and the lag from that run to the alert. A detector
that drew every scar exactly, held to the rule, would alert each on that run; one that draws it
otherwise (only the part that changed, or with its surroundings) may be confirmed earlier or
later.

    .venv/bin/python bench/bench_time_to_alert.py [--every 1] [--region-km 3] \
        [--tracks-per-pass 1|2] [--mode latest --mode "latest, every scene dated"]

The ensemble is the bundled one (models/default/manifest.json) unless ``--manifest`` names another.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import monitor.sources.archive_composite as archive_composite  # noqa: E402
from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ops.season import (  # noqa: E402
    TAIL_DAYS,
    format_score,
    run_dates,
    run_season,
    score_season,
)

STORM = date(2024, 8, 24)
EVENTS = (STORM - timedelta(days=3), STORM + timedelta(days=12))
SIMULATION = {"start": "2024-05-01", "end": "2024-10-20", "storms": [STORM.isoformat()]}
LANDSCAPES = {  # preset -> (lon, lat) of the region's south-west corner
    "forested_mountains": (76.10, 11.45),
    "alpine": (9.90, 46.21),
    "agricultural_hills": (10.87, 44.33),
}
MODES: dict[str, dict[str, Any]] = {
    "greenest": {"windows": {"composite": "greenest"}},
    "latest": {"windows": {"composite": "latest"}},
    "latest, first look": {"windows": {"composite": "latest"}, "second_look": False},
    "latest, 2 S1 scenes": {"windows": {"composite": "latest", "radar_scenes": 2}},
    "latest, no drop test": {"windows": {"composite": "latest"}, "model": {"radar_drop": False}},
    "latest, no loss net": {
        "windows": {"composite": "latest"},
        "model": {"vegetation_loss": False},
    },
    # the Sentinel-1 dating over every scene of the post window, as before 2026-12-05 (not a
    # setting: the bench reads the whole window by raising DATING_SCENES for this mode)
    "latest, every scene dated": {"windows": {"composite": "latest"}, "dating_scenes": 10**6},
}
DEFAULT_MODES = tuple(m for m in MODES if m != "latest, every scene dated")

# the modes whose score also finds the run that first showed each landslide: it reads every run's
# stacks again (about a minute for the six regions), so only for the default monitoring mode
SHOWN_MODES = ("latest",)


def regions(km: float, tracks_per_pass: int = 1) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i, (landscape, (lon, lat)) in enumerate(LANDSCAPES.items()):
        for repeat in (12, 6):
            dlat = km / 111.0
            dlon = km / (111.0 * math.cos(math.radians(lat)))
            x0 = lon + (0.06 if repeat == 6 else 0.0)
            ring = [[x0, lat], [x0 + dlon, lat], [x0 + dlon, lat + dlat], [x0, lat + dlat]]
            out.append(
                {
                    "name": f"{landscape.replace('_', '-')}-s1-{repeat}d",
                    "orbit_pass": "both",
                    "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                    "simulation": {
                        "landscape": landscape,
                        "seed": 70 + i,
                        "s1_repeat_days": repeat,
                        **({"s1_tracks_per_pass": 2} if tracks_per_pass == 2 else {}),
                    },
                    "masks": {"exclude_snow": True, "exclude_water": True},
                }
            )
    return out


def write_config(work: Path, mode: str, items: list[dict[str, object]], manifest: Path) -> Path:
    extra = MODES[mode]
    region_items = []
    for item in items:
        region = dict(item)
        region["windows"] = {"mode": "monitoring", **extra["windows"]}
        if "second_look" in extra:
            region["second_look"] = extra["second_look"]
        region_items.append(region)
    slug = mode.replace(", ", "-").replace(" ", "-")
    data = {
        "source": {"type": "archive", "path": str(work / "archive"), "simulation": SIMULATION},
        "regions": region_items,
        "model": {"manifest": str(manifest), **extra.get("model", {})},
        "inventory": {"path": str(work / slug / "inventory.gpkg")},
        "quicklooks": {"enabled": False, "dir": str(work / slug / "quicklooks")},
        "alerts": {
            "webhooks": [
                {"name": "bench", "url": "http://127.0.0.1:9/alerts", "secret_env": "BENCH_SECRET"}
            ]
        },
    }
    (work / slug).mkdir(parents=True, exist_ok=True)
    path = work / f"{slug}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=1, help="days between runs (default 1)")
    parser.add_argument("--region-km", type=float, default=3.0)
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "bench-time-to-alert")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="ensemble")
    parser.add_argument(
        "--tracks-per-pass",
        type=int,
        choices=(1, 2),
        default=1,
        help="Sentinel-1 relative orbits of each pass over every region (2: neighbouring "
        "orbits' swaths overlap, twice the scenes in a window; default 1)",
    )
    parser.add_argument(
        "--mode",
        action="append",
        dest="modes",
        metavar="MODE",
        help=f"a mode to run, again for more (default: all but the last): {'; '.join(MODES)}",
    )
    args = parser.parse_args()
    modes = args.modes or list(DEFAULT_MODES)
    if unknown := [m for m in modes if m not in MODES]:
        parser.error(f"--mode: unknown {unknown}; known: {list(MODES)}")
    if not args.manifest.is_file():  # before the archive is built (minutes), not in a traceback
        parser.error(f"--manifest {args.manifest}: no such file")
    args.work = args.work.resolve()  # the configs written there name files by absolute path
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("BENCH_SECRET", "bench")  # alerts are queued, never sent
    items = regions(args.region_km, args.tracks_per_pass)
    dates = run_dates(EVENTS[0], EVENTS[1] + timedelta(days=TAIL_DAYS), args.every)
    print(
        f"{len(items)} regions of {args.region_km:g} km, storm {STORM}, landslides of "
        f"[{EVENTS[0]}, {EVENTS[1]}), {len(dates)} runs every {args.every} d "
        f"({dates[0]}..{dates[-1]}), Sentinel-2 every 5 d, Sentinel-1 "
        f"{args.tracks_per_pass} relative orbit(s) a pass"
    )
    for mode in modes:
        config_path = write_config(args.work, mode, items, args.manifest.resolve())
        config = load_config(config_path)
        if mode == modes[0]:
            from monitor.run_inputs import build_configured_archive

            build_configured_archive(config, progress=False)
        for stale in config.inventory.path.parent.glob("inventory.gpkg*"):
            stale.unlink()
        start = time.perf_counter()
        dating = archive_composite.DATING_SCENES
        archive_composite.DATING_SCENES = MODES[mode].get("dating_scenes", dating)
        try:
            run_season(config, dates, deliver_alerts=False)
        finally:
            archive_composite.DATING_SCENES = dating
        elapsed = time.perf_counter() - start
        for repeat in (12, 6):
            names = [r["name"] for r in items if str(r["name"]).endswith(f"-{repeat}d")]
            subset = config.model_copy(
                update={"regions": [r for r in config.regions if r.name in names]}
            )
            score = score_season(
                subset,
                *EVENTS,
                runs=(dates[0], dates[-1]),
                shown_on=dates if mode in SHOWN_MODES else None,
            )
            print(format_score(score, f"{mode:<18} S1 {repeat:>2} d"))
        print(f"  ({mode}: {len(dates)} runs in {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
