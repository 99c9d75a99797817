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
summary, which are per language.

Every edit survives a rebuild of the draft (:func:`carry_edits`), and only the
edit: a rebuilt draft shows its items as their sources have them now (time,
place, status, link, text) with the staff's own changes applied again: a pin
keeps its item, in its place; an edited title and summary replace the
source's in the language edited; a section the staff reordered keeps their
order; a dropped item stays out; a manual item and the introduction stay as
written. A pinned or edited item that its source has since removed follows the
rule of every item: a cancelled event that an earlier issue announced is shown
marked cancelled, any other is left out (``current`` in :func:`carry_items`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete
from sqlalchemy.orm import Session

from outreach.errors import IssueError
from outreach.issues.history import record_event
from outreach.issues.links import register_links
from outreach.models import Issue, IssueItem, IssueStatus
from outreach.sources import body_html

MAX_TITLE = 300
MAX_SUMMARY = 2000
MAX_INTRO = 5000
MAX_URL = 2000

__all__ = [
    "EditError",
    "add_item",
    "carry_edits",
    "carry_items",
    "carry_texts",
    "drop_item",
    "edit_item",
    "move_item",
    "pin_item",
    "set_intro",
]


class EditError(IssueError):
    """An edit that cannot be made; ``code`` names the reason for the console's sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
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
        raise EditError("no_item", f"issue {issue.id} has no item {item_id}")
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


def drop_item(session: Session, issue: Issue, item_id: int, *, by: str) -> None:
    """Take the item out of the draft in every language; it goes back to the pool."""
    snapshot = _draft(issue)
    for _, entries, index in sorted(
        _located(issue, snapshot, item_id), key=lambda f: f[2], reverse=True
    ):
        del entries[index]
    if item_id > 0:
        session.execute(
            delete(IssueItem).where(IssueItem.issue_id == issue.id, IssueItem.item_id == item_id)
        )
        # another issue may choose it; rebuilding this draft leaves it out
        snapshot["dropped"] = sorted({*(snapshot.get("dropped") or []), item_id})
    _save(session, issue, snapshot, by, f"dropped item {item_id}")


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
        raise EditError("no_item", f"issue {issue.id} has no item {item_id} in {lang!r}")
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
        raise EditError("no_section", f"issue {issue.id} has no section {section_id!r}")
    if any(s.get("kind") == "events" for s in sections):
        raise EditError("events_section", "an events section takes no manual items")
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


#: A content item's entry in a language as its source has it now, or None when it is
#: not to be shown (see :func:`carry_items`).
Current = Callable[[int, str], dict[str, Any] | None]


def dropped_items(snapshot: dict[str, Any] | None) -> set[int]:
    """The content items staff dropped from the draft (a rebuild leaves them out)."""
    return {int(i) for i in (snapshot or {}).get("dropped") or [] if isinstance(i, int)}


def _with_edit(entry: dict[str, Any], edit: dict[str, Any] | None, lang: str) -> dict[str, Any]:
    """``entry`` (current data) with the staff's title and summary of ``lang``, if any."""
    if edit is None:
        return entry
    return {**entry, "title": edit.get("title"), "summary": edit.get("summary"),
            "edited": True, "language": lang, "fallback": False}  # fmt: skip


def carry_items(
    old: dict[str, Any], sections: dict[str, list[dict[str, Any]]], current: Current
) -> dict[int, str]:
    """Apply the old draft's item edits to freshly built ``sections`` (language → its
    sections), in place; returns the pinned content items (positive ids) and their
    sections, which the rebuilt issue claims again.

    An entry's data is always the new build's, or ``current(id, lang)`` for a pinned
    item the build did not choose (None: its source removed it, and it goes as any
    removed item goes). Of the old entry only the staff's part comes along: the pin
    and its place (pinned and manual items first in their section, in their order),
    the title and summary edited in that language, the order of a reordered section.
    """
    carried: dict[int, str] = {}
    for lang, new_sections in sections.items():
        before = (old.get("languages") or {}).get(lang) or {}
        old_sections = {s.get("id"): s for s in before.get("sections") or []}
        built = {e.get("id"): e for s in new_sections for e in s.get("entries") or []}
        pinned: dict[object, list[dict[str, Any]]] = {}
        for section in new_sections:
            kept = old_sections.get(section.get("id")) or {}
            edits = {e.get("id"): e for e in kept.get("entries") or [] if e.get("edited")}
            mine = pinned.setdefault(section.get("id"), [])
            for entry in kept.get("entries") or []:
                item_id = entry.get("id")
                if entry.get("manual"):  # written by hand: nothing at a source to update
                    mine.append(entry)
                elif entry.get("pinned") and isinstance(item_id, int):
                    now = built.get(item_id) or current(item_id, lang)
                    if now is not None:
                        mine.append({**_with_edit(now, edits.get(item_id), lang), "pinned": True})
                        carried[item_id] = str(section.get("id") or "")
        held = {e.get("id") for entries in pinned.values() for e in entries}
        for section in new_sections:
            kept = old_sections.get(section.get("id")) or {}
            edits = {e.get("id"): e for e in kept.get("entries") or [] if e.get("edited")}
            rest = [_with_edit(e, edits.get(e.get("id")), lang)
                    for e in section.get("entries") or [] if e.get("id") not in held]  # fmt: skip
            entries = pinned[section.get("id")] + rest
            if kept.get("reordered"):
                # what the staff saw keeps their order; new items keep the build's places
                place = {e.get("id"): n for n, e in enumerate(kept.get("entries") or [])}
                theirs = iter(sorted((e for e in entries if e.get("id") in place),
                                     key=lambda e: place[e.get("id")]))  # fmt: skip
                entries = [next(theirs) if e.get("id") in place else e for e in entries]
                section["reordered"] = True
            section["entries"] = entries
    return carried


def carry_texts(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Keep a rebuilt draft's introduction and subjects the staff wrote, and the list of
    items they dropped (:func:`dropped_items`)."""
    if old.get("dropped"):
        new["dropped"] = list(old["dropped"])
    for lang, data in (new.get("languages") or {}).items():
        before = (old.get("languages") or {}).get(lang) or {}
        if before.get("intro_edited"):
            for key in ("intro", "intro_html", "intro_edited"):
                data[key] = before.get(key)
        if before.get("subject_edited"):
            data["subject"], data["subject_edited"] = before.get("subject"), True


def carry_edits(old: dict[str, Any], new: dict[str, Any], current: Current) -> dict[int, str]:
    """Keep a rebuilt draft's edits (:func:`carry_items` and :func:`carry_texts`) in the
    new snapshot ``new``; returns the pinned content items and their sections."""
    sections = {
        str(lang): list(data.get("sections") or [])
        for lang, data in (new.get("languages") or {}).items()
    }
    carried = carry_items(old, sections, current)
    carry_texts(old, new)
    return carried
