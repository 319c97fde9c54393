"""What every marketplace adapter offers: verify, parse, enrich, respond.

The web layer hands an adapter an `InboundRequest` (bytes and headers, no Flask),
so each adapter is tested without a server. `parse` returns canonical event
dicts; the service validates them with the one canonical schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from adapters.registry import Registry


class SignatureError(Exception):
    """Unsigned, forged or stale: answered 401."""


class PayloadError(Exception):
    """The body is not what this marketplace sends: answered 400 naming the fields."""

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


@dataclass(frozen=True)
class InboundRequest:
    body: bytes
    headers: Mapping[str, str]  # case-insensitive lookups: the web layer passes werkzeug's Headers
    query: Mapping[str, str] = field(default_factory=dict)
    url: str = ""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if value not in (None, "") else None


@dataclass(frozen=True)
class ParsedDelivery:
    """One webhook delivery: the marketplace's own delivery id (for deduplication) and its events."""

    delivery_id: str | None
    events: list[dict[str, Any]]
    ack_body: dict[str, Any] | None = None  # a body some platforms expect back instead of ours
    ignored: str | None = None  # why a signed delivery with no events is acknowledged (2xx) and not acted on


@dataclass(frozen=True)
class ReturnRequestApi:
    """Declared by every marketplace adapter (issue 18 §2): whether the platform documents an API through which
    a merchant's integration opens a return or after-sales request on the buyer's behalf, and where that was read.
    Where it does, `respond` takes `open_return`; where it does not, a withdrawal leaves an operator task."""

    opens_returns: bool
    source: str
    why_not: str | None = None


class MarketplaceAdapter(Protocol):
    name: str
    return_request: ReturnRequestApi  # declared per platform: can a withdrawal be told to it? (issue 18 §2)

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        """Raise `SignatureError` unless the request is signed by the marketplace and fresh."""

    def parse(self, request: InboundRequest) -> ParsedDelivery:
        """Turn the marketplace's payload into canonical event dicts; raise `PayloadError` if it is not one."""


MARKETPLACES: Registry[MarketplaceAdapter] = Registry("marketplace", "adapters.marketplaces")
