from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.notices import (
    CODES,
    CONTEXT_KEYS,
    NOTICE_KINDS,
    UnknownNotice,
    days_left,
    delivery_key,
    missing_context,
    notice_context,
)
from tests.notice_contexts import FULL_CONTEXTS

BUYER_VISIBLE_MOMENTS = {
    "request_received",
    "return_approved",
    "return_rejected",
    "ship_by_reminder",
    "return_received",
    "inspection_result",
    "refund_paid",
    "exchange_shipped",
    "interception_result",
    "dispute_update",
    "withdrawal_confirmation",
    "return_shipped",
    "return_expired",
    "cancellation_refused",
    "refund_failed",  # issue 19: a failed payout is retried and the buyer told
}


def test_every_buyer_visible_moment_of_the_issue_has_a_notice_kind():
    assert set(NOTICE_KINDS) == BUYER_VISIBLE_MOMENTS


def test_every_context_key_a_notice_names_has_a_display_type():
    for spec in NOTICE_KINDS.values():
        for key in (*spec.required, *spec.optional):
            assert key in CONTEXT_KEYS, (spec.kind, key)
    assert {k for k, t in CONTEXT_KEYS.items() if t == "code"} == set(CODES)


@pytest.mark.parametrize("kind", sorted(BUYER_VISIBLE_MOMENTS))
def test_a_full_context_lacks_nothing(kind):
    assert missing_context(kind, FULL_CONTEXTS[kind]) == []


def test_an_approval_by_label_needs_the_label_and_a_pickup_needs_carrier_and_date():
    approved = {"order_id": "O", "return_id": "R", "ship_by": "2026-11-30T00:00:00+00:00"}
    assert missing_context("return_approved", {**approved, "method": "label"}) == ["label_url"]
    assert missing_context("return_approved", {**approved, "method": "pickup"}) == ["carrier", "pickup_at"]


def test_a_code_outside_its_table_counts_as_missing():
    context = {**FULL_CONTEXTS["return_rejected"], "reason": "because"}
    assert missing_context("return_rejected", context) == ["reason"]


def test_an_unknown_notice_kind_is_refused():
    with pytest.raises(UnknownNotice):
        missing_context("coupon_offer", {})


def test_days_left_counts_calendar_days_in_the_buyers_zone():
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    deadline = datetime(2026, 11, 30, 22, 59, tzinfo=UTC)
    assert days_left(now, deadline, ZoneInfo("Europe/Berlin")) == 3
    assert days_left(now, deadline, ZoneInfo("Asia/Shanghai")) == 4  # 1 December there
    assert days_left(deadline, now, UTC) == 0


def test_the_lifecycles_own_names_resolve_to_a_notice_with_its_code():
    assert missing_context("interception_failed", {"order_id": "O"}) == []
    assert missing_context("dispute_opened", {"order_id": "O", "dispute_at": "2026-12-01T00:00:00+00:00"}) == []


def test_a_case_records_the_facts_a_notice_shows_and_its_own_moment():
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    known = {
        "order_id": "O",
        "return_id": "R",
        "carrier": "dhl_express",
        "pickup": False,
        "deadlines": {"return_ship_by": "2026-12-04T22:59:00+00:00", "refund_due_by": "2026-12-11T22:59:00+00:00"},
        "amount": {"amount": "10.00", "currency": "EUR"},
        "unrelated": "kept out",
    }
    approved = notice_context("return_approved", known, now)
    assert approved == {
        "order_id": "O",
        "return_id": "R",
        "ship_by": "2026-12-04T22:59:00+00:00",
        "carrier": "dhl_express",
        "amount": {"amount": "10.00", "currency": "EUR"},
        "method": "label",
    }
    refund = notice_context("refund_paid", known, now)
    assert refund["issued_at"] == now.isoformat()
    assert refund["route"] == "original_payment"
    assert notice_context("interception_failed", known, now) == {"order_id": "O", "outcome": "not_stopped"}


def test_delivery_key_names_case_notice_and_channel():
    assert delivery_key("c1", "refund_paid", "email") != delivery_key("c1", "refund_paid", "webhook")
    assert delivery_key("c1", "refund_paid", "email") == delivery_key("c1", "refund_paid", "email")


def test_a_request_shows_what_the_items_are_worth_and_a_refund_what_is_paid_back():
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    known = {
        "order_id": "O",
        "return_id": "R",
        "items_value": {"amount": "49.90", "currency": "EUR"},
        "refund_amount": {"amount": "54.89", "currency": "EUR"},  # with the standard delivery cost (EU)
    }
    assert notice_context("request_received", known, now)["amount"]["amount"] == "49.90"
    assert notice_context("refund_paid", known, now)["amount"]["amount"] == "54.89"
    assert notice_context("withdrawal_confirmation", known, now)["amount"]["amount"] == "54.89"
    requested = {**known, "milestones": {"requested_at": "2026-11-10T08:30:00+00:00"}}
    assert notice_context("withdrawal_confirmation", requested, now)["withdrawn_at"] == "2026-11-10T08:30:00+00:00"
    paid = {**known, "paid_amount": {"amount": "52.00", "currency": "EUR"}}
    assert notice_context("refund_paid", paid, now)["amount"]["amount"] == "52.00"
    unknown_refund = {**known, "refund_amount": None}
    assert notice_context("refund_paid", unknown_refund, now)["amount"]["amount"] == "49.90"
