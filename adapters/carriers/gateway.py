"""Sends carrier requests: credentials check, OAuth token cache, signing, one HTTP call, parsing.

This is the one place carrier requests meet `HttpClient` (STYLE.md: karrio's
`proxy.py`). Without credentials nothing is sent and the built request is
returned to be stored and shown (contract: "with no credentials, requests are
built, stored and shown, not sent"). OAuth tokens (FedEx, UPS, SF Express) are
cached until shortly before they expire; a 401 on a cached token means the
carrier ended it early, so the token is fetched again and the call repeated
once. Timeouts, 5xx and 429 raise `TransientHttpError` for the queue to retry
with backoff; a 4xx becomes `CarrierRejected` in the adapter's parse function.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from adapters.carriers.base import (
    AccessToken,
    BookedPickup,
    BookedShipment,
    CarrierAdapter,
    InterceptOrder,
    InterceptOutcome,
    Intercepts,
    PickupWindow,
    drafting,
)
from adapters.http import HttpClient, HttpResult, OutboundRequest
from adapters.registry import declared_capability
from config.settings import AdapterSettings
from core.shipments import ReturnShipmentOrder
from core.tracking import TrackingUpdate

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What happened to one carrier request: what was built, whether it went out, what came back."""

    request: dict[str, Any]
    sent: bool
    result: T | None = None
    operator_task: bool = False  # the carrier has no API for this: a person must do it


class TokenCache:
    """Bearer tokens per carrier, shared by the threads of one process."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def usable(self, carrier: str, now: datetime) -> AccessToken | None:
        with self._lock:
            token = self._tokens.get(carrier)
        return token if token is not None and token.usable_at(now) else None

    def keep(self, carrier: str, token: AccessToken) -> None:
        with self._lock:
            self._tokens[carrier] = token

    def forget(self, carrier: str) -> None:
        with self._lock:
            self._tokens.pop(carrier, None)


class CarrierGateway:
    def __init__(
        self,
        client: HttpClient,
        clock: Callable[[], datetime],
        tokens: TokenCache | None = None,
        nonce: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.client = client
        self.clock = clock
        self.tokens = tokens or TokenCache()
        self.nonce = nonce

    def book_return(
        self, adapter: CarrierAdapter, order: ReturnShipmentOrder, settings: AdapterSettings
    ) -> Outcome[BookedShipment]:
        with drafting(adapter.credentials(settings) is None):
            request = adapter.build_return_shipment(order, settings)
        return self.call(adapter, settings, request, adapter.parse_return_shipment)

    def book_pickup(
        self,
        adapter: CarrierAdapter,
        order: ReturnShipmentOrder,
        window: PickupWindow,
        tracking_number: str | None,
        settings: AdapterSettings,
    ) -> Outcome[BookedPickup]:
        with drafting(adapter.credentials(settings) is None):
            request = adapter.build_pickup(order, window, tracking_number, settings)
        return self.call(adapter, settings, request, adapter.parse_pickup)

    def cancel_pickup(
        self,
        adapter: CarrierAdapter,
        reference: str,
        order: ReturnShipmentOrder,
        window: PickupWindow,
        settings: AdapterSettings,
    ) -> Outcome[None]:
        request = adapter.build_cancel_pickup(reference, order, window, settings)
        return self.call(adapter, settings, request, adapter.parse_cancel_pickup)

    def track(
        self, adapter: CarrierAdapter, tracking_number: str, settings: AdapterSettings
    ) -> Outcome[list[TrackingUpdate]]:
        return self.call(adapter, settings, adapter.build_tracking(tracking_number, settings), adapter.parse_tracking)

    def intercept(
        self, adapter: CarrierAdapter, order: InterceptOrder, settings: AdapterSettings
    ) -> Outcome[InterceptOutcome]:
        interceptor = declared_capability(adapter, Intercepts)
        if interceptor is None:
            return Outcome(request={}, sent=False, operator_task=True)
        credentials = interceptor.intercept_credentials(settings)
        with drafting(credentials is None):
            request = interceptor.build_intercept(order, settings)
        parse = interceptor.parse_intercept
        return self.call(adapter, settings, request, parse, credentials_set=credentials is not None)

    def call(
        self,
        adapter: CarrierAdapter,
        settings: AdapterSettings,
        request: OutboundRequest,
        parse: Callable[[HttpResult], T],
        credentials_set: bool | None = None,
    ) -> Outcome[T]:
        """Send `request` when credentials are set; parse raises `CarrierRejected` on a refusal."""
        shown = request.describe()
        if credentials_set is None:
            credentials_set = adapter.credentials(settings) is not None
        if not credentials_set:
            return Outcome(request=shown, sent=False)
        return Outcome(request=shown, sent=True, result=parse(self.send(adapter, settings, request)))

    def send(self, adapter: CarrierAdapter, settings: AdapterSettings, request: OutboundRequest) -> HttpResult:
        """One exchange with the carrier: token, signature, HTTP, decryption; a stale token is renewed once."""
        token = self._token(adapter, settings) if adapter.needs_token(request) else None
        result = self._send(adapter, settings, request, token)
        if result.status == 401 and token is not None:
            self.tokens.forget(adapter.name)
            token = self._token(adapter, settings)
            result = self._send(adapter, settings, request, token)
        return result

    def _send(
        self, adapter: CarrierAdapter, settings: AdapterSettings, request: OutboundRequest, token: AccessToken | None
    ) -> HttpResult:
        signed = adapter.authorize(request, settings, token, self.clock(), self.nonce())
        return adapter.unwrap(self.client.send(replace(signed, adapter=signed.adapter or adapter.name)), settings)

    def _token(self, adapter: CarrierAdapter, settings: AdapterSettings) -> AccessToken | None:
        token_request = adapter.token_request(settings)
        if token_request is None:
            return None
        now = self.clock()
        cached = self.tokens.usable(adapter.name, now)
        if cached is not None:
            return cached
        token = adapter.parse_token(self.client.send(replace(token_request, adapter=adapter.name)), now)
        self.tokens.keep(adapter.name, token)
        return token
