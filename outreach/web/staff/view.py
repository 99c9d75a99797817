"""Rendering console pages: the staff base template, language, the city's colour."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from outreach.l10n import format_datetime, format_decimal, format_percent
from outreach.staff import Permission, sessions
from outreach.subscriptions import city_name
from outreach.web.common import check_csrf, client_ip, page_lang, render, state
from outreach.web.staff.guard import not_found


def lang_of(request: Request) -> str:
    return page_lang(request)


def client(request: Request) -> str:
    """The client's address as the audit log keeps it."""
    return request.client.host if request.client else "unknown"


def throttle_client(request: Request) -> str:
    """The throttle's key for the client (IPv6: the /64)."""
    return client_ip(request)


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    current: sessions.Current | None = None,
    city: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    """A console page in the request's language, with the person's cities in the header."""
    st = state(request)
    lang = lang_of(request)
    known = list(st.config.cities)
    ctx: dict[str, Any] = {
        "q": f"?lang={lang}",
        "me": current.user.email if current is not None else None,
        "my_cities": [
            (slug, city_name(st.config, slug, lang))
            for slug in (current.principal.cities(known) if current is not None else [])
        ],
        "is_admin": current is not None and current.principal.is_admin,
        "may_audit": current is not None
        and city is not None
        and current.principal.can(Permission.AUDIT, city),
        "city": city,
        "city_label": city_name(st.config, city, lang) if city else None,
        "when": lambda dt, tz="Europe/Helsinki": format_datetime(dt, lang, tz) if dt else "",
        "percent": lambda share: format_percent(share, lang),
        "decimal": lambda value, digits=1: format_decimal(value, lang, digits),
        **context,
    }
    return render(request, name, ctx, lang=lang, status=status)


@contextmanager
def acting(request: Request, csrf_token: str | None) -> Iterator[Session]:
    """A console form's unit of work: the CSRF check, one session, a row the stage
    function does not find (``LookupError``) answered 404, and a commit at the end.
    A refusal the handler answers itself rolls back before it returns."""
    check_csrf(request, csrf_token)
    with state(request).session() as session:
        try:
            yield session
        except LookupError:
            raise not_found() from None
        session.commit()
