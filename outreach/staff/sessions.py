"""Console sessions kept in the database: revocable, with idle and absolute timeouts.

The cookie holds a random token; the row keeps its SHA-256 only. Every step of
signing in (password, second factor, single sign-on) ends the session it came
with and starts a new one with a new token, so a token planted before sign-in
is worth nothing after it. ``totp`` and ``enrol`` sessions (password given,
code not yet) last :data:`PENDING_LIFETIME` and open no console page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from outreach.models import StaffSession, StaffUser
from outreach.settings import Settings
from outreach.staff.accounts import principal
from outreach.staff.policy import Principal
from outreach.staff.secrets import token_hash

FULL = "full"
TOTP = "totp"
ENROL = "enrol"
PENDING_LIFETIME = timedelta(minutes=5)
#: ``last_seen_at`` is written at most this often (not on every request).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Current:
    """The session a request came with, and who it belongs to."""

    id: int
    stage: str
    user: StaffUser
    principal: Principal


def start(session: Session, user: StaffUser, stage: str, *, ip: str | None, now: datetime) -> str:
    """A new session for ``user``; its token, for the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=token_hash(token),
            user_id=user.id,
            stage=stage,
            ip=ip,
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()
    return token


def expired(settings: Settings, row: StaffSession, now: datetime) -> bool:
    if row.stage != FULL:
        return now - row.created_at > PENDING_LIFETIME
    idle = timedelta(minutes=settings.staff_session_idle_minutes)
    absolute = timedelta(hours=settings.staff_session_hours)
    return now - row.last_seen_at > idle or now - row.created_at > absolute


def load(
    session: Session,
    settings: Settings,
    token: str | None,
    now: datetime,
    *,
    stages: tuple[str, ...] = (FULL,),
) -> Current | None:
    """The live session of ``token`` in one of ``stages``; None when there is none.

    An expired session is revoked on the way; a live one is touched.
    """
    if not token or len(token) > 100:
        return None
    row = session.scalars(
        select(StaffSession).where(StaffSession.token_hash == token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None or row.stage not in stages:
        return None
    if expired(settings, row, now):
        row.revoked_at = now
        return None
    user = session.scalars(
        select(StaffUser).where(StaffUser.id == row.user_id).options(selectinload(StaffUser.grants))
    ).one()
    if user.disabled_at is not None:
        row.revoked_at = now
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return Current(row.id, row.stage, user, principal(user))


def end(session: Session, session_id: int, now: datetime) -> None:
    row = session.get(StaffSession, session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now


def end_token(session: Session, token: str | None, now: datetime) -> None:
    """End the session of ``token``, if any (a session a new sign-in replaces)."""
    if token and len(token) <= 100:
        row = session.scalars(
            select(StaffSession).where(StaffSession.token_hash == token_hash(token))
        ).one_or_none()
        if row is not None:
            end(session, row.id, now)
