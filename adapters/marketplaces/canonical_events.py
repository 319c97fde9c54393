"""The canonical event dict a marketplace module builds, what a thin one lacks, and how enrichment refines it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.marketplaces.base import PayloadError
from core.cases import PENDING_ORDER as CASE_PENDING_ORDER

# Order id of a return whose notification names no order (eBay's, Shopify's `returns/decline`): the
# case keeps the order id it already knows, and enrichment fills it from the platform (core/cases.py).
PENDING_ORDER = CASE_PENDING_ORDER


def canonical_event(
    *,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    order_id: str,
    return_id: str,
    raw_status: str | None = None,
    reason: tuple[str | None, str | None] = (None, None),
    reason_detail: str | None = None,
    resolution: str | None = None,
    currency: str | None = None,
    refund_amount: str | None = None,
    items: list[dict[str, Any]] | None = None,
    tracking: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One canonical event as the contract's JSON (shared/contract/canonical-event.schema.json)."""
    texts = (event_id, order_id, return_id, raw_status, reason[1], reason_detail, resolution, currency, refund_amount)
    if any("\x00" in str(text) for text in texts if text is not None) or _has_nul(items) or _has_nul(tracking):
        raise PayloadError("a field contains a NUL character, which no marketplace sends and no database stores")
    ret: dict[str, Any] = {"id": return_id}
    canonical, raw = reason
    optional_return = {
        "reason": canonical,
        "raw_reason": raw[:200] if raw else None,
        "reason_detail": str(reason_detail)[:2000] if reason_detail else None,
        "resolution": resolution,
        "refund_amount": refund_amount,
    }
    ret.update({k: v for k, v in optional_return.items() if v is not None})
    order: dict[str, Any] = {"id": order_id}
    if currency:
        order["currency"] = currency
    event: dict[str, Any] = {
        "type": event_type,
        "marketplace_event_id": event_id[:200],
        "occurred_at": occurred_at.isoformat(),
        "order": order,
        "return": ret,
    }
    if raw_status:
        event["raw_status"] = raw_status[:200]
    if items:
        event["items"] = items
    if tracking and any(tracking.values()):
        event["tracking"] = {k: v for k, v in tracking.items() if v}
    return event


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


FACTS_A_CASE_NEEDS: tuple[tuple[str, str], ...] = (
    ("order.currency", "the order's currency"),
    ("items", "the returned items with prices"),
    ("return.reason", "the buyer's reason"),
)


def missing_facts(event: Mapping[str, Any]) -> list[str]:
    """What a thin notification left out, shown on the case until enrichment fills it."""
    missing = []
    for path, _label in FACTS_A_CASE_NEEDS:
        value: Any = event
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if not value:
            missing.append(path)
    return missing


def merge_event(thin: dict[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    """The notification's event refined by what the API said; the notification's identity is kept."""
    merged = dict(thin)
    for key in ("order", "return"):
        section = dict(thin.get(key) or {})
        section.update({k: v for k, v in (detail.get(key) or {}).items() if v not in (None, "", [])})
        merged[key] = section
    for key in ("items", "tracking"):
        if detail.get(key):
            merged[key] = detail[key]
    if detail.get("type"):
        merged["type"] = detail["type"]
    if detail.get("raw_status"):
        merged["raw_status"] = detail["raw_status"]
    return merged
