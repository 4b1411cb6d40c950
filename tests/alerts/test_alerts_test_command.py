"""`landslide-monitor alerts test` against the loopback receivers: one signed test message per
channel through the channel's own sender, reported per channel, nothing queued or retried."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest
import yaml

from monitor.alerts.ping import PING_EVENT, Ping, ping_body, validate_ping
from monitor.alerts.webhook import EVENT_HEADER, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, verify
from monitor.cli import main
from tests.alerts.loopback_helpers import (
    SECRET,
    Mailbox,
    Receiver,
    alert_settings,
    write_monitor_config,
)


def _test(config: Path, *args: str) -> int:
    return main(["alerts", "test", "--config", str(config), *args])


@pytest.fixture
def config(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, tls_files: tuple[Path, Path]
) -> Path:
    """Two regions (the receivers not started): wayanad-hills routed to the global e-mail and
    webhook; a second region with a webhook of its own only (``inherit: false``), which
    receives no other region's alerts."""
    config = write_monitor_config(tmp_path, alert_settings(receiver, mailbox, tls_files))
    data = yaml.safe_load(config.read_text())
    second = {
        "name": "sikkim-east",
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[88.6, 27.3], [88.62, 27.3], [88.62, 27.32], [88.6, 27.32], [88.6, 27.3]]
            ],
        },
        "alerts": {
            "inherit": False,
            "webhooks": [
                {"name": "sikkim-ops", "url": receiver.url, "secret_env": "LM_TEST_WEBHOOK_SECRET"}
            ],
        },
    }
    data["regions"].append(second)
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config


def test_each_channel_gets_one_signed_test_naming_its_regions_and_no_inventory_is_made(
    config: Path,
    tmp_path: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.start()
    mailbox.start(tls_files)

    assert _test(config) == 0
    out = capsys.readouterr().out
    assert "Test messages to 3 channel(s)" in out
    assert out.count(" sent") == 3 and "FAILED" not in out

    # the webhooks: one POST each, signed under the webhook's secret, event monitor.test,
    # valid under the published test schema and saying which regions come there
    assert len(receiver.requests) == 2
    bodies = {}
    for headers, body in receiver.requests:
        assert verify(SECRET.encode(), body, headers[SIGNATURE_HEADER])
        assert headers[EVENT_HEADER] == PING_EVENT == "monitor.test"
        payload = json.loads(body)
        validate_ping(payload)
        assert headers[IDEMPOTENCY_HEADER] == payload["idempotency_key"]
        bodies[payload["channel"]] = payload
    assert bodies["webhook:ops"]["regions"] == ["wayanad-hills"]
    assert bodies["webhook:sikkim-ops"]["regions"] == ["sikkim-east"]
    assert (
        bodies["webhook:ops"]["idempotency_key"] != bodies["webhook:sikkim-ops"]["idempotency_key"]
    )

    # the e-mail: through STARTTLS and the login, to the recipient, plain text, no landslide
    assert len(mailbox.messages) == 1
    session = mailbox.sessions[0]
    assert session == {"tls": True, "authenticated": True, "rcpt": ["geohazards@example.org"]}
    message = email.message_from_bytes(mailbox.messages[0], policy=email.policy.default)
    assert message["Subject"] == "[landslide-monitor] test of the alerts (no landslide)"
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834: no out-of-office answer
    text = message.get_content()
    assert "email:geohazards@example.org" in text and "wayanad-hills" in text
    assert "sikkim-east" not in text
    assert not message.is_multipart()

    # nothing was written: no inventory, no outbox
    assert not (tmp_path / "inventory.gpkg").exists()


def test_a_refusing_webhook_and_a_wrong_smtp_login_are_each_reported_and_exit_1(
    config: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.answers = [401]  # the first webhook tried refuses: its receiver has another secret
    receiver.start()
    mailbox.start(tls_files)
    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", "not-the-password")

    assert _test(config) == 1
    out = capsys.readouterr().out
    lines = {
        line.split()[0]: line
        for line in out.splitlines()
        if line.lstrip().startswith(("email:", "webhook:"))
    }
    assert "FAILED" in lines["email:geohazards@example.org"]
    assert "refused the login" in lines["email:geohazards@example.org"]
    assert "LM_TEST_SMTP_USER and LM_TEST_SMTP_PASSWORD" in lines["email:geohazards@example.org"]
    assert "answered HTTP 401" in lines["webhook:ops"]
    # and what a real alert meeting each would do (found in a walk: a 550 read as a 451)
    assert (
        lines["webhook:ops"]
        .rstrip()
        .endswith("(a real alert would go dead at once: `alerts retry --dead` once it is fixed)")
    )
    assert (
        lines["email:geohazards@example.org"]
        .rstrip()
        .endswith("(a real alert would be retried, with a growing delay, up to max_attempts)")
    )
    assert lines["webhook:sikkim-ops"].rstrip().endswith("sent")
    assert "2 channel(s) did not take the test" in out
    # each tried once: a failed test is not retried
    assert len(receiver.requests) == 2 and mailbox.messages == []


def test_an_unset_secret_is_named_and_nothing_is_posted(
    config: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver.start()
    monkeypatch.delenv("LM_TEST_WEBHOOK_SECRET")
    assert _test(config, "--channel", "ops") == 1
    out = capsys.readouterr().out
    assert "environment variable LM_TEST_WEBHOOK_SECRET is not set" in out
    assert "(a real alert would wait, pending, until it is set right)" in out
    assert "Test messages to 1 channel(s)" in out
    assert receiver.requests == []


def test_channel_and_region_choose_what_is_tried(
    config: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    receiver.start()
    mailbox.start(tls_files)

    # an address in another case, and a webhook by its bare name
    assert _test(config, "--channel", "GeoHazards@Example.org", "--channel", "sikkim-ops") == 0
    assert "Test messages to 2 channel(s)" in capsys.readouterr().out
    assert (len(mailbox.messages), len(receiver.requests)) == (1, 1)

    # a region's channels only
    assert _test(config, "--region", "sikkim-east") == 0
    out = capsys.readouterr().out
    assert "Test messages to 1 channel(s)" in out and "webhook:sikkim-ops" in out
    assert len(receiver.requests) == 2

    # both: the channels named that receive the region's alerts; none is an error
    assert _test(config, "--region", "sikkim-east", "--channel", "ops") == 2
    err = capsys.readouterr().err
    assert "--region sikkim-east: none of the channels named receives its alerts" in err

    assert _test(config, "--channel", "nope") == 2
    err = capsys.readouterr().err
    assert "--channel nope: no such channel" in err
    assert "webhook:ops" in err and "webhook:sikkim-ops" in err

    assert _test(config, "--region", "atlantis") == 2
    assert "atlantis" in capsys.readouterr().err
    assert len(receiver.requests) == 2  # nothing more was sent by the refused commands


def test_a_configuration_without_channels_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_monitor_config(tmp_path, {})
    assert _test(config) == 2
    assert "alerts go nowhere" in capsys.readouterr().err


def test_the_test_body_is_valid_and_a_wrong_one_is_refused() -> None:
    import jsonschema

    ping = Ping("webhook:ops", ("a", "b"), sent_by="landslide-monitor 0.1.0 on host")
    body = ping_body(ping)
    validate_ping(body)
    assert body["idempotency_key"].startswith("test-") and len(body["idempotency_key"]) == 37
    assert body["created_at"].endswith("Z")
    with pytest.raises(jsonschema.ValidationError):
        validate_ping({**body, "event": "landslide.new"})
    with pytest.raises(jsonschema.ValidationError):
        validate_ping({**body, "landslide": {}})


def test_a_channel_of_many_regions_names_a_few_and_counts_the_others() -> None:
    """Found in a survey's walk: a channel of 15 regions made a table row of some 230
    characters."""
    from monitor.ops.alerts import _regions_shown

    regions = [f"region-{n:02d}" for n in range(15)]
    assert _regions_shown(regions) == "region-00, region-01, region-02 and 12 more"
    assert _regions_shown(regions[:4]) == "region-00, region-01, region-02, region-03"
    assert _regions_shown([]) == "(none)"
