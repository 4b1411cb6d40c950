"""Alerts for new and grown landslides: settings, the persisted outbox, e-mail and webhooks.

See docs/alerts.md for the operator's view (channels, headers, signature, retries, schema)."""

from monitor.alerts.outbox import Alert, DeliveryError, DeliveryReport, Outbox
from monitor.alerts.settings import (
    AlertConfigError,
    AlertRouting,
    AlertSettings,
    AlertTargets,
    RetryPolicy,
    SmtpSettings,
    WebhookSettings,
)

__all__ = [
    "Alert",
    "AlertConfigError",
    "AlertRouting",
    "AlertSettings",
    "AlertTargets",
    "DeliveryError",
    "DeliveryReport",
    "Outbox",
    "RetryPolicy",
    "SmtpSettings",
    "WebhookSettings",
]
