"""Sign-in, the second factor, single sign-on and sign-out pages of the console.

Every form is CSRF-checked and rate-limited per address; the answer to a wrong
password, an unknown address and a disabled account is the same page.
"""

from __future__ import annotations

import logging
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from outreach.errors import StaffError
from outreach.l10n import LANGUAGES
from outreach.staff import oidc, sessions, signin
from outreach.web.common import check_csrf, rate_limit, state
from outreach.web.staff.guard import (
    COOKIE,
    HOME,
    Pending,
    Public,
    Require,
    clear_session_cookie,
    now,
    safe_next,
    set_session_cookie,
)
from outreach.web.staff.view import client, lang_of, page, throttle_client

log = logging.getLogger(__name__)
router = APIRouter()
FormStr = Annotated[str | None, Form()]
OIDC_COOKIE = "outreach_oidc"
PendingSession = Annotated[sessions.Current, Depends(Pending())]
SignedIn = Annotated[sessions.Current, Depends(Require(None))]
Open = Depends(Public())


def _providers(request: Request) -> list[tuple[str, str]]:
    return [(name, p.label) for name, p in state(request).settings.staff_oidc.items()]


def _form(
    request: Request,
    *,
    error: str | None = None,
    wait: str | None = None,
    email: str = "",
    status: int = 200,
) -> Response:
    return page(
        request,
        "staff/signin.html",
        {
            "error": error,
            "wait": wait,
            "email": email,
            "providers": _providers(request),
            "next": safe_next(request.query_params.get("next")),
        },
        status=status,
    )


def _wait_text(request: Request, result: signin.Result) -> str | None:
    if result.wait_until is None:
        return None
    seconds = max(1, int((result.wait_until - now(request)).total_seconds()))
    minutes = (seconds + 59) // 60
    return str(minutes)


def _go(request: Request, path: str, token: str | None = None) -> Response:
    lang = lang_of(request)
    sep = "&" if "?" in path else "?"
    response = RedirectResponse(f"{path}{sep}lang={lang}", status_code=303)
    if token is not None:
        set_session_cookie(response, request, token)
    return response


def _after(request: Request, result: signin.Result, next_path: str) -> Response:
    """Where a sign-in step leads: the next step, the page asked for, or the form again."""
    if result.outcome == signin.Outcome.SIGNED_IN:
        return _go(request, safe_next(next_path), result.token)
    if result.outcome in (signin.Outcome.TOTP, signin.Outcome.ENROL):
        step = "totp" if result.outcome == signin.Outcome.TOTP else "enrol"
        target = quote(safe_next(next_path), safe="/")
        return _go(request, f"/staff/signin/{step}?next={target}", result.token)
    if result.outcome == signin.Outcome.WAIT:
        return _form(request, wait=_wait_text(request, result), status=429)
    return _form(request, error="refused", status=401)


@router.get("/staff/signin", dependencies=[Open])
def signin_form(request: Request) -> Response:
    return _form(request)


@router.post("/staff/signin", dependencies=[Open])
def signin_post(
    request: Request,
    email: FormStr = None,
    password: FormStr = None,
    next: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    rate_limit(request, "staff")
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        # A session the browser came with is never carried over (no fixation).
        sessions.end_token(session, request.cookies.get(COOKIE), now(request))
        result = signin.password_step(
            session,
            st.settings,
            email or "",
            password or "",
            ip=throttle_client(request),
            now=now(request),
        )
    if result.outcome == signin.Outcome.REFUSED:
        wait = _wait_text(request, result)
        return _form(request, error="refused", wait=wait, email=(email or "")[:254], status=401)
    if result.outcome == signin.Outcome.WAIT:  # the address stays typed (never the password)
        wait = _wait_text(request, result)
        return _form(request, wait=wait, email=(email or "")[:254], status=429)
    return _after(request, result, next or HOME)


def _next(request: Request) -> str:
    return quote(safe_next(request.query_params.get("next")), safe="/")


@router.get("/staff/signin/totp")
def totp_form(request: Request, current: PendingSession) -> Response:
    if current.stage != sessions.TOTP:
        return _go(request, "/staff/signin/enrol?next=" + _next(request))
    return page(
        request,
        "staff/totp.html",
        {"next": safe_next(request.query_params.get("next")), "error": None, "wait": None},
    )


@router.get("/staff/signin/enrol")
def enrol_form(request: Request, current: PendingSession) -> Response:
    if current.stage != sessions.ENROL:
        return _go(request, "/staff/signin/totp?next=" + _next(request))
    secret, uri = signin.enrolment(current, _issuer(request))
    return page(
        request,
        "staff/enrol.html",
        {
            "next": safe_next(request.query_params.get("next")),
            "secret": secret,
            "uri": uri,
            "error": None,
            "wait": None,
        },
    )


def _issuer(request: Request) -> str:
    from urllib.parse import urlsplit

    host = urlsplit(state(request).settings.base_url).hostname or "outreach"
    return f"outreach ({host})"


@router.post("/staff/signin/code")
def code_post(
    request: Request,
    current: PendingSession,
    code: FormStr = None,
    next: FormStr = None,
    csrf_token: FormStr = None,
) -> Response:
    rate_limit(request, "staff")
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        result = signin.code_step(
            session,
            st.settings,
            current,
            code or "",
            ip=throttle_client(request),
            now=now(request),
        )
    if result.outcome == signin.Outcome.SIGNED_IN:
        return _after(request, result, next or HOME)
    name = "staff/enrol.html" if current.stage == sessions.ENROL else "staff/totp.html"
    ctx = {"next": safe_next(next), "error": "code", "wait": _wait_text(request, result)}
    if current.stage == sessions.ENROL:
        ctx["secret"], ctx["uri"] = signin.enrolment(current, _issuer(request))
    return page(request, name, ctx, status=429 if result.outcome == signin.Outcome.WAIT else 401)


@router.post("/staff/signout")
def signout_post(request: Request, current: SignedIn, csrf_token: FormStr = None) -> Response:
    check_csrf(request, csrf_token)
    st = state(request)
    with st.session() as session:
        signin.sign_out(session, current, ip=client(request), now=now(request))
    response = _go(request, "/staff/signin")
    clear_session_cookie(response, request)
    return response


def _redirect_uri(request: Request, name: str) -> str:
    return f"{state(request).settings.base_url_clean}/staff/oidc/{name}/callback"


@router.get("/staff/oidc/{name}", dependencies=[Open])
def oidc_start(request: Request, name: str) -> Response:
    """Leave for the provider; the flow's secrets go in a signed ten-minute cookie."""
    rate_limit(request, "staff")
    st = state(request)
    if name not in st.settings.staff_oidc:
        from outreach.web.staff.guard import not_found

        raise not_found()
    try:
        url, flow = oidc.begin(
            st.settings,
            name,
            _redirect_uri(request, name),
            safe_next(request.query_params.get("next")),
            lang_of(request),
        )
    except StaffError as exc:
        log.warning("single sign-on %s: %s", name, exc)
        return _form(request, error="sso", status=502)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        OIDC_COOKIE,
        oidc.pack(st.settings.secret(), flow),
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        path="/staff/oidc",
        secure=st.settings.base_url.startswith("https://"),
    )
    return response


@router.get("/staff/oidc/{name}/callback", dependencies=[Open])
def oidc_callback(request: Request, name: str) -> Response:
    rate_limit(request, "staff")
    st = state(request)
    flow = oidc.unpack(st.settings.secret(), request.cookies.get(OIDC_COOKIE))
    if flow is None or flow.provider != name:
        return _form(request, error="sso", status=400)
    params = {k: v for k, v in request.query_params.items() if k in ("code", "state", "error")}
    moment = now(request)
    try:
        claims = oidc.finish(st.settings, flow, params, _redirect_uri(request, name), moment)
        with st.session() as session:
            sessions.end_token(session, request.cookies.get(COOKIE), moment)
            result = oidc.sign_in(
                session,
                st.settings,
                name,
                claims,
                known_cities=set(st.config.cities),
                ip=client(request),
                now=moment,
            )
    except StaffError as exc:
        log.warning("single sign-on %s: %s", name, exc)
        result = signin.Result(signin.Outcome.REFUSED)
    if result.outcome != signin.Outcome.SIGNED_IN:
        response = _form(request, error="sso", status=403)
    else:
        target = safe_next(flow.next)
        sep = "&" if "?" in target else "?"
        lang = flow.lang if flow.lang in LANGUAGES else "fi"
        response = RedirectResponse(f"{target}{sep}lang={lang}", status_code=303)
        set_session_cookie(response, request, result.token or "")
    response.delete_cookie(OIDC_COOKIE, path="/staff/oidc")
    return response
