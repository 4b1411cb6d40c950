"""Parity: the Earth Engine path (GeeSource -> gee_scripts -> xee) gives the same feature stack
as the archive source for the same region and windows.

``ee.data.computeValue``/``computePixels`` are replaced by the ArrayServer stand-in, which
serves the archive's own composites (flattened to Earth Engine bands) and answers the
availability probe from the archive's catalogue. The stack that comes back through xee,
tiling, NaN masking and reassembly must equal the archive's: same variables in the same order,
dims, dtypes, coordinates, CRS, transform, values and attributes.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from gee_scripts.settings import GeeSettings, S1Settings
from models.feature_stack import DATING_VARIABLES, STACK_ATTRS, validate
from monitor.grid import region_grid
from monitor.simulator import ArchiveSimulation, SimulationSpec, build_archive
from monitor.sources.archive import ArchiveSource
from monitor.sources.base import EVENT, MONITORING, AreaOfInterest, Compositing, Window
from monitor.sources.gee import GeeSource
from tests.gee.gee_archive_server import archive_server

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

SIMULATION = ArchiveSimulation(
    start=date(2024, 6, 20), end=date(2024, 9, 20), storms=(date(2024, 8, 24),)
)
PRE = Window(date(2024, 7, 1), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))
REGIONS = {
    "parity-alps": (
        AreaOfInterest("parity-alps", box(9.93, 46.22, 9.946, 46.231), "ascending"),
        SimulationSpec(landscape="alpine", seed=23),
    ),
    "parity-hills": (
        AreaOfInterest("parity-hills", box(10.90, 44.34, 10.914, 44.35), "both"),
        SimulationSpec(landscape="agricultural_hills", seed=37, cloud_scale=1.6),
    ),
}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveSource:
    path: Path = tmp_path_factory.mktemp("gee_parity_archive")
    build_archive(path, list(REGIONS.values()), SIMULATION, progress=False, workers=1)
    return ArchiveSource(path)


@pytest.mark.parametrize(
    ("name", "chunk_px", "compositing"),
    [("parity-alps", 64, EVENT), ("parity-hills", 256, EVENT), ("parity-hills", 128, MONITORING)],
)
def test_gee_stack_equals_archive_stack(
    archive: ArchiveSource, name: str, chunk_px: int, compositing: Compositing
) -> None:
    area, _ = REGIONS[name]
    truth, server = archive_server(archive, area, PRE, POST, compositing)
    settings = GeeSettings(chunk_px=chunk_px, s1=S1Settings(terrain_model="landcover"))
    with server.installed():
        source = GeeSource(settings, initialize=False, progress=False)
        stack = source.features(area, PRE, POST, compositing)

    validate(stack)
    assert list(stack.data_vars) == list(truth.data_vars)
    for var in truth.data_vars:
        assert stack[var].dims == truth[var].dims, var
        assert stack[var].dtype == truth[var].dtype, var
        np.testing.assert_array_equal(stack[var].values, truth[var].values, err_msg=var)
    for coord in ("x", "y", "rgb"):
        np.testing.assert_array_equal(stack[coord].values, truth[coord].values)
    assert stack.rio.crs == truth.rio.crs
    assert stack.rio.transform() == truth.rio.transform()
    for attr in STACK_ATTRS:
        if attr != "source":
            assert stack.attrs[attr] == truth.attrs[attr], attr
    assert (stack.attrs["source"], truth.attrs["source"]) == ("gee", "archive")
    assert stack.attrs["terrain_model"] == truth.attrs["terrain_model"] == "landcover"
    assert stack.attrs["compositing"] == truth.attrs["compositing"] == compositing.describe()
    assert any(np.isfinite(truth[v].values).any() for v in DATING_VARIABLES)
    # The comparison has teeth: real data on both sides, tiles when chunked.
    assert np.isfinite(truth["dVV"].values).mean() > 0.5
    assert np.isfinite(truth["dNDVI"].values).any()
    tiles = {(r.row, r.col) for r in server.pixel_requests}
    grid = region_grid(area.geometry)
    assert len(tiles) == -(-grid.height // chunk_px) * -(-grid.width // chunk_px)
