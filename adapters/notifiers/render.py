"""Render a case's notices in the buyer's language from the gettext catalogs in `locales/`.

Words live in the catalogs; amounts and dates are formatted by Babel from CLDR for
the chosen locale, dates in the buyer's time zone (policy_fx_l10n.md §6).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.numbers import format_currency
from babel.support import Translations

from core.money import Money

LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"
DEFAULT_LOCALE = "en"


def available_catalogs() -> list[str]:
    return sorted(p.name for p in LOCALES_DIR.iterdir() if (p / "LC_MESSAGES" / "messages.po").exists())


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def catalog_for(tag: str | None) -> str:
    """The catalog that serves `tag`: script first (zh-HK is Traditional), then language, English last."""
    locale = _parse(tag) if tag else None
    if locale is None:
        return DEFAULT_LOCALE
    catalogs = set(available_catalogs())
    candidates = [str(locale)]
    if locale.script:
        candidates.append(f"{locale.language}_{locale.script}")
    candidates.append(locale.language)
    for candidate in candidates:
        if candidate in catalogs:
            return candidate
    return DEFAULT_LOCALE


def negotiate(*preferences: str | None) -> str:
    """The first preference that parses as a locale; English when none does. Never an error."""
    for tag in preferences:
        if tag and _parse(tag) is not None:
            return str(_parse(tag))
    return DEFAULT_LOCALE


@lru_cache(maxsize=64)
def _translations(catalog: str) -> Translations:
    return Translations.load(str(LOCALES_DIR), [catalog], domain="messages")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_money(amount: dict[str, str] | None, locale: str) -> str:
    if not amount:
        return ""
    money = Money(Decimal(amount["amount"]), amount["currency"])
    return format_currency(money.amount, money.currency, locale=locale, currency_digits=False,
                           decimal_quantization=False)  # fmt: skip


def render_notice(kind: str, context: dict[str, Any], locale_tag: str | None, timezone: str | None,
                  at: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """One notice as the buyer reads it: subject and body in their language, amounts and dates in their format."""
    locale = negotiate(locale_tag)
    translations = _translations(catalog_for(locale))
    _ = translations.gettext
    values = {
        "order_id": context.get("order_id", ""),
        "return_id": context.get("return_id", ""),
        "amount": format_money(context.get("amount"), locale),
        "carrier": context.get("carrier", ""),
        "date": format_datetime(at, "medium", tzinfo=_zone(timezone), locale=locale) if at else "",
    }
    texts = NOTICE_TEXTS.get(kind)
    if texts is None:
        subject, body = _("Update on your return %(return_id)s"), _("There is news about your return %(return_id)s.")
    else:
        subject, body = _(texts[0]), _(texts[1])
    return {
        "kind": kind,
        "locale": locale,
        "subject": subject % values,
        "body": body % values,
        "at": at.isoformat() if at else None,
    }


def N_(message: str) -> str:
    return message


NOTICE_TEXTS: dict[str, tuple[str, str]] = {
    "request_received": (
        N_("We received your return request %(return_id)s"),
        N_(
            "We received your request to return items from order %(order_id)s worth %(amount)s "
            "on %(date)s. We will review it and let you know."
        ),
    ),
    "return_approved": (
        N_("Your return %(return_id)s is approved"),
        N_(
            "Your return of items from order %(order_id)s worth %(amount)s was approved on %(date)s. "
            "Please send the items back as instructed."
        ),
    ),
    "return_rejected": (
        N_("Your return %(return_id)s was not approved"),
        N_("Your request to return items from order %(order_id)s worth %(amount)s was not approved on %(date)s."),
    ),
}
