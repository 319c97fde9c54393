"""A cross-border return (buyer in Berlin, merchant in Shenzhen) and a domestic one, as carriers see them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from requests.structures import CaseInsensitiveDict

from adapters.marketplaces.base import InboundRequest
from config.settings import AdapterSettings
from core.events import Address
from core.shipments import CustomsLine, ReturnShipmentOrder

BUYER = Address(
    country="DE", name="Jane Doe", line1="Hauptstr. 1", city="Berlin", postal_code="10115", phone="+49300000000"
)
MERCHANT = Address(
    country="CN",
    name="Merchant Ltd",
    line1="1 Warehouse Rd",
    city="Shenzhen",
    region="Guangdong",
    postal_code="518000",
    phone="+8675500000000",
)


def order(pickup: bool = True, receiver: Address = MERCHANT, reason: str | None = "size_or_fit") -> ReturnShipmentOrder:
    return ReturnShipmentOrder(
        case_id="case-1",
        reference="RMA-2026-0001",
        shipper=BUYER,
        receiver=receiver,
        ship_date=date(2026, 7, 2),
        pickup=pickup,
        currency="EUR",
        lines=(
            CustomsLine(1, "Cotton T-shirt", 1, Decimal("25.00"), "6109.10", "CN", Decimal("0.3")),
            CustomsLine(2, "Silk scarf", 2, Decimal("12.50"), None, None, Decimal("0.1")),
        ),
        original_order_id="ORD-88",
        reason=reason,
    )


def settings(name: str, **values: str) -> AdapterSettings:
    return AdapterSettings(name=name, env={f"RB_{name.upper()}_{k}": v for k, v in values.items()})


def inbound(body: bytes, **headers: str) -> InboundRequest:
    return InboundRequest(body=body, headers=CaseInsensitiveDict(headers))
