"""Render ``docs/simulated_event.png``: one simulated landslide event of the demo archive, as the
monitor sees it — pre/post true colour (greenest-pixel composites), dNDVI, dVV and dVH
(terrain-flattened medians), with the ground-truth outline on every panel.

    .venv/bin/python docs/figures/simulated_event.py [--region NAME] [--out ...]

Builds the demo archive (``monitor/examples/demo.yaml``) first if needed (idempotent).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
import yaml
from matplotlib.colors import LightSource
from shapely.geometry import shape

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from monitor.grid import region_grid  # noqa: E402
from monitor.simulator import (  # noqa: E402
    ArchiveSimulation,
    SimulationSpec,
    build_archive,
)
from monitor.sources.archive import ArchiveSource  # noqa: E402
from monitor.sources.base import AreaOfInterest, Window  # noqa: E402

PRE = Window(date(2024, 6, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))


def _demo_regions(
    config: Path,
) -> tuple[Path, list[tuple[AreaOfInterest, SimulationSpec]], ArchiveSimulation]:
    cfg = yaml.safe_load(config.read_text())
    path = ROOT / cfg["source"]["path"]
    simulation = ArchiveSimulation(**cfg["source"]["simulation"])
    regions = [
        (
            AreaOfInterest(r["name"], shape(r["geometry"]), r.get("orbit_pass", "both")),
            SimulationSpec(**r["simulation"]),
        )
        for r in cfg["regions"]
    ]
    return path, regions, simulation


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """Reflectance to display: a fixed 0..0.25 stretch with a mild gamma (same for pre/post)."""
    out = np.clip(np.moveaxis(rgb, 0, -1) / 0.25, 0.0, 1.0) ** 0.8
    return np.nan_to_num(out, nan=0.5)  # grey: no clear observation in the window


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "monitor" / "examples" / "demo.yaml")
    parser.add_argument(
        "--region", default=None, help="demo region (default: the clearest large new landslide)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "simulated_event.png")
    parser.add_argument("--size-m", type=float, default=1400.0, help="side of the shown window")
    return parser.parse_args()


def _pick_event(
    source: ArchiveSource,
    regions: list[tuple[AreaOfInterest, SimulationSpec]],
    wanted: str | None,
) -> tuple[AreaOfInterest, xr.Dataset, gpd.GeoDataFrame, pd.Series]:
    """(region, its feature stack, its ground truth, the event): the landslide of the post
    window with the largest area weighted by how clearly the optical view around it sees."""
    best = None
    for candidate, _ in regions:
        if wanted not in (None, candidate.name):
            continue
        cgrid = region_grid(candidate.geometry)
        cstack = source.features(candidate, PRE, POST)
        truth = source.ground_truth(candidate.name, kinds=None).to_crs(cgrid.crs)
        slides = truth[truth.kind == "landslide"]
        new = slides[(slides.event_date >= POST.start) & (slides.event_date < POST.end)]
        for _, row in new.iterrows():
            c = row.geometry.centroid
            near = cstack.dNDVI.sel(
                x=slice(c.x - 300, c.x + 300), y=slice(c.y + 300, c.y - 300)
            ).values
            score = row.area_m2 * float(np.isfinite(near).mean()) ** 4
            if best is None or score > best[0]:
                best = (score, candidate, cstack, truth, row)
    if best is None:
        raise SystemExit("no landslide in the post window of the demo regions")
    _, area, stack, truth, event = best
    return area, stack, truth, event


def _draw_panels(
    fig: plt.Figure, axes: np.ndarray, view: xr.Dataset, extent: tuple[float, ...]
) -> None:
    """Pre/post true colour, dNDVI, dVV, dVH and the shaded terrain with its tree cover."""
    panels = [
        ("pre-event true colour\n" + str(PRE), _stretch(view.pre_rgb.values), {}),
        ("post-event true colour\n" + str(POST), _stretch(view.post_rgb.values), {}),
        ("dNDVI (post - pre)", view.dNDVI.values, {"cmap": "BrBG", "vmin": -0.7, "vmax": 0.7}),
        ("dVV (dB, terrain-flattened)", view.dVV.values, {"cmap": "PuOr_r", "vmin": -6, "vmax": 6}),
        ("dVH (dB, terrain-flattened)", view.dVH.values, {"cmap": "PuOr_r", "vmin": -6, "vmax": 6}),
    ]
    for ax, (title, image, style) in zip(axes.flat, panels, strict=False):
        im = ax.imshow(image, extent=extent, interpolation="nearest", **style)
        if style:
            fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_title(title, fontsize=10)
    ls = LightSource(azdeg=315, altdeg=40)
    shade = ls.hillshade(view.elevation.values, dx=10, dy=10)
    ax = axes.flat[5]
    ax.imshow(shade, cmap="gray", extent=extent)
    lc = view.landcover.values.astype(float)
    ax.imshow(
        np.ma.masked_where(lc != 10, lc), cmap="Greens", alpha=0.35, extent=extent, vmin=0, vmax=12
    )
    ax.set_title(
        f"terrain (slope median {np.nanmedian(view.slope.values):.0f}°), tree cover", fontsize=10
    )


def _draw_outlines(
    axes: np.ndarray, nearby: gpd.GeoDataFrame, event: pd.Series, extent: tuple[float, ...]
) -> None:
    """The ground truth's outlines on every panel, the event's thicker."""
    colours = {"landslide": "red", "clear_cut": "yellow", "water_level": "cyan"}
    for ax in axes.flat:
        for _, row in nearby.iterrows():
            geoms = getattr(row.geometry, "geoms", [row.geometry])
            for g in geoms:
                x, y = g.exterior.xy
                is_event = row.geometry.equals(event.geometry)
                ax.plot(x, y, color=colours.get(row.kind, "white"), lw=1.6 if is_event else 0.9)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_xticks([])
        ax.set_yticks([])


def main() -> None:
    args = _arguments()
    path, regions, simulation = _demo_regions(args.config)
    build_archive(path, regions, simulation, progress=True)
    area, stack, truth, event = _pick_event(ArchiveSource(path), regions, args.region)
    cx, cy = event.geometry.centroid.x, event.geometry.centroid.y
    half = args.size_m / 2
    view = stack.sel(x=slice(cx - half, cx + half), y=slice(cy + half, cy - half))
    extent = (
        float(view.x.min()) - 5,
        float(view.x.max()) + 5,
        float(view.y.min()) - 5,
        float(view.y.max()) + 5,
    )
    nearby = truth[truth.intersects(event.geometry.centroid.buffer(half * 1.5))]

    fig, axes = plt.subplots(2, 3, figsize=(13.5, 9.2), constrained_layout=True)
    _draw_panels(fig, axes, view, extent)
    _draw_outlines(axes, nearby, event, extent)
    landscape = {a.name: spec.landscape for a, spec in regions}[area.name]
    fig.suptitle(
        f"Simulated landslide, {area.name} ({landscape}), "
        f"failed {event.event_date}, {event.area_m2 / 1e4:.1f} ha\noutlines: ground truth "
        "(red landslides, yellow clear-cuts, cyan reservoir flood); grey: no clear observation",
        fontsize=11,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
