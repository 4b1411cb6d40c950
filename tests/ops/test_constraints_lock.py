"""constraints.txt is the lock that every install goes through (`make lock`): it must pin every
requirement that pyproject.toml and constraints.in name, at a version they allow, or a new
dependency added without a new lock would install unpinned."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, version = line.partition("==")
        assert version, f"constraints.txt: {line!r} is not a pin (name==version)"
        key = canonicalize_name(name)
        assert key not in pins, f"constraints.txt pins {name} twice"
        pins[key] = Version(version)
    return pins


def _requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    named = [("pyproject.toml dependencies", r) for r in project["dependencies"]]
    named += [("pyproject.toml [test]", r) for r in project["optional-dependencies"]["test"]]
    for line in (ROOT / "constraints.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            named.append(("constraints.in", line))
    return [(where, Requirement(text)) for where, text in named]


def test_the_lock_pins_every_requirement_at_a_version_it_allows() -> None:
    pins = _pins()
    problems = []
    for where, req in _requirements():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{where}: {req} has no pin (run `make lock`)")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{where}: {req} does not allow the pinned {pin} (run `make lock`)")
    assert not problems, "\n".join(problems)


def test_the_lock_holds_no_cuda_packages_and_no_local_versions() -> None:
    pins = _pins()
    assert not [n for n in pins if n.startswith("nvidia-") or n == "triton"]
    assert not [f"{n}=={v}" for n, v in pins.items() if v.local], "a +cpu or +cu local version"
    assert "pip" not in pins  # left to the venv; setuptools is pinned (torch needs it)
    assert "setuptools" in pins and "torch" in pins
