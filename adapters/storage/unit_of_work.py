"""Repositories and the unit of work over SQLAlchemy: one transaction for a case, its inbox and outbox rows.

The service layer reaches the database only through these repositories; it builds no query, holds
no session and catches no driver exception: an integrity error or a dropped connection leaves the
`with` block (or `commit`) as `adapters.storage.ports.DuplicateKey` or `ConnectionLost`. Cases come
back as `core.cases.ReturnCase`; outbound effects, shipments, notice deliveries, tracking scans and
customs claims as the frozen values of core/ (adapters/storage/effects_store.py), whose moves the
services hand back to their repositories. Cases are saved with
optimistic locking (`version`), so two workers applying events to the same case cannot both win:
the loser rolls back (`ConcurrentUpdate`) and its message is retried.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, event, func, insert, literal, null, or_, select, union_all, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from adapters.canonical import ITEMS_SCHEMA, ORDER_SCHEMA, RETURN_SCHEMA
from adapters.storage.analytics_store import AnalyticsStore
from adapters.storage.case_record import facts_json, typed_parts
from adapters.storage.effects_store import CustomsClaims, NoticeDeliveries, OutboundEffects, Shipments, TrackingScans
from adapters.storage.fx_store import FxLedger
from adapters.storage.models import (
    CaseRow,
    CaseTimerRow,
    NoticeRow,
    OutboxRow,
    ProcessedMessageRow,
    ReceivedEventRow,
    ReturnFactsRow,
    TimelineRow,
)
from adapters.storage.ports import ConcurrentUpdate, ConnectionLost, DuplicateKey
from core.analytics import ReturnFacts, facts_of
from core.cases import Notice, ReturnCase, TimelineEntry
from core.events import Buyer
from core.notices import NoticeToDeliver


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class PendingWrites:
    """Core INSERTs held until the transaction commits (or flushes), then sent one multi-row INSERT per table.

    Like the ORM's unit of work, nothing is written before the commit, so a concurrent duplicate fails
    there (the intake's retry loop looks again); unlike it, no ORM objects are built, and all rows of
    one table go in one statement, in the order they were added (cases before the rows that refer
    to them). Each statement is a round trip, which is what a webhook and a case event cost most.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._rows: list[tuple[Any, dict[str, Any]]] = []
        event.listen(session, "before_commit", self.write)

    def add(self, table: Any, row: dict[str, Any]) -> None:
        self._rows.append((table, row))

    def write(self, _session: Session | None = None) -> None:
        if not self._rows:
            return
        self.session.flush()  # ORM rows first: pending rows may refer to them, never the other way round
        rows, self._rows = self._rows, []
        while rows:
            table = rows[0][0]
            same = [row for t, row in rows if t is table]
            rows = [(t, row) for t, row in rows if t is not table]
            self.session.execute(insert(table), same)

    def discard(self) -> None:
        """Forget the rows not written yet: their savepoint was rolled back."""
        self._rows = []


class CaseRepository:
    def __init__(self, session: Session, pending: PendingWrites | None = None) -> None:
        self.session = session
        self.pending = pending
        self._loaded: dict[str, tuple[int, int, int]] = {}  # case id -> (version, timeline length, notices)
        # case id -> ((order, its JSON), (return, its JSON), (items, their JSON)) as last read or written: the parts
        # are frozen, so an unchanged one (the same object) is saved without another marshmallow dump.
        self._stored: dict[str, tuple[tuple[Any, Any], ...]] = {}
        # (marketplace, return id) -> case id or None, for this transaction (`prefetch_ids`), kept current by
        # `add` and `rekey`, so a group of webhooks asks once and sees the cases it opens itself.
        self._ids: dict[tuple[str, str], str | None] = {}
        # case id -> its `return_facts` row as read with the case (None: it has none), for the next save
        self._facts: dict[str, dict[str, Any] | None] = {}

    def prefetch_ids(self, marketplace: str, return_ids: list[str]) -> None:
        """Ask once which of these returns have a case, so that `find_id` answers them without a query each.

        Within this transaction: a case another transaction opens later is not seen, but the unique
        (marketplace, return id) refuses the second case at commit (the caller looks again).
        """
        wanted = sorted({r for r in return_ids if (marketplace, r) not in self._ids})
        if not wanted:
            return
        rows = self.session.execute(
            select(CaseRow.return_id, CaseRow.id).where(
                CaseRow.marketplace == marketplace, CaseRow.return_id.in_(wanted)
            )
        ).all()
        found = {return_id: case_id for return_id, case_id in rows}
        self._ids.update({(marketplace, r): found.get(r) for r in wanted})

    def get(self, case_id: str, for_update: bool = False) -> ReturnCase | None:
        if self.pending is not None:
            self.pending.write()  # a case read back in its own transaction sees its new timeline and notices
        self.session.flush()  # and a case added as an ORM row (a Core select does not autoflush)
        stmt = (
            select(_CASES, *_FACT_COLUMNS)
            .outerjoin(_FACTS, _FACTS.c.case_id == _CASES.c.id)
            .where(_CASES.c.id == case_id)
        )
        if for_update:
            stmt = stmt.with_for_update(of=_CASES)
        row = self.session.execute(stmt).first()
        return self._to_case(row._mapping) if row is not None else None

    def notice_of(self, case_id: str, kind: str) -> NoticeToDeliver | None:
        """What delivering a notice needs of its case, in one query and without loading (and marshmallow-loading)
        the whole case; None when there is no such case (`at` None when it has no such notice)."""
        if self.pending is not None:
            self.pending.write()
        n = NoticeRow.__table__.c
        found = self.session.execute(
            select(CaseRow.id, CaseRow.created_at, CaseRow.order, n.at, n.context)
            .outerjoin(NoticeRow, (n.case_id == CaseRow.id) & (n.kind == kind))
            .where(CaseRow.id == case_id)
        ).first()
        if found is None:
            return None
        row_id, created_at, order, at, context = found
        stored = (order or {}).get("buyer")  # our own dump of the order (ORDER_SCHEMA): no need to validate it again
        buyer = Buyer(**{f.name: stored.get(f.name) for f in dataclass_fields(Buyer)}) if stored else None
        return NoticeToDeliver(row_id, created_at, buyer, kind, at, context or {})

    def find_id(self, marketplace: str, return_id: str) -> str | None:
        if (marketplace, return_id) in self._ids:
            return self._ids[marketplace, return_id]
        return self.session.scalar(
            select(CaseRow.id).where(CaseRow.marketplace == marketplace, CaseRow.return_id == return_id)
        )

    def find_id_by_order(self, marketplace: str, order_id: str) -> str | None:
        """The oldest case of an order (an order's page that a return has joined, or the order's first return)."""
        return self.session.scalar(
            select(CaseRow.id)
            .where(CaseRow.marketplace == marketplace, CaseRow.order_id == order_id)
            .order_by(CaseRow.created_at, CaseRow.id)
            .limit(1)
        )

    def rekey(self, case_id: str, return_id: str) -> None:
        """An order's page joined by its first return is found by that return's id from now on."""
        self.session.execute(update(CaseRow).where(CaseRow.id == case_id).values(return_id=return_id))
        for key in [key for key in self._ids if key[1] == return_id]:
            del self._ids[key]  # asked before under the new id: ask again
        for marketplace, old in [key for key, found in self._ids.items() if found == case_id]:
            self._ids[marketplace, old] = None
            self._ids[marketplace, return_id] = case_id

    def add(
        self, case: ReturnCase, now: datetime, dumped_event: dict[str, Any] | None = None, pending: Any = None
    ) -> None:
        """Insert a new case at commit, which raises IntegrityError when the same return was opened concurrently.

        A case opened by a webhook has no timeline, notices or timers yet, so it is one Core INSERT
        sent with the webhook's other rows (`pending`), and its order, return and items are those of
        the event: `dumped_event` (the canonical dump the intake made for its message) is reused.
        """
        parts = self._parts(case, dumped_event)
        (_, order), (_, return_), (_, items) = parts
        values = {
            "id": case.id, "marketplace": case.marketplace, "order_id": case.order_id, "return_id": case.return_id,
            "state": case.state, "needs_attention": case.needs_attention, "order": order, "return": return_,
            "items": items, "facts": facts_json(case), "created_at": case.created_at or now, "updated_at": now,
            "version": 1,
        }  # fmt: skip
        if pending is None or case.timeline or case.notices or case.timers:
            return_json = values.pop("return")
            self.session.add(CaseRow(**values, return_=return_json))
        else:
            pending.add(CaseRow.__table__, values)
        self._loaded[case.id] = (1, 0, 0)
        self._stored[case.id] = parts
        self._ids[case.marketplace, case.return_id] = case.id
        self._append_children(case)
        self._sync_timers(case, new=True)
        self._sync_facts(case, now, new=True)

    def _parts(self, case: ReturnCase, dumped_event: dict[str, Any] | None = None) -> tuple[tuple[Any, Any], ...]:
        """Each of order, return and items with its JSON: reused when unchanged since read, else dumped once."""
        if dumped_event is not None:
            return (
                (case.order, dumped_event["order"]),
                (case.return_, dumped_event["return"]),
                (case.items, dumped_event.get("items", [])),
            )
        stored = self._stored.get(case.id)
        dumps = ((case.order, ORDER_SCHEMA), (case.return_, RETURN_SCHEMA), (case.items, ITEMS_SCHEMA))
        return tuple(
            stored[i] if stored is not None and stored[i][0] is value else (value, schema.dump(value))
            for i, (value, schema) in enumerate(dumps)
        )

    def save(self, case: ReturnCase, now: datetime) -> None:
        version, _, _ = self._loaded[case.id]
        parts = self._parts(case)
        (_, order), (_, return_), (_, items) = parts
        result = self.session.execute(
            update(CaseRow)
            .where(CaseRow.id == case.id, CaseRow.version == version)
            .values(
                state=case.state,
                order_id=case.order_id,
                needs_attention=case.needs_attention,
                order=order,
                return_=return_,
                items=items,
                facts=facts_json(case),
                updated_at=now,
                version=version + 1,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult; Session.execute declares Result
            raise ConcurrentUpdate(f"case {case.id} changed since it was loaded")
        self._stored[case.id] = parts
        self._append_children(case)
        self._sync_timers(case)
        self._sync_facts(case, now)
        _, timeline_len, notices_len = self._loaded[case.id]
        self._loaded[case.id] = (version + 1, timeline_len, notices_len)

    def _append_children(self, case: ReturnCase) -> None:
        """New timeline entries and notices: rows of the transaction's multi-row INSERTs (one per table)."""
        version, timeline_len, notices_len = self._loaded[case.id]
        timeline = [
            {"case_id": case.id, "seq": seq, "at": entry.at, "kind": entry.kind, "name": entry.name,
             "detail": entry.detail or {}}
            for seq, entry in enumerate(case.timeline[timeline_len:], start=timeline_len)
        ]  # fmt: skip
        notices = [
            {"case_id": case.id, "kind": notice.kind, "at": notice.at, "context": notice.context or {}}
            for notice in case.notices[notices_len:]
        ]
        if self.pending is None:
            self.session.add_all([TimelineRow(**row) for row in timeline] + [NoticeRow(**row) for row in notices])
        else:
            for row in timeline:
                self.pending.add(TimelineRow.__table__, row)
            for row in notices:
                self.pending.add(NoticeRow.__table__, row)
        self._loaded[case.id] = (version, len(case.timeline), len(case.notices))

    def _sync_timers(self, case: ReturnCase, new: bool = False) -> None:
        """`case_timers` mirrors the case's own timers, in the transaction that saves the case.

        A new case has no rows yet: asking would cost a query and autoflush the case's insert early.
        Core statements: a removed timer is deleted and a moved one updated by (case, name), a new one
        is a row of the transaction's INSERTs at commit."""
        t = _TIMERS.c
        if not new and self.pending is not None:
            self.pending.write()  # a timer added earlier in this transaction is seen
        rows = (
            {}
            if new
            else {
                name: (due, fired, cancelled)
                for name, due, fired, cancelled in self.session.execute(
                    select(t.name, t.due_at, t.fired_at, t.cancelled).where(t.case_id == case.id)
                )
            }
        )
        gone = [name for name in rows if name not in case.timers]
        if gone:
            self.session.execute(delete(CaseTimerRow).where(t.case_id == case.id, t.name.in_(gone)))
        for name, timer in case.timers.items():
            values = {"due_at": timer.due_at, "fired_at": timer.fired_at, "cancelled": timer.cancelled}
            stored = rows.get(name)
            if stored is None:
                row = {"case_id": case.id, "name": name, **values}
                if self.pending is None:
                    self.session.execute(insert(CaseTimerRow), [row])
                else:
                    self.pending.add(_TIMERS, row)
            elif stored != tuple(values.values()):
                self.session.execute(update(CaseTimerRow).where(t.case_id == case.id, t.name == name).values(values))

    def _children(self, case_id: str) -> tuple[list[TimelineEntry], list[Notice]]:
        """Timeline (by seq) and notices (by id) in one round trip: every case read wants both."""
        t, n = TimelineRow.__table__.c, NoticeRow.__table__.c
        query = union_all(
            select(literal(0).label("part"), t.seq.label("pos"), t.at, t.kind, t.name, t.detail.label("data"))
            .where(t.case_id == case_id),
            select(literal(1), n.id, n.at, n.kind, null(), n.context).where(n.case_id == case_id),
        )  # fmt: skip
        sub = query.subquery()
        timeline: list[TimelineEntry] = []
        notices: list[Notice] = []
        for part, _pos, at, kind, name, data in self.session.execute(select(sub).order_by(sub.c.part, sub.c.pos)):
            if part == 0:
                timeline.append(TimelineEntry(at, kind, name, data or {}))
            else:
                notices.append(Notice(kind, at, data or {}))
        return timeline, notices

    def _sync_facts(self, case: ReturnCase, now: datetime, new: bool = False) -> None:
        """`return_facts` follows the case in the transaction that saves it (core.analytics.facts_of).

        Whether the case is its order's first is decided at its first save after `add`, not in `add`:
        a query there would begin the intake's transaction early (on SQLite, take the write lock).
        """
        row = None if new else self._stored_facts(case.id)
        self._facts.pop(case.id, None)  # written below: a later save in this transaction reads it again
        facts = facts_of(case, now, _facts_from_row(row) if row is not None else None)
        values = _facts_columns(facts)
        if new:
            if self.pending is not None:  # after the case's own INSERT, which is pending too
                self.pending.add(_FACTS, {**values, "first_of_order": None})
            else:
                self.session.add(ReturnFactsRow(**values, first_of_order=None))
            return
        if row is None:  # a case stored before the analytics existed
            values["first_of_order"] = self._first_of_order(case)
            self.session.execute(insert(ReturnFactsRow), [values])
            return
        if row["first_of_order"] is None:
            values["first_of_order"] = self._first_of_order(case)
        changed = {name: value for name, value in values.items() if row[name] != value}
        if changed:
            self.session.execute(update(ReturnFactsRow).where(_FACTS.c.case_id == case.id).values(changed))

    def _stored_facts(self, case_id: str) -> dict[str, Any] | None:
        """The case's facts row as read with the case (`get`), else read now."""
        if case_id in self._facts:
            return self._facts[case_id]
        if self.pending is not None:
            self.pending.write()  # a case added and saved in one transaction: its facts row is still pending
        found = self.session.execute(select(_FACTS).where(_FACTS.c.case_id == case_id)).first()
        return dict(found._mapping) if found is not None else None

    def _first_of_order(self, case: ReturnCase) -> bool:
        """No other case of the same order counts it already (a delivery report and its return are one order)."""
        counted = self.session.scalar(
            select(ReturnFactsRow.case_id)
            .where(
                ReturnFactsRow.order_id == case.order_id,
                ReturnFactsRow.marketplace == case.marketplace,
                ReturnFactsRow.case_id != case.id,
                ReturnFactsRow.first_of_order.is_(True),
            )
            .limit(1)
        )
        return counted is None

    def without_facts(self, limit: int) -> list[str]:
        """Ids of cases stored before `return_facts` existed (migration 0013), oldest first."""
        missing = ~select(ReturnFactsRow.case_id).where(ReturnFactsRow.case_id == CaseRow.id).exists()
        return list(self.session.scalars(select(CaseRow.id).where(missing).order_by(CaseRow.created_at).limit(limit)))

    def record_facts(self, case: ReturnCase, now: datetime) -> None:
        """Write the analytics row of a case loaded by `get` (a backfill; saving the case does this itself)."""
        self._sync_facts(case, now)

    def _to_case(self, row: Mapping[Any, Any]) -> ReturnCase:
        """The case from its columns (and its facts row's, kept for the save), without an ORM object."""
        case_id, order_json, return_json, items_json = row["id"], row["order"], row["return"], row["items"] or []
        timeline, notices = self._children(case_id)
        case = ReturnCase(
            id=case_id,
            marketplace=row["marketplace"],
            order=ORDER_SCHEMA.load(order_json),
            return_=RETURN_SCHEMA.load(return_json),
            items=tuple(ITEMS_SCHEMA.load(items_json)),
            state=row["state"],
            needs_attention=row["needs_attention"],
            timeline=timeline,
            notices=notices,
            created_at=row["created_at"],
            **typed_parts(row["facts"] or {}),
        )
        self._loaded[case_id] = (row["version"], len(timeline), len(notices))
        self._stored[case_id] = ((case.order, order_json), (case.return_, return_json), (case.items, items_json))
        stored_facts = {c.name: row[f"facts_{c.name}"] for c in _FACTS.c}
        self._facts[case_id] = stored_facts if stored_facts["case_id"] is not None else None
        return case

    def list(
        self,
        state: str | None = None,
        marketplace: str | None = None,
        needs_attention: bool | None = None,
        order_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        return_id: str | None = None,
        case_ids: list[str] | None = None,
    ) -> tuple[list[CaseRow], int]:
        stmt = select(CaseRow)
        if return_id:
            stmt = stmt.where(CaseRow.return_id == return_id)
        if case_ids is not None:
            stmt = stmt.where(CaseRow.id.in_(case_ids))
        if state:
            stmt = stmt.where(CaseRow.state == state)
        if marketplace:
            stmt = stmt.where(CaseRow.marketplace == marketplace)
        if needs_attention is not None:
            stmt = stmt.where(CaseRow.needs_attention == needs_attention)
        if order_id:
            stmt = stmt.where(CaseRow.order_id == order_id)
        count = self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = list(self.session.scalars(stmt.order_by(CaseRow.updated_at.desc()).limit(limit).offset(offset)))
        return rows, count


_FACT_FIELDS = tuple(ReturnFacts.__dataclass_fields__)
_CASES = CaseRow.__table__
_FACTS = ReturnFactsRow.__table__
_TIMERS = CaseTimerRow.__table__
# A case's facts row beside the case's columns in one select, each named `facts_<column>`.
_FACT_COLUMNS = tuple(column.label(f"facts_{column.name}") for column in _FACTS.c)


def _facts_columns(facts: ReturnFacts) -> dict[str, Any]:
    return {
        **{name: getattr(facts, name) for name in _FACT_FIELDS},
        "refund_minutes": facts.refund_minutes,
        "refund_late": facts.refund_late,
        "reason_changed": facts.reason_changed,
    }


def _facts_from_row(row: Mapping[str, Any]) -> ReturnFacts:
    return ReturnFacts(**{name: row[name] for name in _FACT_FIELDS})


@dataclass(frozen=True)
class Receipt:
    event_id: str
    case_id: str


class ReceivedEvents:
    """The webhook inbox: what we accepted, so that a resend gets the same answer."""

    def __init__(self, session: Session, pending: PendingWrites) -> None:
        self.session = session
        self.pending = pending
        # (marketplace, "event" | "delivery", id) -> receipt or None, for this transaction (`prefetch`), kept
        # current by `add`, so a group of webhooks asks once and sees the receipts it adds itself.
        self._known: dict[tuple[str, str, str], Receipt | None] = {}

    def prefetch(self, marketplace: str, marketplace_event_ids: list[str], delivery_ids: list[str]) -> None:
        """One indexed lookup for many deliveries, so that `find` answers them without a query each.

        Within this transaction: a receipt another transaction adds later is not seen here, but the unique
        keys refuse the second copy at commit (the caller looks again).
        """
        events = sorted({e for e in marketplace_event_ids if (marketplace, "event", e) not in self._known})
        deliveries = sorted({d for d in delivery_ids if (marketplace, "delivery", d) not in self._known})
        if not events and not deliveries:
            return
        r = ReceivedEventRow
        rows = self.session.execute(
            select(r.event_id, r.case_id, r.marketplace_event_id, r.delivery_id).where(
                r.marketplace == marketplace, or_(r.marketplace_event_id.in_(events), r.delivery_id.in_(deliveries))
            )
        ).all()
        self._known.update({(marketplace, "event", e): None for e in events})
        self._known.update({(marketplace, "delivery", d): None for d in deliveries})
        for row in rows:
            self._remember(marketplace, Receipt(row.event_id, row.case_id), row.marketplace_event_id, row.delivery_id)

    def _remember(self, marketplace: str, receipt: Receipt, marketplace_event_id: str, delivery_id: str | None) -> None:
        self._known[marketplace, "event", marketplace_event_id] = receipt
        if delivery_id:
            self._known[marketplace, "delivery", delivery_id] = receipt

    def find(self, marketplace: str, marketplace_event_id: str, delivery_id: str | None) -> Receipt | None:
        """One indexed lookup for both keys (a match on the event id wins), reading only the two ids.

        Every webhook asks this before anything else, so it reads no payload and costs one round trip
        (none when `prefetch` asked already).
        """
        keys = [(marketplace, "event", marketplace_event_id)]
        if delivery_id:
            keys.append((marketplace, "delivery", delivery_id))
        if all(key in self._known for key in keys):
            return next((self._known[key] for key in keys if self._known[key] is not None), None)
        condition = ReceivedEventRow.marketplace_event_id == marketplace_event_id
        if delivery_id:
            condition = or_(condition, ReceivedEventRow.delivery_id == delivery_id)
        rows = self.session.execute(
            select(ReceivedEventRow.event_id, ReceivedEventRow.case_id, ReceivedEventRow.marketplace_event_id)
            .where(ReceivedEventRow.marketplace == marketplace, condition)
            .limit(2)
        ).all()
        if not rows:
            return None
        row = next((r for r in rows if r.marketplace_event_id == marketplace_event_id), rows[0])
        return Receipt(row.event_id, row.case_id)

    def payload(self, marketplace: str, marketplace_event_id: str) -> dict[str, Any] | None:
        """The canonical event as accepted (the buyer page's withdrawal receipt reads it back)."""
        return self.session.scalar(
            select(ReceivedEventRow.payload).where(
                ReceivedEventRow.marketplace == marketplace,
                ReceivedEventRow.marketplace_event_id == marketplace_event_id,
            )
        )

    def earlier_unhandled(
        self, case_id: str, event_id: str, handled_by: tuple[str, ...], handled_here: Collection[str] = ()
    ) -> str | None:
        """An event of the same case received before `event_id` that none of `handled_by` has handled yet.

        `handled_here`: events handled earlier in this transaction whose inbox marks are not written yet
        (a batch marks them all in one INSERT at its end)."""
        received_at = (
            select(ReceivedEventRow.received_at).where(ReceivedEventRow.event_id == event_id).scalar_subquery()
        )
        handled = (
            select(ProcessedMessageRow.message_id)
            .where(
                ProcessedMessageRow.consumer.in_(handled_by),
                ProcessedMessageRow.message_id == ReceivedEventRow.event_id,
            )
            .exists()
        )
        query = select(ReceivedEventRow.event_id).where(
            ReceivedEventRow.case_id == case_id, ReceivedEventRow.received_at < received_at, ~handled
        )
        if handled_here:
            query = query.where(ReceivedEventRow.event_id.not_in(list(handled_here)))
        return self.session.scalar(query.order_by(ReceivedEventRow.received_at).limit(1))

    def add(self, receipt: Receipt, marketplace: str, marketplace_event_id: str, delivery_id: str | None,
            event_type: str, payload: dict[str, Any], now: datetime) -> None:  # fmt: skip
        """One row of the webhook's multi-row INSERTs at commit: a resend racing this one fails there."""
        self._remember(marketplace, receipt, marketplace_event_id, delivery_id)
        self.pending.add(
            ReceivedEventRow.__table__,
            {
                "event_id": receipt.event_id,
                "marketplace": marketplace,
                "marketplace_event_id": marketplace_event_id,
                "delivery_id": delivery_id,
                "case_id": receipt.case_id,
                "type": event_type,
                "received_at": now,
                "payload": payload,
            },
        )


class ProcessedMessages:
    """The consumers' inbox (microservices.io "Idempotent Consumer"): one effect per (consumer, message id)."""

    def __init__(self, session: Session, pending: PendingWrites | None = None) -> None:
        self.session = session
        self.pending = pending

    def seen(self, consumer: str, message_id: str) -> bool:
        if self.pending is not None:
            self.pending.write()  # a mark added in this transaction counts
        p = ProcessedMessageRow
        found = self.session.execute(select(p.message_id).where(p.consumer == consumer, p.message_id == message_id))
        return found.first() is not None

    def seen_among(self, consumer: str, message_ids: Collection[str]) -> set[str]:
        """Which of a batch's messages this consumer has handled already: one query for the batch."""
        if not message_ids:
            return set()
        return set(
            self.session.scalars(
                select(ProcessedMessageRow.message_id).where(
                    ProcessedMessageRow.consumer == consumer, ProcessedMessageRow.message_id.in_(list(message_ids))
                )
            )
        )

    def mark_all(self, consumer: str, message_ids: Collection[str], now: datetime) -> None:
        """A batch's marks, written at commit as one multi-row INSERT."""
        for message_id in message_ids:
            row = {"consumer": consumer, "message_id": message_id, "processed_at": now}
            if self.pending is None:
                self.session.add(ProcessedMessageRow(**row))
            else:
                self.pending.add(ProcessedMessageRow.__table__, row)

    def mark(self, consumer: str, message_id: str, now: datetime) -> None:
        """Inserted at commit with the transaction's other rows: a concurrent mark fails it (`DuplicateKey`)."""
        self.mark_all(consumer, [message_id], now)

    def mark_once(self, consumer: str, message_id: str, now: datetime) -> None:
        if not self.seen(consumer, message_id):
            self.mark(consumer, message_id, now)


class Outbox:
    """Messages to publish once this transaction commits (transactional outbox).

    Rows go out with the transaction's other pending rows, one multi-row INSERT at commit, not one
    INSERT per message as ORM autoflush would: a case event emits several commands.
    """

    def __init__(self, session: Session, pending: PendingWrites) -> None:
        self.session = session
        self.pending = pending
        self._added: set[str] = set()
        self._stored: dict[str, bool] = {}  # message id -> already in the table (from `prefetch`)

    def add(
        self,
        exchange: str,
        routing_key: str,
        body: dict[str, Any],
        now: datetime,
        message_id: str | None = None,
        correlation_id: str | None = None,
        headers: dict[str, Any] | None = None,
        available_at: datetime | None = None,
    ) -> str:
        message_id = message_id or new_id("msg")
        self.pending.add(
            OutboxRow.__table__,
            {
                "message_id": message_id,
                "exchange": exchange,
                "routing_key": routing_key,
                "body": body,
                "headers": headers or {},
                "correlation_id": correlation_id,
                "created_at": now,
                "available_at": available_at or now,
                "attempts": 0,
            },
        )
        self._added.add(message_id)
        return message_id

    def has(self, message_id: str) -> bool:
        if message_id in self._added:
            return True
        if message_id in self._stored:
            return self._stored[message_id]
        return self.session.scalar(select(OutboxRow.id).where(OutboxRow.message_id == message_id)) is not None

    def prefetch(self, message_ids: list[str]) -> None:
        """Ask once which of these messages are stored, so that `has` answers them without a query each.

        Within the transaction that asked: a row another transaction commits later is not seen here,
        but its unique `message_id` still refuses the second copy at commit (the message is retried).
        """
        ids = [m for m in message_ids if m not in self._added and m not in self._stored]
        if not ids:
            return
        found = set(self.session.scalars(select(OutboxRow.message_id).where(OutboxRow.message_id.in_(ids))))
        self._stored.update({m: m in found for m in ids})


@dataclass(frozen=True)
class DueTimer:
    case_id: str
    name: str
    due_at: datetime


class CaseTimers:
    """The worker's view of `case_timers`: what is due, and a claim on one timer for this transaction."""

    def __init__(self, session: Session, skip_locked: bool) -> None:
        self.session = session
        self.skip_locked = skip_locked

    def _pending(self, now: datetime) -> Select[int, str, str, datetime]:
        """Columns, not ORM rows: the case's save changes these rows with Core statements."""
        return select(CaseTimerRow.id, CaseTimerRow.case_id, CaseTimerRow.name, CaseTimerRow.due_at).where(
            CaseTimerRow.fired_at.is_(None), CaseTimerRow.cancelled.is_(False), CaseTimerRow.due_at <= now
        )

    def due(self, now: datetime, limit: int) -> list[DueTimer]:
        rows = self.session.execute(self._pending(now).order_by(CaseTimerRow.due_at, CaseTimerRow.id).limit(limit))
        return [DueTimer(r.case_id, r.name, r.due_at) for r in rows]

    def claim(self, timer: DueTimer, now: datetime) -> bool:
        """Lock the timer's row if it is still due; another worker holding it makes this False (SKIP LOCKED)."""
        stmt = self._pending(now).where(CaseTimerRow.case_id == timer.case_id, CaseTimerRow.name == timer.name)
        if self.skip_locked:
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.execute(stmt).first() is not None

    def next_due(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(CaseTimerRow.due_at)).where(
                CaseTimerRow.fired_at.is_(None), CaseTimerRow.cancelled.is_(False)
            )
        )


def storage_error(exc: BaseException) -> Exception | None:
    """The ports' exception for a driver's, or None when the driver's error is not one the service handles."""
    if isinstance(exc, IntegrityError):
        return DuplicateKey(str(exc.orig))
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ConnectionLost(str(exc.orig))
    return None


class UnitOfWork:
    """One database transaction; leave the `with` block without `commit()` and everything is rolled back.

    A unique key violated or a connection lost, whether at a flush inside the block or at `commit`,
    leaves as `DuplicateKey` or `ConnectionLost` (chained to the driver's exception).
    """

    def __init__(self, session_factory: sessionmaker[Session], skip_locked: bool = False) -> None:
        self._factory = session_factory
        self._skip_locked = skip_locked

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.pending = PendingWrites(self.session)
        self._open_repositories()
        return self

    def _open_repositories(self) -> None:
        """Fresh repositories over the session: what they cache (versions read, outbox ids) starts empty."""
        self.cases = CaseRepository(self.session, self.pending)
        self.received = ReceivedEvents(self.session, self.pending)
        self.processed = ProcessedMessages(self.session, self.pending)
        self.outbox = Outbox(self.session, self.pending)
        self.shipments = Shipments(self.session, self.pending)
        self.notice_deliveries = NoticeDeliveries(self.session, self.pending)
        self.timers = CaseTimers(self.session, self._skip_locked)
        self.scans = TrackingScans(self.session, self.pending)
        self.customs_claims = CustomsClaims(self.session, self.pending)
        self.effects = OutboundEffects(self.session, self.pending)
        self.fx_ledger = FxLedger(self.session)
        self.analytics = AnalyticsStore(self.session)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """One message of a batch: its writes are kept if the block ends normally, else only they are undone.

        Rows held for the commit are written first, so what rolls back is this block's alone; on rollback
        the repositories forget what they cached (a case's version, outbox ids), which may be undone too.
        """
        self.flush()
        nested = self.session.begin_nested()
        try:
            yield
            self.flush()
        except BaseException:
            self.pending.discard()
            if nested.is_active:
                nested.rollback()
            self.session.expire_all()
            self._open_repositories()
            raise
        nested.commit()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
        translated = storage_error(exc) if exc is not None else None
        if translated is not None:
            raise translated from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except DBAPIError as exc:
            translated = storage_error(exc)
            if translated is None:
                raise
            raise translated from exc

    def flush(self) -> None:
        try:
            self.pending.write()
            self.session.flush()
        except DBAPIError as exc:
            translated = storage_error(exc)
            if translated is None:
                raise
            raise translated from exc


__all__ = ["ConcurrentUpdate", "ConnectionLost", "DueTimer", "DuplicateKey", "Receipt", "UnitOfWork", "new_id"]
