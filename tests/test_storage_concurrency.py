"""Two writers at once, on PostgreSQL: one wins, the other notices and retries; nothing is half-written.

SQLite takes its write lock at BEGIN (adapters/storage/database.py), so there writers queue and never
interleave; on PostgreSQL they do, and the optimistic lock (`cases.version`) and the unique keys the
intake relies on decide. Each test lets a competitor commit at the one moment that matters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from adapters.marketplaces.base import ParsedDelivery
from adapters.messages import IncomingMessage
from adapters.storage.database import make_session_factory, migrate
from adapters.storage.models import CaseRow, OutboxRow, ReceivedEventRow
from adapters.storage.unit_of_work import ConcurrentUpdate, UnitOfWork
from core.cases import ReturnCase, open_case
from service.canonical import load_event
from service.handlers import CaseEvents
from service.intake import Accepted, Intake, event_envelope
from tests.conftest import example

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
Competitor = Callable[[], None]


class Interleaved(UnitOfWork):
    """A unit of work that lets a competitor commit once: after the first case it loads, or just before commit."""

    def __init__(
        self, factory: sessionmaker[Session], after_load: list[Competitor], before_commit: list[Competitor]
    ) -> None:
        super().__init__(factory)
        self._after_load, self._before_commit = after_load, before_commit

    def __enter__(self) -> Interleaved:
        super().__enter__()
        load = self.cases.get

        def get_then_let_the_competitor_in(case_id: str, for_update: bool = False) -> ReturnCase | None:
            case = load(case_id, for_update)
            while self._after_load:
                self._after_load.pop()()
            return case

        self.cases.get = get_then_let_the_competitor_in  # type: ignore[method-assign]  # the hook this test needs
        return self

    def commit(self) -> None:
        while self._before_commit:
            self._before_commit.pop()()
        super().commit()


@pytest.fixture
def factory(postgres_url: str) -> Iterator[sessionmaker[Session]]:
    migrate(postgres_url)
    # Both writers run on this one thread: should one ever wait for the other's row lock, fail instead of hanging.
    engine = create_engine(postgres_url, connect_args={"options": "-c lock_timeout=5s"})
    yield make_session_factory(engine)
    engine.dispose()


def count(factory: sessionmaker[Session], row: type[Any], **where: str) -> int:
    with factory() as session:
        stmt = select(func.count()).select_from(row)
        for name, value in where.items():
            stmt = stmt.where(getattr(row, name) == value)
        return session.scalar(stmt) or 0


def open_requested_case(factory: sessionmaker[Session]) -> str:
    with UnitOfWork(factory) as uow:
        uow.cases.add(open_case("case_race", "generic", load_event(example()), NOW), NOW)
        uow.commit()
    return "case_race"


def note_by_another_writer(factory: sessionmaker[Session], case_id: str) -> Competitor:
    def write() -> None:
        with UnitOfWork(factory) as uow:
            case = uow.cases.get(case_id)
            assert case is not None
            case.record_result("operator_note", {"note": "buyer phoned"}, NOW)
            uow.cases.save(case, NOW)
            uow.commit()

    return write


# -- optimistic locking on the case ---------------------------------------------------------------------------


def test_of_two_writers_of_one_case_the_second_to_save_gets_a_concurrent_update_and_writes_nothing(factory):
    case_id = open_requested_case(factory)
    with UnitOfWork(factory) as first, UnitOfWork(factory) as second:
        mine, theirs = first.cases.get(case_id), second.cases.get(case_id)
        assert mine is not None and theirs is not None
        theirs.record_result("carrier_note", {"note": "label printed"}, NOW)
        second.cases.save(theirs, NOW)
        second.commit()
        mine.record_result("operator_note", {"note": "buyer phoned"}, NOW, attention=True)
        with pytest.raises(ConcurrentUpdate):
            first.cases.save(mine, NOW)
    with UnitOfWork(factory) as uow:
        case = uow.cases.get(case_id)
    assert case is not None
    names = [entry.name for entry in case.timeline]
    assert "carrier_note" in names and "operator_note" not in names
    assert case.needs_attention is False


def test_a_case_event_that_loses_the_race_is_retried_and_then_applied_once(factory):
    case_id = open_requested_case(factory)
    after_load: list[Competitor] = []
    handler = CaseEvents(lambda: Interleaved(factory, after_load, []), lambda: NOW, "returns.commands", lambda _: True)
    requested = event_envelope("evt_1", case_id, "generic", NOW, load_event(example()))
    handler(IncomingMessage("msg-requested", requested, "x"))
    after_load.append(note_by_another_writer(factory, case_id))
    approved = load_event(example("return-approved"))
    message = IncomingMessage("msg-approved", event_envelope("evt_2", case_id, "generic", NOW, approved), "x")

    with pytest.raises(ConcurrentUpdate):  # the consumer retries it after a delay
        handler(message)
    with UnitOfWork(factory) as uow:
        before = uow.cases.get(case_id)
        assert before is not None and before.state == "requested"
        assert not uow.processed.seen(handler.consumer, message.message_id)

    handler(message)  # the redelivery
    handler(message)  # and a duplicate of it changes nothing
    with UnitOfWork(factory) as uow:
        case = uow.cases.get(case_id)
    assert case is not None and case.state == "approved"
    names = [entry.name for entry in case.timeline]
    assert names.count("operator_note") == 1
    assert names.count("return.approved") == 1


# -- the intake's retry loop ----------------------------------------------------------------------------------


def test_the_same_event_stored_concurrently_is_answered_as_a_duplicate_with_the_winners_ids(factory):
    event = example()
    delivery = ParsedDelivery("delivery-1", [event])
    winner: list[Accepted] = []
    rival = Intake(lambda: UnitOfWork(factory), lambda: NOW, "returns.events")
    before_commit: list[Competitor] = [lambda: winner.extend(rival.accept("generic", delivery))]
    intake = Intake(lambda: Interleaved(factory, [], before_commit), lambda: NOW, "returns.events")

    (answer,) = intake.accept("generic", delivery)

    (won,) = winner
    assert won.duplicate is False
    assert (answer.event_id, answer.case_id, answer.duplicate) == (won.event_id, won.case_id, True)
    assert count(factory, CaseRow) == 1
    assert count(factory, ReceivedEventRow) == 1
    assert count(factory, OutboxRow, message_id=won.event_id) == 1
    assert count(factory, OutboxRow) == 1


def test_a_second_event_of_a_return_opened_concurrently_joins_the_case_the_winner_opened(factory):
    requested, approved = example(), example("return-approved")
    winner: list[Accepted] = []
    rival = Intake(lambda: UnitOfWork(factory), lambda: NOW, "returns.events")
    before_commit: list[Competitor] = [
        lambda: winner.extend(rival.accept("generic", ParsedDelivery("d-requested", [requested])))
    ]
    intake = Intake(lambda: Interleaved(factory, [], before_commit), lambda: NOW, "returns.events")

    (answer,) = intake.accept("generic", ParsedDelivery("d-approved", [approved]))

    (won,) = winner
    assert answer.duplicate is False and answer.case_id == won.case_id
    assert answer.event_id != won.event_id
    assert count(factory, CaseRow) == 1
    assert count(factory, ReceivedEventRow, case_id=won.case_id) == 2
    assert count(factory, OutboxRow) == 2
