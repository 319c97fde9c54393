"""GET /fx/rates and GET /fx/ledger, and the worker's refresh timer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import responses
from flask.testing import FlaskClient

from adapters.http import HttpClient
from adapters.rates.ecb import ECB, ECB_DAILY_URL, ECB_HISTORY_URL
from config.settings import Settings
from core.cases import open_case
from core.ledger import ledger_entry
from core.money import Money
from service.bootstrap import Container
from service.canonical import load_event
from service.rates import RateBook, RateRefresher
from tests.conftest import make_settings
from tests.fx_events import fx_event

NOW = datetime(2024, 2, 25, 12, tzinfo=UTC)  # a Sunday


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(RB_DATABASE_URL=f"sqlite:///{tmp_path}/rb.db", RB_OPS_TOKEN="ops-secret")


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = Container(settings, clock=lambda: NOW)
    yield built
    built.close()


def test_rates_default_to_euro_today_with_the_last_publication_date(client: FlaskClient) -> None:
    body = client.get("/fx/rates").get_json()
    assert (body["base"], body["date"], body["rate_date"], body["source"]) == ("EUR", "2024-02-25", "2024-02-23", "ECB")
    assert len(body["rates"]) == 30
    assert body["status"]["stale"] is False


def test_rates_for_a_base_and_a_past_date(client: FlaskClient) -> None:
    body = client.get("/fx/rates?base=usd&date=2024-02-27").get_json()
    assert body["base"] == "USD" and body["rate_date"] == "2024-02-27"
    assert body["rates"]["JPY"] == "150.184229918939"
    assert body["rates"]["EUR"].startswith("0.92114959")


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("base=XYZ", ["base"]),
        ("base=12", ["base"]),
        ("date=2024-13-01", ["date"]),
        ("base=ABC&date=yesterday", ["base", "date"]),
    ],
)
def test_bad_rate_queries_are_400_naming_the_fields(client: FlaskClient, query: str, fields: list[str]) -> None:
    response = client.get(f"/fx/rates?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_query" and sorted(error["fields"]) == fields


def test_rates_before_the_history_or_for_an_unpublished_base_are_404(client: FlaskClient) -> None:
    assert client.get("/fx/rates?date=2020-01-02").status_code == 404
    response = client.get("/fx/rates?base=KWD")
    assert response.status_code == 404
    assert "KWD" in response.get_json()["error"]["message"]


def test_ledger_needs_the_operations_token(anonymous: FlaskClient) -> None:
    assert anonymous.get("/fx/ledger").status_code == 401
    assert anonymous.get("/fx/ledger", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_ledger_reports_cases_and_totals_in_the_settlement_currency(container: Container, client: FlaskClient) -> None:
    work = container.uow()
    rates = ECB.snapshot()
    event = load_event(fx_event("return.requested"))
    entries = {
        "case_a": ledger_entry(Money.of("199.99", "USD"), "EUR", date(2023, 12, 15), date(2024, 2, 20), rates),
        "case_b": ledger_entry(Money.of("12000", "JPY"), "EUR", date(2023, 12, 1), date(2024, 1, 10), rates),
    }
    with work:
        for case_id, entry in entries.items():
            case = open_case(case_id, "generic", event, NOW)
            case.return_ = replace(case.return_, id=f"RMA-{case_id}")
            work.cases.add(case, NOW)
            work.fx_ledger.put(case_id, entry, NOW)
        work.commit()
    auth = {"Authorization": "Bearer ops-secret"}
    body = client.get("/fx/ledger", headers=auth).get_json()
    assert [c["case_id"] for c in body["cases"]] == ["case_b", "case_a"]
    total = entries["case_a"].fx_gain_loss + entries["case_b"].fx_gain_loss
    assert body["totals"]["fx_gain_loss"] == total.to_json()
    assert body["cases"][1]["at_sale"]["rate_date"] == "2023-12-15"
    february = client.get("/fx/ledger?from=2024-02-01&to=2024-02-29", headers=auth).get_json()
    assert [c["case_id"] for c in february["cases"]] == ["case_a"]
    bad = client.get("/fx/ledger?currency=EURO&from=2024-03-01&to=2024-02-01", headers=auth)
    assert bad.status_code == 400
    assert sorted(bad.get_json()["error"]["fields"]) == ["currency", "from"]


@responses.activate
def test_the_refresh_timer_refreshes_at_once_and_survives_a_feed_outage() -> None:
    responses.get(ECB_DAILY_URL, status=503)
    responses.get(ECB_HISTORY_URL, status=503)
    settings = Settings.from_env({})
    book = RateBook(ECB, HttpClient(timeout=1), settings.for_adapter("ecb"), clock=lambda: NOW)
    refreshed = threading.Event()
    original = book.refresh

    def refresh_and_signal():  # type: ignore[no-untyped-def]
        outcome = original()
        refreshed.set()
        return outcome

    book.refresh = refresh_and_signal  # type: ignore[method-assign]
    timer = RateRefresher(book, interval_seconds=60)
    timer.start()
    assert refreshed.wait(5)
    timer.stop()
    assert book.last_refresh is not None and not book.last_refresh.ok
    assert book.rate("EUR", "USD", date(2024, 3, 5))[1] == date(2024, 2, 27)
