"""A city's published stories: the list, each story's page and image, the company
directory, and the RSS, Atom and JSON feeds (the embeddable widget is in
:mod:`outreach.web.public.widget`). Answers are cached per data version and carry
ETags; nothing here sets a cookie."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from outreach.l10n import LANGUAGE_MSGIDS, format_date, gettext_for
from outreach.publish import (
    INDUSTRIES,
    THEMES,
    FeedInfo,
    PublicStory,
    atom,
    choices,
    companies,
    json_feed,
    label,
    published_stories,
    published_story,
    rss,
    stories_version,
    story_entries,
    story_image,
)
from outreach.web.common import PageError, page_lang, state
from outreach.web.public.site import cached, known_city, page_bytes, site
from outreach.web.security import security_headers

router = APIRouter()
#: The story feeds: their media type and how they are written.
FEEDS = {
    "rss": ("application/rss+xml", rss),
    "atom": ("application/atom+xml", atom),
    "json": ("application/feed+json", json_feed),
}


def _not_found() -> PageError:
    return PageError(404, "Page not found", "There is no such page.")


def stories_data_version(request: Request, city: str) -> str:
    with state(request).session() as session:
        return stories_version(session, city)


def _language_in(code: str, lang: str) -> str:
    """The language ``code`` named in ``lang`` ("Finnish", "finska", "suomi")."""
    return gettext_for(lang, "web", LANGUAGE_MSGIDS[code]) if code in LANGUAGE_MSGIDS else code


def card(story: PublicStory, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """What a story's card and page show; its date is the day in the city's time zone
    (a decision at 0.30 Helsinki time is of that day, not of the UTC day before)."""
    day = story.published_at.astimezone(tz).date()
    return {
        "story": story,
        "date": format_date(day, lang, weekday=False),
        "iso": day.isoformat(),
        "industry": label(INDUSTRIES, story.industry, lang),
        "theme": label(THEMES, story.theme, lang),
        "original": _language_in(story.original_language, lang),
    }


def city_zone(request: Request, city: str) -> ZoneInfo:
    """The time zone of a city of ``cities.yaml`` (:func:`known_city` has checked it)."""
    return state(request).config.cities[city].tz


def _page_headers() -> dict[str, str]:
    headers = security_headers(frameable=False)
    headers.pop("Cache-Control", None)
    return headers


@router.get("/{city}/stories", response_class=HTMLResponse)
def stories_page(request: Request, city: str) -> Response:
    known_city(request, city)
    lang = page_lang(request)
    industry = request.query_params.get("industry") or None
    theme = request.query_params.get("theme") or None
    industry = industry if industry in INDUSTRIES else None
    theme = theme if theme in THEMES else None
    version = stories_data_version(request, city)

    def make() -> bytes:
        with state(request).session() as session:
            found = published_stories(session, city, lang, industry=industry, theme=theme)
        ctx = {
            "site": site(request, city, lang),
            "cards": [card(s, lang, city_zone(request, city)) for s in found],
            "industries": choices(INDUSTRIES, lang),
            "themes": choices(THEMES, lang),
            "industry": industry or "",
            "theme": theme or "",
        }
        return page_bytes(request, "stories.html", ctx, lang)

    key = ("stories", city, lang, industry, theme, version)
    return cached(request, key, make, media_type="text/html", headers=_page_headers())


@router.get("/{city}/stories/{story_id}", response_class=HTMLResponse)
def story_page(request: Request, city: str, story_id: str) -> Response:
    known_city(request, city)
    if not story_id.isdigit() or len(story_id) > 12:
        raise _not_found()
    lang = page_lang(request)
    with state(request).session() as session:
        story = published_story(session, city, int(story_id), lang)
        version = stories_version(session, city)
    if story is None:
        raise _not_found()

    def make() -> bytes:
        ctx = {"site": site(request, city, lang), **card(story, lang, city_zone(request, city))}
        return page_bytes(request, "story_page.html", ctx, lang)

    key = ("story", city, lang, story.id, version)
    return cached(request, key, make, media_type="text/html", headers=_page_headers())


@router.get("/{city}/stories/{story_id}/image")
def story_image_file(request: Request, city: str, story_id: str) -> Response:
    known_city(request, city)
    if not story_id.isdigit() or len(story_id) > 12:
        raise _not_found()
    with state(request).session() as session:
        image = story_image(session, city, int(story_id))
        if image is None:
            raise _not_found()
        etag, data, media = f'"{image.sha256[:24]}"', image.data, image.content_type
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=86400",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=media, headers=headers)


@router.get("/{city}/companies", response_class=HTMLResponse)
def companies_page(request: Request, city: str) -> Response:
    known_city(request, city)
    lang = page_lang(request)
    version = stories_data_version(request, city)

    def make() -> bytes:
        with state(request).session() as session:
            found = companies(session, city, lang)
        tz = city_zone(request, city)
        listed = [{"company": c, "cards": [card(s, lang, tz) for s in c.stories]} for c in found]
        ctx = {"site": site(request, city, lang), "companies": listed}
        return page_bytes(request, "companies.html", ctx, lang)

    key = ("companies", city, lang, version)
    return cached(request, key, make, media_type="text/html", headers=_page_headers())


def _feed(request: Request, city: str, kind: str) -> Response:
    known_city(request, city)
    lang = page_lang(request)
    version = stories_data_version(request, city)
    st = state(request)
    base = st.settings.base_url_clean

    def make() -> bytes:
        with st.session() as session:
            found = published_stories(session, city, lang, limit=50)
        names = site(request, city, lang)
        info = FeedInfo(
            title=gettext_for(lang, "web", "Companies' climate actions: {city}").format(
                city=names["city_name"], city_gen=names["city_gen"]
            ),
            page_url=f"{base}/{city}/stories?lang={lang}",
            feed_url=f"{base}{request.url.path}?lang={lang}",
            lang=lang,
            author=names["city_name"],
        )
        return FEEDS[kind][1](info, story_entries(found, base, city, lang))

    media = FEEDS[kind][0]
    headers = {"X-Content-Type-Options": "nosniff", "Access-Control-Allow-Origin": "*"}
    return cached(request, (kind, city, lang, version), make, media_type=media, headers=headers)


@router.get("/{city}/stories.rss")
def stories_rss(request: Request, city: str) -> Response:
    return _feed(request, city, "rss")


@router.get("/{city}/stories.atom")
def stories_atom(request: Request, city: str) -> Response:
    return _feed(request, city, "atom")


@router.get("/{city}/stories.json")
def stories_json(request: Request, city: str) -> Response:
    return _feed(request, city, "json")
