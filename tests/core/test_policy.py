"""One test per policy rule, each naming its source (config/policy/*.json carries the same citations)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.calendars import HolidaysCalendars
from config.policy_tables import default_policy_tables
from core.policy import Milestones, evaluate
from tests.core.policy_fixtures import FixedRates, event

TABLES = default_policy_tables()
CALENDARS = HolidaysCalendars()
RATES = FixedRates(
    {
        ("EUR", "JPY"): "162.50",
        ("CNY", "EUR"): "0.1281",
        ("USD", "EUR"): "0.9100",
        ("EUR", "USD"): "1.0990",
        ("EUR", "CNY"): "7.8100",
        ("CNY", "USD"): "0.1408",
    }
)


def decide(ev, as_of=None, **kwargs):
    return evaluate(ev, TABLES, as_of, CALENDARS, RATES, **kwargs)


def codes(decision):
    return {r.code for r in decision.reasons}


def test_eu_buyer_withdraws_within_fourteen_days_and_gets_goods_plus_delivery_back():
    """Directive 2011/83/EU art. 9 and 13(1); CJEU C-511/08: 49.90 + 4.99 = 54.89 (contract example)."""
    d = decide(event())
    assert d.eligible and d.right == "eu_withdrawal"
    assert d.refund.amount.amount == Decimal("54.89")
    assert d.window.days == 14
    assert d.window.ends_at == datetime(2026, 11, 16, 23, 0, tzinfo=UTC)


def test_eu_window_closes_at_the_end_of_the_fourteenth_day_after_delivery():
    """Reg. 1182/71 art. 3(1): delivery day not counted; 2026-11-16 is a Monday, no roll."""
    late = decide(event(), as_of=datetime(2026, 11, 16, 23, 0, tzinfo=UTC))
    assert not late.eligible
    assert "window_closed" in codes(late)
    on_time = decide(event(), as_of=datetime(2026, 11, 16, 22, 59, tzinfo=UTC))
    assert on_time.eligible


def test_eu_withdrawal_is_refused_for_opened_hygiene_goods():
    """Directive 2011/83/EU art. 16(e)."""
    d = decide(
        event(
            items=[
                {
                    "sku": "LIP",
                    "quantity": 1,
                    "unit_price": "9.00",
                    "category": "sealed_hygiene",
                    "condition": {"opened": True},
                }
            ]
        )
    )
    assert not d.eligible and "excluded_category" in codes(d)


def test_eu_used_goods_are_returnable_but_the_buyer_answers_for_diminished_value():
    """Directive 2011/83/EU art. 14(2)."""
    d = decide(event(items=[{"sku": "S", "quantity": 1, "unit_price": "10.00", "condition": {"used": True}}]))
    assert d.eligible and "diminished_value" in codes(d)


def test_eu_partial_return_refunds_only_the_eligible_line_without_delivery():
    """Art. 16 exclusions per item; delivery refunded only when the whole order is withdrawn (art. 13(1)).

    Contract `eligible`: "judges the resolution the buyer asked for ... for every line of the request": a request
    that includes an excluded perishable line is not eligible as asked; the reasons name that line, and the refund
    still says what the granted line is owed."""
    d = decide(
        event(
            items=[
                {"sku": "SCARF", "quantity": 1, "unit_price": "49.90"},
                {"sku": "CAKE", "quantity": 1, "unit_price": "5.00", "category": "perishable"},
            ]
        )
    )
    assert not d.eligible and d.basis is None
    assert [r.message for r in d.reasons if r.code == "line_not_granted"] == [
        "No right or policy grants refund for item CAKE; ask without it, or see the alternatives."
    ]
    assert [sku for sku, _ in d.refund.lines] == ["SCARF"]
    assert d.refund.amount.amount == Decimal("49.90")
    assert [(line["sku"], line["eligible"], line["basis"]) for line in d.to_json()["lines"]] == [
        ("SCARF", True, "statutory_withdrawal"),
        ("CAKE", False, None),
    ]


def test_every_line_granted_makes_the_request_eligible():
    """Contract `eligible`: true when a right grants exactly that resolution for every line (the same order
    without the perishable line is granted, with delivery, art. 13(1), when it is the whole order)."""
    d = decide(event(items=[{"sku": "SCARF", "quantity": 1, "unit_price": "49.90"}]))
    assert d.eligible and d.basis == "statutory_withdrawal"
    assert "line_not_granted" not in codes(d)
    assert all(line["eligible"] for line in d.to_json()["lines"])


def test_cn_buyer_has_seven_days_from_the_day_after_signing():
    """消费者权益保护法 art. 25; Interim Measures (SAMR Order 31)."""
    ev = event(
        **{
            "order.ship_to.country": "CN",
            "order.currency": "CNY",
            "order.buyer.timezone": None,
            "order.delivered_at": "2026-11-02T14:05:00+08:00",
            "occurred_at": "2026-11-09T15:59:00+00:00",
        }
    )
    d = decide(ev)
    assert d.right == "cn_withdrawal"
    assert d.window.starts_at == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    assert d.window.ends_at == datetime(2026, 11, 9, 16, 0, tzinfo=UTC)
    assert d.eligible
    assert not decide(ev, as_of=datetime(2026, 11, 9, 16, 0, tzinfo=UTC)).eligible


def test_cn_no_reason_return_requires_intact_goods():
    """消费者权益保护法 art. 25 (商品应当完好); seed 001 §2.2."""
    ev = event(
        **{
            "order.ship_to.country": "CN",
            "order.currency": "CNY",
            "occurred_at": "2026-11-05T09:00:00+08:00",
            "items": [{"sku": "S", "quantity": 1, "unit_price": "99.00", "condition": {"used": True}}],
        }
    )
    d = decide(ev)
    assert not d.eligible and "not_intact" in codes(d)


def test_cn_buyer_pays_return_freight_and_gets_no_outbound_delivery_back():
    """消费者权益保护法 art. 25 (退回商品的运费由消费者承担)."""
    ev = event(
        **{
            "order.ship_to.country": "CN",
            "order.currency": "CNY",
            "order.shipping_paid": "10.00",
            "occurred_at": "2026-11-05T09:00:00+08:00",
        }
    )
    d = decide(ev)
    assert d.return_shipping_payer == "buyer"
    assert d.refund.original_delivery.is_zero()


def test_jp_statutory_return_right_is_displaced_by_displayed_merchant_terms():
    """特定商取引法 art. 15-3: the 8-day right applies only where no return terms were displayed."""
    ev = event(
        **{
            "order.ship_to.country": "JP",
            "order.currency": "JPY",
            "items": [{"sku": "S", "quantity": 1, "unit_price": "5000"}],
            "order.shipping_paid": None,
            "occurred_at": "2026-11-05T10:00:00+09:00",
        }
    )
    assert decide(ev).right == "jp_withdrawal"
    with_terms = decide(ev, merchant="example-outdoor-shop")
    assert with_terms.basis == "merchant_policy"
    assert any(r.outcome == "displaced_by_displayed_terms" for r in with_terms.rules)


def test_us_buyer_has_no_statutory_change_of_mind_right():
    """FTC Cooling-Off Rule 16 CFR 429 excludes online sales."""
    ev = event(**{"order.ship_to.country": "US", "order.currency": "USD"})
    d = decide(ev)
    assert not d.eligible and "no_statutory_withdrawal" in codes(d)


def test_marketplace_policy_admits_what_the_law_does_not():
    """Amazon 30-day policy (research §2) on top of US law: most generous applicable right wins."""
    ev = event(**{"order.ship_to.country": "US", "order.currency": "USD"})
    d = decide(ev, marketplace="amazon")
    assert d.eligible and d.basis == "marketplace_policy"
    assert d.return_shipping_payer == "merchant"


def test_with_no_marketplace_or_merchant_policy_only_statutory_rights_apply():
    """Issue 5: an unconfigured marketplace adds nothing."""
    ev = event(**{"order.ship_to.country": "US", "order.currency": "USD"})
    assert decide(ev, marketplace="generic").basis is None


def test_most_generous_right_prefers_free_return_shipping_over_statutory_withdrawal():
    """Issue 5: AliExpress free returns (research §2) beat the EU buyer-pays withdrawal."""
    d = decide(event(), marketplace="aliexpress")
    assert d.basis == "marketplace_policy" and d.return_shipping_payer == "merchant"


def test_merchant_extended_window_by_category_applies_after_the_statutory_one_closed():
    """Seed 001 §2.1: a merchant may extend the window by product (apparel 30 days here)."""
    ev = event(
        **{
            "order.ship_to.country": "CN",
            "order.currency": "CNY",
            "items": [
                {
                    "sku": "T",
                    "quantity": 1,
                    "unit_price": "100.00",
                    "category": "apparel",
                    "condition": {"tags_attached": True},
                }
            ],
        }
    )
    d = decide(ev, as_of=datetime(2026, 11, 25, tzinfo=UTC), merchant="example-outdoor-shop")
    assert d.basis == "merchant_policy" and d.window.days == 30


def test_restocking_fee_is_charged_only_on_a_policy_return_where_the_law_allows_it():
    """Restocking fee allowed in US if disclosed (NY GBL §218-a), never on an EU withdrawal (art. 13-14)."""
    us = event(**{"order.ship_to.country": "US", "order.currency": "USD", "order.shipping_paid": None})
    d = decide(us, merchant="example-outdoor-shop")
    assert d.refund.restocking_fee.amount == Decimal("4.99")
    assert d.refund.amount.amount == Decimal("44.91")
    eu = decide(event(), merchant="example-outdoor-shop")
    assert eu.refund.restocking_fee.is_zero()


def test_defect_is_a_legal_guarantee_claim_with_merchant_paying_shipping():
    """Directive (EU) 2019/771 art. 10, 13(2), 14(1)(b); DOMAIN §4 (quality defect: merchant)."""
    ev = event(**{"return.reason": "defective", "return.resolution": "repair"})
    d = decide(ev, as_of=datetime(2027, 6, 1, tzinfo=UTC))
    assert d.eligible and d.basis == "statutory_guarantee" and d.right == "legal_guarantee"
    assert d.return_shipping_payer == "merchant"
    assert "evidence_requested" in codes(d)


def test_legal_guarantee_ends_after_two_years_in_the_eu():
    """Directive (EU) 2019/771 art. 10(1)."""
    d = decide(event(**{"return.reason": "defective"}), as_of=datetime(2028, 11, 3, tzinfo=UTC))
    assert not d.eligible and "guarantee_expired" in codes(d)


def test_cn_defect_after_seven_days_gives_repair_or_replacement_not_refund():
    """消费者权益保护法 art. 24."""
    base = {"order.ship_to.country": "CN", "order.currency": "CNY", "return.reason": "defective"}
    late = datetime(2026, 12, 20, tzinfo=UTC)
    assert "only_repair_or_replacement" in codes(decide(event(**base), as_of=late))
    exchange = decide(event(**base, **{"return.resolution": "exchange"}), as_of=late)
    assert exchange.eligible and exchange.right == "legal_guarantee"


def test_cross_border_damaged_outer_packaging_alone_is_not_a_quality_problem():
    """Seed 004 §跨境电商包装破损: the buyer's own reason; no guarantee claim, buyer pays shipping."""
    d = decide(event(**{"return.reason": "packaging_damaged"}))
    assert d.right == "eu_withdrawal"
    assert d.return_shipping_payer == "buyer"
    late = decide(event(**{"return.reason": "packaging_damaged"}), as_of=datetime(2027, 1, 5, tzinfo=UTC))
    assert not late.eligible and "packaging_damage_not_quality_problem" in codes(late)


def test_domestic_damaged_packaging_counts_as_damage_in_transit_paid_by_the_merchant():
    """Seed 000, seed 003: damage in transit is the merchant's, claimed from the carrier."""
    d = decide(event(**{"order.ship_from.country": "DE", "return.reason": "packaging_damaged"}))
    assert d.return_shipping_payer == "merchant" and d.fees.carrier_claim


def test_brazil_supplier_pays_return_freight_on_withdrawal():
    """CDC art. 49; STJ REsp 1.340.604/RJ."""
    ev = event(
        **{
            "order.ship_to.country": "BR",
            "order.currency": "BRL",
            "order.buyer.timezone": None,
            "occurred_at": "2026-11-05T10:00:00-03:00",
        }
    )
    d = decide(ev)
    assert d.right == "br_withdrawal" and d.return_shipping_payer == "merchant"
    assert d.refund.original_delivery.amount == Decimal("4.99")


def test_wrong_item_makes_the_merchant_pay_and_a_small_compensation_customary():
    """Seed 003; seed 002 FAQ 4."""
    d = decide(event(**{"return.reason": "wrong_item"}))
    assert d.return_shipping_payer == "merchant" and "compensation_customary" in codes(d)


def test_exchange_for_a_personal_reason_makes_the_buyer_pay_the_new_item_shipping():
    """Seed 001 §2.3."""
    d = decide(event(**{"return.resolution": "exchange"}))
    assert d.fees.new_item_leg == "buyer"


def test_exchange_for_a_defect_makes_the_merchant_pay_both_ways():
    """Seed 002 §3(2) 换货/维修 承担往返运费."""
    d = decide(event(**{"return.resolution": "exchange", "return.reason": "defective"}))
    assert d.fees.new_item_leg == "merchant" and d.fees.return_leg == "merchant"


def test_return_shipping_insurance_covers_the_buyer_share():
    """Seed 004 (运费险)."""
    assert decide(event(**{"return.shipping_insurance": True})).fees.insurance_covers_return_leg


def test_refund_only_before_delivery_must_be_answered_within_24_hours():
    """Seed 002 §1 (未发货仅退款: agree within 24 h); seed 004 §3.3 refund everything paid."""
    d = decide(event(**{"order.delivered_at": None, "return.resolution": "refund_only"}))
    assert d.right == "before_delivery"
    assert d.deadlines["merchant_response_due_by"] == datetime(2026, 11, 11, 8, 30, tzinfo=UTC)
    assert d.refund.amount.amount == Decimal("54.89")


def test_merchant_response_is_due_three_working_days_later_on_the_merchant_calendar():
    """Seed 001 §4.2.2, seed 003; CN calendar: requested Tue 2025-09-30 -> Golden Week -> Sat 2025-10-11 (调休)."""
    ev = event(**{"occurred_at": "2025-09-30T02:00:00+00:00", "order.delivered_at": "2025-09-25T02:00:00+00:00"})
    due = decide(ev).deadlines["merchant_response_due_by"]
    assert due == datetime(2025, 10, 11, 16, 0, tzinfo=UTC)


def test_refund_deadline_is_the_earlier_of_the_legal_limit_and_the_seed_service_level():
    """EU art. 13(1) 14 days from notice vs seed 001 §4.2.3 five working days after inspection."""
    ev = event()
    requested = ev.occurred_at
    early = Milestones(
        requested, received_at=datetime(2026, 11, 12, tzinfo=UTC), inspected_at=datetime(2026, 11, 12, 10, tzinfo=UTC)
    )
    d = decide(ev, milestones=early)
    assert d.deadlines["refund_due_by"] == datetime(2026, 11, 19, 16, 0, tzinfo=UTC)
    late = Milestones(
        requested, received_at=datetime(2026, 11, 20, tzinfo=UTC), inspected_at=datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert decide(ev, milestones=late).deadlines["refund_due_by"] == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


def test_korean_refund_is_due_three_business_days_after_the_goods_are_back():
    """E-Commerce Act art. 18(2), on the merchant's (KR) calendar."""
    ev = event(
        **{
            "order.ship_to.country": "KR",
            "order.ship_from.country": "KR",
            "order.currency": "KRW",
            "order.shipping_paid": None,
            "items": [{"sku": "S", "quantity": 1, "unit_price": "30000"}],
        }
    )
    d = decide(ev, milestones=Milestones(ev.occurred_at, received_at=datetime(2025, 10, 2, 3, tzinfo=UTC)))
    assert d.deadlines["refund_due_by"] == datetime(2025, 10, 14, 15, 0, tzinfo=UTC)


def test_inspection_is_due_three_working_days_after_receipt():
    """Seed 000 (inspection within 1-3 working days)."""
    ev = event()
    d = decide(ev, milestones=Milestones(ev.occurred_at, received_at=datetime(2026, 11, 13, 3, tzinfo=UTC)))
    # CN merchant: Fri 11-13 -> Mon 16, Tue 17, Wed 18; end of day Shanghai.
    assert d.deadlines["inspection_due_by"] == datetime(2026, 11, 18, 16, 0, tzinfo=UTC)


def test_refund_is_shown_in_the_buyer_display_currency_with_the_rate_used():
    """Contract POST /policy/evaluate refund.display; Reg. (EC) 1103/97 art. 5 half-up."""
    d = decide(event(**{"order.buyer.display_currency": "JPY"}))
    assert d.to_json()["refund"]["display"] == {
        "currency": "JPY",
        "amount": "8920",
        "rate": "162.50",
        "rate_date": "2026-11-10",
        "source": "ECB",
    }


def test_display_currency_defaults_to_the_currency_of_the_ship_to_country():
    """Contract: canonical-event.schema.json buyer.display_currency default."""
    ev = event(**{"order.ship_to.country": "US", "order.currency": "USD"})
    d = decide(ev, marketplace="amazon")
    assert d.refund.display.converted.currency == "USD"


def test_refund_allocation_across_lines_never_loses_a_cent():
    """research §5.3 largest remainder: delivery split by line value, lines sum to the total."""
    d = decide(
        event(
            items=[
                {"sku": s, "quantity": 1, "unit_price": p} for s, p in [("A", "1.99"), ("B", "2.17"), ("C", "0.82")]
            ],
            **{"order.shipping_paid": "2.10"},
        )
    )
    assert sum(m.amount for _, m in d.refund.lines) == d.refund.amount.amount == Decimal("7.08")


def test_every_rule_in_the_trace_names_its_source():
    for reason in ("size_or_fit", "defective", "packaging_damaged", "wrong_item"):
        d = decide(event(**{"return.reason": reason, "order.buyer.display_currency": "JPY"}), marketplace="amazon")
        assert all(rule.source or rule.unsourced for rule in d.rules)


EU_14_DAYS = (14, "calendar")  # Directive 2011/83/EU art. 9(1); in Iceland, Liechtenstein and Norway through the EEA
# Each jurisdiction's statutory right to withdraw from a distance sale (period, unit), or None where the law
# gives none; written from the statutes, not read from config/policy, with the country's ISO 4217 currency.
STATUTORY_WITHDRAWAL: dict[str, tuple[tuple[int, str] | None, str]] = {
    **{country: (EU_14_DAYS, "EUR") for country in (
        "AT", "BE", "BG", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL",
        "PT", "SI", "SK",
    )},
    "CZ": (EU_14_DAYS, "CZK"), "DK": (EU_14_DAYS, "DKK"), "HU": (EU_14_DAYS, "HUF"), "PL": (EU_14_DAYS, "PLN"),
    "RO": (EU_14_DAYS, "RON"), "SE": (EU_14_DAYS, "SEK"),
    "IS": (EU_14_DAYS, "ISK"), "LI": (EU_14_DAYS, "CHF"), "NO": (EU_14_DAYS, "NOK"),
    "GB": ((14, "calendar"), "GBP"),  # Consumer Contracts Regulations 2013 reg. 30
    "TR": ((14, "calendar"), "TRY"),  # Law 6502 art. 48; Distance Contracts Regulation art. 9
    "BR": ((7, "calendar"), "BRL"),  # Código de Defesa do Consumidor art. 49
    "CN": ((7, "calendar"), "CNY"),  # 消费者权益保护法 art. 25
    "KR": ((7, "calendar"), "KRW"),  # 전자상거래법 art. 17(1)
    "RU": ((7, "calendar"), "RUB"),  # ЗоЗПП art. 26.1(4)
    "SA": ((7, "calendar"), "SAR"),  # E-Commerce Law 2019, Implementing Regulations
    "JP": ((8, "calendar"), "JPY"),  # 特定商取引法 art. 15-3, where the seller states no return policy
    "MX": ((5, "business"), "MXN"),  # LFPC art. 56, cinco días hábiles
    "AE": (None, "AED"), "AU": (None, "AUD"), "CA": (None, "CAD"), "CH": (None, "CHF"), "IN": (None, "INR"),
    "SG": (None, "SGD"), "US": (None, "USD"),
}  # fmt: skip


def test_every_jurisdiction_of_the_tables_has_its_statute_written_here():
    assert set(TABLES.jurisdictions) == set(STATUTORY_WITHDRAWAL)


@pytest.mark.parametrize(("country", "statute"), sorted(STATUTORY_WITHDRAWAL.items()))
def test_every_jurisdiction_grants_the_withdrawal_period_of_its_statute(country, statute):
    period, currency = statute
    ev = event(
        **{
            "order.ship_to.country": country,
            "order.currency": currency,
            "order.buyer.timezone": None,
            "order.shipping_paid": None,
            "occurred_at": "2026-11-03T12:00:00+00:00",
            "items": [{"sku": "S", "quantity": 1, "unit_price": "100"}],
        }
    )
    decision = decide(ev)
    d = decision.to_json()
    if period is None:
        assert d["basis"] is None and d["window"] is None
    else:
        assert (d["window"]["days"], d["window"]["unit"], d["window"]["jurisdiction"]) == (*period, country)
        assert d["eligible"] is True  # asked for the day after delivery: inside every statutory period
    assert d["return_shipping_payer"] in ("buyer", "merchant")
    assert decision.rules and all(rule.source or rule.unsourced for rule in decision.rules)
