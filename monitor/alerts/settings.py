"""Alert settings (pydantic) and the routing of each region's alerts to channels.

The run configuration (:mod:`monitor.config`) embeds :class:`AlertSettings` at the top level
(global targets, the SMTP server, the retry policy) and :class:`AlertTargets` in each region.
Secrets never appear in the YAML: the SMTP username/password and each webhook's HMAC secret
(and its url, where it carries a token: ``url_env``) are read, at delivery time, from the
environment variables the settings *name*.

A *channel* is one destination of alerts, named by a stable id that the outbox stores with each
alert: ``email:<address>`` for one e-mail recipient, ``webhook:<name>`` for one webhook.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.alerts.payload import QuicklookLinks

__all__ = [
    "AlertConfigError",
    "AlertRouting",
    "AlertSettings",
    "AlertTargets",
    "RetryPolicy",
    "SmtpSettings",
    "WebhookSettings",
    "check_env_name",
    "email_channel",
    "is_loopback",
    "read_secret",
    "webhook_channel",
]

# whole values (fullmatch): the "$" of a match let a name end in a newline, which a YAML
# block scalar (`secret_env: |`) gives, and the variable was then "not set"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the whole name (fullmatch)
_HTTP_URL: TypeAdapter[HttpUrl] = TypeAdapter(HttpUrl)


class AlertConfigError(ValueError):
    """Alert settings that cannot work (names the region, channel or environment variable).

    ``region`` and ``field`` (relative to the ``alerts`` section, e.g. ``webhooks[1].name``)
    say where in a configuration file the problem lies, where known; ``detail`` is the message
    without the region or section it starts with."""

    def __init__(
        self,
        message: str,
        *,
        region: str | None = None,
        field: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.region = region
        self.field = field
        self.detail = detail or message


def read_secret(variable: str, what: str) -> str:
    """The value of environment variable ``variable``; :class:`AlertConfigError` if unset/empty."""
    value = os.environ.get(variable)
    if not value:
        state = "is empty" if value is not None else "is not set"
        raise AlertConfigError(
            f"{what}: environment variable {variable} {state}; set it in the environment the "
            "monitor runs in (the service's environment file, or the container's secret: "
            "docs/operations.md, Secrets)"
        )
    return value


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1, and 127.0.0.0/8
    written IPv4-mapped, ::ffff:127.0.0.1): what is sent there never crosses the network, so a
    login needs no STARTTLS and a webhook no https."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:  # a host name
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_env_name(value: str | None) -> str | None:
    """``value``, refused where it is not an environment variable's name (a secret itself),
    with a message that does not repeat it: it is printed and logged."""
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ValueError(
            "the value given is not an environment variable name (ASCII letters, digits and "
            "'_', not starting with a digit) and is not repeated here, as it may be the secret "
            "itself: put the secret in the environment and name the variable here"
        )
    return value


def _check_addresses(values: list[str]) -> list[str]:
    bad = [v for v in values if not _EMAIL.fullmatch(v.strip())]
    if bad:
        raise ValueError(f"not e-mail addresses: {', '.join(map(repr, bad))}")
    return [v.strip() for v in values]


class _Strict(BaseModel):
    # inf or NaN in a timeout overflowed smtplib's and requests' (found in a config audit)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SmtpSettings(_Strict):
    """The SMTP server alerts are sent through."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade the connection with STARTTLS before login")
    from_address: str = Field(description="the From: address of alert e-mails")
    username_env: str | None = Field(None, description="environment variable with the username")
    password_env: str | None = Field(None, description="environment variable with the password")
    ca_file: Path | None = Field(
        None, description="PEM bundle to trust for STARTTLS (an internal CA); system store if unset"
    )
    timeout_s: float = Field(30.0, gt=0, le=3600.0)
    subject_prefix: str = "[landslide-monitor]"
    # found in a walkthrough of 37 regions: a storm's 99 alerts came in 5 e-mails of 1.1 MB
    max_per_message: int = Field(
        20,
        ge=1,
        le=200,
        description="alerts in one e-mail at most (each carries its quicklook, 15-35 kB): more "
        "make fewer, larger messages",
    )

    @field_validator("username_env", "password_env")
    @classmethod
    def _env_names(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @field_validator("port")
    @classmethod
    def _no_implicit_tls(cls, value: int) -> int:
        # found in a config audit: docs/alerts.md says port 465 cannot work, and it loaded;
        # every alert then waited in the outbox for retries until it was dead
        if value == 465:
            raise ValueError(
                "465 is implicit TLS (SMTPS), which the sender does not speak: use the "
                "server's submission port 587 with starttls: true, or a local relay"
            )
        return value

    @field_validator("from_address")
    @classmethod
    def _from_is_address(cls, value: str) -> str:
        return _check_addresses([value])[0]

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpSettings:
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("set both username_env and password_env, or neither (no login)")
        if self.username_env and not self.starttls and not is_loopback(self.host):
            raise ValueError(
                f"login to {self.host} without starttls would send the password in clear; "
                "set starttls: true"
            )
        return self

    def credentials(self) -> tuple[str, str] | None:
        """(username, password) from the environment, or None when no login is configured."""
        if self.username_env is None or self.password_env is None:
            return None
        return (
            read_secret(self.username_env, "SMTP username"),
            read_secret(self.password_env, "SMTP password"),
        )


class WebhookSettings(_Strict):
    """One webhook: a JSON POST per alert, signed with HMAC-SHA256 (see docs/alerts.md)."""

    name: str = Field(description="unique name; the channel id is webhook:<name>")
    url: HttpUrl | None = Field(None, description="where alerts are POSTed (or url_env)")
    url_env: str | None = Field(
        None,
        description="instead of url: environment variable holding it, for a url that carries "
        "a token (Slack, Teams)",
    )
    secret_env: str = Field(description="environment variable holding the HMAC-SHA256 secret")
    timeout_s: float = Field(10.0, gt=0, le=3600.0)
    ca_file: Path | None = Field(
        None, description="PEM bundle to trust for the receiver's HTTPS (an internal CA); "
        "system store if unset",
    )  # fmt: skip

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return check_env_name(value) or value

    @field_validator("url_env")
    @classmethod
    def _url_env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSettings:
        if (self.url is None) == (self.url_env is None):
            given = "both" if self.url is not None else "neither"
            raise ValueError(
                f"webhook {self.name!r}: give url or url_env, one of them ({given} given)"
            )
        return self

    @field_validator("url", mode="before")
    @classmethod
    def _with_scheme(cls, value: object) -> object:
        # pydantic's own message, "relative URL without a base", does not say what is missing
        if isinstance(value, str) and "://" not in value:
            bare = not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", value)
            raise ValueError(
                f"webhook url {value!r} has no scheme: write it in full, "
                + (f"https://{value.lstrip('/')}" if bare else "https://host/path")
            )
        return value

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.fullmatch(value):  # '$' of a match let a name end in a newline
            raise ValueError(
                f"webhook name {value!r}: start with an ASCII letter or digit and use ASCII "
                "letters, digits, '.', '_' or '-'"
            )
        return value

    def secret(self) -> bytes:
        return read_secret(self.secret_env, f"webhook {self.name!r} secret").encode()

    def target(self) -> str:
        """The url alerts are POSTed to: ``url``, or the value of ``url_env`` read now (an
        :class:`AlertConfigError` naming the variable where it is unset, empty or no http(s)
        URL; the value itself is never shown)."""
        if self.url is not None:
            return str(self.url)
        assert self.url_env is not None  # _one_url
        what = f"webhook {self.name!r} url"
        value = read_secret(self.url_env, what)
        try:
            return str(_HTTP_URL.validate_python(value))
        except ValidationError:
            raise AlertConfigError(
                f"{what}: environment variable {self.url_env} holds no http(s) URL (such as "
                "https://host/path); correct it in the environment the monitor runs in"
            ) from None


class AlertTargets(_Strict):
    """Who is alerted about a region's new and grown landslides."""

    email: list[str] = Field(default_factory=list, description="recipient addresses")
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    inherit: bool = Field(True, description="also alert the global targets")

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)


class RetryPolicy(_Strict):
    """Exponential backoff: attempt n (1-based) failing waits ``base * factor**(n-1)``, capped."""

    max_attempts: int = Field(12, ge=1, description="after this many failures an alert is dead")
    base_delay_s: float = Field(60.0, gt=0, le=30 * 86400.0)
    factor: float = Field(2.0, ge=1)
    # at most 30 days: a wait of 1e12 s is past the dates a retry time can hold
    max_delay_s: float = Field(6 * 3600.0, gt=0, le=30 * 86400.0)

    @model_validator(mode="after")
    def _delays_in_order(self) -> RetryPolicy:
        # the waits grow from base_delay_s up to max_delay_s: a cap below the start would
        # silently make every wait the cap
        if self.max_delay_s < self.base_delay_s:
            raise ValueError(
                f"max_delay_s ({self.max_delay_s:g} s) is below base_delay_s "
                f"({self.base_delay_s:g} s): the waits grow from the first up to the cap"
            )
        return self

    def delay_s(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt."""
        try:
            grown = self.base_delay_s * self.factor ** max(0, attempts - 1)
        except OverflowError:  # past a float's range (factor 2, some 1 000 attempts): the cap
            return self.max_delay_s
        return min(self.max_delay_s, grown)


class AlertSettings(_Strict):
    """Top-level ``alerts:`` section: the SMTP server, global targets and the retry policy."""

    smtp: SmtpSettings | None = None
    email: list[str] = Field(default_factory=list, description="global recipient addresses")
    webhooks: list[WebhookSettings] = Field(default_factory=list)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return _check_addresses(value)

    @model_validator(mode="after")
    def _email_needs_smtp(self) -> AlertSettings:
        if self.email and self.smtp is None:
            raise ValueError("e-mail recipients are set but there is no smtp server section")
        return self


def email_channel(address: str) -> str:
    return f"email:{address.lower()}"


def webhook_channel(name: str) -> str:
    return f"webhook:{name}"


@dataclass(frozen=True)
class AlertRouting:
    """Which channels each region's alerts go to, and how to reach every channel."""

    smtp: SmtpSettings | None = None
    webhooks: Mapping[str, WebhookSettings] = field(default_factory=dict)
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    default: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    quicklooks: QuicklookLinks = field(default_factory=QuicklookLinks)

    @classmethod
    def from_settings(
        cls,
        settings: AlertSettings | None,
        regions: Mapping[str, AlertTargets | None] | None = None,
        quicklooks: QuicklookLinks | None = None,
    ) -> AlertRouting:
        """Resolve global and per-region targets; :class:`AlertConfigError` names the region
        whose e-mail has no SMTP server or whose webhook name clashes with another's."""
        settings = settings or AlertSettings()
        webhooks: dict[str, WebhookSettings] = {}

        def add_hooks(hooks: list[WebhookSettings], region: str | None) -> list[str]:
            for i, hook in enumerate(hooks):
                known = webhooks.get(hook.name)
                if known is not None and known != hook:
                    where = "alerts" if region is None else f"region {region!r}"
                    detail = f"webhook name {hook.name!r} is used by another webhook"
                    raise AlertConfigError(
                        f"{where}: {detail}", region=region, field=f"webhooks[{i}].name",
                        detail=detail,
                    )  # fmt: skip
                webhooks[hook.name] = hook
            return [webhook_channel(h.name) for h in hooks]

        default = [email_channel(a) for a in settings.email]
        default += add_hooks(settings.webhooks, None)
        routes: dict[str, tuple[str, ...]] = {}
        for region, targets in (regions or {}).items():
            if targets is None:
                continue
            if targets.email and settings.smtp is None:
                detail = "e-mail recipients are set but the alerts section has no smtp server"
                raise AlertConfigError(
                    f"region {region!r}: {detail}", region=region, field="email", detail=detail
                )
            own = [email_channel(a) for a in targets.email]
            own += add_hooks(targets.webhooks, region)
            channels = (default if targets.inherit else []) + own
            routes[region] = tuple(dict.fromkeys(channels))
        return cls(
            smtp=settings.smtp,
            webhooks=webhooks,
            routes=routes,
            default=tuple(dict.fromkeys(default)),
            retry=settings.retry,
            quicklooks=quicklooks or QuicklookLinks(),
        )

    def channels_for(self, region: str) -> tuple[str, ...]:
        return self.routes.get(region, self.default)

    def unset_variables(self) -> list[str]:
        """What the channels in use read from this environment and do not find: the SMTP
        login's variables (where an e-mail recipient is configured), each used webhook's secret
        and ``url_env``; one :class:`AlertConfigError` message each, the values never shown.
        Alerts of such a channel wait in the outbox until the variable is set (found in a
        walkthrough: a dry run with the login variables unset passed, and only ``alerts test``
        said what the first alerts would meet)."""
        used = self.channels
        reads: list[Callable[[], object]] = []  # each raises AlertConfigError naming what
        if self.smtp is not None and any(c.startswith("email:") for c in used):
            for variable, what in (
                (self.smtp.username_env, "SMTP username"),
                (self.smtp.password_env, "SMTP password"),
            ):
                if variable is not None:
                    reads.append(partial(read_secret, variable, what))
        for name, hook in self.webhooks.items():
            if webhook_channel(name) in used:
                reads.append(hook.secret)
                if hook.url_env is not None:  # unset, empty, or no http(s) URL
                    reads.append(hook.target)
        problems: list[str] = []
        for read in reads:
            try:
                read()
            except AlertConfigError as err:
                problems.append(str(err))
        return problems

    @property
    def channels(self) -> tuple[str, ...]:
        every = [*self.default, *(c for cs in self.routes.values() for c in cs)]
        return tuple(dict.fromkeys(every))
