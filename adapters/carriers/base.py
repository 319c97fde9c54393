"""What every carrier adapter offers: pure build and parse functions around one HTTP call.

Shaped after karrio's providers (STYLE.md): `build_*` turns a carrier-neutral
order into the carrier's request, `parse_*` turns its answer into a result, and
only `adapters.http.HttpClient` does I/O (through `adapters.carriers.gateway`,
which adds tokens and signatures). Without credentials the request is built and
stored on the case, not sent (contract: settings table).

Operations (carriers_customs.md §1.5–§2.4): a return label (with the pickup when
the carrier books both in one call), a standalone pickup and its cancellation,
tracking by polling and by push, and interception of a parcel still travelling
to the buyer (DOMAIN.md §1, refund in transit) where the carrier's API has it:
a carrier that declares `Intercepts` among its capabilities; for the others an
operator does it. Each module also declares its display name, the content types
its tracking pushes come as, and its `RB_<NAME>_*` settings (adapters/registry.py).
"""

from __future__ import annotations

import hmac
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import phonenumbers

from adapters.http import HttpResult, OutboundRequest
from adapters.marketplaces.base import InboundRequest, PayloadError, SignatureError
from adapters.registry import Registry, Setting, SignatureHeader, check_declarations
from config.settings import AdapterSettings
from core.events import Address
from core.money import Money
from core.shipments import ReturnShipmentOrder
from core.tracking import TrackingUpdate

__all__ = [
    "CARRIERS",
    "AccessToken",
    "BookedPickup",
    "BookedShipment",
    "CarrierAdapter",
    "CarrierBase",
    "CarrierRejected",
    "InboundRequest",
    "InterceptOrder",
    "InterceptOutcome",
    "Intercepts",
    "PayloadError",
    "PickupWindow",
    "SignatureError",
    "drafting",
]

TOKEN_EXPIRY_MARGIN = timedelta(minutes=5)


class CarrierRejected(Exception):
    """The carrier refused the request (a 4xx): retrying will not help; the case needs attention."""


@dataclass(frozen=True)
class BookedShipment:
    tracking_number: str | None
    label_pdf_base64: str | None = None
    documents: dict[str, str] = field(default_factory=dict)  # e.g. {"invoice": <base64 pdf>}
    pickup_reference: str | None = None
    raw: Any = None
    cost: Money | None = None  # what the carrier charges for the label, when its answer says (issue 19)


@dataclass(frozen=True)
class PickupWindow:
    """When the courier may come: a local date and local times "HH:MM" at the buyer's address."""

    day: date
    ready: str = "09:00"
    close: str = "17:00"


@dataclass(frozen=True)
class BookedPickup:
    reference: str
    raw: Any = None


@dataclass(frozen=True)
class InterceptOrder:
    """Stop an outbound parcel and send it back to the merchant (DOMAIN.md §1, seed 002 拦截快递)."""

    case_id: str
    tracking_number: str
    merchant: Address
    ship_date: date | None = None


@dataclass(frozen=True)
class InterceptOutcome:
    accepted: bool
    reference: str | None = None
    message: str = ""


@dataclass(frozen=True)
class AccessToken:
    """An OAuth bearer token with its expiry, cached per carrier until shortly before it ends."""

    value: str
    expires_at: datetime

    def usable_at(self, now: datetime) -> bool:
        return now + TOKEN_EXPIRY_MARGIN < self.expires_at


class CarrierAdapter(Protocol):
    name: str
    display_name: str  # the carrier's trade name, shown to buyers in notices and on their page
    capabilities: frozenset[type]  # the optional protocols below that it implements

    @property
    def content_types(self) -> tuple[str, ...]:
        """What its tracking pushes are posted as (415 for anything else)."""

    @property
    def signature_headers(self) -> tuple[SignatureHeader, ...]:
        """The request headers its tracking pushes are signed with (the OpenAPI document's, read-only)."""

    @property
    def declared_settings(self) -> tuple[Setting, ...]:
        """Its rows of the README's Settings table (read-only: each adapter declares its own tuple)."""

    def credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        """The credentials set for this carrier, or None: then nothing is sent."""

    def build_return_shipment(self, order: ReturnShipmentOrder, settings: AdapterSettings) -> OutboundRequest:
        """The carrier's request that books a return label (and pickup, where asked)."""

    def parse_return_shipment(self, result: HttpResult) -> BookedShipment:
        """The booking from the carrier's answer; raises `CarrierRejected` on a refusal."""

    def collects_with_label(self, order: ReturnShipmentOrder) -> bool:
        """True when the label call already books the courier, so no separate pickup is made."""

    def build_pickup(
        self, order: ReturnShipmentOrder, window: PickupWindow, tracking_number: str | None, settings: AdapterSettings
    ) -> OutboundRequest: ...

    def parse_pickup(self, result: HttpResult) -> BookedPickup: ...

    def build_cancel_pickup(
        self, pickup_reference: str, order: ReturnShipmentOrder, window: PickupWindow, settings: AdapterSettings
    ) -> OutboundRequest: ...

    def parse_cancel_pickup(self, result: HttpResult) -> None: ...

    def build_tracking(self, tracking_number: str, settings: AdapterSettings) -> OutboundRequest: ...

    def parse_tracking(self, result: HttpResult) -> list[TrackingUpdate]: ...

    def verify_tracking_push(
        self, request: InboundRequest, settings: AdapterSettings, now: datetime | None = None
    ) -> None:
        """Raise `SignatureError` unless the push is signed or authenticated as this carrier does it (and, where
        the push carries a timestamp, is fresh at `now`: SF Express)."""

    def parse_tracking_push(self, request: InboundRequest, settings: AdapterSettings) -> list[TrackingUpdate]: ...

    def needs_token(self, request: OutboundRequest) -> bool:
        """Whether this request is sent with the OAuth token (SF Express signs its Fengqiao calls otherwise)."""

    def token_request(self, settings: AdapterSettings) -> OutboundRequest | None:
        """The OAuth token request, or None for carriers that authenticate every call themselves."""

    def parse_token(self, result: HttpResult, now: datetime) -> AccessToken: ...

    def authorize(
        self, request: OutboundRequest, settings: AdapterSettings, token: AccessToken | None, now: datetime, nonce: str
    ) -> OutboundRequest:
        """The request as sent: bearer token, signature or encryption added at the last moment."""

    def unwrap(self, result: HttpResult, settings: AdapterSettings) -> HttpResult:
        """The answer as parsed: decrypted where the carrier encrypts it."""


@runtime_checkable
class Intercepts(Protocol):
    """A carrier whose API stops an outbound parcel and sends it back (seed 002 拦截快递); else an operator task."""

    def intercept_credentials(self, settings: AdapterSettings) -> dict[str, str] | None:
        """The credentials the interception API needs, or None: then the request is stored, not sent."""

    def build_intercept(self, order: InterceptOrder, settings: AdapterSettings) -> OutboundRequest: ...

    def parse_intercept(self, result: HttpResult) -> InterceptOutcome: ...


CAPABILITIES: tuple[type, ...] = (Intercepts,)


class CarrierBase:
    """Defaults shared by the carrier modules: no token, nothing to sign, pushes come as JSON."""

    name = ""
    content_types: tuple[str, ...] = ("application/json",)

    def collects_with_label(self, order: ReturnShipmentOrder) -> bool:
        return False

    def needs_token(self, request: OutboundRequest) -> bool:
        return True

    def token_request(self, settings: AdapterSettings) -> OutboundRequest | None:
        return None

    def parse_token(self, result: HttpResult, now: datetime) -> AccessToken:
        raise CarrierRejected(f"{self.name} does not use OAuth tokens")

    def authorize(
        self, request: OutboundRequest, settings: AdapterSettings, token: AccessToken | None, now: datetime, nonce: str
    ) -> OutboundRequest:
        if token is None:
            return request
        return with_headers(request, {"Authorization": f"Bearer {token.value}"})

    def unwrap(self, result: HttpResult, settings: AdapterSettings) -> HttpResult:
        return result


def with_headers(request: OutboundRequest, headers: dict[str, str]) -> OutboundRequest:
    """A copy of `request` with `headers` added (requests are frozen: built once, shown as built)."""
    return OutboundRequest(
        method=request.method,
        url=request.url,
        headers={**request.headers, **headers},
        json_body=request.json_body,
        form=request.form,
        content=request.content,
        auth=request.auth,
    )


def require_shared_token(request: InboundRequest, header: str, expected: str | None) -> None:
    """For carriers that authenticate pushes with a static header value we chose (UPS, DHL Push)."""
    if not expected:
        raise SignatureError(f"no tracking push secret is configured for this carrier (header {header})")
    presented = request.header(header)
    if presented is None or not hmac.compare_digest(presented.encode(), expected.encode()):
        raise SignatureError(f"header {header} is missing or wrong")


def error_message(body: Any, *paths: tuple[str | int, ...]) -> str:
    """The first message found at one of `paths` in a carrier's error body, else the body itself."""
    for path in paths:
        node: Any = body
        for step in path:
            present = (isinstance(step, int) and isinstance(node, list) and len(node) > step) or (
                isinstance(step, str) and isinstance(node, dict) and step in node
            )
            if not present:
                node = None
                break
            node = node[step]
        if node not in (None, "", [], {}):
            return str(node)
    return str(body)[:300]


def json_number(value: Any) -> float | int:
    """Carriers want JSON numbers; values are exact to the cent or gram, so nothing is lost."""
    as_decimal = Decimal(str(value))
    return int(as_decimal) if as_decimal == as_decimal.to_integral_value() else float(as_decimal)


_DRAFT: ContextVar[bool] = ContextVar("carrier_request_draft", default=False)


@contextmanager
def drafting(active: bool = True) -> Iterator[None]:
    """Build a draft: a request that will be stored and shown but not sent (no credentials; contract). Values the
    carrier would refuse are then kept as given instead of refusing the build; with credentials they refuse it."""
    token = _DRAFT.set(active)
    try:
        yield
    finally:
        _DRAFT.reset(token)


def refuse(message: str, kept: Any) -> Any:
    """Refuse the request with `message`, or keep `kept` while drafting."""
    if _DRAFT.get():
        return kept
    raise CarrierRejected(message)


def e164(phone: str | None, country: str, field_name: str) -> str:
    """The number in E.164 ("+4930123456"), read in the address's country when it has no "+".

    Carriers refuse or misroute local formats ("030 1234567" means nothing outside
    Germany); a number that is not a valid one for that country is refused here
    with the field named, rather than sent to be refused by the carrier.
    """
    if not phone or not phone.strip():
        return refuse(f"{field_name}: a phone number is required by the carrier and none is known", "")
    try:
        parsed = phonenumbers.parse(phone, country.upper())
    except phonenumbers.NumberParseException as exc:
        return refuse(f"{field_name}: {phone!r} is not a phone number ({exc})", phone)
    if not phonenumbers.is_valid_number(parsed):
        return refuse(f"{field_name}: {phone!r} is not a valid phone number for {country}", phone)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def fit(text: str | None, limit: int) -> str:
    """`text` cut to the carrier's documented length, without trailing blanks (names, lines, descriptions)."""
    return (text or "").strip()[:limit].rstrip()


def street_lines(address: Address, width: int, most: int, field_name: str) -> list[str]:
    """The street address in lines of at most `width`, wrapped at spaces rather than cut (a cut address misleads
    the courier); refused with the field named when it needs more than the carrier's `most` lines."""
    lines: list[str] = []
    for line in (address.line1, address.line2):
        if line and line.strip():
            lines += textwrap.wrap(line.strip(), width, break_long_words=True, break_on_hyphens=False)
    if len(lines) > most:
        message = (
            f"{field_name}: the street address needs {len(lines)} lines of {width} characters; the carrier takes {most}"
        )
        return refuse(message, lines)
    return lines


def without_empty(node: Any) -> Any:
    """`node` with empty optional values left out: schemas give them minLength 1, so "" is a refusal, not a blank."""
    if isinstance(node, dict):
        kept = {key: without_empty(value) for key, value in node.items()}
        return {key: value for key, value in kept.items() if value not in ("", None, [], {})}
    if isinstance(node, list):
        return [value for value in (without_empty(item) for item in node) if value not in ("", None, [], {})]
    return node


def display_name(carrier: str) -> str:
    """The carrier's trade name as its module declares it; a name no module has is shown as given."""
    return CARRIERS.get(carrier).display_name if carrier in CARRIERS else carrier


def _check(name: str, adapter: CarrierAdapter) -> None:
    check_declarations("carrier", name, adapter, CAPABILITIES)


CARRIERS: Registry[CarrierAdapter] = Registry("carrier", "adapters.carriers", _check)
