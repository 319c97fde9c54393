"""Shopee: hex HMAC-SHA256(partner_key, callback URL | body); order-status pushes; returns API back."""

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
from adapters.marketplaces.shopee import ORDER_STATUS_EVENTS, REASONS, STATUS_EVENTS, ShopeeAdapter, polled_event, sign
from tests.marketplaces.conftest import NOW, inbound, settings, valid

PARTNER_KEY = "4f415055726e715a63554872747673427a5373646244726e5841694874587666"
CALLBACK = "https://returnbridge.example/webhooks/shopee"
ADAPTER = ShopeeAdapter(settings("shopee", callback_url=CALLBACK))

TO_RETURN = {
    "shop_id": 123,
    "code": 3,
    "timestamp": 1795435000,
    "data": {"ordersn": "2611230ABCDEF", "status": "TO_RETURN", "update_time": 1795434900},
}


def signed(payload: dict, url: str = CALLBACK, key: str = PARTNER_KEY):
    body = json.dumps(payload).encode()
    digest = hmac.new(key.encode(), url.encode() + b"|" + body, hashlib.sha256).hexdigest()
    return inbound(body, {"Authorization": digest}, url="http://internal:8080/webhooks/shopee")


def test_a_push_signed_over_the_registered_url_is_accepted():
    ADAPTER.verify(signed(TO_RETURN), PARTNER_KEY, NOW)


def test_a_push_signed_for_another_url_is_refused():
    with pytest.raises(SignatureError):
        ADAPTER.verify(signed(TO_RETURN, url="https://attacker.example/hook"), PARTNER_KEY, NOW)


def test_a_push_signed_with_another_key_is_refused():
    with pytest.raises(SignatureError):
        ADAPTER.verify(signed(TO_RETURN, key="0" * 64), PARTNER_KEY, NOW)


def test_a_day_old_push_is_stale():
    with pytest.raises(SignatureError, match="stale"):
        ADAPTER.verify(signed({**TO_RETURN, "timestamp": 1795435000 - 90000}), PARTNER_KEY, NOW)


def test_a_replayed_push_has_the_same_delivery_id():
    assert ADAPTER.parse(signed(TO_RETURN)).delivery_id == ADAPTER.parse(signed(TO_RETURN)).delivery_id


# Written from Shopee's Open Platform documents, not read from the adapter: the order push's statuses about
# returns (v2 order status TO_RETURN, IN_CANCEL) and the return-refund guide's Data Definition (research §5):
# ReturnStatus and ReturnReason.
ORDER_STATUSES = {"TO_RETURN": "return.requested", "IN_CANCEL": "order.cancel_requested"}
RETURN_STATUSES = {
    "REQUESTED": "return.requested",
    "ACCEPTED": "return.approved",
    "PROCESSING": "return.shipped",  # the parcel is on its way back
    "JUDGING": "dispute.opened",  # Shopee decides between buyer and seller
    "SELLER_DISPUTE": "dispute.opened",
    "CANCELLED": "return.cancelled",
    "CLOSED": "refund.completed",
}
RETURN_REASONS = {
    "NONE": "other",
    "OTHER": "other",
    "MUTUAL_AGREE": "other",
    "NOT_RECEIPT": "late_delivery",
    "WRONG_ITEM": "wrong_item",
    "ITEM_WRONGDAMAGED": "wrong_item",  # Vietnam: wrong or damaged item
    "ITEM_DAMAGED": "damaged_in_transit",
    "PHYSICAL_DMG": "damaged_in_transit",
    "FUNCTIONAL_DMG": "defective",
    "DIFFERENT_DESCRIPTION": "not_as_described",
    "EXPECTATION_FAILED": "not_as_described",
    "ITEM_FAKE": "not_as_described",
    "CHANGE_MIND": "changed_mind",
    "ITEM_MISSING": "missing_parts",
}


def test_the_adapter_knows_exactly_the_documented_statuses_and_reasons():
    assert set(ORDER_STATUS_EVENTS) == set(ORDER_STATUSES)
    assert set(STATUS_EVENTS) == set(RETURN_STATUSES)
    assert set(REASONS) == set(RETURN_REASONS)


@pytest.mark.parametrize(("status", "expected"), sorted(ORDER_STATUSES.items()))
def test_order_statuses_about_returns_become_events(status, expected):
    payload = {**TO_RETURN, "data": {**TO_RETURN["data"], "status": status}}
    (event,) = valid(ADAPTER.parse(signed(payload)).events)
    assert (event.type, event.order.id, event.return_.id) == (expected, "2611230ABCDEF", "2611230ABCDEF")


def test_order_statuses_not_about_returns_create_nothing():
    payload = {**TO_RETURN, "data": {**TO_RETURN["data"], "status": "SHIPPED"}}
    assert ADAPTER.parse(signed(payload)).events == []


def row(**overrides):
    base = {
        "return_sn": "2611230RET001",
        "order_sn": "2611230ABCDEF",
        "status": "REQUESTED",
        "reason": "ITEM_DAMAGED",
        "text_reason": "cracked screen",
        "currency": "MYR",
        "refund_amount": 59.9,
        "return_solution": "RETURN_REFUND",
        "update_time": 1795434900,
        "item": [
            {"name": "Phone case", "item_sku": "CASE-1", "variation_sku": "CASE-1-BLK", "amount": 1, "item_price": 59.9}
        ],
        "tracking_number": "SPXMY0001",
    }
    return {**base, **overrides}


@pytest.mark.parametrize(("status", "expected"), sorted(RETURN_STATUSES.items()))
def test_every_return_status_maps(status, expected):
    (event,) = valid([polled_event(row(status=status))])
    assert (event.type, event.raw_status) == (expected, status)


@pytest.mark.parametrize(("code", "reason"), sorted(RETURN_REASONS.items()))
def test_every_return_reason_maps(code, reason):
    (event,) = valid([polled_event(row(reason=code))])
    assert (event.return_.reason, event.return_.raw_reason) == (reason, code)


def test_a_polled_return_carries_items_money_and_tracking():
    (event,) = valid([polled_event(row())])
    assert (event.order.currency, str(event.return_.refund_amount), event.items[0].sku) == ("MYR", "59.9", "CASE-1-BLK")
    assert event.tracking.number == "SPXMY0001" and event.return_.resolution == "refund"


def test_an_unknown_reason_and_status_keep_their_raw_values():
    (event,) = valid([polled_event(row(reason="ALIEN_ABDUCTION", status="FROZEN"))])
    assert (event.return_.reason, event.return_.raw_reason) == ("other", "ALIEN_ABDUCTION")
    assert (event.type, event.raw_status) == (code_tables.UNKNOWN_STATUS_EVENT, "FROZEN")


CONFIGURED = settings(
    "shopee",
    base_url="https://partner.shopee.test",
    partner_id="2001",
    shop_id="123",
    access_token="acc",
    webhook_secret=PARTNER_KEY,
    dispute_email="ops@returnbridge.example",
)


@responses.activate
def test_an_approval_finds_the_return_of_the_order_and_confirms_it_once():
    responses.get(
        "https://partner.shopee.test/api/v2/returns/get_return_list",
        json={"response": {"return": [row(), row(return_sn="OTHER", order_sn="ELSE")], "more": False}},
    )
    responses.post("https://partner.shopee.test/api/v2/returns/confirm", json={"error": "", "response": {}})
    answer = ShopeeAdapter(CONFIGURED).respond(
        Decision("approve", "2611230ABCDEF", "2611230ABCDEF", "k"), HttpClient(), NOW
    )
    assert answer.sent and answer.accepted
    assert json.loads(responses.calls[1].request.body) == {"return_sn": "2611230RET001"}
    query = {k: v[0] for k, v in parse_qs(urlparse(responses.calls[1].request.url).query).items()}
    assert query["sign"] == sign(PARTNER_KEY, "2001", "/api/v2/returns/confirm", int(query["timestamp"]), "acc", "123")


@responses.activate
def test_enrich_fills_a_pushed_order_with_its_return():
    responses.get(
        "https://partner.shopee.test/api/v2/returns/get_return_list",
        json={"response": {"return": [row(status="ACCEPTED")], "more": False}},
    )
    thin = ADAPTER.parse(signed(TO_RETURN)).events[0]
    result = ShopeeAdapter(CONFIGURED).enrich(thin, HttpClient(), NOW)
    (event,) = valid([result.event])
    assert (event.type, event.return_.reason, event.marketplace_event_id) == (
        "return.approved",
        "damaged_in_transit",
        thin["marketplace_event_id"],
    )


def test_a_dispute_without_a_reason_is_not_sent():
    answer = ShopeeAdapter(CONFIGURED).respond(Decision("reject", "o", "o", "k"), HttpClient(), NOW)
    assert not answer.sent and answer.missing
