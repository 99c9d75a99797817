"""The feeds of the public pages, parsed back: RSS 2.0, Atom and JSON Feed of a city's
stories, RSS and Atom of its archive; their caching headers and the links the
pages advertise; and another city's campaign reading the stories feed from a real
server on 127.0.0.1 through the ``rss`` source type."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.models import ContentItem, Issue, Story, StoryImage
from outreach.publish import clean_image
from outreach.settings import Settings
from outreach.sources.fetch import Fetcher
from outreach.sources.ingest import ingest
from outreach.sources.rss import parse_feed
from tests.web.conftest import TestClient
from tests.web.live import live_server
from tests.web.test_public import _issues
from tests.web.test_showcase import publish

BASE = "https://outreach.example.fi"
SV_TRANSLATION = {
    "title": "Solen 0",
    "body": "Vi installerade **0** paneler & en batteri.",
    "figures": "0 MWh per år",
}


def add_image(engine: Engine, story_id: int) -> bytes:
    """A re-encoded JPEG for the story, as the submission form stores it; its bytes."""
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (20, 120, 60)).save(out, "JPEG")
    image = clean_image(out.getvalue())
    with Session(engine) as s:
        s.add(
            StoryImage(
                story_id=story_id, content_type=image.content_type, data=image.data,
                width=image.width, height=image.height,
                sha256=hashlib.sha256(image.data).hexdigest(),
            )
        )  # fmt: skip
        story = s.get(Story, story_id)
        assert story is not None
        story.image_alt = "Paneeleja katolla"
        s.commit()
    return image.data


def translate(engine: Engine, story_id: int, lang: str, fields: dict[str, str]) -> None:
    with Session(engine) as s:
        story = s.get(Story, story_id)
        assert story is not None
        story.translations = {**(story.translations or {}), lang: fields}
        s.commit()


class _Alternates(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self.in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "head":
            self.in_head = True
        if tag == "link" and self.in_head and values.get("rel") == "alternate":
            self.found.append(values)

    def handle_endtag(self, tag: str) -> None:
        if tag == "head":
            self.in_head = False


def alternates(html: str) -> dict[str, str]:
    """The feeds a page advertises in its <head>: media type → address."""
    parser = _Alternates()
    parser.feed(html)
    return {link["type"]: link["href"] for link in parser.found}


def cached_answer(client: TestClient, path: str, media: str) -> Any:
    """``path`` with its caching headers checked, and a 304 for its own ETag."""
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(media)
    assert answer.headers["cache-control"] == "public, max-age=300"
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in answer.headers
    again = client.get(path, headers={"If-None-Match": answer.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == answer.headers["etag"]
    return answer


def test_story_feeds_in_rss_atom_and_json_carry_every_field(
    client: TestClient, engine: Engine
) -> None:
    ids = publish(engine, "vantaa", 2)  # ids[1] is the newer
    image = add_image(engine, ids[1])
    translate(engine, ids[0], "sv", SV_TRANSLATION)
    rss_answer = cached_answer(client, "/vantaa/stories.rss?lang=sv", "application/rss+xml")
    rss = feedparser.parse(rss_answer.content)
    assert not rss.bozo, rss.bozo_exception
    assert rss.version == "rss20"
    assert rss.feed.title == "Företagens klimatinsatser: Vanda"
    assert rss.feed.link == f"{BASE}/vantaa/stories?lang=sv"
    assert rss.feed.language == "sv"
    assert rss.feed.author == "Vanda"
    assert rss.feed.updated_parsed[:6] == (2026, 3, 2, 0, 0, 0)
    selfs = [link.href for link in rss.feed.links if link.rel == "self"]
    assert selfs == [f"{BASE}/vantaa/stories.rss?lang=sv"]
    newer, older = rss.entries
    # the newer story: not translated, so in Finnish and marked so; with its image
    assert newer.id == f"{BASE}/vantaa/stories/{ids[1]}"
    assert newer.guidislink is False
    assert newer.link == f"{BASE}/vantaa/stories/{ids[1]}?lang=sv"
    assert newer.title == "Yritys 1 Oy: Aurinkoa 1"
    assert newer.published_parsed[:6] == (2026, 3, 2, 0, 0, 0)
    assert newer.author == "Yritys 1 Oy"
    assert {t.term for t in newer.tags} == {"Energi", "Förnybar energi"}
    assert newer.summary == "Asensimme 1 paneelia."  # text, without Markdown's marks
    assert newer.content[0].value.strip() == "<p>Asensimme <strong>1</strong> paneelia.</p>"
    assert newer.language == "fi"
    [enclosure] = newer.enclosures
    assert enclosure.href == f"{BASE}/vantaa/stories/{ids[1]}/image"
    assert enclosure.type == "image/jpeg" and enclosure.length == str(len(image))
    # the older one has a Swedish translation: shown, and in Swedish
    assert older.title == "Yritys 0 Oy: Solen 0"
    assert older.language == "sv"
    assert older.summary == "Vi installerade 0 paneler &amp; en batteri."
    assert "<strong>0</strong> paneler &amp; en batteri" in older.content[0].value
    assert older.published_parsed[:3] == (2026, 3, 1) and not older.get("enclosures")

    atom_answer = cached_answer(client, "/vantaa/stories.atom?lang=sv", "application/atom+xml")
    atom = feedparser.parse(atom_answer.content)
    assert not atom.bozo, atom.bozo_exception
    assert atom.version == "atom10" and atom.feed.title == rss.feed.title
    assert atom.feed.link == rss.feed.link and atom.feed.author == "Vanda"
    assert atom.feed.language == "sv"
    for a, r in zip(atom.entries, rss.entries, strict=True):
        assert (a.id, a.link, a.title, a.author) == (r.id, r.link, r.title, r.author)
        assert a.published_parsed == r.published_parsed
        assert {t.term for t in a.tags} == {t.term for t in r.tags}
        assert a.content[0].value == r.content[0].value
        assert a.title_detail.language == r.language
    assert [(e.href, e.type, e.length) for e in atom.entries[0].enclosures] == [
        (enclosure.href, "image/jpeg", str(len(image)))
    ]
    # what the rss source type of another campaign makes of either: the same items
    from_rss = parse_feed(rss_answer.content, f"{BASE}/x", "application/rss+xml", "fi").items
    from_atom = parse_feed(atom_answer.content, f"{BASE}/x", "application/atom+xml", "fi").items
    assert [(i.external_id, i.title, i.url, i.language, i.published_at, i.image_url,
             sorted(i.categories)) for i in from_rss] == [
        (i.external_id, i.title, i.url, i.language, i.published_at, i.image_url,
         sorted(i.categories)) for i in from_atom
    ]  # fmt: skip
    assert [i.language for i in from_rss] == ["fi", "sv"]

    doc = cached_answer(client, "/vantaa/stories.json?lang=sv", "application/feed+json").json()
    assert doc["title"] == rss.feed.title and doc["language"] == "sv"
    assert doc["feed_url"] == f"{BASE}/vantaa/stories.json?lang=sv"
    first = doc["items"][0]
    assert (first["id"], first["url"], first["title"]) == (newer.id, newer.link, newer.title)
    assert first["attachments"] == [
        {"url": enclosure.href, "mime_type": "image/jpeg", "size_in_bytes": len(image)}
    ]
    assert doc["items"][1]["language"] == "sv" and doc["items"][0]["language"] == "fi"
    assert client.get(enclosure.href.removeprefix(BASE)).content == image


@pytest.mark.parametrize("path", ["/vantaa/stories", "/vantaa/companies", "/vantaa/stories/1"])
def test_story_pages_advertise_the_three_feeds(
    client: TestClient, engine: Engine, path: str
) -> None:
    publish(engine, "vantaa", 1)
    page = client.get(f"{path}?lang=fi")
    assert page.status_code == 200
    feeds = alternates(page.text)
    assert feeds == {
        "application/rss+xml": "/vantaa/stories.rss?lang=fi",
        "application/atom+xml": "/vantaa/stories.atom?lang=fi",
        "application/feed+json": "/vantaa/stories.json?lang=fi",
    }
    for media, href in feeds.items():
        answer = client.get(href)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)


def test_archive_feeds_in_rss_and_atom(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    sent, draft = _issues(engine, settings)
    page = client.get("/kerava/archive?lang=fi").text
    assert alternates(page) == {
        "application/rss+xml": "/kerava/archive.rss?lang=fi",
        "application/atom+xml": "/kerava/archive.atom?lang=fi",
    }
    parsed = {}
    for kind, media in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
        answer = cached_answer(client, f"/kerava/archive.{kind}?lang=fi", media)
        feed = feedparser.parse(answer.content)
        assert not feed.bozo, feed.bozo_exception
        assert feed.feed.title == "Keravan uutiskirjearkisto"
        assert feed.feed.link == f"{BASE}/kerava/archive?lang=fi"
        assert feed.feed.language == "fi" and feed.feed.author == "Kerava"
        selfs = [link.href for link in feed.feed.links if link.rel == "self"]
        assert selfs == [f"{BASE}/kerava/archive.{kind}?lang=fi"]
        [entry] = feed.entries  # the draft is not public
        assert entry.id == f"{BASE}/kerava/archive/{sent}"
        assert entry.link == f"{BASE}/kerava/archive/{sent}?lang=fi"
        assert entry.title == "Keravan ympäristöpalkinto: lokakuu 2026"
        assert entry.summary == entry.title
        assert entry.published_parsed[:6] == (2026, 10, 1, 6, 0, 0)
        parsed[kind] = entry
    assert parsed["rss"].language == "fi" and parsed["atom"].title_detail.language == "fi"
    swedish = feedparser.parse(client.get("/kerava/archive.rss?lang=sv").content)
    assert swedish.feed.title == "Kervos nyhetsbrevsarkiv" and swedish.feed.language == "sv"
    # Kerava's issues are Finnish: the Swedish feed links to the Finnish web version
    assert swedish.entries[0].link == f"{BASE}/kerava/archive/{sent}?lang=fi"
    assert f"/archive/{draft}" not in client.get("/kerava/archive.rss").text


def test_an_archive_feed_follows_what_it_says_not_only_which_issues_it_lists(
    client: TestClient, engine: Engine, settings: Settings
) -> None:
    sent, _draft = _issues(engine, settings)
    before = feedparser.parse(client.get("/kerava/archive.rss?lang=fi").content)
    assert before.entries[0].title == "Keravan ympäristöpalkinto: lokakuu 2026"
    with Session(engine) as s:  # the same issue, sent at the same moment, says more now
        issue = s.get(Issue, sent)
        assert issue is not None
        issue.period = "2026-11"
        s.commit()
    after = feedparser.parse(client.get("/kerava/archive.rss?lang=fi").content)
    assert after.entries[0].title == "Keravan ympäristöpalkinto: marraskuu 2026"


CAMPAIGN = """\
slug: kerava-neighbours
kind: newsletter
city: kerava
title: {{fi: Naapurikuntien yritysten ilmastoteot}}
languages: [fi]
schedule: {{day: "1st tue", hour: 9}}
subject: {{fi: "Naapureiden ilmastoteot"}}
audience: {{topics: [climate]}}
sections:
  - id: neighbours
    kind: stories
    title: {{fi: Vantaan yritysten ilmastoteot}}
    sources:
      - {{type: rss, url: "{url}"}}
"""


def test_another_citys_campaign_reads_the_stories_feed(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    ids = publish(engine, "vantaa", 2)
    image = add_image(engine, ids[1])
    translate(engine, ids[0], "sv", SV_TRANSLATION)
    with live_server(settings) as server:
        url = f"{server.url}/vantaa/stories.rss?lang=sv"
        (settings.campaigns_path / "kerava-neighbours.yaml").write_text(CAMPAIGN.format(url=url))
        config = load(settings.campaigns_path, settings.templates_path)
        # the safe fetcher reaches loopback only when told to (as an intranet host)
        fetch = settings.model_copy(update={"fetch_allowed_hosts": ["127.0.0.1"]})
        now = datetime(2026, 3, 10, tzinfo=UTC)
        with Session(engine, expire_on_commit=False) as s:
            reports = ingest(s, fetch, config, ["kerava-neighbours"], now=now,
                             fetcher=Fetcher(fetch))  # fmt: skip
            assert [r.status for r in reports] == ["ok"], [r.line() for r in reports]
            items = list(s.scalars(select(ContentItem).order_by(ContentItem.published_at)))
            again = ingest(s, fetch, config, ["kerava-neighbours"], now=now,
                           fetcher=Fetcher(fetch))  # fmt: skip
            assert [r.status for r in again] == ["not_modified"], [r.line() for r in again]
        base = server.url
    older, newer = items
    assert [i.external_id for i in items] == [f"{base}/vantaa/stories/{i}" for i in ids]
    assert older.title == "Yritys 0 Oy: Solen 0" and older.language == "sv"
    assert older.url == f"{base}/vantaa/stories/{ids[0]}?lang=sv"
    assert older.summary == "Vi installerade 0 paneler & en batteri."
    assert newer.title == "Yritys 1 Oy: Aurinkoa 1" and newer.language == "fi"
    assert newer.published_at == datetime(2026, 3, 2, tzinfo=UTC)
    assert newer.image_url == f"{base}/vantaa/stories/{ids[1]}/image"
    assert sorted(newer.categories) == ["Energi", "Förnybar energi"]
    assert newer.kind == "news" and len(image) > 0
