"""The Earth Engine source: the feature stack computed by Google Earth Engine.

:class:`GeeSource` implements :class:`monitor.sources.base.Source` over :mod:`gee_scripts`
(which takes plain arguments: an ``ee.Geometry``, ISO dates, the grid's CRS/transform/shape).
Before any request for a region it resolves the asset of each static band for the region's
latitudes (:func:`gee_scripts.coverage.resolve_assets`; a region no asset covers is refused
with the band, asset and region named). Per region and date it makes one availability request
(scene dates of both sensors in both windows), builds the feature image and fetches it with xee
onto the region's grid (:func:`monitor.grid.region_grid`), so that the result lines up pixel for
pixel with the archive source's stack. The stack is assembled and validated by
:func:`models.stack_assembly.assemble_stack` (through :func:`gee_scripts.fetch.to_feature_stack`),
as the archive source's is. A sensor/window without data is reported in the stack's
``status`` and its bands are NaN, as is a band that came back entirely NaN (with the asset that
had no data); :class:`DataUnavailable` only when neither sensor has any scene.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import ee
import numpy as np
import xarray as xr

from gee_scripts import fetch
from gee_scripts.assembly import (
    Availability,
    availability_query,
    feature_image,
    parse_availability,
)
from gee_scripts.auth import initialize as ee_initialize
from gee_scripts.coverage import ResolvedAssets, resolve_assets
from gee_scripts.export import export_image
from gee_scripts.retry import EarthEngineError, backoff_from, call_with_retry
from gee_scripts.settings import GeeSettings
from models.change_statistics import IW_GRD_ENL
from monitor.grid import Grid, region_grid
from monitor.sources.base import (
    EVENT,
    FIRST_SENTINEL_1_DAY,
    AreaOfInterest,
    Compositing,
    DataUnavailable,
    RegionTooLarge,
    Window,
    data_status,
    stack_attrs,
    stale_post_note,
)

__all__ = ["GeeSettings", "GeeSource", "RegionTooLarge", "gee_window", "grid_transform"]

log = logging.getLogger(__name__)

# Bands that carry measurements: all-zero values there mean a broken request, not data.
_MEASURED = ("preVV", "postVV", "preVH", "postVH", "preNDVI", "postNDVI")


def gee_window(window: Window) -> tuple[str, str]:
    """A :class:`Window` as the ISO ``(start, end)`` pair that ``gee_scripts`` takes."""
    return window.start.isoformat(), window.end.isoformat()


def grid_transform(grid: Grid) -> fetch.Transform:
    """The affine transform of ``grid`` as the six numbers Earth Engine takes."""
    return fetch.six_numbers(grid.transform)


@dataclass(frozen=True)
class _Request:
    area: AreaOfInterest
    grid: Grid
    pre: tuple[str, str]
    post: tuple[str, str]
    assets: ResolvedAssets


class GeeSource:
    """Feature stacks from Google Earth Engine (``source: {type: gee, ...}``).

    ``initialize=False`` leaves ``ee`` as it is (tests initialise it offline with
    :func:`gee_scripts.offline.initialize_offline` and serve pixels with a stand-in)."""

    name = "gee"

    def __init__(
        self,
        settings: GeeSettings | None = None,
        *,
        initialize: bool = True,
        progress: bool = True,
    ) -> None:
        self.settings = settings or GeeSettings()
        self.progress = progress
        self.backoff = backoff_from(self.settings.retry)
        if self.settings.s1.speckle_filter != "none":
            log.warning(
                "s1.speckle_filter %s: the radar change statistics (event dating, the second "
                "look, the forest drop test) assume unfiltered scenes of %.1f looks, and the "
                "bundled ensemble learnt unfiltered scenes; filtered, both are miscalibrated "
                "(the embedded archive never filters)",
                self.settings.s1.speckle_filter, IW_GRD_ENL,
            )  # fmt: skip
        if initialize:
            ee_initialize(self.settings)

    # -- the Source protocol ------------------------------------------------------------------
    def identity(self, area: AreaOfInterest) -> dict[str, Any]:
        """What decides this source's stacks of ``area`` besides the windows
        (:func:`monitor.sources.base.source_identity`): the collections and assets, the cloud
        mask, the DEM choice (with the area's own override, not other regions') and the
        Sentinel-1 pre-processing. Credentials, retries, request sizes and export targets change
        how pixels are fetched, not what they are, and are left out."""
        keep = ("assets", "cloud_mask", "dem", "s1")
        identity = self.settings.model_dump(mode="json", include=set(keep))
        overrides = identity["dem"].pop("overrides")
        identity["dem"]["override"] = overrides.get(area.name)
        return identity

    def features(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        compositing: Compositing = EVENT,
        availability: Availability | None = None,
    ) -> xr.Dataset:
        """The feature stack of ``area`` for the ``pre``/``post`` windows (see the module),
        composited as ``compositing`` says. ``availability``: the windows' scene dates where
        the caller asked for them already (:meth:`availability`), not asked again."""
        request = self._request(area, pre, post)
        if request.grid.area_km2 > self.settings.max_interactive_km2:
            raise RegionTooLarge(
                f"region {area.name}: its grid covers {request.grid.area_km2:.0f} km², more than "
                f"source.max_interactive_km2 = {self.settings.max_interactive_km2:g}; split the "
                "region, raise the limit, or export it with GeeSource.export (Cloud Storage or "
                "Drive)"
            )
        availability = self._available(area, pre, post, availability)
        image = self._image(request, availability, compositing)
        transform = grid_transform(request.grid)
        bands = fetch.fetch_bands(
            image,
            crs=request.grid.crs,
            transform=transform,
            shape=request.grid.shape,
            chunk_px=self.settings.chunk_px,
            max_workers=self.settings.max_workers,
            retry=self.backoff,
            progress=self.progress,
            label=area.name,
        )
        self._refuse_all_zero(area, bands)
        problems = data_status(
            pre,
            post,
            area.orbit_pass,
            {
                f"{sensor}_{label}": len(getattr(availability, f"{sensor}_dates_{label}"))
                for sensor in ("s1", "s2")
                for label in ("pre", "post")
            },
            bands,
            layers=bands,
            empty_causes=request.assets.empty_causes(),
            post_dates=[*availability.s2_dates_post, *availability.s1_dates_post],
        )
        attrs = stack_attrs(
            self.name,
            area,
            pre,
            post,
            s2_dates=(_days_used(bands["s2_day_pre"]), _days_used(bands["s2_day_post"])),
            s1_dates=(availability.s1_dates_pre, availability.s1_dates_post),
            problems=problems,
            extra={
                "terrain_model": self.settings.s1.terrain_model,
                "compositing": compositing.describe(),
            },
        )
        stack = fetch.to_feature_stack(
            bands,
            crs=request.grid.crs,
            transform=transform,
            shape=request.grid.shape,
            attrs=attrs,
        )
        if problems:
            log.warning("region %s: %s", area.name, attrs.status)
        return stack

    def first_acquisition(self, area: AreaOfInterest) -> date | None:
        """Sentinel-1's first acquisition in Earth Engine, for any area."""
        return FIRST_SENTINEL_1_DAY

    # -- parts, public for the run and for tests -----------------------------------------------
    def availability(self, area: AreaOfInterest, pre: Window, post: Window) -> Availability:
        """Scene dates of both sensors in both windows (one Earth Engine request, retried)."""
        request = self._request(area, pre, post)
        query = availability_query(
            self.geometry_of(request.grid),
            request.pre,
            request.post,
            area.orbit_pass,
            self.settings,
        )
        info = call_with_retry(
            query.getInfo,
            what=f"scene availability for region {area.name} (pre {pre}, post {post})",
            policy=self.backoff,
        )
        if not isinstance(info, dict):  # the service answers a dictionary for this query
            raise EarthEngineError(
                f"scene availability for region {area.name}: unexpected answer {info!r}"
            )
        return parse_availability(info)

    def _available(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        availability: Availability | None = None,
    ) -> Availability:
        """:meth:`availability` (``availability`` where the caller asked already), or
        :class:`DataUnavailable` when neither sensor has a scene."""
        if availability is None:
            availability = self.availability(area, pre, post)
        if not availability.any_data:
            stale = stale_post_note(post, ())
            raise DataUnavailable(
                f"region {area.name}: neither Sentinel-1 nor Sentinel-2 has a scene in the pre "
                f"window {pre} or the post window {post} (orbit pass {area.orbit_pass})"
                + ("" if stale is None else f"; {stale}")
            )
        return availability

    def feature_image(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        compositing: Compositing = EVENT,
        availability: Availability | None = None,
    ) -> ee.Image:
        """The assembled ``ee.Image`` (bands ``gee_scripts.assembly.FLAT_BANDS``);
        :class:`DataUnavailable` when neither sensor has a scene in the windows (the image
        would be empty: every band masked). ``availability``: the windows' scene dates where
        the caller asked for them already (:meth:`availability`), not asked again."""
        request = self._request(area, pre, post)
        available = self._available(area, pre, post, availability)
        return self._image(request, available, compositing)

    def export(
        self,
        area: AreaOfInterest,
        pre: Window,
        post: Window,
        compositing: Compositing = EVENT,
    ) -> ee.batch.Task:
        """Start a batch export of the region's feature image on its grid (GeoTIFF, one band
        per :data:`gee_scripts.assembly.FLAT_BANDS`) to Cloud Storage or Drive, as
        ``source.export`` says; returns the started ``ee.batch.Task``."""
        request = self._request(area, pre, post)
        return export_image(
            self._image(request, self._available(area, pre, post), compositing),
            description=f"{area.name}_{request.post[0]}",
            crs=request.grid.crs,
            transform=grid_transform(request.grid),
            shape=request.grid.shape,
            settings=self.settings.export,
            retry=self.backoff,
        )

    def assets(self, area: AreaOfInterest) -> ResolvedAssets:
        """The assets of the region's static bands, checked against their extents (no request;
        :class:`gee_scripts.coverage.AssetCoverageError` names band, asset and region when none
        covers it)."""
        return resolve_assets(area.name, area.geometry.bounds, self.settings)

    # -- internals ------------------------------------------------------------------------------
    def _request(self, area: AreaOfInterest, pre: Window, post: Window) -> _Request:
        return _Request(
            area, region_grid(area.geometry), gee_window(pre), gee_window(post), self.assets(area)
        )

    @staticmethod
    def geometry_of(grid: Grid) -> ee.Geometry:
        """The rectangle of a region's grid (:func:`monitor.grid.region_grid`), planar in the
        grid's CRS: the scene search. The stack covers the grid, the polygon's bounding box, as
        the archive's scenes do; searched by the polygon, a corner of the box beyond a
        Sentinel-2 tile edge or a Sentinel-1 slice boundary missed the scenes that cover only
        it."""
        return ee.Geometry.Rectangle(list(grid.bounds), proj=grid.crs, geodesic=False)

    def _image(
        self,
        request: _Request,
        availability: Availability,
        compositing: Compositing = EVENT,
    ) -> ee.Image:
        return feature_image(
            self.geometry_of(request.grid),
            request.pre,
            request.post,
            orbit_pass=request.area.orbit_pass,
            settings=self.settings,
            availability=availability,
            assets=request.assets,
            compositing=compositing,
        )

    @staticmethod
    def _refuse_all_zero(area: AreaOfInterest, bands: dict[str, np.ndarray]) -> None:
        for name in _MEASURED:
            values = bands[name]
            finite = values[np.isfinite(values)]
            if finite.size and not np.any(finite):
                raise EarthEngineError(
                    f"region {area.name}: band {name} came back all zero over {finite.size} "
                    "pixels; refusing a silent all-zero image (check the assets and masks)"
                )


def _days_used(days: np.ndarray) -> tuple[str, ...]:
    """ISO dates of the acquisition days (days since 1970-01-01) in ``days``, in order."""
    used = np.unique(days[np.isfinite(days)]).astype(np.int64)
    return tuple(str(np.datetime64(int(d), "D")) for d in used)
