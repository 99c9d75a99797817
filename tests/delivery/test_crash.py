"""Sending processes killed with SIGKILL at random points and restarted.

The sink (aiosmtpd on 127.0.0.1) records every message it accepts. After each
kill, once the sink has seen every connection of the killed process close, the
messages that kill will cause to be sent twice are exactly those the sink
accepted whose delivery row is not ``sent`` (two of one recipient's, when the
other process of the round took its row over and was killed with it in
flight as well): they are counted per kill and must number at most one per
connection of the killed process(es). In the end
every recipient got the issue, and the duplicates the sink saw are exactly
the ones counted at the kills. SQLite: one sending process, the envelope in
lockstep; PostgreSQL: two sending one issue at once, both killed each round,
to a sink that offers PIPELINING. On PostgreSQL, two
processes sending one issue at once: each recipient exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from outreach.db import create_db_engine
from outreach.models import Base, Delivery, DeliveryStatus
from tests.conftest import ROOT
from tests.delivery.conftest import PipeliningOffer, SMTPServer, free_port, populate

KILLS = int(os.environ.get("OUTREACH_CRASH_KILLS", "20"))
SEED = int(os.environ.get("OUTREACH_CRASH_SEED", "6"))
WORKERS = 2  # connections per sending process
#: The sink's time per message: it caps how much a round can send (the
#: recipients must outlast every round) and widens the window a kill can hit.
SINK_DELAY = 0.005
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE)


class Sink(PipeliningOffer):
    """Accepts every message and records (Message-ID, recipient); counts open sessions.
    With ``pipelining`` it offers PIPELINING (RFC 2920), as Postfix does: the
    sender then writes each envelope at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[str, str]] = []
        self.sessions = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(SINK_DELAY)
        found = MESSAGE_ID.search(envelope.original_content or envelope.content)
        mid = found.group(1).decode() if found else "?"
        with self.lock:
            self.received.extend((mid, rcpt) for rcpt in envelope.rcpt_tos)
        return "250 2.0.0 OK"

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(rcpt for _, rcpt in self.received)

    def settle(self) -> None:
        """Wait until every session has closed and what they sent is handled: nothing
        more can be accepted. A message whose final dot reached the socket just before
        its sender died may still be handled after the session closed, on a loaded
        machine, so the count must also stay still for a moment."""
        deadline = time.monotonic() + 10
        while self.sessions:
            assert time.monotonic() < deadline, "the sink kept a session open"
            time.sleep(0.002)
        seen, still_since = len(self.received), time.monotonic()
        while time.monotonic() - still_since < 0.2:
            time.sleep(0.01)
            if len(self.received) != seen:
                seen, still_since = len(self.received), time.monotonic()


class _CountingSMTP(SMTP):
    def connection_made(self, transport: Any) -> None:
        if self.transport is None:  # not the STARTTLS upgrade of a session
            self.event_handler.sessions += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.event_handler.sessions -= 1


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _CountingSMTP(self.handler, **self.SMTP_kwargs)


@pytest.fixture
def sink() -> Iterator[tuple[Sink, str]]:
    handler = Sink()
    port = free_port()
    controller = _SinkController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}?starttls=false"
    finally:
        controller.stop()


def start(args: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.delivery.send_process", json.dumps(args)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return dict(json.loads(out.strip().splitlines()[-1]))


class ForkServer:
    """Starts sending processes by fork from one process that imported everything."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.delivery.send_process", "--fork-server"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.cond = threading.Condition()
        self.started: list[int] = []
        self.reports: dict[int, dict[str, Any]] = {}
        self.exited: dict[int, int] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            kind, pid, *rest = line.split(" ", 2)
            with self.cond:
                if kind == "started":
                    self.started.append(int(pid))
                elif kind == "report":
                    self.reports[int(pid)] = json.loads(rest[0])
                elif kind == "exited":
                    self.exited[int(pid)] = int(rest[0])
                self.cond.notify_all()

    def start(self, args: dict[str, Any]) -> int:
        assert self.proc.stdin is not None
        with self.cond:
            seen = len(self.started)
            self.proc.stdin.write(json.dumps(args) + "\n")
            self.proc.stdin.flush()
            assert self.cond.wait_for(lambda: len(self.started) > seen, timeout=30)
            return self.started[seen]

    def wait(self, pid: int, timeout: float = 120) -> int:
        """The exit status once the process is reaped (its pid is gone)."""
        with self.cond:
            assert self.cond.wait_for(lambda: pid in self.exited, timeout=timeout), pid
            return self.exited[pid]

    def finish(self, pid: int) -> dict[str, Any]:
        assert self.wait(pid) == 0, f"sender {pid} failed (its traceback is on stderr)"
        return self.reports[pid]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def senders() -> Iterator[ForkServer]:
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()


def settle_database(engine: Engine) -> None:
    """Wait until the killed processes' database sessions have ended.

    A process killed right after sending COMMIT leaves the server to finish
    that commit; only once its session is gone is the outcome final.
    """
    if engine.dialect.name != "postgresql":
        return  # SQLite commits inside the process: nothing outlives it
    engine.dispose()  # our own pooled sessions must not count
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).scalar():
            assert time.monotonic() < deadline, "a killed sender's session did not end"
            conn.rollback()
            time.sleep(0.002)


def not_sent(engine: Engine) -> set[str]:
    with Session(engine) as s:
        return set(s.scalars(select(Delivery.email).where(Delivery.status != DeliveryStatus.SENT)))


def duplicates_owed(counts: Counter[str], pending: set[str]) -> dict[str, int]:
    """Per recipient the sink got something for, the duplicates it will have had once
    its row is ``sent``: every copy so far if it is not sent yet, else all but one."""
    return {rcpt: n - (rcpt not in pending) for rcpt, n in counts.items() if n}


def newly_owed(before: dict[str, int], now: dict[str, int]) -> int:
    """The duplicates a round added: what :func:`duplicates_owed` gives after it, less
    what it gave before it."""
    return sum(n - before.get(rcpt, 0) for rcpt, n in now.items())


def test_duplicates_owed_counts_two_copies_of_one_round() -> None:
    # One process killed with the message in flight, the other took the row over
    # and was killed with it in flight too: two duplicates, then one more copy.
    rounds = [
        (Counter({"a@x.fi": 0, "b@x.fi": 1}), {"a@x.fi", "b@x.fi"}),
        (Counter({"a@x.fi": 2, "b@x.fi": 2}), {"a@x.fi"}),
        (Counter({"a@x.fi": 3, "b@x.fi": 2, "c@x.fi": 1}), set()),
    ]
    counted: dict[str, int] = {}
    per_round = []
    for counts, pending in rounds:
        now = duplicates_owed(counts, pending)
        per_round.append(newly_owed(counted, now))
        counted = now
    assert per_round == [1, 2, 0]
    final = rounds[-1][0]
    assert sum(per_round) == sum(n - 1 for n in final.values())


def crash_rounds(
    senders: ForkServer,
    sink: Sink,
    engine: Engine,
    args: dict[str, Any],
    processes: int,
    rng: random.Random,
    history: list[tuple[Counter[str], set[str]]],
) -> list[int]:
    """KILLS rounds of: start ``processes`` senders, kill each at a random point.

    Returns, per round, how many messages the sink accepted whose outcome the
    killed processes had not recorded: each will be sent again, a duplicate.
    ``history`` gets, per round, the sink's count per recipient and the
    recipients not ``sent`` (for :func:`check_outcome`'s message).
    """
    per_kill: list[int] = []
    # Per recipient, the duplicates it will have had: every copy the sink accepted
    # while its row is not ``sent`` (one more copy is still to come), one fewer once
    # it is. Within one round a recipient can gain two: one process is killed with
    # the message in flight, the other takes the row over (the first one's pid is
    # gone) and is killed with it in flight too.
    counted: dict[str, int] = {}
    load_start = os.getloadavg()[0]
    while len(per_kill) < KILLS:
        before = len(sink.received)
        pids = [senders.start(args) for _ in range(processes)]
        deadline = time.monotonic() + 30
        while len(sink.received) == before:
            assert time.monotonic() < deadline, "the senders never started"
            time.sleep(0.002)
        for pid in rng.sample(pids, len(pids)):
            time.sleep(rng.uniform(0.0, 0.2 / processes))
            os.kill(pid, signal.SIGKILL)
        statuses = [senders.wait(pid) for pid in pids]
        assert statuses == [-signal.SIGKILL] * processes, (
            "a sender ended before it was killed: give the test more recipients"
        )
        sink.settle()
        settle_database(engine)
        counts, pending = sink.counts(), not_sent(engine)
        history.append((counts, pending))
        now = duplicates_owed(counts, pending)
        per_kill.append(newly_owed(counted, now))
        counted = now
    print(
        f"sent before the last restart: {len(sink.received)}, "
        f"load average {load_start:.2f} → {os.getloadavg()[0]:.2f}"
    )
    return per_kill


def duplicated_history(
    counts: Counter[str], history: list[tuple[Counter[str], set[str]]]
) -> list[str]:
    """Per recipient the sink got more than once: the rounds after which its count
    or its state changed, as (round, count, not sent yet)."""
    lines = []
    for rcpt, n in sorted(counts.items()):
        if n < 2:
            continue
        seen: list[tuple[int, int, bool]] = []
        for k, (round_counts, pending) in enumerate(history):
            state = (round_counts[rcpt], rcpt in pending)
            if not seen or seen[-1][1:] != state:
                seen.append((k, *state))
        lines.append(f"{rcpt} x{n}: {seen}")
    return lines


def check_outcome(
    sink: Sink,
    engine: Engine,
    emails: list[str],
    per_kill: list[int],
    processes: int,
    history: list[tuple[Counter[str], set[str]]],
) -> None:
    counts = sink.counts()
    duplicates = sum(n - 1 for n in counts.values())
    bound = processes * WORKERS
    print(
        f"kills={len(per_kill)} duplicates per kill={per_kill} bound={bound} "
        f"messages={sum(counts.values())}"
    )
    assert set(counts) == set(emails)  # nobody lost
    assert max(per_kill) <= bound, per_kill
    # Every duplicate is one counted at a kill; if not, say whose and when.
    assert duplicates == sum(per_kill), "\n".join(duplicated_history(counts, history))
    with Session(engine) as s:
        assert set(s.scalars(select(Delivery.status))) == {DeliveryStatus.SENT}


@pytest.mark.slow
def test_sigkill_at_random_points_then_restart(
    world_factory: Any,
    sink: tuple[Sink, str],
    senders: ForkServer,
    config: Any,
    tmp_path: Path,
) -> None:
    handler, url = sink
    w = world_factory(100 * KILLS + 100, mail_url=url)
    args = {
        "database_url": w.settings.database_url,
        "mail_url": url,
        "var_dir": str(tmp_path / "var"),
        "campaigns": str(config.root),
        "issue_id": w.issue_id,
        "workers": WORKERS,
    }
    history: list[tuple[Counter[str], set[str]]] = []
    per_kill = crash_rounds(senders, handler, w.engine, args, 1, random.Random(SEED), history)
    report = senders.finish(senders.start(args))
    assert report["status"] == "sent"
    check_outcome(handler, w.engine, w.emails, per_kill, 1, history)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_two_senders_on_postgres(
    pg_url: str,
    sink: tuple[Sink, str],
    senders: ForkServer,
    config: Any,
    tmp_path: Path,
) -> None:
    handler, url = sink
    handler.pipelining = True  # the SQLite test covers the envelope in lockstep
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as s:
        issue_id, _, emails = populate(s, 100 * KILLS + 200)
    args = {
        "database_url": pg_url,
        "mail_url": url,
        "var_dir": str(tmp_path / "var"),
        "campaigns": str(config.root),
        "issue_id": issue_id,
        "workers": WORKERS,
    }
    try:
        history: list[tuple[Counter[str], set[str]]] = []
        rng = random.Random(SEED + 1)
        per_kill = crash_rounds(senders, handler, engine, args, 2, rng, history)
        reports = [senders.finish(p) for p in [senders.start(args), senders.start(args)]]
        assert {r["status"] for r in reports} <= {"sent", "sending"}
        check_outcome(handler, engine, emails, per_kill, 2, history)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_processes_on_postgres_send_each_recipient_once(
    pg_url: str, smtp_server: SMTPServer, config: Any, tmp_path: Path
) -> None:
    engine = create_db_engine(pg_url)
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as s:
        issue_id, _, emails = populate(s, 400)
    engine.dispose()
    smtp_server.handler.delay = 0.002
    args = {
        "database_url": pg_url,
        "mail_url": smtp_server.url(),
        "var_dir": str(tmp_path / "var"),
        "campaigns": str(config.root),
        "issue_id": issue_id,
        "workers": 3,
        "batch": 20,
    }
    procs = [start(args), start(args)]
    reports = [finish(p) for p in procs]
    assert sum(r["sent"] for r in reports) == 400
    assert all(r["sent"] > 0 for r in reports), reports  # both took part
    assert smtp_server.handler.counts() == dict.fromkeys(emails, 1)


def test_audience_and_suppression_hash(db_url: str, config: Any) -> None:
    """The audience's SQL (suppression hash, industries, topics) on each database."""
    from outreach import suppression
    from outreach.campaigns import Audience
    from outreach.delivery.audience import audience_query
    from outreach.delivery.outbox import enqueue_issue
    from outreach.models import Issue, Subscriber, Subscription
    from outreach.settings import Settings
    from outreach.suppression import SuppressionReason, suppression_key
    from outreach.validation import email_hash

    engine = create_db_engine(db_url)
    Base.metadata.create_all(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            issue_id, city_id, _ = populate(s, 6)
            s.query(Subscriber).filter(Subscriber.email == "user1@example.fi").update(
                {"email": "User1@Example.fi"}
            )
            s.query(Subscription).filter(Subscription.subscriber_id == 3).update(
                {"topics": ["climate_x"]}
            )
            s.query(Subscriber).filter(Subscriber.id == 4).update({"industry_code": "35110"})
            settings = Settings(database_url=db_url, secret_key="k" * 40)
            suppression.add(s, settings, "user1@example.fi", SuppressionReason.MANUAL, None)
            s.commit()
            key = suppression_key(settings)
            q = audience_query(city_id, Audience(industries=["35"]), ["fi"], key=key)
            assert [r.subscriber_id for r in s.execute(q)] == [4]
            assert enqueue_issue(s, settings, config, s.get(Issue, issue_id)) == 4
            assert enqueue_issue(s, settings, config, s.get(Issue, issue_id)) == 0
            s.commit()
            emails = set(s.scalars(select(Delivery.email)))
        assert emails == {f"user{i}@example.fi" for i in (0, 3, 4, 5)}
        assert email_hash("User1@Example.fi", key) == email_hash(" user1@example.fi", key)
    finally:
        engine.dispose()
