"""UPS through its REST APIs: OAuth, return service on the ship call, Pickup API, Track API, Track Alert.

Facts from UPS's OpenAPI documents (github.com/UPS-API/api-documentation:
Shipping.yaml, Pickup.yaml, Tracking, UPSTrackAlert.yaml; summarised in
carriers_customs.md §2.3):
- OAuth client credentials: `POST /security/v1/oauth/token`, HTTP Basic
  client_id:client_secret, form `grant_type=client_credentials`, header
  `x-merchant-id`; answer `access_token`, `expires_in` (seconds, a string);
- `POST /api/shipments/v2409/ship`: "When [ReturnService] exists, the shipment
  is a return shipment"; Code 9 Print Return Label (the buyer drops off),
  5 Returns Plus 3-attempt (the driver brings the label and collects: no
  separate pickup); `ShipFrom` and `Package.Description` required for returns;
  `InternationalForms.FormType` "05 or 10 are the only valid values" with a
  return service, `ReasonForExport` RETURN; `BillReceiver` invalid on returns;
- `POST /api/pickupcreation/v2409/pickup` (answer `PRN`), cancel
  `DELETE /api/shipments/v2409/pickup/02` with header `Prn`;
- `GET /api/track/v1/details/{inquiryNumber}`;
- Track Alert pushes carry header `credential` = the opaque string we gave at
  subscription (no HMAC) and `User-Agent: UPSPubSubTrackingService`.
- Errors: `{"response": {"errors": [{"code", "message"}]}}`.
UPS offers no interception in these APIs: interception is an operator task.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import us

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
    e164,
    error_message,
    fit,
    require_shared_token,
    street_lines,
    without_empty,
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

SANDBOX_URL = "https://wwwcie.ups.com"
VERSION = "v2409"
PRINT_RETURN_LABEL = {"Code": "9", "Description": "Print Return Label"}
RETURNS_PLUS_3_ATTEMPTS = {"Code": "5", "Description": "Return Service 3-Attempt"}
PARTIAL_INVOICE_FORM = "05"
INTERNATIONAL_SERVICE = "65"  # UPS Worldwide Saver
DOMESTIC_SERVICE = "11"  # UPS Standard

# UPS activity status types and codes (Tracking reference, carriers_customs.md §2.3, §2.7) -> canonical status.
STATUS_CODES: dict[str, str] = {
    "M": TrackingStatus.INFORMATION,
    "MV": TrackingStatus.INFORMATION,
    "P": TrackingStatus.SHIPPED_BACK,
    "OR": TrackingStatus.SHIPPED_BACK,
    "PU": TrackingStatus.SHIPPED_BACK,
    "038": TrackingStatus.SHIPPED_BACK,
    "I": TrackingStatus.IN_TRANSIT,
    "012": TrackingStatus.IN_TRANSIT,
    "014": TrackingStatus.IN_TRANSIT,
    "092": TrackingStatus.IN_TRANSIT,
    "134": TrackingStatus.IN_TRANSIT,
    "D": TrackingStatus.DELIVERED_TO_WAREHOUSE,
    "011": TrackingStatus.DELIVERED_TO_WAREHOUSE,
    "X": TrackingStatus.EXCEPTION,
    "058": TrackingStatus.EXCEPTION,
    "123": TrackingStatus.EXCEPTION,
    "126": TrackingStatus.EXCEPTION,
    "033": TrackingStatus.RETURNED_TO_SENDER,
    "034": TrackingStatus.RETURNED_TO_SENDER,
    "035": TrackingStatus.RETURNED_TO_SENDER,
    "RS": TrackingStatus.RETURNED_TO_SENDER,
}


def phone_digits(address: Address, field_name: str) -> str:
    """UPS Phone.Number takes digits only ("Valid values are 0 - 9"): the E.164 number without its "+"."""
    return e164(address.phone, address.country, field_name).lstrip("+")


def one_decimal_up(weight: Decimal) -> str:
    """Pickup.yaml TotalWeight.Weight: "One decimal digit is allowed" (10.9); rounded up, never declared light."""
    return str(weight.quantize(Decimal("0.1"), rounding=ROUND_CEILING))


def state_code(address: Address) -> str:
    """StateProvinceCode (at most 5): a US state as its two letters; a longer name elsewhere is left out."""
    region = (address.region or "").strip()
    if address.country == "US" and region and (state := us.states.lookup(region)) is not None:
        return state.abbr
    return region if len(region) <= 5 else ""


def _party(address: Address, role: str) -> dict[str, Any]:
    """A party as Shipping.yaml takes it: Name and AddressLine 35; empty optional fields left out, since the
    schema gives them minLength 1 (`StateProvinceCode: ""` is refused)."""
    return without_empty(
        {
            "Name": fit(address.name, 35) or "Returns",
            "Phone": {"Number": phone_digits(address, f"{role}.Phone.Number")},
            "Address": {
                "AddressLine": street_lines(address, 35, 3, f"{role}.Address.AddressLine"),
                "City": fit(address.city, 30),
                "StateProvinceCode": state_code(address),
                "PostalCode": fit(address.postal_code, 9),
                "CountryCode": address.country,
            },
        }
    )


class Ups(CarrierBase):
    name = "ups"
    display_name = "UPS"
    signature_headers = (SignatureHeader("credential", "Track Alert: the opaque credential we registered"),)
    capabilities: frozenset[type] = frozenset()
    declared_settings = (
        Setting(("BASE_URL",), "`https://wwwcie.ups.com`", "UPS base URL (CIE test)"),
        Setting(
            ("CLIENT_ID", "CLIENT_SECRET", "ACCOUNT"),
            "none: requests built and stored, not sent",
            "UPS OAuth client credentials and shipper number",
        ),
        Setting(("WEBHOOK_SECRET",), "none: UPS pushes answer 401", "the `credential` given to Track Alert"),
    )

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("CLIENT_ID", "CLIENT_SECRET", "ACCOUNT")

    def _base(self, settings: AdapterSettings) -> str:
        return (settings.get("BASE_URL") or SANDBOX_URL).rstrip("/")

    def token_request(self, settings: AdapterSettings) -> OutboundRequest:
        return OutboundRequest(
            method="POST",
            url=f"{self._base(settings)}/security/v1/oauth/token",
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "x-merchant-id": settings.get("ACCOUNT") or "",
            },
            form={"grant_type": "client_credentials"},
            auth=(settings.get("CLIENT_ID") or "", settings.get("CLIENT_SECRET") or ""),
        )

    def parse_token(self, result: HttpResult, now: datetime) -> AccessToken:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok or not body.get("access_token"):
            raise CarrierRejected(f"UPS OAuth answered {result.status}: {self._error(result.body)}")
        return AccessToken(str(body["access_token"]), now + timedelta(seconds=int(body.get("expires_in") or 3600)))

    def _error(self, body: Any) -> str:
        return error_message(body, ("response", "errors", 0, "message"), ("response", "errors", 0, "code"))

    def _json(self, method: str, url: str, body: dict[str, Any] | None, reference: str) -> OutboundRequest:
        return OutboundRequest(
            method=method,
            url=url,
            headers={"Content-Type": "application/json", "transId": reference[:32], "transactionSrc": "returnbridge"},
            json_body=body,
        )

    def collects_with_label(self, order: ReturnShipmentOrder) -> bool:
        """Returns Plus: "a UPS driver carries a preprinted return label when attempting to collect"."""
        return order.pickup

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        account = settings.get("ACCOUNT") or ""
        merchant = _party(order.receiver, "ShipTo")
        shipment: dict[str, Any] = {
            "Description": f"Customer return {order.reference}"[:50],
            "ReturnService": RETURNS_PLUS_3_ATTEMPTS if order.pickup else PRINT_RETURN_LABEL,
            "Shipper": {**merchant, "ShipperNumber": account},
            "ShipTo": merchant,
            "ShipFrom": _party(order.shipper, "ShipFrom"),
            "PaymentInformation": {"ShipmentCharge": [{"Type": "01", "BillShipper": {"AccountNumber": account}}]},
            "Service": {"Code": INTERNATIONAL_SERVICE if order.cross_border else DOMESTIC_SERVICE},
            "Package": [
                {
                    "Description": f"Return {order.reference}"[:35],
                    "Packaging": {"Code": "02"},
                    "PackageWeight": {
                        "UnitOfMeasurement": {"Code": "KGS"},
                        "Weight": one_decimal_up(order.total_weight_kg),  # maxLength 5: "999.9"
                    },
                }
            ],
        }
        if not order.pickup:
            shipment["ShipmentServiceOptions"] = {"LabelDelivery": {"LabelLinksIndicator": ""}}
        if order.cross_border:
            options = shipment.setdefault("ShipmentServiceOptions", {})
            options["InternationalForms"] = self._forms(order)
        body = {
            "ShipmentRequest": {
                "Request": {"RequestOption": "nonvalidate", "TransactionReference": {"CustomerContext": order.case_id}},
                "Shipment": shipment,
                "LabelSpecification": {
                    "LabelImageFormat": {"Code": "GIF"},
                    "LabelStockSize": {"Height": "6", "Width": "4"},  # required by Shipping.yaml; 4x6 in
                },
            }
        }
        return self._json("POST", f"{self._base(settings)}/api/shipments/{VERSION}/ship", body, order.case_id)

    def _forms(self, order: ReturnShipmentOrder) -> dict[str, Any]:
        invoice = returns_invoice(order)
        products = []
        for line in invoice.lines:
            product: dict[str, Any] = {
                "Description": [fit(line.description, 35)],
                "OriginCountryCode": line.origin_country,
                "Unit": {
                    "Number": str(line.quantity),
                    "Value": str(line.unit_value.amount),
                    "UnitOfMeasurement": {"Code": "PCS"},
                },
            }
            if line.hs_code:
                product["CommodityCode"] = line.hs_code
            products.append(product)
        return {
            "FormType": [PARTIAL_INVOICE_FORM],
            "ReasonForExport": "RETURN",
            "CurrencyCode": invoice.currency,
            "InvoiceNumber": invoice.number,
            "Product": products,
        }

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"UPS answered {result.status}: {self._error(result.body)}")
        results = (body.get("ShipmentResponse") or {}).get("ShipmentResults") or {}
        packages = results.get("PackageResults") or []
        packages = packages if isinstance(packages, list) else [packages]
        tracking = results.get("ShipmentIdentificationNumber") or (
            packages[0].get("TrackingNumber") if packages else None
        )
        if not tracking:
            raise CarrierRejected("UPS answered without a ShipmentIdentificationNumber")
        label = ((packages[0].get("ShippingLabel") or {}).get("GraphicImage")) if packages else None
        form = ((results.get("Form") or {}).get("Image") or {}).get("GraphicImage")
        return BookedShipment(
            tracking_number=str(tracking),
            label_pdf_base64=label,
            documents={"invoice": form} if form else {},
            raw={"ShipmentIdentificationNumber": tracking},
        )

    def build_pickup(
        self, order: ReturnShipmentOrder, window: PickupWindow, tracking_number: str | None, settings: AdapterSettings
    ) -> OutboundRequest:
        buyer = order.shipper
        body: dict[str, Any] = {
            "PickupCreationRequest": {
                "Request": {"TransactionReference": {"CustomerContext": order.case_id}},
                "RatePickupIndicator": "N",
                "Shipper": {
                    "Account": {
                        "AccountNumber": settings.get("ACCOUNT") or "",
                        "AccountCountryCode": order.receiver.country,
                    }
                },
                "PickupDateInfo": {
                    "PickupDate": window.day.strftime("%Y%m%d"),
                    "ReadyTime": window.ready.replace(":", ""),
                    "CloseTime": window.close.replace(":", ""),
                },
                "PickupAddress": without_empty(
                    {
                        "CompanyName": fit(buyer.name, 27) or "Returns",
                        "ContactName": fit(buyer.name, 22) or "Returns",
                        "AddressLine": street_lines(buyer, 73, 3, "PickupAddress.AddressLine"),
                        "City": fit(buyer.city, 50),
                        "StateProvince": fit(buyer.region, 50),
                        "PostalCode": fit(buyer.postal_code, 8),
                        "CountryCode": buyer.country,
                        "ResidentialIndicator": "Y",
                        "Phone": {"Number": phone_digits(buyer, "PickupAddress.Phone.Number")},
                    }
                ),
                "AlternateAddressIndicator": "Y",
                "PickupPiece": [
                    {
                        "ServiceCode": "0" + (INTERNATIONAL_SERVICE if order.cross_border else DOMESTIC_SERVICE),
                        "Quantity": "1",
                        "DestinationCountryCode": order.receiver.country,
                        "ContainerCode": "01",
                    }
                ],
                "TotalWeight": {"Weight": one_decimal_up(order.total_weight_kg), "UnitOfMeasurement": "KGS"},
                "OverweightIndicator": "N",
                "PaymentMethod": "01",
            }
        }
        if tracking_number:
            body["PickupCreationRequest"]["TrackingData"] = [{"TrackingNumber": tracking_number}]
        return self._json("POST", f"{self._base(settings)}/api/pickupcreation/{VERSION}/pickup", body, order.case_id)

    def parse_pickup(self, result: HttpResult) -> BookedPickup:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"UPS pickup answered {result.status}: {self._error(result.body)}")
        prn = (body.get("PickupCreationResponse") or {}).get("PRN")
        if not prn:
            raise CarrierRejected("UPS pickup answered without a PRN")
        return BookedPickup(reference=str(prn))

    def build_cancel_pickup(
        self, pickup_reference: str, order: ReturnShipmentOrder, window: PickupWindow, settings: AdapterSettings
    ) -> OutboundRequest:
        request = self._json("DELETE", f"{self._base(settings)}/api/shipments/{VERSION}/pickup/02", None, order.case_id)
        return OutboundRequest(request.method, request.url, {**request.headers, "Prn": pickup_reference})

    def parse_cancel_pickup(self, result: HttpResult) -> None:
        if not result.ok:
            raise CarrierRejected(f"UPS pickup cancel answered {result.status}: {self._error(result.body)}")

    def build_tracking(self, tracking_number: str, settings: AdapterSettings) -> OutboundRequest:
        return self._json(
            "GET", f"{self._base(settings)}/api/track/v1/details/{tracking_number}", None, tracking_number
        )

    def parse_tracking(self, result: HttpResult) -> list[TrackingUpdate]:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            raise CarrierRejected(f"UPS tracking answered {result.status}: {self._error(result.body)}")
        updates = []
        for shipment in (body.get("trackResponse") or {}).get("shipment") or []:
            for package in shipment.get("package") or []:
                number = str(package.get("trackingNumber") or "")
                for activity in package.get("activity") or []:
                    status = activity.get("status") or {}
                    update = self._update(number, status, activity.get("date"), activity.get("time"),
                                          activity.get("location"), _activity_offset(activity))  # fmt: skip
                    if update is not None:
                        updates.append(update)
        return updates

    def _update(
        self, number: str, status: dict[str, Any], day: Any, time: Any, location: Any, offset: str | None = "Z"
    ) -> TrackingUpdate | None:
        """One activity; `offset` "Z" for Track Alert's gmt* fields, the activity's `gmtOffset`, or None: then
        the local date and time (Tracking.yaml "The date of the activity") are read in the location's zone."""
        code = str(status.get("statusCode") or status.get("descriptionCode") or status.get("code") or "")
        kind = str(status.get("type") or "")
        canonical = STATUS_CODES.get(code) or canonical_status(STATUS_CODES, kind)
        address = (location or {}).get("address") or location or {}
        occurred_at = _instant(str(day or ""), str(time or ""), offset, address)
        if occurred_at is None:
            log.warning("UPS activity %s of %s has no usable date; the other activities are kept", code, number)
            return None
        return TrackingUpdate(
            carrier=self.name,
            tracking_number=number,
            code=code or kind,
            status=canonical,
            occurred_at=occurred_at,
            description=str(status.get("description") or ""),
            location=", ".join(str(address.get(k)) for k in ("city", "country", "countryCode") if address.get(k)),
        )

    def verify_tracking_push(
        self, request: InboundRequest, settings: AdapterSettings, now: datetime | None = None
    ) -> None:
        """Track Alert sends back the opaque `credential` we registered; compared in constant time."""
        require_shared_token(request, "credential", settings.get("WEBHOOK_SECRET"))

    def parse_tracking_push(self, request: InboundRequest, settings: AdapterSettings) -> list[TrackingUpdate]:
        """One Track Alert callback: trackingNumber, gmtActivityDate/Time, activityStatus, activityLocation."""
        try:
            body = json.loads(request.body)
        except ValueError as exc:
            raise PayloadError("UPS push is not JSON") from exc
        if not isinstance(body, dict) or not body.get("trackingNumber"):
            raise PayloadError("not a UPS Track Alert event", {"trackingNumber": ["missing"]})
        update = self._update(
            str(body["trackingNumber"]),
            body.get("activityStatus") or {},
            body.get("gmtActivityDate"),
            body.get("gmtActivityTime"),
            body.get("activityLocation"),
        )
        if update is None:
            raise PayloadError(
                "UPS Track Alert event has no usable gmtActivityDate/Time", {"gmtActivityDate": ["invalid"]}
            )
        return [update]


def _activity_offset(activity: dict[str, Any]) -> str | None:
    offset = str(activity.get("gmtOffset") or "")
    return offset if re.fullmatch(r"[+-]\d{2}:\d{2}", offset) else None


def _instant(day: str, time: str, offset: str | None, address: dict[str, Any]) -> datetime | None:
    """UPS gives yyyyMMdd and HHmmss; Track Alert's gmt* fields are UTC ("Z"); Track API times are local."""
    try:
        naive = datetime.strptime(day + (time or "000000").ljust(6, "0")[:6], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    if offset == "Z":
        return naive.replace(tzinfo=UTC)
    if offset:
        return datetime.fromisoformat(f"{naive.isoformat()}{offset}").astimezone(UTC)
    country = str(address.get("countryCode") or address.get("country") or "")
    local = read_local(naive, country, address.get("stateProvince"), address.get("city")) if country else None
    return (local or naive.replace(tzinfo=UTC)).astimezone(UTC)


CARRIERS.register("ups", Ups())
