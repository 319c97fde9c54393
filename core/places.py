"""Where a place keeps its clock: the IANA zone of a country (and US state), from the tz database itself.

Carriers want local times with the offset of the place (MyDHL
`plannedShippingDateAndTime` "the local time and offset of the place the parcel
leaves from"), tracking scans without an offset are read where they were
scanned, and customs periods end at the end of the local day. The zone comes
from the tz database's own country table (`zone.tab`, shipped by the pinned
`tzdata` package: "the most populous timezones first") and, for a US state,
from the `us` package's state metadata. Nothing here does I/O beyond reading
that package data.
"""

from __future__ import annotations

import importlib.resources
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

import us


@cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO 3166 country -> its zones, most populous first (tzdata `zone.tab`)."""
    table = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="ascii")
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            country, _, name = line.split("\t")[:3]
            zones.setdefault(country, []).append(name)
    return {country: tuple(names) for country, names in zones.items()}


def zones_of(country: str) -> tuple[str, ...]:
    return _country_zones().get(country.upper(), ())


def zone_for(country: str, region: str | None = None) -> ZoneInfo | None:
    """The zone of a place: the US state's first zone when the state is known, else the country's most populous.

    None for a country the tz database does not list (then the caller says so, it never guesses UTC).
    """
    if country.upper() == "US" and region:
        state = us.states.lookup(region.strip())
        if state is not None and state.time_zones:
            return ZoneInfo(state.time_zones[0])
    zones = zones_of(country)
    return ZoneInfo(zones[0]) if zones else None


def read_local(naive: datetime, country: str, region: str | None = None, city: str | None = None) -> datetime | None:
    """A wall-clock time without offset read in the zone of the place where it happened.

    The zone is the one named after the city (tz database names: Australia/Sydney,
    America/Chicago), else the US state's, else the country's when all its zones
    agree at that moment (Germany's two do), else the country's most populous
    (the best reading left; never UTC by default). None only for a country the
    tz database does not know.
    """
    zones = zones_of(country)
    if not zones:
        return None
    wanted = (city or "").strip().lower().replace(" ", "_")
    named = [name for name in zones if wanted and name.lower().rsplit("/", 1)[-1] == wanted]
    if country.upper() == "US" and region and (state := us.states.lookup(region.strip())) is not None:
        zones = tuple(state.time_zones or ()) or zones
    return naive.replace(tzinfo=ZoneInfo(named[0] if named else zones[0]))


def local_moment(moment: datetime, country: str, region: str | None = None) -> datetime:
    """`moment` on the wall clock of the place, with its offset; refuses a place with no known zone."""
    zone = zone_for(country, region)
    if zone is None:
        raise ValueError(f"no time zone is known for country {country!r}")
    return moment.astimezone(zone)
