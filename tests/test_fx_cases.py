"""Refund display amounts, the merchant's ledger and the record of conversions on a case."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.rates.ecb import ECB
from adapters.storage.database import make_engine, make_session_factory, migrate
from adapters.storage.fx_store import SqlRateStore
from adapters.storage.unit_of_work import UnitOfWork
from core.cases import open_case
from core.ledger import ledger_entry, ledger_totals
from core.money import Money
from core.rates import PublishedRates
from queues.consumer import IncomingMessage
from service.canonical import load_event
from service.fx import FxRecorder, display_currency, refund_display, territory_currency
from service.handlers import CaseEvents
from service.intake import event_envelope
from tests.fx_events import fx_event

RATES = ECB.snapshot()  # the real ECB 90-day file of 2024-02-27


def event(kind: str = "refund.completed", **order: object) -> dict:
    return fx_event(kind, **order)


def test_display_currency_is_the_buyers_choice_else_the_ship_to_countrys() -> None:
    chosen = load_event(event(buyer={"display_currency": "KRW"})).order
    shipped_to_japan = load_event(event(ship_to={"country": "JP"})).order
    assert display_currency(chosen, date(2024, 2, 20)) == "KRW"
    assert display_currency(shipped_to_japan, date(2024, 2, 20)) == "JPY"


def test_bulgaria_shows_euros_from_2026_although_babel_still_says_lev() -> None:
    assert territory_currency("BG", date(2025, 12, 31)) == "BGN"
    assert territory_currency("BG", date(2026, 1, 1)) == "EUR"
    assert territory_currency("KW", date(2026, 1, 1)) == "KWD"
    assert territory_currency("AQ", date(2026, 1, 1)) is None


@pytest.mark.parametrize(
    ("country", "amount"),
    # 19.99 × rate(EUR→X) / 1.0856 computed at 50 digits from the ECB file of 2024-02-27, rounded half-up once.
    [("JP", "3002"), ("KR", "26614"), ("DE", "18.41"), ("GB", "15.77"), ("CH", "17.57"), ("HU", "7185.06")],
)
def test_refund_is_shown_in_the_display_currency_rounded_to_its_minor_unit(country: str, amount: str) -> None:
    order = load_event(event(ship_to={"country": country})).order
    conversion = refund_display(Money.of("19.99", "USD"), order, RATES, date(2024, 2, 27))
    assert conversion is not None
    expected = Money.rounded(Decimal("19.99") * conversion.rate, conversion.converted.currency)
    assert conversion.converted == expected == Money.of(amount, expected.currency)
    assert (conversion.rate_date, conversion.source) == (date(2024, 2, 27), "ECB")


def test_ledger_gain_or_loss_is_the_difference_of_sale_and_refund_date_values() -> None:
    entry = ledger_entry(Money.of("199.99", "USD"), "EUR", date(2023, 12, 15), date(2024, 2, 20), RATES)
    sale_usd, refund_usd = RATES.days[date(2023, 12, 15)]["USD"], RATES.days[date(2024, 2, 20)]["USD"]
    assert entry.at_sale.converted == Money.rounded(Decimal("199.99") / sale_usd, "EUR")
    assert entry.at_refund.converted == Money.rounded(Decimal("199.99") / refund_usd, "EUR")
    assert entry.fx_gain_loss == entry.at_sale.converted - entry.at_refund.converted
    assert entry.fx_gain_loss.amount != 0
    assert (entry.at_sale.rate_date, entry.at_refund.rate_date) == (date(2023, 12, 15), date(2024, 2, 20))


def test_a_refund_on_a_holiday_is_valued_at_the_last_published_rate() -> None:
    entry = ledger_entry(Money.of("5000", "JPY"), "EUR", date(2023, 12, 1), date(2023, 12, 25), RATES)
    assert entry.at_refund.rate_date == date(2023, 12, 22)


def test_a_refund_in_the_settlement_currency_has_no_exchange_result() -> None:
    entry = ledger_entry(Money.of("49.90", "EUR"), "EUR", date(2023, 12, 1), date(2024, 2, 1), RATES)
    assert entry.fx_gain_loss == Money.zero("EUR")
    assert entry.at_refund.source == "identity"


def test_ledger_totals_add_up_per_settlement_currency() -> None:
    entries = [
        ledger_entry(Money.of(a, c), "EUR", date(2023, 12, 15), date(2024, 2, 20), RATES)
        for a, c in [("199.99", "USD"), ("12000", "JPY")]
    ]
    entries.append(ledger_entry(Money.of("10.00", "USD"), "GBP", date(2023, 12, 15), date(2024, 2, 20), RATES))
    totals = ledger_totals(entries, "EUR")
    assert totals.cases == 2
    assert totals.fx_gain_loss == totals.booked - totals.refunded
    assert totals.fx_gain_loss == entries[0].fx_gain_loss + entries[1].fx_gain_loss


def test_recorder_writes_display_ledger_and_every_conversion_into_the_case_facts() -> None:
    evt = load_event(event(ship_to={"country": "JP"}))
    case = open_case("case_1", "generic", evt, datetime(2024, 2, 20, tzinfo=UTC))
    outcome = FxRecorder(RATES, "EUR").record(case, evt, datetime(2024, 2, 21, 9, tzinfo=UTC))
    fx = case.facts["fx"]
    assert outcome.errors == ()
    assert fx["refund"] == {"amount": "19.99", "currency": "USD"}
    assert fx["display"]["currency"] == "JPY" and fx["display"]["rate_date"] == "2024-02-20"
    assert fx["ledger"]["fx_gain_loss"]["currency"] == "EUR"
    assert [c["purpose"] for c in fx["conversions"]] == ["display", "ledger_sale_date", "ledger_refund_date"]
    assert all({"rate", "rate_date", "source"} <= set(c) for c in fx["conversions"])


def test_a_currency_the_source_does_not_publish_is_recorded_not_raised() -> None:
    evt = load_event(event(ship_to={"country": "KW"}))
    case = open_case("case_2", "generic", evt, datetime(2024, 2, 20, tzinfo=UTC))
    outcome = FxRecorder(RATES, "EUR").record(case, evt, datetime(2024, 2, 21, tzinfo=UTC))
    assert outcome.display is None and outcome.ledger is not None
    assert case.facts["fx"]["errors"] == ["display: ECB published no KWD rate on 2024-02-20"]


@pytest.fixture
def uow(tmp_path: Path) -> Iterator[Callable[[], UnitOfWork]]:
    url = f"sqlite:///{tmp_path}/fx.db"
    migrate(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    yield lambda: UnitOfWork(factory)
    engine.dispose()


def test_handled_refund_event_stores_the_conversions_on_the_case_and_a_ledger_row(
    uow: Callable[[], UnitOfWork],
) -> None:
    now = datetime(2024, 2, 21, 9, tzinfo=UTC)
    requested = load_event(event("return.requested", ship_to={"country": "JP"}))
    with uow() as work:
        work.cases.add(open_case("case_9", "generic", requested, now), now)
        work.commit()
    handler = CaseEvents(uow, lambda: now, "returns.commands", lambda _: True, fx=FxRecorder(RATES, "EUR"))
    completed = load_event(event("refund.completed", ship_to={"country": "JP"}))
    handler(IncomingMessage("msg-1", event_envelope("evt_1", "case_9", "generic", now, completed), "x"))
    with uow() as work:
        case = work.cases.get("case_9")
        entries = work.fx_ledger.entries("EUR")
    assert case is not None and case.facts["fx"]["display"]["currency"] == "JPY"
    assert [case_id for case_id, _ in entries] == ["case_9"]
    stored = entries[0][1]
    assert stored == ledger_entry(Money.of("19.99", "USD"), "EUR", date(2023, 12, 15), date(2024, 2, 20), RATES)


def test_rates_saved_to_the_database_come_back_exactly(uow: Callable[[], UnitOfWork], tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/fx.db")
    store = SqlRateStore(make_session_factory(engine))
    assert store.load("ECB", "EUR") is None
    store.save(RATES)
    store.save(PublishedRates("ECB", "EUR", {date(2024, 2, 27): {"GBP": Decimal("0.85620")}}))
    loaded = store.load("ECB", "EUR")
    engine.dispose()
    assert loaded is not None and loaded.days.keys() == RATES.days.keys()
    assert str(loaded.days[date(2024, 2, 27)]["GBP"]) == "0.85620"
    assert loaded.days[date(2024, 1, 15)] == RATES.days[date(2024, 1, 15)]
