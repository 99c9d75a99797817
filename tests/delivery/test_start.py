"""How a send starts and ends: the workers connect while the outbox is written and
the issue rendered, a send that cannot start sends nothing and leaves nothing
behind, and the claims shrink as the rows run out, so that every connection
shares the outbox's first and last rows."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.pool import Pool

from outreach.delivery import send as send_module
from outreach.delivery import send_issue
from outreach.delivery.outbox import OutboxRows
from outreach.delivery.workers import CHUNK
from outreach.errors import OutreachError
from outreach.models import Delivery, DeliveryStatus
from outreach.suppression import suppression_key
from tests.delivery.conftest import SMTPServer


def _count_sessions(server: SMTPServer) -> Counter[str]:
    """Count the EHLOs and QUITs the server sees."""
    seen: Counter[str] = Counter()
    handler = server.handler
    ehlo = handler.handle_EHLO

    async def counted_ehlo(
        server_: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        seen["EHLO"] += 1
        return await ehlo(server_, session, envelope, hostname, responses)

    async def counted_quit(server_: Any, session: Any, envelope: Any) -> str:
        seen["QUIT"] += 1
        return "221 Bye"

    handler.handle_EHLO = counted_ehlo  # type: ignore[method-assign]
    handler.handle_QUIT = counted_quit  # type: ignore[attr-defined]
    return seen


def _send_threads(issue_id: int) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"send-{issue_id}-")]


def test_the_workers_connect_while_the_outbox_is_written(
    db_world_factory: Any, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outbox's first rows are written only once every worker's mail server
    connection is open: the connections do not wait for the outbox."""
    w = db_world_factory(30, mail_url=smtp_server.url())
    seen = _count_sessions(smtp_server)
    connected_before: list[int] = []
    real_start = send_module.start_outbox

    def start_once_connected(*args: Any, **kwargs: Any) -> int:
        deadline = time.monotonic() + 10
        while seen["EHLO"] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        connected_before.append(seen["EHLO"])
        return real_start(*args, **kwargs)

    monkeypatch.setattr(send_module, "start_outbox", start_once_connected)
    report = send_issue(w.settings, w.config, w.issue_id, workers=3)
    assert (report.sent, report.status) == (30, "sent")
    assert connected_before == [3]
    assert Counter(r for r, _ in smtp_server.handler.received) == Counter(w.emails)


def test_a_send_that_cannot_start_sends_nothing_and_closes_its_connections(
    db_world_factory: Any, smtp_server: SMTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue cannot be rendered: the error is raised, no row was claimed, no
    message went out, every connection the workers opened was closed with QUIT and
    no worker thread is left."""
    w = db_world_factory(30, mail_url=smtp_server.url())
    seen = _count_sessions(smtp_server)

    def broken(*args: Any) -> Any:
        deadline = time.monotonic() + 10  # the workers have connected by then
        while seen["EHLO"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise OutreachError("the template of the issue is broken")

    monkeypatch.setattr(send_module, "render", broken)
    with pytest.raises(OutreachError, match="template of the issue is broken"):
        send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert _send_threads(w.issue_id) == []
    assert smtp_server.handler.received == []
    deadline = time.monotonic() + 5
    while seen["QUIT"] < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (seen["EHLO"], seen["QUIT"]) == (2, 2)
    with w.session() as s:
        statuses = set(s.scalars(select(Delivery.status)))
    assert statuses <= {DeliveryStatus.PENDING}  # written, not claimed


def test_claims_shrink_as_the_rows_run_out(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """60 rows, claims of up to 100, two workers: each claim takes a quarter of what
    is left (rounded up), at least a chunk, so both workers get rows from the start
    to the end instead of the first claim taking them all."""
    w = db_world_factory(60)
    settings = w.settings.model_copy(update={"send_batch_size": 100})
    claims: list[tuple[str, int, int]] = []
    real_claim = OutboxRows.claim

    def spy(self: OutboxRows, conn: Any, me: str, size: int) -> Any:
        rows = real_claim(self, conn, me, size)
        claims.append((me, size, len(rows)))
        return rows

    monkeypatch.setattr(OutboxRows, "claim", spy)
    report = send_issue(settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (60, "sent")
    taken = [(me, size, n) for me, size, n in claims if n]
    postgres = w.engine.dialect.name == "postgresql"
    if not postgres:  # the whole outbox is known before the first claim: 60 / 4
        assert taken[0][1] == 15
    sizes = [size for _, size, _ in claims]
    assert max(sizes) < 100 and min(sizes) == CHUNK
    assert len({me for me, _, _ in taken}) == 2  # both workers sent
    assert sum(n for _, _, n in taken) == 60


def test_a_worker_opens_no_database_connection_of_its_own_unless_it_needs_one(
    db_world_factory: Any, smtp_server: SMTPServer
) -> None:
    """Claims, re-checks and outcomes go through the feeders and the outcome
    connection: a send that renews nothing and gives nothing back takes no
    database connection in a worker thread, so four workers cost the database
    server no four more connections at the start."""
    w = db_world_factory(40, mail_url=smtp_server.url())
    takers: list[str] = []

    def checkout(*args: Any) -> None:
        takers.append(threading.current_thread().name)

    event.listen(Pool, "checkout", checkout)
    try:
        report = send_issue(w.settings, w.config, w.issue_id, workers=4)
    finally:
        event.remove(Pool, "checkout", checkout)
    assert (report.sent, report.status) == (40, "sent")
    workers = {f"send-{w.issue_id}-{n}" for n in range(4)}
    feeders = {f"feed-{w.issue_id}-{n}" for n in range(2)}
    assert feeders <= set(takers)  # the listener saw the send's connections
    postgres = w.engine.dialect.name == "postgresql"
    # PostgreSQL: the first worker to run opens the send's one outcome connection;
    # SQLite's is the committer's, opened before the workers start.
    assert sum(name in workers for name in takers) == (1 if postgres else 0)


def test_each_feeder_gets_ready_once_before_its_first_claim(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once connected, each feeder compiles the claim and the re-check and runs the
    re-check for ids that do not exist, before its first claim."""
    w = db_world_factory(30)
    steps: list[tuple[str, str]] = []
    real_warm, real_claim = OutboxRows.warm, OutboxRows.claim

    def warm(self: OutboxRows, conn: Any, chunk: int) -> None:
        real_warm(self, conn, chunk)
        assert self._claim_text is not None and chunk in self._check_texts
        steps.append(("warm", threading.current_thread().name))

    def claim(self: OutboxRows, conn: Any, me: str, size: int) -> Any:
        steps.append(("claim", threading.current_thread().name))
        return real_claim(self, conn, me, size)

    monkeypatch.setattr(OutboxRows, "warm", warm)
    monkeypatch.setattr(OutboxRows, "claim", claim)
    report = send_issue(w.settings, w.config, w.issue_id, workers=4)
    assert (report.sent, report.status) == (30, "sent")
    for feeder in (f"feed-{w.issue_id}-0", f"feed-{w.issue_id}-1"):
        own = [step for step, thread in steps if thread == feeder]
        assert own[0] == "warm" and own.count("warm") == 1 and "claim" in own


def test_warming_a_connection_claims_and_changes_nothing(db_world_factory: Any) -> None:
    """``OutboxRows.warm`` on an outbox being sent: every row as it was."""
    w = db_world_factory(30)
    stop = threading.Event()
    stop.set()  # the outbox written, the issue sending, nothing sent
    assert send_issue(w.settings, w.config, w.issue_id, workers=2, stop=stop).status == "sending"
    with w.session() as s:
        before = sorted(s.execute(select(Delivery.id, Delivery.status, Delivery.claimed_by)))
    rows = OutboxRows(
        w.engine,
        w.issue_id,
        suppression_key(w.settings),
        lease=timedelta(seconds=600),
        batch_size=100,
        write_lock=threading.Lock(),
    )
    with w.engine.connect() as conn:
        rows.warm(conn, CHUNK)
        conn.commit()
    assert rows._claim_text is not None and CHUNK in rows._check_texts
    with w.session() as s:
        after = sorted(s.execute(select(Delivery.id, Delivery.status, Delivery.claimed_by)))
    assert len(before) == 30 and after == before


def test_only_a_resumed_send_looks_for_the_rows_of_dead_senders(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An approved issue was never sent, so its send does not look for rows of
    senders that died; a send resumed does (and puts them back:
    test_outbox.test_rows_of_a_dead_local_process_are_reclaimed_at_once)."""
    w = db_world_factory(20)
    looked: list[int] = []
    real_reclaim = send_module.reclaim_dead

    def spy(engine: Any, issue_id: int) -> int:
        looked.append(issue_id)
        return real_reclaim(engine, issue_id)

    monkeypatch.setattr(send_module, "reclaim_dead", spy)
    stop = threading.Event()
    stop.set()  # starts the send, sends nothing
    first = send_issue(w.settings, w.config, w.issue_id, workers=2, stop=stop)
    assert (first.sent, first.status, looked) == (0, "sending", [])
    second = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert (second.sent, second.status, looked) == (20, "sent", [w.issue_id])


@pytest.mark.parametrize("failure", ["no mail server", "broken template"])
def test_a_failed_send_leaves_its_callers_stop_alone(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A worker that cannot reach the mail server, or a send that cannot start, stops
    that send's own threads; the stop its caller passed (a daemon's) is not set, so
    the caller tries again later instead of shutting down."""
    from tests.delivery.conftest import free_port

    w = db_world_factory(30, mail_url=f"smtp://127.0.0.1:{free_port()}?starttls=false")
    if failure == "broken template":
        w.settings = w.settings.model_copy(update={"mail_url": "memory:"})

        def broken(*args: Any) -> Any:
            raise OutreachError("the template of the issue is broken")

        monkeypatch.setattr(send_module, "render", broken)
    daemon_stop = threading.Event()
    with pytest.raises(OutreachError):
        send_issue(w.settings, w.config, w.issue_id, workers=2, stop=daemon_stop)
    assert not daemon_stop.is_set()
    assert _send_threads(w.issue_id) == []
    with w.session() as s:
        assert set(s.scalars(select(Delivery.status))) <= {DeliveryStatus.PENDING}


def test_the_callers_stop_reaches_workers_waiting_for_a_slot(db_world_factory: Any) -> None:
    """The caller's stop set during a send stops it: a worker waiting for its rate
    limit's next slot (an hour away) wakes and gives its rows back."""
    w = db_world_factory(10)
    w.settings = w.settings.model_copy(update={"rate_per_hour": 1})
    daemon_stop = threading.Event()
    threading.Timer(0.5, daemon_stop.set).start()
    started = time.monotonic()
    report = send_issue(w.settings, w.config, w.issue_id, workers=2, stop=daemon_stop)
    assert time.monotonic() - started < 5
    # One slot an hour, per process and mail URL: an earlier test may have taken it.
    assert report.sent <= 1 and report.status == "sending"
    assert report.remaining == 10 - report.sent
    with w.session() as s:
        statuses = sorted(s.scalars(select(Delivery.status)))
    assert statuses == ["pending"] * report.remaining + ["sent"] * report.sent
