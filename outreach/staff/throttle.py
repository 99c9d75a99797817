"""Failed sign-ins slow down the next try, per account and client address.

After :data:`FREE_FAILURES` failures from one address for one account (known or
not: the key is the typed address), each further failure doubles the wait,
from :data:`BASE_DELAY` up to :data:`MAX_DELAY`; while waiting, every answer
is "wait", right password or not. Nothing locks an account for good: the
block ends by itself, other addresses are not affected (so a stranger cannot
lock a colleague out), a success clears the count, and failures older than
:data:`FORGET_AFTER` are forgotten. The per-address request limit of the web
app caps how many accounts one address can try.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.models import StaffSignInFailure
from outreach.staff.secrets import keyed_hash

FREE_FAILURES = 3
BASE_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=24)


def key(secret: bytes, email: str, client: str) -> str:
    return keyed_hash(secret, "staff-sign-in", " ".join(email.split()).lower()[:254], client)


def delay_after(failures: int) -> timedelta:
    """How long to wait after the ``failures``-th failure in a row."""
    if failures <= FREE_FAILURES:
        return timedelta(0)
    wait: timedelta = BASE_DELAY * 2 ** (failures - FREE_FAILURES - 1)
    return min(wait, MAX_DELAY)


def blocked_until(session: Session, key_hash: str, now: datetime) -> datetime | None:
    row = session.scalars(
        select(StaffSignInFailure).where(StaffSignInFailure.key_hash == key_hash)
    ).one_or_none()
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until


def _row(session: Session, key_hash: str, now: datetime) -> StaffSignInFailure:
    stmt = select(StaffSignInFailure).where(StaffSignInFailure.key_hash == key_hash)
    row = session.scalars(stmt.with_for_update()).one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = StaffSignInFailure(key_hash=key_hash, failures=0, last_failure_at=now)
            session.add(row)
        return row
    except IntegrityError:  # another process wrote it first
        return session.scalars(stmt.with_for_update()).one()


def failed(session: Session, key_hash: str, now: datetime) -> datetime | None:
    """Count a failure; until when the next try must wait (None: no wait)."""
    row = _row(session, key_hash, now)
    if now - row.last_failure_at > FORGET_AFTER:
        row.failures = 0
    row.failures += 1
    row.last_failure_at = now
    wait = delay_after(row.failures)
    row.blocked_until = now + wait if wait else None
    return row.blocked_until


def succeeded(session: Session, key_hash: str) -> None:
    session.execute(delete(StaffSignInFailure).where(StaffSignInFailure.key_hash == key_hash))


def purge(session: Session, now: datetime) -> int:
    """Forget rows past :data:`FORGET_AFTER` and no longer blocking."""
    result = session.execute(
        delete(StaffSignInFailure).where(StaffSignInFailure.last_failure_at < now - FORGET_AFTER)
    )
    return int(getattr(result, "rowcount", 0) or 0)
