"""Period arithmetic: Reg. 1182/71 art. 3, CN day-after-signing, JP day-one counting, working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.calendars import HolidaysCalendars
from core.calendar import (
    WeekendCalendar,
    add_working_days,
    due_after_working_days,
    end_of_day,
    last_day_of_period,
    local_day,
)

CALENDARS = HolidaysCalendars()


def test_eu_period_ending_on_good_friday_runs_to_the_next_working_day():
    """Reg. 1182/71 art. 3(4); research §4.4: DE delivered Fri 2025-04-04 -> Tue 2025-04-22."""
    last = last_day_of_period(date(2025, 4, 4), 14, "calendar", CALENDARS.for_country("DE"), False, True)
    assert last == date(2025, 4, 22)


def test_cn_seven_days_count_from_the_day_after_signing_without_holiday_extension():
    """消费者权益保护法 art. 25 + Interim Measures; research §4.4: signed 2025-09-30 -> 2025-10-07."""
    last = last_day_of_period(date(2025, 9, 30), 7, "calendar", CALENDARS.for_country("CN"), False, False)
    assert last == date(2025, 10, 7)


def test_jp_eight_days_count_the_delivery_day_as_day_one():
    """特定商取引法 art. 15-3 起算して8日; research §4.4: delivered 2025-04-28 -> 2025-05-05."""
    last = last_day_of_period(date(2025, 4, 28), 8, "calendar", CALENDARS.for_country("JP"), True, False)
    assert last == date(2025, 5, 5)


def test_mx_five_business_days_skip_independence_day():
    """LFPC art. 56 días hábiles; research §4.4: delivered Thu 2025-09-11 -> Fri 2025-09-19."""
    last = last_day_of_period(date(2025, 9, 11), 5, "business", CALENDARS.for_country("MX"), False, False)
    assert last == date(2025, 9, 19)


def test_kr_refund_three_business_days_skip_chuseok():
    """E-Commerce Act art. 18(2); research §4.4: received Thu 2025-10-02 -> Tue 2025-10-14."""
    assert add_working_days(CALENDARS.for_country("KR"), date(2025, 10, 2), 3) == date(2025, 10, 14)


def test_china_make_up_working_day_counts_as_a_working_day():
    """调休: Sunday 2025-09-28 was a working day (holidays CN weekend_workdays; research §4.1)."""
    cn = CALENDARS.for_country("CN")
    assert add_working_days(cn, date(2025, 9, 26), 1) == date(2025, 9, 28)


def test_saudi_weekend_is_friday_and_saturday():
    """research §4.1: SA weekend {4, 5}."""
    assert add_working_days(CALENDARS.for_country("SA"), date(2025, 11, 6), 1) == date(2025, 11, 9)


def test_service_level_ends_at_local_midnight_of_the_last_working_day():
    """Seed 001 §4.2.3 working days on the merchant's calendar: end of the 5th working day, Shanghai time."""
    due = due_after_working_days(
        datetime(2025, 9, 26, 2, 0, tzinfo=UTC), 5, CALENDARS.for_country("CN"), "Asia/Shanghai"
    )
    # Working days after Fri 9-26: Sun 9-28 (调休), 9-29, 9-30, then Golden Week 10-01..10-08, 10-09, 10-10.
    assert due == datetime(2025, 10, 10, 16, 0, tzinfo=UTC)


# One public holiday on a weekday of 2026 per jurisdiction, from each country's holiday law (national or
# independence day where it falls on a weekday, else Christmas or another statutory day).
STATUTORY_HOLIDAYS_2026 = {
    "AE": date(2026, 12, 2), "AT": date(2026, 10, 26), "AU": date(2026, 1, 26), "BE": date(2026, 7, 21),
    "BG": date(2026, 3, 3), "BR": date(2026, 9, 7), "CA": date(2026, 7, 1), "CH": date(2026, 12, 25),
    "CN": date(2026, 10, 1), "CY": date(2026, 10, 1), "CZ": date(2026, 10, 28), "DE": date(2026, 12, 25),
    "DK": date(2026, 12, 25), "EE": date(2026, 2, 24), "ES": date(2026, 10, 12), "FI": date(2026, 12, 25),
    "FR": date(2026, 7, 14), "GB": date(2026, 12, 25), "GR": date(2026, 3, 25), "HR": date(2026, 12, 25),
    "HU": date(2026, 8, 20), "IE": date(2026, 3, 17), "IS": date(2026, 6, 17), "LI": date(2026, 12, 25),
    "NO": date(2026, 12, 25), "IN": date(2026, 1, 26), "IT": date(2026, 6, 2),
    "JP": date(2026, 2, 11), "KR": date(2026, 10, 9), "LT": date(2026, 2, 16), "LU": date(2026, 6, 23),
    "LV": date(2026, 11, 18), "MT": date(2026, 9, 21), "MX": date(2026, 9, 16), "NL": date(2026, 4, 27),
    "PL": date(2026, 11, 11), "PT": date(2026, 6, 10), "RO": date(2026, 12, 1), "RU": date(2026, 6, 12),
    "SA": date(2026, 9, 23), "SE": date(2026, 12, 25), "SG": date(2026, 12, 25), "SI": date(2026, 6, 25),
    "SK": date(2026, 12, 25), "TR": date(2026, 10, 29), "US": date(2026, 11, 26),
}  # fmt: skip


def test_every_jurisdiction_of_the_policy_tables_has_a_holiday_listed_here():
    from config.policy_tables import default_policy_tables

    assert set(default_policy_tables().jurisdictions) == set(STATUTORY_HOLIDAYS_2026)


@pytest.mark.parametrize(("country", "holiday"), sorted(STATUTORY_HOLIDAYS_2026.items()))
def test_every_jurisdiction_counts_its_own_public_holidays_not_just_weekends(country, holiday):
    """A country left on the weekend-only fallback would count its national day as a working day."""
    calendar = CALENDARS.for_country(country)
    assert not calendar.is_working_day(holiday)
    assert WeekendCalendar().is_working_day(holiday)  # a weekday: only the holiday makes it a day off


ZONES = st.sampled_from(["Europe/Berlin", "Asia/Shanghai", "America/Sao_Paulo", "Asia/Tokyo", "Pacific/Auckland"])
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=150, deadline=None)
@given(INSTANTS, ZONES, st.integers(1, 30), st.booleans())
def test_calendar_period_ends_after_its_length_in_local_days(instant, zone, days, count_event_day):
    """Reg. 1182/71 art. 3(1): never shorter than N full local days after the event day, across month ends."""
    event_day = local_day(instant, zone)
    last = last_day_of_period(event_day, days, "calendar", WeekendCalendar(), count_event_day, False)
    assert (last - event_day).days == (days - 1 if count_event_day else days)
    ends = end_of_day(last, zone)
    assert ends.astimezone(ZoneInfo(zone)).time().hour == 0
    assert ends > instant


@settings(max_examples=150, deadline=None)
@given(INSTANTS, st.sampled_from(["DE", "CN", "FR", "GB", "KR", "BR"]), st.integers(1, 20))
def test_rolled_period_always_ends_on_a_working_day_no_earlier_than_unrolled(instant, country, days):
    """Reg. 1182/71 art. 3(4): the last day moves forward, never back, and lands on a working day."""
    cal = CALENDARS.for_country(country)
    start = instant.date()
    plain = last_day_of_period(start, days, "calendar", cal, False, False)
    rolled = last_day_of_period(start, days, "calendar", cal, False, True)
    assert rolled >= plain
    assert cal.is_working_day(rolled)
    assert all(not cal.is_working_day(plain + timedelta(days=k)) for k in range((rolled - plain).days))


@settings(max_examples=150, deadline=None)
@given(INSTANTS, st.sampled_from(["DE", "CN", "KR", "SA", "MX"]), st.integers(0, 15))
def test_working_day_count_between_start_and_result_is_exact(instant, country, count):
    cal = CALENDARS.for_country(country)
    start = instant.date()
    result = add_working_days(cal, start, count)
    between = [start + timedelta(days=k) for k in range(1, (result - start).days + 1)]
    assert sum(cal.is_working_day(d) for d in between) == count
    assert count == 0 or cal.is_working_day(result)
