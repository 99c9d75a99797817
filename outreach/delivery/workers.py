"""The worker threads of one send: take checked chunks of rows, send, record each outcome.

Each worker thread owns one backend connection, and a database connection of
its own only once it needs one (:class:`WorkerConnection`).
A feeder thread of the send (:mod:`outreach.delivery.feed`) claims up to
``send_batch_size`` due rows for a worker and, chunk by chunk of
:data:`CHUNK` rows, re-checks unsubscribes, suppressions and the issue's
status in one statement and builds the messages by substitution — the next
chunk while the worker sends the current one. The worker hands the messages
to the backend one at a time, each only once the previous message's outcome
is committed on its own connection (:mod:`outreach.delivery.outbox.writer`).
The SQL of every step is in :mod:`outreach.delivery.outbox`.

Crash safety: a row is ``sending`` from its claim until its outcome is
committed. Rows left ``sending`` by a process that died are claimed again —
at once when the dead process ran on this host (its pid is gone), otherwise
after the lease (``lease_seconds``). The only messages that can go out twice
are those handed to the backend whose outcome was not committed yet: at most
one per worker (one per connection), i.e. ``workers`` per crashed process
(docs/delivery.md).

A stop takes effect before the next hand-over: the send's stop (Ctrl-C, a
daemon stopping, a worker that failed), a burst of policy refusals from one
provider (:mod:`outreach.delivery.policy`; ``send_issue`` then pauses the issue
and tells the city's approvers), and a pause or cancel once the send has seen
it (:data:`STATUS_EVERY`). Each is a flag read per message; only the message
in flight on each connection still goes out, and the rows not handed over go
back to ``pending`` (``cancelled`` for a cancelled issue).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from outreach.delivery.backends import get_backend
from outreach.delivery.backends.base import MailBackend, OutgoingMessage
from outreach.delivery.feed import (
    Chunk,
    Chunks,
    Feeder,
    Holder,
    IssueWatch,
    Pending,
    close_send_connection,
    open_send_connection,
)
from outreach.delivery.fill import OutboxFill
from outreach.delivery.message import IssueMessages
from outreach.delivery.outbox import (
    OutboxRows,
    OutcomeWriter,
    PgOutcomes,
    SqliteOutcomes,
    process_id,
)
from outreach.delivery.outcomes import Outcome, OutcomeKind, answered
from outreach.delivery.policy import PolicyBurst, PolicyWatch
from outreach.delivery.ratelimit import RateLimiter
from outreach.errors import OutreachError
from outreach.l10n import format_decimal, gettext_for
from outreach.models import utcnow
from outreach.process_setting import ProcessSetting
from outreach.settings import Settings
from outreach.suppression import suppression_key

log = logging.getLogger(__name__)

#: Rows re-checked (unsubscribed? suppressed? still ours? issue still sending?) in
#: one query before they are handed over one by one; outcomes are committed per message.
#: A chunk is re-checked while the one before it is sent, so a re-checked message
#: waits at most two chunks' sending time for its hand-over.
CHUNK = 10
Progress = Callable[[int, int], None]

#: The interpreter's thread switch interval while a send runs (the default is 5 ms).
#: A worker whose server has answered needs the GIL for a few microseconds to
#: write its next command; while a feeder builds a chunk or reads a claim, it held
#: the GIL for up to the whole interval, and with every connection waiting so the
#: server sat idle. 0.5 ms gave 8 % more messages a second than 5 ms against a
#: local aiosmtpd; 0.1 ms another 5-25 % with the short message (docs/delivery.md).
SWITCH_INTERVAL = 0.0001


def _switch_quickly() -> float:
    saved = sys.getswitchinterval()
    if saved > SWITCH_INTERVAL:  # a shorter one set by the process stays
        sys.setswitchinterval(SWITCH_INTERVAL)
    return saved


def _switch_back(saved: float) -> None:
    if saved > SWITCH_INTERVAL:
        sys.setswitchinterval(saved)


_switching = ProcessSetting(_switch_quickly, _switch_back)


def quick_switching() -> AbstractContextManager[None]:
    """Run a send with :data:`SWITCH_INTERVAL`; the last concurrent send to end
    puts the interval back as it was."""
    return _switching.held()


#: How often a waiting thread of a send looks whether its caller's stop was set (s).
FOLLOW_STEP = 0.2

#: A message is handed over only if the issue was seen ``sending`` at most this
#: long before (s): a pause or cancel from the console or another command takes
#: effect within this time, or at once when a re-check sees it first. Every
#: chunk's re-check is a look, so a send at full speed (a chunk of each worker
#: every few milliseconds) never waits for one of its own; a slow one reads the
#: issue's status once in this time (docs/delivery.md).
STATUS_EVERY = 0.5


class SendStop(threading.Event):
    """The stop of one send: its own, set when it ends early, and set as well while
    its caller's stop (``outer``: a daemon stopping, a command interrupted) is.

    A worker that fails (the mail server cannot be reached) or a send that cannot
    start sets it to stop the send's other threads; the caller's stop stays as it
    was: a failed send is the caller's to report and try again, not a reason for
    the caller to stop. Waiting on it also wakes, within :data:`FOLLOW_STEP`,
    when ``outer`` is set.
    """

    def __init__(self, outer: threading.Event | None = None) -> None:
        super().__init__()
        self.outer = outer

    def is_set(self) -> bool:
        outer = self.outer
        return super().is_set() or (outer is not None and outer.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        outer = self.outer
        if outer is None:
            return super().wait(timeout)
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        while not outer.is_set():
            step = min(FOLLOW_STEP, deadline - time.monotonic())
            if step <= 0:
                return self.is_set()
            if super().wait(step):
                return True
        return True


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
    #: The caller stopped the send (Ctrl-C, a daemon stopping) before it was done.
    interrupted: bool = False

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
            elapsed=format_decimal(self.elapsed, lang),
        )
        if self.status:
            text = gettext_for(lang, "cli", "{text}; issue {status}").format(
                text=text, status=self.status
            )
        if self.interrupted:
            text = gettext_for(lang, "cli", "{text}; interrupted").format(text=text)
        return text

    def lines(self, lang: str = "en") -> list[str]:
        head = gettext_for(lang, "cli", "issue {id}: {summary}")
        lines = [head.format(id=self.issue_id, summary=self.summary(lang))]
        if self.burst is not None:
            lines.append(self.burst.line(lang, self.issue_id))
        if self.interrupted and self.remaining:
            rest = gettext_for(
                lang, "cli", "the rest stays queued: `outreach issue send {id}` sends it"
            )
            lines.append(rest.format(id=self.issue_id))
        return [*lines, *self.errors]


class SendRun:
    """State shared by the worker threads of one ``send_issue`` call.

    :meth:`start` starts the threads at once: each opens its database
    connection and its backend connection while ``send_issue`` writes the
    first slice of the outbox and renders the issue, and waits. :meth:`begin`
    hands them the messages and lets them claim; :meth:`abort` sends them
    home without claiming anything.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        issue_id: int,
        mail_url: str,
        *,
        lease_seconds: float,
        retry_base_seconds: float,
        stop: threading.Event | None,
        progress: Progress | None,
        limiter: RateLimiter,
        report: SendReport,
        connections: int = 1,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.issue_id = issue_id
        self.mail_url = mail_url
        self.lease = timedelta(seconds=lease_seconds)
        self.retry_base = retry_base_seconds
        self.lifetime = timedelta(hours=settings.retry_lifetime_hours)
        #: This send's own stop (set by it when it ends early), also set while ``stop``,
        #: the caller's, is; the send never sets the caller's.
        self.stop = SendStop(stop)
        self.progress = progress
        self.limiter = limiter
        self.report = report
        self.fill: OutboxFill | None = None  # the rest of the outbox, still being written
        self.chunks: Chunks | None = None  # set by begin()
        #: The issue's status as last seen: a pause or cancel stops every worker.
        self.watch = IssueWatch()
        self.go = threading.Event()  # begin() or abort() was called
        self.threads: list[threading.Thread] = []
        #: Workers that have not returned yet (counted down by each as it returns):
        #: :meth:`join` waits on this, as a Thread.join cut short by Ctrl-C marks the
        #: thread as ended while it still runs (CPython before 3.13).
        self.working = 0
        self.returned = threading.Condition()
        self.connections = max(1, connections)
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
        # One feeder for every two workers: a feeder's jobs run one at a time, and a
        # claim (a hundred rows) takes long enough to hold up the next worker's chunk.
        # Each compiles the claim and the re-check and reads what they need while
        # the outbox's first slice is written (OutboxRows.warm).
        self.feeders = [
            Feeder(engine, f"feed-{issue_id}-{n}", lambda conn: self.rows.warm(conn, CHUNK))
            for n in range((self.connections + 1) // 2)
        ]
        # SQLite has one writer: the workers' outcomes are committed in groups. On
        # PostgreSQL they share one connection, in pipeline mode.
        self.outcomes: SqliteOutcomes | PgOutcomes = (
            SqliteOutcomes(self.rows, engine, self.recorded)
            if sqlite
            else PgOutcomes(self.rows, engine)
        )

    def start(self) -> None:
        """Start the workers: each connects to the database and the backend, then
        waits for :meth:`begin` (or :meth:`abort`)."""
        self.threads = [
            threading.Thread(
                target=self.work, args=(n,), name=f"send-{self.issue_id}-{n}", daemon=True
            )
            for n in range(self.connections)
        ]
        self.working = len(self.threads)
        for t in self.threads:
            t.start()

    def begin(
        self,
        messages: dict[str, IssueMessages],
        default_lang: str,
        *,
        total: int,
        done: int = 0,
        fill: OutboxFill | None = None,
    ) -> None:
        """Let the workers claim and send: the outbox's first slice is committed.
        ``total`` and ``done``: the rows in the outbox and those done, for the progress."""
        self.chunks = Chunks(self.rows, messages, default_lang, self.claim_size, self.watch)
        self.total, self.done = total, done
        self.fill = fill
        if fill is not None:
            fill.added = self.add_total
            fill.start()
        self.go.set()

    def abort(self) -> None:
        """Stop workers that have not begun (the send could not start) and clean up."""
        self.stop.set()
        self.go.set()
        for t in self.threads:
            if t.ident is not None:  # started
                t.join()
        self.close()

    def join(self) -> None:
        """Wait for the workers; on Ctrl-C they finish the message each is handing
        over and give the rest back (a second Ctrl-C stops waiting for them). The
        last outcomes are committed before this returns."""
        try:
            try:
                self._wait_workers()
            except KeyboardInterrupt:
                self.stop.set()
                self._wait_workers()
                raise
        finally:
            if self.fill is not None:
                self.fill.join()
                if self.fill.error is not None:
                    self.report.errors.append(f"filling the outbox failed: {self.fill.error!r}")
            self.close()

    def _wait_workers(self) -> None:
        with self.returned:
            while self.working:
                self.returned.wait()
        for t in self.threads:
            t.join()  # returning: its last outcome is committed

    def close(self) -> None:
        """Stop the feeders, commit what is left; call once every worker has returned."""
        for feeder in self.feeders:
            feeder.close()
        self.outcomes.close()

    def claim_size(self) -> int:
        """Rows a worker claims at once (the claim takes at most ``send_batch_size``):
        half of its share of the rows this send knows are left, so that its
        connections share the outbox's first slice and its last rows instead of
        one worker sending them alone; at least one chunk."""
        with self.lock:
            left = self.total - self.done
        return max(CHUNK, -(-left // (2 * self.connections)))  # rounded up

    def add_total(self, added: int) -> None:
        """Count rows a slice of the outbox added while the send runs."""
        with self.lock:
            self.total += added

    def recorded(self, outcome: Outcome) -> None:
        """Count an outcome once committed (a worker's writer calls this)."""
        kind = outcome.kind
        with self.lock:
            if kind is OutcomeKind.SENT:
                self.report.sent += 1
            elif kind is OutcomeKind.RETRYING:
                self.report.retrying += 1
            elif kind is OutcomeKind.FAILED:
                self.report.failed += 1
            else:
                self.report.skipped += 1
            if kind is not OutcomeKind.RETRYING:
                self.done += 1
            done, total = self.done, self.total
        if self.progress is not None:
            self.progress(done, total)

    # -- the worker ------------------------------------------------------------

    def send_chunk(
        self,
        writer: OutcomeWriter,
        backend: MailBackend,
        holder: Holder,
        chunk: Chunk,
        then: Callable[[], OutgoingMessage | None] = lambda: None,
    ) -> None:
        """Hand a re-checked chunk over one message at a time.

        A message is handed over only once the outcome of the one before it
        on this connection is committed: ``send_one`` waits for that commit
        right before its point of no return (SMTP: after the server's 354 to
        DATA, before the body and the final dot), so the commit overlaps the
        envelope's exchange. After a crash at most the one message
        in flight on this connection can be sent again (docs/delivery.md).

        Before each hand-over the worker reads the send's stop, the policy
        burst and the issue's watch (flags, no round trip), and stops there:
        the rest of the chunk is given back with the worker's other rows. When
        the issue was last seen ``sending`` more than :data:`STATUS_EVERY` ago,
        it reads the issue's status first (through its feeder).

        The backend is told which message follows each one: the next of the
        chunk, and after the last one ``then()``, the first of the next chunk
        if it is in already.
        """
        for outcome in chunk.unsent:
            writer.write(outcome)
        third = self.lease.total_seconds() / 3
        every = STATUS_EVERY
        held: dict[int, int] | None = None  # after a renewal: the rows still ours, attempts
        policy, stop, watch, halted = self.policy, self.stop, self.watch, self.watch.halted
        chunks = self.chunks
        assert chunks is not None
        to_send = chunk.to_send
        for i, (row, message) in enumerate(to_send):
            if stop.is_set() or halted.is_set() or policy.burst is not None:
                break  # stopped, paused, cancelled or refused: hand nothing more over
            tick = time.monotonic()
            if tick - watch.seen > every and not holder.feeder.submit(chunks.look).result():
                break  # paused or cancelled since the issue was last seen
            if tick - chunk.leased > third:
                # A slow server, or this process was stopped for a while: make sure
                # the rows are still ours before handing any more of them over.
                leased = time.monotonic()
                held = self.rows.renew(writer.idle(), holder.me)
                chunk.leased = holder.leased = leased
            if held is not None and held.get(row.id) != row.attempts:
                # Another claimant took it over; or it did, its lease ran out and this
                # worker claimed the row again, in another chunk, which sends it.
                continue
            # The next message's envelope may go out with this one's body (SMTP
            # with PIPELINING); it is handed over only by its own call, after the
            # checks above, and undone (the connection closed) if that never comes.
            following = to_send[i + 1][1] if i + 1 < len(to_send) else then()
            result = backend.send_one(message, writer.wait, following)
            chunk.handed.add(row.id)
            now = utcnow()
            if not result.ok and policy.refusal(row.id, row.email, result, now):
                # The sender's standing, not the address: retried, never suppressed.
                result = replace(result, status="temporary")
            writer.write(
                answered(
                    row, holder.me, result, now, lifetime=self.lifetime, retry_base=self.retry_base
                )
            )

    def work(self, n: int) -> None:
        me = f"{process_id()}:{n}:{secrets.token_hex(3)}"
        holder = Holder(me, self.feeders[n // 2 % len(self.feeders)])
        own = WorkerConnection(self.engine)
        try:
            try:
                if isinstance(self.outcomes, PgOutcomes):
                    self.outcomes.open()  # the first worker opens it
                writer = OutcomeWriter(
                    self.rows, own.get, self.settings, self.recorded, self.outcomes
                )
                try:
                    with get_backend(self.mail_url) as backend:
                        self.go.wait()  # connected while the outbox was written
                        self._loop(writer, backend, holder)
                finally:
                    writer.wait()  # this worker's last outcome is durable before it returns
                    if holder.release:
                        self.rows.release(own.get(), holder.me, holder.release)
                        holder.release = []
            finally:
                own.close()
        except BaseException as exc:
            self.stop.set()
            with self.lock:
                self.report.errors.append(str(exc) if isinstance(exc, OutreachError) else repr(exc))
            if not isinstance(exc, OutreachError):
                log.exception("send worker %s failed", holder.me)
        finally:
            if holder.release:  # the worker's connection failed: give them back on another
                with contextlib.suppress(Exception), self.engine.connect() as conn:
                    self.rows.release(conn, holder.me, holder.release)
            with self.returned:
                self.working -= 1
                self.returned.notify_all()

    def _renew(self, writer: OutcomeWriter, holder: Holder) -> None:
        leased = time.monotonic()
        self.rows.renew(writer.idle(), holder.me)
        holder.leased = leased

    def _loop(self, writer: OutcomeWriter, backend: MailBackend, holder: Holder) -> None:
        """Take chunks and send them until nothing is due; the rows claimed and not
        handed over end in ``holder.release``."""
        # Rate-limited sends go one message at a time, each re-checked right after its
        # slot is taken (no chunk ahead), so the re-check stays right before hand-over.
        limited = self.limiter.active
        size = 1 if limited else CHUNK
        chunks = self.chunks
        third = self.lease.total_seconds() / 3
        ahead: Pending[Chunk | None] | None = None
        chunk: Chunk | None = None

        fill = self.fill
        filled = 0  # slices of the outbox in when the last chunk was asked for

        def take() -> Pending[Chunk | None]:
            nonlocal filled
            filled = fill.slices if fill is not None else 0
            assert chunks is not None
            return holder.feeder.submit(lambda conn: chunks.next(conn, holder, size))

        early = False  # ``ahead`` was asked for before the last chunk's outcomes were in
        halted = self.watch.halted
        try:
            while not self.stop.is_set() and not halted.is_set() and self.policy.burst is None:
                if ahead is None:
                    if limited and not self.limiter.acquire(
                        self.stop,
                        every=third,
                        while_waiting=lambda: self._renew(writer, holder),
                    ):
                        break
                    ahead, early = take(), False
                chunk, ahead = ahead.result(), None
                if chunk is None and early:
                    # Nothing was due when the chunk before was taken; its own retries
                    # may be due now that its outcomes are committed: ask once more.
                    writer.wait()
                    ahead, early = take(), False
                    continue
                if chunk is None and fill is not None and not fill.done:
                    # Nothing due yet: the rest of the outbox is still being written.
                    if not fill.wait_beyond(filled, self.stop):
                        break
                    ahead, early = take(), False
                    continue
                if chunk is None or chunk.halted:  # nothing due; paused or cancelled
                    break
                if not limited:
                    # The next chunk is claimed and re-checked while this one is sent.
                    ahead, early = take(), True
                self.send_chunk(writer, backend, holder, chunk, partial(_first, ahead))
        finally:
            unsent: list[int] = []
            if chunk is not None:  # the last one: a burst or an error may have cut it short
                unsent += [r.id for r in chunk.rows if r.id not in chunk.handed]
            if ahead is not None:
                with contextlib.suppress(Exception):
                    later = ahead.result()
                    if later is not None:
                        unsent += [r.id for r in later.rows]
            holder.release = unsent + [r.id for r in holder.claimed]
            holder.claimed = []


def _first(pending: Pending[Chunk | None] | None) -> OutgoingMessage | None:
    """The first message of a chunk already claimed and re-checked; None if it is
    not in yet, or it has none to send."""
    if pending is None or not pending.done() or pending.error is not None:
        return None
    chunk = pending.value
    if chunk is None or chunk.halted or not chunk.to_send:
        return None
    return chunk.to_send[0][1]


class WorkerConnection:
    """A worker's own database connection, opened when first needed.

    Claims, re-checks and outcomes go through the send's feeders and its
    outcome connection; a worker needs one of its own only to renew its lease
    (a slow send), to give rows back (a stop, a pause, an error) or to write a
    hard bounce's suppression entry. Most sends never open it, so a send's
    start does not wait for a database connection per worker.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def get(self) -> Connection:
        """The connection (:func:`open_send_connection`), opened on the first call."""
        if self.conn is None:
            self.conn = open_send_connection(self.engine)
        return self.conn

    def close(self) -> None:
        """Give the connection back to the pool, if it was opened."""
        conn, self.conn = self.conn, None
        if conn is not None:
            close_send_connection(conn)
