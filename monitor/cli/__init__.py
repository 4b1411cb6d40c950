"""The command line: ``landslide-monitor`` (console script) or ``python -m monitor``.

Subcommands live in :data:`COMMANDS`, a table from name to :class:`Command`; adding one is one
entry. Every handler returns an exit status. Expected failures end in a one-paragraph message on
stderr and a non-zero status, never a traceback (``--debug`` shows it):

* 0  everything done;
* 1  the work ran but something failed (a region, an export), or an unexpected error;
* 2  bad input: the configuration, an argument, an unknown region or landslide id, a model
  manifest or weights file that fails its checks, a damaged or read-only inventory;
* 75 another run holds the inventory's lock (try again later;
  :data:`monitor.store.lock.EXIT_LOCKED`);
* 130, 143 interrupted by SIGINT (Ctrl-C) or SIGTERM (128 + the signal): a run stopped before
  its inventory update records itself ``interrupted`` and leaves the inventory as it was; one
  stopped during alert delivery has completed and leaves its unsent alerts queued
  (:func:`monitor.errors.interrupt_on_signals`).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import difflib
import importlib
import logging
import os
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from models.console import silence_stdout, stdout_is_broken
from monitor import __version__
from monitor.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    BadInput,
    interrupt_on_signals,
    stop_status,
)
from monitor.ops._args import (
    add_config,
    check_regions,
    existing_inventory,
    iso_date,
    landslide_key,
    seconds,
)

if TYPE_CHECKING:
    from datetime import date
    from types import FrameType
    from typing import Any

    from monitor.config import MonitorConfig
    from monitor.run_results import RunSummary
    from monitor.store.inventory import Inventory, LandslideStatus

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_OK", "Command", "main"]

log = logging.getLogger("monitor")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how it adds its arguments, and what it does."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    lazy: bool = False  # its module is imported only when the command is used (:func:`_lazy`)


def _load(args: argparse.Namespace) -> MonitorConfig:
    from monitor.config import load_config

    return load_config(args.config)


# --------------------------------------------------------------------------- run


def _configure_run(parser: argparse.ArgumentParser) -> None:
    add_config(parser)
    parser.add_argument(
        "--date",
        type=iso_date,
        default=None,
        help="run date, YYYY-MM-DD (default: today in schedule.timezone, UTC unless set); the "
        "post window ends the day before",
    )
    parser.add_argument(
        "--region",
        "-r",
        action="append",
        default=None,
        metavar="NAME",
        help="run only this region (repeatable); default: every region of the configuration",
    )
    parser.add_argument(
        "--redo-failed",
        action="store_true",
        help="run only the regions no run of the date completed (failed, stopped, never run); "
        "nothing where every region did",
    )
    parser.add_argument(
        "--no-alerts", action="store_true", help="queue alerts in the outbox but do not send them"
    )
    parser.add_argument(
        "--wait",
        type=seconds,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for another command holding the inventory's lock (an "
        "`alerts deliver` between runs) before giving up with exit 75 (default: at once)",
    )


def _run(args: argparse.Namespace) -> int:
    from monitor.cli.report import format_summary
    from monitor.run import NothingToRedo

    config = _load(args)
    check_regions(config, args.region)
    # today in the schedule's time zone: the calendar the daily runs are dated by, and the one
    # the future-date check uses (a plain `run` from cron was dated by UTC)
    run_date = args.date or config.schedule.today()
    if args.redo_failed:
        from monitor.store.runs import regions_to_redo

        # a first look: a region that completed a date stays so, so none left is final (no
        # source opened, no cluster started); run_once looks again under the lock
        names = args.region or [r.name for r in config.regions]
        args.region = regions_to_redo(config.inventory.path, run_date, names)
    options = {
        "regions": args.region,
        "redo_failed": args.redo_failed,
        "deliver_alerts": not args.no_alerts,
        "lock_wait_s": args.wait,
    }
    try:
        if args.redo_failed and not args.region:
            raise NothingToRedo(run_date)
        summary = _run_once(config, run_date, args, options)
    except NothingToRedo as done:
        print(f"{done}; `run` without --redo-failed runs them again")
        return EXIT_OK
    print(format_summary(summary))
    return EXIT_OK if summary.ok else EXIT_FAILED


def _run_once(
    config: MonitorConfig, run_date: date, args: argparse.Namespace, options: dict[str, Any]
) -> RunSummary:
    from monitor.run import run_once

    with interrupt_on_signals():  # SIGTERM/SIGINT: the run records itself interrupted
        if config.dask.enabled:
            from monitor.ops.distributed import dask_executor
            from monitor.store.lock import RunLock, RunLockHeld, lock_holder, lock_path_for

            # a run holds the inventory: refused (75) before the cluster's workers start, which
            # took seconds; run_once takes the lock itself, this only spares the start, and
            # waits what is left of --wait (another process may take the lock between the two)
            started = time.monotonic()
            try:
                holder = lock_holder(config.inventory.path)
            except OSError:  # unreadable, or gone meanwhile: run_once's own lock decides
                holder = None
            if holder is not None and args.wait > 0:
                with RunLock(config.inventory.path, wait_s=args.wait):  # 75 after the wait
                    holder = None
            if holder is not None:
                lock_file = lock_path_for(config.inventory.path)
                raise RunLockHeld(config.inventory.path, lock_file, holder)
            n_regions = len(args.region or config.regions)
            with dask_executor(config.dask, n_regions) as executor:
                # what is left of --wait once the cluster has started
                options["lock_wait_s"] = max(0.0, args.wait - (time.monotonic() - started))
                return run_once(config, run_date, executor=executor, progress=False, **options)
        return run_once(config, run_date, progress=not args.quiet, **options)


# --------------------------------------------------------------------------- archive


def _configure_archive(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build", help="simulate the regions' acquisitions into the archive (idempotent)"
    )
    add_config(build)


def _archive(args: argparse.Namespace) -> int:
    from monitor.run_inputs import build_configured_archive

    config = _load(args)
    with interrupt_on_signals():  # SIGTERM too ends the build through its clean-up (workers)
        path = build_configured_archive(config, progress=not args.quiet)
    print(f"archive ready: {path}")
    return EXIT_OK


# --------------------------------------------------------------------------- inventory


def _configure_inventory(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, help_text in (
        ("confirm", "mark landslides as confirmed (candidates, or dismissed ones reconsidered)"),
        (
            "dismiss",
            "mark landslides as dismissed, false alarms (their pending alerts withdrawn, the "
            "channels already alerted told)",
        ),
        ("candidate", "put a landslide back to candidate"),
    ):
        sub = actions.add_parser(action, help=help_text)
        add_config(sub)
        sub.add_argument(
            "ids",
            nargs="+",
            type=landslide_key,
            metavar="ID",
            help="the landslides' ids (fid) or uids (both in `inventory export`); several are "
            "changed together, and none if one is unknown",
        )
        sub.add_argument(
            "--note",
            metavar="TEXT",
            help="the reviewer's words, kept as the landslides' review_note (why dismissed, what "
            "it is: 'clear-cut', 'road cut'); '' clears it; default: the note stays",
        )
    review = actions.add_parser(
        "review",
        help="apply the statuses of an `inventory export` (CSV or GeoJSON) edited by hand",
    )
    add_config(review)
    review.add_argument(
        "file",
        type=Path,
        # the suffixes are listed where one is refused (monitor.store.inventory.EXPORT_FORMATS),
        # not here: the parser does not import the inventory
        help="an `inventory export` file (GeoJSON or CSV, as its suffix says) with edited statuses",
    )
    review.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )
    review.add_argument(
        "--force",
        action="store_true",
        help="apply rows that would undo reviews made after the file was exported (refused "
        "otherwise, where the file keeps the export's status_changed_at)",
    )
    listing = actions.add_parser(
        "list",
        help="print the inventory, a landslide a line: status, area, dates, event bracket and "
        "what became of its alert",
    )
    add_config(listing)
    listing.add_argument(
        "--region",
        action="append",
        default=None,
        metavar="NAME",
        help="only this region's landslides (repeatable); default: all",
    )
    listing.add_argument(
        "--since",
        type=iso_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="only the landslides first seen on or after this day (a run's date)",
    )
    export = actions.add_parser("export", help="write the inventory as GeoJSON or CSV")
    add_config(export)
    export.add_argument("output", type=Path, help="output file: GeoJSON or CSV, as its suffix says")
    for sub in (listing, export):
        sub.add_argument(
            "--status",
            action="append",
            choices=("candidate", "confirmed", "dismissed"),
            default=None,
            help="only the landslides of this review status (repeatable); default: all",
        )


_STATUS_OF_ACTION: dict[str, LandslideStatus] = {
    "confirm": "confirmed",
    "dismiss": "dismissed",
    "candidate": "candidate",
}


def _inventory(args: argparse.Namespace) -> int:
    from monitor.store.inventory import Inventory, InventoryError, StatusChange

    config = _load(args)
    path = existing_inventory(config)
    # an export or a list only reads: opened read-only, it leaves the file as it was and works
    # on a read-only mount and while a run holds the inventory, as `review` and `status` do
    dry_run = args.action == "review" and args.dry_run
    read_only = args.action in ("export", "list") or dry_run
    with Inventory(path, read_only=read_only) as inventory:
        try:
            if args.action == "list":
                from monitor.alerts.outbox import Outbox
                from monitor.ops.inventory_list import format_inventory

                with Outbox(path, read_only=True) as box:  # as the inventory: read only
                    deliveries = box.new_alert_states()
                lines = format_inventory(
                    inventory.landslides(),
                    regions=args.region or (),
                    statuses=args.status or (),
                    deliveries=deliveries,
                    since=args.since,
                    configured=[r.name for r in config.regions],
                )
                print("\n".join(lines))
                return EXIT_OK
            if args.action == "review":
                return _review_file(inventory, args.file, dry_run, args.force)
            if args.action == "export":
                written = inventory.export(args.output, status=args.status)
                statuses = inventory.landslides()["status"]
                n = len(statuses) if args.status is None else statuses.isin(args.status).sum()
                print(f"{n} landslide(s) written to {written.resolve()}")
                return EXIT_OK
            status = _STATUS_OF_ACTION[args.action]
            changes = inventory.set_statuses(
                [(key, status) for key in args.ids], [args.note] * len(args.ids)
            )
        except InventoryError as exc:
            raise BadInput(str(exc)) from None
    noted = (
        "" if args.note is None else "; review note " + ("set" if args.note.strip() else "cleared")
    )
    for key, change in zip(args.ids, changes, strict=True):
        if change.previous == status:
            print(f"landslide {key}: already {status}{noted or ', unchanged'}")
        else:
            print(f"landslide {key}: {change.previous} -> {status}{noted}")
    for line in StatusChange.summed(changes).outbox_news("it" if len(changes) == 1 else "them"):
        print(line)
    return EXIT_OK


def _review_file(inventory: Inventory, file: Path, dry_run: bool, force: bool) -> int:
    """``inventory review FILE [--dry-run] [--force]`` (:mod:`monitor.ops.inventory_review`)."""
    from monitor.ops.inventory_review import apply_review

    outcome = apply_review(inventory, file, dry_run=dry_run, force=force)
    for decision in outcome.decisions:
        print(
            f"landslide {decision.fid} (row {decision.row}): {decision.previous} -> "
            f"{decision.status}"
        )
    if outcome.redrawn:
        rows = ", ".join(str(row) for row in outcome.redrawn[:10])
        more = f" and {len(outcome.redrawn) - 10} more" if len(outcome.redrawn) > 10 else ""
        print(
            f"note: {len(outcome.redrawn)} outline(s) differ from the inventory's (row(s) "
            f"{rows}{more}): a review file's statuses and notes are read, never its outlines; "
            "to train on outlines you drew, give the file to `dataset export --inventory` "
            "(docs/models.md, Train on your own inventory)"
        )
    if dry_run:
        print(f"dry run, nothing changed: would be {outcome.summary()}")
        return EXIT_OK
    print(f"{file}: {outcome.summary()}")
    for line in outcome.outbox.outbox_news("them"):
        print(line)
    return EXIT_OK


# --------------------------------------------------------------------------- the table


def _lazy(module: str, help: str) -> Command:
    """The command whose ``cli_configure`` and ``cli_run`` live in ``module``, imported only when
    that command is used (keeps the CLI start fast). The modules are ``monitor.ops`` ones, below
    the CLI, so the lazy import hides no cycle (import-linter sees only the static imports)."""

    def configure(parser: argparse.ArgumentParser) -> None:
        importlib.import_module(module).cli_configure(parser)

    def handler(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).cli_run(args))

    return Command(help, configure, handler, lazy=True)


COMMANDS: dict[str, Command] = {
    "init": _lazy(
        "monitor.ops.init",
        "write DIR/monitor.yaml to start from: the demo's configuration, its paths in DIR",
    ),
    "run": Command("run the monitor once over the configured regions", _configure_run, _run),
    "archive": Command("manage the embedded archive", _configure_archive, _archive),
    "inventory": Command("review and export the inventory", _configure_inventory, _inventory),
    "schedule": _lazy(
        "monitor.ops.schedule",
        "run daily on the configured cron until SIGTERM (catches missed days up)",
    ),
    "review": _lazy("monitor.ops.review", "write the review map (HTML) of the inventory"),
    "status": _lazy("monitor.ops.status", "last run per region, alert backlog, next scheduled run"),
    "alerts": _lazy(
        "monitor.ops.alerts",
        "deliver, list and re-queue the alerts of the outbox between runs; test the channels",
    ),
    "season": _lazy(
        "monitor.ops.season",
        "run every N days over a simulated season and print each landslide's time to alert",
    ),
    "detect": _lazy(
        "monitor.ops.detect_stack",
        "run the detection chain on stacks you have (Ganerød et al. layout): "
        "`detect --stack SCENE_input.tif|FOLDER --out DIR`",
    ),
    "dataset": _lazy(
        "monitor.ops.dataset",
        "training scenes from a dated inventory (`dataset export`) or from the reviews of the "
        "inventory (`dataset from-reviews`)",
    ),
    "gee": _lazy(
        "monitor.ops.gee_check",
        "Earth Engine tools: `gee check` fetches one small tile per region and reports on it",
    ),
}


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logs")
    parser.add_argument(
        "-q", "--quiet", action="store_true", default=default, help="warnings only, no progress"
    )
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show tracebacks of errors"
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``argv``'s command line. A lazy command's arguments are added only when
    ``argv`` names it (every command's when ``argv`` is None), so that ``run`` does not import
    the scheduler, the review map and Earth Engine to parse its own arguments."""
    chosen = None if argv is None else next((a for a in argv if a in COMMANDS), "")
    parser = _Parser(
        prog="landslide-monitor",
        description="Daily landslide detection from Sentinel-1/2 change features.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, default=False)
    # the same options after the subcommand (`landslide-monitor run -q ...`)
    common = _Parser(add_help=False)
    _add_global_options(common, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name, help=command.help, description=command.help, parents=[common]
        )
        if not command.lazy or chosen is None or name == chosen:
            command.configure(sub)
            _nested_global_options(sub)
        sub.set_defaults(handler=command.handler, cli_parser=sub)
    return parser


def _misspelt(parser: argparse.ArgumentParser, words: Sequence[str]) -> str:
    """`` (--dates: did you mean --date?)`` for each of ``words`` that looks like an option
    ``parser`` does not take but is close to one it does, or ``""``. Names are compared without
    their dashes, which every option shares."""
    known = {o.lstrip("-"): o for action in parser._actions for o in action.option_strings}
    hints = []
    for word in words:
        name = word.split("=", 1)[0]
        if name.startswith("-") and name.lstrip("-") not in known:
            close = difflib.get_close_matches(name.lstrip("-"), list(known), n=1, cutoff=0.75)
            if close:
                hints.append(f"{name}: did you mean {known[close[0]]}?")
    return f" ({'; '.join(hints)})" if hints else ""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose error for a required option left out names the option the
    command line misspelt (``run --confg x.yaml``: the required ``--config`` is missing because
    ``--confg`` is not it; argparse says so before it gets to the unrecognised ``--confg``).
    :func:`main` gives every parser of the command line its ``words``."""

    words: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):
            message += _misspelt(self, self.words)
        super().error(message)


def _every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and its commands' parsers, and theirs (argparse keeps them only in
    ``_actions``)."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_every_parser(sub))
    return found


def _unrecognised(parser: argparse.ArgumentParser, extra: Sequence[str]) -> NoReturn:
    """argparse's error for arguments no option takes, from the (sub)command's own parser, with
    its usage (the top parser's where they all came before the command), and the option meant
    where one is close (``--dates``: ``--date``): the top parser's usage answered a mistyped
    option of ``run``."""
    parser.error(f"unrecognized arguments: {' '.join(extra)}" + _misspelt(parser, extra))


def _parser_of(
    args: argparse.Namespace,
    argv: Sequence[str],
    extra: Sequence[str],
    top: argparse.ArgumentParser,
) -> argparse.ArgumentParser:
    """The parser whose usage goes with ``extra``: the command's, unless every one of them came
    before the command's name (a misplaced global option)."""
    command = str(getattr(args, "command", ""))
    if command in argv:
        before = argv[: list(argv).index(command)]
        if all(word in before for word in extra):
            return top
    sub: argparse.ArgumentParser = getattr(args, "cli_parser", top)
    return sub


def _nested_global_options(sub: argparse.ArgumentParser) -> None:
    """The global options after a command's action too (`dataset from-reviews --debug ...`)."""
    for action in sub._actions:  # argparse keeps a parser's subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                _add_global_options(nested, default=argparse.SUPPRESS)
                nested.set_defaults(cli_parser=nested)  # its own usage for what it cannot take


#: Libraries whose INFO (or, under -v, DEBUG) lines drown the monitor's own: their warnings and
#: errors only. zarr logs every array the archive reader opens, numcodecs each codec it registers.
_NOISY = (
    "rasterio", "fiona", "pyogrio", "matplotlib", "PIL", "urllib3", "numba", "distributed",
    "zarr", "numcodecs", "asyncio",
)  # fmt: skip


class _LibraryFilter(logging.Filter):
    """Passes the records of the :data:`_NOISY` libraries (and their children) from ``level``
    up. On the handler, where a library that sets its own loggers' levels cannot undo it:
    distributed sets its loggers to INFO when first imported, after the CLI set them."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        noisy = any(name == lib or name.startswith(f"{lib}.") for lib in _NOISY)
        return not noisy or record.levelno >= self.level


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(level)  # -q holds every library to warnings, whatever its loggers' levels
    handler.addFilter(_LibraryFilter(max(level, logging.WARNING)))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        # the date and the offset too: cron's run.log, `docker logs` and a scheduler running
        # for days hold many days' lines, written in the host's zone, not the schedule's
        datefmt="%Y-%m-%d %H:%M:%S%z",
        handlers=[handler],
    )
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    if not verbose:
        # one line per alert sent drowns the run's own log; the summary gives the totals
        logging.getLogger("monitor.alerts.outbox").setLevel(max(level, logging.WARNING))


def _exit_status_of(exc: BaseException) -> tuple[int, str]:
    from models.manifest import ManifestError
    from monitor.config import ConfigError
    from monitor.store.lock import EXIT_LOCKED, RunLockHeld

    if isinstance(exc, ConfigError | BadInput | ManifestError):
        return EXIT_BAD_INPUT, str(exc)
    # Earth Engine credentials to correct (a key file, a project); the module is loaded whenever
    # such an error can exist, and importing it here would load Earth Engine's client for nothing
    auth = sys.modules.get("gee_scripts.auth")
    if auth is not None and isinstance(exc, auth.AuthError):
        return EXIT_BAD_INPUT, str(exc)
    if isinstance(exc, RunLockHeld):  # a run's lock, or the scheduler's (SchedulerRunning)
        return EXIT_LOCKED, str(exc)
    if isinstance(exc, FileNotFoundError | PermissionError):
        return EXIT_FAILED, str(exc)
    return EXIT_FAILED, f"{type(exc).__name__}: {exc}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (the console script passes it to ``sys.exit``).
    Called with no ``argv``, as the console script and ``python -m monitor`` call it, the
    process is the command's: a SIGTERM or SIGINT after the command ended keeps its status
    (:func:`_keep_status_on_signals`)."""
    status = _main(argv)
    if argv is None:
        _keep_status_on_signals(status)
        _quiet_libraries_while_closing()
    return status


def _quiet_libraries_while_closing() -> None:
    """Leave out what the libraries' event loops say once the command ended: a run stopped
    while Zarr read the archive left its loop's reads in flight, and the process's close
    logged them at ERROR ("_GatheringFuture exception was never retrieved ... cannot schedule
    new futures after interpreter shutdown", some 30 lines; found by an SRE's walk: two
    `systemctl stop`s in seven), which a journal watch on ERROR takes for a failure. The command
    has reported its own end; nothing of it is left for them to fail."""
    logging.getLogger("asyncio").setLevel(logging.CRITICAL + 1)
    warnings.filterwarnings(
        "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
    )


def _keep_status_on_signals(status: int) -> None:
    """Exit with ``status`` at once on a SIGTERM or SIGINT from now on: the command ended, and
    what it did is recorded. Found by a walkthrough: a SIGTERM in the second or so the
    interpreter takes to close after a run (its libraries' threads, its atexit handlers) killed
    it with 143, which says a run was stopped and recorded ``interrupted``, of a run recorded
    ``ok``."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    _ENDED.append(True)


# Whether the command this process ran has ended (_keep_status_on_signals): a flag.
_ENDED: list[bool] = []


@atexit.register  # registered before the libraries the commands import: it runs after theirs
def _ignore_stops_while_the_interpreter_closes() -> None:
    """Ignore SIGTERM and SIGINT once the atexit handlers have run, for a command that ended.
    The interpreter then sets every signal handled in Python back to the default action
    (CPython's ``_PySignal_Fini``, but for one ignored) and tears its modules down, seconds
    with torch loaded: a Ctrl-C there killed a run recorded ``ok`` with 130 (found by a
    geological survey's walk), past :func:`_keep_status_on_signals`' reach. Nothing of the
    command is left to stop by then."""
    if _ENDED:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)


def _main(argv: Sequence[str] | None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(words)
    for each in _every_parser(parser):
        if isinstance(each, _Parser):  # all are: a command's parser is of its parent's class
            each.words = words
    args, extra = parser.parse_known_args(words)
    if extra:
        _unrecognised(_parser_of(args, words, extra, parser), extra)
    _setup_logging(args.verbose, args.quiet)
    try:
        return args.handler(args)
    except BrokenPipeError as exc:
        if args.debug:  # the traceback, and the same exit status as without --debug
            traceback.print_exc()
        if not stdout_is_broken():  # a socket or subprocess pipe: an error
            print(f"landslide-monitor {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        silence_stdout()  # `... | head`: the reader left; end quietly, as a killed writer
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGINT under interrupt_on_signals
        notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
        what = str(exc) or "interrupted"
        print(f"landslide-monitor {args.command}: {what}{notes}", file=sys.stderr)
        return stop_status(exc)
    except Exception as exc:
        status, message = _exit_status_of(exc)
        if args.debug:  # the traceback, and the same exit status (found by an SRE's walk: a
            # unit run with --debug read every refusal as a crash, 1, and a held lock too)
            traceback.print_exc()
        print(f"landslide-monitor {args.command}: error: {message}", file=sys.stderr)
        if status == EXIT_FAILED and not isinstance(exc, OSError) and not args.debug:
            print("(run again with --debug for the traceback)", file=sys.stderr)
        return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
