"""RSS 2.0, Atom and JSON Feed documents of a city's stories, and RSS and Atom feeds
of its archive.

Each is read by any feed reader, a CMS, and the ``rss`` source type of another
city's campaign (feedparser takes RSS as well as Atom). In RSS, an entry's
company is its ``dc:creator`` (RSS's ``author`` is an e-mail address), its
language ``dc:language``, its HTML ``content:encoded``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.etree import ElementTree as ET

from outreach.publish.catalog import INDUSTRIES, THEMES, label
from outreach.publish.stories import PublicStory

ATOM = "http://www.w3.org/2005/Atom"
DC = "http://purl.org/dc/elements/1.1/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
#: Before any entry: the feeds' ``updated`` when there is none.
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FeedInfo:
    """What a feed says about itself: its title, its page, its own address, its id."""

    title: str
    page_url: str
    feed_url: str
    lang: str
    author: str


@dataclass(frozen=True)
class FeedEntry:
    id: str
    title: str
    url: str
    updated: datetime
    summary: str
    content_html: str | None = None
    author: str | None = None
    categories: Sequence[str] = ()
    image_url: str | None = None
    image_type: str | None = None
    image_bytes: int | None = None
    language: str | None = None


def _utc(when: datetime) -> datetime:
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def _iso(when: datetime) -> str:
    return _utc(when).isoformat().replace("+00:00", "Z")


def _rfc822(when: datetime) -> str:
    return format_datetime(_utc(when).replace(microsecond=0))


def story_entries(
    stories: Sequence[PublicStory], base: str, city: str, lang: str
) -> list[FeedEntry]:
    """Feed entries of published stories, their industry and theme named in ``lang``."""
    return [
        FeedEntry(
            id=f"{base}/{city}/stories/{s.id}",
            title=f"{s.company}: {s.title}",
            url=f"{base}/{city}/stories/{s.id}?lang={lang}",
            updated=s.published_at,
            summary=s.summary,
            content_html=s.body_html,
            author=s.company,
            categories=[
                name
                for name in (label(INDUSTRIES, s.industry, lang), label(THEMES, s.theme, lang))
                if name
            ],
            image_url=f"{base}/{city}/stories/{s.id}/image" if s.has_image else None,
            image_type=s.image_type,
            image_bytes=s.image_bytes,
            language=s.language,
        )
        for s in stories
    ]


def atom(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """An Atom 1.0 document (RFC 4287)."""
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed", {"xml:lang": info.lang})

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(root, "id", info.feed_url)
    sub(root, "title", info.title)
    updated = max((e.updated for e in entries), default=EPOCH)
    sub(root, "updated", _iso(updated))
    sub(root, "link", rel="alternate", type="text/html", href=info.page_url)
    sub(root, "link", rel="self", type="application/atom+xml", href=info.feed_url)
    sub(sub(root, "author"), "name", info.author)
    for e in entries:
        entry = sub(root, "entry")
        if e.language:
            entry.set("xml:lang", e.language)
        sub(entry, "id", e.id)
        sub(entry, "title", e.title)
        sub(entry, "updated", _iso(e.updated))
        sub(entry, "published", _iso(e.updated))
        sub(entry, "link", rel="alternate", type="text/html", href=e.url)
        if e.author:
            sub(sub(entry, "author"), "name", e.author)
        for term in e.categories:
            sub(entry, "category", term=term)
        sub(entry, "summary", e.summary)
        if e.content_html is not None:
            sub(entry, "content", e.content_html, type="html")
        if e.image_url:
            attrs = {"rel": "enclosure", "href": e.image_url}
            if e.image_type:
                attrs["type"] = e.image_type
            if e.image_bytes:
                attrs["length"] = str(e.image_bytes)
            sub(entry, "link", **attrs)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def rss(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """An RSS 2.0 document (https://www.rssboard.org/rss-specification)."""
    for prefix, uri in (("atom", ATOM), ("dc", DC), ("content", CONTENT)):
        ET.register_namespace(prefix, uri)
    root = ET.Element("rss", {"version": "2.0"})
    channel = ET.SubElement(root, "channel")

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, tag, attrs)
        if text is not None:
            el.text = text
        return el

    sub(channel, "title", info.title)
    sub(channel, "link", info.page_url)
    sub(channel, "description", info.title)
    sub(channel, "language", info.lang)
    updated = max((e.updated for e in entries), default=EPOCH)
    sub(channel, "lastBuildDate", _rfc822(updated))
    sub(channel, f"{{{DC}}}creator", info.author)
    sub(channel, f"{{{ATOM}}}link", rel="self", type="application/rss+xml", href=info.feed_url)
    for e in entries:
        item = sub(channel, "item")
        sub(item, "title", e.title)
        sub(item, "link", e.url)
        sub(item, "guid", e.id, isPermaLink="true" if e.id == e.url else "false")
        sub(item, "pubDate", _rfc822(e.updated))
        if e.author:
            sub(item, f"{{{DC}}}creator", e.author)
        for term in e.categories:
            sub(item, "category", term)
        sub(item, "description", html.escape(e.summary, quote=False))
        if e.content_html is not None:
            sub(item, f"{{{CONTENT}}}encoded", e.content_html)
        if e.image_url and e.image_type:
            length = str(e.image_bytes or 0)
            sub(item, "enclosure", url=e.image_url, length=length, type=e.image_type)
        if e.language:
            sub(item, f"{{{DC}}}language", e.language)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def json_feed(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """A JSON Feed 1.1 document (https://jsonfeed.org/version/1.1)."""
    items = []
    for e in entries:
        item: dict[str, object] = {
            "id": e.id,
            "url": e.url,
            "title": e.title,
            "summary": e.summary,
            "content_html": e.content_html or "",
            "date_published": _iso(e.updated),
            "tags": list(e.categories),
        }
        if e.author:
            item["authors"] = [{"name": e.author}]
        if e.image_url:
            item["image"] = e.image_url
            if e.image_type:
                item["attachments"] = [
                    {"url": e.image_url, "mime_type": e.image_type,
                     "size_in_bytes": e.image_bytes or 0}
                ]  # fmt: skip
        if e.language:
            item["language"] = e.language
        items.append(item)
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": info.title,
        "home_page_url": info.page_url,
        "feed_url": info.feed_url,
        "language": info.lang,
        "authors": [{"name": info.author}],
        "items": items,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1).encode()
