"""Case timers: fired by the worker from the database, once each, whatever restarts in between.

The due times live in `case_timers` (kept in step with each case when it is saved),
so a restart loses nothing: the next round finds what fell due meanwhile. Each timer
is fired in its own transaction that claims the row (`FOR UPDATE SKIP LOCKED` on
PostgreSQL), fires it through `ReturnCase.fire_timer` as an event on the case, writes
the commands it causes to the outbox and saves the case, which marks the timer fired.
A concurrent change to the same case makes the save fail (optimistic version) and the
timer is tried again next round, against the fresh case. DOMAIN §2: merchant silence
past the deadline means agreed; windows close; unprocessed refunds are paid out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from adapters.storage.ports import ConcurrentUpdate
from adapters.storage.unit_of_work import DueTimer, UnitOfWork
from service.handlers import CaseMoves

log = logging.getLogger(__name__)


class DueTimers:
    """Fire every timer due by the clock; each one exactly once."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Callable[[], datetime],
        moves: CaseMoves,
        batch: int = 100,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.moves = moves
        self.batch = batch
        self.on_commit = on_commit

    def fire_due(self) -> int:
        """One round: how many timers fired (lapsed ones included)."""
        now = self.clock()
        with self.uow() as uow:
            due = uow.timers.due(now, self.batch)
        fired = 0
        for timer in due:
            try:
                fired += self._fire(timer, now)
            except ConcurrentUpdate:
                log.info("case %s changed while %s fired; trying again next round", timer.case_id, timer.name)
        return fired

    def _fire(self, timer: DueTimer, now: datetime) -> int:
        with self.uow() as uow:
            if not uow.timers.claim(timer, now):
                return 0
            case = uow.cases.get(timer.case_id)
            if case is None:
                return 0
            previous = case.state
            self.moves.prepare(case)
            commands = case.fire_timer(timer.name, now, self.moves.decide)
            sent = self.moves.settle(uow, case, commands, now, previous)
            uow.commit()
        if sent:
            self.on_commit()
        return 1

    def next_due(self) -> datetime | None:
        with self.uow() as uow:
            return uow.timers.next_due()
