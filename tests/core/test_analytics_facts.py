"""core.analytics.facts_of: what one case contributes to the figures, from the case alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.analytics import buyer_key, facts_of
from core.cases import open_case
from service.canonical import load_event
from tests.conftest import unique_event

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _case(**changes):  # type: ignore[no-untyped-def]
    event = load_event(unique_event(n="facts", **changes))
    case = open_case("case_facts", "generic", event, NOW)
    case.apply(event, "evt_1", NOW)
    return case


def test_a_case_counts_under_its_most_valuable_lines_category_its_way_back_and_its_reason() -> None:
    case = _case(items=[
        {"sku": "A", "quantity": 1, "unit_price": "10.00", "category": "toys"},
        {"sku": "B", "quantity": 2, "unit_price": "30.00", "category": "shoes"},
        {"sku": "C", "quantity": 1, "unit_price": "50.00"},
    ])  # fmt: skip
    facts = facts_of(case, NOW)
    assert (facts.category, facts.lane, facts.reason) == ("shoes", "DE→CN", "size_or_fit")
    assert facts.returned_minor == 12000 and facts.ordered_minor is None and facts.currency == "EUR"
    assert facts.requested_at is not None and facts.refunded_at is None


def test_the_buyer_pseudonym_ignores_case_and_spaces_and_is_not_the_address() -> None:
    one = _case(order={"buyer": {"email": " Anna@Example.com"}, "ship_to": {"country": "DE"}})
    other = _case(order={"buyer": {"email": "anna@example.com"}, "ship_to": {"country": "DE"}})
    assert buyer_key(one) == buyer_key(other) and "anna" not in (buyer_key(one) or "")


def test_the_reason_given_at_the_request_is_kept_when_a_later_event_changes_it() -> None:
    case = _case(**{"return": {"reason": "defective"}})
    before = facts_of(case, NOW)
    inspected = load_event(
        unique_event(
            "return.inspected", n="facts", **{"return": {"reason": "changed_mind", "inspection": {"passed": True}}}
        )
    )
    case.state = "inspecting"
    case.apply(inspected, "evt_2", NOW + timedelta(days=3))
    after = facts_of(case, NOW + timedelta(days=3), before)
    assert (after.reason_at_request, after.reason_at_inspection, after.reason) == (
        "defective", "changed_mind", "changed_mind")  # fmt: skip
    assert after.reason_changed


def test_worn_or_tagless_lines_stay_flagged_once_seen() -> None:
    case = _case(items=[{"sku": "A", "quantity": 1, "unit_price": "10.00",
                         "condition": {"used": True, "tags_attached": False}}])  # fmt: skip
    first = facts_of(case, NOW)
    assert first.worn and first.tags_removed
    case.items = ()
    again = facts_of(case, NOW, first)
    assert again.worn and again.tags_removed


def test_an_order_reported_delivered_owes_no_refund_and_counts_its_value_as_ordered() -> None:
    event = load_event(unique_event("order.delivered", n="facts"))
    case = open_case("case_order", "generic", event, NOW)
    case.apply(event, "evt_1", NOW)
    case.policy_deadlines = {"refund_due_by": NOW + timedelta(days=14)}
    facts = facts_of(case, NOW)
    assert facts.requested_at is None and facts.refund_due_by is None
    assert facts.ordered_minor == 4990 and facts.returned_minor is None
