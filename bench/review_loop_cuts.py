"""Cut rules of the review loop judged on finished draws of ``bench/bench_review_loop.py``,
without running them again.

Each draw's ``tables.json`` holds every candidate of the held-out runs of every manifest with
its filter score and the landslides it touches, and every manifest's candidates on the labelled
scenes of the calibration regions (scores and the labelled landslides they touch). A run's
candidate is suppressed when its score is below the cut (``monitor.pipeline.chain``), so the
held-out scores at any cut, and any rule that sets a cut from the calibration scenes, follow from
the tables alone. The rules (:data:`RULES`) set the whole loop's cut on the calibration regions
and never look at the held-out regions; the held-out regions then score it.

    python bench/review_loop_cuts.py runs/o1000 runs/o1010 ...

prints, per rule, each draw's false alarms and landslides detected in the held-out regions, the
pooled totals against the bundled chain's, and the landslides lost and gained against it with
the exact sign test. First it checks that the tables give back the draw's own rows (the
manifests at the cuts they carried, and the loop at its operating point) to the false alarm
and landslide: a table that does not is reported and its draw left out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.ops.filter_fit import CUT_GRID  # noqa: E402

BUNDLED = "before (bundled)"
PROMOTED = "switched to (steps 7-8), at the bundled recall"  # bench_review_loop.PROMOTED
REFIT = "filter refitted (bundled members)"
LOOP = "filter refitted, then members fine-tuned"


@dataclass(frozen=True)
class HeldOut:
    """A manifest's held-out scores at one cut."""

    false_alarms: int
    on_no_landslide: int
    detected: frozenset[tuple[str, str, str]]
    events: int


def held_out(rows: list[dict[str, Any]], events: int, cut: float) -> HeldOut:
    """The held-out runs' scores of the candidates not below ``cut`` (a NaN score is kept, as
    a run keeps it)."""
    kept = [r for r in rows if not r["score"] < cut]
    false = [r for r in kept if not r["events"]]
    return HeldOut(
        false_alarms=len(false),
        on_no_landslide=sum(not r["older"] for r in false),
        detected=frozenset((r["region"], r["run_date"], e) for r in kept for e in r["events"]),
        events=events,
    )


def calibration_found(table: dict[str, Any], cut: float) -> tuple[set[tuple[str, int]], int]:
    """The calibration landslides (scene, label object) that the candidates scoring ``cut`` or
    more touch, and their false objects (touching none, not on unknown pixels), as
    ``models.chain_metrics.chain_scores`` counts them."""
    found: set[tuple[str, int]] = set()
    false = 0
    for scene in table["scenes"]:
        for touches, unknown, score in zip(
            scene["touches"],
            scene["unknown"] or [False] * len(scene["scores"]),
            scene["scores"],
            strict=True,
        ):
            if not score >= cut:  # as monitor.ops.operating_point counts them
                continue
            found.update((scene["scene"], j) for j in touches)
            false += not touches and not unknown
    return found, false


def _highest(table: dict[str, Any], enough: Callable[[set[tuple[str, int]]], bool]) -> float | None:
    """The highest cut of the grid below which every cut's found set ``enough`` accepts (the
    search of ``monitor.ops.filter_fit.highest_cut``)."""
    best = None
    for cut in CUT_GRID:
        if not enough(calibration_found(table, cut)[0]):
            break
        best = cut
    return best


Rule = Callable[[dict[str, Any]], tuple[str, float]]


def rule_count(tables: dict[str, Any]) -> tuple[str, float]:
    """``monitor.ops.operating_point`` as the bench runs it: the loop's highest cut that finds
    as many calibration landslides as the bundled chain at its cut; where none does, the loop
    at the cut it carried."""
    calib = tables["calibration"]
    cut = _matched(tables, LOOP, None)
    return (LOOP, cut) if cut is not None else (LOOP, calib[LOOP]["cut"])


def _matched(tables: dict[str, Any], manifest: str, z: float | None, more: int = 0) -> float | None:
    """``manifest``'s highest cut at which its calibration landslides match the bundled
    chain's: as many (``z`` None), or, landslide by landslide, gained minus lost at least ``z``
    standard errors of that difference (sqrt(gained + lost), the sign test's)."""
    calib = tables["calibration"]
    reference = calibration_found(calib[BUNDLED], calib[BUNDLED]["cut"])[0]
    if not reference:  # operating_point refuses it: any cut would match
        raise ValueError("the bundled chain finds no calibration landslide: no recall to match")
    if z is None:
        n = sum(len(s["event_area_m2"]) for s in calib[BUNDLED]["scenes"])
        target = min(len(reference) + more, n)
        return _highest(calib[manifest], lambda found: len(found) >= target)

    def enough(found: set[tuple[str, int]]) -> bool:
        gained, lost = len(found - reference), len(reference - found)
        return gained - lost >= z * (gained + lost) ** 0.5

    return _highest(calib[manifest], enough)


def rule_fallback(z: float | None, more: int = 0) -> Rule:
    """The loop at its matched cut (:func:`_matched`); where none matches, the refitted filter
    on the bundled members at its own matched cut; where neither does, the bundled chain."""

    def rule(tables: dict[str, Any]) -> tuple[str, float]:
        for manifest in (LOOP, REFIT):
            cut = _matched(tables, manifest, z, more)
            if cut is not None:
                return manifest, cut
        return BUNDLED, tables["calibration"][BUNDLED]["cut"]

    return rule


def rule_budget(share: float, order: tuple[str, ...] = (LOOP, REFIT)) -> Rule:
    """Of the loop's cuts that find as many calibration landslides as the bundled chain at its
    cut, the lowest whose calibration false objects are at most ``share`` of the bundled
    chain's (the most landslides the false-alarm budget buys); where none is that low, the
    highest that matches (:func:`rule_count`); where none matches, the refitted filter on the
    bundled members the same way, and else the bundled chain."""

    def rule(tables: dict[str, Any]) -> tuple[str, float]:
        calib = tables["calibration"]
        false0 = calibration_found(calib[BUNDLED], calib[BUNDLED]["cut"])[1]
        for manifest in order:
            top = _matched(tables, manifest, None)
            if top is None:
                continue
            for cut in CUT_GRID:
                if cut > top:
                    break
                if calibration_found(calib[manifest], cut)[1] <= share * false0:
                    return manifest, cut
            return manifest, top
        return BUNDLED, calib[BUNDLED]["cut"]

    return rule


def rule_better(share: float) -> Rule:
    """The budget rule (:func:`rule_budget`) for the loop and for the refit alone each; the
    one with more calibration landslides at its cut, then fewer false objects, the refit
    alone on a tie (its members are the bundled ones)."""

    def rule(tables: dict[str, Any]) -> tuple[str, float]:
        calib = tables["calibration"]
        best: tuple[tuple[int, int], str, float] | None = None
        for manifest in (REFIT, LOOP):
            chosen, cut = rule_budget(share, (manifest,))(tables)
            if chosen == BUNDLED:
                continue
            found, false = calibration_found(calib[manifest], cut)
            key = (len(found), -false)
            if best is None or key > best[0]:
                best = (key, manifest, cut)
        return (best[1], best[2]) if best else (BUNDLED, calib[BUNDLED]["cut"])

    return rule


RULES: dict[str, Rule] = {
    # steps 7-8 since 4030d20 (operating_point's default; the bench's switched-to row)
    "false-alarm budget 0.5 at matched recall, else the refit alone": rule_budget(0.5),
    "operating point (count)": rule_count,  # before 4030d20
    "false-alarm budget 0.4 at matched recall, else the refit alone": rule_budget(0.4),
    "false-alarm budget 0.5, the refit alone, else bundled": rule_budget(0.5, (REFIT,)),
    "false-alarm budget 0.5, the better of loop and refit": rule_better(0.5),
    "count, else the refit alone": rule_fallback(None),
    "count + 1, else the refit alone": rule_fallback(None, 1),
    "count + 2, else the refit alone": rule_fallback(None, 2),
    "gained - lost >= 1 SE, else the refit alone": rule_fallback(1.0),
    "gained - lost >= 1.64 SE, else the refit alone": rule_fallback(1.645),
}


def check(work: Path, tables: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """The draw's printed rows recomputed from its tables; the differences, if any."""
    problems = []
    point = result.get("operating_point") or {}
    for label, row in result["rows"].items():
        manifest, cut = label, None
        if label == PROMOTED:  # since 2026-12-05: the manifest the operator switches to
            manifest = point["promoted"] or BUNDLED
            cut = point["cut"] if point["promoted"] else tables["calibration"][BUNDLED]["cut"]
        elif label.endswith(", at the bundled recall"):  # the loop's row before 2026-12-05
            manifest = label.removesuffix(", at the bundled recall")
            cut = point["cut"] if point["matched"] else point["new_cut"]
        else:
            cut = tables["calibration"].get(label, {}).get("cut")
        if cut is None:
            continue
        got = held_out(tables["heldout"][manifest], tables["heldout_events"][manifest], cut)
        want = (row["false_alarms"], row["detected"])
        if (got.false_alarms, len(got.detected)) != want:
            problems.append(
                f"{work}: {label} at {cut}: tables give {got.false_alarms} false alarms, "
                f"{len(got.detected)} landslides; the draw printed {want[0]}, {want[1]}"
            )
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("work", nargs="+", type=Path, help="work folders of finished draws")
    args = p.parse_args(argv)
    draws = []
    for work in args.work:
        try:
            tables = json.loads((work / "tables.json").read_text())
            result = json.loads((work / "result.json").read_text())
        except (OSError, ValueError) as exc:
            print(f"{work}: left out ({exc})")
            continue
        missing = [m for m in (BUNDLED, REFIT, LOOP) if m not in tables["calibration"]]
        if missing:  # --calibration-regions 0, or a bundled manifest without a filter
            print(f"{work}: left out (no calibration table of {', '.join(missing)})")
            continue
        problems = check(work, tables, result)
        if problems:
            print("\n".join(problems) + f"\n{work}: left out")
            continue
        draws.append((work, tables))
    if not draws:
        return 1
    bundled = {w: held_out(t["heldout"][BUNDLED], t["heldout_events"][BUNDLED],
                           t["calibration"][BUNDLED]["cut"]) for w, t in draws}  # fmt: skip
    fa0 = sum(b.false_alarms for b in bundled.values())
    found0 = sum(len(b.detected) for b in bundled.values())
    events = sum(b.events for b in bundled.values())
    print(f"{len(draws)} draws; bundled chain: {fa0} false alarms, {found0}/{events} landslides")
    for name, rule in RULES.items():
        print(f"\n{name}")
        fa = found = lost = gained = 0
        for work, tables in draws:
            manifest, cut = rule(tables)
            h = held_out(tables["heldout"][manifest], tables["heldout_events"][manifest], cut)
            b = bundled[work]
            lo, ga = len(b.detected - h.detected), len(h.detected - b.detected)
            fa, found, lost, gained = (
                fa + h.false_alarms,
                found + len(h.detected),
                lost + lo,
                gained + ga,
            )
            print(f"  {work.name}: {manifest} at {cut:.2f}: {h.false_alarms} false alarms "
                  f"(bundled {b.false_alarms}), {len(h.detected)}/{h.events} (bundled "
                  f"{len(b.detected)}), lost {lo}, gained {ga}")  # fmt: skip
        n = lost + gained
        pval = float(stats.binomtest(min(lost, gained), n, 0.5).pvalue) if n else 1.0
        print(f"  all: {fa} false alarms ({fa / fa0:.2f} of the bundled), {found}/{events} "
              f"landslides (bundled {found0}), lost {lost}, gained {gained}, "
              f"p = {pval:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    import signal

    # `| head` ends the report quietly. Only when run as a script: set in main(), it stayed
    # set in the process of a test that called main(), which a later write to a closed socket
    # then killed (a pytest worker lost mid-suite)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    raise SystemExit(main())
