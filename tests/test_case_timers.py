"""Case timers survive restarts and fire once each (issue 5; DOMAIN §2 默认同意, seeds 003, 004)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from adapters.storage.models import CaseTimerRow, OutboxRow
from config.settings import Settings
from queues.worker import Worker
from service.bootstrap import Container
from tests.case_helpers import MovableClock, case_of, recent, timeline_names
from tests.conftest import example, make_settings, operator_client, post_event, wait_for
from wsgi import create_app


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock(datetime.now(UTC))


@pytest.fixture
def service(settings: Settings, clock: MovableClock) -> Iterator[tuple]:
    """The service on a clock the test moves; consumers run, the timer loop does not (the test fires rounds)."""
    container = Container(settings, clock=clock)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    yield operator_client(create_app(settings, container)), container
    worker.stop()
    container.close()


def requested_case(client, clock: MovableClock) -> str:  # type: ignore[no-untyped-def]
    """The contract's German example, happening now."""
    case_id = post_event(client, recent(example(), clock())).json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
    return case_id


def past_response_deadline(container: Container, case_id: str, clock: MovableClock) -> datetime:
    """Move the service's clock a minute past the merchant's response deadline; returns the new time."""
    due = timer_rows(container, case_id)["timer.merchant_response_overdue"].due_at
    clock.set(due + timedelta(minutes=1))
    return clock()


def timer_rows(container: Container, case_id: str) -> dict[str, CaseTimerRow]:
    with container.uow() as uow:
        rows = list(uow.session.scalars(select(CaseTimerRow).where(CaseTimerRow.case_id == case_id)))
        uow.session.expunge_all()
        return {row.name: row for row in rows}


def test_the_due_times_are_stored_with_the_case(service, clock):
    client, container = service
    case_id = requested_case(client, clock)
    rows = timer_rows(container, case_id)
    deadlines = case_of(client, case_id)["deadlines"]
    due = rows["timer.merchant_response_overdue"].due_at
    assert due == datetime.fromisoformat(deadlines["merchant_response_due_by"])
    assert rows["timer.merchant_response_overdue"].fired_at is None


def test_merchant_silence_past_the_deadline_approves_once_however_often_the_loop_runs(service, clock):
    client, container = service
    case_id = requested_case(client, clock)
    assert container.timers.fire_due() == 0, "nothing is due before the deadline"
    fired_at = past_response_deadline(container, case_id, clock)
    assert container.timers.fire_due() == 1
    assert container.timers.fire_due() == 0
    case = case_of(client, case_id)
    assert case["state"] == "approved"
    assert timeline_names(case).count("timer.merchant_response_overdue") == 1
    assert "requested->approved" in timeline_names(case)
    assert case["timers"]["timer.merchant_response_overdue"]["fired_at"] == fired_at.isoformat()
    assert timer_rows(container, case_id)["timer.merchant_response_overdue"].fired_at == fired_at
    with container.uow() as uow:
        bookings = list(
            uow.session.scalars(select(OutboxRow.routing_key).where(OutboxRow.routing_key.like("carrier.%")))
        )
    assert bookings == ["carrier.dhl_express.book_return"]
    assert wait_for(lambda: case_of(client, case_id)["shipments"]), "the approval booked the return label"


def test_a_timer_due_while_the_service_was_down_fires_once_after_the_restart(settings, clock):
    first = Container(settings, clock=clock)
    worker = Worker(first.relay, first.consumers())
    worker.start()
    assert worker.wait_ready(10)
    case_id = requested_case(operator_client(create_app(settings, first)), clock)
    worker.stop()
    past_response_deadline(first, case_id, clock)
    first.close()

    for fired in (1, 0):
        restarted = Container(settings, clock=clock)
        assert restarted.timers.fire_due() == fired
        restarted.close()
    again = Container(settings, clock=clock)
    with again.uow() as uow:
        case = uow.cases.get(case_id)
    again.close()
    assert case is not None and case.state == "approved"
    assert [e.name for e in case.timeline].count("timer.merchant_response_overdue") == 1


def test_the_worker_loop_fires_due_timers_on_its_own(tmp_path, clock):
    settings = make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/loop.db", RB_TIMER_INTERVAL_SECONDS="0.05")
    container = Container(settings, clock=clock)
    worker = Worker(container.relay, container.consumers(), [container.timer_task()])
    worker.start()
    assert worker.wait_ready(10)
    client = operator_client(create_app(settings, container))
    try:
        case_id = requested_case(client, clock)
        past_response_deadline(container, case_id, clock)
        assert wait_for(lambda: case_of(client, case_id)["state"] == "approved")
    finally:
        worker.stop()
        container.close()


@pytest.mark.postgres
def test_two_workers_on_postgresql_fire_a_due_timer_once(postgres_url, clock):
    """FOR UPDATE SKIP LOCKED: concurrent rounds in two processes' worth of containers never fire twice."""
    settings = make_settings(RB_DATABASE_URL=postgres_url)
    first = Container(settings, clock=clock)
    worker = Worker(first.relay, first.consumers())
    worker.start()
    assert worker.wait_ready(10)
    case_id = requested_case(operator_client(create_app(settings, first)), clock)
    worker.stop()
    past_response_deadline(first, case_id, clock)
    second = Container(settings, clock=clock, run_migrations=False)
    counts: list[int] = []
    rounds = [threading.Thread(target=lambda c=c: counts.append(c.timers.fire_due())) for c in (first, second)]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join(30)
    with second.uow() as uow:
        case = uow.cases.get(case_id)
    first.close()
    second.close()
    assert sum(counts) == 1 and case is not None and case.state == "approved"
    assert [e.name for e in case.timeline].count("timer.merchant_response_overdue") == 1
