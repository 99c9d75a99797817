"""``ical``: iCalendar feeds (webinar and training calendars).

Recurring events (RRULE, RDATE, EXDATE) are expanded inside the horizon with
recurring-ical-events; times keep their TZID (DST right for Europe/Helsinki),
floating times are read in the city's timezone, all-day events stay all-day.
LOCATION and URL are kept; the online link comes from CONFERENCE (RFC 7986),
else from URL when the event has no physical place. A DESCRIPTION carrying
HTML (Teams and Zoom exports; or X-ALT-DESC in text/html) is read as HTML,
any other as text. An event is known across fetches by its UID, an occurrence
of a recurring one by UID and RECURRENCE-ID, so a moved event is updated, not
listed twice; an occurrence names its series (``RawItem.series``: the UID), so
a draft's edits of a recurring event hold for the series. STATUS:CANCELLED
comes through as a cancelled item.

An end from DURATION is computed here as RFC 5545 means it (days nominal,
hours exact: :mod:`outreach.sources.ical_duration`), not by the expander.

An event that cannot be read (a DTSTART that is no date, a broken RRULE) is
left out and named in the fetch line's warning; the calendar's other events
are read, and since the answer is then not the calendar's whole view, it
retires nothing.

The answer is the calendar's whole current view inside the window (from now
to the horizon): the ingest step retires what is missing from it. The
document is kept, so a 304 with a moved clock is expanded again.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
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
from outreach.sources.fetch import fetch_and_parse, parse_safely
from outreach.sources.ical_duration import Calendar, Span
from outreach.sources.sanitize import looks_like_html, plain_line, text_to_html

ACCEPT = "text/calendar, application/ics;q=0.9, text/plain;q=0.5, */*;q=0.1"
MAX_ITEMS = 300
ONLINE_WORDS = (
    "online", "verkko", "verkossa", "etänä", "etäyhtey", "etätilaisuu", "webinaari",
    "webinar", "webbinar", "teams", "zoom", "distans", "internet", "på nätet",
)  # fmt: skip


#: Properties an event cannot be read without; one broken leaves the event out.
TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE", "RDATE", "EXDATE")


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


def _description(component: Any) -> str:
    """DESCRIPTION as HTML: X-ALT-DESC (text/html) first, HTML kept as HTML, text escaped."""
    alt = component.get("X-ALT-DESC")
    for value in alt if isinstance(alt, list) else [alt] if alt is not None else []:
        params = getattr(value, "params", {}) or {}
        if str(params.get("FMTTYPE", "")).lower() == "text/html" and str(value).strip():
            return str(value)
    description = _text(component, "DESCRIPTION")
    return description if looks_like_html(description) else text_to_html(description)


def _recurrence(component: Any) -> str | None:
    """The RECURRENCE-ID as text (UTC for a time), or None."""
    rid = getattr(component.get("RECURRENCE-ID"), "dt", None)
    if isinstance(rid, datetime):
        return (rid if rid.tzinfo else rid.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(rid, date):
        return rid.isoformat()
    return None


def _identity(component: Any, recurring: set[str], starts: datetime, title: str) -> str:
    """UID, plus RECURRENCE-ID for an occurrence of a recurring event."""
    uid = _text(component, "UID")
    if not uid:
        return content_hash(title, starts.isoformat())
    if uid not in recurring:
        return uid
    return f"{uid}@{_recurrence(component) or starts.astimezone(UTC).isoformat()}"


@dataclass(frozen=True)
class _Scan:
    """What the expander's occurrences no longer say about the calendar's events."""

    recurring: set[str]  # UIDs with RRULE, RDATE or an overridden occurrence
    day_starts: set[str]  # UIDs whose DTSTART is a DATE (the expander makes it a time)
    # the DURATION of each event by UID (an overridden occurrence: UID@RECURRENCE-ID);
    # None for one that gives DTEND (the expander turns DURATION into DTEND)
    spans: dict[str, Span | None] = field(default_factory=dict)

    def span(self, component: Any, ident: str) -> Span | None:
        """The DURATION of the event ``component`` is an occurrence of, if it gave one."""
        if ident in self.spans:
            return self.spans[ident]
        return self.spans.get(_text(component, "UID"))


def _scan(calendar: Any) -> _Scan:
    recurring, day_starts = set(), set()
    spans: dict[str, Span | None] = {}
    for component in calendar.walk("VEVENT"):
        uid = _text(component, "UID")
        if any(component.get(name) is not None for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
            recurring.add(uid)
        value = getattr(component.get("DTSTART"), "dt", None)
        if isinstance(value, date) and not isinstance(value, datetime):
            day_starts.add(uid)
        duration = getattr(component.get("DURATION"), "dt", None)
        rid = _recurrence(component)
        key = f"{uid}@{rid}" if rid else uid
        has_end = component.get("DTEND") is not None
        spans[key] = duration if isinstance(duration, Span) and not has_end else None
    return _Scan(recurring, day_starts, spans)


def _broken(component: Any) -> str | None:
    """Why the event cannot be read (a time property icalendar could not parse), or None."""
    for name in TIME_PROPERTIES:
        raw = component.get(name)
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, icalendar.vBroken):
                reason = " ".join(str(value.parse_error or "").split())[:80]
                return f"{name}: {reason}" if reason else name
    return None


def _name(component: Any) -> str:
    """An event as a person finds it in the calendar: its UID, else its title."""
    return (_text(component, "UID") or plain_line(_text(component, "SUMMARY")) or "?")[:80]


def _drop_broken(calendar: Any) -> list[str]:
    """Take the events that cannot be read out of ``calendar``; each named, with why."""
    skipped: list[str] = []
    kept = []
    for component in calendar.subcomponents:
        why = _broken(component) if component.name == "VEVENT" else None
        if why is None:
            kept.append(component)
        else:
            skipped.append(f"{_name(component)} ({why})")
    if skipped:
        calendar.subcomponents = kept
    return skipped


def _event(component: Any, tz: tzinfo, lang: str, scan: _Scan) -> RawItem | None:
    recurring = scan.recurring
    dtstart = component.get("DTSTART")
    starts, all_day = _as_datetime(getattr(dtstart, "dt", None), tz)
    if starts is None:
        return None
    if not all_day and _text(component, "UID") in scan.day_starts:
        # a DATE start with a DATE-TIME end: the expander gave the start a time;
        # it is a day, in the city's timezone
        day = starts.date()
        starts, all_day = datetime(day.year, day.month, day.day, tzinfo=tz), True
    title = plain_line(_text(component, "SUMMARY"))
    uid = _text(component, "UID")
    ident = _identity(component, recurring, starts, title)
    span = scan.span(component, ident)
    ends: datetime | None
    if span is not None:  # the expander's DTEND added it on the wall clock
        ends, end_is_date = span.end(starts), all_day and not span.exact
    else:
        ends, end_is_date = _as_datetime(getattr(component.get("DTEND"), "dt", None), tz)
        duration = getattr(component.get("DURATION"), "dt", None)
        if ends is None and isinstance(duration, timedelta):
            ends = starts + duration
    if all_day and ends is not None and not end_is_date:
        # a day with an end time (not valid iCalendar, but exported): the event
        # lasts to the end of that day; no time is made up for it
        last = ends.astimezone(tz).date()
        ends = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1)
    if ends is not None and ends <= starts and not all_day:
        ends = None  # no end, or one before the start: show the start only
    # a DATE end after a timed start: the day before it is the last (DTEND is
    # exclusive); the end has no time to show
    ends_date_only = end_is_date and not all_day and ends is not None
    location = plain_line(_text(component, "LOCATION")) or None
    url = web_url(_text(component, "URL"))
    # online: a CONFERENCE link, else the URL of an event whose place or title says online
    hint = f"{location or ''} {title}".lower()
    looks_online = any(word in hint for word in ONLINE_WORDS)
    online = _conference(component) or (url if looks_online else None)
    physical = location is not None and not any(w in location.lower() for w in ONLINE_WORDS)
    cancelled = _text(component, "STATUS").upper() == "CANCELLED"
    return RawItem(
        external_id=ident,
        title=title or "(untitled event)",
        url=url,
        summary_html=_description(component),
        language=lang,
        categories=_categories(component),
        starts_at=starts,
        ends_at=ends,
        all_day=all_day,
        location=location,
        online_url=online,
        is_online=online is not None and not physical,
        event_status="cancelled" if cancelled else None,
        ends_date_only=ends_date_only,
        series=uid if uid and uid in recurring else None,  # an occurrence of a series
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


@dataclass
class _Found:
    items: list[RawItem] = field(default_factory=list)
    capped: bool = False  # the cap cut some off
    skipped: list[str] = field(default_factory=list)  # events that cannot be read, named


def _collect(
    events: Iterator[Any], end: datetime, tz: tzinfo, lang: str, scan: _Scan, cap: int
) -> _Found:
    """Events up to ``end``, at most ``cap``; one that cannot be read is skipped, named."""
    found = _Found()
    for component in events:
        try:
            item = _event(component, tz, lang, scan)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            reason = " ".join(f"{exc.__class__.__name__}: {exc}".split())[:80]
            found.skipped.append(f"{_name(component)} ({reason})")
            continue
        if item is None or item.starts_at is None:
            continue
        if item.starts_at > end:
            break
        if len(found.items) >= cap:
            found.capped = True
            break
        found.items.append(item)
    return found


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
    skipped: list[str] = []
    capped = False
    with _PARSE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            calendars = Calendar.from_ical(text, multiple=True)
        except ValueError as exc:
            reason = " ".join(str(exc).split())[:160]
            return FetchResult(SourceStatus.ERROR, error=f"{url}: not valid iCalendar: {reason}")
        for calendar in calendars:
            cal_lang = lang_code(_text(calendar, "X-WR-LANGUAGE")) or lang
            skipped += _drop_broken(calendar)
            scan = _scan(calendar)
            room = MAX_ITEMS - len(items)
            try:
                found = _collect(_expand(calendar, start), end, tz, cal_lang, scan, room)
            except Exception as exc:
                notes.append(f"recurrences not expanded ({exc.__class__.__name__}: {exc})")
                found = _collect(_plain(calendar, start, tz), end, tz, cal_lang, scan, room)
            items.extend(found.items)
            skipped += found.skipped
            capped = capped or found.capped
        notes.extend(f"{w.category.__name__}: {w.message}" for w in caught[:3])
    if skipped:
        shown = "; ".join(skipped[:3]) + (" …" if len(skipped) > 3 else "")
        notes.insert(0, f"events that cannot be read, left out ({len(skipped)}): {shown}")
    window_end = end
    if capped:
        last = max((i.starts_at for i in items if i.starts_at), default=start)
        window_end = min(end, last)
        notes.insert(
            0,
            f"only the first {MAX_ITEMS} occurrences are read (the cap per calendar); "
            f"events after {last.astimezone(tz):%Y-%m-%d} are left out",
        )
    if not items:
        notes.append("no events inside the horizon")
    warning = "; ".join(" ".join(n.split())[:300] for n in notes) or None
    return FetchResult(
        SourceStatus.OK,
        items=items,
        warning=warning,
        current=not skipped,  # a left-out event is not cancelled: nothing is retired
        window=(start, window_end),
    )


class ICalSource(Source):
    type_name = "ical"
    options_model = ICalOptions
    options: ICalOptions
    item_kind = "event"

    def fetch(self, ctx: FetchContext) -> FetchResult:
        options = self.options

        def read(body: bytes, url: str) -> FetchResult:
            result = parse_calendar(
                body,
                url,
                start=ctx.now,
                end=ctx.now + timedelta(days=ctx.horizon_days),
                timezone=ctx.timezone,
                lang=options.language or ctx.language,
            )
            result.cache = body if result.status == SourceStatus.OK else None
            return result

        result = fetch_and_parse(ctx, options.url, lambda r: read(r.body, r.url), accept=ACCEPT)
        if result.status != SourceStatus.NOT_MODIFIED:
            return result
        if ctx.cached_body is None:  # nothing kept to expand again: ask for the whole file
            return fetch_and_parse(
                replace(ctx, etag=None, last_modified=None),
                options.url,
                lambda r: read(r.body, r.url),
                accept=ACCEPT,
            )
        # unchanged, but the clock moved: the same calendar, expanded for today's window
        cached = ctx.cached_body
        again = parse_safely(options.url, lambda: read(cached, options.url))
        if again.status != SourceStatus.OK:
            return result
        again.status = SourceStatus.NOT_MODIFIED
        again.etag, again.last_modified, again.cache = result.etag, result.last_modified, None
        return again
