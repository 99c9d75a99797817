"""What every router shares: app state, language choice, page rendering, guards."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.campaigns import Config
from outreach.db import session_scope
from outreach.l10n import (
    LANGUAGES,
    gettext_for,
    negotiate,
    ngettext_for,
    place_gettext,
    places_kind,
)
from outreach.settings import Settings
from outreach.subscriptions import Mailer
from outreach.web.security import (
    CSRF_COOKIE,
    RateLimiter,
    csrf_ok,
    csrf_token_valid,
    new_csrf_token,
    security_headers,
)

TEMPLATES_DIR = Path(__file__).parent / "templates"

#: A row id in a route's path, as the database keeps it (a 32-bit integer on
#: PostgreSQL). Anything else names no row: the page answers 404, the API 422.
RowId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


@dataclass
class WebState:
    settings: Settings
    config: Config
    engine: Engine
    mailer: Mailer
    limiter: RateLimiter
    templates: Jinja2Templates
    health_checks: dict[str, Callable[[], bool]] = field(default_factory=dict)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with session_scope(self.engine) as session:
            yield session


class PageError(Exception):
    """Rendered as the error page with ``status``; ``message`` is an English msgid.
    ``retry_after`` (seconds) goes out as ``Retry-After``: the page is away for now."""

    def __init__(
        self, status: int, title: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.retry_after = retry_after


#: How long a page that needs ``cities.yaml`` asks to be left while the file is broken.
RETRY_AFTER_SECONDS = 300


def city_files_broken() -> PageError:
    """503 for a city page that needs ``cities.yaml`` while it cannot be read: the page
    is away for now, not gone (a 404 would tell readers and feed readers it is)."""
    return PageError(
        503,
        "This page is not available just now",
        "Try again later.",
        retry_after=RETRY_AFTER_SECONDS,
    )


def invalid_link() -> PageError:
    return PageError(
        404,
        "This link does not work",
        "The link is invalid or has expired. Links in confirmation emails work for 7 days; "
        "you can sign up again to get a new one.",
    )


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return Jinja2Templates(env=env)


def state(request: Request) -> WebState:
    st: WebState = request.app.state.outreach
    return st


def page_lang(request: Request, supported: tuple[str, ...] | list[str] = LANGUAGES) -> str:
    """``?lang=`` when it names a supported language, else Accept-Language."""
    asked = request.query_params.get("lang", "")
    if asked in supported:
        return asked
    return negotiate(request.headers.get("accept-language"), list(supported))


def client_ip(request: Request) -> str:
    """The rate-limit key of the client: its IPv4 address, or its IPv6 /64.

    One IPv6 customer usually holds a whole /64 (often more), so a limit per
    IPv6 address would be no limit. IPv4-mapped addresses count as IPv4.
    """
    return client_key(request.client.host if request.client else "")


def client_key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def rate_limit(request: Request, bucket: str = "form") -> None:
    if not state(request).limiter.allow(bucket, client_ip(request)):
        raise PageError(
            429,
            "Too many requests",
            "You have sent too many requests in a short time. Wait a minute and try again.",
        )


def check_csrf(request: Request, field_value: str | None) -> None:
    secret = state(request).settings.secret()
    if not csrf_ok(secret, request.cookies.get(CSRF_COOKIE), field_value):
        raise PageError(
            403,
            "The form has expired",
            "Open the page again and resend the form. Cookies must be allowed for this site.",
        )


def translators(lang: str) -> dict[str, Callable[..., str]]:
    """A page's ``_(message, **values)``; for a message with a count,
    ``_n(singular, plural, n, **values)`` (``{n}`` is filled with ``n`` too); for a
    message that names the place, ``_k(kind, message, **values)``, worded for a
    ``city``, a ``municipality`` or a ``mixed`` list (``l10n.place_gettext``)."""

    def _(message: str, **values: Any) -> str:
        text = gettext_for(lang, "web", message)
        return text.format(**values) if values else text

    def _n(singular: str, plural: str, n: int, **values: Any) -> str:
        return ngettext_for(lang, "web", singular, plural, n).format(**{"n": n, **values})

    def _k(kind: str, message: str, **values: Any) -> str:
        text = place_gettext(lang, "web", kind, message)
        return text.format(**values) if values else text

    return {"_": _, "_n": _n, "_k": _k}


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    lang: str,
    status: int = 200,
    frameable: bool = False,
    ancestors: Sequence[str] = (),
    csrf: bool = True,
) -> HTMLResponse:
    """Render a page in ``lang`` with a CSRF token, security headers and no caching; a
    ``frameable`` page may be framed by the origins ``ancestors`` only."""
    st = state(request)
    secret = st.settings.secret()
    cookie = request.cookies.get(CSRF_COOKIE)
    token = cookie if cookie and csrf_token_valid(secret, cookie) else new_csrf_token(secret)

    ctx = {
        **translators(lang),
        "lang": lang,
        "languages": LANGUAGES,
        "csrf_token": token,
        "path": request.url.path,
        "embed": frameable,
        # the wording of a text about every place (``_k(places_kind, …)``)
        "places_kind": places_kind(c.kind for c in st.config.cities.values()),
        **context,
    }
    response = st.templates.TemplateResponse(request, name, ctx, status_code=status)
    for key, value in security_headers(frameable=frameable, ancestors=ancestors).items():
        response.headers[key] = value
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    if csrf and token != cookie:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=st.settings.base_url.startswith("https://"),
            path="/",
        )
    return response
