"""An ArrayServer that serves an archive source's own composites as Earth Engine would (tests
only): the stack flattened to the feature image's bands, the mosaic's acquisition-day bands,
and the availability answer from the archive's catalogue."""

from __future__ import annotations

import numpy as np
import xarray as xr

from gee_scripts.fetch import flatten_stack
from gee_scripts.offline import ArrayServer
from monitor.grid import region_grid
from monitor.sources.archive import ArchiveSource, Sensor
from monitor.sources.base import EVENT, AreaOfInterest, Compositing, Window

_SENSORS: tuple[Sensor, ...] = ("S2", "S1")


def _dates(
    archive: ArchiveSource, area: AreaOfInterest, window: Window, sensor: Sensor
) -> list[str]:
    rows = archive.catalog(area.name, window=window, sensor=sensor, orbit_pass=area.orbit_pass)
    return sorted({d.isoformat() for d in rows["date"]})


def day_band(stack: xr.Dataset, which: str) -> np.ndarray:
    """Per-pixel acquisition day of the greenest pixel: the archive's dates used, spread over
    the pixels that have a composite (what the mosaic's ``day`` band carries)."""
    ndvi = stack[f"{which}NDVI"].values
    days = np.full(ndvi.shape, np.nan, np.float32)
    used = [d for d in stack.attrs[f"s2_dates_{which}"].split(",") if d]
    finite = np.flatnonzero(np.isfinite(ndvi))
    if used:
        epoch = [np.datetime64(d, "D").astype(np.int64) for d in used]
        days.flat[finite] = np.resize(np.asarray(epoch, np.float32), finite.size)
    return days


def archive_server(
    archive: ArchiveSource,
    area: AreaOfInterest,
    pre: Window,
    post: Window,
    compositing: Compositing = EVENT,
) -> tuple[xr.Dataset, ArrayServer]:
    """The archive's stack for ``area``, the windows and ``compositing``, and a server that
    serves it."""
    truth = archive.features(area, pre, post, compositing)
    grid = region_grid(area.geometry)
    bands = flatten_stack(truth)
    bands |= {f"s2_day_{w}": day_band(truth, w) for w in ("pre", "post")}
    availability = {
        f"{sensor.lower()}_dates_{label}": _dates(archive, area, window, sensor)
        for sensor in _SENSORS
        for label, window in (("pre", pre), ("post", post))
    }
    server = ArrayServer(
        bands, crs=grid.crs, transform=tuple(grid.transform)[:6], availability=availability
    )
    return truth, server
