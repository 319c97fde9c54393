"""What every marketplace adapter offers: verify, parse, enrich, respond.

The web layer hands an adapter an `InboundRequest` (bytes and headers, no Flask),
so each adapter is tested without a server. `parse` returns canonical event
dicts; the service validates them with the one canonical schema.

Every module declares what the rest of the system shows about it (display
name, webhook content types, `RB_<NAME>_*` settings) and its optional
capabilities, one protocol each (`Enriches`, `Responds`, `Polls`), checked
when it registers (adapters/registry.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from adapters.registry import AdapterDeclarationError, Registry, Setting, check_declarations

if TYPE_CHECKING:
    from adapters.http import HttpClient
    from adapters.marketplaces._support import Decision, DecisionAnswer, Enrichment
    from config.settings import AdapterSettings

JSON = ("application/json",)
"""The webhook content type of every marketplace that does not declare its own."""


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
    display_name: str  # the platform's trade name, as buyers and operators know it
    content_types: tuple[str, ...]  # what its webhooks are posted as (415 for anything else)
    declared_settings: tuple[Setting, ...]  # its rows of the README's Settings table
    capabilities: frozenset[type]  # the optional protocols below that it implements
    return_request: ReturnRequestApi  # declared per platform: can a withdrawal be told to it? (issue 18 §2)

    def configured(self, settings: AdapterSettings) -> MarketplaceAdapter:
        """The adapter with its `RB_<NAME>_*` settings: the registered one has none (they come as an argument)."""

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        """Raise `SignatureError` unless the request is signed by the marketplace and fresh."""

    def parse(self, request: InboundRequest) -> ParsedDelivery:
        """Turn the marketplace's payload into canonical event dicts; raise `PayloadError` if it is not one."""


@runtime_checkable
class Enriches(Protocol):
    """A marketplace whose webhook is thin: the adapter fetches the rest of the return."""

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment: ...


@runtime_checkable
class Responds(Protocol):
    """A marketplace that takes our decisions (approve, refuse, refund) through its API."""

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer: ...


@runtime_checkable
class Polls(Protocol):
    """A marketplace asked for what changed since a checkpoint (it pushes nothing, or not returns)."""

    name: str

    def poll(self, checkpoint: dict[str, Any] | None, http: HttpClient, now: datetime) -> Any: ...


CAPABILITIES: tuple[type, ...] = (Enriches, Responds, Polls)


def _check(name: str, adapter: MarketplaceAdapter) -> None:
    check_declarations("marketplace", name, adapter, CAPABILITIES)
    declared = getattr(adapter, "return_request", None)
    if not isinstance(declared, ReturnRequestApi):
        raise AdapterDeclarationError(f"marketplace {name!r}: it declares no return_request (issue 18 §2)")
    if declared.opens_returns and Responds not in adapter.capabilities:
        raise AdapterDeclarationError(f"marketplace {name!r}: it opens returns but does not declare Responds")


MARKETPLACES: Registry[MarketplaceAdapter] = Registry("marketplace", "adapters.marketplaces", _check)
