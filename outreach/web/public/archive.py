"""The public archive of a city's sent issues."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from outreach.errors import OutreachError
from outreach.l10n import format_date, period_label
from outreach.publish import archive_entries, web_version
from outreach.subscriptions import city_texts
from outreach.web.common import PageError, page_lang, render, state
from outreach.web.security import security_headers

router = APIRouter()


def not_found() -> PageError:
    return PageError(404, "Page not found", "There is no such page.")


@router.get("/{city}/archive", response_class=HTMLResponse)
def archive_list(request: Request, city: str) -> Response:
    st = state(request)
    if city not in st.config.cities:
        raise not_found()
    lang = page_lang(request)
    with st.session() as session:
        entries = archive_entries(session, st.config, city, lang)
    issues = [
        {
            "id": e.id,
            "title": e.title,
            "period": period_label(e.period, lang),
            "sent": format_date(e.sent_at.date(), lang) if e.sent_at else "",
        }
        for e in entries
    ]
    ctx = {"city": city, **city_texts(st.config, city, lang), "issues": issues}
    return render(request, "archive.html", ctx, lang=lang)


@router.get("/{city}/archive/{issue_id}", response_class=HTMLResponse)
def archive_issue(request: Request, city: str, issue_id: str) -> Response:
    st = state(request)
    if city not in st.config.cities or not issue_id.isdigit() or len(issue_id) > 12:
        raise not_found()
    lang = page_lang(request)
    with st.session() as session:
        try:
            html = web_version(session, st.settings, st.config, city, int(issue_id), lang)
        except OutreachError as exc:
            raise PageError(503, "The archive is not available", "Try again later.") from exc
    if html is None:
        raise not_found()
    headers = security_headers(frameable=False, inline_styles=True)
    headers["Cache-Control"] = "public, max-age=300"
    headers["Vary"] = "Accept-Language"  # without ?lang= the language is negotiated
    return HTMLResponse(html, headers=headers)
