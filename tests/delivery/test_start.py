"""How a send starts and ends: the workers connect while the outbox is written and
the issue rendered, a send that cannot start sends nothing and leaves nothing
behind, and the claims shrink as the rows run out, so that every connection
shares the outbox's first and last rows."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from outreach.delivery import send as send_module
from outreach.delivery import send_issue
from outreach.delivery.outbox import OutboxRows
from outreach.delivery.workers import CHUNK
from outreach.errors import OutreachError
from outreach.models import Delivery, DeliveryStatus
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
