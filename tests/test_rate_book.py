"""The rate book over HTTP: refresh, feed down, bad content, staleness, and the cache port."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses

from adapters.http import HttpClient
from adapters.rates.ecb import ECB, ECB_DAILY_URL, ECB_HISTORY_URL
from config.settings import Settings
from core.money import Money, convert
from core.rates import PublishedRates, freshness
from service.rates import RateBook

FIXTURES = Path(__file__).parent / "fixtures" / "ecb"
DAILY = (FIXTURES / "eurofxref-daily.xml").read_text()
HISTORY = (FIXTURES / "eurofxref-hist-90d.xml").read_text()
# The next publication day, made from the real file with a different dollar rate.
NEXT_DAILY = DAILY.replace("2024-02-27", "2024-02-28").replace("1.0856", "1.0830")
WEDNESDAY_EVENING = datetime(2024, 2, 28, 17, 0, tzinfo=UTC)


class MemoryStore:
    def __init__(self) -> None:
        self.saved: list[PublishedRates] = []

    def load(self, source: str, anchor: str) -> PublishedRates | None:
        if not self.saved:
            return None
        rates = self.saved[0]
        for later in self.saved[1:]:
            rates = rates.merged(later)
        return rates

    def save(self, rates: PublishedRates) -> None:
        self.saved.append(rates)


def book(env: dict[str, str] | None = None, store: MemoryStore | None = None, now: datetime = WEDNESDAY_EVENING):
    settings = Settings.from_env(env or {})
    return RateBook(ECB, HttpClient(timeout=1), settings.for_adapter("ecb"), store=store, clock=lambda: now)


def test_without_network_the_bundled_snapshot_converts_and_reports_its_date() -> None:
    rates = book()
    with responses.RequestsMock() as mocked:
        mocked.get(ECB_DAILY_URL, body=requests.ConnectionError("no route to host"))
        mocked.get(ECB_HISTORY_URL, body=requests.ConnectionError("no route to host"))
        outcome = rates.refresh()
    assert not outcome.ok
    assert len(outcome.errors) == 2 and "ConnectionError" in outcome.errors[0]
    conversion = convert(Money.of("54.89", "EUR"), "JPY", rates, date(2024, 2, 28))
    assert (conversion.converted, conversion.rate_date, conversion.source) == (
        Money.of("8949", "JPY"),
        date(2024, 2, 27),
        "ECB",
    )


@responses.activate
def test_refresh_adds_the_new_day_from_the_configured_urls() -> None:
    responses.get("http://rates.test/daily.xml", body=NEXT_DAILY, content_type="text/xml")
    responses.get("http://rates.test/hist.xml", body=HISTORY, content_type="text/xml")
    rates = book(
        {"RB_ECB_RATES_URL": "http://rates.test/daily.xml", "RB_ECB_HISTORY_URL": "http://rates.test/hist.xml"}
    )
    outcome = rates.refresh()
    assert outcome.ok and outcome.new_days == (date(2024, 2, 28),)
    assert rates.rate("EUR", "USD", date(2024, 2, 28)) == (Decimal("1.0830"), date(2024, 2, 28), "ECB")
    assert rates.status()["stale"] is False


@responses.activate
def test_feed_down_keeps_the_last_good_rates_and_changes_only_the_rate_date() -> None:
    responses.get(ECB_DAILY_URL, body=NEXT_DAILY)
    responses.get(ECB_HISTORY_URL, body=HISTORY)
    rates = book()
    assert rates.refresh().ok
    before = convert(Money.of("19.99", "USD"), "JPY", rates, date(2024, 2, 28))

    responses.replace(responses.GET, ECB_DAILY_URL, status=503)
    responses.replace(responses.GET, ECB_HISTORY_URL, status=503)
    outcome = rates.refresh()
    assert not outcome.ok and "HTTP 503" in outcome.errors[0]
    after = convert(Money.of("19.99", "USD"), "JPY", rates, date(2024, 2, 29))
    assert after.rate == before.rate and after.converted == before.converted
    assert after.rate_date == date(2024, 2, 28)


@responses.activate
def test_bad_feed_content_is_reported_and_the_last_good_rates_stay() -> None:
    responses.get(ECB_DAILY_URL, body="<html><body>Maintenance</body></html>", content_type="text/html")
    responses.get(ECB_HISTORY_URL, body=HISTORY)
    rates = book()
    outcome = rates.refresh()
    assert not outcome.ok
    assert outcome.errors == (f"ECB {ECB_DAILY_URL}: root element is 'html', not gesmes:Envelope",)
    # The good history still counts; the rates held are intact.
    assert rates.rate("EUR", "USD", date(2024, 2, 27))[0] == Decimal("1.0856")
    status = rates.status()
    assert status["stale"] is True
    assert status["latest_rate_date"] == "2024-02-27"
    assert status["expected_rate_date"] == "2024-02-28"
    assert status["last_refresh"]["errors"] == list(outcome.errors)  # type: ignore[index]


@responses.activate
def test_a_json_answer_or_a_client_error_is_bad_content() -> None:
    responses.get(ECB_DAILY_URL, json={"rates": {"USD": 1.08}})
    responses.get(ECB_HISTORY_URL, status=404)
    outcome = book().refresh()
    assert [e.split(": ", 1)[1] for e in outcome.errors] == [
        "answered JSON, not the XML rate format",
        "answered HTTP 404",
    ]


@responses.activate
def test_fetched_rates_are_saved_and_a_new_book_starts_from_them() -> None:
    responses.get(ECB_DAILY_URL, body=NEXT_DAILY)
    responses.get(ECB_HISTORY_URL, body=HISTORY)
    store = MemoryStore()
    book(store=store).refresh()
    assert store.saved and store.saved[0].latest == date(2024, 2, 28)
    restarted = book(store=store)
    assert restarted.rates.latest == date(2024, 2, 28)


@responses.activate
def test_the_history_is_fetched_once_a_day_while_the_daily_keeps_up() -> None:
    responses.get(ECB_DAILY_URL, body=NEXT_DAILY)
    responses.get(ECB_HISTORY_URL, body=HISTORY)
    rates = book()
    rates.refresh()
    rates.refresh()
    history_calls = [c for c in responses.calls if c.request.url == ECB_HISTORY_URL]
    assert len(history_calls) == 1
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    ("held_until", "now", "stale"),
    [
        (date(2024, 2, 23), datetime(2024, 2, 24, 12, tzinfo=UTC), False),  # Saturday
        (date(2024, 2, 23), datetime(2024, 2, 26, 10, tzinfo=UTC), False),  # Monday before 16:00 CET
        (date(2024, 2, 23), datetime(2024, 2, 26, 17, tzinfo=UTC), True),  # Monday evening: Monday's is missing
        (date(2023, 12, 22), datetime(2023, 12, 26, 17, tzinfo=UTC), False),  # Christmas closing days
        (date(2023, 12, 22), datetime(2023, 12, 27, 17, tzinfo=UTC), True),
    ],
)
def test_staleness_waits_for_the_next_target_working_day(held_until: date, now: datetime, stale: bool) -> None:
    snapshot = ECB.snapshot()
    held = PublishedRates(snapshot.source, snapshot.anchor, {d: t for d, t in snapshot.days.items() if d <= held_until})
    assert freshness(held, ECB.calendar, now).stale is stale
    assert held.rate("EUR", "USD", now.date())[1] == held_until


@responses.activate
def test_a_book_that_does_not_refresh_picks_up_what_another_process_stored() -> None:
    responses.get(ECB_DAILY_URL, body=NEXT_DAILY)
    responses.get(ECB_HISTORY_URL, body=HISTORY)
    store = MemoryStore()
    clock = [WEDNESDAY_EVENING]
    settings = Settings.from_env({}).for_adapter("ecb")
    web = RateBook(ECB, HttpClient(timeout=1), settings, store=store, clock=lambda: clock[0], reload_seconds=300)
    book(store=store).refresh()  # the worker
    assert web.rates.latest == date(2024, 2, 27)  # not yet re-read
    clock[0] = WEDNESDAY_EVENING + timedelta(minutes=5)
    assert web.rates.latest == date(2024, 2, 28)
    assert web.rate("EUR", "USD", date(2024, 2, 28))[0] == Decimal("1.0830")
