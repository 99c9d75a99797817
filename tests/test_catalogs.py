"""The message catalogs: every entry well formed, every msgid once per file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from outreach.l10n import LOCALE_DIR

CATALOGS = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_a_catalog_reads_without_a_fault_and_names_each_message_once(path: Path) -> None:
    with path.open("rb") as fh:  # a msgid without its msgstr, a stray line: an error
        read_po(fh, abort_invalid=True)
    text = path.read_text(encoding="utf-8")
    entries = re.split(r"\n\s*\n", text.strip())
    ids = [_key(entry) for entry in entries]
    doubled = sorted({i for i in ids if i and ids.count(i) > 1})
    assert doubled == [], f"{path}: messages given twice (the second is ignored): {doubled}"


def _key(entry: str) -> str:
    """An entry's msgctxt and msgid lines (everything before its msgstr)."""
    lines = [line for line in entry.splitlines() if not line.startswith("#")]
    head = []
    for line in lines:
        if line.startswith("msgstr"):
            break
        head.append(line)
    return "\n".join(head)


def test_there_are_catalogs() -> None:
    assert {p.parts[-3] for p in CATALOGS} == {"en", "fi", "sv"}
