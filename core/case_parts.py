"""The typed parts a ReturnCase keeps beside its order and return: table states and timers.

Each part is a frozen value; the case moves by replacing one (`ReturnCase` methods), never by writing a key.
Times are tz-aware datetimes here; the storage adapter alone turns them into ISO text and back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any


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


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence an operator submitted in a dispute, judged when it came in (seed 002 FAQ 3, 5)."""

    kind: str | None
    url: str | None
    at: datetime
    valid: bool
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Escalation:
    """A dispute taken beyond the platform (core.cases.ESCALATIONS)."""

    to: str
    at: datetime
    note: str | None = None


@dataclass(frozen=True)
class Dispute:
    """A dispute on the case (seed 001 §6.1) and its evidence period (举证期, seed 002 FAQ 5)."""

    type: str | None
    opened_at: datetime
    evidence_due_by: datetime
    evidence: tuple[Evidence, ...] = ()
    escalations: tuple[Escalation, ...] = ()
    objection_after_completion: bool = False
    evidence_outcome: str | None = None  # once the period ended: valid_evidence_in_time | no_valid_evidence

    def with_evidence(self, item: Evidence) -> Dispute:
        return replace(self, evidence=(*self.evidence, item))

    def escalated(self, escalation: Escalation) -> Dispute:
        return replace(self, escalations=(*self.escalations, escalation))


@dataclass(frozen=True)
class CustomsDeclaration:
    """The returned-goods declaration (service/customs.py): planned, then stored unsent or filed with its answer.

    `status`: planned | not_sent | filed | accepted | refused; `request` is the filing as built (shown on the case),
    `reference` the authority's number and `error` why it refused, once the broker answered.
    """

    status: str
    adapter: str
    request: dict[str, Any] | None = None
    reference: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        """Whether the filing went out and came back (then `reference` or `error` says how)."""
        return self.status not in ("planned", "not_sent")


@dataclass(frozen=True)
class Parcel:
    """A parcel from the merchant to the buyer: the order's own (the one to intercept) or an exchange, repair or
    reship leg (the one the buyer hears about, seed 000); `booked_at` when we booked it with a carrier."""

    carrier: str | None
    tracking_number: str | None
    booked_at: datetime | None = None


@dataclass(frozen=True)
class LateAcceptance:
    """A request after the window accepted all the same (seed 002 FAQ 2): why, in the operator's words, and when."""

    reason: str | None
    at: datetime
