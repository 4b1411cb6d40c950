"""Persistence and event dating in the inventory (monitor.pipeline.dating, docs/operations.md):
an early radar-only detection waits for a second look before it is alerted; the second look
(optical, or newer radar) alerts it once; each detection narrows the event bracket."""

from __future__ import annotations

import json
import sqlite3
from datetime import date

from monitor.alerts.payload import validate_payload
from monitor.store.inventory import Inventory, RegionDetections

D1, D2, D3 = date(2024, 8, 20), date(2024, 8, 26), date(2024, 9, 2)


def run(inv: Inventory, day: date, cands, routing):
    run_id = inv.start_run(day, ["r"], "archive")
    return inv.apply(run_id, [RegionDetections("r", "ok", candidates=cands)], routing)


def radar_only(candidates, geometry, **extra):
    """A detection dated by Sentinel-1 alone, on one scene: not confirmed."""
    columns = {
        "setting": "S1",
        "s1_event_after": "2024-08-07",
        "s1_event_before": "2024-08-19",
        "s2_event_after": None,
        "s2_event_before": None,
        "event_after": "2024-08-07",
        "event_before": "2024-08-19",
        "confirmation": None,
        "post_latest": "2024-08-19",
    }
    return candidates([geometry], **(columns | extra))


def optical(candidates, geometry, **extra):
    """The same landslide seen by Sentinel-2 (clear looks on 08-14 and 08-24)."""
    columns = {
        "s1_event_after": "2024-08-07",
        "s1_event_before": "2024-08-19",
        "s2_event_after": "2024-08-14",
        "s2_event_before": "2024-08-24",
        "event_after": "2024-08-14",
        "event_before": "2024-08-19",
        "confirmation": "optical",
        "post_latest": "2024-08-24",
    }
    return candidates([geometry], **(columns | extra))


def new_alerts(inv: Inventory) -> list[tuple[str, int]]:
    """(event, landslide) of the webhook channel's alerts, in order."""
    with sqlite3.connect(inv.path) as conn:
        rows = conn.execute(
            "SELECT event, landslide_fid FROM alert_outbox WHERE channel LIKE 'webhook%' "
            "ORDER BY id"
        )
        return [(r[0], r[1]) for r in rows]


def last_payload(inv: Inventory) -> dict:
    with sqlite3.connect(inv.path) as conn:
        (text,) = conn.execute("SELECT payload FROM alert_outbox ORDER BY id DESC").fetchone()
    return json.loads(text)


def test_radar_first_then_optical_is_one_entry_and_one_new_alert(
    inventory, candidates, square, routing
):
    slide = square(0, 0, 120, 90)
    first = run(inventory, D1, radar_only(candidates, slide), routing)
    assert [c.kind for c in first.changes] == ["new"] and first.alerts_queued == 0
    row = inventory.get(1)
    assert row["confirmation"] is None and row["event_before"] == "2024-08-19"

    second = run(inventory, D2, optical(candidates, slide), routing)
    assert [c.kind for c in second.changes] == ["seen"]
    assert new_alerts(inventory) == [("landslide.new", 1)]
    row = inventory.get(1)
    assert row["confirmation"] == "optical"
    # the bracket is refined: S2 saw it unchanged on 08-14, S1 changed by 08-19
    assert (row["event_after"], row["event_before"]) == ("2024-08-14", "2024-08-19")
    assert (row["s2_event_after"], row["s2_event_before"]) == ("2024-08-14", "2024-08-24")

    third = run(inventory, D3, optical(candidates, slide), routing)
    assert [c.kind for c in third.changes] == ["seen"] and third.alerts_queued == 0
    assert len(inventory.landslides()) == 1
    assert new_alerts(inventory) == [("landslide.new", 1)]
    payload = last_payload(inventory)["landslide"]
    assert payload["event_after"] == "2024-08-14" and payload["event_before"] == "2024-08-19"
    assert payload["event_dating"]["s2"] == {"after": "2024-08-14", "before": "2024-08-24"}
    assert payload["confirmation"] == "optical"


def test_a_later_window_whose_baseline_holds_the_change_keeps_the_lower_bound(
    inventory, candidates, square, routing
):
    """Found measuring the dating against the simulator's event days: a slide of 08-25, dated
    (08-19, 08-30] by runs whose post windows began by 08-19. A month later the run's post
    window begins 08-28: its baseline holds the change, and its lower bound is the baseline's
    last scene, 08-27, after the event. Narrowing took it, (08-27, 08-30], and the inventory
    said the slide happened after a day it had already happened on."""

    def seen(day: date, window: str, after: str, before: str) -> None:
        dating = {"s1_event_after": after, "s1_event_before": before}
        dating |= {"event_after": after, "event_before": before, "post_date": window}
        run(inventory, day, radar_only(candidates, slide, **dating), routing)

    slide = square(0, 0, 120, 90)
    seen(date(2024, 8, 31), "2024-08-01", "2024-08-13", "2024-08-30")
    # a run whose window began by the stored lower bound saw the days after it in its own
    # window: its lower bound narrows the bracket
    seen(date(2024, 9, 1), "2024-08-07", "2024-08-19", "2024-08-30")
    row = inventory.get(1)
    assert (row["s1_event_after"], row["s1_event_before"]) == ("2024-08-19", "2024-08-30")
    seen(date(2024, 9, 27), "2024-08-28", "2024-08-27", "2024-09-02")
    row = inventory.get(1)
    assert (row["s1_event_after"], row["s1_event_before"]) == ("2024-08-19", "2024-08-30")
    assert (row["event_after"], row["event_before"]) == ("2024-08-19", "2024-08-30")


def test_a_change_seen_once_by_radar_and_never_again_is_never_alerted(
    inventory, candidates, square, routing
):
    run(inventory, D1, radar_only(candidates, square(0, 0, 120, 90)), routing)
    run(inventory, D2, candidates([square(2000, 0, 50, 50)], confirmation="optical"), routing)
    assert inventory.get(1)["confirmation"] is None
    assert new_alerts(inventory) == [("landslide.new", 2)]


def test_a_second_radar_look_confirms_in_a_later_run(inventory, candidates, square, routing):
    slide = square(0, 0, 120, 90)
    run(inventory, D1, radar_only(candidates, slide), routing)
    # the next day's run sees the same scenes: still one look, no alert
    run(inventory, date(2024, 8, 21), radar_only(candidates, slide), routing)
    assert new_alerts(inventory) == []
    # the run after the next scene (08-31) sees the change in two scenes: radar-repeat
    later = radar_only(candidates, slide, confirmation="radar-repeat", post_latest="2024-08-31")
    run(inventory, D3, later, routing)
    row = inventory.get(1)
    assert (row["confirmation"], row["alerted_on"]) == ("radar-repeat", D3.isoformat())
    assert new_alerts(inventory) == [("landslide.new", 1)]


def test_an_alerted_landslide_s_growth_is_alerted_whatever_the_filter_scores_it(
    inventory, candidates, square, routing
):
    """Alerted, then a growth the object filter scored below its cut, then another growth: each
    growth of a landslide already alerted is alerted as grown, never a second 'new'. Found by a
    disaster agency's walk: a slide alerted at 1.4 ha grew to 3.5 ha, its grown outline scored
    0.15 against a cut of 0.16, the entry turned suppressed and its recipients were never told
    (and the review map said "suppressed: no alert" of a landslide they had been sent)."""
    run(inventory, D1, optical(candidates, square(0, 0, 100, 100)), routing)
    grown = optical(candidates, square(0, 0, 100, 200), suppressed=True, filter_score=0.05)
    run(inventory, D2, grown, routing)
    row = inventory.get(1)
    assert (row["suppressed"], row["filter_score"]) == (0, 0.05)
    passed = optical(candidates, square(0, 0, 100, 400), suppressed=False, filter_score=0.9)
    run(inventory, D3, passed, routing)
    assert new_alerts(inventory) == [
        ("landslide.new", 1),
        ("landslide.grown", 1),
        ("landslide.grown", 1),
    ]
    assert inventory.get(1)["alerted_on"] == D1.isoformat()


def test_a_never_alerted_landslide_s_suppressed_growth_stays_quiet(
    inventory, candidates, square, routing
):
    """Suppressed from the start, it grows and is still suppressed: no alert; a revision the
    filter passes alerts it as new."""
    low = {"suppressed": True, "filter_score": 0.05}
    run(inventory, D1, optical(candidates, square(0, 0, 100, 100), **low), routing)
    run(inventory, D2, optical(candidates, square(0, 0, 100, 200), **low), routing)
    assert new_alerts(inventory) == [] and inventory.get(1)["suppressed"] == 1
    passed = optical(candidates, square(0, 0, 100, 400), suppressed=False, filter_score=0.9)
    run(inventory, D3, passed, routing)
    assert new_alerts(inventory) == [("landslide.new", 1)]


def test_a_reviewer_confirmation_alerts_a_pending_landslide(inventory, candidates, square, routing):
    slide = square(0, 0, 120, 90)
    run(inventory, D1, radar_only(candidates, slide), routing)
    # an fid read from the table is a numpy integer: it names the landslide as an int does (it
    # was taken for a uid and raised AttributeError: no .lower())
    (fid,) = inventory.landslides()["fid"].to_numpy()
    assert inventory.get(fid)["fid"] == 1
    inventory.set_status(fid, "confirmed")
    run(inventory, D2, radar_only(candidates, slide), routing)
    assert new_alerts(inventory) == [("landslide.new", 1)]
    # what confirmed it is the reviewer: the payload said "undated" (a stack that cannot date),
    # beside the Sentinel-1 bracket that dated it
    payload = last_payload(inventory)
    validate_payload(payload)
    assert payload["landslide"]["confirmation"] == "reviewer"
    assert payload["landslide"]["event_dating"]["s1"] == {
        "after": "2024-08-07",
        "before": "2024-08-19",
    }
    assert inventory.get(fid)["confirmation"] is None  # a second look has still not come


def test_older_inventories_gain_the_dating_columns(tmp_path, candidates, square, routing):
    path = tmp_path / "old.gpkg"
    with Inventory(path):
        pass
    with Inventory(path) as inv:  # one landslide alerted before event dating existed
        run(inv, D1, candidates([square(0, 0, 100, 100)]), routing)
    with sqlite3.connect(path) as conn:
        for column in ("event_after", "event_before", "confirmation", "alerted_on"):
            conn.execute(f"ALTER TABLE landslides DROP COLUMN {column}")
        conn.execute("DELETE FROM alert_outbox")
    with Inventory(path) as inv:
        # it was alerted when first seen: seen again, it is not alerted a second time
        assert (inv.get(1)["confirmation"], inv.get(1)["alerted_on"]) == ("undated", "2024-08-20")
        run(inv, D2, optical(candidates, square(0, 0, 100, 100)), routing)
        assert new_alerts(inv) == []
        assert inv.get(1)["event_before"] == "2024-08-19"


def test_a_growth_alert_s_previous_area_is_the_area_its_recipients_were_told(
    inventory, candidates, square, routing
):
    """Found by a new user: the new alert, sent at the second look, gave the footprint of both
    looks (9,800 m² here), but the growth alert's previous area was the first look's revision
    (9,000 m²): recipients read a landslide that shrank before it grew."""
    run(inventory, D1, radar_only(candidates, square(0, 0, 100, 90)), routing)
    run(inventory, D2, optical(candidates, square(0, 0, 100, 98)), routing)  # +9 %: seen
    told = last_payload(inventory)
    assert told["event"] == "landslide.new"
    assert told["landslide"]["area_m2"] == 9_800.0
    # growth is measured from the area told, not the first look's 9,000 m² (found in review:
    # 9,950 m² was a growth of 1.5 % over what recipients read)
    assert inventory.get(1)["revision_area_m2"] == 9_800.0
    slight = run(
        inventory, date(2024, 8, 30), optical(candidates, square(0, 0, 100, 99.5)), routing
    )
    assert [c.kind for c in slight.changes] == ["seen"] and slight.alerts_queued == 0
    run(inventory, D3, optical(candidates, square(0, 0, 100, 130)), routing)
    grown = last_payload(inventory)
    assert grown["event"] == "landslide.grown"
    assert (grown["landslide"]["previous_area_m2"], grown["landslide"]["area_m2"]) == (
        9_800.0,
        13_000.0,
    )


def test_a_landslide_drawn_without_a_bracket_is_dated_by_the_stack_that_drew_it(
    inventory, candidates, square, routing
):
    """Found by a disaster agency's walk: drawn by an event run (no dating in its stack, scenes
    up to 08-31), a landslide was alerted three weeks later by a monitoring run as having
    happened "by 09-22", the first bracket that run gave; the inventory knew it was there by
    08-31. The earliest of its stacks' newest acquisitions (``drawn_by``) bounds the event."""
    slide = square(0, 0, 120, 90)
    undated = {
        **{f"{s}_event_{b}": None for s in ("s1", "s2") for b in ("after", "before")},
        "event_after": None,
        "event_before": None,
        "confirmation": "undated",
        "post_latest": "2024-08-31",
    }
    run(inventory, date(2024, 9, 1), candidates([slide], **undated), routing)
    row = inventory.get(1)
    assert (row["drawn_by"], row["event_after"], row["event_before"]) == (
        "2024-08-31",
        None,
        "2024-08-31",
    )
    later = {
        "s1_event_after": None,
        "s1_event_before": "2024-09-22",
        "s2_event_after": None,
        "s2_event_before": None,
        "event_after": None,
        "event_before": "2024-09-22",
        "confirmation": "radar-repeat",
        "post_latest": "2024-09-22",
    }
    run(inventory, date(2024, 9, 23), candidates([slide], **later), routing)
    row = inventory.get(1)
    assert (row["drawn_by"], row["s1_event_before"], row["event_before"]) == (
        "2024-08-31",
        "2024-09-22",
        "2024-08-31",
    )
    # a bracket that begins after it is another event on the same ground: it stands
    from monitor.store.landslides import refined_dating

    stored = {"s1_event_after": "2024-09-05", "s1_event_before": "2024-09-22"}
    refined = refined_dating({**stored, "drawn_by": "2024-08-31"}, [])
    assert (refined["event_after"], refined["event_before"]) == ("2024-09-05", "2024-09-22")


def test_the_stack_bound_does_not_loosen_a_tighter_bracket(inventory, candidates, square, routing):
    run(inventory, D1, optical(candidates, square(0, 0, 100, 100)), routing)
    row = inventory.get(1)  # optical's bracket ends 08-19, before its stack's newest, 08-24
    assert (row["drawn_by"], row["event_after"], row["event_before"]) == (
        "2024-08-24",
        "2024-08-14",
        "2024-08-19",
    )


def test_a_landslide_nobody_was_told_of_stays_suppressed_when_it_grows(
    inventory, candidates, square, routing
):
    """Found in review: the rule keyed on `alerted_on`, which a region without channels sets
    too; channels added later then got a `landslide.grown` of a growth the filter held back,
    with no `landslide.new` before it. It keys on an alert in the outbox, not withdrawn."""
    run(inventory, D1, optical(candidates, square(0, 0, 100, 100)), None)  # no channels
    assert inventory.get(1)["alerted_on"] == D1.isoformat() and new_alerts(inventory) == []
    grown = optical(candidates, square(0, 0, 100, 200), suppressed=True, filter_score=0.05)
    run(inventory, D2, grown, routing)
    assert new_alerts(inventory) == [] and inventory.get(1)["suppressed"] == 1


def test_a_confirmed_landslide_alerted_over_the_filter_is_no_longer_flagged(
    inventory, candidates, square, routing
):
    """A reviewer's confirmation alerts a suppressed landslide when it is detected again: then
    it was told, and the flag goes (docs/alerts.md: never for a landslide alerted already)."""
    low = {"suppressed": True, "filter_score": 0.05}
    run(inventory, D1, optical(candidates, square(0, 0, 100, 100), **low), routing)
    inventory.set_status(1, "confirmed")
    run(inventory, D2, optical(candidates, square(0, 0, 100, 200), **low), routing)
    assert new_alerts(inventory) == [("landslide.new", 1)]
    assert inventory.get(1)["suppressed"] == 0
