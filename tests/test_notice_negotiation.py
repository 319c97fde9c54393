import pytest

from adapters.notifiers.negotiation import accept_language_tags, buyer_preferences, negotiate


def chosen(*preferences):
    result = negotiate(preferences)
    return result.catalogs[0], result.tag


@pytest.mark.parametrize(
    ("tag", "catalog"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("zh-SG", "zh_Hans"),
        ("zh-TW", "zh_Hant"),
        ("zh-HK", "zh_Hant"),
        ("zh-MO", "zh_Hant"),
        ("zh_Hant", "zh_Hant"),
        ("pt", "pt_BR"),
        ("pt-BR", "pt_BR"),
        ("pt-PT", "pt_BR"),
        ("de-AT", "de"),
        ("fr-CA", "fr"),
        ("es-MX", "es"),
        ("ar-EG", "ar"),
        ("JA-jp", "ja"),
        ("ko_KR", "ko"),
        ("en-GB", "en"),
    ],
)
def test_a_tag_reaches_its_catalog_through_script_and_language(tag, catalog):
    assert chosen(tag)[0] == catalog


def test_the_region_still_shapes_numbers_and_dates():
    assert chosen("de-AT") == ("de", "de-AT")
    assert chosen("zh-HK") == ("zh_Hant", "zh-Hant-HK")


@pytest.mark.parametrize("tag", ["xx", "klingon", "en-US-x-!!", "*", "", None, "a" * 500, "zz-ZZ", "123"])
def test_an_unknown_or_malformed_locale_falls_back_to_english(tag):
    assert chosen(tag) == ("en", "en")


def test_an_unknown_first_choice_gives_way_to_the_next():
    assert chosen("sv-SE", "nl-BE")[0] == "nl"


def test_the_fallback_chain_ends_in_english():
    assert negotiate(["zh-TW"]).catalogs == ("zh_Hant", "en")
    assert negotiate(["en"]).catalogs == ("en",)


def test_accept_language_is_ordered_by_quality_and_q0_is_refused():
    assert accept_language_tags("en;q=0.5, zh-TW, fr;q=0") == ["zh-TW", "en"]
    assert accept_language_tags(None) == []


def test_a_taiwan_browser_gets_traditional_chinese_not_english_or_simplified():
    """Werkzeug's best_match picks `en` or zh_Hans here (policy_fx_l10n.md §6.3 pitfall 1)."""
    preferences = buyer_preferences(None, "zh-TW,zh;q=0.9,en;q=0.7", None)
    assert chosen(*preferences)[0] == "zh_Hant"


def test_query_beats_accept_language_which_beats_the_buyers_locale():
    assert chosen(*buyer_preferences("ja", "de-DE", "ko-KR"))[0] == "ja"
    assert chosen(*buyer_preferences(None, "de-DE", "ko-KR"))[0] == "de"
    assert chosen(*buyer_preferences(None, None, "ko-KR"))[0] == "ko"
    assert chosen(*buyer_preferences("bogus!", "garbage;;;", "tr-TR"))[0] == "tr"


def test_the_services_default_locale_comes_after_the_buyers_and_before_english():
    assert chosen(*buyer_preferences(None, None, None, "fr"))[0] == "fr"
    assert chosen(*buyer_preferences(None, None, "it-IT", "fr"))[0] == "it"
    assert chosen(*buyer_preferences(None, None, "sv", "not a tag"))[0] == "en"
