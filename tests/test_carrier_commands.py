"""Carrier commands handled once whatever is redelivered: labels, pickups, interceptions."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import responses

from config.settings import Settings
from core.cases import Command
from queues.consumer import IncomingMessage
from service.intake import command_body
from tests.carrier_flow import CARRIER_ENV, fake_carriers
from tests.conftest import make_settings
from tests.test_tracking import seeded


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    env = {**CARRIER_ENV, "RB_SF_EXPRESS_PARTNER_ID": "PARTNER", "RB_SF_EXPRESS_CHECKWORD": "cw",
           "RB_SF_EXPRESS_FENGQIAO_URL": "https://fq.test/std/service"}  # fmt: skip
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", **env)


def message(case_id: str, carrier: str, action: str, key: str, payload: dict | None = None) -> IncomingMessage:
    command = Command("carrier", carrier, action, key, payload or {"case_id": case_id})
    return IncomingMessage(uuid.uuid4().hex, command_body(command, case_id), command.routing_key)


def case_and_shipments(container, case_id: str):  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    with container.uow() as uow:
        rows = {s.kind: SimpleNamespace(**{c: getattr(s, c) for c in ("status", "tracking_number", "idempotency_key",
                "request", "error")}) for s in uow.shipments.for_case(case_id)}  # fmt: skip
        return uow.cases.get(case_id), rows


def test_the_same_booking_redelivered_three_times_posts_once(container):
    case_id = seeded(container, number="unused")
    handler = container.handlers["carrier.dhl_express"]
    same = message(case_id, "dhl_express", "book_return", f"{case_id}:return_shipment")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        labels = fake_carriers(mock)
        for _ in range(3):
            handler(same)
        handler(message(case_id, "dhl_express", "book_return", f"{case_id}:return_shipment"))  # a new message id
        assert len([c for c in mock.calls if c.request.url == labels["dhl_express"]]) == 1


def test_fedex_books_the_pickup_after_the_label_with_its_own_key_and_never_twice(container):
    case_id = seeded(container, number="unused")
    handler = container.handlers["carrier.fedex"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_carriers(mock)
        handler(message(case_id, "fedex", "book_return", f"{case_id}:return_shipment"))
        pickup = message(case_id, "fedex", "book_pickup", f"{case_id}:pickup",
                         {"case_id": case_id, "tracking_number": "794600000001"})  # fmt: skip
        handler(pickup)
        handler(pickup)
        posts = [c for c in mock.calls if c.request.url == "https://fx.test/pickup/v1/pickups"]
        assert len(posts) == 1
        body = json.loads(posts[0].request.body)
        assert body["trackingNumber"] == "794600000001"
        assert body["originDetail"]["pickupLocation"]["address"]["countryCode"] == "DE"
    _, shipments = case_and_shipments(container, case_id)
    assert shipments["pickup"].status == "booked" and shipments["pickup"].tracking_number == "FXPU-1"
    assert shipments["pickup"].idempotency_key == f"{case_id}:pickup"


def test_a_buyer_who_drops_off_gets_no_pickup(container):
    from sqlalchemy import select

    from adapters.storage.models import OutboxRow

    case_id = seeded(container, number="unused")
    with container.uow() as uow:
        case = uow.cases.get(case_id)
        from dataclasses import replace

        case.return_ = replace(case.return_, pickup=False)
        uow.cases.save(case, case.created_at)
        uow.commit()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake_carriers(mock)
        container.handlers["carrier.fedex"](message(case_id, "fedex", "book_return", f"{case_id}:return_shipment"))
        sent = json.loads(mock.calls[-1].request.body)
    assert sent["requestedShipment"]["pickupType"] == "DROPOFF_AT_FEDEX_LOCATION"
    with container.uow() as uow:
        keys = [r.routing_key for r in uow.session.scalars(select(OutboxRow)).all()]
    assert "carrier.fedex.book_pickup" not in keys


def test_fedex_interception_becomes_an_operator_task_with_a_clear_message(container):
    case_id = seeded(container, number="unused")
    handler = container.handlers["carrier.fedex"]
    intercept = message(case_id, "fedex", "intercept", f"{case_id}:intercept",
                        {"case_id": case_id, "tracking": {"carrier": "fedex", "number": "OUT-123"}})  # fmt: skip
    with responses.RequestsMock() as mock:
        handler(intercept)
        handler(intercept)
        assert len(mock.calls) == 0
    case, shipments = case_and_shipments(container, case_id)
    assert case.needs_attention is True
    assert shipments["intercept"].status == "operator_task"
    text = case.timeline[-1].detail["message"]
    assert case.timeline[-1].name == "intercept_operator_task"
    assert "offers no interception API" in text and "OUT-123" in text


def test_sf_express_interception_goes_through_fengqiao_once(container):
    case_id = seeded(container, carrier="sf_express", number="unused")
    handler = container.handlers["carrier.sf_express"]
    intercept = message(case_id, "sf_express", "intercept", f"{case_id}:intercept",
                        {"case_id": case_id, "tracking": "SF0000000001"})  # fmt: skip
    with responses.RequestsMock() as mock:
        mock.post("https://fq.test/std/service", json={"apiResultCode": "A1000", "apiResponseID": "R-1",
                                                      "apiResultData": {"success": True}})  # fmt: skip
        handler(intercept)
        handler(intercept)
        assert len(mock.calls) == 1
        form = dict(x.split("=", 1) for x in mock.calls[0].request.body.split("&"))
        assert form["serviceCode"] == "EXP_RECE_WANTED_INTERCEPT" and "msgDigest" in form
    case, shipments = case_and_shipments(container, case_id)
    assert shipments["intercept"].status == "booked"
    assert case.timeline[-1].name == "intercept_requested"
    assert case.needs_attention is False


def test_an_interception_with_no_known_parcel_needs_attention(container):
    case_id = seeded(container, carrier="sf_express", number="unused")
    container.handlers["carrier.sf_express"](message(case_id, "sf_express", "intercept", f"{case_id}:intercept"))
    case, _ = case_and_shipments(container, case_id)
    assert case.needs_attention and case.timeline[-1].name == "intercept_failed"
    assert "outbound tracking number" in case.timeline[-1].detail["message"]


def test_without_credentials_the_label_and_pickup_are_stored_not_sent(tmp_path):
    from service.bootstrap import Container

    bare = Container(make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/bare.db", RB_TRACKING_POLL_SECONDS="0",
                                   **{k: v for k, v in CARRIER_ENV.items() if k.startswith("RB_RETURNS_ADDRESS_")}))  # fmt: skip
    try:
        case_id = seeded(bare, number="unused")
        with responses.RequestsMock() as mock:
            bare.handlers["carrier.fedex"](message(case_id, "fedex", "book_return", f"{case_id}:return_shipment"))
            bare.handlers["carrier.fedex"](message(case_id, "fedex", "book_pickup", f"{case_id}:pickup"))
            assert len(mock.calls) == 0
        _, shipments = case_and_shipments(bare, case_id)
        assert shipments["return_label"].status == "not_sent" and shipments["pickup"].status == "not_sent"
        assert shipments["pickup"].request["url"].endswith("/pickup/v1/pickups")
    finally:
        bare.close()


def test_a_label_the_carrier_would_refuse_is_not_sent_and_the_case_says_why(tmp_path):
    """The merchant's returns address has no phone: FedEx requires one, so nothing goes out and the case
    needs attention with the field named, instead of a request the carrier refuses."""
    from service.bootstrap import Container

    env = {k: v for k, v in CARRIER_ENV.items() if k != "RB_RETURNS_ADDRESS_PHONE"}
    env["RB_DATABASE_URL"] = f"sqlite:///{tmp_path}/nophone.db"
    box = Container(make_settings(**env))
    try:
        case_id = seeded(box, number="unused")
        with responses.RequestsMock() as mock:
            box.handlers["carrier.fedex"](message(case_id, "fedex", "book_return", f"{case_id}:return_shipment"))
            assert len(mock.calls) == 0
        case, shipments = case_and_shipments(box, case_id)
        assert shipments["return_label"].idempotency_key.endswith(":earlier_label")  # only the seeded one
        assert case.needs_attention
        failed = [t for t in case.timeline if t.name == "return_label_failed"]
        assert failed and "recipients[0].contact.phoneNumber" in failed[0].detail["message"]
    finally:
        box.close()


def test_a_refused_interception_moves_an_intercepting_case_to_interception_failed(container):
    case_id = seeded(container, carrier="sf_express", number="unused", state="intercepting")
    intercept = message(case_id, "sf_express", "intercept", f"{case_id}:intercept",
                        {"case_id": case_id, "tracking": "SF0000000002"})  # fmt: skip
    with responses.RequestsMock() as mock:
        mock.post("https://fq.test/std/service", json={"apiResultCode": "A1000",
                  "apiResultData": {"success": False, "errorMsg": "parcel already delivered"}})  # fmt: skip
        container.handlers["carrier.sf_express"](intercept)
    case, shipments = case_and_shipments(container, case_id)
    assert shipments["intercept"].status == "rejected"
    assert case.state == "interception_failed" and case.needs_attention
    assert any(t.name == "intercept_refused" and "already delivered" in t.detail["message"] for t in case.timeline)


def test_the_buyers_phone_stands_in_when_the_collection_address_has_none():
    from datetime import UTC, date, datetime

    from core.cases import open_case
    from core.shipments import return_shipment_order
    from service.canonical import load_event
    from tests.conftest import unique_event

    event = unique_event()
    event["order"]["ship_to"].pop("phone", None)
    event["order"]["buyer"] = {**event["order"].get("buyer", {}), "phone": "+4915112345678"}
    case = open_case("case-phone", "generic", load_event(event), datetime.now(UTC))
    order = return_shipment_order(case, None, date(2026, 12, 1))
    assert order.shipper.phone == "+4915112345678"
