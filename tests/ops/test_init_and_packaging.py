"""What a monitor installed with pip has without a source checkout: ``landslide-monitor init``
writes the demo's configuration to start from, and every data file the packages hold is in the
wheel's package data (found in a walkthrough of an installed wheel: the demo's configuration,
the training grids and the loopback inbox's SMTP server were missing)."""

from __future__ import annotations

import fnmatch
import subprocess
import tomllib
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ArchiveSourceConfig, load_config
from monitor.ops.init import CONFIG_NAME, DEMO_CONFIG, starter_text

ROOT = Path(__file__).resolve().parents[2]


def test_init_writes_the_demo_with_its_paths_in_the_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "my monitor"  # a space: the printed commands quote it
    assert main(["init", str(folder)]) == 0
    out = capsys.readouterr().out
    written = folder / CONFIG_NAME
    assert f"wrote {written}" in out
    assert f"archive build --config '{written}'" in out
    text = written.read_text(encoding="utf-8")
    assert "base_dir" not in text.replace("`base_dir`", "")  # the checkout's ../.. is gone
    assert "`make demo` builds" not in text  # the demo's header speaks of the checkout

    config = load_config(written)
    demo = load_config(DEMO_CONFIG)
    assert isinstance(config.source, ArchiveSourceConfig)  # the demo's archive source
    assert isinstance(demo.source, ArchiveSourceConfig)
    # the same regions and settings, every relative path read from the folder
    assert [r.name for r in config.regions] == [r.name for r in demo.regions]
    assert config.source.path == folder / "data" / "demo" / "archive"
    assert config.inventory.path == folder / "runs" / "demo" / "inventory.gpkg"
    assert demo.source.path == ROOT / "data" / "demo" / "archive"  # the checkout's, in place
    assert config.model == demo.model  # the bundled ensemble: no path to the checkout


def test_init_leaves_an_existing_file_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    written = tmp_path / CONFIG_NAME
    written.write_text("regions: []  # mine\n")
    assert main(["init", str(tmp_path)]) == 2
    assert f"{written} exists: it is left as it is" in capsys.readouterr().err
    assert written.read_text() == "regions: []  # mine\n"
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert written.read_text(encoding="utf-8") == starter_text()


def test_the_starter_refuses_a_demo_of_another_shape() -> None:
    demo = DEMO_CONFIG.read_text(encoding="utf-8")
    assert starter_text(demo).startswith("# Written by `landslide-monitor init`")
    with pytest.raises(ValueError, match=r"no line 'base_dir: \.\./\.\.'"):
        starter_text(demo.replace("base_dir: ../..", "base_dir: .."))
    with pytest.raises(ValueError, match="settings before"):
        starter_text("source: {}\n" + demo)


def _package_data() -> dict[str, list[str]]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    data: dict[str, list[str]] = pyproject["tool"]["setuptools"]["package-data"]
    return data


def test_every_data_file_of_the_packages_is_shipped() -> None:
    """Each tracked file of the packages that is not Python source matches a package-data
    pattern of its package (setuptools' patterns: relative to the package, ``*`` within one
    folder), so that the wheel holds what the code and the docs read."""
    listed = subprocess.run(
        ["git", "ls-files", "monitor", "models", "gee_scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are not known")
    data = _package_data()
    missing = []
    for name in listed.stdout.split():
        if name.endswith(".py"):
            continue
        package, _, inside = name.partition("/")
        patterns = data.get(package, [])
        if not any(
            fnmatch.fnmatch(inside, p) and inside.count("/") == p.count("/") for p in patterns
        ):
            missing.append(name)
    assert missing == [], f"tracked in the packages but not in pyproject's package-data: {missing}"


def test_the_inbox_s_smtp_server_is_a_dependency_not_a_test_extra() -> None:
    """``python -m monitor.ops.demo_inbox`` (docs/alerts.md, Trying your alerts) imports
    aiosmtpd: an install without the test extra crashed there."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [d.split(">")[0].split("=")[0] for d in pyproject["project"]["dependencies"]]
    assert "aiosmtpd" in names
    assert "aiosmtpd" in (ROOT / "monitor/ops/demo_inbox.py").read_text()


def test_the_release_is_the_same_in_the_package_and_its_metadata() -> None:
    """pyproject.toml and ``monitor.__version__`` (what ``--version`` prints) each write the
    release: found in the walkthrough of the wheel, nothing tied them together."""
    import monitor

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert monitor.__version__ == pyproject["project"]["version"]
