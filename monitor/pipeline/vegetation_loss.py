"""Large vegetation loss on sloping ground: what no detector should leave unreviewed.

The members learnt their priors from simulated worlds (docs/models.md). On scenes of a second
generator they score a fresh scar on grassland at a mean probability of 0.18 against 0.61 in
forest, and the chain found 0.56-0.58 of its landslides of 1 ha or more where a plain dNDVI
threshold's chain found 0.96-0.98; in this project's own bench a 7.6 ha grassland slide with a
median dNDVI of -0.53 went unalerted (docs/measurements/time_to_alert.md). A large patch that
lost most of its vegetation on a slope is the change the dNDVI method of Lindsay et al. (the
mapping behind Ganerød et al.'s labels) draws first. This module marks such patches so that
:func:`monitor.pipeline.vectorise.vectorise` adds those the ensemble drew nothing over as
candidates (setting ``S2``, the sensor that saw them):
the region's rules and the object filter judge them like any other. The second look does not
hold them back: as for every optical detection, the clear view that dates the change confirms
it, so they are alerted on that run. A clear-cut, a burn or a quarry is as large and as bare;
the filter and the operator's review are what tell them apart.

The rule (:func:`vegetation_losses`, per pixel; the object size in vectorisation):

- ``dNDVI`` below :data:`LOSS_DNDVI`: a loss of 0.35 or more, 40-60 % of the NDVI of a green
  canopy (0.6-0.9), and where the stack has the post-event NDVI (a monitoring stack; a
  Ganerød-layout file has none), that NDVI below :data:`MAX_POST_NDVI`: the ground left bare
  or nearly, not a meadow cut or grass turned yellow, which usually keep more (not measured:
  neither generator draws them);
- on a slope of :data:`MIN_SLOPE_DEG` or more (the forest backscatter-drop test's limit; a
  runout on flatter ground is left to the ensemble) and on ground WorldCover called tree,
  shrub, grass or moss and lichen before the event (:data:`VEGETATED`: cropland is left to the
  ensemble, whose harvests lose as much NDVI every year; wetland too, whose water level moves);
- objects of :data:`MIN_AREA_M2` or more (1 ha), counted on what the water and snow rules leave,
  that neither overlap nor border a detection of the ensemble (of the region's minimum area,
  after the same rules): where the ensemble drew nothing over a scar of that size, an operator
  wants to look; smaller patches of strong loss are the ensemble's to judge, and where it drew
  part of a scar, that part is the candidate (its object filter may suppress it: adding the
  rest of the scar as a candidate of its own, or merging the two, was measured and cost more
  than it found, docs/models.md).

Chosen before any run of the chain with it: a scan of the three thresholds -0.25, -0.35 and
-0.45 and the two sizes 0.5 and 1 ha over one draw of the second generator and the in-house
test scenes (docs/models.md, "A net for large vegetation loss") looked at both, so the figures
of that draw flatter the rule; the second draw was scored only with these values.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from models.worldcover import GRASS, MOSS_LICHEN, SHRUB, TREE
from monitor.pipeline.radar_drop import MIN_SLOPE_DEG  # the same slopes as the drop test

__all__ = [
    "LOSS_DNDVI",
    "MAX_POST_NDVI",
    "MIN_AREA_M2",
    "MIN_SLOPE_DEG",
    "VEGETATED",
    "vegetation_losses",
]

LOSS_DNDVI = -0.35
MAX_POST_NDVI = 0.4
MIN_AREA_M2 = 10_000.0
VEGETATED: tuple[int, ...] = (TREE, SHRUB, GRASS, MOSS_LICHEN)


def vegetation_losses(stack: xr.Dataset) -> np.ndarray:
    """Pixels of strong vegetation loss on vegetated slopes (bool, the stack's grid); all False
    where the stack lacks ``dNDVI``, ``slope`` or ``landcover``. The object rules (size, no contact
    with the ensemble's detections) are applied in vectorisation, where the pixel area is known."""
    shape = (stack.sizes["y"], stack.sizes["x"])
    if not all(name in stack for name in ("dNDVI", "slope", "landcover")):
        return np.zeros(shape, bool)
    dndvi = np.asarray(stack["dNDVI"].values, np.float64)
    slope = np.asarray(stack["slope"].values, np.float64)
    cover = np.asarray(stack["landcover"].values)
    with np.errstate(invalid="ignore"):  # NaN (cloud, no data) is no loss
        loss = (dndvi < LOSS_DNDVI) & (slope >= MIN_SLOPE_DEG)
        if "postNDVI" in stack:  # NaN where unknown: not held against the pixel
            loss &= ~(np.asarray(stack["postNDVI"].values, np.float64) >= MAX_POST_NDVI)
    return np.asarray(loss & np.isin(cover, VEGETATED))
