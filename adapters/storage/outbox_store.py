"""The relay's view of the outbox: claim due rows, mark them sent or failed."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from adapters.messages import OutgoingMessage
from adapters.storage.models import OutboxRow, ProcessedMessageRow


class OutboxStore:
    def __init__(self, session_factory: sessionmaker[Session], skip_locked: bool) -> None:
        self._factory = session_factory
        self._skip_locked = skip_locked

    def relay_batch(self, now: datetime, limit: int, publish, backoff: timedelta) -> tuple[int, str | None]:  # type: ignore[no-untyped-def]
        """Publish due rows in id order inside one transaction; stop at the first failure.

        On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several relays share the table without
        publishing a row twice; SQLite's single writer gives the same guarantee. Rows are read
        as plain tuples and marked with one UPDATE for the whole batch: the relay runs beside
        the web's request threads, so it must cost little per message (bench/, README "Benchmarks").
        """
        table = OutboxRow.__table__
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
            sent: list[int] = []
            error = None
            for row in rows:
                try:
                    publish(
                        OutgoingMessage(
                            message_id=row.message_id,
                            exchange=row.exchange,
                            routing_key=row.routing_key,
                            body=row.body,
                            correlation_id=row.correlation_id,
                            headers=row.headers or {},
                        )
                    )
                except Exception as exc:
                    error = str(exc)[:2000]
                    session.execute(
                        update(table)
                        .where(table.c.id == row.id)
                        .values(attempts=row.attempts + 1, last_error=error,
                                available_at=now + backoff * min(row.attempts + 1, 10))
                    )  # fmt: skip
                    break
                sent.append(row.id)
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
        never handled: publish it again (the inbox makes a repeat harmless).
        """
        with self._factory() as session:
            handled = select(ProcessedMessageRow.message_id)
            result = session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.published_at.is_not(None),
                    OutboxRow.created_at >= since,
                    OutboxRow.message_id.not_in(handled),
                )
                .values(published_at=None)
            )
            session.commit()
            return result.rowcount or 0
