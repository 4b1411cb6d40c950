"""Alerts for new and grown landslides: settings, the persisted outbox, e-mail and webhooks.

The modules, in the order an alert moves: :mod:`.settings` (what the configuration says, and the
routing of each region's alerts to channels), :mod:`.payload` (the published JSON payload),
:mod:`.outbox` (the table the inventory queues alerts in, and their delivery), :mod:`.senders`
(what the outbox and a channel's sender agree on), :mod:`.channels` (the table of the channel
kinds and their senders' factories), :mod:`.email` and
:mod:`.webhook` (the senders), :mod:`.quicklook` (the picture an alert carries).

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
