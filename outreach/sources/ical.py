"""``ical``: iCalendar feeds (webinar and training calendars).

Recurring events (RRULE, RDATE, EXDATE) are expanded inside the horizon with
recurring-ical-events; times keep their TZID (DST right for Europe/Helsinki),
floating times are read in the city's timezone, all-day events stay all-day.
LOCATION and URL are kept; the online link comes from CONFERENCE (RFC 7986),
else from URL when the event has no physical place. STATUS:CANCELLED is dropped.
"""

from __future__ import annotations

import html
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

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
from outreach.sources.sanitize import one_line

ACCEPT = "text/calendar, application/ics;q=0.9, text/plain;q=0.5, */*;q=0.1"
MAX_ITEMS = 300
ONLINE_WORDS = (
    "online", "verkko", "verkossa", "etänä", "etäyhtey", "etätilaisuu", "webinaari",
    "webinar", "webbinar", "teams", "zoom", "distans", "internet", "på nätet",
)  # fmt: skip


class ICalOptions(SourceOptions):
    url: HttpURL
    language: str | None = None


def _as_datetime(value: Any, tz: tzinfo) -> tuple[datetime | None, bool]:
    """(aware datetime, all-day) of a DTSTART/DTEND value."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz), True
    return None, False


def _text(component: Any, name: str) -> str:
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return "" if value is None else str(value).strip()


def _categories(component: Any) -> list[str]:
    raw = component.get("CATEGORIES")
    found: list[str] = []
    for entry in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        cats = getattr(entry, "cats", None)
        found.extend(str(c).strip() for c in (cats if cats is not None else [entry]))
    return [c for c in found if c]


def _conference(component: Any) -> str | None:
    raw = component.get("CONFERENCE")
    for value in raw if isinstance(raw, list) else [raw] if raw is not None else []:
        if url := web_url(str(value)):
            return url
    return None


def _event(component: Any, tz: tzinfo, lang: str) -> RawItem | None:
    if _text(component, "STATUS").upper() == "CANCELLED":
        return None
    dtstart = component.get("DTSTART")
    starts, all_day = _as_datetime(getattr(dtstart, "dt", None), tz)
    if starts is None:
        return None
    dtend = component.get("DTEND")
    ends, _ = _as_datetime(getattr(dtend, "dt", None), tz)
    duration = getattr(component.get("DURATION"), "dt", None)
    if ends is None and isinstance(duration, timedelta):
        ends = starts + duration
    title = one_line(_text(component, "SUMMARY"))
    description = _text(component, "DESCRIPTION")
    location = one_line(_text(component, "LOCATION")) or None
    url = web_url(_text(component, "URL"))
    # online: a CONFERENCE link, else the URL of an event whose place or title says online
    hint = f"{location or ''} {title}".lower()
    looks_online = any(word in hint for word in ONLINE_WORDS)
    online = _conference(component) or (url if looks_online else None)
    physical = location is not None and not any(w in location.lower() for w in ONLINE_WORDS)
    uid = _text(component, "UID") or content_hash(title, starts.isoformat())
    return RawItem(
        external_id=f"{uid}@{starts.astimezone(UTC).isoformat()}",
        title=title or "(untitled event)",
        url=url,
        summary_html=html.escape(description).replace("\n", "<br>"),
        language=lang,
        categories=_categories(component),
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        location=location,
        online_url=online,
        is_online=online is not None and not physical,
    )


_PARSE_LOCK = threading.Lock()  # warnings.catch_warnings is process-wide state


def _expand(calendar: Any, start: datetime) -> Iterator[Any]:
    yield from recurring_ical_events.of(calendar, skip_bad_series=True).after(start)


def _plain(calendar: Any, start: datetime, tz: tzinfo) -> Iterator[Any]:
    """Events without expanding recurrences (for calendars the expander rejects)."""
    found = []
    for component in calendar.walk("VEVENT"):
        starts, _ = _as_datetime(getattr(component.get("DTSTART"), "dt", None), tz)
        if starts is not None and starts >= start:
            found.append((starts, component))
    found.sort(key=lambda pair: pair[0])
    yield from (component for _, component in found)


def _collect(events: Iterator[Any], end: datetime, tz: tzinfo, lang: str) -> list[RawItem]:
    items: list[RawItem] = []
    for component in events:
        item = _event(component, tz, lang)
        if item is None or item.starts_at is None:
            continue
        if item.starts_at > end or len(items) >= MAX_ITEMS:
            break
        items.append(item)
    return items


def parse_calendar(
    body: bytes, url: str, *, start: datetime, end: datetime, timezone: str, lang: str
) -> FetchResult:
    """Events of a calendar document between ``start`` and ``end``, or the reason why not."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if text.upper().startswith("BEGIN:VEVENT"):  # a bare event: read it as a calendar
        text = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{text.rstrip()}\r\nEND:VCALENDAR\r\n"
    if not text.upper().startswith("BEGIN:VCALENDAR"):
        return FetchResult(SourceStatus.ERROR, error=f"{url}: not an iCalendar file")
    tz = ZoneInfo(timezone)
    notes: list[str] = []
    items: list[RawItem] = []
    with _PARSE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            calendars = icalendar.Calendar.from_ical(text, multiple=True)
        except ValueError as exc:
            reason = " ".join(str(exc).split())[:160]
            return FetchResult(SourceStatus.ERROR, error=f"{url}: not valid iCalendar: {reason}")
        for calendar in calendars:
            cal_lang = lang_code(_text(calendar, "X-WR-LANGUAGE")) or lang
            try:
                found = _collect(_expand(calendar, start), end, tz, cal_lang)
            except Exception as exc:
                notes.append(f"recurrences not expanded ({exc.__class__.__name__}: {exc})")
                found = _collect(_plain(calendar, start, tz), end, tz, cal_lang)
            items.extend(found)
        notes.extend(f"{w.category.__name__}: {w.message}" for w in caught[:3])
    if not items:
        notes.append("no events inside the horizon")
    warning = "; ".join(" ".join(n.split())[:200] for n in notes) or None
    return FetchResult(SourceStatus.OK, items=items[:MAX_ITEMS], warning=warning)


class ICalSource(Source):
    type_name = "ical"
    options_model = ICalOptions
    item_kind = "event"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options
        assert isinstance(options, ICalOptions)

        def parse(resp: Response) -> FetchResult:
            return parse_calendar(
                resp.body,
                resp.url,
                start=ctx.now,
                end=ctx.now + timedelta(days=ctx.horizon_days),
                timezone=ctx.timezone,
                lang=options.language or ctx.language,
            )

        return fetch_and_parse(ctx, options.url, parse, accept=ACCEPT)
