"""``landslide-monitor init DIR``: a folder to start from, for a monitor installed with pip
(no source checkout, no ``make demo``).

It writes ``DIR/monitor.yaml``, the demo's configuration (:data:`DEMO_CONFIG`, shipped in the
package: three simulated regions on the embedded archive, alerts to a loopback inbox) with its
paths read from ``DIR`` (the copy has no ``base_dir``), and prints the commands that build the
archive, watch the demo's storm season and show the result, then where to describe one's own
regions. An existing ``monitor.yaml`` is never replaced unless ``--force`` is given.

Exit status: 0 written; 2 the file exists (without ``--force``) or cannot be written."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from models.atomic import write_atomically
from monitor.errors import EXIT_OK, BadInput

__all__ = ["CONFIG_NAME", "DEMO_CONFIG", "cli_configure", "cli_run", "init", "starter_text"]

#: The demo's configuration, as ``make demo`` uses it (its ``base_dir`` is the checkout's root).
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"
#: The file :func:`init` writes in its folder.
CONFIG_NAME = "monitor.yaml"
_BASE_DIR = "base_dir: ../.."

_HEADER = """\
# Written by `landslide-monitor init` from the demo's configuration: three simulated regions on
# the embedded archive, their alerts to a loopback mail server and webhook receiver. Relative
# paths are read from this file's folder. docs/configuration.md of the project describes every
# field; replace `regions` and `source` with yours (`source: {type: gee, ...}` for Earth
# Engine), drop the `simulation` blocks, and point `alerts` at your recipients
# (`landslide-monitor alerts test` tries them).
"""


def starter_text(demo: str | None = None) -> str:
    """The demo's configuration (``demo``, default :data:`DEMO_CONFIG`'s text) as ``init``
    writes it: its leading comments (which speak of the checkout) and ``base_dir`` replaced by
    :data:`_HEADER`. ``ValueError`` where the demo no longer has that shape."""
    lines = (DEMO_CONFIG.read_text(encoding="utf-8") if demo is None else demo).splitlines()
    try:
        at = lines.index(_BASE_DIR)
    except ValueError:
        raise ValueError(f"the demo's configuration has no line {_BASE_DIR!r}") from None
    if not all(line.startswith("#") for line in lines[:at]):
        raise ValueError(f"the demo's configuration has settings before {_BASE_DIR!r}")
    return _HEADER + "\n".join(lines[at + 1 :]) + "\n"


def cli_configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folder", type=Path, metavar="DIR", help="the folder to write monitor.yaml in (made)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing monitor.yaml")


def cli_run(args: argparse.Namespace) -> int:
    return init(args.folder, force=args.force)


def init(folder: Path, *, force: bool = False) -> int:
    """Write ``folder/monitor.yaml`` (:func:`starter_text`) and print what to run next."""
    target = Path(folder) / CONFIG_NAME
    if Path(folder).exists() and not Path(folder).is_dir():
        raise BadInput(f"{folder} is a file, not a folder: give a folder for {CONFIG_NAME}")
    if target.exists() and not force:
        raise BadInput(
            f"{target} exists: it is left as it is (--force replaces it, or give another folder)"
        )
    text = starter_text()
    try:
        write_atomically(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise BadInput(f"cannot write {target}: {exc.strerror or exc}") from exc
    config = shlex.quote(str(target))
    inbox = shlex.quote(str(Path(folder) / "runs" / "demo" / "alerts"))
    print(
        f"wrote {target}: the demo's three simulated regions on the embedded archive. Next:\n"
        f"  landslide-monitor archive build --config {config}   # simulate the archive "
        "(about 300 MB, a minute or two)\n"
        f"  python -m monitor.ops.demo_inbox --config {config} --dir {inbox} -- \\\n"
        f"      landslide-monitor season --config {config} --events 2024-08-14 2024-08-31 \\\n"
        "      --every 3 --first-run 2024-08-16 --last-run 2024-09-15   # the storm season, "
        "its alerts caught on this machine\n"
        f"  landslide-monitor inventory list --config {config}\n"
        f"  landslide-monitor review --config {config}   # the review map (HTML)\n"
        "Then describe your own regions in it (docs/configuration.md)."
    )
    return EXIT_OK
