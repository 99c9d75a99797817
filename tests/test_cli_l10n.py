"""Every command-line message has a Finnish and a Swedish translation in the cli catalog.

The msgids are found in the source: ``_("…")`` calls and ``gettext_for(lang, "cli",
"…")`` calls in ``outreach/cli/``, the scheduler and the reports they print; a message
with a count, ``_n("…", "…", n)`` or ``ngettext_for(lang, "cli", "…", "…", n)``, is
found by its singular msgid and must be a plural entry with that msgid_plural.
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
    # errors a person meets at the command line: msgids marked with ``errors.msg``
    ROOT / "outreach" / "errors.py",
    ROOT / "outreach" / "validation.py",
    ROOT / "outreach" / "dkim.py",
    ROOT / "outreach" / "issues" / "state.py",
    ROOT / "outreach" / "issues" / "editing.py",
    ROOT / "outreach" / "issues" / "schedule.py",
    ROOT / "outreach" / "issues" / "build.py",
    ROOT / "outreach" / "stats" / "figures.py",
    ROOT / "outreach" / "campaigns" / "config.py",
    ROOT / "outreach" / "sources" / "stories.py",
    ROOT / "outreach" / "staff" / "accounts.py",
    ROOT / "outreach" / "stats" / "city.py",
    ROOT / "outreach" / "stats" / "issue.py",
    ROOT / "outreach" / "render" / "__init__.py",
    ROOT / "outreach" / "bounces" / "imap.py",
    ROOT / "outreach" / "delivery" / "message.py",
    ROOT / "outreach" / "delivery" / "send.py",
    ROOT / "outreach" / "delivery" / "outbox" / "enqueue.py",
    *sorted((ROOT / "outreach" / "delivery" / "backends").glob("*.py")),
]


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _joined(node: ast.expr) -> str | None:
    """A literal, or literals joined with ``+`` (a long msgid split over lines)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _joined(node.left), _joined(node.right)
        return left + right if left is not None and right is not None else None
    return _text(node)


def calls_in(path: Path) -> tuple[set[str], dict[str, str]]:
    """The msgids of ``path`` and, for its messages with a count, singular → plural."""
    found: set[str] = set()
    plurals: dict[str, str] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        args = node.args
        if name in ("_", "msg", "_msg"):  # _msg: errors.msg where ``msg`` names a variable
            text = _joined(args[0])
        elif name == "gettext_for" and len(args) >= 3 and _text(args[1]) == "cli":
            text = _text(args[2])
        elif name == "_n" and len(args) >= 2:
            text, plural = _joined(args[0]), _joined(args[1])
            if text is not None and plural is not None:
                plurals[text] = plural
        elif name == "ngettext_for" and len(args) >= 4 and _text(args[1]) == "cli":
            text, plural = _joined(args[2]), _joined(args[3])
            if text is not None and plural is not None:
                plurals[text] = plural
        else:
            continue
        if text is not None:
            found.add(text)
    return found, plurals


def msgids_in(path: Path) -> set[str]:
    return calls_in(path)[0]


def used_msgids() -> set[str]:
    # a language version as the object of a sentence (outreach.l10n.version_name)
    return set().union(*(msgids_in(path) for path in SOURCES)) | set(VERSION_MSGIDS.values())


def used_plurals() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in SOURCES:
        found.update(calls_in(path)[1])
    return found


def catalog(lang: str) -> dict[str, str]:
    """Each msgid and its translation; a plural entry's forms joined by a line break."""
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "cli.po").open("rb") as fh:
        po = read_po(fh, locale=lang, domain="cli")
    return {_singular(m.id): _joined_forms(m.string) for m in po if m.id}


def plural_ids(lang: str) -> dict[str, str]:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "cli.po").open("rb") as fh:
        po = read_po(fh, locale=lang, domain="cli")
    return {str(m.id[0]): str(m.id[1]) for m in po if m.id and m.pluralizable}


def _singular(msgid: object) -> str:
    return str(msgid[0]) if isinstance(msgid, tuple | list) else str(msgid)


def _joined_forms(string: object) -> str:
    if isinstance(string, tuple | list):
        # a plural entry lacking a form reads as untranslated
        return "\n".join(str(s) for s in string) if all(string) else ""
    return str(string or "")


def test_the_scan_finds_the_messages() -> None:
    found = used_msgids()
    assert "Error: {message}" in found  # outreach/cli/base.py
    assert "another run-due is in progress" in found  # the scheduler
    assert "scheduler: {state}" in found  # the status report
    assert "{n} city" in found  # a message with a count, _n(…)
    assert len(found) > 40
    assert used_plurals()["{n} campaign"] == "{n} campaigns"


@pytest.mark.parametrize("lang", ["fi", "sv", "en"])
def test_a_message_with_a_count_is_a_plural_entry(lang: str) -> None:
    entries = plural_ids(lang)
    wrong = {s: p for s, p in used_plurals().items() if entries.get(s) != p}
    assert wrong == {}, f"make these plural entries in outreach/locale/{lang}/LC_MESSAGES/cli.po"


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


@pytest.mark.parametrize(
    ("lang", "one", "two"),
    [
        ("fi", "Tarkistus: 1 virhe, 1 varoitus.", "Tarkistus: 2 virhettä, 0 varoitusta."),
        ("sv", "Kontroll: 1 fel, 1 varning.", "Kontroll: 2 fel, 0 varningar."),
        ("en", "Pre-flight check: 1 error, 1 warning.", "Pre-flight check: 2 errors, 0 warnings."),
    ],
)
def test_the_check_summary_counts_in_the_form_of_the_number(
    monkeypatch: pytest.MonkeyPatch, lang: str, one: str, two: str
) -> None:
    from datetime import UTC, datetime

    from outreach.checks.report import ERROR, WARNING, Finding, Report
    from outreach.cli.checks import summary
    from outreach.settings import get_settings

    monkeypatch.setenv("OUTREACH_CLI_LANGUAGE", lang)
    get_settings.cache_clear()

    def report(*levels: str) -> Report:
        found = [Finding(ERROR if lv == "e" else WARNING, "c", None, {}) for lv in levels]
        return Report(1, datetime.now(UTC), ["fi"], found)

    try:
        assert [summary(report("e", "w")), summary(report("e", "e"))] == [one, two]
    finally:
        get_settings.cache_clear()


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
