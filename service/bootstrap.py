"""Wiring: one place that builds the real adapters for a process (cosmicpython's bootstrap).

The web process, the worker process and the embedded one-process default all come
from here, with the same settings; tests build it with a temporary database and the
in-process broker, or with RabbitMQ and PostgreSQL under CI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.carriers import CARRIERS
from adapters.http import HttpClient
from adapters.storage.database import make_engine, make_session_factory, migrate
from adapters.storage.outbox_store import OutboxStore
from adapters.storage.unit_of_work import UnitOfWork
from config.settings import Settings
from queues.consumer import Handler, QueueConsumer
from queues.publisher import ConfirmedPublisher
from queues.relay import OutboxRelay
from queues.topology import QueueSpec, Topology
from service.handlers import CarrierBookings, CaseEvents
from service.intake import Intake

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    def __init__(
        self, settings: Settings, clock: Callable[[], datetime] = utc_now, run_migrations: bool = True
    ) -> None:
        self.settings = settings
        self.clock = clock
        if run_migrations:
            migrate(settings.database_url)
        self.engine = make_engine(settings.database_url)
        self.session_factory = make_session_factory(self.engine)
        self.topology = Topology(settings.topology_prefix, settings.delivery_limit, settings.retry_delays)
        self.http = HttpClient(timeout=settings.http_timeout_seconds)
        self.publisher = ConfirmedPublisher(settings.broker_url, self.topology, settings.publish_timeout_seconds)
        self.outbox_store = OutboxStore(self.session_factory, skip_locked=not settings.is_sqlite)
        self.relay = OutboxRelay(
            self.outbox_store,
            self.publisher,
            settings.relay_batch,
            settings.relay_interval_seconds,
            clock,
            linger=settings.relay_linger_seconds,
        )
        self.intake = Intake(self.uow, clock, self.topology.events.name, on_commit=self.relay.notify)
        self.handlers: dict[str, Handler] = {}
        self._register_handlers()

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory)

    def add_consumer(self, spec: QueueSpec, handler: Handler) -> None:
        """Extension point: every adapter family adds its queue and handler here."""
        self.topology.add(spec)
        self.handlers[spec.name] = handler

    def has_adapter(self, queue_name: str) -> bool:
        return queue_name in self.handlers

    def _register_handlers(self) -> None:
        self.add_consumer(
            QueueSpec("cases", "events", ("#",)),
            CaseEvents(self.uow, self.clock, self.topology.commands.name, self.has_adapter, self.relay.notify),
        )
        for name, _carrier in CARRIERS:
            self.add_consumer(
                QueueSpec(f"carrier.{name}", "commands", (f"carrier.{name}.#",)),
                CarrierBookings(name, self.uow, self.clock, self.settings, self.http),
            )

    def consumers(self) -> list[QueueConsumer]:
        return [
            QueueConsumer(self.settings.broker_url, self.topology, spec, self.handlers[name], self.settings.prefetch)
            for name, spec in self.topology.specs.items()
        ]

    def recover_embedded_messages(self) -> int:
        """In-process broker only: publish again what a previous run published but never handled."""
        if not self.settings.embedded_broker:
            return 0
        count = self.outbox_store.requeue_unconsumed(self.clock() - timedelta(days=7))
        if count:
            log.info("re-publishing %d messages the previous run left unhandled", count)
        return count

    def close(self) -> None:
        self.relay.stop()
        self.publisher.close()
        self.engine.dispose()
