"""Published reference rates, cross rates through the anchor currency, and staleness.

Pure: the tables and the clock come in as arguments. The ECB publishes one mid
rate per currency as "1 EUR = x", on TARGET working days only, at about 16:00
CET; days without a publication are simply absent (policy_fx_l10n.md §5.1).
So the rate for any day is the last publication on or before it, reported with
that publication's date, and a rate between two non-anchor currencies is the
quotient of their anchor rates: rate(A→B) = rate(anchor→B) / rate(anchor→A).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from zoneinfo import ZoneInfo

# A cross rate keeps 15 significant digits: the ECB's own figures have about five,
# so this loses nothing, and amount × rate stays exact to the minor unit for any
# refund below 10^12 units. The recorded rate is the one applied, so anyone can
# recompute the converted amount from the case alone.
CROSS_RATE_DIGITS = 15


class RateUnavailable(LookupError):
    """No published rate for that currency, or nothing published on or before that day."""


@dataclass(frozen=True)
class PublishedRates:
    """Units of each currency per one `anchor` unit, per publication day, from one source."""

    source: str
    anchor: str
    days: Mapping[date, Mapping[str, Decimal]] = field(default_factory=dict)
    _sorted: list[date] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sorted", sorted(self.days))

    @property
    def publication_dates(self) -> list[date]:
        return list(self._sorted)

    @property
    def latest(self) -> date | None:
        return self._sorted[-1] if self._sorted else None

    @property
    def earliest(self) -> date | None:
        return self._sorted[0] if self._sorted else None

    def is_empty(self) -> bool:
        return not self.days

    def publication_for(self, on: date) -> date:
        """The last publication day on or before `on` (weekends and holidays fall back to it)."""
        dates = self._sorted
        index = bisect.bisect_right(dates, on)
        if index == 0:
            first = f"; the first held is {dates[0].isoformat()}" if dates else ""
            raise RateUnavailable(f"no {self.source} rates published on or before {on.isoformat()}{first}")
        return dates[index - 1]

    def anchor_rates(self, on: date) -> tuple[date, Mapping[str, Decimal]]:
        """The whole table that applies on `on`, with its publication date."""
        published = self.publication_for(on)
        return published, self.days[published]

    def _anchor_rate(self, currency: str, table: Mapping[str, Decimal], published: date) -> Decimal:
        if currency == self.anchor:
            return Decimal(1)
        try:
            return table[currency]
        except KeyError:
            raise RateUnavailable(f"{self.source} published no {currency} rate on {published.isoformat()}") from None

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        """Units of `quote` per one `base` valid on `on`: the `RateSource` port of core.money."""
        published, table = self.anchor_rates(on)
        base_rate = self._anchor_rate(base, table, published)
        quote_rate = self._anchor_rate(quote, table, published)
        return cross_rate(base_rate, quote_rate), published, self.source

    def table_for(self, base: str, on: date) -> tuple[date, dict[str, Decimal]]:
        """Every currency published that day, expressed per one `base`."""
        published, table = self.anchor_rates(on)
        base_rate = self._anchor_rate(base, table, published)
        currencies = sorted({*table, self.anchor} - {base})
        return published, {c: cross_rate(base_rate, self._anchor_rate(c, table, published)) for c in currencies}

    def merged(self, newer: PublishedRates) -> PublishedRates:
        """These rates with `newer`'s days added; a day present in both takes `newer`'s figures."""
        if newer.source != self.source or newer.anchor != self.anchor:
            raise ValueError(f"cannot merge {newer.source}/{newer.anchor} rates into {self.source}/{self.anchor}")
        return PublishedRates(self.source, self.anchor, {**self.days, **newer.days})


def cross_rate(base_per_anchor: Decimal, quote_per_anchor: Decimal) -> Decimal:
    """Units of quote per one base, from two rates against the same anchor.

    A rate against the anchor itself is returned as published (no rounding), so
    EUR→JPY is exactly the ECB figure; other quotients keep CROSS_RATE_DIGITS
    significant digits, rounded half-even in a local context (never the global one).
    """
    if base_per_anchor == 1:
        return quote_per_anchor
    with localcontext() as ctx:
        ctx.prec = CROSS_RATE_DIGITS
        ctx.rounding = ROUND_HALF_EVEN
        return quote_per_anchor / base_per_anchor


@dataclass(frozen=True)
class PublicationCalendar:
    """When a source publishes: on working days of its calendar, after a local time of day."""

    zone: ZoneInfo
    publishes_at: time
    is_closing_day: Callable[[date], bool]

    def is_publication_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_closing_day(day)

    def expected_publication(self, now: datetime) -> date:
        """The newest publication that should exist at `now` (an aware datetime).

        Today's counts only once the local publication time has passed; before
        that, and on weekends and closing days, it is the previous working day.
        """
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        local = now.astimezone(self.zone)
        day = local.date()
        if not (self.is_publication_day(day) and local.time() >= self.publishes_at):
            day -= timedelta(days=1)
            while not self.is_publication_day(day):
                day -= timedelta(days=1)
        return day


@dataclass(frozen=True)
class Freshness:
    """How current the held rates are, for operators: a stale table still serves, with its date."""

    latest: date | None
    expected: date
    stale: bool

    def to_json(self) -> dict[str, object]:
        return {
            "latest_rate_date": self.latest.isoformat() if self.latest else None,
            "expected_rate_date": self.expected.isoformat(),
            "stale": self.stale,
        }


def freshness(rates: PublishedRates, calendar: PublicationCalendar, now: datetime) -> Freshness:
    expected = calendar.expected_publication(now)
    latest = rates.latest
    return Freshness(latest, expected, latest is None or latest < expected)
