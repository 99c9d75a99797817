"""``outreach status``: next runs, last results, approvals, sends and source errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from outreach.db import get_engine, session_scope
from outreach.models import (
    Campaign,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueStatus,
    SourceState,
    SourceStatus,
    Subscriber,
    Subscription,
)
from outreach.scheduler import run_due, status
from outreach.scheduler.locks import FileLock, daemon_lock_path
from outreach.settings import Settings
from tests.scheduler.helpers import FakePipeline

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def seed(settings: Settings) -> None:
    with session_scope(get_engine(settings)) as session:
        camps = {c.slug: c for c in session.scalars(select(Campaign))}
        draft = Issue(campaign_id=camps["vantaa-news"].id, period="2026-11", snapshot={})
        sending = Issue(
            campaign_id=camps["kerava-news"].id,
            period="2026-11",
            status=IssueStatus.SENDING,
            snapshot={},
        )
        done = Issue(
            campaign_id=camps["kerava-news"].id,
            period="2026-10",
            status=IssueStatus.SENT,
            snapshot={},
        )
        session.add_all([draft, sending, done])
        session.flush()
        for i, state in enumerate(
            [DeliveryStatus.SENT] * 3 + [DeliveryStatus.PENDING] * 2 + [DeliveryStatus.FAILED]
        ):
            person = Subscriber(email=f"p{i}@example.fi")
            session.add(person)
            session.flush()
            sub = Subscription(
                subscriber_id=person.id, city_id=camps["kerava-news"].city_id, token_salt="s"
            )
            session.add(sub)
            session.flush()
            session.add(
                Delivery(
                    issue_id=sending.id,
                    subscriber_id=person.id,
                    subscription_id=sub.id,
                    email=person.email,
                    language="fi",
                    status=state,
                )
            )
        session.add(
            SourceState(
                key="k1",
                type="rss",
                url="https://www.kerava.fi/rss",
                status=SourceStatus.ERROR,
                error="HTTP 503 from www.kerava.fi",
            )
        )
        session.add(SourceState(key="k2", type="ical", url="https://x.fi/a.ics"))


def test_status_reports_what_needs_attention(sched_settings: Settings, tmp_path: Path) -> None:
    run_due(sched_settings, now=NOW, pipeline=FakePipeline(tmp_path / "calls.jsonl"))
    seed(sched_settings)
    report = status(sched_settings, now=NOW + timedelta(hours=1))
    lines = report.lines()
    assert lines[0].startswith("scheduler: no daemon running")
    assert "  vantaa-news: next 2026-12-01 09:00 EET; last never run" in lines
    assert "  kerava-award: next 2027-10-01 09:00 EEST; last never run" in lines
    assert [i.campaign for i in report.waiting] == ["vantaa-news"]
    assert "  issue #1 vantaa-news 2026-11" in lines
    assert [(i.campaign, i.period) for i in report.sending] == [("kerava-news", "2026-11")]
    assert "  issue #2 kerava-news 2026-11 (sending): failed 1, pending 2, sent 3" in lines
    assert "sources in error: 1" in lines
    assert "  rss https://www.kerava.fi/rss: HTTP 503 from www.kerava.fi" in lines


def test_status_sees_a_running_daemon_on_sqlite(sched_settings: Settings) -> None:
    lock = FileLock(daemon_lock_path(sched_settings))
    assert lock.acquire()
    try:
        report = status(sched_settings, now=NOW)
    finally:
        lock.release()
    assert report.scheduler.startswith("a daemon is running (pid ")
