"""A stop during a send takes effect before the next hand-over: after it, only the
message in flight on each connection reaches the server.

Against aiosmtpd on 127.0.0.1, on SQLite and on PostgreSQL: the server holds
each connection's message, its data and final dot received, unanswered. While
every connection waits so, the send is stopped (its caller's stop, as a daemon's
SIGTERM or Ctrl-C sets it), paused or cancelled (as the console or ``outreach
issue pause|cancel`` does, from another connection); then the server answers.
The messages it receives after the stop are exactly those it held, one per
connection, though each worker still had most of its chunk in hand; every row
not handed over is ``pending`` again (cancelled, for a cancel), none is left
``sending``, and the next send sends the rest, each recipient once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from outreach.delivery import cancel_issue, pause_issue, resume_issue, send_issue, workers
from outreach.delivery.workers import SendReport
from outreach.models import Delivery, Issue
from tests.delivery.conftest import SMTPServer

RECIPIENTS = 60
CONNECTIONS = 2


def statuses(w: Any) -> dict[str, int]:
    with w.session() as s:
        rows = s.execute(
            select(Delivery.status, func.count())
            .where(Delivery.issue_id == w.issue_id)
            .group_by(Delivery.status)
        )
        return {str(status.value): int(n) for status, n in rows}


def wait_for(check: Any, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds  # generous: a loaded, shared machine
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.parametrize("how", ["stop", "pause", "cancel"])
def test_a_stop_lets_only_the_messages_in_flight_out(
    db_world_factory: Any, smtp_server: SMTPServer, how: str
) -> None:
    w = db_world_factory(RECIPIENTS, mail_url=smtp_server.url())
    sink = smtp_server.handler
    # Each worker claims 15 rows and sends them in chunks of 10: when the server
    # holds the fifth message, each has several of its chunk still in hand.
    sink.hold_after = 4
    stop = threading.Event()
    result: list[SendReport | BaseException] = []

    def run() -> None:
        try:
            result.append(
                send_issue(w.settings, w.config, w.issue_id, workers=CONNECTIONS, stop=stop)
            )
        except BaseException as exc:
            result.append(exc)

    sender = threading.Thread(target=run)
    sender.start()
    try:
        wait_for(lambda: sink.holding == CONNECTIONS or result, "the server held no message")
        assert not result, result
        before = len(sink.received)
        if how == "stop":
            stop.set()
        else:
            with w.session() as s:
                (pause_issue if how == "pause" else cancel_issue)(s, w.issue_id)
                s.commit()
            # A message goes over only if the issue was seen sending at most
            # STATUS_EVERY before; every look that saw it so was before the commit.
            time.sleep(workers.STATUS_EVERY + 0.05)
    finally:
        sink.release()
        sender.join(120)
    assert not sender.is_alive()
    (report,) = result
    assert isinstance(report, SendReport), report
    after_stop = len(sink.received) - before
    assert after_stop == CONNECTIONS, f"{after_stop} messages reached the server after the {how}"

    after = statuses(w)
    assert after["sent"] == len(sink.received) == report.sent
    rest = "cancelled" if how == "cancel" else "pending"
    assert after == {"sent": report.sent, rest: RECIPIENTS - report.sent}, after
    assert report.interrupted is (how == "stop")
    if how == "cancel":
        return
    if how == "pause":
        with w.session() as s:
            assert s.get(Issue, w.issue_id).status.value == "paused"  # type: ignore[union-attr]
            resume_issue(s, w.issue_id)
            s.commit()
    again = send_issue(w.settings, w.config, w.issue_id, workers=CONNECTIONS)
    assert (again.status, statuses(w)) == ("sent", {"sent": RECIPIENTS})
    assert Counter(rcpt for rcpt, _ in sink.received) == Counter(w.emails)
