"""``python -m models copy`` and the ``default`` manifest argument: the bundled ensemble named
wherever it is installed, and copied, each file checked, before anything edits it in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.cli import main
from models.manifest import (
    DEFAULT_MANIFEST,
    ManifestError,
    copy_manifest,
    manifest_arg,
    manifest_files,
    read_manifest,
)


def test_default_names_the_bundled_manifest() -> None:
    assert manifest_arg("default") == DEFAULT_MANIFEST
    assert manifest_arg("./default") == Path("default")
    assert manifest_arg("m/manifest.json") == Path("m/manifest.json")


def test_copy_takes_the_manifest_and_the_files_it_checksums(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "refitted"
    assert main(["copy", "default", str(target)]) == 0
    assert f"to {target / 'manifest.json'}" in capsys.readouterr().out
    manifest = read_manifest(DEFAULT_MANIFEST)
    wanted = {"manifest.json", *(file for _, file, _ in manifest_files(manifest))}
    assert {p.name for p in target.iterdir()} == wanted  # no report, no figure
    assert (target / "manifest.json").read_bytes() == DEFAULT_MANIFEST.read_bytes()
    # the copy is a manifest the models command checks whole
    assert main(["info", str(target / "manifest.json")]) == 0
    assert "MISSING" not in capsys.readouterr().out

    # an existing folder is refused (cp -r would copy into it)
    assert main(["copy", "default", str(target)]) == 2
    assert f"{target} exists" in capsys.readouterr().err


def test_a_file_that_differs_from_its_checksum_is_not_copied(tmp_path: Path) -> None:
    source = Path(copy_manifest(DEFAULT_MANIFEST, tmp_path / "a"))
    member = read_manifest(source).members[0].file
    with (tmp_path / "a" / member).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ManifestError, match=f"member weights {member} differs"):
        copy_manifest(source, tmp_path / "b")
    assert not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no half copy left


def test_the_refit_refuses_the_bundled_manifest_and_names_the_fit_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from monitor.ops.filter_refit import refit_filter

    with pytest.raises(ValueError, match=r"is the bundled ensemble.*python -m models copy default"):
        refit_filter(DEFAULT_MANIFEST, tmp_path)

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    with pytest.raises(
        ValueError, match=r"sklearn not installed\): pip install 'landslide-monitor\[fit\]'"
    ):
        refit_filter(tmp_path / "manifest.json", tmp_path)
