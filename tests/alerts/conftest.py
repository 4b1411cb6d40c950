"""Fixtures of the alert tests; the receivers themselves are in loopback_helpers.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alerts.loopback_helpers import (
    LOOPBACK,
    SECRET,
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    Receiver,
    make_tls_files,
)
from tests.ports import free_port


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy between the client and the loopback receivers; secrets in the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", LOOPBACK)
    monkeypatch.setenv("LM_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LM_TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", SMTP_PASSWORD)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, not started (the test decides when)."""
    rec = Receiver(port=free_port())
    yield rec
    rec.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """An SMTP server (STARTTLS required, AUTH required) on a free port, not started."""
    box = Mailbox(port=free_port())
    yield box
    box.stop()
