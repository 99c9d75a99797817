"""The policy, the throttle and the redirect rule as plain functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.staff import throttle
from outreach.staff.policy import Permission, Principal, Role
from outreach.web.staff.guard import cookie_secure, safe_next

P = Permission


@pytest.mark.parametrize(
    ("grants", "permission", "city", "allowed"),
    [
        ({"kerava": Role.EDITOR}, P.VIEW, "kerava", True),
        ({"kerava": Role.EDITOR}, P.EDIT, "kerava", True),
        ({"kerava": Role.EDITOR}, P.APPROVE, "kerava", False),
        ({"kerava": Role.EDITOR}, P.AUDIT, "kerava", False),
        ({"kerava": Role.EDITOR}, P.VIEW, "vantaa", False),
        ({"kerava": Role.APPROVER}, P.APPROVE, "kerava", True),
        ({"kerava": Role.APPROVER}, P.AUDIT, "kerava", True),
        ({"kerava": Role.APPROVER}, P.ADMIN, "kerava", False),
        ({"kerava": Role.APPROVER}, P.VIEW, None, False),
        ({"kerava": Role.EDITOR, "vantaa": Role.APPROVER}, P.APPROVE, "vantaa", True),
        ({"kerava": Role.EDITOR, "vantaa": Role.APPROVER}, P.APPROVE, "kerava", False),
        ({"*": Role.ADMIN}, P.ADMIN, None, True),
        ({"*": Role.ADMIN}, P.APPROVE, "jarvenpaa", True),
        ({"kerava": Role.ADMIN}, P.ADMIN, None, False),  # admin only as the "*" grant
        ({"*": Role.EDITOR}, P.VIEW, "kerava", False),
        ({}, P.VIEW, "kerava", False),
    ],
)
def test_can(
    grants: dict[str, Role], permission: Permission, city: str | None, allowed: bool
) -> None:
    assert Principal(1, "x@y.fi", grants).can(permission, city) is allowed


def test_cities_a_person_sees() -> None:
    known = ["vantaa", "kerava", "jarvenpaa"]
    assert Principal(1, "a", {"kerava": Role.EDITOR}).cities(known) == ["kerava"]
    assert Principal(1, "a", {"*": Role.ADMIN}).cities(known) == known


def test_the_throttle_grows_caps_and_is_per_account_and_address(engine: Engine) -> None:
    t0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    waits = [throttle.delay_after(n).total_seconds() for n in range(1, 12)]
    assert waits == [0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900]
    key = throttle.key(b"k" * 32, "Eeva@Kerava.fi ", "10.0.0.1")
    other_ip = throttle.key(b"k" * 32, "eeva@kerava.fi", "10.0.0.2")
    assert key == throttle.key(b"k" * 32, "eeva@kerava.fi", "10.0.0.1") != other_ip
    with Session(engine) as s:
        for _ in range(4):
            until = throttle.failed(s, key, t0)
        assert until == t0 + timedelta(seconds=30)
        assert throttle.blocked_until(s, key, t0) == until
        assert throttle.blocked_until(s, other_ip, t0) is None  # the person elsewhere gets in
        assert throttle.blocked_until(s, key, t0 + timedelta(seconds=31)) is None
        # a day later the count starts over
        assert throttle.failed(s, key, t0 + timedelta(days=2)) is None


@pytest.mark.parametrize(
    ("value", "target"),
    [("/staff/kerava/", "/staff/kerava/"),
     ("/staff/kerava/audit?lang=sv", "/staff/kerava/audit?lang=sv"),
     ("https://evil.example/staff/", "/staff/"), ("//evil.example/staff/", "/staff/"),
     ("/\\evil.example", "/staff/"), ("/staff\\/evil", "/staff/"), ("/staffx/", "/staff/"),
     ("/staff/\nSet-Cookie:x", "/staff/"), (None, "/staff/"), ("", "/staff/"),
     ("/staff/..//evil.example", "/staff/"), ("/staff/../evil", "/staff/"),
     ("/staff/kerava//evil", "/staff/"), ("/staff/%2e%2e/%2e%2e/evil", "/staff/"),
     ("/staff/%2E%2E//evil.example", "/staff/"), ("/staff/%2f%2fevil.example", "/staff/"),
     ("/staff/%5cevil", "/staff/"), ("/staff/%252e%252e/evil", "/staff/"),
     ("/staff/.%2e/evil", "/staff/"), ("/staff/kerava/../vantaa/", "/staff/vantaa/"),
     ("/staff/./kerava/audit?lang=sv", "/staff/kerava/audit?lang=sv"),
     ("/staff/kerava/..", "/staff/")],
)  # fmt: skip
def test_safe_next(value: str | None, target: str) -> None:
    assert safe_next(value) == target


def test_cookie_secure_except_plain_http_on_this_machine() -> None:
    assert cookie_secure("https://outreach.vantaa.fi")
    assert cookie_secure("http://outreach.vantaa.fi")
    assert not cookie_secure("http://localhost:8000")
    assert not cookie_secure("http://127.0.0.1:8000")
