"""The outbox reaches a channel through the sender factory of its kind: a factory passed to
``deliver`` stands in for it, an unknown kind fails the alerts (recorded, not raised), and the
outbox module never loads a sender itself."""

from __future__ import annotations

import html
import io
import json
import logging
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from pydantic import ValidationError

from monitor.alerts.channels import CHANNEL_SENDERS, sender_for
from monitor.alerts.outbox import STATUSES, TABLE, WITHDRAWN, Outbox
from monitor.alerts.senders import Alert, DeliveryError
from monitor.alerts.settings import AlertRouting, AlertSettings, SmtpSettings, WebhookSettings
from monitor.alerts.webhook import WebhookSender
from monitor.store.inventory import Inventory
from tests.alerts.loopback_helpers import apply_run, body_text, candidates

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 9, 15, 6, 0, tzinfo=UTC)


class _Recorder:
    batch_size = 2

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        self.batches.append([a.channel for a in alerts])


def _queued(tmp_path: Path, channel: str, n: int) -> tuple[Path, AlertRouting]:
    routing = AlertRouting(default=(channel,))
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        squares = [(300 * i, 0, 100, 100) for i in range(n)]
        apply_run(inventory, date(2024, 9, 15), candidates(squares), routing)
    return tmp_path / "inventory.gpkg", routing


def _pending_alerts(tmp_path: Path, channel: str, n: int) -> list[Alert]:
    """``n`` alerts queued for ``channel``, as a delivery hands them to the sender."""
    path, _ = _queued(tmp_path, channel, n)
    with Outbox(path) as box:
        rows = box.rows("pending")
    return [
        Alert(
            id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
            event=row["event"], region=row["region"], landslide_uid=row["landslide_uid"],
            payload=row["payload"], quicklook=None, attempts=0,
        )
        for row in rows
    ]  # fmt: skip


def _answer(code: int, body: bytes, url: str) -> requests.Response:
    """A receiver's answer to a POST to ``url``, as a session returns it when streaming: its
    body not read yet."""
    answer = requests.Response()
    answer.status_code, answer.url, answer.raw = code, url, io.BytesIO(body)
    return answer


def _one_webhook_alert(tmp_path: Path) -> Alert:
    """One alert queued for webhook:ops, as a delivery hands it to the sender."""
    (alert,) = _pending_alerts(tmp_path, "webhook:ops", 1)
    return alert


def test_a_passed_factory_sends_in_batches_of_its_size(tmp_path: Path) -> None:
    path, routing = _queued(tmp_path, "pager:duty", 3)
    recorder = _Recorder()
    made: list[str] = []

    def factory(channel: str, given: AlertRouting) -> _Recorder:
        made.append(channel)
        assert given is routing
        return recorder

    with Outbox(path) as box:
        report = box.deliver(routing, senders=factory, now=T0)
        assert box.counts() == {"pending": 0, "sent": 3, "dead": 0}
    assert report.sent == 3 and made == ["pager:duty"]
    assert recorder.batches == [["pager:duty"] * 2, ["pager:duty"]]


def test_an_unknown_channel_kind_fails_its_alerts_without_raising(tmp_path: Path) -> None:
    path, routing = _queued(tmp_path, "pager:duty", 1)
    with Outbox(path) as box:
        report = box.deliver(routing, now=T0)
    assert report.sent == 0 and report.retrying == 1
    assert report.errors == ["pager:duty: channel pager:duty: unknown channel kind 'pager'"]


def test_the_channel_table_holds_email_and_webhook() -> None:
    assert set(CHANNEL_SENDERS) == {"email", "webhook"}
    routing = AlertRouting()
    for channel, missing in (
        ("email:a@b.org", "recipient a@b.org is no longer"),
        ("webhook:ops", "webhook 'ops' is no longer"),
    ):
        try:
            sender_for(channel, routing)
        except Exception as exc:  # the kind's factory ran and named what is missing
            assert missing in str(exc)
        else:
            raise AssertionError(f"{channel}: a sender without settings")


def test_the_outbox_imports_no_sender_and_its_statuses_come_from_the_literal() -> None:
    assert STATUSES == ("pending", "sent", "dead")
    code = (
        "import sys, monitor.alerts.outbox; "
        "print(sorted(m for m in sys.modules if m in "
        "('monitor.alerts.email', 'monitor.alerts.webhook', 'smtplib', 'requests')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_dead_alerts_are_counted_as_failed_or_withdrawn_without_reading_them(
    tmp_path: Path,
) -> None:
    """``alerts deliver`` reports withdrawn alerts apart from failed ones; the outbox counts
    them in SQL (``last_error`` starting with ``withdrawn: ``, case and all)."""
    path, _ = _queued(tmp_path, "pager:duty", 5)
    with Outbox(path) as box:
        assert box.dead_counts() == (0, 0)
    errors = [f"{WITHDRAWN}landslide 1 was dismissed", "WITHDRAWN: not ours", "boom", None]
    with sqlite3.connect(path) as conn:
        ids = [row[0] for row in conn.execute(f"SELECT id FROM {TABLE} ORDER BY id")]
        for alert_id, error in zip(ids, errors, strict=False):
            conn.execute(
                f"UPDATE {TABLE} SET status = 'dead', last_error = ? WHERE id = ?",
                (error, alert_id),
            )
    with Outbox(path) as box:
        assert box.dead_counts() == (3, 1)
        assert box.counts()["dead"] == 4 and box.counts()["pending"] == 1


def test_a_retry_after_beyond_the_calendar_waits_the_longest_delay_and_others_go_out(
    tmp_path: Path,
) -> None:
    """A receiver's ``Retry-After: 99999999999999`` (beyond what a date can hold) made the
    delivery raise OverflowError: the run failed and the channels after it were not sent to.
    It now waits the policy's longest delay, and the other channel's alerts go out."""
    routing = AlertRouting(default=("pager:slow", "pager:duty"))
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
    recorder = _Recorder()

    class _Busy:
        batch_size = 1

        def send(self, alerts: Sequence[Alert]) -> None:
            raise DeliveryError("HTTP 503", retry_after_s=99999999999999.0)

    def factory(channel: str, given: AlertRouting) -> _Busy | _Recorder:
        return _Busy() if channel == "pager:slow" else recorder

    with Outbox(tmp_path / "inventory.gpkg") as box:
        report = box.deliver(routing, senders=factory, now=T0)
        (slow,) = box.rows("pending")
    assert (report.sent, report.retrying, report.dead) == (1, 1, 0)
    assert recorder.batches == [["pager:duty"]]
    assert slow["channel"] == "pager:slow" and slow["attempts"] == 1
    assert slow["next_attempt_at"] == "2024-09-15T12:00:00.000Z"  # T0 + max_delay_s (6 h)


def test_retry_delays_and_sent_at_count_from_when_each_answer_came(tmp_path: Path) -> None:
    """Found on a receiver-side walk: the delivery read the clock once, when it started, so
    after another channel's 8 s timeout a receiver answering 429 with ``Retry-After: 7`` was
    due again 1 s after its answer (posted to 3 s later by the next delivery), and ``sent_at``
    was the delivery's start. Each channel's retry time and ``sent_at`` now count from its
    answer; the claims still count from the start."""
    from monitor.alerts.settings import RetryPolicy

    retry = RetryPolicy(base_delay_s=1, factor=2, max_delay_s=30)
    routing = AlertRouting(default=("pager:slow", "pager:busy", "pager:duty"), retry=retry)
    with Inventory(tmp_path / "inventory.gpkg") as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
    clock = [T0]

    class _Answers:
        batch_size = 1

        def __init__(self, channel: str) -> None:
            self.channel = channel

        def send(self, alerts: Sequence[Alert]) -> None:
            if self.channel == "pager:slow":  # waited out its 8 s timeout
                clock[0] += timedelta(seconds=8)
                raise DeliveryError("ReadTimeout")
            clock[0] += timedelta(seconds=0.5)  # each answer takes half a second
            if self.channel == "pager:busy":
                raise DeliveryError("HTTP 429", retry_after_s=7.0)

    with Outbox(tmp_path / "inventory.gpkg") as box:
        box.deliver(routing, senders=lambda c, r: _Answers(c), now=lambda: clock[0])
        listed = box.rows()  # oldest first: delivered in this order
    assert [row["channel"] for row in listed] == ["pager:slow", "pager:busy", "pager:duty"]
    rows = {row["channel"]: row for row in listed}
    assert rows["pager:slow"]["next_attempt_at"] == "2024-09-15T06:00:09.000Z"  # 8 s + 1 s
    assert rows["pager:busy"]["next_attempt_at"] == "2024-09-15T06:00:15.500Z"  # 8.5 s + 7 s
    assert rows["pager:duty"]["sent_at"] == "2024-09-15T06:00:09.000Z"  # its answer, at 9 s
    assert rows["pager:duty"]["claimed_until"] is None


def test_a_retry_after_of_non_ascii_digits_is_ignored_and_the_answer_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Retry-After: ²`` (a Latin-1 byte that str.isdigit() takes for a digit) raised
    ValueError out of float(): the alert was failed as "ValueError: could not convert string
    to float", without the receiver's answer, and logged as an unexpected error."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(
        name="ops", url="https://ops.example.org/hook", secret_env="LM_TEST_SECRET"
    )

    class _Session:
        def post(self, url: str, **_: object) -> requests.Response:
            answer = _answer(503, b"busy", url)
            answer.headers["Retry-After"] = "\u00b2"
            return answer

    alert = _one_webhook_alert(tmp_path)
    with pytest.raises(DeliveryError) as failed:
        WebhookSender(hook, session=_Session()).send([alert])  # type: ignore[arg-type]
    assert str(failed.value) == "webhook 'ops' answered HTTP 503: 'busy'"
    assert failed.value.retry_after_s is None and not failed.value.permanent


@pytest.mark.parametrize(
    ("code", "headers", "body", "shown"),
    [
        (404, {}, b"Cannot POST /services/T0/B0/SECRET?token=SECRET2", "'Cannot POST /…'"),
        (301, {"Location": "https://hooks.example.org:8443/v2/SECRET?k=SECRET2"}, b"",
         "a redirect to https://hooks.example.org:8443/…: "),
        (302, {"Location": "/services/SECRET"}, b"", "a redirect to https://ops.example.org/…: "),
    ],
)  # fmt: skip
def test_a_receiver_s_answer_shows_no_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    headers: dict[str, str],
    body: bytes,
    shown: str,
) -> None:
    """Found in a security review: a redirect's Location, quoted whole, carries the token a
    moved Slack-style webhook holds in its path; a receiver's error page may echo the path it
    was posted to. Both are shown with their scheme, host and port alone."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(
        name="ops",
        url="https://ops.example.org/services/T0/B0/SECRET?token=SECRET2",
        secret_env="LM_TEST_SECRET",
    )

    class _Session:
        def post(self, url: str, **_: object) -> requests.Response:
            answer = _answer(code, body, url)
            answer.headers.update(headers)
            return answer

    with pytest.raises(DeliveryError) as failed:
        WebhookSender(hook, session=_Session()).send([_one_webhook_alert(tmp_path)])  # type: ignore[arg-type]
    assert shown in str(failed.value)
    assert "SECRET" not in str(failed.value)


def _refused_with(hook: WebhookSettings, body: str, tmp_path: Path) -> str:
    """The error of an alert posted to ``hook`` whose receiver answers 404 with ``body``."""

    class _Session:
        def post(self, url: str, **_: object) -> requests.Response:
            return _answer(404, body.encode(), url)

    with pytest.raises(DeliveryError) as failed:
        WebhookSender(hook, session=_Session()).send([_one_webhook_alert(tmp_path)])  # type: ignore[arg-type]
    return str(failed.value)


_ECHOED = "/echo/T0/B0/xoxbSECRETtoken?x=a%2Fb"  # what the url below posts to


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (f"Cannot POST {_ECHOED}", "'Cannot POST /…'"),  # as written
        ("Cannot POST /echo/T0/B0/xoxbSECRETtoken?x=a/b", "'Cannot POST /…'"),  # decoded
        # JSON-escaped, as PHP's json_encode writes it; then percent-decoded too
        (json.dumps({"path": _ECHOED}).replace("/", "\\/"), '\'{"path": "/…"}\''),
        ('{"path":"\\/echo\\/T0\\/B0\\/xoxbSECRETtoken?x=a\\/b"}', '\'{"path":"/…"}\''),
        (f"CANNOT POST {_ECHOED.upper()}", "'CANNOT POST /…'"),  # upper-cased
        (f"no route for {_ECHOED.lower()}", "'no route for /…'"),  # lower-cased
        (f"see HTTPS://OPS.EXAMPLE.ORG{_ECHOED.upper()}", "'see https://ops.example.org/…'"),
    ],
)
def test_a_receiver_s_echo_of_the_path_is_hidden_in_any_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, shown: str
) -> None:
    """Found on a receiver-side walk: an error page echoing the path JSON-escaped (``\\/``, as
    PHP's json_encode writes it) or upper-cased put the token of the url's path in
    ``last_error`` and ``deliver``'s output; as written and percent-decoded it was hidden."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(
        name="chat", url=f"https://ops.example.org{_ECHOED}", secret_env="LM_TEST_SECRET"
    )

    error = _refused_with(hook, body, tmp_path)
    assert error == f"webhook 'chat' answered HTTP 404: {shown}"
    assert "secret" not in error.lower()


_LOGIC_APP = (  # a Teams Workflows / Logic Apps url: the key that lets anyone post is sig=
    "https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SECRETsig1234567890"
)
_QUERY = _LOGIC_APP.split("?", 1)[1]


@pytest.mark.parametrize(
    ("url", "body", "shown"),
    [
        (_LOGIC_APP, f'{{"query":"{_QUERY}"}}', '\'{"query":"/…"}\''),  # no "?"
        (  # an HTML page's echo, its "&" written "&amp;"
            _LOGIC_APP,
            f"<p>No route for /workflows/abc?{_QUERY.replace('&', '&amp;')}</p>",
            "'<p>No route for /workflows/abc/…</p>'",
        ),
        (_LOGIC_APP, "bad sig SECRETsig1234567890", "'bad sig /…'"),  # the signature alone
        (  # a Slack-style token alone
            "https://hooks.example.org/services/T0/B0/SECRETxoxbtoken01234567",
            "unknown token SECRETxoxbtoken01234567",
            "'unknown token /…'",
        ),
        (  # found in review: "&region" read as an HTML entity ("®ion") kept the query apart
            "https://hooks.example.org/hook?token=SECRET1&region=eu",
            "No route for /hook?token=SECRET1&region=eu",
            "'No route for /…'",
        ),
        (  # a signature echoed as written, percent-escapes and all
            "https://hooks.example.org/hook?sig=SECRETsig%2BgHiJ%2FkLm%3D",
            "signature SECRETsig%2BgHiJ%2FkLm%3D did not match",
            "'signature /… did not match'",
        ),
        (  # a short query is not hidden inside ordinary words
            "https://hooks.example.org/hook?a",
            "Payload rejected: a landslide alert",
            "'Payload rejected: a landslide alert'",
        ),
    ],
)
def test_a_receiver_s_echo_of_the_query_or_a_token_alone_is_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, body: str, shown: str
) -> None:
    """Found in review: the query was hidden only where an answer echoed it with its ``?``,
    and as written; a JSON echo of the query alone, an HTML page's (``&amp;``) or an echo of the
    signature alone put the key of a Teams or Logic Apps url in ``last_error``. (The last case
    holds "secret" in no form; the assertion on it is vacuous there, the shown text is not.)"""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(name="chat", url=url, secret_env="LM_TEST_SECRET")

    error = _refused_with(hook, body, tmp_path)
    assert error == f"webhook 'chat' answered HTTP 404: {shown}"
    assert "secret" not in error.lower()


def test_a_receiver_s_malformed_headers_log_no_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by a security review: urllib3 logs a warning with the whole url, path and query
    included, when a receiver answers with a header line it cannot parse; the journal then held
    the token of a Slack-style webhook's path, which every error of the monitor keeps out."""
    import socket
    import threading

    monkeypatch.setenv("LM_TEST_SECRET", "s")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        connection, _ = server.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nno colon\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    hook = WebhookSettings(
        name="chat",
        url=f"http://127.0.0.1:{port}/services/T0/B0/SECRET?token=SECRET2",
        secret_env="LM_TEST_SECRET",
    )
    with caplog.at_level(logging.WARNING), server:
        WebhookSender(hook).send([_one_webhook_alert(tmp_path)])  # a 2xx: sent
        thread.join(10)
    assert "Failed to parse headers" in caplog.text  # the warning itself is kept
    # urllib3's "Failed to parse headers (url=%s): %s": the url's origin, the rest as it was
    assert f"Failed to parse headers (url=http://127.0.0.1:{port}/…): " in caplog.text
    assert "SECRET" not in caplog.text


def _trickler(
    head: list[bytes], body: list[bytes], pause_s: float
) -> tuple[int, Callable[[], None]]:
    """A receiver on a free loopback port that reads one POST, then sends ``head`` and
    ``body`` piece by piece, ``pause_s`` apart; its port and a function that waits for it."""
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with server:
            connection, _ = server.accept()
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                request += connection.recv(65536)
            headers, _, sent = request.partition(b"\r\n\r\n")
            length = int(re.search(rb"content-length: *(\d+)", headers, re.I).group(1))  # type: ignore[union-attr]
            while len(sent) < length:
                sent += connection.recv(65536)
            try:
                connection.sendall(head[0])
                for piece in [*head[1:], *body]:
                    time.sleep(pause_s)
                    connection.sendall(piece)
            except OSError:  # the client gave up: what it was here to find out
                pass

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server.getsockname()[1], lambda: thread.join(30)


@pytest.mark.parametrize(
    ("head", "body", "failed"),
    [
        # status and headers at once, then the body a byte at a time: a success, body unread
        ([b"HTTP/1.1 200 OK\r\nContent-Length: 24\r\n\r\n"], [b"."] * 24, None),
        # a refusal's body, chunked, a byte at a time: its error shows what came in time
        (
            [b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"],
            [b"1\r\n.\r\n"] * 24 + [b"0\r\n\r\n"],
            "answered HTTP 503: '.",
        ),
        # headers a line at a time, each well within the read timeout: the wait ends at 1 s
        (
            [b"HTTP/1.1 200 OK\r\n", *[b"X-Wait: 1\r\n"] * 24, b"Content-Length: 0\r\n\r\n"],
            [],
            "Timeout: no complete status and headers within the webhook's timeout_s (1 s)",
        ),
    ],
)
def test_timeout_s_bounds_the_whole_answer(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    head: list[bytes],
    body: list[bytes],
    failed: str | None,
) -> None:
    """Found on a receiver-side walk: ``timeout_s`` bounded each read of the socket, not the
    answer, so a receiver that sent ``200`` and its headers at once, then its body a byte a
    second, held the delivery 14 s with ``timeout_s: 2``. The body is now read only of a
    refusal, and only until ``timeout_s`` after the POST began; an answer whose status and
    headers come later than that is a timeout (retried), as docs/alerts.md says, and the wait
    for them ends then (found in review: 24 header lines 0.25 s apart held it 6.4 s)."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    port, done = _trickler(head, body, pause_s=0.25)  # 6 s for 24 bytes
    hook = WebhookSettings(
        name="slow", url=f"http://127.0.0.1:{port}/hook", secret_env="LM_TEST_SECRET", timeout_s=1
    )
    started = time.monotonic()
    try:
        WebhookSender(hook).send([_one_webhook_alert(tmp_path)])
    except DeliveryError as exc:
        error: DeliveryError | None = exc
    else:
        error = None
    took = time.monotonic() - started
    done()
    if failed is None:
        assert error is None
        assert took < 1.0
    else:
        assert error is not None and failed in str(error) and not error.permanent
        assert took < 1.5  # 1 s: the wait ends at the deadline, whatever still trickles in


@pytest.mark.parametrize("ca_file", [None, "gone.pem"])
def test_a_ca_bundle_that_cannot_be_read_is_named_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ca_file: str | None
) -> None:
    """requests raises a plain OSError (no RequestException) for a CA bundle it cannot find:
    the webhook's own ca_file, removed since the configuration was loaded, or the system's
    bundle; the alert is failed naming the one that is missing, to be retried."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(
        name="ops",
        url="https://ops.example.org/hook",
        secret_env="LM_TEST_SECRET",
        ca_file=None if ca_file is None else tmp_path / ca_file,
    )
    if ca_file is None:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-bundle.pem"))
    alert = _one_webhook_alert(tmp_path)
    with pytest.raises(DeliveryError) as failed:
        WebhookSender(hook).send([alert])
    bundle = (
        "the system's CA bundle (REQUESTS_CA_BUNDLE, or certifi's)"
        if ca_file is None
        else f"its ca_file {tmp_path / ca_file}"
    )
    assert str(failed.value).startswith(f"webhook 'ops': cannot read {bundle}: ")
    assert not failed.value.permanent


def test_an_e_mail_attaches_no_quicklook_that_is_no_png(tmp_path: Path) -> None:
    """The digest attaches each alert's quicklook file, whose path the outbox (a table of the
    inventory file, which other tools and hands edit) stores: a path to another file (a key)
    mailed that file inline. Only a PNG is attached."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    path, _ = _queued(tmp_path, "email:duty@example.org", 2)
    with Outbox(path) as box:
        rows = box.rows("pending")
    secret = tmp_path / "service-account.json"
    secret.write_text('{"private_key": "TOPSECRET"}')
    png = tmp_path / "candidate-001.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    alerts = []
    for row, quicklook in zip(rows, (secret, png), strict=True):
        alerts.append(Alert(
            id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
            event=row["event"], region=row["region"], landslide_uid=row["landslide_uid"],
            payload=row["payload"], quicklook=quicklook, attempts=0,
        ))  # fmt: skip
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    message = build_message(smtp, "duty@example.org", alerts)
    assert message["Auto-Submitted"] == "auto-generated"  # RFC 3834: no out-of-office answer
    images = [p.get_content() for p in message.walk() if p.get_content_type() == "image/png"]
    assert images == [png.read_bytes()]
    assert b"TOPSECRET" not in message.as_bytes()


def test_a_quicklook_path_to_a_fifo_does_not_hang_the_e_mail(tmp_path: Path) -> None:
    """Found by a security review: the PNG test opened the file the outbox names to read its
    signature, and opening a named pipe (a FIFO) waits for a writer, so a quicklook path
    edited to name one hung the delivery (and the run that delivers) for good. Only a
    regular file is read."""
    import os
    import threading

    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    (alert,) = _pending_alerts(tmp_path, "email:duty@example.org", 1)
    fifo = tmp_path / "candidate-001.png"
    os.mkfifo(fifo)
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    alerts = [replace(alert, quicklook=fifo)]
    built: list[EmailMessage] = []
    worker = threading.Thread(
        target=lambda: built.append(build_message(smtp, "duty@example.org", alerts)),
        daemon=True,
    )
    worker.start()
    worker.join(5)
    waited = worker.is_alive()
    if waited:  # a writer releases the reader, so that the test ends
        with fifo.open("wb") as writer:
            writer.write(b"x")
        worker.join(5)
    assert not waited, "building the e-mail waited on the FIFO"
    assert built
    assert not [p for p in built[0].walk() if p.get_content_type() == "image/png"]


def test_an_e_mail_says_its_event_dates_are_utc_days(tmp_path: Path) -> None:
    """Found walking through dates: the digest's "happened between" dates are the UTC days of
    the acquisitions that bracket the change, and nothing said so. Read as local dates they
    were a day off where the day differs: Sentinel-2 passes New Zealand at about 10:30 local
    time, 21:30 UTC of the day before, and Sentinel-1's evening pass over Alaska (18:00 local)
    is dated the next UTC day."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    path, _ = _queued(tmp_path, "email:duty@example.org", 2)
    with Outbox(path) as box:
        rows = box.rows("pending")
    alerts = []
    for row, dated in zip(rows, (True, False), strict=True):
        payload = json.loads(json.dumps(row["payload"]))
        landslide = payload["landslide"]
        landslide["event_after"], landslide["event_before"] = (
            ("2024-02-28", "2024-03-04") if dated else (None, None)
        )
        landslide["pre_date"], landslide["post_date"] = "2024-02-23", "2024-03-04"
        alerts.append(Alert(
            id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
            event=row["event"], region=row["region"], landslide_uid=row["landslide_uid"],
            payload=payload, quicklook=None, attempts=0,
        ))  # fmt: skip
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    message = build_message(smtp, "duty@example.org", alerts)
    text = body_text(message, "plain")
    page = body_text(message, "html")
    for body in (text, page):
        assert "happened (UTC days)" in body
        assert "after 2024-02-28, by 2024-03-04" in body
        assert "undated" in body and "2024-02-23" not in body  # no windows for a bracket
    # the command it gives runs as written (found by a new user: it lacked --config)
    assert "`landslide-monitor inventory confirm --config FILE ID` (or `dismiss`)" in text


def test_an_alert_of_schema_1_0_is_mailed_and_posted(tmp_path: Path, monkeypatch) -> None:
    """An alert queued under schema 1.0 (the first releases, before the event dating) was
    refused by the webhook as a version it never sent, and stayed dead after `alerts retry
    --dead`: it is checked against its own schema and sent as it was built; the e-mail says
    it is undated."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    path, _ = _queued(tmp_path, "email:duty@example.org", 1)
    with Outbox(path) as box:
        row = box.rows("pending")[0]
    payload = json.loads(json.dumps(row["payload"]))
    payload["schema"] = "https://landslide-monitor.example.org/schemas/alert-1.0.json"
    payload["schema_version"] = "1.0"
    payload["quicklook"] = None
    del payload["withdraws"], payload["review"]  # added in 1.4
    for added in ("event_after", "event_before", "event_dating", "confirmation"):
        del payload["landslide"][added]
    alert = Alert(
        id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
        event=row["event"], region=row["region"], landslide_uid=row["landslide_uid"],
        payload=payload, quicklook=None, attempts=0,
    )  # fmt: skip
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    text = body_text(build_message(smtp, "duty@example.org", [alert]), "plain")
    assert "undated" in text
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(
        name="ops", url="https://ops.example.org/hook", secret_env="LM_TEST_SECRET"
    )
    posted: list[bytes] = []

    class _Session:
        def post(self, url: str, data: bytes, **_: object) -> requests.Response:
            posted.append(data)
            return _answer(200, b"", url)

    WebhookSender(hook, session=_Session()).send([alert])  # type: ignore[arg-type]
    assert json.loads(posted[0])["schema_version"] == "1.0"


def test_the_plain_text_part_reads_on_a_narrow_screen(tmp_path: Path) -> None:
    """Found on a walk as the duty geologist: the plain-text part was the HTML table laid out
    in columns, about 130 characters wide, which a phone, an 80-column terminal or an
    e-mail-to-SMS gateway wraps into a mess; its map links stood in a list apart. Each
    landslide is now a block of short lines with its own link."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    alerts = _pending_alerts(tmp_path, "email:duty@example.org", 2)
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    text = body_text(build_message(smtp, "duty@example.org", alerts), "plain")
    intro, *blocks = text.strip().split("\n\n")
    assert intro.startswith("The landslide monitor found 2 new or grown landslide(s)")
    assert len(blocks) == 2
    for alert, block in zip(alerts, blocks, strict=True):
        head, *lines = block.splitlines()
        ls = alert.payload["landslide"]
        assert head == f"NEW id {ls['inventory_fid']}, {ls['region']}"
        assert lines[0] == f"  area m²: {ls['area_m2']:,.0f}"
        assert lines[-1].startswith("  map: https://www.openstreetmap.org/?mlat=")
        assert f"{ls['centroid']['lat']:.5f}" in lines[-1]
        assert max(len(line) for line in lines[:-1]) <= 60  # the link alone runs longer


def test_an_e_mail_labels_the_id_that_inventory_confirm_takes(tmp_path: Path) -> None:
    """Found on a receiver-side walk: each block was headed ``NEW #1 (377a87fa), ...`` under a
    text saying to confirm with ``inventory confirm --config FILE ID``, and the uid's first 8
    digits, the one id-like word there, were refused (``no landslide with uid '377a87fa'``):
    ID is the inventory's fid or the whole uid. Both parts now show the fid as ``id 1``, and
    say which number ID is."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    alerts = _pending_alerts(tmp_path, "email:duty@example.org", 2)
    fids = [a.payload["landslide"]["inventory_fid"] for a in alerts]
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    message = build_message(smtp, "duty@example.org", alerts)
    text = body_text(message, "plain")
    page = body_text(message, "html")
    said = f"ID the number of a landslide's id below ({fids[0]} for the first)."
    assert said in " ".join(text.split()) and html.escape(said) in page
    for alert, fid in zip(alerts, fids, strict=True):
        uid = alert.payload["landslide"]["id"]
        assert f"\nNEW id {fid}, wayanad-hills\n" in text
        assert f"<td>id {fid}</td>" in page
        assert uid[:8] not in text and uid[:8] not in page
        assert "#" not in text.split("\n\n", 1)[1].replace("#map=", "")


def test_a_landslide_dismissed_during_a_delivery_is_not_sent_to_the_channels_after(
    tmp_path: Path,
) -> None:
    """A delivery claims every due alert first, then sends channel by channel. A reviewer who
    dismissed the landslide while the first channel was being sent to (`inventory dismiss`
    takes no run lock) withdrew its other alerts, yet the delivery still sent them from what
    it had claimed: the duty geologist got the e-mail of a landslide dismissed minutes before."""
    routing = AlertRouting(default=("pager:first", "pager:second"))
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
        (fid,) = inventory.landslides()["fid"].tolist()
    sent: list[str] = []

    class _Reviewed:
        batch_size = 1

        def send(self, alerts: Sequence[Alert]) -> None:
            sent.extend(a.channel for a in alerts)
            if len(sent) == 1:  # the reviewer dismisses it while this channel is sent to
                with Inventory(path) as inventory:
                    inventory.set_status(int(fid), "dismissed")

    with Outbox(path) as box:
        report = box.deliver(routing, senders=lambda channel, given: _Reviewed(), now=T0)
        (withdrawn,) = box.rows("dead")
    assert sent == ["pager:first"]
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    assert withdrawn["channel"] == "pager:second"
    assert withdrawn["last_error"] == f"{WITHDRAWN}landslide {fid} was dismissed"


def test_alerts_kept_waiting_for_a_secret_do_not_count_those_withdrawn_meanwhile(
    tmp_path: Path,
) -> None:
    """Found by review: where a secret read at send time was missing, the alerts left in the
    channel's batches were kept pending and counted as waiting, the ones withdrawn during the
    delivery (their landslide dismissed) among them, so `alerts deliver` overstated the
    backlog waiting for its settings."""
    from monitor.alerts.settings import AlertConfigError

    routing = AlertRouting(default=("pager:one",))
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        apply_run(
            inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100), (500, 0, 100, 100)]),
            routing,
        )  # fmt: skip
        fids = inventory.landslides()["fid"].tolist()

    class _SecretGone:
        batch_size = 1

        def send(self, alerts: Sequence[Alert]) -> None:
            with Inventory(path) as inventory:  # a reviewer dismisses the other one meanwhile
                inventory.set_status(int(fids[1]), "dismissed")
            raise AlertConfigError("the variable PAGER_TOKEN is not set")

    with Outbox(path) as box:
        report = box.deliver(routing, senders=lambda channel, given: _SecretGone(), now=T0)
        assert (report.sent, report.waiting_for_settings) == (0, 1)
        assert len(box.rows("pending")) == 1 and len(box.rows("dead")) == 1


def test_an_e_mail_s_table_scrolls_on_a_phone_instead_of_hiding_its_map_links(
    tmp_path: Path,
) -> None:
    """On a 390 px wide phone screen the HTML digest's nine columns overflowed the page: the
    last ones, the dates and the lat/lon map link, were cut off, and the page had no viewport,
    so a mail app that honours one zoomed the whole text out instead."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    alerts = _pending_alerts(tmp_path, "email:duty@example.org", 2)
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    page = body_text(build_message(smtp, "duty@example.org", alerts), "html")
    head = page[: page.index("<body>")]
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in head
    scroller = '<div style="overflow-x:auto"><table '
    assert page.count(scroller) == 1
    assert page.index(scroller) < page.index("</table></div>")
    assert page.count("openstreetmap.org") == 2


def test_urllib3_s_url_filter_never_raises_into_the_request() -> None:
    """Found by a review: a url urlsplit refuses (an IPv6 host cut short) raised ValueError
    out of the log filter, into urllib3's request; it is hidden whole instead."""
    import logging

    from monitor.alerts.webhook import _UrllibPaths

    record = logging.LogRecord(
        "urllib3.connectionpool", logging.WARNING, __file__, 1,
        "Failed to parse headers (url=%s): %s", ("http://[::1/hook/SECRET", "defects"), None,
    )  # fmt: skip
    assert _UrllibPaths().filter(record)
    assert record.getMessage() == "Failed to parse headers (url=/…): defects"
    ipv6 = logging.LogRecord(
        "urllib3.connectionpool", logging.WARNING, __file__, 1,
        "Failed to parse headers (url=%s): %s", ("http://[::1]:8080/hook/SECRET", "defects"), None,
    )  # fmt: skip
    assert _UrllibPaths().filter(ipv6)
    assert ipv6.getMessage() == "Failed to parse headers (url=http://[::1]:8080/…): defects"


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://ops.example.org/hooks/SECRET", "posts to http://ops.example.org over plain http"),
        ("http://10.0.0.7:8080/hook", "posts to http://10.0.0.7:8080 over plain http"),
        ("https://ops.example.org/hook", None),
        ("http://127.0.0.1:8765/alerts", None),  # the demo's inbox: never leaves the machine
        ("http://[::1]:8765/alerts", None),
        ("http://localhost/alerts", None),
        ("http://localhost./alerts", None),
        ("http://[::ffff:127.0.0.1]:8765/alerts", None),
        ("HTTP://ops.example.org/hook", "posts to http://ops.example.org over plain http"),
    ],
)
def test_plain_http_to_another_machine_is_warned_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    url: str, warned: str | None,
) -> None:  # fmt: skip
    """Found by a review: a webhook on plain http sent every alert readable on its way without
    a word (the signature stops a change, not a reading). It is said once per receiver, with
    its origin alone (a path may hold a token), and not for a receiver on this machine."""
    monkeypatch.setenv("LM_TEST_SECRET", "s")
    hook = WebhookSettings(name="ops", url=url, secret_env="LM_TEST_SECRET")

    class _Session:
        def post(self, url: str, **_: object) -> requests.Response:
            return _answer(200, b"", url)

    sender = WebhookSender(hook, session=_Session())  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="monitor.alerts.webhook"):
        sender.send([_one_webhook_alert(tmp_path)])
        sender.send([_one_webhook_alert(tmp_path)])
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.alerts.webhook"]
    if warned is None:
        assert said == []
    else:
        assert len(said) == 1 and warned in said[0] and "webhook 'ops'" in said[0]
        assert "SECRET" not in said[0]


def test_mail_to_another_machine_without_starttls_is_warned_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in a security walkthrough: plain SMTP to a remote server was accepted without a
    word (only a login without STARTTLS is refused), where plain webhooks were warned of."""
    from monitor.alerts import email

    monkeypatch.setattr(email, "_WARNED_CLEAR", set())
    plain = SmtpSettings(host="smtp.example.org", from_address="m@example.org", starttls=False)
    local = SmtpSettings(host="127.0.0.1", from_address="m@example.org", starttls=False)
    tls = SmtpSettings(host="smtp.example.org", from_address="m@example.org", starttls=True)
    with caplog.at_level(logging.WARNING, logger="monitor.alerts.email"):
        for smtp in (plain, plain, local, tls):
            email._warn_in_the_clear(smtp)
    said = [r.getMessage() for r in caplog.records if r.name == "monitor.alerts.email"]
    assert said == [
        "alerts.smtp: mail to smtp.example.org:587 goes without starttls: every digest "
        "(places, outlines, quicklooks) can be read on its way; set starttls: true where the "
        "server offers it"
    ]


def test_a_digest_s_subject_names_three_regions_and_counts_the_others() -> None:
    """Found in a walkthrough of 37 regions: a storm's digest named every region in its
    subject, some 160 characters that mail clients cut."""
    from types import SimpleNamespace

    from monitor.alerts.email import _subject

    smtp = SmtpSettings(host="127.0.0.1", from_address="m@example.org")
    alerts = [
        SimpleNamespace(event="landslide.new" if i % 3 else "landslide.grown", region=f"r{i:02d}")
        for i in range(12)
    ]
    assert _subject(smtp, alerts) == (  # type: ignore[arg-type]
        "[landslide-monitor] 8 new and 4 grown landslides in r00, r01, r02 and 9 more regions"
    )
    assert _subject(smtp, alerts[:2]) == (  # type: ignore[arg-type]
        "[landslide-monitor] 1 new and 1 grown landslides in r00, r01"
    )
    # four are named: "and 1 more regions" would say no less (found in a review)
    assert _subject(smtp, alerts[:4]).endswith("in r00, r01, r02, r03")  # type: ignore[arg-type]


def test_the_alerts_in_one_e_mail_are_configurable(tmp_path: Path) -> None:
    """Found in a walkthrough of 37 regions: a storm's 99 alerts came in 5 e-mails of 1.1 MB
    each, the 20 a message fixed in the code. `alerts.smtp.max_per_message` sets it; the outbox
    sends a recipient's due alerts in messages of at most that many."""
    from monitor.alerts.email import EmailSender

    smtp = SmtpSettings(host="127.0.0.1", from_address="m@example.org", max_per_message=50)
    routing = AlertRouting.from_settings(AlertSettings(smtp=smtp, email=["duty@example.org"]))
    sender = sender_for("email:duty@example.org", routing)
    assert isinstance(sender, EmailSender) and sender.batch_size == 50
    default = SmtpSettings(host="127.0.0.1", from_address="m@example.org")
    assert default.max_per_message == 20
    with pytest.raises(ValidationError, match="less than or equal to 200"):
        SmtpSettings(host="127.0.0.1", from_address="m@example.org", max_per_message=500)


class _TakenThenStopped:
    """A channel that takes each batch, then a SIGTERM comes before the send has returned:
    the moment between a receiver's answer and the outbox's record of it."""

    batch_size = 1

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, alerts: Sequence[Alert]) -> None:
        import os
        import signal

        self.sent += [a.idempotency_key for a in alerts]
        os.kill(os.getpid(), signal.SIGTERM)  # handled at once, in this frame


def test_a_stop_after_the_channel_took_an_alert_waits_for_its_record(tmp_path: Path) -> None:
    """Found under load (a full suite beside a benchmark): the stop of `alerts deliver` came
    after the receiver's 2xx, as the outbox recorded it, and the next delivery sent the alert
    again. The stop now waits for the send in flight to be recorded, then goes on: the alert
    taken is sent, the others stay pending and unclaimed."""
    from monitor.errors import Interrupted, interrupt_on_signals

    path, routing = _queued(tmp_path, "pager:duty", 3)
    channel = _TakenThenStopped()
    with Outbox(path) as box:
        with pytest.raises(Interrupted), interrupt_on_signals():
            box.deliver(routing, senders=lambda *_: channel, now=T0)
        assert box.counts() == {"pending": 2, "sent": 1, "dead": 0}
        (sent,) = box.rows("sent")
        assert [sent["idempotency_key"]] == channel.sent
        # the next delivery sends the two left, and never the one taken
        later = _TakenThenStopped()
        with pytest.raises(Interrupted), interrupt_on_signals():
            box.deliver(routing, senders=lambda *_: later, now=T0 + timedelta(minutes=1))
        assert box.counts() == {"pending": 1, "sent": 2, "dead": 0}
        assert set(later.sent).isdisjoint(channel.sent)


def test_the_plain_text_part_gives_the_quicklook_s_url_where_one_is_served(
    tmp_path: Path,
) -> None:
    """Found in an integration engineer's walk: with quicklooks.base_url set, the webhook gave
    the picture's URL and the e-mail only an inline image, which a plain-text reader (an
    e-mail-to-SMS gateway) never sees."""
    from monitor.alerts.email import build_message
    from monitor.alerts.settings import SmtpSettings

    served, unserved = _pending_alerts(tmp_path, "email:duty@example.org", 2)
    url = "https://maps.example.org/quicklooks/2024-09-15/hills/candidate-001.png"
    served.payload["quicklook"] = {"filename": "2024-09-15/hills/candidate-001.png", "url": url}
    unserved.payload["quicklook"] = {"filename": "2024-09-15/hills/candidate-002.png", "url": None}
    smtp = SmtpSettings(host="127.0.0.1", from_address="monitor@example.org")
    text = body_text(build_message(smtp, "duty@example.org", [served, unserved]), "plain")
    first, second = text.strip().split("\n\n")[1:]
    assert first.splitlines()[-1] == f"  quicklook: {url}"
    assert "quicklook" not in second


def test_a_connect_timeout_reads_as_its_message_alone() -> None:
    """Found in review: urllib3 gives a connect timeout as (connection, message), whose text
    held the connection's address in memory, different on every attempt, so `status --check`
    could not group the dead alerts of one firewalled receiver."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError

    from monitor.alerts.webhook import _reason

    said = "Connection to 10.0.0.1 timed out. (connect timeout=1)"
    for connection in (object(), object()):
        wrapped = MaxRetryError(None, "/hook", ConnectTimeoutError(connection, said))  # type: ignore[arg-type]
        assert _reason(requests.ConnectTimeout(wrapped)) == said


def test_a_send_that_made_no_connection_says_nothing_reached_the_receiver(
    tmp_path, monkeypatch
) -> None:
    """What a review notice must withdraw: a webhook or SMTP server that nothing listens on
    made no connection (``maybe_delivered`` False); a webhook that took the request and
    answered too late may have processed it (True)."""
    from monitor.alerts.email import EmailSender

    monkeypatch.setenv("LM_TEST_SECRET", "s3cret")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    alert = _one_webhook_alert(tmp_path)
    hook = WebhookSettings(
        name="ops", url=f"http://127.0.0.1:{port}/hook", secret_env="LM_TEST_SECRET"
    )
    with pytest.raises(DeliveryError) as refused:
        WebhookSender(hook).send([alert])
    assert refused.value.maybe_delivered is False and not refused.value.permanent
    smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False, from_address="m@example.org")
    with pytest.raises(DeliveryError) as refused:
        EmailSender(smtp, "duty@example.org").send([alert])
    assert refused.value.maybe_delivered is False
    server = socket.create_server(("127.0.0.1", 0))  # takes the request, never answers
    late = WebhookSettings(
        name="ops",
        url=f"http://127.0.0.1:{server.getsockname()[1]}/hook",
        secret_env="LM_TEST_SECRET",
        timeout_s=0.5,
    )
    with server, pytest.raises(DeliveryError) as timed_out:
        WebhookSender(late).send([alert])
    assert timed_out.value.maybe_delivered is True


def test_a_message_the_smtp_server_took_is_sent_whatever_it_answers_to_quit(
    tmp_path, caplog
) -> None:
    """Found in review: a 5xx to QUIT, after the server had taken the message (250 after
    DATA), made the digest dead, and a 4xx there had it sent again. It is sent, and said."""
    from monitor.alerts.email import EmailSender

    server = socket.create_server(("127.0.0.1", 0))
    taken: list[bool] = []

    def serve() -> None:
        connection, _ = server.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 hello\r\n")
            while line := lines.readline():
                command = line[:4].upper()
                if command == b"DATA":
                    connection.sendall(b"354 go on\r\n")
                    while lines.readline() not in (b".\r\n", b""):
                        pass
                    taken.append(True)
                    connection.sendall(b"250 2.0.0 queued as 1234\r\n")
                elif command == b"QUIT":
                    connection.sendall(b"554 5.3.0 goodbye\r\n")
                    break
                else:
                    connection.sendall(b"250 ok\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    smtp = SmtpSettings(
        host="127.0.0.1", port=server.getsockname()[1], starttls=False, from_address="m@ex.org"
    )
    with server, caplog.at_level(logging.WARNING):
        EmailSender(smtp, "duty@example.org").send([_one_webhook_alert(tmp_path)])
        thread.join(10)
    assert taken == [True]
    assert "answered QUIT with 554 5.3.0 goodbye" in caplog.text


def test_only_a_refused_certificate_is_a_tls_error_before_the_request_went() -> None:
    """Found in review: every TLS error counted as no connection made, also a stream broken
    after the receiver had the whole request."""
    import ssl

    from monitor.alerts.webhook import _no_connection

    refused = requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "self-signed"))
    broken = requests.exceptions.SSLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]"))
    assert _no_connection(refused) and not _no_connection(broken)
