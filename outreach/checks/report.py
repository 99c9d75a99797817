"""The pre-flight report: findings (error or warning) and the checks that were skipped.

A finding names its check (``links.broken``), the language version it is
about (or None for the whole issue), a message a person reads in Finnish,
Swedish and English, and a detail for the technically minded (a URL, a
score, a colour pair), in each language too where it has words or numbers
with decimals (a URL is the same in all three). Messages and details come
from the ``checks`` gettext catalog and are stored already translated, so a
stored report reads the same in the console later, whatever changed since.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from outreach.l10n import LANGUAGES, VERSION_MSGIDS, gettext_for, ngettext_for

Level = Literal["error", "warning"]
ERROR: Level = "error"
WARNING: Level = "warning"

__all__ = [
    "ERROR",
    "WARNING",
    "Finding",
    "Level",
    "Note",
    "Report",
    "language_version",
    "localised",
    "same_everywhere",
]


def localised(msgid: str, *, plural: str = "", number: int = 0, **params: Any) -> dict[str, str]:
    """``msgid`` from the ``checks`` catalog in every language, ``{name}`` fields filled;
    a field given as a mapping by language (what :func:`localised` returns) is filled
    with its value in each language; with a ``plural``, the form each language gives
    ``number`` (``1 kohde``, ``2 kohdetta``)."""

    def text(lang: str) -> str:
        if plural:
            return ngettext_for(lang, "checks", msgid, plural, number)
        return gettext_for(lang, "checks", msgid)

    return {
        lang: text(lang).format(
            **{k: v[lang] if isinstance(v, Mapping) else v for k, v in params.items()}
        )
        for lang in LANGUAGES
    }


def same_everywhere(text: str) -> dict[str, str]:
    """A text without words (a URL, a subject as written) for every language; none if empty."""
    return dict.fromkeys(LANGUAGES, text) if text else {}


def _detail(value: Any) -> dict[str, str]:
    """A stored detail: a mapping by language, or a plain text of an older report."""
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items() if v}
    return same_everywhere(str(value or ""))


#: A language version as a heading of the report's lines says it (msgids).
VERSION_HEADS = {"fi": "Finnish version:", "sv": "Swedish version:", "en": "English version:"}
#: "the Swedish version" in each language's own grammar, by the case a sentence
#: needs: the version readers get (``get``), the version something is in (``in``).
VERSION_WORDS = {
    "get": VERSION_MSGIDS,
    "in": {
        "fi": "in the Finnish version",
        "sv": "in the Swedish version",
        "en": "in the English version",
    },
}


def language_version(code: str, case: str) -> dict[str, str] | str:
    """The version in language ``code`` as a sentence of the ``checks`` catalog says it
    (by ``case``, see :data:`VERSION_WORDS`), in every language; an unknown code as it is."""
    msgid = VERSION_WORDS[case].get(code)
    return localised(msgid) if msgid else code


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    lang: str | None
    message: Mapping[str, str]
    #: The detail by language (empty: none).
    detail: Mapping[str, str] = field(default_factory=dict)

    def text(self, lang: str) -> str:
        return self.message.get(lang) or self.message.get("en") or self.check

    def detail_text(self, lang: str) -> str:
        return self.detail.get(lang) or self.detail.get("en") or ""

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "check": self.check,
            "lang": self.lang,
            "message": dict(self.message),
            "detail": dict(self.detail),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        level: Level = ERROR if data.get("level") == ERROR else WARNING
        return cls(
            level,
            str(data.get("check") or ""),
            data.get("lang"),
            dict(data.get("message") or {}),
            _detail(data.get("detail")),
        )


def finding(
    level: Level,
    check: str,
    lang: str | None,
    msgid: str,
    detail: str | Mapping[str, str] = "",
    **params: Any,
) -> Finding:
    """A finding whose message is ``msgid`` of the ``checks`` catalog (with ``plural`` and
    ``number``, a message with a count: see :func:`localised`); a ``detail`` given as a
    text is the same in every language."""
    return Finding(level, check, lang, localised(msgid, **params), _detail(detail))


@dataclass(frozen=True)
class Note:
    """A family of checks that did not run, and why (e.g. SpamAssassin not installed)."""

    family: str
    message: Mapping[str, str]

    def text(self, lang: str) -> str:
        return self.message.get(lang) or self.message.get("en") or self.family


@dataclass
class Report:
    issue_id: int
    checked_at: datetime
    languages: list[str]
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Note] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        """No errors: nothing blocks approval."""
        return not self.errors

    def add(self, found: Iterable[Finding]) -> None:
        self.findings.extend(found)

    def for_language(self, lang: str | None) -> list[Finding]:
        return [f for f in self.findings if f.lang == lang]

    def to_json(self) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "checked_at": self.checked_at.isoformat(),
            "languages": list(self.languages),
            "findings": [f.to_json() for f in self.findings],
            "skipped": [{"family": n.family, "message": dict(n.message)} for n in self.skipped],
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            issue_id=int(data.get("issue_id") or 0),
            checked_at=datetime.fromisoformat(str(data["checked_at"])),
            languages=[str(lang) for lang in data.get("languages") or []],
            findings=[Finding.from_json(f) for f in data.get("findings") or []],
            skipped=[
                Note(str(n.get("family") or ""), dict(n.get("message") or {}))
                for n in data.get("skipped") or []
            ],
            seconds=float(data.get("seconds") or 0.0),
        )

    def lines(self, ui_lang: str) -> list[str]:
        """The report as text lines in ``ui_lang``: per language version, then the rest."""
        out: list[str] = []
        labels = {ERROR: localised("error"), WARNING: localised("warning")}
        groups: list[str | None] = [*self.languages, None]
        for lang in groups:
            found = sorted(self.for_language(lang), key=lambda f: (f.level != ERROR, f.check))
            if lang is None and not found:
                continue
            head = localised(VERSION_HEADS[lang]) if lang in VERSION_HEADS else None
            out.append((head or localised("Whole issue:"))[ui_lang])
            if not found:
                out.append("  " + localised("no findings")[ui_lang])
            for f in found:
                line = f"  {labels[f.level][ui_lang]:8} {f.check:24} {f.text(ui_lang)}"
                detail = f.detail_text(ui_lang)
                out.append(f"{line} ({detail})" if detail else line)
        for note in self.skipped:
            out.append(localised("Skipped: {what}", what=note.text(ui_lang))[ui_lang])
        errors, warnings = len(self.errors), len(self.warnings)
        out.append(
            localised(
                "{errors}, {warnings}",
                errors=localised("{n} error", plural="{n} errors", number=errors, n=errors)[
                    ui_lang
                ],
                warnings=localised(
                    "{n} warning", plural="{n} warnings", number=warnings, n=warnings
                )[ui_lang],
            )[ui_lang]
        )
        return out
