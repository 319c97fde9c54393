"""The canonical return event: what every marketplace's payload becomes.

Field names follow the contract's canonical event schema (examples/ holds its examples). Validation of raw
input happens at the edge (service/canonical.py, marshmallow); these values are
already clean. Amounts are `Decimal` in the order's currency; times are aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

EVENT_TYPES: tuple[str, ...] = (
    "return.requested",
    "return.cancelled",
    "return.approved",
    "return.rejected",
    "return.shipped",
    "return.received",
    "return.inspected",
    "refund.requested",
    "refund.completed",
    "exchange.requested",
    "order.cancel_requested",
    "dispute.opened",
    "dispute.resolved",
    "order.delivered",
    # An order seen before payment (seed 004 §3.1.1): closed by the system when payment does not come in time.
    "order.placed",
)

# Kinds of dispute (seed 001 §6.1), plus the merchant's claim that the goods sent back were swapped (seed 002 FAQ 3).
DISPUTE_TYPES: tuple[str, ...] = (
    "quality",
    "not_as_described",
    "logistics",
    "policy_misunderstanding",
    "service",
    "swapped_item",
)

# Why a request was rejected, as the buyer is told (core.notices.CODES["reason"]).
REJECTION_REASONS: tuple[str, ...] = (
    "outside_return_window",
    "item_used",
    "missing_evidence",
    "excluded_item",
    "other",
)

# DESIGN.md canonical reasons; marketplace adapters map their codes onto these and keep the raw one.
REASONS: tuple[str, ...] = (
    "changed_mind",
    "size_or_fit",
    "not_as_described",
    "defective",
    "damaged_in_transit",
    "wrong_item",
    "missing_parts",
    "late_delivery",
    "packaging_damaged",
    "other",
)

RESOLUTIONS: tuple[str, ...] = ("refund", "refund_only", "exchange", "repair", "partial_refund", "returnless")


@dataclass(frozen=True)
class Address:
    country: str
    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Buyer:
    locale: str | None = None
    timezone: str | None = None
    email: str | None = None
    phone: str | None = None
    display_currency: str | None = None


@dataclass(frozen=True)
class Coupon:
    """A coupon used on the order and the lines that share it (seed 004 §3.3.3: returned when all are cancelled)."""

    code: str
    amount: Decimal | None = None
    skus: tuple[str, ...] = ()


@dataclass(frozen=True)
class Order:
    id: str
    currency: str | None = None
    placed_at: datetime | None = None
    delivered_at: datetime | None = None
    ship_from: Address | None = None
    ship_to: Address | None = None
    buyer: Buyer | None = None
    shipping_paid: Decimal | None = None
    duties_paid: Decimal | None = None
    # Directive 2011/83 art 6(1)(h): False extends the window (art 10) and moves the return cost to the trader.
    withdrawal_information_given: bool = True
    # Japan: the seller showed its own return terms before the sale, which displaces the statutory return right.
    return_policy_displayed: bool = False
    # Seed 004: an unpaid order is closed after its payment deadline; after the warehouse's final check
    # (仓库复核) it can no longer be cancelled; coupons, points and reserved stock go back on cancellation.
    paid: bool | None = None
    payment_due_by: datetime | None = None
    warehouse_checked_at: datetime | None = None
    coupons: tuple[Coupon, ...] = ()
    points_used: int | None = None


@dataclass(frozen=True)
class Inspection:
    passed: bool | None = None
    note: str | None = None


@dataclass(frozen=True)
class ReturnRequest:
    id: str
    resolution: str | None = None
    reason: str | None = None
    raw_reason: str | None = None
    reason_detail: str | None = None
    shipping_insurance: bool | None = None
    carrier: str | None = None
    pickup: bool | None = None
    evidence: tuple[str, ...] = ()
    refund_amount: Decimal | None = None
    inspection: Inspection | None = None
    # Periods that run from discovery of a defect (JP Civil Code art 566, BR CDC art 26 §3) use it.
    defect_discovered_at: datetime | None = None
    # A rejection's reason and the buyer's appeal deadline; a dispute's type and its evidence deadline (举证期).
    rejection_reason: str | None = None
    appeal_due_by: datetime | None = None
    dispute_type: str | None = None
    evidence_due_by: datetime | None = None


@dataclass(frozen=True)
class Condition:
    opened: bool | None = None
    used: bool | None = None
    tags_attached: bool | None = None


@dataclass(frozen=True)
class Item:
    sku: str
    quantity: int
    unit_price: Decimal
    title: str | None = None
    category: str | None = None
    hs_code: str | None = None
    origin_country: str | None = None
    weight_kg: Decimal | None = None
    condition: Condition | None = None
    # A multi-parcel order: the withdrawal window runs from the last parcel (Directive 2011/83 art 9(2)(b)).
    delivered_at: datetime | None = None
    digital: bool = False
    # Directive 2011/83 art 16(m): digital supply begun with consent and acknowledgement loses the right.
    supply_started_with_consent: bool = False


@dataclass(frozen=True)
class Tracking:
    carrier: str | None = None
    number: str | None = None


@dataclass(frozen=True)
class ReturnEvent:
    """One thing that happened to a return, as the marketplace told it."""

    type: str
    marketplace_event_id: str
    occurred_at: datetime
    order: Order
    return_: ReturnRequest
    items: tuple[Item, ...] = ()
    tracking: Tracking | None = None
    as_of: datetime | None = None
    raw_status: str | None = field(default=None)

    @property
    def is_cross_border(self) -> bool:
        o = self.order
        return bool(o.ship_from and o.ship_to and o.ship_from.country != o.ship_to.country)
