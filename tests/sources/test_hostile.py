"""Every hostile answer of issue 3 ends in its stated source status, quickly."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from outreach.models import SourceStatus
from outreach.sources.base import FetchContext
from outreach.sources.registry import build_source
from tests.sources.conftest import FeedServer

#: path → (status, a phrase of the error or warning)
HOSTILE = {
    "/slow": (SourceStatus.ERROR, "timed out"),
    "/500": (SourceStatus.ERROR, "HTTP 500"),
    "/404": (SourceStatus.ERROR, "HTTP 404"),
    "/410": (SourceStatus.DISABLED, "410 Gone"),
    "/loop": (SourceStatus.ERROR, "more than 5 redirects"),
    "/to-loopback": (SourceStatus.ERROR, "127.0.0.1 is not public"),
    "/to-metadata": (SourceStatus.ERROR, "metadata endpoint"),
    "/to-file": (SourceStatus.ERROR, "only http and https"),
    "/big": (SourceStatus.ERROR, "limit"),
    "/gzip-bomb": (SourceStatus.ERROR, "decompressed body is over"),
    "/xxe": (SourceStatus.ERROR, "declares XML entities"),
    "/billion-laughs": (SourceStatus.ERROR, "declares XML entities"),
    "/html": (SourceStatus.ERROR, "not an RSS or Atom feed (got text/html"),
    "/empty-feed": (SourceStatus.OK, "no items"),
    "/wrong-charset": (SourceStatus.OK, "not well-formed"),
}


@pytest.mark.parametrize("path", sorted(HOSTILE))
def test_hostile_answer_status(
    server: FeedServer, make_ctx: Callable[..., FetchContext], path: str
) -> None:
    status, phrase = HOSTILE[path]
    source = build_source("rss", {"url": server.named(path)})
    started = time.monotonic()
    result = source.fetch(make_ctx())
    assert time.monotonic() - started < 3
    assert result.status == status
    message = result.error if status != SourceStatus.OK else result.warning
    assert message and phrase in message
    if status != SourceStatus.OK:
        assert result.items == [] and result.etag is None


def test_wrong_charset_still_reads_the_text(
    server: FeedServer, make_ctx: Callable[..., FetchContext]
) -> None:
    result = build_source("rss", {"url": server.named("/wrong-charset")}).fetch(make_ctx())
    assert [i.title for i in result.items] == ["Päästöt laskivat"]


def test_xxe_never_reads_local_files(
    server: FeedServer, make_ctx: Callable[..., FetchContext]
) -> None:
    result = build_source("rss", {"url": server.named("/xxe")}).fetch(make_ctx())
    assert "root:" not in repr(result)


def test_ical_and_linkedevents_report_hostile_answers_too(
    server: FeedServer, make_ctx: Callable[..., FetchContext]
) -> None:
    ical = build_source("ical", {"url": server.named("/html")}).fetch(make_ctx())
    assert ical.status == SourceStatus.ERROR and ical.error
    assert "not an iCalendar file" in ical.error
    events = build_source("linkedevents", {"url": server.named("/feed.xml")}).fetch(make_ctx())
    assert events.status == SourceStatus.ERROR and events.error
    assert "not a Linked Events JSON answer" in events.error
    gone = build_source("linkedevents", {"url": server.named("/410")}).fetch(make_ctx())
    assert gone.status == SourceStatus.DISABLED
