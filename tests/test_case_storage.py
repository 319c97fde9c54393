"""Opening cases: a concurrent duplicate fails with IntegrityError, inside the intake's retry loop."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from adapters.storage.unit_of_work import IntegrityError, new_id
from core.cases import open_case
from service.canonical import load_event
from tests.conftest import unique_event


def test_a_return_opened_concurrently_fails_for_the_second_writer(container):
    """The case INSERT runs at once (Core, no deferred flush): the second writer waits for the first
    (SQLite's write lock, PostgreSQL's unique index) and then gets IntegrityError, never a second case."""
    event = load_event(unique_event())
    now = datetime.now(UTC)
    outcome: list[BaseException | None] = []

    def second_writer() -> None:
        try:
            with container.uow() as second:
                second.cases.add(open_case(new_id("case"), "generic", event, now), now)
                second.commit()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with container.uow() as first:
        first.cases.add(open_case(new_id("case"), "generic", event, now), now)
        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second writer must wait for the first"
        first.commit()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], IntegrityError)
    with container.uow() as uow:
        assert uow.cases.find_id("generic", event.return_.id) is not None
