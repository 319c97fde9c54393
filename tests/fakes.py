"""An in-memory unit of work (cosmicpython, chapter 6): service tests without a database, threads or waiting.

It keeps the SQL unit of work's promises that the services rely on: nothing is visible to another
unit of work before `commit`, leaving the `with` block rolls back, a case saved by someone else
since it was loaded raises `ConcurrentUpdate`, a second outbound effect under one idempotency key
raises `DuplicateKey` at commit, and a consumer's message is marked once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from adapters.storage.operations_store import Failure, OpenCase
from adapters.storage.ports import ConcurrentUpdate, DuplicateKey
from core.cases import ReturnCase
from core.customs import LedgerClaim
from core.effects import EffectState, OutboundEffect
from core.notices import NoticeDelivery, NoticeToDeliver
from core.shipments import Shipment
from core.tracking import TrackingScan


@dataclass
class OutboxMessage:
    message_id: str
    exchange: str
    routing_key: str
    body: dict[str, Any]
    correlation_id: str | None


@dataclass
class FakeStore:
    """What has been committed: cases with their versions, the outbox, the consumers' inbox."""

    cases: dict[str, tuple[int, ReturnCase]] = field(default_factory=dict)
    outbox: list[OutboxMessage] = field(default_factory=list)
    processed: set[tuple[str, str]] = field(default_factory=set)
    # The repositories of outbound effects and what they make, by id (values are frozen: no copies needed).
    effects: dict[str, OutboundEffect] = field(default_factory=dict)
    shipments: dict[str, Shipment] = field(default_factory=dict)
    deliveries: dict[str, NoticeDelivery] = field(default_factory=dict)
    claims: dict[str, LedgerClaim] = field(default_factory=dict)
    scans: dict[str, TrackingScan] = field(default_factory=dict)
    commits: int = 0
    # One runs after each case read: a test's stand-in for another worker saving the case meanwhile.
    after_get: list[Callable[[FakeStore], None]] = field(default_factory=list)

    def put(self, case: ReturnCase) -> None:
        version = self.cases[case.id][0] + 1 if case.id in self.cases else 1
        self.cases[case.id] = (version, copy.deepcopy(case))

    def case(self, case_id: str) -> ReturnCase:
        return copy.deepcopy(self.cases[case_id][1])


class FakeCases:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.loaded: dict[str, int] = {}
        self.saved: dict[str, ReturnCase] = {}

    def get(self, case_id: str, for_update: bool = False) -> ReturnCase | None:
        if case_id not in self.store.cases:
            return None
        version, case = self.store.cases[case_id]
        self.loaded[case_id] = version
        case = copy.deepcopy(case)
        if self.store.after_get:
            self.store.after_get.pop(0)(self.store)
        return case

    def notice_of(self, case_id: str, kind: str) -> NoticeToDeliver | None:
        if case_id not in self.store.cases:
            return None
        case = self.store.cases[case_id][1]
        notice = next((n for n in case.notices if n.kind == kind), None)
        at, context = (notice.at, copy.deepcopy(notice.context)) if notice else (None, {})
        return NoticeToDeliver(case.id, case.created_at, case.order.buyer, kind, at, context)

    def add(self, case: ReturnCase, now: datetime, *_: Any) -> None:
        self.loaded[case.id] = 0
        self.saved[case.id] = copy.deepcopy(case)

    def save(self, case: ReturnCase, now: datetime) -> None:
        stored = self.store.cases.get(case.id)
        if stored is not None and stored[0] != self.loaded.get(case.id):
            raise ConcurrentUpdate(f"case {case.id} changed since it was loaded")
        self.saved[case.id] = copy.deepcopy(case)


class FakeOutbox:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.added: list[OutboxMessage] = []

    def add(self, exchange: str, routing_key: str, body: dict[str, Any], now: datetime,
            message_id: str | None = None, correlation_id: str | None = None, **_: Any) -> str:  # fmt: skip
        message_id = message_id or f"msg_{len(self.store.outbox) + len(self.added) + 1}"
        self.added.append(OutboxMessage(message_id, exchange, routing_key, body, correlation_id))
        return message_id

    def has(self, message_id: str) -> bool:
        return any(m.message_id == message_id for m in self.store.outbox + self.added)

    def prefetch(self, message_ids: list[str]) -> None:
        """Nothing to ask ahead of time in memory."""


class FakeProcessed:
    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.added: set[tuple[str, str]] = set()

    def seen(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.store.processed | self.added

    def mark(self, consumer: str, message_id: str, now: datetime) -> None:
        self.added.add((consumer, message_id))

    def mark_once(self, consumer: str, message_id: str, now: datetime) -> None:
        self.mark(consumer, message_id, now)


class FakeTable:
    """One table's rows as this unit of work sees them: the committed ones and its own, written at commit."""

    def __init__(self, committed: dict[str, Any]) -> None:
        self.committed = committed
        self.written: dict[str, Any] = {}

    def get(self, row_id: str) -> Any:
        return self.written.get(row_id, self.committed.get(row_id))

    def rows(self) -> list[Any]:
        return [self.get(row_id) for row_id in {**self.committed, **self.written}]

    def put(self, row_id: str, value: Any) -> Any:
        self.written[row_id] = value
        return value

    def commit(self) -> None:
        self.committed.update(self.written)
        self.written = {}


class FakeEffects:
    def __init__(self, table: FakeTable) -> None:
        self.table = table

    def by_key(self, idempotency_key: str) -> OutboundEffect | None:
        return next((e for e in self.table.rows() if e.idempotency_key == idempotency_key), None)

    def by_keys(self, idempotency_keys: Iterable[str]) -> dict[str, OutboundEffect]:
        keys = set(idempotency_keys)
        return {e.idempotency_key: e for e in self.table.rows() if e.idempotency_key in keys}

    def get(self, effect_id: str) -> OutboundEffect | None:
        return self.table.get(effect_id)

    def add(self, effect: OutboundEffect) -> OutboundEffect:
        return self.table.put(effect.id, effect)

    def save(self, effect: OutboundEffect) -> OutboundEffect:
        if self.table.get(effect.id) is None:
            raise LookupError(f"outbound effect {effect.id} is not stored")
        return self.table.put(effect.id, effect)

    def for_case(self, case_id: str, kinds: Iterable[str] | None = None) -> list[OutboundEffect]:
        wanted = None if kinds is None else set(kinds)
        found = [e for e in self.table.rows() if e.case_id == case_id and (wanted is None or e.kind in wanted)]
        return sorted(found, key=lambda e: e.created_at)

    def check_keys(self) -> None:
        """The unique idempotency key, as the database checks it at commit."""
        for effect in self.table.written.values():
            other = next(
                (e for e in self.table.committed.values() if e.idempotency_key == effect.idempotency_key), None
            )
            if other is not None and other.id != effect.id:
                raise DuplicateKey(f"an effect under {effect.idempotency_key} is stored already")


class FakeShipments:
    """Shipments joined with their effect, as the SQL repository reads them."""

    def __init__(self, table: FakeTable, effects: FakeTable) -> None:
        self.table, self.effects = table, effects

    def _joined(self, shipment: Shipment | None) -> Shipment | None:
        return None if shipment is None else replace(shipment, effect=self.effects.get(shipment.id))

    def get(self, shipment_id: str) -> Shipment | None:
        return self._joined(self.table.get(shipment_id))

    def for_case(self, case_id: str) -> list[Shipment]:
        found = [self._joined(s) for s in self.table.rows() if s.case_id == case_id]
        return sorted((s for s in found if s is not None), key=lambda s: s.created_at)

    def add(self, shipment: Shipment) -> Shipment:
        return self.table.put(shipment.id, shipment)

    def record_parcel(self, shipment_id: str, tracking_number: str | None, label_pdf_base64: str | None) -> None:
        self.table.put(shipment_id, replace(self.table.get(shipment_id), tracking_number=tracking_number,
                                            label_pdf_base64=label_pdf_base64))  # fmt: skip

    def booked_label(self, carrier: str, tracking_number: str) -> Shipment | None:
        return next((self._joined(s) for s in self.table.rows() if (s.carrier, s.tracking_number, s.kind)
                     == (carrier, tracking_number, "return_label")), None)  # fmt: skip

    def in_flight(self, since: datetime, finished: tuple[str, ...], limit: int) -> list[Shipment]:
        """Booked return labels after `since`; scans are not consulted in memory (no finished parcels)."""
        booked = [
            s for s in (self._joined(s) for s in self.table.rows())
            if s is not None and s.kind == "return_label" and s.tracking_number and s.created_at >= since
            and s.effect.state == EffectState.DONE
        ]  # fmt: skip
        return sorted(booked, key=lambda s: s.updated_at)[:limit]


class FakeNoticeDeliveries:
    def __init__(self, table: FakeTable, effects: FakeTable) -> None:
        self.table, self.effects = table, effects

    def _joined(self, delivery: NoticeDelivery) -> NoticeDelivery:
        return replace(delivery, effect=self.effects.get(delivery.id))

    def by_key(self, idempotency_key: str) -> NoticeDelivery | None:
        effect = next((e for e in self.effects.rows() if e.idempotency_key == idempotency_key), None)
        delivery = self.table.get(effect.id) if effect is not None else None
        return self._joined(delivery) if delivery is not None else None

    def for_case(self, case_id: str) -> list[NoticeDelivery]:
        found = [self._joined(d) for d in self.table.rows() if d.case_id == case_id]
        return sorted(found, key=lambda d: (d.created_at, d.channel))

    def add(self, delivery: NoticeDelivery) -> NoticeDelivery:
        return self.table.put(delivery.id, delivery)


class FakeCustomsClaims:
    def __init__(self, table: FakeTable, effects: FakeTable) -> None:
        self.table, self.effects = table, effects

    def _joined(self, claim: LedgerClaim | None) -> LedgerClaim | None:
        return None if claim is None else replace(claim, filing=self.effects.get(claim.id))

    def for_case(self, case_id: str) -> list[LedgerClaim]:
        found = [self._joined(c) for c in self.table.rows() if c.case_id == case_id]
        return sorted((c for c in found if c is not None), key=lambda c: c.due_by)

    def find(self, case_id: str, authority: str) -> LedgerClaim | None:
        return next((self._joined(c) for c in self.table.rows() if (c.case_id, c.authority) == (case_id, authority)),
                    None)  # fmt: skip

    def get(self, claim_id: str) -> LedgerClaim | None:
        return self._joined(self.table.get(claim_id))

    def add(self, claim: LedgerClaim) -> LedgerClaim:
        return self.table.put(claim.id, claim)

    def update(self, claim: LedgerClaim) -> LedgerClaim:
        return self.table.put(claim.id, replace(claim, filing=None))


class FakeTrackingScans:
    def __init__(self, table: FakeTable, shipments: FakeShipments) -> None:
        self.table, self.shipments = table, shipments

    def known(self, scan_key: str) -> bool:
        return self.table.get(scan_key) is not None

    def add(self, scan: TrackingScan) -> None:
        if self.known(scan.scan_key):
            raise DuplicateKey(f"scan {scan.scan_key} is recorded already")
        self.table.put(scan.scan_key, scan)

    def for_case(self, case_id: str) -> list[TrackingScan]:
        return sorted((s for s in self.table.rows() if s.case_id == case_id), key=lambda s: s.occurred_at)

    def shipment_for(self, carrier: str, tracking_number: str) -> Shipment | None:
        return self.shipments.booked_label(carrier, tracking_number)

    def in_flight(self, since: datetime, finished: tuple[str, ...], limit: int) -> list[Shipment]:
        return self.shipments.in_flight(since, finished, limit)


class FakeUnitOfWork:
    """One transaction over a `FakeStore`; call it the way the services call `UnitOfWork(...)`."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store)

    def __enter__(self) -> FakeUnitOfWork:
        self.cases = FakeCases(self.store)
        self.outbox = FakeOutbox(self.store)
        self.processed = FakeProcessed(self.store)
        self._tables = {name: FakeTable(getattr(self.store, name))
                        for name in ("effects", "shipments", "deliveries", "claims", "scans")}  # fmt: skip
        self.effects = FakeEffects(self._tables["effects"])
        self.shipments = FakeShipments(self._tables["shipments"], self._tables["effects"])
        self.notice_deliveries = FakeNoticeDeliveries(self._tables["deliveries"], self._tables["effects"])
        self.customs_claims = FakeCustomsClaims(self._tables["claims"], self._tables["effects"])
        self.scans = FakeTrackingScans(self._tables["scans"], self.shipments)
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever was not committed is dropped, as the SQL unit of work rolls back."""

    def commit(self) -> None:
        self.effects.check_keys()
        for case_id, case in self.cases.saved.items():
            if self.store.cases.get(case_id, (0, None))[0] != self.cases.loaded.get(case_id):
                raise ConcurrentUpdate(f"case {case_id} changed since it was loaded")
            self.store.put(case)
            self.cases.loaded[case_id] = self.store.cases[case_id][0]
        self.store.outbox.extend(self.outbox.added)
        self.store.processed |= self.processed.added
        for table in self._tables.values():
            table.commit()
        self.cases.saved, self.outbox.added, self.processed.added = {}, [], set()
        self.store.commits += 1


@dataclass(frozen=True)
class FakeQueue:
    name: str
    role: str
    messages: int | None
    consumers: int | None = 1


@dataclass(frozen=True)
class FakeDeadLetter:
    queue: str
    message_id: str
    case_id: str | None = None
    reason: str = "handler failed"

    def summary(self) -> dict[str, Any]:
        return {"queue": self.queue, "message_id": self.message_id, "reason": self.reason, "case_id": self.case_id}


@dataclass
class FakeBrokerInspector:
    """The ops console's broker port (service.operations.BrokerInspector) in memory: queues with the depths a test
    sets, dead letters per work queue, and a replay that moves them out."""

    depths: list[FakeQueue] = field(default_factory=list)
    dead: dict[str, list[FakeDeadLetter]] = field(default_factory=dict)

    def queues(self) -> list[FakeQueue]:
        return list(self.depths)

    def dead_letters(self, work_queue: str, limit: int = 100) -> list[FakeDeadLetter]:
        if work_queue not in self.dead:
            raise LookupError(work_queue)
        return self.dead[work_queue][:limit]

    def replay(self, work_queue: str, message_id: str | None = None) -> list[str]:
        letters = self.dead.get(work_queue, [])
        moved = [d for d in letters if message_id in (None, d.message_id)]
        self.dead[work_queue] = [d for d in letters if d not in moved]
        return [d.message_id for d in moved]


@dataclass
class FakeOperationsStore:
    """The ops console's questions (adapters/storage/operations_store.py) answered from memory."""

    handled: dict[str, int] = field(default_factory=dict)
    open: list[OpenCase] = field(default_factory=list)
    marks: set[tuple[str, str]] = field(default_factory=set)
    samples: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)
    parked: dict[str, int] = field(default_factory=dict)  # retries waiting in the schedule, by work queue

    def handled_since(self, since: datetime) -> dict[str, int]:
        return dict(self.handled)

    def parked_retries(self) -> dict[str, int]:
        return dict(self.parked)

    def record_depths(self, depths: dict[str, int], at: datetime, forget_before: datetime) -> None:
        for name, depth in depths.items():
            kept = [(t, d) for t, d in self.samples.get(name, []) if t >= forget_before]
            self.samples[name] = [*kept, (at, depth)]

    def depth_history(self, since: datetime) -> dict[str, list[tuple[datetime, int]]]:
        return {name: [(t, d) for t, d in rows if t >= since] for name, rows in self.samples.items()}

    def is_marked(self, consumer: str, message_id: str) -> bool:
        return (consumer, message_id) in self.marks

    def mark(self, consumer: str, message_id: str, now: datetime) -> None:
        self.marks.add((consumer, message_id))

    def unmark(self, consumer: str, message_ids: list[str]) -> None:
        self.marks -= {(consumer, m) for m in message_ids}

    def open_cases(self, final_states: frozenset[str] | tuple[str, ...], limit: int) -> list[OpenCase]:
        return [c for c in self.open if c.state not in final_states][:limit]

    def recent_failures(self, effect_states: tuple[str, ...], limit: int) -> list[Failure]:
        return []
