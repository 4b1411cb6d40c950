"""Flagged area on scenes without a landslide: the hectares an ensemble's members call landslide
(probability at or above the setting's threshold) per 100 km² of valid pixels, per setting, over
a Ganerød-layout folder of look-alike-only scenes (``monitor.ops.stormfree_scenes``, or the
``quiet`` set of ``bench/foreign_scenes.py``). The pixel report of ``models evaluate`` has no
figure for such scenes (no positives: recall undefined, precision 0); this is the pixel-level
counterpart of the chain's false objects per 100 km² (docs/models.md, "Members without the
land cover").

    OMP_NUM_THREADS=1 python bench/flagged_area.py --manifest M.json DIR [DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.datasets import channels_of, read_folder  # noqa: E402
from models.ensemble import DEFAULT_MANIFEST, Ensemble  # noqa: E402

HA_PER_100_KM2 = 1.0e4  # 100 km² in hectares


def flagged_ha_per_100km2(ens: Ensemble, folder: Path, setting: str) -> tuple[float, int]:
    """The flagged area per 100 km² of valid pixels and the number of scenes."""
    flagged = valid = 0
    scenes = read_folder(folder)
    for scene in scenes:
        pred = ens.predict_array(scene.image[list(channels_of(setting))], setting)
        ok = np.isfinite(pred.probability)
        flagged += int((pred.probability[ok] >= pred.threshold).sum())
        valid += int(ok.sum())
    if not valid:
        raise SystemExit(f"{folder}: no valid pixel for {setting}")
    return flagged / valid * HA_PER_100_KM2, len(scenes)  # the flagged share of the ground


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", type=Path, nargs="+", help="Ganerød-layout folders")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--setting", action="append", help="default: S2 and S1+S2")
    args = parser.parse_args(argv)
    ens = Ensemble.load(args.manifest)
    settings = args.setting or [s for s in ("S2", "S1+S2") if s in ens.settings]
    for folder in args.folders:
        figures = []
        for setting in settings:
            area, n = flagged_ha_per_100km2(ens, folder, setting)
            figures.append(f"{setting} {area:.1f}")
        print(f"{folder} ({n} scenes): flagged ha per 100 km²: {', '.join(figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
