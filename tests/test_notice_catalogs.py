"""The catalogs are complete: a missing, fuzzy or mismatched message in any locale fails here."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from adapters.notifiers.catalogs import LOCALES_DIR
from adapters.notifiers.negotiation import CATALOGS

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
KEYWORDS = {"N_": None, "N_plural": (1, 2)}


def catalog(name):
    with (LOCALES_DIR / name / "LC_MESSAGES" / "messages.po").open("rb") as fp:
        return read_po(fp, locale=name)


def template():
    with (LOCALES_DIR / "messages.pot").open("rb") as fp:
        return read_po(fp)


def message_ids(cat):
    return {m.id for m in cat if m.id}


def placeholders(text):
    return sorted(PLACEHOLDER.findall(text))


def test_the_template_holds_exactly_the_messages_in_the_source():
    """Fails when a message is added to the code without `make i18n-extract i18n-update`."""
    extracted = {
        (message[2] if isinstance(message[2], str) else tuple(message[2]))
        for message in extract_from_dir(
            str(ROOT / "adapters" / "notifiers"), method_map=[("**.py", "python")], keywords=KEYWORDS
        )
    }
    assert extracted == message_ids(template())


def test_every_locale_directory_is_a_known_catalog():
    present = {p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po")}
    assert present == set(CATALOGS)
    assert len(CATALOGS) >= 15


def problems_of(cat, expected_ids):
    """Every way a catalog can fall short: missing or extra ids, fuzzy, untranslated, placeholders, plurals."""
    found = message_ids(cat)
    problems = [("missing", i) for i in expected_ids - found] + [("obsolete", i) for i in found - expected_ids]
    for message in cat:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        if isinstance(message.id, tuple):
            forms = message.string
            if len(forms) != cat.num_plurals or not all(forms):
                problems.append(("plural forms", message.id))
            expected = set(placeholders(message.id[1])) - {"num"}
            for form in forms:
                if set(placeholders(form)) - {"num"} != expected:
                    problems.append(("placeholders", form))
        elif not message.string:
            problems.append(("untranslated", message.id))
        elif placeholders(message.string) != placeholders(message.id):
            problems.append(("placeholders", message.string))
    return problems


@pytest.mark.parametrize("name", CATALOGS)
def test_every_message_is_translated_not_fuzzy_with_the_same_placeholders(name):
    assert problems_of(catalog(name), message_ids(template())) == []


@pytest.mark.parametrize("name", CATALOGS)
def test_plural_forms_header_matches_the_language(name):
    from babel.messages.plurals import get_plural

    assert catalog(name).num_plurals == get_plural(name).num_plurals


def test_the_checker_catches_a_broken_catalog(tmp_path):
    """The completeness test can fail: each kind of defect is reported."""
    broken = tmp_path / "messages.po"
    broken.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=utf-8\\n"\n"Language: de\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'
        '#, fuzzy\nmsgid "Reason: %(reason)s"\nmsgstr "Grund: %(reason)s"\n\n'
        'msgid "Tracking number: %(tracking_number)s"\nmsgstr "Sendungsnummer"\n\n'
        'msgid "Store credit"\nmsgstr ""\n\n'
        'msgid "%(num)d day"\nmsgid_plural "%(num)d days"\nmsgstr[0] "%(num)d Tag"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    with broken.open("rb") as fp:
        cat = read_po(fp, locale="de")
    expected = {"Reason: %(reason)s", "Tracking number: %(tracking_number)s", "Store credit", "Refunded to: %(route)s"}
    kinds = sorted(kind for kind, _ in problems_of(cat, expected))
    assert kinds == ["fuzzy", "missing", "obsolete", "placeholders", "plural forms", "untranslated"]
