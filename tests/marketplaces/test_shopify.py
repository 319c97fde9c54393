"""Shopify: base64 HMAC of the raw body, identity and type from the signed body, GraphQL Admin API back."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
import responses

from adapters.http import HttpClient
from adapters.marketplaces import code_tables
from adapters.marketplaces.base import MARKETPLACES, Decision, PayloadError, SignatureError
from adapters.marketplaces.shopify import REASONS, STATUS_EVENTS, ShopifyAdapter
from tests.marketplaces.conftest import NOW, inbound, settings, valid

SECRET = "shpss_app_client_secret"

RETURN_REQUEST = {
    "id": 246,
    "admin_graphql_api_id": "gid://shopify/Return/246",
    "status": "requested",
    "order": {"id": 123, "admin_graphql_api_id": "gid://shopify/Order/123", "name": "#1001"},
    "total_return_line_items": 1,
    "return_line_items": [
        {
            "id": 1,
            "quantity": 1,
            "return_reason": "DEFECTIVE",
            "return_reason_note": "Product arrived damaged",
            "fulfillment_line_item": {"id": 1, "line_item": {"id": 1, "name": "Test Product"}},
        }
    ],
    "created_at": "2026-11-23T06:10:00-04:00",
}


def signed(payload: dict, topic: str = "returns/request", secret: str = SECRET, **extra: str):
    body = json.dumps(payload).encode()
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Triggered-At": "2026-11-23T10:10:00.000Z",
        **extra,
    }
    return inbound(body, headers)


def test_a_body_signed_with_the_app_secret_is_accepted():
    ShopifyAdapter().verify(signed(RETURN_REQUEST), SECRET, NOW)


def test_a_forged_signature_is_refused():
    with pytest.raises(SignatureError):
        ShopifyAdapter().verify(signed(RETURN_REQUEST, secret="someone-else"), SECRET, NOW)


def test_a_body_changed_after_signing_is_refused():
    request = signed(RETURN_REQUEST)
    tampered = inbound(request.body.replace(b"DEFECTIVE", b"UNWANTED"), dict(request.headers))
    with pytest.raises(SignatureError):
        ShopifyAdapter().verify(tampered, SECRET, NOW)


def test_without_a_configured_secret_nothing_is_accepted():
    with pytest.raises(SignatureError, match="RB_SHOPIFY_WEBHOOK_SECRET"):
        ShopifyAdapter().verify(signed(RETURN_REQUEST), None, NOW)


def test_a_delivery_triggered_beyond_the_retry_horizon_is_stale():
    request = signed(RETURN_REQUEST, **{"X-Shopify-Triggered-At": "2026-11-23T05:00:00Z"})
    with pytest.raises(SignatureError, match="stale"):
        ShopifyAdapter().verify(request, SECRET, NOW)


def test_a_retry_within_four_hours_still_passes():
    request = signed(RETURN_REQUEST, **{"X-Shopify-Triggered-At": "2026-11-23T08:05:00Z"})
    ShopifyAdapter().verify(request, SECRET, NOW)


def test_a_replayed_body_is_the_same_delivery_whatever_its_unsigned_headers_say():
    first = ShopifyAdapter().parse(signed(RETURN_REQUEST))
    again = ShopifyAdapter().parse(
        signed(
            RETURN_REQUEST, **{"X-Shopify-Event-Id": "forged-new-id", "X-Shopify-Triggered-At": "2026-11-23T11:59:00Z"}
        )
    )
    assert first.delivery_id == again.delivery_id
    assert first.delivery_id.startswith("return:246:REQUESTED:")
    assert first.events[0]["marketplace_event_id"] == again.events[0]["marketplace_event_id"]


def test_a_delivery_without_triggered_at_is_refused_not_waved_through():
    request = signed(RETURN_REQUEST)
    headers = {k: v for k, v in request.headers.items() if k != "x-shopify-triggered-at"}
    with pytest.raises(SignatureError, match="Triggered-At is missing"):
        ShopifyAdapter().verify(inbound(request.body, headers), SECRET, NOW)


@pytest.mark.parametrize("topic", ["returns/approve", "returns/reopen", "returns/decline", "returns/close"])
def test_a_captured_request_body_resent_under_another_topic_cannot_move_the_return(topic):
    """Issue 16 item 3: the topic header is unsigned; the body's status says what happened."""
    with pytest.raises(PayloadError, match="status"):
        ShopifyAdapter().parse(signed(RETURN_REQUEST, topic=topic))


def test_a_return_request_becomes_a_canonical_requested_event():
    delivery = ShopifyAdapter().parse(signed(RETURN_REQUEST))
    (event,) = valid(delivery.events)
    assert event.type == "return.requested"
    assert (event.order.id, event.return_.id) == ("123", "246")
    assert (event.return_.reason, event.return_.raw_reason) == ("defective", "DEFECTIVE")
    assert event.return_.reason_detail == "Product arrived damaged"
    assert event.raw_status == "REQUESTED"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("requested", "return.requested"),
        ("open", "return.approved"),
        ("declined", "return.rejected"),
        ("canceled", "return.cancelled"),
        ("closed", "refund.completed"),
    ],
)
def test_returns_update_takes_the_type_from_every_documented_status(status, expected):
    payload = {**RETURN_REQUEST, "status": status}
    (event,) = valid(ShopifyAdapter().parse(signed(payload, topic="returns/update")).events)
    assert (event.type, event.raw_status) == (expected, status.upper())
    assert set(STATUS_EVENTS) == {"REQUESTED", "OPEN", "DECLINED", "CANCELED", "CLOSED"}


# Shopify's ReturnReason enum (shopify.dev/docs/api/admin-graphql/latest/enums/ReturnReason), with what each
# means for the case; written here, not read from the adapter.
RETURN_REASONS = {
    "COLOR": "changed_mind",
    "STYLE": "changed_mind",
    "UNWANTED": "changed_mind",
    "SIZE_TOO_LARGE": "size_or_fit",
    "SIZE_TOO_SMALL": "size_or_fit",
    "DEFECTIVE": "defective",
    "NOT_AS_DESCRIBED": "not_as_described",
    "WRONG_ITEM": "wrong_item",
    "OTHER": "other",
    "UNKNOWN": "other",
}


def test_the_adapter_knows_exactly_the_documented_reasons():
    assert set(REASONS) == set(RETURN_REASONS)


@pytest.mark.parametrize(("code", "reason"), sorted(RETURN_REASONS.items()))
def test_every_return_reason_maps_and_the_raw_code_is_kept(code, reason):
    line = {**RETURN_REQUEST["return_line_items"][0], "return_reason": code}
    (event,) = valid(ShopifyAdapter().parse(signed({**RETURN_REQUEST, "return_line_items": [line]})).events)
    assert (event.return_.reason, event.return_.raw_reason) == (reason, code)


def test_an_unknown_reason_becomes_other_and_keeps_the_raw_value():
    line = {**RETURN_REQUEST["return_line_items"][0], "return_reason": "ARRIVED_FROM_MARS"}
    (event,) = valid(ShopifyAdapter().parse(signed({**RETURN_REQUEST, "return_line_items": [line]})).events)
    assert (event.return_.reason, event.return_.raw_reason) == ("other", "ARRIVED_FROM_MARS")


def test_an_unknown_status_keeps_the_raw_value():
    payload = {**RETURN_REQUEST, "status": "teleported"}
    (event,) = valid(ShopifyAdapter().parse(signed(payload, topic="returns/update")).events)
    assert (event.type, event.raw_status) == (code_tables.UNKNOWN_STATUS_EVENT, "TELEPORTED")


def test_a_refund_for_a_return_completes_it_with_the_refunded_money():
    refund = {
        "id": 509562969,
        "order_id": 123,
        "created_at": "2026-11-23T10:00:00-00:00",
        "note": "damaged",
        "return": {"id": 246, "admin_graphql_api_id": "gid://shopify/Return/246"},
        "transactions": [
            {"kind": "refund", "status": "success", "amount": "41.94", "currency": "EUR"},
            {"kind": "refund", "status": "failure", "amount": "9.00", "currency": "EUR"},
        ],
    }
    (event,) = valid(ShopifyAdapter().parse(signed(refund, topic="refunds/create")).events)
    assert (event.type, event.return_.id, str(event.return_.refund_amount)) == ("refund.completed", "246", "41.94")
    assert event.order.currency == "EUR"


def test_a_topic_that_is_not_about_returns_is_a_bad_request():
    with pytest.raises(PayloadError):
        ShopifyAdapter().parse(signed(RETURN_REQUEST, topic="products/create"))


def test_the_route_name_is_registered():
    assert isinstance(MARKETPLACES.get("shopify"), ShopifyAdapter)


CONFIGURED = settings("shopify", base_url="https://shop.example", access_token="shpat_token", api_version="2025-07")
GRAPHQL = "https://shop.example/admin/api/2025-07/graphql.json"


@responses.activate
def test_enrich_fetches_items_currency_and_reason_through_graphql():
    responses.post(
        GRAPHQL,
        json={
            "data": {
                "return": {
                    "id": "gid://shopify/Return/246",
                    "status": "REQUESTED",
                    "order": {"id": "gid://shopify/Order/123", "legacyResourceId": "123", "currencyCode": "EUR"},
                    "returnLineItems": {
                        "nodes": [
                            {
                                "quantity": 1,
                                "returnReason": "SIZE_TOO_SMALL",
                                "returnReasonNote": "too tight",
                                "fulfillmentLineItem": {
                                    "lineItem": {
                                        "sku": "SCARF-RED",
                                        "name": "Wool scarf",
                                        "originalUnitPriceSet": {
                                            "shopMoney": {"amount": "49.90", "currencyCode": "EUR"}
                                        },
                                    }
                                },
                            }
                        ]
                    },
                }
            }
        },
    )
    thin = ShopifyAdapter().parse(signed(RETURN_REQUEST)).events[0]
    result = ShopifyAdapter(CONFIGURED).enrich(thin, HttpClient(), NOW)
    (event,) = valid([result.event])
    assert event.order.currency == "EUR" and event.items[0].sku == "SCARF-RED"
    assert event.return_.reason == "size_or_fit"
    assert result.missing == []
    sent = json.loads(responses.calls[0].request.body)
    assert sent["variables"] == {"id": "gid://shopify/Return/246"}
    assert responses.calls[0].request.headers["X-Shopify-Access-Token"] == "shpat_token"


def test_without_credentials_enrich_names_what_is_missing():
    thin = ShopifyAdapter().parse(signed(RETURN_REQUEST)).events[0]
    result = ShopifyAdapter(settings("shopify")).enrich(thin, HttpClient(), NOW)
    assert result.event == thin
    assert "RB_SHOPIFY_ACCESS_TOKEN" in result.missing and "items" in result.missing


@responses.activate
def test_an_approval_is_sent_as_return_approve_request():
    responses.post(GRAPHQL, json={"data": {"returnApproveRequest": {"return": {"status": "OPEN"}, "userErrors": []}}})
    decision = Decision("approve", "123", "246", "case-1:approve")
    answer = ShopifyAdapter(CONFIGURED).respond(decision, HttpClient(), NOW)
    assert answer.sent and answer.accepted
    body = json.loads(responses.calls[0].request.body)
    assert "returnApproveRequest" in body["query"] and body["variables"]["input"]["id"] == "gid://shopify/Return/246"
    assert len(responses.calls) == 1


@responses.activate
def test_a_rejection_is_sent_as_decline_with_shopifys_reason():
    responses.post(
        GRAPHQL,
        json={"data": {"returnDeclineRequest": {"return": None, "userErrors": [{"field": "id", "message": "closed"}]}}},
    )
    decision = Decision("reject", "123", "246", "k", note="Outside the window", reason_code="window_expired")
    answer = ShopifyAdapter(CONFIGURED).respond(decision, HttpClient(), NOW)
    body = json.loads(responses.calls[0].request.body)
    assert body["variables"]["input"] == {
        "id": "gid://shopify/Return/246",
        "declineReason": "RETURN_PERIOD_ENDED",
        "declineNote": "Outside the window",
    }
    assert answer.sent and not answer.accepted  # userErrors mean Shopify refused


def test_a_decision_without_credentials_is_not_sent_and_says_why():
    answer = ShopifyAdapter(settings("shopify")).respond(Decision("approve", "1", "2", "k"), HttpClient(), NOW)
    assert not answer.sent and "RB_SHOPIFY_BASE_URL" in answer.missing


def test_refund_window_constant_covers_shopifys_four_hour_retries():
    from adapters.marketplaces.shopify import REPLAY_WINDOW

    assert timedelta(hours=4) < REPLAY_WINDOW


@responses.activate
def test_a_refund_goes_back_through_the_orders_own_payment_once():
    def answer(request):  # type: ignore[no-untyped-def]
        query = json.loads(request.body)["query"]
        if "transactions" in query and "refundCreate" not in query:
            txns = [
                {"id": "gid://shopify/OrderTransaction/1", "kind": "AUTHORIZATION", "status": "SUCCESS", "gateway": "shopify_payments"},
                {"id": "gid://shopify/OrderTransaction/2", "kind": "CAPTURE", "status": "SUCCESS", "gateway": "shopify_payments"},
            ]  # fmt: skip
            return 200, {}, json.dumps({"data": {"order": {"id": "gid://shopify/Order/123", "transactions": txns}}})
        return (
            200,
            {},
            json.dumps({"data": {"refundCreate": {"refund": {"id": "gid://shopify/Refund/9"}, "userErrors": []}}}),
        )

    responses.add_callback(responses.POST, GRAPHQL, callback=answer)
    decision = Decision("refund", "123", "246", "case-1:refund:1", amount="49.90", currency="EUR")
    result = ShopifyAdapter(CONFIGURED).respond(decision, HttpClient(), NOW)
    assert result.sent and result.accepted and len(responses.calls) == 2
    refund = json.loads(responses.calls[1].request.body)["variables"]["input"]
    assert refund["orderId"] == "gid://shopify/Order/123"
    assert refund["transactions"] == [
        {"orderId": "gid://shopify/Order/123", "parentId": "gid://shopify/OrderTransaction/2",
         "gateway": "shopify_payments", "kind": "REFUND", "amount": "49.90"}
    ]  # fmt: skip


def test_a_refund_without_an_amount_is_not_sent():
    answer = ShopifyAdapter(CONFIGURED).respond(Decision("refund", "123", "246", "k"), HttpClient(), NOW)
    assert not answer.sent and answer.missing == ["the refund amount"]


def test_a_decline_naming_no_order_asks_the_platform_for_it():
    decline = {"id": 246, "admin_graphql_api_id": "gid://shopify/Return/246", "status": "declined",
               "decline": {"reason": "final_sale", "note": "Final sale"}}  # fmt: skip
    (thin,) = ShopifyAdapter().parse(signed(decline, topic="returns/decline")).events
    assert thin["order"]["id"] == "pending:246"
    assert "order.id" in ShopifyAdapter(settings("shopify")).enrich(thin, HttpClient(), NOW).missing


@responses.activate
def test_enrich_fills_the_order_a_decline_did_not_name():
    responses.post(GRAPHQL, json={"data": {"return": {"id": "gid://shopify/Return/246", "status": "DECLINED",
                   "order": {"id": "gid://shopify/Order/123", "legacyResourceId": "123", "currencyCode": "EUR"},
                   "returnLineItems": {"nodes": []}}}})  # fmt: skip
    decline = {"id": 246, "admin_graphql_api_id": "gid://shopify/Return/246", "status": "declined"}
    (thin,) = ShopifyAdapter().parse(signed(decline, topic="returns/decline")).events
    (event,) = valid([ShopifyAdapter(CONFIGURED).enrich(thin, HttpClient(), NOW).event])
    assert (event.order.id, event.order.currency, event.type) == ("123", "EUR", "return.rejected")
