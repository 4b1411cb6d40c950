"""Members trained without a band (``without_bands``, e.g. the land cover): the grid sets it per
setting, the member never sees the band in training or prediction, and the manifest carries it
(docs/models.md, "Members without the land cover")."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from models.cli import main
from models.datasets import Scene, write_scene
from models.ensemble import DEFAULT_MANIFEST, Ensemble
from models.finetune import _seed_for as finetune_seed
from models.grid import GridConfig, expand, load_grid, run_grid, trained_results
from models.inference import predict_members
from models.manifest import MemberEntry, read_manifest, write_manifest
from models.testing import TEST_ENCODER, tiny_grid
from models.train import _seed_for
from models.zoo import COMPACT_DECODERS, Member, MemberSpec


def _member(without: tuple[str, ...] = (), seed: int = 0) -> Member:
    torch.manual_seed(seed)
    spec = MemberSpec("Unet", TEST_ENCODER, "Dice", 0.01, "S2", 2, dict(COMPACT_DECODERS["Unet"]),
                      without_bands=without)  # fmt: skip
    # landcover (band 0 of S2) standardised to mean 40 / std 30, dNDVI to 0 / 0.2
    return Member(spec, [40.0, 0.0], [30.0, 0.2]).eval()


def _s2(landcover: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dndvi = rng.normal(-0.1, 0.2, landcover.shape).astype(np.float32)
    return np.stack([landcover.astype(np.float32), dndvi])


def _training_scenes(root: Path, scene_factory: Callable[..., Scene]) -> None:
    """Two small training scenes and one validation scene under ``root``."""
    for folder, seeds in (("train", (1, 2)), ("val", (3,))):
        for seed in seeds:
            write_scene(root / folder, scene_factory(seed, size=96))


def test_a_member_without_the_land_cover_gives_the_same_probabilities_whatever_it_holds() -> None:
    shown, blind = _member(), _member(("landcover",))
    assert blind.spec.name.endswith("-without-landcover") and blind.spec.name != shown.spec.name
    rng = np.random.default_rng(0)
    forest = _s2(np.full((64, 64), 10))
    mixed = _s2(rng.choice([10, 20, 30, 40, 0], size=(64, 64)))
    # the two members in one call, the one that sees the band first: members of a setting share
    # their normalisation statistics, and prediction normalises each group of them once
    a = predict_members([shown, blind], forest, tile=64, engine="torch")
    b = predict_members([shown, blind], mixed, tile=64, engine="torch")
    assert np.abs(a[0] - b[0]).max() > 1e-3  # the member that sees the land cover responds
    np.testing.assert_array_equal(a[1], b[1])  # the other does not, to the bit
    # and its output is that of the band at its training mean (0 once standardised)
    at_mean = _s2(np.full((64, 64), 40))
    np.testing.assert_array_equal(predict_members([blind], at_mean, tile=64, engine="torch")[0],
                                  a[1])  # fmt: skip
    # the band's channel still counts for validity: a NaN there is no data, as for any member
    hole = forest.copy()
    hole[0, :4, :4] = np.nan
    assert np.isnan(predict_members([blind], hole, tile=64, engine="torch")[0, :4, :4]).all()


def test_without_bands_names_the_band_and_the_setting_when_it_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"member S2-Unet-\S+ \(setting S2\): without_bands "
                       r"dVV not among its bands \(landcover, dNDVI\)"):  # fmt: skip
        _member(("dVV",))
    with pytest.raises(ValueError, match=r"\(setting S2\): without_bands leaves it no band"):
        _member(("landcover", "dNDVI"))
    grid = {"settings": ["S1", "S2"], "encoder": TEST_ENCODER}
    with pytest.raises(ValueError, match=r"without_bands: 'land_cover' is not a band of any "
                       r"setting of the grid \(S1, S2\); their bands: preVV, "):  # fmt: skip
        GridConfig.model_validate({**grid, "without_bands": ["land_cover"]})
    with pytest.raises(ValueError, match="without_bands leaves setting S2 no band"):
        GridConfig.model_validate({**grid, "without_bands": ["landcover", "dNDVI"]})
    # per setting: the band must be the listed setting's, the setting the grid's
    with pytest.raises(ValueError, match=r"'landcover' is not a band of S1 \(S1\); their "
                       r"bands: preVV, postVV"):  # fmt: skip
        GridConfig.model_validate({**grid, "without_bands": {"S1": ["landcover"]}})
    with pytest.raises(ValueError, match=r"without_bands: 'S1\+S2' not among the grid's "
                       r"settings \(S1, S2\)"):  # fmt: skip
        GridConfig.model_validate({**grid, "without_bands": {"S1+S2": ["landcover"]}})
    with pytest.raises(ValueError, match="without_bands leaves setting S2 no band"):
        GridConfig.model_validate({**grid, "without_bands": {"S2": ["landcover", "dNDVI"]}})
    with pytest.raises(ValueError, match="without_bands names 'landcover' twice for any "
                       "setting of the grid"):  # fmt: skip
        GridConfig.model_validate({**grid, "without_bands": ["landcover", "landcover"]})
    with pytest.raises(ValueError, match="without_bands names 'landcover' twice for S2"):
        GridConfig.model_validate({**grid, "without_bands": {"S2": ["landcover", "landcover"]}})
    entry = {
        "name": "m", "setting": "S2", "bands": ["landcover", "dNDVI"], "architecture": "Unet",
        "encoder": TEST_ENCODER, "loss": "Dice", "learning_rate": 0.01,
        "normalisation": {"mean": [0.0, 0.0], "std": [1.0, 1.0]}, "file": "m.safetensors",
        "sha256": "0" * 64,
    }  # fmt: skip
    assert MemberEntry.model_validate(entry).without_bands == []  # manifests before the field
    with pytest.raises(ValueError, match=r"without_bands slope not among its bands"):
        MemberEntry.model_validate({**entry, "without_bands": ["slope"]})


def test_a_grid_without_the_land_cover_trains_members_that_never_see_it(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    _training_scenes(tmp_path, scene_factory)
    raw = {**tiny_grid("train", "val"), "settings": ["S1", "S2"], "without_bands": ["landcover"]}
    specs = expand(GridConfig.model_validate(raw))
    assert {s.setting: s.without_bands for s in specs} == {"S1": (), "S2": ("landcover",)}
    per_setting = {**raw, "settings": ["S2", "S1+S2"], "without_bands": {"S2": ["landcover"]}}
    specs = expand(GridConfig.model_validate(per_setting))
    assert {s.setting: s.without_bands for s in specs} == {"S2": ("landcover",), "S1+S2": ()}
    # the cell, and so the training seed, is that of the member trained with the band
    assert specs[0].cell == specs[0].name.removesuffix("-without-landcover") != specs[0].name
    raw["settings"] = ["S2"]
    (tmp_path / "grid.yaml").write_text(yaml.safe_dump(raw))
    manifest_path = run_grid(
        load_grid(tmp_path / "grid.yaml"), tmp_path / "work", tmp_path / "ens", progress=False
    )
    manifest = read_manifest(manifest_path)
    assert manifest.members and all(m.without_bands == ["landcover"] for m in manifest.members)
    assert manifest.training["grid"]["without_bands"] == ["landcover"]
    assert '"without_bands": [\n        "landcover"\n      ]' in manifest_path.read_text()
    ens = Ensemble.load(manifest_path)
    (member,) = ens.members("S2")[:1]
    assert member.spec.without_bands == ("landcover",)
    scene = scene_factory(4, size=64)
    x = scene.image[[13, 14]]
    other = x.copy()
    other[0] = np.where(other[0] == 10, 30, 10)  # every pixel's class changed
    assert (x[0] != other[0]).all()
    a, b = ens.predict_array(x, "S2"), ens.predict_array(other, "S2")
    assert np.isfinite(a.probability).mean() > 0.5
    np.testing.assert_array_equal(a.members, b.members)


def test_withholding_nothing_changes_no_seed_no_record_and_no_id(tmp_path: Path) -> None:
    shown = MemberSpec("Unet", TEST_ENCODER, "Dice", 0.01, "S2", 2)
    blind = MemberSpec("Unet", TEST_ENCODER, "Dice", 0.01, "S2", 2, without_bands=("landcover",))
    # the pair starts from the same weights and crops; an existing member keeps its old seed
    assert (
        _seed_for(blind, 3) == _seed_for(shown, 3) == (zlib.crc32(shown.name.encode()) + 3) % 2**31
    )
    # fine-tuned too: from the name less the withheld bands; every other member keeps the seed
    # its name gave (an imported one's name, the spec's and the checkpoint's, included)
    assert (
        finetune_seed(blind.name, blind.without_bands, 3)
        == finetune_seed(shown.name, (), 3)
        == 3 + sum(shown.name.encode())
    )
    imported = f"{shown.name}-ganerod"
    assert finetune_seed(imported, (), 3) == 3 + sum(imported.encode())
    # records written as before the option: the spec (ONNX graph cache keys, result.json) ...
    assert "without_bands" not in shown.to_dict()
    assert blind.to_dict()["without_bands"] == ["landcover"]
    assert MemberSpec(**blind.to_dict()) == blind and MemberSpec(**shown.to_dict()) == shown
    # ... and the shipped manifest, read and written back, to the byte
    path = write_manifest(tmp_path / "manifest.json", read_manifest(DEFAULT_MANIFEST))
    assert path.read_bytes() == DEFAULT_MANIFEST.read_bytes()
    # a withheld band is not in the weights file, so the ensemble's id counts it
    manifest = read_manifest(DEFAULT_MANIFEST)
    first = manifest.members[0]
    band = first.bands[0]
    changed = manifest.model_copy(
        update={"members": [first.model_copy(update={"without_bands": [band]}),
                            *manifest.members[1:]]}
    )  # fmt: skip
    assert changed.ensemble_id != manifest.ensemble_id
    entry = first.model_dump(mode="json")
    with pytest.raises(ValueError, match="names a band twice"):
        MemberEntry.model_validate({**entry, "without_bands": [band, band]})
    with pytest.raises(ValueError, match="leaves it no band"):
        MemberEntry.model_validate({**entry, "without_bands": list(first.bands)})


def test_a_user_s_slips_with_without_bands_are_named_and_say_the_fix(
    tmp_path: Path,
    scene_factory: Callable[..., Scene],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found on a walkthrough: a lone band name got pydantic's "Input should be a valid list"
    and its dump; `select` with the grid less its without_bands skipped the trained members
    without a hint; `models info` did not show a withheld band."""
    grid_file = tmp_path / "grid.yaml"
    for given, got in (
        ("landcover", "got 'landcover'"),
        ({"S2": "landcover"}, "got 'S2: landcover'"),
    ):
        grid_file.write_text(yaml.safe_dump({"settings": ["S2"], "without_bands": given}))
        with pytest.raises(ValueError) as refused:
            load_grid(grid_file)
        assert str(refused.value) == (
            f"{grid_file}: invalid training grid: without_bands: a list of band names "
            f"([landcover]) or, per setting, a mapping of lists ({{S2: [landcover]}}); {got}"
        )
    _training_scenes(tmp_path, scene_factory)
    raw = {**tiny_grid("train", "val"), "architectures": ["Unet"], "without_bands": ["landcover"]}
    grid_file.write_text(yaml.safe_dump(raw))
    manifest = run_grid(load_grid(grid_file), tmp_path / "work", tmp_path / "ens", progress=False)
    assert main(["info", str(manifest)]) == 0
    assert "tu-mobilenetv3_small_050  without landcover\n" in capsys.readouterr().out.replace(
        TEST_ENCODER, "tu-mobilenetv3_small_050"
    )
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump({k: v for k, v in raw.items() if k != "without_bands"}))
    with caplog.at_level(logging.WARNING, logger="models.grid"):
        assert trained_results(load_grid(plain), tmp_path / "work") == []
    (warning,) = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert warning.endswith(
        "; the work folder holds S2-Unet-Dice-lr0.01-"
        f"{TEST_ENCODER}-without-landcover, trained with other without_bands: give the grid "
        "that trained it"
    )
