"""Which content items go into a section, per issue language.

Rules, in the order they apply:

* only items of the section's own sources that no other issue has claimed;
* by the section's kind: news since a cut-off (newest first), events that
  have not started and start within the horizon (soonest first), stories and
  links newest first, minus dated entries that have already begun;
* keyword ``include`` / ``exclude`` patterns, case-insensitive, matched on the
  words of title and summary (every language variant); ``*`` matches the rest
  of a word, so ``ilmasto*`` finds ``ilmastotyö``; ``categories`` must share one
  category with the item; a section ``language`` keeps only items in it;
* occurrences of one recurring event (same source, title, link and place)
  make one entry: the first date, with the later ones listed beside it;
* per issue language: items in that language are chosen first, then items in
  the campaign's fallback language (marked as such), at most ``max_items``;
  the chosen ones are then shown in the section's order (events by date), so
  fallback items mix in where they belong.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from outreach.campaigns import Section
from outreach.models import ContentItem


@dataclass(frozen=True)
class Window:
    """The time frame a build looks at."""

    now: datetime
    news_since: datetime | None  # None: the first issue, use the section's window_days


@dataclass(frozen=True)
class Picked:
    item: ContentItem
    fallback: bool  # shown in another language than the issue's
    also: tuple[ContentItem, ...] = ()  # later occurrences of the same recurring event


@cache
def _pattern(word: str) -> re.Pattern[str]:
    body = r"\w*".join(re.escape(part) for part in word.casefold().split("*"))
    body = r"\s+".join(body.split(r"\ "))  # a phrase matches across any whitespace
    return re.compile(rf"(?<!\w){body}(?!\w)")


def item_text(item: ContentItem) -> str:
    """Title and summary of every language variant, casefolded, for keyword matching."""
    parts = [item.title, item.summary]
    for variant in (item.translations or {}).values():
        if isinstance(variant, dict):
            parts += [str(variant.get("title") or ""), str(variant.get("summary") or "")]
    return " ".join(parts).casefold()


def matches_any(text: str, patterns: Iterable[str]) -> bool:
    return any(_pattern(p).search(text) for p in patterns if p.strip())


def passes_rules(item: ContentItem, section: Section) -> bool:
    if section.include or section.exclude:
        text = item_text(item)
        if section.include and not matches_any(text, section.include):
            return False
        if section.exclude and matches_any(text, section.exclude):
            return False
    if section.categories:
        wanted = {c.casefold() for c in section.categories}
        if not wanted & {str(c).casefold() for c in item.categories or []}:
            return False
    return not (section.language and section.language not in languages_of(item, ""))


def languages_of(item: ContentItem, default: str) -> set[str]:
    """The languages an item can be shown in (its own plus its translations)."""
    langs = {item.language or default}
    for lang, variant in (item.translations or {}).items():
        if isinstance(variant, dict) and variant.get("title"):
            langs.add(lang)
    return langs


def in_time(item: ContentItem, section: Section, window: Window) -> bool:
    if section.kind == "news":
        when = item.published_at or item.first_seen_at
        since = window.news_since or window.now - timedelta(days=section.window_days)
        return since < when <= window.now
    if section.kind == "events":
        if item.starts_at is None:
            return False
        return window.now < item.starts_at <= window.now + timedelta(days=section.horizon_days)
    # stories and links: anything the sources hold, except what has already begun
    # (a market-dialogue session in a procurement list, say)
    return item.starts_at is None or item.starts_at > window.now


def sort_key(section: Section, item: ContentItem) -> tuple[float, int]:
    if section.kind == "events":
        assert item.starts_at is not None
        return (item.starts_at.timestamp(), item.id)
    when = item.published_at or item.first_seen_at
    return (-when.timestamp(), -item.id)


def candidates(items: Sequence[ContentItem], section: Section, window: Window) -> list[ContentItem]:
    """The section's eligible items, in section order (before language choice)."""
    chosen = [
        item for item in items if in_time(item, section, window) and passes_rules(item, section)
    ]
    return sorted(chosen, key=lambda item: sort_key(section, item))


def _series_key(item: ContentItem) -> tuple[object, ...]:
    return (item.source_id, item.title, item.url, item.location, item.online_url)


def group_occurrences(
    ordered: Sequence[ContentItem], section: Section
) -> list[tuple[ContentItem, tuple[ContentItem, ...]]]:
    """Events: each recurring series once, at its first date, with its later dates."""
    if section.kind != "events":
        return [(item, ()) for item in ordered]
    series: dict[tuple[object, ...], list[ContentItem]] = {}
    for item in ordered:
        series.setdefault(_series_key(item), []).append(item)
    return [(items[0], tuple(items[1:])) for items in series.values()]


def for_language(
    ordered: Sequence[ContentItem],
    section: Section,
    lang: str,
    fallback: str | None,
    default_lang: str,
) -> list[Picked]:
    """At most ``max_items``: items in ``lang`` chosen first, then ``fallback``-language
    ones; returned in the section's order (events soonest first)."""
    grouped = group_occurrences(ordered, section)
    own = [Picked(i, False, also) for i, also in grouped if lang in languages_of(i, default_lang)]
    other: list[Picked] = []
    if fallback and fallback != lang:
        other = [
            Picked(i, True, also)
            for i, also in grouped
            if lang not in languages_of(i, default_lang)
            and fallback in languages_of(i, default_lang)
        ]
    position = {id(item): n for n, (item, _) in enumerate(grouped)}
    chosen = (own + other)[: section.max_items]
    return sorted(chosen, key=lambda p: position[id(p.item)])
