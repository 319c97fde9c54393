"""The ReturnCase aggregate: one case per marketplace return, moved by events.

The lifecycle is a table (DOMAIN.md §5, the method of seed 004, in `core.lifecycle`): for each
state, which actor may cause which event, and what follows. An event the table does not
allow in the current state is still kept on the timeline, and the case is flagged
for attention: marketplaces resend what is refused, so refusing would lose it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.case_parts import (
    CustomsDeclaration,
    Dispute,
    Escalation,
    Evidence,
    LateAcceptance,
    MarketplaceReturn,
    Parcel,
    TableStates,
    Timer,
)
from core.customs import CustomsPlan
from core.events import Inspection, Item, Order, ReturnEvent, ReturnRequest
from core.ledger import COUNTED, PAYOUTS, AmountOverCap, LedgerLine, entry, total
from core.lifecycle import (
    CONDITIONS,
    FINAL_STATES,
    LIFECYCLE,
    LIFECYCLES,
    CaseState,
    Occurrence,
    Transition,
)
from core.money import Money
from core.notices import NOTICE_ADAPTER, notice_context, notice_key, notice_payload
from core.routing import CarrierRoute

# Operator commands sent through our own API, and the event each stands for.
OPERATOR_COMMANDS: dict[str, str] = {
    "approve": "return.approved",
    "reject": "return.rejected",
    "cancel": "return.cancelled",
    "mark_shipped": "return.shipped",
    "mark_received": "return.received",
    "record_inspection": "return.inspected",
    "refund": "refund.requested",
    "mark_refunded": "refund.completed",
    "compensate": "compensation.agreed",
    "reship": "reship.sent",
    "ship_exchange": "exchange.shipped",
    "ship_repair": "repair.shipped",
    "resolve_dispute": "dispute.resolved",
    # Outcomes an operator records for a carrier or warehouse that has no API to report them (DOMAIN §1).
    "record_interception_stopped": "interception.succeeded",
    "record_interception_failed": "interception.failed",
    "record_delivery_refused": "delivery.refused",
    "confirm_cancellation": "order.cancel_confirmed",
    "refuse_cancellation": "order.cancel_refused",
    # Issue 19: a late request accepted with a reason (seed 002 FAQ 2); refunds that failed; objections.
    "accept_late": "return.accepted_late",
    "record_refund_failed": "refund.failed",
    "retry_refund": "refund.retry",
    "open_dispute": "dispute.opened",
}

# Operator commands that record a fact on the case without moving it (ReturnCase.record_operator).
OPERATOR_RECORDS: tuple[str, ...] = ("submit_evidence", "escalate_dispute", "record_claim_outcome")

# Where a dispute may go beyond the platform (seed 004; PRC Consumer Rights Protection Law art. 39).
ESCALATIONS: tuple[str, ...] = ("consumer_association", "authorities", "arbitration", "court")

# The four tests an unboxing video must meet to prove a swap (seed 002 FAQ 3: 一致性、完整性、有效性、时效性),
# besides showing all six sides of the parcel at its first opening.
UNBOXING_TESTS: tuple[str, ...] = ("consistency", "completeness", "validity", "timeliness")

# Defaults a merchant policy may override (config/policy/merchants.json), each a number the seeds give or a
# stated default where they give none.
DEFAULT_APPEAL_PERIOD = timedelta(days=7)  # no seed names one; the merchant's policy should
DEFAULT_EVIDENCE_PERIOD = timedelta(days=3)  # seed 002 FAQ 5 names the 举证期 but not its length
DEFAULT_PAYMENT_TIMEOUT = timedelta(hours=24)  # seed 004 §3.1.1
DEFAULT_WAREHOUSE_ANSWER = timedelta(hours=24)  # seed 002 §1: refund-only before shipment within 24 h
DEFAULT_REFUND_RETRY = timedelta(hours=4)

# How long before the ship-by deadline the buyer is reminded to send the return back.
SHIP_BY_REMINDER_BEFORE = timedelta(days=2)

# Deadline name (core.policy) -> the timer event it fires once due.
TIMER_FOR_DEADLINE: dict[str, str] = {
    "merchant_response_due_by": "timer.merchant_response_overdue",
    "window_ends_at": "timer.return_window_closed",
    "return_ship_by": "timer.return_not_shipped",
    "inspection_due_by": "timer.inspection_overdue",
    "refund_due_by": "timer.refund_overdue",
    # The case's own deadlines (ReturnCase.case_deadlines), set by its actions rather than by the policy.
    "payment_due_by": "timer.payment_overdue",
    "warehouse_answer_due_by": "timer.warehouse_answer_overdue",
    "refund_retry_at": "timer.refund_retry",
    "evidence_due_by": "timer.evidence_overdue",
}

# The moment each event marks, for deadlines that run from it (core.policy.Milestones).
MILESTONE_OF: dict[str, str] = {
    "return.requested": "requested_at",
    "exchange.requested": "requested_at",
    "order.cancel_requested": "requested_at",
    "return.approved": "approved_at",
    "timer.merchant_response_overdue": "approved_at",
    "return.received": "received_at",
    "return.inspected": "inspected_at",
    "return.shipped": "shipped_at",  # evidence of sending (SI 2013/3134 reg. 34(6))
}


# A case opened by `order.delivered` (contract "Buyer pages") is an order's page until a return joins it.
# Its row is keyed by ORDER_PAGE_PREFIX + order id in place of a return id, so the order's next report,
# and its first return, find it (service/intake.py).
ORDER_PAGE_PREFIX = "order:"
# A withdrawal declared with the function on the buyer's page (service/withdrawal.py) has this event id
# prefix: it is acknowledged on a durable medium whichever right the policy finally chose.
WITHDRAWAL_EVENT_PREFIX = "returnbridge-withdrawal:"
# Its return number is the order's, marked as a withdrawal, until the marketplace opens a return of its own for it.
WITHDRAWAL_RETURN_PREFIX = "W-"
# What became of telling the marketplace (issue 18 §2): asked (a command is out or its answer unknown), accepted
# (the marketplace opened a return; the case now carries that return's id), not_sent, refused, not_told.
MARKETPLACE_RETURN_PENDING = ("asked", "unknown")


def order_page_key(order_id: str) -> str:
    """The stand-in return id of an order's page; hashed when the order id would not fit the column."""
    key = ORDER_PAGE_PREFIX + order_id
    if len(key) <= 200:
        return key
    return ORDER_PAGE_PREFIX + "sha256:" + hashlib.sha256(order_id.encode()).hexdigest()


class CommandRefused(Exception):
    """An operator command the case's state does not allow (HTTP 409 naming the state)."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"{action!r} is not allowed while the case is {state!r}")
        self.action = action
        self.state = state


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # event | transition | attention | command | result | notice
    name: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Command:
    """A request to an adapter, sent through the commands exchange as `<kind>.<adapter>.<action>`."""

    kind: str
    adapter: str
    action: str
    idempotency_key: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def routing_key(self) -> str:
        return f"{self.kind}.{self.adapter}.{self.action}"


@dataclass(frozen=True)
class Notice:
    """A buyer-visible moment; its words live in the gettext catalogs, its facts here."""

    kind: str
    at: datetime
    context: dict[str, Any] = field(default_factory=dict)


# The policy engine as the case sees it: the case in, a decision (core.policy.Decision.to_json()) out.
Decide = Callable[["ReturnCase"], dict[str, Any]]


@dataclass
class ReturnCase:
    id: str
    marketplace: str
    order: Order
    return_: ReturnRequest
    items: tuple[Item, ...] = ()
    state: str = CaseState.NEW
    needs_attention: bool = False
    timeline: list[TimelineEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the policy and adapters recorded (refund, fees, …)
    created_at: datetime | None = None
    tables: TableStates = field(default_factory=TableStates)
    timers: dict[str, Timer] = field(default_factory=dict)  # by the event each fires
    # Whether timers were ever scheduled: a case saved before they existed has no record of them
    # (service.operations shows its past deadlines as overdue), one whose timers all lapsed has an empty one.
    keeps_timers: bool = False
    case_deadlines: dict[str, datetime] = field(default_factory=dict)  # deadlines of its own (TIMER_FOR_DEADLINE)
    milestones: dict[str, datetime] = field(default_factory=dict)  # MILESTONE_OF: when each moment was first reached
    ledger: list[LedgerLine] = field(default_factory=list)
    dispute: Dispute | None = (
        None  # the latest dispute, with the escalations of any before it  # every amount that moved on the case (core.ledger)
    )
    marketplace_return: MarketplaceReturn | None = None  # a withdrawal told to the marketplace (issue 18 §2)
    carrier_route: CarrierRoute | None = None  # the lane table's answer when the marketplace names no carrier
    order_page: bool = False  # opened by `order.delivered`: an order's page until a return joins it
    # The recorded policy decision's deadlines (core.policy), by name, None where it set none; None before a decision.
    policy_deadlines: dict[str, datetime | None] | None = None
    order_parcel: Parcel | None = None  # the order's parcel on its way when the return was asked (to intercept)
    outbound_leg: Parcel | None = None  # the new parcel of an exchange, repair or reship
    late_accepted: LateAcceptance | None = None  # accepted after the window (the request then counts as eligible)
    customs: CustomsPlan | None = None  # the customs plan, worked out again whenever an event changes the case
    customs_declaration: CustomsDeclaration | None = None  # the returned-goods declaration and its filing
    # The occurrence being applied, for the actions it causes (not stored).
    _occurrence: Occurrence | None = field(default=None, init=False, repr=False, compare=False)
    _before: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _unnoted: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def order_id(self) -> str:
        return self.order.id

    @property
    def return_id(self) -> str:
        return self.return_.id

    @property
    def order_tracking(self) -> str | None:
        """The tracking number of the order's parcel on its way, the one to intercept (seed 002 §2 货在途)."""
        return self.order_parcel.tracking_number if self.order_parcel else None

    def return_value(self) -> Money | None:
        """What the returned lines are worth, in the payment currency; None while unknown."""
        currency = self.order.currency
        if not currency or not self.items:
            return None
        cents = sum((Decimal(item.unit_price) * item.quantity for item in self.items), Decimal(0))
        return Money(cents, currency)

    @property
    def order_state(self) -> str:
        if self.tables.order:
            return self.tables.order
        if self.order.paid is False:
            return "unpaid"
        return "delivered" if self.order.delivered_at else "paid"

    # --- customs (service/customs.py) --------------------------------------------------------------------

    def plan_customs(self, plan: CustomsPlan) -> None:
        """The plan as worked out now (core.customs.customs_plan); `GET /returns/<id>` shows it from the request on."""
        self.customs = plan

    def plan_declaration(self, adapter: str) -> bool:
        """Plan the returned-goods declaration once; False when it was planned (or filed) before."""
        if self.customs_declaration is not None:
            return False
        self.customs_declaration = CustomsDeclaration("planned", adapter)
        return True

    def declaration_not_sent(self, adapter: str, request: dict[str, Any]) -> None:
        """Built and stored, not sent: the adapter has no credentials (contract: built, stored and shown)."""
        self.customs_declaration = CustomsDeclaration("not_sent", adapter, request)

    def declaration_answered(
        self, adapter: str, request: dict[str, Any], status: str, reference: str | None, error: str | None
    ) -> None:
        """The broker's answer to the declaration: filed (or accepted) with its reference, or refused with why."""
        self.customs_declaration = CustomsDeclaration(status, adapter, request, reference, error)

    # --- what the policy and the merchant's rules decide (issue 19) ---------------------------------------

    def state_before(self, name: str) -> str:
        """The state of table `name` before the event being applied moved any table."""
        return self._before.get(name) or self._state_of(name)

    def adopt_merchant_policy(
        self, rules: Mapping[str, Any], auto_refund_under: Mapping[str, Any] | None, returns_address: str | None
    ) -> None:
        """The merchant's settings the lifecycle reads (service.case_policy.MERCHANT_RULES), copied onto the case;
        rules the merchant dropped are dropped, a limit or an address once known is kept."""
        if auto_refund_under:
            self.facts["auto_refund_under"] = dict(auto_refund_under)
        if rules or self.facts.get("merchant_rules"):
            self.facts["merchant_rules"] = dict(rules)
        if returns_address:
            self.facts["returns_address"] = returns_address

    def rule(self, name: str) -> Any:
        """A merchant-policy setting the service copied onto the case (service.case_policy.MERCHANT_RULES)."""
        return (self.facts.get("merchant_rules") or {}).get(name)

    def eligible(self) -> bool:
        """The policy admits the request, or an operator accepted it late; unknown (no policy) counts as eligible."""
        if self.late_accepted is not None:
            return True
        policy = self.facts.get("policy")
        return True if not policy or policy.get("eligible") is None else bool(policy["eligible"])

    def auto_approvable(self) -> bool:
        """Seed 000 §一(二)2, seed 002 自动同意退货: an eligible, simple request under the merchant's limit."""
        rule = self.rule("auto_approve_returns") or {}
        value = self.return_value()
        if not rule or value is None or not self.facts.get("policy") or not self.eligible():
            return False
        if self.return_.resolution not in (None, "refund"):
            return False
        reasons = rule.get("reasons")
        if reasons and self.return_.reason not in reasons:
            return False
        limit = rule.get("under") or {}
        return limit.get("currency") == value.currency and value.amount < Decimal(limit["amount"])

    # --- money: one ledger per case (core.ledger) ------------------------------------------------------

    def refund_cap(self) -> Money | None:
        """What the buyer paid for the lines, plus the delivery the policy refunds; None while unknown."""
        value = self.return_value()
        if value is None:
            return None
        delivery = (self.facts.get("refund") or {}).get("original_delivery")
        if delivery and (self.facts.get("refund") or {}).get("currency") == value.currency:
            value = value + Money.of(delivery, value.currency)
        return value

    def paid_out(self) -> Money | None:
        """Payouts asked for or paid and not failed, in the payment currency."""
        currency = self.order.currency
        return total(self.ledger, currency, PAYOUTS, COUNTED) if currency else None

    def check_payout(self, amount: Decimal, award: bool = False) -> None:
        """Refuse a payout above the cap (raises core.ledger.AmountOverCap).

        An award is the total the buyer is owed, so it is checked against the whole cap; anything else is
        new money on top of what was paid already.
        """
        cap, already = self.refund_cap(), self.paid_out()
        if cap is None or already is None:
            return
        asked = Money.of(amount, cap.currency)
        if award and asked > cap:
            raise AmountOverCap(asked, cap, Money.zero(cap.currency))
        if not award and already + asked > cap:
            raise AmountOverCap(asked, cap, already)

    def award_already_paid(self, award: Decimal) -> bool:
        """A dispute award no greater than what was refunded already adds no second payout (seed 004)."""
        already = self.paid_out()
        return already is not None and already.amount >= award and not already.is_zero()

    def refund_retryable(self) -> bool:
        """A payout failed and nothing is on its way: a retry may go out."""
        return bool(self._payouts("failed")) and not self._payouts("requested")

    def _payouts(self, status: str) -> list[int]:
        """Where in the ledger the payouts in `status` are, oldest first."""
        return [i for i, line in enumerate(self.ledger) if line.payout and line.status == status]

    def _set_status(self, where: list[int], status: str) -> None:
        for i in where:
            self.ledger[i] = self.ledger[i].with_status(status)

    def _add_entry(self, kind: str, amount: Money | None, now: datetime, status: str, **detail: Any) -> None:
        line = entry(kind, amount, now, status, **detail)
        self.ledger.append(line)
        self.timeline.append(TimelineEntry(now, "result", f"ledger_{kind}", line.to_json()))

    def record_recovery(self, kind: str, amount: Money, now: datetime, status: str, **detail: Any) -> None:
        """Money coming back to the merchant (duty/VAT recovery filed with customs; seed 003 carrier claims)."""
        self._add_entry(kind, amount, now, status, **detail)

    def deduct(self, reason: str, amount: Decimal, now: datetime) -> None:
        """A deduction taken off the next refund (diminished value found at inspection, Directive 2011/83 art.
        14(2); a restocking fee where the law allows it)."""
        if self.order.currency:
            self._add_entry("deduction", Money.of(amount, self.order.currency), now, "pending", reason=reason)

    def _case_deadline(self, name: str, due: datetime) -> None:
        """A deadline of the case's own (not the policy's), armed as a timer by `_schedule_timers`."""
        self.case_deadlines[name] = due

    def route_return(self, route: CarrierRoute) -> None:
        """The lane table's answer (core.routing.carrier_route), for when the marketplace names no carrier."""
        self.carrier_route = route

    def _routed_carrier(self) -> str | None:
        return self.carrier_route.carrier if self.carrier_route else None

    @property
    def awaiting_return(self) -> bool:
        """An order's page no return has joined yet: it has no return number to show."""
        return self.return_id.startswith(ORDER_PAGE_PREFIX)

    @property
    def requested(self) -> bool:
        """Whether a return, exchange or cancellation was asked for on this case."""
        return "requested_at" in self.milestones

    @property
    def refund_state(self) -> str:
        return self.tables.refund

    def under_auto_refund_limit(self) -> bool:
        """Seed 002 §1: refund-only requests under the merchant's configured amount are refunded at once."""
        limit = self.facts.get("auto_refund_under")
        value = self.return_value()
        if not limit or value is None or limit.get("currency") != value.currency:
            return False
        return value.amount < Decimal(limit["amount"])

    def apply(self, event: ReturnEvent, event_id: str, now: datetime, decide: Decide | None = None) -> list[Command]:
        """Record `event`, take the transitions the lifecycle tables allow, and return the commands they cause.

        `decide` (the policy engine, given by the service layer) is asked once the states have moved and the
        milestones are recorded, before the actions run, so a refund command carries the decided amount.
        """
        withdrawal = event.type == "return.requested" and event.marketplace_event_id.startswith(WITHDRAWAL_EVENT_PREFIX)
        if event.type == "return.requested" and not withdrawal and self.marketplace_return is not None:
            return self._marketplace_echo(event, event_id, now)
        self._merge_facts(event)
        if withdrawal:
            self.facts["withdrawal_function"] = event.occurred_at.isoformat()
        self.timeline.append(
            TimelineEntry(
                now, "event", event.type, {"event_id": event_id, "occurred_at": event.occurred_at.isoformat()}
            )
        )
        inspection = event.return_.inspection if event.return_ else None
        occurrence = Occurrence(
            type=event.type,
            resolution=event.return_.resolution if event.return_ else None,
            delivered=event.order.delivered_at is not None,
            inspection_passed=inspection.passed if inspection else None,
            refund_amount=event.return_.refund_amount if event.return_ else None,
            rejection_reason=event.return_.rejection_reason,
            appeal_due_by=event.return_.appeal_due_by,
            dispute_type=event.return_.dispute_type,
            evidence_due_by=event.return_.evidence_due_by,
            detail={"note": event.return_.reason_detail} if event.return_.reason_detail else {},
        )
        if event.tracking and event.tracking.number and event.type in ("exchange.shipped", "repair.shipped"):
            # The marketplace shipped the new item itself: its parcel is the one the buyer hears about.
            self.outbound_leg = Parcel(event.tracking.carrier, event.tracking.number)
        commands = self._take(occurrence, event_id, event.occurred_at, now, decide)
        if withdrawal and self.marketplace != "generic" and self.marketplace_return is None:
            commands.append(self._open_return(event))
        return commands

    def _open_return(self, event: ReturnEvent) -> Command:
        """Issue 18 §2: the marketplace is told of the withdrawal through its adapter, once per case (the key).
        Whether its platform can be told is the adapter's declared capability, judged by the service layer."""
        self.marketplace_return = MarketplaceReturn("asked")
        payload = {
            "case_id": self.id,
            "order_id": self.order_id,
            "return_id": self.return_id,
            "lines": [{"sku": item.sku, "quantity": item.quantity} for item in event.items],
            "reason": event.return_.reason,
            "note": event.return_.reason_detail,
        }
        return Command("marketplace", self.marketplace, "open_return", f"{self.id}:open_return", payload)

    def _marketplace_echo(self, event: ReturnEvent, event_id: str, now: datetime) -> list[Command]:
        """The marketplace reports the return it opened for the buyer's withdrawal (Shopify's `returns/request`):
        the same request, already received and acknowledged, so nothing moves and no notice goes out."""
        self.timeline.append(
            TimelineEntry(
                now, "event", event.type, {"event_id": event_id, "occurred_at": event.occurred_at.isoformat()}
            )
        )
        self.link_marketplace_return(event.return_.id, now)
        return []

    def link_marketplace_return(self, return_id: str, now: datetime) -> None:
        """The marketplace's own return for the withdrawal: its id becomes the case's, so its later events and our
        decisions (approve, decline) name the return the marketplace knows."""
        told = self.marketplace_return or MarketplaceReturn("accepted")
        if told.return_id == return_id:
            return
        withdrawal_return_id = told.withdrawal_return_id or self.return_id
        self.marketplace_return = replace(told, status="accepted", return_id=return_id,
                                          withdrawal_return_id=withdrawal_return_id)  # fmt: skip
        self.return_ = replace(self.return_, id=return_id)
        self.timeline.append(TimelineEntry(now, "result", "marketplace_return_opened", {"return_id": return_id}))

    def marketplace_answered(self, outcome: str) -> None:
        """The marketplace's answer to `open_return` (unknown, not_sent, refused); a return its webhook
        already joined to the case (accepted) stays so."""
        told = self.marketplace_return or MarketplaceReturn(outcome)
        if told.status != "accepted":
            self.marketplace_return = replace(told, status=outcome)

    def marketplace_not_told(self, reason: str) -> None:
        """Its platform cannot be told of the withdrawal: a person tells it by hand (issue 18 §2)."""
        self.marketplace_return = MarketplaceReturn("not_told", reason=reason)

    @property
    def marketplace_return_pending(self) -> bool:
        """The marketplace was asked to open a return and has not (knowingly) answered yet."""
        told = self.marketplace_return
        return told is not None and told.status in MARKETPLACE_RETURN_PENDING

    def apply_internal(
        self,
        event_type: str,
        event_id: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
        decide: Decide | None = None,
    ) -> list[Command]:
        """An event of our own (adapter result, operator command, timer), taken through the same tables."""
        detail = detail or {}
        self.timeline.append(TimelineEntry(now, "event", event_type, {"event_id": event_id, **detail}))
        if detail.get("tracking_number") and event_type in ("exchange.shipped", "repair.shipped", "reship.sent"):
            # The merchant shipped the new parcel with a label of its own: that parcel is the one to show.
            self.outbound_leg = Parcel(detail.get("carrier"), detail["tracking_number"])
        if event_type == "return.inspected" and detail.get("inspection_passed") is not None:
            # An operator's inspection is the return's inspection: the buyer's notice names its outcome.
            inspection = Inspection(passed=detail["inspection_passed"], note=detail.get("note"))
            self.return_ = replace(self.return_, inspection=inspection)
        refund_amount = detail.get("refund_amount")
        occurrence = Occurrence(
            type=event_type,
            inspection_passed=detail.get("inspection_passed"),
            refund_amount=Decimal(str(refund_amount)) if refund_amount is not None else None,
            rejection_reason=detail.get("rejection_reason"),
            appeal_due_by=_instant(detail.get("appeal_due_by")),
            dispute_type=detail.get("dispute_type"),
            evidence_due_by=_instant(detail.get("evidence_due_by")),
            detail=detail,
        )
        return self._take(occurrence, event_id, now, now, decide)

    def _take(
        self, occurrence: Occurrence, event_id: str, occurred_at: datetime, now: datetime, decide: Decide | None
    ) -> list[Command]:
        moved = False
        actions: tuple[str, ...] = ()
        self._occurrence = occurrence
        self._before = {name: self._state_of(name) for name in LIFECYCLES}
        if decide is not None and MILESTONE_OF.get(occurrence.type) == "requested_at":
            # Conditions read the policy's judgement of a request (eligibility, issue 19): decide before they do.
            self.milestones.setdefault("requested_at", occurred_at)
            self.record_decision(decide(self), now, note=False)
        own_deadlines = dict(self.case_deadlines)
        for name in ("order", "refund", "case"):
            transition = self._match(LIFECYCLES[name], self._state_of(name), occurrence)
            if transition is None:
                continue
            moved = True
            previous = self._state_of(name)
            self._set_state(name, transition.target)
            label = f"{previous}->{transition.target}" if name == "case" else f"{name}:{previous}->{transition.target}"
            self.timeline.append(
                TimelineEntry(now, "transition", label, {"event": occurrence.type, "actor": transition.actor})
            )
            if name == "case":
                milestone = MILESTONE_OF.get(occurrence.type)
                if milestone:
                    self.milestones.setdefault(milestone, occurred_at)
            actions += transition.actions
        if not moved:
            self.needs_attention = True
            self.timeline.append(
                TimelineEntry(
                    now,
                    "attention",
                    "event_not_allowed",
                    {"event": occurrence.type, "state": self.state, "event_id": event_id},
                )
            )
        if occurrence.refund_amount is not None and self.order.currency:
            # An amount agreed or awarded (seed 002 FAQ 4 部分退款; DOMAIN §7 platform award) is what is paid.
            self.facts["agreed_refund"] = {"amount": str(occurrence.refund_amount), "currency": self.order.currency}
        if decide is not None:
            self.record_decision(decide(self), now)
        commands = [c for action in actions for c in self._perform(action, event_id, now)]
        if self.case_deadlines != own_deadlines:
            self._schedule_timers()  # an action set a deadline of the case's own
        return commands

    def _state_of(self, name: str) -> str:
        return {"case": self.state, "order": self.order_state, "refund": self.refund_state}[name]

    def _set_state(self, name: str, target: str) -> None:
        if name == "case":
            self.state = target
        else:
            self.tables = replace(self.tables, **{name: target})

    def _match(self, table: tuple[Transition, ...], state: str, occurrence: Occurrence) -> Transition | None:
        for transition in table:
            if (
                transition.event == occurrence.type
                and state in transition.sources
                and CONDITIONS[transition.condition](self, occurrence)
            ):
                return transition
        return None

    def allowed(self, event_type: str) -> Transition | None:
        """The case-table row `event_type` would take now (conditions judged on what the case knows)."""
        self._before = {}  # no event is being applied: conditions see the present states
        return self._match(LIFECYCLE, self.state, Occurrence(type=event_type, inspection_passed=True))

    def command_allowed(self, action: str) -> bool:
        """Whether an operator command through our API may run in the current state; else answer 409."""
        event_type = OPERATOR_COMMANDS.get(action)
        if event_type is None:
            raise KeyError(f"unknown operator command {action!r}")
        # The order's table too: an operator records a warehouse's answer on a case whose refund went out at once.
        return any(
            row.event == event_type and self._state_of(name) in row.sources
            for name in ("case", "order")
            for row in LIFECYCLES[name]
        )

    def require_command(self, action: str) -> None:
        if not self.command_allowed(action):
            raise CommandRefused(action, self.state)

    def record_result(self, name: str, detail: dict[str, Any], now: datetime, attention: bool = False) -> None:
        """An adapter's answer (label issued, booking failed) joins the timeline."""
        self.timeline.append(TimelineEntry(now, "result", name, detail))
        if attention:
            self.needs_attention = True

    # --- policy results and timers ----------------------------------------------------------

    def record_decision(self, decision: dict[str, Any], now: datetime, note: bool = True) -> None:
        """Keep a policy decision's deadlines and refund on the case and schedule one timer per deadline.

        The timeline notes the decision only when it changed something.
        """
        before = (self.policy_deadlines, self.facts.get("refund"), self.facts.get("policy"))
        # The decision is JSON (Decide); its deadlines become instants here, once.
        self.policy_deadlines = {name: _instant(at) for name, at in (decision.get("deadlines") or {}).items()}
        self.facts["refund"] = decision.get("refund")
        self.facts["policy"] = {
            k: decision.get(k)
            for k in (
                *("eligible", "basis", "reasons", "return_shipping_payer", "window", "rules"),
                *("right", "alternatives", "last_days", "lines"),
            )
        }
        if "fees" in decision:
            self.facts["fees"] = decision["fees"]
        self._schedule_timers()
        changed = before != (self.policy_deadlines, self.facts["refund"], self.facts["policy"])
        if not note:
            self._unnoted = self._unnoted or changed  # noted once the move is complete
        elif changed or self._unnoted:
            self._unnoted = False
            self.timeline.append(TimelineEntry(now, "result", "policy_applied", {"basis": decision.get("basis")}))

    def _schedule_timers(self) -> None:
        """One timer per deadline whose event the case can take in its present state.

        A timer already fired or cancelled stays so; a pending one follows its deadline when it moves, and
        is dropped once the state no longer takes its event (the merchant answered, the goods arrived), so
        it is armed again only when that state comes back. In a final state nothing is pending.
        """
        timers, self.keeps_timers = self.timers, True
        deadlines: dict[str, datetime | None] = {**(self.policy_deadlines or {}), **self.case_deadlines}
        if self.order_state == "unpaid":
            # Seed 004 §3.1.1: an unpaid order is closed once its payment deadline passes.
            placed = self.order.placed_at or self.created_at
            due = self.order.payment_due_by or (placed + self._period("payment_timeout_hours") if placed else None)
            deadlines["payment_due_by"] = due
        else:
            deadlines.pop("payment_due_by", None)
        wanted = {
            TIMER_FOR_DEADLINE[name]: due
            for name, due in deadlines.items()
            if name in TIMER_FOR_DEADLINE and due is not None
        }
        ship_by = deadlines.get("return_ship_by")
        if ship_by:
            wanted["timer.ship_by_reminder"] = ship_by - SHIP_BY_REMINDER_BEFORE
        for event_type, timer in list(timers.items()):
            if timer.pending and (event_type not in wanted or not self._accepts(event_type)):
                del timers[event_type]
        if self.state in FINAL_STATES:
            return
        for event_type, due in wanted.items():
            current = timers.get(event_type)
            if current is None and self._accepts(event_type):
                timers[event_type] = Timer(due)
            elif current is not None and current.pending:
                timers[event_type] = current.moved_to(due)

    def _accepts(self, event_type: str) -> bool:
        """Whether some row of the case, order or refund table takes `event_type` in the present states."""
        return any(
            row.event == event_type and self._state_of(name) in row.sources
            for name, table in LIFECYCLES.items()
            for row in table
        )

    def due_timers(self, now: datetime) -> list[str]:
        """Timers due and not yet fired or cancelled, earliest first."""
        pending = [(t.due_at, name) for name, t in self.timers.items() if t.pending]
        return [name for due, name in sorted(pending) if due <= now]

    def next_timer_due(self) -> datetime | None:
        pending = [t.due_at for t in self.timers.values() if t.pending]
        return min(pending) if pending else None

    def fire_timer(self, event_type: str, now: datetime, decide: Decide | None = None) -> list[Command]:
        """Fire a due timer once, as an event on the case; one outliving its state lapses quietly."""
        timer = self.timers.get(event_type)
        if timer is None or not timer.pending:
            return []
        self.timers[event_type] = timer.fired(now)
        due_at = timer.due_at.isoformat()  # the event's id and detail name the due time as stored
        event_id = f"{self.id}:{event_type}:{due_at}"
        if not self._accepts(event_type):
            self.timeline.append(
                TimelineEntry(now, "result", "timer_lapsed", {"timer": event_type, "state": self.state})
            )
            return []
        if event_type == "timer.ship_by_reminder" and self._ship_by_passed(now):
            # Fired late (the service was down): "send it by <a past day>" would only mislead the buyer.
            self.timeline.append(TimelineEntry(now, "result", "timer_lapsed", {"timer": event_type, "late": True}))
            return []
        return self.apply_internal(event_type, event_id, now, {"due_at": due_at}, decide)

    def _ship_by_passed(self, now: datetime) -> bool:
        ship_by = (self.policy_deadlines or {}).get("return_ship_by")
        return ship_by is not None and now >= ship_by

    # --- actions -----------------------------------------------------------------------------

    def _perform(self, action: str, event_id: str, now: datetime) -> list[Command]:
        if action.startswith("notify:"):
            return self._add_notice(action.split(":", 1)[1], now)
        handler = _ACTIONS.get(action)
        if handler is None:
            raise ValueError(f"lifecycle names an unknown action {action!r}")
        return handler(self, now)

    def _book_return_shipment(self, now: datetime) -> list[Command]:
        """The event's carrier, else the one the lane routing table chose (`carrier_route`, issue 8)."""
        claim = self._open_carrier_claim(now)
        fees = self.facts.get("fees") or {}
        buyer_pays = fees.get("return_shipping_payer") == "buyer" and not fees.get("insurance_covers_return_shipping")
        if buyer_pays and self.rule("buyer_paid_return") == "own_label":
            # The buyer sends it back with a label of their own to the returns address (DOMAIN §4, §6).
            self.facts["return_method"] = "drop_off"
            if not self.facts.get("returns_address") and self.order.ship_from:
                self.facts["returns_address"] = _address_line(self.order.ship_from)
            self.record_result("buyer_ships_with_own_label", {"return_address": self.facts.get("returns_address")},
                               now)  # fmt: skip
            return claim
        carrier = self.return_.carrier or self._routed_carrier()
        if not carrier:
            return claim
        return [
            Command(
                kind="carrier",
                adapter=carrier,
                action="book_return",
                idempotency_key=f"{self.id}:return_shipment",
                payload={"case_id": self.id, "pickup": bool(self.return_.pickup)},
            ),
            *claim,
        ]

    def _issue_refund(self, now: datetime) -> list[Command]:
        """Refund by the original payment route through the marketplace (seeds 000, 003), within the cap.

        The amount is what was agreed or awarded, else the policy's refund, else the lines' value; less the
        deductions not yet applied (a buyer-paid label, diminished value); never more than is left under the
        cap. A dispute award is the buyer's total due: only what was not refunded yet goes out (seed 004: the
        deposit pays an award; one payout, not two). A payout already on its way is not sent again.
        """
        occurrence = self._occurrence
        award = occurrence is not None and occurrence.type == "dispute.resolved" and occurrence.refund_amount
        lines = self.ledger
        if self._payouts("requested"):
            self.record_result("refund_outstanding", {"message": "a refund is already on its way"}, now)
            return []
        self.tables = replace(self.tables, refund="requested")
        attempt = sum(1 for e in self.timeline if e.kind == "result" and e.name == "refund_issued")
        self.timeline.append(TimelineEntry(now, "result", "refund_issued", {"attempt": attempt + 1}))
        key = f"{self.id}:refund:{attempt + 1}"
        payload: dict[str, Any] = {"case_id": self.id, "order_id": self.order_id, "return_id": self.return_id}
        currency = self.order.currency
        if not currency:
            return [Command("marketplace", self.marketplace, "refund", key, payload)]
        amount, kind = self._refund_amount(currency, now)
        cap, already = self.refund_cap(), self.paid_out() or Money.zero(currency)
        if award:
            amount = Money.of(award, currency)
            if cap is not None and amount > cap:
                amount = self._over_cap(amount, cap, now)
            amount, kind = amount - already, "dispute_award"
        elif amount is not None and cap is not None and already + amount > cap:
            amount = self._over_cap(amount, cap - already, now)
        if amount is not None and amount.amount <= 0:
            self.tables = replace(self.tables, refund="paid" if lines else "none")
            self.record_result("nothing_left_to_refund", {"paid_out": already.to_json()}, now)
            return []
        if amount is not None:
            payload["amount"] = amount.to_json()
        self._add_entry(kind, amount, now, "requested", key=key)
        return [Command("marketplace", self.marketplace, "refund", key, payload)]

    def _refund_amount(self, currency: str, now: datetime) -> tuple[Money | None, str]:
        """The refund before the cap, and its kind; pending deductions are applied to it here."""
        agreed = self.facts.get("agreed_refund")
        refund = self.facts.get("refund") or {}
        failed = self._payouts("failed")
        retry = self.ledger[failed[-1]] if failed else None
        if retry is not None and retry.amount is not None:
            return Money.of(retry.amount.amount, currency), retry.kind
        if agreed and agreed.get("currency") == currency:
            amount, kind = Money.of(agreed["amount"], currency), "partial_refund"
        elif refund.get("amount") and refund.get("currency") == currency:
            amount, kind = Money.of(refund["amount"], currency), "refund"
            fee = Money.of(refund.get("restocking_fee") or "0", currency)
            if not fee.is_zero() and not any(e.detail.get("reason") == "restocking_fee" for e in self.ledger):
                # Already taken off the policy's amount (core.fees.restocking_fee): recorded as applied.
                self._add_entry("deduction", fee, now, "applied", reason="restocking_fee")
        else:
            value = self.return_value()
            if value is None:
                return None, "refund"
            amount, kind = value, "refund"
        for i, line in enumerate(self.ledger):
            if (
                line.kind == "deduction"
                and line.status == "pending"
                and line.amount is not None
                and line.in_currency(currency)
            ):
                amount = amount - line.amount
                self.ledger[i] = line.with_status("applied")
        return (amount if amount.amount > 0 else Money.zero(currency)), kind

    def _over_cap(self, asked: Money, left: Money, now: datetime) -> Money:
        """A marketplace's amount above the cap: pay what the cap allows and ask a person to look."""
        self.record_result(
            "amount_over_cap", {"asked": asked.to_json(), "paid_at_most": left.to_json()}, now, attention=True
        )
        return left

    def _record_refund_paid(self, now: datetime) -> list[Command]:
        """The refund on its way is paid (or the one that failed, paid after all); a refund the marketplace
        made on its own joins the ledger as paid, so a later payout is held to the cap with it."""
        outstanding = self._payouts("requested")
        self._set_status(outstanding, "paid")
        currency = self.order.currency
        o = self._occurrence
        failed = self._payouts("failed")
        if not outstanding and failed:
            self._set_status(failed[-1:], "paid")  # the marketplace paid it after all
        elif not outstanding and currency:
            refund = self.facts.get("refund") or {}
            amount = o.refund_amount if o is not None and o.refund_amount is not None else refund.get("amount")
            if amount is not None:
                self._add_entry("refund", Money.of(amount, currency), now, "paid", source="marketplace")
        return []

    def _record_refund_failed(self, now: datetime) -> list[Command]:
        """The payout failed: it no longer counts against the cap, and a retry is armed (seed 003)."""
        self._set_status(self._payouts("requested"), "failed")
        self.tables = replace(self.tables, refund="failed")
        self.timers.pop("timer.refund_retry", None)
        self._case_deadline("refund_retry_at", now + self._period("refund_retry_hours"))
        return []

    def _period(self, rule: str) -> timedelta:
        """A merchant-policy period in hours, else the seeds' default (DEFAULT_* above)."""
        defaults = {
            "payment_timeout_hours": DEFAULT_PAYMENT_TIMEOUT,
            "warehouse_answer_hours": DEFAULT_WAREHOUSE_ANSWER,
            "refund_retry_hours": DEFAULT_REFUND_RETRY,
            "appeal_hours": DEFAULT_APPEAL_PERIOD,
            "evidence_hours": DEFAULT_EVIDENCE_PERIOD,
        }
        hours = self.rule(rule)
        return timedelta(hours=float(hours)) if hours is not None else defaults[rule]

    def _issue_compensation(self, now: datetime) -> list[Command]:
        """Money or a gift instead of a return (seed 002 §3(1)): a payout in the ledger, within the cap."""
        commands = _marketplace_command(self, "compensate")
        agreed = self.facts.get("agreed_refund")
        if agreed and self.order.currency:
            amount = Money.of(agreed["amount"], self.order.currency)
            commands[0].payload["amount"] = amount.to_json()
            self._add_entry("compensation", amount, now, "agreed", key=commands[0].idempotency_key)
        return commands

    def _stop_warehouse(self, now: datetime) -> list[Command]:
        """Seed 004 §2: ask the warehouse (through the marketplace's WMS) to stop the order; a timer waits.

        Its answer comes as order.cancel_confirmed or order.cancel_refused (the marketplace or an operator);
        none by the deadline puts the case before a person (timer.warehouse_answer_overdue).
        """
        if self.order_state == "paid":
            self.tables = replace(self.tables, order="cancel_requested")
        self._case_deadline("warehouse_answer_due_by", now + self._period("warehouse_answer_hours"))
        commands = _marketplace_command(self, "cancel_order")
        commands[0].payload["lines"] = [{"sku": i.sku, "quantity": i.quantity} for i in self.items]
        return commands

    def _warehouse_task(self, now: datetime) -> list[Command]:
        self.record_result(
            "warehouse_answer_overdue",
            {"message": "the warehouse has not said whether it stopped the order: check with it and record "
             "confirm_cancellation or refuse_cancellation"},
            now,
            attention=True,
        )  # fmt: skip
        return []

    def _release_reservations(self, now: datetime) -> list[Command]:
        """Seed 004 §3.3-3.4: coupons, points and reserved stock go back, told to the marketplace as one event.

        A coupon shared by several lines comes back only when all of them are cancelled (§3.3.3); points
        follow the merchant's rule (all or none, §3.3.2); stock of the cancelled lines is freed.
        """
        cancelled = {item.sku for item in self.items}
        coupons = [
            {"code": c.code, **({"amount": str(c.amount)} if c.amount is not None else {})}
            for c in self.order.coupons
            if not c.skus or set(c.skus) <= cancelled
        ]
        kept = [c.code for c in self.order.coupons if c.skus and not set(c.skus) <= cancelled]
        points = self.order.points_used or 0
        if (self.rule("points_refund") or "all") == "none":
            points = 0
        release = {
            "coupons": coupons,
            "coupons_kept": kept,
            "points": points,
            "stock": [{"sku": i.sku, "quantity": i.quantity} for i in self.items],
        }
        self.facts["released"] = release
        commands = _marketplace_command(self, "release_reservations")
        commands[0].payload.update(release)
        return commands

    def _record_rejection(self, now: datetime) -> list[Command]:
        """Why the request was refused and until when the buyer may appeal (issue 19 §8; seed 002 FAQ 5)."""
        o = self._occurrence or Occurrence(type="")
        reasons = [r.get("code") for r in (self.facts.get("policy") or {}).get("reasons") or []]
        code = o.rejection_reason or _rejection_code(reasons, o.inspection_passed)
        appeal_by = o.appeal_due_by or now + self._period("appeal_hours")
        note = o.detail.get("note") or (self.return_.inspection.note if self.return_.inspection else None)
        self.facts["rejection"] = {
            "reason": code,
            "appeal_by": appeal_by.isoformat(),
            "note": note,
            "policy_reasons": [r for r in reasons if r],
        }
        return []

    def _record_late_acceptance(self, now: datetime) -> list[Command]:
        """Seed 002 FAQ 2: a request after the window accepted because the buyer could not have the parcel in
        time (signed by someone else, travelling); the reason is kept and the request now counts as eligible."""
        o = self._occurrence or Occurrence(type="")
        self.late_accepted = LateAcceptance(o.detail.get("note"), now)
        self.facts.pop("rejection", None)
        return []

    def _open_dispute(self, now: datetime) -> list[Command]:
        """Seed 001 §6.1 type, the evidence deadline (举证期, seed 002 FAQ 5), and a timer on it."""
        o = self._occurrence or Occurrence(type="")
        due = o.evidence_due_by or now + self._period("evidence_hours")
        previous = self.dispute
        self.dispute = Dispute(
            type=o.dispute_type or (previous.type if previous else None),
            opened_at=now,
            evidence_due_by=due,
            escalations=previous.escalations if previous else (),
            objection_after_completion=previous is not None or self._completed_before(),
        )
        self.timers.pop("timer.evidence_overdue", None)
        self._case_deadline("evidence_due_by", due)
        return []

    def _completed_before(self) -> bool:
        return any(e.kind == "transition" and e.name.split("->")[-1] in FINAL_STATES for e in self.timeline[:-1])

    def _evidence_overdue(self, now: datetime) -> list[Command]:
        """At the end of the 举证期 without valid evidence the merchant's side is unsupported (seed 002 FAQ 5)."""
        valid = self.dispute is not None and any(e.valid for e in self.dispute.evidence)
        outcome = "valid_evidence_in_time" if valid else "no_valid_evidence"
        if self.dispute is not None:
            self.dispute = replace(self.dispute, evidence_outcome=outcome)
        self.record_result("evidence_period_ended", {"outcome": outcome}, now, attention=not valid)
        return []

    def _book_outbound_shipment(self, now: datetime) -> list[Command]:
        """Exchange, repair or reship: a parcel from the merchant to the buyer, booked with the same carriers."""
        if self.outbound_leg is not None and self.outbound_leg.tracking_number:
            return []
        carrier = (
            self.rule("outbound_carrier")
            or self.return_.carrier
            or self._routed_carrier()
            or (self.order_parcel.carrier if self.order_parcel else None)
        )
        if not carrier:
            self.record_result("outbound_needs_carrier", {}, now, attention=True)
            return []
        payload = {"case_id": self.id, "purpose": self._occurrence.type if self._occurrence else None}
        return [Command("carrier", carrier, "book_outbound", f"{self.id}:outbound_shipment", payload)]

    def _notify_outbound(self, now: datetime) -> list[Command]:
        """The buyer hears of the new parcel once it has a tracking number (seed 000: exchange shipped)."""
        if self.outbound_leg is None or not self.outbound_leg.tracking_number:
            return []
        return self._add_notice("exchange_shipped", now)

    def outbound_booked(self, carrier: str, tracking: str | None, now: datetime) -> list[Command]:
        """The carrier booked the outbound parcel: its number goes on the case and, once shipped, to the buyer."""
        self.outbound_leg = Parcel(carrier, tracking, now)
        self.record_result("outbound_label_booked", {"carrier": carrier, "tracking_number": tracking}, now)
        commands: list[Command] = []
        if self.marketplace != "generic":
            commands = _marketplace_command(self, "ship_exchange")
            commands[0].payload.update({"carrier": carrier, "tracking_number": tracking})
        if self.state in (CaseState.EXCHANGED, CaseState.REPAIRED, CaseState.COMPENSATED):
            commands += self._notify_outbound(now)
        return commands

    def label_booked(self, cost: Money | None, now: datetime) -> None:
        """Who pays return shipping, charged (DOMAIN §4): a buyer-paid label is deducted from the refund,
        unless return-shipping insurance (运费险) pays it; a merchant-paid one costs the buyer nothing."""
        fees = self.facts.get("fees") or {}
        if fees.get("return_shipping_payer") != "buyer":
            return
        if cost is None and self.rule("return_label_cost"):
            rule = self.rule("return_label_cost")
            cost = Money.of(rule["amount"], rule["currency"])
        if cost is None or cost.currency != self.order.currency:
            # Only a merchant who asked for the deduction needs a person to find the cost.
            asked = self.rule("buyer_paid_return") == "deduct_label_cost"
            self.record_result("label_cost_unknown", {"message": "the carrier gave no cost in the payment "
                               "currency: deduct it by hand or set return_label_cost"}, now, attention=asked)  # fmt: skip
            return
        if fees.get("insurance_covers_return_shipping"):
            self._add_entry("insurance", cost, now, "claimed", source="seed 004 (运费险 pays the buyer's share)")
        else:
            self._add_entry("deduction", cost, now, "pending", reason="return_label")

    def record_operator(self, action: str, detail: dict[str, Any], now: datetime) -> None:
        """A fact an operator records without moving the case: evidence, an escalation, a carrier claim's outcome."""
        if action == "submit_evidence":
            self._submit_evidence(detail, now)
        elif action == "escalate_dispute":
            if self.dispute is None:
                raise CommandRefused(action, self.state)
            self.dispute = self.dispute.escalated(Escalation(detail["escalate_to"], now, detail.get("note")))
            self.record_result("dispute_escalated", {"to": detail["escalate_to"]}, now)
        elif action == "record_claim_outcome":
            claim = self.facts.get("carrier_claim")
            if claim is None:
                raise CommandRefused(action, self.state)
            amount = detail.get("refund_amount")
            claim.update(status="settled" if amount else "refused", settled_at=now.isoformat(), note=detail.get("note"))
            if amount and self.order.currency:
                self._add_entry("carrier_claim", Money.of(amount, self.order.currency), now, "recovered",
                                carrier=claim.get("carrier"))  # fmt: skip
            self.record_result("carrier_claim_" + claim["status"], {"carrier": claim.get("carrier")}, now)
        else:
            raise KeyError(f"unknown operator record {action!r}")
        self.timeline.append(TimelineEntry(now, "event", f"operator.{action}", {"operator_command": action}))

    def _submit_evidence(self, detail: dict[str, Any], now: datetime) -> None:
        """Evidence in a dispute: late evidence does not count (seed 002 FAQ 5); a swap is proven only by a
        first-unboxing video showing all six sides and meeting the four tests (seed 002 FAQ 3)."""
        dispute = self.dispute
        if dispute is None or self.state != CaseState.PLATFORM_INTERVENTION:
            raise CommandRefused("submit_evidence", self.state)
        problems = []
        if now > dispute.evidence_due_by:
            problems.append("after the evidence deadline (举证期)")
        if dispute.type == "swapped_item" or detail.get("evidence_kind") == "unboxing_video":
            if detail.get("evidence_kind") != "unboxing_video":
                problems.append("a swapped item is proven only by an unboxing video")
            else:
                if not detail.get("six_sides_shown"):
                    problems.append("not all six sides of the parcel are shown")
                if not detail.get("first_opening"):
                    problems.append("not recorded at the first opening of the return")
                problems.extend(f"fails the {t} test" for t in UNBOXING_TESTS if t not in detail.get("passes", []))
        item = Evidence(detail.get("evidence_kind"), detail.get("evidence_url"), now, not problems, tuple(problems))
        self.dispute = dispute.with_evidence(item)
        self.record_result("evidence_recorded", {"valid": not problems, "problems": problems}, now)

    def _open_carrier_claim(self, now: datetime) -> list[Command]:
        """Damage or loss in transit is claimed from the carrier (seed 003; DOMAIN §6), and tracked on the case."""
        if not (self.facts.get("fees") or {}).get("carrier_claim") or self.facts.get("carrier_claim"):
            return []
        carrier = (
            (self.order_parcel.carrier if self.order_parcel else None) or self.return_.carrier or self._routed_carrier()
        )
        self.facts["carrier_claim"] = {"carrier": carrier, "status": "open", "opened_at": now.isoformat()}
        if not carrier:
            self.record_result("carrier_claim_needs_carrier", {}, now, attention=True)
            return []
        payload = {"case_id": self.id, "order_id": self.order_id, "tracking": self.order_tracking,
                   "reason": self.return_.reason}  # fmt: skip
        return [Command("carrier", carrier, "open_claim", f"{self.id}:carrier_claim", payload)]

    def _intercept_parcel(self, now: datetime) -> list[Command]:
        """Seed 002 §2: ask the carrier of the outbound parcel to intercept it."""
        carrier = (self.order_parcel.carrier if self.order_parcel else None) or self.return_.carrier
        if not carrier:
            self.record_result("interception_needs_carrier", {}, now, attention=True)
            return []
        payload = {"case_id": self.id, "order_id": self.order_id, "tracking": self.order_tracking}
        return [Command("carrier", carrier, "intercept", f"{self.id}:intercept", payload)]

    def _cancel_timers(self, now: datetime) -> list[Command]:
        for event_type, timer in self.timers.items():
            if timer.fired_at is None:
                self.timers[event_type] = timer.cancel()
        return []

    def _flag_attention(self, now: datetime) -> list[Command]:
        self.needs_attention = True
        return []

    def _add_notice(self, kind: str, now: datetime) -> list[Command]:
        """Record a buyer notice with the facts it shows, and one command that sends it on every channel.

        A withdrawal under EU law is also confirmed on a durable medium (Directive 2011/83/EU art. 11(3)).
        """
        kinds = [kind]
        policy = self.facts.get("policy") or {}
        withdrawal = "eu_withdrawal" in (policy.get("right"), policy.get("basis")) or self.facts.get(
            "withdrawal_function"
        )
        if kind == "request_received" and withdrawal:
            kinds.append("withdrawal_confirmation")
        commands: list[Command] = []
        for name in kinds:
            if any(n.kind == name for n in self.notices):
                continue
            known = self._notice_facts()
            if name in ("exchange_shipped", "reship_sent") and self.outbound_leg is not None:
                # The new parcel to the buyer, not the buyer's parcel back (issue 19).
                known.update(carrier=self.outbound_leg.carrier, tracking_number=self.outbound_leg.tracking_number)
            self.notices.append(Notice(name, now, notice_context(name, known, now)))
            self.timeline.append(TimelineEntry(now, "notice", name, {}))
            commands.append(Command("notify", NOTICE_ADAPTER, "send", notice_key(self.id, name), notice_payload(name)))
        return commands

    def _notice_facts(self) -> dict[str, Any]:
        """Everything a notice may show, flat: notice_context keeps what each kind names."""
        refund = self.facts.get("refund") or {}
        value = self.return_value()
        inspection = self.return_.inspection
        return {
            "order_id": self.order_id,
            "return_id": self.return_id,
            "items_value": value.to_json() if value is not None else None,
            "paid_amount": {"amount": str(self.return_.refund_amount), "currency": self.order.currency}
            if self.return_.refund_amount is not None and self.order.currency
            else None,
            "refund_amount": {"amount": refund["amount"], "currency": refund.get("currency") or self.order.currency}
            if refund.get("amount") and (refund.get("currency") or self.order.currency)
            else None,
            "carrier": self.return_.carrier or self._routed_carrier(),
            "pickup": self.return_.pickup,
            "passed": inspection.passed if inspection else None,
            "note": inspection.note if inspection else None,
            # What the buyer declared with the withdrawal function: the statement the confirmation repeats.
            "statement": self.return_.reason_detail if self.facts.get("withdrawal_function") else None,
            "tracking_number": self.facts.get("return_tracking"),
            "deadlines": {name: at.isoformat() if at else None for name, at in (self.policy_deadlines or {}).items()},
            "last_days": (self.facts.get("policy") or {}).get("last_days") or {},
            # A notice keeps its facts as the text it shows (its context is stored as it is).
            "milestones": {name: at.isoformat() for name, at in self.milestones.items()},
            **self._decision_notice_facts(),
        }

    def _decision_notice_facts(self) -> dict[str, Any]:
        """A rejection's reason and appeal deadline, a dispute's evidence deadline, the failed refund, the
        drop-off address of a buyer's own label (issue 19)."""
        facts: dict[str, Any] = {}
        rejection = self.facts.get("rejection") or {}
        if rejection:
            facts.update(reason=rejection.get("reason"), appeal_by=rejection.get("appeal_by"))
            if rejection.get("note"):
                facts["note"] = rejection["note"]
        if self.dispute is not None:
            facts["respond_by"] = self.dispute.evidence_due_by.isoformat()  # the notice keeps the text it shows
        if self.facts.get("return_method"):
            facts["method"] = self.facts["return_method"]
            facts["return_address"] = self.facts.get("returns_address")
        payouts = [e.amount for e in self.ledger if e.payout and e.amount is not None]
        failed = next(
            (e.amount for e in reversed(self.ledger) if e.payout and e.amount is not None and e.status == "failed"),
            None,
        )
        if failed is not None:
            facts["failed_amount"] = failed.to_json()
        if payouts:
            facts["payout_amount"] = payouts[-1].to_json()
        return facts

    def record_missing_details(self, missing: Iterable[str]) -> list[str]:
        """Fields the marketplace's API could not give (issue 4), shown on the case; sorted, each once."""
        self.facts["missing"] = sorted(set(missing))
        return list(self.facts["missing"])

    def record_fx(self, fx: dict[str, Any]) -> None:
        """The conversions of the case's money (service.fx), as the case view shows them."""
        self.facts["fx"] = fx

    def tracking_moves(self) -> list[str]:
        """The events the carrier's scans already moved the case by (service.tracking): each is sent once."""
        return list(self.facts.get("tracking_events") or [])

    def record_tracking_move(self, event_type: str) -> None:
        self.facts.setdefault("tracking_events", []).append(event_type)

    def refine(self, event: ReturnEvent, now: datetime, detail: dict[str, Any]) -> None:
        """Facts the marketplace's API added to a thin notification (issue 4); the state does not move."""
        self._merge_facts(event)
        self.timeline.append(TimelineEntry(now, "result", "details_fetched", detail))

    def _merge_facts(self, event: ReturnEvent) -> None:
        """Later events refine what earlier ones said; a field left out keeps its value."""
        order = event.order
        if (
            order.id.startswith(PENDING_ORDER)
            and self.order is not None
            and not self.order.id.startswith(PENDING_ORDER)
        ):
            order = replace(order, id=self.order.id)  # a notification naming no order keeps the one the case knows
        self.order = _merge(self.order, order)
        incoming = event.return_
        if incoming.id.startswith(ORDER_PAGE_PREFIX) and not self.awaiting_return:
            # Late details of the order's page (`order.delivered`) never take back the return id that joined it.
            incoming = replace(incoming, id=self.return_.id)
        self.return_ = _merge(self.return_, incoming)
        if event.items and event.type == "order.delivered":
            # The whole order as delivered: a later return of only some of it is a partial one (issue 18 §2).
            self.facts["ordered_lines"] = {item.sku: item.quantity for item in event.items}
        if event.items:
            self.items = event.items
        if event.type == "return.shipped" and event.tracking and event.tracking.number:
            # The buyer's parcel back to us: its number goes in the "on its way" notice (seed 003).
            self.facts["return_tracking"] = event.tracking.number
        if event.type == "return.requested" and event.tracking and self.order_state == "paid":
            # Asked before delivery with the outbound parcel's tracking: the goods are on their way
            # (seed 002 §2 货在途), so the order is shipped and that parcel is the one to intercept.
            self.tables = replace(self.tables, order="shipped")
            self.order_parcel = Parcel(event.tracking.carrier, event.tracking.number)


def _marketplace_command(case: ReturnCase, action: str) -> list[Command]:
    """A call back to the marketplace (seed 004 WMS cancel, seed 002 compensation, seed 000 exchange)."""
    payload = {"case_id": case.id, "order_id": case.order_id, "return_id": case.return_id}
    return [Command("marketplace", case.marketplace, action, f"{case.id}:{action}", payload)]


_ACTIONS: dict[str, Callable[[ReturnCase, datetime], list[Command]]] = {
    "book_return_shipment": ReturnCase._book_return_shipment,
    "issue_refund": ReturnCase._issue_refund,
    "intercept_parcel": ReturnCase._intercept_parcel,
    "intercept_in_warehouse": lambda case, now: _marketplace_command(case, "cancel_order"),
    "issue_compensation": ReturnCase._issue_compensation,
    "ship_exchange": ReturnCase._book_outbound_shipment,
    "book_outbound_shipment": ReturnCase._book_outbound_shipment,
    "notify_outbound": ReturnCase._notify_outbound,
    "stop_warehouse": ReturnCase._stop_warehouse,
    "warehouse_task": ReturnCase._warehouse_task,
    "release_reservations": ReturnCase._release_reservations,
    "record_rejection": ReturnCase._record_rejection,
    "record_late_acceptance": ReturnCase._record_late_acceptance,
    "record_refund_paid": ReturnCase._record_refund_paid,
    "record_refund_failed": ReturnCase._record_refund_failed,
    "open_dispute": ReturnCase._open_dispute,
    "evidence_overdue": ReturnCase._evidence_overdue,
    "cancel_timers": ReturnCase._cancel_timers,
    "flag_attention": ReturnCase._flag_attention,
}


def _address_line(address: Any) -> str:
    town = " ".join(v for v in (address.postal_code, address.city) if v)
    parts = (address.name, address.line1, address.line2, town, address.region, address.country)
    return ", ".join(p for p in parts if p)


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


# Policy reason codes (core.policy) -> the reason the buyer's rejection notice names (core.notices.CODES).
_REJECTION_CODES: dict[str, str] = {
    "window_closed": "outside_return_window",
    "guarantee_expired": "outside_return_window",
    "guarantee_expired_line": "outside_return_window",
    "excluded_category": "excluded_item",
    "no_statutory_withdrawal": "excluded_item",
    "condition_not_met": "item_used",
    "not_intact": "item_used",
    "diminished_value": "item_used",
    "evidence_requested": "missing_evidence",
    "reason_required": "missing_evidence",
}


def _rejection_code(policy_reasons: list[str | None], inspection_passed: bool | None) -> str:
    for code in policy_reasons:
        if code in _REJECTION_CODES:
            return _REJECTION_CODES[code]
    return "item_used" if inspection_passed is False else "other"


PENDING_ORDER = "pending:"
"""The order id an adapter gives when the notification names none (see adapters/marketplaces/_support.py)."""


def _merge(old: Any, new: Any) -> Any:
    if old is None:
        return new
    if new is None:
        return old
    changes = {
        name: value
        for name, value in vars(new).items()
        if value is not None and value != () and value != getattr(old, name)
    }
    return replace(old, **changes) if changes else old


def open_case(case_id: str, marketplace: str, event: ReturnEvent, now: datetime) -> ReturnCase:
    """A new case for a return seen for the first time; no event is applied yet.

    `order.delivered` opens an order's page instead (its return id is `order_page_key`).
    """
    case = ReturnCase(
        id=case_id,
        marketplace=marketplace,
        order=event.order,
        return_=event.return_,
        items=event.items,
        created_at=now,
    )
    if event.type == "order.delivered":
        case.order_page = True
    return case
