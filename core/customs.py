"""Customs for cross-border returns: which regime brings the goods home duty-free, which papers, which deadlines.

A return crosses two borders in reverse: it leaves the buyer's country (the
import of the original sale) and re-enters the merchant's (the export of the
original sale). Re-entry relief and the recovery of duty and import VAT the
buyer paid each have a regime, documents and a time limit (carriers_customs.md
§3). The tables below are the data; functions only look them up and count days.
Clock and dates come in as arguments: this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.events import Item, Order
from core.money import Money

EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)  # the Union customs territory's member states


def customs_area(country: str) -> str:
    return "EU" if country in EU else country


@dataclass(frozen=True)
class Regime:
    code: str
    name: str
    basis: str
    days: int | None  # time allowed for the goods to come back; None: no limit
    counted_from: str  # export | release
    documents: tuple[str, ...]
    condition: str


@dataclass(frozen=True)
class RecoveryRule:
    authority: str
    basis: str
    days: int
    counted_from: str  # import | release


RETURNS_INVOICE = "Returns invoice (invoice type 'returns', export reason 'return')"
CN23 = "CN23 with category 'Returned goods', citing the original invoice and outbound parcel"

# Re-entry relief by the area the goods go back to (the merchant's).
REENTRY: dict[str, Regime] = {
    "EU": Regime(
        "eu_returned_goods_relief",
        "EU Returned Goods Relief",
        "Regulation (EU) 952/2013 (UCC) Art. 203",
        3 * 365,
        "export",
        (RETURNS_INVOICE, CN23, "Proof of export (export declaration / MRN or outbound carrier record)"),
        "returned in the state in which they were exported (Art. 203(5))",
    ),
    "US": Regime(
        "us_hts_9801_00_10",
        "US goods returned, HTSUS 9801.00.10",
        "HTSUS 9801.00.10; 19 CFR 10.1; CBP CSMS #49163963",
        None,
        "export",
        (RETURNS_INVOICE, CN23, "Foreign shipper's and importer's declarations (19 CFR 10.1) when over USD 2,500"),
        "not advanced in value or improved in condition while abroad; foreign-origin goods within 3 years",
    ),
    "GB": Regime(
        "uk_returned_goods_relief",
        "UK Returned Goods Relief",
        "HMRC Notice 236 (returned goods relief) [A: from general knowledge, not in the research corpus]",
        3 * 365,
        "export",
        (RETURNS_INVOICE, CN23, "Proof of export"),
        "returned unaltered within 3 years of export",
    ),
    "CN": Regime(
        "cn_cbec_export_return",
        "China cross-border e-commerce export return",
        "MOF/GACC/STA Announcement 2023 No. 4, renewed 2026 No. 16",
        183,
        "export",
        (RETURNS_INVOICE, CN23, "Original CBEC export declaration (supervision code 1210/9610/9710/9810)"),
        "returned in original state within 6 months of export; export VAT rebate received must be repaid",
    ),
}
FOREIGN_ORIGIN_US_DAYS = 3 * 365

# China CBEC retail import return: the buyer in China sends the goods back into the bonded area.
CN_IMPORT_RETURN = Regime(
    "cn_cbec_import_return",
    "China cross-border e-commerce retail import return",
    "GACC Announcement 2020 No. 45",
    45,
    "release",
    (RETURNS_INVOICE, "Return declaration on the China International Trade Single Window against the Declaration List"),
    "apply within 30 days of release of the Declaration List; goods back in the original supervised area within 45 days",
)
CN_IMPORT_APPLY_DAYS = 30

# Recovery of duty and import VAT the buyer paid, by the area the goods leave (the buyer's).
RECOVERY: dict[str, RecoveryRule] = {
    "EU": RecoveryRule(
        "EU customs (invalidation of the import declaration)", "UCC Art. 174; UCC-DA Art. 148(3)", 90, "import"
    ),
    "US": RecoveryRule("US CBP (drawback, rejected or returned merchandise)", "19 U.S.C. 1313(c)", 5 * 365, "import"),
    "GB": RecoveryRule(
        "HMRC (repayment of import duty and VAT, form C285)",
        "Taxation (Cross-border Trade) Act 2018 [A: from general knowledge]",
        3 * 365,
        "import",
    ),
    "CN": RecoveryRule(
        "China Customs (CBEC import return: tax not levied)", "GACC Announcement 2020 No. 45", 30, "release"
    ),
}


@dataclass(frozen=True)
class Deadline:
    name: str
    due_by: datetime
    basis: str
    estimated: bool  # counted from an assumed date (the order date) because the real one is unknown

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "due_by": self.due_by.isoformat(), "basis": self.basis, "estimated": self.estimated}


@dataclass(frozen=True)
class DutyClaim:
    authority: str
    amount: Money
    due_by: datetime
    basis: str
    status: str = "planned"  # planned | filed | accepted | refused | expired

    def to_json(self) -> dict[str, Any]:
        return {
            "authority": self.authority,
            "amount": self.amount.to_json(),
            "due_by": self.due_by.isoformat(),
            "basis": self.basis,
            "status": self.status,
        }


@dataclass(frozen=True)
class CustomsPlan:
    lane: str
    regime: Regime
    documents: tuple[str, ...]
    deadlines: tuple[Deadline, ...]
    claims: tuple[DutyClaim, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "regime": {
                "code": self.regime.code,
                "name": self.regime.name,
                "basis": self.regime.basis,
                "condition": self.regime.condition,
            },
            "documents": list(self.documents),
            "deadlines": [d.to_json() for d in self.deadlines],
            "claims": [c.to_json() for c in self.claims],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CustomsFacts:
    """What customs needs to know about one return; dates are aware UTC or None when unknown."""

    buyer_country: str
    merchant_country: str
    ordered_at: datetime
    currency: str
    exported_at: datetime | None = None  # the outbound parcel left the merchant's country
    released_at: datetime | None = None  # import clearance in the buyer's country (CN: Declaration List release)
    duties_paid: Decimal | None = None
    origin_countries: tuple[str, ...] = ()


def _start(facts: CustomsFacts, counted_from: str) -> tuple[datetime, bool]:
    known = facts.released_at if counted_from in {"release", "import"} else facts.exported_at
    return (known, False) if known is not None else (facts.ordered_at, True)


def customs_plan(facts: CustomsFacts) -> CustomsPlan | None:
    """The plan for a return from the buyer's country to the merchant's; None when no border is crossed."""
    leaving, entering = customs_area(facts.buyer_country), customs_area(facts.merchant_country)
    if leaving == entering:
        return None
    lane = f"{facts.buyer_country}->{facts.merchant_country}"
    deadlines: list[Deadline] = []
    warnings: list[str] = []
    if leaving == "CN":
        regime = CN_IMPORT_RETURN
        start, estimated = _start(facts, "release")
        deadlines.append(
            Deadline("cn_return_application", start + timedelta(days=CN_IMPORT_APPLY_DAYS), regime.basis, estimated)
        )
        deadlines.append(Deadline("cn_goods_back_in_bonded_area", start + timedelta(days=45), regime.basis, estimated))
        relief = REENTRY.get(entering)
        documents = regime.documents + (relief.documents[1:] if relief else ())
    else:
        regime = REENTRY.get(entering) or Regime(
            "no_known_relief", "No returned-goods relief on file", "", None, "export", (RETURNS_INVOICE, CN23), ""
        )
        documents = regime.documents
        if regime.code == "no_known_relief":
            warnings.append(f"no returned-goods relief is on file for {entering}: import duty may be charged")
        days = regime.days
        if entering == "US" and any(origin != "US" for origin in facts.origin_countries):
            days = FOREIGN_ORIGIN_US_DAYS
        if days is not None:
            start, estimated = _start(facts, regime.counted_from)
            deadlines.append(
                Deadline(f"{regime.code}_goods_back", start + timedelta(days=days), regime.basis, estimated)
            )
    claims = _claims(facts, leaving)
    for claim in claims:
        deadlines.append(Deadline("duty_vat_recovery_claim", claim.due_by, claim.basis, _start(facts, "import")[1]))
    return CustomsPlan(
        lane, regime, documents, tuple(sorted(deadlines, key=lambda d: d.due_by)), claims, tuple(warnings)
    )


def _claims(facts: CustomsFacts, leaving: str) -> tuple[DutyClaim, ...]:
    """A claim where the buyer paid duty or import VAT (order.duties_paid > 0) and the area has a rule."""
    rule = RECOVERY.get(leaving)
    if rule is None or not facts.duties_paid or facts.duties_paid <= 0:
        return ()
    start, _ = _start(facts, rule.counted_from)
    amount = Money.rounded(facts.duties_paid, facts.currency)
    return (DutyClaim(rule.authority, amount, start + timedelta(days=rule.days), rule.basis),)


def expire_claims(plan: CustomsPlan, now: datetime) -> CustomsPlan:
    """Claims still planned past the authority's time limit can no longer be filed."""
    claims = tuple(
        DutyClaim(c.authority, c.amount, c.due_by, c.basis, "expired")
        if c.status == "planned" and now > c.due_by
        else c
        for c in plan.claims
    )
    return CustomsPlan(plan.lane, plan.regime, plan.documents, plan.deadlines, claims, plan.warnings)


def facts_for_return(
    order: Order, items: Sequence[Item], merchant_country: str | None, fallback_ordered_at: datetime
) -> CustomsFacts | None:
    """What customs needs from a case's order and items; None when the lane or currency is not known yet.

    The order's placement stands in for the export and import dates until a carrier
    or marketplace reports them (deadlines are then marked `estimated`).
    """
    buyer_country = order.ship_to.country if order.ship_to else None
    merchant = merchant_country or (order.ship_from.country if order.ship_from else None)
    if not buyer_country or not merchant or not order.currency:
        return None
    return CustomsFacts(
        buyer_country=buyer_country,
        merchant_country=merchant,
        ordered_at=order.placed_at or fallback_ordered_at,
        currency=order.currency,
        duties_paid=order.duties_paid,
        origin_countries=tuple(sorted({item.origin_country for item in items if item.origin_country})),
    )
