"""Writing one region of the embedded archive, from the simulator or from real exports.

A :class:`RegionWriter` fills a temporary folder next to the region's final place and renames it
into place on :meth:`RegionWriter.commit`, so a crash or an error never leaves a half-written
region that looks complete (use it as a context manager: an exception aborts). The layout is
described in ``docs/archive.md``.

Every ``write_*`` checks its values before storing them, and refuses with a :class:`ValueError`
naming the region, the scene and the likely cause what the archive would otherwise store as
something else without a word: Sentinel-1 in linear power or whole dB, Sentinel-2 reflectance
scaled to 0..1 or with L2A's BOA_ADD_OFFSET (or with it subtracted in uint16, which wraps
round), no-data values below -1000, cloud probability as a
0..1 fraction or a boolean
cloud mask (or 0/1 numbers with 1 at 5 % of the pixels or more; fewer are warned of: a clear
scene's whole percents can be 0 and 1),
DEM voids, an index out of range or written twice, incidence angles in radians.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import socket
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import zarr
from zarr.codecs import BloscCodec

from models.feature_stack import (
    HIGHEST_ELEVATION_M,
    KOPPEN_CODES,
    LOWEST_ELEVATION_M,
    S1_BANDS,
    S2_BANDS,
    S2_DN_PER_REFLECTANCE,
    TALLEST_CANOPY_M,
    looks_linear,
    polarisations_swapped,
    sigma0_too_bright,
)
from models.worldcover import WORLDCOVER_CLASSES
from monitor._dates import as_day
from monitor._process import process_gone
from monitor.grid import Grid, grid_too_small, region_grid
from monitor.sources.base import (
    DEFAULT_MAX_AREA_KM2,
    AreaOfInterest,
    check_area,
    check_region_name,
)
from monitor.sources.composite import CloudMaskParams, observed

log = logging.getLogger(__name__)

__all__ = [
    "CATALOG_COLUMNS",
    "S1_NODATA",
    "RegionWriter",
    "TrackInfo",
    "read_meta",
    "recover_commits",
    "region_dir",
    "remove_orphans",
]

S1_NODATA = -32768  # in s1/sigma0 (hundredths of dB)
CATALOG_COLUMNS: tuple[str, ...] = (
    "sensor",
    "date",
    "index",
    "orbit_pass",
    "relative_orbit",
    "track",
    "look_azimuth_deg",
    "cloud_cover",
    "sun_zenith",
    "sun_azimuth",
)
_CHUNK = 256
# Fast codec for the acquisitions (writes ~3x faster than the zarr default for similar size).
_CODEC = BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle")


_ANGLE_RANGE = (10.0, 65.0)  # degrees: a plausible ellipsoid incidence angle of any SAR mode
_REFLECTANCE_AS_FRACTION = 1.5  # a scene whose DN are all at most this is 0-1 reflectance
_WHOLE_DB_LIMIT = 100  # int16 |sigma0| below 1 dB at the median: whole dB, not hundredths
_HUNDREDTHS_LIMIT_DB = -100.0  # a median below any sigma0 (the noise floor is near -25 dB)
_LOWEST_SIGMA0_DB = -60.0  # below any GRD pixel (noise floor near -25 dB): a no-data fill
_INT16_DB_LIMIT = 32767 / 100  # int16 hundredths of dB hold ±327.67 dB (-32768: no data)
_FILL_SHARE = 0.001  # more values than this of one value below the floor, or of 0 dB: a fill
_LOOK_TOLERANCE_DEG = 75.0  # of a pass's look azimuth (headings turn near the poles: 60 deg off
# at 81 N); a heading given for it is 90 deg off
_FRACTION_PERCENTILE = 99.0  # of a scene's nonzero DN: at most 1.5 is 0-1 reflectance
_BOA_OFFSET_DN = 1000  # BOA_ADD_OFFSET of L2A processing baseline 04.00 (since 2022-01-25)
_SATURATED_DN = 65535  # L2A's SATURATED value (NODATA is 0)
_WRAPPED_DN = 65536 - _BOA_OFFSET_DN  # DN - 1000 of a DN below 1000, computed in uint16
# One value in all six bands of a pixel, at least this high (reflectance 2.0, above snow, cloud
# tops and glint) and below saturation: a negative no-data value cast to an unsigned type
# (-9999 becomes 55537 in uint16), which no ground or cloud gives
_CAST_FILL_DN = 20000
_OFFSET_PERCENTILE = 1.0  # of the clear pixels' darkest band: vegetation, water, shadow and
# snow (in SWIR) lie far below 1000 DN; with the offset every band starts at it
_MASK_SHARE = 0.05  # of a scene's observed pixels at exactly 1 %, with none above: a 0/1 mask
_UNSEEN_CLOUD = 100  # percent stored where the cloud probability is unknown (NaN) or the pixel
# outside the scene's footprint: never clear


_SAMPLE_STEP = 7  # every 7th value is enough for a median
_RELATIVE_ORBITS = 175  # Sentinel-1's relative orbits in its 12-day cycle (ESA, S1 user guide)
# Sen2Cor's scene classification (SCL) in place of a cloud probability: whole numbers 0-11, most
# of a scene's land 4 (vegetation) or 5 (not vegetated); a probability (s2cloudless, MSK_CLDPRB)
# is spread over its range, not half of it on two values
_SCL_MAX = 11
_SCL_LAND = (4, 5)
_SCL_LAND_SHARE = 0.5
# band order: over land the second SWIR band (B12) lies below the first (B11), and the NIR (B8)
# above the red (B4), at nearly every clear pixel; a scene where most pixels say the opposite
# holds its bands in another order (Earth Engine's names sorted as text give B11, B12, B2, ...)
_ORDER_SHARE = 0.8
# ... but snow's NIR lies just below its red (about nine tenths of it): a snowy alpine scene
# had its order doubted. Pixels of NDSI (B3 - B11) / (B3 + B11) of 0.4 or more are left out of
# the NIR test: snow (Hall, Riggs & Salomonson 1995, RSE 54, the MODIS snow test), and with it
# what that test's NIR bound above 0.11 keeps apart from snow, water and snow in shade, whose
# NIR lies below its red as well (a simulated alpine March scene, nine tenths snow, was doubted
# on its shaded snow, NIR 0.05-0.11: 96 % of it below its red). Bare ground with B4 and B8
# swapped is still caught (its NDSI is negative; its NIR is 1.1-1.3 times its red, which a
# threshold on the ratio would have let through).
_SNOW_NDSI = 0.4


# What a cloud probability outside 0-100 holds where nothing was computed: an unsigned type's
# largest value (uint8, uint16), or a negative no-data value
_CLOUD_FILLS = (255.0, 65535.0, -1.0, -9999.0)


def _range(values: np.ndarray) -> tuple[float, float]:
    """(min, max) of the values that are not NaN; (0, 0) when there are none."""
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).any() and not np.isinf(values).any():
            return 0.0, 0.0
        return float(np.nanmin(values)), float(np.nanmax(values))
    return (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)


def _check_sun(scene: str, zenith: float, azimuth: float) -> None:
    """Sun angles in degrees (MEAN_SOLAR_ZENITH_ANGLE, MEAN_SOLAR_AZIMUTH_ANGLE): the azimuth
    places the cloud shadows, so radians would cast them the wrong way."""
    if not (np.isfinite(zenith) and 0 <= zenith < 90):
        raise ValueError(f"{scene}: sun zenith {zenith:g} is not 0-90 degrees (a daytime scene)")
    if not (np.isfinite(azimuth) and 0 <= azimuth <= 360):
        raise ValueError(f"{scene}: sun azimuth {azimuth:g} is not 0-360 degrees")
    if zenith <= np.pi / 2 and azimuth <= 2 * np.pi:  # no daytime overpass has both this low
        raise ValueError(
            f"{scene}: sun zenith {zenith:g} and azimuth {azimuth:g} look like radians; give "
            "degrees (MEAN_SOLAR_ZENITH_ANGLE, MEAN_SOLAR_AZIMUTH_ANGLE)"
        )


def _check_sigma0_db(scene: str, vv: np.ndarray, vh: np.ndarray) -> None:
    """Refuse sigma0 (dB, finite samples of each band) holding a no-data fill, one value below
    any backscatter (-9999) or 0 dB repeated over more than :data:`_FILL_SHARE` of the values,
    or VV and VH swapped: each would be stored as backscatter. Values below -60 dB that differ
    (the tail of noise-removed calm water or radar shadow) are values, not a fill."""
    both = np.concatenate([vv, vh])
    low = both[both < _LOWEST_SIGMA0_DB]
    if low.size:
        values, counts = np.unique(low, return_counts=True)
        fill, share = float(values[np.argmax(counts)]), float(counts.max() / both.size)
        if counts.max() > 1 and share > _FILL_SHARE:  # one value repeated: a fill
            raise ValueError(
                f"{scene}: {share:.1%} of the sigma0 values are {fill:.6g} dB, below any "
                f"backscatter ({_LOWEST_SIGMA0_DB:g} dB): a no-data fill such as -9999? Write no "
                "data as NaN (float dB) or -32768 (int16 hundredths)"
            )
    # 0 dB as a fill stands out of its neighbourhood; as a value (bright layover, quantised to
    # hundredths) it holds about its share of the values within 0.5 dB
    n_zero = int((both == 0).sum())
    near = int(((np.abs(both) <= 0.5) & (both != 0)).sum())
    zeros = n_zero / both.size if both.size else 0.0
    if zeros > _FILL_SHARE and n_zero > near:
        raise ValueError(
            f"{scene}: {zeros:.1%} of the sigma0 values are exactly 0 dB, a no-data fill rather "
            "than backscatter: write no data as NaN (float dB) or -32768 (int16 hundredths)"
        )
    swapped = polarisations_swapped(vv, vh)
    if swapped is not None:
        raise ValueError(
            f"{scene}: VH (median {swapped[1]:.3g} dB) is above VV (median "
            f"{swapped[0]:.3g} dB), where cross-polarised backscatter over land lies below "
            "co-polarised: are the bands swapped? Give VV first, then VH"
        )


def _check_sigma0_level(scene: str, vv: np.ndarray, vh: np.ndarray) -> None:
    """Warn of sigma0 (dB samples of each band) whose medians land seldom reaches
    (:func:`models.feature_stack.sigma0_too_bright`); the scene is stored, with the warning."""
    if (medians := sigma0_too_bright(vv, vh)) is not None:
        warnings.warn(
            f"{scene}: sigma0 medians of {medians[0]:.3g} dB (VV) and {medians[1]:.3g} dB (VH), "
            "where land lies near -8 to -15 dB and -15 to -25 dB: the natural log of power "
            "(np.log) instead of 10 * log10, or int16 tenths of dB instead of hundredths? "
            "Give 10 * log10 of the power, as float dB or int16 hundredths; stored as given",
            UserWarning,
            stacklevel=3,
        )


def _looks_like_scl(probability: np.ndarray) -> bool:
    """Whether the cloud probabilities of a scene's observed pixels (finite values) are
    Sen2Cor's scene classification: whole numbers up to 11, half of them or more 4 or 5."""
    if not probability.size or float(probability.max()) > _SCL_MAX:
        return False
    if np.any(probability != np.round(probability)):
        return False
    return bool(np.isin(probability, _SCL_LAND).mean() >= _SCL_LAND_SHARE)


def _band_order_doubt(refl: np.ndarray, clear: np.ndarray) -> str | None:
    """Why the bands of a scene's DN ``refl`` (6, H, W: B2, B3, B4, B8, B11, B12 expected) look
    out of order at its ``clear`` pixels, or None. Over land B12 lies below B11 and B8 above B4
    at nearly every pixel; where :data:`_ORDER_SHARE` of them or more say the opposite (for B8
    and B4, of the pixels that are neither snow nor water, whose NIR lies below their red), the
    order is doubted. Burnt ground can do so over a whole scene, so this is a warning, not a
    refusal."""
    pixels = refl[:, clear][:, ::_SAMPLE_STEP].astype(np.int32)
    if pixels.shape[1] < 100:  # too few clear pixels to judge
        return None
    b3, b4, b8, b11, b12 = pixels[1], pixels[2], pixels[3], pixels[4], pixels[5]
    swir = float(np.mean(b12 > b11))
    ndsi = (b3 - b11) / np.maximum(b3 + b11, 1)
    land = ndsi < _SNOW_NDSI  # neither snow, in sun or shade, nor water
    nir = float(np.mean(b8[land] < b4[land])) if land.sum() >= 100 else 0.0
    found = []
    if swir >= _ORDER_SHARE:
        found.append(f"the fifth band lies below the sixth at {swir:.0%} of the clear pixels")
    if nir >= _ORDER_SHARE:
        found.append(
            f"the fourth band lies below the third at {nir:.0%} of those neither snow nor water"
        )
    if not found:
        return None
    return (
        f"{' and '.join(found)}, where B11 lies above B12 and B8 above B4 over land: bands in "
        "another order than B2, B3, B4, B8, B11, B12 (Earth Engine's band names sorted as "
        "text give B11, B12, B2, B3, B4, B8)? Stored as given"
    )


def _sigma0_samples(sigma0: np.ndarray, nodata: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Every :data:`_SAMPLE_STEP`-th finite value of VV and VH, in dB (int16 hundredths
    scaled, their ``nodata`` left out)."""
    out = []
    for band in sigma0:
        raw = band.ravel()[::_SAMPLE_STEP]
        values = raw.astype(np.float64)
        if nodata is not None:
            values = values[raw != nodata] / 100.0
        out.append(values[np.isfinite(values)])
    return out[0], out[1]


_WRITERS = itertools.count()  # numbers this process's writers, for their temporary folders
_MINE: set[str] = set()  # the temporary folders this process's writers made


def remove_orphans(target: Path) -> None:
    """Remove temporary folders of ``target`` left by writers killed on this host (their
    process is gone): a kill -9 cannot clean up after itself. One named with this process's
    pid that none of its writers made is an earlier process's of the same pid (pids are
    reused, in a container soon)."""
    for folder in target.parent.glob(f".{target.name}.tmp-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        mine = int(pid) == os.getpid()
        if (folder.name not in _MINE) if mine else process_gone(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def region_dir(archive: Path, name: str) -> Path:
    return archive / "regions" / name


# The previous version of a region, moved aside by RegionWriter.commit while the new one is
# renamed into place: ``.<region>.old-<host>-<pid of the writer>`` (without the host before
# 2026-12-04). A writer's pid says whether it lives only on its own host: one of another host
# (a Dask worker, another container on a shared archive) is taken for killed once its folder
# is older than any commit takes (two renames).
_ASIDE = re.compile(r"\.(?P<region>.+)\.old-(?:(?P<host>.+)-)?(?P<pid>[0-9]+)")
_FOREIGN_ASIDE_S = 600.0


def _host() -> str:
    """This host's name as a folder name may hold it ('-' kept, '/' never in a host name)."""
    return socket.gethostname() or "localhost"


def _aside(target: Path) -> Path:
    return target.with_name(f".{target.name}.old-{_host()}-{os.getpid()}")


def _writer_gone(old: Path, host: str | None, pid: int) -> bool:
    """Whether the writer that moved ``old`` aside is gone (see :data:`_ASIDE`)."""
    if host is None or host == _host():
        return pid != os.getpid() and process_gone(pid)
    try:
        age = time.time() - old.stat().st_ctime  # a rename sets it
    except OSError:
        return False
    return age > _FOREIGN_ASIDE_S


def recover_commits(regions: Path, name: str | None = None) -> None:
    """Finish the commits that writers killed inside them (their process gone) left half done in
    the folder ``regions`` (only region ``name``'s, when given): the previous version a writer
    had moved aside goes back into place where the region's folder is missing, and is removed
    where the new version is in place. Best effort: a folder that cannot be changed (a
    read-only archive) is logged and left."""
    try:
        folders = sorted(regions.iterdir())
    except OSError:  # no regions yet (or none readable): nothing to recover
        return
    for old in folders:
        found = _ASIDE.fullmatch(old.name)
        if found is None or (name is not None and found["region"] != name):
            continue
        if not _writer_gone(old, found["host"], int(found["pid"])):  # inside its commit
            continue
        target = regions / found["region"]
        try:
            if read_meta(target) is not None:  # the commit completed before the kill
                shutil.rmtree(old)
            elif not target.exists() and read_meta(old) is not None:
                old.rename(target)
                log.warning(
                    "region %r: restored its committed version from %s (a writer killed inside "
                    "its commit had moved it aside)",
                    found["region"], old,
                )  # fmt: skip
        except OSError as exc:
            log.warning("region %r: could not recover %s: %s", found["region"], old, exc)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The ``region.json`` of the region in ``folder``; None when there is none (or a broken
    one: a region is complete only once its metadata is written)."""
    try:
        meta: dict[str, Any] = json.loads((folder / "region.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return meta


@dataclass(frozen=True)
class TrackInfo:
    """One Sentinel-1 relative orbit over the region: its incidence-angle raster (the GRD
    ``angle`` band, degrees, on the region grid) and look azimuth (heading + 90°)."""

    relative_orbit: int
    orbit_pass: str  # "ascending" | "descending"
    look_azimuth_deg: float
    angle: np.ndarray

    def __post_init__(self) -> None:
        # Sentinel-1's 175 relative orbits (its 12-day repeat cycle), numbered from 1; a whole
        # number read as a float (a catalogue's 66.0) is that number
        orbit = self.relative_orbit
        if not (
            isinstance(orbit, int | np.integer | float | np.floating)
            and not isinstance(orbit, bool)
            and np.isfinite(orbit)
            and float(orbit).is_integer()
            and 1 <= orbit <= _RELATIVE_ORBITS
        ):
            raise ValueError(
                f"track: relative_orbit {orbit!r} is not a Sentinel-1 relative orbit, a whole "
                f"number 1-{_RELATIVE_ORBITS} (relativeOrbitNumber_start)"
            )
        object.__setattr__(self, "relative_orbit", int(orbit))
        # Earth Engine's orbitProperties_pass says ASCENDING / DESCENDING
        object.__setattr__(self, "orbit_pass", str(self.orbit_pass).lower())
        if self.orbit_pass not in ("ascending", "descending"):
            raise ValueError(
                f"track of relative orbit {self.relative_orbit}: orbit_pass {self.orbit_pass!r} "
                "is not 'ascending' or 'descending'"
            )
        # Sentinel-1 looks right of its heading: ascending passes (heading about -10 deg) look
        # east, about 80 deg, descending ones (about 190 deg) west, about 280 deg
        expected = 80.0 if self.orbit_pass == "ascending" else 280.0
        off = abs((self.look_azimuth_deg - expected + 180.0) % 360.0 - 180.0)
        if not np.isfinite(self.look_azimuth_deg) or off > _LOOK_TOLERANCE_DEG:
            raise ValueError(
                f"track of relative orbit {self.relative_orbit}: look azimuth "
                f"{self.look_azimuth_deg:g} deg is {off:.0f} deg from the {expected:g} deg of a "
                f"right-looking {self.orbit_pass} pass; give the heading + 90 deg (a heading "
                "given as the look azimuth is 90 deg off)"
            )


class RegionWriter:
    """Writes ``area`` into the archive at ``archive``, on :func:`monitor.grid.region_grid` of its
    polygon, with room for ``n_s2`` Sentinel-2 and ``n_s1`` Sentinel-1 acquisitions.
    ``max_area_km2`` is the region's ``max_area_km2`` of the configuration (a larger polygon is
    refused, as the configuration refuses it)."""

    def __init__(
        self,
        archive: str | os.PathLike[str],
        area: AreaOfInterest,
        *,
        n_s2: int,
        n_s1: int,
        tracks: Sequence[TrackInfo],
        origin: str = "export",
        meta: dict[str, Any] | None = None,
        max_area_km2: float = DEFAULT_MAX_AREA_KM2,
    ) -> None:
        # a name that is no folder of its own ('a/b', '..', ' x') is refused as configured
        check_region_name(area.name)
        # a polygon in metres or invalid is named, not an OverflowError
        check_area(area, max_area_km2)
        self.area = area
        self.grid: Grid = region_grid(area.geometry)
        # found walking the docs: written, then reading its features failed in np.gradient
        if small := grid_too_small(self.grid):
            raise ValueError(f"region {area.name!r}: {small}")
        self.target = region_dir(Path(archive), area.name)
        # one folder per writer: two writers of one region in one process (a script that
        # writes it again before committing) each had the other's, and committed it broken;
        # the pid stays last, as remove_orphans reads it
        self.tmp = self.target.with_name(f".{self.target.name}.tmp-{next(_WRITERS)}-{os.getpid()}")
        self.origin, self.extra_meta = origin, dict(meta or {})
        self.tracks = list(tracks)
        self._rows: list[dict[str, Any]] = []
        self._truth: gpd.GeoDataFrame | None = None
        self._static_done = False
        self._written: dict[str, dict[int, str]] = {"S2": {}, "S1": {}}
        self._sizes = {"S2": n_s2, "S1": n_s1}
        h, w = self.grid.shape
        for k, t in enumerate(self.tracks):
            self._check_shape(f"track {k} angle", t.angle, (h, w))
            finite = np.asarray(t.angle, np.float64)
            finite = finite[np.isfinite(finite)]
            if finite.size and not (
                _ANGLE_RANGE[0] <= finite.min() <= finite.max() <= _ANGLE_RANGE[1]
            ):
                raise ValueError(
                    f"region {area.name!r}: track {k} incidence angle spans {finite.min():.3g} to "
                    f"{finite.max():.3g}, outside {_ANGLE_RANGE[0]:g}-{_ANGLE_RANGE[1]:g} degrees "
                    "(IW GRD's is about 29-46°; radians?)"
                )
        recover_commits(self.target.parent, self.target.name)
        remove_orphans(self.target)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        _MINE.add(self.tmp.name)
        root = zarr.open_group(self.tmp / "data.zarr", mode="w")
        self._root = root
        self._refl = root.create_array(
            "s2/reflectance",
            shape=(n_s2, len(S2_BANDS), h, w),
            dtype="uint16",
            chunks=(1, len(S2_BANDS), _CHUNK, _CHUNK),
            compressors=_CODEC,
            fill_value=0,
            attributes={
                "bands": list(S2_BANDS),
                "scale": 1 / S2_DN_PER_REFLECTANCE,
                "units": f"reflectance x {S2_DN_PER_REFLECTANCE}",
            },
        )
        self._prob = root.create_array(
            "s2/cloud_probability",
            shape=(n_s2, h, w),
            dtype="uint8",
            chunks=(1, _CHUNK, _CHUNK),
            compressors=_CODEC,
            fill_value=0,
            attributes={"units": "percent"},
        )
        self._sigma0 = root.create_array(
            "s1/sigma0",
            shape=(n_s1, len(S1_BANDS), h, w),
            dtype="int16",
            chunks=(1, len(S1_BANDS), _CHUNK, _CHUNK),
            compressors=_CODEC,
            fill_value=S1_NODATA,
            attributes={"bands": list(S1_BANDS), "scale": 0.01, "units": "dB"},
        )
        angles = (
            np.stack([t.angle for t in self.tracks]).astype(np.float32)
            if self.tracks
            else np.zeros((0, h, w), np.float32)
        )
        root.create_array(
            "s1/angle",
            data=angles,
            chunks=(1, _CHUNK * 2, _CHUNK * 2),
            attributes={"units": "degrees", "meaning": "ellipsoid incidence angle per track"},
        )

    def _check_index(self, sensor: str, index: int, when: date) -> None:
        n = self._sizes[sensor]
        if not 0 <= index < n:
            size = "n_s2" if sensor == "S2" else "n_s1"
            raise ValueError(
                f"region {self.area.name!r}: {sensor} {when} has index {index}, outside 0-{n - 1} "
                f"(the writer was made with {size}={n})"
            )
        done = self._written[sensor]
        if index in done:
            raise ValueError(
                f"region {self.area.name!r}: {sensor} index {index} was written already (for "
                f"{done[index]}); every acquisition has its own index"
            )

    def _check_shape(self, what: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
        if tuple(array.shape) != shape:
            raise ValueError(
                f"region {self.area.name!r}: {what} has shape {tuple(array.shape)}, expected "
                f"{shape} (the region grid {self.grid.crs}, {self.grid.height} rows x "
                f"{self.grid.width} columns of {self.grid.res:g} m)"
            )

    def write_static(
        self,
        elevation: np.ndarray,
        landcover: np.ndarray,
        canopy_height: np.ndarray,
        kg_climate: np.ndarray,
    ) -> None:
        """DEM (m), ESA WorldCover codes, canopy height (m), Köppen-Geiger class codes. Every
        check runs before anything is written, so a refused call can be made again corrected."""
        if self._static_done:
            raise ValueError(
                f"region {self.area.name!r}: the static layers are written already (once per "
                "writer)"
            )
        dem = np.asarray(elevation, np.float64)
        if not np.isfinite(dem).all() or dem.min() < LOWEST_ELEVATION_M:
            raise ValueError(
                f"region {self.area.name!r}: elevation has no-data (NaN or below "
                f"{LOWEST_ELEVATION_M:g} m, e.g. SRTM's -32768 voids): fill the voids, e.g. "
                "from another DEM, before writing"
            )
        if dem.max() > HIGHEST_ELEVATION_M:
            raise ValueError(
                f"region {self.area.name!r}: elevation reaches {dem.max():g}, above any summit "
                f"({HIGHEST_ELEVATION_M:g} m): is the DEM in feet? Give metres"
            )
        for name, raw in (("landcover", landcover), ("kg_climate", kg_climate)):
            codes = np.asarray(raw, np.float64)
            if not np.isfinite(codes).all() or codes.min() < 0 or codes.max() > 255:
                raise ValueError(
                    f"region {self.area.name!r}: {name} must be class codes 0-255 without NaN "
                    "(ESA WorldCover for landcover; Köppen-Geiger, 0 where unknown, for kg_climate)"
                )
            fractions = np.unique(codes[codes != np.round(codes)])
            if fractions.size:  # a class raster resampled bilinearly: 10.8 is no class
                raise ValueError(
                    f"region {self.area.name!r}: {name} holds fractions "
                    f"({', '.join(f'{v:g}' for v in fractions[:6])}), not whole class codes: "
                    "resample class maps by nearest neighbour (rasterio Resampling.nearest)"
                )
        climate = sorted({int(c) for c in np.unique(np.asarray(kg_climate))} - set(KOPPEN_CODES))
        if climate:  # another legend, or another band
            raise ValueError(
                f"region {self.area.name!r}: kg_climate holds codes {climate[:8]}, not Köppen-"
                f"Geiger classes of Beck et al. (2018) ({KOPPEN_CODES.start + 1}-"
                f"{KOPPEN_CODES.stop - 1}; 0 = unknown)"
            )
        canopy = np.asarray(canopy_height, np.float64)
        canopy = canopy[np.isfinite(canopy)]  # NaN: no product over the region (an empty band)
        if canopy.size and (canopy.min() < 0 or canopy.max() > TALLEST_CANOPY_M):
            raise ValueError(
                f"region {self.area.name!r}: canopy height spans {canopy.min():g} to "
                f"{canopy.max():g} m, outside 0-{TALLEST_CANOPY_M:g} m: a no-data value such as "
                "-9999? Write NaN for no data, 0 where there is no canopy"
            )
        found = {int(c) for c in np.unique(np.asarray(landcover))}
        other = sorted(found - set(WORLDCOVER_CLASSES) - {0})
        if other:  # a 0/1/2 classification reads as no class the model knows
            raise ValueError(
                f"region {self.area.name!r}: landcover holds codes {other[:8]}, not ESA "
                f"WorldCover classes ({', '.join(map(str, WORLDCOVER_CLASSES))}; 0 = no data): "
                "give ESA/WorldCover/v200's Map band"
            )
        layers: dict[str, np.ndarray] = {
            "elevation": np.asarray(elevation, np.float32),
            "landcover": np.asarray(landcover, np.uint8),
            "canopy_height": np.asarray(canopy_height, np.float32),
            "kg_climate": np.asarray(kg_climate, np.uint8),
        }
        for name, values in layers.items():  # all of them before any is written
            self._check_shape(name, values, self.grid.shape)
        for name, values in layers.items():
            self._root.create_array(f"static/{name}", data=values, chunks=(_CHUNK * 2,) * 2)
        self._static_done = True

    def write_s2(
        self,
        index: int,
        when: date,
        dn: np.ndarray,
        cloud_probability: np.ndarray,
        *,
        sun_zenith: float,
        sun_azimuth: float,
        cloud_cover: float | None = None,
        offset_removed: bool = False,
    ) -> None:
        """One Sentinel-2 L2A scene: ``dn`` (6, H, W) S2_SR_HARMONIZED digital numbers of B2, B3,
        B4, B8, B11, B12 (reflectance x 10000; 0 or NaN = no data; a pixel with no data in every
        band, outside the scene's footprint, is stored not observed; -1000 to 0, what
        subtracting the BOA_ADD_OFFSET leaves, is stored as 0); ``cloud_probability``
        (H, W) percent, 0-100 (NaN: unknown, taken as cloud); sun angles in degrees.
        ``offset_removed``: the DN hold no ``BOA_ADD_OFFSET`` (subtracted, or a product of a
        baseline before 04.00), so the check for it is skipped: for ground bright in every band
        at nearly every clear pixel (bare rock or sand without shadow), which it would refuse."""
        when = as_day(when, f"region {self.area.name!r}: S2 scene {index}")
        _check_sun(f"region {self.area.name!r}: S2 {when} (index {index})", sun_zenith, sun_azimuth)
        self._check_index("S2", index, when)
        self._check_shape(f"S2 {when} reflectance", dn, (len(S2_BANDS), *self.grid.shape))
        self._check_shape(f"S2 {when} cloud probability", cloud_probability, self.grid.shape)
        values = np.asarray(dn)
        floating = np.issubdtype(values.dtype, np.floating)
        low, high = _range(values)
        scene = f"region {self.area.name!r}: S2 {when} (index {index})"
        if low < -_BOA_OFFSET_DN:
            raise ValueError(
                f"{scene}: reflectance has negative values (min {low:g}; a no-data value such as "
                "-9999?): write no data as 0 or NaN"
            )
        if low < 0:  # the BOA_ADD_OFFSET subtracted: dark pixels (water in the SWIR) and no
            # data (0) fall below 0, which S2_SR_HARMONIZED's unsigned DN hold as 0
            values = np.maximum(values, 0)
        if high > 65535:
            raise ValueError(f"{scene}: reflectance above 65535 ({high:g}): not DN")
        if high >= _WRAPPED_DN:
            with np.errstate(invalid="ignore"):
                wrapped = ((values >= _WRAPPED_DN) & (values < _SATURATED_DN)).any(axis=0)
            if (count := int(np.count_nonzero(wrapped))) > 0:
                raise ValueError(
                    f"{scene}: {count} pixels ({count / wrapped.size:.1%}) hold reflectance "
                    f"between {_WRAPPED_DN} and {_SATURATED_DN - 1} DN, above any ground or cloud "
                    f"(L2A's saturation is {_SATURATED_DN}): the BOA_ADD_OFFSET subtracted in "
                    f"uint16, which wraps what lies below {_BOA_OFFSET_DN} DN (no data 0, dark "
                    f"water) round to {_WRAPPED_DN} and above? Subtract it in a signed or float "
                    f"type (dn.astype(np.int32) - {_BOA_OFFSET_DN})"
                )
        if high >= _CAST_FILL_DN:  # found walking the docs: stored as clear, white ground
            with np.errstate(invalid="ignore"):
                same = (values == values[:1]).all(axis=0)
                cast = same & (values[0] >= _CAST_FILL_DN) & (values[0] < _SATURATED_DN)
            if (count := int(np.count_nonzero(cast))) > 0:
                fill = int(values[0][cast][0])
                raise ValueError(
                    f"{scene}: {count} pixels ({count / cast.size:.1%}) hold {fill} DN in all six "
                    f"bands, above any ground or cloud: a negative no-data value cast to an "
                    f"unsigned type ({fill - 65536} wraps round to {fill} in uint16)? Write no "
                    "data as 0 or NaN"
                )
        sample = values.ravel()[::_SAMPLE_STEP].astype(np.float64)
        sample = sample[np.isfinite(sample) & (sample > 0)]
        top = float(np.percentile(sample, _FRACTION_PERCENTILE)) if sample.size else 0.0
        if 0 < top <= _REFLECTANCE_AS_FRACTION:  # a percentile: a saturated pixel does not hide it
            raise ValueError(
                f"{scene}: 99 % of the reflectance at most {top:.3g} (max {high:.3g}): these look "
                "like reflectance 0-1; give digital numbers (reflectance x 10000, as "
                "S2_SR_HARMONIZED)"
            )
        if floating:
            # a band without a value (a band's own swath edge, a 20 m band resampled with
            # another footprint): the pixel's NDVI is unknown, so the whole pixel is no data,
            # not a clear view of reflectance 0 (NDVI -1 where B8 is missing)
            values = np.where(np.isnan(values).any(axis=0), 0, values)
        refl = values.astype(np.uint16)
        # 65535 in all six bands is a fill (a file whose no-data value was not declared), not
        # L2A's saturation, which never takes every band of a pixel at once
        refl[:, (refl == _SATURATED_DN).all(axis=0)] = 0
        # outside the scene's footprint (no data in any band: a tile covering part of the
        # region) nothing was seen, whatever probability the export holds there
        seen = observed(refl)
        prob = np.asarray(cloud_probability)
        boolean = prob.dtype == np.bool_  # a mask, never a percentage
        low, high = _range(prob)
        if low < 0 or high > 100:
            # found in a walk: a uint8 probability filled with 255 where nothing was seen was
            # told only the range
            fill_value = next((v for v in _CLOUD_FILLS if v in (low, high)), None)
            hint = (
                f" ({fill_value:g} a fill where no probability was computed? Write NaN there, in a "
                "float array: a pixel without a probability is taken as cloud)"
                if fill_value is not None
                else ""
            )
            raise ValueError(
                f"{scene}: cloud probability spans {low:g} to {high:g}, not 0-100 %{hint}"
            )
        given = prob[seen]
        if np.issubdtype(prob.dtype, np.floating):
            given = given[np.isfinite(given)]
            top = float(given.max()) if given.size else 0.0
            if 0 < top <= 1 and np.any(given != np.round(given)):
                raise ValueError(
                    f"{scene}: cloud probability is a 0-1 fraction (max {top:.3g}); give "
                    "percent, 0-100 (S2_CLOUD_PROBABILITY's probability band)"
                )
            prob = np.round(np.where(np.isnan(prob), _UNSEEN_CLOUD, prob))  # unknown: not clear
        ones = int(np.count_nonzero(given == 1))
        if ones and np.isin(given, (0, 1)).all():  # 1 % is clear: a mask's clouds would vanish
            mask = (
                f"{scene}: cloud_probability holds only 0 and 1 (1 at {ones} of the "
                f"{given.size} observed pixels, {ones / given.size:.1%}): a 0/1 cloud mask? It "
                "would be read as 1 % cloud probability, clear everywhere; give the probability "
                "in percent, 0-100 (S2_CLOUD_PROBABILITY's probability band; a mask as mask * 100)"
            )
            # so are 0/1 numbers with clouds over a share of the scene (an export's mask arrives
            # as uint8 or float). Whole percents of 0 and a few 1s can be a clear scene's
            # (Sen2Cor's MSK_CLDPRB, a small clear region): stored as given, with the warning
            if boolean or ones >= _MASK_SHARE * given.size:
                raise ValueError(mask)
            warnings.warn(f"{mask}; stored as percent", UserWarning, stacklevel=2)
        if _looks_like_scl(given):
            warnings.warn(
                f"{scene}: cloud_probability holds whole numbers 0-{_SCL_MAX}, "
                f"{np.isin(given, _SCL_LAND).mean():.0%} of them 4 or 5: Sen2Cor's scene "
                "classification (SCL: 4 vegetation, 5 not vegetated, 8-10 cloud)? Read as a "
                "probability it makes every cloud clear; give MSK_CLDPRB or "
                "S2_CLOUD_PROBABILITY in percent, or from SCL 100 where it is 3, 8, 9 or 10 "
                "and 0 elsewhere",
                UserWarning,
                stacklevel=2,
            )
        prob = np.where(seen, prob, _UNSEEN_CLOUD)
        clear = seen & (prob <= CloudMaskParams().cloud_probability)
        darkest = refl.min(axis=0)[clear][::_SAMPLE_STEP]
        dark = float(np.percentile(darkest, _OFFSET_PERCENTILE)) if darkest.size else 0.0
        if dark >= _BOA_OFFSET_DN and not offset_removed:  # NDVI would be of DN + 1000
            raise ValueError(
                f"{scene}: the clear pixels hold {_BOA_OFFSET_DN} DN or more in every band (the "
                f"darkest band's 1st percentile is {dark:g}): L2A reflectance with its "
                f"BOA_ADD_OFFSET (processing baseline 04.00 or later, products since January "
                f"2022)? Subtract it in a signed or float type (DN - {_BOA_OFFSET_DN}; what falls "
                "below 0 is stored as 0), as S2_SR_HARMONIZED does; if it is subtracted and the "
                "ground is this bright, pass offset_removed=True"
            )
        if (order := _band_order_doubt(refl, clear)) is not None:
            warnings.warn(f"{scene}: {order}", UserWarning, stacklevel=2)
        self._refl[index] = refl
        self._prob[index] = prob.astype(np.uint8)
        self._written["S2"][index] = when.isoformat()  # stored: a refused scene can be retried
        if cloud_cover is None:  # of the pixels seen; none seen: no clear view
            cloudy = prob[seen] > CloudMaskParams().cloud_probability  # the mask's default
            cloud_cover = float(cloudy.mean() * 100.0) if seen.any() else 100.0
        self._rows.append(
            {
                "sensor": "S2",
                "date": when.isoformat(),
                "index": index,
                "cloud_cover": round(cloud_cover, 2),
                "sun_zenith": round(float(sun_zenith), 3),
                "sun_azimuth": round(float(sun_azimuth), 3),
            }
        )

    def write_s1(self, index: int, when: date, track: int, sigma0: np.ndarray) -> None:
        """One Sentinel-1 GRD scene of ``track`` (index into the writer's tracks): ``sigma0``
        (2, H, W) VV and VH in dB (float, NaN = no data) or int16 hundredths of dB
        (:data:`S1_NODATA` = no data)."""
        when = as_day(when, f"region {self.area.name!r}: S1 scene {index}")
        if not 0 <= track < len(self.tracks):
            # found in a walk: the relative orbit given where the index goes read as "unknown"
            orbits = [k for k, t in enumerate(self.tracks) if t.relative_orbit == track]
            hint = (
                f": relative orbit {track} is tracks[{orbits[0]}], give {orbits[0]}"
                if orbits
                else ""
            )
            raise ValueError(
                f"region {self.area.name!r}: S1 {when} names track {track}, where `track` is "
                f"an index into the writer's {len(self.tracks)} track(s) (0 to "
                f"{len(self.tracks) - 1}), not a relative orbit{hint}"
            )
        self._check_index("S1", index, when)
        self._check_shape(f"S1 {when} sigma0", sigma0, (len(S1_BANDS), *self.grid.shape))
        sigma0 = np.asarray(sigma0)
        scene = f"region {self.area.name!r}: S1 {when} (index {index})"
        if sigma0.dtype == np.int16:
            stored = sigma0[sigma0 != S1_NODATA]
            if stored.size and np.median(np.abs(stored[::_SAMPLE_STEP])) < _WHOLE_DB_LIMIT:
                raise ValueError(
                    f"{scene}: int16 sigma0 with a median magnitude below {_WHOLE_DB_LIMIT} "
                    "hundredths of dB: these look like whole dB; give float dB, or int16 "
                    "hundredths of dB"
                )
            samples = _sigma0_samples(sigma0, S1_NODATA)
            _check_sigma0_db(scene, *samples)
            _check_sigma0_level(scene, *samples)
        else:
            db = np.asarray(sigma0, np.float64)
            sample = db.ravel()[::_SAMPLE_STEP]
            sample = sample[np.isfinite(sample)]
            if looks_linear(sample):
                median = float(np.median(sample))
                what = (
                    "these look like linear power (COPERNICUS/S1_GRD_FLOAT); give 10 * log10 "
                    "of it (COPERNICUS/S1_GRD is in dB)"
                    if median < 10.0  # sigma0 of land is about 0.001-0.3 (a city's +2 dB: 1.6)
                    else "sigma0 of land lies far below 10 (+10 dB), so these are not sigma0 but "
                    "uncalibrated digital numbers (or their dB): calibrate to sigma0 first "
                    "(COPERNICUS/S1_GRD is sigma0 in dB)"
                )
                raise ValueError(
                    f"{scene}: sigma0 has no negative value (median {median:.3g}), where land "
                    f"in dB lies around -10 to -20: {what}"
                )
            if sample.size and np.median(sample) < _HUNDREDTHS_LIMIT_DB:
                raise ValueError(
                    f"{scene}: sigma0 has a median of {np.median(sample):.4g} dB: these look like "
                    "hundredths of dB in a type other than int16; give float dB, or int16 "
                    "hundredths"
                )
            samples = _sigma0_samples(db, None)
            _check_sigma0_db(scene, *samples)
            _check_sigma0_level(scene, *samples)
            # ±inf (10 * log10 of a zero power, where noise removal left none) is no data,
            # as NaN is: stored as such below, not refused
            with np.errstate(invalid="ignore"):
                beyond = np.isfinite(db) & (np.abs(db) > _INT16_DB_LIMIT)
            if (count := int(np.count_nonzero(beyond))) > 0:  # too few for a fill above
                raise ValueError(
                    f"{scene}: {count} sigma0 values beyond ±{_INT16_DB_LIMIT:g} dB (from "
                    f"{np.min(db[beyond]):.6g} to {np.max(db[beyond]):.6g} dB), which the "
                    "archive's int16 hundredths would store clipped as backscatter: a no-data "
                    "value such as -9999? Write no data as NaN"
                )
            scaled = np.round(db * 100.0)
            sigma0 = np.where(np.isfinite(scaled), scaled, S1_NODATA)  # within ±32767: above
            sigma0 = sigma0.astype(np.int16)
        self._written["S1"][index] = when.isoformat()  # given, even left out: its index is taken
        if not (sigma0[0] != S1_NODATA).any():
            # no observation: the window's status would count it as an acquisition (and
            # before the post image went per pixel, it blanked monitoring's radar as its
            # track's latest scene); its slot stays empty
            log.warning(
                "%s: no VV value over the region (a scene of the track's swath edge or border "
                "noise?); left out of the catalog", scene,
            )  # fmt: skip
            return
        self._sigma0[index] = sigma0
        t = self.tracks[track]
        self._rows.append(
            {
                "sensor": "S1",
                "date": when.isoformat(),
                "index": index,
                "orbit_pass": t.orbit_pass,
                "relative_orbit": t.relative_orbit,
                "track": track,
                "look_azimuth_deg": round(t.look_azimuth_deg, 4),
            }
        )

    def write_ground_truth(self, truth: gpd.GeoDataFrame) -> None:
        """Events with ``kind``, ``event_date`` (each a date as :meth:`write_s2` takes it,
        stored as a date: runs read it), ``area_m2`` and polygons (any CRS)."""
        missing = {"kind", "event_date", "area_m2"} - set(truth.columns)
        if missing:
            raise ValueError(
                f"region {self.area.name!r}: the ground truth lacks columns "
                f"{', '.join(sorted(missing))} (of kind, event_date, area_m2)"
            )
        if truth.crs is None:
            raise ValueError(
                f"region {self.area.name!r}: the ground truth has no CRS; set the one its "
                "coordinates are in (truth.set_crs(...))"
            )
        days = [
            as_day(when, f"region {self.area.name!r}: ground truth row {row}")
            for row, when in enumerate(truth["event_date"])
        ]
        # runs count kind == "landslide" exactly: "Landslide" made a season score 0 of 0
        for kind in truth["kind"].astype(str).unique():
            if kind != "landslide" and kind.strip().lower() == "landslide":
                raise ValueError(
                    f"region {self.area.name!r}: ground truth kind {kind!r} is not 'landslide' "
                    "(lower case, no spaces), which runs count as landslides; write it so"
                )
        self._truth = truth.assign(event_date=days).to_crs("EPSG:4326")

    def commit(self, digest: str | None = None) -> Path:
        """Finish the catalog and metadata and move the region into place (replacing an older
        version of it). Returns the region's folder."""
        if not self._static_done:
            raise ValueError(f"region {self.area.name!r}: write_static was never called")
        for sensor, size in self._sizes.items():
            if len(self._written[sensor]) < size:  # the slots stay empty; the catalog skips them
                log.warning(
                    "region %r: %d of the %d %s scenes made room for were written",
                    self.area.name, len(self._written[sensor]), size, sensor,
                )  # fmt: skip
        catalog = pd.DataFrame(self._rows, columns=list(CATALOG_COLUMNS))
        # whole numbers that only Sentinel-1 rows hold, written as such (66, not 66.0)
        for column in ("relative_orbit", "track"):
            catalog[column] = catalog[column].astype("Int64")
        catalog = catalog.sort_values(["sensor", "date", "index"], ignore_index=True)
        catalog.to_csv(self.tmp / "catalog.csv", index=False)
        if self._truth is not None:
            self._truth.to_file(self.tmp / "ground_truth.gpkg", layer="events", driver="GPKG")
        g = self.grid
        meta = {
            "name": self.area.name,
            "geometry_wkt": self.area.geometry.wkt,
            "orbit_pass": self.area.orbit_pass,
            "grid": g.as_record(),
            "tracks": [
                {
                    "track": k,
                    "relative_orbit": t.relative_orbit,
                    "orbit_pass": t.orbit_pass,
                    "look_azimuth_deg": t.look_azimuth_deg,
                }
                for k, t in enumerate(self.tracks)
            ],
            "origin": self.origin,
            "digest": digest,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **self.extra_meta,
        }
        (self.tmp / "region.json").write_text(json.dumps(meta, indent=2))
        if self.target.exists():
            old = _aside(self.target)  # killed before it is removed: see recover_commits
            self.target.rename(old)
            try:
                self.tmp.rename(self.target)
            except BaseException:  # an OSError, Ctrl-C: the committed version goes back
                old.rename(self.target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.tmp.rename(self.target)
        return self.target

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> RegionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self.tmp.exists():  # neither committed nor aborted: the data would stay hidden
            self.abort()
            warnings.warn(
                f"region {self.area.name!r}: RegionWriter left without commit(); nothing was "
                "written to the archive",
                stacklevel=2,
            )
