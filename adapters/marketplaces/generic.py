"""`/webhooks/generic`: one canonical event per request, signed as Standard Webhooks.

Source: standardwebhooks.com spec (headers webhook-id, webhook-timestamp,
webhook-signature `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, several
space-separated signatures, 5-minute tolerance) and shared/contract/README.md.
Verification itself is the `standardwebhooks` library's; this module only turns
its many failure modes into one `SignatureError`.
"""

from __future__ import annotations

import binascii
import json
from datetime import datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError

from adapters.marketplaces.base import (
    JSON,
    MARKETPLACES,
    InboundRequest,
    ParsedDelivery,
    PayloadError,
    ReturnRequestApi,
    SignatureError,
)
from adapters.registry import Setting, SignatureHeader
from config.settings import AdapterSettings

TOLERANCE_SECONDS = 300


class GenericAdapter:
    name = "generic"
    display_name = "Standard Webhooks"
    content_types = JSON
    signature_headers = (
        SignatureHeader("webhook-id", "the delivery id duplicates share"),
        SignatureHeader("webhook-timestamp", "epoch seconds, within 5 minutes of now"),
        SignatureHeader("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>`, space-separated"),
    )
    capabilities: frozenset[type] = frozenset()
    declared_settings = (
        Setting(
            ("WEBHOOK_SECRET",), "none: `/webhooks/generic` answers 401", "`whsec_` + base64 key (Standard Webhooks)"
        ),
    )

    def configured(self, settings: AdapterSettings) -> GenericAdapter:
        """Standard Webhooks needs only the secret, which `verify` is given."""
        return self

    return_request = ReturnRequestApi(
        opens_returns=False,
        source="the generic route: the merchant's own system posts Standard Webhooks and reads GET /returns",
        why_not="there is no marketplace behind this route; the merchant reads the withdrawal from the case",
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        if not secret:
            raise SignatureError("RB_GENERIC_WEBHOOK_SECRET is not set: this route accepts nothing until it is")
        headers = {
            name: request.header(name) or "" for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
        }
        if not all(headers.values()):
            raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
        try:  # at most 12 digits: a 400-digit number overflowed the float comparison below (issue 16)
            sent_at = int(headers["webhook-timestamp"]) if len(headers["webhook-timestamp"]) <= 12 else None
        except ValueError:
            sent_at = None
        if sent_at is None:
            raise SignatureError("webhook-timestamp is not Unix seconds")
        if abs(now.timestamp() - sent_at) > TOLERANCE_SECONDS:
            raise SignatureError("webhook-timestamp is more than 5 minutes from now")
        try:
            request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            # The library signs text, so such a body cannot be checked; JSON is UTF-8 (RFC 8259 §8.1) and a
            # sender is better told what is wrong with its body than that its signature is.
            raise PayloadError(f"body is not UTF-8 JSON: {exc}") from None
        try:
            Webhook(secret).verify(request.body, headers, json_parse=False)
        except (
            WebhookVerificationError,
            EmptyWebhookSecretError,
            ValueError,
            binascii.Error,
        ) as exc:
            raise SignatureError(f"signature does not match: {exc or type(exc).__name__}") from None

    def parse(self, request: InboundRequest) -> ParsedDelivery:
        try:
            payload = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise PayloadError(f"body is not JSON: {exc}") from None
        return ParsedDelivery(delivery_id=request.header("webhook-id"), events=[payload])


MARKETPLACES.register("generic", GenericAdapter())
