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
import threading
from collections.abc import Callable
from datetime import datetime

from adapters.storage.unit_of_work import ConcurrentUpdate, DueTimer, UnitOfWork
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
            self.moves.prepare(case)
            commands = case.fire_timer(timer.name, now, self.moves.decide)
            sent = self.moves.settle(uow, case, commands, now)
            uow.commit()
        if sent:
            self.on_commit()
        return 1

    def next_due(self) -> datetime | None:
        with self.uow() as uow:
            return uow.timers.next_due()


class TimerLoop:
    """The worker's timer thread: a round every `interval` seconds until stopped."""

    def __init__(self, timers: DueTimers, interval: float) -> None:
        self.timers = timers
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.timers.fire_due()
            except Exception:
                log.exception("timer round failed; retrying")
            self._stop.wait(self.interval)

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="case-timers", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
