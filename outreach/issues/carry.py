"""A rebuilt draft keeps its staff's edits (:func:`carry_edits`), and only them.

A rebuilt draft shows its items as their sources have them now (time, place,
status, link, text) with the staff's own changes applied again: a pin keeps
its item, in its place; an edited title and summary replace the source's in
the language edited; a section the staff reordered keeps their order; a
dropped item stays out; a manual item and the introduction stay as written. A
pinned or edited item that its source has since removed follows the rule of
every item: a cancelled event that an earlier issue announced is shown marked
cancelled, any other is left out (``current`` in :func:`carry_items`).

An edit of a recurring event is of the event, not of the date the draft
showed (the entry's ``series`` keys, :func:`outreach.issues.selection.series_keys`):
a dropped event stays out with all its dates, whichever comes next
(:func:`dropped_series`); a pin, an edited title and summary and a place in a
reordered section go to the entry of the event's next date when the date
shown has passed or been cancelled at its source. A cancelled date of a
series is never shown. All this holds for the one issue: the next issue
chooses afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "Current",
    "carry_edits",
    "carry_items",
    "carry_texts",
    "dropped_items",
    "dropped_series",
]


#: A content item's entry in a language as its source has it now, or None when it is
#: not to be shown (see :func:`carry_items`); for a date of a recurring event that is
#: not to be shown, the entry of the event's next date that is.
Current = Callable[[int, str], dict[str, Any] | None]


def dropped_items(snapshot: dict[str, Any] | None) -> set[int]:
    """The content items staff dropped from the draft (a rebuild leaves them out)."""
    return {int(i) for i in (snapshot or {}).get("dropped") or [] if isinstance(i, int)}


def dropped_series(snapshot: dict[str, Any] | None) -> set[str]:
    """The recurring events staff dropped from the draft: a rebuild leaves out every
    item with one of these keys (:func:`outreach.issues.selection.series_keys`)."""
    return {str(k) for k in (snapshot or {}).get("dropped_series") or [] if isinstance(k, str)}


def _successors(old: list[dict[str, Any]], built: dict[Any, dict[str, Any]]) -> dict[int, int]:
    """Old entries whose item the build did not choose (its date has passed, been
    cancelled or removed), each to the built entry showing another date of the same
    recurring event (a shared series key), if there is one: that entry is theirs now."""
    taken = {e.get("id") for e in old if e.get("id") in built}
    follow: dict[int, int] = {}
    for entry in old:
        item_id, keys = entry.get("id"), set(entry.get("series") or [])
        if not isinstance(item_id, int) or item_id in built or not keys:
            continue
        for new_id, new in built.items():
            if new_id not in taken and keys & set(new.get("series") or []):
                follow[item_id] = new_id
                taken.add(new_id)
                break
    return follow


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

    The staff's part belongs to the event, not to the date shown: when an entry's
    date of a recurring event has passed or gone, its pin, edit and place go to the
    entry of the same event the build shows (:func:`_successors`), or, for a pin,
    to the event's next date (``current`` answers with that item's entry).
    """
    carried: dict[int, str] = {}
    for lang, new_sections in sections.items():
        before = (old.get("languages") or {}).get(lang) or {}
        old_sections = {s.get("id"): s for s in before.get("sections") or []}
        built = {e.get("id"): e for s in new_sections for e in s.get("entries") or []}
        follow = _successors(
            [e for s in old_sections.values() for e in s.get("entries") or []], built
        )
        pinned: dict[object, list[dict[str, Any]]] = {}
        placed: set[int] = set()
        for section in new_sections:
            kept = old_sections.get(section.get("id")) or {}
            edits = {e.get("id"): e for e in kept.get("entries") or [] if e.get("edited")}
            mine = pinned.setdefault(section.get("id"), [])
            for entry in kept.get("entries") or []:
                item_id = entry.get("id")
                if entry.get("manual"):  # written by hand: nothing at a source to update
                    mine.append(entry)
                elif entry.get("pinned") and isinstance(item_id, int):
                    now = built.get(follow.get(item_id, item_id)) or current(item_id, lang)
                    if now is not None and now.get("id") not in placed:
                        follow[item_id] = new_id = int(now["id"])
                        placed.add(new_id)
                        mine.append({**_with_edit(now, edits.get(item_id), lang), "pinned": True})
                        carried[new_id] = str(section.get("id") or "")
        held = {e.get("id") for entries in pinned.values() for e in entries}
        for section in new_sections:
            kept = old_sections.get(section.get("id")) or {}
            edits = {follow.get(e.get("id"), e.get("id")): e
                     for e in kept.get("entries") or [] if e.get("edited")}  # fmt: skip
            rest = [_with_edit(e, edits.get(e.get("id")), lang)
                    for e in section.get("entries") or [] if e.get("id") not in held]  # fmt: skip
            entries = pinned[section.get("id")] + rest
            if kept.get("reordered"):
                # what the staff saw keeps their order; new items keep the build's places
                place = {follow.get(e.get("id"), e.get("id")): n
                         for n, e in enumerate(kept.get("entries") or [])}  # fmt: skip
                theirs = iter(sorted((e for e in entries if e.get("id") in place),
                                     key=lambda e: place[e.get("id")]))  # fmt: skip
                entries = [next(theirs) if e.get("id") in place else e for e in entries]
                section["reordered"] = True
            section["entries"] = entries
    return carried


def carry_texts(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Keep a rebuilt draft's introduction and subjects the staff wrote, and the lists of
    items and recurring events they dropped (:func:`dropped_items`, :func:`dropped_series`)."""
    for key in ("dropped", "dropped_series"):
        if old.get(key):
            new[key] = list(old[key])
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
