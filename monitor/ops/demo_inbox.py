"""A loopback inbox for trying a configuration's alerts without real recipients.

``python -m monitor.ops.demo_inbox --config F --dir D -- COMMAND...`` starts, for the duration of
COMMAND, the recipients that the configuration's ``alerts`` section names on this machine
(loopback addresses only): an SMTP server (aiosmtpd) at ``alerts.smtp`` and an HTTP receiver
for every webhook URL. What arrives is written under ``D``: ``mail/NNN.eml`` per e-mail and
``webhook/<idempotency key>.json`` per webhook POST, whose HMAC-SHA256 signature is checked
(a bad signature is answered 401 and not stored). The key is the signed body's
``idempotency_key``, never the unsigned header; a repeated key is answered 200 and not stored
again, as a receiver should (docs/alerts.md, "Verifying the signature"). ``make demo`` runs
the monitor this way.

Nothing received is ever overwritten: the inbox may be started again and again into the same
``D`` (each ``make demo``), so e-mails are numbered on after the highest ``NNN.eml`` already
there, and every file is created exclusively (a name taken meanwhile moves on to the next).

Webhook secrets: each webhook's ``secret_env`` variable is set to ``demo-secret`` for
COMMAND unless the environment already has it; a login (``alerts.smtp.username_env`` and
``password_env``) is accepted whatever it is, its variables set to ``demo`` likewise. A
webhook given by ``url_env`` is received where the variable points (set it to a loopback URL).
The inbox offers no STARTTLS and serves http: ``starttls: true``, an https webhook URL or an
unset ``url_env`` is refused before COMMAND runs, naming the field to change.

A configuration that names a recipient elsewhere (an SMTP host or a webhook URL not on this
machine) is refused before COMMAND runs, naming each (exit status 2): the inbox cannot receive
what goes there, and COMMAND would send real alerts to real people while the user thinks they
are trying them. Point them at 127.0.0.1 in a copy of the configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from monitor.alerts.payload import alert_schema
from monitor.alerts.settings import AlertConfigError, WebhookSettings, is_loopback
from monitor.alerts.webhook import SIGNATURE_HEADER, verify
from monitor.config import ConfigError, load_config

__all__ = ["DemoInbox", "main"]

DEMO_SECRET = "demo-secret"
DEMO_LOGIN = "demo"  # the username and password an unset login variable is given


def _accept_any_login(*args: Any) -> Any:
    """aiosmtpd's authenticator: every login succeeds (the inbox only receives)."""
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


def _hook_address(hook: WebhookSettings) -> SplitResult | None:
    """Where ``hook`` POSTs, split; None where its ``url_env`` holds no http(s) URL here."""
    try:
        return urlsplit(hook.target())
    except AlertConfigError:
        return None


def _hook_shown(hook: WebhookSettings) -> str:
    """How messages name the webhook's address: its url, or its url_env's variable (the value
    may carry a token, and is never shown)."""
    return str(hook.url) if hook.url is not None else f"url_env {hook.url_env}"


def _highest_number(directory: Path) -> int:
    """The highest N of the ``N.eml`` files in ``directory`` (0 when there is none)."""
    numbers = [int(p.stem) for p in directory.glob("*.eml") if p.stem.isdigit()]
    return max(numbers, default=0)


class _MailHandler:
    """Stores each e-mail as ``NNN.eml``, numbering on after what ``directory`` already holds."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0  # received by this start
        self._last = _highest_number(directory)
        self._lock = threading.Lock()

    def _store(self, data: bytes) -> Path:
        """Write ``data`` to the next free number; never replaces a file (exclusive create)."""
        with self._lock:
            while True:
                self._last += 1
                path = self.directory / f"{self._last:03d}.eml"
                try:
                    with path.open("xb") as file:
                        file.write(data)
                except FileExistsError:  # another inbox on the same folder took it
                    continue
                self.count += 1
                return path

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self._store(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def _signed_key(body: bytes) -> str | None:
    """The idempotency key of a verified body, read from the body (docs/alerts.md: the
    ``Idempotency-Key`` header is not signed, and a replay with another one must still be
    recognised); None when it is not an alert's key (the schema's pattern, which also keeps
    it a plain file name)."""
    try:
        key = json.loads(body).get("idempotency_key")
    except (ValueError, AttributeError):
        return None
    pattern = alert_schema()["properties"]["idempotency_key"]["pattern"]
    return key if isinstance(key, str) and re.fullmatch(pattern, key) else None


class _WebhookServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], path: str, secret: bytes, directory: Path) -> None:
        self.hook_path = path
        self.secret = secret
        self.directory = directory
        self.stored = 0
        self.duplicates = 0
        self.rejected = 0
        self.lock = threading.Lock()
        super().__init__(address, _WebhookHandler)


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def do_POST(self) -> None:
        server = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if urlsplit(self.path).path != server.hook_path:
            self.send_response(404)
        elif not verify(server.secret, body, self.headers.get(SIGNATURE_HEADER)):
            with server.lock:
                server.rejected += 1
            self.send_response(401)
        else:
            key = _signed_key(body)
            if key is None:  # signed, but not an alert: nothing to store under a key
                self.send_response(400)
                self.end_headers()
                return
            target = server.directory / f"{key}.json"
            with server.lock:
                try:  # exclusive create: a key stored before (by any start) is kept as it was
                    # the bytes signed, as they came: a receiver's check can be tried on them
                    # (found in a walkthrough: reformatted, they no longer verified)
                    with target.open("xb") as file:
                        file.write(body)
                except FileExistsError:
                    server.duplicates += 1
                else:
                    server.stored += 1
                    # and the signature they came with, to compare a receiver's own with
                    # (found in a walkthrough: docs/alerts.md's recipe had nothing to compare)
                    signature = str(self.headers.get(SIGNATURE_HEADER))
                    target.with_suffix(".sig").write_text(signature + "\n", encoding="ascii")
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class DemoInbox:
    """The loopback SMTP server and webhook receivers of a configuration (a context manager)."""

    def __init__(self, config_path: Path, directory: Path) -> None:
        self.config = load_config(config_path)
        self.directory = directory
        self.env: dict[str, str] = {}
        self._mail: _MailHandler | None = None
        self._controller: Any = None
        self._webhooks: list[tuple[str, _WebhookServer, threading.Thread]] = []

    def elsewhere(self) -> list[str]:
        """The recipients of the configuration that are not on this machine, each with the
        field that names it: what COMMAND would really send to."""
        found = []
        smtp = self.config.alerts.smtp
        if smtp is not None and not is_loopback(smtp.host):
            found.append(f"alerts.smtp.host {smtp.host}")
        for hook in self.config.alert_routing().webhooks.values():
            url = _hook_address(hook)
            if url is not None and (not url.hostname or not is_loopback(url.hostname)):
                found.append(f"webhook {hook.name} ({_hook_shown(hook)})")
        return found

    def unservable(self) -> list[str]:
        """What the configuration asks of recipients on this machine that the inbox cannot
        give, each with the field to change in the trial copy (found in a walkthrough: these
        failed one alert at a time, or refused the whole file as a recipient elsewhere)."""
        found = []
        smtp = self.config.alerts.smtp
        if smtp is not None and is_loopback(smtp.host) and smtp.starttls:
            found.append(
                "alerts.smtp.starttls is true, and the inbox offers no STARTTLS: set it to false "
                "(a login without it is allowed to a server on this machine)"
            )
        for hook in self.config.alert_routing().webhooks.values():
            url = _hook_address(hook)
            if url is None:
                found.append(
                    f"webhook {hook.name}: url_env {hook.url_env} holds no URL here: set it to a "
                    "127.0.0.1 URL (http://127.0.0.1:<free port>/<path>)"
                )
            elif url.hostname and is_loopback(url.hostname) and url.scheme != "http":
                # a url_env's value may carry a token: the advice never repeats it
                use = (
                    f"set {hook.url_env} to an http:// URL"
                    if hook.url_env is not None
                    else f"use http://{url.hostname}:{url.port or 80}{url.path}"
                )
                found.append(
                    f"webhook {hook.name} ({_hook_shown(hook)}): the inbox serves http: {use}"
                )
        return found

    def __enter__(self) -> DemoInbox:
        alerts = self.config.alerts
        smtp = alerts.smtp
        if smtp is not None and is_loopback(smtp.host):
            from aiosmtpd.controller import Controller

            mail_dir = self.directory / "mail"
            mail_dir.mkdir(parents=True, exist_ok=True)
            self._mail = _MailHandler(mail_dir)
            self._controller = Controller(
                self._mail,
                hostname=smtp.host,
                port=smtp.port,
                authenticator=_accept_any_login,
                auth_require_tls=False,
            )
            self._controller.start()
            for variable in (smtp.username_env, smtp.password_env):
                if variable:
                    self.env[variable] = os.environ.get(variable) or DEMO_LOGIN
        hooks = self.config.alert_routing().webhooks
        for hook in hooks.values():
            url = _hook_address(hook)
            if url is None or not url.hostname or not is_loopback(url.hostname):
                continue
            secret = os.environ.get(hook.secret_env) or DEMO_SECRET
            self.env[hook.secret_env] = secret
            hook_dir = self.directory / "webhook"
            hook_dir.mkdir(parents=True, exist_ok=True)
            server = _WebhookServer(
                (url.hostname, url.port or 80), url.path or "/", secret.encode(), hook_dir
            )
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._webhooks.append((hook.name, server, thread))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
        for _, server, thread in self._webhooks:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def report(self) -> str:
        lines = []
        if self._mail is not None:
            lines.append(f"  {self._mail.count} e-mail(s) in {self.directory / 'mail'}")
        for name, server, _ in self._webhooks:
            lines.append(
                f"  webhook {name}: {server.stored} signed POST(s) in {self.directory / 'webhook'}"
                f" ({server.duplicates} repeated key(s), {server.rejected} bad signature(s))"
            )
        return "\n".join(["Alerts received by the loopback inbox:", *lines]) if lines else ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m monitor.ops.demo_inbox", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", "-c", type=Path, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where received alerts go")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    if shutil.which(command[0]) is None:
        # found in a walkthrough: subprocess's FileNotFoundError was read as a port in use
        ours = command[0] == "landslide-monitor"
        instead = " or `python -m monitor` in its place" if ours else ""
        print(
            f"demo_inbox: cannot run {command[0]}: no such command here (not on PATH, or not an "
            "executable file). Activate the virtual environment (. .venv/bin/activate), or give "
            f"the command's path{instead}. The inbox was not started.",
            file=sys.stderr,
        )
        return 127
    try:
        inbox = DemoInbox(args.config, args.dir)
        away, unservable = inbox.elsewhere(), inbox.unservable()
        if away:
            print(
                f"demo_inbox: {args.config} names recipients that are not on this machine: "
                f"{'; '.join(away)}. The inbox receives only on loopback, and the command would "
                "send them real alerts; to try the alerts here, point them at 127.0.0.1 in a "
                'copy of the configuration (docs/alerts.md, "Trying your alerts").',
                file=sys.stderr,
            )
        if unservable:
            print(
                f"demo_inbox: {args.config} asks what the loopback inbox cannot serve: "
                f"{'; '.join(unservable)}.",
                file=sys.stderr,
            )
        if away or unservable:
            return 2
        with inbox:
            if not inbox.report():
                print(
                    f"demo_inbox: {args.config} names no alert recipient (alerts.smtp, "
                    "webhooks): nothing will arrive here",
                    file=sys.stderr,
                )
            env = {**os.environ, **inbox.env}
            try:
                status = subprocess.call(command, env=env)
            except OSError as exc:  # found in review: an entry point whose interpreter is
                # gone (a moved virtual environment) was read as a port in use
                print(f"demo_inbox: cannot run {command[0]}: {exc}", file=sys.stderr)
                return 126 if isinstance(exc, PermissionError) else 127
    except ConfigError as exc:
        print(f"demo_inbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a port in use
        print(
            f"demo_inbox: cannot start the loopback inbox: {exc}. Its ports are the configuration's"
            f" alerts.smtp.port and webhook URLs ({args.config}); free the port (`ss -ltnp` names"
            " the process holding it) or change them there.",
            file=sys.stderr,
        )
        return 1
    report = inbox.report()
    if report:
        print(report)
    if status < 0:  # killed by a signal: -9 was exit status 247 (found in a crash walkthrough)
        try:
            name = signal.Signals(-status).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-status}"
        print(f"demo_inbox: the command was killed by {name}", file=sys.stderr)
        return 128 - status
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
