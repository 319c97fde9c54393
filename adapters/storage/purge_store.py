"""Where a case's personal data is kept, for service.privacy's purge: every table that copies it.

The service decides what is personal (`Blanking`); this module knows the tables and columns and
writes the blanked values, all in one transaction per run.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Text, cast, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.models import (
    CaseRow,
    NoticeDeliveryRow,
    NoticeRow,
    OutboundEffectRow,
    OutboxRow,
    ReceivedEventRow,
    ReturnFactsRow,
    ShipmentRow,
    TimelineRow,
)

PURGED_PAYLOAD = {"purged": True}
PURGED_TEXT = json.dumps(PURGED_PAYLOAD)  # how SQLAlchemy's JSON type stores it, on SQLite and PostgreSQL


@dataclass(frozen=True)
class StoredParts:
    """A closed case's own documents, as stored (JSON), for the service to blank."""

    case_id: str
    order: Any
    return_: Any
    items: Any
    facts: dict[str, Any]


class Blanking(Protocol):
    """One case's blanking, made by the service from its stored parts."""

    @property
    def order(self) -> Any: ...

    @property
    def return_(self) -> Any: ...

    @property
    def items(self) -> Any: ...

    @property
    def facts(self) -> dict[str, Any]: ...

    def value(self, value: Any) -> Any: ...

    def text(self, value: str | None) -> str | None: ...


@dataclass(frozen=True)
class PurgeCounts:
    cases: int
    payloads: int
    shipments: int


class PurgeStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def purge(
        self,
        final_states: frozenset[str],
        closed_before: datetime,
        batch: int,
        blanking: Callable[[StoredParts], Blanking | None],
    ) -> PurgeCounts:
        """Blank up to `batch` cases closed before `closed_before` (those `blanking` answers for) with every copy
        of their data, and every webhook payload received before then. A case changed meanwhile is left for the
        next run (its version moved)."""
        cases = shipments = 0
        with self.session_factory() as session:
            rows = session.scalars(
                select(CaseRow)
                .where(CaseRow.state.in_(final_states), CaseRow.updated_at < closed_before)
                .order_by(CaseRow.updated_at)
                .limit(batch * 4)
            )
            for row in rows:
                blank = blanking(StoredParts(row.id, row.order, row.return_, row.items, dict(row.facts or {})))
                if blank is None:
                    continue
                values = {"order": blank.order, "return_": blank.return_, "items": blank.items, "facts": blank.facts,
                          "version": row.version + 1}  # fmt: skip
                # An UPDATE's result is a CursorResult (rowcount); Session.execute is typed for any statement.
                changed = typing.cast(
                    "CursorResult[Any]",
                    session.execute(
                        update(CaseRow)
                        .where(CaseRow.id == row.id, CaseRow.version == row.version)
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    ),
                )
                if changed.rowcount != 1:
                    continue  # changed meanwhile: the next round looks again
                cases += 1
                # The analytics' buyer pseudonym goes with the buyer's data; the counts stay.
                session.execute(update(ReturnFactsRow).where(ReturnFactsRow.case_id == row.id).values(buyer_key=None))
                shipments += _blank_copies(session, row.id, blank)
                if cases >= batch:
                    break
            payloads = typing.cast(
                "CursorResult[Any]",
                session.execute(
                    update(ReceivedEventRow)
                    .where(ReceivedEventRow.received_at < closed_before,
                           cast(ReceivedEventRow.payload, Text) != PURGED_TEXT)
                    .values(payload=PURGED_PAYLOAD)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount  # fmt: skip
            session.commit()
        return PurgeCounts(cases, payloads or 0, shipments)


def _blank_copies(session: Session, case_id: str, blank: Blanking) -> int:
    """Every other copy of one case's personal data; the number of carrier bookings blanked."""

    def scrub(value: Any) -> Any:
        return blank.value(value) if value is not None else None

    shipments = 0
    for shipment in session.scalars(select(ShipmentRow).where(ShipmentRow.case_id == case_id)):
        shipment.label_pdf_base64 = None
        shipments += 1
    # Every request to another system (bookings, notices, decisions, filings): what was sent, answered, or failed.
    for effect in session.scalars(select(OutboundEffectRow).where(OutboundEffectRow.case_id == case_id)):
        effect.request, effect.result = scrub(effect.request), scrub(effect.result)
        effect.error = blank.text(effect.error)
    for delivery in session.scalars(select(NoticeDeliveryRow).where(NoticeDeliveryRow.case_id == case_id)):
        # The buyer's address and the message as sent to it (To: header, payload `to`).
        delivery.recipient, delivery.message = None, PURGED_PAYLOAD
    for notice in session.scalars(select(NoticeRow).where(NoticeRow.case_id == case_id)):
        notice.context = scrub(notice.context or {})
    for entry in session.scalars(select(TimelineRow).where(TimelineRow.case_id == case_id)):
        entry.detail = scrub(entry.detail or {})  # operator notes, carrier answers, failure texts
    session.execute(update(ReceivedEventRow).where(ReceivedEventRow.case_id == case_id).values(payload=PURGED_PAYLOAD))
    # The outbox has no case column: its messages name the case in their body. Published ones are history
    # (blanked); one still waiting keeps its shape, without the personal values.
    for message in session.scalars(select(OutboxRow).where(cast(OutboxRow.body, Text).contains(case_id))):
        message.body = {**PURGED_PAYLOAD, "case_id": case_id} if message.published_at else scrub(message.body)
        message.last_error = blank.text(message.last_error)
    return shipments
