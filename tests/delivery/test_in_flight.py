"""The in-flight bound, checked at every hand-over: when a connection is handed
a message, the outcome of every message handed over before on that connection
is already committed (seen from another database connection). So a crash can
repeat at most the one message in flight per connection. On SQLite and on
PostgreSQL, where the outcome's commit runs while the next message goes out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import Connection, Engine, event, select, text, update

from outreach.delivery import backends, send_issue
from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.delivery.outbox import FIRST_SLICE_PER_WORKER
from outreach.models import Delivery, DeliveryStatus, utcnow
from tests.delivery.conftest import PipeliningOffer


class ProbeBackend(MailBackend):
    """Accepts everything; before each message it reads, through its own database
    connection, the status of every message this connection accepted before."""

    scheme = "probe"
    engine: ClassVar[Engine | None] = None
    violations: ClassVar[list[str]] = []
    accepted: ClassVar[list[str]] = []
    lock = threading.Lock()

    def open(self) -> bool:
        self.mine: list[str] = []
        return True

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        assert self.engine is not None
        results = []
        for m in messages:
            if self.mine:
                with self.engine.connect() as conn:
                    statuses = dict(
                        conn.execute(
                            select(Delivery.email, Delivery.status).where(
                                Delivery.email.in_(self.mine)
                            )
                        ).all()
                    )
                pending = sorted(e for e in self.mine if statuses[e] != DeliveryStatus.SENT)
                if pending:
                    with self.lock:
                        self.violations.append(f"{m.recipients[0]} handed over before {pending}")
            self.mine.append(m.recipients[0])
            with self.lock:
                self.accepted.append(m.recipients[0])
            results.append(SendResult("sent", "250 accepted"))
        return results


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch, db_engine: Engine) -> type[ProbeBackend]:
    monkeypatch.setitem(backends.BUILTIN, "probe", f"{__name__}:ProbeBackend")
    monkeypatch.setattr(ProbeBackend, "engine", db_engine)
    monkeypatch.setattr(ProbeBackend, "violations", [])
    monkeypatch.setattr(ProbeBackend, "accepted", [])
    return ProbeBackend


def test_each_outcome_is_committed_before_the_next_hand_over(
    db_world_factory: Any, probe: type[ProbeBackend]
) -> None:
    w = db_world_factory(60, mail_url="probe:")
    report = send_issue(w.settings, w.config, w.issue_id, workers=3)
    assert (report.sent, report.status) == (60, "sent")
    assert sorted(probe.accepted) == sorted(w.emails)
    assert probe.violations == []


class _CheckingSink(PipeliningOffer):
    """aiosmtpd handler: when a message's DATA completes, the outcome of the message
    before it on the same connection must already be committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions: set[int] = set()
        self.last: dict[int, str] = {}  # per session: the recipient accepted last
        self.accepted: list[str] = []
        self.violations: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        before = self.last.get(id(session))
        if before is not None:
            with self.engine.connect() as conn:
                status = conn.execute(
                    select(Delivery.status).where(Delivery.email == before)
                ).scalar()
            if status != DeliveryStatus.SENT:
                self.violations.append(f"{rcpt} arrived while {before} was {status}")
        self.last[id(session)] = rcpt
        self.sessions.add(id(session))
        self.accepted.append(rcpt)
        return "250 OK"


def _sleep(seconds: float) -> int:
    time.sleep(seconds)
    return 0


def _sqlite_sleep(dbapi_connection: Any, _record: Any) -> None:
    if hasattr(dbapi_connection, "create_function"):  # sqlite3 only
        dbapi_connection.create_function("test_sleep", 1, _sleep)


@pytest.fixture
def slow_outcomes(db_engine: Engine) -> Iterator[None]:
    """A slow database: every outcome's write takes 20 ms more, in the database
    itself (a trigger), so the next message's transfer outruns the commit."""
    with db_engine.begin() as conn:
        if db_engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION slow_outcome() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN PERFORM pg_sleep(0.02); RETURN NEW; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER slow_outcome BEFORE UPDATE ON deliveries FOR EACH ROW "
                    "WHEN (OLD.status = 'sending' AND NEW.status <> 'sending') "
                    "EXECUTE FUNCTION slow_outcome()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER slow_outcome BEFORE UPDATE ON deliveries FOR EACH ROW "
                    "WHEN OLD.status = 'sending' AND NEW.status <> 'sending' "
                    "BEGIN SELECT test_sleep(0.02); END"
                )
            )
    event.listen(Engine, "connect", _sqlite_sleep)
    try:
        yield
    finally:
        event.remove(Engine, "connect", _sqlite_sleep)


@pytest.mark.parametrize("pipelining", [False, True], ids=["lockstep", "pipelined"])
def test_smtp_finishes_data_only_after_the_previous_outcome_is_committed(
    db_world_factory: Any, db_engine: Engine, slow_outcomes: None, pipelining: bool
) -> None:
    """Also where each next envelope goes out behind a body (PIPELINING): the
    message is handed over only at its own dot, and the worker sends the
    message it named next, so no connection is closed to undo an envelope."""
    from aiosmtpd.controller import Controller

    from tests.delivery.conftest import free_port

    handler = _CheckingSink(db_engine)
    handler.pipelining = pipelining
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        w = db_world_factory(40, mail_url=f"smtp://127.0.0.1:{port}?starttls=false")
        started = time.monotonic()
        report = send_issue(w.settings, w.config, w.issue_id, workers=2)
        elapsed = time.monotonic() - started
    finally:
        controller.stop()
    assert (report.sent, report.status) == (40, "sent")
    assert elapsed >= 20 * 0.02  # the trigger did slow each connection's outcomes
    assert sorted(handler.accepted) == sorted(w.emails)
    assert handler.violations == []
    assert len(handler.sessions) == 2  # one connection per worker, all the way


def test_a_second_send_in_the_same_process_reuses_the_connections(
    db_world_factory: Any, probe: type[ProbeBackend]
) -> None:
    """A daemon sends issue after issue: the pooled connections (and what a send
    prepared on them) serve the next send."""
    w = db_world_factory(60, mail_url="probe:")
    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        if done >= 10:
            stop.set()

    first = send_issue(w.settings, w.config, w.issue_id, workers=2, stop=stop, progress=progress)
    assert first.status == "sending" and 10 <= first.sent < 60
    with w.session() as s:  # the workers gave back what they held, on connections of their own
        assert DeliveryStatus.SENDING not in set(s.scalars(select(Delivery.status)))
    second = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert (first.sent + second.sent, second.status) == (60, "sent")
    assert sorted(probe.accepted) == sorted(w.emails)
    assert probe.violations == []


class StallingBackend(MailBackend):
    """Accepts everything; at its first message the process "stalls" for half the
    lease, and meanwhile another claimant takes over every other row: those this
    process claimed and those it did not claim yet."""

    scheme = "stalling"
    engine: ClassVar[Engine | None] = None
    stall: ClassVar[float] = 0.0
    accepted: ClassVar[list[str]] = []

    def take_over(self, conn: Connection, first: str) -> None:
        """Every row but ``first``'s goes to another claimant."""
        conn.execute(
            update(Delivery)
            .where(Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.PENDING]))
            .where(Delivery.email != first)
            .values(
                status=DeliveryStatus.SENDING,
                claimed_by="other-host:1:0:0:abc",
                claimed_at=utcnow(),
            )
        )

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        assert self.engine is not None
        if not self.accepted:
            with self.engine.begin() as conn:
                self.take_over(conn, messages[0].recipients[0])
            time.sleep(self.stall)
        self.accepted.extend(m.recipients[0] for m in messages)
        return [SendResult("sent", "250 accepted") for _ in messages]


def test_a_stalled_worker_hands_over_no_row_another_claimant_took(
    db_world_factory: Any, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past a third of the lease a worker renews before its next hand-over and
    sends only the rows still its own: after a stall, nothing but the message it
    was handing over can go out twice.

    The other claimant's rows stay its own for a lease after it took them: the
    stall takes half of it, and the rest must outlast this worker's renewals and
    its next claim on a loaded machine (with 0.6 s the next claim once found
    them expired and sent them)."""
    lease = 2.0
    monkeypatch.setitem(backends.BUILTIN, "stalling", f"{__name__}:StallingBackend")
    monkeypatch.setattr(StallingBackend, "engine", db_engine)
    monkeypatch.setattr(StallingBackend, "stall", lease / 2)
    monkeypatch.setattr(StallingBackend, "accepted", [])
    # One worker's first slice: on PostgreSQL too the whole outbox is written before
    # the first message, and the other claimant can take every other row.
    n = FIRST_SLICE_PER_WORKER
    w = db_world_factory(n, mail_url="stalling:")
    first = send_issue(w.settings, w.config, w.issue_id, workers=1, lease_seconds=lease)
    assert (first.sent, first.status) == (1, "sending")  # the rest is the other claimant's
    time.sleep(lease)  # the other claimant never sends: its lease runs out
    second = send_issue(w.settings, w.config, w.issue_id, workers=1, lease_seconds=lease)
    assert (second.sent, second.status) == (n - 1, "sent")
    assert sorted(StallingBackend.accepted) == sorted(w.emails)  # each exactly once


class ReclaimingBackend(StallingBackend):
    """As :class:`StallingBackend`, except that the other rows are taken over and
    claimed again by this same worker (as its next claim does once the other
    claimant's lease has run out): a new claim of each, ``attempts`` raised,
    held by no chunk."""

    scheme = "reclaiming"

    def take_over(self, conn: Connection, first: str) -> None:
        me = conn.execute(select(Delivery.claimed_by).where(Delivery.email == first)).scalar_one()
        conn.execute(
            update(Delivery)
            .where(Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.PENDING]))
            .where(Delivery.email != first)
            .values(
                status=DeliveryStatus.SENDING,
                claimed_by=me,
                claimed_at=utcnow(),
                attempts=Delivery.attempts + 1,
            )
        )


def test_a_row_claimed_again_is_sent_only_by_its_new_claim(
    db_world_factory: Any, db_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a stall the worker renews and keeps only the rows its chunk still holds:
    a row another claimant took over and this worker then claimed again belongs to
    that later claim (its ``attempts`` differ), so the stale chunk does not send it;
    before, the renewal's ids alone let both send it."""
    lease = 0.6
    monkeypatch.setitem(backends.BUILTIN, "reclaiming", f"{__name__}:ReclaimingBackend")
    monkeypatch.setattr(ReclaimingBackend, "engine", db_engine)
    monkeypatch.setattr(ReclaimingBackend, "stall", lease / 2)
    monkeypatch.setattr(ReclaimingBackend, "accepted", [])
    w = db_world_factory(FIRST_SLICE_PER_WORKER, mail_url="reclaiming:")
    report = send_issue(w.settings, w.config, w.issue_id, workers=1, lease_seconds=lease)
    # Only the first message: the other rows' new claims are held by no chunk here.
    assert report.sent == 1, report
    assert len(ReclaimingBackend.accepted) == 1
