"""The case consumer's batches: one transaction for many events, each in its own savepoint, on SQLite and PostgreSQL.

What a batch must keep from handling one message at a time: per-case order (an event applied earlier in
the batch counts as handled; one deferred or rejected makes the later ones of its case wait), failures that
stay with their message, and nothing lost or done twice when the commit fails or the batch comes again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.marketplaces.base import ParsedDelivery
from adapters.messages import Defer, IncomingMessage, Reject
from adapters.storage.database import make_engine, make_session_factory, migrate
from adapters.storage.models import OutboxRow, ProcessedMessageRow, TimelineRow
from adapters.storage.unit_of_work import ConnectionLost, UnitOfWork
from service.handlers import CaseEvents
from service.intake import Intake
from tests.conftest import unique_event

START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def ticking() -> Callable[[], datetime]:
    """A clock one second later at every look: events are received in the order they are accepted."""
    seconds = itertools.count()
    return lambda: START + timedelta(seconds=next(seconds))


class CountedUnitOfWork(UnitOfWork):
    """Counts commits, and fails the next `failing` of them before anything is written (a lost connection)."""

    commits = 0
    failing = 0

    def commit(self) -> None:
        if CountedUnitOfWork.failing:
            CountedUnitOfWork.failing -= 1
            raise ConnectionLost("server closed the connection unexpectedly")
        super().commit()
        CountedUnitOfWork.commits += 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path}/rb.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    migrate(url)
    engine = make_engine(url)
    CountedUnitOfWork.commits = CountedUnitOfWork.failing = 0
    yield make_session_factory(engine)
    engine.dispose()


class Desk:
    """Accepts events as the webhook does and hands back the case consumer's messages for them."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        clock = ticking()
        self.intake = Intake(lambda: UnitOfWork(factory), clock, "returns.events")
        self.handler = CaseEvents(lambda: CountedUnitOfWork(factory), clock, "returns.commands", lambda _: True)

    def accept(self, kind: str, n: str) -> IncomingMessage:
        (accepted,) = self.intake.accept("generic", ParsedDelivery(None, [unique_event(kind, n=n)]))
        with self.factory() as session:
            body = session.scalar(select(OutboxRow.body).where(OutboxRow.message_id == accepted.event_id))
        return IncomingMessage(accepted.event_id, body, f"{kind}.generic")

    def state(self, message: IncomingMessage) -> str:
        with UnitOfWork(self.factory) as uow:
            case = uow.cases.get(message.body["case_id"])
        assert case is not None
        return case.state

    def count(self, row: type[Any]) -> int:
        with self.factory() as session:
            return session.scalar(select(func.count()).select_from(row)) or 0

    def handled(self) -> set[str]:
        with self.factory() as session:
            return set(session.scalars(select(ProcessedMessageRow.message_id)))


def kinds(outcomes: list[Exception | None]) -> list[str | None]:
    return [None if outcome is None else type(outcome).__name__ for outcome in outcomes]


def test_events_of_several_cases_are_applied_in_one_commit_and_a_second_delivery_changes_nothing(factory) -> None:
    desk = Desk(factory)
    batch = [desk.accept("return.requested", n) for n in ("a", "b", "c")] + [desk.accept("return.approved", "a")]

    assert kinds(desk.handler.handle_batch(batch)) == [None, None, None, None]

    assert CountedUnitOfWork.commits == 1
    assert [desk.state(m) for m in batch] == ["approved", "requested", "requested", "approved"]
    assert desk.handled() == {m.message_id for m in batch}
    timeline, outbox = desk.count(TimelineRow), desk.count(OutboxRow)

    assert kinds(desk.handler.handle_batch(batch)) == [None, None, None, None]  # redelivered after a lost ack
    assert (desk.count(TimelineRow), desk.count(OutboxRow)) == (timeline, outbox)
    assert desk.state(batch[0]) == "approved"


def test_a_rejected_message_in_the_middle_leaves_the_others_applied(factory) -> None:
    desk = Desk(factory)
    first, last = desk.accept("return.requested", "a"), desk.accept("return.requested", "b")
    orphan = IncomingMessage("evt_orphan", {**first.body, "event_id": "evt_orphan", "case_id": "case_none"}, "x")

    outcomes = desk.handler.handle_batch([first, orphan, last])

    assert kinds(outcomes) == [None, "Reject", None]
    assert "case_none does not exist" in str(outcomes[1])
    assert CountedUnitOfWork.commits == 1
    assert desk.handled() == {first.message_id, last.message_id}
    assert desk.state(first) == desk.state(last) == "requested"


def test_an_event_waits_while_an_earlier_one_of_its_case_fails_in_the_same_batch(factory) -> None:
    desk = Desk(factory)
    requested, other = desk.accept("return.requested", "a"), desk.accept("return.requested", "b")
    desk.handler.handle_batch([requested, other])
    approved, received = desk.accept("return.approved", "a"), desk.accept("return.received", "a")
    unreadable = IncomingMessage(approved.message_id, {**approved.body, "event": {"type": 1}}, approved.routing_key)

    outcomes = desk.handler.handle_batch([unreadable, received])

    assert kinds(outcomes) == ["Reject", "Defer"]
    assert approved.message_id in str(outcomes[1])
    assert desk.state(requested) == "requested"
    assert CountedUnitOfWork.commits == 2


def test_a_deferred_event_keeps_its_case_in_order_and_an_event_applied_earlier_in_the_batch_counts(factory) -> None:
    desk = Desk(factory)
    requested, approved = desk.accept("return.requested", "a"), desk.accept("return.approved", "a")
    other = desk.accept("return.requested", "b")

    outcomes = desk.handler.handle_batch([approved, other, requested])  # delivered out of order

    assert kinds(outcomes) == ["Defer", None, None]
    assert desk.state(requested) == "requested"  # the approval waits in the retry schedule
    assert desk.handler.handle_batch([approved]) == [None]  # and comes back
    assert desk.state(requested) == "approved"

    later = desk.accept("return.requested", "c"), desk.accept("return.approved", "c")
    assert kinds(desk.handler.handle_batch(list(later))) == [None, None]  # in order within one batch
    assert desk.state(later[0]) == "approved"


def test_a_failed_commit_keeps_nothing_and_one_at_a_time_then_applies_each_once(factory) -> None:
    desk = Desk(factory)
    batch = [desk.accept("return.requested", n) for n in ("a", "b")] + [desk.accept("return.approved", "a")]
    timeline, outbox = desk.count(TimelineRow), desk.count(OutboxRow)
    CountedUnitOfWork.failing = 1

    with pytest.raises(ConnectionLost):
        desk.handler.handle_batch(batch)

    assert (desk.count(TimelineRow), desk.count(OutboxRow), desk.handled()) == (timeline, outbox, set())
    for message in batch:  # what the consumer does after a failed batch
        desk.handler(message)
    assert desk.handled() == {m.message_id for m in batch}
    assert [desk.state(m) for m in batch] == ["approved", "requested", "approved"]
    applied = desk.count(TimelineRow), desk.count(OutboxRow)
    for message in batch:  # a redelivery of each, and of the batch
        desk.handler(message)
    assert kinds(desk.handler.handle_batch(batch)) == [None, None, None]
    assert (desk.count(TimelineRow), desk.count(OutboxRow)) == applied


def test_an_unexpected_failure_of_one_message_is_its_own(factory, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk(factory)
    batch = [desk.accept("return.requested", n) for n in ("a", "b", "c")]
    route = desk.handler._route

    def fails_for_b(case, event) -> None:  # type: ignore[no-untyped-def]
        if event.return_.id == "RMA-b":
            raise RuntimeError("rates service down")
        route(case, event)

    monkeypatch.setattr(desk.handler, "_route", fails_for_b)
    outcomes = desk.handler.handle_batch(batch)

    assert kinds(outcomes) == [None, "RuntimeError", None]
    assert desk.handled() == {batch[0].message_id, batch[2].message_id}
    assert not isinstance(outcomes[1], Reject | Defer)
