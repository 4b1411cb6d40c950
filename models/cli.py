"""``python -m models``: train a grid, assemble an ensemble, evaluate it, import checkpoints.

python -m models train --grid models/default/grid.yaml --work runs/grid --out models/default
python -m models select --work runs/grid --grid models/default/grid.yaml --k 5 --out ens/
python -m models evaluate --data test/ --manifest default --out eval/
python -m models evaluate --chain detections/ --data test/ [--out eval/]
python -m models evaluate --data test/ --in-family test_in/ --val val/ --manifest m.json --out e/
python -m models import-checkpoint model.ckpt --manifest ens/manifest.json --stats stats.csv
python -m models info default            # the bundled ensemble, wherever it is installed
python -m models copy default refitted/  # a copy to refit or edit (monitor.ops.filter_refit)
python -m models extend --manifest grid/manifest.json --data data/ --work ext/ --out ens/ --epochs 9
python -m models finetune --manifest default --data reviews/ --out tuned/
python -m models compare default tuned/manifest.json --data reviews/
python -m models lineage tuned/manifest.json

A manifest argument may be ``default``: the bundled ensemble (``models/default/manifest.json``
in a checkout, inside site-packages when installed).

Exit status 2: an argument or file to correct (the error names it); 130: interrupted (Ctrl-C);
143: stopped by SIGTERM (``kill PID``, a batch queue's time limit), which unwinds as Ctrl-C does
(``train``'s workers end with it; its members resume on the next run); 141: the reader of
standard output left (``... | head``), as a writer killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from models.signals import interrupt_on_signals, stop_status, swallowed_stop

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
    from models.grid import load_grid, refuse_other_schedules, select_ensemble, trained_results
    from models.selection import refuse_without_landslides, rescored

    grid = load_grid(args.grid)
    val_dir = args.val or (grid.data.val if grid.data else None)
    if val_dir is None:
        raise ValueError("no validation folder: pass --val or name data.val in the grid")
    results = trained_results(grid, Path(args.work))
    if not results:
        raise ValueError(f"no trained member of the grid in {args.work}")
    refuse_other_schedules(grid, results)
    val = read_folder(val_dir)
    # the members ranked on the scenes K and the threshold are chosen on: the folder training
    # scored them on is not recorded (`train --val` may have named another than the grid's),
    # so they are scored again, as training scores an epoch
    refuse_without_landslides(val)
    config = grid.train_config()
    results = rescored(results, val, threshold=config.val_threshold, tile=config.val_tile)
    manifest = select_ensemble(grid, results, val, args.out, k=args.k)
    print(manifest)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    if args.chain is not None:
        from models.chain_metrics import evaluate_chain, format_chain_report, write_chain_report

        if args.manifest is not None:  # it was accepted and ignored
            raise ValueError(
                "evaluate --chain scores the polygons `detect --stack` drew, with the manifest "
                "it ran (its summary.json's model); --manifest is not read: run detect --stack "
                "--manifest M, then evaluate --chain on its folder"
            )

        report = evaluate_chain(args.chain, args.data)
        if args.out is not None:
            write_chain_report(report, args.out)
        print(format_chain_report(report))
        return 0
    if args.manifest is None or args.out is None:
        raise ValueError("evaluate needs --manifest and --out (or --chain DETECTIONS_DIR)")
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


def _setting(text: str) -> str:
    """A ``--setting`` as the models spell it (:func:`models.datasets.canonical_setting`)."""
    from models.datasets import canonical_setting

    return canonical_setting(text)


def _folder_statistics(folder: Path) -> tuple[list[float], list[float]]:
    from models.datasets import band_statistics, read_folder

    return band_statistics(read_folder(folder), "all")


def _no_statistics() -> tuple[list[float], list[float]]:
    raise ValueError(
        "the checkpoint holds no normalisation: pass --stats FILE (band_mean/band_std) or "
        "--stats-from FOLDER (the Ganerød-layout training folder)"
    )


def _import(args: argparse.Namespace) -> int:
    from models.checkpoint_import import import_checkpoint, imported_statistics, read_statistics

    stats: tuple[Sequence[float], Sequence[float]] | Callable[[], Any]
    if args.stats:
        stats = read_statistics(args.stats)
    elif args.stats_from:  # computed once the checkpoint is read: a file that is none fails first
        stats = functools.partial(_folder_statistics, args.stats_from)
    elif (earlier := imported_statistics(args.manifest, args.checkpoint)) is not None:
        stats = earlier  # imported before: the same import again, a threshold or F1 to set
    else:
        # asked for once the checkpoint is read: a file that is none, or a network another
        # member has (a renamed copy: found in a walk, told first that it held no statistics),
        # is refused for what it is first
        stats = _no_statistics

    path = import_checkpoint(
        args.checkpoint,
        args.manifest,
        stats,
        val_f1=args.val_f1,
        threshold=args.threshold,
        replace=args.replace,
        architecture=args.architecture,
        encoder=args.encoder,
        loss=args.loss,
        learning_rate=args.lr,
        setting=args.setting,
    )
    print(path)
    return 0


def _info(args: argparse.Namespace) -> int:
    """The manifest's settings and members, then every file it checksums, each checked: exit 1
    when one is missing or differs, or a member's normalisation in the manifest differs from
    its weights' (a model that ``detect``, ``evaluate`` or a run would refuse to load)."""
    from models.manifest import manifest_files, normalisation_matches, read_manifest, sha256_file

    m = read_manifest(args.manifest)
    print(f"{args.manifest}: {m.description or '(no description)'}")
    for setting, entry in m.settings.items():
        print(
            f"{setting}: {len(entry.members)} members, threshold {entry.threshold:.2f} "
            "(each member: its validation F1, architecture, loss, learning rate, encoder)"
        )
        for name in entry.members:
            e = m.member(name)
            f1 = f"{e.val_f1:.3f}" if e.val_f1 is not None else "  –  "
            without = f"  without {', '.join(e.without_bands)}" if e.without_bands else ""
            print(
                f"  {f1}  {e.architecture:14s} {e.loss:8s} lr={e.learning_rate:<6g} {e.encoder}"
                f"{without}"
            )
    if m.object_filter is not None:
        print(f"object filter: {len(m.object_filter.features)} features, cut {m.object_filter.cut}")
    else:  # said (found in a walkthrough): every candidate of such an ensemble alerts
        print("object filter: none (every candidate alerts; python -m monitor.ops.filter_fit)")
    bad = 0
    print("files (SHA-256 against the manifest):")
    weights = {e.file: e for e in m.members}
    for what, name, sha256 in manifest_files(m):
        path = Path(args.manifest).parent / name
        if not path.is_file():
            verdict = "MISSING"
        elif sha256_file(path) != sha256:
            verdict = "MISMATCH (modified or corrupted)"
        elif name in weights and not normalisation_matches(weights[name], path):
            # the checksum covers the file, not the manifest's mean and std: an edited one
            # passes it, and evaluate, detect and a run refuse the member
            verdict = "MISMATCH (its normalisation differs from the manifest's)"
        else:
            verdict = "ok"
        bad += verdict != "ok"
        print(f"  {verdict:8s} {name}  ({what})")
    if bad:
        print(
            f"{bad} file(s) fail their check: a run and `detect` refuse members' weights and an "
            "object filter that fail it, the filter refit its candidates table"
        )
    return 1 if bad else 0


def _finetune(args: argparse.Namespace) -> int:
    from models.finetune import FinetuneConfig, finetune

    config = FinetuneConfig(
        epochs=args.epochs,
        iterations=args.iterations,
        lr_scale=args.lr_scale,
        false_alarm_share=args.false_alarm_share,
        crop=args.crop,
        seed=args.seed,
        k=args.k,
        presume_background=not args.known_only_scores,
        epoch_rule=args.epoch_rule.replace("-", "_"),
        device=args.device,
        threads=args.threads,
    )
    print(finetune(args.manifest, args.data, args.out, config))
    return 0


def _extend(args: argparse.Namespace) -> int:
    from models.extend import extend_ensemble

    print(
        extend_ensemble(
            args.manifest,
            args.data,
            args.work,
            args.out,
            epochs=args.epochs,
            patience=args.patience,
            average_last=args.average_last,
            workers=args.workers,
            device=args.device,
            threads=args.threads,
            progress=not args.quiet,
        )
    )
    return 0


def _compare(args: argparse.Namespace) -> int:
    from models.compare import compare_manifests, format_comparison, write_report

    report = compare_manifests(
        args.old, args.new, args.data, settings=args.setting, device=args.device
    )
    if args.out:
        write_report(report, args.out)
    print(format_comparison(report))
    return 0


def _lineage(args: argparse.Namespace) -> int:
    from models.lineage import verify_lineage

    lineage = verify_lineage(args.manifest, parent=args.parent, dataset=args.data)
    print(f"{args.manifest}: lineage verified")
    # the files checked: those given (a moved parent or dataset), else the recorded ones
    parent = args.parent or lineage.parent_manifest
    data = args.data or lineage.dataset
    print(f"  parent  {parent} sha256 {lineage.parent_sha256}")
    print(f"  dataset {data} ({lineage.dataset_files} files) {lineage.dataset_sha256}")
    return 0


def _manifest(text: str) -> Path:
    """A manifest argument: a path, or ``default`` (:func:`models.manifest.manifest_arg`)."""
    from models.manifest import manifest_arg

    return manifest_arg(text)


def _copy(args: argparse.Namespace) -> int:
    from models.manifest import copy_manifest

    copied = copy_manifest(args.manifest, args.folder)
    print(f"copied {args.manifest} and the files it checksums to {copied}")
    return 0


def _add_copy(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``copy``: a manifest and its files into a new folder."""
    c = sub.add_parser(
        "copy",
        help="copy a manifest and the files it checksums into a new folder (to refit or edit)",
    )
    c.add_argument("manifest", type=_manifest, help="the manifest, or `default`")
    c.add_argument("folder", type=Path, help="a folder that does not exist yet")
    c.set_defaults(func=_copy)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models", description=__doc__.split("\n")[0])
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_select(sub)
    _add_evaluate(sub)
    _add_import_checkpoint(sub)
    _add_finetune(sub)
    _add_extend(sub)
    _add_compare(sub)
    _add_lineage(sub)
    _add_info(sub)
    _add_copy(sub)
    return p


def _add_train(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``train``: a grid, resumable, into the top-K ensemble."""
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


def _add_select(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``select``: re-assemble an ensemble from trained members."""
    s = sub.add_parser("select", help="re-assemble an ensemble from trained members")
    s.add_argument("--grid", type=Path, required=True, help="the grid YAML that trained them")
    s.add_argument("--work", type=Path, required=True, help="the grid's work folder")
    s.add_argument("--out", type=Path, required=True, help="folder of the new manifest")
    s.add_argument(
        "--val",
        type=Path,
        help="validation folder to rank the members and choose K and the threshold on "
        "(default: the grid's data.val)",
    )
    s.add_argument("--k", type=int, help="members per setting (default: the grid's k)")
    s.set_defaults(func=_select)


def _add_evaluate(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``evaluate``: a manifest (or the chain's polygons) on a Ganerød-layout folder."""
    e = sub.add_parser("evaluate", help="evaluate a manifest on a Ganerød-layout folder")
    e.add_argument("--data", type=Path, required=True, help="folder with input/ and label/")
    e.add_argument(
        "--manifest",
        type=_manifest,
        help="the ensemble to score pixel by pixel (required, but with --chain; `default`: the "
        "bundled one)",
    )
    e.add_argument(
        "--out",
        type=Path,
        help="predictions and report go here (required, but with --chain, where it is optional)",
    )
    e.add_argument(
        "--chain",
        type=Path,
        metavar="DETECTIONS_DIR",
        help="score the polygons `landslide-monitor detect --stack` wrote there instead: object "
        "recall by size class, false objects per 100 km², pixel P/R/F1 of the final mask, "
        "with and without the object filter",
    )
    e.add_argument("--val", type=Path, help="validation folder to fit the baseline thresholds")
    e.add_argument(
        "--setting",
        action="append",
        type=_setting,
        help="evaluate only this setting (repeatable; S1, S2, S1+S2, all; any case)",
    )
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


def _add_import_checkpoint(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``import-checkpoint``: a Lightning checkpoint into a manifest."""
    i = sub.add_parser("import-checkpoint", help="add a Lightning .ckpt member to a manifest")
    i.add_argument("checkpoint", type=Path)
    # the text as typed: Path("pub2/") drops the separator that says a folder was meant
    i.add_argument("--manifest", required=True, help="the manifest file, created if absent")
    # one or the other: given both, --stats was used without a word (found in a walkthrough)
    stats = i.add_mutually_exclusive_group()
    stats.add_argument("--stats", type=Path, help="CSV (band_mean, band_std) or JSON (mean, std)")
    stats.add_argument("--stats-from", type=Path, help="Ganerød-layout folder to compute them from")
    i.add_argument("--architecture")
    i.add_argument("--encoder")
    i.add_argument("--loss")
    i.add_argument("--lr", type=float)
    i.add_argument("--setting", type=_setting)
    i.add_argument(
        "--val-f1",
        type=float,
        help="the member's validation F1, in [0, 1] (evaluate's best single member: the highest)",
    )
    i.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="the setting's threshold (default: kept for a setting the manifest has, else 0.5)",
    )
    i.add_argument(
        "--replace",
        action="store_true",
        help="put it in the place of the member of the same name from another checkpoint",
    )
    i.set_defaults(func=_import)


def _add_finetune(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``finetune``: a manifest's members on a dataset."""
    f = sub.add_parser(
        "finetune", help="fine-tune a manifest's members on a dataset (train/ and val/)"
    )
    f.add_argument(
        "--manifest", type=_manifest, required=True, help="the parent manifest, or `default`"
    )
    f.add_argument("--data", type=Path, required=True, help="dataset folder with train/ and val/")
    f.add_argument("--out", type=Path, required=True, help="folder of the new manifest + weights")
    f.add_argument("--epochs", type=int, default=4, help="epochs per member (default 4)")
    f.add_argument(
        "--iterations", type=int, default=40, help="optimiser steps per epoch (default 40)"
    )
    f.add_argument(
        "--lr-scale", type=float, default=0.1, help="times each member's rate (default 0.1)"
    )
    f.add_argument(
        "--false-alarm-share",
        type=float,
        default=0.5,
        help="share of every batch anchored on the member's own false alarms (default 0.5)",
    )
    f.add_argument(
        "--crop",
        type=int,
        default=64,
        help="side of the training crops, a multiple of 32 (default 64)",
    )
    f.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    f.add_argument(
        "--k", type=int, help="at most this many members per setting (default: all of the parent's)"
    )
    f.add_argument(
        "--known-only-scores",
        action="store_true",
        help="score the held-out choices on the known pixels alone (default: an unreviewed pixel "
        "the parent predicts no landslide on counts as background)",
    )
    f.add_argument(
        "--epoch-rule",
        choices=("one-se", "best"),
        default="one-se",
        help="which epoch of each member is kept: one-se (default: of the epochs that keep the "
        "parent's held-out object recall, the earliest within one standard error of the best "
        "F1, so the parent's weights unless the best gains more than that) or best (the "
        "highest held-out F1)",
    )
    f.add_argument("--device", help="cpu, cuda, ... (default: CUDA when present)")
    f.add_argument("--threads", type=int, help="torch CPU threads")
    f.set_defaults(func=_finetune)


def _add_extend(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``extend``: a manifest's members trained on, more epochs for the chosen ones."""
    e = sub.add_parser(
        "extend",
        help="train a grid ensemble's chosen members on for more epochs, then choose K and the "
        "thresholds again (resumable)",
    )
    e.add_argument(
        "--manifest", type=_manifest, required=True, help="the parent manifest (a grid's)"
    )
    e.add_argument("--data", type=Path, required=True, help="dataset folder with train/ and val/")
    e.add_argument("--work", type=Path, required=True, help="work folder (rerunning resumes)")
    e.add_argument("--out", type=Path, required=True, help="folder of the new manifest + weights")
    e.add_argument(
        "--epochs",
        type=int,
        required=True,
        help="this many epochs more (with --average-last 0: at most, --patience may stop sooner)",
    )
    e.add_argument(
        "--average-last",
        type=int,
        help="keep the mean of the weights of the last N epochs (stochastic weight averaging; "
        "default: a third of --epochs, at least 1); 0 keeps each member's best epoch instead",
    )
    e.add_argument(
        "--patience",
        type=int,
        help="with --average-last 0: epochs without a better validation F1 before a member "
        "stops (default: the grid's)",
    )
    e.add_argument("--workers", type=int, help="members trained at once (default: the grid's)")
    e.add_argument("--device", help="cpu, cuda, ... (default: CUDA when present)")
    e.add_argument("--threads", type=int, help="torch CPU threads per member")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=_extend)


def _add_compare(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``compare``: two manifests on a dataset."""
    c = sub.add_parser("compare", help="paired scene bootstrap of two manifests on a dataset")
    c.add_argument("old", type=_manifest, help="a manifest, or `default`")
    c.add_argument("new", type=_manifest, help="a manifest, or `default`")
    c.add_argument("--data", type=Path, required=True, help="Ganerød folder, or dataset root")
    c.add_argument(
        "--setting", action="append", type=_setting, help="only this setting (repeatable)"
    )
    c.add_argument("--device")
    c.add_argument("--out", type=Path, help="also write the report as JSON here")
    c.set_defaults(func=_compare)


def _add_lineage(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``lineage``: a fine-tuned manifest's parent and dataset."""
    g = sub.add_parser("lineage", help="verify a fine-tuned manifest's parent and dataset")
    g.add_argument("manifest", type=_manifest)
    g.add_argument("--parent", type=_manifest, help="the parent manifest (default: recorded path)")
    g.add_argument("--data", type=Path, help="the dataset folder (default: recorded path)")
    g.set_defaults(func=_lineage)


def _add_info(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``info``: a manifest's settings and members."""
    n = sub.add_parser("info", help="list a manifest's settings and members")
    n.add_argument("manifest", type=_manifest, help="a manifest, or `default`")
    n.set_defaults(func=_info)


def _run(args: argparse.Namespace) -> int:
    """The command; an argument or file to correct is a line and status 2."""
    from models.atomic import full_disk_note, out_problem
    from models.checkpoint_import import CheckpointError
    from models.datasets import DatasetError
    from models.manifest import ManifestError

    try:
        out = getattr(args, "out", None)
        if out is not None and (problem := out_problem(out, folder=args.command != "compare")):
            raise ValueError(f"--out {problem}")
        work = getattr(args, "work", None)  # a file there was a traceback (found in a walkthrough)
        if work is not None and (problem := out_problem(work)):
            raise ValueError(f"--work {problem}")
        status: int = args.func(args)
        return status
    except (ManifestError, DatasetError, CheckpointError, ValueError) as err:
        if swallowed_stop(err) is not None:  # a stop torch turned into a ValueError of its own:
            raise  # interrupt_on_signals raises it as the stop it was (exit 143 or 130, not 2)
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `info ... | head`: main ends it quietly, as a killed writer
        raise
    except OSError as err:  # a file that cannot be written: a full disk, a folder not writable
        # (found in a walk: a traceback for a full --out, the weights copy's "No space left")
        # the note where the error has a file and does not say so (those of write_scene and of
        # the training state carry it in their message already)
        said = "No space left" in str(err) or not err.filename
        note = "" if said else full_disk_note(Path(err.filename).parent)
        print(f"error: {err}{note}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return _command(args)


def _command(args: argparse.Namespace) -> int:
    # SIGTERM to this process alone ended it with no clean-up and no word (status -15), and left
    # the workers of `train --workers N` training on as orphans (found in review, 2026-12-07);
    # signal handlers can only be set in the main thread (tests call main() in others)
    in_main = threading.current_thread() is threading.main_thread()
    try:  # the imports too: torch, timm and smp take seconds to load, Ctrl-C may come then
        with interrupt_on_signals() if in_main else contextlib.nullcontext():
            return _run(args)
    except BrokenPipeError:
        from models.console import silence_stdout, stdout_is_broken

        if not stdout_is_broken():  # a socket or subprocess pipe: an unexpected error
            raise
        silence_stdout()  # `info ... | head`: the reader left; end quietly, as a killed writer
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: a line, not a traceback, 128 + signal
        status = stop_status(stop)
        how = " by SIGTERM" if status == 128 + signal.SIGTERM else ""
        print(f"python -m models {args.command}: interrupted{how}", file=sys.stderr)
        return status
