"""Every command-line message has a Finnish and a Swedish translation in the cli catalog.

The msgids are found in the source: ``_("…")`` calls and ``gettext_for(lang, "cli",
"…")`` calls in ``outreach/cli/``, the scheduler and the reports they print.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from outreach.l10n import LOCALE_DIR, VERSION_MSGIDS
from tests.conftest import ROOT

SOURCES = [
    ROOT / "outreach" / "delivery" / "base_url.py",
    ROOT / "outreach" / "settings.py",
    *sorted((ROOT / "outreach" / "cli").glob("*.py")),
    ROOT / "outreach" / "demo.py",
    *sorted((ROOT / "outreach" / "subscriptions").glob("*.py")),
    ROOT / "outreach" / "delivery" / "workers.py",
    ROOT / "outreach" / "delivery" / "policy.py",
    ROOT / "outreach" / "delivery" / "overview.py",
    *sorted((ROOT / "outreach" / "scheduler").glob("*.py")),
]


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def msgids_in(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name == "_":
            text = _text(node.args[0])
        elif name == "gettext_for" and len(node.args) >= 3 and _text(node.args[1]) == "cli":
            text = _text(node.args[2])
        else:
            continue
        if text is not None:
            found.add(text)
    return found


def used_msgids() -> set[str]:
    # a language version as the object of a sentence (outreach.l10n.version_name)
    return set().union(*(msgids_in(path) for path in SOURCES)) | set(VERSION_MSGIDS.values())


def catalog(lang: str) -> dict[str, str]:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "cli.po").open("rb") as fh:
        po = read_po(fh, locale=lang, domain="cli")
    return {str(m.id): str(m.string or "") for m in po if m.id}


def test_the_scan_finds_the_messages() -> None:
    found = used_msgids()
    assert "Error: {message}" in found  # outreach/cli/base.py
    assert "another run-due is in progress" in found  # the scheduler
    assert "scheduler: {state}" in found  # the status report
    assert len(found) > 40


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_every_cli_message_is_translated(lang: str) -> None:
    translated = catalog(lang)
    missing = sorted(m for m in used_msgids() if not translated.get(m, "").strip())
    assert missing == [], f"add these to outreach/locale/{lang}/LC_MESSAGES/cli.po"


@pytest.mark.parametrize("lang", ["fi", "sv"])
def test_translations_keep_the_placeholders(lang: str) -> None:
    def fields(text: str) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(text) if f}

    wrong = {
        msgid: text
        for msgid, text in catalog(lang).items()
        if text and fields(msgid) != fields(text)
    }
    assert wrong == {}


def test_the_english_catalog_lists_the_same_msgids() -> None:
    assert set(catalog("en")) == set(catalog("fi")) == set(catalog("sv"))


@pytest.mark.parametrize(("lang", "comma"), [("fi", True), ("sv", True), ("en", False)])
def test_numbers_with_decimals_are_written_as_the_staff_write_them(lang: str, comma: bool) -> None:
    from outreach.delivery.policy import PolicyBurst
    from outreach.delivery.workers import SendReport
    from outreach.subscriptions.import_report import percent

    def number(text: str) -> str:
        return text if comma else text.replace(",", ".")

    report = SendReport(issue_id=7, sent=3, elapsed=4.75)
    assert f" {number('4,8')} s" in report.summary(lang)
    burst = PolicyBurst("gmail.com", 5, 0.5, "550 5.7.1 policy")
    assert f" {number('0,5')} s" in burst.line(lang, 7)
    assert percent(0.125, lang).startswith(number("12,5"))
