"""The walking skeleton end to end in one process: webhook -> outbox -> broker -> case -> DHL -> notices."""

from __future__ import annotations

import json

import pytest
import responses

from queues.worker import Worker
from service.bootstrap import Container
from tests.carrier_flow import CARRIER_ENV
from tests.conftest import example, make_settings, operator_client, post_event, wait_for
from wsgi import create_app

DHL_URL = "https://dhl.test/mydhlapi"


def case_of(client, case_id: str) -> dict:
    return client.get(f"/returns/{case_id}").get_json()


def shipments(client, case_id: str) -> list[dict]:
    return case_of(client, case_id).get("shipments") or []


def test_request_then_approval_moves_the_case_and_builds_the_dhl_request_not_sent(client, running):
    accepted = post_event(client, example())
    assert accepted.status_code == 202
    case_id = accepted.json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
    assert post_event(client, example("return-approved")).status_code == 202
    assert wait_for(lambda: shipments(client, case_id))
    case = case_of(client, case_id)
    assert case["state"] == "approved"
    [shipment] = case["shipments"]
    assert shipment["carrier"] == "dhl_express" and shipment["status"] == "not_sent" and not shipment["sent"]
    assert shipment["request"]["url"].endswith("/shipments")
    body = shipment["request"]["body"]
    assert body["content"]["exportDeclaration"]["exportReasonType"] == "return"
    assert body["customerDetails"]["shipperDetails"]["postalAddress"]["cityName"] == "Berlin"
    names = [entry["name"] for entry in case["timeline"]]
    assert names[:4] == ["return.requested", "new->requested", "policy_applied", "request_received"]
    assert "return_label_not_sent" in names


def test_notices_are_rendered_in_the_locale_asked_for_with_the_amount_formatted(client, running):
    case_id = post_event(client, example()).json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["notices"])
    chinese = client.get(f"/returns/{case_id}/notices?locale=zh-CN").get_json()
    assert chinese["notices"][0]["subject"] == "我们已收到您对订单ORD-DE-1001的退货申请"
    assert "€49.90" in chinese["notices"][0]["body"]
    german = client.get(f"/returns/{case_id}/notices", headers={"Accept-Language": "de-DE,de;q=0.9"}).get_json()
    assert "49,90\xa0€" in german["notices"][0]["body"]
    own = client.get(f"/returns/{case_id}/notices").get_json()
    assert own["locale"] == "de-DE"  # the buyer's locale on the order, as a BCP 47 tag
    unknown = client.get(f"/returns/{case_id}/notices?locale=xx-%%%")
    assert unknown.status_code == 200
    assert unknown.get_json()["locale"] == "de-DE"  # an unusable choice gives way to the next: the buyer's own
    nothing_known = client.get(f"/returns/{case_id}/notices?locale=xx", headers={"Accept-Language": "tlh"})
    assert nothing_known.get_json()["locale"] == "de-DE"


@pytest.fixture
def dhl_service(tmp_path):
    settings = make_settings(
        RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db",
        RB_DHL_EXPRESS_API_KEY="key",
        RB_DHL_EXPRESS_API_SECRET="secret",
        RB_DHL_EXPRESS_ACCOUNT="950000000",
        RB_DHL_EXPRESS_BASE_URL=DHL_URL,
        # A label that is sent needs the merchant's returns address with its phone (MyDHL requires one).
        **{k: v for k, v in CARRIER_ENV.items() if k.startswith("RB_RETURNS_ADDRESS_")},
    )
    container = Container(settings)
    app = create_app(settings, container)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    yield operator_client(app), container  # reading cases needs the operator's token
    worker.stop()
    container.close()


@responses.activate
def test_with_credentials_the_label_is_booked_once_and_the_tracking_number_stored(dhl_service):
    client, _ = dhl_service
    responses.post(
        f"{DHL_URL}/shipments",
        json={"shipmentTrackingNumber": "1234567890", "documents": [{"typeCode": "label", "content": "JVBERi0="}]},
        status=201,
    )
    case_id = post_event(client, example()).json["case_id"]
    post_event(client, example("return-approved"))
    assert wait_for(lambda: [s for s in shipments(client, case_id) if s["status"] == "booked"])
    [shipment] = shipments(client, case_id)
    assert shipment["tracking_number"] == "1234567890" and shipment["label_available"]
    [call] = responses.calls
    assert call.request.headers["Authorization"].startswith("Basic ")
    assert call.request.headers["x-version"]
    sent = json.loads(call.request.body)
    assert sent["accounts"][0] == {"typeCode": "shipper", "number": "950000000"}
    assert "key" not in json.dumps(shipment["request"])  # credentials never shown


@responses.activate
def test_a_redelivered_booking_command_books_no_second_label(dhl_service):
    client, container = dhl_service
    responses.post(f"{DHL_URL}/shipments", json={"shipmentTrackingNumber": "1111111111"}, status=201)
    case_id = post_event(client, example()).json["case_id"]
    post_event(client, example("return-approved"))
    assert wait_for(lambda: [s for s in shipments(client, case_id) if s["status"] == "booked"])
    handler = container.handlers["carrier.dhl_express"]
    from queues.consumer import IncomingMessage
    from service.intake import command_message_id

    with container.uow() as uow:
        [shipment] = uow.shipments.for_case(case_id)
        key = shipment.idempotency_key
    body = {"case_id": case_id, "kind": "carrier", "adapter": "dhl_express", "action": "book_return",
            "idempotency_key": key, "payload": {}}  # fmt: skip
    for attempt in range(3):
        handler(IncomingMessage(command_message_id(key), body, "carrier.dhl_express.book_return",
                                {"x-rb-attempts": attempt}, redelivered=True))  # fmt: skip
        handler(IncomingMessage(f"other-{attempt}", body, "carrier.dhl_express.book_return"))
    assert len(responses.calls) == 1
    assert len(shipments(client, case_id)) == 1


@responses.activate
def test_a_carrier_refusal_flags_the_case_with_the_carriers_message(dhl_service):
    client, _ = dhl_service
    responses.post(f"{DHL_URL}/shipments", json={"status": 400, "title": "Bad request", "detail": "Invalid postal code"},
                   status=400)  # fmt: skip
    case_id = post_event(client, example()).json["case_id"]
    post_event(client, example("return-approved"))
    assert wait_for(lambda: [s for s in shipments(client, case_id) if s["status"] == "rejected"])
    case = case_of(client, case_id)
    assert case["needs_attention"]
    assert "Invalid postal code" in case["shipments"][0]["error"]


@responses.activate
def test_a_carrier_outage_is_retried_and_books_exactly_one_label(dhl_service):
    client, _ = dhl_service
    responses.post(f"{DHL_URL}/shipments", status=503)
    responses.post(f"{DHL_URL}/shipments", json={"shipmentTrackingNumber": "2222222222"}, status=201)
    case_id = post_event(client, example()).json["case_id"]
    post_event(client, example("return-approved"))
    assert wait_for(lambda: [s for s in shipments(client, case_id) if s["status"] == "booked"], timeout=15)
    assert len(responses.calls) == 2
    assert shipments(client, case_id)[0]["tracking_number"] == "2222222222"
