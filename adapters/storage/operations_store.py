"""The ops console's questions to the database (service.operations asks them; it builds no query).

Each answer is plain data: counts, samples, `OpenCase` and `Failure` values, never an ORM row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adapters.storage.case_record import stored_deadlines, stored_timers
from adapters.storage.models import (
    CaseRow,
    OutboundEffectRow,
    OutboxRow,
    ProcessedMessageRow,
    QueueDepthSampleRow,
    ScheduledRetryRow,
)
from adapters.storage.ports import StorageError
from core.case_parts import Timer
from core.effects import EffectKind, status_label


@dataclass(frozen=True)
class OpenCase:
    """A case not yet in a final state, with its policy deadlines still to meet and its timers.

    `deadlines`: when each is due (one already met is left out); `timers`: None for a case saved before it kept
    timers, which then shows every past deadline (service.operations.still_pending).
    """

    case_id: str
    marketplace: str
    order_id: str
    return_id: str
    state: str
    deadlines: dict[str, datetime]
    timers: dict[str, Timer] | None


@dataclass(frozen=True)
class Failure:
    """Something an operator must look at: a booking in doubt, a message not published, a flagged case."""

    at: datetime
    kind: str
    case_id: str | None
    detail: str | None


class OperationsStore:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def handled_since(self, since: datetime) -> dict[str, int]:
        """Messages each consumer marked handled since `since`, by consumer."""
        with self.session_factory() as session:
            return {
                consumer: count
                for consumer, count in session.execute(
                    select(ProcessedMessageRow.consumer, func.count())
                    .where(ProcessedMessageRow.processed_at >= since)
                    .group_by(ProcessedMessageRow.consumer)
                ).all()
            }

    def parked_retries(self) -> dict[str, int]:
        """Deliveries waiting in the retry schedule, by work queue."""
        with self.session_factory() as session:
            return dict(
                session.execute(select(ScheduledRetryRow.queue, func.count()).group_by(ScheduledRetryRow.queue)).all()
            )

    def record_depths(self, depths: dict[str, int], at: datetime, forget_before: datetime) -> None:
        """One sample per queue, and samples older than `forget_before` deleted; StorageError if not written."""
        try:
            with self.session_factory() as session:
                session.add_all(QueueDepthSampleRow(queue=q, at=at, messages=m) for q, m in depths.items())
                session.execute(delete(QueueDepthSampleRow).where(QueueDepthSampleRow.at < forget_before))
                session.commit()
        except SQLAlchemyError as exc:
            raise StorageError(type(exc).__name__) from exc

    def depth_history(self, since: datetime) -> dict[str, list[tuple[datetime, int]]]:
        history: dict[str, list[tuple[datetime, int]]] = {}
        with self.session_factory() as session:
            for row in session.execute(
                select(QueueDepthSampleRow.queue, QueueDepthSampleRow.at, QueueDepthSampleRow.messages)
                .where(QueueDepthSampleRow.at >= since)
                .order_by(QueueDepthSampleRow.queue, QueueDepthSampleRow.at)
            ):
                history.setdefault(row.queue, []).append((row.at, row.messages))
        return history

    def is_marked(self, consumer: str, message_id: str) -> bool:
        with self.session_factory() as session:
            return session.get(ProcessedMessageRow, {"consumer": consumer, "message_id": message_id}) is not None

    def mark(self, consumer: str, message_id: str, now: datetime) -> None:
        """Mark the message handled by `consumer`, once."""
        with self.session_factory() as session:
            key = {"consumer": consumer, "message_id": message_id}
            if session.get(ProcessedMessageRow, key) is None:
                session.add(ProcessedMessageRow(**key, processed_at=now))
                session.commit()

    def unmark(self, consumer: str, message_ids: list[str]) -> None:
        with self.session_factory() as session:
            session.execute(
                delete(ProcessedMessageRow).where(
                    ProcessedMessageRow.consumer == consumer, ProcessedMessageRow.message_id.in_(message_ids)
                )
            )
            session.commit()

    def open_cases(self, final_states: frozenset[str] | tuple[str, ...], limit: int) -> list[OpenCase]:
        """Cases in no final state, least recently updated first."""
        with self.session_factory() as session:
            rows = session.scalars(
                select(CaseRow).where(CaseRow.state.not_in(final_states)).order_by(CaseRow.updated_at).limit(limit)
            )
            return [
                OpenCase(row.id, row.marketplace, row.order_id, row.return_id, row.state,
                         stored_deadlines(row.facts or {}), stored_timers(row.facts or {}))
                for row in rows
            ]  # fmt: skip

    def recent_failures(self, effect_states: tuple[str, ...], limit: int) -> list[Failure]:
        """Up to `limit` of each kind, newest first within a kind.

        Outbound effects in `effect_states` (core/effects.py), of every kind: a carrier booking shows as
        `shipment_<status>` (`shipment_unknown`, `shipment_rejected`), the others as `<kind>_<status>`."""
        failures: list[Failure] = []
        with self.session_factory() as session:
            for row in session.scalars(
                select(OutboundEffectRow).where(OutboundEffectRow.state.in_(effect_states))
                .order_by(OutboundEffectRow.updated_at.desc()).limit(limit)
            ):  # fmt: skip
                name = "shipment" if row.kind == EffectKind.CARRIER_BOOKING else row.kind
                failures.append(Failure(row.updated_at, f"{name}_{status_label(row.kind, row.state)}", row.case_id,
                                        row.error or row.adapter))  # fmt: skip
            for outbox in session.scalars(
                select(OutboxRow).where(OutboxRow.published_at.is_(None), OutboxRow.last_error.is_not(None))
                .order_by(OutboxRow.id.desc()).limit(limit)
            ):  # fmt: skip
                failures.append(Failure(outbox.created_at, "publish_failed", outbox.correlation_id,
                                        (outbox.last_error or "")[:300]))  # fmt: skip
            for case in session.scalars(
                select(CaseRow)
                .where(CaseRow.needs_attention.is_(True))
                .order_by(CaseRow.updated_at.desc())
                .limit(limit)
            ):
                failures.append(Failure(case.updated_at, "needs_attention", case.id,
                                        f"{case.marketplace} return {case.return_id} in state {case.state}"))  # fmt: skip
        return failures
