"""The statements a send runs on its outbox rows: claim, re-check, renew, release,
and reclaim the rows of senders that died. Outcomes are written by
:mod:`outreach.delivery.outbox.writer`, with the statement text here.

The workers (:mod:`outreach.delivery.workers`) decide what happens to a row;
this package is the only place that says how in SQL. Every step is one
statement (one round trip on PostgreSQL).

PostgreSQL runs these statements prepared, with a generic plan after a few
runs; a plan made without the values, or with statistics from before the
send, must still be the right one. So the statements a send runs per chunk
or per message find their rows by primary key only: conditions on columns
whose spread changes during a send (``status``) are computed as columns, not
used to find rows, and joined values come from correlated subqueries by
primary key. A generic plan once chose the status index for the re-check and
read every ``sending`` row of the issue for each chunk of ten.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    and_,
    bindparam,
    case,
    exists,
    or_,
    select,
    text,
    update,
)

from outreach.delivery.audience import mailable
from outreach.delivery.outbox.enqueue import DELIVERIES
from outreach.models import (
    ACTIVE_DELIVERY,
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


_ACTIVE = text(f"{DELIVERIES.name}.{ACTIVE_DELIVERY}")


def _same(value: Any) -> Any:
    return value


class Claimed:
    """A claimed row, as the feeder and the worker read it (from the driver's tuple;
    ``created_at`` is converted when read: only a failed attempt needs it)."""

    #: The columns a claim returns, in this order, then ``created_at``.
    COLUMNS = ("id", "subscriber_id", "subscription_id", "email", "language", "attempts")
    __slots__ = (*COLUMNS, "_convert", "_created")

    def __init__(self, row: Sequence[Any], convert: Callable[[Any], Any]) -> None:
        (
            self.id,
            self.subscriber_id,
            self.subscription_id,
            self.email,
            self.language,
            self.attempts,
            self._created,
        ) = row
        self._convert = convert

    @property
    def created_at(self) -> datetime:
        value: datetime = self._convert(self._created)
        return value


class IssueHalted(Exception):
    """The issue is no longer ``sending`` (paused or cancelled): stop claiming."""


# Set on every connection of a send that runs the statements below (the feeders' and
# the outcomes'). They find their rows through an index, and a plan must never
# scan the table instead: autovacuum leaves an empty ``deliveries`` table with
# statistics that say so, and a plan made from them (kept for the connection's
# life once generic) read the whole outbox for each outcome; a send to n
# recipients read n²/2 rows. Costed this way, the planner takes the index.
NO_SEQSCAN = "SET enable_seqscan TO off"

# One outcome, by primary key; a retry of a cancelled issue ends cancelled. The
# PostgreSQL form is prepared once per connection and sent without waiting
# (outbox.writer), its parameters as text.
PG_OUTCOME = f"""
UPDATE {DELIVERIES.name} SET
  status = CASE WHEN $1::varchar = '{PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = $7::integer AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE $1::varchar END,
  sent_at = $2::timestamptz, next_attempt_at = $3::timestamptz, last_error = $4::text,
  claimed_by = NULL
WHERE id = $5::integer AND claimed_by = $6::varchar AND status = '{SENDING.value}'
"""

# The common case, sent, without the cancelled check (only a retry can end cancelled).
PG_SENT = f"""
UPDATE {DELIVERIES.name} SET
  status = '{DeliveryStatus.SENT.value}', sent_at = $1::timestamptz, next_attempt_at = NULL,
  last_error = NULL, claimed_by = NULL
WHERE id = $2::integer AND claimed_by = $3::varchar AND status = '{SENDING.value}'
"""

SQLITE_OUTCOME = f"""
UPDATE {DELIVERIES.name} SET
  status = CASE WHEN ?1 = '{PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = ?7 AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE ?1 END,
  sent_at = ?2, next_attempt_at = ?3, last_error = ?4, claimed_by = NULL
WHERE id = ?5 AND claimed_by = ?6 AND status = '{SENDING.value}'
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
        # The column type's own conversions (as the dialect has them), so the stored text
        # is what SQLAlchemy writes and reads.
        timestamps = UTCDateTime().dialect_impl(engine.dialect)
        self.to_time: Callable[[Any], Any] = timestamps.bind_processor(engine.dialect) or _same
        self.from_time: Callable[[Any], Any] = (
            timestamps.result_processor(engine.dialect, None) or _same
        )
        self.to_sqlite_time = self.to_time
        self._claim_text: tuple[str, tuple[str, ...] | None, dict[str, Any]] | None = None
        # The feeders warm up at once (warm): one compiles a statement, the other waits.
        self._compiling = threading.Lock()
        # Each joined value by primary key in a correlated subquery: no join for the
        # planner to choose (stale statistics once made it scan every subscriber).
        may_mail = mailable(Delivery.email, suppression_key, correlate=(Delivery, Subscription))
        mailing = (
            select(case((may_mail, 1), else_=0))
            .where(Subscription.id == Delivery.subscription_id)
            .scalar_subquery()
        )
        salt = (
            select(Subscription.token_salt)
            .where(Subscription.id == Delivery.subscription_id)
            .scalar_subquery()
        )
        name = (
            select(Subscriber.contact_name)
            .where(Subscriber.id == Delivery.subscriber_id)
            .scalar_subquery()
        )
        ours = and_(Delivery.claimed_by == bindparam("me"), Delivery.status == SENDING)
        issue_status = select(Issue.status).where(Issue.id == issue_id).scalar_subquery()
        self.status_statement = select(Issue.status).where(Issue.id == issue_id)
        self._status_text: tuple[str, tuple[str, ...] | None, dict[str, Any]] | None = None
        self._check_texts: dict[int, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}
        self.check_statement = select(
            Delivery.id,
            salt.label("token_salt"),
            name.label("contact_name"),
            mailing.label("eligible"),
            case((ours, 1), else_=0).label("ours"),
            issue_status.label("issue_status"),
        ).where(Delivery.id.in_(bindparam("ids", expanding=True)))

    def claim(self, conn: Connection, me: str, size: int) -> list[Claimed]:
        """Up to ``size`` (at most ``batch_size``) due rows, now ``sending`` and
        ``me``'s, in id order; none once the issue is not ``sending``. One
        statement, its text compiled once and run through the driver's cursor."""
        now = utcnow()
        sql, names, fixed = self._claim_sql(conn)
        to_time = self.to_time
        values = {
            **fixed,
            "size": max(1, min(size, self.batch_size)),
            "me": me,
            "now": to_time(now),
            "expired": to_time(now - self.lease),
        }
        with self.write_lock, conn.begin():
            found = _driver_rows(conn, sql, names, values)
        created = self.from_time
        return sorted((Claimed(row, created) for row in found), key=lambda r: r.id)

    def _claim_sql(self, conn: Connection) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The claim's text, its positional parameter names (None for named ones)
        and its fixed parameters, compiled once."""
        if self._claim_text is None:
            with self._compiling:
                if self._claim_text is None:
                    self._claim_text = self._compile_claim(conn)
        return self._claim_text

    def _compile_claim(
        self, conn: Connection
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        d = DELIVERIES.c
        due = and_(
            d.issue_id == self.issue_id,
            # As written in ix_deliveries_active: the claim reads that index's range of
            # the issue in id order, only rows still to be sent (not every row).
            _ACTIVE,
            or_(
                and_(
                    d.status == PENDING,
                    or_(d.next_attempt_at.is_(None), d.next_attempt_at <= bindparam("now")),
                ),
                and_(d.status == SENDING, d.claimed_at < bindparam("expired")),
            ),
            exists().where(Issue.id == self.issue_id, Issue.status == IssueStatus.SENDING),
        )
        ids = (
            select(d.id)
            .where(due)
            .order_by(d.id)
            .limit(bindparam("size", type_=Integer))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        stmt = (
            update(DELIVERIES)
            .where(d.id.in_(ids))
            .values(
                status=SENDING,
                claimed_by=bindparam("me"),
                claimed_at=bindparam("now"),
                attempts=d.attempts + 1,
            )
            .returning(*(d[name] for name in Claimed.COLUMNS), d.created_at)
        )
        compiled = stmt.compile(dialect=conn.dialect)
        state = compiled.construct_expanded_state(
            {"me": "", "now": None, "expired": None, "size": self.batch_size}
        )
        fixed = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in state.parameters.items()
        }
        names = tuple(state.positiontup) if state.positiontup is not None else None
        return state.statement, names, fixed

    def warm(self, conn: Connection, chunk: int) -> None:
        """Get ``conn`` ready for the first claim and re-check before the send begins:
        both statements compiled, and the re-check run for ids that do not exist, so
        that the database server has read the catalogs of the tables they touch.
        Claims and changes nothing."""
        self._claim_sql(conn)
        sql, names, fixed = self._check_sql(conn, chunk)
        nothing = {f"ids_{n}": 0 for n in range(1, chunk + 1)}  # ids start at 1
        _driver_rows(conn, sql, names, {**fixed, "me": "", **nothing})

    def check(
        self, conn: Connection, me: str, ids: Sequence[int]
    ) -> dict[int, tuple[str, str | None] | None]:
        """For each row still claimed by ``me``: (salt, contact name) if it may still be
        mailed, None if it was unsubscribed or suppressed meanwhile. Rows another
        claimant took over (an expired lease) are absent: they are not ours to send.
        Raises :class:`IssueHalted` when the issue was paused or cancelled."""
        # One statement (one round trip): the issue's status comes with every row. It
        # runs once a chunk, through the driver's cursor with the text compiled once.
        sql, names, fixed = self._check_sql(conn, len(ids))
        values = {**fixed, "me": me, **{f"ids_{n}": i for n, i in enumerate(ids, 1)}}
        rows = _driver_rows(conn, sql, names, values)
        if not (rows[0][5] == IssueStatus.SENDING if rows else self.sending(conn)):
            raise IssueHalted
        return {
            row_id: (salt, name) if eligible else None
            for row_id, salt, name, eligible, ours, _ in rows
            if ours
        }

    def sending(self, conn: Connection) -> bool:
        """Is the issue still ``sending`` (not paused or cancelled)? One statement by
        primary key, through the driver's cursor like the others (a statement run
        through SQLAlchemy would leave an autocommit connection "in a transaction"
        for the next ``begin``)."""
        if self._status_text is None:
            with self._compiling:
                if self._status_text is None:
                    compiled = self.status_statement.compile(dialect=conn.dialect)
                    state = compiled.construct_expanded_state({})
                    names = tuple(state.positiontup) if state.positiontup is not None else None
                    self._status_text = (state.statement, names, dict(state.parameters))
        sql, names, values = self._status_text
        rows = _driver_rows(conn, sql, names, values)
        return bool(rows) and rows[0][0] == IssueStatus.SENDING.value

    def _check_sql(
        self, conn: Connection, count: int
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """The re-check's text for ``count`` ids, its positional parameter names (None
        for named ones) and its fixed parameters, compiled once per count."""
        known = self._check_texts.get(count)
        if known is None:
            with self._compiling:
                known = self._check_texts.get(count)
                if known is None:
                    known = self._check_texts[count] = self._compile_check(conn, count)
        return known

    def _compile_check(
        self, conn: Connection, count: int
    ) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        compiled = self.check_statement.compile(dialect=conn.dialect)
        state = compiled.construct_expanded_state({"ids": list(range(count)), "me": ""})
        # Statuses are enums stored as their values; everything else goes as it is.
        fixed = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in state.parameters.items()
        }
        names = tuple(state.positiontup) if state.positiontup is not None else None
        return state.statement, names, fixed

    def renew(self, conn: Connection, me: str) -> dict[int, int]:
        """Extend the lease of every row ``me`` holds; the ids it still holds, each
        with its ``attempts``, which every claim raises: a row taken over and then
        claimed again by ``me`` (in a later chunk) is held by that claim, not by the
        chunk that claimed it first (its ``attempts`` differ)."""
        d = DELIVERIES.c
        with self.write_lock, conn.begin():
            held = conn.execute(
                update(DELIVERIES)
                .where(d.issue_id == self.issue_id, d.claimed_by == me, d.status == SENDING)
                .values(claimed_at=utcnow())
                .returning(d.id, d.attempts)
            ).all()
            return {int(i): int(a) for i, a in held}

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


def _driver_rows(
    conn: Connection, sql: str, names: tuple[str, ...] | None, values: dict[str, Any]
) -> list[Any]:
    """The rows of ``sql`` (compiled once, see ``_claim_sql``) run through the driver's
    own cursor: named parameters for psycopg (``names`` None), positional for sqlite3."""
    driver = conn.connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    try:
        if names is None:
            cursor.execute(sql, values)
        else:
            cursor.execute(sql, [values[name] for name in names])
        return list(cursor.fetchall())
    finally:
        cursor.close()
