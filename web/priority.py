"""Requests first in the embedded process: queued work waits while webhooks are being answered.

`make run` answers HTTP and runs the relay, every consumer and the timers in one interpreter, so
one lock (the GIL) is shared by a webhook that needs about 3 ms of CPU and a case event or notice
that needs 15 to 50 ms. Measured, a burst of webhooks then ran at a tenth of the rate it reaches
alone, with p99 in seconds: the consumers took most of the CPU while marketplaces waited for an
answer they time out on. What a webhook promises (stored, then 202) needs only the intake; the
work behind it is asynchronous, durable in the outbox and queues, and catches up once the burst
passes. So a consumer here takes its next message only when no request has been in flight for
`quiet` seconds, or after waiting `max_wait` seconds (work never waits forever under steady load).
`make web` with `make worker` needs none of this: the web and the consumers are separate processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ParamSpec, TypeVar

Params = ParamSpec("Params")  # a message handler's: one message, or a batch of them
Outcome = TypeVar("Outcome")
Message = TypeVar("Message")


class RequestsFirst:
    def __init__(self, quiet: float, max_wait: float) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last_done = 0.0
        self._idle = threading.Event()
        self._idle.set()

    def wsgi(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """Count the requests in flight around the app (the body is built before the app returns it)."""

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self._in_flight += 1
                self._idle.clear()
            try:
                return app(environ, start_response)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._last_done = time.monotonic()
                    if self._in_flight == 0:
                        self._idle.set()

        return counted

    def handler(self, handle: Callable[Params, Outcome]) -> Callable[Params, Outcome]:
        """`handle`, called once the web is quiet (or `max_wait` has passed)."""

        def after_requests(*args: Params.args, **kwargs: Params.kwargs) -> Outcome:
            self.wait_quiet()
            return handle(*args, **kwargs)  # a batch handler's outcomes pass through

        return after_requests

    def batch_handler(
        self, handle: Callable[[Sequence[Message]], Sequence[Outcome]]
    ) -> Callable[[Sequence[Message]], list[Outcome]]:
        """`handle` in turns: a whole batch while the web stays quiet, one message at a time while requests keep
        arriving. A batch is one transaction, and on SQLite that holds the one write lock: a webhook arriving
        behind twenty case events waited for all of them (p99 185 ms at 100 req/s, measured)."""

        def in_turns(messages: Sequence[Message]) -> list[Outcome]:
            outcomes: list[Outcome] = []
            waiting = list(messages)
            while waiting:
                quiet = self.wait_quiet()
                turn, waiting = (waiting, []) if quiet else (waiting[:1], waiting[1:])
                outcomes.extend(handle(turn))  # in delivery order, so a case's events keep theirs
            return outcomes

        return in_turns

    def wait_quiet(self) -> bool:
        """Wait for a quiet web, at most `max_wait`; True if it is quiet, False if the wait ran out."""
        deadline = time.monotonic() + self.max_wait
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._idle.wait(remaining):
                return False
            with self._lock:
                quiet_for = time.monotonic() - self._last_done
                if self._in_flight == 0 and quiet_for >= self.quiet:
                    return True
            time.sleep(min(max(self.quiet - quiet_for, 0.001), max(deadline - time.monotonic(), 0)))
