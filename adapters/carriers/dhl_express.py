"""DHL Express through the MyDHL API: a return shipment, with its pickup and returns invoice.

Facts from the MyDHL API 3.1.1 OpenAPI document (developer.dhl.com, "DHL Express
MyDHL API"; summarised in shared/research/carriers_customs.md §2.1):
- `POST /shipments`, HTTP Basic (API key : secret), header `x-version` required,
  optional `Message-Reference` (28–36 characters) to trace a request;
- `accounts[].typeCode` shipper | payer | duties-taxes;
- `content.exportDeclaration.exportReasonType = "return"` and
  `invoice.number/date`; `outputImageProperties.imageOptions` with typeCode
  `invoice`, `invoiceType: "returns"`, template `RET_COM_INVOICE_A4_01`
  ("exclusive use for … goods [that] are actual 'returns'");
- the answer carries `shipmentTrackingNumber`, `documents[]` (`typeCode` label /
  invoice, base64 `content`) and, when a pickup was asked, `dispatchConfirmationNumber`;
- errors carry `status`, `title` and `detail`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from adapters.carriers.base import CARRIERS, BookedShipment, CarrierRejected
from adapters.http import HttpResult, OutboundRequest
from config.settings import AdapterSettings
from core.events import Address
from core.shipments import ReturnShipmentOrder

SANDBOX_URL = "https://express.api.dhl.com/mydhlapi/test"
API_VERSION = "3.1.1"
RETURNS_INVOICE_TEMPLATE = "RET_COM_INVOICE_A4_01"
# Product codes (MyDHL GET /products): P = Express Worldwide (non-document, international), N = Domestic Express.
INTERNATIONAL_PRODUCT = "P"
DOMESTIC_PRODUCT = "N"


def _number(value: Decimal) -> float | int:
    """MyDHL wants JSON numbers; the value is already exact to the cent, so this conversion loses nothing."""
    return int(value) if value == value.to_integral_value() else float(value)


def _party(address: Address, type_code: str) -> dict[str, Any]:
    postal: dict[str, Any] = {
        "postalCode": address.postal_code or "",
        "cityName": address.city or "",
        "countryCode": address.country,
        "addressLine1": address.line1 or "",
    }
    if address.line2:
        postal["addressLine2"] = address.line2
    name = address.name or "Returns"
    return {
        "postalAddress": postal,
        "contactInformation": {"fullName": name, "companyName": name, "phone": address.phone or ""},
        "typeCode": type_code,
    }


def message_reference(case_id: str) -> str:
    """28 to 36 characters, the same for every attempt of one booking, so DHL and we can match them."""
    return f"rb-{case_id}".ljust(28, "0")[:36]


class DhlExpress:
    name = "dhl_express"

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        return settings.require("API_KEY", "API_SECRET", "ACCOUNT")

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        account = settings.get("ACCOUNT") or ""
        base_url = (settings.get("BASE_URL") or SANDBOX_URL).rstrip("/")
        content: dict[str, Any] = {
            "packages": [{"weight": _number(order.total_weight_kg)}],
            "isCustomsDeclarable": order.cross_border,
            "declaredValue": _number(order.declared_value),
            "declaredValueCurrency": order.currency,
            "description": f"Customer return {order.reference}",
            "incoterm": "DAP",
            "unitOfMeasurement": "metric",
        }
        if order.cross_border:
            content["exportDeclaration"] = self._returns_declaration(order)
        body: dict[str, Any] = {
            "plannedShippingDateAndTime": f"{order.ship_date.isoformat()}T10:00:00 GMT+00:00",
            "pickup": {"isRequested": order.pickup},
            "productCode": INTERNATIONAL_PRODUCT if order.cross_border else DOMESTIC_PRODUCT,
            "accounts": [{"typeCode": "shipper", "number": account}],
            "customerDetails": {
                "shipperDetails": _party(order.shipper, "private"),
                "receiverDetails": _party(order.receiver, "business"),
            },
            "content": content,
            "customerReferences": [{"value": order.reference[:35], "typeCode": "CU"}],
            "outputImageProperties": {
                "imageOptions": [
                    {"typeCode": "label", "templateName": "ECOM26_84_001"},
                    *(
                        [
                            {
                                "typeCode": "invoice",
                                "templateName": RETURNS_INVOICE_TEMPLATE,
                                "isRequested": True,
                                "invoiceType": "returns",
                            }
                        ]
                        if order.cross_border
                        else []
                    ),
                ]
            },
        }
        if order.cross_border:
            body["accounts"].append({"typeCode": "duties-taxes", "number": account})
        return OutboundRequest(
            method="POST",
            url=f"{base_url}/shipments",
            headers={
                "x-version": API_VERSION,
                "Message-Reference": message_reference(order.case_id),
                "Content-Type": "application/json",
            },
            json_body=body,
            auth=(settings.get("API_KEY") or "", settings.get("API_SECRET") or ""),
        )

    def _returns_declaration(self, order: ReturnShipmentOrder) -> dict[str, Any]:
        lines = []
        for line in order.lines:
            entry: dict[str, Any] = {
                "number": line.number,
                "description": line.description[:512],
                "price": _number(line.unit_price),
                "quantity": {"value": line.quantity, "unitOfMeasurement": "PCS"},
                "exportReasonType": "return",
                "manufacturerCountry": line.origin_country or order.receiver.country,
                "weight": {"netValue": _number(line.weight_kg), "grossValue": _number(line.weight_kg)},
            }
            if line.hs_code:
                entry["commodityCodes"] = [{"typeCode": "outbound", "value": line.hs_code.replace(".", "")}]
            lines.append(entry)
        return {
            "lineItems": lines,
            "invoice": {"number": order.reference[:35], "date": order.ship_date.isoformat()},
            "exportReasonType": "return",
            "exportReason": "Customer return",
            "remarks": [{"value": f"Goods returned by the buyer, original order {order.original_order_id}"}],
        }

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        body = result.body if isinstance(result.body, dict) else {}
        if not result.ok:
            detail = body.get("detail") or body.get("title") or str(result.body)[:300]
            raise CarrierRejected(f"DHL Express answered {result.status}: {detail}")
        documents = {
            doc.get("typeCode", "document"): doc.get("content", "")
            for doc in body.get("documents") or []
            if isinstance(doc, dict)
        }
        tracking = body.get("shipmentTrackingNumber")
        if not tracking:
            raise CarrierRejected("DHL Express answered without a shipmentTrackingNumber")
        return BookedShipment(
            tracking_number=str(tracking),
            label_pdf_base64=documents.get("label"),
            documents={k: v for k, v in documents.items() if k != "label"},
            pickup_reference=body.get("dispatchConfirmationNumber"),
            raw={k: v for k, v in body.items() if k != "documents"},
        )


CARRIERS.register("dhl_express", DhlExpress())
