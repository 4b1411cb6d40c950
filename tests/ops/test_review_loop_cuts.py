"""bench/review_loop_cuts.py: cut rules of the review loop recomputed from a draw's tables, on a
small case worked by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.ops.ops_fixtures import load_bench


def _scene(touches: list[list[int]], scores: list[float]) -> dict[str, Any]:
    return {
        "scene": "val/s1",
        "area_km2": 1.0,
        "event_area_m2": [2000.0, 3000.0],  # two labelled landslides, 0 and 1
        "touches": touches,
        "unknown": [False] * len(scores),
        "scores": scores,
    }


def _row(score: float, events: list[str]) -> dict[str, Any]:
    return {"region": "h1", "run_date": "2024-06-17", "score": score, "suppressed": False,
            "events": events, "older": False}  # fmt: skip


def _tables(cuts: Any) -> dict[str, Any]:
    # calibration: the bundled chain at 0.3 finds landslide 0 with two false objects
    bundled = {"cut": 0.3, "scenes": [_scene([[0], [], []], [0.9, 0.5, 0.4])]}
    # the loop: landslide 0 at 0.8, landslide 1 at 0.3, false objects at 0.6 and 0.2
    loop = {"cut": 0.1, "scenes": [_scene([[0], [1], [], []], [0.8, 0.3, 0.6, 0.2])]}
    # the refit alone: as the bundled chain's candidates, other scores
    refit = {"cut": 0.2, "scenes": [_scene([[0], [], []], [0.7, 0.1, 0.4])]}
    held = [_row(0.5, ["a"]), _row(0.25, ["b"]), _row(0.22, []), _row(0.1, [])]
    return {
        "calibration": {cuts.BUNDLED: bundled, cuts.LOOP: loop, cuts.REFIT: refit},
        "heldout": {cuts.BUNDLED: held, cuts.LOOP: held, cuts.REFIT: held},
        "heldout_events": {cuts.BUNDLED: 3, cuts.LOOP: 3, cuts.REFIT: 3},
    }


def test_the_rules_recomputed_by_hand() -> None:
    cuts = load_bench("review_loop_cuts")
    tables = _tables(cuts)
    # the old rule: the highest cut at which the loop finds 1 landslide: 0.80
    assert cuts.rule_count(tables) == (cuts.LOOP, pytest.approx(0.80))
    # the budget (half of 2 false objects): the lowest cut with at most 1, past the 0.2 one
    budget = cuts.RULES["false-alarm budget 0.5 at matched recall, else the refit alone"]
    manifest, cut = budget(tables)
    assert (manifest, cut) == (cuts.LOOP, pytest.approx(0.21))
    assert cuts.calibration_found(tables["calibration"][cuts.LOOP], cut) == (
        {("val/s1", 0), ("val/s1", 1)},
        1,
    )
    # held-out at 0.21: rows 0.5, 0.25 and 0.22 kept; one false alarm, two landslides
    scored = cuts.held_out(tables["heldout"][manifest], 3, cut)
    assert scored.false_alarms == 1 and scored.on_no_landslide == 1
    assert scored.detected == {("h1", "2024-06-17", "a"), ("h1", "2024-06-17", "b")}

    # a loop whose members find no calibration landslide: no cut matches, so the refit alone
    # (landslide 0 at 0.7, false objects 0.4 and 0.1: within the budget of 1 from 0.11)
    tables["calibration"][cuts.LOOP]["scenes"] = [_scene([[], []], [0.3, 0.6])]
    assert budget(tables) == (cuts.REFIT, pytest.approx(0.11))
    # neither: the bundled chain stays, at its cut
    tables["calibration"][cuts.REFIT]["scenes"] = [_scene([[], []], [0.1, 0.4])]
    assert budget(tables) == (cuts.BUNDLED, 0.3)


def test_a_draw_whose_tables_do_not_give_back_its_rows_is_named() -> None:
    cuts = load_bench("review_loop_cuts")
    tables = _tables(cuts)
    result: dict[str, Any] = {
        "rows": {cuts.LOOP: {"false_alarms": 2, "detected": 2}},  # at 0.1 the rows give 2, 2
        "operating_point": None,
    }
    assert cuts.check(Path("w"), tables, result) == []
    result["rows"][cuts.LOOP]["false_alarms"] = 3
    assert cuts.check(Path("w"), tables, result) == [
        f"w: {cuts.LOOP} at 0.1: tables give 2 false alarms, 2 landslides; the draw printed 3, 2"
    ]


def test_unknown_candidates_and_older_landslides_are_counted_as_the_chain_counts_them() -> None:
    cuts = load_bench("review_loop_cuts")
    # a candidate on unknown pixels (label 255) is no false object; one on no landslide is
    scene = _scene([[0], [], []], [0.9, 0.8, 0.7])
    scene["unknown"] = [False, True, False]
    assert cuts.calibration_found({"cut": 0.5, "scenes": [scene]}, 0.5) == ({("val/s1", 0)}, 1)
    # a held-out false alarm on a landslide of the pre window is not "on no landslide"
    rows = [_row(0.9, []), {**_row(0.8, []), "older": True}, _row(0.1, [])]
    scored = cuts.held_out(rows, 0, 0.5)
    assert (scored.false_alarms, scored.on_no_landslide) == (2, 1)


def test_the_switched_to_row_of_a_draw_is_checked_against_its_manifest() -> None:
    cuts = load_bench("review_loop_cuts")
    tables = _tables(cuts)
    # the operator switched to the refit alone at 0.21: rows 0.5, 0.25 and 0.22 kept
    point = {"promoted": cuts.REFIT, "cut": 0.21}
    result = {"rows": {cuts.PROMOTED: {"false_alarms": 1, "detected": 2}}, "operating_point": point}
    assert cuts.check(Path("w"), tables, result) == []
    # nothing switched to: the row is the bundled chain's, at its cut 0.3 (one row, 0.5)
    result["operating_point"] = {"promoted": None, "cut": 0.0}
    assert cuts.check(Path("w"), tables, result) == [
        f"w: {cuts.PROMOTED} at 0.3: tables give 0 false alarms, 1 landslides; the draw "
        "printed 1, 2"
    ]


def test_the_rules_agree_with_operating_point_on_random_cases() -> None:
    """The tool's budget and count rules against monitor.ops.operating_point.match_recall,
    on the same candidates: the cut and whether one matches."""
    import random

    import numpy as np

    from models.chain_metrics import SceneObjects
    from monitor.ops import operating_point as op

    cuts = load_bench("review_loop_cuts")
    rng = random.Random(7)

    def scene(name: str, events: int, n: int) -> tuple[SceneObjects, np.ndarray]:
        touches = [
            np.array(sorted(rng.sample(range(events), min(events, rng.choice([0, 0, 1, 2])))), int)
            for _ in range(n)
        ]
        unknown = np.array([rng.random() < 0.1 and len(t) == 0 for t in touches], bool)
        objects = SceneObjects(
            scene=name, area_km2=1.0, event_area_m2=np.full(events, 2000.0),
            polygon_area_m2=np.full(n, 100.0), touches=touches, tp=np.zeros(n, np.int64),
            fp=np.zeros(n, np.int64), label_pixels=0, unknown=unknown,
        )  # fmt: skip
        return objects, np.array([round(rng.random(), rng.choice([2, 6])) for _ in range(n)])

    def table(found: list[tuple[SceneObjects, np.ndarray]], cut: float) -> dict[str, Any]:
        return {
            "cut": cut,
            "scenes": [
                {"scene": s.scene, "area_km2": 1.0, "event_area_m2": list(s.event_area_m2),
                 "touches": [[int(j) for j in t] for t in s.touches],
                 "unknown": [bool(u) for u in s.unknown], "scores": [float(v) for v in v_]}
                for s, v_ in found
            ],
        }  # fmt: skip

    compared = 0
    for _ in range(60):
        events = [rng.randint(0, 4) for _ in range(3)]
        ref = [scene(f"s{i}", events[i], rng.randint(0, 6)) for i in range(3)]
        new = [scene(f"s{i}", events[i], rng.randint(0, 6)) for i in range(3)]
        ref_cut, new_cut = round(rng.random(), 2), round(rng.random(), 2)
        budget = rng.choice([0.0, 0.4, 0.5, 1.0])
        args = ([s for s, _ in ref], [v for _, v in ref], ref_cut,
                [s for s, _ in new], [v for _, v in new], new_cut)  # fmt: skip
        try:
            point = op.match_recall(*args, false_alarm_budget=budget)
        except ValueError:  # the reference finds nothing: refused by both
            continue
        tables = {
            "calibration": {cuts.BUNDLED: table(ref, ref_cut), cuts.LOOP: table(new, new_cut)}
        }
        want = (cuts.LOOP, point.cut) if point.matched else (cuts.BUNDLED, ref_cut)
        assert cuts.rule_budget(budget, (cuts.LOOP,))(tables) == want
        highest = op.match_recall(*args, false_alarm_budget=None)
        want = (cuts.LOOP, highest.cut if highest.matched else new_cut)
        assert cuts.rule_count(tables) == want
        compared += 1
    assert compared > 30
