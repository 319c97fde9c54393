"""`/webhooks/tiktok_shop`: TikTok Shop Partner API webhooks (return and cancellation status); Return & Refund API back.

Sources (research note §7; the webhook shapes were re-found by code search on 2026-11-23,
the signature scheme is as the note cites it and was not re-checked against a TikTok page):
- Signature: header `Authorization` (no "Bearer") = lower-case hex
  HMAC-SHA256(key = app_secret, message = app_key + raw body)
  (skills.sh/hookdeck/webhook-skills/tiktok-shop-webhooks). Not the TikTok for
  Developers scheme (`TikTok-Signature: t=..,s=..`, developers.tiktok.com/doc/webhooks-verification),
  which is for Login Kit apps.
- Envelope `{type, tts_notification_id, shop_id, timestamp, data}`; type 12
  RETURN_STATUS_CHANGE (`order_id`, `return_id`, `return_role`, `return_type`,
  `return_status`, `create_time`, `update_time`), type 11 CANCELLATION_STATUS_CHANGE
  (`cancel_id`, `cancel_status`, `cancellations_role`, `create_time`; no `update_time`):
  TikTok's own pages "(12) Return status change" and "(11) Cancellation status change"
  (partner.tiktokshop.com/docv2, July 2025; samples and value lists in
  tests/fixtures/official/tiktok_shop). The body's `timestamp` is signed.
- Retry schedule (Configuration guide): 4 retries, 2 min, 30 min, 3 h and 12 h after each
  failure (about 15.5 h); the window below is a day.
- Return statuses: research §7.4 (several independent integrations). Cancellation
  statuses and the approve `decision` values come from integrator SDKs
  (hsib19/tiktok-shop-sdk), not an official page: verify against the Return & Refund
  API reference before relying on them.
- API calls: `sign` = hex HMAC-SHA256(app_secret, app_secret + path + sorted query
  key+value (without sign and access_token) + body + app_secret), header
  `x-tts-access-token`, query `app_key`, `timestamp`, `shop_cipher`
  (TikTok Shop "Sign your API request", as quoted in developer Q&A threads).
  `POST /return_refund/202309/returns/search`, `.../returns/{id}/approve`, `.../returns/{id}/reject`.
- Reason names are free strings (no enumeration published): shared keyword table.

Settings: RB_TIKTOK_SHOP_WEBHOOK_SECRET (app secret), RB_TIKTOK_SHOP_APP_KEY,
RB_TIKTOK_SHOP_BASE_URL (`https://open-api.tiktokglobalshop.com`),
RB_TIKTOK_SHOP_ACCESS_TOKEN, RB_TIKTOK_SHOP_SHOP_CIPHER.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from adapters.http import HttpClient, OutboundRequest
from adapters.marketplaces import _support as s
from adapters.marketplaces.base import MARKETPLACES, Enriches, InboundRequest, ParsedDelivery, PayloadError, Responds
from adapters.registry import Setting

NAME = "tiktok_shop"
REPLAY_WINDOW = timedelta(hours=24)
RETURN_STATUS_CHANGE = 12
CANCELLATION_STATUS_CHANGE = 11
SEARCH_PATH = "/return_refund/202309/returns/search"
CREDENTIALS = ("BASE_URL", "APP_KEY", "WEBHOOK_SECRET", "ACCESS_TOKEN", "SHOP_CIPHER")

STATUS_EVENTS: dict[str, str] = {
    "RETURN_OR_REFUND_REQUEST_PENDING": "return.requested",
    "AWAITING_BUYER_RESPONSE": "return.requested",
    "REFUND_OR_RETURN_REQUEST_REJECT": "return.rejected",
    "AWAITING_BUYER_SHIP": "return.approved",
    "BUYER_SHIPPED_ITEM": "return.shipped",
    "REJECT_RECEIVE_PACKAGE": "return.rejected",
    "RETURN_OR_REFUND_REQUEST_SUCCESS": "refund.completed",
    "RETURN_OR_REFUND_REQUEST_CANCEL": "return.cancelled",
    "RETURN_OR_REFUND_REQUEST_COMPLETE": "refund.completed",
    "REPLACEMENT_REQUEST_PENDING": "exchange.requested",
    "REPLACEMENT_REQUEST_REJECT": "return.rejected",
    "REPLACEMENT_REQUEST_REFUND_SUCCESS": "refund.completed",
    "REPLACEMENT_REQUEST_CANCEL": "return.cancelled",
    "REPLACEMENT_REQUEST_COMPLETE": "return.approved",  # "The SELLER approves the replacement request"
}
"""return_status -> canonical type: the 13 values of the "(12) Return status change" webhook page
(tests/fixtures/official/tiktok_shop/enums.json) and AWAITING_BUYER_RESPONSE, which returns/search answers."""

CANCEL_STATUS_EVENTS: dict[str, str] = {
    "CANCELLATION_REQUEST_PENDING": "order.cancel_requested",
    "CANCELLATION_REQUEST_SUCCESS": "refund.requested",
    "CANCELLATION_REQUEST_CANCELLED": "return.cancelled",  # the page's spelling (not ..._CANCEL)
    "CANCELLATION_REQUEST_COMPLETE": "refund.completed",
}
"""cancel_status -> canonical type; an unknown one is still a cancellation request."""

RESOLUTIONS: dict[str, str] = {"REFUND": "refund_only", "RETURN_AND_REFUND": "refund", "REPLACEMENT": "exchange"}
"""return_type -> canonical resolution."""

REASONS: dict[str, str] = {}
"""TikTok publishes no reason enumeration (research §7.3); reason names use the shared keywords."""

DECISIONS: dict[str, tuple[str, str]] = {
    "approve": ("approve", "APPROVE_RETURN"),
    "refund": ("approve", "APPROVE_REFUND"),
    "reject": ("reject", "REJECT_RETURN"),
}
"""Our decision -> (endpoint, `decision` value)."""


def sign(path: str, query: dict[str, str], body: str, secret: str) -> str:
    pairs = "".join(f"{k}{query[k]}" for k in sorted(query) if k not in ("sign", "access_token"))
    return s.hmac_sha256(secret, f"{secret}{path}{pairs}{body}{secret}".encode()).hex()


def signed_call(creds: dict[str, str], path: str, body: dict[str, Any], now: datetime, **extra: str) -> OutboundRequest:
    query = {
        "app_key": creds["APP_KEY"],
        "shop_cipher": creds["SHOP_CIPHER"],
        "timestamp": str(int(now.timestamp())),
        **extra,
    }
    text = json.dumps(body, separators=(",", ":"))
    query["sign"] = sign(path, query, text, creds["WEBHOOK_SECRET"])
    return OutboundRequest(
        "POST",
        f"{creds['BASE_URL'].rstrip('/')}{path}?{urlencode(query)}",
        headers={"x-tts-access-token": creds["ACCESS_TOKEN"], "Content-Type": "application/json"},
        content=text,
    )


class TikTokShopAdapter(s.Configured):
    name = NAME
    display_name = "TikTok Shop"
    capabilities: frozenset[type] = frozenset({Enriches, Responds})
    declared_settings = (
        Setting(
            ("APP_KEY",),
            "none: `/webhooks/tiktok_shop` answers 401",
            "the app key TikTok Shop signs with (webhook secret = app secret)",
        ),
        Setting(
            ("BASE_URL", "ACCESS_TOKEN", "SHOP_CIPHER"),
            "none: no details, decisions not sent",
            "`https://open-api.tiktokglobalshop.com`, the shop's token and cipher",
        ),
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        s.verify_app_key_signature(request, secret, self.settings.get("APP_KEY"), NAME, REPLAY_WINDOW, now)

    @s.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        payload = s.json_object(request)
        kind = payload.get("type")
        if kind == RETURN_STATUS_CHANGE:
            event = _return_event(payload)
        elif kind == CANCELLATION_STATUS_CHANGE:
            event = _cancellation_event(payload)
        else:
            kind = str(kind)[:20]
            return ParsedDelivery(None, [], ignored=f"webhook type {kind} is neither 11 (cancellation) nor 12 (return)")
        delivery_id = str(payload.get("tts_notification_id") or event["marketplace_event_id"])
        return ParsedDelivery(delivery_id=delivery_id, events=[event])

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> s.Enrichment:
        creds, missing = s.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return s.Enrichment(event, missing + s.missing_facts(event))
        request = build_search(creds, {"return_ids": [event["return"]["id"]]}, now)
        result = s.send(http, request)
        returns = search_results(result.body) if result.ok else []
        detail = return_detail(returns[0]) if returns else {}
        enriched = s.merge_event(event, detail)
        return s.Enrichment(enriched, s.missing_facts(enriched), [request.describe()])

    def respond(self, decision: s.Decision, http: HttpClient, now: datetime) -> s.DecisionAnswer:
        creds, missing = s.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return s.not_sent(decision.action, None, missing)
        request = build_decision(creds, decision, now)
        result = s.send(http, request)
        accepted = result.ok and isinstance(result.body, dict) and result.body.get("code") == 0
        return s.answer_from(decision.action, request, result, accepted)


def _return_event(payload: dict[str, Any]) -> dict[str, Any]:
    raw_status = str(s.field_of(payload, "data.return_status"))
    return_id = str(s.field_of(payload, "data.return_id"))
    updated = s.field_of(payload, "data.update_time")
    return s.canonical_event(
        event_type=s.canonical_type(STATUS_EVENTS, raw_status),
        event_id=f"{return_id}:{raw_status}:{updated}",
        occurred_at=s.epoch(updated),
        order_id=str(s.field_of(payload, "data.order_id")),
        return_id=return_id,
        raw_status=raw_status,
        resolution=RESOLUTIONS.get(str(payload["data"].get("return_type") or "")),
    )


def _cancellation_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The documented body has `create_time` but no `update_time`: the change is dated by the signed
    push `timestamp`, and a cancellation passes through each status once, so id + status identify it."""
    raw_status = str(s.field_of(payload, "data.cancel_status"))
    cancel_id = str(s.field_of(payload, "data.cancel_id"))
    data = payload["data"]
    changed = data.get("update_time") or payload.get("timestamp") or s.field_of(payload, "data.create_time")
    suffix = f":{data['update_time']}" if data.get("update_time") else ""
    return s.canonical_event(
        event_type=s.canonical_type(CANCEL_STATUS_EVENTS, raw_status, fallback="order.cancel_requested"),
        event_id=f"{cancel_id}:{raw_status}{suffix}",
        occurred_at=s.epoch(changed),
        order_id=str(s.field_of(payload, "data.order_id")),
        return_id=cancel_id,
        raw_status=raw_status,
        resolution="refund_only",
    )


def build_search(creds: dict[str, str], body: dict[str, Any], now: datetime, page_token: str = "") -> OutboundRequest:
    extra = {"page_size": "50"}
    if page_token:
        extra["page_token"] = page_token
    return signed_call(creds, SEARCH_PATH, body, now, **extra)


def build_decision(creds: dict[str, str], decision: s.Decision, now: datetime) -> OutboundRequest:
    if decision.action not in DECISIONS:
        raise s.DecisionRefused(f"TikTok Shop has no return action for {decision.action!r}")
    endpoint, value = DECISIONS[decision.action]
    body: dict[str, Any] = {"decision": value}
    if endpoint == "reject":
        body["reject_reason"] = decision.reason_code or "seller_reject_apply_reason_other"
        if decision.note:
            body["comment"] = decision.note
    path = f"/return_refund/202309/returns/{decision.return_id}/{endpoint}"
    return signed_call(creds, path, body, now, idempotency_key=decision.idempotency_key)


def search_results(body: Any) -> list[dict[str, Any]]:
    data = (body or {}).get("data") if isinstance(body, dict) else None
    return list((data or {}).get("return_orders") or [])


def next_page(body: Any) -> str:
    data = (body or {}).get("data") if isinstance(body, dict) else None
    return str((data or {}).get("next_page_token") or "")


def return_detail(ret: dict[str, Any]) -> dict[str, Any]:
    """A returns/search row -> currency, items, reason, refund and status."""
    refund = ret.get("refund_amount") or {}
    items = []
    for line in ret.get("return_line_items") or []:
        price = (line.get("refund_amount") or {}).get("refund_total")
        if line.get("seller_sku") and price is not None:
            items.append(
                {
                    "sku": str(line["seller_sku"]),
                    "title": line.get("product_name"),
                    "quantity": 1,
                    "unit_price": str(price),
                }
            )
    canonical, raw = s.canonical_reason(REASONS, ret.get("return_reason") or ret.get("return_reason_text"))
    total = refund.get("refund_total")
    try:
        amount = str(Decimal(str(total))) if total is not None else None
    except InvalidOperation:
        amount = None
    detail: dict[str, Any] = {
        "order": {"currency": refund.get("currency")},
        "return": {
            "reason": canonical,
            "raw_reason": raw,
            "reason_detail": ret.get("return_reason_text"),
            "refund_amount": amount,
            "resolution": RESOLUTIONS.get(str(ret.get("return_type") or "")),
        },
        "items": items,
    }
    status = ret.get("return_status")
    if status:
        detail["raw_status"] = status
        detail["type"] = s.canonical_type(STATUS_EVENTS, status)
    return detail


def search_event(ret: dict[str, Any]) -> dict[str, Any]:
    """A polled returns/search row as a canonical event (same identity as the webhook's)."""
    status = str(ret.get("return_status") or "")
    updated = ret.get("update_time") or ret.get("create_time")
    if not (ret.get("return_id") and ret.get("order_id") and status and updated):
        raise PayloadError("a returns/search row lacks return_id, order_id, return_status or update_time")
    thin = s.canonical_event(
        event_type=s.canonical_type(STATUS_EVENTS, status),
        event_id=f"{ret['return_id']}:{status}:{updated}",
        occurred_at=s.epoch(updated),
        order_id=str(ret["order_id"]),
        return_id=str(ret["return_id"]),
        raw_status=status,
    )
    return s.merge_event(thin, return_detail(ret))


MARKETPLACES.register(NAME, TikTokShopAdapter())
