import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import responses

from adapters.carriers.base import CarrierRejected, PickupWindow, SignatureError
from adapters.carriers.fedex import FedEx
from adapters.carriers.gateway import CarrierGateway
from adapters.http import HttpClient, HttpResult
from core.tracking import TrackingStatus
from tests.adapters.carrier_fixtures import inbound, order, settings

FEDEX = FedEx()
CONFIGURED = settings(
    "fedex", CLIENT_ID="cid", CLIENT_SECRET="csecret", ACCOUNT="740561073", BASE_URL="https://fx.test"
)
SHIP_OK = {
    "transactionId": "t-1",
    "output": {
        "transactionShipments": [
            {
                "masterTrackingNumber": "794600000000",
                "serviceType": "FEDEX_INTERNATIONAL_PRIORITY",
                "pieceResponses": [{"packageDocuments": [{"contentType": "LABEL", "encodedLabel": "TEFCRUw="}]}],
                "shipmentDocuments": [{"contentType": "COMMERCIAL_INVOICE", "encodedLabel": "SU5W"}],
            }
        ]
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_return_label_request_matches_the_documented_international_return():
    request = FEDEX.build_return_shipment(order(), CONFIGURED)
    shipment = request.json_body["requestedShipment"]
    assert request.method == "POST" and request.url == "https://fx.test/ship/v1/shipments"
    assert request.json_body["labelResponseOptions"] == "LABEL"
    assert request.json_body["accountNumber"] == {"value": "740561073"}
    assert shipment["shipper"]["address"] == {
        "streetLines": ["Hauptstr. 1"],
        "city": "Berlin",
        "postalCode": "10115",
        "countryCode": "DE",
    }
    assert shipment["recipients"][0]["address"]["countryCode"] == "CN"
    assert shipment["serviceType"] == "FEDEX_INTERNATIONAL_PRIORITY"
    assert shipment["packagingType"] == "YOUR_PACKAGING"
    assert shipment["shippingChargesPayment"]["paymentType"] == "RECIPIENT"
    special = shipment["shipmentSpecialServices"]
    assert special["specialServiceTypes"] == ["RETURN_SHIPMENT"]
    assert special["returnShipmentDetail"]["returnType"] == "PRINT_RETURN_LABEL"
    customs = shipment["customsClearanceDetail"]
    assert customs["customsOption"] == {"type": "REJECTED"}
    assert customs["dutiesPayment"]["paymentType"] == "RECIPIENT"
    assert customs["commercialInvoice"]["shipmentPurpose"] == "NOT_SOLD"
    assert customs["commodities"][0] == {
        "description": "Cotton T-shirt",
        "countryOfManufacture": "CN",
        "harmonizedCode": "610910",
        "quantity": 1,
        "quantityUnits": "PCS",
        "numberOfPieces": 1,
        "unitPrice": {"amount": 25, "currency": "EUR"},
        "customsValue": {"amount": 25, "currency": "EUR"},
        "weight": {"units": "KG", "value": 0.3},
    }
    assert customs["commodities"][1]["customsValue"] == {"amount": 25, "currency": "EUR"}
    assert "harmonizedCode" not in customs["commodities"][1]
    assert customs["totalCustomsValue"] == {"amount": 50, "currency": "EUR"}


def test_a_defective_item_is_declared_to_customs_as_a_faulty_item():
    request = FEDEX.build_return_shipment(order(reason="defective"), CONFIGURED)
    assert request.json_body["requestedShipment"]["customsClearanceDetail"]["customsOption"] == {"type": "FAULTY_ITEM"}


def test_label_answer_gives_tracking_number_label_and_invoice():
    booked = FEDEX.parse_return_shipment(HttpResult(200, SHIP_OK, {}))
    assert booked.tracking_number == "794600000000"
    assert booked.label_pdf_base64 == "TEFCRUw="
    assert booked.documents == {"commercial_invoice": "SU5W"}


def test_refusal_carries_fedex_message():
    body = {"transactionId": "t", "errors": [{"code": "SHIPMENT.RETURN.INVALID", "message": "Return type is invalid."}]}
    with pytest.raises(CarrierRejected, match="Return type is invalid"):
        FEDEX.parse_return_shipment(HttpResult(422, body, {}))


@responses.activate
def test_token_is_fetched_once_and_reused_until_it_nearly_expires():
    clock = Clock()
    gateway = CarrierGateway(HttpClient(), clock)
    responses.post("https://fx.test/oauth/token", json={"access_token": "tok-1", "expires_in": 3600})
    responses.post("https://fx.test/ship/v1/shipments", json=SHIP_OK)
    gateway.book_return(FEDEX, order(), CONFIGURED)
    gateway.book_return(FEDEX, order(), CONFIGURED)
    token_calls = [c for c in responses.calls if c.request.url.endswith("/oauth/token")]
    assert len(token_calls) == 1
    assert "grant_type=client_credentials" in token_calls[0].request.body
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-1"

    clock.now += timedelta(minutes=56)  # within the five-minute margin of expiry
    responses.post("https://fx.test/oauth/token", json={"access_token": "tok-2", "expires_in": 3600})
    gateway.book_return(FEDEX, order(), CONFIGURED)
    assert len([c for c in responses.calls if c.request.url.endswith("/oauth/token")]) == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer tok-2"


@responses.activate
def test_a_token_ended_early_by_fedex_is_replaced_and_the_call_repeated_once():
    gateway = CarrierGateway(HttpClient(), Clock())
    responses.post("https://fx.test/oauth/token", json={"access_token": "old", "expires_in": 3600})
    responses.post("https://fx.test/oauth/token", json={"access_token": "new", "expires_in": 3600})
    responses.post("https://fx.test/ship/v1/shipments", status=401, json={"errors": [{"code": "NOT.AUTHORIZED"}]})
    responses.post("https://fx.test/ship/v1/shipments", json=SHIP_OK)
    outcome = gateway.book_return(FEDEX, order(), CONFIGURED)
    assert outcome.sent and outcome.result.tracking_number == "794600000000"
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer new"


def test_without_credentials_the_request_is_built_but_not_sent():
    gateway = CarrierGateway(HttpClient(), Clock())
    outcome = gateway.book_return(FEDEX, order(), settings("fedex"))
    assert outcome.sent is False
    assert outcome.request["url"] == "https://apis-sandbox.fedex.com/ship/v1/shipments"
    assert outcome.request["body"]["requestedShipment"]["shipmentSpecialServices"]["specialServiceTypes"] == [
        "RETURN_SHIPMENT"
    ]


def test_pickup_request_and_answer():
    request = FEDEX.build_pickup(order(), PickupWindow(order().ship_date), "794600000000", CONFIGURED)
    body = request.json_body
    assert request.url == "https://fx.test/pickup/v1/pickups"
    assert body["associatedAccountNumber"] == {"value": "740561073"}
    assert body["originDetail"]["readyDateTimestamp"] == "2026-07-02T09:00:00"
    assert body["originDetail"]["customerCloseTime"] == "17:00:00"
    assert body["originDetail"]["pickupLocation"]["address"]["city"] == "Berlin"
    assert body["carrierCode"] == "FDXE" and body["countryRelationships"] == "INTERNATIONAL"
    assert body["trackingNumber"] == "794600000000"
    booked = FEDEX.parse_pickup(HttpResult(200, {"output": {"pickupConfirmationCode": "3001", "location": "NQAA"}}, {}))
    assert booked.reference == "3001"
    cancel = FEDEX.build_cancel_pickup("3001", order(), PickupWindow(order().ship_date), CONFIGURED)
    assert cancel.method == "PUT" and cancel.json_body["pickupConfirmationCode"] == "3001"


def _track_body(*scans):
    return {
        "output": {
            "completeTrackResults": [
                {
                    "trackingNumber": "794600000000",
                    "trackResults": [
                        {"trackingNumberInfo": {"trackingNumber": "794600000000"}, "scanEvents": list(scans)}
                    ],
                }
            ]
        }
    }


def test_tracking_scans_map_to_canonical_statuses():
    body = _track_body(
        {"date": "2026-07-05T14:00:00+08:00", "eventType": "DL", "eventDescription": "Delivered"},
        {"date": "2026-07-02T10:15:00+02:00", "eventType": "PU", "scanLocation": {"city": "Berlin"}},
    )
    updates = FEDEX.parse_tracking(HttpResult(200, body, {}))
    assert [(u.code, u.status) for u in updates] == [
        ("DL", TrackingStatus.DELIVERED_TO_WAREHOUSE),
        ("PU", TrackingStatus.SHIPPED_BACK),
    ]
    assert updates[1].occurred_at == datetime(2026, 7, 2, 8, 15, tzinfo=UTC)


def test_push_signed_with_the_security_token_is_accepted_and_a_forged_one_refused():
    configured = settings("fedex", WEBHOOK_SECRET="sec-token")
    body = json.dumps(_track_body({"date": "2026-07-02T10:15:00+02:00", "eventType": "PU"})).encode()
    signature = base64.b64encode(hmac.new(b"sec-token", body, hashlib.sha256).digest()).decode()
    FEDEX.verify_tracking_push(inbound(body, **{"fdx-signature": signature}), configured)
    assert FEDEX.parse_tracking_push(inbound(body), configured)[0].status == TrackingStatus.SHIPPED_BACK
    forged = base64.b64encode(hmac.new(b"guess", body, hashlib.sha256).digest()).decode()
    with pytest.raises(SignatureError):
        FEDEX.verify_tracking_push(inbound(body, **{"fdx-signature": forged}), configured)
    with pytest.raises(SignatureError):
        FEDEX.verify_tracking_push(inbound(body, **{"fdx-signature": signature}), settings("fedex"))


def test_fedex_offers_no_interception_so_it_becomes_an_operator_task():
    from adapters.carriers.base import InterceptOrder
    from tests.adapters.carrier_fixtures import MERCHANT

    outcome = CarrierGateway(HttpClient(), Clock()).intercept(
        FEDEX, InterceptOrder("case-1", "794600000000", MERCHANT), CONFIGURED
    )
    assert outcome.operator_task and not outcome.sent
