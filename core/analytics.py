"""Return analytics: the facts of one case that the figures are counted from, and the figures' arithmetic.

Seed 001 ch. 7 (退换货数据分析) asks for the return rate by category, the distribution of
reasons and of timing, and the detection of abusive or fraudulent returns; seed 000 for
policies on goods "used, tags cut, not resaleable". Every figure here is descriptive: an
abuse signal names a buyer and the evidence for a person to look at. Nothing in the
lifecycle reads a signal, so no request is ever refused because of one.

`ReturnFacts` is kept beside each case (one row, written in the transaction that saves the
case), so the aggregates are indexed queries over plain columns, not scans of JSON.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.cases import ReturnCase
from core.lifecycle import FINAL_STATES, CaseState
from core.money import Money, MoneyError

# Events by which a buyer asks for something back (the return, an exchange, a cancellation).
REQUEST_MILESTONE = "requested_at"
# Dimensions the figures are broken down by; each is a column of ReturnFacts.
DIMENSIONS: tuple[str, ...] = ("reason", "marketplace", "category", "lane", "jurisdiction")
UNKNOWN = "unknown"

# States in which an unpaid refund deadline is not a breach: the case is over, or no refund is owed while it stays
# there (a rejected request, a return the buyer never sent, an exchange or repair instead of money).
NO_REFUND_OWED: frozenset[str] = FINAL_STATES | {
    CaseState.REJECTED,
    CaseState.EXPIRED,
    CaseState.EXCHANGE_PROCESSING,
    CaseState.REPAIR_PROCESSING,
}

# Serial returners (seed 001 §7.3(5) 预防欺诈行为): defaults an operator may change per request.
SIGNAL_WINDOW_DAYS = 90
SERIAL_MIN_RETURNS = 5
SERIAL_RETURNED_SHARE = Decimal("0.6")
SERIAL_SHARE_MIN_ORDERS = 3


@dataclass(frozen=True)
class ReturnFacts:
    """What the analytics count of one case; amounts in minor units of their currency (exact integers)."""

    case_id: str
    marketplace: str
    order_id: str
    state: str
    seen_at: datetime  # when the order became known: delivered, else placed, else the case opened
    requested_at: datetime | None  # None: an order reported (order.delivered) with no request yet
    refunded_at: datetime | None
    refund_due_by: datetime | None
    reason: str
    reason_at_request: str | None
    reason_at_inspection: str | None
    category: str
    lane: str
    jurisdiction: str
    buyer_key: str | None
    currency: str | None
    ordered_minor: int | None  # the order's lines as reported with the order
    returned_minor: int | None  # the lines asked back
    refund_minor: int | None
    refund_currency: str | None
    worn: bool  # some line used or worn (seed 001 §2.2 未使用、未洗涤、未穿着)
    tags_removed: bool  # some line without its tags (seed 000 吊牌是否未剪)

    @property
    def reason_changed(self) -> bool:
        """The reason the inspection recorded is not the one the buyer gave (seed 001 §4.1.2: truthful reason)."""
        return bool(
            self.reason_at_request and self.reason_at_inspection and self.reason_at_request != self.reason_at_inspection
        )

    @property
    def refund_minutes(self) -> int | None:
        if self.requested_at is None or self.refunded_at is None:
            return None
        return max(0, int((self.refunded_at - self.requested_at).total_seconds() // 60))

    @property
    def refund_late(self) -> bool:
        return bool(self.refunded_at and self.refund_due_by and self.refunded_at > self.refund_due_by)


def buyer_key(case: ReturnCase) -> str | None:
    """A pseudonym of the buyer within a marketplace (SHA-256 of the e-mail, else the phone), never the address.

    The same buyer's cases group under it; the person is found behind it only by opening a case.
    """
    buyer = case.order.buyer
    ship_to = case.order.ship_to
    contact = (buyer.email if buyer else None) or (ship_to.email if ship_to else None)
    contact = (contact or "").strip().lower()
    if not contact:
        phone = (buyer.phone if buyer else None) or (ship_to.phone if ship_to else None) or ""
        contact = "".join(ch for ch in phone if ch.isdigit())
    if not contact:
        return None
    digest = hashlib.sha256(f"returnbridge buyer|{case.marketplace}|{contact}".encode()).hexdigest()
    return "b_" + digest[:20]


def _minor(amount: Any, currency: str | None) -> int | None:
    if amount is None or not currency:
        return None
    try:
        return Money.of(amount, currency).minor_units
    except MoneyError:
        return None


def _lines_minor(case: ReturnCase) -> int | None:
    value = case.return_value()
    try:
        return value.minor_units if value is not None else None
    except MoneyError:
        return None


def _main_category(case: ReturnCase) -> str:
    """The category of the most valuable line: one case counts once, under what most of its money is."""
    best: tuple[Decimal, str] | None = None
    for item in case.items:
        if not item.category:
            continue
        worth = Decimal(item.unit_price) * item.quantity
        if best is None or worth > best[0]:
            best = (worth, item.category)
    return best[1] if best else UNKNOWN


def _lane(case: ReturnCase) -> str:
    """The way the goods travel back: from the buyer's country to the seller's (e.g. DE→CN)."""
    to = case.order.ship_to.country if case.order.ship_to else None
    back_to = case.order.ship_from.country if case.order.ship_from else None
    if not to and not back_to:
        return UNKNOWN
    return f"{to or '?'}→{back_to or '?'}"


def _jurisdiction(case: ReturnCase) -> str:
    window = ((case.facts.get("policy") or {}).get("window")) or {}
    found = window.get("jurisdiction") if isinstance(window, dict) else None
    return found or (case.order.ship_to.country if case.order.ship_to else None) or UNKNOWN


def _instant(value: Any) -> datetime | None:
    """A deadline as the policy writes it (ISO instant, a day, or {"due_by": …}); a met one still counts."""
    if isinstance(value, dict):
        value = value.get("due_by") or value.get("due") or value.get("at")
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _refunded_at(case: ReturnCase) -> datetime | None:
    """When the refund was paid: the event that moved the refund to `paid`, at the time it says it happened."""
    occurred: datetime | None = None
    for entry in case.timeline:
        if entry.kind == "event":
            occurred = _instant(entry.detail.get("occurred_at")) or entry.at
        elif entry.kind == "transition" and entry.name.startswith("refund:") and entry.name.endswith("->paid"):
            return occurred or entry.at
    return None


def _paid_refund(case: ReturnCase) -> tuple[int | None, str | None]:
    refund = case.facts.get("agreed_refund") or case.facts.get("refund") or {}
    currency = refund.get("currency") or case.order.currency
    return _minor(refund.get("amount"), currency), currency if refund.get("amount") else None


def facts_of(case: ReturnCase, now: datetime, before: ReturnFacts | None = None) -> ReturnFacts:
    """The case's facts as saved at `now`; `before` (what was stored) keeps what only an earlier moment knew.

    The reason the buyer gave at the request and the order's value as first reported are not
    kept on the case itself (later events refine its reason and its lines), so they carry over.
    """
    milestones = case.milestones
    requested_at = milestones.get(REQUEST_MILESTONE)
    reason = case.return_.reason or UNKNOWN
    items = case.items
    worn = any(bool(i.condition and i.condition.used) for i in items)
    tags_removed = any(bool(i.condition and i.condition.tags_attached is False) for i in items)
    lines = _lines_minor(case)
    refund_minor, refund_currency = _paid_refund(case)
    seen = case.order.delivered_at or case.order.placed_at or case.created_at or requested_at or now
    facts = ReturnFacts(
        case_id=case.id,
        marketplace=case.marketplace,
        order_id=case.order_id,
        state=case.state,
        seen_at=seen,
        requested_at=requested_at,
        refunded_at=_refunded_at(case),
        # A refund is owed only once something was asked for; an order reported delivered owes none yet.
        refund_due_by=(case.policy_deadlines or {}).get("refund_due_by") if requested_at else None,
        reason=reason,
        reason_at_request=case.return_.reason if requested_at else None,
        reason_at_inspection=case.return_.reason if "inspected_at" in milestones else None,
        category=_main_category(case),
        lane=_lane(case),
        jurisdiction=_jurisdiction(case),
        buyer_key=buyer_key(case),
        currency=case.order.currency,
        ordered_minor=None if requested_at else lines,
        returned_minor=lines if requested_at else None,
        refund_minor=refund_minor,
        refund_currency=refund_currency,
        worn=worn or bool(before and before.worn),
        tags_removed=tags_removed or bool(before and before.tags_removed),
    )
    if before is None:
        return facts
    return replace(
        facts,
        reason_at_request=before.reason_at_request or facts.reason_at_request,
        reason_at_inspection=before.reason_at_inspection or facts.reason_at_inspection,
        ordered_minor=before.ordered_minor if before.ordered_minor is not None else facts.ordered_minor,
        # A return's lines first reported are what the buyer asked back; a later partial refund does not shrink them.
        returned_minor=before.returned_minor if before.returned_minor is not None else facts.returned_minor,
    )


# --- the arithmetic of the figures ---------------------------------------------------------------


def rank(count: int, fraction: Decimal) -> int:
    """The 0-based position of the `fraction` quantile in `count` sorted values (nearest rank, never past the end)."""
    if count <= 0:
        raise ValueError("no values")
    position = int((Decimal(count) * fraction).to_integral_value(rounding="ROUND_CEILING")) - 1
    return min(max(position, 0), count - 1)


def rate(part: int, whole: int) -> Decimal | None:
    """A share to four places (0.1234), or None when there is nothing to divide by."""
    if whole <= 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Period:
    """A half-open period [start, end) in UTC, chosen by whole days."""

    start: datetime
    end: datetime

    @classmethod
    def of_days(cls, first: date, last: date) -> Period:
        if last < first:
            raise ValueError("the period ends before it starts")
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
        return cls(start, end)

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        return cls.of_days(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def to_json(self) -> dict[str, str]:
        return {"from": self.start.date().isoformat(), "to": (self.end - timedelta(days=1)).date().isoformat()}
