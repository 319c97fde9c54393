"""A case's typed parts in storage: times are aware datetimes in the case, ISO text in the stored JSON,
and rows saved before the parts were typed load unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, update

from adapters.storage.case_record import facts_json, typed_parts
from adapters.storage.models import CaseRow, CaseTimerRow
from adapters.storage.unit_of_work import new_id
from core.case_parts import CustomsDeclaration, LateAcceptance, MarketplaceReturn, Parcel, TableStates, Timer
from core.cases import open_case
from core.customs import CustomsFacts, customs_plan
from core.ledger import LedgerLine
from core.money import Money
from core.routing import CarrierRoute
from service.canonical import load_event
from tests.conftest import unique_event

NOW = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)

# A `facts` column as cases were saved before ReturnCase was typed (the keys the typed parts now hold).
STORED_BEFORE = {
    "order_state": "cancel_requested",
    "refund_state": "failed",
    "timers": {
        "timer.refund_retry": {"due_at": "2026-11-10T13:30:00+00:00", "fired_at": None, "cancelled": False},
        "timer.merchant_response_overdue": {
            "due_at": "2026-11-12T09:30:00+00:00",
            "fired_at": "2026-11-12T09:31:05.250000+00:00",
            "cancelled": False,
        },
        "timer.inspection_overdue": {"due_at": "2026-11-20T00:00:00+08:00", "fired_at": None, "cancelled": True},
    },
    "case_deadlines": {"refund_retry_at": "2026-11-10T13:30:00+00:00"},
    "milestones": {"requested_at": "2026-11-09T08:00:00+00:00", "approved_at": "2026-11-09T10:00:00+00:00"},
    "carrier_route": {"carrier": None, "lane": "US->CN", "source": "routing_table", "reason": "no carrier route"},
    "order_page": True,
    "marketplace_return": {"status": "accepted", "return_id": "RMA-9", "withdrawal_return_id": "W-O-1"},
    "ledger": [
        {
            "kind": "refund",
            "amount": "40.00",
            "currency": "EUR",
            "at": "2026-11-10T09:30:00+00:00",
            "status": "failed",
            "key": "case_old:refund:1",
        },
        {
            "kind": "deduction",
            "amount": "4.50",
            "currency": "EUR",
            "at": "2026-11-10T09:30:00+00:00",
            "status": "applied",
            "reason": "return_label",
        },
        {"kind": "refund", "amount": None, "currency": None, "at": "2026-11-10T09:30:00+00:00", "status": "requested"},
    ],
    "dispute": {
        "type": "swapped_item",
        "opened_at": "2026-11-10T09:30:00+00:00",
        "evidence_due_by": "2026-11-13T09:30:00+00:00",
        "evidence": [
            {
                "kind": "photo",
                "url": None,
                "at": "2026-11-11T09:30:00+00:00",
                "valid": False,
                "problems": ["a swapped item is proven only by an unboxing video"],
            },
        ],
        "escalations": [{"to": "court", "at": "2026-11-12T09:30:00+00:00", "note": None}],
        "objection_after_completion": False,
    },
    "deadlines": {"refund_due_by": "2026-11-24T09:30:00+00:00", "return_ship_by": None},
    "outbound_carrier": "dhl_express",
    "outbound_tracking": "JD0142",
    "outbound_leg": {"carrier": "ups", "tracking_number": "1Z99", "booked_at": "2026-11-11T09:30:00+00:00"},
    "late_accepted": {"reason": "signed for by a neighbour", "at": "2026-11-10T09:30:00+00:00"},
    "refund": {"amount": "40.00", "currency": "EUR"},
}


def test_stored_facts_from_before_the_typed_parts_load_as_typed_values_and_save_back_unchanged():
    parts = typed_parts(STORED_BEFORE)
    assert parts["tables"] == TableStates(order="cancel_requested", refund="failed")
    fired = parts["timers"]["timer.merchant_response_overdue"]
    assert fired.fired_at == datetime(2026, 11, 12, 9, 31, 5, 250000, tzinfo=UTC) and not fired.pending
    assert parts["timers"]["timer.inspection_overdue"].due_at == datetime(2026, 11, 19, 16, tzinfo=UTC)
    assert parts["case_deadlines"] == {"refund_retry_at": NOW + timedelta(hours=4)}
    assert parts["milestones"]["requested_at"] == datetime(2026, 11, 9, 8, tzinfo=UTC)
    assert parts["carrier_route"] == CarrierRoute(None, "US->CN", "routing_table", "no carrier route")
    assert parts["marketplace_return"] == MarketplaceReturn("accepted", "RMA-9", "W-O-1")
    assert parts["ledger"][0] == LedgerLine(
        "refund", Money.of("40.00", "EUR"), NOW, "failed", {"key": "case_old:refund:1"}
    )
    assert parts["ledger"][2].amount is None
    assert parts["dispute"].evidence_due_by == NOW + timedelta(days=3) and parts["dispute"].evidence_outcome is None
    assert parts["policy_deadlines"] == {"refund_due_by": NOW + timedelta(days=14), "return_ship_by": None}
    assert parts["order_parcel"] == Parcel("dhl_express", "JD0142")
    assert parts["late_accepted"] == LateAcceptance("signed for by a neighbour", NOW)
    assert parts["outbound_leg"] == Parcel("ups", "1Z99", NOW + timedelta(days=1))
    assert parts["facts"] == {"refund": STORED_BEFORE["refund"]}
    case = open_case("case_old", "generic", load_event(unique_event()), NOW)
    for name, value in parts.items():
        setattr(case, name, value)
    assert facts_json(case) == STORED_BEFORE


def test_a_case_saved_before_timers_existed_keeps_no_timer_record():
    """Its past deadlines stay on the ops overdue list (service.operations.still_pending) after a save."""
    case = open_case("case_older", "generic", load_event(unique_event()), NOW)
    for name, value in typed_parts({"deadlines": {"refund_due_by": NOW.isoformat()}}).items():
        setattr(case, name, value)
    assert "timers" not in facts_json(case)
    case.record_decision({"deadlines": {}}, NOW)
    assert facts_json(case)["timers"] == {}, "once scheduled, an empty record says no timer is pending"


def test_a_timer_round_trips_through_storage_as_an_aware_datetime(container):
    case_id = new_id("case")
    case = open_case(case_id, "generic", load_event(unique_event()), NOW)
    due = datetime(2026, 11, 12, 17, 0, 0, 123456, tzinfo=UTC)
    case.timers["timer.merchant_response_overdue"] = Timer(due)
    case.milestones["requested_at"] = NOW
    with container.uow() as uow:
        uow.cases.add(case, NOW)
        uow.commit()
    with container.uow() as uow:
        loaded = uow.cases.get(case_id)
        stored = uow.session.scalars(select(CaseRow.facts).where(CaseRow.id == case_id)).one()
        timer_due = uow.session.scalars(select(CaseTimerRow.due_at).where(CaseTimerRow.case_id == case_id)).one()
    assert loaded is not None
    timer = loaded.timers["timer.merchant_response_overdue"]
    assert timer == Timer(due) and timer.due_at.tzinfo is not None
    assert loaded.milestones == {"requested_at": NOW}
    assert stored["timers"]["timer.merchant_response_overdue"]["due_at"] == "2026-11-12T17:00:00.123456+00:00"
    assert timer_due.replace(tzinfo=timer_due.tzinfo or UTC) == due, "the worker's due time is the case's"


def test_a_row_with_the_old_facts_json_loads_and_fires_its_timer_once(container):
    case_id = new_id("case")
    with container.uow() as uow:
        uow.cases.add(open_case(case_id, "generic", load_event(unique_event()), NOW), NOW)
        uow.commit()
    with container.uow() as uow:
        uow.session.execute(update(CaseRow).where(CaseRow.id == case_id).values(facts=STORED_BEFORE))
        uow.commit()
    with container.uow() as uow:
        case = uow.cases.get(case_id, for_update=True)
        assert case is not None and case.order_state == "cancel_requested" and case.refund_state == "failed"
        assert case.next_timer_due() == NOW + timedelta(hours=4)
        case.fire_timer("timer.refund_retry", NOW + timedelta(hours=4))
        uow.cases.save(case, NOW)
        uow.commit()
    with container.uow() as uow:
        stored = uow.session.scalars(select(CaseRow.facts).where(CaseRow.id == case_id)).one()
    retry = stored["timers"]["timer.refund_retry"]
    assert retry == {"due_at": "2026-11-10T13:30:00+00:00", "fired_at": "2026-11-10T13:30:00+00:00", "cancelled": False}


def _customs_stored() -> dict:
    """A plan and declaration as `service/customs.py` wrote them into `facts` before they were typed."""
    facts = CustomsFacts("DE", "US", NOW - timedelta(days=20), "EUR", duties_paid=Decimal("12.50"),
                         origin_countries=("CN",), return_reason="defective")  # fmt: skip
    plan = customs_plan(facts)
    assert plan is not None and plan.claims, "a plan with a duty claim"
    return {"customs": plan.to_json()}


def test_a_stored_customs_plan_loads_typed_and_saves_back_unchanged():
    stored = _customs_stored()
    parts = typed_parts(stored)
    plan = parts["customs"]
    assert plan.lane == "DE->US" and plan.claims[0].amount == Money.of("12.50", "EUR")
    assert all(d.due_by.tzinfo is not None for d in plan.deadlines)
    assert plan.regime.code == stored["customs"]["regime"]["code"]
    case = open_case("case_customs", "generic", load_event(unique_event()), NOW)
    for name, value in parts.items():
        setattr(case, name, value)
    assert facts_json(case) == stored


def test_each_stored_declaration_shape_round_trips():
    request = {"method": "POST", "url": "https://broker.example/declarations", "json": {"case": "c1"}}
    shapes = [
        {"status": "planned", "adapter": "customs_broker"},
        {"status": "not_sent", "adapter": "customs_broker", "request": request},
        {"status": "filed", "adapter": "customs_broker", "request": request, "reference": "DCL-1", "error": None},
        {"status": "refused", "adapter": "customs_broker", "request": request, "reference": None, "error": "no"},
    ]
    for stored in shapes:
        parts = typed_parts({"customs_declaration": stored})
        assert parts["customs_declaration"] == CustomsDeclaration(
            stored["status"], "customs_broker", stored.get("request"), stored.get("reference"), stored.get("error")
        )
        case = open_case("case_declared", "generic", load_event(unique_event()), NOW)
        for name, value in parts.items():
            setattr(case, name, value)
        assert facts_json(case) == {"customs_declaration": stored}


def test_the_declaration_moves_by_the_case_methods():
    case = open_case("case_declares", "generic", load_event(unique_event()), NOW)
    assert case.plan_declaration("customs_broker") and not case.plan_declaration("customs_broker")
    case.declaration_not_sent("customs_broker", {"url": "u"})
    assert case.customs_declaration == CustomsDeclaration("not_sent", "customs_broker", {"url": "u"})
    case.declaration_answered("customs_broker", {"url": "u"}, "filed", "DCL-2", None)
    assert case.customs_declaration.answered and case.customs_declaration.reference == "DCL-2"


def test_a_case_without_a_policy_decision_stores_no_deadlines_and_one_with_an_empty_decision_stores_them_empty():
    case = open_case("case_undecided", "generic", load_event(unique_event()), NOW)
    assert case.policy_deadlines is None and "deadlines" not in facts_json(case)
    case.record_decision({"deadlines": {"refund_due_by": "2026-11-24T09:30:00+00:00"}}, NOW)
    assert case.policy_deadlines == {"refund_due_by": NOW + timedelta(days=14)}
    assert facts_json(case)["deadlines"] == {"refund_due_by": "2026-11-24T09:30:00+00:00"}
    case.record_decision({}, NOW)
    assert facts_json(case)["deadlines"] == {}


def test_deadlines_kept_in_an_older_shape_load_as_instants_and_a_met_one_as_none():
    parts = typed_parts(
        {"deadlines": {"refund_due_by": "2026-11-20", "inspection_due_by": {"due_by": "x", "done": True}}}
    )
    assert parts["policy_deadlines"] == {
        "refund_due_by": datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
        "inspection_due_by": None,
    }
