"""Candidates the object filter suppressed: stored with their score, no alert, exported; an
inventory written before the filter's columns still opens."""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np
import pandas as pd
import pytest

from monitor.pipeline.object_filter import FEATURES, pack_features
from monitor.store.inventory import Inventory, RegionDetections

D1, D2 = date(2024, 9, 15), date(2024, 9, 20)


def run(inv: Inventory, day: date, cands, routing):
    run_id = inv.start_run(day, ["r"], "archive")
    return inv.apply(run_id, [RegionDetections("r", "ok", candidates=cands)], routing)


def test_a_suppressed_candidate_raises_no_alert_and_is_exported_with_its_score(
    inventory, candidates, square, routing, tmp_path
):
    kept, look_alike = square(0, 0, 100, 100), square(1000, 0, 80, 80)
    cands = candidates([kept, look_alike], filter_score=[0.97, 0.12], suppressed=[False, True])
    changes = run(inventory, D1, cands, routing)

    assert len(changes.new) == 2  # both stored ...
    by_area = {round(c.area_m2): c for c in changes.new}
    assert by_area[10_000].alerts_queued == 2  # ... one e-mail + one webhook for the landslide
    assert by_area[6_400].alerts_queued == 0  # ... none for the suppressed look-alike
    assert changes.alerts_queued == 2
    with inventory.outbox() as box:
        assert box.counts().get("pending", 0) == 2

    path = inventory.export(tmp_path / "inventory.csv")
    table = pd.read_csv(path).set_index("area_m2")
    assert table.loc[6_400.0, "suppressed"] == 1
    assert table.loc[6_400.0, "filter_score"] == pytest.approx(0.12)
    assert table.loc[10_000.0, "suppressed"] == 0
    assert table.loc[10_000.0, "filter_score"] == pytest.approx(0.97)
    assert {"filter_score", "suppressed"} <= set(table.columns)


def test_a_revision_the_filter_passes_lifts_the_suppression_and_alerts(
    inventory, candidates, square, routing
):
    run(
        inventory,
        D1,
        candidates([square(0, 0, 100, 100)], filter_score=0.2, suppressed=True),
        routing,
    )
    grown = run(
        inventory,
        D2,
        candidates([square(0, 0, 100, 150)], filter_score=0.9, suppressed=False),
        routing,
    )
    assert len(grown.grown) == 1 and grown.alerts_queued == 2
    row = inventory.landslides().iloc[0]
    assert row["suppressed"] == 0 and row["filter_score"] == pytest.approx(0.9)


def test_candidates_without_filter_columns_are_not_suppressed(
    inventory, candidates, square, routing
):
    changes = run(inventory, D1, candidates([square(0, 0, 100, 100)]), routing)
    assert changes.alerts_queued == 2
    row = inventory.landslides().iloc[0]
    assert row["suppressed"] == 0 and pd.isna(row["filter_score"])


def _older(path, table, columns):
    """A new inventory at ``path`` with ``columns`` of ``table`` dropped: one written by an
    earlier version."""
    Inventory(path).close()
    with sqlite3.connect(path) as conn:
        for column in columns:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    return path


def test_an_inventory_written_before_the_filter_columns_opens_and_gains_them(
    tmp_path, candidates, square, routing
):
    # the layer as released before the filter
    path = _older(tmp_path / "old.gpkg", "landslides", ["suppressed", "filter_score"])
    with Inventory(path) as inv:
        columns = list(inv.landslides().columns)
        assert {"filter_score", "suppressed"} <= set(columns)  # added when opened
        changes = run(
            inv,
            D1,
            candidates([square(0, 0, 100, 100)], filter_score=0.1, suppressed=True),
            routing,
        )
        assert changes.alerts_queued == 0


def test_observations_written_before_the_logged_features_open_and_gain_them(
    tmp_path, candidates, square, routing
):
    # observations as released before the feature log
    columns = ["features_id", "filter_features"]
    path = _older(tmp_path / "old.gpkg", "landslide_observations", columns)
    with Inventory(path) as inv:
        frame = candidates([square(0, 0, 100, 100)], filter_score=0.9, suppressed=False)
        frame["filter_features"] = [pack_features(np.arange(len(FEATURES), dtype=np.float32))]
        frame["filter_features_id"] = "abc"
        run(inv, D1, frame, routing)
        # the same run date applied again by a run without a filter keeps what was logged
        run(inv, D1, candidates([square(0, 0, 100, 100)]), routing)
        (uid,) = inv.landslides()["uid"]
        logged, other = inv.logged_features([uid, "no such uid"])
    assert other == 0 and list(logged) == [uid] and len(logged[uid]) == 1
    features, made_by = logged[uid][0]
    assert features.tolist() == list(range(len(FEATURES))) and made_by == "abc"


def test_a_changed_cut_acts_on_new_revisions_only(inventory, candidates, square, routing):
    """What an operator who raises or lowers ``filter_cut`` (or switches ``model.manifest``)
    mid-season gets, as docs/configuration.md says: the landslides already in the inventory keep
    their flag and their queued alerts while they are only seen again; a new landslide, or a
    growth, is judged by the new cut."""
    passed, suppressed = square(0, 0, 100, 100), square(1000, 0, 80, 80)
    cands = candidates([passed, suppressed], filter_score=[0.5, 0.12], suppressed=[False, True])
    assert run(inventory, D1, cands, routing).alerts_queued == 2
    # the cut swapped: the first now scores below it, the second above, neither grew
    swapped = candidates([passed, suppressed], filter_score=[0.5, 0.12], suppressed=[True, False])
    changes = run(inventory, D2, swapped, routing)
    assert [c.kind for c in changes.changes] == ["seen", "seen"] and changes.alerts_queued == 0
    rows = inventory.landslides().set_index("area_m2")
    assert rows.loc[10_000.0, "suppressed"] == 0 and rows.loc[6_400.0, "suppressed"] == 1
    with inventory.outbox() as box:
        assert box.counts().get("pending", 0) == 2  # nothing withdrawn
    grown = run(inventory, date(2024, 9, 25), candidates([square(1000, 0, 80, 120)],
                filter_score=0.12, suppressed=False), routing)  # fmt: skip
    assert len(grown.grown) == 1 and grown.alerts_queued == 2  # the growth: the new cut's
