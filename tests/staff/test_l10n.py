"""Every text of the console pages has a Finnish and a Swedish translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from outreach.l10n import LOCALE_DIR
from tests.conftest import ROOT

WEB = ROOT / "outreach" / "web"


def console_msgids() -> set[str]:
    ids: set[str] = set()
    for path in (WEB / "templates" / "staff").glob("*.html"):
        text = path.read_text()
        ids |= set(re.findall(r'_\("((?:[^"\\]|\\.)*)"', text))
        ids |= set(re.findall(r"_\('((?:[^'\\]|\\.)*)'", text))
    for path in (WEB / "staff").glob("*.py"):
        text = re.sub(r'"\s*\n\s*"', "", path.read_text())
        for title, message in re.findall(r'PageError\(\s*\d+,\s*"([^"]+)",\s*"([^"]+)"', text):
            ids |= {title, message}
        for title, message in re.findall(r'"title": "([^"]+)", "message": "([^"]+)"', text):
            ids |= {title, message}
    return ids


def _plural_msgids(paths: list[Path]) -> set[tuple[str, str]]:
    """``_n("singular", "plural", n, …)`` in the templates: messages with a count."""
    found: set[tuple[str, str]] = set()
    for path in paths:
        text = path.read_text()
        found |= set(re.findall(r'_n\("((?:[^"\\]|\\.)*)",\s*"((?:[^"\\]|\\.)*)"', text))
    return found


def _plural_entries(lang: str) -> set[tuple[str, str]]:
    """The plural entries of the web catalog with every form translated."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "web.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {(m.id[0], m.id[1]) for m in catalog if m.pluralizable and all(m.string)}


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_console_messages_with_a_count_have_every_form(lang: str) -> None:
    found = _plural_msgids(sorted((WEB / "templates" / "staff").glob("*.html")))
    assert ("{n} other city", "{n} other cities") in found
    assert found - _plural_entries(lang) == set()


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_console_pages_are_translated(lang: str) -> None:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "web.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {m.id for m in catalog if m.id and m.string}
    found = console_msgids()
    assert "Sign in to the staff console" in found and "Not allowed" in found
    assert found - translated == set()


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_the_campaign_editors_errors_and_labels_are_translated(lang: str) -> None:
    from outreach.sources import words as fw
    from outreach.web.staff import campaign_errors as ce

    def translated(domain: str) -> set[str]:
        with (LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        return {m.id for m in catalog if m.id and m.string}

    ids = {msgid for _, msgid in ce.MESSAGES} | {"Section {n}", "Source {n}"}
    ids |= set(ce.TOP_LABELS.values()) | set(ce.SECTION_LABELS.values())
    ids |= set(ce.OPTION_LABELS.values())
    assert ids - translated("web") == set()
    said = {msgid for _, msgid in fw.MESSAGES} | set(fw.STATUS_WORDS.values()) | {fw.LEAD}
    said |= set(fw.SIZE_WORDS.values())
    assert said - translated(fw.DOMAIN) == set()
