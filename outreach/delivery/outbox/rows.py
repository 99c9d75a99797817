"""The statements a send runs on its outbox rows: claim, re-check, renew, release,
record outcomes, and reclaim the rows of senders that died.

The workers (:mod:`outreach.delivery.workers`) decide what happens to a row;
this module is the only place that says how in SQL. Every step is one
statement (one round trip on PostgreSQL). Outcomes are written through the
driver's own cursor with statement text fixed once per dialect, since that
write runs once per message.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, exists, or_, select, update

from outreach.delivery.audience import mailable
from outreach.delivery.outbox.enqueue import DELIVERIES
from outreach.delivery.outcomes import Outcome
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    UTCDateTime,
    utcnow,
)

log = logging.getLogger(__name__)

PENDING, SENDING = DeliveryStatus.PENDING, DeliveryStatus.SENDING


class IssueHalted(Exception):
    """The issue is no longer ``sending`` (paused or cancelled): stop claiming."""


# Every outcome of a batch in one statement: the outcomes go in as arrays, so the
# text (and PostgreSQL's prepared plan) is the same for any batch size. A retry of
# a cancelled issue ends cancelled.
_PG_OUTCOMES = f"""
UPDATE {DELIVERIES.name} AS d SET
  status = CASE WHEN o.status = '{PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = %(issue_id)s AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE o.status END,
  sent_at = o.sent_at, next_attempt_at = o.next, last_error = o.error, claimed_by = NULL
FROM unnest(%(ids)s::integer[], %(mes)s::varchar[], %(statuses)s::varchar[],
            %(sent)s::timestamptz[], %(next)s::timestamptz[], %(errors)s::text[])
  AS o(id, me, status, sent_at, next, error)
WHERE d.id = o.id AND d.claimed_by = o.me AND d.status = '{SENDING.value}'
"""

# SQLite: the same statement for one outcome, executed for each (in-process, no
# round trips).
_SQLITE_OUTCOME = f"""
UPDATE {DELIVERIES.name} SET
  status = CASE WHEN ? = '{PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = ? AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE ? END,
  sent_at = ?, next_attempt_at = ?, last_error = ?, claimed_by = NULL
WHERE id = ? AND claimed_by = ? AND status = '{SENDING.value}'
"""


class OutboxRows:
    """The row statements of one issue's send, built once and shared by its threads.

    ``write_lock`` serialises writers where the database has one (SQLite).
    """

    def __init__(
        self,
        engine: Engine,
        issue_id: int,
        suppression_key: bytes,
        *,
        lease: timedelta,
        batch_size: int,
        write_lock: AbstractContextManager[Any],
    ) -> None:
        self.issue_id = issue_id
        self.lease = lease
        self.batch_size = batch_size
        self.write_lock = write_lock
        self.postgres = engine.dialect.name == "postgresql"
        # The column type's own conversion, so the stored text is what SQLAlchemy writes.
        self.to_sqlite_time = UTCDateTime().bind_processor(engine.dialect) or (lambda v: v)
        eligible = mailable(Delivery.email, suppression_key)
        issue_status = select(Issue.status).where(Issue.id == issue_id).scalar_subquery()
        self.check_statement = (
            select(
                Delivery.id,
                Subscription.token_salt,
                Subscriber.contact_name,
                case((eligible, 1), else_=0).label("eligible"),
                issue_status.label("issue_status"),
            )
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(
                Delivery.id.in_(bindparam("ids", expanding=True)),
                Delivery.claimed_by == bindparam("me"),
                Delivery.status == SENDING,
            )
        )

    def claim(self, conn: Connection, me: str) -> list[Any]:
        """Up to ``batch_size`` due rows, now ``sending`` and ``me``'s, in id order;
        none once the issue is not ``sending``."""
        now = utcnow()
        d = DELIVERIES.c
        due = and_(
            d.issue_id == self.issue_id,
            or_(
                and_(
                    d.status == PENDING, or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now)
                ),
                and_(d.status == SENDING, d.claimed_at < now - self.lease),
            ),
        )
        ids = (
            select(d.id)
            .where(due)
            .order_by(d.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(DELIVERIES)
            .where(d.id.in_(ids))
            .values(status=SENDING, claimed_by=me, claimed_at=now, attempts=d.attempts + 1)
            .returning(d.id, d.subscriber_id, d.subscription_id, d.email, d.language)
            .returning(d.created_at, d.attempts)
        )
        with self.write_lock, conn.begin():
            status = conn.execute(select(Issue.status).where(Issue.id == self.issue_id)).scalar()
            if status != IssueStatus.SENDING:
                return []
            rows = conn.execute(stmt).all()
        return sorted(rows, key=lambda r: r.id)

    def check(
        self, conn: Connection, me: str, ids: Sequence[int]
    ) -> dict[int, tuple[str, str | None] | None]:
        """For each row still claimed by ``me``: (salt, contact name) if it may still be
        mailed, None if it was unsubscribed or suppressed meanwhile. Rows another
        claimant took over (an expired lease) are absent: they are not ours to send.
        Raises :class:`IssueHalted` when the issue was paused or cancelled."""
        # One statement (one round trip): the issue's status comes with every row.
        with conn.begin():
            rows = conn.execute(self.check_statement, {"ids": list(ids), "me": me}).all()
            if rows:
                status = rows[0].issue_status
            else:
                query = select(Issue.status).where(Issue.id == self.issue_id)
                status = conn.execute(query).scalar()
        if status != IssueStatus.SENDING:
            raise IssueHalted
        return {
            row.id: (row.token_salt, row.contact_name) if row.eligible else None for row in rows
        }

    def renew(self, conn: Connection, me: str) -> None:
        """Extend the lease of every row ``me`` holds (long rate-limit waits)."""
        d = DELIVERIES.c
        with self.write_lock, conn.begin():
            conn.execute(
                update(DELIVERIES)
                .where(d.claimed_by == me, d.status == SENDING)
                .values(claimed_at=utcnow())
            )

    def release(self, conn: Connection, me: str, ids: Sequence[int]) -> None:
        """Give unsent rows back (pause, cancel, stop, backend error).

        A cancelled issue's rows end cancelled: cancel_issue only reaches pending
        rows, and nothing sends a cancelled issue's pending rows later.
        """
        if not ids:
            return
        d = DELIVERIES.c
        cancelled = exists().where(Issue.id == self.issue_id, Issue.status == IssueStatus.CANCELLED)
        status = case((cancelled, DeliveryStatus.CANCELLED.value), else_=PENDING.value)
        with self.write_lock, conn.begin():
            conn.execute(
                update(DELIVERIES)
                .where(d.id.in_(list(ids)), d.claimed_by == me, d.status == SENDING)
                .values(status=status, claimed_by=None, attempts=d.attempts - 1)
            )

    def record(self, conn: Connection, outcomes: Sequence[Outcome]) -> None:
        """Write ``outcomes`` and commit, in one statement per batch, through the driver.

        Only rows still ``sending`` and held by the outcome's claimant change.
        PostgreSQL's connection is in autocommit; SQLite's is committed here.
        """
        driver = conn.connection.driver_connection
        assert driver is not None
        cursor = driver.cursor()
        try:
            if self.postgres:
                cursor.execute(
                    _PG_OUTCOMES,
                    {
                        "issue_id": self.issue_id,
                        "ids": [o.delivery_id for o in outcomes],
                        "mes": [o.claimant for o in outcomes],
                        "statuses": [o.status.value for o in outcomes],
                        "sent": [o.sent_at for o in outcomes],
                        "next": [o.next_attempt_at for o in outcomes],
                        "errors": [o.error for o in outcomes],
                    },
                )
            else:
                to_time = self.to_sqlite_time
                cursor.executemany(
                    _SQLITE_OUTCOME,
                    [
                        (
                            o.status.value,
                            self.issue_id,
                            o.status.value,
                            to_time(o.sent_at),
                            to_time(o.next_attempt_at),
                            o.error,
                            o.delivery_id,
                            o.claimant,
                        )
                        for o in outcomes
                    ],
                )
                driver.commit()
        finally:
            cursor.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_namespace() -> str:
    try:
        return format(os.stat("/proc/self/ns/pid").st_ino, "x")
    except OSError:
        return "0"


def process_id() -> str:
    """``host:pid:pid-namespace`` of this process: the head of every claim it makes.

    Containers can share a host name (host networking) while each numbers its
    processes afresh; a pid is only checked where the namespace is ours.
    """
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_pid_namespace()}"


def reclaim_dead(engine: Engine, issue_id: int) -> int:
    """Put back rows claimed by processes of this host and pid namespace that no longer run."""
    host, _, namespace = process_id().split(":")
    reclaimed = 0
    with engine.begin() as conn:
        claimants = conn.execute(
            select(Delivery.claimed_by)
            .where(Delivery.issue_id == issue_id, Delivery.status == DeliveryStatus.SENDING)
            .distinct()
        ).scalars()
        dead = []
        for claimant in claimants:
            parts = (claimant or "").split(":")
            if (
                len(parts) >= 3
                and parts[0] == host
                and parts[2] == namespace
                and parts[1].isdigit()
            ):
                pid = int(parts[1])
                if pid != os.getpid() and not _pid_alive(pid):
                    dead.append(claimant)
        for claimant in dead:
            result = conn.execute(
                update(DELIVERIES)
                .where(
                    DELIVERIES.c.claimed_by == claimant,
                    DELIVERIES.c.status == DeliveryStatus.SENDING,
                )
                .values(status=DeliveryStatus.PENDING, claimed_by=None, next_attempt_at=None)
            )
            reclaimed += int(result.rowcount or 0)
    if reclaimed:
        log.info("issue %s: reclaimed %d rows of stopped senders", issue_id, reclaimed)
    return reclaimed
