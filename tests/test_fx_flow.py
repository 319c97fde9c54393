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
