"""Alerts of a run reach real loopback recipients (the demo inbox: aiosmtpd and an HTTP
receiver checking the HMAC signature) exactly once; with the recipients down the run completes
and the alerts go out on the next run."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from run_fixtures import StandInEnsemble, StandInSource, region_polygon, two_region_config

import monitor.run as run_module
from monitor.config import MonitorConfig, load_config
from monitor.demo_inbox import DemoInbox
from monitor.run import run_once

SCARS = {"north": [(5, 15, 5, 20), (30, 40, 30, 36)], "south": [(20, 32, 50, 60)]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def config_path(write_config: Callable[..., Path], manifest: Path) -> Path:
    alerts: dict[str, Any] = {
        "smtp": {
            "host": "127.0.0.1",
            "port": _free_port(),
            "starttls": False,
            "from_address": "monitor@localhost",
        },
        "email": ["duty@localhost"],
        "webhooks": [
            {
                "name": "ops",
                "url": f"http://127.0.0.1:{_free_port()}/alerts",
                "secret_env": "D1_LOOPBACK_SECRET",
            }
        ],
        "retry": {"base_delay_s": 0.01, "max_attempts": 5},
    }
    return write_config(two_region_config(manifest, alerts=alerts))


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("D1_LOOPBACK_SECRET", "loopback-secret")
    regions = {"north": region_polygon(0.0), "south": region_polygon(0.05)}
    source = StandInSource(regions, SCARS)
    ensemble = StandInEnsemble()
    monkeypatch.setattr(run_module, "open_source", lambda settings: source)
    monkeypatch.setattr(run_module, "load_ensemble", lambda model: ensemble)


def _received(directory: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    posts = [json.loads(p.read_text()) for p in sorted((directory / "webhook").glob("*.json"))]
    mails = sorted((directory / "mail").glob("*.eml"))
    return posts, mails


def test_alerts_arrive_once_and_not_again_for_the_same_date(
    config_path: Path, tmp_path: Path
) -> None:
    config: MonitorConfig = load_config(config_path)
    inbox_dir = tmp_path / "inbox"
    with DemoInbox(config_path, inbox_dir) as inbox:
        first = run_once(config, date(2024, 9, 15), progress=False)
        second = run_once(config, date(2024, 9, 15), progress=False)
    posts, mails = _received(inbox_dir)

    assert first.delivery is not None and first.delivery.sent == 6  # 3 webhook + 3 in 1 e-mail
    assert first.outbox == {"pending": 0, "sent": 6, "dead": 0}
    assert len(posts) == 3 and len(mails) == 1
    assert {p["event"] for p in posts} == {"landslide.new"}
    assert sorted(p["landslide"]["region"] for p in posts) == ["north", "north", "south"]
    assert second.changes.alerts_queued == 0 and second.delivery.sent == 0
    # the receiver saw each key once and no bad signature
    (_, server, _) = inbox._webhooks[0]
    assert (server.stored, server.duplicates, server.rejected) == (3, 0, 0)
    assert "3 signed POST(s)" in inbox.report() and "1 e-mail(s)" in inbox.report()
    mail = mails[0].read_text()
    assert "To: duty@localhost" in mail and mail.count("north") >= 2


def test_with_the_recipients_down_alerts_wait_and_go_out_on_the_next_run(
    config_path: Path, tmp_path: Path
) -> None:
    config = load_config(config_path)
    down = run_once(config, date(2024, 9, 15), progress=False)
    assert down.ok
    assert down.delivery is not None and down.delivery.sent == 0
    assert down.outbox["pending"] == 6
    assert "6 pending" in down.format()

    inbox_dir = tmp_path / "inbox"
    with DemoInbox(config_path, inbox_dir):
        up = run_once(config, date(2024, 9, 16), progress=False)
    posts, mails = _received(inbox_dir)
    assert up.changes.alerts_queued == 0  # the landslides are known: seen, not new
    assert up.delivery is not None and up.delivery.sent == 6
    assert up.outbox == {"pending": 0, "sent": 6, "dead": 0}
    assert len(posts) == 3 and len(mails) == 1
