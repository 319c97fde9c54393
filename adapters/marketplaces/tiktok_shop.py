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
RB_TIKTOK_SHOP_ACCESS_TOKEN, RB_TIKTOK_SHOP_SHOP_CIPHER; RB_TIKTOK_SHOP_WITHDRAWAL_REASON (the `return_reason`
name Create Return is sent for an EU withdrawal: TikTok publishes no reason list for sellers, so the shop names
its own; without it a withdrawal is not sent and the case says so).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from adapters.http import HttpClient, OutboundRequest
from adapters.marketplaces import api_calls, canonical_events, code_tables, payloads, signing, times
from adapters.marketplaces.base import (
    MARKETPLACES,
    Decision,
    DecisionAnswer,
    DecisionRefused,
    Enriches,
    Enrichment,
    InboundRequest,
    ParsedDelivery,
    PayloadError,
    Responds,
    ReturnRequestApi,
)
from adapters.marketplaces.configured import Configured
from adapters.registry import Setting, SignatureHeader

NAME = "tiktok_shop"
REPLAY_WINDOW = timedelta(hours=24)
RETURN_STATUS_CHANGE = 12
CANCELLATION_STATUS_CHANGE = 11
SEARCH_PATH = "/return_refund/202309/returns/search"
CREATE_RETURN_PATH = "/return_refund/202309/returns"
ORDER_DETAIL_PATH = "/order/202309/orders"
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
    return signing.hmac_sha256(secret, f"{secret}{path}{pairs}{body}{secret}".encode()).hex()


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


class TikTokShopAdapter(Configured):
    name = NAME
    display_name = "TikTok Shop"
    signature_headers = (
        SignatureHeader(
            "Authorization", "hex HMAC-SHA256 of the app key + raw body, keyed with the app secret (no Bearer)"
        ),
    )
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
        Setting(
            ("WITHDRAWAL_REASON",),
            "none: an EU withdrawal is not sent to TikTok Shop (the case says so)",
            "the `return_reason` name Create Return is sent for a buyer's withdrawal (TikTok publishes no list for sellers)",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=True,
        source="Return and Refund API 202309 'Create Return', POST /return_refund/202309/returns (order_id, "
        "order_line_item_ids, return_reason, return_type: the seller creates the request), with Get Order Detail "
        "for the line item ids; partner.tiktokshop.com, field lists in tests/fixtures/official/tiktok_shop",
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        signing.verify_app_key_signature(request, secret, self.settings.get("APP_KEY"), NAME, REPLAY_WINDOW, now)

    @payloads.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        payload = payloads.json_object(request)
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

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return Enrichment(event, missing + canonical_events.missing_facts(event))
        request = build_search(creds, {"return_ids": [event["return"]["id"]]}, now)
        result = api_calls.send(http, request)
        returns = search_results(result.body) if result.ok else []
        detail = return_detail(returns[0]) if returns else {}
        enriched = canonical_events.merge_event(event, detail)
        return Enrichment(enriched, canonical_events.missing_facts(enriched), [request.describe()])

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return api_calls.not_sent(decision.action, None, missing)
        if decision.action == "open_return":
            return self._open_return(creds, decision, http, now)
        request = build_decision(creds, decision, now)
        result = api_calls.send(http, request)
        accepted = result.ok and isinstance(result.body, dict) and result.body.get("code") == 0
        return api_calls.answer_from(decision.action, request, result, accepted)

    def _open_return(
        self, creds: dict[str, str], decision: Decision, http: HttpClient, now: datetime
    ) -> DecisionAnswer:
        """A withdrawal told to TikTok Shop: the order's line items (one per unit) are read with Get Order Detail,
        the withdrawn ones are named by id, and Create Return opens a RETURN_AND_REFUND request for them."""
        reason = self.settings.get("WITHDRAWAL_REASON")
        if not reason:
            return api_calls.not_sent("open_return", None, ["RB_TIKTOK_SHOP_WITHDRAWAL_REASON"])
        lookup = build_order_detail(creds, decision.order_id, now)
        found = api_calls.send(http, lookup)
        line_ids, unmatched = line_items_for(decision.lines, order_line_items(found.body) if found.ok else [])
        if unmatched:
            return DecisionAnswer("open_return", False, False, status=found.status, request=lookup.describe(),
                                    detail=f"no order line item for {', '.join(unmatched)}")  # fmt: skip
        request = build_create_return(creds, decision, line_ids, reason, now)
        result = api_calls.send(http, request)
        body = result.body if isinstance(result.body, dict) else {}
        answer = api_calls.answer_from("open_return", request, result, result.ok and body.get("code") == 0)
        created = (body.get("data") or {}).get("return_id") if answer.accepted else None
        return replace(answer, created_id=str(created) if created else None)


def _return_event(payload: dict[str, Any]) -> dict[str, Any]:
    raw_status = str(payloads.field_of(payload, "data.return_status"))
    return_id = str(payloads.field_of(payload, "data.return_id"))
    updated = payloads.field_of(payload, "data.update_time")
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, raw_status),
        event_id=f"{return_id}:{raw_status}:{updated}",
        occurred_at=times.epoch(updated),
        order_id=str(payloads.field_of(payload, "data.order_id")),
        return_id=return_id,
        raw_status=raw_status,
        resolution=RESOLUTIONS.get(str(payload["data"].get("return_type") or "")),
    )


def _cancellation_event(payload: dict[str, Any]) -> dict[str, Any]:
    """The documented body has `create_time` but no `update_time`: the change is dated by the signed
    push `timestamp`, and a cancellation passes through each status once, so id + status identify it."""
    raw_status = str(payloads.field_of(payload, "data.cancel_status"))
    cancel_id = str(payloads.field_of(payload, "data.cancel_id"))
    data = payload["data"]
    changed = data.get("update_time") or payload.get("timestamp") or payloads.field_of(payload, "data.create_time")
    suffix = f":{data['update_time']}" if data.get("update_time") else ""
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(CANCEL_STATUS_EVENTS, raw_status, fallback="order.cancel_requested"),
        event_id=f"{cancel_id}:{raw_status}{suffix}",
        occurred_at=times.epoch(changed),
        order_id=str(payloads.field_of(payload, "data.order_id")),
        return_id=cancel_id,
        raw_status=raw_status,
        resolution="refund_only",
    )


def build_search(creds: dict[str, str], body: dict[str, Any], now: datetime, page_token: str = "") -> OutboundRequest:
    extra = {"page_size": "50"}
    if page_token:
        extra["page_token"] = page_token
    return signed_call(creds, SEARCH_PATH, body, now, **extra)


def build_decision(creds: dict[str, str], decision: Decision, now: datetime) -> OutboundRequest:
    if decision.action not in DECISIONS:
        raise DecisionRefused(f"TikTok Shop has no return action for {decision.action!r}")
    endpoint, value = DECISIONS[decision.action]
    body: dict[str, Any] = {"decision": value}
    if endpoint == "reject":
        body["reject_reason"] = decision.reason_code or "seller_reject_apply_reason_other"
        if decision.note:
            body["comment"] = decision.note
    path = f"/return_refund/202309/returns/{decision.return_id}/{endpoint}"
    return signed_call(creds, path, body, now, idempotency_key=decision.idempotency_key)


def build_order_detail(creds: dict[str, str], order_id: str, now: datetime) -> OutboundRequest:
    """Get Order Detail, `GET /order/202309/orders?ids=...`, signed like every call (no body)."""
    query = {
        "app_key": creds["APP_KEY"],
        "shop_cipher": creds["SHOP_CIPHER"],
        "timestamp": str(int(now.timestamp())),
        "ids": order_id,
    }
    query["sign"] = sign(ORDER_DETAIL_PATH, query, "", creds["WEBHOOK_SECRET"])
    return OutboundRequest(
        "GET",
        f"{creds['BASE_URL'].rstrip('/')}{ORDER_DETAIL_PATH}?{urlencode(query)}",
        headers={"x-tts-access-token": creds["ACCESS_TOKEN"]},
    )


def order_line_items(body: Any) -> list[tuple[str, str]]:
    """Get Order Detail -> (seller_sku, line item id) of each line item; TikTok has one line item per unit."""
    data = (body or {}).get("data") if isinstance(body, dict) else None
    orders = (data or {}).get("orders") or []
    lines = (orders[0].get("line_items") if orders and isinstance(orders[0], dict) else None) or []
    return [(str(line["seller_sku"]), str(line["id"])) for line in lines if line.get("seller_sku") and line.get("id")]


def line_items_for(wanted: tuple[tuple[str, int], ...], lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """`quantity` line item ids per SKU asked; the SKUs the order has too few of are named."""
    left = list(lines)
    chosen, unmatched = [], []
    for sku, quantity in wanted:
        ids = [line_id for seller_sku, line_id in left if seller_sku == sku][:quantity]
        if len(ids) < quantity:
            unmatched.append(sku)
        chosen.extend(ids)
        left = [line for line in left if line[1] not in ids]
    return chosen, unmatched


def build_create_return(
    creds: dict[str, str], decision: Decision, line_ids: list[str], reason: str, now: datetime
) -> OutboundRequest:
    """Create Return, `POST /return_refund/202309/returns`, once per idempotency key (the API takes one)."""
    body = {
        "order_id": decision.order_id,
        "order_line_item_ids": line_ids,
        "return_reason": reason,
        "return_type": "RETURN_AND_REFUND",
    }
    return signed_call(creds, CREATE_RETURN_PATH, body, now, idempotency_key=decision.idempotency_key)


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
    canonical, raw = code_tables.canonical_reason(REASONS, ret.get("return_reason") or ret.get("return_reason_text"))
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
        detail["type"] = code_tables.canonical_type(STATUS_EVENTS, status)
    return detail


def search_event(ret: dict[str, Any]) -> dict[str, Any]:
    """A polled returns/search row as a canonical event (same identity as the webhook's)."""
    status = str(ret.get("return_status") or "")
    updated = ret.get("update_time") or ret.get("create_time")
    if not (ret.get("return_id") and ret.get("order_id") and status and updated):
        raise PayloadError("a returns/search row lacks return_id, order_id, return_status or update_time")
    thin = canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, status),
        event_id=f"{ret['return_id']}:{status}:{updated}",
        occurred_at=times.epoch(updated),
        order_id=str(ret["order_id"]),
        return_id=str(ret["return_id"]),
        raw_status=status,
    )
    return canonical_events.merge_event(thin, return_detail(ret))


MARKETPLACES.register(NAME, TikTokShopAdapter())
