"""Content checks, read from the issue's snapshot (what will be sent, as it was built).

- a language version with nothing in it: an error when it would go out empty,
  a warning when its readers get nothing this time or another version
  (``when_empty``: skip or fallback);
- a section with fewer items than the same section in another language;
- items shown in another language (marked as such in the message);
- a story without its company;
- an event that is over, or without a time or a place;
- the same item twice in one language version (the same link or title).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from outreach.checks.report import ERROR, WARNING, Finding, finding, language_version
from outreach.l10n import LANGUAGES, format_datetime


def _entries(data: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (section, entry)
        for section in data.get("sections") or []
        for entry in section.get("entries") or []
    ]


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def empty_languages(snapshot: dict[str, Any]) -> dict[str, str | None]:
    """Languages with nothing in them → the version their readers get (None: nothing, or
    the language itself when it goes out empty)."""
    languages: dict[str, Any] = snapshot.get("languages") or {}
    send_as: dict[str, str | None] = snapshot.get("send_as") or {}
    empty: dict[str, str | None] = {}
    for lang, data in languages.items():
        has_body = bool((data.get("body_markdown") or "").strip())
        if snapshot.get("kind") == "announcement":
            if not has_body:
                empty[lang] = lang
        elif not _entries(data):
            empty[lang] = send_as.get(lang, lang)
    return empty


def check_content(snapshot: dict[str, Any], now: datetime) -> list[Finding]:
    languages: dict[str, Any] = snapshot.get("languages") or {}
    found: list[Finding] = []
    empty = empty_languages(snapshot)
    for lang, target in empty.items():
        if target == lang:
            found.append(
                finding(ERROR, "content.empty", lang, "This language version has no content")
            )
        elif target is None:
            found.append(
                finding(
                    WARNING,
                    "content.empty",
                    lang,
                    "This language version has no content; its readers get no issue",
                )
            )
        else:
            found.append(
                finding(
                    WARNING,
                    "content.empty",
                    lang,
                    "This language version has no content; its readers get {other}",
                    other=language_version(target, "get"),
                )
            )
    counts = {
        lang: Counter(s.get("id") for s, _ in _entries(data)) for lang, data in languages.items()
    }
    for lang, data in languages.items():
        if lang in empty:
            continue
        for section in data.get("sections") or []:
            mine = counts[lang][section.get("id")]
            richest = max(
                ((c[section.get("id")], other) for other, c in counts.items() if other != lang),
                default=(0, ""),
            )
            if richest[0] > mine:
                found.append(
                    finding(
                        WARNING,
                        "content.thin_section",
                        lang,
                        'The section "{title}" has {n} item here and {m} {other}',
                        plural='The section "{title}" has {n} items here and {m} {other}',
                        number=mine,
                        detail=str(section.get("id")),
                        title=section.get("title") or section.get("id"),
                        n=mine,
                        m=richest[0],
                        other=language_version(richest[1], "in"),
                    )
                )
        found += _entry_findings(lang, data, now)
    return found


def _entry_findings(lang: str, data: dict[str, Any], now: datetime) -> list[Finding]:
    found: list[Finding] = []
    entries = _entries(data)
    fallback = [e.get("title") or "" for _, e in entries if e.get("fallback")]
    if fallback:
        found.append(
            finding(
                WARNING,
                "content.fallback",
                lang,
                "{n} item is in another language (marked as such in the message)",
                plural="{n} items are in another language (marked as such in the message)",
                number=len(fallback),
                detail="; ".join(fallback)[:300],
                n=len(fallback),
            )
        )
    for section, entry in entries:
        title = str(entry.get("title") or "")
        if section.get("kind") == "stories" and not entry.get("company"):
            found.append(
                finding(
                    WARNING,
                    "content.story_company",
                    lang,
                    'The story "{title}" does not name its company',
                    detail=title,
                    title=title,
                )
            )
        if entry.get("kind") == "event" or section.get("kind") == "events":
            found += _event_findings(lang, entry, title, now)
    seen: set[str] = set()
    twice: list[str] = []
    for _, entry in entries:
        url = str(entry.get("url") or "").strip().lower()
        name = " ".join(str(entry.get("title") or "").split()).lower()
        keys = {k for k in (f"url:{url}" if url else "", f"title:{name}" if name else "") if k}
        if keys & seen:
            twice.append(str(entry.get("title") or url))
        seen |= keys
    found += [
        finding(
            WARNING,
            "content.duplicate",
            lang,
            'The item "{title}" is in this version more than once',
            detail=title[:200],
            title=title,
        )
        for title in dict.fromkeys(twice)
    ]
    return found


def _event_findings(lang: str, entry: dict[str, Any], title: str, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    starts = _time(entry.get("starts_at"))
    ends = _time(entry.get("ends_at")) or starts
    if starts is None:
        found.append(
            finding(
                WARNING,
                "content.event_time",
                lang,
                'The event "{title}" has no time',
                detail=title,
                title=title,
            )
        )
    elif ends is not None and ends < now and entry.get("event_status") != "cancelled":
        found.append(
            finding(
                ERROR,
                "content.past_event",
                lang,
                'The event "{title}" is already over',
                detail={ui: f"{title} ({format_datetime(starts, ui)})" for ui in LANGUAGES},
                title=title,
            )
        )
    if not (entry.get("location") or entry.get("is_online") or entry.get("online_url")):
        found.append(
            finding(
                WARNING,
                "content.event_place",
                lang,
                'The event "{title}" has no place and is not online',
                detail=title,
                title=title,
            )
        )
    return found
