"""The EU withdrawal function (Directive 2011/83/EU art. 11a, inserted by Directive (EU) 2023/2673).

Whether it is offered is what POST /policy/evaluate would answer for a withdrawal asked now:
the same `core.policy.evaluate`, with the case's tables, calendars, rates and merchant
(service/case_policy.py), on a `return.requested` for every line with reason `changed_mind`.
It is offered while the statutory withdrawal right of an EU buyer is open and not displaced,
for the lines the right covers, and only before any return was asked for on the case.

A confirmed withdrawal is a canonical `return.requested` entering through the webhooks' own
intake (service/intake.py) under the marketplace of the case, with a marketplace event id fixed
per case: a second click finds the first and changes nothing. The statement (name, lines, e-mail)
and the moment of receipt are the event's; the lifecycle's `request_received` notice plus the
`withdrawal_confirmation` notice (art. 11(3)) go out by e-mail, and the page shows the receipt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from adapters.marketplaces.base import ParsedDelivery
from core.cases import WITHDRAWAL_EVENT_PREFIX, WITHDRAWAL_RETURN_PREFIX, ReturnCase
from core.events import Buyer, Item, ReturnEvent, ReturnRequest
from core.policy import evaluate
from service.canonical import dump_event
from service.case_policy import CasePolicy
from service.intake import Accepted, Intake

# The jurisdiction group whose law has the withdrawal function (config/policy/jurisdictions.json).
ART_11A_GROUP = "EU"
RETURN_PREFIX = WITHDRAWAL_RETURN_PREFIX


@dataclass(frozen=True)
class WithdrawalOffer:
    """Offered (with the lines it covers and the last moment), or not, with why."""

    offered: bool
    ends_at: datetime | None = None
    lines: tuple[int, ...] = ()
    why_not: str | None = None  # window_closed | no_right | excluded | not_delivered | requested


@dataclass(frozen=True)
class Statement:
    """What the buyer declared: who, which lines (index, quantity), and where the confirmation goes."""

    name: str
    lines: tuple[tuple[int, int], ...]
    email: str


def withdrawal_event_id(case: ReturnCase) -> str:
    return WITHDRAWAL_EVENT_PREFIX + case.id


def offer(case: ReturnCase, policy: CasePolicy, now: datetime) -> WithdrawalOffer:
    """The function's availability now, as POST /policy/evaluate decides a withdrawal asked now."""
    if case.requested:
        return WithdrawalOffer(False, why_not="requested")
    if case.order.delivered_at is None:
        return WithdrawalOffer(False, why_not="not_delivered")
    ship_to = case.order.ship_to
    rule = policy.tables.jurisdictions.get(ship_to.country if ship_to else "") or {}
    decision = evaluate(
        _asked_now(case, now, tuple(range(len(case.items)))),
        policy.tables,
        now,
        policy.calendars,
        policy.rates,
        marketplace=case.marketplace,
        merchant=policy.merchant,
    )
    trace = [r for r in decision.rules if r.rule == "statutory_withdrawal"]
    if rule.get("group") != ART_11A_GROUP or not trace or trace[0].outcome == "none":
        return WithdrawalOffer(False, why_not="no_right")
    if any(r.outcome == "displaced_by_displayed_terms" for r in trace):
        return WithdrawalOffer(False, why_not="no_right")
    ends = trace[0].detail.get("ends_at")
    ends_at = datetime.fromisoformat(ends) if ends else None
    if trace[0].outcome != "open":
        return WithdrawalOffer(False, ends_at=ends_at, why_not="window_closed")
    excluded = {r.detail.get("sku") for r in decision.rules if r.outcome == "excluded"}
    lines = tuple(i for i, item in enumerate(case.items) if item.sku not in excluded)
    if case.items and not lines:
        return WithdrawalOffer(False, ends_at=ends_at, why_not="excluded")
    return WithdrawalOffer(True, ends_at=ends_at, lines=lines)


def _asked_now(case: ReturnCase, now: datetime, lines: tuple[int, ...]) -> ReturnEvent:
    return ReturnEvent(
        type="return.requested",
        marketplace_event_id=withdrawal_event_id(case),
        occurred_at=now,
        order=case.order,
        return_=ReturnRequest(id=withdrawal_return_id(case), resolution="refund", reason="changed_mind"),
        items=tuple(case.items[i] for i in lines),
    )


def withdrawal_return_id(case: ReturnCase) -> str:
    """The return number the buyer reads: the order's, marked as a withdrawal."""
    return RETURN_PREFIX + case.order_id[:190]


def statement_text(statement: Statement, case: ReturnCase, sentence: str) -> str:
    """The statement as the buyer confirmed it, in their language (`sentence` is page_texts.STATEMENT,
    translated); kept with the event as `return.reason_detail` and repeated in the e-mail confirmation."""
    lines = "; ".join(f"{quantity} × {_label(case.items[i])}" for i, quantity in statement.lines)
    return f"{sentence % {'name': statement.name, 'order_id': case.order_id}} {lines}"


def _label(item: Item) -> str:
    return f"{item.title} ({item.sku})" if item.title else item.sku


def withdraw(case: ReturnCase, statement: Statement, text: str, intake: Intake, now: datetime) -> Accepted:
    """Send the confirmed withdrawal through the intake; a repeat returns the first one's receipt."""
    event = _asked_now(case, now, tuple(i for i, _ in statement.lines))
    items = tuple(replace(case.items[i], quantity=quantity) for i, quantity in statement.lines)
    buyer = replace(case.order.buyer or Buyer(), email=statement.email)
    event = replace(
        event,
        order=replace(case.order, buyer=buyer),
        return_=replace(event.return_, reason_detail=text),
        items=items,
    )
    delivery = ParsedDelivery(delivery_id=None, events=[dump_event(event)])
    return intake.accept(case.marketplace, delivery)[0]


def received_statement(payload: dict[str, Any]) -> dict[str, Any]:
    """What the acknowledgement shows from the stored event: moment of receipt, lines, e-mail."""
    return {
        "received_at": payload.get("occurred_at"),
        "email": ((payload.get("order") or {}).get("buyer") or {}).get("email"),
        "items": payload.get("items") or [],
        "return_id": (payload.get("return") or {}).get("id"),
        "statement": (payload.get("return") or {}).get("reason_detail"),
    }
