"""PostgreSQL's outcome writes: the workers of a send share one connection in
pipeline mode (``outreach.delivery.outbox.writer.PgOutcomes``). An outcome the
database refuses stops the worker that wrote it; a connection that is lost
stops every worker. Either way nothing is lost, and the only messages that can
go out twice are the ones in flight, at most one per connection."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from sqlalchemy import Engine, select, text

from outreach.delivery import backends, send_issue
from outreach.delivery.backends.base import MailBackend, OutgoingMessage, SendResult
from outreach.errors import OutreachError
from outreach.models import Delivery, DeliveryStatus

pytestmark = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


class CountingBackend(MailBackend):
    """Accepts everything and counts it; after ``cut_after`` messages it ends the
    send's outcome connection from the server's side (once)."""

    scheme = "counting"
    engine: ClassVar[Engine | None] = None
    cut_after: ClassVar[int | None] = None
    accepted: ClassVar[list[str]] = []
    lock = threading.Lock()

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        for m in messages:
            with self.lock:
                self.accepted.append(m.recipients[0])
                cut = len(self.accepted) == self.cut_after
            if cut:
                assert self.engine is not None
                with self.engine.begin() as conn:
                    ended = conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name LIKE 'outreach outcomes %'"
                            # this test's database only: tests run side by side
                            " AND datname = current_database()"
                        )
                    ).all()
                assert ended == [(True,)]
        return [SendResult("sent", "250 accepted") for _ in messages]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch, db_engine: Engine) -> type[CountingBackend]:
    monkeypatch.setitem(backends.BUILTIN, "counting", f"{__name__}:CountingBackend")
    monkeypatch.setattr(CountingBackend, "engine", db_engine)
    monkeypatch.setattr(CountingBackend, "cut_after", None)
    monkeypatch.setattr(CountingBackend, "accepted", [])
    return CountingBackend


def statuses(engine: Engine) -> dict[str, DeliveryStatus]:
    with engine.connect() as conn:
        return dict(conn.execute(select(Delivery.email, Delivery.status)).all())


def test_an_outcome_the_database_refuses_stops_its_worker_and_only_it_can_repeat(
    db_world_factory: Any, db_engine: Engine, counting: type[CountingBackend]
) -> None:
    w = db_world_factory(40, mail_url="counting:")
    victim = sorted(w.emails)[5]
    with db_engine.begin() as conn:
        refuse = (
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            f" IF NEW.email = '{victim}' AND NEW.status = 'sent' THEN"
            " RAISE EXCEPTION 'outcome refused by a trigger'; END IF; RETURN NEW; END $$"
        )
        conn.execute(text(refuse))
        conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE UPDATE ON deliveries"
                " FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    with pytest.raises(OutreachError, match="outcome refused by a trigger"):
        send_issue(w.settings, w.config, w.issue_id, workers=2)
    # The worker gave back the rows it had not handed over; the other one went on.
    stopped = statuses(db_engine)
    assert [e for e, s in stopped.items() if s == DeliveryStatus.SENDING] == [victim]
    assert set(stopped.values()) <= {
        DeliveryStatus.SENT,
        DeliveryStatus.PENDING,
        DeliveryStatus.SENDING,
    }
    again = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert again.errors == []
    after = statuses(db_engine)
    # Accepted, its outcome refused: it stays claimed and goes out again once
    # the lease has run out (the one message in flight on that connection).
    assert after.pop(victim) == DeliveryStatus.SENDING
    assert set(after.values()) == {DeliveryStatus.SENT}
    assert Counter(counting.accepted) == Counter(w.emails)


def test_a_lost_outcome_connection_stops_the_send_and_loses_nothing(
    db_world_factory: Any, db_engine: Engine, counting: type[CountingBackend]
) -> None:
    w = db_world_factory(60, mail_url="counting:")
    counting.cut_after = 12
    with pytest.raises(OutreachError, match="recording outcomes failed"):
        send_issue(w.settings, w.config, w.issue_id, workers=3, lease_seconds=1)
    in_flight = [e for e, s in statuses(db_engine).items() if s == DeliveryStatus.SENDING]
    # Accepted before the connection went, not recorded: at most one a connection.
    assert set(in_flight) <= set(counting.accepted) and 1 <= len(in_flight) <= 3
    time.sleep(1.1)  # their lease runs out; the next send opens a new connection
    second = send_issue(w.settings, w.config, w.issue_id, workers=3, lease_seconds=1)
    assert (second.errors, second.status) == ([], "sent")
    assert set(statuses(db_engine).values()) == {DeliveryStatus.SENT}
    seen = Counter(counting.accepted)
    assert set(seen) == set(w.emails)
    twice = sorted(e for e, n in seen.items() if n > 1)
    assert twice == sorted(in_flight) and max(seen.values()) == 2


def _deliveries_scans(engine: Engine) -> tuple[int, int]:
    """(sequential scans, rows they read) of ``deliveries`` so far, once every other
    server process of this database has ended (a process reports its counts as it ends)."""
    from outreach import db

    db.dispose_engines()
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            others = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            if others == 0:
                break
            time.sleep(0.05)
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        scans, read = conn.execute(
            text(
                "SELECT coalesce(seq_scan, 0), coalesce(seq_tup_read, 0)"
                " FROM pg_stat_user_tables WHERE relname = 'deliveries'"
            )
        ).one()
        conn.rollback()
    return int(scans), int(read)


def test_a_send_finds_its_rows_by_key_even_when_the_table_looked_empty_at_its_start(
    db_world_factory: Any, db_engine: Engine, counting: type[CountingBackend]
) -> None:
    """Autovacuum leaves an empty ``deliveries`` table with statistics saying so. A
    plan made from them scanned the whole table for every outcome: a send to n
    recipients read n²/2 rows (4,000 recipients: 8 million rows, twice the server's
    CPU a message). The send's statements find their rows through an index."""
    w = db_world_factory(400, mail_url="counting:")
    with db_engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE deliveries")
        )
    before, read_before = _deliveries_scans(db_engine)
    report = send_issue(w.settings, w.config, w.issue_id, workers=2)
    assert (report.sent, report.status) == (400, "sent")
    scans, read = _deliveries_scans(db_engine)
    # The start and the end read the outbox whole a few times (the fill, the counts);
    # a message never does.
    assert scans - before < 40, (scans - before, read - read_before)
    assert read - read_before < 40 * 400, (scans - before, read - read_before)
