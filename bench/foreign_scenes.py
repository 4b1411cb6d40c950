"""A second scene generator, written apart from ``monitor.simulator``: Ganerød-layout scenes whose
terrain, landslides, look-alikes, radar and clouds are drawn by other rules than the project's
own world, to score the shipped chain on scenes its training world did not make.

The brief's first concern is skill outside our own world: on scenes of a generator that was not
ours the v4 default fell from F1 0.83 to 0.33. The randomised world's held-out families measure
generalisation across families *of that world*: they share its renderers (its terrain, its
speckle, its clouds, its slide shapes). This module shares none of them. It was written from
physical descriptions, not from ``monitor/simulator`` (which it does not import), and it makes
other choices on purpose:

- terrain: a sum of random ridges and Gaussian basins over smoothed noise, one relief and
  tree line a scene, drawn continuously (no presets, no families);
- landslides: a walk down the gradient of the smoothed DEM from a steep head, a body whose width
  varies along the path (source, track, fan where the slope flattens), ragged edges; sizes from a
  log-normal; some in radar layover or shadow; a share of them revegetated partly (deposits
  mixed with vegetation), so that their dNDVI is weak;
- look-alikes: clear-cuts (rotated rectangles in forest), harvested fields on the flat, a lake's
  drawdown shore, burnt patches, a new road along the contour, gravel bars of a braided river
  reworked, fresh snow patches above a snow line, thin-cloud edges that lower the NDVI;
- radar: gamma0 by land cover with a cos-power dependence on the local incidence angle,
  multi-look gamma speckle of ``4.4`` looks a scene averaged over the window's scenes, blurred
  over a resolution cell; a regional moisture change on open ground;
- clouds: blobs of thresholded smooth noise over the post (and sometimes the pre) optical view,
  the dNDVI missing (NaN) under them.

What it cannot be is independent of its author: the same engineer wrote both generators. It
is a check of the chain against rendering choices it was not fitted to, not a measurement on
real imagery (docs/models.md, "Scenes of a second generator").

``write_foreign(out, n_storm, n_quiet, seed)`` writes ``out/storm`` (scenes with landslides and
look-alikes) and ``out/quiet`` (look-alikes only, no landslide): each a Ganerød-layout folder
(``input/<id>_input.tif``, ``label/<id>_label.tif``), in UTM zone 33N at 10 m.
``bench/bench_foreign_scenes.py`` scores the chain on them; alone, this script writes them:

    python bench/foreign_scenes.py --out runs/foreign-scenes --storm 24 --quiet 12 --seed 1
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from scipy import ndimage

from models.datasets import Scene, provenance_path, write_scene
from models.feature_stack import MODEL_BANDS, PIXEL_SIZE_M

__all__ = [
    "KINDS",
    "SIZE",
    "ForeignScene",
    "draw_scene",
    "false_objects_by_kind",
    "kinds_path",
    "radar_geometry",
    "write_foreign",
    "write_kinds",
]

SIZE = 320  # pixels a side: 3.2 km at 10 m
LOOKS = 4.4  # equivalent number of looks of one IW GRD scene
_CRS = CRS.from_epsg(32633)
# what changes a pixel: nothing, a landslide, or one of the look-alikes
KINDS: tuple[str, ...] = (
    "none",
    "landslide",
    "clearcut",
    "harvest",
    "burn",
    "road",
    "snow",
    "cloud_edge",
    "gravel",
    "drawdown",
)

# ESA WorldCover codes (models.worldcover holds the legend)
_TREE, _SHRUB, _GRASS, _CROP, _BARE, _SNOW, _WATER = 10, 20, 30, 40, 60, 70, 80

# gamma0 (dB) of each cover at a 38° local incidence angle, VV and VH: typical C-band values
# (forest volume scattering brighter in VH; smooth water darkest)
_GAMMA0 = {
    _TREE: (-7.0, -13.0),
    _SHRUB: (-8.5, -15.0),
    _GRASS: (-10.0, -17.0),
    _CROP: (-10.5, -17.5),
    _BARE: (-12.5, -20.5),
    _SNOW: (-14.0, -22.0),
    _WATER: (-21.0, -28.0),
}
_NDVI = {  # (mean, sd) of NDVI in summer
    _TREE: (0.80, 0.05),
    _SHRUB: (0.62, 0.07),
    _GRASS: (0.66, 0.08),
    _CROP: (0.70, 0.10),
    _BARE: (0.12, 0.05),
    _SNOW: (0.02, 0.03),
    _WATER: (-0.25, 0.05),
}


@dataclass
class ForeignScene:
    """One drawn scene: the 15 bands, the label, and what was drawn (for reading results)."""

    id: str
    image: np.ndarray  # (15, H, W) float32, MODEL_BANDS order
    label: np.ndarray  # (H, W) uint8
    slides: int  # landslides drawn
    lookalikes: dict[str, int]  # look-alike kind -> objects drawn
    kinds: np.ndarray  # (H, W) uint8: the KINDS index of what changed each pixel, 0 nothing
    transform: Affine


def _smooth_noise(rng: np.random.Generator, sigma: float, shape: tuple[int, int]) -> np.ndarray:
    """White noise smoothed by a Gaussian of ``sigma`` pixels, rescaled to unit spread."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _terrain(rng: np.random.Generator) -> np.ndarray:
    """A DEM (m): ridges of random direction and spacing, basins, and rough noise."""
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    relief = float(rng.uniform(120.0, 1400.0))
    z = np.zeros((n, n))
    for _ in range(int(rng.integers(2, 5))):
        theta = rng.uniform(0, math.pi)
        spacing = rng.uniform(90, 400)  # pixels between ridges
        phase = rng.uniform(0, 2 * math.pi)
        u = xx * math.cos(theta) + yy * math.sin(theta)
        warp = 25 * _smooth_noise(rng, 40, (n, n))
        z += rng.uniform(0.3, 1.0) * np.abs(np.sin((u + warp) * math.pi / spacing + phase))
    for _ in range(int(rng.integers(0, 3))):
        cy, cx = rng.uniform(0, n, 2)
        r = rng.uniform(40, 120)
        z -= rng.uniform(0.3, 0.8) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
    z += 0.25 * _smooth_noise(rng, 16, (n, n))
    z = (z - z.min()) / (z.max() - z.min())
    tilt = rng.uniform(-0.3, 0.3, 2)
    z = z + tilt[0] * yy / n + tilt[1] * xx / n
    z = (z - z.min()) / (z.max() - z.min())
    # the cusps of |sin| (valley floors) softened over ~50 m, then metre-scale roughness
    z = ndimage.gaussian_filter(z, 2.5)
    base = float(rng.uniform(100.0, 1800.0))
    rough = 4.0 * _smooth_noise(rng, 6, (n, n)) + 1.0 * _smooth_noise(rng, 1.5, (n, n))
    return base + relief * z + rough


def _slope_aspect(dem: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope (degrees) and the gradient of ``dem`` (dz/dx eastwards, dz/dy down the rows,
    southwards; per metre)."""
    gy, gx = np.gradient(dem, PIXEL_SIZE_M)
    return np.degrees(np.arctan(np.hypot(gx, gy))), gx, gy


def _cover(
    rng: np.random.Generator, dem: np.ndarray, slope: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Land cover (WorldCover codes), canopy height (m), the lake mask."""
    n = SIZE
    lo, hi = float(dem.min()), float(dem.max())
    tree_line = float(rng.uniform(lo + 0.4 * (hi - lo), hi + 600.0))
    cover = np.full((n, n), _GRASS, np.uint8)
    patch = _smooth_noise(rng, 10, (n, n))
    forest_share = rng.uniform(0.2, 0.9)
    forest = (patch < np.quantile(patch, forest_share)) & (dem < tree_line)
    cover[forest] = _TREE
    cover[(~forest) & (patch > 1.2) & (dem < tree_line)] = _SHRUB
    alpine = dem > tree_line + 150
    cover[alpine & (slope > 32)] = _BARE
    # farmland on gentle low ground
    farm_limit = float(rng.uniform(0.0, 0.45))
    farm = (slope < 8) & (dem < lo + farm_limit * (hi - lo))
    cover[farm] = _CROP
    # a lake in the lowest basin, sometimes
    lake = np.zeros((n, n), bool)
    if rng.random() < 0.5:
        smooth = ndimage.gaussian_filter(dem, 4)
        level = np.quantile(smooth, rng.uniform(0.02, 0.08))
        lab, count = ndimage.label(smooth < level)
        if count:
            sizes = ndimage.sum_labels(np.ones_like(lab), lab, range(1, count + 1))
            lake = lab == (int(np.argmax(sizes)) + 1)
            cover[lake] = _WATER
    canopy = np.zeros((n, n), np.float32)
    tall = rng.uniform(14, 32)
    canopy[cover == _TREE] = np.clip(
        tall + 5 * _smooth_noise(rng, 4, (n, n))[cover == _TREE], 4, 45
    )
    canopy[cover == _SHRUB] = np.clip(
        2 + 0.8 * rng.standard_normal(int((cover == _SHRUB).sum())), 0, 5
    )
    return cover, canopy, lake


def _downslope_path(
    start: tuple[float, float], gx: np.ndarray, gy: np.ndarray, slope: np.ndarray, length: int
) -> list[tuple[float, float, float]]:
    """Points (row, col, local slope) of a walk down the gradient from ``start``: it stops at
    ``length`` steps, at the edge, or after a stretch on ground under 8°."""
    r, c = start
    out = []
    flat = 0
    for _ in range(length):
        i, j = round(r), round(c)
        if not (1 <= i < SIZE - 1 and 1 <= j < SIZE - 1):
            break
        s = float(slope[i, j])
        out.append((r, c, s))
        g = math.hypot(gx[i, j], gy[i, j])
        if g < 1e-6:
            break
        r -= gy[i, j] / g
        c -= gx[i, j] / g
        flat = flat + 1 if s < 8 else 0
        if flat > 6:
            break
    return out


def _paint_slide(
    rng: np.random.Generator,
    path: list[tuple[float, float, float]],
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The body of a slide along ``path`` (bool mask) and its deposit zone (bool)."""
    n = SIZE
    yy, xx = np.mgrid[0:n, 0:n]
    rows = np.array([p[0] for p in path])
    cols = np.array([p[1] for p in path])
    r0, r1 = int(max(rows.min() - 30, 0)), int(min(rows.max() + 31, n))
    c0, c1 = int(max(cols.min() - 30, 0)), int(min(cols.max() + 31, n))
    sub_y, sub_x = yy[r0:r1, c0:c1], xx[r0:r1, c0:c1]
    head_width = float(np.clip(rng.lognormal(math.log(2.5), 0.45), 1.0, 10.0))
    body = np.full((r1 - r0, c1 - c0), -1e9)
    deposit = np.zeros_like(body, dtype=bool)
    k = len(path)
    for idx, (r, c, s) in enumerate(path):
        t = idx / max(k - 1, 1)
        # wide source, narrower track, fan where it runs out on gentler ground
        width = head_width * (1.0 - 0.45 * math.sin(math.pi * min(t, 0.8) / 0.8 * 0.5))
        if s < 15 and t > 0.5:
            width *= 1.0 + 0.8 * (15 - s) / 15
        d = np.hypot(sub_y - r, sub_x - c)
        body = np.maximum(body, width - d)
        if t > 0.7 or (s < 15 and t > 0.5):
            deposit |= d < width
    ragged = body + 0.6 * noise[r0:r1, c0:c1]
    mask = np.zeros((n, n), bool)
    mask[r0:r1, c0:c1] = ragged > 0
    dep = np.zeros((n, n), bool)
    dep[r0:r1, c0:c1] = deposit & (ragged > 0)
    return mask, dep


def _rotated_rect(
    rng: np.random.Generator, centre: tuple[float, float], length: float, width: float
) -> np.ndarray:
    """A rectangle of ``length`` × ``width`` pixels at a random angle around ``centre``."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    a = rng.uniform(0, math.pi)
    u = (xx - centre[1]) * math.cos(a) + (yy - centre[0]) * math.sin(a)
    v = -(xx - centre[1]) * math.sin(a) + (yy - centre[0]) * math.cos(a)
    return (np.abs(u) < length / 2) & (np.abs(v) < width / 2)


def radar_geometry(
    gx: np.ndarray, gy: np.ndarray, theta_deg: float, east: float, south: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local incidence angle (degrees), layover and shadow (bool) of ground whose slope is
    ``gx`` (dz/dx, eastwards) and ``gy`` (dz per metre down the rows, southwards), seen at the
    incidence angle ``theta_deg`` looking along the horizontal unit vector (``east``,
    ``south``) from the sensor towards the ground."""
    theta = math.radians(theta_deg)
    # surface normal (-dz/dx, -dz/dnorth, 1), with dz/dnorth = -gy
    nx, ny_north, nz = -gx, gy, np.ones_like(gx)
    norm = np.sqrt(nx**2 + ny_north**2 + nz**2)
    # unit vector from the ground to the sensor: up, and against the look direction
    lx, ly_north, lz = -math.sin(theta) * east, math.sin(theta) * south, math.cos(theta)
    cos_lia = (nx * lx + ny_north * ly_north + nz * lz) / norm
    lia = np.degrees(np.arccos(np.clip(cos_lia, -1.0, 1.0)))
    # slope along the look direction: positive where the ground rises away from the sensor,
    # a slope that faces it; steeper than the incidence angle it folds over (layover), a slope
    # facing away steeper than the grazing angle is hidden (shadow)
    facing = np.degrees(np.arctan(gx * east + gy * south))
    layover = facing > theta_deg
    shadow = -facing > 90.0 - theta_deg
    return lia, layover, shadow


def _radar_geometry(
    rng: np.random.Generator, gx: np.ndarray, gy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`radar_geometry` for one orbit pass's look direction and a drawn incidence
    angle."""
    theta = rng.uniform(31.0, 45.0)
    ascending = rng.random() < 0.5
    # the look direction: east for ascending (right-looking from a northbound track), west for
    # descending, a few degrees off the parallel
    az = math.radians(rng.uniform(-12, 12))
    east = math.cos(az) * (1.0 if ascending else -1.0)
    south = math.sin(az)
    return radar_geometry(gx, gy, theta, east, south)


def _speckled_db(
    rng: np.random.Generator, gamma0_db: np.ndarray, scenes: int, cell: float
) -> np.ndarray:
    """The mean of ``scenes`` speckled scenes (linear power, ``LOOKS`` looks each), in dB, the
    speckle correlated over a resolution cell of ``cell`` pixels (Gaussian blur of the ratio)."""
    shape = scenes * LOOKS
    ratio = rng.gamma(shape, 1.0 / shape, gamma0_db.shape)
    if cell > 0:
        # blurring the ratio lowers its spread; rescale it back to the looks' spread
        blurred = ndimage.gaussian_filter(ratio, cell)
        spread = blurred.std() + 1e-12
        ratio = 1.0 + (blurred - blurred.mean()) * (ratio.std() / spread)
        ratio = np.clip(ratio, 0.05, None)
    return gamma0_db + 10.0 * np.log10(ratio)


def draw_scene(scene_id: str, seed: int, with_slides: bool) -> ForeignScene:
    """One scene drawn from ``seed``: landslides (when ``with_slides``) and look-alikes."""
    rng = np.random.default_rng(seed)
    n = SIZE
    dem = _terrain(rng)
    slope, gx, gy = _slope_aspect(dem)
    smooth_dem = ndimage.gaussian_filter(dem, 3)
    _, sgx, sgy = _slope_aspect(smooth_dem)
    cover, canopy, lake = _cover(rng, dem, slope)
    koppen = int(rng.choice([9, 12, 14, 15, 16, 26, 27, 29]))

    ndvi_pre = np.zeros((n, n))
    for code, (mu, sd) in _NDVI.items():
        sel = cover == code
        ndvi_pre[sel] = mu + sd * _smooth_noise(rng, 2, (n, n))[sel]
    ndvi_post = ndvi_pre.copy()
    # phenology and sun angle: a smooth regional shift, plus pixel noise in both views
    ndvi_post += rng.normal(0.0, 0.03) + 0.03 * _smooth_noise(rng, 50, (n, n))
    ndvi_pre += 0.02 * rng.standard_normal((n, n))
    ndvi_post += 0.02 * rng.standard_normal((n, n))

    gain_vv = np.zeros((n, n))  # post-minus-pre gamma0 change (dB), before speckle
    gain_vh = np.zeros((n, n))
    label = np.zeros((n, n), np.uint8)
    kinds = np.zeros((n, n), np.uint8)  # KINDS index of what changed each pixel (0: nothing)
    noise = _smooth_noise(rng, 1.5, (n, n))
    drawn: dict[str, int] = {}

    def mark(kind: str, where: np.ndarray) -> None:
        drawn[kind] = drawn.get(kind, 0) + 1
        kinds[where & (label == 0)] = KINDS.index(kind)

    slides = 0
    if with_slides:
        wanted = int(rng.integers(4, 40))
        heads = np.argwhere((slope > 24) & (slope < 55) & (cover != _WATER) & (cover != _CROP))
        rng.shuffle(heads)
        for r, c in heads[: wanted * 4]:
            if slides >= wanted:
                break
            if label[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4].any():
                continue
            length = int(np.clip(rng.lognormal(math.log(10), 0.7), 3, 90))
            path = _downslope_path((float(r), float(c)), sgx, sgy, slope, length)
            if len(path) < 3:
                continue
            body, deposit = _paint_slide(rng, path, noise)
            body &= cover != _WATER
            # one slide is one connected scar: a fragment the ragged edge cut off is dropped
            parts, count = ndimage.label(body, np.ones((3, 3)))
            if count > 1:
                sizes = ndimage.sum_labels(body, parts, range(1, count + 1))
                body = parts == int(np.argmax(sizes)) + 1
                deposit &= body
            if body.sum() < 4:
                continue
            label[body] = 1
            kinds[body] = KINDS.index("landslide")
            slides += 1
            # a share partly revegetated, or a shallow slide that left roots and grass
            bare_ndvi = rng.uniform(0.05, 0.25) if rng.random() < 0.75 else rng.uniform(0.3, 0.5)
            mix = np.where(deposit, rng.uniform(0.0, 0.4), 0.0)
            ndvi_post[body] = (1 - mix[body]) * (
                bare_ndvi + 0.04 * rng.standard_normal(int(body.sum()))
            ) + mix[body] * ndvi_pre[body]
            was_forest = cover[body] == _TREE
            # forest to bare: volume scattering gone (VH falls most); open ground to rough debris
            gain_vh[body] = np.where(was_forest, rng.uniform(-5.0, -1.5), rng.uniform(-1.0, 1.5))
            gain_vv[body] = np.where(was_forest, rng.uniform(-2.5, 0.0), rng.uniform(0.0, 2.5))

    # look-alikes, a few kinds a scene: those of the ground (clear-cuts, harvest, burns, roads,
    # gravel bars) beside the landslides, never over them (a label says what changed there);
    # fresh snow and haze over everything, landslides included, as the sky does
    chosen = rng.choice(KINDS[2:], size=int(rng.integers(3, 7)), replace=False)
    for kind in chosen:
        if kind == "clearcut" and (cover == _TREE).any():
            for _ in range(int(rng.integers(1, 8))):
                trees = np.argwhere(cover == _TREE)
                r, c = trees[rng.integers(len(trees))]
                rect = _rotated_rect(rng, (r, c), rng.uniform(8, 35), rng.uniform(6, 25))
                rect &= (cover == _TREE) & (label == 0)
                if rect.sum() < 10:
                    continue
                ndvi_post[rect] = rng.uniform(0.25, 0.45) + 0.04 * rng.standard_normal(
                    int(rect.sum())
                )
                gain_vh[rect] = rng.uniform(-4.0, -1.5)
                gain_vv[rect] = rng.uniform(-1.5, 0.5)
                mark(kind, rect)
        elif kind == "harvest" and (cover == _CROP).sum() > 200:
            crop = cover == _CROP
            size = int(rng.integers(12, 30))
            fields = (np.arange(n)[:, None] // size) * 1000 + (
                np.arange(n)[None, :] // int(size * rng.uniform(0.6, 1.6))
            )
            for f in np.unique(fields[crop]):
                if rng.random() < 0.4:
                    sel = crop & (fields == f) & (label == 0)
                    ndvi_post[sel] = rng.uniform(0.15, 0.35) + 0.03 * rng.standard_normal(
                        int(sel.sum())
                    )
                    gain_vv[sel] = rng.uniform(-2.0, 2.0)
                    gain_vh[sel] = rng.uniform(-3.0, 0.0)
                    mark(kind, sel)
        elif kind == "burn":
            veg = np.isin(cover, (_TREE, _SHRUB, _GRASS))
            if not veg.any():
                continue
            blob = _smooth_noise(rng, rng.uniform(4, 10), (n, n))
            sel = (blob > np.quantile(blob, 1 - rng.uniform(0.003, 0.03))) & veg & (label == 0)
            count = int(ndimage.label(sel)[1])
            ndvi_post[sel] = rng.uniform(0.08, 0.3) + 0.05 * rng.standard_normal(int(sel.sum()))
            gain_vh[sel] = rng.uniform(-3.0, -0.5)
            gain_vv[sel] = rng.uniform(-1.5, 1.0)
            drawn[kind] = drawn.get(kind, 0) + count
            kinds[sel & (label == 0)] = KINDS.index(kind)
        elif kind == "road":
            # a new forest road along a contour: 1-2 pixels wide, hundreds of metres long
            level = float(np.quantile(smooth_dem, rng.uniform(0.3, 0.8)))
            band = np.abs(smooth_dem - level) < rng.uniform(1.5, 4.0)
            centre = (float(rng.uniform(60, n - 60)), float(rng.uniform(60, n - 60)))
            window = _rotated_rect(rng, centre, rng.uniform(60, 200), 400)
            sel = band & window & (cover != _WATER) & (label == 0)
            if sel.sum() < 10:
                continue
            ndvi_post[sel] = rng.uniform(0.1, 0.3)
            gain_vv[sel] = rng.uniform(-1.0, 2.0)
            gain_vh[sel] = rng.uniform(-3.0, -0.5)
            mark(kind, sel)
        elif kind == "snow" and float(dem.max()) > 1800.0:
            # an early snowfall on high ground above a line, patchy: NDVI near 0, wet snow
            # darkens the C band
            line = float(np.quantile(dem, rng.uniform(0.6, 0.95)))
            patchy = _smooth_noise(rng, 5, (n, n)) > rng.uniform(-0.5, 0.8)
            sel = (dem > line) & patchy & (cover != _WATER)
            ndvi_post[sel] = rng.uniform(-0.05, 0.15) + 0.03 * rng.standard_normal(int(sel.sum()))
            wet = rng.random() < 0.5
            gain_vv[sel] += rng.uniform(-4.0, -2.0) if wet else rng.uniform(-0.5, 0.5)
            gain_vh[sel] += rng.uniform(-4.0, -2.0) if wet else rng.uniform(-0.5, 0.5)
            mark(kind, sel)
        elif kind == "cloud_edge":
            # haze and thin cloud the mask missed: a smooth drop in NDVI, no radar change
            haze = _smooth_noise(rng, rng.uniform(6, 20), (n, n))
            sel = haze > np.quantile(haze, 1 - rng.uniform(0.01, 0.06))
            ndvi_post[sel] -= rng.uniform(0.15, 0.4) * np.clip(haze[sel] - haze[sel].min(), 0, 1)
            mark(kind, sel)
        elif kind == "gravel":
            # a braided river's bars reworked: along the valley floor, vegetated bars stripped
            acc = ndimage.gaussian_filter(dem, 8)
            floor = (acc < np.quantile(acc, 0.04)) & (slope < 10)
            bars = floor & (_smooth_noise(rng, 2, (n, n)) > 0.6) & (cover != _WATER) & (label == 0)
            if bars.sum() < 10:
                continue
            ndvi_post[bars] = rng.uniform(0.08, 0.25)
            gain_vv[bars] = rng.uniform(-1.0, 2.5)
            gain_vh[bars] = rng.uniform(-2.5, 0.5)
            mark(kind, bars)
        elif kind == "drawdown" and lake.sum() > 100:
            inner = ndimage.binary_erosion(lake, iterations=int(rng.integers(2, 6)))
            shore = lake & ~inner
            ndvi_post[shore] = rng.uniform(0.0, 0.15)
            gain_vv[shore] = rng.uniform(5.0, 9.0)  # smooth water to wet mud
            gain_vh[shore] = rng.uniform(5.0, 8.0)
            mark(kind, shore)

    # radar: one pass, the window's scene counts, moisture on open ground after the storm
    lia, layover, shadow = _radar_geometry(rng, gx, gy)
    cos_ratio = np.clip(np.cos(np.radians(lia)), 0.05, 1.0) / math.cos(math.radians(38.0))
    power = rng.uniform(0.5, 1.5)  # gamma0 already flattens most of it; a residue remains
    geometry = 10.0 * power * np.log10(cos_ratio)
    base_vv = np.zeros((n, n))
    base_vh = np.zeros((n, n))
    for code, (vv, vh) in _GAMMA0.items():
        base_vv[cover == code] = vv
        base_vh[cover == code] = vh
    texture = 0.8 * _smooth_noise(rng, 3, (n, n))
    open_ground = ~np.isin(cover, (_TREE, _WATER))
    moisture = rng.uniform(-0.5, 2.0) * open_ground * (1 + 0.3 * _smooth_noise(rng, 30, (n, n)))
    n_pre = int(rng.integers(2, 6))
    n_post = int(rng.integers(1, 4))
    cell = rng.uniform(0.5, 1.0)
    vv, vh = base_vv + geometry + texture, base_vh + geometry + texture
    pre_vv = _speckled_db(rng, vv, n_pre, cell)
    pre_vh = _speckled_db(rng, vh, n_pre, cell)
    post_vv = _speckled_db(rng, vv + gain_vv + moisture, n_post, cell)
    post_vh = _speckled_db(rng, vh + gain_vh + 0.6 * moisture, n_post, cell)
    for img in (pre_vv, pre_vh, post_vv, post_vh):
        img[layover] += 6.0  # foreshortened slopes fold bright
        img[shadow] = -28.0 + rng.standard_normal(int(shadow.sum()))

    # clouds: blobs over the post view (the storm's aftermath), sometimes over the pre view
    dndvi = (ndvi_post - ndvi_pre).astype(np.float32)
    post_cloud = _smooth_noise(rng, rng.uniform(8, 25), (n, n)) > rng.uniform(0.3, 2.5)
    if rng.random() < 0.3:
        post_cloud |= _smooth_noise(rng, 15, (n, n)) > rng.uniform(1.0, 2.5)
    dndvi[post_cloud] = np.nan

    image = np.zeros((len(MODEL_BANDS), n, n), np.float32)
    bands = {
        "preVV": pre_vv,
        "postVV": post_vv,
        "dVV": post_vv - pre_vv,
        "preVH": pre_vh,
        "postVH": post_vh,
        "dVH": post_vh - pre_vh,
        "layover": layover.astype(float),
        "shadow": shadow.astype(float),
        "liaDeg": lia,
        "elevation": dem,
        "slope": slope,
        "kg_climate": np.full((n, n), koppen, float),
        "canopy_height": canopy,
        "landcover": cover.astype(float),
        "dNDVI": dndvi,
    }
    for i, name in enumerate(MODEL_BANDS):
        image[i] = bands[name]
    x0 = 300000.0 + 10000.0 * (seed % 50)
    y0 = 5200000.0 + 10000.0 * (seed // 50 % 50)
    transform = Affine(PIXEL_SIZE_M, 0.0, x0, 0.0, -PIXEL_SIZE_M, y0)
    return ForeignScene(scene_id, image, label, slides, drawn, kinds, transform)


def kinds_path(root: Path, scene_id: str) -> Path:
    """Where :func:`write_kinds` puts a scene's ``kinds`` raster (beside the layout's folders,
    which no reader of the layout opens)."""
    return Path(root) / "kinds" / f"{scene_id}_kinds.tif"


def write_kinds(root: Path, scene: ForeignScene) -> Path:
    """The scene's ``kinds`` raster (uint8, :data:`KINDS` indices), on its grid."""
    path = kinds_path(root, scene.id)
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": scene.kinds.shape[0],
        "width": scene.kinds.shape[1],
        "count": 1,
        "dtype": "uint8",
        "crs": _CRS,
        "transform": scene.transform,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(scene.kinds[None])
        dst.update_tags(kinds=",".join(KINDS))
    return path


def false_objects_by_kind(detections: Path, root: Path, kept_only: bool = True) -> dict[str, int]:
    """The false objects of ``detections`` (a ``detect --stack`` GeoPackage of the scenes of
    ``root``; false as ``evaluate --chain`` counts them, :func:`models.chain_metrics.
    scene_objects`), counted by what the generator drew under most of their pixels ("nothing
    drawn" where no kind covers a fifth of them); the filter's kept ones only, or all."""
    import geopandas as gpd
    from rasterio.features import rasterize

    from models.chain_metrics import scene_objects

    polygons = gpd.read_file(detections)
    counts: dict[str, int] = {}
    for scene_id, mine in polygons.groupby("scene"):
        with rasterio.open(kinds_path(root, str(scene_id))) as src:
            kinds, transform = src.read(1), src.transform
        shapes = list(mine.geometry)
        # the generator's landslides are the label's (kind 1 exactly where the label is 1)
        objects = scene_objects(str(scene_id), kinds == KINDS.index("landslide"), transform, shapes)
        false = (objects.tp == 0) & ~objects.unknown
        if kept_only:
            false &= ~mine["suppressed"].astype(bool).to_numpy()
        which = rasterize(
            ((g, i + 1) for i, g in enumerate(shapes)),
            out_shape=kinds.shape,
            transform=transform,
            dtype="int32",
        )
        for i in np.flatnonzero(false):
            under = kinds[which == i + 1]
            drawn = under[under > 0]
            name = (
                KINDS[int(np.bincount(drawn).argmax())]
                if drawn.size >= 0.2 * max(under.size, 1)
                else "nothing drawn"
            )
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def write_foreign(
    out: Path,
    n_storm: int,
    n_quiet: int,
    seed: int = 0,
    n_val: int = 0,
    n_train: int = 0,
    n_calibration: int = 0,
) -> dict[str, dict[str, object]]:
    """Write ``n_storm`` scenes with landslides to ``out/storm``, ``n_quiet`` look-alike-only
    scenes to ``out/quiet``, and ``n_val``, ``n_train`` and ``n_calibration`` more scenes with
    landslides (other seeds) to ``out/val``, ``out/train`` and ``out/calibration``; returns
    what was drawn, by set."""
    summary: dict[str, dict[str, object]] = {}
    for name, count, slides, offset in (
        ("storm", n_storm, True, 0),
        ("quiet", n_quiet, False, 10_000),
        ("val", n_val, True, 20_000),
        ("train", n_train, True, 30_000),
        ("calibration", n_calibration, True, 40_000),
    ):
        if count == 0:
            continue
        drawn: dict[str, int] = {}
        total = 0
        for k in range(count):
            scene_seed = seed * 100_000 + offset + k
            sc = draw_scene(f"foreign-{name}-{k:03d}", scene_seed, slides)
            write_scene(out / name, Scene(sc.id, sc.image, sc.label, _CRS, sc.transform))
            write_kinds(out / name, sc)
            # each scene is drawn on its own: a group of its own for the scene bootstrap
            record = provenance_path(out / name, sc.id)
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(
                json.dumps(
                    {"group": sc.id, "source": "bench/foreign_scenes.py", "seed": scene_seed}
                )
                + "\n"
            )
            total += sc.slides
            for kind, m in sc.lookalikes.items():
                drawn[str(kind)] = drawn.get(str(kind), 0) + m
        summary[name] = {"scenes": count, "slides": total, "lookalikes": drawn}
    return summary


def main() -> int:
    """Write the scenes alone, to score other models or chains on them."""
    import argparse

    parser = argparse.ArgumentParser(description="write scenes of the second generator")
    parser.add_argument("--out", type=Path, required=True, help="a folder of its own")
    parser.add_argument("--storm", type=int, default=24, help="scenes with landslides")
    parser.add_argument("--quiet", type=int, default=12, help="look-alike-only scenes")
    parser.add_argument("--val", type=int, default=0, help="more scenes with landslides")
    parser.add_argument("--train", type=int, default=0, help="more scenes with landslides")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = (args.storm, args.quiet, args.val, args.train)
    if min(counts) < 0 or max(counts) == 0:
        parser.error("--storm, --quiet, --val, --train: counts of 0 or more, not all 0")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: not empty; give a folder of its own")
    drawn = write_foreign(args.out, args.storm, args.quiet, args.seed, args.val, args.train)
    print(json.dumps(drawn, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
