from datetime import UTC, datetime

import pytest
from babel import Locale

from adapters.notifiers.local_formats import format_money
from adapters.notifiers.negotiation import CATALOGS, negotiate
from adapters.notifiers.notice_texts import NOTICE_TEXTS
from adapters.notifiers.render import render, render_notice
from core.notices import NOTICE_KINDS
from tests.notice_contexts import FULL_CONTEXTS, VARIANTS

ISSUED = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
FSI, PDI = "\u2068", "\u2069"


def rendered(kind, context, tag, zone="UTC", at=ISSUED):
    return render_notice(kind, context, tag, zone, at=at)


def test_every_notice_kind_has_words():
    assert set(NOTICE_TEXTS) == set(NOTICE_KINDS)


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize("kind", sorted(FULL_CONTEXTS))
def test_every_notice_renders_completely_in_every_locale(kind, catalog):
    notice = rendered(kind, FULL_CONTEXTS[kind], catalog.replace("_", "-"))
    english = rendered(kind, FULL_CONTEXTS[kind], "en")
    assert notice["kind"] == kind
    assert notice["subject"] and notice["body"]
    assert "%(" not in notice["subject"] + notice["body"]
    assert ".." not in notice["body"].replace("...", "")  # a date ending in "г." must not end a sentence too
    assert notice["incomplete"] == []
    assert notice["body"].count("\n\n") == english["body"].count("\n\n")  # same paragraphs shown
    if not catalog.startswith("en"):
        assert notice["subject"] != english["subject"]
        assert notice["body"] != english["body"]


@pytest.mark.parametrize("catalog", CATALOGS)
@pytest.mark.parametrize(("kind", "change"), VARIANTS)
def test_every_variant_paragraph_is_translated(kind, change, catalog):
    context = {**FULL_CONTEXTS[kind], **change}
    notice = rendered(kind, context, catalog.replace("_", "-"))
    english = rendered(kind, context, "en")
    assert "%(" not in notice["body"]
    assert ".." not in notice["body"]
    if not catalog.startswith("en"):
        for paragraph in notice["body"].split("\n\n"):
            assert paragraph not in english["body"].split("\n\n"), paragraph


def test_english_reads_as_written():
    notice = rendered("refund_paid", FULL_CONTEXTS["refund_paid"], "en-US", "America/New_York")
    assert notice["subject"] == "Your refund of €49.90 has been issued"
    assert notice["body"].splitlines()[0] == (
        "We issued a refund of €49.90 for your return RET-77 on December 3, 2026."
    )
    assert "Refunded to: Your original payment method" in notice["body"]


def test_a_deadline_is_shown_on_the_buyers_calendar_day_and_clock():
    context = FULL_CONTEXTS["return_approved"]  # ship by 2026-11-30 22:59 UTC
    berlin = rendered("return_approved", context, "de-DE", "Europe/Berlin")["body"]
    tokyo = rendered("return_approved", context, "ja-JP", "Asia/Tokyo")["body"]
    assert "bis zum 30. November 2026, 23:59 (MEZ) ab" in berlin
    assert "2026年12月1日 7:59 (JST)までに" in tokyo


def test_an_unknown_time_zone_shows_utc_rather_than_failing():
    notice = rendered("return_approved", FULL_CONTEXTS["return_approved"], "en", "Mars/Olympus")
    assert "November 30, 2026, 10:59\u202fPM (UTC)" in notice["body"]


@pytest.mark.parametrize(
    ("amount", "currency", "tag", "shown"),
    [
        ("49.90", "EUR", "de", "49,90\xa0€"),
        ("49.90", "EUR", "fr", "49,90\xa0€"),
        ("1234", "JPY", "ja", "￥1,234"),
        ("1234.5", "USD", "en", "$1,234.50"),
        ("12.345", "BHD", "en", "BHD12.345"),
        ("12.345", "IQD", "en", "IQD12.345"),  # ISO: 3 decimals, where CLDR says 0
        ("1234.5", "BRL", "pt-BR", "R$\xa01.234,50"),
        ("1234.5", "TRY", "tr", "₺1.234,50"),
        ("1234.5", "RUB", "ru", "1\xa0234,50\xa0₽"),
    ],
)
def test_amounts_use_cldr_patterns_with_iso_minor_units(amount, currency, tag, shown):
    locale = negotiate([tag]).locale
    assert format_money({"amount": amount, "currency": currency}, locale) == shown


def test_an_amount_with_more_decimals_than_the_currency_is_rounded_half_up_before_display():
    assert format_money({"amount": "2.345", "currency": "USD"}, Locale.parse("en")) == "$2.35"


def test_an_amount_that_is_not_money_is_shown_as_given():
    assert format_money({"amount": "lots", "currency": "EUR"}, Locale.parse("en")) == "lots EUR"


@pytest.mark.parametrize(
    ("tag", "ship_by", "expected"),
    [
        ("ru", "2026-11-28T12:00:00+00:00", "остался 1 день"),
        ("ru", "2026-11-29T12:00:00+00:00", "осталось 2 дня"),
        ("ru", "2026-12-02T12:00:00+00:00", "осталось 5 дней"),
        ("pl", "2026-11-28T12:00:00+00:00", "Został Ci 1 dzień"),
        ("pl", "2026-11-30T12:00:00+00:00", "Zostały Ci 3 dni"),
        ("pl", "2026-12-02T12:00:00+00:00", "Zostało Ci 5 dni"),
        ("ar", "2026-11-27T20:00:00+00:00", "لم يعد لديك أي يوم"),
        ("ar", "2026-11-29T12:00:00+00:00", "يومان"),
        ("ar", "2026-12-08T12:00:00+00:00", "11 يومًا"),
        ("fr", "2026-11-27T20:00:00+00:00", "Il vous reste 0 jour "),
        ("en", "2026-11-28T12:00:00+00:00", "You have 1 day left"),
        ("en", "2026-12-01T12:00:00+00:00", "You have 4 days left"),
        ("ja", "2026-12-01T12:00:00+00:00", "あと4日"),
    ],
)
def test_days_left_uses_each_languages_plural_forms(tag, ship_by, expected):
    notice = rendered("ship_by_reminder", {"return_id": "RET-77", "ship_by": ship_by}, tag)
    assert expected in notice["body"]


def test_arabic_is_right_to_left_with_latin_identifiers_isolated():
    notice = rendered("exchange_shipped", FULL_CONTEXTS["exchange_shipped"], "ar-SA", "Asia/Riyadh")
    assert notice["direction"] == "rtl"
    assert f"{FSI}ORD-1001{PDI}" in notice["subject"]
    assert f"{FSI}JD014600006101234567{PDI}" in notice["body"]
    assert f"{FSI}DHL Express{PDI}" in notice["body"]


def test_left_to_right_locales_get_no_isolates():
    notice = rendered("exchange_shipped", FULL_CONTEXTS["exchange_shipped"], "ja")
    assert notice["direction"] == "ltr"
    assert FSI not in notice["subject"] + notice["body"]


def test_a_notice_with_facts_missing_leaves_out_their_lines_and_says_what_is_missing():
    """A case recorded before all facts were known must still render (the GET route never fails)."""
    notice = rendered("return_approved", {"order_id": "ORD-1", "return_id": "RET-1"}, "de")
    assert notice["body"] == "Ihre Rücksendeanfrage RET-1 zur Bestellung ORD-1 wurde genehmigt."
    assert notice["incomplete"] == ["method", "ship_by"]


def test_a_subject_whose_fact_is_unknown_shows_a_dash():
    notice = rendered("refund_paid", {"return_id": "RET-1"}, "en")
    assert notice["subject"] == "Your refund of — has been issued"


def test_the_withdrawal_confirmation_states_the_refund_even_without_an_amount():
    context = {**FULL_CONTEXTS["withdrawal_confirmation"], "amount": None}
    body = rendered("withdrawal_confirmation", context, "de", "Europe/Berlin")["body"]
    assert "alle von Ihnen erhaltenen Zahlungen" in body
    assert "spätestens bis zum 5. Dezember 2026" in body
    assert "dauerhaften Datenträger" in body


def test_render_takes_a_negotiated_locale_and_zone_directly():
    from zoneinfo import ZoneInfo

    result = render(
        "return_received",
        FULL_CONTEXTS["return_received"],
        negotiate(["ko-KR"]),
        ZoneInfo("Asia/Seoul"),
        ISSUED,
    )
    assert result.locale == "ko-KR"
    assert "2026년 12월 2일" in result.body
