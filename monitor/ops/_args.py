"""Arguments every command shares, for the CLI and the ``monitor.ops`` commands alike: the
configuration file, dates given as YYYY-MM-DD (with an error argparse shows as such) and the
check of ``--region`` names."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from models.console import whole_number
from monitor.errors import BadInput
from monitor.store.lock import refuse_if_lost

if TYPE_CHECKING:
    from monitor.config import MonitorConfig

__all__ = [
    "add_config",
    "check_regions",
    "existing_inventory",
    "iso_date",
    "landslide_key",
    "positive_int",
    "seconds",
]


def iso_date(text: str) -> date:
    """``YYYY-MM-DD`` as a date (ISO 8601's other day forms, such as ``YYYYMMDD``, are read
    too); anything else is an argparse error naming the text, and a day the calendar lacks
    (2024-09-31) is said to be one rather than to be in another form."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError as err:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a day of the calendar ({err})"
            ) from None
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def landslide_key(text: str) -> int | str:
    """A landslide's fid (ASCII digits) or uid (a UUID, never all digits; any other text is
    looked up as one and reported unknown by the inventory, not by argparse)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else text


# A whole number of at least 1; anything else is an argparse error naming the text.
positive_int = whole_number(1)


def seconds(text: str) -> float:
    """A number of seconds, 0 or more (``--wait``); anything else is an argparse error naming
    the text (a negative wait ran as none, silently)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 or more seconds")
    return value


def add_config(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The ``--config/-c`` option: the monitor's YAML configuration."""
    parser.add_argument(
        "--config", "-c", type=Path, required=required, help="the monitor's YAML configuration"
    )


def check_regions(config: MonitorConfig, names: Iterable[str] | None) -> None:
    """Each of ``names`` (``--region``) is a region of ``config``; else :class:`BadInput` naming
    it and the known ones."""
    for name in names or ():
        try:
            config.region(name)
        except KeyError as exc:
            raise BadInput(exc.args[0]) from None


def existing_inventory(config: MonitorConfig) -> Path:
    """The path of ``config``'s inventory; :class:`BadInput` naming it where there is no file."""
    path = config.inventory.path
    refuse_if_lost(path)
    if not path.exists():
        raise BadInput(
            f"inventory {path} does not exist: no run has written it yet, or inventory.path "
            "names another file"
        )
    return Path(path)
