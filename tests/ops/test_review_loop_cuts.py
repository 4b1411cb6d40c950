"""bench/review_loop_cuts.py: cut rules of the review loop recomputed from a draw's tables, on a
small case worked by hand."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_cuts", ROOT / "bench" / "review_loop_cuts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves its annotations there
    spec.loader.exec_module(module)
    return module


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
    cuts = _tool()
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
    cuts = _tool()
    tables = _tables(cuts)
    result = {
        "rows": {cuts.LOOP: {"false_alarms": 2, "detected": 2}},  # at 0.1 the rows give 2, 2
        "operating_point": None,
    }
    assert cuts.check(Path("w"), tables, result) == []
    result["rows"][cuts.LOOP]["false_alarms"] = 3
    assert cuts.check(Path("w"), tables, result) == [
        f"w: {cuts.LOOP} at 0.1: tables give 2 false alarms, 2 landslides; the draw printed 3, 2"
    ]
