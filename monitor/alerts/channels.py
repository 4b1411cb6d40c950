"""The kinds of channel and how each is reached (:data:`CHANNEL_SENDERS`): ``email:<address>``
through the SMTP server of the routing (:mod:`monitor.alerts.email`), ``webhook:<name>`` through
the webhook of that name (:mod:`monitor.alerts.webhook`); :func:`sender_for` picks from it.

The senders' modules (``smtplib``, ``requests``) load when a channel of theirs is first sent to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.alerts.senders import DeliveryError, Sender, SenderFactory, Tester
from monitor.alerts.settings import AlertRouting

if TYPE_CHECKING:
    from monitor.alerts.ping import Ping

__all__ = ["CHANNEL_SENDERS", "email_sender", "send_test", "sender_for", "webhook_sender"]


def _removed(channel: str, what: str) -> DeliveryError:
    """A channel the configuration no longer names: its alerts are not sent (dead at once)."""
    return DeliveryError(
        f"channel {channel}: {what} is no longer in the configuration's alerts, so its alerts "
        "are not sent; add it back and `landslide-monitor alerts retry --dead` re-queues them",
        permanent=True,
    )


def email_sender(channel: str, routing: AlertRouting) -> Sender:
    """The SMTP sender of ``email:<address>``, a recipient the routing still names."""
    from monitor.alerts.email import EmailSender

    address = channel.partition(":")[2]
    if channel not in routing.channels:  # before smtp: removing alerts.smtp removes them all
        raise _removed(channel, f"recipient {address}")
    if routing.smtp is None:
        raise DeliveryError(f"channel {channel}: no smtp server is configured")
    return EmailSender(
        routing.smtp,
        address,
        batch_size=routing.smtp.max_per_message,
        quicklooks=routing.quicklooks,
    )


def webhook_sender(channel: str, routing: AlertRouting) -> Sender:
    """The HTTP sender of ``webhook:<name>``."""
    from monitor.alerts.webhook import WebhookSender

    target = channel.partition(":")[2]
    hook = routing.webhooks.get(target)
    if hook is None:
        raise _removed(channel, f"webhook {target!r}")
    return WebhookSender(hook)


CHANNEL_SENDERS: dict[str, SenderFactory] = {"email": email_sender, "webhook": webhook_sender}


def sender_for(channel: str, routing: AlertRouting) -> Sender:
    """The sender of ``channel`` from the factory of its kind in :data:`CHANNEL_SENDERS`."""
    kind, _, _ = channel.partition(":")
    factory = CHANNEL_SENDERS.get(kind)
    if factory is None:
        raise DeliveryError(f"channel {channel}: unknown channel kind {kind!r}")
    return factory(channel, routing)


def send_test(ping: Ping, routing: AlertRouting) -> None:
    """Send ``ping`` through the sender of its channel (``alerts test``); a
    :class:`DeliveryError` (or :class:`~monitor.alerts.settings.AlertConfigError`, a secret
    unset) where it does not go."""
    sender = sender_for(ping.channel, routing)
    if not isinstance(sender, Tester):
        raise DeliveryError(f"channel {ping.channel}: its sender sends no test message")
    sender.send_test(ping)
