"""Rendering a buyer notice in the buyer's language and time zone.

Which facts a notice needs is core/notices.py; the words are gettext messages
marked here with `N_` / `N_plural` and translated in locales/<catalog>/
LC_MESSAGES/messages.po. Values are formatted first (Babel, from CLDR) and then
interpolated as named placeholders, so no sentence is ever glued together from
translated fragments (policy_fx_l10n.md §6.5). Amounts are quantized to the
ISO 4217 minor unit before Babel sees them, because Babel rounds by the ambient
decimal context and by CLDR digits, not ISO (§5.2, §5.4). Dates are shown in the
buyer's time zone, because the calendar date of a deadline differs by zone (§6.4).
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format, get_timezone_location, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import get_currency_symbol
from babel.support import NullTranslations, Translations

from adapters.carriers.base import display_name as carrier_display_name
from adapters.notifiers.negotiation import Negotiated, buyer_preferences, negotiate
from config.settings import PROJECT_ROOT
from core.money import Money, MoneyError, minor_unit
from core.notices import CONTEXT_KEYS, days_until, missing_context, notice_kind, resolve

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"

# Unicode first-strong isolate / pop directional isolate (UAX #9): keeps an order number or URL
# left-to-right inside an Arabic sentence without reordering the words around it.
_FSI, _PDI = "\u2068", "\u2069"
_PLACEHOLDER = re.compile(r"%\((\w+)\)")


def N_(message: str) -> str:
    """Marks a message for `pybabel extract -k N_`; translated when the notice is rendered."""
    return message


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """Marks a plural message for `pybabel extract -k N_plural:1,2`; chosen by ngettext when rendered."""
    return singular, plural


ABSENT = object()


@dataclass(frozen=True)
class Paragraph:
    """One sentence or line of a notice: shown when its placeholders have values and `when` holds."""

    message: str | tuple[str, str]
    when: tuple[tuple[str, Any], ...] = ()
    count: str | None = None


@dataclass(frozen=True)
class NoticeText:
    subject: str
    paragraphs: tuple[Paragraph, ...]


_ITEMS_VALUE = Paragraph(N_("Value of the items to return: %(amount)s"))
_SHIP_BY = Paragraph(N_("Please ship the parcel by %(ship_by)s."))
_APPEAL = Paragraph(
    N_(
        "If you disagree, you can appeal until %(appeal_by)s: reply to this message with photos "
        "or other evidence, or ask the marketplace to step in."
    )
)
_APPEAL_UNDATED = Paragraph(
    N_("If you disagree, reply to this message with photos or other evidence, or ask the marketplace to step in."),
    when=(("appeal_by", ABSENT),),
)
_MONEY_ARRIVAL = Paragraph(N_("The money should reach you by %(expected_by)s."))
_DELIVERY = Paragraph(N_("Expected delivery: %(expected_by)s"))
_NOTE = Paragraph(N_("Seller's note: %(note)s"))
# The line every notice ends with: the buyer's page (contract "Buyer pages"), when a link is known.
PAGE_LINK = N_("Follow your return at any time: %(page_url)s")

# The words of every notice kind in core.notices.NOTICE_KINDS: one table.
NOTICE_TEXTS: dict[str, NoticeText] = {
    "request_received": NoticeText(
        N_("We received your return request for order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We received your return request %(return_id)s for order %(order_id)s on "
                    "%(requested_at)s. We will review it and let you know the result."
                )
            ),
            _ITEMS_VALUE,
        ),
    ),
    "return_approved": NoticeText(
        N_("Your return for order %(order_id)s is approved"),
        (
            Paragraph(N_("Your return request %(return_id)s for order %(order_id)s has been approved.")),
            Paragraph(
                N_("Print your prepaid return label and attach it to the parcel: %(label_url)s"),
                when=(("method", "label"),),
            ),
            Paragraph(
                N_("We will send you the return label from %(carrier)s as soon as it is ready."),
                when=(("method", "label"), ("label_url", ABSENT)),
            ),
            Paragraph(
                N_("%(carrier)s will collect the parcel from your address on %(pickup_at)s."),
                when=(("method", "pickup"),),
            ),
            Paragraph(
                N_("%(carrier)s will collect the parcel from your address. We will confirm the date."),
                when=(("method", "pickup"), ("pickup_at", ABSENT)),
            ),
            Paragraph(N_("Send the parcel to this address: %(return_address)s"), when=(("method", "drop_off"),)),
            _SHIP_BY,
            _ITEMS_VALUE,
        ),
    ),
    "return_rejected": NoticeText(
        N_("Your return request for order %(order_id)s was declined"),
        (
            Paragraph(N_("We are sorry: your return request %(return_id)s for order %(order_id)s was declined.")),
            Paragraph(N_("Reason: %(reason)s")),
            _NOTE,
            _APPEAL,
            _APPEAL_UNDATED,
        ),
    ),
    "ship_by_reminder": NoticeText(
        N_("Reminder: please ship your return by %(ship_by)s"),
        (
            Paragraph(
                N_plural(
                    "You have %(num)d day left to ship your return %(return_id)s.",
                    "You have %(num)d days left to ship your return %(return_id)s.",
                ),
                count="days_left",
            ),
            _SHIP_BY,
        ),
    ),
    "return_shipped": NoticeText(
        N_("Your return %(return_id)s is on its way to us"),
        (
            Paragraph(
                N_(
                    "Your return %(return_id)s for order %(order_id)s is on its way to us. We will let you "
                    "know when it arrives."
                )
            ),
            Paragraph(N_("Tracking number: %(tracking_number)s")),
        ),
    ),
    "return_received": NoticeText(
        N_("We received your returned parcel"),
        (
            Paragraph(
                N_(
                    "Your returned parcel for order %(order_id)s (return %(return_id)s) arrived on "
                    "%(received_at)s. We will now inspect the items."
                )
            ),
        ),
    ),
    "inspection_result": NoticeText(
        N_("Inspection result for your return %(return_id)s"),
        (
            Paragraph(
                N_(
                    "Your returned items passed inspection on %(inspected_at)s. Your refund or exchange "
                    "is now being processed."
                ),
                when=(("passed", True),),
            ),
            Paragraph(
                N_("Your returned items did not pass inspection on %(inspected_at)s."),
                when=(("passed", False),),
            ),
            _NOTE,
            Paragraph(_APPEAL.message, when=(("passed", False),)),
            Paragraph(_APPEAL_UNDATED.message, when=(("passed", False), ("appeal_by", ABSENT))),
        ),
    ),
    "refund_paid": NoticeText(
        N_("Your refund of %(amount)s has been issued"),
        (
            Paragraph(N_("We issued a refund of %(amount)s for your return %(return_id)s on %(issued_at)s.")),
            Paragraph(N_("Refunded to: %(route)s")),
            _MONEY_ARRIVAL,
        ),
    ),
    "refund_failed": NoticeText(
        N_("Your refund of %(amount)s could not be paid yet"),
        (
            Paragraph(
                N_(
                    "We could not pay your refund of %(amount)s for return %(return_id)s (order %(order_id)s). "
                    "We are trying again and will tell you as soon as it has been paid."
                )
            ),
        ),
    ),
    "exchange_shipped": NoticeText(
        N_("Your replacement for order %(order_id)s is on its way"),
        (
            Paragraph(N_("Your replacement for order %(order_id)s was shipped on %(shipped_at)s with %(carrier)s.")),
            Paragraph(N_("Tracking number: %(tracking_number)s")),
            _DELIVERY,
        ),
    ),
    "interception_result": NoticeText(
        N_("Update on stopping the delivery of order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We stopped the delivery of order %(order_id)s. The parcel is coming back to us; "
                    "you do not need to do anything."
                ),
                when=(("outcome", "stopped"),),
            ),
            Paragraph(
                N_(
                    "We could not stop the delivery of order %(order_id)s in time. When the parcel "
                    "arrives, you can refuse it or send it back; your return stays open."
                ),
                when=(("outcome", "not_stopped"),),
            ),
        ),
    ),
    "dispute_update": NoticeText(
        N_("Update on the dispute about order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "On %(dispute_at)s a dispute about order %(order_id)s was opened, and the "
                    "marketplace is now reviewing it."
                ),
                when=(("stage", "opened"),),
            ),
            Paragraph(
                N_("On %(dispute_at)s the marketplace decided the dispute about order %(order_id)s in your favour."),
                when=(("stage", "resolved_for_buyer"),),
            ),
            Paragraph(
                N_(
                    "On %(dispute_at)s the marketplace decided the dispute about order %(order_id)s "
                    "in the seller's favour."
                ),
                when=(("stage", "resolved_for_seller"),),
            ),
            Paragraph(N_("Please send any further evidence by %(respond_by)s.")),
        ),
    ),
    "withdrawal_confirmation": NoticeText(
        N_("Confirmation of your withdrawal from order %(order_id)s"),
        (
            Paragraph(
                N_(
                    "We confirm that on %(withdrawn_at)s we received your withdrawal from the contract "
                    "for order %(order_id)s (return %(return_id)s)."
                )
            ),
            Paragraph(N_("Your statement: %(statement)s")),
            Paragraph(
                N_(
                    "We will refund %(amount)s, including the standard delivery costs, by "
                    "%(refund_due_by)s at the latest, using the payment method you used."
                )
            ),
            Paragraph(
                N_(
                    "We will refund all payments received from you, including the standard delivery "
                    "costs, by %(refund_due_by)s at the latest, using the payment method you used."
                ),
                when=(("amount", ABSENT),),
            ),
            Paragraph(N_("Please keep this message: it is your confirmation on a durable medium.")),
        ),
    ),
    "return_expired": NoticeText(
        N_("Your return %(return_id)s has been closed"),
        (
            Paragraph(
                N_(
                    "The time to return items from order %(order_id)s has ended, so your return "
                    "%(return_id)s has been closed."
                )
            ),
        ),
    ),
    "cancellation_refused": NoticeText(
        N_("Order %(order_id)s could not be cancelled"),
        (
            Paragraph(
                N_(
                    "Your order %(order_id)s had already been shipped, so it could not be cancelled. "
                    "Once it arrives, you can request a return."
                )
            ),
        ),
    ),
}

# For a notice kind recorded by a newer version than this renderer knows.
GENERAL_UPDATE = NoticeText(
    N_("Update on your return %(return_id)s"),
    (Paragraph(N_("There is news about your return %(return_id)s. Please check its status with the seller.")),),
)

# The words for each code of core.notices.CODES that appears as a value in a sentence.
CODE_TEXTS: dict[str, dict[str, str]] = {
    "reason": {
        "outside_return_window": N_("The return period has ended"),
        "item_used": N_("The item has been used"),
        "missing_evidence": N_("Photos or other evidence are missing"),
        "excluded_item": N_("This item cannot be returned"),
        "other": N_("Another reason, explained by the seller"),
    },
    "route": {
        "original_payment": N_("Your original payment method"),
        "marketplace_balance": N_("Your marketplace balance"),
        "bank_transfer": N_("Your bank account"),
        "store_credit": N_("Store credit"),
    },
}


@dataclass(frozen=True)
class Rendered:
    kind: str
    locale: str
    direction: str
    subject: str
    paragraphs: tuple[str, ...]
    at: str
    incomplete: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        return "\n\n".join(self.paragraphs)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "locale": self.locale,
            "direction": self.direction,
            "subject": self.subject,
            "body": self.body,
            "at": self.at,
            "incomplete": list(self.incomplete),
        }


def _load_catalog(directory: Path, name: str) -> Translations | None:
    """The compiled .mo when it is current; else the .po compiled in memory (a fresh checkout still reads)."""
    po = directory / name / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as fp:
            return Translations(fp, domain=DOMAIN)
    if not po.exists():
        return None
    with po.open("rb") as fp:
        catalog = read_po(fp, locale=name, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@lru_cache(maxsize=64)
def translations_for(chain: tuple[str, ...], directory: Path = LOCALES_DIR) -> NullTranslations:
    """The first catalog of `chain`, falling back message by message to the next (§6.3 pitfall 5)."""
    loaded = [t for t in (_load_catalog(directory, name) for name in chain) if t is not None]
    if not loaded:
        return NullTranslations()
    first = loaded[0]
    for later in loaded[1:]:
        first.add_fallback(later)
    return first


def buyer_zone(name: str | None) -> tzinfo:
    """The buyer's IANA zone; UTC when none is known or the name is not a zone."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _plain_date(value: Any) -> date | None:
    """A date without a time: an inclusive last day as the policy gives it (`last_days`, `window.last_day`)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _closes_at_midnight(moment: datetime, zone: tzinfo) -> bool:
    """An instant at local midnight is the exclusive end of the day before (core/calendar.end_of_day)."""
    local = moment.astimezone(zone)
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)


def last_day_shown(value: Any, zone: tzinfo) -> date | None:
    """The inclusive last day a deadline names where the buyer is: a plain date as given, an instant's own
    day, or for an exclusive end at local midnight the day before it (24 November, not 25)."""
    day = _plain_date(value)
    if day is not None:
        return day
    moment = _instant(value)
    if moment is None:
        return None
    if _closes_at_midnight(moment, zone):
        moment -= timedelta(microseconds=1)
    return moment.astimezone(zone).date()


def _instant(value: Any) -> datetime | None:
    if _plain_date(value) is not None:
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_money(value: Mapping[str, Any], locale: Locale) -> str:
    """CLDR's currency pattern for `locale`, with exactly the ISO 4217 minor unit of decimals."""
    currency = str(value.get("currency", ""))
    try:
        money = Money.rounded(Decimal(str(value["amount"])), currency)
    except (KeyError, InvalidOperation, MoneyError):
        return f"{value.get('amount', '')} {currency}".strip()
    digits = minor_unit(money.currency)
    pattern = copy.copy(locale.currency_formats["standard"])
    pattern.frac_prec = (digits, digits)
    text = pattern.apply(money.amount, locale, currency=money.currency, currency_digits=False)
    symbol = get_currency_symbol(money.currency, locale)
    if symbol == "$" and money.currency != "USD":
        # A bare "$" names the dollar; any other (TWD in Taiwan, CAD, HKD) says which: NT$, CA$, HK$.
        text = text.replace("$", get_currency_symbol(money.currency, "en"), 1)
    return text


# Where CLDR's long date-time pattern glues date and time with a bare space, a native writer puts a word
# between them (CLDR's "atTime" patterns, which Babel does not carry): "7 dicembre 2026 alle 23:59".
DATE_AT_TIME: dict[str, str] = {
    "it": "{1} alle {0}",
    "pl": "{1} o godz. {0}",
    "pt": "{1} às {0}",
    "tr": "{1} saat {0}",
}
_OFFSET = re.compile(r"^(?:GMT|UTC)?[+\-−]\d")


def zone_name(local: datetime, locale: Locale) -> str:
    """The zone as the buyer's language names it: its abbreviation where the locale has one (MEZ, JST),
    else its name ("heure normale d’Europe centrale"), else its place, never a bare offset like "+0900"
    (which an RTL line would also show reversed)."""
    for name in (
        get_timezone_name(local, width="short", locale=locale),
        get_timezone_name(local, width="long", locale=locale),
    ):
        if not _OFFSET.match(name.strip()):
            return name
    return get_timezone_location(local, locale=locale)  # "Türkiye Saati": the country's or city's time


def time_of_day(local: datetime, zone: tzinfo, locale: Locale) -> str:
    """CLDR's short time, with a 12-hour clock's day period in words (Korean 오전/오후, not AM/PM)."""
    pattern = locale.time_formats["short"].pattern
    if re.search(r"(?<![a'])a(?!a)", pattern):
        pattern = re.sub(r"(?<![a'])a(?!a)", "aaaa", pattern)
    return format_time(local, pattern, tzinfo=zone, locale=locale)


def format_deadline(moment: datetime, zone: tzinfo, locale: Locale) -> str:
    """Date, time and zone as the buyer reads them: a deadline's calendar day depends on the zone."""
    local = moment.astimezone(zone)
    date_part = format_date(local.date(), "long", locale=locale)
    time_part = time_of_day(local, zone, locale)
    zone_part = zone_name(local, locale)
    if locale.text_direction == "rtl":
        zone_part = f"{_FSI}{zone_part}{_PDI}"
    joined = DATE_AT_TIME.get(locale.language) or get_datetime_format("long", locale=locale).replace("'", "")
    return f"{joined.replace('{1}', date_part).replace('{0}', time_part)} ({zone_part})"


def format_day(moment: datetime, zone: tzinfo, locale: Locale) -> str:
    return format_date(moment.astimezone(zone).date(), "long", locale=locale)


def _display_values(
    context: Mapping[str, Any], locale: Locale, zone: tzinfo, gettext: Callable[[str], str]
) -> dict[str, str]:
    rtl = locale.text_direction == "rtl"
    shown: dict[str, str] = {}
    for key, value in context.items():
        kind = CONTEXT_KEYS.get(key)
        if value in (None, "") or kind in (None, "bool"):
            continue
        if kind == "money" and isinstance(value, Mapping):
            text = format_money(value, locale)
        elif kind in ("deadline", "last_day"):
            moment = _instant(value)
            if kind == "deadline" and moment is not None and not _closes_at_midnight(moment, zone):
                text = format_deadline(moment, zone, locale)
            else:
                day = last_day_shown(value, zone)
                if day is None:
                    continue
                text = format_date(day, "long", locale=locale)
        elif kind == "day":
            moment = _instant(value)
            if moment is None:
                continue
            text = format_day(moment, zone, locale)
        elif kind == "code":
            phrase = CODE_TEXTS.get(key, {}).get(str(value))
            if phrase is None:
                continue
            text = gettext(phrase)
        elif kind == "carrier":
            text = carrier_display_name(str(value))
        else:
            text = str(value)
        shown[key] = f"{_FSI}{text}{_PDI}" if rtl and kind in ("id", "url", "text", "carrier") else text
    return shown


def _placeholders(message: str) -> set[str]:
    return set(_PLACEHOLDER.findall(message))


class _Unknown(dict):
    """Placeholder values for a subject whose fact is not known yet: a dash, never a crash."""

    def __missing__(self, key: str) -> str:
        return "—"


def _applies(paragraph: Paragraph, context: Mapping[str, Any]) -> bool:
    for key, expected in paragraph.when:
        present = context.get(key) not in (None, "")
        if expected is ABSENT:
            if present:
                return False
        elif context.get(key) != expected:
            return False
    return True


def render(
    kind: str,
    context: Mapping[str, Any],
    negotiated: Negotiated,
    zone: tzinfo,
    at: datetime,
    directory: Path = LOCALES_DIR,
    page_url: str | None = None,
) -> Rendered:
    """The notice `kind` in the negotiated locale; a paragraph whose facts are missing is left out.

    `page_url`, the buyer's page, ends every notice that has one."""
    spec = notice_kind(kind)
    shown, fixed = resolve(kind)
    context = {**context, **fixed}
    if spec.moment and context.get(spec.moment) in (None, ""):
        context[spec.moment] = at
    text = NOTICE_TEXTS[shown]
    translations = translations_for(negotiated.catalogs, directory)
    values = _display_values(context, negotiated.locale, zone, translations.gettext)
    last_day = last_day_shown(context.get("ship_by"), zone)
    counts = {"days_left": days_until(at, last_day, zone)} if last_day else {}
    paragraphs = []
    for paragraph in text.paragraphs:
        if not _applies(paragraph, context):
            continue
        if isinstance(paragraph.message, tuple):
            if paragraph.count not in counts:
                continue
            number = counts[paragraph.count]
            message = translations.ngettext(*paragraph.message, number)
            needed = _placeholders(paragraph.message[1]) - {"num"}
            arguments = {**values, "num": number}
        else:
            message = translations.gettext(paragraph.message)
            needed = _placeholders(paragraph.message)
            arguments = dict(values)
        if needed <= values.keys():
            paragraphs.append(message % arguments)
    if page_url:
        shown_url = f"{_FSI}{page_url}{_PDI}" if negotiated.direction == "rtl" else page_url
        paragraphs.append(translations.gettext(PAGE_LINK) % {"page_url": shown_url})
    subject = translations.gettext(text.subject) % _Unknown(values)
    return Rendered(
        kind=kind,
        locale=negotiated.tag,
        direction=negotiated.direction,
        subject=subject,
        paragraphs=tuple(paragraphs),
        at=at.astimezone(UTC).isoformat(),
        incomplete=tuple(missing_context(kind, context)),
    )


def render_notice(
    kind: str,
    context: dict,
    locale_tag: str | None,
    timezone: str | None,
    at: datetime | None = None,
    *,
    accept_language: str | None = None,
    buyer_locale: str | None = None,
    default_locale: str | None = None,
) -> dict:
    """A notice as the buyer reads it: `locale_tag` (`?locale=`) first, then Accept-Language, then the order's locale.

    `at` is when the notice was issued; it dates the reminder's "days left" (now when not given).
    An unknown notice kind renders as a general update rather than failing a read of the case.
    """
    negotiated = negotiate(buyer_preferences(locale_tag, accept_language, buyer_locale, default_locale))
    issued = at or datetime.now(UTC)
    if resolve(kind)[0] not in NOTICE_TEXTS:
        return _general_update(kind, context, negotiated, issued).to_json()
    return render(kind, context, negotiated, buyer_zone(timezone), issued).to_json()


def _general_update(kind: str, context: Mapping[str, Any], negotiated: Negotiated, at: datetime) -> Rendered:
    translations = translations_for(negotiated.catalogs)
    values = _Unknown(_display_values(context, negotiated.locale, UTC, translations.gettext))
    return Rendered(
        kind=kind,
        locale=negotiated.tag,
        direction=negotiated.direction,
        subject=translations.gettext(GENERAL_UPDATE.subject) % values,
        paragraphs=tuple(translations.gettext(p.message) % values for p in GENERAL_UPDATE.paragraphs),
        at=at.astimezone(UTC).isoformat(),
        incomplete=(),
    )
