"""Real-world broken feeds and calendars: items or a clean per-source error, never a crash.

Each file is answered through ``Fetcher.local_files``, so the whole source path
(fetch → parse → result) runs, as it does in the ingest step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from outreach.models import SourceStatus
from outreach.settings import Settings
from outreach.sources.base import FetchContext, FetchResult
from outreach.sources.fetch import Fetcher
from outreach.sources.registry import build_source
from tests.conftest import SHARED_FIXTURES


def _files(*folders: str, suffixes: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    for folder in folders:
        base = SHARED_FIXTURES / folder
        if base.is_dir():
            found += [
                str(p.relative_to(SHARED_FIXTURES))
                for p in sorted(base.rglob("*"))
                if p.is_file() and p.suffix in suffixes
            ]
    return found or ["(fixtures absent)"]


def _through_source(
    kind: str, path: Path, settings: Settings, make_ctx: Callable[..., FetchContext], **ctx: object
) -> FetchResult:
    url = f"https://fixtures.example/{path.name}"
    fetcher = Fetcher(settings, local_files={url: path})
    return build_source(kind, {"url": url}).fetch(make_ctx(fetcher=fetcher, **ctx))


def _check(result: FetchResult) -> None:
    assert result.status in (SourceStatus.OK, SourceStatus.ERROR)
    if result.status == SourceStatus.ERROR:
        assert result.error and "\n" not in result.error and not result.items
    for item in result.items:
        assert item.external_id and item.title
        for when in (item.published_at, item.starts_at, item.ends_at):
            assert when is None or when.tzinfo is not None


FEEDS = _files(
    "feeds/feedparser/illformed", "feeds/feedparser/encoding", suffixes=(".xml", ".rdf", ".atom")
)


@pytest.mark.parametrize("name", FEEDS)
def test_every_illformed_and_encoding_feed(
    name: str,
    shared_fixtures: Path,
    fetch_settings: Settings,
    make_ctx: Callable[..., FetchContext],
) -> None:
    result = _through_source("rss", shared_fixtures / name, fetch_settings, make_ctx)
    _check(result)


def test_most_encoding_feeds_are_read(
    shared_fixtures: Path, fetch_settings: Settings, make_ctx: Callable[..., FetchContext]
) -> None:
    results = [
        _through_source("rss", shared_fixtures / name, fetch_settings, make_ctx)
        for name in FEEDS
        if "/encoding/" in name
    ]
    ok = [r for r in results if r.status == SourceStatus.OK]
    assert len(ok) >= 0.9 * len(results)
    assert any(r.items for r in ok)


CALENDARS = _files("ical/icalendar", suffixes=(".ics",))


@pytest.mark.parametrize("name", CALENDARS)
def test_every_icalendar_fixture(
    name: str,
    shared_fixtures: Path,
    fetch_settings: Settings,
    make_ctx: Callable[..., FetchContext],
) -> None:
    from datetime import UTC, datetime

    # a wide window so the fixtures' old dates count; the horizon caps the work
    result = _through_source(
        "ical",
        shared_fixtures / name,
        fetch_settings,
        make_ctx,
        now=datetime(1995, 1, 1, tzinfo=UTC),
        horizon_days=366 * 40,
    )
    _check(result)


def test_calendars_mostly_yield_events(
    shared_fixtures: Path, fetch_settings: Settings, make_ctx: Callable[..., FetchContext]
) -> None:
    from datetime import UTC, datetime

    results = [
        _through_source(
            "ical",
            shared_fixtures / name,
            fetch_settings,
            make_ctx,
            now=datetime(1995, 1, 1, tzinfo=UTC),
            horizon_days=366 * 40,
        )
        for name in CALENDARS
        if "/calendars/" in name
    ]
    with_items = [r for r in results if r.items]
    assert len(with_items) >= len(results) // 2
    errors = [r for r in results if r.status == SourceStatus.ERROR]
    assert len(errors) <= 20  # truly broken files are reported, not raised


@pytest.mark.parametrize("name", ["broken_dtstart.ics", "issue_1081_invalid_start_and_end.ics"])
def test_a_calendar_with_a_broken_event_names_it_without_a_traceback(
    name: str,
    shared_fixtures: Path,
    fetch_settings: Settings,
    make_ctx: Callable[..., FetchContext],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from datetime import UTC, datetime

    caplog.set_level(logging.DEBUG)
    path = shared_fixtures / "ical/icalendar/calendars" / name
    result = _through_source(
        "ical", path, fetch_settings, make_ctx, now=datetime(1995, 1, 1, tzinfo=UTC)
    )
    assert result.status == SourceStatus.OK and not result.current
    assert "left out (1): test-123 (DTSTART: Expected datetime" in (result.warning or "")
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize(
    "name",
    [
        "entry_title_xml_lang.xml",
        "entry_summary_xml_lang.xml",
        "entry_content_xml_lang.xml",
        "item_dc_language.xml",
        "item_content_encoded_xml_lang.xml",
    ],
)
def test_item_language_from_xml_lang_or_feed(name: str, shared_fixtures: Path) -> None:
    from outreach.sources.rss import parse_feed

    body = (shared_fixtures / "feeds/feedparser/lang" / name).read_bytes()
    if b"<title" not in body:  # the fixtures leave titles out; an item needs one
        body = body.replace(b"<entry>", b"<entry><title>t</title>").replace(
            b"<item>", b"<item><title>t</title>"
        )
    result = parse_feed(body, "https://x/f", "application/xml", "sv")
    assert result.items, name
    assert result.items[0].language == "en"


def test_item_language_falls_back_to_the_campaign() -> None:
    from outreach.sources.rss import parse_feed

    body = b'<rss version="2.0"><channel><item><title>t</title></item></channel></rss>'
    assert parse_feed(body, "https://x/f", "application/xml", "sv").items[0].language == "sv"
    body = body.replace(b"<channel>", b"<channel><language>fi-FI</language>")
    assert parse_feed(body, "https://x/f", "application/xml", "sv").items[0].language == "fi"
