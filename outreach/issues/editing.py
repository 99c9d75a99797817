"""Editing a draft's snapshot: move, drop or pin an item, edit its title and
summary, add a manual item, write the editorial introduction per language.

Only a draft changes: an approved issue's snapshot is what was approved, so
every edit of anything past a draft is refused (:class:`EditError`, code
``not_draft``). Each edit writes a new snapshot value, records ``edited`` in
the issue's history (which makes the editor the issue's last editor for the
four-eyes rule) and leaves the stored pre-flight report stale, since the
report is keyed by the snapshot's digest.

An item is named by its id (the content item's id; a manual item's id is
negative) and is edited in every language at once, except its title and
summary, which are per language. An entry of a recurring event stands for the
event, not for the date it shows: dropping it drops every date of the event
from this issue. Every edit survives a rebuild of the draft
(:mod:`outreach.issues.carry`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from outreach.errors import IssueError, msg
from outreach.issues.history import record_event
from outreach.issues.links import register_links
from outreach.issues.selection import series_keys
from outreach.models import ContentItem, Issue, IssueItem, IssueStatus
from outreach.sources import body_html

MAX_TITLE = 300
MAX_SUMMARY = 2000
MAX_INTRO = 5000
MAX_URL = 2000

__all__ = [
    "EditError",
    "add_item",
    "drop_item",
    "edit_item",
    "move_item",
    "pin_item",
    "recurring_dates",
    "set_intro",
]


class EditError(IssueError):
    """An edit that cannot be made; ``code`` names the reason for the console's sentence."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message, **params)
        self.code = code


def _draft(issue: Issue) -> dict[str, Any]:
    """A copy of the draft's snapshot to edit; refused past a draft."""
    if issue.status != IssueStatus.DRAFT:
        raise EditError(
            "not_draft",
            f"issue {issue.id} is {issue.status.value}; only a draft can be edited "
            "(an approved issue never changes)",
        )
    snapshot = copy.deepcopy(issue.snapshot or {})
    if not snapshot.get("languages"):
        raise EditError("state", f"issue {issue.id} has no content yet; build it first")
    return snapshot


def _save(session: Session, issue: Issue, snapshot: dict[str, Any], by: str, what: str) -> None:
    issue.snapshot = snapshot  # a new value: the JSON column is written
    session.flush()
    register_links(session, issue)  # an added item or a new introduction's links count too
    record_event(session, issue, "edited", by=by, detail=what[:500])


def _sections(snapshot: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for lang, data in snapshot["languages"].items():
        for section in data.get("sections") or []:
            yield lang, section


def _find(snapshot: dict[str, Any], item_id: int) -> list[tuple[str, list[dict[str, Any]], int]]:
    """Where the item is: (language, its section's entries, index), in every language."""
    found = []
    for lang, section in _sections(snapshot):
        entries = section.get("entries") or []
        for index, entry in enumerate(entries):
            if entry.get("id") == item_id:
                found.append((lang, entries, index))
    return found


def _located(issue: Issue, snapshot: dict[str, Any], item_id: int) -> list[Any]:
    found = _find(snapshot, item_id)
    if not found:
        raise EditError("no_item", msg("issue {id} has no item {item}"), id=issue.id, item=item_id)
    return found


def _version(issue: Issue, snapshot: dict[str, Any], lang: str) -> dict[str, Any]:
    """The draft's ``lang`` version; refused (``no_language``) when it has none."""
    data = snapshot["languages"].get(lang)
    if not isinstance(data, dict):
        known = ", ".join(snapshot["languages"])
        raise EditError("no_language", f"{lang!r} is not a language of issue {issue.id} ({known})")
    return data


def _line(text: str, limit: int, code: str, what: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > limit or "\x00" in value:
        raise EditError(code, f"{what}: one line of 1 to {limit} characters")
    return value


def _text(text: str, limit: int, code: str, what: str) -> str:
    value = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()
    if len(value) > limit or "\x00" in value:
        raise EditError(code, f"{what}: at most {limit} characters")
    return value


def move_item(session: Session, issue: Issue, item_id: int, offset: int, *, by: str) -> None:
    """Move the item ``offset`` places within its section (negative: up), in every language.

    A move that changes nothing (the item is already first, or last, in its section
    in every language) is refused (``already_first``, ``already_last``): no edit is
    recorded.
    """
    if offset == 0:
        raise ValueError("move an item by a non-zero number of places")
    snapshot = _draft(issue)
    moved = False
    for _, entries, index in _located(issue, snapshot, item_id):
        target = max(0, min(len(entries) - 1, index + offset))
        moved = moved or target != index
        entries.insert(target, entries.pop(index))
    if not moved:
        edge = "first" if offset < 0 else "last"
        raise EditError(f"already_{edge}", f"item {item_id} is already {edge} in its section")
    for _, section in _sections(snapshot):  # its order is the staff's now (carry_items)
        if any(e.get("id") == item_id for e in section.get("entries") or []):
            section["reordered"] = True
    _save(session, issue, snapshot, by, f"moved item {item_id} by {offset}")


def recurring_dates(sections: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    """The recurring events among one language's ``sections`` of a snapshot: each
    one's entry id → how many of its dates the issue shows (the entry's own and
    the later ones beside it, over every entry of the event).

    An event is recurring when its source names its series (``series:`` key: a
    calendar's RRULE/RDATE, a Linked Events super event) or when the issue shows
    more than one of its dates; :func:`drop_item` drops all of them.
    """
    entries = [e for section in sections for e in section.get("entries") or []]
    found: dict[int, int] = {}
    for entry in entries:
        keys = set(entry.get("series") or [])
        if not keys or not isinstance(entry.get("id"), int):
            continue
        dates = sum(
            1 + len(other.get("also_starts") or [])
            for other in entries
            if keys & set(other.get("series") or [])
        )
        if dates > 1 or any(key.startswith("series:") for key in keys):
            found[int(entry["id"])] = dates
    return found


def drop_item(session: Session, issue: Issue, item_id: int, *, by: str) -> int:
    """Take the item out of the draft in every language; it goes back to the pool.

    A recurring event is dropped as the event, not as the date shown: every entry
    of the draft showing one of its dates goes, and a rebuild of this draft leaves
    out all its dates (``dropped_series``), whichever is the next one then.
    Returns how many dates of a recurring event (:func:`recurring_dates`) were
    dropped; 0 for anything else.
    """
    snapshot = _draft(issue)
    first = _located(issue, snapshot, item_id)[0][0]
    shown = snapshot["languages"][first].get("sections") or []
    dates = recurring_dates(shown).get(item_id, 0)
    keys = {
        str(key)
        for _, entries, index in _located(issue, snapshot, item_id)
        for key in entries[index].get("series") or []
    }
    gone = {item_id} | {
        int(e["id"])
        for _, section in _sections(snapshot)
        for e in section.get("entries") or []
        if keys & set(e.get("series") or []) and isinstance(e.get("id"), int)
    }
    for _, section in _sections(snapshot):
        section["entries"] = [e for e in section.get("entries") or [] if e.get("id") not in gone]
    held = [i for i in gone if i > 0]
    if held:
        session.execute(
            delete(IssueItem).where(IssueItem.issue_id == issue.id, IssueItem.item_id.in_(held))
        )
        # another issue may choose them; rebuilding this draft leaves them out
        snapshot["dropped"] = sorted({*(snapshot.get("dropped") or []), *held})
    if keys:  # the event's later dates ("also on") too, now and after a rebuild
        query = select(IssueItem, ContentItem).join(
            ContentItem, ContentItem.id == IssueItem.item_id
        )
        for link, item in session.execute(query.where(IssueItem.issue_id == issue.id)).all():
            if keys & set(series_keys(item)):
                session.delete(link)
        snapshot["dropped_series"] = sorted({*(snapshot.get("dropped_series") or []), *keys})
    _save(session, issue, snapshot, by, f"dropped item {item_id}")
    return dates


def pin_item(session: Session, issue: Issue, item_id: int, pinned: bool, *, by: str) -> None:
    """Pin the item (it stays, in its place, when the draft is rebuilt) or unpin it."""
    snapshot = _draft(issue)
    for _, entries, index in _located(issue, snapshot, item_id):
        entries[index]["pinned"] = pinned
    _save(session, issue, snapshot, by, f"{'pinned' if pinned else 'unpinned'} item {item_id}")


def edit_item(
    session: Session, issue: Issue, item_id: int, lang: str, title: str, summary: str, *, by: str
) -> None:
    """Give the item's ``lang`` version a new title and summary (plain text)."""
    snapshot = _draft(issue)
    _version(issue, snapshot, lang)
    title = _line(title, MAX_TITLE, "bad_title", "title")
    summary = _text(summary, MAX_SUMMARY, "bad_summary", "summary")
    found = [f for f in _located(issue, snapshot, item_id) if f[0] == lang]
    if not found:
        raise EditError(
            "no_item",
            msg("issue {id} has no item {item} in {lang}"),
            id=issue.id,
            item=item_id,
            lang=repr(lang),
        )
    for _, entries, index in found:
        entry = entries[index]
        entry.update(title=title, summary=summary, edited=True, language=lang, fallback=False)
    _save(session, issue, snapshot, by, f"item {item_id} ({lang})")


def _web_url(value: str) -> str | None:
    """A manual item's link: an https address (docs/staff.md), or None when empty."""
    url = value.strip()
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or len(url) > MAX_URL:
        raise EditError("bad_url", "the link must be an https address")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise EditError("bad_url", "the link must be an https address")
    return url


def _manual_entry(
    item_id: int, kind: str, title: str, summary: str, url: str | None
) -> dict[str, Any]:
    return {
        "id": item_id, "kind": kind, "title": title, "summary": summary, "language": None,
        "fallback": False, "url": url, "image_url": None, "published_at": None,
        "starts_at": None, "ends_at": None, "all_day": False, "ends_date_only": False,
        "location": None, "online_url": None, "is_online": False, "price": None,
        "event_status": None, "also_starts": [], "company": "", "manual": True,
        "pinned": True,
    }  # fmt: skip


def add_item(
    session: Session,
    issue: Issue,
    section_id: str,
    title: str,
    summary: str,
    url: str = "",
    *,
    by: str,
) -> int:
    """Add a manual item at the end of a section in every language; its (negative) id.

    Not in an events section, whose items need a date and a place.
    """
    snapshot = _draft(issue)
    title = _line(title, MAX_TITLE, "bad_title", "title")
    summary = _text(summary, MAX_SUMMARY, "bad_summary", "summary")
    link = _web_url(url)
    sections = [s for _, s in _sections(snapshot) if s.get("id") == section_id]
    if not sections:
        raise EditError(
            "no_section",
            msg("issue {id} has no section {section}"),
            id=issue.id,
            section=repr(section_id),
        )
    if any(s.get("kind") == "events" for s in sections):
        raise EditError("events_section", msg("an events section takes no manual items"))
    lowest = min((e.get("id", 0) for _, s in _sections(snapshot) for e in s.get("entries") or []),
                 default=0)  # fmt: skip
    item_id = min(0, int(lowest)) - 1
    for section in sections:
        entry = _manual_entry(item_id, str(section.get("kind") or "news"), title, summary, link)
        section.setdefault("entries", []).append(entry)
    _save(session, issue, snapshot, by, f"added item {item_id} to {section_id}")
    return item_id


def set_intro(session: Session, issue: Issue, lang: str, markdown: str, *, by: str) -> None:
    """The issue's editorial introduction in ``lang`` (Markdown, sanitised; empty: none)."""
    snapshot = _draft(issue)
    data = _version(issue, snapshot, lang)
    if snapshot.get("kind") == "announcement":
        raise EditError("state", "an announcement's text is its body; edit the campaign's file")
    text = _text(markdown, MAX_INTRO, "bad_intro", "introduction")
    data["intro"] = text
    data["intro_html"] = body_html(text) if text else ""
    data["intro_edited"] = True
    _save(session, issue, snapshot, by, f"introduction ({lang})")
