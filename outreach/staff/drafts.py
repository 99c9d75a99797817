"""Editing a draft and scheduling its send from the console (and ``outreach issue ...``).

Each function calls the issues stage's edit (:mod:`outreach.issues.editing`,
:mod:`outreach.issues.schedule`), which keeps the snapshot rules and the
issue's history (an edit makes the person the last editor), and writes the
action to the audit log in the caller's transaction. A refusal is a
:class:`~outreach.staff.workflow.Refused` whose code the page words.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.issues import (
    EditError,
    add_item,
    cancel_schedule,
    drop_item,
    edit_item,
    move_item,
    pin_item,
    recurring_dates,
    schedule_send,
    set_intro,
)
from outreach.models import Issue
from outreach.staff.issue_view import check_in_background, check_now, checking
from outreach.staff.workflow import Actor, Refused, _audit, city_issue, languages_of

_T = TypeVar("_T")

__all__ = [
    "Actor",
    "Refused",
    "add",
    "check_in_background",
    "check_now",
    "checking",
    "city_issue",
    "drop",
    "edit",
    "intro",
    "languages_of",
    "local_moment",
    "move",
    "pin",
    "recurring_dates",
    "schedule",
    "unschedule",
]


def _run(work: Callable[[], _T]) -> _T:
    try:
        return work()
    except EditError as exc:
        raise Refused(exc.code, str(exc)) from None


def move(session: Session, issue: Issue, item_id: int, offset: int, actor: Actor) -> None:
    _run(lambda: move_item(session, issue, item_id, offset, by=actor.email))
    _audit(session, "issue.edit", actor, issue, field="order", item=item_id, offset=offset)


def drop(session: Session, issue: Issue, item_id: int, actor: Actor) -> int:
    """Drop the item; how many dates of a recurring event went with it (0: not one)."""
    dates = _run(lambda: drop_item(session, issue, item_id, by=actor.email))
    detail = {"series_dates": dates} if dates else {}
    _audit(session, "issue.edit", actor, issue, field="drop", item=item_id, **detail)
    return dates


def pin(session: Session, issue: Issue, item_id: int, pinned: bool, actor: Actor) -> None:
    _run(lambda: pin_item(session, issue, item_id, pinned, by=actor.email))
    _audit(session, "issue.edit", actor, issue, field="pin" if pinned else "unpin", item=item_id)


def edit(
    session: Session, issue: Issue, item_id: int, lang: str, title: str, summary: str, actor: Actor
) -> None:
    _run(lambda: edit_item(session, issue, item_id, lang, title, summary, by=actor.email))
    _audit(session, "issue.edit", actor, issue, field="item", item=item_id, lang=lang)


def add(
    session: Session,
    issue: Issue,
    section: str,
    title: str,
    summary: str,
    url: str,
    actor: Actor,
) -> int:
    item_id = _run(lambda: add_item(session, issue, section, title, summary, url, by=actor.email))
    assert isinstance(item_id, int)
    _audit(session, "issue.edit", actor, issue, field="add", item=item_id, section=section)
    return item_id


def intro(session: Session, issue: Issue, lang: str, markdown: str, actor: Actor) -> None:
    _run(lambda: set_intro(session, issue, lang, markdown, by=actor.email))
    _audit(session, "issue.edit", actor, issue, field="intro", lang=lang)


def local_moment(day: str, time: str, timezone: str) -> datetime:
    """``YYYY-MM-DD`` and ``HH:MM`` in the city's time zone, as an aware UTC moment.

    A time the clocks skip that day (the hour lost when summer time starts, in
    Finland 3.00-4.00 on the last Sunday of March) does not exist: refused
    (``no_such_time``). A time that happens twice (the hour repeated when summer
    time ends) is its first occurrence, still in summer time."""
    try:
        naive = datetime.strptime(f"{day.strip()} {time.strip()}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise Refused("bad_time") from None
    zone = ZoneInfo(timezone)
    moment = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != naive:
        raise Refused("no_such_time")
    return moment


def schedule(
    session: Session, config: Config, issue: Issue, when: datetime, actor: Actor, now: datetime
) -> None:
    """Send the approved issue at ``when``; the periodic send starts it then."""
    _run(lambda: schedule_send(session, issue, when, by=actor.email, now=now))
    _audit(session, "issue.schedule", actor, issue, at=when.isoformat())


def unschedule(session: Session, issue: Issue, actor: Actor, now: datetime) -> None:
    """Cancel the scheduled send; the issue waits, approved, to be sent or scheduled again."""
    _run(lambda: cancel_schedule(session, issue, by=actor.email, now=now))
    _audit(session, "issue.unschedule", actor, issue)
