"""The persisted alert outbox, a table of the inventory's GeoPackage.

The inventory enqueues one row per (landslide change, channel) in the same transaction that
records the change, so an alert exists exactly when its change does. :meth:`Outbox.deliver`
then sends what is due, channel by channel, and marks each row in its own small transaction. It
reaches a channel through the sender factory of its kind (:mod:`monitor.alerts.channels`), which
imports a sender only when a channel of its kind is sent to.

Guarantee: **at-least-once to the channel, with a stable idempotency key**. A row is enqueued
once (``INSERT OR IGNORE`` on its key), and once marked ``sent`` it is never sent again. An
unreachable server leaves the row ``pending`` with exponential backoff
(:class:`~monitor.alerts.settings.RetryPolicy`); a permanent refusal or too many failures make it
``dead`` (kept, listed, re-queueable). The only way a channel sees an alert twice is a crash
between a successful send and its mark: the row is still claimed by a dead process, the next
delivery takes it over and sends it again with the *same* idempotency key (webhook header and
body, e-mail ``Message-ID``), so a receiver that remembers keys processes it once.

Claims: a delivery claims due rows for ``lease_s`` seconds and records its ``host:pid``; a claim
is free again when the lease ran out or, on the same host, when that process no longer exists.

Withdrawal: an alert still pending when its landslide is dismissed is never sent.
:func:`withdraw` marks it ``dead`` with ``last_error`` starting ``withdrawn:`` (kept and listed;
``alerts retry`` re-queues it, and it is withdrawn again while the landslide stays dismissed).
The inventory calls it when a reviewer dismisses a landslide and whenever it is opened for
writing (:class:`monitor.store.inventory.Inventory`), in the transaction of the change.
Taking the dismissal back puts those alerts back to pending (:func:`restore_withdrawn`).

Review notices: a channel that may hold an alert of a landslide a reviewer then dismisses is
sent a ``landslide.dismissed`` (:func:`enqueue_dismissal`); one that may hold that dismissal a
``landslide.reinstated`` when the reviewer takes it back (:func:`enqueue_reinstatement`). Each
names the keys of the alerts it ``withdraws``, so that what a channel last read agrees with
the inventory's review status.

``landslide-monitor alerts deliver|list|retry`` (:mod:`monitor.ops.alerts`) work on this
outbox between runs, through the same :meth:`Outbox.deliver` and :meth:`Outbox.requeue`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from shapely.geometry.base import BaseGeometry

from monitor import _geopackage as gpkg
from monitor._process import process_gone
from monitor.alerts.channels import sender_for
from monitor.alerts.payload import (
    DISMISSED_EVENT,
    REINSTATED_EVENT,
    REVIEW_EVENTS,
    AlertEvent,
    build_payload,
    encode_body,
)
from monitor.alerts.senders import (
    Alert,
    DeliveryError,
    Sender,
    SenderFactory,
    accepted_before_stop,
)
from monitor.alerts.settings import AlertConfigError, AlertRouting, RetryPolicy
from monitor.errors import stops_deferred

__all__ = [
    "DETECTION_EVENTS",
    "DISMISSED_EVENT",
    "NOT_REACHED",
    "NOT_WITHDRAWN_SQL",
    "REINSTATED_EVENT",
    "REQUEUED",
    "SENT_AFTER_WITHDRAWAL",
    "STATUSES",
    "TABLE",
    "TOLD_EVENTS",
    "TOLD_SQL",
    "TRIED",
    "TRIED_DURING_WITHDRAWAL",
    "WAITING",
    "WITHDRAWN",
    "Alert",
    "DeliveryError",
    "DeliveryReport",
    "Outbox",
    "OutboxStatus",
    "Sender",
    "SenderFactory",
    "create_table",
    "enqueue",
    "enqueue_dismissal",
    "enqueue_reinstatement",
    "idempotency_key",
    "last_review_note",
    "restore_withdrawn",
    "withdraw",
    "withdraw_dismissals",
    "withdraw_selected",
    "withdrawn_unsent",
]

log = logging.getLogger(__name__)

TABLE = "alert_outbox"
#: the events that tell a channel of a landslide (a reinstatement tells it again): what a
#: dismissal withdraws, and what it follows
#: the events of a detection (what a run queues, and a dismissal taken back puts back)
DETECTION_EVENTS: tuple[AlertEvent, ...] = ("landslide.new", "landslide.grown")
TOLD_EVENTS: tuple[AlertEvent, ...] = (*DETECTION_EVENTS, REINSTATED_EVENT)
TOLD_SQL = f"event IN ({gpkg.sql_values(TOLD_EVENTS)})"
OutboxStatus = Literal["pending", "sent", "dead"]
STATUSES: tuple[OutboxStatus, ...] = get_args(OutboxStatus)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  idempotency_key TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  landslide_uid TEXT NOT NULL,
  landslide_fid INTEGER,
  revision INTEGER NOT NULL,
  region TEXT NOT NULL,
  run_id INTEGER,
  payload TEXT NOT NULL,
  quicklook TEXT,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ({gpkg.sql_values(STATUSES)})),
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at DATETIME NOT NULL,
  next_attempt_at DATETIME NOT NULL,
  claimed_until DATETIME,
  claimed_by TEXT,
  sent_at DATETIME,
  last_error TEXT,
  tried INTEGER NOT NULL DEFAULT 0
)
"""
# ``tried``: whether its channel may hold it (:func:`_possibly_told`), kept through re-queues
# and withdrawals, which rewrite ``attempts`` and ``last_error``
_TRIED_COLUMNS = {"tried": "INTEGER NOT NULL DEFAULT 0"}
#: ``tried`` of an alert sent, or tried with an outcome left open (a timeout, a retryable
#: answer): the receiver may have processed it
TRIED = 1
#: ``tried`` of one so tried while a review decision withdrew it: the decision found it untried
#: and queued no notice for it; the next writable open of the inventory does
TRIED_DURING_WITHDRAWAL = 2
#: ``tried`` of one this release tried once and knows did not reach its receiver (refused for
#: good, no connection made, no sender); -n after n such tries. 0 is left to rows a release
#: before ``tried`` wrote, which each writable open reads (:func:`_fill_tried`), as it reads a
#: row with more attempts than its -n (tries a release before ``tried`` made since)
NOT_REACHED = -1
_INDEX = f"CREATE INDEX IF NOT EXISTS {TABLE}_due ON {TABLE} (status, next_attempt_at)"


def _ts(moment: datetime) -> str:
    """A UTC timestamp that sorts as text (GeoPackage DATETIME form)."""
    return gpkg.timestamp(moment)


def _now() -> datetime:
    return datetime.now(UTC)


def create_table(conn: sqlite3.Connection) -> None:
    """The outbox table, or the columns a file of an earlier release lacks, inside the
    caller's transaction."""
    conn.execute(_SCHEMA)
    conn.execute(_INDEX)
    gpkg.add_missing_columns(conn, TABLE, _TRIED_COLUMNS)
    _fill_tried(conn)
    gpkg.register_attributes(conn, TABLE, "alerts waiting for, or done with, delivery")


def _fill_tried(conn: sqlite3.Connection) -> None:
    """``tried`` of the alerts an earlier release queued or tried (on every writable open: a
    release before ``tried`` may write to the file after this one added it, during an upgrade
    or gone back to), from what their row still says: sent; tried more than once, or once
    without being refused for good (left pending, or out of attempts); a send marked
    :data:`SENT_AFTER_WITHDRAWAL` is :data:`TRIED_DURING_WITHDRAWAL`. A re-queue (``alerts
    retry``) reset ``attempts`` to 0: an alert re-queued and not tried since reads untried.
    Read: rows at 0 with a send or an attempt, and rows this release judged unreached after n
    tries (-n) that hold more attempts or a send since (found in review: gone back a release
    and returned, the tries that release made were never read); and a mark of a send during a
    withdrawal that such a release wrote."""
    updates = []
    for i, status, attempts, last_error in conn.execute(
        f"SELECT id, status, attempts, last_error FROM {TABLE} WHERE (tried <= 0 "
        "AND (status = 'sent' OR attempts > -tried)) "
        f"OR (last_error = ? AND tried != {TRIED_DURING_WITHDRAWAL})",
        (SENT_AFTER_WITHDRAWAL,),
    ).fetchall():
        if last_error == SENT_AFTER_WITHDRAWAL:
            updates.append((TRIED_DURING_WITHDRAWAL, i))
        elif _tried_as_its_row_says(str(status), int(attempts), last_error):
            updates.append((TRIED, i))
    conn.executemany(f"UPDATE {TABLE} SET tried = ? WHERE id = ?", updates)


def idempotency_key(
    landslide_uid: str,
    revision: int,
    channel: str,
    event: str = "landslide.new",
    withdraws: int = 1,
    decided_at: str = "",
) -> str:
    """Stable key of one change on one channel: the landslide's inventory ``revision`` (1 when
    first detected, +1 per growth, alerted or not) is the change, so a ``landslide.new`` may
    carry revision 2 or more (it grew before it became alertable) and never shares a key with
    a ``landslide.grown``, which always follows it at a higher revision. A
    ``landslide.dismissed`` is keyed by the revision and by how many alerts it ``withdraws``
    (``.dismissed<n>``); a notice that follows an alert sent during the dismissal withdraws one
    more and has a key of its own. A ``landslide.reinstated`` likewise
    (``.reinstated<n>``, n the dismissals it withdraws). Each notice a channel may hold counts
    in the next one's n (a dismissal withdraws the reinstatements before it). A notice's
    digest also takes the time of its decision (``decided_at``, the inventory's
    ``status_changed_at``): a key is one body, and a later decision, with its own time and
    words, is another notice, never the first one's key with a new body (found in a receiver's
    walk: a receiver that had processed the first body kept its words)."""
    review = event in REVIEW_EVENTS
    digest = hashlib.sha256(
        (f"{channel}\n{decided_at}" if review else channel).encode()
    ).hexdigest()[:12]
    kind = f".{str(event).removeprefix('landslide.')}{withdraws}" if review else ""
    return f"{landslide_uid}.r{revision}{kind}.{digest}"


def enqueue(
    conn: sqlite3.Connection,
    *,
    channel: str,
    event: str,
    landslide_uid: str,
    landslide_fid: int,
    revision: int,
    region: str,
    run_id: int | None,
    payload_for: Callable[[str], dict[str, Any]],
    quicklook: str | None,
    now: datetime,
) -> bool:
    """Queue the alert of one change for one channel, inside the caller's transaction.

    ``payload_for(key)`` builds the payload carrying its idempotency key. Returns False (and
    changes nothing) when this change was already queued for this channel."""
    key = idempotency_key(landslide_uid, revision, channel, event)
    cursor = conn.execute(
        f"INSERT OR IGNORE INTO {TABLE} (idempotency_key, channel, event, landslide_uid, "
        "landslide_fid, revision, region, run_id, payload, quicklook, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key,
            channel,
            event,
            landslide_uid,
            landslide_fid,
            revision,
            region,
            run_id,
            encode_body(payload_for(key)).decode(),
            quicklook,
            _ts(now),
            _ts(now),
        ),
    )
    return cursor.rowcount == 1


WITHDRAWN = "withdrawn: "  # ``last_error`` of an alert withdrawn before it was sent
_WAS_DEAD = "; it was dead: "  # after it, the error a withdrawn alert had died of
_GAVE_UP = "gave up after "  # the error of an alert out of attempts (no refusal)
# An outbox row that is a withdrawn alert, and one that is not, in SQL (the rest of the outbox
# is what was told).
WITHDRAWN_SQL = f"status = 'dead' AND COALESCE(last_error, '') LIKE '{WITHDRAWN}%'"
NOT_WITHDRAWN_SQL = f"NOT ({WITHDRAWN_SQL})"
#: ``last_error`` of a pending alert not tried because its channel's settings cannot be used in
#: the delivering environment (a secret's variable unset): what ``status --check`` reports
WAITING = "waiting for settings: "
#: ``last_error`` of a sent alert that its landslide's dismissal had withdrawn while a delivery
#: was sending it: its channel got it, so it is told of the dismissal (the inventory's sweep)
SENT_AFTER_WITHDRAWAL = "sent while its landslide was being dismissed"
#: ``last_error`` of a dead alert put back to pending (:meth:`Outbox.requeue`), then when and
#: the error it had died of
REQUEUED = "re-queued at "


def withdraw(conn: sqlite3.Connection, landslide_fids: Collection[int], now: datetime) -> int:
    """Inside the caller's transaction, mark the pending alerts of ``landslide_fids``, landslides
    just dismissed, dead with ``last_error`` = ``withdrawn: landslide <fid> was dismissed``;
    returns how many. Their alerts dead already (of a delivery error) are marked withdrawn too,
    the error they died of kept after it (``...; it was dead: <error>``): not sent while the
    landslide stays dismissed, they are no failure for ``status --check --max-dead`` (a review
    found them counted there for good once ``alerts retry`` left them dead, as it leaves every
    withdrawn alert of a dismissed landslide). An alert a live delivery holds is
    withdrawn too: the delivery checks each batch just before sending it and skips what was
    withdrawn; a send already under way that succeeds is marked sent, as it was; if it fails,
    the withdrawal stands."""
    if not landslide_fids:
        return 0
    marks = ", ".join("?" * len(landslide_fids))
    return _withdraw(conn, marks, [int(f) for f in landslide_fids], now)


def withdraw_selected(conn: sqlite3.Connection, select: str, now: datetime) -> int:
    """:func:`withdraw` for the landslides an SQL ``select`` of fids names (one statement,
    however many there are)."""
    return _withdraw(conn, select, [], now)


def _withdraw(conn: sqlite3.Connection, fids_sql: str, params: list[int], now: datetime) -> int:
    # one wording whether withdrawn at the dismissal or on a later open (a walk met two)
    said = f"{WITHDRAWN}landslide "
    conn.execute(
        f"UPDATE {TABLE} SET next_attempt_at = ?, "
        f"last_error = ? || landslide_fid || ' was dismissed{_WAS_DEAD}' "
        "|| COALESCE(last_error, 'no error recorded') "
        f"WHERE status = 'dead' AND COALESCE(last_error, '') NOT LIKE '{WITHDRAWN}%' "
        f"AND {TOLD_SQL} AND landslide_fid IN ({fids_sql})",
        (_ts(now), said, *params),  # the time of the withdrawal: what restore_withdrawn reads
    )
    cursor = conn.execute(
        f"UPDATE {TABLE} SET status = 'dead', "
        "last_error = ? || landslide_fid || ' was dismissed', next_attempt_at = ?, "
        "claimed_until = NULL, claimed_by = NULL "
        f"WHERE status = 'pending' AND {TOLD_SQL} AND landslide_fid IN ({fids_sql})",
        (said, _ts(now), *params),
    )
    return cursor.rowcount


def withdraw_dismissals(
    conn: sqlite3.Connection, fids_sql: str, params: Sequence[int], now: datetime
) -> int:
    """Inside the caller's transaction, mark the ``landslide.dismissed`` alerts still pending of
    the landslides an SQL list or ``select`` of fids names (``fids_sql`` with its ``params``),
    landslides no longer dismissed (a reviewer took the dismissal back), dead with
    ``last_error`` = ``withdrawn: landslide <fid> is no longer dismissed``; returns how many.
    Those dead already (refused by a receiver) are marked withdrawn too, the error they died of
    kept after it, as :func:`withdraw` does: found in a receiver's walk, a refused notice of a
    dismissal taken back counted for ``status --check --max-dead`` for good, which no retry
    could clear."""
    said = f"{WITHDRAWN}landslide "
    conn.execute(
        f"UPDATE {TABLE} SET last_error = ? || landslide_fid || ' is no longer dismissed"
        f"{_WAS_DEAD}' || COALESCE(last_error, 'no error recorded') "
        f"WHERE status = 'dead' AND COALESCE(last_error, '') NOT LIKE '{WITHDRAWN}%' "
        f"AND event = '{DISMISSED_EVENT}' AND landslide_fid IN ({fids_sql})",
        (said, *params),
    )
    cursor = conn.execute(
        f"UPDATE {TABLE} SET status = 'dead', "
        "last_error = ? || landslide_fid || ' is no longer dismissed', next_attempt_at = ?, "
        "claimed_until = NULL, claimed_by = NULL "
        f"WHERE status = 'pending' AND event = '{DISMISSED_EVENT}' "
        f"AND landslide_fid IN ({fids_sql})",
        (said, _ts(now), *params),
    )
    return cursor.rowcount


def _requeued_at(now: datetime) -> str:
    """The start of the ``last_error`` of a dead alert put back to pending at ``now``, before
    the error it had died of."""
    return f"{REQUEUED}{_ts(now)[:19].replace('T', ' ')} UTC{_WAS_DEAD}"


def withdrawn_unsent(
    conn: sqlite3.Connection, landslide_fid: int, since: str
) -> list[tuple[int, str, str, int | None]]:
    """``(id, channel, event, run_id)`` of the new and grown alerts of ``landslide_fid`` that
    its dismissal withdrew while they waited, at ``since`` (a GeoPackage time) or later: what
    :func:`restore_withdrawn` puts back."""
    rows = conn.execute(
        f"SELECT id, channel, event, run_id FROM {TABLE} WHERE status = 'dead' "
        f"AND landslide_fid = ? AND event IN ({gpkg.sql_values(DETECTION_EVENTS)}) "
        "AND last_error = ? AND next_attempt_at >= ?",
        (int(landslide_fid), _withdrawal(landslide_fid), since),
    )
    return [(int(i), str(c), str(e), None if r is None else int(r)) for i, c, e, r in rows]


def _withdrawal(landslide_fid: int) -> str:
    """The ``last_error`` :func:`withdraw` gives an alert of ``landslide_fid`` that waited."""
    return f"{WITHDRAWN}landslide {int(landslide_fid)} was dismissed"


def restore_withdrawn(
    conn: sqlite3.Connection,
    landslide_fid: int,
    now: datetime,
    since: str,
    keep: Collection[int] = (),
) -> int:
    """Inside the caller's transaction, undo :func:`withdraw` for the new and grown alerts of
    ``landslide_fid``, a landslide no longer dismissed (a reviewer took the dismissal back):
    those it withdrew while they waited go back to pending, due at once, their attempts kept,
    their ``last_error`` saying so (:data:`REQUEUED`, then the withdrawal); those it found dead
    already are dead again with the error they died of (so ``status --check --max-dead`` counts
    them again, and ``alerts retry`` sends them). A withdrawn ``landslide.reinstated`` is not
    among them: the next reinstatement queues its own, nor one a ``landslide.dismissed`` its
    channel may hold names (:func:`_possibly_told`: tried, its answer lost, then withdrawn):
    that channel gets the reinstatement, whose ``landslide`` is the entry as it is now, not
    the alert after the notice that voided it. Only the alerts withdrawn while they waited at
    ``since`` (a GeoPackage time: the dismissal's) or later go back to pending: found in an
    upgrade's walk, those an earlier dismissal withdrew, taken back by a release that left them
    withdrawn, went out months late, after the growth alerts that followed them. The dead get
    their error back whichever dismissal withdrew them (a release before 1.5 kept no time of
    it), and ``alerts retry --dead`` sends them, as it did before the dismissal. The ids
    ``keep`` stay withdrawn (their channels told of the same ground since: the inventory's
    twins). Returns how many went back to pending."""
    said = _withdrawal(landslide_fid)
    was_dead = f"{said}{_WAS_DEAD}"
    # a channel that may hold a dismissal naming one of them is sent the reinstatement, which
    # carries the landslide as it is now, instead of the alert after the notice that voided it
    named: set[tuple[str, str]] = set()
    for channel, payload, status, tried in conn.execute(
        f"SELECT channel, payload, status, tried FROM {TABLE} "
        f"WHERE landslide_fid = ? AND event = '{DISMISSED_EVENT}'",
        (int(landslide_fid),),
    ):
        if _possibly_told(str(status), int(tried)):
            named.update((str(channel), k) for k in json.loads(payload).get("withdraws") or ())
    back, dead_again = [], []
    for i, channel, key, error, withdrawn_at in conn.execute(
        f"SELECT id, channel, idempotency_key, last_error, next_attempt_at FROM {TABLE} "
        f"WHERE status = 'dead' AND landslide_fid = ? "
        f"AND event IN ({gpkg.sql_values(DETECTION_EVENTS)}) "
        "AND substr(COALESCE(last_error, ''), 1, ?) = ?",
        (int(landslide_fid), len(said), said),
    ):
        if int(i) in keep or (str(channel), str(key)) in named:
            continue
        if error == said and str(withdrawn_at) >= since:
            back.append(int(i))
        elif str(error).startswith(was_dead):
            dead_again.append((str(error)[len(was_dead) :], int(i)))
    conn.executemany(f"UPDATE {TABLE} SET last_error = ? WHERE id = ?", dead_again)
    requeued = f"{_requeued_at(now)}{said}"
    conn.executemany(
        f"UPDATE {TABLE} SET status = 'pending', next_attempt_at = ?, last_error = ? WHERE id = ?",
        [(_ts(now), requeued, i) for i in back],
    )
    return len(back)


# the schema versions whose quicklook filename is the host's path, not one under quicklooks.dir
_HOST_PATHS = ("1.0", "1.1")


def _decided_at(stored: object, now: datetime) -> str:
    """The inventory's ``status_changed_at`` as the payload's UTC time to the second; ``now``
    where it is empty or not a time (the file is edited by other tools too)."""
    moment = gpkg.parse_timestamp(stored) or now
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def enqueue_dismissal(
    conn: sqlite3.Connection,
    landslide: Mapping[str, Any],
    geometry_wgs84: BaseGeometry,
    now: datetime,
    note: str | None = None,
) -> int:
    """Inside the caller's transaction, queue a ``landslide.dismissed`` for each channel that
    may hold a new, grown or reinstated alert of ``landslide`` (its inventory row, just
    dismissed; :func:`_possibly_told`): a channel told nothing (its alerts withdrawn before
    any try, or refused at every try) is told nothing now. The notice names the keys of the
    alerts it withdraws; its ``run`` and quicklook are those of the latest of them (the alert
    whose news it takes back), its ``previous_area_m2`` the area that alert gave; its
    ``review`` the decision's time and ``note``, the words given with the decision (not the
    landslide's standing ``review_note``, which may give the reasons of an earlier decision).
    A later dismissal, after one taken back, queues a notice of its own. Returns how many
    were queued."""
    return _enqueue_notice(conn, landslide, geometry_wgs84, now, note, DISMISSED_EVENT, TOLD_SQL)


def enqueue_reinstatement(
    conn: sqlite3.Connection,
    landslide: Mapping[str, Any],
    geometry_wgs84: BaseGeometry,
    now: datetime,
    note: str | None = None,
) -> int:
    """Inside the caller's transaction, queue a ``landslide.reinstated`` for each channel that
    may hold a ``landslide.dismissed`` of ``landslide`` (its inventory row, just confirmed or
    made a candidate again): the channel was told it was a false alarm, and is told now that
    the reviewer took that back. It names the dismissals it withdraws; its ``run``, quicklook
    and ``previous_area_m2`` are those of the latest of them (the last alert of the landslide
    itself that the channel was sent), its ``landslide`` the entry as it is now, its ``review``
    as a dismissal's. Returns how many were queued."""
    told = f"event = '{DISMISSED_EVENT}'"
    return _enqueue_notice(conn, landslide, geometry_wgs84, now, note, REINSTATED_EVENT, told)


def last_review_note(conn: sqlite3.Connection, landslide_fid: int, event: str) -> str | None:
    """The ``review`` note of the latest ``event`` notice of ``landslide_fid`` (any channel,
    withdrawn or not): the words of the decision a follow-up notice completes (a race's)."""
    found = conn.execute(
        f"SELECT payload FROM {TABLE} WHERE landslide_fid = ? AND event = ? "
        "ORDER BY id DESC LIMIT 1",
        (int(landslide_fid), event),
    ).fetchone()
    review = json.loads(found[0]).get("review") if found else None
    return review.get("note") if isinstance(review, dict) else None


def _possibly_told(status: str, tried: int) -> bool:
    """Whether a channel may hold an alert: sent, or tried with an outcome that leaves it open
    (``tried``: a timeout, a 5xx from a proxy after the receiver took the request, a dropped
    connection: the receiver may have processed it, and a delivery that stops waiting does not
    know); not one never tried, nor one refused at every try (a 4xx, an SMTP 5xx: the receiver
    said no). Found in a receiver's walk: an alert whose answer timed out, then withdrawn by a
    dismissal, was followed by no notice, and the receiver that had processed it kept a false
    alarm standing."""
    return status == "sent" or tried > 0


def _tried_as_its_row_says(status: str, attempts: int, last_error: str | None) -> bool:
    """:func:`_possibly_told` of a row of a release before ``tried``, from its ``attempts`` and
    ``last_error``: tried more than once, or once and not refused for good."""
    if status == "sent" or attempts > 1 or attempts <= 0:
        return status == "sent" or attempts > 1
    error = last_error or ""
    if error.startswith(WITHDRAWN):  # what it was before the withdrawal
        died_of = error.split(_WAS_DEAD, 1)[1] if _WAS_DEAD in error else None
    else:
        died_of = error if status == "dead" else None
    # one try: left pending (a failure that is retried), or dead of giving up (max_attempts 1)
    return died_of is None or died_of.startswith(_GAVE_UP)


def _enqueue_notice(
    conn: sqlite3.Connection,
    landslide: Mapping[str, Any],
    geometry_wgs84: BaseGeometry,
    now: datetime,
    note: str | None,
    event: AlertEvent,
    withdrawn_sql: str,
) -> int:
    """:func:`enqueue_dismissal` or :func:`enqueue_reinstatement`: one ``event`` for each
    channel that may hold an alert of ``landslide`` that ``withdrawn_sql`` selects
    (:func:`_possibly_told`), withdrawing them all; but none for a channel that was sent, or
    will be sent, an ``event`` withdrawing the same alerts: the channel's last word is that one
    already (it was sent nothing since that the notice would also withdraw). Keys name the
    revision, so such a notice, after a growth nobody was told of, had a key of its own (found
    in review)."""
    fid = int(landslide["fid"])
    rows = conn.execute(
        f"SELECT channel, idempotency_key, payload, quicklook, status, tried "
        f"FROM {TABLE} WHERE landslide_fid = ? AND {withdrawn_sql} ORDER BY id",
        (fid,),
    ).fetchall()
    by_channel: dict[str, list[tuple[str, dict[str, Any], str | None]]] = defaultdict(list)
    for channel, key, payload, quicklook, status, tried in rows:
        if _possibly_told(str(status), int(tried)):
            by_channel[str(channel)].append((str(key), json.loads(payload), quicklook))
    said: dict[str, list[set[str]]] = defaultdict(list)  # what each channel's notices withdraw
    for channel, payload in conn.execute(
        f"SELECT channel, payload FROM {TABLE} WHERE landslide_fid = ? AND event = ? "
        "AND status IN ('sent', 'pending')",
        (fid, event),
    ):
        said[str(channel)].append(set(json.loads(payload).get("withdraws") or ()))
    review = {
        "decided_at": _decided_at(landslide.get("status_changed_at"), now),
        "note": " ".join(note.split()) or None if note else None,
    }
    queued = 0
    for channel, told in by_channel.items():
        if {k for k, _, _ in told} in said[channel]:
            continue
        _, last, quicklook = told[-1]
        key = idempotency_key(
            str(landslide["uid"]),
            int(landslide["revision"]),
            channel,
            event,
            len(told),
            # to the millisecond: two decisions within a second are two notices
            str(landslide.get("status_changed_at") or review["decided_at"]),
        )
        run = last.get("run") or {}
        told_area = last.get("landslide", {})
        if last.get("event") == DISMISSED_EVENT:  # it gave the area of the alert it withdrew
            previous = told_area.get("previous_area_m2")
        else:
            previous = told_area.get("area_m2")
        row = {**landslide, "previous_area_m2": previous}
        # before 1.2 the filename was the monitor host's own path, never sent again
        old = last.get("schema_version") in _HOST_PATHS
        reference = None if old else last.get("quicklook")
        payload = build_payload(
            idempotency_key=key,
            event=event,
            created_at=now,
            run=run,
            landslide=row,
            geometry_wgs84=geometry_wgs84,
            quicklook=(
                {"filename": str(reference["filename"]), "url": reference.get("url")}
                if isinstance(reference, dict) and reference.get("filename")
                else None
            ),
            withdraws=[k for k, _, _ in told],
            review=review,
        )
        cursor = conn.execute(  # the same decision's notice queued already: nothing
            f"INSERT OR IGNORE INTO {TABLE} (idempotency_key, channel, event, landslide_uid, "
            "landslide_fid, revision, region, run_id, payload, quicklook, created_at, "
            "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                channel,
                event,
                str(landslide["uid"]),
                fid,
                int(landslide["revision"]),
                str(landslide["region"]),
                run.get("id"),
                encode_body(payload).decode(),
                quicklook,
                _ts(now),
                _ts(now),
            ),
        )
        queued += cursor.rowcount
    return queued


@dataclass
class DeliveryReport:
    """What one :meth:`Outbox.deliver` did, and what is left."""

    sent: int = 0
    retrying: int = 0
    dead: int = 0
    pending: int = 0
    # not tried: their channel's secret or login variable is not set (Outbox._mark_waiting)
    waiting_for_settings: int = 0
    # ids of the alerts left untried, as they were, because an earlier alert of their channel
    # failed in this delivery (the channel is down): neither attempted nor counted above
    untried: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def distinct_errors(self) -> list[str]:
        """:attr:`errors` once each, in the order first met, with how many deliveries met it
        where more than one: a webhook posts each alert on its own, so a receiver that refuses
        them all gave one line per alert."""
        counts = Counter(self.errors)
        return [error if n == 1 else f"{error} ({n} deliveries)" for error, n in counts.items()]

    def __str__(self) -> str:
        waiting = self.waiting_for_settings
        return (
            f"alerts sent {self.sent}, failed and retrying {self.retrying}, dead {self.dead}, "
            + (f"waiting for their channel's settings {waiting}, " if waiting else "")
            + f"pending {self.pending}"
        )


def _stopped(moment: datetime) -> Callable[[], datetime]:
    """A clock that always tells ``moment`` (a test's delivery time)."""
    return lambda: moment


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_is_dead(claimed_by: str | None) -> bool:
    """True when ``claimed_by`` names a process of this host that no longer exists."""
    if not claimed_by or claimed_by == _worker_id():
        return False
    host, _, pid = claimed_by.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return process_gone(int(pid))


class Outbox:
    """The outbox of the GeoPackage at ``path`` (created with the inventory).

    ``read_only`` opens an existing file for inspection only (:meth:`counts`, :meth:`rows`,
    :meth:`recently_sent`): nothing is written, and an inventory without an outbox table reads
    as an empty outbox."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            self._conn = gpkg.connect_read_only(self.path)
            # none: an empty stand-in, in the connection's own temp schema
            if TABLE not in gpkg.table_names(self._conn):
                self._conn.execute(_SCHEMA.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
            return
        self._conn = gpkg.connect(self.path, what="inventory")
        with gpkg.transaction(self._conn):
            create_table(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inspection ---------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of rows per status (pending, sent, dead)."""
        rows = self._conn.execute(f"SELECT status, COUNT(*) FROM {TABLE} GROUP BY status")
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        counts.update({status: n for status, n in rows})
        return counts

    def dead_counts(self) -> tuple[int, int]:
        """Dead rows: how many failed for good, and how many were withdrawn (``last_error``
        starting :data:`WITHDRAWN`), counted in SQL without reading the rows."""
        failed, withdrawn = self._conn.execute(
            f"SELECT COALESCE(SUM(NOT starts), 0), COALESCE(SUM(starts), 0) FROM "
            f"(SELECT substr(COALESCE(last_error, ''), 1, ?) = ? AS starts FROM {TABLE} "
            "WHERE status = 'dead')",
            (len(WITHDRAWN), WITHDRAWN),
        ).fetchone()
        return int(failed), int(withdrawn)

    def rows(
        self,
        status: str | None = None,
        *,
        ids: Collection[int] | None = None,
        withdrawn: bool = True,
    ) -> list[dict[str, Any]]:
        """Outbox rows (all columns; ``payload`` decoded), oldest first; optionally of one
        ``status`` and/or with one of ``ids`` only; ``withdrawn=False`` leaves out the alerts
        withdrawn before they were sent (:data:`NOT_WITHDRAWN_SQL`)."""
        where: list[str] = [] if withdrawn else [NOT_WITHDRAWN_SQL]
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if ids is not None:
            where.append(f"id IN ({', '.join('?' * len(ids))})")
            params.extend(int(i) for i in ids)
        sql = f"SELECT * FROM {TABLE}" + (f" WHERE {' AND '.join(where)}" if where else "")
        return self._decoded(sql + " ORDER BY id", params)

    def new_alert_states(self) -> dict[str, Counter[str]]:
        """Per landslide (its uid), what became of its ``landslide.new`` alerts, one per
        channel: how many were ``sent``, are ``pending``, were ``withdrawn`` (its landslide
        dismissed before they went) or went ``dead``; counted in SQL."""
        rows = self._conn.execute(
            f"SELECT landslide_uid, CASE WHEN status = 'dead' AND NOT ({NOT_WITHDRAWN_SQL}) "
            f"THEN 'withdrawn' ELSE status END, COUNT(*) FROM {TABLE} "
            "WHERE event = 'landslide.new' GROUP BY 1, 2"
        )
        states: dict[str, Counter[str]] = defaultdict(Counter)
        for uid, state, n in rows:
            states[uid][state] += n
        return dict(states)

    def recently_sent(
        self, limit: int | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Sent rows, most recently sent first: at most ``limit``, sent at or after ``since``."""
        sql = f"SELECT * FROM {TABLE} WHERE status = 'sent'"
        params: list[Any] = []
        if since is not None:
            sql += " AND sent_at >= ?"
            params.append(_ts(since))
        sql += " ORDER BY sent_at DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return self._decoded(sql, params)

    def _decoded(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        out = []
        for row in self._conn.execute(sql, tuple(params)):
            item = dict(row)
            item["payload"] = json.loads(item["payload"])
            out.append(item)
        return out

    def requeue(
        self,
        ids: Iterable[int] | None = None,
        *,
        now: datetime | None = None,
        except_select: str | None = None,
    ) -> int:
        """Put dead alerts (all, or ``ids``) back to pending with zero attempts, due at once,
        but for those of the landslides an SQL ``except_select`` of fids names (the dismissed:
        their alerts would only be withdrawn again on the next open, and a walk's `retry
        --dead` counted them re-queued); of a ``landslide.dismissed``, the other way round: it
        is put back only while its landslide is among them. With ``except_select`` no alert a
        review decision withdrew is put back (a review notice a later decision took back; an
        alert an overlapping region's twin told instead, or one a dismissal taken back by an
        earlier release left withdrawn): ``ids`` name one to send it all the same.

        Their ``last_error`` becomes :data:`REQUEUED` with the time, followed by the error they
        died of: ``alerts list`` showed a pending alert of 0 attempts with an error that no
        attempt of it had met yet."""
        now = now or _now()
        sql = (
            f"UPDATE {TABLE} SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "claimed_until = NULL, claimed_by = NULL, "
            "last_error = ? || COALESCE(last_error, 'no error recorded') WHERE status = 'dead'"
        )
        if except_select:  # a landslide.dismissed is sent while its landslide stays dismissed
            sql += (
                f" AND CASE WHEN event = '{DISMISSED_EVENT}' "
                f"THEN COALESCE(landslide_fid, -1) IN ({except_select}) "
                f"ELSE COALESCE(landslide_fid, -1) NOT IN ({except_select}) END"
                f" AND COALESCE(last_error, '') NOT LIKE '{WITHDRAWN}%'"
            )
        told = _requeued_at(now)
        with gpkg.transaction(self._conn):
            if ids is None:
                return self._conn.execute(sql, (_ts(now), told)).rowcount
            return sum(
                self._conn.execute(sql + " AND id = ?", (_ts(now), told, i)).rowcount for i in ids
            )

    def dead_of(self, select: str, events: Collection[str] = TOLD_EVENTS) -> list[tuple[int, int]]:
        """``(alert id, landslide fid)`` of the dead alerts of ``events`` (by default those that
        tell of a landslide, not the news of a dismissal) of the landslides an SQL ``select``
        of fids names, by id."""
        which = f"event IN ({gpkg.sql_values(events)})"
        rows = self._conn.execute(
            f"SELECT id, landslide_fid FROM {TABLE} WHERE status = 'dead' AND {which} "
            f"AND landslide_fid IN ({select}) ORDER BY id"
        )
        return [(int(i), int(f)) for i, f in rows]

    # -- delivery -----------------------------------------------------------------------------

    def _claim(self, now: datetime, lease_s: float, limit: int, due_only: bool) -> list[Alert]:
        due = " AND next_attempt_at <= ?" if due_only else ""
        with gpkg.transaction(self._conn):
            # those waiting for their channel's settings last: they stay due and keep their
            # low ids, and a backlog of them took every claim from healthy channels (found in
            # review)
            waiting_last = f"substr(COALESCE(last_error, ''), 1, {len(WAITING)}) = ?"
            candidates = self._conn.execute(
                f"SELECT * FROM {TABLE} WHERE status = 'pending'{due} "
                f"ORDER BY {waiting_last}, id LIMIT ?",
                (_ts(now), WAITING, limit) if due_only else (WAITING, limit),
            ).fetchall()
            claimed = []
            for row in candidates:
                held = row["claimed_until"] is not None and row["claimed_until"] > _ts(now)
                if held and not _claim_is_dead(row["claimed_by"]):
                    continue
                self._conn.execute(
                    f"UPDATE {TABLE} SET claimed_until = ?, claimed_by = ? WHERE id = ?",
                    (_ts(now + timedelta(seconds=lease_s)), _worker_id(), row["id"]),
                )
                claimed.append(
                    Alert(
                        id=row["id"],
                        idempotency_key=row["idempotency_key"],
                        channel=row["channel"],
                        event=row["event"],
                        region=row["region"],
                        landslide_uid=row["landslide_uid"],
                        payload=json.loads(row["payload"]),
                        quicklook=Path(row["quicklook"]) if row["quicklook"] else None,
                        attempts=row["attempts"],
                    )
                )
        return claimed

    def _still_held(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Those of ``alerts`` still pending under this process's claim: a reviewer may have
        dismissed a landslide (:func:`withdraw`) while the channels before were sent to."""
        if not alerts:
            return []
        marks = ", ".join("?" * len(alerts))
        held = {
            row[0]
            for row in self._conn.execute(
                f"SELECT id FROM {TABLE} WHERE id IN ({marks}) AND status = 'pending' "
                "AND claimed_by = ?",
                (*(a.id for a in alerts), _worker_id()),
            )
        }
        return [a for a in alerts if a.id in held]

    def _mark_sent(self, alerts: Sequence[Alert], now: datetime) -> None:
        """``now``: when the channel accepted them. One withdrawn while it was being sent (its
        landslide dismissed) keeps :data:`SENT_AFTER_WITHDRAWAL` as its ``last_error`` and is
        :data:`TRIED_DURING_WITHDRAWAL`: the dismissal found it unsent, and the next open of the
        inventory tells its channel."""
        with gpkg.transaction(self._conn):
            self._conn.executemany(
                f"UPDATE {TABLE} SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
                f"claimed_until = NULL, claimed_by = NULL, tried = CASE WHEN {WITHDRAWN_SQL} "
                f"THEN {TRIED_DURING_WITHDRAWAL} ELSE {TRIED} END, "
                f"last_error = CASE WHEN {WITHDRAWN_SQL} THEN ? END WHERE id = ?",
                [(_ts(now), SENT_AFTER_WITHDRAWAL, a.id) for a in alerts],
            )

    def _release(self, alerts: Sequence[Alert]) -> None:
        if not alerts:
            return
        with gpkg.transaction(self._conn):
            self._conn.executemany(
                f"UPDATE {TABLE} SET claimed_until = NULL, claimed_by = NULL WHERE id = ?",
                [(a.id,) for a in alerts],
            )

    def _mark_failed(
        self,
        alerts: Sequence[Alert],
        error: DeliveryError,
        now: datetime,
        policy: RetryPolicy,
        report: DeliveryReport,
    ) -> None:
        """``now``: when the failure was known (the answer came, or the wait for it ended),
        from which the retry delay and a ``Retry-After`` count."""
        with gpkg.transaction(self._conn):
            for alert in alerts:
                attempts = alert.attempts + 1
                dead = error.permanent or attempts >= policy.max_attempts
                # a server's Retry-After is a lower bound up to the policy's longest delay (a
                # huge one would overflow the date and fail the whole delivery)
                asked = min(error.retry_after_s or 0.0, policy.max_delay_s)
                delay = max(policy.delay_s(attempts), asked)
                retry_at = now + timedelta(seconds=delay)
                told = str(error)
                if dead and not error.permanent:  # said, or a 451 reads as the reason it died
                    told = (
                        f"{_GAVE_UP}{attempts} attempts (alerts.retry.max_attempts "
                        f"{policy.max_attempts}); the last: {told}"
                    )
                if error.maybe_delivered and not error.permanent:  # the receiver may have it
                    self._conn.execute(  # withdrawn meanwhile: the next open follows it up
                        f"UPDATE {TABLE} SET tried = CASE WHEN {WITHDRAWN_SQL} "
                        f"THEN {TRIED_DURING_WITHDRAWAL} ELSE MAX(tried, {TRIED}) END WHERE id = ?",
                        (alert.id,),
                    )
                else:  # judged: nothing reached it (and no earlier try is forgotten)
                    self._conn.execute(
                        f"UPDATE {TABLE} SET tried = ? WHERE id = ? AND tried <= 0",
                        (NOT_REACHED * attempts, alert.id),
                    )
                self._conn.execute(
                    f"UPDATE {TABLE} SET status = ?, attempts = ?, next_attempt_at = ?, "
                    "claimed_until = NULL, claimed_by = NULL, last_error = ? "
                    "WHERE id = ? AND status = 'pending'",  # a withdrawal meanwhile stands
                    ("dead" if dead else "pending", attempts, _ts(retry_at), told, alert.id),
                )
                if dead:
                    report.dead += 1
                else:
                    report.retrying += 1
        report.errors.append(f"{alerts[0].channel}: {error}")

    def _mark_waiting(
        self, alerts: Sequence[Alert], error: AlertConfigError, report: DeliveryReport
    ) -> None:
        """The channel's settings cannot be used in this environment (the environment variable
        of its webhook secret or SMTP login is not set): the alerts stay pending, their
        attempts not counted (nothing was tried), ``last_error`` starting :data:`WAITING`, and
        stay due: the next delivery that finds the variable set sends them, and each one before
        it says what is missing (and ``alerts deliver`` exits 1). They were once given the first
        retry delay, so a delivery within it said they waited out a delay, that ``--now`` would
        send them, and exited 0 with the variable still unset (found in a walkthrough). A
        channel gone from the configuration is refused for good (it goes dead at once:
        :mod:`monitor.alerts.channels`)."""
        kept = 0  # those still pending: a reviewer may have withdrawn some since the claim
        with gpkg.transaction(self._conn):
            for alert in alerts:
                kept += self._conn.execute(
                    f"UPDATE {TABLE} SET claimed_until = NULL, claimed_by = NULL, "
                    "last_error = ? WHERE id = ? AND status = 'pending'",
                    (WAITING + str(error), alert.id),
                ).rowcount
        report.waiting_for_settings += kept
        report.errors.append(f"{alerts[0].channel}: {error} (kept pending)")

    def deliver(
        self,
        routing: AlertRouting,
        *,
        senders: SenderFactory | None = None,
        now: datetime | Callable[[], datetime] | None = None,
        lease_s: float = 300.0,
        limit: int = 1000,
        ignore_retry_delay: bool = False,
    ) -> DeliveryReport:
        """Send every due alert; never raises for a channel's failure (it is recorded).

        ``senders(channel, routing)`` makes the sender of a channel; the default,
        :func:`monitor.alerts.channels.sender_for`, takes the factory of the
        channel's kind (:mod:`monitor.alerts.channels`: SMTP for e-mail, HTTP for webhooks).
        ``ignore_retry_delay`` also sends the pending alerts still waiting out their backoff
        (``alerts deliver --now``); a claim held by a live delivery is respected all the same.

        The clock is read when the delivery starts (which alerts are due, the claims' lease)
        and again when each channel's answer comes, from which its alerts' retry delay (a
        ``Retry-After`` included) and ``sent_at`` count: counted from the start, an answer
        that came after other channels' timeouts had its receiver posted to again before the
        ``Retry-After`` it asked for was over. ``now`` is for tests: a time stops the clock
        there, a callable stands for it."""
        clock: Callable[[], datetime]
        if now is None:
            clock = _now
        elif isinstance(now, datetime):
            clock = _stopped(now)
        else:
            clock = now
        started = clock()
        make_sender = senders or sender_for
        report = DeliveryReport()
        by_channel: dict[str, list[Alert]] = defaultdict(list)
        claimed = self._claim(started, lease_s, limit, due_only=not ignore_retry_delay)
        for alert in claimed:
            by_channel[alert.channel].append(alert)
        try:
            self._send_claimed(by_channel, routing, make_sender, clock, report)
        except KeyboardInterrupt:
            # a stop: the alerts not sent are given back at once, not held until the lease
            # ends (found in a crash walkthrough: a delivery in the same process, `season`'s
            # next run, found them claimed by its own live pid and sent nothing)
            with contextlib.suppress(sqlite3.Error):
                self._release_pending(claimed)
            raise
        report.pending = self.counts()["pending"]
        return report

    def _release_pending(self, alerts: Sequence[Alert]) -> None:
        """Give back the claims of those of ``alerts`` still pending."""
        with gpkg.transaction(self._conn):
            self._conn.executemany(
                f"UPDATE {TABLE} SET claimed_until = NULL, claimed_by = NULL "
                "WHERE id = ? AND status = 'pending'",
                [(a.id,) for a in alerts],
            )

    def _send_claimed(
        self,
        by_channel: Mapping[str, list[Alert]],
        routing: AlertRouting,
        make_sender: SenderFactory,
        clock: Callable[[], datetime],
        report: DeliveryReport,
    ) -> None:
        """Send the claimed alerts, channel by channel, recording each outcome in ``report``."""
        for channel, alerts in by_channel.items():
            try:
                sender = make_sender(channel, routing)
            except AlertConfigError as exc:  # a factory that reads a secret up front
                self._mark_waiting(alerts, exc, report)
                log.warning("alerts for %s not sent, kept pending: %s", channel, exc)
                continue
            except Exception as exc:  # unknown channel kind, a webhook no longer configured
                error = _as_delivery_error(exc)
                error.maybe_delivered = False  # no sender: nothing went
                self._mark_failed(alerts, error, clock(), routing.retry, report)
                log.warning("alerts for %s not sent: %s", channel, exc)
                continue
            size = max(1, sender.batch_size)
            groups = [alerts[i : i + size] for i in range(0, len(alerts), size)]
            for n, group in enumerate(groups):
                group = self._still_held(group)
                if not group:  # withdrawn (its landslide dismissed) since the claim
                    continue
                # a stop (SIGTERM, or Ctrl-C, under interrupt_on_signals) waits for this send to
                # end (each sender bounds it by its timeout_s) and its outcome to be recorded:
                # one that came between the receiver's answer and the record (under load, in
                # the commit) had the alert sent again by the next delivery
                with stops_deferred():
                    try:
                        sender.send(group)
                    except KeyboardInterrupt as stop:  # a stop: what the channel took is sent
                        if accepted_before_stop(stop):
                            self._mark_sent(group, clock())
                        raise
                    except AlertConfigError as exc:  # a secret read at send time: none was tried
                        self._mark_waiting([a for g in groups[n:] for a in g], exc, report)
                        log.warning("alerts for %s not sent, kept pending: %s", channel, exc)
                        break
                    except Exception as exc:  # recorded on the rows; the run goes on
                        error = _as_delivery_error(exc)
                        self._mark_failed(group, error, clock(), routing.retry, report)
                        log.warning("alert delivery to %s failed: %s", channel, error)
                        if not error.permanent:
                            # The channel is down: leave its other alerts as they were (due, not
                            # counted as attempts) instead of waiting out a timeout for each.
                            rest = [a for g in groups[n + 1 :] for a in g]
                            self._release(rest)
                            report.untried += [a.id for a in rest]
                            break
                        continue
                    self._mark_sent(group, clock())
                    report.sent += len(group)
                    log.info("sent %d alert(s) to %s", len(group), channel)


def _as_delivery_error(exc: Exception) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, AlertConfigError):
        return DeliveryError(str(exc))
    if not isinstance(exc, OSError):
        log.error("unexpected error while sending alerts", exc_info=exc)
    # no connection was made (refused, no such host): nothing reached the receiver
    unreached = isinstance(exc, ConnectionRefusedError | socket.gaierror)
    return DeliveryError(f"{type(exc).__name__}: {exc}", maybe_delivered=not unreached)
