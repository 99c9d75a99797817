"""Which content items go into a section, per issue language.

Rules, in the order they apply:

* only items of the section's own sources that are current at the source
  (not retired, not cancelled) and that no other issue of the campaign listed
  (an upcoming event may be listed again, see ``relist_upcoming``);
* by the section's kind: news first seen since the campaign's last sent issue
  and dated within ``window_days`` (newest first), events that have not
  started and start within the horizon (soonest first), stories and links
  newest first, minus dated entries that have already begun;
* keyword ``include`` / ``exclude`` patterns, case-insensitive, matched on the
  words of title and summary (every language variant); ``*`` matches the rest
  of a word, so ``ilmasto*`` finds ``ilmastotyö``; ``categories`` must share one
  category with the item; a section ``language`` keeps only items in it;
* occurrences of one recurring event (same source, title, link and place)
  make one entry: the first date, with the later ones listed beside it; a
  cancelled date of a series its source names (a calendar's UID, a Linked
  Events recurring super event) is never listed, the series' other dates are;
* per issue language: items in that language are chosen first, then items in
  the campaign's fallback language (marked as such), at most ``max_items``;
  the chosen ones are then shown in the section's order (events by date), so
  fallback items mix in where they belong;
* nothing twice in one issue: an item whose URL or normalised title and date
  is already shown (by an earlier section, or earlier in this one) is left out,
  so the first by section order stays.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from outreach.campaigns import Section
from outreach.issues.claims import Used, dedupe_keys
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


def relists(section: Section) -> bool:
    """Whether the section lists an upcoming event again that an earlier issue listed."""
    if section.relist_upcoming is not None:
        return section.relist_upcoming
    return section.kind == "events"


def available(item: ContentItem, section: Section, window: Window, used: Used) -> bool:
    """Current at the source, and not listed by another issue of the campaign yet.

    A cancelled event is never announced; one an earlier issue announced is listed
    once more, marked cancelled, while it is still upcoming, unless it is one date
    of a series (:func:`is_cancelled_date`).
    """
    upcoming = item.starts_at is not None and item.starts_at > window.now
    if item.event_status == "cancelled":
        return upcoming and used.cancelled_since(item) and not is_cancelled_date(item)
    if item.retired_at is not None:
        return False
    if not used.has(item):
        return True
    return relists(section) and upcoming


def in_time(item: ContentItem, section: Section, window: Window) -> bool:
    if section.kind == "news":
        # new: first seen since the last sent issue (an item published earlier but
        # fetched later still counts), and not older than window_days by its date
        when = item.published_at or item.first_seen_at
        oldest = window.now - timedelta(days=section.window_days)
        if window.news_since is not None and item.first_seen_at <= window.news_since:
            return False
        return oldest < when <= window.now
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


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:32]


def series_keys(item: ContentItem) -> list[str]:
    """The keys of the recurring event an event is a date of; empty for anything else.

    ``alike``: the same source, title, link and place (the dates one entry shows,
    :func:`group_occurrences`); ``series``: the series its source names
    (``ContentItem.series``: a calendar's UID, a Linked Events super event). An
    entry's edits in a draft hold for its event through these keys
    (:mod:`outreach.issues.carry`), whichever of its dates the draft shows.
    """
    if item.kind != "event":
        return []
    keys = [f"alike:{item.source_id}:{_digest(*_series_key(item))}"]
    if item.series:
        keys.append(f"series:{item.source_id}:{_digest(item.series)}")
    return keys


def is_cancelled_date(item: ContentItem) -> bool:
    """A cancelled date of a series its source names: never listed, not even marked
    (the series goes on; its other dates are what readers need)."""
    return item.event_status == "cancelled" and bool(item.series)


def group_occurrences(
    ordered: Sequence[ContentItem], section: Section
) -> list[tuple[ContentItem, tuple[ContentItem, ...]]]:
    """Events: each recurring series once, at its first date, with its later dates.

    A cancelled event (listed once more, marked) stands alone: it never heads
    another date's entry, nor is it one of an entry's later dates.
    """
    if section.kind != "events":
        return [(item, ()) for item in ordered]
    series: dict[tuple[object, ...], list[ContentItem]] = {}
    for item in ordered:
        key = ("cancelled", item.id) if item.event_status == "cancelled" else _series_key(item)
        series.setdefault(key, []).append(item)
    return [(items[0], tuple(items[1:])) for items in series.values()]


def for_language(
    ordered: Sequence[ContentItem],
    section: Section,
    lang: str,
    fallback: str | None,
    default_lang: str,
    shown: set[tuple[str, str]] | None = None,
) -> list[Picked]:
    """At most ``max_items``: items in ``lang`` chosen first, then ``fallback``-language
    ones; returned in the section's order (events soonest first).

    ``shown`` holds the dedupe keys of what the issue already shows in ``lang``;
    a copy of any of it is left out, and what is picked is added to it.
    """
    shown = set() if shown is None else shown
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
    picked: list[Picked] = []
    for entry in own + other:
        if len(picked) >= section.max_items:
            break
        if dedupe_keys(entry.item) & shown:
            continue
        also = tuple(i for i in entry.also if not dedupe_keys(i) & shown)
        picked.append(Picked(entry.item, entry.fallback, also))
        for item in (entry.item, *also):
            shown |= dedupe_keys(item)
    position = {id(item): n for n, (item, _) in enumerate(grouped)}
    return sorted(picked, key=lambda p: position[id(p.item)])
