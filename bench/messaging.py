"""Messaging: raw kombu publish-with-confirms plus consume on RabbitMQ, what the broker alone takes.

It publishes the same envelope size as the service, one message at a time with
publisher confirms, into a quorum queue declared by the service's own topology, while a
consumer with the same prefetch acks each one. End to end is bench/pipeline.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

from kombu import Connection, Consumer, Exchange, Producer

from bench.common import (
    BROKER_URL,
    delete_topology,
    fresh_event,
)


@dataclass
class Throughput:
    count: int
    seconds: float
    reached: int

    @property
    def per_second(self) -> float:
        return self.reached / self.seconds if self.seconds else 0.0


def broker_floor(count: int, prefetch: int = 20) -> Throughput:
    from queues.publisher import connection_for
    from queues.topology import QueueSpec, Topology

    prefix = f"bench{uuid.uuid4().hex[:8]}"
    topology = Topology(prefix)
    spec = QueueSpec("cases", "events", ("#",))
    topology.add(spec)
    body = json.dumps({"event_id": "evt_" + "0" * 32, "case_id": "case_" + "0" * 32, "marketplace": "generic",
                       "received_at": "2026-01-01T00:00:00+00:00", "event": fresh_event(0, "floor")})  # fmt: skip
    received = threading.Event()
    consumed = 0

    def on_message(_body: object, message: object) -> None:
        nonlocal consumed
        message.ack()  # type: ignore[attr-defined]
        consumed += 1
        if consumed >= count:
            received.set()

    try:
        with connection_for(BROKER_URL) as publishing, Connection(BROKER_URL) as consuming:
            publishing.ensure_connection(max_retries=1)
            topology.declare(publishing)
            producer = Producer(publishing.default_channel)
            exchange = Exchange(topology.events.name)
            channel = consuming.channel()
            consumer = Consumer(channel, queues=[topology.work_queue(spec)], callbacks=[on_message],
                                accept=["json", "application/json"], prefetch_count=prefetch)  # fmt: skip

            def drain() -> None:
                with consumer:
                    while not received.is_set():
                        try:
                            consuming.drain_events(timeout=0.5)
                        except TimeoutError:
                            continue

            thread = threading.Thread(target=drain, daemon=True)
            thread.start()
            started = time.perf_counter()
            for n in range(count):
                producer.publish(body, exchange=exchange, routing_key="return.requested.generic",
                                 content_type="application/json", content_encoding="utf-8",
                                 message_id=f"msg_{n}", delivery_mode=2, mandatory=True, timeout=5)  # fmt: skip
            received.wait(120)
            elapsed = time.perf_counter() - started
            thread.join(5)
        return Throughput(count, elapsed, consumed)
    finally:
        delete_topology(prefix)
