"""Every console route, as every role of every city: refused where it must be.

The routes come from the app itself, so a page added later is walked too; the
expected answer comes from the role table below, written out here on purpose
rather than taken from the policy module under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute

from outreach.campaigns import load
from outreach.models import StaffUser
from outreach.settings import Settings
from outreach.staff import sessions
from outreach.web.staff.guard import COOKIE, Guard, Pending, Public, Require, route_guard
from tests.staff.support import (
    CITIES,
    csrf_of,
    make_account,
    make_city_issue,
    make_story,
    make_subscriber,
)
from tests.web.conftest import TestClient

#: What each role may do, written out independently of outreach.staff.policy.
MAY = {
    "editor": {"view", "edit"},
    "approver": {"view", "edit", "approve", "audit"},
    "admin": {"view", "edit", "approve", "audit", "admin"},
}
PEOPLE: dict[str, dict[str, str]] = {
    "anonymous": {},
    "kerava-editor": {"kerava": "editor"},
    "kerava-approver": {"kerava": "approver"},
    "vantaa-editor": {"vantaa": "editor"},
    "two-cities": {"vantaa": "approver", "jarvenpaa": "editor"},
    "admin": {"*": "admin"},
}
CITY_VALUES = ["vantaa", "kerava", "jarvenpaa", "nowhere"]


def every_route(routes: list[BaseRoute]) -> list[BaseRoute]:
    """The app's routes, with included routers opened (FastAPI includes them lazily)."""
    found: list[BaseRoute] = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(every_route(inner.routes) if inner is not None else [route])
    return found


#: A page answers HEAD as it answers GET: the same guard, the same status.
READS = ("GET", "HEAD")


def console_routes(app: FastAPI) -> list[tuple[APIRoute, str, Guard]]:
    found = []
    for route in every_route(app.routes):
        if isinstance(route, APIRoute) and route.path.startswith("/staff"):
            guard = route_guard(route)
            assert guard is not None, f"{route.path} declares no policy"
            found.extend((route, method, guard) for method in sorted(route.methods))
    return found


def test_the_walk_sees_every_console_route(app: FastAPI) -> None:
    paths = {route.path for route, _, _ in console_routes(app)}
    assert {"/staff/", "/staff/{city}/", "/staff/{city}/audit", "/staff/audit",
            "/staff/signin", "/staff/signout", "/staff/{city}/campaigns",
            "/staff/{city}/campaigns/{slug}", "/staff/{city}/campaigns/new",
            "/staff/{city}/campaigns/markdown", "/staff/{city}/sources",
            "/staff/{city}/sources/{key}/fetch",
            "/staff/{city}/sources/{key}/enable", "/staff/{city}/stats", "/staff/{city}/stats.csv",
            "/staff/{city}/issues/{issue_id}/stats",
            "/staff/{city}/issues/{issue_id}/stats.csv"} <= paths  # fmt: skip


def test_an_undeclared_console_route_stops_the_app() -> None:
    from fastapi import APIRouter

    from outreach.web.staff.guard import check_declared

    router = APIRouter()

    @router.get("/staff/{city}/forgotten")
    def forgotten(city: str) -> str:
        return city

    with pytest.raises(RuntimeError, match="declares no single policy"):
        check_declared(router.routes)


def expected(guard: Guard, person: str, city: str | None, method: str) -> set[int] | None:
    """The statuses allowed for a refusal, or None when the route must let the person in."""
    roles = PEOPLE[person]
    if isinstance(guard, Public):
        return None
    if isinstance(guard, Pending):  # no full session opens these
        return {303} if method in READS else {403}
    assert isinstance(guard, Require)
    if not roles:
        return {303} if method in READS else {403}
    if guard.permission is None:
        return None
    admin = roles.get("*") == "admin"
    if guard.city_param is None:
        return None if admin and guard.permission.value in MAY["admin"] else {403}
    assert city is not None
    role = "admin" if admin else roles.get(city)
    if city == "nowhere" or role is None:
        return {404}
    return None if guard.permission.value in MAY[role] else {403}


@pytest.fixture
def tokens(engine: Engine) -> dict[str, list[str]]:
    """Many live sessions per person (one per request: a sign-out ends its own)."""
    found: dict[str, list[str]] = {"anonymous": []}
    for person, roles in PEOPLE.items():
        if not roles:
            continue
        email = f"{person}@staff.fi"
        for city, role in roles.items():
            make_account(engine, email, role, None if city == "*" else city)
        with Session(engine) as s:
            user = s.query(StaffUser).filter_by(email=email).one()
            now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
            found[person] = [
                sessions.start(s, user, sessions.FULL, ip="127.0.0.1", now=now) for _ in range(400)
            ]
            s.commit()
    return found


@pytest.fixture
def issues(settings: Settings, engine: Engine) -> dict[str, int]:
    """A draft of each city's newsletter: ``{issue_id}`` is the path's city's own."""
    config = load(settings.campaigns_path, settings.templates_path)
    with Session(engine, expire_on_commit=False) as s:
        found = {
            city: make_city_issue(s, config, f"{city}-monthly").id
            for city in ("vantaa", "kerava", "jarvenpaa")
        }
        for city, issue_id in found.items():  # a story of each city with the issue's id
            make_story(s, city, story_id=issue_id)
        s.commit()
    # A subscriber of each city for ``{subscriber_id}``, kept apart from the issue ids.
    found.update({f"subscriber:{c}": make_subscriber(engine, settings, config, c) for c in CITIES})
    return found


def fill(path: str, city: str | None, issues: dict[str, int]) -> str:
    """A route's path with its parameters: the city, its issue, a language."""
    issue = issues.get(city or "", max(issues.values()) + 1)
    return (
        path.replace("{city}", city or "")
        .replace("{subscriber_id}", str(issues.get(f"subscriber:{city}", 10**9)))
        .replace("{name}", "none")
        .replace("{issue_id}", str(issue))
        .replace("{edition}", "fi")
        .replace("{item_id}", "1")
        .replace("{story_id}", str(issue))
        .replace("{slug}", f"{city}-monthly")  # a campaign of the path's city
        .replace("{key}", "0" * 64)  # no such source: a POST that passes the guard is 404
    )


@pytest.fixture
def no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue page's pre-flight check (run after a page answers) is not walked here."""
    from outreach.checks.report import Report

    monkeypatch.setattr("outreach.staff.issue_view.run_checks",
                        lambda s, st, c, issue, now: Report(issue.id, now, []))  # fmt: skip


def test_every_route_as_every_role_and_city(
    app: FastAPI,
    client: TestClient,
    tokens: dict[str, list[str]],
    issues: dict[str, int],
    no_check: None,
) -> None:
    form = client.get("/staff/signin")
    token, csrf_cookie = csrf_of(form.text), form.cookies["outreach_csrf"]
    checked = 0
    for (route, method, guard), person in product(console_routes(app), PEOPLE):
        cities: list[str | None] = CITY_VALUES if "{city}" in route.path else [None]
        for city in cities:
            path = fill(route.path, city, issues)
            client.cookies.clear()
            cookie = f"outreach_csrf={csrf_cookie}"
            if tokens[person]:
                cookie += f"; {COOKIE}={tokens[person].pop()}"
            headers = {"Cookie": cookie}
            if method in READS:
                answer = client.request(method, path, headers=headers, follow_redirects=False)
            else:
                answer = client.post(
                    path, data={"csrf_token": token}, headers=headers, follow_redirects=False
                )
            refusal = expected(guard, person, city, method)
            where = f"{method} {path} as {person}"
            if isinstance(guard, Public):  # the same for everyone; never a server error
                assert answer.status_code < 500, where
            elif refusal is None:
                assert answer.status_code not in (401, 403) and answer.status_code < 500, where
                if isinstance(guard, Require) and guard.city_param and method in READS:
                    assert answer.status_code == 200, where
            else:
                assert answer.status_code in refusal, f"{where}: {answer.status_code}"
                if answer.status_code == 303:
                    assert answer.headers["location"].startswith("/staff/signin"), where
            checked += 1
    assert checked > 100


def test_a_kerava_editor_sees_nothing_of_vantaa(
    app: FastAPI, client: TestClient, tokens: dict[str, list[str]], issues: dict[str, int]
) -> None:
    headers = {"Cookie": f"{COOKIE}={tokens['kerava-editor'].pop()}"}
    vantaa = [r.path for r, m, _ in console_routes(app) if "{city}" in r.path and m == "GET"]
    assert vantaa
    for path in vantaa:
        answer = client.get(fill(path, "vantaa", issues), headers=headers)
        if path.endswith(".css"):  # the colour is public, like the city's own site
            continue
        assert answer.status_code == 404, path
        assert "Vantaa" not in answer.text.split('<main id="main">')[1]
    home = client.get("/staff/", headers=headers)
    assert "/staff/kerava/" in home.text and "/staff/vantaa/" not in home.text


def test_keravas_pages_never_reach_vantaas_things(
    app: FastAPI,
    client: TestClient,
    tokens: dict[str, list[str]],
    issues: dict[str, int],
    settings: Settings,
    no_check: None,
) -> None:
    """Every route that names a thing (an issue, a subscriber, a campaign, a story, a
    source …) asked on Kerava's path about Vantaa's thing, by a Kerava editor: not
    found (or refused by role before it is looked up), and nothing of it shown."""
    from outreach.sources import key_of

    config = load(settings.campaigns_path, settings.templates_path)
    vantaa_key = key_of(next(iter(config.source_uses(["vantaa-monthly"]))))
    theirs = {
        **issues,
        "kerava": issues["vantaa"],
        "subscriber:kerava": issues["subscriber:vantaa"],
    }
    form = client.get("/staff/signin")
    token, csrf_cookie = csrf_of(form.text), form.cookies["outreach_csrf"]
    named = ("{issue_id}", "{subscriber_id}", "{slug}", "{story_id}", "{key}")
    checked = 0
    for route, method, guard in console_routes(app):
        if "{city}" not in route.path or not any(p in route.path for p in named):
            continue
        path = fill(route.path, "kerava", theirs).replace("kerava-monthly", "vantaa-monthly")
        path = path.replace("0" * 64, vantaa_key)
        headers = {
            "Cookie": f"outreach_csrf={csrf_cookie}; {COOKIE}={tokens['kerava-editor'].pop()}"
        }
        assert isinstance(guard, Require) and guard.permission is not None
        # a permission an editor lacks is refused first; otherwise the thing is not found
        wanted = 404 if guard.permission.value in MAY["editor"] else 403
        if method in READS:
            answer = client.request(method, path, headers=headers, follow_redirects=False)
        else:
            answer = client.post(path, data={"csrf_token": token}, headers=headers,
                                 follow_redirects=False)  # fmt: skip
        assert answer.status_code == wanted, f"{method} {path}: {answer.status_code}"
        body = answer.text.split('<main id="main">')[-1]
        assert "vantaa" not in body.lower() and "vanda" not in body.lower(), path
        checked += 1
    assert checked > 20
