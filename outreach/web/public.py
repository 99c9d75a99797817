"""The public archive of sent issues and the success-story submission form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from outreach.errors import OutreachError, SubscriptionError
from outreach.issues.editions import send_as
from outreach.l10n import format_date, period_label
from outreach.models import Campaign, City, Issue, IssueStatus, Story, StoryStatus
from outreach.render import render_web_version
from outreach.subscriptions import city_name, city_row, city_texts, clean_text
from outreach.validation import normalise_email
from outreach.web.common import PageError, check_csrf, page_lang, rate_limit, render, state
from outreach.web.security import security_headers

router = APIRouter()

#: Issues whose web version is public: once mail with its link has gone out.
PUBLIC = (IssueStatus.SENDING, IssueStatus.PAUSED, IssueStatus.SENT)
FormStr = Annotated[str | None, Form()]
MAX_STORY = 5000


def _not_found() -> PageError:
    return PageError(404, "Page not found", "There is no such page.")


@router.get("/{city}/archive", response_class=HTMLResponse)
def archive_list(request: Request, city: str) -> Response:
    st = state(request)
    if city not in st.config.cities:
        raise _not_found()
    lang = page_lang(request)
    with st.session() as session:
        rows = session.execute(
            select(Issue, Campaign.slug)
            .join(Campaign, Issue.campaign_id == Campaign.id)
            .join(City, Campaign.city_id == City.id)
            .where(City.slug == city, Issue.status.in_(PUBLIC))
            .order_by(Issue.sent_at.desc(), Issue.id.desc())
        ).all()
        issues = []
        for issue, slug in rows:
            camp = st.config.campaigns.get(slug)
            titles: dict[str, str] = (
                {str(k): v for k, v in camp.title.items()} if camp is not None else {}
            )
            title = titles.get(lang) or next(iter(titles.values()), slug)
            issues.append(
                {
                    "id": issue.id,
                    "title": title,
                    "period": period_label(issue.period, lang),
                    "sent": format_date(issue.sent_at.date(), lang) if issue.sent_at else "",
                }
            )
    ctx = {"city": city, **city_texts(st.config, city, lang), "issues": issues}
    return render(request, "archive.html", ctx, lang=lang)


@router.get("/{city}/archive/{issue_id}", response_class=HTMLResponse)
def archive_issue(request: Request, city: str, issue_id: str) -> Response:
    st = state(request)
    if city not in st.config.cities or not issue_id.isdigit() or len(issue_id) > 12:
        raise _not_found()
    lang = page_lang(request)
    with st.session() as session:
        row = session.execute(
            select(Issue, Campaign.slug)
            .join(Campaign, Issue.campaign_id == Campaign.id)
            .join(City, Campaign.city_id == City.id)
            .where(City.slug == city, Issue.id == int(issue_id), Issue.status.in_(PUBLIC))
        ).first()
        if row is None:
            raise _not_found()
        issue, slug = row
        camp = st.config.campaigns.get(slug)
        if camp is not None and lang not in camp.languages:
            lang = camp.languages[0]
        # a language skipped in this issue (nothing in it) shows the version its
        # readers got, else the campaign's first
        targets = send_as(issue.snapshot or {})
        shown = targets.get(lang, lang)
        if shown is None:
            shown = next((to for to in targets.values() if to), None)
        lang = shown or lang
        try:
            html = render_web_version(st.settings, st.config, issue, lang)
        except OutreachError as exc:
            raise PageError(503, "The archive is not available", "Try again later.") from exc
    headers = security_headers(frameable=False, inline_styles=True)
    headers["Cache-Control"] = "public, max-age=300"
    headers["Vary"] = "Accept-Language"  # without ?lang= the language is negotiated
    return HTMLResponse(str(html), headers=headers)


def _story_context(request: Request, lang: str, values: dict[str, Any]) -> dict[str, Any]:
    st = state(request)
    return {
        "cities": [(slug, city_name(st.config, slug, lang)) for slug in st.config.cities],
        "values": values,
        "errors": {},
    }


@router.get("/stories/submit", response_class=HTMLResponse)
def story_form(request: Request) -> Response:
    lang = page_lang(request)
    values = {"city": request.query_params.get("city", ""), "language": lang}
    return render(request, "story.html", _story_context(request, lang, values), lang=lang)


@router.post("/stories/submit", response_class=HTMLResponse)
def story_post(
    request: Request,
    city: FormStr = None,
    company_name: FormStr = None,
    title: FormStr = None,
    body: FormStr = None,
    link: FormStr = None,
    contact_email: FormStr = None,
    language: FormStr = None,
    consent_to_publish: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    rate_limit(request)
    check_csrf(request, csrf_token)
    st = state(request)
    lang = page_lang(request)
    values = {
        "city": city or "",
        "company_name": company_name or "",
        "title": title or "",
        "body": body or "",
        "link": link or "",
        "contact_email": contact_email or "",
        "language": language or lang,
    }
    errors: dict[str, str] = {}
    if city not in st.config.cities:
        errors["city"] = "Choose a city."
    try:
        company = clean_text(company_name, "company")
        heading = clean_text(title, "title", limit=300)
        if not company:
            errors["company_name"] = "Fill in this field."
        if not heading:
            errors["title"] = "Fill in this field."
    except SubscriptionError:
        errors["form"] = "Check the fields: one of them has a line break or is too long."
    text = (body or "").replace("\r\n", "\n").strip()
    if not text or len(text) > MAX_STORY or "\x00" in text:
        errors["body"] = "Write the story (at most 5,000 characters)."
    url = (link or "").strip() or None
    if url is not None and (len(url) > 500 or not url.startswith(("https://", "http://"))
                            or any(c.isspace() for c in url)):  # fmt: skip
        errors["link"] = "Give a web address that starts with https://."
    email = None
    if contact_email and contact_email.strip():
        try:
            email = normalise_email(contact_email)
        except SubscriptionError:
            errors["contact_email"] = "Enter a valid email address, like name@company.fi."
    if not consent_to_publish:
        errors["consent_to_publish"] = "Tick the box to give your consent."
    story_lang = language if language in ("fi", "sv", "en") else lang
    if errors:
        ctx = _story_context(request, lang, values)
        ctx["errors"] = errors
        return render(request, "story.html", ctx, lang=lang, status=400)
    with st.session() as session:
        assert city is not None
        session.add(
            Story(
                city_id=city_row(session, st.config, city).id,
                company_name=str(company_name).strip(),
                title=str(title).strip(),
                body=text,
                language=story_lang,
                link=url,
                contact_email=email,
                consent_to_publish=True,
                status=StoryStatus.SUBMITTED,
            )
        )
    return render(request, "story_thanks.html", {}, lang=lang)
