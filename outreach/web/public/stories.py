"""The success-story submission form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from outreach.errors import StoryError, SubscriptionError
from outreach.publish import submit_from_form
from outreach.subscriptions import city_name, clean_text
from outreach.validation import normalise_email
from outreach.web.common import check_csrf, page_lang, rate_limit, render, state

router = APIRouter()
FormStr = Annotated[str | None, Form()]
MAX_STORY = 5000


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
    if not errors:
        assert city is not None
        try:
            with st.session() as session:
                submit_from_form(
                    session, st.config, city,
                    company=str(company_name).strip(), title=str(title).strip(), body=text,
                    language=story_lang, link=url, contact_email=email,
                )  # fmt: skip
        except StoryError:
            errors["form"] = "Check the fields: one of them has a line break or is too long."
    if errors:
        ctx = _story_context(request, lang, values)
        ctx["errors"] = errors
        return render(request, "story.html", ctx, lang=lang, status=400)
    return render(request, "story_thanks.html", {}, lang=lang)
