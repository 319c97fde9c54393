"""`/webhooks/shopee`: Shopee Open Platform v2 order-status pushes; returns API back and polled.

Sources (research note §5; Shopee's guides "Push Mechanism" and "Return/Refund
management" at open.shopee.com/developer-guide, mirrored in lazykern/ecommerce-api-docs;
push verification cross-checked with public integrations found by code search):
- Push signature: header `Authorization` = hex(HMAC-SHA256(key = partner_key,
  message = callback URL exactly as registered + "|" + raw body)). Shopee warns
  against re-serialising the body before verifying. The body's `timestamp`
  (seconds) is inside the signed bytes.
- Pushes answer with 2xx and an empty body (`ack_body` is left None).
- No return push exists: code 3 (order status update, `data.ordersn`, `data.status`,
  `data.update_time`) says an order went TO_RETURN or IN_CANCEL; the return itself
  comes from `v2.returns.get_return_list` / `get_return_detail`, which the poller reads.
- A Shopee push names only the order, so Shopee cases are keyed by `order_sn`
  (push and poll agree on it); the `return_sn` travels in `marketplace_event_id`
  and is looked up again when a decision is sent.
- Enumerations ReturnReason and ReturnStatus: the guide's "Data Definition".
- API calls: `sign` = hex HMAC-SHA256(partner_key, partner_id + path + timestamp
  + access_token + shop_id), query `partner_id`, `timestamp`, `access_token`,
  `shop_id`, `sign`. `v2.returns.confirm` accepts (refund), `v2.returns.dispute`
  contests; the Open API can dispute only in REQUESTED and PROCESSING.

Settings: RB_SHOPEE_WEBHOOK_SECRET (partner key; signs pushes and calls),
RB_SHOPEE_CALLBACK_URL (the push URL exactly as registered; default: the URL the
request arrived on), RB_SHOPEE_BASE_URL (`https://partner.shopeemobile.com`),
RB_SHOPEE_PARTNER_ID, RB_SHOPEE_SHOP_ID, RB_SHOPEE_ACCESS_TOKEN,
RB_SHOPEE_DISPUTE_EMAIL (contact e-mail Shopee requires on a dispute).
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
    PollBatch,
    Polls,
    Responds,
    ReturnRequestApi,
    SignatureError,
)
from adapters.marketplaces.configured import Configured
from adapters.registry import Setting, SignatureHeader

NAME = "shopee"
REPLAY_WINDOW = timedelta(hours=24)  # Shopee publishes no retry horizon per push
ORDER_STATUS_PUSH = 3
LIST_PATH = "/api/v2/returns/get_return_list"
DETAIL_PATH = "/api/v2/returns/get_return_detail"
CREDENTIALS = ("BASE_URL", "PARTNER_ID", "SHOP_ID", "ACCESS_TOKEN", "WEBHOOK_SECRET")
LIST_SPAN = timedelta(days=15)  # get_return_list time filters span at most 15 days
POLL_OVERLAP = timedelta(minutes=10)
MAX_PAGES = 50

ORDER_STATUS_EVENTS: dict[str, str] = {
    "TO_RETURN": "return.requested",
    "IN_CANCEL": "order.cancel_requested",
}
"""Order statuses of push code 3 that concern a return; the others (UNPAID, SHIPPED, ...) do not."""

STATUS_EVENTS: dict[str, str] = {
    "REQUESTED": "return.requested",
    "ACCEPTED": "return.approved",
    "CANCELLED": "return.cancelled",
    "JUDGING": "dispute.opened",
    "SELLER_DISPUTE": "dispute.opened",
    "PROCESSING": "return.shipped",
    "CLOSED": "refund.completed",
}
"""ReturnStatus -> canonical type."""

REASONS: dict[str, str] = {
    "NONE": "other",
    "NOT_RECEIPT": "late_delivery",
    "WRONG_ITEM": "wrong_item",
    "ITEM_DAMAGED": "damaged_in_transit",
    "DIFFERENT_DESCRIPTION": "not_as_described",
    "MUTUAL_AGREE": "other",
    "OTHER": "other",
    "ITEM_WRONGDAMAGED": "wrong_item",
    "CHANGE_MIND": "changed_mind",
    "ITEM_MISSING": "missing_parts",
    "EXPECTATION_FAILED": "not_as_described",
    "ITEM_FAKE": "not_as_described",
    "PHYSICAL_DMG": "damaged_in_transit",
    "FUNCTIONAL_DMG": "defective",
}
"""ReturnReason -> canonical reason."""

RESOLUTIONS: dict[str, str] = {"0": "refund", "1": "refund_only", "RETURN_REFUND": "refund", "REFUND": "refund_only"}
"""`return_solution` -> canonical resolution: the API answers an int ("0: Return and Refund, 1: Refund
Only", get_return_list); the guide's ReturnSolution names are accepted too."""


def sign(partner_key: str, partner_id: str, path: str, timestamp: int, access_token: str, shop_id: str) -> str:
    return signing.hmac_sha256(partner_key, f"{partner_id}{path}{timestamp}{access_token}{shop_id}".encode()).hex()


def signed_call(
    creds: dict[str, str], method: str, path: str, now: datetime, query: dict[str, Any] | None = None, body: Any = None
) -> OutboundRequest:
    stamp = int(now.timestamp())
    common = {
        "partner_id": creds["PARTNER_ID"],
        "timestamp": stamp,
        "access_token": creds["ACCESS_TOKEN"],
        "shop_id": creds["SHOP_ID"],
        "sign": sign(
            creds["WEBHOOK_SECRET"], creds["PARTNER_ID"], path, stamp, creds["ACCESS_TOKEN"], creds["SHOP_ID"]
        ),
    }
    url = f"{creds['BASE_URL'].rstrip('/')}{path}?{urlencode({**common, **(query or {})})}"
    return OutboundRequest(method, url, headers={"Content-Type": "application/json"}, json_body=body)


class ShopeeAdapter(Configured):
    name = NAME
    display_name = "Shopee"
    signature_headers = (
        SignatureHeader(
            "Authorization", "hex HMAC-SHA256 of the callback URL + `|` + raw body, keyed with the partner key"
        ),
    )
    capabilities: frozenset[type] = frozenset({Enriches, Responds, Polls})
    declared_settings = (
        Setting(
            ("CALLBACK_URL",),
            "the URL the push arrived on",
            "the push URL exactly as registered with Shopee (it is part of the signature)",
        ),
        Setting(
            ("BASE_URL", "PARTNER_ID", "SHOP_ID", "ACCESS_TOKEN", "DISPUTE_EMAIL"),
            "none: return list not polled, decisions not sent",
            "`https://partner.shopeemobile.com`; webhook secret = partner key (also signs calls)",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="Open Platform v2 returns module (get_return_list, get_return_detail, confirm, dispute, offer), "
        "open.shopee.com developer guide 'Return/Refund management', read 2026-11-30",
        why_not="the seller's returns API answers requests the buyer opened in the Shopee app; none opens one",
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        key = signing.require_secret(secret, NAME)
        url = self.settings.get("CALLBACK_URL") or request.url
        if not signing.same_hex(
            signing.hmac_sha256(key, url.encode() + b"|" + request.body), request.header("Authorization")
        ):
            raise SignatureError("Authorization does not match callback URL | body")
        try:
            sent_at = times.epoch(payloads.json_object(request).get("timestamp"))
        except PayloadError:
            raise SignatureError("the signed body carries no timestamp") from None
        signing.check_fresh(sent_at, now, REPLAY_WINDOW, "push timestamp")

    @payloads.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        payload = payloads.json_object(request)
        if payload.get("code") != ORDER_STATUS_PUSH:
            code = str(payload.get("code"))[:20]
            return ParsedDelivery(None, [], ignored=f"push code {code} is not the order status push (3)")
        status = str(payloads.field_of(payload, "data.status"))
        if status not in ORDER_STATUS_EVENTS:
            why = f"order status {status[:40]} concerns no return or cancellation request"
            return ParsedDelivery(None, [], ignored=why)
        order_sn = str(payloads.field_of(payload, "data.ordersn"))
        updated = payload["data"].get("update_time") or payloads.field_of(payload, "timestamp")
        event_id = f"{order_sn}:{status}:{updated}"
        event = canonical_events.canonical_event(
            event_type=ORDER_STATUS_EVENTS[status],
            event_id=event_id,
            occurred_at=times.epoch(updated),
            order_id=order_sn,
            return_id=order_sn,
            raw_status=status,
        )
        return ParsedDelivery(delivery_id=event_id, events=[event])

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return Enrichment(event, missing + canonical_events.missing_facts(event))
        listing = build_list(creds, now - LIST_SPAN, now, 0, now)
        row = find_return(api_calls.send(http, listing).body, event["order"]["id"])
        if row is None:
            return Enrichment(event, canonical_events.missing_facts(event), [listing.describe()])
        enriched = canonical_events.merge_event(event, return_detail(row))
        return Enrichment(enriched, canonical_events.missing_facts(enriched), [listing.describe()])

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return api_calls.not_sent(decision.action, None, missing)
        email = self.settings.get("DISPUTE_EMAIL")
        if decision.action == "reject" and not (decision.reason_code and email):
            return api_calls.not_sent(
                decision.action, None, ["reason_code (a dispute_reason id)", "RB_SHOPEE_DISPUTE_EMAIL"]
            )
        listing = build_list(creds, now - LIST_SPAN, now, 0, now)
        row = find_return(api_calls.send(http, listing).body, decision.order_id)
        if row is None:
            return DecisionAnswer(
                decision.action, False, False, detail="no return found for this order", request=listing.describe()
            )
        request = build_decision(creds, decision, str(row["return_sn"]), email, now)
        result = api_calls.send(http, request)
        accepted = result.ok and isinstance(result.body, dict) and not result.body.get("error")
        return api_calls.answer_from(decision.action, request, result, accepted)

    def poll(self, checkpoint: dict[str, Any] | None, http: HttpClient, now: datetime) -> PollBatch:
        """Read the return list Shopee does not push: every return updated since the checkpoint."""
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return PollBatch([], checkpoint, missing)
        since = datetime.fromisoformat(checkpoint["since"]) - POLL_OVERLAP if checkpoint else now - LIST_SPAN
        since = max(since, now - LIST_SPAN)
        events: list[dict[str, Any]] = []
        rejected: list[str] = []
        sent: list[dict[str, Any]] = []
        for page_no in range(MAX_PAGES):
            request = build_list(creds, since, now, page_no, now)
            sent.append(request.describe())
            rows, more = list_rows(api_calls.send(http, request).body)
            for row in rows:
                try:
                    events.append(polled_event(row))
                except payloads.ROW_ERRORS as exc:
                    rejected.append(str(exc))
            if not more:
                break
        return PollBatch(events, {"since": now.isoformat()}, requests=sent, rejected=rejected)


def build_list(creds: dict[str, str], since: datetime, until: datetime, page_no: int, now: datetime) -> OutboundRequest:
    query = {
        "page_no": page_no,
        "page_size": 100,
        "update_time_from": int(since.timestamp()),
        "update_time_to": int(until.timestamp()),
    }
    return signed_call(creds, "GET", LIST_PATH, now, query=query)


def build_decision(
    creds: dict[str, str], decision: Decision, return_sn: str, email: str | None, now: datetime
) -> OutboundRequest:
    if decision.action in ("approve", "refund"):
        return signed_call(creds, "POST", "/api/v2/returns/confirm", now, body={"return_sn": return_sn})
    if decision.action == "reject":
        body = {
            "return_sn": return_sn,
            "email": email,
            "dispute_reason": int(decision.reason_code or 0),
            "dispute_text_reason": (decision.note or "")[:1000],
        }
        return signed_call(creds, "POST", "/api/v2/returns/dispute", now, body=body)
    raise DecisionRefused(f"Shopee has no returns action for {decision.action!r}")


def list_rows(body: Any) -> tuple[list[dict[str, Any]], bool]:
    """get_return_list -> (rows, more)."""
    response = (body or {}).get("response") if isinstance(body, dict) else None
    if not isinstance(response, dict):
        return [], False
    return list(response.get("return") or []), bool(response.get("more"))


def find_return(body: Any, order_sn: str) -> dict[str, Any] | None:
    rows = [row for row in list_rows(body)[0] if str(row.get("order_sn")) == order_sn and row.get("return_sn")]
    return max(rows, key=lambda row: row.get("update_time") or 0) if rows else None


def return_detail(row: dict[str, Any]) -> dict[str, Any]:
    """A get_return_list / get_return_detail row -> canonical facts."""
    items = [
        {
            "sku": str(item.get("variation_sku") or item.get("item_sku")),
            "title": item.get("name"),
            "quantity": int(item.get("amount") or 1),
            "unit_price": str(item["item_price"]),
        }
        for item in row.get("item") or []
        if (item.get("variation_sku") or item.get("item_sku")) and item.get("item_price") is not None
    ]
    canonical, raw = code_tables.canonical_reason(REASONS, row.get("reason"))
    status = str(row.get("status") or "")
    detail: dict[str, Any] = {
        "order": {"currency": row.get("currency")},
        "return": {
            "reason": canonical,
            "raw_reason": raw,
            "reason_detail": row.get("text_reason"),
            "refund_amount": str(row["refund_amount"]) if row.get("refund_amount") is not None else None,
            "resolution": RESOLUTIONS.get(str(row.get("return_solution"))),  # 0 is "Return and Refund", not absent
        },
        "items": items,
        "tracking": {"number": row.get("tracking_number")} if row.get("tracking_number") else None,
    }
    if status:
        detail["raw_status"] = status
        detail["type"] = code_tables.canonical_type(STATUS_EVENTS, status)
    return detail


def polled_event(row: dict[str, Any]) -> dict[str, Any]:
    """A polled return as a canonical event; the case key is the order (see module docstring)."""
    missing = [key for key in ("return_sn", "order_sn", "status", "update_time") if row.get(key) in (None, "")]
    if missing:
        raise PayloadError(f"a get_return_list row lacks {', '.join(missing)}")
    thin = canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, str(row["status"])),
        event_id=f"{row['return_sn']}:{row['status']}:{row['update_time']}",
        occurred_at=times.epoch(row["update_time"]),
        order_id=str(row["order_sn"]),
        return_id=str(row["order_sn"]),
        raw_status=str(row["status"]),
    )
    return canonical_events.merge_event(thin, return_detail(row))


MARKETPLACES.register(NAME, ShopeeAdapter())
