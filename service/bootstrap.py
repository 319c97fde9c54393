"""Wiring: one place that builds the real adapters for a process (cosmicpython's bootstrap).

The web process, the worker process and the embedded one-process default all come
from here, with the same settings; tests build it with a temporary database and the
in-process broker, or with RabbitMQ and PostgreSQL under CI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from adapters.calendars import HolidaysCalendars
from adapters.carriers import CARRIERS
from adapters.carriers.gateway import CarrierGateway
from adapters.customs.base import CUSTOMS
from adapters.http import HttpClient, register_secrets
from adapters.notifiers import NOTIFIERS
from adapters.storage.access_store import ApiKeys, WebSessions
from adapters.storage.checkpoints import DatabaseCheckpoints
from adapters.storage.database import DatabaseUnreachable, make_engine, make_session_factory, migrate
from adapters.storage.fx_store import SqlRateStore
from adapters.storage.operations_store import OperationsStore
from adapters.storage.outbox_signal import OutboxListener
from adapters.storage.outbox_store import OutboxStore
from adapters.storage.purge_store import PurgeStore
from adapters.storage.retry_schedule import RetrySchedule
from adapters.storage.unit_of_work import UnitOfWork
from config.policy_tables import default_policy_tables
from config.routes import carrier_routes
from config.settings import Settings, SettingsError
from core.money import RateSource
from core.notices import NOTICE_ADAPTER
from queues.consumer import Handler, QueueConsumer
from queues.inspection import inspector_for
from queues.publisher import ConfirmedPublisher
from queues.relay import OutboxRelay
from queues.scheduler import PeriodicTask
from queues.topology import QueueSpec, Topology
from service.buyer_links import BuyerLinks
from service.carrier_bookings import CarrierBookings
from service.case_policy import CasePolicy, one_line
from service.customs import CustomsFilings, CustomsPlanning
from service.fx import FxRecorder
from service.handlers import CaseEvents, CaseMoves
from service.intake import Intake
from service.marketplaces import (
    MarketplaceDecisions,
    MarketplaceDetails,
    enriching_marketplaces,
    responding_marketplaces,
)
from service.metrics import record_adapter_call
from service.notice_delivery import NoticeDeliveries
from service.operations import Operations
from service.polling import MarketplacePolls, pollers
from service.privacy import PiiPurge, secrets_of
from service.rates import RateRefresher, build_rate_book
from service.timers import DueTimers
from service.tracking import TrackingIntake, TrackingPoller

DEFAULT_TRACKING_POLL_SECONDS = 900.0
DEAD_LETTER_SWEEP_SECONDS = 60.0
# How often a process that started without its database tries the migration again.
SCHEMA_RETRY_SECONDS = 5.0

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Container:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], datetime] = utc_now,
        run_migrations: bool = True,
        rates: RateSource | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        register_secrets(secrets_of(dict(settings.env)))  # never stored in a recorded request (adapters/http.py)
        # Whether this process brought the schema up to date; False while a migration waits for the database.
        self.schema_current = not run_migrations
        self._schema_wait = threading.Event()
        if run_migrations:
            self._migrate_or_wait()
        self.engine = make_engine(
            settings.database_url, settings.db_connect_timeout_seconds, settings.db_statement_timeout_seconds
        )
        self.session_factory = make_session_factory(self.engine)
        self.topology = Topology(settings.topology_prefix, settings.delivery_limit, settings.retry_delays)
        self.http = HttpClient(timeout=settings.http_timeout_seconds, observer=record_adapter_call)
        self.publisher = ConfirmedPublisher(settings.broker_url, self.topology, settings.publish_timeout_seconds)
        self.outbox_store = OutboxStore(self.session_factory, skip_locked=not settings.is_sqlite)
        # Deferred and failed deliveries wait here, not in broker delay queues; due times are wall-clock
        # seconds (its own clock), whatever business clock a test or a replay gives the rest.
        self.retry_schedule = RetrySchedule(self.session_factory, skip_locked=not settings.is_sqlite)
        self.relay = OutboxRelay(
            self.outbox_store,
            self.publisher,
            settings.relay_batch,
            settings.relay_interval_seconds,
            clock,
            linger=settings.relay_linger_seconds,
            schedule=self.retry_schedule,
        )
        if not settings.is_sqlite:  # NOTIFY from the outbox trigger wakes this process's relay (if it runs one)
            self.relay.listener = OutboxListener(
                settings.database_url, self.relay.notify, connect_timeout=settings.db_connect_timeout_seconds
            )
        self.rate_book = build_rate_book(settings, SqlRateStore(self.session_factory), clock)
        self.rate_refresher = RateRefresher(self.rate_book, settings.fx_refresh_seconds)
        self.fx = FxRecorder(self.rate_book, settings.settlement_currency)
        # The rates the policy engine converts the refund's display amount with, on cases and in
        # POST /policy/evaluate alike: the rate book unless a caller (a test) gives its own.
        self.rates: RateSource = rates if rates is not None else self.rate_book
        self.policy = CasePolicy(
            default_policy_tables(),
            HolidaysCalendars(),
            self.rates,
            settings.merchant_policy,
            returns_address=one_line(settings.returns_address()),
        )
        self.intake = Intake(
            self.uow, clock, self.topology.events.name, on_commit=self.relay.notify, group_max=settings.intake_group_max
        )
        self.carrier_gateway = CarrierGateway(self.http, clock)  # one OAuth token cache per process
        self.tracking = TrackingIntake(self.uow, clock, self.topology.events.name, on_commit=self.relay.notify)
        self.tracking_poller = TrackingPoller(self.uow, clock, settings, self.carrier_gateway, self.tracking)
        self.returns_country = settings.for_adapter("returns_address").get("COUNTRY")
        self.customs_adapter = settings.for_adapter("customs").get("ADAPTER") or "customs_broker"
        if self.customs_adapter not in CUSTOMS:
            raise SettingsError(f"RB_CUSTOMS_ADAPTER names no customs adapter: {self.customs_adapter!r}")
        self.customs_planning = CustomsPlanning(self.customs_adapter, self.returns_country)
        # Signed links to the buyers' pages (GET /r/<token>), carried by every notice.
        self.buyer_links = BuyerLinks(settings.buyer_link_keys, settings.buyer_link_days, settings.public_url)
        self.handlers: dict[str, Handler] = {}
        self._register_handlers()
        # Who may call the web (web/auth.py): API keys and console sessions, kept in the database.
        self.api_keys = ApiKeys(self.session_factory, clock)
        self.web_sessions = WebSessions(self.session_factory, clock)
        self.pii_purge = PiiPurge(PurgeStore(self.session_factory), settings.pii_retention_days, clock)
        self.operations = Operations(
            OperationsStore(self.session_factory),
            self.uow,
            tuple(self.topology.queue_name(spec) for spec in self.topology.specs.values()),
            self.topology.prefix,
            inspector_for(settings.broker_url, self.topology),
            clock,
        )
        # Operator commands and timers move cases with the same policy and customs planning as events.
        self.moves = CaseMoves(self.topology.commands.name, self.has_adapter, self.policy, self.customs_planning)
        self.timers = DueTimers(self.uow, clock, self.moves, settings.timer_batch, on_commit=self.relay.notify)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, skip_locked=not self.settings.is_sqlite)

    def add_consumer(self, spec: QueueSpec, handler: Handler) -> None:
        """Extension point: every adapter family adds its queue and handler here."""
        self.topology.add(spec)
        self.handlers[spec.name] = handler

    def has_adapter(self, queue_name: str) -> bool:
        return queue_name in self.handlers

    def _register_handlers(self) -> None:
        commands = self.topology.commands.name
        self.add_consumer(
            QueueSpec("cases", "events", ("#",)),
            CaseEvents(
                self.uow, self.clock, commands, self.has_adapter, self.relay.notify, policy=self.policy, fx=self.fx,
                routes=carrier_routes(self.settings), returns_country=self.returns_country,
                customs=self.customs_planning,
            ),
        )  # fmt: skip
        notifiers = dict(NOTIFIERS)
        self.add_consumer(
            QueueSpec(f"notify.{NOTICE_ADAPTER}", "commands", (f"notify.{NOTICE_ADAPTER}.#",)),
            NoticeDeliveries(
                f"notify.{NOTICE_ADAPTER}", notifiers, self.uow, self.clock, self.settings, links=self.buyer_links
            ),
        )
        for channel, notifier in notifiers.items():  # per-channel commands the previous version queued
            self.add_consumer(
                QueueSpec(f"notify.{channel}", "commands", (f"notify.{channel}.#",)),
                NoticeDeliveries(
                    f"notify.{channel}",
                    {channel: notifier},
                    self.uow,
                    self.clock,
                    self.settings,
                    links=self.buyer_links,
                ),
            )
        for name, _carrier in CARRIERS:
            self.add_consumer(
                QueueSpec(f"carrier.{name}", "commands", (f"carrier.{name}.#",)),
                CarrierBookings(
                    name,
                    self.uow,
                    self.clock,
                    self.settings,
                    self.http,
                    commands,
                    self.relay.notify,
                    self.carrier_gateway,
                    known_adapters=self.has_adapter,
                ),
            )
        for name, _adapter in CUSTOMS:
            self.add_consumer(
                QueueSpec(f"customs.{name}", "commands", (f"customs.{name}.#",)),
                CustomsFilings(name, self.uow, self.clock, self.settings, self.http),
            )
        self._register_marketplaces()

    def _register_marketplaces(self) -> None:
        """Issue 4: details for thin notifications, and decisions back to each marketplace."""
        enriching = enriching_marketplaces()
        if enriching:
            self.add_consumer(
                QueueSpec("marketplace.details", "events", tuple(f"*.*.{name}" for name in enriching)),
                MarketplaceDetails(self.uow, self.clock, self.http, self.intake, settings=self.settings),
            )
        for name in responding_marketplaces():
            self.add_consumer(
                QueueSpec(f"marketplace.{name}", "commands", (f"marketplace.{name}.#",)),
                MarketplaceDecisions(
                    name,
                    self.uow,
                    self.clock,
                    self.http,
                    self.topology.commands.name,
                    self.has_adapter,
                    settings=self.settings,
                ),
            )

    def marketplace_polls(self) -> MarketplacePolls:
        """The pollers of pulled marketplaces, checkpoints in the database (issue 4)."""
        return MarketplacePolls(
            pollers(self.settings), DatabaseCheckpoints(self.uow), self.intake, self.http, self.clock
        )

    def timer_task(self) -> PeriodicTask:
        """Case timers fired from the database every RB_TIMER_INTERVAL_SECONDS (service/timers.py)."""
        return PeriodicTask("case-timers", self.settings.timer_interval_seconds, self.timers.fire_due)

    def periodic_tasks(self) -> list[PeriodicTask]:
        """Case timers; tracking polls for return parcels in flight every RB_TRACKING_POLL_SECONDS; marketplace
        polls every RB_POLL_INTERVAL_SECONDS (0 turns either poll off); the purge of buyers' personal data
        every RB_PII_PURGE_INTERVAL_SECONDS (0 turns it off); the sweep that flags cases of broker-made dead letters;
        queue depth samples for the console."""
        return [self.timer_task(), *self._polls(), *self._purge(), self.dead_letter_sweep(), *self._depth_samples()]

    def dead_letter_sweep(self) -> PeriodicTask:
        """Flag the cases of dead letters the broker made itself (service/operations.py), once a minute."""
        return PeriodicTask(
            "dead-letter-sweep", DEAD_LETTER_SWEEP_SECONDS, self.operations.flag_unrecorded_dead_letters
        )

    def _depth_samples(self) -> list[PeriodicTask]:
        """Queue depths every RB_QUEUE_DEPTH_SAMPLE_SECONDS (default 60; 0 off) for the console's sparklines."""
        raw = self.settings.for_adapter("queue_depth").get("SAMPLE_SECONDS")
        try:
            interval = float(raw) if raw is not None else 60.0
        except ValueError as exc:
            raise SettingsError(f"RB_QUEUE_DEPTH_SAMPLE_SECONDS must be a number of seconds, got {raw!r}") from exc
        return [PeriodicTask("queue-depth-samples", interval, self.operations.sample_depths)] if interval > 0 else []

    def _purge(self) -> list[PeriodicTask]:
        interval = self.settings.pii_purge_interval_seconds
        return [PeriodicTask("pii-purge", interval, self.pii_purge.run_once)] if interval > 0 else []

    def _polls(self) -> list[PeriodicTask]:
        raw = self.settings.for_adapter("tracking").get("POLL_SECONDS")
        try:
            interval = float(raw) if raw is not None else DEFAULT_TRACKING_POLL_SECONDS
        except ValueError as exc:
            raise SettingsError(f"RB_TRACKING_POLL_SECONDS must be a number of seconds, got {raw!r}") from exc
        tasks = []
        if interval > 0:
            tasks.append(PeriodicTask("tracking-poll", interval, self.tracking_poller.poll_once))
        if self.settings.poll_interval_seconds > 0:
            polls = self.marketplace_polls()
            tasks.append(PeriodicTask("marketplace-polls", self.settings.poll_interval_seconds, polls.run_all))
        return tasks

    def consumers(self) -> list[QueueConsumer]:
        return [
            QueueConsumer(
                self.settings.broker_url,
                self.topology,
                spec,
                self.handlers[name],
                self.retry_schedule,
                self.settings.prefetch,
                on_dead_letter=self.operations.record_dead_letter,
                batch=self.settings.consumer_batch,
                on_parked=self.relay.expect,
            )
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

    def _migrate_or_wait(self) -> None:
        """Migrate now, or, while the database is unreachable, start anyway and migrate as soon as it answers.

        The process serves meanwhile: requests that need the database answer 503 with Retry-After (issue 16)."""
        url, timeout = self.settings.database_url, self.settings.db_connect_timeout_seconds
        try:
            migrate(url, timeout)
            self.schema_current = True
            return
        except DatabaseUnreachable as exc:
            log.warning("database unreachable (%s): starting without it; the schema is migrated when it answers", exc)

        def keep_trying() -> None:
            while not self._schema_wait.wait(SCHEMA_RETRY_SECONDS):
                try:
                    migrate(url, timeout)
                except DatabaseUnreachable:
                    continue
                self.schema_current = True
                log.info("database answers again: schema up to date")
                return

        threading.Thread(target=keep_trying, name="schema-catch-up", daemon=True).start()

    def close(self) -> None:
        self._schema_wait.set()
        self.rate_refresher.stop()
        self.relay.stop()
        self.publisher.close()
        self.engine.dispose()
