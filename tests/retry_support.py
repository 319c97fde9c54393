"""The retry schedule the consumers park deliveries in, on its own SQLite file, and the relay that brings them back."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.database import make_engine, make_session_factory, migrate
from adapters.storage.outbox_store import OutboxStore
from adapters.storage.retry_schedule import RetrySchedule
from queues.consumer import QueueConsumer
from queues.publisher import ConfirmedPublisher
from queues.relay import OutboxRelay
from queues.topology import Topology


@dataclass
class ScheduleDb:
    """A migrated database holding the schedule: what a Container gets from RB_DATABASE_URL."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def on(cls, path: Path) -> ScheduleDb:
        url = f"sqlite:///{path}"
        migrate(url)
        engine = make_engine(url)
        return cls(engine, make_session_factory(engine))

    def parked(self) -> dict[str, int]:
        return self.schedule().parked_by_queue()

    def schedule(self, **kwargs: Any) -> RetrySchedule:
        return RetrySchedule(self.sessions, skip_locked=False, **kwargs)

    def relay(self, broker_url: str, topology: Topology, interval: float = 0.5) -> OutboxRelay:
        return OutboxRelay(OutboxStore(self.sessions, skip_locked=False), ConfirmedPublisher(broker_url, topology),
                           interval=interval, schedule=self.schedule())  # fmt: skip


@contextlib.contextmanager
def relaying(db: ScheduleDb, broker_url: str, topology: Topology, interval: float = 0.5) -> Iterator[OutboxRelay]:
    relay = db.relay(broker_url, topology, interval)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


@contextlib.contextmanager
def consuming(db: ScheduleDb, broker_url: str, topology: Topology, handler: Any, interval: float = 0.5,
              **options: Any) -> Iterator[QueueConsumer]:  # fmt: skip
    """A consumer of the `work` queue, parking in `db`, with the relay running beside it (as a worker has)."""
    with relaying(db, broker_url, topology, interval) as relay:
        consumer = QueueConsumer(broker_url, topology, topology.specs["work"], handler, db.schedule(),
                                 on_parked=relay.expect, **options)  # fmt: skip
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        assert consumer.ready.wait(15)
        try:
            yield consumer
        finally:
            consumer.stop()
            thread.join(10)
            consumer.close()
