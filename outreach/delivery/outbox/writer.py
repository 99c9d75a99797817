"""Outcome writes: each committed before the next hand-over on its connection.

When the backend has answered for a message, the worker hands the
:class:`Outcome` to its :class:`OutcomeWriter` and goes on with the next
message; right before that message's point of no return (for SMTP: once the
server has said 354 to DATA, before the body and the final dot) it calls
:meth:`OutcomeWriter.wait`, which returns once the outcome is committed. So
at most one message per connection is ever accepted but not recorded, and
the commit overlaps the next message's envelope exchange.

- PostgreSQL: each worker writes on its own database connection. The outcome
  is one prepared ``UPDATE`` by primary key, sent at once through the
  driver's libpq connection without waiting for the reply (:mod:`psycopg.pq`,
  autocommit: the statement commits by itself); ``wait`` reads the reply. No
  other thread is involved.
- SQLite has one writer: the worker queues the outcome in the send's
  :class:`SqliteOutcomes`, whose committer thread commits it at once with
  every outcome queued by then, of all the workers, in one transaction (a
  group commit) under the process's write lock; ``wait`` returns once it is.

A permanent refusal also puts the address on the suppression list; that
write, and the outcome after it, are made at once through SQLAlchemy (rare).
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.delivery.outbox.rows import PG_OUTCOME, PG_SENT, SQLITE_OUTCOME, OutboxRows
from outreach.delivery.outcomes import Outcome, OutcomeKind, RecordingFailed
from outreach.settings import Settings
from outreach.suppression import SuppressionReason

log = logging.getLogger(__name__)

_OUTCOME = b"outreach_outcome"
_SENT = b"outreach_sent"
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement

Recorded = Callable[[Outcome], None]


class OutcomeWriter:
    """The outcome writes of one worker, on the worker's own database connection
    (in autocommit) or, on SQLite, through the send's :class:`SqliteOutcomes`.

    ``recorded(outcome)`` is called once an outcome is committed. Not
    thread-safe: one worker thread uses it.
    """

    def __init__(
        self,
        rows: OutboxRows,
        conn: Connection,
        settings: Settings,
        recorded: Recorded,
        sqlite: SqliteOutcomes | None = None,
    ) -> None:
        self.rows = rows
        self.conn = conn
        self.settings = settings
        self.recorded = recorded
        self.sqlite = sqlite
        self.failed: BaseException | None = None
        self.pending: Outcome | None = None  # sent to PostgreSQL, reply not read yet
        self.number = 0  # SQLite: the last outcome handed over, not known committed yet
        driver = conn.connection.driver_connection
        assert driver is not None
        self.issue = str(rows.issue_id).encode()
        if rows.postgres:
            self.pg = driver.pgconn
            self.encoding = driver.info.encoding
            self.poll = select.poll()
            self.poll.register(self.pg.socket, select.POLLIN)
            from psycopg import pq  # only PostgreSQL needs the driver

            self.ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
            for name, statement in ((_OUTCOME, PG_OUTCOME), (_SENT, PG_SENT)):
                result = self.pg.prepare(name, statement.encode())
                # A pooled connection keeps what an earlier send in this process
                # prepared: the same statement under the same name.
                if result.error_field(pq.DiagnosticField.SQLSTATE) != _ALREADY_PREPARED:
                    self._check(result)
        elif sqlite is None:
            raise ValueError("SQLite outcomes go through the send's SqliteOutcomes")

    def write(self, outcome: Outcome) -> None:
        """Start writing ``outcome``. Never raises for a failed write: :meth:`wait` does."""
        if self.failed is not None:
            return
        try:
            if outcome.suppress:
                self._suppress_and_write(outcome)
            elif self.sqlite is not None:
                self.number = self.sqlite.submit(outcome)
            else:
                self._wait_pg()
                self._send_pg(outcome)
        except BaseException as exc:
            self.failed = exc

    def wait(self) -> None:
        """Return once every outcome written so far is committed; raises
        :class:`RecordingFailed` if one could not be."""
        if self.failed is None:
            try:
                if self.number:
                    assert self.sqlite is not None
                    self.sqlite.commit_through(self.number)
                    self.number = 0
                elif self.pending is not None:
                    self._wait_pg()
            except BaseException as exc:
                self.failed = exc
        if self.failed is not None:
            raise RecordingFailed(f"recording outcomes failed: {self.failed!r}") from self.failed

    def idle(self) -> Connection:
        """The connection, once nothing is in flight on it (for release and renew)."""
        self.wait()
        return self.conn

    # -- PostgreSQL: send now, read the reply before the next hand-over ----------

    def _send_pg(self, o: Outcome) -> None:
        encoding = self.encoding
        row, me = str(o.delivery_id).encode(), o.claimant.encode(encoding)
        if o.kind is OutcomeKind.SENT:
            self.pg.send_query_prepared(_SENT, [_timestamp(o.sent_at), row, me])
        else:
            error = o.error.replace("\x00", "").encode(encoding, "replace") if o.error else None
            status = o.status.value.encode()
            sent, later = _timestamp(o.sent_at), _timestamp(o.next_attempt_at)
            self.pg.send_query_prepared(_OUTCOME, [status, sent, later, error, row, me, self.issue])
        self.pending = o
        while self.pg.flush():  # the socket's buffer is full (rare: a small statement)
            select.select([], [self.pg.socket], [])

    def _wait_pg(self) -> None:
        outcome = self.pending
        if outcome is None:
            return
        pg = self.pg
        pg.consume_input()
        while pg.is_busy():
            self.poll.poll()
            pg.consume_input()
        first = pg.get_result()
        while pg.get_result() is not None:
            pass
        self.pending = None
        self._check(first)
        self.recorded(outcome)

    def _check(self, result: Any) -> None:
        """Raise if a libpq result is not a successful command."""
        if result is None or result.status not in self.ok:
            message = result.error_message.decode("utf-8", "replace") if result is not None else ""
            raise RecordingFailed(message.strip() or "no reply from the database")

    # -- a hard bounce: the suppression entry first, then the outcome ------------

    def _suppress_and_write(self, o: Outcome) -> None:
        self.wait()
        # Suppress before the outcome: after a crash in between, the row is sent
        # again, the re-check finds the address suppressed, and it is skipped.
        with self.rows.write_lock, self.conn.begin(), Session(bind=self.conn) as session:
            suppression.add(session, self.settings, o.email, SuppressionReason.HARD_BOUNCE, o.error)
            session.flush()
        if self.sqlite is not None:
            self.number = self.sqlite.submit(o)
            self.wait()
        else:
            self._send_pg(o)
            self._wait_pg()


def _timestamp(value: datetime | None) -> bytes | None:
    return None if value is None else value.isoformat().encode()


class SqliteOutcomes:
    """SQLite's outcome writes, for every worker of a send (SQLite has one writer).

    A worker hands its outcome over (:meth:`submit`) and goes on; the send's
    committer thread commits it at once, with every other outcome waiting by
    then, in one transaction (a group commit) under the process's write lock,
    on the send's one outcome connection. So the commit overlaps the next
    message's envelope exchange: right before that message's hand-over the
    worker asks for the commit (:meth:`commit_through`) and finds it done, or
    waits for it. (Committing at that moment, in the worker, put the commit on
    every message's path: 0.2 ms a message, while the server waited after
    its 354.)

    The connection is used by the committer thread only (SQLAlchemy opens file
    databases with ``check_same_thread=False``).
    """

    def __init__(self, rows: OutboxRows, engine: Engine, recorded: Recorded) -> None:
        self.rows = rows
        self.recorded = recorded
        self.connection = engine.raw_connection()
        driver = self.connection.driver_connection
        assert driver is not None
        self.driver: Any = driver
        self.cursor = driver.cursor()
        self.mutex = threading.Lock()  # guards everything below
        self.queued = threading.Condition(self.mutex)  # an outcome to commit, or closing
        self.done = threading.Condition(self.mutex)  # ``committed`` moved, or ``failed``
        self.waiting: list[Outcome] = []
        self.submitted = 0  # outcomes handed over so far, numbered from 1
        self.committed = 0  # every outcome numbered up to this one is committed
        self.failed: BaseException | None = None
        self.closing = False
        self.thread = threading.Thread(
            target=self._commit_loop, name=f"outcomes-{rows.issue_id}", daemon=True
        )
        self.thread.start()

    def submit(self, outcome: Outcome) -> int:
        """Queue ``outcome`` for the committer; its number for :meth:`commit_through`."""
        with self.mutex:
            self.waiting.append(outcome)
            self.submitted += 1
            self.queued.notify()
            return self.submitted

    def commit_through(self, number: int) -> None:
        """Return once outcome ``number`` (and every one before it) is committed."""
        if self.committed >= number:
            return
        with self.mutex:
            while self.committed < number and self.failed is None:
                self.done.wait()
            if self.committed < number:
                assert self.failed is not None
                raise self.failed

    def _commit_loop(self) -> None:
        to_time = self.rows.to_sqlite_time
        issue = self.rows.issue_id
        while True:
            with self.mutex:
                while not self.waiting and not self.closing:
                    self.queued.wait()
                if not self.waiting:
                    return
            with self.rows.write_lock:
                with self.mutex:
                    batch, self.waiting = self.waiting, []
                    last = self.submitted
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
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        self.driver.rollback()
                    log.exception("committing outcomes failed")
                    with self.mutex:
                        self.failed = exc
                        self.done.notify_all()
                    return
            with self.mutex:
                self.committed = last
                self.done.notify_all()
            for o in batch:
                self.recorded(o)

    def close(self) -> None:
        """Commit what is still queued, stop the committer, give the connection back."""
        with self.mutex:
            self.closing = True
            self.queued.notify()
        self.thread.join()
        self.cursor.close()
        self.connection.close()
