"""``landslide-monitor alerts deliver|list|retry|test``: the alert outbox between runs, and a
test of the channels.

* ``deliver`` sends what is pending through :meth:`Outbox.deliver`, the one delivery path (a
  run uses it too), honouring each alert's retry delay unless ``--now`` is given; the alerts of
  landslides dismissed since they were queued are withdrawn first, never sent;
* ``list`` shows the pending and dead alerts and the most recently sent ones;
* ``retry ID...`` and ``retry --dead`` put dead alerts back to pending (:meth:`Outbox.requeue`);
  the next delivery, ``alerts deliver`` or a run, sends them;
* ``test`` sends one test message to each configured channel (or the ``--channel`` and
  ``--region`` named), through its own sender, and says per channel whether it went
  (:mod:`monitor.alerts.ping`): the SMTP server, its login and each recipient, each webhook's
  url, certificate and secret are tried before a landslide needs them. It touches neither the
  inventory nor the outbox (no lock, no inventory needed) and retries nothing.

``deliver`` and ``retry`` hold the inventory's run lock (:mod:`monitor.store.lock`) while they work,
so they never overlap a run or each other: no two deliveries handle the same rows, and the
outbox's promise (once ``sent``, never sent again) holds as it does within a run. When the lock
is held they exit 75 at once, or wait up to ``--wait`` seconds for it. ``list`` opens the
inventory read-only and works while a run holds the lock.

Exit status: 0 done; 1 some alert failed again (it is pending with a retry delay, or dead; the
output says why), or some channel did not take its test; 2 bad input (the configuration, an
inventory not written yet, an unknown alert id or one that is not dead, an unknown channel or
region); 75 the lock is held.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from models.console import named_or_counted, text_table
from models.datasets import first_names
from monitor import _geopackage as gpkg
from monitor.alerts.outbox import DETECTION_EVENTS, DISMISSED_EVENT, WITHDRAWN, Outbox
from monitor.alerts.payload import REVIEW_EVENTS
from monitor.errors import EXIT_FAILED, EXIT_OK, BadInput, interrupt_on_signals
from monitor.ops._args import add_config, check_regions, existing_inventory, iso_date, seconds
from monitor.store.inventory import Inventory
from monitor.store.landslides import DISMISSED_FIDS_SQL, NOT_DISMISSED_FIDS_SQL
from monitor.store.lock import RunLock

if TYPE_CHECKING:
    from monitor.alerts.senders import DeliveryError
    from monitor.alerts.settings import AlertConfigError, AlertRouting
    from monitor.config import MonitorConfig

__all__ = ["cli_configure", "cli_run", "deliver", "list_alerts", "retry", "test_channels"]

#: Sent alerts that ``alerts list`` shows when neither ``--sent`` nor ``--since`` is given.
DEFAULT_SENT_SHOWN = 10
#: Pending and dead alerts that ``alerts list`` shows of each, oldest first, unless ``--limit``
#: says otherwise (found in a walkthrough of 147 daily runs: 764 pending alerts of a receiver
#: that was down printed 772 lines).
DEFAULT_LIMIT = 50
_ERROR_CHARS = 400  # the last column: a long error wraps without misaligning the others
# (400: an SMTP login error names both variables after the server's answer; --json has all)
#: The columns of ``alerts list --json`` (the payload is left out: it is in the outbox).
_JSON_FIELDS = (
    "id",
    "status",
    "event",
    "channel",
    "landslide_fid",
    "landslide_uid",
    "region",
    "revision",
    "attempts",
    "created_at",
    "next_attempt_at",
    "sent_at",
    "last_error",
    "idempotency_key",
)


#: The regions ``alerts test`` names in a channel's row; the others are counted.
_REGIONS_SHOWN = 3


def _regions_shown(regions: Sequence[str]) -> str:
    """A channel's regions in ``alerts test``'s table: the first few, the others counted
    (found in a survey's walk: 15 regions made rows of some 230 characters)."""
    return named_or_counted(regions, _REGIONS_SHOWN) if regions else "(none)"


def _fate(exc: DeliveryError | AlertConfigError) -> str:
    """What a real alert meeting ``exc`` would do (docs/alerts.md, Delivery guarantee): found in
    a walk, a test's 550 and 451 read alike, one going dead at once and the other retried."""
    from monitor.alerts.settings import AlertConfigError

    if isinstance(exc, AlertConfigError):
        return "a real alert would wait, pending, until it is set right"
    if exc.permanent:
        return "a real alert would go dead at once: `alerts retry --dead` once it is fixed"
    return "a real alert would be retried, with a growing delay, up to max_attempts"


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row as ``alerts list --json`` gives it: :data:`_JSON_FIELDS`, the next attempt
    only of a pending alert (found in a walk: a dead alert's read as scheduled)."""
    shown = {key: row[key] for key in _JSON_FIELDS}
    if row["status"] != "pending":
        shown["next_attempt_at"] = None
    return shown


def _add_common(parser: argparse.ArgumentParser, *, locks: bool) -> None:
    add_config(parser)
    if locks:
        parser.add_argument(
            "--wait",
            type=seconds,
            default=0.0,
            metavar="S",
            help="wait up to S seconds for a run holding the inventory's lock "
            "(default: exit 75 at once)",
        )


def cli_configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    send = actions.add_parser(
        "deliver", help="send the pending alerts whose retry delay is over (all with --now)"
    )
    _add_common(send, locks=True)
    send.add_argument(
        "--now",
        action="store_true",
        help="also send the pending alerts still waiting out their retry delay",
    )
    show = actions.add_parser("list", help="show the pending, dead and recently sent alerts")
    _add_common(show, locks=False)
    show.add_argument(
        "--sent",
        type=int,
        default=None,
        metavar="N",
        help=f"show the N most recently sent alerts (default {DEFAULT_SENT_SHOWN}, or every one "
        "sent since --since; 0: none)",
    )
    show.add_argument(
        "--since",
        type=iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="show the alerts sent on or after this day (UTC)",
    )
    show.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show at most N pending and N dead alerts, the oldest (default {DEFAULT_LIMIT}; "
        "0: all; --json lists all)",
    )
    show.add_argument("--json", action="store_true", help="print the alerts as JSON")
    again = actions.add_parser("retry", help="put dead alerts back to pending")
    _add_common(again, locks=True)
    again.add_argument(
        "ids", type=int, nargs="*", metavar="ID", help="ids of dead alerts (see `alerts list`)"
    )
    again.add_argument("--dead", action="store_true", help="re-queue every dead alert")
    trial = actions.add_parser(
        "test", help="send a test message to each channel and say whether it went"
    )
    _add_common(trial, locks=False)
    trial.add_argument(
        "--channel",
        action="append",
        default=None,
        metavar="CHANNEL",
        help="only this channel: webhook:NAME or email:ADDRESS (`alerts test` lists them), or "
        "just the webhook's name or the address; may be repeated",
    )
    trial.add_argument(
        "--region",
        action="append",
        default=None,
        metavar="NAME",
        help="only the channels this region's alerts go to; may be repeated",
    )


def cli_run(args: argparse.Namespace) -> int:
    from monitor.config import load_config

    config = load_config(args.config)
    if args.action == "test":  # no inventory involved
        return test_channels(config, channels=args.channel, regions=args.region)
    with gpkg.file_errors(config.inventory.path):  # a damaged inventory: named, exit 2
        return _dispatch(config, args)


def _dispatch(config: MonitorConfig, args: argparse.Namespace) -> int:
    if args.action == "deliver":
        return deliver(config, now=args.now, wait_s=args.wait)
    if args.action == "list":
        if args.sent is not None and args.sent < 0:
            raise BadInput(f"--sent {args.sent}: give a number of alerts, 0 or more")
        if args.limit < 0:
            raise BadInput(f"--limit {args.limit}: give a number of alerts, 0 (all) or more")
        return list_alerts(
            config, sent=args.sent, since=args.since, as_json=args.json, shown=args.limit
        )
    if bool(args.ids) == args.dead:
        raise BadInput(
            "alerts retry: give the ids of the dead alerts to re-queue, or --dead for all of "
            "them (not both)"
        )
    return retry(config, None if args.dead else args.ids, wait_s=args.wait)


# --------------------------------------------------------------------------- deliver


def deliver(config: MonitorConfig, *, now: bool = False, wait_s: float = 0.0) -> int:
    """``alerts deliver``: send what is pending, under the run lock; returns the exit status."""
    path = existing_inventory(config)
    # SIGTERM as Ctrl-C (found in a crash walkthrough: a systemd or Kubernetes stop killed the
    # command with a POST in flight, whose alert the receiver took and was sent again): the
    # webhook POST under way is waited for and marked, and the stop says what stays queued.
    # The outbox is opened as the inventory: it withdraws the waiting alerts of dismissed
    # landslides first.
    with (
        interrupt_on_signals(),
        RunLock(path, wait_s=wait_s),
        Inventory(path) as inventory,
        inventory.outbox() as box,
    ):
        # what was due is told by the delivery's start, not its end: an alert that failed
        # early with a short delay may be due again by the end, and was tried all the same
        started = gpkg.timestamp(datetime.now(UTC))
        sent_before = box.counts()["sent"]
        try:
            report = box.deliver(config.alert_routing(), ignore_retry_delay=now)
        except KeyboardInterrupt as stop:
            counts = box.counts()
            stop.add_note(
                f"{counts['sent'] - sent_before} alert(s) sent before the stop; "
                f"{counts['pending']} stay queued in the outbox, which the next delivery sends"
            )
            raise
        pending = box.rows("pending")
        dead, withdrawn = box.dead_counts()
    print(report)
    for error in report.distinct_errors():
        print(f"  alert delivery: {error}")
    # failed in this delivery, or not due when it started (then, with --now, left untried
    # because their channel failed)
    waiting = [row["next_attempt_at"] for row in pending if row["next_attempt_at"] > started]
    if waiting:
        hint = "" if now else "; `alerts deliver --now` sends them at once"
        print(
            f"{len(waiting)} alert(s) wait out their retry delay, the first until "
            f"{_when(min(waiting))} UTC{hint}"
        )
    untried = set(report.untried)
    skipped = [row for row in pending if row["id"] in untried and row["next_attempt_at"] <= started]
    if skipped:
        print(
            f"{len(skipped)} due alert(s) were not tried: their channel failed in this "
            "delivery; the next delivery tries them"
        )
    if dead:
        print(
            f"{dead} dead alert(s) in the outbox: `alerts list` says why, "
            "`alerts retry --dead` re-queues them"
        )
    if withdrawn:  # a total, as the dead line's: not this delivery's withdrawals
        print(
            f"{withdrawn} withdrawn alert(s) in the outbox: a review decision took them back "
            "before they were sent (a dismissal, or a dismissal or reinstatement taken back)"
        )
    if report.waiting_for_settings:
        print(
            f"{report.waiting_for_settings} alert(s) wait for the environment variable named "
            "above: every delivery tries them, the first with it set sends them"
        )
    failed = report.retrying or report.dead or report.waiting_for_settings
    return EXIT_FAILED if failed else EXIT_OK


# --------------------------------------------------------------------------- list


def _when(timestamp: str | None) -> str:
    """``2024-09-15T06:01:00.000Z`` as ``2024-09-15 06:01:00`` (UTC)."""
    return "-" if not timestamp else timestamp[:19].replace("T", " ")


def _one_line(text: str | None) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_CHARS else text[: _ERROR_CHARS - 1] + "…"


def _landslide(row: dict[str, Any]) -> str:
    return f"{row['landslide_fid']} {row['region']}"


def _section(
    title: str,
    rows: list[dict[str, Any]],
    last: tuple[str, str],
    error: bool,
    limit: int = 0,
) -> list[str]:
    """A titled table of alerts; ``last`` is (header, outbox column) of the time column; at most
    ``limit`` rows (0: all), the others counted."""
    if not rows:
        return [f"{title}: none"]
    more = len(rows) - limit if 0 < limit < len(rows) else 0
    rows = rows[:limit] if more else rows
    header = ["id", "event", "channel", "landslide", "attempts", last[0]]
    header += ["last error"] if error else []
    table = [
        [
            str(r["id"]),
            r["event"].removeprefix("landslide."),
            r["channel"],
            _landslide(r),
            str(r["attempts"]),
            _when(r[last[1]]),
            *([_one_line(r["last_error"])] if error else []),
        ]
        for r in rows
    ]
    lines = [f"{title}:", *text_table(header, table, numeric={0, 4})]
    if more:
        lines.append(f"  ... and {more} more (--limit 0 shows all, --json lists all)")
    return lines


def list_alerts(
    config: MonitorConfig,
    *,
    sent: int | None = None,
    since: date | None = None,
    as_json: bool = False,
    shown: int = DEFAULT_LIMIT,
) -> int:
    """``alerts list``: the pending and dead alerts (at most ``shown`` of each, 0: all) and the
    recently sent ones (read-only)."""
    path = existing_inventory(config)
    limit = sent if sent is not None else (None if since else DEFAULT_SENT_SHOWN)
    start = datetime(since.year, since.month, since.day, tzinfo=UTC) if since else None
    Inventory(path, read_only=True).close()  # names a file that holds no inventory
    with Outbox(path, read_only=True) as box:
        counts = box.counts()
        pending, dead = box.rows("pending"), box.rows("dead")
        recent = box.recently_sent(limit, start) if limit != 0 else []
    if as_json:
        listed = {
            "inventory": str(path),
            "counts": counts,
            **{
                name: [_json_row(row) for row in rows]
                for name, rows in (("pending", pending), ("dead", dead), ("sent", recent))
            },
        }
        print(json.dumps(listed, indent=2))
        return EXIT_OK
    now = gpkg.timestamp(datetime.now(UTC))
    due = sum(row["next_attempt_at"] <= now for row in pending)
    lines = [
        f"Alert outbox of {path}: {counts['pending']} pending ({due} due now), "
        f"{counts['dead']} dead, {counts['sent']} sent. Times are UTC.",
        "",
        *_section("Pending", pending, ("next attempt", "next_attempt_at"), True, shown),
        "",
        *_section("Dead", dead, ("queued", "created_at"), True, shown),
    ]
    if limit != 0:
        which = f"Sent since {since}" if since else "Sent"
        if limit is not None and len(recent) == limit:
            which += f", the {limit} most recent"
        lines += ["", *_section(which, recent, ("sent at", "sent_at"), error=False)]
    print("\n".join(lines))
    return EXIT_OK


# --------------------------------------------------------------------------- retry


def retry(config: MonitorConfig, ids: Sequence[int] | None, *, wait_s: float = 0.0) -> int:
    """``alerts retry ID...`` (``ids``) or ``alerts retry --dead`` (``None``), under the run lock.

    Nothing is re-queued unless every id names a dead alert."""
    path = existing_inventory(config)
    with RunLock(path, wait_s=wait_s), Outbox(path) as box:
        return _requeue(box, path, ids)


def _requeue(box: Outbox, path: Path, ids: Sequence[int] | None) -> int:
    """:func:`retry` on the open outbox. The dead alerts of dismissed landslides stay dead:
    an id of one is refused, ``--dead`` leaves them and says which."""
    held = box.dead_of(DISMISSED_FIDS_SQL)  # (alert id, landslide fid)
    if ids is None:
        requeued = box.requeue(except_select=DISMISSED_FIDS_SQL)
    else:
        wanted = list(dict.fromkeys(ids))
        rows = {row["id"]: row for row in box.rows(ids=wanted)}
        found = {i: row["status"] for i, row in rows.items()}
        # every id that cannot be re-queued is named, unknown and not dead alike
        unknown = [str(i) for i in wanted if i not in found]
        alive = [f"{i} is {found[i]}" for i in wanted if i in found and found[i] != "dead"]
        of_dismissed = [f"{i} (landslide {f})" for i, f in held if i in rows]
        # a landslide.dismissed of a landslide no longer dismissed: the next open withdraws it
        taken = dict(box.dead_of(NOT_DISMISSED_FIDS_SQL, (DISMISSED_EVENT,)))
        taken_back = [f"{i} (landslide {f})" for i, f in taken.items() if i in rows]
        # a review notice a later decision withdrew (the dismissal taken back, the reinstatement
        # dismissed again): another notice tells what holds now
        superseded = [
            f"{i} ({rows[i]['event']} of landslide {rows[i]['landslide_fid']})"
            for i in wanted
            if i in rows
            and rows[i]["event"] in REVIEW_EVENTS
            and str(rows[i]["last_error"] or "").startswith(WITHDRAWN)
            and i not in taken
        ]
        problems = []
        if unknown:
            problems.append(
                f"no alert with id {', '.join(unknown)} in the outbox of {path} "
                "(`landslide-monitor alerts list` shows the ids)"
            )
        if alive:
            problems.append(
                f"only dead alerts are re-queued, and alert {'; '.join(alive)}: a pending "
                "alert goes out with the next delivery (`alerts deliver --now` sends it at "
                "once), a sent one is never sent again"
            )
        if of_dismissed:
            problems.append(
                f"alert {', '.join(of_dismissed)} is of a dismissed landslide, whose alerts are "
                "not sent: `landslide-monitor inventory confirm LANDSLIDE` first"
            )
        if taken_back:
            problems.append(
                f"alert {', '.join(taken_back)} is the landslide.dismissed of a landslide no "
                "longer dismissed, which is not sent"
            )
        if superseded:
            problems.append(
                f"alert {', '.join(superseded)} was withdrawn by a later review decision, "
                "which its channel is told of instead"
            )
        if problems:
            raise BadInput("; ".join(problems) + ". Nothing was re-queued.")
        requeued = box.requeue(wanted)
    which = "every dead alert" if ids is None else f"id {', '.join(map(str, ids))}"
    print(
        f"re-queued {requeued} dead alert(s) ({which}); `landslide-monitor alerts deliver` "
        "or the next run sends them"
    )
    if held and ids is None:
        # alert ids and landslide fids both named: a review read the alerts' for landslides'
        alerts = first_names([str(i) for i, _ in held], 10)
        landslides = first_names([str(f) for f in dict.fromkeys(f for _, f in held)], 10)
        print(
            f"left dead: {len(held)} alert(s) of dismissed landslides (alert {alerts} of "
            f"landslide {landslides}); `landslide-monitor inventory confirm LANDSLIDE` puts back "
            "those withdrawn while they waited, and `alerts retry` then re-queues the others"
        )
    # what a review decision withdrew of landslides not dismissed: an alert an overlapping
    # region's twin told instead, or one a dismissal taken back by an earlier release left
    # (a review notice withdrawn is never sent: `retry ID` refuses it)
    withdrawn = box.dead_of(NOT_DISMISSED_FIDS_SQL, DETECTION_EVENTS) if ids is None else []
    if withdrawn:
        print(
            f"left dead: {len(withdrawn)} alert(s) a review decision withdrew (alert "
            f"{first_names([str(i) for i, _ in withdrawn], 10)}): `alerts retry ID` sends one "
            "all the same"
        )
    return EXIT_OK


# --------------------------------------------------------------------------- test


def _routed(config: MonitorConfig, routing: AlertRouting) -> dict[str, list[str]]:
    """Every channel of ``routing`` and the regions whose alerts go to it, in the order the
    configuration names them."""
    routed: dict[str, list[str]] = {channel: [] for channel in routing.channels}
    for region in config.regions:
        for channel in routing.channels_for(region.name):
            routed[channel].append(region.name)
    return routed


def _chosen(asked: Sequence[str], known: Sequence[str]) -> list[str]:
    """The channels of ``known`` that ``asked`` names (``webhook:NAME``, ``email:ADDRESS``, or
    the name or the address alone; an address in any case); :class:`BadInput` naming each one
    that names none."""
    chosen, unknown = [], []
    for name in asked:
        lowered = name.lower()
        found = [
            c
            for c in known
            if c == name
            or (c.startswith("email:") and lowered in (c, c.partition(":")[2]))
            or (c.startswith("webhook:") and c.partition(":")[2] == name)
        ]
        if not found:
            unknown.append(name)
        chosen += found
    if unknown:
        raise BadInput(
            f"--channel {', '.join(unknown)}: no such channel in the configuration (its "
            f"channels: {', '.join(known) or 'none'})"
        )
    return list(dict.fromkeys(chosen))


def test_channels(
    config: MonitorConfig,
    *,
    channels: Sequence[str] | None = None,
    regions: Sequence[str] | None = None,
) -> int:
    """``alerts test``: one test message to each channel of ``config`` (or those of
    ``channels`` and of ``regions``' alerts, both when both are given), sent at once; prints
    what each did and returns the exit status (1 where a channel did not take it)."""
    from monitor.alerts.channels import send_test
    from monitor.alerts.ping import Ping
    from monitor.alerts.senders import DeliveryError
    from monitor.alerts.settings import AlertConfigError

    check_regions(config, regions)
    routing = config.alert_routing()
    routed = _routed(config, routing)
    if not routed:
        raise BadInput(
            f"{config.path or 'the configuration'}: alerts go nowhere: no e-mail recipient or "
            "webhook in alerts or in a region's alerts (docs/alerts.md, Configuring channels)"
        )
    tried = list(routed)
    if channels:
        tried = _chosen(channels, tried)
    if regions:
        wanted = [c for c in tried if set(routed[c]) & set(regions)]
        if not wanted:
            raise BadInput(
                f"--region {', '.join(regions)}: none of "
                f"{'the channels named' if channels else 'the channels'} receives its alerts"
            )
        tried = wanted
    rows, failed = [], 0
    for channel in tried:
        ping = Ping(channel, tuple(routed[channel]))
        try:
            send_test(ping, routing)
            result = "sent"
        except (DeliveryError, AlertConfigError) as exc:
            failed += 1
            result = f"FAILED: {_one_line(str(exc))} ({_fate(exc)})"
        rows.append([channel, _regions_shown(routed[channel]), result])
    print(
        f"Test messages to {len(tried)} channel(s) of {config.path or 'the configuration'}; "
        "nothing was queued, and a failed test is not retried:"
    )
    print("\n".join(text_table(["channel", "regions", "result"], rows)))
    if failed:
        print(
            f"{failed} channel(s) did not take the test: correct what each error names and run "
            "`landslide-monitor alerts test` again (what each says in brackets is what a real "
            "alert meeting that error would do)"
        )
        return EXIT_FAILED
    return EXIT_OK
