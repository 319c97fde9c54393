"""The worker: the outbox relay, one consumer thread per work queue and the periodic tasks, stopped cleanly by SIGTERM.

SIGTERM or Ctrl-C stops taking new messages; each consumer finishes and acks the
message in hand, then closes its connection, which returns unacked prefetched
messages to the queue (messaging_reliability.md §6.3).
"""

from __future__ import annotations

import logging
import threading

from queues.consumer import QueueConsumer
from queues.relay import OutboxRelay
from queues.scheduler import PeriodicTask

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self, relay: OutboxRelay, consumers: list[QueueConsumer], periodic: list[PeriodicTask] | None = None
    ) -> None:
        self.relay = relay
        self.consumers = consumers
        self.periodic = periodic or []
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        self.relay.start()
        for consumer in self.consumers:
            thread = threading.Thread(target=consumer.run, name=f"consume-{consumer.queue_name}", daemon=True)
            thread.start()
            self.threads.append(thread)
        for task in self.periodic:
            task.start()

    def wait_ready(self, timeout: float = 30.0) -> bool:
        return all(consumer.ready.wait(timeout) for consumer in self.consumers)

    def stop(self, timeout: float = 20.0) -> None:
        for task in self.periodic:
            task.stop(timeout)
        for consumer in self.consumers:
            consumer.stop()
        for thread in self.threads:
            thread.join(timeout)
        for consumer in self.consumers:
            consumer.close()
        self.relay.stop()
        log.info("worker stopped")
