"""A complaint suppresses the address for the city complained about only; a hard
bounce and an erasure keep it from every city. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach import suppression
from outreach.bounces import EventKind, MailEvent, process_events
from outreach.campaigns import Config
from outreach.db import create_db_engine
from outreach.delivery import enqueue_issue
from outreach.models import (
    Base,
    Campaign,
    City,
    Delivery,
    Issue,
    IssueStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from outreach.settings import Settings
from outreach.subscriptions import SignUp, export_rows, show, subscribe, suppressed_in
from outreach.suppression import SuppressionReason, suppression_hash, suppression_key
from tests.delivery.conftest import populate


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, settings: Settings) -> Iterator[tuple[Settings, Engine]]:
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": request.getfixturevalue("pg_url")})
    engine = create_db_engine(settings.database_url)
    Base.metadata.create_all(engine)
    yield settings, engine
    engine.dispose()


def kerava_issue(session: Session, emails: list[str]) -> int:
    """A Kerava issue, approved, and Kerava subscriptions of ``emails``."""
    city = City(slug="kerava", names={"fi": "Kerava"}, languages=["fi"])
    session.add(city)
    session.flush()
    campaign = Campaign(slug="kerava-monthly", city_id=city.id, kind="newsletter")
    session.add(campaign)
    session.flush()
    people = dict(session.execute(select(Subscriber.email, Subscriber.id)).all())
    session.add_all(
        Subscription(
            subscriber_id=people[e],
            city_id=city.id,
            topics=["climate"],
            status=SubscriptionStatus.CONFIRMED,
            token_salt=f"kerava{i:026d}",
        )
        for i, e in enumerate(emails)
    )
    issue = Issue(campaign_id=campaign.id, period="2026-11", status=IssueStatus.APPROVED)
    session.add(issue)
    session.commit()
    return issue.id


def next_issue(session: Session, issue_id: int) -> Issue:
    issue = Issue(
        campaign_id=session.get(Issue, issue_id).campaign_id,  # type: ignore[union-attr]
        period="2026-12",
        status=IssueStatus.APPROVED,
    )
    session.add(issue)
    session.commit()
    return issue


def audience(session: Session, issue_id: int) -> set[str]:
    return set(session.scalars(select(Delivery.email).where(Delivery.issue_id == issue_id)))


def event(kind: EventKind, email: str, issue_id: int, subscriber_id: int, **kw: Any) -> MailEvent:
    return MailEvent(
        kind=kind,
        recipient=email,
        message_id=f"<issue-{issue_id}.sub-{subscriber_id}@news.example.fi>",
        report_id=f"<{kind.value}-{email}@isp.example>",
        **kw,
    )


def test_the_list_answers_per_city(db: tuple[Settings, Engine]) -> None:
    settings, engine = db
    with Session(engine) as s:
        vantaa, kerava = City(slug="vantaa"), City(slug="kerava")
        s.add_all([vantaa, kerava])
        s.flush()
        add = suppression.add
        add(s, settings, "c@example.fi", SuppressionReason.COMPLAINT, "x", city_id=vantaa.id)
        add(s, settings, "C@example.fi ", SuppressionReason.MANUAL, "again", city_id=vantaa.id)
        add(s, settings, "b@example.fi", SuppressionReason.COMPLAINT, None, city_id=kerava.id)
        add(s, settings, "b@example.fi", SuppressionReason.HARD_BOUNCE, "550")
        add(s, settings, "b@example.fi", SuppressionReason.MANUAL, "again")
        s.commit()
        assert s.scalar(select(func.count()).select_from(Suppression)) == 3  # once per scope

        def why(email: str, city: City | None) -> Any:
            return suppression.is_suppressed(
                s, settings, email, city_id=None if city is None else city.id
            )

        assert why("c@example.fi", vantaa) == SuppressionReason.COMPLAINT
        assert why("c@example.fi", kerava) is None
        assert why("c@example.fi", None) is None  # kept from one city, not from all
        assert why("b@example.fi", vantaa) == SuppressionReason.HARD_BOUNCE
        assert why("b@example.fi", kerava) == SuppressionReason.HARD_BOUNCE  # everywhere first

        digests = {suppression_hash(settings, e): e for e in ("c@example.fi", "b@example.fi")}
        conn = s.connection()
        for city, expected in (
            (vantaa, {"c@example.fi": "complaint", "b@example.fi": "bounce"}),
            (kerava, {"b@example.fi": "bounce"}),
        ):
            got = suppression.reasons_for_hashes(
                conn, lambda column: column.in_(list(digests)), city_id=city.id
            )
            assert {digests[d]: r.value for d, r in got.items()} == expected


def test_erasure_leaves_one_entry_everywhere(db: tuple[Settings, Engine]) -> None:
    settings, engine = db
    with Session(engine) as s:
        vantaa = City(slug="vantaa")
        s.add(vantaa)
        s.flush()
        reason = SuppressionReason.COMPLAINT
        suppression.add(s, settings, "c@example.fi", reason, "c@example.fi", city_id=vantaa.id)
        suppression.erase(s, settings, "c@example.fi", "erased by staff")
        s.commit()
        rows = s.execute(select(Suppression.city_id, Suppression.reason, Suppression.detail))
        assert rows.all() == [(None, "erased", "erased by staff")]


def test_complaint_keeps_only_that_city_away(
    db: tuple[Settings, Engine], two_cities: Config
) -> None:
    settings, engine = db
    with Session(engine, expire_on_commit=False) as s:
        vantaa_issue, vantaa_id, emails = populate(s, 3)
        kerava = kerava_issue(s, emails)
        people = dict(s.execute(select(Subscriber.email, Subscriber.id)).all())
        complainer, bouncer = emails[1], emails[2]
        enqueue_issue(s, settings, two_cities, s.get(Issue, vantaa_issue))  # type: ignore[arg-type]
        outcome = process_events(
            s,
            settings,
            [
                event(EventKind.COMPLAINED, complainer, vantaa_issue, people[complainer]),
                event(EventKind.BOUNCED, bouncer, vantaa_issue, people[bouncer], hard=True),
            ],
            source="test",
        )
        s.commit()
        assert (outcome.events, outcome.unsubscribed, outcome.suppressed) == (2, 1, 1)
        entries = s.execute(select(Suppression.city_id, Suppression.reason)).all()
        assert sorted(entries, key=str) == sorted(
            [(vantaa_id, "complaint"), (None, "bounce")], key=str
        )

        # Even with the Vantaa subscription confirmed again behind the list's back,
        # Vantaa's next issue leaves the complainer out; Kerava's reaches them.
        s.execute(
            Subscription.__table__.update()  # type: ignore[attr-defined]
            .where(Subscription.subscriber_id == people[complainer])
            .values(status=SubscriptionStatus.CONFIRMED)
        )
        again = next_issue(s, vantaa_issue)
        enqueue_issue(s, settings, two_cities, again)
        assert audience(s, again.id) == {emails[0]}
        enqueue_issue(s, settings, two_cities, s.get(Issue, kerava))  # type: ignore[arg-type]
        assert audience(s, kerava) == {emails[0], complainer}  # the bounce is global

        # Vantaa's export of who may be mailed, and re-adding, follow the same rule.
        key = suppression_key(settings)
        exported = {r["email"] for r in export_rows(s, "vantaa", everyone=False, key=key)}
        assert complainer not in exported and emails[0] in exported
        assert {r["email"] for r in export_rows(s, "kerava", everyone=False, key=key)} == {
            emails[0],
            complainer,
        }
        assert suppressed_in(s, settings, two_cities, "vantaa", complainer) == "complaint"
        assert suppressed_in(s, settings, two_cities, "kerava", complainer) is None
        refused = subscribe(
            s, settings, two_cities, "vantaa", SignUp.clean(two_cities, "vantaa", email=complainer),
            None,
        )  # fmt: skip
        assert refused.subscription is None and refused.notes == ["suppressed (complaint)"]

        shown = show(s, settings, complainer)
        assert shown is not None and "suppression" not in shown
        assert shown["suppression_by_city"]["vantaa"]["reason"] == "complaint"


def test_the_same_complaint_twice_suppresses_once(
    db: tuple[Settings, Engine], two_cities: Config
) -> None:
    settings, engine = db
    with Session(engine, expire_on_commit=False) as s:
        issue_id, city_id, emails = populate(s, 1)
        enqueue_issue(s, settings, two_cities, s.get(Issue, issue_id))  # type: ignore[arg-type]
        person = s.scalar(select(Subscriber.id))
        assert person is not None
        complaint = event(EventKind.COMPLAINED, emails[0], issue_id, person)
        first = process_events(s, settings, [complaint], source="test")
        again = process_events(s, settings, [complaint], source="test")
        s.commit()
        assert (first.events, again.duplicates) == (1, 1)
        assert s.execute(select(Suppression.city_id, Suppression.reason)).all() == [
            (city_id, "complaint")
        ]
