"""What a native reviewer of the catalogs checks, pinned: register, legal terms, plural forms, separators,
no automatic particle pairs, time zones by name, a word between date and time, unambiguous currency
symbols, American spelling for US buyers, and the fallbacks that are rules rather than accidents."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.messages.pofile import read_po

from adapters.notifiers import page_texts as T
from adapters.notifiers.catalogs import LOCALES_DIR, translations_for
from adapters.notifiers.local_formats import format_deadline, format_money
from adapters.notifiers.negotiation import CATALOGS, EXPLICIT_FALLBACKS, negotiate

DEADLINE = datetime(2026, 12, 7, 22, 59, tzinfo=UTC)


def strings(name: str) -> list[str]:
    with (LOCALES_DIR / name / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        catalog = read_po(fp, locale=name)
    found = []
    for message in catalog:
        if message.id:
            found.extend([message.string] if isinstance(message.string, str) else list(message.string))
    return found


def gettext(name: str):  # type: ignore[no-untyped-def]
    return translations_for((name, "en")).gettext


def test_french_puts_a_narrow_no_break_space_before_high_punctuation() -> None:
    wrong = [s for s in strings("fr") if re.search(r"[ \u00a0][:;?!]", s)]
    assert wrong == []
    assert gettext("fr")("Tracking number: %(tracking_number)s") == "Numéro de suivi\u202f: %(tracking_number)s"


def test_korean_has_no_automatic_particle_pairs_and_says_ojeon_ohu() -> None:
    assert [s for s in strings("ko") if re.search(r"\((?:이|가|을|를|은|는|으|과|와)\)", s)] == []
    shown = format_deadline(DEADLINE, ZoneInfo("Asia/Seoul"), Locale.parse("ko_KR"))
    assert "오전 7:59" in shown and "AM" not in shown


def test_polish_addresses_every_buyer_whatever_their_gender() -> None:
    gendered = [s for s in strings("pl") if re.search(r"\w(?:łeś|łaś|łbyś|łabyś)\b|\(a\)", s)]
    assert gendered == []


def test_russian_puts_no_colon_before_a_date_and_no_second_full_stop_after_g() -> None:
    assert [s for s in strings("ru") if re.search(r"(?:позднее|до):\s*%\(", s)] == []
    assert [s for s in strings("ru") if re.search(r"%\((?:day|expected_by|refund_due_by)\)s\.$", s)] == []


def test_arabic_uses_the_legal_term_for_withdrawal() -> None:
    texts = strings("ar")
    assert [s for s in texts if "انسحاب" in s] == []
    assert "عدولك عن العقد" in gettext("ar")("Confirmation of your withdrawal from order %(order_id)s")  # your العدول
    assert gettext("ar")(T.WITHDRAW_HERE) == "العدول عن العقد من هنا"


@pytest.mark.parametrize(
    ("catalog", "withdraw_here", "confirm"),
    [
        ("de", "Vertrag hier widerrufen", "Widerruf bestätigen"),
        ("fr", "Se rétracter du contrat ici", "Confirmer la rétractation"),
        ("pl", "Odstąp od umowy tutaj", "Potwierdź odstąpienie od umowy"),
        ("it", "Recedi dal contratto qui", "Conferma il recesso"),
        ("es", "Desistir del contrato aquí", "Confirmar desistimiento"),
        ("nl", "Hier de overeenkomst herroepen", "Herroeping bevestigen"),
    ],
)
def test_the_withdrawal_function_uses_the_directives_own_words(catalog: str, withdraw_here: str, confirm: str) -> None:
    """Directive (EU) 2023/2673 art. 11a(1)-(3) in the language versions: "withdraw from contract here",
    "confirm withdrawal"."""
    assert gettext(catalog)(T.WITHDRAW_HERE) == withdraw_here
    assert gettext(catalog)(T.CONFIRM) == confirm


@pytest.mark.parametrize(
    ("catalog", "forbidden"),
    [
        ("de", r"\b(?:du|dein\w*|dich|dir)\b"),  # Sie throughout
        ("fr", r"\b(?:tu|ton|ta|tes|toi)\b"),  # vous throughout
        ("nl", r"\b(?:je|jij|jouw)\b"),  # u throughout
        ("ru", r"\b(?:ты|твой|твоя|твои|тебя|тебе)\b"),  # вы throughout
        ("es", r"\b(?:usted|su pedido)\b"),  # tú throughout, as the notices always said
        ("pl", r"\b(?:Pan|Pani|Państwo)\b"),  # the informal, capitalised Ty throughout
    ],
)
def test_one_register_per_language(catalog: str, forbidden: str) -> None:
    assert [s for s in strings(catalog) if re.search(forbidden, s, re.IGNORECASE)] == []


@pytest.mark.parametrize(("catalog", "forms"), [("pl", 3), ("ru", 3), ("ar", 6), ("ja", 1), ("ko", 1), ("de", 2)])
def test_plural_forms_follow_cldr(catalog: str, forms: int) -> None:
    with (LOCALES_DIR / catalog / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        assert read_po(fp, locale=catalog).num_plurals == forms


def test_polish_and_russian_day_counts_take_their_three_forms() -> None:
    singular = "You have %(num)d day left to ship your return %(return_id)s."
    plural = "You have %(num)d days left to ship your return %(return_id)s."
    for catalog in ("pl", "ru"):
        ngettext = translations_for((catalog, "en")).ngettext
        one, few, many = (ngettext(singular, plural, n) for n in (1, 3, 5))
        assert len({one, few, many}) == 3, catalog


@pytest.mark.parametrize(
    ("tag", "zone", "shown"),
    [
        ("fr_FR", "Europe/Paris", "(heure normale d’Europe centrale)"),
        ("ko_KR", "Asia/Seoul", "(대한민국 표준시)"),
        ("zh_Hans_CN", "Asia/Shanghai", "(中国标准时间)"),
        ("tr_TR", "Europe/Istanbul", "(Türkiye Saati)"),
        ("ru_RU", "Europe/Moscow", "(Москва, стандартное время)"),
    ],
)
def test_time_zones_are_named_never_a_bare_offset(tag: str, zone: str, shown: str) -> None:
    text = format_deadline(DEADLINE, ZoneInfo(zone), Locale.parse(tag))
    assert text.endswith(shown)
    assert not re.search(r"\((?:GMT|UTC)?[+\-−]\d", text)


def test_an_arabic_zone_name_is_isolated_from_the_right_to_left_sentence() -> None:
    text = format_deadline(DEADLINE, ZoneInfo("Asia/Riyadh"), Locale.parse("ar_SA"))
    assert "(\u2068" in text and text.endswith("\u2069)")
    assert "+03" not in text


@pytest.mark.parametrize(
    ("tag", "zone", "shown"),
    [
        ("it_IT", "Europe/Rome", "7 dicembre 2026 alle 23:59"),
        ("pl_PL", "Europe/Warsaw", "7 grudnia 2026 o godz. 23:59"),
        ("pt_BR", "America/Sao_Paulo", "7 de dezembro de 2026 às 19:59"),
        ("tr_TR", "Europe/Istanbul", "8 Aralık 2026 saat 01:59"),
    ],
)
def test_a_word_joins_date_and_time(tag: str, zone: str, shown: str) -> None:
    assert format_deadline(DEADLINE, ZoneInfo(zone), Locale.parse(tag)).startswith(shown)


def test_new_taiwan_dollars_say_so() -> None:
    assert format_money({"amount": "1234.5", "currency": "TWD"}, Locale.parse("zh_Hant_TW")) == "NT$1,234.50"
    assert format_money({"amount": "12", "currency": "USD"}, Locale.parse("en_US")) == "$12.00"  # the dollar
    assert format_money({"amount": "12", "currency": "CAD"}, Locale.parse("en_US")) == "CA$12.00"


def test_us_buyers_read_american_spelling_and_others_british() -> None:
    subject = "Order %(order_id)s could not be cancelled"
    assert negotiate(["en-US"]).catalogs[0] == "en_US"
    assert (
        translations_for(negotiate(["en-US"]).catalogs).gettext(subject) == "Order %(order_id)s could not be canceled"
    )
    assert translations_for(negotiate(["en-GB"]).catalogs).gettext(subject) == subject
    assert not [s for s in strings("en_US") if re.search(r"favour|cancelled|colour", s)]


@pytest.mark.parametrize(
    ("tag", "catalog", "formats"), [("pt-PT", "pt_BR", "pt_PT"), ("zh-HK", "zh_Hant", "zh_Hant_HK")]
)
def test_pt_pt_and_zh_hk_read_their_siblings_by_rule_with_their_own_formats(
    tag: str, catalog: str, formats: str
) -> None:
    negotiated = negotiate([tag])
    assert negotiated.catalogs[0] == catalog and str(negotiated.locale) == formats
    assert formats in EXPLICIT_FALLBACKS and EXPLICIT_FALLBACKS[formats][0] == catalog


def test_every_catalog_is_reviewed_here() -> None:
    assert len(CATALOGS) == 16  # the 15 languages, English in its British and American spelling
