"""The shipped chain on scenes of a second generator (``bench/foreign_scenes.py``), whose
terrain, landslides, look-alikes, speckle and clouds follow other rules than the world the
ensemble and its object filter were fitted on: pixel scores of the ensemble and of the dNDVI
threshold baseline, and the chain's object recall and false objects, with the filter and
without it.

The randomised world's held-out families test generalisation to families of *that* world; they
share its renderers. These scenes share none of them (the generator does not import
``monitor.simulator``), so a filter or a member that learnt a renderer's quirk rather than a
landslide shows it here. The same engineer wrote both generators, so this is a check against
rendering choices the chain was not fitted to, not a measurement on real imagery.

The baseline's thresholds are fitted on ``--val`` scenes of this generator (other seeds): it
sees this generator before it is scored, the ensemble does not, so the comparison leans
towards the baseline.

    OMP_NUM_THREADS=1 python bench/bench_foreign_scenes.py --work runs/bench-foreign

Writes ``--work``/scenes (``storm``, ``quiet``: look-alike-only, ``val``) once, and the runs
beside them; a second run reuses the scenes it finds, and with ``--adapt`` the adapted
manifests of the same parent. About 4-6 minutes on 2 shared cores with the defaults (36 scenes
scored, 3.2 km × 3.2 km each), 10 with ``--adapt 16``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _chain_tables import SIZES, figure, recall, run_chain  # noqa: E402
from foreign_scenes import false_objects_by_kind, write_foreign  # noqa: E402

from models.ensemble import DEFAULT_MANIFEST  # noqa: E402
from models.manifest import sha256_file  # noqa: E402


def _run(*args: str) -> None:
    subprocess.run([sys.executable, *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def chain(work: Path, name: str, manifest: Path, baseline: bool, tag: str = "") -> dict[str, Any]:
    """``detect --stack`` and ``evaluate --chain`` on the set ``name``; the chain report."""
    who = "baseline" if baseline else "ensemble"
    suffix = "-" + tag.replace(" ", "_").replace(",", "") if tag else ""
    scenes = work / "scenes"
    extra = ("--baseline", str(scenes / "val")) if baseline else ()
    return run_chain(scenes / name, work / "runs" / f"{who}-{name}{suffix}", manifest, *extra)


def pixel_scores(work: Path, manifest: Path) -> dict[str, Any]:
    """``models evaluate`` of the ensemble and the baseline on the storm scenes."""
    out = work / "runs" / "pixel"
    _run("-m", "models", "evaluate", "--data", str(work / "scenes" / "storm"),
         "--manifest", str(manifest), "--val", str(work / "scenes" / "val"),
         "--out", str(out), "--no-predictions", "-q")  # fmt: skip
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench-foreign")
    parser.add_argument("--storm", type=int, default=24, help="scenes with landslides")
    parser.add_argument("--quiet", type=int, default=12, help="look-alike-only scenes")
    parser.add_argument("--val", type=int, default=8, help="scenes to fit the baseline on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="ensemble")
    parser.add_argument(
        "--adapt",
        type=int,
        default=0,
        metavar="N",
        help="also adapt the ensemble to this generator with N labelled scenes more (other "
        "seeds) and the --val scenes as the dataset (docs/models.md, 'Improve the model from "
        "your reviews', steps 3, 4 and 7): the filter refitted on a copy, the members "
        "fine-tuned from it, the cut set at the shipped recall on --val scenes more; all scored",
    )
    args = parser.parse_args()
    for name in ("storm", "quiet", "val"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} {getattr(args, name)}: at least 1")
    if args.adapt < 0:
        parser.error(f"--adapt {args.adapt}: 0 (no adaptation) or more scenes")
    if not args.manifest.is_file():
        parser.error(f"--manifest {args.manifest}: no such file")
    # the subprocesses run in the repository: every path they are given is absolute
    args.work, args.manifest = args.work.resolve(), args.manifest.resolve()
    started = time.perf_counter()
    scenes = args.work / "scenes"
    record = scenes / "drawn.json"
    wanted = {
        "storm": args.storm,
        "quiet": args.quiet,
        "val": args.val,
        "seed": args.seed,
        "train": args.adapt,
    }
    if record.is_file():
        drawn = json.loads(record.read_text())
        if drawn["wanted"] != wanted:
            parser.error(
                f"--work {args.work} holds scenes drawn with {drawn['wanted']}, not {wanted}: "
                "give a --work of its own"
            )
    else:
        drawn = {
            "wanted": wanted,
            "sets": write_foreign(scenes, args.storm, args.quiet, args.seed, args.val),
        }
        if args.adapt:
            # the adaptation's dataset: train/ of its own, val/ the baseline's scenes; the
            # scored sets stay out of it (and out of the fine-tuned manifest's dataset hash)
            labelled = args.work / "labelled"
            drawn["sets"] |= write_foreign(
                labelled, 0, 0, args.seed, n_train=args.adapt, n_calibration=args.val
            )
            link = labelled / "val"
            if link.is_symlink():  # a draw interrupted before its record was written
                link.unlink()
            link.symlink_to((scenes / "val").resolve(), target_is_directory=True)
        record.write_text(json.dumps(drawn, indent=1) + "\n")
    print(f"scenes of the second generator ({time.perf_counter() - started:.0f} s):")
    for name, what in drawn["sets"].items():
        print(f"  {name}: {what['scenes']} scenes, {what['slides']} landslides drawn, "
              f"look-alikes {what['lookalikes']}")  # fmt: skip

    report = pixel_scores(args.work, args.manifest)
    print("\npixel scores on the storm scenes (ensemble at its validation K and threshold; "
          "baseline fitted on this generator's val scenes):")  # fmt: skip
    print("| setting | ensemble P | R | F1 | baseline F1 |")
    print("| --- | --- | --- | --- | --- |")
    for setting, row in report["settings"].items():
        ens, base = row["pooled"]["ensemble"], row["pooled"].get("baseline") or {}
        # a setting that flags no pixel has no precision (null): found running the smallest
        # draw, whose one storm scene S1 flagged nothing
        print(f"| {setting} | {figure(ens['precision'], '.3f')} | {figure(ens['recall'], '.3f')} "
              f"| {figure(ens['f1'], '.3f')} | {figure(base.get('f1'), '.3f')} |")  # fmt: skip

    manifests = [("shipped", args.manifest)]
    if args.adapt:
        manifests += adapt(args.work, args.manifest)
    for label, manifest in manifests:
        print_chain(args.work, label, manifest)
    print(f"({time.perf_counter() - started:.0f} s in all; OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS', 'unset')})")  # fmt: skip
    return 0


def adapt(work: Path, manifest: Path) -> list[tuple[str, Path]]:
    """The steps of docs/models.md "Train on your own inventory" on ``work/labelled`` (its
    ``train`` and ``val``): the object filter refitted on a copy of ``manifest``'s folder, then
    the members fine-tuned from that copy (the order the refit asks for), then the fine-tuned
    chain's cut set at the shipped chain's recall on the ``calibration`` scenes, which neither
    step saw (``monitor.ops.operating_point``, step 7 of "Improve the model from your
    reviews"); their manifests, labelled."""
    labelled = work / "labelled"
    folder = work / "adapt"
    refit, tuned, operating = folder / "refit", folder / "tuned", folder / "at-shipped-recall"
    parent = {"manifest": str(manifest), "sha256": sha256_file(manifest)}
    record = folder / "parent.json"
    if record.is_file() and json.loads(record.read_text()) != parent:
        raise SystemExit(
            f"{folder} was adapted from {json.loads(record.read_text())}, not {parent}: "
            "give a --work of its own"
        )
    folder.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(parent) + "\n")
    # each step writes into a folder of its own that is renamed only once it succeeded, so that
    # an interrupted or failed step runs again rather than passing for done
    if not refit.is_dir():
        part = _fresh(refit.with_name("refit.part"))
        shutil.copytree(manifest.parent, part)
        _run("-m", "monitor.ops.filter_refit", "--manifest", str(part / "manifest.json"),
             "--data", str(labelled))  # fmt: skip
        part.rename(refit)
    if not tuned.is_dir():
        part = _fresh(tuned.with_name("tuned.part"))
        _run("-m", "models", "finetune", "--manifest", str(refit / "manifest.json"),
             "--data", str(labelled), "--out", str(part))  # fmt: skip
        part.rename(tuned)
    out = [
        ("filter refitted", refit / "manifest.json"),
        ("filter refitted, members fine-tuned", tuned / "manifest.json"),
    ]
    if not operating.is_dir():
        part = _fresh(operating.with_name("at-shipped-recall.part"))
        shutil.copytree(tuned, part)
        # exit status 2 where no cut reaches the shipped recall: nothing written, no such row
        done = subprocess.run(
            [sys.executable, "-m", "monitor.ops.operating_point",
             "--manifest", str(part / "manifest.json"), "--reference", str(manifest),
             "--data", str(labelled / "calibration"), "--write"],
            cwd=ROOT, check=False,
        )  # fmt: skip
        if done.returncode == 2:
            print("no cut of the fine-tuned chain reaches the shipped recall: no such row")
            return out
        done.check_returncode()
        part.rename(operating)
    return [*out, ("the same at the shipped recall", operating / "manifest.json")]


def _fresh(folder: Path) -> Path:
    """``folder``, emptied of what a failed step left there."""
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def print_chain(work: Path, label: str, manifest: Path) -> None:
    """The chain's table for one manifest (the baseline's rows with the shipped one only)."""
    print(f"\nthe chain (detect --stack, evaluate --chain), {label}: {manifest}")
    print("| scenes | chain | recall < 0.1 ha | 0.1–0.5 ha | 0.5–1 ha | ≥ 1 ha | false objects "
          "/ 100 km² | ≥ 0.5 ha | pixel F1 |")  # fmt: skip
    print("| --- " * 9 + "|")
    kinds: dict[str, dict[str, int]] = {}
    for baseline in (False, True) if label == "shipped" else (False,):
        who = "threshold baseline" if baseline else "ensemble"
        for name in ("storm", "quiet"):
            rep = chain(work, name, manifest, baseline, "" if label == "shipped" else label)
            if not baseline:
                kinds[name] = false_objects_by_kind(Path(rep["detections"]), work / "scenes" / name)
            for which, key in (("no filter", "without_filter"), ("+ filter", "with_filter")):
                block = rep[key]
                cells = [recall(block, s) for s in SIZES] if name == "storm" else ["–"] * 4
                print(
                    f"| {name} ({block['scenes']}, {block['area_km2']:.1f} km²) | {who}, "
                    f"{which} | {' | '.join(cells)} | "
                    f"{figure(block['false_per_100km2'], '.1f')} | "
                    f"{figure(block['false_large_per_100km2'], '.1f')} | "
                    f"{figure(block['pixel_f1'], '.2f') if name == 'storm' else '–'} |"
                )
    for name, counts in kinds.items():
        print(f"  the ensemble's false objects with its filter, {name} scenes, by what the "
              f"generator drew under them: {counts}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
