"""End to end on loopback: inventory change -> outbox -> real SMTP server / HTTP receiver.

The guarantee under test (monitor/alerts/outbox.py): at-least-once to the channel with a stable
idempotency key; exactly once when no process dies between a send and its mark."""

from __future__ import annotations

import email
import email.policy
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyproj import Transformer

from monitor.alerts.outbox import Outbox
from monitor.alerts.payload import validate_payload
from monitor.alerts.settings import AlertRouting, AlertSettings, RetryPolicy, WebhookSettings
from monitor.alerts.webhook import verify
from monitor.store.inventory import Inventory
from tests.alerts.loopback_helpers import (
    SECRET,
    X0,
    Y0,
    alert_settings,
    apply_run,
    body_text,
    candidates,
    make_routing,
)

REPO = Path(__file__).resolve().parents[2]
DAY = date(2024, 9, 15)
T0 = datetime(2024, 9, 15, 6, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # stands in for a quicklook (bytes are compared)


@pytest.fixture
def inventory(tmp_path: Path):
    inv = Inventory(tmp_path / "inventory.gpkg")
    yield inv
    inv.close()


def _webhook_only(routing):
    from dataclasses import replace

    return replace(routing, default=("webhook:ops",))


def test_webhook_arrives_exactly_once_with_valid_signature(inventory, receiver, mailbox):
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    changes = apply_run(inventory, DAY, candidates([(0, 0, 100, 120)]), routing)
    assert changes.alerts_queued == 1

    outbox = inventory.outbox()
    report = outbox.deliver(routing, now=T0)
    assert (report.sent, report.retrying, report.dead, report.pending) == (1, 0, 0, 0)
    assert outbox.deliver(routing, now=T0 + timedelta(days=1)).sent == 0  # nothing twice

    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    assert verify(SECRET.encode(), body, headers["X-Landslide-Signature-256"])
    assert not verify(b"another secret", body, headers["X-Landslide-Signature-256"])
    assert not verify(SECRET.encode(), body + b" ", headers["X-Landslide-Signature-256"])
    payload = json.loads(body)
    validate_payload(payload)
    assert headers["Idempotency-Key"] == payload["idempotency_key"]
    assert headers["X-Landslide-Event"] == payload["event"] == "landslide.new"
    assert headers["Content-Type"] == "application/json"
    landslide = payload["landslide"]
    assert landslide["area_m2"] == pytest.approx(12_000.0)
    assert landslide["previous_area_m2"] is None and landslide["revision"] == 1
    assert landslide["region"] == "wayanad-hills" and landslide["setting"] == "S1+S2"
    assert (landslide["pre_date"], landslide["post_date"]) == ("2024-08-21", "2024-08-26")
    lon, lat = Transformer.from_crs(32643, 4326, always_xy=True).transform(X0 + 50, Y0 + 60)
    assert landslide["centroid"] == pytest.approx({"lon": lon, "lat": lat}, abs=1e-6)
    assert payload["run"] == {"id": changes.run_id, "date": "2024-09-15", "source": "archive"}
    sent = outbox.rows("sent")
    assert [r["attempts"] for r in sent] == [1]


def test_email_digest_over_starttls_with_login(inventory, receiver, mailbox, tls_files, tmp_path):
    mailbox.start(tls_files)
    quicklook = tmp_path / "ql.png"
    quicklook.write_bytes(PNG)
    routing = make_routing(receiver, mailbox, tls_files)
    routing = type(routing)(**{**routing.__dict__, "default": ("email:geohazards@example.org",)})
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100), (600, 0, 50, 80)], quicklook), routing)

    outbox = inventory.outbox()
    report = outbox.deliver(routing, now=T0)
    assert (report.sent, report.pending) == (2, 0)
    assert outbox.deliver(routing, now=T0 + timedelta(days=1)).sent == 0

    assert len(mailbox.messages) == 1  # one digest for two alerts
    assert mailbox.sessions == [
        {"tls": True, "authenticated": True, "rcpt": ["geohazards@example.org"]}
    ]
    message = email.message_from_bytes(mailbox.messages[0], policy=email.policy.default)
    assert message["Subject"] == "[landslide-monitor] 2 new landslides in wayanad-hills"
    keys = [r["idempotency_key"] for r in outbox.rows("sent")]
    assert [k.strip() for k in message["X-Landslide-Idempotency-Keys"].split(",")] == sorted(keys)
    text = body_text(message, "plain")
    assert "10,000" in text and "4,000" in text and "happened (UTC days): undated" in text
    html_body = body_text(message, "html")
    assert html_body.count("<tr>") == 3 and html_body.count('src="cid:') == 2
    images = [p for p in message.walk() if p.get_content_type() == "image/png"]
    assert [p.get_content() for p in images] == [PNG, PNG]
    # shown in the page, not listed as attachments too (they were sent as attachments)
    assert [p.get_content_disposition() for p in images] == ["inline", "inline"]
    # each picture the page shows is one part's Content-ID, a msg-id (RFC 2045: <left@right>;
    # it was <ql1.xxxx>, which strict mail readers do not resolve)
    content_ids = [p["Content-ID"] for p in images]
    assert all(re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", c) for c in content_ids), content_ids
    assert re.findall(r'src="cid:([^"]+)"', html_body) == [c[1:-1] for c in content_ids]
    (geojson,) = [p for p in message.iter_attachments() if p.get_filename() == "landslides.geojson"]
    features = json.loads(geojson.get_content())["features"]
    assert sorted(f["properties"]["area_m2"] for f in features) == [4000.0, 10000.0]


def test_email_quicklook_heading_names_its_own_landslide(
    inventory, receiver, mailbox, tls_files, tmp_path
):
    """A digest where only the second landslide has a quicklook heads that picture with the
    second landslide (the heading once came from the first row of the table); the first, whose
    quicklook is missing (NaN in the frame, as pandas writes None into a column of text), has
    none stored (it was once stored as the path 'nan')."""
    mailbox.start(tls_files)
    quicklook = tmp_path / "ql.png"
    quicklook.write_bytes(PNG)
    cands = candidates([(0, 0, 100, 100), (600, 0, 50, 80)], quicklook)
    cands.loc[cands.index[0], "quicklook"] = None
    routing = make_routing(receiver, mailbox, tls_files)
    routing = type(routing)(**{**routing.__dict__, "default": ("email:geohazards@example.org",)})
    apply_run(inventory, DAY, cands, routing)
    assert inventory.outbox().deliver(routing, now=T0).sent == 2

    message = email.message_from_bytes(mailbox.messages[0], policy=email.policy.default)
    html_body = body_text(message, "html")
    stored = {r["landslide_fid"]: r["quicklook"] for r in inventory.outbox().rows("sent")}
    assert stored == {1: None, 2: str(quicklook)}
    fid = 2
    headings = re.findall(r"<h3>(.*?)</h3>", html_body)
    assert len(headings) == 1 and headings[0].startswith(f"NEW id {fid}, ")


def test_smtp_refusals_wrong_login_retries_unknown_recipient_is_dead(
    inventory, receiver, mailbox, tls_files, monkeypatch
):
    mailbox.start(tls_files)
    routing = make_routing(receiver, mailbox, tls_files)
    routing = type(routing)(**{**routing.__dict__, "default": ("email:geohazards@example.org",)})
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()

    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", "wrong")
    bad_login = outbox.deliver(routing, now=T0)
    assert (bad_login.sent, bad_login.retrying, bad_login.dead) == (0, 1, 0)
    # the server's answer as it said it, and the variables to fix (it gave a bytes repr only)
    error = outbox.rows("pending")[0]["last_error"]
    assert "refused the login (535 5.7.8 Authentication credentials invalid)" in error
    assert "LM_TEST_SMTP_USER and LM_TEST_SMTP_PASSWORD" in error
    assert "b'" not in error and error in bad_login.errors[0]

    monkeypatch.setenv("LM_TEST_SMTP_PASSWORD", "smtp-pass-for-tests")
    mailbox.refused.add("geohazards@example.org")
    refused = outbox.deliver(routing, now=T0 + timedelta(minutes=2))
    assert (refused.sent, refused.retrying, refused.dead) == (0, 0, 1)
    assert "550" in outbox.rows("dead")[0]["last_error"]
    assert mailbox.messages == []


def test_an_address_outside_ascii_to_a_server_without_smtputf8_is_dead_and_named(
    inventory, receiver, mailbox, tls_files
):
    """A recipient such as jörg@bücher.example needs the server's SMTPUTF8 (RFC 6531), which
    this one does not offer. smtplib refuses before sending; the alert was retried for a day
    (12 attempts), each error ending "(is starttls right for this server?)", which it was.
    No retry can help: it is dead at once, the error naming the address and what is missing."""
    mailbox.smtputf8 = False
    mailbox.start(tls_files)
    settings = alert_settings(receiver, mailbox, tls_files)
    settings["email"] = ["jörg@bücher.example"]
    routing = AlertRouting.from_settings(AlertSettings(**settings))
    routing = type(routing)(**{**routing.__dict__, "default": ("email:jörg@bücher.example",)})
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    report = outbox.deliver(routing, now=T0)
    assert (report.sent, report.retrying, report.dead) == (0, 0, 1)
    error = outbox.rows("dead")[0]["last_error"]
    assert "jörg@bücher.example" in error and "SMTPUTF8" in error
    assert "starttls" not in error
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("offers", "starttls", "said"),
    [
        ({"starttls": False}, True, "(the server offers no STARTTLS: check alerts.smtp.host"),
        # as the loopback inbox of "Trying your alerts": a login without STARTTLS is allowed on
        # this machine, and aiosmtpd offers AUTH only after STARTTLS
        ({"starttls": False}, False, "(the server offers no login: remove username_env and"),
    ],
)
def test_what_the_server_does_not_offer_is_said_by_the_step_that_needed_it(
    inventory, receiver, mailbox, tls_files, offers, starttls, said
):
    """Found in a walkthrough: a server without AUTH (the loopback inbox) answered a
    configured login with "SMTP AUTH extension not supported by server (is starttls right for
    this server?)", pointing at the setting that was right."""
    for key, value in offers.items():
        setattr(mailbox, key, value)
    mailbox.start(tls_files)
    routing = make_routing(receiver, mailbox, tls_files)
    smtp = routing.smtp.model_copy(update={"starttls": starttls})
    routing = type(routing)(
        **{**routing.__dict__, "smtp": smtp, "default": ("email:geohazards@example.org",)}
    )
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    report = inventory.outbox().deliver(routing, now=T0)
    assert (report.sent, report.retrying) == (0, 1)
    assert said in report.errors[0]
    assert "is starttls right" not in report.errors[0]
    assert mailbox.messages == []


def test_a_server_asking_for_a_login_the_configuration_lacks_is_retried_and_named(
    inventory, receiver, mailbox, tls_files
):
    """alerts.smtp without username_env/password_env, to a server that requires a login: its
    '530 Authentication required' made the alerts dead at once, saying
    "SMTPSenderRefused: (530, b'5.7.0 Authentication required', ...)" and nothing of the
    settings that were missing."""
    mailbox.login_required = True
    mailbox.start(tls_files)
    routing = make_routing(receiver, mailbox, tls_files)
    routing = type(routing)(**{**routing.__dict__, "default": ("email:geohazards@example.org",)})
    no_login = routing.smtp.model_copy(update={"username_env": None, "password_env": None})
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    report = outbox.deliver(type(routing)(**{**routing.__dict__, "smtp": no_login}), now=T0)
    assert (report.sent, report.retrying, report.dead) == (0, 1, 0)
    error = outbox.rows("pending")[0]["last_error"]
    assert "requires a login (530 5.7.0 Authentication required)" in error
    assert "set username_env and password_env" in error
    # the configuration names them now: the next delivery sends it
    assert outbox.deliver(routing, now=T0 + timedelta(minutes=2)).sent == 1
    assert len(mailbox.messages) == 1


def test_a_ca_file_gone_since_the_configuration_was_loaded_is_named(
    inventory, receiver, mailbox, tls_files, tmp_path
):
    mailbox.start(tls_files)
    routing = make_routing(receiver, mailbox, tls_files)
    smtp = routing.smtp.model_copy(update={"ca_file": tmp_path / "gone.pem"})
    routing = type(routing)(
        **{**routing.__dict__, "smtp": smtp, "default": ("email:geohazards@example.org",)}
    )
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    report = inventory.outbox().deliver(routing, now=T0)
    assert (report.sent, report.retrying) == (0, 1)
    assert f"cannot read alerts.smtp.ca_file {tmp_path / 'gone.pem'}" in report.errors[0]
    assert mailbox.messages == []


def test_server_down_alert_waits_and_goes_out_on_next_delivery(
    inventory, receiver, mailbox, tls_files
):
    routing = make_routing(receiver, mailbox, tls_files)  # neither server is up
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()

    down = outbox.deliver(routing, now=T0)
    assert (down.sent, down.retrying, down.dead, down.pending) == (0, 2, 0, 2)
    rows = outbox.rows("pending")
    assert [r["attempts"] for r in rows] == [1, 1]
    assert all("Connection" in r["last_error"] or "refused" in r["last_error"] for r in rows)
    assert {r["next_attempt_at"] for r in rows} == {"2024-09-15T06:01:00.000Z"}  # +60 s

    early = outbox.deliver(routing, now=T0 + timedelta(seconds=30))  # backoff not over
    assert (early.sent, early.retrying, early.pending) == (0, 0, 2)

    receiver.start()
    mailbox.start(tls_files)
    up = outbox.deliver(routing, now=T0 + timedelta(seconds=61))
    assert (up.sent, up.retrying, up.pending) == (2, 0, 0)
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1
    assert [r["attempts"] for r in outbox.rows("sent")] == [2, 2]


def test_an_alert_that_ran_out_of_attempts_says_so(inventory, receiver, mailbox, tls_files):
    """A dead alert that used up alerts.retry.max_attempts showed only its last error (a
    connection refused, a 451), which read as the reason it was refused for good."""
    routing = replace(make_routing(receiver, mailbox, tls_files), retry=RetryPolicy(max_attempts=2))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    outbox.deliver(routing, now=T0)  # neither server is up: retried
    assert outbox.counts()["pending"] == 2
    report = outbox.deliver(routing, now=T0 + timedelta(hours=1))
    assert (report.dead, report.pending) == (2, 0)
    for row in outbox.rows("dead"):
        assert row["attempts"] == 2
        assert row["last_error"].startswith(
            "gave up after 2 attempts (alerts.retry.max_attempts 2); the last: "
        )


def test_a_redirect_is_not_followed_and_names_where_it_points(inventory, receiver, mailbox):
    """A webhook URL that redirects (http to https, a moved endpoint) made the alert dead with
    "answered HTTP 301: ''", which said neither where it pointed nor what to change."""
    receiver.start()
    receiver.answers = [308]
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    report = outbox.deliver(routing, now=T0)
    assert (report.sent, report.dead) == (0, 1)
    error = outbox.rows("dead")[0]["last_error"]
    # its scheme, host and port; not its path, which may hold a token (a security review)
    target = f"https://127.0.0.1:{receiver.port}/…"
    assert f"webhook 'ops' answered HTTP 308, a redirect to {target}: " in error
    assert "/hooks/landslides" not in error
    assert "set the webhook's url to where it points" in error and "alerts retry --dead" in error
    assert len(receiver.requests) == 1  # not followed


def test_a_webhook_url_s_path_never_reaches_the_outbox_or_the_log(
    inventory, receiver, mailbox, caplog
):
    """Found in a security review: Slack- and Teams-style webhooks carry their token in the
    url's path, and a refused connection stored requests' text ("Max retries exceeded with
    url: /services/...") in the outbox's last_error (shown by `status` and `alerts list`) and
    in the log. The error names the webhook, its scheme, host and port, and the reason."""
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    hook = routing.webhooks["ops"]
    path = "/services/T0SECRET1/B0SECRET2/X%2FSECRET3"
    url = f"http://127.0.0.1:{receiver.port}{path}?token=SECRET4"
    routing = replace(
        routing,
        webhooks={"ops": WebhookSettings(**{**hook.model_dump(), "url": url})},
    )
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    with caplog.at_level("INFO"):
        report = outbox.deliver(routing, now=T0)  # nothing listens on the receiver's port
    assert report.retrying == 1
    error = outbox.rows()[0]["last_error"]
    assert error.startswith(f"webhook 'ops' (http://127.0.0.1:{receiver.port}): ConnectionError: ")
    assert "Connection refused" in error
    # urllib3's "Max retries exceeded" read as the monitor's own retries used up (found in a walk)
    assert "Max retries" not in error and "Failed to establish a new connection" in error
    for shown in (error, caplog.text):
        assert "SECRET" not in shown and "services" not in shown, shown


def test_a_down_webhook_is_tried_once_per_delivery(inventory, receiver, mailbox):
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(
        inventory, DAY, candidates([(0, 0, 90, 90), (400, 0, 90, 90), (800, 0, 90, 90)]), routing
    )
    outbox = inventory.outbox()
    down = outbox.deliver(routing, now=T0)
    assert (down.sent, down.retrying, down.pending) == (0, 1, 3)
    assert [r["attempts"] for r in outbox.rows()] == [1, 0, 0]  # the others were not tried
    assert all(r["claimed_by"] is None for r in outbox.rows())
    receiver.start()
    up = outbox.deliver(routing, now=T0 + timedelta(minutes=2))
    assert (up.sent, up.pending) == (3, 0)
    assert len(receiver.requests) == 3


def test_backoff_doubles_then_delivers_and_permanent_refusal_is_dead(inventory, receiver, mailbox):
    receiver.start()
    receiver.answers = [503, 503, 429]
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()

    now, waits = T0, []
    for _ in range(3):
        report = outbox.deliver(routing, now=now)
        assert report.retrying == 1
        due = datetime.strptime(outbox.rows()[0]["next_attempt_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        waits.append((due.replace(tzinfo=UTC) - now).total_seconds())
        now = due.replace(tzinfo=UTC)
    assert waits == [60.0, 120.0, 900.0]  # 60 s, doubled, then the receiver's Retry-After: 900
    assert outbox.deliver(routing, now=now).sent == 1
    assert len(receiver.requests) == 4 and len(receiver.processed) == 1
    assert len({h["Idempotency-Key"] for h, _ in receiver.requests}) == 1

    # A 400 is the receiver refusing this payload: no retry, the alert is dead (kept, listed).
    apply_run(inventory, date(2024, 9, 20), candidates([(2000, 0, 100, 100)]), routing)
    receiver.answers = [400]
    refused = outbox.deliver(routing, now=now)
    assert (refused.sent, refused.dead, refused.pending) == (0, 1, 0)
    assert "HTTP 400" in outbox.rows("dead")[0]["last_error"]
    assert outbox.requeue(now=now) == 1
    assert outbox.deliver(routing, now=now).sent == 1


def test_same_date_twice_sends_no_second_alert(inventory, receiver, mailbox):
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    cands = candidates([(0, 0, 100, 100), (500, 0, 60, 60)])
    apply_run(inventory, DAY, cands, routing)
    inventory.outbox().deliver(routing, now=T0)
    again = apply_run(inventory, DAY, cands, routing)
    assert again.alerts_queued == 0
    assert inventory.outbox().deliver(routing, now=T0 + timedelta(hours=1)).sent == 0
    assert len(receiver.requests) == 2 and len(inventory.landslides()) == 2


def test_grown_landslide_alerts_with_previous_area(inventory, receiver, mailbox):
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    apply_run(inventory, date(2024, 9, 27), candidates([(0, 0, 100, 160)]), routing)
    inventory.outbox().deliver(routing, now=T0 + timedelta(days=12))
    bodies = [json.loads(b) for _, b in receiver.requests]
    assert [b["event"] for b in bodies] == ["landslide.new", "landslide.grown"]
    grown = bodies[1]["landslide"]
    assert (grown["previous_area_m2"], grown["area_m2"], grown["revision"]) == (10_000, 16_000, 2)
    assert grown["times_seen"] == 2 and grown["last_seen"] == "2024-09-27"
    assert bodies[0]["idempotency_key"] != bodies[1]["idempotency_key"]


def test_a_webhook_url_from_the_environment_is_read_when_alerts_are_sent(
    inventory, receiver, mailbox, monkeypatch
):
    """`url_env` instead of `url`: the alert waits, pending, while the variable is unset, and
    goes to the url it holds once set."""
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    hook = routing.webhooks["ops"].model_dump(exclude={"url", "url_env"})
    hooks = {"ops": WebhookSettings(**hook, url_env="LM_TEST_WEBHOOK_URL")}
    routing = replace(routing, webhooks=hooks)
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    monkeypatch.delenv("LM_TEST_WEBHOOK_URL", raising=False)
    report = inventory.outbox().deliver(routing, now=T0)
    assert (report.sent, report.waiting_for_settings) == (0, 1)
    assert (
        "webhook 'ops' url: environment variable LM_TEST_WEBHOOK_URL is not set"
        in (report.errors[0])
    )
    # with the secret unset too, both are named at once (found in a walk: the second only once
    # the first was set)
    monkeypatch.delenv("LM_TEST_WEBHOOK_SECRET")
    report = inventory.outbox().deliver(routing, now=T0 + timedelta(minutes=1))
    assert "LM_TEST_WEBHOOK_URL is not set" in report.errors[0]
    assert "LM_TEST_WEBHOOK_SECRET is not set" in report.errors[0]
    monkeypatch.setenv("LM_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("LM_TEST_WEBHOOK_URL", receiver.url)
    assert inventory.outbox().deliver(routing, now=T0 + timedelta(minutes=2)).sent == 1
    assert len(receiver.requests) == 1


def test_alerts_waiting_for_a_secret_do_not_take_the_claims_of_healthy_channels(
    inventory, receiver, mailbox, tls_files, monkeypatch
):
    """Found in review: alerts waiting for a variable stay due with their low ids, so a backlog
    of them (a delivery claims at most `limit`) took every claim from the other channels."""
    receiver.start()
    mailbox.start(tls_files)
    monkeypatch.delenv("LM_TEST_WEBHOOK_SECRET")
    routing = make_routing(receiver, mailbox, tls_files)
    routing = type(routing)(**{**routing.__dict__, "default": ("webhook:ops",)})
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100), (500, 0, 60, 60)]), routing)
    outbox = inventory.outbox()
    assert outbox.deliver(routing, now=T0).waiting_for_settings == 2
    routing = type(routing)(**{**routing.__dict__, "default": ("email:geohazards@example.org",)})
    apply_run(inventory, DAY + timedelta(days=1), candidates([(900, 0, 80, 80)]), routing)
    report = outbox.deliver(routing, now=T0 + timedelta(minutes=5), limit=1)
    assert (report.sent, report.waiting_for_settings) == (1, 0)
    assert len(mailbox.messages) == 1


def test_missing_secret_keeps_alert_pending_and_names_the_variable(
    inventory, receiver, mailbox, monkeypatch
):
    receiver.start()
    monkeypatch.delenv("LM_TEST_WEBHOOK_SECRET")
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100), (500, 0, 60, 60)]), routing)
    report = inventory.outbox().deliver(routing, now=T0)
    assert (report.sent, report.retrying, report.waiting_for_settings) == (0, 0, 2)
    assert "waiting for their channel's settings 2" in str(report)
    rows = inventory.outbox().rows()
    assert [(r["attempts"], r["claimed_by"]) for r in rows] == [(0, None), (0, None)]
    # still due (as queued): the first delivery with the variable set sends them
    assert {r["next_attempt_at"] for r in rows} == {"2024-09-15T05:00:00.000Z"}
    assert "environment variable LM_TEST_WEBHOOK_SECRET is not set" in report.errors[0]
    assert receiver.requests == []
    # found by a new user: each delivery counted an attempt, so the alert went dead after
    # max_attempts (5) although nothing was ever tried; it now waits for the variable
    for hours in range(1, 8):
        inventory.outbox().deliver(routing, now=T0 + timedelta(hours=hours))
    rows = inventory.outbox().rows()
    assert [(r["status"], r["attempts"]) for r in rows] == [("pending", 0), ("pending", 0)]
    monkeypatch.setenv("LM_TEST_WEBHOOK_SECRET", "")
    report = inventory.outbox().deliver(routing, now=T0 + timedelta(hours=9))
    assert "environment variable LM_TEST_WEBHOOK_SECRET is empty" in report.errors[0]
    monkeypatch.setenv("LM_TEST_WEBHOOK_SECRET", SECRET)
    report = inventory.outbox().deliver(routing, now=T0 + timedelta(hours=10))
    assert report.sent == 2 and len(receiver.requests) == 2


_CRASH_AFTER_SEND = """
import os
from datetime import datetime, UTC
from monitor.alerts.outbox import Outbox
from monitor.alerts.settings import AlertRouting, AlertSettings

def crash(self, alerts, now):
    os._exit(9)  # the POST went out; the process dies before marking it sent
Outbox._mark_sent = crash
routing = AlertRouting.from_settings(AlertSettings(webhooks=[
    {{"name": "ops", "url": {url!r}, "secret_env": "LM_TEST_WEBHOOK_SECRET"}}]))
Outbox({path!r}).deliver(routing, now=datetime(2024, 9, 15, 6, tzinfo=UTC))
"""


def test_crash_between_send_and_mark_resends_with_the_same_key(
    inventory, receiver, mailbox, tmp_path
):
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    script = tmp_path / "crash.py"
    code = _CRASH_AFTER_SEND.format(url=receiver.url, path=str(inventory.path))
    script.write_text(textwrap.dedent(code))
    done = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    assert len(receiver.requests) == 1
    assert Outbox(inventory.path).counts() == {"pending": 1, "sent": 0, "dead": 0}

    # The claim of the dead process is released at once (no lease wait): sent again, same key
    # and same bytes, so the receiver processes it once.
    report = inventory.outbox().deliver(routing, now=T0 + timedelta(seconds=1))
    assert (report.sent, report.pending) == (1, 0)
    assert len(receiver.requests) == 2
    (h1, b1), (h2, b2) = receiver.requests
    assert h1["Idempotency-Key"] == h2["Idempotency-Key"] and b1 == b2
    assert len(receiver.processed) == 1
    assert inventory.outbox().deliver(routing, now=T0 + timedelta(days=1)).sent == 0


def test_a_stop_during_a_post_waits_for_its_answer_and_marks_what_was_taken(
    inventory, receiver, mailbox
):
    """Found by an operator's walkthrough (2026-12-06): a SIGTERM while a webhook POST was in
    flight left the alert the receiver had just accepted pending, and the next delivery sent
    it again. The stop now waits for that POST's answer (by the webhook's timeout) and the
    alert it delivered is marked sent before the stop goes on."""
    import os
    import signal
    import threading

    from monitor.errors import Interrupted, interrupt_on_signals

    receiver.delay_s = 1.0  # the answer comes a second after the request
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    with pytest.raises(Interrupted), interrupt_on_signals():
        timer.start()
        inventory.outbox().deliver(routing, now=T0)
    timer.join()
    assert len(receiver.requests) == 1 and len(receiver.processed) == 1
    assert Outbox(inventory.path).counts() == {"pending": 0, "sent": 1, "dead": 0}
    assert inventory.outbox().deliver(routing, now=T0 + timedelta(days=1)).sent == 0
    assert len(receiver.requests) == 1  # never sent again


def test_a_second_ctrl_c_during_the_post_gives_the_wait_up(inventory, receiver, mailbox):
    """Found in review: with the first stop held until the send is recorded, a second Ctrl-C
    was taken for a first one and waited for the POST's deadline again. It gives the wait up,
    as the docs say: the alert stays pending (sent again later, as after a crash), and the
    delivery ends at once with the stop."""
    import os
    import signal
    import threading
    import time

    from monitor.errors import Interrupted, interrupt_on_signals

    receiver.delay_s = 4.0  # the answer would come 4 s after the request
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    timers = [threading.Timer(t, os.kill, (os.getpid(), signal.SIGINT)) for t in (0.5, 1.0)]
    start = time.monotonic()
    with pytest.raises(Interrupted), interrupt_on_signals():
        for timer in timers:
            timer.start()
        inventory.outbox().deliver(routing, now=T0)
    took = time.monotonic() - start
    for timer in timers:
        timer.join()
    assert took < 3.0  # not the 4 s of the answer, nor the webhook's 10 s deadline
    assert len(receiver.requests) == 1
    assert Outbox(inventory.path).counts() == {"pending": 1, "sent": 0, "dead": 0}


def test_claim_of_a_live_delivery_is_respected_until_its_lease_ends(inventory, receiver, mailbox):
    receiver.start()
    routing = _webhook_only(make_routing(receiver, mailbox, None))
    apply_run(inventory, DAY, candidates([(0, 0, 100, 100)]), routing)
    outbox = inventory.outbox()
    # Another live process (here: pid 1, which always exists) holds the claim for 5 minutes.
    with outbox._conn:
        outbox._conn.execute(
            "UPDATE alert_outbox SET claimed_by = ?, claimed_until = ?",
            (f"{__import__('socket').gethostname()}:1", "2024-09-15T06:05:00.000Z"),
        )
    assert outbox.deliver(routing, now=T0).sent == 0
    assert outbox.deliver(routing, now=T0 + timedelta(minutes=6)).sent == 1
    assert len(receiver.requests) == 1
