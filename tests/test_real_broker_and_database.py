"""The skeleton on the production parts: RabbitMQ 3.x quorum queues and PostgreSQL.

Skipped with a message when the servers do not answer; mandatory under CI=true.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import uuid
from datetime import UTC, datetime

import pika
import pytest

from adapters.messages import OutgoingMessage
from core.cases import open_case
from queues.worker import Worker
from service.bootstrap import Container
from service.canonical import load_event
from service.intake import event_envelope
from tests.conftest import (
    delete_topology,
    example,
    make_settings,
    operator_client,
    pika_parameters,
    post_event,
    unique_event,
    wait_for,
)
from wsgi import create_app

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture
def production(rabbit_url, postgres_url):  # type: ignore[no-untyped-def]
    settings = make_settings(RB_DATABASE_URL=postgres_url, RB_BROKER_URL=rabbit_url)
    container = Container(settings)
    app = create_app(settings, container)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(20)
    yield operator_client(app), container
    worker.stop()
    container.close()
    delete_topology(rabbit_url, settings.topology_prefix)


def queue_facts(prefix: str) -> dict[str, tuple[str, str]]:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name", "type", "arguments"], capture_output=True, text=True, timeout=30
    ).stdout
    facts = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if parts and parts[0].startswith(prefix + "."):
            facts[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return facts


def test_work_queues_are_quorum_queues_with_a_delivery_limit_and_dead_lettering(production):
    _, container = production
    prefix = container.settings.topology_prefix
    facts = queue_facts(prefix)
    kind, arguments = facts[f"{prefix}.cases"]
    assert kind == "quorum"
    assert "x-delivery-limit" in arguments and f"{prefix}.dlx" in arguments
    assert "at-least-once" in arguments and "reject-publish" in arguments
    assert facts[f"{prefix}.cases.dead"][0] == "quorum"
    assert f"{prefix}.carrier.dhl_express" in facts


def test_an_event_travels_through_rabbitmq_to_a_case_on_postgresql(production):
    client, _ = production
    first = post_event(client, example())
    assert first.status_code == 202
    case_id = first.json["case_id"]
    assert post_event(client, example()).status_code == 200
    assert post_event(client, example("return-approved")).status_code == 202

    def booked() -> dict | None:
        case = client.get(f"/returns/{case_id}").get_json()
        return case if case["state"] == "approved" and case["shipments"] else None

    case = wait_for(booked, timeout=20)
    assert case, "the approval did not reach the case and the carrier queue"
    assert case["shipments"][0]["status"] == "not_sent"
    assert client.get("/readyz").status_code == 200


def test_a_message_that_can_never_succeed_is_dead_lettered_with_its_reason(production, rabbit_url):
    _, container = production
    prefix = container.settings.topology_prefix
    message_id = f"bad-{uuid.uuid4().hex}"
    with contextlib.closing(pika.BlockingConnection(pika_parameters(rabbit_url))) as connection:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            f"{prefix}.events",
            "return.requested.generic",
            json.dumps({"event": {"type": "nonsense"}}),
            pika.BasicProperties(content_type="application/json", message_id=message_id, delivery_mode=2),
        )

        def dead_letter():  # type: ignore[no-untyped-def]
            method, properties, body = channel.basic_get(f"{prefix}.cases.dead", auto_ack=True)
            return (properties, body) if method else None

        found = wait_for(dead_letter, timeout=15, step=0.2)
    assert found, "the poison message never reached the dead-letter queue"
    properties, _ = found
    assert properties.message_id == message_id
    assert "not a valid event envelope" in properties.headers["x-rb-dead-reason"]


def test_a_retry_parked_in_postgresql_comes_back_through_rabbitmq_and_is_handled_once(production):
    client, container = production
    now = datetime.now(UTC)
    event = load_event(unique_event(n="parked"))
    with container.uow() as uow:
        uow.cases.add(open_case("case_parked_1", "generic", event, now), now)
        uow.commit()
    cases = container.topology.queue_name(container.topology.specs["cases"])
    body = event_envelope("evt_parked_1", "case_parked_1", "generic", now, event)
    parked = OutgoingMessage("evt_parked_1", "", cases, body, headers={"x-rb-deferrals": 1})
    container.relay.expect(container.retry_schedule.park(cases, parked, delay_seconds=1))
    listed = {q["name"]: q for q in client.get("/ops/queues").json["queues"]}
    assert (listed[f"{cases}.retry"]["messages"], listed[f"{cases}.retry"]["source"]) == (1, "database")

    def handled() -> bool:
        with container.uow() as uow:
            return uow.processed.seen("cases", "evt_parked_1")

    assert wait_for(handled, timeout=10)
    with container.uow() as uow:
        assert uow.cases.get("case_parked_1").state == "requested"
    assert container.retry_schedule.parked_by_queue() == {}


def test_readiness_fails_when_the_broker_does_not_answer(postgres_url):
    settings = make_settings(RB_DATABASE_URL=postgres_url, RB_BROKER_URL="amqp://guest:guest@127.0.0.1:1//")
    container = Container(settings)
    client = operator_client(create_app(settings, container))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["broker"].startswith("down")
    assert post_event(client, example()).status_code == 202  # accepted all the same: the outbox keeps it
    assert container.outbox_store.pending() == 1
    container.close()
