"""What operations staff ask of the running service: queues, dead letters and their replay, overdue cases.

The broker side (depths, browsing, moving messages) is the `BrokerInspector` port declared here, which the
composition root (service/bootstrap.py) fills with `queues.inspection`'s; this module adds what only the
database knows: how many messages each consumer handled lately, which
dead letters were recorded, which cases are past a deadline, and what failed recently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from adapters.storage.operations_store import OperationsStore
from adapters.storage.ports import ConcurrentUpdate, StorageError
from adapters.storage.unit_of_work import UnitOfWork
from core.case_parts import Timer
from core.cases import TIMER_FOR_DEADLINE
from core.effects import NEEDS_A_PERSON
from core.lifecycle import FINAL_STATES

log = logging.getLogger(__name__)

# A dead letter leaves this mark in the consumers' inbox (consumer `dead-letter:<queue>`), so the
# embedded broker's restart recovery does not resurrect it; a replay removes the mark again.
DEAD_LETTER_MARK = "dead-letter:"

# States in which a case is finished (no row of the lifecycle table leaves them): no deadline
# of theirs is overdue, and their buyer's personal data may be purged after the retention period.
CLOSED_STATES = FINAL_STATES

# Queue depth history for the console's sparklines: samples at least this far apart, kept this long.
DEPTH_SAMPLE_GAP = timedelta(seconds=10)
DEPTH_HISTORY = timedelta(hours=1)

# Outbound effects an operator must look at (core/effects.py): bookings, notices, decisions and filings in doubt,
# refused, or waiting for a retry.
FAILED_EFFECTS = tuple(sorted(NEEDS_A_PERSON))

__all__ = ["CLOSED_STATES", "DEAD_LETTER_MARK", "BrokerInspector", "Operations"]


class QueueDepth(Protocol):
    """One queue as the broker shows it."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...  # work | dead | retry

    @property
    def messages(self) -> int | None: ...  # None when the broker did not answer for this queue

    @property
    def consumers(self) -> int | None: ...


@dataclass(frozen=True)
class ParkedRetries:
    """A work queue's retries waiting in the database (the retry schedule), shown beside the broker's queues."""

    name: str  # `<work queue>.retry`
    messages: int
    role: str = "retry"
    consumers: int | None = None


class DeadLetterView(Protocol):
    """A dead letter as operators see it (`summary()`: queue, message_id, reason, case_id, …)."""

    def summary(self) -> dict[str, Any]: ...


class BrokerInspector(Protocol):
    """The ops console's port to the broker: depths, dead letters and their replay (queues.inspection implements
    it on RabbitMQ and the embedded broker). An unknown work queue raises a `LookupError` (a 404 for operators)."""

    def queues(self) -> Sequence[QueueDepth]: ...

    def dead_letters(self, work_queue: str, limit: int = 100) -> Sequence[DeadLetterView]: ...

    def replay(self, work_queue: str, message_id: str | None = None) -> list[str]:
        """Move dead letters of `work_queue` back to it (one by id, or all); returns the replayed ids."""
        ...


class DepthRates:
    """Change of each queue's depth per second between two looks (positive: it grows faster than it drains)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def observe(self, name: str, depth: int | None) -> float | None:
        if depth is None:
            return None
        now = self.clock()
        with self._lock:
            previous = self._last.get(name)
            self._last[name] = (now, depth)
        if previous is None or now - previous[0] <= 0:
            return None
        return round((depth - previous[1]) / (now - previous[0]), 3)


def still_pending(deadline: str, timers: Mapping[str, Timer] | None) -> bool:
    """Whether a deadline still binds: its case timer (core.cases.TIMER_FOR_DEADLINE) is armed and unfired.

    A case arms a timer only in states that care about the deadline, and the timer is cancelled
    or fired once the deadline is met or acted on; a deadline with no timer kind is always shown.
    """
    event = TIMER_FOR_DEADLINE.get(deadline)
    if event is None or timers is None:
        return True
    timer = timers.get(event)
    return timer is not None and timer.pending


@dataclass
class Operations:
    """`work_queue_names` are the broker's work queues; a queue's consumer is its name without `queue_prefix.`."""

    store: OperationsStore
    uow: Callable[[], UnitOfWork]
    work_queue_names: tuple[str, ...]
    queue_prefix: str
    inspector: BrokerInspector
    clock: Callable[[], datetime]

    def __post_init__(self) -> None:
        self.rates = DepthRates()
        self._sampled_at: datetime | None = None

    def _consumer_of(self, queue_name: str) -> str:
        return queue_name.removeprefix(self.queue_prefix + ".")

    def queues(self) -> list[dict[str, Any]]:
        """Depth, consumers and depth change per second of every queue; messages handled in the last minute.

        The retries waiting for each work queue are rows in the database (the retry schedule), shown as
        a `retry` entry `<queue>.retry` with `source: database` where the delay queues used to be."""
        since = self.clock() - timedelta(minutes=1)
        handled = self.store.handled_since(since)
        states = self._states()
        self._sample(states)
        parked_names = set(self._parked_names())
        return [
            {
                "name": state.name,
                "role": state.role,
                "messages": state.messages,
                "consumers": state.consumers,
                "depth_change_per_second": self.rates.observe(state.name, state.messages),
                "handled_last_minute": handled.get(self._consumer_of(state.name), 0) if state.role == "work" else None,
                "source": "database" if state.name in parked_names else "broker",
            }
            for state in states
        ]

    def _parked_names(self) -> list[str]:
        return [f"{queue}.retry" for queue in self.work_queues()]

    def _states(self) -> list[QueueDepth]:
        """The broker's queues, then each work queue's parked retries as counted in the database."""
        parked = self.store.parked_retries()
        return [
            *self.inspector.queues(),
            *(ParkedRetries(f"{queue}.retry", parked.get(queue, 0)) for queue in self.work_queues()),
        ]

    def sample_depths(self) -> int:
        """Record every queue's depth now (a periodic task, so the history grows while nobody looks)."""
        return self._sample(self._states(), force=True)

    def _sample(self, states: Sequence[QueueDepth], force: bool = False) -> int:
        """One row per queue, at most every DEPTH_SAMPLE_GAP per process; rows older than DEPTH_HISTORY go."""
        now = self.clock()
        if not force and self._sampled_at is not None and now - self._sampled_at < DEPTH_SAMPLE_GAP:
            return 0
        self._sampled_at = now
        depths = {s.name: s.messages for s in states if s.messages is not None}
        try:
            self.store.record_depths(depths, now, forget_before=now - DEPTH_HISTORY)
        except StorageError as exc:  # a sparkline loses a point; the queues are still shown
            log.warning("queue depths not recorded: %s", exc)
            return 0
        return len(depths)

    def depth_history(self) -> dict[str, list[tuple[datetime, int]]]:
        """Each queue's depth samples of the last hour, oldest first."""
        return self.store.depth_history(self.clock() - DEPTH_HISTORY)

    def work_queues(self) -> list[str]:
        return list(self.work_queue_names)

    def dead_letters(self, queue: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        names = [queue] if queue else self.work_queues()
        found: list[dict[str, Any]] = []
        for name in names:
            found.extend(letter.summary() for letter in self.inspector.dead_letters(name, limit))
        return found

    def record_dead_letter(self, queue: str, message_id: str, reason: str, case_id: str | None = None) -> None:
        """Called by the consumers once the broker confirmed a dead letter; the case it was about is flagged
        for attention with the reason on its timeline, so no case waits silently in `new` (issue 16)."""
        self.store.mark(DEAD_LETTER_MARK + self._consumer_of(queue), message_id, self.clock())
        if case_id:
            self._flag_case(case_id, {"queue": queue, "message_id": message_id, "reason": reason[:500]})

    def flag_unrecorded_dead_letters(self) -> int:
        """Dead letters no consumer recorded: the broker's own (its delivery limit, after a worker crashed on the
        message each time) reach no callback, so this sweep (a periodic task of the worker) records them and
        flags their cases as `record_dead_letter` does. Returns how many it found."""
        found = 0
        for letter in self.dead_letters(limit=500):
            if self.store.is_marked(DEAD_LETTER_MARK + self._consumer_of(letter["queue"]), letter["message_id"]):
                continue
            case_id = letter["case_id"] if isinstance(letter["case_id"], str) else None
            self.record_dead_letter(letter["queue"], letter["message_id"], letter["reason"] or "dead-lettered", case_id)
            found += 1
        return found

    def _flag_case(self, case_id: str, detail: dict[str, Any]) -> None:
        for _ in range(5):  # another consumer may save the case meanwhile: load again and retry
            with self.uow() as uow:
                case = uow.cases.get(case_id)
                if case is None:
                    return
                case.record_result("dead_lettered", detail, self.clock(), attention=True)
                try:
                    uow.cases.save(case, self.clock())
                    uow.commit()
                    return
                except ConcurrentUpdate:
                    continue

    def replay(self, queue: str, message_id: str | None = None) -> list[str]:
        """Move dead letters back to their work queue, and forget that they were dead."""
        replayed = self.inspector.replay(queue, message_id)
        if replayed:
            self.store.unmark(DEAD_LETTER_MARK + self._consumer_of(queue), replayed)
        return replayed

    def overdue(self, limit: int = 500) -> list[dict[str, Any]]:
        """Open cases with at least one policy deadline already past and still binding, most overdue first."""
        now = self.clock()
        overdue: list[dict[str, Any]] = []
        for case in self.store.open_cases(CLOSED_STATES, limit=5000):
            past = {name: due for name, due in case.deadlines.items() if due < now and still_pending(name, case.timers)}
            if past:
                first = min(past.values())
                overdue.append(
                    {
                        "case_id": case.case_id,
                        "marketplace": case.marketplace,
                        "order_id": case.order_id,
                        "return_id": case.return_id,
                        "state": case.state,
                        "overdue": {name: due.isoformat() for name, due in sorted(past.items())},
                        "overdue_hours": round((now - first).total_seconds() / 3600, 1),
                    }
                )
        overdue.sort(key=lambda case: -case["overdue_hours"])
        return overdue[:limit]

    def recent_failures(self, limit: int = 20) -> list[dict[str, Any]]:
        """Cases flagged for attention, outbound effects in doubt or refused, and messages the relay could not publish."""
        failures: list[dict[str, Any]] = [
            {"at": f.at.isoformat(), "kind": f.kind, "case_id": f.case_id, "detail": f.detail}
            for f in self.store.recent_failures(FAILED_EFFECTS, limit)
        ]
        failures.sort(key=lambda f: f["at"], reverse=True)
        return failures[:limit]
