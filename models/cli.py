"""``python -m models``: train a grid, assemble an ensemble, evaluate it, import checkpoints.

python -m models train --grid models/default/grid.yaml --work runs/grid --out models/default
python -m models select --work runs/grid --grid models/default/grid.yaml --k 5 --out ens/
python -m models evaluate --data test/ --manifest models/default/manifest.json --out eval/
python -m models evaluate --data test/ --in-family test_in/ --val val/ --manifest m.json --out e/
python -m models import-checkpoint model.ckpt --manifest ens/manifest.json --stats stats.csv
python -m models info models/default/manifest.json
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]


def _train(args: argparse.Namespace) -> int:
    from models.grid import load_grid, run_grid

    grid = load_grid(args.grid)
    if args.train or args.val:
        from models.grid import DataFolders

        old = grid.data
        train = args.train or (old.train if old else None)
        val = args.val or (old.val if old else None)
        if train is None or val is None:
            raise ValueError("the grid names no data folders: pass both --train and --val")
        grid.data = DataFolders(train=train, val=val, test=old.test if old else None)
    manifest = run_grid(grid, args.work, args.out, progress=not args.quiet, workers=args.workers)
    print(manifest)
    return 0


def _select(args: argparse.Namespace) -> int:
    from models.datasets import read_folder
    from models.grid import load_grid, select_ensemble, trained_results

    grid = load_grid(args.grid)
    val_dir = args.val or (grid.data.val if grid.data else None)
    if val_dir is None:
        raise SystemExit("no validation folder: pass --val or name data.val in the grid")
    results = trained_results(grid, Path(args.work))
    if not results:
        raise SystemExit(f"no trained member of the grid in {args.work}")
    manifest = select_ensemble(grid, results, read_folder(val_dir), args.out, k=args.k)
    print(manifest)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from models.evaluate import evaluate_folder

    if args.in_family is not None:
        return _evaluate_generalisation(args)
    evaluate_folder(
        args.data,
        args.manifest,
        args.out,
        settings=args.setting,
        val=args.val,
        device=args.device,
        write_predictions=not args.no_predictions,
        progress=not args.quiet,
    )
    print((Path(args.out) / "report.md").read_text())
    return 0


def _evaluate_generalisation(args: argparse.Namespace) -> int:
    from models.generalisation import evaluate_generalisation

    evaluate_generalisation(
        args.in_family,
        args.data,
        args.manifest,
        args.out,
        settings=args.setting,
        val=args.val,
        device=args.device,
        write_predictions=not args.no_predictions,
        progress=not args.quiet,
    )
    print((Path(args.out) / "generalisation.md").read_text())
    return 0


def _import(args: argparse.Namespace) -> int:
    from models.checkpoint_import import import_checkpoint, read_statistics
    from models.datasets import band_statistics, read_folder

    if args.stats:
        stats = read_statistics(args.stats)
    elif args.stats_from:
        stats = band_statistics(read_folder(args.stats_from), "all")
    else:
        raise SystemExit(
            "the checkpoint holds no normalisation: pass --stats FILE (band_mean/band_std) or "
            "--stats-from FOLDER (the Ganerød-layout training folder)"
        )
    path = import_checkpoint(
        args.checkpoint,
        args.manifest,
        stats,
        val_f1=args.val_f1,
        threshold=args.threshold,
        architecture=args.architecture,
        encoder=args.encoder,
        loss=args.loss,
        learning_rate=args.lr,
        setting=args.setting,
    )
    print(path)
    return 0


def _info(args: argparse.Namespace) -> int:
    from models.manifest import read_manifest

    m = read_manifest(args.manifest)
    print(f"{args.manifest}: {m.description}")
    for setting, entry in m.settings.items():
        print(f"{setting}: {len(entry.members)} members, threshold {entry.threshold:.2f}")
        for name in entry.members:
            e = m.member(name)
            f1 = f"{e.val_f1:.3f}" if e.val_f1 is not None else "  –  "
            print(f"  {f1}  {e.architecture:14s} {e.loss:8s} lr={e.learning_rate:<6g} {e.encoder}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a grid (resumable) and write the top-K ensemble")
    t.add_argument("--grid", type=Path, required=True, help="grid YAML")
    t.add_argument("--work", type=Path, required=True, help="folder for members and resume state")
    t.add_argument("--out", type=Path, required=True, help="ensemble folder (manifest + weights)")
    t.add_argument("--train", type=Path, help="training folder (overrides the grid's data.train)")
    t.add_argument("--val", type=Path, help="validation folder (overrides data.val)")
    t.add_argument(
        "--workers", type=int, help="members trained at once, one process each (default: grid)"
    )
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    t.set_defaults(func=_train)

    s = sub.add_parser("select", help="re-assemble an ensemble from trained members")
    s.add_argument("--grid", type=Path, required=True)
    s.add_argument("--work", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--val", type=Path)
    s.add_argument("--k", type=int, help="members per setting (default: the grid's k)")
    s.set_defaults(func=_select)

    e = sub.add_parser("evaluate", help="evaluate a manifest on a Ganerød-layout folder")
    e.add_argument("--data", type=Path, required=True, help="folder with input/ and label/")
    e.add_argument("--manifest", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True, help="predictions and report go here")
    e.add_argument("--val", type=Path, help="validation folder to fit the baseline thresholds")
    e.add_argument("--setting", action="append", help="evaluate only this setting (repeatable)")
    e.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when present)")
    e.add_argument("--no-predictions", action="store_true", help="do not write <id>_pred.tif")
    e.add_argument(
        "--in-family",
        type=Path,
        help="in-family test folder: --data is then the out-of-family one, and both are "
        "reported side by side (generalisation.md)",
    )
    e.add_argument("-q", "--quiet", action="store_true")
    e.set_defaults(func=_evaluate)

    i = sub.add_parser("import-checkpoint", help="add a Lightning .ckpt member to a manifest")
    i.add_argument("checkpoint", type=Path)
    i.add_argument("--manifest", type=Path, required=True, help="created if absent")
    i.add_argument("--stats", type=Path, help="CSV (band_mean, band_std) or JSON (mean, std)")
    i.add_argument("--stats-from", type=Path, help="Ganerød-layout folder to compute them from")
    i.add_argument("--architecture")
    i.add_argument("--encoder")
    i.add_argument("--loss")
    i.add_argument("--lr", type=float)
    i.add_argument("--setting")
    i.add_argument("--val-f1", type=float)
    i.add_argument("--threshold", type=float, default=0.5)
    i.set_defaults(func=_import)

    n = sub.add_parser("info", help="list a manifest's settings and members")
    n.add_argument("manifest", type=Path)
    n.set_defaults(func=_info)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from models.checkpoint_import import CheckpointError
    from models.datasets import DatasetError
    from models.manifest import ManifestError

    try:
        status: int = args.func(args)
        return status
    except (ManifestError, DatasetError, CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
