"""What the marketplace modules share: signature checks, code tables, the canonical event shape.

Every marketplace signs differently, but each check ends the same way: compute
what the platform would have sent and compare in constant time
(`hmac.compare_digest`), then refuse timestamps outside the platform's retry
horizon. Every module maps its own codes with one table each; an unknown code
becomes `other` (reasons) or the module's fallback event type, and the raw value
is kept in `return.raw_reason` / `raw_status` (DESIGN.md: nothing is dropped).

The registry skips modules whose name starts with `_`, so this is no adapter.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

from adapters.http import HttpClient, HttpResult, OutboundRequest
from adapters.marketplaces.base import JSON, InboundRequest, ParsedDelivery, PayloadError, SignatureError
from adapters.marketplaces.base import ReturnRequestApi as ReturnRequestApi  # declared by every adapter
from config.settings import AdapterSettings
from core.cases import PENDING_ORDER as CASE_PENDING_ORDER

MIN_EPOCH, MAX_EPOCH = 946_684_800.0, 4_102_444_800.0
"""2000-01-01 and 2100-01-01 UTC: a marketplace time outside them is a hostile or broken payload (400),
never a date the rest of the system has to survive (year 9999 overflows deadline arithmetic)."""

FUTURE_SKEW = timedelta(minutes=5)
"""Clocks differ: a timestamp up to five minutes ahead of ours is still believable."""

# Order id of a return whose notification names no order (eBay's, Shopify's `returns/decline`): the
# case keeps the order id it already knows, and enrichment fills it from the platform (core/cases.py).
PENDING_ORDER = CASE_PENDING_ORDER

UNKNOWN_STATUS_EVENT = "return.requested"
"""What an unmapped status becomes. It opens a case for a return we had not seen
(the notification still proves a return exists), and on an existing case the
lifecycle refuses it as `event_not_allowed`, which flags the case for attention
instead of moving it (core/cases.py). The raw status travels in `raw_status`."""

REASON_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("not_as_described", "not_as_described"),
    ("not as described", "not_as_described"),
    ("description", "not_as_described"),
    ("counterfeit", "not_as_described"),
    ("fake", "not_as_described"),
    ("wrong_item", "wrong_item"),
    ("wrong item", "wrong_item"),
    ("wrong product", "wrong_item"),
    ("missing", "missing_parts"),
    ("incomplete", "missing_parts"),
    ("damaged", "damaged_in_transit"),
    ("broken", "damaged_in_transit"),
    ("defective", "defective"),
    ("not working", "defective"),
    ("quality", "defective"),
    ("size", "size_or_fit"),
    ("fit", "size_or_fit"),
    ("late", "late_delivery"),
    ("changed my mind", "changed_mind"),
    ("change_mind", "changed_mind"),
    ("change of mind", "changed_mind"),
    ("no longer", "changed_mind"),
    ("don't want", "changed_mind"),
    ("dont_want", "changed_mind"),
    ("unwanted", "changed_mind"),
)
"""Keywords for reasons of platforms that publish no reason enumeration (Lazada and
TikTok Shop return free reason names/texts: research §6.3, §7.3). First match wins,
so the more specific phrases come first. Exact codes always go through the
module's own table before this fallback."""


# --- signatures -------------------------------------------------------------------------------


def hmac_sha256(key: str | bytes, message: bytes) -> bytes:
    return hmac.new(key.encode() if isinstance(key, str) else key, message, hashlib.sha256).digest()


def same_hex(expected: bytes, given: str | None) -> bool:
    """Hex signatures compare case-insensitively (Lazada's API uses upper, its pushes lower case)."""
    if not given:
        return False
    return hmac.compare_digest(expected.hex(), given.strip().lower())


def same_base64(expected: bytes, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(base64.b64encode(expected).decode(), given.strip())


class Configured:
    """A marketplace adapter reading its `RB_<NAME>_*` settings, handed to it as carriers are handed theirs.

    The registered instance has none; the service calls `configured` with the process's settings before using it
    (as tests do with their own), so nothing is read from the environment or a process global behind its back.
    """

    name: str
    content_types: tuple[str, ...] = JSON

    def __init__(self, settings: AdapterSettings | None = None) -> None:
        self.settings = settings if settings is not None else AdapterSettings(self.name, {})

    def configured(self, settings: AdapterSettings) -> Self:
        """This adapter with `settings` (`Settings.for_adapter(name)`)."""
        return type(self)(settings)

    def poll_start(self, checkpoint: dict[str, Any] | None, now: datetime) -> datetime:
        """Where a poll starts: the stored checkpoint, else `RB_<NAME>_LOOKBACK_DAYS` (7) before now."""
        if checkpoint:
            return datetime.fromisoformat(checkpoint["since"])
        return now - timedelta(days=int(self.settings.get("LOOKBACK_DAYS", "7") or 7))


class PolledOnly(Configured):
    """Pulled marketplaces push nothing we could verify: their webhook route refuses every post (401)."""

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        raise SignatureError(f"{self.name} is polled; it sends no webhooks to this route")

    def parse(self, request: InboundRequest) -> Any:
        raise PayloadError(f"{self.name} is polled; it sends no webhooks to this route")

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        """No decision API of this platform is known to us (research note): the case records that it was not sent."""
        return DecisionAnswer(
            decision.action,
            sent=False,
            accepted=False,
            detail=f"{self.name} has no decision API here; decide in the seller centre",
        )


def require_secret(secret: str | None, name: str) -> str:
    if not secret:
        raise SignatureError(f"RB_{name.upper()}_WEBHOOK_SECRET is not set: this route accepts nothing until it is")
    return secret


def epoch(value: Any) -> datetime:
    """Unix seconds or milliseconds (Lazada pushes milliseconds, its data seconds) as aware UTC."""
    if isinstance(value, bool):
        raise PayloadError(f"{value!r} is not a Unix time")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise PayloadError(f"{str(value)[:40]!r} is not a Unix time") from None
    if number > 1e11:
        number /= 1000.0
    if not MIN_EPOCH <= number <= MAX_EPOCH:  # 1e300, inf, nan, negative: no platform sends these
        raise PayloadError(f"{str(value)[:40]!r} is not a Unix time between 2000 and 2100")
    return datetime.fromtimestamp(number, UTC)


def iso(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError, TypeError):
        raise PayloadError(f"{str(value)[:40]!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise PayloadError(f"{value!r} has no UTC offset")
    return bounded(parsed.astimezone(UTC), value)


def bounded(moment: datetime, raw: Any) -> datetime:
    """A marketplace time between 2000 and 2100 (see MIN_EPOCH), else a 400 naming the value."""
    if not MIN_EPOCH <= moment.timestamp() <= MAX_EPOCH:
        raise PayloadError(f"{str(raw)[:40]!r} is not a time between 2000 and 2100")
    return moment


def local_time(value: str, zone: str, formats: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S",)) -> datetime:
    """A platform's wall-clock time string (no offset) in its documented zone, as aware UTC."""
    for fmt in formats:
        try:
            moment = datetime.strptime(value.strip(), fmt).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
        except (AttributeError, ValueError, OverflowError):
            continue
        return bounded(moment, value)
    raise PayloadError(f"{value!r} is not a time in {', '.join(formats)}")


def check_fresh(sent_at: datetime, now: datetime, window: timedelta, what: str) -> None:
    """Refuse a signed timestamp older than the platform's own retry horizon (or from the future).

    The window is per platform and covers its documented redelivery schedule, so an
    honest retry still passes; an exact replay inside the window is caught by the
    delivery id at intake (answered 200 duplicate, nothing created twice).
    """
    if sent_at > now + FUTURE_SKEW:
        raise SignatureError(f"{what} {sent_at.isoformat()} is in the future")
    if now - sent_at > window:
        raise SignatureError(f"{what} {sent_at.isoformat()} is older than {window}: stale or replayed")


SHAPE_ERRORS = (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError)
"""What reading a JSON value of an unexpected type raises; the same as a PayloadError for the sender."""
ROW_ERRORS = (PayloadError, *SHAPE_ERRORS)
"""A polled row that cannot be read is set aside (reported), never allowed to stop the poll."""


def verify_app_key_signature(
    request: InboundRequest, secret: str | None, app_key: str | None, name: str, window: timedelta, now: datetime
) -> None:
    """Lazada and TikTok Shop sign alike: `Authorization` = hex HMAC-SHA256(app secret, app key + raw body),
    with the push time as `timestamp` in the signed body (see their modules for the documents)."""
    key = require_secret(secret, name)
    if not app_key:
        raise SignatureError(f"RB_{name.upper()}_APP_KEY is not set: {name} signs the app key + body")
    if not same_hex(hmac_sha256(key, app_key.encode() + request.body), request.header("Authorization")):
        raise SignatureError("Authorization does not match the app key + body")
    try:
        sent_at = epoch(json_object(request).get("timestamp"))
    except PayloadError:
        raise SignatureError("the signed body carries no push timestamp") from None
    check_fresh(sent_at, now, window, "push timestamp")


def body_shape(parse: Callable[..., ParsedDelivery]) -> Callable[..., ParsedDelivery]:
    """A `parse` that meets a body of another shape (a list where an object was documented, a number
    for a text) answers 400 naming that, not 500: the body is not what this marketplace sends."""

    @functools.wraps(parse)
    def guarded(self: Any, request: InboundRequest) -> ParsedDelivery:
        try:
            return parse(self, request)
        except SHAPE_ERRORS as exc:
            raise PayloadError(f"the body does not have the documented shape: {type(exc).__name__}: {exc}") from None

    return guarded


def json_object(request: InboundRequest) -> dict[str, Any]:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:  # thousands of nested arrays: no platform sends this
        raise PayloadError("body nests JSON deeper than Python's parser allows") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    return payload


def field_of(payload: Mapping[str, Any], path: str) -> Any:
    """A required field by dotted path; its absence is a 400 naming the field."""
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or value.get(part) in (None, ""):
            raise PayloadError(f"{path} is missing", {path: ["is required"]})
        value = value[part]
    return value


# --- code tables --------------------------------------------------------------------------------


def canonical_reason(
    table: Mapping[str, str],
    raw: str | None,
    keywords: tuple[tuple[str, str], ...] = REASON_KEYWORDS,
) -> tuple[str | None, str | None]:
    """(canonical reason, raw code): the exact table first, then keywords, else `other`."""
    if raw in (None, ""):
        return None, None
    raw = str(raw)
    exact = table.get(raw) or table.get(raw.upper())
    if exact:
        return exact, raw
    lowered = raw.lower()
    for keyword, reason in keywords:
        if keyword in lowered:
            return reason, raw
    return "other", raw


def canonical_type(table: Mapping[str, str], raw_status: str, fallback: str = UNKNOWN_STATUS_EVENT) -> str:
    return table.get(raw_status) or table.get(raw_status.upper()) or fallback


# --- the canonical event dict ------------------------------------------------------------------


def canonical_event(
    *,
    event_type: str,
    event_id: str,
    occurred_at: datetime,
    order_id: str,
    return_id: str,
    raw_status: str | None = None,
    reason: tuple[str | None, str | None] = (None, None),
    reason_detail: str | None = None,
    resolution: str | None = None,
    currency: str | None = None,
    refund_amount: str | None = None,
    items: list[dict[str, Any]] | None = None,
    tracking: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One canonical event as the contract's JSON (shared/contract/canonical-event.schema.json)."""
    texts = (event_id, order_id, return_id, raw_status, reason[1], reason_detail, resolution, currency, refund_amount)
    if any("\x00" in str(text) for text in texts if text is not None) or _has_nul(items) or _has_nul(tracking):
        raise PayloadError("a field contains a NUL character, which no marketplace sends and no database stores")
    ret: dict[str, Any] = {"id": return_id}
    canonical, raw = reason
    optional_return = {
        "reason": canonical,
        "raw_reason": raw[:200] if raw else None,
        "reason_detail": str(reason_detail)[:2000] if reason_detail else None,
        "resolution": resolution,
        "refund_amount": refund_amount,
    }
    ret.update({k: v for k, v in optional_return.items() if v is not None})
    order: dict[str, Any] = {"id": order_id}
    if currency:
        order["currency"] = currency
    event: dict[str, Any] = {
        "type": event_type,
        "marketplace_event_id": event_id[:200],
        "occurred_at": occurred_at.isoformat(),
        "order": order,
        "return": ret,
    }
    if raw_status:
        event["raw_status"] = raw_status[:200]
    if items:
        event["items"] = items
    if tracking and any(tracking.values()):
        event["tracking"] = {k: v for k, v in tracking.items() if v}
    return event


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


FACTS_A_CASE_NEEDS: tuple[tuple[str, str], ...] = (
    ("order.currency", "the order's currency"),
    ("items", "the returned items with prices"),
    ("return.reason", "the buyer's reason"),
)


def missing_facts(event: Mapping[str, Any]) -> list[str]:
    """What a thin notification left out, shown on the case until enrichment fills it."""
    missing = []
    for path, _label in FACTS_A_CASE_NEEDS:
        value: Any = event
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if not value:
            missing.append(path)
    return missing


def merge_event(thin: dict[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    """The notification's event refined by what the API said; the notification's identity is kept."""
    merged = dict(thin)
    for key in ("order", "return"):
        section = dict(thin.get(key) or {})
        section.update({k: v for k, v in (detail.get(key) or {}).items() if v not in (None, "", [])})
        merged[key] = section
    for key in ("items", "tracking"):
        if detail.get(key):
            merged[key] = detail[key]
    if detail.get("type"):
        merged["type"] = detail["type"]
    if detail.get("raw_status"):
        merged["raw_status"] = detail["raw_status"]
    return merged


# --- enrich / respond plumbing --------------------------------------------------------------------


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


def credentials(settings: AdapterSettings, *keys: str) -> tuple[dict[str, str] | None, list[str]]:
    """The adapter's credentials, or the names of the `RB_*` settings that are not set."""
    values = settings.require(*keys)
    if values is not None:
        return values, []
    return None, [f"RB_{settings.name.upper()}_{key.upper()}" for key in keys if not settings.get(key)]


def send(http: HttpClient, request: OutboundRequest) -> HttpResult:
    """Every marketplace call goes through the one HTTP client (adapters/http.py)."""
    return http.send(request)


def answer_from(action: str, request: OutboundRequest, result: HttpResult, accepted: bool) -> DecisionAnswer:
    return DecisionAnswer(
        action=action,
        sent=True,
        accepted=accepted,
        status=result.status,
        detail=result.body,
        request=request.describe(),
    )


def not_sent(action: str, request: OutboundRequest | None, missing: list[str]) -> DecisionAnswer:
    return DecisionAnswer(
        action=action,
        sent=False,
        accepted=False,
        request=request.describe() if request else None,
        missing=missing,
    )
