"""What every notifier shares: the message to deliver, the outcome classes, and the registry.

A notifier turns one rendered notice into one message on one channel (email,
an SMS/chat provider's webhook). Building the message is pure; `send` is the one
function that does I/O. The service layer (service/notice_delivery.py) decides
whether to send at all, so each notice goes out once per channel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from adapters.notifiers.render import Rendered
from adapters.registry import Registry
from config.settings import Settings
from core.events import Buyer


class TransientNotifyError(Exception):
    """Worth retrying: the message did not go out (server busy, 4xx SMTP reply, timeout before sending).

    `maybe_delivered` is true when the message may have reached the other side before the
    answer was lost; retrying then risks a second message, so the delivery is left for a person.
    """

    def __init__(self, message: str, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered


class PermanentNotifyError(Exception):
    """Retrying cannot help: the address or the request was refused (5xx SMTP reply, HTTP 4xx)."""


@dataclass(frozen=True)
class Outgoing:
    """One notice for one buyer on one channel; `idempotency_key` names it everywhere (Message-ID, webhook-id)."""

    case_id: str
    kind: str
    channel: str
    idempotency_key: str
    recipient: str
    notice: Rendered
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sent:
    """What the other side answered, kept on the delivery record."""

    detail: dict[str, Any]


class Notifier(Protocol):
    name: str

    def configured(self, settings: Settings) -> bool:
        """True when the RB_* settings this channel needs are all set; otherwise notices are recorded, not sent."""
        ...

    def recipient(self, buyer: Buyer | None) -> str | None:
        """Where this channel reaches the buyer; None when the order does not say."""
        ...

    def describe(self, outgoing: Outgoing, settings: Settings) -> dict[str, Any]:
        """The message as it is (or would be) sent, for the case record: never credentials."""
        ...

    def send(self, outgoing: Outgoing, settings: Settings) -> Sent:
        """Deliver once; raises TransientNotifyError or PermanentNotifyError."""
        ...


NOTIFIERS: Registry[Notifier] = Registry("notifier", "adapters.notifiers")
