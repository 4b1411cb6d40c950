"""``make browser-deps`` (tests/ops/browser_deps.sh) on machines that have some of chromium,
chromedriver, node and npm: it asks apt for each missing tool on its own, never for Debian's npm
where a Node.js is already installed (the image's own node conflicts with it), and never fails
``make test``. Run with stand-ins for apt-get, id and the tools on a PATH of their own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("browser_deps.sh")
BASH = shutil.which("bash")


def _run(tmp_path: Path, present: set[str], apt_fails: bool = False) -> tuple[int, str, list[str]]:
    """Run the script with ``present`` tools on PATH; returns status, output and apt's calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("dirname", "tail", "sed"):
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    calls = tmp_path / "apt-calls"

    def stub(name: str, body: str) -> None:
        path = bin_dir / name
        path.write_text(f"#!{BASH}\n{body}\n")
        path.chmod(0o755)

    stub("id", "echo 0")  # root
    stub("apt-get", f'echo "$*" >> {calls}; exit {1 if apt_fails else 0}')
    for tool in present:
        stub(tool, "exit 0")
    python = tmp_path / "python"  # browser_assets.py's runner: records that it was asked
    python.write_text(f"#!{BASH}\necho assets fetched\n")
    python.chmod(0o755)
    done = subprocess.run(
        [str(BASH), str(SCRIPT), str(python)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    installs = calls.read_text().splitlines() if calls.exists() else []
    return done.returncode, done.stdout + done.stderr, installs


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_image_node_and_npm_kept_browser_installed_one_package_at_a_time(tmp_path: Path) -> None:
    status, out, calls = _run(tmp_path, {"node", "npm"})
    assert status == 0, out
    installs = [c for c in calls if c.startswith("install")]
    assert installs == ["install -y -qq chromium", "install -y -qq chromium-driver"]
    assert "assets fetched" in out


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_node_without_npm_never_gets_debian_npm(tmp_path: Path) -> None:
    status, out, calls = _run(tmp_path, {"node", "chromium", "chromedriver"})
    assert status == 0, out
    assert calls == []
    assert "not installing Debian's npm over it" in out and "assets fetched" not in out


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_a_failing_apt_is_reported_and_does_not_fail_make_test(tmp_path: Path) -> None:
    status, out, calls = _run(tmp_path, set(), apt_fails=True)
    assert status == 0, out
    installs = [c for c in calls if c.startswith("install")]
    assert installs == [f"install -y -qq {p}" for p in ("chromium", "chromium-driver", "npm")]
    assert out.count("the browser test will be skipped") == 3


@pytest.mark.skipif(BASH is None, reason="needs bash")
def test_nothing_is_installed_when_everything_is_there(tmp_path: Path) -> None:
    status, out, calls = _run(tmp_path, {"chromium", "chromedriver", "node", "npm"})
    assert (status, calls) == (0, [])
    assert "assets fetched" in out
