"""Exchanges and queues: durable quorum work and dead-letter queues, classic delay queues.

RabbitMQ 3.10 (Debian's) supports everything used here: quorum queues, `x-delivery-limit`,
and `x-dead-letter-strategy: at-least-once`, which needs `x-overflow: reject-publish`
(messaging_reliability.md §1.1). Quorum queues never take global QoS, so consumers set
per-consumer prefetch. The in-process `memory://` transport ignores queue arguments; there,
durability comes from the database outbox and inbox.

Delay queues are durable *classic* queues: on RabbitMQ 3.x a quorum queue with `x-message-ttl`
and at-least-once dead-lettering can keep a message past its TTL after a restart or a leader
change (rabbitmq-server #10718), and a deferred event then never comes back. A classic queue
expires its head reliably, before and after a restart (its messages are persistent). Their names
carry a version (`DELAY_QUEUES`): redeclaring a queue with another `x-queue-type` fails with
PRECONDITION_FAILED, so the classic ones are new queues beside the old quorum ones, which still
dead-letter what they hold back to the work queue and can be deleted once empty.

Layout (prefix `returns` by default):
- `returns.events`   topic, key `<event type>.<marketplace>`   -> queue `returns.cases`
- `returns.commands` topic, key `<kind>.<adapter>.<action>`    -> one queue per adapter
- `returns.dlx`      topic, key `<queue name>`                 -> `<queue>.dead` per work queue
- `<queue>.retry.<n>s.v2` delay queues: messages wait n seconds, then dead-letter back to `<queue>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue, binding

DELAY_QUEUES = "v2"  # classic delay queues; v1 (no suffix) were quorum queues, see the module docstring


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

    def retry_queue(self, spec: QueueSpec, delay_seconds: int) -> Queue:
        """Messages published here by name wait `delay_seconds`, then return to the work queue.

        A classic queue (see the module docstring): all its messages have the same TTL, so the one
        at the head is always the next to expire, and expiry survives a broker restart."""
        return Queue(
            self.retry_queue_name(spec, delay_seconds),
            durable=True,
            queue_arguments={
                "x-queue-type": "classic",
                "x-message-ttl": delay_seconds * 1000,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue_name(spec),
            },
        )

    def retry_queue_name(self, spec: QueueSpec, delay_seconds: int) -> str:
        return f"{self.queue_name(spec)}.retry.{delay_seconds}s.{DELAY_QUEUES}"

    def former_retry_queue_names(self, spec: QueueSpec) -> list[str]:
        """The quorum delay queues of deployments before `DELAY_QUEUES`: drained, then deleted by an operator."""
        return [f"{self.queue_name(spec)}.retry.{delay}s" for delay in dict.fromkeys(self.retry_delays)]

    def queues_of(self, spec: QueueSpec) -> list[Queue]:
        """A work queue with its dead-letter queue and its delay queues."""
        return [
            self.work_queue(spec),
            self.dead_letter_queue(spec),
            *(self.retry_queue(spec, delay) for delay in self.retry_delays),
        ]

    def all_queues(self) -> list[Queue]:
        return [queue for spec in self.specs.values() for queue in self.queues_of(spec)]

    def declare(self, connection: object, spec: QueueSpec | None = None) -> None:
        """Declare the exchanges and every queue (or one spec's); idempotent, run at every (re)connect."""
        channel = connection.default_channel  # type: ignore[attr-defined]
        self.declare_on(channel, spec)

    def declare_on(self, channel: object, spec: QueueSpec | None = None) -> None:
        for exchange in (self.events, self.commands, self.dlx):
            exchange(channel).declare()
        for queue in self.queues_of(spec) if spec else self.all_queues():
            queue(channel).declare()
