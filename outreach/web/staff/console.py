"""The console's own pages: the home page, a city's dashboard, the audit log,
and the city's colour as a stylesheet (the pages carry no inline style)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import Response

from outreach.staff import Permission, audit, city_dashboard, sessions
from outreach.subscriptions import city_name
from outreach.web.common import state
from outreach.web.staff.guard import Public, Require, not_found, now
from outreach.web.staff.view import lang_of, page

router = APIRouter()
SignedIn = Annotated[sessions.Current, Depends(Require(None))]
Viewer = Annotated[sessions.Current, Depends(Require(Permission.VIEW))]
Auditor = Annotated[sessions.Current, Depends(Require(Permission.AUDIT))]
Admin = Annotated[sessions.Current, Depends(Require(Permission.ADMIN, city_param=None))]
#: How far back the audit pages look.
AUDIT_DAYS = 90


@router.get("/staff/")
def home(request: Request, current: SignedIn) -> Response:
    return page(request, "staff/home.html", {}, current=current)


@router.get("/staff/{city}/")
def dashboard(
    request: Request, background: BackgroundTasks, city: str, current: Viewer
) -> Response:
    st = state(request)
    board = city_dashboard(st.settings, st.config, city, now=now(request))
    from outreach.web.staff.stats import summary  # it takes Viewer from here

    context = {"board": board, "stats": summary(request, background, city)}
    return page(request, "staff/dashboard.html", context, current=current, city=city)


def _audit_page(request: Request, current: sessions.Current, city: str | None) -> Response:
    st = state(request)
    query = audit.Query(
        cities=(city,) if city is not None else None,
        since=now(request) - timedelta(days=AUDIT_DAYS),
    )
    with st.session() as session:
        rows = [(e, audit.details(e)) for e in audit.events(session, query)]
    tz = st.config.cities[city].timezone if city else "Europe/Helsinki"
    lang = lang_of(request)
    names = {slug: city_name(st.config, slug, lang) for slug in st.config.cities}
    return page(
        request,
        "staff/audit.html",
        {"rows": rows, "tz": tz, "days": AUDIT_DAYS, "city_names": names},
        current=current,
        city=city,
    )


@router.get("/staff/{city}/audit")
def city_audit(request: Request, city: str, current: Auditor) -> Response:
    return _audit_page(request, current, city)


@router.get("/staff/audit")
def all_audit(request: Request, current: Admin) -> Response:
    return _audit_page(request, current, None)


@router.get("/staff/theme/{city}.css", dependencies=[Depends(Public())])
def theme(request: Request, city: str) -> Response:
    cfg = state(request).config.cities.get(city)
    if cfg is None:
        raise not_found()
    colour = cfg.branding.color  # validated as #rrggbb when the file was loaded
    body = (
        f".staff-bar {{ background: {colour}; }}\n"
        f".staff main a {{ color: {colour}; }}\n"
        f".staff main button {{ background: {colour}; }}\n"
    )
    expires = datetime.now(UTC) + timedelta(hours=1)
    return Response(
        body,
        media_type="text/css",
        headers={
            "Cache-Control": "public, max-age=3600",
            "Expires": expires.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        },
    )
