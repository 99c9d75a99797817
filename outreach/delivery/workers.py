"""The worker threads of one send: claim due outbox rows, send, record each outcome.

Each worker thread owns one database connection and one backend connection
and loops: claim up to ``send_batch_size`` due rows, then for every chunk
of :data:`CHUNK` rows re-check unsubscribes, suppressions and the issue's
status in one statement and build the messages by substitution, and hand
them to the backend one at a time, each only once the previous message's
outcome is committed. The SQL of every step is in
:mod:`outreach.delivery.outbox.rows`.

Crash safety: a row is ``sending`` from its claim until its outcome is
committed. Rows left ``sending`` by a process that died are claimed again —
at once when the dead process ran on this host (its pid is gone), otherwise
after the lease (``lease_seconds``). The only messages that can go out twice
are those handed to the backend whose outcome was not committed yet: at most
one per worker (one per connection), i.e. ``workers`` per crashed process
(docs/delivery.md).

A burst of policy refusals from one provider (:mod:`outreach.delivery.policy`)
stops every worker before its next hand-over; ``send_issue`` then pauses the
issue and tells the city's approvers.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from outreach.delivery.backends import get_backend
from outreach.delivery.backends.base import MailBackend, OutgoingMessage
from outreach.delivery.message import IssueMessages
from outreach.delivery.outbox import IssueHalted, OutboxRows, process_id
from outreach.delivery.outcomes import (
    Outcome,
    OutcomeKind,
    Recorder,
    RecordingFailed,
    Ticket,
    answered,
    final,
)
from outreach.delivery.policy import PolicyBurst, PolicyWatch
from outreach.delivery.ratelimit import RateLimiter
from outreach.errors import OutreachError, PermanentDeliveryError
from outreach.l10n import gettext_for
from outreach.models import utcnow
from outreach.settings import Settings
from outreach.suppression import register_sqlite_functions, suppression_key

log = logging.getLogger(__name__)

#: Rows re-checked (unsubscribed? suppressed? still ours? issue still sending?) in
#: one query before they are handed over one by one; outcomes are committed per message.
CHUNK = 10
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
    #: Set when a burst of policy refusals paused the send.
    burst: PolicyBurst | None = None

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
        lines = [head.format(id=self.issue_id, summary=self.summary(lang))]
        if self.burst is not None:
            lines.append(self.burst.line(lang, self.issue_id))
        return [*lines, *self.errors]


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
        write_lock: AbstractContextManager[Any] = threading.Lock() if sqlite else nullcontext()
        self.rows = OutboxRows(
            engine,
            issue_id,
            suppression_key(settings),
            lease=self.lease,
            batch_size=settings.send_batch_size,
            write_lock=write_lock,
        )
        self.policy = PolicyWatch.from_settings(settings)
        self.done = 0
        self.total = 0
        # Recorder threads commit every outcome waiting in one statement. SQLite has
        # one writer; on PostgreSQL a second thread commits while the first waits
        # for its round trip (measured: the wait before a hand-over fell from about
        # 3 to 2 ms on a loaded machine; one connection per worker cost more CPU).
        self.recorder = Recorder(
            settings,
            engine,
            issue_id,
            write_lock,
            self.rows.record,
            self.recorded,
            threads=1 if sqlite else 2,
        )

    def close(self) -> None:
        """Commit the outcomes still waiting; call once every worker has returned."""
        self.recorder.close()

    def recorded(self, outcomes: list[Outcome]) -> None:
        """Count outcomes once committed (the recorder's thread calls this)."""
        counts = dict.fromkeys(OutcomeKind, 0)
        for o in outcomes:
            counts[o.kind] += 1
        with self.lock:
            self.report.sent += counts[OutcomeKind.SENT]
            self.report.retrying += counts[OutcomeKind.RETRYING]
            self.report.failed += counts[OutcomeKind.FAILED]
            self.report.skipped += counts[OutcomeKind.SKIPPED]
            self.done += len(outcomes) - counts[OutcomeKind.RETRYING]
            done, total = self.done, self.total
        if self.progress is not None:
            self.progress(done, total)

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

    def prepare(self, conn: Connection, me: str, chunk: list[Any]) -> list[tuple[Any, Any]]:
        """Re-check and build one chunk; rows that need no backend get their outcome."""
        info = self.rows.check(conn, me, [r.id for r in chunk])
        unsent: list[Outcome] = []
        to_send: list[tuple[Any, OutgoingMessage]] = []
        for row in chunk:
            if row.id not in info:
                continue  # taken over by another claimant after our lease ran out
            details = info[row.id]
            if details is None:
                reason = "unsubscribed or suppressed before sending"
                unsent.append(final(row, me, OutcomeKind.SKIPPED, reason))
                continue
            try:
                to_send.append((row, self.build(row, details)))
            except PermanentDeliveryError as exc:
                unsent.append(final(row, me, OutcomeKind.FAILED, str(exc)))
        self.recorder.submit(unsent)
        return to_send

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
        to_send = self.prepare(conn, me, chunk)
        handed = 0
        policy = self.policy
        try:
            for row, message in to_send:
                if policy.burst is not None:
                    break  # a burst of policy refusals: hand nothing more over
                result = backend.send_one(message, lane.wait)
                handed += 1
                now = utcnow()
                if not result.ok and policy.refusal(row.id, row.email, result, now):
                    # The sender's standing, not the address: retried, never suppressed.
                    result = replace(result, status="temporary")
                outcome = answered(
                    row, me, result, now, lifetime=self.lifetime, retry_base=self.retry_base
                )
                lane.last = self.recorder.submit([outcome])
        finally:
            self.rows.release(conn, me, [r.id for r, _ in to_send[handed:]])

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
                    rows = self._loop(conn, backend, me, lane)
                    self.rows.release(conn, me, [r.id for r in rows])
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
                    self.rows.release(conn, me, [r.id for r in rows])
            try:
                lane.wait()  # this worker's last outcome is durable before it returns
            except RecordingFailed as exc:
                self.stop.set()
                with self.lock:
                    self.report.errors.append(str(exc))

    def _loop(self, conn: Connection, backend: MailBackend, me: str, lane: _Lane) -> list[Any]:
        """Claim and send until nothing is due; returns the claimed rows not handed over."""
        # Rate-limited sends go one message at a time: the slot is taken before the
        # re-check, so the re-check stays right before hand-over.
        size = 1 if self.limiter.active else CHUNK
        third = self.lease.total_seconds() / 3
        rows: list[Any] = []
        while not self.stop.is_set() and self.policy.burst is None:
            rows = self.rows.claim(conn, me)
            renewed = time.monotonic()
            if not rows:
                break
            while rows and not self.stop.is_set():
                if self.limiter.active and not self.limiter.acquire(
                    self.stop, every=third, while_waiting=lambda: self.rows.renew(conn, me)
                ):
                    break
                if time.monotonic() - renewed > third:
                    self.rows.renew(conn, me)
                    renewed = time.monotonic()
                chunk, rows = rows[:size], rows[size:]
                try:
                    self.process(conn, backend, me, chunk, lane)
                except IssueHalted:  # paused or cancelled: the chunk was not sent
                    return chunk + rows
                if self.policy.burst is not None:
                    return rows
        return rows


class _Lane:
    """One worker's connection: the ticket of its last outcome handed to the recorder."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: Ticket | None = None

    def wait(self) -> None:
        """Return once the last outcome is committed (``send_one``'s ``ready``)."""
        if self.last is not None:
            self.last.wait()
