"""`/webhooks/shopify`: Shopify's `returns/*` and `refunds/create` webhooks; GraphQL Admin API back.

Sources (research note shared/research/marketplace_webhooks.md §1, checked against
public pages on 2026-11-23):
- Signature: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body
  keyed with the app's client secret (shopify.dev/docs/apps/build/webhooks/subscribe/https;
  confirmed by skills.sh/hookdeck/webhook-skills/shopify-webhooks: "base64 (not hex)").
  "Events" webhooks send the same value in unprefixed `shopify-hmac-sha256`
  (Shopify/shopify-app-js lib/webhooks/header-names.ts).
- Only the body is signed; every header (topic, event id, triggered-at) can be
  rewritten by whoever captured a delivery. So nothing that decides anything comes
  from a header (issue 16 item 3): the canonical type comes from the body's return
  `status` (a body whose status contradicts the topic is refused), and the duplicate
  identity is the return id, that status and a digest of the signed bytes, so a
  captured body resent under any headers is the same delivery, answered as a
  duplicate. `X-Shopify-Triggered-At` is required and must be within the retry
  horizon (8 retries over 4 hours, shopify.dev/changelog/updates-to-webhook-retry-mechanism):
  a missing or stale one is refused (401).
- Official samples (tests/fixtures/official/shopify): the `returns/decline`,
  `returns/cancel`, `returns/close` and `returns/reopen` bodies carry only the
  return's `id`, `admin_graphql_api_id` and `status` (decline adds `decline`):
  no order and no time. The order comes from the case (or the GraphQL `return`
  query in `enrich`), the time from `X-Shopify-Triggered-At`. `returns/update`
  reports line-item and fee changes without a status: acknowledged, recorded as
  ignored (the state moves with the other topics).
- Answer within 5 s: enrichment runs in the worker, never in the request.
- Topics, ReturnStatus, ReturnReason and ReturnDeclineReason enums:
  shopify.dev/docs/api/admin-graphql/latest/enums/{WebhookSubscriptionTopic,ReturnStatus,
  ReturnReason,ReturnDeclineReason}.
- Calls back: GraphQL Admin API `POST {shop}/admin/api/{version}/graphql.json` with
  `X-Shopify-Access-Token`; `return(id:)`, `returnApproveRequest`, `returnDeclineRequest`;
  refunds with `refundCreate` against the order's SALE/CAPTURE transaction (`parentId`,
  `gateway`, kind REFUND), shopify.dev/docs/api/admin-graphql/latest/mutations/refundCreate.

Settings: RB_SHOPIFY_WEBHOOK_SECRET (app client secret), RB_SHOPIFY_BASE_URL
(`https://<shop>.myshopify.com`), RB_SHOPIFY_ACCESS_TOKEN (Admin API token with
read_returns/write_returns), RB_SHOPIFY_API_VERSION (default 2025-07).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

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
    SignatureError,
)
from adapters.marketplaces.configured import Configured
from adapters.registry import Setting, SignatureHeader

NAME = "shopify"
REPLAY_WINDOW = timedelta(hours=6)  # 8 retries over 4 h, plus margin
API_VERSION = "2025-07"

TOPIC_STATUSES: dict[str, frozenset[str]] = {
    "returns/request": frozenset({"REQUESTED"}),
    "returns/approve": frozenset({"OPEN"}),
    "returns/decline": frozenset({"DECLINED"}),
    "returns/cancel": frozenset({"CANCELED"}),
    "returns/reopen": frozenset({"OPEN"}),
    "returns/close": frozenset({"CLOSED"}),
    "returns/process": frozenset({"OPEN", "CLOSED"}),
    "returns/update": frozenset(),  # any status, a future one included (kept raw)
}
"""Return topic -> the ReturnStatus values its body may carry (research §1.4). The status, which
is signed, picks the canonical type; the topic, which is not, can only be refused for disagreeing."""

STATUS_OPTIONAL = frozenset({"returns/update", "returns/process"})
"""Topics whose documented bodies carry no status: acknowledged and recorded as ignored."""

REFUND_TOPIC = "refunds/create"
TOPICS = frozenset({*TOPIC_STATUSES, REFUND_TOPIC})

ACKNOWLEDGED_TOPICS: dict[str, str] = {
    "orders/cancelled": "an order cancellation before any return: Shopify refunds it with the order",
    "reverse_deliveries/attach_deliverable": "a return label attached in Shopify; the return's state is unchanged",
    "reverse_fulfillment_orders/dispose": "a disposition of received items; the return's state is unchanged",
}
"""Other return- and cancellation-related topics a merchant may route here: answered 200 with the reason,
so Shopify never drops the subscription for repeated 4xx (issue 13 item 4)."""

STATUS_EVENTS: dict[str, str] = {
    "REQUESTED": "return.requested",
    "OPEN": "return.approved",
    "DECLINED": "return.rejected",
    "CANCELED": "return.cancelled",
    "CLOSED": "refund.completed",
}
"""ReturnStatus -> canonical type (REQUESTED -> OPEN -> CLOSED, or DECLINED / CANCELED); `returns/close`
= CLOSED ("the return has been completed")."""

REASONS: dict[str, str] = {
    "COLOR": "changed_mind",
    "DEFECTIVE": "defective",
    "NOT_AS_DESCRIBED": "not_as_described",
    "OTHER": "other",
    "SIZE_TOO_LARGE": "size_or_fit",
    "SIZE_TOO_SMALL": "size_or_fit",
    "STYLE": "changed_mind",
    "UNKNOWN": "other",
    "UNWANTED": "changed_mind",
    "WRONG_ITEM": "wrong_item",
}
"""ReturnReason enum -> canonical reason."""

DECLINE_REASONS: dict[str, str] = {
    "final_sale": "FINAL_SALE",
    "return_period_ended": "RETURN_PERIOD_ENDED",
    "window_expired": "RETURN_PERIOD_ENDED",
}
"""Our rejection codes -> ReturnDeclineReason; anything else is OTHER with the note."""

RETURN_QUERY = """query Return($id: ID!) {
  return(id: $id) {
    id name status
    order { id legacyResourceId currencyCode }
    returnLineItems(first: 50) { nodes { ... on ReturnLineItem {
      quantity returnReason returnReasonNote
      fulfillmentLineItem { lineItem { sku name
        originalUnitPriceSet { shopMoney { amount currencyCode } } } }
    } } }
  }
}"""

APPROVE_MUTATION = """mutation Approve($input: ReturnApproveRequestInput!) {
  returnApproveRequest(input: $input) { return { id status } userErrors { field message } }
}"""

DECLINE_MUTATION = """mutation Decline($input: ReturnDeclineRequestInput!) {
  returnDeclineRequest(input: $input) { return { id status } userErrors { field message } }
}"""


TRANSACTIONS_QUERY = """query Transactions($id: ID!) {
  order(id: $id) { id transactions { id kind status gateway amountSet { shopMoney { amount currencyCode } } } }
}"""

RETURNABLE_QUERY = """query Returnable($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 10) { edges { node { id
    returnableFulfillmentLineItems(first: 50) { edges { node {
      quantity fulfillmentLineItem { id lineItem { sku } }
    } } }
  } } }
}"""

RETURN_REQUEST_MUTATION = """mutation ReturnRequest($input: ReturnRequestInput!) {
  returnRequest(input: $input) { return { id status } userErrors { field message } }
}"""

RETURN_REASON_OF: dict[str, str] = {
    "changed_mind": "UNWANTED",
    "defective": "DEFECTIVE",
    "not_as_described": "NOT_AS_DESCRIBED",
    "wrong_item": "WRONG_ITEM",
}
"""Canonical reason -> ReturnReason for `returnRequest` (a withdrawal is UNWANTED, "customer changed their mind")."""

CUSTOMER_NOTE_MAX = 300  # ReturnRequestLineItemInput.customerNote: "Maximum length: 300 characters"

REFUND_MUTATION = """mutation Refund($input: RefundInput!) {
  refundCreate(input: $input) { refund { id } userErrors { field message } }
}"""


def return_gid(return_id: str) -> str:
    return return_id if return_id.startswith("gid://") else f"gid://shopify/Return/{return_id}"


def _header(request: InboundRequest, name: str) -> str | None:
    return request.header(f"X-Shopify-{name}") or request.header(f"shopify-{name}")


class ShopifyAdapter(Configured):
    name = NAME
    display_name = "Shopify"
    signature_headers = (
        SignatureHeader(
            "X-Shopify-Hmac-Sha256", "base64 HMAC-SHA256 of the raw body (or unprefixed `shopify-hmac-sha256`)"
        ),
        SignatureHeader(
            "X-Shopify-Triggered-At", "when Shopify sent the delivery; missing or outside the retry horizon is refused"
        ),
        SignatureHeader("X-Shopify-Topic", "`returns/*` or `refunds/create`; not signed, so checked against the body"),
    )
    capabilities: frozenset[type] = frozenset({Enriches, Responds})
    declared_settings = (
        Setting(
            ("BASE_URL", "ACCESS_TOKEN", "API_VERSION"),
            "none, none, `2025-07`: no details fetched, decisions not sent",
            "`https://<shop>.myshopify.com` and an Admin API token (read/write_returns); webhook secret = app client secret",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=True,
        source="GraphQL Admin API mutation returnRequest (ReturnRequestInput, ReturnRequestLineItemInput), "
        "shopify.dev/docs/api/admin-graphql/2025-07/mutations/returnRequest, read 2026-11-30",
    )

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        key = signing.require_secret(secret, NAME)
        if not signing.same_base64(signing.hmac_sha256(key, request.body), _header(request, "Hmac-Sha256")):
            raise SignatureError("X-Shopify-Hmac-Sha256 does not match the body")
        triggered = _header(request, "Triggered-At")
        if not triggered:
            raise SignatureError("X-Shopify-Triggered-At is missing: Shopify sends it with every delivery")
        try:
            sent_at = times.iso(triggered)
        except PayloadError:
            raise SignatureError("X-Shopify-Triggered-At is not a time") from None
        signing.check_fresh(sent_at, now, REPLAY_WINDOW, "X-Shopify-Triggered-At")

    @payloads.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        topic = (_header(request, "Topic") or "").lower()
        if topic in ACKNOWLEDGED_TOPICS:
            payloads.json_object(request)  # still a JSON body, or a 400
            return ParsedDelivery(None, [], ignored=f"{topic}: {ACKNOWLEDGED_TOPICS[topic]}")
        if topic not in TOPICS:
            raise PayloadError(f"topic {topic!r} is not a returns or refunds topic", {"X-Shopify-Topic": ["unknown"]})
        payload = payloads.json_object(request)
        if topic == REFUND_TOPIC:
            event = _refund_event(payload, request)
        else:
            status = str(payload.get("status") or "").upper()
            if not status and topic in STATUS_OPTIONAL:
                return ParsedDelivery(
                    None, [], ignored=f"{topic} carries no return status; the state moves with the other returns topics"
                )
            allowed = TOPIC_STATUSES[topic]
            if not status or (allowed and status not in allowed):
                raise PayloadError(
                    f"the signed body's status {status or 'none'!r} is not what {topic} reports",
                    {
                        "status": [
                            f"must be one of {', '.join(sorted(allowed)) or 'the ReturnStatus values'} for {topic}"
                        ]
                    },
                )
            event = _return_event(topic, status, payload, request)
        return ParsedDelivery(delivery_id=event["marketplace_event_id"], events=[event])

    # enrich / respond: pure builders below, sending through HttpClient only

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment:
        creds, missing = api_calls.credentials(self.settings, "BASE_URL", "ACCESS_TOKEN")
        if creds is None:
            pending = ["order.id"] if event["order"]["id"].startswith(canonical_events.PENDING_ORDER) else []
            return Enrichment(event, missing + pending + canonical_events.missing_facts(event))
        request = build_return_query(creds, self.settings.get("API_VERSION", API_VERSION), event["return"]["id"])
        result = api_calls.send(http, request)
        detail = parse_return_detail(result.body) if result.ok else {}
        enriched = canonical_events.merge_event(event, detail)
        return Enrichment(enriched, canonical_events.missing_facts(enriched), [request.describe()])

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        creds, missing = api_calls.credentials(self.settings, "BASE_URL", "ACCESS_TOKEN")
        version = self.settings.get("API_VERSION", API_VERSION) or API_VERSION
        if creds is None:
            return api_calls.not_sent(decision.action, None, missing)
        if decision.action == "refund":
            return self._refund(creds, version, decision, http)
        if decision.action == "open_return":
            return self._open_return(creds, version, decision, http)
        request = build_decision(creds, version, decision)
        result = api_calls.send(http, request)
        return api_calls.answer_from(decision.action, request, result, result.ok and not _user_errors(result.body))

    def _refund(self, creds: dict[str, str], version: str, decision: Decision, http: HttpClient) -> DecisionAnswer:
        """A refund goes back through the order's own payment: find it, then `refundCreate` against it."""
        if not decision.amount:
            return api_calls.not_sent("refund", None, ["the refund amount"])
        lookup = build_transactions_query(creds, version, decision.order_id)
        parent = refundable_transaction(api_calls.send(http, lookup).body)
        if parent is None:
            return DecisionAnswer("refund", False, False, detail="no successful sale or capture on the order",
                                    request=lookup.describe())  # fmt: skip
        request = build_refund(creds, version, decision, parent)
        result = api_calls.send(http, request)
        return api_calls.answer_from("refund", request, result, result.ok and not _user_errors(result.body))

    def _open_return(self, creds: dict[str, str], version: str, decision: Decision, http: HttpClient) -> DecisionAnswer:
        """A withdrawal told to Shopify: its lines are found among the order's returnable fulfillment line items
        (`returnRequest` takes those ids, not SKUs), then `returnRequest` opens a REQUESTED return."""
        lookup = build_returnable_query(creds, version, decision.order_id)
        found = api_calls.send(http, lookup)
        chosen, unmatched = match_returnable(decision.lines, returnable_lines(found.body) if found.ok else [])
        if unmatched:
            return DecisionAnswer("open_return", False, False, status=found.status, request=lookup.describe(),
                                    detail=f"no returnable fulfillment line for {', '.join(unmatched)}")  # fmt: skip
        request = build_return_request(creds, version, decision, chosen)
        result = api_calls.send(http, request)
        created = requested_return_id(result.body)
        answer = api_calls.answer_from("open_return", request, result, result.ok and not _user_errors(result.body))
        return replace(answer, created_id=created if answer.accepted else None)


def _occurred_at(request: InboundRequest, payload: dict[str, Any]) -> datetime:
    stamp = payload.get("updated_at") or payload.get("created_at") or _header(request, "Triggered-At")
    if not stamp:
        raise PayloadError("no X-Shopify-Triggered-At header nor created_at", {"created_at": ["is required"]})
    return times.iso(str(stamp))


def signed_identity(kind: str, resource_id: str, status: str, body: bytes) -> str:
    """What makes a delivery the same delivery: all of it from the signed body, none from headers."""
    return f"{kind}:{resource_id}:{status}:{hashlib.sha256(body).hexdigest()[:32]}"


def _order_id(payload: dict[str, Any], return_id: str) -> str:
    order = payload.get("order")
    if isinstance(order, dict) and order.get("id") not in (None, ""):
        return str(order["id"])
    return f"{canonical_events.PENDING_ORDER}{return_id}"  # decline/cancel/close/reopen samples name no order


def _return_event(topic: str, status: str, payload: dict[str, Any], request: InboundRequest) -> dict:
    return_id = str(payloads.field_of(payload, "id"))
    lines = payload.get("return_line_items") or []
    first = lines[0] if lines and isinstance(lines[0], dict) else {}
    decline = payload.get("decline") or {}
    detail = first.get("return_reason_note") or first.get("customer_note") or decline.get("note")
    return canonical_events.canonical_event(
        event_type=code_tables.canonical_type(STATUS_EVENTS, status),
        event_id=signed_identity("return", return_id, status, request.body),
        occurred_at=_occurred_at(request, payload),
        order_id=_order_id(payload, return_id),
        return_id=return_id,
        raw_status=status,
        reason=code_tables.canonical_reason(REASONS, _reason_code(first.get("return_reason"))),
        reason_detail=detail,
    )


def _reason_code(raw: Any) -> str | None:
    """Webhook bodies write ReturnReason in snake case (`wrong_item`); the enum is upper case."""
    return str(raw).upper() if raw not in (None, "") else None


def _refund_event(payload: dict[str, Any], request: InboundRequest) -> dict:
    """A refund names its return when it came from one (Refund.return); otherwise it is order-level."""
    refund_id = str(payloads.field_of(payload, "id"))
    order_id = str(payloads.field_of(payload, "order_id"))
    linked = payload.get("return") or {}
    return_id = str(linked.get("id") or f"refund-{refund_id}")
    amount, currency = _refund_total(payload)
    return canonical_events.canonical_event(
        event_type="refund.completed",
        event_id=signed_identity("refund", refund_id, "CREATED", request.body),
        occurred_at=_occurred_at(request, payload),
        order_id=order_id,
        return_id=return_id,
        raw_status="refunds/create",
        resolution=None if linked else "refund_only",
        currency=currency,
        refund_amount=amount,
        reason_detail=payload.get("note"),
    )


def _refund_total(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """Sum of successful refund transactions, kept as the decimal strings Shopify sends."""
    total, currency = Decimal(0), None
    for txn in payload.get("transactions") or []:
        if txn.get("kind") != "refund" or txn.get("status") not in (None, "success"):
            continue
        try:
            total += Decimal(str(txn.get("amount")))
        except InvalidOperation:
            raise PayloadError(
                "a refund transaction amount is not a number", {"transactions": ["bad amount"]}
            ) from None
        currency = currency or txn.get("currency")
    return (str(total), currency) if currency else (None, None)


def _graphql(creds: dict[str, str], version: str, query: str, variables: dict[str, Any]) -> OutboundRequest:
    return OutboundRequest(
        method="POST",
        url=f"{creds['BASE_URL'].rstrip('/')}/admin/api/{version}/graphql.json",
        headers={"X-Shopify-Access-Token": creds["ACCESS_TOKEN"], "Content-Type": "application/json"},
        json_body={"query": query, "variables": variables},
    )


def build_return_query(creds: dict[str, str], version: str | None, return_id: str) -> OutboundRequest:
    return _graphql(creds, version or API_VERSION, RETURN_QUERY, {"id": return_gid(return_id)})


def build_decision(creds: dict[str, str], version: str, decision: Decision) -> OutboundRequest:
    gid = return_gid(decision.return_id)
    if decision.action == "approve":
        return _graphql(creds, version, APPROVE_MUTATION, {"input": {"id": gid}})
    if decision.action == "reject":
        decline = {
            "id": gid,
            "declineReason": DECLINE_REASONS.get(decision.reason_code or "", "OTHER"),
        }
        if decision.note:
            decline["declineNote"] = decision.note[:500]  # ReturnDecline.note is at most 500 characters
        return _graphql(creds, version, DECLINE_MUTATION, {"input": decline})
    raise DecisionRefused(f"Shopify takes {decision.action!r} through refundCreate, not a return mutation")


def order_gid(order_id: str) -> str:
    return order_id if order_id.startswith("gid://") else f"gid://shopify/Order/{order_id}"


def build_transactions_query(creds: dict[str, str], version: str, order_id: str) -> OutboundRequest:
    return _graphql(creds, version, TRANSACTIONS_QUERY, {"id": order_gid(order_id)})


def refundable_transaction(body: Any) -> dict[str, Any] | None:
    """The order's successful SALE or CAPTURE: the payment a refund must go back through (its parentId)."""
    order = ((body or {}).get("data") or {}).get("order") if isinstance(body, dict) else None
    for txn in (order or {}).get("transactions") or []:
        if txn.get("kind") in ("SALE", "CAPTURE") and txn.get("status") == "SUCCESS":
            return txn
    return None


def build_refund(creds: dict[str, str], version: str, decision: Decision, parent: dict[str, Any]) -> OutboundRequest:
    refund = {
        "orderId": order_gid(decision.order_id),
        "note": (decision.note or f"Returnbridge refund {decision.idempotency_key}")[:255],
        "notify": True,
        "transactions": [
            {
                "orderId": order_gid(decision.order_id),
                "parentId": parent["id"],
                "gateway": parent.get("gateway"),
                "kind": "REFUND",
                "amount": decision.amount,
            }
        ],
    }
    return _graphql(creds, version, REFUND_MUTATION, {"input": refund})


def build_returnable_query(creds: dict[str, str], version: str, order_id: str) -> OutboundRequest:
    return _graphql(creds, version, RETURNABLE_QUERY, {"orderId": order_gid(order_id)})


def returnable_lines(body: Any) -> list[tuple[str, str, int]]:
    """`returnableFulfillments` -> (sku, fulfillment line item id, quantity still returnable), in Shopify's order."""
    data = (body or {}).get("data") if isinstance(body, dict) else None
    edges = ((data or {}).get("returnableFulfillments") or {}).get("edges") or []
    found = []
    for edge in edges:
        items = ((edge.get("node") or {}).get("returnableFulfillmentLineItems") or {}).get("edges") or []
        for item in items:
            node = item.get("node") or {}
            line = node.get("fulfillmentLineItem") or {}
            sku = (line.get("lineItem") or {}).get("sku")
            if sku and line.get("id") and int(node.get("quantity") or 0) > 0:
                found.append((str(sku), str(line["id"]), int(node["quantity"])))
    return found


def match_returnable(
    wanted: tuple[tuple[str, int], ...], returnable: list[tuple[str, str, int]]
) -> tuple[list[tuple[str, int]], list[str]]:
    """Each (sku, quantity) asked, spread over the fulfillment lines that still have that SKU to return;
    the SKUs that cannot be covered are named (nothing is sent then: a partial return is not the withdrawal)."""
    left: list[list[Any]] = [[sku, line_id, quantity] for sku, line_id, quantity in returnable]  # [sku, line, left]
    chosen: list[tuple[str, int]] = []
    unmatched = []
    for sku, quantity in wanted:
        need = quantity
        for entry in left:
            if need and entry[0] == sku and entry[2]:
                take = min(need, entry[2])
                chosen.append((entry[1], take))
                entry[2] -= take
                need -= take
        if need:
            unmatched.append(sku)
    return chosen, unmatched


def build_return_request(
    creds: dict[str, str], version: str, decision: Decision, lines: list[tuple[str, int]]
) -> OutboundRequest:
    """`returnRequest(input: ReturnRequestInput!)`: orderId and one ReturnRequestLineItemInput per line."""
    reason = RETURN_REASON_OF.get(decision.reason or "", "OTHER")
    note = (decision.note or "")[:CUSTOMER_NOTE_MAX]
    items = []
    for line_id, quantity in lines:
        item: dict[str, Any] = {"fulfillmentLineItemId": line_id, "quantity": quantity, "returnReason": reason}
        if note:
            item["customerNote"] = note
        items.append(item)
    variables = {"input": {"orderId": order_gid(decision.order_id), "returnLineItems": items}}
    return _graphql(creds, version, RETURN_REQUEST_MUTATION, variables)


def requested_return_id(body: Any) -> str | None:
    """The created return's id as the `returns/*` webhooks name it (their `id`: the gid's number)."""
    data = (body or {}).get("data") if isinstance(body, dict) else None
    created = (((data or {}).get("returnRequest") or {}).get("return") or {}).get("id")
    return str(created).rsplit("/", 1)[-1] if created else None


def _user_errors(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        return ["no JSON answer"]
    if body.get("errors"):
        return list(body["errors"])
    data = body.get("data") or {}
    return [err for value in data.values() if isinstance(value, dict) for err in value.get("userErrors") or []]


def parse_return_detail(body: Any) -> dict[str, Any]:
    """GraphQL `return` -> the canonical fields a thin webhook lacks (currency, items, reason)."""
    ret = ((body or {}).get("data") or {}).get("return") if isinstance(body, dict) else None
    if not ret:
        return {}
    order = ret.get("order") or {}
    items, reasons = [], []
    for node in (ret.get("returnLineItems") or {}).get("nodes") or []:
        line = (node.get("fulfillmentLineItem") or {}).get("lineItem") or {}
        money = ((line.get("originalUnitPriceSet") or {}).get("shopMoney")) or {}
        if node.get("returnReason"):
            reasons.append((node["returnReason"], node.get("returnReasonNote")))
        if line.get("sku") and money.get("amount") is not None and node.get("quantity"):
            items.append(
                {
                    "sku": line["sku"],
                    "title": line.get("name"),
                    "quantity": int(node["quantity"]),
                    "unit_price": str(money["amount"]),
                }
            )
    detail: dict[str, Any] = {
        "order": {"id": order.get("legacyResourceId"), "currency": order.get("currencyCode")},
        "items": items,
    }
    if reasons:
        canonical, raw = code_tables.canonical_reason(REASONS, reasons[0][0])
        detail["return"] = {"reason": canonical, "raw_reason": raw, "reason_detail": reasons[0][1]}
    status = ret.get("status")
    if status:
        detail["raw_status"] = status
    return detail


MARKETPLACES.register(NAME, ShopifyAdapter())
