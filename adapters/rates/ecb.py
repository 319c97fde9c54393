"""ECB euro foreign exchange reference rates: the daily XML and the 90-day history.

Format (policy_fx_l10n.md §5.1, checked against real files): a `gesmes:Envelope`
holding one `Cube` in the eurofxref namespace, one `Cube time=` per publication
day and one `Cube currency= rate=` per currency, each rate "1 EUR = x". The daily
file quotes with single quotes and keeps trailing zeros; the history drops them
and writes each day on one line, newest first. Days without a publication
(weekends, TARGET closing days) are absent. Parsed with an XML parser, rates as
`Decimal(str)`, never float.

Publication: around 16:00 CET on TARGET working days; closing days are Saturdays,
Sundays, 1 January, Good Friday, Easter Monday, 1 May, 25 and 26 December
(ECB press release 14 Dec 2000), available as `holidays.financial_holidays("XECB")`.

`ecb-snapshot.xml` beside this module is the ECB's own 90-day file as published on
2024-02-27 (30 currencies, 2023-11-30 to 2024-02-27), the same data as the test
fixtures: the embedded default converts offline with it and reports its dates.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, time
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from adapters.http import OutboundRequest
from adapters.rates.base import RATE_SOURCES, FeedError
from adapters.safe_xml import UnsafeXml, parse_untrusted
from config.settings import AdapterSettings
from core.money import is_currency
from core.rates import PublicationCalendar, PublishedRates

ECB_DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
ECB_HISTORY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
SNAPSHOT_PATH = Path(__file__).with_name("ecb-snapshot.xml")

GESMES_NS = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
_ENVELOPE = f"{{{GESMES_NS}}}Envelope"
_CUBE = f"{{{EUROFXREF_NS}}}Cube"
_CODE = re.compile(r"[A-Z]{3}")


@cache
def _target_closing_days(year: int) -> frozenset[date]:
    return frozenset(holidays.financial_holidays("XECB", years=year))


def is_target_closing_day(day: date) -> bool:
    """A TARGET holiday (weekends are handled by the calendar itself)."""
    return day in _target_closing_days(day.year)


# Published "around 16:00 CET"; half an hour of grace before a missing day counts as stale.
ECB_CALENDAR = PublicationCalendar(
    zone=ZoneInfo("Europe/Berlin"), publishes_at=time(16, 30), is_closing_day=is_target_closing_day
)


def _day(cube: ET.Element) -> date:
    raw = cube.get("time")
    if raw is None:
        raise FeedError("a day Cube has no time attribute")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise FeedError(f"Cube time={raw!r} is not a date (YYYY-MM-DD)") from None


def _rate(cube: ET.Element, day: date) -> tuple[str, Decimal] | None:
    code, raw = cube.get("currency"), cube.get("rate")
    if code is None or raw is None:
        raise FeedError(f"{day}: a currency Cube lacks the currency or rate attribute")
    if not _CODE.fullmatch(code):
        raise FeedError(f"{day}: currency={code!r} is not a three-letter code")
    try:
        rate = Decimal(raw.strip())
    except InvalidOperation:
        raise FeedError(f"{day}: rate={raw!r} for {code} is not a number") from None
    if not rate.is_finite() or rate <= 0:
        raise FeedError(f"{day}: rate={raw!r} for {code} is not a positive number")
    if not is_currency(code):
        # A code the ISO table here does not know yet: skipped, not fatal, so one new
        # currency in the feed cannot stop every other rate from updating.
        return None
    return code, rate


def parse_reference_rates(body: str | bytes, source: str = "ECB") -> PublishedRates:
    """The rates of an eurofxref-daily.xml or eurofxref-hist*.xml document.

    Raises `FeedError` with a message naming the defect: not XML, another
    document, no days, a bad date, rate or code, a day or currency given twice.
    """
    try:
        root = parse_untrusted(body)  # defusedxml: a DTD in any encoding is refused; the ECB files have none
    except UnsafeXml as exc:
        raise FeedError(str(exc)) from None
    if root.tag != _ENVELOPE:
        raise FeedError(f"root element is {root.tag!r}, not gesmes:Envelope")
    outer = root.find(_CUBE)
    if outer is None:
        raise FeedError("no eurofxref Cube element in the envelope")
    days: dict[date, dict[str, Decimal]] = {}
    for day_cube in outer.findall(_CUBE):
        day = _day(day_cube)
        if day in days:
            raise FeedError(f"{day} is published twice")
        table: dict[str, Decimal] = {}
        for currency_cube in day_cube.findall(_CUBE):
            parsed = _rate(currency_cube, day)
            if parsed is None:
                continue
            code, rate = parsed
            if code in table:
                raise FeedError(f"{day}: {code} is given twice")
            table[code] = rate
        if not table:
            raise FeedError(f"{day} has no rates")
        days[day] = table
    if not days:
        raise FeedError("the document holds no publication day")
    return PublishedRates(source=source, anchor="EUR", days=days)


class EcbReferenceRates:
    """The ECB as a rate source: `RB_ECB_RATES_URL` (daily) and `RB_ECB_HISTORY_URL` (90 days)."""

    name = "ecb"
    source = "ECB"
    anchor = "EUR"
    calendar = ECB_CALENDAR

    def requests(self, settings: AdapterSettings, *, history: bool) -> list[OutboundRequest]:
        headers = {"Accept": "application/xml, text/xml"}
        requests = [OutboundRequest("GET", settings.get("RATES_URL", ECB_DAILY_URL) or ECB_DAILY_URL, headers)]
        if history:
            url = settings.get("HISTORY_URL", ECB_HISTORY_URL) or ECB_HISTORY_URL
            requests.append(OutboundRequest("GET", url, headers))
        return requests

    def parse(self, body: str | bytes) -> PublishedRates:
        return parse_reference_rates(body, self.source)

    def snapshot(self) -> PublishedRates:
        return _snapshot()


@cache
def _snapshot() -> PublishedRates:
    return parse_reference_rates(SNAPSHOT_PATH.read_bytes())


ECB = RATE_SOURCES.register("ecb", EcbReferenceRates())
