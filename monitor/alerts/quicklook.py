"""Quicklook PNG of one candidate landslide, rendered from its feature stack.

Four panels around the candidate (its bounds plus a margin): pre-event and post-event true
colour (``pre_rgb``/``post_rgb``), dNDVI and dVV (dB), each with the candidate's outline. The
run calls :func:`write_quicklooks` during detection, which renders the largest candidates of a
region (:func:`render_quicklook`) and puts each path in the candidate's ``quicklook`` column; the
e-mail sender inlines the PNG.

The picture is composed with Pillow from the arrays (matplotlib's colour maps and its bundled
DejaVu Sans font): no global state, safe in worker threads and processes, and about 15 ms a
picture. A matplotlib figure with a layout engine took 0.4 s, most of a demo season's run time
(491 pictures).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import time
from collections.abc import Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from PIL import ImageFont
from shapely.geometry.base import BaseGeometry

from models.atomic import temporary_glob, write_atomically

__all__ = ["first_drawn", "quicklook_file", "render_quicklook", "write_quicklooks"]

log = logging.getLogger(__name__)

_DNDVI_LIMIT = 0.6  # symmetric colour range of dNDVI
_DVV_LIMIT_DB = 6.0  # symmetric colour range of dVV, dB
_RGB_WHITE = 0.3  # reflectance shown as white (vegetated scenes are dark otherwise)
_NAN_GREY = 0.55
_PANEL_IN = (3.2, 3.6)  # width, height of one view's cell, inches
_IMAGE_BOX_IN = (0.15, 0.55, 2.9, 2.6)  # left, bottom, width, height of its image, inches
_COLORBAR_IN = (0.3, 0.1)  # bottom, height of its colour bar, inches
_OUTLINE_PT = 1.4  # width of the candidate's outline, points


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


def _coloured(values: np.ndarray, cmap: str, limit: float) -> np.ndarray:
    """(H, W) values -> (H, W, 3) colours of ``cmap`` over [-limit, limit]; NaN grey."""
    import matplotlib  # its colour maps; loaded with the first picture

    scaled = (np.clip(values, -limit, limit) + limit) / (2 * limit)
    colours = matplotlib.colormaps[cmap](np.nan_to_num(scaled, nan=0.5))[..., :3]
    return np.where(np.isnan(values)[..., None], _NAN_GREY, colours)


def _font(points: float, dpi: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return _font_file(max(6, round(points * dpi / 72)))


@lru_cache(maxsize=16)
def _font_file(pixels: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), pixels)
    except OSError:  # a matplotlib without its fonts: Pillow's own
        return ImageFont.load_default(pixels)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


def _fit(shape: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The largest rectangle of ``shape``'s aspect centred in ``box`` (left, top, width, height)."""
    left, top, width, height = box
    scale = min(width / shape[1], height / shape[0])
    w, h = max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))
    return left + (width - w) // 2, top + (height - h) // 2, w, h


def _inches(values: tuple[float, ...], dpi: int) -> tuple[int, ...]:
    return tuple(round(v * dpi) for v in values)


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
    """Write the quicklook PNG of ``geometry`` (in the stack's grid CRS) to ``path``: a
    3.2 x 3.6 in panel per view at ``dpi``; whole or not at all (:func:`models.atomic.
    write_atomically`).

    Missing optical or radar data (NaN) shows as grey with the panel titled "no data"."""
    from PIL import Image, ImageDraw

    path = Path(path)
    rows, cols = _window(stack, geometry, margin_m, min_size_m)
    x = stack["x"].values[cols]
    y = stack["y"].values[rows]
    res = abs(float(x[1] - x[0])) if x.size > 1 else 10.0
    extent = (x[0] - res / 2, x[-1] + res / 2, y[-1] - res / 2, y[0] + res / 2)

    # (title, (H, W, 3) colours in [0, 1], colour bar (cmap, limit) or None, all missing)
    panels: list[tuple[str, np.ndarray, tuple[str, float] | None, bool]] = []
    for name, label in (("pre_rgb", "pre-event"), ("post_rgb", "post-event")):
        if name in stack:
            rgb = stack[name].transpose(..., "y", "x").values[:, rows, cols].astype(float)
            panels.append((label, _true_colour(rgb), None, bool(np.all(np.isnan(rgb)))))
    for name, label, limit, cmap in (
        ("dNDVI", "dNDVI", _DNDVI_LIMIT, "RdYlGn"),
        ("dVV", "dVV (dB)", _DVV_LIMIT_DB, "RdBu_r"),
    ):
        values = stack[name].values[rows, cols].astype(float)
        panels.append(
            (label, _coloured(values, cmap, limit), (cmap, limit), bool(np.all(np.isnan(values))))
        )

    cell_w, cell_h = _inches(_PANEL_IN, dpi)
    canvas = Image.new("RGB", (cell_w * len(panels), cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    title_font, label_font, tick_font = _font(10, dpi), _font(9, dpi), _font(7, dpi)
    box_left, box_bottom, box_w, box_h = _inches(_IMAGE_BOX_IN, dpi)
    bar_bottom, bar_h = _inches(_COLORBAR_IN, dpi)
    line = max(1, round(_OUTLINE_PT * dpi / 72))
    for i, (label, colours, bar, empty) in enumerate(panels):
        left, top, w, h = _fit(
            colours.shape[:2], (i * cell_w + box_left, cell_h - box_bottom - box_h, box_w, box_h)
        )
        image = Image.fromarray(_to_uint8(colours)).resize((w, h), Image.Resampling.NEAREST)
        pen = ImageDraw.Draw(image)
        sx, sy = w / (extent[1] - extent[0]), h / (extent[3] - extent[2])
        for polygon in getattr(geometry, "geoms", [geometry]):
            for ring in (polygon.exterior, *polygon.interiors):
                xy = [((gx - extent[0]) * sx, (extent[3] - gy) * sy) for gx, gy in ring.coords]
                pen.line(xy, fill=(255, 0, 0), width=line, joint="curve")
        canvas.paste(image, (left, top))
        draw.rectangle((left - 1, top - 1, left + w, top + h), outline=(96, 96, 96))
        centre = i * cell_w + box_left + box_w / 2
        draw.text(
            (centre, top - round(0.06 * dpi)),
            f"{label} (no data)" if empty else label,
            fill="black",
            font=label_font,
            anchor="md",
        )
        if bar is not None:
            cmap, limit = bar
            bar_w = round(0.75 * box_w)
            ramp = np.linspace(-limit, limit, bar_w)[None, :].repeat(bar_h, axis=0)
            bar_left, bar_top = round(centre - bar_w / 2), cell_h - bar_bottom - bar_h
            canvas.paste(
                Image.fromarray(_to_uint8(_coloured(ramp, cmap, limit))), (bar_left, bar_top)
            )
            for frac, value in ((0.0, -limit), (0.5, 0.0), (1.0, limit)):
                draw.text(
                    (bar_left + frac * (bar_w - 1), bar_top + bar_h + 1),
                    f"{value:g}",
                    fill="black",
                    font=tick_font,
                    anchor="ma",
                )
    width_m = extent[1] - extent[0]
    draw.text(
        (canvas.width / 2, round(0.06 * dpi)),
        title or f"{stack.attrs.get('region', '')}  ({width_m:.0f} m across)",
        fill="black",
        font=title_font,
        anchor="ma",
    )
    # whole or not at all: a run killed while saving leaves an earlier run's picture, which the
    # inventory and a pending alert may name, as it was
    return write_atomically(path, lambda tmp: canvas.save(tmp, format="PNG"))


def quicklook_file(rank: int, outline: BaseGeometry) -> str:
    """The file name of a candidate's quicklook: its rank in the run, then 8 hex digits of its
    outline (SHA-256 of the WKB). The inventory and the alerts name the file; a past date run
    again with another model or other rules ranks other candidates first, and a name of the
    rank alone overwrote the picture of a landslide stored before with another object's. The
    same candidate run again gets the same name."""
    digest = hashlib.sha256(shapely.to_wkb(outline)).hexdigest()[:8]
    return f"candidate-{rank:03d}-{digest}.png"


def first_drawn(
    candidates: gpd.GeoDataFrame, known: Sequence[tuple[int, bytes]], within_m: float = 0.0
) -> list[Any]:
    """The index of ``candidates`` with those that lie farther than ``within_m`` from every one
    of the ``known`` outlines (``(EPSG, WKB)``; those of another CRS are not compared) first,
    each group in its order: the run passes the inventory's match tolerance, within which a
    detection is taken for the known landslide. Found in a walkthrough of 147 daily runs: from
    the fifth week a region re-saw more than 20 known landslides a day, the 20 pictures went to
    them, and 56 % of August's new alerts had none."""
    epsg = candidates.crs.to_epsg() if candidates.crs is not None else None
    outlines = [shapely.from_wkb(wkb) for code, wkb in known if code == epsg]
    if not outlines or candidates.empty:
        return list(candidates.index)
    tree = shapely.STRtree(outlines)
    touching, _ = tree.query(
        np.asarray(candidates.geometry.values), predicate="dwithin", distance=within_m
    )
    seen = np.zeros(len(candidates), dtype=bool)
    seen[touching] = True
    index = list(candidates.index)
    return [i for i, s in zip(index, seen, strict=True) if not s] + [
        i for i, s in zip(index, seen, strict=True) if s
    ]


#: Seconds after which a temporary picture file is a killed writer's: a live one saves a PNG in
#: well under a second and renames it.
_LEFTOVER_AFTER_S = 10.0


def _remove_leftovers(directory: Path) -> None:
    """The temporary pictures a run killed while saving left in ``directory`` (a hidden
    ``.candidate-….png.<8 hex>.part.png``, :mod:`models.atomic`), older than
    :data:`_LEFTOVER_AFTER_S`: the folder is one region's and date's, which one run at a time
    writes (the run lock); the age spares a live writer beside it (a Dask task run twice, two
    configurations sharing the folder). Found by a disaster agency's walk: one stayed after the
    date was run again."""
    now = time.time()
    try:
        found = list(directory.glob(temporary_glob("candidate-*.png", ".png")))
    except OSError:  # a folder that cannot be listed: the pictures' own errors say so
        return
    for stale in found:
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > _LEFTOVER_AFTER_S:
                stale.unlink()


def write_quicklooks(
    stack: xr.Dataset,
    candidates: gpd.GeoDataFrame,
    directory: Path | None,
    *,
    region: str,
    run_date: date,
    limit: int,
    problems: list[str] | None = None,
    known: Sequence[tuple[int, bytes]] = (),
    known_within_m: float = 0.0,
) -> gpd.GeoDataFrame:
    """A copy of ``candidates`` with a ``quicklook`` column: the PNG of up to ``limit``
    candidates, written under ``directory`` (None: quicklooks are off). Those farther than
    ``known_within_m`` from every ``known`` outline (the inventory's, as ``(EPSG, WKB)``:
    :func:`first_drawn`) come first, each group in the candidates' order (largest first). A
    picture that
    cannot be written is logged and left out; it never costs the detection. What was not
    written is said in one line added to ``problems``, for the run's summary; after a full
    disk the pictures left are not tried (found in a crash walkthrough: 52 warnings, and a
    summary that said nothing)."""
    candidates = candidates.copy()
    candidates["quicklook"] = None
    if directory is None:
        return candidates
    _remove_leftovers(directory)
    if candidates.empty:
        return candidates
    wanted = first_drawn(candidates, known, known_within_m)[:limit]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # an unwritable quicklooks folder must not cost the detections
        log.warning("%s: no quicklooks written, %s is not writable: %s", region, directory, exc)
        if problems is not None:
            problems.append(f"no quicklook written, {directory} is not writable: {exc}")
        return candidates
    failed, why = 0, ""
    for n, i in enumerate(wanted):
        path = directory / quicklook_file(i + 1, candidates.geometry[i])
        try:
            # no number: the inventory gives the landslide its id after this picture is drawn
            # the area the alert reports (pixels times pixel area) where the run measured it
            area = candidates["area_m2"][i] if "area_m2" in candidates else None
            area_ha = float(candidates.geometry[i].area if area is None else area) / 1e4
            title = f"{region}, run of {run_date}: {area_ha:.2f} ha"
            render_quicklook(stack, candidates.geometry[i], path, title=title)
        except Exception as exc:  # a missing picture must not cost the detection
            log.warning("%s: quicklook %s not written: %s", region, path, exc)
            failed, why = failed + 1, str(exc)
            if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # the rest, untried
                if left := len(wanted) - n - 1:
                    log.warning(
                        "%s: the disk is full: %d quicklook(s) more not tried", region, left
                    )
                failed += left
                break
            continue
        candidates.loc[i, "quicklook"] = str(path)
    if failed and problems is not None:
        problems.append(f"{failed} of {len(wanted)} quicklook(s) not written in {directory}: {why}")
    return candidates
