"""Authorisation of every /api/v1 route, for a key of each city and the all-cities key.

The routes are read from the app, so a new route without a check here fails
``test_every_api_route_has_an_authorisation_check``. For each route and key
the same world is built (people held by one city, by two, and an unknown
address), every request that route takes is made, and for a city's key:

- the answer carries nothing of another city (no other city's subscription,
  none of the person's shared details, no sign of whether another city holds
  the address: creating a subscription answers alike for a new and a known
  person),
- nothing another city holds changes, nor the person's shared details.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from outreach.campaigns import load
from outreach.db import dispose_engines
from outreach.models import Base, City, ConsentRecord, Subscriber, Subscription, Suppression
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, SignUp, add_subscriber, create_api_key
from outreach.web import create_app
from outreach.web.security import RateLimiter
from tests.web.conftest import TestClient

CITIES = ("vantaa", "kerava", "jarvenpaa")
KEYS = ("all", *CITIES)
#: Who holds whom: one person per city, one shared by two cities.
PEOPLE: dict[str, tuple[str, ...]] = {
    "v@hold.fi": ("vantaa",),
    "k@hold.fi": ("kerava",),
    "j@hold.fi": ("jarvenpaa",),
    "vk@hold.fi": ("vantaa", "kerava"),
}
UNKNOWN = "nobody@hold.fi"
TARGETS = (*PEOPLE, UNKNOWN)


def _company(email: str) -> str:
    return f"Salainen {email.split('@')[0].upper()} Oy"


def _contact(email: str) -> str:
    return f"Sven {email.split('@')[0].upper()}"


@dataclass
class World:
    client: TestClient
    engine: Engine
    keys: dict[str, str]

    def call(self, key: str, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        return self.client.request(method, path, json=body, headers=headers)


def _build(engine: Engine, settings: Settings) -> dict[str, str]:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    config = load(settings.campaigns_path)
    keys: dict[str, str] = {}
    with Session(engine) as s:
        keys["all"] = create_api_key(s, "all cities")[1]
        for city in CITIES:
            keys[city] = create_api_key(s, f"{city} crm", [city])[1]
        for email, cities in PEOPLE.items():
            for city in cities:
                signup = SignUp.clean(config, city, email=email, topics=["climate"])
                add_subscriber(
                    s, settings, config, city, signup, None,
                    confirmed=True, consent_note="contract", channel="test",
                )  # fmt: skip
            s.execute(
                update(Subscriber)
                .where(Subscriber.email == email)
                .values(
                    company_name=_company(email), contact_name=_contact(email),
                    business_id="0112038-9", industry_code="62010", size_class="small",
                    language="sv" if "vantaa" in cities else "fi", interested_in_visit=True,
                )
            )  # fmt: skip
        s.commit()
    return keys


@pytest.fixture
def make_world(settings: Settings, engine: Engine) -> Iterator[Callable[[], World]]:
    """A fresh world per call: the first is built, each later one is the SQLite file put
    back to that first world, page for page (the backup API), instead of building anew."""
    app = create_app(
        settings,
        mailer=RecordingMailer(),
        rate_limiter=RateLimiter({"api": (100_000, 1000.0), "form": (100_000, 1000.0)}),
    )
    path = make_url(settings.database_url).database
    assert path, settings.database_url
    snapshot = sqlite3.connect(":memory:")
    keys: dict[str, str] = {}
    with TestClient(app, base_url="https://testserver") as client:

        def build() -> World:
            with contextlib.closing(sqlite3.connect(path)) as live:
                if keys:
                    snapshot.backup(live)
                else:
                    keys.update(_build(engine, settings))
                    live.backup(snapshot)
            return World(client, engine, dict(keys))

        yield build
    snapshot.close()
    dispose_engines()


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every route with its full path, into included routers (FastAPI keeps those
    as wrappers around the original router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes, prefix + route.include_context.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = []
    for path, route in _walk(app.routes):
        if not path.startswith("/api/"):
            continue
        assert isinstance(route, APIRoute), f"{path} is not an APIRoute"
        found += [(method, path) for method in sorted(route.methods)]
    return found


# --- what a key may see and change --------------------------------------------------


def cities_of(key: str) -> set[str]:
    return set(CITIES) if key == "all" else {key}


def sees(key: str, email: str) -> bool:
    return bool(cities_of(key) & set(PEOPLE.get(email, ())))


def held_by_others(engine: Engine, key: str) -> dict[str, Any]:
    """Everything a key of ``key`` must leave as it is."""
    own = cities_of(key)
    with Session(engine) as s:
        people = {
            p.email: (
                p.company_name, p.business_id, p.contact_name, p.size_class,
                p.industry_code, p.language, p.interested_in_visit,
            )
            for p in s.scalars(select(Subscriber))
        }  # fmt: skip
        subs = {
            (sub.subscriber.email, sub.city.slug): (
                sub.status, sorted(sub.topics), sub.confirmed_at, sub.unsubscribed_at,
                sub.confirmation_sent_at, sub.token_salt, sub.channel,
            )
            for sub in s.scalars(select(Subscription))
            if sub.city.slug not in own
        }  # fmt: skip
        consents = sorted(
            (c.subscription_id, c.action, c.channel, c.detail)
            for c, slug in s.execute(
                select(ConsentRecord, City.slug)
                .join(Subscription, ConsentRecord.subscription_id == Subscription.id)
                .join(City, Subscription.city_id == City.id)
            )
            if slug not in own
        )
        suppressions = sorted(s.scalars(select(Suppression.email_hash)))
    return {"people": people, "subs": subs, "consents": consents, "suppressions": suppressions}


def assert_nothing_of_others(key: str, answer: Any, before: dict[str, Any], world: World) -> None:
    """A city key's answer names only its cities and none of the shared details, and
    nothing it must not change has changed (new people it created aside)."""
    if key == "all":
        return
    text = answer.text
    for email in PEOPLE:
        assert _company(email) not in text and _contact(email) not in text, text
    assert "0112038-9" not in text and "62010" not in text
    is_json = answer.headers.get("content-type", "").startswith("application/json")
    data = answer.json() if is_json else None
    items = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    for item in items:
        if "subscriptions" in item:
            assert {s["city"] for s in item["subscriptions"]} <= cities_of(key), item
            assert item["id"] is None and item["company_name"] is None
    after = held_by_others(world.engine, key)
    kept = {e: v for e, v in after["people"].items() if e in before["people"]}
    assert kept == before["people"], "a city key changed a person's shared details"
    assert after["subs"] == before["subs"], "a city key changed another city's subscription"
    assert after["consents"] == before["consents"]
    assert after["suppressions"] == before["suppressions"]


def _no_timestamps(data: Any) -> Any:
    text = re.sub(r'"(created_at|confirmed_at|unsubscribed_at)":\s*"[^"]*"', '"t": 0', data)
    return re.sub(r"[a-z]+@hold\.fi", "EMAIL", text)


# --- one check per route ----------------------------------------------------------------

Check = Callable[[Callable[[], World], str], None]


def check_list(make: Callable[[], World], key: str) -> None:
    world = make()
    before = held_by_others(world.engine, key)
    for query in ("", "?status=confirmed", "?status=pending", "?limit=1000"):
        resp = world.call(key, "GET", f"/api/v1/subscribers{query}")
        assert resp.status_code == 200
        expected = sorted(e for e in PEOPLE if sees(key, e)) if "pending" not in query else []
        assert sorted(x["email"] for x in resp.json()) == expected, (key, query)
        assert_nothing_of_others(key, resp, before, world)
    for city in CITIES:
        resp = world.call(key, "GET", f"/api/v1/subscribers?city={city}")
        assert resp.status_code == (200 if city in cities_of(key) else 403)
        assert_nothing_of_others(key, resp, before, world)


def check_read(make: Callable[[], World], key: str) -> None:
    world = make()
    before = held_by_others(world.engine, key)
    unknown = world.call(key, "GET", f"/api/v1/subscribers/{UNKNOWN}")
    assert unknown.status_code == 404
    for email in PEOPLE:
        resp = world.call(key, "GET", f"/api/v1/subscribers/{email}")
        if sees(key, email):
            assert resp.status_code == 200
            if key == "all":
                assert resp.json()["company_name"] == _company(email)
        else:  # another city's person answers exactly as an unknown address
            assert resp.status_code == 404 and resp.json() == unknown.json()
        assert_nothing_of_others(key, resp, before, world)


def check_patch_person(make: Callable[[], World], key: str) -> None:
    for email in TARGETS:
        world = make()
        before = held_by_others(world.engine, key)
        body = {"company_name": "Vaihdettu Oy", "language": "fi", "interested_in_visit": False}
        resp = world.call(key, "PATCH", f"/api/v1/subscribers/{email}", body)
        if key != "all":  # shared details: only the all-cities key (or the person)
            assert resp.status_code == 403, (key, email)
        elif email in PEOPLE:
            assert resp.status_code == 200 and resp.json()["company_name"] == "Vaihdettu Oy"
        else:
            assert resp.status_code == 404
        assert_nothing_of_others(key, resp, before, world)


def check_erase(make: Callable[[], World], key: str) -> None:
    for email in TARGETS:
        world = make()
        before = held_by_others(world.engine, key)
        resp = world.call(key, "DELETE", f"/api/v1/subscribers/{email}")
        if key != "all":
            assert resp.status_code == 403, (key, email)
            assert_nothing_of_others(key, resp, before, world)
        else:
            assert resp.status_code == (204 if email in PEOPLE else 404)


def check_create(make: Callable[[], World], key: str) -> None:
    for city in CITIES:
        answers: dict[str, str] = {}
        for email in TARGETS:
            world = make()
            before = held_by_others(world.engine, key)
            body = {
                "email": email, "company_name": "Hyökkääjä Oy", "language": "fi",
                "contact_name": "Eve", "interested_in_visit": False,
                "subscriptions": [{"city": city, "topics": ["awards"]}],
            }  # fmt: skip
            resp = world.call(key, "POST", "/api/v1/subscribers", body)
            if city not in cities_of(key):
                assert resp.status_code == 403, (key, city, email)
            else:
                assert resp.status_code == 201, resp.text
                answers[email] = _no_timestamps(resp.text)
            assert_nothing_of_others(key, resp, before, world)
        if key != "all" and answers:
            # a new address and a person already held (by this or another city) alike,
            # unless this city already held them (then it sees its own subscription)
            elsewhere = [e for e in PEOPLE if city not in PEOPLE[e]]
            assert {answers[e] for e in [*elsewhere, UNKNOWN]} == {answers[UNKNOWN]}


def check_add_city(make: Callable[[], World], key: str) -> None:
    for email in TARGETS:
        for city in CITIES:
            world = make()
            before = held_by_others(world.engine, key)
            path = f"/api/v1/subscribers/{email}/subscriptions"
            resp = world.call(key, "POST", path, {"city": city, "topics": ["awards"]})
            if city not in cities_of(key):
                assert resp.status_code == 403, (key, email, city)
            elif not sees(key, email):
                assert resp.status_code == 404
            else:
                assert resp.status_code == 201, resp.text
                assert city in {s["city"] for s in resp.json()["subscriptions"]}
            assert_nothing_of_others(key, resp, before, world)


def _check_subscription(method: str, body: Any) -> Check:
    def check(make: Callable[[], World], key: str) -> None:
        for email in TARGETS:
            for city in CITIES:
                world = make()
                before = held_by_others(world.engine, key)
                path = f"/api/v1/subscribers/{email}/subscriptions/{city}"
                resp = world.call(key, method, path, body)
                if city not in cities_of(key):
                    assert resp.status_code == 403, (key, email, city)
                elif city in PEOPLE.get(email, ()):
                    assert resp.status_code == 200, resp.text
                else:
                    assert resp.status_code == 404
                assert_nothing_of_others(key, resp, before, world)

    return check


def _check_stats(suffix: str) -> Check:
    """The read-only figures of ``/api/v1/stats/{city}{suffix}``: a city's key gets its
    own city's (a 404 for an issue it does not have) and 403 for any other."""

    def check(make: Callable[[], World], key: str) -> None:
        world = make()
        for city in CITIES:
            resp = world.call(key, "GET", f"/api/v1/stats/{city}{suffix}")
            if city not in cities_of(key):
                assert resp.status_code == 403, (key, city)
                assert "tables" not in resp.text and "rows" not in resp.text
            elif suffix.startswith("/issues/"):
                assert resp.status_code == 404, resp.text  # the world has no issues
            else:
                assert resp.status_code == 200, resp.text
                assert resp.json()["city"] == city

    return check


def check_region(make: Callable[[], World], key: str) -> None:
    world = make()
    resp = world.call(key, "GET", "/api/v1/stats/region")
    if key == "all":
        rows = resp.json()["tables"]["region"]["rows"]
        assert [r["city"] for r in rows] == [*sorted(CITIES), "*"]
    else:
        assert resp.status_code == 403 and "tables" not in resp.text


CHECKS: dict[tuple[str, str], Check] = {
    ("GET", "/api/v1/stats/{city}"): _check_stats(""),
    ("GET", "/api/v1/stats/{city}/indicators"): _check_stats("/indicators"),
    ("GET", "/api/v1/stats/{city}/issues/{issue_id}"): _check_stats("/issues/1"),
    ("GET", "/api/v1/stats/region"): check_region,
    ("GET", "/api/v1/subscribers"): check_list,
    ("POST", "/api/v1/subscribers"): check_create,
    ("GET", "/api/v1/subscribers/{email}"): check_read,
    ("PATCH", "/api/v1/subscribers/{email}"): check_patch_person,
    ("DELETE", "/api/v1/subscribers/{email}"): check_erase,
    ("POST", "/api/v1/subscribers/{email}/subscriptions"): check_add_city,
    ("PATCH", "/api/v1/subscribers/{email}/subscriptions/{city}"): _check_subscription(
        "PATCH", {"topics": ["awards"]}
    ),
    ("DELETE", "/api/v1/subscribers/{email}/subscriptions/{city}"): _check_subscription(
        "DELETE", None
    ),
}


def test_every_api_route_has_an_authorisation_check(settings: Settings, engine: Engine) -> None:
    routes = api_routes(create_app(settings, mailer=RecordingMailer()))
    dispose_engines()
    assert routes, "no /api/ routes found"
    missing = [r for r in routes if r not in CHECKS]
    assert not missing, f"routes without an authorisation check: {missing}"
    assert set(CHECKS) <= set(routes), "checks for routes that no longer exist"


@pytest.mark.slow
@pytest.mark.parametrize("key", KEYS)
def test_each_key_sees_and_changes_only_its_cities(
    make_world: Callable[[], World], key: str, settings: Settings
) -> None:
    app = create_app(settings, mailer=RecordingMailer())
    for route in api_routes(app):
        CHECKS[route](make_world, key)


def test_a_city_key_cannot_turn_another_citys_newsletter_swedish(
    make_world: Callable[[], World], engine: Engine
) -> None:
    """The finding: Kerava's key adds itself to a Vantaa person, then edits them."""
    world = make_world()
    body = {
        "email": "v@hold.fi", "company_name": "Kerava Oy", "language": "fi",
        "subscriptions": [{"city": "kerava", "topics": ["climate"]}],
    }  # fmt: skip
    created = world.call("kerava", "POST", "/api/v1/subscribers", body)
    assert created.status_code == 201
    assert _company("v@hold.fi") not in created.text
    patched = world.call("kerava", "PATCH", "/api/v1/subscribers/v@hold.fi", {"language": "sv"})
    assert patched.status_code == 403
    with Session(engine) as s:
        person = s.scalars(select(Subscriber).where(Subscriber.email == "v@hold.fi")).one()
        assert (person.company_name, person.language) == (_company("v@hold.fi"), "sv")
