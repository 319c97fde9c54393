"""`/webhooks/lazada`: Lazada Push Mechanism reverse-order messages; LazOP reverse-order API back.

Sources (research note §6; checked against Lazada's own guide as mirrored at
open.alitrip.com/docs/doc.htm?articleId=120168 "Lazada Push Mechanism" and
articleId=119493, and the API signing guide articleId=108068/108069):
- Push signature: header `Authorization` = hex(HMAC-SHA256(key = AppSecret,
  message = AppKey + raw body)). Lazada gives no push IP list; the signature is
  the only proof.
- Push body: `seller_id`, `message_type` (10 = reverse order; older samples send
  reverse messages as 0 with `reverse_order_id` in `data`), `data` with
  `reverse_order_id`, `reverse_order_line_id`, `reverse_status`, `trade_order_id`,
  `status_update_time` (seconds), and `timestamp` (push time; milliseconds in the
  guide's samples). The body is signed, so its `timestamp` bounds replays.
- Delivery: answer 200 within 500 ms; retried every 30 min, 12 times (~6 h), at
  least once ("duplicate message is normal ... idempotently consuming is required").
- Reverse statuses pushed per reverse type (CANCEL, RTM, RTW, ONLY_REFUND):
  guide "webhook-api-reverse-order" (research §6.4).
- API calls: sorted parameters concatenated as key+value, prefixed with the API
  path, HMAC-SHA256 with the AppSecret, upper-case hex in `sign`; `timestamp` in
  ms within 7200 s of UTC. GetReverseOrderDetail `/order/reverse/return/detail/list`,
  ReverseOrderReturnUpdate `/order/reverse/return/update` (actions agreeReturn,
  refuseReturn with reason_id, agreeRefund).
- Reason codes: Lazada publishes no enumeration (GetReverseOrderReasonList answers
  per seller), so reason texts go through the shared keyword table.

Settings: RB_LAZADA_WEBHOOK_SECRET (the AppSecret; signs pushes and API calls),
RB_LAZADA_APP_KEY, RB_LAZADA_BASE_URL (e.g. `https://api.lazada.sg/rest`),
RB_LAZADA_ACCESS_TOKEN (the seller's token).
"""

from __future__ import annotations

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
    Responds,
    ReturnRequestApi,
)
from adapters.marketplaces.configured import Configured
from adapters.registry import Setting, SignatureHeader

NAME = "lazada"
REPLAY_WINDOW = timedelta(hours=7)  # 12 retries x 30 min, plus margin
REVERSE_MESSAGE_TYPES = (10, 0)
DETAIL_PATH = "/order/reverse/return/detail/list"
UPDATE_PATH = "/order/reverse/return/update"

STATUS_EVENTS: dict[str, str] = {
    "CANCEL_INIT": "order.cancel_requested",
    "CANCEL_SUCCESS": "refund.requested",
    "CANCEL_REFUND_ISSUED": "refund.completed",
    "RTM_INIT": "return.requested",
    "RTM_CANCELED": "return.cancelled",
    "RTM_SHIPPING_BACK": "return.shipped",
    "RTM_RECEIVE_ITEM": "return.received",
    "RTW_INIT": "return.requested",
    "RTW_CANCELED": "return.cancelled",
    "RTW_SHIPPING_BACK": "return.shipped",
    "RTW_REJECT": "return.rejected",
    "RTW_REFUND_PENDING": "refund.requested",
    "REFUND_INIT": "return.requested",
    "REFUND_PENDING": "refund.requested",
    "REFUND_SUCCESS": "refund.completed",
    "REFUND_REJECTED": "return.rejected",
}
"""reverse_status -> canonical type, every key the reverse-order push sends (research §6.4)."""

RESOLUTIONS: dict[str, str] = {"RTM": "refund", "RTW": "refund", "REFUND": "refund_only", "CANCEL": "refund_only"}
"""Reverse type (the status prefix) -> canonical resolution: returns to merchant or
warehouse are return-and-refund; ONLY_REFUND and order cancellations refund without a return."""

REASONS: dict[str, str] = {}
"""Lazada has no published reason enumeration; reason texts use the shared keywords."""

ACTIONS: dict[str, str] = {"approve": "agreeReturn", "reject": "refuseReturn", "refund": "agreeRefund"}
"""Our decision -> ReverseOrderReturnUpdate `action`."""


def sign(path: str, params: dict[str, str], secret: str) -> str:
    """LazOP request signature: HMAC-SHA256 over path + sorted key/value pairs, upper hex."""
    base = path + "".join(f"{key}{params[key]}" for key in sorted(params) if params[key] not in (None, ""))
    return signing.hmac_sha256(secret, base.encode()).hex().upper()


def signed_call(
    creds: dict[str, str], method: str, path: str, params: dict[str, str], now: datetime
) -> OutboundRequest:
    common = {
        "app_key": creds["APP_KEY"],
        "access_token": creds["ACCESS_TOKEN"],
        "sign_method": "sha256",
        "timestamp": str(int(now.timestamp() * 1000)),
    }
    query = {**common, **params}
    query["sign"] = sign(path, query, creds["WEBHOOK_SECRET"])
    url = f"{creds['BASE_URL'].rstrip('/')}{path}"
    if method == "GET":
        return OutboundRequest("GET", f"{url}?{urlencode(query)}")
    return OutboundRequest("POST", url, form=query)


class LazadaAdapter(Configured):
    name = NAME
    display_name = "Lazada"
    signature_headers = (
        SignatureHeader("Authorization", "hex HMAC-SHA256 of the app key + raw body, keyed with the app secret"),
    )
    capabilities: frozenset[type] = frozenset({Enriches, Responds})
    declared_settings = (
        Setting(
            ("APP_KEY",),
            "none: `/webhooks/lazada` answers 401",
            "the app key Lazada signs with (webhook secret = app secret)",
        ),
        Setting(
            ("BASE_URL", "ACCESS_TOKEN"),
            "none: no details, decisions not sent",
            "regional API base (`https://api.lazada.sg/rest`) and the seller's token",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="LazOP reverse-order API (GetReverseOrdersForSeller, GetReverseOrderDetail, ReverseOrderReturnUpdate, "
        "InitReverseOrderCancel for unshipped orders), open.lazada.com, read 2026-11-30",
        why_not="no seller operation opens a return of a delivered order; returns start in the Lazada app",
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        signing.verify_app_key_signature(request, secret, self.settings.get("APP_KEY"), NAME, REPLAY_WINDOW, now)

    @payloads.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        payload = payloads.json_object(request)
        data = payload.get("data") or {}
        if payload.get("message_type") not in REVERSE_MESSAGE_TYPES or "reverse_order_id" not in data:
            kind = str(payload.get("message_type"))[:20]
            return ParsedDelivery(
                None, [], ignored=f"Lazada message_type {kind} is a trade-order message, not a reverse order"
            )
        raw_status = str(payloads.field_of(payload, "data.reverse_status"))
        return_id = str(payloads.field_of(payload, "data.reverse_order_id"))
        line_id = str(data.get("reverse_order_line_id") or return_id)
        updated = payloads.field_of(payload, "data.status_update_time")
        event_id = f"{line_id}:{raw_status}:{updated}"
        event = canonical_events.canonical_event(
            event_type=code_tables.canonical_type(STATUS_EVENTS, raw_status),
            event_id=event_id,
            occurred_at=times.epoch(updated),
            order_id=str(payloads.field_of(payload, "data.trade_order_id")),
            return_id=return_id,
            raw_status=raw_status,
            resolution=RESOLUTIONS.get(raw_status.split("_", 1)[0]),
        )
        return ParsedDelivery(delivery_id=event_id, events=[event])

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment:
        creds, missing = api_calls.credentials(self.settings, "BASE_URL", "APP_KEY", "WEBHOOK_SECRET", "ACCESS_TOKEN")
        if creds is None:
            return Enrichment(event, missing + canonical_events.missing_facts(event))
        request = build_detail(creds, event["return"]["id"], now)
        result = api_calls.send(http, request)
        detail = parse_detail(result.body) if result.ok else {}
        enriched = canonical_events.merge_event(event, detail)
        return Enrichment(enriched, canonical_events.missing_facts(enriched), [request.describe()])

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        creds, missing = api_calls.credentials(self.settings, "BASE_URL", "APP_KEY", "WEBHOOK_SECRET", "ACCESS_TOKEN")
        if creds is None:
            return api_calls.not_sent(decision.action, None, missing)
        if decision.action == "reject" and not decision.reason_code:
            return api_calls.not_sent(
                decision.action, None, ["reason_code: a reason_id from GetReverseOrderReasonList"]
            )
        lookup = build_detail(creds, decision.return_id, now)
        lines = line_ids(api_calls.send(http, lookup).body)
        request = build_decision(creds, decision, lines, now)
        result = api_calls.send(http, request)
        return api_calls.answer_from(decision.action, request, result, result.ok and _succeeded(result.body))


def build_detail(creds: dict[str, str], reverse_order_id: str, now: datetime) -> OutboundRequest:
    return signed_call(creds, "GET", DETAIL_PATH, {"reverse_order_id": reverse_order_id}, now)


def build_decision(creds: dict[str, str], decision: Decision, lines: list[str], now: datetime) -> OutboundRequest:
    action = ACTIONS.get(decision.action)
    if action is None:
        raise DecisionRefused(f"Lazada has no reverse-order action for {decision.action!r}")
    params = {
        "action": action,
        "reverse_order_id": decision.return_id,
        "reverse_order_item_ids": "[" + ",".join(lines) + "]",
    }
    if decision.reason_code:
        params["reason_id"] = decision.reason_code
    if decision.note:
        params["comment"] = decision.note
    return signed_call(creds, "POST", UPDATE_PATH, params, now)


def _succeeded(body: Any) -> bool:
    """LazOP answers HTTP 200 with `code` "0" on success and an error code otherwise."""
    return isinstance(body, dict) and str(body.get("code", "0")) == "0"


def line_ids(body: Any) -> list[str]:
    data = (body or {}).get("data") if isinstance(body, dict) else None
    lines = (data or {}).get("reverse_order_lines") or []
    return [str(line["reverse_order_line_id"]) for line in lines if line.get("reverse_order_line_id")]


def parse_detail(body: Any) -> dict[str, Any]:
    """GetReverseOrderDetail -> items, reason, refund. Field names per the API reference mirror; missing ones stay unset."""
    data = (body or {}).get("data") if isinstance(body, dict) else None
    if not data or not isinstance(data, dict):
        return {}
    items: list[dict[str, Any]] = []
    reason_text, total, refunded = None, Decimal(0), False
    for line in data.get("reverse_order_lines") or []:
        reason_text = reason_text or line.get("reason_text") or line.get("return_reason")
        price = line.get("item_unit_price")
        sku = line.get("seller_sku_id") or (line.get("product") or {}).get("product_sku")
        if sku and price is not None:
            items.append({"sku": str(sku), "quantity": 1, "unit_price": str(price)})
        if line.get("refund_amount") is not None:
            try:
                total += Decimal(str(line["refund_amount"]))
                refunded = True
            except InvalidOperation:
                continue
    detail: dict[str, Any] = {"items": items, "order": {"currency": data.get("currency")}}
    canonical, raw = code_tables.canonical_reason(REASONS, reason_text)
    detail["return"] = {"reason": canonical, "raw_reason": raw, "refund_amount": str(total) if refunded else None}
    return detail


MARKETPLACES.register(NAME, LazadaAdapter())
