"""Asset coverage by latitude: every static band of a region gets an asset that covers it, or
the region is refused before the first request with a message naming band, asset and region;
a band that still comes back empty is recorded in the status and rules out the settings that
need it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import yaml
from shapely.geometry import box, mapping

from gee_scripts.assembly import FLAT_BANDS
from gee_scripts.coverage import AssetCoverageError, resolve_assets
from gee_scripts.offline import ArrayServer, find_invocations, graph_tree
from gee_scripts.settings import AssetIds, DemSettings, GeeSettings
from models.feature_stack import model_input
from monitor.config import load_config
from monitor.grid import region_grid
from monitor.run import detect_region
from monitor.sources.base import AreaOfInterest, Window
from monitor.sources.gee import GeeSource

pytestmark = pytest.mark.filterwarnings("ignore:Use `@` matmul:PendingDeprecationWarning")

# About 1.1 km x 1.1 km of Nordland, Norway, at 65° N: north of SRTM (60° N) and GEDI (52° N).
NORWAY = AreaOfInterest("nordland", box(14.000, 64.990, 14.023, 65.000), "both")
PRE = Window(date(2024, 7, 17), date(2024, 8, 16))
POST = Window(date(2024, 8, 16), date(2024, 9, 15))
FULL = {
    "s2_dates_pre": ["2024-07-20"],
    "s2_dates_post": ["2024-08-24"],
    "s1_dates_pre": ["2024-07-22"],
    "s1_dates_post": ["2024-08-27", "2024-09-08"],  # the post window's last days seen
}


def _loaded(tree: Any) -> set[str]:
    return {
        c["args"]["id"]
        for fn in ("ImageCollection.load", "Image.load")
        for c in find_invocations(tree, fn)
    }


def test_a_region_at_65_north_resolves_assets_that_cover_it() -> None:
    resolved = resolve_assets(NORWAY.name, NORWAY.geometry.bounds, GeeSettings())
    assert resolved.elevation.assets == ("COPERNICUS/DEM/GLO30_2024_1",)
    assert resolved.elevation.kind == "copernicus_glo30"
    assert resolved.elevation.note == (
        "covers 90.0° S to 90.0° N; USGS/SRTMGL1_003 covers only 56.0° S to 60.0° N"
    )
    assert resolved.canopy_height.assets == ("users/potapovpeter/GEDI_V25_Boreal",)
    assert resolved.landcover.assets == ("ESA/WorldCover/v200",)
    assert resolved.kg_climate.assets == ()  # none configured: masked, and said so

    # The feature image built by the source loads those assets and not the ones that stop south
    # of the region (the graph is what the server would compute).
    grid = region_grid(NORWAY.geometry)
    server = ArrayServer({}, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL)
    with server.installed():
        image = GeeSource(GeeSettings(), initialize=False).feature_image(NORWAY, PRE, POST)
    loaded = _loaded(graph_tree(image))
    assert {"COPERNICUS/DEM/GLO30_2024_1", "users/potapovpeter/GEDI_V25_Boreal"} <= loaded
    assert not loaded & {"USGS/SRTMGL1_003", "users/potapovpeter/GEDI_V27"}


def test_the_alps_keep_srtm_and_gedi() -> None:
    alps = resolve_assets("alps", (9.93, 46.22, 9.946, 46.231), GeeSettings())
    assert alps.elevation.assets == ("USGS/SRTMGL1_003",)
    assert alps.canopy_height.assets == ("users/potapovpeter/GEDI_V27",)


def test_an_unknown_canopy_upload_is_added_to_the_known_products_not_put_in_their_place() -> None:
    upload = "projects/me/assets/boreal_chm"  # an extent the table cannot know
    settings = GeeSettings(assets=AssetIds(canopy_height_boreal=upload))
    alps = resolve_assets("alps", (9.93, 46.22, 9.946, 46.231), settings)
    assert alps.canopy_height.assets == ("users/potapovpeter/GEDI_V27", upload)
    assert not alps.canopy_height.checked
    north = resolve_assets("nordland", (14.0, 64.99, 14.023, 65.0), settings)
    assert north.canopy_height.assets == (upload,)  # GEDI_V27 stops at 52° N


def test_a_region_across_60_north_takes_glo30_for_all_of_it() -> None:
    across = resolve_assets("across", (10.0, 59.95, 10.05, 60.05), GeeSettings())
    assert across.elevation.assets == ("COPERNICUS/DEM/GLO30_2024_1",)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            GeeSettings(dem=DemSettings(source="srtm")),
            r"band elevation: USGS/SRTMGL1_003 covers only 56\.0° S to 60\.0° N, not region "
            r"nordland \(65\.0° N to 65\.0° N\); set source\.dem\.source to auto",
        ),
        (
            GeeSettings(assets=AssetIds(canopy_height_boreal=None)),
            r"band canopy_height: users/potapovpeter/GEDI_V27 \(source\.assets\.canopy_height\) "
            r"covers 52\.0° S to 52\.0° N, not region nordland",
        ),
    ],
)
def test_a_forced_asset_that_does_not_cover_the_region_is_refused_before_any_request(
    settings: GeeSettings, message: str
) -> None:
    with pytest.raises(AssetCoverageError, match=message):
        resolve_assets(NORWAY.name, NORWAY.geometry.bounds, settings)
    grid = region_grid(NORWAY.geometry)
    server = ArrayServer({}, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL)
    with server.installed(), pytest.raises(AssetCoverageError, match="region nordland"):
        GeeSource(settings, initialize=False, progress=False).features(NORWAY, PRE, POST)
    assert server.value_requests == 0 and not server.pixel_requests


def test_worldcover_stops_at_84_north() -> None:
    with pytest.raises(AssetCoverageError, match=r"band landcover: asset ESA/WorldCover/v200"):
        resolve_assets("svalbard-north", (20.0, 84.1, 20.1, 84.2), GeeSettings())


def test_going_without_canopy_height_masks_the_band_and_names_why() -> None:
    settings = GeeSettings(assets=AssetIds(canopy_height=None, canopy_height_boreal=None))
    resolved = resolve_assets(NORWAY.name, NORWAY.geometry.bounds, settings)
    assert resolved.canopy_height.assets == ()
    assert resolved.empty_causes()["canopy_height"] == (
        "no asset configured: source.assets.canopy_height and canopy_height_boreal are null"
    )


# -- a band that comes back entirely NaN -------------------------------------------------------
class _RecordingEnsemble:
    """Probability 0.9 where every input channel of the setting is finite (NaN elsewhere, as the
    real ensemble); records the settings it was asked for."""

    def __init__(self, settings: tuple[str, ...]) -> None:
        self.settings = settings
        self.calls: list[str] = []

    def predict(self, stack: xr.Dataset, setting: str, *, device: Any = None) -> xr.Dataset:
        self.calls.append(setting)
        x = model_input(stack, setting)
        probability = np.where(np.isfinite(x).all(axis=0), 0.9, np.nan).astype(np.float32)
        return xr.Dataset(
            {name: (("y", "x"), probability) for name in ("probability", "spread", "agreement")},
            coords={"y": stack["y"], "x": stack["x"]},
            attrs={"threshold": 0.5, "setting": setting, "members": "m"},
        )


def test_an_all_nan_band_is_in_the_status_and_its_setting_is_not_used(tmp_path: Path) -> None:
    alps = box(9.930, 46.220, 9.936, 46.224)
    manifest = tmp_path / "manifest.json"
    manifest.write_text("{}")  # read only by Ensemble.load, which the test does not call
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "source": {"type": "gee", "project": "offline-test", "chunk_px": 64},
                "regions": [{"name": "alps", "geometry": mapping(alps)}],
                "model": {"manifest": str(manifest), "preference": ["all", "S1+S2", "S1"]},
                "trigger": {"enabled": False},
                "inventory": {"path": str(tmp_path / "inventory.gpkg")},
                "quicklooks": {"enabled": False},
            }
        )
    )
    config = load_config(config_path)
    (region,) = config.regions
    grid = region_grid(alps)
    rng = np.random.default_rng(3)
    bands = {n: rng.uniform(0.1, 1.0, grid.shape).astype(np.float32) for n in FLAT_BANDS}
    for name in ("s2_clear_pre", "s2_clear_post", "s1_count_pre", "s1_count_post"):
        bands[name][:] = 2.0
    for which in ("pre", "post"):
        bands[f"s2_day_{which}"][:] = 19_950.0
    # The canopy product had no pixel over the region; no Köppen-Geiger asset is configured, so
    # the image serves that band masked too.
    bands["canopy_height"][:] = np.nan
    bands["kg_climate"][:] = np.nan
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=FULL
    )
    ensemble = _RecordingEnsemble(("all", "S1+S2", "S1"))
    assert isinstance(config.source, GeeSettings)
    with server.installed():
        source = GeeSource(config.source, initialize=False, progress=False)
        result = detect_region(
            config,
            region,
            date(2024, 9, 15),
            source=source,
            ensemble=ensemble,
        )

    assert result.status == "ok"
    assert result.data_status == (
        "empty bands (entirely NaN): kg_climate (no asset configured: source.assets.kg_climate "
        "is null), canopy_height (no data from users/potapovpeter/GEDI_V27 over the region)"
    )
    assert result.setting == "S1+S2"
    assert ensemble.calls == ["S1+S2"]  # not "all", whose prediction would be NaN everywhere
    assert result.setting_reason.endswith("; not all (needs kg_climate, canopy_height)")
