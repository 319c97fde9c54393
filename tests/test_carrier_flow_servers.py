"""The carrier flow against RabbitMQ and PostgreSQL: the 503 retry parked in the database and relayed back, the scans table and the
in-flight query on PostgreSQL."""

from __future__ import annotations

import pytest
import responses

from queues.worker import Worker
from service.bootstrap import Container
from tests.carrier_flow import (
    CARRIER_ENV,
    FEDEX_TRACKING,
    approved_case,
    calls_to,
    fake_carriers,
    fedex_push,
    wait_case,
)
from tests.conftest import delete_topology, make_settings, operator_client

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


def test_fedex_return_on_rabbitmq_and_postgresql(rabbit_url, postgres_url):
    settings = make_settings(RB_DATABASE_URL=postgres_url, RB_BROKER_URL=rabbit_url, **CARRIER_ENV)
    container = Container(settings)
    from wsgi import create_app

    client = operator_client(create_app(settings, container))  # reading cases needs the operator's token
    worker = Worker(container.relay, container.consumers())
    try:
        worker.start()
        assert worker.wait_ready(20)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.add_passthru("http://127.0.0.1")
            labels = fake_carriers(mock)
            mock.replace(responses.POST, labels["fedex"], status=503)
            from tests.carrier_flow import FEDEX_SHIP

            mock.add(responses.POST, labels["fedex"], json=FEDEX_SHIP)
            case_id = approved_case(client, carrier="fedex", pickup=True)
            wait_case(client, case_id, lambda c: len([s for s in c["shipments"] if s["status"] == "booked"]) == 2, 30)
            assert len(calls_to(mock, labels["fedex"])) == 2
            assert container.tracking_poller.in_flight() == [("fedex", FEDEX_TRACKING)]
            body, headers = fedex_push([("PU", "2026-11-12T10:00:00+01:00"), ("DL", "2026-11-14T10:00:00+08:00")])
            assert client.post("/carriers/fedex/tracking", data=body, headers=headers).status_code == 202
            wait_case(client, case_id, lambda c: c["state"] == "inspecting", 20)
            assert container.tracking_poller.in_flight() == []
    finally:
        worker.stop()
        container.close()
        delete_topology(rabbit_url, settings.topology_prefix)
