"""The worker threads of one send: claim due outbox rows, send, record each outcome.

Each worker thread owns one database connection and one backend connection
and loops: claim up to ``send_batch_size`` due rows (PostgreSQL: ``UPDATE …
WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING``; SQLite: the same
statement under one writer), then for every chunk of :data:`CHUNK` rows
re-check unsubscribes and suppressions and build the messages by
substitution, and hand them to the backend one at a time, committing each
message's outcome before the next one is handed over.

Crash safety: a row is ``sending`` from its claim until its outcome is
committed. Rows left ``sending`` by a process that died are claimed again —
at once when the dead process ran on this host (its pid is gone), otherwise
after the lease (``lease_seconds``). The only messages that can go out twice
are those handed to the backend whose outcome was not committed yet: at most
one per worker (one per connection), i.e. ``workers`` per crashed process
(docs/delivery.md).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, case, exists, or_, select, update

from outreach.delivery.audience import mailable
from outreach.delivery.backends import get_backend
from outreach.delivery.backends.base import MailBackend, OutgoingMessage
from outreach.delivery.message import IssueMessages
from outreach.delivery.outbox import DELIVERIES, process_id
from outreach.delivery.outcomes import (
    Outcome,
    Recorder,
    RecordingFailed,
    Ticket,
    answered,
    final,
)
from outreach.delivery.ratelimit import RateLimiter
from outreach.errors import OutreachError, PermanentDeliveryError
from outreach.l10n import gettext_for
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    utcnow,
)
from outreach.settings import Settings
from outreach.suppression import register_sqlite_functions, suppression_key

log = logging.getLogger(__name__)

#: Rows re-checked (unsubscribed? suppressed? still ours?) in one query before
#: they are handed over one by one; outcomes are committed per message.
CHUNK = 10
PENDING, SENDING = DeliveryStatus.PENDING, DeliveryStatus.SENDING
Progress = Callable[[int, int], None]


@dataclass
class SendReport:
    """What one ``send_issue`` call did."""

    issue_id: int
    sent: int = 0
    retrying: int = 0  # temporary failures waiting for their next attempt
    failed: int = 0
    skipped: int = 0
    remaining: int = 0  # rows still pending or sending when the call returned
    status: str = ""
    dry_run: bool = False
    elapsed: float = 0.0
    errors: list[str] = field(default_factory=list)

    def summary(self, lang: str = "en") -> str:
        """One line: what was sent, retried, failed and skipped, and the issue's status."""
        if self.dry_run:
            template = gettext_for(
                lang,
                "cli",
                "would send {sent}, retrying {retrying}, failed {failed}, skipped {skipped}, "
                "remaining {remaining} in {elapsed} s",
            )
        else:
            template = gettext_for(
                lang,
                "cli",
                "sent {sent}, retrying {retrying}, failed {failed}, skipped {skipped}, "
                "remaining {remaining} in {elapsed} s",
            )
        text = template.format(
            sent=self.sent,
            retrying=self.retrying,
            failed=self.failed,
            skipped=self.skipped,
            remaining=self.remaining,
            elapsed=f"{self.elapsed:.1f}",
        )
        if not self.status:
            return text
        return gettext_for(lang, "cli", "{text}; issue {status}").format(
            text=text, status=self.status
        )

    def lines(self, lang: str = "en") -> list[str]:
        head = gettext_for(lang, "cli", "issue {id}: {summary}")
        return [head.format(id=self.issue_id, summary=self.summary(lang)), *self.errors]


class SendRun:
    """State shared by the worker threads of one ``send_issue`` call."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issue_id: int,
        messages: dict[str, IssueMessages],
        default_lang: str,
        mail_url: str,
        *,
        lease_seconds: float,
        retry_base_seconds: float,
        stop: threading.Event,
        progress: Progress | None,
        limiter: RateLimiter,
        report: SendReport,
    ) -> None:
        self.settings = settings
        self.suppression_key = suppression_key(settings)
        self.engine = engine
        self.issue_id = issue_id
        self.messages = messages
        self.default_lang = default_lang
        self.mail_url = mail_url
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_base = retry_base_seconds
        self.lifetime = timedelta(hours=settings.retry_lifetime_hours)
        self.stop = stop
        self.progress = progress
        self.limiter = limiter
        self.report = report
        self.lock = threading.Lock()
        sqlite = engine.dialect.name == "sqlite"
        self.write_lock: AbstractContextManager[Any] = threading.Lock() if sqlite else nullcontext()
        self.done = 0
        self.total = 0
        self.check_statement: Any = None  # built once, on first use
        # One recorder thread: every outcome waiting goes in one commit (measured
        # cheaper in CPU and no slower than a recorder connection per worker).
        self.recorder = Recorder(settings, engine, issue_id, self.write_lock, self.recorded)

    def close(self) -> None:
        """Commit the outcomes still waiting; call once every worker has returned."""
        self.recorder.close()

    # -- database steps -------------------------------------------------------

    def claim(self, conn: Connection, me: str) -> list[Any]:
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
            .limit(self.settings.send_batch_size)
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
            if conn.execute(select(Issue.status).where(Issue.id == self.issue_id)).scalar() != (
                IssueStatus.SENDING
            ):
                return []
            rows = conn.execute(stmt).all()
        return sorted(rows, key=lambda r: r.id)

    def check(
        self, conn: Connection, me: str, ids: Sequence[int]
    ) -> dict[int, tuple[str, str | None] | None]:
        """For each row still claimed by ``me``: (salt, contact name) if it may still be
        mailed, None if it was unsubscribed or suppressed meanwhile. Rows another
        claimant took over (an expired lease) are absent: they are not ours to send."""
        if self.check_statement is None:
            eligible = mailable(Delivery.email, self.suppression_key)
            issue_status = select(Issue.status).where(Issue.id == self.issue_id).scalar_subquery()
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
        # One statement (one round trip): the issue's status comes with every row.
        with conn.begin():
            rows = conn.execute(self.check_statement, {"ids": list(ids), "me": me}).all()
            if not rows:
                status = conn.execute(select(Issue.status).where(Issue.id == self.issue_id))
                rows_status = status.scalar()
            else:
                rows_status = rows[0].issue_status
        if rows_status != IssueStatus.SENDING:
            raise _Halt
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

    def recorded(self, outcomes: list[Outcome]) -> None:
        """Count outcomes once committed (the recorder's thread calls this)."""
        counts = dict.fromkeys(("sent", "retrying", "failed", "skipped"), 0)
        for o in outcomes:
            counts[o["kind"]] += 1
        with self.lock:
            self.report.sent += counts["sent"]
            self.report.retrying += counts["retrying"]
            self.report.failed += counts["failed"]
            self.report.skipped += counts["skipped"]
            self.done += len(outcomes) - counts["retrying"]
            done, total = self.done, self.total
        if self.progress is not None:
            self.progress(done, total)

    def _cancelled(self) -> Any:
        return exists().where(Issue.id == self.issue_id, Issue.status == IssueStatus.CANCELLED)

    def release(self, conn: Connection, me: str, ids: Sequence[int]) -> None:
        """Give unsent rows back (pause, cancel, stop, backend error)."""
        if not ids:
            return
        d = DELIVERIES.c
        # A cancelled issue's rows end cancelled: cancel_issue only reaches pending rows,
        # and nothing sends a cancelled issue's pending rows later.
        status = case((self._cancelled(), DeliveryStatus.CANCELLED.value), else_=PENDING.value)
        with self.write_lock, conn.begin():
            conn.execute(
                update(DELIVERIES)
                .where(d.id.in_(list(ids)), d.claimed_by == me, d.status == SENDING)
                .values(status=status, claimed_by=None, attempts=d.attempts - 1)
            )

    # -- the worker loop ------------------------------------------------------

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

    def process(
        self, conn: Connection, backend: MailBackend, me: str, chunk: list[Any], lane: _Lane
    ) -> None:
        """Re-check and build one chunk, then hand it over one message at a time.

        A message is handed over only once the outcome of the one before it
        on this connection is committed: ``send_one`` waits for that commit
        right before its point of no return (SMTP: DATA's final dot), so the
        commit overlaps the transfer. After a crash at most the one message
        in flight on this connection can be sent again (docs/delivery.md).
        """
        info = self.check(conn, me, [r.id for r in chunk])
        unsent: list[Outcome] = []
        to_send: list[tuple[Any, OutgoingMessage]] = []
        for row in chunk:
            if row.id not in info:
                continue  # taken over by another claimant after our lease ran out
            details = info[row.id]
            if details is None:
                unsent.append(
                    final(row, me, "skipped", "unsubscribed or suppressed before sending")
                )
                continue
            try:
                to_send.append((row, self.build(row, details)))
            except PermanentDeliveryError as exc:
                unsent.append(final(row, me, "failed", str(exc)))
        self.recorder.submit(unsent)
        handed = 0
        try:
            for row, message in to_send:
                result = backend.send_one(message, lane.wait)
                handed += 1
                lane.last = self.recorder.submit(
                    [
                        answered(
                            row,
                            me,
                            result,
                            utcnow(),
                            lifetime=self.lifetime,
                            retry_base=self.retry_base,
                        )
                    ]
                )
        finally:
            self.release(conn, me, [r.id for r, _ in to_send[handed:]])

    def work(self, n: int) -> None:
        me = f"{process_id()}:{n}:{secrets.token_hex(3)}"
        rows: list[Any] = []
        lane = _Lane()
        try:
            with self.engine.connect() as conn:
                register_sqlite_functions(conn.connection.driver_connection)
                conn.commit()
                # Every step is one statement (a claim is one UPDATE … RETURNING):
                # no BEGIN and COMMIT round trips around them.
                conn.execution_options(isolation_level="AUTOCOMMIT")
                with get_backend(self.mail_url) as backend:
                    # Rate-limited sends go one message at a time: the slot is taken
                    # before the re-check, so the re-check stays right before hand-over.
                    size = 1 if self.limiter.active else CHUNK
                    while not self.stop.is_set():
                        rows = self.claim(conn, me)
                        renewed = time.monotonic()
                        if not rows:
                            break
                        while rows and not self.stop.is_set():
                            if self.limiter.active and not self.limiter.acquire(
                                self.stop,
                                every=self.lease.total_seconds() / 3,
                                while_waiting=lambda: self.renew(conn, me),
                            ):
                                break
                            if time.monotonic() - renewed > self.lease.total_seconds() / 3:
                                self.renew(conn, me)
                                renewed = time.monotonic()
                            chunk, rows = rows[:size], rows[size:]
                            try:
                                self.process(conn, backend, me, chunk, lane)
                            except _Halt:
                                rows = chunk + rows
                                return
                    self.release(conn, me, [r.id for r in rows])
                    rows = []
        except BaseException as exc:
            self.stop.set()
            with self.lock:
                self.report.errors.append(str(exc) if isinstance(exc, OutreachError) else repr(exc))
            if not isinstance(exc, OutreachError):
                log.exception("send worker %s failed", me)
        finally:
            if rows:
                with self.engine.connect() as conn:
                    self.release(conn, me, [r.id for r in rows])
            try:
                lane.wait()  # this worker's last outcome is durable before it returns
            except RecordingFailed as exc:
                self.stop.set()
                with self.lock:
                    self.report.errors.append(str(exc))


class _Lane:
    """One worker's connection: the ticket of its last outcome handed to the recorder."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: Ticket | None = None

    def wait(self) -> None:
        """Return once the last outcome is committed (``send_one``'s ``ready``)."""
        if self.last is not None:
            self.last.wait()


class _Halt(Exception):
    """The issue was paused or cancelled; stop claiming."""
