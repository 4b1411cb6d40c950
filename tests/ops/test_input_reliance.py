"""``bench/bench_input_reliance.py``: each perturbation changes only its own bands, the map error
re-classes about the share it is asked to, and its unperturbed row is ``models evaluate``'s."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy import ndimage

from models.evaluate import evaluate_folder
from models.feature_stack import MODEL_BANDS
from models.worldcover import BUILT, CROP, GRASS, SHRUB, TREE, WATER
from tests.ops.ops_fixtures import load_bench

ROOT = Path(__file__).resolve().parents[2]
BAND = {name: i for i, name in enumerate(MODEL_BANDS)}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_bench("bench_input_reliance")


def _image(rng: np.random.Generator, size: int = 200) -> np.ndarray:
    image = rng.normal(-10.0, 3.0, (len(MODEL_BANDS), size, size)).astype(np.float32)
    # land cover in quarters: tree, grass, water, built; a crop and a shrub strip
    lc = np.full((size, size), TREE, np.float32)
    half = size // 2
    lc[:half, half:] = GRASS
    lc[half:, :half] = WATER
    lc[half:, half:] = BUILT
    lc[:10] = CROP
    lc[:, :10] = SHRUB
    image[BAND["landcover"]] = lc
    image[BAND["postVV"], 0, 0] = np.nan
    return image


def test_radar_unchanged_sets_post_to_pre_and_leaves_the_rest(bench: ModuleType) -> None:
    rng = np.random.default_rng(0)
    image = _image(rng)
    out = bench.radar_unchanged(image, rng)
    for pol in ("VV", "VH"):
        np.testing.assert_array_equal(out[BAND[f"post{pol}"]], image[BAND[f"pre{pol}"]])
        assert np.all(out[BAND[f"d{pol}"]] == 0.0)
    radar = {f"{w}{pol}" for w in ("pre", "post", "d") for pol in ("VV", "VH")}
    others = [i for n, i in BAND.items() if n not in radar]
    np.testing.assert_array_equal(out[others], image[others])
    assert np.isnan(image[BAND["postVV"], 0, 0])  # the input is not written to


def test_map_error_reclasses_about_a_quarter_of_the_vegetation_in_blobs(
    bench: ModuleType,
) -> None:
    image = _image(np.random.default_rng(1))
    lc = image[BAND["landcover"]]
    vegetated = np.isin(lc, (TREE, SHRUB, GRASS, CROP))
    shares = []
    for seed in range(8):
        out = bench.landcover_map_error(1.0 / 3.0)(image, np.random.default_rng(seed))
        new = out[BAND["landcover"]]
        # water and built-up are never touched; vegetation only becomes vegetation
        np.testing.assert_array_equal(new[~vegetated], lc[~vegetated])
        assert set(np.unique(new[vegetated])) <= {TREE, SHRUB, GRASS, CROP}
        # a third of the scene under blobs, each blob one class of four: a quarter of those
        # pixels keep theirs, so about 1/3 x 3/4 = 0.25 of the vegetation changes class
        shares.append(bench.changed_share(image, out))
        # a blob is one class: within each connected changed patch of one landscape quarter,
        # the tree quarter's changed pixels take a single new class per blob
        changed = (new != lc) & (lc == TREE)
        blobs, n = ndimage.label(changed)
        for b in range(1, n + 1):
            assert len(np.unique(new[blobs == b])) == 1
        others = [i for i in range(len(MODEL_BANDS)) if i != BAND["landcover"]]
        np.testing.assert_array_equal(out[others], image[others])
    assert 0.18 < float(np.mean(shares)) < 0.32, shares
    same = bench.landcover_map_error(0.3)(image, np.random.default_rng(5))
    again = bench.landcover_map_error(0.3)(image, np.random.default_rng(5))
    np.testing.assert_array_equal(same, again)


def test_all_tree_and_refusals(bench: ModuleType) -> None:
    image = _image(np.random.default_rng(2))
    image[BAND["landcover"], 5, 5] = np.nan
    out = bench.landcover_all_tree(image, np.random.default_rng(0))
    lc = out[BAND["landcover"]]
    assert np.isnan(lc[5, 5])
    assert np.all(lc[np.isfinite(lc)] == TREE)
    none = bench.landcover_no_data(image, np.random.default_rng(0))[BAND["landcover"]]
    assert np.isnan(none[5, 5]) and np.all(none[np.isfinite(none)] == 0)
    for share in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="--map-error must be in"):
            bench.landcover_map_error(share)


def test_the_unperturbed_row_is_evaluates_pooled_score(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    foreign = load_bench("foreign_scenes")
    foreign.write_foreign(tmp_path / "scenes", n_storm=1, n_quiet=0, seed=4)
    data = tmp_path / "scenes" / "storm"
    assert bench.main(["--data", str(data), "--setting", "S2", "--setting", "S1+S2"]) == 0
    rows = [line.split("|")[1:-1] for line in capsys.readouterr().out.splitlines() if "|" in line]
    table = {(r[0].strip(), r[2].strip()): [c.strip() for c in r] for r in rows[2:]}
    report = evaluate_folder(
        data,
        ROOT / "models/default/manifest.json",
        tmp_path / "eval",
        settings=["S2", "S1+S2"],
        device="cpu",
        write_predictions=False,
        progress=False,
    )
    for setting in ("S2", "S1+S2"):
        pooled = report["settings"][setting]["pooled"]["ensemble"]
        assert table[("as they are", setting)][5] == f"{pooled['f1']:.3f}"
        assert table[("as they are", setting)][6] == "+0.000"
    # S2 members never read radar: their row is unchanged by it
    assert table[("radar unchanged", "S2")][5] == table[("as they are", "S2")][5]
    assert json.loads((tmp_path / "eval" / "report.json").read_text())["scenes"] == [
        "foreign-storm-000"
    ]


def test_without_the_world_make_bench_skips(
    bench: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(bench, "DEFAULT_DATA", tmp_path / "randomised" / "test")
    assert bench.main([]) == 0
    assert capsys.readouterr().out.startswith(f"skipped: no {tmp_path / 'randomised' / 'test'}")
    with pytest.raises(SystemExit) as refused:
        bench.main(["--data", str(tmp_path)])
    assert refused.value.code == 2
    assert f"--data {tmp_path}: no input/ folder" in capsys.readouterr().err
