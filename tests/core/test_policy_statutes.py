"""The policy read against the statutes: one row per jurisdiction, written from the law, not from our tables.

Each row below restates what the statute says (the citation is in the row) and the tests drive the
engine the way a buyer's request would: a canonical `return.requested` event with `as_of`. Expected
dates are worked out by hand from the statute's counting rule and the country's official calendar
(rest days, public holidays, China's make-up working days); none is read from config/policy/.

Issue 14 items: 1 (CN roll-forward), 2 (alcohol), 3 (per-state guarantees), 4 (EEA, unknown
countries), 5 (KR, SG), 6 (remedies), 7 (arts 9, 10, 14(1)), 9 (UK proof of sending, slewo, BR, JP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from adapters.calendars import HolidaysCalendars
from config.policy_tables import default_policy_tables
from core.policy import Milestones, evaluate
from tests.core.policy_fixtures import FixedRates, event

TABLES = default_policy_tables()
CALENDARS = HolidaysCalendars()
RATES = FixedRates({("EUR", "CNY"): "7.8100", ("CNY", "EUR"): "0.1281", ("EUR", "USD"): "1.0990"})


@dataclass(frozen=True)
class Statute:
    """What one country's law says about a distance sale of goods, as its statute words it."""

    cite: str
    zone: str
    currency: str
    days: int | None  # the no-reason withdrawal period; None: the law gives none
    unit: str = "calendar"
    counts_delivery_day: bool = False
    # (delivered on, last day): a period whose last day is a rest day or holiday of that country
    rest_day: tuple[str, str] | None = None
    excluded: str | None = None  # a category the statute always excludes
    kept: tuple[str, ...] = ()  # categories (opened) the statute does NOT exclude
    payer: str | None = None  # who bears the direct cost of sending the goods back after a withdrawal
    payer_uninformed: str | None = None  # ... when the trader did not say so (EU art. 6(6), 14(1))
    refund: tuple[str, str] | None = (
        None  # (what starts it: notice | goods, last day) for a 10 Nov notice / 12 Nov goods
    )
    # Money back for a defect at day 40 from delivery: True (a first remedy), False (repair/exchange first)
    refund_at_day_40: bool | None = None
    extension_months: int | None = None  # withdrawal information missing


def eu(zone: str, currency: str = "EUR", rest_day: tuple[str, str] = ("2026-11-15", "2026-11-30")) -> Statute:
    """Directive 2011/83/EU: art. 9 (14 days from receipt), Reg. 1182/71 art. 3(1), 3(4) (the day of the event
    not counted; a last day that is a Saturday, Sunday or public holiday runs to the next working day), art. 16
    (exclusions), art. 14(1), 6(6) (the consumer pays the return only if informed), art. 13(1) (refund within 14
    days of the notice), art. 10(1) (+12 months), Directive (EU) 2019/771 art. 13 (repair or replacement first)."""
    return Statute(
        "Directive 2011/83/EU; Reg. 1182/71 art. 3; Directive (EU) 2019/771 art. 13",
        zone,
        currency,
        14,
        rest_day=rest_day,
        excluded="custom_made",
        kept=("alcohol", "personal_care"),
        payer="buyer",
        payer_uninformed="merchant",
        refund=("notice", "2026-11-24"),
        refund_at_day_40=False,
        extension_months=12,
    )


STATUTES: dict[str, Statute] = {
    "AT": eu("Europe/Vienna"),
    "BE": eu("Europe/Brussels"),
    "BG": eu("Europe/Sofia"),
    "HR": eu("Europe/Zagreb"),
    "CY": eu("Asia/Nicosia"),
    "CZ": eu("Europe/Prague", "CZK"),
    "DK": eu("Europe/Copenhagen", "DKK"),
    "EE": eu("Europe/Tallinn"),
    "FI": eu("Europe/Helsinki"),
    "FR": eu("Europe/Paris"),
    "DE": eu("Europe/Berlin"),
    "GR": eu("Europe/Athens"),
    "HU": eu("Europe/Budapest", "HUF"),
    "IE": eu("Europe/Dublin"),
    "IT": eu("Europe/Rome"),
    "LV": eu("Europe/Riga"),
    "LT": eu("Europe/Vilnius"),
    "LU": eu("Europe/Luxembourg"),
    "MT": eu("Europe/Malta"),
    "NL": eu("Europe/Amsterdam"),
    "PL": eu("Europe/Warsaw", "PLN"),
    "PT": eu("Europe/Lisbon"),
    # Romania: Sunday 29 November, then St Andrew (30 Nov) and National Day (1 Dec) are public holidays.
    "RO": eu("Europe/Bucharest", "RON", rest_day=("2026-11-15", "2026-12-02")),
    "SK": eu("Europe/Bratislava"),
    "SI": eu("Europe/Ljubljana"),
    "ES": eu("Europe/Madrid"),
    "SE": eu("Europe/Stockholm", "SEK"),
    # EEA: the Directive applies through the EEA Agreement (Annex XIX).
    "IS": eu("Atlantic/Reykjavik", "ISK"),
    "LI": eu("Europe/Vaduz", "CHF"),
    # Angrerettloven § 21 (14 days), Norway's own calendar: Ascension Day, Thursday 14 May 2026.
    "NO": eu("Europe/Oslo", "NOK", rest_day=("2026-04-30", "2026-05-15")),
    "GB": Statute(
        "SI 2013/3134 reg. 29-31 (no rest-day extension), 28, 34(5)-(6), 35(2); Consumer Rights Act 2015 s. 22-24",
        "Europe/London",
        "GBP",
        14,
        rest_day=("2026-11-15", "2026-11-29"),
        excluded="custom_made",
        kept=("personal_care",),
        payer="buyer",
        payer_uninformed="merchant",
        refund=("goods", "2026-11-26"),
        refund_at_day_40=False,
        extension_months=12,
    ),
    # 消费者权益保护法 art. 25 (7 days from receipt, 定作 excluded, consumer pays the freight, refund within 7 days
    # of receiving the goods back), art. 24 (退货 within 7 days, then 更换/修理); 民法典 art. 201, 203.
    # Golden Week 2026: 1-7 October off; the period ending on Saturday 3 October runs to Thursday 8 October.
    "CN": Statute(
        "消费者权益保护法 art. 24-25; 民法典 art. 201, 203",
        "Asia/Shanghai",
        "CNY",
        7,
        rest_day=("2026-09-26", "2026-10-08"),
        excluded="custom_made",
        payer="buyer",
        payer_uninformed="buyer",
        refund=("goods", "2026-11-19"),
        refund_at_day_40=False,
    ),
    # E-Commerce Act art. 17(1) (7 days), 17(2) (made-to-order excluded), 18(2) (3 business days after the goods are
    # back), 18(9) (consumer pays); Civil Act art. 161 (a last day on a Saturday or holiday runs to the next day):
    # Chuseok 24-26 September 2026. Civil Act art. 580-582 / E-Commerce Act art. 17(3): rescission for a defect.
    "KR": Statute(
        "E-Commerce Act art. 17-18; Civil Act art. 161, 580-582",
        "Asia/Seoul",
        "KRW",
        7,
        rest_day=("2026-09-17", "2026-09-28"),
        excluded="custom_made",
        payer="buyer",
        payer_uninformed="buyer",
        refund=("goods", "2026-11-17"),
        refund_at_day_40=True,
    ),
    # 特定商取引法 art. 15-3: 8 days counted from (including) the day of delivery; return cost on the buyer.
    # Civil Code art. 562-564: 追完 (repair/replacement) before reduction or termination.
    "JP": Statute(
        "特定商取引法 art. 15-3; 民法 art. 562-564, 566",
        "Asia/Tokyo",
        "JPY",
        8,
        counts_delivery_day=True,
        kept=("custom_made",),
        payer="buyer",
        payer_uninformed="buyer",
        refund_at_day_40=False,
    ),
    # CDC art. 49 (7 days from receipt, no exclusions, supplier bears the cost, immediate refund); Código Civil art.
    # 132 §1 (a period ending on a holiday runs to the next working day): Finados, Monday 2 November 2026.
    "BR": Statute(
        "CDC art. 18, 26, 49; Código Civil art. 132 §1",
        "America/Sao_Paulo",
        "BRL",
        7,
        rest_day=("2026-10-26", "2026-11-03"),
        kept=("custom_made",),
        payer="merchant",
        payer_uninformed="merchant",
        refund_at_day_40=False,
    ),
    # LFPC art. 56: five working days (días hábiles) from delivery; freight and insurance on the consumer.
    "MX": Statute("LFPC art. 56", "America/Mexico_City", "MXN", 5, unit="business", payer="buyer"),
    # Law 6502 art. 48/4 and Distance Contracts Reg. m.9, m.12 (refund within 14 days of the notice), m.15.
    # Law 6502 art. 11 (dönme: withdrawal from the contract is a first choice for defective goods).
    "TR": Statute(
        "Law 6502 art. 11, 48; Mesafeli Sözleşmeler Yönetmeliği m.9, m.12, m.15",
        "Europe/Istanbul",
        "TRY",
        14,
        excluded="custom_made",
        refund=("notice", "2026-11-24"),
        refund_at_day_40=True,
    ),
    # ZoZPP art. 26.1(4) (7 days; refund within 10 days of the demand); Civil Code art. 193: the January holidays.
    # ZoZPP art. 18(1): a refund is among the consumer's first choices for a defect.
    "RU": Statute(
        "ZoZPP art. 18, 26.1; Civil Code art. 191, 193",
        "Europe/Moscow",
        "RUB",
        7,
        rest_day=("2025-12-28", "2026-01-12"),
        excluded="custom_made",
        payer="buyer",
        payer_uninformed="buyer",
        refund=("notice", "2026-11-20"),
        refund_at_day_40=True,
    ),
    "SA": Statute("E-Commerce Law 2019 (7 days from receipt)", "Asia/Riyadh", "SAR", 7, excluded="custom_made"),
    "AE": Statute("Federal Law 15/2020: no change-of-mind right", "Asia/Dubai", "AED", None),
    "US": Statute("16 CFR 429 excludes online sales", "America/New_York", "USD", None),
    "CA": Statute("no general withdrawal right for online sales", "America/Toronto", "CAD", None),
    "AU": Statute("ACL: no refund for change of mind", "Australia/Sydney", "AUD", None),
    "CH": Statute("CO art. 40a-40f: doorstep and phone sales only", "Europe/Zurich", "CHF", None),
    "IN": Statute("Consumer Protection (E-Commerce) Rules 2020: no window", "Asia/Kolkata", "INR", None),
    # CPFTA s. 12C-12D: repair or replacement first, then reduction or rescission.
    "SG": Statute("CPFTA s. 12B-12D", "Asia/Singapore", "SGD", None, refund_at_day_40=False),
}


def test_every_jurisdiction_the_engine_knows_has_a_row_from_its_statute():
    assert set(STATUTES) == set(TABLES.jurisdictions)


def local(day: str, zone: str, hour: int = 12) -> datetime:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone)).replace(hour=hour)


def request(country: str, delivered: datetime, asked: datetime, **changes):
    law = STATUTES[country]
    return event(
        **{
            "order.ship_to.country": country,
            "order.currency": law.currency,
            "order.buyer.timezone": law.zone,
            "order.delivered_at": delivered.isoformat(),
            "occurred_at": asked.isoformat(),
            # whole amounts: valid in every currency's minor unit (JPY, KRW, ISK have none)
            "order.shipping_paid": "5",
            "items": [{"sku": "S", "quantity": 1, "unit_price": "100"}],
            **changes,
        }
    )


def decide(ev, as_of=None, **kwargs):
    return evaluate(ev, TABLES, as_of, CALENDARS, RATES, **kwargs)


def codes(decision):
    return {r.code for r in decision.reasons}


WITH_WITHDRAWAL = sorted(c for c, law in STATUTES.items() if law.days)


@pytest.mark.parametrize("country", WITH_WITHDRAWAL)
def test_window_length_and_start(country):
    """Delivered Wednesday 18 November 2026: the period runs from the next day (JP: that day) for its length."""
    law = STATUTES[country]
    delivered = local("2026-11-18", law.zone)
    d = decide(request(country, delivered, delivered + timedelta(hours=2)))
    assert d.eligible and d.basis == "statutory_withdrawal", law.cite
    if law.unit == "business":  # MX: Thu 19, Fri 20, Mon 23, Tue 24, Wed 25
        expected = date(2026, 11, 25)
    else:
        expected = date(2026, 11, 18) + timedelta(days=law.days - 1 if law.counts_delivery_day else law.days)
    assert d.window.last_day == expected, law.cite
    first = date(2026, 11, 18) if law.counts_delivery_day else date(2026, 11, 19)
    assert d.window.starts_at == local(first.isoformat(), law.zone, 0).astimezone(UTC)
    assert d.window.ends_at == local((expected + timedelta(days=1)).isoformat(), law.zone, 0).astimezone(UTC)
    assert d.to_json()["window"]["last_day"] == expected.isoformat()
    closed = decide(request(country, delivered, delivered), as_of=d.window.ends_at)
    assert not closed.eligible and "window_closed" in codes(closed)


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.rest_day))
def test_a_period_ending_on_a_rest_day_follows_that_countrys_law_and_calendar(country):
    """EU/EEA Reg. 1182/71 art. 3(4); NO domstolloven § 149(1) by analogy; CN 民法典 art. 203; KR Civil Act art. 161; BR CC art. 132 §1;
    RU CC art. 193 extend to the next working day of the buyer's country; the UK's CCR reg. 29-31 do not."""
    law = STATUTES[country]
    delivered_on, last_day = law.rest_day
    delivered = local(delivered_on, law.zone)
    d = decide(request(country, delivered, delivered + timedelta(hours=1)))
    assert d.window.last_day == date.fromisoformat(last_day), law.cite
    on_last_day = local(last_day, law.zone, 23)
    assert decide(request(country, delivered, on_last_day)).eligible


def test_china_make_up_working_days_are_not_rest_days():
    """民法典 art. 203 extends only over 法定休假日: Saturday 10 October and 14 February 2026 are 调休 working days."""
    golden_week = decide(request("CN", local("2026-10-03", "Asia/Shanghai"), local("2026-10-04", "Asia/Shanghai")))
    assert golden_week.window.last_day == date(2026, 10, 10)
    spring = decide(request("CN", local("2026-02-07", "Asia/Shanghai"), local("2026-02-08", "Asia/Shanghai")))
    assert spring.window.last_day == date(2026, 2, 14)
    festival = decide(request("CN", local("2026-02-10", "Asia/Shanghai"), local("2026-02-11", "Asia/Shanghai")))
    assert festival.window.last_day == date(2026, 2, 24), "17 Feb is Spring Festival; off until Mon 23 Feb"


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.excluded or law.kept))
def test_exclusions_are_those_of_the_statute(country):
    law = STATUTES[country]
    delivered = local("2026-11-18", law.zone)

    def line(category):
        item = {"sku": "X", "quantity": 1, "unit_price": "100", "category": category, "condition": {"opened": True}}
        return decide(request(country, delivered, delivered + timedelta(days=1), items=[item]))

    if law.excluded:
        excluded = line(law.excluded)
        assert not excluded.eligible and "excluded_category" in codes(excluded), law.cite
    for category in law.kept:
        assert line(category).eligible, f"{category}: {law.cite}"


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.payer))
def test_who_pays_the_return_after_a_withdrawal(country):
    law = STATUTES[country]
    delivered = local("2026-11-18", law.zone)
    informed = decide(request(country, delivered, delivered + timedelta(days=1)))
    assert informed.return_shipping_payer == law.payer, law.cite
    if law.payer_uninformed:
        uninformed = decide(
            request(country, delivered, delivered + timedelta(days=1), **{"order.withdrawal_information_given": False})
        )
        assert uninformed.return_shipping_payer == law.payer_uninformed, law.cite


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.extension_months))
def test_missing_withdrawal_information_extends_the_window_by_twelve_months(country):
    """Directive 2011/83/EU art. 10(1); SI 2013/3134 reg. 31; angrerettloven § 21: 12 months after the initial end."""
    law = STATUTES[country]
    delivered = local("2026-11-18", law.zone)
    late = local("2027-06-01", law.zone)
    informed = decide(request(country, delivered, late))
    assert not informed.eligible
    d = decide(request(country, delivered, late, **{"order.withdrawal_information_given": False}))
    assert d.eligible and d.basis == "statutory_withdrawal", law.cite
    assert d.window.last_day == date(2027, 12, 2)  # initial last day 2 December 2026 + 12 months, a Thursday
    assert d.window.to_json()["extended_by_months"] == 12
    assert any(r.rule == "withdrawal_information_missing" for r in d.rules)


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.refund))
def test_refund_deadline_of_the_statute(country):
    """Withdrawal notice on Tuesday 10 November, goods back on Thursday 12 November (each at noon local)."""
    law = STATUTES[country]
    starts, last_day = law.refund
    stones = Milestones(
        requested_at=local("2026-11-10", law.zone),
        received_at=local("2026-11-12", law.zone) if starts == "goods" else None,
    )
    delivered = local("2026-11-05", law.zone)
    d = decide(request(country, delivered, stones.requested_at), milestones=stones)
    assert d.last_days["refund_due_by"] == date.fromisoformat(last_day), law.cite
    assert d.to_json()["last_days"]["refund_due_by"] == last_day


def test_uk_refund_runs_from_evidence_of_sending_when_that_comes_first():
    """SI 2013/3134 reg. 34(5)-(6): 14 days after the goods come back or, if earlier, after proof of sending."""
    zone = "Europe/London"
    stones = Milestones(requested_at=local("2026-11-10", zone), shipped_at=local("2026-11-11", zone), received_at=None)
    d = decide(request("GB", local("2026-11-05", zone), stones.requested_at), milestones=stones)
    assert d.last_days["refund_due_by"] == date(2026, 11, 25)
    later = Milestones(
        requested_at=stones.requested_at, shipped_at=stones.shipped_at, received_at=local("2026-11-20", zone)
    )
    assert decide(request("GB", local("2026-11-05", zone), stones.requested_at), milestones=later).last_days[
        "refund_due_by"
    ] == date(2026, 11, 25)


@pytest.mark.parametrize("country", sorted(c for c, law in STATUTES.items() if law.refund_at_day_40 is not None))
def test_remedies_for_a_defect_forty_days_after_delivery(country):
    """EU 2019/771 art. 13, UK CRA s. 22-24, PRC CRPL art. 24, JP 民法 art. 562-564, BR CDC art. 18, SG CPFTA
    s. 12C-12D: repair or exchange first; KR Civil Act art. 580 / E-Commerce Act art. 17(3), TR Law 6502 art. 11,
    RU ZoZPP art. 18: money back is a first choice."""
    law = STATUTES[country]
    delivered = local("2026-11-02", law.zone)
    asked = delivered + timedelta(days=40)
    defect = {"return.reason": "defective", "return.defect_discovered_at": (asked - timedelta(days=1)).isoformat()}
    refund = decide(request(country, delivered, asked, **defect))
    assert refund.eligible is law.refund_at_day_40, law.cite
    if not law.refund_at_day_40:
        assert refund.basis is None and "repair" in refund.alternatives, law.cite
        assert "resolution_not_granted" in codes(refund)
        repair = decide(request(country, delivered, asked, **defect, **{"return.resolution": "repair"}))
        assert repair.eligible and repair.basis == "statutory_guarantee", law.cite
        assert repair.return_shipping_payer == "merchant"


def test_uk_short_term_right_to_reject_gives_money_back_for_thirty_days():
    """Consumer Rights Act 2015 s. 22(3): 30 days from delivery, after the 14-day cancellation period closed."""
    zone = "Europe/London"
    delivered = local("2026-11-02", zone)
    d = decide(request("GB", delivered, delivered + timedelta(days=25), **{"return.reason": "defective"}))
    assert d.eligible and d.basis == "statutory_guarantee" and d.right == "legal_guarantee"


def test_china_refund_for_a_defect_within_seven_days_and_exchange_after():
    """消费者权益保护法 art. 24: 七日内退货; 七日后 更换、修理."""
    zone = "Asia/Shanghai"
    delivered = local("2026-11-02", zone)
    defect = {"return.reason": "defective"}
    late = decide(request("CN", delivered, delivered + timedelta(days=10), **defect))
    assert not late.eligible and late.alternatives[:2] == ("exchange", "repair")
    exchange = decide(
        request("CN", delivered, delivered + timedelta(days=10), **defect, **{"return.resolution": "exchange"})
    )
    assert exchange.eligible and exchange.basis == "statutory_guarantee"


@pytest.mark.parametrize(
    ("country", "months_later", "open_"),
    [
        ("DE", 25, False),  # Directive (EU) 2019/771 art. 10(1): two years
        ("SE", 30, True),  # Konsumentköplag (2022:260) 5 kap.: three years
        ("PT", 30, True),  # DL 84/2021 art. 12(1): three years
        ("PT", 37, False),
        ("IE", 60, True),  # Statute of Limitations 1957 s. 11: six years
        ("NL", 48, True),  # BW 7:17: expected life, no fixed period
        ("GB", 60, True),  # Limitation Act 1980 s. 5: six years
        ("SG", 12, True),  # Limitation Act s. 6; CPFTA s. 12B(3) six months is a presumption, not a limit
        ("NO", 25, False),  # forbrukerkjøpsloven § 27: two years (five for durable goods, not modelled)
    ],
)
def test_legal_guarantee_period_per_state(country, months_later, open_):
    law = STATUTES[country]
    delivered = local("2026-01-15", law.zone)
    asked = local(f"{2026 + (months_later // 12)}-{1 + months_later % 12:02d}-15", law.zone)
    d = decide(request(country, delivered, asked, **{"return.reason": "defective", "return.resolution": "repair"}))
    assert d.eligible is open_, law.cite
    if not open_:
        assert "guarantee_expired" in codes(d)


def test_korea_warranty_runs_six_months_from_discovery():
    """Civil Act art. 582: six months from the buyer learning of the defect (not the E-Commerce Act's 3 months)."""
    zone = "Asia/Seoul"
    delivered = local("2026-01-05", zone)
    asked = local("2026-10-01", zone)  # nine months after delivery: art. 17(3) has closed
    known_early = {"return.reason": "defective", "return.defect_discovered_at": local("2026-03-01", zone).isoformat()}
    assert not decide(request("KR", delivered, asked, **known_early)).eligible
    known_late = {"return.reason": "defective", "return.defect_discovered_at": local("2026-08-01", zone).isoformat()}
    d = decide(request("KR", delivered, asked, **known_late))
    assert d.eligible and d.basis == "statutory_guarantee"
    assert d.window.last_day == date(2027, 2, 1)


def test_korea_misdescribed_goods_may_be_sent_back_for_three_months_at_the_sellers_cost():
    """E-Commerce Act art. 17(3), 18: 3 months from supply or 30 days from discovery; seller pays the return."""
    zone = "Asia/Seoul"
    delivered = local("2026-01-05", zone)
    d = decide(request("KR", delivered, local("2026-03-20", zone), **{"return.reason": "not_as_described"}))
    assert d.eligible and d.return_shipping_payer == "merchant"
    fault = next(r for r in d.rules if r.rule == "fault_withdrawal")
    assert fault.outcome == "open" and fault.detail["last_day"] == "2026-04-05" and "17(3)" in fault.source
    closed = decide(request("KR", delivered, local("2026-04-06", zone), **{"return.reason": "not_as_described"}))
    assert next(r for r in closed.rules if r.rule == "fault_withdrawal").outcome == "closed"


def test_japan_defect_period_runs_from_learning_of_it():
    """民法 art. 566: notice within one year of the buyer learning of the non-conformity."""
    zone = "Asia/Tokyo"
    delivered = local("2025-01-10", zone)
    asked = local("2026-11-20", zone)
    repair = {"return.reason": "defective", "return.resolution": "repair"}
    learned_recently = decide(
        request(
            "JP", delivered, asked, **repair, **{"return.defect_discovered_at": local("2026-06-01", zone).isoformat()}
        )
    )
    assert learned_recently.eligible and learned_recently.window.last_day == date(2027, 6, 1)
    learned_long_ago = decide(
        request(
            "JP", delivered, asked, **repair, **{"return.defect_discovered_at": local("2025-02-01", zone).isoformat()}
        )
    )
    assert not learned_long_ago.eligible and "guarantee_expired" in codes(learned_long_ago)


def test_japan_return_right_is_displaced_by_return_terms_the_seller_displayed():
    """特定商取引法 art. 15-3 (ただし書): the contract's `order.return_policy_displayed`."""
    zone = "Asia/Tokyo"
    delivered = local("2026-11-18", zone)
    assert decide(request("JP", delivered, delivered + timedelta(days=1))).eligible
    shown = decide(request("JP", delivered, delivered + timedelta(days=1), **{"order.return_policy_displayed": True}))
    assert not shown.eligible and "terms_displayed_no_statutory_right" in codes(shown)


def test_brazil_periods_are_per_line_and_hidden_defects_run_from_discovery():
    """CDC art. 26 I-II (30 days non-durable, 90 durable, per product), §1 (from delivery), §3 (hidden: from discovery)."""
    zone = "America/Sao_Paulo"
    delivered = local("2026-03-02", zone)
    asked = delivered + timedelta(days=50)
    items = [
        {"sku": "FOOD", "quantity": 1, "unit_price": "10.00", "category": "food"},
        {"sku": "FAN", "quantity": 1, "unit_price": "90.00", "category": "appliances"},
    ]
    d = decide(
        request("BR", delivered, asked, items=items, **{"return.reason": "defective", "return.resolution": "repair"})
    )
    # Contract `eligible` judges every line: the food's 30 days are over, so the request as asked is not granted;
    # the fan's line is (90 days), and the reasons name the food.
    assert not d.eligible and d.window.days == 90
    assert {"guarantee_expired_line", "line_not_granted"} <= codes(d)
    assert [(line["sku"], line["eligible"]) for line in d.to_json()["lines"]] == [("FOOD", False), ("FAN", True)]
    assert [sku for sku, _ in d.refund.lines] == ["FAN"]
    hidden = decide(
        request(
            "BR",
            delivered,
            asked,
            items=items[:1],
            **{
                "return.reason": "defective",
                "return.resolution": "repair",
                "return.defect_discovered_at": (asked - timedelta(days=5)).isoformat(),
            },
        )
    )
    assert hidden.eligible, "a hidden defect's 30 days run from discovery"


def test_ordinary_wine_keeps_the_fourteen_days_only_market_priced_futures_are_excluded():
    """Directive 2011/83/EU art. 16(g): only alcoholic beverages priced at conclusion, delivered after 30 days,
    whose value depends on market fluctuations (en primeur) are excluded."""
    delivered = local("2026-11-18", "Europe/Berlin")
    wine = {"sku": "RIESLING", "quantity": 6, "unit_price": "12.00", "category": "alcohol"}
    assert decide(request("DE", delivered, delivered + timedelta(days=2), items=[wine])).eligible
    futures = {**wine, "category": "alcohol_market_priced"}
    assert not decide(request("DE", delivered, delivered + timedelta(days=2), items=[futures])).eligible


def test_an_unsealed_mattress_is_not_excluded_but_unsealed_hygiene_goods_are():
    """Directive 2011/83/EU art. 16(e); CJEU C-681/17 slewo: unsealing alone does not exclude (a mattress)."""
    delivered = local("2026-11-18", "Europe/Berlin")
    opened = {"condition": {"opened": True}}
    mattress = {"sku": "MATTRESS", "quantity": 1, "unit_price": "399.00", "category": "personal_care", **opened}
    assert decide(request("DE", delivered, delivered + timedelta(days=2), items=[mattress])).eligible
    lipstick = {"sku": "LIP", "quantity": 1, "unit_price": "9.00", "category": "sealed_hygiene", **opened}
    assert not decide(request("DE", delivered, delivered + timedelta(days=2), items=[lipstick])).eligible


def test_digital_content_whose_supply_began_with_consent_cannot_be_withdrawn():
    """Directive 2011/83/EU art. 16(m): `items[].digital` with `items[].supply_started_with_consent`."""
    delivered = local("2026-11-18", "Europe/Berlin")
    ebook = {"sku": "EBOOK", "quantity": 1, "unit_price": "9.99", "digital": True}
    assert decide(request("DE", delivered, delivered + timedelta(days=2), items=[ebook])).eligible
    started = decide(
        request("DE", delivered, delivered + timedelta(days=2), items=[{**ebook, "supply_started_with_consent": True}])
    )
    assert not started.eligible and "digital_supply_started" in codes(started)


def test_several_parcels_start_the_window_at_the_last_one():
    """Directive 2011/83/EU art. 9(2)(b)(ii): goods of one order delivered separately: from the last."""
    zone = "Europe/Berlin"
    items = [
        {"sku": "A", "quantity": 1, "unit_price": "10.00", "delivered_at": local("2026-11-02", zone).isoformat()},
        {"sku": "B", "quantity": 1, "unit_price": "20.00", "delivered_at": local("2026-11-09", zone).isoformat()},
    ]
    d = decide(request("DE", local("2026-11-02", zone), local("2026-11-20", zone), items=items))
    assert d.eligible and d.window.last_day == date(2026, 11, 23)
    assert any(r.rule == "multi_parcel_start" and "9(2)(b)" in r.source for r in d.rules)


def test_an_unknown_country_says_so_rather_than_meaning_no_right():
    ev = event(**{"order.ship_to.country": "ZZ", "occurred_at": "2026-11-05T10:00:00+00:00"})
    d = decide(ev)
    assert not d.eligible and "unknown_jurisdiction" in codes(d)
    assert any(r["rule"] == "jurisdiction" and r["source"] is None and r["unsourced"] for r in d.to_json()["rules"])
    with_policy = decide(ev, marketplace="amazon")
    assert with_policy.eligible and with_policy.basis == "marketplace_policy"
    assert "unknown_jurisdiction" in codes(with_policy)


def test_a_rule_without_a_source_says_so_in_the_trace():
    """Saudi Arabia: no statute found on who pays a return; the trace gives `"source": null` and why."""
    zone = "Asia/Riyadh"
    delivered = local("2026-11-18", zone)
    d = decide(request("SA", delivered, delivered + timedelta(days=1))).to_json()
    payer = next(r for r in d["rules"] if r["rule"] == "withdrawal_return_shipping")
    assert payer["source"] is None and "no statute" in payer["unsourced"]
    assert all(r["source"] or r.get("unsourced") for r in d["rules"])


@pytest.mark.parametrize("country", [*sorted(STATUTES), "ZZ"])
def test_every_country_answers_every_resolution_in_the_contracts_terms(country):
    """Contract: `basis` is one of four values or null; eligible exactly when a basis grants the resolution."""
    from core.events import RESOLUTIONS
    from core.policy import BASES

    law = STATUTES.get(country) or Statute("none", "UTC", "EUR", None)
    delivered = local("2026-11-18", law.zone)
    for resolution in RESOLUTIONS:
        for reason in ("changed_mind", "defective"):
            changes = {"return.resolution": resolution, "return.reason": reason, "order.currency": law.currency}
            ev = (
                request(country, delivered, delivered + timedelta(days=3), **changes)
                if country != "ZZ"
                else event(**{"order.ship_to.country": "ZZ", **changes})
            )
            body = decide(ev, merchant="example-outdoor-shop", marketplace="amazon").to_json()
            assert body["basis"] in (*BASES, None)
            assert body["eligible"] == (body["basis"] is not None)
            assert resolution not in body["alternatives"]
            assert all(r["source"] or r["unsourced"] for r in body["rules"])
