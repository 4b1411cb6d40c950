"""Fixtures of the inventory tests: candidate GeoDataFrames built in code on a UTM grid."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.store.inventory import Inventory

# A corner of the Wayanad demo region, UTM 43N.
X0, Y0 = 600_000.0, 1_270_000.0
CRS = "EPSG:32643"

CandidatesFactory = Callable[..., gpd.GeoDataFrame]


@pytest.fixture
def square() -> Callable[[float, float, float, float], BaseGeometry]:
    """``square(dx, dy, w, h)``: a w x h metre rectangle at (X0 + dx, Y0 + dy)."""

    def make(dx: float, dy: float, w: float, h: float) -> BaseGeometry:
        return box(X0 + dx, Y0 + dy, X0 + dx + w, Y0 + dy + h)

    return make


@pytest.fixture
def candidates() -> CandidatesFactory:
    """``candidates(geoms, region="r", crs=CRS, **columns)``: candidates as vectorise makes them."""

    def make(
        geoms: Sequence[BaseGeometry], region: str = "r", crs: str = CRS, **columns: object
    ) -> gpd.GeoDataFrame:
        data: dict[str, object] = {
            "region": region,
            "area_m2": [g.area for g in geoms],
            "prob_mean": 0.8,
            "prob_max": 0.97,
            "agreement": 0.9,
            "dNDVI_mean": -0.35,
            "dVV_mean": -1.5,
            "dVH_mean": -2.0,
            "slope_mean": 27.0,
            "setting": "S1+S2",
            "pre_date": "2024-08-20",
            "post_date": "2024-08-27",
        }
        data.update(columns)
        return gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)

    return make


@pytest.fixture
def routing() -> AlertRouting:
    """One webhook and one e-mail recipient for every region."""
    settings = AlertSettings(
        smtp={"host": "127.0.0.1", "port": 2525, "from_address": "monitor@example.org"},
        email=["ops@example.org"],
        webhooks=[
            {"name": "ops", "url": "http://127.0.0.1:9/hook", "secret_env": "LM_TEST_SECRET"}
        ],
    )
    return AlertRouting.from_settings(settings)


@pytest.fixture
def inventory(tmp_path: Path) -> Iterator[Inventory]:
    inv = Inventory(tmp_path / "inventory.gpkg")
    yield inv
    inv.close()
