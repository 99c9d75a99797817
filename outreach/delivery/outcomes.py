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

from sqlalchemy import Engine, and_, bindparam, case, exists, update
from sqlalchemy.orm import Session

from outreach.delivery.backends.base import SendResult
from outreach.delivery.outbox import DELIVERIES, suppress
from outreach.models import DeliveryStatus, Issue, IssueStatus
from outreach.settings import Settings

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
    """A thread with its own database connection that commits submitted outcomes.

    ``submit`` returns a :class:`Ticket`; ``Ticket.wait`` returns once the
    outcomes are durable. ``recorded(outcomes)`` is called after each commit.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issue_id: int,
        write_lock: AbstractContextManager[Any],
        recorded: Callable[[list[Outcome]], None],
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.write_lock = write_lock
        self.recorded = recorded
        self.queue: queue.SimpleQueue[tuple[list[Outcome], Ticket] | None] = queue.SimpleQueue()
        self.failed: BaseException | None = None
        d = DELIVERIES.c
        cancelled = exists().where(Issue.id == issue_id, Issue.status == IssueStatus.CANCELLED)
        # A retry of a cancelled issue would never be sent: it ends cancelled.
        retry_cancelled = and_(bindparam("b_status") == DeliveryStatus.PENDING.value, cancelled)
        self.statement = (
            update(DELIVERIES)
            .where(
                d.id == bindparam("b_id"),
                d.claimed_by == bindparam("b_me"),
                d.status == DeliveryStatus.SENDING,
            )
            .values(
                status=case(
                    (retry_cancelled, DeliveryStatus.CANCELLED.value),
                    else_=bindparam("b_status"),
                ),
                sent_at=bindparam("b_sent_at"),
                next_attempt_at=bindparam("b_next"),
                last_error=bindparam("b_error"),
                claimed_by=None,
            )
        )
        self.thread = threading.Thread(target=self._run, name=f"record-{issue_id}", daemon=True)
        self.thread.start()

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
        """Commit what is waiting and stop the thread."""
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        try:
            with self.engine.connect() as conn:
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

    def _commit(self, conn: Any, batch: list[tuple[list[Outcome], Ticket]]) -> None:
        outcomes = [o for chunk, _ in batch for o in chunk]
        try:
            if self.failed is not None:
                raise self.failed
            bounced = [o for o in outcomes if o["suppress"]]
            with self.write_lock, conn.begin():
                conn.execute(self.statement, outcomes)
                if bounced:
                    with Session(bind=conn) as session:
                        for o in bounced:
                            suppress(session, self.settings, o["email"], "bounce", o["b_error"])
                        session.flush()
        except BaseException as exc:
            self.failed = exc
            for _, ticket in batch:
                ticket.error = exc
                ticket.done.set()
            return
        for _, ticket in batch:
            ticket.done.set()
        self.recorded(outcomes)
