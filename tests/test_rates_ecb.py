"""ECB reference rates: the real daily and 90-day files, cross rates, staleness, bad content."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.rates import RATE_SOURCES
from adapters.rates.base import FeedError
from adapters.rates.ecb import ECB_CALENDAR, parse_reference_rates
from core.money import Money, convert
from core.rates import PublishedRates, RateUnavailable, cross_rate, freshness

FIXTURES = Path(__file__).parent / "fixtures" / "ecb"
DAILY = (FIXTURES / "eurofxref-daily.xml").read_text()
HISTORY = (FIXTURES / "eurofxref-hist-90d.xml").read_text()


@pytest.fixture(scope="module")
def history() -> PublishedRates:
    return parse_reference_rates(HISTORY)


def test_daily_file_gives_thirty_currencies_for_its_day_with_trailing_zeros_kept() -> None:
    rates = parse_reference_rates(DAILY)
    assert rates.publication_dates == [date(2024, 2, 27)]
    table = rates.days[date(2024, 2, 27)]
    assert len(table) == 30
    assert table["USD"] == Decimal("1.0856")
    assert str(table["GBP"]) == "0.85620"
    assert table["KRW"] == Decimal("1445.31")
    assert "EUR" not in table


def test_history_file_holds_every_publication_day_and_skips_weekends_and_holidays(history: PublishedRates) -> None:
    assert len(history.days) == 61
    assert (history.earliest, history.latest) == (date(2023, 11, 30), date(2024, 2, 27))
    for absent in (date(2023, 12, 25), date(2023, 12, 26), date(2024, 1, 1), date(2024, 2, 24)):
        assert absent not in history.days
    assert history.days[date(2024, 2, 27)] == parse_reference_rates(DAILY).days[date(2024, 2, 27)]


def test_ecb_is_registered_as_a_rate_source_with_its_snapshot() -> None:
    ecb = RATE_SOURCES.get("ecb")
    assert ecb.source == "ECB"
    assert ecb.snapshot().latest == date(2024, 2, 27)
    assert ecb.snapshot().earliest == date(2023, 11, 30)


def test_euro_rates_are_the_published_figures(history: PublishedRates) -> None:
    assert history.rate("EUR", "JPY", date(2024, 2, 27)) == (Decimal("163.04"), date(2024, 2, 27), "ECB")
    assert history.rate("EUR", "EUR", date(2024, 2, 27))[0] == 1


def test_cross_rates_go_through_the_euro(history: PublishedRates) -> None:
    """Figures from policy_fx_l10n.md §5.1 (2024-02-27)."""
    on = date(2024, 2, 27)
    usd_jpy = history.rate("USD", "JPY", on)[0]
    assert str(usd_jpy).startswith("150.18422991")
    assert str(history.rate("GBP", "KRW", on)[0]).startswith("1688.0518")
    assert str(history.rate("JPY", "USD", on)[0]).startswith("0.0066584887")
    assert history.rate("USD", "EUR", on)[0] == cross_rate(Decimal("1.0856"), Decimal(1))


def test_cross_rate_keeps_fifteen_significant_digits() -> None:
    rate = cross_rate(Decimal("1.0856"), Decimal("163.04"))
    assert len(rate.as_tuple().digits) == 15


def test_converting_dollars_to_yen_rounds_once_to_whole_yen(history: PublishedRates) -> None:
    conversion = convert(Money.of("19.99", "USD"), "JPY", history, date(2024, 2, 27))
    assert conversion.converted == Money.of("3002", "JPY")
    assert conversion.to_json() == {
        "amount": "3002",
        "currency": "JPY",
        "rate": "150.184229918939",
        "rate_date": "2024-02-27",
        "source": "ECB",
    }


@pytest.mark.parametrize(
    ("on", "published"),
    [
        (date(2024, 2, 24), date(2024, 2, 23)),  # Saturday
        (date(2024, 2, 25), date(2024, 2, 23)),  # Sunday
        (date(2023, 12, 25), date(2023, 12, 22)),  # Christmas Day, Boxing Day and a weekend before it
        (date(2023, 12, 26), date(2023, 12, 22)),
        (date(2024, 1, 1), date(2023, 12, 29)),  # New Year's Day
        (date(2024, 3, 15), date(2024, 2, 27)),  # after the last publication held: the feed is behind
    ],
)
def test_days_without_publication_use_the_last_published_rate_and_report_its_date(
    history: PublishedRates, on: date, published: date
) -> None:
    rate, rate_date, source = history.rate("EUR", "USD", on)
    assert rate_date == published
    assert rate == history.days[published]["USD"]
    assert source == "ECB"


def test_a_past_date_uses_that_days_rate_from_the_history(history: PublishedRates) -> None:
    assert history.rate("EUR", "USD", date(2024, 1, 15))[1] == date(2024, 1, 15)
    assert history.rate("EUR", "USD", date(2024, 1, 15)) != history.rate("EUR", "USD", date(2024, 2, 27))


def test_a_date_before_the_history_is_unavailable(history: PublishedRates) -> None:
    with pytest.raises(RateUnavailable, match="2023-11-30"):
        history.rate("EUR", "USD", date(2023, 11, 29))


def test_a_currency_the_ecb_does_not_publish_is_unavailable(history: PublishedRates) -> None:
    with pytest.raises(RateUnavailable, match="KWD"):
        history.rate("EUR", "KWD", date(2024, 2, 27))


def test_table_for_a_base_lists_every_other_currency_including_the_euro(history: PublishedRates) -> None:
    published, table = history.table_for("USD", date(2024, 2, 25))
    assert published == date(2024, 2, 23)
    assert "USD" not in table and "EUR" in table
    assert len(table) == 30
    assert table["JPY"] == history.rate("USD", "JPY", date(2024, 2, 23))[0]


def test_newer_rates_replace_the_same_day_and_add_new_days(history: PublishedRates) -> None:
    next_day = parse_reference_rates(DAILY.replace("2024-02-27", "2024-02-28").replace("1.0856", "1.0830"))
    merged = history.merged(next_day)
    assert merged.latest == date(2024, 2, 28)
    assert merged.rate("EUR", "USD", date(2024, 2, 28))[0] == Decimal("1.0830")
    assert merged.rate("EUR", "USD", date(2024, 2, 27))[0] == Decimal("1.0856")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2024, 2, 27, 16, 0, tzinfo=UTC), date(2024, 2, 27)),  # 17:00 CET: published
        (datetime(2024, 2, 27, 14, 0, tzinfo=UTC), date(2024, 2, 26)),  # 15:00 CET: not yet
        (datetime(2024, 2, 25, 12, 0, tzinfo=UTC), date(2024, 2, 23)),  # Sunday: Friday's
        (datetime(2023, 12, 27, 10, 0, tzinfo=UTC), date(2023, 12, 22)),  # after Christmas closing days
        (datetime(2024, 4, 1, 18, 0, tzinfo=UTC), date(2024, 3, 28)),  # Easter Monday after Good Friday
        (datetime(2024, 5, 1, 18, 0, tzinfo=UTC), date(2024, 4, 30)),  # 1 May
    ],
)
def test_expected_publication_follows_the_target_calendar(now: datetime, expected: date) -> None:
    assert ECB_CALENDAR.expected_publication(now) == expected


def test_rates_are_stale_only_when_a_publication_is_missing(history: PublishedRates) -> None:
    saturday = datetime(2024, 2, 24, 12, 0, tzinfo=UTC)
    next_tuesday = datetime(2024, 2, 28, 18, 0, tzinfo=UTC)
    assert not freshness(history, ECB_CALENDAR, datetime(2024, 2, 27, 18, 0, tzinfo=UTC)).stale
    assert freshness(history, ECB_CALENDAR, saturday).stale is False
    stale = freshness(history, ECB_CALENDAR, next_tuesday)
    assert stale.stale
    assert stale.to_json() == {"latest_rate_date": "2024-02-27", "expected_rate_date": "2024-02-28", "stale": True}


BAD_FEEDS = [
    ("", "not well-formed"),
    ("<html><body>Service unavailable</body></html>", "not gesmes:Envelope"),
    (DAILY[: len(DAILY) // 2], "not well-formed"),
    (DAILY.replace("2024-02-27", "27.02.2024"), "not a date"),
    (DAILY.replace("rate='1.0856'", "rate='n/a'"), "not a number"),
    (DAILY.replace("rate='1.0856'", "rate='-1.0856'"), "not a positive"),
    (DAILY.replace("rate='1.0856'", "rate='0'"), "not a positive"),
    (DAILY.replace("currency='JPY'", "currency='jp'"), "three-letter"),
    (DAILY.replace("currency='JPY'", "currency='USD'"), "USD is given twice"),
    (DAILY.replace(" rate='163.04'", ""), "lacks the currency or rate"),
    (DAILY.replace("<Cube time='2024-02-27'>", "<Cube>"), "no time attribute"),
    (
        DAILY.replace('xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"', 'xmlns="urn:other"'),
        "no eurofxref Cube",
    ),
    ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DTD"),
    # The same declaration in UTF-16 slipped past the old `<!DOCTYPE` byte check (issue 16 item 11).
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode("utf-16"), "DTD"),
    (
        DAILY.replace(
            "<gesmes:Envelope", '<!DOCTYPE gesmes:Envelope SYSTEM "http://127.0.0.1:9/x.dtd"><gesmes:Envelope'
        ),
        "DTD",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD_FEEDS)
def test_bad_feed_content_gives_a_clear_error(body: str | bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_reference_rates(body)


def test_an_envelope_without_days_is_refused() -> None:
    empty = DAILY[: DAILY.index("\t\t<Cube time=")] + "\t</Cube>\n</gesmes:Envelope>"
    with pytest.raises(FeedError, match="no publication day"):
        parse_reference_rates(empty)


def test_a_code_unknown_to_iso_is_skipped_without_losing_the_rest() -> None:
    rates = parse_reference_rates(DAILY.replace("currency='JPY'", "currency='QQQ'"))
    table = rates.days[date(2024, 2, 27)]
    assert "QQQ" not in table and "JPY" not in table
    assert len(table) == 29


def test_bytes_are_parsed_like_text() -> None:
    assert parse_reference_rates(DAILY.encode()) == parse_reference_rates(DAILY)
