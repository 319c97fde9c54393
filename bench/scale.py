"""Scale and memory: per-event cost with few and with many stored cases; memory across many events.

Both drive the service in-process, without HTTP or a broker, through the same code the
processes run: `Intake.accept` (the webhook's transaction), `OutboxStore.relay_batch`
(the relay's claim and mark) and `CaseEvents` (the case consumer's transaction).
The many cases are bulk-inserted with SQLAlchemy Core executemany into a fresh
PostgreSQL database, each with its webhook receipt, timeline entry, outbox row and
consumer-inbox mark, as a service that had handled them would hold.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import BENCH_SECRET, ROOT, fresh_event, postgres_database


@dataclass
class ScaleFigures:
    small: int
    large: int
    small_ms: float
    large_ms: float
    setup_seconds: float


@dataclass
class MemoryFigures:
    events: int
    ms_per_event: float
    rss_early_mb: float
    rss_late_mb: float
    peak_early_kb: float
    peak_late_kb: float
    retained_early_kb: float
    retained_late_kb: float


class Pipeline:
    """The service's own objects, wired by `Container`, driven one event at a time."""

    def __init__(self, database_url: str) -> None:
        from config.settings import Settings
        from service.bootstrap import Container

        settings = Settings.from_env({"RB_GENERIC_WEBHOOK_SECRET": BENCH_SECRET, "RB_DATABASE_URL": database_url,
                                      "RB_LOG_LEVEL": "WARNING", "RB_TOPOLOGY_PREFIX": "bench"})  # fmt: skip
        self.container = Container(settings)
        self.cases = self.container.handlers["cases"]
        self.run = uuid.uuid4().hex[:8]
        self.handled = 0

    def events(self, start: int, count: int) -> None:
        """Accept `count` fresh events, relay them, and let the case handler apply each one."""
        from adapters.marketplaces.base import ParsedDelivery
        from queues.consumer import IncomingMessage

        intake = self.container.intake
        for n in range(start, start + count):
            event = fresh_event(n, self.run)
            intake.accept("generic", ParsedDelivery(f"bench-{self.run}-{n}", [event]))
        messages: list[Any] = []
        while self.container.outbox_store.relay_batch(datetime.now(UTC), 100, messages.append, timedelta(seconds=1))[0]:
            continue
        events_exchange = self.container.topology.events.name
        for message in messages:
            if message.exchange == events_exchange:
                self.cases(IncomingMessage(message.message_id, message.body, message.routing_key, message.headers))
                self.handled += 1

    def close(self) -> None:
        self.container.close()


def _bulk_cases(database_url: str, start: int, stop: int, chunk: int = 20_000) -> None:
    """Insert cases `start`..`stop` (state `requested`) with their receipt, timeline, outbox row and inbox mark.

    Rows go through SQLAlchemy Core's driver-level executemany with JSON already
    serialised (psycopg pipelines the batch); the receipts' payload is a short stub,
    since what is measured is how lookups scale with row counts, not the heap's size.
    """
    from sqlalchemy import create_engine

    from service.canonical import ITEMS_SCHEMA, ORDER_SCHEMA, RETURN_SCHEMA, load_event

    template = load_event(fresh_event(0, "bulk"))
    order, return_ = ORDER_SCHEMA.dump(template.order), RETURN_SCHEMA.dump(template.return_)
    items = json.dumps(ITEMS_SCHEMA.dump(template.items))
    now = datetime.now(UTC) - timedelta(days=30)
    statements = {
        "cases": 'INSERT INTO cases (id, marketplace, order_id, return_id, state, needs_attention, "order", "return", '
        "items, facts, created_at, updated_at, version) VALUES (%s, 'generic', %s, %s, 'requested', false, %s, %s, "
        "%s, '{}', %s, %s, 2)",
        "received_events": "INSERT INTO received_events (event_id, marketplace, marketplace_event_id, delivery_id, "
        "case_id, type, received_at, payload) VALUES (%s, 'generic', %s, %s, %s, 'return.requested', %s, '{}')",
        "case_timeline": "INSERT INTO case_timeline (case_id, seq, at, kind, name, detail) "
        "VALUES (%s, 0, %s, 'event', 'return.requested', %s)",
        "outbox": "INSERT INTO outbox (message_id, exchange, routing_key, body, headers, correlation_id, created_at, "
        "available_at, published_at, attempts) VALUES (%s, 'bench.events', 'return.requested.generic', %s, '{}', %s, "
        "%s, %s, %s, 1)",
        "processed_messages": "INSERT INTO processed_messages (consumer, message_id, processed_at) VALUES ('cases', %s, %s)",
    }
    engine = create_engine(database_url)
    try:
        for base in range(start, stop, chunk):
            rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in statements}
            for n in range(base, min(stop, base + chunk)):
                case_id, event_id = f"case_bulk{n:027d}", f"evt_bulk{n:028d}"
                order_id, return_id = f"ORD-bulk-{n}", f"RMA-bulk-{n}"
                rows["cases"].append(
                    (
                        case_id,
                        order_id,
                        return_id,
                        json.dumps({**order, "id": order_id}),
                        json.dumps({**return_, "id": return_id}),
                        items,
                        now,
                        now,
                    )
                )
                rows["received_events"].append((event_id, f"evt-bulk-{n}", f"bulk-{n}", case_id, now))
                rows["case_timeline"].append((case_id, now, json.dumps({"event_id": event_id})))
                rows["outbox"].append((event_id, json.dumps({"event_id": event_id}), case_id, now, now, now))
                rows["processed_messages"].append((event_id, now))
            with engine.begin() as connection:
                for table, statement in statements.items():
                    connection.exec_driver_sql(statement, rows[table])
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def _batch_ms(pipeline: Pipeline, start: int, events: int) -> float:
    started = time.perf_counter()
    pipeline.events(start, events)
    return (time.perf_counter() - started) / events * 1000


def per_event_cost(small: int, large: int, events: int, rounds: int = 3) -> ScaleFigures:
    """Two databases side by side, measured in alternating batches; the least disturbed batch of each counts."""
    with postgres_database("few") as few_url, postgres_database("many") as many_url:
        few, many = Pipeline(few_url), Pipeline(many_url)
        try:
            _bulk_cases(few_url, 0, small)
            started = time.monotonic()
            _bulk_cases(many_url, 0, large)
            setup = time.monotonic() - started
            few.events(10_000_000, 50)  # warm caches at each size
            many.events(10_000_000, 50)
            few_ms, many_ms = [], []
            for attempt in range(rounds):
                few_ms.append(_batch_ms(few, 20_000_000 + attempt * events, events))
                many_ms.append(_batch_ms(many, 20_000_000 + attempt * events, events))
        finally:
            few.close()
            many.close()
    return ScaleFigures(small, large, min(few_ms), min(many_ms), setup)


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _window(pipeline: Pipeline, start: int, count: int) -> tuple[float, float]:
    """tracemalloc over `count` events: (peak, retained after a collection) in KiB."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    for offset in range(0, count, 100):
        pipeline.events(start + offset, 100)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return (peak - base) / 1024, (current - base) / 1024


def memory_probe(events: int) -> MemoryFigures:
    """Run in a process of its own (see `memory`), so RSS is the service's and nothing else's."""
    with tempfile.TemporaryDirectory(prefix="rb-bench-mem-") as scratch:
        pipeline = Pipeline(f"sqlite:///{scratch}/rb.db")
        try:
            window = 1_000
            pipeline.events(0, 200)  # warm up
            tenth = max(events // 10, window)
            done = 200
            started = time.perf_counter()
            while done < tenth:
                pipeline.events(done, 100)
                done += 100
            peak_early, retained_early = _window(pipeline, done, window)
            done += window
            rss_early = _rss_mb()
            while done < events - window:
                pipeline.events(done, 100)
                done += 100
            peak_late, retained_late = _window(pipeline, done, window)
            done += window
            gc.collect()
            rss_late = _rss_mb()
            elapsed = time.perf_counter() - started
            assert pipeline.handled == done, (pipeline.handled, done)
        finally:
            pipeline.close()
    return MemoryFigures(done, elapsed / (done - 200) * 1000, rss_early, rss_late, peak_early, peak_late,
                         retained_early, retained_late)  # fmt: skip


def memory(events: int) -> MemoryFigures:
    out = subprocess.run([sys.executable, "-m", "bench.scale", str(events)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)  # fmt: skip
    return MemoryFigures(**json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    print(json.dumps(memory_probe(int(sys.argv[1])).__dict__))
