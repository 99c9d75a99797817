"""Signing in to the console: password, TOTP, sessions, CSRF, redirects, brute force."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach.models import AuditEvent, StaffSession, StaffUser
from outreach.staff import secrets as staff_secrets
from outreach.web.staff.guard import COOKIE
from tests.staff.support import PASSWORD, Clock, code, csrf_of, make_account
from tests.web.conftest import TestClient

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def sign_in(client: TestClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    form = client.get("/staff/signin?lang=en")
    data = {"email": email, "password": password, "csrf_token": csrf_of(form.text), **extra}
    return client.post("/staff/signin?lang=en", data=data, follow_redirects=False)


def submit_code(client: TestClient, page_url: str, value: str) -> Any:
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    data = {"code": value, "csrf_token": csrf_of(page.text), "next": "/staff/"}
    return client.post("/staff/signin/code?lang=en", data=data, follow_redirects=False)


@pytest.fixture
def editor(engine: Engine) -> str:
    make_account(engine, "eeva@kerava.fi", "editor", "kerava")
    return "eeva@kerava.fi"


def test_password_sign_in_opens_the_dashboard_with_a_strict_cookie(
    client: TestClient, editor: str
) -> None:
    done = sign_in(client, editor, next="/staff/kerava/")
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/kerava/?lang=en"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for flag in ("HttpOnly", "Secure", "Path=/staff", "SameSite=lax"):
        assert flag in cookie
    board = client.get("/staff/kerava/?lang=en")
    assert board.status_code == 200 and "Dashboard: Kerava" in board.text
    csp = board.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp


def test_without_a_session_a_page_sends_to_sign_in_and_a_post_is_refused(
    client: TestClient,
) -> None:
    page = client.get("/staff/kerava/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/staff/signin?next=/staff/kerava/"
    form = client.get("/staff/signin")
    posted = client.post("/staff/signout", data={"csrf_token": csrf_of(form.text)})
    assert posted.status_code == 403


def test_the_page_asked_for_keeps_its_query_through_sign_in(
    client: TestClient, editor: str
) -> None:
    asked = client.get("/staff/kerava/subscribers?q=virtanen&status=confirmed&lang=fi",
                       follow_redirects=False)  # fmt: skip
    assert asked.status_code == 303
    location = asked.headers["location"]
    assert location == (
        "/staff/signin?next=/staff/kerava/subscribers%3Fq%3Dvirtanen%26status%3Dconfirmed&lang=fi"
    )
    form = client.get(location)
    carried = re.search(r'name="next" value="([^"]*)"', form.text)
    assert carried is not None  # the form carries the page on, as a browser posts it
    page = html.unescape(carried[1])
    assert page == "/staff/kerava/subscribers?q=virtanen&status=confirmed"
    data = {"email": editor, "password": PASSWORD, "csrf_token": csrf_of(form.text), "next": page}
    done = client.post("/staff/signin?lang=fi", data=data, follow_redirects=False)
    assert done.headers["location"] == f"{page}&lang=fi"


def test_unknown_address_and_wrong_password_get_the_same_answer_and_work(
    client: TestClient, editor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    real = staff_secrets.HASHER

    class Counting:
        def verify(self, stored: str, password: str) -> bool:
            verified.append(stored)
            return real.verify(stored, password)

    monkeypatch.setattr(staff_secrets, "HASHER", Counting())
    wrong = sign_in(client, editor, "not the password")
    unknown = sign_in(client, "nobody@kerava.fi", "not the password")
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)
    assert wrong.status_code == unknown.status_code == 401

    def body(response: Any) -> str:
        main = response.text.split('<main id="main">')[1]
        return csrf_free(main.replace(editor, "X").replace("nobody@kerava.fi", "X"))

    assert body(wrong) == body(unknown)
    assert "The address or the password is not right" in wrong.text


@pytest.mark.real_password_hashing
def test_passwords_are_hashed_with_argon2id_at_the_recommended_cost(engine: Engine) -> None:
    """The production parameters (RFC 9106's second recommendation); the other tests hash
    with cheap ones (tests/conftest.py), so this one pins what a real account gets."""
    make_account(engine, "eeva@kerava.fi", "editor", "kerava")
    with Session(engine) as s:
        stored = s.scalars(select(StaffUser.password_hash)).one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert staff_secrets.dummy_hash().startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert staff_secrets.verify_password(stored, PASSWORD)
    assert not staff_secrets.verify_password(None, PASSWORD)
    assert not staff_secrets.needs_rehash(stored)


def csrf_free(html: str) -> str:
    return html.replace(csrf_of(html), "T") if 'name="csrf_token"' in html else html


def test_csrf_token_missing_or_wrong_is_refused(client: TestClient, editor: str) -> None:
    client.get("/staff/signin")
    missing = client.post("/staff/signin", data={"email": editor, "password": PASSWORD})
    assert missing.status_code == 403
    wrong = client.post(
        "/staff/signin", data={"email": editor, "password": PASSWORD, "csrf_token": "x.y"}
    )
    assert wrong.status_code == 403
    assert COOKIE not in client.cookies
    signed = sign_in(client, editor)
    assert signed.status_code == 303
    out = client.post("/staff/signout", data={"csrf_token": "forged.value"})
    assert out.status_code == 403
    assert client.get("/staff/kerava/").status_code == 200  # still signed in


def test_sign_in_gives_a_new_session_id_and_a_planted_one_is_worthless(
    client: TestClient, editor: str, engine: Engine
) -> None:
    client.cookies.set(COOKIE, "planted-by-an-attacker", domain="testserver", path="/staff")
    first = sign_in(client, editor)
    token_a = first.cookies[COOKIE]
    assert token_a != "planted-by-an-attacker"
    client.cookies.set(COOKIE, token_a, domain="testserver", path="/staff")
    second = sign_in(client, editor)
    token_b = second.cookies[COOKIE]
    assert token_b != token_a
    client.cookies.clear()
    client.cookies.set(COOKIE, token_a, domain="testserver", path="/staff")
    assert client.get("/staff/kerava/", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, token_b, domain="testserver", path="/staff")
    assert client.get("/staff/kerava/").status_code == 200
    with Session(engine) as s:  # the database never holds a token, only its hash
        hashes = list(s.scalars(select(StaffSession.token_hash)))
    assert token_b not in hashes and staff_secrets.token_hash(token_b) in hashes


def test_idle_and_absolute_timeouts(client: TestClient, editor: str, clock: Clock) -> None:
    sign_in(client, editor)
    clock.move(minutes=29)
    assert client.get("/staff/kerava/").status_code == 200
    clock.move(minutes=31)  # idle for more than 30 minutes
    expired = client.get("/staff/kerava/", follow_redirects=False)
    assert expired.status_code == 303 and "/staff/signin" in expired.headers["location"]
    sign_in(client, editor)
    for _ in range(35):  # busy all day: 20-minute steps for 11 h 40 min
        clock.move(minutes=20)
        assert client.get("/staff/kerava/", follow_redirects=False).status_code == 200
    clock.move(minutes=21)  # past 12 hours from sign-in
    assert client.get("/staff/kerava/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target",
    ["https://evil.example", "//evil.example", "/\\evil.example", "/\\/evil.example",
     "javascript:alert(1)", " /staff/x", "/staff/\\evil", "https:/staff/x",
     "/staff/..//evil.example", "/staff/%2e%2e/%2e%2e//evil.example", "/staff/%2f%2fevil.example",
     "/staff/../evil"],
)  # fmt: skip
def test_no_open_redirect_after_sign_in(client: TestClient, editor: str, target: str) -> None:
    done = sign_in(client, editor, next=target)
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/?lang=en"


def test_the_next_page_carried_by_the_sign_in_form_is_normalised(
    client: TestClient, editor: str
) -> None:
    form = client.get("/staff/signin", params={"next": "/staff/..//evil.example", "lang": "en"})
    assert 'name="next" value="/staff/"' in form.text and "evil" not in form.text
    done = sign_in(client, editor, next="/staff/kerava/../kerava/audit")
    assert done.headers["location"].startswith("/staff/kerava/audit")


def test_brute_force_waits_grow_then_the_real_person_gets_in(
    client: TestClient, editor: str, clock: Clock
) -> None:
    for _ in range(3):
        assert sign_in(client, editor, "guess").status_code == 401
    fourth = sign_in(client, editor, "guess")
    assert fourth.status_code == 401 and "Wait 1 min " in fourth.text
    right_but_waiting = sign_in(client, editor)
    assert right_but_waiting.status_code == 429  # the right password does not help now
    clock.move(seconds=31)
    assert "Wait 1 min " in sign_in(client, editor, "guess").text  # 60 s now
    clock.move(seconds=61)
    assert "Wait 2 min " in sign_in(client, editor, "guess").text  # 120 s
    for _ in range(6):
        clock.move(minutes=16)
        last = sign_in(client, editor, "guess")
    assert "Wait 15 min " in last.text  # capped, never permanent
    clock.move(minutes=15, seconds=1)
    assert sign_in(client, editor).status_code == 303


def test_admin_enrols_totp_at_first_sign_in_then_needs_a_code(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    make_account(engine, "admin@outreach.fi", "admin", None)
    step = sign_in(client, "admin@outreach.fi")
    assert step.headers["location"].startswith("/staff/signin/enrol")
    assert client.get("/staff/", follow_redirects=False).status_code == 303  # not yet in
    enrol = client.get(step.headers["location"])
    with Session(engine) as s:
        secret = s.scalars(select(StaffUser.totp_secret)).one()
    assert secret and secret in enrol.text and "otpauth://totp/" in enrol.text
    assert submit_code(client, step.headers["location"], "000000").status_code == 401
    ok = submit_code(client, step.headers["location"], code(secret, clock))
    assert ok.status_code == 303 and client.get("/staff/").status_code == 200
    client.cookies.clear()
    again = sign_in(client, "admin@outreach.fi")
    assert again.headers["location"].startswith("/staff/signin/totp")
    page = client.get(again.headers["location"])
    assert secret not in page.text  # the key was shown once
    replay = submit_code(client, again.headers["location"], code(secret, clock))
    assert replay.status_code == 401  # the same code works once
    clock.move(seconds=30)
    assert submit_code(client, again.headers["location"], code(secret, clock)).status_code == 303


def test_a_pending_totp_session_expires_and_opens_nothing(
    client: TestClient, engine: Engine, clock: Clock
) -> None:
    make_account(engine, "a@outreach.fi", "admin", None, totp_secret=SECRET)
    step = sign_in(client, "a@outreach.fi")
    assert step.headers["location"].startswith("/staff/signin/totp")
    assert client.get("/staff/vantaa/", follow_redirects=False).status_code == 303
    clock.move(minutes=6)
    late = client.get(step.headers["location"], follow_redirects=False)
    assert late.status_code == 303


def test_sign_out_and_disable_end_the_session(
    client: TestClient, editor: str, engine: Engine
) -> None:
    sign_in(client, editor)
    page = client.get("/staff/kerava/")
    assert client.post("/staff/signout", data={"csrf_token": csrf_of(page.text)}).status_code == 200
    assert client.get("/staff/kerava/", follow_redirects=False).status_code == 303
    sign_in(client, editor)
    from outreach.staff import accounts

    with Session(engine) as s:
        assert accounts.disable(s, editor, by="admin") == 1
        s.commit()
    assert client.get("/staff/kerava/", follow_redirects=False).status_code == 303
    assert sign_in(client, editor).status_code == 401  # same answer as a wrong password
    with Session(engine) as s:
        actions = set(s.scalars(select(AuditEvent.action)))
        fails = s.scalar(select(func.count()).where(AuditEvent.action == "staff.signin.failed"))
    assert {"staff.signin", "staff.signout", "staff.disable"} <= actions and fails == 1
