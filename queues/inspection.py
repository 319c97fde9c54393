"""What operators see of the broker: queue depths and consumers, dead letters, and their replay.

On RabbitMQ this uses pika's BlockingConnection, a client independent of the kombu one the
service runs on, so an operator's view does not depend on the code it is checking:
`queue_declare(passive=True)` reads a depth without creating anything, `basic_get` browses
without consuming (what is not acked returns to the queue when the channel closes), and a
replay publishes with publisher confirms before it acks the dead letter, so a replayed
message is never lost between the two queues (messaging_reliability.md §2, §6).
The embedded `memory://` broker offers the same operations through kombu's channel API.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kombu.utils.url import parse_url

from queues.publisher import connection_for
from queues.topology import Topology

# Headers a replay removes: the copy starts its retries afresh and is no longer "dead".
DEAD_HEADERS = ("x-rb-dead-reason", "x-rb-dead-at", "x-rb-attempts", "x-rb-last-error", "x-death",
                "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason")  # fmt: skip


class UnknownQueue(LookupError):
    """No work queue of that name: 404 for operators."""


@dataclass(frozen=True)
class QueueState:
    name: str
    role: str  # work | dead | retry (a former delay queue, still draining)
    messages: int | None  # None when the broker did not answer for this queue
    consumers: int | None


@dataclass(frozen=True)
class DeadLetter:
    queue: str  # the work queue it died in
    message_id: str
    reason: str
    dead_at: str | None
    routing_key: str
    attempts: int
    body: dict[str, Any] = field(repr=False)

    def summary(self) -> dict[str, Any]:
        body = self.body if isinstance(self.body, dict) else {}
        return {
            "queue": self.queue,
            "message_id": self.message_id,
            "reason": self.reason,
            "dead_at": self.dead_at,
            "routing_key": self.routing_key,
            "attempts": self.attempts,
            "case_id": body.get("case_id"),
            "event_type": (body.get("event") or {}).get("type") if isinstance(body.get("event"), dict) else None,
            "action": body.get("action"),
        }


def pika_parameters(broker_url: str) -> Any:
    """kombu's URL reading (`//` is the vhost `/`), turned into pika's parameters."""
    import pika

    parts = parse_url(broker_url)
    return pika.ConnectionParameters(
        host=parts.get("hostname") or "127.0.0.1",
        port=parts.get("port") or 5672,
        virtual_host=parts.get("virtual_host") or "/",
        credentials=pika.PlainCredentials(parts.get("userid") or "guest", parts.get("password") or "guest"),
        connection_attempts=1,
        socket_timeout=5,
        blocked_connection_timeout=10,
    )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _body(raw: Any) -> dict[str, Any]:
    try:
        loaded = json.loads(raw) if isinstance(raw, bytes | str) else raw
    except ValueError:
        return {"raw": _text(raw)[:2000]}
    return loaded if isinstance(loaded, dict) else {"value": loaded}


def _dead_letter(queue: str, message_id: str | None, headers: dict[str, Any], raw: Any, key: str) -> DeadLetter:
    """Our own dead letters carry `x-rb-*` headers; the broker's (delivery limit) carry `x-death`."""
    deaths = headers.get("x-death") or []
    first = deaths[0] if deaths and isinstance(deaths[0], dict) else {}
    reason = headers.get("x-rb-dead-reason") or (f"broker: {_text(first.get('reason'))}" if first else "unknown")
    dead_at = headers.get("x-rb-dead-at") or (str(first.get("time")) if first.get("time") else None)
    return DeadLetter(
        queue=queue,
        message_id=str(message_id or ""),
        reason=_text(reason),
        dead_at=_text(dead_at) if dead_at else None,
        routing_key=_text(headers.get("x-rb-original-routing-key") or key),
        attempts=int(headers.get("x-rb-attempts") or first.get("count") or 0),
        body=_body(raw),
    )


def replay_headers(headers: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in headers.items() if k not in DEAD_HEADERS}
    kept["x-rb-replayed-at"] = datetime.now(UTC).isoformat()
    return kept


class _Inspector:
    """What both brokers share: which queues exist, and when to ask again."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology

    def layout(self) -> list[tuple[str, str]]:
        named: list[tuple[str, str]] = []
        for spec in self.topology.specs.values():
            work = self.topology.queue_name(spec)
            named.append((work, "work"))
            named.append((f"{work}.dead", "dead"))
        return named

    def work_queue(self, name: str) -> str:
        if name not in {self.topology.queue_name(spec) for spec in self.topology.specs.values()}:
            raise UnknownQueue(name)
        return name


class PikaInspector(_Inspector):
    """RabbitMQ through pika: one short-lived BlockingConnection per operation (operators are rare callers)."""

    def __init__(self, broker_url: str, topology: Topology) -> None:
        super().__init__(topology)
        self.broker_url = broker_url

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        import pika

        connection = pika.BlockingConnection(pika_parameters(self.broker_url))
        try:
            yield connection
        finally:
            with contextlib.suppress(Exception):
                connection.close()

    def queues(self) -> list[QueueState]:
        import pika.exceptions

        states: list[QueueState] = []
        with self._connection() as connection:
            channel = connection.channel()
            for name, role in self.layout():
                try:
                    ok = channel.queue_declare(name, passive=True).method
                    states.append(QueueState(name, role, ok.message_count, ok.consumer_count))
                except pika.exceptions.ChannelClosedByBroker:  # 404: not declared yet
                    states.append(QueueState(name, role, None, None))
                    channel = connection.channel()
            for spec in self.topology.specs.values():
                for name in self.topology.former_retry_queue_names(spec):  # no longer declared; shown while they exist
                    try:
                        ok = channel.queue_declare(name, passive=True).method
                        states.append(QueueState(name, "retry", ok.message_count, ok.consumer_count))
                    except pika.exceptions.ChannelClosedByBroker:
                        channel = connection.channel()
        return states

    def dead_letters(self, work_queue: str, limit: int = 100) -> list[DeadLetter]:
        dead = f"{self.work_queue(work_queue)}.dead"
        found: list[DeadLetter] = []
        with self._connection() as connection:
            channel = connection.channel()
            depth = channel.queue_declare(dead, passive=True).method.message_count
            for _ in range(min(depth, limit)):
                method, properties, body = channel.basic_get(dead, auto_ack=False)
                if method is None:
                    break
                found.append(_dead_letter(work_queue, properties.message_id, dict(properties.headers or {}), body,
                                          method.routing_key))  # fmt: skip
            channel.close()  # everything browsed goes back to the dead-letter queue, unacked
        return found

    def replay(self, work_queue: str, message_id: str | None = None) -> list[str]:
        import pika

        dead = f"{self.work_queue(work_queue)}.dead"
        replayed: list[str] = []
        with self._connection() as connection:
            channel = connection.channel()
            channel.confirm_delivery()
            depth = channel.queue_declare(dead, passive=True).method.message_count
            for _ in range(depth):
                method, properties, body = channel.basic_get(dead, auto_ack=False)
                if method is None:
                    break
                if message_id is not None and properties.message_id != message_id:
                    continue  # left unacked: it returns to the dead letters when the channel closes
                copy = pika.BasicProperties(
                    content_type=properties.content_type or "application/json",
                    content_encoding=properties.content_encoding,
                    delivery_mode=2,
                    message_id=properties.message_id,
                    correlation_id=properties.correlation_id,
                    headers=replay_headers(dict(properties.headers or {})),
                )
                channel.basic_publish("", work_queue, body, copy, mandatory=True)  # raises unless confirmed
                channel.basic_ack(method.delivery_tag)
                replayed.append(str(properties.message_id or ""))
                if message_id is not None:
                    break
            channel.close()
        return replayed


class KombuInspector(_Inspector):
    """The embedded `memory://` broker, which lives in this process: the same view through kombu."""

    def __init__(self, broker_url: str, topology: Topology) -> None:
        super().__init__(topology)
        self.broker_url = broker_url
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _channel(self) -> Iterator[Any]:
        with self._lock, connection_for(self.broker_url) as connection:
            channel = connection.channel()
            try:
                yield channel
            finally:
                channel.close()

    def queues(self) -> list[QueueState]:
        states = []
        with self._channel() as channel:
            for name, role in self.layout():
                try:
                    ok = channel.queue_declare(name, passive=True)
                    states.append(QueueState(name, role, ok.message_count, ok.consumer_count))
                except Exception:  # the in-process broker creates queues lazily: not there yet
                    states.append(QueueState(name, role, None, None))
        return states

    def _browse(self, dead: str, target: Callable[[Any], str | None]) -> list[Any]:
        """Take every dead letter and put each where `target` says: its work queue, or back in `dead`.

        The in-process broker drops unacked messages when a channel closes (`do_restore` is off),
        so nothing is left unacked here: each message is re-published, then acked, in order.
        """
        from kombu import Producer

        moved = []
        with self._channel() as channel:
            try:
                depth = channel.queue_declare(dead, passive=True).message_count
            except Exception:
                return []
            producer = Producer(channel)
            for _ in range(depth):
                message = channel.basic_get(dead, no_ack=False)
                if message is None:
                    break
                queue = target(message)
                headers = dict(message.headers or {})
                producer.publish(
                    message.body, exchange="", routing_key=queue or dead, content_type=message.content_type,
                    content_encoding=message.content_encoding, message_id=message.properties.get("message_id"),
                    correlation_id=message.properties.get("correlation_id"),
                    headers=replay_headers(headers) if queue else headers, delivery_mode=2,
                )  # fmt: skip
                message.ack()
                if queue:
                    moved.append(message)
        return moved

    def dead_letters(self, work_queue: str, limit: int = 100) -> list[DeadLetter]:
        dead = f"{self.work_queue(work_queue)}.dead"
        seen: list[Any] = []

        def keep(message: Any) -> None:
            seen.append(message)  # browsing only: every message goes back where it was

        self._browse(dead, keep)
        return [self._letter(work_queue, m) for m in seen[:limit]]

    @staticmethod
    def _letter(work_queue: str, m: Any) -> DeadLetter:
        key = (m.delivery_info or {}).get("routing_key", "")
        return _dead_letter(work_queue, m.properties.get("message_id"), dict(m.headers or {}), m.body, key)

    def replay(self, work_queue: str, message_id: str | None = None) -> list[str]:
        dead = f"{self.work_queue(work_queue)}.dead"
        state = {"done": False}

        def target(message: Any) -> str | None:
            if state["done"] or (message_id is not None and message.properties.get("message_id") != message_id):
                return None
            state["done"] = message_id is not None
            return work_queue

        moved = self._browse(dead, target)
        return [str(m.properties.get("message_id") or "") for m in moved]


def inspector_for(broker_url: str, topology: Topology) -> PikaInspector | KombuInspector:
    """The ops console's broker port (service.operations.BrokerInspector) for this broker."""
    if broker_url.startswith("memory"):
        return KombuInspector(broker_url, topology)
    return PikaInspector(broker_url, topology)
