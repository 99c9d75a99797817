"""The access log of a real server keeps no capability token and no e-mail address,
and every response says ``X-Content-Type-Options: nosniff``."""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from outreach.settings import Settings
from outreach.web.middleware import redact_target, secret_routes
from tests.scheduler.helpers import wait_for
from tests.scheduler.outage import serve
from tests.web.test_server import free_port


def test_the_access_log_of_a_running_server_has_no_tokens_or_addresses(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    tokens = [f"{i}.{secrets.token_urlsafe(18)}" for i in range(7)]
    emails = ["anna.virtanen@yritys.fi", "pekka+uutiset@firma.fi", "liisa@oy.fi", "o@ab.fi"]
    requests = [
        ("GET", f"/confirm/{tokens[0]}"),
        ("POST", f"/unsubscribe/{tokens[1]}"),
        ("GET", f"/preferences/{tokens[2]}?lang=sv"),
        ("POST", f"/preferences/{tokens[3]}/data"),
        ("GET", f"/export/{tokens[4]}"),
        ("GET", f"/confirm/{tokens[5]}/more"),  # no such route, still a token
        ("GET", f"/unsubscribe/{tokens[6]}?token={tokens[6]}"),
        ("GET", "/api/v1/subscribers/anna.virtanen%40yritys.fi"),
        ("DELETE", "/api/v1/subscribers/anna.virtanen@yritys.fi/subscriptions/vantaa"),
        ("GET", "/api/v1/subscribers?email=pekka%2Buutiset%40firma.fi&city=vantaa"),
        ("GET", "/vantaa/subscribe?lang=fi&email=liisa@oy.fi"),
        ("GET", "/vantaa/o@ab.fi/archive"),
        ("GET", "/healthz"),
    ]
    port = free_port()
    proc = serve(settings, tmp_path, port)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code in (200, 503)
        except httpx.TransportError:
            return False

    try:
        assert wait_for(up, 20), "the server did not start"
        with httpx.Client(base_url=base, timeout=5) as client:
            for method, path in requests:
                client.request(method, path)
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=15)
    access = [line for line in output.splitlines() if "HTTP/1.1" in line]
    assert len(access) >= len(requests), output  # the access log is on, one line a request
    for secret in tokens + emails:
        for form in {secret, secret.replace("@", "%40"), secret.replace("+", "%2B")}:
            assert form not in output
    assert "%40" not in output and "@" not in output
    for expected in (
        '"GET /confirm/[token] HTTP/1.1" 404',
        '"POST /unsubscribe/[token] HTTP/1.1"',
        '"GET /preferences/[token]?lang=sv HTTP/1.1"',
        '"POST /preferences/[token]/data HTTP/1.1"',
        '"GET /export/[token] HTTP/1.1"',
        '"GET /confirm/[redacted] HTTP/1.1"',
        '"GET /unsubscribe/[token]?token=[redacted] HTTP/1.1"',
        '"GET /api/v1/subscribers/[email] HTTP/1.1" 401',
        '"DELETE /api/v1/subscribers/[email]/subscriptions/vantaa HTTP/1.1"',
        '"GET /api/v1/subscribers?email=[redacted]&city=vantaa HTTP/1.1"',
        '"GET /vantaa/subscribe?lang=fi&email=[redacted] HTTP/1.1"',
        '"GET /vantaa/[email]/archive HTTP/1.1"',
        '"GET /healthz HTTP/1.1"',
    ):
        assert any(expected in line for line in access), (expected, access)


def test_redaction_leaves_other_paths_alone(client: TestClient) -> None:
    routes = secret_routes(client.app.routes)  # type: ignore[attr-defined]
    assert redact_target("/vantaa/archive/12?lang=sv", routes) == "/vantaa/archive/12?lang=sv"
    assert redact_target("/static/web.css", routes) == "/static/web.css"
    assert redact_target("/api/v1/subscribers?limit=5", routes) == "/api/v1/subscribers?limit=5"


def test_every_response_says_nosniff(client: TestClient) -> None:
    answers = {
        "openapi": client.get("/openapi.json"),
        "static": client.get("/static/web.css"),
        "api 401": client.get("/api/v1/subscribers"),
        "api 422": client.get("/api/v1/subscribers?limit=x", headers={"X-API-Key": "x"}),
        "healthz": client.get("/healthz"),
        "page": client.get("/vantaa/subscribe"),
        "404": client.get("/no/such/page"),
    }
    missing = [
        name for name, r in answers.items() if r.headers.get("x-content-type-options") != "nosniff"
    ]
    assert missing == []
    assert answers["openapi"].status_code == 200
    assert answers["static"].status_code == 200


def test_healthz_warns_of_an_outdated_runtime_and_stays_healthy(
    settings: Settings, engine: Engine
) -> None:
    from outreach.runtime import outdated
    from outreach.web import create_app

    old = create_app(settings, runtime=lambda: outdated((3, 11, 7), "expat_2.5.0"))
    with TestClient(old) as client:
        reply = client.get("/healthz")
    assert reply.status_code == 200
    warnings = reply.json()["warnings"]
    assert len(warnings) == 2
    assert warnings[0].startswith("Python 3.11.7 is older than 3.11.10, which fixes CVE-2023-27043")
    assert warnings[1].startswith("expat 2.5.0 is older than 2.6.0")
    patched = create_app(settings, runtime=lambda: outdated((3, 11, 14), "expat_2.7.1"))
    with TestClient(patched) as client:
        assert client.get("/healthz").json()["warnings"] == []
