"""Retries for Earth Engine requests: quota (HTTP 429) and transient errors, with bounded
exponential backoff and full jitter; permanent errors fail at once with the request named.

``earthengine-api`` turns an HTTP error into an :class:`ee.EEException` that carries only the
server's message, so a failure is classified by the HTTP status of the underlying error when
there is one (``__context__``/``__cause__``) and otherwise by the message.
"""

from __future__ import annotations

import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import ee

__all__ = ["Backoff", "EarthEngineError", "call_with_retry", "is_transient"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_PERMANENT_STATUS = frozenset({400, 401, 403, 404})
# Lower-case fragments of Earth Engine messages for quota and transient server conditions.
_TRANSIENT_MESSAGES = (
    "too many requests",
    "too many concurrent",
    "rate limit",
    "concurrency limit",
    "quota exceeded",
    "resource_exhausted",
    "resource exhausted",
    "capacity exceeded",
    "internal error",
    "backend error",
    "service unavailable",
    "temporarily unavailable",
    "deadline exceeded",
    "computation timed out",
    "connection reset",
    "connection aborted",
)
# Fragments that mark an error as the caller's (retrying cannot help), checked first.
_PERMANENT_MESSAGES = (
    "user memory limit exceeded",
    "not found",
    "does not exist",
    "permission",
    "not authorized",
    "unauthorized",
    "invalid",
    "pattern",
    "no band named",
)


class EarthEngineError(RuntimeError):
    """An Earth Engine request that failed for good (the message names the request)."""


@dataclass(frozen=True)
class Backoff:
    """Retry policy: at most ``attempts`` tries, delays ``initial_delay_s * 2**n`` capped at
    ``max_delay_s`` with full jitter, and no retry that would end past ``total_timeout_s``."""

    attempts: int = 6
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    total_timeout_s: float = 900.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        ceiling = min(self.max_delay_s, self.initial_delay_s * 2.0**attempt)
        return ceiling * rng()


def _http_status(exc: BaseException) -> int | None:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        resp = getattr(node, "resp", None)
        status = getattr(resp, "status", None) or getattr(node, "status_code", None)
        if status is not None:
            try:
                return int(status)
            except (TypeError, ValueError):
                return None
        node = node.__cause__ or node.__context__
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` may succeed: quota, rate limits, server and network faults."""
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return True
    status = _http_status(exc)
    if status in _TRANSIENT_STATUS:
        return True
    if status in _PERMANENT_STATUS:
        return False
    if isinstance(exc, ee.EEException):
        message = str(exc).lower()
        if any(m in message for m in _PERMANENT_MESSAGES):
            return False
        return any(m in message for m in _TRANSIENT_MESSAGES)
    return False


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    policy: Backoff | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures per ``policy``.

    ``what`` names the request in log lines and errors (e.g. ``"S2 availability, region
    valtellina-alps"``). Raises :class:`EarthEngineError` (chained to the last failure) when a
    permanent error occurs, the attempts are spent, or the next wait would pass the deadline.
    """
    policy = policy or Backoff()
    started = clock()
    for attempt in range(policy.attempts):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise EarthEngineError(f"{what}: {type(exc).__name__}: {exc}") from exc
            if attempt + 1 >= policy.attempts:
                raise EarthEngineError(
                    f"{what}: still failing after {policy.attempts} attempts: {exc}"
                ) from exc
            wait = policy.delay(attempt, rng)
            if clock() - started + wait > policy.total_timeout_s:
                raise EarthEngineError(
                    f"{what}: gave up after {clock() - started:.0f} s "
                    f"(limit {policy.total_timeout_s:.0f} s): {exc}"
                ) from exc
            log.warning(
                "%s: transient failure (%s), retry %d/%d in %.1f s",
                what,
                exc,
                attempt + 1,
                policy.attempts - 1,
                wait,
            )
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
