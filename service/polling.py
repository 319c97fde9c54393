"""Pollss for marketplaces that push nothing (Amazon, Tmall, AliExpress) or not returns (Shopee).

One poll: read the stored checkpoint, ask the marketplace for what changed since,
take every event in through the same intake as the webhooks, and only then store
the new checkpoint. A crash anywhere repeats the poll from the old checkpoint;
the events it finds again carry the same `marketplace_event_id`, which intake
answers as duplicates, so a restart between two polls creates nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from adapters.http import HttpClient, TransientHttpError
from adapters.marketplaces.base import MARKETPLACES, ParsedDelivery, PayloadError, Polls
from adapters.registry import declared_capability
from config.settings import Settings
from service.intake import InvalidEvent

log = logging.getLogger(__name__)


class CheckpointStore(Protocol):
    def load(self, marketplace: str) -> dict[str, Any] | None: ...

    def save(
        self, marketplace: str, checkpoint: dict[str, Any] | None, now: datetime, note: dict[str, Any]
    ) -> None: ...


class EventSink(Protocol):
    def accept(self, marketplace: str, delivery: ParsedDelivery) -> Any: ...


@dataclass
class PollOutcome:
    marketplace: str
    created: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str | None = None

    def note(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected[:20],
            "missing": self.missing,
            "error": self.error,
        }


def pollers(settings: Settings) -> list[Polls]:
    """Every registered marketplace adapter that can be polled, each with its `RB_<NAME>_*` settings."""
    configured = (adapter.configured(settings.for_adapter(name)) for name, adapter in MARKETPLACES)
    return [poller for adapter in configured if (poller := declared_capability(adapter, Polls)) is not None]


def poll_once(poller: Polls, store: CheckpointStore, intake: EventSink, http: HttpClient, now: datetime) -> PollOutcome:
    outcome = PollOutcome(poller.name)
    try:
        batch = poller.poll(store.load(poller.name), http, now)
    except (TransientHttpError, PayloadError) as exc:
        outcome.error = str(exc)
        store.save(poller.name, store.load(poller.name), now, outcome.note())
        return outcome
    outcome.missing, outcome.rejected = list(batch.missing), list(batch.rejected)
    for event in batch.events:
        try:
            accepted = intake.accept(poller.name, ParsedDelivery(delivery_id=None, events=[event]))
        except InvalidEvent as exc:
            outcome.rejected.append(f"{event.get('marketplace_event_id')}: {exc.fields}")
            continue
        if all(a.duplicate for a in accepted):
            outcome.duplicates += 1
        else:
            outcome.created += 1
    store.save(poller.name, batch.checkpoint, now, outcome.note())
    return outcome


class MarketplacePolls:
    """Every poller once per tick of the worker's periodic task (queues/scheduler.py)."""

    def __init__(
        self,
        pollers: Iterable[Polls],
        store: CheckpointStore,
        intake: EventSink,
        http: HttpClient,
        clock: Callable[[], datetime],
    ) -> None:
        self.pollers = list(pollers)
        self.store, self.intake, self.http, self.clock = store, intake, http, clock

    def run_all(self) -> list[PollOutcome]:
        outcomes = []
        for poller in self.pollers:
            try:
                outcomes.append(poll_once(poller, self.store, self.intake, self.http, self.clock()))
            except Exception:  # one marketplace failing must not stop the others' polls
                log.exception("poll of %s failed", poller.name)
        return outcomes
