"""The broker's message vocabulary: what a handler receives, what it may answer, what goes into the outbox.

Plain values with no broker code, so the storage adapter (the outbox), the service layer's
handlers and the queues package (publisher, consumers, relay) share them without importing
each other: queues/ knows RabbitMQ, adapters/ and service/ never import it (README
"Architecture", the import contract in pyproject.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# `x-rb-schema` on every message we publish: the shape of our envelopes and of the canonical event's dump in them.
# A consumer trusts (decodes without validating) only the versions it knows; change this with that shape.
SCHEMA_VERSION = "1"


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    exchange: str  # full exchange name; "" for the default exchange (publish to a queue by name)
    routing_key: str
    body: dict[str, Any]
    correlation_id: str | None = None
    headers: dict[str, Any] = field(default_factory=dict)


class Reject(Exception):
    """A message that can never succeed (malformed, refers to nothing): dead-letter it now."""


class Defer(Exception):
    """Not yet: a message this one depends on is not handled yet (an earlier event of the same case).

    Competing relays and redeliveries after a crash do not keep order, so a handler that needs
    order defers: the message waits in the first delay queue and comes back, without counting
    as a failed attempt, up to `max_deferrals` times; after that it is retried as a failure.
    """


@dataclass(frozen=True)
class IncomingMessage:
    message_id: str
    body: dict[str, Any]
    routing_key: str
    headers: dict[str, Any] = field(default_factory=dict)
    redelivered: bool = False

    @property
    def attempts(self) -> int:
        return int(self.headers.get("x-rb-attempts", 0))

    @property
    def deferrals(self) -> int:
        return int(self.headers.get("x-rb-deferrals", 0))
