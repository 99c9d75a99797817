"""Staff test helpers: accounts in every role, a movable clock, signing in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.models import StaffUser
from outreach.staff import accounts
from outreach.staff.secrets import hash_password, totp_code

PASSWORD = "correct horse battery staple"
CITIES = {"vantaa", "kerava", "jarvenpaa"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Clock:
    """The console's time; tests move it instead of sleeping."""

    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 8, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_account(
    engine: Engine,
    email: str,
    role: str,
    city: str | None,
    *,
    password: str = PASSWORD,
    totp_secret: str | None = None,
    confirmed: bool = True,
) -> None:
    """An account with a known password (and a TOTP secret, enrolled or not)."""
    with Session(engine, expire_on_commit=False) as s:
        accounts.add(s, email, role=role, city=city, known_cities=CITIES, by="test")
        user = s.query(StaffUser).filter_by(email=email).one()
        user.password_hash = hash_password(password)
        if totp_secret is not None:
            user.totp_secret = totp_secret
            user.totp_confirmed_at = datetime(2026, 1, 1, tzinfo=UTC) if confirmed else None
        s.commit()


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def code(secret: str, clock: Clock) -> str:
    return totp_code(secret, clock.now)
