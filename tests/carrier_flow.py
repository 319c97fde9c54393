"""Carrier fakes (`responses`) and helpers for the end-to-end carrier and customs tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import responses

from tests.conftest import post_event, unique_event, wait_for

AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")

CARRIER_ENV = {
    "RB_FEDEX_BASE_URL": "https://fx.test",
    "RB_FEDEX_CLIENT_ID": "cid",
    "RB_FEDEX_CLIENT_SECRET": "csecret",
    "RB_FEDEX_ACCOUNT": "740561073",
    "RB_FEDEX_WEBHOOK_SECRET": "aiv-token",
    "RB_UPS_BASE_URL": "https://ups.test",
    "RB_UPS_CLIENT_ID": "uid",
    "RB_UPS_CLIENT_SECRET": "usecret",
    "RB_UPS_ACCOUNT": "A1B2C3",
    "RB_UPS_WEBHOOK_SECRET": "ups-credential",
    "RB_DHL_EXPRESS_BASE_URL": "https://dhl.test",
    "RB_DHL_EXPRESS_API_KEY": "k",
    "RB_DHL_EXPRESS_API_SECRET": "s",
    "RB_DHL_EXPRESS_ACCOUNT": "950000000",
    "RB_DHL_EXPRESS_WEBHOOK_SECRET": "dhl-token",
    "RB_SF_EXPRESS_BASE_URL": "https://sf.test",
    "RB_SF_EXPRESS_APP_KEY": "app-1",
    "RB_SF_EXPRESS_APP_SECRET": "secret-1",
    "RB_SF_EXPRESS_AES_KEY": AES_KEY,
    "RB_SF_EXPRESS_CUSTOMER_CODE": "CUST01",
    "RB_SF_EXPRESS_MONTHLY_CARD": "7550000000",
    "RB_SF_EXPRESS_WEBHOOK_SECRET": "sf-push",
    "RB_RETURNS_ADDRESS_NAME": "Merchant Returns",
    "RB_RETURNS_ADDRESS_LINE1": "1 Warehouse Rd",
    "RB_RETURNS_ADDRESS_CITY": "Shenzhen",
    "RB_RETURNS_ADDRESS_POSTAL_CODE": "518000",
    "RB_RETURNS_ADDRESS_COUNTRY": "CN",
    "RB_RETURNS_ADDRESS_PHONE": "+8675500000000",
    "RB_TRACKING_POLL_SECONDS": "0",
    "RB_POLL_INTERVAL_SECONDS": "0",  # marketplace polls (issue 4): run by hand in tests
}

FEDEX_TRACKING = "794600000001"
FEDEX_SHIP = {
    "transactionId": "t-1",
    "output": {
        "transactionShipments": [
            {
                "masterTrackingNumber": FEDEX_TRACKING,
                "serviceType": "FEDEX_INTERNATIONAL_PRIORITY",
                "pieceResponses": [{"packageDocuments": [{"contentType": "LABEL", "encodedLabel": "TEFCRUw="}]}],
            }
        ]
    },
}


def fake_carriers(mock: responses.RequestsMock) -> dict[str, str]:
    """Every carrier's token, label and pickup endpoints; returns the label URL of each carrier."""
    mock.post("https://fx.test/oauth/token", json={"access_token": "fx-tok", "expires_in": 3600})
    mock.post("https://fx.test/pickup/v1/pickups", json={"output": {"pickupConfirmationCode": "FXPU-1"}})
    mock.post("https://ups.test/security/v1/oauth/token", json={"access_token": "ups-tok", "expires_in": "14399"})
    mock.get("https://sf.test/openapi/api/token", json={"apiResultCode": 0, "apiResultData": {"accessToken": "sf"}})
    labels = {
        "fedex": "https://fx.test/ship/v1/shipments",
        "ups": "https://ups.test/api/shipments/v2409/ship",
        "dhl_express": "https://dhl.test/shipments",
        "sf_express": "https://sf.test/openapi/api/dispatch",
    }
    mock.post(labels["fedex"], json=FEDEX_SHIP)
    mock.post(
        labels["ups"],
        json={
            "ShipmentResponse": {
                "ShipmentResults": {
                    "ShipmentIdentificationNumber": "1Z0000000000000001",
                    "PackageResults": [
                        {"TrackingNumber": "1Z0000000000000001", "ShippingLabel": {"GraphicImage": "R0"}}
                    ],
                }
            }
        },
    )
    mock.post(
        labels["dhl_express"],
        json={
            "shipmentTrackingNumber": "1234567890",
            "dispatchConfirmationNumber": "PRG201220123456",
            "documents": [{"typeCode": "label", "content": "JVBERi0="}],
        },
    )
    mock.post(
        labels["sf_express"],
        json={"apiResultCode": 0, "apiResultData": {"success": True, "data": {"sfWaybillNo": "SF1234567890"}}},
    )
    return labels


def calls_to(mock: responses.RequestsMock, url: str, method: str = "POST") -> list[Any]:
    return [c for c in mock.calls if c.request.url.split("?")[0] == url and c.request.method == method]


def approved_case(client, n: str | None = None, **return_fields: Any) -> str:  # type: ignore[no-untyped-def]
    """A cross-border return (buyer in Berlin, merchant in Shenzhen) requested and approved; returns its case id."""
    n = n or uuid.uuid4().hex[:10]
    order = return_fields.pop("order", {})
    unnamed = "carrier" in return_fields and return_fields["carrier"] is None
    requested, approved = (
        unique_event(kind, n=n, order=order, **{"return": return_fields})
        for kind in ("return.requested", "return.approved")
    )
    if unnamed:  # the marketplace names no carrier: the lane table chooses
        del requested["return"]["carrier"], approved["return"]["carrier"]
    answer = post_event(client, requested)
    assert answer.status_code == 202, answer.json
    assert post_event(client, approved).status_code == 202
    return answer.json["case_id"]


def case(client, case_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return client.get(f"/returns/{case_id}").json


def wait_case(client, case_id: str, predicate, timeout: float = 10.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    found = wait_for(lambda: (lambda c: c if predicate(c) else None)(case(client, case_id)), timeout)
    assert found, case(client, case_id)
    return found


def fedex_push(scans: list[tuple[str, str]], number: str = FEDEX_TRACKING, secret: str = "aiv-token") -> tuple:
    """An AIV push (Track API result shape) signed as FedEx signs it: Base64(HMAC-SHA256(token, body))."""
    body = json.dumps(
        {
            "output": {
                "completeTrackResults": [
                    {
                        "trackingNumber": number,
                        "trackResults": [
                            {
                                "trackingNumberInfo": {"trackingNumber": number},
                                "scanEvents": [
                                    {"date": when, "eventType": code, "eventDescription": code,
                                     "scanLocation": {"city": "Berlin", "countryCode": "DE"}}
                                    for code, when in scans
                                ],
                            }
                        ],
                    }
                ]
            }
        }
    ).encode()  # fmt: skip
    signed = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return body, {"Content-Type": "application/json", "fdx-signature": signed}
