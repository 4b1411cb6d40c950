"""What the ensemble leans on: its pooled pixel scores on a labelled folder with its inputs as
they are, and with one group of them changed, side by side from one run.

- ``radar unchanged``: the post-event VV and VH set to the pre-event ones, dVV and dVH to 0 (no
  radar change anywhere). Where a setting with both sensors scores about the same, its members
  do not use the radar change; where it scores worse, they do.
- ``land cover with map error``: the WorldCover band given the error of the real map, whose
  overall accuracy is 74.4 % for 2020 (v100) and 76.7 % for 2021 (v200) (ESA WorldCover product
  validation; Zanaga et al. 2021, 2022): in blobs (a smoothed random field, thresholded) over
  ``--map-error`` of each scene, every vegetated class (tree, shrub, grass, crop) becomes one
  vegetated class drawn at random per blob, so that about a quarter of the vegetated pixels
  change class at the default. A simulated world's land cover band is the very class its scenes
  were rendered from, a real one is not: members that trusted it would lose skill here.
- ``land cover all tree``: every pixel tree cover (WorldCover 10), the band's information gone.
  The change in recall says how much the members discount a change on other covers.
- ``land cover no data``: every pixel WorldCover's fill, 0, what an export written without a
  land cover holds (docs/archive.md): what the members make of a region without one, against
  the radar-only setting the chain would otherwise fall back to (the S1 rows).

Nothing else changes: the same scenes, members, thresholds and valid pixels (a pixel counts
where the unperturbed prediction is finite and the label known). Seeded; the perturbations are
drawn per scene from ``--seed`` and the scene's position, so two runs print the same figures.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_input_reliance.py \
        [--data data/randomised/test] [--manifest models/default/manifest.json]

The shipped default on the randomised world's 112 out-of-family test scenes: 3 minutes on one
thread of the 2-core reference machine, shared (docs/models.md, "What the ensemble leans on").
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.datasets import channels_of, read_scene, scene_ids
from models.ensemble import DEFAULT_MANIFEST, Ensemble
from models.evaluate import format_score
from models.feature_stack import MODEL_BANDS
from models.metrics import Confusion, confusion
from models.worldcover import CROP, GRASS, NO_DATA, SHRUB, TREE

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "data/randomised/test"
# the classes a map confuses among themselves here: the four vegetation covers of the randomised
# world's slopes (models.worldcover.VEGETATED, the terrain flattening's, also holds wetland and
# mangroves, which no slope here carries)
MAP_CLASSES = np.array([TREE, SHRUB, GRASS, CROP], np.float32)
_BAND = {name: i for i, name in enumerate(MODEL_BANDS)}
# blobs of a map's wrong patches: the smoothing of the random field, in pixels (about 40 m)
_BLOB_SIGMA_PX = 4.0

Perturbation = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def radar_unchanged(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (all model bands) with no radar change: post = pre, differences 0 (a copy)."""
    out = np.array(image, np.float32)
    for pol in ("VV", "VH"):
        pre, post, diff = _BAND[f"pre{pol}"], _BAND[f"post{pol}"], _BAND[f"d{pol}"]
        out[post] = out[pre]
        out[diff] = np.where(np.isfinite(out[diff]), 0.0, np.nan)
    return out


def landcover_map_error(share: float) -> Perturbation:
    """A perturbation that puts blobs over ``share`` of the scene in which every vegetated class
    becomes one vegetated class drawn per blob (itself a quarter of the time)."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"--map-error must be in (0, 1), got {share}")

    def perturb(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.array(image, np.float32)
        lc = out[_BAND["landcover"]]
        field = ndimage.gaussian_filter(rng.standard_normal(lc.shape), _BLOB_SIGMA_PX)
        blobs, n = ndimage.label(field > np.quantile(field, 1.0 - share))
        drawn = MAP_CLASSES[rng.integers(0, len(MAP_CLASSES), size=n + 1)]
        wrong = (blobs > 0) & np.isin(lc, MAP_CLASSES)
        out[_BAND["landcover"]] = np.where(wrong, drawn[blobs], lc)
        return out

    return perturb


def landcover_all_tree(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` with every finite land cover pixel tree cover (a copy)."""
    out = np.array(image, np.float32)
    lc = out[_BAND["landcover"]]
    out[_BAND["landcover"]] = np.where(np.isfinite(lc), float(TREE), np.nan)
    return out


def landcover_no_data(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` with every finite land cover pixel WorldCover's no data, 0 (a copy)."""
    out = np.array(image, np.float32)
    lc = out[_BAND["landcover"]]
    out[_BAND["landcover"]] = np.where(np.isfinite(lc), float(NO_DATA), np.nan)
    return out


def changed_share(before: np.ndarray, after: np.ndarray) -> float:
    """The share of finite land cover pixels whose class differs (of the vegetated ones)."""
    lc0, lc1 = before[_BAND["landcover"]], after[_BAND["landcover"]]
    veg = np.isin(lc0, MAP_CLASSES)
    return float((lc0[veg] != lc1[veg]).mean()) if veg.any() else 0.0


def score(
    ensemble: Ensemble,
    data: Path,
    settings: Sequence[str],
    perturbations: dict[str, Perturbation | None],
    seed: int,
) -> tuple[dict[str, dict[str, Confusion]], dict[str, float]]:
    """Pooled confusions per perturbation and setting, and per perturbation the mean share of
    vegetated pixels whose land cover changed."""
    pooled = {k: {s: Confusion() for s in settings} for k in perturbations}
    moved = {k: 0.0 for k in perturbations}
    ids = scene_ids(data)
    for n, scene_id in enumerate(ids):
        scene = read_scene(data, scene_id)
        truth = scene.label > 0
        images: dict[str, np.ndarray] = {}
        for k, perturb in perturbations.items():
            rng = np.random.default_rng([seed, n])
            images[k] = scene.image if perturb is None else perturb(scene.image, rng)
            moved[k] += changed_share(scene.image, images[k]) / len(ids)
        for setting in settings:
            idx = list(channels_of(setting))
            valid: np.ndarray | None = None
            for k in perturbations:
                prob = ensemble.predict_array(images[k][idx], setting, device="cpu").probability
                if valid is None:  # the unperturbed inputs' valid pixels, for every row
                    valid = np.isfinite(prob) & scene.known
                mask = np.nan_to_num(prob, nan=0.0) >= ensemble.threshold(setting)
                pooled[k][setting] = pooled[k][setting] + confusion(mask, truth, valid)
        print(f"  {n + 1}/{len(ids)} {scene_id}", file=sys.stderr, flush=True)
    return pooled, moved


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--data",
        type=Path,
        help="a labelled Ganerød-layout folder (default: the randomised world's out-of-family "
        "test scenes, data/randomised/test; skipped where not built)",
    )
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--setting", action="append", help="only this setting (repeatable)")
    p.add_argument(
        "--map-error",
        type=float,
        default=1.0 / 3.0,
        help="share of each scene under wrong-class blobs (default 1/3: about a quarter of "
        "the vegetated pixels change class, as the real map's 74-77 %% accuracy)",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.data is None:
        if not (DEFAULT_DATA / "input").is_dir():
            # `make bench` on a fresh clone: the world is built by `make default-ensemble` only
            print(
                f"skipped: no {DEFAULT_DATA} (`make default-ensemble` builds the randomised world)"
            )
            return 0
        args.data = DEFAULT_DATA
    if not (args.data / "input").is_dir():
        p.error(f"--data {args.data}: no input/ folder (a Ganerød-layout folder is expected)")
    ensemble = Ensemble.load(args.manifest)
    settings = args.setting or list(ensemble.settings)
    unknown = [s for s in settings if s not in ensemble.settings]
    if unknown:
        p.error(f"--setting {unknown[0]}: the ensemble has {', '.join(ensemble.settings)}")
    perturbations: dict[str, Perturbation | None] = {
        "as they are": None,
        "radar unchanged": radar_unchanged,
        "land cover with map error": landcover_map_error(args.map_error),
        "land cover all tree": landcover_all_tree,
        "land cover no data": landcover_no_data,
    }
    pooled, moved = score(ensemble, args.data, settings, perturbations, args.seed)
    print(f"{args.manifest} on {args.data} ({len(scene_ids(args.data))} scenes), seed {args.seed}")
    print("| inputs | vegetated pixels re-classed | setting | precision | recall | F1 | ΔF1 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k in perturbations:
        for setting in settings:
            c = pooled[k][setting]
            prec, rec, f1 = c.precision, c.recall, c.f1
            base = pooled["as they are"][setting].f1
            print(
                f"| {k} | {moved[k]:.2f} | {setting} | {format_score(prec)} | {format_score(rec)} "
                f"| {f1:.3f} "
                f"| {f1 - base:+.3f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
