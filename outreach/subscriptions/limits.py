"""Limits against subscription bombing, kept in the database so they hold across processes.

- :func:`claim_mailbox`: at most :data:`MAILS_PER_DAY` confirmation mails per
  mailbox in 24 hours, across cities and address variants (``+tags``, Gmail's
  dots, ``googlemail.com``), and none within :data:`MIN_INTERVAL` of the
  last one. The mailbox is kept as a keyed hash of
  :func:`outreach.validation.canonical_mailbox`, like the suppression list.
- :func:`spend_token`: a single-use token (the embeddable form's) works once.

Both are one atomic statement each, so concurrent requests in several
processes cannot both pass.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.models import MailboxLimit, UsedToken, UTCDateTime
from outreach.settings import Settings
from outreach.suppression import suppression_key
from outreach.validation import canonical_mailbox, email_hash

MAILS_PER_DAY = 3
MIN_INTERVAL = timedelta(hours=1)
WINDOW = timedelta(hours=24)


def mailbox_hash(settings: Settings, email: str) -> str:
    return email_hash(canonical_mailbox(email), suppression_key(settings))


def claim_mailbox(session: Session, settings: Settings, email: str, now: datetime) -> bool:
    """Take the right to send one confirmation mail to ``email``'s mailbox now."""
    digest = mailbox_hash(settings, email)
    if session.scalar(select(MailboxLimit.id).where(MailboxLimit.mailbox_hash == digest)) is None:
        try:
            with session.begin_nested():
                session.add(MailboxLimit(mailbox_hash=digest, window_count=0))
                session.flush()
        except IntegrityError:  # created by a concurrent request
            pass
    at = literal(now, UTCDateTime())
    quiet_since = now - MIN_INTERVAL
    new_window = or_(MailboxLimit.window_start.is_(None), MailboxLimit.window_start <= now - WINDOW)
    result = session.execute(
        update(MailboxLimit)
        .where(MailboxLimit.mailbox_hash == digest)
        .where(or_(MailboxLimit.last_sent_at.is_(None), MailboxLimit.last_sent_at <= quiet_since))
        .where(or_(new_window, MailboxLimit.window_count < MAILS_PER_DAY))
        .values(
            window_start=case((new_window, at), else_=MailboxLimit.window_start),
            window_count=case((new_window, 1), else_=MailboxLimit.window_count + 1),
            last_sent_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def release_mailbox(session: Session, settings: Settings, email: str) -> None:
    """Give back a claim whose mail was not sent (the backend refused it)."""
    session.execute(
        update(MailboxLimit)
        .where(MailboxLimit.mailbox_hash == mailbox_hash(settings, email))
        .where(MailboxLimit.window_count > 0)
        .values(window_count=MailboxLimit.window_count - 1, last_sent_at=None)
        .execution_options(synchronize_session=False)
    )


def spend_token(session: Session, token: str, expires_at: datetime, now: datetime) -> bool:
    """Mark a single-use token spent; False if it was spent before."""
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    session.execute(delete(UsedToken).where(UsedToken.expires_at < now))
    try:
        with session.begin_nested():
            session.add(UsedToken(token_hash=digest, expires_at=expires_at))
            session.flush()
    except IntegrityError:
        return False
    return True
