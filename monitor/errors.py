"""The errors a user must act on, in one place so that every layer can raise them and the CLI
maps them to its exit statuses (``monitor.cli``): :class:`BadInput` is exit status 2."""

from __future__ import annotations

__all__ = ["BadInput"]


class BadInput(ValueError):
    """An argument or input file the user must correct (exit status 2). The message names the
    argument or file and says what to do."""
