"""Ensemble: loading verifies checksums, outputs are the members' mean, tiling is seamless."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rioxarray  # noqa: F401
import torch
import xarray as xr

from models.ensemble import DEFAULT_MANIFEST, Ensemble
from models.feature_stack import MODEL_BANDS
from models.inference import predict_members, tile_grid
from models.manifest import ManifestError, read_manifest
from models.testing import build_untrained_ensemble


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_untrained_ensemble(tmp_path_factory.mktemp("ens"), settings=("S2", "S1+S2"))


def _stack(h: int, w: int, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    ds = xr.Dataset(
        {b: (("y", "x"), rng.normal(size=(h, w)).astype(np.float32)) for b in MODEL_BANDS},
        coords={"y": 5_000_000 - 10.0 * np.arange(h) - 5, "x": 500_000 + 10.0 * np.arange(w) + 5},
    )
    return ds.rio.write_crs(32633)


def test_predict_gives_mean_spread_agreement_on_the_stack_grid(manifest: Path) -> None:
    ens = Ensemble.load(manifest)
    assert ens.settings == ("S2", "S1+S2")
    stack = _stack(70, 90)
    stack["dNDVI"][5:9, 10:20] = np.nan
    out = ens.predict(stack, "S2")
    assert set(out.data_vars) == {"probability", "spread", "agreement"}
    assert out.attrs["setting"] == "S2" and out.attrs["threshold"] == 0.5
    assert out.attrs["members"].split(",") == list(ens.member_names("S2"))
    np.testing.assert_array_equal(out["x"], stack["x"])
    assert out.rio.crs.to_epsg() == 32633
    p = out["probability"].values
    assert np.isnan(p[5:9, 10:20]).all() and np.isnan(out["agreement"].values[5:9, 10:20]).all()
    assert np.isfinite(p).sum() == 70 * 90 - 40
    x = np.stack([stack["landcover"].values, stack["dNDVI"].values])
    each = predict_members(ens.members("S2"), x)
    np.testing.assert_allclose(p, each.mean(axis=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(out["spread"].values, each.std(axis=0), atol=1e-6)
    agree = (each >= 0.5).mean(axis=0)
    ok = np.isfinite(p)
    np.testing.assert_allclose(out["agreement"].values[ok], agree[ok])


def test_unknown_setting_is_named(manifest: Path) -> None:
    with pytest.raises(ManifestError, match=r"no members for setting 'S1'.*S2, S1\+S2"):
        Ensemble.load(manifest).predict(_stack(32, 32), "S1")


class _LocalNet(torch.nn.Module):
    """A 9x9 convolution: its output depends on pixels at most 4 away."""

    min_side = 32

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 1, 9, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.nan_to_num(x))


def test_tiled_equals_untiled_for_a_local_model() -> None:
    x = np.random.default_rng(3).normal(size=(2, 300, 333)).astype(np.float32)
    x[:, 5:8, 5:9] = np.nan
    net = _LocalNet()
    whole = predict_members([net], x, tile=352, overlap=0)[0]
    assert tile_grid(300, 128, 32) == [0, 96, 172]
    tiled = predict_members([net], x, tile=128, overlap=32, batch_size=5)[0]
    # exact wherever the receptive field (4 px) stays inside the ignored quarter of the overlap
    np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)
    assert np.isnan(tiled[5:8, 5:9]).all() and np.isnan(tiled).sum() == 12


def test_tiled_matches_untiled_for_a_deep_member_away_from_edges(manifest: Path) -> None:
    unet = Ensemble.load(manifest).members("S2")[0]
    assert unet.spec.architecture == "Unet"
    x = np.random.default_rng(3).normal(size=(2, 512, 512)).astype(np.float32)
    whole = predict_members([unet], x, tile=512, overlap=0)[0]
    tiled = predict_members([unet], x, tile=256, overlap=96, batch_size=4)[0]
    diff = np.abs(whole - tiled)[32:-32, 32:-32]
    assert np.median(diff) < 1e-3
    assert np.percentile(diff, 99) < 1e-2


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    manifest = build_untrained_ensemble(tmp_path, settings=("S2",), architectures=("Unet",))
    entry = json.loads(manifest.read_text())["members"][0]
    weights = tmp_path / entry["file"]
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=r"fails its SHA-256 check.*refusing to load"):
        Ensemble.load(manifest)


def test_manifest_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "manifest.json"
    bad.write_text('{"format": "landslide-ensemble/1", "settings": {}, "members": [], "x": 1}')
    with pytest.raises(ManifestError, match=str(bad)):
        Ensemble.load(bad)
    with pytest.raises(ManifestError, match="not found"):
        Ensemble.load(tmp_path / "missing.json")


def test_a_repeated_member_name_is_named(tmp_path: Path) -> None:
    """Found in an audit: the refusal said the names were not unique, not which one."""
    raw = json.loads(DEFAULT_MANIFEST.read_text())
    raw["members"].append(dict(raw["members"][1]))
    edited = tmp_path / "manifest.json"
    edited.write_text(json.dumps(raw))
    name = raw["members"][1]["name"]
    with pytest.raises(ManifestError, match=f"member names are not unique: '{name}'$"):
        read_manifest(edited)


def test_the_ensemble_id_follows_what_the_members_compute() -> None:
    """The id that names logged filter features changes with a member's weights or a
    setting's threshold or members, not with their order, the validation F1, the object
    filter or the description."""
    manifest = read_manifest(DEFAULT_MANIFEST)
    same = manifest.model_copy(deep=True)
    same.description, same.object_filter = "a copy", None
    for entry in same.settings.values():
        entry.members.reverse()
        entry.val_f1 = 0.123
    same.members.reverse()
    assert same.ensemble_id == manifest.ensemble_id and len(manifest.ensemble_id) == 16
    moved = manifest.model_copy(deep=True)
    setting = next(iter(moved.settings.values()))
    setting.threshold = round(setting.threshold + 0.01, 2)
    retrained = manifest.model_copy(deep=True)
    retrained.members[0].sha256 = "0" * 64
    fewer = manifest.model_copy(deep=True)
    bigger = next(e for e in fewer.settings.values() if len(e.members) > 1)
    bigger.members.pop()
    ids = {m.ensemble_id for m in (manifest, moved, retrained, fewer)}
    assert len(ids) == 4


def test_written_weights_are_as_readable_as_the_manifest(tmp_path: Path) -> None:
    """Found by a new user: safetensors writes 0600, so the weights of a fine-tuned or imported
    ensemble could not be read by a service running as another user, though its manifest
    could."""
    import os
    import stat

    manifest = build_untrained_ensemble(tmp_path, settings=("S2",), architectures=("Unet",))
    (weights,) = [p for p in tmp_path.iterdir() if p.suffix == ".safetensors"]
    mode = stat.S_IMODE(weights.stat().st_mode)
    assert mode == stat.S_IMODE(manifest.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_a_member_whose_bands_are_not_its_settings_is_refused(tmp_path: Path) -> None:
    """Found reviewing inference: a manifest whose member listed its setting's bands in another
    order (or other bands) loaded, and the member was fed the setting's bands in the feature
    stack's order, whatever its ``bands`` said."""
    manifest = build_untrained_ensemble(tmp_path, settings=("S2",), architectures=("Unet",))
    raw = json.loads(manifest.read_text())
    entry = raw["members"][0]
    assert entry["bands"] == ["landcover", "dNDVI"]
    entry["bands"] = ["dNDVI", "landcover"]
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError) as refused:
        Ensemble.load(manifest)
    assert str(refused.value) == (
        f"{manifest}: not a model manifest (1 problem(s)): members.0: Value error, member "
        f"{entry['name']}: bands dNDVI, landcover are not those of its setting 'S2' "
        "(landcover, dNDVI, in that order), which the ensemble feeds it"
    )


def test_a_smaller_tile_alone_gets_the_overlap_predict_members_gives_it(manifest: Path) -> None:
    """Found reviewing inference: ``Ensemble.load(path, tile=96)`` kept the 48-px overlap of the
    384-px default, which a 96-px tile cannot have, and every prediction was refused ("overlap
    must be in [0, tile/2)"); ``predict_members`` itself takes a quarter of a smaller tile."""
    stack = _stack(150, 170)
    ens = Ensemble.load(manifest, tile=96, engine="torch")  # torch: no export per tile shape
    got = ens.predict(stack, "S2")["probability"].values
    x = np.stack([stack["landcover"].values, stack["dNDVI"].values])
    want = predict_members(ens.members("S2"), x, tile=96, engine="torch").mean(axis=0)
    assert np.isfinite(got).all()
    np.testing.assert_array_equal(got, want)  # the same tiles, blending and engine
