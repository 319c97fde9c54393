"""Outbound effects: a request to another system (a carrier booking, a buyer notice, a decision told to a
marketplace, a customs filing) made at most once per idempotency key.

The intent is recorded under its key, and committed, before the request goes out; the outcome is recorded
after. What a redelivered command then finds decides what happens (`next_step`): a final outcome sends
nothing; an effect left `sending` (the process died during the call) may have happened, so it becomes
`unknown` for a person to check, unless the other side is idempotent (it takes the same key twice as
once), when it is simply sent again. A failure that certainly did nothing is `retrying`; one after which
the request may have arrived (a timeout after sending, a connection lost) is `unknown` on the same terms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class EffectKind(StrEnum):
    CARRIER_BOOKING = "carrier_booking"
    NOTICE = "notice"
    MARKETPLACE_DECISION = "marketplace_decision"
    CUSTOMS_CLAIM = "customs_claim"
    CUSTOMS_DECLARATION = "customs_declaration"


class EffectState(StrEnum):
    SENDING = "sending"  # intent recorded; the call is under way, or its process died during it
    RETRYING = "retrying"  # the call failed and certainly did nothing: the queue sends it again
    UNKNOWN = "unknown"  # it may have happened: a person checks before anything is sent again
    DONE = "done"  # the other side took it
    REFUSED = "refused"  # the other side said no
    NOT_SENT = "not_sent"  # built and stored, not sent (no credentials, or refused before it left)
    NO_RECIPIENT = "no_recipient"  # nobody to send it to
    OPERATOR_TASK = "operator_task"  # the other side has no API for it: a person does it by hand


IN_FLIGHT = frozenset({EffectState.SENDING, EffectState.RETRYING})
# The states an operator must look at: the outcome is in doubt, or the other side refused.
NEEDS_A_PERSON = frozenset({EffectState.UNKNOWN, EffectState.REFUSED, EffectState.RETRYING})

# How each kind has always named its outcomes in the views (`GET /returns/<id>`, the console, /ops).
_LABELS: dict[str, dict[str, str]] = {
    EffectKind.CARRIER_BOOKING: {EffectState.DONE: "booked", EffectState.REFUSED: "rejected"},
    EffectKind.NOTICE: {EffectState.DONE: "sent", EffectState.REFUSED: "failed"},
    EffectKind.MARKETPLACE_DECISION: {EffectState.DONE: "answered"},
    EffectKind.CUSTOMS_CLAIM: {EffectState.DONE: "filed"},
    EffectKind.CUSTOMS_DECLARATION: {EffectState.DONE: "filed"},
}


def status_label(kind: str, state: str) -> str:
    """The state as the kind's views have always shown it (a booking is `booked`, a notice `sent`)."""
    return _LABELS.get(kind, {}).get(state, state)


class Step(StrEnum):
    SEND = "send"  # nothing sent yet, or sending again is safe
    NOTHING = "nothing"  # the outcome is recorded: a redelivery sends nothing more
    INTERRUPTED = "interrupted"  # found `sending`: it may have happened; move it to `unknown`, flag a person


class EffectMoveError(ValueError):
    """A move the effect's state does not allow (a bug in the caller, never the other side's doing)."""


@dataclass(frozen=True)
class OutboundEffect:
    """One request to another system under its idempotency key, with where it stands."""

    id: str
    case_id: str
    kind: str
    adapter: str
    idempotency_key: str
    state: str
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    request: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.state not in IN_FLIGHT

    @property
    def status(self) -> str:
        return status_label(self.kind, self.state)

    def sending(self, now: datetime, request: dict[str, Any] | None = None) -> OutboundEffect:
        """One more attempt goes out: allowed for a new or retrying effect (or an idempotent one in flight)."""
        if self.state not in IN_FLIGHT:
            raise EffectMoveError(f"effect {self.id} is {self.state}: it is not sent again")
        return replace(self, state=EffectState.SENDING, attempts=self.attempts + 1, updated_at=now,
                       request=self.request if request is None else request, error=None)  # fmt: skip

    def settled(
        self, state: str, now: datetime, result: dict[str, Any] | None = None, error: str | None = None
    ) -> OutboundEffect:
        """The outcome: a final state, with the other side's answer or what went wrong.

        An effect given up as `unknown` (a redelivery found it `sending` while the call was still under way)
        still takes the answer when it comes: what the other side did is then known."""
        if state in IN_FLIGHT:
            raise EffectMoveError(f"{state} is not an outcome")
        if self.final and self.state != EffectState.UNKNOWN:
            raise EffectMoveError(f"effect {self.id} is already {self.state}")
        return replace(self, state=state, updated_at=now, error=error,
                       result=self.result if result is None else result)  # fmt: skip

    def retrying(self, error: str, now: datetime) -> OutboundEffect:
        if self.state != EffectState.SENDING:
            raise EffectMoveError(f"effect {self.id} is {self.state}, not sending")
        return replace(self, state=EffectState.RETRYING, error=error, updated_at=now)

    def failed_in_doubt(self, error: str, now: datetime, idempotent: bool) -> OutboundEffect:
        """The request may have arrived: sent again only where the other side is idempotent, else a person checks."""
        if idempotent:
            return self.retrying(error, now)
        return self.settled(EffectState.UNKNOWN, now, error=error)

    def interrupted(self, now: datetime) -> OutboundEffect:
        """Found `sending` by a redelivery: the previous attempt died between sending and recording."""
        return self.settled(
            EffectState.UNKNOWN, now, error="interrupted during the call; check the other side before sending again"
        )


class SentThroughEffect:
    """A business record whose sending is an outbound effect (a booking, a notice delivery): where its
    request stands is read from that effect, never kept twice."""

    effect: OutboundEffect

    @property
    def status(self) -> str:
        return self.effect.status

    @property
    def response(self) -> dict[str, Any] | None:
        return self.effect.result

    @property
    def error(self) -> str | None:
        return self.effect.error

    @property
    def updated_at(self) -> datetime:
        return self.effect.updated_at


def intended(
    effect_id: str,
    case_id: str,
    kind: str,
    adapter: str,
    idempotency_key: str,
    now: datetime,
    request: dict[str, Any] | None = None,
) -> OutboundEffect:
    """A new effect whose first attempt is about to go out (recorded and committed before it does)."""
    return OutboundEffect(effect_id, case_id, kind, adapter, idempotency_key, EffectState.SENDING, now, now,
                          attempts=1, request=request)  # fmt: skip


def recorded(
    effect_id: str,
    case_id: str,
    kind: str,
    adapter: str,
    idempotency_key: str,
    state: str,
    now: datetime,
    request: dict[str, Any] | None = None,
    error: str | None = None,
) -> OutboundEffect:
    """An effect settled without a call (not sent, no recipient, an operator task)."""
    if state in IN_FLIGHT:
        raise EffectMoveError(f"{state} is not an outcome")
    return OutboundEffect(effect_id, case_id, kind, adapter, idempotency_key, state, now, now,
                          request=request, error=error)  # fmt: skip


def next_step(effect: OutboundEffect | None, idempotent: bool = False) -> Step:
    """What a (re)delivered command does about the effect stored under its key."""
    if effect is None or effect.state == EffectState.RETRYING:
        return Step.SEND
    if effect.state == EffectState.SENDING:
        return Step.SEND if idempotent else Step.INTERRUPTED
    return Step.NOTHING
