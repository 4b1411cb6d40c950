"""`landslide-monitor alerts deliver|list|retry` against the loopback receivers: every pending
alert is delivered exactly once, the ones waiting out their retry delay only with --now; list
shows what is pending, dead and sent; retry re-queues dead alerts; the run lock keeps the
commands that write the outbox apart from a run."""

from __future__ import annotations

import email
import email.policy
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest
import yaml

from monitor.alerts.outbox import Outbox
from monitor.cli import main
from monitor.config import load_config
from monitor.store.inventory import Inventory
from monitor.store.lock import EXIT_LOCKED, RunLock
from tests.alerts.loopback_helpers import (
    Mailbox,
    Receiver,
    alert_settings,
    apply_run,
    candidates,
    write_monitor_config,
)

DAY = date(2024, 9, 15)


@pytest.fixture
def config_path(
    tmp_path: Path, receiver: Receiver, mailbox: Mailbox, tls_files: tuple[Path, Path]
) -> Path:
    """A configuration whose alerts go to the (not yet started) loopback receivers."""
    return write_monitor_config(tmp_path, alert_settings(receiver, mailbox, tls_files))


@pytest.fixture
def inventory(config_path: Path) -> Iterator[Inventory]:
    inv = Inventory(load_config(config_path).inventory.path)
    yield inv
    inv.close()


def _queue(inventory: Inventory, config_path: Path, day: date, squares: list) -> int:
    """One run's landslides, queued as the run would (one alert per landslide and channel)."""
    routing = load_config(config_path).alert_routing()
    return apply_run(inventory, day, candidates(squares), routing).alerts_queued


def _alerts(config_path: Path, *args: str) -> int:
    action, *rest = args
    return main(["alerts", action, "--config", str(config_path), *rest])


def _mail_keys(mailbox: Mailbox) -> list[str]:
    keys = []
    for raw in mailbox.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        keys += [k.strip() for k in message["X-Landslide-Idempotency-Keys"].split(",")]
    return keys


def test_deliver_sends_each_pending_alert_once_and_waiting_ones_only_with_now(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 2 landslides x (e-mail, webhook) = 4 alerts, queued in the past: due now
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4

    # both receivers down: the e-mail digest (2 alerts) and the first webhook fail, and the
    # second webhook is left untried (its channel is down); exit 1
    assert _alerts(config_path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 0, failed and retrying 3, dead 0, pending 4" in out
    assert "3 alert(s) wait out their retry delay" in out
    assert "`alerts deliver --now` sends them at once" in out
    assert "1 due alert(s) were not tried" in out

    # a second run queues 2 more; the receivers come up
    assert _queue(inventory, config_path, date(2024, 9, 20), [(2000, 0, 90, 90)]) == 2
    receiver.start()
    mailbox.start(tls_files)

    # without --now: the 3 due alerts go out, the 3 waiting out their 60 s delay do not
    assert _alerts(config_path, "deliver") == 0
    out = capsys.readouterr().out
    assert "alerts sent 3, failed and retrying 0, dead 0, pending 3" in out
    assert "3 alert(s) wait out their retry delay" in out
    assert (len(receiver.requests), len(mailbox.messages)) == (2, 1)
    assert _alerts(config_path, "deliver") == 0  # still waiting: nothing is sent
    assert "alerts sent 0, failed and retrying 0, dead 0, pending 3" in capsys.readouterr().out
    assert (len(receiver.requests), len(mailbox.messages)) == (2, 1)

    # --now sends the waiting ones; after that, nothing is ever sent again
    assert _alerts(config_path, "deliver", "--now") == 0
    assert "alerts sent 3, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert _alerts(config_path, "deliver", "--now") == 0
    assert "alerts sent 0, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out

    box = Outbox(inventory.path)
    assert box.counts() == {"pending": 0, "sent": 6, "dead": 0}
    rows = box.rows()
    assert [r["attempts"] for r in rows] == [2, 2, 2, 1, 1, 1]  # ids 1-3 failed once first
    hooks = sorted(r["idempotency_key"] for r in rows if r["channel"] == "webhook:ops")
    mails = sorted(r["idempotency_key"] for r in rows if r["channel"].startswith("email:"))
    # exactly once: 3 POSTs for 3 keys, 2 digests carrying the 3 e-mail keys once each
    assert len(receiver.requests) == 3
    assert sorted(h["Idempotency-Key"] for h, _ in receiver.requests) == hooks
    assert len(mailbox.messages) == 2 and sorted(_mail_keys(mailbox)) == mails


def test_deliver_says_alerts_that_failed_early_wait_not_that_they_were_untried(
    tmp_path: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found on a receiver-side walk: `deliver` counted as "not tried: their channel failed"
    every pending alert due when it printed, so an alert that failed early in the delivery
    and whose short retry delay was over by its end was said untried, and the line saying
    which alerts wait out their delay was missing."""
    alerts = alert_settings(receiver, mailbox, tls_files)
    alerts["retry"] = {"base_delay_s": 0.2, "factor": 2, "max_delay_s": 30, "max_attempts": 5}
    path = write_monitor_config(tmp_path, alerts)
    with Inventory(load_config(path).inventory.path) as inventory:
        assert _queue(inventory, path, DAY, [(0, 0, 100, 100)]) == 2  # e-mail, then webhook
    receiver.delay_s = 1.0  # answers after the e-mail's 0.2 s delay is over
    receiver.start()  # the mail server is down: its connection is refused at once
    assert _alerts(path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 1, failed and retrying 1, dead 0, pending 1" in out
    assert "1 alert(s) wait out their retry delay, the first until " in out
    assert "not tried" not in out


def test_deliver_says_which_alerts_wait_for_a_secret_variable(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The webhook's secret variable is not set: its alerts are not tried and wait for it (the
    e-mail goes out); deliver says so, exits 1, and sends them once the variable is set. Found
    in a walkthrough: they were given a retry delay, so a plain deliver within it exited 0,
    saying `--now` would send them (the variable still unset), and one after the variable was
    set sent nothing until the delay was over."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4
    receiver.start()
    mailbox.start(tls_files)
    monkeypatch.delenv("LM_TEST_WEBHOOK_SECRET")
    assert _alerts(config_path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 2, failed and retrying 0, dead 0, waiting for their channel's " in out
    assert "settings 2, pending 2" in out
    assert (
        "environment variable LM_TEST_WEBHOOK_SECRET is not set; set it in the environment the "
        "monitor runs in (the service's environment file, or the container's secret: "
        "docs/operations.md, Secrets) (kept pending)"
    ) in " ".join(out.split())
    assert (
        "2 alert(s) wait for the environment variable named above: every delivery tries them, "
        "the first with it set sends them"
    ) in out
    assert "--now" not in out and "retry delay" not in out
    assert _alerts(config_path, "deliver") == 1  # again at once: the variable is still unset
    assert "waiting for their channel's settings 2" in capsys.readouterr().out
    # `alerts list` shows the error whole: cut at 200 characters, it lost where to set the
    # variable (and an SMTP login error the variables' names; found by a new user)
    assert _alerts(config_path, "list") == 0
    listed = capsys.readouterr().out
    assert "docs/operations.md, Secrets)" in listed
    monkeypatch.setenv("LM_TEST_WEBHOOK_SECRET", "s3cret")
    assert _alerts(config_path, "deliver") == 0  # no --now: nothing made them wait
    assert "alerts sent 2, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert len(receiver.requests) == 2


def test_a_receiver_refusing_every_alert_is_reported_once_with_the_count(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found by a new user: a webhook receiver that refused every POST (401, a secret set
    differently on each side) printed the same error line once per alert, 12 lines."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4
    receiver.answers = [401, 401]
    receiver.start()
    mailbox.start(tls_files)
    assert _alerts(config_path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 2, failed and retrying 0, dead 2, pending 0" in out
    assert out.count("alert delivery: webhook:ops") == 1
    assert "webhook 'ops' answered HTTP 401" in out and "(2 deliveries)" in out


def test_deliver_stopped_by_sigterm_waits_for_the_post_in_flight_and_says_what_stays_queued(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in a crash walkthrough: SIGTERM (systemd's, Kubernetes') killed `alerts deliver`
    with a webhook POST in flight, printing nothing; the receiver had taken the alert, which
    the next delivery sent again under the same key. It now stops as `run` does: the POST's
    answer is waited for and marked, and the stop says what was sent and what stays queued."""
    import os
    import signal
    import threading
    import time

    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4
    receiver.delay_s = 1.0
    receiver.start()
    mailbox.start(tls_files)

    def stop_during_the_post() -> None:
        # once the receiver holds a POST (it answers a second later): the command is inside
        # its delivery then, however long loading its configuration took
        deadline = time.monotonic() + 60
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        if receiver.requests:  # else the delivery never posted: the status check fails
            os.kill(os.getpid(), signal.SIGTERM)

    stopper = threading.Thread(target=stop_during_the_post)
    stopper.start()
    try:
        assert _alerts(config_path, "deliver") == 143
    finally:
        stopper.join()
    err = capsys.readouterr().err
    counts = Outbox(inventory.path).counts()
    assert counts["sent"] >= 1 and counts["sent"] + counts["pending"] == 4
    assert (
        f"landslide-monitor alerts: interrupted by SIGTERM; {counts['sent']} alert(s) sent before "
        f"the stop; {counts['pending']} stay queued in the outbox, which the next delivery sends"
    ) in err
    assert _alerts(config_path, "deliver") == 0
    keys = [json.loads(body)["idempotency_key"] for _, body in receiver.requests]
    assert len(keys) == len(set(keys)) == 2  # the POST in flight at the stop was not repeated
    assert Outbox(inventory.path).counts()["sent"] == 4


def test_inventory_list_says_whether_the_alerts_went(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in a crash walkthrough: `inventory list` said "new on D" and "N alerted" of
    alerts still queued (runs with --no-alerts) or withdrawn; it reads the outbox too."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4
    argv = ["inventory", "list", "--config", str(config_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.endswith("new on 2024-09-15 (queued)") for line in out[1:3]] == [True, True]
    assert "Alerts: 2 alerted (2 queued)" in out[-1]
    receiver.start()
    mailbox.start(tls_files)
    assert _alerts(config_path, "deliver") == 0
    capsys.readouterr()
    assert main(argv) == 0
    assert "Alerts: 2 alerted (2 sent)" in capsys.readouterr().out.splitlines()[-1]


def test_a_relative_ca_file_is_read_from_the_configuration_s_folder(
    tmp_path: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``ca_file: tls/ca.pem`` was opened from the working directory, unlike every other path
    of the file, and each delivery failed with "FileNotFoundError: [Errno 2] No such file or
    directory", naming neither the file nor the field, until the alerts were dead."""
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_bytes(tls_files[0].read_bytes())
    alerts = alert_settings(receiver, mailbox, tls_files)
    alerts["smtp"]["ca_file"] = "tls/ca.pem"
    path = write_monitor_config(tmp_path, alerts)
    smtp = load_config(path).alerts.smtp
    assert smtp is not None and smtp.ca_file == tmp_path / "tls" / "ca.pem"
    with Inventory(load_config(path).inventory.path) as inventory:
        assert _queue(inventory, path, DAY, [(0, 0, 100, 100)]) == 2
    receiver.start()
    mailbox.start(tls_files)
    assert _alerts(path, "deliver") == 0
    assert "alerts sent 2, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert mailbox.sessions[0]["tls"] is True

    # one that does not exist is refused with the configuration, naming field and file
    alerts["smtp"]["ca_file"] = "tls/other.pem"
    path = write_monitor_config(tmp_path, alerts)
    assert _alerts(path, "deliver") == 2
    err = capsys.readouterr().err
    assert f"alerts.smtp.ca_file: {tmp_path / 'tls' / 'other.pem'} does not exist" in err


def test_a_webhook_behind_an_internal_ca_is_reached_with_its_ca_file(
    tmp_path: Path,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A receiver whose certificate an internal CA signed could only be reached through the
    undocumented REQUESTS_CA_BUNDLE (which changes every HTTPS client of the process): its
    alerts failed certificate verification max_attempts times, about a day, then were dead.
    ``ca_file`` trusts that CA for this webhook alone, read from the configuration's folder
    and checked at load like the SMTP server's."""
    receiver.tls_files = tls_files
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.pem").write_bytes(tls_files[0].read_bytes())
    alerts = alert_settings(receiver, mailbox, tls_files)
    alerts["email"] = []
    path = write_monitor_config(tmp_path, alerts)
    with Inventory(load_config(path).inventory.path) as inventory:
        assert _queue(inventory, path, DAY, [(0, 0, 100, 100)]) == 1
    receiver.start()
    # the system's store does not know the self-signed CA: refused, and retried
    assert _alerts(path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 0, failed and retrying 1, dead 0, pending 1" in out
    assert "CERTIFICATE_VERIFY_FAILED" in out
    assert receiver.requests == []

    alerts["webhooks"][0]["ca_file"] = "tls/ca.pem"
    path = write_monitor_config(tmp_path, alerts)
    hook = load_config(path).alerts.webhooks[0]
    assert hook.ca_file == tmp_path / "tls" / "ca.pem"
    assert _alerts(path, "deliver", "--now") == 0
    assert "alerts sent 1, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert len(receiver.requests) == 1

    # one that does not exist is refused with the configuration, naming field and file, and
    # so is a region's own webhook's
    alerts["webhooks"][0]["ca_file"] = "tls/other.pem"
    path = write_monitor_config(tmp_path, alerts)
    assert _alerts(path, "deliver") == 2
    err = capsys.readouterr().err
    assert f"alerts.webhooks[0].ca_file: {tmp_path / 'tls' / 'other.pem'} does not exist" in err
    alerts["webhooks"][0]["ca_file"] = "tls/ca.pem"
    path = write_monitor_config(tmp_path, alerts)
    config = yaml.safe_load(path.read_text())
    own = {"name": "roads", "url": receiver.url, "secret_env": "X", "ca_file": "no.pem"}
    config["regions"][0]["alerts"] = {"webhooks": [own]}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert _alerts(path, "deliver") == 2
    assert "regions[0].alerts.webhooks[0].ca_file: " in capsys.readouterr().err
    config["regions"][0]["alerts"]["webhooks"][0]["ca_file"] = "tls/ca.pem"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    routing = load_config(path).alert_routing()
    assert routing.webhooks["roads"].ca_file == tmp_path / "tls" / "ca.pem"


def test_a_recipient_removed_from_the_configuration_is_not_sent_its_alerts(
    tmp_path: Path,
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An address taken out of alerts.email still got the alerts queued for it (a colleague
    who left, a typo corrected), and a removed webhook was retried max_attempts times."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100)]) == 2
    receiver.start()
    mailbox.start(tls_files)
    alerts = alert_settings(receiver, mailbox, tls_files)
    alerts["email"] = ["duty@example.org"]
    alerts["webhooks"][0]["name"] = "roads"
    write_monitor_config(tmp_path, alerts)
    assert _alerts(config_path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 0, failed and retrying 0, dead 2, pending 0" in out
    errors = {r["channel"]: r["last_error"] for r in Outbox(inventory.path).rows("dead")}
    assert errors["email:geohazards@example.org"].startswith(
        "channel email:geohazards@example.org: recipient geohazards@example.org is no longer "
        "in the configuration's alerts"
    )
    assert "webhook 'ops' is no longer" in errors["webhook:ops"]
    assert mailbox.messages == [] and receiver.requests == []


def test_e_mail_alerts_go_dead_when_the_smtp_section_is_removed(
    tmp_path: Path,
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in review: with alerts.smtp removed (and so every recipient), the queued e-mail
    alerts were retried max_attempts times for 'no smtp server', not dead as removed."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100)]) == 2
    receiver.start()
    alerts = alert_settings(receiver, mailbox, tls_files)
    del alerts["smtp"]
    alerts["email"] = []
    write_monitor_config(tmp_path, alerts)
    assert _alerts(config_path, "deliver") == 1
    assert "alerts sent 1, failed and retrying 0, dead 1, pending 0" in capsys.readouterr().out
    (dead,) = Outbox(inventory.path).rows("dead")
    assert dead["last_error"].endswith(
        "is no longer in the configuration's alerts, so its alerts are not sent; add it back "
        "and `landslide-monitor alerts retry --dead` re-queues them"
    )
    assert len(receiver.requests) == 1


def test_list_and_retry_of_dead_alerts(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    squares = [(0, 0, 100, 100), (600, 0, 50, 80), (2000, 0, 90, 90)]
    assert _queue(inventory, config_path, DAY, squares) == 6
    receiver.start()
    receiver.answers = [400]  # the first POST is refused for good, the other two accepted
    mailbox.start(tls_files)
    mailbox.refused.add("geohazards@example.org")  # 550: the digest's 3 alerts are dead
    assert _alerts(config_path, "deliver") == 1
    out = capsys.readouterr().out
    assert "alerts sent 2, failed and retrying 0, dead 4, pending 0" in out
    assert "4 dead alert(s) in the outbox" in out

    assert _alerts(config_path, "list") == 0
    out = capsys.readouterr().out
    assert ": 0 pending (0 due now), 4 dead, 2 sent." in out
    assert "Pending: none" in out
    dead_lines = _table_lines(out, "Dead:")
    assert len(dead_lines) == 4
    assert sum("webhook:ops" in line and "HTTP 400" in line for line in dead_lines) == 1
    assert sum("email:geohazards@example.org" in line and "550" in line for line in dead_lines) == 3
    assert len(_table_lines(out, "Sent:")) == 2
    # found in a walkthrough of 147 daily runs: 764 pending alerts printed 772 lines
    assert _alerts(config_path, "list", "--limit", "3") == 0
    out = capsys.readouterr().out
    limited = _table_lines(out, "Dead:")
    assert len(limited) == 4 and limited[-1].strip() == (
        "... and 1 more (--limit 0 shows all, --json lists all)"
    )
    assert [line.split()[0] for line in limited[:3]] == [line.split()[0] for line in dead_lines[:3]]
    assert _alerts(config_path, "list", "--limit", "0") == 0
    assert len(_table_lines(capsys.readouterr().out, "Dead:")) == 4
    assert _alerts(config_path, "list", "--limit", "-1") == 2
    assert "--limit -1: give a number of alerts" in capsys.readouterr().err
    assert _alerts(config_path, "list", "--sent", "1") == 0
    assert len(_table_lines(capsys.readouterr().out, "Sent, the 1 most recent:")) == 1
    assert _alerts(config_path, "list", "--since", "2999-01-01") == 0
    assert "Sent since 2999-01-01: none" in capsys.readouterr().out

    assert _alerts(config_path, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["counts"] == {"pending": 0, "sent": 2, "dead": 4}
    dead_hook = next(r["id"] for r in listed["dead"] if r["channel"] == "webhook:ops")
    sent_id = listed["sent"][0]["id"]
    assert [len(listed[k]) for k in ("pending", "dead", "sent")] == [0, 4, 2]
    # only a pending alert has a next attempt: a dead one's looked scheduled
    assert {r["next_attempt_at"] for r in listed["dead"] + listed["sent"]} == {None}

    # bad ids are named and change nothing (exit 2)
    assert _alerts(config_path, "retry", "999", str(dead_hook)) == 2
    assert "no alert with id 999 in the outbox of" in capsys.readouterr().err
    assert _alerts(config_path, "retry", str(sent_id)) == 2
    assert f"alert {sent_id} is sent" in capsys.readouterr().err
    # an unknown id and a sent one: both named (found by a new user: only the unknown was)
    assert _alerts(config_path, "retry", str(sent_id), "999") == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no alert with id 999 in the outbox of" in err
    assert f"only dead alerts are re-queued, and alert {sent_id} is sent" in err
    assert err.rstrip().endswith("Nothing was re-queued.")
    assert _alerts(config_path, "retry") == 2
    assert "or --dead for all of them" in capsys.readouterr().err
    assert Outbox(inventory.path).counts() == {"pending": 0, "sent": 2, "dead": 4}

    assert _alerts(config_path, "retry", str(dead_hook)) == 0
    assert "re-queued 1 dead alert(s)" in capsys.readouterr().out
    assert _alerts(config_path, "list") == 0
    out = capsys.readouterr().out
    assert ": 1 pending (1 due now), 3 dead, 2 sent." in out
    (requeued,) = _table_lines(out, "Pending:")
    # found on a receiver-side walk: it showed 0 attempts beside the error it had died of, as
    # if a new attempt had met it; that error is kept, saying it was re-queued since
    cells = requeued.split()  # id, event, channel, landslide (2), attempts, next attempt (2)
    assert cells[:3] == [str(dead_hook), "new", "webhook:ops"] and cells[5] == "0"
    error = " ".join(cells[8:])
    assert error.startswith(f"re-queued at {cells[6]} {cells[7]} UTC; it was dead: ")
    assert error.endswith("webhook 'ops' answered HTTP 400: '{}'")
    mailbox.refused.clear()
    assert _alerts(config_path, "retry", "--dead") == 0
    assert "re-queued 3 dead alert(s) (every dead alert)" in capsys.readouterr().out

    assert _alerts(config_path, "deliver") == 0
    assert "alerts sent 4, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert Outbox(inventory.path).counts() == {"pending": 0, "sent": 6, "dead": 0}
    assert len(receiver.requests) == 4 and len(receiver.processed) == 3
    assert len(mailbox.messages) == 1 and len(_mail_keys(mailbox)) == 3


def test_a_landslide_dismissed_before_delivery_is_never_sent(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    mailbox: Mailbox,
    tls_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The mail server was down this morning; meanwhile a reviewer dismissed a false alarm.
    Its alerts are withdrawn (dead, saying why), and `alerts retry --dead` cannot resend them
    while it stays dismissed. One dismissed after its alerts went out is followed by a
    landslide.dismissed to both channels."""
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100), (600, 0, 50, 80)]) == 4
    fids = sorted(inventory.landslides()["fid"].tolist())
    dismissed, kept = fids
    assert main(["inventory", "dismiss", "--config", str(config_path), str(dismissed)]) == 0
    out = capsys.readouterr().out
    assert f"landslide {dismissed}: candidate -> dismissed" in out
    assert "2 alert(s) of it still waiting in the outbox withdrawn" in out

    receiver.start()
    mailbox.start(tls_files)
    assert _alerts(config_path, "deliver") == 0
    out = capsys.readouterr().out
    assert "alerts sent 2, failed and retrying 0, dead 0, pending 0" in out
    assert "2 withdrawn alert(s) in the outbox: a review decision took them back" in out
    assert "dead alert(s) in the outbox" not in out  # withdrawn is not failed
    bodies = [json.loads(body) for _, body in receiver.requests]
    assert [b["landslide"]["inventory_fid"] for b in bodies] == [kept]
    assert len(mailbox.messages) == 1 and len(_mail_keys(mailbox)) == 1

    assert _alerts(config_path, "list") == 0
    dead_lines = _table_lines(capsys.readouterr().out, "Dead:")
    assert len(dead_lines) == 2
    assert all(f"withdrawn: landslide {dismissed} was dismissed" in line for line in dead_lines)
    withdrawn = [int(line.split()[0]) for line in dead_lines]
    # a rail operator's walk: `retry --dead` said it re-queued them, and the next open withdrew
    # them again, worded otherwise ("its landslide was dismissed"); they are left dead, said so
    assert _alerts(config_path, "retry", "--dead") == 0
    out = capsys.readouterr().out
    assert "re-queued 0 dead alert(s) (every dead alert)" in out
    shown = ", ".join(map(str, withdrawn))
    assert (  # alert ids and the landslide's both named (a review read one for the other)
        f"left dead: 2 alert(s) of dismissed landslides (alert {shown} of landslide "
        f"{dismissed}); `landslide-monitor inventory confirm LANDSLIDE` puts back those "
        "withdrawn while they waited, and `alerts retry` then re-queues the others"
    ) in out
    assert _alerts(config_path, "retry", str(withdrawn[0])) == 2
    assert (
        f"alert {withdrawn[0]} (landslide {dismissed}) is of a dismissed landslide, whose alerts "
        "are not sent: `landslide-monitor inventory confirm LANDSLIDE` first. Nothing was "
        "re-queued."
    ) in capsys.readouterr().err
    assert _alerts(config_path, "deliver") == 0
    assert "alerts sent 0, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    assert len(receiver.requests) == 1 and len(mailbox.messages) == 1
    # confirmed again, they go back to pending, and out with the next delivery (docs/alerts.md)
    assert main(["inventory", "confirm", "--config", str(config_path), str(dismissed)]) == 0
    assert (
        "2 alert(s) of it that the dismissal withdrew before they went are pending again"
    ) in capsys.readouterr().out
    assert _alerts(config_path, "retry", "--dead") == 0
    assert "re-queued 0 dead alert(s)" in capsys.readouterr().out
    assert _alerts(config_path, "deliver") == 0
    assert "alerts sent 2, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    # the other one, alerted to both channels this morning, turns out a false alarm: both are
    # told, the webhook in a signed landslide.dismissed naming the alert it takes back
    told = json.loads(receiver.requests[0][1])
    assert main(["inventory", "dismiss", "--config", str(config_path), str(kept)]) == 0
    assert (
        "2 landslide.dismissed alert(s) queued for the channels that were sent an alert of it; "
        "the next run or `alerts deliver` sends them"
    ) in capsys.readouterr().out
    assert _alerts(config_path, "deliver") == 0
    assert "alerts sent 2, failed and retrying 0, dead 0, pending 0" in capsys.readouterr().out
    headers, raw = receiver.requests[-1]
    notice = json.loads(raw)
    assert headers["X-Landslide-Event"] == notice["event"] == "landslide.dismissed"
    assert notice["withdraws"] == [told["idempotency_key"]]
    assert notice["landslide"]["id"] == told["landslide"]["id"]
    mail = email.message_from_bytes(mailbox.messages[-1], policy=email.policy.default)
    assert "1 dismissed landslide in" in str(mail["Subject"])


def test_alerts_dead_of_an_error_and_then_dismissed_are_withdrawn_and_no_failure(
    config_path: Path,
    inventory: Inventory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Found in review: an alert dead of a refusal (HTTP 401) whose landslide a reviewer then
    dismissed stayed a plain dead alert, which `alerts retry` now leaves dead: `status --check
    --max-dead 0` failed for good. Dismissal marks it withdrawn, keeping the error it died of."""
    from monitor.ops.status import CheckLimits, check_status

    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100)]) == 2
    (fid,) = inventory.landslides()["fid"].tolist()
    with Outbox(inventory.path) as box:
        ids = [row["id"] for row in box.rows("pending")]
    with closing(sqlite3.connect(inventory.path)) as conn, conn:  # refused for good
        conn.execute("UPDATE alert_outbox SET status = 'dead', last_error = 'HTTP 401'")
    config = load_config(config_path)
    limits = CheckLimits(max_age_h=1e6, max_dead=0)
    assert [f.limit for f in check_status(config, limits)] == ["--max-dead"]
    assert main(["inventory", "dismiss", "--config", str(config_path), str(fid)]) == 0
    assert "withdrawn" not in capsys.readouterr().out  # none was waiting
    assert check_status(config, limits) == []
    with Outbox(inventory.path) as box:
        errors = [row["last_error"] for row in box.rows("dead")]
    assert errors == [f"withdrawn: landslide {fid} was dismissed; it was dead: HTTP 401"] * 2
    assert _alerts(config_path, "retry", "--dead") == 0
    assert "re-queued 0 dead alert(s)" in capsys.readouterr().out
    assert main(["inventory", "confirm", "--config", str(config_path), str(fid)]) == 0
    assert _alerts(config_path, "retry", *map(str, ids)) == 0
    assert "re-queued 2 dead alert(s)" in capsys.readouterr().out


def test_deliver_and_retry_wait_for_the_run_lock_and_list_does_not(
    config_path: Path,
    inventory: Inventory,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _queue(inventory, config_path, DAY, [(0, 0, 100, 100)]) == 2
    receiver.start()
    with RunLock(inventory.path):  # a run is working on this inventory
        assert _alerts(config_path, "deliver", "--now") == EXIT_LOCKED
        assert _alerts(config_path, "retry", "--dead") == EXIT_LOCKED
        assert "another run is already working on inventory" in capsys.readouterr().err
        assert _alerts(config_path, "list") == 0
        assert ": 2 pending (2 due now), 0 dead, 0 sent." in capsys.readouterr().out
    assert receiver.requests == []
    assert Outbox(inventory.path).counts() == {"pending": 2, "sent": 0, "dead": 0}


def test_without_an_inventory_or_with_bad_arguments_the_commands_exit_2(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = load_config(config_path).inventory.path
    for action in (["deliver"], ["list"], ["retry", "--dead"]):
        assert _alerts(config_path, *action) == 2
        assert f"inventory {inventory} does not exist: no run has written it yet" in (
            capsys.readouterr().err
        )
    assert not inventory.exists()  # none of them created it
    assert _alerts(config_path, "retry", "--dead", "3") == 2
    assert "give the ids of the dead alerts to re-queue, or --dead" in capsys.readouterr().err
    assert _alerts(config_path, "list", "--sent", "-1") == 2
    assert "--sent -1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse: not a number
        _alerts(config_path, "retry", "seven")
    assert usage.value.code == 2 and "invalid int value: 'seven'" in capsys.readouterr().err


def test_list_opens_the_inventory_read_only(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor import _geopackage as gpkg

    path = load_config(config_path).inventory.path
    Inventory(path).close()
    with gpkg.connect(path) as conn:  # an inventory from before the outbox table
        conn.execute("DROP TABLE alert_outbox")
    before = path.read_bytes()
    assert _alerts(config_path, "list", "--json") == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"pending": 0, "sent": 0, "dead": 0}
    assert path.read_bytes() == before  # not even the outbox table was added


@pytest.mark.parametrize("content", ["empty", "another GeoPackage"])
def test_list_names_a_file_that_holds_no_inventory(
    config_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    """Found by an ops walk: `alerts list` on an empty file or another tool's GeoPackage at
    inventory.path listed an empty outbox (exit 0), while docs/operations.md has the read-only
    commands name such a file (exit 2), as `review` and `inventory export` do."""
    from monitor import _geopackage as gpkg

    path = load_config(config_path).inventory.path
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "empty":
        path.write_bytes(b"")
    else:
        gpkg.connect(path).close()
    before = path.read_bytes()
    assert _alerts(config_path, "list") == 2
    err = capsys.readouterr().err
    if content == "empty":  # refused by every command (a crash walkthrough): below
        assert f"inventory {path} is empty (0 bytes): restore it from a backup" in err
    else:
        assert f"inventory {path} holds no 'landslides' table: it is empty or not this" in err
    assert path.read_bytes() == before


def test_an_inventory_of_0_bytes_is_refused_by_the_commands_that_write_it(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found in a crash walkthrough: an inventory truncated to 0 bytes was taken for a new one:
    `alerts deliver` wrote a new schema into it (exit 0, and `status` then read a healthy empty
    inventory), and a run started afresh, its landslides queued again under new uids and keys
    that no receiver could deduplicate."""
    path = load_config(config_path).inventory.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    assert _alerts(config_path, "deliver") == 2
    assert (
        f"inventory {path} is empty (0 bytes): restore it from a backup; where no run has "
        "written it yet, delete it and the next run starts a new inventory"
    ) in capsys.readouterr().err
    with pytest.raises(Exception, match=r"is empty \(0 bytes\)"):
        Inventory(path)
    # `alerts retry` opens the outbox alone (found in review: it wrote a schema into the file)
    assert _alerts(config_path, "retry", "--dead") == 2
    assert "is empty (0 bytes)" in capsys.readouterr().err
    assert path.read_bytes() == b""


def _table_lines(output: str, title: str) -> list[str]:
    """The rows (header left out) of the table under ``title`` in ``alerts list`` output."""
    lines = output.split(title + "\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return lines[1:]
