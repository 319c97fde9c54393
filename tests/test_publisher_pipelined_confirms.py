"""The relay publishes a claimed batch and then waits for its publisher confirms together, on real RabbitMQ.

What a user of the relay notices: every message of a batch arrives once, in order; a message the broker
cannot route stops the batch there (the relay keeps that row and the ones after it for the next round),
and the ones before it count as sent.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from queues.inspection import PikaInspector, pika_parameters
from queues.publisher import ConfirmedPublisher, OutgoingMessage, PublishFailed
from queues.topology import QueueSpec, Topology
from tests.faults.stack import delete_queues

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def topology(rabbit_url: str) -> Iterator[Topology]:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    built = Topology(prefix)
    built.add(QueueSpec("work", "events", ("return.#",)))
    yield built
    with contextlib.suppress(Exception):
        delete_queues(rabbit_url, prefix, [q.name for q in PikaInspector(rabbit_url, built).queues()])


def drain(rabbit_url: str, topology: Topology) -> list[str]:
    import pika

    connection = pika.BlockingConnection(pika_parameters(rabbit_url))
    try:
        channel = connection.channel()
        ids = []
        while True:
            method, properties, _body = channel.basic_get(topology.queue_name(topology.specs["work"]), auto_ack=True)
            if method is None:
                return ids
            ids.append(properties.message_id)
    finally:
        connection.close()


def message(topology: Topology, n: int, routing_key: str = "return.requested.test") -> OutgoingMessage:
    return OutgoingMessage(f"m{n}", topology.events.name, routing_key, {"n": n})


def test_a_batch_is_confirmed_together_and_arrives_once_in_order(rabbit_url: str, topology: Topology) -> None:
    publisher = ConfirmedPublisher(rabbit_url, topology)
    try:
        assert publisher.publish_batch([message(topology, n) for n in range(200)]) == 200
        assert publisher.publish_batch([message(topology, n) for n in range(200, 250)]) == 50  # same channel again
        publisher.publish(message(topology, 250))  # one at a time shares the channel's confirm count
        assert publisher.publish_batch([message(topology, 251)]) == 1
    finally:
        publisher.close()
    assert drain(rabbit_url, topology) == [f"m{n}" for n in range(252)]


def test_an_unroutable_message_stops_the_batch_there(rabbit_url: str, topology: Topology) -> None:
    publisher = ConfirmedPublisher(rabbit_url, topology)
    batch = [message(topology, 0), message(topology, 1), message(topology, 2, "nobody.listens"), message(topology, 3)]
    try:
        assert publisher.publish_batch(batch) == 2
        with pytest.raises(PublishFailed):
            publisher.publish_batch([message(topology, 9, "nobody.listens")])
        assert publisher.publish_batch([message(topology, 4)]) == 1  # the publisher still works afterwards
    finally:
        publisher.close()
    # m3 was routed by the broker, but the relay counts only the prefix as sent and publishes it again
    # next round: a duplicate the consumers' inbox absorbs, never a loss.
    assert drain(rabbit_url, topology) == ["m0", "m1", "m3", "m4"]


def test_the_relay_marks_the_confirmed_prefix_sent_and_retries_the_rest(container, rabbit_url: str,
                                                                        topology: Topology) -> None:  # fmt: skip
    now = datetime.now(UTC)
    with container.uow() as uow:
        for n, key in enumerate(["return.a.x", "return.b.x", "nobody.listens", "return.c.x"]):
            uow.outbox.add(topology.events.name, key, {"n": n}, now, message_id=f"row{n}")
        uow.commit()
    publisher = ConfirmedPublisher(rabbit_url, topology)
    try:
        store = container.outbox_store
        sent, error = store.relay_batch(now, 100, publisher.publish, timedelta(seconds=1),
                                        publish_many=publisher.publish_batch)  # fmt: skip
    finally:
        publisher.close()
    assert sent == 2 and error and "row2" in error
    assert store.pending() == 2
    assert drain(rabbit_url, topology)[:2] == ["row0", "row1"]
