"""The FastAPI application factory: it mounts the faces, each its own router module or
package: the public pages (``public/``), the JSON API (``api``), provider webhooks
(``hooks``) and the staff console (``staff/``), plus ``/healthz``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from outreach.campaigns import Config, load, merge_console
from outreach.db import error_line, get_engine, session_scope
from outreach.delivery import confirmation_mailer
from outreach.errors import CampaignError
from outreach.logthrottle import ThrottledLog
from outreach.runtime import Outdated, outdated
from outreach.settings import Settings, get_settings
from outreach.subscriptions import Mailer
from outreach.web import api, clicks, hooks, public, staff, stats_api
from outreach.web.bodylimit import MAX_BODY, BodyLimit, too_large_detail
from outreach.web.common import (
    PageError,
    WebState,
    make_templates,
    page_lang,
    render,
    state,
)
from outreach.web.middleware import NoSniff, answer_head, install_access_log_redaction
from outreach.web.public.site import embed_origins
from outreach.web.public.stories import UPLOAD_BODY
from outreach.web.security import RateLimiter

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def _error_page(request: Request, exc: PageError) -> Response:
    lang = page_lang(request)
    frameable = request.url.path.endswith("/embed")
    # the embedded sign-up form's errors show in the same frame: the city's sites may frame them
    city = request.url.path.strip("/").split("/")[0]
    page = render(
        request,
        "error.html",
        {"title": exc.title, "message": exc.message},
        lang=lang,
        status=exc.status,
        frameable=frameable,
        ancestors=embed_origins(request, city) if frameable else (),
    )
    if exc.retry_after is not None:
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _too_large_page() -> PageError:
    return PageError(
        413,
        "The request is too large",
        "The form sent more text than this service takes. Shorten the text and send it again.",
    )


def _reject_too_large(request: Request, limit: int) -> Response:
    """413 for a body over ``limit``: JSON for the API, the error page for forms."""
    if _is_api(request):
        return JSONResponse({"detail": too_large_detail(limit)}, status_code=413)
    return _error_page(request, _too_large_page())


def _load_config(settings: Settings) -> Config:
    """The campaign files; a broken ``cities.yaml`` closes only the sign-up pages."""
    try:
        config = load(settings.campaigns_path)
    except CampaignError as exc:
        log.error("%s; sign-up is closed until it is fixed, emailed links keep working", exc)
        return Config.unavailable(settings.campaigns_path, [str(exc)])
    return with_console(settings, config)


def with_console(settings: Settings, config: Config) -> Config:
    """``config`` plus the console's campaigns (files only while the database is away)."""
    templates = settings.templates_path
    try:
        with session_scope(get_engine(settings)) as session:
            return merge_console(config, session, templates if templates.is_dir() else None)
    except SQLAlchemyError as exc:
        log.warning("console campaigns not loaded: %s", error_line(exc))
        return config


def create_app(
    settings: Settings | None = None,
    *,
    health_checks: dict[str, Callable[[], bool]] | None = None,
    mailer: Mailer | None = None,
    rate_limiter: RateLimiter | None = None,
    max_body: int = MAX_BODY,
    health_details: Callable[[], dict[str, Any]] | None = None,
    runtime: Callable[[], list[Outdated]] = outdated,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The web app. ``health_checks`` adds named checks to ``/healthz`` and
    ``health_details`` more fields (the daemon's leadership); ``runtime`` lists
    outdated components (tests pass versions); ``mailer`` replaces the
    confirmation sender (tests); ``rate_limiter`` sets the limits; ``max_body``
    caps every request body (bytes); ``clock`` is the staff console's time (tests)."""
    settings = settings or get_settings()
    config = _load_config(settings)
    app = FastAPI(
        title="outreach",
        version="1",
        summary="Sign-up pages and the subscriber API of the cities' climate newsletters",
        docs_url=None,
        redoc_url=None,
    )
    app.state.outreach = WebState(
        settings=settings,
        config=config,
        engine=get_engine(settings),
        mailer=mailer or confirmation_mailer(settings, config),
        limiter=rate_limiter or RateLimiter(),
        templates=make_templates(),
        health_checks=dict(health_checks or {}),
    )
    # A failing probe logs one line, at most every 30 s (an outage is probed every second).
    health_log = ThrottledLog(log)

    @app.exception_handler(PageError)
    def page_error(request: Request, exc: PageError) -> Response:
        return _error_page(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            errors = [
                {
                    "loc": list(e.get("loc", ())),
                    "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", "invalid")),
                }
                for e in exc.errors()
            ]
            return JSONResponse({"detail": errors}, status_code=422)
        if all(tuple(e.get("loc", ()))[:1] == ("path",) for e in exc.errors()):
            # A path naming no row that can exist (an id out of range) is no page.
            return _error_page(request, PageError(404, "Page not found", "There is no such page."))
        return _error_page(
            request, PageError(400, "The request was not understood", "Open the page again.")
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 413 and not _is_api(request):
            return _error_page(request, _too_large_page())
        if _is_api(request) or exc.status_code not in (404, 405):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return _error_page(
            request, PageError(exc.status_code, "Page not found", "There is no such page.")
        )

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> JSONResponse:
        """200 when the database (and every registered check) answers, else 503.

        ``warnings`` lists runtime components older than their security fixes;
        a daemon adds ``leader`` and ``last_tick_at``.
        """
        st = state(request)
        checks: dict[str, bool] = {}
        failures: list[str] = []
        try:
            with st.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = True
        except Exception as exc:  # any failure means "not healthy"
            checks["database"] = False
            failures.append(f"database unreachable: {error_line(exc)}")
        for name, check in st.health_checks.items():
            try:
                checks[name] = bool(check())
            except Exception as exc:
                checks[name] = False
                failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
            else:
                if not checks[name]:
                    failures.append(f"{name} check false")
        ok = all(checks.values())
        if failures:
            health_log.warning("health check failed: %s", "; ".join(failures))
        else:
            health_log.recovered("health check passes again", level=logging.WARNING)
        body: dict[str, Any] = {
            "status": "ok" if ok else "unavailable",
            "checks": checks,
            "warnings": [str(item) for item in runtime()],
        }
        if health_details is not None:
            body.update(health_details())
        # Files left out of the campaign folder leave the app serving: "degraded"
        # with status 200, so a liveness probe does not restart it over a typo.
        if st.config.broken:
            body["campaigns"] = {"broken": sorted(st.config.broken)}
            body["status"] = "degraded" if ok else "unavailable"
        return JSONResponse(
            body, status_code=200 if ok else 503, headers={"Cache-Control": "no-store"}
        )

    app.add_middleware(
        BodyLimit,
        max_body=max_body,
        reject=_reject_too_large,
        paths={"/stories/submit": max(max_body, UPLOAD_BODY)},
    )
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(api.router)
    app.include_router(stats_api.router)
    app.include_router(clicks.router, include_in_schema=False)
    app.include_router(hooks.router, include_in_schema=False)
    for router in public.ROUTERS:
        app.include_router(router, include_in_schema=False)
    app.state.staff_clock = clock
    staff.install(app)
    app.add_middleware(NoSniff)
    routers = (
        app.router,
        api.router,
        stats_api.router,
        clicks.router,
        hooks.router,
        *public.ROUTERS,
        *staff.ROUTERS,
    )
    answer_head([route for r in (*public.ROUTERS, *staff.ROUTERS) for route in r.routes])
    install_access_log_redaction([route for r in routers for route in r.routes])
    return app


class DaemonApp:
    """What ``daemon --web`` serves: the app, given the daemon's health check and its
    ``/healthz`` details (the scheduler's ``WebAppFactory``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app: FastAPI | None = None

    def __call__(
        self, checks: dict[str, Callable[[], bool]], details: Callable[[], dict[str, Any]]
    ) -> FastAPI:
        self.app = create_app(self.settings, health_checks=checks, health_details=details)
        return self.app

    def reload_files(self, config: Config | None = None) -> None:
        """Serve the campaign files a reload of the daemon has loaded (``config``; None:
        read them now): a city added or changed in ``cities.yaml``, the sign-up pages
        open again after a broken file was fixed, ``/healthz`` names what broke since."""
        if self.app is None:
            return
        st: WebState = self.app.state.outreach
        if config is None:
            config = _load_config(self.settings)
        st.mailer = confirmation_mailer(self.settings, config)
        st.config = config


def daemon_app(settings: Settings) -> DaemonApp:
    """The scheduler's ``WebAppFactory`` for ``daemon --web``."""
    return DaemonApp(settings)
