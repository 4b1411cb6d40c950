"""The test message of ``landslide-monitor alerts test``: one per channel, sent through the
channel's own sender (the SMTP conversation of an e-mail digest, the signed POST of an alert) so
that a configuration's server, login, certificates, recipients, webhook urls and secrets are
tried before the first landslide needs them. It reports no landslide, is not queued in the
outbox, and is sent once: a failure is reported, never retried.

A webhook receives :func:`ping_body` (schema ``monitor/schemas/alert-test.schema.json``) with
the header ``X-Landslide-Event: monitor.test``; an e-mail recipient :func:`ping_text` as a
plain-text message (docs/alerts.md, Trying your alerts)."""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from monitor import __version__
from monitor.alerts.payload import SCHEMA_DIR

__all__ = [
    "PING_EVENT",
    "PING_SCHEMA_ID",
    "PING_SCHEMA_PATH",
    "PING_SCHEMA_VERSION",
    "Ping",
    "ping_body",
    "ping_text",
    "sent_by",
    "validate_ping",
]

PING_EVENT = "monitor.test"
PING_SCHEMA_VERSION = "1.0"
PING_SCHEMA_ID = "https://landslide-monitor.example.org/schemas/alert-test-1.0.json"
PING_SCHEMA_PATH = SCHEMA_DIR / "alert-test.schema.json"


def sent_by() -> str:
    """``landslide-monitor <release> on <host>``: where a test came from."""
    return f"landslide-monitor {__version__} on {socket.gethostname()}"


@dataclass(frozen=True)
class Ping:
    """One channel's test: the channel (``email:<address>``, ``webhook:<name>``), the regions
    whose alerts it receives, where it came from, when, and a key new to this test."""

    channel: str
    regions: tuple[str, ...]
    sent_by: str = field(default_factory=sent_by)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    key: str = field(default_factory=lambda: f"test-{secrets.token_hex(16)}")


def ping_text(ping: Ping) -> str:
    """What a test says, in words (the e-mail's body, the webhook body's ``message``)."""
    if ping.regions:
        routed = f"the alerts of {len(ping.regions)} region(s) come here: {', '.join(ping.regions)}"
    else:
        routed = "no region's alerts come here (every region names its own channels)"
    when = ping.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"A test of the landslide monitor's alerts, sent by `landslide-monitor alerts test` "
        f"({ping.sent_by}) at {when} to {ping.channel}: {routed}. It reports no landslide; "
        "nothing needs doing."
    )


def ping_body(ping: Ping) -> dict[str, Any]:
    """The JSON a webhook receives for ``ping`` (valid under :data:`PING_SCHEMA_PATH`)."""
    return {
        "schema": PING_SCHEMA_ID,
        "schema_version": PING_SCHEMA_VERSION,
        "idempotency_key": ping.key,
        "event": PING_EVENT,
        "created_at": ping.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "channel": ping.channel,
        "regions": list(ping.regions),
        "sent_by": ping.sent_by,
        "message": ping_text(ping),
    }


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(Path(PING_SCHEMA_PATH).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def validate_ping(body: dict[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` where ``body`` breaks the test's schema."""
    _validator().validate(body)
