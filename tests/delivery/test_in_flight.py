"""The in-flight bound, checked at every hand-over: when a connection is handed
a message, the outcome of every message handed over before on that connection
is already committed (seen from another database connection). So a crash can
repeat at most the one message in flight per connection."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select

from outreach.delivery import backends, send_issue
from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.models import Delivery, DeliveryStatus


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
def probe(monkeypatch: pytest.MonkeyPatch, engine: Engine) -> type[ProbeBackend]:
    monkeypatch.setitem(backends.BUILTIN, "probe", f"{__name__}:ProbeBackend")
    monkeypatch.setattr(ProbeBackend, "engine", engine)
    monkeypatch.setattr(ProbeBackend, "violations", [])
    monkeypatch.setattr(ProbeBackend, "accepted", [])
    return ProbeBackend


def test_each_outcome_is_committed_before_the_next_hand_over(
    world_factory: Any, probe: type[ProbeBackend]
) -> None:
    w = world_factory(60, mail_url="probe:")
    report = send_issue(w.settings, w.config, w.issue_id, workers=3)
    assert (report.sent, report.status) == (60, "sent")
    assert sorted(probe.accepted) == sorted(w.emails)
    assert probe.violations == []


class _CheckingSink:
    """aiosmtpd handler: when a message's DATA completes, the outcome of the message
    before it on the same connection must already be committed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
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
        self.accepted.append(rcpt)
        return "250 OK"


def test_smtp_finishes_data_only_after_the_previous_outcome_is_committed(
    world_factory: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from aiosmtpd.controller import Controller

    from outreach.delivery.outcomes import Recorder
    from tests.delivery.conftest import free_port

    commit = Recorder._commit

    def slow_commit(self: Recorder, conn: Any, batch: Any) -> None:
        time.sleep(0.02)  # a slow database: the next message's transfer outruns the commit
        commit(self, conn, batch)

    monkeypatch.setattr(Recorder, "_commit", slow_commit)

    handler = _CheckingSink(engine)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        w = world_factory(40, mail_url=f"smtp://127.0.0.1:{port}?starttls=false")
        report = send_issue(w.settings, w.config, w.issue_id, workers=2)
    finally:
        controller.stop()
    assert (report.sent, report.status) == (40, "sent")
    assert sorted(handler.accepted) == sorted(w.emails)
    assert handler.violations == []
