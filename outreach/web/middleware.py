"""Middleware every response goes through, and the access log's redaction.

``NoSniff``: ``X-Content-Type-Options: nosniff`` on every response (pages set
it already; the JSON API, ``/openapi.json``, ``/static`` and error answers get
it here), so a browser never guesses a type.

The access log must not keep what erasure deletes or what grants access:
paths carry e-mail addresses (``/api/v1/subscribers/{email}``) and capability
tokens (``/confirm/{token}``, ``/unsubscribe/{token}``, ``/preferences/{token}``,
``/export/{token}``). :class:`RedactingFilter`, installed on uvicorn's
``uvicorn.access`` logger by :func:`install_access_log_redaction`, rewrites the
request target before the line is written: every path parameter of a route
whose name is in :data:`SECRET_PARAMS` becomes ``[token]`` or ``[email]``
(taken from the app's routes, so a new ``{token}`` route is covered without a
list to update); a path under such a route's prefix that matches no route is
cut after the prefix; an e-mail address anywhere in the path or query, and the
value of any query parameter in :data:`SECRET_QUERY`, become ``[email]`` and
``[redacted]``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Path parameters whose values never reach a log, and what they become.
SECRET_PARAMS = {"token": "[token]", "email": "[email]"}
#: Query parameters whose values never reach a log.
SECRET_QUERY = frozenset({"token", "email", "key", "api_key", "csrf_token"})
EMAIL_RE = re.compile(r"[^\s/?&=#@]+@[^\s/?&=#@]+")
ACCESS_LOGGER = "uvicorn.access"


def answer_head(routes: list[BaseRoute]) -> None:
    """Let every page answer HEAD as it answers GET (the server sends the headers
    only): link checkers and mail gateways ask with HEAD, and a 405 reads as a
    broken link. Given the pages' routes only (not the JSON API's, whose schema
    would list them). A GET changes nothing (docs/subscriptions.md), so neither does a HEAD."""
    for route in routes:
        if isinstance(route, Route) and route.methods and "GET" in route.methods:
            route.methods.add("HEAD")


class NoSniff:
    """Adds ``X-Content-Type-Options: nosniff`` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "x-content-type-options" not in headers:
                    headers["X-Content-Type-Options"] = "nosniff"
            await send(message)

        await self.app(scope, receive, send_with_header)


@dataclass(frozen=True)
class _SecretRoute:
    regex: re.Pattern[str]
    names: tuple[str, ...]
    prefix: str


def secret_routes(routes: list[BaseRoute]) -> list[_SecretRoute]:
    """The routes with a path parameter in :data:`SECRET_PARAMS`."""
    found = []
    for route in routes:
        if not isinstance(route, Route):
            continue
        names = tuple(n for n in route.param_convertors if n in SECRET_PARAMS)
        if names:
            found.append(_SecretRoute(route.path_regex, names, route.path.split("{")[0]))
    return found


def redact_path(path: str, routes: list[_SecretRoute]) -> str:
    """``path`` (decoded) with secret parameters and addresses replaced."""
    for route in routes:
        match = route.regex.match(path)
        if match is None:
            continue
        out, end = [], 0
        spans = sorted((match.span(name), name) for name in route.names)
        for (start, stop), name in spans:
            out += [path[end:start], SECRET_PARAMS[name]]
            end = stop
        out.append(path[end:])
        return EMAIL_RE.sub("[email]", "".join(out))
    for route in routes:
        if len(route.prefix) > 1 and path.startswith(route.prefix):
            return route.prefix + "[redacted]"
    return EMAIL_RE.sub("[email]", path)


def redact_query(query: str) -> str:
    pairs = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.lower() in SECRET_QUERY:
            value = "[redacted]"
        pairs.append((EMAIL_RE.sub("[email]", key), EMAIL_RE.sub("[email]", value)))
    return urlencode(pairs, safe="[]")


def redact_target(target: str, routes: list[_SecretRoute]) -> str:
    """A request target as uvicorn logs it (quoted path, raw query), redacted."""
    path, sep, query = target.partition("?")
    safe_path = quote(redact_path(unquote(path), routes), safe="/[]")
    return safe_path + (sep + redact_query(query) if sep else "")


class RedactingFilter(logging.Filter):
    """Rewrites the request target of uvicorn's access log records."""

    def __init__(self, routes: list[_SecretRoute]) -> None:
        super().__init__("outreach-redaction")
        self.routes = routes

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn: (client address, method, path with query, HTTP version, status)
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_target(args[2], self.routes), *args[3:])
        return True


def install_access_log_redaction(routes: list[BaseRoute]) -> RedactingFilter:
    """Put the redaction on uvicorn's access logger (replacing an earlier one)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    for old in [f for f in logger.filters if isinstance(f, RedactingFilter)]:
        logger.removeFilter(old)
    redaction = RedactingFilter(secret_routes(routes))
    logger.addFilter(redaction)
    return redaction
