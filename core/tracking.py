"""Canonical tracking statuses of a return parcel, and how carrier scans become them.

Each carrier module keeps one table from its own status codes to these
statuses (STYLE.md: code tables are data); this module holds what every carrier
shares: the statuses a case can move on (DOMAIN.md §5 "shipped back / awaiting
receipt"; §6 "a return tracking number is recorded") and the rule that scans
arrive out of order (FedEx AIV business rules: "events may arrive out of order,
sort by scan timestamp"; carriers_customs.md §2.2, §4 item 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


class TrackingStatus:
    SHIPPED_BACK = "shipped_back"  # the carrier has the parcel: picked up or dropped off
    IN_TRANSIT = "in_transit"
    DELIVERED_TO_WAREHOUSE = "delivered_to_warehouse"
    EXCEPTION = "exception"  # held, refused, damaged, customs delay: someone must look
    RETURNED_TO_SENDER = "returned_to_sender"  # an outbound parcel turned back (interception succeeded)
    INFORMATION = "information"  # label created, data received: no movement yet


TRACKING_STATUSES: tuple[str, ...] = (
    TrackingStatus.SHIPPED_BACK,
    TrackingStatus.IN_TRANSIT,
    TrackingStatus.DELIVERED_TO_WAREHOUSE,
    TrackingStatus.EXCEPTION,
    TrackingStatus.RETURNED_TO_SENDER,
    TrackingStatus.INFORMATION,
)

# How far along a parcel is; a late-arriving older scan never moves a case backwards.
PROGRESS: dict[str, int] = {
    TrackingStatus.INFORMATION: 0,
    TrackingStatus.SHIPPED_BACK: 1,
    TrackingStatus.IN_TRANSIT: 2,
    TrackingStatus.EXCEPTION: 2,
    TrackingStatus.RETURNED_TO_SENDER: 3,
    TrackingStatus.DELIVERED_TO_WAREHOUSE: 3,
}


@dataclass(frozen=True)
class TrackingUpdate:
    """One carrier scan, with the carrier's own code kept beside the canonical status."""

    carrier: str
    tracking_number: str
    code: str
    status: str
    occurred_at: datetime
    description: str = ""
    location: str = ""

    def key(self) -> str:
        """Identifies a scan across pushes and polls, so the same scan is applied once."""
        return f"{self.carrier}:{self.tracking_number}:{self.code}:{self.occurred_at.isoformat()}"


def canonical_status(table: Mapping[str, str], code: str, default: str = TrackingStatus.IN_TRANSIT) -> str:
    """The canonical status for a carrier code; unknown movement scans count as in transit."""
    return table.get(code.strip().upper(), default) if code else default


def in_scan_order(updates: Iterable[TrackingUpdate]) -> list[TrackingUpdate]:
    """Scans sorted by when they happened, duplicates dropped (pushes and polls overlap)."""
    unique = {update.key(): update for update in updates}
    return sorted(unique.values(), key=lambda u: (u.occurred_at, PROGRESS.get(u.status, 0)))


def furthest(updates: Iterable[TrackingUpdate]) -> TrackingUpdate | None:
    """The scan that shows the parcel furthest along, latest first among equals."""
    ordered = in_scan_order(updates)
    if not ordered:
        return None
    return max(reversed(ordered), key=lambda u: PROGRESS.get(u.status, 0))


@dataclass(frozen=True)
class TrackingScan:
    """A scan as recorded for a case (`key`: carrier, number, code and time), and how it came (push or poll)."""

    scan_key: str
    case_id: str
    carrier: str
    tracking_number: str
    code: str
    status: str
    occurred_at: datetime
    received_via: str
    received_at: datetime
    description: str = ""
    location: str = ""
