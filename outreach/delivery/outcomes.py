"""Outcomes of a send: what each backend answer means for its row.

An :class:`Outcome` is the domain result of one row (sent, retrying, failed,
skipped). Each worker writes its own outcomes (on PostgreSQL on its own
database connection, on SQLite through the send's committer thread, in group
commits with the other workers' outcomes, :mod:`outreach.delivery.outbox.writer`):
it starts the write when the
backend has answered and waits for the commit only at the last moment — right
before the next message on its connection is irrevocably handed over (for
SMTP: after the server's 354 to DATA, before the body and the final ``.``).
So the commit overlaps the next message's envelope exchange instead of
adding to it, and the crash bound holds: at most one message per connection
is accepted but not recorded.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from outreach.delivery.backends.base import SendResult
from outreach.models import DeliveryStatus

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
