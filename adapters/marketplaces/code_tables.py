"""Mapping a marketplace's own codes to canonical ones: each module has one table per code; these apply them.

An unknown code becomes `other` (reasons) or the module's fallback event type, and
the raw value is kept in `return.raw_reason` / `raw_status` (DESIGN.md: nothing is
dropped).
"""

from __future__ import annotations

from collections.abc import Mapping

UNKNOWN_STATUS_EVENT = "return.requested"
"""What an unmapped status becomes. It opens a case for a return we had not seen
(the notification still proves a return exists), and on an existing case the
lifecycle refuses it as `event_not_allowed`, which flags the case for attention
instead of moving it (core/cases.py). The raw status travels in `raw_status`."""

REASON_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("not_as_described", "not_as_described"),
    ("not as described", "not_as_described"),
    ("description", "not_as_described"),
    ("counterfeit", "not_as_described"),
    ("fake", "not_as_described"),
    ("wrong_item", "wrong_item"),
    ("wrong item", "wrong_item"),
    ("wrong product", "wrong_item"),
    ("missing", "missing_parts"),
    ("incomplete", "missing_parts"),
    ("damaged", "damaged_in_transit"),
    ("broken", "damaged_in_transit"),
    ("defective", "defective"),
    ("not working", "defective"),
    ("quality", "defective"),
    ("size", "size_or_fit"),
    ("fit", "size_or_fit"),
    ("late", "late_delivery"),
    ("changed my mind", "changed_mind"),
    ("change_mind", "changed_mind"),
    ("change of mind", "changed_mind"),
    ("no longer", "changed_mind"),
    ("don't want", "changed_mind"),
    ("dont_want", "changed_mind"),
    ("unwanted", "changed_mind"),
)
"""Keywords for reasons of platforms that publish no reason enumeration (Lazada and
TikTok Shop return free reason names/texts: research §6.3, §7.3). First match wins,
so the more specific phrases come first. Exact codes always go through the
module's own table before this fallback."""


def canonical_reason(
    table: Mapping[str, str],
    raw: str | None,
    keywords: tuple[tuple[str, str], ...] = REASON_KEYWORDS,
) -> tuple[str | None, str | None]:
    """(canonical reason, raw code): the exact table first, then keywords, else `other`."""
    if raw in (None, ""):
        return None, None
    raw = str(raw)
    exact = table.get(raw) or table.get(raw.upper())
    if exact:
        return exact, raw
    lowered = raw.lower()
    for keyword, reason in keywords:
        if keyword in lowered:
            return reason, raw
    return "other", raw


def canonical_type(table: Mapping[str, str], raw_status: str, fallback: str = UNKNOWN_STATUS_EVENT) -> str:
    return table.get(raw_status) or table.get(raw_status.upper()) or fallback
