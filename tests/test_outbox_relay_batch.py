"""The relay's claim-and-mark: every published row marked in one go, the failing one backed off, the rest kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from adapters.storage.models import OutboxRow


def _add(container, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    ids = []
    with container.uow() as uow:
        for n in range(count):
            ids.append(uow.outbox.add("x.events", f"k.{n}", {"n": n}, now))
        uow.commit()
    return ids


def _rows(container) -> dict[str, OutboxRow]:  # type: ignore[no-untyped-def]
    with container.session_factory() as session:
        return {row.message_id: row for row in session.scalars(select(OutboxRow))}


def test_a_batch_publishes_in_order_and_marks_every_row_published_once(container):
    ids = _add(container, 5)
    published = []
    sent, error = container.outbox_store.relay_batch(datetime.now(UTC), 100, published.append, timedelta(seconds=1))
    assert (sent, error) == (5, None)
    assert [m.message_id for m in published] == ids
    assert [m.body for m in published] == [{"n": n} for n in range(5)]
    rows = _rows(container)
    assert all(rows[i].published_at is not None and rows[i].attempts == 1 for i in ids)
    again, _ = container.outbox_store.relay_batch(datetime.now(UTC), 100, published.append, timedelta(seconds=1))
    assert again == 0


def test_a_refused_message_is_backed_off_and_the_ones_after_it_wait_unpublished(container):
    ids = _add(container, 4)
    now = datetime.now(UTC)

    def publish(message):  # type: ignore[no-untyped-def]
        if message.message_id == ids[2]:
            raise ConnectionError("broker gone")

    sent, error = container.outbox_store.relay_batch(now, 100, publish, timedelta(seconds=1))
    assert sent == 2 and "broker gone" in error
    rows = _rows(container)
    assert [rows[i].published_at is not None for i in ids] == [True, True, False, False]
    failed = rows[ids[2]]
    assert failed.attempts == 1 and "broker gone" in failed.last_error
    assert failed.available_at > now
    assert rows[ids[3]].attempts == 0
