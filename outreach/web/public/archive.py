"""The public archive of a city's sent issues.

Its pages are read from the database (the issues' snapshots), so they answer
while ``cities.yaml`` or a campaign file is broken: an issue's web version is
the "open in browser" link of every e-mail it went out in, and a 404 would tell
readers and feed readers the issue is gone. The city's name and logo then come
from :func:`outreach.publish.stored_city`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from outreach.errors import OutreachError
from outreach.l10n import format_date, gettext_for, period_label
from outreach.publish import (
    FeedEntry,
    FeedInfo,
    archive_entries,
    atom,
    rss,
    stored_city,
    web_version,
)
from outreach.web.common import RETRY_AFTER_SECONDS, PageError, page_lang, render, state
from outreach.web.public.site import cached, site
from outreach.web.security import security_headers

router = APIRouter()


def not_found() -> PageError:
    return PageError(404, "Page not found", "There is no such page.")


def _site(request: Request, session: Session, city: str, lang: str) -> dict[str, Any]:
    """The city's look and name for the archive's pages: from ``cities.yaml``, else
    (while it cannot be read) from the database; 404 for a slug that names no city."""
    config = state(request).config
    if city in config.cities:
        return site(request, city, lang)
    stored = None if config.city_ok(city) else stored_city(session, city, lang)
    if stored is None:
        raise not_found()
    return stored


@router.get("/{city}/archive", response_class=HTMLResponse)
def archive_list(request: Request, city: str) -> Response:
    st = state(request)
    lang = page_lang(request)
    raw_year = request.query_params.get("year", "")
    year = int(raw_year) if raw_year.isdigit() and len(raw_year) == 4 else None
    query = request.query_params.get("q", "")[:200].strip()
    with st.session() as session:
        look = _site(request, session, city, lang)
        entries = archive_entries(session, st.config, city, lang, year=year, query=query)
        every = archive_entries(session, st.config, city, lang) if year or query else entries
    years = sorted({e.sent_on.year for e in every if e.sent_on}, reverse=True)
    issues = [
        {
            "id": e.id,
            "title": e.title,
            "period": period_label(e.period, e.lang),
            "sent": format_date(e.sent_on, lang) if e.sent_on else "",
            "year": e.sent_on.year if e.sent_on else None,
            "lang": e.lang,
        }
        for e in entries
    ]
    ctx = {
        "city": city,
        "city_name": look["city_name"],
        "city_gen": look["city_gen"],
        "issues": issues,
        "years": years,
        "year": year,
        "q": query,
        "site": look,
    }
    return render(request, "archive.html", ctx, lang=lang)


@router.get("/{city}/archive/{issue_id}", response_class=HTMLResponse)
def archive_issue(request: Request, city: str, issue_id: str) -> Response:
    """A sent issue's web version, from its snapshot alone (whatever the files say)."""
    st = state(request)
    if not issue_id.isdigit() or len(issue_id) > 12:
        raise not_found()
    lang = page_lang(request)
    with st.session() as session:
        try:
            html = web_version(session, st.settings, st.config, city, int(issue_id), lang)
        except OutreachError as exc:
            raise PageError(
                503,
                "The archive is not available",
                "Try again later.",
                retry_after=RETRY_AFTER_SECONDS,
            ) from exc
    if html is None:
        raise not_found()
    headers = security_headers(frameable=False, inline_styles=True)
    headers["Cache-Control"] = "public, max-age=300"
    headers["Vary"] = "Accept-Language"  # without ?lang= the language is negotiated
    return HTMLResponse(html, headers=headers)


@router.get("/{city}/archive.atom")
def archive_atom(request: Request, city: str) -> Response:
    """An Atom feed of the city's sent issues, each linking to its web version."""
    return _archive_feed(request, city, "atom")


@router.get("/{city}/archive.rss")
def archive_rss(request: Request, city: str) -> Response:
    """An RSS 2.0 feed of the city's sent issues, each linking to its web version."""
    return _archive_feed(request, city, "rss")


def _archive_feed(request: Request, city: str, kind: str) -> Response:
    st = state(request)
    lang = page_lang(request)
    base = st.settings.base_url_clean
    with st.session() as session:
        names = _site(request, session, city, lang)
        entries = archive_entries(session, st.config, city, lang)

    def make() -> bytes:
        info = FeedInfo(
            # the translations put the city's genitive in the title ("Keravan …")
            title=gettext_for(lang, "web", "Newsletter archive: {city}").format(
                city=names["city_name"], city_gen=names["city_gen"]
            ),
            page_url=f"{base}/{city}/archive?lang={lang}",
            feed_url=f"{base}/{city}/archive.{kind}?lang={lang}",
            lang=lang,
            author=names["city_name"],
        )
        items = [
            FeedEntry(
                id=f"{base}/{city}/archive/{e.id}",
                title=f"{e.title}: {period_label(e.period, e.lang)}",
                url=f"{base}/{city}/archive/{e.id}?lang={e.lang}",
                updated=e.sent_at or datetime(2020, 1, 1, tzinfo=UTC),
                summary=f"{e.title}: {period_label(e.period, e.lang)}",
                language=e.lang,
            )
            for e in entries
        ]
        return rss(info, items) if kind == "rss" else atom(info, items)

    # everything the feed says: a title read from a snapshot while the campaign's file
    # was broken, or the city's name from its row, gives way once the files are read
    key = (
        "archive", kind, city, lang, base, names["city_name"], names["city_gen"],
        tuple((e.id, e.sent_at, e.title, e.period, e.lang) for e in entries),
    )  # fmt: skip
    headers = {"X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    media = "application/rss+xml" if kind == "rss" else "application/atom+xml"
    return cached(request, key, make, media_type=media, headers=headers)
