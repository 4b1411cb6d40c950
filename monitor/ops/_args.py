"""Arguments every command shares, for the CLI and the ``monitor.ops`` commands alike: the
configuration file and dates given as YYYY-MM-DD (with an error argparse shows as such)."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

__all__ = ["add_config", "iso_date"]


def iso_date(text: str) -> date:
    """``YYYY-MM-DD`` as a date; anything else is an argparse error naming the text."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def add_config(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """The ``--config/-c`` option: the monitor's YAML configuration."""
    parser.add_argument(
        "--config", "-c", type=Path, required=required, help="the monitor's YAML configuration"
    )
