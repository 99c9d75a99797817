"""``linkedevents``: the Linked Events REST API of the Helsinki region.

Follows ``meta.next`` up to a page cap; passes the API's filters (``keyword``,
``publisher``, ``start``/``end``, ``internet_based`` …) from ``params`` and
fills ``start``/``end`` from the horizon when not given. Names and
descriptions, places, prices and links are kept in fi/sv/en as translations;
the item's own text is the campaign's first language with fallback. A place
given only as ``location_extra_info`` is shown. Online events
(``helsinki:internet``), ``event_status`` (cancelled / postponed) and offers
(free or a price) are kept. A date without a time is a whole day: a date-only
``end_time`` is the event's last day (inclusive). A sub-event of a
"recurring" super event is one date of that event: the super event's id is
its series (``RawItem.series``); the super event itself is not listed. An
event the parser cannot read is skipped with a warning; the others are kept.

A complete answer (every page read, every event read) is the current view of
the query's window: an event missing from it was removed at the source.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

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
from outreach.sources.sanitize import plain_line

log = logging.getLogger(__name__)

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


def _time(value: Any, tz: ZoneInfo) -> tuple[datetime | None, bool]:
    """(aware datetime, date only) of an API time; a date is its start in ``tz``."""
    if not isinstance(value, str) or not value:
        return None, False
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, False
    if len(value) <= 10:
        return datetime.combine(parsed.date(), time(), tzinfo=tz), True
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)), False


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
    prices = [plain_line(pick(o.get("price"), order)[0]) for o in offers if isinstance(o, dict)]
    return ", ".join(p for p in prices if p) or None


def _location(place: Any, extra: Any, order: list[str]) -> str | None:
    """The place's name and street, and ``location_extra_info`` (a room, or the only place)."""
    parts = []
    if isinstance(place, dict):
        parts += [pick(place.get("name"), order)[0], pick(place.get("street_address"), order)[0]]
    parts.append(pick(extra, order)[0])
    return ", ".join(p for p in map(plain_line, parts) if p) or None


def _translations(event: dict[str, Any], online: bool) -> dict[str, dict[str, str]]:
    """Per language with a name: name, description, and the place, price and link in it."""
    found: dict[str, dict[str, str]] = {}
    for code in LANGS:
        name = (event.get("name") or {}).get(code)
        if not isinstance(name, str) or not name.strip():
            continue
        desc = (event.get("description") or {}).get(code) or (
            event.get("short_description") or {}
        ).get(code)
        variant = {"title": plain_line(name), "summary_html": str(desc or "")}
        if not online:
            place = _own(event.get("location"), code)
            extra = _own(event.get("location_extra_info"), code)
            if where := _location(place, extra, [code]):
                variant["location"] = where
        offers = [o for o in event.get("offers") or [] if isinstance(o, dict)]
        if offers and not any(o.get("is_free") for o in offers):
            price = _price([{"price": _own(o.get("price"), code)} for o in offers], [code])
            if price:
                variant["price"] = price
        if link := web_url(_own(event.get("info_url"), code)):
            variant["url"] = link
        found[code] = variant
    return found


def _own(texts: Any, code: str) -> Any:
    """Only the ``code`` text of a ``{lang: text}`` object (a place: its texts in ``code``)."""
    if isinstance(texts, dict) and ("name" in texts or "street_address" in texts):
        return {k: _own(texts.get(k), code) for k in ("name", "street_address")}
    if isinstance(texts, dict):
        value = texts.get(code)
        return value if isinstance(value, str) else None
    return None


def event_item(event: dict[str, Any], order: list[str], tz: ZoneInfo) -> RawItem | None:
    """One API event as a :class:`RawItem`; None for deleted or umbrella events."""
    if event.get("deleted") or event.get("super_event_type") == "recurring":
        return None
    title, lang = pick(event.get("name"), order)
    starts, all_day = _time(event.get("start_time"), tz)
    status = STATUS.get(str(event.get("event_status")))
    if not event.get("id") or not title or (starts is None and status != "postponed"):
        return None  # a postponed event may have no new time yet
    ends, end_is_date = _time(event.get("end_time"), tz)
    if ends is not None and end_is_date:
        ends += timedelta(days=1)  # the last day, inclusive: the end is the next day's start
    if ends is not None and starts is not None and ends <= starts:
        ends = None
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
        title=plain_line(title),
        url=link,
        summary_html=str(description),
        language=lang,
        translations=_translations(event, online),
        categories=[k for k in (_ref_id(ref) for ref in event.get("keywords") or []) if k],
        published_at=_time(event.get("date_published"), tz)[0],
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        ends_date_only=ends is not None and end_is_date and not all_day,
        location=None if online else _location(place, event.get("location_extra_info"), order),
        online_url=link if online else None,
        is_online=online,
        price=_price(event.get("offers"), order),
        event_status=status,
        image_url=image,
        # the super event it belongs to; kept by the fetch only for a "recurring" one
        series=_ref_id(event.get("super_event")) or None,
    )


@dataclass
class Page:
    """One list page: its items, the next page's URL, and the events it could not read."""

    items: list[RawItem]
    next_url: str | None
    skipped: list[str] = field(default_factory=list)
    #: Ids of the page's super events of type "recurring" (their sub-events are
    #: the dates of one event); an umbrella's sub-events are events of their own.
    recurring: set[str] = field(default_factory=set)


def keep_series(items: list[RawItem], recurring: set[str]) -> None:
    """An item's ``series`` stays only when its super event is a known recurring one."""
    for item in items:
        if item.series not in recurring:
            item.series = None


def parse_page(
    body: bytes, url: str, order: list[str], tz: str | ZoneInfo = "Europe/Helsinki"
) -> Page:
    """Items of one list page (or a single event) and the next page's URL.

    An event that cannot be read is skipped and named in ``Page.skipped``.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
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
    page = Page([], web_url(meta.get("next")) if isinstance(meta, dict) else None)
    for event in events:
        ident = str(event.get("id"))[:80] if isinstance(event, dict) else "?"
        try:
            if not isinstance(event, dict):
                raise TypeError(f"an event is a {type(event).__name__}, not an object")
            if event.get("super_event_type") == "recurring" and event.get("id"):
                page.recurring.add(str(event["id"]))
            if item := event_item(event, order, zone):
                page.items.append(item)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError) as exc:
            log.warning("%s: event %s skipped: %s", url, ident, exc)
            page.skipped.append(f"{ident} ({exc.__class__.__name__}: {str(exc)[:80]})")
    return page


class LinkedEventsSource(Source):
    type_name = "linkedevents"
    options_model = LinkedEventsOptions
    options: LinkedEventsOptions
    item_kind = "event"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options
        params = dict(options.params)
        params.setdefault("start", ctx.now.date().isoformat())
        params.setdefault("end", (ctx.now + timedelta(days=ctx.horizon_days)).date().isoformat())
        params.setdefault("include", "location")
        order = list(dict.fromkeys(ctx.languages or [ctx.language]))
        host = urlsplit(options.url).hostname
        tz = ZoneInfo(ctx.timezone)
        window = (ctx.now, ctx.now + timedelta(days=ctx.horizon_days))

        def parse(resp: Response) -> FetchResult:
            page = parse_page(resp.body, resp.url, order, tz)
            items, skipped, next_url = page.items, page.skipped, page.next_url
            recurring = set(page.recurring)
            pages = 1
            notes = []
            while next_url and pages < options.max_pages:
                if urlsplit(next_url).hostname != host:
                    notes.append(f"meta.next points to another host ({next_url}); not followed")
                    break
                answer = ctx.fetcher.get(next_url, accept="application/json")
                page = parse_page(answer.body, answer.url, order, tz)
                items.extend(page.items)
                skipped.extend(page.skipped)
                recurring |= page.recurring
                next_url = page.next_url
                pages += 1
            keep_series(items, recurring)
            if next_url and not notes:
                notes.append(f"stopped after {pages} pages (max_pages); more events exist")
            if skipped:
                notes.append(
                    f"{len(skipped)} malformed events skipped: {', '.join(skipped[:3])}"
                    + (" …" if len(skipped) > 3 else "")
                )
            return FetchResult(
                SourceStatus.OK,
                items=items,
                warning="; ".join(notes) or None,
                current=not next_url and not skipped,
                window=window,
            )

        return fetch_and_parse(ctx, options.url, parse, params=params, accept="application/json")
