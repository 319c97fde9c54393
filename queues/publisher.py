"""The confirmed publisher: a message counts as sent only when the broker has confirmed it.

kombu/py-amqp publisher confirms are off by default; `confirm_publish` turns them on and
each publish waits for the broker's ack (a nack raises, a timeout raises), so the outbox
row is marked sent only after RabbitMQ took responsibility (messaging_reliability.md §2).
`mandatory` makes an unroutable message come back instead of vanishing.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from kombu import Connection, Exchange, Producer

from adapters.messages import OutgoingMessage
from queues.topology import Topology

log = logging.getLogger(__name__)
SCHEMA_VERSION = "1"


class PublishFailed(Exception):
    """The broker did not take the message: unreachable, nacked, timed out or unroutable."""


def connection_for(broker_url: str, confirm_timeout: float = 5.0, heartbeat: int = 30) -> Connection:
    options: dict[str, Any] = {}
    if broker_url.startswith(("amqp", "pyamqp")):
        options = {"confirm_publish": True, "max_retries": 1, "interval_start": 0, "interval_step": 1}
        return Connection(broker_url, transport_options=options, heartbeat=heartbeat, connect_timeout=confirm_timeout)
    # The in-process broker polls its queues; a short interval keeps the embedded default snappy.
    if broker_url.rstrip("/") == "memory:":
        broker_url = "memory://localhost//"  # the same broker, without kombu's "no hostname" warning
    return Connection(broker_url, transport_options={"polling_interval": 0.02})


class ConfirmedPublisher:
    """One connection and channel, used by one thread at a time (py-amqp channels are not thread-safe)."""

    def __init__(self, broker_url: str, topology: Topology, confirm_timeout: float = 5.0) -> None:
        self.broker_url = broker_url
        self.topology = topology
        self.confirm_timeout = confirm_timeout
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: set[str] = set()
        self._lock = threading.Lock()

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        message_id = (message.properties or {}).get("message_id") if hasattr(message, "properties") else None
        self._returned.add(str(message_id))
        log.error("unroutable message %s to %s/%s", message_id, exchange, routing_key)

    def _ensure(self) -> Producer:
        if self._producer is None:
            connection = connection_for(self.broker_url, self.confirm_timeout)
            connection.ensure_connection(max_retries=1, timeout=self.confirm_timeout)
            self.topology.declare(connection)
            self._connection = connection
            self._producer = Producer(connection.default_channel, on_return=self._on_return)
        return self._producer

    def publish(self, message: OutgoingMessage) -> None:
        with self._lock:
            try:
                producer = self._ensure()
                producer.publish(
                    json.dumps(message.body),
                    exchange=Exchange(message.exchange) if message.exchange else "",
                    routing_key=message.routing_key,
                    content_type="application/json",
                    content_encoding="utf-8",
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers={"x-rb-schema": SCHEMA_VERSION, **message.headers},
                    delivery_mode=2,
                    mandatory=not self.broker_url.startswith("memory"),
                    confirm_timeout=self.confirm_timeout,
                    timeout=self.confirm_timeout,
                )
            except Exception as exc:
                self.close()
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
            if message.message_id in self._returned:
                self._returned.discard(message.message_id)
                raise PublishFailed(f"unroutable: no queue is bound to {message.exchange}/{message.routing_key}")

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                log.debug("closing a broken broker connection failed", exc_info=True)
        self._connection = None
        self._producer = None
