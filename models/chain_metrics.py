"""Scores of the whole detection chain: what users receive are polygons, after masks,
vectorisation, size rules and the object filter, so they are scored as polygons against the label
rasters of a labelled folder (Ganerød et al. layout, ``label/<id>_label.tif``).

- **Object recall by size class**: a true landslide is an 8-connected object of label pixels; it
  is detected when a kept polygon covers at least one of its pixels. Size classes by the true
  object's area (:data:`SIZE_CLASSES`), plus landslides of 1 ha or more together.
- **One-to-one object recall** beside it: one polygon spread over several landslides counts as
  one hit, not several. Landslides found are those of a maximum bipartite matching between
  kept polygons and true landslides (an edge where the polygon covers one of the landslide's
  pixels). Landslides are matched largest first: the landslides of a size class or larger found
  are as many as a maximum matching restricted to them has (so the ">=1 ha" figure is the most
  landslides of 1 ha or more distinct polygons account for), and the classes add up to "all".
  **Merged polygons**: kept polygons covering pixels of two or more true landslides.
- **False objects per 100 km²**: kept polygons that cover no label pixel, per 100 km² of scored
  scene area (all of them, and those of 0.5 ha or more). On look-alike-only scenes (no label
  pixel) every kept polygon is false.
- **Pixel precision, recall, F1 of the final mask**: the kept polygons rasterised on the label
  grid (pixel centres inside) against the label, pooled over the scenes.

Polygons are rasterised once (:func:`scene_objects`); any subset of them (the polygons the
filter kept, or all) is then scored without rasterising again (:func:`chain_scores`), since the
chain's polygons of one scene never overlap.

``python -m models evaluate --chain DETECTIONS_DIR --data LABELLED_DIR`` reads the polygons that
``landslide-monitor detect --stack`` wrote (``detections.gpkg``, a ``scene`` column naming the
scene id, ``suppressed`` marking what the filter suppressed) and reports with and without the
filter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from affine import Affine
from rasterio import features
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching
from shapely.geometry.base import BaseGeometry

from models.datasets import (
    DatasetError,
    first_names,
    input_path,
    label_path,
    read_input,
    read_label,
    scene_ids,
)
from models.feature_stack import footprint
from models.manifest import sha256_file
from models.vector_files import VectorFileError, gdal_path

__all__ = [
    "DETECTIONS_FILE",
    "LARGE_M2",
    "SIZE_CLASSES",
    "SMALL_M2",
    "SUMMARY_FILE",
    "ChainScores",
    "SceneObjects",
    "chain_scores",
    "evaluate_chain",
    "format_chain_report",
    "mostly_unknown",
    "scene_objects",
    "unknown_class",
    "write_chain_report",
]

DETECTIONS_FILE: Final = "detections.gpkg"
SUMMARY_FILE: Final = "summary.json"  # detect --stack's record of the scenes it ran
# (name, lower bound m², upper bound m²) of the true landslide's area
SMALL_M2: Final = 1_000.0  # "landslides of 0.1 ha or more" (issue 13's delay targets)
LARGE_M2: Final = 10_000.0  # "landslides of 1 ha or more"
LARGE_FALSE_M2: Final = 5_000.0  # "false objects of 0.5 ha or more"
SIZE_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("<0.1 ha", 0.0, SMALL_M2),
    ("0.1-0.5 ha", SMALL_M2, LARGE_FALSE_M2),
    ("0.5-1 ha", LARGE_FALSE_M2, LARGE_M2),
    ("1-5 ha", LARGE_M2, 50_000.0),
    (">=5 ha", 50_000.0, float("inf")),
)
_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass
class SceneObjects:
    """One scene's true landslides and polygons, rasterised on the label grid.

    ``touches[i]`` lists the true objects polygon ``i`` covers; ``tp[i]``/``fp[i]`` its pixels
    on and off the label."""

    scene: str
    area_km2: float
    event_area_m2: np.ndarray
    polygon_area_m2: np.ndarray
    touches: list[np.ndarray]
    tp: np.ndarray
    fp: np.ndarray
    label_pixels: int
    # per polygon: on no label pixel but on ignored ones (255: a weak label's unknown ring, an
    # unreviewed area), so neither a hit nor a false object
    unknown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def unknown_class(image: np.ndarray, ignore: np.ndarray | None) -> np.ndarray | None:
    """The pixels of unknown class of a scene's ``image`` (bands, H, W) whose label ignores
    ``ignore`` (255): those and the pixels outside the input's footprint (a stack clipped to
    an outline), where the chain cannot draw whatever the label says (a clipped label unmasked
    to 0 says background); None where there are none. Scored as unknown, like 255, not as scene
    area and misses."""
    outside = ~footprint(image)
    if not outside.any():
        return ignore
    return outside if ignore is None else np.asarray(ignore, bool) | outside


def mostly_unknown(ignored: np.ndarray, background: np.ndarray, on_label: np.ndarray) -> np.ndarray:
    """Per polygon, whether its class is unknown: on no label pixel, and on more pixels of
    unknown class (``ignored``: label 255, or outside the input's footprint) than of known
    background. A polygon over as much known background as unknown ground, or more, is a false
    object; one on a label pixel a hit. The one rule of the chain's scores
    (:func:`scene_objects`) and of the candidates the object filter learns from and is
    calibrated on (``monitor.ops.filter_fit.known_candidates``): with two, a walkthrough's
    operating point and `evaluate --chain` counted 154 and 160 false objects on the same
    scenes, every difference a polygon half on each."""
    return np.asarray(
        (np.asarray(ignored) > np.asarray(background)) & (np.asarray(on_label) == 0), bool
    )


def scene_objects(
    scene: str,
    label: np.ndarray,
    transform: Affine,
    polygons: Sequence[BaseGeometry],
    ignore: np.ndarray | None = None,
) -> SceneObjects:
    """Rasterise ``polygons`` (in the label's CRS) on the label grid and relate them to the
    label's 8-connected objects. ``ignore`` marks pixels of unknown class (label 255): they
    count for no pixel score nor scene area, and a polygon mostly on them and on no label pixel
    is not a false object."""
    known = np.ones(np.shape(label), bool) if ignore is None else ~np.asarray(ignore, bool)
    truth = (np.asarray(label) > 0) & known
    pixel_m2 = abs(transform.a * transform.e - transform.b * transform.d)
    events, n_events = ndimage.label(truth, structure=_EIGHT)
    event_area = (
        ndimage.sum_labels(np.ones_like(truth), events, np.arange(1, n_events + 1)) * pixel_m2
        if n_events
        else np.zeros(0)
    )
    n = len(polygons)
    raster = (
        features.rasterize(
            ((g, i + 1) for i, g in enumerate(polygons) if not g.is_empty),
            out_shape=truth.shape,
            transform=transform,
            dtype="int32",
        )
        if n
        else np.zeros(truth.shape, np.int32)
    )
    touches: list[np.ndarray] = []
    tp = np.zeros(n, dtype=np.int64)
    fp = np.zeros(n, dtype=np.int64)
    unknown = np.zeros(n, dtype=bool)
    if n:
        index = np.arange(1, n + 1)
        tp = ndimage.sum_labels(truth, raster, index).astype(np.int64)
        fp = ndimage.sum_labels(~truth & known, raster, index).astype(np.int64)
        ignored = ndimage.sum_labels(~known, raster, index)
        unknown = mostly_unknown(ignored, fp, tp)
        pairs = np.unique(np.stack([raster[truth], events[truth]]), axis=1)
        by_polygon: dict[int, list[int]] = {}
        for p, e in pairs.T.tolist():
            if p > 0:
                by_polygon.setdefault(p - 1, []).append(e - 1)
        touches = [np.array(by_polygon.get(i, []), dtype=np.int64) for i in range(n)]
    return SceneObjects(
        scene=scene,
        area_km2=int(known.sum()) * pixel_m2 / 1e6,
        event_area_m2=np.asarray(event_area, dtype=np.float64),
        polygon_area_m2=np.array([g.area for g in polygons], dtype=np.float64),
        touches=touches,
        tp=tp,
        fp=fp,
        label_pixels=int(truth.sum()),
        unknown=unknown,
    )


@dataclass
class ChainScores:
    """Chain scores of a set of scenes (see the module docstring)."""

    scenes: int
    area_km2: float
    recall_by_size: dict[str, tuple[int, int]] = field(default_factory=dict)  # (detected, all)
    # (detected, all), each kept polygon counting for one landslide at most (maximum matching)
    recall_one_to_one_by_size: dict[str, tuple[int, int]] = field(default_factory=dict)
    merged_polygons: int = 0  # kept polygons covering two or more true landslides
    polygons: int = 0
    false_objects: int = 0
    false_objects_large: int = 0  # of 0.5 ha or more
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @staticmethod
    def _ratio(a: float, b: float) -> float | None:
        return a / b if b else None

    def recall(self, size: str) -> float | None:
        detected, total = self.recall_by_size.get(size, (0, 0))
        return self._ratio(detected, total)

    def recall_one_to_one(self, size: str) -> float | None:
        detected, total = self.recall_one_to_one_by_size.get(size, (0, 0))
        return self._ratio(detected, total)

    def found(self, size: str = "all") -> int:
        """How many true landslides of ``size`` a kept polygon covers."""
        return self.recall_by_size.get(size, (0, 0))[0]

    @property
    def false_per_100km2(self) -> float | None:
        return self._ratio(100.0 * self.false_objects, self.area_km2)

    @property
    def false_large_per_100km2(self) -> float | None:
        return self._ratio(100.0 * self.false_objects_large, self.area_km2)

    @property
    def precision(self) -> float | None:
        return self._ratio(self.tp, self.tp + self.fp)

    @property
    def pixel_recall(self) -> float | None:
        return self._ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float | None:
        return self._ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["recall_by_size"] = {k: list(v) for k, v in self.recall_by_size.items()}
        out["recall_one_to_one_by_size"] = {
            k: list(v) for k, v in self.recall_one_to_one_by_size.items()
        }
        out |= {
            "recall": {k: self.recall(k) for k in self.recall_by_size},
            "recall_one_to_one": {
                k: self.recall_one_to_one(k) for k in self.recall_one_to_one_by_size
            },
            "false_per_100km2": self.false_per_100km2,
            "false_large_per_100km2": self.false_large_per_100km2,
            "pixel_precision": self.precision,
            "pixel_recall": self.pixel_recall,
            "pixel_f1": self.f1,
        }
        return out


def _size_names() -> list[str]:
    return [name for name, _, _ in SIZE_CLASSES] + [">=1 ha", "all"]


def _matched(touches: Sequence[np.ndarray], events: np.ndarray) -> int:
    """The size of a maximum matching between polygons (``touches``: the true objects each
    covers) and the true objects marked in ``events``."""
    rows = [t[events[t]] for t in touches]
    if not any(len(r) for r in rows):
        return 0
    graph = csr_matrix(
        (
            np.ones(sum(len(r) for r in rows), dtype=np.int8),
            np.concatenate(rows),
            np.cumsum([0] + [len(r) for r in rows]),
        ),
        shape=(len(rows), len(events)),
    )
    return int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum())


def _one_to_one(
    touches: Sequence[np.ndarray], event_area_m2: np.ndarray, detected: np.ndarray
) -> dict[str, int]:
    """Per size name, the true objects of one scene found one-to-one by the polygons
    ``touches`` (largest first, see the module docstring); ``detected`` marks the objects they
    touch."""
    if all(len(t) <= 1 for t in touches):  # no polygon on two: the matching is the touches
        ranks = {lo: int((detected & (event_area_m2 >= lo)).sum()) for lo in _bounds()}
    else:
        ranks = {lo: _matched(touches, event_area_m2 >= lo) for lo in _bounds()}
    out = {name: ranks[lo] - ranks[hi] for name, lo, hi in SIZE_CLASSES}
    out[">=1 ha"] = ranks[LARGE_M2]
    out["all"] = ranks[-np.inf]
    return out


def _bounds() -> list[float]:
    """Every area from which landslides are counted: each class's bounds, 1 ha, and all."""
    return sorted({b for _, lo, hi in SIZE_CLASSES for b in (lo, hi)} | {LARGE_M2, -np.inf})


def chain_scores(
    scenes: Sequence[SceneObjects], kept: Sequence[np.ndarray] | None = None
) -> ChainScores:
    """Scores of the polygons ``kept`` (boolean per polygon and scene; all when None)."""
    out = ChainScores(scenes=len(scenes), area_km2=float(sum(s.area_km2 for s in scenes)))
    counts = {name: [0, 0] for name in _size_names()}
    one_to_one = {name: 0 for name in _size_names()}
    for i, s in enumerate(scenes):
        keep = np.ones(len(s.tp), bool) if kept is None else np.asarray(kept[i], dtype=bool)
        detected = np.zeros(len(s.event_area_m2), dtype=bool)
        for j in np.flatnonzero(keep):
            detected[s.touches[j]] = True
        for name, lo, hi in SIZE_CLASSES:
            in_class = (s.event_area_m2 >= lo) & (s.event_area_m2 < hi)
            counts[name][0] += int((detected & in_class).sum())
            counts[name][1] += int(in_class.sum())
        large = s.event_area_m2 >= LARGE_M2
        counts[">=1 ha"][0] += int((detected & large).sum())
        counts[">=1 ha"][1] += int(large.sum())
        counts["all"][0] += int(detected.sum())
        counts["all"][1] += len(detected)
        kept_touches = [s.touches[j] for j in np.flatnonzero(keep)]
        for name, found in _one_to_one(kept_touches, s.event_area_m2, detected).items():
            one_to_one[name] += found
        out.merged_polygons += sum(len(t) >= 2 for t in kept_touches)
        unknown = s.unknown if len(s.unknown) == len(keep) else np.zeros(len(keep), bool)
        false = keep & np.array([len(t) == 0 for t in s.touches], dtype=bool) & ~unknown
        out.polygons += int(keep.sum())
        out.false_objects += int(false.sum())
        out.false_objects_large += int((false & (s.polygon_area_m2 >= LARGE_FALSE_M2)).sum())
        out.tp += int(s.tp[keep].sum())
        out.fp += int(s.fp[keep].sum())
        out.fn += s.label_pixels - int(s.tp[keep].sum())
    out.recall_by_size = {k: (v[0], v[1]) for k, v in counts.items()}
    out.recall_one_to_one_by_size = {k: (one_to_one[k], v[1]) for k, v in counts.items()}
    return out


def evaluate_chain(detections: Path, data: Path) -> dict[str, Any]:
    """Score ``<detections>/detections.gpkg`` on the labelled folder ``data``: every scene of
    ``data`` is scored (a scene without polygons has none); polygons of scenes ``data`` lacks
    are an error. Returns ``{"with_filter", "without_filter", "look_alike_only": {...}}`` as
    dicts (:meth:`ChainScores.as_dict`)."""
    import geopandas as gpd

    path = Path(detections)
    path = path / DETECTIONS_FILE if path.is_dir() else path
    if not path.is_file():
        raise DatasetError(f"{path}: no detections (run `landslide-monitor detect --stack`)")
    try:  # by the driver its suffix names: GDAL would take a VRT named .gpkg for one
        polygons = gpd.read_file(gdal_path(path))
    except VectorFileError as err:
        raise DatasetError(str(err)) from err
    for column in ("scene", "suppressed"):
        if column not in polygons.columns:
            raise DatasetError(f"{path}: column {column!r} missing")
    ids = scene_ids(Path(data))
    unknown = sorted(set(polygons["scene"]) - set(ids))
    if unknown:
        raise DatasetError(
            f"{path}: polygons of {len(unknown)} scene(s) not in {data}: {first_names(unknown, 5)}"
        )
    ran = _scenes_run(path.parent)
    if ran is not None and (never := sorted(set(ids) - set(ran))):
        # scored, they would count as scenes where the chain found nothing
        raise DatasetError(
            f"{path.parent}: `detect --stack` never ran {len(never)} scene(s) of {data} "
            f"({first_names(never, 5)}); detect them too, or score a folder of the scenes it ran"
        )
    if ran is not None:
        _check_same_inputs(path.parent, ran, Path(data), ids)
    scenes: list[SceneObjects] = []
    kept: list[np.ndarray] = []
    for scene_id in ids:
        # the input's grid, where detect --stack drew the polygons; the label checked against it
        stack = read_input(input_path(Path(data), scene_id))
        shape, crs = stack.image.shape[1:], stack.crs
        transform = stack.transform or Affine.identity()  # as rasterio gives a plain image
        label, ignore = read_label(label_path(Path(data), scene_id), shape, crs, transform)
        ignore = unknown_class(stack.image, ignore)
        mine = polygons[polygons["scene"] == scene_id]
        if len(mine) and crs is not None:
            mine = mine.to_crs(crs)
        objects = scene_objects(scene_id, label == 1, transform, list(mine.geometry), ignore)
        scenes.append(objects)
        kept.append(~mine["suppressed"].astype(bool).to_numpy())
    lookalike = [i for i, s in enumerate(scenes) if s.label_pixels == 0]
    # scenes where no setting of the ensemble could run (detect --stack's "no-data"): scored,
    # as they must be, as scenes where the chain drew nothing, and said to be
    no_data = sorted(
        i
        for i in ids
        if ran is not None and isinstance(ran[i], dict) and ran[i].get("status") == "no-data"
    )
    return {
        "detections": str(path),
        "data": str(data),
        "no_data_scenes": no_data,
        # what drew the polygons (detect --stack's summary since 2026-12-05; None before)
        "model": _model_run(path.parent),
        "with_filter": chain_scores(scenes, kept).as_dict(),
        "without_filter": chain_scores(scenes).as_dict(),
        "look_alike_only": {
            "scenes": len(lookalike),
            "with_filter": chain_scores(
                [scenes[i] for i in lookalike], [kept[i] for i in lookalike]
            ).as_dict(),
            "without_filter": chain_scores([scenes[i] for i in lookalike]).as_dict(),
        },
    }


def _model_run(folder: Path) -> dict[str, Any] | None:
    """What `detect --stack` ran into ``folder`` (its summary's ``model``: the manifest and its
    SHA-256, the baseline, the configuration and region, the filter), None where it does not
    say."""
    try:
        model = json.loads((folder / SUMMARY_FILE).read_text()).get("model")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return model if isinstance(model, dict) else None


def _scenes_run(folder: Path) -> dict[str, dict[str, Any]] | None:
    """The scenes `detect --stack` ran into ``folder``, whether or not they gave polygons, each
    with its record (the stack and its SHA-256 since 2026-12-05); from its ``summary.json``,
    None without one."""
    summary = folder / SUMMARY_FILE
    if not summary.is_file():
        return None
    try:
        scenes = json.loads(summary.read_text()).get("scenes", {})
    except (UnicodeDecodeError, json.JSONDecodeError, AttributeError) as err:
        raise DatasetError(f"{summary}: not detect --stack's summary ({err})") from None
    if not isinstance(scenes, dict):
        raise DatasetError(f"{summary}: 'scenes' is not a mapping of scene ids")
    return {str(k): v if isinstance(v, dict) else {} for k, v in scenes.items()}


def _check_same_inputs(
    folder: Path, ran: dict[str, dict[str, Any]], data: Path, ids: Sequence[str]
) -> None:
    """Refuse to score polygons drawn on other stacks than ``data``'s inputs of the same ids
    (another split, a world drawn again, a stack re-exported since): they would be scored
    against landslides they were never drawn on. Scenes whose record has no SHA-256 (a summary
    written before 2026-12-05) are not checked."""
    other = []
    for scene_id in ids:
        recorded = ran[scene_id].get("sha256")
        scored = input_path(data, scene_id)
        if recorded and sha256_file(scored) != recorded:
            stack = ran[scene_id].get("stack", "?")
            same = Path(stack).resolve() == scored.resolve() if stack != "?" else False
            # the same file written again since the run, or another file of the same id
            other.append(
                f"{scene_id} ({scored} changed since it ran: its SHA-256 is not the one run)"
                if same
                else f"{scene_id} (ran {stack}, not {scored})"
            )
    if other:
        raise DatasetError(
            f"{folder}: `detect --stack` ran other stacks than {data} holds under the same "
            f"id(s): {len(other)} scene(s), {first_names(other, 3, '; ')}; score the folder it "
            "ran, or run detect --stack on this one"
        )


def _cell(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def format_chain_report(report: dict[str, Any]) -> str:
    """A Markdown table of :func:`evaluate_chain`'s report."""
    sizes = _size_names()
    head = (
        "| chain | "
        + " | ".join(f"recall {s}" for s in sizes)
        + " | false /100 km² | false >=0.5 ha /100 km² | false /100 km² (look-alike-only) "
        "| pixel P | pixel R | pixel F1 |"
    )
    lines = [head, "|" + " --- |" * (len(sizes) + 7)]
    for key, title in (("without_filter", "without filter"), ("with_filter", "with filter")):
        s = report[key]
        la = report["look_alike_only"][key]
        cells = [
            f"{_cell(s['recall'][k])} ({s['recall_by_size'][k][0]}/{s['recall_by_size'][k][1]})"
            for k in sizes
        ]
        la_cell = (
            _cell(la["false_per_100km2"], "{:.1f}") if report["look_alike_only"]["scenes"] else "-"
        )
        lines.append(
            f"| {title} | " + " | ".join(cells) + f" | {_cell(s['false_per_100km2'], '{:.1f}')} "
            f"| {_cell(s['false_large_per_100km2'], '{:.1f}')} | {la_cell} "
            f"| {_cell(s['pixel_precision'])} | {_cell(s['pixel_recall'])} "
            f"| {_cell(s['pixel_f1'])} |"
        )
    lines += ["", _one_to_one_table(report, sizes)]
    s = report["with_filter"]
    lines.append("")
    lines.append(
        f"{s['scenes']} scenes, {s['area_km2']:.1f} km², "
        f"{report['look_alike_only']['scenes']} of them look-alike-only (no labelled landslide)."
    )
    if no_data := report.get("no_data_scenes"):
        lines.append(
            f"{len(no_data)} of them had no setting of the ensemble with data to run on (`detect "
            f"--stack`: no-data; its summary says why), scored as scenes where the chain drew "
            f"nothing: {first_names(no_data, 5)}."
        )
    if (model := report.get("model")) is not None:
        lines.append(_model_line(model))
    return "\n".join(lines)


def _model_line(model: dict[str, Any]) -> str:
    """Which chain drew the polygons, as `detect --stack` recorded it."""
    if model.get("baseline"):
        drew = f"the threshold baseline fitted on {model['baseline']}"
    else:
        digest = str(model.get("manifest_sha256") or "?")[:12]
        drew = f"the ensemble {model.get('manifest', '?')} (SHA-256 {digest}...)"
    where = (
        f", the rules of region {model['region']} of {model['config']}"
        if model.get("region")
        else ""
    )
    if not model.get("filter", True):
        filtered = ", no object filter"
    elif model.get("cut") is not None:
        filtered = f", the object filter at the cut {model['cut']:g}"
    else:
        filtered = ""
    # absent from the summaries written before the net existed, whose chain had none
    net = (
        ", without the net for large vegetation loss"
        if model.get("vegetation_loss") is False
        else ""
    )
    return f"Drawn by {drew}{where}{filtered}{net}."


def _one_to_one_table(report: dict[str, Any], sizes: list[str]) -> str:
    """The one-to-one recall (each kept polygon counting for one landslide at most) and the
    merged polygons of :func:`evaluate_chain`'s report."""
    lines = [
        "| chain | " + " | ".join(f"one-to-one recall {s}" for s in sizes) + " | merged polygons |",
        "|" + " --- |" * (len(sizes) + 2),
    ]
    for key, title in (("without_filter", "without filter"), ("with_filter", "with filter")):
        s = report[key]
        found = s["recall_one_to_one_by_size"]
        cells = [f"{_cell(s['recall_one_to_one'][k])} ({found[k][0]}/{found[k][1]})" for k in sizes]
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {s['merged_polygons']} |")
    return "\n".join(lines)


def write_chain_report(report: dict[str, Any], out: Path) -> Iterable[Path]:
    """``chain_report.json`` and ``chain_report.md`` in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chain_report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "chain_report.md").write_text(format_chain_report(report) + "\n")
    return [out / "chain_report.json", out / "chain_report.md"]
