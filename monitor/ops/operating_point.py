"""Set a new ensemble's operating point at the recall of the one it would replace (docs/models.md,
"Improve the model from your reviews", step 7).

Fine-tuning on reviews and refitting the object filter change how candidates rank; the cut the
new manifest carries was calibrated before the members changed (``python -m models finetune``
copies the refitted filter's cut), so the new chain spends what it learnt partly on finding more
landslides and partly on fewer false alarms, in a proportion nobody chose. An operator who
compares two ensembles compares them at equal recall: here, on labelled scenes of regions the
reviewed dataset left out, the new manifest's cut is set where its chain finds at least as many
of their landslides as the reference chain (the manifest in use, at its own cut) finds: of
those cuts (of :data:`monitor.ops.filter_fit.CUT_GRID`), the lowest whose false objects are at
most ``false_alarm_budget`` (:data:`FALSE_ALARM_BUDGET`, a half) of the reference's, and where
none is that low, the highest. The new chain's false objects and landslides there are printed
beside the reference's.

Why the lowest within the budget, not the highest cut that matches: the highest is the cut at
which the chain finds just as many of these landslides, set by the lowest score among those it
needs, an order statistic chosen on the same scenes; on other regions the chain then finds
fewer than the reference (docs/measurements/review_loop.md). The cuts below it cost false
alarms and buy a margin of recall; the budget spends on that margin the false alarms saved
beyond what the operator set out to save (half: the review loop's target).

1. the chain (no filter) of each manifest runs on every scene of ``DATA``
   (:func:`monitor.ops.filter_fit.collect`, as the filter's fit and refit run it: candidates
   mostly on pixels of unknown class, label 255, are left out);
2. each manifest's filter scores its own candidates; the reference keeps those at or above its
   cut, and the landslides they cover (8-connected label objects) are the recall to match;
3. of the new chain's cuts that match it, the lowest within the false-alarm budget, else the
   highest, is the operating point; where even all of the new chain's candidates find fewer
   landslides, no cut can match and the cut is 0 (reported): its members lost landslides the
   reference's find, and step 8 of docs/models.md tries the manifest of the refit alone.
   Scenes where the reference finds no landslide at all are refused: there is no recall to
   match, and the highest cut would suppress everything.

The scenes must label every landslide in them (1) and the background (0): a polygon inventory of
an event exported with ``dataset export`` (``DATA`` its root: every split counts), or scenes of
a left-out region whose candidates from both manifests were reviewed. Scenes from ``dataset
from-reviews`` of the reference's runs alone label only what the reference drew: the new chain's
other candidates fall on unknown pixels and are left out, so its false alarms there go
uncounted. The cut is chosen on these scenes; scores on them are in-sample. Judge it on others
(``bench/bench_review_loop.py`` sets it on the scenes of four calibration regions and scores its
held-out regions).

    python -m monitor.ops.operating_point --manifest tuned/manifest.json \\
        --reference default --data data/left-out [--write] \\
        [--false-alarm-budget 0.5 | --highest]

``--write`` sets the cut in the new manifest (``object_filter.cut``) and appends the record to
``object_filter.fit.operating_points``; the filter file and its checksum do not change. Where no
cut matches, nothing is written (a cut of 0 would switch the filter off). A region can also
take the cut alone (``filter_cut`` in the configuration).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.chain_metrics import ChainScores, SceneObjects, chain_scores
from models.datasets import DATASET_RECORD_FILE, DatasetError
from models.lineage import dataset_sha256
from models.manifest import (
    ManifestError,
    manifest_arg,
    read_manifest,
    sha256_file,
    write_manifest,
)
from monitor.labels import SPLIT_NAMES
from monitor.ops.filter_fit import (
    CUT_GRID,
    RUNS_ENGINE,
    Candidates,
    chain_inputs,
    collect,
    highest_cut,
)

__all__ = [
    "FALSE_ALARM_BUDGET",
    "OperatingPoint",
    "main",
    "match_recall",
    "operating_point",
    "scene_folders",
]

log = logging.getLogger(__name__)

FALSE_ALARM_BUDGET = 0.5  # of the reference's false objects: the review loop's target (issue 16)
# what docs/models.md's step 8 does where no cut matches
NO_MATCH_NEXT = (
    "fine-tuned members that miss landslides the reference finds: set the operating point of "
    "the manifest whose filter alone was refitted (step 3) instead, or keep the reference"
)


@dataclass(frozen=True)
class OperatingPoint:
    """The new chain's cut at the reference's recall, and the chain scores around it."""

    cut: float
    matched: bool  # False: even every candidate of the new chain finds fewer landslides
    # the false-alarm budget (share of the reference's false objects); None: the highest cut
    false_alarm_budget: float | None
    within_budget: bool | None  # the cut keeps the false objects within it (None: no budget
    # applied, under the highest-cut rule or where no cut matches)
    highest: float  # the highest cut that matches (0 where none does)
    reference_cut: float
    reference: ChainScores  # the reference chain at its cut
    new_cut: float  # the cut the new manifest carried
    new_at_own_cut: ChainScores
    new: ChainScores  # the new chain at ``cut``

    def record(self) -> dict[str, Any]:
        def scores(s: ChainScores) -> dict[str, Any]:
            found, total = s.recall_by_size.get("all", (0, 0))
            return {
                "landslides_found": found,
                "landslides": total,
                "false_objects": s.false_objects,
                "false_per_100km2": s.false_per_100km2,
            }

        budget = self.false_alarm_budget
        rule = "highest cut whose chain finds at least as many landslides as the reference's"
        if budget is not None:
            rule = (
                "of the cuts whose chain finds at least as many landslides as the reference's, "
                f"the lowest with at most {budget:g} times its false objects, else the highest"
            )
        return {
            "rule": rule,
            "cut": self.cut,
            "matched": self.matched,
            "false_alarm_budget": budget,
            "within_budget": self.within_budget,
            "highest_matching_cut": self.highest,
            "reference_cut": self.reference_cut,
            "reference": scores(self.reference),
            "new_cut": self.new_cut,
            "new_at_own_cut": scores(self.new_at_own_cut),
            "new": scores(self.new),
        }


def _found(scenes: Sequence[SceneObjects], scores: Sequence[np.ndarray], cut: float) -> ChainScores:
    # as highest_cut keeps them (the filter scores every candidate of collect(): never NaN)
    return chain_scores(scenes, [np.asarray(s) >= cut for s in scores])


def match_recall(
    reference_scenes: Sequence[SceneObjects],
    reference_scores: Sequence[np.ndarray],
    reference_cut: float,
    new_scenes: Sequence[SceneObjects],
    new_scores: Sequence[np.ndarray],
    new_cut: float,
    false_alarm_budget: float | None = FALSE_ALARM_BUDGET,
) -> OperatingPoint:
    """The operating point (see the module) from each chain's candidates on the same scenes:
    ``*_scenes`` their polygons related to the labels (:func:`models.chain_metrics.scene_objects`)
    and ``*_scores`` the filter score of each polygon, one array per scene.
    ``false_alarm_budget`` None takes the highest cut that matches (the rule before
    2026-12-05)."""
    if false_alarm_budget is not None and not 0.0 <= false_alarm_budget <= 1.0:
        raise ValueError(f"false_alarm_budget must lie in [0, 1], not {false_alarm_budget}")
    ref_ids, new_ids = [s.scene for s in reference_scenes], [s.scene for s in new_scenes]
    if ref_ids != new_ids:  # collect() skips a scene that supports none of a manifest's settings
        only_ref = sorted(set(ref_ids) - set(new_ids))
        only_new = sorted(set(new_ids) - set(ref_ids))
        raise ValueError(
            "the two chains were not run on the same scenes (a manifest without a setting the "
            f"scene supports skips it): only the reference ran on {only_ref or 'none'}, only "
            f"the new manifest on {only_new or 'none'}"
        )
    reference = _found(reference_scenes, reference_scores, reference_cut)
    target = reference.found()
    if target == 0:  # any cut would match: the highest would suppress everything
        raise ValueError(
            "the reference chain finds no labelled landslide in these scenes: there is no "
            "recall to match (label the landslides of the scenes, or choose others)"
        )
    best = highest_cut(new_scenes, new_scores, lambda scored: scored.found() >= target)
    cut, matched = (best[0], True) if best is not None else (0.0, False)
    highest, within = cut, None
    if matched and false_alarm_budget is not None:
        within = False
        budget = false_alarm_budget * reference.false_objects
        for candidate in CUT_GRID:  # ascending: the lowest within the budget
            if candidate > highest:
                break
            if _found(new_scenes, new_scores, candidate).false_objects <= budget:
                cut, within = candidate, True
                break
    return OperatingPoint(
        cut=cut,
        matched=matched,
        false_alarm_budget=false_alarm_budget,
        within_budget=within,
        highest=highest,
        reference_cut=reference_cut,
        reference=reference,
        new_cut=new_cut,
        new_at_own_cut=_found(new_scenes, new_scores, new_cut),
        new=_found(new_scenes, new_scores, cut),
    )


def scene_folders(data: Path) -> list[Path]:
    """``data`` itself when it holds ``input/``, else each of its splits that does (``train/``,
    ``val/``, ``test/``): neither manifest trained on a left-out region, whatever split
    ``dataset export`` dealt its scenes to (one region's export fills ``train/`` alone)."""
    data = Path(data)
    if not data.is_dir():  # found in a walkthrough: a typo was told it held no input/
        raise DatasetError(f"{data}: no such folder")
    if (data / "input").is_dir():
        return [data]
    folders = [data / s for s in SPLIT_NAMES if (data / s / "input").is_dir()]
    if not folders:
        raise DatasetError(f"{data}: no input/ folder, nor train/, val/ or test/ with one")
    return folders


def _scored(manifest: Path, folders: list[Path]) -> tuple[Candidates, list[np.ndarray], float]:
    """The chain of ``manifest`` on ``folders``: its candidates, their filter scores (one array
    per scene) and its cut."""
    # the runs' engine: labelled scenes come in many shapes (chain_inputs)
    model, policy, rules = chain_inputs(manifest, engine=RUNS_ENGINE)
    object_filter = model.object_filter  # loaded and verified with the members
    assert object_filter is not None  # operating_point refused a manifest without one
    found = collect(folders, model, policy, rules, what=f"manifest {manifest}")
    scores = object_filter.score(found.features) if len(found.features) else np.zeros(0)
    return found, found.split(scores), float(object_filter.cut)


def _dataset_command(folder: Path) -> str | None:
    """The ``dataset`` command that made the scenes of ``folder`` (its ``dataset.json``, or
    its parent's for a split folder), None where neither says."""
    for candidate in (folder / DATASET_RECORD_FILE, folder.parent / DATASET_RECORD_FILE):
        if candidate.is_file():
            try:
                return str(json.loads(candidate.read_text()).get("command"))
            except (ValueError, AttributeError):
                return None
    return None


def operating_point(
    manifest: Path,
    reference: Path,
    data: Path,
    *,
    write: bool = False,
    false_alarm_budget: float | None = FALSE_ALARM_BUDGET,
) -> dict[str, Any]:
    """Run both chains on the labelled scenes of ``data`` (a folder with ``input/``, or its
    splits: :func:`scene_folders`) and return the record of :func:`match_recall` (with its
    ``false_alarm_budget``); with ``write``, set the cut in ``manifest`` and append the record
    to its ``object_filter.fit``."""
    for path in (Path(manifest), Path(reference)):
        if read_manifest(path).object_filter is None:
            raise ManifestError(f"{path} has no object filter: there is no cut to compare or set")
    folders = scene_folders(Path(data))
    made_by = _dataset_command(folders[0])
    if made_by == "from-reviews":
        log.warning(
            "%s: scenes of `dataset from-reviews`: they label what the reviewed runs drew, so "
            "the new chain's other candidates fall on unknown pixels and its false alarms there "
            "go uncounted; unless both manifests' candidates were reviewed, set the cut on "
            "fully labelled scenes of a left-out region", data,
        )  # fmt: skip
    ref_found, ref_scores, ref_cut = _scored(Path(reference), folders)
    new_found, new_scores, new_cut = _scored(Path(manifest), folders)
    point = match_recall(
        ref_found.scenes, ref_scores, ref_cut, new_found.scenes, new_scores, new_cut,
        false_alarm_budget,
    )  # fmt: skip
    digest, _ = dataset_sha256(Path(data))
    record = {
        **point.record(),
        "reference_manifest": str(reference),
        "reference_manifest_sha256": sha256_file(Path(reference)),
        "data": str(data),
        "data_sha256": digest,
        "scenes": len(new_found.scenes),
        "left_out_unknown": {"reference": ref_found.unknown, "new": new_found.unknown},
        # the engine both chains were run on (_scored); "auto" chooses per stack
        "engine": RUNS_ENGINE,
    }
    if not point.matched:
        if write:  # the error says it; a warning before it said it twice
            raise ValueError(
                f"{manifest}: no cut matches the reference's recall on {data} (the new chain "
                f"finds fewer landslides even unfiltered); nothing written ({NO_MATCH_NEXT})"
            )
        log.warning(
            "%s: the new chain finds fewer landslides than the reference's even unfiltered; "
            "no cut matches its recall (%s)",
            manifest, NO_MATCH_NEXT,
        )  # fmt: skip
    if write:
        parsed = read_manifest(Path(manifest))
        entry = parsed.object_filter
        assert entry is not None  # _scored refused a manifest without one
        points = [*entry.fit.get("operating_points", []), record]
        parsed.object_filter = entry.model_copy(
            update={"cut": point.cut, "fit": {**entry.fit, "operating_points": points}}
        )
        write_manifest(Path(manifest), parsed)
    return record


def _line(label: str, cut: float, scores: dict[str, Any]) -> str:
    per_km2 = scores["false_per_100km2"]
    return (
        f"| {label} | {cut:.2f} | {scores['landslides_found']}/{scores['landslides']} "
        f"| {scores['false_objects']} | {'–' if per_km2 is None else f'{per_km2:.1f}'} |"
    )


def format_record(record: dict[str, Any]) -> str:
    """The record as a short Markdown table."""
    lines = [
        f"{record['scenes']} scene(s) of {record['data']}",
        "",
        "| chain | cut | landslides found | false objects | per 100 km² |",
        "| --- | --- | --- | --- | --- |",
        _line("reference, its cut", record["reference_cut"], record["reference"]),
        _line("new, the cut it carried", record["new_cut"], record["new_at_own_cut"]),
        _line("new, at the reference's recall or above", record["cut"], record["new"]),
        "",
        f"rule: {record['rule']}",
    ]
    if record["matched"] and record.get("false_alarm_budget") is not None:
        if record["within_budget"]:
            lines.append(
                f"(the highest cut that finds as many is {record['highest_matching_cut']:.2f})"
            )
        else:
            lines.append("no cut that finds as many keeps the false objects within the budget")
    if not record["matched"]:
        lines.append(
            "the new chain finds fewer landslides than the reference even unfiltered: "
            + NO_MATCH_NEXT
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m monitor.ops.operating_point",
        description="set a new manifest's object-filter cut at the reference's recall",
    )
    p.add_argument("--manifest", type=Path, required=True, help="the new manifest")
    p.add_argument(
        "--reference",
        type=manifest_arg,
        required=True,
        help="the manifest in use, or `default` for the bundled one",
    )
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled scenes of left-out regions: a folder with input/, or a dataset root "
        "(every split)",
    )
    cut_rule = p.add_mutually_exclusive_group()
    cut_rule.add_argument(
        "--false-alarm-budget",
        type=float,
        default=FALSE_ALARM_BUDGET,
        metavar="S",
        help="of the cuts at the reference's recall, take the lowest whose false objects are "
        f"at most S of the reference's (default {FALSE_ALARM_BUDGET}), else the highest",
    )
    cut_rule.add_argument(
        "--highest",
        action="store_true",
        help="take the highest cut at the reference's recall (the rule before 2026-12-05)",
    )
    p.add_argument("--write", action="store_true", help="set the cut in --manifest")
    p.add_argument("--json", action="store_true", help="print the record as JSON")
    args = p.parse_args(argv)
    if not args.highest and not 0.0 <= args.false_alarm_budget <= 1.0:
        p.error(f"--false-alarm-budget: {args.false_alarm_budget} is not in [0, 1]")
    budget = None if args.highest else args.false_alarm_budget
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        record = operating_point(
            args.manifest, args.reference, args.data, write=args.write, false_alarm_budget=budget
        )
    except (ValueError, ManifestError, DatasetError, FileNotFoundError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(record, indent=1) if args.json else format_record(record))
    if args.write:
        print(f"cut {record['cut']:.2f} written to {args.manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
