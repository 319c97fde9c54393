"""The one place adapters talk HTTP: a requests session with timeouts and a uniform result.

Adapters build `OutboundRequest`s with pure functions and hand them here, so most
adapter tests need no network, and every call is timed, counted and classified
the same way (STYLE.md: one HTTP client wrapper).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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


# What a stored request may show of its headers; every other header is kept by name only, its value hidden
# (X-Shopify-Access-Token, x-tts-access-token, Authorization, DHL-API-Key, X-Amz-*, ... never reach a row).
SHOWN_HEADERS = frozenset(
    {"accept", "accept-language", "content-type", "content-language", "user-agent", "soapaction", "x-locale",
     "x-customer-transaction-id", "x-request-id", "idempotency-key", "message-reference", "x-version",
     "x-ebay-c-marketplace-id", "x-amz-date"}
)  # fmt: skip
# Query, form and JSON fields that carry a credential or a signature made with one (Lazada's access_token,
# Tmall's session, Amazon's client_secret and refresh_token, SF's checkword, every sign/signature).
CREDENTIAL_NAMES = frozenset(
    {"sign", "signature", "session", "sessionkey", "checkword", "apikey", "appkey", "partnerkey", "clientid",
     "clientassertion", "authorization", "auth", "credential", "credentials", "msgdigest"}
)  # fmt: skip
CREDENTIAL_ENDINGS = ("token", "secret", "password", "passwd")
HIDDEN = "***"
_known_secrets: set[str] = set()


def is_credential_field(name: str) -> bool:
    """`access_token`, `client_secret`, `sign`, `app_key`, `x-tts-access-token`, ... (case, `_` and `-` aside)."""
    folded = re.sub(r"[-_ ]", "", name.lower())
    return folded in CREDENTIAL_NAMES or folded.endswith(CREDENTIAL_ENDINGS)


def register_secrets(values: Iterable[str]) -> None:
    """The process's configured credentials (RB_*_TOKEN, _SECRET, ...): hidden wherever a stored request has them."""
    _known_secrets.clear()
    _known_secrets.update(v for v in values if v and len(v) >= 4)


def _scrub_text(text: str) -> str:
    for secret in sorted(_known_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, HIDDEN)
    return text


def scrub(value: Any) -> Any:
    """A copy of a JSON value with credential fields and every known secret value hidden, at any depth."""
    if isinstance(value, dict):
        return {k: HIDDEN if isinstance(k, str) and is_credential_field(k) and v not in (None, "")
                else scrub(v) for k, v in value.items()}  # fmt: skip
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def scrub_url(url: str) -> str:
    """The URL without credential query parameters, user info or known secrets (in path or query)."""
    parts = urlsplit(url)
    query = [(k, HIDDEN if is_credential_field(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return _scrub_text(urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), parts.fragment)))


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
        """What is stored and shown on the case (the one place outbound requests are recorded): never a
        credential. Headers through an allow-list, credential query/form/JSON fields and every configured
        secret hidden."""
        headers = {k: (_scrub_text(v) if k.lower() in SHOWN_HEADERS else HIDDEN) for k, v in self.headers.items()}
        return {
            "method": self.method,
            "url": scrub_url(self.url),
            "headers": headers,
            "body": scrub(self.json_body or self.form or self.content),
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
                f"{request.method} {scrub_url(request.url)}: no answer in time", maybe_delivered=True, kind="timeout"
            ) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
            raise TransientHttpError(
                f"{request.method} {scrub_url(request.url)}: {type(exc).__name__}", kind=kind
            ) from exc
        body: Any
        try:
            body = response.json()
        except (ValueError, json.JSONDecodeError):
            body = response.text
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientHttpError(f"{request.method} {scrub_url(request.url)}: HTTP {response.status_code}")
        return HttpResult(response.status_code, body, dict(response.headers), response.content)
