"""Alerts of a run reach real loopback recipients (the demo inbox: aiosmtpd and an HTTP
receiver checking the HMAC signature) exactly once; with the recipients down the run completes
and the alerts go out on the next run."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import monitor.run as run_module
from monitor.alerts.outbox import Outbox
from monitor.cli.report import format_summary
from monitor.config import MonitorConfig, load_config
from monitor.ops.demo_inbox import DemoInbox
from monitor.ops.demo_inbox import main as demo_inbox_main
from monitor.run import run_once
from tests.ports import free_port
from tests.run.run_fixtures import StandInEnsemble, StandInSource, region_polygon, two_region_config

SCARS = {"north": [(5, 15, 5, 20), (30, 40, 30, 36)], "south": [(20, 32, 50, 60)]}


def _local_mail() -> dict[str, Any]:
    """The alerts section's e-mail to duty@localhost through an SMTP server on a free port."""
    return {
        "smtp": {
            "host": "127.0.0.1",
            "port": free_port(),
            "starttls": False,
            "from_address": "monitor@localhost",
        },
        "email": ["duty@localhost"],
    }


@pytest.fixture
def config_path(write_config: Callable[..., Path], manifest: Path) -> Path:
    alerts: dict[str, Any] = {
        **_local_mail(),
        "webhooks": [
            {
                "name": "ops",
                "url": f"http://127.0.0.1:{free_port()}/alerts",
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
    assert second.delivery is not None
    assert second.changes.alerts_queued == 0 and second.delivery.sent == 0
    # the receiver saw each key once and no bad signature
    (_, server, _) = inbox._webhooks[0]
    assert (server.stored, server.duplicates, server.rejected) == (3, 0, 0)
    # each stored as the bytes signed: its signature verifies on the file (found in a
    # walkthrough: reformatted, it did not)
    from monitor.alerts.payload import encode_body

    for stored in (inbox_dir / "webhook").glob("*.json"):
        raw = stored.read_bytes()
        assert raw == encode_body(json.loads(raw))  # the sender's bytes, not a reformatting
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
    assert "6 pending" in format_summary(down)

    inbox_dir = tmp_path / "inbox"
    with DemoInbox(config_path, inbox_dir):
        up = run_once(config, date(2024, 9, 16), progress=False)
    posts, mails = _received(inbox_dir)
    assert up.changes.alerts_queued == 0  # the landslides are known: seen, not new
    assert up.delivery is not None and up.delivery.sent == 6
    assert up.outbox == {"pending": 0, "sent": 6, "dead": 0}
    assert len(posts) == 3 and len(mails) == 1


# What the command run by the demo inbox sends: one e-mail (its subject from argv) and one signed
# webhook POST whose idempotency key is always the same (its body from argv).
_SEND_ONE_OF_EACH = """
import hashlib, hmac, os, smtplib, sys, urllib.request
from email.message import EmailMessage
smtp_port, hook_url, word = int(sys.argv[1]), sys.argv[2], sys.argv[3]
mail = EmailMessage()
mail["From"], mail["To"], mail["Subject"] = "monitor@localhost", "duty@localhost", word
mail.set_content("sent by " + word)
with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
    smtp.send_message(mail)
body = ('{"idempotency_key": "same-key", "event": "landslide.new", "sent_by": "' + word
        + '"}').encode()
signature = hmac.new(os.environ["D1_LOOPBACK_SECRET"].encode(), body, hashlib.sha256)
request = urllib.request.Request(hook_url, data=body, method="POST", headers={
    "Content-Type": "application/json", "Idempotency-Key": "same-key",
    "X-Landslide-Signature-256": "sha256=" + signature.hexdigest()})
urllib.request.urlopen(request, timeout=10).close()
"""


def test_a_second_start_of_the_demo_inbox_keeps_the_files_of_the_first(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = load_config(config_path)
    smtp = config.alerts.smtp
    assert smtp is not None
    hook_url = str(config.alert_routing().webhooks["ops"].url)
    inbox_dir = tmp_path / "inbox"
    (inbox_dir / "mail").mkdir(parents=True)
    (inbox_dir / "mail" / "007.eml").write_bytes(b"Subject: left by an older demo\n\nkept\n")

    def start(word: str) -> str:
        command = [sys.executable, "-c", _SEND_ONE_OF_EACH, str(smtp.port)]
        argv = ["--config", str(config_path), "--dir", str(inbox_dir), "--", *command]
        assert demo_inbox_main([*argv, hook_url, word]) == 0
        return capsys.readouterr().out

    first = start("first")
    first_files = {p.name: p.read_bytes() for p in (inbox_dir / "mail").glob("*.eml")}
    second = start("second")

    mails = {p.name: p.read_bytes() for p in (inbox_dir / "mail").glob("*.eml")}
    assert sorted(mails) == ["007.eml", "008.eml", "009.eml"]
    assert sorted(first_files) == ["007.eml", "008.eml"]
    assert all(mails[name] == data for name, data in first_files.items())  # none overwritten
    assert b"Subject: first" in mails["008.eml"] and b"Subject: second" in mails["009.eml"]
    assert "1 e-mail(s)" in first and "1 e-mail(s)" in second
    # the webhook key of the first start is kept as first received; the second is a repeat
    posts = list((inbox_dir / "webhook").glob("*.json"))
    assert [p.name for p in posts] == ["same-key.json"]
    assert json.loads(posts[0].read_text())["sent_by"] == "first"
    assert "1 signed POST(s)" in first and "(0 repeated key(s)" in first
    assert "0 signed POST(s)" in second and "(1 repeated key(s), 0 bad signature(s))" in second


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_demo_inbox_takes_the_key_from_the_signed_body_not_the_header(
    config_path: Path, tmp_path: Path
) -> None:
    """docs/alerts.md tells a receiver to deduplicate on the signed body's idempotency_key: the
    inbox took the unsigned Idempotency-Key header, so a captured request replayed with another
    header was stored again, under a file name the header chose (even outside its folder)."""
    config = load_config(config_path)
    url = str(config.alert_routing().webhooks["ops"].url)
    body = b'{"idempotency_key":"3f6c.r1.e28abf505a5e","event":"landslide.new"}'
    signature = "sha256=" + hmac.new(b"loopback-secret", body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Landslide-Signature-256": signature}
    inbox_dir = tmp_path / "posts" / "inbox"
    with DemoInbox(config_path, inbox_dir) as inbox:
        assert _post(url, body, {**headers, "Idempotency-Key": "3f6c.r1.e28abf505a5e"}) == 200
        assert _post(url, body, {**headers, "Idempotency-Key": "another-key"}) == 200
        assert _post(url, body, {**headers, "Idempotency-Key": "../../escaped"}) == 200
        unsigned_key = b'{"event":"landslide.new"}'
        signed = "sha256=" + hmac.new(b"loopback-secret", unsigned_key, hashlib.sha256).hexdigest()
        assert _post(url, unsigned_key, {**headers, "X-Landslide-Signature-256": signed}) == 400
        (_, server, _) = inbox._webhooks[0]
        assert (server.stored, server.duplicates, server.rejected) == (1, 2, 0)
    posts = tmp_path / "posts"
    files = sorted(p.relative_to(posts).as_posix() for p in posts.rglob("*.json"))
    assert files == ["inbox/webhook/3f6c.r1.e28abf505a5e.json"]
    # the header it came with beside it, for a receiver's own check to be compared with
    stored = inbox_dir / "webhook" / "3f6c.r1.e28abf505a5e.sig"
    assert stored.read_text() == signature + "\n"


def test_a_command_the_demo_inbox_cannot_find_is_not_read_as_a_port_in_use(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a walkthrough: `-- landslide-monitor run ...` with the virtual environment not
    activated said "cannot start the loopback inbox ... free the port"."""
    argv = ["--config", str(config_path), "--dir", str(tmp_path / "inbox"), "--"]
    assert demo_inbox_main([*argv, str(tmp_path / "no-such-command"), "run"]) == 127
    err = capsys.readouterr().err
    assert f"cannot run {tmp_path / 'no-such-command'}: no such command here" in err
    assert "port" not in err and not (tmp_path / "inbox").exists()
    # an entry point whose interpreter is gone (a moved virtual environment): found, not run
    # (found in review: read as a port in use too)
    moved = tmp_path / "landslide-monitor"
    moved.write_text(f"#!{tmp_path / 'gone' / 'python'}\n")
    moved.chmod(0o755)
    assert demo_inbox_main([*argv, str(moved), "run"]) == 127
    err = capsys.readouterr().err
    assert f"demo_inbox: cannot run {moved}: " in err and "port" not in err


def test_a_webhook_names_the_quicklook_under_its_folder_and_its_url(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """The payload used to carry the monitor host's own path of the PNG: receivers get its
    path under quicklooks.dir and, with quicklooks.base_url, the URL it is served at."""
    hook = {
        "name": "ops",
        "url": f"http://127.0.0.1:{free_port()}/a",
        "secret_env": "D1_LOOPBACK_SECRET",
    }
    quicklooks = {"dir": "ql", "max_per_region": 1, "base_url": "https://maps.example.org/ql"}
    path = write_config(
        two_region_config(manifest, alerts={"webhooks": [hook]}, quicklooks=quicklooks)
    )
    config = load_config(path)
    with DemoInbox(path, tmp_path / "inbox"):
        run_once(config, date(2024, 9, 15), progress=False)
    posts, _ = _received(tmp_path / "inbox")
    shown = [p["quicklook"] for p in posts if p["quicklook"] is not None]
    assert len(posts) == 3 and len(shown) == 2  # the largest detection of each region
    for ref in shown:
        assert not Path(ref["filename"]).is_absolute()
        assert ref["filename"].startswith("2024-09-15/")
        assert ref["url"] == f"https://maps.example.org/ql/{ref['filename']}"
        assert (config.quicklooks.dir / ref["filename"]).is_file()


def test_an_e_mail_queued_before_the_data_moved_still_shows_its_quicklooks(
    write_config: Callable[..., Path], manifest: Path, tmp_path: Path
) -> None:
    """The data folder (inventory and quicklooks) moved to another disk while alerts waited for
    the mail server: the outbox kept the PNGs' old paths, and the digest went out without its
    pictures, although the review map found them under the configured quicklooks.dir."""
    alerts: dict[str, Any] = _local_mail()

    def config_in(folder: str, name: str) -> Path:
        return write_config(
            two_region_config(
                manifest,
                alerts=alerts,
                inventory={"path": f"{folder}/inventory.gpkg"},
                quicklooks={"dir": f"{folder}/ql", "max_per_region": 1},
            ),
            name=name,
        )

    summary = run_once(
        load_config(config_in("data", "old.yaml")), date(2024, 9, 15), progress=False
    )
    assert summary.delivery is not None and summary.delivery.pending == 3  # no mail server yet
    (tmp_path / "data").rename(tmp_path / "moved")
    config = load_config(config_in("moved", "new.yaml"))
    with DemoInbox(tmp_path / "new.yaml", tmp_path / "inbox"):
        report = Outbox(config.inventory.path).deliver(
            config.alert_routing(), ignore_retry_delay=True
        )
    assert (report.sent, report.pending) == (3, 0)
    _, mails = _received(tmp_path / "inbox")
    images = [
        part.get_content()
        for mail in mails
        for part in email.message_from_bytes(mail.read_bytes(), policy=email.policy.default).walk()
        if part.get_content_type() == "image/png"
    ]
    pngs = sorted((config.quicklooks.dir / "2024-09-15").rglob("*.png"))
    assert len(pngs) == 2  # the largest detection of each region
    assert sorted(images) == sorted(p.read_bytes() for p in pngs)


def test_a_port_in_use_is_named_with_the_field_that_sets_it(
    config_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make demo` with another program on the SMTP port failed with the bind error alone."""
    config = load_config(config_path)
    assert config.alerts.smtp is not None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", config.alerts.smtp.port))
        holder.listen()
        argv = ["--config", str(config_path), "--dir", str(tmp_path), "--", "true"]
        assert demo_inbox_main(argv) == 1
    message = capsys.readouterr().err
    assert "cannot start the loopback inbox" in message
    assert "alerts.smtp.port" in message and str(config_path) in message


def test_the_demo_inbox_refuses_a_configuration_with_real_recipients(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a walkthrough: a configuration with a real SMTP host and webhook ran under the
    inbox silently, starting no receiver, so the command it wrapped would have sent real alerts
    while the user thought they were trying them. It is refused before the command runs."""
    alerts: dict[str, Any] = {
        **_local_mail(),
        "webhooks": [
            {"name": "near", "url": f"http://127.0.0.1:{free_port()}/a", "secret_env": "D1_X"},
            {"name": "ops", "url": "https://ops.example.org/hooks", "secret_env": "D1_Y"},
        ],
    }
    alerts["smtp"]["host"] = "smtp.example.org"
    alerts["smtp"]["starttls"] = True
    path = write_config(two_region_config(manifest, alerts=alerts))
    ran = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(ran)!r}, 'w')"]
    argv = ["--config", str(path), "--dir", str(tmp_path / "inbox"), "--", *command]
    assert demo_inbox_main(argv) == 2
    err = capsys.readouterr().err
    assert "alerts.smtp.host smtp.example.org; webhook ops (https://ops.example.org/hooks)" in err
    assert "webhook near" not in err and "point them at 127.0.0.1" in err
    assert not ran.exists()  # the command never ran
    # a configuration without any recipient runs the command, saying nothing will arrive
    quiet = write_config(two_region_config(manifest, alerts={}), name="quiet.yaml")
    argv = ["--config", str(quiet), "--dir", str(tmp_path / "inbox"), "--", *command]
    assert demo_inbox_main(argv) == 0 and ran.exists()
    assert "names no alert recipient" in capsys.readouterr().err
    # a command killed by a signal: 128 + its number, said (found in a crash walkthrough: -9
    # was exit status 247, without a word)
    killed = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    argv = ["--config", str(quiet), "--dir", str(tmp_path / "inbox"), "--", *killed]
    assert demo_inbox_main(argv) == 137
    assert "demo_inbox: the command was killed by SIGKILL" in capsys.readouterr().err


def test_the_demo_inbox_takes_a_login_and_a_webhook_given_by_url_env(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in a walkthrough of "Trying your alerts" with docs/alerts.md's own example: its
    webhook given by url_env was refused as a recipient elsewhere (with the variable set to a
    loopback URL), and its SMTP login failed every alert ("SMTP AUTH extension not
    supported"). The inbox now accepts any login and receives where url_env points."""
    alerts: dict[str, Any] = _local_mail()
    alerts["smtp"] |= {"username_env": "D1_SMTP_USER", "password_env": "D1_SMTP_PASSWORD"}
    alerts["webhooks"] = [
        {"name": "chat", "url_env": "D1_CHAT_URL", "secret_env": "D1_LOOPBACK_SECRET"}
    ]
    monkeypatch.setenv("D1_CHAT_URL", f"http://127.0.0.1:{free_port()}/chat")
    monkeypatch.delenv("D1_SMTP_USER", raising=False)
    path = write_config(two_region_config(manifest, alerts=alerts))
    inbox_dir = tmp_path / "inbox"
    inbox = DemoInbox(path, inbox_dir)
    assert inbox.elsewhere() == [] and inbox.unservable() == []
    with inbox:
        assert inbox.env["D1_SMTP_USER"] == "demo"  # unset: given one, as a secret is
        for variable, value in inbox.env.items():
            monkeypatch.setenv(variable, value)
        first = run_once(load_config(path), date(2024, 9, 15), progress=False)
    posts, mails = _received(inbox_dir)
    assert first.outbox == {"pending": 0, "sent": 6, "dead": 0}
    assert len(posts) == 3 and len(mails) == 1


def test_the_demo_inbox_names_what_it_cannot_serve(
    write_config: Callable[..., Path],
    manifest: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """STARTTLS, an https webhook and an unset url_env failed one alert at a time (or refused
    the file as a recipient elsewhere); each is named with the field to change, and the command
    never runs. The value of a url_env (it may carry a token) is never shown."""
    alerts: dict[str, Any] = _local_mail()
    alerts["smtp"]["starttls"] = True
    alerts["webhooks"] = [
        {"name": "chat", "url_env": "D1_CHAT_URL", "secret_env": "D1_X"},
        {"name": "tls", "url": "https://127.0.0.1:8443/h", "secret_env": "D1_X"},
        {"name": "away", "url_env": "D1_AWAY_URL", "secret_env": "D1_X"},
        {"name": "near", "url_env": "D1_NEAR_URL", "secret_env": "D1_X"},
    ]
    monkeypatch.delenv("D1_CHAT_URL", raising=False)
    monkeypatch.setenv("D1_AWAY_URL", "https://hooks.example.org/T0KEN")
    monkeypatch.setenv("D1_NEAR_URL", "https://user:pw@127.0.0.1:8443/hooks/T0KEN")
    path = write_config(two_region_config(manifest, alerts=alerts))
    ran = tmp_path / "ran"
    command = [sys.executable, "-c", f"open({str(ran)!r}, 'w')"]
    argv = ["--config", str(path), "--dir", str(tmp_path / "inbox"), "--", *command]
    assert demo_inbox_main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not on this machine: webhook away (url_env D1_AWAY_URL)." in err
    assert (
        "cannot serve: alerts.smtp.starttls is true, and the inbox offers no STARTTLS: set it to "
        "false (a login without it is allowed to a server on this machine); webhook chat: "
        "url_env D1_CHAT_URL holds no URL here: set it to a 127.0.0.1 URL "
        "(http://127.0.0.1:<free port>/<path>); webhook tls (https://127.0.0.1:8443/h): the "
        "inbox serves http: use http://127.0.0.1:8443/h; webhook near (url_env D1_NEAR_URL): "
        "the inbox serves http: set D1_NEAR_URL to an http:// URL." in err
    )
    assert "T0KEN" not in err and "pw" not in err and not ran.exists()
