import json
from datetime import UTC, datetime

import pytest
import responses

from adapters.carriers.base import CarrierRejected, PickupWindow, SignatureError
from adapters.carriers.dhl_express import DhlExpress
from adapters.carriers.gateway import CarrierGateway
from adapters.carriers.ups import Ups
from adapters.http import HttpClient, HttpResult, TransientHttpError
from core.tracking import TrackingStatus
from tests.adapters.carrier_fixtures import inbound, order, settings

UPS = Ups()
DHL = DhlExpress()
UPS_SET = settings("ups", CLIENT_ID="id", CLIENT_SECRET="secret", ACCOUNT="A1B2C3", BASE_URL="https://ups.test")
DHL_SET = settings("dhl_express", API_KEY="k", API_SECRET="s", ACCOUNT="950000000", BASE_URL="https://dhl.test")


def clock() -> datetime:
    return datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def test_ups_drop_off_return_is_a_print_return_label_with_a_partial_invoice():
    shipment = UPS.build_return_shipment(order(pickup=False), UPS_SET).json_body["ShipmentRequest"]["Shipment"]
    assert shipment["ReturnService"] == {"Code": "9", "Description": "Print Return Label"}
    assert shipment["ShipFrom"]["Address"]["CountryCode"] == "DE"
    assert shipment["ShipTo"]["Address"]["CountryCode"] == "CN"
    assert shipment["Shipper"]["ShipperNumber"] == "A1B2C3"
    assert shipment["PaymentInformation"] == {
        "ShipmentCharge": [{"Type": "01", "BillShipper": {"AccountNumber": "A1B2C3"}}]
    }
    assert shipment["Package"][0]["Description"] == "Return RMA-2026-0001"
    forms = shipment["ShipmentServiceOptions"]["InternationalForms"]
    assert forms["FormType"] == ["05"] and forms["ReasonForExport"] == "RETURN"
    assert forms["CurrencyCode"] == "EUR" and forms["InvoiceNumber"] == "RMA-2026-0001"
    assert forms["Product"][0] == {
        "Description": ["Cotton T-shirt"],
        "CommodityCode": "610910",
        "OriginCountryCode": "CN",
        "Unit": {"Number": "1", "Value": "25.00", "UnitOfMeasurement": {"Code": "PCS"}},
    }
    assert shipment["ShipmentServiceOptions"]["LabelDelivery"] == {"LabelLinksIndicator": ""}


def test_ups_pickup_return_uses_returns_plus_and_needs_no_separate_pickup():
    shipment = UPS.build_return_shipment(order(pickup=True), UPS_SET).json_body["ShipmentRequest"]["Shipment"]
    assert shipment["ReturnService"]["Code"] == "5"
    assert UPS.collects_with_label(order(pickup=True)) and not UPS.collects_with_label(order(pickup=False))


@responses.activate
def test_ups_token_uses_basic_auth_and_the_label_answer_is_parsed():
    responses.post("https://ups.test/security/v1/oauth/token", json={"access_token": "u-tok", "expires_in": "14399"})
    responses.post(
        "https://ups.test/api/shipments/v2409/ship",
        json={
            "ShipmentResponse": {
                "ShipmentResults": {
                    "ShipmentIdentificationNumber": "1ZCIETST0111111114",
                    "PackageResults": {
                        "TrackingNumber": "1ZCIETST0111111114",
                        "ShippingLabel": {"GraphicImage": "R0lG"},
                    },
                }
            }
        },
    )
    outcome = CarrierGateway(HttpClient(), clock).book_return(UPS, order(), UPS_SET)
    assert outcome.result.tracking_number == "1ZCIETST0111111114" and outcome.result.label_pdf_base64 == "R0lG"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert responses.calls[0].request.headers["x-merchant-id"] == "A1B2C3"
    assert responses.calls[1].request.headers["Authorization"] == "Bearer u-tok"


def test_ups_refusal_carries_the_ups_message():
    body = {"response": {"errors": [{"code": "120100", "message": "Missing or invalid shipper number"}]}}
    with pytest.raises(CarrierRejected, match="Missing or invalid shipper number"):
        UPS.parse_return_shipment(HttpResult(400, body, {}))


def test_ups_pickup_and_cancel():
    body = UPS.build_pickup(order(), PickupWindow(order().ship_date), None, UPS_SET).json_body["PickupCreationRequest"]
    assert body["PickupDateInfo"] == {"PickupDate": "20260702", "ReadyTime": "0900", "CloseTime": "1700"}
    assert body["PickupAddress"]["CountryCode"] == "DE" and body["AlternateAddressIndicator"] == "Y"
    assert body["PickupPiece"][0]["DestinationCountryCode"] == "CN"
    assert UPS.parse_pickup(HttpResult(200, {"PickupCreationResponse": {"PRN": "2929602E9CP"}}, {})).reference == (
        "2929602E9CP"
    )
    cancel = UPS.build_cancel_pickup("2929602E9CP", order(), PickupWindow(order().ship_date), UPS_SET)
    assert cancel.method == "DELETE" and cancel.url.endswith("/pickup/02") and cancel.headers["Prn"] == "2929602E9CP"


def test_ups_track_alert_push_needs_the_registered_credential():
    configured = settings("ups", WEBHOOK_SECRET="opaque-credential")
    body = json.dumps(
        {
            "trackingNumber": "1ZCIETST0111111114",
            "gmtActivityDate": "20260705",
            "gmtActivityTime": "101500",
            "activityStatus": {"type": "D", "code": "KB", "description": "DELIVERED"},
        }
    ).encode()
    UPS.verify_tracking_push(inbound(body, credential="opaque-credential"), configured)
    [update] = UPS.parse_tracking_push(inbound(body), configured)
    assert update.status == TrackingStatus.DELIVERED_TO_WAREHOUSE
    assert update.occurred_at == datetime(2026, 7, 5, 10, 15, tzinfo=UTC)
    with pytest.raises(SignatureError):
        UPS.verify_tracking_push(inbound(body, credential="forged"), configured)
    with pytest.raises(SignatureError):
        UPS.verify_tracking_push(inbound(body), configured)


def test_dhl_standalone_pickup_request_and_answer():
    request = DHL.build_pickup(order(), PickupWindow(order().ship_date, "10:00", "18:00"), "1234567890", DHL_SET)
    body = request.json_body
    assert request.url == "https://dhl.test/pickups" and request.auth == ("k", "s")
    assert body["plannedPickupDateAndTime"] == "2026-07-02T10:00:00 GMT+02:00"  # Berlin in summer
    assert body["closeTime"] == "18:00"
    assert body["accounts"] == [{"typeCode": "shipper", "number": "950000000"}]
    assert body["customerDetails"]["shipperDetails"]["postalAddress"]["cityName"] == "Berlin"
    assert body["shipmentDetails"][0]["productCode"] == "P"
    assert body["shipmentDetails"][0]["isCustomsDeclarable"] is True
    assert body["shipmentDetails"][0]["shipmentTrackingNumber"] == "1234567890"
    booked = DHL.parse_pickup(HttpResult(201, {"dispatchConfirmationNumbers": ["PRG200227000256"]}, {}))
    assert booked.reference == "PRG200227000256"
    cancel = DHL.build_cancel_pickup("PRG200227000256", order(), PickupWindow(order().ship_date), DHL_SET)
    assert cancel.method == "DELETE" and "/pickups/PRG200227000256?requestorName=" in cancel.url


def test_dhl_pickup_refusal_carries_dhl_detail():
    with pytest.raises(CarrierRejected, match="Pickup date is in the past"):
        DHL.parse_pickup(HttpResult(400, {"status": 400, "title": "Bad", "detail": "Pickup date is in the past"}, {}))


def test_dhl_tracking_events_and_clearance_delay_is_an_exception():
    body = {
        "shipments": [
            {
                "shipmentTrackingNumber": "1234567890",
                "events": [
                    {"date": "2026-07-02", "time": "10:15:00", "GMTOffset": "+02:00", "typeCode": "PU"},
                    {"date": "2026-07-04", "time": "08:00:00", "GMTOffset": "+08:00", "typeCode": "CD"},
                    {"date": "2026-07-05", "time": "14:00:00", "GMTOffset": "+08:00", "typeCode": "OK"},
                ],
            }
        ]
    }
    updates = DHL.parse_tracking(HttpResult(200, body, {}))
    assert [u.status for u in updates] == [
        TrackingStatus.SHIPPED_BACK,
        TrackingStatus.EXCEPTION,
        TrackingStatus.DELIVERED_TO_WAREHOUSE,
    ]
    assert updates[0].occurred_at == datetime(2026, 7, 2, 8, 15, tzinfo=UTC)


def test_dhl_push_with_the_agreed_token_is_accepted_and_without_it_refused():
    configured = settings("dhl_express", WEBHOOK_SECRET="push-token")
    body = json.dumps(
        {
            "shipments": [
                {"id": "1234567890", "events": [{"timestamp": "2026-07-05T14:00:00+08:00", "statusCode": "delivered"}]}
            ]
        }
    ).encode()
    DHL.verify_tracking_push(inbound(body, **{"DHL-Push-Token": "push-token"}), configured)
    assert DHL.parse_tracking_push(inbound(body), configured)[0].status == TrackingStatus.DELIVERED_TO_WAREHOUSE
    with pytest.raises(SignatureError):
        DHL.verify_tracking_push(inbound(body, **{"DHL-Push-Token": "nope"}), configured)


@responses.activate
def test_a_carrier_5xx_is_transient_so_the_queue_retries_it():
    responses.post("https://dhl.test/shipments", status=503, body="busy")
    with pytest.raises(TransientHttpError):
        CarrierGateway(HttpClient(), clock).book_return(DHL, order(), DHL_SET)
