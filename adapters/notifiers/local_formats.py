"""Values as the buyer reads them: amounts, dates and deadlines in the buyer's locale and time zone.

Amounts are quantized to the ISO 4217 minor unit before Babel sees them, because
Babel rounds by the ambient decimal context and by CLDR digits, not ISO
(policy_fx_l10n.md §5.2, §5.4). Dates are shown in the buyer's time zone, because
the calendar date of a deadline differs by zone (§6.4).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format, get_timezone_location, get_timezone_name
from babel.numbers import get_currency_symbol

from core.money import Money, MoneyError, minor_unit

# Unicode first-strong isolate / pop directional isolate (UAX #9): keeps an order number or URL
# left-to-right inside an Arabic sentence without reordering the words around it.
FSI, PDI = "\u2068", "\u2069"


def buyer_zone(name: str | None) -> tzinfo:
    """The buyer's IANA zone; UTC when none is known or the name is not a zone."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _plain_date(value: Any) -> date | None:
    """A date without a time: an inclusive last day as the policy gives it (`last_days`, `window.last_day`)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def closes_at_midnight(moment: datetime, zone: tzinfo) -> bool:
    """An instant at local midnight is the exclusive end of the day before (core/calendar.end_of_day)."""
    local = moment.astimezone(zone)
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def last_day_shown(value: Any, zone: tzinfo) -> date | None:
    """The inclusive last day a deadline names where the buyer is: a plain date as given, an instant's own
    day, or for an exclusive end at local midnight the day before it (24 November, not 25)."""
    day = _plain_date(value)
    if day is not None:
        return day
    moment = instant(value)
    if moment is None:
        return None
    if closes_at_midnight(moment, zone):
        moment -= timedelta(microseconds=1)
    return moment.astimezone(zone).date()


def instant(value: Any) -> datetime | None:
    """A point in time, timezone-aware (a naive one is read as UTC); None for a plain date or no time at all."""
    if _plain_date(value) is not None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_money(value: Mapping[str, Any], locale: Locale) -> str:
    """CLDR's currency pattern for `locale`, with exactly the ISO 4217 minor unit of decimals."""
    currency = str(value.get("currency", ""))
    try:
        money = Money.rounded(Decimal(str(value["amount"])), currency)
    except (KeyError, InvalidOperation, MoneyError):
        return f"{value.get('amount', '')} {currency}".strip()
    digits = minor_unit(money.currency)
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    text = pattern.apply(money.amount, locale, currency=money.currency, currency_digits=False)
    symbol = get_currency_symbol(money.currency, locale)
    if symbol == "$" and money.currency != "USD":
        # A bare "$" names the dollar; any other (TWD in Taiwan, CAD, HKD) says which: NT$, CA$, HK$.
        text = text.replace("$", get_currency_symbol(money.currency, "en"), 1)
    return text


# Where CLDR's long date-time pattern glues date and time with a bare space, a native writer puts a word
# between them (CLDR's "atTime" patterns, which Babel does not carry): "7 dicembre 2026 alle 23:59".
DATE_AT_TIME: dict[str, str] = {
    "it": "{1} alle {0}",
    "pl": "{1} o godz. {0}",
    "pt": "{1} às {0}",
    "tr": "{1} saat {0}",
}
_OFFSET = re.compile(r"^(?:GMT|UTC)?[+\-−]\d")


def zone_name(local: datetime, locale: Locale) -> str:
    """The zone as the buyer's language names it: its abbreviation where the locale has one (MEZ, JST),
    else its name ("heure normale d’Europe centrale"), else its place, never a bare offset like "+0900"
    (which an RTL line would also show reversed)."""
    for name in (
        get_timezone_name(local, width="short", locale=locale),
        get_timezone_name(local, width="long", locale=locale),
    ):
        if not _OFFSET.match(name.strip()):
            return name
    return get_timezone_location(local, locale=locale)  # "Türkiye Saati": the country's or city's time


def time_of_day(local: datetime, zone: tzinfo, locale: Locale) -> str:
    """CLDR's short time, with a 12-hour clock's day period in words (Korean 오전/오후, not AM/PM)."""
    pattern = locale.time_formats["short"].pattern
    if re.search(r"(?<![a'])a(?!a)", pattern):
        pattern = re.sub(r"(?<![a'])a(?!a)", "aaaa", pattern)
    return format_time(local, pattern, tzinfo=zone, locale=locale)


def format_deadline(moment: datetime, zone: tzinfo, locale: Locale) -> str:
    """Date, time and zone as the buyer reads them: a deadline's calendar day depends on the zone."""
    local = moment.astimezone(zone)
    date_part = format_date(local.date(), "long", locale=locale)
    time_part = time_of_day(local, zone, locale)
    zone_part = zone_name(local, locale)
    if locale.text_direction == "rtl":
        zone_part = f"{FSI}{zone_part}{PDI}"
    joined = DATE_AT_TIME.get(locale.language) or get_datetime_format("long", locale=locale).replace("'", "")
    return f"{joined.replace('{1}', date_part).replace('{0}', time_part)} ({zone_part})"


def format_day(moment: datetime, zone: tzinfo, locale: Locale) -> str:
    return format_date(moment.astimezone(zone).date(), "long", locale=locale)
