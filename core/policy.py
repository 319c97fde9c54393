"""Return policy: which right makes a return admissible, its window, who pays, the deadlines and the refund.

Rights are checked separately and the most generous applicable one wins
(issue 5): the statutory no-reason withdrawal of the buyer's country, the legal
guarantee for defects (a different right with different rules), and the
marketplace's and merchant's voluntary policies layered on top. Every rule
applied is recorded with its source (law article, research note, seed file and
section) so the decision explains itself. The tables come from config/policy/
(see config/policy_tables.py); this module does no I/O.
"""

from __future__ import annotations

import calendar as _gregorian
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, overload

from core.calendar import (
    Calendars,
    WorkingDays,
    due_after,
    end_of_day,
    last_day_of_period,
    local_day,
    start_of_day,
)
from core.events import Item, ReturnEvent
from core.fees import MERCHANT, Cause, ShippingCosts, classify_cause, restocking_fee, shipping_costs
from core.money import Conversion, Money, RateSource, allocate, convert
from core.rates import RateUnavailable

LEGAL_GUARANTEE = "legal_guarantee"
MARKETPLACE_POLICY = "marketplace_policy"
MERCHANT_POLICY = "merchant_policy"
BEFORE_DELIVERY = "before_delivery"


@dataclass(frozen=True)
class PolicyTables:
    """The policy data (config/policy/*.json), already merged: EU members carry the EU group's rules."""

    jurisdictions: Mapping[str, Mapping[str, Any]]
    marketplaces: Mapping[str, Mapping[str, Any]]
    merchants: Mapping[str, Mapping[str, Any]]
    service_levels: Mapping[str, Mapping[str, Any]]
    fees: Mapping[str, Any]


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
    source: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "outcome": self.outcome, "source": self.source, **self.detail}


@dataclass(frozen=True)
class Window:
    jurisdiction: str
    days: int | None
    unit: str
    starts_at: datetime | None
    ends_at: datetime | None

    def is_open(self, at: datetime) -> bool:
        return self.ends_at is None or at < self.ends_at

    def to_json(self) -> dict[str, Any]:
        return {
            "jurisdiction": self.jurisdiction,
            "days": self.days,
            "unit": self.unit,
            "starts_at": _iso(self.starts_at),
            "ends_at": _iso(self.ends_at),
        }


@dataclass
class Right:
    """One right or policy checked against the request."""

    basis: str
    window: Window | None
    payer: str | None
    source: str
    eligible_lines: list[int]
    reasons: list[Reason] = field(default_factory=list)
    includes_original_delivery: bool = False
    restocking_fee_percent: Decimal | None = None
    statutory: bool = False

    @property
    def eligible(self) -> bool:
        return bool(self.eligible_lines) and not any(r.code in _BLOCKING for r in self.reasons)


_BLOCKING = {
    "window_closed",
    "no_statutory_withdrawal",
    "not_a_quality_claim",
    "packaging_damage_not_quality_problem",
    "guarantee_expired",
    "only_repair_or_replacement",
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

    def to_json(self) -> dict[str, Any]:
        return {
            "eligible": self.eligible,
            "basis": self.basis,
            "reasons": [r.to_json() for r in self.reasons],
            "rules": [r.to_json() for r in self.rules],
            "window": self.window.to_json() if self.window else None,
            "return_shipping_payer": self.return_shipping_payer,
            "deadlines": {name: _iso(at) for name, at in self.deadlines.items()},
            "refund": self.refund.to_json() if self.refund else None,
            "fees": self.fees.to_json(),
        }


@dataclass(frozen=True)
class Milestones:
    """When the moments that start deadlines happened; None while they have not."""

    requested_at: datetime
    approved_at: datetime | None = None
    received_at: datetime | None = None
    inspected_at: datetime | None = None


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
) -> Decision:
    """Decide a return request: the right that admits it, its window, who pays, deadlines and refund."""
    at = as_of or event.as_of or event.occurred_at
    who = parties(event, tables, marketplace, merchant)
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
            RuleApplied("jurisdiction", "unknown", "config/policy/jurisdictions.json", {"country": who.jurisdiction})
        )

    rights = _rights(event, who, cause, at, calendar, rules)
    chosen = _most_generous(rights)
    reasons = _reasons(event, cause, chosen, rights)
    costs = shipping_costs(
        cause,
        chosen.payer if chosen else None,
        event.return_.resolution,
        bool(event.return_.shipping_insurance),
        tables.fees,
    )
    rules.extend(RuleApplied("shipping_cost", costs.return_leg, source) for source in costs.sources)
    window = chosen.window if chosen else next((r.window for r in rights if r.window), None)
    stones = milestones or Milestones(requested_at=event.occurred_at)
    deadlines = compute_deadlines(event, who, tables, calendar, stones, rules, window)
    refund = _refund(event, chosen, cause, who, tables, rates, at, rules) if chosen else None
    return Decision(
        eligible=chosen is not None,
        basis=chosen.basis if chosen else None,
        reasons=tuple(reasons),
        rules=tuple(rules),
        window=window,
        return_shipping_payer=costs.return_leg,
        deadlines=deadlines,
        refund=refund,
        fees=costs,
    )


# --- the rights -------------------------------------------------------------------------------


def _rights(
    event: ReturnEvent,
    who: Parties,
    cause: Cause,
    at: datetime,
    calendar: Calendars,
    rules: list[RuleApplied],
) -> list[Right]:
    if event.order.delivered_at is None:
        return [_before_delivery(event, rules)]
    rights = [_statutory_withdrawal(event, who, at, calendar, rules)]
    if cause.fault or event.return_.reason == "packaging_damaged":
        rights.append(_legal_guarantee(event, who, cause, at, rules))
    if who.marketplace is not None:
        rights.append(_voluntary(event, who, who.marketplace, MARKETPLACE_POLICY, at, calendar, rules))
    if who.merchant is not None:
        rights.append(_voluntary(event, who, who.merchant, MERCHANT_POLICY, at, calendar, rules))
    return rights


def _before_delivery(event: ReturnEvent, rules: list[RuleApplied]) -> Right:
    """Not delivered yet: cancellation or refund-only, refunding everything paid by the original route."""
    source = "seed 002 §1-2 (未发货仅退款, 货在途退款); seed 004 §3.1, §3.3 (取消订单, 原路退还已支付金额)"
    rules.append(RuleApplied("before_delivery", "refund_everything_paid", source))
    return Right(
        basis=BEFORE_DELIVERY,
        window=None,
        payer=MERCHANT,
        source=source,
        eligible_lines=list(range(len(event.items))) or [0],
        includes_original_delivery=True,
    )


def _statutory_withdrawal(
    event: ReturnEvent, who: Parties, at: datetime, calendar: Calendars, rules: list[RuleApplied]
) -> Right:
    rule = who.rule or {}
    withdrawal = rule.get("withdrawal")
    basis = f"{(rule.get('group') or who.jurisdiction).lower()}_withdrawal"
    if not withdrawal:
        source = rule.get("withdrawal_none_source", "config/policy/jurisdictions.json")
        rules.append(RuleApplied("statutory_withdrawal", "none", source, {"jurisdiction": who.jurisdiction}))
        return Right(
            basis, None, None, source, [], [Reason("no_statutory_withdrawal", _msg("no_statutory_withdrawal"))]
        )
    window = statutory_window(who.jurisdiction, withdrawal, _delivered(event), who.buyer_zone, calendar)
    payer_row = rule.get("withdrawal_return_shipping_payer", {})
    payer = "buyer" if payer_row.get("payer") in ("buyer", "buyer_if_informed") else payer_row.get("payer")
    fee_row = rule.get("restocking_fee_allowed", {})
    right = Right(
        basis=basis,
        window=window,
        payer=payer,
        source=withdrawal["source"],
        eligible_lines=[],
        includes_original_delivery=bool((rule.get("refund") or {}).get("includes_original_delivery")),
        statutory=True,
    )
    rules.append(
        RuleApplied(
            "statutory_withdrawal",
            "open" if window.is_open(at) else "closed",
            withdrawal["source"],
            {"jurisdiction": who.jurisdiction, "ends_at": _iso(window.ends_at)},
        )
    )
    if payer_row:
        rules.append(RuleApplied("withdrawal_return_shipping", payer_row["payer"], payer_row["source"]))
    if fee_row:
        rules.append(RuleApplied("restocking_fee", "allowed" if fee_row["allowed"] else "forbidden", fee_row["source"]))
    if not window.is_open(at):
        right.reasons.append(Reason("window_closed", _msg("window_closed")))
    if withdrawal.get("unless_merchant_terms_displayed") and (who.merchant or {}).get("returns_terms_displayed"):
        right.reasons.append(Reason("terms_displayed_no_statutory_right", _msg("terms_displayed_no_statutory_right")))
        rules.append(RuleApplied("statutory_withdrawal", "displaced_by_displayed_terms", withdrawal["source"]))
    right.eligible_lines = _statutory_lines(event, rule, right, rules)
    return right


def _statutory_lines(event: ReturnEvent, rule: Mapping[str, Any], right: Right, rules: list[RuleApplied]) -> list[int]:
    lines = []
    used_rule = rule.get("used_goods") or {}
    for index, item in enumerate(event.items):
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
    jurisdiction: str, withdrawal: Mapping[str, Any], delivered_at: datetime, zone: str, calendar: Calendars
) -> Window:
    """The withdrawal window in the buyer's time zone and on the buyer's country's calendar."""
    event_day = local_day(delivered_at, zone)
    last = last_day_of_period(
        event_day,
        int(withdrawal["days"]),
        withdrawal["unit"],
        calendar.for_country(jurisdiction),
        count_event_day=bool(withdrawal.get("count_event_day")),
        roll_forward_if_non_working=bool(withdrawal.get("roll_forward_if_non_working")),
    )
    first = event_day if withdrawal.get("count_event_day") else event_day + timedelta(days=1)
    return Window(
        jurisdiction, int(withdrawal["days"]), withdrawal["unit"], start_of_day(first, zone), end_of_day(last, zone)
    )


def _legal_guarantee(event: ReturnEvent, who: Parties, cause: Cause, at: datetime, rules: list[RuleApplied]) -> Right:
    rule = who.rule or {}
    guarantee = rule.get("legal_guarantee") or {}
    source = guarantee.get("source", "config/policy/jurisdictions.json")
    right = Right(
        basis=LEGAL_GUARANTEE,
        window=None,
        payer=guarantee.get("return_shipping_payer", MERCHANT),
        source=source,
        eligible_lines=list(range(len(event.items))),
        includes_original_delivery=bool((rule.get("refund") or {}).get("includes_original_delivery")),
        statutory=True,
    )
    if not cause.fault:
        right.reasons.append(
            Reason("packaging_damage_not_quality_problem", _msg("packaging_damage_not_quality_problem"))
        )
        rules.append(RuleApplied("cross_border_packaging", "not_a_quality_problem", cause.source))
        return right
    delivered = local_day(_delivered(event), who.buyer_zone)
    length = _guarantee_length(guarantee, event.items)
    if length is None:
        rules.append(RuleApplied(LEGAL_GUARANTEE, "open_reasonable_time", source))
        return right
    last = _add_months(delivered, length[0]) if length[1] == "months" else delivered + timedelta(days=length[0])
    ends_at = end_of_day(last, who.buyer_zone)
    right.window = Window(
        who.jurisdiction,
        None if length[1] == "months" else length[0],
        length[1],
        event.order.delivered_at,
        ends_at,
    )
    if at >= ends_at:
        if guarantee.get("after_period") == "repair_or_replace" and event.return_.resolution not in (
            "exchange",
            "repair",
        ):
            right.reasons.append(Reason("only_repair_or_replacement", _msg("only_repair_or_replacement")))
        elif guarantee.get("after_period") != "repair_or_replace":
            right.reasons.append(Reason("guarantee_expired", _msg("guarantee_expired")))
    rules.append(
        RuleApplied(
            LEGAL_GUARANTEE, "open" if right.eligible else "closed", source, {"ends_at": _iso(right.window.ends_at)}
        )
    )
    return right


def _guarantee_length(guarantee: Mapping[str, Any], items: tuple[Item, ...]) -> tuple[int, str] | None:
    by_category = guarantee.get("days_by_category") or {}
    shortest = [by_category[i.category] for i in items if i.category in by_category]
    if shortest:
        return min(shortest), "days"
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
    )
    if days > 0:
        right.window = statutory_window(
            who.jurisdiction,
            {"days": days, "unit": "calendar"},
            _delivered(event),
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
            {"days": days, "ends_at": _iso(right.window.ends_at) if right.window else None},
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


def _most_generous(rights: list[Right]) -> Right | None:
    """Among the rights that admit the return: the merchant paying shipping, no fee, more lines, the later window."""
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


def _reasons(event: ReturnEvent, cause: Cause, chosen: Right | None, rights: list[Right]) -> list[Reason]:
    reasons: list[Reason] = []
    pool = chosen.reasons if chosen else [r for right in rights for r in right.reasons]
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
        rules.append(RuleApplied("return_ship_by", _iso(deadlines["return_ship_by"]), level["source"]))

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


def _refund(
    event: ReturnEvent,
    right: Right,
    cause: Cause,
    who: Parties,
    tables: PolicyTables,
    rates: RateSource | None,
    at: datetime,
    rules: list[RuleApplied],
) -> Refund | None:
    currency = event.order.currency
    if not currency:
        return None
    lines = [event.items[i] for i in right.eligible_lines if i < len(event.items)]
    goods = Money.zero(currency)
    for item in lines:
        goods = goods + Money.of(item.unit_price, currency) * item.quantity
    whole_order = len(lines) == len(event.items)
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
    "only_repair_or_replacement": "After the first days the legal guarantee gives repair or replacement, not a refund.",
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


def _delivered(event: ReturnEvent) -> datetime:
    """Rights after delivery count from it; `_rights` sends an undelivered order to `_before_delivery`."""
    if event.order.delivered_at is None:
        raise ValueError("the order has not been delivered")
    return event.order.delivered_at
