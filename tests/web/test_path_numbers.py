"""Every route with a number in its path, given numbers no table can hold.

A path like ``/staff/vantaa/issues/{issue_id}`` is typed ``int``, and an int in
Python has no upper bound while the database's has: SQLite refuses anything
past 2**63 - 1 and PostgreSQL's integer columns stop at 2**31 - 1. Such an id
names nothing, so a page answers 404 and the API 422, never a server error. The
routes come from the app itself, so a route added later is walked too; every
route is called signed in as an all-cities admin (the console) and with the
all-cities key (the API), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.models import StaffUser
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.subscriptions import RecordingMailer, create_api_key
from outreach.web import create_app
from outreach.web.security import RateLimiter
from outreach.web.staff.guard import COOKIE
from tests.staff.support import make_account
from tests.staff.test_routes import every_route
from tests.web.conftest import TestClient, csrf_of

#: Numbers no id column holds, and the edges around them.
NUMBERS = [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64, 10**40]
PARAM = re.compile(r"\{([a-z_]+)\}")


def numbered_routes(app: FastAPI) -> list[tuple[APIRoute, str, list[str]]]:
    """(route, method, names of its int path parameters) for every such route."""
    found = []
    for route in every_route(app.routes):
        if not isinstance(route, APIRoute):
            continue
        ints = [p.name for p in route.dependant.path_params if p.field_info.annotation is int]
        if ints:
            found.extend((route, method, ints) for method in sorted(route.methods))
    return found


def fill(path: str, ints: list[str], number: int) -> str:
    """The path with its numbers set to ``number`` and its other parts to Vantaa's."""

    def part(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ints:
            return str(number)
        return {"city": "vantaa", "edition": "fi", "lang": "fi"}.get(name, "x")

    return PARAM.sub(part, path)


@pytest.fixture
def app(db_settings: Settings, db_engine: Engine) -> Iterator[FastAPI]:
    limiter = RateLimiter({"form": (10_000, 100.0), "unsubscribe": (10_000, 100.0)})
    yield create_app(db_settings, mailer=RecordingMailer(), rate_limiter=limiter)
    dispose_engines()


def test_the_walk_finds_the_numbered_routes(app: FastAPI) -> None:
    paths = {route.path for route, _, _ in numbered_routes(app)}
    assert {"/staff/{city}/issues/{issue_id}", "/staff/{city}/subscribers/{subscriber_id}",
            "/api/v1/stats/{city}/issues/{issue_id}"} <= paths  # fmt: skip


def test_a_number_no_table_holds_is_refused_not_a_server_error(
    app: FastAPI, db_engine: Engine
) -> None:
    make_account(db_engine, "admin@staff.fi", "admin", None)
    with Session(db_engine) as s:
        user = s.query(StaffUser).filter_by(email="admin@staff.fi").one()
        now = datetime.now(UTC)
        routes = numbered_routes(app)
        tokens = [
            sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=now)
            for _ in range(len(routes) * len(NUMBERS))
        ]
        key = create_api_key(s, "all cities")[1]
        s.commit()
    failures: list[str] = []
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        form = client.get("/staff/signin")
        csrf, csrf_cookie = csrf_of(form.text), form.cookies["outreach_csrf"]
        for route, method, ints in routes:
            for number in NUMBERS:
                path = fill(route.path, ints, number)
                client.cookies.clear()
                headers = {
                    "Cookie": f"outreach_csrf={csrf_cookie}; {COOKIE}={tokens.pop()}",
                    "Authorization": f"Bearer {key}",
                }
                data = {"csrf_token": csrf} if method == "POST" else None
                answer = client.request(
                    method, path, headers=headers, data=data, follow_redirects=False
                )
                out_of_range = not 1 <= number <= 2**31 - 1
                wanted = 422 if path.startswith("/api/") else 404
                if answer.status_code >= 500 or (out_of_range and answer.status_code != wanted):
                    failures.append(f"{method} {path}: {answer.status_code}, not {wanted}")
    assert not failures, "\n".join(failures)
