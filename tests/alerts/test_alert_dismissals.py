"""A landslide dismissed after its alert went out: the channels that were sent an alert of it
get a ``landslide.dismissed`` naming the alerts it withdraws (schema 1.4), and only those; a
dismissal taken back withdraws its notice, and a delivery that was sending while the reviewer
dismissed tells its channel at the next open of the inventory."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerts.email import build_message
from monitor.alerts.outbox import (
    DISMISSED_EVENT,
    NOT_REACHED,
    REINSTATED_EVENT,
    REQUEUED,
    TRIED_DURING_WITHDRAWAL,
    WITHDRAWN,
    Outbox,
    idempotency_key,
)
from monitor.alerts.payload import SCHEMA_VERSION, validate_payload
from monitor.alerts.senders import Alert, DeliveryError
from monitor.alerts.settings import AlertRouting, RetryPolicy, SmtpSettings
from monitor.store.inventory import Inventory
from monitor.store.landslides import DISMISSED_FIDS_SQL
from tests.alerts.loopback_helpers import apply_run, body_text, candidates

# the deliveries' clock: after the dismissals of the tests, which take the real time
LATER = datetime.now(UTC) + timedelta(hours=1)
EARLIER = datetime(2024, 9, 15, 6, tzinfo=UTC)


class _FirstOnly:
    """Takes what is sent to ``pager:first``; refuses the rest for good (they go dead)."""

    batch_size = 5

    def __init__(self, channel: str, sent: list[Alert]) -> None:
        self.channel, self.sent = channel, sent

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.channel != "pager:first":
            raise DeliveryError("550 no such mailbox", permanent=True)
        self.sent.extend(alerts)


def _one_landslide(tmp_path: Path, routing: AlertRouting) -> tuple[Path, int]:
    """An inventory whose first run found one landslide, its alerts queued for ``routing``."""
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
        (fid,) = inventory.landslides()["fid"].tolist()
    return path, int(fid)


def _alerted(tmp_path: Path) -> tuple[Path, AlertRouting, int, list[Alert]]:
    """One landslide alerted to pager:first (sent) and pager:second (dead, refused)."""
    routing = AlertRouting(default=("pager:first", "pager:second"))
    path, fid = _one_landslide(tmp_path, routing)
    sent: list[Alert] = []
    with Outbox(path) as box:
        box.deliver(routing, senders=lambda channel, _: _FirstOnly(channel, sent), now=LATER)
    assert [a.channel for a in sent] == ["pager:first"]
    return path, routing, fid, sent


def _rows(path: Path, event: str) -> list[dict]:
    with Outbox(path) as box:
        return [r for r in box.rows() if r["event"] == event]


def _notices(path: Path) -> list[dict]:
    return _rows(path, DISMISSED_EVENT)


def _as_alert(row: dict) -> Alert:
    """An outbox row as the delivery hands it to a sender (no quicklook)."""
    return Alert(
        id=row["id"], idempotency_key=row["idempotency_key"], channel=row["channel"],
        event=row["event"], region=row["region"], landslide_uid=row["landslide_uid"],
        payload=row["payload"], quicklook=None, attempts=0,
    )  # fmt: skip


def test_a_dismissal_tells_the_channels_that_were_sent_an_alert_and_only_those(
    tmp_path: Path,
) -> None:
    path, routing, fid, sent = _alerted(tmp_path)
    told = sent[0].payload
    with Inventory(path) as inventory:
        change = inventory.set_status(fid, "dismissed", note="a clear-cut")
        again = inventory.set_status(fid, "dismissed")  # already dismissed: nothing more
    assert (change.dismissals, again.dismissals) == (1, 0)
    (notice,) = _notices(path)
    uid = told["landslide"]["id"]
    assert notice["channel"] == "pager:first" and notice["status"] == "pending"
    with Inventory(path) as inventory:
        decided = inventory.get(fid)["status_changed_at"]
    assert notice["idempotency_key"] == idempotency_key(
        uid, 1, "pager:first", DISMISSED_EVENT, 1, decided
    )
    assert notice["idempotency_key"] != told["idempotency_key"]
    body = notice["payload"]
    validate_payload(body)
    assert body["event"] == DISMISSED_EVENT and body["schema_version"] == SCHEMA_VERSION == "1.5"
    assert body["withdraws"] == [told["idempotency_key"]]
    assert body["review"]["note"] == "a clear-cut"
    assert body["review"]["decided_at"].endswith("Z")
    assert body["landslide"]["status"] == "dismissed"
    assert body["landslide"]["inventory_fid"] == fid
    assert body["landslide"]["previous_area_m2"] == told["landslide"]["area_m2"]
    assert body["run"] == told["run"]
    # the sweep of an open withdraws the alerts of dismissed landslides, never their notices
    with Inventory(path):
        pass
    (notice,) = _notices(path)
    assert notice["status"] == "pending"
    got: list[Alert] = []
    with Outbox(path) as box:
        report = box.deliver(
            routing, senders=lambda channel, _: _FirstOnly(channel, got), now=LATER
        )
    assert report.sent == 1 and [a.event for a in got] == [DISMISSED_EVENT]


def test_a_dismissal_taken_back_withdraws_its_notice_and_a_new_one_queues_its_own(
    tmp_path: Path,
) -> None:
    """A key is one body: the later dismissal, with its own time and words, is a notice of its
    own, never the first one's key with a new body (found in a receiver's walk)."""
    path, _, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed", note="a clear-cut")
        back = inventory.set_status(fid, "candidate")
    (notice,) = _notices(path)
    assert back.withdrawn == 1
    assert notice["status"] == "dead"
    assert notice["last_error"] == f"{WITHDRAWN}landslide {fid} is no longer dismissed"
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed", note="a road cut").dismissals == 1
    old, new = _notices(path)
    assert (old["status"], new["status"]) == ("dead", "pending")
    assert old["payload"]["review"]["note"] == "a clear-cut"
    assert new["payload"]["review"]["note"] == "a road cut"
    assert old["idempotency_key"] != new["idempotency_key"]
    assert new["idempotency_key"].split(".")[-2] == "dismissed1"


def test_a_landslide_never_sent_to_any_channel_queues_no_notice(tmp_path: Path) -> None:
    routing = AlertRouting(default=("pager:first",))
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
        (fid,) = inventory.landslides()["fid"].tolist()
        change = inventory.set_status(int(fid), "dismissed")
    assert (change.withdrawn, change.dismissals) == (1, 0)
    assert _notices(path) == []


def test_an_alert_sent_while_its_landslide_was_dismissed_is_followed_by_a_notice(
    tmp_path: Path,
) -> None:
    """The dismissal came while the delivery was sending the alert: it found nothing sent and
    queued no notice, then the channel took the alert. The next open tells that channel."""
    routing = AlertRouting(default=("pager:first",))
    path, fid = _one_landslide(tmp_path, routing)

    class _Reviewed:
        batch_size = 1

        def send(self, alerts: Sequence[Alert]) -> None:
            with Inventory(path) as inventory:  # the reviewer, during the send
                assert inventory.set_status(int(fid), "dismissed").dismissals == 0

    with Outbox(path) as box:  # a clock before the dismissal's: the sweep reads no times
        assert box.deliver(routing, senders=lambda *_: _Reviewed(), now=EARLIER).sent == 1
    assert _notices(path) == []
    with Inventory(path):  # the next run or `alerts deliver`
        pass
    (notice,) = _notices(path)
    assert notice["channel"] == "pager:first" and notice["status"] == "pending"
    with Inventory(path):  # once
        pass
    assert len(_notices(path)) == 1


@pytest.mark.parametrize("with_new", [True, False])
def test_the_e_mail_of_a_dismissal_says_what_it_withdraws(tmp_path: Path, with_new: bool) -> None:
    path, _, fid, sent = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed", note="a road cut")
    (row,) = _notices(path)
    notice = _as_alert(row)
    alerts = [sent[0], notice] if with_new else [notice]
    message = build_message(
        SmtpSettings(host="127.0.0.1", from_address="m@example.org"), "duty@example.org", alerts
    )
    text, page = body_text(message, "plain"), body_text(message, "html")
    subject = "1 new and 1 dismissed landslides" if with_new else "1 dismissed landslide in"
    assert subject in message["Subject"]
    assert f"DISMISSED id {fid}, wayanad-hills" in text
    assert "reviewer's note: a road cut" in text and "a road cut" in page
    assert "withdraws: the 1 earlier alert(s) of it sent to this address" in text
    assert "A reviewer dismissed 1 landslide(s) this address had been alerted of" in text
    assert ("found 1 new or grown landslide(s)" in text) is with_new


def test_a_refused_notice_is_re_queued_by_retry_while_the_landslide_stays_dismissed(
    tmp_path: Path,
) -> None:
    """`alerts retry --dead` holds back the dead alerts of dismissed landslides; their
    landslide.dismissed is what it must put back."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    with Outbox(path) as box:  # every channel refuses it now
        box.deliver(routing, senders=lambda *_: _FirstOnly("pager:none", []), now=LATER)
        assert box.requeue(except_select=DISMISSED_FIDS_SQL) == 1  # not the withdrawn alert
    (notice,) = _notices(path)
    assert notice["status"] == "pending"
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")  # withdrawn again, and held back from now on
    with Outbox(path) as box:  # the confirmed landslide's refused alert goes back, not it
        box.requeue(except_select=DISMISSED_FIDS_SQL)
    (notice,) = _notices(path)
    assert notice["status"] == "dead"


def test_a_growth_sent_during_the_dismissal_gets_a_notice_of_its_own(tmp_path: Path) -> None:
    """The channel had the new alert; its growth was on the wire when the reviewer dismissed:
    the dismissal's notice withdraws the first alone, and a second notice, with a key of its
    own, withdraws both."""
    path, routing, fid, sent = _alerted(tmp_path)
    with Inventory(path) as inventory:  # it grows: a landslide.grown for each channel
        apply_run(inventory, date(2024, 9, 21), candidates([(0, 0, 100, 300)]), routing)
    got: list[Alert] = []

    class _Reviewed(_FirstOnly):
        def send(self, alerts: Sequence[Alert]) -> None:
            with Inventory(path) as inventory:
                assert inventory.set_status(fid, "dismissed").dismissals == 1
            super().send(alerts)

    with Outbox(path) as box:
        box.deliver(routing, senders=lambda channel, _: _Reviewed(channel, got), now=EARLIER)
    assert [a.event for a in got] == ["landslide.grown"]
    with Inventory(path):
        pass
    first, second = _notices(path)
    keys = [sent[0].idempotency_key, got[0].idempotency_key]
    assert first["payload"]["withdraws"] == keys[:1]
    assert second["payload"]["withdraws"] == keys
    assert second["idempotency_key"] != first["idempotency_key"]
    assert second["idempotency_key"].split(".")[-2] == "dismissed2"


def test_retry_leaves_a_notice_withdrawn_by_an_earlier_reinstatement(tmp_path: Path) -> None:
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
        inventory.set_status(fid, "candidate")  # its notice withdrawn
        apply_run(inventory, date(2024, 9, 21), candidates([(0, 0, 100, 300)]), routing)
    with Outbox(path) as box:
        box.deliver(routing, senders=lambda channel, _: _FirstOnly(channel, []), now=LATER)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1  # of revision 2
    with Outbox(path) as box:
        assert box.requeue(except_select=DISMISSED_FIDS_SQL) == 0
    old, new = _notices(path)
    assert (old["revision"], old["status"], new["revision"], new["status"]) == (
        1, "dead", 2, "pending",
    )  # fmt: skip


def test_a_notice_never_sends_the_host_path_an_alert_before_schema_1_2_held(
    tmp_path: Path,
) -> None:
    path, _, fid, sent = _alerted(tmp_path)
    with Outbox(path) as box:  # the sent alert as a release before 1.2 queued it
        old = dict(sent[0].payload, schema_version="1.1")
        old["quicklook"] = {"filename": "/srv/monitor/quicklooks/2024-09-15/r/candidate-001.png"}
        box._conn.execute(
            "UPDATE alert_outbox SET payload = ? WHERE id = ?", (json.dumps(old), sent[0].id)
        )
        box._conn.commit()
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    (notice,) = _notices(path)
    assert notice["payload"]["quicklook"] is None
    validate_payload(notice["payload"])


def test_retry_of_a_notice_whose_landslide_is_no_longer_dismissed_is_refused(
    tmp_path: Path,
) -> None:
    """The next open would withdraw it again: `alerts retry ID` says so and changes nothing,
    as it does for an alert of a dismissed landslide."""
    from monitor.errors import BadInput
    from monitor.ops.alerts import _requeue

    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    with Outbox(path) as box:  # refused by every channel, then the reviewer takes it back
        box.deliver(routing, senders=lambda *_: _FirstOnly("pager:none", []), now=LATER)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")
    (notice,) = _notices(path)
    with Outbox(path) as box, pytest.raises(BadInput, match="no longer dismissed"):
        _requeue(box, path, [int(notice["id"])])
    (notice,) = _notices(path)
    assert notice["status"] == "dead"


# -- taking a dismissal back (schema 1.5) -------------------------------------------------------


def _deliver(path: Path, routing: AlertRouting) -> list[Alert]:
    sent: list[Alert] = []
    with Outbox(path) as box:
        box.deliver(routing, senders=lambda channel, _: _FirstOnly(channel, sent), now=LATER)
    return sent


def test_a_dismissal_taken_back_after_it_went_is_followed_by_a_reinstatement(
    tmp_path: Path,
) -> None:
    """A channel told "false alarm" must hear that the reviewer took it back: the
    landslide.reinstated withdraws the notice it was sent, and every turn of dismissing and
    reinstating again has a key of its own, each naming what the channel had read till then."""
    path, routing, fid, sent = _alerted(tmp_path)
    told = sent[0].payload
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed", note="a clear-cut")
    (dismissal,) = _deliver(path, routing)
    with Inventory(path) as inventory:
        change = inventory.set_status(fid, "confirmed", note="field visit: a fresh scar")
    assert (change.withdrawn, change.dismissals, change.reinstatements) == (0, 0, 1)
    (row,) = _rows(path, REINSTATED_EVENT)
    uid = told["landslide"]["id"]
    assert row["channel"] == "pager:first" and row["status"] == "pending"
    with Inventory(path) as inventory:
        decided = inventory.get(fid)["status_changed_at"]
    assert row["idempotency_key"] == idempotency_key(
        uid, 1, "pager:first", REINSTATED_EVENT, 1, decided
    )
    assert row["idempotency_key"].split(".")[-2] == "reinstated1"
    body = row["payload"]
    validate_payload(body)
    assert body["withdraws"] == [dismissal.idempotency_key]
    assert body["review"]["note"] == "field visit: a fresh scar"
    assert body["landslide"]["status"] == "confirmed"
    assert body["landslide"]["previous_area_m2"] == told["landslide"]["area_m2"]
    assert body["run"] == told["run"]
    (reinstatement,) = _deliver(path, routing)
    # dismissed again: the notice withdraws the new alert and the reinstatement, under a new key
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1
    (again,) = _deliver(path, routing)
    assert again.idempotency_key.split(".")[-2] == "dismissed2"
    assert again.payload["withdraws"] == [told["idempotency_key"], reinstatement.idempotency_key]
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "candidate").reinstatements == 1
    (last,) = _deliver(path, routing)
    assert last.idempotency_key.split(".")[-2] == "reinstated2"
    assert last.payload["withdraws"] == [dismissal.idempotency_key, again.idempotency_key]
    validate_payload(last.payload)
    keys = [told["idempotency_key"], dismissal.idempotency_key, reinstatement.idempotency_key]
    keys += [again.idempotency_key, last.idempotency_key]
    assert len(set(keys)) == 5
    # pager:second refused the first alert: it was told nothing, then or since
    with Outbox(path) as box:
        assert {r["event"] for r in box.rows() if r["channel"] == "pager:second"} == {
            "landslide.new"
        }


def test_a_reinstatement_dismissed_again_before_it_went_is_withdrawn_and_queued_again(
    tmp_path: Path,
) -> None:
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    _deliver(path, routing)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")
        # the channel's last word is the dismissal, and so is the inventory's: nothing to send
        change = inventory.set_status(fid, "dismissed")
    assert (change.withdrawn, change.dismissals) == (1, 0)
    (row,) = _rows(path, REINSTATED_EVENT)
    assert row["status"] == "dead" and row["last_error"].startswith(WITHDRAWN)
    with Outbox(path) as box:  # `retry --dead` never sends it
        assert box.requeue(except_select=DISMISSED_FIDS_SQL) == 0
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "confirmed").reinstatements == 1
    withdrawn, queued = _rows(path, REINSTATED_EVENT)  # the new decision's, a key of its own
    assert (withdrawn["status"], queued["status"]) == ("dead", "pending")
    assert withdrawn["idempotency_key"] != queued["idempotency_key"]


def test_alerts_a_dismissal_withdrew_go_out_when_it_is_taken_back(tmp_path: Path) -> None:
    """Dismissed before delivery, back to candidate after: the alerts waiting then are pending
    again, and one a receiver had refused is dead again with the error it died of; the
    dismissal's notice, unsent, is withdrawn and followed by nothing."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:  # it grows: a landslide.grown for each channel, waiting
        apply_run(inventory, date(2024, 9, 21), candidates([(0, 0, 100, 300)]), routing)
        dismissed = inventory.set_status(fid, "dismissed")
    assert dismissed.withdrawn == 2
    with Outbox(path) as box:
        rows = box.rows()
    refused = next(r for r in rows if r["event"] == "landslide.new" and r["status"] == "dead")
    assert refused["last_error"] == (
        f"{WITHDRAWN}landslide {fid} was dismissed; it was dead: 550 no such mailbox"
    )
    with Inventory(path) as inventory:
        back = inventory.set_status(fid, "candidate")
    assert (back.restored, back.withdrawn, back.reinstatements) == (2, 1, 0)
    with Outbox(path) as box:
        by_id = {r["id"]: r for r in box.rows()}
    assert by_id[refused["id"]]["status"] == "dead"
    assert by_id[refused["id"]]["last_error"] == "550 no such mailbox"
    grown = [r for r in by_id.values() if r["event"] == "landslide.grown"]
    assert [r["status"] for r in grown] == ["pending", "pending"]
    assert all(
        r["last_error"].startswith(REQUEUED)
        and r["last_error"].endswith(f"it was dead: {WITHDRAWN}landslide {fid} was dismissed")
        for r in grown
    )
    delivered = _deliver(path, routing)
    assert [(a.event, a.channel) for a in delivered] == [("landslide.grown", "pager:first")]


def test_a_dismissal_notice_sent_while_it_was_taken_back_is_followed_by_a_reinstatement(
    tmp_path: Path,
) -> None:
    """The reviewer took the dismissal back while the delivery was sending its notice: the
    reinstatement found it unsent and queued nothing, then the channel took it. The next open
    tells that channel, once."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")

    class _Reviewed(_FirstOnly):
        def send(self, alerts: Sequence[Alert]) -> None:
            with Inventory(path) as inventory:  # the reviewer, during the send
                assert inventory.set_status(fid, "confirmed").reinstatements == 0
            super().send(alerts)

    got: list[Alert] = []
    with Outbox(path) as box:  # a clock before the decision's: the sweep reads no times
        box.deliver(
            routing,
            senders=lambda channel, _: _Reviewed(channel, got),
            now=EARLIER,
            ignore_retry_delay=True,
        )
    assert [a.event for a in got] == [DISMISSED_EVENT] and _rows(path, REINSTATED_EVENT) == []
    with Inventory(path):  # the next run or `alerts deliver`
        pass
    (row,) = _rows(path, REINSTATED_EVENT)
    assert row["status"] == "pending" and row["payload"]["withdraws"] == [got[0].idempotency_key]
    with Inventory(path):  # once
        pass
    assert len(_rows(path, REINSTATED_EVENT)) == 1


def test_the_e_mail_of_a_reinstatement_says_the_dismissal_is_taken_back(tmp_path: Path) -> None:
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    _deliver(path, routing)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed", note="seen from the road")
    (row,) = _rows(path, REINSTATED_EVENT)
    notice = _as_alert(row)
    message = build_message(
        SmtpSettings(host="127.0.0.1", from_address="m@example.org"), "duty@example.org", [notice]
    )
    text = body_text(message, "plain")
    assert "1 reinstated landslide in" in message["Subject"]
    assert f"REINSTATED id {fid}, wayanad-hills" in text
    assert "reinstated at: " in text and "no longer a false alarm" in text
    assert "reviewer's note: seen from the road" in text
    assert "withdraws: the 1 earlier dismissal(s) of it sent to this address" in text
    assert "A reviewer took back the dismissal of 1 landslide(s)" in text
    assert "found" not in text and "→" not in text  # no detection, no growth


def test_retry_of_a_review_notice_a_later_decision_withdrew_is_refused(tmp_path: Path) -> None:
    from monitor.errors import BadInput
    from monitor.ops.alerts import _requeue

    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    _deliver(path, routing)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")
        inventory.set_status(fid, "dismissed")  # the reinstatement withdrawn unsent
    (row,) = _rows(path, REINSTATED_EVENT)
    with Outbox(path) as box, pytest.raises(BadInput, match="withdrawn by a later review"):
        _requeue(box, path, [int(row["id"])])
    (row,) = _rows(path, REINSTATED_EVENT)
    assert row["status"] == "dead"


def test_no_second_notice_withdraws_what_a_channel_was_already_told_was_withdrawn(
    tmp_path: Path,
) -> None:
    """Found in review: the key names the landslide's revision, so after a growth a notice
    withdrawing the very alerts an earlier notice withdrew had a key of its own and went out
    again. The channel's last word was that notice already; nothing is queued."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    _deliver(path, routing)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")
    (reinstated,) = _deliver(path, routing)
    with Inventory(path) as inventory:  # it grows, and the channel is told
        apply_run(inventory, date(2024, 9, 21), candidates([(0, 0, 100, 300)]), routing)
    assert [a.event for a in _deliver(path, routing)] == ["landslide.grown"]
    with Inventory(path) as inventory:  # dismissed by mistake, taken back before a delivery
        assert inventory.set_status(fid, "dismissed").dismissals == 1
        change = inventory.set_status(fid, "confirmed")
    assert (change.withdrawn, change.reinstatements) == (1, 0)
    assert _deliver(path, routing) == []
    # and the other way round: dismissed again before the reinstatement went, after a growth
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    _deliver(path, routing)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "candidate").reinstatements == 1
        apply_run(inventory, date(2024, 9, 27), candidates([(0, 0, 100, 500)]), routing)
        assert inventory.set_status(fid, "dismissed").dismissals == 0
    assert _deliver(path, routing) == []
    first, second = _rows(path, REINSTATED_EVENT)  # the second withdrawn unsent, and no more
    assert first["idempotency_key"] == reinstated.idempotency_key and first["status"] == "sent"
    assert second["status"] == "dead" and second["last_error"].startswith(WITHDRAWN)


def test_a_notice_carries_the_words_of_its_own_decision_only(tmp_path: Path) -> None:
    """Found in review: a reinstatement without a note sent the dismissal's reason ("a
    clear-cut ... not a landslide") as the reviewer's words; the landslide keeps its note."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed", note="a clear-cut for the new road")
    (dismissal,) = _deliver(path, routing)
    assert dismissal.payload["review"]["note"] == "a clear-cut for the new road"
    with Inventory(path) as inventory:
        inventory.set_status(fid, "confirmed")
        assert inventory.get(fid)["review_note"] == "a clear-cut for the new road"
    (reinstatement,) = _deliver(path, routing)
    assert reinstatement.payload["review"]["note"] is None
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    (again,) = _deliver(path, routing)
    assert again.payload["review"]["note"] is None


class _TimedOut(_FirstOnly):
    """pager:first's receiver took the request, but its answer came too late: a failure the
    delivery retries, of an alert the receiver may hold."""

    def send(self, alerts: Sequence[Alert]) -> None:
        if self.channel == "pager:first":
            raise DeliveryError("webhook timed out after 10 s")
        super().send(alerts)


def test_a_channel_whose_answer_timed_out_is_told_of_the_dismissal(tmp_path: Path) -> None:
    """Found in a receiver's walk: an alert whose answer timed out stayed pending, the
    dismissal withdrew it and queued no notice, and the receiver, which had processed it, kept
    a false alarm standing. A channel that refused its only try is still told nothing."""
    routing = AlertRouting(default=("pager:first", "pager:second"))
    path, fid = _one_landslide(tmp_path, routing)
    with Outbox(path) as box:
        box.deliver(routing, senders=lambda channel, _: _TimedOut(channel, []), now=LATER)
        tried = next(r for r in box.rows("pending") if r["channel"] == "pager:first")
    assert tried["attempts"] == 1
    with Inventory(path) as inventory:
        change = inventory.set_status(int(fid), "dismissed")
    assert (change.withdrawn, change.dismissals) == (1, 1)
    (notice,) = _notices(path)
    assert notice["channel"] == "pager:first"
    assert notice["payload"]["withdraws"] == [tried["idempotency_key"]]
    # taken back once the notice went: the channel gets the reinstatement, which carries the
    # landslide as it is now, not the alert the notice voided after it
    (sent,) = _deliver(path, routing)
    assert sent.event == DISMISSED_EVENT
    with Inventory(path) as inventory:
        back = inventory.set_status(int(fid), "confirmed")
    assert (back.restored, back.reinstatements) == (0, 1)
    assert [(a.event, a.payload["withdraws"]) for a in _deliver(path, routing)] == [
        (REINSTATED_EVENT, [sent.idempotency_key])
    ]


def test_a_refused_notice_of_a_dismissal_taken_back_no_longer_counts_as_dead(
    tmp_path: Path,
) -> None:
    """Found in a receiver's walk: the notice the receiver refused stayed dead when the
    dismissal was taken back, failed `status --check --max-dead` for good, and no retry could
    clear it. Withdrawn, it keeps the error it died of; the next dismissal queues its own."""
    path, routing, fid, _ = _alerted(tmp_path)
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
    with Outbox(path) as box:  # every channel refuses the notice
        box.deliver(routing, senders=lambda *_: _FirstOnly("pager:none", []), now=LATER)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "confirmed").reinstatements == 0  # it was refused
    (notice,) = _notices(path)
    assert notice["status"] == "dead"
    assert notice["last_error"] == (
        f"{WITHDRAWN}landslide {fid} is no longer dismissed; it was dead: 550 no such mailbox"
    )
    with Outbox(path) as box:
        assert all(r["event"] != DISMISSED_EVENT for r in box.rows("dead", withdrawn=False))
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1
    assert [n["status"] for n in _notices(path)] == ["dead", "pending"]


def test_taking_a_dismissal_back_restores_only_what_it_withdrew(tmp_path: Path, capsys) -> None:
    """Found in an upgrade's walk: an alert an earlier dismissal withdrew, taken back by a
    release that left it withdrawn, went out months late when a later dismissal was taken
    back. It stays withdrawn; `retry --dead` leaves it and says so, `retry ID` sends it."""
    from monitor.ops.alerts import _requeue

    routing = AlertRouting(default=("pager:first",))
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
        (fid,) = inventory.landslides()["fid"].tolist()
        fid = int(fid)
        inventory.set_status(fid, "dismissed")
    with Outbox(path) as box:  # withdrawn in 2024, and taken back as the old release did
        box._conn.execute("UPDATE alert_outbox SET next_attempt_at = '2024-09-16T06:00:00.000Z'")
        box._conn.execute("UPDATE landslides SET status = 'confirmed'")
        box._conn.commit()
        (old,) = box.rows("dead")
    with Inventory(path) as inventory:
        inventory.set_status(fid, "dismissed")
        assert inventory.set_status(fid, "confirmed").restored == 0
    with Outbox(path) as box:
        assert [r["id"] for r in box.rows("dead")] == [old["id"]]
        _requeue(box, path, None)
        assert "left dead: 1 alert(s) a review decision withdrew" in capsys.readouterr().out
        assert [r["status"] for r in box.rows()] == ["dead"]
        _requeue(box, path, [int(old["id"])])
        assert [r["status"] for r in box.rows()] == ["pending"]


def test_a_channel_that_may_hold_an_alert_is_told_after_a_retry_and_a_raced_timeout(
    tmp_path: Path,
) -> None:
    """Found in review: `alerts retry` set the attempts back to 0, and a try that timed out
    while the dismissal withdrew the alert recorded none, so the channel, whose receiver may
    have processed the alert, read as told nothing. Whether it may hold it (``tried``) is kept
    through both; the raced try is followed up on the next open, once."""
    from monitor.ops.alerts import _requeue

    routing = AlertRouting(default=("pager:first",), retry=RetryPolicy(max_attempts=2))
    path, fid = _one_landslide(tmp_path, routing)
    for _ in range(2):  # given up after two timeouts, then re-queued
        with Outbox(path) as box:
            box.deliver(routing, senders=lambda c, _: _TimedOut(c, []), ignore_retry_delay=True)
    with Outbox(path) as box, contextlib.redirect_stdout(io.StringIO()):
        _requeue(box, path, None)
        (row,) = box.rows("pending")
    assert (row["attempts"], row["tried"]) == (0, 1)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1

    class _Reviewed(_TimedOut):  # the notice's try times out as the reviewer takes it back
        def send(self, alerts: Sequence[Alert]) -> None:
            with Inventory(path) as inventory:
                assert inventory.set_status(fid, "confirmed").reinstatements == 0
            super().send(alerts)

    with Outbox(path) as box:
        box.deliver(routing, senders=lambda c, _: _Reviewed(c, []), ignore_retry_delay=True)
    (notice,) = _notices(path)
    assert notice["tried"] == TRIED_DURING_WITHDRAWAL and notice["attempts"] == 0
    for _ in range(2):  # the next open follows it up, and no later one again
        with Inventory(path):
            pass
    (row,) = _rows(path, REINSTATED_EVENT)
    assert row["payload"]["withdraws"] == [notice["idempotency_key"]]


def test_an_alert_a_held_dismissal_voided_stays_withdrawn_though_it_had_died(
    tmp_path: Path,
) -> None:
    """Found in review: taking the dismissal back gave a dead alert that the dismissal's notice
    had voided its error back, and `retry --dead` sent it after the reinstatement."""
    routing = AlertRouting(default=("pager:first",), retry=RetryPolicy(max_attempts=1))
    path, fid = _one_landslide(tmp_path, routing)
    with Outbox(path) as box:  # one timeout, and it gave up: dead, but the receiver may hold it
        box.deliver(routing, senders=lambda c, _: _TimedOut(c, []), now=LATER)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1
    (dismissal,) = _deliver(path, routing)
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "confirmed").reinstatements == 1
    with Outbox(path) as box:
        (new,) = [r for r in box.rows() if r["event"] == "landslide.new"]
        assert dismissal.payload["withdraws"] == [new["idempotency_key"]]
        assert new["last_error"].startswith(f"{WITHDRAWN}landslide {fid} was dismissed; it was")
        box.requeue(except_select=DISMISSED_FIDS_SQL)
    assert [a.event for a in _deliver(path, routing)] == [REINSTATED_EVENT]


def test_an_outbox_of_an_earlier_release_learns_which_alerts_its_channels_may_hold(
    tmp_path: Path,
) -> None:
    """The ``tried`` column, added on the first writable open, filled from what each row
    says: sent, or tried and not refused for good; a send during a dismissal is followed up."""
    path, routing, _, _ = _alerted(tmp_path)  # pager:first sent, pager:second refused
    with Inventory(path) as inventory:
        apply_run(inventory, date(2024, 9, 21), candidates([(0, 0, 100, 300)]), routing)
    with Outbox(path) as box:  # the growth times out on both channels
        box.deliver(routing, senders=lambda c, _: _TimedOut("pager:first", []), now=LATER)
        box._conn.execute("ALTER TABLE alert_outbox DROP COLUMN tried")
        box._conn.commit()
    with Outbox(path) as box:
        tried = {(r["event"], r["channel"]): r["tried"] for r in box.rows()}
    assert tried == {
        ("landslide.new", "pager:first"): 1,  # sent
        ("landslide.new", "pager:second"): 0,  # refused at its only try
        ("landslide.grown", "pager:first"): 1,  # timed out: pending after a try
        ("landslide.grown", "pager:second"): 1,
    }


def test_what_reached_no_receiver_is_no_alert_its_channel_may_hold(tmp_path: Path) -> None:
    """Found in review: a refused connection or a sender that could not be made counted as a
    try the receiver may have taken, and the channel was sent a notice of an alert it never
    had. A webhook that no process listens on, or no host answers to, made no connection."""
    import socket

    import requests

    from monitor.alerts.webhook import _no_connection

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url in (f"http://127.0.0.1:{port}/hook", "http://no-such-host.invalid/hook"):
        with pytest.raises(requests.RequestException) as raised:
            requests.post(url, data=b"{}", timeout=5)
        assert _no_connection(raised.value)
    assert not _no_connection(requests.exceptions.ReadTimeout("read timed out"))

    class _Refused(_FirstOnly):  # as a sender of another kind would raise it
        def send(self, alerts: Sequence[Alert]) -> None:
            raise ConnectionRefusedError(111, "Connection refused")

    routing = AlertRouting(default=("pager:first",))
    path, fid = _one_landslide(tmp_path, routing)
    with Outbox(path) as box:
        box.deliver(routing, senders=lambda c, _: _Refused(c, []), now=LATER)
        (row,) = box.rows("pending")
    assert (row["attempts"], row["tried"]) == (1, NOT_REACHED)
    with Inventory(path) as inventory:  # its open reads rows of earlier releases, not this one
        assert inventory.set_status(int(fid), "dismissed").dismissals == 0


def test_tries_an_earlier_release_makes_on_a_migrated_outbox_are_read_on_the_next_open(
    tmp_path: Path,
) -> None:
    """Found in review: a release before ``tried``, still writing to the file after this one
    added the column (an upgrade under way, or gone back to), left its tries at 0, and the
    dismissal after them told the channel nothing; and the dead alerts such a release's
    dismissal withdrew stayed withdrawn when this one took the dismissal back."""
    routing = AlertRouting(default=("pager:first",))
    path, fid = _one_landslide(tmp_path, routing)
    with Outbox(path) as box:  # the earlier release's try: it timed out, and wrote no tried
        box.deliver(routing, senders=lambda c, _: _TimedOut(c, []), now=LATER)
        box._conn.execute("UPDATE alert_outbox SET tried = 0")
        box._conn.commit()
    with Inventory(path) as inventory:
        assert inventory.set_status(fid, "dismissed").dismissals == 1
    path2 = tmp_path / "other.gpkg"  # a refusal withdrawn by an earlier release's dismissal
    with Inventory(path2) as inventory:
        apply_run(inventory, date(2024, 9, 15), candidates([(0, 0, 100, 100)]), routing)
    with Outbox(path2) as box:
        box.deliver(routing, senders=lambda *_: _FirstOnly("pager:none", []), now=LATER)
    with Inventory(path2) as inventory:
        inventory.set_status(fid, "dismissed")
    with Outbox(path2) as box:  # as that release left it: no time of the withdrawal
        box._conn.execute("UPDATE alert_outbox SET next_attempt_at = '2024-09-15T06:00:00.000Z'")
        box._conn.commit()
    with Inventory(path2) as inventory:
        inventory.set_status(fid, "confirmed")
    with Outbox(path2) as box:
        (row,) = box.rows("dead")
    assert row["last_error"] == "550 no such mailbox"


def test_tries_an_earlier_release_makes_after_this_one_judged_a_row_unreached_are_read(
    tmp_path: Path,
) -> None:
    """Found in review: this release found no connection (-1); gone back a release, that
    release's try timed out (2 attempts, ``tried`` as it was); back again, the row was never
    read, and the dismissal told the channel nothing."""
    routing = AlertRouting(default=("pager:first",))
    path, fid = _one_landslide(tmp_path, routing)

    class _Refused(_FirstOnly):
        def send(self, alerts: Sequence[Alert]) -> None:
            raise ConnectionRefusedError(111, "Connection refused")

    with Outbox(path) as box:
        box.deliver(routing, senders=lambda c, _: _Refused(c, []), now=LATER)
        (row,) = box.rows("pending")
        assert row["tried"] == NOT_REACHED
        box._conn.execute(  # the earlier release's try: it timed out
            "UPDATE alert_outbox SET attempts = 2, last_error = 'webhook timed out after 10 s'"
        )
        box._conn.commit()
    with Inventory(path) as inventory:
        assert inventory.set_status(int(fid), "dismissed").dismissals == 1
