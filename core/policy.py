"""Return policy: which right makes a return admissible, its window, who pays, the deadlines and the refund.

Rights are checked separately and the most generous one that grants the
resolution the buyer asked for wins (contract: /policy/evaluate): the statutory
no-reason withdrawal of the buyer's country, the legal guarantee for defects (a
different right with its own remedies: repair or exchange first in most laws),
the marketplace's and merchant's voluntary policies, and the merchant's
returnless refund (seed 002 直接退款) when bringing the goods back costs more than
they are worth. `basis` names the kind of right (the contract's four values);
`right` and the trace keep the detailed rule names. Every rule applied is
recorded with its source (law article, seed file and section), or with
`"source": null` and why none could be found. The tables come from
config/policy/ (see config/policy_tables.py); this module does no I/O.
"""

from __future__ import annotations

import calendar as _gregorian
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, overload
from zoneinfo import ZoneInfo

from core.calendar import (
    Calendars,
    WorkingDays,
    due_after,
    end_of_day,
    last_day_of_period,
    local_day,
    roll_forward,
    start_of_day,
)
from core.customs import customs_area
from core.events import Item, ReturnEvent
from core.fees import MERCHANT, Cause, ShippingCosts, classify_cause, restocking_fee, shipping_costs
from core.money import Conversion, Money, RateSource, allocate, convert
from core.rates import RateUnavailable
from core.routing import Route

# The contract's `basis` values (shared contract README, POST /policy/evaluate).
STATUTORY_WITHDRAWAL = "statutory_withdrawal"
STATUTORY_GUARANTEE = "statutory_guarantee"
MARKETPLACE_POLICY = "marketplace_policy"
MERCHANT_POLICY = "merchant_policy"
BASES = (STATUTORY_WITHDRAWAL, STATUTORY_GUARANTEE, MARKETPLACE_POLICY, MERCHANT_POLICY)

# Detailed rule names kept in `right` and the trace.
LEGAL_GUARANTEE = "legal_guarantee"
FAULT_WITHDRAWAL = "fault_withdrawal"
BEFORE_DELIVERY = "before_delivery"
RETURNLESS_REFUND = "returnless_refund"

REFUND = "refund"
# Resolutions that pay money back rather than fix the goods (a price reduction counts as one).
MONEY_BACK = frozenset({"refund", "refund_only", "partial_refund", "returnless"})
DEFAULT_POLICY_RESOLUTIONS = ("refund", "exchange", "partial_refund")


@dataclass(frozen=True)
class PolicyTables:
    """The policy data (config/policy/*.json), already merged: EU members carry the EU group's rules."""

    jurisdictions: Mapping[str, Mapping[str, Any]]
    marketplaces: Mapping[str, Mapping[str, Any]]
    merchants: Mapping[str, Mapping[str, Any]]
    service_levels: Mapping[str, Mapping[str, Any]]
    fees: Mapping[str, Any]
    # Estimated return-label prices by lane (config/carrier_routes.json "return_label_prices").
    label_prices: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class RuleApplied:
    """One line of the trace: which rule, what it decided, and where the rule comes from."""

    rule: str
    outcome: str
    source: str | None
    detail: Mapping[str, Any] = field(default_factory=dict)
    unsourced: str | None = None  # why no source could be given, when `source` is None

    def to_json(self) -> dict[str, Any]:
        data = {"rule": self.rule, "outcome": self.outcome, "source": self.source, **self.detail}
        if self.source is None:
            data["unsourced"] = self.unsourced or "no source found"
        return data


def sourced(rule: str, outcome: str, row: Mapping[str, Any], detail: Mapping[str, Any] | None = None) -> RuleApplied:
    """A trace line from a table row: its `source`, or `"source": null` with the row's `unsourced` reason."""
    return RuleApplied(rule, outcome, row.get("source"), detail or {}, row.get("unsourced"))


@dataclass(frozen=True)
class Window:
    jurisdiction: str
    days: int | None
    unit: str
    starts_at: datetime | None
    ends_at: datetime | None
    last_day: date | None = None  # inclusive, in the buyer's zone; what a person is shown
    extended_by_months: int | None = None  # Directive 2011/83/EU art. 10: withdrawal information missing

    def is_open(self, at: datetime) -> bool:
        return self.ends_at is None or at < self.ends_at

    def to_json(self) -> dict[str, Any]:
        data = {
            "jurisdiction": self.jurisdiction,
            "days": self.days,
            "unit": self.unit,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
            "last_day": self.last_day.isoformat() if self.last_day else None,
        }
        if self.extended_by_months:
            data["extended_by_months"] = self.extended_by_months
        return data


@dataclass
class Right:
    """One right or policy checked against the request."""

    basis: str
    window: Window | None
    payer: str | None
    source: str | None
    eligible_lines: list[int]
    reasons: list[Reason] = field(default_factory=list)
    includes_original_delivery: bool = False
    restocking_fee_percent: Decimal | None = None
    statutory: bool = False
    right: str = ""  # the detailed rule name (eu_withdrawal, legal_guarantee, ...)
    grants: tuple[str, ...] = (REFUND,)  # the resolutions this right gives

    @property
    def eligible(self) -> bool:
        """The right is open for some line (whatever resolution it gives)."""
        return bool(self.eligible_lines) and not any(r.code in _BLOCKING for r in self.reasons)

    def grants_resolution(self, resolution: str) -> bool:
        return self.eligible and resolution in self.grants


_BLOCKING = {
    "unknown_jurisdiction",
    "window_closed",
    "no_statutory_withdrawal",
    "not_a_quality_claim",
    "packaging_damage_not_quality_problem",
    "guarantee_expired",
    "terms_displayed_no_statutory_right",
    "reason_required",
}


@dataclass(frozen=True)
class Refund:
    """The refund in the payment currency, allocated across lines, with its display conversion."""

    amount: Money
    goods: Money
    original_delivery: Money
    restocking_fee: Money
    lines: tuple[tuple[str, Money], ...]
    display: Conversion | None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "currency": self.amount.currency,
            "amount": str(self.amount.amount),
            "goods": str(self.goods.amount),
            "original_delivery": str(self.original_delivery.amount),
            "restocking_fee": str(self.restocking_fee.amount),
            "lines": [{"sku": sku, "amount": str(m.amount)} for sku, m in self.lines],
        }
        if self.display is not None:
            data["display"] = {
                "currency": self.display.converted.currency,
                "amount": str(self.display.converted.amount),
                "rate": str(self.display.rate),
                "rate_date": self.display.rate_date.isoformat(),
                "source": self.display.source,
            }
        return data


@dataclass(frozen=True)
class Decision:
    eligible: bool
    basis: str | None
    reasons: tuple[Reason, ...]
    rules: tuple[RuleApplied, ...]
    window: Window | None
    return_shipping_payer: str
    deadlines: Mapping[str, datetime]
    refund: Refund | None
    fees: ShippingCosts
    alternatives: tuple[str, ...] = ()
    right: str | None = None
    resolution: str = REFUND
    last_days: Mapping[str, date] = field(default_factory=dict)
    returnless: Mapping[str, Any] | None = None
    lines: tuple[Mapping[str, Any], ...] = ()  # per line: whether and under which right the resolution is granted

    def to_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "basis": self.basis,
            "right": self.right,
            "resolution": self.resolution,
            "reasons": [r.to_json() for r in self.reasons],
            "alternatives": list(self.alternatives),
            "rules": [r.to_json() for r in self.rules],
            "window": self.window.to_json() if self.window else None,
            "return_shipping_payer": self.return_shipping_payer,
            "deadlines": {name: _iso(at) for name, at in self.deadlines.items()},
            "last_days": {name: day.isoformat() for name, day in self.last_days.items()},
            "refund": self.refund.to_json() if self.refund else None,
            "returnless": dict(self.returnless) if self.returnless is not None else None,
            "lines": [dict(line) for line in self.lines],
            "fees": self.fees.to_json(),
        }


@dataclass(frozen=True)
class Milestones:
    """When the moments that start deadlines happened; None while they have not."""

    requested_at: datetime
    approved_at: datetime | None = None
    received_at: datetime | None = None
    inspected_at: datetime | None = None
    shipped_at: datetime | None = None  # the buyer sent the goods back (tracking: evidence of sending)


@dataclass(frozen=True)
class Parties:
    """Whose law and whose calendar: the buyer's country for windows, the merchant's for working days."""

    jurisdiction: str
    rule: Mapping[str, Any] | None
    buyer_zone: str
    merchant_country: str
    merchant_zone: str
    marketplace: Mapping[str, Any] | None
    merchant: Mapping[str, Any] | None


def parties(event: ReturnEvent, tables: PolicyTables, marketplace: str | None, merchant: str | None) -> Parties:
    order = event.order
    jurisdiction = (order.ship_to.country if order.ship_to else None) or ""
    rule = tables.jurisdictions.get(jurisdiction)
    merchant_policy = tables.merchants.get(merchant) if merchant else None
    merchant_country = (
        (merchant_policy or {}).get("country") or (order.ship_from.country if order.ship_from else None) or jurisdiction
    )
    buyer_zone = (order.buyer.timezone if order.buyer and order.buyer.timezone else None) or _zone(tables, jurisdiction)
    return Parties(
        jurisdiction=jurisdiction,
        rule=rule,
        buyer_zone=buyer_zone,
        merchant_country=merchant_country,
        merchant_zone=_zone(tables, merchant_country),
        marketplace=tables.marketplaces.get(marketplace) if marketplace else None,
        merchant=merchant_policy,
    )


def _zone(tables: PolicyTables, country: str) -> str:
    return (tables.jurisdictions.get(country) or {}).get("timezone", "UTC")


def evaluate(
    event: ReturnEvent,
    tables: PolicyTables,
    as_of: datetime | None,
    calendar: Calendars,
    rates: RateSource | None,
    marketplace: str | None = None,
    merchant: str | None = None,
    milestones: Milestones | None = None,
    ordered_lines: Mapping[str, int] | None = None,
) -> Decision:
    """Decide a return request: the right that grants what the buyer asked, its window, who pays, deadlines, refund.

    `ordered_lines` (sku: quantity of the whole order, when known) tells a partial return from a full one; without
    it the request's lines are taken as the whole order."""
    at = as_of or event.as_of or event.occurred_at
    who = parties(event, tables, marketplace, merchant)
    asked = event.return_.resolution or REFUND
    rules: list[RuleApplied] = []
    cause = classify_cause(event.return_.reason, event.is_cross_border, tables.fees)
    rules.append(
        RuleApplied(
            "cause",
            "merchant_fault" if cause.fault else "buyer_reason",
            cause.source,
            {"reason": event.return_.reason},
        )
    )
    if who.rule is None:
        rules.append(
            RuleApplied(
                "jurisdiction",
                "unknown",
                None,
                {"country": who.jurisdiction},
                "the buyer's country is not in config/policy/jurisdictions.json: its law is not modelled",
            )
        )

    rights = _rights(event, who, cause, at, calendar, rules)
    returnless = _returnless(event, who, tables, rates, at, rules)
    if returnless is not None and returnless.right is not None:
        rights.append(returnless.right)
    chosen = _most_generous([r for r in rights if r.grants_resolution(asked)])
    alternatives = _alternatives(rights, asked)
    reasons = _reasons(event, cause, chosen, rights, asked, who)
    costs = shipping_costs(
        cause,
        chosen.payer if chosen else None,
        event.return_.resolution,
        bool(event.return_.shipping_insurance),
        tables.fees,
    )
    rules.extend(RuleApplied("shipping_cost", costs.return_leg, source) for source in costs.sources)
    window = chosen.window if chosen else _nearest_window(rights)
    stones = milestones or Milestones(requested_at=event.occurred_at)
    deadlines = compute_deadlines(event, who, tables, calendar, stones, rules, window)
    # What is owed if the request goes ahead: under the right that grants it, else (the merchant agreeing to
    # what no right obliges) under the most generous right still open for these lines.
    owed_under = chosen or _most_generous(rights)
    refund = _refund(event, owed_under, cause, who, tables, rates, at, rules, ordered_lines) if owed_under else None
    lines = _lines(event, rights, asked)
    refused = [line["sku"] for line in lines if not line["eligible"]]
    if chosen is not None and refused:
        # Contract `eligible`: judged for every line of the request; a line no right grants refuses the request.
        reasons.extend(
            Reason("line_not_granted", _msg("line_not_granted", sku=sku, resolution=asked)) for sku in refused
        )
    granted = chosen if not refused else None
    return Decision(
        eligible=granted is not None,
        basis=granted.basis if granted else None,
        reasons=tuple(reasons),
        rules=tuple(rules),
        window=window,
        return_shipping_payer=costs.return_leg,
        deadlines=deadlines,
        refund=refund,
        fees=costs,
        alternatives=alternatives,
        right=granted.right if granted else None,
        resolution=asked,
        last_days={name: _last_day_of(instant, who) for name, instant in deadlines.items()},
        returnless=returnless.to_json() if returnless is not None else None,
        lines=lines,
    )


def _lines(event: ReturnEvent, rights: list[Right], asked: str) -> tuple[dict[str, Any], ...]:
    """Each line of the request: granted or not, and by which right (the most generous that covers it)."""
    granting = [r for r in rights if r.grants_resolution(asked)]
    lines = []
    for index, item in enumerate(event.items):
        best = _most_generous([r for r in granting if index in r.eligible_lines])
        lines.append(
            {
                "sku": item.sku,
                "eligible": best is not None,
                "basis": best.basis if best else None,
                "right": best.right if best else None,
            }
        )
    return tuple(lines)


def last_day_before(ends_at: datetime, zone: str) -> date:
    """The inclusive last day of a period that closes at the exclusive instant `ends_at`, where the buyer is.

    A deadline shown to a person names this day, never the date of `ends_at` (contract: `window.last_day`).
    """
    return local_day(ends_at - timedelta(microseconds=1), zone)


def _last_day_of(ends_at: datetime, who: Parties) -> date:
    """A deadline's last day on the calendar it was counted on: one that closes at midnight in the merchant's zone
    (working days, KR E-Commerce Act art. 18(2)) ends that day there; everything else is dated where the buyer is."""
    for zone in (who.buyer_zone, who.merchant_zone):
        if ends_at.astimezone(ZoneInfo(zone)).timetz().replace(tzinfo=None) == time(0):
            return last_day_before(ends_at, zone)
    return local_day(ends_at, who.buyer_zone)


def _nearest_window(rights: list[Right]) -> Window | None:
    """When nothing grants the request: the window of the right that came nearest (an open one first)."""
    with_window = [r for r in rights if r.window is not None]
    open_ones = [r for r in with_window if r.eligible]
    return (open_ones or with_window)[0].window if with_window else None


def _alternatives(rights: list[Right], asked: str) -> tuple[str, ...]:
    """The other resolutions open rights grant, in the order the rights give them (contract: `alternatives`).

    When the request is refused these are what the buyer may ask instead (repair, exchange after a return
    period); when it is granted they are the other offers, such as a refund without return.
    """
    found: list[str] = []
    for right in rights:
        if right.eligible:
            found.extend(r for r in right.grants if r != asked and r not in found)
    return tuple(found)


# --- the rights -------------------------------------------------------------------------------


def delivered_at(event: ReturnEvent) -> datetime | None:
    """When the period starts: the last parcel of the lines asked for (Directive 2011/83/EU art. 9(2)(b)(ii)).

    A line without its own delivery time was delivered with the order.
    """
    moments = [item.delivered_at or event.order.delivered_at for item in event.items]
    known = [moment for moment in moments if moment is not None] or (
        [event.order.delivered_at] if event.order.delivered_at else []
    )
    return max(known) if known else None


def _rights(
    event: ReturnEvent,
    who: Parties,
    cause: Cause,
    at: datetime,
    calendar: Calendars,
    rules: list[RuleApplied],
) -> list[Right]:
    delivered = delivered_at(event)
    if delivered is None:
        return [_before_delivery(event, rules)]
    rights = [_statutory_withdrawal(event, who, delivered, at, calendar, rules)]
    if cause.fault or event.return_.reason == "packaging_damaged":
        rights.append(_legal_guarantee(event, who, cause, delivered, at, calendar, rules))
        if cause.fault and (who.rule or {}).get("fault_withdrawal"):
            rights.append(_fault_withdrawal(event, who, delivered, at, calendar, rules))
    if who.marketplace is not None:
        rights.append(_voluntary(event, who, who.marketplace, MARKETPLACE_POLICY, delivered, at, calendar, rules))
    if who.merchant is not None:
        rights.append(_voluntary(event, who, who.merchant, MERCHANT_POLICY, delivered, at, calendar, rules))
    return rights


def _before_delivery(event: ReturnEvent, rules: list[RuleApplied]) -> Right:
    """Not delivered yet: cancellation or refund-only, refunding everything paid by the original route.

    The seeds state it as the platform's rule (Taobao/Tmall), so its basis is the marketplace policy.
    """
    source = "seed 002 §1-2 (未发货仅退款, 货在途退款); seed 004 §3.1, §3.3 (取消订单, 原路退还已支付金额)"
    rules.append(RuleApplied("before_delivery", "refund_everything_paid", source))
    return Right(
        basis=MARKETPLACE_POLICY,
        window=None,
        payer=MERCHANT,
        source=source,
        eligible_lines=list(range(len(event.items))) or [0],
        includes_original_delivery=True,
        right=BEFORE_DELIVERY,
        grants=("refund", "refund_only", "returnless"),
    )


def _statutory_withdrawal(
    event: ReturnEvent, who: Parties, delivered: datetime, at: datetime, calendar: Calendars, rules: list[RuleApplied]
) -> Right:
    rule = who.rule or {}
    withdrawal = rule.get("withdrawal")
    name = f"{(rule.get('group') or who.jurisdiction).lower()}_withdrawal"
    if who.rule is None:
        return Right(
            STATUTORY_WITHDRAWAL,
            None,
            None,
            None,
            [],
            [Reason("unknown_jurisdiction", _msg("unknown_jurisdiction", country=who.jurisdiction or "?"))],
            right=name,
        )
    if not withdrawal:
        source = rule.get("withdrawal_none_source", "config/policy/jurisdictions.json")
        rules.append(RuleApplied("statutory_withdrawal", "none", source, {"jurisdiction": who.jurisdiction}))
        return Right(
            STATUTORY_WITHDRAWAL,
            None,
            None,
            source,
            [],
            [Reason("no_statutory_withdrawal", _msg("no_statutory_withdrawal"))],
            right=name,
        )
    informed = event.order.withdrawal_information_given
    extension = withdrawal.get("extension_if_not_informed") if not informed else None
    window = statutory_window(who.jurisdiction, withdrawal, delivered, who.buyer_zone, calendar, extension)
    if len(event.items) > 1 and any(item.delivered_at for item in event.items):
        rules.append(
            RuleApplied(
                "multi_parcel_start",
                _iso(delivered),
                withdrawal.get("multi_parcel_source", withdrawal["source"]),
            )
        )
    if extension:
        rules.append(sourced("withdrawal_information_missing", f"extended_{extension['months']}_months", extension))
    payer_row = rule.get("withdrawal_return_shipping_payer", {})
    payer = _withdrawal_payer(payer_row.get("payer"), informed)
    fee_row = rule.get("restocking_fee_allowed", {})
    right = Right(
        basis=STATUTORY_WITHDRAWAL,
        window=window,
        payer=payer,
        source=withdrawal["source"],
        eligible_lines=[],
        includes_original_delivery=bool((rule.get("refund") or {}).get("includes_original_delivery")),
        statutory=True,
        right=name,
    )
    rules.append(
        RuleApplied(
            "statutory_withdrawal",
            "open" if window.is_open(at) else "closed",
            withdrawal["source"],
            {"jurisdiction": who.jurisdiction, "ends_at": _iso(window.ends_at), "last_day": _day(window.last_day)},
        )
    )
    if payer_row:
        detail = {"informed": informed} if payer_row.get("payer") == "buyer_if_informed" else {}
        rules.append(sourced("withdrawal_return_shipping", payer or payer_row["payer"], payer_row, detail))
    if fee_row:
        rules.append(sourced("restocking_fee", "allowed" if fee_row["allowed"] else "forbidden", fee_row))
    if not window.is_open(at):
        right.reasons.append(Reason("window_closed", _msg("window_closed")))
    displayed = event.order.return_policy_displayed or bool((who.merchant or {}).get("returns_terms_displayed"))
    if withdrawal.get("unless_merchant_terms_displayed") and displayed:
        right.reasons.append(Reason("terms_displayed_no_statutory_right", _msg("terms_displayed_no_statutory_right")))
        rules.append(RuleApplied("statutory_withdrawal", "displaced_by_displayed_terms", withdrawal["source"]))
    right.eligible_lines = _statutory_lines(event, rule, right, rules)
    return right


def _withdrawal_payer(payer: str | None, informed: bool) -> str | None:
    """`buyer_if_informed`: the buyer bears the return cost only if told so (Directive 2011/83/EU art. 6(6), 14(1))."""
    if payer == "buyer_if_informed":
        return "buyer" if informed else MERCHANT
    return payer


def _statutory_lines(event: ReturnEvent, rule: Mapping[str, Any], right: Right, rules: list[RuleApplied]) -> list[int]:
    lines = []
    used_rule = rule.get("used_goods") or {}
    digital_rule = rule.get("digital_supply_started")
    for index, item in enumerate(event.items):
        if digital_rule and item.digital and item.supply_started_with_consent:
            right.reasons.append(Reason("digital_supply_started", _msg("digital_supply_started", sku=item.sku)))
            rules.append(sourced("statutory_exclusion", "digital_supply_started", digital_rule, {"sku": item.sku}))
            continue
        exclusion = _exclusion(item, rule.get("exclusions") or ())
        if exclusion is not None:
            right.reasons.append(Reason("excluded_category", _msg("excluded_category", sku=item.sku)))
            rules.append(RuleApplied("statutory_exclusion", "excluded", exclusion["source"], {"sku": item.sku}))
            continue
        used = bool(item.condition and item.condition.used)
        if used and used_rule.get("effect") == "excluded":
            right.reasons.append(Reason("not_intact", _msg("not_intact", sku=item.sku)))
            rules.append(RuleApplied("goods_intact", "excluded", used_rule["source"], {"sku": item.sku}))
            continue
        if used and used_rule.get("effect") == "diminished_value":
            right.reasons.append(Reason("diminished_value", _msg("diminished_value", sku=item.sku)))
            rules.append(RuleApplied("diminished_value", "buyer_liable", used_rule["source"], {"sku": item.sku}))
        lines.append(index)
    return lines


def _exclusion(item: Item, exclusions: Any) -> Mapping[str, Any] | None:
    opened = bool(item.condition and item.condition.opened)
    for row in exclusions:
        if row["category"] == item.category and (row["when"] == "always" or (row["when"] == "opened" and opened)):
            return row
    return None


def statutory_window(
    jurisdiction: str,
    withdrawal: Mapping[str, Any],
    delivered_at: datetime,
    zone: str,
    calendar: Calendars,
    extension: Mapping[str, Any] | None = None,
) -> Window:
    """The withdrawal window in the buyer's time zone and on the buyer's country's calendar.

    With `extension` (art. 10(1): no withdrawal information), the period ends that many months after
    the end of the initial one, again rolled past rest days where the country's counting rule says so.
    """
    event_day = local_day(delivered_at, zone)
    days = calendar.for_country(jurisdiction)
    roll = bool(withdrawal.get("roll_forward_if_non_working"))
    last = last_day_of_period(
        event_day,
        int(withdrawal["days"]),
        withdrawal["unit"],
        days,
        count_event_day=bool(withdrawal.get("count_event_day")),
        roll_forward_if_non_working=roll and not extension,
    )
    months = int(extension["months"]) if extension else None
    if months:
        last = _add_months(last, months)
        last = roll_forward(days, last) if roll else last
    first = event_day if withdrawal.get("count_event_day") else event_day + timedelta(days=1)
    return Window(
        jurisdiction,
        int(withdrawal["days"]),
        withdrawal["unit"],
        start_of_day(first, zone),
        end_of_day(last, zone),
        last,
        months,
    )


def _fault_withdrawal(
    event: ReturnEvent, who: Parties, delivered: datetime, at: datetime, calendar: Calendars, rules: list[RuleApplied]
) -> Right:
    """KR E-Commerce Act art. 17(3): goods not as labelled may be sent back within 3 months of supply or
    30 days from discovery, whichever ends later, at the seller's cost."""
    row = (who.rule or {})["fault_withdrawal"]
    supplied = local_day(delivered, who.buyer_zone)
    last = _add_months(supplied, int(row["months"]))
    discovered = event.return_.defect_discovered_at
    if discovered is not None:
        last = max(last, local_day(discovered, who.buyer_zone) + timedelta(days=int(row["days_from_discovery"])))
    window = Window(
        who.jurisdiction,
        None,
        "months",
        start_of_day(supplied + timedelta(days=1), who.buyer_zone),
        end_of_day(last, who.buyer_zone),
        last,
    )
    right = Right(
        basis=STATUTORY_WITHDRAWAL,
        window=window,
        payer=row.get("return_shipping_payer", MERCHANT),
        source=row["source"],
        eligible_lines=list(range(len(event.items))),
        statutory=True,
        right=FAULT_WITHDRAWAL,
    )
    if not window.is_open(at):
        right.reasons.append(Reason("window_closed", _msg("window_closed")))
    rules.append(sourced(FAULT_WITHDRAWAL, "open" if right.eligible else "closed", row, {"last_day": _day(last)}))
    return right


def _legal_guarantee(
    event: ReturnEvent,
    who: Parties,
    cause: Cause,
    delivered: datetime,
    at: datetime,
    calendar: Calendars,
    rules: list[RuleApplied],
) -> Right:
    """The legal guarantee: its period (per line where the law sets it by product) and its order of remedies."""
    rule = who.rule or {}
    guarantee = rule.get("legal_guarantee") or {}
    source = guarantee.get("source")
    right = Right(
        basis=STATUTORY_GUARANTEE,
        window=None,
        payer=guarantee.get("return_shipping_payer", MERCHANT),
        source=source,
        eligible_lines=list(range(len(event.items))),
        includes_original_delivery=bool((rule.get("refund") or {}).get("includes_original_delivery")),
        statutory=True,
        right=LEGAL_GUARANTEE,
        grants=_guarantee_grants(guarantee, delivered, at, who),
    )
    if who.rule is None:
        right.eligible_lines = []
        return right
    if not cause.fault:
        right.reasons.append(
            Reason("packaging_damage_not_quality_problem", _msg("packaging_damage_not_quality_problem"))
        )
        rules.append(RuleApplied("cross_border_packaging", "not_a_quality_problem", cause.source))
        return right
    start, start_note = _guarantee_start(event, guarantee, delivered, at)
    start_day = local_day(start, who.buyer_zone)
    windows = [_guarantee_window(guarantee, item, start_day, who) for item in event.items]
    if all(w is None for w in windows):
        rules.append(sourced(LEGAL_GUARANTEE, "open_reasonable_time", guarantee, {"from": start_note}))
    else:
        right.eligible_lines = [i for i, w in enumerate(windows) if w is None or w.is_open(at)]
        open_windows = [w for i, w in enumerate(windows) if w is not None and i in right.eligible_lines]
        right.window = max(
            open_windows or [w for w in windows if w is not None], key=lambda w: (w.ends_at is None, w.ends_at or at)
        )
        for index, window in enumerate(windows):
            if window is not None and not window.is_open(at) and right.eligible_lines:
                sku = event.items[index].sku
                right.reasons.append(Reason("guarantee_expired_line", _msg("guarantee_expired_line", sku=sku)))
        if not right.eligible_lines:
            right.reasons.append(Reason("guarantee_expired", _msg("guarantee_expired")))
        rules.append(
            sourced(
                LEGAL_GUARANTEE,
                "open" if right.eligible else "closed",
                guarantee,
                {"from": start_note, "ends_at": _iso(right.window.ends_at), "last_day": _day(right.window.last_day)},
            )
        )
    if right.eligible and "refund" not in right.grants:
        right.reasons.append(Reason("only_repair_or_replacement", _msg("only_repair_or_replacement")))
    if guarantee.get("remedies_source") and right.eligible:
        rules.append(RuleApplied("guarantee_remedies", "+".join(right.grants), guarantee["remedies_source"]))
    return right


def _guarantee_grants(guarantee: Mapping[str, Any], delivered: datetime, at: datetime, who: Parties) -> tuple[str, ...]:
    """Repair and exchange within the period; money back at once only where and while the law allows it first.

    `refund_within_days`: absent, money back is a first remedy (e.g. KR Civil Act art. 580, TR Law 6502 art. 11);
    0, only once repair or replacement failed (Directive (EU) 2019/771 art. 13); N, within N days of delivery
    (UK CRA 2015 s. 22: 30 days; PRC CRPL art. 24: 7 days).
    """
    first = tuple(guarantee.get("first_remedies") or ("repair", "exchange"))
    days = guarantee.get("refund_within_days")
    money_back = ("refund", "partial_refund")
    if days is None:
        return (*money_back, *first)
    last = local_day(delivered, who.buyer_zone) + timedelta(days=int(days))
    if int(days) > 0 and at < end_of_day(last, who.buyer_zone):
        return (*money_back, *first)
    return first


def _guarantee_start(
    event: ReturnEvent, guarantee: Mapping[str, Any], delivered: datetime, at: datetime
) -> tuple[datetime, str]:
    discovered = event.return_.defect_discovered_at
    if guarantee.get("from") == "discovery":
        # JP Civil Code art. 566, KR Civil Act art. 582: from learning of the defect; unknown, the buyer
        # learned of it at the latest when asking.
        return (discovered, "defect_discovered_at") if discovered else (min(at, event.occurred_at), "request")
    if guarantee.get("hidden_defect_from_discovery") and discovered is not None:
        return max(discovered, delivered), "defect_discovered_at (hidden defect)"  # BR CDC art. 26 §3
    return delivered, "delivered_at"


def _guarantee_window(guarantee: Mapping[str, Any], item: Item, start: date, who: Parties) -> Window | None:
    length = _guarantee_length(guarantee, item)
    if length is None:
        return None
    amount, unit = length
    last = _add_months(start, amount) if unit == "months" else start + timedelta(days=amount)
    return Window(
        who.jurisdiction,
        None if unit == "months" else amount,
        unit,
        start_of_day(start + timedelta(days=1), who.buyer_zone),
        end_of_day(last, who.buyer_zone),
        last,
    )


def _guarantee_length(guarantee: Mapping[str, Any], item: Item) -> tuple[int, str] | None:
    """The period for one line: by its category where the law sets one (BR CDC art. 26), else the general one."""
    by_category = guarantee.get("days_by_category") or {}
    if item.category in by_category:
        return int(by_category[item.category]), "days"
    if "months" in guarantee:
        return int(guarantee["months"]), "months"
    if "days" in guarantee:
        return int(guarantee["days"]), "days"
    return None


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, _gregorian.monthrange(year, month)[1]))


def _voluntary(
    event: ReturnEvent,
    who: Parties,
    policy: Mapping[str, Any],
    basis: str,
    delivered: datetime,
    at: datetime,
    calendar: Calendars,
    rules: list[RuleApplied],
) -> Right:
    """A marketplace's or merchant's own policy: its window, conditions and non-returnable categories."""
    spec = policy.get("window") or {}
    days = max(
        [int(spec.get("days", 0))]
        + [int(spec.get("by_category", {}).get(i.category, 0)) for i in event.items if i.category]
    )
    right = Right(
        basis=basis,
        window=None,
        payer=policy.get("return_shipping_payer"),
        source=policy["source"],
        eligible_lines=[],
        restocking_fee_percent=Decimal(policy["restocking_fee_percent"])
        if policy.get("restocking_fee_percent")
        else None,
        right=basis,
        grants=tuple(policy.get("resolutions") or DEFAULT_POLICY_RESOLUTIONS),
    )
    if days > 0:
        right.window = statutory_window(
            who.jurisdiction,
            {"days": days, "unit": "calendar"},
            delivered,
            who.buyer_zone,
            calendar,
        )
        if not right.window.is_open(at):
            right.reasons.append(Reason("window_closed", _msg("window_closed")))
    if not event.return_.reason:
        right.reasons.append(Reason("reason_required", _msg("reason_required")))
        rules.append(RuleApplied(basis, "reason_required", "seed 001 §4.1.2 (a stated, truthful reason)"))
    excluded = set(policy.get("non_returnable_categories") or ())
    for index, item in enumerate(event.items):
        failed = _failed_conditions(item, policy.get("conditions") or ())
        if item.category in excluded:
            right.reasons.append(Reason("excluded_category", _msg("excluded_category", sku=item.sku)))
        elif failed:
            right.reasons.append(Reason("condition_not_met", _msg("condition_not_met", sku=item.sku, what=failed)))
        else:
            right.eligible_lines.append(index)
    rules.append(
        RuleApplied(
            basis,
            "open" if right.eligible else "not_applicable",
            policy["source"] + "; conditions per seed 001 §2.2, §5.2.1",
            {
                "days": days,
                "ends_at": _iso(right.window.ends_at) if right.window else None,
                "last_day": _day(right.window.last_day) if right.window else None,
            },
        )
    )
    return right


def _failed_conditions(item: Item, conditions: Any) -> str:
    c = item.condition
    failed = []
    if "unused" in conditions and c is not None and c.used:
        failed.append("used")
    if "unopened" in conditions and c is not None and c.opened:
        failed.append("opened")
    if "tags_attached" in conditions and c is not None and c.tags_attached is False:
        failed.append("tags removed")
    return ", ".join(failed)


# --- the returnless refund (seed 002 直接退款) -----------------------------------------------------


@dataclass(frozen=True)
class ReturnlessOffer:
    """The estimate behind a refund without return, and the right it opens when the merchant's threshold is met."""

    offered: bool
    estimate: Mapping[str, Any]
    right: Right | None

    def to_json(self) -> dict[str, Any]:
        return {"offered": self.offered, **self.estimate}


def _returnless(
    event: ReturnEvent,
    who: Parties,
    tables: PolicyTables,
    rates: RateSource | None,
    at: datetime,
    rules: list[RuleApplied],
) -> ReturnlessOffer | None:
    """Seed 002 §1(4) 直接退款: refund without the goods when bringing them back costs more than they are worth.

    Cost: the lane's return-label price (config/carrier_routes.json), duties and taxes on re-entry where the
    goods cross a customs border, and the merchant's handling per return. Worth: what the merchant recovers
    from the goods (`recovery_percent` of their price, by category). The merchant's policy sets the threshold
    (`threshold_percent` of the worth) and the categories the rule applies to; without it nothing is offered.
    """
    policy = ((who.merchant or {}).get("returnless_refund")) or None
    currency = event.order.currency
    if policy is None or not currency or not event.items or delivered_at(event) is None:
        return None
    source = (who.merchant or {}).get("source", "merchant policy") + "; seed 002 §1(4) (直接退款)"
    categories = set(policy.get("categories") or ())
    outside = [item.sku for item in event.items if item.category not in categories]
    if outside:
        rules.append(RuleApplied(RETURNLESS_REFUND, "not_applicable", source, {"skus_outside_categories": outside}))
        return ReturnlessOffer(False, {"reason": "category"}, None)
    buyer_country = who.jurisdiction
    label_row = _label_price(tables.label_prices, buyer_country, who.merchant_country)
    if label_row is None:
        rules.append(
            RuleApplied(
                RETURNLESS_REFUND,
                "no_estimate",
                None,
                {"lane": f"{buyer_country}->{who.merchant_country}"},
                "no return-label price is known for this lane",
            )
        )
        return ReturnlessOffer(False, {"reason": "no_label_price"}, None)
    label = _in_currency(Money.of(label_row["price"]["amount"], label_row["price"]["currency"]), currency, rates, at)
    if label is None:
        rules.append(RuleApplied(RETURNLESS_REFUND, "no_estimate", None, {}, "no rate to convert the label price"))
        return ReturnlessOffer(False, {"reason": "no_rate"}, None)
    goods = Money.zero(currency)
    worth = Money.zero(currency)
    recovery = policy.get("recovery_percent") or {}
    for item in event.items:
        value = Money.of(item.unit_price, currency) * item.quantity
        goods = goods + value
        percent = Decimal(str(recovery.get(item.category or "", recovery.get("default", "100"))))
        worth = worth + Money.rounded(value.amount * percent / Decimal(100), currency)
    crosses = customs_area(buyer_country) != customs_area(who.merchant_country)
    duty_percent = Decimal(str(policy.get("duties_percent_cross_border", "0"))) if crosses else Decimal(0)
    duties = Money.rounded(goods.amount * duty_percent / Decimal(100), currency)
    handling_row = policy.get("handling")
    handling = (
        _in_currency(Money.of(handling_row["amount"], handling_row["currency"]), currency, rates, at)
        if handling_row
        else Money.zero(currency)
    ) or Money.zero(currency)
    cost = label + duties + handling
    threshold = Decimal(str(policy.get("threshold_percent", "100")))
    limit = Money.rounded(worth.amount * threshold / Decimal(100), currency)
    offered = cost.amount > limit.amount
    estimate = {
        "currency": currency,
        "return_cost": str(cost.amount),
        "parts": {
            "label": {
                "amount": str(label.amount),
                "carrier": label_row.get("carrier"),
                "lane": f"{buyer_country}->{who.merchant_country}",
            },
            "duties": {"amount": str(duties.amount), "cross_border": crosses, "percent": str(duty_percent)},
            "handling": {"amount": str(handling.amount)},
        },
        "goods_value": str(goods.amount),
        "worth_back": str(worth.amount),
        "threshold_percent": str(threshold),
    }
    rules.append(RuleApplied(RETURNLESS_REFUND, "offered" if offered else "not_offered", source, estimate))
    if label_row.get("source") is None:
        rules.append(sourced("return_label_price", str(label.amount), label_row))
    if not offered:
        return ReturnlessOffer(False, estimate, None)
    right = Right(
        basis=MERCHANT_POLICY,
        window=None,
        payer=MERCHANT,
        source=source,
        eligible_lines=list(range(len(event.items))),
        right=RETURNLESS_REFUND,
        grants=("returnless",),
    )
    return ReturnlessOffer(True, estimate, right)


def _label_price(rows: Sequence[Mapping[str, Any]], buyer: str, merchant: str) -> Mapping[str, Any] | None:
    for row in rows:
        if Route(row["from"], row["to"], row.get("carrier", "")).matches(buyer, merchant):
            return row
    return None


def _in_currency(money: Money, currency: str, rates: RateSource | None, at: datetime) -> Money | None:
    if money.currency == currency:
        return money
    if rates is None:
        return None
    try:
        return convert(money, currency, rates, at.date()).converted
    except RateUnavailable:
        return None


def _most_generous(rights: list[Right]) -> Right | None:
    """Among the rights that grant the request: the merchant paying shipping, no fee, more lines, the later window."""
    eligible = [r for r in rights if r.eligible]
    if not eligible:
        return None

    def generosity(right: Right) -> tuple:
        ends = right.window.ends_at if right.window and right.window.ends_at else None
        return (
            right.payer == MERCHANT,
            right.restocking_fee_percent is None,
            len(right.eligible_lines),
            right.includes_original_delivery,
            ends.timestamp() if ends else float("inf"),
        )

    return max(eligible, key=generosity)


def _reasons(
    event: ReturnEvent, cause: Cause, chosen: Right | None, rights: list[Right], asked: str, who: Parties
) -> list[Reason]:
    reasons: list[Reason] = []
    pool = chosen.reasons if chosen else [r for right in rights for r in right.reasons]
    if who.rule is None:
        pool = [Reason("unknown_jurisdiction", _msg("unknown_jurisdiction", country=who.jurisdiction or "?")), *pool]
    if chosen is None and any(right.eligible for right in rights):
        pool = [*pool, Reason("resolution_not_granted", _msg("resolution_not_granted", resolution=asked))]
    for reason in pool:
        if reason not in reasons:
            reasons.append(reason)
    if cause.fault and not event.return_.evidence:
        reasons.append(Reason("evidence_requested", _msg("evidence_requested")))
    if cause.compensation_customary:
        reasons.append(Reason("compensation_customary", _msg("compensation_customary")))
    return reasons


# --- deadlines -------------------------------------------------------------------------------


def compute_deadlines(
    event: ReturnEvent,
    who: Parties,
    tables: PolicyTables,
    calendar: Calendars,
    stones: Milestones,
    rules: list[RuleApplied],
    window: Window | None,
) -> dict[str, datetime]:
    """Every deadline computable from the moments known so far; a seed SLA and a legal limit: the earlier governs."""
    levels = tables.service_levels
    merchant_days = calendar.for_country(who.merchant_country)
    rule = who.rule or {}
    deadlines: dict[str, datetime] = {}

    response = _response_level(event, who, levels)
    if "hours" in response:
        deadlines["merchant_response_due_by"] = stones.requested_at + timedelta(hours=int(response["hours"]))
    else:
        deadlines["merchant_response_due_by"] = due_after(
            stones.requested_at, int(response["days"]), response["unit"], merchant_days, who.merchant_zone
        )
    rules.append(
        RuleApplied("merchant_response_due_by", _iso(deadlines["merchant_response_due_by"]), response["source"])
    )

    if window is not None and window.ends_at is not None:
        deadlines["window_ends_at"] = window.ends_at

    if event.order.delivered_at is not None:
        statutory = rule.get("return_shipment")
        start = stones.requested_at if statutory else (stones.approved_at or stones.requested_at)
        level = statutory or levels["return_shipment"]
        deadlines["return_ship_by"] = _legal_due(start, level, who, calendar, merchant_days)
        rules.append(sourced("return_ship_by", _iso(deadlines["return_ship_by"]) or "", level))

    if stones.received_at is not None:
        level = levels["inspection"]
        deadlines["inspection_due_by"] = due_after(
            stones.received_at, int(level["days"]), level["unit"], merchant_days, who.merchant_zone
        )
        rules.append(RuleApplied("inspection_due_by", _iso(deadlines["inspection_due_by"]), level["source"]))

    candidates = _refund_limits(rule, stones, levels, who, calendar, merchant_days, rules)
    if candidates:
        deadlines["refund_due_by"] = min(candidates)
    return deadlines


def _response_level(event: ReturnEvent, who: Parties, levels: Mapping[str, Any]) -> Mapping[str, Any]:
    if event.order.delivered_at is None and event.return_.resolution == "refund_only":
        return levels["refund_only_unshipped_response"]
    for policy in (who.merchant, who.marketplace):
        if policy and policy.get("response"):
            return {
                **policy["response"],
                "unit": policy["response"].get("unit", "calendar"),
                "source": policy["source"],
            }
    return levels["merchant_response"]


def _legal_due(
    start: datetime, level: Mapping[str, Any], who: Parties, calendar: Calendars, merchant_days: WorkingDays
) -> datetime:
    """Business-day limits on the merchant's calendar; calendar-day legal periods counted like the window."""
    if level.get("unit") == "business":
        return due_after(start, int(level["days"]), "business", merchant_days, who.merchant_zone)
    withdrawal = (who.rule or {}).get("withdrawal") or {}
    last = last_day_of_period(
        local_day(start, who.buyer_zone),
        int(level["days"]),
        "calendar",
        calendar.for_country(who.jurisdiction),
        roll_forward_if_non_working=bool(withdrawal.get("roll_forward_if_non_working")),
    )
    return end_of_day(last, who.buyer_zone)


def _refund_limits(
    rule: Mapping[str, Any],
    stones: Milestones,
    levels: Mapping[str, Any],
    who: Parties,
    calendar: Calendars,
    merchant_days: WorkingDays,
    rules: list[RuleApplied],
) -> list[datetime]:
    limits = []
    legal = rule.get("refund") or {}
    start = {"withdrawal_notice": stones.requested_at, "goods_received": stones.received_at}.get(legal.get("from", ""))
    if legal.get("or_proof_of_sending") and stones.shipped_at is not None:
        # SI 2013/3134 reg. 34(5)-(6): from the goods' receipt or, if earlier, the evidence of sending them back.
        start = min(start, stones.shipped_at) if start is not None else stones.shipped_at
    if legal.get("days") and start is not None:
        due = _legal_due(start, legal, who, calendar, merchant_days)
        limits.append(due)
        rules.append(RuleApplied("refund_legal_limit", _iso(due), legal["source"]))
    elif legal.get("immediate"):
        rules.append(RuleApplied("refund_legal_limit", "immediately", legal["source"]))
    if stones.inspected_at is not None:
        level = levels["refund_after_valid"]
        due = due_after(stones.inspected_at, int(level["days"]), level["unit"], merchant_days, who.merchant_zone)
        limits.append(due)
        rules.append(RuleApplied("refund_service_level", _iso(due), level["source"]))
    return limits


# --- the refund ------------------------------------------------------------------------------


def _covers(lines: list[Item], ordered_lines: Mapping[str, int] | None) -> bool:
    """Whether the lines asked for are the whole order: the outbound delivery is refunded only on a full
    withdrawal (contract, `refund.amount`; Directive 2011/83 art. 13(1))."""
    if not ordered_lines:
        return True
    asked: dict[str, int] = {}
    for item in lines:
        asked[item.sku] = asked.get(item.sku, 0) + item.quantity
    return all(asked.get(sku, 0) >= quantity for sku, quantity in ordered_lines.items())


def _refund(
    event: ReturnEvent,
    right: Right,
    cause: Cause,
    who: Parties,
    tables: PolicyTables,
    rates: RateSource | None,
    at: datetime,
    rules: list[RuleApplied],
    ordered_lines: Mapping[str, int] | None = None,
) -> Refund | None:
    currency = event.order.currency
    if not currency:
        return None
    lines = [event.items[i] for i in right.eligible_lines if i < len(event.items)]
    goods = Money.zero(currency)
    for item in lines:
        goods = goods + Money.of(item.unit_price, currency) * item.quantity
    whole_order = len(lines) == len(event.items) and _covers(lines, ordered_lines)
    delivery = Money.zero(currency)
    if right.includes_original_delivery and whole_order and event.order.shipping_paid:
        delivery = Money.of(event.order.shipping_paid, currency)
        refund_source = ((who.rule or {}).get("refund") or {}).get("source", right.source)
        rules.append(RuleApplied("refund_original_delivery", str(delivery), refund_source))
    law_allows = bool(((who.rule or {}).get("restocking_fee_allowed") or {}).get("allowed", True))
    fee = restocking_fee(goods, right.restocking_fee_percent, law_allows, cause, right.statutory)
    if not fee.is_zero():
        rules.append(RuleApplied("restocking_fee", str(fee), right.source))
    total_amount = goods + delivery - fee
    if event.return_.resolution == "partial_refund" and event.return_.refund_amount is not None:
        agreed = Money.of(event.return_.refund_amount, currency)
        total_amount = min(agreed, total_amount, key=lambda m: m.amount)
        rules.append(RuleApplied("partial_refund", str(total_amount), "seed 001; seed 002 FAQ 4 (部分退款)"))
    if event.return_.resolution in ("exchange", "repair"):
        total_amount = Money.zero(currency)
    weights = [Decimal(item.unit_price) * item.quantity for item in lines] or [Decimal(1)]
    skus = [item.sku for item in lines] or ["order"]
    parts = allocate(total_amount, weights)
    display = _display(total_amount, event, who, tables, rates, at, rules)
    return Refund(total_amount, goods, delivery, fee, tuple(zip(skus, parts, strict=True)), display)


def _display(
    amount: Money,
    event: ReturnEvent,
    who: Parties,
    tables: PolicyTables,
    rates: RateSource | None,
    at: datetime,
    rules: list[RuleApplied],
) -> Conversion | None:
    buyer = event.order.buyer
    target = (buyer.display_currency if buyer else None) or (who.rule or {}).get("currency")
    if not target or rates is None:
        return None
    try:
        conversion = convert(amount, target, rates, at.date())
    except RateUnavailable as exc:
        # The rate source publishes no rate for that currency (the ECB has no KWD, BHD, …):
        # the refund stands in the payment currency, without a display amount.
        rules.append(RuleApplied("display_currency", "unavailable", str(exc), {"currency": target}))
        return None
    rules.append(
        RuleApplied(
            "display_currency",
            target,
            "contract: buyer.display_currency, else the currency of ship_to.country; Reg. (EC) 1103/97 art. 5 rounding",
        )
    )
    return conversion


# --- messages --------------------------------------------------------------------------------

_MESSAGES = {
    "no_statutory_withdrawal": "The buyer's country gives no statutory right to return without a reason.",
    "window_closed": "The return window has closed.",
    "terms_displayed_no_statutory_right": "The merchant displayed its return terms, so the statutory return right does not apply.",
    "excluded_category": "Item {sku} belongs to a category excluded from returns.",
    "not_intact": "Item {sku} is not intact (used), which the law requires for a no-reason return.",
    "diminished_value": "Item {sku} was used: the buyer may be charged for its diminished value.",
    "packaging_damage_not_quality_problem": "Damaged outer packaging alone is not a quality problem for a cross-border order.",
    "guarantee_expired": "The legal guarantee period has ended.",
    "only_repair_or_replacement": "The legal guarantee now gives repair or replacement first; money back only if they fail.",
    "guarantee_expired_line": "The legal guarantee period for item {sku} has ended.",
    "unknown_jurisdiction": "The law of the buyer's country ({country}) is not known to this service: no statutory right was checked.",
    "resolution_not_granted": "No right or policy grants the resolution asked for ({resolution}); see the alternatives.",
    "line_not_granted": "No right or policy grants {resolution} for item {sku}; ask without it, or see the alternatives.",
    "digital_supply_started": "Item {sku} is digital content whose supply began with the buyer's consent: no withdrawal.",
    "reason_required": "A stated reason is required by this policy.",
    "condition_not_met": "Item {sku} does not meet the policy's condition ({what}).",
    "evidence_requested": "Photos or a video of the problem are needed.",
    "compensation_customary": "A small compensation to the buyer is customary for this cause.",
}


def _msg(code: str, **values: str) -> str:
    return _MESSAGES[code].format(**values)


@overload
def _iso(at: datetime) -> str: ...
@overload
def _iso(at: datetime | None) -> str | None: ...
def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None
