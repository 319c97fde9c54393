"""Proving that a push came from the marketplace, and recently.

Every marketplace signs differently, but each check ends the same way: compute
what the platform would have sent and compare in constant time
(`hmac.compare_digest`), then refuse timestamps outside the platform's retry
horizon (`check_fresh`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from adapters.marketplaces.base import InboundRequest, PayloadError, SignatureError
from adapters.marketplaces.payloads import json_object
from adapters.marketplaces.times import epoch

FUTURE_SKEW = timedelta(minutes=5)
"""Clocks differ: a timestamp up to five minutes ahead of ours is still believable."""


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


def require_secret(secret: str | None, name: str) -> str:
    if not secret:
        raise SignatureError(f"RB_{name.upper()}_WEBHOOK_SECRET is not set: this route accepts nothing until it is")
    return secret


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
