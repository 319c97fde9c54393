"""Customs for cross-border returns: which regime brings the goods home duty-free, which papers, which deadlines.

A return crosses two borders in reverse: it leaves the buyer's country (the
import of the original sale) and re-enters the merchant's (the export of the
original sale). Re-entry relief and the recovery of duty and import VAT the
buyer paid each have a regime, documents and a time limit, taken from the
regulation or the authority's own guidance and cited in `basis` (README
"Customs regimes"). The tables below are the data; functions only look them up.

Periods are what the texts say: "three years", "6 months", "90 days" are
calendar periods (`Period`), not day counts. A period started by an event on a
day ends with the same-numbered day of the last month or year (the month's
last day when it has no such day) or with the last of the days, and it ends at
the end of that day in the authority's local time. Clock and dates come in as
arguments: this module does no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta

from core.effects import OutboundEffect
from core.events import Item, Order
from core.money import Money
from core.places import zone_for

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
class Period:
    """A legal period in calendar years, months or days, as its text states it."""

    years: int = 0
    months: int = 0
    days: int = 0

    def last_day(self, start: date) -> date:
        """The last day still inside the period begun by an event on `start` (that day itself not counted)."""
        return start + relativedelta(years=self.years, months=self.months, days=self.days)

    def ends(self, start: datetime, country: str) -> datetime:
        """The first instant after the period, as aware UTC: the end of its last day where the authority sits."""
        zone = zone_for(country) or UTC
        last = self.last_day(start.astimezone(zone).date())
        return datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)

    def __str__(self) -> str:
        parts = [(self.years, "year"), (self.months, "month"), (self.days, "day")]
        return " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in parts if n)


@dataclass(frozen=True)
class ReliefWindow:
    """The exports a time-limited relief covers (China's CBEC export-return announcements name fixed periods)."""

    first_export_day: date
    last_export_day: date
    basis: str


@dataclass(frozen=True)
class Regime:
    code: str
    name: str
    basis: str
    period: Period | None  # time allowed for the goods to come back; None: no limit
    counted_from: str  # export | release
    documents: tuple[str, ...]
    condition: str
    windows: tuple[ReliefWindow, ...] = ()  # empty: the relief is permanent law


# Why the duty is being recovered: each has its own route and time limit.
RETURNED, REJECTED, OVERPAYMENT = "returned_goods", "rejected_goods", "overpayment"
REJECTED_REASONS = frozenset({"defective", "damaged_in_transit", "not_as_described", "wrong_item", "missing_parts"})


def claim_reason(return_reason: str | None) -> str:
    """Goods defective or not as the contract said are rejected imports; any other return is returned goods."""
    return REJECTED if return_reason in REJECTED_REASONS else RETURNED


@dataclass(frozen=True)
class RecoveryRule:
    authority: str
    basis: str
    period: Period
    counted_from: str  # import | release


RETURNS_INVOICE = "Returns invoice (invoice type 'returns', export reason 'return')"
CN23 = "CN23 with category 'Returned goods', citing the original invoice and outbound parcel"

# Re-entry relief by the area the goods go back to (the merchant's).
REENTRY: dict[str, Regime] = {
    "EU": Regime(
        "eu_returned_goods_relief",
        "EU Returned Goods Relief",
        "Regulation (EU) 952/2013 (UCC) Art. 203(1): returned within a period of three years; Art. 203(5) same state; "
        "Art. 203(6) supporting information",
        Period(years=3),
        "export",
        (
            RETURNS_INVOICE,
            CN23,
            "Proof of the export (export declaration MRN, or the outbound carrier record) (UCC Art. 203(6))",
            "Proof of identity and unchanged state: serial, batch or unique identifier matching the export "
            "(UCC Art. 203(5); Irish Revenue returned-goods guidance)",
        ),
        "returned in the state in which they were exported (UCC Art. 203(5)); period extendable for special "
        "circumstances (Art. 203(2))",
    ),
    "US": Regime(
        "us_hts_9801_00_10",
        "US goods returned, HTSUS 9801.00.10",
        "HTSUS 9801.00.10 (US products: no limit; other products within 3 years after export); 19 CFR 10.1; "
        "CBP CSMS #49163963",
        None,
        "export",
        (
            RETURNS_INVOICE,
            CN23,
            "Foreign shipper's declaration and owner's or importer's declaration (19 CFR 10.1(a)), which CBP may "
            "request for shipments valued over USD 2,500 (CSMS #49163963)",
        ),
        "not advanced in value or improved in condition while abroad; no drawback claimed on the export",
    ),
    "GB": Regime(
        "uk_returned_goods_relief",
        "UK Returned Goods Relief",
        "HMRC guidance 'Returned Goods Relief' (goods re-imported within 3 years of export); Taxation (Cross-border "
        "Trade) Act 2018",
        Period(years=3),
        "export",
        (RETURNS_INVOICE, CN23, "Evidence of the export (export declaration entry number or MRN, commercial invoice)"),
        "re-imported unaltered within 3 years of export, by or for the person who exported them",
    ),
    "CN": Regime(
        "cn_cbec_export_return",
        "China cross-border e-commerce export return",
        "MOF/GACC/STA Announcement 2026 No. 16 art. 1 (exports declared 2026-01-01 to 2027-12-31; earlier "
        "2023 No. 4): returned in original state within 6 months of export",
        Period(months=6),
        "export",
        (
            RETURNS_INVOICE,
            CN23,
            "Original CBEC export declaration (supervision code 1210/9610/9710/9810) (Announcement 2026 No. 16 art. 1)",
            "Reason for the return: unsold or returned by the buyer (滞销、退货) (art. 1)",
            "Evidence that any export VAT and consumption tax rebate was repaid, or that none was claimed (art. 2)",
        ),
        "not food; returned in original state (原状) within 6 months of export (for code 1210, of leaving the "
        "special area); export VAT rebate received must be repaid",
        windows=(
            ReliefWindow(date(2023, 1, 30), date(2024, 1, 29), "MOF/GACC/STA Announcement 2023 No. 4"),
            ReliefWindow(date(2026, 1, 1), date(2027, 12, 31), "MOF/GACC/STA Announcement 2026 No. 16"),
        ),
    ),
}

# China CBEC retail import return: the buyer in China sends the goods back into the bonded area.
CN_IMPORT_RETURN = Regime(
    "cn_cbec_import_return",
    "China cross-border e-commerce retail import return",
    "GACC Announcement 2020 No. 45: apply within 30 days, goods back within 45 days of release of the Declaration List",
    Period(days=45),
    "release",
    (RETURNS_INVOICE, "Return declaration on the China International Trade Single Window against the Declaration List"),
    "apply within 30 days of release of the Declaration List; goods back in the original supervised area within 45 days",
)
CN_IMPORT_APPLY = Period(days=30)

# Recovery of duty and import VAT the buyer paid, by the area the goods leave (the buyer's) and by reason.
RECOVERY: dict[str, dict[str, RecoveryRule]] = {
    "EU": {
        RETURNED: RecoveryRule(
            "EU customs (invalidation of the import declaration)",
            "UCC Art. 174; UCC-DA Reg. (EU) 2015/2446 Art. 148(3): within 90 days of acceptance (e-commerce goods "
            "returned)",
            Period(days=90),
            "import",
        ),
        REJECTED: RecoveryRule(
            "EU customs (repayment for defective goods or goods not complying with the contract)",
            "UCC Art. 118(1); Art. 121(1)(b): within 1 year of notification of the customs debt",
            Period(years=1),
            "import",
        ),
        OVERPAYMENT: RecoveryRule(
            "EU customs (repayment of duty overcharged)",
            "UCC Art. 117; Art. 121(1)(a): within 3 years of notification of the customs debt",
            Period(years=3),
            "import",
        ),
    },
    "US": {
        RETURNED: RecoveryRule(
            "US CBP (drawback, merchandise sold at retail and returned)",
            "19 U.S.C. 1313(c)(1)(C)(ii): exported or destroyed within 5 years of importation",
            Period(years=5),
            "import",
        ),
        REJECTED: RecoveryRule(
            "US CBP (drawback, rejected merchandise)",
            "19 U.S.C. 1313(c)(1)(C)(i): defective or not conforming, exported or destroyed within 5 years of import",
            Period(years=5),
            "import",
        ),
    },
    "GB": {
        REJECTED: RecoveryRule(
            "HMRC (rejected imports: repayment of import duty and VAT)",
            "HMRC guidance 'Rejected imports' (defective, damaged or not as contracted): claim within 1 year of the "
            "import declaration",
            Period(years=1),
            "import",
        ),
        OVERPAYMENT: RecoveryRule(
            "HMRC (repayment of import duty and VAT overpaid, form C285)",
            "HMRC guidance 'Apply for repayment of import duty and VAT if you've overpaid (C285)': within 3 years",
            Period(years=3),
            "import",
        ),
    },
    "CN": {
        reason: RecoveryRule(
            "China Customs (CBEC import return: tax not levied)",
            "GACC Announcement 2020 No. 45: apply within 30 days of release of the Declaration List",
            Period(days=30),
            "release",
        )
        for reason in (RETURNED, REJECTED)
    },
}


def recovery_rule(area: str, reason: str) -> RecoveryRule | None:
    """The route for recovering duty in `area` for `reason`; None where none is on file (then no claim is planned)."""
    return RECOVERY.get(area, {}).get(reason)


@dataclass(frozen=True)
class Deadline:
    name: str
    due_by: datetime  # the first instant after the period: the deadline is met strictly before it
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
    reason: str = RETURNED  # returned_goods | rejected_goods | overpayment: each has its own route and limit

    def to_json(self) -> dict[str, Any]:
        return {
            "authority": self.authority,
            "reason": self.reason,
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
    return_reason: str | None = None  # canonical return reason: rejected (defective...) or returned goods


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
        apply_by = CN_IMPORT_APPLY.ends(start, "CN")
        deadlines.append(Deadline("cn_return_application", apply_by, regime.basis, estimated))
        back_by = (regime.period or CN_IMPORT_APPLY).ends(start, "CN")
        deadlines.append(Deadline("cn_goods_back_in_bonded_area", back_by, regime.basis, estimated))
        relief = REENTRY.get(entering)
        documents = regime.documents + (relief.documents[1:] if relief else ())
    else:
        regime, documents = _reentry(facts, entering, deadlines, warnings)
    claims = _claims(facts, leaving, warnings)
    for claim in claims:
        deadlines.append(Deadline("duty_vat_recovery_claim", claim.due_by, claim.basis, _start(facts, "import")[1]))
    return CustomsPlan(
        lane, regime, documents, tuple(sorted(deadlines, key=lambda d: d.due_by)), claims, tuple(warnings)
    )


NO_RELIEF = Regime(
    "no_known_relief", "No returned-goods relief on file", "", None, "export", (RETURNS_INVOICE, CN23), ""
)


def recorded_regime(code: str, name: str, basis: str, condition: str) -> Regime:
    """The regime a stored plan names (its code, name, basis and condition as recorded then), with this table's
    period, start and documents for that code; none for a code no longer on file."""
    known = {r.code: r for r in (*REENTRY.values(), CN_IMPORT_RETURN, NO_RELIEF)}.get(code)
    if known is None:
        return Regime(code, name, basis, None, "export", (), condition)
    return replace(known, name=name, basis=basis, condition=condition)


def _reentry(
    facts: CustomsFacts, entering: str, deadlines: list[Deadline], warnings: list[str]
) -> tuple[Regime, tuple[str, ...]]:
    """Re-entry relief for the merchant's area, its deadline, and why it may not apply."""
    regime = REENTRY.get(entering) or NO_RELIEF
    if regime is NO_RELIEF:
        warnings.append(f"no returned-goods relief is on file for {entering}: import duty may be charged")
        return regime, regime.documents
    start, estimated = _start(facts, regime.counted_from)
    if regime.windows and not any(w.first_export_day <= start.date() <= w.last_export_day for w in regime.windows):
        covered = "; ".join(f"{w.basis}: {w.first_export_day} to {w.last_export_day}" for w in regime.windows)
        warnings.append(
            f"{regime.name} covers only exports declared in its announced periods ({covered}); an export on "
            f"{start.date()} is outside them: import duty and VAT may be charged"
        )
        return NO_RELIEF, NO_RELIEF.documents
    period = regime.period
    if entering == "US" and any(origin != "US" for origin in facts.origin_countries):
        period = Period(years=3)  # HTSUS 9801.00.10: "any other products when returned within 3 years"
    if period is not None:
        deadlines.append(
            Deadline(f"{regime.code}_goods_back", period.ends(start, facts.merchant_country), regime.basis, estimated)
        )
    return regime, regime.documents


def _claims(facts: CustomsFacts, leaving: str, warnings: list[str]) -> tuple[DutyClaim, ...]:
    """A claim where the buyer paid duty or import VAT (order.duties_paid > 0), by the route for the return's reason."""
    if not facts.duties_paid or facts.duties_paid <= 0:
        return ()
    reason = claim_reason(facts.return_reason)
    rule = recovery_rule(leaving, reason)
    if rule is None:
        warnings.append(
            f"no route to recover duty for {reason.replace('_', ' ')} leaving {leaving} is on file: "
            "the duty the buyer paid is not claimed back"
        )
        return ()
    start, _ = _start(facts, rule.counted_from)
    amount = Money.rounded(facts.duties_paid, facts.currency)
    due_by = rule.period.ends(start, facts.buyer_country)
    return (DutyClaim(rule.authority, amount, due_by, rule.basis, reason=reason),)


def expire_claims(plan: CustomsPlan, now: datetime) -> CustomsPlan:
    """Claims still planned once the authority's period has ended can no longer be filed."""
    claims = tuple(
        DutyClaim(c.authority, c.amount, c.due_by, c.basis, "expired", c.reason)
        if c.status == "planned" and now >= c.due_by
        else c
        for c in plan.claims
    )
    return CustomsPlan(plan.lane, plan.regime, plan.documents, plan.deadlines, claims, plan.warnings)


def facts_for_return(
    order: Order,
    items: Sequence[Item],
    merchant_country: str | None,
    fallback_ordered_at: datetime,
    return_reason: str | None = None,
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
        return_reason=return_reason,
    )


@dataclass(frozen=True)
class LedgerClaim:
    """A duty/VAT claim in the recovery ledger, with its filing's effect once it was filed (or stored unsent)."""

    id: str
    case_id: str
    authority: str
    basis: str
    amount: Money
    due_by: datetime
    status: str  # planned | not_sent | filed | accepted | refused | expired
    adapter: str
    created_at: datetime
    updated_at: datetime
    reason: str | None = None
    reference: str | None = None
    filing: OutboundEffect | None = None  # once it was filed, or stored unsent
