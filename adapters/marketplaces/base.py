"""What every marketplace adapter offers: verify, parse, enrich, respond.

The web layer hands an adapter an `InboundRequest` (bytes and headers, no Flask),
so each adapter is tested without a server. `parse` returns canonical event
dicts; the service validates them with the one canonical schema.

Every module declares what the rest of the system shows about it (display
name, webhook content types, `RB_<NAME>_*` settings) and its optional
capabilities, one protocol each (`Enriches`, `Responds`, `Polls`), checked
when it registers (adapters/registry.py); the values those exchange
(`Enrichment`, `Decision`, `DecisionAnswer`, `PollBatch`) are declared here too.
What the modules share in code is one module per idea: `signing`, `times`,
`payloads`, `code_tables`, `canonical_events`, `api_calls` and the base classes
in `configured`. The registry imports those with the adapters; they register nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from adapters.registry import AdapterDeclarationError, Registry, Setting, SignatureHeader, check_declarations

if TYPE_CHECKING:
    from adapters.http import HttpClient
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


class HeaderLookup(Protocol):
    """What an adapter reads of a request's headers: werkzeug's `Headers` (case-insensitive), or a dict in tests."""

    def get(self, name: str, /) -> str | None: ...


@dataclass(frozen=True)
class InboundRequest:
    body: bytes
    headers: HeaderLookup  # case-insensitive lookups: the web layer passes werkzeug's Headers
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


@dataclass(frozen=True)
class Enrichment:
    """The event after asking the marketplace; `missing` names settings or facts still absent."""

    event: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    """A decision Returnbridge made, to be told to the marketplace (`marketplace.<name>.<action>`)."""

    action: str  # approve | reject | refund
    order_id: str
    return_id: str
    idempotency_key: str
    note: str | None = None
    reason_code: str | None = None
    amount: str | None = None
    currency: str | None = None
    lines: tuple[tuple[str, int], ...] = ()  # open_return: (sku, quantity) of each line the buyer withdrew from
    reason: str | None = None  # open_return: the canonical reason (a withdrawal is `changed_mind`)


@dataclass(frozen=True)
class DecisionAnswer:
    """What the marketplace answered, recorded on the case; `sent` is False when credentials are missing."""

    action: str
    sent: bool
    accepted: bool
    status: int | None = None
    detail: Any = None
    request: dict[str, Any] | None = None
    missing: list[str] = field(default_factory=list)
    created_id: str | None = None  # open_return: the return id the marketplace gave, as its webhooks name it

    def as_record(self) -> dict[str, Any]:
        record = {
            "action": self.action,
            "sent": self.sent,
            "accepted": self.accepted,
            "status": self.status,
            "detail": self.detail,
            "request": self.request,
            "missing": self.missing,
        }
        if self.created_id is not None:
            record["created_id"] = self.created_id
        return record


@dataclass(frozen=True)
class PollBatch:
    """One poll of a pulled marketplace: canonical events, and the checkpoint to store once they are taken in.

    Events carry deterministic `marketplace_event_id`s, so a poll repeated from an
    older checkpoint (a crash between intake and storing the checkpoint) only finds
    duplicates. `missing` names settings without which nothing could be asked.
    """

    events: list[dict[str, Any]]
    checkpoint: dict[str, Any] | None
    missing: list[str] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


class DecisionRefused(Exception):
    """The action is not one this marketplace can take through its API."""


class MarketplaceAdapter(Protocol):
    name: str
    display_name: str  # the platform's trade name, as buyers and operators know it
    capabilities: frozenset[type]  # the optional protocols below that it implements
    return_request: ReturnRequestApi  # declared per platform: can a withdrawal be told to it? (issue 18 §2)

    @property
    def content_types(self) -> tuple[str, ...]:
        """What its webhooks are posted as (415 for anything else)."""

    @property
    def signature_headers(self) -> tuple[SignatureHeader, ...]:
        """The request headers its webhooks are signed or identified with (the OpenAPI document's, read-only)."""

    @property
    def declared_settings(self) -> tuple[Setting, ...]:
        """Its rows of the README's Settings table (read-only: each adapter declares its own tuple)."""

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
