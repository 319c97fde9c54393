"""The ReturnCase aggregate: one case per marketplace return, moved by events.

The lifecycle is a table (DOMAIN.md §5, the method of seed 004): for each state,
which actor may cause which event, and what follows. An event the table does not
allow in the current state is still kept on the timeline, and the case is flagged
for attention: marketplaces resend what is refused, so refusing would lose it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from core.events import Order, ReturnEvent, ReturnRequest
from core.money import Money
from core.notices import CHANNELS, delivery_key, notice_context


class CaseState:
    """Buyer-visible statuses of seed 000 plus those the other seeds name (DOMAIN.md §5)."""

    NEW = "new"
    REQUESTED = "requested"
    INTERCEPTING = "intercepting"
    INTERCEPTION_FAILED = "interception_failed"
    CANCELLING = "cancelling"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURN_IN_TRANSIT = "return_in_transit"
    INSPECTING = "inspecting"
    REFUND_PROCESSING = "refund_processing"
    EXCHANGE_PROCESSING = "exchange_processing"
    REPAIR_PROCESSING = "repair_processing"
    PLATFORM_INTERVENTION = "platform_intervention"
    REFUNDED = "refunded"
    EXCHANGED = "exchanged"
    REPAIRED = "repaired"
    COMPENSATED = "compensated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    CLOSED = "closed"


# Who causes each event (DOMAIN.md §5: buyer, merchant, platform, carrier, system timer). Canonical events
# come from marketplaces; the others are adapter results, operator commands and timers.
EVENT_ACTOR: dict[str, str] = {
    "return.requested": "buyer",
    "exchange.requested": "buyer",
    "order.cancel_requested": "buyer",
    "return.cancelled": "buyer",
    "return.shipped": "buyer",
    "dispute.opened": "buyer",
    "return.approved": "merchant",
    "return.rejected": "merchant",
    "return.received": "merchant",
    "return.inspected": "merchant",
    "refund.requested": "merchant",
    "compensation.agreed": "merchant",
    "reship.sent": "merchant",
    "exchange.shipped": "merchant",
    "repair.shipped": "merchant",
    "order.shipped": "merchant",
    "dispute.resolved": "platform",
    "refund.completed": "platform",
    "refund.failed": "platform",
    "order.cancel_confirmed": "warehouse",
    "order.cancel_refused": "warehouse",
    "interception.succeeded": "carrier",
    "interception.failed": "carrier",
    "delivery.refused": "carrier",
    "order.delivered": "carrier",
    "timer.merchant_response_overdue": "system_timer",
    "timer.return_window_closed": "system_timer",
    "timer.return_not_shipped": "system_timer",
    "timer.ship_by_reminder": "system_timer",
    "timer.inspection_overdue": "system_timer",
    "timer.refund_overdue": "system_timer",
    "timer.payment_overdue": "system_timer",
}


@dataclass(frozen=True)
class Transition:
    """One row of a lifecycle table: in `sources`, `actor` causing `event` when `condition` holds leads to `target`."""

    sources: frozenset[str]
    event: str
    actor: str
    target: str
    actions: tuple[str, ...] = ()
    source_doc: str = ""
    condition: str = "always"


def _row(
    sources: str, event: str, target: str, *actions: str, source_doc: str = "", when: str = "always"
) -> Transition:
    return Transition(frozenset(sources.split()), event, EVENT_ACTOR[event], target, actions, source_doc, when)


S = CaseState
_APPROVAL_ROWS = (
    ("refund_only_unshipped", S.REFUND_PROCESSING, ("issue_refund", "notify:return_approved"), "seed 002 §1"),
    ("returnless", S.REFUND_PROCESSING, ("issue_refund", "notify:return_approved"), "seed 002 §3(4) 直接退款"),
    ("exchange", S.APPROVED, ("book_return_shipment", "notify:return_approved"), "seed 002 §3(2); seed 001 §2.3"),
    ("always", S.APPROVED, ("book_return_shipment", "notify:return_approved"), "seed 000 §status; DOMAIN §6"),
)

# The after-sales case (DOMAIN.md §1, §5). Rows are tried in order; the first whose condition holds wins.
LIFECYCLE: tuple[Transition, ...] = (
    _row(
        "new rejected",
        "return.requested",
        S.REFUND_PROCESSING,
        "issue_refund",
        "notify:request_received",
        when="refund_only_unshipped_auto",
        source_doc="seed 002 §1 (0秒退: automatic under a configured amount)",
    ),
    _row(
        "new",
        "return.requested",
        S.INTERCEPTING,
        "intercept_parcel",
        "notify:request_received",
        when="refund_in_transit",
        source_doc="seed 002 §2 货在途退款 (拦截快递)",
    ),
    _row("new rejected", "return.requested", S.REQUESTED, "notify:request_received", source_doc="seed 000 §status"),
    _row("new", "exchange.requested", S.REQUESTED, "notify:request_received", source_doc="seed 000; seed 001 §2.3"),
    _row(
        "new",
        "order.cancel_requested",
        S.CANCELLING,
        "intercept_in_warehouse",
        source_doc="seed 004 §2 (paid, not shipped: WMS interception)",
    ),
    _row(
        "cancelling",
        "order.cancel_confirmed",
        S.REFUND_PROCESSING,
        "issue_refund",
        source_doc="seed 004 §3.3 (原路退还, coupons and stock released)",
    ),
    _row(
        "cancelling",
        "order.cancel_refused",
        S.CLOSED,
        "notify:cancellation_refused",
        source_doc="seed 004 §2.4 (不可取消的订单,反馈取消失败)",
    ),
    *(
        _row("requested", event, target, *actions, when=when, source_doc=doc + suffix)
        for event, suffix in (
            ("return.approved", ""),
            ("timer.merchant_response_overdue", "; DOMAIN §2 默认同意 (seeds 003, 004)"),
        )
        for when, target, actions, doc in _APPROVAL_ROWS
    ),
    _row("requested", "return.rejected", S.REJECTED, "notify:return_rejected", source_doc="seed 000"),
    _row(
        "requested",
        "refund.requested",
        S.REFUND_PROCESSING,
        "issue_refund",
        source_doc="seed 002 FAQ 4 (部分退款, negotiated amount)",
    ),
    _row(
        "requested",
        "compensation.agreed",
        S.COMPENSATED,
        "issue_compensation",
        source_doc="seed 002 §3(1) (money or a gift instead of a return); seed 000 (staff authority)",
    ),
    _row("requested", "reship.sent", S.COMPENSATED, "notify:reship_sent", source_doc="seed 002 FAQ 4 (补发)"),
    _row(
        "intercepting",
        "interception.succeeded",
        S.REFUND_PROCESSING,
        "issue_refund",
        "notify:interception_succeeded",
        source_doc="seed 002 §2",
    ),
    _row(
        "intercepting",
        "delivery.refused",
        S.REFUND_PROCESSING,
        "issue_refund",
        source_doc="seed 002 §2 (物流有拒签记录)",
    ),
    _row(
        "intercepting",
        "interception.failed",
        S.INTERCEPTION_FAILED,
        "notify:interception_failed",
        source_doc="seed 002 FAQ 1 (拦截失败: negotiate)",
    ),
    _row(
        "interception_failed",
        "return.approved",
        S.APPROVED,
        "book_return_shipment",
        "notify:return_approved",
        source_doc="seed 002 FAQ 1 (协商退货退款)",
    ),
    _row(
        "new requested intercepting interception_failed approved cancelling",
        "return.cancelled",
        S.CANCELLED,
        "cancel_timers",
        source_doc="seed 002 FAQ 1 (buyer keeps the goods: refund withdrawn); seed 004",
    ),
    _row(
        "approved",
        "return.shipped",
        S.RETURN_IN_TRANSIT,
        "notify:return_shipped",
        source_doc="seed 000 §status (shipped back, awaiting receipt); seed 003 (tracking number)",
    ),
    _row(
        "approved",
        "timer.return_not_shipped",
        S.EXPIRED,
        "notify:return_expired",
        source_doc="seed 001 §5.2.2 (late requests void)",
    ),
    _row("new", "timer.return_window_closed", S.EXPIRED, source_doc="seed 001 §5.2.2; DOMAIN §2"),
    _row(
        "approved",
        "timer.ship_by_reminder",
        S.APPROVED,
        "notify:ship_by_reminder",
        source_doc="seed 000 (buyer informed at key moments); DOMAIN §5 (reminder before the ship-by deadline)",
    ),
    _row(
        "return_in_transit approved",
        "return.received",
        S.INSPECTING,
        "notify:return_received",
        source_doc="seed 000 §status; seed 000 (key moment: return received)",
    ),
    _row(
        "inspecting",
        "return.inspected",
        S.EXCHANGE_PROCESSING,
        "ship_exchange",
        "notify:inspection_result",
        when="passed_exchange",
        source_doc="seed 000 (exchange processing); seed 002 §3(2)",
    ),
    _row(
        "inspecting",
        "return.inspected",
        S.REPAIR_PROCESSING,
        "notify:inspection_result",
        when="passed_repair",
        source_doc="seed 002 §3(2) 维修",
    ),
    _row(
        "inspecting",
        "return.inspected",
        S.REFUND_PROCESSING,
        "issue_refund",
        "notify:inspection_result",
        when="passed",
        source_doc="seed 000 §status; seed 001 §4.2.3",
    ),
    _row(
        "inspecting",
        "return.inspected",
        S.REJECTED,
        "notify:inspection_result",
        when="failed",
        source_doc="seed 000 (inspection); seed 002 FAQ 3 (unboxing video, four tests)",
    ),
    _row(
        "inspecting",
        "timer.inspection_overdue",
        S.REFUND_PROCESSING,
        "issue_refund",
        source_doc="DOMAIN §2: unprocessed refunds are paid out automatically (seeds 003, 004)",
    ),
    _row(
        "refund_processing",
        "refund.completed",
        S.REFUNDED,
        "notify:refund_paid",
        "cancel_timers",
        source_doc="seed 000 (key moment: refund paid); seed 000, 003 (original payment route)",
    ),
    _row(
        "refund_processing",
        "timer.refund_overdue",
        S.REFUND_PROCESSING,
        "issue_refund",
        "flag_attention",
        source_doc="DOMAIN §2: a refund left unprocessed is paid out automatically (seeds 003, 004)",
    ),
    _row(
        "refund_processing",
        "refund.failed",
        S.REFUND_PROCESSING,
        "flag_attention",
        source_doc="seed 000, 003 (refund by the original route; a failure needs a person)",
    ),
    _row(
        "exchange_processing",
        "exchange.shipped",
        S.EXCHANGED,
        "notify:exchange_shipped",
        "cancel_timers",
        source_doc="seed 000 (key moment: exchange shipped, with tracking)",
    ),
    _row(
        "repair_processing",
        "repair.shipped",
        S.REPAIRED,
        "notify:exchange_shipped",
        "cancel_timers",
        source_doc="seed 000; seed 002 §3(2)",
    ),
    _row(
        "new requested rejected approved return_in_transit inspecting interception_failed",
        "dispute.opened",
        S.PLATFORM_INTERVENTION,
        "notify:dispute_opened",
        source_doc="seed 002 (平台介入); seed 004; DOMAIN §7",
    ),
    _row(
        "platform_intervention",
        "dispute.resolved",
        S.REFUND_PROCESSING,
        "issue_refund",
        "notify:dispute_resolved_for_buyer",
        when="refund_awarded",
        source_doc="seed 004 (platform refunds from the merchant's deposit); DOMAIN §7",
    ),
    _row(
        "platform_intervention",
        "dispute.resolved",
        S.CLOSED,
        "cancel_timers",
        "notify:dispute_resolved_for_seller",
        source_doc="DOMAIN §7",
    ),
)

# The order (seed 004 §2-3): paid, shipped, delivered; cancellation before shipment; interception in transit.
ORDER_LIFECYCLE: tuple[Transition, ...] = (
    _row(
        "unpaid", "timer.payment_overdue", "cancelled", source_doc="seed 004 §3.1.1 (unpaid orders cancel after 24 h)"
    ),
    _row("paid", "order.shipped", "shipped", source_doc="seed 004 §2"),
    _row("paid shipped", "order.delivered", "delivered", source_doc="seed 002 FAQ 2 (物流显示签收)"),
    _row("paid", "order.cancel_requested", "cancel_requested", source_doc="seed 004 §2.4 (WMS interception)"),
    _row("cancel_requested", "order.cancel_confirmed", "cancelled", source_doc="seed 004 §3.3-3.4"),
    _row("cancel_requested", "order.cancel_refused", "paid", source_doc="seed 004 §2.4"),
    _row("shipped", "interception.succeeded", "returning_to_sender", source_doc="seed 002 §2"),
    _row("shipped", "delivery.refused", "returning_to_sender", source_doc="seed 002 §2"),
    _row("shipped", "interception.failed", "shipped", source_doc="seed 002 FAQ 1"),
)

# The refund (seeds 000, 003, 004): requested by the case's issue_refund action, paid or failed.
REFUND_LIFECYCLE: tuple[Transition, ...] = (
    _row("none failed", "refund.requested", "requested", source_doc="seed 002 FAQ 4; seed 001 §4.2.3"),
    _row("requested", "refund.completed", "paid", source_doc="seed 000, 003 (original route)"),
    _row("requested", "refund.failed", "failed", source_doc="seed 000, 003"),
    _row("requested", "timer.refund_overdue", "requested", source_doc="DOMAIN §2 (seeds 003, 004)"),
)

# States no row of the case table leaves: nothing more can happen, so no timer is scheduled there.
FINAL_STATES: frozenset[str] = frozenset(
    {row.target for row in LIFECYCLE} - {source for row in LIFECYCLE for source in row.sources}
)

LIFECYCLES: dict[str, tuple[Transition, ...]] = {
    "case": LIFECYCLE,
    "order": ORDER_LIFECYCLE,
    "refund": REFUND_LIFECYCLE,
}

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
}

# How long before the ship-by deadline the buyer is reminded to send the return back.
SHIP_BY_REMINDER_BEFORE = timedelta(days=2)

# Deadline name (core.policy) -> the timer event it fires once due.
TIMER_FOR_DEADLINE: dict[str, str] = {
    "merchant_response_due_by": "timer.merchant_response_overdue",
    "window_ends_at": "timer.return_window_closed",
    "return_ship_by": "timer.return_not_shipped",
    "inspection_due_by": "timer.inspection_overdue",
    "refund_due_by": "timer.refund_overdue",
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


class CommandRefused(Exception):
    """An operator command the case's state does not allow (HTTP 409 naming the state)."""

    def __init__(self, action: str, state: str) -> None:
        super().__init__(f"{action!r} is not allowed while the case is {state!r}")
        self.action = action
        self.state = state


@dataclass(frozen=True)
class Occurrence:
    """What the conditions of the tables look at: the event's type and the facts it brought."""

    type: str
    resolution: str | None = None
    delivered: bool = False
    inspection_passed: bool | None = None
    refund_amount: Decimal | None = None


def _refund_only_unshipped(case: ReturnCase, o: Occurrence) -> bool:
    return case.return_.resolution == "refund_only" and case.order_state in ("paid", "unpaid")


CONDITIONS: dict[str, Callable[[ReturnCase, Occurrence], bool]] = {
    "always": lambda case, o: True,
    "refund_only_unshipped": _refund_only_unshipped,
    "refund_only_unshipped_auto": lambda case, o: _refund_only_unshipped(case, o) and case.under_auto_refund_limit(),
    "refund_in_transit": lambda case, o: (
        case.return_.resolution in ("refund_only", "refund") and case.order_state == "shipped"
    ),
    "returnless": lambda case, o: case.return_.resolution == "returnless",
    "exchange": lambda case, o: case.return_.resolution in ("exchange", "repair"),
    "passed_exchange": lambda case, o: o.inspection_passed is True and case.return_.resolution == "exchange",
    "passed_repair": lambda case, o: o.inspection_passed is True and case.return_.resolution == "repair",
    "passed": lambda case, o: o.inspection_passed is True,
    "failed": lambda case, o: o.inspection_passed is False,
    "refund_awarded": lambda case, o: o.refund_amount is not None and o.refund_amount > 0,
}


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
    items: tuple = ()
    state: str = CaseState.NEW
    needs_attention: bool = False
    timeline: list[TimelineEntry] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # derived facts kept with the case (deadlines, refund, …)
    created_at: datetime | None = None

    @property
    def order_id(self) -> str:
        return self.order.id

    @property
    def return_id(self) -> str:
        return self.return_.id

    def return_value(self) -> Money | None:
        """What the returned lines are worth, in the payment currency; None while unknown."""
        currency = self.order.currency
        if not currency or not self.items:
            return None
        cents = sum((Decimal(item.unit_price) * item.quantity for item in self.items), Decimal(0))
        return Money(cents, currency)

    @property
    def order_state(self) -> str:
        return self.facts.get("order_state") or ("delivered" if self.order.delivered_at else "paid")

    @property
    def refund_state(self) -> str:
        return self.facts.get("refund_state", "none")

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
        self._merge_facts(event)
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
        )
        return self._take(occurrence, event_id, event.occurred_at, now, decide)

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
        refund_amount = detail.get("refund_amount")
        occurrence = Occurrence(
            type=event_type,
            inspection_passed=detail.get("inspection_passed"),
            refund_amount=Decimal(str(refund_amount)) if refund_amount is not None else None,
        )
        return self._take(occurrence, event_id, now, now, decide)

    def _take(
        self, occurrence: Occurrence, event_id: str, occurred_at: datetime, now: datetime, decide: Decide | None
    ) -> list[Command]:
        moved = False
        actions: tuple[str, ...] = ()
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
                    self.facts.setdefault("milestones", {}).setdefault(milestone, occurred_at.isoformat())
                actions = transition.actions
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
        return [c for action in actions for c in self._perform(action, event_id, now)]

    def _state_of(self, name: str) -> str:
        return {"case": self.state, "order": self.order_state, "refund": self.refund_state}[name]

    def _set_state(self, name: str, target: str) -> None:
        if name == "case":
            self.state = target
        else:
            self.facts[f"{name}_state"] = target

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
        return self._match(LIFECYCLE, self.state, Occurrence(type=event_type, inspection_passed=True))

    def command_allowed(self, action: str) -> bool:
        """Whether an operator command through our API may run in the current state; else answer 409."""
        event_type = OPERATOR_COMMANDS.get(action)
        if event_type is None:
            raise KeyError(f"unknown operator command {action!r}")
        return any(t.event == event_type and self.state in t.sources for t in LIFECYCLE)

    def require_command(self, action: str) -> None:
        if not self.command_allowed(action):
            raise CommandRefused(action, self.state)

    def record_result(self, name: str, detail: dict[str, Any], now: datetime, attention: bool = False) -> None:
        """An adapter's answer (label issued, booking failed) joins the timeline."""
        self.timeline.append(TimelineEntry(now, "result", name, detail))
        if attention:
            self.needs_attention = True

    # --- policy results and timers ----------------------------------------------------------

    def milestones(self) -> dict[str, datetime]:
        return {k: datetime.fromisoformat(v) for k, v in self.facts.get("milestones", {}).items()}

    def record_decision(self, decision: dict[str, Any], now: datetime) -> None:
        """Keep a policy decision's deadlines and refund on the case and schedule one timer per deadline.

        The timeline notes the decision only when it changed something.
        """
        before = (self.facts.get("deadlines"), self.facts.get("refund"), self.facts.get("policy"))
        self.facts["deadlines"] = decision.get("deadlines") or {}
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
        if before != (self.facts["deadlines"], self.facts["refund"], self.facts["policy"]):
            self.timeline.append(TimelineEntry(now, "result", "policy_applied", {"basis": decision.get("basis")}))

    def _schedule_timers(self) -> None:
        """One timer per deadline whose event the case can take in its present state.

        A timer already fired or cancelled stays so; a pending one follows its deadline when it moves, and
        is dropped once the state no longer takes its event (the merchant answered, the goods arrived), so
        it is armed again only when that state comes back. In a final state nothing is pending.
        """
        timers = self.facts.setdefault("timers", {})
        deadlines = self.facts.get("deadlines") or {}
        wanted = {
            TIMER_FOR_DEADLINE[name]: due
            for name, due in deadlines.items()
            if name in TIMER_FOR_DEADLINE and due is not None
        }
        if deadlines.get("return_ship_by"):
            reminder = datetime.fromisoformat(deadlines["return_ship_by"]) - SHIP_BY_REMINDER_BEFORE
            wanted["timer.ship_by_reminder"] = reminder.isoformat()
        for event_type, timer in list(timers.items()):
            pending = timer["fired_at"] is None and not timer["cancelled"]
            if pending and (event_type not in wanted or not self._accepts(event_type)):
                del timers[event_type]
        if self.state in FINAL_STATES:
            return
        for event_type, due in wanted.items():
            timer = timers.get(event_type)
            if timer is None and self._accepts(event_type):
                timers[event_type] = {"due_at": due, "fired_at": None, "cancelled": False}
            elif timer is not None and timer["fired_at"] is None and not timer["cancelled"]:
                timer["due_at"] = due

    def _accepts(self, event_type: str) -> bool:
        """Whether some row of the case, order or refund table takes `event_type` in the present states."""
        return any(
            row.event == event_type and self._state_of(name) in row.sources
            for name, table in LIFECYCLES.items()
            for row in table
        )

    def due_timers(self, now: datetime) -> list[str]:
        """Timers due and not yet fired or cancelled, earliest first."""
        pending = [
            (datetime.fromisoformat(t["due_at"]), name)
            for name, t in self.facts.get("timers", {}).items()
            if t["fired_at"] is None and not t["cancelled"]
        ]
        return [name for due, name in sorted(pending) if due <= now]

    def next_timer_due(self) -> datetime | None:
        pending = [
            datetime.fromisoformat(t["due_at"])
            for t in self.facts.get("timers", {}).values()
            if t["fired_at"] is None and not t["cancelled"]
        ]
        return min(pending) if pending else None

    def fire_timer(self, event_type: str, now: datetime, decide: Decide | None = None) -> list[Command]:
        """Fire a due timer once, as an event on the case; one outliving its state lapses quietly."""
        timer = self.facts.get("timers", {}).get(event_type)
        if timer is None or timer["fired_at"] is not None or timer["cancelled"]:
            return []
        timer["fired_at"] = now.isoformat()
        event_id = f"{self.id}:{event_type}:{timer['due_at']}"
        if not self._accepts(event_type):
            self.timeline.append(
                TimelineEntry(now, "result", "timer_lapsed", {"timer": event_type, "state": self.state})
            )
            return []
        return self.apply_internal(event_type, event_id, now, {"due_at": timer["due_at"]}, decide)

    # --- actions -----------------------------------------------------------------------------

    def _perform(self, action: str, event_id: str, now: datetime) -> list[Command]:
        if action.startswith("notify:"):
            return self._add_notice(action.split(":", 1)[1], now)
        handler = _ACTIONS.get(action)
        if handler is None:
            raise ValueError(f"lifecycle names an unknown action {action!r}")
        return handler(self, now)

    def _book_return_shipment(self, now: datetime) -> list[Command]:
        """The event's carrier, else the one the lane routing table chose (`facts["carrier_route"]`, issue 8)."""
        carrier = self.return_.carrier or (self.facts.get("carrier_route") or {}).get("carrier")
        if not carrier:
            return []
        return [
            Command(
                kind="carrier",
                adapter=carrier,
                action="book_return",
                idempotency_key=f"{self.id}:return_shipment",
                payload={"case_id": self.id, "pickup": bool(self.return_.pickup)},
            )
        ]

    def _issue_refund(self, now: datetime) -> list[Command]:
        """Refund by the original payment route through the marketplace (seeds 000, 003)."""
        self.facts["refund_state"] = "requested"
        attempt = sum(1 for e in self.timeline if e.kind == "result" and e.name == "refund_issued")
        self.timeline.append(TimelineEntry(now, "result", "refund_issued", {"attempt": attempt + 1}))
        refund = self.facts.get("refund") or {}
        value = self.return_value()
        payload: dict[str, Any] = {"case_id": self.id, "order_id": self.order_id, "return_id": self.return_id}
        agreed = self.facts.get("agreed_refund")
        if agreed:
            payload["amount"] = dict(agreed)
        elif refund.get("amount"):
            payload["amount"] = {"amount": refund["amount"], "currency": refund["currency"]}
        elif value is not None:
            payload["amount"] = value.to_json()
        return [Command("marketplace", self.marketplace, "refund", f"{self.id}:refund:{attempt + 1}", payload)]

    def _intercept_parcel(self, now: datetime) -> list[Command]:
        """Seed 002 §2: ask the carrier of the outbound parcel to intercept it."""
        carrier = self.facts.get("outbound_carrier") or self.return_.carrier
        if not carrier:
            self.record_result("interception_needs_carrier", {}, now, attention=True)
            return []
        payload = {"case_id": self.id, "order_id": self.order_id, "tracking": self.facts.get("outbound_tracking")}
        return [Command("carrier", carrier, "intercept", f"{self.id}:intercept", payload)]

    def _cancel_timers(self, now: datetime) -> list[Command]:
        for timer in self.facts.get("timers", {}).values():
            if timer["fired_at"] is None:
                timer["cancelled"] = True
        return []

    def _flag_attention(self, now: datetime) -> list[Command]:
        self.needs_attention = True
        return []

    def _add_notice(self, kind: str, now: datetime) -> list[Command]:
        """Record a buyer notice with the facts it shows, and one send command per channel (core/notices.py).

        A withdrawal under EU law is also confirmed on a durable medium (Directive 2011/83/EU art. 11(3)).
        """
        kinds = [kind]
        policy = self.facts.get("policy") or {}
        if kind == "request_received" and "eu_withdrawal" in (policy.get("right"), policy.get("basis")):
            kinds.append("withdrawal_confirmation")
        commands: list[Command] = []
        for name in kinds:
            if any(n.kind == name for n in self.notices):
                continue
            self.notices.append(Notice(name, now, notice_context(name, self._notice_facts(), now)))
            self.timeline.append(TimelineEntry(now, "notice", name, {}))
            commands.extend(
                Command("notify", channel, "send", delivery_key(self.id, name, channel), {"notice": name})
                for channel in CHANNELS
            )
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
            "carrier": self.return_.carrier or (self.facts.get("carrier_route") or {}).get("carrier"),
            "pickup": self.return_.pickup,
            "passed": inspection.passed if inspection else None,
            "note": inspection.note if inspection else None,
            "tracking_number": self.facts.get("return_tracking"),
            "deadlines": self.facts.get("deadlines") or {},
            "last_days": (self.facts.get("policy") or {}).get("last_days") or {},
            "milestones": self.facts.get("milestones") or {},
        }

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
        self.return_ = _merge(self.return_, event.return_)
        if event.items:
            self.items = event.items
        if event.type == "return.shipped" and event.tracking and event.tracking.number:
            # The buyer's parcel back to us: its number goes in the "on its way" notice (seed 003).
            self.facts["return_tracking"] = event.tracking.number
        if event.type == "return.requested" and event.tracking and self.order_state == "paid":
            # Asked before delivery with the outbound parcel's tracking: the goods are on their way
            # (seed 002 §2 货在途), so the order is shipped and that parcel is the one to intercept.
            self.facts["order_state"] = "shipped"
            self.facts["outbound_carrier"] = event.tracking.carrier
            self.facts["outbound_tracking"] = event.tracking.number


def _marketplace_command(case: ReturnCase, action: str) -> list[Command]:
    """A call back to the marketplace (seed 004 WMS cancel, seed 002 compensation, seed 000 exchange)."""
    payload = {"case_id": case.id, "order_id": case.order_id, "return_id": case.return_id}
    return [Command("marketplace", case.marketplace, action, f"{case.id}:{action}", payload)]


_ACTIONS: dict[str, Callable[[ReturnCase, datetime], list[Command]]] = {
    "book_return_shipment": ReturnCase._book_return_shipment,
    "issue_refund": ReturnCase._issue_refund,
    "intercept_parcel": ReturnCase._intercept_parcel,
    "intercept_in_warehouse": lambda case, now: _marketplace_command(case, "cancel_order"),
    "issue_compensation": lambda case, now: _marketplace_command(case, "compensate"),
    "ship_exchange": lambda case, now: _marketplace_command(case, "ship_exchange"),
    "cancel_timers": ReturnCase._cancel_timers,
    "flag_attention": ReturnCase._flag_attention,
}


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
    """A new case for a return seen for the first time; no event is applied yet."""
    return ReturnCase(
        id=case_id,
        marketplace=marketplace,
        order=event.order,
        return_=event.return_,
        items=event.items,
        created_at=now,
    )
