"""Working-day calendars per country from the `holidays` package (research/policy_fx_l10n.md §4.1).

Public holidays only (`categories=("public",)`), weekends as the package defines
them per country (SA Fri-Sat), and China's make-up working days (调休) through the
package's `weekend_workdays`. Years are expanded on demand. The package's China
schedule for a year is known only once the State Council publishes it; pin and
refresh the package yearly.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays

from core.calendar import WeekendCalendar, WorkingDays


class HolidayCalendar:
    """One country's public holidays and weekends as a `core.calendar.WorkingDays`."""

    def __init__(self, country: str) -> None:
        self.country = country
        self._days = holidays.country_holidays(country, categories=("public",), language="en_US")

    def is_working_day(self, day: date) -> bool:
        return self._days.is_working_day(day)


@lru_cache(maxsize=64)
def _calendar(country: str) -> WorkingDays:
    try:
        return HolidayCalendar(country)
    except NotImplementedError:
        return WeekendCalendar()


class HolidaysCalendars:
    """`core.calendar.Calendars` for every country the `holidays` package knows; others get Sat/Sun weekends."""

    def for_country(self, country: str) -> WorkingDays:
        return _calendar(country)
