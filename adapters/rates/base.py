"""What every exchange-rate source offers: the requests that fetch it, a parser, a bundled snapshot.

A source is an adapter like a carrier (adapters/registry.py): a new one (say, a
provider for currencies the ECB does not publish, policy_fx_l10n.md §5.1 "Not
covered") is one new module calling `RATE_SOURCES.register`. Parsing is pure;
only `adapters.http.HttpClient` does I/O, in `fetch_published_rates`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adapters.http import HttpClient, OutboundRequest, TransientHttpError
from adapters.registry import Registry
from config.settings import AdapterSettings
from core.rates import PublicationCalendar, PublishedRates


class FeedError(Exception):
    """The source answered, but not with a usable rate table: the last good rates stay in use."""


class RateFeed(Protocol):
    name: str  # registry name; settings are RB_<NAME>_*
    source: str  # what every conversion records as its source, e.g. "ECB"
    anchor: str  # the currency all published rates are quoted against
    calendar: PublicationCalendar

    def requests(self, settings: AdapterSettings, *, history: bool) -> list[OutboundRequest]:
        """The requests for the latest rates, and with `history` also for the past ones offered."""

    def parse(self, body: str | bytes) -> PublishedRates:
        """The rates in one answer; raises `FeedError` naming what is wrong."""

    def snapshot(self) -> PublishedRates:
        """The rates bundled with the code, so a service without network still converts."""


@dataclass(frozen=True)
class FetchResult:
    rates: PublishedRates | None
    errors: tuple[str, ...]


def fetch_published_rates(
    feed: RateFeed, client: HttpClient, settings: AdapterSettings, *, history: bool
) -> FetchResult:
    """Every request of `feed`, merged; each failure is described, not raised, so one bad file
    (say the history) does not throw away a good one (the daily).

    `TransientHttpError` (timeouts, 5xx) and `FeedError` (a 4xx, HTML instead of XML, a
    truncated file) both end up in `errors`; the caller keeps its last good rates.
    """
    merged: PublishedRates | None = None
    errors: list[str] = []
    for request in feed.requests(settings, history=history):
        try:
            result = client.send(request)
            if not result.ok:
                raise FeedError(f"answered HTTP {result.status}")
            if not isinstance(result.body, str | bytes):
                raise FeedError("answered JSON, not the XML rate format")
            rates = feed.parse(result.body)
        except (TransientHttpError, FeedError) as exc:
            errors.append(f"{feed.source} {request.url}: {exc}")
            continue
        merged = rates if merged is None else merged.merged(rates)
    return FetchResult(merged, tuple(errors))


RATE_SOURCES: Registry[RateFeed] = Registry("rate source", "adapters.rates")
