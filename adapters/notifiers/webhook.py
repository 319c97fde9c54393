"""Notices to an SMS or chat provider: one signed HTTP POST per notice (Standard Webhooks).

Settings (README): RB_NOTIFY_WEBHOOK_URL, RB_NOTIFY_WEBHOOK_SECRET (`whsec_` + base64).
Without both, nothing is sent: the notice is recorded and shown on the case.

The body follows the Standard Webhooks payload shape (`type`, `timestamp`,
`data`) and is signed with the `standardwebhooks` library's `Webhook.sign` over
`<webhook-id>.<webhook-timestamp>.<body>` (standardwebhooks.com; STYLE.md). The
`webhook-id` is the delivery's idempotency key: the spec asks receivers to use it
to drop duplicates, so a retry after a lost answer cannot become a second SMS.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from adapters.http import HttpClient, OutboundRequest, TransientHttpError
from adapters.notifiers.base import NOTIFIERS, Outgoing, PermanentNotifyError, Sent, TransientNotifyError
from config.settings import AdapterSettings, Settings
from core.events import Buyer

SETTINGS_NAME = "notify_webhook"


def webhook_settings(settings: Settings) -> AdapterSettings:
    return settings.for_adapter(SETTINGS_NAME)


def payload(outgoing: Outgoing, now: datetime) -> dict[str, Any]:
    notice = outgoing.notice
    return {
        "type": f"notice.{outgoing.kind}",
        "timestamp": now.astimezone(UTC).isoformat(),
        "data": {
            "case_id": outgoing.case_id,
            "notice": outgoing.kind,
            "to": outgoing.recipient,
            "locale": notice.locale,
            "direction": notice.direction,
            "subject": notice.subject,
            "text": notice.body,
            "issued_at": notice.at,
        },
    }


def build_request(outgoing: Outgoing, url: str, secret: str, now: datetime) -> OutboundRequest:
    """Pure: the signed request; the signature covers these exact bytes."""
    # ASCII JSON (non-ASCII as \\u escapes): the same text is signed and sent, whatever the script.
    body = json.dumps(payload(outgoing, now), ensure_ascii=True, separators=(",", ":"))
    signature = Webhook(secret).sign(outgoing.idempotency_key, now.astimezone(UTC), body)  # sign() assumes UTC
    return OutboundRequest(
        method="POST",
        url=url,
        headers={
            "Content-Type": "application/json",
            "webhook-id": outgoing.idempotency_key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
        content=body,
    )


class WebhookNotifier:
    """One client per thread, kept for the notifier's life: its session keeps the connection to the provider
    open between notices (HTTP keep-alive) instead of a new TCP (and TLS) handshake per post. Per thread,
    because consumers run in threads and a requests session is not guaranteed thread-safe."""

    name = "webhook"

    def __init__(self, http: HttpClient | None = None, clock: Any = None) -> None:
        self.http = http
        self.clock = clock or (lambda: datetime.now(UTC))
        self._local = threading.local()

    def _client(self, timeout: float) -> HttpClient:
        """This thread's client, made again if the timeout setting differs (a notifier serves any settings)."""
        if self.http is not None:
            return self.http
        client: HttpClient | None = getattr(self._local, "client", None)
        if client is None or client.timeout != timeout:
            if client is not None:
                client.session.close()
            client = self._local.client = HttpClient(timeout=timeout)
        return client

    def configured(self, settings: Settings) -> bool:
        return webhook_settings(settings).require("URL", "SECRET") is not None

    def recipient(self, buyer: Buyer | None) -> str | None:
        """SMS and chat providers reach the buyer by phone; email is the fallback address."""
        if buyer is None:
            return None
        return buyer.phone or buyer.email or None

    def describe(self, outgoing: Outgoing, settings: Settings) -> dict[str, Any]:
        return {
            "channel": self.name,
            "url": webhook_settings(settings).get("URL"),
            "body": payload(outgoing, self.clock()),
        }

    def send(self, outgoing: Outgoing, settings: Settings) -> Sent:
        config = webhook_settings(settings).require("URL", "SECRET")
        if config is None:
            raise PermanentNotifyError("RB_NOTIFY_WEBHOOK_URL and RB_NOTIFY_WEBHOOK_SECRET are not set")
        request = build_request(outgoing, config["URL"], config["SECRET"], self.clock())
        client = self._client(settings.http_timeout_seconds)
        try:
            result = client.send(request)
        except TransientHttpError as exc:
            raise TransientNotifyError(str(exc), maybe_delivered=exc.maybe_delivered) from exc
        if not result.ok:
            raise PermanentNotifyError(f"provider answered HTTP {result.status}: {str(result.body)[:200]}")
        return Sent({"status": result.status, "body": result.body, "webhook_id": outgoing.idempotency_key})


NOTIFIERS.register("webhook", WebhookNotifier())
