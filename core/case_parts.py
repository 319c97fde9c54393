"""The typed parts a ReturnCase keeps beside its order and return: table states and timers.

Each part is a frozen value; the case moves by replacing one (`ReturnCase` methods), never by writing a key.
Times are tz-aware datetimes here; the storage adapter alone turns them into ISO text and back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class TableStates:
    """The states of the order and refund tables (core.lifecycle); the case table's is `ReturnCase.state`.

    `order` is None until a move sets it: until then the order's own facts say it (unpaid, paid, delivered).
    """

    order: str | None = None
    refund: str = "none"


@dataclass(frozen=True)
class Timer:
    """A deadline's timer (core.cases.TIMER_FOR_DEADLINE): fired once, or cancelled, never both undone."""

    due_at: datetime
    fired_at: datetime | None = None
    cancelled: bool = False

    @property
    def pending(self) -> bool:
        return self.fired_at is None and not self.cancelled

    def fired(self, now: datetime) -> Timer:
        return replace(self, fired_at=now)

    def cancel(self) -> Timer:
        return replace(self, cancelled=True)

    def moved_to(self, due_at: datetime) -> Timer:
        return replace(self, due_at=due_at)


@dataclass(frozen=True)
class MarketplaceReturn:
    """What became of telling the marketplace of a buyer's withdrawal (issue 18 §2).

    `status`: asked (a command is out), unknown (its answer is), accepted (the marketplace opened `return_id`),
    not_sent, refused, or not_told (its platform cannot be told; `reason` says why).
    """

    status: str
    return_id: str | None = None
    withdrawal_return_id: str | None = None  # the case's return number before the marketplace's joined it
    reason: str | None = None
