"""The inventory update: new / grown / seen, never a duplicate, idempotent per run date."""

from __future__ import annotations

import time
from datetime import date

import pytest

from monitor.store.inventory import Inventory, InventoryError, RegionDetections, StatusChange

D1, D2, D3 = date(2024, 9, 15), date(2024, 9, 20), date(2024, 9, 25)


def run(inv: Inventory, day: date, cands, routing=None, region: str = "r"):
    run_id = inv.start_run(day, [region], "archive")
    return inv.apply(run_id, [RegionDetections(region, "ok", candidates=cands)], routing)


def test_new_then_seen_then_grown_counts_and_times_seen(inventory, candidates, square, routing):
    a, b = square(0, 0, 100, 100), square(1000, 0, 50, 60)
    first = run(inventory, D1, candidates([a, b]), routing)
    assert (len(first.new), len(first.grown), len(first.seen)) == (2, 0, 0)
    assert first.alerts_queued == 4  # 2 landslides x (1 e-mail + 1 webhook)

    # Same footprints five days later: seen, nothing queued.
    second = run(inventory, D2, candidates([a, b]), routing)
    assert (len(second.new), len(second.grown), len(second.seen)) == (0, 0, 2)
    assert second.alerts_queued == 0

    # a grows by 50 % (100x150), b shifts by 3 m (within tolerance, +180 m² < 200 m²): 1 grown.
    third = run(
        inventory, D3, candidates([square(0, 0, 100, 150), square(1003, 0, 50, 60)]), routing
    )
    assert (len(third.new), len(third.grown), len(third.seen)) == (0, 1, 1)
    assert third.alerts_queued == 2
    grown = third.grown[0]
    assert grown.previous_area_m2 == pytest.approx(10_000.0)
    assert grown.area_m2 == pytest.approx(15_000.0)

    table = inventory.landslides().set_index("fid")
    assert len(table) == 2
    assert table["times_seen"].tolist() == [3, 3]
    assert table["revision"].tolist() == [2, 1]
    assert table["first_seen"].tolist() == ["2024-09-15"] * 2
    assert table["last_seen"].tolist() == ["2024-09-25"] * 2
    assert table.loc[2, "area_m2"] == pytest.approx(50 * 60 + 3 * 60)  # union of both footprints
    assert inventory.outbox().counts() == {"pending": 6, "sent": 0, "dead": 0}


def test_same_run_date_twice_adds_nothing(inventory, candidates, square, routing):
    cands = candidates([square(0, 0, 100, 100), square(500, 500, 40, 40)])
    run(inventory, D1, cands, routing)
    again = run(inventory, D1, cands, routing)
    assert (len(again.new), len(again.grown), len(again.seen)) == (0, 0, 2)
    assert again.alerts_queued == 0
    table = inventory.landslides()
    assert len(table) == 2
    assert table["times_seen"].tolist() == [1, 1]
    assert inventory.outbox().counts()["pending"] == 4
    runs = inventory.runs()
    assert runs["status"].tolist() == ["ok", "ok"]
    assert runs["n_new"].tolist() == [0, 2]


def test_dates_run_out_of_order_keep_the_runs_of_first_and_last_seen(inventory, candidates, square):
    """first_run_id and last_run_id name the runs of its first and latest detection: a past
    date run again (by hand, or in the scheduler's catch-up for a region behind) moved
    last_run_id to that older run while last_seen kept the later date, and an earlier date
    run afterwards left first_run_id on the later run that first_seen no longer named."""
    cands = candidates([square(0, 0, 100, 100)])
    run(inventory, D2, cands)
    latest = run(inventory, D3, cands).run_id
    run(inventory, D2, cands)  # D2 again
    earliest = run(inventory, D1, cands).run_id  # an earlier day, run after the others
    row = inventory.get(1)
    assert (row["first_seen"], row["last_seen"]) == (D1.isoformat(), D3.isoformat())
    assert (row["first_run_id"], row["last_run_id"]) == (earliest, latest)
    again = run(inventory, D3, cands).run_id  # the latest date again: its run is the latest
    assert inventory.get(1)["last_run_id"] == again


def test_slow_creep_alerts_once_it_adds_up(inventory, candidates, square, routing):
    run(inventory, D1, candidates([square(0, 0, 100, 100)]), routing)
    # +6 % per run: not grown against 10 000 m² ...
    creep = run(inventory, D2, candidates([square(0, 0, 100, 106)]), routing)
    assert [c.kind for c in creep.changes] == ["seen"]
    # ... but 12 % against the area of the last revision after the next step.
    more = run(inventory, D3, candidates([square(0, 0, 100, 112)]), routing)
    assert [c.kind for c in more.changes] == ["grown"]
    assert more.grown[0].previous_area_m2 == pytest.approx(10_600.0)  # area before this run
    row = inventory.landslides().iloc[0]
    assert row["revision"] == 2
    assert row["revision_area_m2"] == pytest.approx(11_200.0)


def test_outlines_that_move_by_a_pixel_each_run_are_not_growth(inventory, candidates, square):
    """The footprint is the union of every run's outline: a slide drawn the same size each run,
    its edges a few metres off each time, gathered 12 % more footprint by the third run and
    was told as grown (a walk's 147 daily runs: 364 growth alerts beside 400 new, of slides
    that never grew after their day)."""
    days = [date(2024, 9, d) for d in range(15, 21)]
    offsets = [(0, 0), (6, 0), (-6, 0), (0, 6), (0, -6), (6, 6)]
    kinds = [
        [c.kind for c in run(inventory, day, candidates([square(dx, dy, 100, 100)])).changes]
        for day, (dx, dy) in zip(days, offsets, strict=True)
    ]
    assert kinds == [["new"], *[["seen"]] * 5]
    row = inventory.get(1)
    assert row["area_m2"] == pytest.approx(112 * 112 - 3 * 6 * 6)  # the union of the six
    assert (row["revision"], row["revision_area_m2"]) == (1, pytest.approx(10_000.0))


def test_new_ground_beside_a_scar_already_in_the_baseline_is_growth(inventory, candidates, square):
    """Once a slide's scar is in the baseline, a run sees only the ground it has taken since:
    a 4000 m² detection beside a 1 ha landslide is smaller than the landslide, but ground
    beyond the tolerance of its every outline (2000 m² past the 10 m) is growth."""
    run(inventory, D1, candidates([square(0, 0, 100, 100)]))
    inside = run(inventory, D2, candidates([square(0, 92, 100, 18)]))  # 8 m past its edge
    assert [c.kind for c in inside.changes] == ["seen"]
    above = run(inventory, D3, candidates([square(0, 100, 100, 40)]))  # to 30 m past that
    assert [c.kind for c in above.changes] == ["grown"]
    assert inventory.get(1)["revision_area_m2"] == pytest.approx(14_000.0)


def test_ground_drawn_beyond_the_outline_last_told_is_growth_however_it_came(
    inventory, candidates, square
):
    """Growth is judged against the outline of the last revision, what recipients were told,
    not against the footprint: a run that drew a sliver of new ground (under the growth) put it
    in the footprint, and a later run drawing the slide's new part whole was measured past it
    and told nothing. An outline an older release left (its area no longer the revision's) is
    no reference: the footprint is, until the next revision."""
    day = [date(2024, 9, d) for d in (15, 16, 17)]
    run(inventory, day[0], candidates([square(0, 0, 100, 100)]))
    sliver = run(inventory, day[1], candidates([square(0, 108, 100, 10)]))  # 800 m² past 10 m
    assert [c.kind for c in sliver.changes] == ["seen"]
    whole = run(inventory, day[2], candidates([square(0, 100, 100, 25)]))  # 1500 m² past 10 m
    assert [c.kind for c in whole.changes] == ["grown"]
    assert inventory.get(1)["revision_area_m2"] == pytest.approx(12_500.0)


def test_an_outline_an_older_release_left_behind_is_no_reference(inventory, candidates, square):
    run(inventory, D1, candidates([square(0, 0, 100, 100)]))
    run(inventory, D2, candidates([square(0, 108, 100, 10)]))
    with inventory._conn:  # as a release before revision_wkb writes a revision: the area alone
        inventory._conn.execute("UPDATE landslides SET revision_area_m2 = 11800.0")
    judged_by_footprint = run(inventory, D3, candidates([square(0, 100, 100, 25)]))
    assert [c.kind for c in judged_by_footprint.changes] == ["seen"]  # none past 128 m


def test_tolerance_decides_same_or_new(inventory, candidates, square):
    run(inventory, D1, candidates([square(0, 0, 100, 100)]))
    near = run(inventory, D2, candidates([square(108, 0, 10, 10)]))  # 8 m gap: same, +100 m²
    far = run(inventory, D3, candidates([square(130, 0, 50, 50)]))  # 12 m from the union: new
    assert [c.kind for c in near.changes] == ["seen"]
    assert [c.kind for c in far.changes] == ["new"]
    assert len(inventory.landslides()) == 2


def test_split_detections_and_one_run_overlaps_never_duplicate(inventory, candidates, square):
    # Two overlapping detections in one run (e.g. from two overlapping regions) are one landslide.
    first = run(inventory, D1, candidates([square(0, 0, 100, 100), square(50, 50, 100, 100)]))
    assert [c.kind for c in first.changes] == ["new"]
    assert first.new[0].area_m2 == pytest.approx(17_500.0)
    # Later the landslide appears as two pieces: both update the one row.
    later = run(inventory, D2, candidates([square(0, 0, 40, 40), square(100, 100, 40, 40)]))
    assert [c.kind for c in later.changes] == ["seen"]
    assert len(inventory.landslides()) == 1


def test_match_across_utm_zones(inventory, candidates):
    import shapely
    from pyproj import Transformer
    from shapely.geometry import box

    def transform(fn, geometry):
        return shapely.transform(geometry, fn, interleaved=False)

    # A landslide near 78°E, the 43N/44N boundary, first seen on a 43N grid, then on a 44N grid.
    to43 = Transformer.from_crs(4326, 32643, always_xy=True).transform
    to44 = Transformer.from_crs(4326, 32644, always_xy=True).transform
    lonlat = box(77.999, 11.5, 78.0005, 11.5012)
    run(inventory, D1, candidates([transform(to43, lonlat)], crs="EPSG:32643"))
    again = run(inventory, D2, candidates([transform(to44, lonlat)], crs="EPSG:32644"))
    assert [c.kind for c in again.changes] == ["seen"]
    table = inventory.landslides()
    assert len(table) == 1 and table["local_epsg"].tolist() == [32643]


def test_dismissed_landslides_update_but_never_alert(inventory, candidates, square, routing):
    first = run(
        inventory, D1, candidates([square(0, 0, 100, 100), square(900, 0, 50, 50)]), routing
    )
    fid, other = first.new[0].fid, first.new[1].fid
    assert inventory.outbox().counts() == {"pending": 4, "sent": 0, "dead": 0}
    # Dismissed before delivery (the mail server was down): its two alerts are withdrawn.
    assert inventory.set_status(fid, "dismissed") == StatusChange("candidate", withdrawn=2)
    with inventory.outbox() as box:
        assert box.counts() == {"pending": 2, "sent": 0, "dead": 2}
        assert {r["landslide_fid"] for r in box.rows("pending")} == {other}
        assert [r["last_error"] for r in box.rows("dead")] == [
            f"withdrawn: landslide {fid} was dismissed"
        ] * 2
    grown = run(inventory, D2, candidates([square(0, 0, 100, 200)]), routing)
    assert [c.kind for c in grown.changes] == ["grown"]
    assert grown.alerts_queued == 0
    row = inventory.get(fid)
    assert row["status"] == "dismissed" and row["status_changed_at"] is not None
    # taken back: the two withdrawn alerts go out after all (none was sent: nothing to reinstate)
    assert inventory.set_status(first.new[0].uid, "confirmed") == StatusChange(
        "dismissed", restored=2
    )
    assert inventory.landslides(status="confirmed")["fid"].tolist() == [fid]
    with inventory.outbox() as box:
        assert box.counts() == {"pending": 4, "sent": 0, "dead": 0}


def test_a_review_repeated_keeps_the_time_of_the_change(inventory, candidates, square):
    """Found by a new user: confirming a confirmed landslide again (a second reviewer, a
    script run twice) moved ``status_changed_at`` to the repeat, so the inventory no longer
    said when the decision was made."""
    (change,) = run(inventory, D1, candidates([square(0, 0, 100, 100)])).new
    assert inventory.set_status(change.fid, "confirmed") == StatusChange("candidate", 0)
    decided = inventory.get(change.fid)["status_changed_at"]
    assert decided is not None
    time.sleep(0.01)  # the timestamps have milliseconds
    assert inventory.set_status(change.uid, "confirmed") == StatusChange("confirmed", 0)
    assert inventory.get(change.fid)["status_changed_at"] == decided
    assert inventory.set_status(change.fid, "dismissed") == StatusChange("confirmed", 0)
    assert inventory.get(change.fid)["status_changed_at"] > decided


def test_alerts_queued_before_a_dismissal_are_withdrawn_when_the_inventory_opens(
    tmp_path, candidates, square, routing
):
    """An inventory whose dismissed landslide still has alerts waiting (queued before dismissals
    withdrew them, or re-queued with ``alerts retry``) withdraws them when opened for writing:
    a delivery through it never sends them."""
    path = tmp_path / "inventory.gpkg"
    with Inventory(path) as inventory:
        first = run(inventory, D1, candidates([square(0, 0, 100, 100)]), routing)
        fid = first.new[0].fid
        inventory.set_status(fid, "dismissed")
        with inventory.outbox() as box:
            assert box.requeue() == 2  # as `alerts retry --dead` does
            assert box.counts()["pending"] == 2
    with Inventory(path) as inventory, inventory.outbox() as box:
        assert box.counts() == {"pending": 0, "sent": 0, "dead": 2}


def test_status_errors_name_the_landslide(inventory: Inventory, candidates, square) -> None:
    run(inventory, D1, candidates([square(0, 0, 100, 100)]))
    with pytest.raises(InventoryError, match="no landslide with fid 99"):
        inventory.set_status(99, "confirmed")
    with pytest.raises(InventoryError, match="unknown status 'gone'"):
        inventory.set_status(1, "gone")  # type: ignore[arg-type]  # the refusal pinned


def test_region_status_and_partial_run(inventory, candidates, square):
    run_id = inventory.start_run(D1, ["a", "b", "c"], "archive")
    changes = inventory.apply(
        run_id,
        [
            RegionDetections(
                "a", "ok", setting="S1+S2", candidates=candidates([square(0, 0, 90, 90)])
            ),
            RegionDetections(
                "b", "no-data", message="no S1 or S2 acquisition in 2024-08-16/2024-09-15"
            ),
            RegionDetections("c", "failed", message="ValueError: bad stack"),
        ],
    )
    assert changes.regions == {"a": "ok", "b": "no-data", "c": "failed"}
    runs = inventory.runs().iloc[0]
    assert runs["status"] == "partial" and runs["message"] == "c: ValueError: bad stack"
    regions = inventory.run_regions(run_id).set_index("region")
    assert regions.loc["a", ["status", "setting", "n_candidates", "n_new"]].tolist() == [
        "ok",
        "S1+S2",
        1,
        1,
    ]
    assert regions.loc["b", "status"] == "no-data" and regions.loc["c", "status"] == "failed"


def test_a_run_is_applied_once(inventory, candidates, square):
    run_id = inventory.start_run(D1, ["r"], "archive")
    inventory.apply(run_id, [RegionDetections("r", candidates=candidates([square(0, 0, 50, 50)]))])
    with pytest.raises(InventoryError, match=f"run {run_id} is ok, not running"):
        inventory.apply(run_id, [])


def test_candidates_in_geographic_crs_are_refused(inventory, candidates):
    from shapely.geometry import box

    run_id = inventory.start_run(D1, ["r"], "archive")
    bad = candidates([box(76.1, 11.4, 76.101, 11.401)], crs="EPSG:4326")
    with pytest.raises(InventoryError, match="region 'r': candidates are in geographic EPSG:4326"):
        inventory.apply(run_id, [RegionDetections("r", candidates=bad)])
    assert inventory.runs().iloc[0]["status"] == "failed"


def test_region_status_is_checked():
    with pytest.raises(InventoryError, match="region 'r': status 'done' is not ok, no-data"):
        RegionDetections("r", "done")  # type: ignore[arg-type]


def test_the_tables_allow_exactly_the_statuses_of_the_literal_types(inventory):
    """The CHECK lists, derived from the Literal types, are the documented statuses (written
    out here, so a Literal that drifts fails), and SQLite itself refuses any other value."""
    import sqlite3

    conn = sqlite3.connect(inventory.path)
    schema = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    conn.close()
    for table, listed in (
        ("landslides", "'candidate', 'confirmed', 'dismissed'"),
        ("landslide_observations", "'new', 'grown', 'seen'"),
        ("runs", "'running', 'ok', 'partial', 'failed', 'interrupted'"),
        ("run_regions", "'pending', 'ok', 'no-data', 'failed'"),
    ):
        assert f"IN ({listed})" in schema[table], table
    run_id = inventory.start_run(D1, ["r"], "archive")
    bad = sqlite3.connect(inventory.path)
    for status in ("ok", "partial", "failed", "interrupted", "running"):
        bad.execute("UPDATE runs SET status = ? WHERE run_id = ?", (status, run_id))
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        bad.execute("UPDATE runs SET status = 'done' WHERE run_id = ?", (run_id,))
    bad.close()


def test_an_alertable_landslide_without_a_channel_is_said(inventory, candidates, square, caplog):
    """Alerted as new with nowhere to send it: marked alerted (adding a channel later does not
    send it), so the run says so."""
    with caplog.at_level("WARNING", logger="monitor.store.landslides"):
        first = run(inventory, D1, candidates([square(0, 0, 100, 100), square(900, 0, 50, 50)]))
    assert first.alerts_queued == 0
    fid = first.new[0].fid
    assert inventory.get(fid)["alerted_on"] == "2024-09-15"
    assert f"r: landslide {fid} is new and alertable, but the region has no alert channel" in (
        caplog.text
    )
    assert caplog.text.count("has no alert channel") == 1  # once per region and run


def test_overlapping_regions_keep_an_entry_each_and_alert_each_region(
    inventory, candidates, square
):
    """Found by a new user: with two overlapping regions the second region's detection joined
    the first's entry (matching ignored the region), so the second region's own recipients
    were never alerted, and which region won depended on their order in the file."""
    from monitor.alerts.settings import AlertRouting, AlertSettings, AlertTargets

    hook = {"name": "valley-team", "url": "http://127.0.0.1:9/v", "secret_env": "LM_TEST_SECRET"}
    routing = AlertRouting.from_settings(
        AlertSettings(), {"upper": None, "valley": AlertTargets(webhooks=[hook])}
    )
    scar = square(0, 0, 100, 80)
    run_id = inventory.start_run(D1, ["upper", "valley"], "archive")
    first = inventory.apply(
        run_id,
        [
            RegionDetections("upper", "ok", candidates=candidates([scar], region="upper")),
            RegionDetections("valley", "ok", candidates=candidates([scar], region="valley")),
        ],
        routing,
    )
    assert sorted(c.region for c in first.new) == ["upper", "valley"]
    assert first.alerts_queued == 1  # the valley's webhook; the upper region has no channel
    table = inventory.landslides()
    assert sorted(table["region"]) == ["upper", "valley"]
    # the next run: each region's detection matches its own entry again
    again = run(inventory, D2, candidates([scar], region="valley"), routing, region="valley")
    assert [(c.kind, c.region) for c in again.changes] == [("seen", "valley")]


def test_an_older_inventory_reads_the_same_read_only_as_after_its_upgrade(
    inventory, candidates, square
):
    """Found in review: opened read-only (the review map), an inventory of before the second
    look read its alerted landslides as never alerted; the upgrade marks them alerted when
    first seen. Both now take the values from one table."""
    import sqlite3

    run(inventory, D1, candidates([square(0, 0, 100, 100)]))
    path = inventory.path
    inventory.close()
    with sqlite3.connect(path) as conn:  # as an older version wrote it
        for column in ("confirmation", "alerted_on", "suppressed"):
            conn.execute(f"ALTER TABLE landslides DROP COLUMN {column}")
    columns = ["confirmation", "alerted_on", "suppressed", "first_seen"]
    with Inventory(path, read_only=True) as old:
        read_only = old.landslides()[columns].to_dict("records")
    assert read_only == [
        {"confirmation": "undated", "alerted_on": "2024-09-15", "suppressed": 0,
         "first_seen": "2024-09-15"}
    ]  # fmt: skip
    with Inventory(path) as upgraded:
        assert upgraded.landslides()[columns].to_dict("records") == read_only


def test_a_dismissal_taken_back_restores_no_alert_a_twin_has_told_since(
    inventory, candidates, square
):
    """Found in review: the upper region's entry was dismissed before its alert went, the
    valley's entry of the same ground then told the shared recipient; taking the dismissal
    back put the upper alert back too, and the recipient got the ground twice, under two ids.
    A recipient the valley did not tell still gets it."""
    from monitor.alerts.settings import AlertRouting, AlertSettings, AlertTargets

    hook = {"name": "upper-team", "url": "http://127.0.0.1:9/u", "secret_env": "LM_TEST_SECRET"}
    shared = AlertSettings(
        webhooks=[{"name": "ops", "url": "http://127.0.0.1:9/ops", "secret_env": "LM_TEST_SECRET"}]
    )
    routing = AlertRouting.from_settings(
        shared, {"upper": AlertTargets(webhooks=[hook]), "valley": None}
    )
    run(inventory, D1, candidates([square(900, 0, 90, 90)], region="upper"), routing, "upper")
    (upper,) = inventory.landslides()["fid"].tolist()
    assert inventory.set_status(int(upper), "dismissed").withdrawn == 2
    later = run(
        inventory, D2, candidates([square(900, 0, 90, 90)], region="valley"), routing, "valley"
    )
    assert later.alerts_queued == 1  # ops: the upper entry's alert was withdrawn
    assert inventory.set_status(int(upper), "confirmed").restored == 1
    with inventory.outbox() as box:
        pending = sorted((r["channel"], r["region"]) for r in box.rows("pending"))
        (kept,) = box.rows("dead")
    assert pending == [("webhook:ops", "valley"), ("webhook:upper-team", "upper")]
    assert (kept["channel"], kept["last_error"]) == (
        "webhook:ops", f"withdrawn: landslide {upper} was dismissed",
    )  # fmt: skip


def test_a_recipient_both_overlapping_regions_share_is_alerted_once(inventory, candidates, square):
    """Found in review: with an entry per region, the recipients both regions inherit got the
    same landslide twice, under two ids; and after the upgrade, an old landslide of the overlap
    alerted once by the first region was alerted again to them through the second's new entry.
    The second region's own recipients are still told."""
    from monitor.alerts.settings import AlertRouting, AlertSettings, AlertTargets

    hook = {"name": "valley-team", "url": "http://127.0.0.1:9/v", "secret_env": "LM_TEST_SECRET"}
    shared = AlertSettings(
        webhooks=[{"name": "ops", "url": "http://127.0.0.1:9/ops", "secret_env": "LM_TEST_SECRET"}]
    )
    routing = AlertRouting.from_settings(
        shared, {"upper": None, "valley": AlertTargets(webhooks=[hook])}
    )
    both = lambda scars: [  # noqa: E731
        RegionDetections(r, "ok", candidates=candidates(scars, region=r))
        for r in ("upper", "valley")
    ]
    run_id = inventory.start_run(D1, ["upper", "valley"], "archive")
    first = inventory.apply(run_id, both([square(0, 0, 100, 80)]), routing)
    channels = sorted(r["channel"] for r in inventory.outbox().rows())
    assert first.alerts_queued == 2 and channels == ["webhook:ops", "webhook:valley-team"]
    # the upgrade's case: the upper region alerted a landslide alone, the valley's first
    # entry of it comes later and tells its own team only
    run(inventory, D2, candidates([square(900, 0, 90, 90)], region="upper"), routing, "upper")
    later = run(
        inventory, D3, candidates([square(900, 0, 90, 90)], region="valley"), routing, "valley"
    )
    assert [c.kind for c in later.changes] == ["new"] and later.alerts_queued == 1
    assert sorted(r["channel"] for r in inventory.outbox().rows())[-2:] == [
        "webhook:valley-team",
        "webhook:valley-team",
    ]
    # what was told is read from the outbox: a recipient added to the shared alerts since the
    # upper region's alert never had it, and gets the valley's (found in review)
    run(inventory, date(2024, 9, 26), candidates([square(2000, 0, 90, 90)], region="upper"),
        routing, "upper")  # fmt: skip
    duty = {"name": "duty", "url": "http://127.0.0.1:9/duty", "secret_env": "LM_TEST_SECRET"}
    wider = AlertRouting.from_settings(
        AlertSettings(webhooks=[*shared.webhooks, duty]),
        {"upper": None, "valley": AlertTargets(webhooks=[hook])},
    )
    before = len(inventory.outbox().rows())
    run(inventory, date(2024, 9, 27), candidates([square(2000, 0, 90, 90)], region="valley"),
        wider, "valley")  # fmt: skip
    added = sorted(r["channel"] for r in inventory.outbox().rows()[before:])
    assert added == ["webhook:duty", "webhook:valley-team"]


def test_a_shared_recipient_gets_one_growth_alert_per_ground_and_run(inventory, candidates, square):
    """Found in review: where regions overlap, each region's entry of one landslide grew in the
    same run and a recipient both regions send to got two `landslide.grown` alerts of one
    ground. Each region's own team is still told, and a growth in a later run is news again."""
    from monitor.alerts.settings import AlertRouting, AlertSettings, AlertTargets

    secret = "LM_TEST_SECRET"
    shared = AlertSettings(
        webhooks=[{"name": "ops", "url": "http://127.0.0.1:9/o", "secret_env": secret}]
    )
    hooks = {
        r: AlertTargets(
            webhooks=[{"name": f"{r}-team", "url": f"http://127.0.0.1:9/{r}", "secret_env": secret}]
        )
        for r in ("upper", "valley")
    }
    routing = AlertRouting.from_settings(shared, hooks)

    def both(day: date, scar) -> list[tuple[str, str]]:
        before = len(inventory.outbox().rows())
        run_id = inventory.start_run(day, ["upper", "valley"], "archive")
        inventory.apply(
            run_id,
            [RegionDetections(r, "ok", candidates=candidates([scar], region=r)) for r in hooks],
            routing,
        )
        return sorted((r["event"], r["channel"]) for r in inventory.outbox().rows()[before:])

    assert both(D1, square(0, 0, 100, 80)) == [
        ("landslide.new", "webhook:ops"),
        ("landslide.new", "webhook:upper-team"),
        ("landslide.new", "webhook:valley-team"),
    ]
    grown = [
        ("landslide.grown", "webhook:ops"),
        ("landslide.grown", "webhook:upper-team"),
        ("landslide.grown", "webhook:valley-team"),
    ]
    assert both(D2, square(0, 0, 100, 120)) == grown  # one to ops, not two
    assert both(D3, square(0, 0, 100, 160)) == grown  # the next growth is told again


def test_a_renamed_region_starts_new_entries_without_alerting_its_recipients_again(
    inventory, candidates, square, routing
):
    """docs/configuration.md said a renamed region's known landslides come back "with new
    alerts": they come back as new entries, but the recipients that were told of that ground
    (the old name's alerts in the outbox) are not told again; a dismissal stays with the old
    entry, so a dismissed landslide that never went out is alerted under the new name."""
    kept, dismissed = square(0, 0, 100, 80), square(900, 0, 90, 90)
    first = run(inventory, D1, candidates([kept, dismissed], region="old"), routing, "old")
    assert first.alerts_queued == 4  # two landslides, a webhook and an e-mail each
    inventory.set_status(int(inventory.landslides(region="old").fid.max()), "dismissed")
    renamed = run(inventory, D2, candidates([kept, dismissed], region="new"), routing, "new")
    assert [c.kind for c in renamed.changes] == ["new", "new"]
    assert renamed.alerts_queued == 2  # the dismissed one only, its old alerts withdrawn
    assert len(inventory.landslides(region="old")) == 2
    assert len(inventory.landslides(region="new")) == 2
    again = run(inventory, D3, candidates([kept, dismissed], region="new"), routing, "new")
    assert [c.kind for c in again.changes] == ["seen", "seen"] and again.alerts_queued == 0


def test_a_landslide_first_drawn_in_pieces_is_told_as_new_once(
    inventory, candidates, square, routing
):
    """Found on a walk: radar drew one slide as three pieces, two confirmed and alerted, one
    waiting for its second look; the detection that covered all three updated the piece it
    overlapped most, the waiting one, which was then alerted as new: three `new` alerts for
    one landslide. The covering detection now grows an alerted piece it covers."""
    pieces = [square(0, 0, 80, 70), square(100, 0, 40, 50), square(160, 0, 40, 40)]
    first = run(
        inventory, D1, candidates(pieces, confirmation=[None, "radar-repeat", "radar-repeat"]),
        routing,
    )  # fmt: skip
    assert [c.kind for c in first.changes] == ["new"] * 3
    assert first.alerts_queued == 4  # the two confirmed pieces x (1 e-mail + 1 webhook)
    whole = run(inventory, D2, candidates([square(0, 0, 200, 70)], confirmation="optical"), routing)
    (change,) = whole.changes
    assert (change.kind, change.fid) == ("grown", 2)  # the larger alerted piece, 2000 m²
    assert change.area_m2 == pytest.approx(14_000.0)
    events = sorted((r["event"], r["landslide_fid"]) for r in inventory.outbox().rows())
    assert events == [
        ("landslide.grown", 2),
        ("landslide.grown", 2),
        ("landslide.new", 2),
        ("landslide.new", 2),
        ("landslide.new", 3),
        ("landslide.new", 3),
    ]
    table = inventory.landslides().set_index("fid")
    assert table["alerted_on"].isna().tolist() == [True, False, False]  # the waiting piece
    # a detection that covers less than half of an alerted landslide beside the one it
    # overlaps most still updates that one
    beside = [square(2000, 0, 60, 60), square(2075, 0, 60, 60)]
    first = run(inventory, D3, candidates(beside, confirmation=["optical", None]), routing)
    alerted, waiting = (c.fid for c in first.changes)
    later = run(
        inventory,
        date(2024, 9, 30),
        candidates([square(2050, 0, 90, 60)], confirmation="optical"),  # 1/6 of the alerted
        routing,
    )
    assert [c.fid for c in later.changes] == [waiting] != [alerted]
    # found in review: where the landslide it overlaps most was alerted itself, that one grows,
    # not a small alerted neighbour the detection covers
    pair = [square(4000, 0, 400, 400), square(4430, 0, 30, 30)]
    first = run(inventory, date(2024, 10, 5), candidates(pair, confirmation="optical"), routing)
    large, small = (c.fid for c in first.changes)
    covering = square(4300, 0, 200, 100)  # 10 000 m² of the large one, all of the small one
    later = run(
        inventory, date(2024, 10, 10), candidates([covering], confirmation="optical"), routing
    )
    assert [c.fid for c in later.changes] == [large] != [small]


def test_an_older_date_run_again_after_a_later_one_changes_nothing(
    inventory, candidates, square, routing
):
    """Found in a walkthrough: landslides A (1100 m²) and B (1000 m²) drawn on D1; A grew over
    most of B by D3; D1 run again matched B's detection to A (the ring around the detection
    counted for A), absorbed B into A and rewrote D1's observation of A with the later area."""
    a, b = square(0, 0, 55, 20), square(20, -40, 50, 20)
    run(inventory, D1, candidates([a, b]))
    grown = square(0, -30, 70, 50)  # A by D3: 3500 m², over 500 m² of B's 1000 m²
    run(inventory, D3, candidates([grown]))
    before = inventory.landslides().set_index("fid")[["area_m2", "times_seen"]]
    assert before["area_m2"].tolist() == pytest.approx([3500.0, 1000.0])
    again = run(inventory, D1, candidates([a, b]), routing)
    after = inventory.landslides().set_index("fid")[["area_m2", "times_seen"]]
    assert after.equals(before)
    assert sorted(c.fid for c in again.seen) == [1, 2] and again.new == []
    observations = inventory._conn.execute(
        "SELECT landslide_fid, run_date, area_m2 FROM landslide_observations ORDER BY 1, 2"
    ).fetchall()
    assert [tuple(o) for o in observations] == [
        (1, D1.isoformat(), 1100.0), (1, D3.isoformat(), 3500.0), (2, D1.isoformat(), 1000.0)
    ]  # fmt: skip
    assert again.alerts_queued == 0


def test_a_sliver_of_overlap_does_not_outrank_a_long_shared_edge(inventory, candidates, square):
    """Found in review: with the detection's area inside a footprint ranked first, a 1 m² corner
    clipped from a small landslide beat a large one whose whole edge the detection ran along."""
    large, small = square(0, 0, 100, 100), square(129, 129, 31, 31)
    run(inventory, D1, candidates([large, small]))
    along = square(0, 105, 130, 25)  # 5 m above the large one's top edge, 1 m² of the small
    assert along.intersection(small).area == pytest.approx(1.0)
    changes = run(inventory, D2, candidates([along]))
    assert [(c.fid, c.kind) for c in changes.changes] == [(1, "grown")]
    assert inventory.get(2)["area_m2"] == pytest.approx(961.0)


def test_a_growth_drawn_without_a_picture_keeps_the_latest_picture(
    inventory, candidates, square, routing
):
    """Found in a walkthrough of 147 daily runs: a run draws pictures of a region's 20 largest
    detections, and a landslide that grew in a run that drew none of it lost the picture it
    had (81 of 261 entries, and their growth alerts, had none). The latest picture stays; a
    growth drawn with a picture takes the new one."""
    first = square(0, 0, 100, 100)
    run(inventory, D1, candidates([first], quicklook="ql/2024-09-15/r/candidate-001-aaaa.png"))
    run(inventory, D2, candidates([square(0, 0, 100, 150)], quicklook=None), routing)
    (row,) = inventory.landslides().itertuples()
    assert row.revision == 2 and row.quicklook == "ql/2024-09-15/r/candidate-001-aaaa.png"
    run(
        inventory,
        D3,
        candidates([square(0, 0, 100, 250)], quicklook="ql/2024-09-25/r/candidate-001-bbbb.png"),
        routing,
    )
    (row,) = inventory.landslides().itertuples()
    assert row.revision == 3 and row.quicklook == "ql/2024-09-25/r/candidate-001-bbbb.png"
    grown = [r for r in inventory.outbox().rows() if r["event"] == "landslide.grown"]
    assert grown and all(r["payload"]["quicklook"] is not None for r in grown)
