"""Schema versions from the command line (monitor.file_schemas, docs/operations.md
"Upgrading"): every command refuses an inventory that a newer release wrote, with exit status 2
and a message naming the file, its version and the highest this release reads, and leaves it as
it was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from ops_fixtures import populate, write_config

from monitor import __version__
from monitor.cli import main
from monitor.config import MonitorConfig, load_config
from monitor.file_schemas import INVENTORY, VERSION_TABLE


def _newer(path: Path, store: str, version: int) -> bytes:
    """Stamp ``path`` as a newer release would; its bytes then."""
    with sqlite3.connect(path) as conn:
        conn.execute(
            f"UPDATE {VERSION_TABLE} SET version = ?, release = '0.9.0' WHERE name = ?",
            (version, store),
        )
        assert conn.total_changes == 1
    return path.read_bytes()


@pytest.fixture
def config(tmp_path: Path, untrained_manifest: Path) -> MonitorConfig:
    return load_config(write_config(tmp_path, untrained_manifest))


COMMANDS = {
    "status": ["status"],
    "inventory confirm": ["inventory", "confirm", "1"],
    "inventory export": ["inventory", "export", "OUT/landslides.geojson"],
    "alerts list": ["alerts", "list"],
    "alerts deliver": ["alerts", "deliver", "--now"],
    "alerts retry": ["alerts", "retry", "--dead"],
    "schedule --dry-run": ["schedule", "--dry-run"],
}


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_every_command_refuses_an_inventory_a_newer_release_wrote(
    config: MonitorConfig,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    populate(config)
    path = config.inventory.path
    before = _newer(path, "inventory", INVENTORY + 1)
    argv = [a.replace("OUT", str(tmp_path / "out")) for a in COMMANDS[command]]
    assert main([*argv[:2], "--config", str(config.path), *argv[2:]]) == 2
    err = capsys.readouterr().err
    assert (
        f"error: inventory {path} has schema version {INVENTORY + 1}, written by "
        f"landslide-monitor 0.9.0; this release (landslide-monitor {__version__}) reads schema "
        f"versions up to {INVENTORY}. Nothing was written to it: upgrade landslide-monitor"
    ) in err
    assert path.read_bytes() == before
    assert not (tmp_path / "out").exists()
