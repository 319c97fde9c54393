"""The lifecycle tables of a return case: for each state, which actor may cause which event, and what follows.

Three tables (DOMAIN.md §5, the method of seed 004): the after-sales case (`LIFECYCLE`), the order
(`ORDER_LIFECYCLE`) and the refund (`REFUND_LIFECYCLE`). Each row names its source in the seeds; a
row's condition is a name in `CONDITIONS`, read against the case and what happened (`Occurrence`).
The aggregate that walks these tables is `core.cases.ReturnCase`; `core.lifecycle_diagram` draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.cases import ReturnCase


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
    # Issue 19: an order seen before payment, a late request accepted, refunds retried, answers overdue.
    "order.placed": "buyer",
    "return.accepted_late": "merchant",
    "refund.retry": "merchant",
    "timer.refund_retry": "system_timer",
    "timer.warehouse_answer_overdue": "system_timer",
    "timer.evidence_overdue": "system_timer",
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
    (
        "refund_only_unshipped",
        S.REFUND_PROCESSING,
        ("stop_warehouse", "issue_refund", "notify:return_approved"),
        "seed 002 §1; seed 004 §2 (WMS interception)",
    ),
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
        "stop_warehouse",
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
    _row(
        "new",
        "return.requested",
        S.APPROVED,
        "book_return_shipment",
        "notify:return_approved",
        when="auto_approve",
        source_doc="seed 000 §一(二)2 (simple requests approved at once); seed 002 §3 自动同意退货",
    ),
    _row("new rejected", "return.requested", S.REQUESTED, "notify:request_received", source_doc="seed 000 §status"),
    _row("new", "order.placed", S.NEW, source_doc="seed 004 §3.1.1 (an order awaiting payment)"),
    _row(
        "new",
        "timer.payment_overdue",
        S.CANCELLED,
        "release_reservations",
        "cancel_timers",
        when="unpaid_order",
        source_doc="seed 004 §3.1.1 (超时未支付,系统自动取消订单)",
    ),
    _row(
        "new",
        "order.cancel_requested",
        S.CANCELLED,
        "release_reservations",
        "cancel_timers",
        when="unpaid_order",
        source_doc="seed 004 §2.1 (nothing paid: nothing to refund)",
    ),
    _row(
        "new",
        "order.cancel_requested",
        S.CLOSED,
        "notify:cancellation_refused",
        when="after_final_check",
        source_doc="seed 004 §3.1 (仓库复核完成后,用户就不能再发起订单取消)",
    ),
    _row("new", "exchange.requested", S.REQUESTED, "notify:request_received", source_doc="seed 000; seed 001 §2.3"),
    _row(
        "expired",
        "return.requested",
        S.REQUESTED,
        "notify:request_received",
        when="order_page_without_request",
        source_doc="contract 'Buyer pages': a later return of an order joins its page, after the window too",
    ),
    _row(
        "new",
        "order.cancel_requested",
        S.CANCELLING,
        "stop_warehouse",
        source_doc="seed 004 §2 (paid, not shipped: WMS interception)",
    ),
    _row(
        "cancelling",
        "order.cancel_confirmed",
        S.REFUND_PROCESSING,
        "issue_refund",
        "release_reservations",
        source_doc="seed 004 §3.3 (原路退还, coupons and stock released)",
    ),
    _row(
        "cancelling",
        "timer.merchant_response_overdue",
        S.REFUND_PROCESSING,
        "issue_refund",
        "release_reservations",
        "flag_attention",
        source_doc="DOMAIN §2: a refund the merchant leaves unprocessed is paid out automatically (seeds 003, 004)",
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
            ("timer.merchant_response_overdue", "; DOMAIN §2 默认同意 (seeds 003, 004), for eligible requests"),
        )
        for when, target, actions, doc in _APPROVAL_ROWS
        for when in ([when] if event == "return.approved" else [f"eligible_{when}"])
    ),
    _row(
        "requested",
        "timer.merchant_response_overdue",
        S.REQUESTED,
        "flag_attention",
        when="ineligible_held",
        source_doc="issue 19: merchant policy holds an ineligible request for a person",
    ),
    _row(
        "requested",
        "timer.merchant_response_overdue",
        S.REJECTED,
        "record_rejection",
        "notify:return_rejected",
        when="ineligible",
        source_doc="seed 001 §5.2.2 (a late request is void); DOMAIN §3 (excluded goods)",
    ),
    *(
        _row(
            "requested rejected",
            "return.accepted_late",
            target,
            "record_late_acceptance",
            *actions,
            when=when,
            source_doc=doc + suffix,
        )
        for suffix in ("; seed 002 FAQ 2 (late request accepted, the parcel could not be collected)",)
        for when, target, actions, doc in _APPROVAL_ROWS
    ),
    _row(
        "requested",
        "return.rejected",
        S.REJECTED,
        "record_rejection",
        "notify:return_rejected",
        source_doc="seed 000; seed 002 FAQ 5 (appeal)",
    ),
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
        "cancel_timers",
        source_doc="seed 002 §3(1) (money or a gift instead of a return); seed 000 (staff authority)",
    ),
    _row(
        "requested",
        "reship.sent",
        S.COMPENSATED,
        "book_outbound_shipment",
        "notify_outbound",
        "cancel_timers",
        source_doc="seed 002 FAQ 4 (补发, with the tracking number)",
    ),
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
        "record_rejection",
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
        "record_refund_paid",
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
        "record_refund_failed",
        "notify:refund_failed",
        "flag_attention",
        source_doc="seed 000, 003 (refund by the original route; a failure is retried and the buyer told)",
    ),
    *(
        _row(
            "refund_processing",
            event,
            S.REFUND_PROCESSING,
            "issue_refund",
            when="refund_retryable",
            source_doc="seed 003 (unprocessed refunds are paid out automatically): a failed refund is tried again",
        )
        for event in ("refund.retry", "timer.refund_retry")
    ),
    _row(
        "exchange_processing",
        "exchange.shipped",
        S.EXCHANGED,
        "book_outbound_shipment",
        "notify_outbound",
        "cancel_timers",
        source_doc="seed 000 (key moment: exchange shipped, with tracking)",
    ),
    _row(
        "repair_processing",
        "repair.shipped",
        S.REPAIRED,
        "book_outbound_shipment",
        "notify_outbound",
        "cancel_timers",
        source_doc="seed 000; seed 002 §3(2)",
    ),
    _row(
        "new requested rejected approved return_in_transit inspecting interception_failed",
        "dispute.opened",
        S.PLATFORM_INTERVENTION,
        "open_dispute",
        "notify:dispute_opened",
        source_doc="seed 002 (平台介入); seed 004; DOMAIN §7",
    ),
    _row(
        "platform_intervention",
        "timer.evidence_overdue",
        S.PLATFORM_INTERVENTION,
        "evidence_overdue",
        source_doc="seed 002 FAQ 5 (逾期未提供或舉證無效不支持申訴)",
    ),
    _row(
        "platform_intervention",
        "dispute.resolved",
        S.REFUNDED,
        "issue_refund",
        "notify:dispute_resolved_for_buyer",
        "cancel_timers",
        when="award_covered",
        source_doc="seed 004 (the deposit pays an award): what was refunded already counts, one payout",
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

# Seed 001 §3.3.3: a buyer unhappy with the refund or exchange may object after completion (提出异议),
# which reopens a finished case as a dispute. Kept apart so the states stay final for everything else.
OBJECTION_ROWS: tuple[Transition, ...] = (
    _row(
        "refunded exchanged repaired compensated closed",
        "dispute.opened",
        S.PLATFORM_INTERVENTION,
        "open_dispute",
        "notify:dispute_opened",
        source_doc="seed 001 §3.3.3 (objection after completion)",
    ),
)
LIFECYCLE = LIFECYCLE + OBJECTION_ROWS

# The order (seed 004 §2-3): paid, shipped, delivered; cancellation before shipment; interception in transit.
ORDER_LIFECYCLE: tuple[Transition, ...] = (
    _row(
        "unpaid", "timer.payment_overdue", "cancelled", source_doc="seed 004 §3.1.1 (unpaid orders cancel after 24 h)"
    ),
    _row("paid", "order.shipped", "shipped", source_doc="seed 004 §2"),
    _row("paid shipped", "order.delivered", "delivered", source_doc="seed 002 FAQ 2 (物流显示签收)"),
    _row(
        "delivered",
        "order.delivered",
        "delivered",
        source_doc="contract 'Buyer pages': the delivery reported again, or after the return that opened the case",
    ),
    _row("unpaid", "order.cancel_requested", "cancelled", source_doc="seed 004 §2.1 (unpaid: cancelled at once)"),
    _row(
        "paid",
        "order.cancel_requested",
        "paid",
        when="after_final_check",
        source_doc="seed 004 §3.1 (after the warehouse's final check the order cannot be cancelled)",
    ),
    _row("paid", "order.cancel_requested", "cancel_requested", source_doc="seed 004 §2.4 (WMS interception)"),
    _row(
        "cancel_requested",
        "timer.warehouse_answer_overdue",
        "cancel_requested",
        "warehouse_task",
        source_doc="seed 002 §2 (跟进拦截货物状态): no answer from the warehouse, a person follows up",
    ),
    _row(
        "cancel_requested",
        "order.cancel_refused",
        "paid",
        "flag_attention",
        when="refund_already_issued",
        source_doc="seed 004 §2.4: the refund went out at once (0秒退) and the goods ship anyway",
    ),
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
    _row("failed", "refund.retry", "requested", source_doc="issue 19: an operator retries a failed refund"),
    _row("failed", "timer.refund_retry", "requested", source_doc="seed 003 (automatic payout): retried by timer"),
)

# States no row of the case table leaves: nothing more can happen, so no timer is scheduled there.
FINAL_STATES: frozenset[str] = frozenset(
    {row.target for row in LIFECYCLE}
    - {source for row in LIFECYCLE if row not in OBJECTION_ROWS for source in row.sources}
)

LIFECYCLES: dict[str, tuple[Transition, ...]] = {
    "case": LIFECYCLE,
    "order": ORDER_LIFECYCLE,
    "refund": REFUND_LIFECYCLE,
}


@dataclass(frozen=True)
class Occurrence:
    """What the conditions of the tables look at: the event's type and the facts it brought."""

    type: str
    resolution: str | None = None
    delivered: bool = False
    inspection_passed: bool | None = None
    refund_amount: Decimal | None = None
    # What the actions record (issue 19): a rejection's reason and appeal deadline, a dispute's type and
    # evidence deadline, an operator's note and the rest of its command.
    rejection_reason: str | None = None
    appeal_due_by: datetime | None = None
    dispute_type: str | None = None
    evidence_due_by: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


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
    # An order's page (opened by order.delivered) whose window closed before any return was asked for.
    "order_page_without_request": lambda case, o: case.order_page and not case.requested,
    # Issue 19: the policy's eligibility decides what merchant silence does; merchant policy what is automatic.
    "eligible": lambda case, o: case.eligible(),
    "ineligible": lambda case, o: not case.eligible(),
    "ineligible_held": lambda case, o: not case.eligible() and case.rule("ineligible_on_silence") == "needs_attention",
    "auto_approve": lambda case, o: case.auto_approvable(),
    "unpaid_order": lambda case, o: case.state_before("order") == "unpaid",
    "after_final_check": lambda case, o: case.order.warehouse_checked_at is not None,
    "refund_already_issued": lambda case, o: any(line.payout for line in case.ledger),
    "refund_retryable": lambda case, o: case.refund_retryable(),
    "award_covered": lambda case, o: (
        o.refund_amount is not None and o.refund_amount > 0 and case.award_already_paid(o.refund_amount)
    ),
}


def _when_eligible(condition: Callable[[ReturnCase, Occurrence], bool]) -> Callable[[ReturnCase, Occurrence], bool]:
    """The condition, for a request the policy admits (merchant silence approves only those, issue 19)."""
    return lambda case, o: case.eligible() and condition(case, o)


for _name in list(CONDITIONS):
    if _name not in ("always", "eligible", "ineligible") and not _name.startswith("eligible_"):
        CONDITIONS[f"eligible_{_name}"] = _when_eligible(CONDITIONS[_name])
CONDITIONS["eligible_always"] = CONDITIONS["eligible"]
