"""The review loop measured on the archive: does learning from an operator's reviews cut false
alarms in a region it never saw?

1. simulate review regions and held-out regions of one landscape (look-alikes made frequent):
   the ``forested_mountains`` preset, or with ``--family`` worlds drawn from one family of the
   randomised training world, e.g. a held-out test family the bundled ensemble never saw;
2. run the monitor with the bundled ensemble on the review regions, after each storm;
3. review by script: confirm every candidate that touches a true landslide of its run's pre or
   post window (``ArchiveSource.ground_truth``), dismiss every other one;
4. ``dataset from-reviews`` -> ``monitor.ops.filter_refit`` (the object filter of the bundled
   ensemble, whose candidates were reviewed, refitted with them) and ``models finetune`` (few
   epochs, lower rate, K and threshold chosen again on the held-out reviewed scenes), from the
   bundled manifest and from the refitted one;
5. run the held-out regions (never reviewed, never trained on) with each manifest and print
   false alarms (on no landslide of the post window; and on no landslide at all of the pre or
   post window) and object recall;
6. what an operator following docs/models.md (steps 7 and 8) switches to, at the bundled
   ensemble's recall: the whole loop, its filter cut set on labelled scenes of calibration
   regions of the same landscape (seeds 301.., both run dates; neither reviewed, trained on nor
   scored) with ``monitor.ops.operating_point`` (of the cuts whose chain finds at least as many
   landslides as the bundled chain finds there, the lowest whose false objects are at most half
   the bundled chain's, else the highest; ``--highest-cut``: the highest, the rule before
   2026-12-05); where no cut of the loop reaches that recall (its fine-tuned members lost
   landslides), the filter refitted alone the same way; where neither does, the bundled
   ensemble stays. The held-out regions stay unseen. Every held-out candidate of every manifest
   with its score, and every manifest's candidates on the calibration scenes, go to
   ``tables.json``: ``bench/review_loop_cuts.py`` judges other cut rules on them.

The verdicts are for the whole loop at the cut it carries, and for what the operator switches to.

    OMP_NUM_THREADS=1 nice python bench/bench_review_loop.py --work runs/bench-review

Single-threaded; about 10 minutes on one core of the build machine (docs/models.md has the
measured numbers). The work folder is kept: a rerun reuses the archive and the dataset's
scenes whose labels did not change.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Hashable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.datasets import write_scene  # noqa: E402
from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from models.finetune import FinetuneConfig, finetune  # noqa: E402
from models.manifest import read_manifest  # noqa: E402
from monitor.config import load_config  # noqa: E402
from monitor.ops.dataset import DatasetReport, scenes_from_reviews  # noqa: E402
from monitor.ops.filter_fit import RUNS_ENGINE, chain_inputs, collect  # noqa: E402
from monitor.ops.filter_refit import refit_filter  # noqa: E402
from monitor.ops.operating_point import (  # noqa: E402
    FALSE_ALARM_BUDGET,
    operating_point,
    scene_folders,
)
from monitor.pipeline.evaluation import (  # noqa: E402
    Evaluation,
    detected_events,
    evaluate,
    region_truth,
)
from monitor.run import run_once  # noqa: E402
from monitor.run_inputs import build_configured_archive  # noqa: E402
from monitor.simulator.families import family  # noqa: E402
from monitor.simulator.region import landscape_place  # noqa: E402
from monitor.simulator.training_data import scene_of  # noqa: E402
from monitor.sources.archive import ArchiveSource  # noqa: E402
from monitor.store.inventory import Inventory  # noqa: E402

STORMS = ["2024-05-18", "2024-08-17"]
RUN_DATES = [date(2024, 6, 17), date(2024, 9, 16)]  # 30-day post windows starting on the storm
LANDSCAPE = "forested_mountains"
PROMOTED = "switched to (steps 7-8), at the bundled recall"  # the operator's choice


def _square(lon: float, lat: float, side_deg: float = 0.027) -> dict[str, Any]:
    ring = [
        [lon, lat],
        [lon + side_deg, lat],
        [lon + side_deg, lat + side_deg],
        [lon, lat + side_deg],
        [lon, lat],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def _regions(
    prefix: str, seeds: list[int], east: float, family_key: str | None = None
) -> list[dict[str, Any]]:
    """Regions of :data:`LANDSCAPE`'s preset, or each a world drawn from the randomised
    world's family ``family_key`` (its landscape and event priors drawn per seed; relief,
    clouds, S1 repeat and the rates are the bench's). They lie ``east`` degrees east of an
    anchor where the landscape lives in the randomised world (76.00 E, 11.45 N for
    forested mountains, where every forested row of docs/models.md was drawn), 0.04 apart."""
    landscape = LANDSCAPE if family_key is None else family(family_key).landscape
    drawn = {} if family_key is None else {"family": family_key}
    (lon_min, _), (lat_min, lat_max) = landscape_place(landscape)
    lon0 = round(lon_min + 2.0 + east, 4)
    lat = round(lat_min + 0.575 * (lat_max - lat_min), 4)
    return [
        {
            "name": f"{prefix}{i + 1}",
            "geometry": _square(lon0 + 0.04 * i, lat),
            "windows": {"mode": "monitoring", "pre_days": 60, "post_days": 30},
            "simulation": {
                "landscape": landscape,
                "seed": seed,
                "landslide_rate_scale": 2.0,
                "lookalike_rate_scale": 4.0,
                **drawn,
            },
        }
        for i, seed in enumerate(seeds)
    ]


def write_config(
    work: Path,
    manifest: Path,
    name: str,
    regions: list[dict[str, Any]],
    dataset: dict[str, Any] | None = None,
) -> Path:
    config = {
        "source": {
            "type": "archive",
            "path": str(work / "archive"),
            "simulation": {"start": "2024-03-01", "end": "2024-11-01", "storms": STORMS},
        },
        "regions": regions,
        "model": {"manifest": str(manifest), "setting": "auto"},
        "inventory": {"path": str(work / name / "inventory.gpkg")},
        "quicklooks": {"dir": str(work / name / "quicklooks")},
        "dataset": {"split_by": "event", **(dataset or {})},
    }
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class Scored:
    """A manifest's pooled scores over the held-out regions and run dates, and which landslides
    it detected (region, run date, row of the region's ground truth): two manifests' recalls
    are compared landslide by landslide (:func:`paired`), not only as totals."""

    evaluation: Evaluation
    detected: frozenset[tuple[str, date, Hashable]]
    # every candidate, kept or suppressed: region, run date, filter score, the landslides of the
    # post window it touches and whether it touches one of the pre window (``candidate_rows``)
    candidates: tuple[dict[str, Any], ...] = ()


def candidate_rows(
    candidates: Any, truth: Any, region: str, run_date: date, pre: Any, post: Any
) -> list[dict[str, Any]]:
    """One record per candidate of a run, kept or suppressed, with what it touches: the scores
    of the run at any other cut (``suppressed`` is ``filter_score < cut``: monitor.pipeline.chain)
    are then recomputed from these rows alone (bench/review_loop_cuts.py)."""
    rows = []
    for i in range(len(candidates)):
        one = candidates.iloc[[i]]
        hit = detected_events(one, truth, pre, post)
        rows.append(
            {
                "region": region,
                "run_date": run_date.isoformat(),
                "score": float(one["filter_score"].iloc[0]),
                "suppressed": bool(one["suppressed"].iloc[0]),
                "events": [str(e) for e in hit],
                "older": bool(evaluate(one, truth, pre, post).on_older_landslides),
            }
        )
    return rows


def run_dates(config_path: Path) -> Scored:
    """Run every date; the pooled object-level scores of every region and the landslides the
    kept candidates touch (as ``monitor.pipeline.evaluation.evaluate`` counts them)."""
    config = load_config(config_path)
    source = ArchiveSource(config.source.path)  # type: ignore[union-attr]
    total = Evaluation(0, 0, 0, 0)
    detected: set[tuple[str, date, Hashable]] = set()
    rows: list[dict[str, Any]] = []
    for run_date in RUN_DATES:
        summary = run_once(config, run_date, deliver_alerts=False, progress=False)
        for result in summary.regions:
            if result.evaluation is None or result.candidates is None:
                continue
            total = total + result.evaluation
            region = config.region(result.region)
            truth = region_truth(source, region.name, region.area.geometry)
            if truth is None:
                continue
            kept = result.candidates[~result.candidates["suppressed"].astype(bool)]
            pre, post = region.windows.windows_for(run_date)
            detected.update(
                (region.name, run_date, i) for i in detected_events(kept, truth, pre, post)
            )
            rows += candidate_rows(result.candidates, truth, region.name, run_date, pre, post)
    return Scored(total, frozenset(detected), tuple(rows))


def paired(before: Scored, after: Scored) -> dict[str, float]:
    """The landslides ``before`` detected and ``after`` missed (``lost``) and the reverse
    (``gained``), with the exact two-sided sign test of the difference (McNemar's exact test:
    under equal recall each discordant landslide is lost or gained with probability 1/2)."""
    lost = len(before.detected - after.detected)
    gained = len(after.detected - before.detected)
    n = lost + gained
    p = float(stats.binomtest(min(lost, gained), n, 0.5).pvalue) if n else 1.0
    return {"lost": lost, "gained": gained, "p": p}


def review_by_script(config_path: Path) -> dict[str, int]:
    """Confirm every landslide of the inventory that touches a true landslide of its first
    run's windows, dismiss the others (the operator's review, from the ground truth). The
    windows are the pre and the post window: a landslide that happened after the baseline
    began can show in the comparison, and an operator confirms a real landslide found late
    (before e4befec the script dismissed it, a hard negative on a real scar). A scar older
    than the baseline is dismissed: the comparison should not show it."""
    config = load_config(config_path)
    source = ArchiveSource(config.source.path)  # type: ignore[union-attr]
    counts = {"confirmed": 0, "dismissed": 0}
    truths: dict[str, Any] = {}  # read once per region
    with Inventory(config.inventory.path) as inventory:
        frame = inventory.landslides()
        for rec in frame.to_dict("records"):
            region = config.region(rec["region"])
            pre, post = region.windows.windows_for(date.fromisoformat(str(rec["first_seen"])[:10]))
            if rec["region"] not in truths:
                truths[rec["region"]] = source.ground_truth(rec["region"])
            truth = truths[rec["region"]]
            span = truth[(truth["event_date"] >= pre.start) & (truth["event_date"] < post.end)]
            hit = bool(span.intersects(rec["geometry"]).any())
            status: Literal["confirmed", "dismissed"] = "confirmed" if hit else "dismissed"
            inventory.set_status(int(rec["fid"]), status)
            counts[status] += 1
    return counts


def labelled_scenes(build_path: Path, regions: list[dict[str, Any]], out: Path) -> Path:
    """The stacks of ``regions`` on every run date as scenes in the Ganerod et al. layout under
    ``out``, every landslide of the post window labelled (the simulator's truth, as a complete
    inventory of the events would give it)."""
    config = load_config(build_path)
    source = ArchiveSource(config.source.path)  # type: ignore[union-attr]
    shutil.rmtree(out, ignore_errors=True)
    for item in regions:
        region = config.region(str(item["name"]))
        for run_date in RUN_DATES:
            pre, post = region.windows.windows_for(run_date)
            stack_scene = scene_of(source, region.area, pre, post, region.windows.compositing())
            write_scene(out, stack_scene)
    return out


def calibration_table(manifest: Path, scenes: Path) -> dict[str, Any]:
    """``manifest``'s chain (no filter) on the labelled calibration scenes, as
    ``monitor.ops.operating_point`` runs it: per scene the landslides' areas, the labelled
    landslides each candidate touches, whether it lies on unknown pixels, and its filter score;
    with the cut the manifest carries. Any cut rule on the calibration regions is then
    recomputed from this table alone (bench/review_loop_cuts.py)."""
    model, policy, rules = chain_inputs(manifest, engine=RUNS_ENGINE)  # operating_point's
    assert model.object_filter is not None  # only manifests with a filter are tabled
    found = collect(scene_folders(scenes), model, policy, rules)
    scores = found.split(model.object_filter.score(found.features)) if found.x else []
    return {
        "cut": float(model.object_filter.cut),
        "scenes": [
            {
                "scene": s.scene,
                "area_km2": s.area_km2,
                "event_area_m2": [float(a) for a in s.event_area_m2],
                "touches": [[int(j) for j in t] for t in s.touches],
                "unknown": [bool(u) for u in s.unknown],
                "scores": [float(v) for v in score],
            }
            for s, score in zip(found.scenes, scores, strict=True)
        ],
    }


def promoted(
    work: Path,
    scenes: Path,
    held: list[dict[str, Any]],
    candidates: dict[str, Path],
    reference: Path,
    bundled: Scored,
    false_alarm_budget: float | None,
) -> tuple[Scored, dict[str, Any]]:
    """What an operator who follows docs/models.md (steps 7 and 8) switches to, run on the
    held-out regions: the first of ``candidates`` (the whole loop, then the filter refitted
    alone) for which ``monitor.ops.operating_point`` finds a cut at ``reference``'s recall on
    ``scenes``, the labelled scenes of the calibration regions, at that cut (the lowest within the
    false-alarm budget, else the highest: ``false_alarm_budget``; None, the highest, as before
    2026-12-05). Where none matches, the operator keeps the reference: the held-out regions'
    scores are then ``bundled``'s. Returns the pooled scores and the operating point's record
    of the manifest switched to (the last one tried where none), with its label
    (``promoted``, None where none) and every record tried, by label (``tried``)."""
    record: dict[str, Any] = {}
    tried: dict[str, Any] = {}
    for label, manifest in candidates.items():
        record = operating_point(manifest, reference, scenes, false_alarm_budget=false_alarm_budget)
        tried[label] = record
        if record["matched"]:
            regions = [{**r, "filter_cut": record["cut"]} for r in held]
            name = "heldout-at-reference-recall"
            for stale in (work / name).glob("inventory.gpkg*"):
                stale.unlink()
            scored = run_dates(write_config(work, manifest, name, regions))
            return scored, {**record, "promoted": label, "tried": tried}
    return bundled, {**record, "promoted": None, "tried": tried}


def _line(label: str, ev: Evaluation) -> str:
    recall = f"{ev.recall:.3f}" if ev.recall is not None else "–"
    return (
        f"| {label} | {ev.candidates} | {ev.false_alarms} | {ev.on_no_landslide} "
        f"| {ev.detected}/{ev.events} | {recall} |"
    )


def _report(
    work: Path,
    review: list[dict[str, Any]],
    held: list[dict[str, Any]],
    counts: dict[str, int],
    report: DatasetReport,
    rows: dict[str, Scored],
    timings: dict[str, float],
    point: dict[str, Any] | None,
    family_key: str | None = None,
    config: FinetuneConfig | None = None,
) -> None:
    """Print the before/after table and the verdicts for the whole loop (at the cut it carries
    and at the bundled recall), and write ``work/result.json``."""
    print(f"review: {len(review)} regions x {len(RUN_DATES)} run dates; {counts}")
    print(report.format())
    if config is not None:
        print(f"fine-tuning: {config.epochs} epochs of {config.iterations} steps, epoch rule "
              f"{config.epoch_rule}")  # fmt: skip
    where = f"family {family_key}" if family_key else f"landscape {LANDSCAPE}"
    print(f"held-out: {len(held)} regions of the same {where} x {len(RUN_DATES)} run dates")
    print("")
    print("'false alarms' touch no landslide of the post window; 'on no landslide' touch none")
    print("of the pre window either (the rest lie on real landslides found late, which the")
    print("scripted review confirms: 'on no landslide' is what the loop learns to avoid)")
    print("")
    print("| manifest | candidates | false alarms | on no landslide | landslides detected "
          "| object recall |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for label, scored in rows.items():
        print(_line(label, scored.evaluation))
    if point:
        if point["promoted"] is not None:
            budget = "" if point["false_alarm_budget"] is None else (
                ", within the false-alarm budget" if point["within_budget"] else
                ", the highest at that recall: none within the false-alarm budget"
            )  # fmt: skip
            print(f"  promoted: {point['promoted']}, its cut set on {point['scenes']} labelled "
                  f"scenes of the calibration regions: {point['cut']:.2f}{budget} (it carried "
                  f"{point['new_cut']:.2f}); there the bundled chain found "
                  f"{point['reference']['landslides_found']} of "
                  f"{point['reference']['landslides']} landslides with "
                  f"{point['reference']['false_objects']} false objects, the promoted chain "
                  f"{point['new']['landslides_found']} with "
                  f"{point['new']['false_objects']}")  # fmt: skip
        else:
            print("  promoted: none (neither the loop nor the refit alone reaches the bundled "
                  "recall on the calibration regions even unfiltered): the row is the bundled "
                  "chain's")  # fmt: skip
    first = next(iter(rows.values()))
    before = first.evaluation
    pairs = {label: paired(first, scored) for label, scored in list(rows.items())[1:]}
    print("")
    print("landslides detected against the bundled manifest's, landslide by landslide (lost:")
    print("it found them and this one did not; gained: the reverse; p: exact sign test)")
    for label, pair in pairs.items():
        print(f"  {label}: lost {pair['lost']}, gained {pair['gained']}, p = {pair['p']:.2f}")
    labels = list(rows)
    whole_loop = [label for label in labels if label != PROMOTED][-1]
    for label in (whole_loop, *(label for label in labels if label == PROMOTED)):
        after = rows[label].evaluation
        print("")
        for what, old, new in (
            ("false alarms", before.false_alarms, after.false_alarms),
            ("on no landslide", before.on_no_landslide, after.on_no_landslide),
        ):
            ratio = new / old if old else float("nan")
            print(f"{label}: {what} after/before {ratio:.2f} (target <= 0.50: "
                  f"{'met' if ratio <= 0.5 else 'NOT met'})")  # fmt: skip
        recall_ok = (after.recall or 0.0) >= (before.recall or 0.0)
        print(f"{label}: object recall equal or better: {'yes' if recall_ok else 'NO'}")
    print("seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    (work / "result.json").write_text(
        json.dumps(
            {
                "rows": {label: scored.evaluation.__dict__ for label, scored in rows.items()},
                "paired": pairs,
                "reviews": counts,
                "operating_point": point,
                "family": family_key,
                "finetune": None if config is None else asdict(config),
                "timings": timings,
                "threads": os.environ.get("OMP_NUM_THREADS"),
            },
            indent=1,
        )
    )


def _refitted(source: Path, target: Path, data: Path, review_weight: float) -> Path:
    """A copy of the manifest folder ``source`` at ``target`` with its object filter refitted on
    the reviewed scenes of ``data`` (``monitor.ops.filter_refit``); the new manifest's path."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    refit_filter(target / "manifest.json", data, review_weight=review_weight)
    return target / "manifest.json"


def _manifests(
    bundled: Path, work: Path, data: Path, review_weight: float, config: FinetuneConfig
) -> dict[str, Path]:
    """The manifests to run on the held-out regions: the bundled one, its filter refitted with
    the reviews, the members fine-tuned from the bundled manifest (its filter inherited), and
    the whole loop as docs/models.md has it: the filter of the reviewed ensemble refitted, then
    the members fine-tuned from that manifest (which keeps the refitted filter and its cut).
    Fine-tuning never reads the filter, so the two fine-tunings give the same members."""
    manifests = {"before (bundled)": bundled}
    refitted = None
    if read_manifest(bundled).object_filter is not None:
        refitted = _refitted(bundled.parent, work / "refit-only", data, review_weight)
        manifests["filter refitted (bundled members)"] = refitted
    manifests["fine-tuned members"] = finetune(bundled, data, work / "tuned", config)
    if refitted is not None:
        manifests["filter refitted, then members fine-tuned"] = finetune(
            refitted, data, work / "refit-then-tuned", config
        )
    return manifests


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-review")
    p.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--iterations", type=int, default=40)
    p.add_argument("--review-regions", type=int, default=4)
    p.add_argument("--heldout-regions", type=int, default=3)
    p.add_argument(
        "--calibration-regions",
        type=int,
        default=4,
        help="left-out regions whose labelled scenes set the loop's cut at the bundled recall "
        "(0: not measured; 2 before 2026-12-03)",
    )
    cut_rule = p.add_mutually_exclusive_group()
    cut_rule.add_argument(
        "--false-alarm-budget",
        type=float,
        default=FALSE_ALARM_BUDGET,
        help="of the bundled chain's false objects on the calibration regions: the operating "
        "point takes the lowest cut within it at the bundled recall (operating_point; "
        f"default {FALSE_ALARM_BUDGET})",
    )
    cut_rule.add_argument(
        "--highest-cut",
        action="store_true",
        help="the operating point takes the highest cut at the bundled recall (the rule "
        "before 2026-12-05; the switch to the refit alone where the loop reaches no cut is "
        "new: before, the loop ran at the cut it carried)",
    )
    p.add_argument(
        "--false-alarm-share",
        type=float,
        default=FinetuneConfig.false_alarm_share,
        help="of the fine-tuning batches (models finetune)",
    )
    p.add_argument(
        "--epoch-rule",
        choices=("one-se", "best"),
        default="one-se",
        help="which epoch of each fine-tuned member is kept (models finetune; 'best', the "
        "highest held-out F1, before 2026-12-03)",
    )
    p.add_argument(
        "--known-within-m",
        default="100",
        help="dataset.known_within_m of the reviewed scenes ('none': all background)",
    )
    p.add_argument(
        "--review-weight", type=float, default=1.0, help="of the filter refit (filter_refit)"
    )
    p.add_argument(
        "--update-norm",
        action="store_true",
        help="fine-tuning updates the batch-norm statistics from its crops (before 2026-12-02)",
    )
    p.add_argument(
        "--known-only-scores",
        action="store_true",
        help="fine-tuning scores its held-out choices on the known pixels alone (before "
        "2026-12-02: new detections in unreviewed parts of a scene cost nothing)",
    )
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="added to the regions' seeds (review 101.., held-out 201.., calibration 301..): "
        "another draw",
    )
    p.add_argument(
        "--family",
        default=None,
        metavar="KEY",
        help="draw every region from this family of the randomised world "
        "('landscape/look-alike set/morphology', monitor/simulator/families.py; e.g. a "
        "held-out test family, which the bundled ensemble never saw) instead of the "
        f"{LANDSCAPE} preset",
    )
    args = p.parse_args(argv)
    if not 0.0 <= args.false_alarm_budget <= 1.0:
        p.error(f"--false-alarm-budget: {args.false_alarm_budget} is not in [0, 1]")
    if args.family is not None:
        try:
            family(args.family)
        except ValueError as exc:
            p.error(f"--family: {exc}")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("models.finetune").setLevel(logging.INFO)
    import torch

    torch.set_num_threads(1)
    work: Path = args.work.resolve()  # configs written there name files by absolute path
    work.mkdir(parents=True, exist_ok=True)
    o = args.seed_offset
    fam = args.family
    review = _regions("review", [101 + o + i for i in range(args.review_regions)], 0.0, fam)
    # each set starts one slot (0.04) plus 0.02 past the last region of the set before
    # (0.30 and 0.60 with the default counts, as before)
    held_east = max(0.30, 0.04 * args.review_regions + 0.02)
    held = _regions("heldout", [201 + o + i for i in range(args.heldout_regions)], held_east, fam)
    calib_east = max(0.60, held_east + 0.04 * args.heldout_regions + 0.02)
    calibration = _regions(
        "calib", [301 + o + i for i in range(args.calibration_regions)], calib_east, fam
    )
    build = write_config(work, args.manifest, "build", review + held + calibration)
    t0 = time.perf_counter()
    build_configured_archive(load_config(build), progress=False)
    timings = {"archive": time.perf_counter() - t0}

    t0 = time.perf_counter()
    known = None if args.known_within_m.lower() == "none" else float(args.known_within_m)
    reviewed_cfg = write_config(
        work, args.manifest, "review", review, dataset={"known_within_m": known}
    )
    for stale in (work / "review").glob("inventory.gpkg*"):
        stale.unlink()
    run_dates(reviewed_cfg)
    counts = review_by_script(reviewed_cfg)
    timings["review runs"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    data = work / "reviews-dataset"
    report = scenes_from_reviews(load_config(reviewed_cfg), data, progress=False)
    timings["dataset"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    config = FinetuneConfig(
        epochs=args.epochs,
        iterations=args.iterations,
        false_alarm_share=args.false_alarm_share,
        freeze_norm=not args.update_norm,
        presume_background=not args.known_only_scores,
        epoch_rule=args.epoch_rule.replace("-", "_"),
        threads=1,
    )
    manifests = _manifests(args.manifest, work, data, args.review_weight, config)
    timings["refit and fine-tuning"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rows = {}
    for i, (label, manifest) in enumerate(manifests.items()):
        name = f"heldout-{i}"
        for stale in (work / name).glob("inventory.gpkg*"):
            stale.unlink()
        rows[label] = run_dates(write_config(work, manifest, name, held))
    timings["held-out runs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = list(manifests)[-1]
    point = None
    tables: dict[str, Any] = {
        "heldout": {label: list(scored.candidates) for label, scored in rows.items()},
        "heldout_events": {label: scored.evaluation.events for label, scored in rows.items()},
        "calibration": {},
    }
    if calibration:
        scenes = labelled_scenes(build, calibration, work / "calibration-scenes")
        for label, manifest in manifests.items():
            if read_manifest(manifest).object_filter is not None:
                tables["calibration"][label] = calibration_table(manifest, scenes)
    (work / "tables.json").write_text(json.dumps(tables))
    timings["tables"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if read_manifest(manifests[loop]).object_filter is not None and calibration:
        refit = "filter refitted (bundled members)"
        candidates = {k: manifests[k] for k in (loop, refit) if k in manifests}
        budget = None if args.highest_cut else args.false_alarm_budget
        rows[PROMOTED], point = promoted(
            work, work / "calibration-scenes", held, candidates, args.manifest,
            rows["before (bundled)"], budget,
        )  # fmt: skip
    timings["operating point"] = time.perf_counter() - t0
    _report(work, review, held, counts, report, rows, timings, point, args.family, config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
