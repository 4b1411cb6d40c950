"""The ESA WorldCover v200 legend: the class codes of the feature stack's ``landcover`` band.

Defined once here, outside the sources and the simulator, so that the archive reader, the Earth
Engine graphs (``gee_scripts``), the simulator that fills the archive and the pipeline's masks
agree on what a code means. Codes and names as the WorldCover v200 product user manual lists
them (the ``Map`` band of ``ESA/WorldCover/v200``).
"""

from __future__ import annotations

__all__ = [
    "BARE",
    "BUILT",
    "CROP",
    "GRASS",
    "MANGROVES",
    "MOSS_LICHEN",
    "SHRUB",
    "SNOW_ICE",
    "TREE",
    "VEGETATED",
    "WATER",
    "WETLAND",
    "WORLDCOVER_CLASSES",
]

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
