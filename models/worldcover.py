"""The ESA WorldCover v200 legend: the class codes of the feature stack's ``landcover`` band.

Defined once here, outside the sources and the simulator, so that the archive reader, the Earth
Engine graphs (``gee_scripts``), the simulator that fills the archive and the pipeline's masks
agree on what a code means. Codes and names as the WorldCover v200 product user manual lists
them (the ``Map`` band of ``ESA/WorldCover/v200``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BARE",
    "BUILT",
    "CROP",
    "GRASS",
    "MANGROVES",
    "MOSS_LICHEN",
    "NO_DATA",
    "SHRUB",
    "SNOW_ICE",
    "TREE",
    "VEGETATED",
    "WATER",
    "WETLAND",
    "WORLDCOVER_CLASSES",
    "no_data_note",
]

NO_DATA = 0  # the product's fill; what an archive and a Ganerød-layout stack write for none
TREE = 10
SHRUB = 20
GRASS = 30
CROP = 40
BUILT = 50
BARE = 60  # bare / sparse vegetation
SNOW_ICE = 70
WATER = 80  # permanent water bodies
WETLAND = 90  # herbaceous wetland
MANGROVES = 95
MOSS_LICHEN = 100

WORLDCOVER_CLASSES: dict[int, str] = {
    TREE: "tree cover",
    SHRUB: "shrubland",
    GRASS: "grassland",
    CROP: "cropland",
    BUILT: "built-up",
    BARE: "bare / sparse vegetation",
    SNOW_ICE: "snow and ice",
    WATER: "permanent water bodies",
    WETLAND: "herbaceous wetland",
    MANGROVES: "mangroves",
    MOSS_LICHEN: "moss and lichen",
}

# Where Sentinel-1 terrain flattening uses the volume-scattering model (Vollrath et al. 2020,
# eq. 5) rather than the surface model (eq. 6). Ganerød et al. choose "either a volumetric or a
# surface model, depending on the land cover type" without listing the classes; Vollrath et al.
# motivate the volume model by scattering within a vegetation canopy. So every class that
# WorldCover defines as a vegetation cover counts: tree cover, shrubland, grassland, cropland,
# herbaceous wetland and mangroves (95: salt-tolerant trees and shrubs of intertidal shores, a
# forest canopy to the radar like tree cover). Bare/sparse vegetation (60) and moss and lichen
# (100) are a thin layer on soil or rock and keep the surface model, as do built-up, snow and
# ice, and water. The simulator never places mangroves, so the demo archive's numbers do not
# depend on 95's membership.
VEGETATED: tuple[int, ...] = (TREE, SHRUB, GRASS, CROP, WETLAND, MANGROVES)


def no_data_note(codes: np.ndarray) -> str | None:
    """What a run should say of a ``landcover`` band holding :data:`NO_DATA` (an export made
    without WorldCover, or past its edge), or None where it holds none. The members read 0 as
    they read any code, and they were trained where every pixel has a class: on the randomised
    world's out-of-family test scenes with every land cover 0, S1+S2 scores pixel F1 0.49
    against 0.55 and S2 0.33 against 0.40 (``bench/bench_input_reliance.py``), still above
    what falling back to S1 gives (0.40), so the band is read, and this says so."""
    values = np.asarray(codes)
    known = values[np.isfinite(values)]
    if not known.size:
        return None
    share = float(np.count_nonzero(known == NO_DATA)) / known.size
    if share == 0.0:
        return None
    return (
        f"landcover holds no data (0, ESA WorldCover's fill) on {share:.1%} of the pixels: the "
        "S2 and S1+S2 members, which read it, were trained with a class on every pixel and "
        "detect less well without it "
        "(docs/archive.md, Filling the archive with real exports)"
    )
