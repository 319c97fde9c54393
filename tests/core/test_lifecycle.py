"""Walk every row of the order, case and refund tables (DOMAIN.md §5, the method of seed 004)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from core.case_parts import TableStates
from core.cases import OPERATOR_COMMANDS, CommandRefused, ReturnCase
from core.events import Item, Order, ReturnRequest
from core.ledger import LedgerLine
from core.lifecycle import LIFECYCLES, CaseState, Transition
from core.lifecycle_diagram import document
from core.money import Money

NOW = datetime(2026, 11, 10, 9, 0, tzinfo=UTC)

_LIMIT = {"amount": "100", "currency": "EUR"}


def _PAYOUT(status: str) -> LedgerLine:
    return LedgerLine("refund", Money.of("40.00", "EUR"), NOW, status)


# How to make each named condition hold: (resolution, order_state, facts, detail)
SETUPS = {
    "always": ("refund", "delivered", {}, {}),
    "refund_only_unshipped_auto": (
        "refund_only",
        "paid",
        {"auto_refund_under": {"amount": "100", "currency": "EUR"}},
        {},
    ),
    "refund_only_unshipped": ("refund_only", "paid", {}, {}),
    "refund_in_transit": ("refund_only", "shipped", {}, {}),
    "returnless": ("returnless", "delivered", {}, {}),
    "exchange": ("exchange", "delivered", {}, {}),
    "passed_exchange": ("exchange", "delivered", {}, {"inspection_passed": True}),
    "passed_repair": ("repair", "delivered", {}, {"inspection_passed": True}),
    "passed": ("refund", "delivered", {}, {"inspection_passed": True}),
    "failed": ("refund", "delivered", {}, {"inspection_passed": False}),
    "refund_awarded": ("refund", "delivered", {}, {"refund_amount": "10.00"}),
    "order_page_without_request": ("refund", "delivered", {"order_page": True}, {}),
    # Issue 19: eligibility, merchant rules, cancellation, refunds that failed, awards already paid.
    "eligible": ("refund", "delivered", {"policy": {"eligible": True}}, {}),
    "ineligible": ("refund", "delivered", {"policy": {"eligible": False}}, {}),
    "ineligible_held": (
        "refund",
        "delivered",
        {"policy": {"eligible": False}, "merchant_rules": {"ineligible_on_silence": "needs_attention"}},
        {},
    ),
    "auto_approve": (
        "refund",
        "delivered",
        {"policy": {"eligible": True}, "merchant_rules": {"auto_approve_returns": {"under": _LIMIT}}},
        {},
    ),
    "unpaid_order": ("refund", "unpaid", {}, {}),
    "after_final_check": ("refund", "paid", {"_order": {"warehouse_checked_at": NOW}}, {}),
    "refund_already_issued": ("refund_only", "paid", {"ledger": [_PAYOUT("requested")]}, {}),
    "refund_retryable": ("refund", "delivered", {"ledger": [_PAYOUT("failed")]}, {}),
    "award_covered": ("refund", "delivered", {"ledger": [_PAYOUT("paid")]}, {"refund_amount": "10.00"}),
}
SETUPS.update(
    {
        f"eligible_{name}": (resolution, order_state, {**facts, "policy": {"eligible": True}}, detail)
        for name, (resolution, order_state, facts, detail) in list(SETUPS.items())
        if not name.startswith(("eligible", "ineligible"))
    }
)

ROWS = [
    pytest.param(name, row, source, id=f"{name}:{source}-{row.event}[{row.condition}]->{row.target}")
    for name, table in LIFECYCLES.items()
    for row in table
    for source in sorted(row.sources)
]


def make_case(state: str, resolution: str, order_state: str, facts: dict) -> ReturnCase:
    facts = dict(facts)
    case = ReturnCase(
        id="case-1",
        marketplace="generic",
        order=Order(id="O-1", currency="EUR", **facts.pop("_order", {})),
        return_=ReturnRequest(id="R-1", resolution=resolution, carrier="dhl_express"),
        items=(Item(sku="A", quantity=1, unit_price=Decimal("40.00")),),
        state=state,
        tables=TableStates(order=order_state, refund=facts.pop("refund_state", "none")),
        order_page=facts.pop("order_page", False),
        ledger=list(facts.pop("ledger", [])),
    )
    case.facts.update(facts)
    return case


@pytest.mark.parametrize(("table", "row", "source"), ROWS)
def test_every_row_of_every_lifecycle_table_leads_where_it_says(table: str, row: Transition, source: str):
    resolution, order_state, facts, detail = SETUPS[row.condition]
    states = {"case": CaseState.NEW, "order": order_state, "refund": "none"}
    states[table] = source
    case = make_case(states["case"], resolution, states["order"], facts)
    case.tables = TableStates(order=case.tables.order, refund=states["refund"])
    case.apply_internal(row.event, "evt-1", NOW, dict(detail))
    reached = {"case": case.state, "order": case.order_state, "refund": case.refund_state}[table]
    assert reached == row.target
    assert row.source_doc, "every row cites its source"


def test_an_event_the_state_does_not_allow_is_kept_and_flags_attention():
    case = make_case(CaseState.REFUNDED, "refund", "delivered", {})
    assert case.apply_internal("return.shipped", "evt-9", NOW) == []
    assert case.state == CaseState.REFUNDED and case.needs_attention
    assert [e.name for e in case.timeline] == ["return.shipped", "event_not_allowed"]


def test_operator_command_the_state_forbids_is_refused_naming_the_state():
    case = make_case(CaseState.REFUNDED, "refund", "delivered", {})
    assert not case.command_allowed("approve")
    with pytest.raises(CommandRefused) as refused:
        case.require_command("approve")
    assert refused.value.state == "refunded"
    assert make_case(CaseState.REQUESTED, "refund", "delivered", {}).command_allowed("approve")


def test_every_operator_command_names_an_event_of_the_case_table():
    events = {row.event for row in LIFECYCLES["case"]}
    assert set(OPERATOR_COMMANDS.values()) <= events


def test_merchant_silence_past_the_deadline_means_agreed_and_fires_once():
    """DOMAIN §2 默认同意 (seeds 003, 004)."""
    case = make_case(CaseState.REQUESTED, "refund", "delivered", {})
    due = NOW + timedelta(days=3)
    case.record_decision({"deadlines": {"merchant_response_due_by": due.isoformat()}, "basis": "eu_withdrawal"}, NOW)
    assert case.due_timers(NOW) == []
    assert case.due_timers(due) == ["timer.merchant_response_overdue"]
    commands = case.fire_timer("timer.merchant_response_overdue", due)
    assert case.state == CaseState.APPROVED
    assert [c.routing_key for c in commands if c.kind != "notify"] == ["carrier.dhl_express.book_return"]
    assert case.fire_timer("timer.merchant_response_overdue", due) == []
    assert case.due_timers(due + timedelta(days=1)) == []


def test_the_buyer_is_reminded_once_two_days_before_the_ship_by_deadline():
    """DOMAIN §5: a reminder before the ship-by deadline; the case stays approved."""
    case = make_case(CaseState.APPROVED, "refund", "delivered", {})
    ship_by = NOW + timedelta(days=7)
    case.record_decision({"deadlines": {"return_ship_by": ship_by.isoformat()}, "basis": "eu_withdrawal"}, NOW)
    reminder_at = ship_by - timedelta(days=2)
    assert case.due_timers(reminder_at - timedelta(minutes=1)) == []
    assert case.due_timers(reminder_at) == ["timer.ship_by_reminder"]
    commands = case.fire_timer("timer.ship_by_reminder", reminder_at)
    assert case.state == CaseState.APPROVED
    assert {c.kind for c in commands} == {"notify"}
    assert [n.kind for n in case.notices] == ["ship_by_reminder"]
    assert case.fire_timer("timer.ship_by_reminder", reminder_at) == []
    assert case.due_timers(ship_by) == ["timer.return_not_shipped"]


def test_no_reminder_once_the_return_is_on_its_way():
    case = make_case(CaseState.APPROVED, "refund", "delivered", {})
    ship_by = NOW + timedelta(days=7)
    case.record_decision({"deadlines": {"return_ship_by": ship_by.isoformat()}, "basis": "eu_withdrawal"}, NOW)
    case.apply_internal("return.shipped", "evt-2", NOW)
    case.record_decision({"deadlines": {"return_ship_by": ship_by.isoformat()}, "basis": "eu_withdrawal"}, NOW)
    assert case.due_timers(ship_by) == []


def test_a_stopped_parcel_and_a_dispute_outcome_are_told_to_the_buyer():
    """Seed 002 §2 (interception result) and DOMAIN §7 (dispute updates) are buyer-visible moments."""
    intercepting = make_case(CaseState.INTERCEPTING, "refund_only", "shipped", {})
    intercepting.apply_internal("interception.succeeded", "evt-3", NOW)
    assert [n.kind for n in intercepting.notices] == ["interception_succeeded"]
    disputed = make_case(CaseState.PLATFORM_INTERVENTION, "refund", "delivered", {})
    disputed.apply_internal("dispute.resolved", "evt-4", NOW)
    assert disputed.state == CaseState.CLOSED
    assert [n.kind for n in disputed.notices] == ["dispute_resolved_for_seller"]


def test_timer_outliving_its_state_lapses_without_attention():
    case = make_case(CaseState.INSPECTING, "refund", "delivered", {})
    case.record_decision({"deadlines": {"inspection_due_by": NOW.isoformat()}}, NOW)
    case.apply_internal("dispute.opened", "evt-6", NOW)  # moved without a new decision
    assert case.fire_timer("timer.inspection_overdue", NOW) == []
    assert case.state == CaseState.PLATFORM_INTERVENTION
    # Gone or lapsed: the dispute armed a timer of its own (issue 19: evidence deadline), which drops it.
    assert not case.needs_attention and "timer.inspection_overdue" not in case.due_timers(NOW)
    assert "timer.evidence_overdue" in case.timers
    assert case.due_timers(NOW + timedelta(days=1)) == []


def test_a_timer_is_armed_only_while_the_state_takes_its_event():
    decision = {"deadlines": {"inspection_due_by": NOW.isoformat()}}
    case = make_case(CaseState.APPROVED, "refund", "delivered", {})
    case.record_decision(decision, NOW)
    assert case.timers == {}
    case.apply_internal("return.received", "evt-7", NOW, decide=lambda c: decision)
    assert case.state == CaseState.INSPECTING
    assert case.due_timers(NOW) == ["timer.inspection_overdue"]
    case.apply_internal("return.inspected", "evt-8", NOW, {"inspection_passed": True}, decide=lambda c: decision)
    assert case.timers == {}, "the merchant inspected in time: the timer is dropped"


def test_no_timer_is_scheduled_in_a_final_state():
    case = make_case(CaseState.REFUNDED, "refund", "delivered", {})
    case.record_decision({"deadlines": {"inspection_due_by": NOW.isoformat()}}, NOW)
    assert case.timers == {} and case.next_timer_due() is None


def test_a_cancelled_timer_stays_cancelled_when_its_deadline_moves():
    case = make_case(CaseState.REFUND_PROCESSING, "refund", "delivered", {"refund_state": "requested"})
    case.record_decision({"deadlines": {"refund_due_by": NOW.isoformat()}}, NOW)
    case.apply_internal("return.cancelled", "evt-4", NOW)  # not allowed here: kept, flagged
    case._cancel_timers(NOW)
    later = NOW + timedelta(days=2)
    case.record_decision({"deadlines": {"refund_due_by": later.isoformat()}}, NOW)
    assert case.due_timers(later + timedelta(days=1)) == []


def test_a_pending_timer_follows_its_deadline_and_the_decision_is_noted_only_when_it_changes():
    case = make_case(CaseState.REQUESTED, "refund", "delivered", {})
    decision = {"deadlines": {"merchant_response_due_by": NOW.isoformat()}, "basis": "eu_withdrawal"}
    case.record_decision(decision, NOW)
    case.record_decision(decision, NOW)
    assert [e.name for e in case.timeline] == ["policy_applied"]
    later = NOW + timedelta(days=1)
    case.record_decision({**decision, "deadlines": {"merchant_response_due_by": later.isoformat()}}, NOW)
    assert case.due_timers(NOW) == [] and case.due_timers(later) == ["timer.merchant_response_overdue"]


def test_the_decision_is_taken_before_the_actions_so_the_refund_command_carries_its_amount():
    case = make_case(CaseState.INSPECTING, "refund", "delivered", {})
    seen: list[str] = []

    def decide(c: ReturnCase) -> dict:
        seen.append(c.state)
        refund = {"currency": "EUR", "amount": "44.89", "goods": "40.00", "original_delivery": "4.89"}
        return {"deadlines": {}, "refund": refund, "basis": "eu_withdrawal"}

    commands = case.apply_internal("return.inspected", "evt-5", NOW, {"inspection_passed": True}, decide)
    [command] = [c for c in commands if c.kind != "notify"]
    assert seen == [CaseState.REFUND_PROCESSING]
    assert command.payload["amount"] == {"amount": "44.89", "currency": "EUR"}
    assert case.milestones["inspected_at"] == NOW


def test_refund_paid_cancels_pending_timers():
    case = make_case(CaseState.REFUND_PROCESSING, "refund", "delivered", {"refund_state": "requested"})
    case.record_decision({"deadlines": {"refund_due_by": (NOW + timedelta(days=5)).isoformat()}}, NOW)
    case.apply_internal("refund.completed", "evt-2", NOW)
    assert case.state == CaseState.REFUNDED and case.refund_state == "paid"
    assert case.due_timers(NOW + timedelta(days=10)) == []


def test_refund_overdue_sends_no_second_payout_while_one_is_on_its_way_and_retries_a_failed_one():
    """DOMAIN §2 (seeds 003, 004): an unprocessed refund is paid out, once (issue 19: no second refund)."""
    case = make_case(CaseState.INSPECTING, "refund", "delivered", {})
    first = case.apply_internal("return.inspected", "evt-3", NOW, {"inspection_passed": True})
    case.record_decision({"deadlines": {"refund_due_by": NOW.isoformat()}}, NOW)
    again = case.fire_timer("timer.refund_overdue", NOW)
    assert [c.action for c in first + again if c.kind != "notify"] == ["refund"]
    assert case.needs_attention and "refund_outstanding" in [e.name for e in case.timeline]
    case.apply_internal("refund.failed", "evt-4", NOW)
    retry_at = case.case_deadlines["refund_retry_at"]
    assert retry_at == NOW + timedelta(hours=4)
    assert case.due_timers(retry_at) == ["timer.refund_retry"]
    retried = [c for c in case.fire_timer("timer.refund_retry", retry_at) if c.kind != "notify"]
    assert [c.action for c in retried] == ["refund"]
    assert retried[0].idempotency_key != first[0].idempotency_key
    assert retried[0].payload["amount"] == first[0].payload["amount"]


def test_diagram_shows_every_row():
    text = document()
    for table in LIFECYCLES.values():
        for row in table:
            for source in row.sources:
                assert f"{source} --> {row.target}: {row.event}" in text


def test_readme_shows_the_diagram_generated_from_the_tables():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert document().strip() in readme, "regenerate with: python -m core.lifecycle_diagram"


def test_an_awarded_refund_is_the_amount_the_refund_command_pays():
    """DOMAIN §7: the platform's award is paid, not the policy's full refund."""
    case = make_case(CaseState.PLATFORM_INTERVENTION, "refund", "delivered", {"refund": {"amount": "40.00"}})
    commands = case.apply_internal("dispute.resolved", "evt-10", NOW, {"refund_amount": "30.00"})
    [command] = [c for c in commands if c.kind != "notify"]
    assert command.payload["amount"] == {"amount": "30.00", "currency": "EUR"}
    assert [n.kind for n in case.notices] == ["dispute_resolved_for_buyer"]


def test_a_request_before_delivery_with_the_outbound_tracking_means_the_parcel_is_in_transit():
    """Seed 002 §2 货在途退款: intercept the outbound parcel with its carrier."""
    from core.events import ReturnEvent, Tracking

    case = make_case(CaseState.NEW, "refund", "paid", {})
    case.tables = TableStates()  # the order's own facts say it is paid
    event = ReturnEvent(
        "return.requested", "e-1", NOW, case.order, case.return_, case.items, Tracking("sf_express", "SF123")
    )
    [command] = [c for c in case.apply(event, "evt-11", NOW) if c.kind != "notify"]
    assert case.state == CaseState.INTERCEPTING and case.order_state == "shipped"
    assert command.routing_key == "carrier.sf_express.intercept" and command.payload["tracking"] == "SF123"
