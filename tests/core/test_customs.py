"""Customs plans from their sources: calendar periods ending at the end of the local day, claims per reason."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core.customs import (
    OVERPAYMENT,
    REJECTED,
    RETURNED,
    CustomsFacts,
    Period,
    claim_reason,
    customs_plan,
    expire_claims,
    recovery_rule,
)

ORDERED = datetime(2026, 3, 1, tzinfo=UTC)
BERLIN, SHANGHAI, NEW_YORK, LONDON = (ZoneInfo(z) for z in ("Europe/Berlin", "Asia/Shanghai", "America/New_York",
                                                            "Europe/London"))  # fmt: skip


def facts(buyer: str, merchant: str, **kw) -> CustomsFacts:
    return CustomsFacts(buyer_country=buyer, merchant_country=merchant, ordered_at=ORDERED, currency="EUR", **kw)


def end_of(day: str, zone: ZoneInfo) -> datetime:
    """The first instant after `day` ends in `zone`, as aware UTC."""
    return (datetime.fromisoformat(day).replace(tzinfo=zone) + timedelta(days=1)).astimezone(UTC)


def test_eu_relief_runs_three_calendar_years_to_the_end_of_the_same_day_in_the_member_state():
    """UCC Art. 203(1) "within a period of three years": exported 2 March 2026 in Germany, back by the end of
    2 March 2029 Berlin time; 1,095 days would have ended on 1 March 2029."""
    exported = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    plan = customs_plan(facts("US", "DE", exported_at=exported))
    assert plan.regime.code == "eu_returned_goods_relief" and "Art. 203(1)" in plan.regime.basis
    [deadline] = plan.deadlines
    assert deadline.due_by == end_of("2029-03-02", BERLIN) and deadline.estimated is False
    assert deadline.due_by > exported + timedelta(days=1095)
    assert any("Returned goods" in d for d in plan.documents)
    assert any("MRN" in d for d in plan.documents) and any("serial" in d for d in plan.documents)


def test_a_return_inside_the_eu_needs_no_customs_plan():
    assert customs_plan(facts("FR", "DE")) is None


def test_us_goods_of_us_origin_have_no_time_limit_but_foreign_origin_goods_three_calendar_years():
    assert customs_plan(facts("CA", "US", origin_countries=("US",))).deadlines == ()
    plan = customs_plan(facts("CA", "US", origin_countries=("CN",)))
    assert plan.regime.code == "us_hts_9801_00_10"
    # the order (1 March 00:00 UTC) was still 28 February in New York: the period counts from that local day
    assert plan.deadlines[0].due_by == end_of("2029-02-28", NEW_YORK) and plan.deadlines[0].estimated
    assert any("19 CFR 10.1(a)" in d for d in plan.documents)


def test_uk_returns_use_uk_returned_goods_relief_for_three_years():
    plan = customs_plan(facts("DE", "GB", exported_at=datetime(2028, 2, 29, 12, tzinfo=UTC)))
    assert plan.regime.code == "uk_returned_goods_relief"
    assert plan.deadlines[0].due_by == end_of("2031-02-28", LONDON)  # no 29 February in 2031


def test_cn_import_return_must_be_applied_for_in_30_days_and_back_in_45_days_from_release():
    released = datetime(2026, 3, 5, 20, 0, tzinfo=UTC)  # 6 March, 04:00 in China
    plan = customs_plan(facts("CN", "DE", released_at=released))
    assert plan.regime.code == "cn_cbec_import_return"
    due = {d.name: d.due_by for d in plan.deadlines}
    assert due["cn_return_application"] == end_of("2026-04-05", SHANGHAI)
    assert due["cn_goods_back_in_bonded_area"] == end_of("2026-04-20", SHANGHAI)


def test_cn_export_return_is_duty_free_for_six_calendar_months_from_export():
    """Announcement 2026 No. 16: "自出口之日起6个月内": exported 31 August, back by the end of 28 February."""
    exported = datetime(2026, 8, 31, 3, 0, tzinfo=UTC)
    plan = customs_plan(facts("DE", "CN", exported_at=exported))
    assert plan.regime.code == "cn_cbec_export_return" and "2026 No. 16" in plan.regime.basis
    assert plan.deadlines[0].due_by == end_of("2027-02-28", SHANGHAI)
    assert any("rebate" in d for d in plan.documents) and any("1210/9610/9710/9810" in d for d in plan.documents)


@pytest.mark.parametrize(
    ("exported", "covered"),
    [("2023-06-01", True), ("2024-01-29", True), ("2024-06-01", False), ("2025-12-31", False),
     ("2026-01-01", True), ("2027-12-31", True), ("2028-01-01", False)],
)  # fmt: skip
def test_the_china_relief_covers_only_exports_in_its_announced_periods(exported: str, covered: bool):
    """2023 No. 4 covered exports from 30 Jan 2023 for one year; 2026 No. 16 covers 2026-01-01 to 2027-12-31."""
    plan = customs_plan(facts("DE", "CN", exported_at=datetime.fromisoformat(exported).replace(hour=4, tzinfo=UTC)))
    assert (plan.regime.code == "cn_cbec_export_return") is covered
    if not covered:
        assert plan.regime.code == "no_known_relief"
        assert any("announced periods" in w and "2026 No. 16" in w for w in plan.warnings)


def test_a_changed_mind_return_from_the_eu_is_an_invalidation_within_ninety_days():
    released = datetime(2026, 3, 10, 9, tzinfo=UTC)
    plan = customs_plan(facts("DE", "CN", released_at=released, duties_paid=Decimal("19.00"),
                              return_reason="changed_mind"))  # fmt: skip
    [claim] = plan.claims
    assert claim.reason == RETURNED and claim.amount.amount == Decimal("19.00") and claim.status == "planned"
    assert claim.due_by == end_of("2026-06-08", BERLIN) and "148(3)" in claim.basis
    assert expire_claims(plan, claim.due_by - timedelta(seconds=1)).claims[0].status == "planned"
    assert expire_claims(plan, claim.due_by).claims[0].status == "expired"


def test_a_defective_return_from_the_eu_is_a_rejected_goods_claim_within_one_year():
    released = datetime(2026, 3, 10, 9, tzinfo=UTC)
    plan = customs_plan(facts("DE", "CN", released_at=released, duties_paid=Decimal("19.00"),
                              return_reason="defective"))  # fmt: skip
    [claim] = plan.claims
    assert claim.reason == REJECTED and "Art. 118" in claim.basis
    assert claim.due_by == end_of("2027-03-10", BERLIN)


def test_uk_rejected_imports_have_one_year_not_three():
    plan = customs_plan(facts("GB", "CN", released_at=datetime(2026, 3, 10, 9, tzinfo=UTC),
                              duties_paid=Decimal("12.00"), return_reason="not_as_described"))  # fmt: skip
    [claim] = plan.claims
    assert claim.reason == REJECTED and claim.due_by == end_of("2027-03-10", LONDON)
    assert "Rejected imports" in claim.basis


def test_a_change_of_mind_return_from_the_uk_plans_no_claim_and_says_why():
    plan = customs_plan(facts("GB", "CN", duties_paid=Decimal("12.00"), return_reason="changed_mind"))
    assert plan.claims == ()
    assert any("no route to recover duty for returned goods leaving GB" in w for w in plan.warnings)


def test_each_reason_has_its_own_route_and_limit():
    assert claim_reason("wrong_item") == REJECTED and claim_reason("size_or_fit") == RETURNED
    assert (
        recovery_rule("EU", OVERPAYMENT).period == Period(years=3)
        and "Art. 117" in recovery_rule("EU", OVERPAYMENT).basis
    )
    assert recovery_rule("GB", OVERPAYMENT).period == Period(years=3)
    assert recovery_rule("US", REJECTED).period == Period(years=5)


def test_no_claim_without_duties_paid():
    assert customs_plan(facts("DE", "CN", duties_paid=Decimal("0"))).claims == ()


def test_periods_are_calendar_periods():
    assert Period(months=6).last_day(datetime(2026, 8, 31).date()).isoformat() == "2027-02-28"
    assert Period(years=3).last_day(datetime(2024, 2, 29).date()).isoformat() == "2027-02-28"
    assert Period(days=90).last_day(datetime(2026, 3, 10).date()).isoformat() == "2026-06-08"
    assert str(Period(years=3)) == "3 years"


def test_the_tables_are_the_sources_facts():
    """Every period in core/customs.py is the one tests/fixtures/official/customs/facts.json quotes."""
    import json
    from datetime import date
    from pathlib import Path

    from core.customs import CN_IMPORT_APPLY, CN_IMPORT_RETURN, RECOVERY, REENTRY

    facts_file = Path(__file__).parents[1] / "fixtures" / "official" / "customs" / "facts.json"
    source = json.loads(facts_file.read_text())
    for area, fact in source["reentry"].items():
        regime = REENTRY[area]
        assert regime.period == (Period(**fact["period"]) if fact["period"] else None), area
        assert regime.counted_from == fact["counted_from"]
        windows = [(w.first_export_day, w.last_export_day) for w in regime.windows]
        assert windows == [(date.fromisoformat(a), date.fromisoformat(b)) for a, b, _ in fact.get("windows", [])]
    cn = source["cn_import_return"]
    assert Period(**cn["apply"]) == CN_IMPORT_APPLY and CN_IMPORT_RETURN.period == Period(**cn["goods_back"])
    assert {a: set(r) for a, r in RECOVERY.items()} == {a: set(r) for a, r in source["recovery"].items()}
    for area, rules in source["recovery"].items():
        for reason, fact in rules.items():
            assert RECOVERY[area][reason].period == Period(**fact["period"]), (area, reason)
