"""Messaging: raw kombu publish-with-confirms plus consume on RabbitMQ (the floor) against end-to-end events.

The floor publishes the same envelope size as the service, one message at a time with
publisher confirms (as the relay does) into a quorum queue declared by the service's
own topology, while a consumer with the same prefetch acks each one. End to end posts
signed events to gunicorn (`make web`) and counts cases reaching `requested` after a
separate `flask worker` process (`make worker`) applied them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kombu import Connection, Consumer, Exchange, Producer
from sqlalchemy import create_engine, func, select

from bench.common import (
    BROKER_URL,
    base_env,
    delete_topology,
    flask_cmd,
    free_port,
    fresh_event,
    gunicorn_cmd,
    postgres_database,
    signed_post,
    start_process,
)
from bench.load import closed_loop


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


def end_to_end(count: int, logs: Path, threads: int = 8) -> Throughput:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:8]
    with postgres_database("e2e") as database_url:
        port = free_port()
        env = base_env(
            RB_PORT=str(port), RB_DATABASE_URL=database_url, RB_BROKER_URL=BROKER_URL, RB_TOPOLOGY_PREFIX=prefix
        )
        start_process("migrate", flask_cmd("migrate"), env, None, logs / "e2e-migrate.log").process.wait(120)
        web = start_process("gunicorn", gunicorn_cmd(), env, port, logs / "e2e-gunicorn.log")
        worker = start_process("worker", flask_cmd("worker"), env, None, logs / "e2e-worker.log")
        engine = create_engine(database_url)
        from adapters.storage.models import CaseRow

        def requested() -> int:
            """Cases whose request the worker applied (a timer may already have moved one further)."""
            with engine.connect() as connection:
                return connection.scalar(select(func.count()).where(CaseRow.state != "new")) or 0

        try:
            posts = [signed_post(fresh_event(n, run)) for n in range(count)]
            warm = [signed_post(fresh_event(n, run + "w")) for n in range(20)]
            closed_loop(port, lambda n: ("POST", "/webhooks/generic", *warm[n]), 2, 10, 20)
            deadline = time.monotonic() + 60
            while requested() < 20 and time.monotonic() < deadline:
                time.sleep(0.1)
            started = time.perf_counter()
            closed_loop(port, lambda n: ("POST", "/webhooks/generic", *posts[n]), threads, 300, count)
            deadline = time.monotonic() + 120
            reached = requested() - 20
            while reached < count and time.monotonic() < deadline:
                time.sleep(0.1)
                reached = requested() - 20
            elapsed = time.perf_counter() - started
            return Throughput(count, elapsed, reached)
        finally:
            web.stop()
            worker.stop()
            engine.dispose()
            delete_topology(prefix)
