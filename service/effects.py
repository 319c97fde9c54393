"""The one way the service layer asks another system for something once: intent, send, outcome.

Carrier bookings, notice deliveries, marketplace decisions and customs filings all go through here
(core/effects.py holds the states and moves; `outbound_effects` stores them). A consumer:

1. in its own transaction, `find`s the effect under the command's idempotency key: `Step.NOTHING`
   (the outcome is recorded: send nothing), `Step.INTERRUPTED` (found `sending`: `interrupt` moves it
   to `unknown`, and the consumer flags its case), or `Step.SEND`, when it records the intent (`send`:
   a new effect, or one more attempt) or an outcome reached without a call (`record_unsent`), and
   commits before calling the other side;
2. calls the other side, outside any transaction;
3. `settle`s the outcome in the transaction that records what the answer changes, or, for a failure,
   `in_doubt` (it may have arrived: `unknown`, unless the other side is idempotent) or `retrying` (it
   did nothing: the queue's retry sends it again), each committed on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.storage.unit_of_work import UnitOfWork
from core.effects import EffectState, OutboundEffect, Step, intended, next_step, recorded


@dataclass(frozen=True)
class Intent:
    """What is to be sent once: its case, kind, adapter and idempotency key, and the id a new effect takes
    (the id of the shipment, notice delivery or claim it makes)."""

    case_id: str
    kind: str
    adapter: str
    key: str
    new_id: str


@dataclass(frozen=True)
class Begun:
    """What `begin` found and did: the step, and the effect as it now stands (None: nothing stored yet)."""

    step: Step
    effect: OutboundEffect | None


class OutboundEffectsFlow:
    """The moves of outbound effects, each in the caller's unit of work or (failures) in one of its own."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Callable[[], datetime]) -> None:
        self.uow = uow
        self.clock = clock

    @staticmethod
    def find(uow: UnitOfWork, key: str, idempotent: bool = False) -> Begun:
        """The step a (re)delivered command takes, without moving anything."""
        effect = uow.effects.by_key(key)
        return Begun(next_step(effect, idempotent), effect)

    @staticmethod
    def find_all(uow: UnitOfWork, keys: list[str], idempotent: bool = False) -> dict[str, Begun]:
        """`find` for several keys in one query (the channels of one notice)."""
        stored = uow.effects.by_keys(keys)
        return {key: Begun(next_step(stored.get(key), idempotent), stored.get(key)) for key in keys}

    @staticmethod
    def interrupt(uow: UnitOfWork, effect: OutboundEffect, now: datetime) -> OutboundEffect:
        """A previous attempt died between the call and its record: `unknown`, for a person to check."""
        return uow.effects.save(effect.interrupted(now))

    @staticmethod
    def send(
        uow: UnitOfWork,
        found: OutboundEffect | None,
        intent: Intent,
        now: datetime,
        request: dict[str, Any] | None = None,
    ) -> OutboundEffect:
        """Record the intent: a new effect, or one more attempt of a retrying (or idempotent) one.

        The caller commits before calling the other side; a concurrent first attempt under the same
        key fails that commit on the unique key."""
        if found is None:
            i = intent
            return uow.effects.add(intended(i.new_id, i.case_id, i.kind, i.adapter, i.key, now, request))
        return uow.effects.save(found.sending(now, request))

    @staticmethod
    def record_unsent(
        uow: UnitOfWork,
        found: OutboundEffect | None,
        intent: Intent,
        state: str,
        now: datetime,
        request: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> OutboundEffect:
        """An outcome reached without a call: stored and shown, not sent (no credentials, no recipient, a person's task)."""
        if found is None:
            i = intent
            return uow.effects.add(recorded(i.new_id, i.case_id, i.kind, i.adapter, i.key, state, now, request, error))
        if found.state == EffectState.RETRYING:
            found = found.sending(now, request)
        return uow.effects.save(found.settled(state, now, error=error))

    @staticmethod
    def settle(
        uow: UnitOfWork,
        effect_id: str,
        state: str,
        now: datetime,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> OutboundEffect | None:
        """The outcome, in the transaction that records what it changes; None if the effect vanished."""
        effect = uow.effects.get(effect_id)
        if effect is None:
            return None
        return uow.effects.save(effect.settled(state, now, result, error))

    @staticmethod
    def retry(uow: UnitOfWork, effect_id: str, error: str, now: datetime) -> None:
        """`retrying` in the caller's unit of work: the call certainly did nothing; the queue sends it again."""
        effect = uow.effects.get(effect_id)
        if effect is not None and effect.state == EffectState.SENDING:
            uow.effects.save(effect.retrying(error, now))

    def in_doubt(self, effect_id: str, error: str, idempotent: bool) -> OutboundEffect | None:
        """The request may have arrived (timeout after sending, connection lost), committed on its own."""
        with self.uow() as uow:
            effect = uow.effects.get(effect_id)
            if effect is None or effect.final:
                return effect
            moved = uow.effects.save(effect.failed_in_doubt(error, self.clock(), idempotent))
            uow.commit()
            return moved

    def retrying(self, effect_id: str, error: str) -> None:
        """The call failed and certainly did nothing: recorded, then the queue's retry sends it again."""
        with self.uow() as uow:
            effect = uow.effects.get(effect_id)
            if effect is not None and effect.state == EffectState.SENDING:
                uow.effects.save(effect.retrying(error, self.clock()))
                uow.commit()
