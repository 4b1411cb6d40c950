"""The scene simulator that fills the embedded archive (terrain, land cover, Sentinel-2 and
Sentinel-1 acquisitions, landslides and look-alikes), deterministic per seed.

One module per concept: :mod:`.spec` (YAML blocks, landscape presets), :mod:`.terrain`,
:mod:`.landcover`, :mod:`.events`, :mod:`.surface` (the ground on a given day),
:mod:`.optical`, :mod:`.radar`, :mod:`.region` (one region's plan and renderers), :mod:`.build`
(:func:`build_archive`: simulated regions into the archive)."""

from monitor.simulator.build import BuildReport, build_archive
from monitor.simulator.region import SimulatedRegion, random_regions
from monitor.simulator.spec import (
    LANDSCAPES,
    ArchiveSimulation,
    LandscapeName,
    SimulationSpec,
)

__all__ = [
    "LANDSCAPES",
    "ArchiveSimulation",
    "BuildReport",
    "LandscapeName",
    "SimulatedRegion",
    "SimulationSpec",
    "build_archive",
    "random_regions",
]
