"""Seed 002 §1(4) 直接退款: a refund without return when bringing the goods back costs more than they are worth.

The estimate is the lane's return-label price (config/carrier_routes.json `return_label_prices`), duties and
taxes on re-entry where the goods cross a customs border, and the merchant's handling; the worth is what the
merchant recovers from the goods. The merchant's policy (config/policy/merchants.json, example-outdoor-shop:
apparel/accessories/perishable, 60 % recovered, perishables 0 %, threshold 100 %, handling CNY 15, duties 10 %)
sets the threshold and the categories.
"""

from __future__ import annotations

from decimal import Decimal

from adapters.calendars import HolidaysCalendars
from config.policy_tables import default_policy_tables
from core.policy import evaluate
from tests.core.policy_fixtures import FixedRates, event

TABLES = default_policy_tables()
RATES = FixedRates({("CNY", "EUR"): "0.1281", ("EUR", "CNY"): "7.8100"})
SHOP = "example-outdoor-shop"


def decide(ev):
    return evaluate(ev, TABLES, None, HolidaysCalendars(), RATES, merchant=SHOP)


def scarf(price: str, category: str = "apparel", **changes):
    item = {"sku": "SCARF", "quantity": 1, "unit_price": price, "category": category}
    return event(items=[item], **changes)


def test_a_cheap_item_abroad_is_refunded_without_return_with_the_estimate_in_the_trace():
    """DE buyer, CN merchant: label EUR 28.00 + duties 10 % of 20.00 + handling CNY 15 (EUR 1.92) = EUR 31.92 > 12.00."""
    d = decide(scarf("20.00", **{"return.resolution": "returnless"}))
    assert d.eligible and d.basis == "merchant_policy" and d.right == "returnless_refund"
    assert d.refund.amount.amount == Decimal("20.00") and d.refund.original_delivery.is_zero()
    offer = d.to_json()["returnless"]
    assert offer["offered"] is True
    assert offer["return_cost"] == "31.92" and offer["worth_back"] == "12.00"
    assert offer["parts"]["label"] == {"amount": "28.00", "carrier": "sf_express", "lane": "DE->CN"}
    assert offer["parts"]["duties"]["amount"] == "2.00" and offer["parts"]["handling"]["amount"] == "1.92"
    trace = next(r for r in d.to_json()["rules"] if r["rule"] == "returnless_refund")
    assert trace["outcome"] == "offered" and "直接退款" in trace["source"] and trace["return_cost"] == "31.92"
    label = next(r for r in d.to_json()["rules"] if r["rule"] == "return_label_price")
    assert label["source"] is None and "estimate" in label["unsourced"]


def test_a_buyer_asking_for_a_refund_is_offered_the_returnless_refund_as_an_alternative():
    d = decide(scarf("20.00"))
    assert d.eligible and d.basis == "statutory_withdrawal"
    assert "returnless" in d.alternatives and d.returnless["offered"] is True


def test_goods_worth_more_than_the_return_costs_come_back():
    d = decide(scarf("200.00", **{"return.resolution": "returnless"}))
    assert not d.eligible and d.returnless["offered"] is False
    assert d.returnless["worth_back"] == "120.00" and d.returnless["return_cost"] == "49.92"
    assert "returnless" not in d.alternatives


def test_categories_outside_the_merchants_list_are_never_returnless():
    d = decide(scarf("5.00", category="electronics", **{"return.resolution": "returnless"}))
    assert not d.eligible and d.returnless["offered"] is False
    assert any(r.rule == "returnless_refund" and r.outcome == "not_applicable" for r in d.rules)


def test_a_domestic_return_has_no_duties_and_uses_the_domestic_label():
    """CN buyer, CN merchant: SF label CNY 12 + handling CNY 15 = CNY 27 > 60 % of CNY 30."""
    ev = scarf(
        "30.00",
        **{
            "order.ship_to.country": "CN",
            "order.currency": "CNY",
            "order.buyer.timezone": None,
            "return.resolution": "returnless",
        },
    )
    d = decide(ev)
    assert d.eligible and d.returnless["return_cost"] == "27.00"
    assert d.returnless["parts"]["duties"] == {"amount": "0.00", "cross_border": False, "percent": "0"}


def test_rotten_fruit_is_worth_nothing_back():
    """Seed 002 §1(4): 退回商品无价值(如水果腐烂)."""
    d = decide(scarf("150.00", category="perishable", **{"return.resolution": "returnless"}))
    assert d.eligible and d.returnless["worth_back"] == "0.00"


def test_without_a_merchant_policy_nothing_is_offered():
    d = evaluate(scarf("1.00", **{"return.resolution": "returnless"}), TABLES, None, HolidaysCalendars(), RATES)
    assert not d.eligible and d.returnless is None
