"""`/webhooks/ebay`: eBay Platform Notifications for returns (SOAP); Post-Order API v2 to fetch and decide.

Sources (research note §2; the signature re-checked 2026-11-23 against eBay KB 1201):
- Returns arrive only as Platform Notifications (SOAP/XML), events ReturnCreated,
  ReturnWaitingForSellerInfo, ReturnSellerInfoOverdue, ReturnShipped, ReturnDelivered,
  ReturnRefundOverdue, ReturnClosed, ReturnEscalated
  (developer.ebay.com/Devzone/return-management/CallRef/types/NotificationEventType.html).
  The REST Notification API has no return topic.
- Which channel: each return notification page (developer.ebay.com/api-docs/static/
  pn_return-created.html and its seven siblings, checked 2026-11-29) says "These
  notifications are set in the SetNotificationPreferences call" and points to
  Platform Notifications; the REST Notification API's topic list (Sell
  Communications guide, "Subscribing to topics with the Notification API") has no
  return topic. So returns are authenticated the Platform Notifications way, and
  `X-EBAY-SIGNATURE` (ECDSA, for Notification API topics) is never consulted here.
- Signature: SOAP header `NotificationSignature` = base64(MD5(Timestamp + DevID +
  AppID + CertID)), `Timestamp` being the SOAP body's Timestamp element (eBay KB 1201,
  developer.ebay.com/support/kb-article?KBid=1201). No body bytes are signed, so
  the signature proves only knowledge of the keyset at that moment: a captured
  signature could be put on another body. Hence each signature is accepted once
  (it is the delivery id, which intake answers as a duplicate the second time), its
  Timestamp must be recent, and the Post-Order API re-read in `enrich` is what the
  case trusts. A post without the header or the Timestamp is refused (401).
- The documented samples show an empty `<soapenv:Header/>`, no Timestamp, a masked
  ReturnId ("5********8") and two `ReturnStatus` elements, the first holding a time;
  the parser takes the status that is a status (tests/fixtures/official/ebay).
- Answer 200 OK; eBay redelivers otherwise (retry count not published).
- Notification fields: ReturnId, CreationDate, ReturnStatus, OtherPartyRole
  (developer.ebay.com/api-docs/static/pn_return-*.html). No order id: until the
  return is fetched the order is `pending:<ReturnId>`.
- Post-Order API v2: `GET /post-order/v2/return/{id}` (ReturnSummaryType: orderId,
  state, creationInfo.reason, buyerTotalRefund), `POST /post-order/v2/return/{id}/decide`
  (DecisionEnum APPROVE / DECLINE), `POST /post-order/v2/return/{id}/issue_refund`.
  ReturnReasonEnum: developer.ebay.com/devzone/post-order/types/ReturnReasonEnum.html;
  ReturnStateEnum: .../pst-rdr_v2_rtrn-rtrnd__gt.Rspns.smmry.stt.html.
  EU/UK sellers need eBay's Digital Signatures on `decide` (not built here).

Settings: RB_EBAY_WEBHOOK_SECRET (DevID, AppID and CertID concatenated in that
order: exactly what the signature hashes after the timestamp), RB_EBAY_BASE_URL
(`https://api.ebay.com`), RB_EBAY_ACCESS_TOKEN (seller user token),
RB_EBAY_MARKETPLACE_ID (default EBAY_US).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

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
from adapters.safe_xml import UnsafeXml, parse_untrusted

NAME = "ebay"
REPLAY_WINDOW = timedelta(hours=24)  # eBay publishes no redelivery horizon
RETURN_ID = re.compile(r"[0-9]{1,30}")
"""Post-Order return ids are decimal numbers; anything else never reaches an API path (issue 16 item 4)."""
STATUS_VALUE = re.compile(r"[A-Z][A-Z_]*")
CREDENTIALS = ("BASE_URL", "ACCESS_TOKEN")

NOTIFICATION_EVENTS: dict[str, str] = {
    "ReturnCreated": "return.requested",
    "ReturnWaitingForSellerInfo": "return.requested",
    "ReturnSellerInfoOverdue": "return.requested",
    "ReturnShipped": "return.shipped",
    "ReturnDelivered": "return.received",
    "ReturnRefundOverdue": "return.received",
    "ReturnClosed": "refund.completed",
    "ReturnEscalated": "dispute.opened",
}
"""NotificationEventName -> canonical type. ReturnClosed is refined by the fetched
state: closed without an actual refund becomes `return.cancelled` (see `state_type`)."""

STATES: dict[str, str] = {
    "INITIAL": "return.requested",
    "ITEM_READY_TO_SHIP": "return.approved",
    "ITEM_SHIPPED": "return.shipped",
    "ITEM_DELIVERED": "return.received",
    "ITEM_KEPT": "refund.requested",
    "AUTO_REFUND_INITIATED": "refund.requested",
    "PARTIAL_REFUND_INITIATED": "refund.requested",
    "PARTIAL_REFUND_AS_PAYOUT_INITIATED": "refund.requested",
    "PARTIAL_REFUND_NON_PAYPAL_INITIATED": "refund.requested",
    "PARTIAL_REFUND_DECLINED": "return.requested",
    "PARTIAL_REFUND_FAILED": "refund.requested",
    "LESS_THAN_A_FULL_REFUND_ISSUED": "refund.completed",
    "CLOSED": "refund.completed",
}
"""ReturnStateEnum (summary.state) -> canonical type."""

REASONS: dict[str, str] = {
    "ARRIVED_DAMAGED": "damaged_in_transit",
    "ARRIVED_LATE": "late_delivery",
    "CUSTOMIZED": "other",
    "DEFECTIVE_ITEM": "defective",
    "DIFFERENT_FROM_LISTING": "not_as_described",
    "EXPIRED_ITEM": "defective",
    "FAKE_OR_COUNTERFEIT": "not_as_described",
    "FOUND_BETTER_PRICE": "changed_mind",
    "IN_STORE_RETURN": "other",
    "MISSING_PARTS": "missing_parts",
    "NO_LONGER_NEED_ITEM": "changed_mind",
    "NO_REASON": "other",
    "NOT_AS_DESCRIBED": "not_as_described",
    "ORDERED_ACCIDENTALLY": "changed_mind",
    "ORDERED_DIFFERENT_ITEM": "changed_mind",
    "ORDERED_WRONG_ITEM": "changed_mind",
    "OTHER": "other",
    "OUT_OF_STOCK": "other",
    "RETURNING_GIFT": "changed_mind",
    "WRONG_SIZE": "size_or_fit",
    "WITHDRAW_FROM_PURCHASE_CONTRACT": "changed_mind",
}
"""ReturnReasonEnum -> canonical reason (buyer's own ordering mistakes are a change of mind)."""

DECISIONS: dict[str, str] = {"approve": "APPROVE", "reject": "DECLINE"}
"""Our decision -> Post-Order DecisionEnum; `refund` goes to issue_refund instead."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(body: bytes) -> ET.Element:
    try:
        return parse_untrusted(body)
    except UnsafeXml as exc:
        raise PayloadError(str(exc)) from None


def _texts(root: ET.Element, name: str) -> list[str]:
    return [e.text.strip() for e in root.iter() if _local(e.tag) == name and e.text and e.text.strip()]


def _text(root: ET.Element, name: str) -> str | None:
    found = _texts(root, name)
    return found[0] if found else None


def _status(root: ET.Element) -> str | None:
    """ReturnStatus as a status: eBay's samples carry a second ReturnStatus element holding a time."""
    return next((value for value in _texts(root, "ReturnStatus") if STATUS_VALUE.fullmatch(value)), None)


def return_id_of(value: str | None) -> str:
    """A ReturnId fit for an API path: digits only, else a 400 naming the field."""
    if not value or not RETURN_ID.fullmatch(value):
        raise PayloadError("ReturnId must be eBay's numeric return id", {"ReturnId": ["must be 1 to 30 digits"]})
    return value


def notification_signature(timestamp: str, keyset: str) -> str:
    """base64(MD5(Timestamp + DevID + AppID + CertID)), as eBay KB 1201 computes it."""
    return base64.b64encode(hashlib.md5((timestamp + keyset).encode()).digest()).decode()


class EbayAdapter(Configured):
    name = NAME
    display_name = "eBay"
    capabilities: frozenset[type] = frozenset({Enriches, Responds})
    declared_settings = (
        Setting(
            ("WEBHOOK_SECRET",),
            "none: `/webhooks/ebay` answers 401",
            "DevID, AppID and CertID concatenated in that order",
        ),
        Setting(
            ("BASE_URL", "ACCESS_TOKEN", "MARKETPLACE_ID"),
            "none, none, `EBAY_US`",
            "Post-Order API base (`https://api.ebay.com`) and the seller's user token",
        ),
    )
    return_request = ReturnRequestApi(
        opens_returns=False,
        source="Post-Order API v2 'Create Return Request' (POST /post-order/v2/return) and the Post-Order user guide, "
        "developer.ebay.com, read 2026-11-30",
        why_not="the call is buyer-facing: made with the buyer's own eBay user token, which a seller's integration "
        "does not hold; eBay's guide says real buyers use the eBay web flows and the buyer calls exist for testing",
    )
    content_types = ("text/xml", "application/xml", "application/soap+xml")  # Platform Notifications are SOAP
    signature_headers: tuple[SignatureHeader, ...] = ()  # NotificationSignature is in the SOAP envelope, not HTTP

    def verify(self, request: InboundRequest, secret: str | None, now: datetime) -> None:
        keyset = signing.require_secret(secret, NAME)
        try:
            root = _xml(request.body)
        except PayloadError as exc:
            raise SignatureError(f"no signature to check: {exc}") from None
        given, timestamp = _text(root, "NotificationSignature"), _text(root, "Timestamp")
        if not given or not timestamp:
            raise SignatureError("NotificationSignature or Timestamp is missing")
        if not hmac.compare_digest(notification_signature(timestamp, keyset), given):
            raise SignatureError("NotificationSignature does not match Timestamp + keyset")
        try:
            sent_at = times.iso(timestamp)
        except PayloadError:
            raise SignatureError("Timestamp is not a time") from None
        signing.check_fresh(sent_at, now, REPLAY_WINDOW, "Timestamp")

    @payloads.body_shape
    def parse(self, request: InboundRequest) -> ParsedDelivery:
        root = _xml(request.body)
        name = _text(root, "NotificationEventName")
        if not name:
            raise PayloadError("NotificationEventName is missing", {"NotificationEventName": ["is required"]})
        if name not in NOTIFICATION_EVENTS:
            return ParsedDelivery(None, [], ignored=f"{name} is not one of eBay's eight return notifications")
        return_id = return_id_of(_text(root, "ReturnId"))
        stamp = _text(root, "Timestamp") or _text(root, "CreationDate")
        if not stamp:
            raise PayloadError("neither Timestamp nor CreationDate is present", {"Timestamp": ["is required"]})
        event = canonical_events.canonical_event(
            event_type=code_tables.canonical_type(NOTIFICATION_EVENTS, name),
            event_id=f"{return_id}:{name}:{stamp}",
            occurred_at=times.iso(_text(root, "CreationDate") or stamp),
            order_id=_text(root, "OrderId") or f"{canonical_events.PENDING_ORDER}{return_id}",
            return_id=return_id,
            raw_status=_status(root) or name,
        )
        # The signature signs only a time, so it may serve once: a second post carrying it is a duplicate.
        signature = _text(root, "NotificationSignature")
        delivery_id = f"signature:{signature}" if signature else event["marketplace_event_id"]
        return ParsedDelivery(delivery_id=delivery_id, events=[event])

    def enrich(self, event: dict[str, Any], http: HttpClient, now: datetime) -> Enrichment:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            pending = ["order.id"] if event["order"]["id"].startswith(canonical_events.PENDING_ORDER) else []
            return Enrichment(event, missing + pending + canonical_events.missing_facts(event))
        if not RETURN_ID.fullmatch(event["return"]["id"]):
            return Enrichment(
                event, ["return.id (not a numeric eBay return id)", *canonical_events.missing_facts(event)]
            )
        request = build_fetch(creds, self._marketplace(), event["return"]["id"])
        result = api_calls.send(http, request)
        enriched = canonical_events.merge_event(event, parse_return(result.body) if result.ok else {})
        return Enrichment(enriched, canonical_events.missing_facts(enriched), [request.describe()])

    def respond(self, decision: Decision, http: HttpClient, now: datetime) -> DecisionAnswer:
        creds, missing = api_calls.credentials(self.settings, *CREDENTIALS)
        if creds is None:
            return api_calls.not_sent(decision.action, None, missing)
        request = build_decision(creds, self._marketplace(), decision)
        result = api_calls.send(http, request)
        return api_calls.answer_from(decision.action, request, result, result.ok)

    def _marketplace(self) -> str:
        return self.settings.get("MARKETPLACE_ID", "EBAY_US") or "EBAY_US"


def _call(creds: dict[str, str], marketplace: str, method: str, path: str, body: Any = None) -> OutboundRequest:
    return OutboundRequest(
        method,
        f"{creds['BASE_URL'].rstrip('/')}/post-order/v2{path}",
        headers={
            "Authorization": f"IAF {creds['ACCESS_TOKEN']}",
            "X-EBAY-C-MARKETPLACE-ID": marketplace,
            "Content-Type": "application/json",
        },
        json_body=body,
    )


def _return_path(return_id: str, action: str = "") -> str:
    """`/return/{id}[/action]` with the id checked as digits and quoted: input never steers the path."""
    path = f"/return/{quote(return_id_of(return_id), safe='')}"
    return f"{path}/{quote(action, safe='')}" if action else path


def build_fetch(creds: dict[str, str], marketplace: str, return_id: str) -> OutboundRequest:
    return _call(creds, marketplace, "GET", f"{_return_path(return_id)}?fieldgroups=FULL")


def build_decision(creds: dict[str, str], marketplace: str, decision: Decision) -> OutboundRequest:
    if not RETURN_ID.fullmatch(decision.return_id):
        raise DecisionRefused(f"{decision.return_id[:40]!r} is not an eBay return id (digits)")
    comments = {"content": decision.note} if decision.note else None
    if decision.action in DECISIONS:
        body: dict[str, Any] = {"decision": DECISIONS[decision.action]}
        if comments:
            body["comments"] = comments
        return _call(creds, marketplace, "POST", _return_path(decision.return_id, "decide"), body)
    if decision.action == "refund":
        if not (decision.amount and decision.currency):
            raise DecisionRefused("an eBay refund needs the amount and currency")
        money = {"value": decision.amount, "currency": decision.currency}
        body = {
            "refundDetail": {
                "itemizedRefundDetail": [{"refundAmount": money, "refundFeeType": "PURCHASE_PRICE"}],
                "totalAmount": money,
            }
        }
        if comments:
            body["comments"] = comments
        return _call(creds, marketplace, "POST", _return_path(decision.return_id, "issue_refund"), body)
    raise DecisionRefused(f"eBay has no Post-Order action for {decision.action!r}")


def state_type(state: str, refunded: bool) -> str:
    if state == "CLOSED" and not refunded:
        return "return.cancelled"
    return code_tables.canonical_type(STATES, state)


def parse_return(body: Any) -> dict[str, Any]:
    """GET /post-order/v2/return/{id} -> order id, reason, refund, state."""
    summary = (body or {}).get("summary") if isinstance(body, dict) else None
    if not isinstance(summary, dict):
        return {}
    creation = summary.get("creationInfo") or {}
    refund = summary.get("sellerTotalRefund") or summary.get("buyerTotalRefund") or {}
    actual = refund.get("actualRefundAmount") or {}
    money = actual or refund.get("estimatedRefundAmount") or {}
    canonical, raw = code_tables.canonical_reason(REASONS, creation.get("reason"))
    detail: dict[str, Any] = {
        "order": {"id": summary.get("orderId"), "currency": money.get("currency")},
        "return": {
            "reason": canonical,
            "raw_reason": raw,
            "reason_detail": (creation.get("comments") or {}).get("content"),
            "refund_amount": str(money["value"]) if money.get("value") is not None else None,
        },
    }
    state = summary.get("state")
    if state:
        detail["raw_status"] = state
        detail["type"] = state_type(state, bool(actual.get("value")))
    return detail


MARKETPLACES.register(NAME, EbayAdapter())
