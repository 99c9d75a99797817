"""Limits against subscription bombing, kept in the database so they hold across processes.

- :func:`claim_mailbox`: at most :data:`MAILS_PER_DAY` confirmation mails per
  mailbox in 24 hours, across cities and address variants (``+tags``, Gmail's
  dots, ``googlemail.com``), and none within :data:`MIN_INTERVAL` of the
  last one. The mailbox is kept as a keyed hash of
  :func:`outreach.validation.canonical_mailbox`, like the suppression list.
- :func:`claim_export`: the same caps for the "download my data" link, counted
  apart from confirmation mails (a row of its own per mailbox, under a hash of
  the purpose and the mailbox), with the time it may be asked for again.
- :func:`claim_receipt`: the same caps for the mail that tells a story's sender
  it was received, counted apart again: the story form is open to anyone, and
  without them it would let anyone have the city mail any address, as often as
  the form is sent, with a title of their choosing.
- :func:`spend_token`: a single-use token (the embeddable form's) works once.

Both are atomic statements, so concurrent requests in several processes
cannot both pass. :func:`claim_mailboxes` claims a whole import batch's
mailboxes at once, with the same answers as one :func:`claim_mailbox` per row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, case, delete, literal, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outreach.models import MailboxLimit, UsedToken, UTCDateTime
from outreach.settings import Settings
from outreach.subscriptions.bulk import each_of, one_of
from outreach.suppression import suppression_key
from outreach.validation import canonical_mailbox, email_hash

MAILS_PER_DAY = 3
MIN_INTERVAL = timedelta(hours=1)
WINDOW = timedelta(hours=24)
LIMITS = cast(Table, MailboxLimit.__table__)


#: The purpose under which data-export links are counted (:func:`claim_export`).
EXPORT = "export"
#: The purpose under which story receipts are counted (:func:`claim_receipt`).
RECEIPT = "story"


def mailbox_hash(settings: Settings, email: str, purpose: str = "") -> str:
    """The key of ``email``'s mailbox in ``mailbox_limits``: confirmation mails' (no
    ``purpose``), or another kind of mail's, counted apart (:data:`EXPORT`)."""
    mailbox = canonical_mailbox(email)
    return email_hash(f"{purpose}:{mailbox}" if purpose else mailbox, suppression_key(settings))


def claim_mailbox(session: Session, settings: Settings, email: str, now: datetime) -> bool:
    """Take the right to send one confirmation mail to ``email``'s mailbox now."""
    return claim_mailboxes(session, [mailbox_hash(settings, email)], now)[0]


def claim_mailboxes(session: Session, mailboxes: Sequence[str], now: datetime) -> list[bool]:
    """:func:`claim_mailbox` for each of ``mailboxes`` (:func:`mailbox_hash` values) in
    turn, in two statements.

    The answer for each is the one a :func:`claim_mailbox` call per address, in
    this order and at ``now``, would give: a mailbox that appears twice gets at
    most its first claim (the second comes within :data:`MIN_INTERVAL`). The
    statements: one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING`` of
    every mailbox, already claimed (a new mailbox has had no mail; a known one
    conflicts and is left as it is, as is one a concurrent claim is creating:
    PostgreSQL waits for that one's transaction); then one ``UPDATE …
    RETURNING`` of those not inserted, under the conditions of a single claim.
    Each carries the mailboxes in one parameter (:func:`.bulk.each_of`), so a
    batch of any size needs no chunks.
    """
    granted = _claim(session.connection(), sorted(set(mailboxes)), now)
    answers = []
    for digest in mailboxes:
        answers.append(digest in granted)
        granted.discard(digest)  # a repeat comes within MIN_INTERVAL of the first
    return answers


def _claim(conn: Connection, digests: list[str], now: datetime) -> set[str]:
    """The mailboxes of ``digests`` (distinct) that may have one mail now, claimed."""
    if not digests:
        return set()
    table = LIMITS
    digest = table.c.mailbox_hash
    at = literal(now, UTCDateTime())
    each = each_of(conn, digests)
    rows = select(each.c.value, at, literal(1), at).where(true())  # WHERE: SQLite's parser
    names = ["mailbox_hash", "window_start", "window_count", "last_sent_at"]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).from_select(names, rows).on_conflict_do_nothing()
    granted = set(conn.scalars(stmt.returning(digest)))
    known = [value for value in digests if value not in granted]
    if not known:
        return granted
    quiet_since = now - MIN_INTERVAL
    new_window = or_(table.c.window_start.is_(None), table.c.window_start <= now - WINDOW)
    claim = (
        update(table)
        .where(one_of(conn, digest, known))
        .where(or_(table.c.last_sent_at.is_(None), table.c.last_sent_at <= quiet_since))
        .where(or_(new_window, table.c.window_count < MAILS_PER_DAY))
        .values(
            window_start=case((new_window, at), else_=table.c.window_start),
            window_count=case((new_window, 1), else_=table.c.window_count + 1),
            last_sent_at=at,
        )
        .returning(digest)
    )
    granted.update(conn.scalars(claim))
    return granted


def claim_export(
    session: Session, settings: Settings, email: str, now: datetime
) -> datetime | None:
    """Take the right to mail ``email``'s mailbox a data-export link now: None when
    taken, else the time (to the minute, rounded up) from which it may be asked
    for again. The caps of confirmation mails (:data:`MIN_INTERVAL`,
    :data:`MAILS_PER_DAY` in :data:`WINDOW`), counted apart from them."""
    digest = mailbox_hash(settings, email, EXPORT)
    if claim_mailboxes(session, [digest], now)[0]:
        return None
    row = session.scalars(select(MailboxLimit).where(MailboxLimit.mailbox_hash == digest)).one()
    again = now
    if row.last_sent_at is not None:
        again = max(again, row.last_sent_at + MIN_INTERVAL)
    if row.window_start is not None and row.window_count >= MAILS_PER_DAY:
        again = max(again, row.window_start + WINDOW)
    rounded = again.replace(second=0, microsecond=0)
    return rounded if rounded == again else rounded + timedelta(minutes=1)


def release_mailbox(session: Session, settings: Settings, email: str, purpose: str = "") -> None:
    """Give back a claim whose mail was not sent (the backend refused it); ``purpose``
    as for :func:`mailbox_hash` (:data:`EXPORT`: a data-export link's)."""
    session.execute(
        update(MailboxLimit)
        .where(MailboxLimit.mailbox_hash == mailbox_hash(settings, email, purpose))
        .where(MailboxLimit.window_count > 0)
        .values(window_count=MailboxLimit.window_count - 1, last_sent_at=None)
        .execution_options(synchronize_session=False)
    )


def release_export(session: Session, settings: Settings, email: str) -> None:
    """Give back a :func:`claim_export` whose link was not sent."""
    release_mailbox(session, settings, email, EXPORT)


def claim_receipt(session: Session, settings: Settings, email: str, now: datetime) -> bool:
    """Take the right to mail ``email``'s mailbox a story receipt now: the caps of
    confirmation mails, counted apart from them and from data-export links."""
    return claim_mailboxes(session, [mailbox_hash(settings, email, RECEIPT)], now)[0]


def release_receipt(session: Session, settings: Settings, email: str) -> None:
    """Give back a :func:`claim_receipt` whose mail was not sent."""
    release_mailbox(session, settings, email, RECEIPT)


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
