"""The one retry layer for Earth Engine requests: how each failure is treated, bounded backoff
with full jitter, and a deadline that holds inside an attempt, not only between attempts.

``earthengine-api`` turns an HTTP error into an :class:`ee.EEException` that carries only the
server's message, raised while the ``HttpError`` is handled (so the status is on its
``__context__``). The service answers several conditions with the same status: "Computation timed
out." and "User memory limit exceeded." are both HTTP 400, like a missing asset, while "Too many
concurrent aggregations." is a concurrency limit. A failure is therefore classified by its message
*and* its status together (:func:`classify`), the message first:

==========================================  ==========  =====================================
condition                                   treatment   retries
==========================================  ==========  =====================================
network timeout, reset, refused             transient   up to ``attempts - 1``
quota, rate or concurrency limit (any       transient   up to ``attempts - 1``
status; 429 "Too many concurrent
aggregations", "Quota exceeded", ...)
HTTP 408, 429, 500, 502, 503, 504           transient   up to ``attempts - 1``
"Computation timed out." (HTTP 400)         timeout     ``computation_timeout_retries``
"User memory limit exceeded." (HTTP 400)    permanent   none (smaller tiles or export)
any other 4xx (missing asset, bad band,     permanent   none
permission)
==========================================  ==========  =====================================

This module is the only layer that retries: :func:`gee_scripts.auth.initialize` sets the
client's own retries to 0 (``ee.data.setMaxRetries``) and :mod:`gee_scripts.fetch` turns xee's
off (``getitem_kwargs={"max_retries": 0}``), so a failure is retried here, once per attempt.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import ee

from gee_scripts.settings import RetrySettings

__all__ = [
    "Backoff",
    "Cancelled",
    "EarthEngineError",
    "Failure",
    "backoff_from",
    "call_with_retry",
    "classify",
    "http_status",
    "is_transient",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

Treatment = Literal["transient", "timeout", "permanent"]

_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# Lower-case fragments of Earth Engine messages, checked before the status (first match wins).
_TIMEOUT_MESSAGES = ("computation timed out",)
_MEMORY_MESSAGES = ("user memory limit exceeded",)
_LIMIT_MESSAGES = (
    "too many concurrent",
    "too many requests",
    "rate limit",
    "concurrency limit",
    "quota exceeded",
    "resource_exhausted",
    "resource exhausted",
    "capacity exceeded",
)
# Server faults worth retrying when no status is known (an EEException without its HttpError).
_SERVER_MESSAGES = (
    "internal error",
    "backend error",
    "service unavailable",
    "temporarily unavailable",
    "deadline exceeded",
    "connection reset",
    "connection aborted",
)


class EarthEngineError(RuntimeError):
    """An Earth Engine request that failed for good (the message names the request)."""


@dataclass(frozen=True)
class Failure:
    """How a failure is treated: ``transient`` (backoff, up to the attempts), ``timeout`` (the
    computation ran past the service's limit: retried ``computation_timeout_retries`` times) or
    ``permanent`` (never retried); ``reason`` says which rule decided, ``advice`` what to do."""

    treatment: Treatment
    reason: str
    advice: str = ""


_SMALLER = (
    "make the request smaller: lower source.chunk_px (fewer pixels per request), or export the "
    "region with GeeSource.export (batch, no 5-minute limit)"
)


@dataclass(frozen=True)
class Backoff:
    """Retry policy: at most ``attempts`` tries (``computation_timeout_retries + 1`` for a
    computation that timed out), delays ``initial_delay_s * 2**n`` capped at ``max_delay_s``
    with full jitter, and everything, attempts included, over within ``total_timeout_s``."""

    attempts: int = 6
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    total_timeout_s: float = 900.0
    computation_timeout_retries: int = 1

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        ceiling = min(self.max_delay_s, self.initial_delay_s * 2.0**attempt)
        return ceiling * rng()


def backoff_from(settings: RetrySettings) -> Backoff:
    """The :class:`Backoff` of the ``source.retry`` block."""
    return Backoff(
        attempts=settings.attempts,
        initial_delay_s=settings.initial_delay_s,
        max_delay_s=settings.max_delay_s,
        total_timeout_s=settings.total_timeout_s,
        computation_timeout_retries=settings.computation_timeout_retries,
    )


def http_status(exc: BaseException) -> int | None:
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


# Local file problems (a missing key file, a folder not readable) are OSErrors but never pass.
_LOCAL_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


def _is_network_error(exc: BaseException) -> bool:
    """A failure to reach the service: timeouts, refused or reset connections, a DNS blip
    (``socket.gaierror``), a TLS stream cut short (``ssl.SSLError``), httplib2's
    ``ServerNotFoundError`` (not an OSError, so matched by name)."""
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError)):
        return True
    if isinstance(exc, OSError) and not isinstance(exc, _LOCAL_FILE_ERRORS):
        return True
    return type(exc).__name__ == "ServerNotFoundError"


def _token_blip(exc: BaseException) -> bool:
    """A token refresh that google-auth says may succeed when tried again: its
    ``RefreshError(retryable=True)`` (the token service's 5xx), or one caused by a
    ``TransportError`` (the metadata server of a Compute Engine or GKE machine not reached)."""
    node: BaseException | None = exc
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        if getattr(node, "retryable", False) or type(node).__name__ == "TransportError":
            return True
        node = node.__cause__ or node.__context__
    return False


def classify(exc: BaseException) -> Failure:
    """The treatment of ``exc`` by its message and HTTP status together (see the module)."""
    if _is_network_error(exc):
        return Failure("transient", f"network: {type(exc).__name__}")
    if _token_blip(exc):  # found in a review: a metadata server's blip failed a run at once
        return Failure("transient", f"token refresh to try again: {type(exc).__name__}")
    status = http_status(exc)
    shown = f"HTTP {status}" if status is not None else "no HTTP status"
    message = str(exc).lower()
    if any(m in message for m in _TIMEOUT_MESSAGES):
        return Failure(
            "timeout",
            f"computation timed out ({shown}): the service ends interactive requests after "
            "5 minutes",
            _SMALLER,
        )
    if any(m in message for m in _MEMORY_MESSAGES):
        return Failure("permanent", f"user memory limit exceeded ({shown})", _SMALLER)
    if any(m in message for m in _LIMIT_MESSAGES):
        return Failure("transient", f"quota, rate or concurrency limit ({shown})")
    if status in _TRANSIENT_STATUS:
        return Failure("transient", f"HTTP {status}")
    if status is not None and 400 <= status < 500:
        return Failure("permanent", f"HTTP {status}")
    if isinstance(exc, ee.EEException) and any(m in message for m in _SERVER_MESSAGES):
        return Failure("transient", f"server fault ({shown})")
    return Failure("permanent", f"{type(exc).__name__} ({shown})")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is ever retried (transient, or a computation that timed out)."""
    return classify(exc).treatment != "permanent"


class _AttemptTimedOut(Exception):
    pass


class Cancelled(EarthEngineError):
    """The caller gave up on the request (another tile failed for good, or the run was
    interrupted); raised within :data:`_CANCEL_POLL_S` of the ``cancel`` event being set."""


_CANCEL_POLL_S = 0.1  # how often a waiting attempt looks at its ``cancel`` event


def _bounded(
    fn: Callable[[], T], timeout_s: float, what: str, cancel: threading.Event | None = None
) -> T:
    """``fn()`` in a daemon thread, waited for at most ``timeout_s`` seconds, or until ``cancel``
    is set. A call still running then is abandoned (its HTTP deadline,
    ``ee.data.setDeadline``, ends it later)."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"ee-attempt: {what}"[:60], daemon=True).start()
    end = time.monotonic() + max(timeout_s, 0.0)
    while not done.wait(max(0.0, min(_CANCEL_POLL_S, end - time.monotonic()))):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{what}: cancelled")
        if time.monotonic() >= end:
            raise _AttemptTimedOut
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def call_with_retry(
    fn: Callable[[], T],
    *,
    what: str,
    policy: Backoff | None = None,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: Callable[[], float] = random.random,
    cancel: threading.Event | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying per :func:`classify` and ``policy``.

    ``what`` names the request in log lines and errors (e.g. ``"S2 availability, region
    valtellina-alps"``). The call ends within ``policy.total_timeout_s`` of its start, or by
    ``deadline`` (a ``clock()`` time shared by several calls, e.g. all tiles of a region) if that
    comes first: each attempt runs in a worker thread that is waited for only until then.
    Raises :class:`EarthEngineError` (chained to the last failure) when a permanent error occurs,
    the attempts are spent or the deadline passes.
    """
    policy = policy or Backoff()
    started = clock()
    end = started + policy.total_timeout_s
    if deadline is not None:
        end = min(end, deadline)
    timeouts = 0
    for attempt in range(policy.attempts):
        left = end - clock()
        if left <= 0:
            raise EarthEngineError(f"{what}: no time left before the deadline")
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{what}: cancelled")
        try:
            return _bounded(fn, left, what, cancel)
        except _AttemptTimedOut:
            raise EarthEngineError(
                f"{what}: gave up after {clock() - started:.1f} s, attempt {attempt + 1} still "
                f"running at the deadline (source.retry.total_timeout_s = "
                f"{policy.total_timeout_s:g} s)"
            ) from None
        except Cancelled:
            raise
        except Exception as exc:
            failure = classify(exc)
            if failure.treatment == "permanent":
                advice = f"; {failure.advice}" if failure.advice else ""
                raise EarthEngineError(
                    f"{what}: {type(exc).__name__}: {exc} (not retried: {failure.reason}{advice})"
                ) from exc
            if failure.treatment == "timeout":
                timeouts += 1
                if timeouts > policy.computation_timeout_retries:
                    raise EarthEngineError(
                        f"{what}: {exc} ({failure.reason}; tried {timeouts} times; "
                        f"{failure.advice})"
                    ) from exc
            if attempt + 1 >= policy.attempts:
                raise EarthEngineError(
                    f"{what}: still failing after {policy.attempts} attempts: {exc}"
                ) from exc
            wait = policy.delay(attempt, rng)
            if clock() + wait >= end:
                raise EarthEngineError(
                    f"{what}: gave up after {clock() - started:.1f} s (limit "
                    f"{end - started:.0f} s): {exc}"
                ) from exc
            log.warning(
                "%s: %s (%s), retry %d/%d in %.1f s",
                what,
                exc,
                failure.reason,
                attempt + 1,
                policy.attempts - 1,
                wait,
            )
            if cancel is None:
                sleep(wait)
            elif cancel.wait(wait):
                raise Cancelled(f"{what}: cancelled while waiting to retry") from exc
    raise AssertionError("unreachable")  # pragma: no cover
