"""The translated catalogs: locales/<catalog>/LC_MESSAGES/messages.po, loaded once per fallback chain."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from config.settings import PROJECT_ROOT

LOCALES_DIR = PROJECT_ROOT / "locales"
DOMAIN = "messages"


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
