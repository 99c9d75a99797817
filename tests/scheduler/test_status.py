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
    assert "  vantaa-news: next Tue 1.12.2026 at 9:00; last never run" in lines
    assert "  kerava-award: next Fri 1.10.2027 at 9:00; last never run" in lines  # summer time
    assert [i.campaign for i in report.waiting] == ["vantaa-news"]
    assert "  issue #1 vantaa-news 2026-11" in lines
    assert [(i.campaign, i.period) for i in report.sending] == [("kerava-news", "2026-11")]
    assert "  issue #2 kerava-news 2026-11 (sending): failed 1, pending 2, sent 3" in lines
    assert "sources in error: 1" in lines
    assert "  rss https://www.kerava.fi/rss: HTTP 503 from www.kerava.fi" in lines
    finnish = report.lines("fi")
    assert finnish[0].startswith("ajastin: yhtään daemonia ei ole käynnissä")
    assert "  kerava-award: seuraava pe 1.10.2027 klo 9.00; edellinen ei koskaan ajettu" in finnish
    sending = (
        "  numero 2 kerava-news 2026-11 (lähetys käynnissä): epäonnistui 1, odottaa 2, lähetetty 3"
    )
    assert sending in finnish
    assert "lähteitä virhetilassa: 1" in finnish
    swedish = report.lines("sv")
    assert "  kerava-award: nästa fre 1.10.2027 kl. 9.00; senaste aldrig körd" in swedish
    assert "väntar på godkännande: 1" in swedish


def test_status_sees_a_running_daemon_on_sqlite(sched_settings: Settings) -> None:
    lock = FileLock(daemon_lock_path(sched_settings))
    assert lock.acquire()
    try:
        report = status(sched_settings, now=NOW)
    finally:
        lock.release()
    assert str(report.scheduler).startswith("a daemon is running (pid ")
    assert report.lines("sv")[0].startswith("schemaläggare: en daemon körs (pid ")


def test_status_counts_sends_started_by_hand(sched_settings: Settings, tmp_path: Path) -> None:
    from outreach.issues.history import record_send_start

    run_due(sched_settings, now=NOW, pipeline=FakePipeline(tmp_path / "calls.jsonl"))
    with session_scope(get_engine(sched_settings)) as session:
        camps = {c.slug: c for c in session.scalars(select(Campaign))}
        by_hand = Issue(
            campaign_id=camps["kerava-news"].id,
            period="2026-11",
            status=IssueStatus.SENT,
            snapshot={},
            send_started_at=NOW - timedelta(days=2),
        )
        scheduled = Issue(
            campaign_id=camps["vantaa-news"].id,
            period="2026-11",
            status=IssueStatus.SENDING,
            snapshot={},
            send_started_at=NOW - timedelta(hours=3),
        )
        old = Issue(
            campaign_id=camps["vantaa-news"].id,
            period="2026-09",
            status=IssueStatus.SENT,
            snapshot={},
            send_started_at=NOW - timedelta(days=60),
        )
        session.add_all([by_hand, scheduled, old])
        session.flush()
        record_send_start(session, by_hand, by="maija", manual=True)
        record_send_start(session, scheduled, by="scheduler", manual=False)
    lines = status(sched_settings, now=NOW).lines()
    assert "sends started in the last 30 days: 2 (1 by hand, 1 by the scheduler)" in lines
    assert "  issue #1 kerava-news 2026-11 Wed 18.11.2026 at 14:00 (sent, started by hand)" in lines
    assert (
        "  issue #2 vantaa-news 2026-11 (sending, started by the scheduler): no deliveries" in lines
    )
    finnish = status(sched_settings, now=NOW).lines("fi")
    expected = (
        "viimeisten 30 päivän aikana aloitetut lähetykset: 2 (käsin 1, ajastimen aloittamat 1)"
    )
    assert expected in finnish


def test_status_warns_of_an_outdated_runtime_in_the_staffs_language(
    sched_settings: Settings,
) -> None:
    from outreach.runtime import outdated

    old = status(sched_settings, now=NOW, runtime=outdated((3, 11, 7), "expat_2.5.0"))
    assert old.lines()[-2:] == [
        "warning: Python 3.11.7 is older than 3.11.10, which fixes CVE-2023-27043, "
        "CVE-2024-6923; update the runtime",
        "warning: expat 2.5.0 is older than 2.6.0, which fixes CVE-2023-52425, "
        "CVE-2023-52426; update the runtime",
    ]
    assert old.lines("fi")[-2].startswith("varoitus: Python 3.11.7 on vanhempi kuin 3.11.10")
    assert old.lines("sv")[-1].startswith("varning: expat 2.5.0 är äldre än 2.6.0")
    patched = status(sched_settings, now=NOW, runtime=outdated((3, 11, 14), "expat_2.7.1"))
    assert not any("warning" in line for line in patched.lines())
