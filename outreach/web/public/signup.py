"""Sign-up, embeddable form, confirmation, unsubscribe and preferences pages.

GET never changes state; every form POST is rate-limited and CSRF-checked,
except the RFC 8058 one-click POST to ``/unsubscribe/{token}``.

Why over 400 lines: these are the pages of one subscription's life (sign up,
confirm, preferences, unsubscribe), which share their form parsing, token
checks and error pages; each route only parses, calls ``outreach.subscriptions``
and answers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.background import BackgroundTask

from outreach.delivery import deliver
from outreach.errors import InvalidTokenError, OutreachError, SubscriptionError
from outreach.l10n import LANGUAGES, format_datetime
from outreach.models import SubscriptionStatus
from outreach.subscriptions import (
    CONSENT_VERSION,
    ConfirmationMail,
    NoTopicChosen,
    SignUp,
    city_name,
    city_texts,
    claim_export,
    confirm,
    consent_text,
    current_preferences,
    export_link_mail,
    link,
    load_token,
    offered_language,
    release_confirmation,
    release_export,
    show,
    spend_token,
    subscribe,
    unsubscribe,
    update_preferences,
)
from outreach.validation import normalise_email, validate_business_id
from outreach.web.common import (
    RETRY_AFTER_SECONDS,
    PageError,
    WebState,
    check_csrf,
    invalid_link,
    page_lang,
    rate_limit,
    render,
    state,
)
from outreach.web.public.fallback import city_label, preferences_closed
from outreach.web.public.site import embed_origins, site
from outreach.web.security import EMBED_TOKEN_SECONDS, embed_token_issued, new_embed_token

log = logging.getLogger(__name__)
router = APIRouter()
#: The example is a real-looking ID that passes its own check digit.
BUSINESS_ID_ERROR = "Check the business ID: it has the form 1234567-1 and ends with a check digit."
FormStr = Annotated[str | None, Form()]
FormList = Annotated[list[str], Form()]


def _city(request: Request, city: str) -> Any:
    config = state(request).config
    if not config.city_ok(city):
        # The city's topics, languages and sender come from cities.yaml: without it
        # the form cannot be shown nor the confirmation sent (emailed links still work).
        raise PageError(
            503,
            "Sign-up is closed for a moment",
            "The sign-up form cannot be used just now. Try again later.",
            retry_after=RETRY_AFTER_SECONDS,
        )
    cfg = config.cities.get(city)
    if cfg is None or not cfg.signup_form:
        raise PageError(404, "Page not found", "There is no such page.")
    return cfg


def _form_context(request: Request, city: str, lang: str, values: dict[str, Any]) -> dict[str, Any]:
    st = state(request)
    cfg = _city(request, city)
    name = city_name(st.config, city, lang)
    return {
        "city": city,
        **city_texts(st.config, city, lang),
        "topics": [(t, st.config.topics.get(t, {}).get(lang, t)) for t in cfg.topics],
        "newsletter_languages": list(cfg.languages),
        "consent_text": consent_text(name, lang),
        "consent_version": CONSENT_VERSION,
        "values": values,
        "errors": {},
        "embed_token": new_embed_token(st.settings.secret(), city),
        "site": site(request, city, lang),
    }


@router.get("/{city}/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request, city: str) -> Response:
    lang = page_lang(request)
    ctx = _form_context(request, city, lang, {"topics": [], "language": lang})
    return render(request, "subscribe.html", ctx, lang=lang)


@router.get("/{city}/embed", response_class=HTMLResponse)
def embed_form(request: Request, city: str) -> Response:
    lang = page_lang(request)
    ctx = _form_context(request, city, lang, {"topics": [], "language": lang})
    return render(
        request, "subscribe.html", ctx, lang=lang, frameable=True,
        ancestors=embed_origins(request, city),
    )  # fmt: skip


def _form_lang(request: Request, posted: str | None) -> str:
    """The language the form was shown in: the form's own ``form_lang`` when it is
    one the pages offer, else the one the page would choose (``?lang=``, then
    Accept-Language). Its consent wording is the one the person agreed to."""
    return posted if posted in LANGUAGES else page_lang(request)


def _sign_up_later(st: WebState, city: str, signup: SignUp, form_url: str, form_lang: str) -> None:
    """Record the sign-up and send its mail after the answer went out.

    The request itself does the same work for every address (validation and
    the page), so neither its timing nor its answer tells a new address from
    a known, pending or suppressed one.
    """
    mails: list[ConfirmationMail] = []
    try:
        with st.session() as session:
            subscribe(
                session, st.settings, st.config, city, signup, mails.append,
                channel="web", detail=form_url, consent_lang=form_lang,
            )  # fmt: skip
    except Exception:  # the answer is gone; the log is the only place left to tell
        log.exception("sign-up for %s not recorded", city)
        return
    _mail_later(st, mails)


def _mail_later(st: WebState, mails: list[ConfirmationMail]) -> None:
    """Send confirmation mails; a failure releases the once-a-day claim."""
    for mail in mails:
        try:
            st.mailer(mail)
        except OutreachError as exc:
            log.warning("confirmation mail for %s not sent: %s", mail.city_slug, exc)
            with st.session() as session:
                release_confirmation(session, st.settings, mail.to, mail.city_slug)


def _handle_signup(
    request: Request, city: str, fields: dict[str, Any], *, frameable: bool
) -> Response:
    st = state(request)
    lang = _form_lang(request, fields["form_lang"])
    ctx = _form_context(request, city, lang, fields)
    errors: dict[str, str] = {}
    try:
        normalise_email(fields["email"] or "")
    except SubscriptionError:
        errors["email"] = "Enter a valid email address, like name@company.fi."
    if fields["business_id"] and fields["business_id"].strip():
        try:
            validate_business_id(fields["business_id"])
        except SubscriptionError:
            errors["business_id"] = BUSINESS_ID_ERROR
    language = None
    try:
        language = offered_language(st.config, city, fields["language"])
    except SubscriptionError:
        errors["language"] = "Choose one of the languages offered: the others are not sent."
    if not fields["consent"]:
        errors["consent"] = "Tick the box to give your consent."
    signup = None
    if not errors:
        try:
            signup = SignUp.clean(
                st.config,
                city,
                email=fields["email"],
                topics=fields["topics"],
                language=language,
                company_name=fields["company_name"],
                business_id=fields["business_id"],
                contact_name=fields["contact_name"],
            )
        except SubscriptionError:
            errors["form"] = "Check the fields: one of them has a line break or is too long."
    ancestors = embed_origins(request, city) if frameable else []
    if errors or signup is None:
        ctx["errors"] = errors
        return render(
            request, "subscribe.html", ctx, lang=lang, status=400, frameable=frameable,
            ancestors=ancestors,
        )  # fmt: skip
    ctx["email"] = signup.email
    ctx["days"] = st.settings.confirm_token_days
    response = render(
        request, "check_mail.html", ctx, lang=lang, frameable=frameable, ancestors=ancestors
    )
    if not fields["website"]:  # the honeypot field is empty for people
        form_url = f"{st.settings.base_url_clean}{request.url.path}?lang={lang}"
        response.background = BackgroundTask(_sign_up_later, st, city, signup, form_url, lang)
    return response


def signup_fields(
    email: FormStr = None,
    company_name: FormStr = None,
    business_id: FormStr = None,
    contact_name: FormStr = None,
    topics: FormList = [],  # noqa: B006 (FastAPI copies defaults)
    language: FormStr = None,
    consent: FormStr = None,
    website: FormStr = None,
    form_lang: FormStr = None,
) -> dict[str, Any]:
    """The sign-up form's fields, shared by the city's page and its embeddable form
    (``form_lang``: the language the form was shown in)."""
    return {
        "email": email or "",
        "company_name": company_name,
        "business_id": business_id,
        "contact_name": contact_name,
        "topics": topics,
        "language": language,
        "consent": bool(consent),
        "website": website,
        "form_lang": form_lang,
    }


SignupFields = Annotated[dict[str, Any], Depends(signup_fields)]


@router.post("/{city}/subscribe", response_class=HTMLResponse)
def subscribe_post(
    request: Request, city: str, fields: SignupFields, csrf_token: FormStr = None
) -> Response:
    rate_limit(request)
    _city(request, city)
    check_csrf(request, csrf_token)
    return _handle_signup(request, city, fields, frameable=False)


@router.post("/{city}/embed", response_class=HTMLResponse)
def embed_post(
    request: Request, city: str, fields: SignupFields, embed_token: FormStr = None
) -> Response:
    rate_limit(request)
    _city(request, city)
    st = state(request)
    issued = embed_token_issued(st.settings.secret(), city, embed_token)
    if issued is not None and embed_token is not None:
        expires = datetime.fromtimestamp(issued + EMBED_TOKEN_SECONDS + 60, UTC)
        with st.session() as session:  # single use: one form, one sign-up
            if not spend_token(session, embed_token, expires, datetime.now(UTC)):
                issued = None
    if issued is None:  # this form uses no cookies: its token is spent or too old
        raise PageError(
            403,
            "The form has expired",
            "This form can be sent once and works for 6 hours. Reload the page and fill in "
            "the form again.",
        )
    return _handle_signup(request, city, fields, frameable=True)


def _token_page_context(request: Request, token: str, purpose: str) -> dict[str, Any]:
    st = state(request)
    with st.session() as session:
        try:
            sub = load_token(session, st.settings, token, purpose)
        except InvalidTokenError:
            raise invalid_link() from None
        return {
            "token": token,
            "status": sub.status.value,
            "city": sub.city.slug,
            "city_names": dict(sub.city.names),
            "sub_language": sub.subscriber.language,
            "preferences_url": link(st.settings, sub, "preferences"),
        }


def _lang_for(request: Request, ctx: dict[str, Any]) -> str:
    if request.query_params.get("lang") in LANGUAGES:
        return page_lang(request)
    return str(ctx["sub_language"]) if ctx["sub_language"] in LANGUAGES else page_lang(request)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> Response:
    ctx = _token_page_context(request, token, "confirm")
    lang = _lang_for(request, ctx)
    if ctx["status"] not in (SubscriptionStatus.PENDING.value, SubscriptionStatus.CONFIRMED.value):
        raise invalid_link()
    ctx.update(city_label(request, ctx, lang))
    name = "confirmed.html" if ctx["status"] == "confirmed" else "confirm.html"
    return render(request, name, ctx, lang=lang)


@router.post("/confirm/{token}", response_class=HTMLResponse)
def confirm_post(request: Request, token: str, csrf_token: FormStr = None) -> Response:
    rate_limit(request)
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        try:
            sub = confirm(session, st.settings, token)
        except InvalidTokenError:
            raise invalid_link() from None
        ctx = {
            "city": sub.city.slug,
            "city_names": dict(sub.city.names),
            "sub_language": sub.subscriber.language,
            "preferences_url": link(st.settings, sub, "preferences"),
        }
    lang = _lang_for(request, ctx)
    ctx.update(city_label(request, ctx, lang))
    return render(request, "confirmed.html", ctx, lang=lang)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str) -> Response:
    ctx = _token_page_context(request, token, "unsubscribe")
    lang = _lang_for(request, ctx)
    ctx.update(city_label(request, ctx, lang))
    return render(request, "unsubscribe.html", ctx, lang=lang)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_post(
    request: Request,
    token: str,
    one_click: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
    scope: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    is_one_click = one_click == "One-Click"
    if not is_one_click:
        rate_limit(request, "unsubscribe")
        check_csrf(request, csrf_token)
    # One-click requests come from a mailbox provider's few servers, for many
    # recipients at once: a valid (signed, idempotent) one is never refused for
    # rate; only failed attempts count against the sender's address.
    st = state(request)
    with st.session() as session:
        try:
            sub = unsubscribe(
                session,
                st.settings,
                token,
                scope="all" if scope == "all" else "city",
                channel="one-click" if is_one_click else "web",
            )
        except InvalidTokenError:
            if is_one_click:
                rate_limit(request, "unsubscribe")
            raise invalid_link() from None
        ctx = {
            "city": sub.city.slug,
            "city_names": dict(sub.city.names),
            "sub_language": sub.subscriber.language,
            "scope": "all" if scope == "all" else "city",
            "preferences_url": link(st.settings, sub, "preferences"),
        }
    lang = _lang_for(request, ctx)
    ctx.update(city_label(request, ctx, lang))
    return render(request, "unsubscribed.html", ctx, lang=lang, csrf=False)


def _preferences_context(
    request: Request, token: str, lang: str | None
) -> tuple[dict[str, Any], str]:
    """The page's context and language: ``lang``, else ``?lang=``, else the subscriber's."""
    st = state(request)
    with st.session() as session:
        try:
            sub = load_token(session, st.settings, token, "preferences")
        except InvalidTokenError:
            raise invalid_link() from None
        prefs = current_preferences(st.config, sub)
        email = sub.subscriber.email
        unsubscribe_url = link(st.settings, sub, "unsubscribe")
        lang = lang or _lang_for(request, {"sub_language": sub.subscriber.language})
    topics = sorted({t for c in st.config.cities.values() for t in c.topics})
    return {
        "token": token,
        "email": email,
        "unsubscribe_url": unsubscribe_url,
        "prefs": prefs,
        "all_cities": [(slug, city_name(st.config, slug, lang)) for slug in st.config.cities],
        "topics": [(t, st.config.topics.get(t, {}).get(lang, t)) for t in topics],
        "errors": {},
        "saved": False,
        "export_sent": False,
        "export_failed": False,
        "export_again": None,
    }, lang


@router.get("/preferences/{token}", response_class=HTMLResponse)
def preferences_page(request: Request, token: str) -> Response:
    closed = preferences_closed(request, token)
    if closed is not None:
        return closed
    ctx, lang = _preferences_context(request, token, None)
    return render(request, "preferences.html", ctx, lang=lang)


@router.post("/preferences/{token}", response_class=HTMLResponse)
def preferences_post(
    request: Request,
    token: str,
    cities: FormList = [],  # noqa: B006
    topics: FormList = [],  # noqa: B006
    language: FormStr = None,
    company_name: FormStr = None,
    business_id: FormStr = None,
    contact_name: FormStr = None,
    size_class: FormStr = None,
    industry_code: FormStr = None,
    interested_in_visit: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    rate_limit(request)
    check_csrf(request, csrf_token)
    closed = preferences_closed(request, token, status=503)
    if closed is not None:
        return closed
    st = state(request)
    lang = language if language in LANGUAGES else page_lang(request)
    errors: dict[str, str] = {}
    try:
        with st.session() as session:
            update_preferences(
                session, st.settings, st.config, token,
                cities=cities, topics=topics, language=language or lang,
                company_name=company_name, business_id=business_id,
                contact_name=contact_name, size_class=size_class or None,
                industry_code=industry_code, interested_in_visit=bool(interested_in_visit),
            )  # fmt: skip
    except InvalidTokenError:
        raise invalid_link() from None
    except NoTopicChosen:
        errors["topics"] = "Choose at least one topic, or unsubscribe."
    except SubscriptionError as exc:
        if "business ID" in str(exc):
            errors["form"] = BUSINESS_ID_ERROR
        elif str(exc).startswith("language "):
            errors["form"] = "Choose one of the languages offered: the others are not sent."
        else:
            errors["form"] = "Check the fields: one of them has a line break or is too long."
    if errors:
        lang = page_lang(request)  # nothing saved: the page stays in the language it was read in
    ctx, lang = _preferences_context(request, token, lang)
    ctx["errors"] = errors
    ctx["saved"] = not errors
    if errors:  # nothing was saved: the form shows what the person sent, to correct it
        prefs = ctx["prefs"]
        ctx["prefs"] = replace(
            prefs, cities=cities, topics=topics,
            language=language if language in prefs.languages else prefs.language,
            company_name=company_name, business_id=business_id, contact_name=contact_name,
            size_class=size_class, industry_code=industry_code,
            interested_in_visit=bool(interested_in_visit),
        )  # fmt: skip
    return render(request, "preferences.html", ctx, lang=lang, status=400 if errors else 200)


@router.post("/preferences/{token}/data", response_class=HTMLResponse)
def request_data(
    request: Request,
    token: str,
    lang: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    """ "Download my data": mail the address a link that works for one hour.

    The preferences link is in every newsletter, and newsletters get forwarded:
    the export itself goes only to the address it is about.
    """
    rate_limit(request)
    check_csrf(request, csrf_token)
    closed = preferences_closed(request, token, status=503)
    if closed is not None:
        return closed
    st = state(request)
    with st.session() as session:
        try:
            sub = load_token(session, st.settings, token, "preferences")
        except InvalidTokenError:
            raise invalid_link() from None
        to, city = sub.subscriber.email, sub.city.slug
        url = link(st.settings, sub, "export")
        again = claim_export(session, st.settings, to, datetime.now(UTC))
    ctx, page_lang = _preferences_context(request, token, lang)
    if again is not None:  # the mailbox had its share: when it may ask again, no mail
        timezone = st.config.cities[city].timezone if city in st.config.cities else "UTC"
        ctx["export_again"] = format_datetime(again, page_lang, timezone)
        return render(request, "preferences.html", ctx, lang=page_lang, status=429)
    try:
        deliver(st.settings, st.config, export_link_mail(city, to, page_lang, url))
    except OutreachError as exc:  # names no address nor token: the log outlives an erasure
        log.warning("data export link for %s not sent: %s", city, exc)
        with st.session() as session:
            release_export(session, st.settings, to)
        ctx["export_failed"] = True
    else:
        ctx["export_sent"] = True
    return render(request, "preferences.html", ctx, lang=page_lang)


@router.get("/export/{token}")
def download_data(request: Request, token: str) -> Response:
    """Everything held about the address, as JSON (the mailed, one-hour link)."""
    st = state(request)
    with st.session() as session:
        try:
            sub = load_token(session, st.settings, token, "export")
        except InvalidTokenError:
            raise invalid_link() from None
        data = show(session, st.settings, sub.subscriber.email)
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-data.json"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
