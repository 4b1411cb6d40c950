"""What the outbox and the channels' senders agree on: the :class:`Alert` a sender is given, the
:class:`DeliveryError` it raises, the :class:`Sender` protocol and the :data:`SenderFactory` that
makes one (the table of them by channel kind is :mod:`monitor.alerts.channels`). Tests and other
deliveries may pass their own factory to :meth:`monitor.alerts.outbox.Outbox.deliver`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from monitor.alerts.settings import AlertRouting

if TYPE_CHECKING:
    from monitor.alerts.ping import Ping

__all__ = [
    "Alert",
    "DeliveryError",
    "Sender",
    "SenderFactory",
    "Tester",
    "accepted_before_stop",
    "note_accepted_before_stop",
]

# The attribute a stop (KeyboardInterrupt) carries when the channel had accepted the alerts of
# the send it interrupted: the outbox marks them sent before the stop goes on.
_ACCEPTED = "landslide_monitor_accepted"


def note_accepted_before_stop(stop: BaseException) -> None:
    """Say on ``stop`` that the channel accepted what was being sent when it came."""
    setattr(stop, _ACCEPTED, True)


def accepted_before_stop(stop: BaseException) -> bool:
    """Whether :func:`note_accepted_before_stop` was said of ``stop``."""
    return bool(getattr(stop, _ACCEPTED, False))


@dataclass(frozen=True)
class Alert:
    """One outbox row, as a sender sees it."""

    id: int
    idempotency_key: str
    channel: str
    event: str
    region: str
    landslide_uid: str
    payload: dict[str, Any]
    quicklook: Path | None
    attempts: int


class DeliveryError(RuntimeError):
    """A failed send. ``permanent`` errors (a 4xx answer, a refused recipient) are not retried;
    ``retry_after_s`` (a server's ``Retry-After``) is a lower bound of the backoff, up to the
    policy's ``max_delay_s``. ``maybe_delivered`` is False where the alerts cannot have reached
    the receiver (no connection was made, no login, no sender): a review notice then need not
    withdraw them; True, the default, where they may have (a timeout after the request went, a
    5xx, a dropped connection): the receiver may have processed them."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after_s: float | None = None,
        maybe_delivered: bool = True,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        self.maybe_delivered = maybe_delivered


class Sender(Protocol):
    """Delivers alerts to one channel, at most ``batch_size`` alerts per :meth:`send` call
    (an e-mail digest carries several; a webhook POST one)."""

    batch_size: int

    def send(self, alerts: Sequence[Alert]) -> None: ...


@runtime_checkable
class Tester(Protocol):
    """A sender that can also send ``alerts test``'s message (:mod:`monitor.alerts.ping`): once,
    raising :class:`DeliveryError` where the channel does not take it."""

    def send_test(self, ping: Ping) -> None: ...


SenderFactory = Callable[[str, AlertRouting], Sender]
"""``factory(channel, routing)``: the sender of ``channel``, reached with the routing's settings
(the SMTP server, the webhooks); raises (e.g. :class:`DeliveryError`) when it cannot be made."""
