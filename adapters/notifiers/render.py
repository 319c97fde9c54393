"""Rendering a buyer notice: its words (notice_texts.py) in the negotiated locale, its values in the buyer's zone.

Which facts a notice needs is core/notices.py; the words are gettext messages in
adapters/notifiers/notice_texts.py, translated in locales/<catalog>/LC_MESSAGES/
messages.po (catalogs.py). Values are formatted first (local_formats.py: Babel,
from CLDR) and then interpolated as named placeholders, so no sentence is ever
glued together from translated fragments (policy_fx_l10n.md §6.5). A paragraph
whose facts are missing is left out; a subject's unknown fact shows as a dash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date

from adapters.carriers.base import display_name as carrier_display_name
from adapters.notifiers.catalogs import LOCALES_DIR, translations_for
from adapters.notifiers.local_formats import (
    FSI,
    PDI,
    buyer_zone,
    closes_at_midnight,
    format_day,
    format_deadline,
    format_money,
    instant,
    last_day_shown,
)
from adapters.notifiers.negotiation import Negotiated, buyer_preferences, negotiate
from adapters.notifiers.notice_texts import ABSENT, CODE_TEXTS, GENERAL_UPDATE, NOTICE_TEXTS, PAGE_LINK, Paragraph
from core.notices import CONTEXT_KEYS, days_until, missing_context, notice_kind, resolve

_PLACEHOLDER = re.compile(r"%\((\w+)\)")


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
            moment = instant(value)
            if kind == "deadline" and moment is not None and not closes_at_midnight(moment, zone):
                text = format_deadline(moment, zone, locale)
            else:
                day = last_day_shown(value, zone)
                if day is None:
                    continue
                text = format_date(day, "long", locale=locale)
        elif kind == "day":
            moment = instant(value)
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
        shown[key] = f"{FSI}{text}{PDI}" if rtl and kind in ("id", "url", "text", "carrier") else text
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
        shown_url = f"{FSI}{page_url}{PDI}" if negotiated.direction == "rtl" else page_url
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
