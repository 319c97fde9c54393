"""FedEx through its REST APIs: OAuth, Ship API return labels, Pickup API, Track API and AIV pushes.

Facts from FedEx's OpenAPI documents (developer.fedex.com; vendored by karrio as
`ship-api.json`, `pickup-api.json`, `Tracking-Status-Codes.html`; summarised in
carriers_customs.md §2.2):
- OAuth client credentials: `POST /oauth/token`, form `grant_type`,
  `client_id`, `client_secret`; answer `access_token`, `expires_in` (seconds);
- `POST /ship/v1/shipments`: a return needs `specialServiceTypes:
  ["RETURN_SHIPMENT"]` and `returnShipmentDetail.returnType` PRINT_RETURN_LABEL;
  `customsClearanceDetail.customsOption.type` tells customs why goods come back
  (REJECTED: "rejected merchandise being returned, inbound"); commodities carry
  `harmonizedCode` and `countryOfManufacture`;
- `POST /pickup/v1/pickups` (answer `output.pickupConfirmationCode`),
  `PUT /pickup/v1/pickups/cancel`;
- `POST /track/v1/trackingnumbers`, scan events with `eventType` codes;
- Advanced Integrated Visibility pushes carry header `fdx-signature` =
  Base64(HMAC-SHA256(security token, payload)); events may arrive out of order.
- Errors: `{"transactionId", "errors": [{"code", "message"}]}`.
FedEx offers no interception in these APIs: interception is an operator task.
Checked against the documents themselves (tests/fixtures/official/fedex): the Ship
API requires `requestedShipment.totalWeight`; lengths FedEx states only in prose are
applied in `_party`; scan dates without an offset are read where they were scanned.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.carriers.base import (
    CARRIERS,
    AccessToken,
    BookedPickup,
    BookedShipment,
    CarrierBase,
    CarrierRejected,
    InboundRequest,
    PayloadError,
    PickupWindow,
    SignatureError,
    e164,
    error_message,
    fit,
    json_number,
    street_lines,
)
from adapters.http import HttpResult, OutboundRequest
from adapters.registry import Setting, SignatureHeader
from config.settings import AdapterSettings
from core.events import Address
from core.invoice import returns_invoice
from core.places import read_local
from core.shipments import ReturnShipmentOrder
from core.tracking import TrackingStatus, TrackingUpdate, canonical_status

log = logging.getLogger(__name__)

SANDBOX_URL = "https://apis-sandbox.fedex.com"
INTERNATIONAL_SERVICE = "FEDEX_INTERNATIONAL_PRIORITY"
DOMESTIC_SERVICE = "FEDEX_GROUND"

# FedEx Tracking-Status-Codes.html -> canonical status (carriers_customs.md §2.7).
STATUS_CODES: dict[str, str] = {
    "OC": TrackingStatus.INFORMATION,
    "RP": TrackingStatus.INFORMATION,
    "PU": TrackingStatus.SHIPPED_BACK,
    "PX": TrackingStatus.SHIPPED_BACK,
    "IT": TrackingStatus.IN_TRANSIT,
    "DP": TrackingStatus.IN_TRANSIT,
    "AR": TrackingStatus.IN_TRANSIT,
    "AF": TrackingStatus.IN_TRANSIT,
    "OD": TrackingStatus.IN_TRANSIT,
    "CC": TrackingStatus.IN_TRANSIT,
    "CP": TrackingStatus.IN_TRANSIT,
    "EA": TrackingStatus.IN_TRANSIT,
    "DL": TrackingStatus.DELIVERED_TO_WAREHOUSE,
    "DE": TrackingStatus.EXCEPTION,
    "SE": TrackingStatus.EXCEPTION,
    "CD": TrackingStatus.EXCEPTION,
    "CA": TrackingStatus.EXCEPTION,
    "RD": TrackingStatus.EXCEPTION,
    "LP": TrackingStatus.EXCEPTION,
    "HL": TrackingStatus.EXCEPTION,
    "RS": TrackingStatus.RETURNED_TO_SENDER,
}

# Canonical return reason -> FedEx customsOption.type ("the reason for a global return, as recognized by Customs").
CUSTOMS_OPTION: dict[str, str] = {
    "defective": "FAULTY_ITEM",
    "damaged_in_transit": "FAULTY_ITEM",
    "missing_parts": "FAULTY_ITEM",
}
DEFAULT_CUSTOMS_OPTION = "REJECTED"


def _party(address: Address, role: str, state_required: bool = False) -> dict[str, Any]:
    """A party with the lengths the Ship API states (streetLines and city 35, postalCode 10, personName 70,
    companyName 35, stateOrProvinceCode 2: "required for US, CA, PR"); empty optional fields are left out."""
    postal: dict[str, Any] = {
        "streetLines": street_lines(address, 35, 3, f"{role}.address.streetLines"),
        "city": fit(address.city, 35),
        "countryCode": address.country,
    }
    if fit(address.postal_code, 10):
        postal["postalCode"] = fit(address.postal_code, 10)
    state = (address.region or "").strip()
    if len(state) == 2 and state.isascii():
        postal["stateOrProvinceCode"] = state.upper()
    elif state_required:
        postal["stateOrProvinceCode"] = ""  # the Pickup schema requires the key; FedEx needs a value in US/CA/PR
    contact = {"personName": fit(address.name, 70) or "Returns",
               "phoneNumber": e164(address.phone, address.country, f"{role}.contact.phoneNumber")}  # fmt: skip
    if address.email and len(address.email) <= 80:
        contact["emailAddress"] = address.email
    return {"contact": contact, "address": postal}


class FedEx(CarrierBase):
    name = "fedex"
    display_name = "FedEx"
    signature_headers = (
        SignatureHeader("fdx-signature", "AIV: base64 HMAC-SHA256 of the payload, keyed with the security token"),
    )
    capabilities: frozenset[type] = frozenset()
    declared_settings = (
        Setting(("BASE_URL",), "`https://apis-sandbox.fedex.com`", "FedEx REST base URL"),
        Setting(
            ("CLIENT_ID", "CLIENT_SECRET", "ACCOUNT"),
            "none: requests built and stored, not sent",
            "FedEx OAuth client credentials and account",
        ),
        Setting(("WEBHOOK_SECRET",), "none: FedEx pushes answer 401", "AIV security token (`fdx-signature` HMAC key)"),
    )

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("CLIENT_ID", "CLIENT_SECRET", "ACCOUNT")

    def _base(self, settings: AdapterSettings) -> str:
        return (settings.get("BASE_URL") or SANDBOX_URL).rstrip("/")

    def _account(self, settings: AdapterSettings) -> dict[str, str]:
        return {"value": settings.get("ACCOUNT") or ""}

    def token_request(self, settings: AdapterSettings) -> OutboundRequest:
        return OutboundRequest(
            method="POST",
            url=f"{self._base(settings)}/oauth/token",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            form={
                "grant_type": "client_credentials",
                "client_id": settings.get("CLIENT_ID") or "",
                "client_secret": settings.get("CLIENT_SECRET") or "",
            },
        )

    def parse_token(self, result: HttpResult, now: datetime) -> AccessToken:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok or not body.get("access_token"):
            raise CarrierRejected(f"FedEx OAuth answered {result.status}: {self._error(result.body)}")
        return AccessToken(str(body["access_token"]), now + timedelta(seconds=int(body.get("expires_in") or 3600)))

    def _error(self, body: Any) -> str:
        return error_message(body, ("errors", 0, "message"), ("errors", 0, "code"))

    def _json(self, method: str, url: str, body: dict[str, Any], reference: str) -> OutboundRequest:
        return OutboundRequest(
            method=method,
            url=url,
            headers={"Content-Type": "application/json", "x-customer-transaction-id": reference[:40]},
            json_body=body,
        )

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        account = self._account(settings)
        shipment: dict[str, Any] = {
            "shipper": _party(order.shipper, "shipper"),
            "recipients": [_party(order.receiver, "recipients[0]")],
            "serviceType": INTERNATIONAL_SERVICE if order.cross_border else DOMESTIC_SERVICE,
            "packagingType": "YOUR_PACKAGING",
            "pickupType": "USE_SCHEDULED_PICKUP" if order.pickup else "DROPOFF_AT_FEDEX_LOCATION",
            "shippingChargesPayment": {
                "paymentType": "RECIPIENT",
                "payor": {"responsibleParty": {"accountNumber": account}},
            },
            "shipmentSpecialServices": {
                "specialServiceTypes": ["RETURN_SHIPMENT"],
                "returnShipmentDetail": {
                    "returnType": "PRINT_RETURN_LABEL",
                    "rma": {"reason": f"Return {order.reference}"[:60]},
                },
            },
            "labelSpecification": {"imageType": "PDF", "labelStockType": "PAPER_85X11_TOP_HALF_LABEL"},
            # Ship API: totalWeight (required) is "the total weight of the shipment", in the packages' units.
            "totalWeight": json_number(order.total_weight_kg),
            "requestedPackageLineItems": [
                {"weight": {"units": "KG", "value": json_number(order.total_weight_kg)}},
            ],
        }
        if order.cross_border:
            shipment["customsClearanceDetail"] = self._customs(order, account)
            shipment["shippingDocumentSpecification"] = {
                "shippingDocumentTypes": ["COMMERCIAL_INVOICE"],
                "commercialInvoiceDetail": {"documentFormat": {"docType": "PDF", "stockType": "PAPER_LETTER"}},
            }
        body = {"labelResponseOptions": "LABEL", "accountNumber": account, "requestedShipment": shipment}
        return self._json("POST", f"{self._base(settings)}/ship/v1/shipments", body, order.case_id)

    def _customs(self, order: ReturnShipmentOrder, account: dict[str, str]) -> dict[str, Any]:
        invoice = returns_invoice(order)
        commodities = []
        for line in invoice.lines:
            commodity: dict[str, Any] = {
                "description": fit(line.description, 450),
                "countryOfManufacture": line.origin_country,
                "quantity": line.quantity,
                "quantityUnits": "PCS",
                "numberOfPieces": line.quantity,
                "unitPrice": {"amount": json_number(line.unit_value.amount), "currency": invoice.currency},
                "customsValue": {"amount": json_number(line.total.amount), "currency": invoice.currency},
                "weight": {"units": "KG", "value": json_number(line.net_weight_kg * line.quantity)},
            }
            if line.hs_code:
                commodity["harmonizedCode"] = line.hs_code
            commodities.append(commodity)
        return {
            "dutiesPayment": {"paymentType": "RECIPIENT", "payor": {"responsibleParty": {"accountNumber": account}}},
            "customsOption": {"type": CUSTOMS_OPTION.get(order.reason or "", DEFAULT_CUSTOMS_OPTION)},
            "commercialInvoice": {
                "shipmentPurpose": "NOT_SOLD",
                "termsOfSale": "DAP",
                "customerReferences": [{"customerReferenceType": "INVOICE_NUMBER", "value": invoice.number}],
            },
            "totalCustomsValue": {"amount": json_number(invoice.total.amount), "currency": invoice.currency},
            "commodities": commodities,
        }

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"FedEx answered {result.status}: {self._error(result.body)}")
        shipments = (body.get("output") or {}).get("transactionShipments") or []
        if not shipments or not shipments[0].get("masterTrackingNumber"):
            raise CarrierRejected("FedEx answered without a masterTrackingNumber")
        shipment = shipments[0]
        label = None
        for piece in shipment.get("pieceResponses") or []:
            for document in piece.get("packageDocuments") or []:
                if document.get("contentType") == "LABEL" and document.get("encodedLabel"):
                    label = document["encodedLabel"]
        documents = {
            str(doc.get("contentType", "document")).lower(): doc.get("encodedLabel", "")
            for doc in shipment.get("shipmentDocuments") or []
            if isinstance(doc, dict)
        }
        return BookedShipment(
            tracking_number=str(shipment["masterTrackingNumber"]),
            label_pdf_base64=label,
            documents=documents,
            raw={"transactionId": body.get("transactionId"), "serviceType": shipment.get("serviceType")},
        )

    def build_pickup(
        self, order: ReturnShipmentOrder, window: PickupWindow, tracking_number: str | None, settings: AdapterSettings
    ) -> OutboundRequest:
        """FedEx Pickup API: the courier comes to the buyer (pickupAddressType OTHER) on the day asked."""
        body: dict[str, Any] = {
            "associatedAccountNumber": self._account(settings),
            "originDetail": {
                "pickupAddressType": "OTHER",
                "pickupLocation": _party(order.shipper, "pickupLocation", state_required=True),
                "readyDateTimestamp": f"{window.day.isoformat()}T{window.ready}:00",
                "customerCloseTime": f"{window.close}:00",
                "pickupDateType": "FUTURE_DAY",
                "packageLocation": "FRONT",
            },
            "carrierCode": "FDXE" if order.cross_border else "FDXG",
            "pickupType": "ON_CALL",
            "packageCount": 1,
            "totalWeight": {"units": "KG", "value": json_number(order.total_weight_kg)},
            "countryRelationships": "INTERNATIONAL" if order.cross_border else "DOMESTIC",
            "remarks": f"Customer return {order.reference}"[:60],
        }
        if tracking_number:
            body["trackingNumber"] = tracking_number
        return self._json("POST", f"{self._base(settings)}/pickup/v1/pickups", body, order.case_id)

    def parse_pickup(self, result: HttpResult) -> BookedPickup:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"FedEx pickup answered {result.status}: {self._error(result.body)}")
        output = body.get("output") or {}
        code = output.get("pickupConfirmationCode")
        if not code:
            raise CarrierRejected("FedEx pickup answered without a pickupConfirmationCode")
        return BookedPickup(reference=str(code), raw={"location": output.get("location")})

    def build_cancel_pickup(
        self, pickup_reference: str, order: ReturnShipmentOrder, window: PickupWindow, settings: AdapterSettings
    ) -> OutboundRequest:
        body = {
            "associatedAccountNumber": self._account(settings),
            "pickupConfirmationCode": pickup_reference,
            "scheduledDate": window.day.isoformat(),
            "carrierCode": "FDXE" if order.cross_border else "FDXG",
        }
        return self._json("PUT", f"{self._base(settings)}/pickup/v1/pickups/cancel", body, order.case_id)

    def parse_cancel_pickup(self, result: HttpResult) -> None:
        if not result.ok:
            raise CarrierRejected(f"FedEx pickup cancel answered {result.status}: {self._error(result.body)}")

    def build_tracking(self, tracking_number: str, settings: AdapterSettings) -> OutboundRequest:
        body = {
            "includeDetailedScans": True,
            "trackingInfo": [{"trackingNumberInfo": {"trackingNumber": tracking_number}}],
        }
        return self._json("POST", f"{self._base(settings)}/track/v1/trackingnumbers", body, tracking_number)

    def parse_tracking(self, result: HttpResult) -> list[TrackingUpdate]:
        if not result.ok:
            raise CarrierRejected(f"FedEx tracking answered {result.status}: {self._error(result.body)}")
        return self._updates(result.body)

    def _updates(self, body: Any) -> list[TrackingUpdate]:
        output = body.get("output") if isinstance(body, dict) else None
        results = output.get("completeTrackResults") if isinstance(output, dict) else None
        if not isinstance(results, list):
            raise PayloadError("not a FedEx track result", {"output.completeTrackResults": ["missing"]})
        updates = []
        for complete in results:
            for track in complete.get("trackResults") or []:
                number = str((track.get("trackingNumberInfo") or {}).get("trackingNumber") or "")
                number = number or str(complete.get("trackingNumber") or "")
                for scan in track.get("scanEvents") or []:
                    code = str(scan.get("eventType") or scan.get("derivedStatusCode") or "")
                    location = scan.get("scanLocation") or {}
                    occurred_at = _scan_time(str(scan.get("date") or ""), location)
                    if occurred_at is None:
                        log.warning("FedEx scan %s of %s has no usable date; the other scans are kept", code, number)
                        continue
                    updates.append(
                        TrackingUpdate(
                            carrier=self.name,
                            tracking_number=number,
                            code=code,
                            status=canonical_status(STATUS_CODES, code),
                            occurred_at=occurred_at,
                            description=str(scan.get("eventDescription") or ""),
                            location=", ".join(
                                str(part) for part in (location.get("city"), location.get("countryCode")) if part
                            ),
                        )
                    )
        return updates

    def verify_tracking_push(
        self, request: InboundRequest, settings: AdapterSettings, now: datetime | None = None
    ) -> None:
        """AIV: `fdx-signature` = Base64(HMAC-SHA256(key = the project's security token, message = payload))."""
        secret = settings.get("WEBHOOK_SECRET")
        if not secret:
            raise SignatureError("RB_FEDEX_WEBHOOK_SECRET is not set: FedEx pushes cannot be verified")
        presented = request.header("fdx-signature")
        expected = base64.b64encode(hmac.new(secret.encode(), request.body, hashlib.sha256).digest()).decode()
        if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise SignatureError("fdx-signature is missing or does not match the payload")

    def parse_tracking_push(self, request: InboundRequest, settings: AdapterSettings) -> list[TrackingUpdate]:
        """AIV delivers the Track API's result shape (output.completeTrackResults) for the subscribed parcels."""
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise PayloadError("FedEx push is not JSON") from exc
        return self._updates(body)


def _scan_time(text: str, location: dict[str, Any]) -> datetime | None:
    """A scan's instant. FedEx dates carry an offset ("2024-08-20T12:41:57-04:00"), but real track results
    also hold local dates without one ("2024-08-15T00:00:00" for a pickup in Mankato, MN): those are read in
    the zone of the scan location; a date that is no date at all is None, and only that scan is left out."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        country = str(location.get("countryCode") or "")
        local = read_local(moment, country, location.get("stateOrProvinceCode"), location.get("city"))
        if local is None:
            return None
        moment = local
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar: only this scan is left out
        return None


CARRIERS.register("fedex", FedEx())
