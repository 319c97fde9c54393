"""Which carrier brings a return home when the marketplace names none: a table by lane.

The table is data (config/carrier_routes.json, STYLE.md: code tables are data);
this function only matches it. Pickup or drop-off stays as the buyer asked
(DOMAIN.md §6: a return address, or a pickup booked at the door where the
carrier supports it); the carrier module decides how it books that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.customs import customs_area


class NoRoute(LookupError):
    """No row of the table covers this lane: the case needs an operator to choose a carrier."""


@dataclass(frozen=True)
class Route:
    origin: str
    destination: str
    carrier: str

    def matches(self, buyer_country: str, merchant_country: str) -> bool:
        return _matches(self.origin, buyer_country) and _matches(self.destination, merchant_country)


def _matches(pattern: str, country: str) -> bool:
    return pattern in ("*", country) or (pattern == "EU" and customs_area(country) == "EU")


def load_routes(raw: Mapping[str, Any]) -> tuple[Route, ...]:
    return tuple(Route(row["from"], row["to"], row["carrier"]) for row in raw["routes"])


def choose_carrier(routes: Sequence[Route], buyer_country: str, merchant_country: str, named: str | None = None) -> str:
    """The carrier the event named, else the first route that matches the lane."""
    if named:
        return named
    for route in routes:
        if route.matches(buyer_country, merchant_country):
            return route.carrier
    raise NoRoute(f"no carrier route for {buyer_country}->{merchant_country}")


@dataclass(frozen=True)
class CarrierRoute:
    """Who carries the return and why, kept on the case (`ReturnCase.carrier_route`).

    `carrier` is None when the lane is unknown or no row covers it; the case then
    needs an operator to choose, and `reason` says why.
    """

    carrier: str | None
    lane: str
    source: str  # event | routing_table
    reason: str | None = None


def carrier_route(
    routes: Sequence[Route], buyer_country: str | None, merchant_country: str | None, named: str | None = None
) -> CarrierRoute:
    """The carrier the event named, else the lane table's, else none with the reason."""
    lane = f"{buyer_country or '?'}->{merchant_country or '?'}"
    if named:
        return CarrierRoute(named, lane, "event")
    if not buyer_country or not merchant_country:
        return CarrierRoute(None, lane, "routing_table", "the lane is not known")
    try:
        return CarrierRoute(choose_carrier(routes, buyer_country, merchant_country), lane, "routing_table")
    except NoRoute as exc:
        return CarrierRoute(None, lane, "routing_table", str(exc))
