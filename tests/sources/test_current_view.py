"""A source's items are a current view: the clock moves and the sources change between fetches.

Every test runs fetch → build over simulated weeks or months against a real
HTTP server on 127.0.0.1 whose answers the test replaces between fetches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.delivery.backends import memory
from outreach.delivery.held import tell_approvers
from outreach.issues import (
    approve_issue,
    build_issue,
    drop_item,
    edit_item,
    pin_item,
    set_status,
)
from outreach.issues.hold import check_cancelled
from outreach.models import IssueItem, IssueStatus
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.sources.changing import ChangingServer, World, calendar, entries, newsletter, titles

DEC1 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # Tuesday 1.12.2026 9.00 in Helsinki

WEEKLY = """UID:coffee@test
DTSTART;TZID=Europe/Helsinki:20261203T090000
DURATION:PT1H
RRULE:FREQ=WEEKLY
SUMMARY:Ilmastokahvit"""

FAIR = """UID:fair@test
DTSTART;TZID=Europe/Helsinki:20261210T120000
DTEND;TZID=Europe/Helsinki:20261210T150000
SUMMARY:Materiaalitori
LOCATION:Tikkurila"""

MOVABLE = """UID:evening@test
DTSTART;TZID=Europe/Helsinki:{start}
DURATION:PT2H
SUMMARY:{title}"""


@pytest.fixture(scope="module")
def changing() -> Iterator[ChangingServer]:
    server = ChangingServer()
    yield server
    server.close()


@pytest.fixture
def world(
    tmp_path: Path, session: Session, fetch_settings: Settings, changing: ChangingServer
) -> World:
    changing.bodies.clear()
    changing.hits.clear()
    changing.not_modified.clear()
    return World(tmp_path / "campaigns", session, fetch_settings, changing)


def events_campaign(
    world: World, slug: str = "t-kerava", city: str = "kerava", **section: Any
) -> dict[str, Any]:
    sources = section.pop("sources", [{"type": "ical", "url": world.server.url("/cal.ics")}])
    return newsletter(
        slug, city, [{"id": "events", "kind": "events", "sources": sources, **section}]
    )


def test_304_with_a_moved_clock_moves_the_window(world: World) -> None:
    world.server.set("/cal.ics", calendar(WEEKLY))
    world.campaigns(events_campaign(world))
    first = world.fetch(DEC1)
    assert first[0].status == "ok" and first[0].new > 0
    later = DEC1 + timedelta(days=62)  # 1 February 2027
    second = world.fetch(later)
    assert second[0].status == "not_modified", second[0].line()
    assert world.server.not_modified["/cal.ics"] == 1  # the server said 304
    assert second[0].new > 0  # and yet February's and March's coffees are there
    issue = world.build("t-kerava", later).issue
    assert issue is not None
    first_entry = entries(issue, "events")[0]
    assert first_entry["title"] == "Ilmastokahvit"
    assert first_entry["starts_at"].startswith("2027-02-04")
    # January's occurrences passed: retired, not cancelled
    january = [i for i in world.items(title="Ilmastokahvit") if i.starts_at and i.starts_at < later]
    assert january and all(i.retired_at is not None and i.event_status is None for i in january)


def test_cancellation_new_exdate_and_moved_event(world: World) -> None:
    evening = MOVABLE.format(start="20261212T170000", title="Energiailta")
    world.server.set("/cal.ics", calendar(WEEKLY, FAIR, evening))
    world.campaigns(events_campaign(world))
    world.fetch(DEC1)
    before = {i.external_id: i.starts_at for i in world.items()}
    # a day later: the fair is cancelled, the coffee of 17 December is taken out,
    # and the evening moves to the next day
    fair = FAIR + "\nSTATUS:CANCELLED"
    weekly = WEEKLY + "\nEXDATE;TZID=Europe/Helsinki:20261217T090000"
    moved = MOVABLE.format(start="20261213T180000", title="Energiailta")
    world.server.set("/cal.ics", calendar(weekly, fair, moved))
    report = world.fetch(DEC1 + timedelta(days=1))[0]
    assert "2 cancelled at the source" in report.line(), report.line()
    assert report.updated >= 2 and report.new == 0
    [fair_row] = world.items(external_id="fair@test")
    assert fair_row.event_status == "cancelled" and fair_row.retired_at is not None
    dropped = next(
        i for i in world.items(title="Ilmastokahvit") if i.starts_at and i.starts_at.day == 17
    )
    assert dropped.event_status == "cancelled" and dropped.retired_at is not None
    [evening_row] = world.items(title="Energiailta")  # one row: moved, not listed twice
    assert (
        evening_row.external_id == "evening@test"
        and before["evening@test"] != evening_row.starts_at
    )
    issue = world.build("t-kerava", DEC1 + timedelta(days=1)).issue
    assert issue is not None
    shown = entries(issue, "events")
    assert "Materiaalitori" not in [e["title"] for e in shown]
    coffee = next(e for e in shown if e["title"] == "Ilmastokahvit")
    assert not any(d.startswith("2026-12-17") for d in coffee["also_starts"])
    assert next(e for e in shown if e["title"] == "Energiailta")["starts_at"].startswith(
        "2026-12-13T16"
    )


def _event(ident: str, name: str, start: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "name": {"fi": name},
        "start_time": start,
        "end_time": None,
        "location": {"@id": "https://api.hel.fi/linkedevents/v1/place/tprek:1/"},
        "offers": [{"is_free": True}],
        **extra,
    }


def _le(*events: Any) -> bytes:
    return json.dumps({"meta": {"count": len(events), "next": None}, "data": list(events)}).encode()


def test_removed_and_malformed_linked_events(world: World) -> None:
    url = world.server.url("/le/")
    good = [
        _event(f"t:{n}", f"Tapahtuma {n}", f"2026-12-{10 + n}T10:00:00+02:00") for n in range(3)
    ]
    broken = {
        **_event("t:bad", "Rikki", "2026-12-20T10:00:00+02:00"),
        "description": "not an object",
    }
    world.server.set("/le/", _le(good[0], broken, good[1], good[2]), "application/json")
    world.campaigns(events_campaign(world, sources=[{"type": "linkedevents", "url": url}]))
    first = world.fetch(DEC1)[0]
    assert first.status == "ok" and first.new == 3
    assert "1 malformed events skipped: t:bad" in (first.warning or "")
    # the good ones are stored; nothing is retired from an answer with a broken event
    world.server.set("/le/", _le(good[0], broken, good[2]), "application/json")
    assert world.fetch(DEC1 + timedelta(hours=1))[0].retired == 0
    # a clean answer without event 1: it was removed at the source
    world.server.set("/le/", _le(good[0], good[2]), "application/json")
    report = world.fetch(DEC1 + timedelta(hours=2))[0]
    assert report.retired == 1 and report.cancelled == 1
    [gone] = world.items(external_id="t:1")
    assert gone.event_status == "cancelled"
    issue = world.build("t-kerava", DEC1 + timedelta(hours=2)).issue
    assert issue is not None and titles(issue, "events") == ["Tapahtuma 0", "Tapahtuma 2"]


def test_update_between_two_draft_builds_and_approved_stays(world: World) -> None:
    world.server.set(
        "/cal.ics", calendar(MOVABLE.format(start="20261215T170000", title="Energiailta"))
    )
    world.campaigns(events_campaign(world))
    world.fetch(DEC1)
    draft = world.build("t-kerava", DEC1).issue
    assert draft is not None and entries(draft, "events")[0]["starts_at"].startswith(
        "2026-12-15T15"
    )
    updated = MOVABLE.format(start="20261216T180000", title="Energiailta – uusi aika")
    world.server.set("/cal.ics", calendar(updated))
    report = world.fetch(DEC1 + timedelta(hours=1))[0]
    assert (report.new, report.updated) == (0, 1)  # the draft's item is updated, not frozen
    again = world.build("t-kerava", DEC1 + timedelta(hours=1)).issue
    assert again is not None and again.id == draft.id
    [entry] = entries(again, "events")
    assert entry["title"] == "Energiailta – uusi aika" and entry["starts_at"].startswith(
        "2026-12-16T16"
    )
    # approved: stays as approved, whatever the source says next
    approve_issue(world.session, again.id, by="maija", now=DEC1 + timedelta(hours=1))
    world.session.commit()
    snapshot = dict(again.snapshot)
    world.server.set(
        "/cal.ics", calendar(MOVABLE.format(start="20261217T170000", title="Myöhemmin"))
    )
    world.fetch(DEC1 + timedelta(hours=2))
    kept = world.build("t-kerava", DEC1 + timedelta(hours=2))
    assert kept.issue is not None and kept.issue.snapshot == snapshot and not kept.created


def test_same_source_in_two_cities_campaigns(world: World) -> None:
    world.server.set("/cal.ics", calendar(FAIR))
    world.campaigns(events_campaign(world), events_campaign(world, "t-vantaa", "vantaa"))
    reports = world.fetch(DEC1)
    assert len({r.source for r in reports}) == 1 and world.server.hits["/cal.ics"] == 1
    kerava = world.build("t-kerava", DEC1).issue
    vantaa = world.build("t-vantaa", DEC1).issue
    assert kerava is not None and vantaa is not None
    assert titles(kerava, "events") == titles(vantaa, "events") == ["Materiaalitori"]


@pytest.mark.parametrize("relist", [None, False])
def test_series_across_three_monthly_issues(world: World, relist: bool | None) -> None:
    world.server.set("/cal.ics", calendar(WEEKLY))
    extra = {} if relist is None else {"relist_upcoming": relist}
    world.campaigns(events_campaign(world, horizon_days=30, **extra))
    firsts = []
    for month in range(3):
        now = DEC1 + timedelta(days=31 * month)
        world.fetch(now)
        result = world.build("t-kerava", now)
        assert result.issue is not None, result.skipped
        [entry] = entries(result.issue, "events")
        assert entry["title"] == "Ilmastokahvit" and len(entry["also_starts"]) >= 3
        firsts.append(entry["starts_at"][:10])
        approve_issue(world.session, result.issue.id, by="maija", now=now)
        set_status(world.session, result.issue, IssueStatus.SENDING)
        set_status(world.session, result.issue, IssueStatus.SENT)
        world.session.commit()
    assert firsts == ["2026-12-03", "2027-01-07", "2027-02-04"]


def test_cancelled_after_approval_holds_the_send_and_tells_approvers(world: World) -> None:
    memory.clear()
    world.server.set("/cal.ics", calendar(FAIR, WEEKLY))
    world.campaigns(events_campaign(world), approvers={"kerava": ["paivi@kerava.fi"]})
    world.fetch(DEC1)
    issue = world.build("t-kerava", DEC1).issue
    assert issue is not None
    approve_issue(world.session, issue.id, by="maija", now=DEC1)
    world.session.commit()
    world.server.set("/cal.ics", calendar(FAIR + "\nSTATUS:CANCELLED", WEEKLY))
    world.fetch(DEC1 + timedelta(hours=3))
    assert world.config is not None
    notices = check_cancelled(world.session, world.config)
    world.session.commit()
    assert [(n.issue_id, n.action, n.titles) for n in notices] == [
        (issue.id, "held", ["Materiaalitori"])
    ]
    assert issue.status == IssueStatus.HELD and "Materiaalitori" in (issue.status_message or "")
    settings = world.settings.model_copy(
        update={"mail_url": "memory:", "templates_dir": ROOT / "templates"}
    )
    assert tell_approvers(settings, world.config, notices) == 1
    [mail] = [memory.parse(m.data) for m in memory.outbox]
    assert mail["To"] == "paivi@kerava.fi" and "t-kerava/2026-12" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    assert "Materiaalitori" in text and f"outreach issue approve {issue.id}" in text
    assert check_cancelled(world.session, world.config) == []  # told once
    # approving again sends it with the event marked cancelled
    approve_issue(world.session, issue.id, by="maija", now=DEC1 + timedelta(hours=4))
    fair = next(e for e in entries(issue, "events") if e["title"] == "Materiaalitori")
    assert issue.status == IssueStatus.APPROVED and fair["event_status"] == "cancelled"


def test_mark_setting_marks_the_cancelled_date(world: World) -> None:
    world.server.set("/cal.ics", calendar(WEEKLY))
    world.campaigns(events_campaign(world) | {"on_cancelled": "mark"})
    world.fetch(DEC1)
    issue = world.build("t-kerava", DEC1).issue
    assert issue is not None
    approve_issue(world.session, issue.id, by="maija", now=DEC1)
    world.server.set("/cal.ics", calendar(WEEKLY + "\nEXDATE;TZID=Europe/Helsinki:20261210T090000"))
    world.fetch(DEC1 + timedelta(hours=1))
    assert world.config is not None
    [notice] = check_cancelled(world.session, world.config)
    assert notice.action == "marked" and issue.status == IssueStatus.APPROVED
    [entry] = entries(issue, "events")
    assert entry["starts_at"].startswith("2026-12-03")
    assert not any(d.startswith("2026-12-10") for d in entry["also_starts"])


def _feed(*items: tuple[str, str, str]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid><pubDate>{date}</pubDate></item>"
        for t, link, date in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{body}</channel></rss>'
    )


def test_news_first_seen_after_the_last_issue_and_deduplicated(world: World) -> None:
    story = (
        "Ilmasto: päästöt laskivat",
        "https://city.example/paastot",
        "Mon, 30 Nov 2026 10:00:00 +0200",
    )
    late = (
        "Ilmasto: myöhään haettu",
        "https://city.example/late",
        "Mon, 30 Nov 2026 12:00:00 +0200",
    )
    world.server.set("/a.xml", _feed(story), "application/rss+xml")
    world.server.set("/b.xml", _feed(), "application/rss+xml")
    sources = [{"type": "rss", "url": world.server.url(p)} for p in ("/a.xml", "/b.xml")]
    world.campaigns(
        newsletter(
            "t-kerava",
            "kerava",
            [
                {"id": "news", "kind": "news", "window_days": 60, "sources": sources[:1]},
                {"id": "more", "kind": "news", "window_days": 60, "sources": sources},
            ],
        )
    )
    world.fetch(DEC1)
    first = world.build("t-kerava", DEC1).issue
    assert first is not None
    assert titles(first, "news") == ["Ilmasto: päästöt laskivat"] and titles(first, "more") == []
    approve_issue(world.session, first.id, by="maija", now=DEC1)
    set_status(world.session, first, IssueStatus.SENDING)
    set_status(world.session, first, IssueStatus.SENT)
    # published before the first issue was built, fetched only after it; and the same
    # story again from the second feed under another guid
    world.server.set("/a.xml", _feed(story, late), "application/rss+xml")
    copy = (story[0], "https://city.example/paastot/", "Mon, 30 Nov 2026 11:00:00 +0200")
    world.server.set("/b.xml", _feed(copy), "application/rss+xml")
    jan = DEC1 + timedelta(days=31)
    world.fetch(jan)
    second = build_issue(world.session, world.settings, world.config, "t-kerava", now=jan)  # type: ignore[arg-type]
    assert second.issue is not None
    assert titles(second.issue, "news") == ["Ilmasto: myöhään haettu"]
    assert titles(second.issue, "more") == []


def test_a_rebuilt_draft_shows_current_data_with_only_the_staffs_edits(world: World) -> None:
    """Pin, edit and drop in a draft; the source then moves, cancels and deletes events;
    the rebuild shows every item as the source has it now, the staff's edits applied
    again, and removed or cancelled items follow the one rule, pinned or not."""
    event = "UID:{uid}@test\nDTSTART;TZID=Europe/Helsinki:{start}\nDURATION:PT2H\n"
    evening = event.format(uid="evening", start="20270112T170000") + "SUMMARY:Energiailta"
    fair = event.format(uid="fair", start="20270114T120000") + "SUMMARY:Materiaalitori"
    workshop = event.format(uid="workshop", start="20270120T090000") + "SUMMARY:Kiertopaja"
    new_one = event.format(uid="new", start="20270121T090000") + "SUMMARY:Uusi ilta"
    other = event.format(uid="other", start="20270122T090000") + "SUMMARY:Muu ilta"
    world.server.set("/cal.ics", calendar(evening + "\nLOCATION:Tikkurila", fair, workshop))
    title = {"fi": "Tapahtumat", "sv": "Evenemang"}
    camp = events_campaign(world, "t-vantaa", "vantaa", horizon_days=60, title=title)
    world.campaigns(camp | {"languages": ["fi", "sv"], "subject": {"fi": "Kirje", "sv": "Brev"}})
    # December's issue announces the evening, the fair and the workshop
    world.fetch(DEC1)
    december = world.build("t-vantaa", DEC1).issue
    assert december is not None and len(entries(december, "events")) == 3
    approve_issue(world.session, december.id, by="maija", now=DEC1)
    set_status(world.session, december, IssueStatus.SENDING)
    set_status(world.session, december, IssueStatus.SENT)
    world.session.commit()
    # January's draft lists them again with two new evenings; staff edit it
    dec20 = DEC1 + timedelta(days=19)
    world.server.set(
        "/cal.ics", calendar(evening + "\nLOCATION:Tikkurila", fair, workshop, new_one, other)
    )
    world.fetch(dec20)
    draft = world.build("t-vantaa", dec20, period="2027-01").issue
    assert draft is not None
    ids = {e["title"]: e["id"] for e in entries(draft, "events")}
    assert list(ids) == ["Energiailta", "Materiaalitori", "Kiertopaja", "Uusi ilta", "Muu ilta"]
    for title in ("Materiaalitori", "Energiailta", "Uusi ilta"):
        pin_item(world.session, draft, ids[title], True, by="kaisa")
    edit_item(world.session, draft, ids["Kiertopaja"], "fi", "Muokattu", "Oma teksti", by="kaisa")
    drop_item(world.session, draft, ids["Muu ilta"], by="kaisa")
    world.session.commit()
    # at the source: the evening moves to another day, time and place; the fair and the
    # new evening are cancelled; the workshop is deleted
    moved = event.format(uid="evening", start="20270113T180000") + "SUMMARY:Energiailta"
    cancelled = "\nSTATUS:CANCELLED"
    world.server.set(
        "/cal.ics",
        calendar(moved + "\nLOCATION:Myyrmäki", fair + cancelled, new_one + cancelled, other),
    )
    report = world.fetch(dec20 + timedelta(hours=1))[0]
    assert (report.updated, report.retired) == (3, 3), report.line()
    again = world.build("t-vantaa", dec20 + timedelta(hours=1), period="2027-01").issue
    assert again is not None and again.id == draft.id

    def shown(lang: str) -> list[tuple[object, ...]]:
        return [
            (e["title"], e["starts_at"][:16], e["location"], e["event_status"], e.get("pinned"))
            for e in entries(again, "events", lang)
        ]

    # pinned first, in their places, with today's data; the never-announced pinned
    # evening cancelled at the source is left out as any such event is; the
    # announced ones are listed once more, marked cancelled; the dropped one stays out
    assert shown("fi") == [
        ("Energiailta", "2027-01-13T16:00", "Myyrmäki", None, True),
        ("Materiaalitori", "2027-01-14T10:00", None, "cancelled", True),
        ("Muokattu", "2027-01-20T07:00", None, "cancelled", None),
    ]
    assert shown("sv") == [
        ("Energiailta", "2027-01-13T16:00", "Myyrmäki", None, True),
        ("Materiaalitori", "2027-01-14T10:00", None, "cancelled", True),
        ("Kiertopaja", "2027-01-20T07:00", None, "cancelled", None),
    ]
    [edited] = [e for e in entries(again, "events") if e["title"] == "Muokattu"]
    assert edited["summary"] == "Oma teksti" and edited["edited"] is True
    claimed = world.session.scalars(select(IssueItem.item_id).where(IssueItem.issue_id == again.id))
    kept = ("Materiaalitori", "Energiailta", "Kiertopaja")
    assert sorted(claimed) == sorted(ids[t] for t in kept)
    assert again.snapshot["dropped"] == [ids["Muu ilta"]]
