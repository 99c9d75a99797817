"""Outcomes of a send: what each backend answer means for its row, and one
writer thread that makes them durable.

An :class:`Outcome` is the domain result of one row (sent, retrying, failed,
skipped); :meth:`outreach.delivery.outbox.OutboxRows.record` turns a batch of
them into SQL. Workers hand an outcome to the :class:`Recorder` and go on
with the next message; they wait for the outcome's commit only at the last
moment — right before the next message on their connection is irrevocably
handed over (for SMTP: before the final ``.`` of DATA). So the commit
overlaps the next message's transfer instead of adding to it, and the crash
bound still holds: at most one message per connection is accepted but not
recorded.

The recorder commits whatever outcomes are waiting in one transaction (a
group commit), so four connections cost about one commit per round, not four.
"""

from __future__ import annotations

import _thread
import logging
import queue
import random
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.delivery.backends.base import SendResult
from outreach.models import DeliveryStatus
from outreach.settings import Settings
from outreach.suppression import SuppressionReason

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 6 * 3600.0


class OutcomeKind(StrEnum):
    """What became of one row, as the send report counts it."""

    SENT = "sent"
    RETRYING = "retrying"  # a temporary failure: pending again, with a next attempt
    FAILED = "failed"
    SKIPPED = "skipped"


_STATUS = {
    OutcomeKind.SENT: DeliveryStatus.SENT,
    OutcomeKind.RETRYING: DeliveryStatus.PENDING,
    OutcomeKind.FAILED: DeliveryStatus.FAILED,
    OutcomeKind.SKIPPED: DeliveryStatus.SKIPPED,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result for one outbox row, from the claimant that held it.

    ``suppress``: a permanent refusal; the address goes on the suppression
    list (hard bounce) before the row is written.
    """

    delivery_id: int
    claimant: str
    kind: OutcomeKind
    email: str
    error: str | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    suppress: bool = False

    @property
    def status(self) -> DeliveryStatus:
        """The row's status once written (a retry of a cancelled issue ends cancelled)."""
        return _STATUS[self.kind]


def backoff_seconds(attempts: int, base: float) -> float:
    """Exponential backoff with ±25 % jitter: base, 2·base, 4·base … up to 6 hours."""
    delay: float = min(MAX_BACKOFF_SECONDS, base * 2.0 ** max(0, attempts - 1))
    return float(delay * random.uniform(0.75, 1.25))


def final(row: Any, me: str, kind: OutcomeKind, error: str) -> Outcome:
    """An outcome that needs no backend answer (skipped, invalid address)."""
    return Outcome(row.id, me, kind, row.email, error)


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
    if result.status == "sent":
        return Outcome(row.id, me, OutcomeKind.SENT, row.email, sent_at=now)
    if result.status == "permanent":
        return Outcome(row.id, me, OutcomeKind.FAILED, row.email, result.reply, suppress=True)
    if now - row.created_at >= lifetime:
        error = f"gave up after {row.attempts} attempts: {result.reply}"
        return Outcome(row.id, me, OutcomeKind.FAILED, row.email, error)
    delay = max(backoff_seconds(row.attempts, retry_base), result.retry_after or 0.0)
    later = now + timedelta(seconds=delay)
    return Outcome(row.id, me, OutcomeKind.RETRYING, row.email, result.reply, next_attempt_at=later)


class RecordingFailed(RuntimeError):
    """The outcomes could not be written; the rows stay ``sending`` until reclaimed."""


class Ticket:
    """One submission: released once its outcomes are committed (or failed to be).

    A plain lock, held from creation until the commit: cheaper than an Event
    (no condition variable per message). One thread waits on it, any number
    of times.
    """

    __slots__ = ("error", "lock")

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.lock.acquire()
        self.error: BaseException | None = None

    def set(self, error: BaseException | None = None) -> None:
        self.error = error
        self.lock.release()

    def wait(self) -> None:
        with self.lock:
            pass
        if self.error is not None:
            raise RecordingFailed(f"recording outcomes failed: {self.error!r}") from self.error


Write = Callable[[Connection, Sequence[Outcome]], None]


class Recorder:
    """Threads, each with its own database connection, that commit submitted outcomes.

    ``submit`` returns a :class:`Ticket`; ``Ticket.wait`` returns once the
    outcomes are durable. ``write(conn, outcomes)`` writes and commits them
    (:meth:`OutboxRows.record`); ``recorded(outcomes)`` is called after each
    commit. Each thread commits whatever is waiting when it is free.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issue_id: int,
        write_lock: AbstractContextManager[Any],
        write: Write,
        recorded: Callable[[list[Outcome]], None],
        *,
        threads: int = 1,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.write_lock = write_lock
        self.write = write
        self.recorded = recorded
        self.queue: queue.SimpleQueue[tuple[list[Outcome], Ticket] | None] = queue.SimpleQueue()
        self.failed: BaseException | None = None
        self.postgres = engine.dialect.name == "postgresql"
        self.threads = [
            threading.Thread(target=self._run, name=f"record-{issue_id}-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, outcomes: list[Outcome]) -> Ticket:
        ticket = Ticket()
        if not outcomes:
            ticket.set()
        elif self.failed is not None:
            ticket.set(self.failed)
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
                item[1].set(exc)

    def _commit(self, conn: Connection, batch: list[tuple[list[Outcome], Ticket]]) -> None:
        outcomes = [o for chunk, _ in batch for o in chunk]
        try:
            if self.failed is not None:
                raise self.failed
            bounced = [o for o in outcomes if o.suppress]
            with self.write_lock:
                # Suppress before the outcome: after a crash in between, the row is
                # sent again, the re-check finds the address suppressed, it is skipped.
                if bounced:
                    with conn.begin(), Session(bind=conn) as session:
                        for o in bounced:
                            suppression.add(
                                session,
                                self.settings,
                                o.email,
                                SuppressionReason.HARD_BOUNCE,
                                o.error,
                            )
                        session.flush()
                self.write(conn, outcomes)
        except BaseException as exc:
            self.failed = exc
            for _, ticket in batch:
                ticket.set(exc)
            return
        for _, ticket in batch:
            ticket.set()
        self.recorded(outcomes)
