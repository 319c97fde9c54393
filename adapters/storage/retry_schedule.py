"""Deliveries parked in the database until they are due: the consumers' deferrals and retries.

A consumer parks a copy of the delivery (same message id, counters in its headers) and acks
the delivery only after the row is committed; the outbox relay publishes due rows with
confirms to the work queue through the default exchange and deletes them. No broker TTL is
involved: a broker restart cannot drop or strand a parked message (classic dead-lettering is
at most once; quorum delay queues on RabbitMQ 3.x kept messages past their TTL, rabbitmq-server
#10718), and the in-process broker gets the same schedule instead of a timer lost with the process.

Due times are wall-clock seconds of the running process, not the business clock a test or a
replay may pin: the store reads its own clock both when parking and when relaying.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.messages import OutgoingMessage
from adapters.storage.models import ScheduledRetryRow
from adapters.storage.outbox_store import Publish, PublishMany, hold_back, publish_prefix, table_of


def wall_clock() -> datetime:
    return datetime.now(UTC)


class RetrySchedule:
    def __init__(
        self, session_factory: sessionmaker[Session], skip_locked: bool, clock: Callable[[], datetime] = wall_clock
    ) -> None:
        self._factory = session_factory
        self._skip_locked = skip_locked
        self._clock = clock

    def park(self, queue: str, message: OutgoingMessage, delay_seconds: float) -> datetime:
        """Commit `message` to come back to `queue` in `delay_seconds`; returns when it is due.

        A row already parked for the same message and queue is replaced: the delivery came again
        after a crash between parking and its ack, and only its latest counters should return.
        """
        now = self._clock()
        due_at = now + timedelta(seconds=delay_seconds)
        table = table_of(ScheduledRetryRow)
        with self._factory() as session:
            session.execute(delete(table).where(table.c.queue == queue, table.c.message_id == message.message_id))
            session.execute(
                insert(table).values(
                    queue=queue, message_id=message.message_id, body=message.body, headers=message.headers,
                    correlation_id=message.correlation_id, parked_at=now, due_at=due_at, attempts=0,
                )
            )  # fmt: skip
            session.commit()
        return due_at

    def relay_due(self, limit: int, publish: Publish, backoff: timedelta,
                  publish_many: PublishMany | None = None) -> tuple[int, str | None]:  # fmt: skip
        """Publish due rows (earliest first) to their work queues, delete the confirmed ones; stop at a failure.

        Locked as the outbox is (`FOR UPDATE SKIP LOCKED` on PostgreSQL, SQLite's single writer),
        so two relays never publish a row twice; a crash after the confirm and before the commit
        publishes it again, which the consumers' inbox absorbs.
        """
        now = self._clock()
        table = table_of(ScheduledRetryRow)
        with self._factory() as session:
            stmt = (
                select(table.c.id, table.c.queue, table.c.message_id, table.c.body, table.c.headers,
                       table.c.correlation_id, table.c.attempts)
                .where(table.c.due_at <= now)
                .order_by(table.c.due_at, table.c.id)
                .limit(limit)
            )  # fmt: skip
            if self._skip_locked:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = session.execute(stmt).all()
            messages = [
                OutgoingMessage(
                    message_id=row.message_id,
                    exchange="",
                    routing_key=row.queue,
                    body=row.body,
                    correlation_id=row.correlation_id,
                    headers=row.headers or {},
                )
                for row in rows
            ]
            confirmed, error = publish_prefix(messages, publish, publish_many)
            if error is not None and confirmed < len(rows):
                hold_back(session, table, rows[confirmed], error, "due_at", now, backoff)
            if confirmed:
                session.execute(delete(table).where(table.c.id.in_([row.id for row in rows[:confirmed]])))
            session.commit()
            return confirmed, error

    def parked_by_queue(self) -> dict[str, int]:
        """How many messages wait for each work queue: what the delay queues' depths used to show."""
        with self._factory() as session:
            return dict(
                session.execute(select(ScheduledRetryRow.queue, func.count()).group_by(ScheduledRetryRow.queue)).all()
            )

    def next_due(self) -> datetime | None:
        """When the earliest parked message is due, if any."""
        with self._factory() as session:
            return session.scalar(select(func.min(ScheduledRetryRow.due_at)))
