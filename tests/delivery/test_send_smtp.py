"""send_issue against a real aiosmtpd server that answers 421, 451, 550 or
drops the connection for chosen addresses: every address ends in the right
state; retries, the retry lifetime, suppression, VERP and rate limits."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import select, update

from outreach.delivery import send_issue
from outreach.delivery.outbox import failures, issue_counts
from outreach.models import Delivery, DeliveryStatus, Issue, IssueStatus, Suppression
from outreach.suppression import suppression_key
from outreach.validation import email_hash
from tests.delivery.conftest import SMTPServer


def states(w: Any) -> dict[str, str]:
    with w.session() as s:
        return {e: st.value for e, st in s.execute(select(Delivery.email, Delivery.status))}


def test_every_address_ends_in_the_right_state(world_factory: Any, smtp_server: SMTPServer) -> None:
    h = smtp_server.handler
    w = world_factory(40, mail_url=smtp_server.url())
    h.on("user1@example.fi", "451", "451")  # greylisted twice, then accepted
    h.on("user2@example.fi", "421")  # server going down once
    h.on("user3@example.fi", "550")  # no such mailbox
    h.on("user4@example.fi", "drop")  # connection dropped at RCPT, once
    h.on("user5@example.fi", "drop-data")  # dropped after the data, never stored
    h.on("user6@example.fi", "554-data")  # refused at DATA
    report = send_issue(w.settings, w.config, w.issue_id, workers=3, retry_base_seconds=0)
    st = states(w)
    assert st.pop("user3@example.fi") == "failed"
    assert st.pop("user6@example.fi") == "failed"
    assert set(st.values()) == {"sent"}
    counts = h.counts()
    assert set(counts) == set(w.emails) - {"user3@example.fi", "user6@example.fi"}
    assert set(counts.values()) == {1}
    assert (report.sent, report.failed, report.status) == (38, 2, "sent")
    with w.session() as s:
        assert s.scalar(select(Delivery.attempts).where(Delivery.email == "user1@example.fi")) == 3
        suppressed = set(s.scalars(select(Suppression.email_hash)))
        key = suppression_key(w.settings)
        assert suppressed == {email_hash(f"user{i}@example.fi", key) for i in (3, 6)}
        reasons = dict(failures(s, w.issue_id))
        assert reasons["user3@example.fi"].startswith("550")
        assert reasons["user6@example.fi"].startswith("554")
        assert s.get(Issue, w.issue_id).status == IssueStatus.SENT


def test_temporary_failure_waits_with_backoff(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(3, mail_url=smtp_server.url())
    smtp_server.handler.on("user0@example.fi", "451")
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.retrying, report.remaining) == (2, 1, 1)
    assert report.status == "sending"  # not done while a retry is pending
    with w.session() as s:
        row = s.scalar(select(Delivery).where(Delivery.email == "user0@example.fi"))
        assert row.status == DeliveryStatus.PENDING and row.next_attempt_at is not None
        wait = (row.next_attempt_at - row.created_at).total_seconds()
        assert 30 <= wait <= 120  # 60 s ± jitter
        assert "451" in (row.last_error or "")
        # Time passes: the retry is due, and the next run finishes the issue.
        s.execute(update(Delivery).values(next_attempt_at=row.created_at))
        s.commit()
    report = send_issue(w.settings, w.config, w.issue_id)
    assert report.sent == 1 and report.status == "sent"
    assert smtp_server.handler.counts() == dict.fromkeys(w.emails, 1)


def test_temporary_failure_past_lifetime_fails(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(2, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"retry_lifetime_hours": 0.0})
    smtp_server.handler.on("user1@example.fi", "451")
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.failed, report.status) == (1, 1, "sent")
    with w.session() as s:
        [(email, error)] = failures(s, w.issue_id)
        assert s.scalar(select(Suppression.id)) is None  # temporary: never suppressed
    assert email == "user1@example.fi" and error.startswith("gave up after 1 attempts: 451")


def test_verp_return_path(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(2, mail_url=smtp_server.url(verp="bounces@vantaa.fi"))
    send_issue(w.settings, w.config, w.issue_id)
    assert sorted(smtp_server.handler.envelopes) == [
        "bounces+user0=example.fi@vantaa.fi",
        "bounces+user1=example.fi@vantaa.fi",
    ]


def test_rate_limit_per_second(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(11, mail_url=smtp_server.url())
    w.settings = w.settings.model_copy(update={"rate_per_second": 50.0})
    started = time.monotonic()
    report = send_issue(w.settings, w.config, w.issue_id, workers=4)
    assert report.sent == 11
    assert time.monotonic() - started >= 0.19  # 10 intervals of 20 ms


def test_rate_limit_per_hour_stops_at_stop_event(world_factory: Any) -> None:
    import threading

    from outreach.delivery.ratelimit import RateLimiter

    limiter = RateLimiter(per_hour=2)
    stop = threading.Event()
    assert limiter.acquire(stop) and limiter.acquire(stop)
    stop.set()
    assert limiter.acquire(stop) is False  # the third would wait an hour


def test_a_long_rate_limit_wait_renews_the_worker_claims_as_it_goes() -> None:
    from outreach.delivery.ratelimit import RateLimiter

    limiter = RateLimiter(per_second=10)  # the second slot is 100 ms away
    renewals: list[float] = []
    assert limiter.acquire()
    started = time.monotonic()
    assert limiter.acquire(every=0.02, while_waiting=lambda: renewals.append(time.monotonic()))
    assert time.monotonic() - started >= 0.09
    assert len(renewals) >= 3  # called between the steps of one long wait


def test_counts_per_status(world_factory: Any, smtp_server: SMTPServer) -> None:
    w = world_factory(4, mail_url=smtp_server.url())
    smtp_server.handler.on("user2@example.fi", "550")
    send_issue(w.settings, w.config, w.issue_id)
    with w.session() as s:
        counts = issue_counts(s, w.issue_id)
    assert counts == {
        "pending": 0,
        "sending": 0,
        "sent": 3,
        "failed": 1,
        "skipped": 0,
        "cancelled": 0,
        "total": 4,
    }


def test_provider_retry_after_and_rejection_through_send_issue(
    world_factory: Any, provider_server: Any
) -> None:
    from datetime import timedelta

    from outreach.models import utcnow

    w = world_factory(3, mail_url=provider_server.url())
    provider_server.script = {
        "user1@example.fi": [(400, {})],
        "user2@example.fi": [(429, {"Retry-After": "3600"})],
    }
    report = send_issue(w.settings, w.config, w.issue_id, workers=1)
    assert (report.sent, report.failed, report.retrying) == (1, 1, 1)
    with w.session() as s:
        row = s.scalar(select(Delivery).where(Delivery.email == "user2@example.fi"))
        assert row.next_attempt_at > utcnow() + timedelta(minutes=55)  # not the 60 s backoff
        key = suppression_key(w.settings)
        assert s.scalar(select(Suppression.email_hash)) == email_hash("user1@example.fi", key)
