"""Group commit: concurrent webhooks share a transaction and each is answered as it would be alone."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select

from adapters.marketplaces.base import ParsedDelivery
from adapters.storage.models import CaseRow, OutboxRow, ReceivedEventRow
from adapters.storage.ports import ConnectionLost
from service.group_commit import GroupCommit, Ticket
from service.intake import Accepted, Arrival
from tests.conftest import unique_event


def test_work_that_queues_during_a_commit_is_written_together_and_each_caller_gets_its_own_result():
    batches: list[list[int]] = []
    first_started = threading.Event()

    def write(batch: Sequence[Ticket[int, int]]) -> None:
        batches.append([t.work for t in batch])
        first_started.set()
        time.sleep(0.1)  # a commit in progress: the others queue up behind it
        for ticket in batch:
            ticket.resolve(ticket.work * 10)

    group: GroupCommit[int, int] = GroupCommit(write, max_batch=64)
    results: dict[int, int] = {}
    first = threading.Thread(target=lambda: results.__setitem__(0, group.submit(0)))
    first.start()
    first_started.wait(2)
    rest = [threading.Thread(target=lambda n=n: results.__setitem__(n, group.submit(n))) for n in range(1, 6)]
    for thread in rest:
        thread.start()
    for thread in [first, *rest]:
        thread.join(5)
    assert results == {n: n * 10 for n in range(6)}
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2, 3, 4, 5]  # one transaction for all that waited


def test_a_failing_write_fails_its_callers_and_the_next_caller_is_still_written():
    def write(batch: Sequence[Ticket[str, str]]) -> None:
        if any(t.work == "bad" for t in batch):
            raise ConnectionLost("the database went away")
        for ticket in batch:
            ticket.resolve(ticket.work)

    group: GroupCommit[str, str] = GroupCommit(write, max_batch=8)
    with pytest.raises(ConnectionLost):
        group.submit("bad")
    assert group.submit("good") == "good"


def test_a_ticket_the_writer_leaves_open_fails_instead_of_hanging():
    group: GroupCommit[str, str] = GroupCommit(lambda batch: None, max_batch=8)
    with pytest.raises(RuntimeError):
        group.submit("forgotten")


def _group(container, deliveries: list[tuple[dict, str | None]]) -> list[list[Accepted]]:  # type: ignore[no-untyped-def]
    """Store these deliveries as one group (as the writer does when they arrive during a commit)."""
    intake = container.intake
    tickets: list[Ticket[Arrival, list[Accepted]]] = []
    for raw, delivery_id in deliveries:
        events = intake.validate(ParsedDelivery(delivery_id, [raw]))
        tickets.append(Ticket(("generic", [(events[0], delivery_id)])))
    intake._store_group(tickets)
    return [ticket.outcome() for ticket in tickets]


def _count(container, row) -> int:  # type: ignore[no-untyped-def]
    with container.session_factory() as session:
        return session.scalar(select(func.count()).select_from(row))


def test_a_resend_in_the_same_group_is_a_duplicate_with_the_first_ones_ids(container):
    event = unique_event()
    resent_by_delivery = unique_event()
    (first,), (again,), (by_id,), (by_delivery,) = _group(
        container, [(event, "msg_a"), (event, "msg_b"), (resent_by_delivery, "msg_a"), (event, None)]
    )
    assert not first.duplicate
    assert again == by_id == by_delivery == Accepted(first.event_id, first.case_id, duplicate=True)
    assert _count(container, ReceivedEventRow) == 1
    assert _count(container, OutboxRow) == 1


def test_two_events_of_one_return_in_the_same_group_share_its_case(container):
    requested = unique_event("return.requested", n="grp1")
    approved = unique_event("return.approved", n="grp1")
    (a,), (b,) = _group(container, [(requested, "msg_1"), (approved, "msg_2")])
    assert not a.duplicate and not b.duplicate and a.event_id != b.event_id
    assert a.case_id == b.case_id
    assert _count(container, CaseRow) == 1


def test_a_resend_of_an_event_stored_earlier_is_a_duplicate_in_a_group(container):
    event = unique_event()
    (stored,) = _group(container, [(event, "msg_x")])
    (again,), (fresh,) = _group(container, [(event, "msg_y"), (unique_event(), "msg_z")])
    assert again == Accepted(stored[0].event_id, stored[0].case_id, duplicate=True)
    assert not fresh.duplicate


def test_concurrent_posts_each_get_202_once_and_resends_200_with_the_same_ids(client):
    import json

    from tests.conftest import sign_generic

    events = [unique_event() for _ in range(12)]
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post(event: dict, msg_id: str) -> None:
        body = json.dumps(event).encode()
        response = client.post("/webhooks/generic", data=body, headers=sign_generic(body, msg_id=msg_id))
        with lock:
            answers.append((response.status_code, response.get_json()))

    threads = [
        threading.Thread(target=post, args=(event, f"msg_{n}_{copy}"))
        for n, event in enumerate(events)
        for copy in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in answers) == [200] * 12 + [202] * 12
    by_case: dict[str, set[str]] = {}
    for _, body in answers:
        by_case.setdefault(body["case_id"], set()).add(body["event_id"])
    assert len(by_case) == 12 and all(len(ids) == 1 for ids in by_case.values())


@pytest.mark.postgres
def test_on_postgresql_concurrent_deliveries_and_resends_store_each_event_once(postgres_url):
    from adapters.storage.database import migrate
    from service.bootstrap import Container
    from tests.conftest import make_settings

    migrate(postgres_url)
    built = Container(make_settings(RB_DATABASE_URL=postgres_url))
    try:
        events = [unique_event() for _ in range(10)]
        answers: list[Accepted] = []
        lock = threading.Lock()

        def accept(event: dict, delivery_id: str) -> None:
            (accepted,) = built.intake.accept("generic", ParsedDelivery(delivery_id, [event]))
            with lock:
                answers.append(accepted)

        threads = [
            threading.Thread(target=accept, args=(event, f"pg_{n}_{copy}"))
            for n, event in enumerate(events)
            for copy in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sum(not a.duplicate for a in answers) == 10
        assert len({(a.event_id, a.case_id) for a in answers}) == 10
        assert _count(built, ReceivedEventRow) == 10 and _count(built, OutboxRow) == 10
    finally:
        built.close()
