"""``landslide-monitor inventory list``: the inventory as a table in the terminal, one landslide
a line, with what became of its alert: the quick look before an export or the review map.

Each line gives the landslide's ``fid`` (what ``inventory confirm``/``dismiss`` take), region,
review status, area, the runs that first and last drew it, the event bracket (the landslide
happened after the first day and by the second, ``?`` where a bound is unknown:
docs/operations.md, "Event dating") and its alert: the run date that alerted it as new, or
why none was raised (dismissed; suppressed by the object filter, with its score; waiting for a
second look to confirm it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import date
from typing import Any

import pandas as pd

from models.console import text_table
from monitor.errors import BadInput
from monitor.store.records import LANDSLIDE_STATUSES

__all__ = ["alert_state", "format_inventory"]

_HEADER = ("fid", "region", "status", "area ha", "first seen", "last seen", "event", "alert")


def _text(value: Any) -> str | None:
    """A stored date or text, None where the column is empty (NULL reads as None or NaN)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return str(value)


def delivery(states: Mapping[str, int] | None) -> str:
    """What became of a landslide's ``new`` alerts, one per channel (counts by outcome:
    :meth:`monitor.alerts.outbox.Outbox.new_alert_states`): ``sent``, ``queued``,
    ``withdrawn``, ``dead``, or the counts where they differ (``1 sent, 1 queued``); empty
    where none was queued (no recipient)."""
    if not states:
        return ""
    said = {"sent": "sent", "pending": "queued", "withdrawn": "withdrawn", "dead": "dead"}
    kinds = [(said[k], n) for k, n in states.items() if n and k in said]
    if len(kinds) == 1:
        return kinds[0][0]
    return ", ".join(f"{n} {kind}" for kind, n in sorted(kinds, key=lambda kind: kind[0]))


def delivery_kind(states: Mapping[str, int]) -> str:
    """One word for a landslide's ``new`` alerts, for the counts: ``queued`` while one is
    pending, ``sent`` where one went, else ``withdrawn`` or ``dead``."""
    if states.get("pending"):
        return "queued"
    if states.get("sent"):
        return "sent"
    return "withdrawn" if states.get("withdrawn") else "dead"


def alert_state(row: dict[str, Any]) -> str:
    """What became of a landslide's ``new`` alert, by the rules of the inventory
    (:meth:`monitor.store.landslides.ChangeWriter.write`): ``new on D`` (the run date that
    alerted it); or why none was raised: ``none (dismissed)``, ``suppressed (score S)`` (the
    object filter's), ``awaiting a second look`` (no second look has confirmed it), or
    ``with its next detection`` (confirmed by a reviewer, who stands for both, since it was
    last drawn)."""
    alerted = _text(row.get("alerted_on"))
    if alerted is not None:
        return f"new on {alerted}"
    if row.get("status") == "dismissed":
        return "none (dismissed)"
    if row.get("status") == "confirmed":
        return "with its next detection"
    if row.get("suppressed"):
        score = row.get("filter_score")
        if score is None or pd.isna(score):
            return "suppressed"
        return f"suppressed (score {float(score):.2f})"
    if _text(row.get("confirmation")) is None:
        return "awaiting a second look"
    return "not alerted"


def _bracket(row: dict[str, Any]) -> str:
    after, before = _text(row.get("event_after")), _text(row.get("event_before"))
    if after is None and before is None:
        return "-"
    return f"{after or '?'}..{before or '?'}"


def format_inventory(
    frame: pd.DataFrame,
    *,
    regions: Sequence[str] = (),
    statuses: Sequence[str] = (),
    deliveries: Mapping[str, Mapping[str, int]] | None = None,
    since: date | None = None,
    configured: Collection[str] = (),
) -> list[str]:
    """The lines ``inventory list`` prints for ``frame`` (:meth:`Inventory.landslides`), kept to
    ``regions`` and ``statuses`` where given, and to those first seen on or after ``since``:
    the table, then a line of counts. With
    ``deliveries`` (by landslide uid, :meth:`~monitor.alerts.outbox.Outbox.new_alert_states`),
    an alerted landslide's line and the counts say whether its alerts were sent, are queued or
    were withdrawn (found in a crash walkthrough: "new on D" and "34 alerted" were said of
    alerts never sent). A region neither ``configured`` nor held by the inventory is refused
    (:class:`BadInput`) with the ones it holds; a configured one without a landslide lists
    none (found by an agency's walk: each quiet valley of 60 was an error, exit 2)."""
    held = sorted(set(frame["region"]))
    unknown = [r for r in regions if r not in held and r not in configured]
    if unknown:
        raise BadInput(
            f"no region {', '.join(map(repr, unknown))} in the configuration or the inventory; "
            f"the inventory's regions: {', '.join(held) if held else 'none (it is empty)'}"
        )
    if regions:
        frame = frame[frame["region"].isin(regions)]
    if statuses:
        frame = frame[frame["status"].isin(statuses)]
    if since is not None:  # found in a walkthrough of 37 regions: 178 lines, no way to narrow
        frame = frame[frame["first_seen"].astype(str).str[:10] >= since.isoformat()]
    records = frame.to_dict("records")
    if not records:
        narrowed = regions or statuses or since is not None
        return ["no landslide in the inventory" + (" matches" if narrowed else "")]
    states = [alert_state(r) for r in records]
    outcomes = [
        (deliveries or {}).get(str(r.get("uid"))) if s.startswith("new on") else None
        for r, s in zip(records, states, strict=True)
    ]
    # with the outbox read, an alerted landslide none of whose alerts it holds had none queued:
    # no channel (found in a walk: "new on D" and "1 alerted" were said of it), or its twin of
    # an overlapping region told its recipients
    unsent = "none queued" if deliveries is not None else ""
    became = [
        delivery(o) if o else unsent if s.startswith("new on") else ""
        for s, o in zip(states, outcomes, strict=True)
    ]
    states = [f"{s} ({b})" if b else s for s, b in zip(states, became, strict=True)]
    rows = [
        [
            str(r["fid"]),
            str(r["region"]),
            str(r["status"]),
            f"{float(r['area_m2']) / 1e4:.2f}",
            str(r["first_seen"]),
            str(r["last_seen"]),
            _bracket(r),
            state,
        ]
        for r, state in zip(records, states, strict=True)
    ]
    by_status = frame["status"].value_counts()
    counts = ", ".join(f"{int(by_status.get(s, 0))} {s}" for s in LANDSLIDE_STATUSES)
    kinds = [
        "alerted" if s.startswith("new on") else "suppressed" if s.startswith("suppressed") else s
        for s in states
    ]
    told = sorted(Counter(kinds).items(), key=lambda kind: (-kind[1], kind[0]))
    delivered = Counter(delivery_kind(o) for o in outcomes if o)
    if deliveries is not None:  # those alerted with no alert queued: counted too
        alerted = sum(s.startswith("new on") for s in states)
        if none := alerted - sum(delivered.values()):
            delivered["none queued"] = none
    of_alerted = ", ".join(f"{n} {kind}" for kind, n in sorted(delivered.items()))
    said = ", ".join(
        f"{n} {kind}" + (f" ({of_alerted})" if kind == "alerted" and of_alerted else "")
        for kind, n in told
    )
    return [
        *text_table(_HEADER, rows, numeric={0, 3}),
        f"{len(records)} landslide(s): {counts}. Alerts: {said}",
    ]
