"""iCalendar and Linked Events sources: recurrences, time zones, online links, statuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outreach.models import SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext
from outreach.sources.fetch import Fetcher
from outreach.sources.ical import parse_calendar
from outreach.sources.linkedevents import parse_page
from outreach.sources.registry import build_source
from tests.conftest import ROOT
from tests.sources.conftest import NOW, FeedServer

HELSINKI = ZoneInfo("Europe/Helsinki")
EXAMPLE_ICS = ROOT / "examples" / "calendars" / "vantaa-webinaarit.ics"


def _example_events(make_ctx: Callable[..., FetchContext], settings: Settings) -> list:  # type: ignore[type-arg]
    url = "https://www.vantaa.fi/fi/tapahtumat/ilmastowebinaarit.ics"
    fetcher = Fetcher(settings, local_files={url: EXAMPLE_ICS})
    result = build_source("ical", {"url": url}).fetch(make_ctx(fetcher=fetcher))
    assert result.status == SourceStatus.OK and result.etag
    return result.items


def test_rrule_exdate_cancelled_and_conference(
    make_ctx: Callable[..., FetchContext], fetch_settings: Settings
) -> None:
    items = _example_events(make_ctx, fetch_settings)
    coffees = [i for i in items if i.title == "Ilmastokahvit yrityksille"]
    days = [i.starts_at.astimezone(HELSINKI).date().isoformat() for i in coffees if i.starts_at]
    # weekly from 5 Nov (COUNT=12), from "now" (28 Nov) on, 24 and 31 Dec excluded
    assert days == [
        "2026-12-03",
        "2026-12-10",
        "2026-12-17",
        "2027-01-07",
        "2027-01-14",
        "2027-01-21",
    ]
    assert len({i.external_id for i in coffees}) == len(coffees)
    first = coffees[0]
    assert first.online_url == "https://teams.example.com/l/meetup-join/ilmastokahvit"
    assert first.is_online and first.location == "Verkossa (Teams)"
    assert first.starts_at is not None and first.starts_at.astimezone(HELSINKI).hour == 9
    assert "energiansäästöön, kiertotalouteen" in first.summary_html
    # STATUS:CANCELLED comes through marked, so a listed event can be retired
    cancelled = [i for i in items if "peruttu" in i.title]
    assert cancelled and all(i.event_status == "cancelled" for i in cancelled)
    assert all(i.event_status is None for i in items if "peruttu" not in i.title)
    fair = next(i for i in items if i.title == "Kiertotalouden materiaalitori yrityksille")
    assert not fair.is_online and fair.online_url is None
    assert fair.location == "Tikkurilan kohtaamispaikka, Asematie 7, Vantaa"
    day = next(i for i in items if i.title == "Yritysten energiapäivä")
    assert day.all_day and day.starts_at == datetime(2027, 1, 21, tzinfo=HELSINKI)


def test_dst_is_right_for_helsinki() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:dst@test\r\n"
        "DTSTART;TZID=Europe/Helsinki:20270318T090000\r\nDURATION:PT1H\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=3\r\nSUMMARY:Aamukahvit\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:floating@test\r\nDTSTART:20270320T120000\r\n"
        "SUMMARY:Kelluva aika\r\nRDATE:20270410T120000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = parse_calendar(
        text.encode(),
        "https://x/c.ics",
        start=datetime(2027, 3, 1, tzinfo=UTC),
        end=datetime(2027, 5, 1, tzinfo=UTC),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    coffee = [i for i in result.items if i.title == "Aamukahvit"]
    utc_hours = [i.starts_at.astimezone(UTC).hour for i in coffee if i.starts_at]
    assert utc_hours == [7, 7, 6]  # 9.00 EET, then 9.00 EEST after 28 March
    assert all(
        i.ends_at and i.starts_at and (i.ends_at - i.starts_at).seconds == 3600 for i in coffee
    )
    floating = [i for i in result.items if i.title == "Kelluva aika"]
    assert [i.starts_at.astimezone(UTC).hour for i in floating if i.starts_at] == [10, 9]


def test_events_outside_the_horizon_are_left_out(
    make_ctx: Callable[..., FetchContext], fetch_settings: Settings
) -> None:
    url = "https://x/c.ics"
    fetcher = Fetcher(fetch_settings, local_files={url: EXAMPLE_ICS})
    source = build_source("ical", {"url": url})
    result = source.fetch(make_ctx(fetcher=fetcher, horizon_days=14))
    assert result.items and all(
        i.starts_at and NOW <= i.starts_at <= datetime(2026, 12, 12, 12, tzinfo=UTC)
        for i in result.items
    )


def test_linked_events_fixture_fields(shared_fixtures: Path) -> None:
    body = (shared_fixtures / "linkedevents/event-list-page1.json").read_bytes()
    page = parse_page(body, "u", ["sv", "fi"])
    items, next_url = page.items, page.next_url
    assert next_url == "https://api.hel.fi/linkedevents/v1/event/?page=2"
    online, postponed = items
    assert online.is_online and online.location is None and online.price == ""
    assert online.language == "fi"  # no Swedish name: falls back to Finnish
    assert online.title == "Uutta Koillis-Helsinkiä verkkotilaisuus"
    assert online.starts_at == datetime(2020, 6, 1, 13, 45, tzinfo=UTC)
    assert "yso:p15875" in online.categories
    assert postponed.event_status == "postponed" and postponed.price == "5-15€"
    assert set(postponed.translations) == {"fi", "sv", "en"}
    assert postponed.language == "sv"
    assert postponed.translations["en"]["title"] == "Raija Malka & Kaija Saariaho: Blick"
    single = parse_page(
        (shared_fixtures / "linkedevents/event-with-includes.json").read_bytes(), "u", ["fi"]
    ).items
    assert single[0].location == "Jätkäsaaren kirjasto, Tyynenmerenkatu 1"


def test_example_linked_events_statuses() -> None:
    body = (ROOT / "examples/linkedevents/events.json").read_bytes()
    page = parse_page(body, "u", ["fi"])
    items, next_url = page.items, page.next_url
    assert next_url is None
    statuses = {i.external_id: i.event_status for i in items}
    assert statuses["example:ev-charging-1"] == "cancelled"
    assert statuses["example:energy-fair-1"] == "postponed"
    assert statuses["example:climate-web-1"] is None


def test_linked_events_pages_filters_and_cap(
    server: FeedServer, make_ctx: Callable[..., FetchContext], shared_fixtures: Path
) -> None:
    source = build_source(
        "linkedevents",
        {
            "url": server.named("/le/page/1"),
            "params": {"keyword": "yso:p1880", "internet_based": "true"},
            "max_pages": 3,
        },
    )
    result = source.fetch(make_ctx(horizon_days=30))
    assert result.status == SourceStatus.OK
    assert [server.hits[f"/le/page/{n}"] for n in (1, 2, 3, 4)] == [1, 1, 1, 0]
    assert len(result.items) == 6 and result.warning and "max_pages" in result.warning
    query = server.queries["/le/page/1"]
    assert query["keyword"] == ["yso:p1880"] and query["internet_based"] == ["true"]
    assert query["start"] == ["2026-11-28"] and query["end"] == ["2026-12-28"]


def test_linked_events_next_to_another_host_is_not_followed(
    server: FeedServer, make_ctx: Callable[..., FetchContext], shared_fixtures: Path
) -> None:
    source = build_source("linkedevents", {"url": server.named("/le/other-host")})
    result = source.fetch(make_ctx())
    assert result.status == SourceStatus.OK and len(result.items) == 2
    assert result.warning and "another host" in result.warning


def test_online_link_from_conference_or_url() -> None:
    def event(uid: str, extra: str) -> str:
        return (
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTART:20261210T100000Z\r\nSUMMARY:{uid}\r\n"
            f"URL:https://city.example/{uid}\r\n{extra}END:VEVENT\r\n"
        )

    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"
        + event("webinaari", "LOCATION:Verkossa\r\n")
        + event("messut", "LOCATION:Messukeskus\\, Helsinki\r\n")
        + event(
            "hybridi", "LOCATION:Kaupungintalo\r\nCONFERENCE;VALUE=URI:https://meet.example/h\r\n"
        )
        + event("puhelin", "CONFERENCE;VALUE=URI:tel:+358-9-123\r\n")
        + "END:VCALENDAR\r\n"
    )
    result = parse_calendar(
        text.encode(),
        "https://x/c.ics",
        start=NOW,
        end=datetime(2027, 1, 1, tzinfo=UTC),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    found = {i.title: (i.online_url, i.is_online) for i in result.items}
    assert found["webinaari"] == ("https://city.example/webinaari", True)
    assert found["messut"] == (None, False)
    assert found["hybridi"] == ("https://meet.example/h", False)  # a place and a stream
    assert found["puhelin"] == (None, False)  # only http(s) links count


@pytest.mark.parametrize(
    ("start", "duration", "ends_utc"),
    [
        # hours are elapsed time: 1.00 EET + 4 h is 6.00 EEST, not 5.00 (03:00 UTC)
        ("20270328T010000", "PT4H", datetime(2027, 3, 28, 3, tzinfo=UTC)),
        ("20270327T120000", "PT24H", datetime(2027, 3, 28, 10, tzinfo=UTC)),
        # days are nominal: the same local time the next day (12.00 EEST)
        ("20270327T120000", "P1D", datetime(2027, 3, 28, 9, tzinfo=UTC)),
        # autumn: 2.00 EEST + 4 h is 5.00 EET, not 6.00
        ("20271031T020000", "PT4H", datetime(2027, 10, 31, 3, tzinfo=UTC)),
        # a day to 12.00 EET the next day, then 2 hours of elapsed time
        ("20271030T120000", "P1DT2H", datetime(2027, 10, 31, 12, tzinfo=UTC)),
        ("20271030T120000", "P1W", datetime(2027, 11, 6, 10, tzinfo=UTC)),
    ],
)
def test_a_duration_across_the_clock_change(start: str, duration: str, ends_utc: datetime) -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:dur@test\r\n"
        f"DTSTART;TZID=Europe/Helsinki:{start}\r\nDURATION:{duration}\r\n"
        "SUMMARY:Yöpaja\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = parse_calendar(
        text.encode(),
        "https://x/c.ics",
        start=datetime(2027, 1, 1, tzinfo=UTC),
        end=datetime(2028, 1, 1, tzinfo=UTC),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    [item] = result.items
    assert item.ends_at is not None and item.ends_at.astimezone(UTC) == ends_utc


def test_each_occurrence_of_a_series_lasts_its_duration() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:series@test\r\n"
        "DTSTART;TZID=Europe/Helsinki:20270320T120000\r\nDURATION:PT26H\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=2\r\nSUMMARY:Kahden päivän kurssi\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:days@test\r\nDTSTART;VALUE=DATE:20270327\r\nDURATION:P2D\r\n"
        "SUMMARY:Messut\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = parse_calendar(
        text.encode(),
        "https://x/c.ics",
        start=datetime(2027, 1, 1, tzinfo=UTC),
        end=datetime(2028, 1, 1, tzinfo=UTC),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    course = [i for i in result.items if i.title == "Kahden päivän kurssi"]
    lasts = [i.ends_at.astimezone(UTC) - i.starts_at for i in course if i.ends_at and i.starts_at]
    assert lasts == [timedelta(hours=26)] * 2  # the second spans the change: still 26 h
    [fair] = [i for i in result.items if i.title == "Messut"]
    assert fair.all_day and fair.ends_at == datetime(2027, 3, 29, tzinfo=HELSINKI)
