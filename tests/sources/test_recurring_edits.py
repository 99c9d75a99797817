"""A draft's edits of a recurring event hold for the event, not for the date shown.

Staff see one entry per recurring event (its next date, the later ones beside
it). Each test builds a draft from a calendar or a Linked Events answer served
on 127.0.0.1, edits it, changes the source, moves the clock past the date the
draft showed, fetches, rebuilds and looks at what the draft shows. The clock
starts at the first day of the month after next, read from the real date, so
no date here is ever in the past.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.issues import approve_issue, drop_item, edit_item, move_item, pin_item, set_status
from outreach.models import ContentItem, Issue, IssueItem, IssueStatus
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.sources.changing import ChangingServer, World, entries, newsletter, titles

HELSINKI = ZoneInfo("Europe/Helsinki")
ICS = ROOT / "tests" / "data" / "recurring" / "ilmastokahvit.ics"
COFFEE = "Ilmastokahvit yrityksille"
FAIR = "Materiaalitori"
STAMP = "%Y%m%dT%H%M%S"
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _first_of_month(months_ahead: int) -> datetime:
    """9.00 in Helsinki on the first day of a month to come, in UTC."""
    today = datetime.now(HELSINKI)
    index = today.year * 12 + today.month - 1 + months_ahead
    return datetime(index // 12, index % 12 + 1, 1, 9, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture
def t0() -> datetime:
    return _first_of_month(2)


def coffees(t0: datetime, n: int = 6) -> list[datetime]:
    """The weekly series' dates (8.30 in Helsinki), from the third of the month."""
    first = t0.astimezone(HELSINKI).replace(hour=8, minute=30) + timedelta(days=2)
    return [(first + timedelta(weeks=k)).astimezone(UTC) for k in range(n)]


def ics(t0: datetime, coffee_extra: str = "", override: str = "") -> str:
    """The calendar fixture with its dates filled from ``t0`` (tests/data/recurring)."""
    first = coffees(t0)[0].astimezone(HELSINKI)
    fair = first + timedelta(days=7, hours=4)
    return Template(ICS.read_text(encoding="utf-8")).substitute(
        coffee=first.strftime(STAMP),
        coffee_end=(first + timedelta(hours=1)).strftime(STAMP),
        coffee_day=DAYS[first.weekday()],
        coffee_extra=coffee_extra,
        override=override,
        fair=fair.strftime(STAMP),
        fair_end=(fair + timedelta(hours=3)).strftime(STAMP),
    )


def local(when: datetime) -> str:
    return when.astimezone(HELSINKI).strftime(STAMP)


def cancelled_date(when: datetime) -> str:
    """A VEVENT overriding one date of the series with STATUS:CANCELLED."""
    return (
        "BEGIN:VEVENT\nUID:0hq8n1k6ilmastokahvit2c4vn@google.com\n"
        f"RECURRENCE-ID;TZID=Europe/Helsinki:{local(when)}\n"
        f"DTSTART;TZID=Europe/Helsinki:{local(when)}\n"
        f"DTEND;TZID=Europe/Helsinki:{local(when + timedelta(hours=1))}\n"
        f"DTSTAMP:20261101T080000Z\nSTATUS:CANCELLED\nSUMMARY:{COFFEE}\nLOCATION:Teams\n"
        "URL:https://www.vantaa.fi/fi/tapahtumat/ilmastokahvit\nEND:VEVENT\n"
    )


@pytest.fixture(scope="module")
def changing() -> Iterator[ChangingServer]:
    server = ChangingServer()
    yield server
    server.close()


@pytest.fixture
def world(
    tmp_path: Path, db_session: Session, fetch_settings: Settings, changing: ChangingServer
) -> World:
    """On SQLite and on PostgreSQL (``db_session``)."""
    changing.bodies.clear()
    changing.hits.clear()
    changing.not_modified.clear()
    return World(tmp_path / "campaigns", db_session, fetch_settings, changing)


def campaign(world: World, path: str = "/cal.ics", kind: str = "ical", **section: Any) -> None:
    source = {"type": kind, "url": world.server.url(path)}
    events = {"id": "events", "kind": "events", "horizon_days": 35, "sources": [source]}
    world.campaigns(newsletter("t-vantaa", "vantaa", [{**events, **section}]))


def period(when: datetime) -> str:
    return when.astimezone(HELSINKI).strftime("%Y-%m")


def entry(issue: Issue, title: str) -> dict[str, Any]:
    [found] = [e for e in entries(issue, "events") if e["title"] == title]
    return found


def send(world: World, issue: Issue, now: datetime) -> None:
    approve_issue(world.session, issue.id, by="maija", now=now)
    set_status(world.session, issue, IssueStatus.SENDING)
    set_status(world.session, issue, IssueStatus.SENT)
    world.session.commit()


def held_titles(world: World, issue: Issue) -> set[str]:
    query = (
        select(ContentItem.title)
        .join(IssueItem, IssueItem.item_id == ContentItem.id)
        .where(IssueItem.issue_id == issue.id)
    )
    return set(world.session.scalars(query))


def test_a_dropped_recurring_event_stays_out_of_its_draft_and_comes_back_next_month(
    world: World, t0: datetime
) -> None:
    dates = coffees(t0)
    world.server.set("/cal.ics", ics(t0))
    campaign(world)
    world.fetch(t0)
    # every date of the series names it; the one-off names none
    assert {i.series for i in world.items(title=COFFEE)} == {
        "0hq8n1k6ilmastokahvit2c4vn@google.com"
    }
    assert [i.series for i in world.items(title=FAIR)] == [None]
    draft = world.build("t-vantaa", t0).issue
    assert draft is not None and titles(draft, "events") == [COFFEE, FAIR]
    coffee = entry(draft, COFFEE)
    assert coffee["starts_at"] == dates[0].isoformat() and len(coffee["also_starts"]) >= 3
    drop_item(world.session, draft, coffee["id"], by="kaisa")
    world.session.commit()
    assert titles(draft, "events") == [FAIR] and held_titles(world, draft) == {FAIR}
    # the calendar changes (the series' second date is taken out) and the first date
    # passes before the draft is rebuilt: the series' next date is not the dropped one,
    # and yet the event stays out of this issue
    world.server.set("/cal.ics", ics(t0, f"EXDATE;TZID=Europe/Helsinki:{local(dates[1])}\n"))
    later = dates[0] + timedelta(days=1)
    world.fetch(later)
    again = world.build("t-vantaa", later, period=period(t0)).issue
    assert again is not None and again.id == draft.id
    assert titles(again, "events") == [FAIR]
    assert held_titles(world, again) == {FAIR}
    # the next month's issue shows the series again
    send(world, again, later)
    next_month = _first_of_month(3)
    world.fetch(next_month)
    following = world.build("t-vantaa", next_month).issue
    assert following is not None and following.id != draft.id
    shown = entry(following, COFFEE)
    assert shown["starts_at"] > next_month.isoformat()


def test_pin_edit_and_move_follow_the_event_to_its_next_date(world: World, t0: datetime) -> None:
    """The pinned, re-titled and moved entry showed a date that has passed, and the
    next one was cancelled at the source: the rebuilt draft shows the event's next
    date, pinned, with the staff's title, in the place they gave it."""
    dates = coffees(t0)
    world.server.set("/cal.ics", ics(t0))
    campaign(world)
    world.fetch(t0)
    draft = world.build("t-vantaa", t0).issue
    assert draft is not None and titles(draft, "events") == [COFFEE, FAIR]
    coffee = entry(draft, COFFEE)["id"]
    pin_item(world.session, draft, coffee, True, by="kaisa")
    edit_item(world.session, draft, coffee, "fi", "Ilmastokahvit joka viikko", "Tule!", by="kaisa")
    move_item(world.session, draft, coffee, 1, by="kaisa")
    world.session.commit()
    assert titles(draft, "events") == [FAIR, "Ilmastokahvit joka viikko"]
    world.server.set("/cal.ics", ics(t0, override=cancelled_date(dates[1])))
    later = dates[0] + timedelta(days=1)
    world.fetch(later)
    again = world.build("t-vantaa", later, period=period(t0)).issue
    assert again is not None
    assert titles(again, "events") == [FAIR, "Ilmastokahvit joka viikko"]
    shown = entry(again, "Ilmastokahvit joka viikko")
    assert shown["id"] != coffee and shown["pinned"] is True and shown["edited"] is True
    assert shown["summary"] == "Tule!"
    assert shown["starts_at"] == dates[2].isoformat()
    assert dates[1].isoformat() not in shown["also_starts"]
    assert held_titles(world, again) == {COFFEE, FAIR}


def test_a_pin_the_build_would_not_keep_takes_the_events_next_date(
    world: World, t0: datetime
) -> None:
    """One item a section: after the pinned date passes and the next is cancelled, the
    build chooses the fair; the pin still holds the event, at its next live date."""
    dates = coffees(t0)
    world.server.set("/cal.ics", ics(t0))
    campaign(world, max_items=1)
    world.fetch(t0)
    draft = world.build("t-vantaa", t0).issue
    assert draft is not None and titles(draft, "events") == [COFFEE]
    pin_item(world.session, draft, entry(draft, COFFEE)["id"], True, by="kaisa")
    world.session.commit()
    world.server.set("/cal.ics", ics(t0, f"EXDATE;TZID=Europe/Helsinki:{local(dates[1])}\n"))
    later = dates[0] + timedelta(days=1)
    world.fetch(later)
    again = world.build("t-vantaa", later, period=period(t0)).issue
    assert again is not None and titles(again, "events") == [COFFEE, FAIR]
    shown = entry(again, COFFEE)
    assert shown["pinned"] is True and shown["starts_at"] == dates[2].isoformat()
    assert held_titles(world, again) == {COFFEE, FAIR}


# Linked Events: a "recurring" super event and its sub-events, shaped as the real API
# answers them (the event of ../shared/fixtures/linkedevents/event-with-includes.json)

LE = "https://api.hel.fi/linkedevents/v1/event/"


def _le_event(
    template: dict[str, Any], ident: str, name: str, start: datetime, **extra: Any
) -> dict[str, Any]:
    event = copy.deepcopy(template)
    event.update(
        id=ident,
        name={"fi": name},
        short_description={"fi": f"{name}: lyhyesti."},
        description={"fi": f"<p>{name}.</p>"},
        info_url={"fi": f"https://www.vantaa.fi/fi/tapahtumat/{ident.split(':')[1]}"},
        start_time=start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        end_time=(start + timedelta(hours=1)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        event_status="EventScheduled",
        super_event=None,
        super_event_type=None,
        sub_events=[],
        deleted=False,
        **{"@id": f"{LE}{ident}/"},
    )
    event.update(extra)
    return event


def le_answer(shared: Path, t0: datetime, cancelled: Collection[int] = (), **name: str) -> bytes:
    """A super event with weekly sub-events (the coffee series), and an umbrella event
    with two talks; the sub-events in ``cancelled`` are EventCancelled."""
    template = json.loads((shared / "linkedevents" / "event-with-includes.json").read_bytes())
    dates = coffees(t0, 5)
    series = [
        _le_event(template, f"vantaa:kahvit{n}", name.get("coffee", COFFEE), when,
                  super_event={"@id": f"{LE}vantaa:kahvit/"},
                  info_url={"fi": "https://www.vantaa.fi/fi/tapahtumat/ilmastokahvit"},
                  event_status="EventCancelled" if n in cancelled else "EventScheduled")
        for n, when in enumerate(dates)
    ]  # fmt: skip
    week = dates[1] + timedelta(hours=5)
    talks = [
        _le_event(template, f"vantaa:viikko{n}", title, week + timedelta(days=n),
                  super_event={"@id": f"{LE}vantaa:viikko/"})
        for n, title in enumerate(("Korjauspaja", "Vaihtotori"))
    ]  # fmt: skip
    supers = [
        _le_event(template, "vantaa:kahvit", COFFEE, dates[0], super_event_type="recurring",
                  end_time=series[-1]["end_time"],
                  sub_events=[{"@id": e["@id"]} for e in series]),
        _le_event(template, "vantaa:viikko", "Kiertotalousviikko", week,
                  super_event_type="umbrella", sub_events=[{"@id": e["@id"]} for e in talks]),
    ]  # fmt: skip
    data = [*supers, *series, *talks]
    return json.dumps({"meta": {"count": len(data), "next": None, "previous": None},
                       "data": data}).encode()  # fmt: skip


def test_linked_events_a_dropped_sub_event_drops_its_recurring_event_not_an_umbrellas(
    world: World, t0: datetime, shared_fixtures: Path
) -> None:
    dates = coffees(t0)
    world.server.set("/le/", le_answer(shared_fixtures, t0), "application/json")
    campaign(world, "/le/", "linkedevents")
    world.fetch(t0)
    # the sub-events of the recurring super event name it; an umbrella's talks do not
    assert {i.series for i in world.items(title=COFFEE)} == {"vantaa:kahvit"}
    assert {i.series for i in world.items(title="Korjauspaja")} == {None}
    draft = world.build("t-vantaa", t0).issue
    assert draft is not None
    # the umbrella is an event of its own (listed); the recurring super event is not
    assert titles(draft, "events") == [COFFEE, "Kiertotalousviikko", "Korjauspaja", "Vaihtotori"]
    assert len(entry(draft, COFFEE)["also_starts"]) == 4
    drop_item(world.session, draft, entry(draft, COFFEE)["id"], by="kaisa")
    drop_item(world.session, draft, entry(draft, "Korjauspaja")["id"], by="kaisa")
    world.session.commit()
    # the series' sub-events are renamed at the source (so only the super event ties
    # them to the dropped entry) and the first has passed when the draft is rebuilt
    body = le_answer(shared_fixtures, t0, coffee="Ilmastokahvit")
    world.server.set("/le/", body, "application/json")
    later = dates[0] + timedelta(days=1)
    world.fetch(later)
    again = world.build("t-vantaa", later, period=period(t0)).issue
    assert again is not None
    assert titles(again, "events") == ["Kiertotalousviikko", "Vaihtotori"]
    assert held_titles(world, again) == {"Kiertotalousviikko", "Vaihtotori"}


@pytest.mark.parametrize("how", ["exdate", "status", "linkedevents"])
def test_a_cancelled_date_of_a_series_is_never_listed_after_a_rebuild(
    world: World, t0: datetime, request: pytest.FixtureRequest, how: str
) -> None:
    """An earlier issue announced the series at its first date; that date is then
    cancelled while it is still to come: the rebuilt draft lists the series at its
    next date, and the cancelled date nowhere, not even marked cancelled."""
    dates = coffees(t0)
    if how == "linkedevents":
        shared: Path = request.getfixturevalue("shared_fixtures")
        path, kind = "/le/", "linkedevents"
        world.server.set(path, le_answer(shared, t0), "application/json")
        title = COFFEE
    else:
        path, kind, title = "/cal.ics", "ical", COFFEE
        world.server.set(path, ics(t0))
    campaign(world, path, kind)
    world.fetch(t0)
    first = world.build("t-vantaa", t0).issue
    assert first is not None and entry(first, title)["starts_at"] == dates[0].isoformat()
    send(world, first, t0)
    # the next month's draft, built early, announces the series again
    soon = t0 + timedelta(hours=1)
    draft = world.build("t-vantaa", soon, period=period(_first_of_month(3))).issue
    assert draft is not None and entry(draft, title)["starts_at"] == dates[0].isoformat()
    if how == "exdate":
        world.server.set(path, ics(t0, f"EXDATE;TZID=Europe/Helsinki:{local(dates[0])}\n"))
    elif how == "status":
        world.server.set(path, ics(t0, override=cancelled_date(dates[0])))
    else:
        world.server.set(path, le_answer(shared, t0, cancelled={0}), "application/json")
    later = soon + timedelta(hours=1)
    assert world.fetch(later)[0].cancelled == 1
    [gone] = [i for i in world.items() if i.starts_at == dates[0] and i.title == title]
    assert gone.event_status == "cancelled"
    again = world.build("t-vantaa", later, period=period(_first_of_month(3))).issue
    assert again is not None
    shown = entry(again, title)
    assert shown["starts_at"] == dates[1].isoformat() and shown["event_status"] is None
    listed = [d for e in entries(again, "events") for d in [e["starts_at"], *e["also_starts"]]]
    assert dates[0].isoformat() not in listed
    assert all(e["event_status"] is None for e in entries(again, "events"))
