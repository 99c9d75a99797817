"""The staff console at ``/staff/``: its own routers, on the stage in ``outreach.staff``.

:func:`install` adds the routes to the app, the handler that sends a visitor
without a session to the sign-in page, and refuses a route without a policy
(``guard``). New console pages go in their own module here, each route with a
``Require`` from ``guard``.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from outreach.staff import signin as sign_in_steps
from outreach.web.common import page_lang, render
from outreach.web.staff import (
    campaigns,
    console,
    drafts,
    issues,
    signin,
    sources,
    stats,
    stories,
    subscriber_import,
    subscribers,
)
from outreach.web.staff.guard import SignInNeeded, check_declared, sign_in_url

ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    console.router,
    issues.router,
    drafts.router,
    stories.router,
    campaigns.router,
    sources.router,
    stats.router,
)
# The import's literal paths first: /subscribers/{subscriber_id} would take them.
ROUTERS += (subscriber_import.router, subscribers.router)


def _sign_in_needed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInNeeded)
    if request.method in ("GET", "HEAD"):
        lang = request.query_params.get("lang")
        return RedirectResponse(sign_in_url(exc.next_path, lang), status_code=303)
    context = {"title": "Signed out", "message": "Your session has ended. Sign in again."}
    return render(request, "error.html", context, lang=page_lang(request), status=403)


def install(app: FastAPI) -> None:
    sign_in_steps.prepare()  # the first unknown address then takes the usual work
    for router in ROUTERS:
        app.include_router(router, include_in_schema=False)
        check_declared(router.routes)
    app.add_exception_handler(SignInNeeded, _sign_in_needed)
