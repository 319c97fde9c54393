"""End to end: a refund arriving by webhook gets its display amount, conversions and ledger row."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from config.settings import Settings
from tests.conftest import make_settings, post_event, wait_for
from tests.fx_events import fx_event


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN="ops-secret")


def test_a_refund_through_the_webhook_shows_its_display_amount_and_ledger_on_the_case(
    client: FlaskClient, running: object
) -> None:
    order = {"currency": "USD", "ship_to": {"country": "JP"}, "buyer": {"display_currency": "JPY"}}
    requested = fx_event("return.requested", n="fx1", **order)
    accepted = post_event(client, requested)
    assert accepted.status_code == 202, accepted.get_json()
    case_id = accepted.get_json()["case_id"]
    completed = fx_event("refund.completed", n="fx1", **order)
    assert post_event(client, completed).status_code == 202

    def ledger_booked() -> dict | None:
        fx = client.get(f"/returns/{case_id}").get_json().get("fx")
        return fx if fx and "ledger" in fx else None

    fx = wait_for(ledger_booked)
    assert fx is not None
    assert fx["display"]["currency"] == "JPY" and fx["display"]["source"] == "ECB"
    assert fx["ledger"]["refund_date"] == "2024-02-20"
    assert fx["ledger"]["at_refund"]["rate_date"] == "2024-02-20"
    report = client.get("/fx/ledger", headers={"Authorization": "Bearer ops-secret"}).get_json()
    assert [c["case_id"] for c in report["cases"]] == [case_id]


@pytest.mark.parametrize(
    ("buyer", "display"),
    [
        ({"display_currency": "JPY"}, {"currency": "JPY", "amount": "3002"}),
        ({}, {"currency": "JPY", "amount": "3002"}),  # the ship-to country's currency
        ({"display_currency": "KWD"}, None),  # the ECB publishes no KWD: no display, and no 5xx
    ],
)
def test_policy_evaluate_shows_the_refund_with_the_services_rate_book(
    client: FlaskClient, buyer: dict, display: dict | None
) -> None:
    event = fx_event("return.requested", n="fx2", buyer=buyer, ship_to={"country": "JP"})
    event["occurred_at"] = "2026-11-20T10:00:00+00:00"
    event["order"]["delivered_at"] = "2026-11-15T10:00:00+00:00"
    response = client.post("/policy/evaluate", json=event)
    assert response.status_code == 200
    refund = response.get_json()["refund"]
    assert refund["currency"] == "USD" and refund["amount"] == "19.99"
    if display is None:
        assert "display" not in refund
    else:
        # Offline, the bundled snapshot serves: its last publication date is what is shown.
        assert {k: refund["display"][k] for k in ("currency", "amount")} == display
        assert (refund["display"]["rate_date"], refund["display"]["source"]) == ("2024-02-27", "ECB")
