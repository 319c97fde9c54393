"""TikTok Shop: hex HMAC-SHA256(app_secret, app_key + body); type 12 returns, type 11 cancellations."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qs, urlparse

import pytest
import responses

from adapters.http import HttpClient
from adapters.marketplaces import code_tables
from adapters.marketplaces.base import Decision, SignatureError
from adapters.marketplaces.tiktok_shop import CANCEL_STATUS_EVENTS, STATUS_EVENTS, TikTokShopAdapter, sign
from tests.marketplaces.conftest import NOW, inbound, settings, valid

APP_KEY, APP_SECRET = "68xu9ks5p4i8", "e59af819cc"
ADAPTER = TikTokShopAdapter(settings("tiktok_shop", app_key=APP_KEY))

RETURN_CHANGE = {
    "type": 12,
    "tts_notification_id": "7327112393057371910",
    "shop_id": "7494049642642441621",
    "timestamp": 1795435000,
    "data": {
        "order_id": "576461413038785752",
        "return_id": "4035318504086512345",
        "return_role": "BUYER",
        "return_type": "RETURN_AND_REFUND",
        "return_status": "RETURN_OR_REFUND_REQUEST_PENDING",
        "create_time": 1795434000,
        "update_time": 1795434900,
    },
}


def signed(payload: dict, secret: str = APP_SECRET):
    body = json.dumps(payload).encode()
    return inbound(
        body, {"Authorization": hmac.new(secret.encode(), APP_KEY.encode() + body, hashlib.sha256).hexdigest()}
    )


def test_a_webhook_signed_with_app_key_and_secret_is_accepted():
    ADAPTER.verify(signed(RETURN_CHANGE), APP_SECRET, NOW)


def test_a_forged_webhook_is_refused():
    with pytest.raises(SignatureError):
        ADAPTER.verify(signed(RETURN_CHANGE, secret="guess"), APP_SECRET, NOW)


def test_a_webhook_from_yesterday_is_stale():
    with pytest.raises(SignatureError, match="stale"):
        ADAPTER.verify(signed({**RETURN_CHANGE, "timestamp": 1795435000 - 25 * 3600}), APP_SECRET, NOW)


def test_a_replayed_webhook_keeps_its_notification_id():
    assert ADAPTER.parse(signed(RETURN_CHANGE)).delivery_id == "7327112393057371910"


def test_a_return_status_change_becomes_a_canonical_event():
    (event,) = valid(ADAPTER.parse(signed(RETURN_CHANGE)).events)
    assert (event.type, event.return_.id, event.order.id) == (
        "return.requested",
        "4035318504086512345",
        "576461413038785752",
    )
    assert event.return_.resolution == "refund"


# Written from TikTok Shop's Return & Refund API (`return_status`, research note §7.4), not read from the adapter.
RETURN_STATUSES = {
    "RETURN_OR_REFUND_REQUEST_PENDING": "return.requested",
    "AWAITING_BUYER_RESPONSE": "return.requested",  # the seller asked the buyer something; still a request
    "REFUND_OR_RETURN_REQUEST_REJECT": "return.rejected",
    "AWAITING_BUYER_SHIP": "return.approved",  # approved: the buyer is to send the parcel
    "BUYER_SHIPPED_ITEM": "return.shipped",
    "REJECT_RECEIVE_PACKAGE": "return.rejected",  # the seller refused the parcel that came back
    "RETURN_OR_REFUND_REQUEST_SUCCESS": "refund.completed",
    "RETURN_OR_REFUND_REQUEST_COMPLETE": "refund.completed",
    "RETURN_OR_REFUND_REQUEST_CANCEL": "return.cancelled",
    "REPLACEMENT_REQUEST_PENDING": "exchange.requested",
    "REPLACEMENT_REQUEST_REJECT": "return.rejected",
    "REPLACEMENT_REQUEST_REFUND_SUCCESS": "refund.completed",
    "REPLACEMENT_REQUEST_CANCEL": "return.cancelled",
    "REPLACEMENT_REQUEST_COMPLETE": "return.approved",  # "The SELLER approves the replacement request"
}
# The cancellation API's `cancel_status` (POST /return_refund/202309/cancellations/search).
CANCELLATION_STATUSES = {
    "CANCELLATION_REQUEST_PENDING": "order.cancel_requested",
    "CANCELLATION_REQUEST_SUCCESS": "refund.requested",
    "CANCELLATION_REQUEST_CANCELLED": "return.cancelled",
    "CANCELLATION_REQUEST_COMPLETE": "refund.completed",
}


def test_every_status_the_adapter_maps_has_an_expectation_written_here():
    assert set(STATUS_EVENTS) == set(RETURN_STATUSES)
    assert set(CANCEL_STATUS_EVENTS) == set(CANCELLATION_STATUSES)


@pytest.mark.parametrize(("status", "expected"), sorted(RETURN_STATUSES.items()))
def test_every_return_status_maps(status, expected):
    payload = {**RETURN_CHANGE, "data": {**RETURN_CHANGE["data"], "return_status": status}}
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.raw_status) == (expected, status)


@pytest.mark.parametrize(("status", "expected"), sorted(CANCELLATION_STATUSES.items()))
def test_every_cancellation_status_maps(status, expected):
    payload = {
        "type": 11,
        "shop_id": "1",
        "timestamp": 1795435000,
        "data": {"order_id": "5764", "cancel_id": "C-1", "cancel_status": status, "update_time": 1795434900},
    }
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.return_.id) == (expected, "C-1")


def test_an_unknown_return_status_keeps_the_raw_value():
    payload = {**RETURN_CHANGE, "data": {**RETURN_CHANGE["data"], "return_status": "SOMETHING_NEW"}}
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.raw_status) == (code_tables.UNKNOWN_STATUS_EVENT, "SOMETHING_NEW")


def test_other_webhook_types_carry_no_return():
    assert ADAPTER.parse(signed({"type": 1, "timestamp": 1, "data": {"order_id": "1"}})).events == []


CONFIGURED = settings(
    "tiktok_shop",
    app_key=APP_KEY,
    webhook_secret=APP_SECRET,
    base_url="https://open-api.tiktok.test",
    access_token="TTP_token",
    shop_cipher="ROW_cipher",
)


@responses.activate
def test_enrich_searches_the_return_with_a_signed_call():
    responses.post(
        "https://open-api.tiktok.test/return_refund/202309/returns/search",
        json={
            "code": 0,
            "data": {
                "return_orders": [
                    {
                        "return_id": "4035318504086512345",
                        "order_id": "576461413038785752",
                        "return_status": "AWAITING_BUYER_SHIP",
                        "return_type": "RETURN_AND_REFUND",
                        "return_reason": "ecom_order_delivered_refund_and_return_reason_wrong_size",
                        "return_reason_text": "Size doesn't fit",
                        "refund_amount": {"currency": "GBP", "refund_total": "25.00"},
                        "return_line_items": [
                            {"seller_sku": "TT-1", "product_name": "Hoodie", "refund_amount": {"refund_total": "25.00"}}
                        ],
                    }
                ]
            },
        },
    )
    thin = ADAPTER.parse(signed(RETURN_CHANGE)).events[0]
    result = TikTokShopAdapter(CONFIGURED).enrich(thin, HttpClient(), NOW)
    (event,) = valid([result.event])
    assert (event.type, event.order.currency, event.return_.reason) == ("return.approved", "GBP", "size_or_fit")
    call = responses.calls[0].request
    query = {k: v[0] for k, v in parse_qs(urlparse(call.url).query).items()}
    claimed = query.pop("sign")
    body = call.body if isinstance(call.body, str) else call.body.decode()
    assert claimed == sign(urlparse(call.url).path, query, body, APP_SECRET)
    assert call.headers["x-tts-access-token"] == "TTP_token"


@responses.activate
def test_an_approval_is_sent_once_with_its_idempotency_key():
    url = "https://open-api.tiktok.test/return_refund/202309/returns/4035318504086512345/approve"
    responses.post(url, json={"code": 0, "message": "Success"})
    decision = Decision("approve", "576461413038785752", "4035318504086512345", "case-7:approve")
    answer = TikTokShopAdapter(CONFIGURED).respond(decision, HttpClient(), NOW)
    assert answer.sent and answer.accepted and len(responses.calls) == 1
    assert "idempotency_key=case-7%3Aapprove" in responses.calls[0].request.url
    assert json.loads(responses.calls[0].request.body) == {"decision": "APPROVE_RETURN"}
