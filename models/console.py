"""Standard output of the two command lines (``python -m models``, ``landslide-monitor``) when
its reader leaves (``... | head``). It lives here because both use it and :mod:`models` never
imports :mod:`monitor`."""

from __future__ import annotations

import argparse
import os
import select
import sys
from collections.abc import Callable, Collection, Sequence

__all__ = [
    "is_number_text",
    "named_or_counted",
    "silence_stdout",
    "stdout_is_broken",
    "text_table",
    "whole_number",
]


def is_number_text(text: str) -> bool:
    """Whether ``text`` reads as a number (``float`` takes it: ``12``, ``-3.5``, ``1e3``,
    ``nan``), as a cell of a file or a value a user wrote may."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``least``; anything else is an argparse
    error naming the text (-1 regions wrote an empty dataset, found in a walkthrough)."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{text!r}: must be at least {least}")
        return value

    return read


def stdout_is_broken() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll reports an error on its
    write end; a flush that fails says the same where poll cannot tell)."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            return True
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (AttributeError, OSError, ValueError):  # no real file descriptor, or no poll
        return False
    return False


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush to a closed pipe does not
    report the broken pipe again (the recipe of Python's ``signal`` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no real file descriptor (captured output)
        pass


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Collection[int] = ()
) -> list[str]:
    """The lines of a plain-text table, indented by two spaces: each column as wide as its
    widest cell, the ``numeric`` columns (by index) right-aligned, trailing blanks dropped."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        text = [
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(text).rstrip()

    return [line(header), *(line(r) for r in rows)]


def named_or_counted(names: Sequence[str], shown: int) -> str:
    """``names`` for a line of text: the first ``shown`` named, the others counted ("a, b, c
    and 12 more"); one more than ``shown`` is named rather than counted ("and 1 more" says no
    less)."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"
