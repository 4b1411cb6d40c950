"""A loopback port for a test's server (tests/alerts, tests/run): one helper, importable as
``ports`` from every test folder (pytest puts the folder of the root conftest on the path)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

__all__ = ["free_port"]

LOOPBACK = "127.0.0.1"


def _ephemeral_low() -> int:
    """The lowest port this system gives outgoing connections (Linux's ip_local_port_range;
    32768, its default, elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback port free now, below the range of outgoing connections' ports. A test binds
    it later (a receiver that is down at first), and a port the system picked (bind to 0) could
    by then be the local end of another process's connection: a clean-machine check met
    `[Errno 98] address already in use` so, with another suite running beside it."""
    rng = random.Random()  # seeded from the system: other processes draw other ports
    high = _ephemeral_low()
    low = 10_000 if high > 11_000 else 1_024  # a system whose outgoing range starts low
    for _ in range(200 if high > low else 0):
        port = rng.randrange(low, high)
        with socket.socket() as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # every one tried was taken: the system's choice
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])
