"""Quicklook PNG of one candidate landslide, rendered from its feature stack.

Four panels around the candidate (its bounds plus a margin): pre-event and post-event true
colour (``pre_rgb``/``post_rgb``), dNDVI and dVV (dB), each with the candidate's outline. The
run calls :func:`write_quicklooks` during detection, which renders the largest candidates of a
region (:func:`render_quicklook`) and puts each path in the candidate's ``quicklook`` column; the
e-mail sender inlines the PNG.

Matplotlib's object API (``Figure`` + Agg canvas) is used, not ``pyplot``: no global state, safe
in worker threads and processes.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr
from shapely.geometry.base import BaseGeometry

__all__ = ["render_quicklook", "write_quicklooks"]

log = logging.getLogger(__name__)

_DNDVI_LIMIT = 0.6  # symmetric colour range of dNDVI
_DVV_LIMIT_DB = 6.0  # symmetric colour range of dVV, dB
_RGB_WHITE = 0.3  # reflectance shown as white (vegetated scenes are dark otherwise)
_NAN_GREY = 0.55


def _window(stack: xr.Dataset, geometry: BaseGeometry, margin_m: float, min_size_m: float):
    minx, miny, maxx, maxy = geometry.bounds
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    half_w = max((maxx - minx) / 2 + margin_m, min_size_m / 2)
    half_h = max((maxy - miny) / 2 + margin_m, min_size_m / 2)
    x, y = stack["x"].values, stack["y"].values
    xs = np.flatnonzero((x >= cx - half_w) & (x <= cx + half_w))
    ys = np.flatnonzero((y >= cy - half_h) & (y <= cy + half_h))
    if xs.size == 0 or ys.size == 0:
        raise ValueError(
            f"candidate at ({cx:.0f}, {cy:.0f}) lies outside the feature stack of region "
            f"{stack.attrs.get('region', '?')!r}"
        )
    return slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1)


def _true_colour(rgb: np.ndarray) -> np.ndarray:
    """(3, H, W) reflectance -> (H, W, 3) display image with a gamma stretch; NaN grey."""
    image = np.clip(np.moveaxis(rgb, 0, -1) / _RGB_WHITE, 0.0, 1.0) ** (1 / 1.6)
    return np.where(np.isnan(image), _NAN_GREY, image)


def _outline(ax, geometry: BaseGeometry) -> None:
    for polygon in getattr(geometry, "geoms", [geometry]):
        for ring in (polygon.exterior, *polygon.interiors):
            xs, ys = ring.xy
            ax.plot(xs, ys, color="red", linewidth=1.4)


def render_quicklook(
    stack: xr.Dataset,
    geometry: BaseGeometry,
    path: str | Path,
    *,
    title: str | None = None,
    margin_m: float = 150.0,
    min_size_m: float = 400.0,
    dpi: int = 100,
) -> Path:
    """Write the quicklook PNG of ``geometry`` (in the stack's grid CRS) to ``path``.

    Missing optical or radar data (NaN) shows as grey with the panel titled "no data"."""
    path = Path(path)
    rows, cols = _window(stack, geometry, margin_m, min_size_m)
    x = stack["x"].values[cols]
    y = stack["y"].values[rows]
    res = abs(float(x[1] - x[0])) if x.size > 1 else 10.0
    extent = (x[0] - res / 2, x[-1] + res / 2, y[-1] - res / 2, y[0] + res / 2)

    panels: list[tuple[str, np.ndarray, dict, bool]] = []
    for name, label in (("pre_rgb", "pre-event"), ("post_rgb", "post-event")):
        if name in stack:
            rgb = stack[name].transpose(..., "y", "x").values[:, rows, cols].astype(float)
            panels.append((label, _true_colour(rgb), {}, bool(np.all(np.isnan(rgb)))))
    for name, label, limit, cmap in (
        ("dNDVI", "dNDVI", _DNDVI_LIMIT, "RdYlGn"),
        ("dVV", "dVV (dB)", _DVV_LIMIT_DB, "RdBu_r"),
    ):
        values = stack[name].values[rows, cols].astype(float)
        style = {"cmap": cmap, "vmin": -limit, "vmax": limit}
        panels.append((label, values, style, bool(np.all(np.isnan(values)))))

    # matplotlib loads with the first picture: a run without quicklooks never pays for it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2 * len(panels), 3.6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, (label, data, style, empty) in zip(axes, panels, strict=True):
        if style:
            ax.set_facecolor(str(_NAN_GREY))
            image = ax.imshow(np.ma.masked_invalid(data), extent=extent, **style)
            figure.colorbar(image, ax=ax, shrink=0.75, orientation="horizontal", pad=0.02)
        else:
            ax.imshow(data, extent=extent)
        _outline(ax, geometry)
        ax.set_xlim(extent[0], extent[1])
        ax.set_ylim(extent[2], extent[3])
        ax.set_title(f"{label} (no data)" if empty else label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    width_m = extent[1] - extent[0]
    figure.suptitle(
        title or f"{stack.attrs.get('region', '')}  ({width_m:.0f} m across)", fontsize=10
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path


def write_quicklooks(
    stack: xr.Dataset,
    candidates: gpd.GeoDataFrame,
    directory: Path | None,
    *,
    region: str,
    run_date: date,
    limit: int,
) -> gpd.GeoDataFrame:
    """A copy of ``candidates`` with a ``quicklook`` column: the PNG of each of the first
    ``limit`` candidates, written under ``directory`` (None: quicklooks are off). A picture that
    cannot be written is logged and left out; it never costs the detection."""
    candidates = candidates.copy()
    candidates["quicklook"] = None
    if directory is None or candidates.empty:
        return candidates
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # an unwritable quicklooks folder must not cost the detections
        log.warning("%s: no quicklooks written, %s is not writable: %s", region, directory, exc)
        return candidates
    for i in candidates.index[:limit]:
        path = directory / f"candidate-{i + 1:03d}.png"
        try:
            title = f"{region} candidate {i + 1} ({run_date})"
            render_quicklook(stack, candidates.geometry[i], path, title=title)
        except Exception as exc:  # a missing picture must not cost the detection
            log.warning("%s: quicklook %s not written: %s", region, path, exc)
            continue
        candidates.loc[i, "quicklook"] = str(path)
    return candidates
