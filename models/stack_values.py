"""The values a stack in the Ganerød et al. layout can hold, checked band by band: what
``landslide-monitor detect --stack`` refuses before it runs a stack, and what ``python -m models
evaluate`` and training warn of in a scene they read (a fill the file does not declare, a scaled
or linear band, a difference of the wrong sign, swapped bands...). Each check says what it found
and what the layout holds, naming the band.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from models.feature_stack import (
    HIGHEST_ELEVATION_M,
    KOPPEN_CODES,
    LOWEST_ELEVATION_M,
    MODEL_BANDS,
    TALLEST_CANOPY_M,
    looks_linear,
    polarisations_swapped,
)
from models.worldcover import WORLDCOVER_CLASSES

__all__ = ["VALUE_SAMPLE_PX", "StackValueError", "check_values", "sample_step", "value_problem"]


class StackValueError(ValueError):
    """A band of a stack holds values the layout does not; ``layout`` where they are values of
    the band's kind but not the layout's (a range, a scale, a unit, the difference of two
    others): what unnamed bands in another order also give."""

    def __init__(self, message: str, *, layout: bool = False) -> None:
        super().__init__(message)
        self.layout = layout


#: The checks read an image decimated to at most this many pixels a side (a stack's values are
#: judged on a quarter of a million pixels; a fill or a scale shows on any of them).
VALUE_SAMPLE_PX = 512


def sample_step(height: int, width: int) -> int:
    """Every how many pixels an image of ``height`` × ``width`` is read for the checks: the
    smallest step that leaves at most :data:`VALUE_SAMPLE_PX` a side."""
    return max(1, -(-max(height, width) // VALUE_SAMPLE_PX))


def value_problem(image: np.ndarray, where: str) -> str | None:
    """What :func:`check_values` refuses in ``image`` (the :data:`MODEL_BANDS` of a scene,
    ``(B, H, W)``, no data as NaN), or None; read decimated to :data:`VALUE_SAMPLE_PX` a side.
    An image of other bands is not checked."""
    if image.ndim != 3 or image.shape[0] != len(MODEL_BANDS):
        return None
    step = sample_step(*image.shape[1:])
    sampled = {name: image[i, ::step, ::step] for i, name in enumerate(MODEL_BANDS)}
    try:
        check_values(sampled, where, step)
    except StackValueError as err:
        return str(err)
    return None


def _layout(message: str) -> StackValueError:
    return StackValueError(message, layout=True)


_RADAR_DB_BANDS: tuple[str, ...] = ("preVV", "postVV", "preVH", "postVH")
# From this many pixels of a stack (estimated from those read) that hold 0 dB in all of
# _RADAR_DB_BANDS, they are a fill.
_FILL_PIXELS = 10
_FILLS: tuple[float, ...] = (-9999.0, -32768.0, -3.4028234663852886e38)  # undeclared no-data
# dVV against postVV - preVV: the same composites give 0; a stack whose bands were resampled
# apart differs by a fraction of a dB, a sign error by twice the change (several dB)
_DIFF_TOLERANCE_DB = 0.5
_DIFF_MIN_PIXELS = 20  # changed pixels (of the decimated grid) needed to judge it
# the medians a radar band in dB can have: water and radar-dark ground lie near -25 dB, dense
# built-up areas near 0; hundredths of dB (the archive's integers, read as floats) lie near -1500
_DB_MEDIAN_RANGE: tuple[float, float] = (-50.0, 20.0)
# Layover or shadow on more of a stack than this is a mask of where the radar sees the ground
# (inverted): on the test families' steepest scenes they cover a few per cent each.
_MOST_FLAGGED = 0.5
# A local incidence angle whose largest value is at most this (pi, rounded up) is in radians:
# shadow takes it past pi / 2 (a review found 94° in a scene's shadow, which passed a bound of
# pi / 2 in radians), and in degrees no scene lies below 3 (Sentinel-1 looks at 29-46°).
_RADIANS_AT_MOST = 3.1416


def check_values(sampled: Mapping[str, np.ndarray], where: str, step: int = 1) -> None:
    """Refuse (:class:`StackValueError`) values no stack in the layout can hold: ``sampled``
    holds each of :data:`MODEL_BANDS` by name (every ``step``-th pixel of each axis, no data
    as NaN, the pixels in place so that bands compare pixel by pixel), ``where`` names the
    stack in the messages. A no-data fill (-9999 ..., 0 in every band, or 0 dB in every
    backscatter band) the file does not declare; dNDVI outside -2..2 (NDVI scaled by 100 or
    10 000), radar bands in linear power (:func:`models.feature_stack.looks_linear`; the
    layout holds dB), slopes outside 0..90° or none at all, no elevation at all, VV and VH
    swapped (:func:`models.feature_stack.polarisations_swapped`), dVV/dVH that are not post
    minus pre, and the flag, angle and static bands' values (:func:`_check_static`)."""

    def band(name: str) -> np.ndarray:
        values = np.asarray(sampled[name], np.float64)
        finite: np.ndarray = values[np.isfinite(values)]
        return finite

    # every band: Earth Engine's image.unmask(-9999) fills the radar bands where no scene was
    # seen, whose dB values would otherwise pass the checks below and reach the members
    for name in MODEL_BANDS:
        fill = next((v for v in _FILLS if np.any(band(name) == v)), None)
        if fill is not None:
            raise StackValueError(
                f"{where}: {name} holds {fill:g}, a no-data fill the file does not declare: "
                f"declare it (gdal_edit.py -a_nodata {fill:g} FILE) or write NaN"
            )
    # 0 in every band is no ground (no land cover or climate class is 0): what gdalwarp without
    # -dstnodata writes around a reprojected footprint, and gdal_translate past a stack's edge
    zeros = np.logical_and.reduce([sampled[name] == 0 for name in MODEL_BANDS])
    if zeros.any():
        raise StackValueError(
            f"{where}: {int(zeros.sum())} pixel(s) hold 0 in all {len(MODEL_BANDS)} bands (of "
            f"{zeros.size} read), a no-data fill the file does not declare, as gdalwarp without "
            "-dstnodata writes it around a reprojected footprint and gdal_translate -srcwin past "
            "the stack's edge: write no data as NaN (gdalwarp -dstnodata nan; windows inside "
            "the stack)"
        )
    # no scene gives exactly 0 dB in both polarisations of both windows: a fill, as Earth
    # Engine's image.unmask() (0 by default) writes it where radar saw nothing; taken for
    # backscatter, the members predict "no landslide" there instead of leaving it unknown
    silent = np.logical_and.reduce([sampled[name] == 0 for name in _RADAR_DB_BANDS])
    # a few pixels of exactly 0 dB in all four can be values (whole dB in float32); a fill
    # covers where a scene was missing, a swath edge or more (pixels of the stack: each read
    # stands for step x step)
    if silent.sum() * step * step >= _FILL_PIXELS:
        raise StackValueError(
            f"{where}: {int(silent.sum())} pixel(s) hold 0 dB in {', '.join(_RADAR_DB_BANDS[:-1])} "
            f"and {_RADAR_DB_BANDS[-1]} (of {silent.size} read), a no-data fill the file does "
            "not declare, as Earth Engine's image.unmask() writes it where no radar scene was "
            "seen: write no data as NaN, or as a fill the file declares (image.unmask(-9999) "
            "with formatOptions: {noData: -9999})"
        )
    dndvi = band("dNDVI")
    if dndvi.size and (dndvi.min() < -2 or dndvi.max() > 2):
        raise _layout(
            f"{where}: dNDVI spans {dndvi.min():.4g} to {dndvi.max():.4g}; a difference of "
            "NDVIs lies in -2..2 (is it scaled, by 100 or 10 000?)"
        )
    # whole numbers only: 0 everywhere is a fill where no clear view was (a review: a cloudy
    # post image unmasked to 0 ran as "clear optical 100%"), -1, 0 and 1 integer arithmetic
    # (a few pixels filled with 0 among real values cannot be told from values)
    if dndvi.size >= _DIFF_MIN_PIXELS and np.all(dndvi == np.round(dndvi)):
        if not dndvi.any():
            raise StackValueError(
                f"{where}: dNDVI is 0 on every pixel, a fill where no clear view was (Earth "
                "Engine's image.unmask() writes 0 by default): write no data as NaN where the "
                "post window had no clear view, so that the chain falls back to radar there"
            )
        raise _layout(
            f"{where}: dNDVI holds whole numbers only ({_listed(dndvi)}): an NDVI difference "
            "computed in integers? The layout holds it as a float in -2..2"
        )
    for name in _RADAR_DB_BANDS:
        values = band(name)
        if looks_linear(values):
            raise _layout(
                f"{where}: {name} has no negative value (median {np.median(values):.3g}), "
                "where land in dB lies around -10 to -20: it looks like linear power "
                "(COPERNICUS/S1_GRD_FLOAT); the layout holds 10 * log10 of it"
            )
        if values.size and not _DB_MEDIAN_RANGE[0] <= np.median(values) <= _DB_MEDIAN_RANGE[1]:
            raise _layout(
                f"{where}: {name} has a median of {np.median(values):.4g}, where land in dB lies "
                "around -10 to -20: is it scaled (by 100, hundredths of dB as the archive "
                "stores them)? The layout holds dB"
            )
    for window in ("pre", "post"):  # as RegionWriter refuses a scene with its bands swapped
        swapped = polarisations_swapped(band(f"{window}VV"), band(f"{window}VH"))
        if swapped is not None:
            raise _layout(
                f"{where}: {window}VH (median {swapped[1]:.3g} dB) is above {window}VV "
                f"(median {swapped[0]:.3g} dB), where cross-polarised backscatter over land "
                "lies below co-polarised: are VV and VH swapped (in the export's band order, "
                "or in its band names)?"
            )
    slope = band("slope")
    if slope.size and (slope.min() < 0 or slope.max() > 90):
        raise _layout(
            f"{where}: slope spans {slope.min():.4g} to {slope.max():.4g}; degrees lie in 0..90"
        )
    if not slope.size:  # the slope rule then drops every detection, silently
        raise StackValueError(
            f"{where}: slope has no value (all no data); the chain drops detections on unknown "
            "slope: compute it from the stack's elevation (gdaldem slope)"
        )
    if not band("elevation").size:  # the filter's terrain features are NaN: it suppresses
        raise StackValueError(
            f"{where}: elevation has no value (all no data); the object filter's terrain "
            "features (relief, flow accumulation) need it: export the DEM the slope was "
            "computed from"
        )
    _check_static(where, band)
    for pol in ("VV", "VH"):
        names = (f"pre{pol}", f"post{pol}", f"d{pol}")
        pre, post, diff = (sampled[name] for name in names)
        change = post - pre
        # where the backscatter changed: on unchanged ground either sign of a difference is 0
        seen = np.isfinite(change) & np.isfinite(diff) & (np.abs(change) > 1.0)
        if seen.sum() < _DIFF_MIN_PIXELS:
            continue
        off = float(np.median(np.abs(diff[seen] - change[seen])))
        if off > _DIFF_TOLERANCE_DB:
            flipped = float(np.median(np.abs(diff[seen] + change[seen])))
            hint = " (it is pre - post)" if flipped <= _DIFF_TOLERANCE_DB else ""
            raise _layout(
                f"{where}: d{pol} is not post{pol} - pre{pol}{hint}: they differ by a median "
                f"{off:.2g} dB; the layout's differences are post minus pre"
            )


def _listed(values: np.ndarray) -> str:
    """A few of ``values`` (distinct, sorted), as an error shows them."""
    distinct = np.unique(values)
    shown = ", ".join(f"{v:.4g}" for v in distinct[:6])
    return shown + (f" and {distinct.size - 6} more" if distinct.size > 6 else "")


def _check_static(where: str, band: Callable[[str], np.ndarray]) -> None:
    """Refuse the values of the flag, angle and static bands that no stack in the layout holds,
    as RegionWriter refuses them where an archive is written: they reach the members (layover,
    shadow, liaDeg, landcover) or the object filter and the rules (elevation, canopy height)
    without a sound, and a swap of two of them (kg_climate and landcover) gives a stack of the
    right ranges elsewhere."""
    for name in ("layover", "shadow"):
        flags = band(name)
        odd = flags[(flags != 0) & (flags != 1)]
        if odd.size:
            raise _layout(
                f"{where}: {name} holds {_listed(odd)}, where the layout holds 1 ({name}) and "
                "0 (none): is it scaled (0 and 255) or a share? Write 1 and 0"
            )
        if flags.size and flags.mean() > _MOST_FLAGGED:
            raise _layout(
                f"{where}: {name} is 1 on {flags.mean():.0%} of the stack's pixels, where radar "
                f"{name} falls on a small part of any terrain: is it inverted (1 where the "
                f"radar sees the ground, as an Earth Engine mask)? The layout holds 1 where {name}"
            )
    lia = band("liaDeg")
    if lia.size and lia.max() <= _RADIANS_AT_MOST:
        raise _layout(
            f"{where}: liaDeg spans {lia.min():.4g} to {lia.max():.4g}: radians? The layout "
            "holds the local incidence angle in degrees"
        )
    elevation = band("elevation")
    if elevation.size and (
        elevation.min() < LOWEST_ELEVATION_M or elevation.max() > HIGHEST_ELEVATION_M
    ):
        raise _layout(
            f"{where}: elevation spans {elevation.min():.6g} to {elevation.max():.6g}, outside "
            f"{LOWEST_ELEVATION_M:g} to {HIGHEST_ELEVATION_M:g} m (the Dead Sea to Everest): "
            "voids of no data the file does not declare, feet, or decimetres? The layout holds "
            "metres"
        )
    canopy = band("canopy_height")
    if canopy.size and (canopy.min() < 0 or canopy.max() > TALLEST_CANOPY_M):
        raise _layout(
            f"{where}: canopy_height spans {canopy.min():.4g} to {canopy.max():.4g}, outside "
            f"0-{TALLEST_CANOPY_M:g} m (the tallest tree measured is 116 m)"
        )
    classes = {
        "landcover": (
            set(WORLDCOVER_CLASSES) | {0},
            "ESA WorldCover classes (ESA/WorldCover/v200's Map band; 0 = no data)",
        ),
        "kg_climate": (
            set(KOPPEN_CODES),
            f"Köppen-Geiger classes of Beck et al. (2018), {KOPPEN_CODES.start + 1}-"
            f"{KOPPEN_CODES.stop - 1} (0 = unknown)",
        ),
    }
    for name, (known, legend) in classes.items():
        codes = band(name)
        other = codes[~np.isin(codes, sorted(known))]
        if other.size:
            resampled = (
                " (fractions: resampled other than by nearest neighbour?)"
                if np.any(other != np.round(other))
                else ""
            )
            raise _layout(f"{where}: {name} holds {_listed(other)}, not {legend}{resampled}")
