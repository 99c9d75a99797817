"""CSRF and embed tokens, the token bucket, escaping, and bad POSTs to token pages."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.subscriptions import RecordingMailer
from outreach.web.security import (
    RateLimiter,
    csrf_ok,
    embed_token_valid,
    new_csrf_token,
    new_embed_token,
)
from tests.web.conftest import TestClient, csrf_of

SECRET = b"s" * 40


def test_csrf_double_submit() -> None:
    token = new_csrf_token(SECRET)
    assert csrf_ok(SECRET, token, token)
    assert not csrf_ok(SECRET, token, new_csrf_token(SECRET))
    assert not csrf_ok(SECRET, None, token) and not csrf_ok(SECRET, token, None)
    assert not csrf_ok(b"t" * 40, token, token)  # signed with another key
    unsigned = token.split(".")[0] + ".0"
    assert not csrf_ok(SECRET, unsigned, unsigned)  # a planted cookie without our signature


@given(st.text(max_size=120), st.text(max_size=120))
def test_csrf_rejects_anything_unsigned(cookie: str, field: str) -> None:
    assert not csrf_ok(SECRET, cookie, field)


def test_embed_token_expires_and_is_bound_to_the_city() -> None:
    token = new_embed_token(SECRET, "kerava", now=1_000_000)
    assert embed_token_valid(SECRET, "kerava", token, now=1_000_100)
    assert not embed_token_valid(SECRET, "vantaa", token, now=1_000_100)
    assert not embed_token_valid(SECRET, "kerava", token, now=1_000_000 + 7 * 3600)
    assert not embed_token_valid(SECRET, "kerava", "zz." + token.split(".")[1], now=1_000_100)


def test_token_bucket_refills_and_is_per_ip() -> None:
    limiter = RateLimiter({"form": (2, 1.0)}, max_keys=3)
    assert limiter.allow("form", "a", now=0) and limiter.allow("form", "a", now=0)
    assert not limiter.allow("form", "a", now=0.5)
    assert limiter.allow("form", "b", now=0.5)
    assert limiter.allow("form", "a", now=1.6)
    for ip in ("c", "d", "e"):
        limiter.allow("form", ip, now=2)
    assert len(limiter._buckets) == 3  # bounded: the oldest clients are forgotten


def test_html_is_escaped(client: TestClient, mailer: RecordingMailer) -> None:
    page = client.get("/vantaa/subscribe")
    resp = client.post(
        "/vantaa/subscribe",
        data={
            "email": "not-an-address",
            "company_name": '"><script>alert(1)</script>',
            "consent": "v",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert resp.status_code == 400
    assert "<script>" not in resp.text and "&lt;script&gt;" in resp.text
    assert 'aria-invalid="true"' in resp.text and 'role="alert"' in resp.text


def test_posts_with_bad_tokens_get_the_same_404(client: TestClient) -> None:
    token = csrf_of(client.get("/vantaa/subscribe").text)
    bodies = set()
    for path in ("/confirm/c1.1.AAAA", "/unsubscribe/u1.1.AAAA", "/preferences/p1.1.AAAA"):
        resp = client.post(path, data={"csrf_token": token, "cities": ["vantaa"]})
        assert resp.status_code == 404, path
        bodies.add(re.sub(r"/\w+/[cup]1\.1\.AAAA", "", resp.text))
    assert len(bodies) == 1


def test_preferences_rejects_a_bad_business_id(
    client: TestClient, mailer: RecordingMailer, engine: Engine
) -> None:
    from outreach.models import Subscription
    from outreach.subscriptions import token_for

    page = client.get("/kerava/subscribe")
    client.post(
        "/kerava/subscribe",
        data={
            "email": "p@y.fi",
            "topics": ["climate"],
            "consent": "v",
            "csrf_token": csrf_of(page.text),
        },
    )
    with Session(engine) as s:
        sub = s.query(Subscription).one()
        path = f"/preferences/{token_for(client.app.state.outreach.settings, sub, 'preferences')}"
    prefs = client.get(path)
    resp = client.post(
        path,
        data={"cities": ["kerava"], "business_id": "1234567-8", "csrf_token": csrf_of(prefs.text)},
    )
    assert resp.status_code == 400 and "Tarkista Y-tunnus" in resp.text
