"""E-mail delivery: one digest per recipient with a summary table and the quicklooks inline.

The alerts due for one recipient go in one message (up to ``batch_size``, 20): a plain-text
and an HTML summary table (event, landslide, region, area, probabilities, setting, bracketing
dates, map link), each landslide's quicklook PNG inline in the HTML part, and the landslides as
a GeoJSON attachment.

Transport: SMTP to the configured server, ``STARTTLS`` (certificate verified against the system
store or the configured ``ca_file``) and ``LOGIN`` with the username/password read from the
named environment variables. ``Message-ID`` is derived from the idempotency keys of the alerts
it carries (listed in ``X-Landslide-Idempotency-Keys``), so a message sent again after a crash
has the same ``Message-ID``.

A 5xx refusal of the sender, recipient or data is permanent (the alerts become ``dead``);
connection errors, timeouts, 4xx answers and login failures (a refused login, or a ``530``
asking for one where the settings name no login) are retried with backoff.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import replace
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, cast

from models.console import named_or_counted
from monitor.alerts.payload import (
    DISMISSED_EVENT,
    REINSTATED_EVENT,
    REVIEW_EVENTS,
    QuicklookLinks,
    read_png,
)
from monitor.alerts.ping import Ping, ping_text
from monitor.alerts.senders import Alert, DeliveryError
from monitor.alerts.settings import SmtpSettings, is_loopback

log = logging.getLogger(__name__)

__all__ = ["KEYS_HEADER", "EmailSender", "build_message", "build_test_message"]

KEYS_HEADER = "X-Landslide-Idempotency-Keys"
# RFC 3834: a machine's message, to which an autoresponder ("out of office") does not answer
AUTO_SUBMITTED = "auto-generated"

_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event", "change"),
    ("landslide", "landslide"),
    ("region", "region"),
    ("area", "area m²"),
    ("prob", "prob. mean / max"),
    ("agreement", "agreement"),
    ("setting", "setting"),
    ("dates", "happened (UTC days)"),
    ("where", "lat, lon"),
)


# the change column's words for each event
_EVENTS = {
    "landslide.new": "NEW",
    "landslide.grown": "GROWN",
    "landslide.dismissed": "DISMISSED",
    "landslide.reinstated": "REINSTATED",
}


def _fmt(value: float | None, pattern: str) -> str:
    return "–" if value is None else format(value, pattern)


def _row(alert: Alert) -> dict[str, str]:
    ls: dict[str, Any] = alert.payload["landslide"]
    area = _fmt(ls["area_m2"], ",.0f")
    if ls.get("previous_area_m2") is not None and alert.event not in REVIEW_EVENTS:
        area = f"{_fmt(ls['previous_area_m2'], ',.0f')} → {area}"
    lat, lon = ls["centroid"]["lat"], ls["centroid"]["lon"]
    return {
        "event": _EVENTS.get(alert.event, alert.event.upper()),
        # what `inventory confirm ID` takes, labelled: a uid's first 8 digits, shown here
        # once, were typed and refused
        "landslide": f"id {ls['inventory_fid']}",
        "region": ls["region"],
        "area": area,
        "prob": f"{_fmt(ls['prob_mean'], '.2f')} / {_fmt(ls['prob_max'], '.2f')}",
        "agreement": _fmt(ls["agreement"], ".2f"),
        "setting": ls["setting"] or "–",
        "dates": _event_dates(ls),
        "where": f"{lat:.5f}, {lon:.5f}",
    }


def _event_dates(ls: dict[str, Any]) -> str:
    """When it happened: the event bracket where a sensor dated it (UTC days of acquisitions,
    as the column says: a local date can differ by one), else "undated". Not the windows'
    edges (``pre_date``, ``post_date``), which are no bracket: a monitoring window opens
    weeks before the run, and the landslide may follow its first acquisition."""
    if ls.get("event_before"):
        return f"after {ls.get('event_after') or '?'}, by {ls['event_before']}"
    return "undated"


def _map_link(alert: Alert) -> str:
    c = alert.payload["landslide"]["centroid"]
    return (
        f"https://www.openstreetmap.org/?mlat={c['lat']:.5f}&mlon={c['lon']:.5f}"
        f"#map=16/{c['lat']:.5f}/{c['lon']:.5f}"
    )


_HEADING = ("event", "landslide", "region")  # a plain-text block's first line


def _text_blocks(alerts: Sequence[Alert], rows: list[dict[str, str]]) -> str:
    """The plain-text part: one short block per landslide, its heading line then one line per
    column, and its map link. A table as wide as the HTML one (about 130 characters) wrapped
    into an unreadable mess on a phone, an 80-column terminal or an e-mail-to-SMS gateway."""
    blocks = []
    for alert, row in zip(alerts, rows, strict=True):
        lines = [f"{row['event']} {row['landslide']}, {row['region']}"]
        lines += [f"  {title}: {row[k]}" for k, title in _COLUMNS if k not in _HEADING]
        lines.append(f"  map: {_map_link(alert)}")
        # where quicklooks.base_url serves it: a plain-text reader gets no inline picture
        # (found in a walk: only the HTML part showed one)
        url = (alert.payload.get("quicklook") or {}).get("url")
        if url:
            lines.append(f"  quicklook: {url}")
        lines += _review_lines(alert)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _review_lines(alert: Alert) -> list[str]:
    """A review notice's own lines: when the reviewer decided, their note, and how many of the
    alerts this address was sent it withdraws (none for the other events)."""
    review = alert.payload.get("review")
    if alert.event not in REVIEW_EVENTS or not isinstance(review, dict):
        return []
    dismissed = alert.event == DISMISSED_EVENT
    lines = [
        f"  dismissed at: {review.get('decided_at')} (UTC), a false alarm"
        if dismissed
        else f"  reinstated at: {review.get('decided_at')} (UTC), no longer a false alarm"
    ]
    if review.get("note"):
        lines.append(f"  reviewer's note: {review['note']}")
    withdrawn = len(alert.payload.get("withdraws") or [])
    earlier = "alert(s)" if dismissed else "dismissal(s)"
    lines.append(f"  withdraws: the {withdrawn} earlier {earlier} of it sent to this address")
    return lines


# the regions a digest's subject names; the others are counted
_SUBJECT_REGIONS = 3


def _subject(smtp: SmtpSettings, alerts: Sequence[Alert]) -> str:
    counts = {e: sum(a.event == e for a in alerts) for e in _EVENTS}
    parts = [f"{n} {e.removeprefix('landslide.')}" for e, n in counts.items() if n]
    parts = [", ".join(parts[:-1]), parts[-1]] if len(parts) > 2 else parts
    names = sorted({a.region for a in alerts})
    # found in a walkthrough of 37 regions: a storm's digest listed every region, a subject of
    # some 160 characters that mail clients cut
    regions = named_or_counted(names, _SUBJECT_REGIONS)
    if len(names) > _SUBJECT_REGIONS + 1:
        regions += " regions"  # "and 34 more regions"
    noun = "landslide" if len(alerts) == 1 else "landslides"
    return f"{smtp.subject_prefix} {' and '.join(parts)} {noun} in {regions}".strip()


def _feature_collection(alerts: Sequence[Alert]) -> bytes:
    features = []
    for alert in alerts:
        props = {k: v for k, v in alert.payload["landslide"].items() if k != "geometry"}
        props["event"] = alert.event
        props["idempotency_key"] = alert.idempotency_key
        geometry = alert.payload["landslide"]["geometry"]
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=1).encode()


def build_message(smtp: SmtpSettings, recipient: str, alerts: Sequence[Alert]) -> EmailMessage:
    """The digest of ``alerts`` for ``recipient``."""
    if not alerts:
        raise ValueError("no alerts to put in an e-mail")
    keys = sorted(a.idempotency_key for a in alerts)
    digest = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
    rows = [_row(a) for a in alerts]

    message = EmailMessage()
    message["Subject"] = _subject(smtp, alerts)
    message["From"] = smtp.from_address
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{digest}@landslide-monitor>"
    message["Auto-Submitted"] = AUTO_SUBMITTED
    message[KEYS_HEADER] = ", ".join(keys)

    told = [a for a in alerts if a.event not in REVIEW_EVENTS]
    dismissed = sum(a.event == DISMISSED_EVENT for a in alerts)
    reinstated = sum(a.event == REINSTATED_EVENT for a in alerts)
    run_dates = sorted({a.payload["run"]["date"] for a in told})
    intro = (
        (
            f"The landslide monitor found {len(told)} new or grown landslide(s) in the run(s) "
            f"of {', '.join(run_dates)}. Review them in the inventory and confirm or dismiss "
            "them with `landslide-monitor inventory confirm --config FILE ID` (or `dismiss`), "
            "FILE being the monitor's configuration and ID the number of a landslide's id "
            f"below ({told[0].payload['landslide']['inventory_fid']} for the first)."
        )
        if told
        else ""
    )
    if dismissed:  # schema 1.4: a reviewer took back what this address had been told
        intro += (
            f"{' ' if told else ''}A reviewer dismissed {dismissed} landslide(s) this address "
            "had been alerted of, as false alarms (DISMISSED below): the earlier alerts of "
            "them are withdrawn."
        )
    if reinstated:  # schema 1.5: a reviewer took back a dismissal this address had been told
        intro += (
            f"{' ' if intro else ''}A reviewer took back the dismissal of {reinstated} "
            "landslide(s) this address had been told were false alarms (REINSTATED below): "
            "those dismissals are withdrawn, and the landslides stand as their status says."
        )
    message.set_content(f"{intro}\n\n{_text_blocks(alerts, rows)}\n")

    cells = []
    images: list[tuple[str, bytes, dict[str, str]]] = []  # (content id, PNG, its alert's row)
    for alert, row in zip(alerts, rows, strict=True):
        tds = "".join(
            f"<td>{html.escape(row[k])}</td>"
            if k != "where"
            else f'<td><a href="{html.escape(_map_link(alert))}">{html.escape(row[k])}</a></td>'
            for k, _ in _COLUMNS
        )
        cells.append(f"<tr>{tds}</tr>")
        # the outbox's path is not trusted (the inventory file is edited by other tools)
        png = None if alert.quicklook is None else read_png(alert.quicklook)
        if png is not None:  # a PNG, not a key file mailed
            # a msg-id (RFC 2045), unique to this message: <ql7.digest@landslide-monitor>
            cid = f"ql{alert.id}.{digest[:12]}@landslide-monitor"
            images.append((cid, png, row))
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in _COLUMNS)
    reviews = "".join(  # a review notice's decision, note and what it withdraws, below the table
        f"<p>{html.escape(row['event'])} {html.escape(row['landslide'])}, "
        f"{html.escape(row['region'])}: {html.escape('; '.join(s.strip() for s in lines))}</p>"
        for row, lines in zip(rows, map(_review_lines, alerts), strict=True)
        if lines
    )
    figures = "".join(
        f"<h3>{html.escape(row['event'])} {html.escape(row['landslide'])}, "
        f'{html.escape(row["region"])}</h3><img src="cid:{cid}" alt="quicklook" '
        'style="max-width:100%">'
        for cid, _, row in images
    )
    page = (
        # a phone's width, and the wide table scrolls within it rather than hiding its last
        # columns (the dates and the map links) past the screen's edge
        '<html><head><meta name="viewport" content="width=device-width, initial-scale=1">'
        "</head><body>"
        f"<p>{html.escape(intro)}</p>"
        '<div style="overflow-x:auto">'
        '<table border="1" cellpadding="4" cellspacing="0" style="border-collapse:collapse">'
        f"<tr>{head}</tr>{''.join(cells)}</table></div>{reviews}"
        "<p>Quicklooks: pre-event and post-event true colour, dNDVI, dVV (dB); grey: no valid "
        "observation (clouds, shadow, layover); outline in "
        f"red.</p>{figures}</body></html>"
    )
    message.add_alternative(page, subtype="html")
    html_part = cast(EmailMessage, message.get_payload(1))  # the HTML of the alternatives
    for cid, data, _ in images:
        html_part.add_related(
            data,
            "image",
            "png",
            cid=f"<{cid}>",
            filename=f"{cid.split('@')[0]}.png",
            disposition="inline",
        )
    message.add_attachment(
        _feature_collection(alerts),
        maintype="application",
        subtype="geo+json",
        filename="landslides.geojson",
    )
    return message


def build_test_message(smtp: SmtpSettings, recipient: str, ping: Ping) -> EmailMessage:
    """The plain-text test message of ``alerts test`` for ``recipient`` (no landslide, no
    attachment); its ``Message-ID`` is new to the test, as :attr:`Ping.key` is."""
    message = EmailMessage()
    message["Subject"] = f"{smtp.subject_prefix} test of the alerts (no landslide)".strip()
    message["From"] = smtp.from_address
    message["To"] = recipient
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{ping.key}@landslide-monitor>"
    message["Auto-Submitted"] = AUTO_SUBMITTED
    message[KEYS_HEADER] = ping.key
    message.set_content(ping_text(ping) + "\n")
    return message


def _quit(server: smtplib.SMTP, where: str) -> None:
    """End the session, whatever QUIT is answered: found in review, a 5xx to QUIT (a ``with``
    block's exit raised it) made a message the server had taken dead, and a 4xx or a timeout
    there had it sent again; and a failure before QUIT is the one to say."""
    try:
        code, answer = server.quit()
        if code != 221:
            log.warning("%s answered QUIT with %d %s", where, code, answer.decode(errors="replace"))
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("%s: QUIT failed: %s", where, exc)
    finally:
        server.close()


def _refusal(exc: smtplib.SMTPException) -> DeliveryError:
    codes: list[int] = []
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
    elif isinstance(exc, smtplib.SMTPResponseException):
        codes = [exc.smtp_code]
    permanent = bool(codes) and all(code >= 500 for code in codes)
    return DeliveryError(f"{type(exc).__name__}: {exc}", permanent=permanent)


def _answer(exc: smtplib.SMTPResponseException) -> str:
    """The server's answer as it said it: ``535 5.7.8 Authentication credentials invalid``."""
    text = exc.smtp_error
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{exc.smtp_code} {text}".strip()


def _login_missing(exc: smtplib.SMTPException) -> str | None:
    """What ``530 5.7.0 Authentication required`` (RFC 4954) means to a client configured
    without a login; None for any other answer."""
    if not isinstance(exc, smtplib.SMTPResponseException) or exc.smtp_code != 530:
        return None
    answer = _answer(exc)
    if "auth" not in answer.lower():
        return None  # such as "530 Must issue a STARTTLS command first"
    return (
        f"the server requires a login ({answer}) and alerts.smtp names none: set username_env "
        "and password_env to the environment variables holding the username and password; "
        "the alerts are retried"
    )


def _ascii(recipient: str, smtp: SmtpSettings) -> bool:
    """True when the envelope's addresses need no SMTPUTF8 (smtplib's own test)."""
    return recipient.isascii() and smtp.from_address.isascii()


# the SMTP servers warned of as reached in the clear, once per process (one sender per recipient)
_WARNED_CLEAR: set[tuple[str, int]] = set()


def _warn_in_the_clear(smtp: SmtpSettings) -> None:
    """Warn, once per server, where alerts go to another machine without STARTTLS (found in a
    security walkthrough: a plain webhook to another host was warned of, plain SMTP was not,
    and a digest carries the same places, outlines and pictures)."""
    server = (smtp.host, smtp.port)
    if smtp.starttls or is_loopback(smtp.host) or server in _WARNED_CLEAR:
        return
    _WARNED_CLEAR.add(server)
    log.warning(
        "alerts.smtp: mail to %s:%d goes without starttls: every digest (places, outlines, "
        "quicklooks) can be read on its way; set starttls: true where the server offers it",
        smtp.host,
        smtp.port,
    )


class EmailSender:
    """Sends digests to one recipient through the configured SMTP server."""

    def __init__(
        self,
        smtp: SmtpSettings,
        recipient: str,
        batch_size: int = 20,
        quicklooks: QuicklookLinks | None = None,
    ) -> None:
        self.smtp = smtp
        self.recipient = recipient
        self.batch_size = batch_size  # keeps a digest with its quicklooks a few MB at most
        self.quicklooks = quicklooks or QuicklookLinks()

    def _login_refused(self, exc: smtplib.SMTPAuthenticationError) -> str:
        """What a refused login says: the server's answer and the variables to fix."""
        variables = f"{self.smtp.username_env} and {self.smtp.password_env}"
        return (
            f"the server refused the login ({_answer(exc)}): check the username and password "
            f"in the environment variables {variables} (alerts.smtp.username_env and "
            "password_env); the alerts are retried"
        )

    def _tls_context(self, where: str) -> ssl.SSLContext:
        """The STARTTLS context; a ``ca_file`` gone since the configuration was loaded (which
        checks it) is named, where ssl said only "No such file or directory"."""
        cafile = str(self.smtp.ca_file) if self.smtp.ca_file else None
        try:
            return ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"{where}: cannot read alerts.smtp.ca_file {cafile}: {exc}; restore it or "
                "change ca_file, and the alerts are retried",
                maybe_delivered=False,
            ) from exc

    def send(self, alerts: Sequence[Alert]) -> None:
        # each PNG where quicklooks.dir is now, not where the run wrote it (the data folder
        # moved or restored elsewhere since the alert was queued)
        alerts = [replace(a, quicklook=self.quicklooks.local(a.quicklook)) for a in alerts]
        self._transmit(build_message(self.smtp, self.recipient, alerts))

    def send_test(self, ping: Ping) -> None:
        """Send ``ping``'s test message (:func:`build_test_message`) the way digests go."""
        self._transmit(build_test_message(self.smtp, self.recipient, ping))

    def _transmit(self, message: EmailMessage) -> None:
        """Hand ``message`` to the SMTP server for :attr:`recipient`; raise a
        :class:`DeliveryError` saying what failed and whether a retry can help."""
        credentials = self.smtp.credentials()
        where = f"SMTP {self.smtp.host}:{self.smtp.port}"
        _warn_in_the_clear(self.smtp)
        context = self._tls_context(where) if self.smtp.starttls else None
        # what the server lacks, said by the step that needed it: smtplib raises one error
        # for both (found in a walkthrough: a server without AUTH was asked about starttls)
        unsupported = "(is starttls right for this server?)"
        handed = False  # the message went to the server: a failure after may follow its taking it
        try:
            server = smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s)
            try:
                server.ehlo()
                if context is not None:
                    unsupported = (
                        "(the server offers no STARTTLS: check alerts.smtp.host and port, or "
                        "set starttls: false only for a server on this machine)"
                    )
                    server.starttls(context=context)
                    server.ehlo()
                if credentials is not None:
                    unsupported = (
                        "(the server offers no login: remove username_env and password_env "
                        "from alerts.smtp)"
                    )
                    server.login(*credentials)
                if not server.has_extn("smtputf8") and not _ascii(self.recipient, self.smtp):
                    # smtplib refuses such a message; no retry changes what the server offers
                    raise DeliveryError(
                        f"{where}: the recipient {self.recipient} or from_address "
                        f"{self.smtp.from_address} holds characters outside ASCII, which needs "
                        "the server's SMTPUTF8 (RFC 6531), and this server does not offer it: "
                        "use an ASCII address or a server that offers SMTPUTF8, then "
                        "`alerts retry --dead`",
                        permanent=True,
                    )
                handed = True
                server.send_message(message, to_addrs=[self.recipient])
            finally:
                _quit(server, where)
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc} {unsupported}", maybe_delivered=False) from exc
        except smtplib.SMTPAuthenticationError as exc:
            # retried, not permanent: fix the credentials in the environment, the next try works
            raise DeliveryError(
                f"{where}: {self._login_refused(exc)}", maybe_delivered=False
            ) from exc
        except smtplib.SMTPException as exc:
            missing = _login_missing(exc) if credentials is None else None
            if missing:  # retried as a refused login is: the next delivery reads the config
                raise DeliveryError(f"{where}: {missing}", maybe_delivered=handed) from exc
            error = _refusal(exc)
            raise DeliveryError(
                f"{where}: {error}", permanent=error.permanent, maybe_delivered=handed
            ) from exc
        except (OSError, ssl.SSLError) as exc:
            raise DeliveryError(
                f"{where}: {type(exc).__name__}: {exc}", maybe_delivered=handed
            ) from exc
