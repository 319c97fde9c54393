"""Retries parked in the database schedule, the broker's delivery limit, and dead letters browsed and replayed with pika."""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Iterator

import pika
import pytest

from adapters.messages import Defer
from queues.consumer import IncomingMessage
from queues.inspection import PikaInspector, pika_parameters
from queues.publisher import ConfirmedPublisher, OutgoingMessage
from queues.topology import QueueSpec, Topology
from tests.conftest import wait_for
from tests.faults.stack import delete_queues
from tests.retry_support import consuming

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def topology(rabbit_url: str) -> Iterator[Topology]:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    built = Topology(prefix, delivery_limit=2, retry_delays=(1, 2))
    built.add(QueueSpec("work", "events", ("#",)))
    publisher = ConfirmedPublisher(rabbit_url, built)
    publisher._ensure()  # declares the topology
    publisher.close()
    yield built
    with contextlib.suppress(Exception):
        delete_queues(rabbit_url, prefix, [q.name for q in PikaInspector(rabbit_url, built).queues()])


def publish(rabbit_url: str, topology: Topology, message_id: str) -> None:
    publisher = ConfirmedPublisher(rabbit_url, topology)
    try:
        publisher.publish(OutgoingMessage(message_id, topology.events.name, "return.requested.test", {"n": 1}))
    finally:
        publisher.close()


def test_a_failing_message_waits_growing_delays_then_succeeds(rabbit_url: str, topology: Topology, schedule_db) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[float, int]] = []

    def flaky(message: IncomingMessage) -> None:
        seen.append((time.monotonic(), message.attempts))
        if len(seen) < 3:
            raise RuntimeError("carrier down")

    with consuming(schedule_db, rabbit_url, topology, flaky, prefetch=5):
        publish(rabbit_url, topology, "m-retry")
        assert wait_for(lambda: len(seen) == 3, timeout=15)
    attempts = [a for _, a in seen]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(seen)]
    print(f"\n[retries] attempts {attempts}, delays {[round(g, 2) for g in gaps]} s")
    assert attempts == [0, 1, 2]
    assert gaps[0] >= 0.9 and gaps[1] >= 1.9, "the second wait must be the longer delay"
    assert gaps[0] < 1.9 and gaps[1] < 2.9, "each comes back promptly once due"
    assert schedule_db.parked() == {}


def test_exhausted_retries_are_dead_lettered_with_the_reason(rabbit_url: str, topology: Topology, schedule_db) -> None:  # type: ignore[no-untyped-def]
    def broken(message: IncomingMessage) -> None:
        raise RuntimeError("always fails")

    inspector = PikaInspector(rabbit_url, topology)
    with consuming(schedule_db, rabbit_url, topology, broken, prefetch=5):
        publish(rabbit_url, topology, "m-dead")
        letters = wait_for(lambda: inspector.dead_letters(f"{topology.prefix}.work"), timeout=15)
    assert [letter.message_id for letter in letters] == ["m-dead"]
    assert letters[0].reason.startswith("gave up after 3 attempts: always fails")
    # Browsing consumed nothing.
    assert inspector.dead_letters(f"{topology.prefix}.work")[0].message_id == "m-dead"
    assert schedule_db.parked() == {}


def test_the_brokers_delivery_limit_dead_letters_a_message_that_keeps_coming_back(
    rabbit_url: str, topology: Topology, schedule_db
) -> None:  # type: ignore[no-untyped-def]
    """A consumer that dies with the message in hand (here: reject and requeue) hits x-delivery-limit=2."""
    publish(rabbit_url, topology, "m-poison")
    work = f"{topology.prefix}.work"
    returns = 0
    with contextlib.closing(pika.BlockingConnection(pika_parameters(rabbit_url))) as connection:
        channel = connection.channel()
        for _ in range(10):
            method, _, _ = channel.basic_get(work, auto_ack=False)
            if method is None:
                break
            channel.basic_reject(method.delivery_tag, requeue=True)
            returns += 1
    inspector = PikaInspector(rabbit_url, topology)
    letters = wait_for(lambda: inspector.dead_letters(work), timeout=10)
    print(f"\n[delivery limit] returned {returns} times, then dead-lettered: {letters[0].reason}")
    assert returns == 3  # the limit is 2: the third return exceeds it
    assert letters[0].message_id == "m-poison"
    assert letters[0].reason == "broker: delivery_limit"

    handled: list[str] = []
    with consuming(schedule_db, rabbit_url, topology, lambda message: handled.append(message.message_id), prefetch=5):
        assert inspector.replay(work, "m-poison") == ["m-poison"]
        assert wait_for(lambda: handled == ["m-poison"], timeout=10)
    assert inspector.dead_letters(work) == []
    depths = {q.name: q.messages for q in inspector.queues()}
    assert depths[work] == 0 and depths[f"{work}.dead"] == 0


def test_replay_of_one_leaves_the_others_dead(rabbit_url: str, topology: Topology) -> None:
    publisher = ConfirmedPublisher(rabbit_url, topology)
    try:
        for n in range(3):
            publisher.publish(OutgoingMessage(f"d{n}", topology.dlx.name, f"{topology.prefix}.work", {"n": n},
                                              headers={"x-rb-dead-reason": f"reason {n}"}))  # fmt: skip
    finally:
        publisher.close()
    inspector = PikaInspector(rabbit_url, topology)
    work = f"{topology.prefix}.work"
    assert [d.message_id for d in inspector.dead_letters(work)] == ["d0", "d1", "d2"]
    assert inspector.replay(work, "d1") == ["d1"]
    assert sorted(d.message_id for d in inspector.dead_letters(work)) == ["d0", "d2"]
    assert sorted(inspector.replay(work)) == ["d0", "d2"]
    assert inspector.dead_letters(work) == []
    assert {q.name: q.messages for q in inspector.queues()}[work] == 3


def test_a_deferred_message_comes_back_from_the_database_schedule(
    rabbit_url: str, topology: Topology, schedule_db
) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[float, int]] = []

    def waits_once(message: IncomingMessage) -> None:
        seen.append((time.monotonic(), message.deferrals))
        if len(seen) == 1:
            raise Defer("an earlier event of the case is not handled yet")

    with consuming(schedule_db, rabbit_url, topology, waits_once, prefetch=5):
        publish(rabbit_url, topology, "m-defer")
        assert wait_for(lambda: len(seen) == 2, timeout=15)
    assert [d for _, d in seen] == [0, 1]
    assert 0.9 <= seen[1][0] - seen[0][0] < 1.9, "it waited the shortest delay, and no longer"
    assert schedule_db.parked() == {}
    states = PikaInspector(rabbit_url, topology).queues()
    assert {q.role for q in states} == {"work", "dead"}, "no delay queue is declared any more"


@pytest.mark.parametrize(
    ("suffix", "arguments"),
    [
        ("", {"x-queue-type": "quorum", "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}),
        (".v2", {"x-queue-type": "classic"}),
    ],
    ids=["quorum", "classic"],
)
def test_former_delay_queues_are_left_alone_and_drain_into_the_work_queue(
    rabbit_url: str, topology: Topology, schedule_db, suffix: str, arguments: dict
) -> None:  # type: ignore[no-untyped-def]
    """A deployment from before the database schedule: its `.retry.<n>s` queues keep and return their messages."""
    spec = topology.specs["work"]
    work = topology.queue_name(spec)
    former = f"{work}.retry.1s{suffix}"
    assert former in topology.former_retry_queue_names(spec)
    with contextlib.closing(pika.BlockingConnection(pika_parameters(rabbit_url))) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.queue_declare(former, durable=True, arguments={
            **arguments, "x-message-ttl": 1000, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": work})  # fmt: skip
        channel.basic_publish("", former, b'{"n": 1}', pika.BasicProperties(
            delivery_mode=2, message_id="m-former", content_type="application/json"))  # fmt: skip
    publisher = ConfirmedPublisher(rabbit_url, topology)
    publisher._ensure()  # a redeploy: the old queue is not redeclared, so no PRECONDITION_FAILED
    publisher.close()
    handled: list[str] = []
    with consuming(schedule_db, rabbit_url, topology, lambda message: handled.append(message.message_id), prefetch=5):
        assert wait_for(lambda: handled == ["m-former"], timeout=15)
    roles = {q.name: q.role for q in PikaInspector(rabbit_url, topology).queues()}
    assert roles[former] == "retry", "operators see the former queue until they delete it"
