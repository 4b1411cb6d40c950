"""`python -m models finetune`, `compare` and `lineage`: a member imported from a Lightning
checkpoint is fine-tuned on scenes with ignored pixels, the new manifest's lineage verifies
(and fails when the dataset or the parent changes), and the comparison is the paired bootstrap."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import rasterio
import torch

from models.checkpoint_import import import_checkpoint
from models.cli import main
from models.compare import (
    _Hashes,
    _tuned_on_val,
    compare_manifests,
    data_folder,
    format_comparison,
)
from models.datasets import Scene, provenance_path, read_folder, write_scene
from models.finetune import (
    FinetuneConfig,
    choose_k_and_threshold,
    presumed_background,
    train_mode,
)
from models.inference import predict_members
from models.lineage import verify_lineage
from models.manifest import ManifestError, load_member, read_manifest, sha256_file
from models.testing import TEST_ENCODER
from models.zoo import smp  # type: ignore[attr-defined]  # zoo's import (after its torchvision fix), not an export


def _imported_parent(tmp_path: Path, threshold: float = 0.5) -> Path:
    torch.manual_seed(2)
    net = smp.FPN(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=11, classes=1)
    ckpt = tmp_path / "epoch_007.ckpt"
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"lr": 0.001}}, ckpt)
    stats = ([0.0] * 15, [1.0] * 15)
    return import_checkpoint(
        ckpt, tmp_path / "parent" / "manifest.json", stats, architecture="FPN",
        encoder=TEST_ENCODER, loss="Dice", learning_rate=0.001, setting="S1+S2", val_f1=0.5,
        threshold=threshold,
    )  # fmt: skip


def _dataset(root: Path, make: Callable[..., Scene]) -> Path:
    for split, seeds in (("train", (1, 2, 3)), ("val", (4, 5))):
        for seed in seeds:
            scene = make(seed, size=64)
            ignore = np.zeros(scene.label.shape, bool)
            ignore[:, 48:] = True  # a strip of unknown class
            write_scene(
                root / split,
                Scene(scene.id, scene.image, scene.label, scene.crs, scene.transform, ignore),
            )
    return root


def test_finetune_an_imported_member_and_verify_its_lineage(
    tmp_path: Path,
    scene_factory: Callable[..., Scene],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the setting's threshold differs from the 0.5 at which each member is judged, so that the
    # two presumed backgrounds below differ
    parent = _imported_parent(tmp_path, threshold=0.4)
    data = _dataset(tmp_path / "data", scene_factory)
    out = tmp_path / "tuned"
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
    assert (
        main([*argv, "--epochs", "2", "--iterations", "3", "--crop", "32", "--threads", "1"]) == 0
    )
    manifest = read_manifest(out / "manifest.json")
    (entry,) = manifest.members
    assert entry.architecture == "FPN" and entry.setting == "S1+S2"
    record = manifest.training["finetune"]
    member = record["members"][entry.name]
    moved = member["best_epoch"] > 0  # else the parent's weights were kept, and their origin
    assert entry.origin == ("finetuned:" if moved else "") + "imported:epoch_007.ckpt"
    assert member["learning_rate"] == pytest.approx(0.0001)  # the member's rate x 0.1
    assert [h["epoch"] for h in member["history"]] == [0, 1, 2]
    assert member["val_f1"] >= member["parent_val_f1"]  # the best epoch, the parent's included
    assert record["val_scenes"] == ["scene4", "scene5"]
    # the held-out scores count the strip's pixels that the parent predicts no landslide on
    parent_manifest = read_manifest(parent)
    parent_member = load_member(parent_manifest.members[0], parent.parent)
    val = read_folder(data / "val")
    probs = [predict_members([parent_member], s.channels("S1+S2"), engine="torch")[0] for s in val]
    shares = (member["val_known_share"], record["selection"]["S1+S2"]["val_known_share"])
    assert parent_manifest.settings["S1+S2"].threshold == 0.4
    assert shares[0] != shares[1]
    for threshold, share in zip((0.5, 0.4), shares, strict=True):
        quiet = [
            s.known | (np.isfinite(p) & (p < threshold)) for s, p in zip(val, probs, strict=True)
        ]
        assert share == round(sum(int(q.sum()) for q in quiet) / (2 * 64 * 64), 4)
        assert share > 0.75  # the known part alone
    # --known-only-scores: the known part alone
    known_only = tmp_path / "known-only"
    argv_known = ["finetune", "--manifest", str(parent), "--data", str(data)]
    argv_known += ["--out", str(known_only), "--epochs", "1", "--iterations", "1", "--crop", "32"]
    assert main([*argv_known, "--threads", "1", "--known-only-scores", "--epoch-rule", "best"]) == 0
    plain = read_manifest(known_only / "manifest.json").training["finetune"]
    assert plain["config"]["presume_background"] is False
    assert (plain["config"]["epoch_rule"], record["config"]["epoch_rule"]) == ("best", "one_se")
    assert plain["members"][entry.name]["epoch_choice"]["rule"] == "best"
    assert member["epoch_choice"]["rule"] == "one_se"
    assert plain["members"][entry.name]["val_known_share"] == 0.75
    assert plain["selection"]["S1+S2"]["val_known_share"] == 0.75
    assert manifest.settings["S1+S2"].members == [entry.name]
    lineage = manifest.training["lineage"]
    assert lineage["parent_sha256"] == sha256_file(parent)
    assert lineage["dataset_files"] == 10
    # python -m models lineage verifies it
    assert main(["lineage", str(out / "manifest.json")]) == 0
    assert "lineage verified" in capsys.readouterr().out
    # the comparison runs on the same scenes for both
    for scene_id in ("scene4", "scene5"):  # as `dataset from-reviews` records a reviewed region
        record = provenance_path(data / "val", scene_id)
        record.parent.mkdir(exist_ok=True)
        record.write_text(json.dumps({"scene": scene_id, "group": "region-r"}))
    report = compare_manifests(parent, out / "manifest.json", data, resamples=200)
    s = report["settings"]["S1+S2"]
    assert report["data"].endswith("val")  # no test split: the held-out reviewed scenes
    assert s["f1_difference"]["scenes"] == 2
    # the two held-out scenes are views of one reviewed region (their provenance records' group):
    # one group, the same drawn for both manifests, so nothing to resample: no interval (found
    # by a reviewer: its bounds were the point estimate twice, a zero-width interval)
    assert report["scene_groups"]["groups"] == 1
    assert s["f1_difference"]["groups"] == s["false_objects_difference"]["groups"] == 1
    for key in ("f1_difference", "false_objects_difference"):
        assert np.isnan(s[key]["low"]) and np.isnan(s[key]["high"]), key
    scored = s["new"]["tp"] + s["new"]["fp"] + s["new"]["fn"] + s["new"]["tn"]
    assert scored == 2 * (64 * 48 - 16)  # the known pixels, less the NaN corner
    assert s["false_objects_difference"]["difference"] == (
        s["new"]["false_objects"] - s["old"]["false_objects"]
    )
    assert "- 1 group(s) of scenes: nothing to resample, so no interval" in (
        format_comparison(report)
    )
    assert f"- pixel F1 {s['f1_difference']['difference']:+.3f} (no interval); new better" in (
        format_comparison(report)
    )
    assert "- false objects " in format_comparison(report)
    assert "(no interval); new has fewer on" in format_comparison(report)
    # compared on the scenes it was fine-tuned on, the new manifest's scores are in-sample, and
    # the report said nothing of it (found walking the training workflow)
    assert report["trained_on"] == {"old": [], "new": []}
    assert "fine-tuning scenes" not in format_comparison(report)
    on_train = compare_manifests(parent, out / "manifest.json", data / "train", resamples=200)
    assert on_train["trained_on"] == {"old": [], "new": ["scene1", "scene2", "scene3"]}
    assert (
        "3 of these 3 scenes are the new manifest's fine-tuning scenes (train/ of the dataset "
        "it was tuned on): its scores on them are in-sample"
    ) in format_comparison(on_train)
    # one group: no bootstrap to speak of (found in a walkthrough: "10,000 resamples of n = 1")
    assert "On 1 group(s) of scenes (2 scenes), new minus old:" in format_comparison(report)
    assert "resamples" not in format_comparison(report)
    # found in review: F1's groups (of scenes with a known pixel) fewer than the count's, the
    # note said "no interval" beside the count's interval
    counted = {**s["false_objects_difference"], "groups": 2, "low": -3.0, "high": 1.0}
    two = {**report, "settings": {"S1+S2": {**s, "false_objects_difference": counted}}}
    assert "- 1 group(s) of scenes for pixel F1: nothing to resample" in format_comparison(two)
    assert "(95 % interval -3 to +1, n = 2 groups); new has fewer on" in format_comparison(two)
    assert "resamples of n = 1" not in format_comparison(two)
    both = {**s, "f1_difference": {**s["f1_difference"], "groups": 2},
            "false_objects_difference": {**s["false_objects_difference"], "groups": 2}}  # fmt: skip
    assert "nothing to resample" not in format_comparison({**report, "settings": {"S1+S2": both}})
    bounds = {**s["f1_difference"], "groups": 2, "low": -0.0123, "high": 0.0456}
    given = {**report, "settings": {"S1+S2": {**s, "f1_difference": bounds}}}
    assert "(95 % interval -0.012 to +0.046); new better" in format_comparison(given)
    # found by a new user: the in-sample fallback to val/ and a scene set that knows little of
    # its background were not said
    assert "No test/ split: compared on val/, the scenes the new manifest's" in (
        format_comparison(report)
    )
    # a test/ a `dataset export --prune` emptied (its folders left) is none either: it was
    # refused as "no input/<id>_input.tif files" (found in a walk)
    (data / "test" / "input").mkdir(parents=True)
    assert data_folder(data) == data / "val"
    assert report["tuned_on_val"] == {"old": None, "new": ["scene4", "scene5"]}  # the parent
    # names no dataset
    # a val/ of other scenes (found measuring an export option; here the dataset's train/
    # scenes under another dataset's val/): only the manifest that names no dataset may have
    # chosen K there, and the report says no more
    other = tmp_path / "other" / "val"
    shutil.copytree(data / "train", other)
    elsewhere = compare_manifests(parent, out / "manifest.json", other, resamples=200)
    assert elsewhere["tuned_on_val"] == {"old": None, "new": []}
    assert "on val/, the scenes" not in format_comparison(elsewhere)
    assert "Compared on a folder named val/: where it is the split" in (
        format_comparison(elsewhere)
    )
    # a copy of the very val/ the new manifest chose K on is in-sample for it (found in
    # review: the path alone called it out of sample); named directly, not for want of test/
    copy = tmp_path / "copy" / "val"
    shutil.copytree(data / "val", copy)
    copied = compare_manifests(parent, out / "manifest.json", copy, resamples=200)
    assert copied["tuned_on_val"] == {"old": None, "new": ["scene4", "scene5"]}
    assert copied["fell_back_to_val"] is False and report["fell_back_to_val"] is True
    assert "No test/ split" not in format_comparison(copied)
    assert "Compared on val/, the scenes the new manifest's epochs, K" in (
        format_comparison(copied)
    )
    # some of them beside another scene: counted, and the train/ scene among them too
    mixed = tmp_path / "mixed" / "val"
    shutil.copytree(data / "val", mixed)
    for sub in ("input", "label"):
        for f in (data / "train" / sub).glob("scene1_*"):
            shutil.copy(f, mixed / sub / f.name)
    both = compare_manifests(parent, out / "manifest.json", mixed, resamples=200)
    assert both["tuned_on_val"] == {"old": None, "new": ["scene4", "scene5"]}
    assert both["trained_on"] == {"old": [], "new": ["scene1"]}
    assert "2 of these 3 scenes are the val/ scenes the new manifest's epochs, K" in (
        format_comparison(both)
    )
    assert "1 of these 3 scenes are the new manifest's fine-tuning scenes" in (
        format_comparison(both)
    )
    # one relabelled pixel makes a scene another: not the one K was chosen on
    with rasterio.open(mixed / "label" / "scene5_label.tif", "r+") as dst:
        band = dst.read(1)
        band[0, 0] = 1 - band[0, 0]
        dst.write(band, 1)
    edited = compare_manifests(parent, out / "manifest.json", mixed, resamples=200)
    assert edited["tuned_on_val"] == {"old": None, "new": ["scene4"]}
    sparse = {**report, "known_share": 0.022}
    assert "Only 2.2% of the scenes' pixels have a known class" in format_comparison(sparse)
    # a few reviewed landslides in a whole region's scene: it said "Only 0%", as if none
    scarce = {**report, "known_share": 934 / 190_953}
    assert "Only 0.49% of the scenes' pixels have a known class" in format_comparison(scarce)
    # a setting only one manifest has is said (found by a new user: it was dropped silently)
    assert report["only_in"] == {"old": [], "new": []} and "Only the" not in format_comparison(
        report
    )
    lacking = {**report, "only_in": {"old": ["S1"], "new": []}}
    assert "Only the old manifest has setting(s) S1: not compared; the new one would run " in (
        format_comparison(lacking)
    )
    # a dataset moved elsewhere verifies with --data, and the report names that folder
    # (found by a new user: it printed the recorded one)

    moved = tmp_path / "moved"
    shutil.copytree(data, moved)
    capsys.readouterr()
    assert main(["lineage", str(out / "manifest.json"), "--data", str(moved)]) == 0
    assert f"  dataset {moved} (10 files)" in capsys.readouterr().out
    # and compare knows the moved dataset's val/ by the recorded hash, the original gone
    renamed = data.with_name(data.name + "-gone")
    data.rename(renamed)
    try:
        training = read_manifest(out / "manifest.json").training
        ids = ["scene4", "scene5"]
        assert _tuned_on_val(training, moved / "val", ids, _Hashes()) == ids
        assert _tuned_on_val(training, moved / "train", ids, _Hashes()) == []
    finally:
        renamed.rename(data)
    # a checkpoint imported into the fine-tuned manifest afterwards is no part of what the
    # lineage describes (found in a walkthrough: it verified)
    joined = tmp_path / "tuned-and-imported"
    shutil.copytree(out, joined)
    net = smp.Unet(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=11, classes=1)
    extra = tmp_path / "extra.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, extra)
    with caplog.at_level(logging.WARNING, logger="models.checkpoint_import"):
        import_checkpoint(
            extra, joined / "manifest.json", ([0.0] * 15, [1.0] * 15), architecture="Unet",
            encoder=TEST_ENCODER, loss="Dice", learning_rate=0.001, setting="S1+S2",
        )  # fmt: skip
    assert "`python -m models lineage` refuses it from now on" in caplog.text
    with pytest.raises(ManifestError, match=r"origin imported:extra\.ckpt\) are not among .* "
                       r"joined after the finetune"):  # fmt: skip
        verify_lineage(joined / "manifest.json")
    # a relabelled pixel, or another parent, breaks the lineage
    label = data / "train" / "label" / "scene1_label.tif"
    with rasterio.open(label, "r+") as dst:
        band = dst.read(1)
        band[0, 0] = 1 - band[0, 0]
        dst.write(band, 1)
    with pytest.raises(ManifestError, match="relabelled"):
        verify_lineage(out / "manifest.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(parent.read_text()), "description": "x"}))
    with pytest.raises(ManifestError, match="not the manifest this model was derived from"):
        verify_lineage(out / "manifest.json", parent=other, dataset=data)
    # found by an ML engineer's walk: the errors named neither the cause nor the options that
    # mend them (a dataset moved: "no scene files to hash")
    with pytest.raises(ManifestError, match=r"give the one it was derived from, `lineage --parent"):
        verify_lineage(out / "manifest.json", parent=other, dataset=data)
    moved = tmp_path / "moved-data"
    data.rename(moved)
    with pytest.raises(ManifestError) as err:
        verify_lineage(out / "manifest.json")
    assert str(err.value).endswith(
        f"the dataset it was derived from, {data} (as its lineage records it), is not there: "
        "moved, give its new place (`lineage --data D`)"
    )


def test_finetune_refuses_an_out_folder_that_holds_its_inputs(
    tmp_path: Path, scene_factory: Callable[..., Scene], capsys: pytest.CaptureFixture[str]
) -> None:
    # found by a new user: --out the parent's folder overwrote its manifest.json and weights
    parent = _imported_parent(tmp_path)
    data = _dataset(tmp_path / "work" / "data", scene_factory)
    before = {p.name: sha256_file(p) for p in parent.parent.iterdir()}
    (tmp_path / "link").symlink_to(parent.parent)
    cases = {
        parent.parent: f"is the parent manifest's folder ({parent.parent})",
        tmp_path / "link": f"is the parent manifest's folder ({parent.parent})",
        tmp_path: f"contains the parent manifest's folder ({parent.parent})",
        data: f"is the dataset ({data})",
        data / "..": f"contains the dataset ({data})",
    }
    for out, relation in cases.items():
        argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
        assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
        assert capsys.readouterr().err == (
            f"error: --out {out} {relation}: the new manifest.json and member weights would "
            "overwrite or mix with the files it reads; choose a new folder outside "
            "both\n"
        )
    assert {p.name: sha256_file(p) for p in parent.parent.iterdir()} == before
    assert not (tmp_path / "manifest.json").exists() and not (data / "manifest.json").exists()
    # an --out that is a file ended in a FileExistsError traceback
    a_file = tmp_path / "tuned"
    a_file.write_text("notes")
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(a_file)]
    assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
    assert capsys.readouterr().err == (f"error: --out {a_file}: a file, not a folder\n")
    assert a_file.read_text() == "notes"
    # found in a walk: a folder inside the dataset, and one holding another kind of manifest
    # (a refitted copy's), were written into and replaced
    inside = data / "train" / "tuned"
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(inside)]
    assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
    assert f"--out {inside} is inside the dataset ({data})" in capsys.readouterr().err
    copy = tmp_path / "refitted"
    shutil.copytree(parent.parent, copy)
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(copy)]
    assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
    assert f"--out {copy} holds a manifest that no fine-tune run wrote" in capsys.readouterr().err
    assert {p.name: sha256_file(p) for p in copy.iterdir()} == before
    # found in a walk: another dataset's folder took the new manifest and weights
    other = _dataset(tmp_path / "work" / "other", scene_factory)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "dataset.json").write_text("{}")
    for out, held in (
        (other, other / "train" / "input"),
        (tmp_path / "export", tmp_path / "export" / "dataset.json"),
    ):
        argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
        assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
        assert capsys.readouterr().err == (
            f"error: --out {out} holds a dataset ({held}): the new manifest.json and member "
            "weights would be written among its scenes; choose a new folder\n"
        )
        assert not (out / "manifest.json").exists()


def test_ctrl_c_in_the_models_cli_is_a_line_and_status_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # found by a new user: Ctrl-C during a long finetune printed a traceback
    import models.finetune

    def interrupted(*_: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(models.finetune, "finetune", interrupted)
    argv = ["finetune", "--manifest", "m.json", "--data", "d", "--out", str(tmp_path / "o")]
    try:
        status = main(argv)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C left `python -m models` with a traceback")
    assert status == 130
    assert capsys.readouterr().err == "python -m models finetune: interrupted\n"


def test_ctrl_c_while_the_models_cli_loads_its_libraries_is_a_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a new user: Ctrl-C in the first seconds of a command, while torch, timm and smp
    load (3-4 s on a busy 2-core machine), printed a traceback of some 60 lines."""
    import sys
    import types

    class Loading(types.ModuleType):  # Ctrl-C as the CLI imports what it catches
        def __getattr__(self, name: str) -> object:
            if name == "CheckpointError":
                raise KeyboardInterrupt
            raise AttributeError(name)

    monkeypatch.setitem(sys.modules, "models.checkpoint_import", Loading("loading"))
    try:
        status = main(["info", "m.json"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while `python -m models` loaded its libraries left a traceback")
    assert status == 130
    assert capsys.readouterr().err == "python -m models info: interrupted\n"


def test_a_stopped_finetune_leaves_no_earlier_manifest_at_out(
    tmp_path: Path,
    scene_factory: Callable[..., Scene],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # found by a new user: a rerun killed while saving left the earlier run's manifest in
    # --out beside new weights; found in review: removed at the start, an --out the daily run
    # reads had no manifest for the whole fine-tuning
    import models.finetune

    parent = _imported_parent(tmp_path)
    data = _dataset(tmp_path / "data", scene_factory)
    out = tmp_path / "tuned"
    out.mkdir()
    earlier = json.loads(parent.read_text())
    earlier["training"] = {**earlier.get("training", {}), "finetune": {}}
    (out / "manifest.json").write_text(json.dumps(earlier))  # an earlier run's

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
    argv += ["--epochs", "1", "--iterations", "1", "--crop", "32", "--threads", "1"]
    # stopped while the members train or are chosen: the earlier result is left whole
    for step in ("_tune_member", "_select_members"):
        with monkeypatch.context() as patch:
            patch.setattr(models.finetune, step, interrupted)
            assert main(argv) == 130
        assert (out / "manifest.json").read_text() == json.dumps(earlier), step
    # stopped while saving the new weights: no manifest
    monkeypatch.setattr(models.finetune, "_save_members", interrupted)
    with caplog.at_level(logging.INFO, logger="models.finetune"):
        assert main(argv) == 130
    assert not (out / "manifest.json").exists()
    removed = f"{out / 'manifest.json'}: removed the earlier run's manifest"
    assert f"{removed}; this run writes it at the end" in caplog.messages


def test_finetune_logs_how_far_it_is(
    tmp_path: Path, scene_factory: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    # found by a new user: the log said nothing until a member was done, and then not how
    # many were left
    from models.finetune import finetune

    parent = _imported_parent(tmp_path)
    torch.manual_seed(3)  # a second network (a renamed copy of epoch_007.ckpt is refused)
    net = smp.FPN(encoder_name=TEST_ENCODER, encoder_weights=None, in_channels=11, classes=1)
    ckpt = {"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}
    torch.save({**ckpt, "hyper_parameters": {"lr": 0.001}}, tmp_path / "epoch_009.ckpt")
    import_checkpoint(
        tmp_path / "epoch_009.ckpt", parent, ([0.0] * 15, [1.0] * 15), architecture="FPN",
        encoder=TEST_ENCODER, loss="Dice", learning_rate=0.001, setting="S1+S2",
    )  # fmt: skip
    names = [e.name for e in read_manifest(parent).members]
    assert [n[-9:] for n in names] == ["epoch_007", "epoch_009"]
    data = _dataset(tmp_path / "data", scene_factory)
    config = FinetuneConfig(epochs=2, iterations=1, crop=32, threads=1)
    with caplog.at_level(logging.INFO, logger="models.finetune"):
        tuned = finetune(parent, data, tmp_path / "tuned", config)
    members = read_manifest(tuned).training["finetune"]["members"]
    progress = [m.split(", loss")[0] for m in caplog.messages if m.startswith("[")]
    assert progress == [
        line
        for i, name in enumerate(names, 1)
        for line in (
            f"[{i}/2] {name}: fine-tuning, 2 epoch(s) of 1 step(s)",
            f"[{i}/2] {name}: epoch 1/2",
            f"[{i}/2] {name}: epoch 2/2",
            f"[{i}/2] {name}: held-out F1 {members[name]['parent_val_f1']:.3f} -> "
            f"{members[name]['val_f1']:.3f} (epoch {members[name]['best_epoch']} of 2; "
            f"{members[name]['epoch_choice']['why']})",
        )
    ]
    epoch_1 = next(m for m in caplog.messages if m.startswith(f"[1/2] {names[0]}: epoch 1/2"))
    h = members[names[0]]["history"][1]
    assert epoch_1.endswith(
        f"loss {h['loss']:.4f}, held-out F1 {h['val_f1']:.3f}, "
        f"object recall {h['object_recall']:.3f}"
    )


def test_threshold_keeps_the_parents_object_recall() -> None:
    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = True  # a landslide the model is sure of
    truth[15, 15] = True  # a small one it is not
    prob = np.zeros((20, 20), np.float64)
    prob[truth] = 0.9
    prob[15, 15] = 0.3
    prob[10, 5:10] = 0.35  # five false-alarm pixels
    probs = [prob[None]]
    # free choice: the threshold that drops the false alarms, and with them the small slide
    k, t, f1, recall, _ = choose_k_and_threshold(probs, [truth], 0.5)
    assert (k, t, recall) == (1, 0.36, 0.5) and f1 == pytest.approx(32 / 33)
    # the parent found both: the fine-tuned ensemble must too (0.05 to 0.30 detect the same
    # pixels; ties go to the lowest threshold, as in models.metrics.best_threshold)
    k, t, f1, recall, _ = choose_k_and_threshold(probs, [truth], 1.0)
    assert (k, t, recall) == (1, 0.05, 1.0) and f1 == pytest.approx(34 / 39)


def test_the_threshold_stays_at_the_parents_where_the_scenes_cannot_tell() -> None:
    """Every threshold from 0.36 to 0.90 scores the same F1 on these pixels: with the parent's
    0.5 given, the choice stays there instead of moving to the lowest (0.36)."""
    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = True
    prob = np.zeros((20, 20), np.float64)
    prob[truth] = 0.9
    prob[10, 5:10] = 0.35
    k, t, f1, _, scan = choose_k_and_threshold([prob[None]], [truth], 1.0, 0.5)
    assert (k, t) == (1, 0.5) and f1 == 1.0
    assert scan["best"] == {"k": 1, "threshold": 0.36, "f1": 1.0}


def test_without_a_landslide_in_val_the_recall_is_unknown_not_one() -> None:
    """Held-out scenes with no landslide the setting sees (only dismissed look-alikes): the
    object recall is NaN (it used to read 1.0) and constrains nothing. F1 is 0 at every
    threshold, so the parent's threshold stays."""
    truth = np.zeros((20, 20), bool)
    prob = np.zeros((20, 20), np.float64)
    prob[10, 5:10] = 0.35
    k, t, f1, recall, _ = choose_k_and_threshold([prob[None]], [truth], float("nan"), 0.5)
    assert k == 1 and t == 0.5 and math.isnan(recall) and f1 == 0.0


def test_a_new_detection_where_no_one_reviewed_counts_as_a_false_alarm() -> None:
    """A reviewed scene: the left half known (a confirmed landslide of 16 pixels and its
    background), the right half ignored (unreviewed), with one unreviewed candidate of the
    parent there (9 pixels at 0.8). The fine-tuned member draws a new 16-pixel object at 0.7 in
    the unreviewed half. Scored on the known pixels alone, the object costs nothing and the
    threshold stays at the parent's 0.5; with the unreviewed pixels that the parent leaves
    alone presumed background, it is 16 false pixels (F1 32/48 at 0.5) and the threshold moves
    to the lowest that drops it, 0.71."""
    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = True
    ignore = np.zeros((20, 20), bool)
    ignore[:, 10:] = True
    scene = Scene("s", np.zeros((1, 20, 20), np.float32), truth.astype(np.uint8), ignore=ignore)
    parent = np.full((20, 20), 0.1)
    parent[truth] = 0.9
    parent[14:17, 14:17] = 0.8  # the parent's unreviewed candidate
    parent[0, 19] = np.nan  # no observation: not presumed anything
    (scored,) = presumed_background([scene], [parent], 0.5)
    assert scored.ignore is not None and int(scored.ignore.sum()) == 10
    assert scored.ignore[14:17, 14:17].all() and scored.ignore[0, 19]
    assert int(scored.known.sum()) == 390 and int(scored.label.sum()) == 16
    assert scene.ignore is not None and int(scene.known.sum()) == 200  # the input is unchanged
    tuned = parent.copy()
    tuned[10:14, 12:16] = 0.7  # a new object where no one reviewed
    for view, (threshold, f1_at_parent) in ((scene, (0.5, 1.0)), (scored, (0.71, 32 / 48))):
        assert view.ignore is not None
        prob = np.where(view.ignore, np.nan, tuned)[None]
        # 4-pixel tiles: one 64-pixel tile would give no standard error to choose with
        k, t, f1, recall, scan = choose_k_and_threshold([prob], [truth], 1.0, 0.5, block=4)
        assert (k, t, f1, recall) == (1, threshold, 1.0, 1.0)
        assert scan["best"]["f1"] == 1.0
        fp = int(((prob[0] >= 0.5) & ~truth & np.isfinite(prob[0])).sum())
        assert 32 / (32 + fp) == pytest.approx(f1_at_parent)
    # a scene without ignored pixels is scored as it is
    whole = Scene("w", np.zeros((1, 20, 20), np.float32), truth.astype(np.uint8))
    assert presumed_background([whole], [parent], 0.5)[0] is whole


def _tiled(block: int = 64, tiles: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 256 x 256 scene of 16 tiles, each with an 8 x 8 landslide, and member A: 0.9 on the
    landslides, 0.1 elsewhere, and 2 false pixels at 0.9 in each of the first 8 tiles."""
    size = block * tiles
    truth = np.zeros((size, size), bool)
    a = np.full((size, size), 0.1)
    for i in range(tiles * tiles):
        y, x = divmod(i, tiles)
        truth[y * block + 20 : y * block + 28, x * block + 20 : x * block + 28] = True
        if i < 8:
            a[y * block + 40, x * block + 40 : x * block + 42] = 0.9
    a[truth] = 0.9
    return truth, a, a.copy()


def test_the_larger_ensemble_is_kept_when_one_member_wins_by_less_than_the_noise() -> None:
    """Member B copies A but for one landslide pixel at 0.0 and one background pixel at 1.0:
    A alone beats the pair by one pixel (F1 2048/2064 against 2048/2065), far less than the
    spread of F1 over resampled tiles (A's 16 false pixels lie in half of them), so K = 2 is
    kept, at the parent's 0.5 (which leaves the pair's landslide pixel at 0.45 out: 2046/2064,
    also within the noise)."""
    truth, a, b = _tiled()
    b[20, 20], b[0, 0] = 0.0, 1.0
    k, t, f1, recall, scan = choose_k_and_threshold([np.stack([a, b])], [truth], 1.0, 0.5)
    assert scan["best"]["k"] == 1 and scan["val_f1_by_k"] == [0.9922, 0.9918]
    assert scan["f1_standard_error"] > 0.0015 and scan["bootstrap"]["blocks"] == 16
    assert (k, t, recall) == (2, 0.5, 1.0) and f1 == pytest.approx(2046 / 2064)


def test_one_member_is_taken_when_it_wins_beyond_the_noise() -> None:
    """Member B is wrong everywhere (0.0 on landslides, 0.9 elsewhere): the pair is far worse
    than A alone, and K = 1 is chosen."""
    truth, a, _ = _tiled()
    b = np.where(truth, 0.0, 0.9)
    k, t, f1, _, scan = choose_k_and_threshold([np.stack([a, b])], [truth], 1.0, 0.5)
    assert k == 1 and scan["val_f1_by_k"][1] < 0.5
    assert f1 == pytest.approx(2048 / 2064) and t == 0.5


def _epochs(fp_by_epoch: list[list[int]], recalls: list[float]) -> list[Any]:
    """Epoch scores over 16 tiles of 10 landslide pixels each (all found) with the given false
    pixels per tile."""
    from models.finetune import _EpochScore

    return [
        _EpochScore(np.array([(10, fp, 0) for fp in fps], np.int64), r)
        for fps, r in zip(fp_by_epoch, recalls, strict=True)
    ]


def test_a_member_keeps_the_parents_weights_unless_an_epoch_wins_beyond_the_noise() -> None:
    """Epoch 0 (the parent's weights) draws 16 false pixels in half of the 16 tiles: F1 320/448.
    Epoch 1 draws one fewer (320/447), far less than the spread of F1 over resampled tiles, so
    the one-SE rule keeps the parent's weights where the plain maximum took epoch 1. Epoch 2
    draws none (F1 1.0), beyond the noise: taken. An epoch that wins by dropping a held-out
    landslide (its object recall under the parent's) is never taken."""
    from models.finetune import choose_epoch

    parent = [16, 0] * 8
    one_fewer = [15, 0] + [16, 0] * 7
    small = _epochs([parent, one_fewer], [1.0, 1.0])
    assert small[0].f1 == pytest.approx(320 / 448) and small[1].f1 == pytest.approx(320 / 447)
    assert choose_epoch(small, "best")[0] == 1
    epoch, record = choose_epoch(small)
    assert epoch == 0 and record["highest_f1_epoch"] == 1
    assert 0.01 < record["f1_standard_error"] < 0.1 and "within one standard error" in record["why"]
    clear = _epochs([parent, one_fewer, [0] * 16], [1.0, 1.0, 1.0])
    assert choose_epoch(clear)[0] == 2
    # the same gain with one of ten held-out landslides lost: the parent's weights stay
    lost = _epochs([parent, one_fewer, [0] * 16], [1.0, 1.0, 0.9])
    epoch, record = choose_epoch(lost)
    assert (epoch, record["highest_f1_epoch"], record["eligible"]) == (0, 1, [0, 1])


def test_held_out_scenes_of_one_tile_move_nothing_from_the_parent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found by a user whose val/ was one 43 x 43 pixel scene: one 64-pixel tile has no spread
    to resample, the standard error read 0.000, and the one-SE rule became "take the best" (K
    3 -> 2, threshold 0.51 -> 0.05). Without an error there is no evidence to move on: the
    parent's weights, the largest K and the threshold nearest the parent's, said in the log."""
    from models.finetune import choose_epoch

    one = [_one_epoch([(10, 16, 0)]), _one_epoch([(10, 0, 0)])]
    epoch, record = choose_epoch(one)
    assert (epoch, record["highest_f1_epoch"], record["f1_standard_error"]) == (0, 1, None)
    assert "fewer than two 64-pixel tiles" in record["why"]
    truth = np.zeros((43, 43), bool)
    truth[5:15, 5:15] = True
    probs = np.full((3, 43, 43), 0.1)
    probs[:, truth] = 0.9
    probs[:2, 30:40, 30:40] = 0.5  # a false alarm the mean of three members draws (0.63)
    probs[2, 30:40, 30:40] = 0.9
    with caplog.at_level("WARNING", logger="models.finetune"):
        k, t, f1, recall, scan = choose_k_and_threshold([probs], [truth], 1.0, 0.51)
    # the best F1 (1.0, K 1) is not taken on no evidence: K 3 at the parent's threshold
    assert (k, t, recall) == (3, 0.51, 1.0) and f1 == pytest.approx(2 / 3)  # 100 TP, 100 FP
    assert scan["best"]["k"] == 1 and scan["best"]["f1"] == 1.0
    assert scan["f1_standard_error"] is None
    assert scan["bootstrap"]["blocks"] == 1
    assert "1 tile(s) of 64 pixels, too few to estimate the F1's standard error" in caplog.text


def _one_epoch(tiles: list[tuple[int, int, int]]) -> Any:
    from models.finetune import _EpochScore

    return _EpochScore(np.array(tiles, np.int64), 1.0)


def test_landslides_the_setting_cannot_see_are_left_out_of_the_recall() -> None:
    """An optical setting's probability is NaN under clouds (the run's radar-only fallback
    predicts those pixels): a landslide there is not the setting's miss. Counted as missed it made
    the parent's recall floor 0.16 on cloudy reviewed scenes, and any threshold passed it."""
    from models.finetune import _object_recall

    truth = np.zeros((20, 20), bool)
    truth[2:6, 2:6] = True  # seen, at 0.6
    truth[12:16, 12:16] = True  # under clouds
    truth[8, 2:5] = True  # half under clouds, seen at 0.8 where clear
    prob = np.zeros((20, 20), np.float64)
    prob[2:6, 2:6] = 0.6
    prob[12:16, 12:16] = np.nan
    prob[8, 2] = 0.8
    prob[8, 3:5] = np.nan
    assert _object_recall([prob], [truth], 0.5) == 1.0  # 2 of the 2 seen
    assert _object_recall([prob], [truth], 0.7) == 0.5
    # a floor of 1.0 (the parent saw both it can see) keeps the threshold at or below 0.6
    _, t, _, recall, _ = choose_k_and_threshold([prob[None]], [truth], 1.0)
    assert t <= 0.6 and recall == 1.0
    # all under clouds: nothing to count, and nothing to choose from but the parent's threshold
    cloudy = np.full((20, 20), np.nan)
    assert np.isnan(_object_recall([cloudy], [truth], 0.5))
    k, t, f1, _, scan = choose_k_and_threshold([cloudy[None]], [truth], 1.0, 0.4)
    assert (k, t, f1) == (1, 0.4, 0.0) and scan["bootstrap"]["blocks"] == 0


def test_the_false_alarm_share_leaves_landslide_crops() -> None:
    assert FinetuneConfig(false_alarm_share=0.0).false_alarm_share == 0.0
    assert FinetuneConfig(batch_size=4, false_alarm_share=0.75).false_alarm_share == 0.75
    for share in (0.9, 1.0, -0.1):  # 0.9 x 4 rounds to 4 hard-negative crops of 4
        with pytest.raises(ValueError, match="leave a landslide crop in every batch of 4"):
            FinetuneConfig(batch_size=4, false_alarm_share=share)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        # a crop the networks cannot halve five times ended the run in smp's traceback at the
        # first member's first batch, after the data had been read
        ("--crop", "63", "crop must be a positive multiple of 32, got 63"),
        ("--crop", "48", "crop must be a positive multiple of 32, got 48"),
        # 0 was read as no limit and -1 dropped each setting's last member, silently
        ("--k", "0", "k must be at least 1, got 0"),
        ("--k", "-1", "k must be at least 1, got -1"),
        # torch's "set_num_threads expects a positive integer" traceback, after reading the data
        ("--threads", "0", "threads must be at least 1, got 0"),
    ],
)
def test_finetune_refuses_options_it_cannot_use_before_reading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    argv = ["finetune", "--manifest", str(tmp_path / "m.json"), "--data", str(tmp_path)]
    assert main([*argv, "--out", str(tmp_path / "out"), option, value]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_frozen_batch_norm_keeps_the_parents_statistics() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Dropout(0.5)
    )
    norm = cast(torch.nn.BatchNorm2d, net[1])
    assert norm.running_mean is not None and norm.running_var is not None  # tracked
    before = norm.running_mean.clone(), norm.running_var.clone()
    batch = torch.randn(4, 2, 8, 8) * 3.0 + 5.0  # far from the stored statistics (0 and 1)
    train_mode(net, freeze_norm=True)
    assert not norm.training and net[2].training  # dropout still trains
    out = net(batch)
    assert torch.equal(norm.running_mean, before[0]) and torch.equal(norm.running_var, before[1])
    out.sum().backward()
    assert norm.weight.grad is not None and float(norm.weight.grad.abs().sum()) > 0
    train_mode(net, freeze_norm=False)
    assert norm.training
    net(batch)
    assert float((norm.running_mean - before[0]).abs().max()) > 0.1


def test_fine_tuning_keeps_the_parents_batch_norm_statistics(
    tmp_path: Path, scene_factory: Callable[..., Scene], monkeypatch: pytest.MonkeyPatch
) -> None:
    import models.finetune
    from models.finetune import finetune
    from models.manifest import load_member

    parent = _imported_parent(tmp_path)
    data = _dataset(tmp_path / "data", scene_factory)
    # the last epoch is kept, whatever it scores
    scored_known: list[int] = []  # known pixels of the scenes each epoch is scored on
    real_score = models.finetune._epoch_score

    def score(probs: list[np.ndarray], scenes: list[Scene], *a: Any) -> object:
        scored_known.append(sum(int(s.known.sum()) for s in scenes))
        return real_score(probs, scenes, *a)

    monkeypatch.setattr(models.finetune, "_epoch_score", score)
    monkeypatch.setattr(
        models.finetune, "choose_epoch", lambda e, *a, **k: (len(e) - 1, {"why": "the last"})
    )

    def statistics(manifest: Path) -> list[torch.Tensor]:
        (entry,) = read_manifest(manifest).members
        member = load_member(entry, manifest.parent)
        return [
            cast(torch.Tensor, m.running_mean).clone()  # tracked: not None
            for m in member.modules()
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
        ]

    config: dict[str, Any] = {"epochs": 1, "iterations": 2, "crop": 32, "threads": 1}
    kept = finetune(parent, data, tmp_path / "kept", FinetuneConfig(**config))
    record = read_manifest(kept).training["finetune"]
    assert record["config"]["freeze_norm"] is True
    (member,) = record["members"].values()
    assert member["best_epoch"] == 1  # trained weights, not the parent's
    # epochs 0 and 1 scored on the held-out scenes with the presumed background, whose share
    # the other test recomputes from the parent's predictions
    assert len(scored_known) == 2 and scored_known[0] == scored_known[1]
    assert scored_known[0] > 2 * 64 * 48  # more than the known part alone
    assert abs(scored_known[0] / (2 * 64 * 64) - member["val_known_share"]) < 5e-5
    before = statistics(parent)
    assert len(before) == 34
    assert all(torch.equal(a, b) for a, b in zip(before, statistics(kept), strict=True))
    moved = finetune(parent, data, tmp_path / "moved", FinetuneConfig(freeze_norm=False, **config))
    assert not all(torch.equal(a, b) for a, b in zip(before, statistics(moved), strict=True))

    # epoch 0 kept: the parent's weights and buffers, every one, as they were
    def weights(manifest: Path) -> dict[str, torch.Tensor]:
        (entry,) = read_manifest(manifest).members
        return load_member(entry, manifest.parent).state_dict()

    monkeypatch.setattr(models.finetune, "choose_epoch", lambda e, *a, **k: (0, {"why": "0"}))
    undone = finetune(
        parent, data, tmp_path / "undone", FinetuneConfig(freeze_norm=False, **config)
    )
    old, new = weights(parent), weights(undone)
    assert old.keys() == new.keys() and all(torch.equal(old[k], new[k]) for k in old)
    # ... and its origin stays the parent's
    origins = [read_manifest(m).members[0].origin for m in (parent, undone, kept)]
    assert origins == ["imported:epoch_007.ckpt"] * 2 + ["finetuned:imported:epoch_007.ckpt"]
    # and `models info` does not call it fine-tuned: no weight moved
    parent_says = read_manifest(parent).description
    assert read_manifest(kept).description == f"{parent_says} (fine-tuned on data)".strip()
    assert read_manifest(undone).description == (
        f"{parent_says} (K and thresholds chosen again on data)".strip()
    )


def _earlier_run(tmp_path: Path, scene_factory: Callable[..., Scene]) -> tuple[Path, Path, Path]:
    """The parent manifest, a dataset, and an --out holding an earlier run's manifest whose
    one member (``chosen-last-time.safetensors``) the next run will not write."""
    parent = _imported_parent(tmp_path)
    data = _dataset(tmp_path / "data", scene_factory)
    out = tmp_path / "tuned"
    out.mkdir()
    earlier = json.loads(parent.read_text())
    earlier["members"][0]["file"] = "chosen-last-time.safetensors"
    earlier["training"] = {**earlier.get("training", {}), "finetune": {}}  # a fine-tune's
    (out / "manifest.json").write_text(json.dumps(earlier))
    (out / "chosen-last-time.safetensors").write_bytes(b"weights of an earlier run")
    return parent, data, out


def test_an_earlier_run_s_members_this_run_does_not_choose_are_removed(
    tmp_path: Path, scene_factory: Callable[..., Scene]
) -> None:
    # found by a new user: the weights of members an earlier run chose and this one did not
    # stayed in --out beside the new manifest, which no longer names them
    parent, data, out = _earlier_run(tmp_path, scene_factory)
    (out / "notes.txt").write_text("mine")
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
    assert (
        main([*argv, "--epochs", "1", "--iterations", "1", "--crop", "32", "--threads", "1"]) == 0
    )
    assert not (out / "chosen-last-time.safetensors").exists()
    assert (out / "notes.txt").read_text() == "mine"
    for member in read_manifest(out / "manifest.json").members:
        assert (out / member.file).is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [
            "manifest.json",
            "notes.txt",
            *(m.file for m in read_manifest(out / "manifest.json").members),
        ]
    )  # the list kept while saving is gone with the run that made it


def test_members_of_a_run_killed_while_saving_are_removed_by_the_next(
    tmp_path: Path, scene_factory: Callable[..., Scene], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found killing `finetune` with SIGKILL just after 'removed the earlier run's manifest':
    the earlier run's members this run did not choose stayed in --out for good, as the only
    list of them, the earlier manifest, was gone; the rerun could not know them."""
    import models.finetune

    parent, data, out = _earlier_run(tmp_path, scene_factory)

    def killed(*_: object) -> None:  # a SIGKILL while saving: no cleanup runs
        raise SystemExit(137)

    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
    argv += ["--epochs", "1", "--iterations", "1", "--crop", "32", "--threads", "1"]
    with monkeypatch.context() as patch:
        patch.setattr(models.finetune, "_save_members", killed)
        with pytest.raises(SystemExit):
            main(argv)
    assert not (out / "manifest.json").exists()
    assert (out / "chosen-last-time.safetensors").exists()
    assert main(argv) == 0
    assert not (out / "chosen-last-time.safetensors").exists()
    assert not (out / ".saving.json").exists()


def test_a_split_given_for_the_dataset_is_named(tmp_path: Path) -> None:
    """Found by a walkthrough: `finetune --data data/mine/test` said only that
    data/mine/test/train was missing."""
    from models.datasets import DatasetError
    from models.finetune import _read_split

    (tmp_path / "mine" / "test" / "input").mkdir(parents=True)
    with pytest.raises(DatasetError) as err:
        _read_split(tmp_path / "mine" / "test", "train")
    assert str(err.value).endswith(
        f"; {tmp_path / 'mine' / 'test'} is itself a split: give its dataset, {tmp_path / 'mine'}"
    )
    with pytest.raises(DatasetError) as err:  # a folder that is no split: no such hint
        _read_split(tmp_path / "mine", "train")
    assert "is itself a split" not in str(err.value)


def test_a_val_without_a_landslide_pixel_is_refused_before_training(
    tmp_path: Path, scene_factory: Callable[..., Scene], capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an ML engineer's walk: a `val/` of Global Landslide Catalog points too imprecise
    for a core (labels of 0 and 255 only) gave a manifest "tuned" on an F1 of 0 for every
    choice, exit 0, where docs/models.md says such scenes are refused."""
    parent = _imported_parent(tmp_path)
    data = _dataset(tmp_path / "data", scene_factory)
    for label in (data / "val" / "label").glob("*.tif"):
        with rasterio.open(label, "r+") as dst:
            values = dst.read(1)
            dst.write(np.where(values == 1, 255, values).astype(values.dtype), 1)
    out = tmp_path / "tuned"
    argv = ["finetune", "--manifest", str(parent), "--data", str(data), "--out", str(out)]
    assert main([*argv, "--epochs", "1", "--iterations", "1", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "error: the validation scenes (2: " in err and "hold no landslide pixel" in err
    assert f"(in {data}/val: more confirmed reviews, precise points or polygons;" in err
    assert not out.exists()
