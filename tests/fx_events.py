"""Canonical events for the FX tests, shaped like contract/examples/return-requested-de.json."""

from __future__ import annotations

import copy
from typing import Any

RETURN_REQUESTED: dict[str, Any] = {
    "type": "return.requested",
    "marketplace_event_id": "evt-0001",
    "occurred_at": "2024-02-20T10:00:00+00:00",
    "order": {
        "id": "ORD-FX-1001",
        "currency": "USD",
        "placed_at": "2023-12-15T12:00:00+00:00",
        "delivered_at": "2023-12-20T14:05:00+00:00",
        "ship_from": {"country": "CN", "city": "Shenzhen"},
        "ship_to": {"country": "DE", "name": "Anna Schmidt", "city": "Berlin", "postal_code": "10115"},
        "buyer": {"locale": "de-DE", "timezone": "Europe/Berlin"},
    },
    "return": {"id": "RMA-FX-1001", "resolution": "refund", "reason": "size_or_fit"},
    "items": [{"sku": "SCARF-RED", "title": "Wool scarf", "quantity": 1, "unit_price": "19.99"}],
}


def fx_event(kind: str, n: str = "1001", **order: Any) -> dict[str, Any]:
    """An event of `kind` for order/return `n`, with `order` fields replaced."""
    body = copy.deepcopy(RETURN_REQUESTED)
    body["type"] = kind
    body["marketplace_event_id"] = f"evt-{kind}-{n}"
    body["order"]["id"] = f"ORD-FX-{n}"
    body["return"]["id"] = f"RMA-FX-{n}"
    body["order"].update(order)
    return body
