"""Retention: old deliveries summarised then deleted in batches, unused content purged.

Every test runs on SQLite and on PostgreSQL (with OUTREACH_TEST_DATABASE_URL), with
the clock passed in.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from outreach.db import create_db_engine, get_engine, session_scope
from outreach.delivery.outbox import issue_counts
from outreach.models import (
    Base,
    Campaign,
    City,
    ConsentRecord,
    ContentItem,
    Delivery,
    DeliveryStatus,
    Issue,
    IssueItem,
    IssueStatus,
    SourceState,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from outreach.retention import purge_old_records
from outreach.scheduler import run_due
from outreach.settings import Settings
from tests.scheduler.helpers import make_settings

NOW = datetime(2027, 6, 15, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=401)
RECENT = NOW - timedelta(days=399)


@pytest.fixture
def db_settings(db_url: str, tmp_path: Path) -> Iterator[Settings]:
    """The scheduler's settings on each database (``db_url``), its tables created."""
    settings = make_settings(tmp_path, db_url)
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield settings


class World:
    """A city, a campaign, subscribers and a source; issues and items added per test."""

    def __init__(self, session: Session, subscribers: int = 5) -> None:
        self.session = session
        city = City(slug="vantaa", names={"fi": "Vantaa"}, languages=["fi"])
        session.add(city)
        session.flush()
        self.campaign = Campaign(slug="vantaa-news", city_id=city.id, kind="newsletter")
        self.source = SourceState(key="src", type="rss", url="https://www.vantaa.fi/rss")
        session.add_all([self.campaign, self.source])
        session.flush()
        self.subs: list[Subscription] = []
        for i in range(subscribers):
            person = Subscriber(email=f"yritys{i}@example.fi")
            session.add(person)
            session.flush()
            sub = Subscription(
                subscriber_id=person.id,
                city_id=city.id,
                status=SubscriptionStatus.CONFIRMED,
                token_salt=f"s{i}",
                created_at=OLD - timedelta(days=30),
            )
            session.add(sub)
            session.flush()
            session.add(
                ConsentRecord(
                    subscription_id=sub.id,
                    action="confirmed",
                    channel="web",
                    created_at=OLD - timedelta(days=30),
                )
            )
            self.subs.append(sub)
        session.flush()

    def issue(
        self,
        period: str,
        sent_at: datetime | None,
        statuses: list[DeliveryStatus],
        status: IssueStatus = IssueStatus.SENT,
    ) -> int:
        issue = Issue(
            campaign_id=self.campaign.id,
            period=period,
            status=status,
            snapshot={"city": "vantaa", "number": 3},
            send_started_at=sent_at,
            sent_at=sent_at if status == IssueStatus.SENT else None,
        )
        self.session.add(issue)
        self.session.flush()
        for sub, state in zip(self.subs, statuses, strict=False):
            self.session.add(
                Delivery(
                    issue_id=issue.id,
                    subscriber_id=sub.subscriber_id,
                    subscription_id=sub.id,
                    email=f"x{sub.id}@example.fi",
                    language="fi",
                    status=state,
                )
            )
        self.session.flush()
        return issue.id

    def item(
        self,
        name: str,
        first_seen: datetime,
        *,
        issue_id: int | None = None,
        starts_at: datetime | None = None,
    ) -> None:
        item = ContentItem(
            source_id=self.source.id,
            kind="event" if starts_at else "news",
            external_id=name,
            title=name,
            fingerprint=name,
            first_seen_at=first_seen,
            starts_at=starts_at,
        )
        self.session.add(item)
        self.session.flush()
        if issue_id is not None:
            self.session.add(IssueItem(issue_id=issue_id, item_id=item.id, section="news"))
            self.session.flush()


def deliveries(session: Session, issue_id: int) -> int:
    return int(
        session.scalar(select(func.count()).select_from(Delivery).filter_by(issue_id=issue_id)) or 0
    )


def count_deletes(engine: Engine) -> list[str]:
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    return seen


SENT5 = [DeliveryStatus.SENT] * 3 + [DeliveryStatus.FAILED, DeliveryStatus.SKIPPED]


def test_old_deliveries_are_summarised_then_deleted_in_batches(db_settings: Settings) -> None:
    engine = get_engine(db_settings)
    with session_scope(engine) as session:
        world = World(session)
        old = world.issue("2026-04", OLD, SENT5)
        recent = world.issue("2026-05", RECENT, SENT5)
        stuck = world.issue("2026-03", OLD, [DeliveryStatus.PENDING] * 2, IssueStatus.PAUSED)
    deletes = count_deletes(engine)
    with session_scope(engine) as session:
        result = purge_old_records(session, db_settings, now=NOW, batch_size=2)
    assert result == {"deliveries": 5, "issues": 1, "content_items": 0, "story_uploads": 0}
    assert len([s for s in deletes if "deliveries" in s]) == 3  # 2 + 2 + 1 rows
    with session_scope(engine) as session:
        assert deliveries(session, old) == 0
        assert deliveries(session, recent) == 5  # sent 399 days ago: kept
        assert deliveries(session, stuck) == 2  # never finished: never purged
        issue = session.get(Issue, old)
        assert issue is not None
        assert issue.snapshot["number"] == 3  # the rest of the snapshot is intact
        assert issue.snapshot["delivery_counts"] == {
            "pending": 0,
            "sending": 0,
            "sent": 3,
            "failed": 1,
            "skipped": 1,
            "cancelled": 0,
            "total": 5,
        }
        assert issue.snapshot["deliveries_purged_at"] == NOW.isoformat()
        # `outreach issue show` still reports what the purged rows said
        assert issue_counts(session, old) == issue.snapshot["delivery_counts"]
        # Consent is proof: kept as long as the subscription exists.
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == 5
    with session_scope(engine) as session:
        again = purge_old_records(session, db_settings, now=NOW + timedelta(days=1))
    assert again == {"deliveries": 0, "issues": 0, "content_items": 0, "story_uploads": 0}


def test_a_purge_cut_short_keeps_the_first_summary(db_settings: Settings) -> None:
    engine = get_engine(db_settings)
    first = {"sent": 1000, "failed": 2, "total": 1002}
    with session_scope(engine) as session:
        world = World(session)
        old = world.issue("2026-04", OLD, [DeliveryStatus.SENT] * 2)
        issue = session.get(Issue, old)
        assert issue is not None
        issue.snapshot = {**issue.snapshot, "delivery_counts": first}
    with session_scope(engine) as session:
        result = purge_old_records(session, db_settings, now=NOW)
    assert result["deliveries"] == 2
    with session_scope(engine) as session:
        issue = session.get(Issue, old)
        assert issue is not None
        assert issue.snapshot["delivery_counts"] == first


def test_unused_old_content_goes_and_what_went_out_stays(db_settings: Settings) -> None:
    engine = get_engine(db_settings)
    with session_scope(engine) as session:
        world = World(session, subscribers=1)
        sent = world.issue("2026-04", OLD, [DeliveryStatus.SENT])
        world.item("old-unused", OLD)
        world.item("old-used", OLD, issue_id=sent)
        world.item("recent-unused", RECENT)
        world.item("old-past-event", OLD, starts_at=NOW - timedelta(days=300))
        world.item("old-future-event", OLD, starts_at=NOW + timedelta(days=10))
    with session_scope(engine) as session:
        result = purge_old_records(session, db_settings, now=NOW, batch_size=1)
    assert result["content_items"] == 2
    with session_scope(engine) as session:
        left = sorted(session.scalars(select(ContentItem.external_id)))
    assert left == ["old-future-event", "old-used", "recent-unused"]


def test_zero_days_keeps_everything(db_settings: Settings) -> None:
    settings = db_settings.model_copy(
        update={"retention_days_deliveries": 0, "retention_days_content": 0}
    )
    engine = get_engine(settings)
    with session_scope(engine) as session:
        world = World(session)
        old = world.issue("2026-04", OLD, SENT5)
        world.item("old-unused", OLD)
    with session_scope(engine) as session:
        result = purge_old_records(session, settings, now=NOW + timedelta(days=3000))
    assert result == {"deliveries": 0, "issues": 0, "content_items": 0, "story_uploads": 0}
    with session_scope(engine) as session:
        assert deliveries(session, old) == 5


def test_the_scheduler_purge_applies_retention(db_settings: Settings) -> None:
    engine = get_engine(db_settings)
    with session_scope(engine) as session:
        world = World(session)
        world.issue("2026-04", OLD, SENT5)
        world.item("old-unused", OLD)
    outcomes = {o.name: o for o in run_due(db_settings, now=NOW)}
    assert outcomes["purge"].status == "ok"
    assert outcomes["purge"].lines() == [
        "purge: ok: purged: unconfirmed sign-ups 0, deliveries of old issues 5 (issues: 1), "
        "unused content items 1"
    ]
    assert outcomes["purge"].lines("fi") == [
        "purge: ok: poistettiin: vahvistamattomia tilauksia 0, vanhojen numeroiden "
        "lähetysrivejä 5 (numeroita: 1), käyttämättömiä sisältöjä 1"
    ]
    assert outcomes["purge"].lines("sv") == [
        "purge: ok: rensade: obekräftade anmälningar 0, leveranser från gamla nummer 5 "
        "(nummer: 1), oanvända innehållsposter 1"
    ]
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert session.scalar(select(func.count()).select_from(ContentItem)) == 0
