"""A marketplace's times as aware UTC: Unix seconds or milliseconds, ISO 8601, or a platform's wall clock.

Every time a marketplace sends is bounded to 2000-2100, so a hostile or broken
value is refused at the edge (400) instead of overflowing deadline arithmetic later.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from adapters.marketplaces.base import PayloadError

MIN_EPOCH, MAX_EPOCH = 946_684_800.0, 4_102_444_800.0
"""2000-01-01 and 2100-01-01 UTC: a marketplace time outside them is a hostile or broken payload (400),
never a date the rest of the system has to survive (year 9999 overflows deadline arithmetic)."""


def epoch(value: Any) -> datetime:
    """Unix seconds or milliseconds (Lazada pushes milliseconds, its data seconds) as aware UTC."""
    if isinstance(value, bool):
        raise PayloadError(f"{value!r} is not a Unix time")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise PayloadError(f"{str(value)[:40]!r} is not a Unix time") from None
    if number > 1e11:
        number /= 1000.0
    if not MIN_EPOCH <= number <= MAX_EPOCH:  # 1e300, inf, nan, negative: no platform sends these
        raise PayloadError(f"{str(value)[:40]!r} is not a Unix time between 2000 and 2100")
    return datetime.fromtimestamp(number, UTC)


def iso(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError, TypeError):
        raise PayloadError(f"{str(value)[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{value!r} has no UTC offset")
    return bounded(parsed.astimezone(UTC), value)


def bounded(moment: datetime, raw: Any) -> datetime:
    """A marketplace time between 2000 and 2100 (see MIN_EPOCH), else a 400 naming the value."""
    if not MIN_EPOCH <= moment.timestamp() <= MAX_EPOCH:
        raise PayloadError(f"{str(raw)[:40]!r} is not a time between 2000 and 2100")
    return moment


def local_time(value: str, zone: str, formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)) -> datetime:
    """A platform's wall-clock time string (no offset) in its documented zone, as aware UTC."""
    for fmt in formats:
        try:
            moment = datetime.strptime(value.strip(), fmt).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        except (AttributeError, ValueError, OverflowError):
            continue
        return bounded(moment, value)
    raise PayloadError(f"{value!r} is not a time in {', '.join(formats)}")
