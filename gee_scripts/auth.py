"""Authentication: a service-account key file or Google application-default credentials.

The key is read from a file whose path comes from the configuration or from an environment
variable; its content is never logged (log lines name the account and the file only).
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ee

from gee_scripts.retry import (
    EarthEngineError,
    backoff_from,
    call_with_retry,
    classify,
    http_status,
)
from gee_scripts.settings import GeeSettings, holds_key_material, project_problem

__all__ = [
    "HIGH_VOLUME_URL",
    "AuthError",
    "Credentials",
    "endpoint_url",
    "initialize",
    "resolve_credentials",
    "usable_credentials",
]

HIGH_VOLUME_URL = "https://earthengine-highvolume.googleapis.com"

log = logging.getLogger(__name__)


class AuthError(RuntimeError):
    """Credentials missing or unusable (the message says which source was tried)."""


@dataclass(frozen=True)
class Credentials:
    """Resolved credentials: the google-auth object, the project and a loggable description."""

    credentials: Any
    project: str | None
    description: str  # safe to log: account and file path, never key material


def _key_file(settings: GeeSettings, environ: Mapping[str, str]) -> tuple[Path, str] | None:
    if settings.service_account_key is not None:
        return settings.service_account_key.expanduser(), "source.service_account_key"
    from_env = environ.get(settings.service_account_key_env, "").strip()
    if holds_key_material(from_env):  # the key itself, as CI systems hand keys over
        raise AuthError(
            f"${settings.service_account_key_env} holds key material ({len(from_env)} "
            "characters: a key's JSON, PEM or base64), not the path of a key file (not "
            "repeated here): write the key to a file only the monitor's user may read and put "
            "that file's path in the variable"
        )
    if from_env:
        return Path(from_env).expanduser(), f"${settings.service_account_key_env}"
    return None


_NEW_KEY = (
    "download a new key of the service account (Cloud console, IAM, Service accounts, Keys, "
    "JSON) and name it in source.service_account_key or the environment variable"
)


def _service_account(path: Path, origin: str) -> tuple[Any, str | None, str]:
    try:
        mode = path.stat().st_mode  # one look, whatever it finds
    except (FileNotFoundError, NotADirectoryError):
        raise AuthError(f"service-account key file {path} (from {origin}) does not exist") from None
    except PermissionError:
        raise AuthError(
            f"service-account key file {path} (from {origin}) lies in a folder this user may "
            "not enter; give the monitor's user access to it"
        ) from None
    except OSError as exc:  # a name too long to be a path (a key, perhaps): not repeated
        raise AuthError(
            f"the service-account key file named by {origin} cannot be looked up "
            f"({exc.strerror or type(exc).__name__}); put the path of the JSON key file there"
        ) from None
    if stat.S_ISDIR(mode):
        raise AuthError(
            f"service-account key file {path} (from {origin}) is a folder, not a key file; "
            "give the path of the JSON key file itself"
        )
    if not stat.S_ISREG(mode):  # a pipe or a device: reading it could wait for ever
        raise AuthError(
            f"service-account key file {path} (from {origin}) is not a regular file; give the "
            "path of the JSON key file itself"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuthError(
            f"service-account key file {path} (from {origin}) is not readable JSON: "
            f"{type(exc).__name__}; {_NEW_KEY}"
        ) from None
    if not isinstance(info, dict):
        raise AuthError(
            f"{path} (from {origin}) is not a service-account key (JSON {type(info).__name__}, "
            f"not an object); {_NEW_KEY}"
        )
    missing = [k for k in ("client_email", "private_key", "token_uri") if k not in info]
    if info.get("type") != "service_account" or missing:
        # gcloud's application-default credentials (authorized_user) or an OAuth client's
        # file named here was refused without a word of what to do (found in a walkthrough)
        other = (
            f"; your own login's credentials are read without it: leave {origin} unset and "
            "run `gcloud auth application-default login`, or " + _NEW_KEY
            if info.get("type") == "authorized_user" or "installed" in info or "web" in info
            else f"; {_NEW_KEY}"
        )
        raise AuthError(
            f"{path} (from {origin}) is not a service-account key "
            f"(type={info.get('type')!r}; missing {', '.join(missing) or 'nothing'}){other}"
        )
    from google.oauth2 import service_account

    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=ee.oauth.SCOPES)
    except ValueError:  # google-auth's message quotes no key material, but names no file either
        raise AuthError(
            f"service-account key file {path} (from {origin}): its private_key is not a PEM "
            f"private key (a truncated or edited copy?); {_NEW_KEY}"
        ) from None
    return creds, info.get("project_id"), f"service account {info['client_email']} (key {path})"


def _application_default(
    settings: GeeSettings, environ: Mapping[str, str]
) -> tuple[Any, str | None, str]:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    variable = settings.service_account_key_env
    given = environ.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    try:
        creds, project = google.auth.default(scopes=ee.oauth.SCOPES)
    except DefaultCredentialsError as exc:
        if given:  # a file there that cannot be used: not "no credentials"
            raise AuthError(
                f"the application-default credentials of GOOGLE_APPLICATION_CREDENTIALS "
                f"({given}) cannot be used ({exc}); point it at a service-account key or an "
                f"authorized-user file, or set {variable} to a service-account key file"
            ) from None
        raise AuthError(
            f"no Earth Engine credentials: set the environment variable {variable} (source."
            "service_account_key_env) or source.service_account_key to a service-account key "
            f"file, or run `gcloud auth application-default login` ({exc})"
        ) from None
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        # google.auth reads a folder, or a JSON that is no object, with errors of its own
        where = (
            f"GOOGLE_APPLICATION_CREDENTIALS ({given})"
            if given
            else "gcloud's application-default credentials file"
        )
        raise AuthError(
            f"the application-default credentials of {where} cannot be read "
            f"({type(exc).__name__}: {exc}); point it at a service-account key or an "
            f"authorized-user JSON file, or set {variable} to a service-account key file"
        ) from None
    account = getattr(creds, "service_account_email", None) or "user credentials"
    return creds, project, f"application-default credentials ({account})"


def resolve_credentials(
    settings: GeeSettings, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Find the credentials and the Cloud project named by ``settings`` and the environment."""
    environ = os.environ if environ is None else environ
    key = _key_file(settings, environ)
    if key is not None:
        creds, key_project, description = _service_account(*key)
    else:
        creds, key_project, description = _application_default(settings, environ)
    from_env = environ.get(settings.project_env, "").strip()
    if not settings.project and from_env and (problem := project_problem(from_env)) is not None:
        raise AuthError(f"${settings.project_env}: {problem}")
    project = settings.project or from_env or key_project
    return Credentials(creds, project or None, description)


def endpoint_url(settings: GeeSettings) -> str | None:
    """The endpoint ``ee.Initialize`` is given: the high-volume one when configured, else
    ``None`` (the client's default, the standard endpoint)."""
    return HIGH_VOLUME_URL if settings.high_volume_endpoint else None


def usable_credentials(
    settings: GeeSettings, environ: Mapping[str, str] | None = None
) -> Credentials:
    """The credentials and project :func:`initialize` would use, checked as far as this machine
    can without a request (the key file, the application-default credentials, the Cloud
    project): an :class:`AuthError` naming what to set. ``schedule --dry-run`` and the
    scheduler's start check them so (a run would fail on them every time)."""
    resolved = resolve_credentials(settings, environ)
    if resolved.project is None and not resolved.description.startswith("service account"):
        raise AuthError(
            "no Cloud project for Earth Engine: set source.project or the environment variable "
            f"{settings.project_env}"
        )
    return resolved


def initialize(settings: GeeSettings, environ: Mapping[str, str] | None = None) -> Credentials:
    """Initialise ``ee`` for real requests: credentials, project, endpoint, request deadline.

    :mod:`gee_scripts.retry` is the only layer that retries, so the client's own retries of
    429/5xx answers are turned off (``ee.data.setMaxRetries(0)``) before the first request."""
    resolved = usable_credentials(settings, environ)
    url = endpoint_url(settings)
    ee.data.setMaxRetries(0)
    deadline_ms = int(settings.retry.request_timeout_s * 1000)
    set_before = _deadline_before_start(deadline_ms)
    try:
        call_with_retry(
            lambda: ee.Initialize(resolved.credentials, url=url, project=resolved.project),
            what="Earth Engine initialisation",
            policy=backoff_from(settings.retry),
        )
    except EarthEngineError as err:
        refused = _credentials_refused(err, resolved)
        if refused is not None:
            raise AuthError(refused) from err
        raise
    if not set_before:
        ee.data.setDeadline(deadline_ms)
    log.info(
        "Earth Engine initialised: %s, project %s, endpoint %s",
        resolved.description,
        resolved.project,
        url or "standard",
    )
    return resolved


def _deadline_before_start(milliseconds: int) -> bool:
    """Put the request deadline where ``ee.Initialize`` builds the client's API resource from,
    so that its own requests (the discovery document, the algorithms) end within it too: found
    in a walkthrough, the deadline was set after them, so a connection that hung at start-up
    held the whole retry budget (15 minutes) in one attempt. ``ee.data.setDeadline`` would
    rebuild a resource that exists only once the client is initialised; earthengine-api keeps
    the value in its state across ``Initialize`` calls. False where this earthengine-api has no
    such state (before 1.6): the deadline is then set after the start, as before."""
    try:
        from ee import _state  # the client's state, as setDeadline writes it
    except ImportError:
        return False
    _state.get_state().deadline_ms = milliseconds
    return True


# HTTP statuses of Earth Engine refusing the account or its project (401 unauthenticated,
# 403 the project not registered, the API not enabled, or a role missing)
_REFUSED_STATUS = (401, 403)


def _credentials_refused(err: EarthEngineError, resolved: Credentials) -> str | None:
    """What to tell of an initialisation that failed because Google refused ``resolved``'s
    credentials or project for good, or None where it failed otherwise (an outage, a quota:
    retried, and told as they are). Found in a walkthrough: a deleted key's ``invalid_grant``
    ended the command with exit status 1 and google-auth's words, naming neither the key file
    nor what to do."""
    from google.auth.exceptions import RefreshError

    cause = err.__cause__
    if cause is None or classify(cause).treatment != "permanent":
        return None
    if isinstance(cause, RefreshError):
        reason = str(cause.args[0]) if cause.args else "refused"
        return (
            f"Google's token service refused {resolved.description}: {reason} (a key deleted "
            f"or disabled, an account removed, a clock far off); {_renew(resolved)}"
        )
    status = http_status(cause)
    if status in _REFUSED_STATUS:
        message = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        return (
            f"Earth Engine refused {resolved.description} for project {resolved.project!r} "
            f"(HTTP {status}: {message}): register the project for Earth Engine and give the "
            "account the roles Earth Engine Resource Viewer and Service Usage Consumer on it "
            "(docs/earth_engine.md, Credentials and project)"
        )
    return None


def _renew(resolved: Credentials) -> str:
    """What renews the credentials ``resolved`` names: by their kind, not their words."""
    from google.oauth2 import credentials as user_credentials

    if resolved.description.startswith("service account"):  # a key file this monitor read
        return _NEW_KEY
    if isinstance(resolved.credentials, user_credentials.Credentials):  # gcloud's own login
        return "run `gcloud auth application-default login` again"
    return (
        "check the account the application-default credentials name (the key file of "
        "GOOGLE_APPLICATION_CREDENTIALS, or the machine's service account) and its roles"
    )
