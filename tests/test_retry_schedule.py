"""The retry schedule: deferred and failed deliveries wait as database rows, and the relay brings them back on time,
on the embedded broker and on RabbitMQ alike; a crash or a restart loses none and handles none twice."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kombu import Connection

from adapters.messages import Defer, IncomingMessage, OutgoingMessage
from adapters.storage.operations_store import OperationsStore
from adapters.storage.retry_schedule import RetrySchedule
from queues.inspection import inspector_for
from queues.publisher import ConfirmedPublisher
from queues.topology import QueueSpec, Topology
from queues.worker import Worker
from service.bootstrap import Container
from tests.conftest import example, operator_client, post_event, wait_for
from tests.retry_support import ScheduleDb, consuming
from wsgi import create_app


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, Topology]]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("rabbit_url")
    topology = Topology(f"s{uuid.uuid4().hex[:8]}", delivery_limit=3, retry_delays=(1, 2))
    topology.add(QueueSpec("work", "events", ("#",)))
    yield url, topology
    if request.param == "rabbitmq":
        from tests.faults.stack import delete_queues

        with contextlib.suppress(Exception):
            delete_queues(url, topology.prefix, [q.name for q in inspector_for(url, topology).queues()])


def publish(url: str, topology: Topology, message_id: str) -> None:
    publisher = ConfirmedPublisher(url, topology)
    try:
        publisher.publish(OutgoingMessage(message_id, topology.events.name, "return.requested.test", {"n": 1}))
    finally:
        publisher.close()


class CrashBeforeAck:
    """Parks for real, then fails as a consumer that died before its ack would: the broker delivers again."""

    def __init__(self, schedule: RetrySchedule) -> None:
        self.schedule = schedule
        self.crashed = False

    def park(self, queue: str, message: OutgoingMessage, delay_seconds: float) -> datetime:
        due_at = self.schedule.park(queue, message, delay_seconds)
        if not self.crashed:
            self.crashed = True
            raise ConnectionError("the consumer died after the row was committed, before its ack")
        return due_at


def test_a_crash_between_parking_and_ack_redelivers_and_the_inbox_keeps_one_handling(
    broker, schedule_db: ScheduleDb
) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    inbox = OperationsStore(schedule_db.sessions)
    calls: list[str] = []
    effects: list[str] = []

    def books_once(message: IncomingMessage) -> None:
        """An idempotent handler: its effect and its inbox mark go together, a marked message is skipped."""
        calls.append(message.message_id)
        if inbox.is_marked("work", message.message_id):
            return
        if len(calls) == 1:
            raise RuntimeError("carrier down")
        effects.append(message.message_id)
        inbox.mark("work", message.message_id, datetime.now(UTC))

    with consuming(schedule_db, url, topology, books_once, prefetch=5) as consumer:
        consumer.schedule = CrashBeforeAck(schedule_db.schedule())
        publish(url, topology, "m-crash")
        assert wait_for(lambda: len(calls) == 3, timeout=15), "the delivery again, then the parked copy"
        assert wait_for(lambda: schedule_db.parked() == {}, timeout=5)
    assert effects == ["m-crash"]
    work = topology.queue_name(topology.specs["work"])
    assert {q.name: q.messages for q in inspector_for(url, topology).queues()}[work] == 0


def test_a_parked_delivery_outlives_its_process_and_comes_back_after_a_restart(broker, schedule_db: ScheduleDb) -> None:  # type: ignore[no-untyped-def]
    """The row stays when the process stops; the next process's relay publishes it when due, however long
    its poll interval (it reads the earliest due time at start)."""
    url, fast = broker
    topology = Topology(fast.prefix, fast.delivery_limit, retry_delays=(3,))  # due after the first process stops
    topology.add(fast.specs["work"])
    work = topology.queue_name(topology.specs["work"])
    seen: list[int] = []

    def defers_first(message: IncomingMessage) -> None:
        seen.append(message.deferrals)
        if message.deferrals == 0:
            raise Defer("an earlier event of the case is not handled yet")

    with consuming(schedule_db, url, topology, defers_first, prefetch=5):
        publish(url, topology, "m-restart")
        assert wait_for(lambda: schedule_db.parked() == {work: 1}, timeout=10)
    assert seen == [0]
    time.sleep(0.5)
    assert schedule_db.parked() == {work: 1} and seen == [0], "nothing published while no process runs"

    restarted = ScheduleDb(schedule_db.engine, schedule_db.sessions)
    with consuming(restarted, url, topology, defers_first, interval=60, prefetch=5):
        assert wait_for(lambda: seen == [0, 1], timeout=10)
    assert schedule_db.parked() == {}


def test_the_relay_wakes_when_a_parked_delivery_is_due_not_at_its_next_poll(broker, schedule_db: ScheduleDb) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    seen: list[float] = []

    def defers_first(message: IncomingMessage) -> None:
        seen.append(time.monotonic())
        if message.deferrals == 0:
            raise Defer("not yet")

    with consuming(schedule_db, url, topology, defers_first, interval=60, prefetch=5):
        publish(url, topology, "m-due")
        assert wait_for(lambda: len(seen) == 2, timeout=10)
    assert 0.9 <= seen[1] - seen[0] < 1.9, "back after the shortest delay (1 s), not the 60 s poll"


def test_a_relay_that_cannot_publish_keeps_the_row_and_tries_again(schedule_db: ScheduleDb) -> None:
    schedule = schedule_db.schedule()
    schedule.park("returns.cases", OutgoingMessage("m-kept", "", "returns.cases", {"n": 1}), delay_seconds=0)

    def refused(message: OutgoingMessage) -> None:
        raise ConnectionError("broker down")

    assert schedule.relay_due(10, refused, backoff=timedelta(seconds=0)) == (
        0,
        "broker down",
    )
    assert schedule_db.parked() == {"returns.cases": 1}
    published: list[OutgoingMessage] = []
    assert schedule.relay_due(10, published.append, backoff=timedelta(seconds=0)) == (1, None)
    assert [(m.message_id, m.exchange, m.routing_key) for m in published] == [("m-kept", "", "returns.cases")]
    assert schedule_db.parked() == {}


@pytest.mark.postgres
def test_two_relays_on_postgresql_publish_each_parked_row_once(postgres_url: str) -> None:
    """`FOR UPDATE SKIP LOCKED`: the web processes' relays and the worker's share the schedule."""
    from adapters.storage.database import make_engine, make_session_factory, migrate

    migrate(postgres_url)
    engine = make_engine(postgres_url)
    try:
        schedules = [RetrySchedule(make_session_factory(engine), skip_locked=True) for _ in range(2)]
        for n in range(300):
            schedules[0].park("returns.cases", OutgoingMessage(f"m{n}", "", "returns.cases", {"n": n}), 0)
        published: list[str] = []

        def relay(schedule: RetrySchedule) -> None:
            while schedule.relay_due(20, lambda m: published.append(m.message_id), timedelta(seconds=1))[0]:
                pass

        threads = [threading.Thread(target=relay, args=(schedule,)) for schedule in schedules]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(published) == sorted(f"m{n}" for n in range(300))
        assert schedules[1].parked_by_queue() == {}
    finally:
        engine.dispose()


def test_parking_the_same_delivery_again_replaces_its_row(schedule_db: ScheduleDb) -> None:
    """A delivery redelivered after a crash between parking and ack parks again: one row, the latest counters."""
    schedule = schedule_db.schedule()
    for attempts in (1, 1, 2):
        message = OutgoingMessage("m-again", "", "returns.cases", {"n": 1}, headers={"x-rb-attempts": attempts})
        schedule.park("returns.cases", message, delay_seconds=0)
    published: list[OutgoingMessage] = []
    schedule.relay_due(10, published.append, backoff=timedelta(seconds=1))
    assert [m.headers["x-rb-attempts"] for m in published] == [2]


def test_the_embedded_restart_leaves_a_parked_event_to_its_schedule(settings) -> None:  # type: ignore[no-untyped-def]
    """memory:// loses what it holds with the process; the outbox recovery re-publishes only what is neither
    handled nor parked, and the parked event comes back from its row, handled once."""
    first = Container(settings)
    client = operator_client(create_app(settings, first))
    case_id = post_event(client, example()).get_json()["case_id"]
    assert first.relay.run_once() == 1
    cases = f"{settings.topology_prefix}.cases"
    with Connection("memory://") as connection:  # the process dies holding the delivery; a consumer had parked it
        delivered = connection.default_channel.basic_get(cases)
        parked = OutgoingMessage(delivered.properties["message_id"], "", cases, delivered.decode(),
                                 headers={**delivered.headers, "x-rb-deferrals": 1})  # fmt: skip
        first.retry_schedule.park(cases, parked, delay_seconds=0)
        delivered.ack()
    first.close()

    restarted = Container(settings)
    assert restarted.recover_embedded_messages() == 0, "parked, so not re-published from the outbox"
    worker = Worker(restarted.relay, restarted.consumers())
    worker.start()
    try:

        def requested() -> bool:
            with restarted.uow() as uow:
                return uow.cases.get(case_id).state == "requested"

        assert wait_for(requested, timeout=10)
        assert wait_for(lambda: restarted.retry_schedule.parked_by_queue() == {}, timeout=5)
    finally:
        worker.stop()
        restarted.close()
