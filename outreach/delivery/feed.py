"""The send's feeder threads, which claim and re-check rows ahead of the workers.

A worker sending one chunk of messages asks its :class:`Feeder` for the next
chunk at once; the feeder thread, with a database connection of its own,
runs :meth:`Chunks.next`: it claims rows when the worker has none left,
re-checks the chunk (still ``confirmed``, not suppressed, still the
worker's, issue still ``sending``) and builds its messages, while the
worker's messages go out. So the worker does not wait for the claim and the
re-check: they overlap the sending of the chunk before. A send has one
feeder per two workers; a feeder runs its jobs one at a time, in the order
asked (one round trip or two each, against a chunk of messages per worker).

Every re-check reads the issue's status; what the send last saw of it is its
:class:`IssueWatch`, which the workers read before each hand-over.
"""

from __future__ import annotations

import _thread
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

from outreach.delivery.backends.base import OutgoingMessage
from outreach.delivery.message import IssueMessages
from outreach.delivery.outbox import IssueHalted, OutboxRows
from outreach.delivery.outbox.rows import NO_SEQSCAN
from outreach.delivery.outcomes import Outcome, OutcomeKind, final
from outreach.errors import PermanentDeliveryError
from outreach.suppression import register_sqlite_functions

log = logging.getLogger(__name__)

T = TypeVar("T")


class Pending(Generic[T]):
    """The result of one job, once the feeder has run it (a plain lock, held until then)."""

    __slots__ = ("error", "lock", "value")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.value: T | None = None
        self.error: BaseException | None = None

    def _done(self, value: T | None, error: BaseException | None) -> None:
        self.value, self.error = value, error
        self.lock.release()

    def done(self) -> bool:
        """Whether the job has run (its result will not wait)."""
        return not self.lock.locked()

    def result(self) -> T:
        """Wait for the job; its value, or its exception raised here."""
        with self.lock:
            pass
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


_Job = tuple[Callable[[Connection], object], Pending[object]]


class Feeder:
    """A thread with its own database connection (autocommit) running jobs in order."""

    def __init__(
        self, engine: Engine, name: str, warm: Callable[[Connection], object] | None = None
    ) -> None:
        self.engine = engine
        self.warm = warm  # run once connected, before the first job
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def submit(self, job: Callable[[Connection], T]) -> Pending[T]:
        pending: Pending[T] = Pending()
        self.jobs.put((job, pending))  # type: ignore[arg-type]
        return pending

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()

    def _run(self) -> None:
        conn: Connection | None = None
        broken: BaseException | None = None
        try:
            conn = open_send_connection(self.engine)
        except BaseException as exc:  # every job fails with it; the workers stop
            log.exception("the send's feeder has no database connection")
            broken = exc
        if conn is not None and self.warm is not None:
            try:
                self.warm(conn)
            except Exception:  # the first job meets the cause again and reports it
                log.debug("warming the feeder's connection failed", exc_info=True)
        try:
            while True:
                item = self.jobs.get()
                if item is None:
                    return
                job, pending = item
                if conn is None:
                    pending._done(None, broken)
                    continue
                try:
                    value = job(conn)
                except BaseException as exc:
                    pending._done(None, exc)
                else:
                    pending._done(value, None)
        finally:
            if conn is not None:
                close_send_connection(conn)


def open_send_connection(engine: Engine) -> Connection:
    """A database connection for a send's feeder or worker: in autocommit (every
    step is one statement: no BEGIN and COMMIT round trips) and, on PostgreSQL,
    with ``synchronous_commit`` off and no sequential scans (``rows.NO_SEQSCAN``).
    As for the outcomes (outbox.writer): what it writes is durable when the
    sending process dies; a crash of the database server itself can undo the
    last fraction of a second, claims and outcomes alike, in order."""
    conn = engine.connect()
    try:
        register_sqlite_functions(conn.connection.driver_connection)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET synchronous_commit TO OFF")
            conn.exec_driver_sql(NO_SEQSCAN)
        conn.commit()
        conn.execution_options(isolation_level="AUTOCOMMIT")
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    return conn


def close_send_connection(conn: Connection) -> None:
    """Undo :func:`open_send_connection`'s settings before the pool has the
    connection again (a broken one is discarded, not pooled)."""
    try:
        if conn.dialect.name == "postgresql":
            try:
                conn.exec_driver_sql("RESET synchronous_commit")
                conn.exec_driver_sql("RESET enable_seqscan")
            except Exception:
                conn.invalidate()
    finally:
        conn.close()


class IssueWatch:
    """What a send has seen of its issue's status, shared by all its threads.

    ``seen``: the monotonic time of the latest look (a chunk's re-check, or
    :meth:`Chunks.look`) that found the issue ``sending``, taken before the
    look was sent (so the issue was ``sending`` at that time or later).
    ``halted``: set once a look found it paused or cancelled. A worker reads
    both before each hand-over: a flag and a float, no round trip.
    """

    __slots__ = ("halted", "seen")

    def __init__(self) -> None:
        self.halted = threading.Event()
        self.seen = -math.inf

    def saw_sending(self, looked: float) -> None:
        # Threads race here; keeping an older time than the latest only makes the
        # next look come sooner.
        if looked > self.seen:
            self.seen = looked


class Holder:
    """One worker's claim: its claimant id, its feeder, and the rows claimed but
    not chunked yet.

    The feeder changes ``claimed`` while it runs a job for the worker; the
    worker reads it only once that job is done.
    """

    __slots__ = ("claimed", "feeder", "leased", "me", "release")

    def __init__(self, me: str, feeder: Feeder) -> None:
        self.me = me
        self.feeder = feeder
        self.claimed: list[Any] = []
        self.leased = 0.0  # monotonic time of the last claim or renewal
        self.release: list[int] = []  # claimed, not handed over: back to pending


class Chunk:
    """Re-checked rows of one worker, with their messages built."""

    __slots__ = ("halted", "handed", "leased", "rows", "to_send", "unsent")

    def __init__(self, rows: list[Any], leased: float) -> None:
        self.rows = rows  # every claimed row it covers
        self.leased = leased
        self.to_send: list[tuple[Any, OutgoingMessage]] = []
        self.unsent: list[Outcome] = []  # skipped or failed without a backend
        self.handed: set[int] = set()
        self.halted = False  # the issue was paused or cancelled: nothing sent


class Chunks:
    """The feeder's job: claim, re-check and build a worker's next chunk."""

    def __init__(
        self,
        rows: OutboxRows,
        messages: dict[str, IssueMessages],
        default_lang: str,
        claim_size: Callable[[], int],
        watch: IssueWatch,
    ) -> None:
        self.rows = rows
        self.messages = messages
        self.default_lang = default_lang
        self.claim_size = claim_size  # how many rows to claim now
        self.watch = watch

    def look(self, conn: Connection) -> bool:
        """Read the issue's status now (one round trip): is it still ``sending``?
        Recorded in :attr:`watch`."""
        looked = time.monotonic()
        if self.rows.sending(conn):
            self.watch.saw_sending(looked)
            return True
        self.watch.halted.set()
        return False

    def build(self, row: Any, info: tuple[str, str | None]) -> OutgoingMessage:
        builder = self.messages.get(row.language) or self.messages[self.default_lang]
        return builder.build(
            email=row.email,
            subscriber_id=row.subscriber_id,
            subscription_id=row.subscription_id,
            token_salt=info[0],
            contact_name=info[1],
            delivery_id=row.id,
        )

    def next(self, conn: Connection, holder: Holder, size: int) -> Chunk | None:
        """Claim rows for ``holder`` if it has none left, then re-check and build the
        next ``size`` of them; None when nothing is due (or the issue is not sending)."""
        me = holder.me
        if not holder.claimed:
            leased = time.monotonic()
            holder.claimed = self.rows.claim(conn, me, self.claim_size())
            holder.leased = leased
            if not holder.claimed:
                return None
        rows, holder.claimed = holder.claimed[:size], holder.claimed[size:]
        chunk = Chunk(rows, holder.leased)
        try:
            looked = time.monotonic()
            info = self.rows.check(conn, me, [r.id for r in rows])
            self.watch.saw_sending(looked)
            for row in rows:
                if row.id not in info:
                    continue  # taken over by another claimant after our lease ran out
                details = info[row.id]
                if details is None:
                    reason = "unsubscribed or suppressed before sending"
                    chunk.unsent.append(final(row, me, OutcomeKind.SKIPPED, reason))
                    continue
                try:
                    chunk.to_send.append((row, self.build(row, details)))
                except PermanentDeliveryError as exc:
                    chunk.unsent.append(final(row, me, OutcomeKind.FAILED, str(exc)))
        except IssueHalted:
            chunk.halted = True
            self.watch.halted.set()  # every worker stops before its next hand-over
        except BaseException:
            holder.claimed = rows + holder.claimed  # still ours: released by the worker
            raise
        return chunk
