"""Every message of the pre-flight check has its Finnish and Swedish text, placeholders kept."""

from __future__ import annotations

import ast
import string

import pytest
from babel.messages.pofile import read_po

from outreach.checks.report import VERSION_HEADS, VERSION_WORDS
from outreach.l10n import LOCALE_DIR
from tests.conftest import ROOT


def used() -> set[str]:
    """``finding(level, check, lang, "…")`` and ``localised("…")`` in outreach/checks, and
    the names of the language versions."""
    found: set[str] = set()
    for path in sorted((ROOT / "outreach" / "checks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            index = {"finding": 3, "localised": 0}.get(str(name))
            if index is not None and len(node.args) > index:
                arg = node.args[index]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    # a language version as the report's headings and sentences name it
    found |= set(VERSION_HEADS.values())
    found |= {msgid for words in VERSION_WORDS.values() for msgid in words.values()}
    return found


def catalog(lang: str) -> dict[str, str]:
    """Each msgid and its text; a message with a count by its singular, its forms joined."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "checks.po").open("rb") as fh:
        po = read_po(fh, locale=lang, domain="checks")
    texts = {}
    for m in po:
        if not m.id:
            continue
        if m.pluralizable:
            texts[str(m.id[0])] = "\n".join(m.string) if all(m.string) else ""
        else:
            texts[str(m.id)] = str(m.string or "")
    return texts


def test_the_scan_finds_the_messages() -> None:
    assert {"An image has no alt text", "error", "Skipped: {what}"} <= used()


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_every_message_is_translated_with_its_placeholders(lang: str) -> None:
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    texts = catalog(lang)
    assert sorted(m for m in used() if not texts.get(m, "").strip()) == []
    assert {m: t for m, t in texts.items() if fields(m) != fields(t)} == {}
    assert set(texts) == set(catalog("en")) == used()
