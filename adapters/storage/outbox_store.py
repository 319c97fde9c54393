"""The relay's view of the outbox: claim due rows, mark them sent or failed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.messages import OutgoingMessage
from adapters.storage.models import Base, OutboxRow, ProcessedMessageRow, ScheduledRetryRow

Publish = Callable[[OutgoingMessage], object]
"""Publish one message and wait for its confirm; raises when the broker refuses it."""
PublishMany = Callable[[Sequence[OutgoingMessage]], int]
"""Publish several, confirms awaited together: how many, from the first, the broker took."""


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on plain rows (declarative models type `__table__` as any FromClause)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


def hold_back(
    session: Session, table: Table, row: Any, error: str, due_column: str, now: datetime, backoff: timedelta
) -> None:
    """The row the broker refused (outbox or scheduled retry) waits one more back-off each time, up to ten."""
    attempts = row.attempts + 1
    session.execute(
        update(table)
        .where(table.c.id == row.id)
        .values({"attempts": attempts, "last_error": error, due_column: now + backoff * min(attempts, 10)})
    )


class OutboxStore:
    def __init__(self, session_factory: sessionmaker[Session], skip_locked: bool) -> None:
        self._factory = session_factory
        self._skip_locked = skip_locked

    def relay_batch(self, now: datetime, limit: int, publish: Publish, backoff: timedelta,
                    publish_many: PublishMany | None = None) -> tuple[int, str | None]:  # fmt: skip
        """Publish due rows in id order inside one transaction; stop at the first failure.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several relays share the table without
        publishing a row twice; SQLite's single writer gives the same guarantee. Rows are read
        as plain tuples and marked with one UPDATE for the whole batch: the relay runs beside
        the web's request threads, so it must cost little per message (bench/, README "Benchmarks").
        `publish_many(messages) -> how many from the first were confirmed` (the publisher's
        pipelined confirms) takes the whole batch at once; without it, `publish` takes one at a time.
        """
        table = table_of(OutboxRow)
        with self._factory() as session:
            stmt = (
                select(table.c.id, table.c.message_id, table.c.exchange, table.c.routing_key, table.c.body,
                       table.c.correlation_id, table.c.headers, table.c.attempts)
                .where(table.c.published_at.is_(None), table.c.available_at <= now)
                .order_by(table.c.id)
                .limit(limit)
            )  # fmt: skip
            if self._skip_locked:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.execute(stmt).all()
            messages = [
                OutgoingMessage(
                    message_id=row.message_id,
                    exchange=row.exchange,
                    routing_key=row.routing_key,
                    body=row.body,
                    correlation_id=row.correlation_id,
                    headers=row.headers or {},
                )
                for row in rows
            ]
            confirmed, error = publish_prefix(messages, publish, publish_many)
            sent = [row.id for row in rows[:confirmed]]
            if error is not None and confirmed < len(rows):
                hold_back(session, table, rows[confirmed], error, "available_at", now, backoff)
            if sent:
                session.execute(
                    update(table).where(table.c.id.in_(sent)).values(published_at=now, attempts=table.c.attempts + 1)
                )
            session.commit()
            return len(sent), error

    def pending(self) -> int:
        with self._factory() as session:
            return len(
                list(session.scalars(select(OutboxRow.id).where(OutboxRow.published_at.is_(None)).limit(10_000)))
            )

    def requeue_unconsumed(self, since: datetime) -> int:
        """Embedded broker only: messages published into memory before a restart were lost with the process.

        Every message routes to exactly one work queue, so one not in the consumers' inbox was
        never handled: publish it again (the inbox makes a repeat harmless). One parked in the
        retry schedule is not: its row brings it back when due, with its retry counters.
        """
        with self._factory() as session:
            handled = select(ProcessedMessageRow.message_id)
            parked = select(ScheduledRetryRow.message_id)
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.published_at.is_not(None),
                    OutboxRow.created_at >= since,
                    OutboxRow.message_id.not_in(handled),
                    OutboxRow.message_id.not_in(parked),
                )
                .values(published_at=None)
            )
            session.commit()
            return result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's result is a CursorResult; Session.execute declares Result


def publish_prefix(
    messages: list[OutgoingMessage], publish: Publish, publish_many: PublishMany | None
) -> tuple[int, str | None]:
    """How many messages, from the first, the broker took, and the error that stopped the rest."""
    if not messages:
        return 0, None
    if publish_many is not None:
        try:
            confirmed = publish_many(messages)
        except Exception as exc:
            return 0, str(exc)[:2000]
        if confirmed < len(messages):
            return confirmed, f"the broker refused {messages[confirmed].message_id}: nacked or unroutable"
        return confirmed, None
    for done, message in enumerate(messages):
        try:
            publish(message)
        except Exception as exc:
            return done, str(exc)[:2000]
    return len(messages), None
