"""Who pays what on a return (DOMAIN.md §4), from the fee tables in config/policy/fees.json.

Return shipping follows the cause: the buyer's own reason makes the buyer pay, a
product or delivery problem makes the merchant pay (seed 001 §2.3, seed 000,
seed 003). Cross-border, damaged outer packaging alone is the buyer's reason
(seed 004). A statutory or policy right can shift the cost to the merchant (BR
CDC art. 49, free-return policies); return-shipping insurance (运费险) pays the
buyer's share (seed 004). Restocking fees apply only where the law of the
buyer's country allows them and never to a merchant-fault return.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.money import Money

BUYER = "buyer"
MERCHANT = "merchant"


@dataclass(frozen=True)
class Cause:
    """The reason for a return, classified for fees: whose fault, and where that rule comes from."""

    reason: str | None
    fault: bool
    payer: str
    source: str
    compensation_customary: bool = False
    carrier_claim: bool = False


def classify_cause(reason: str | None, cross_border: bool, fees: Mapping[str, Any]) -> Cause:
    """The fee row for `reason`; an unstated reason counts as the buyer's own (seed 001 §4.1.2)."""
    if reason == "packaging_damaged" and cross_border:
        row = fees["cross_border_packaging_damaged"]
    else:
        row = fees["return_shipping_by_reason"].get(reason or "other", fees["return_shipping_by_reason"]["other"])
    return Cause(
        reason=reason,
        fault=bool(row["fault"]),
        payer=row["payer"],
        source=row["source"],
        compensation_customary=bool(row.get("compensation_customary")),
        carrier_claim=bool(row.get("carrier_claim")),
    )


@dataclass(frozen=True)
class ShippingCosts:
    """Who bears each leg, and whether insurance reimburses the buyer's return leg."""

    return_leg: str
    new_item_leg: str | None
    insurance_covers_return_leg: bool
    compensation_customary: bool
    carrier_claim: bool
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "return_shipping_payer": self.return_leg,
            "insurance_covers_return_shipping": self.insurance_covers_return_leg,
            "compensation_customary": self.compensation_customary,
            "carrier_claim": self.carrier_claim,
        }
        if self.new_item_leg is not None:
            data["exchange_shipping_payer"] = self.new_item_leg
        return data


def shipping_costs(
    cause: Cause,
    right_payer: str | None,
    resolution: str | None,
    insured: bool,
    fees: Mapping[str, Any],
) -> ShippingCosts:
    """Who pays the return leg and, for an exchange or repair, the new item's leg.

    `right_payer` is what the applicable right says (statute or policy); a merchant
    payer there is more generous than the cause table and wins.
    """
    return_leg = MERCHANT if MERCHANT in (cause.payer, right_payer) else BUYER
    sources = [cause.source]
    new_item_leg = None
    if resolution in ("exchange", "repair"):
        row = fees["exchange_shipping"]["fault" if cause.fault else "personal"]
        new_item_leg = row["new_item"]
        return_leg = MERCHANT if MERCHANT in (return_leg, row["return_leg"]) else BUYER
        sources.append(row["source"])
    insurance = bool(insured) and return_leg == BUYER
    if insurance:
        sources.append(fees["shipping_insurance"]["source"])
    return ShippingCosts(
        return_leg=return_leg,
        new_item_leg=new_item_leg,
        insurance_covers_return_leg=insurance,
        compensation_customary=cause.compensation_customary,
        carrier_claim=cause.carrier_claim,
        sources=tuple(sources),
    )


def restocking_fee(
    goods: Money, percent: Decimal | None, law_allows: bool, cause: Cause, statutory_basis: bool
) -> Money:
    """A restocking fee only on a voluntary-policy return for the buyer's own reason, where the law allows it.

    EU/UK withdrawals allow no such fee (Directive 2011/83/EU art. 13-14; SI 2013/3134
    reg. 34); faulty goods never bear one (ACL, ACCC sweep; research §1.2).
    """
    if percent is None or not law_allows or cause.fault or statutory_basis:
        return Money.zero(goods.currency)
    return Money.rounded(goods.amount * percent / Decimal(100), goods.currency)
