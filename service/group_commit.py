"""Group commit: requests that arrive while a transaction is being written share the next one.

A webhook's cost is mostly its transaction's fixed part (BEGIN, COMMIT and its log flush, on
SQLite the one write lock every request queues for), not its few rows. So concurrent callers
hand their work to one writer, which stores what has queued up in one transaction and answers
each caller after that commit. No thread of its own: the first caller to find no writer becomes
it (leader/follower), writes until its own work is stored, and hands the role to the next
waiting caller. Alone, a caller writes at once, as before; under load, batches form by themselves
from what queued up during the previous commit. Works on threads and, monkey-patched, gevent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Work = TypeVar("Work")
Result = TypeVar("Result")


class Ticket(Generic[Work, Result]):
    """One caller's work and, once written, its result or the exception to raise in the caller."""

    def __init__(self, work: Work) -> None:
        self.work = work
        self.done = False
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.wake = threading.Event()  # set when done, or when the caller is to lead

    def resolve(self, result: Result) -> None:
        self.result, self.done = result, True
        self.wake.set()

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True
        self.wake.set()

    def outcome(self) -> Result:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]  # done: `resolve` set it (a Result may itself be None)


class GroupCommit(Generic[Work, Result]):
    """`submit` returns when `write` has stored the work (with whatever else queued up) or raises its error.

    `write` gets up to `max_batch` tickets in arrival order and resolves or fails each; a ticket it
    leaves open, or an exception it lets out, fails the tickets it was given (never a hang).
    """

    def __init__(self, write: Callable[[Sequence[Ticket[Work, Result]]], None], max_batch: int) -> None:
        self._write = write
        self._max_batch = max(1, max_batch)
        self._lock = threading.Lock()
        self._queue: list[Ticket[Work, Result]] = []
        self._writing = False

    def submit(self, work: Work) -> Result:
        ticket: Ticket[Work, Result] = Ticket(work)
        with self._lock:
            self._queue.append(ticket)
            lead = not self._writing
            self._writing = True
        if not lead:
            ticket.wake.wait()
        if not ticket.done:  # no writer was busy, or the last one handed the role on
            self._lead(ticket)
        return ticket.outcome()

    def _lead(self, own: Ticket[Work, Result]) -> None:
        try:
            while not own.done:
                with self._lock:
                    batch = self._queue[: self._max_batch]
                    del self._queue[: self._max_batch]
                self._write_batch(batch)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # it leads next; `_writing` stays True
                else:
                    self._writing = False

    def _write_batch(self, batch: list[Ticket[Work, Result]]) -> None:
        try:
            self._write(batch)
        except Exception as exc:  # a bug in `write`: the callers get it, the writer goes on
            for ticket in batch:
                if not ticket.done:
                    ticket.fail(exc)
        except BaseException as exc:  # the writer itself is stopped (KeyboardInterrupt, a greenlet killed)
            for ticket in batch:
                if not ticket.done:
                    ticket.fail(exc)
            raise
        for ticket in batch:
            if not ticket.done:
                ticket.fail(RuntimeError("the group commit left this work unwritten"))
