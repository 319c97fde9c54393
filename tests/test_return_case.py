"""The ReturnCase aggregate: transitions, attention on refused events, commands and notices."""

from __future__ import annotations

from datetime import UTC, datetime

from core.cases import open_case
from core.lifecycle import CaseState
from service.canonical import load_event
from tests.conftest import example

NOW = datetime(2026, 11, 10, 10, 0, tzinfo=UTC)


def new_case():
    requested = load_event(example())
    return open_case("case_1", "generic", requested, NOW), requested


def approved_event():
    return load_event(example("return-approved"))


def test_a_request_moves_a_new_case_to_requested_and_records_a_notice():
    case, requested = new_case()
    commands = case.apply(requested, "evt_1", NOW)
    assert case.state == CaseState.REQUESTED
    assert [c.routing_key for c in commands] == ["notify.buyer.send"]
    assert commands[0].idempotency_key == "case_1:notice:request_received"
    assert commands[0].payload == {"notice": "request_received", "channels": ["email", "webhook"]}
    assert [n.kind for n in case.notices] == ["request_received"]
    assert case.notices[0].context["amount"] == {"amount": "49.90", "currency": "EUR"}


def test_approval_books_a_return_shipment_with_the_chosen_carrier():
    case, requested = new_case()
    case.apply(requested, "evt_1", NOW)
    commands = case.apply(approved_event(), "evt_2", NOW)
    assert case.state == CaseState.APPROVED
    assert [c.routing_key for c in commands] == [
        "carrier.dhl_express.book_return",
        "notify.buyer.send",
    ]
    assert commands[0].idempotency_key == "case_1:return_shipment"


def test_a_thin_approval_keeps_the_facts_of_the_request():
    case, requested = new_case()
    case.apply(requested, "evt_1", NOW)
    case.apply(approved_event(), "evt_2", NOW)
    assert case.order.currency == "EUR"
    assert case.order.ship_to.city == "Berlin"
    assert case.return_.carrier == "dhl_express"


def test_an_event_the_state_does_not_allow_is_kept_and_flags_the_case():
    case, _ = new_case()
    commands = case.apply(approved_event(), "evt_2", NOW)
    assert commands == []
    assert case.state == CaseState.NEW
    assert case.needs_attention
    assert [t.kind for t in case.timeline] == ["event", "attention"]


def test_a_return_without_a_carrier_books_nothing():
    data = example()
    del data["return"]["carrier"]
    case = open_case("case_2", "generic", load_event(data), NOW)
    case.apply(load_event(data), "evt_1", NOW)
    assert [c.kind for c in case.apply(approved_event(), "evt_2", NOW)] == ["notify"]
