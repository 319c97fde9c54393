"""The one place adapters talk HTTP: a requests session with timeouts and a uniform result.

Adapters build `OutboundRequest`s with pure functions and hand them here, so most
adapter tests need no network, and every call is timed, counted and classified
the same way (STYLE.md: one HTTP client wrapper).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests


class TransientHttpError(Exception):
    """Worth retrying later: a timeout, a refused connection, a 5xx or a 429.

    `maybe_delivered` is true when the request may have reached the other side before
    the answer was lost (a read timeout): retrying a booking then risks a second one.
    """

    def __init__(self, message: str, maybe_delivered: bool = False, kind: str = "server_error") -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered
        self.kind = kind  # server_error | timeout | connection_error


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json_body: Any = None
    form: dict[str, str] | None = None
    content: str | None = None  # a raw body: SF Express encrypts theirs, TikTok Shop signs the exact text
    auth: tuple[str, str] | None = field(default=None, repr=False)
    adapter: str | None = None  # which adapter calls (metrics label); the host when unset

    @property
    def caller(self) -> str:
        return self.adapter or urlsplit(self.url).hostname or "unknown"

    def describe(self) -> dict[str, Any]:
        """What is stored and shown on the case: never the credentials."""
        safe_headers = {
            k: ("***" if k.lower() in {"authorization", "x-api-key", "dhl-api-key"} else v)
            for k, v in self.headers.items()
        }
        return {
            "method": self.method,
            "url": self.url,
            "headers": safe_headers,
            "body": self.json_body or self.form or self.content,
        }


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any
    headers: dict[str, str]
    content: bytes = field(default=b"", repr=False)  # the raw bytes, for bodies that are not text (GZIP reports)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# Told (adapter, outcome, seconds) after every call: ok, client_error, server_error, timeout, connection_error.
CallObserver = Callable[[str, str, float], None]


class HttpClient:
    def __init__(
        self, timeout: float = 10.0, session: requests.Session | None = None, observer: CallObserver | None = None
    ) -> None:
        self.timeout = timeout
        self.session = session or requests.Session()
        self.observer = observer or (lambda adapter, outcome, seconds: None)

    def send(self, request: OutboundRequest) -> HttpResult:
        """Send once; a 4xx comes back as a result, anything worth retrying raises `TransientHttpError`."""
        started = time.monotonic()
        outcome = "connection_error"
        try:
            result = self._send(request)
            outcome = "ok" if result.ok else "client_error"
            return result
        except TransientHttpError as exc:
            outcome = exc.kind
            raise
        finally:
            self.observer(request.caller, outcome, time.monotonic() - started)

    def _send(self, request: OutboundRequest) -> HttpResult:
        try:
            response = self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                json=request.json_body,
                data=request.form if request.form is not None else request.content,
                auth=request.auth,
                timeout=self.timeout,
            )
        except requests.ReadTimeout as exc:
            raise TransientHttpError(
                f"{request.method} {request.url}: no answer in time", maybe_delivered=True, kind="timeout"
            ) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
            raise TransientHttpError(f"{request.method} {request.url}: {type(exc).__name__}", kind=kind) from exc
        body: Any
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            body = response.text
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientHttpError(f"{request.method} {request.url}: HTTP {response.status_code}")
        return HttpResult(response.status_code, body, dict(response.headers), response.content)
