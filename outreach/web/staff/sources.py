"""The console's sources page: every source of a city's campaigns with its last
fetch, next fetch, "fetch now" and re-enabling a disabled source.

A source is named by its state key; one no campaign of the path's city uses is
not found. The work is in ``outreach.staff.authoring`` and ``outreach.sources``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from outreach.staff import Current, Permission, authoring
from outreach.web.common import state
from outreach.web.staff.campaigns import fresh_config
from outreach.web.staff.guard import Require, not_found, now
from outreach.web.staff.view import acting, client, lang_of, page

router = APIRouter()
Viewer = Annotated[Current, Depends(Require(Permission.VIEW))]
Editor = Annotated[Current, Depends(Require(Permission.EDIT))]
FormStr = Annotated[str | None, Form()]


@router.get("/staff/{city}/sources")
def source_list(request: Request, city: str, current: Viewer) -> Response:
    st = state(request)
    config = fresh_config(request)
    every = timedelta(minutes=st.settings.fetch_interval_minutes)
    with st.session() as session:
        rows = authoring.city_sources(session, config, city, now=now(request), every=every)
    context = {
        "rows": rows,
        "tz": config.cities[city].timezone,
        "may_edit": current.principal.can(Permission.EDIT, city),
        "done": request.query_params.get("done"),
    }
    return page(request, "staff/sources.html", context, current=current, city=city)


def _back(request: Request, city: str, done: str) -> RedirectResponse:
    query = urlencode({"lang": lang_of(request), "done": done})
    return RedirectResponse(f"/staff/{city}/sources?{query}", status_code=303)


@router.post("/staff/{city}/sources/{key}/fetch")
def source_fetch(
    request: Request, city: str, key: str, current: Editor, csrf_token: FormStr = None
) -> Response:
    st = state(request)
    who = authoring.Who(current.user.email, client(request))
    with acting(request, csrf_token) as session:
        reports = authoring.fetch_now(session, st.settings, fresh_config(request), city, key, who)
    if reports is None:
        raise not_found()
    return _back(request, city, "fetched")


@router.post("/staff/{city}/sources/{key}/enable")
def source_enable(
    request: Request, city: str, key: str, current: Editor, csrf_token: FormStr = None
) -> Response:
    who = authoring.Who(current.user.email, client(request))
    with acting(request, csrf_token) as session:
        if not authoring.re_enable(session, fresh_config(request), city, key, who):
            raise not_found()
    return _back(request, city, "enabled")
