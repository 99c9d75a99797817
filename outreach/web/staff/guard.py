"""Every console route declares its policy here; nothing else decides access.

A route takes one of these as a dependency:

- ``Require(permission)``: a signed-in person holding ``permission`` in the
  city named by the ``{city}`` path parameter (``city_param=None``: across
  every city, i.e. an admin). A city the person has no role in is answered
  404, as if it did not exist; a role without the permission, 403.
- ``Require(None)``: any signed-in person.
- ``Pending()``: a session between the password and the second factor.
- ``Public()``: the sign-in pages and the city stylesheet.

Not signed in: a GET is sent to the sign-in page (``?next=`` the page), any
other method gets 403. :func:`check_declared` refuses to start an app with a
``/staff/`` route that declares none of them, and the route-walking test asks
every route as every role of every city.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from outreach.staff import Permission, sessions
from outreach.web.common import PageError, state

COOKIE = "outreach_staff"
COOKIE_PATH = "/staff"
PREFIX = "/staff"
HOME = "/staff/"


class SignInNeeded(Exception):
    """No live session: GET goes to the sign-in page, anything else is refused."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def asked_for(request: Request) -> str:
    """The page asked for, its query kept (a search, ``?kind=``) but the language, which
    the sign-in pages carry on their own."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + ("?" + urlencode(query) if query else "")


def now(request: Request) -> datetime:
    clock = getattr(request.app.state, "staff_clock", None)
    return clock() if clock is not None else datetime.now(UTC)


def not_found() -> PageError:
    return PageError(404, "Page not found", "There is no such page.")


def forbidden() -> PageError:
    return PageError(403, "Not allowed", "Your role does not allow this. Ask your city's admin.")


class Guard:
    """Base of the policy markers (the route walker finds them by this type)."""

    permission: Permission | None = None
    city_param: str | None = None


class Public(Guard):
    """Open to everyone (sign-in pages)."""

    def __call__(self) -> None:
        return None


class Pending(Guard):
    """A session that has passed the password and waits for the TOTP code."""

    def __call__(self, request: Request) -> sessions.Current:
        st = state(request)
        with st.session() as session:
            current = sessions.load(
                session,
                st.settings,
                request.cookies.get(COOKIE),
                now(request),
                stages=(sessions.TOTP, sessions.ENROL),
            )
        if current is None:
            raise SignInNeeded(HOME)
        return current


class Require(Guard):
    """A signed-in person with ``permission`` in the path's city (or across all)."""

    def __init__(self, permission: Permission | None, *, city_param: str | None = "city") -> None:
        self.permission = permission
        self.city_param = city_param if permission is not None else None

    def __call__(self, request: Request) -> sessions.Current:
        st = state(request)
        with st.session() as session:
            current = sessions.load(session, st.settings, request.cookies.get(COOKIE), now(request))
        if current is None:
            raise SignInNeeded(asked_for(request))
        if self.permission is None:
            return current
        if self.city_param is None:
            if not current.principal.can(self.permission, None):
                raise forbidden()
            return current
        city = str(request.path_params.get(self.city_param, ""))
        if city not in st.config.cities or not current.principal.sees(city):
            raise not_found()
        if not current.principal.can(self.permission, city):
            raise forbidden()
        return current


def guards_of(dependant: Dependant) -> Iterator[Guard]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, Guard):
            yield dep.call
        yield from guards_of(dep)


def route_guard(route: APIRoute) -> Guard | None:
    found = list(guards_of(route.dependant))
    return found[0] if len(found) == 1 else None


def check_declared(routes: list[BaseRoute]) -> None:
    """Refuse a console route without exactly one policy (a programming error)."""
    for route in routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(PREFIX):
            continue
        if route_guard(route) is None:
            raise RuntimeError(f"console route {route.path} declares no single policy")


_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")
#: Percent-encoded dots, slashes, backslashes, percents and control characters: a
#: path holding one may mean another path to whoever decodes it next.
_ENCODED = re.compile(r"%(2e|2f|5c|25|[01][0-9a-f]|7f)", re.IGNORECASE)


def _without_dot_segments(path: str) -> str:
    """``path`` with its ``.`` and ``..`` segments resolved (RFC 3986, 5.2.4), as a
    browser resolves them: ``/staff/a/../b`` is ``/staff/b``."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for n, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if n == len(segments) - 1:
                out.append("")  # "/staff/a/.." is the folder "/staff/"
        else:
            out.append(segment)
    return "/" + "/".join(out)


def safe_next(value: str | None) -> str:
    """A page of the console to go to after sign-in; anything else is the home page.

    Only a path under ``/staff/`` once its dot segments are resolved: no scheme, no
    host, no ``//`` or backslash anywhere in it (browsers read ``//`` and ``/\\`` as
    another host, and ``/staff/..//evil`` resolves to ``//evil``), no percent-encoded
    dot, slash, backslash, percent or control character (``%2e%2e``, ``%2f``), no
    control characters or spaces.
    """
    if not value or len(value) > 500 or _CONTROL.search(value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return HOME
    if "//" in parts.path or _ENCODED.search(parts.path):
        return HOME
    path = _without_dot_segments(parts.path)
    if not path.startswith(HOME):
        return HOME
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def sign_in_url(next_path: str, lang: str | None = None) -> str:
    url = f"{PREFIX}/signin"
    query = []
    if next_path and next_path != HOME:
        query.append("next=" + quote(safe_next(next_path), safe="/"))
    if lang:
        query.append(f"lang={lang}")
    return url + ("?" + "&".join(query) if query else "")


def cookie_secure(base_url: str) -> bool:
    """``Secure`` unless the app is served over plain http on this machine."""
    parts = urlsplit(base_url)
    return not (parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"))


def set_session_cookie(response: Any, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        path=COOKIE_PATH,
        secure=cookie_secure(state(request).settings.base_url),
    )


def clear_session_cookie(response: Any, request: Request) -> None:
    response.delete_cookie(
        COOKIE,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(state(request).settings.base_url),
    )
