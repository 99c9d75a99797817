"""Storing one source's answer: its items as a current view.

Every item keeps its identity across fetches (``(source, external_id)``). A
fetch updates what changed, adds what is new and, when the answer is the
source's whole current view (``FetchResult.current``: calendars, Linked
Events, hand-kept listings), retires what is gone: an event that would start
inside the window the answer covers but is missing from it, or is marked
cancelled, was cancelled at the source (``event_status`` ``cancelled``); one
outside that window has just passed or moved out of reach. Feeds list their
latest entries only, so an entry that scrolls out of a feed stays.

Items are never claimed or deduplicated here: which issue holds an item is
the issues stage's business, per campaign (``IssueItem``), so one source can
serve several cities and an edit reaches every draft that is rebuilt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from outreach.models import ContentItem, SourceState
from outreach.sources.base import FetchResult, RawItem, content_hash, web_url
from outreach.sources.dedupe import fingerprint, unique_by_id
from outreach.sources.sanitize import clean_html, plain_line, summarise, to_text

SUMMARY_CHARS = 300
SERIES_CHARS = 500
CANCELLED = "cancelled"


@dataclass
class Stored:
    """Counts of one source's store: new, changed, and retired (of them cancelled)."""

    new: int = 0
    updated: int = 0
    retired: int = 0
    cancelled: int = 0


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _text(value: str | None, limit: int) -> str | None:
    return (plain_line(value)[:limit] or None) if value else None


def _variant(texts: dict[str, str], base: str | None) -> dict[str, str]:
    html_text = clean_html(texts.get("summary_html", ""), base)
    variant = {
        "title": plain_line(texts.get("title", ""))[:1000],
        "summary": summarise(to_text(html_text), SUMMARY_CHARS),
        "summary_html": html_text,
    }
    for key, limit in (("location", 500), ("price", 200)):
        if texts.get(key) is not None:
            variant[key] = plain_line(texts[key])[:limit]
    if url := web_url(texts.get("url")):
        variant["url"] = url
    return variant


def item_fields(raw: RawItem, kind: str) -> dict[str, Any]:
    """The ContentItem columns of ``raw``: text tidied, HTML sanitised, dates aware."""
    url = web_url(raw.url)
    base = web_url(raw.base_url) or url
    summary_html = clean_html(raw.summary_html, base)
    title = plain_line(raw.title)[:1000] or "(untitled)"
    starts = _aware(raw.starts_at)
    return {
        "kind": kind,
        "url": url,
        "title": title,
        "summary": summarise(to_text(summary_html), SUMMARY_CHARS),
        "summary_html": summary_html,
        "language": (raw.language or "")[:5] or None,
        "translations": {
            lang: _variant(texts, base) for lang, texts in sorted(raw.translations.items())
        },
        "categories": [c for c in (plain_line(c)[:100] for c in raw.categories) if c][:30],
        "published_at": _aware(raw.published_at),
        "starts_at": starts,
        "ends_at": _aware(raw.ends_at),
        "all_day": raw.all_day,
        "ends_date_only": raw.ends_date_only,
        "location": _text(raw.location, 500),
        "online_url": web_url(raw.online_url),
        "is_online": raw.is_online,
        "price": plain_line(raw.price)[:200] if raw.price else raw.price,
        "event_status": raw.event_status,
        "image_url": web_url(raw.image_url),
        "fingerprint": fingerprint(title, starts or _aware(raw.published_at)),
        "series": _series(raw.series),
    }


def _series(value: str | None) -> str | None:
    """A series name kept to the column's 500 characters (a longer one hashed)."""
    if not value:
        return None
    return value if len(value) <= SERIES_CHARS else content_hash(value)


def _in_window(row: ContentItem, window: tuple[datetime, datetime] | None) -> bool:
    """Whether the answer would have held ``row`` had it still been there."""
    if window is None:
        return False
    return row.starts_at is not None and window[0] <= row.starts_at <= window[1]


def store_items(
    session: Session, state: SourceState, kind: str, result: FetchResult, now: datetime
) -> Stored:
    """Apply one answer to the source's rows (flushed, not committed)."""
    counts = Stored()
    unique = unique_by_id(result.items, lambda raw: item_fields(raw, raw.kind or kind))
    query = select(ContentItem).where(ContentItem.source_id == state.id)
    if result.current:  # every live row, to retire what is gone
        query = query.where(
            or_(ContentItem.retired_at.is_(None), ContentItem.external_id.in_(list(unique)))
        )
    elif unique:
        query = query.where(ContentItem.external_id.in_(list(unique)))
    else:
        return counts
    existing = {row.external_id: row for row in session.scalars(query)}
    fresh_rows: list[dict[str, Any]] = []
    for external_id, values in unique.items():
        cancelled = values["event_status"] == CANCELLED
        row = existing.get(external_id)
        if row is None:
            fresh_rows.append(
                {
                    "source_id": state.id,
                    "external_id": external_id,
                    "first_seen_at": now,
                    "updated_at": now,
                    "last_seen_at": now,
                    "retired_at": now if cancelled else None,
                    **values,
                }
            )
            continue
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for name, value in changed.items():
                setattr(row, name, value)
            row.updated_at = now
            counts.updated += 1
        row.last_seen_at = now
        if cancelled and row.retired_at is None:
            row.retired_at = now
            counts.retired += 1
            counts.cancelled += 1
        elif not cancelled and row.retired_at is not None:
            row.retired_at = None  # back at the source
    if result.current:
        for external_id, row in existing.items():
            if external_id in unique or row.retired_at is not None:
                continue
            row.retired_at = now
            counts.retired += 1
            if row.kind == "event" and _in_window(row, result.window):
                if row.event_status != CANCELLED:
                    row.event_status = CANCELLED
                    row.updated_at = now
                counts.cancelled += 1
    session.flush()
    if fresh_rows:  # one multi-row INSERT instead of an ORM object per item
        session.execute(insert(ContentItem), fresh_rows)
    counts.new = len(fresh_rows)
    return counts
