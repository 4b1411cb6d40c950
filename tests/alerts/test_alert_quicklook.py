"""Quicklook PNGs: four panels around the candidate, outline drawn, missing data shown."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread
from shapely.geometry import box

from monitor.alerts.quicklook import render_quicklook, write_quicklooks

H, W = 120, 160
X0, Y0 = 600_000.0, 1_270_000.0


def _stack(post_rgb_missing: bool = False) -> xr.Dataset:
    x = X0 + 5 + 10 * np.arange(W)
    y = Y0 - 5 - 10 * np.arange(H)
    green = np.zeros((3, H, W), np.float32)
    green[1] = 0.15  # green vegetation everywhere
    post = green.copy()
    post[:, 40:60, 50:70] = 0.25  # bare soil where the landslide is
    dndvi = np.zeros((H, W), np.float32)
    dndvi[40:60, 50:70] = -0.5
    return xr.Dataset(
        {
            "pre_rgb": (("rgb", "y", "x"), green),
            "post_rgb": (
                ("rgb", "y", "x"),
                np.full_like(post, np.nan) if post_rgb_missing else post,
            ),
            "dNDVI": (("y", "x"), dndvi),
            "dVV": (("y", "x"), np.full((H, W), -1.0, np.float32)),
        },
        coords={"x": x, "y": y},
        attrs={"region": "test-region"},
    )


def _red_pixels(image: np.ndarray) -> int:
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return int(((r > 0.9) & (g < 0.2) & (b < 0.2)).sum())


def test_quicklook_png_has_four_panels_and_the_outline(tmp_path):
    # The landslide: rows 40..60, cols 50..70 of the stack.
    outline = box(X0 + 500, Y0 - 600, X0 + 700, Y0 - 400)
    path = render_quicklook(_stack(), outline, tmp_path / "sub" / "ql.png", dpi=50)
    image = imread(path)
    assert image.shape[:2] == (180, 640)  # 4 panels x 3.2 in x 50 dpi, 3.6 in high
    assert _red_pixels(image) > 100  # the outline on every panel
    quarters = np.array_split(image[:, :, :3], 4, axis=1)
    assert all(_red_pixels(q) > 20 for q in quarters)


def test_missing_optical_and_outside_candidate(tmp_path):
    outline = box(X0 + 500, Y0 - 600, X0 + 700, Y0 - 400)
    path = render_quicklook(_stack(post_rgb_missing=True), outline, tmp_path / "ql.png", dpi=40)
    assert path.stat().st_size > 1000
    far = box(X0 + 50_000, Y0, X0 + 50_100, Y0 + 100)
    with pytest.raises(ValueError, match="outside the feature stack of region 'test-region'"):
        render_quicklook(_stack(), far, tmp_path / "far.png")


_KILLED_WHILE_SAVING = """
import os, signal, sys
from pathlib import Path
import PIL.ImageFile
from shapely.geometry import box
from tests.alerts.test_alert_quicklook import X0, Y0, _stack
from monitor.alerts.quicklook import render_quicklook, write_quicklooks

def dying(im, fp, tile, bufsize=0):  # the picture's header and some pixels, then SIGKILL
    fp.write(bytes(20000))  # more than the file's buffer: on the disk when the process dies
    os.kill(os.getpid(), signal.SIGKILL)

PIL.ImageFile._save = dying
render_quicklook(_stack(), box(X0 + 500, Y0 - 600, X0 + 700, Y0 - 400), Path(sys.argv[1]))
"""


def test_a_run_killed_while_drawing_a_quicklook_leaves_the_earlier_picture_whole(tmp_path):
    """Found in the crash walk: a rerun of a day killed while it drew a quicklook left a
    truncated PNG under the name the inventory and a pending alert point to; the review map
    embedded it and the e-mail inlined it (it starts as a PNG does)."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    outline = box(X0 + 500, Y0 - 600, X0 + 700, Y0 - 400)
    path = render_quicklook(_stack(), outline, tmp_path / "candidate-001.png")
    earlier = path.read_bytes()
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_SAVING, str(path)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert path.read_bytes() == earlier


def test_a_date_run_again_with_other_candidates_keeps_the_pictures_stored_before(tmp_path):
    """Found walking an inventory's life: quicklooks were named by the candidate's rank in the
    run, so running a past date again with another model or other rules wrote its first
    candidate over the picture of the landslide the inventory and its alerts already named,
    which then showed another object. The same candidate run again keeps its name."""
    from datetime import date

    import geopandas as gpd

    def run(outline):
        frame = gpd.GeoDataFrame({"area_m2": [outline.area]}, geometry=[outline], crs="EPSG:32632")
        out = write_quicklooks(
            _stack(), frame, tmp_path, region="r", run_date=date(2024, 9, 15), limit=5
        )
        return Path(out["quicklook"].iloc[0])

    slide = box(X0 + 500, Y0 - 600, X0 + 700, Y0 - 400)
    first = run(slide)
    stored = first.read_bytes()
    other = run(box(X0 + 900, Y0 - 900, X0 + 1000, Y0 - 800))  # another model's first
    assert other != first and other.name.startswith("candidate-001-")
    assert first.read_bytes() == stored
    assert run(slide) == first  # the same candidate again: the same file
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted([first.name, other.name])


def test_a_full_disk_stops_the_quicklooks_and_says_so_once(tmp_path, monkeypatch):
    """Found in a crash walkthrough: on a full disk each of 52 pictures was tried and warned of,
    and the run's summary said nothing; the rest are not tried after the first, and one line
    for the summary says how many were not written and why."""
    import errno
    from datetime import date

    import geopandas as gpd

    import monitor.alerts.quicklook as quicklook

    calls = []

    def full(stack, outline, path, *, title):
        calls.append(path)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(quicklook, "render_quicklook", full)
    outlines = [box(X0 + 100 * i, Y0 - 300, X0 + 100 * i + 50, Y0 - 250) for i in range(4)]
    frame = gpd.GeoDataFrame({"area_m2": [o.area for o in outlines]}, geometry=outlines,
                             crs="EPSG:32632")  # fmt: skip
    problems: list[str] = []
    out = write_quicklooks(_stack(), frame, tmp_path, region="r", run_date=date(2024, 9, 15),
                           limit=3, problems=problems)  # fmt: skip
    assert len(calls) == 1 and out["quicklook"].isna().all()
    assert problems == [
        f"3 of 3 quicklook(s) not written in {tmp_path}: [Errno 28] No space left on device"
    ]


def test_a_killed_run_s_partial_pictures_go_when_the_folder_is_written_again(
    tmp_path: Path,
) -> None:
    """Found by a disaster agency's walk: a run killed while saving a quicklook left its hidden
    temporary file, and the run of the same date done again left it there."""
    from datetime import date

    import geopandas as gpd

    left = tmp_path / ".candidate-012-8750fef3.png.a9ca98bb.part.png"
    left.write_bytes(b"\x89PNG half")
    os.utime(left, (1e9, 1e9))  # written long ago, by a run since killed
    live = tmp_path / ".candidate-013-0badcafe.png.0123abcd.part.png"  # a writer at work
    live.write_bytes(b"\x89PNG")
    other = tmp_path / "notes.part.png"  # not a temporary file of ours: kept
    other.write_bytes(b"x")
    outline = box(X0 + 100, Y0 - 300, X0 + 150, Y0 - 250)
    frame = gpd.GeoDataFrame({"area_m2": [outline.area]}, geometry=[outline], crs="EPSG:32632")
    out = write_quicklooks(_stack(), frame, tmp_path, region="r", run_date=date(2024, 9, 15),
                           limit=3)  # fmt: skip
    assert not left.exists() and other.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [Path(out["quicklook"][0]).name, "notes.part.png", live.name]
    )
    # and where the run draws nothing (found in review: the cleanup came after that return)
    left.write_bytes(b"\x89PNG half")
    os.utime(left, (1e9, 1e9))
    write_quicklooks(_stack(), frame.iloc[:0], tmp_path, region="r", run_date=date(2024, 9, 15),
                     limit=3)  # fmt: skip
    assert not left.exists()


def test_read_png_returns_a_regular_png_within_its_size_and_nothing_else(tmp_path: Path) -> None:
    """The one gate a quicklook path read back from the inventory passes before its bytes are
    mailed or embedded: checked and read through one open file (no swap between the check
    and the read), a regular PNG only, and no more than the caller may embed."""
    from monitor.alerts.payload import is_png, read_png

    png = tmp_path / "ql.png"
    body = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # 1032 bytes
    png.write_bytes(body)
    assert read_png(png) == body and is_png(png)
    assert read_png(png, max_bytes=1032) == body
    assert read_png(png, max_bytes=1031) is None  # too large to embed: linked instead
    key = tmp_path / "key.json"
    key.write_text('{"private_key": "TOPSECRET"}')
    assert read_png(key) is None and not is_png(key)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    assert read_png(fifo) is None and not is_png(fifo)  # at once: no writer waited for
    assert read_png(tmp_path) is None and read_png(tmp_path / "absent.png") is None


def test_the_pictures_go_to_new_detections_before_known_ones(tmp_path):
    """Found in a walkthrough of 147 daily runs: a run drew its region's 20 largest detections;
    from the fifth week more than 20 of them were landslides the inventory already held, and
    56 % of August's new alerts came without a picture. Detections that touch no known outline
    are drawn first, each group largest first."""
    from datetime import date

    import geopandas as gpd
    import shapely

    from monitor.alerts.quicklook import first_drawn

    # largest first, as the chain orders them: two known (0, 2), two new (1, 3)
    outlines = [box(X0 + 100 * k, Y0 - 900, X0 + 100 * k + 60 - 5 * k, Y0 - 840) for k in range(4)]
    frame = gpd.GeoDataFrame(
        {"area_m2": [g.area for g in outlines]}, geometry=outlines, crs="EPSG:32643"
    )
    known = [(32643, shapely.to_wkb(outlines[0].buffer(-10))), (32643, shapely.to_wkb(outlines[2]))]
    assert first_drawn(frame, known) == [1, 3, 0, 2]
    assert first_drawn(frame, []) == [0, 1, 2, 3]
    assert first_drawn(frame, [(32632, wkb) for _, wkb in known]) == [0, 1, 2, 3]  # other CRS
    # within the inventory's match tolerance a detection is taken for the known landslide
    # (found in review: one 5 m from a known outline was drawn as new)
    near = [(32643, shapely.to_wkb(box(X0 + 80, Y0 - 900, X0 + 95, Y0 - 840)))]  # 5 m west of 1
    assert first_drawn(frame, near) == [0, 1, 2, 3]  # 5 m apart: not touching
    assert first_drawn(frame, near, within_m=10.0) == [0, 2, 3, 1]

    out = write_quicklooks(
        _stack(), frame, tmp_path, region="r", run_date=date(2024, 9, 15), limit=2, known=known
    )
    drawn = out["quicklook"].notna().tolist()
    assert drawn == [False, True, False, True]
    # each file keeps its candidate's rank in the run
    assert Path(out["quicklook"][1]).name.startswith("candidate-002-")
    assert Path(out["quicklook"][3]).name.startswith("candidate-004-")
