"""Prometheus metrics: what operators watch.

Webhook events by marketplace and outcome, message handling by queue and outcome with its
latency, adapter calls and errors, and, read from the broker at scrape time, queue depths
and dead letters. Under gunicorn (several processes) and beside `make worker`, every process
writes to `PROMETHEUS_MULTIPROC_DIR` and `/metrics` sums them (prometheus_client multiprocess
mode); the variable must be set before this module is imported, which config/gunicorn.conf.py
and the Makefile do.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

if TYPE_CHECKING:  # the port's types only: importing the ops console here would load storage before the env is set
    from service.operations import QueueDepth

WEBHOOK_EVENTS = Counter(
    "returnbridge_webhook_events_total", "Webhook deliveries by marketplace and outcome", ["marketplace", "outcome"]
)
MESSAGES = Counter("returnbridge_messages_total", "Messages handled by queue and outcome", ["queue", "outcome"])
PROCESSING_SECONDS = Histogram("returnbridge_processing_seconds", "Time to handle one message, by queue", ["queue"])
ADAPTER_CALLS = Counter(
    "returnbridge_adapter_calls_total", "Outgoing adapter calls by adapter and outcome", ["adapter", "outcome"]
)
ADAPTER_ERRORS = Counter(
    "returnbridge_adapter_errors_total", "Outgoing adapter calls that failed (4xx, 5xx, timeouts)", ["adapter"]
)
ADAPTER_SECONDS = Histogram("returnbridge_adapter_call_seconds", "Duration of outgoing adapter calls", ["adapter"])
DEAD_LETTERED = Counter("returnbridge_dead_lettered_total", "Messages dead-lettered by this service", ["queue"])


def record_outcome(queue: str, outcome: str, seconds: float) -> None:
    MESSAGES.labels(queue, outcome).inc()
    if outcome == "processed":
        PROCESSING_SECONDS.labels(queue).observe(seconds)
    if outcome == "dead_lettered":
        DEAD_LETTERED.labels(queue).inc()


def record_adapter_call(adapter: str, outcome: str, seconds: float) -> None:
    ADAPTER_CALLS.labels(adapter, outcome).inc()
    ADAPTER_SECONDS.labels(adapter).observe(seconds)
    if outcome != "ok":
        ADAPTER_ERRORS.labels(adapter).inc()


class QueueCollector(Collector):
    """Queue depths, consumers and dead letters, read from the broker when scraped (cached a few seconds)."""

    def __init__(self, read_queues: Callable[[], Sequence[QueueDepth]], max_age: float = 5.0) -> None:
        self.read_queues = read_queues
        self.max_age = max_age
        self._cache: tuple[float, Sequence[QueueDepth] | None] = (0.0, None)
        self._lock = threading.Lock()

    def _queues(self) -> Sequence[QueueDepth] | None:
        with self._lock:
            at, queues = self._cache
            if time.monotonic() - at > self.max_age:
                try:
                    queues = self.read_queues()
                except Exception:
                    queues = None
                self._cache = (time.monotonic(), queues)
            return queues

    def collect(self) -> Iterator[GaugeMetricFamily]:
        queues = self._queues()
        up = GaugeMetricFamily("returnbridge_broker_up", "1 when the broker answered the last look at the queues")
        up.add_metric([], 0 if queues is None else 1)
        yield up
        depth = GaugeMetricFamily(
            "returnbridge_queue_messages", "Messages waiting in each queue", labels=["queue", "role"]
        )
        consumers = GaugeMetricFamily(
            "returnbridge_queue_consumers", "Consumers of each queue", labels=["queue", "role"]
        )
        dead = GaugeMetricFamily(
            "returnbridge_dead_letters", "Messages waiting in dead-letter queues", labels=["queue"]
        )
        for q in queues or []:
            if q.messages is not None:
                depth.add_metric([q.name, q.role], q.messages)
                consumers.add_metric([q.name, q.role], q.consumers or 0)
                if q.role == "dead":
                    dead.add_metric([q.name.removesuffix(".dead")], q.messages)
        yield from (depth, consumers, dead)


def exposition(queue_collector: Collector) -> bytes:
    """The text of `/metrics`: every process's metrics (multiprocess mode) or this one's, plus the queues."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        base = generate_latest(registry)
    else:
        base = generate_latest(REGISTRY)
    queues = CollectorRegistry()
    queues.register(queue_collector)
    return base + generate_latest(queues)


def prune_dead_processes(directory: str | Path) -> int:
    """Remove metric files of processes that no longer run (a previous start); returns how many went."""
    removed = 0
    for path in Path(directory).glob("*.db"):
        try:
            pid = int(path.stem.rsplit("_", 1)[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
            removed += 1
        except PermissionError:
            continue
    return removed
