"""The queue consumer's batches, on the embedded broker and on RabbitMQ: collected while deliveries wait,
acked together after the handler's one commit, each failure settled alone, one by one when the batch fails."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterator, Sequence

import pytest

from adapters.messages import Defer, IncomingMessage, OutgoingMessage, Reject
from queues.inspection import inspector_for
from queues.publisher import ConfirmedPublisher
from queues.topology import QueueSpec, Topology
from tests.conftest import wait_for
from tests.retry_support import consuming as consume


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, Topology]]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("rabbit_url")
    prefix = f"b{uuid.uuid4().hex[:8]}"
    topology = Topology(prefix, delivery_limit=3, retry_delays=(1, 1))
    topology.add(QueueSpec("work", "events", ("#",)))
    publisher = ConfirmedPublisher(url, topology)
    publisher._ensure()  # declares the topology
    publisher.close()
    yield url, topology
    if request.param == "rabbitmq":
        from tests.faults.stack import delete_queues

        with contextlib.suppress(Exception):
            delete_queues(url, prefix, [q.name for q in inspector_for(url, topology).queues()])


class Recorder:
    """A batch handler that records its calls; `outcome` says what a message id gets (default: applied)."""

    def __init__(self, outcome: dict[str, Exception] | None = None, fail_batches: bool = False,
                 always_failing: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.outcome = outcome or {}
        self.always_failing = always_failing
        self.fail_batches = fail_batches
        self.lock = threading.Lock()

    def __call__(self, message: IncomingMessage) -> None:
        with self.lock:
            self.singles.append(message.message_id)

    def handle_batch(self, messages: Sequence[IncomingMessage]) -> list[Exception | None]:
        with self.lock:
            self.batches.append([m.message_id for m in messages])
        if self.fail_batches:
            raise ConnectionError("the commit was cut off")
        return [self.outcome.pop(m.message_id, None) or self._failure(m.message_id) for m in messages]

    def _failure(self, message_id: str) -> Exception | None:
        return RuntimeError("carrier down") if message_id in self.always_failing else None

    def handled(self) -> list[str]:
        with self.lock:
            return [m for batch in self.batches for m in batch] + list(self.singles)


@pytest.fixture
def consuming(schedule_db):  # type: ignore[no-untyped-def]
    """A batching consumer of the `work` queue, parking its retries in `schedule_db`, the relay beside it."""

    def start(url: str, topology: Topology, handler: Recorder, batch: int = 5):  # type: ignore[no-untyped-def]
        return consume(schedule_db, url, topology, handler, prefetch=batch, batch=batch)

    return start


def publish(url: str, topology: Topology, ids: list[str]) -> None:
    publisher = ConfirmedPublisher(url, topology)
    try:
        publisher.publish_batch(
            [OutgoingMessage(i, topology.events.name, "return.requested.test", {"n": i}) for i in ids]
        )
    finally:
        publisher.close()


def depth(url: str, topology: Topology) -> int | None:
    states = {q.name: q.messages for q in inspector_for(url, topology).queues()}
    return states[topology.queue_name(topology.specs["work"])]


def test_waiting_deliveries_are_handled_in_batches_and_acked_together(broker, consuming) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    ids = [f"m{n}" for n in range(12)]
    publish(url, topology, ids)
    handler = Recorder()
    with consuming(url, topology, handler):
        assert wait_for(lambda: sorted(handler.handled()) == sorted(ids), timeout=15)
    print(f"\n[batches] {url.split(':')[0]}: sizes {[len(b) for b in handler.batches]}")
    assert handler.singles == []
    assert max(len(b) for b in handler.batches) > 1 and all(len(b) <= 5 for b in handler.batches)
    assert wait_for(lambda: depth(url, topology) == 0, timeout=5), "nothing left unacked to come back"
    assert inspector_for(url, topology).dead_letters(topology.queue_name(topology.specs["work"])) == []


def test_a_rejected_message_of_a_batch_alone_is_dead_lettered_and_a_deferred_one_comes_back(broker, consuming) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    ids = ["m0", "m1", "m2", "m3"]
    publish(url, topology, ids)
    handler = Recorder({"m1": Reject("no such case"), "m2": Defer("an earlier event is not handled yet")})
    work = topology.queue_name(topology.specs["work"])
    inspector = inspector_for(url, topology)
    with consuming(url, topology, handler):
        assert wait_for(lambda: handler.handled().count("m2") == 2, timeout=15)
        letters = wait_for(lambda: inspector.dead_letters(work), timeout=10)
    assert [letter.message_id for letter in letters] == ["m1"]
    assert letters[0].reason == "no such case"
    assert sorted(handler.handled()) == ["m0", "m1", "m2", "m2", "m3"]
    assert wait_for(lambda: depth(url, topology) == 0, timeout=5)


def test_when_a_batch_fails_each_message_is_handled_alone(broker, consuming) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    ids = ["m0", "m1", "m2"]
    publish(url, topology, ids)
    handler = Recorder(fail_batches=True)
    with consuming(url, topology, handler):
        assert wait_for(lambda: sorted(handler.singles) == ids, timeout=15)
    assert sorted(m for batch in handler.batches for m in batch) == ids
    assert wait_for(lambda: depth(url, topology) == 0, timeout=5)


def test_a_handler_without_batches_gets_one_message_at_a_time(broker, schedule_db) -> None:  # type: ignore[no-untyped-def]
    url, topology = broker
    seen: list[str] = []
    with consume(schedule_db, url, topology, seen.append, prefetch=5, batch=5) as consumer:
        assert consumer.batch_handler is None
        publish(url, topology, ["m0", "m1"])
        assert wait_for(lambda: len(seen) == 2, timeout=10)


def test_a_failing_message_comes_back_after_each_delay_then_is_dead_lettered(broker, consuming) -> None:  # type: ignore[no-untyped-def]
    """Retries wait in the database schedule (one row at a time), never in the broker; the last one dead-letters."""
    url, topology = broker
    work = topology.queue_name(topology.specs["work"])
    handler = Recorder(always_failing=("m0",))
    inspector = inspector_for(url, topology)
    publish(url, topology, ["m0"])
    with consuming(url, topology, handler):
        letters = wait_for(lambda: inspector.dead_letters(work), timeout=15)
    assert [letter.message_id for letter in letters] == ["m0"]
    assert letters[0].reason == "gave up after 3 attempts: carrier down"
    assert handler.handled() == ["m0", "m0", "m0"]
    assert {q.role for q in inspector.queues()} == {"work", "dead"}, "no delay queue is declared"


@pytest.mark.rabbitmq
def test_redelivered_messages_are_handled_alone(rabbit_url: str, consuming) -> None:  # type: ignore[no-untyped-def]
    """A consumer that died holding a batch: whichever message killed it must not take the others to the limit."""
    import pika

    from queues.inspection import pika_parameters

    topology = Topology(f"b{uuid.uuid4().hex[:8]}", delivery_limit=3, retry_delays=(1, 1))
    topology.add(QueueSpec("work", "events", ("#",)))
    publish(rabbit_url, topology, ["m0", "m1", "m2"])
    work = topology.queue_name(topology.specs["work"])
    try:
        with contextlib.closing(pika.BlockingConnection(pika_parameters(rabbit_url))) as connection:
            channel = connection.channel()
            for _ in range(3):  # taken and never acked: back with `redelivered` when the channel closes
                method, _, _ = channel.basic_get(work, auto_ack=False)
                assert method is not None
        handler = Recorder()
        with consuming(rabbit_url, topology, handler):
            assert wait_for(lambda: sorted(handler.singles) == ["m0", "m1", "m2"], timeout=15)
        assert handler.batches == []
    finally:
        from tests.faults.stack import delete_queues

        names = [q.name for q in inspector_for(rabbit_url, topology).queues()]
        delete_queues(rabbit_url, topology.prefix, names)
