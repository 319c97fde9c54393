"""Periods and working days: the arithmetic of legal windows and service levels.

Pure functions over a `WorkingDays` calendar passed in by the caller (a
holidays-backed one lives in adapters/calendars.py). Two counting conventions
from research/policy_fx_l10n.md §1.3 are parameters, not branches per country:

* whether the day of the event counts as day 1 (JP SCTA art. 15-3 "起算して8日")
  or not (EU Reg. 1182/71 art. 3(1); CN "from the day after signing");
* whether a period whose last day is a weekend or holiday runs on to the end of
  the next working day (Reg. 1182/71 art. 3(4)).

A period ends at the end of its last day in the local time of the party whose
calendar it is; the instant returned is the first moment after it (exclusive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class WorkingDays(Protocol):
    """One country's calendar: weekends, public holidays and make-up working days (调休)."""

    def is_working_day(self, day: date) -> bool: ...


class Calendars(Protocol):
    """The working-day calendar of each country, by ISO 3166-1 alpha-2 code."""

    def for_country(self, country: str) -> WorkingDays: ...


@dataclass(frozen=True)
class WeekendCalendar:
    """A calendar that knows weekends and an explicit holiday list only; for tests and unknown countries."""

    weekend: frozenset[int] = frozenset({5, 6})
    holidays: frozenset[date] = frozenset()
    working_weekend_days: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekend_days:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays


class FixedCalendars:
    """Calendars from a dict, falling back to Saturday/Sunday weekends."""

    def __init__(self, by_country: dict[str, WorkingDays] | None = None) -> None:
        self._by_country = dict(by_country or {})

    def for_country(self, country: str) -> WorkingDays:
        return self._by_country.get(country, WeekendCalendar())


# More than a year of consecutive non-working days does not occur in any calendar.
_SEARCH_LIMIT = 400


def roll_forward(calendar: WorkingDays, day: date) -> date:
    """`day` if it is a working day, else the next working day (Reg. 1182/71 art. 3(4))."""
    for offset in range(_SEARCH_LIMIT):
        candidate = day + timedelta(days=offset)
        if calendar.is_working_day(candidate):
            return candidate
    raise ValueError(f"no working day within {_SEARCH_LIMIT} days after {day}")


def add_working_days(calendar: WorkingDays, start: date, count: int) -> date:
    """The `count`-th working day after `start` (`start` itself never counts); `start` when count is 0."""
    if count < 0:
        raise ValueError("count must not be negative")
    day, found = start, 0
    for _ in range(count * 7 + _SEARCH_LIMIT):
        if found == count:
            return day
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            found += 1
    if found == count:
        return day
    raise ValueError(f"fewer than {count} working days within reach of {start}")


def last_day_of_period(
    event_day: date,
    length: int,
    unit: str,
    calendar: WorkingDays,
    count_event_day: bool = False,
    roll_forward_if_non_working: bool = False,
) -> date:
    """The last day on which a period of `length` days started by an event on `event_day` is still open."""
    if length < 1:
        raise ValueError("a period lasts at least one day")
    if unit == "business":
        first_counted = event_day - timedelta(days=1) if count_event_day else event_day
        last = add_working_days(calendar, first_counted, length)
    elif unit == "calendar":
        last = event_day + timedelta(days=length - 1 if count_event_day else length)
    else:
        raise ValueError(f"unknown period unit {unit!r}")
    return roll_forward(calendar, last) if roll_forward_if_non_working else last


def local_day(instant: datetime, zone: str) -> date:
    """The calendar date of an aware instant where the party is (research §4.3 step 3)."""
    if instant.tzinfo is None:
        raise ValueError("instants must be timezone-aware")
    return instant.astimezone(ZoneInfo(zone)).date()


def start_of_day(day: date, zone: str) -> datetime:
    """00:00 local on `day`, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def end_of_day(day: date, zone: str) -> datetime:
    """The first instant after `day` ends locally (a period is open strictly before it), as aware UTC."""
    return start_of_day(day + timedelta(days=1), zone)


def due_after_working_days(start: datetime, count: int, calendar: WorkingDays, zone: str) -> datetime:
    """End of the `count`-th working day after the local day of `start` (seed SLAs in working days)."""
    return end_of_day(add_working_days(calendar, local_day(start, zone), count), zone)


def due_after(start: datetime, length: int, unit: str, calendar: WorkingDays, zone: str) -> datetime:
    """A service-level deadline: whole working days, or calendar days ending at local midnight."""
    if unit == "business":
        return due_after_working_days(start, length, calendar, zone)
    if unit == "calendar":
        return end_of_day(local_day(start, zone) + timedelta(days=length), zone)
    raise ValueError(f"unknown period unit {unit!r}")
