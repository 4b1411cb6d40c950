"""Real receivers on loopback for the alert tests: an HTTP webhook receiver (http.server in a
thread), an SMTP server with STARTTLS and AUTH (aiosmtpd), a self-signed certificate made in
code, and helpers that queue alerts through a real inventory. Fixtures are in conftest.py."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from email.message import MIMEPart
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import yaml
from shapely.geometry import box, mapping

from monitor.alerts.settings import AlertRouting, AlertSettings
from monitor.store.inventory import Inventory, RegionDetections

LOOPBACK = "127.0.0.1"
SECRET = "s3cret-for-tests"
SMTP_USER, SMTP_PASSWORD = "monitor", "smtp-pass-for-tests"
X0, Y0 = 600_000.0, 1_270_000.0


# -- webhook receiver ---------------------------------------------------------------------------


@dataclass
class Receiver:
    """What the webhook receiver saw; it deduplicates on the signed body's ``idempotency_key``,
    as docs/alerts.md tells receivers (the header is not signed)."""

    port: int
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    processed: dict[str, bytes] = field(default_factory=dict)
    answers: list[int] = field(default_factory=list)  # status codes to answer first, then 200
    server: ThreadingHTTPServer | None = None
    tls_files: tuple[Path, Path] | None = None  # (certificate, key): serve HTTPS with them
    delay_s: float = 0.0  # how long it takes to answer each POST

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_files else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}/hooks/landslides"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                code = receiver.answers.pop(0) if receiver.answers else 200
                time.sleep(receiver.delay_s)
                if code == 200:
                    key = json.loads(body)["idempotency_key"]  # the signed one, not the header
                    receiver.processed.setdefault(key, body)
                self.send_response(code)
                if code == 429:
                    self.send_header("Retry-After", "900")
                if 300 <= code < 400:  # moved to https, as a proxy in front of it may say
                    self.send_header("Location", receiver.url.replace("http:", "https:", 1))
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((LOOPBACK, self.port), Handler)
        if self.tls_files is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls_files))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


# -- SMTP server with STARTTLS + AUTH -----------------------------------------------------------


def make_tls_files(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key) in ``folder``."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Mailbox:
    port: int
    messages: list[bytes] = field(default_factory=list)
    sessions: list[dict[str, object]] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # recipients answered 550
    login_required: bool = False  # MAIL FROM before a login is answered 530
    smtputf8: bool = True  # advertise SMTPUTF8 (RFC 6531), as aiosmtpd's Controller does
    starttls: bool = True  # offer STARTTLS (and AUTH after it; without it, no AUTH either)
    controller: Any = None  # aiosmtpd's Controller once started (aiosmtpd is untyped)

    def start(self, tls_files: tuple[Path, Path]) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        mailbox = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
                if address in mailbox.refused:
                    return "550 5.1.1 no such mailbox"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope) -> str:
                mailbox.messages.append(envelope.content)
                mailbox.sessions.append(
                    {
                        "tls": session.ssl is not None,
                        "authenticated": session.authenticated,
                        "rcpt": list(envelope.rcpt_tos),
                    }
                )
                return "250 Message accepted"

        def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
            ok = isinstance(auth_data, LoginPassword) and (
                auth_data.login.decode(),
                auth_data.password.decode(),
            ) == (SMTP_USER, SMTP_PASSWORD)
            return AuthResult(success=ok, handled=False)  # False: the server answers 535

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*map(str, tls_files))
        self.controller = Controller(
            Handler(),
            hostname=LOOPBACK,
            port=self.port,
            tls_context=context if self.starttls else None,
            require_starttls=self.starttls,
            authenticator=authenticator,
            auth_require_tls=True,
            auth_required=self.login_required,
            enable_SMTPUTF8=self.smtputf8,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


# -- an inventory with alerts queued ------------------------------------------------------------


def alert_settings(
    receiver: Receiver, mailbox: Mailbox, tls_files: tuple[Path, Path] | None
) -> dict[str, Any]:
    """The ``alerts:`` section that reaches ``receiver`` and ``mailbox`` (as in the YAML)."""
    return {
        "smtp": {
            "host": LOOPBACK,
            "port": mailbox.port,
            "starttls": True,
            "from_address": "monitor@example.org",
            "username_env": "LM_TEST_SMTP_USER",
            "password_env": "LM_TEST_SMTP_PASSWORD",
            "ca_file": str(tls_files[0]) if tls_files else None,
            "timeout_s": 5,
        },
        "email": ["geohazards@example.org"],
        "webhooks": [{"name": "ops", "url": receiver.url, "secret_env": "LM_TEST_WEBHOOK_SECRET"}],
        "retry": {"base_delay_s": 60, "factor": 2, "max_attempts": 5},
    }


def make_routing(receiver: Receiver, mailbox: Mailbox, tls_files: tuple[Path, Path] | None):
    settings = AlertSettings(**alert_settings(receiver, mailbox, tls_files))
    return AlertRouting.from_settings(settings)


def write_monitor_config(folder: Path, alerts: dict[str, Any]) -> Path:
    """A configuration file in ``folder`` for the CLI: region wayanad-hills (where
    :func:`candidates` lie), the inventory ``folder/inventory.gpkg``, ``alerts``."""
    manifest = folder / "manifest.json"  # exists; no test here loads the ensemble
    manifest.write_text("{}")
    wayanad = box(75.91, 11.48, 75.94, 11.50)
    data = {
        "regions": [{"name": "wayanad-hills", "geometry": mapping(wayanad)}],
        "model": {"manifest": str(manifest)},
        "inventory": {"path": "inventory.gpkg"},
        "quicklooks": {"enabled": False},
        "alerts": alerts,
    }
    path = folder / "monitor.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def candidates(squares: Sequence[tuple[float, float, float, float]], quicklook: Path | None = None):
    geoms = [box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h) for x, y, w, h in squares]
    return gpd.GeoDataFrame(
        {
            "region": ["wayanad-hills"] * len(geoms),
            "area_m2": [g.area for g in geoms],
            "prob_mean": 0.81,
            "prob_max": 0.97,
            "agreement": 0.88,
            "dNDVI_mean": -0.41,
            "dVV_mean": -1.7,
            "dVH_mean": -2.2,
            "slope_mean": 31.0,
            "setting": "S1+S2",
            "pre_date": "2024-08-21",
            "post_date": "2024-08-26",
            "quicklook": [str(quicklook) if quicklook else None] * len(geoms),
        },
        geometry=geoms,
        crs="EPSG:32643",
    )


QUEUED_AT = dt.datetime(2024, 9, 15, 5, 0, tzinfo=dt.UTC)  # before the tests' delivery times


def apply_run(inv: Inventory, day: date, cands, routing: AlertRouting):
    """One run of region wayanad-hills on ``day``; alerts are queued at :data:`QUEUED_AT`."""
    run_id = inv.start_run(day, ["wayanad-hills"], "archive")
    detections = [RegionDetections("wayanad-hills", candidates=cands)]
    return inv.apply(run_id, detections, routing, now=QUEUED_AT)


def decode(body: bytes) -> dict:
    return json.loads(body)


def body_text(message: MIMEPart, subtype: str) -> str:
    """The content of the message's ``text/<subtype>`` body (the test fails without one)."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} body"
    return part.get_content()
