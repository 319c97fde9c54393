"""The confirmed publisher: a message counts as sent only when the broker has confirmed it.

Publisher confirms (`confirm_select`) make the broker ack each message; a batch is published
and then its acks are awaited together (`publish_batch`), so the outbox row is marked sent
only after RabbitMQ took responsibility (messaging_reliability.md §2) without a round trip
per message.
`mandatory` makes an unroutable message come back instead of vanishing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from amqp import spec
from kombu import Connection, Exchange, Producer

from adapters.messages import SCHEMA_VERSION, OutgoingMessage
from queues.topology import Topology

log = logging.getLogger(__name__)


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
        self._published = 0  # messages published on this channel since confirm mode began (their delivery tags)
        self._confirmed = 0  # every tag up to this one is acked or nacked
        self._nacked: set[int] = set()
        self._pending_singles: set[int] = set()  # tags acked alone, ahead of an unconfirmed one

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
            self._published = self._confirmed = 0
            self._nacked, self._pending_singles = set(), set()
        return self._producer

    def _on_confirm(self, nacked: bool) -> Any:
        def settle(delivery_tag: int, multiple: bool) -> None:
            first = self._confirmed + 1 if multiple else delivery_tag
            if nacked:
                self._nacked.update(range(first, delivery_tag + 1))
            if multiple or delivery_tag == self._confirmed + 1:
                self._confirmed = max(self._confirmed, delivery_tag)
            else:  # acked alone ahead of an earlier tag: counted once the tags before it are
                self._pending_singles.add(delivery_tag)
            while self._confirmed + 1 in self._pending_singles:
                self._pending_singles.discard(self._confirmed + 1)
                self._confirmed += 1

        return settle

    def _pipelined_channel(self) -> Any:
        """The producer's channel in confirm mode, with our ack/nack listeners (once per channel)."""
        channel = self._ensure().channel
        if not getattr(channel, "_rb_confirm_listeners", False):
            if not channel._confirm_selected:
                channel._confirm_selected = True
                channel.confirm_select()
            channel.events["basic_ack"].add(self._on_confirm(nacked=False))
            channel.events["basic_nack"].add(self._on_confirm(nacked=True))
            channel._rb_confirm_listeners = True
        return channel

    def publish_batch(self, messages: Sequence[OutgoingMessage]) -> int:
        """Publish all, then wait for their confirms together: how many, from the first, the broker took.

        One confirm round trip for the batch instead of one per message (messaging_reliability.md §2:
        a message counts as sent only once confirmed). The broker confirms in any grouping; a nack
        or a returned (unroutable) message ends the prefix at that message, and the relay retries the
        rest. On the in-process broker it is `publish` one by one.
        """
        if not self.broker_url.startswith(("amqp", "pyamqp")):
            for done, message in enumerate(messages):
                try:
                    self.publish(message)
                except PublishFailed:
                    if done == 0:
                        raise
                    return done
            return len(messages)
        with self._lock:
            try:
                channel = self._pipelined_channel()
                first = self._published + 1
                for message in messages:
                    channel._basic_publish(
                        channel.prepare_message(
                            json.dumps(message.body),
                            content_type="application/json",
                            content_encoding="utf-8",
                            headers={"x-rb-schema": SCHEMA_VERSION, **message.headers},
                            properties={
                                "delivery_mode": 2,
                                "message_id": message.message_id,
                                **({"correlation_id": message.correlation_id} if message.correlation_id else {}),
                            },
                        ),
                        exchange=message.exchange,
                        routing_key=message.routing_key,
                        mandatory=True,
                        timeout=self.confirm_timeout,
                    )
                    self._published += 1
                deadline = time.monotonic() + self.confirm_timeout
                while self._confirmed < self._published:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"{self._published - self._confirmed} publisher confirms outstanding")
                    channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=left)
            except Exception as exc:
                self.close()
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc
            for offset, message in enumerate(messages):
                tag = first + offset
                if tag in self._nacked or message.message_id in self._returned:
                    self._nacked.discard(tag)
                    self._returned.discard(message.message_id)
                    if offset == 0:
                        raise PublishFailed(f"the broker refused {message.message_id} ({message.exchange}/"
                                            f"{message.routing_key}): nacked or unroutable")  # fmt: skip
                    return offset
            return len(messages)

    def publish(self, message: OutgoingMessage) -> None:
        if self.broker_url.startswith(("amqp", "pyamqp")):
            self.publish_batch([message])
            return
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
                    mandatory=False,
                    timeout=self.confirm_timeout,
                )
            except Exception as exc:
                self.close()
                raise PublishFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                log.debug("closing a broken broker connection failed", exc_info=True)
        self._connection = None
        self._producer = None
