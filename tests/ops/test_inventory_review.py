"""Reviewing many landslides in one command: `inventory confirm|dismiss|candidate ID...` and
`inventory review FILE`, an `inventory export` whose `status` column an operator edited."""

from __future__ import annotations

from pathlib import Path

import pytest
from ops_fixtures import populate, write_config

from monitor.cli import main
from monitor.config import MonitorConfig, load_config
from monitor.store.inventory import Inventory

ALERTS = """
alerts:
  webhooks:
    - {name: ops, url: "http://127.0.0.1:9/alerts", secret_env: OPS_REVIEW_TEST_SECRET}
"""


@pytest.fixture
def config(tmp_path: Path, untrained_manifest: Path) -> MonitorConfig:
    """Six landslides (fids 1-6), one webhook alert queued for each; fid 1 confirmed, fid 3
    dismissed (its alert withdrawn): 5 alerts pending."""
    config = load_config(write_config(tmp_path, untrained_manifest, ALERTS))
    assert populate(config) == 6
    return config


def _statuses(config: MonitorConfig) -> dict[int, str]:
    with Inventory(config.inventory.path, read_only=True) as inventory:
        frame = inventory.landslides()
    return dict(zip(frame["fid"].astype(int), frame["status"], strict=True))


def _pending_fids(config: MonitorConfig) -> list[int]:
    with Inventory(config.inventory.path) as inventory, inventory.outbox() as box:
        return sorted(int(row["landslide_fid"]) for row in box.rows("pending"))


def _args(config: MonitorConfig, *rest: str) -> list[str]:
    """``inventory ACTION --config F ARGS...`` of the configuration written in the test's folder."""
    config_file = config.inventory.path.parent / "monitor.yaml"
    return ["inventory", rest[0], "--config", str(config_file), *rest[1:]]


#: the statuses ``populate`` leaves, by fid
START = {
    1: "confirmed",
    2: "candidate",
    3: "dismissed",
    4: "candidate",
    5: "candidate",
    6: "candidate",
}


def test_several_ids_in_one_command(
    config: MonitorConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _statuses(config) == START
    assert _pending_fids(config) == [1, 2, 4, 5, 6]
    with Inventory(config.inventory.path, read_only=True) as inventory:
        uid5 = str(inventory.get(5)["uid"])

    assert main(_args(config, "dismiss", "2", uid5.upper(), "6")) == 0
    out = capsys.readouterr().out
    assert "landslide 2: candidate -> dismissed" in out
    assert f"landslide {uid5.upper()}: candidate -> dismissed" in out
    assert "3 alert(s) of them still waiting in the outbox withdrawn" in out
    assert _statuses(config) == {**START, 2: "dismissed", 5: "dismissed", 6: "dismissed"}
    assert _pending_fids(config) == [1, 4]

    # unknown ids are all named, and nothing changes, not even the known ones before them
    assert main(_args(config, "confirm", "4", "999", "no-such-uid", "2")) == 2
    err = capsys.readouterr().err
    assert "no landslide with fid 999, uid 'no-such-uid'" in err and "nothing changed" in err
    assert _statuses(config) == {**START, 2: "dismissed", 5: "dismissed", 6: "dismissed"}

    assert main(_args(config, "candidate", "2", "5")) == 0
    assert "landslide 5: dismissed -> candidate" in capsys.readouterr().out
    assert _statuses(config) == {**START, 6: "dismissed"}
