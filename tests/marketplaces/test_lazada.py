"""Lazada: hex HMAC-SHA256(AppSecret, AppKey + body), reverse-order pushes, signed LazOP calls back."""

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
from adapters.marketplaces.lazada import STATUS_EVENTS, LazadaAdapter, sign
from tests.marketplaces.conftest import NOW, inbound, settings, valid

APP_KEY, APP_SECRET = "123456", "3412gyo124goi3124"
ADAPTER = LazadaAdapter(settings("lazada", app_key=APP_KEY))

# The reverse-order push of Lazada's guide (webhook-api-reverse-order), dated to the test clock.
REVERSE_PUSH = {
    "seller_id": "12345",
    "message_type": 10,
    "data": {
        "reverse_order_id": 658960600102006,
        "reverse_order_line_id": 663790000102006,
        "reverse_status": "RTM_INIT",
        "trade_order_id": 416557324702006,
        "trade_order_line_id": 416557324802006,
        "buyer_id": 100112802006,
        "seller_id": 1000143772,
        "status_update_time": 1795428000,
        "extraParams": {},
    },
    "timestamp": 1795435200000,
    "site": "lazada_sg",
}


def signed(payload: dict, app_key: str = APP_KEY, secret: str = APP_SECRET):
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()
    return inbound(body, {"Authorization": digest, "Content-Type": "application/json"})


def test_a_push_signed_with_app_key_and_secret_is_accepted():
    ADAPTER.verify(signed(REVERSE_PUSH), APP_SECRET, NOW)


def test_a_push_signed_for_another_app_is_refused():
    with pytest.raises(SignatureError):
        ADAPTER.verify(signed(REVERSE_PUSH, app_key="999999"), APP_SECRET, NOW)


def test_an_unsigned_push_is_refused():
    with pytest.raises(SignatureError):
        ADAPTER.verify(inbound(json.dumps(REVERSE_PUSH).encode(), {}), APP_SECRET, NOW)


def test_a_push_older_than_lazadas_retry_schedule_is_stale():
    old = {**REVERSE_PUSH, "timestamp": 1795435200000 - 8 * 3600 * 1000}
    with pytest.raises(SignatureError, match="stale"):
        ADAPTER.verify(signed(old), APP_SECRET, NOW)


def test_a_replayed_push_has_the_same_delivery_id():
    assert ADAPTER.parse(signed(REVERSE_PUSH)).delivery_id == ADAPTER.parse(signed(REVERSE_PUSH)).delivery_id


def test_without_the_app_key_setting_the_push_cannot_be_checked():
    with pytest.raises(SignatureError, match="RB_LAZADA_APP_KEY"):
        LazadaAdapter(settings("lazada")).verify(signed(REVERSE_PUSH), APP_SECRET, NOW)


def test_a_thin_reverse_push_still_becomes_a_canonical_event():
    (event,) = valid(ADAPTER.parse(signed(REVERSE_PUSH)).events)
    assert event.type == "return.requested" and event.return_.resolution == "refund"
    assert (event.order.id, event.return_.id, event.raw_status) == ("416557324702006", "658960600102006", "RTM_INIT")


# Written from Lazada's reverse-order push (`reverse_status` by reverse type, research §6.4), not read from
# the adapter.
REVERSE_STATUSES = {
    # CANCEL: the buyer cancels the trade order
    "CANCEL_INIT": "order.cancel_requested",
    "CANCEL_SUCCESS": "refund.requested",
    "CANCEL_REFUND_ISSUED": "refund.completed",
    # RTM: return to the merchant
    "RTM_INIT": "return.requested",
    "RTM_CANCELED": "return.cancelled",
    "RTM_SHIPPING_BACK": "return.shipped",
    "RTM_RECEIVE_ITEM": "return.received",
    # RTW: return to Lazada's warehouse
    "RTW_INIT": "return.requested",
    "RTW_CANCELED": "return.cancelled",
    "RTW_SHIPPING_BACK": "return.shipped",
    "RTW_REJECT": "return.rejected",
    "RTW_REFUND_PENDING": "refund.requested",
    # ONLY_REFUND: refund without a return
    "REFUND_INIT": "return.requested",
    "REFUND_PENDING": "refund.requested",
    "REFUND_SUCCESS": "refund.completed",
    "REFUND_REJECTED": "return.rejected",
}


def test_the_adapter_knows_exactly_the_documented_reverse_statuses():
    assert set(STATUS_EVENTS) == set(REVERSE_STATUSES)


@pytest.mark.parametrize(("status", "expected"), sorted(REVERSE_STATUSES.items()))
def test_every_pushed_reverse_status_maps(status, expected):
    payload = {**REVERSE_PUSH, "data": {**REVERSE_PUSH["data"], "reverse_status": status}}
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.raw_status) == (expected, status)


def test_an_unknown_reverse_status_keeps_the_raw_value():
    payload = {**REVERSE_PUSH, "data": {**REVERSE_PUSH["data"], "reverse_status": "RTX_NEW"}}
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.raw_status) == (code_tables.UNKNOWN_STATUS_EVENT, "RTX_NEW")


def test_a_trade_order_message_carries_no_return():
    trade = {
        "seller_id": "1",
        "message_type": 0,
        "data": {"order_status": "unpaid", "trade_order_id": "2"},
        "timestamp": 1,
    }
    assert ADAPTER.parse(signed(trade)).events == []


def test_the_api_signature_matches_lazadas_documented_example():
    # Lazada's signing guide: /order/get with these parameters and secret "helloworld".
    params = {
        "access_token": "test",
        "app_key": "123456",
        "order_id": "1234",
        "sign_method": "sha256",
        "timestamp": "1517820392000",
    }
    expected = (
        hmac.new(
            b"helloworld",
            b"/order/getaccess_tokentestapp_key123456order_id1234sign_methodsha256timestamp1517820392000",
            hashlib.sha256,
        )
        .hexdigest()
        .upper()
    )
    assert sign("/order/get", params, "helloworld") == expected


CONFIGURED = settings(
    "lazada", app_key=APP_KEY, webhook_secret=APP_SECRET, base_url="https://api.lazada.test/rest", access_token="tok"
)
DETAIL = {
    "code": "0",
    "data": {
        "reverse_order_id": 658960600102006,
        "currency": "SGD",
        "reverse_order_lines": [
            {
                "reverse_order_line_id": 663790000102006,
                "reason_text": "Wrong item delivered",
                "seller_sku_id": "LZ-SKU-1",
                "item_unit_price": "19.90",
                "refund_amount": "19.90",
            }
        ],
    },
}


@responses.activate
def test_enrich_reads_the_reverse_order_detail_with_a_signed_call():
    responses.get("https://api.lazada.test/rest/order/reverse/return/detail/list", json=DETAIL)
    thin = ADAPTER.parse(signed(REVERSE_PUSH)).events[0]
    result = LazadaAdapter(CONFIGURED).enrich(thin, HttpClient(), NOW)
    (event,) = valid([result.event])
    assert (event.order.currency, event.items[0].sku, str(event.return_.refund_amount)) == ("SGD", "LZ-SKU-1", "19.90")
    assert (event.return_.reason, event.return_.raw_reason) == ("wrong_item", "Wrong item delivered")
    query = {k: v[0] for k, v in parse_qs(urlparse(responses.calls[0].request.url).query).items()}
    claimed = query.pop("sign")
    assert claimed == sign("/order/reverse/return/detail/list", query, APP_SECRET)


@responses.activate
def test_an_approval_becomes_agree_return_for_every_line():
    responses.get("https://api.lazada.test/rest/order/reverse/return/detail/list", json=DETAIL)
    responses.post("https://api.lazada.test/rest/order/reverse/return/update", json={"code": "0", "data": {}})
    answer = LazadaAdapter(CONFIGURED).respond(
        Decision("approve", "416557324702006", "658960600102006", "k"), HttpClient(), NOW
    )
    assert answer.sent and answer.accepted
    form = parse_qs(responses.calls[1].request.body)
    assert form["action"] == ["agreeReturn"] and form["reverse_order_item_ids"] == ["[663790000102006]"]


def test_a_rejection_without_lazadas_reason_id_is_not_sent():
    answer = LazadaAdapter(CONFIGURED).respond(Decision("reject", "1", "2", "k"), HttpClient(), NOW)
    assert not answer.sent and "reason_id" in answer.missing[0]
