"""Outcome writes: each committed before the next hand-over on its connection.

When the backend has answered for a message, the worker hands the
:class:`Outcome` to its :class:`OutcomeWriter` and goes on with the next
message; right before that message's point of no return (for SMTP: once the
server has said 354 to DATA, before the body and the final dot) it calls
:meth:`OutcomeWriter.wait`, which returns once the outcome is committed. So
at most one message per connection is ever accepted but not recorded, and
the commit overlaps the next message's envelope exchange.

The outcomes of every worker of a send go through the send's
:class:`GroupOutcomes`: a worker queues its outcome (no other thread is
woken) and, when it needs it committed, unless another worker's commit took
it meanwhile, commits every outcome queued by then, its own and the other
workers', in one statement or transaction (a group commit) on the send's one
outcome connection:

- PostgreSQL: one prepared ``UPDATE … FROM unnest(arrays)`` in autocommit,
  sent through the driver's libpq connection (:mod:`psycopg.pq`), its
  parameters as text arrays; the thread waits for the reply in ``poll``
  (the GIL let go).
- SQLite (one writer): the outcomes' ``UPDATE`` with ``executemany`` and
  one commit, under the process's write lock.

A permanent refusal also puts the address on the suppression list; that
write, on the worker's own connection, comes first and the outcome is
committed at once (rare).
"""

from __future__ import annotations

import _thread
import contextlib
import logging
import select
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.delivery.outbox.rows import PG_OUTCOMES, SQLITE_OUTCOME, OutboxRows
from outreach.delivery.outcomes import Outcome, RecordingFailed
from outreach.settings import Settings
from outreach.suppression import SuppressionReason

log = logging.getLogger(__name__)

_OUTCOMES = b"outreach_outcomes"
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement

Recorded = Callable[[Outcome], None]


class OutcomeWriter:
    """The outcome writes of one worker: through the send's :class:`GroupOutcomes`,
    and a hard bounce's suppression entry on the worker's own connection.

    Not thread-safe: one worker thread uses it.
    """

    def __init__(
        self, rows: OutboxRows, conn: Connection, settings: Settings, group: GroupOutcomes
    ) -> None:
        self.rows = rows
        self.conn = conn
        self.settings = settings
        self.group = group
        self.failed: BaseException | None = None
        self.number = 0  # the last outcome handed over, not known committed yet

    def write(self, outcome: Outcome) -> None:
        """Start writing ``outcome``. Never raises for a failed write: :meth:`wait` does."""
        if self.failed is not None:
            return
        try:
            if outcome.suppress:
                self._suppress_and_write(outcome)
            else:
                self.number = self.group.submit(outcome)
        except BaseException as exc:
            self.failed = exc

    def wait(self) -> None:
        """Return once every outcome written so far is committed; raises
        :class:`RecordingFailed` if one could not be."""
        if self.failed is None and self.number:
            try:
                self.group.commit_through(self.number)
                self.number = 0
            except BaseException as exc:
                self.failed = exc
        if self.failed is not None:
            raise RecordingFailed(f"recording outcomes failed: {self.failed!r}") from self.failed

    def idle(self) -> Connection:
        """The worker's connection (for release and renew), its outcomes committed."""
        self.wait()
        return self.conn

    def _suppress_and_write(self, o: Outcome) -> None:
        self.wait()
        # Suppress before the outcome: after a crash in between, the row is sent
        # again, the re-check finds the address suppressed, and it is skipped.
        with self.rows.write_lock, self.conn.begin(), Session(bind=self.conn) as session:
            suppression.add(session, self.settings, o.email, SuppressionReason.HARD_BOUNCE, o.error)
            session.flush()
        self.number = self.group.submit(o)
        self.wait()


class GroupOutcomes:
    """The outcome writes of every worker of a send, committed in groups.

    A worker hands its outcome over (:meth:`submit`, no other thread is woken)
    and goes on. Right before its next hand-over it asks for that outcome's
    commit (:meth:`commit_through`): unless an earlier commit already took it,
    the worker itself commits every outcome waiting, its own and the other
    workers', in one statement or transaction, under the group's lock, on the
    send's one outcome connection. An outcome waits about one message's
    exchange for its commit, and in that time the other workers' outcomes
    gather: a commit takes several, and its cost (a statement's round trip
    and WAL on PostgreSQL, the WAL frames of a SQLite commit) is shared.

    The connection is used by one worker at a time, under the lock, from
    whichever thread commits (SQLAlchemy's pool hands connections between
    threads; SQLite file databases are opened with ``check_same_thread=False``).
    """

    def __init__(self, rows: OutboxRows, engine: Engine, recorded: Recorded) -> None:
        self.rows = rows
        self.recorded = recorded
        self.connection = engine.raw_connection()
        driver = self.connection.driver_connection
        assert driver is not None
        self.driver: Any = driver
        # SQLite: the process's write lock; PostgreSQL: this group's own.
        self.commit_lock: Any = rows.write_lock if not rows.postgres else _thread.allocate_lock()
        self.lock = _thread.allocate_lock()  # guards ``waiting`` and ``submitted``
        self.waiting: list[Outcome] = []
        self.submitted = 0  # outcomes handed over so far, numbered from 1
        self.committed = 0  # every outcome numbered up to this one is committed
        self.failed: BaseException | None = None
        self.write: Callable[[Sequence[Outcome]], None]
        try:
            if rows.postgres:
                self.write = _PgWrites(driver, rows.issue_id).write
            else:
                self.write = _SqliteWrites(driver, rows).write
        except BaseException:
            self.connection.close()
            raise

    def submit(self, outcome: Outcome) -> int:
        """Queue ``outcome`` for the next group commit; its number for :meth:`commit_through`."""
        with self.lock:
            self.waiting.append(outcome)
            self.submitted += 1
            return self.submitted

    def commit_through(self, number: int) -> None:
        """Return once outcome ``number`` (and every one before it) is committed."""
        if self.committed >= number:
            return
        with self.commit_lock:
            if self.committed >= number:
                return  # another worker's group commit took it meanwhile
            if self.failed is not None:
                raise self.failed
            with self.lock:
                batch, self.waiting = self.waiting, []
                last = self.submitted
            try:
                self.write(batch)
            except BaseException as exc:
                self.failed = exc
                raise
            self.committed = last
        for o in batch:
            self.recorded(o)

    def close(self) -> None:
        """Commit what is still waiting (a worker that stopped without it), give the
        connection back."""
        try:
            if self.failed is None and self.submitted > self.committed:
                self.commit_through(self.submitted)
        finally:
            if self.rows.postgres:
                self._reset_pg()
            self.connection.close()

    def _reset_pg(self) -> None:
        """Undo the session setting before the pool has the connection again; a
        connection that cannot is not handed out again."""
        from psycopg import pq

        try:
            result = self.driver.pgconn.exec_(b"RESET synchronous_commit")
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise RecordingFailed(result.error_message.decode("utf-8", "replace"))
        except Exception:
            self.connection.invalidate()


class _SqliteWrites:
    """A group's outcomes on SQLite: ``executemany`` and one commit."""

    def __init__(self, driver: Any, rows: OutboxRows) -> None:
        self.driver = driver
        self.cursor = driver.cursor()
        self.to_time = rows.to_sqlite_time
        self.issue = rows.issue_id

    def write(self, batch: Sequence[Outcome]) -> None:
        to_time, issue = self.to_time, self.issue
        try:
            self.cursor.executemany(
                SQLITE_OUTCOME,
                [
                    (
                        o.status.value,
                        to_time(o.sent_at),
                        to_time(o.next_attempt_at),
                        o.error,
                        o.delivery_id,
                        o.claimant,
                        issue,
                    )
                    for o in batch
                ],
            )
            self.driver.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                self.driver.rollback()
            raise


class _PgWrites:
    """A group's outcomes on PostgreSQL: one prepared statement in autocommit, the
    outcomes as text arrays, through the driver's libpq connection."""

    def __init__(self, driver: Any, issue_id: int) -> None:
        from psycopg import pq  # only PostgreSQL needs the driver

        self.pg = driver.pgconn
        self.encoding = driver.info.encoding
        self.issue = str(issue_id).encode()
        self.ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
        self.poll = select.poll()
        self.poll.register(self.pg.socket, select.POLLIN)
        # Statements sent on the libpq connection itself, with no BEGIN, each
        # commit by themselves (the pool hands the connection over idle).
        # Durable when the sending process dies, like SQLite's WAL with
        # synchronous=NORMAL and Postfix marking a recipient done: only a crash of
        # the database server itself can lose the last fraction of a second of
        # outcomes (re-sent then: duplicates, never losses).
        self._check(self.pg.exec_(b"SET synchronous_commit TO OFF"))
        result = self.pg.prepare(_OUTCOMES, PG_OUTCOMES.encode())
        # A pooled connection keeps what an earlier send in this process prepared:
        # the same statement under the same name.
        if result.error_field(pq.DiagnosticField.SQLSTATE) != _ALREADY_PREPARED:
            self._check(result)

    def write(self, batch: Sequence[Outcome]) -> None:
        encoding = self.encoding
        params = [
            _array([o.status.value for o in batch], encoding),
            _array([_timestamp(o.sent_at) for o in batch], encoding),
            _array([_timestamp(o.next_attempt_at) for o in batch], encoding),
            _array([o.error.replace("\x00", "") if o.error else None for o in batch], encoding),
            ("{" + ",".join([str(o.delivery_id) for o in batch]) + "}").encode(),
            _array([o.claimant for o in batch], encoding),
            self.issue,
        ]
        pg = self.pg
        pg.send_query_prepared(_OUTCOMES, params)
        while pg.flush():  # the socket's buffer is full (a long batch of long errors)
            select.select([], [pg.socket], [])
        pg.consume_input()
        while pg.is_busy():
            self.poll.poll()
            pg.consume_input()
        first = pg.get_result()
        while pg.get_result() is not None:
            pass
        self._check(first)

    def _check(self, result: Any) -> None:
        """Raise if a libpq result is not a successful command."""
        if result is None or result.status not in self.ok:
            message = result.error_message.decode("utf-8", "replace") if result is not None else ""
            raise RecordingFailed(message.strip() or "no reply from the database")


def _timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _array(values: Sequence[str | None], encoding: str) -> bytes:
    """A PostgreSQL array literal in text form: each element quoted, None as NULL."""
    return (
        "{"
        + ",".join(
            [
                "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                for v in values
            ]
        )
        + "}"
    ).encode(encoding, "replace")
