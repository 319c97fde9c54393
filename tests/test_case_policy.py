"""Policy on every case event: GET /returns/<id> shows the deadlines, fees and refund the engine decided."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from config.settings import Settings
from queues.worker import Worker
from service.bootstrap import Container
from tests.case_helpers import FixedRates, case_of, timeline_names
from tests.conftest import example, operator_client, post_event, wait_for
from wsgi import create_app

RATES = FixedRates({"JPY": "162.5", "CNY": "7.70"}, date(2026, 11, 9))


@pytest.fixture
def rated(settings: Settings) -> Iterator[tuple]:
    container = Container(settings, rates=RATES)
    worker = Worker(container.relay, container.consumers())
    worker.start()
    assert worker.wait_ready(10)
    yield operator_client(create_app(settings, container)), container
    worker.stop()
    container.close()


def test_a_requested_return_carries_the_eu_deadlines_and_the_refund_with_delivery(client, running):
    """Directive 2011/83/EU art. 9, 13, 14 on the contract's German example."""
    case_id = post_event(client, example()).json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
    case = case_of(client, case_id)
    assert case["deadlines"]["window_ends_at"] == "2026-11-16T23:00:00+00:00"  # 14 days after delivery, Berlin
    assert case["deadlines"]["refund_due_by"] == "2026-11-24T23:00:00+00:00"  # 14 days after the request
    assert set(case["deadlines"]) >= {"merchant_response_due_by", "return_ship_by"}
    refund = case["refund"]
    assert (refund["currency"], refund["amount"], refund["original_delivery"]) == ("EUR", "54.89", "4.99")
    assert refund["display"]["currency"] == "EUR" and refund["display"]["amount"] == "54.89", (
        "a German buyer sees euros"
    )
    assert case["policy"]["basis"] == "statutory_withdrawal" and case["policy"]["right"] == "eu_withdrawal"
    assert case["policy"]["last_days"]["refund_due_by"] == "2026-11-24"  # art. 13(1): the inclusive last day
    assert case["fees"]["return_shipping_payer"] == "buyer"
    assert any(r["rule"] == "statutory_withdrawal" and "2011/83/EU" in r["source"] for r in case["policy"]["rules"])
    assert "timer.merchant_response_overdue" in case["timers"]
    assert timeline_names(case).count("policy_applied") == 1


def test_the_refund_is_shown_in_the_buyers_display_currency_with_the_rate_used(rated):
    client, _ = rated
    event = example(order={"buyer": {"locale": "ja-JP", "timezone": "Europe/Berlin", "display_currency": "JPY"}})
    case_id = post_event(client, event).json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
    display = case_of(client, case_id)["refund"]["display"]
    assert display == {"currency": "JPY", "amount": "8920", "rate": "162.5", "rate_date": "2026-11-09", "source": "ECB"}


def test_policy_evaluate_converts_with_the_same_rates_as_the_cases(rated):
    client, container = rated
    event = example(order={"buyer": {"display_currency": "CNY"}})
    body = client.post("/policy/evaluate", json=event).get_json()
    assert body["refund"]["display"]["amount"] == "422.65" and body["refund"]["display"]["rate"] == "7.70"
    assert client.application.extensions["returnbridge.rates"] is container.rates


def test_a_later_event_moves_the_deadlines_that_run_from_it(client, running):
    """Seed 001 §4.2.3: the refund follows a passed inspection within the service level."""
    case_id = post_event(client, example()).json["case_id"]
    assert wait_for(lambda: case_of(client, case_id)["state"] == "requested")
    received = example("return-approved", type="return.received", marketplace_event_id="evt-received-1")
    received["occurred_at"] = "2026-11-14T10:00:00+01:00"
    assert post_event(client, example("return-approved")).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "approved")
    assert post_event(client, received).status_code == 202
    assert wait_for(lambda: case_of(client, case_id)["state"] == "inspecting")
    case = case_of(client, case_id)
    assert case["deadlines"]["inspection_due_by"] > "2026-11-14T09:00:00+00:00"
    assert case["timers"]["timer.inspection_overdue"]["due_at"] == case["deadlines"]["inspection_due_by"]
    assert "timer.merchant_response_overdue" not in case["timers"], "the merchant answered: that timer is gone"
