"""What a request costs before its answer: the same work for every address, and a
body cap checked before any byte of an oversized body is read."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from outreach.db import dispose_engines
from outreach.models import Subscription, SubscriptionStatus, Suppression
from outreach.settings import Settings
from outreach.subscriptions import RecordingMailer, create_api_key
from outreach.suppression import suppression_key
from outreach.validation import email_hash
from outreach.web import create_app
from outreach.web.bodylimit import MAX_BODY
from outreach.web.security import RateLimiter
from tests.web.conftest import TestClient, csrf_of

FORM = {"topics": ["climate"], "consent": "2026-11-v1"}


class StatementsBeforeAnswer:
    """ASGI wrapper: the SQL statements the app ran before it started its answer."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.statements: list[str] = []
        self.at_answer: list[str] | None = None
        engine = app.state.outreach.engine
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def watch(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.at_answer = list(self.statements)
            await send(message)

        self.statements.clear()
        self.at_answer = None
        await self.app(scope, receive, watch)


@pytest.fixture
def watched(settings: Settings, engine: Engine) -> Iterator[tuple[StatementsBeforeAnswer, Any]]:
    mailer = RecordingMailer()
    app = create_app(settings, mailer=mailer, rate_limiter=RateLimiter({"form": (10_000, 100.0)}))
    yield StatementsBeforeAnswer(app), mailer
    dispose_engines()


def _prepare_known_addresses(engine: Engine, settings: Settings, client: TestClient) -> None:
    token = csrf_of(client.get("/vantaa/subscribe").text)
    for email in ("pending@yritys.fi", "confirmed@yritys.fi"):
        client.post("/vantaa/subscribe", data={**FORM, "email": email, "csrf_token": token})
    with Session(engine) as s:
        for sub in s.scalars(select(Subscription)):
            if sub.subscriber.email.startswith("confirmed"):
                sub.status = SubscriptionStatus.CONFIRMED
        s.add(Suppression(email_hash=email_hash("gone@yritys.fi", suppression_key(settings)),
                          reason="complaint"))  # fmt: skip
        s.commit()


@pytest.mark.parametrize("path", ["/vantaa/subscribe", "/vantaa/embed"])
def test_new_and_known_addresses_do_the_same_work_before_the_answer(
    watched: tuple[StatementsBeforeAnswer, RecordingMailer],
    engine: Engine,
    settings: Settings,
    path: str,
) -> None:
    app, mailer = watched
    with TestClient(app, base_url="https://testserver") as client:
        _prepare_known_addresses(engine, settings, client)
        mailer.sent.clear()
        work: dict[str, list[str] | None] = {}
        pages: dict[str, str] = {}
        for email in ("new@yritys.fi", "pending@yritys.fi", "confirmed@yritys.fi",
                      "gone@yritys.fi"):  # fmt: skip
            page = client.get(path).text
            if path.endswith("embed"):
                token = re.search(r'name="embed_token" value="([^"]+)"', page)[1]  # type: ignore[index]
                data = {**FORM, "email": email, "embed_token": token}
            else:
                data = {**FORM, "email": email, "csrf_token": csrf_of(page)}
            resp = client.post(path, data=data)
            assert resp.status_code == 200
            work[email] = app.at_answer
            pages[email] = re.sub(r'value="[^"]*"', "", resp.text).replace(email, "X")
    assert len({json.dumps(w) for w in work.values()}) == 1, work
    assert len(set(pages.values())) == 1
    assert [m.to for m in mailer.sent] == ["new@yritys.fi"]  # the work still happens, later


# --- the body cap -------------------------------------------------------------------------


def _asgi(app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]],
          chunks: list[bytes]) -> tuple[int, bytes, int]:  # fmt: skip
    """Run one request through the ASGI app; the status, the body and how many chunks
    of the request body the app asked for."""
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if asked <= len(chunks):
            return {"type": "http.request", "body": chunks[asked - 1],
                    "more_body": asked < len(chunks)}  # fmt: skip
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "https", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 5000), "server": ("testserver", 443),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, asked


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[FastAPI]:
    yield create_app(settings, mailer=RecordingMailer())
    dispose_engines()


def _all_routes(app: FastAPI) -> list[tuple[str, str]]:
    spec = app.openapi()["paths"]
    routes = [(m.upper(), p) for p, ops in spec.items() for m in ops]
    routes += [("POST", "/vantaa/subscribe"), ("POST", "/vantaa/embed"),
               ("POST", "/stories/submit"), ("POST", "/unsubscribe/u1.1.x"),
               ("POST", "/preferences/p1.1.x"), ("GET", "/healthz"),
               ("GET", "/static/web.css")]  # fmt: skip
    return routes


def test_a_declared_oversized_body_is_refused_before_a_byte_is_read(app: FastAPI) -> None:
    huge = str(50 * 1024 * 1024).encode()
    for method, path in _all_routes(app):
        path = path.replace("{email}", "a@b.fi").replace("{city}", "vantaa")
        headers = [(b"content-length", huge), (b"content-type", b"application/json")]
        status, body, asked = _asgi(app, method, path, headers, [b"x" * 1024] * 4)
        assert (status, asked) == (413, 0), (method, path, status, asked)
        if path.startswith("/api/"):
            assert json.loads(body)["detail"].startswith("the request body is larger than")


def test_the_cap_comes_before_the_key_check(app: FastAPI, engine: Engine) -> None:
    """No key: still 413, not a 401 after reading 50 MB."""
    headers = [(b"content-length", str(MAX_BODY + 1).encode())]
    status, _, asked = _asgi(app, "POST", "/api/v1/subscribers", headers, [b"{"])
    assert (status, asked) == (413, 0)


def test_a_streamed_body_stops_at_the_cap(app: FastAPI, engine: Engine) -> None:
    with Session(engine) as s:
        _, key = create_api_key(s, "crm")
        s.commit()
    chunk = b" " * 16 * 1024
    headers = [(b"authorization", f"Bearer {key}".encode()),
               (b"content-type", b"application/json")]  # fmt: skip
    status, body, asked = _asgi(app, "POST", "/api/v1/subscribers", headers, [chunk] * 1000)
    assert status == 413 and asked <= MAX_BODY // len(chunk) + 1
    assert "larger than" in json.loads(body)["detail"]
    form = [(b"content-type", b"application/x-www-form-urlencoded")]
    status, page, asked = _asgi(app, "POST", "/vantaa/subscribe", form, [b"a=" + chunk] * 1000)
    assert status == 413 and asked <= MAX_BODY // len(chunk) + 1
    assert "Pyyntö on liian suuri" in page.decode() or "too large" in page.decode()


def test_a_form_over_the_cap_gets_a_localised_page(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/vantaa/subscribe?lang=sv")
        data = {**FORM, "email": "a@b.fi", "company_name": "x" * 70_000,
                "csrf_token": csrf_of(page.text)}  # fmt: skip
        resp = client.post("/vantaa/subscribe?lang=sv", data=data)
    assert resp.status_code == 413
    assert "Begäran är för stor" in resp.text and "text/html" in resp.headers["content-type"]


def test_a_body_under_the_cap_passes(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        page = client.get("/vantaa/subscribe")
        data = {**FORM, "email": "a@b.fi", "company_name": "x" * 150,
                "csrf_token": csrf_of(page.text)}  # fmt: skip
        assert client.post("/vantaa/subscribe", data=data).status_code == 200
