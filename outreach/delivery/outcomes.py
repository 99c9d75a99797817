"""Outcomes of a send: what each backend answer means for its row, and one
writer thread that makes them durable.

Workers hand an outcome to the :class:`Recorder` and go on with the next
message; they wait for the outcome's commit only at the last moment — right
before the next message on their connection is irrevocably handed over (for
SMTP: before the final ``.`` of DATA). So the commit overlaps the next
message's transfer instead of adding to it, and the crash bound still holds:
at most one message per connection is accepted but not recorded.

The recorder commits whatever outcomes are waiting in one transaction (a
group commit), so four connections cost about one commit per round, not four.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.delivery.backends.base import SendResult
from outreach.delivery.outbox import DELIVERIES
from outreach.models import DeliveryStatus, Issue, IssueStatus, UTCDateTime
from outreach.settings import Settings
from outreach.suppression import SuppressionReason

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 6 * 3600.0
Outcome = dict[str, Any]


def backoff_seconds(attempts: int, base: float) -> float:
    """Exponential backoff with ±25 % jitter: base, 2·base, 4·base … up to 6 hours."""
    delay: float = min(MAX_BACKOFF_SECONDS, base * 2.0 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.75, 1.25))


def final(row: Any, me: str, status: str, error: str) -> Outcome:
    """An outcome that needs no backend answer (skipped, invalid address)."""
    return {
        "b_id": row.id,
        "b_me": me,
        "b_status": status,
        "b_sent_at": None,
        "b_next": None,
        "b_error": error,
        "email": row.email,
        "suppress": False,
        "kind": status,
    }


def answered(
    row: Any,
    me: str,
    result: SendResult,
    now: datetime,
    *,
    lifetime: timedelta,
    retry_base: float,
) -> Outcome:
    """The outcome of a backend answer: sent, failed (and suppressed), or a retry."""
    base: Outcome = {
        "b_id": row.id,
        "b_me": me,
        "b_sent_at": None,
        "b_next": None,
        "b_error": result.reply,
        "email": row.email,
        "suppress": False,
    }
    if result.status == "sent":
        return {**base, "b_status": "sent", "b_sent_at": now, "b_error": None, "kind": "sent"}
    if result.status == "permanent":
        return {**base, "b_status": "failed", "kind": "failed", "suppress": True}
    if now - row.created_at >= lifetime:
        error = f"gave up after {row.attempts} attempts: {result.reply}"
        return {**base, "b_status": "failed", "b_error": error, "kind": "failed"}
    delay = max(backoff_seconds(row.attempts, retry_base), result.retry_after or 0.0)
    return {
        **base,
        "b_status": "pending",
        "b_next": now + timedelta(seconds=delay),
        "kind": "retrying",
    }


# The same UPDATE as Recorder.statement, for a whole batch: the outcomes go in as
# arrays, so the statement text (and PostgreSQL's prepared plan) is the same for
# any batch size. A retry of a cancelled issue ends cancelled.
_PG_BATCH = f"""
UPDATE {DELIVERIES.name} AS d SET
  status = CASE WHEN o.status = '{DeliveryStatus.PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = %(issue_id)s AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE o.status END,
  sent_at = o.sent_at, next_attempt_at = o.next, last_error = o.error, claimed_by = NULL
FROM unnest(%(ids)s::integer[], %(mes)s::varchar[], %(statuses)s::varchar[],
            %(sent)s::timestamptz[], %(next)s::timestamptz[], %(errors)s::text[])
  AS o(id, me, status, sent_at, next, error)
WHERE d.id = o.id AND d.claimed_by = o.me AND d.status = '{DeliveryStatus.SENDING.value}'
"""


# SQLite: the same statement for one outcome, executed for each (in-process, no round
# trips); written out so that no statement is compiled per outcome.
_SQLITE_ONE = f"""
UPDATE {DELIVERIES.name} SET
  status = CASE WHEN :status = '{DeliveryStatus.PENDING.value}' AND EXISTS (
      SELECT 1 FROM {Issue.__tablename__} AS i
      WHERE i.id = :issue_id AND i.status = '{IssueStatus.CANCELLED.value}')
    THEN '{DeliveryStatus.CANCELLED.value}' ELSE :status END,
  sent_at = :sent_at, next_attempt_at = :next, last_error = :error, claimed_by = NULL
WHERE id = :id AND claimed_by = :me AND status = '{DeliveryStatus.SENDING.value}'
"""


class RecordingFailed(RuntimeError):
    """The outcomes could not be written; the rows stay ``sending`` until reclaimed."""


class Ticket:
    """One submission: set once its outcomes are committed (or failed to be)."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None

    def wait(self) -> None:
        self.done.wait()
        if self.error is not None:
            raise RecordingFailed(f"recording outcomes failed: {self.error!r}") from self.error


class Recorder:
    """Threads, each with its own database connection, that commit submitted outcomes.

    ``submit`` returns a :class:`Ticket`; ``Ticket.wait`` returns once the
    outcomes are durable. ``recorded(outcomes)`` is called after each commit.
    Each thread commits whatever is waiting when it is free. A send uses one:
    on PostgreSQL a connection per worker cost more CPU than the round trips
    it saved, and SQLite has one writer anyway.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issue_id: int,
        write_lock: AbstractContextManager[Any],
        recorded: Callable[[list[Outcome]], None],
        *,
        threads: int = 1,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.write_lock = write_lock
        self.recorded = recorded
        self.queue: queue.SimpleQueue[tuple[list[Outcome], Ticket] | None] = queue.SimpleQueue()
        self.failed: BaseException | None = None
        self.postgres = engine.dialect.name == "postgresql"
        self.issue_id = issue_id
        # The column type's own conversion, so the stored text is what SQLAlchemy writes.
        self.to_sqlite_time = UTCDateTime().bind_processor(engine.dialect) or (lambda v: v)
        self.threads = [
            threading.Thread(target=self._run, name=f"record-{issue_id}-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, outcomes: list[Outcome]) -> Ticket:
        ticket = Ticket()
        if not outcomes:
            ticket.done.set()
        elif self.failed is not None:
            ticket.error = self.failed
            ticket.done.set()
        else:
            self.queue.put((outcomes, ticket))
        return ticket

    def close(self) -> None:
        """Commit what is waiting and stop the threads."""
        for _ in self.threads:
            self.queue.put(None)
        for thread in self.threads:
            thread.join()

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
                if self.postgres:
                    # One statement per batch, committed by itself: one round trip.
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                    # Durable when the sending process dies, like SQLite's WAL with
                    # synchronous=NORMAL and Postfix marking a recipient done: only a
                    # crash of the database server itself can lose the last fraction
                    # of a second of outcomes (re-sent then: duplicates, never losses).
                    conn.exec_driver_sql("SET synchronous_commit TO OFF")
                    conn.commit()
                running = True
                while running:
                    item = self.queue.get()
                    if item is None:
                        break
                    batch = [item]
                    while True:
                        try:
                            item = self.queue.get_nowait()
                        except queue.Empty:
                            break
                        if item is None:
                            running = False
                            break
                        batch.append(item)
                    self._commit(conn, batch)
                if self.postgres:
                    conn.exec_driver_sql("RESET synchronous_commit")  # before the pool has it
                    conn.commit()
        except BaseException as exc:  # the connection itself failed
            log.exception("the outcome recorder stopped")
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.failed = exc
        while True:  # fail everything still waiting, so no worker waits forever
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].error = exc
                item[1].done.set()

    def _sqlite_params(self, o: Outcome) -> dict[str, Any]:
        return {
            "issue_id": self.issue_id,
            "id": o["b_id"],
            "me": o["b_me"],
            "status": o["b_status"],
            "sent_at": self.to_sqlite_time(o["b_sent_at"]),
            "next": self.to_sqlite_time(o["b_next"]),
            "error": o["b_error"],
        }

    def _batch(self, conn: Any, outcomes: list[Outcome]) -> None:
        """PostgreSQL: every outcome of the batch in one statement (arrays, one round trip)."""
        conn.exec_driver_sql(
            _PG_BATCH,
            {
                "issue_id": self.issue_id,
                "ids": [o["b_id"] for o in outcomes],
                "mes": [o["b_me"] for o in outcomes],
                "statuses": [o["b_status"] for o in outcomes],
                "sent": [o["b_sent_at"] for o in outcomes],
                "next": [o["b_next"] for o in outcomes],
                "errors": [o["b_error"] for o in outcomes],
            },
        )

    def _commit(self, conn: Any, batch: list[tuple[list[Outcome], Ticket]]) -> None:
        outcomes = [o for chunk, _ in batch for o in chunk]
        try:
            if self.failed is not None:
                raise self.failed
            bounced = [o for o in outcomes if o["suppress"]]
            with self.write_lock, conn.begin():
                # Suppress before the outcome: after a crash in between, the row is
                # sent again, the re-check finds the address suppressed, it is skipped.
                if bounced:
                    with Session(bind=conn) as session:
                        for o in bounced:
                            suppression.add(
                                session,
                                self.settings,
                                o["email"],
                                SuppressionReason.HARD_BOUNCE,
                                o["b_error"],
                            )
                        session.flush()
                if self.postgres:
                    self._batch(conn, outcomes)
                else:
                    conn.exec_driver_sql(_SQLITE_ONE, [self._sqlite_params(o) for o in outcomes])
        except BaseException as exc:
            self.failed = exc
            for _, ticket in batch:
                ticket.error = exc
                ticket.done.set()
            return
        for _, ticket in batch:
            ticket.done.set()
        self.recorded(outcomes)
