"""Training and evaluation scenes: the Ganerød et al. folder layout, Landslide4Sense patches,
normalisation statistics and the "smart" random crops of the paper (Section 3.4).

The Ganerød et al. layout (as published with their code) is two folders::

    <root>/input/<id>_input.tif   15 bands, float32, in feature_stack.MODEL_BANDS order
                                  (or in any order, named with those names)
    <root>/label/<id>_label.tif   1 band, 1 = landslide, 0 = not, 255 = ignore (unknown)

The embedded archive's training sets are exported in this layout
(``monitor.simulator.training_data``), so one reader serves simulated and real data.
Landslide4Sense (Ghorbanzadeh et al. 2022) HDF5
patches (``img`` 128x128x14, ``mask`` 128x128) are read as the extra setting ``L4S``.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from pyproj import Geod, Transformer
from pyproj.exceptions import CRSError as PyprojCRSError
from pyproj.exceptions import ProjError
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from models.atomic import full_disk_note, leftovers, write_atomically
from models.feature_stack import (
    AREAL_SCALE_TOLERANCE,
    MODEL_BANDS,
    PIXEL_SIZE_M,
    SETTINGS,
    footprint,
)
from models.stack_values import value_problem

__all__ = [
    "DATASET_RECORD_FILE",
    "GEOTIFF_DRIVER",
    "IGNORE",
    "INPUT_SUFFIX",
    "L4S_BANDS",
    "LABEL_SUFFIX",
    "LAYOUT_PIXEL_AREA_M2",
    "MODEL_SETTINGS",
    "REVIEWED_CANDIDATES_FILE",
    "SPLIT_NAMES",
    "ZERO_IS_A_VALUE",
    "Augmentation",
    "CropSampler",
    "DatasetError",
    "Scene",
    "band_statistics",
    "canonical_setting",
    "channels_of",
    "check_input",
    "file_index",
    "first_names",
    "input_path",
    "label_path",
    "near_names",
    "open_geotiff",
    "provenance_path",
    "read_bands",
    "read_folder",
    "read_input",
    "read_label",
    "read_landslide4sense",
    "read_scene",
    "scene_id_of",
    "scene_ids",
    "setting_band_names",
    "split_hint",
    "withheld_positions",
    "write_scene",
    "written_without_bands",
    "zero_values_in_footprint",
]

log = logging.getLogger(__name__)

# A split folder's table of the reviewed detections' object-filter features as the runs scored
# them (``dataset from-reviews``; ``features`` float32, ``positive`` bool, ``features_id`` and
# the ``landslide`` uid, monitor.ops.filter_refit.write_reviewed): what
# ``monitor.ops.filter_refit`` learns from beside the scenes.
REVIEWED_CANDIDATES_FILE = "reviewed_candidates.npz"

# A dataset folder's record of what made it (beside its split folders): the simulator's
# families (monitor.simulator.training_data) or the ``dataset`` command, its inventory, windows
# and counts (monitor.ops._dataset_write).
DATASET_RECORD_FILE = "dataset.json"

# A dataset folder's split folders, each in the Ganerød et al. layout (``dataset export``, the
# simulator's training sets).
SPLIT_NAMES = ("train", "val", "test")

# Landslide4Sense bands (Ghorbanzadeh et al. 2022): Sentinel-2 B1-B12, slope, DEM.
L4S_BANDS: tuple[str, ...] = (
    "B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B9", "B10", "B11", "B12", "slope", "DEM",
)  # fmt: skip

# Every setting a member can be trained for: the feature-stack settings plus Landslide4Sense.
MODEL_SETTINGS: Mapping[str, tuple[int, ...]] = {**SETTINGS, "L4S": tuple(range(len(L4S_BANDS)))}


def canonical_setting(name: str) -> str:
    """``name`` as :data:`MODEL_SETTINGS` spells it, whatever its case, and ``S1S2`` (how a
    member's file name writes it) as ``S1+S2``; a name of none unchanged, to be refused where
    it is used with the names known (found in a walkthrough: ``--setting s1+s2`` was refused
    while architectures are read in any case)."""
    key = name.strip().upper().replace("S1S2", "S1+S2")
    return next((known for known in MODEL_SETTINGS if known.upper() == key), name)


# Label value of pixels whose class is unknown (weak labels: the uncertain ring around a catalogued
# point, unreviewed candidates): no loss sees them and no score counts them.
IGNORE = 255
#: The ground area of a pixel of the Ganerød et al. layout (10 m): a scene's where its grid or
#: CRS does not tell it (:attr:`Scene.pixel_area_m2`).
LAYOUT_PIXEL_AREA_M2 = PIXEL_SIZE_M**2


# The one raster format a scene's files are read as: GDAL picks the driver from a file's content,
# so a VRT named ``<id>_input.tif`` read other files or URLs (``/vsicurl/``) as the scene's pixels.
GEOTIFF_DRIVER = "GTiff"
_NOT_GEOTIFF = "only GeoTIFF is read: a VRT or another format named .tif is refused"


# the first bytes of a TIFF (little- or big-endian) and of a BigTIFF
_TIFF_MAGIC: tuple[bytes, ...] = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _unreadable(path: Path, what: str, err: Exception) -> DatasetError:
    """The error for a scene's file that GDAL cannot open, saying what the file is: empty, a
    TIFF that is damaged or incomplete, or no GeoTIFF at all (see :data:`GEOTIFF_DRIVER`)."""
    try:
        with open(path, "rb") as file:
            head: bytes | None = file.read(4)
    except OSError:  # missing, a folder, unreadable: GDAL's words say it
        head = None
    if head == b"":
        why = "the file is empty (0 bytes)"
    elif head in _TIFF_MAGIC:
        why = f"{err}: a GeoTIFF damaged or cut short (a download or a copy that stopped?)"
    elif head is None:
        why = str(err)
    else:
        why = f"{err} ({_NOT_GEOTIFF})"
    return DatasetError(f"{path}: cannot read {what}: {why}")


def open_geotiff(path: str | Path) -> rasterio.io.DatasetReader:
    """``path`` opened for reading as a GeoTIFF, whatever its content claims (see
    :data:`GEOTIFF_DRIVER`): every read of a scene's or an export's raster goes through it."""
    return rasterio.open(path, driver=GEOTIFF_DRIVER)


def read_bands(
    src: rasterio.io.DatasetReader, indexes: Sequence[int] | None = None, step: int = 1
) -> np.ma.MaskedArray:
    """Bands ``indexes`` (1-based; all by default) of the open ``src`` as float32, masked where
    the file declares no data (its nodata value or a mask band). With ``step`` > 1, one pixel
    of each ``step`` x ``step`` cell, the one nearest its centre (the pixel GDAL's nearest
    decimation takes), cells counted from the top-left corner: the last rows and columns that
    make no whole cell are not read (a file narrower than ``step`` gives the pixel nearest its
    centre). The file's own pixels are read, never its overviews: GDAL answers a decimated read
    from an overview where the file has one (found in a walk: a Cloud-Optimised GeoTIFF's
    overviews, averaged or cubic, held land-cover classes such as 9.77 and layover shares such
    as 0.25, and the checks refused a stack whose pixels were right).

    Read in strips of at least :data:`_MIN_STRIP_ROWS` rows and one block row. GDAL reads a
    multi-band window band by band, and a pixel-interleaved GeoTIFF decodes each block for all
    its bands: read whole, a stack larger than GDAL's block cache (5 % of the memory) decoded
    every block again for each band. A 5000 x 5000 stack of 15 bands, pixel-interleaved: 47.7 s
    in one read, 8.9 s in strips; the checks' decimated sample of it 189.7 s against 7.5 s
    (bench/bench_check_stack.py, 2026-12-05), and 153.5 s against 7.7 s once the strips were
    read at full resolution and decimated here (2026-12-07, the same 2-core host, with a test
    run beside it)."""
    bands = list(indexes) if indexes is not None else list(range(1, src.count + 1))
    step = max(1, int(step))
    shape = (len(bands), max(1, src.height // step), max(1, src.width // step))
    width = shape[2] * step if src.width >= step else src.width  # whole cells: ratio = step
    columns = _cell_centres(width, shape[2], step)
    data = np.empty(shape, np.float32)
    mask = np.zeros(shape, bool)
    tall = max(src.block_shapes[0][0], _MIN_STRIP_ROWS)
    rows = step * math.ceil(tall / step)  # a multiple of the step
    done = 0
    for top in range(0, src.height, rows):
        out_rows = min(shape[1] - done, min(rows, src.height - top) // step)
        if done == 0:
            out_rows = max(1, out_rows)  # a file fewer pixels high than the step: one row
        if out_rows <= 0:  # the last rows, fewer than a step
            break
        window = Window(0, top, width, min(out_rows * step, src.height - top))
        part = src.read(bands, window=window, out_dtype="float32", masked=True)
        picked = np.ix_(
            np.arange(len(bands)), _cell_centres(window.height, out_rows, step), columns
        )
        data[:, done : done + out_rows] = part.data[picked]
        mask[:, done : done + out_rows] = np.ma.getmaskarray(part)[picked]
        done += out_rows
    return np.ma.MaskedArray(data, mask=mask)


def _cell_centres(size: int, cells: int, step: int) -> np.ndarray:
    """The index of the pixel nearest the centre of each of ``cells`` cells of ``step`` pixels
    along an axis of ``size`` pixels (the one pixel nearest the middle where ``size`` is less
    than ``step``): what GDAL's nearest decimation reads, floor((i + 0.5) * step)."""
    if size < step:
        return np.array([size // 2])
    return np.arange(cells) * step + step // 2


# read_bands' strips: a file written in strips of one row (gdal_translate without -co TILED)
# read row by row took 3 times as long as one read, in 256 rows 1.4 times (5000 x 1000 x 15:
# 0.78 s, 0.37 s, one read 0.26 s; 2026-12-05)
_MIN_STRIP_ROWS = 256


class DatasetError(ValueError):
    """A training/evaluation folder or file that cannot be used (names the file)."""


def channels_of(setting: str) -> tuple[int, ...]:
    """Channel indices of ``setting`` within its scenes' bands."""
    try:
        return MODEL_SETTINGS[setting]
    except KeyError:
        raise DatasetError(
            f"unknown setting {setting!r}; known: {', '.join(MODEL_SETTINGS)}"
        ) from None


def setting_band_names(setting: str) -> tuple[str, ...]:
    names = L4S_BANDS if setting == "L4S" else MODEL_BANDS
    return tuple(names[i] for i in channels_of(setting))


def written_without_bands(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` (a member's spec or manifest entry, a grid) less an empty ``without_bands``:
    one that withholds nothing is written as before the option existed (result.json, the ONNX
    graph cache's keys and the manifests stay the same)."""
    if not record.get("without_bands"):
        record.pop("without_bands", None)
    return record


def withheld_positions(bands: Sequence[str], withheld: Sequence[str]) -> list[int]:
    """The positions in ``bands`` of the ``withheld`` ones (a member's ``without_bands``); a
    ValueError when one is not among them, is named twice, or none would be left."""
    unknown = [b for b in withheld if b not in bands]
    if unknown:
        raise ValueError(
            f"without_bands {', '.join(unknown)} not among its bands ({', '.join(bands)})"
        )
    if len(set(withheld)) != len(withheld):
        raise ValueError("without_bands names a band twice")
    if withheld and len(withheld) == len(bands):
        raise ValueError("without_bands leaves it no band")
    return [list(bands).index(b) for b in withheld]


@dataclass
class Scene:
    """One labelled scene: all bands ``(B, H, W)`` float32 (NaN = invalid), label ``(H, W)``
    (1 landslide, 0 not) and, for weak labels, ``ignore`` ``(H, W)`` bool: pixels of unknown
    class (written as :data:`IGNORE` in the label file), left out of losses and scores."""

    id: str
    image: np.ndarray
    label: np.ndarray
    crs: CRS | None = None
    transform: Affine | None = None
    ignore: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.label.shape != self.image.shape[1:]:
            raise DatasetError(
                f"scene {self.id!r}: image {self.image.shape} and label {self.label.shape} "
                "do not share a (H, W) grid"
            )
        if self.ignore is not None:
            if self.ignore.shape != self.label.shape:
                raise DatasetError(
                    f"scene {self.id!r}: ignore mask {self.ignore.shape} differs from the "
                    f"label {self.label.shape}"
                )
            self.ignore = np.asarray(self.ignore, bool)
            self.label = np.where(self.ignore, 0, self.label).astype(np.uint8)

    @functools.cached_property
    def pixel_area_m2(self) -> float:
        """The area of one pixel in square metres, what the size classes of object recall
        measure landslides in: in a projected CRS in metres, the grid's own (as the chain and
        the inventory measure areas, in a UTM zone), unless the projection stretches the ground
        by more than ``AREAL_SCALE_TOLERANCE`` (:mod:`models.feature_stack`) at the scene's
        centre (Web Mercator at 60° N: four times); else, as in degrees, the ground area of the
        centre pixel (geodesic, on the WGS 84 ellipsoid). :data:`LAYOUT_PIXEL_AREA_M2` (the
        10 m pixels of the Ganerød et al. layout) where the scene has no CRS or grid, or its CRS
        cannot be placed on the globe."""
        if self.crs is None or self.transform is None:
            return LAYOUT_PIXEL_AREA_M2
        rows, cols = self.label.shape
        r, c = rows // 2, cols // 2
        corners = [self.transform @ xy for xy in ((c, r), (c + 1, r), (c + 1, r + 1), (c, r + 1))]
        xs, ys = [x for x, _ in corners], [y for _, y in corners]
        try:
            to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
            lons, lats = to_lonlat.transform(xs, ys, errcheck=True)
        except (ProjError, PyprojCRSError):
            return LAYOUT_PIXEL_AREA_M2
        area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
        ground = abs(float(area))
        if not math.isfinite(ground) or ground == 0:
            return LAYOUT_PIXEL_AREA_M2
        grid = abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)
        metric = self.crs.is_projected and self.crs.linear_units_factor[1] == 1.0
        if metric and abs(ground / grid - 1.0) <= AREAL_SCALE_TOLERANCE:
            return float(grid)
        return ground

    @property
    def known(self) -> np.ndarray:
        """Pixels whose class is known (everything but :attr:`ignore`)."""
        if self.ignore is None:
            return np.ones(self.label.shape, bool)
        return ~self.ignore

    @property
    def target(self) -> np.ndarray:
        """The label as training targets: 1, 0 and :data:`IGNORE` (uint8)."""
        out = (self.label > 0).astype(np.uint8)
        if self.ignore is not None:
            out[self.ignore] = IGNORE
        return out

    def channels(self, setting: str) -> np.ndarray:
        idx = channels_of(setting)
        if max(idx) >= self.image.shape[0]:
            raise DatasetError(
                f"scene {self.id!r} has {self.image.shape[0]} bands; setting {setting!r} "
                f"needs band {max(idx)}"
            )
        return self.image[list(idx)]


#: The Ganerød et al. layout's file names: ``input/<id>_input.tif`` and ``label/<id>_label.tif``.
INPUT_SUFFIX = "_input.tif"
LABEL_SUFFIX = "_label.tif"


def input_path(root: Path, scene_id: str) -> Path:
    return Path(root) / "input" / f"{scene_id}{INPUT_SUFFIX}"


def scene_id_of(path: Path) -> str:
    """The scene id of an ``<id>_input.tif`` (:func:`input_path`'s inverse), wherever it lies."""
    return Path(path).name.removesuffix(INPUT_SUFFIX)


def label_path(root: Path, scene_id: str) -> Path:
    return Path(root) / "label" / f"{scene_id}{LABEL_SUFFIX}"


def provenance_path(root: Path, scene_id: str) -> Path:
    """The scene's provenance record, where the ``dataset`` command writes one (its source,
    windows, label counts and split ``group``; monitor.ops._dataset_write): written last, it
    marks the scene complete."""
    return Path(root) / "provenance" / f"{scene_id}.json"


def split_hint(root: Path) -> str:
    """Where ``root`` is a dataset of split folders rather than one folder of scenes, the words
    that say so and name them (empty otherwise): a command that reads one folder of scenes,
    given a left-out region's export (whose one region's scenes all went to ``train/``), said
    only that it found no ``input/``."""
    root = Path(root)
    splits = [root / s for s in SPLIT_NAMES if (root / s / "input").is_dir()]
    if not splits:
        return ""
    return f"; it is a dataset of splits: give {' or '.join(str(s) for s in splits)}"


def scene_ids(root: Path, *, warn: bool = True) -> list[str]:
    """Scene ids of a Ganerød-layout folder (sorted); every input needs its label. With
    ``warn``, the files its names leave out are logged."""
    root = Path(root)
    if not root.is_dir():  # found in a walkthrough: a typo read "no input/<id>_input.tif files"
        what = "is a file, not a folder" if root.exists() else "no such folder"
        raise DatasetError(f"{root}: {what} (a Ganerød-layout folder of input/ and label/)")
    inputs = sorted((root / "input").glob(f"*{INPUT_SUFFIX}"))
    if not inputs:
        raise DatasetError(
            f"{root}: no input/<id>_input.tif files (Ganerød et al. layout){split_hint(root)}"
        )
    ids = [scene_id_of(p) for p in inputs]
    missing = [str(label_path(root, i)) for i in ids if not label_path(root, i).exists()]
    if missing:
        # found in a walk: a label named x_LABEL.tif was not pointed to
        near = near_names(root / "label", LABEL_SUFFIX, []) if (root / "label").is_dir() else []
        named = [n for n in near if not n.endswith(LABEL_SUFFIX)]
        raise DatasetError(
            f"{root}: labels missing for inputs: {first_names(missing)}"
            + (
                "; named otherwise in label/, not read (the names are case-sensitive, and a "
                "copy's ' (1)' is no part of them): "
                f"{first_names(named)}"
                if named
                else ""
            )
        )
    # scenes named otherwise (.tiff, _INPUT.TIF: the names are case-sensitive) and labels whose
    # input is missing are not read; said, as detect --stack does, so none is lost quietly
    if not warn:
        return ids
    near = near_names(root / "input", INPUT_SUFFIX, inputs)
    orphans = near_names(root / "label", LABEL_SUFFIX, [label_path(root, i) for i in ids])
    if near:
        log.warning(
            "%s: %d file(s) not read, as an input is named <id>_input.tif: %s",
            root / "input", len(near), first_names(near),
        )  # fmt: skip
    if orphans:
        log.warning(
            "%s: %d label file(s) not read, as a label is named <id>_label.tif beside its "
            "input/<id>_input.tif: %s",
            root / "label", len(orphans), first_names(orphans),
        )  # fmt: skip
    return ids


def near_names(folder: Path, suffix: str, taken: Collection[Path]) -> list[str]:
    """The names of ``folder``'s files that end in ``suffix`` (or its ``.tiff`` form) in any
    case, or would but for a copy's mark (``x_input (1).tif``, as a browser names a second
    download), yet are not among ``taken``: files meant for the layout that its case-sensitive
    names leave out, sorted."""
    ends = (suffix.lower(), suffix.lower() + "f")
    taken = set(taken)
    return sorted(
        p.name
        for p in folder.iterdir()
        if _COPY_MARK.sub("", p.name).lower().endswith(ends) and p not in taken
    )


# " (1)" before a name's extension: a browser's second download of the same file (found in a
# walk: `s04_input (1).tif` was left out without a word)
_COPY_MARK = re.compile(r" ?\(\d+\)(?=\.[^.]+$)")


def first_names(names: Sequence[str], n: int = 5, sep: str = ", ") -> str:
    """The first ``n`` of ``names`` for a message, joined by ``sep``, with ``...`` where there
    are more."""
    return sep.join(names[:n]) + (" ..." if len(names) > n else "")


# Bands whose 0 is a value, not a gap: a file that declares nodata 0 would erase them (the radar
# flags, and the canopy height of all treeless ground, scars included).
ZERO_IS_A_VALUE: tuple[str, ...] = ("layover", "shadow", "canopy_height")


def file_index(name: str, order: Sequence[int] | None) -> int:
    """The 0-based band of a stack file that holds model band ``name``: ``order`` as
    :func:`check_input` gives it (None: the file holds the layout's order)."""
    i = MODEL_BANDS.index(name)
    return i if order is None else order[i]


def zero_values_in_footprint(
    image: np.ndarray, raw: np.ndarray, nodata: float | None, zero_valued: Sequence[int]
) -> None:
    """In place, the bands ``zero_valued`` of ``image`` (``(B, H, W)``, no data as NaN; ``raw``
    the values as stored) as a stack's reader takes them: their 0 kept where the file declares
    nodata 0, and no value outside the footprint of the other bands (an export whose flags were
    unmasked to 0 beyond a clipped outline), as for every band there."""
    inside = footprint(b for i, b in enumerate(image) if i not in zero_valued)
    for i in zero_valued:
        if nodata == 0:
            image[i][(raw[i] == 0) & inside] = 0.0
        image[i][~inside] = np.nan


def _band_order(path: Path, descriptions: Sequence[str | None]) -> list[int] | None:
    """Where each of :data:`MODEL_BANDS` lies in a file whose bands carry these
    ``descriptions``: None where they say nothing about it (no names, or none of the model's),
    the reading order where every model band is named once (in any order). Raises
    :class:`DatasetError` where some bands are named and the names do not account for all 15."""
    names = [d.strip() if d else "" for d in descriptions]
    if not any(n in MODEL_BANDS for n in names):
        return None
    if sorted(names) != sorted(MODEL_BANDS):
        unknown = [
            n or f"band {i + 1} (no name)" for i, n in enumerate(names) if n not in MODEL_BANDS
        ]
        missing = [b for b in MODEL_BANDS if b not in names]
        # found in a walk: a band named dVV twice was said as "missing or repeated: dNDVI"
        twice = [b for b in MODEL_BANDS if names.count(b) > 1]
        # and lower-case names (prevv) as "not model bands" with no word of the case
        cased = {n.lower(): n for n in MODEL_BANDS}
        case = [f"{n} ({cased[n.lower()]}?)" for n in unknown if n.lower() in cased]
        raise DatasetError(
            f"{path}: its band names do not match the 15 model bands: "
            f"not model bands: {', '.join(unknown) or 'none'}; missing: "
            f"{', '.join(missing) or 'none'}"
            + (f"; named twice: {', '.join(twice)}" if twice else "")
            + (f"; the names are case-sensitive: {', '.join(case)}" if case else "")
            + f" (expected {', '.join(MODEL_BANDS)}). Name every band as the model does "
            "(GeoTIFF band descriptions), or clear the names to have the bands read in that order"
        )
    return [names.index(b) for b in MODEL_BANDS]


# gdal_translate -mask writes the mask into the GeoTIFF, not a .msk file beside it that a copy
# of the scene file would leave behind (GDAL's default in older releases)
_INTERNAL_MASK = "--config GDAL_TIFF_INTERNAL_MASK YES "


def check_input(path: Path) -> list[int] | None:
    """Check the header of an ``<id>_input.tif`` without reading its pixels: 15 bands, stored
    as floats (the layout holds physical values, dB, NDVI, degrees, which a scaled integer
    export rounds or clips), and band names that are the model's or none of them. Returns where
    each model band lies in the file (None: in :data:`MODEL_BANDS` order); raises
    :class:`DatasetError` naming the file."""
    try:
        with open_geotiff(path) as src:
            count, dtype, descriptions = src.count, np.dtype(src.dtypes[0]), src.descriptions
            alpha = [i + 1 for i, c in enumerate(src.colorinterp) if c == ColorInterp.alpha]
    except rasterio.RasterioIOError as err:
        raise _unreadable(path, "input", err) from err
    scene = path.stem.removesuffix("_input")
    # a wide file already named <id>_input.tif (as detect --stack finds them) is moved aside
    # first: gdal_translate cannot write the scene over its own source
    wide = path.name if path.name != f"{scene}{INPUT_SUFFIX}" else f"{scene}_wide.tif"
    move = "" if wide == path.name else f"mv {path.name} {wide} && "
    if count == len(MODEL_BANDS) + 1 and len(alpha) == 1:
        # gdalwarp -dstalpha marks the footprint with an alpha band, which the reader takes as
        # a mask band; dropped with -b alone, the zeros outside the footprint are refused as an
        # undeclared fill
        kept = " ".join(f"-b {i}" for i in range(1, count + 1) if i != alpha[0])
        raise DatasetError(
            f"{path}: {count} bands, expected {len(MODEL_BANDS)}: band {alpha[0]} is an alpha "
            "band (gdalwarp -dstalpha), which the layout holds as a mask band: e.g. "
            f"{move}gdal_translate {_INTERNAL_MASK}{kept} -mask {alpha[0]} {wide} "
            f"{scene}{INPUT_SUFFIX}"
        )
    if count != len(MODEL_BANDS):
        where = {d: i + 1 for i, d in enumerate(descriptions) if d in MODEL_BANDS}
        if len(where) == len(MODEL_BANDS):
            bands = [where[b] for b in MODEL_BANDS]
            which = (
                f"its bands name all {len(MODEL_BANDS)} (an Earth Engine feature image of the "
                "monitor, 36 bands?)"
            )
        elif count > len(MODEL_BANDS) and not any(descriptions):
            # unnamed: the monitor's own Earth Engine export (GeeSource.export, 36 bands)
            # starts with the model bands in the layout's order
            bands = list(range(1, len(MODEL_BANDS) + 1))
            which = (
                f"where its first {len(MODEL_BANDS)} bands are the model bands in this order "
                "(the first bands of the monitor's Earth Engine export, GeeSource.export)"
            )
        else:
            bands = []
        hint = ""
        if bands:
            mask = f"{_INTERNAL_MASK}-mask {alpha[0]} " if len(alpha) == 1 else ""
            hint = (
                f"; {which}: write them as a file of their own, e.g. {move}gdal_translate {mask}"
                + " ".join(f"-b {b}" for b in bands)
                + f" {wide} {scene}{INPUT_SUFFIX} (outside input/ for the wide file)"
            )
        elif where:  # named bands, some of the model's missing: say which
            absent = [b for b in MODEL_BANDS if b not in where]
            hint = f"; by their names, it lacks {', '.join(absent)}"
        raise DatasetError(
            f"{path}: {count} bands, expected {len(MODEL_BANDS)} ({', '.join(MODEL_BANDS)})" + hint
        )
    if not np.issubdtype(dtype, np.floating):
        raise DatasetError(
            f"{path}: bands stored as {dtype}; the layout holds physical values as float32 "
            "(dB, NDVI, degrees, metres): export as float32, not scaled integers"
        )
    return _band_order(path, descriptions)


def _read_input(path: Path) -> tuple[np.ndarray, CRS | None, Affine]:
    """The 15 bands of an ``<id>_input.tif`` (NaN where masked), its CRS and transform, after
    :func:`check_input`: bands named with the model band names (GeoTIFF band descriptions, as
    :func:`write_scene` writes them) are read by name, in whatever order the file holds them;
    unnamed bands are taken in :data:`MODEL_BANDS` order. A declared nodata is applied to every
    band but those whose 0 is a value (``layover``, ``shadow``, ``canopy_height``), where a
    nodata of 0 would erase them. Those three hold values only inside the stack's footprint
    (where another band holds one), so that outside an export clipped to an outline every band
    is NaN, whatever nodata it declares and whatever they hold there."""
    order = check_input(path)
    try:
        with open_geotiff(path) as src:
            masked = read_bands(src)
            image = masked.filled(np.nan)
            zero_valued = [file_index(n, order) for n in ZERO_IS_A_VALUE]
            zero_values_in_footprint(image, masked.data, src.nodata, zero_valued)
            crs, transform = src.crs, src.transform
    except rasterio.RasterioIOError as err:
        raise DatasetError(f"{path}: cannot read input: {err}") from err
    if order is not None:
        image = image[order]
    return image, crs, transform


def read_input(path: Path) -> Scene:
    """One ``<id>_input.tif`` wherever it lies, as a scene without label (all zeros)."""
    path = Path(path)
    image, crs, transform = _read_input(path)
    return Scene(scene_id_of(path), image, np.zeros(image.shape[1:], np.uint8), crs, transform)


def read_scene(root: Path, scene_id: str, *, require_label: bool = True) -> Scene:
    """Read one scene of a Ganerød-layout folder (15 bands in DESIGN order, or named; see
    :func:`check_input`)."""
    path = input_path(root, scene_id)
    image, crs, transform = _read_input(path)
    _warn_of_values(image, path)
    lpath = label_path(root, scene_id)
    if lpath.exists():
        label, ignore = read_label(lpath, image.shape[1:], crs, transform)
    elif require_label:
        raise DatasetError(f"{lpath}: label missing")
    else:
        label, ignore = np.zeros(image.shape[1:], np.uint8), None
    return Scene(scene_id, image, label, crs, transform, ignore)


_WARNED_OF_VALUES: set[tuple[Path, int]] = set()  # (input, mtime): said once a process


def _warn_of_values(image: np.ndarray, path: Path) -> None:
    """Warn, once a process for a file as it is, of values no stack in the layout holds
    (:func:`models.stack_values.value_problem`): ``detect --stack`` refuses such a stack, and a
    score or a member trained on it reads a fill or a scale as ground (found in a walkthrough:
    the pixel report scored four stacks detect refused at F1 0.00-0.07, without a word)."""
    key = (path.resolve(), path.stat().st_mtime_ns)
    if key in _WARNED_OF_VALUES:
        return
    _WARNED_OF_VALUES.add(key)
    problem = value_problem(image, str(path))
    if problem is not None:
        log.warning(
            "%s. Read as it is: `detect --stack` refuses such a stack, and scores or members "
            "trained on it would read the values as ground",
            problem.rstrip("."),
        )


def _same_grid(a: Affine, b: Affine) -> bool:
    """Whether two geotransforms place the pixels within 1 % of a pixel of each other."""
    tolerance = 0.01 * max(abs(b.a), abs(b.e))
    return all(abs(x - y) <= tolerance for x, y in zip(tuple(a)[:6], tuple(b)[:6], strict=True))


def _same_crs(a: CRS, b: CRS) -> bool:
    """Whether two CRSs are one: equal, or the same EPSG code (as GDAL identifies them, and as
    a message names them): a label written with the PROJ string of its input's UTM zone is on
    its input's ground (found in a walkthrough: refused, in a message naming both EPSG:32632)."""
    if a == b:
        return True
    code = a.to_epsg()
    return code is not None and code == b.to_epsg()


# Below this share of unknown pixels, a label without a landslide pixel is warned as a likely
# mask of 0 and 255: landslides cover a small part of a scene.
_MASK_LIKE_UNKNOWN_SHARE = 0.5


def _written_by_dataset(label: Path) -> bool:
    """Whether the ``dataset`` command wrote the scene of the label file ``label`` (its
    provenance record beside it, :func:`provenance_path`): its labels hold 0 and 255 without a
    1 by design (a reviewed scene whose candidates were all dismissed, an inventory's slides
    smaller than a pixel burnt as unknown)."""
    scene = label.name.removesuffix(LABEL_SUFFIX)
    return provenance_path(label.parent.parent, scene).is_file()


def read_label(
    path: Path, shape: tuple[int, ...], crs: CRS | None, transform: Affine | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The label raster ``path`` of an input of ``shape`` on the grid ``crs``/``transform``,
    checked: the input's shape; values 1 (landslide), 0 (background) and :data:`IGNORE`
    (unknown) only; and, where the label is georeferenced, the input's grid (a label without
    georeferencing, a plain mask, is taken pixel for pixel). Returns the label as 0/1 and the
    unknown pixels (None where there are none); raises :class:`DatasetError` naming the file."""
    try:
        with open_geotiff(path) as src:
            label = src.read(1)
            label_crs, label_transform, nodata = src.crs, src.transform, src.nodata
    except rasterio.RasterioIOError as err:
        raise _unreadable(path, "label", err) from err
    if label.shape != tuple(shape):
        raise DatasetError(f"{path}: shape {label.shape} differs from input {tuple(shape)}")
    other = np.setdiff1d(np.unique(label), [0, 1, IGNORE])
    if other.size:  # a 0/2 mask read as all background, a no-data fill as a class
        how = (
            'it (e.g. gdal_calc.py -A LABEL --outfile RECODED --calc "A>0" --type Byte for a '
            "mask of 0 and another value)"
        )
        if nodata is not None and np.isnan(nodata) and np.isnan(other).any():
            how = f"its no-data to {IGNORE}"
        elif nodata is not None and np.isin(nodata, other):
            how = (
                f"its no-data ({nodata:g}, outside an export clipped to an outline) to "
                f"{IGNORE}: gdal_calc.py -A LABEL --outfile RECODED --calc "
                f'"where(A=={nodata:g},{IGNORE},A)" --NoDataValue none'
            )
        raise DatasetError(
            f"{path}: label values {other[:5].tolist()}; a label holds 1 (landslide), 0 "
            f"(background) and {IGNORE} (unknown): recode {how}"
        )
    moved = (
        transform is not None
        and not label_transform.is_identity
        and not _same_grid(label_transform, transform)
    )
    if moved or (label_crs is not None and crs is not None and not _same_crs(label_crs, crs)):
        # scored or trained on, its landslides would be compared with other ground
        raise DatasetError(
            f"{path}: its grid ({label_crs}, geotransform {tuple(label_transform)[:6]}) is not "
            f"its input's ({crs}, {tuple(transform or Affine.identity())[:6]}); a label lies "
            "on its input's pixels: write it on that grid, or without georeferencing"
        )
    unknown = label == IGNORE
    if (
        unknown.any()
        and not (label == 1).any()
        and unknown.mean() < _MASK_LIKE_UNKNOWN_SHARE
        and not _written_by_dataset(path)
    ):
        # a mask of 0 and 255 (as many tools write one) reads as no landslide at all, its
        # landslides unknown
        log.warning(
            "%s: no landslide pixel (1), and %d pixel(s) of %d are %d (unknown), as in a mask "
            "of 0 and 255: if %d marks its landslides, recode it (gdal_calc.py -A LABEL "
            '--outfile RECODED --calc "A>0" --type Byte)',
            path, int(unknown.sum()), unknown.size, IGNORE, IGNORE,
        )  # fmt: skip
    return (label == 1).astype(np.uint8), unknown if unknown.any() else None


def read_folder(root: Path) -> list[Scene]:
    return [read_scene(root, i) for i in scene_ids(root)]


def write_scene(root: Path, scene: Scene) -> tuple[Path, Path]:
    """Write ``scene`` in the Ganerød layout (input GeoTIFF with band descriptions, label with
    :data:`IGNORE` where the class is unknown); each file written atomically
    (:func:`models.atomic.write_atomically`: a failed write leaves nothing, found in a walk: a
    full disk left a ``.part`` that the rerun, meant to resume, failed on). A file that cannot
    be written is an :class:`OSError` naming it, and a full file system."""
    if scene.image.shape[0] != len(MODEL_BANDS):
        raise DatasetError(f"scene {scene.id!r}: {scene.image.shape[0]} bands, expected 15")
    ipath, lpath = input_path(root, scene.id), label_path(root, scene.id)
    ipath.parent.mkdir(parents=True, exist_ok=True)
    lpath.parent.mkdir(parents=True, exist_ok=True)
    _, h, w = scene.image.shape
    common = {
        "driver": "GTiff",
        "height": h,
        "width": w,
        "crs": scene.crs,
        "transform": scene.transform or Affine.identity(),
        "compress": "deflate",
        "tiled": h >= 256 and w >= 256,
    }

    def write_input(tmp: Path) -> None:
        with rasterio.open(
            tmp, "w", count=len(MODEL_BANDS), dtype="float32", nodata=np.nan, **common
        ) as dst:
            dst.write(scene.image.astype(np.float32, copy=False))
            dst.descriptions = MODEL_BANDS

    def write_label(tmp: Path) -> None:
        with rasterio.open(tmp, "w", count=1, dtype="uint8", **common) as dst:
            dst.write(scene.target[None])

    for path, write in ((ipath, write_input), (lpath, write_label)):
        for stale in leftovers(path):  # a killed write's; each write's name is new
            stale.unlink(missing_ok=True)
        try:
            write_atomically(path, write)
        except (OSError, rasterio.errors.RasterioError) as err:
            note = full_disk_note(path.parent)
            raise OSError(f"{path}: cannot write the scene: {err}{note}") from err
    return ipath, lpath


def read_landslide4sense(image_dir: Path, mask_dir: Path | None = None) -> list[Scene]:
    """Landslide4Sense HDF5 patches: ``image_<n>.h5`` (``img``, 128x128x14) and, when
    ``mask_dir`` is given, ``mask_<n>.h5`` (``mask``, 128x128)."""
    import h5py

    paths = sorted(Path(image_dir).glob("*.h5"))
    if not paths:
        raise DatasetError(f"{image_dir}: no .h5 patches")
    scenes = []
    for path in paths:
        with h5py.File(path, "r") as f:
            if "img" not in f:
                raise DatasetError(f"{path}: no 'img' dataset (Landslide4Sense layout)")
            img = np.asarray(f["img"], dtype=np.float32)
        if img.ndim != 3 or img.shape[-1] != len(L4S_BANDS):
            raise DatasetError(f"{path}: img shape {img.shape}, expected (H, W, 14)")
        label = np.zeros(img.shape[:2], np.uint8)
        if mask_dir is not None:
            mpath = Path(mask_dir) / path.name.replace("image", "mask")
            if not mpath.exists():
                raise DatasetError(f"{mpath}: mask missing for {path.name}")
            with h5py.File(mpath, "r") as f:
                label = (np.asarray(f["mask"]) > 0).astype(np.uint8)
        scenes.append(Scene(path.stem, np.moveaxis(img, -1, 0).copy(), label))
    return scenes


def band_statistics(
    scenes: Sequence[Scene], setting: str, *, max_pixels: int = 2_000_000, seed: int = 0
) -> tuple[list[float], list[float]]:
    """Per-band mean and standard deviation over the valid (non-NaN) pixels of ``scenes``
    (a deterministic subsample of at most ``max_pixels`` per scene)."""
    rng = np.random.default_rng(seed)
    chunks = []
    for scene in scenes:
        x = scene.channels(setting).reshape(len(channels_of(setting)), -1)
        if x.shape[1] > max_pixels:
            x = x[:, rng.choice(x.shape[1], max_pixels, replace=False)]
        chunks.append(x)
    data = np.concatenate(chunks, axis=1).astype(np.float64)
    with np.errstate(all="ignore"):
        mean = np.nanmean(data, axis=1)
        std = np.nanstd(data, axis=1)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
    return [float(v) for v in mean], [float(v) for v in std]


_S1_GROUP = ("preVV", "postVV", "dVV", "preVH", "postVH", "dVH", "layover", "shadow", "liaDeg")
_S2_GROUP = ("landcover", "dNDVI")


@dataclass(frozen=True)
class Augmentation:
    """Per-crop perturbations that match the randomised world's priors
    (``monitor/simulator/priors.py``), so members learn changes, not one world's levels:

    - ``brightness_db``: a region-wide offset, uniform in ±this, added to the post-event VV and
      VH (wet soil after rain; calibration), carried into dVV and dVH;
    - ``ndvi_offset``: an offset, uniform in ±this, added to dNDVI (phenology between windows);
    - ``speckle_db``: extra speckle, Gaussian in dB with a standard deviation uniform in
      [0, this], on the pre and post VV/VH (fewer looks per composite), the differences
      recomputed;
    - ``dropout``: the probability that one sensor's bands (S1 or S2) of a crop become NaN
      (a sensor missing, as under clouds); only in settings that have both;
    - ``p``: the probability that a crop is perturbed at all.
    """

    brightness_db: float = 1.5
    ndvi_offset: float = 0.1
    speckle_db: float = 1.0
    dropout: float = 0.1
    p: float = 0.8

    def __post_init__(self) -> None:
        for name in ("brightness_db", "ndvi_offset", "speckle_db"):
            if getattr(self, name) < 0:
                raise DatasetError(f"augment.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("dropout", "p"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DatasetError(f"augment.{name} must be in [0, 1], got {getattr(self, name)}")

    def apply(self, x: np.ndarray, names: Sequence[str], rng: np.random.Generator) -> np.ndarray:
        """Perturb one crop ``(C, h, w)`` whose channels are the bands ``names`` (a copy)."""
        if rng.random() >= self.p:
            return x
        x = np.array(x, np.float32)
        at = {n: i for i, n in enumerate(names)}
        for pol in ("VV", "VH"):
            pre, post, diff = at.get(f"pre{pol}"), at.get(f"post{pol}"), at.get(f"d{pol}")
            shift = np.float32(rng.uniform(-self.brightness_db, self.brightness_db))
            sigma = rng.uniform(0.0, self.speckle_db)
            for i, extra in ((pre, 0.0), (post, shift)):
                if i is not None:
                    noise = rng.normal(0.0, sigma, x.shape[1:]).astype(np.float32)
                    x[i] += np.float32(extra) + noise
            if diff is not None and pre is not None and post is not None:
                x[diff] = x[post] - x[pre]
            elif diff is not None:
                x[diff] += shift
        if "dNDVI" in at:
            x[at["dNDVI"]] += np.float32(rng.uniform(-self.ndvi_offset, self.ndvi_offset))
        groups = [
            [at[n] for n in group if n in at]
            for group in (_S1_GROUP, _S2_GROUP)
            if any(n in at for n in group)
        ]
        if len(groups) > 1 and rng.random() < self.dropout:
            x[groups[int(rng.integers(len(groups)))]] = np.nan
        return x


class CropSampler:
    """Ganerød et al.'s "smart" random crops: every crop holds at least one landslide pixel,
    with random flips and 90° rotations, and the perturbations of ``augment`` when given.
    Deterministic for a given ``seed``.

    Scenes without landslides are never sampled (they cannot satisfy the rule); scenes smaller
    than the crop are padded with NaN inputs and background labels. Labels of ignored pixels
    come out as :data:`IGNORE` (the losses skip them).

    ``anchors`` (one ``(H, W)`` bool mask per scene) replaces "a landslide pixel" as what every
    crop must hold: fine-tuning anchors crops on the parent model's false alarms too, so that the
    hard negatives of a review are seen."""

    def __init__(
        self,
        scenes: Sequence[Scene],
        setting: str,
        crop: int,
        seed: int = 0,
        *,
        anchors: Sequence[np.ndarray] | None = None,
        augment: Augmentation | None = None,
    ) -> None:
        self.crop = crop
        self.setting = setting
        self.augment = augment
        self._names = setting_band_names(setting)
        self.rng = np.random.default_rng(seed)
        self._scenes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if anchors is not None and len(anchors) != len(scenes):
            raise DatasetError(f"{len(anchors)} anchor masks for {len(scenes)} scenes")
        for i, scene in enumerate(scenes):
            anchor = scene.label if anchors is None else anchors[i]
            pos = np.flatnonzero(np.asarray(anchor).ravel())
            if pos.size:
                x, y = _pad_to(scene.channels(setting), scene.target, crop)
                self._scenes.append((x, y, pos))
        if not self._scenes:
            raise DatasetError("no scene holds a landslide pixel: smart crops are impossible")
        counts = np.array([len(s[2]) for s in self._scenes], dtype=np.float64)
        # Sample scenes in proportion to the square root of their landslide area: large events
        # do not swamp small ones.
        self._weights = np.sqrt(counts) / np.sqrt(counts).sum()

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` crops: inputs ``(n, C, crop, crop)`` float32 and labels ``(n, 1, crop, crop)``."""
        xs, ys = [], []
        for _ in range(n):
            x, y, pos = self._scenes[self.rng.choice(len(self._scenes), p=self._weights)]
            h, w = y.shape
            r, c = np.unravel_index(pos[self.rng.integers(pos.size)], (h, w))
            # The original anchor pixel index is valid in the padded array too
            # because padding is appended at the bottom/right.
            r0 = int(self.rng.integers(max(0, r - self.crop + 1), min(r, h - self.crop) + 1))
            c0 = int(self.rng.integers(max(0, c - self.crop + 1), min(c, w - self.crop) + 1))
            xc = x[:, r0 : r0 + self.crop, c0 : c0 + self.crop]
            yc = y[r0 : r0 + self.crop, c0 : c0 + self.crop]
            k = int(self.rng.integers(4))
            xc, yc = np.rot90(xc, k, axes=(1, 2)), np.rot90(yc, k)
            if self.rng.random() < 0.5:
                xc, yc = xc[:, :, ::-1], yc[:, ::-1]
            if self.rng.random() < 0.5:
                xc, yc = xc[:, ::-1, :], yc[::-1, :]
            if self.augment is not None:
                xc = self.augment.apply(xc, self._names, self.rng)
            xs.append(np.ascontiguousarray(xc))
            ys.append(np.ascontiguousarray(yc))
        return np.stack(xs).astype(np.float32), np.stack(ys)[:, None].astype(np.float32)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            yield self.sample(4)


def _pad_to(x: np.ndarray, y: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = y.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), constant_values=np.nan)
        y = np.pad(y, ((0, ph), (0, pw)))
    return x, y
