"""Outcome writes: each committed before the next hand-over on its connection.

When the backend has answered for a message, the worker hands the
:class:`Outcome` to its :class:`OutcomeWriter` and goes on with the next
message; right before that message's point of no return (for SMTP: once the
server has said 354 to DATA, before the body and the final dot) it calls
:meth:`OutcomeWriter.wait`, which returns once the outcome is committed. So
at most one message per connection is ever accepted but not recorded, and
the commit overlaps the next message's envelope exchange.

- PostgreSQL: the send's workers share one database connection for their
  outcomes, in libpq's pipeline mode (:class:`PgOutcomes`). An outcome is one
  prepared ``UPDATE`` by primary key and a sync, so it commits by itself; it
  is sent at once without waiting for the reply (:mod:`psycopg.pq`), and
  ``wait`` reads replies until its own is in. One busy server process costs
  the server less CPU an outcome than four that each wake up for a quarter
  of the outcomes (docs/delivery.md). No other thread is involved.
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
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.delivery.outbox.rows import (
    NO_SEQSCAN,
    PG_OUTCOME,
    PG_SENT,
    SQLITE_OUTCOME,
    OutboxRows,
)
from outreach.delivery.outcomes import Outcome, OutcomeKind, RecordingFailed
from outreach.settings import Settings
from outreach.suppression import SuppressionReason

log = logging.getLogger(__name__)

_OUTCOME = b"outreach_outcome"
_SENT = b"outreach_sent"
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement

Recorded = Callable[[Outcome], None]

#: The longest a worker waits on the outcome connection's socket before it looks
#: again whether the connection failed meanwhile (ms).
READ_WAIT_MS = 200


class OutcomeWriter:
    """The outcome writes of one worker: on PostgreSQL through the send's
    :class:`PgOutcomes`, on SQLite through its :class:`SqliteOutcomes`.
    ``connection()`` gives the worker's own connection (in autocommit), opened
    on the first call, for the suppression entry of a hard bounce.

    ``recorded(outcome)`` is called once an outcome is committed. Not
    thread-safe: one worker thread uses it.
    """

    def __init__(
        self,
        rows: OutboxRows,
        connection: Callable[[], Connection],
        settings: Settings,
        recorded: Recorded,
        shared: SqliteOutcomes | PgOutcomes,
    ) -> None:
        self.rows = rows
        self.connection = connection
        self.settings = settings
        self.recorded = recorded
        self.shared = shared
        self.failed: BaseException | None = None
        self.pending: Outcome | None = None  # handed over, not known committed yet
        self.ticket: Ticket | int = 0

    def write(self, outcome: Outcome) -> None:
        """Start writing ``outcome``. Never raises for a failed write: :meth:`wait` does."""
        if self.failed is not None:
            return
        try:
            if outcome.suppress:
                self._suppress_and_write(outcome)
            else:
                self._settle()
                self.ticket = self.shared.submit(outcome)
                self.pending = outcome
        except BaseException as exc:
            self.failed = exc

    def wait(self) -> None:
        """Return once every outcome written so far is committed; raises
        :class:`RecordingFailed` if one could not be."""
        if self.failed is None:
            try:
                self._settle()
            except BaseException as exc:
                self.failed = exc
        if self.failed is not None:
            raise RecordingFailed(f"recording outcomes failed: {self.failed!r}") from self.failed

    def idle(self) -> Connection:
        """The connection, once nothing is in flight (for release and renew)."""
        self.wait()
        return self.connection()

    def _settle(self) -> None:
        outcome = self.pending
        if outcome is None:
            return
        self.shared.settle(self.ticket)
        self.pending = None
        if isinstance(self.shared, PgOutcomes):  # SQLite's committer reports its own
            self.recorded(outcome)

    # -- a hard bounce: the suppression entry first, then the outcome ------------

    def _suppress_and_write(self, o: Outcome) -> None:
        self.wait()
        conn = self.connection()
        # Suppress before the outcome: after a crash in between, the row is sent
        # again, the re-check finds the address suppressed, and it is skipped.
        with self.rows.write_lock, conn.begin(), Session(bind=conn) as session:
            suppression.add(session, self.settings, o.email, SuppressionReason.HARD_BOUNCE, o.error)
            session.flush()
        self.ticket = self.shared.submit(o)
        self.pending = o
        self.wait()


class Ticket:
    """One outcome sent on :class:`PgOutcomes`' connection; settled once its
    reply and its sync's are read."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = False
        self.error: str | None = None


class PgOutcomes:
    """PostgreSQL's outcome writes, for every worker of a send: one connection
    in libpq's pipeline mode (:mod:`psycopg.pq`), opened by the first worker
    (:meth:`open`).

    :meth:`submit` sends an outcome's prepared ``UPDATE`` and a sync (so each
    outcome is a transaction of its own, committed by itself) without waiting;
    :meth:`settle` returns once its reply is read. Replies come in the order
    the statements went out: one worker at a time reads them from the socket,
    for every worker, and marks their tickets; the others wait for it. Every
    call into libpq is made under ``mutex``; the wait for the socket is not.

    A failed statement fails its own ticket. A broken connection fails every
    ticket in flight and every later one: the workers stop, their rows stay
    ``sending`` until they are claimed again.
    """

    def __init__(self, rows: OutboxRows, engine: Engine) -> None:
        self.rows = rows
        self.engine = engine
        self.issue = str(rows.issue_id).encode()
        self.mutex = threading.Lock()  # guards libpq and everything below
        self.read = threading.Condition(self.mutex)  # a reader is done
        self.flight: deque[Ticket] = deque()  # sent, in order, replies not read yet
        self.reading = False  # a worker waits on the socket (outside the mutex)
        self.failed: BaseException | None = None
        self.connection: Any = None  # SQLAlchemy's pooled connection, once opened
        self.pg: Any = None
        self.poll = select.poll()
        self.ok: tuple[Any, ...] = ()
        self.sync: Any = None
        self.encoding = "utf-8"

    def open(self) -> None:
        """Connect, once (the first worker does; the others find it open)."""
        with self.mutex:
            if self.pg is not None or self.failed is not None:
                return
            from psycopg import pq  # only PostgreSQL needs the driver

            self.ok = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
            self.sync = pq.ExecStatus.PIPELINE_SYNC
            connection = self.engine.raw_connection()
            try:
                driver: Any = connection.driver_connection
                pg = driver.pgconn
                # Durable when the sending process dies, like SQLite's WAL with
                # synchronous=NORMAL and Postfix marking a recipient done: only a
                # crash of the database server itself can lose the last fraction
                # of a second of outcomes (re-sent then: duplicates, never losses).
                self._check(pg.exec_(b"SET synchronous_commit TO OFF"))
                # By primary key, whatever the statistics say (rows.NO_SEQSCAN).
                self._check(pg.exec_(NO_SEQSCAN.encode()))
                # Named in pg_stat_activity: the send's one connection that writes.
                label = f"SET application_name TO 'outreach outcomes {self.rows.issue_id}'"
                self._check(pg.exec_(label.encode()))
                for name, statement in ((_OUTCOME, PG_OUTCOME), (_SENT, PG_SENT)):
                    result = pg.prepare(name, statement.encode())
                    # A pooled connection keeps what an earlier send in this
                    # process prepared: the same statement under the same name.
                    if result.error_field(pq.DiagnosticField.SQLSTATE) != _ALREADY_PREPARED:
                        self._check(result)
                pg.enter_pipeline_mode()
            except BaseException:
                connection.invalidate()
                raise
            self.connection, self.pg, self.encoding = connection, pg, driver.info.encoding
            self.poll.register(pg.socket, select.POLLIN)

    def submit(self, o: Outcome) -> Ticket:
        """Send ``o``'s statement and a sync; the ticket for :meth:`settle`."""
        row, ticket = str(o.delivery_id).encode(), Ticket()
        with self.mutex:
            if self.failed is not None:
                raise self.failed
            if self.pg is None:
                raise RecordingFailed("the outcome connection is not open")
            pg, me = self.pg, o.claimant.encode(self.encoding)
            try:
                if o.kind is OutcomeKind.SENT:
                    pg.send_query_prepared(_SENT, [_timestamp(o.sent_at), row, me])
                else:
                    error = o.error.replace("\x00", "") if o.error else None
                    pg.send_query_prepared(
                        _OUTCOME,
                        [
                            o.status.value.encode(),
                            _timestamp(o.sent_at),
                            _timestamp(o.next_attempt_at),
                            error.encode(self.encoding, "replace") if error else None,
                            row,
                            me,
                            self.issue,
                        ],
                    )
                pg.pipeline_sync()
                while pg.flush():  # the socket's buffer is full (rare: small statements)
                    select.select([], [pg.socket], [])
            except BaseException as exc:
                self._fail(exc)
                raise
            self.flight.append(ticket)
        return ticket

    def settle(self, ticket: Ticket | int) -> None:
        """Return once ``ticket``'s outcome is committed; raise if it failed."""
        assert isinstance(ticket, Ticket)
        with self.mutex:
            while not ticket.done and self.failed is None:
                if self.reading:  # another worker reads for everyone
                    self.read.wait()
                    continue
                self._take()
                if ticket.done or self.failed is not None:
                    break
                self.reading = True
                self.mutex.release()
                try:
                    # Bounded: a worker that finds the connection broken makes libpq
                    # close its socket, and a poll already waiting on it is never
                    # woken; the reader then looks again (``_take`` fails the send).
                    self.poll.poll(READ_WAIT_MS)
                finally:
                    self.mutex.acquire()
                    self.reading = False
                self._take()
                self.read.notify_all()
            if ticket.error is not None:
                raise RecordingFailed(ticket.error)
            if not ticket.done:
                assert self.failed is not None
                raise self.failed

    def close(self) -> None:
        """Give the connection back (every ticket is settled by now)."""
        with self.mutex:
            connection, self.connection, self.pg = self.connection, None, None
        if connection is None:
            return
        try:
            if self.failed is not None or self.flight:
                raise RecordingFailed("the outcome connection is not idle")
            pg = connection.driver_connection.pgconn
            pg.exit_pipeline_mode()
            for reset in (
                b"RESET synchronous_commit",
                b"RESET enable_seqscan",
                b"RESET application_name",
            ):
                self._check(pg.exec_(reset))
        except BaseException:  # the pool must not hand it out again
            connection.invalidate()
        else:
            connection.close()

    def _take(self) -> None:
        """Read the replies that are in and settle their tickets (under the mutex)."""
        pg, flight = self.pg, self.flight
        try:
            pg.consume_input()
            while flight and not pg.is_busy():
                result = pg.get_result()
                if result is None:  # the end of one statement's results
                    continue
                if result.status == self.sync:
                    flight.popleft().done = True
                elif result.status not in self.ok and flight[0].error is None:
                    message = result.error_message.decode("utf-8", "replace").strip()
                    flight[0].error = message or "the outcome was not written"
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """The connection is broken: every ticket in flight and every later one fails."""
        log.error("the send's outcome connection failed: %r", exc)
        self.failed = exc if isinstance(exc, RecordingFailed) else RecordingFailed(repr(exc))
        self.flight.clear()
        self.read.notify_all()

    def _check(self, result: Any) -> None:
        """Raise if a libpq result is not a successful command."""
        if result is None or result.status not in self.ok:
            message = result.error_message.decode("utf-8", "replace") if result is not None else ""
            raise RecordingFailed(message.strip() or "no reply from the database")


def _timestamp(value: datetime | None) -> bytes | None:
    return None if value is None else value.isoformat().encode()


class SqliteOutcomes:
    """SQLite's outcome writes, for every worker of a send (SQLite has one writer).

    A worker hands its outcome over (:meth:`submit`) and goes on; the send's
    committer thread commits it at once, with every other outcome waiting by
    then, in one transaction (a group commit) under the process's write lock,
    on the send's one outcome connection. So the commit overlaps the next
    message's envelope exchange: right before that message's hand-over the
    worker asks for the commit (:meth:`settle`) and finds it done, or
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

    def submit(self, outcome: Outcome) -> Ticket | int:
        """Queue ``outcome`` for the committer; its number for :meth:`settle`."""
        with self.mutex:
            self.waiting.append(outcome)
            self.submitted += 1
            self.queued.notify()
            return self.submitted

    def settle(self, number: Ticket | int) -> None:
        """Return once outcome ``number`` (and every one before it) is committed."""
        assert isinstance(number, int)
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
