"""How long ``detect --stack`` takes to check a large stack before it runs it
(``monitor.ops.detect_stack.check_stack``) and to read it (``models.datasets.read_input``),
both reading in strips of block rows (``models.datasets.read_bands``), against the same pixels
read in one read, in one run.

The stack: 15 float32 bands of ``--size`` x ``--size`` pixels (default 5000: the largest
``detect --stack`` runs, ``MAX_STACK_PIXELS``), pixel-interleaved in 256-pixel DEFLATE tiles,
values of a plausible stack (dB around -10 and -17, dNDVI near 0, slopes of 20°). Read whole,
GDAL decodes each block once per band; once the stack is larger than GDAL's block cache (5 % of
the memory by default) every band decodes every block again. Printed: seconds for the check
and for one read of its sample, for read_input and for one read of the whole stack, and the
ratios. Writing the stack takes about 50 s and 1.5 GB of disk, in a temporary folder removed
afterwards; the whole run about 5 minutes on 2 cores.

    .venv/bin/python bench/bench_check_stack.py [--size 5000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.datasets import read_input
from models.feature_stack import MODEL_BANDS
from models.stack_values import sample_step
from monitor.ops import detect_stack

VALUES = {"preVV": -10.0, "postVV": -10.5, "dVV": -0.5, "preVH": -17.0, "postVH": -17.5,
          "dVH": -0.5, "dNDVI": -0.05, "slope": 20.0, "elevation": 500.0, "liaDeg": 35.0,
          "canopy_height": 12.0}  # fmt: skip
# bands of codes or flags, written as they are, without noise (the value checks refuse a
# layover of -0.6 or a land cover of 1.2: found running the bench after they came in)
CODES = {"layover": 0.0, "shadow": 0.0, "kg_climate": 26.0, "landcover": 10.0}


def write_stack(path: Path, size: int) -> None:
    profile = {
        "driver": "GTiff", "width": size, "height": size, "count": len(MODEL_BANDS),
        "dtype": "float32", "crs": "EPSG:32632", "transform": from_origin(4e5, 6e6, 10, 10),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "interleave": "pixel",
        "compress": "DEFLATE", "nodata": float("nan"),
    }  # fmt: skip
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **profile) as dst:
        for top in range(0, size, 1000):
            rows = min(1000, size - top)
            strip = {
                name: (
                    np.full((rows, size), CODES[name], np.float32)
                    if name in CODES
                    else (VALUES[name] + rng.normal(0.0, 0.3, (rows, size))).astype(np.float32)
                )
                for name in MODEL_BANDS
            }
            # the elevation rises and falls as the slope band says (20 degrees, ridges 10 km
            # apart: below any summit at any --size), as the terrain check asks of a stack
            ridges = np.abs(np.arange(size) % 1000 - 500).astype(np.float32)
            rise = np.tan(np.radians(VALUES["slope"])) * 10.0 * ridges
            strip["elevation"] = strip["elevation"] + rise[None, :]
            for pol in ("VV", "VH"):  # the layout's differences are post minus pre
                strip[f"d{pol}"] = strip[f"post{pol}"] - strip[f"pre{pol}"]
            for i, name in enumerate(MODEL_BANDS, start=1):
                dst.write(strip[name], i, window=Window(0, top, size, rows))
        dst.descriptions = tuple(MODEL_BANDS)


def one_read(path: Path, decimated: bool) -> float:
    """Seconds to read the checks' sample (``decimated``) or the whole stack in one read of
    all bands."""
    start = time.perf_counter()
    with rasterio.open(path) as src:
        step = sample_step(src.height, src.width) if decimated else 1
        shape = (len(MODEL_BANDS), src.height // step, src.width // step)
        src.read(out_shape=shape, out_dtype="float32", masked=True)
    return time.perf_counter() - start


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000, help="pixels a side (default 5000)")
    args = parser.parse_args()
    if args.size < 256:  # before anything is written: the stack's tiles are 256 pixels
        parser.error(f"--size {args.size}: at least 256 (one tile of the stack)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big_input.tif"
        start = time.perf_counter()
        write_stack(path, args.size)
        print(f"{args.size} x {args.size} x {len(MODEL_BANDS)} pixel-interleaved stack, "
              f"{path.stat().st_size / 1e9:.2f} GB, written in "
              f"{time.perf_counter() - start:.0f} s")  # fmt: skip
        check = timed(lambda: detect_stack.check_stack(path, max_pixels=args.size**2))
        sample = one_read(path, decimated=True)
        read = timed(lambda: read_input(path))
        whole = one_read(path, decimated=False)
    print(f"check_stack (strips of block rows): {check:.1f} s; its sample in one read: "
          f"{sample:.1f} s; ratio {sample / check:.1f}")  # fmt: skip
    print(f"read_input (strips of block rows): {read:.1f} s; the stack in one read: "
          f"{whole:.1f} s; ratio {whole / read:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
