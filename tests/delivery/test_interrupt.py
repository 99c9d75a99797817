"""Ctrl-C of a send: the first stops it cleanly, in ``outreach issue send`` and in a
program that calls ``send_issue`` (``SendRun.join``).

A real command line sends through an aiosmtpd sink and gets SIGINT mid-send,
on SQLite and on PostgreSQL, while the sink holds the message in flight on each
connection: those finish and their outcomes are committed, nothing more reaches
the sink after the Ctrl-C, the rows not handed over are pending again (none is
left ``sending``), the usual report says the send was interrupted, and the exit
status is 130. The next ``issue send`` sends the rest, each recipient once. In a
program of its own, ``send_issue`` gives its rows back the same way and then
raises KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select

from outreach.db import create_db_engine, get_engine, session_scope
from outreach.delivery import send_issue
from outreach.models import Base, Delivery
from outreach.settings import Settings
from tests.conftest import ROOT
from tests.delivery.conftest import SMTPServer
from tests.scheduler.helpers import make_settings
from tests.scheduler.outage import cli_env
from tests.scheduler.test_stages import approved_call, no_campaigns

RECIPIENTS = 60


def statuses(settings: Settings) -> dict[str, int]:
    with session_scope(get_engine(settings)) as session:
        rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return {str(s): int(n) for s, n in rows}


class Lines:
    """A pipe's lines as they come, read by a thread of their own."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.lines.append(line)

    def text(self) -> str:
        self.thread.join(60)
        return "".join(self.lines)


def send(settings: Settings, tmp: Path, url: str, issue_id: int) -> subprocess.Popen[str]:
    env = cli_env(settings, tmp)
    env.update(
        PYTHONPATH=str(ROOT),
        OUTREACH_MAIL_URL=url,
        OUTREACH_BASE_URL="https://outreach.example.fi",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "outreach", "issue", "send", str(issue_id), "--workers", "2"],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_a_send_cleanly(db_url: str, tmp_path: Path, smtp_server: SMTPServer) -> None:
    settings = make_settings(tmp_path, db_url)
    engine = create_db_engine(db_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    no_campaigns(settings)
    approved_call(settings, RECIPIENTS)
    sink = smtp_server.handler
    # From the fifth message on, the server holds each connection's message in
    # flight; each worker still has most of its chunk of 10 in hand.
    sink.hold_after = 4

    proc = send(settings, tmp_path, smtp_server.url(), 1)
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = Lines(proc.stdout), Lines(proc.stderr)
    try:
        deadline = time.monotonic() + 90  # a Python start on a loaded machine
        while sink.holding < 2:
            assert proc.poll() is None, stderr.text()
            assert time.monotonic() < deadline, "the server held no message"
            time.sleep(0.05)
        before = len(sink.received)
        proc.send_signal(signal.SIGINT)
        while not any(line.startswith("Stopping:") for line in stderr.lines):  # stop is set
            assert proc.poll() is None, stderr.text()
            assert time.monotonic() < deadline + 60, stderr.text()
            time.sleep(0.05)
        sink.release()
        proc.wait(timeout=60)
    finally:
        sink.release()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out, err = stdout.text(), stderr.text()
    assert proc.returncode == 130, err
    assert "Aborted" not in err
    # The message in flight on each of the two connections, nothing after them.
    assert len(sink.received) - before == 2, err
    after = statuses(settings)
    assert set(after) <= {"sent", "pending"}, after  # nothing left claimed
    sent = after.get("sent", 0)
    assert 4 <= sent < RECIPIENTS
    assert len(sink.received) == sent  # each message the server took is recorded sent
    report = [line for line in out.splitlines() if line.startswith("issue 1: ")]
    assert len(report) == 1, out
    assert report[0].startswith(f"issue 1: sent {sent}, ")
    assert "interrupted" in report[0]

    proc = send(settings, tmp_path, smtp_server.url(), 1)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert statuses(settings) == {"sent": RECIPIENTS}
    assert set(Counter(rcpt for rcpt, _ in sink.received).values()) == {1}
    assert len(sink.received) == RECIPIENTS


def test_ctrl_c_waits_for_every_worker_before_send_issue_raises(
    db_world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while ``send_issue`` waits for its workers (SendRun.join): each finishes
    the message it is handing over and gives the rest back, and KeyboardInterrupt
    comes only once every one of them has returned, also the first, still handing
    its message over (a Thread.join cut short by Ctrl-C takes that thread for ended)."""
    from outreach.delivery.backends.memory import MemoryBackend

    w = db_world_factory(RECIPIENTS)
    at_gate, gate = threading.Event(), threading.Event()
    send_one = MemoryBackend.send_one

    def gated(self: MemoryBackend, message: Any, ready: Any, following: Any = None) -> Any:
        if threading.current_thread().name.endswith("-0") and not gate.is_set():
            at_gate.set()
            gate.wait(30)  # the first worker's server is slow
        return send_one(self, message, ready, following)

    monkeypatch.setattr(MemoryBackend, "send_one", gated)

    def interrupt() -> None:
        at_gate.wait(30)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1.0)  # the other workers have long returned
        gate.set()

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Thread(target=interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            send_issue(w.settings, w.config, w.issue_id, workers=2)
        left = [t.name for t in threading.enumerate() if t.name.startswith(f"send-{w.issue_id}-")]
    finally:
        gate.set()
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert left == []
    after = statuses(w.settings)
    assert set(after) <= {"sent", "pending"}, after  # nothing left claimed
    assert 1 <= after.get("sent", 0) < RECIPIENTS
