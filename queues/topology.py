"""Exchanges and queues: durable quorum work and dead-letter queues; no delay queues.

RabbitMQ 3.10 (Debian's) supports everything used here: quorum queues, `x-delivery-limit`,
and `x-dead-letter-strategy: at-least-once`, which needs `x-overflow: reject-publish`
(messaging_reliability.md §1.1). Quorum queues never take global QoS, so consumers set
per-consumer prefetch. The in-process `memory://` transport ignores queue arguments; there,
durability comes from the database outbox and inbox.

A deferred or failed delivery waits in the database (the retry schedule,
adapters/storage/retry_schedule.py), not in a broker delay queue: TTL dead-lettering lost or
stranded messages around broker restarts (quorum delay queues on 3.x kept messages past their
TTL, rabbitmq-server #10718; classic dead-lettering is at most once and drops a message that
expires while the quorum work queue has no leader). Earlier deployments left delay queues
behind, `<queue>.retry.<n>s` (quorum) and `<queue>.retry.<n>s.v2` (classic): they are no
longer declared, still dead-letter what they hold back to the work queue, and are listed
(`former_retry_queue_names`) until an operator deletes them once empty.

Layout (prefix `returns` by default):
- `returns.events`   topic, key `<event type>.<marketplace>`   -> queue `returns.cases`
- `returns.commands` topic, key `<kind>.<adapter>.<action>`    -> one queue per adapter
- `returns.dlx`      topic, key `<queue name>`                 -> `<queue>.dead` per work queue
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kombu import Exchange, Queue, binding

if TYPE_CHECKING:
    from kombu import Connection
    from kombu.transport.virtual import Channel  # kombu's declared channel type (py-amqp's channel at run time)

# Suffixes of the delay queues of earlier deployments: quorum (none), then classic (`.v2`).
FORMER_DELAY_QUEUES = ("", ".v2")


@dataclass(frozen=True)
class QueueSpec:
    """A work queue and what it is bound to; `name` is unprefixed (e.g. `cases`, `carrier.dhl_express`)."""

    name: str
    exchange: str  # "events" or "commands"
    bindings: tuple[str, ...]


class Topology:
    def __init__(
        self,
        prefix: str = "returns",
        delivery_limit: int = 5,
        retry_delays: tuple[int, ...] = (2, 10, 60),
    ) -> None:
        self.prefix = prefix
        self.delivery_limit = delivery_limit
        self.retry_delays = retry_delays
        self.events = Exchange(f"{prefix}.events", type="topic", durable=True)
        self.commands = Exchange(f"{prefix}.commands", type="topic", durable=True)
        self.dlx = Exchange(f"{prefix}.dlx", type="topic", durable=True)
        self.specs: dict[str, QueueSpec] = {}

    def exchange(self, short_name: str) -> Exchange:
        return {"events": self.events, "commands": self.commands, "dlx": self.dlx}[short_name]

    def add(self, spec: QueueSpec) -> None:
        self.specs[spec.name] = spec

    def queue_name(self, spec: QueueSpec) -> str:
        return f"{self.prefix}.{spec.name}"

    def _quorum(self, **extra: object) -> dict[str, object]:
        return {"x-queue-type": "quorum", **extra}

    def work_queue(self, spec: QueueSpec) -> Queue:
        name = self.queue_name(spec)
        exchange = self.exchange(spec.exchange)
        arguments = self._quorum(
            **{
                "x-delivery-limit": self.delivery_limit,
                "x-dead-letter-exchange": self.dlx.name,
                "x-dead-letter-routing-key": name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }
        )

        return Queue(
            name,
            bindings=[binding(exchange, routing_key=key) for key in spec.bindings],
            durable=True,
            queue_arguments=arguments,
        )

    def dead_letter_queue(self, spec: QueueSpec) -> Queue:
        name = self.queue_name(spec)
        return Queue(f"{name}.dead", exchange=self.dlx, routing_key=name, durable=True, queue_arguments=self._quorum())

    def former_retry_queue_names(self, spec: QueueSpec) -> list[str]:
        """The delay queues of earlier deployments (module docstring): drained, then deleted by an operator."""
        delays = dict.fromkeys(self.retry_delays)
        return [f"{self.queue_name(spec)}.retry.{d}s{suffix}" for suffix in FORMER_DELAY_QUEUES for d in delays]

    def queues_of(self, spec: QueueSpec) -> list[Queue]:
        """A work queue with its dead-letter queue."""
        return [self.work_queue(spec), self.dead_letter_queue(spec)]

    def all_queues(self) -> list[Queue]:
        return [queue for spec in self.specs.values() for queue in self.queues_of(spec)]

    def declare(self, connection: Connection, spec: QueueSpec | None = None) -> None:
        """Declare the exchanges and every queue (or one spec's); idempotent, run at every (re)connect."""
        channel = connection.default_channel
        self.declare_on(channel, spec)

    def declare_on(self, channel: Channel, spec: QueueSpec | None = None) -> None:
        for exchange in (self.events, self.commands, self.dlx):
            exchange(channel).declare()
        for queue in self.queues_of(spec) if spec else self.all_queues():
            queue(channel).declare()
