"""Builders for policy tests: canonical events as the contract's JSON, and a fixed rate source."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from typing import Any

from service.canonical import load_event

BASE: dict[str, Any] = {
    "type": "return.requested",
    "marketplace_event_id": "evt-1",
    "occurred_at": "2026-11-10T09:30:00+01:00",
    "order": {
        "id": "ORD-1",
        "currency": "EUR",
        "delivered_at": "2026-11-02T14:05:00+01:00",
        "ship_from": {"country": "CN"},
        "ship_to": {"country": "DE"},
        "buyer": {"timezone": "Europe/Berlin"},
        "shipping_paid": "4.99",
    },
    "return": {"id": "RMA-1", "resolution": "refund", "reason": "size_or_fit"},
    "items": [{"sku": "SCARF", "quantity": 1, "unit_price": "49.90", "category": "apparel"}],
}


def event(**changes: Any):
    """The base request with dotted-path changes, e.g. `event(**{"order.ship_to.country": "CN"})`."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return load_event(data)


class FixedRates:
    """A RateSource with one rate per pair, published the day before the date asked."""

    def __init__(self, rates: dict[tuple[str, str], str]) -> None:
        self._rates = {k: Decimal(v) for k, v in rates.items()}

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        return self._rates[(base, quote)], on, "ECB"
