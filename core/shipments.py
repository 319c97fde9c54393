"""What a carrier needs to bring a return home, independent of any carrier's API.

The buyer becomes the shipper and the merchant's returns address the receiver
(MyDHL "Returns Invoice": "The Shipper is the party that earlier has received the
goods", carriers_customs.md §2.1). Cross-border returns carry customs lines with
export reason "return" so the goods re-enter under returned-goods relief.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from core.cases import ReturnCase
from core.effects import OutboundEffect, SentThroughEffect
from core.events import Address

DEFAULT_ITEM_WEIGHT_KG = Decimal("0.5")


class ShipmentOrderError(ValueError):
    """The case lacks what any carrier needs (an address, a country); the case needs attention."""


@dataclass(frozen=True)
class CustomsLine:
    number: int
    description: str
    quantity: int
    unit_price: Decimal
    hs_code: str | None
    origin_country: str | None
    weight_kg: Decimal


@dataclass(frozen=True)
class ReturnShipmentOrder:
    case_id: str
    reference: str  # the marketplace's return id, printed on label and invoice
    shipper: Address  # the buyer, sending the goods back
    receiver: Address  # the merchant's returns address
    ship_date: date
    pickup: bool
    currency: str
    lines: tuple[CustomsLine, ...]
    original_order_id: str
    reason: str | None = None  # canonical return reason: FedEx customsOption, SF senderReasonContent
    outbound: bool = False  # issue 19: the merchant ships a replacement, repair or reship to the buyer

    @property
    def cross_border(self) -> bool:
        return self.shipper.country != self.receiver.country

    @property
    def total_weight_kg(self) -> Decimal:
        return sum((line.weight_kg * line.quantity for line in self.lines), Decimal(0)) or DEFAULT_ITEM_WEIGHT_KG

    @property
    def declared_value(self) -> Decimal:
        return sum((line.unit_price * line.quantity for line in self.lines), Decimal(0))


def return_shipment_order(case: ReturnCase, returns_address: Address | None, ship_date: date) -> ReturnShipmentOrder:
    """The carrier-neutral order for `case`; the merchant's configured returns address wins over ship_from."""
    shipper = case.order.ship_to
    if shipper is not None and not shipper.phone and case.order.buyer and case.order.buyer.phone:
        shipper = replace(shipper, phone=case.order.buyer.phone)  # carriers require the collection address's phone
    receiver = returns_address or case.order.ship_from
    if shipper is None:
        raise ShipmentOrderError("order.ship_to is unknown: no address to collect the return from")
    if receiver is None:
        raise ShipmentOrderError("no returns address: set RB_RETURNS_ADDRESS_* or send order.ship_from")
    if not case.order.currency:
        raise ShipmentOrderError("order.currency is unknown: the customs value cannot be declared")
    lines = tuple(
        CustomsLine(
            number=i,
            description=item.title or item.sku,
            quantity=item.quantity,
            unit_price=item.unit_price,
            hs_code=item.hs_code,
            origin_country=item.origin_country,
            weight_kg=item.weight_kg or DEFAULT_ITEM_WEIGHT_KG,
        )
        for i, item in enumerate(case.items, start=1)
    )
    return ReturnShipmentOrder(
        case_id=case.id,
        reference=case.return_id,
        shipper=shipper,
        receiver=receiver,
        ship_date=ship_date,
        pickup=bool(case.return_.pickup),
        currency=case.order.currency,
        lines=lines,
        original_order_id=case.order_id,
        reason=case.return_.reason,
    )


def outbound_shipment_order(case: ReturnCase, merchant_address: Address | None, ship_date: date) -> ReturnShipmentOrder:
    """The new parcel of an exchange, repair or reship: the same order with the parties the other way round."""
    back = return_shipment_order(case, merchant_address, ship_date)
    return replace(back, shipper=back.receiver, receiver=back.shipper, pickup=False, outbound=True)


@dataclass(frozen=True)
class Shipment(SentThroughEffect):
    """A carrier booking as stored: the parcel it made (tracking number, label) and its request's effect."""

    id: str
    case_id: str
    carrier: str
    kind: str  # return_label | pickup | intercept | outbound_label | claim
    created_at: datetime
    effect: OutboundEffect
    tracking_number: str | None = None
    label_pdf_base64: str | None = None

    @property
    def idempotency_key(self) -> str:
        return self.effect.idempotency_key

    @property
    def request(self) -> dict[str, Any]:
        return self.effect.request or {}
