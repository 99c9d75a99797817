"""The outbox end to end through the memory backend: audience, idempotency,
statuses, re-checks, pause/cancel, dry run, counts and failures."""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

import pytest
from sqlalchemy import select, update

from outreach import suppression
from outreach.delivery import feed, send_issue, send_test
from outreach.delivery.backends import memory
from outreach.delivery.outbox import (
    cancel_issue,
    enqueue_issue,
    failures,
    issue_counts,
    pause_issue,
    process_id,
    reclaim_dead,
    resume_issue,
)
from outreach.delivery.workers import CHUNK
from outreach.errors import IssueError
from outreach.models import (
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from outreach.suppression import SuppressionReason, suppression_key
from outreach.tokens import verify_token
from outreach.validation import email_hash


def test_enqueue_is_one_idempotent_statement(world_factory: Any) -> None:
    w = world_factory(25)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
        assert enqueue_issue(s, w.settings, w.config, issue) == 25
        s.commit()
        assert issue.status == IssueStatus.SENDING
        assert issue.send_started_at is not None
        assert enqueue_issue(s, w.settings, w.config, issue) == 0
        s.commit()
        rows = s.execute(select(Delivery.email, Delivery.language)).all()
    assert sorted(e for e, _ in rows) == sorted(w.emails)
    langs = dict(rows)
    assert langs["user0@example.fi"] == "sv"  # subscriber's own language
    assert langs["user1@example.fi"] == "fi"


def test_enqueue_refuses_a_draft(world_factory: Any) -> None:
    w = world_factory(2, status=IssueStatus.DRAFT)
    with w.session() as s, pytest.raises(IssueError, match="only an approved issue"):
        enqueue_issue(s, w.settings, w.config, s.get(Issue, w.issue_id))


def test_send_delivers_every_recipient_once_with_headers(world_factory: Any) -> None:
    w = world_factory(30)
    seen: list[tuple[int, int]] = []
    report = send_issue(
        w.settings, w.config, w.issue_id, workers=3, progress=lambda d, t: seen.append((d, t))
    )
    assert (report.sent, report.failed, report.status) == (30, 0, "sent")
    assert seen[-1] == (30, 30)
    got = sorted(m.recipients[0] for m in memory.outbox)
    assert got == sorted(w.emails)
    by_rcpt = {m.recipients[0]: m for m in memory.outbox}
    m = by_rcpt["user4@example.fi"]
    msg = m.message
    with w.session() as s:
        sub_id = s.scalar(select(Subscriber.id).where(Subscriber.email == "user4@example.fi"))
        subscription = s.scalar(select(Subscription).where(Subscription.subscriber_id == sub_id))
    assert msg["Message-ID"] == f"<issue-{w.issue_id}.sub-{sub_id}@vantaa.fi>"
    assert msg["List-Id"] == "<vantaa-monthly.vantaa.outreach>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Date"] is not None
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    unsubscribe = str(msg["List-Unsubscribe"]).strip("<>")
    assert unsubscribe.startswith("https://outreach.example.fi/unsubscribe/")
    token = unsubscribe.rsplit("/", 1)[1]
    salts = {subscription.id: subscription.token_salt}
    assert verify_token(w.settings.secret(), token, "unsubscribe", salts.get) == subscription.id
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "Hei Yhteyshenkilö 4," in text and unsubscribe in text
    assert "/preferences/" in html and "@@" not in html + text
    assert b"\r\n" in m.data and b"\n" not in m.data.replace(b"\r\n", b"")
    with w.session() as s:
        assert issue_counts(s, w.issue_id)["sent"] == 30
        assert s.get(Issue, w.issue_id).status == IssueStatus.SENT


def test_send_again_sends_nothing_more(world_factory: Any) -> None:
    w = world_factory(5)
    send_issue(w.settings, w.config, w.issue_id)
    report = send_issue(w.settings, w.config, w.issue_id)
    assert report.sent == 0 and len(memory.outbox) == 5


def test_audience_filters_topics_size_industry_and_suppression(world_factory: Any) -> None:
    w = world_factory(8)
    with w.session() as s:
        subs = {row.email: row.id for row in s.execute(select(Subscriber.email, Subscriber.id))}
        s.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == subs["user1@example.fi"])
            .values(topics=["trainings"])
        )
        s.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == subs["user2@example.fi"])
            .values(status=SubscriptionStatus.UNSUBSCRIBED)
        )
        s.execute(
            update(Subscription)
            .where(Subscription.subscriber_id == subs["user3@example.fi"])
            .values(topics=["climate_x", "x-climate"])  # near misses of "climate"
        )
        suppression.add(s, w.settings, "USER5@example.fi ", SuppressionReason.MANUAL, None)
        s.commit()
    report = send_issue(w.settings, w.config, w.issue_id)
    got = {m.recipients[0] for m in memory.outbox}
    assert got == {f"user{i}@example.fi" for i in (0, 4, 6, 7)}
    assert report.sent == 4


def test_audience_query_size_and_industry(world_factory: Any) -> None:
    from outreach.campaigns import Audience
    from outreach.delivery.audience import audience_query
    from outreach.suppression import prepare_connection

    w = world_factory(4)
    with w.session() as s:
        s.execute(
            update(Subscriber)
            .where(Subscriber.email == "user0@example.fi")
            .values(size_class="small", industry_code="35110")
        )
        s.execute(
            update(Subscriber)
            .where(Subscriber.email == "user1@example.fi")
            .values(size_class="small", industry_code="62010")
        )
        s.execute(
            update(Subscriber)
            .where(Subscriber.email == "user2@example.fi")
            .values(size_class="large", industry_code="35_1")
        )
        s.commit()
        prepare_connection(s)
        key = suppression_key(w.settings)
        q = audience_query(
            w.city_id, Audience(size_classes=["small"], industries=["35"]), ["fi", "sv"], key=key
        )
        assert [r.email for r in s.execute(q)] == ["user0@example.fi"]
        q = audience_query(w.city_id, Audience(industries=["35_"]), ["fi"], key=key)
        assert [r.email for r in s.execute(q)] == ["user2@example.fi"]  # '_' is literal
        q = audience_query(w.city_id, Audience(topics=["climate"]), ["fi"], key=key)
        assert {r.language for r in s.execute(q)} == {"fi"}


def test_unsubscribe_during_send_is_honoured(world_factory: Any) -> None:
    w = world_factory(6)
    with w.session() as s:
        enqueue_issue(s, w.settings, w.config, s.get(Issue, w.issue_id))
        s.execute(
            update(Subscription)
            .where(Subscription.id.in_(select(Subscription.id).limit(2)))
            .values(status=SubscriptionStatus.UNSUBSCRIBED)
        )
        digest = email_hash("user5@example.fi", suppression_key(w.settings))
        s.add(Suppression(email_hash=digest, reason="complaint"))
        s.commit()
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.skipped) == (3, 3)
    with w.session() as s:
        counts = issue_counts(s, w.issue_id)
    assert counts["skipped"] == 3 and counts["sent"] == 3 and counts["total"] == 6


def test_pause_resume_cancel(world_factory: Any) -> None:
    w = world_factory(5)
    with w.session() as s:
        enqueue_issue(s, w.settings, w.config, s.get(Issue, w.issue_id))
        pause_issue(s, w.issue_id)
        s.commit()
    with pytest.raises(IssueError, match="resume it first"):
        send_issue(w.settings, w.config, w.issue_id)
    assert memory.outbox == []
    with w.session() as s:
        resume_issue(s, w.issue_id)
        s.commit()
        with pytest.raises(IssueError):
            resume_issue(s, w.issue_id)
        assert cancel_issue(s, w.issue_id) == 5
        s.commit()
        assert issue_counts(s, w.issue_id)["cancelled"] == 5
    with pytest.raises(IssueError, match="cancelled"):
        send_issue(w.settings, w.config, w.issue_id)
    assert memory.outbox == []


def test_dry_run_builds_everything_and_writes_nothing(world_factory: Any) -> None:
    w = world_factory(7)
    report = send_issue(w.settings, w.config, w.issue_id, dry_run=True)
    assert report.dry_run and report.sent == 7
    assert memory.outbox == []
    with w.session() as s:
        assert s.scalar(select(Delivery.id).limit(1)) is None
        assert s.get(Issue, w.issue_id).status == IssueStatus.APPROVED


def test_send_test_prefixes_subject_and_records_nothing(world_factory: Any) -> None:
    w = world_factory(2)
    with w.session() as s:
        issue = s.get(Issue, w.issue_id)
    results = send_test(
        w.settings, w.config, issue, "sv", ["staff@vantaa.fi", "bad\r\nBcc: x@y.fi"]
    )
    assert results[0].status == "sent" and results[1].status == "permanent"
    assert len(memory.outbox) == 1
    msg = memory.outbox[0].message
    assert msg["Subject"].startswith("[TEST] ") and "(sv)" in msg["Subject"]
    with w.session() as s:
        assert s.scalar(select(Delivery.id).limit(1)) is None


def test_invalid_address_fails_without_reaching_backend(world_factory: Any) -> None:
    w = world_factory(3)
    with w.session() as s:
        s.execute(
            update(Subscriber)
            .where(Subscriber.email == "user1@example.fi")
            .values(email="user1@example.fi\r\nBcc: victim@example.org")
        )
        s.commit()
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.failed) == (2, 1)
    assert all(b"victim" not in m.data for m in memory.outbox)
    with w.session() as s:
        [(email, error)] = failures(s, w.issue_id)
    assert email.startswith("user1@") and "not a valid email address" in (error or "")


def test_round_trip_parse_of_message_bytes(world_factory: Any) -> None:
    w = world_factory(1)
    send_issue(w.settings, w.config, w.issue_id)
    msg = message_from_bytes(memory.outbox[0].data, policy=policy.default)
    assert msg["Subject"] == "Ilmastouutiset 2026-11 (sv)"
    assert msg["From"].addresses[0].addr_spec == "ilmasto@vantaa.fi"


def test_progress_reporter_draws_a_bar_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    import io
    import logging

    from outreach.delivery.progress import progress_reporter

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    report = progress_reporter("issue 1", tty)
    report(5, 10)
    report(10, 10)
    assert "[###############---------------] 5/10" in tty.getvalue()
    assert tty.getvalue().endswith("10/10\n")
    with caplog.at_level(logging.INFO, logger="outreach.delivery"):
        plain = progress_reporter("issue 2", io.StringIO(), every_seconds=3600)
        plain(1, 10)
        plain(2, 10)
        plain(10, 10)
    assert [r.getMessage() for r in caplog.records] == [
        "issue 2: 1 of 10 done",
        "issue 2: 10 of 10 done",
    ]


def _claim_all(w: Any, claimant: str, minutes_ago: float) -> None:
    from datetime import timedelta

    from outreach.models import DeliveryStatus, utcnow

    with w.session() as s:
        enqueue_issue(s, w.settings, w.config, s.get(Issue, w.issue_id))
        s.execute(
            update(Delivery).values(
                status=DeliveryStatus.SENDING,
                claimed_by=claimant,
                claimed_at=utcnow() - timedelta(minutes=minutes_ago),
            )
        )
        s.commit()


def test_rows_of_a_live_claimant_wait_for_the_lease(world_factory: Any) -> None:
    w = world_factory(3)
    _claim_all(w, "another-host:4242:0:abc", minutes_ago=1)
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.remaining, report.status) == (0, 3, "sending")
    assert memory.outbox == []
    # Once the lease has run out, the rows are taken over and sent once.
    report = send_issue(w.settings, w.config, w.issue_id, lease_seconds=30)
    assert (report.sent, report.status) == (3, "sent")
    assert len(memory.outbox) == 3


def test_rows_of_a_dead_local_process_are_reclaimed_at_once(world_factory: Any) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    host, _, namespace = process_id().split(":")
    _claim_all(w := world_factory(3), f"{host}:{pid}:{namespace}:0:abc", minutes_ago=0)
    report = send_issue(w.settings, w.config, w.issue_id)
    assert (report.sent, report.status) == (3, "sent")


def test_claims_of_another_pid_namespace_are_not_judged_by_our_pids(
    world_factory: Any,
) -> None:
    """Containers sharing a host name number their processes each afresh."""
    host, _, _ = process_id().split(":")
    w = world_factory(3)
    _claim_all(w, f"{host}:999999:ffffffff:0:abc", minutes_ago=0)  # no such pid here
    with w.engine.connect() as conn:
        assert reclaim_dead(w.engine, w.issue_id) == 0
        statuses = conn.execute(
            select(Delivery.status).where(Delivery.issue_id == w.issue_id)
        ).scalars()
        assert set(statuses) == {DeliveryStatus.SENDING}


def test_a_city_mail_url_overrides_the_default(world_factory: Any, tmp_path: Any) -> None:
    w = world_factory(2)
    vantaa = w.config.cities["vantaa"]
    w.config.cities["vantaa"] = vantaa.model_copy(update={"mail_url": f"file://{tmp_path}/vantaa"})
    report = send_issue(w.settings, w.config, w.issue_id)
    assert report.sent == 2 and memory.outbox == []  # not the default memory: backend
    files = sorted(p.name for p in (tmp_path / "vantaa").glob("*.eml"))
    assert len(files) == 2 and all(f.startswith(f"issue-{w.issue_id}.sub-") for f in files)


def test_cancel_during_send_leaves_no_row_pending(
    world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 60 rows, one worker: its first claim takes 30 (a claim takes half of what is
    # left for each worker), more than the two chunks sent.
    w = world_factory(60)
    original = memory.MemoryBackend.send_messages
    cancelled: list[int] = []
    asked: list[feed.Pending[Any]] = []
    submit = feed.Feeder.submit

    def recorded(self: feed.Feeder, job: Any) -> feed.Pending[Any]:
        asked.append(submit(self, job))
        return asked[-1]

    def cancel_after_first_chunk(self: Any, messages: Any) -> Any:
        results = original(self, messages)
        if not cancelled:
            for pending in asked:  # the next chunk's re-check, asked for before this send
                with pending.lock:  # done (on a loaded machine it may still be running)
                    pass
            with w.session() as s:
                cancelled.append(cancel_issue(s, w.issue_id))
                s.commit()
        return results

    monkeypatch.setattr(feed.Feeder, "submit", recorded)
    monkeypatch.setattr(memory.MemoryBackend, "send_messages", cancel_after_first_chunk)
    send_issue(w.settings, w.config, w.issue_id, workers=1)
    with w.session() as s:
        counts = issue_counts(s, w.issue_id)
    # The chunk in hand goes out (nothing has looked at the issue since the cancel),
    # then at most the next one, re-checked before the cancel: the re-check of the
    # one after it, asked for as that one starts, sees the cancel and stops the
    # worker before its next hand-over; nothing after them.
    assert CHUNK <= counts["sent"] <= 2 * CHUNK
    # Rows the worker had claimed but not handed over end cancelled, not pending.
    assert (counts["pending"], counts["sending"]) == (0, 0)
    assert counts["cancelled"] == 60 - counts["sent"]


def test_a_retry_answered_after_a_cancel_ends_cancelled(
    world_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.delivery.backends.base import SendResult

    w = world_factory(3)

    def cancel_then_defer(self: Any, messages: Any) -> Any:
        with w.session() as s:
            if s.get(Issue, w.issue_id).status != IssueStatus.CANCELLED:  # type: ignore[union-attr]
                cancel_issue(s, w.issue_id)
                s.commit()
        return [SendResult("temporary", "451 try again later") for _ in messages]

    monkeypatch.setattr(memory.MemoryBackend, "send_messages", cancel_then_defer)
    send_issue(w.settings, w.config, w.issue_id, workers=1)
    with w.session() as s:
        counts = issue_counts(s, w.issue_id)
    assert (counts["pending"], counts["sending"], counts["cancelled"]) == (0, 0, 3)


def test_a_base_url_that_cannot_go_in_a_header_is_a_config_error(world_factory: Any) -> None:
    from outreach.errors import ConfigError, OutreachError

    w = world_factory(2)
    w.settings = w.settings.model_copy(update={"base_url": "https://ilmasto.järvenpää.fi"})
    with pytest.raises(OutreachError) as raised:
        send_issue(w.settings, w.config, w.issue_id)
    assert isinstance(raised.value, ConfigError) and "OUTREACH_BASE_URL" in str(raised.value)
    assert memory.outbox == []


def test_cancel_ends_rows_a_dead_sender_left_claimed(world_factory: Any) -> None:
    """Nothing comes back for a cancelled issue: stale claims must not stay `sending`."""
    w = world_factory(3)
    _claim_all(w, "gone-host:4242:0:0:abc", minutes_ago=30)
    with w.session() as s:
        fresh = s.scalars(select(Delivery).where(Delivery.issue_id == w.issue_id)).first()
        assert fresh is not None
        fresh.claimed_at = utcnow()  # one row is still held by a live sender
        s.commit()
        assert cancel_issue(s, w.issue_id) == 2
        s.commit()
        statuses = sorted(s.scalars(select(Delivery.status).where(Delivery.issue_id == w.issue_id)))
    assert statuses == sorted(
        [DeliveryStatus.CANCELLED, DeliveryStatus.CANCELLED, DeliveryStatus.SENDING]
    )
