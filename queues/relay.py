"""The outbox relay: publishes what the database committed, so a broker outage loses nothing.

Webhooks commit the event and its outgoing message together and answer at once; the
relay publishes afterwards with confirms (transactional outbox, messaging_reliability.md
§4.2), a claimed batch at once and then its confirms together. It wakes when told that something was committed
(by its own process, or on PostgreSQL by another one through NOTIFY), and polls as a safety net.

It also publishes the consumers' parked deliveries (deferrals and retries, adapters/storage/retry_schedule.py)
back to their work queues once due. A consumer that parks one tells the relay when it is due
(`expect`), so it comes back on time even when the poll interval is longer than the delay;
rows parked before a restart are found by the first round and the polls.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from adapters.storage.outbox_signal import OutboxListener
from queues.publisher import ConfirmedPublisher

if TYPE_CHECKING:
    from adapters.storage.outbox_store import OutboxStore
    from adapters.storage.retry_schedule import RetrySchedule

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        store: OutboxStore,
        publisher: ConfirmedPublisher,
        batch: int = 100,
        interval: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        linger: float = 0.0,
        schedule: RetrySchedule | None = None,  # parked deliveries, when this process has any
    ) -> None:
        self.store = store
        self.schedule = schedule
        self._due: list[datetime] = []  # due times of parked deliveries this process knows of, earliest first
        self._due_lock = threading.Lock()
        self.publisher = publisher
        self.batch = batch
        self.interval = interval
        self.clock = clock
        self.linger = linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        # Hears other processes' commits (adapters.storage.outbox_signal.OutboxListener, PostgreSQL): the
        # worker's relay publishes what a web without a relay of its own committed, within milliseconds.
        self.listener: OutboxListener | None = None

    def notify(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next poll."""
        self._wake.set()

    def expect(self, due_at: datetime) -> None:
        """A delivery was parked until `due_at`: wake then to publish it."""
        with self._due_lock:
            heapq.heappush(self._due, due_at)
        self._wake.set()  # a wait already under way may be longer: end it, so the next one counts to `due_at`

    def run_once(self) -> int:
        return self._relay_outbox() + self._relay_parked()

    def _relay_parked(self) -> int:
        """Due parked deliveries back to their work queues, a batch at a time; a refusal waits for the next round."""
        if self.schedule is None:
            return 0
        total = 0
        while True:
            sent, error = self.schedule.relay_due(
                self.batch, self.publisher.publish, backoff=timedelta(seconds=1),
                publish_many=self.publisher.publish_batch,
            )  # fmt: skip
            total += sent
            if error:
                self.last_error = error
                log.warning("relay: broker refused a parked message, will retry: %s", error)
                return total
            if sent < self.batch:
                return total

    def _wait_seconds(self, round_started: datetime) -> float:
        """Until the next poll, or sooner when a parked delivery falls due; those the round published are dropped."""
        with self._due_lock:
            while self._due and self._due[0] <= round_started:
                heapq.heappop(self._due)
            if not self._due:
                return self.interval
            return max(0.0, min(self.interval, (self._due[0] - datetime.now(UTC)).total_seconds()))

    def _relay_outbox(self) -> int:
        total = 0
        while True:
            sent, error = self.store.relay_batch(
                self.clock(), self.batch, self.publisher.publish, backoff=timedelta(seconds=1),
                publish_many=self.publisher.publish_batch,
            )  # fmt: skip
            total += sent
            self.last_error = error
            if error:
                log.warning("outbox relay: broker refused a message, will retry: %s", error)
                return total
            if sent < self.batch:
                return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            round_started = datetime.now(UTC)  # the schedule's wall clock: parked rows due by now are published
            try:
                self.run_once()
            except Exception:
                log.exception("outbox relay round failed; retrying")
            woken = self._wake.wait(self._wait_seconds(round_started))
            if woken and self.linger and not self._stop.is_set():
                # Let the commits of a burst gather, so one claim publishes them all: a round per
                # request would cost the web process another transaction per webhook (README "Benchmarks").
                self._stop.wait(self.linger)
            self._wake.clear()
        self.publisher.close()

    def start(self, listen: bool = True) -> None:
        """`listen=False` where this process's own commits are all it needs to hear (a web worker's relay)."""
        if listen and self.listener is not None:
            self.listener.start()
        if self.schedule is not None:
            try:  # parked by an earlier run of the process: wake when the first of them falls due
                first = self.schedule.next_due()
            except Exception:
                log.warning("relay: retry schedule unreadable; its polls will find the parked rows", exc_info=True)
            else:
                if first is not None:
                    self.expect(first)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.listener is not None:
            self.listener.stop()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
