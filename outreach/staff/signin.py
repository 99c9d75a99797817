"""Signing in: the password step, the second factor, signing out.

An unknown address, a disabled account, an account without a password (single
sign-on) and a wrong password get the same answer after the same work (one
argon2id verification) and count against the same throttle key, so neither the
answer nor its time tells whether an account exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from outreach.models import StaffUser
from outreach.settings import Settings
from outreach.staff import accounts, audit, sessions, throttle
from outreach.staff.secrets import (
    dummy_hash,
    hash_password,
    needs_rehash,
    new_totp_secret,
    totp_step,
    totp_uri,
    verify_password,
)

#: The longest password taken (argon2 would hash more, but nobody types it).
MAX_PASSWORD = 1024


def prepare() -> None:
    """Make the hash an unknown address is checked against (at the console's start),
    so that even the first sign-in of an unknown address takes a wrong password's work."""
    dummy_hash()


class Outcome(enum.StrEnum):
    SIGNED_IN = "signed_in"
    TOTP = "totp"  # the password was right; the code comes next
    ENROL = "enrol"  # ... and the authenticator must be set up first
    REFUSED = "refused"
    WAIT = "wait"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    token: str | None = None
    wait_until: datetime | None = None


def password_step(
    session: Session,
    settings: Settings,
    email: str,
    password: str,
    *,
    ip: str,
    now: datetime,
) -> Result:
    key = throttle.key(settings.secret(), email, ip)
    user = accounts.find(session, email)
    stored = user.password_hash if user is not None else None
    right = verify_password(stored, password[:MAX_PASSWORD])  # always the same work
    blocked = throttle.blocked_until(session, key, now)
    actor = user.email if user is not None else "unknown"
    if blocked is not None:
        audit.record(session, "staff.signin.wait", actor, ip=ip, now=now)
        return Result(Outcome.WAIT, wait_until=blocked)
    if user is None or not right or user.disabled_at is not None:
        wait = throttle.failed(session, key, now)
        audit.record(session, "staff.signin.failed", actor, ip=ip, now=now)
        return Result(Outcome.REFUSED, wait_until=wait)
    throttle.succeeded(session, key)
    if stored is not None and needs_rehash(stored):
        user.password_hash = hash_password(password)
    if accounts.needs_totp(user):
        if user.totp_confirmed_at is None:
            if user.totp_secret is None:
                user.totp_secret = new_totp_secret()
            token = sessions.start(session, user, sessions.ENROL, ip=ip, now=now)
            return Result(Outcome.ENROL, token)
        return Result(Outcome.TOTP, sessions.start(session, user, sessions.TOTP, ip=ip, now=now))
    return _signed_in(session, user, ip, now, method="password")


def enrolment(current: sessions.Current, issuer: str) -> tuple[str, str]:
    """The secret and its ``otpauth://`` URI, shown only during the enrolling sign-in."""
    secret = current.user.totp_secret or ""
    return secret, totp_uri(secret, current.user.email, issuer)


def code_step(
    session: Session,
    settings: Settings,
    current: sessions.Current,
    code: str,
    *,
    ip: str,
    now: datetime,
) -> Result:
    """Check the TOTP code of a ``totp`` or ``enrol`` session; sign in when it is right."""
    user = session.get(StaffUser, current.user.id)
    if user is None or user.disabled_at is not None:
        return Result(Outcome.REFUSED)
    key = throttle.key(settings.secret(), user.email, ip)
    blocked = throttle.blocked_until(session, key, now)
    if blocked is not None:
        audit.record(session, "staff.signin.wait", user.email, ip=ip, now=now)
        return Result(Outcome.WAIT, wait_until=blocked)
    step = totp_step(user.totp_secret or "", code[:20], now, user.totp_last_step)
    if step is None or user.totp_secret is None:
        wait = throttle.failed(session, key, now)
        audit.record(
            session,
            "staff.signin.failed",
            user.email,
            ip=ip,
            detail={"step": current.stage},
            now=now,
        )
        return Result(Outcome.REFUSED, wait_until=wait)
    throttle.succeeded(session, key)
    user.totp_last_step = step
    if current.stage == sessions.ENROL:
        user.totp_confirmed_at = now
        audit.record(session, "staff.totp.enrol", user.email, ip=ip, now=now)
    sessions.end(session, current.id, now)
    return _signed_in(session, user, ip, now, method="password+totp")


def _signed_in(session: Session, user: StaffUser, ip: str, now: datetime, *, method: str) -> Result:
    user.last_sign_in_at = now
    token = sessions.start(session, user, sessions.FULL, ip=ip, now=now)
    audit.record(session, "staff.signin", user.email, ip=ip, detail={"method": method}, now=now)
    return Result(Outcome.SIGNED_IN, token)


def sign_out(session: Session, current: sessions.Current, *, ip: str, now: datetime) -> None:
    sessions.end(session, current.id, now)
    audit.record(session, "staff.signout", current.user.email, ip=ip, now=now)
