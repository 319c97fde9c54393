"""Choosing the buyer's language: explicit choice, then Accept-Language, then the order's locale.

Babel's and Werkzeug's own negotiators match strings and ignore scripts: a
Taiwan buyer gets Simplified Chinese or English, and `pt` goes to `pt_PT`
(policy_fx_l10n.md §6.3, pitfalls 1-4). Here each tag is parsed with likely
subtags (`zh-HK` -> `zh_Hant_HK`), then tried as language_Script_TERRITORY,
language_Script, language_TERRITORY, language, with the aliases in
CATALOG_ALIASES, and the remaining candidates become the per-message fallback
chain ending in English (§6.3 recommendation, pitfall 5). A tag that is unknown
or malformed is skipped, never an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

# The catalogs under locales/, named as policy_fx_l10n.md §6.3 (e) advises: scripts, never a bare `zh`.
CATALOGS: tuple[str, ...] = (
    "en",
    "en_US",  # American spelling (favor, canceled) for US buyers; `en` is British
    "zh_Hans",
    "zh_Hant",
    "ja",
    "ko",
    "de",
    "fr",
    "es",
    "it",
    "nl",
    "pl",
    "pt_BR",
    "tr",
    "ru",
    "ar",
)

SOURCE_LOCALE = "en"

# Candidates that name no catalog but mean one: a bare `zh` is Simplified (zh-CN is the
# majority use, and Babel adds no script to it), and the only Portuguese catalog is Brazilian.
CATALOG_ALIASES: dict[str, str] = {
    "zh": "zh_Hans",
    "pt": "pt_BR",
}

# Locales with no catalog of their own that read a sibling's, on purpose and said so: the words come
# from the sibling, numbers, dates and time zones stay the buyer's own (Negotiated.locale).
EXPLICIT_FALLBACKS: dict[str, tuple[str, str]] = {
    "pt_PT": ("pt_BR", "no European Portuguese catalog yet: Brazilian wording, Portuguese formats"),
    "zh_Hant_HK": ("zh_Hant", "no Hong Kong catalog yet: Traditional Chinese written for Taiwan, Hong Kong formats"),
    "zh_Hant_MO": ("zh_Hant", "no Macau catalog yet: Traditional Chinese written for Taiwan, Macau formats"),
}

# Tags longer than this are not language tags (RFC 5646 §4.4.1 advises at least 35 characters).
_MAX_TAG = 64


@dataclass(frozen=True)
class Negotiated:
    """The locale used for numbers and dates, and the catalogs to read, best first (English last)."""

    locale: Locale
    catalogs: tuple[str, ...]

    @property
    def tag(self) -> str:
        """BCP 47 form (zh-Hant-HK), as sent in Content-Language."""
        return str(self.locale).replace("_", "-")

    @property
    def direction(self) -> str:
        return self.locale.text_direction


def parse_tag(tag: str | None) -> Locale | None:
    """A Babel locale with likely subtags, or None for anything that is not a known language tag."""
    if not tag or len(tag) > _MAX_TAG:
        return None
    cleaned = tag.strip().replace("_", "-")
    if not cleaned or cleaned == "*":
        return None
    try:
        return Locale.parse(cleaned, sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def catalog_candidates(locale: Locale) -> list[str]:
    """language_Script_TERRITORY, language_Script, language_TERRITORY, language, then aliases."""
    lang, script, territory = locale.language, locale.script, locale.territory
    names = []
    if script and territory:
        names.append(f"{lang}_{script}_{territory}")
    if script:
        names.append(f"{lang}_{script}")
    if territory:
        names.append(f"{lang}_{territory}")
    names.append(lang)
    for name in list(names):
        if name in EXPLICIT_FALLBACKS:
            names.insert(names.index(name) + 1, EXPLICIT_FALLBACKS[name][0])
    if lang in CATALOG_ALIASES and not script:
        names.append(CATALOG_ALIASES[lang])
    return [name for name in dict.fromkeys(names) if name in CATALOGS]


def accept_language_tags(header: str | None) -> list[str]:
    """The tags of an Accept-Language header, most preferred first (q=0 excluded)."""
    if not header:
        return []
    accepted = parse_accept_header(header, LanguageAccept)
    return [value for value, quality in accepted if quality > 0]


def negotiate(preferences: Iterable[str | None], available: Sequence[str] = CATALOGS) -> Negotiated:
    """The first preference that reaches a catalog wins; English when none does."""
    for tag in preferences:
        locale = parse_tag(tag)
        if locale is None:
            continue
        chain = [name for name in catalog_candidates(locale) if name in available]
        if chain:
            if SOURCE_LOCALE not in chain:
                chain.append(SOURCE_LOCALE)
            return Negotiated(locale, tuple(chain))
    return Negotiated(Locale.parse(SOURCE_LOCALE), (SOURCE_LOCALE,))


def buyer_preferences(
    requested: str | None,
    accept_language: str | None,
    buyer_locale: str | None,
    default_locale: str | None = None,
) -> list[str | None]:
    """Contract README: `?locale=` beats `Accept-Language`, which beats the buyer's locale on the order;
    then the service's RB_DEFAULT_LOCALE, and English when nothing else reaches a catalog."""
    return [requested, *accept_language_tags(accept_language), buyer_locale, default_locale]
