"""Text, Linked Events and feed defects found running real sources over months."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outreach.l10n import format_event_time
from outreach.models import SourceStatus
from outreach.sources.base import RawItem
from outreach.sources.ical import MAX_ITEMS, parse_calendar
from outreach.sources.linkedevents import parse_page
from outreach.sources.rss import parse_feed
from outreach.sources.store import item_fields
from tests.sources.changing import calendar

HELSINKI = ZoneInfo("Europe/Helsinki")
START = datetime(2026, 12, 1, tzinfo=UTC)


def _calendar_items(*events: str, end_days: int = 60) -> list[RawItem]:
    result = parse_calendar(
        calendar(*events).encode(),
        "https://city.example/c.ics",
        start=START,
        end=START + timedelta(days=end_days),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    assert result.status == SourceStatus.OK, result.error
    return result.items


def test_text_in_angle_brackets_is_kept_in_titles_and_text() -> None:
    [item] = _calendar_items(
        "UID:a@test\nDTSTART:20261210T100000Z\nSUMMARY:Kysy <ilmasto@vantaa.fi> & R&amp;D\n"
        "DESCRIPTION:kysy <ilmasto@vantaa.fi> tai soita"
    )
    fields = item_fields(item, "event")
    assert fields["title"] == "Kysy <ilmasto@vantaa.fi> & R&amp;D"
    assert fields["summary"] == "kysy <ilmasto@vantaa.fi> tai soita"
    assert "&lt;ilmasto@vantaa.fi&gt;" in fields["summary_html"]
    feed = parse_feed(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        b"<title>kysy &lt;ilmasto@vantaa.fi&gt; tai soita</title><guid>g</guid></item>"
        b"</channel></rss>",
        "https://city.example/feed",
        "application/rss+xml",
        "fi",
    )
    assert item_fields(feed.items[0], "news")["title"] == "kysy <ilmasto@vantaa.fi> tai soita"


def test_html_description_is_read_as_html() -> None:
    teams = (
        "UID:t@test\nDTSTART:20261210T100000Z\nSUMMARY:Webinaari\n"
        'DESCRIPTION:<p>Liity <a href="https://teams.example.com/l/1">Teamsissa</a></p><br>'
        "<b>Tervetuloa</b>"
    )
    [item] = _calendar_items(teams)
    fields = item_fields(item, "event")
    assert "<p>" in fields["summary_html"] and "&lt;p&gt;" not in fields["summary_html"]
    assert 'href="https://teams.example.com/l/1"' in fields["summary_html"]
    assert fields["summary"] == "Liity Teamsissa Tervetuloa"


def test_date_start_with_datetime_end_makes_up_no_time() -> None:
    [item] = _calendar_items(
        "UID:d@test\nDTSTART;VALUE=DATE:20261214\nDTEND:20261216T150000Z\nSUMMARY:Messut"
    )
    assert item.all_day and item.ends_at is not None
    shown = format_event_time(item.starts_at, item.ends_at, "fi", HELSINKI, all_day=True)  # type: ignore[arg-type]
    assert shown == "ma 14.12. – ke 16.12.2026" and "klo" not in shown


def test_event_without_end_shows_no_range() -> None:
    [item] = _calendar_items(
        "UID:n@test\nDTSTART:20261210T070000Z\nDTEND:20261210T070000Z\nSUMMARY:x"
    )
    assert item.ends_at is None
    start = datetime(2026, 12, 10, 7, tzinfo=UTC)
    assert format_event_time(start, start, "fi", HELSINKI) == "to 10.12.2026 klo 9.00"


def test_a_broken_event_is_left_out_and_named_the_others_are_read() -> None:
    text = calendar(
        "UID:good@test\nDTSTART:20261210T070000Z\nSUMMARY:Energiakatselmus",
        "UID:broken@test\nDTSTART:10.12.2026 klo 9\nSUMMARY:Rikki",
        "UID:rule@test\nDTSTART:20261211T070000Z\nRRULE:FREQ=SOMETIMES\nSUMMARY:Sääntö",
        "UID:later@test\nDTSTART:20261212T070000Z\nDURATION:PT1H\nSUMMARY:Aurinkosähkö",
    )
    result = parse_calendar(
        text.encode(),
        "u",
        start=START,
        end=START + timedelta(days=30),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    assert result.status == SourceStatus.OK
    assert [i.title for i in result.items] == ["Energiakatselmus", "Aurinkosähkö"]
    warning = result.warning or ""
    assert warning.startswith("events that cannot be read, left out (2): broken@test (DTSTART")
    assert "rule@test (RRULE" in warning
    assert not result.current  # a left-out event is not cancelled: nothing is retired


def test_occurrence_cap_says_so() -> None:
    items = _calendar_items(
        "UID:daily@test\nDTSTART:20261201T080000Z\nRRULE:FREQ=HOURLY\nSUMMARY:Joka tunti",
        end_days=30,
    )
    assert len(items) == MAX_ITEMS
    result = parse_calendar(
        calendar("UID:daily@test\nDTSTART:20261201T080000Z\nRRULE:FREQ=HOURLY\nSUMMARY:x").encode(),
        "u",
        start=START,
        end=START + timedelta(days=30),
        timezone="Europe/Helsinki",
        lang="fi",
    )
    assert f"only the first {MAX_ITEMS} occurrences are read" in (result.warning or "")
    assert result.window is not None and result.window[1] < START + timedelta(days=30)


def _le_event(**fields: object) -> bytes:
    event = {
        "id": "t:1",
        "name": {"fi": "Messut", "sv": "Mässan"},
        "start_time": "2026-06-14",
        "end_time": "2026-06-16",
        "location": {
            "@id": "https://api.hel.fi/linkedevents/v1/place/tprek:1/",
            "name": {"fi": "Kirjasto", "sv": "Biblioteket"},
            "street_address": {"fi": "Katu 1", "sv": "Gatan 1"},
        },
        "offers": [{"is_free": False, "price": {"fi": "5 euroa", "sv": "5 euro"}}],
        "info_url": {
            "fi": "https://city.example/fi/messut",
            "sv": "https://city.example/sv/massan",
        },
        **fields,
    }
    return json.dumps({"meta": {"next": None}, "data": [event]}).encode()


def test_linked_events_date_only_end_is_inclusive() -> None:
    [item] = parse_page(_le_event(), "u", ["fi"]).items
    assert item.all_day
    shown = format_event_time(item.starts_at, item.ends_at, "fi", HELSINKI, all_day=True)  # type: ignore[arg-type]
    assert shown == "su 14.6. – ti 16.6.2026"


def test_linked_events_date_only_end_after_a_timed_start_has_no_time() -> None:
    body = _le_event(start_time="2026-06-14T10:00:00+03:00", end_time="2026-06-16")
    [item] = parse_page(body, "u", ["fi"]).items
    assert item.ends_date_only and not item.all_day
    shown = format_event_time(
        item.starts_at,  # type: ignore[arg-type]
        item.ends_at,
        "fi",
        HELSINKI,
        end_date_only=item.ends_date_only,
    )
    assert shown == "su 14.6.2026 klo 10.00 – ti 16.6.2026"
    assert "3.00" not in shown


def test_linked_events_swedish_place_price_and_link() -> None:
    [item] = parse_page(_le_event(), "u", ["fi", "sv"]).items
    fields = item_fields(item, "event")
    assert fields["location"] == "Kirjasto, Katu 1" and fields["price"] == "5 euroa"
    sv = fields["translations"]["sv"]
    assert sv["location"] == "Biblioteket, Gatan 1" and sv["price"] == "5 euro"
    assert sv["url"] == "https://city.example/sv/massan"


def test_linked_events_place_only_in_extra_info() -> None:
    body = _le_event(location=None, location_extra_info={"fi": "Kokoushuone 3, kaupungintalo"})
    [item] = parse_page(body, "u", ["fi"]).items
    assert item.location == "Kokoushuone 3, kaupungintalo"


@pytest.mark.parametrize(
    ("feed_base", "headers", "expected"),
    [
        ('xml:base="https://base.example/news/"', None, "https://base.example/news/a/1"),
        ("", "https://cdn.example/feeds/all.xml", "https://cdn.example/feeds/a/1"),
        ("", None, "https://city.example/rss/a/1"),
    ],
)
def test_relative_links_resolved(feed_base: str, headers: str | None, expected: str) -> None:
    body = (
        f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" {feed_base}>'
        "<title>x</title><entry><id>1</id><title>Uutinen</title>"
        '<summary type="html">&lt;a href="a/1"&gt;lue&lt;/a&gt;</summary></entry></feed>'
    ).encode()
    result = parse_feed(
        body, "https://city.example/rss/feed.xml", "application/atom+xml", "fi", headers
    )
    fields = item_fields(result.items[0], "news")
    assert f'href="{expected}"' in fields["summary_html"]


def test_feed_without_titles_or_summaries_says_so() -> None:
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>'
        b"<item><guid>1</guid></item><item><guid>2</guid></item></channel></rss>"
    )
    result = parse_feed(body, "https://city.example/feed", "application/rss+xml", "fi")
    assert result.status == SourceStatus.OK and not result.items
    assert "2 entries have neither a title nor a summary" in (result.warning or "")


def test_entity_declaring_feed_says_how_to_fix() -> None:
    from outreach.errors import SourceError

    body = b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "b">]><rss version="2.0"/>'
    with pytest.raises(SourceError, match="ask its publisher to drop the DOCTYPE"):
        parse_feed(body, "https://city.example/feed", "application/rss+xml", "fi")
