"""Object-level rejection of look-alikes: every candidate polygon gets features of its shape, its
setting on the terrain, its spectral and radar change, its land cover and the ensemble's
confidence, and a gradient-boosted classifier scores how much it looks like a landslide.

Why objects and not pixels: a fresh landslide scar and a clear-cut, a crop harvest or a
reservoir's drawdown shore lose vegetation alike, pixel by pixel; Ganerød et al. name telling
"vegetation loss unrelated to landslides" from landslides as the open challenge of their method
(Discussion, citing Lindsay et al. 2023). They differ in shape and setting, which is what
geographic object-based image analysis works with (Blaschke et al. 2014, cited there): a slide is
elongated down the fall line, starts on a steep slope and runs out below it, in forest or
grassland; a clear-cut has straight edges and right angles; a harvest lies on flat cropland; a
drawdown rings a lake.

The features (:data:`FEATURES`) are computed from the 15 model bands of the feature stack
(``models.feature_stack.MODEL_BANDS``) and the ensemble's output only, so they are the same for a
monitoring run's stack and for a stack in the Ganerød et al. layout (``detect --stack``, the
training scenes). That layout has no pre-event NDVI and no post-event reflectance; their role is
taken by the land cover and canopy height before the event (WorldCover, canopy height) and by the
dNDVI distribution. A feature that cannot be computed (no valid pixel) is :data:`MISSING`.

The classifier is a scikit-learn ``GradientBoostingClassifier`` fitted by
:mod:`monitor.ops.filter_fit` and shipped as ONNX next to the ensemble, with its SHA-256 and the
cut calibrated on validation scenes in the ensemble's manifest (``object_filter``).
:meth:`models.ensemble.Ensemble.load` verifies and loads it with the members
(:class:`models.object_filter.ObjectFilterModel`, ``ensemble.object_filter``): only
``onnxruntime`` is needed to score, and a file whose checksum does not match is refused
(:class:`models.manifest.ManifestError`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from affine import Affine
from rasterio import features as rio_features
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from models.manifest import ManifestError
from models.object_filter import ObjectFilterModel
from models.worldcover import BARE, CROP, GRASS, SHRUB, TREE, WATER
from monitor.grid import outline_pixels

__all__ = [
    "FEATURES",
    "FEATURES_COLUMN",
    "FEATURES_ID_COLUMN",
    "MISSING",
    "ObjectFilterModel",
    "candidate_features",
    "check_features",
    "edge_orders",
    "edge_right_angles",
    "features_id",
    "flow_accumulation",
    "pack_features",
    "score_candidates",
    "scored_features",
    "unpack_features",
]

MISSING: Final = -999.0  # a feature without any valid pixel (the classifier splits on it)

FEATURES: tuple[str, ...] = (
    # shape
    "log_area_m2",
    "compactness",  # 4 pi A / P^2 of the polygon: 1 for a disc
    "elongation",  # sqrt of the ratio of the pixel cloud's principal variances
    "fall_line_alignment",  # |cos| between the long axis and the mean downslope direction
    "rectangularity",  # area / area of the minimum rotated rectangle
    "right_angles",  # share of the outline's corners within 20 degrees of 90
    "straight_edges",  # share of the outline in straight runs of 40 m or more
    "edge_right_angles",  # the dNDVI edges around the object on two axes at right angles
    # topography
    "slope_mean",
    "slope_head",  # mean slope of the highest quarter of the object's pixels
    "slope_toe",  # ... of the lowest quarter
    "relief_m",  # elevation range (5th to 95th percentile) inside the object
    "slope_position",  # object's mean elevation within the range of its 300 m surroundings
    "curvature",  # mean Laplacian of the elevation (m per pixel^2; > 0 concave)
    "log_upslope_area_m2",  # D8 flow accumulation, the largest inside the object
    # optical and radar change
    "dndvi_mean",
    "dndvi_p10",
    "dndvi_p90",
    "dndvi_std",
    "dndvi_contrast",  # object's mean minus its 50 m ring's mean
    "dvv_mean",
    "dvh_mean",
    "dvv_contrast",  # object's mean dVV minus its 50 m ring's: a regional change (wet snow,
    "dvh_contrast",  # soil moisture) moves the ring too, a landslide only itself
    "prevv_contrast",  # object's mean pre-event VV minus its ring's: a patch that stood out
    "prevh_contrast",  # before (wet snow, water) and came back reads as change, no new surface
    # land cover before the event
    "cover_tree",
    "cover_shrub",
    "cover_grass",
    "cover_crop",
    "cover_bare",
    "water_nearby",  # share of WorldCover water in the 100 m ring around the object
    "canopy_height_mean",
    # the ensemble
    "prob_mean",
    "prob_max",
    "agreement_mean",
    "spread_mean",
)


def features_id(ensemble: str) -> str:
    """Names what computed a row of features (16 hex digits): :data:`FEATURES` (their names, in
    order) and the ensemble whose probability, agreement and spread they hold
    (:attr:`models.manifest.ManifestModel.ensemble_id`). Stored with every detection's features
    in the inventory, so that a refit takes only rows its own ensemble computed: after
    fine-tuned members are deployed, their in-sample scores on the reviewed scenes are not the
    parent's."""
    return hashlib.sha256("\n".join([*FEATURES, ensemble]).encode()).hexdigest()[:16]


FEATURES_COLUMN: Final = "filter_features"
"""The candidates' column of their packed features (:func:`pack_features`,
``monitor.pipeline.chain.apply_filter``), with :data:`FEATURES_ID_COLUMN` (:func:`features_id`):
kept in the inventory's observations, not written to the files of ``detect --stack``."""
FEATURES_ID_COLUMN: Final = "filter_features_id"

_RING_M = 50.0
_WATER_RING_M = 100.0
_CONTEXT_M = 300.0
_STRAIGHT_RUN_M = 40.0
_CORNER_TOLERANCE_DEG = 20.0
_EDGE_SIGMA_PX = 1.0  # smoothing of the dNDVI before its gradient (noise, the pixel grid)
_EDGE_MIN_PX = 9  # fewer valid gradient pixels than this and the edge order is MISSING


_D8_STEPS: Final = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx)
# below this many pixels ready at once, the rest of the grid is passed on one pixel at a time:
# a level's array calls cost more than a short Python loop over its few pixels
_LEVEL_MIN_PIXELS: Final = 64


def _d8_receivers(z: np.ndarray) -> np.ndarray:
    """Flat index of each pixel's steepest lower neighbour (diagonals at distance sqrt 2; the
    first of equal drops in :data:`_D8_STEPS` order), -1 where none is lower or z is NaN."""
    h, w = z.shape
    padded = np.pad(z, 1, constant_values=np.nan)
    best = np.zeros((h, w))
    step = np.zeros((h, w), dtype=np.int8)  # 0: no receiver, k: _D8_STEPS[k - 1]
    drop = np.empty((h, w))
    for k, (dy, dx) in enumerate(_D8_STEPS, start=1):
        np.subtract(z, padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w], out=drop)
        drop /= math.hypot(dy, dx)
        better = drop > best  # False where either elevation is NaN
        step[better] = k
        np.fmax(best, drop, out=best)
    offsets = np.array([0] + [dy * w + dx for dy, dx in _D8_STEPS], dtype=np.int64)
    flat = step.ravel()
    return np.where(flat > 0, np.arange(h * w) + offsets[flat], -1)


def flow_accumulation(elevation: np.ndarray) -> np.ndarray:
    """D8 flow accumulation (O'Callaghan & Mark 1984) in pixels: each pixel passes itself and
    what it received to its steepest lower neighbour (diagonals at distance sqrt 2); pixels
    without a lower neighbour (pits, edges draining out) keep it. NaN elevation neither gives nor
    receives.

    Pixels are passed on in levels (Kahn's topological order of the receiver forest): every
    pixel whose donors have all passed on is ready, and a level's ready pixels pass on at once.
    A grid has about as many levels as its longest flow path has pixels; once fewer than
    :data:`_LEVEL_MIN_PIXELS` are ready, the rest go one at a time from the highest down."""
    z = np.asarray(elevation, dtype=np.float64)
    receiver = _d8_receivers(z)
    n = receiver.size
    acc = np.isfinite(z).ravel().astype(np.float64)
    gives = receiver >= 0
    pending = np.bincount(receiver[gives], minlength=n)  # donors yet to pass on
    passed = ~gives  # pixels with nothing to pass on count as done
    owner = np.empty(n, dtype=np.int64)
    ready = np.flatnonzero((pending == 0) & gives)
    while ready.size >= _LEVEL_MIN_PIXELS:
        to = receiver[ready]
        np.add.at(acc, to, acc[ready])
        np.subtract.at(pending, to, 1)
        passed[ready] = True
        done = to[pending[to] == 0]  # a receiver of several of this level's pixels repeats
        owner[done] = np.arange(done.size)
        done = done[owner[done] == np.arange(done.size)]  # each once (the last write won)
        ready = done[gives[done]]
    rest = np.flatnonzero(~passed)
    if rest.size:  # highest first: a pixel is complete when it is passed on
        for i in rest[np.argsort(z.ravel()[rest], kind="stable")[::-1]].tolist():
            acc[receiver[i]] += acc[i]
    return acc.reshape(z.shape)


def _outline_angles(geometry: BaseGeometry, tolerance: float) -> tuple[float, float]:
    """(share of corners near 90 degrees, share of the perimeter in straight runs) of the
    polygon's exterior rings simplified with ``tolerance`` metres."""
    simple = geometry.simplify(tolerance, preserve_topology=True)
    polygons = getattr(simple, "geoms", [simple])
    corners = right = 0
    straight = total = 0.0
    for polygon in polygons:
        ring = np.asarray(polygon.exterior.coords)[:-1]
        if len(ring) < 3:
            continue
        edges = np.roll(ring, -1, axis=0) - ring
        lengths = np.hypot(edges[:, 0], edges[:, 1])
        total += float(lengths.sum())
        straight += float(lengths[lengths >= _STRAIGHT_RUN_M].sum())
        previous = np.roll(edges, 1, axis=0)
        cos = (previous * edges).sum(axis=1) / np.maximum(np.roll(lengths, 1) * lengths, 1e-9)
        turn = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))  # 0 = straight on
        is_corner = turn > 30.0
        corners += int(is_corner.sum())
        right += int((is_corner & (np.abs(turn - 90.0) <= _CORNER_TOLERANCE_DEG)).sum())
    return (right / corners if corners else 0.0, straight / total if total else 0.0)


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else MISSING


def _quantile(values: np.ndarray, q: float) -> float:
    finite = values[np.isfinite(values)]
    return float(np.quantile(finite, q)) if finite.size else MISSING


@dataclass(frozen=True)
class _Layers:
    """The rasters every candidate's features read, on the stack's grid: the stack's and the
    prediction's layers as arrays, the terrain derived from the elevation, the ring sizes."""

    shape: tuple[int, int]
    transform: Affine
    res: float
    labels: np.ndarray  # candidate i + 1 at its pixels, 0 elsewhere
    elevation: np.ndarray
    slope: np.ndarray
    landcover: np.ndarray
    canopy: np.ndarray
    dndvi: np.ndarray
    dvv: np.ndarray
    dvh: np.ndarray
    prevv: np.ndarray
    prevh: np.ndarray
    probability: np.ndarray
    agreement: np.ndarray
    spread: np.ndarray
    laplacian: np.ndarray
    gy: np.ndarray
    gx: np.ndarray
    dndvi_gy: np.ndarray  # gradient of the smoothed dNDVI, NaN where a pixel near is missing
    dndvi_gx: np.ndarray
    accumulation: np.ndarray
    ring_px: int
    water_px: int
    context_px: int
    pad: int


def _gradient(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.gradient`` of a 2-D array along rows and columns, 0 along an axis one pixel long
    (a stack cut as a strip: numpy needs two samples, and a 1-pixel-wide edge tile of a
    gdal_translate -srcwin tiling ended the whole folder's run)."""
    gy, gx = (
        np.gradient(a, axis=k) if a.shape[k] > 1 else np.zeros(a.shape, np.float64) for k in (0, 1)
    )
    return np.asarray(gy), np.asarray(gx)


def _layers(geometries: list[BaseGeometry], prediction: xr.Dataset, stack: xr.Dataset) -> _Layers:
    """The :class:`_Layers` of ``geometries`` (polygons in the stack's CRS) on the stack."""
    shape = (stack.sizes["y"], stack.sizes["x"])
    transform = stack.rio.transform()
    res = abs(float(transform.a))
    labels = rio_features.rasterize(
        ((g, i + 1) for i, g in enumerate(geometries)),
        out_shape=shape,
        transform=transform,
        dtype="int32",
    )
    elevation = stack["elevation"].values.astype(np.float64)
    z_filled = np.where(np.isfinite(elevation), elevation, np.nanmean(elevation))
    smooth = ndimage.gaussian_filter(z_filled, 1.0)
    laplacian = ndimage.laplace(smooth)
    gy, gx = _gradient(smooth)  # per pixel along rows (southward) and columns (eastward)
    accumulation = flow_accumulation(elevation) * res * res
    dndvi = stack["dNDVI"].values.astype(np.float64)
    dndvi_gy, dndvi_gx = _masked_gradient(dndvi, _EDGE_SIGMA_PX)
    ring_px = max(1, round(_RING_M / res))
    water_px = max(1, round(_WATER_RING_M / res))
    context_px = max(1, round(_CONTEXT_M / res))
    return _Layers(
        shape=shape,
        transform=transform,
        res=res,
        labels=labels,
        elevation=elevation,
        slope=stack["slope"].values.astype(np.float64),
        landcover=stack["landcover"].values,
        canopy=stack["canopy_height"].values.astype(np.float64),
        dndvi=dndvi,
        dvv=stack["dVV"].values.astype(np.float64),
        dvh=stack["dVH"].values.astype(np.float64),
        prevv=stack["preVV"].values.astype(np.float64),
        prevh=stack["preVH"].values.astype(np.float64),
        probability=prediction["probability"].values.astype(np.float64),
        agreement=prediction["agreement"].values.astype(np.float64),
        spread=prediction["spread"].values.astype(np.float64),
        laplacian=laplacian,
        gy=gy,
        gx=gx,
        dndvi_gy=dndvi_gy,
        dndvi_gx=dndvi_gx,
        accumulation=accumulation,
        ring_px=ring_px,
        water_px=water_px,
        context_px=context_px,
        pad=max(ring_px, water_px, context_px) + 1,
    )


def _masked_gradient(values: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The gradient (along rows, along columns) of ``values`` smoothed with a Gaussian of
    ``sigma`` pixels by normalised convolution (missing pixels carry no weight); NaN within
    ceil(2 sigma) pixels (a square) of a missing pixel, so a cloud's border makes no edge.
    Further out the Gaussian (truncated at 4 sigma) still reaches a missing pixel with at most
    about 2 % of its weight, which the normalisation gives to the valid ones."""
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0)
    weight = ndimage.gaussian_filter(valid.astype(np.float64), sigma)
    smooth = ndimage.gaussian_filter(filled, sigma) / np.maximum(weight, 1e-9)
    gy, gx = _gradient(smooth)
    whole = ndimage.minimum_filter(valid, size=2 * math.ceil(2 * sigma) + 1, mode="nearest")
    return np.where(whole, gy, np.nan), np.where(whole, gx, np.nan)


def edge_right_angles(gy: np.ndarray, gx: np.ndarray) -> float:
    """How much more the edges keep to two axes at right angles than edges along one axis
    would: the 4-fold order minus the 2-fold order to the fourth power (:func:`edge_orders`).
    Were the edges' doubled orientations spread about one axis as a wrapped normal, the 4-fold
    order would be exactly the 2-fold one to the fourth power; a rounded shape, however
    elongated, stays near that, and a block with straight sides and right angles (a clear-cut,
    a field) rises above it. On a noiseless 10 m grid with the smoothing of
    :func:`_masked_gradient`: a disc 0.10, a 3:1 ellipse 0.18, a 4 x 40 pixel strip 0.35 (its
    ends are edges too), a square 0.86. MISSING where the orders are."""
    order_2, order_4 = edge_orders(gy, gx)
    return MISSING if order_2 == MISSING else order_4 - order_2**4


def edge_orders(gy: np.ndarray, gx: np.ndarray) -> tuple[float, float]:
    """How the edges of a patch line up: with each gradient weighted by its squared magnitude
    (strong edges count, weak noise hardly), the lengths of the mean of exp(2i theta) and of
    exp(4i theta) over the gradients' orientations theta. Both are near 0 for edges in every
    direction (a disc; noise). The 2-fold order is near 1 when one axis dominates (a strip);
    the 4-fold one is near 1 for edges on two axes at right angles (a rectangle, whatever its
    proportions), and for a rounded elongated shape about the 2-fold order to the fourth power.
    Non-finite gradients are left out; MISSING for both with fewer than :data:`_EDGE_MIN_PX`."""
    finite = np.isfinite(gy) & np.isfinite(gx)
    if int(finite.sum()) < _EDGE_MIN_PX:
        return MISSING, MISSING
    y, x = gy[finite], gx[finite]
    w = y * y + x * x
    total = float(w.sum())
    if total <= 0.0:
        return MISSING, MISSING
    theta = np.arctan2(y, x)
    return (
        float(abs((w * np.exp(2j * theta)).sum())) / total,
        float(abs((w * np.exp(4j * theta)).sum())) / total,
    )


_Put = Callable[[str, float], None]


def candidate_features(
    candidates: gpd.GeoDataFrame, prediction: xr.Dataset, stack: xr.Dataset
) -> np.ndarray:
    """The :data:`FEATURES` of every candidate, ``(n, len(FEATURES))`` float32.

    ``candidates`` are polygons in the stack's CRS (:func:`monitor.pipeline.vectorise.vectorise`),
    ``prediction`` the ensemble's output on the stack's grid (``probability``, ``agreement``,
    ``spread``)."""
    n = len(candidates)
    out = np.full((n, len(FEATURES)), MISSING, dtype=np.float32)
    if n == 0:
        return out
    geometries = list(candidates.geometry)
    layers = _layers(geometries, prediction, stack)
    col = {name: i for i, name in enumerate(FEATURES)}

    boxes = ndimage.find_objects(layers.labels, max_label=n)
    for i, geometry in enumerate(geometries):
        ys, xs = _pixels_of(layers, geometry, i + 1, boxes[i])
        if ys.size == 0:
            continue
        shape, pad = layers.shape, layers.pad
        y0, y1 = max(0, ys.min() - pad), min(shape[0], ys.max() + pad + 1)
        x0, x1 = max(0, xs.min() - pad), min(shape[1], xs.max() + pad + 1)
        window = (slice(y0, y1), slice(x0, x1))
        inside = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        inside[ys - y0, xs - x0] = True
        row = out[i]

        def put(name: str, value: float, row: np.ndarray = row) -> None:
            row[col[name]] = value if math.isfinite(value) else MISSING

        _shape_features(put, layers, geometry, xs, ys, window, inside)
        _terrain_features(put, layers, window, inside)
        _change_features(put, layers, window, inside)
        _cover_features(put, layers, window, inside)
        _ensemble_features(put, layers, window, inside)
    return out


def _pixels_of(
    layers: _Layers, geometry: BaseGeometry, label: int, box: tuple[slice, slice] | None
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate's pixels (rows, columns on the full grid): those labelled ``label``, found
    in their bounding ``box`` (:func:`scipy.ndimage.find_objects`; ``None`` where none is), or
    for a sliver smaller than a pixel centre or one covered by a later candidate, the pixels it
    touches (:func:`monitor.grid.outline_pixels`)."""
    if box is None:
        ys, xs = np.nonzero(outline_pixels(geometry, layers.shape, layers.transform))
        return ys, xs
    ys, xs = np.nonzero(layers.labels[box] == label)
    return ys + box[0].start, xs + box[1].start


_Window = tuple[slice, slice]


def _shape_features(
    put: _Put,
    layers: _Layers,
    geometry: BaseGeometry,
    xs: np.ndarray,
    ys: np.ndarray,
    window: _Window,
    inside: np.ndarray,
) -> None:
    """The outline's features (area, compactness, rectangularity, angles, straight edges) and
    the pixel cloud's (elongation, alignment with the fall line)."""
    area = float(geometry.area)
    perimeter = float(geometry.length)
    put("log_area_m2", math.log10(max(area, 1.0)))
    put("compactness", 4 * math.pi * area / perimeter**2 if perimeter > 0 else MISSING)
    rect = shapely.minimum_rotated_rectangle(geometry)
    put("rectangularity", area / rect.area if rect.area > 0 else MISSING)
    right, straight = _outline_angles(geometry, layers.res)
    put("right_angles", right)
    put("straight_edges", straight)

    # the pixel cloud's principal axes; image rows grow southward, so north = -row
    coords = np.stack([xs.astype(np.float64), -ys.astype(np.float64)])
    if ys.size >= 3:
        cov = np.cov(coords)
        values, vectors = np.linalg.eigh(cov)
        major = vectors[:, 1]
        put("elongation", math.sqrt(values[1] / max(values[0], 1e-6 * values[1] + 1e-9)))
        down = np.array([-_mean(layers.gx[window][inside]), _mean(layers.gy[window][inside])])
        norm = float(np.hypot(*down))
        put("fall_line_alignment", abs(float(major @ down)) / norm if norm > 1e-9 else 0.0)
    else:
        put("elongation", 1.0)
        put("fall_line_alignment", 0.0)


def _terrain_features(put: _Put, layers: _Layers, window: _Window, inside: np.ndarray) -> None:
    """Slope (mean, head, toe), relief, slope position, curvature and upslope area."""
    elevation = layers.elevation
    z = elevation[window][inside]
    s = layers.slope[window][inside]
    put("slope_mean", _mean(s))
    finite = np.isfinite(z) & np.isfinite(s)
    if finite.sum() >= 4:
        high, low = np.quantile(z[finite], [0.75, 0.25])
        put("slope_head", _mean(s[finite & (z >= high)]))
        put("slope_toe", _mean(s[finite & (z <= low)]))
        p5, p95 = np.quantile(z[finite], [0.05, 0.95])
        put("relief_m", float(p95 - p5))
    elif finite.any():
        put("slope_head", _mean(s[finite]))
        put("slope_toe", _mean(s[finite]))
        put("relief_m", 0.0)
    near = ndimage.binary_dilation(inside, iterations=layers.context_px)
    around = elevation[window][near]
    around = around[np.isfinite(around)]
    if around.size and finite.any():
        lo, hi = float(around.min()), float(around.max())
        put("slope_position", (_mean(z) - lo) / (hi - lo) if hi > lo else 0.5)
    put("curvature", _mean(layers.laplacian[window][inside]))
    upslope = layers.accumulation[window][inside]
    put("log_upslope_area_m2", math.log10(max(float(upslope.max()), 1.0)))


def _change_features(put: _Put, layers: _Layers, window: _Window, inside: np.ndarray) -> None:
    """The change inside (dNDVI statistics, dVV, dVH) and each one's contrast with the ring
    around (the ring leaves other candidates' pixels out), the pre-event backscatter's contrast
    with the same ring, and the right angles of the dNDVI's edges over the object and its ring
    (:func:`edge_right_angles`)."""
    d = layers.dndvi[window][inside]
    put("dndvi_p10", _quantile(d, 0.10))
    put("dndvi_p90", _quantile(d, 0.90))
    finite_d = d[np.isfinite(d)]
    put("dndvi_std", float(finite_d.std()) if finite_d.size else MISSING)
    near = ndimage.binary_dilation(inside, iterations=layers.ring_px)
    # the change's own edges, beside the outline's shape features: the ensemble's probability
    # rounds a block's corners, the dNDVI keeps them; read over the object and its ring, where
    # the edges lie
    put(
        "edge_right_angles",
        edge_right_angles(layers.dndvi_gy[window][near], layers.dndvi_gx[window][near]),
    )
    ring = near & ~inside & (layers.labels[window] == 0)
    for name, layer, with_mean in (
        ("dndvi", layers.dndvi, True),
        ("dvv", layers.dvv, True),
        ("dvh", layers.dvh, True),
        ("prevv", layers.prevv, False),  # the pre-event level itself says little: its contrast
        ("prevh", layers.prevh, False),
    ):
        mean_inside, ring_mean = _mean(layer[window][inside]), _mean(layer[window][ring])
        if with_mean:
            put(f"{name}_mean", mean_inside)
        if mean_inside != MISSING and ring_mean != MISSING:
            put(f"{name}_contrast", mean_inside - ring_mean)


def _cover_features(put: _Put, layers: _Layers, window: _Window, inside: np.ndarray) -> None:
    """The land-cover shares inside, water nearby and the canopy height."""
    landcover = layers.landcover
    cover = landcover[window][inside]
    known = np.isfinite(cover) if cover.dtype.kind == "f" else np.ones(cover.shape, bool)
    n_known = int(known.sum())
    for name, code in (
        ("cover_tree", TREE),
        ("cover_shrub", SHRUB),
        ("cover_grass", GRASS),
        ("cover_crop", CROP),
        ("cover_bare", BARE),
    ):
        put(name, float((cover[known] == code).sum()) / n_known if n_known else MISSING)
    water_ring = ndimage.binary_dilation(inside, iterations=layers.water_px) & ~inside
    ring_cover = landcover[window][water_ring]
    put("water_nearby", float((ring_cover == WATER).mean()) if ring_cover.size else 0.0)
    put("canopy_height_mean", _mean(layers.canopy[window][inside]))


def _ensemble_features(put: _Put, layers: _Layers, window: _Window, inside: np.ndarray) -> None:
    """The ensemble's probability (mean, max), agreement and spread inside."""
    p = layers.probability[window][inside]
    put("prob_mean", _mean(p))
    finite_p = p[np.isfinite(p)]
    put("prob_max", float(finite_p.max()) if finite_p.size else MISSING)
    put("agreement_mean", _mean(layers.agreement[window][inside]))
    put("spread_mean", _mean(layers.spread[window][inside]))


def check_features(model: ObjectFilterModel) -> None:
    """Refuse (:class:`ManifestError`) a classifier fitted on other features than
    :data:`FEATURES`."""
    if model.features != FEATURES:
        raise ManifestError(
            f"object filter: {model.path} was fitted on other features than this version "
            f"computes ({len(model.features)} listed, {len(FEATURES)} known); refit it "
            "(python -m monitor.ops.filter_fit)"
        )


def scored_features(
    model: ObjectFilterModel,
    candidates: gpd.GeoDataFrame,
    prediction: xr.Dataset,
    stack: xr.Dataset,
) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's landslide probability, ``model`` on :func:`candidate_features`, and
    those features (one row per candidate, :data:`FEATURES` order)."""
    check_features(model)
    features = candidate_features(candidates, prediction, stack)
    return model.score(features), features


def score_candidates(
    model: ObjectFilterModel,
    candidates: gpd.GeoDataFrame,
    prediction: xr.Dataset,
    stack: xr.Dataset,
) -> np.ndarray:
    """Each candidate's landslide probability: ``model`` on :func:`candidate_features`."""
    return scored_features(model, candidates, prediction, stack)[0]


def pack_features(row: np.ndarray) -> bytes:
    """One candidate's features as the inventory stores them: :data:`FEATURES` order, float32
    little-endian (the classifier's input type)."""
    values = np.asarray(row, dtype="<f4")
    if values.shape != (len(FEATURES),):
        raise ValueError(f"expected {len(FEATURES)} features, got shape {values.shape}")
    return values.tobytes()


def unpack_features(blob: bytes) -> np.ndarray:
    """The features :func:`pack_features` stored (float32); a blob of another length raises
    :class:`ValueError`."""
    if len(blob) != 4 * len(FEATURES):
        raise ValueError(f"a stored feature row of {len(blob)} bytes, not {4 * len(FEATURES)}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
