"""The outbox relay: publishes what the database committed, so a broker outage loses nothing.

Webhooks commit the event and its outgoing message together and answer at once; the
relay publishes afterwards with confirms (transactional outbox, messaging_reliability.md
§4.2), a claimed batch at once and then its confirms together. It wakes when told that something was committed, and polls as a safety net.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from queues.publisher import ConfirmedPublisher

log = logging.getLogger(__name__)


class OutboxRelay:
    def __init__(
        self,
        store,  # adapters.storage.outbox_store.OutboxStore
        publisher: ConfirmedPublisher,
        batch: int = 100,
        interval: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        linger: float = 0.0,
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.batch = batch
        self.interval = interval
        self.clock = clock
        self.linger = linger
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    def notify(self) -> None:
        """Something was committed to the outbox: publish it now rather than at the next poll."""
        self._wake.set()

    def run_once(self) -> int:
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
            try:
                self.run_once()
            except Exception:
                log.exception("outbox relay round failed; retrying")
            woken = self._wake.wait(self.interval)
            if woken and self.linger and not self._stop.is_set():
                # Let the commits of a burst gather, so one claim publishes them all: a round per
                # request would cost the web process another transaction per webhook (README "Benchmarks").
                self._stop.wait(self.linger)
            self._wake.clear()
        self.publisher.close()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
