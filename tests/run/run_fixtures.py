"""Helpers of the run tests: synthetic feature stacks on a region's grid, a stand-in source with
ground truth and a deterministic stand-in ensemble (imported by the tests as ``run_fixtures``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401
import shapely.affinity
import xarray as xr
from shapely.geometry import Polygon, box, mapping

from models.feature_stack import COUNT_VARIABLES, MODEL_BANDS
from monitor.grid import Grid, region_grid, reproject
from monitor.sources.base import AreaOfInterest, DataUnavailable, Window

# A 1.2 km x 1.2 km square in the Apennines (UTM 32N), small enough for fast tests.
REGION_POLYGON = box(10.900, 44.340, 10.915, 44.351)
# The stand-in source's first acquisition: run dates on or before it are refused.
FIRST_ACQUISITION = date(2024, 3, 1)


def make_stack(
    grid: Grid,
    *,
    region: str = "test-region",
    scars: Sequence[tuple[int, int, int, int]] = (),
    clear: float = 1.0,
    slope: float = 20.0,
    landcover: int = 10,
    s2_dates: tuple[str, str] = ("2024-08-10", "2024-08-20"),
    s1_dates: tuple[str, str] = ("2024-08-12", "2024-08-18"),
) -> xr.Dataset:
    """A feature stack on ``grid``: quiet forest everywhere, and vegetation loss with a radar
    drop in each ``scars`` rectangle (row0, row1, col0, col1). ``clear`` is the fraction of
    columns (from the west) with a clear optical view in both windows."""
    h, w = grid.shape
    rng = np.random.default_rng(0)
    data: dict[str, np.ndarray] = {}
    for name in MODEL_BANDS:
        data[name] = np.zeros((h, w), np.float32)
    data["preVV"][:] = -8.0
    data["postVV"][:] = -8.0 + rng.normal(0, 0.2, (h, w)).astype(np.float32)
    data["preVH"][:] = -14.0
    data["postVH"][:] = -14.0
    data["liaDeg"][:] = 35.0
    data["elevation"][:] = 600.0
    data["slope"][:] = slope
    data["kg_climate"][:] = 15
    data["canopy_height"][:] = 20.0
    data["landcover"][:] = landcover
    pre_ndvi = np.full((h, w), 0.8, np.float32)
    post_ndvi = np.full((h, w), 0.8, np.float32)
    for r0, r1, c0, c1 in scars:
        post_ndvi[r0:r1, c0:c1] = 0.2
        data["postVV"][r0:r1, c0:c1] = -12.0
        data["postVH"][r0:r1, c0:c1] = -19.0
    data["dVV"] = data["postVV"] - data["preVV"]
    data["dVH"] = data["postVH"] - data["preVH"]
    clear_cols = round(clear * w)
    clear_mask = np.zeros((h, w), bool)
    clear_mask[:, :clear_cols] = True
    pre_ndvi[~clear_mask] = np.nan
    post_ndvi[~clear_mask] = np.nan
    data["dNDVI"] = post_ndvi - pre_ndvi
    counts = {
        "s2_clear_pre": clear_mask.astype(np.float32) * 3,
        "s2_clear_post": clear_mask.astype(np.float32) * 2,
        "s1_count_pre": np.full((h, w), 5, np.float32),
        "s1_count_post": np.full((h, w), 3, np.float32),
    }
    variables: dict[str, Any] = {k: (("y", "x"), v) for k, v in data.items()}
    variables.update({k: (("y", "x"), counts[k]) for k in COUNT_VARIABLES})
    variables["preNDVI"] = (("y", "x"), pre_ndvi)
    variables["postNDVI"] = (("y", "x"), post_ndvi)
    rgb = np.full((3, h, w), 0.1, np.float32)
    variables["pre_rgb"] = (("rgb", "y", "x"), rgb)
    variables["post_rgb"] = (("rgb", "y", "x"), rgb)
    ds = xr.Dataset(variables, coords={"y": grid.y, "x": grid.x, "rgb": ["red", "green", "blue"]})
    ds.attrs.update(
        region=region,
        source="test",
        pre_window="2024-06-17/2024-08-16",
        post_window="2024-08-16/2024-09-15",
        orbit_pass="both",
        s2_dates_pre=f"2024-07-01,{s2_dates[0]}",
        s2_dates_post=f"{s2_dates[1]},2024-09-01",
        s1_dates_pre=f"2024-07-03,{s1_dates[0]}",
        s1_dates_post=f"{s1_dates[1]},2024-09-03",
        status="ok",
    )
    return ds.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


class StandInSource:
    """A source serving synthetic stacks of the regions in ``regions`` (name -> polygon): the
    scars of ``scars`` (name -> rectangles in pixels) with ground truth from the same rectangles
    (event 2024-08-24), plus an old landslide before the windows that is never counted."""

    name = "archive"

    def __init__(
        self,
        regions: dict[str, Polygon],
        scars: dict[str, list[tuple[int, int, int, int]]],
        *,
        fail: Sequence[str] = (),
        unavailable: Sequence[str] = (),
        clear: float = 1.0,
    ) -> None:
        self.regions = regions
        self.scars = scars
        self.fail = set(fail)
        self.unavailable = set(unavailable)
        self.clear = clear
        self.calls: list[str] = []

    def features(
        self, area: AreaOfInterest, pre: Window, post: Window, compositing: object = None
    ) -> xr.Dataset:
        self.calls.append(area.name)
        if area.name in self.fail:
            raise RuntimeError(f"simulated failure of region {area.name}")
        if area.name in self.unavailable:
            raise DataUnavailable(f"{area.name}: no Sentinel-1 or Sentinel-2 data in {post}")
        grid = region_grid(area.geometry)
        return make_stack(
            grid, region=area.name, scars=self.scars.get(area.name, []), clear=self.clear
        )

    def first_acquisition(self, area: AreaOfInterest) -> date | None:
        return FIRST_ACQUISITION

    def ground_truth(self, region: str) -> gpd.GeoDataFrame:
        grid = region_grid(self.regions[region])

        def rectangle(r0: int, r1: int, c0: int, c1: int) -> Polygon:
            return box(
                grid.x0 + c0 * grid.res,
                grid.y0 - r1 * grid.res,
                grid.x0 + c1 * grid.res,
                grid.y0 - r0 * grid.res,
            )

        rows = [
            {
                "event_date": date(2024, 8, 24),
                "area_m2": rectangle(*scar).area,
                "kind": "landslide",
                "geometry": reproject(rectangle(*scar), grid.crs, "EPSG:4326"),
            }
            for scar in self.scars.get(region, [])
        ]
        rows.append(
            {
                "event_date": date(2024, 5, 18),
                "area_m2": 400.0,
                "kind": "landslide",
                "geometry": reproject(rectangle(0, 2, 0, 2), grid.crs, "EPSG:4326"),
            }
        )
        return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def region_polygon(shift_deg: float = 0.0) -> Polygon:
    """The test region moved east by ``shift_deg`` (several regions of one run)."""
    return shapely.affinity.translate(REGION_POLYGON, xoff=shift_deg)


def two_region_config(manifest: Path, **blocks: Any) -> dict[str, Any]:
    """The configuration of the run tests: regions ``north`` and ``south`` (the test region and
    a copy 0.05° east), the inventory in ``runs/``, no quicklooks; ``blocks`` add or replace
    top-level blocks (``alerts``, ``source``, ...)."""
    return {
        "base_dir": ".",
        "regions": [
            {"name": "north", "geometry": mapping(region_polygon(0.0))},
            {"name": "south", "geometry": mapping(region_polygon(0.05))},
        ],
        "model": {"manifest": str(manifest)},
        "inventory": {"path": "runs/inventory.gpkg"},
        "quicklooks": {"enabled": False},
        **blocks,
    }


def recording_loader(ensemble: Any, loads: list[object]) -> Callable[[object], Any]:
    """A stand-in for ``monitor.run.load_ensemble`` that gives ``ensemble`` and appends the
    model settings it was asked to load to ``loads`` (how often a run loaded it)."""

    def load_ensemble(model: object) -> Any:
        loads.append(model)
        return ensemble

    return load_ensemble


class StandInEnsemble:
    """Deterministic stand-in for :class:`models.ensemble.Ensemble`: probability from the
    vegetation loss (optical settings) or the VH drop (radar), NaN where inputs are NaN."""

    def __init__(self, settings: Sequence[str] = ("S1", "S2", "S1+S2"), threshold: float = 0.5):
        self.settings = tuple(settings)
        self._threshold = threshold
        self.calls: list[str] = []

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        self.calls.append(setting)
        signal = -stack["dVH"].values / 5.0 if setting == "S1" else -stack["dNDVI"].values / 0.6
        probability = np.clip(signal, 0.0, 1.0).astype(np.float32)
        agreement = (probability >= self._threshold).astype(np.float32)
        agreement[np.isnan(probability)] = np.nan
        return xr.Dataset(
            {
                "probability": (("y", "x"), probability),
                "spread": (("y", "x"), np.zeros_like(probability)),
                "agreement": (("y", "x"), agreement),
            },
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": self._threshold, "setting": setting, "members": "stand-in"},
        )
