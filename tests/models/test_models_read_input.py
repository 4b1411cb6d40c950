"""Reading a stack of the Ganerød et al. layout as users export them: bands by their names, a
declared nodata, and the integer exports the layout does not allow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp, Resampling

from models import datasets
from models.datasets import DatasetError, read_bands, read_input
from models.feature_stack import MODEL_BANDS

TRANSFORM = Affine(10.0, 0.0, 500_000.0, 0.0, -10.0, 5_000_000.0)


def _bands() -> np.ndarray:
    """Band i holds the value i + 0.5 everywhere, the flags 0 and 1 in halves."""
    bands = np.stack([np.full((8, 8), i + 0.5, np.float32) for i in range(len(MODEL_BANDS))])
    for name in ("layover", "shadow"):
        bands[MODEL_BANDS.index(name)] = 0.0
        bands[MODEL_BANDS.index(name), :4] = 1.0
    return bands


def _write(path: Path, bands: np.ndarray, names: list[str] | None = None, **profile) -> Path:
    meta: dict[str, Any] = dict(driver="GTiff", dtype="float32", count=len(bands), crs="EPSG:32632")
    meta.update(profile)
    with rasterio.open(path, "w", height=8, width=8, transform=TRANSFORM, **meta) as dst:
        dst.write(bands.astype(meta["dtype"]))
        if names is not None:
            dst.descriptions = tuple(names)
    return path


def test_named_bands_are_read_by_name_in_any_order(tmp_path):
    bands = _bands()
    order = list(range(len(MODEL_BANDS)))[::-1]
    shuffled = _write(tmp_path / "r_input.tif", bands[order], names=[MODEL_BANDS[i] for i in order])
    np.testing.assert_array_equal(read_input(shuffled).image, bands)
    # unnamed bands are taken in the layout's order
    plain = _write(tmp_path / "p_input.tif", bands)
    np.testing.assert_array_equal(read_input(plain).image, bands)
    # names that say nothing of the model's bands (B1..B15) too
    other = _write(tmp_path / "o_input.tif", bands, names=[f"B{i + 1}" for i in range(15)])
    np.testing.assert_array_equal(read_input(other).image, bands)


def test_a_named_stack_short_of_a_band_is_told_which(tmp_path):
    # a named 14-band stack was told only "14 bands, expected 15" (a user walkthrough)
    keep = [i for i, n in enumerate(MODEL_BANDS) if n != "slope"]
    path = _write(tmp_path / "s_input.tif", _bands()[keep], names=[MODEL_BANDS[i] for i in keep])
    with pytest.raises(DatasetError, match=r"14 bands, expected 15 .*; by their names, it lacks "
                                           r"slope$"):  # fmt: skip
        read_input(path)


def test_names_that_do_not_account_for_the_15_bands_are_refused(tmp_path):
    names = list(MODEL_BANDS)
    names[3] = "preVV"  # twice, and preVH missing
    names[9] = "dem"
    path = _write(tmp_path / "x_input.tif", _bands(), names=names)
    with pytest.raises(DatasetError) as err:
        read_input(path)
    message = str(err.value)
    assert "not model bands: dem" in message and "missing: preVH, elevation" in message
    assert "; named twice: preVV (expected" in message  # found in a walk: it was not named
    names[9] = "elevation"
    names[3] = "prevh"  # found in a walk: lower case, with no word of the case
    path = _write(tmp_path / "y_input.tif", _bands(), names=names)
    with pytest.raises(DatasetError) as err:
        read_input(path)
    assert (
        "not model bands: prevh; missing: preVH; the names are case-sensitive: prevh "
        "(preVH?) (expected" in str(err.value)
    )


@pytest.mark.parametrize("shuffled", [False, True])
def test_a_declared_nodata_of_zero_keeps_the_zeros_that_are_values(tmp_path, shuffled):
    """The radar flags and the canopy height of treeless ground are 0 where they hold; a file
    that declares nodata 0 would erase them (and, with the flags, the radar settings)."""
    bands = _bands()
    bands[MODEL_BANDS.index("canopy_height"), 2:] = 0.0
    bands[MODEL_BANDS.index("dVV"), 0, 0] = 0.0  # a gap in an ordinary band
    order = list(range(len(MODEL_BANDS)))[::-1] if shuffled else list(range(len(MODEL_BANDS)))
    names = [MODEL_BANDS[i] for i in order] if shuffled else None
    path = _write(tmp_path / "z_input.tif", bands[order], names=names, nodata=0.0)
    image = read_input(path).image
    for name in ("layover", "shadow", "canopy_height"):
        i = MODEL_BANDS.index(name)
        np.testing.assert_array_equal(image[i], bands[i])
    assert np.isnan(image[MODEL_BANDS.index("dVV"), 0, 0])
    assert np.isfinite(image[MODEL_BANDS.index("dVV")]).sum() == 63


@pytest.mark.parametrize("dtype", ["int16", "uint16"])
def test_integer_stacks_are_refused(tmp_path, dtype):
    path = _write(tmp_path / "i_input.tif", np.abs(_bands()) * 100, dtype=dtype)
    with pytest.raises(DatasetError, match=f"bands stored as {dtype}; the layout holds physical"):
        read_input(path)


def test_a_wider_image_naming_the_15_bands_gets_the_command_that_cuts_them_out(tmp_path):
    """An Earth Engine feature image of the monitor (36 bands, named) is not a scene file: the
    error gives the gdal_translate bands that make one (here the 15 behind two others)."""
    bands = np.concatenate([np.zeros((2, *_bands().shape[1:]), np.float32), _bands()])
    path = _write(tmp_path / "gee.tif", bands, names=["pre_rgb_red", "x", *MODEL_BANDS])
    expected = "gdal_translate " + " ".join(f"-b {i}" for i in range(3, 18))
    with pytest.raises(DatasetError, match=f"17 bands, expected 15 .*{expected} gee.tif gee_input"):
        read_input(path)
    # named as a scene already (detect --stack finds only those): the command wrote the scene
    # over its own source, `gdal_translate ... a_input.tif a_input.tif`
    named = _write(tmp_path / "a_input.tif", bands, names=["pre_rgb_red", "x", *MODEL_BANDS])
    with pytest.raises(DatasetError) as err:
        read_input(named)
    assert str(err.value).endswith(
        f"e.g. mv a_input.tif a_wide.tif && {expected} a_wide.tif a_input.tif (outside input/ "
        "for the wide file)"
    )
    # unnamed (Earth Engine's export writes no band names): the first 15, on condition
    plain = _write(tmp_path / "p.tif", bands)
    with pytest.raises(DatasetError) as err:
        read_input(plain)
    first = "gdal_translate " + " ".join(f"-b {i}" for i in range(1, 16))
    assert "where its first 15 bands are the model bands in this order" in str(err.value)
    assert f"e.g. {first} p.tif p_input.tif" in str(err.value)


def test_an_alpha_band_gets_the_command_that_makes_it_the_mask(tmp_path: Path) -> None:
    """Found walking stacks of other tools: `gdalwarp -dstalpha` adds an alpha band, refused as
    "16 bands"; the command it was given (`-b 1 ... -b 15`) dropped the alpha, and the zeros
    outside the footprint were then refused as an undeclared fill. An alpha band now gets the
    command that keeps it as the mask band, which the reader honours."""
    alpha = np.full((1, 8, 8), 255, np.float32)
    alpha[0, :, :2] = 0
    path = _write(
        tmp_path / "w_input.tif", np.concatenate([_bands(), alpha]), names=[*MODEL_BANDS, ""]
    )
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [*[ColorInterp.gray] * len(MODEL_BANDS), ColorInterp.alpha]
    kept = " ".join(f"-b {i}" for i in range(1, 16))
    with pytest.raises(DatasetError) as err:
        read_input(path)
    assert str(err.value) == (
        f"{path}: 16 bands, expected 15: band 16 is an alpha band (gdalwarp -dstalpha), which "
        "the layout holds as a mask band: e.g. mv w_input.tif w_wide.tif && gdal_translate "
        f"--config GDAL_TIFF_INTERNAL_MASK YES {kept} -mask 16 w_wide.tif w_input.tif"
    )
    # the same where the 15 are cut out of a wider image (36 bands and an alpha)
    wide = np.concatenate([np.zeros((2, 8, 8), np.float32), _bands(), alpha])
    path = _write(tmp_path / "g.tif", wide, names=["a", "b", *MODEL_BANDS, ""])
    with rasterio.open(path, "r+") as dst:
        dst.colorinterp = [*[ColorInterp.gray] * 17, ColorInterp.alpha]
    with pytest.raises(DatasetError, match="gdal_translate --config GDAL_TIFF_INTERNAL_MASK YES "
                       "-mask 18 -b 3 -b 4 "):  # fmt: skip
        read_input(path)


def test_a_label_of_other_values_than_0_1_255_is_refused(tmp_path: Path) -> None:
    """Found by a new user: a 0/2 label read as all background (`label == 1`), silently."""
    from models.datasets import read_scene

    (tmp_path / "input").mkdir()
    (tmp_path / "label").mkdir()
    _write(tmp_path / "input" / "s_input.tif", _bands())
    label = np.zeros((1, 8, 8), np.uint8)
    label[0, 2:5, 2:5] = 2
    _write(tmp_path / "label" / "s_label.tif", label, dtype="uint8")
    with pytest.raises(DatasetError, match=r"s_label\.tif: label values \[2\]; a label holds 1"):
        read_scene(tmp_path, "s")
    # found by a new user: a label clipped to an outline, -9999 outside, got the hint of a 0/255
    # mask (A>0), which would make the outside background; it is its no-data to recode
    clipped = label.astype(np.float32)
    clipped[0, :, :2] = -9999
    clipped[0, 2:5, 2:5] = 1
    _write(tmp_path / "label" / "s_label.tif", clipped, nodata=-9999)
    with pytest.raises(DatasetError) as err:
        read_scene(tmp_path, "s")
    assert str(err.value).endswith(
        "recode its no-data (-9999, outside an export clipped to an outline) to 255: gdal_calc.py "
        '-A LABEL --outfile RECODED --calc "where(A==-9999,255,A)" --NoDataValue none'
    )  # gdal_calc.py needs an --outfile (found in a walkthrough: the command did not run)
    label[0, 2:5, 2:5] = 1
    label[0, 0, 0] = 255
    _write(tmp_path / "label" / "s_label.tif", label, dtype="uint8")
    scene = read_scene(tmp_path, "s")
    assert int(scene.label.sum()) == 9 and scene.ignore is not None and int(scene.ignore.sum()) == 1


def test_a_label_that_is_no_raster_is_refused_naming_it(tmp_path: Path) -> None:
    """Found walking the layout: an empty or damaged label file ended evaluate, compare and
    train with rasterio's traceback (exit 1) instead of the error naming the file (exit 2)."""
    from models.cli import main
    from models.datasets import read_scene

    (tmp_path / "input").mkdir()
    (tmp_path / "label").mkdir()
    _write(tmp_path / "input" / "Scene A_input.tif", _bands())
    (tmp_path / "label" / "Scene A_label.tif").write_bytes(b"")
    with pytest.raises(
        DatasetError, match=r"Scene A_label\.tif: cannot read label: the file is empty"
    ):
        read_scene(tmp_path, "Scene A")
    # the statistics are read before the checkpoint: the label is what stops the import
    args = ["import-checkpoint", str(tmp_path / "m.ckpt"), "--manifest", str(tmp_path / "m.json")]
    assert main([*args, "--stats-from", str(tmp_path)]) == 2


@pytest.mark.parametrize("kind", ["input", "label"])
def test_a_vrt_named_as_a_scene_file_is_refused_not_followed(tmp_path: Path, kind: str) -> None:
    """Found by a security review: GDAL picks a file's driver from its content, so a VRT named
    <id>_input.tif (or _label.tif), in a folder a user was sent, read another file of the
    machine (or a URL through /vsicurl/) as the scene's pixels. Scene files are read as GeoTIFF
    only."""
    from models.datasets import check_input, read_label

    secret = _write(tmp_path / "secret.tif", _bands())
    vrt = "".join(
        f'<VRTRasterBand dataType="Float32" band="{i + 1}"><SimpleSource>'
        f'<SourceFilename relativeToVRT="1">{secret.name}</SourceFilename>'
        f"<SourceBand>{i + 1}</SourceBand></SimpleSource></VRTRasterBand>"
        for i in range(len(MODEL_BANDS))
    )
    path = tmp_path / f"scene_{kind}.tif"
    path.write_text(f'<VRTDataset rasterXSize="8" rasterYSize="8">{vrt}</VRTDataset>')
    with rasterio.open(path) as src:  # what GDAL makes of it when let choose: the secret's pixels
        assert src.driver == "VRT" and src.read(1)[0, 0] == 0.5
    with pytest.raises(DatasetError, match=r"scene_.*\.tif: cannot read .*only GeoTIFF is read"):
        if kind == "input":
            check_input(path)
        else:
            read_label(path, (8, 8), None, None)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("empty", r"a_input\.tif: cannot read input: the file is empty \(0 bytes\)"),
        ("truncated", r"a_input\.tif: cannot read input: .* a GeoTIFF damaged or cut short"),
        ("a web page", r"a_input\.tif: cannot read input: .*only GeoTIFF is read"),
    ],
)
def test_a_stack_that_cannot_be_opened_says_what_the_file_is(
    tmp_path: Path, damage: str, message: str
) -> None:
    """Found on a walk: an empty file and a GeoTIFF cut short (a download that stopped) were
    refused with 'only GeoTIFF is read: a VRT or another format named .tif is refused', which
    sent a user looking for a VRT that was not there."""
    from models.datasets import check_input

    path = _write(tmp_path / "a_input.tif", _bands(), names=list(MODEL_BANDS))
    data = path.read_bytes()
    if damage == "empty":
        path.write_bytes(b"")
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    if damage == "a web page":
        path.write_bytes(b"<html>Quota exceeded</html>")
    with pytest.raises(DatasetError, match=message) as caught:
        check_input(path)
    assert ("VRT" in str(caught.value)) == (damage == "a web page")


@pytest.mark.parametrize(
    "layout",
    [
        dict(tiled=True, blockxsize=32, blockysize=32, interleave="pixel"),
        dict(tiled=False, blockysize=1, interleave="band"),  # strips of one row
        dict(tiled=False, blockysize=300, interleave="pixel"),  # blocks taller than the file
    ],
)
@pytest.mark.parametrize("step", [1, 4])
def test_bands_are_read_strip_by_strip_on_one_grid(tmp_path, layout, step, monkeypatch):
    """read_bands reads a stack in strips (read whole, a pixel-interleaved stack larger than
    GDAL's block cache decoded every block once per band: 47.7 s against 8.9 s for a
    5000 x 5000 stack, the checks' decimated sample 189.7 s against 7.5 s;
    bench/bench_check_stack.py). Step 1 gives what one read gives; step 4 the pixel nearest
    the centre of each 4 x 4 cell from the top-left corner, in rows and columns alike (151 x
    103 pixels: the last 3 rows and columns make no cell), the same pixels in every band, no
    data masked."""
    monkeypatch.setattr(datasets, "_MIN_STRIP_ROWS", 8)  # several strips in a small file
    height, width = 151, 103
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    bands = np.stack([rows * 1000 + cols + b for b in range(len(MODEL_BANDS))])
    bands[:, 140:, 90:] = np.nan
    path = tmp_path / "a_input.tif"
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width,
                       count=len(bands), dtype="float32", crs="EPSG:32632",
                       transform=TRANSFORM, nodata=np.nan, **layout) as dst:  # fmt: skip
        dst.write(bands)
    with rasterio.open(path) as src:
        sample = read_bands(src, step=step)
        if step == 1:
            whole = src.read(masked=True)
            np.testing.assert_array_equal(sample.mask, np.ma.getmaskarray(whole))
            np.testing.assert_array_equal(sample.data[~sample.mask], whole.data[~sample.mask])
        assert sample.shape == (len(MODEL_BANDS), height // step, width // step)
        picked_rows = np.arange(height // step) * step + step // 2
        picked_cols = np.arange(width // step) * step + step // 2
        expected = picked_rows[:, None] * 1000.0 + picked_cols[None, :]
        gap = (picked_rows[:, None] >= 140) & (picked_cols[None, :] >= 90)
        for b in range(len(MODEL_BANDS)):  # the same pixels in every band, no data masked
            np.testing.assert_array_equal(cast(np.ndarray, sample.mask)[b], gap)
            np.testing.assert_array_equal(sample.data[b][~gap], (expected + b)[~gap])
        # the bands asked for, in the order asked
        np.testing.assert_array_equal(read_bands(src, [3, 1], step)[0], sample[2])


def test_a_file_fewer_rows_high_than_the_step_gives_the_row_nearest_its_centre(tmp_path):
    """3 rows and a step of 10: the middle row, one pixel of each whole 10-column cell."""
    path = tmp_path / "a_input.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=40, count=1,
                       dtype="float32", crs="EPSG:32632", transform=TRANSFORM) as dst:  # fmt: skip
        dst.write(np.arange(120, dtype=np.float32).reshape(1, 3, 40))
    with rasterio.open(path) as src:
        assert read_bands(src, step=10).data.tolist() == [[[45.0, 55.0, 65.0, 75.0]]]


def test_a_decimated_read_takes_the_file_s_pixels_not_its_overviews(tmp_path):
    """Found in a walk: a Cloud-Optimised GeoTIFF's averaged overviews answered the checks'
    decimated read, and land-cover classes read as 9.77 or 30.2. Every pixel here is a class
    (10, 20, ..., 100); the overview, averaged, holds none of them; the read holds the pixel
    nearest each 4 x 4 cell's centre, as in a file without overviews."""
    rng = np.random.default_rng(0)
    classes = rng.integers(1, 11, (1, 64, 64)).astype(np.float32) * 10
    path = tmp_path / "a_input.tif"
    with rasterio.open(path, "w", driver="GTiff", height=64, width=64, count=1,
                       dtype="float32", crs="EPSG:32632", transform=TRANSFORM, tiled=True,
                       blockxsize=16, blockysize=16) as dst:  # fmt: skip
        dst.write(classes)
        dst.build_overviews([4], Resampling.average)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [4]
        overview = src.read(1, out_shape=(16, 16))
        assert not np.isin(overview, classes).all()  # what GDAL's own decimated read gives
        sample = read_bands(src, step=4)
    np.testing.assert_array_equal(sample.data[0], classes[0, 2::4, 2::4])
