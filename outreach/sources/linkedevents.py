"""``linkedevents``: the Linked Events REST API of the Helsinki region.

Follows ``meta.next`` up to a page cap; passes the API's filters (``keyword``,
``publisher``, ``start``/``end``, ``internet_based`` …) from ``params`` and
fills ``start``/``end`` from the horizon when not given. Names and
descriptions are kept in fi/sv/en as translations; the item's own text is the
campaign's first language with fallback. Online events (``helsinki:internet``),
``event_status`` (cancelled / postponed) and offers (free or a price) are kept.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from outreach.errors import SourceError
from outreach.models import SourceStatus
from outreach.sources.base import (
    FetchContext,
    FetchResult,
    HttpURL,
    RawItem,
    Source,
    SourceOptions,
    web_url,
)
from outreach.sources.fetch import Response, fetch_and_parse
from outreach.sources.sanitize import one_line

DEFAULT_URL = "https://api.hel.fi/linkedevents/v1/event/"
LANGS = ("fi", "sv", "en")
ONLINE_PLACE = "helsinki:internet"
STATUS = {"EventCancelled": "cancelled", "EventPostponed": "postponed"}


class LinkedEventsOptions(SourceOptions):
    url: HttpURL = DEFAULT_URL
    params: dict[str, str] = Field(default_factory=dict)
    max_pages: int = Field(default=5, ge=1, le=50)


def pick(texts: Any, order: list[str]) -> tuple[str, str | None]:
    """(text, language) from a ``{lang: text}`` object, in ``order`` then fi/sv/en/any."""
    if isinstance(texts, str):
        return texts, None
    if not isinstance(texts, dict):
        return "", None
    for lang in [*order, *LANGS, *texts]:
        value = texts.get(lang)
        if isinstance(value, str) and value.strip():
            return value, lang
    return "", None


def _time(value: Any) -> tuple[datetime | None, bool]:
    if not isinstance(value, str) or not value:
        return None, False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, False
    return parsed, len(value) <= 10


def _ref_id(ref: Any) -> str:
    if not isinstance(ref, dict):
        return ""
    if ref.get("id"):
        return str(ref["id"])
    return str(ref.get("@id", "")).rstrip("/").rsplit("/", 1)[-1]


def _price(offers: Any, order: list[str]) -> str | None:
    if not isinstance(offers, list) or not offers:
        return None
    if any(isinstance(o, dict) and o.get("is_free") for o in offers):
        return ""
    prices = [one_line(pick(o.get("price"), order)[0]) for o in offers if isinstance(o, dict)]
    return ", ".join(p for p in prices if p) or None


def _location(place: Any, order: list[str]) -> str | None:
    if not isinstance(place, dict):
        return None
    name = one_line(pick(place.get("name"), order)[0])
    street = one_line(pick(place.get("street_address"), order)[0])
    return ", ".join(p for p in (name, street) if p) or None


def event_item(event: dict[str, Any], order: list[str]) -> RawItem | None:
    """One API event as a :class:`RawItem`; None for deleted or umbrella events."""
    if event.get("deleted") or event.get("super_event_type") == "recurring":
        return None
    title, lang = pick(event.get("name"), order)
    starts, all_day = _time(event.get("start_time"))
    status = STATUS.get(str(event.get("event_status")))
    if not event.get("id") or not title or (starts is None and status != "postponed"):
        return None  # a postponed event may have no new time yet
    ends, _ = _time(event.get("end_time"))
    translations: dict[str, dict[str, str]] = {}
    for code in LANGS:
        name = (event.get("name") or {}).get(code)
        if isinstance(name, str) and name.strip():
            desc = (event.get("description") or {}).get(code) or (
                event.get("short_description") or {}
            ).get(code)
            translations[code] = {"title": one_line(name), "summary_html": str(desc or "")}
    description = (
        pick(event.get("description"), order)[0] or pick(event.get("short_description"), order)[0]
    )
    place = event.get("location")
    online = _ref_id(place) == ONLINE_PLACE
    images = event.get("images") or []
    image = web_url(images[0].get("url")) if images and isinstance(images[0], dict) else None
    link = web_url(pick(event.get("info_url"), order)[0])
    return RawItem(
        external_id=str(event["id"]),
        title=one_line(title),
        url=link,
        summary_html=str(description),
        language=lang,
        translations=translations,
        categories=[k for k in (_ref_id(ref) for ref in event.get("keywords") or []) if k],
        published_at=_time(event.get("date_published"))[0],
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        location=None if online else _location(place, order),
        online_url=link if online else None,
        is_online=online,
        price=_price(event.get("offers"), order),
        event_status=status,
        image_url=image,
    )


def parse_page(body: bytes, url: str, order: list[str]) -> tuple[list[RawItem], str | None]:
    """Items of one list page (or a single event) and the next page's URL."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{url}: not a Linked Events JSON answer ({exc})") from exc
    if isinstance(data, dict) and "data" in data and isinstance(data["data"], list):
        events, meta = data["data"], data.get("meta") or {}
    elif isinstance(data, dict) and "id" in data:
        events, meta = [data], {}
    else:
        raise SourceError(f"{url}: not a Linked Events JSON answer (no data list)")
    items = [i for e in events if isinstance(e, dict) and (i := event_item(e, order))]
    next_url = web_url(meta.get("next")) if isinstance(meta, dict) else None
    return items, next_url


class LinkedEventsSource(Source):
    type_name = "linkedevents"
    options_model = LinkedEventsOptions
    item_kind = "event"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options
        assert isinstance(options, LinkedEventsOptions)
        params = dict(options.params)
        params.setdefault("start", ctx.now.date().isoformat())
        params.setdefault("end", (ctx.now + timedelta(days=ctx.horizon_days)).date().isoformat())
        params.setdefault("include", "location")
        order = list(dict.fromkeys(ctx.languages or [ctx.language]))
        host = urlsplit(options.url).hostname

        def parse(resp: Response) -> FetchResult:
            items, next_url = parse_page(resp.body, resp.url, order)
            pages = 1
            warning = None
            while next_url and pages < options.max_pages:
                if urlsplit(next_url).hostname != host:
                    warning = f"meta.next points to another host ({next_url}); not followed"
                    break
                page = ctx.fetcher.get(next_url, accept="application/json")
                more, next_url = parse_page(page.body, page.url, order)
                items.extend(more)
                pages += 1
            if next_url and warning is None:
                warning = f"stopped after {pages} pages (max_pages); more events exist"
            return FetchResult(SourceStatus.OK, items=items, warning=warning)

        return fetch_and_parse(ctx, options.url, parse, params=params, accept="application/json")
