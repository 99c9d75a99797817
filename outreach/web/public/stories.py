"""The story submission form: a story or a listing request, with an image upload,
the business ID check, consent to publish and a confirmation mail to the sender.

A valid image on a form that comes back with an error is kept on the server
(``outreach.publish.kept``: a token in a hidden field, good only with this
browser's form cookie, for an hour); the form shows it and takes it when sent
again, unless another image replaces it or the sender removes it.
"""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from outreach.delivery import deliver
from outreach.errors import OutreachError, StoryError, SubscriptionError
from outreach.l10n import format_decimal
from outreach.publish import (
    INDUSTRIES,
    MAX_IMAGE_BYTES,
    THEMES,
    CleanImage,
    KeptImage,
    choices,
    clean_image,
    discard_image,
    file_name,
    keep_image,
    kept_image,
    story_received_mail,
    submit_from_form,
    thumbnail,
)
from outreach.sources.base import web_url
from outreach.subscriptions import city_name, claim_receipt, clean_text, release_receipt
from outreach.validation import normalise_email, validate_business_id
from outreach.web.common import WebState, check_csrf, page_lang, rate_limit, render, state
from outreach.web.public.site import site
from outreach.web.security import CSRF_COOKIE

log = logging.getLogger(__name__)
router = APIRouter()
FormStr = Annotated[str | None, Form()]
MAX_STORY = 5000
#: The body limit of the form: the image and the text fields.
UPLOAD_BODY = MAX_IMAGE_BYTES + 256 * 1024
BUSINESS_ID_ERROR = "Check the business ID: it has the form 1234567-1 and ends with a check digit."
TEXT_ERROR = "Check the fields: one of them has a line break or is too long."


def _story_context(request: Request, lang: str, values: dict[str, Any]) -> dict[str, Any]:
    st = state(request)
    city = values.get("city") or ""
    chosen = st.config.cities.get(city)
    return {
        "cities": [(slug, city_name(st.config, slug, lang)) for slug in st.config.cities],
        # the texts about "the city" name the chosen place, else every place offered
        "form_kind": chosen.kind if chosen is not None else None,
        "industries": choices(INDUSTRIES, lang),
        "themes": choices(THEMES, lang),
        "values": values,
        "errors": {},
        "site": site(request, city, lang) if city in st.config.cities else None,
    }


@router.get("/stories/submit", response_class=HTMLResponse)
def story_form(request: Request) -> Response:
    lang = page_lang(request)
    values = {"city": request.query_params.get("city", ""), "language": lang, "kind": "story"}
    return render(request, "story.html", _story_context(request, lang, values), lang=lang)


def _line(value: str | None, what: str, limit: int, errors: dict[str, str]) -> str | None:
    try:
        return clean_text(value, what, limit=limit)
    except SubscriptionError:
        errors["form"] = TEXT_ERROR
        return None


def _image(upload: UploadFile | None, errors: dict[str, str]) -> CleanImage | None:
    """The image sent with this post, re-encoded; None when none was sent or refused."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_IMAGE_BYTES + 1)
    if not data:
        return None
    try:
        return clean_image(data)
    except StoryError as exc:
        errors["image"] = str(exc)
        return None


def _kept(st: WebState, holder: str, token: str | None, drop: bool) -> KeptImage | None:
    """The image kept from an earlier post of this browser's form; ``drop``: delete it
    instead (a new image replaces it, or the sender removed it)."""
    secret = st.settings.secret()
    with st.session() as session:
        if drop:
            discard_image(session, secret, holder, token)
            return None
        return kept_image(session, secret, holder, token, datetime.now(UTC))


def _shown(kept: KeptImage, lang: str) -> dict[str, Any]:
    """The kept image as the form shows it: name, size and a small copy inline."""
    small = thumbnail(kept.image)
    size = kept.size / 1024
    return {
        "token": kept.token,
        "name": kept.name,
        "size": format_decimal(size, lang, 0 if size >= 10 else 1),
        "src": f"data:{small.content_type};base64,{base64.b64encode(small.data).decode()}",
        "width": small.width,
        "height": small.height,
    }


@router.post("/stories/submit", response_class=HTMLResponse)
def story_post(
    request: Request,
    city: FormStr = None,
    kind: FormStr = None,
    company_name: FormStr = None,
    business_id: FormStr = None,
    title: FormStr = None,
    body: FormStr = None,
    figures: FormStr = None,
    industry: FormStr = None,
    theme: FormStr = None,
    commitment: FormStr = None,
    link: FormStr = None,
    image: Annotated[UploadFile | None, File()] = None,
    image_alt: FormStr = None,
    kept_image_token: Annotated[str | None, Form(alias="kept_image")] = None,
    remove_image: FormStr = None,
    contact_email: FormStr = None,
    language: FormStr = None,
    consent_to_publish: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    rate_limit(request)
    check_csrf(request, csrf_token)
    st = state(request)
    lang = page_lang(request)
    listing = kind == "listing"
    values = {
        "city": city or "", "kind": "listing" if listing else "story",
        "company_name": company_name or "", "business_id": business_id or "",
        "title": title or "", "body": body or "", "figures": figures or "",
        "industry": industry or "", "theme": theme or "", "commitment": commitment or "",
        "link": link or "", "image_alt": image_alt or "", "contact_email": contact_email or "",
        "language": language or lang,
    }  # fmt: skip
    errors: dict[str, str] = {}
    if city not in st.config.cities:
        errors["city"] = "Choose a city."
    company = _line(company_name, "company", 200, errors)
    if not company:
        errors["company_name"] = "Fill in this field."
    heading = _line(title, "title", 300, errors) or ""
    alt = _line(image_alt, "image description", 300, errors)
    bid = None
    if business_id and business_id.strip():
        try:
            bid = validate_business_id(business_id)
        except SubscriptionError:
            errors["business_id"] = BUSINESS_ID_ERROR
    text = (body or "").replace("\r\n", "\n").strip()
    extra = {
        "figures": (figures or "").replace("\r\n", "\n").strip()[:1000] or None,
        "commitment": (commitment or "").replace("\r\n", "\n").strip()[:2000] or None,
        "industry": industry if industry in INDUSTRIES else None,
        "theme": theme if theme in THEMES else None,
    }
    if listing:
        heading = heading or (company or "")
        if not bid:
            errors.setdefault("business_id", "Give the company's business ID to be listed.")
    else:
        if not heading:
            errors["title"] = "Fill in this field."
        if not text or len(text) > MAX_STORY or "\x00" in text:
            errors["body"] = "Write the story (at most 5,000 characters)."
    url = (link or "").strip() or None
    # the story's own check (web_url): a link it refuses is this field's error, not
    # the form's "line break or too long"
    if url is not None and (len(url) > 500 or not url.startswith("https://")
                            or web_url(url) is None):  # fmt: skip
        errors["link"] = "Give a web address that starts with https://."
    email = None
    if contact_email and contact_email.strip():
        try:
            email = normalise_email(contact_email)
        except SubscriptionError:
            errors["contact_email"] = "Enter a valid email address, like name@company.fi."
    if not consent_to_publish:
        errors["consent_to_publish"] = "Tick the box to give your consent."
    holder = request.cookies.get(CSRF_COOKIE) or ""  # checked with the form's token above
    sent = None if listing else _image(image, errors)
    kept = _kept(st, holder, kept_image_token, drop=sent is not None or bool(remove_image))
    picture = None if listing else sent or (kept.image if kept is not None else None)
    if picture is not None and not alt:
        errors["image_alt"] = "Describe the image for those who cannot see it."
    if kept_image_token and picture is None and not (listing or remove_image or "image" in errors):
        # expired, or not this browser's: nothing is attached, and the sender knows
        errors["image"] = "The image you sent earlier is no longer kept: choose it again."
    story_lang = language if language in ("fi", "sv", "en") else lang
    if not errors:
        assert city is not None and company is not None
        try:
            with st.session() as session:
                submit_from_form(
                    session, st.config, city,
                    company=company, title=heading, body=text, language=story_lang,
                    link=url, contact_email=email, business_id=bid, image=picture,
                    image_alt=alt, listing_only=listing, **extra,
                )  # fmt: skip
                if kept is not None:  # the story took it (a listing leaves it unused)
                    discard_image(session, st.settings.secret(), holder, kept.token)
        except StoryError:
            errors["form"] = TEXT_ERROR
    if errors:
        ctx = _story_context(request, lang, values)
        ctx["errors"] = errors
        if sent is not None:  # a browser cannot fill a file input again: keep it here
            with st.session() as session:
                kept = keep_image(session, st.settings.secret(), holder, sent,
                                  file_name(image.filename if image else ""),
                                  datetime.now(UTC))  # fmt: skip
        ctx["kept"] = _shown(kept, lang) if kept is not None else None
        return render(request, "story.html", ctx, lang=lang, status=400)
    assert city is not None
    if email:
        # anyone may send the form with any address: a mailbox gets receipts within
        # the caps of confirmation mails, and the page says the same either way
        with st.session() as session:
            allowed = claim_receipt(session, st.settings, email, datetime.now(UTC))
        if allowed:
            try:
                deliver(st.settings, st.config, story_received_mail(city, email, lang, heading))
            except OutreachError as exc:
                log.warning("story confirmation for %s not sent: %s", city, exc)
                with st.session() as session:
                    release_receipt(session, st.settings, email)
    ctx = {"site": site(request, city, lang)}
    return render(request, "story_thanks.html", ctx, lang=lang)
