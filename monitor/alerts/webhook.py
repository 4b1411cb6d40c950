"""Webhook delivery: one signed JSON POST per alert.

Headers (docs/alerts.md):

- ``Content-Type: application/json``
- ``Idempotency-Key``: the alert's key, identical on every retry (also in the body);
- ``X-Landslide-Event``: ``landslide.new``, ``landslide.grown``, ``landslide.dismissed`` or
  ``landslide.reinstated`` (``monitor.test`` for the test of ``alerts test``,
  :meth:`WebhookSender.send_test`);
- ``X-Landslide-Signature-256``: ``sha256=`` + hex HMAC-SHA256 of the raw body under the
  webhook's secret (read from the environment variable the settings name).

A 2xx answer is success. 408, 425, 429 and 5xx answers, timeouts and connection errors are
retried with backoff (``Retry-After`` in seconds is honoured as a lower bound, up to the retry
policy's ``max_delay_s``); any other answer (a 4xx: the receiver refuses this payload; a 3xx
redirect, which is not followed) is permanent and the alert becomes ``dead``.

The webhook's ``timeout_s`` bounds the answer as a whole: status and headers not complete
``timeout_s`` after the POST began are a timeout (the wait ends then, whatever the receiver
still sends). The body of a 2xx is not read; that of another answer only for its error text
(at most 4 KiB), and only until then.

An error names the webhook and its ``scheme://host[:port]``, never the url's path or query:
Slack, Teams and many others carry the token that lets anyone post in the url's path, and
errors reach the log, the outbox's ``last_error``, ``status`` and ``alerts list``. The path is
taken out of the library's exception text, of the receiver's answer and of a redirect's
``Location``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from functools import cache
from html import escape
from importlib import metadata
from typing import Any
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit

import jsonschema
import requests
import urllib3.exceptions

from monitor.alerts.payload import encode_body, validate_payload
from monitor.alerts.ping import PING_EVENT, Ping, ping_body, validate_ping
from monitor.alerts.senders import Alert, DeliveryError, note_accepted_before_stop
from monitor.alerts.settings import AlertConfigError, WebhookSettings, is_loopback
from monitor.errors import stop_held

__all__ = [
    "EVENT_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "WebhookSender",
    "sign",
    "verify",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Landslide-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_HEADER = "X-Landslide-Event"
_RETRYABLE = {408, 425, 429}
_EXCERPT_BYTES = 4096  # what is read of a refusal's body, for its error text


@cache
def _user_agent() -> str:
    try:
        return f"landslide-monitor/{metadata.version('landslide-monitor')}"
    except metadata.PackageNotFoundError:
        return "landslide-monitor"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when ``header`` is the signature of ``body`` under ``secret`` (constant time).

    A missing header, or one with characters outside ASCII (a forged or garbled request),
    is False: ``hmac.compare_digest`` raises TypeError on non-ASCII text, so both sides are
    compared as bytes."""
    if header is None:
        return False
    expected = sign(secret, body).encode()
    return hmac.compare_digest(expected, header.encode("utf-8", "replace"))


_HIDDEN = "/…"  # what an error shows of a url's path and query
# urllib3's "Max retries exceeded with url: /path?query (Caused by ...)"
_WITH_URL = re.compile(r"(with url: )\S+")


# the connection urllib3 names before its error, which the error's origin names already: "<urllib3
# .connection.HTTPConnection object at 0x7f...>: " (urllib3 1.x), "HTTPConnection(host='h',
# port=1): " (2.x), then "Failed to establish a new connection: [Errno 111] Connection refused"
_OBJECT_REPR = re.compile(r"^(<[^>]* object at 0x[0-9a-fA-F]+>|\w+\(host=[^)]*\)): ")


def _certificate_refused(exc: BaseException) -> bool:
    """Whether ``exc`` holds, in its arguments, ``reason`` or cause, the failed check of the
    receiver's certificate (:class:`ssl.SSLCertVerificationError`: the handshake stopped
    before any request went)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        todo += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return False


def _no_connection(exc: requests.RequestException) -> bool:
    """Whether ``exc`` came before the request could reach the receiver: no connection was made
    (refused, no such host, the connection timed out, the receiver's certificate failed its
    check). A read timeout, a connection dropped or a TLS stream broken after the request went
    may follow a receiver that took it (found in review: every TLS error counted as none)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return _certificate_refused(exc)
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        # urllib3's NewConnectionError (NameResolutionError among them), wrapped in MaxRetryError
        reason = getattr(exc.args[0], "reason", exc.args[0])
        return isinstance(reason, urllib3.exceptions.NewConnectionError)
    return False


def _reason(exc: requests.RequestException) -> str:
    """What went wrong, in the words of the error underneath: requests wraps a refused or
    failed connection as urllib3's "Max retries exceeded with url: ... (Caused by
    NewConnectionError(...))", which an operator read as the monitor's own retries used up
    (found in an integration engineer's walk); the urllib3 error it carries says it plainly."""
    wrapped = exc.args[0] if exc.args else None
    reason = getattr(wrapped, "reason", None)  # urllib3's MaxRetryError
    if isinstance(exc, requests.ConnectionError) and isinstance(reason, BaseException):
        # a connect timeout's is (connection, message): its text is the tuple, with the
        # connection's address in memory (found in review), different on every attempt
        args = reason.args
        text = args[-1] if len(args) > 1 and isinstance(args[-1], str) else str(reason)
        return _OBJECT_REPR.sub("", text)
    return str(exc)


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: no user, path, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:  # a port out of range: not ours to show
        port = ""
    return f"{parts.scheme}://{host}{port}"


def _shown(url: str) -> str:
    """``url`` as an error may show it: its :func:`_origin`, then :data:`_HIDDEN` where it has
    a path or query."""
    parts = urlsplit(url)
    return _origin(url) + (_HIDDEN if parts.path not in ("", "/") or parts.query else "")


def _without_paths(text: str, urls: Sequence[str | None]) -> str:
    """``text`` with every one of ``urls``, and each one's path and query, replaced (in one
    pass) by what :func:`_shown` shows of it: as written, percent-decoded, with each ``/``
    escaped as ``\\/`` (as PHP's json_encode writes a string), in any case (an error page may
    upper-case what it echoes), HTML-escaped (``&amp;`` in an HTML page's echo). The query goes
    with or without its ``?`` (without it only from :data:`_SECRET_VALUE_CHARS` characters: a
    short one is part of ordinary words), and alone each query value of that many characters or
    more (as written, decoded, or with ``+`` for a space) and each path segment of
    :data:`_SECRET_SEGMENT_CHARS` or more: a receiver may echo the signature of a Teams or Logic
    Apps url (``sig=``) or a Slack token without the rest. The text itself is matched as it
    came (reading its HTML entities first turned ``&region=`` into ``®ion=``, and the query no
    longer matched)."""
    pieces: dict[str, str] = {}  # lower-cased form -> what is shown instead
    for url in filter(None, urls):
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        raw_values = [pair.partition("=")[2] for pair in parts.query.split("&")]
        values = [*raw_values, *(unquote_plus(v) for v in raw_values)]
        alone = [v for v in values if len(v) >= _SECRET_VALUE_CHARS]
        alone += [s for s in parts.path.split("/") if len(s) >= _SECRET_SEGMENT_CHARS]
        if len(parts.query) >= _SECRET_VALUE_CHARS:
            alone.append(parts.query)
        for piece, shown in (
            (url, _shown(url)),
            (parts.path + query, _HIDDEN),
            (parts.path, _HIDDEN),
            (query, _HIDDEN),
            *((value, _HIDDEN) for value in alone),
        ):
            for written in (piece, unquote(piece)):
                if written not in ("", "/"):
                    for form in (written, written.replace("/", "\\/")):
                        pieces.setdefault(form.lower(), shown)
                        pieces.setdefault(escape(form, quote=False).lower(), shown)
    if pieces:  # the longest first: a url before its path
        found = re.compile(
            "|".join(map(re.escape, sorted(pieces, key=len, reverse=True))), re.IGNORECASE
        )
        # a match whose lower case is not a key (a letter whose case folds otherwise) is a
        # piece of a path all the same: hidden
        text = found.sub(lambda match: pieces.get(match.group().lower(), _HIDDEN), text)
    return _WITH_URL.sub(rf"\g<1>{_HIDDEN}", text)


# a query value or path segment this long is hidden wherever an answer echoes it alone (a
# signature, a token); shorter ones (a Slack workspace id, a path word) are left
_SECRET_VALUE_CHARS = 8
_SECRET_SEGMENT_CHARS = 16
_ANY_URL = re.compile(r"\bhttps?://\S+", re.IGNORECASE)
# urllib3's "Retrying (...) after connection broken by '...': /path?query"
_RETRYING_PATH = re.compile(r"(: )/\S*$")


class _UrllibPaths(logging.Filter):
    """urllib3's own warnings quote the url posted to, path and query included ("Failed to
    parse headers (url=...)" when a receiver's answer has a header line it cannot read,
    "Retrying ... : /path"): they reach the journal as the monitor's errors do, so they show
    what :func:`_shown` shows of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()

        def shown(found: re.Match[str]) -> str:
            text = found.group()
            url = text.rstrip("):;,.'\"")  # the "(url=...): " around it, kept as it was
            try:
                return _shown(url) + text[len(url) :]
            except ValueError:  # a url urlsplit refuses (a broken IPv6 host): none of it
                return _HIDDEN + text[len(url) :]

        hidden = _RETRYING_PATH.sub(rf"\g<1>{_HIDDEN}", _ANY_URL.sub(shown, message))
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


for _logger in ("urllib3.connection", "urllib3.connectionpool"):
    logging.getLogger(_logger).addFilter(_UrllibPaths())


def _in_the_clear(url: str) -> bool:
    """Whether ``url`` is plain http to another machine (http to this one, a receiver on
    localhost behind a local proxy, never leaves it)."""
    parts = urlsplit(url)
    return parts.scheme.lower() == "http" and not is_loopback(parts.hostname or "")


def _excerpt(response: requests.Response, deadline: float) -> bytes:
    """The start of a streamed answer's body (up to :data:`_EXCERPT_BYTES`), read until
    ``deadline`` (:func:`time.monotonic`): the status already says what the answer is, and a
    receiver that sends its body a byte a second held the delivery as long as it pleased, each
    byte within the read timeout. Each read waits at most until the deadline (the socket's
    timeout is set to what is left, where the answer's connection shows its socket)."""
    socket = getattr(getattr(response.raw, "connection", None), "sock", None)
    read = bytearray()
    chunks = response.iter_content(chunk_size=1)  # at most one read of the socket each
    while len(read) < _EXCERPT_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if socket is not None:  # urllib3 sets its own again before the next request on it
            socket.settimeout(left)
        try:
            chunk = next(chunks, b"")
        except (requests.RequestException, OSError):  # timed out, cut: what came is shown
            break
        if not chunk:
            break
        read += chunk
    return bytes(read[:_EXCERPT_BYTES])


def _by_deadline(
    deadline: float, post: Callable[[], requests.Response], timeout_s: float
) -> requests.Response:
    """``post()``'s answer (its status and headers) if it comes by ``deadline``
    (:func:`time.monotonic`), else a :class:`requests.Timeout`. requests bounds each read of
    the socket, not their sum: a receiver that sent a header line just within ``timeout_s``,
    again and again, held the delivery (and the run lock) as long as it pleased. The POST runs
    in a daemon thread; one past the deadline is left to finish on its own (its answer closed
    when it comes), and the alert is retried as after any timeout."""
    done = threading.Event()
    outcome: dict[str, Any] = {}
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = post()
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome["error"] = exc
        done.set()
        if abandoned.is_set() and "response" in outcome:
            outcome["response"].close()

    threading.Thread(target=run, name="webhook-post", daemon=True).start()
    try:
        finished = done.wait(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt as stop:
        # a stop (SIGTERM, Ctrl-C) with the POST in flight: its answer, by the deadline, says
        # whether the receiver took the alert, which the outbox then marks sent. Unawaited,
        # an alert accepted just then stayed pending and went out again (an operator's
        # walkthrough, 2026-12-06). A second signal gives the wait up (interrupt_on_signals
        # restored the default actions): the alert then stays pending, as after a crash. Under
        # the outbox's stops_deferred the first stop is held and waited for already: a
        # KeyboardInterrupt here while one is held is the second (found in review: a second
        # Ctrl-C waited for the deadline again)
        if stop_held():
            abandoned.set()
            raise
        if done.wait(max(0.0, deadline - time.monotonic())) and "response" in outcome:
            with outcome["response"] as answer:
                if 200 <= answer.status_code < 300:
                    note_accepted_before_stop(stop)
        else:
            abandoned.set()
        raise
    if not finished:
        abandoned.set()
        if done.is_set() and "response" in outcome:  # it came as the wait ended
            outcome["response"].close()
        raise requests.Timeout(
            f"no complete status and headers within the webhook's timeout_s ({timeout_s:g} s)"
        )
    if "error" in outcome:
        raise outcome["error"]
    response: requests.Response = outcome["response"]
    return response


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    # ASCII digits only: isdigit() also takes '²', which float() refuses
    return float(value) if value.isascii() and value.isdigit() else None


class WebhookSender:
    """POSTs each alert to one webhook."""

    batch_size = 1

    def __init__(self, settings: WebhookSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self._warned: set[str] = set()

    def _where(self) -> tuple[bytes, str]:
        """The secret and the url, read now; a plain-http receiver on another machine is
        warned of once per sender."""
        # both read before either is refused: with url_env and secret_env unset, the second
        # was named only once the first was set (found in a walk)
        problems: list[str] = []
        secret, url = b"", ""
        try:
            secret = self.settings.secret()
        except AlertConfigError as err:
            problems.append(str(err))
        try:
            url = self.settings.target()
        except AlertConfigError as err:
            problems.append(str(err))
        if problems:
            raise AlertConfigError("; ".join(problems))
        origin = _origin(url)
        if origin not in self._warned and _in_the_clear(url):
            self._warned.add(origin)  # once per sender and receiver, not once per batch
            log.warning(
                "webhook %r posts to %s over plain http: every alert (places, outlines, "
                "quicklook links) can be read on its way, and the signature stops changes to "
                "it, not reading; use https",
                self.settings.name,
                origin,
            )
        return secret, url

    def send(self, alerts: Sequence[Alert]) -> None:
        secret, url = self._where()
        for alert in alerts:
            try:
                validate_payload(alert.payload)
            except jsonschema.ValidationError as exc:
                raise DeliveryError(
                    f"webhook {self.settings.name!r}: alert {alert.idempotency_key} breaks the "
                    f"published schema: {exc.message}",
                    permanent=True,
                ) from exc
            body = encode_body(alert.payload)
            self._post(body, alert.idempotency_key, alert.event, secret, url)

    def send_test(self, ping: Ping) -> None:
        """POST ``ping``'s test body (:mod:`monitor.alerts.ping`), signed as an alert is."""
        secret, url = self._where()
        body = ping_body(ping)
        validate_ping(body)  # ours to keep right: a failure here is a bug, not the receiver's
        self._post(encode_body(body), ping.key, PING_EVENT, secret, url)

    def _post(self, body: bytes, key: str, event: str, secret: bytes, url: str) -> None:
        """POST ``body`` signed; return on a 2xx, else raise its :class:`DeliveryError`."""
        name = self.settings.name
        ca_file = self.settings.ca_file
        timeout_s = self.settings.timeout_s
        headers = {
            "Content-Type": "application/json",
            "User-Agent": _user_agent(),
            IDEMPOTENCY_HEADER: key,
            EVENT_HEADER: event,
            SIGNATURE_HEADER: sign(secret, body),
        }
        deadline = time.monotonic() + timeout_s
        try:
            response = _by_deadline(
                deadline,
                lambda: self.session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=timeout_s,  # connecting, and each read of the status and headers
                    allow_redirects=False,
                    verify=str(ca_file) if ca_file is not None else True,
                    stream=True,  # the body is read by _excerpt, until the deadline
                ),
                timeout_s,
            )
        except requests.RequestException as exc:
            sent = exc.request.url if exc.request is not None else None
            why = _without_paths(_reason(exc), [url, sent])
            raise DeliveryError(
                f"webhook {name!r} ({_origin(url)}): {type(exc).__name__}: {why}",
                maybe_delivered=not _no_connection(exc),
            ) from exc
        except OSError as exc:  # requests: "Could not find a suitable TLS CA certificate bundle"
            bundle = (
                f"its ca_file {ca_file}"
                if ca_file is not None
                else "the system's CA bundle (REQUESTS_CA_BUNDLE, or certifi's)"
            )
            raise DeliveryError(
                f"webhook {name!r}: cannot read {bundle}: {exc}; restore it or set the "
                "webhook's ca_file, and the alerts are retried",
                maybe_delivered=False,
            ) from exc
        with response:  # closed when done: the connection goes with what was not read
            self._judge(response, url, deadline)

    def _judge(self, response: requests.Response, url: str, deadline: float) -> None:
        """Return where ``response`` is a success, else raise its DeliveryError."""
        name, code = self.settings.name, response.status_code
        if 200 <= code < 300:
            return  # its body, unread, tells nothing more
        # a receiver's 404 page may echo the path ("Cannot POST /services/T0/B0/...")
        text = _excerpt(response, deadline).decode(response.encoding or "utf-8", "replace")
        answer = _without_paths(text, [url, response.url])[:200]
        detail = f"webhook {name!r} answered HTTP {code}: {answer!r}"
        if 300 <= code < 400 and response.headers.get("Location"):  # a 304 is no redirect
            location = response.headers.get("Location")
            target = _shown(urljoin(url, location))
            detail = (
                f"webhook {name!r} answered HTTP {code}, a redirect to {target}: redirects are "
                "not followed (the signed POST goes to the configured url only); set the "
                "webhook's url to where it points (its path is not shown: it may hold a token) "
                "and re-queue with `landslide-monitor alerts retry --dead`"
            )
        retryable = code in _RETRYABLE or code >= 500
        raise DeliveryError(detail, permanent=not retryable, retry_after_s=_retry_after(response))
