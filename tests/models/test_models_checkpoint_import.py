"""Import of Lightning checkpoints shaped like Ganerød et al.'s (``net.`` prefix, pickled
hyper-parameters) without running pickled code."""

from __future__ import annotations

import functools
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from models.checkpoint_import import (
    CheckpointError,
    import_checkpoint,
    read_lightning_checkpoint,
    read_statistics,
)
from models.ensemble import Ensemble
from models.feature_stack import MODEL_BANDS
from models.manifest import ManifestError, read_manifest
from models.testing import TEST_ENCODER
from models.zoo import smp  # type: ignore[attr-defined]  # zoo's import (after its torchvision fix), not an export


class _Trap:
    """Unpickling this with plain pickle would create a file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.makedirs, (self.path,))


def _lightning_checkpoint(path: Path, net: torch.nn.Module, trap: Path) -> Path:
    ckpt = {
        "epoch": 41,
        "global_step": 42000,
        "pytorch-lightning_version": "1.9.0",
        "state_dict": {
            **{f"net.{k}": v for k, v in net.state_dict().items()},
            "loss.weight": torch.ones(1),
        },
        "hyper_parameters": {
            "net": net,
            "loss": smp.losses.JaccardLoss("binary"),
            "optimizer": functools.partial(torch.optim.Adam, lr=0.001, weight_decay=0.0),
            "scheduler": None,
            "trap": _Trap(str(trap)),
        },
    }
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("architecture", ["FPN", "UPerNet"])
def test_imported_checkpoint_reproduces_its_source_model(tmp_path: Path, architecture: str) -> None:
    torch.manual_seed(1)
    cls = getattr(smp, architecture)
    net = cls(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=11, classes=1)
    net.eval()
    trap = tmp_path / "pwned"
    ckpt = _lightning_checkpoint(tmp_path / "epoch_041.ckpt", net, trap)
    mean = [float(v) for v in np.linspace(-10, 10, 15)]
    std = [float(v) for v in np.linspace(1, 3, 15)]
    manifest = import_checkpoint(ckpt, tmp_path / "ens" / "manifest.json", (mean, std),
                                 val_f1=0.746)  # fmt: skip
    assert not trap.exists()  # the pickled os.makedirs never ran
    ens = Ensemble.load(manifest)
    assert ens.settings == ("S1+S2",)
    entry = ens.manifest.members[0]
    assert (entry.architecture, entry.loss, entry.learning_rate) == (
        architecture, "Jaccard", 0.001
    )  # fmt: skip
    assert entry.encoder == TEST_ENCODER and entry.origin == "imported:epoch_041.ckpt"
    x = np.random.default_rng(0).normal(size=(11, 96, 128)).astype(np.float32) * 3
    got = ens.predict_array(x, "S1+S2").probability
    idx = [*range(9), 13, 14]
    m = torch.tensor([mean[i] for i in idx]).view(1, -1, 1, 1)
    s = torch.tensor([std[i] for i in idx]).view(1, -1, 1, 1)
    with torch.no_grad():
        want = torch.sigmoid(net((torch.from_numpy(x)[None] - m) / s))[0, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_checkpoint_without_net_prefix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.ckpt"
    torch.save({"state_dict": {"model.w": torch.zeros(1)}}, path)
    with pytest.raises(
        CheckpointError,
        match=r"no weights under the 'net\.' prefix \(its keys start with model\.\)",
    ):
        read_lightning_checkpoint(path)
    # found by a new user's walk: a whole network saved under 'state_dict' ended in a
    # TypeError traceback
    torch.save({"state_dict": [torch.zeros(1)]}, path)
    with pytest.raises(CheckpointError, match=r"its 'state_dict' is a list, not a mapping"):
        read_lightning_checkpoint(path)


def test_a_checkpoint_in_the_legacy_format_runs_no_pickled_code(tmp_path: Path) -> None:
    """A file that is not a zip checkpoint is read by torch's legacy loader, which unpickles
    its magic number (and the tar format's records) with ``pickle_module.load``: a plain
    ``pickle.load`` there ran a downloaded file's code before any check."""
    import pickle

    trap = tmp_path / "trap"
    path = tmp_path / "legacy.ckpt"
    path.write_bytes(pickle.dumps(_Trap(str(trap))))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_lightning_checkpoint(path)
    assert not trap.exists()


def test_a_file_torch_save_did_not_write_is_named_so(tmp_path: Path) -> None:
    """Found in a walkthrough: a text file was "invalid load key, '#'", random bytes "unpickling
    stack underflow", a member's safetensors file "no 'state_dict'"."""
    from safetensors.torch import save_file

    text = tmp_path / "README.md"
    text.write_text("# notes\n")
    with pytest.raises(CheckpointError, match=r"torch\.save writes .* begins with b'# no"):
        read_lightning_checkpoint(text)
    weights = tmp_path / "member.safetensors"
    save_file({"net.w": torch.ones(2)}, str(weights))
    with pytest.raises(CheckpointError, match="holds safetensors weights"):
        read_lightning_checkpoint(weights)


def test_statistics_of_a_folder_are_computed_once_the_checkpoint_is_read(tmp_path: Path) -> None:
    """``--stats-from`` reads a whole folder: a file that is no checkpoint is refused first."""
    calls: list[int] = []

    def statistics() -> tuple[list[float], list[float]]:
        calls.append(1)
        return [0.0] * 15, [1.0] * 15

    bad = tmp_path / "bad.ckpt"
    bad.write_text("no checkpoint")
    with pytest.raises(CheckpointError, match=r"not a file torch\.save writes"):
        import_checkpoint(bad, tmp_path / "manifest.json", statistics)
    assert calls == []
    # nor a checkpoint whose weights do not fit the network named (found in review)
    unet = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    other = _lightning_checkpoint(tmp_path / "u.ckpt", unet, tmp_path / "trap")
    with pytest.raises(CheckpointError, match="do not fit Linknet"):
        import_checkpoint(other, tmp_path / "manifest.json", statistics, setting="S1",
                          architecture="Linknet")  # fmt: skip
    assert calls == []
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    import_checkpoint(ckpt, tmp_path / "manifest.json", statistics, setting="S1")
    assert calls == [1]


def test_wrong_architecture_is_reported(tmp_path: Path) -> None:
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=2, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    stats = ([0.0] * 15, [1.0] * 15)
    with pytest.raises(CheckpointError, match="do not fit Linknet") as err:
        import_checkpoint(ckpt, tmp_path / "manifest.json", stats, architecture="Linknet")
    # counted, with the first names of each kind: load_state_dict listed every key (found in a
    # walkthrough: 22,400 characters for one such mistake)
    assert re.search(r"\d+ of the network's keys missing \(.*, and \d+ more\)", str(err.value))
    assert re.search(r"\d+ keys the network does not have \(decoder\.", str(err.value))
    assert len(str(err.value)) < 1000


def test_weights_of_nan_or_infinity_are_refused_on_import_and_on_load(tmp_path: Path) -> None:
    """Found by an ML researcher's walk: a checkpoint with one NaN weight (a diverged run)
    imported as 'ok'; its network gave NaN everywhere, the ensemble's mean with it, and every
    run of its setting drew nothing, status ok, without a word."""
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=2, classes=1)
    stats = ([0.0] * 15, [1.0] * 15)
    manifest = import_checkpoint(
        _lightning_checkpoint(tmp_path / "good.ckpt", net, tmp_path / "trap"),
        tmp_path / "manifest.json",
        stats,
        architecture="Unet",
    )
    first = next(name for name, _ in net.named_parameters())
    with torch.no_grad():
        dict(net.named_parameters())[first].view(-1)[:2] = torch.tensor([float("nan"), 1e39])
    diverged = _lightning_checkpoint(tmp_path / "diverged.ckpt", net, tmp_path / "trap")
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(diverged, manifest, stats, architecture="Unet")
    assert str(err.value) == (
        f"{diverged}: 1 weight tensor(s) hold NaN or infinite values: {first} (2 value(s)); "
        "its network would predict nothing"
    )
    # a member whose weights file holds them (a fine-tune that diverged) is refused on loading
    from safetensors.torch import load_file, save_file

    from models.manifest import sha256_file

    entry = read_manifest(manifest).members[0]
    weights = tmp_path / entry.file
    state = load_file(str(weights))
    stored = next(key for key in state if key.endswith(first))  # under the member's prefix
    state[stored].view(-1)[0] = float("inf")
    save_file(state, str(weights))
    document = json.loads(manifest.read_text())
    document["members"][0]["sha256"] = sha256_file(weights)
    manifest.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match=rf"{entry.file}: 1 weight tensor\(s\) hold NaN"):
        Ensemble.load(manifest)
    # a changed file of an imported member is told how to import it again, not to `select`
    # (found by the same walk: select has no grid folder for an imported member)
    document["members"][0]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(document))
    with pytest.raises(ManifestError, match=r"import good\.ckpt again with --replace"):
        Ensemble.load(manifest)


@pytest.mark.parametrize("given", ["default", "bundled"])
def test_the_bundled_ensemble_is_never_imported_into_in_place(
    tmp_path: Path, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by an ML researcher's walk: `--manifest default` wrote a manifest file named
    `default` in the working folder, and the bundled manifest's own path was rewritten with
    the new member (and without its object filter)."""
    from models.manifest import DEFAULT_MANIFEST

    monkeypatch.chdir(tmp_path)
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=2, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    before = DEFAULT_MANIFEST.read_bytes()
    target = "default" if given == "default" else str(DEFAULT_MANIFEST)
    with pytest.raises(ManifestError, match="is the bundled ensemble, which an import would"):
        import_checkpoint(ckpt, target, ([0.0] * 15, [1.0] * 15), architecture="Unet")
    assert DEFAULT_MANIFEST.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]


def test_an_architecture_or_encoder_the_zoo_lacks_is_refused_naming_the_file(
    tmp_path: Path,
) -> None:
    """Found by a new user: a network the zoo does not have (smp's Segformer), or an encoder or
    setting it does not know, was refused without naming the checkpoint."""
    net = smp.Segformer(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=15, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "seg former.ckpt", net, tmp_path / "trap")
    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "manifest.json"
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, manifest, stats)
    assert str(refused.value) == (
        f"{ckpt}: unknown architecture 'Segformer'; known: Unet, UnetPlusPlus, MAnet, Linknet, "
        "FPN, PSPNet, PAN, DeepLabV3, DeepLabV3Plus, UPerNet"
    )
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, manifest, stats, architecture="Unet", encoder="nope")
    assert str(refused.value).startswith(
        f"{ckpt}: cannot build Unet with encoder 'nope' and arguments {{}}: "
    )
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, manifest, stats, architecture="Unet", setting="S3")
    assert str(refused.value) == f"{ckpt}: unknown setting 'S3'; known: S1, S2, S1+S2, all, L4S"
    assert not manifest.exists() and not list(tmp_path.glob("*.safetensors"))


def test_a_manifest_that_is_refused_gets_no_weights_written_beside_it(tmp_path: Path) -> None:
    """Found by a new user: the weights were saved before the manifest was read, so importing
    into a hand-edited manifest that is refused left a weights file behind, or replaced the
    weights of a member of the same name under the checksum the manifest records."""
    from models.manifest import sha256_file

    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "ens" / "manifest.json"
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    for seed in (1, 2):
        torch.manual_seed(seed)
        net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
        (tmp_path / f"run{seed}").mkdir()
        _lightning_checkpoint(tmp_path / f"run{seed}" / "epoch_041.ckpt", net, tmp_path / "trap")
    import_checkpoint(tmp_path / "run1" / "epoch_041.ckpt", manifest, stats, **options)
    raw = json.loads(manifest.read_text())
    (entry,) = raw["members"]
    raw["settings"]["S1"]["threshold"] = 1.5  # edited by hand
    manifest.write_text(json.dumps(raw))

    with pytest.raises(ManifestError) as refused:  # another run's checkpoint of the same name
        import_checkpoint(tmp_path / "run2" / "epoch_041.ckpt", manifest, stats, **options)
    assert str(refused.value) == (
        f"{manifest}: not a model manifest (1 problem(s)): settings.S1.threshold: Input should "
        "be less than or equal to 1"
    )
    assert sorted(p.name for p in (tmp_path / "ens").iterdir()) == [entry["file"], "manifest.json"]
    assert sha256_file(tmp_path / "ens" / entry["file"]) == entry["sha256"]
    with pytest.raises(ManifestError, match="is a folder"):  # --manifest ens/: saved in tmp_path
        import_checkpoint(tmp_path / "run2" / "epoch_041.ckpt", manifest.parent, stats, **options)
    assert not list(tmp_path.glob("*.safetensors"))


def test_a_network_of_two_classes_is_refused_as_such(tmp_path: Path) -> None:
    """Found by a new user: a two-class (softmax) network was refused as weights that 'do not
    fit Unet ... (pass the right architecture/encoder)', which it was."""
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=2)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, tmp_path / "manifest.json", ([0.0] * 15, [1.0] * 15),
                          architecture="Unet", encoder=TEST_ENCODER)  # fmt: skip
    assert str(refused.value) == (
        f"{ckpt}: the network has 2 output classes; a member has one (the landslide logit, "
        "binary segmentation as in Ganerød et al.), so it cannot be imported"
    )


def test_statistics_csv_of_the_published_code(tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    rows = "\n".join(f"{i},{i + 1},{i * 0.5},{i + 2}" for i in range(15))
    path.write_text("band_min,band_max,band_mean,band_std\n" + rows + "\n")
    mean, std = read_statistics(path)
    assert mean[4] == 2.0 and std[14] == 16.0
    path.write_text("band_mean,band_std\n1,2\n")
    with pytest.raises(CheckpointError, match="1 bands of statistics, expected 15"):
        read_statistics(path)


def test_statistics_a_member_cannot_use_are_refused_naming_the_band(tmp_path: Path) -> None:
    """Found by a new user: a std of 0 was clamped to 1e-6 and imported, and a NaN mean imported
    and was later refused as if the weights had been tampered with."""
    path = tmp_path / "stats.csv"
    rows = [f"{i * 0.5},{i + 2}" for i in range(15)]
    rows[3] = "1.5,0"
    rows[7] = "nan,2"
    path.write_text("band_mean,band_std\n" + "\n".join(rows) + "\n")
    with pytest.raises(CheckpointError, match="cannot normalise with") as refused:
        read_statistics(path)
    from models.feature_stack import MODEL_BANDS

    message = str(refused.value)
    assert f"{MODEL_BANDS[3]} (mean 1.5, std 0)" in message
    assert f"{MODEL_BANDS[7]} (mean nan, std 2)" in message


def test_a_statistics_file_that_cannot_be_read_is_refused_naming_it(tmp_path: Path) -> None:
    """Found by a new user: a --stats file that was missing, a JSON without "mean", a list
    that was not one or a CSV cell that was not a number ended in a traceback (or a message
    that named neither the file nor the band)."""
    from models.feature_stack import MODEL_BANDS

    missing = tmp_path / "nothere.csv"
    with pytest.raises(CheckpointError) as refused:
        read_statistics(missing)
    assert str(refused.value).startswith(f"{missing}: cannot read the statistics: ")
    cases = {
        "no_mean.json": ('{"means": [1], "std": [1]}', 'no "mean" list'),
        "not_json.json": ("band_mean,band_std", "not valid JSON: Expecting value"),
        "scalar.json": ('{"mean": [1, 2], "std": 3}', '"std" is not a list of numbers'),
        "text.json": ('{"mean": ["a"], "std": [1]}', '"mean" is not a list of numbers'),
        "top.json": ("[1, 2]", 'no "mean" list'),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(CheckpointError) as refused:
            read_statistics(path)
        assert str(refused.value).startswith(f"{path}: "), name
        assert message in str(refused.value), name
    path = tmp_path / "stats.csv"
    rows = [f"{i * 0.5},{i + 2}" for i in range(15)]
    rows[4] = "1.5,abc"
    rows[9] = "2.5"  # a cell short
    path.write_text("band_mean,band_std\n" + "\n".join(rows) + "\n")
    with pytest.raises(CheckpointError) as refused:
        read_statistics(path)
    assert str(refused.value) == (
        f"{path}: not a number: line 6 ({MODEL_BANDS[4]}) band_std 'abc'; line 11 "
        f"({MODEL_BANDS[9]}) band_std empty"
    )


def test_threshold_given_for_a_setting_the_manifest_has_is_applied(tmp_path: Path) -> None:
    """Found by a new user: a second import into a setting with `--threshold 0.2` kept 0.5."""
    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "ens" / "manifest.json"
    for seed, threshold in ((1, None), (2, 0.2), (3, None)):
        torch.manual_seed(seed)
        net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
        ckpt = _lightning_checkpoint(tmp_path / f"m{seed}.ckpt", net, tmp_path / "trap")
        import_checkpoint(ckpt, manifest, stats, setting="S1", architecture="Unet",
                          encoder=TEST_ENCODER, threshold=threshold)  # fmt: skip
        settings = json.loads(manifest.read_text())["settings"]["S1"]
        assert settings["threshold"] == (0.5 if seed == 1 else 0.2)  # kept once set
    assert len(settings["members"]) == 3


def test_another_checkpoint_of_the_same_name_is_refused_unless_it_replaces(
    tmp_path: Path,
) -> None:
    """Found by a new user: importing epoch_041.ckpt of another run into a manifest that had
    one replaced the member without a word (found in review: a warning after writing would
    come too late to keep both). The same checkpoint again changes nothing; another of the
    same name is refused with the member's weights untouched, or replaces it with --replace."""
    from models.manifest import sha256_file

    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "ens" / "manifest.json"
    ckpt = tmp_path / "epoch_041.ckpt"

    def checkpoint(seed: int) -> None:
        torch.manual_seed(seed)
        net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
        _lightning_checkpoint(ckpt, net, tmp_path / "trap")

    def members() -> list[dict]:
        return json.loads(manifest.read_text())["members"]

    options: dict[str, Any] = {"setting": "S1", "architecture": "Unet", "encoder": TEST_ENCODER}
    checkpoint(1)
    import_checkpoint(ckpt, manifest, stats, **options)
    once = manifest.read_bytes()
    (first,) = members()
    import_checkpoint(ckpt, manifest, stats, **options)  # the same again: nothing changes
    assert members() == [first] and json.loads(manifest.read_bytes()) == json.loads(once)
    weights = manifest.parent / first["file"]
    checkpoint(2)
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(ckpt, manifest, stats, **options)
    assert str(err.value).startswith(
        f"{ckpt}: {manifest} has a member {first['name']} from another checkpoint of this name "
        f"(SHA-256 {first['sha256'][:12]}..., this one "
    )
    assert str(err.value).endswith("or pass --replace to put it in its place")
    assert members() == [first] and sha256_file(weights) == first["sha256"]
    assert sorted(p.name for p in manifest.parent.iterdir()) == [weights.name, "manifest.json"]
    # found in review: a manifest refused after the weights were moved into place (a threshold
    # out of range) left the member's file changed under its recorded checksum
    for bad in (1.5, -1.0):
        with pytest.raises(CheckpointError, match=rf"--threshold {bad}: a probability threshold"):
            import_checkpoint(ckpt, manifest, stats, replace=True, threshold=bad, **options)
    assert members() == [first] and sha256_file(weights) == first["sha256"]
    assert sorted(p.name for p in manifest.parent.iterdir()) == [weights.name, "manifest.json"]
    import_checkpoint(ckpt, manifest, stats, replace=True, **options)
    (second,) = members()
    assert second["sha256"] != first["sha256"]
    assert sha256_file(weights) == second["sha256"]


def test_the_same_checkpoint_again_leaves_the_manifest_as_it_was(tmp_path: Path) -> None:
    """Found by a new user: importing a checkpoint again without --val-f1 (to set the threshold,
    or by a script rerun) dropped the validation F1 it was imported with and moved the member
    to the end of the manifest, so the manifest's SHA-256 changed and `models lineage` of every
    ensemble fine-tuned from it failed, although the docs say the same checkpoint again changes
    nothing."""
    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "ens" / "manifest.json"
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    paths = []
    for seed, channels in ((1, 9), (2, 11)):
        torch.manual_seed(seed)
        net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=channels,
                       classes=1)  # fmt: skip
        paths.append(_lightning_checkpoint(tmp_path / f"m{seed}.ckpt", net, tmp_path / "trap"))
        import_checkpoint(paths[-1], manifest, stats, val_f1=0.7 + seed / 100, **options)
    before = manifest.read_bytes()  # a fine-tuned child's lineage holds its SHA-256
    import_checkpoint(paths[0], manifest, stats, **options)
    assert manifest.read_bytes() == before

    import_checkpoint(paths[0], manifest, stats, threshold=0.3, **options)  # the threshold alone
    raw, earlier = json.loads(manifest.read_text()), json.loads(before)
    assert raw["settings"]["S1"]["threshold"] == 0.3
    assert raw["members"] == earlier["members"]  # the F1 kept, the order too
    import_checkpoint(paths[0], manifest, stats, val_f1=0.75, **options)
    raw = json.loads(manifest.read_text())
    assert [m["val_f1"] for m in raw["members"]] == [0.75, 0.72]


def test_ctrl_c_while_the_weights_are_written_leaves_no_file_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by a new user: Ctrl-C while an import wrote the member's weights (about 100 MB
    for a resnet34 network, the slow part) left a hidden `.<member>.safetensors.new` (or
    `.new.part`) beside the manifest, which `ls` does not show."""
    import safetensors.torch

    import models.manifest

    stats = ([0.0] * 15, [1.0] * 15)
    manifest = tmp_path / "ens" / "manifest.json"
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    import_checkpoint(ckpt, manifest, stats, **options)
    files = {p.name: p.read_bytes() for p in manifest.parent.iterdir()}
    write = safetensors.torch.save_file

    def half_written(state: dict, path: str, metadata: dict) -> None:
        write(state, path, metadata=metadata)
        Path(path).write_bytes(Path(path).read_bytes()[:1000])
        raise KeyboardInterrupt

    def written_not_hashed(path: Path) -> str:
        raise KeyboardInterrupt

    for target, stand_in in (
        (safetensors.torch, {"save_file": half_written}),
        (models.manifest, {"sha256_file": written_not_hashed}),
    ):
        with monkeypatch.context() as patch:
            for attribute, value in stand_in.items():
                patch.setattr(target, attribute, value)
            with pytest.raises(KeyboardInterrupt):
                import_checkpoint(ckpt, manifest, stats, replace=True, **options)
        assert {p.name: p.read_bytes() for p in manifest.parent.iterdir()} == files


def test_the_same_checkpoint_with_other_statistics_is_refused_as_such(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: importing a checkpoint again with corrected statistics (--stats
    after --stats-from) was refused as 'a member ... from another checkpoint of this name',
    with the advice to rename the file, which would put the same network in twice."""
    manifest = tmp_path / "ens" / "manifest.json"
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    import_checkpoint(ckpt, manifest, ([0.0] * 15, [1.0] * 15), val_f1=0.7, **options)
    (first,) = json.loads(manifest.read_text())["members"]
    corrected = ([0.5] * 15, [2.0] * 15)
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, manifest, corrected, **options)
    assert str(refused.value) == (
        f"{ckpt}: {manifest} has this checkpoint's network as member {first['name']}, with "
        "other band statistics (its normalisation): pass --replace to import it with these "
        "(a new file name would put the same network in the ensemble twice)"
    )
    import_checkpoint(ckpt, manifest, corrected, replace=True, **options)
    (member,) = json.loads(manifest.read_text())["members"]
    assert member["normalisation"]["mean"] == [0.5] * 9
    # its F1 was of the normalisation replaced: dropped, and said so (an ML researcher's walk)
    assert member["val_f1"] is None
    assert (
        f"member {first['name']}: its validation F1 0.700 was of the weights replaced and is "
        "dropped; give --val-f1 for these"
    ) in caplog.text


def test_a_checkpoint_without_loss_or_optimizer_says_what_was_assumed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a new user: BCE and 0.001 were filled in without a word, and fine-tuning then
    scaled that invented learning rate."""
    from models.checkpoint_import import infer_spec

    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    state = {k: v for k, v in net.state_dict().items()}
    spec = infer_spec(state, {"net": net}, architecture="Unet", encoder=TEST_ENCODER)
    assert (spec.loss, spec.learning_rate) == ("BCE", 0.001)
    assert "names no loss: BCE assumed (give --loss" in caplog.text
    assert "names no learning rate: 0.001 assumed (give --lr" in caplog.text


def test_a_landslide4sense_checkpoint_is_refused_not_given_other_bands_statistics(
    tmp_path: Path,
) -> None:
    """Found reviewing inference: a 14-channel checkpoint imported with ``--setting L4S`` took
    the first 14 of the 15 model bands' statistics (preVV's for B1, ..., landcover's for DEM)
    as its normalisation, so the member normalised every band with another band's mean and std."""
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=14, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "l4s.ckpt", net, tmp_path / "trap")
    manifest = tmp_path / "manifest.json"
    stats = ([float(i) for i in range(15)], [1.0] * 15)
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(ckpt, manifest, stats, setting="L4S")
    assert str(refused.value) == (
        f"{ckpt}: setting 'L4S' (Landslide4Sense bands B1-B12, slope, DEM): the statistics an "
        "import takes are the 15 feature-stack bands', not its bands'; a checkpoint of the "
        "feature-stack settings (S1, S2, S1+S2, all) can be imported"
    )
    assert not manifest.exists() and not list(tmp_path.glob("*.safetensors"))


@pytest.mark.parametrize("prefix", ["net.module.", "module.net."])
def test_a_network_wrapped_in_data_parallel_is_imported(tmp_path: Path, prefix: str) -> None:
    """Found reviewing inference: the weights of a network trained in ``nn.DataParallel`` (or
    DDP), saved under ``net.module.`` (the network wrapped) or ``module.net.`` (the Lightning
    module wrapped), were refused: "cannot find the encoder's first convolution in the weights"
    and "no weights under the 'net.' prefix", though both were there; the wrapped network in
    the hyper-parameters then named no architecture the zoo has ('DataParallel')."""
    torch.manual_seed(2)
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=2, classes=1)
    net.eval()
    path = tmp_path / "dp.ckpt"
    wrapped = torch.nn.DataParallel(net) if prefix == "net.module." else net
    hparams = {"net": wrapped, "optimizer": functools.partial(torch.optim.Adam, lr=0.01)}
    state = {f"{prefix}{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": hparams}, path)
    weights, _ = read_lightning_checkpoint(path)
    assert weights.keys() == net.state_dict().keys()
    stats = ([0.0] * 15, [1.0] * 15)
    manifest = import_checkpoint(path, tmp_path / "manifest.json", stats, loss="Dice")
    (entry,) = read_manifest(manifest).members
    assert (entry.architecture, entry.encoder, entry.learning_rate) == ("Unet", TEST_ENCODER, 0.01)
    x = np.random.default_rng(0).normal(size=(2, 64, 64)).astype(np.float32)
    got = Ensemble.load(manifest).predict_array(x, "S2").probability
    with torch.no_grad():
        want = torch.sigmoid(net(torch.from_numpy(x)[None]))[0, 0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)  # the same float32 graph in torch


def test_the_same_import_again_to_set_a_threshold_needs_no_statistics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an ML researcher's walk: the docs' threshold calibration (the same import again
    with --threshold) asked for the statistics again, which the member already holds."""
    from models.cli import main

    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    stats_file = tmp_path / "stats.json"
    means = [0.1 * i for i in range(15)]
    stats_file.write_text(json.dumps({"mean": means, "std": [2.0] * 15}))
    manifest = tmp_path / "ens" / "manifest.json"
    argv = ["import-checkpoint", str(ckpt), "--manifest", str(manifest), "--architecture",
            "Unet", "--encoder", TEST_ENCODER]  # fmt: skip
    assert main([*argv, "--threshold", "0.3"]) == 2  # nothing imported yet: none to reuse
    assert "the checkpoint holds no normalisation: pass --stats FILE" in capsys.readouterr().err
    assert main([*argv, "--stats", str(stats_file)]) == 0
    (member,) = read_manifest(manifest).members
    assert main([*argv, "--threshold", "0.3"]) == 0
    again = read_manifest(manifest)
    assert again.members == [member]  # its weights and normalisation as they were
    assert again.settings[member.setting].threshold == 0.3


def test_a_val_f1_outside_0_to_1_is_refused_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a reviewer: `import-checkpoint --val-f1 7` was stored, and evaluate then took
    the member as its best single one (the highest validation F1); `--val-f1 nan` wrote NaN
    into the manifest, which is not JSON. Refused by import_checkpoint (as --threshold is) and
    by the manifest."""
    from models.cli import main
    from models.manifest import ManifestError

    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    stats_file = tmp_path / "stats.json"
    stats_file.write_text(json.dumps({"mean": [0.0] * 15, "std": [1.0] * 15}))
    manifest = tmp_path / "ens" / "manifest.json"
    argv = ["import-checkpoint", str(ckpt), "--manifest", str(manifest), "--stats",
            str(stats_file), "--architecture", "Unet", "--encoder", TEST_ENCODER]  # fmt: skip
    for value in ("7", "-0.1", "nan", "inf"):
        assert main([*argv, "--val-f1", value]) == 2, value
        shown = float(value)
        assert f"--val-f1 {shown}: an F1 score is a number in [0, 1]" in (
            capsys.readouterr().err
        ), value
    assert not manifest.parent.exists()
    stats = ([0.0] * 15, [1.0] * 15)
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    for bad in (7.0, float("nan")):
        with pytest.raises(CheckpointError, match=rf"--val-f1 {bad}: an F1 score is a number in"):
            import_checkpoint(ckpt, manifest, stats, val_f1=bad, **options)
    assert not manifest.parent.exists()
    assert main([*argv, "--val-f1", "0.751"]) == 0
    assert read_manifest(manifest).members[0].val_f1 == 0.751
    raw = json.loads(manifest.read_text())
    for bad, message in ((7, "less than or equal to 1"), (float("nan"), "a finite number")):
        raw["members"][0]["val_f1"] = bad  # edited by hand (json.dumps writes NaN as is)
        manifest.write_text(json.dumps(raw))
        with pytest.raises(ManifestError, match=f"members.0.val_f1: Input should be {message}"):
            read_manifest(manifest)


def test_a_manifest_path_that_names_a_folder_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a reviewer: `--manifest /tmp/x/pub2/` (a folder not there yet) wrote a manifest
    FILE named pub2 and the weights beside it in /tmp/x (Path drops the separator); an existing
    folder was already refused with "pass .../manifest.json"."""
    from models.cli import main
    from models.manifest import ManifestError

    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "m.ckpt", net, tmp_path / "trap")
    stats_file = tmp_path / "stats.json"
    stats_file.write_text(json.dumps({"mean": [0.0] * 15, "std": [1.0] * 15}))
    x = tmp_path / "x"
    x.mkdir()
    argv = ["import-checkpoint", str(ckpt), "--stats", str(stats_file), "--architecture",
            "Unet", "--encoder", TEST_ENCODER]  # fmt: skip
    for folder in (f"{x}/pub2/", f"{x}/pub2//", f"{x}/pub2/."):
        assert main([*argv, "--manifest", folder]) == 2, folder
        assert capsys.readouterr().err == (
            f"error: {folder} names a folder: pass {x / 'pub2' / 'manifest.json'}\n"
        ), folder
        assert not list(x.iterdir()), folder  # neither a file pub2 nor weights in x
    stats = ([0.0] * 15, [1.0] * 15)
    with pytest.raises(ManifestError, match="names a folder: pass "):
        import_checkpoint(ckpt, f"{x}/pub2/", stats, architecture="Unet", encoder=TEST_ENCODER)
    assert not list(x.iterdir())
    # the file inside it is what to pass
    import_checkpoint(ckpt, f"{x}/pub2/manifest.json", stats, architecture="Unet",
                      encoder=TEST_ENCODER)  # fmt: skip
    assert (x / "pub2" / "manifest.json").is_file()


def test_a_renamed_copy_of_an_imported_checkpoint_is_refused_naming_its_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a reviewer: a renamed copy of an imported checkpoint was imported as a second
    member with the same weights, though the refusal of the same name with other statistics
    warns that "a new file name would put the same network in the ensemble twice". Its
    weights file's SHA-256 differs (the file records the checkpoint's name): the networks are
    compared. --replace still replaces the member of the checkpoint's own name."""
    import shutil

    from models.cli import main
    from models.manifest import sha256_file

    manifest = tmp_path / "ens" / "manifest.json"
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    stats = ([0.0] * 15, [1.0] * 15)
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "epoch_041.ckpt", net, tmp_path / "trap")
    import_checkpoint(ckpt, manifest, stats, val_f1=0.7, **options)
    torch.manual_seed(5)  # another network of the same setting, architecture and encoder
    other = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    import_checkpoint(_lightning_checkpoint(tmp_path / "other.ckpt", other, tmp_path / "trap"),
                      manifest, stats, **options)  # fmt: skip
    first = json.loads(manifest.read_text())["members"][0]
    before = {p.name: p.read_bytes() for p in manifest.parent.iterdir()}
    copy = tmp_path / "best.ckpt"
    shutil.copyfile(ckpt, copy)
    message = (
        f"{copy}: {manifest} has this network already as member {first['name']} "
        "(imported:epoch_041.ckpt): under another name it would be in the ensemble twice; to "
        "give it other statistics, import epoch_041.ckpt again with --replace"
    )
    for statistics, replace in ((stats, False), (([0.5] * 15, [2.0] * 15), False), (stats, True)):
        with pytest.raises(CheckpointError) as refused:
            import_checkpoint(copy, manifest, statistics, replace=replace, **options)
        assert str(refused.value) == message
        assert {p.name: p.read_bytes() for p in manifest.parent.iterdir()} == before
    stats_file = tmp_path / "stats.json"
    stats_file.write_text(json.dumps({"mean": [0.0] * 15, "std": [1.0] * 15}))
    argv = ["import-checkpoint", str(copy), "--manifest", str(manifest), "--stats",
            str(stats_file), "--architecture", "Unet", "--encoder", TEST_ENCODER]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    # without statistics: the copy is refused for what it is (found in a walk: it was told
    # first that the checkpoint held no normalisation)
    assert main(argv[:4] + argv[6:]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    # the checkpoint of the member's own name: again changes nothing, --replace replaces it
    import_checkpoint(ckpt, manifest, stats, **options)
    assert {p.name: p.read_bytes() for p in manifest.parent.iterdir()} == before
    import_checkpoint(ckpt, manifest, ([0.5] * 15, [2.0] * 15), replace=True, **options)
    members = json.loads(manifest.read_text())["members"]
    assert [m["name"] for m in members] == [first["name"], members[1]["name"]]
    assert members[0]["normalisation"]["mean"] == [0.5] * 9
    assert sha256_file(manifest.parent / members[0]["file"]) == members[0]["sha256"]


def test_statistics_whose_land_cover_is_not_worldcover_codes_are_warned_of(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a review against the paper: Ganerød et al.'s band 13 is a land-cover map made
    with CART for each case study (eight classes), this project's ESA WorldCover codes 10-100.
    An S2 member imported with statistics whose band-13 mean lies below 10 reads WorldCover
    codes normalised as its own classes: the import says so. WorldCover-coded statistics, or a
    setting without the band, are imported without the warning."""
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=2, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "s2.ckpt", net, tmp_path / "trap")
    options: dict[str, Any] = {"architecture": "Unet", "encoder": TEST_ENCODER}
    classes = ([0.0] * 13 + [3.2, 0.05], [1.0] * 13 + [2.1, 0.2])  # classes 1-8, dNDVI
    import_checkpoint(ckpt, tmp_path / "a" / "manifest.json", classes, **options)
    assert "band 13 (landcover), whose mean in these statistics is 3.2: not ESA WorldCover " \
        "codes (10-100)" in caplog.text  # fmt: skip
    caplog.clear()
    worldcover = ([0.0] * 13 + [24.0, 0.05], [1.0] * 13 + [15.0, 0.2])
    import_checkpoint(ckpt, tmp_path / "b" / "manifest.json", worldcover, **options)
    s1 = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    s1_ckpt = _lightning_checkpoint(tmp_path / "s1.ckpt", s1, tmp_path / "trap")
    import_checkpoint(s1_ckpt, tmp_path / "c" / "manifest.json", classes, **options)
    assert "landcover" not in caplog.text


def test_a_checkpoint_that_names_no_network_or_fits_no_setting_says_what_to_give(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a new user's walk: "architecture unknown" did not name --architecture, and a
    3-channel network was told to "name one" setting, which no setting could satisfy."""
    from models.checkpoint_import import infer_spec

    state = {"encoder.conv1.weight": torch.zeros(8, 11, 3, 3)}
    with pytest.raises(CheckpointError, match=r"give --architecture .* and --encoder"):
        infer_spec(state, {})
    state = {"encoder.conv1.weight": torch.zeros(8, 3, 3, 3)}
    with pytest.raises(
        CheckpointError,
        match=r"3 input channels match no setting \(bands per setting: S1 9, S2 2, S1\+S2 11, "
        r"all 15\)",
    ):
        infer_spec(state, {}, architecture="Unet")
    # the convolution it was read from is named (found by an ML researcher's walk: a state dict
    # without encoder.conv1.weight was told of the 64 channels of a later one)
    state = {"encoder.layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}
    with pytest.raises(CheckpointError) as err:
        infer_spec(state, {}, architecture="Unet")
    assert str(err.value).endswith(
        "; read from encoder.layer1.0.conv1.weight, the first convolution of the encoder in the "
        "weights (a state dict that lacks the encoder's own first one, encoder.conv1.weight in "
        "a ResNet, is read by another's)"
    )
    # an encoder nobody named is assumed, and said (found on a walk: another one then failed
    # with a screen of missing weights, without a word of the assumption)
    state = {"encoder.conv1.weight": torch.zeros(8, 11, 3, 3)}
    with caplog.at_level("WARNING", logger="models.checkpoint_import"):
        spec = infer_spec(state, {}, architecture="Unet")
    assert spec.encoder == "resnet34"
    assert "the checkpoint names no encoder: resnet34 assumed (give --encoder" in caplog.text


def test_an_import_into_an_ensemble_with_an_object_filter_drops_the_filter(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a walkthrough: an import into a copy of models/default kept its object filter,
    fitted on the other members' candidates, as train, select and extend do not."""
    import shutil

    from models.ensemble import DEFAULT_MANIFEST

    folder = tmp_path / "copy"
    shutil.copytree(DEFAULT_MANIFEST.parent, folder)
    manifest = folder / "manifest.json"
    assert read_manifest(manifest).object_filter is not None
    torch.manual_seed(7)
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "own.ckpt", net, tmp_path / "trap")
    with caplog.at_level("WARNING", logger="models.checkpoint_import"):
        import_checkpoint(ckpt, manifest, ([0.0] * 15, [1.0] * 15), setting="S1",
                          architecture="Unet", encoder=TEST_ENCODER)  # fmt: skip
    assert read_manifest(manifest).object_filter is None
    assert "its object filter was fitted on the candidates of the members before" in caplog.text
    assert (folder / "object_filter.onnx").is_file()  # its files stay


def test_a_network_s_own_state_dict_is_told_how_to_save_it(tmp_path: Path) -> None:
    """Found in a walkthrough: torch.save(model.state_dict()) said only "no 'state_dict' (not a
    Lightning checkpoint)", nothing of the docs' way to save one's own network."""
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    plain = tmp_path / "plain.pt"
    torch.save(net.state_dict(), plain)
    with pytest.raises(CheckpointError) as refused:
        import_checkpoint(plain, tmp_path / "m" / "manifest.json", ([0.0] * 15, [1.0] * 15))
    assert str(refused.value) == (
        f"{plain}: no 'state_dict' (not a Lightning checkpoint); a network of your own is saved "
        'as torch.save({"state_dict": {"net." + k: v for k, v in model.state_dict().items()}}, '
        "PATH) and imported with --architecture and --encoder"
    )


def test_statistics_csv_rows_are_matched_by_the_band_names_it_gives(tmp_path: Path) -> None:
    """Found in a walk: a statistics CSV with a `band` column, its rows sorted by name as a
    spreadsheet leaves them, was read by position (preVV took canopy_height's mean). Named
    rows are matched by name, in any order (also pandas' unnamed index column); names that are
    not the layout's 15 bands once each are refused, naming them."""
    path = tmp_path / "stats.csv"
    named = sorted((band, 10.0 * i, i + 1.0) for i, band in enumerate(MODEL_BANDS))
    path.write_text("band,band_mean,band_std\n" + "".join(f"{b},{m},{s}\n" for b, m, s in named))
    mean, std = read_statistics(path)
    assert mean == [10.0 * i for i in range(15)] and std == [i + 1.0 for i in range(15)]
    path.write_text(",band_mean,band_std\n" + "".join(f"{b},{m},{s}\n" for b, m, s in named))
    assert read_statistics(path) == (mean, std)
    rows = [f"{b},{m},{s}\n" for b, m, s in named]
    rows[0] = rows[0].replace(named[0][0], "prevv")  # canopy_height, sorted first, misnamed
    path.write_text("band,band_mean,band_std\n" + "".join(rows))
    with pytest.raises(CheckpointError) as refused:
        read_statistics(path)
    assert str(refused.value).startswith(
        f"{path}: 'band' names the bands, but not the layout's 15 once each (not bands: prevv; "
        "missing: canopy_height); the bands are preVV, "
    )
    # a review: a trailing comma's nameless last column is no name column (the rows are read
    # in order, as before), and a bad cell is named by its line, blank lines counted
    rows = [f"{10.0 * i},{i + 1.0},\n" for i in range(15)]
    path.write_text("band_mean,band_std,\n" + "".join(rows))
    assert read_statistics(path) == (mean, std)
    rows[5] = "x,6.0,\n"
    path.write_text("band_mean,band_std,\n\n" + "".join(rows))
    with pytest.raises(CheckpointError, match=rf"not a number: line 8 \({MODEL_BANDS[5]}\) "):
        read_statistics(path)


def test_a_member_whose_architecture_was_edited_is_named(tmp_path: Path) -> None:
    """Found in a walk: a member's architecture edited by hand (MAnet, with a decoder argument
    Linknet does not take, into Linknet) passed `info` and failed `evaluate` with
    "MobileNetV3Features ... unexpected keyword argument", naming neither the member nor the
    manifest."""
    from models.ensemble import Ensemble

    manifest = tmp_path / "ens" / "manifest.json"
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=9, classes=1)
    ckpt = _lightning_checkpoint(tmp_path / "epoch_041.ckpt", net, tmp_path / "trap")
    import_checkpoint(ckpt, manifest, ([0.0] * 15, [1.0] * 15), architecture="Unet",
                      encoder=TEST_ENCODER)  # fmt: skip
    raw = json.loads(manifest.read_text())
    raw["members"][0]["architecture"] = "Linknet"
    raw["members"][0]["arch_kwargs"] = {"decoder_attention_type": "scse"}  # Unet's, not Linknet's
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError) as refused:
        Ensemble.load(manifest)
    name = raw["members"][0]["name"]
    assert str(refused.value).startswith(f"member {name}: cannot build Linknet with encoder ")
    assert str(refused.value).endswith(
        "(its architecture, encoder and arch_kwargs in the manifest are not those its weights "
        "were trained with: restore them)"
    )
