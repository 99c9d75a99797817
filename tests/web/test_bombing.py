"""Subscription bombing: variants of one mailbox, IPv6 networks, reused embed tokens.

One mailbox gets at most one confirmation mail an hour and three a day, over
every city and every spelling of its address; the limit lives in the database,
so two web processes share it. The answer never tells whether a mail went.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request

from outreach.campaigns import load
from outreach.db import dispose_engines
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, SignUp, subscribe
from outreach.validation import canonical_mailbox
from outreach.web import create_app
from outreach.web.common import client_ip
from outreach.web.security import RateLimiter
from tests.web.conftest import TestClient, csrf_of

FORM = {"topics": ["climate"], "consent": "2026-11-v1"}
VARIANTS = [
    "matti.meikalainen@gmail.com",
    "mattimeikalainen+vantaa@gmail.com",
    "Matti.Meikalainen+x@googlemail.com",
    "m.a.t.t.i.meikalainen@GMAIL.com",
    "mattimeikalainen+1@googlemail.com",
]


def _post(client: TestClient, city: str, email: str) -> str:
    token = csrf_of(client.get(f"/{city}/subscribe?lang=fi").text)
    data = {**FORM, "email": email, "csrf_token": token}
    resp = client.post(f"/{city}/subscribe?lang=fi", data=data)
    assert resp.status_code == 200
    return re.sub(r'value="[^"]*"', "", resp.text).replace(email.lower(), "EMAIL")


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        ("Matti.M+uutiset@GoogleMail.com", "mattim@gmail.com"),
        ("m.a.t.t.i@gmail.com", "matti@gmail.com"),
        ("matti.m+a+b@yritys.fi", "matti.m@yritys.fi"),  # dots matter elsewhere
        ("+tag@yritys.fi", "+tag@yritys.fi"),  # nothing left without the tag: kept
        ("matti@faß.de", "matti@xn--fa-hia.de"),
    ],
)
def test_canonical_mailbox(address: str, mailbox: str) -> None:
    assert canonical_mailbox(address) == mailbox


def test_variants_in_three_cities_get_one_mail_and_the_same_answer(
    client: TestClient, mailer: RecordingMailer
) -> None:
    cities = ("vantaa", "kerava", "jarvenpaa")
    answers = {city: {_post(client, city, email) for email in VARIANTS} for city in cities}
    assert len(mailer.sent) == 1
    assert all(len(pages) == 1 for pages in answers.values())  # mailed or not, the same page


def test_the_cap_holds_across_web_processes(
    settings: Settings, engine: Engine, limiter: RateLimiter
) -> None:
    mailers = [RecordingMailer(), RecordingMailer()]
    apps = [create_app(settings, mailer=m, rate_limiter=limiter) for m in mailers]
    with (
        TestClient(apps[0], base_url="https://testserver") as one,
        TestClient(apps[1], base_url="https://testserver") as two,
    ):
        for i, email in enumerate(VARIANTS):
            _post(one if i % 2 else two, "vantaa" if i < 2 else "kerava", email)
    assert len(mailers[0].sent) + len(mailers[1].sent) == 1
    dispose_engines()


def test_one_an_hour_and_three_a_day_per_mailbox(settings: Settings, engine: Engine) -> None:
    config = load(settings.campaigns_path)
    mailer = RecordingMailer()
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    addresses = iter(f"mattimeikalainen+{i}@gmail.com" for i in range(100))

    def attempt(minutes: float) -> bool:
        signup = SignUp.clean(config, "vantaa", email=next(addresses), topics=["climate"])
        with Session(engine) as s:
            outcome = subscribe(
                s, settings, config, "vantaa", signup, mailer,
                now=start + timedelta(minutes=minutes),
            )  # fmt: skip
            s.commit()
        return outcome.mailed

    sent = [m for m in (0, 10, 59, 60, 61, 119, 120, 180, 240, 600, 1439, 1441) if attempt(m)]
    # 0, 60 and 120 fill the day's three; the next window opens 24 h after the first
    assert sent == [0, 60, 120, 1441]
    assert len(mailer.sent) == 4


def test_an_embed_token_works_once(client: TestClient, mailer: RecordingMailer) -> None:
    page = client.get("/kerava/embed")
    token = re.search(r'name="embed_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
    codes = [
        client.post(
            "/kerava/embed", data={**FORM, "email": f"e{i}@yritys.fi", "embed_token": token}
        ).status_code
        for i in range(50)
    ]
    assert codes == [200] + [403] * 49
    assert [m.to for m in mailer.sent] == ["e0@yritys.fi"]
    again = client.get("/kerava/embed")
    fresh = re.search(r'name="embed_token" value="([^"]+)"', again.text)[1]  # type: ignore[index]
    assert fresh != token


def _request_from(host: str) -> Request:
    return Request({"type": "http", "client": (host, 1234), "headers": [], "path": "/"})


def test_rate_limits_count_an_ipv6_slash_64_as_one_client() -> None:
    same = {client_ip(_request_from(f"2001:db8:1:2::{i:x}")) for i in range(1, 500)}
    assert same == {"2001:db8:1:2::/64"}
    assert client_ip(_request_from("2001:db8:1:3::1")) != client_ip(
        _request_from("2001:db8:1:2::1")
    )
    assert client_ip(_request_from("::ffff:192.0.2.7")) == "192.0.2.7"
    assert client_ip(_request_from("192.0.2.7")) == "192.0.2.7"


@pytest.fixture
def ipv6_app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    yield create_app(
        settings, mailer=RecordingMailer(), rate_limiter=RateLimiter({"form": (3, 0.001)})
    )
    dispose_engines()


def test_a_whole_ipv6_network_shares_one_form_limit(ipv6_app: FastAPI) -> None:
    codes = []
    for i in range(6):
        with TestClient(
            ipv6_app, base_url="https://testserver", client=(f"2001:db8::{i + 1:x}", 5000)
        ) as c:
            token = csrf_of(c.get("/vantaa/subscribe").text)
            data = {**FORM, "email": f"v6-{i}@yritys.fi", "csrf_token": token}
            codes.append(c.post("/vantaa/subscribe", data=data).status_code)
    assert codes == [200, 200, 200, 429, 429, 429]
