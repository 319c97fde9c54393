from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.customs import CustomsFacts, customs_plan, expire_claims

ORDERED = datetime(2026, 3, 1, tzinfo=UTC)


def facts(buyer: str, merchant: str, **kw) -> CustomsFacts:
    return CustomsFacts(buyer_country=buyer, merchant_country=merchant, ordered_at=ORDERED, currency="EUR", **kw)


def test_goods_returning_to_the_eu_use_returned_goods_relief_within_three_years_of_export():
    exported = datetime(2026, 3, 2, tzinfo=UTC)
    plan = customs_plan(facts("US", "DE", exported_at=exported))
    assert plan.regime.code == "eu_returned_goods_relief" and "Art. 203" in plan.regime.basis
    [deadline] = plan.deadlines
    assert deadline.due_by == exported + timedelta(days=3 * 365) and deadline.estimated is False
    assert any("Returned goods" in d for d in plan.documents)


def test_a_return_inside_the_eu_needs_no_customs_plan():
    assert customs_plan(facts("FR", "DE")) is None


def test_us_goods_of_us_origin_have_no_time_limit_but_foreign_origin_goods_three_years():
    assert customs_plan(facts("CA", "US", origin_countries=("US",))).deadlines == ()
    plan = customs_plan(facts("CA", "US", origin_countries=("CN",)))
    assert plan.regime.code == "us_hts_9801_00_10"
    assert plan.deadlines[0].due_by == ORDERED + timedelta(days=3 * 365) and plan.deadlines[0].estimated


def test_uk_returns_use_uk_returned_goods_relief():
    assert customs_plan(facts("DE", "GB")).regime.code == "uk_returned_goods_relief"


def test_cn_import_return_must_be_applied_for_in_30_days_and_back_in_45_days_from_release():
    released = datetime(2026, 3, 5, tzinfo=UTC)
    plan = customs_plan(facts("CN", "DE", released_at=released))
    assert plan.regime.code == "cn_cbec_import_return"
    due = {d.name: d.due_by for d in plan.deadlines}
    assert due["cn_return_application"] == released + timedelta(days=30)
    assert due["cn_goods_back_in_bonded_area"] == released + timedelta(days=45)


def test_cn_export_return_is_duty_free_within_six_months_of_export():
    plan = customs_plan(facts("DE", "CN", exported_at=ORDERED))
    assert plan.regime.code == "cn_cbec_export_return"
    assert plan.deadlines[0].due_by == ORDERED + timedelta(days=183)


def test_duties_paid_in_the_eu_become_a_claim_due_within_ninety_days_of_import():
    released = datetime(2026, 3, 10, tzinfo=UTC)
    plan = customs_plan(facts("DE", "CN", released_at=released, duties_paid=Decimal("19.00")))
    [claim] = plan.claims
    assert claim.amount.amount == Decimal("19.00") and claim.status == "planned"
    assert claim.due_by == released + timedelta(days=90) and "148(3)" in claim.basis
    assert expire_claims(plan, released + timedelta(days=91)).claims[0].status == "expired"


def test_no_claim_without_duties_paid():
    assert customs_plan(facts("DE", "CN", duties_paid=Decimal("0"))).claims == ()
