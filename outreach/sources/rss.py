"""``rss``: RSS 0.9x/1.0/2.0 and Atom feeds, fetched safely and parsed with feedparser.

A feed that feedparser flags as not well-formed is still used when entries
parse, with a warning kept on the source. Item ids are the guid, else the
link, else a content hash; dates become timezone-aware (UTC); the language
comes from the entry's ``xml:lang``, the feed, the options or the campaign.
A title is text unless the feed marks it as HTML (then its text is taken
once). Relative links in summaries are resolved against ``xml:base``, the
answer's Content-Location, or the feed's own URL.
"""

from __future__ import annotations

import html
import io
import re
from calendar import timegm
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from outreach.errors import SourceError
from outreach.models import SourceStatus
from outreach.sources.base import (
    FetchContext,
    FetchResult,
    HttpURL,
    RawItem,
    Source,
    SourceOptions,
    content_hash,
    lang_code,
    web_url,
)
from outreach.sources.fetch import Response, fetch_and_parse
from outreach.sources.sanitize import one_line, plain_line, summarise

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
MAX_ITEMS = 200
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


class RssOptions(SourceOptions):
    url: HttpURL
    language: str | None = None


def refuse_entities(body: bytes, url: str) -> None:
    """XML entity declarations are refused outright (XXE and entity expansion)."""
    if _ENTITY_DECL.search(body) or _ENTITY_DECL.search(body.replace(b"\x00", b"")):
        raise SourceError(
            f"{url}: the feed declares XML entities (<!ENTITY> in a DOCTYPE), refused as "
            "unsafe; ask its publisher to drop the DOCTYPE and write characters as UTF-8 "
            "or numeric references (&#228;), or use a feed without it (docs/sources.md)"
        )


def _when(entry: Any, *keys: str) -> datetime | None:
    for key in keys:
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime.fromtimestamp(timegm(parsed), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _summary_html(entry: Any) -> str:
    detail = entry.get("summary_detail") or {}
    value = entry.get("summary") or ""
    if not value and entry.get("content"):
        detail = entry["content"][0]
        value = detail.get("value") or ""
    if detail.get("type") == "text/plain":
        return html.escape(value).replace("\n", "<br>")
    return str(value)


def _title(entry: Any) -> str:
    """The entry's title as one line of text; HTML titles have their markup read once."""
    value = str(entry.get("title") or "")
    kind = (entry.get("title_detail") or {}).get("type", "text/plain")
    return one_line(value) if "html" in str(kind) else plain_line(value)


def _base(entry: Any, fallback: str) -> str:
    """What the entry's relative links are relative to (feedparser's xml:base / location)."""
    for detail in [entry.get("summary_detail"), *(entry.get("content") or [])]:
        if detail and web_url(detail.get("base")):
            return str(detail["base"])
    return fallback


def _languages(entry: Any) -> list[Any]:
    """Candidate languages of an entry, most specific first (``xml:lang``, dc:language)."""
    details = [entry.get("title_detail"), entry.get("summary_detail")]
    details += list(entry.get("content") or [])
    found = [d.get("language") for d in details if d]
    return [*found, entry.get("language")]


def _image(entry: Any) -> str | None:
    for media in entry.get("media_thumbnail") or []:
        if url := web_url(media.get("url")):
            return url
    for link in entry.get("links") or []:
        is_image = str(link.get("type", "")).startswith("image/")
        if link.get("rel") == "enclosure" and is_image and (url := web_url(link.get("href"))):
            return url
    return None


def parse_feed(
    body: bytes, url: str, content_type: str, fallback_lang: str, location: str | None = None
) -> FetchResult:
    """Items of a feed document, or a result with the reason it is not one.

    ``location`` is the answer's Content-Location header, if any.
    """
    refuse_entities(body, url)
    base = web_url(urljoin(url, location)) if location else None
    base = base or url
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-type": content_type, "content-location": base},
        sanitize_html=False,
        resolve_relative_uris=True,  # against xml:base, else the Content-Location
    )
    entries = parsed.get("entries") or []
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not parsed.get("version") and not entries:
        what = f" ({one_line(str(problem))[:150]})" if problem else ""
        got = f" (got {content_type})" if content_type else ""
        return FetchResult(SourceStatus.ERROR, error=f"{url}: not an RSS or Atom feed{got}{what}")
    feed = parsed.get("feed") or {}
    feed_lang = lang_code(feed.get("language")) or fallback_lang
    items: list[RawItem] = []
    blank = 0
    for entry in entries[:MAX_ITEMS]:
        title = _title(entry)
        link = web_url(urljoin(base, str(entry.get("link") or "")) if entry.get("link") else None)
        summary = _summary_html(entry)
        if not title:
            title = summarise(one_line(summary), 80)
        if not title:
            blank += 1
            continue  # nothing to show
        published = _when(entry, "published_parsed", "updated_parsed", "created_parsed")
        external_id = str(entry.get("id") or "").strip() or link or content_hash(title, summary)
        lang = next(
            (code for code in map(lang_code, _languages(entry)) if code is not None), feed_lang
        )
        items.append(
            RawItem(
                external_id=external_id,
                title=title,
                url=link,
                summary_html=summary,
                language=lang,
                categories=[str(t.get("term")) for t in entry.get("tags") or [] if t.get("term")],
                published_at=published,
                image_url=_image(entry),
                base_url=_base(entry, base),
            )
        )
    warning = None
    if problem is not None:
        reason = one_line(str(problem))[:200] or problem.__class__.__name__
        warning = f"feed is not well-formed ({reason}); {len(items)} items read anyway"
    elif blank and not items:
        warning = (
            f"the feed's {blank} entries have neither a title nor a summary; "
            "nothing to show (check that the URL is the feed the site means)"
        )
    elif blank:
        warning = f"{blank} entries without a title or a summary skipped"
    elif not items:
        warning = "the feed has no items"
    return FetchResult(SourceStatus.OK, items=items, warning=warning)


class RssSource(Source):
    type_name = "rss"
    options_model = RssOptions
    options: RssOptions
    item_kind = "news"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options

        def parse(resp: Response) -> FetchResult:
            lang = options.language or ctx.language
            ctype = resp.headers.get("Content-Type", "")
            location = resp.headers.get("Content-Location")
            return parse_feed(resp.body, resp.url, ctype, lang, location)

        return fetch_and_parse(ctx, options.url, parse, accept=ACCEPT)
