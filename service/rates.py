"""The rate book: the rates the service converts with, kept current and never lost to an outage.

It starts from the source's bundled snapshot with the rates cached in the
database laid over it, so the embedded default converts offline and a restart
keeps what was fetched. `refresh` fetches the latest file (and the 90-day
history once a day or when days are missing); when the feed is down or sends
bad content, the book keeps its last good rates and records the error. A feed
outage therefore changes nothing but the rate date shown (issue 6, "Done when").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from adapters.http import HttpClient
from adapters.rates.base import RATE_SOURCES, RateFeed, fetch_published_rates
from config.settings import AdapterSettings, Settings
from core.rates import PublishedRates, freshness

log = logging.getLogger(__name__)


class RateStore(Protocol):
    """Where fetched rates are cached (a database table in production)."""

    def load(self, source: str, anchor: str) -> PublishedRates | None:
        """Everything cached for `source`, or None when nothing is."""

    def save(self, rates: PublishedRates) -> None:
        """Insert or replace the days of `rates`."""


@dataclass(frozen=True)
class RefreshOutcome:
    at: datetime
    ok: bool
    new_days: tuple[date, ...]
    latest: date | None
    errors: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "at": self.at.isoformat(),
            "ok": self.ok,
            "new_days": [d.isoformat() for d in self.new_days],
            "latest_rate_date": self.latest.isoformat() if self.latest else None,
            "errors": list(self.errors),
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateBook:
    """A `RateSource` (core.money) over one feed: thread-safe, refreshed in place."""

    def __init__(
        self,
        feed: RateFeed,
        client: HttpClient,
        settings: AdapterSettings,
        store: RateStore | None = None,
        clock: Callable[[], datetime] = _utcnow,
        reload_seconds: float = 300.0,
    ) -> None:
        self.feed = feed
        self._client = client
        self._settings = settings
        self._store = store
        self._clock = clock
        self._lock = threading.Lock()
        self._history_fetched_on: date | None = None
        self.last_refresh: RefreshOutcome | None = None
        self.reload_seconds = reload_seconds
        self._snapshot = feed.snapshot()
        self._rates = self._snapshot
        self._reloaded_at: datetime | None = None
        self._current()  # the stored rates now if the database answers; else on a later use (the web starts anyway)

    def reload(self) -> None:
        """Lay the stored rates over the snapshot: what a refresh in another process (the worker) saved."""
        if self._store is None:
            return
        cached = self._store.load(self.feed.source, self.feed.anchor)
        with self._lock:
            if cached is not None:
                self._rates = self._rates.merged(cached)
            self._reloaded_at = self._clock()

    def _current(self) -> PublishedRates:
        """The rates, re-read from the store every `reload_seconds` (web processes do not refresh themselves).
        An unreachable store keeps the rates held and is tried again within 30 s."""
        now = self._clock()
        due = self._reloaded_at is None or (now - self._reloaded_at).total_seconds() >= self.reload_seconds
        if self._store is not None and due:
            try:
                self.reload()
            except Exception as exc:  # the store's own errors: the database is down or slow
                log.warning("exchange rates not reloaded from the database (%s); keeping those held", exc)
                self._reloaded_at = now - timedelta(seconds=max(0.0, self.reload_seconds - 30))
        return self._rates

    @property
    def source(self) -> str:
        return self.feed.source

    @property
    def rates(self) -> PublishedRates:
        return self._current()

    def rate(self, base: str, quote: str, on: date) -> tuple[Decimal, date, str]:
        return self._current().rate(base, quote, on)

    def _wants_history(self, now: datetime) -> bool:
        """The 90-day file is large: fetch it once a day, or at once when publications are missing."""
        if self._history_fetched_on != now.date():
            return True
        latest = self._rates.latest
        return latest is None or latest < self.feed.calendar.expected_publication(now)

    def refresh(self) -> RefreshOutcome:
        """Fetch and merge; on any failure keep the rates held and say why."""
        now = self._clock()
        history = self._wants_history(now)
        result = fetch_published_rates(self.feed, self._client, self._settings, history=history)
        new_days: tuple[date, ...] = ()
        if result.rates is not None:
            with self._lock:
                held = self._rates
                new_days = tuple(sorted(set(result.rates.days) - set(held.days)))
                self._rates = held.merged(result.rates)
            if history and len(result.errors) == 0:
                self._history_fetched_on = now.date()
        for error in result.errors:
            log.warning("exchange-rate refresh kept the last good rates: %s", error)
        outcome = RefreshOutcome(now, not result.errors, new_days, self._rates.latest, result.errors)
        self.last_refresh = outcome
        if result.rates is not None and self._store is not None:
            self._store.save(result.rates)  # for restarts and for web processes, which reload from it
        return outcome

    def status(self) -> dict[str, object]:
        """What operators see: the source, the dates held, staleness and the last refresh."""
        rates = self._current()
        return {
            "source": rates.source,
            "anchor": rates.anchor,
            "earliest_rate_date": rates.earliest.isoformat() if rates.earliest else None,
            **freshness(rates, self.feed.calendar, self._clock()).to_json(),
            "last_refresh": self.last_refresh.to_json() if self.last_refresh else None,
        }


class RateRefresher:
    """The worker's timer: refresh the book at once, then every `interval_seconds`, until stopped.

    A failed refresh is logged and recorded on the book (`last_refresh`); the timer keeps going.
    """

    def __init__(self, book: RateBook, interval_seconds: float) -> None:
        if interval_seconds <= 0:
            raise ValueError("the refresh interval must be positive")
        self.book = book
        self.interval_seconds = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> RefreshOutcome | None:
        try:
            return self.book.refresh()
        except Exception:  # a bug in one refresh must not end the timer; the next one tries again
            log.exception("exchange-rate refresh failed")
            return None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval_seconds)

    def start(self) -> threading.Thread:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="fx-rate-refresh", daemon=True)
            self._thread.start()
        return self._thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def build_rate_book(
    settings: Settings, store: RateStore | None = None, clock: Callable[[], datetime] = _utcnow
) -> RateBook:
    """The book for `RB_RATE_SOURCE` (default `ecb`), fetching through the one HTTP client wrapper."""
    feed = RATE_SOURCES.get(settings.rate_source)
    return RateBook(
        feed,
        HttpClient(timeout=settings.http_timeout_seconds),
        settings.for_adapter(feed.name),
        store=store,
        clock=clock,
        reload_seconds=min(300.0, settings.fx_refresh_seconds),
    )
